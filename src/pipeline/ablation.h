// The paper's ablation tables (3-7) and the item-codec table on a finished run of the main job,
// by name: they train variants (SFT, GRPO, pre-training stages), so they live above rl and synth
// with the main job's steps. `muchator ablate` declares AblationOptions and runs one table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/options.h"

namespace muchator {

struct AblationOptions {
  std::string run, out, table = "3";
  int64_t requests = 100, sft_steps = 0, few_shot = 3, few_shot_items = 5, rag_candidates = 20,
          grpo_steps = 0, pretrain_steps = 0, per_kind = 200;
  int64_t steps = 100, batch = 8, seq_len = 256, u2i_docs = 0, u2i_context = 256, seed = 0;

  // Every option of `muchator ablate` but --threads, bound to this struct's fields.
  void Declare(Options& opts);
  // out = RUN/ablate when empty; seed = the run's own (its pipeline.config.toml) when 0.
  void ResolveDefaults();
};

// The tables, in order: 3, 4, 5, 6, 7, codecs.
const std::vector<std::string>& AblationTableNames();

// Runs table `o.table` into `o.out` (after ResolveDefaults), printing its Markdown; returns the
// process exit code. Throws Error for a run that lacks what the table needs.
int RunAblationTable(const AblationOptions& o);

}  // namespace muchator
