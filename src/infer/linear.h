// The engine's linear layers, y = x w^T, on weights packed once into panels (fp32, and bf16 on
// CPUs with AVX512-BF16), and the SwiGLU between the MLP's projections. See linear.cc for why
// the products are written here rather than left to torch.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace muchator::kernels {

// Forwards of at least this many rows multiply in bf16 through torch (oneDNN) rather than the
// bf16 panels: a pre-fill, where oneDNN's blocking pays.
constexpr int64_t kTorchBf16Rows = 64;

// One linear layer's weights: the (out, in) matrix packed into fp32 panels where some forward
// runs in fp32, and where bf16 is on, bf16 panels (on CPUs with AVX512-BF16) and a bf16 copy for
// torch. The fp32 panels serve every fp32 product, also a pre-fill's hundreds of rows: there
// they were as fast as torch's fp32 linear (OpenBLAS; first token 20.3 vs 22.5 ms), so the
// unpacked matrix is not kept (bench/README.md, generation).
struct LinearWeights {
  torch::Tensor panels, panels16, w16;
  int64_t out = 0;
};

// For an engine whose forwards of at least `bf16_min_rows` rows run in bf16 (0 = none): with 1
// every forward does, so no fp32 copy is packed.
LinearWeights MakeLinear(const torch::Tensor& w, int bf16_min_rows);

// y = x @ w^T (add: y += x @ w^T, y (rows, out) contiguous), in bf16 when `bf16` is set (and
// the bf16 weights exist). Adding in place saves the residual connections a torch op each: on a
// decoding step's few rows a torch op costs more in dispatch than its arithmetic.
void LinearInto(const torch::Tensor& x, const LinearWeights& lw, bool bf16, torch::Tensor& y,
                bool add);
torch::Tensor Linear(const torch::Tensor& x, const LinearWeights& lw, bool bf16);

// silu(gu[:, :I]) * gu[:, I:] for the rows of gu (rows, 2 I): the SwiGLU between the MLP's
// projections.
torch::Tensor SwiGlu(const torch::Tensor& gu, int64_t I);

}  // namespace muchator::kernels
