// The pipeline's steps: SFT on synthesised triplets learns the task (held out), and the GRPO
// step's reward-hacking alarm.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "core/cpu.h"
#include "core/file.h"
#include "core/threads.h"
#include "data/store.h"
#include "eval/generation.h"
#include "infer/checkpoint.h"
#include "pipeline/grpo_step.h"
#include "reward/ranker_train.h"
#include "support/tiny_world.h"
#include "synth/cluster.h"
#include "synth/query_pool.h"
#include "synth/sft.h"
#include "synth/uq2i.h"
#include "train/trainer.h"
#include "world/oracle.h"

namespace muchator {
namespace {

TEST(GrpoMathTest, RewardHackingAlarmNeedsALearnedRiseAndATruthFallInOneMode) {
  auto figs = [](double judge, double pers, double rel, double util) {
    ListMetrics m;
    m.relevance = judge, m.personalization = pers;
    m.oracle.emplace();
    m.oracle->relevance_at_10 = rel, m.oracle->utility = util;
    return m;
  };
  auto eval = [](ListMetrics unconstrained, ListMetrics constrained) {
    OfflineEvaluation e;
    e.unconstrained = std::move(unconstrained), e.constrained = std::move(constrained);
    return e;
  };
  const OfflineEvaluation before = eval(figs(0.69, 6.3, 0.81, -0.38), figs(0.7, 6.0, 0.5, -0.9));
  // The judge's relevance rises while the oracle's utility falls: raised, naming both.
  OfflineEvaluation after = eval(figs(0.78, 6.3, 0.81, -0.54), figs(0.7, 6.0, 0.5, -0.9));
  const HackingAlarm a = RewardHackingAlarm(before, after);
  EXPECT_TRUE(a.raised);
  ASSERT_EQ(a.reasons.size(), 1u);
  EXPECT_EQ(a.reasons[0], "unconstrained: judge relevance +0.090 while oracle utility -0.160");
  EXPECT_EQ(ToJson(a).dump(),
            R"({"raised":true,"reasons":["unconstrained: judge relevance +0.090 while oracle )"
            R"(utility -0.160"]})");
  // Both rise (honest learning), or both fall, or the change is within the tolerance: not raised.
  after.unconstrained = figs(0.78, 6.5, 0.85, -0.30);
  EXPECT_FALSE(RewardHackingAlarm(before, after).raised);
  after.unconstrained = figs(0.60, 6.0, 0.70, -0.50);
  EXPECT_FALSE(RewardHackingAlarm(before, after).raised);
  after.unconstrained = figs(0.692, 6.3, 0.809, -0.38);
  EXPECT_FALSE(RewardHackingAlarm(before, after).raised);
  // A rise in one mode and a fall in the other is not the same answers: not raised.
  after = eval(figs(0.78, 6.3, 0.81, -0.38), figs(0.7, 6.0, 0.4, -0.9));
  EXPECT_FALSE(RewardHackingAlarm(before, after).raised);
  // Without the oracle's figures the alarm cannot be raised, and says why.
  OfflineEvaluation no_truth, no_truth_after;
  no_truth.unconstrained.emplace().relevance = 0.5;
  no_truth_after.unconstrained.emplace().relevance = 0.9;
  const HackingAlarm n = RewardHackingAlarm(no_truth, no_truth_after);
  EXPECT_FALSE(n.raised);
  ASSERT_EQ(n.reasons.size(), 1u);
  EXPECT_NE(n.reasons[0].find("no oracle"), std::string::npos);
}

