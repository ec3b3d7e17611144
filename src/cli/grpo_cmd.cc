// `muchator grpo`: preference alignment of the SFT checkpoint with GRPO and the hybrid reward.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "cli/dist_options.h"
#include "core/file.h"
#include "core/process.h"
#include "core/threads.h"
#include "data/store.h"
#include "pipeline/grpo_step.h"

namespace muchator::cli {
namespace {

class GrpoCommand : public Command {
 public:
  std::string name() const override { return "grpo"; }
  std::string description() const override {
    return "Align a checkpoint with GRPO on the RL split's requests: groups of sampled lists "
           "scored by the hybrid "
           "reward (judge x ranking model + rules); then held-out RL requests are evaluated before "
           "and after";
  }
  void Declare(Options& opts) override {
    AddPath(opts, PathFlag::kInit, &init_,
            "checkpoint to align (the SFT one); also the frozen reference model")
        .Required();
    AddStore(opts, &store_, "the SQLite store (RL-split queries, listeners' contexts)").Required();
    AddOut(opts, &out_, "output directory: grpo/ (log.jsonl, ckpt-N/, final/), grpo_report.json");
    DeclareGrpoRunFlags(opts, o_);
    AddSeed(opts, &seed_, "seed of request order and sampling");
    AddThreads(opts, &threads_);
    dist_.Declare(opts);
  }
  int Run(const Options& opts) override {
    SetupThreads(static_cast<int>(threads_));
    o_.grpo.train.seed = static_cast<uint64_t>(seed_);
    o_.run_process = {SelfExecutable(), "grpo"};
    MakeDirs(out_);
    o_.grpo.train.group = dist_.Start();
    const bool root = !o_.grpo.train.group || o_.grpo.train.group->root();
    if (root) opts.WriteEffective(out_ + "/grpo.config.toml");
    Store store(store_);
    const nlohmann::json r = RunGrpo(store, init_, out_, o_);
    if (!root) return 0;
    const auto& t = r["training"];
    if (t.contains("last"))  // absent when a resumed run had nothing left to do
      std::printf("grpo: %lld steps in %.0f s, reward %.3f -> %.3f\n", t["steps"].get<long long>(),
                  t["seconds"].get<double>(), t["first"]["reward_mean"].get<double>(),
                  t["last"]["reward_mean"].get<double>());
    std::printf("wrote %s/grpo/final and %s/grpo_report.json\n", out_.c_str(), out_.c_str());
    return 0;
  }

 private:
  std::string init_, store_, out_ = "out/grpo";
  GrpoRunOptions o_;
  int64_t seed_ = 1, threads_ = 0;
  DistOptions dist_;
};

}  // namespace

std::unique_ptr<Command> MakeGrpoCommand() { return std::make_unique<GrpoCommand>(); }

}  // namespace muchator::cli
