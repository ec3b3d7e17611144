#include "eval/rerank.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "core/error.h"

namespace muchator {

std::vector<int> RerankPool(std::span<const float> score, std::span<const int> artist, int keep,
                            double model_weight) {
  if (score.size() != artist.size())
    throw Error("RerankPool: " + std::to_string(score.size()) + " scores for " +
                std::to_string(artist.size()) + " pool songs");
  const size_t n = score.size();
  std::vector<double> fused(n);
  for (size_t j = 0; j < n; ++j)
    fused[j] = score[j] - model_weight * std::log2(1.0 + static_cast<double>(j));
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return fused[a] > fused[b]; });
  // One song per artist while the pool allows (the ranking model alone would pick several songs
  // of the listener's favourite artist), then the best of the rest.
  std::vector<int> kept;
  std::vector<char> taken(n, 0);
  std::unordered_set<int> artists;
  for (size_t j = 0; j < n && static_cast<int>(kept.size()) < keep; ++j) {
    const int a = artist[order[j]];
    if (a >= 0 && !artists.insert(a).second) continue;
    kept.push_back(order[j]), taken[j] = 1;
  }
  for (size_t j = 0; j < n && static_cast<int>(kept.size()) < keep; ++j)
    if (!taken[j]) kept.push_back(order[j]);
  return kept;
}

}  // namespace muchator
