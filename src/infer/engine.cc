#include "infer/engine.h"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "core/vec_math.h"
#include "text/special_tokens.h"

namespace muchator {

namespace {
using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
// The engine's fp32 linear layers, y = x w^T: decoding's few rows (one per sequence) and a
// pre-fill's hundreds. The weights are packed once (PackPanels) into panels of kPanel output
// columns, each panel (in, kPanel) contiguous, so that the product is a sum of broadcast x values
// times weight vectors held in registers: no horizontal sums, and each weight is read once per
// block of up to eight rows. The row-times-row dot products this replaced spent about half their
// time summing vectors across lanes (once per output and row); OpenBLAS's gemm packs the whole
// weight matrix on every call, which with 1-8 rows cost 3-7x the product itself. Decoding at
// batch 8 became ~30% faster, batch 1 ~15% (bench/README.md, generation). Eight rows keep 16
// accumulators: registers enough with AVX-512 (32), spilled in the AVX2 clone (16).
constexpr int64_t kPanel = 32;
typedef float F16 __attribute__((vector_size(64), aligned(4)));
// Packs w (out, in) into (ceil(out / kPanel), in, kPanel), zero-padded past `out`.
torch::Tensor PackPanels(const torch::Tensor& w_in) {
  const auto w = w_in.to(torch::kFloat32).contiguous();
  const int64_t out = w.size(0), in = w.size(1), n = (out + kPanel - 1) / kPanel;
  auto padded = torch::zeros({n * kPanel, in});
  padded.narrow(0, 0, out).copy_(w);
  return padded.view({n, kPanel, in}).transpose(1, 2).contiguous();
}

// RB rows of x times 2 N columns of a panel (rows kPanel floats apart), V a vector of N floats:
// the whole panel with 16-float vectors (AVX-512), a half with 8-float ones (AVX2). With one or
// two rows the sum is split over U interleaved accumulator sets so that the multiply-adds do not
// wait on each other's latency. `cols` (<= 2 N) of the columns are stored.
template <typename V>
inline __attribute__((always_inline)) V LoadV(const float* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
template <typename V>
inline __attribute__((always_inline)) void StoreV(float* p, V v) {
  __builtin_memcpy(p, &v, sizeof v);
}
template <typename V, int RB>
inline __attribute__((always_inline)) void PanelRows(const float* x, int64_t in, const float* panel,
                                                     float* y, int64_t ld_y, int64_t cols,
                                                     bool add) {
  constexpr int N = sizeof(V) / sizeof(float);
  constexpr int U = RB == 1 ? 4 : RB == 2 ? 2 : 1;
  // Fully unrolled so that the accumulators live in registers (GCC kept them in memory, with a
  // load and a store around every multiply-add, when these loops were left rolled).
  V acc[U][RB][2];
#pragma GCC unroll 8
  for (int u = 0; u < U; ++u)
#pragma GCC unroll 8
    for (int r = 0; r < RB; ++r) acc[u][r][0] = acc[u][r][1] = V{};
  int64_t i = 0;
  for (; i + U <= in; i += U) {
#pragma GCC unroll 8
    for (int u = 0; u < U; ++u) {
      const V w0 = LoadV<V>(panel + (i + u) * kPanel), w1 = LoadV<V>(panel + (i + u) * kPanel + N);
#pragma GCC unroll 8
      for (int r = 0; r < RB; ++r) {
        const float xv = x[r * in + i + u];
        acc[u][r][0] += w0 * xv;
        acc[u][r][1] += w1 * xv;
      }
    }
  }
  for (; i < in; ++i) {
    const V w0 = LoadV<V>(panel + i * kPanel), w1 = LoadV<V>(panel + i * kPanel + N);
#pragma GCC unroll 8
    for (int r = 0; r < RB; ++r) {
      const float xv = x[r * in + i];
      acc[0][r][0] += w0 * xv;
      acc[0][r][1] += w1 * xv;
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r) {
    V a0 = acc[0][r][0], a1 = acc[0][r][1];
#pragma GCC unroll 8
    for (int u = 1; u < U; ++u) a0 += acc[u][r][0], a1 += acc[u][r][1];
    float* yr = y + r * ld_y;
    if (cols == 2 * N && add) {
      StoreV(yr, LoadV<V>(yr) + a0);
      StoreV(yr + N, LoadV<V>(yr + N) + a1);
    } else if (cols == 2 * N) {
      StoreV(yr, a0);
      StoreV(yr + N, a1);
    } else {
      float tmp[2 * N];
      StoreV(tmp, a0);
      StoreV(tmp + N, a1);
      for (int64_t c = 0; c < cols; ++c) yr[c] = add ? yr[c] + tmp[c] : tmp[c];
    }
  }
}

// y[b][o] = x[b] . w[o] (add: y[b][o] += ...) for the outputs of the panels [p0, p1) of
// `panels` (PackPanels of w, (out, in)), with PanelRows: AVX-512 (and the plain x86-64 build).
__attribute__((target_clones("arch=x86-64-v4", "default"))) void RowsTimesPanelsWide(
    const float* x, int64_t rows, const float* panels, int64_t out, int64_t in, float* y, bool add,
    int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const float* panel = panels + p * in * kPanel;
    const int64_t o = p * kPanel, cols = std::min(kPanel, out - o);
    for (int64_t b = 0; b < rows; b += 8) {
      const float* xb = x + b * in;
      float* yb = y + b * out + o;
      // clang-format off
      switch (std::min<int64_t>(8, rows - b)) {
        case 8: PanelRows<F16, 8>(xb, in, panel, yb, out, cols, add); break;
        case 7: PanelRows<F16, 7>(xb, in, panel, yb, out, cols, add); break;
        case 6: PanelRows<F16, 6>(xb, in, panel, yb, out, cols, add); break;
        case 5: PanelRows<F16, 5>(xb, in, panel, yb, out, cols, add); break;
        case 4: PanelRows<F16, 4>(xb, in, panel, yb, out, cols, add); break;
        case 3: PanelRows<F16, 3>(xb, in, panel, yb, out, cols, add); break;
        case 2: PanelRows<F16, 2>(xb, in, panel, yb, out, cols, add); break;
        default: PanelRows<F16, 1>(xb, in, panel, yb, out, cols, add); break;
      }
      // clang-format on
    }
  }
}

// The AVX2 form of RowsTimesPanels. With 16 registers of 8 floats, PanelRows' 64-byte vectors and
// eight rows (32 accumulator registers) did not fit: GCC's x86-64-v3 clone kept the accumulators
// on the stack and built each broadcast with scalar stores, and ran at ~3 GFLOP/s (90% of a
// decoding step; decode 250 tokens/s at batch 1 and 8 alike on a 2-core AVX2 machine). Here a
// panel is done in two halves of 16 columns (two 8-float vectors), up to six rows at a time:
// at most 12 accumulators, 2 weight vectors and a broadcast in registers.
typedef float F8 __attribute__((vector_size(32), aligned(4)));
inline __attribute__((always_inline)) F8 Load8(const float* p) {
  F8 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline __attribute__((always_inline)) void Store8(float* p, F8 v) { __builtin_memcpy(p, &v, sizeof v); }

__attribute__((target("arch=x86-64-v3"))) void RowsTimesPanelsAvx2(const float* x, int64_t rows,
                                                                   const float* panels, int64_t out,
                                                                   int64_t in, float* y, bool add,
                                                                   int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const float* panel = panels + p * in * kPanel;
    const int64_t o = p * kPanel, cols = std::min(kPanel, out - o);
    for (int64_t h = 0; h < 2 && h * 16 < cols; ++h) {
      const int64_t hc = std::min<int64_t>(16, cols - h * 16);
      for (int64_t b = 0; b < rows; b += 6) {
        const float* xb = x + b * in;
        float* yb = y + b * out + o + h * 16;
        const float* half = panel + h * 16;
        // clang-format off
        switch (std::min<int64_t>(6, rows - b)) {
          case 6: PanelRows<F8, 6>(xb, in, half, yb, out, hc, add); break;
          case 5: PanelRows<F8, 5>(xb, in, half, yb, out, hc, add); break;
          case 4: PanelRows<F8, 4>(xb, in, half, yb, out, hc, add); break;
          case 3: PanelRows<F8, 3>(xb, in, half, yb, out, hc, add); break;
          case 2: PanelRows<F8, 2>(xb, in, half, yb, out, hc, add); break;
          default: PanelRows<F8, 1>(xb, in, half, yb, out, hc, add); break;
        }
        // clang-format on
      }
    }
  }
}

// y[b][o] = x[b] . w[o] (add: y[b][o] += ...) for the outputs of the panels [p0, p1) of
// `panels`: the AVX2 kernel on CPUs that have AVX2 but not AVX-512, else the wide one.
void RowsTimesPanels(const float* x, int64_t rows, const float* panels, int64_t out, int64_t in,
                     float* y, bool add, int64_t p0, int64_t p1) {
  static const bool avx2_only =
      __builtin_cpu_supports("x86-64-v3") && !__builtin_cpu_supports("x86-64-v4");
  (avx2_only ? RowsTimesPanelsAvx2 : RowsTimesPanelsWide)(x, rows, panels, out, in, y, add, p0, p1);
}

// The same products in bf16 with fp32 accumulation (AVX512-BF16's vdpbf16ps: 32 multiply-adds of
// bf16 pairs per instruction, twice fp32's rate, and half the bytes of weights to read). The
// panels hold pairs of consecutive inputs: (ceil(out / kPanel), ceil(in / 2), kPanel, 2), so one
// 64-byte load gives 16 output columns times two inputs, and x's rows are converted to bf16 pairs
// (one 32-bit broadcast per pair and row).
torch::Tensor PackPanelsBf16(const torch::Tensor& w_in) {
  const auto w = w_in.to(torch::kFloat32).contiguous();
  const int64_t out = w.size(0), in = w.size(1), n = (out + kPanel - 1) / kPanel;
  const int64_t in2 = (in + 1) / 2;
  auto padded = torch::zeros({n * kPanel, in2 * 2});
  padded.narrow(0, 0, out).narrow(1, 0, in).copy_(w);
  return padded.view({n, kPanel, in2, 2}).permute({0, 2, 1, 3}).contiguous().to(torch::kBFloat16);
}

#define MUCHATOR_BF16_TARGET __attribute__((target("avx512f,avx512bf16")))

// x (rows, in) fp32 -> (rows, ceil(in / 2)) bf16 pairs, rounded to nearest even (as torch's
// conversion), the odd tail padded with 0. 32 floats per instruction, the row's tail in scalars.
// f rounded to bf16 (nearest even, as torch's conversion): its bits.
inline uint32_t Bf16Bits(float f) {
  const uint32_t u = __builtin_bit_cast(uint32_t, f);
  return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}

MUCHATOR_BF16_TARGET void ToBf16Pairs(const float* x, int64_t rows, int64_t in, uint32_t* x2) {
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

// acc[r] += the pair k of x2's row r times the panel's pair-row k, for RB rows.
template <int RB>
MUCHATOR_BF16_TARGET inline __attribute__((always_inline)) void Bf16Step(
    __m512 (&acc)[RB][2], const uint32_t* x2, int64_t in2, const uint16_t* panel, int64_t k) {
  Bf16Rows<RB>(acc, x2 + k, in2, _mm512_loadu_si512(panel + k * 2 * kPanel),
               _mm512_loadu_si512(panel + k * 2 * kPanel + kPanel));
}

template <int RB>
MUCHATOR_BF16_TARGET inline __attribute__((always_inline)) void PanelRowsBf16(
    const uint32_t* x2, int64_t in2, const uint16_t* panel, float* y, int64_t ld_y, int64_t cols,
    bool add) {
  constexpr int U = RB == 1 ? 4 : RB == 2 ? 2 : 1;  // independent sums, as in PanelRows
  __m512 acc[U][RB][2];
#pragma GCC unroll 8
  for (int u = 0; u < U; ++u)
#pragma GCC unroll 8
    for (int r = 0; r < RB; ++r) acc[u][r][0] = acc[u][r][1] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + U <= in2; k += U)
#pragma GCC unroll 8
    for (int u = 0; u < U; ++u) Bf16Step<RB>(acc[u], x2, in2, panel, k + u);
  for (; k < in2; ++k) Bf16Step<RB>(acc[0], x2, in2, panel, k);
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r) {
    __m512 a0 = acc[0][r][0], a1 = acc[0][r][1];
#pragma GCC unroll 8
    for (int u = 1; u < U; ++u)
      a0 = _mm512_add_ps(a0, acc[u][r][0]), a1 = _mm512_add_ps(a1, acc[u][r][1]);
    float tmp[kPanel];
    _mm512_storeu_ps(tmp, a0);
    _mm512_storeu_ps(tmp + 16, a1);
    float* yr = y + r * ld_y;
    for (int64_t c = 0; c < cols; ++c) yr[c] = add ? yr[c] + tmp[c] : tmp[c];
  }
}

// RowsTimesPanels in bf16: x2 from ToBf16Pairs, panels from PackPanelsBf16. Only on CPUs with
// AVX512-BF16 (CpuHasAvx512Bf16). The loop over panels and row blocks repeats RowsTimesPanels'
// on purpose: the always-inlined row kernels must be instantiated inside a function compiled for
// their target (bf16 here, the target_clones there); a shared driver or a lambda is compiled
// without it, and GCC then refuses to inline the intrinsics.
MUCHATOR_BF16_TARGET void RowsTimesPanelsBf16(const uint32_t* x2, int64_t rows,
                                              const uint16_t* panels, int64_t out, int64_t in2,
                                              float* y, bool add, int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const uint16_t* panel = panels + p * in2 * 2 * kPanel;
    const int64_t o = p * kPanel, cols = std::min(kPanel, out - o);
    for (int64_t b = 0; b < rows; b += 8) {
      const uint32_t* xb = x2 + b * in2;
      float* yb = y + b * out + o;
      // clang-format off
      switch (std::min<int64_t>(8, rows - b)) {
        case 8: PanelRowsBf16<8>(xb, in2, panel, yb, out, cols, add); break;
        case 7: PanelRowsBf16<7>(xb, in2, panel, yb, out, cols, add); break;
        case 6: PanelRowsBf16<6>(xb, in2, panel, yb, out, cols, add); break;
        case 5: PanelRowsBf16<5>(xb, in2, panel, yb, out, cols, add); break;
        case 4: PanelRowsBf16<4>(xb, in2, panel, yb, out, cols, add); break;
        case 3: PanelRowsBf16<3>(xb, in2, panel, yb, out, cols, add); break;
        case 2: PanelRowsBf16<2>(xb, in2, panel, yb, out, cols, add); break;
        default: PanelRowsBf16<1>(xb, in2, panel, yb, out, cols, add); break;
      }
      // clang-format on
    }
  }
}

#pragma GCC diagnostic pop

// F8, Load8, Store8 (above): eight floats, AVX2/AVX-512 registers in those clones, SSE pairs in
// the default one; loads and stores at any alignment.
// (-Wpsabi: the helpers are always inlined, so no vector crosses a call in the default clone.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

// Scores of RN query rows (q: RN rows of D) against keys [0, T) (Kt: D rows of `ldk` floats)
// into s (RN rows of `st` floats), D a multiple of 4. Four key rows at a time, swept along the
// positions: each key vector loaded feeds all RN rows, and the memory is read as a few
// sequential streams (sweeping 16 positions over all D rows at once read D streams, which the
// hardware prefetcher did not follow once the caches came from memory: slower at batch 8).
template <int RN>
inline __attribute__((always_inline)) void ScoreRows(const float* q, int64_t D, const float* Kt,
                                                     int64_t ldk, int64_t T, float* s, int64_t st) {
  for (int r = 0; r < RN; ++r) std::fill_n(s + r * st, T, 0.0f);
  for (int64_t d = 0; d < D; d += 4) {
    const float *k0 = Kt + d * ldk, *k1 = k0 + ldk, *k2 = k1 + ldk, *k3 = k2 + ldk;
    float qd[RN][4];
    for (int r = 0; r < RN; ++r)
      for (int j = 0; j < 4; ++j) qd[r][j] = q[r * D + d + j];
    int64_t t = 0;
    for (; t + 8 <= T; t += 8) {
      const F8 a = Load8(k0 + t), b = Load8(k1 + t), c = Load8(k2 + t), e = Load8(k3 + t);
#pragma GCC unroll 4
      for (int r = 0; r < RN; ++r)
        Store8(s + r * st + t,
               Load8(s + r * st + t) + qd[r][0] * a + qd[r][1] * b + qd[r][2] * c + qd[r][3] * e);
    }
    for (; t < T; ++t)
      for (int r = 0; r < RN; ++r)
        s[r * st + t] += qd[r][0] * k0[t] + qd[r][1] * k1[t] + qd[r][2] * k2[t] + qd[r][3] * k3[t];
  }
}

// out (RN rows of D) = p (RN rows of `st` weights, zero past each row's keys) x V[0, T), times
// scale[r]. D is a multiple of 16: C = 32 columns at a time where D allows (16 otherwise), each
// value vector feeding all RN rows. (16 columns at a time gave each accumulator one multiply-add
// per position, so the loop waited on their latency: a quarter of the kernel's time at D = 32.)
template <int RN, int C>
inline __attribute__((always_inline)) void WeighValuesCols(const float* p, int64_t st,
                                                           const float* V, int64_t D, int64_t T,
                                                           const float* scale, float* out,
                                                           int64_t d) {
  constexpr int K = C / 8;
  F8 a[RN][K] = {};
  for (int64_t t = 0; t < T; ++t) {
    F8 v[K];
#pragma GCC unroll 4
    for (int k = 0; k < K; ++k) v[k] = Load8(V + t * D + d + 8 * k);
#pragma GCC unroll 4
    for (int r = 0; r < RN; ++r) {
      const float pr = p[r * st + t];
#pragma GCC unroll 4
      for (int k = 0; k < K; ++k) a[r][k] += pr * v[k];
    }
  }
  for (int r = 0; r < RN; ++r)
    for (int k = 0; k < K; ++k) Store8(out + r * D + d + 8 * k, a[r][k] * scale[r]);
}

template <int RN>
inline __attribute__((always_inline)) void WeighValues(const float* p, int64_t st, const float* V,
                                                       int64_t D, int64_t T, const float* scale,
                                                       float* out) {
  int64_t d = 0;
  for (; d + 32 <= D; d += 32) WeighValuesCols<RN, 32>(p, st, V, D, T, scale, out, d);
  for (; d < D; d += 16) WeighValuesCols<RN, 16>(p, st, V, D, T, scale, out, d);
}

// Softmax statistics of rows attended over part of their keys: the maximum score and the sum
// of exp(score - max); the output rows are then the unnormalised sums (merged by MergeParts).
struct PartStats {
  float* max;
  float* sum;
};

// Rows see keys [lo, limit[r]) (lo <= limit[r]; the same lo for all RN rows).
template <int RN>
inline __attribute__((always_inline)) void AttendRows(const float* q, int64_t lo,
                                                      const int64_t* limit, const float* Kt,
                                                      int64_t ldk, const float* V, int64_t D,
                                                      float* out, float* s, PartStats* part) {
  int64_t T = lo;
  for (int r = 0; r < RN; ++r) T = std::max(T, limit[r]);
  T -= lo;
  const int64_t st = (T + 15) / 16 * 16;
  ScoreRows<RN>(q, D, Kt + lo, ldk, T, s, st);
  float scale[RN];
  for (int r = 0; r < RN; ++r) {
    float* sr = s + r * st;
    const int64_t n = limit[r] - lo;
    float m = -std::numeric_limits<float>::infinity();
    // (Vectorised by the pragma only: left to GCC -O2 this scalar loop was a fifth of the
    // kernel's time.)
#pragma omp simd reduction(max : m)
    for (int64_t t = 0; t < n; ++t) m = sr[t] > m ? sr[t] : m;
    const float sum = n > 0 ? ExpShiftedSum(sr, n, m) : 0.0f;  // sr[t] = exp(sr[t] - m)
    for (int64_t t = n; t < T; ++t) sr[t] = 0.0f;              // keys this row does not see
    if (part) {
      part->max[r] = m, part->sum[r] = sum, scale[r] = 1.0f;
    } else {
      scale[r] = 1.0f / sum;
    }
  }
  WeighValues<RN>(s, st, V + lo * D, D, T, scale, out);
}

// Attention of R query rows of one (sequence, KV head) while decoding, fused: scores, softmax
// and the weighted sum of values (row r sees keys [lo, limit[r])); the rows of a block of four
// all score the keys of the block's longest row, which wastes a few positions except where a
// block spans two query heads of a pre-fill (one block per head). Keys are stored transposed (Kt: D rows of `ldk`
// floats), so the scores vectorise over keys without horizontal sums; V rows are D floats. Rows
// go four at a time, so each key and value vector read serves four rows (eight spilled
// registers and ran at half the speed). With `part`
// the rows' softmax statistics are written there (part->max/sum + r) and the outputs are left
// unnormalised; without it they are the attention outputs. `s` holds >= 4 x (max limit - lo +
// 16) floats. Written here because torch's batched matmul packs each (sequence, head) block
// separately, which dominated decoding with a few query rows (bench/README.md, generation).
MUCHATOR_SIMD_CLONES void DecodeAttention(const float* q, int64_t R, int64_t lo,
                                          const int64_t* limit, const float* Kt, int64_t ldk,
                                          const float* V, int64_t D, float* out, float* s,
                                          const PartStats* part) {
  if (D % 16 == 0) {
    for (int64_t r = 0; r < R;) {
      PartStats p, *pp = nullptr;
      if (part) p = {part->max + r, part->sum + r}, pp = &p;
      const float* qr = q + r * D;
      float* o = out + r * D;
      switch (std::min<int64_t>(R - r, 4)) {
        case 4:
          AttendRows<4>(qr, lo, limit + r, Kt, ldk, V, D, o, s, pp), r += 4;
          break;
        case 3:
          AttendRows<3>(qr, lo, limit + r, Kt, ldk, V, D, o, s, pp), r += 3;
          break;
        case 2:
          AttendRows<2>(qr, lo, limit + r, Kt, ldk, V, D, o, s, pp), r += 2;
          break;
        default:
          AttendRows<1>(qr, lo, limit + r, Kt, ldk, V, D, o, s, pp), r += 1;
          break;
      }
    }
    return;
  }
  // Other head sizes: one row at a time.
  for (int64_t r = 0; r < R; ++r) {
    const int64_t T = limit[r] - lo;
    const float* qr = q + r * D;
    for (int64_t t = 0; t < T; ++t) s[t] = 0.0f;
    for (int64_t d = 0; d < D; ++d) {
      const float qd = qr[d];
      const float* kd = Kt + d * ldk + lo;
#pragma omp simd
      for (int64_t t = 0; t < T; ++t) s[t] += qd * kd[t];
    }
    float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
    for (int64_t t = 0; t < T; ++t) m = s[t] > m ? s[t] : m;
    const float sum = T > 0 ? ExpShiftedSum(s, T, m) : 0.0f;  // s[t] = exp(s[t] - m)
    const float inv = part ? 1.0f : 1.0f / sum;
    if (part) part->max[r] = m, part->sum[r] = sum;
    float* o = out + r * D;
    for (int64_t d = 0; d < D; ++d) o[d] = 0.0f;
    for (int64_t t = 0; t < T; ++t) {
      const float p = s[t] * inv;
      const float* v = V + (lo + t) * D;
#pragma omp simd
      for (int64_t d = 0; d < D; ++d) o[d] += p * v[d];
    }
  }
}

// Attention over a bf16 KV cache (engines whose forwards all run in bf16 on AVX512-BF16 CPUs,
// head_dim a multiple of 32): the same fused scores, softmax and weighted values as
// DecodeAttention, with vdpbf16ps (32 multiply-adds of bf16 pairs per instruction, twice fp32's
// rate) on half the bytes. Keys are stored as pairs of dimensions (K2: D/2 rows of `ldk` 32-bit
// pairs per (slot, head): 16 positions times one pair per load), values as pairs of positions
// (V2: a row of D 32-bit pairs per two positions: 16 columns times two positions per load), so
// both products accumulate in fp32 without horizontal sums. The query rows and the softmax
// weights are rounded to bf16 pairs first; scores, softmax and outputs stay fp32. At batch 8 the
// fp32 kernel was a third of a decoding step (bench/README.md, generation).
//
// Scores of RN query rows (q2: RN rows of D2 pairs) against positions [0, T) of K2 into s (RN
// rows of `st` floats, st a multiple of 32 >= T): 32 positions per pass, all pairs accumulated
// in registers; the tail's loads are masked (they would read past the last slot's keys).
template <int RN>
MUCHATOR_BF16_TARGET inline __attribute__((always_inline)) void ScoreRowsBf16(
    const uint32_t* q2, int64_t D2, const uint32_t* K2, int64_t ldk, int64_t T, float* s,
    int64_t st) {
  for (int64_t t = 0; t < T; t += 32) {
    const int64_t left = T - t;
    const __mmask16 m0 = left >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << left) - 1);
    const __mmask16 m1 = left >= 32   ? 0xFFFF
                         : left <= 16 ? 0
                                      : static_cast<__mmask16>((1u << (left - 16)) - 1);
    __m512 acc[RN][2];
#pragma GCC unroll 4
    for (int r = 0; r < RN; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t j = 0; j < D2; ++j) {
      const uint32_t* k = K2 + j * ldk + t;
      Bf16Rows<RN>(acc, q2 + j, D2, _mm512_maskz_loadu_epi32(m0, k),
                   _mm512_maskz_loadu_epi32(m1, k + 16));
    }
#pragma GCC unroll 4
    for (int r = 0; r < RN; ++r) {
      _mm512_storeu_ps(s + r * st + t, acc[r][0]);
      _mm512_storeu_ps(s + r * st + t + 16, acc[r][1]);
    }
  }
}

