// The engine's linear layers (infer/linear.h).
#include "infer/linear.h"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "core/cpu.h"
#include "core/error.h"
#include "core/vec_math.h"
#include "infer/simd.h"

namespace muchator::kernels {
namespace {

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

}  // namespace

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

}  // namespace muchator::kernels
