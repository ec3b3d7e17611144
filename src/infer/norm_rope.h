// The engine's per-token steps: RMSNorm, and the per-head q/k norm fused with the rotary
// embedding. Plain loops rather than torch ops (norm_rope.cc says why).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace muchator::kernels {

// y = x * rsqrt(mean(x^2) + eps) * w over the last dimension of x.
torch::Tensor Rms(const torch::Tensor& x, const torch::Tensor& w, double eps);

// From the fused projection rows qkv (T, (H + 2 KV) D): per-head RMSNorm of q and k, then the
// rotary embedding at each token's position (Hugging Face's rotate-half convention). Returns q
// (T, H, D) and k (T, KV, D).
std::pair<torch::Tensor, torch::Tensor> QkNormRope(
    const torch::Tensor& qkv, const torch::Tensor& q_norm, const torch::Tensor& k_norm,
    const torch::Tensor& cos, const torch::Tensor& sin, const std::vector<int64_t>& pos, int64_t H,
    int64_t KV, int64_t D, double eps);

}  // namespace muchator::kernels
