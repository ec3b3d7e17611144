// The engine's prefix cache: the KV of prompt prefixes that requests asked to keep (a listener's
// context, a conversation so far), reused by later requests that start with the same tokens,
// least recently used dropped first, bounded in bytes. The engine copies a hit's keys and values
// into a sequence's cache slot; this class only stores, finds and evicts.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <span>
#include <vector>

namespace muchator {

// One stored prefix: its tokens and, per layer, a cache slot's keys and values cut to its
// positions (the engine's k_cache_ / v_cache_ layouts).
struct PrefixEntry {
  std::vector<int> tokens;
  std::vector<torch::Tensor> k, v;
  uint64_t used = 0;  // the cache's clock at insertion or the last Touch (LRU order)
  uint64_t id = 0;    // unique, never reused (sequences copied from one entry share it)
};

class PrefixCache {
 public:
  // Holds at most `capacity_bytes`, an entry of n tokens counting n x `bytes_per_token`.
  PrefixCache(int64_t capacity_bytes, int64_t bytes_per_token);
  // The entry whose tokens are the longest proper prefix of `prompt` (at least one prompt token
  // is left to pre-fill: it gives the logits), or nullptr. Valid until the next Insert or Clear.
  PrefixEntry* Find(std::span<const int> prompt);
  // Whether an entry of `len` tokens (> 0) fits in the capacity at all.
  bool Fits(int64_t len) const { return len > 0 && len * per_token_ <= capacity_; }
  // Whether the first `len` tokens of `prompt` are stored already.
  bool Contains(std::span<const int> prompt, int64_t len) const;
  // Stores an entry (Fits(tokens.size()) must hold), dropping least recently used ones until it
  // fits; returns its id.
  uint64_t Insert(std::vector<int> tokens, std::vector<torch::Tensor> k,
                  std::vector<torch::Tensor> v);
  // Marks `e` as just used.
  void Touch(PrefixEntry& e) { e.used = ++clock_; }
  // Drops every entry (after the weights change, their KV is stale). Ids keep counting.
  void Clear();
  int entries() const { return static_cast<int>(entries_.size()); }
  int64_t bytes() const { return bytes_; }

 private:
  std::vector<PrefixEntry> entries_;
  int64_t bytes_ = 0, capacity_ = 0, per_token_ = 0;
  uint64_t clock_ = 0, ids_ = 0;
};

}  // namespace muchator
