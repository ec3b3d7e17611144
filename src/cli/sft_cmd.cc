// `muchator sft`: context-aware instruction tuning on UQ2I triplets.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "cli/dist_options.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/threads.h"
#include "data/store.h"
#include "pipeline/sft_step.h"
#include "text/flags.h"
#include "train/train_flags.h"
#include "world/oracle.h"

namespace muchator::cli {
namespace {

class SftCommand : public Command {
 public:
  std::string name() const override { return "sft"; }
  std::string description() const override {
    return "Instruction-tune a checkpoint on UQ2I triplets (loss on the answer list only); with "
           "--world, the oracle "
           "relevance@10 and utility of generated lists on held-out queries before and after";
  }
  void Declare(Options& opts) override {
    AddPath(opts, PathFlag::kTriplets, &triplets_, "triplets.jsonl from `muchator synth-uq2i`")
        .Required();
    AddStore(opts, &store_, "the SQLite store the triplets came from (listeners' contexts)")
        .Required();
    AddPath(opts, PathFlag::kInit, &init_,
            "checkpoint to tune: the music pre-trained one (or the base one, for the ablation)")
        .Required();
    AddOut(opts, &out_,
           "output directory: corpus/, sft/final/ (the tuned checkpoint), sft_report.json");
    AddPath(opts, PathFlag::kWorld, &world_,
            "synthetic world directory: evaluate generated lists with its oracle");
    DeclareTrainFlag(opts, o_.train, "steps");
    DeclareTrainFlag(opts, o_.train, "seq-len").Range(64, 1e6);
    DeclareTrainFlag(opts, o_.train, "batch-size");
    DeclareTrainFlag(opts, o_.train, "lr");
    DeclareTrainFlag(opts, o_.train, "bf16");
    DeclareTrainFlag(opts, o_.train, "split-documents");
    opts.Add(kHistoryFlag, &o_.history).Range(0, 1000);
    opts.Add(kReplayCorpusFlag, &o_.replay_corpus);
    opts.Add("max-examples", &o_.max_examples, "use at most this many triplets (0 = all)")
        .Range(0, 1e12);
    opts.Add("eval-queries", &eval_.queries, "held-out test queries for the generation check")
        .Range(1, 1e6);
    AddSeed(opts, &seed_, "seed of data order");
    AddThreads(opts, &threads_);
    dist_.Declare(opts);
  }
  int Run(const Options& opts) override {
    SetupThreads(static_cast<int>(threads_));
    o_.train.seed = static_cast<uint64_t>(seed_);
    o_.train.eval_every = o_.train.ckpt_every = o_.train.steps;
    o_.train.warmup_steps = std::max<int64_t>(1, o_.train.steps / 10);
    eval_.history = o_.history;
    MakeDirs(out_);
    o_.train.group = dist_.Start();
    const bool root = !o_.train.group || o_.train.group->root();
    if (root) opts.WriteEffective(out_ + "/sft.config.toml");
    std::unique_ptr<world::Oracle> oracle;
    if (!world_.empty()) oracle = std::make_unique<world::Oracle>(world::Oracle::Load(world_));
    Store store(store_);
    RunSft(store, init_, triplets_, out_, oracle.get(), o_, eval_, /*check_before=*/true);
    if (root)
      std::printf("wrote %s/sft/final and %s/sft_report.json\n", out_.c_str(), out_.c_str());
    return 0;
  }

 private:
  std::string triplets_, store_, init_, out_ = "out/sft", world_;
  SftOptions o_;
  GenerationEvalOptions eval_;
  int64_t seed_ = 1, threads_ = 0;
  DistOptions dist_;
};

}  // namespace

std::unique_ptr<Command> MakeSftCommand() { return std::make_unique<SftCommand>(); }

}  // namespace muchator::cli
