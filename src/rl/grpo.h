// Preference alignment with GRPO (the paper's section 3.4, DESIGN.md section 6, docs/rl.md): for
// each request of the RL split, a group of G answers is sampled from the current policy, each is
// scored by the hybrid reward, and the policy is moved towards the answers that beat their group:
//   A_i   = R_i - mean(R_group)                (optionally / (std(R_group) + 1e-4))
//   r_t   = pi(y_t | ...) / pi_old(y_t | ...)  per answer token, pi_old = the policy that sampled
//   L     = -agg_t min(r_t A_i, clip(r_t, 1 - eps_low, 1 + eps_high) A_i) + beta * agg_t KL_t
//   KL_t  = exp(q_t - p_t) - (q_t - p_t) - 1   (p = log pi, q = log pi_ref; the k3 estimator, >= 0)
// with agg = mean over every answer token of the batch ("token", DAPO's) or the mean over answers
// of each answer's token mean ("sequence", the GRPO paper's). The reference policy is the frozen
// starting checkpoint (the SFT one). Log-probabilities are of the temperature-scaled distribution
// the answers were sampled from, over the full vocabulary (constrained rollouts too: the grammar's
// mask is part of the sampler, not of the policy).
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "reward/hybrid.h"
#include "reward/requests.h"
#include "text/chat.h"
#include "train/trainer.h"

