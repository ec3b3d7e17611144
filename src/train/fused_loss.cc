#include "train/fused_loss.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/vec_math.h"

namespace muchator {

namespace {

// One row of bf16 logits: returns the row's loss (logsumexp - logit[target]) and overwrites the
// row with d loss / d logits * scale = (softmax - onehot(target)) * scale, in bf16. The loops are
// written out (no helper calls) so GCC vectorises them inside the target clones: bf16 <-> fp32 is
// a 16-bit shift (with round-to-nearest-even on the way back); exp is core/vec_math.h.
MUCHATOR_SIMD_CLONES double RowLossAndGrad(uint16_t* row, int64_t V, int64_t target, float scale,
                                           float* x) {
#pragma omp simd
  for (int64_t j = 0; j < V; ++j)
    x[j] = __builtin_bit_cast(float, static_cast<uint32_t>(row[j]) << 16);
  float m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < V; ++j) m = x[j] > m ? x[j] : m;
  const float logit_target = x[target];
  const float sum = ExpShiftedSum(x, V, m);  // x[j] = exp(x[j] - m)
  const float inv = scale / sum;
#pragma omp simd
  for (int64_t j = 0; j < V; ++j) {
    const uint32_t u = __builtin_bit_cast(uint32_t, x[j] * inv);
    row[j] = static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
  }
  {  // the target's gradient: softmax - 1
    const uint32_t u = __builtin_bit_cast(uint32_t, x[target] * inv - scale);
    row[target] = static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
  }
  return static_cast<double>(m) + std::log(static_cast<double>(sum)) - logit_target;
}

class FusedCe : public torch::autograd::Function<FusedCe> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& h,
                               const torch::Tensor& weight, const torch::Tensor& targets,
                               const torch::Tensor& mask) {
    const int64_t C = h.size(-1), V = weight.size(0);
    auto h16 = h.reshape({-1, C}).to(torch::kBFloat16).contiguous();
    auto w16 = weight.to(torch::kBFloat16).contiguous();
    auto logits = torch::mm(h16, w16.t()).contiguous();  // (N, V) bf16
    const int64_t N = logits.size(0);
    auto t = targets.reshape({-1}).to(torch::kInt64).contiguous();
    auto m = mask.reshape({-1}).to(torch::kFloat32).contiguous();
    if (t.numel() != N || m.numel() != N)
      throw Error("targets and mask must have one entry per position");
    const float* mp = m.data_ptr<float>();
    const int64_t* tp = t.data_ptr<int64_t>();
    double count = 0;
    for (int64_t i = 0; i < N; ++i) count += mp[i];
    const double denom = std::max(1.0, count);
    auto* lp = reinterpret_cast<uint16_t*>(logits.data_ptr<at::BFloat16>());
    std::vector<double> row_loss(N, 0.0);
    at::parallel_for(0, N, 16, [&](int64_t i0, int64_t i1) {
      std::vector<float> scratch(V);
      for (int64_t i = i0; i < i1; ++i) {
        if (tp[i] < 0 || tp[i] >= V)
          throw Error("target " + std::to_string(tp[i]) + " is outside the vocabulary");
        const float scale = static_cast<float>(mp[i] / denom);
        row_loss[i] = RowLossAndGrad(lp + i * V, V, tp[i], scale, scratch.data()) * mp[i];
      }
    });
    double total = 0;
    for (double v : row_loss) total += v;
    ctx->save_for_backward({h16, w16, logits});
    ctx->saved_data["h_dtype"] = static_cast<int64_t>(h.scalar_type());
    ctx->saved_data["h_shape"] = h.sizes().vec();
    return torch::tensor(total / denom, torch::kFloat32);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto& h16 = saved[0];
    const auto& w16 = saved[1];
    const auto& g16 = saved[2];  // d loss / d logits, bf16
    const double go = grad_out[0].item<double>();
    auto grad_h = (torch::mm(g16, w16) * go)
                      .to(static_cast<c10::ScalarType>(ctx->saved_data["h_dtype"].toInt()))
                      .reshape(ctx->saved_data["h_shape"].toIntVector());
    auto grad_w = torch::mm(g16.t(), h16).to(torch::kFloat32) * go;
    return {grad_h, grad_w, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor FusedLinearCrossEntropyBf16(const torch::Tensor& h, const torch::Tensor& weight,
                                          const torch::Tensor& targets, const torch::Tensor& mask) {
  return FusedCe::apply(h, weight, targets, mask);
}

}  // namespace muchator