// out (RN rows of D) = p2 (RN rows of `ld_p` pairs of weights, zero past each row's keys) x the
// first T2 position pairs of V2, times scale[r]; 32 columns per pass.
template <int RN>
MUCHATOR_BF16_TARGET inline __attribute__((always_inline)) void WeighValuesBf16(
    const uint32_t* p2, int64_t ld_p, const uint32_t* V2, int64_t D, int64_t T2, const float* scale,
    float* out) {
  for (int64_t d = 0; d < D; d += 32) {
    __m512 acc[RN][2];
#pragma GCC unroll 4
    for (int r = 0; r < RN; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t i = 0; i < T2; ++i)
      Bf16Rows<RN>(acc, p2 + i, ld_p, _mm512_loadu_si512(V2 + i * D + d),
                   _mm512_loadu_si512(V2 + i * D + d + 16));
#pragma GCC unroll 4
    for (int r = 0; r < RN; ++r) {
      const __m512 sc = _mm512_set1_ps(scale[r]);
      _mm512_storeu_ps(out + r * D + d, _mm512_mul_ps(acc[r][0], sc));
      _mm512_storeu_ps(out + r * D + d + 16, _mm512_mul_ps(acc[r][1], sc));
    }
  }
}

// AttendRows over the bf16 cache: rows see keys [lo, limit[r]). Position pairs start at even
// positions, so the rows score from lo rounded down to even and a position before lo gets
// weight 0. `scratch` holds BF16AttentionScratch(T) floats.
template <int RN>
MUCHATOR_BF16_TARGET inline __attribute__((always_inline)) void AttendRowsBf16(
    const float* q, int64_t lo, const int64_t* limit, const uint32_t* K2, int64_t ldk,
    const uint32_t* V2, int64_t D, float* out, float* scratch, PartStats* part) {
  const int64_t lo_e = lo & ~int64_t{1}, first = lo - lo_e;
  int64_t hi = lo;
  for (int r = 0; r < RN; ++r) hi = std::max(hi, limit[r]);
  const int64_t T = hi - lo_e, st = (T + 31) / 32 * 32, D2 = D / 2;
  float* s = scratch;
  auto* p2 = reinterpret_cast<uint32_t*>(s + RN * st);
  uint32_t* q2 = p2 + RN * st / 2;
  ToBf16Pairs(q, RN, D, q2);
  ScoreRowsBf16<RN>(q2, D2, K2 + lo_e, ldk, T, s, st);
  float scale[RN];
  for (int r = 0; r < RN; ++r) {
    float* sr = s + r * st;
    const int64_t n = limit[r] - lo_e;
    float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
    for (int64_t t = first; t < n; ++t) m = sr[t] > m ? sr[t] : m;
    const float sum = n > first ? ExpShiftedSum(sr + first, n - first, m) : 0.0f;
    for (int64_t t = 0; t < first; ++t) sr[t] = 0.0f;
    for (int64_t t = std::max(n, first); t < st; ++t) sr[t] = 0.0f;  // keys this row does not see
    if (part) {
      part->max[r] = m, part->sum[r] = sum, scale[r] = 1.0f;
    } else {
      scale[r] = 1.0f / sum;
    }
  }
  ToBf16Pairs(s, RN, st, p2);
  WeighValuesBf16<RN>(p2, st / 2, V2 + (lo_e / 2) * D, D, (T + 1) / 2, scale, out);
}

