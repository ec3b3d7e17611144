#include "rl/grpo.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "corpus/shard.h"
#include "data/store.h"
#include "dist/dist.h"
#include "infer/engine.h"
#include "reward/judge.h"
#include "reward/ranker.h"
#include "rl/grpo_flags.h"
#include "text/chat.h"
#include "text/languages.h"
#include "text/special_tokens.h"
#include "world/oracle.h"

namespace muchator {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The request indexes of outer step `step`: consecutive slices of per-epoch permutations, so the
// order depends only on (seed, step) and a resumed run sees the same requests.
std::vector<size_t> StepRequests(size_t n, int per_step, int64_t step, uint64_t seed) {
  std::vector<size_t> out;
  for (int k = 0; k < per_step; ++k) {
    const uint64_t pos = static_cast<uint64_t>(step) * per_step + k, epoch = pos / n;
    std::vector<size_t> perm(n);
    std::iota(perm.begin(), perm.end(), size_t{0});
    Rng rng = Rng::Derive(seed, "grpo-order", epoch);
    for (size_t i = n; i > 1; --i) std::swap(perm[i - 1], perm[rng.Below(i)]);
    out.push_back(perm[pos % n]);
  }
  return out;
}

// One rollout: its full token row (prompt + answer) and where the answer starts.
struct Rollout {
  std::vector<int> tokens;
  int64_t start = 0, length = 0;
};

// (N, T) right-padded rows of rollouts[idx...], with their answer spans.
torch::Tensor Rows(const std::vector<Rollout>& rollouts, const std::vector<size_t>& idx,
                   std::vector<int64_t>& start, std::vector<int64_t>& length) {
  int64_t t = 0;
  for (size_t i : idx) t = std::max<int64_t>(t, static_cast<int64_t>(rollouts[i].tokens.size()));
  torch::Tensor ids = torch::zeros({static_cast<int64_t>(idx.size()), t}, torch::kInt64);
  auto a = ids.accessor<int64_t, 2>();
  start.clear();
  length.clear();
  for (size_t r = 0; r < idx.size(); ++r) {
    const auto& x = rollouts[idx[r]];
    for (size_t j = 0; j < x.tokens.size(); ++j)
      a[static_cast<int64_t>(r)][static_cast<int64_t>(j)] = x.tokens[j];
    start.push_back(x.start);
    length.push_back(x.length);
  }
  return ids;
}

torch::Tensor LengthMask(const std::vector<int64_t>& length, int64_t l) {
  torch::Tensor m = torch::zeros({static_cast<int64_t>(length.size()), l});
  for (size_t r = 0; r < length.size(); ++r)
    m[static_cast<int64_t>(r)].narrow(0, 0, length[r]).fill_(1.0);
  return m;
}

// Mean next-token loss of `docs` random documents of `corpus` (their first `tokens` tokens each).
torch::Tensor ReplayLoss(Qwen3ForCausalLM& model, const ShardReader& corpus, int docs, int tokens,
                         Rng& pick) {
  std::vector<Rollout> rows(static_cast<size_t>(docs));
  for (auto& r : rows) {
    const auto toks =
        corpus.Tokens(static_cast<int64_t>(pick.Below(static_cast<uint64_t>(corpus.num_docs()))));
    const size_t n = std::min(toks.size(), static_cast<size_t>(tokens));
    r.tokens.assign(toks.begin(), toks.begin() + static_cast<std::ptrdiff_t>(n));
    r.start = 1;  // every token after the first is predicted
    r.length = std::max<int64_t>(0, static_cast<int64_t>(n) - 1);
  }
  std::vector<size_t> all(rows.size());
  std::iota(all.begin(), all.end(), size_t{0});
  std::vector<int64_t> start, length;
  const torch::Tensor ids = Rows(rows, all, start, length);
  const double n_tok =
      static_cast<double>(std::accumulate(length.begin(), length.end(), int64_t{0}));
  return -AnswerLogProbs(model, ids, start, length, 1.0).sum() / std::max(1.0, n_tok);
}

}  // namespace

void GrpoOptions::Validate() const {
  // The flags' own declarations check options built in code too: each range is written once.
  GrpoOptions copy = *this;
  Options opts;
  DeclareGrpoFlags(opts, copy);
  opts.CheckValues();
}

