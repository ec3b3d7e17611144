// Vector helpers shared by the engine's kernels (infer/linear.cc, infer/attention.cc) and the
// engine (bf16 rounding of the KV cache): always inlined into functions compiled for their
// target, so no vector crosses a call. Internal to src/infer.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace muchator::kernels {

// (-Wpsabi: the helpers are always inlined, so no vector crosses a call in the default clone.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

// Eight floats: AVX2/AVX-512 registers in those clones, SSE pairs in the default one; loads and
// stores at any alignment.
typedef float F8 __attribute__((vector_size(32), aligned(4)));
inline __attribute__((always_inline)) F8 Load8(const float* p) {
  F8 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline __attribute__((always_inline)) void Store8(float* p, F8 v) {
  __builtin_memcpy(p, &v, sizeof v);
}

// Functions using AVX512-BF16 intrinsics; called only where CpuHasAvx512Bf16().
#define MUCHATOR_BF16_TARGET __attribute__((target("avx512f,avx512bf16")))

// f rounded to bf16 (nearest even, as torch's conversion): its bits.
inline uint32_t Bf16Bits(float f) {
  const uint32_t u = __builtin_bit_cast(uint32_t, f);
  return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}

// x (rows, in) fp32 -> (rows, ceil(in / 2)) bf16 pairs (the bf16 panels' and attention's
// operands), rounded to nearest even (as torch's conversion), the odd tail padded with 0. 32
// floats per instruction, the row's tail in scalars.
MUCHATOR_BF16_TARGET inline void ToBf16Pairs(const float* x, int64_t rows, int64_t in,
                                             uint32_t* x2) {
  const int64_t in2 = (in + 1) / 2;
  auto bf = Bf16Bits;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * in;
    uint32_t* out = x2 + r * in2;
    int64_t k = 0;
    for (; 2 * k + 32 <= in; k += 16)  // pairs k .. k + 15 from floats 2k .. 2k + 31
      _mm512_storeu_si512(out + k, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(xr + 2 * k + 16),
                                                                _mm512_loadu_ps(xr + 2 * k)));
    for (; k < in2; ++k) {
      const float hi = 2 * k + 1 < in ? xr[2 * k + 1] : 0.0f;
      out[k] = bf(xr[2 * k]) | (bf(hi) << 16);
    }
  }
}

// acc[r][i] += the bf16 pair b[r * stride] (broadcast) times the 16 pairs of w_i, for RB rows:
// the step of every bf16 product here (linear panels, attention scores and values).
template <int RB>
MUCHATOR_BF16_TARGET inline __attribute__((always_inline)) void Bf16Rows(__m512 (&acc)[RB][2],
                                                                         const uint32_t* b,
                                                                         int64_t stride, __m512i w0,
                                                                         __m512i w1) {
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r) {
    const __m512i bv = _mm512_set1_epi32(static_cast<int>(b[r * stride]));
    acc[r][0] = _mm512_dpbf16_ps(acc[r][0], (__m512bh)bv, (__m512bh)w0);
    acc[r][1] = _mm512_dpbf16_ps(acc[r][1], (__m512bh)bv, (__m512bh)w1);
  }
}

#pragma GCC diagnostic pop

}  // namespace muchator::kernels