// Floats of scratch AttendRowsBf16 needs for rows seeing up to T positions (4 rows of scores,
// their weights as pairs, the query pairs).
int64_t Bf16AttentionScratch(int64_t T, int64_t D) { return 6 * (T + 34) + 2 * D; }

// DecodeAttention over the bf16 cache (D a multiple of 32), rows four at a time.
MUCHATOR_BF16_TARGET void DecodeAttentionBf16(const float* q, int64_t R, int64_t lo,
                                              const int64_t* limit, const uint32_t* K2, int64_t ldk,
                                              const uint32_t* V2, int64_t D, float* out,
                                              float* scratch, const PartStats* part) {
  for (int64_t r = 0; r < R;) {
    PartStats p, *pp = nullptr;
    if (part) p = {part->max + r, part->sum + r}, pp = &p;
    const float* qr = q + r * D;
    float* o = out + r * D;
    // clang-format off
    switch (std::min<int64_t>(R - r, 4)) {
      case 4: AttendRowsBf16<4>(qr, lo, limit + r, K2, ldk, V2, D, o, scratch, pp), r += 4; break;
      case 3: AttendRowsBf16<3>(qr, lo, limit + r, K2, ldk, V2, D, o, scratch, pp), r += 3; break;
      case 2: AttendRowsBf16<2>(qr, lo, limit + r, K2, ldk, V2, D, o, scratch, pp), r += 2; break;
      default: AttendRowsBf16<1>(qr, lo, limit + r, K2, ldk, V2, D, o, scratch, pp), r += 1; break;
    }
    // clang-format on
  }
}

