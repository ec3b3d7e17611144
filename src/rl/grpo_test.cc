#include "rl/grpo.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/threads.h"
#include "corpus/shard.h"
#include "infer/checkpoint.h"
#include "infer/engine.h"
#include "support/tiny_world.h"
#include "text/chat.h"
#include "text/tokenizer.h"

namespace muchator {
namespace {

TEST(GrpoMathTest, AdvantagesAreZeroForEqualRewardsAndCentredOtherwise) {
  const torch::Tensor r =
      torch::tensor({0.3f, 0.3f, 0.3f, 0.3f, 0.0f, 1.0f, 0.5f, 0.5f}).reshape({2, 4});
  for (const bool scale : {false, true}) {
    const torch::Tensor a = GroupAdvantages(r, scale);
    EXPECT_TRUE(torch::equal(a[0], torch::zeros({4}))) << a;
    EXPECT_NEAR(a[1].sum().item<float>(), 0.0f, 1e-6);
    EXPECT_GT(a[1][1].item<float>(), 0.0f);
    EXPECT_LT(a[1][0].item<float>(), 0.0f);
  }
  // Scaled: the group's advantages have unit (population) std.
  EXPECT_NEAR(GroupAdvantages(r, true)[1].std(/*unbiased=*/false).item<float>(), 1.0f, 1e-3);
}

// Decoupled advantages: a reward that spreads 100 times less than another moves the answers as
// much; in the plain weighted sum it vanishes. Group of 4: reward a ranks answers 0 < 1 < 2 < 3
// with a spread of 0.01, reward b ranks them the other way with a spread of 1.
TEST(GrpoMathTest, DecoupledAdvantagesGiveEachRewardItsOwnScale) {
  const torch::Tensor a = torch::tensor({0.0f, 0.1f, 0.2f, 0.3f}).reshape({1, 4});
  const torch::Tensor b = torch::tensor({30.0f, 20.0f, 10.0f, 0.0f}).reshape({1, 4});
  const torch::Tensor summed = GroupAdvantages(a + b, true);
  EXPECT_GT(summed[0][0].item<float>(), summed[0][3].item<float>());  // b wins the sum
  const torch::Tensor za = GroupAdvantages(a, true);
  // Equal and opposite standardised rewards cancel: no answer is preferred.
  const torch::Tensor d = DecoupledAdvantages(torch::stack({a, b}), {1.0, 1.0});
  EXPECT_LT(d.abs().max().item<float>(), 1e-2) << d;
  // Weighted 2:1, a's order wins: (2 z_a + z_b) / 3 = z_a / 3.
  const torch::Tensor w = DecoupledAdvantages(torch::stack({a, b}), {2.0, 1.0});
  EXPECT_LT(w[0][0].item<float>(), w[0][3].item<float>());
  EXPECT_TRUE(torch::allclose(w, za / 3, 1e-2, 1e-2)) << w;
  // A reward without spread in a group adds nothing there (its weight still counts).
  const torch::Tensor flat = torch::full({1, 4}, 0.7f);
  EXPECT_TRUE(torch::allclose(DecoupledAdvantages(torch::stack({a, flat}), {1.0, 3.0}), za / 4,
                              1e-5, 1e-5));
  EXPECT_THROW(DecoupledAdvantages(torch::stack({a, b}), {1.0}), Error);
}

TEST(GrpoMathTest, RatioKlAndClipping) {
  torch::manual_seed(3);
  GrpoOptions o;
  o.beta = 0.1;
  const torch::Tensor base = torch::randn({3, 5}) - 2;
  const torch::Tensor mask =
      torch::tensor({1.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f, 0.f, 0.f, 1.f, 0.f, 0.f, 0.f, 0.f})
          .reshape({3, 5});
  const torch::Tensor adv = torch::tensor({1.0f, -0.5f, 2.0f});
  // First inner update: pi_old = pi, so r = 1; the policy equals the reference, so KL = 0; the
  // gradient is then -A / tokens per answer token (the KL's gradient is 0 at the reference).
  torch::Tensor logp = base.clone().requires_grad_(true);
  GrpoLossParts p =
      GrpoLoss(logp, logp.detach(), logp.detach(), adv, mask, o, mask.sum().item<double>());
  EXPECT_DOUBLE_EQ(p.ratio_sum, p.tokens);
  EXPECT_DOUBLE_EQ(p.kl_sum, 0.0);
  EXPECT_DOUBLE_EQ(p.clipped, 0.0);
  p.loss.backward();
  const torch::Tensor want = -adv.unsqueeze(1) * mask / mask.sum();
  EXPECT_TRUE(torch::allclose(logp.grad(), want, 1e-5, 1e-7)) << logp.grad();
  // A policy far above pi_old on positive-advantage answers is clipped: no gradient from them.
  logp = base.clone().requires_grad_(true);
  o.beta = 0;
  p = GrpoLoss(logp, logp.detach() - 0.5, torch::Tensor(), adv, mask, o, mask.sum().item<double>());
  p.loss.backward();
  EXPECT_DOUBLE_EQ(p.clipped,
                   5.0 + 1.0);  // answers 0 and 2 (A > 0): 5 + 1 tokens, r = e^0.5 > 1.28
  EXPECT_TRUE(torch::equal(logp.grad()[0], torch::zeros({5})));
  EXPECT_NE(logp.grad()[1][0].item<float>(), 0.0f);  // A < 0 with r > 1: the unclipped branch
  // KL of a different reference is positive.
  p = GrpoLoss(logp, logp.detach(), logp.detach() + 0.3, adv, mask, GrpoOptions{}, 1.0);
  EXPECT_GT(p.kl_sum, 0.0);
  // Sequence aggregation: each answer's token mean, then the mean over answers.
  o.loss_agg = "sequence";
  logp = base.clone().requires_grad_(true);
  GrpoLoss(logp, logp.detach(), torch::Tensor(), adv, mask, o, 3.0).loss.backward();
  EXPECT_NEAR(logp.grad()[2][0].item<float>(), -2.0f / 1 / 3, 1e-6);
  EXPECT_NEAR(logp.grad()[0][0].item<float>(), -1.0f / 5 / 3, 1e-6);
  // Per-token advantages (--advantage item): a row of equal values is the answer's advantage;
  // each token's gradient is then its own advantage's.
  o.loss_agg = "token";
  const torch::Tensor per_token = adv.unsqueeze(1).expand({3, 5}).clone();
  torch::Tensor a1 = base.clone().requires_grad_(true), a2 = base.clone().requires_grad_(true);
  GrpoLoss(a1, a1.detach(), torch::Tensor(), adv, mask, o, 7.0).loss.backward();
  GrpoLoss(a2, a2.detach(), torch::Tensor(), per_token, mask, o, 7.0).loss.backward();
  EXPECT_TRUE(torch::allclose(a1.grad(), a2.grad()));
  torch::Tensor mixed = per_token.clone();
  mixed[0][2] = -3.0f;  // one song of answer 0 was bad
  torch::Tensor a3 = base.clone().requires_grad_(true);
  GrpoLoss(a3, a3.detach(), torch::Tensor(), mixed, mask, o, 7.0).loss.backward();
  EXPECT_NEAR(a3.grad()[0][2].item<float>(), 3.0f / 7, 1e-6);
  EXPECT_NEAR(a3.grad()[0][1].item<float>(), -1.0f / 7, 1e-6);
}

TEST(GrpoMathTest, ExactKlSeesSongsThatWereNotSampled) {
  // Two positions over a 4-token vocabulary. At position 0 the sampled token (0) keeps its
  // probability while the mass among the others moves: k3 on the sampled token says 0, the exact
  // KL does not. At position 1 nothing moves.
  const torch::Tensor p =
      torch::tensor({0.5f, 0.3f, 0.1f, 0.1f, 0.25f, 0.25f, 0.25f, 0.25f}).reshape({1, 2, 4}).log();
  const torch::Tensor q =
      torch::tensor({0.5f, 0.1f, 0.3f, 0.1f, 0.25f, 0.25f, 0.25f, 0.25f}).reshape({1, 2, 4}).log();
  const torch::Tensor kl = ExactKl(p, q);
  ASSERT_EQ(kl.sizes(), (std::vector<int64_t>{1, 2}));
  const double want = 0.3 * std::log(0.3 / 0.1) + 0.1 * std::log(0.1 / 0.3);
  EXPECT_NEAR(kl[0][0].item<double>(), want, 1e-6);
  EXPECT_NEAR(kl[0][1].item<double>(), 0.0, 1e-7);
  const torch::Tensor sampled = p.select(2, 0), sampled_ref = q.select(2, 0);  // (1, 2)
  GrpoOptions o;
  o.beta = 2.0;
  const torch::Tensor mask = torch::ones({1, 2}), zero_adv = torch::zeros({1});
  const GrpoLossParts k3 = GrpoLoss(sampled, sampled, sampled_ref, zero_adv, mask, o, 2.0);
  EXPECT_NEAR(k3.kl_sum, 0.0, 1e-7);
  const GrpoLossParts exact = GrpoLoss(sampled, sampled, sampled_ref, zero_adv, mask, o, 2.0, kl);
  EXPECT_NEAR(exact.kl_sum, want, 1e-6);
  EXPECT_NEAR(exact.loss.item<double>(), 2.0 * want / 2.0, 1e-6);  // beta x KL over 2 tokens
}

std::vector<nlohmann::json> ReadLog(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

bool SameWeights(const std::string& a, const std::string& b) {
  Qwen3ForCausalLM x = LoadModel(a), y = LoadModel(b);
  auto py = y->named_parameters();
  for (const auto& p : x->named_parameters())
    if (!torch::equal(p.value(), py[p.key()])) return false;
  return true;
}

// Mean toy reward of `n` sampled constrained answers per request (fixed seeds).
double SampledShare(const std::string& ckpt, Store& store, const std::vector<EvalRequest>& requests,
                    const std::function<bool(int)>& good, int n) {
  Checkpoint ck = LoadCheckpoint(ckpt);
  Engine engine(ck.model, *ck.tok, ck.grammar.get());
  std::vector<GenerationRequest> gen;
  for (size_t q = 0; q < requests.size(); ++q) {
    UserContext ctx = UserContextFromStore(store, ck.catalog, requests[q].user, requests[q].ts, 5);
    for (int k = 0; k < n; ++k) {
      GenerationRequest r;
      r.prompt = RenderPrompt(*ck.tok, *ck.codec, ctx, requests[q].query, 5).ids;
      r.sampling.temperature = 1.0;
      r.sampling.seed = 1000 + q * n + k;
      r.sampling.max_new_tokens = 4096;
      r.constraint = ConstraintOptions{};
      gen.push_back(std::move(r));
    }
  }
  double hits = 0, items = 0;
  for (const auto& res : engine.Generate(std::move(gen)))
    for (int i : res.items) hits += good(i), ++items;
  return hits / items;
}

bool Even(int item) { return item % 2 == 0; }

// "test_even": the share of listed songs whose catalog index is even; "test_flat": always 0.5.
void RegisterToyRewards() {
  RewardSpec toy;
  toy.description = "test: share of even catalog indexes";
  toy.fn = [](const ScoredList& l, const RewardModels&) {
    double s = 0;
    for (int i : l.in->items) s += Even(i);
    return l.in->items.empty() ? 0.0 : s / static_cast<double>(l.in->items.size());
  };
  RegisterReward("test_even", toy);
  RewardSpec flat;
  flat.description = "test: constant";
  flat.fn = [](const ScoredList&, const RewardModels&) { return 0.5; };
  RegisterReward("test_flat", flat);
  // The share of listed songs whose index has the parity of the request's length.
  RewardSpec parity;
  parity.description = "test: share of songs with the request's parity";
  parity.fn = [](const ScoredList& l, const RewardModels&) {
    double s = 0;
    for (int i : l.in->items) s += (i % 2) == static_cast<int>(l.in->query.size() % 2);
    return l.in->items.empty() ? 0.0 : s / static_cast<double>(l.in->items.size());
  };
  RegisterReward("test_parity", parity);
}

GrpoOptions ToyOptions() {
  GrpoOptions o;
  o.history = 5;
  o.constrained = true;  // a random model's free text is not a list
  o.group_size = 6;
  o.prompts_per_step = 4;
  o.update_batch = 12;
  o.max_new_tokens = 4096;
  return o;
}

// One process for the tiny world: GRPO on a toy reward (the share of listed songs whose catalog
// index is even) raises the policy's share of such songs; a step where every reward is equal
// leaves the weights exactly as they were (beta = 0); the first step's ratio is 1 and its KL 0.
TEST(GrpoTest, ToyRewardRisesAndEqualRewardsChangeNothing) {
  SetupThreads(1);
  testing::TinyWorld w("grpo", 5);
  const std::string init = w.MakeCheckpoint("init", 7);
  const RlSplit split = LoadRlRequests(*w.store, 0);
  ASSERT_GE(split.train.size(), 8u);
  RegisterToyRewards();
  GrpoOptions o = ToyOptions();

  // The served and label rewards read each request's own lists: with every song of the
  // request's parity served (and labelled), each equals the parity reward on every step's
  // rollouts; without the lists they need it is an error.
  {
    const size_t songs = LoadCheckpoint(init).catalog.items.size();
    std::vector<RequestTargets> targets, served_only;
    for (const auto& r : split.train) {
      auto& t = targets.emplace_back();
      for (size_t i = r.query.size() % 2; i < songs; i += 2)
        t.served.push_back(static_cast<int>(i));
      t.labelled = t.served;
      served_only.push_back({t.served, {}});
    }
    o.rewards = "served=1,label=1,test_parity=1";
    o.steps = 2;
    EXPECT_THROW(TrainGrpo(*w.store, init, split.train, {}, o, w.dir + "/served", false), Error);
    EXPECT_THROW(
        TrainGrpo(*w.store, init, split.train, {}, o, w.dir + "/served", false, served_only),
        Error);
    TrainGrpo(*w.store, init, split.train, {}, o, w.dir + "/served", false, targets);
    for (const auto& line : ReadLog(w.dir + "/served/grpo/log.jsonl")) {
      const auto& reward = line.at("reward");
      EXPECT_NEAR(reward.at("served").get<double>(), reward.at("test_parity").get<double>(), 1e-9);
      EXPECT_NEAR(reward.at("label").get<double>(), reward.at("test_parity").get<double>(), 1e-9);
      EXPECT_GT(reward.at("served").get<double>(), 0.0);
    }
  }

  // Equal rewards, beta = 0: no weight moves.
  o.rewards = "test_flat=1";
  o.beta = 0;
  o.steps = 1;
  TrainGrpo(*w.store, init, split.train, {}, o, w.dir + "/flat", false);
  EXPECT_TRUE(SameWeights(init, w.dir + "/flat/grpo/final"));
  EXPECT_EQ(ReadLog(w.dir + "/flat/grpo/log.jsonl").at(0)["zero_spread_groups"].get<double>(), 1.0);

  // Equal rewards with language-model replay (PPO-ptx): the replay documents alone move the
  // weights, and their loss falls.
  {
    auto tok = Tokenizer::LoadHf(init + "/tokenizer.json");
    ShardWriter sw(w.dir + "/corpus", "stage0_general");
    for (int d = 0; d < 8; ++d) {
      TokenSeq doc;
      doc.Text(*tok, "the quiet river runs down to the sea at night, song " + std::to_string(d),
               true);
      sw.Add(doc);
    }
    sw.Finish();
  }
  o.replay_corpus = w.dir + "/corpus";
  o.replay_coef = 1.0;
  o.steps = 6;
  o.train.lr = 3e-3;
  TrainGrpo(*w.store, init, split.train, {}, o, w.dir + "/replay", false);
  EXPECT_FALSE(SameWeights(init, w.dir + "/replay/grpo/final"));
  const auto replay = ReadLog(w.dir + "/replay/grpo/log.jsonl");
  ASSERT_EQ(replay.size(), 6u);
  std::printf("replay loss: %.3f -> %.3f\n", replay.front()["replay_loss"].get<double>(),
              replay.back()["replay_loss"].get<double>());
  EXPECT_LT(replay.back()["replay_loss"].get<double>(),
            replay.front()["replay_loss"].get<double>() - 0.5);
  o.replay_coef = 0;
  o.replay_corpus.clear();

  // The toy reward, with a reference model and two inner updates per batch.
  o.rewards = "test_even=1";
  o.beta = 0.02;
  o.inner_updates = 2;
  o.steps = 12;
  o.train.lr = 3e-3;
  TrainGrpo(*w.store, init, split.train, {}, o, w.dir + "/toy", false);
  const auto log = ReadLog(w.dir + "/toy/grpo/log.jsonl");
  ASSERT_EQ(log.size(), 12u);
  EXPECT_NEAR(log[0]["ratio_mean_first_update"].get<double>(), 1.0, 1e-5);
  EXPECT_NEAR(log[0]["kl"].get<double>(), 0.0, 1e-6);
  EXPECT_GT(log.back()["kl"].get<double>(), 0.0);
  EXPECT_FALSE(SameWeights(init, w.dir + "/toy/grpo/final"));
  const std::vector<EvalRequest> probe(split.train.begin(), split.train.begin() + 8);
  const double before = SampledShare(init, *w.store, probe, Even, 8);
  const double after = SampledShare(w.dir + "/toy/grpo/final", *w.store, probe, Even, 8);
  std::printf("share of even-index songs: %.3f -> %.3f\n", before, after);
  EXPECT_GT(after, before + 0.1);

  // --kl exact: the whole distribution's KL, 0 at the reference and positive once the policy moved.
  o.kl = "exact";
  o.inner_updates = 1;
  o.steps = 3;
  TrainGrpo(*w.store, init, split.train, {}, o, w.dir + "/exact", false);
  const auto exact = ReadLog(w.dir + "/exact/grpo/log.jsonl");
  ASSERT_EQ(exact.size(), 3u);
  EXPECT_NEAR(exact[0]["kl"].get<double>(), 0.0, 1e-6);
  EXPECT_GT(exact.back()["kl"].get<double>(), 0.0);
}

// A run interrupted after a checkpoint and resumed ends where an uninterrupted run does: same
// requests, same sampling seeds, same weights.
TEST(GrpoTest, ResumeContinuesTheSameRun) {
  SetupThreads(1);
  testing::TinyWorld w("grpo_resume", 6);
  const std::string init = w.MakeCheckpoint("init", 8);
  const RlSplit split = LoadRlRequests(*w.store, 0);
  RegisterToyRewards();
  GrpoOptions o = ToyOptions();
  o.rewards = "test_even=1";
  o.beta = 0.02;
  o.train.lr = 3e-3;
  o.train.ckpt_every = 1;
  o.steps = 3;
  TrainGrpo(*w.store, init, split.train, {}, o, w.dir + "/whole", false);
  o.steps = 2;  // "killed" after step 2: its last checkpoint is ckpt-1
  TrainGrpo(*w.store, init, split.train, {}, o, w.dir + "/resumed", false);
  ASSERT_TRUE(std::filesystem::exists(w.dir + "/resumed/grpo/ckpt-1"));
  o.steps = 3;
  TrainGrpo(*w.store, init, split.train, {}, o, w.dir + "/resumed", true);
  const auto a = ReadLog(w.dir + "/whole/grpo/log.jsonl"),
             b = ReadLog(w.dir + "/resumed/grpo/log.jsonl");
  ASSERT_EQ(b.size(), 3u);  // steps 1 (kept), 2 and 3 (after the resume from ckpt-1)
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(a[i]["reward_mean"], b[i]["reward_mean"]) << i;
  Qwen3ForCausalLM x = LoadModel(w.dir + "/whole/grpo/final"),
                   y = LoadModel(w.dir + "/resumed/grpo/final");
  auto py = y->named_parameters();
  for (const auto& p : x->named_parameters())
    EXPECT_TRUE(torch::allclose(p.value(), py[p.key()], 1e-5, 1e-6)) << p.key();
}

}  // namespace
}  // namespace muchator
