// `muchator grpo`: preference alignment of the SFT checkpoint with GRPO and the hybrid reward.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "cli/dist_options.h"
#include "core/file.h"
#include "core/threads.h"
#include "data/store.h"
#include "pipeline/grpo_step.h"
#include "rl/grpo_flags.h"
#include "train/train_flags.h"

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
    GrpoOptions& g = o_.grpo;
    AddPath(opts, PathFlag::kInit, &init_,
            "checkpoint to align (the SFT one); also the frozen reference model")
        .Required();
    AddStore(opts, &store_, "the SQLite store (RL-split queries, listeners' contexts)").Required();
    AddOut(opts, &out_, "output directory: grpo/ (log.jsonl, ckpt-N/, final/), grpo_report.json");
    AddPath(opts, PathFlag::kJudge, &o_.judge_dir,
            "relevance judge directory (train-judge): needed by rel, served_rel and the *rel_pers "
            "rewards");
    AddPath(opts, PathFlag::kRanker, &o_.ranker_dir,
            "ranking model directory (train-ranker): needed by pers, the *rel_pers rewards and the "
            "served rewards");
    AddPath(opts, PathFlag::kWorld, &o_.world_dir,
            "synthetic world: log and report the oracle's relevance and utility too");
    DeclareGrpoFlags(opts, g);
    opts.Add(kResumeFlag, &o_.resume, "continue from OUT/grpo/latest");
    opts.Add("heldout-percent", &o_.heldout_percent, "RL-split users held out for the report")
        .Range(0, 100);
    opts.Add("eval-requests", &o_.eval_requests,
             "held-out requests evaluated before and after (0 = none)")
        .Range(0, 1e6);
    opts.Add("served-evidence-weight", &o_.served_evidence_weight,
             "the served rewards' lists: the starting model's pool reranked by the ranking model "
             "with this weight on the model's own evidence (the report's reranked order at 1; "
             "larger keeps closer to the model's own choice)")
        .Range(0, 100);
    opts.Add("served-size", &o_.served_size,
             "songs in each served list of the served rewards (0 = --list-size); more also "
             "rewards the fitting songs just below the served ten")
        .Range(0, 500);
    opts.Add("runs", &o_.runs,
             "a soup of GRPO runs: this many runs from --init with the seeds --seed, --seed + 10, "
             "..., each into OUT/runs/K/grpo/, their weights averaged into OUT/grpo/final "
             "(docs/rl.md)")
        .Range(1, 16);
    opts.Add("merge", &o_.merge,
             "OUT/grpo/final = the start + this x (the runs' mean - the start): 1 = the runs' "
             "mean, 0.5 = halfway back to --init (WiSE-FT)")
        .Range(0, 2);
    AddSeed(opts, &seed_, "seed of request order and sampling");
    AddThreads(opts, &threads_);
    dist_.Declare(opts);
  }
  int Run(const Options& opts) override {
    SetupThreads(static_cast<int>(threads_));
    o_.grpo.train.seed = static_cast<uint64_t>(seed_);
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