// out = the attention over the keys of both parts: rows (a, a_max, a_sum) and (b, ...) are
// unnormalised outputs over disjoint key ranges with their softmax statistics.
void MergeParts(const float* a, float a_max, float a_sum, const float* b, float b_max, float b_sum,
                int64_t D, float* out) {
  const float m = std::max(a_max, b_max);
  const float wa = a_sum > 0 ? std::exp(a_max - m) : 0.0f,
              wb = b_sum > 0 ? std::exp(b_max - m) : 0.0f;
  const float inv = 1.0f / (wa * a_sum + wb * b_sum);
  for (int64_t d = 0; d < D; ++d) out[d] = (wa * a[d] + wb * b[d]) * inv;
}

#pragma GCC diagnostic pop

// Sequences sharing a prefix of at least this many positions attend over it together.
constexpr int kMinSharedPrefix = 32;
// Sequences of one forward whose caches hold bit-identical keys and values in their first `len`
// positions (copied from one prefix-cache entry: a GRPO group, n answers to one prompt).
// Decoding reads that prefix once for all of them instead of once per sequence: at batch 8 the
// per-sequence reads of the KV cache were most of a step (bench/README.md, generation).
struct SharedPrefix {
  int64_t len = 0;
  std::vector<int> members;  // indices into the forward's slots
};

// One layer's KV cache, `ld` positions per (slot, KV head): fp32 (k: keys transposed, (slot, KV,
// D, ld); v: (slot, KV, ld, D)) or bf16 pairs (k2: (slot, KV, D / 2, ld) pairs of dimensions; v2:
// (slot, KV, (ld + 1) / 2, D) pairs of positions; see ScoreRowsBf16).
struct CacheLayer {
  const float *k = nullptr, *v = nullptr;
  const uint32_t *k2 = nullptr, *v2 = nullptr;
  int64_t ld = 0;
};

// DecodeAttention (or DecodeAttentionBf16) over the cache of one (slot, KV head).
void AttendSlotHead(const float* q, int64_t R, int64_t lo, const int64_t* limit,
                    const CacheLayer& c, int64_t slot_head, int64_t D, float* out, float* scratch,
                    const PartStats* part) {
  if (c.k2)
    DecodeAttentionBf16(q, R, lo, limit, c.k2 + slot_head * (D / 2) * c.ld, c.ld,
                        c.v2 + slot_head * ((c.ld + 1) / 2) * D, D, out, scratch, part);
  else
    DecodeAttention(q, R, lo, limit, c.k + slot_head * D * c.ld, c.ld, c.v + slot_head * c.ld * D,
                    D, out, scratch, part);
}

