// The command-line flags of GrpoOptions (rl/grpo_flags.h).
#include "rl/grpo_flags.h"

#include <string>

#include "core/error.h"
#include "infer/flags.h"
#include "reward/hybrid.h"
#include "text/flags.h"
#include "train/train_flags.h"

namespace muchator {

void DeclareGrpoFlags(Options& opts, GrpoOptions& g) {
  opts.Add("rewards", &g.rewards,
           "reward functions by name with weights, NAME=WEIGHT comma-separated (docs/reward.md)")
      .Check([&g]() -> std::string {
        try {
          ParseRewardWeights(g.rewards);
        } catch (const Error& e) {
          return "'" + g.rewards + "': " + e.problem() + " (" + e.hint() + ")";
        }
        return "";
      });
  opts.Add(kStepsFlag, &g.steps, "policy updates");
  opts.Add("group-size", &g.group_size,
           "answers sampled per request (G; a group of one has no advantage)")
      .Range(2, 1024);
  opts.Add("prompts-per-step", &g.prompts_per_step,
           "requests per step (over all ranks when data-parallel: a multiple of --world-size)")
      .Range(1, 1e6);
  opts.Add("inner-updates", &g.inner_updates, "optimizer steps on each batch of rollouts (mu)")
      .Range(1, 100);
  opts.Add("clip-low", &g.clip_low, "epsilon_low of the ratio clip").Range(0, 0.999);
  opts.Add("clip-high", &g.clip_high, "epsilon_high of the ratio clip").Range(0, 10);
  opts.Add("beta", &g.beta, "KL weight against the reference (0 = no reference model)")
      .Range(0, 100);
  opts.Add("kl", &g.kl,
           "KL term: k3 (the estimator on each sampled token) or exact (the whole next-token "
           "distribution's KL at each answer position: every song whose probability moved)")
      .OneOf({"k3", "exact"});
  opts.Add("scale-std", &g.scale_std, "divide advantages by the group's reward std");
  opts.Add("loss-agg", &g.loss_agg,
           "token: mean over all answer tokens; sequence: mean of per-answer means")
      .OneOf({"token", "sequence"});
  opts.Add("advantage", &g.advantage,
           "list: every answer token takes the answer's advantage; item: each song's tokens take "
           "that song's own per-item reward advantage within its group (dense rewards); "
           "decoupled: the answer's advantage from each reward standardised within its group on "
           "its own, then weighted and summed (a reward with little spread still counts)")
      .OneOf({"list", "item", "decoupled"});
  opts.Add("reward-scale", &g.reward_scale, "multiply rewards by this before advantages")
      .Range(-1e6, 1e6);
  opts.Add(kTemperatureFlag, &g.temperature,
           "rollout sampling temperature (> 0: greedy groups have no spread)")
      .Range(1e-3, 10);
  opts.Add(kTopPFlag, &g.top_p, "rollout nucleus sampling").Range(1e-3, 1);
  opts.Add(kMaxNewTokensFlag, &g.max_new_tokens, "answer length cap (unconstrained rollouts)")
      .Range(8, 1e5);
  opts.Add(kConstrainedFlag, &g.constrained,
           "constrain rollouts to catalog lists (off as in the paper: format and factuality "
           "rewards then carry no signal)");
  opts.Add(kListSizeFlag, &g.list_size).Range(1, 100);
  opts.Add(kHistoryFlag, &g.history).Range(0, 1000);
  opts.Add("update-batch", &g.update_batch, "answers per forward/backward micro-batch")
      .Range(1, 1e6);
  opts.Add("pers-prior-weight", &g.pers_prior_weight,
           "personalisation reward: the ranking model's score less this times the song's mean "
           "score over the listeners of 64 sft requests (less the catalog's mean): what the "
           "listener likes beyond what every listener likes (0 = off; docs/rl.md)")
      .Range(0, 10);
  opts.Add(kReplayCorpusFlag, &g.replay_corpus,
           "corpus directory (RUN/corpus) whose stage0_general documents each update also trains "
           "on (PPO-ptx; needs --replay-coef > 0)");
  opts.Add("replay-coef", &g.replay_coef,
           "weight of the replay documents' next-token loss (0 = no replay)")
      .Range(0, 1e6)
      .Check([&g]() -> std::string {
        return g.replay_coef > 0 && g.replay_corpus.empty()
                   ? "needs --replay-corpus: give the run's corpus directory (RUN/corpus) or "
                     "--replay-coef 0"
                   : "";
      });
  opts.Add("replay-docs", &g.replay_docs, "replay documents per update").Range(1, 1e6);
  opts.Add("replay-tokens", &g.replay_tokens, "tokens of each replay document used").Range(2, 1e6);
  DeclareTrainFlag(opts, g.train, "lr");
  DeclareTrainFlag(opts, g.train, "warmup-steps");
  DeclareTrainFlag(opts, g.train, "min-lr-ratio");
  DeclareTrainFlag(opts, g.train, "weight-decay");
  opts.Add("clip-grad", &g.train.clip, "gradient norm clip").Range(0, 1e9);
  DeclareTrainFlag(opts, g.train, "ckpt-every");
}

}  // namespace muchator
