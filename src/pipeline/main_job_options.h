// The main job's options (`muchator pipeline`), declared once: the command binds them, and
// `ablate` reads a run's pipeline.config.toml into the same declarations, so it trains its
// variants with the settings the run was made with and never with copied defaults.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/options.h"

namespace muchator {

struct MainJobOptions {
  std::string out = "runs/demo", input, world_preset = "demo", codec = "atomic",
              model_size = "demo", world_catalog = "synthetic", world_input, judge_kind = "prf";
  int64_t seed = 1, vocab_size = 8000, pretrain_steps = 200, general_steps = 0, ranker_epochs = 0,
          judge_steps = 150, judge_layers = 1, sft_steps = 400, grpo_steps = 40, grpo_runs = 2,
          report_requests = 100, world_songs = 0, world_users = 0, world_events = 0,
          world_queries = 0;
  bool grpo_constrained = true, bf16 = true, fresh = false;
  // Not a flag: how GRPO's soup starts a run as its own process (GrpoRunOptions::run_process),
  // set by the CLI to this program's `grpo` command; empty = every run in this process.
  std::vector<std::string> grpo_run_process;

  // Every option of `muchator pipeline`, bound to this struct's fields.
  void Declare(Options& opts);
  // The settings run `run` was made with (RUN/pipeline.config.toml over the defaults); the
  // defaults for a run without that file (its steps run one by one). Throws Error for a file
  // that is not the main job's configuration.
  static MainJobOptions OfRun(const std::string& run);
};

// The settings in the key of the main job's step `step` (world, tokenizer, corpus, pretrain,
// reward, sft, grpo, report): each option that step depends on as `name = value`, read from the
// declarations in `opts` (Options::Setting).
std::vector<std::string> StepSettings(const Options& opts, const std::string& step);
// Throws std::logic_error when an option declared in `opts` is in no step's key and not one of
// those that are in none by design (out, fresh, and the data directories, whose content digests
// are keyed instead): the main job calls it first, so a new option cannot be left out of the
// keys and leave a stale step in place.
void CheckEveryOptionIsKeyed(const Options& opts);

}  // namespace muchator