// DecodeAttention for every (sequence, KV head) of a forward, in parallel: R query rows per
// pair in q and out ((B, KV, R, D)), row r of sequence b seeing limit[b * R + r] cached positions
// of the slot slots[b] in one layer's caches (`ld` positions per (slot, head); keys transposed). The members of each of `shared` attend over their common
// prefix together (from the first member's slot), then over their own positions, and the two
// parts are merged.
void AttendOverCache(const float* q, int64_t R, const std::vector<int64_t>& limit,
                     const std::vector<int>& slots, const std::vector<SharedPrefix>& shared,
                     int64_t KV, int64_t D, int64_t T, const CacheLayer& cache, float* out) {
  const int64_t B = static_cast<int64_t>(slots.size()), G = static_cast<int64_t>(shared.size());
  std::vector<int> group_of(B, -1);
  size_t most = 0;
  for (int64_t gi = 0; gi < G; ++gi) {
    for (int b : shared[gi].members) group_of[b] = static_cast<int>(gi);
    most = std::max(most, shared[gi].members.size());
  }
  // The prefix parts: outputs laid out like `out`, softmax statistics per row (own parts' too).
  std::vector<float> pre_out(G > 0 ? B * KV * R * D : 0), pre_max(G > 0 ? B * KV * R : 0),
      pre_sum(pre_max.size()), own_max(pre_max.size()), own_sum(pre_max.size());
  // Work items: (group, head) prefix parts, then (sequence, head) own parts, the former spread
  // evenly through the range so that each thread's contiguous share gets some of them.
  const int64_t n_pre = G * KV, n_all = n_pre + B * KV;
  std::vector<int64_t> items(n_all);
  for (int64_t k = 0, done = 0; k < n_all; ++k) {
    const bool pre = done < n_pre && (n_pre * (k + 1)) / n_all > done;
    items[k] = pre ? -1 - done++ : k - done;  // -1 - prefix item, or own item
  }
  at::parallel_for(0, n_all, 1, [&](int64_t i0, int64_t i1) {
    std::vector<float> scratch(std::max(4 * (T + 16), Bf16AttentionScratch(T, D))),
        qbuf(most * R * D), obuf(qbuf.size());
    std::vector<float> mbuf(most * R), sbuf(most * R);
    std::vector<int64_t> hi(most * R);
    for (int64_t k = i0; k < i1; ++k) {
      if (items[k] < 0) {  // one group's prefix, all its members' rows at once
        const int64_t gi = (-1 - items[k]) / KV, h = (-1 - items[k]) % KV;
        const auto& grp = shared[gi];
        const int64_t m = static_cast<int64_t>(grp.members.size());
        for (int64_t j = 0; j < m; ++j) {
          const int64_t b = grp.members[j];
          std::copy_n(q + (b * KV + h) * R * D, R * D, qbuf.data() + j * R * D);
          for (int64_t r = 0; r < R; ++r) hi[j * R + r] = std::min(limit[b * R + r], grp.len);
        }
        PartStats part{mbuf.data(), sbuf.data()};
        AttendSlotHead(qbuf.data(), m * R, 0, hi.data(), cache, slots[grp.members[0]] * KV + h, D,
                       obuf.data(), scratch.data(), &part);
        for (int64_t j = 0; j < m; ++j) {
          const int64_t at = (grp.members[j] * KV + h) * R;
          std::copy_n(obuf.data() + j * R * D, R * D, pre_out.data() + at * D);
          std::copy_n(mbuf.data() + j * R, R, pre_max.data() + at);
          std::copy_n(sbuf.data() + j * R, R, pre_sum.data() + at);
        }
        continue;
      }
      const int64_t i = items[k], b = i / KV;
      PartStats part{own_max.data() + i * R, own_sum.data() + i * R};
      AttendSlotHead(q + i * R * D, R, group_of[b] < 0 ? 0 : shared[group_of[b]].len,
                     limit.data() + b * R, cache, slots[b] * KV + i % KV, D, out + i * R * D,
                     scratch.data(), group_of[b] < 0 ? nullptr : &part);
    }
  });
  for (int64_t b = 0; b < B; ++b) {
    if (group_of[b] < 0) continue;
    for (int64_t row = b * KV * R; row < (b + 1) * KV * R; ++row)
      MergeParts(pre_out.data() + row * D, pre_max[row], pre_sum[row], out + row * D, own_max[row],
                 own_sum[row], D, out + row * D);
  }
}

// Forwards of at least this many rows multiply in bf16 through torch (oneDNN) rather than the
// bf16 panels: a pre-fill, where oneDNN's blocking pays.
constexpr int64_t kTorchBf16Rows = 64;

// One linear layer's weights: the (out, in) matrix packed into fp32 panels (RowsTimesPanels)
// where some forward runs in fp32, and where bf16 is on, bf16 panels (on CPUs with AVX512-BF16)
// and a bf16 copy for torch. The fp32 panels serve every fp32 product, also a pre-fill's hundreds
// of rows: there they were as fast as torch's fp32 linear (OpenBLAS; first token 20.3 vs 22.5
// ms), so the unpacked matrix is not kept (bench/README.md, generation).
struct LinearWeights {
  torch::Tensor panels, panels16, w16;
  int64_t out = 0;
};

// For an engine whose forwards of at least `bf16_min_rows` rows run in bf16 (0 = none): with 1
// every forward does, so no fp32 copy is packed.
LinearWeights MakeLinear(const torch::Tensor& w, int bf16_min_rows) {
  LinearWeights lw;
  lw.out = w.size(0);
  if (bf16_min_rows != 1) lw.panels = PackPanels(w.detach());
  if (bf16_min_rows > 0) {
    lw.w16 = w.detach().to(torch::kBFloat16).contiguous();
    if (CpuHasAvx512Bf16()) lw.panels16 = PackPanelsBf16(w.detach());
  }
  return lw;
}

// y = x @ w^T (add: y += x @ w^T, y (rows, out) contiguous), in bf16 when `bf16` is set (and
// the bf16 weights exist). Adding in place saves the residual connections a torch op each: on a
// decoding step's few rows a torch op costs more in dispatch than its arithmetic.
void LinearInto(const torch::Tensor& x_in, const LinearWeights& lw, bool bf16, torch::Tensor& y,
                bool add) {
  const int64_t rows = x_in.size(0);
  if (bf16 && lw.w16.defined() && (rows >= kTorchBf16Rows || !lw.panels16.defined())) {
    auto r = torch::linear(x_in.to(torch::kBFloat16), lw.w16).to(torch::kFloat32);
    add ? y.add_(r) : (y = r);
    return;
  }
  const auto x = x_in.contiguous();
  const int64_t in = x.size(1), out = lw.out, n = (out + kPanel - 1) / kPanel;
  if (!add) y = torch::empty({rows, out});
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  if (bf16 && lw.panels16.defined()) {
    const int64_t in2 = (in + 1) / 2;
    std::vector<uint32_t> x2(rows * in2);
    ToBf16Pairs(xp, rows, in, x2.data());
    const auto* pp = reinterpret_cast<const uint16_t*>(lw.panels16.data_ptr<at::BFloat16>());
    at::parallel_for(0, n, 2, [&](int64_t p0, int64_t p1) {
      RowsTimesPanelsBf16(x2.data(), rows, pp, out, in2, yp, add, p0, p1);
    });
    return;
  }
  if (!lw.panels.defined())
    throw Error("internal: an fp32 product on weights packed for bf16 only");
  const float* pp = lw.panels.data_ptr<float>();
  at::parallel_for(0, n, 2, [&](int64_t p0, int64_t p1) {
    RowsTimesPanels(xp, rows, pp, out, in, yp, add, p0, p1);
  });
}

torch::Tensor Linear(const torch::Tensor& x, const LinearWeights& lw, bool bf16) {
  torch::Tensor y;
  LinearInto(x, lw, bf16, y, false);
  return y;
}

// silu(gu[:, :I]) * gu[:, I:] for the rows of gu (rows, 2 I), the SwiGLU between the MLP's
// projections, with the vectorised exp: silu(g) = g / (1 + e^-g), written with e = exp(-|g|) so
// that exp's argument is never positive.
MUCHATOR_SIMD_CLONES void SwiGluRows(const float* gu, int64_t I, float* out, float* e, int64_t r0,
                                     int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* g = gu + r * 2 * I;
    const float* u = g + I;
#pragma omp simd
    for (int64_t i = 0; i < I; ++i) e[i] = g[i] < 0 ? g[i] : -g[i];
    ExpShiftedSum(e, I, 0.0f);
#pragma omp simd
    for (int64_t i = 0; i < I; ++i)
      out[r * I + i] = (g[i] >= 0 ? g[i] : g[i] * e[i]) / (1.0f + e[i]) * u[i];
  }
}

torch::Tensor SwiGlu(const torch::Tensor& gu_in, int64_t I) {
  const auto gu = gu_in.contiguous();
  const int64_t rows = gu.size(0);
  auto y = torch::empty({rows, I});
  const float* gp = gu.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, rows, 64, [&](int64_t r0, int64_t r1) {
    std::vector<float> e(I);
    SwiGluRows(gp, I, yp, e.data(), r0, r1);
  });
  return y;
}

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

// Length of the longest prefix of `s` that does not end inside a UTF-8 character.
size_t CompleteUtf8Prefix(const std::string& s) {
  size_t i = s.size(), back = 0;
  while (i > 0 && back < 4) {
    const unsigned char c = static_cast<unsigned char>(s[i - 1]);
    ++back;
    if ((c & 0xC0) != 0x80) {  // a lead byte (or ASCII): is its character complete?
      const size_t need = c < 0x80           ? 1
                          : (c >> 5) == 0x6  ? 2
                          : (c >> 4) == 0xE  ? 3
                          : (c >> 3) == 0x1E ? 4
                                             : 1;
      return back >= need ? s.size() : i - 1;
    }
    --i;
  }
  return s.size();  // only continuation bytes seen: not valid UTF-8 anyway, pass it on
}
}  // namespace

bool CpuHasAvx512Bf16() {
  static const bool has = __builtin_cpu_supports("avx512bf16");
  return has;
}

const char* FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "?";
}

struct Engine::Weights {
  struct Layer {
    torch::Tensor in_norm, post_norm, q_norm, k_norm;
    LinearWeights wqkv, wo, wgu, wdown;  // bf16 copies (pre-fill) when enabled
  };
  torch::Tensor embed, norm;
  LinearWeights lm;
  std::vector<Layer> layers;
};

