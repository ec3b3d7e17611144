// Labelled (query, song) pairs for the relevance judge and its fine-tuning and evaluation.
//
// Labels: training pairs always come from the store, as a platform's own data would - queries of
// the `sft` split with `relevant` song lists (the songs their listeners liked; positives) and
// sampled negatives (hard: a genre shared with a positive; random), never from an oracle; the
// `rl` split's queries, labelled the same way, are the threshold's calibration pairs. Held
// out:
//   - with a synthetic world's oracle (measurement only): the `test` split, whose surface forms the
//     judge never saw, and (separately) the `rl` split: unseen queries and users, surface forms of
//     the training kind, both labelled by the oracle (positives = relevant songs; hard negatives =
//     songs sharing a genre with a positive that are not relevant). Training queries that contain
//     a test-only form are dropped (a guard; the world keeps them apart by construction);
//   - without an oracle: queries of the `test` split with `relevant` lists.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "retrieval/dense.h"
#include "reward/judge.h"
#include "train/trainer.h"

namespace muchator {

namespace world {
class Oracle;
}

struct JudgePair {
  std::string query, song;  // query text, song id
  bool relevant = false;
  bool hard = false;  // a hard negative
};

struct JudgeLabelOptions {
  int positives = 3, hard_negatives = 3, random_negatives = 2;  // per query
  int64_t max_train = 4000, max_heldout = 2000;                 // pairs
  uint64_t seed = 1;
  // Read the training queries' search logs into JudgeLabels::played (only a judge with a
  // played-contrast term needs them; a log it does not read cannot stop the others).
  bool played = false;
};

struct JudgeLabels {
  std::vector<JudgePair> train;
  std::vector<JudgePair> heldout;  // test-split queries: unseen queries with unseen surface forms
  std::vector<JudgePair>
      heldout_seen;  // rl-split queries (with an oracle): unseen queries, training forms
  // Pairs of the rl-split queries, labelled from the store as training pairs are (their
  // listeners' liked songs): the threshold is set on them. Neither the instruction-tuned model nor
  // the prf judge's song space trained on these requests, so their songs score as a new request's
  // do (a training request's liked songs are ones the model was tuned to name, and score higher).
  // Empty: the threshold is set on training pairs.
  std::vector<JudgePair> calibration;
  int64_t dropped_queries = 0;  // training queries containing a test-only form
  // Every training query with its relevant songs (all of them; `train` samples a few per query).
  std::vector<std::pair<std::string, std::vector<std::string>>> train_queries;
  // Every song the training queries' listeners played, liked or finished against skipped or
  // disliked (their `extra.played`; reward/played_terms.h); with JudgeLabelOptions::played only.
  std::vector<PlayedExample> played;
};
JudgeLabels MakeJudgeLabels(Store& store, const world::Oracle* oracle, const JudgeLabelOptions& o);

struct JudgeTrainOptions {
  JudgeLabelOptions labels;
  TrainOptions train = [] {  // steps, lr, batch, seq_len, ...
    TrainOptions t;
    t.steps = 300;
    t.eval_every = t.ckpt_every = t.steps;
    return t;
  }();
  std::string init;       // checkpoint to start from ("" = a fresh model of model_size)
  std::string tokenizer;  // tokenizer.json for a fresh model (ignored with init)
  std::string model_size = "tiny";
  // With init: keep only its first `layers` decoder layers (0 = all). The judge's cost per pair
  // is proportional to its depth; the lower layers carry most of the token-level knowledge.
  int64_t layers = 0;
  // R_rel = P(relevant) >= threshold. 0 = calibrate: the threshold maximising F1 on (up to 1,000)
  // calibration pairs (JudgeLabels::calibration, else training pairs; a small fine-tuned judge is
  // rarely calibrated at 0.5).
  double threshold = 0;
};

// The threshold maximising F1 of `prob` against `relevant` (0.5 when there are no positives).
double BestF1Threshold(const std::vector<float>& prob, const std::vector<bool>& relevant);

// A judge on labelled pairs: accuracy, precision, recall and F1 at its threshold, and the AUC of
// P(relevant), against every negative and against the hard ones alone.
struct JudgeScores {
  size_t pairs = 0;
  int64_t positives = 0;
  double accuracy = 0, precision = 0, recall = 0, f1 = 0, auc = 0, auc_vs_hard_negatives = 0;
};
nlohmann::json ToJson(const JudgeScores& s);
JudgeScores JudgeMetrics(Judge& judge, const std::vector<JudgePair>& pairs);

// A judge's report (judge.json's "report", what TrainJudge and BuildGenerativeJudge return): the
// figures every kind has, typed, and what one kind adds (label counts, the checkpoint, the song
// space's training) in `details`, as written.
struct JudgeReport {
  std::optional<std::string> kind;  // "pmi", "prf"; none for the fine-tuned yes/no judge
  size_t train_pairs = 0;
  double threshold = 0;
  // How the threshold was calibrated, when it was: on how many pairs, and which ones.
  std::optional<size_t> threshold_calibration_pairs;
  std::optional<std::string> threshold_set_on;
  std::optional<double> final_train_loss;  // the fine-tuned judge's
  // Held-out pairs (with an oracle: the test split's), and unseen requests of the training
  // forms (the rl split's).
  std::optional<JudgeScores> heldout, heldout_seen_forms;
  nlohmann::json details = nlohmann::json::object();
};
// The report's JSON: `details` with the typed fields under their names.
nlohmann::json ToJson(const JudgeReport& r);

struct GenerativeJudgeOptions {
  int prior_requests = 256;  // distinct training requests the prior averages over
  // The "prf" judge's song space (reward/judge.h); feedback_songs 0 = the "pmi" judge.
  int feedback_songs = 40;
  double pmi_weight = 0.1;
  // JudgeSongSpace's; chosen on seeds 1-3 (docs/reward.md, 2026-12-06): centring lifts held-out
  // accuracy, the query tower the judge's AUC on the songs the policy lists.
  double query_weight = 0.5;
  double center_weight = 1.0;
  // JudgeSongSpace's played-contrast term and its fit (0: none; also none without played logs).
  // Chosen on seeds 1-3 (docs/reward.md, 2026-12-06): the few strong crosses (weight >= 0.5) at
  // full weight keep the judge's held-out accuracy and let GRPO keep the requests' exclusions.
  double played_weight = 1.0;
  PlayedTermOptions played = [] {
    PlayedTermOptions p;
    p.min_weight = 0.5;
    return p;
  }();
  // The ranking model (a `muchator train-ranker` directory) whose view of each play gives the
  // played-contrast fit its offset (PlayedExample::offset); "" = none.
  std::string ranker{};
  DenseOptions dense{};
  // More (request, fitting song) pairs for the song space, e.g. the UQ2I triplets'.
  std::vector<DensePair> extra_pairs{};
};

// The generative judge (reward/judge.h, kind "prf", or "pmi" without feedback songs) of the
// instruction-tuned checkpoint `sft_dir` into `out_dir`: the checkpoint is copied to
// out_dir/lm/final, the prior is the mean first-song log-probability over (up to
// `prior_requests`) distinct training-pair requests; for "prf" a dense retriever is trained on
// the training queries' relevant songs and `extra_pairs`, and its song vectors saved. The
// threshold is the F1-best on (up to 1,000) pairs of requests neither the checkpoint nor the song
// space trained on, as held-out ones will be: JudgeLabels::calibration (the rl requests' logged
// likes); without them, for "prf", training pairs of a fifth of the training requests scored by a
// song space trained without them (cross-fitting), for "pmi" training pairs. Then the held-out
// metrics as for the fine-tuned judge. Returns the report (also in judge.json).
JudgeReport BuildGenerativeJudge(Store& store, const world::Oracle* oracle,
                                 const std::string& sft_dir, const JudgeLabelOptions& labels,
                                 const std::string& out_dir, const GenerativeJudgeOptions& o = {});

// Labels, fine-tunes and evaluates a judge into `out_dir`; returns the report (also in
// judge.json): label counts, training loss, held-out metrics.
JudgeReport TrainJudge(Store& store, const world::Oracle* oracle, const JudgeTrainOptions& o,
                       const std::string& out_dir);

}  // namespace muchator
