// The engine's prefix cache (infer/prefix_cache.h).
#include "infer/prefix_cache.h"

#include <algorithm>

#include "core/error.h"

namespace muchator {

PrefixCache::PrefixCache(int64_t capacity_bytes, int64_t bytes_per_token)
    : capacity_(std::max<int64_t>(0, capacity_bytes)), per_token_(bytes_per_token) {}

PrefixEntry* PrefixCache::Find(std::span<const int> prompt) {
  PrefixEntry* best = nullptr;
  for (auto& e : entries_)
    if (e.tokens.size() < prompt.size() && (!best || e.tokens.size() > best->tokens.size()) &&
        std::equal(e.tokens.begin(), e.tokens.end(), prompt.begin()))
      best = &e;
  return best;
}

bool PrefixCache::Contains(std::span<const int> prompt, int64_t len) const {
  for (const auto& e : entries_)
    if (static_cast<int64_t>(e.tokens.size()) == len &&
        std::equal(e.tokens.begin(), e.tokens.end(), prompt.begin()))
      return true;
  return false;
}

uint64_t PrefixCache::Insert(std::vector<int> tokens, std::vector<torch::Tensor> k,
                             std::vector<torch::Tensor> v) {
  const int64_t bytes = static_cast<int64_t>(tokens.size()) * per_token_;
  if (!Fits(static_cast<int64_t>(tokens.size())))
    throw Error("internal: a prefix of " + std::to_string(tokens.size()) +
                " tokens does not fit the prefix cache");
  while (bytes_ + bytes > capacity_) {  // least recently used out
    auto lru = std::min_element(entries_.begin(), entries_.end(),
                                [](const auto& a, const auto& b) { return a.used < b.used; });
    bytes_ -= static_cast<int64_t>(lru->tokens.size()) * per_token_;
    entries_.erase(lru);
  }
  PrefixEntry e;
  e.tokens = std::move(tokens);
  e.k = std::move(k);
  e.v = std::move(v);
  e.used = ++clock_;
  e.id = ++ids_;
  bytes_ += bytes;
  entries_.push_back(std::move(e));
  return ids_;
}

void PrefixCache::Clear() {
  entries_.clear();
  bytes_ = 0;
}

}  // namespace muchator