struct Engine::Seq {
  int handle = 0;
  GenerationRequest req;
  Rng rng{0};
  std::optional<AnswerConstraint> cons;
  std::vector<int> stops;
  std::vector<int> generated, pending;  // pending: appended but not yet in the KV cache
  int cache_len = 0;
  bool finished = false, cancelled = false;
  FinishReason finish = FinishReason::kStop;
  int forward_passes = 0, sampled = 0, cached = 0;
  // The first share_len positions of this sequence's cache are a copy of the prefix-cache entry
  // share_id (0 = none), bit for bit, as are those of every other sequence with that id.
  uint64_t share_id = 0;
  int share_len = 0;
  Clock::time_point submitted;
  double first_token_s = -1, total_s = 0;
  std::vector<int> stream_tokens;
  std::string stream_bytes;
};

Engine::Engine(Qwen3ForCausalLM model, const Tokenizer& tok, const AnswerGrammar* grammar,
               EngineOptions o)
    : model_(std::move(model)), tok_(tok), grammar_(grammar), o_(o) {
  const ModelConfig& c = model_->config();
  if (o_.max_batch < 1) throw Error("max_batch must be >= 1");
  max_len_ = o_.max_len > 0 ? o_.max_len
                            : static_cast<int>(std::min<int64_t>(1024, c.max_position_embeddings));
  if (max_len_ > c.max_position_embeddings)
    throw Error("max_len " + std::to_string(max_len_) +
                " is above the model's max_position_embeddings (" +
                std::to_string(c.max_position_embeddings) + ")");
  if (tok.vocab_size() > c.vocab_size)
    throw Error("the tokenizer has " + std::to_string(tok.vocab_size()) +
                    " tokens but the model only " + std::to_string(c.vocab_size),
                "", "use the tokenizer.json saved with the checkpoint");
  bf16_min_rows_ = o_.bf16_min_rows >= 0 ? o_.bf16_min_rows
                   : CpuHasAvx512Bf16()  ? 1
                   : CpuHasNativeBf16()  ? 64
                                         : 0;
  for (const char* t : {tok::kImEnd, tok::kEndOfText})
    if (tok.TokenId(t) >= 0) default_stops_.push_back(tok.TokenId(t));
  c10::InferenceMode guard;
  auto [cos, sin] =
      RotaryCosSin(torch::arange(max_len_, torch::kInt64).unsqueeze(0), c.head_dim, c.rope_theta);
  cos_ = cos.reshape({max_len_, c.head_dim}).contiguous();
  sin_ = sin.reshape({max_len_, c.head_dim}).contiguous();
  // Zeroed, not empty: the padding rows of a batched pre-fill attend over positions past their
  // sequence's length, and garbage there could be NaN (their outputs are never read, but keep
  // the arithmetic finite).
  // Where every forward runs in bf16, the cache is bf16 too (half the memory and the reads, and
  // the attention's products in vdpbf16ps; head sizes a multiple of 32 for its kernels).
  kv16_ = o_.bf16_kv_cache && bf16_min_rows_ == 1 && CpuHasAvx512Bf16() && c.head_dim % 32 == 0;
  const int64_t slots = o_.max_batch, KV = c.num_key_value_heads, D = c.head_dim;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    if (kv16_) {  // CacheLayer's pairs
      k_cache_.push_back(torch::zeros({slots, KV, D / 2, max_len_, 2}, torch::kBFloat16));
      v_cache_.push_back(torch::zeros({slots, KV, (max_len_ + 1) / 2, D, 2}, torch::kBFloat16));
    } else {
      // Keys transposed, (slot, kv head, head_dim, position): decoding's scores vectorise over
      // positions.
      k_cache_.push_back(torch::zeros({slots, KV, D, max_len_}));
      v_cache_.push_back(torch::zeros({slots, KV, max_len_, D}));
    }
  }
  bytes_per_token_ = 2 * c.num_hidden_layers * KV * D * (kv16_ ? 2 : 4);
  prefix_capacity_ = static_cast<int64_t>(std::max(0, o_.prefix_cache_mb)) << 20;
  RefreshWeights();
}

Engine::~Engine() = default;

void Engine::RefreshWeights() {
  torch::NoGradGuard g;
  prefixes_.clear();  // their KV came from the old weights
  prefix_bytes_ = 0;
  auto w = std::make_unique<Weights>();
  auto& m = *model_->model;
  w->embed = m.embed_tokens->weight.detach().to(torch::kFloat32).contiguous();
  w->lm = MakeLinear(model_->LmWeight(), bf16_min_rows_);
  w->norm = m.norm->weight.detach().to(torch::kFloat32);
  for (auto& module : *m.layers) {
    auto* layer = module->as<DecoderLayerImpl>();
    auto& a = *layer->self_attn;
    auto& f = *layer->mlp;
    Weights::Layer L;
    L.in_norm = layer->input_layernorm->weight.detach().to(torch::kFloat32);
    L.post_norm = layer->post_attention_layernorm->weight.detach().to(torch::kFloat32);
    // The attention scale 1/sqrt(head_dim) folded into q's norm weight: one multiply less per step.
    L.q_norm =
        a.q_norm->weight.detach().to(torch::kFloat32) / std::sqrt(static_cast<double>(a.head_dim));
    L.k_norm = a.k_norm->weight.detach().to(torch::kFloat32);
    // q, k and v (gate and up) in one matrix each: one matmul instead of three (two).
    const int m = bf16_min_rows_;
    L.wqkv = MakeLinear(torch::cat({a.q_proj->weight, a.k_proj->weight, a.v_proj->weight}, 0), m);
    L.wo = MakeLinear(a.o_proj->weight, m);
    L.wgu = MakeLinear(torch::cat({f.gate_proj->weight, f.up_proj->weight}, 0), m);
    L.wdown = MakeLinear(f.down_proj->weight, m);
    w->layers.push_back(std::move(L));
  }
  w_ = std::move(w);
}

int Engine::Submit(GenerationRequest r) {
  if (r.prompt.empty()) throw Error("the prompt is empty");
  if (r.cache_prefix < 0 || r.cache_prefix > static_cast<int>(r.prompt.size()))
    throw Error("cache_prefix " + std::to_string(r.cache_prefix) + " is outside the prompt (" +
                std::to_string(r.prompt.size()) + " tokens)");
  for (int t : r.prompt)
    if (t < 0 || t >= model_->config().vocab_size)
      throw Error("prompt token " + std::to_string(t) + " is outside the vocabulary");
  if (static_cast<int>(r.prompt.size()) >= max_len_)
    throw Error("the prompt has " + std::to_string(r.prompt.size()) + " tokens; at most " +
                    std::to_string(max_len_ - 1) + " fit",
                "", "shorten the user context or raise max_len");
  r.sampling.Validate();
  auto s = std::make_unique<Seq>();
  if (r.constraint) {
    if (!grammar_) throw Error("a constrained request needs an engine built with the item catalog");
    // A constrained answer is a whole list or nothing: never one cut short by the context.
    const int answer = grammar_->MaxAnswerTokens(*r.constraint);
    if (static_cast<int>(r.prompt.size()) + answer > max_len_)
      throw Error("the prompt has " + std::to_string(r.prompt.size()) + " tokens and a complete answer of " +
                      std::to_string(r.constraint->num_items) + " songs may need " + std::to_string(answer) +
                      " more; at most " + std::to_string(max_len_) + " fit",
                  "", "shorten the prompt (fewer history events: FitPrompt) or ask for fewer songs");
    s->cons.emplace(*grammar_, *r.constraint);
  }
  s->handle = next_handle_++;
  s->rng = Rng(r.sampling.seed);
  s->stops = r.stop_tokens.empty() ? default_stops_ : r.stop_tokens;
  s->submitted = Clock::now();
  s->pending = r.prompt;
  s->req = std::move(r);
  queue_.push_back(std::move(s));
  return queue_.back()->handle;
}

void Engine::Cancel(int handle) {
  for (auto* v : {&rows_, &queue_})
    for (auto& s : *v)
      if (s->handle == handle) s->cancelled = true;
}

bool Engine::Finished(int handle) const { return done_.count(handle) > 0; }

GenerationResult Engine::Take(int handle) {
  auto it = done_.find(handle);
  if (it == done_.end())
    throw Error("request " + std::to_string(handle) + " is not finished (or was taken)");
  Seq& s = *it->second;
  GenerationResult r;
  r.tokens = std::move(s.generated);
  if (s.cons) r.items = s.cons->items();
  r.finish = s.finish;
  r.prompt_tokens = static_cast<int>(s.req.prompt.size());
  r.cached_prompt_tokens = s.cached;
  r.forward_passes = s.forward_passes;
  r.sampled_tokens = s.sampled;
  r.first_token_s = std::max(0.0, s.first_token_s);
  r.total_s = s.total_s;
  done_.erase(it);
  return r;
}

