// The command-line flags of GrpoOptions, each name, help and range declared here once: `muchator
// grpo` binds them all, and GrpoOptions::Validate checks options built in code (the main job's) by
// the same declarations, so a range is written in one place.
#pragma once

#include "core/options.h"
#include "rl/grpo.h"

namespace muchator {

// Every GrpoOptions field as a flag bound to `g` (its TrainOptions: lr, warmup-steps,
// min-lr-ratio, weight-decay, clip-grad, ckpt-every), with each cross-field check.
void DeclareGrpoFlags(Options& opts, GrpoOptions& g);

}  // namespace muchator
