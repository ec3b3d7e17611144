// Attention kernels (infer/attention.h).
#include "infer/attention.h"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/vec_math.h"
#include "infer/simd.h"

namespace muchator::kernels {

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

namespace {

// (-Wpsabi: F8, Load8 and Store8 (infer/simd.h) are always inlined, so no vector crosses a call
// in the default clone.)
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
// block spans two query heads of a pre-fill (one block per head). Keys are stored transposed (Kt: D
// rows of `ldk` floats), so the scores vectorise over keys without horizontal sums; V rows are D
// floats. Rows go four at a time, so each key and value vector read serves four rows (eight spilled
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

}  // namespace

// DecodeAttention for every (sequence, KV head) of a forward, in parallel: R query rows per
// pair in q and out ((B, KV, R, D)), row r of sequence b seeing limit[b * R + r] cached positions
// of the slot slots[b] in one layer's caches (`ld` positions per (slot, head); keys transposed).
// The members of each of `shared` attend over their common prefix together (from the first member's
// slot), then over their own positions, and the two parts are merged.
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

}  // namespace muchator::kernels
