// Training and held-out evaluation of the ranking model (reward/ranker.h) on the store's
// behaviour log with a time-based split: events before the cutoff train, later ones evaluate.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

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

// The ranking model's held-out metrics (docs/reward.md), and how it was trained.
struct RankerReport {
  size_t heldout_events = 0;
  double heldout_loss = 0;
  std::map<std::string, double> auc;  // per objective (like, finish, skip, dislike), one vs rest
  double like_vs_skip_auc = 0;        // of the score, on held-out likes and skips
  // With an oracle: its own like-vs-skip AUC on the same events, and the Spearman correlation of
  // the score with its utility on random candidates, the mean over held-out contexts (NaN when
  // none counted; JSON null), pooled, and how many contexts counted.
  struct Oracle {
    double like_vs_skip_auc = 0, spearman = 0, spearman_pooled = 0;
    int spearman_contexts = 0;
  };
  std::optional<Oracle> oracle;
  // From TrainRanker only (EvaluateRanker leaves them unset): each epoch's mean train loss,
  // the training events, the held-out cutoff and the events skipped for having no timestamp.
  struct Training {
    std::vector<double> epoch_train_loss;
    size_t train_events = 0;
    int64_t cutoff_ts = 0, unordered_events_skipped = 0;
  };
  std::optional<Training> training;
};
// ranker_report.json (and ranker.json's "report"): the fields' names, "auc" by objective,
// "epochs": [{"epoch": 1, "train_loss": ...}].
nlohmann::json ToJson(const RankerReport& r);

// Trains a ranker on `store`; `report` (may be null) receives its held-out metrics.
Ranker TrainRanker(Store& store, const RankerTrainOptions& o, const world::Oracle* oracle,
                   RankerReport* report);

// The held-out metrics of a trained ranker on `data` (events at or after data.cutoff_ts).
RankerReport EvaluateRanker(Ranker& ranker, const RankerData& data, const RankerTrainOptions& o,
                            const world::Oracle* oracle);

}  // namespace muchator
