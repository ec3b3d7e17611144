// `muchator grpo`: preference alignment of the SFT checkpoint with GRPO and the hybrid reward.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "cli/dist_options.h"
#include "core/file.h"
#include "core/threads.h"
#include "data/store.h"
#include "pipeline/grpo_step.h"
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
            "relevance judge directory (train-judge): needed by rel and rel_pers");
    AddPath(opts, PathFlag::kRanker, &o_.ranker_dir,
            "ranking model directory (train-ranker): needed by pers and rel_pers");
    AddPath(opts, PathFlag::kWorld, &o_.world_dir,
            "synthetic world: log and report the oracle's relevance and utility too");
    opts.Add("rewards", &g.rewards, "reward functions by name with weights (docs/reward.md)");
    opts.Add("steps", &g.steps, "policy updates").Range(1, 1e9);
    opts.Add("group-size", &g.group_size, "answers sampled per request (G)").Range(2, 1024);
    opts.Add("prompts-per-step", &g.prompts_per_step,
             "requests per step (over all ranks when data-parallel: a multiple of --world-size)")
        .Range(1, 1e6);
    opts.Add("inner-updates", &g.inner_updates, "optimizer steps on each batch of rollouts (mu)")
        .Range(1, 100);
    opts.Add("clip-low", &g.clip_low, "epsilon_low of the ratio clip").Range(0, 0.999);
    opts.Add("clip-high", &g.clip_high, "epsilon_high of the ratio clip").Range(0, 10);
    opts.Add("beta", &g.beta, "KL weight against the reference (0 = no reference model)")
        .Range(0, 100);
    opts.Add("scale-std", &g.scale_std, "divide advantages by the group's reward std");
    opts.Add("loss-agg", &g.loss_agg,
             "token: mean over all answer tokens; sequence: mean of per-answer means")
        .OneOf({"token", "sequence"});
    opts.Add("advantage", &g.advantage,
             "list: every answer token takes the answer's advantage; item: each song's tokens take "
             "that song's own per-item reward advantage within its group (dense rewards)")
        .OneOf({"list", "item"});
    opts.Add("reward-scale", &g.reward_scale, "multiply rewards by this before advantages")
        .Range(-1e6, 1e6);
    opts.Add("temperature", &g.temperature, "rollout sampling temperature").Range(1e-3, 10);
    opts.Add("top-p", &g.top_p, "rollout nucleus sampling").Range(1e-3, 1);
    opts.Add("max-new-tokens", &g.max_new_tokens, "answer length cap (unconstrained rollouts)")
        .Range(8, 1e5);
    opts.Add("constrained", &g.constrained,
             "constrain rollouts to catalog lists (off as in the paper: format and factuality "
             "rewards then carry no signal)");
    opts.Add("list-size", &g.list_size, "songs asked for").Range(1, 100);
    opts.Add("history", &g.history, "events of the listener's history in each prompt")
        .Range(0, 1000);
    opts.Add("update-batch", &g.update_batch, "answers per forward/backward micro-batch")
        .Range(1, 1e6);
    opts.Add("pers-prior-weight", &g.pers_prior_weight,
             "personalisation reward: the ranking model's score less this times the song's mean "
             "score over the listeners of 64 sft requests (less the catalog's mean): what the "
             "listener likes beyond what every listener likes (0 = off; docs/rl.md)")
        .Range(0, 10);
    opts.Add("replay-corpus", &g.replay_corpus,
             "corpus directory (RUN/corpus) whose stage0_general documents each update also "
             "trains on (PPO-ptx; needs --replay-coef > 0)");
    opts.Add("replay-coef", &g.replay_coef,
             "weight of the replay documents' next-token loss (0 = no replay)")
        .Range(0, 1e6);
    opts.Add("replay-docs", &g.replay_docs, "replay documents per update").Range(1, 1e6);
    opts.Add("replay-tokens", &g.replay_tokens, "tokens of each replay document used")
        .Range(2, 1e6);
    DeclareTrainFlag(opts, g.train, "lr");
    DeclareTrainFlag(opts, g.train, "warmup-steps");
    DeclareTrainFlag(opts, g.train, "min-lr-ratio");
    DeclareTrainFlag(opts, g.train, "weight-decay");
    opts.Add("clip-grad", &g.train.clip, "gradient norm clip").Range(0, 1e9);
    DeclareTrainFlag(opts, g.train, "ckpt-every");
    opts.Add("resume", &o_.resume, "continue from OUT/grpo/latest");
    opts.Add("heldout-percent", &o_.heldout_percent, "RL-split users held out for the report")
        .Range(0, 100);
    opts.Add("eval-requests", &o_.eval_requests,
             "held-out requests evaluated before and after (0 = none)")
        .Range(0, 1e6);
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
