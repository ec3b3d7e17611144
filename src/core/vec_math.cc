#include "core/vec_math.h"

namespace muchator {

// The loops are written out (no helper calls, no std::max, no floorf): GCC does not inline helpers
// into target clones, and does not vectorise floorf without -fno-trapping-math nor the clamp next
// to the int conversion (checked with -fopt-info-vec). exp(x) = 2^k p(f) with x = k ln2 + f and
// k = round(x / ln2), taken by truncating x / ln2 - 0.5 (x <= 0).
MUCHATOR_SIMD_CLONES float ExpShiftedSum(float* x, int64_t n, float shift) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] - shift > -87.0f ? x[i] - shift : -87.0f;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const int32_t k = static_cast<int32_t>(v * 1.44269504088896341f - 0.5f);
    const float f =
        v - static_cast<float>(k) * 0.693359375f + static_cast<float>(k) * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * f + 1.3981999507e-3f;
    p = p * f + 8.3334519073e-3f;
    p = p * f + 4.1665795894e-2f;
    p = p * f + 1.6666665459e-1f;
    p = p * f + 5.0000001201e-1f;
    p = p * f * f + f + 1.0f;
    x[i] = p * __builtin_bit_cast(float, (k + 127) << 23);
  }
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  return sum;
}

MUCHATOR_SIMD_CLONES float SoftmaxWeights(const float* x, int64_t n, float scale, float* w,
                                          int64_t* finite) {
  constexpr float kNegInf = -__builtin_inff();
  float top = kNegInf;
#pragma omp simd reduction(max : top)
  for (int64_t i = 0; i < n; ++i) {
    w[i] = x[i] * scale;
    top = w[i] > top ? w[i] : top;  // NaN never wins
  }
  *finite = 0;
  if (!(top > kNegInf)) {
    for (int64_t i = 0; i < n; ++i) w[i] = 0.0f;
    return 0.0f;
  }
  ExpShiftedSum(w, n, top);
  float sum = 0.0f;
  int64_t count = 0;
  // exp's clamp gave -inf (and NaN) 1.6e-38: those get exactly 0.
#pragma omp simd reduction(+ : sum, count)
  for (int64_t i = 0; i < n; ++i) {
    const bool ok = x[i] > kNegInf;
    w[i] = ok ? w[i] : 0.0f;
    sum += w[i];
    count += ok;
  }
  *finite = count;
  return sum;
}

MUCHATOR_SIMD_CLONES int64_t DrawIndex(const float* w, int64_t n, double u) {
  constexpr int64_t kBlock = 64;
  if (n <= 0) return 0;
  int64_t b = 0;
  for (; b + kBlock <= n; b += kBlock) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = b; i < b + kBlock; ++i) s += w[i];
    if (u < s) break;  // u falls in this block (or rounding: the scan below settles it)
    u -= s;
  }
  int64_t last = -1;
  for (int64_t i = b < n ? b : n - 1; i < n; ++i) {
    if (w[i] <= 0.0f) continue;
    last = i;
    u -= w[i];
    if (u < 0) return i;
  }
  if (last >= 0) return last;
  for (int64_t i = n - 1; i >= 0; --i)  // u was at the total of the blocks before
    if (w[i] > 0.0f) return i;
  return 0;
}

}  // namespace muchator