torch::Tensor GroupAdvantages(const torch::Tensor& rewards, bool scale_std) {
  torch::Tensor a = rewards - rewards.mean(1, /*keepdim=*/true);
  if (scale_std) a = a / (rewards.std(1, /*unbiased=*/false, /*keepdim=*/true) + 1e-4);
  // Exactly 0 for a group without spread (the mean of equal floats may round away from them).
  const torch::Tensor flat =
      (rewards.amax(1, /*keepdim=*/true) == rewards.amin(1, /*keepdim=*/true));
  return torch::where(flat, torch::zeros_like(a), a);
}

torch::Tensor DecoupledAdvantages(const torch::Tensor& components,
                                  const std::vector<double>& weights) {
  if (components.dim() != 3 || components.size(0) != static_cast<int64_t>(weights.size()))
    throw Error("DecoupledAdvantages: components must be (K, P, G) with K weights");
  torch::Tensor sum = torch::zeros({components.size(1), components.size(2)});
  double total = 0;
  for (size_t k = 0; k < weights.size(); ++k) {
    sum += weights[k] * GroupAdvantages(components[static_cast<int64_t>(k)], true);
    total += std::abs(weights[k]);
  }
  // Not standardised again: where the rewards disagree their sum is near 0 in every group, and
  // rescaling it would turn that near-tie into a full-sized advantage.
  return total > 0 ? sum / total : sum;
}

namespace {
// The answer positions' hidden states' targets: pos (N, L) of the state before each answer token,
// target (N, L) the token (0 past the answer's end).
std::pair<torch::Tensor, torch::Tensor> AnswerPositions(const torch::Tensor& ids,
                                                        const std::vector<int64_t>& start,
                                                        const std::vector<int64_t>& length) {
  const int64_t n = ids.size(0), t = ids.size(1);
  const int64_t l = std::max<int64_t>(1, *std::max_element(length.begin(), length.end()));
  torch::Tensor pos = torch::zeros({n, l}, torch::kInt64),
                target = torch::zeros({n, l}, torch::kInt64);
  auto p = pos.accessor<int64_t, 2>(), y = target.accessor<int64_t, 2>();
  auto x = ids.accessor<int64_t, 2>();
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < l; ++j) {
      const int64_t at = std::min(start[static_cast<size_t>(r)] + j, t - 1);
      p[r][j] = at - 1;  // the hidden state before the token predicts it
      y[r][j] = j < length[static_cast<size_t>(r)] ? x[r][at] : 0;
    }
  return {pos, target};
}
}  // namespace

torch::Tensor AnswerLogSoftmax(Qwen3ForCausalLM& model, const torch::Tensor& ids,
                               const std::vector<int64_t>& start,
                               const std::vector<int64_t>& length, double temperature) {
  const torch::Tensor pos = AnswerPositions(ids, start, length).first;
  const int64_t n = pos.size(0), l = pos.size(1);
  const torch::Tensor h = model->Hidden(ids, {}, {});                                   // (N, T, C)
  const torch::Tensor hs = h.gather(1, pos.unsqueeze(-1).expand({n, l, h.size(2)}));    // (N, L, C)
  const torch::Tensor logits = torch::matmul(hs, model->LmWeight().t()) / temperature;  // (N, L, V)
  return logits.log_softmax(-1);
}

torch::Tensor AnswerLogProbs(Qwen3ForCausalLM& model, const torch::Tensor& ids,
                             const std::vector<int64_t>& start, const std::vector<int64_t>& length,
                             double temperature) {
  return GatherAnswerTokens(AnswerLogSoftmax(model, ids, start, length, temperature), ids, start,
                            length);
}

torch::Tensor GatherAnswerTokens(const torch::Tensor& log_softmax, const torch::Tensor& ids,
                                 const std::vector<int64_t>& start,
                                 const std::vector<int64_t>& length) {
  const torch::Tensor target = AnswerPositions(ids, start, length).second;
  return log_softmax.gather(-1, target.unsqueeze(-1)).squeeze(-1) *
         LengthMask(length, target.size(1));  // (N, L)
}

torch::Tensor ExactKl(const torch::Tensor& log_softmax, const torch::Tensor& ref_log_softmax) {
  return (log_softmax.exp() * (log_softmax - ref_log_softmax)).sum(-1);
}

