// The main job, `muchator pipeline`: world (or the user's data) -> store -> tokenizer -> corpora ->
// pre-training -> reward models -> UQ2I + SFT (+ the generative judge) -> GRPO -> report. Its
// steps are a table run by the step cache (core/step_cache.h): a re-run redoes only the steps
// whose settings or inputs changed, and resumes an interrupted one.
#pragma once

#include "pipeline/main_job_options.h"

namespace muchator {

// Runs the main job into `m.out` and writes its effective configuration there
// (pipeline.config.toml); returns the process exit code. Throws Error for bad input.
int RunMainJob(const MainJobOptions& m);

}  // namespace muchator
