// The command-line flags of TrainOptions (train/train_flags.h).
#include "train/train_flags.h"

#include <string>

#include "core/error.h"
#include "model/flags.h"

namespace muchator {

Options::Option& DeclareTrainFlag(Options& opts, TrainOptions& o, std::string_view name) {
  if (name == kStepsFlag.name) return opts.Add(kStepsFlag, &o.steps);
  if (name == kSeqLenFlag.name) return opts.Add(kSeqLenFlag, &o.seq_len);
  if (name == kBatchSizeFlag.name) return opts.Add(kBatchSizeFlag, &o.batch_size);
  if (name == "grad-accum")
    return opts.Add("grad-accum", &o.grad_accum, "micro-batches per optimizer step").Range(1, 1e6);
  if (name == kLrFlag.name) return opts.Add(kLrFlag, &o.lr);
  if (name == "min-lr-ratio")
    return opts.Add("min-lr-ratio", &o.min_lr_ratio, "cosine decay to --lr x this (1 = constant)")
        .Range(0, 1);
  if (name == "warmup-steps")
    return opts.Add("warmup-steps", &o.warmup_steps, "linear warmup steps").Range(0, 1e9);
  if (name == kWeightDecayFlag.name) return opts.Add(kWeightDecayFlag, &o.weight_decay);
  if (name == "clip") return opts.Add("clip", &o.clip, "gradient norm clipping").Range(0, 1e6);
  if (name == kBf16Flag.name)
    return opts.Add(kBf16Flag, &o.bf16, "bf16 autocast for the forward pass");
  if (name == "log-every")
    return opts.Add("log-every", &o.log_every, "steps between log lines").Range(1, 1e9);
  if (name == "eval-every")
    return opts
        .Add("eval-every", &o.eval_every,
             "steps between held-out evaluations (the general stage scales it "
             "by --general-steps / --steps)")
        .Range(1, 1e9);
  if (name == "eval-batches")
    return opts.Add("eval-batches", &o.eval_batches, "batches per held-out evaluation")
        .Range(1, 1e6);
  if (name == "split-documents")
    return opts.Add("split-documents", &o.split_documents,
                    "train each micro-batch with one document per row where that computes less "
                    "(the same loss up to float rounding; false = the packed rows as they are)");
  if (name == "ckpt-every")
    return opts.Add("ckpt-every", &o.ckpt_every, "steps between resume checkpoints").Range(1, 1e9);
  throw Error("internal: no training flag '" + std::string(name) + "'");
}

void DeclareTrainFlags(Options& opts, TrainOptions& o,
                       std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) DeclareTrainFlag(opts, o, n);
}

}  // namespace muchator
