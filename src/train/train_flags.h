// The command-line flags of TrainOptions, each name, help and range declared here once. A command
// declares the flags it exposes (`pretrain` all of them, `sft` a few) and may add a check of its
// own to the one it gets back:
//   DeclareTrainFlags(opts, o.train, {"steps", "batch-size", "lr", "bf16"});
//   DeclareTrainFlag(opts, o.train, "seq-len").Range(64, 1e6);  // SFT rows hold a whole prompt
#pragma once

#include <initializer_list>
#include <string_view>

#include "core/options.h"
#include "train/trainer.h"

namespace muchator {

// Training flags other commands bind to targets of their own (the ranking model's lr, ablate's
// table-6 budget, GRPO's steps, the main job's stage-0 budget), declared here once.
inline constexpr Flag kStepsFlag{"steps", "optimizer steps (per stage when pre-training)", 1, 1e9};
inline constexpr Flag kSeqLenFlag{"seq-len", "tokens per packed training row", 8, 1e6};
inline constexpr Flag kBatchSizeFlag{"batch-size", "rows per micro-batch", 1, 1e6};
inline constexpr Flag kLrFlag{"lr", "peak learning rate", 0, 10};
inline constexpr Flag kWeightDecayFlag{"weight-decay", "AdamW weight decay on matrices", 0, 10};
inline constexpr Flag kResumeFlag{
    "resume", "continue an interrupted run in --out from its latest checkpoint"};
inline constexpr Flag kGeneralStepsFlag{
    "general-steps",
    "optimizer steps of the general (everyday-language) pre-training stage (0 = the default)", 0,
    1e9};
inline constexpr Flag kReplayCorpusFlag{
    "replay-corpus",
    "pre-training corpus directory (RUN/corpus) whose general (everyday-language) documents are "
    "also trained on, against forgetting (\"\" = none)"};

// The flag `name` of TrainOptions (steps, seq-len, batch-size, grad-accum, lr, min-lr-ratio,
// warmup-steps, weight-decay, clip, bf16, split-documents, log-every, eval-every, eval-batches,
// ckpt-every), bound
// to `o`. Throws Error for another name (a programming error).
Options::Option& DeclareTrainFlag(Options& opts, TrainOptions& o, std::string_view name);
void DeclareTrainFlags(Options& opts, TrainOptions& o,
                       std::initializer_list<std::string_view> names);

}  // namespace muchator