// A short SFT run on synthesised triplets lowers the held-out loss of the SFT stage and makes
// generated lists more relevant to the request and better suited to the listener (oracle
// relevance@10 and utility) than the untuned model's, for listeners whose triplets it never saw.
TEST(SftTest, ShortRunLowersLossAndRaisesRelevanceAndUtility) {
  SetupThreads(1);
  testing::TinyWorld w("sft", 4);
  const std::string dir = w.dir;
  const world::Oracle& oracle = *w.oracle;
  Store& store = *w.store;
  const Catalog catalog = Catalog::FromStore(store);
  // The untuned checkpoint: a random tiny model with a trained tokenizer and the atomic codec (the
  // main job's default: one token per song, so an answer is ~10 song tokens, not ~80 title ones).
  const std::string base = w.MakeCheckpoint("base", 2, "atomic");
  // Triplets.
  const QueryPool pool =
      BuildQueryPool(store, catalog, TemplateQueryGenerator(), HasWorldQueryForm, {});
  Checkpoint ck = LoadCheckpoint(base);
  const int k = ClusterCount(static_cast<int64_t>(pool.texts.size()));
  const QueryClusters clusters =
      GroupSongs(pool, KMeans(EmbedTexts(ck.model, *ck.tok, pool.texts), k, 1), k);
  RankerTrainOptions ro;
  ro.epochs = 2;
  Ranker ranker = TrainRanker(store, ro, nullptr, nullptr);
  {
    AtomicWriter w(dir + "/triplets.jsonl");
    SynthesizeUq2i(store, catalog, pool, clusters, ranker, nullptr, {},
                   [&](const Uq2iTriplet& t) { w.WriteLine(t.ToJson(catalog).dump()); });
    w.Commit();
  }
  SftOptions so;
  so.history = 5;  // short prompts keep the test fast
  so.heldout_users_percent = 15;
  so.train.seq_len = 512;
  // 250 steps. With the atomic codec relevance@10 went 0.077 -> 0.153 at 150 steps and -> 0.415
  // at 300 (utility -1.39 -> -0.80 / -0.90), fp32, 2026-12-07; with the title codec it took 800
  // steps to reach 0.173, and this test three times as long.
  so.train.steps = 250;
  so.train.lr = 3e-3;
  so.train.eval_every = so.train.ckpt_every = so.train.steps;
  // bf16 where the CPU multiplies in it (the main job's default; ~1/4 faster here), fp32 elsewhere
  // (bf16 emulated would be slower): the bar holds in both.
  so.train.bf16 = CpuHasAvx512Bf16();
  ASSERT_GT(BuildSftCorpus(store, ck, base, dir + "/triplets.jsonl", dir + "/corpus", so), 200);
  GenerationEvalOptions eo;
  eo.queries = 60;
  eo.history = 5;
  eo.max_new_tokens = 160;
  eo.triplets = dir + "/corpus/sft_heldout.jsonl";  // users whose triplets were not trained on
  const auto before = EvaluateGeneration(store, ck, oracle, eo);
  const double loss_before = HeldoutLoss(ck.model, dir + "/corpus", "sft", so.train);
  Qwen3ForCausalLM tuned = LoadModel(base);
  const StageResult r = TrainStage(tuned, dir + "/corpus", {"sft"}, {"sft"}, dir, "sft", so.train,
                                   false, dir + "/corpus/tokenizer.json");
  Checkpoint after_ck = LoadCheckpoint(dir + "/sft/final");
  const auto after = EvaluateGeneration(store, after_ck, oracle, eo);
  std::printf("held-out loss %.3f -> %.3f\nbefore %s\nafter  %s\n", loss_before,
              r.heldout[0].second, ToJson(before).dump().c_str(), ToJson(after).dump().c_str());
  EXPECT_LT(r.heldout[0].second, loss_before - 0.5);
  // The tuned model's lists fit the request (oracle relevance@10; ~0.012 standard error with 600
  // judged entries) and suit their listeners (oracle utility) better than the untuned model's.
  ASSERT_TRUE(before.constrained && before.constrained->oracle);
  ASSERT_TRUE(after.constrained && after.constrained->oracle);
  EXPECT_GT(after.constrained->oracle->relevance_at_10,
            before.constrained->oracle->relevance_at_10 + 0.05);
  EXPECT_GT(after.constrained->oracle->utility, before.constrained->oracle->utility + 0.1);
  EXPECT_EQ(after.constrained->well_formed, 1.0);
}

}  // namespace
}  // namespace muchator