GrpoLossParts GrpoLoss(const torch::Tensor& logp, const torch::Tensor& old_logp,
                       const torch::Tensor& ref_logp, const torch::Tensor& advantages,
                       const torch::Tensor& mask, const GrpoOptions& o, double normaliser,
                       const torch::Tensor& exact_kl) {
  GrpoLossParts out;
  // (N, 1): one per answer, or (N, L): one per answer token.
  const torch::Tensor a = advantages.dim() == 1 ? advantages.unsqueeze(1) : advantages;
  const torch::Tensor ratio = (logp - old_logp).exp();
  const torch::Tensor surrogate =
      torch::min(ratio * a, ratio.clamp(1 - o.clip_low, 1 + o.clip_high) * a);
  torch::Tensor per_token = -surrogate;  // (N, L)
  torch::Tensor kl;
  if (o.beta > 0) {
    if (exact_kl.defined()) {
      kl = exact_kl;
    } else {
      const torch::Tensor d = ref_logp - logp;
      kl = d.exp() - d - 1;
    }
    per_token = per_token + o.beta * kl;
  }
  per_token = per_token * mask;
  out.loss = o.loss_agg == "token"
                 ? per_token.sum() / normaliser
                 : (per_token.sum(1) / mask.sum(1).clamp_min(1)).sum() / normaliser;
  torch::NoGradGuard g;
  out.tokens = mask.sum().item<double>();
  out.ratio_sum = (ratio * mask).sum().item<double>();
  const torch::Tensor clipped =
      ((ratio < 1 - o.clip_low) & (a < 0)) | ((ratio > 1 + o.clip_high) & (a > 0));
  out.clipped = (clipped.to(torch::kFloat32) * mask).sum().item<double>();
  if (kl.defined()) out.kl_sum = (kl * mask).sum().item<double>();
  return out;
}

RlSplit LoadRlRequests(Store& store, int heldout_percent) {
  RlSplit s;
  for (auto& r : RequestsFromStore(store, "rl", 0))
    // FNV-1a (HashString): the same held-out users with every compiler and library.
    (HashString(r.user) % 100 < static_cast<uint64_t>(heldout_percent) ? s.heldout : s.train)
        .push_back(std::move(r));
  return s;
}

