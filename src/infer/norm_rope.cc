// The engine's per-token steps (infer/norm_rope.h).
#include "infer/norm_rope.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "core/vec_math.h"

namespace muchator::kernels {
namespace {

// The small per-token steps below are plain loops rather than torch ops: on a few rows each
// torch op costs 5-30 us of dispatch and thread wake-up (an RMSNorm is five ops), which made
// them most of a decoding step (bench/README.md, generation).

// y[r] = x[r] * rsqrt(mean(x[r]^2) + eps) * w for rows [r0, r1) of a (rows, n) matrix. (The
// pragmas vectorise the loops under GCC -O2; left scalar, the sum's chain of dependent adds made
// the norms ~10% of a decoding step.)
MUCHATOR_SIMD_CLONES void RmsRows(const float* x, int64_t n, const float* w, double eps, float* y,
                                  int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* a = x + r * n;
    float ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < n; ++i) ss += a[i] * a[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / n + eps));
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[r * n + i] = a[i] * inv * w[i];
  }
}

// QkNormRope's rows [t0, t1): `tmp` holds D floats.
MUCHATOR_SIMD_CLONES void QkNormRopeRows(const float* src, int64_t ld, const float* qn,
                                         const float* kn, const float* cs, const float* sn,
                                         const int64_t* pos, int64_t H, int64_t KV, int64_t D,
                                         double eps, float* qp, float* kp, float* tmp, int64_t t0,
                                         int64_t t1) {
  const int64_t half = D / 2;
  for (int64_t t = t0; t < t1; ++t) {
    const float* c = cs + pos[t] * D;
    const float* s = sn + pos[t] * D;
    for (int64_t h = 0; h < H + KV; ++h) {
      const float* a = src + t * ld + h * D;
      const float* w = h < H ? qn : kn;
      float* out = h < H ? qp + (t * H + h) * D : kp + (t * KV + h - H) * D;
      float ss = 0;
#pragma omp simd reduction(+ : ss)
      for (int64_t d = 0; d < D; ++d) ss += a[d] * a[d];
      const float inv = static_cast<float>(1.0 / std::sqrt(ss / D + eps));
#pragma omp simd
      for (int64_t d = 0; d < D; ++d) tmp[d] = a[d] * inv * w[d];
#pragma omp simd
      for (int64_t d = 0; d < half; ++d) out[d] = tmp[d] * c[d] - tmp[d + half] * s[d];
#pragma omp simd
      for (int64_t d = half; d < D; ++d) out[d] = tmp[d] * c[d] + tmp[d - half] * s[d];
    }
  }
}

}  // namespace

torch::Tensor Rms(const torch::Tensor& x_in, const torch::Tensor& w_in, double eps) {
  const auto x = x_in.contiguous();
  const int64_t n = x.size(-1), rows = x.numel() / n;
  auto y = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  const float* w = w_in.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, rows, 256,
                   [&](int64_t r0, int64_t r1) { RmsRows(xp, n, w, eps, yp, r0, r1); });
  return y;
}

// From the fused projection rows qkv (T, (H + 2 KV) D): per-head RMSNorm of q and k, then the
// rotary embedding at each token's position (Hugging Face's rotate-half convention). Returns q
// (T, H, D) and k (T, KV, D).
std::pair<torch::Tensor, torch::Tensor> QkNormRope(
    const torch::Tensor& qkv, const torch::Tensor& q_norm, const torch::Tensor& k_norm,
    const torch::Tensor& cos, const torch::Tensor& sin, const std::vector<int64_t>& pos, int64_t H,
    int64_t KV, int64_t D, double eps) {
  const int64_t T = qkv.size(0), ld = qkv.size(1);
  auto q = torch::empty({T, H, D}), k = torch::empty({T, KV, D});
  const float* src = qkv.data_ptr<float>();
  const float *qn = q_norm.data_ptr<float>(), *kn = k_norm.data_ptr<float>();
  const float *cs = cos.data_ptr<float>(), *sn = sin.data_ptr<float>();
  float *qp = q.data_ptr<float>(), *kp = k.data_ptr<float>();
  at::parallel_for(0, T, 64, [&](int64_t t0, int64_t t1) {
    std::vector<float> tmp(D);
    QkNormRopeRows(src, ld, qn, kn, cs, sn, pos.data(), H, KV, D, eps, qp, kp, tmp.data(), t0, t1);
  });
  return {q, k};
}

}  // namespace muchator::kernels
