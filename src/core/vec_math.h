// Vectorised elementwise math on float arrays for the hand-written kernels (generation
// attention, the fused training loss). Compiled for AVX-512, AVX2 and plain x86-64 (chosen at load
// time); glibc's expf is not vectorised without -ffast-math.
#pragma once

#include <cstdint>

// The instruction sets a hand-written kernel is compiled for, chosen at load time by the CPU:
// x86-64-v4 (AVX-512), x86-64-v3 (AVX2) and plain x86-64. The architecture levels, not
// target("avx512f")/("avx2") alone: those do not enable FMA, so every multiply-add was a multiply
// and an add (found reading the kernels' assembly).
#define MUCHATOR_SIMD_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

namespace muchator {

// x[i] = exp(x[i] - shift) for i < n; returns their sum. `shift` must be >= every x[i] (the
// row's maximum, as in a softmax), so every argument is <= 0; arguments below -87 count as -87
// (exp = 1.6e-38). Relative error ~2e-7 (Cephes' polynomial).
float ExpShiftedSum(float* x, int64_t n, float shift);

// Softmax weights at temperature 1 / scale: w[i] = exp(x[i] * scale - max_j x[j] * scale), and
// w[i] = 0 where x[i] is -inf or NaN. Returns their sum (0 when no x[i] is finite) and sets
// *finite to the number of finite x[i].
float SoftmaxWeights(const float* x, int64_t n, float scale, float* w, int64_t* finite);

// A categorical draw: the first i with w[0] + ... + w[i] > u, for weights w >= 0 and
// 0 <= u < their sum; the last positive weight's index where rounding leaves u at the total.
// Sums blocks of weights first (vectorised), then scans the block u falls in.
int64_t DrawIndex(const float* w, int64_t n, double u);

}  // namespace muchator