std::vector<GenerationResult> Engine::Generate(std::vector<GenerationRequest> requests) {
  std::vector<int> handles;
  for (auto& r : requests) handles.push_back(Submit(std::move(r)));
  while (Step()) {
  }
  std::vector<GenerationResult> out;
  for (int h : handles) out.push_back(Take(h));
  return out;
}

torch::Tensor Engine::Forward(const std::vector<int>& slots) {
  const int B = static_cast<int>(slots.size());
  const ModelConfig& c = model_->config();
  const int64_t H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim, g = H / KV;
  const int64_t I = c.intermediate_size;
  int64_t N = 0, T = 0;
  for (int b = 0; b < B; ++b) {
    const Seq& s = *rows_[slots[b]];
    N = std::max<int64_t>(N, s.pending.size());
    T = std::max<int64_t>(T, s.cache_len + s.pending.size());
  }
  // Rows are padded to N new tokens; a padding token (wpos -1) is not written to the cache and
  // its output is never read.
  std::vector<int64_t> ids(B * N, 0), pos(B * N, 0), wpos(B * N, -1), rowidx(B * N), last(B),
      start(B);
  for (int b = 0; b < B; ++b) {
    const Seq& s = *rows_[slots[b]];
    const int64_t L = s.cache_len, n = s.pending.size();
    for (int64_t i = 0; i < N; ++i) {
      const int64_t k = b * N + i;
      rowidx[k] = slots[b];
      ids[k] = i < n ? s.pending[i] : 0;
      pos[k] = std::min<int64_t>(L + i, max_len_ - 1);
      if (i < n) wpos[k] = L + i;
    }
    last[b] = b * N + n - 1;
    start[b] = L;
  }
  const bool bf16 = Bf16For(B * N);
  auto i64 = [](std::vector<int64_t>& v) {
    return torch::from_blob(v.data(), {static_cast<int64_t>(v.size())}, torch::kInt64);
  };
  const auto ids_t = i64(ids), last_t = i64(last);
  const double eps = c.rms_norm_eps;
  // Sequences that share a prefix (same prefix-cache entry) long enough to be worth reading once.
  std::vector<SharedPrefix> shared;
  {
    std::map<uint64_t, SharedPrefix> by_id;
    for (int b = 0; b < B; ++b) {
      const Seq& s = *rows_[slots[b]];
      if (s.share_id == 0 || s.share_len < kMinSharedPrefix) continue;
      auto& grp = by_id[s.share_id];
      grp.len = s.share_len;
      grp.members.push_back(b);
    }
    for (auto& [id, grp] : by_id)
      if (grp.members.size() > 1) shared.push_back(std::move(grp));
    shared_prefix_forwards_ += !shared.empty();
  }

  auto x = w_->embed.index_select(0, ids_t);  // (B*N, C)
  for (size_t l = 0; l < w_->layers.size(); ++l) {
    const auto& L = w_->layers[l];
    auto qkv = Linear(Rms(x, L.in_norm, eps), L.wqkv, bf16).contiguous();
    auto [q_flat, k] = QkNormRope(qkv, L.q_norm, L.k_norm, cos_, sin_, pos, H, KV, D, eps);
    const auto q = q_flat.view({B, N, H, D});
    CacheLayer cache;
    cache.ld = max_len_;
    {
      // The new keys (transposed) and values into the cache; padding tokens are not written.
      const int64_t ld = max_len_, qkv_ld = qkv.size(1);
      const float* kp = k.data_ptr<float>();
      const float* vp = qkv.data_ptr<float>() + (H + KV) * D;
      if (kv16_) {
        // bf16 pairs (CacheLayer): a key's dimensions d, d + 1 share a 32-bit pair, a value's
        // position shares one with its even or odd neighbour.
        auto* kc = reinterpret_cast<uint16_t*>(k_cache_[l].data_ptr<at::BFloat16>());
        auto* vc = reinterpret_cast<uint16_t*>(v_cache_[l].data_ptr<at::BFloat16>());
        const int64_t ld2 = (ld + 1) / 2;
        for (int64_t t = 0; t < B * N; ++t) {
          const int64_t p = wpos[t];
          if (p < 0) continue;
          for (int64_t h = 0; h < KV; ++h) {
            const int64_t block = rowidx[t] * KV + h;
            const float* kt = kp + (t * KV + h) * D;
            const float* vt = vp + t * qkv_ld + h * D;
            for (int64_t d = 0; d < D; ++d) {
              kc[((block * (D / 2) + d / 2) * ld + p) * 2 + (d & 1)] =
                  static_cast<uint16_t>(Bf16Bits(kt[d]));
              vc[((block * ld2 + p / 2) * D + d) * 2 + (p & 1)] =
                  static_cast<uint16_t>(Bf16Bits(vt[d]));
            }
          }
        }
        cache.k2 = reinterpret_cast<const uint32_t*>(kc);
        cache.v2 = reinterpret_cast<const uint32_t*>(vc);
      } else {
        float* kc = k_cache_[l].data_ptr<float>();
        float* vc = v_cache_[l].data_ptr<float>();
        for (int64_t t = 0; t < B * N; ++t) {
          if (wpos[t] < 0) continue;
          for (int64_t h = 0; h < KV; ++h) {
            const int64_t block = rowidx[t] * KV + h;
            for (int64_t d = 0; d < D; ++d)
              kc[(block * D + d) * ld + wpos[t]] = kp[(t * KV + h) * D + d];
            std::copy_n(vp + t * qkv_ld + h * D, D, vc + (block * ld + wpos[t]) * D);
          }
        }
        cache.k = kc, cache.v = vc;
      }
    }
    if (l + 1 == w_->layers.size() && N > 1) {
      // The last layer of a pre-fill: only each row's last position reaches the logits, so its
      // attention, output projection and MLP run on those B rows alone (the keys and values of
      // every position are in the cache already). About a fifth of a long pre-fill's work.
      const auto ql = q_flat.index_select(0, last_t).contiguous();  // (B, H*D), head order
      std::vector<int64_t> limit(B * g);
      for (int b = 0; b < B; ++b)  // the last position L + n - 1 sees [0, L + n)
        std::fill_n(limit.begin() + b * g, g, std::min(T, last[b] - b * N + 1 + start[b]));
      auto mixed = torch::empty({B, KV, g, D});
      AttendOverCache(ql.data_ptr<float>(), g, limit, slots, shared, KV, D, T, cache,
                      mixed.data_ptr<float>());
      const bool bf16_last = Bf16For(B);
      auto xl = x.index_select(0, last_t);
      LinearInto(mixed.view({B, H * D}), L.wo, bf16_last, xl, true);
      LinearInto(SwiGlu(Linear(Rms(xl, L.post_norm, eps), L.wgu, bf16_last), I), L.wdown, bf16_last,
                 xl, true);
      return Linear(Rms(xl, w_->norm, eps), w_->lm, bf16_last).contiguous();  // (B, V)
    }
    // Attention over the cache (this forward's keys and values are in it already), fused per
    // (sequence, KV head): the g query heads of one KV head are stacked along the query axis
    // (head h uses KV head h / g, as repeat_interleave would), row (head j, token i) seeing the
    // positions up to its own. This replaced torch matmuls over causal blocks with an additive
    // mask (bf16 scores converted to fp32 for the softmax and back): a pre-fill's attention took
    // 7.2 ms of 20, now 5.4 (bench/README.md, generation).
    const int64_t R = g * N;
    auto qg = q.view({B, N, KV, g, D}).permute({0, 2, 3, 1, 4}).reshape({B, KV, R, D}).contiguous();
    std::vector<int64_t> limit(B * R);
    for (int b = 0; b < B; ++b)
      for (int64_t j = 0; j < g; ++j)
        for (int64_t i = 0; i < N; ++i) limit[b * R + j * N + i] = std::min(T, start[b] + i + 1);
    auto mixed = torch::empty({B, KV, R, D});
    AttendOverCache(qg.data_ptr<float>(), R, limit, slots, shared, KV, D, T, cache,
                    mixed.data_ptr<float>());
    auto att = mixed.view({B, KV, g, N, D}).permute({0, 3, 1, 2, 4}).reshape({B * N, H * D});
    LinearInto(att, L.wo, bf16, x, true);
    LinearInto(SwiGlu(Linear(Rms(x, L.post_norm, eps), L.wgu, bf16), I), L.wdown, bf16, x, true);
  }
  auto h = Rms(x.index_select(0, last_t), w_->norm, eps);  // only each row's last position
  return Linear(h, w_->lm, Bf16For(B)).contiguous();       // (B, V)
}

