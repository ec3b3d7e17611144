// Attention over the engine's KV cache while decoding and pre-filling: fused scores, softmax and
// weighted values per (sequence, KV head), fp32 or over a bf16 cache, with sequences that share a
// cached prompt prefix reading it once. See attention.cc for the measurements behind the design.
#pragma once

#include <cstdint>
#include <vector>

namespace muchator::kernels {

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

// DecodeAttention for every (sequence, KV head) of a forward, in parallel: R query rows per
// pair in q and out ((B, KV, R, D)), row r of sequence b seeing limit[b * R + r] cached positions
// of the slot slots[b] in one layer's caches (`ld` positions per (slot, head); keys transposed).
// The members of each of `shared` attend over their common prefix together (from the first member's
// slot), then over their own positions, and the two parts are merged.
void AttendOverCache(const float* q, int64_t R, const std::vector<int64_t>& limit,
                     const std::vector<int>& slots, const std::vector<SharedPrefix>& shared,
                     int64_t KV, int64_t D, int64_t T, const CacheLayer& cache, float* out);

// out = the attention over the keys of both parts: rows (a, a_max, a_sum) and (b, ...) are
// unnormalised outputs over disjoint key ranges with their softmax statistics.
void MergeParts(const float* a, float a_max, float a_sum, const float* b, float b_max, float b_sum,
                int64_t D, float* out);

}  // namespace muchator::kernels
