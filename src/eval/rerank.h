// The reranked answer (docs/metrics.md, "reranked"): the model lists a pool of catalog songs in
// its own order; the ranking model scores them for the listener and state; the answer is the
// pool ordered by both, cut to the list size. Shared by the evaluation and the server, so the
// served list is the evaluated one.
#pragma once

#include <span>
#include <vector>

namespace muchator {

// Positions in the pool (0-based, best first) of the answer: the pool is ordered by
// score[j] - model_weight * log2(1 + j) (score: the ranking model's 0-10 for pool song j; ties
// keep the model's order), then the first `keep` are taken with at most one song per artist
// (artist[j] < 0: no artist, never capped), and if the pool runs out of artists, the best of the
// rest. model_weight 0 = the ranking model alone; a large weight = the model's own order.
std::vector<int> RerankPool(std::span<const float> score, std::span<const int> artist, int keep,
                            double model_weight);

}  // namespace muchator