nlohmann::json TrainGrpo(Store& store, const std::string& init_dir,
                         const std::vector<EvalRequest>& requests, const EvalJudges& judges,
                         const GrpoOptions& o, const std::string& out_dir, bool resume,
                         std::span<const RequestTargets> targets) {
  o.Validate();
  if (requests.empty())
    throw Error("no RL requests", store.path(),
                "the store needs queries of split \"rl\" with a user (docs/data-format.md)");
  if (!targets.empty() && targets.size() != requests.size())
    throw Error("internal: " + std::to_string(targets.size()) + " request targets for " +
                std::to_string(requests.size()) + " requests");
  const auto weights = ParseRewardWeights(o.rewards);
  const auto has = [&](auto list) {
    return std::any_of(targets.begin(), targets.end(),
                       [&](const RequestTargets& t) { return !(t.*list).empty(); });
  };
  if (RewardsNeed(weights, &RewardSpec::needs_served) && !has(&RequestTargets::served))
    throw Error("the served rewards (served, served_rel) need each request's served list",
                "--rewards",
                "give --ranker DIR (the served list is the model's pool reranked by it), or drop "
                "them from --rewards");
  if (RewardsNeed(weights, &RewardSpec::needs_labels) && !has(&RequestTargets::labelled))
    throw Error("the label reward needs labelled RL requests, and none has labels", "--rewards",
                "give the store's `rl` queries their \"relevant\" songs (docs/data-format.md), or "
                "drop label from --rewards");
  Checkpoint ck = LoadCheckpoint(init_dir);
  if (!ck.codec)
    throw Error("GRPO needs the item codec (codec.json) of the checkpoint", init_dir,
                "use the SFT checkpoint of the pipeline");
  // Data-parallel (o.train.group): each rank samples and scores the groups of its own share of
  // the step's requests (a group never spans ranks, so advantages stay local), the loss is
  // normalised by the whole step's answer tokens and the gradients are summed over ranks: the
  // update equals one process's on all requests. Rank 0 alone logs and checkpoints.
  dist::Group* group = o.train.group.get();
  const int ranks = group ? group->size() : 1, rank = group ? group->rank() : 0;
  const bool root = rank == 0;
  if (o.prompts_per_step % ranks != 0)
    throw Error("--prompts-per-step " + std::to_string(o.prompts_per_step) +
                    " does not divide among " + std::to_string(ranks) + " ranks",
                "--prompts-per-step", "use a multiple of --world-size (it is the global count)");
  const std::string dir = out_dir + "/grpo";
  MakeDirs(dir);
  std::unique_ptr<ShardReader> replay;
  if (o.replay_coef > 0) {
    replay = std::make_unique<ShardReader>(o.replay_corpus, "stage0_general");
    if (replay->num_docs() == 0)
      throw Error("the replay corpus has no stage0_general documents", o.replay_corpus,
                  "give the run's corpus directory (RUN/corpus)");
  }
  torch::manual_seed(o.train.seed);
  Qwen3ForCausalLM policy = ck.model;
  policy->train();
  Qwen3ForCausalLM ref{nullptr};
  if (o.beta > 0) {  // frozen at the starting checkpoint
    ref = LoadModel(init_dir);
    ref->eval();
    for (auto& p : ref->parameters()) p.set_requires_grad(false);
  }
  auto opt = MakeOptimizer(policy, o.train);
  TrainOptions schedule = o.train;  // warmup + cosine over the GRPO steps
  schedule.steps = o.steps;
  int64_t start = 0;
  if (resume) {
    const nlohmann::json state = ResumeFromLatest(policy, opt, dir);
    if (!state.is_null()) start = state.at("step").get<int64_t>();
  } else if (root) {
    WriteFileAtomic(dir + "/log.jsonl", "");
  }
  std::vector<torch::Tensor> params = policy->parameters();
  if (group) group->Broadcast(params);  // identical starting weights on every rank
  // Test hook: MUCHATOR_WEIGHT_DIGEST=1 writes each rank's weight digest after every step.
  std::ofstream digest;
  if (std::getenv("MUCHATOR_WEIGHT_DIGEST"))
    digest.open(dir + "/digest.rank" + std::to_string(rank) + ".txt", std::ios::app);
  if (RewardsNeed(weights, &RewardSpec::needs_features)) {
    // codec.json holds ids, titles and artists only; the features come from the store.
    const Catalog full = Catalog::FromStore(store);
    for (auto& item : ck.catalog.items)
      if (const int i = full.Find(item.id); i >= 0) item.features = full.items[i].features;
  }
  RewardModels models;
  models.catalog = &ck.catalog;
  if (judges.judge) {
    models.relevance = MakeRelevanceFn(*judges.judge, ck.catalog);
    models.relevance_threshold = judges.judge->threshold();
  }
  if (judges.ranker) {
    models.personal = MakePersonalFn(*judges.ranker, ck.catalog);
    if (o.pers_prior_weight != 0) {
      std::vector<float> prior =
          RankerSongPrior(store, ck.catalog, *judges.ranker, "sft", 64, o.history);
      if (prior.empty())
        spdlog::warn("grpo: no sft requests with a listener: --pers-prior-weight has no prior");
      models.personal =
          DebiasedPersonalFn(std::move(models.personal), std::move(prior), o.pers_prior_weight);
    }
  }
  HybridReward reward(ParseRewardWeights(o.rewards), models);

  // This rank's requests of each step: [p_first, p_first + p_count) of the step's global list.
  const int p_count = o.prompts_per_step / ranks, p_first = rank * p_count, g_count = o.group_size,
            n_roll = p_count * g_count, n_roll_all = o.prompts_per_step * g_count;
  EngineOptions eo;
  eo.max_batch = std::min(n_roll, 64);
  Engine engine(policy, *ck.tok, ck.grammar.get(), eo);
  // Prompts leave room for the whole answer: the oldest history events give way (FitPrompt).
  ConstraintOptions answer;
  answer.num_items = o.list_size;
  const int max_prompt =
      engine.max_len() -
      (o.constrained && ck.grammar ? ck.grammar->MaxAnswerTokens(answer) : o.max_new_tokens);
  // Rollouts honour a request's language constraints, as the evaluation and the server do.
  const CatalogLanguages languages(store, ck.catalog);
  std::ofstream log;
  if (root) log.open(dir + "/log.jsonl", std::ios::app);
  nlohmann::json summary = {{"steps", o.steps}, {"requests", requests.size()}};
  Progress progress("grpo", static_cast<uint64_t>(o.steps), "steps");
  progress.Set(static_cast<uint64_t>(start));
  const auto t_all = Clock::now();
  for (int64_t step = start; step < o.steps; ++step) {
    const auto t_step = Clock::now();
    // 1. Prompts and rollouts: G answers per request; the group shares its pre-filled prompt.
    std::vector<EvalRequest> reqs;
    std::vector<UserContext> contexts;
    std::vector<RankerContext> ranker_contexts;
    std::vector<std::vector<int>> prompts;
    std::vector<size_t> req_index;  // each prompt's index in `requests`
    const std::vector<size_t> step_requests =
        StepRequests(requests.size(), o.prompts_per_step, step, o.train.seed);
    for (int p = p_first; p < p_first + p_count; ++p) {
      const size_t i = step_requests[static_cast<size_t>(p)];
      reqs.push_back(requests[i]);
      req_index.push_back(i);
      UserContext ctx =
          UserContextFromStore(store, ck.catalog, requests[i].user, requests[i].ts, o.history);
      ctx.state = requests[i].state;
      prompts.push_back(
          FitPrompt(*ck.tok, *ck.codec, ctx, requests[i].query, o.history, max_prompt).ids);
      ranker_contexts.push_back(MakeRankerContext(requests[i].user, ctx, ck.catalog));
      contexts.push_back(std::move(ctx));
    }
    std::vector<GenerationRequest> gen;
    for (int p = 0; p < p_count; ++p) {
      ConstraintOptions c;  // the group's constraint: the request's language bans
      c.num_items = o.list_size;
      if (o.constrained) c.banned_items = languages.Banned(reqs[static_cast<size_t>(p)].query);
      for (int g = 0; g < g_count; ++g) {
        GenerationRequest r;
        r.prompt = prompts[static_cast<size_t>(p)];
        r.cache_prefix = static_cast<int>(r.prompt.size()) - 1;
        r.sampling.temperature = o.temperature;
        r.sampling.top_p = o.top_p;
        r.sampling.max_new_tokens = o.max_new_tokens;
        // Seeded by the answer's global index: the same rollouts on any number of ranks.
        r.sampling.seed =
            Rng::Derive(o.train.seed, "grpo-sample",
                        static_cast<uint64_t>(step * n_roll_all + (p_first + p) * g_count + g))
                .NextU64();
        if (o.constrained) r.constraint = c;
        gen.push_back(std::move(r));
      }
    }
    const auto t_gen = Clock::now();
    const auto results = engine.Generate(std::move(gen));
    const double gen_s = Since(t_gen);

    // 2. Rewards and advantages.
    std::vector<ListInput> lists;
    std::vector<Rollout> rollouts;
    double answer_tokens = 0, oracle_rel = 0, oracle_util = 0;
    int64_t util_n = 0;
    for (int k = 0; k < n_roll; ++k) {
      const int p = k / g_count;
      const auto& res = results[static_cast<size_t>(k)];
      const ParsedAnswer a = ParseAnswer(*ck.tok, *ck.codec, res.tokens);
      lists.push_back(MakeListInput(a, reqs[static_cast<size_t>(p)].query, o.list_size, p,
                                    contexts[static_cast<size_t>(p)].history));
      if (!targets.empty()) {
        const RequestTargets& t = targets[req_index[static_cast<size_t>(p)]];
        lists.back().served = t.served;
        lists.back().labelled = t.labelled;
      }
      Rollout r;
      r.tokens = prompts[static_cast<size_t>(p)];
      r.start = static_cast<int64_t>(r.tokens.size());
      r.tokens.insert(r.tokens.end(), res.tokens.begin(), res.tokens.end());
      r.length = static_cast<int64_t>(res.tokens.size());
      answer_tokens += static_cast<double>(r.length);
      rollouts.push_back(std::move(r));
      if (judges.oracle) {
        const auto& q = reqs[static_cast<size_t>(p)];
        const auto facets = q.query_id.empty() ? judges.oracle->ParseQuery(q.query)
                                               : judges.oracle->FacetsOf(q.query_id);
        double relevant = 0;
        for (int i : a.items) {
          const std::string& id = ck.catalog.items[static_cast<size_t>(i)].id;
          relevant += judges.oracle->Relevant(facets, id);
          oracle_util += judges.oracle->Utility(q.user, q.state, id), ++util_n;
        }
        oracle_rel += relevant / std::max(lists.back().entries(), o.list_size);
      }
    }
    const auto scores = reward.Compute(lists, ranker_contexts);
    torch::Tensor rewards = torch::zeros({p_count, g_count});
    for (int k = 0; k < n_roll; ++k)
      rewards[k / g_count][k % g_count] = scores[static_cast<size_t>(k)].total * o.reward_scale;
    torch::Tensor adv;
    if (o.advantage == "decoupled") {
      const auto& weights = reward.weights();
      torch::Tensor components =
          torch::zeros({static_cast<int64_t>(weights.size()), p_count, g_count});
      std::vector<double> w;
      for (const auto& [name, weight] : weights) {
        const auto c = static_cast<int64_t>(w.size());
        for (int k = 0; k < n_roll; ++k)
          components[c][k / g_count][k % g_count] =
              scores[static_cast<size_t>(k)].raw.at(name) * o.reward_scale;
        w.push_back(weight);
      }
      adv = DecoupledAdvantages(components, w).reshape({n_roll});
    } else {
      adv = GroupAdvantages(rewards, o.scale_std).reshape({n_roll});
    }
    const double zero_spread_groups =
        ((rewards.amax(1) - rewards.amin(1)) < 1e-9).to(torch::kFloat32).sum().item<double>();
    // Per-token advantages: the list's for every token; with --advantage item, each song's own
    // tokens (<|item|> ... <|/item|>) take that song's advantage within its group instead (its
    // per-item model reward against the mean of every song the group's answers listed), so a
    // list's good songs are pushed up and its bad ones down, not all ten by their average.
    std::vector<std::vector<float>> tok_adv(static_cast<size_t>(n_roll));
    for (int k = 0; k < n_roll; ++k)
      tok_adv[static_cast<size_t>(k)].assign(
          static_cast<size_t>(rollouts[static_cast<size_t>(k)].length), adv[k].item<float>());
    double item_groups_flat = 0;
    if (o.advantage == "item") {
      const int open = ck.tok->TokenId(tok::kItem), close = ck.tok->TokenId(tok::kItemEnd);
      for (int p = 0; p < p_count; ++p) {
        std::vector<double> all;
        for (int g = 0; g < g_count; ++g)
          for (double v : scores[static_cast<size_t>(p * g_count + g)].items) all.push_back(v);
        if (all.empty()) continue;
        double mean = 0, var = 0;
        for (double v : all) mean += v;
        mean /= static_cast<double>(all.size());
        for (double v : all) var += (v - mean) * (v - mean);
        const double sd = std::sqrt(var / static_cast<double>(all.size()));
        if (*std::max_element(all.begin(), all.end()) - *std::min_element(all.begin(), all.end()) <
            1e-9) {
          ++item_groups_flat;
          continue;
        }
        for (int g = 0; g < g_count; ++g) {
          const size_t k = static_cast<size_t>(p * g_count + g);
          const auto& toks = results[k].tokens;
          const auto& item_r = scores[k].items;
          std::vector<std::pair<size_t, size_t>> spans;  // [open, close] positions in the answer
          for (size_t t = 0; t < toks.size(); ++t)
            if (toks[t] == open)
              spans.push_back({t, toks.size() - 1});
            else if (toks[t] == close && !spans.empty())
              spans.back().second = t;
          if (spans.size() != item_r.size() || !lists[k].invalid_items.empty())
            continue;  // keep the list's
          for (size_t j = 0; j < spans.size(); ++j) {
            const double a = (item_r[j] - mean) / (o.scale_std ? sd + 1e-4 : 1.0);
            for (size_t t = spans[j].first; t <= spans[j].second && t < tok_adv[k].size(); ++t)
              tok_adv[k][t] = static_cast<float>(a);
          }
        }
      }
    }

    // 3. Policy updates. Answers whose every token has advantage 0 carry no gradient without the
    // KL term: skipped.
    std::vector<size_t> train_idx;
    for (int k = 0; k < n_roll; ++k) {
      const auto& ta = tok_adv[static_cast<size_t>(k)];
      if (o.beta > 0 || std::any_of(ta.begin(), ta.end(), [](float a) { return a != 0.0f; }))
        train_idx.push_back(static_cast<size_t>(k));
    }
    std::vector<std::vector<size_t>> micro;
    for (size_t i = 0; i < train_idx.size(); i += static_cast<size_t>(o.update_batch))
      micro.emplace_back(
          train_idx.begin() + static_cast<std::ptrdiff_t>(i),
          train_idx.begin() + static_cast<std::ptrdiff_t>(std::min(
                                  train_idx.size(), i + static_cast<size_t>(o.update_batch))));
    double batch_tokens = 0, batch_answers = static_cast<double>(train_idx.size());
    for (size_t i : train_idx) batch_tokens += static_cast<double>(rollouts[i].length);
    if (group) {  // the loss is normalised over the whole step, every rank's answers
      const auto all = group->AllReduceSum(std::vector<double>{batch_tokens, batch_answers});
      batch_tokens = all[0], batch_answers = all[1];
    }
    const double normaliser =
        o.loss_agg == "token" ? std::max(1.0, batch_tokens) : std::max(1.0, batch_answers);
    // pi_old and pi_ref per micro-batch, before any update (pi_old = pi itself with one update).
    // With --kl exact, pi_ref's whole distributions instead (N x L x V floats per micro-batch).
    const bool exact_kl = o.beta > 0 && o.kl == "exact";
    std::vector<torch::Tensor> old_lp(micro.size()), ref_lp(micro.size());
    {
      torch::NoGradGuard ng;
      for (size_t m = 0; m < micro.size(); ++m) {
        std::vector<int64_t> st, len;
        const torch::Tensor ids = Rows(rollouts, micro[m], st, len);
        if (o.inner_updates > 1) old_lp[m] = AnswerLogProbs(policy, ids, st, len, o.temperature);
        if (o.beta > 0)
          ref_lp[m] = exact_kl ? AnswerLogSoftmax(ref, ids, st, len, o.temperature)
                               : AnswerLogProbs(ref, ids, st, len, o.temperature);
      }
    }
    const auto t_train = Clock::now();
    double replay_loss = 0;
    double loss_sum = 0, kl_sum = 0, clipped = 0, ratio_first = 0, tokens_first = 0, tokens_all = 0,
           train_rows = 0;
    const double lr = LearningRate(schedule, step);
    for (auto& group : opt.param_groups())
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    for (int u = 0; u < o.inner_updates && (batch_answers > 0 || replay); ++u) {
      opt.zero_grad();
      for (size_t m = 0; m < micro.size(); ++m) {
        std::vector<int64_t> st, len;
        const torch::Tensor ids = Rows(rollouts, micro[m], st, len);
        torch::Tensor lp, kl_exact;
        if (exact_kl) {
          const torch::Tensor full = AnswerLogSoftmax(policy, ids, st, len, o.temperature);
          lp = GatherAnswerTokens(full, ids, st, len);
          kl_exact = ExactKl(full, ref_lp[m]);
        } else {
          lp = AnswerLogProbs(policy, ids, st, len, o.temperature);
        }
        torch::Tensor a = torch::zeros({static_cast<int64_t>(micro[m].size()), lp.size(1)});
        for (size_t r = 0; r < micro[m].size(); ++r) {
          const auto& ta = tok_adv[micro[m][r]];
          auto row = a.accessor<float, 2>()[static_cast<int64_t>(r)];
          for (size_t t = 0; t < ta.size() && static_cast<int64_t>(t) < lp.size(1); ++t)
            row[static_cast<int64_t>(t)] = ta[t];
        }
        const torch::Tensor mask = LengthMask(len, lp.size(1));
        const GrpoLossParts parts =
            GrpoLoss(lp, o.inner_updates > 1 ? old_lp[m] : lp.detach(),
                     exact_kl ? torch::Tensor() : ref_lp[m], a, mask, o, normaliser, kl_exact);
        parts.loss.backward();
        loss_sum += parts.loss.item<double>() / o.inner_updates;
        clipped += parts.clipped;
        tokens_all += parts.tokens;
        train_rows += static_cast<double>(ids.numel());
        if (u == 0)
          kl_sum += parts.kl_sum, ratio_first += parts.ratio_sum, tokens_first += parts.tokens;
      }
      if (replay) {  // PPO-ptx: the replay documents' next-token loss, same step
        Rng pick = Rng::Derive(o.train.seed, "grpo-replay",
                               static_cast<uint64_t>((step * o.inner_updates + u) * ranks + rank));
        const torch::Tensor lm = ReplayLoss(policy, *replay, o.replay_docs,
                                            std::min(o.replay_tokens, engine.max_len()), pick);
        (lm * (o.replay_coef / ranks)).backward();
        replay_loss += lm.item<double>() / o.inner_updates;
      }
      if (group) group->AllReduceGradients(params);  // a rank without answers adds zeros
      torch::nn::utils::clip_grad_norm_(params, o.train.clip);
      opt.step();
    }
    const double train_s = Since(t_train);
    engine.RefreshWeights();
    if (digest.is_open()) digest << step + 1 << " " << dist::Digest(params) << "\n" << std::flush;

    // The step's figures summed over ranks (one collective), then averaged.
    std::vector<double> sums = {loss_sum,
                                kl_sum,
                                clipped,
                                ratio_first,
                                tokens_first,
                                tokens_all,
                                train_rows,
                                answer_tokens,
                                zero_spread_groups,
                                oracle_rel,
                                oracle_util,
                                static_cast<double>(util_n),
                                rewards.sum().item<double>(),
                                rewards.square().sum().item<double>(),
                                replay_loss};
    for (const auto& [name, w] : reward.weights()) {
      double raw = 0, weighted = 0;
      for (const auto& s : scores) raw += s.raw.at(name), weighted += s.weighted.at(name);
      sums.push_back(raw);
      sums.push_back(weighted);
    }
    if (group) sums = group->AllReduceSum(sums);
    loss_sum = sums[0], kl_sum = sums[1], clipped = sums[2], ratio_first = sums[3];
    tokens_first = sums[4], tokens_all = sums[5], train_rows = sums[6], answer_tokens = sums[7];
    oracle_rel = sums[9], oracle_util = sums[10], util_n = static_cast<int64_t>(sums[11]);
    replay_loss = sums[14] / ranks;
    const double zero_spread = sums[8] / o.prompts_per_step;
    const double reward_mean = sums[12] / n_roll_all;
    const double reward_std =
        std::sqrt(std::max(0.0, sums[13] / n_roll_all - reward_mean * reward_mean));

    // 4. The step's log line.
    nlohmann::json line = {
        {"step", step + 1},
        {"lr", lr},
        {"loss", loss_sum},
        {"reward_mean", reward_mean},
        {"reward_std", reward_std},
        {"zero_spread_groups", zero_spread},
        {"item_zero_spread_groups", o.advantage == "item" ? item_groups_flat / p_count : 0.0},
        {"answers_trained", static_cast<int64_t>(batch_answers)},
        {"clip_fraction", tokens_all > 0 ? clipped / tokens_all : 0.0},
        {"ratio_mean_first_update", tokens_first > 0 ? ratio_first / tokens_first : 1.0},
        {"answer_tokens", answer_tokens / n_roll_all},
        {"gen_tokens_per_s", gen_s > 0 ? answer_tokens / gen_s : 0.0},
        {"train_tokens_per_s", train_s > 0 ? train_rows / train_s : 0.0},
        {"seconds", Since(t_step)}};
    line["kl"] = o.beta > 0 && tokens_first > 0 ? nlohmann::json(kl_sum / tokens_first)
                                                : nlohmann::json(nullptr);
    if (replay) line["replay_loss"] = replay_loss;
    size_t at = 15;
    for (const auto& [name, w] : reward.weights()) {
      line["reward"][name] = sums[at++] / n_roll_all;
      line["weighted"][name] = sums[at++] / n_roll_all;
    }
    if (group) {
      line["ranks"] = ranks;
      line["allreduce_s_per_step"] =
          group->allreduce_seconds() / std::max<int64_t>(1, group->allreduce_calls());
    }
    if (judges.oracle) {
      line["oracle_relevance_at_10"] = oracle_rel / n_roll_all;
      line["oracle_utility"] = util_n ? oracle_util / static_cast<double>(util_n) : 0.0;
    }
    if (root) log << line.dump() << "\n" << std::flush;
    if (step == start) summary["first"] = line;
    summary["last"] = line;
    spdlog::info("grpo step {}/{}: reward {:.3f} (std {:.3f}), zero-spread groups {:.2f}, {:.1f} s",
                 step + 1, o.steps, line["reward_mean"].get<double>(),
                 line["reward_std"].get<double>(), zero_spread, Since(t_step));
    progress.Add(1);
    if (root && (step + 1) % o.train.ckpt_every == 0 && step + 1 < o.steps)
      SaveResumeCheckpoint(policy, opt, dir, step + 1, {{"step", step + 1}, {"seed", o.train.seed}},
                           o.train);
    if (CrashHere(o.train, "step", step + 1)) std::_Exit(9);
  }
  progress.Finish();
  policy->eval();
  if (root) SaveFinal(policy, dir + "/final", init_dir + "/tokenizer.json", o.steps);
  if (group) group->Barrier();  // the other ranks return once final/ exists
  summary["seconds"] = Since(t_all);
  return summary;
}

}  // namespace muchator