namespace muchator {

struct GrpoOptions {
  int64_t steps = 40;        // policy updates (outer steps)
  int group_size = 8;        // answers sampled per request (G)
  int prompts_per_step = 4;  // requests per step
  int inner_updates = 1;     // optimizer steps on each batch of rollouts (1: pi_old = pi)
  double clip_low = 0.2, clip_high = 0.28;  // eps_low, eps_high (DAPO's "clip higher")
  double beta = 0.04;                       // KL weight; 0 = no reference model
  // "k3": the k3 estimator on each sampled token; "exact": the whole next-token distribution's
  // KL at each answer position (ExactKl).
  std::string kl = "k3";
  bool scale_std = true;           // divide advantages by the group's reward std
  std::string loss_agg = "token";  // "token" or "sequence"
  // "list": every token of an answer takes the answer's advantage; "item": a song's own tokens
  // take its per-item model reward's advantage within the group (dense rewards; needs per-item
  // rewards: those with RewardSpec::item), the other tokens the answer's; "decoupled": the
  // answer's advantage from each reward standardised within the group on its own
  // (DecoupledAdvantages).
  std::string advantage = "item";
  double reward_scale = 1.0;  // rewards are multiplied by this before advantages
  // The default since 2026-12-07 (docs/rl.md, "A soup of GRPO runs"): the served system's list
  // with the judge's gate at half weight; the paper's hybrid reward is
  // "rel_pers=1,format=0.2,fact=0.2,div=0.2,dedup=0.2" (Table 7's full row).
  std::string rewards = "served=1,rel=0.5,format=0.2,fact=0.2,div=0.2,dedup=0.2";
  double temperature = 1.0, top_p = 1.0;  // rollout sampling
  int max_new_tokens = 160;               // answer length cap (a 10-song list is ~100 tokens)
  bool constrained = false;               // constrained rollouts (default off, as in the paper)
  int list_size = 10;                     // songs asked for
  int history = kPromptHistory;           // events of the listener's history in each prompt
  int update_batch = 8;                   // answers per forward/backward micro-batch (memory)
  // The personalisation reward's ranking-model score less `pers_prior_weight` x (the song's mean
  // score over the listeners of 64 requests of the store's sft split - the catalog's mean):
  // what the listener likes beyond what every listener likes (DebiasedPersonalFn; the served
  // order's ranker prior, docs/rl.md). 0 = the ranking model's score as it is.
  double pers_prior_weight = 0.0;
  // Language-model replay during RL (InstructGPT's PPO-ptx): each update also lowers
  // `replay_coef` x the mean next-token loss of `replay_docs` random stage0_general documents of
  // `replay_corpus` (a corpus directory written with the checkpoint's tokenizer; the first
  // `replay_tokens` tokens of each), so the everyday language that test requests are worded in
  // is not worn away by updates on RL requests alone. 0 or "" = none.
  std::string replay_corpus;
  double replay_coef = 0.0;
  int replay_docs = 4, replay_tokens = 256;
  TrainOptions train = [] {  // lr, schedule, clipping, AdamW, checkpoints, seed
    TrainOptions t;
    t.lr = 1e-4;  // sized for the small CPU models; real 8B-scale models want ~1e-6
    t.warmup_steps = 2;
    t.min_lr_ratio = 1.0;  // constant after warmup
    t.weight_decay = 0.0;  // a step without reward signal must not move the weights
    t.log_every = 1;
    t.ckpt_every = 10;
    return t;
  }();
  void Validate() const;  // throws Error naming the bad option
};

// Advantages of rewards laid out as groups: rewards (P, G) -> (P, G).
torch::Tensor GroupAdvantages(const torch::Tensor& rewards, bool scale_std);
// --advantage decoupled: each reward standardised within its group on its own (a reward without
// spread there gives 0), the results averaged with the rewards' weights (sum of w_k z_k / sum of
// |w_k|; GDPO's decoupled normalisation). components: (K, P, G) raw rewards; weights: K. A reward
// whose values spread little (the judge's P of songs that all fit) then moves the policy as much
// as one that spreads a lot (the ranking model's score), instead of vanishing inside the weighted
// sum. --scale-std does not apply: standardising each reward is the point.
torch::Tensor DecoupledAdvantages(const torch::Tensor& components,
                                  const std::vector<double>& weights);

// Per-token log-probabilities of answers under `model` at `temperature`: ids (N, T) right-padded
// prompt + answer rows, answer n at [start[n], start[n] + length[n]). Returns (N, L), L = max
// length, 0 past each answer's end.
torch::Tensor AnswerLogProbs(Qwen3ForCausalLM& model, const torch::Tensor& ids,
                             const std::vector<int64_t>& start, const std::vector<int64_t>& length,
                             double temperature);
// The same answers' whole next-token distributions: (N, L, V) log-softmax at `temperature`
// (rows past an answer's end are those of its last prompt or answer token: mask them).
torch::Tensor AnswerLogSoftmax(Qwen3ForCausalLM& model, const torch::Tensor& ids,
                               const std::vector<int64_t>& start,
                               const std::vector<int64_t>& length, double temperature);
// AnswerLogProbs from an AnswerLogSoftmax result: each answer token's log-probability, (N, L).
torch::Tensor GatherAnswerTokens(const torch::Tensor& log_softmax, const torch::Tensor& ids,
                                 const std::vector<int64_t>& start,
                                 const std::vector<int64_t>& length);
// --kl exact: KL(pi || pi_ref) of the whole next-token distribution at each position,
// sum_v pi(v) (log pi(v) - log pi_ref(v)), (N, L) from two (N, L, V) log-softmaxes. Unlike k3 on
// the sampled token, it sees every song whose probability moved, sampled or not.
torch::Tensor ExactKl(const torch::Tensor& log_softmax, const torch::Tensor& ref_log_softmax);

struct GrpoLossParts {
  torch::Tensor loss;    // scalar, already divided by `normaliser`
  double kl_sum = 0;     // sum of KL_t over answer tokens (0 without a reference)
  double clipped = 0;    // answer tokens whose ratio was clipped against their advantage
  double ratio_sum = 0;  // sum of r_t over answer tokens
  double tokens = 0;     // answer tokens
};
// The clipped surrogate + KL of a micro-batch. logp, old_logp, ref_logp (undefined when beta = 0),
// mask: (N, L); advantages: (N) per answer or (N, L) per answer token. With "token" aggregation
// the summed loss is divided by `normaliser` = the batch's answer tokens; with "sequence", each
// answer's token mean is summed and divided by `normaliser` = the batch's answers.
// exact_kl (N, L), when defined, is the KL term instead of k3 (--kl exact; ref_logp unused).
GrpoLossParts GrpoLoss(const torch::Tensor& logp, const torch::Tensor& old_logp,
                       const torch::Tensor& ref_logp, const torch::Tensor& advantages,
                       const torch::Tensor& mask, const GrpoOptions& o, double normaliser,
                       const torch::Tensor& exact_kl = {});

// The RL split: the store's "rl" queries with a user, split by user (FNV-1a of the id) into
// training requests and held-out ones (`heldout_percent` of the users) for the report.
struct RlSplit {
  std::vector<EvalRequest> train, heldout;
};
RlSplit LoadRlRequests(Store& store, int heldout_percent);

// Trains the checkpoint in `init_dir` (with its codec.json) on `requests` into out_dir/grpo/
// (log.jsonl: one line per step; ckpt-N/; final/: the aligned checkpoint). `judges` supplies the
// reward models the chosen rewards need (judge: rel, rel_pers; ranker: pers, rel_pers) and, with
// the oracle, each step also logs the oracle's relevance@10 and utility of its rollouts (what the
// learned rewards stand in for). With `resume`, continues from out_dir/grpo/latest. Returns a
// summary: steps, seconds, reward_mean of the first and last step. `targets` (empty, or one per
// request): the lists the served and label rewards compare a rollout with.
struct RequestTargets {
  std::vector<int> served;    // ListInput::served: the served system's list
  std::vector<int> labelled;  // ListInput::labelled: the request's labelled songs
};
nlohmann::json TrainGrpo(Store& store, const std::string& init_dir,
                         const std::vector<EvalRequest>& requests, const EvalJudges& judges,
                         const GrpoOptions& o, const std::string& out_dir, bool resume,
                         std::span<const RequestTargets> targets = {});

}  // namespace muchator