void Engine::Append(Seq& s, int token) {
  if (s.cons) s.cons->Advance(token);
  s.generated.push_back(token);
  s.pending.push_back(token);
  s.stream_tokens.push_back(token);
  if (s.first_token_s < 0) s.first_token_s = Since(s.submitted);
  if (std::find(s.stops.begin(), s.stops.end(), token) != s.stops.end() ||
      (s.cons && s.cons->Done())) {
    s.finished = true, s.finish = FinishReason::kStop;
  } else if (static_cast<int>(s.generated.size()) >= s.req.sampling.max_new_tokens ||
             s.cache_len + static_cast<int>(s.pending.size()) >= max_len_) {
    s.finished = true, s.finish = FinishReason::kLength;
  }
}

void Engine::Advance(int row, float* logits) {
  Seq& s = *rows_[row];
  s.cache_len += static_cast<int>(s.pending.size());
  s.pending.clear();
  ++s.forward_passes;
  if (s.cancelled) {
    s.finished = true, s.finish = FinishReason::kCancelled;
    return;
  }
  // Rows past the tokenizer (the padding rows real Qwen3 checkpoints have: 151,936 rows for
  // 151,669 tokens) are never candidates: no text could be written for them.
  std::span<float> l(logits, static_cast<size_t>(std::min<int64_t>(model_->config().vocab_size, tok_.vocab_size())));
  if (s.req.logits_hook) s.req.logits_hook(l, s.generated);
  const std::span<const int> allowed = s.cons ? s.cons->Allowed() : std::span<const int>();
  Append(s, SampleToken(l, allowed, s.req.sampling, s.rng, &scratch_));
  ++s.sampled;
  while (!s.finished && s.cons && s.req.one_pass_continuation) {
    const auto a = s.cons->Allowed();
    if (a.size() != 1) break;
    Append(s, a[0]);
  }
  if (s.req.on_tokens) {
    s.stream_bytes += tok_.Decode(s.stream_tokens);
    const size_t n = s.finished ? s.stream_bytes.size() : CompleteUtf8Prefix(s.stream_bytes);
    s.req.on_tokens(s.stream_tokens, std::string_view(s.stream_bytes).substr(0, n));
    s.stream_bytes.erase(0, n);
  }
  s.stream_tokens.clear();
}

void Engine::Finish(int row, FinishReason why) {
  auto s = std::move(rows_[row]);
  s->finished = true;
  s->finish = why;
  s->total_s = Since(s->submitted);
  const int last = static_cast<int>(rows_.size()) - 1;
  if (row != last) {
    // Keep the running rows contiguous: the last one moves into the freed slot.
    const int64_t len = rows_[last]->cache_len;
    for (auto& t : k_cache_) t[row].narrow(2, 0, len).copy_(t[last].narrow(2, 0, len));
    const int64_t vlen = ValueRows(len);
    for (auto& t : v_cache_) t[row].narrow(1, 0, vlen).copy_(t[last].narrow(1, 0, vlen));
    rows_[row] = std::move(rows_[last]);
  }
  rows_.pop_back();
  done_.emplace(s->handle, std::move(s));
}

int Engine::FindPrefix(const std::vector<int>& prompt) const {
  int best = -1;
  size_t best_len = 0;
  for (size_t i = 0; i < prefixes_.size(); ++i) {
    const auto& t = prefixes_[i].tokens;
    // A proper prefix: at least one prompt token is left to pre-fill (it gives the logits).
    if (t.size() > best_len && t.size() < prompt.size() &&
        std::equal(t.begin(), t.end(), prompt.begin()))
      best = static_cast<int>(i), best_len = t.size();
  }
  return best;
}

uint64_t Engine::SavePrefix(int row, int len) {
  const int64_t bytes = len * bytes_per_token_;
  if (len <= 0 || bytes > prefix_capacity_) return 0;
  const auto& prompt = rows_[row]->req.prompt;
  for (const auto& p : prefixes_)
    if (static_cast<int>(p.tokens.size()) == len &&
        std::equal(p.tokens.begin(), p.tokens.end(), prompt.begin()))
      return 0;
  while (prefix_bytes_ + bytes > prefix_capacity_) {  // least recently used out
    auto lru = std::min_element(prefixes_.begin(), prefixes_.end(),
                                [](const Prefix& a, const Prefix& b) { return a.used < b.used; });
    prefix_bytes_ -= static_cast<int64_t>(lru->tokens.size()) * bytes_per_token_;
    prefixes_.erase(lru);
  }
  Prefix p;
  p.tokens.assign(prompt.begin(), prompt.begin() + len);
  for (size_t l = 0; l < k_cache_.size(); ++l) {
    p.k.push_back(k_cache_[l][row].narrow(2, 0, len).clone());
    p.v.push_back(v_cache_[l][row].narrow(1, 0, ValueRows(len)).clone());
  }
  p.used = ++clock_;
  p.id = ++prefix_ids_;
  prefix_bytes_ += bytes;
  prefixes_.push_back(std::move(p));
  return prefix_ids_;
}

bool Engine::Step() {
  c10::InferenceMode guard;
  // Cancelled requests that never started end here.
  for (size_t i = 0; i < queue_.size();) {
    if (queue_[i]->cancelled) {
      auto s = std::move(queue_[i]);
      queue_.erase(queue_.begin() + i);
      s->finish = FinishReason::kCancelled;
      s->total_s = Since(s->submitted);
      done_.emplace(s->handle, std::move(s));
    } else {
      ++i;
    }
  }
  if (rows_.empty() && queue_.empty()) return false;
  const int running = static_cast<int>(rows_.size());
  // Admit queued requests into free slots, starting each from its longest cached prefix. A
  // request whose prompt starts with a longer prefix that one admitted now will store waits a
  // step, so a group with one context (GRPO rollouts, n answers) is pre-filled once.
  std::vector<std::vector<int>> storing;
  for (size_t i = 0; i < queue_.size() && static_cast<int>(rows_.size()) < o_.max_batch;) {
    const std::vector<int>& prompt = queue_[i]->req.prompt;
    const int hit = FindPrefix(prompt);
    const size_t hit_len = hit >= 0 ? prefixes_[hit].tokens.size() : 0;
    bool wait = false;
    for (const auto& p : storing)
      wait |= p.size() > hit_len && p.size() < prompt.size() &&
              std::equal(p.begin(), p.end(), prompt.begin());
    if (wait) {
      ++i;
      continue;
    }
    auto s = std::move(queue_[i]);
    queue_.erase(queue_.begin() + i);
    const int slot = static_cast<int>(rows_.size());
    if (hit >= 0) {
      Prefix& p = prefixes_[hit];
      for (size_t l = 0; l < k_cache_.size(); ++l) {
        k_cache_[l][slot].narrow(2, 0, hit_len).copy_(p.k[l]);
        v_cache_[l][slot].narrow(1, 0, ValueRows(hit_len)).copy_(p.v[l]);
      }
      p.used = ++clock_;
      s->share_id = p.id, s->share_len = static_cast<int>(hit_len);
      s->cache_len = s->cached = static_cast<int>(hit_len);
      s->pending.assign(prompt.begin() + hit_len, prompt.end());
    }
    const int keep = s->req.cache_prefix;
    if (keep > static_cast<int>(hit_len) && keep < static_cast<int>(prompt.size()) &&
        keep * bytes_per_token_ <= prefix_capacity_)
      storing.emplace_back(prompt.begin(), prompt.begin() + keep);
    rows_.push_back(std::move(s));
  }
  const int V = model_->config().vocab_size;
  // Pre-fill the admitted requests in one forward (their first token comes out of it), then
  // decode the running ones in another: mixing them would pad every short decode row to the
  // longest prompt.
  auto run = [&](const std::vector<int>& slots) {
    if (slots.empty()) return;
    torch::Tensor logits = Forward(slots);
    for (size_t b = 0; b < slots.size(); ++b)
      Advance(slots[b], logits.data_ptr<float>() + static_cast<int64_t>(b) * V);
  };
  std::vector<int> admitted;
  for (int row = running; row < static_cast<int>(rows_.size()); ++row) admitted.push_back(row);
  run(admitted);
  for (int row = running; row < static_cast<int>(rows_.size()); ++row) {
    const int keep = rows_[row]->req.cache_prefix;
    if (keep > rows_[row]->cached) {
      const uint64_t id = SavePrefix(row, keep);
      if (id != 0) rows_[row]->share_id = id, rows_[row]->share_len = keep;  // the entry's source
    }
  }
  // Decode: a forward pads every row to the most pending tokens, so rows that feed one token
  // (sampled) and rows that feed a forced continuation (the rest of a title: several tokens)
  // go in separate forwards; padding all to the longest made a batch step cost as much as
  // decoding its rows one by one (constrained answers, measured in bench/README.md).
  std::vector<int> single, multi;
  for (int row = 0; row < running; ++row)
    (rows_[row]->pending.size() <= 1 ? single : multi).push_back(row);
  run(single);
  run(multi);
  for (int row = static_cast<int>(rows_.size()) - 1; row >= 0; --row)
    if (rows_[row]->finished) Finish(row, rows_[row]->finish);
  return true;
}

}  // namespace muchator
