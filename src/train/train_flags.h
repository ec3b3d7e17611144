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

// The flag `name` of TrainOptions (steps, seq-len, batch-size, grad-accum, lr, min-lr-ratio,
// warmup-steps, weight-decay, clip, bf16, log-every, eval-every, eval-batches, ckpt-every), bound
// to `o`. Throws Error for another name (a programming error).
Options::Option& DeclareTrainFlag(Options& opts, TrainOptions& o, std::string_view name);
void DeclareTrainFlags(Options& opts, TrainOptions& o,
                       std::initializer_list<std::string_view> names);

}  // namespace muchator
