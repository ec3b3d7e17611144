// The pipeline's GRPO step (and `muchator grpo`): GRPO from the SFT model (rl/grpo.h), then the
// starting and the aligned checkpoints evaluated on held-out RL requests (eval/offline.h), with
// the reward-hacking alarm.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/options.h"
#include "eval/offline.h"
#include "rl/grpo.h"

namespace muchator {

class Store;

// `muchator grpo` and the pipeline's step: loads the reward models (judge_dir, ranker_dir, may be
// empty) and the world's oracle (world_dir, may be empty), trains on the RL split's training
// requests, then evaluates the starting and the aligned checkpoint on the held-out RL requests
// (EvaluateOffline, both decoding modes). Writes out_dir/grpo_report.json, prints the comparison.
struct GrpoRunOptions {
  GrpoOptions grpo;
  int heldout_percent = 20;  // RL-split users kept for the report
  int eval_requests = 60;    // held-out requests evaluated (0 = skip the evaluation)
  std::string judge_dir, ranker_dir, world_dir;
  bool resume = false;
  // The `served` reward's lists: the starting model's answers to the training requests in the
  // report's reranked mode (ReportOptions::eval), with this evidence weight. Computed only when
  // --rewards names served; needs the ranking model, never the oracle.
  double served_evidence_weight = 3.0;
  // Songs in each served list (0 = the answers' list size). A longer list also rewards the
  // fitting songs just below the served ten instead of pushing them down.
  int served_size = 0;
  // Each phrase of a training request that the store's general documents pair with other phrases
  // is swapped, with this probability, for one no logged request uses (RewordRequests): GRPO
  // trains on the wording listeners have not used yet. 0 = the requests as logged.
  double reword = 0.0;
  // A model soup of GRPO runs (docs/rl.md, "A soup of GRPO runs"): `runs` runs from the same
  // start with the seeds seed, seed + 10, ..., each into OUT/runs/K/grpo/, and OUT/grpo/final =
  // start + merge x (the runs' mean - start) (MergeCheckpoints). runs = 1 and merge = 1: the one
  // run's own final checkpoint in OUT/grpo/final.
  int runs = 2;
  double merge = 1.0;
  // Soup runs trained at once, each in a child process with an equal share of this process's
  // compute threads: 0 = as many as the threads allow (at most `runs`), 1 = one after another in
  // this process. On 2 cores side by side is a little faster (bench ratio 0.93) and each run,
  // on one thread, is deterministic. Needs run_process; never with data-parallel ranks.
  int parallel_runs = 0;
  // How a run starts as its own process: the argv of the `muchator grpo` command (the CLI sets it
  // to this program's binary); each run's options follow as --config FILE and flags. Empty: every
  // run in this process.
  std::vector<std::string> run_process;
};
// The flags of GrpoRunOptions, GrpoOptions' among them (DeclareGrpoFlags), bound to `o`: `muchator
// grpo` declares them, and a soup writes each child run's options through them.
void DeclareGrpoRunFlags(Options& opts, GrpoRunOptions& o);
nlohmann::json RunGrpo(Store& store, const std::string& init_dir, const std::string& out_dir,
                       const GrpoRunOptions& o);

// The reward-hacking alarm of a before/after evaluation (EvaluateOffline's figures per decoding
// mode): raised when a learned reward's figure (judge relevance, ranker personalisation) rises
// while the truth (oracle relevance@10 or utility) falls, each by more than `tolerance`, in the
// same mode. reasons: "unconstrained: judge relevance +0.089 while oracle utility -0.157", ...;
// without oracle figures it is never raised (reasons says so).
struct HackingAlarm {
  bool raised = false;
  std::vector<std::string> reasons;
};
HackingAlarm RewardHackingAlarm(const OfflineEvaluation& before, const OfflineEvaluation& after,
                                double tolerance = 0.005);
// grpo_report.json's reward_hacking: {"raised": bool, "reasons": [...]}.
nlohmann::json ToJson(const HackingAlarm& a);

}  // namespace muchator
