// Training and held-out evaluation of the ranking model (reward/ranker.h) on the store's
// behaviour log with a time-based split: events before the cutoff train, later ones evaluate.
#pragma once

#include <nlohmann/json.hpp>

#include "dist/dist.h"
#include "reward/ranker.h"

namespace muchator {

class Store;
namespace world {
class Oracle;
}

// Examples' worth of passes when RankerTrainOptions::epochs is 0.
inline constexpr int64_t kRankerAutoExamples = 1600000;

struct RankerTrainOptions {
  RankerConfig model;
  // 0 = about 1.6M examples' worth, between 2 and 12 passes (8 on the demo world: with the
  // narrow song id embedding more passes no longer overfit; 4 -> 8 gave +0.007 AUC on seed 1).
  int64_t epochs = 0;
  int64_t batch = 512;
  // Weight decay 1.0 (was 0.3): held-out like-vs-skip AUC +0.005 on world seeds 1-3 (0.869 ->
  // 0.874, 0.879 -> 0.884, 0.871 -> 0.877; docs/reward.md), the id embeddings overfit less.
  double lr = 3e-3, weight_decay = 1.0;
  double holdout = 0.1;  // the last share of the log's events (by time) held out
  uint64_t seed = 1;
  int64_t eval_contexts = 500;   // held-out contexts for the oracle rank correlation
  int64_t eval_candidates = 20;  // random catalog songs scored in each of them
  // Data-parallel (dist/dist.h): `batch` is the global batch; each rank trains its slice of every
  // batch, gradients are summed (each rank's mean loss weighted by its share of the rows), rank
  // 0's initial weights are broadcast. Every rank returns the same trained ranker. Null = one
  // process.
  std::shared_ptr<dist::Group> group;
};

// Trains a ranker on `store`; `report` receives the held-out metrics (docs/reward.md): loss,
// AUC per objective (one vs rest), like-vs-skip AUC of the score, and with an oracle the
// oracle's own like-vs-skip AUC on the same events and the Spearman correlation of the score
// with the oracle's utility on random candidates.
Ranker TrainRanker(Store& store, const RankerTrainOptions& o, const world::Oracle* oracle,
                   nlohmann::json* report);

// The held-out metrics of a trained ranker on `data` (events at or after data.cutoff_ts).
nlohmann::json EvaluateRanker(Ranker& ranker, const RankerData& data, const RankerTrainOptions& o,
                              const world::Oracle* oracle);

}  // namespace muchator
