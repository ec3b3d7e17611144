// The main job's step budgets, which `pipeline` and `ablate` both take, each declared here once
// (core/options.h says how a command binds one).
#pragma once

#include "core/options.h"

namespace muchator {

inline constexpr Flag kPretrainStepsFlag{
    "pretrain-steps", "optimizer steps per pre-training stage (0 = skip pre-training)", 0, 1e9};
inline constexpr Flag kSftStepsFlag{
    "sft-steps", "instruction-tuning steps on the UQ2I triplets (0 = stop after the reward models)",
    0, 1e9};
inline constexpr Flag kGrpoStepsFlag{"grpo-steps", "GRPO steps after SFT (0 = stop after SFT)", 0,
                                     1e9};

}  // namespace muchator
