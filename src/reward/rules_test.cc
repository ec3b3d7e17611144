#include "reward/rules.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "reward/hybrid.h"

namespace muchator {
namespace {

// Six songs: 0 "Rain" by a1, 1 "Rain (Live)" by a1, 2 "Rain - 2011 Remaster" by a2, 3 "Sun" by a2,
// 4 "Moon" by a3, 5 "Sky" by a4.
Catalog MakeCatalog() {
  Catalog c;
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"Rain", "a1"}, {"Rain (Live)", "a1"}, {"Rain - 2011 Remaster", "a2"},
      {"Sun", "a2"},  {"Moon", "a3"},        {"Sky", "a4"}};
  for (size_t i = 0; i < rows.size(); ++i)
    c.items.push_back(
        {"s" + std::to_string(i), rows[i].first, "Artist " + rows[i].second, {}, rows[i].second});
  c.BuildIndex();
  return c;
}

ListInput List(std::vector<int> items, std::vector<std::string> invalid = {},
               bool well_formed = true, int expected = 4) {
  ListInput in;
  in.items = std::move(items);
  in.invalid_items = std::move(invalid);
  in.well_formed = well_formed;
  in.expected_items = expected;
  in.query = "q";
  in.context = 0;
  return in;
}

TEST(BaseTitleTest, StripsVersionDecorations) {
  EXPECT_EQ(BaseTitle("Rain (Live)"), "rain");
  EXPECT_EQ(BaseTitle("Rain - 2011 Remaster"), "rain");
  EXPECT_EQ(BaseTitle("Rain [Acoustic Version]"), "rain");
  EXPECT_EQ(BaseTitle("Rain - Live at Wembley"), "rain");
  EXPECT_EQ(BaseTitle("Rain - Song for Anna"), "rain song for anna");  // not a version word: kept
}

TEST(RulesTest, EmptyListScoresZeroEverywhere) {
  const Catalog c = MakeCatalog();
  const ListInput empty = List({});
  EXPECT_EQ(FormatReward(empty), 0.0);
  EXPECT_EQ(FactualityReward(empty), 0.0);
  EXPECT_EQ(DiversityReward(empty, c), 0.0);
  EXPECT_EQ(DedupReward(empty), 0.0);
}

TEST(RulesTest, FormatNeedsWellFormedAndTheRightLength) {
  EXPECT_EQ(FormatReward(List({3, 4, 5, 0})), 1.0);
  EXPECT_EQ(FormatReward(List({3, 4}, {"Made Up - Nobody"})), 0.5);  // 3 entries of 4
  EXPECT_EQ(FormatReward(List({3, 4, 5, 0}, {}, /*well_formed=*/false)), 0.0);
}

TEST(RulesTest, FactualityIsTheShareOfCatalogEntries) {
  EXPECT_EQ(FactualityReward(List({3, 4, 5, 0})), 1.0);
  EXPECT_EQ(FactualityReward(List({3}, {"x", "y", "z"})), 0.25);
  EXPECT_EQ(FactualityReward(List({}, {"x", "y"})), 0.0);  // unknown items only
}

TEST(RulesTest, DiversityPenalisesRepeatedArtistsAndTitleVariants) {
  const Catalog c = MakeCatalog();
  EXPECT_EQ(DiversityReward(List({0, 3, 4, 5}), c), 1.0);
  EXPECT_EQ(DiversityReward(List({0, 1, 4, 5}), c),
            0.75);  // 1 = same artist and a variant: one penalty
  EXPECT_EQ(DiversityReward(List({0, 2, 4, 5}), c), 0.75);  // 2 = variant by another artist
  EXPECT_EQ(DiversityReward(List({0, 1, 2, 3}), c), 0.25);  // 1, 2 variants, 3 repeats a2
  EXPECT_EQ(DiversityReward(List({4, 4, 4, 4}), c), 0.25);  // all duplicates
  EXPECT_EQ(DiversityReward(List({}, {"x"}), c), 0.0);
}

TEST(RulesTest, DedupPenalisesRecentPositives) {
  ListInput in = List({0, 3, 4}, {"x"});
  in.recent_positive = {3, 5};
  EXPECT_EQ(DedupReward(in), 0.75);
  std::vector<HistoryEntry> history = {
      {{}, 0, Feedback::kLike}, {{}, 3, Feedback::kSkip}, {{}, 4, Feedback::kFinish}};
  ParsedAnswer a;
  a.items = {0, 3, 4};
  a.ended = true;
  const ListInput made = MakeListInput(a, "q", 3, 0, history);
  EXPECT_EQ(made.recent_positive, (std::unordered_set<int>{0, 4}));
  EXPECT_NEAR(DedupReward(made), 1.0 / 3, 1e-12);
  EXPECT_EQ(FormatReward(made), 1.0);
}

TEST(HybridTest, MatchesAHandComputation) {
  const Catalog c = MakeCatalog();
  RewardModels m;
  m.catalog = &c;
  // Judge: items 0, 3, 4 relevant (P = 0.9), others 0.2. Ranker: score = item index + 1.
  m.relevance = [](std::span<const std::string>, std::span<const int> items, std::span<const int>) {
    std::vector<float> p;
    for (int i : items) p.push_back(i == 0 || i == 3 || i == 4 ? 0.9f : 0.2f);
    return p;
  };
  m.personal = [](std::span<const RankerContext>, std::span<const int> items,
                  std::span<const int>) {
    std::vector<float> s;
    for (int i : items) s.push_back(static_cast<float>(i + 1));
    return s;
  };
  HybridReward h(ParseRewardWeights("rel_pers=2, format=0.5,fact=0.25,div=0.25,dedup=1"), m);
  std::vector<ListInput> lists = {List({0, 1, 4}, {"ghost"}), List({})};
  lists[0].recent_positive = {4};
  std::vector<RankerContext> ctx(1);
  const auto r = h.Compute(lists, ctx);
  // Entries 4. rel_pers = (0.9>=.5: 1*1/10 + 0 + 1*5/10 + 0) / 4 = 0.15; format 1 (4 of 4);
  // fact 3/4; div: 1 repeats 0 -> 2/3; dedup 1 - 1/4.
  EXPECT_NEAR(r[0].raw.at("rel_pers"), 0.15, 1e-6);
  EXPECT_EQ(r[0].raw.at("format"), 1.0);
  EXPECT_EQ(r[0].raw.at("fact"), 0.75);
  EXPECT_NEAR(r[0].raw.at("div"), 2.0 / 3, 1e-12);
  EXPECT_EQ(r[0].raw.at("dedup"), 0.75);
  const double total = 2 * 0.15 + 0.5 * 1 + 0.25 * 0.75 + 0.25 * 2.0 / 3 + 1 * 0.75;
  EXPECT_NEAR(r[0].total, total, 1e-6);
  EXPECT_NEAR(r[0].weighted.at("rel_pers"), 0.3, 1e-6);
  EXPECT_EQ(r[1].total, 0.0);
  // Per item (catalog items 0, 1, 4): what each earned of rel_pers, weighted: 2 * 1 * 1/10,
  // 2 * 0 (judged irrelevant), 2 * 1 * 5/10; summed over the 4 entries it is rel_pers's part.
  ASSERT_EQ(r[0].items.size(), 3u);
  EXPECT_NEAR(r[0].items[0], 0.2, 1e-6);
  EXPECT_NEAR(r[0].items[1], 0.0, 1e-6);
  EXPECT_NEAR(r[0].items[2], 1.0, 1e-6);
  EXPECT_NEAR((r[0].items[0] + r[0].items[1] + r[0].items[2]) / 4, r[0].weighted.at("rel_pers"),
              1e-6);
  EXPECT_TRUE(r[1].items.empty());
  // The soft product: P(relevant) * score / 10 = (0.9 * 1 + 0.2 * 2 + 0.9 * 5) / 10 / 4 entries.
  HybridReward soft(ParseRewardWeights("prel_pers=1"), m);
  const auto sr = soft.Compute(lists, ctx);
  EXPECT_NEAR(sr[0].raw.at("prel_pers"), (0.9 * 1 + 0.2 * 2 + 0.9 * 5) / 10 / 4, 1e-6);
  ASSERT_EQ(sr[0].items.size(), 3u);
  EXPECT_NEAR(sr[0].items[1], 0.2 * 2 / 10, 1e-6);  // judged irrelevant, still earns its share
  // The graded gate (threshold 0.5): (P - 0.5) / 0.5 * score / 10, 0 below the threshold:
  // items 0 and 4 (P 0.9) earn 0.8 of their score, item 1 (P 0.2) nothing.
  HybridReward graded(ParseRewardWeights("crel_pers=2"), m);
  const auto gr = graded.Compute(lists, ctx);
  ASSERT_EQ(gr[0].items.size(), 3u);
  EXPECT_NEAR(gr[0].items[0], 2 * 0.8 * 1 / 10, 1e-6);
  EXPECT_NEAR(gr[0].items[1], 0.0, 1e-6);
  EXPECT_NEAR(gr[0].items[2], 2 * 0.8 * 5 / 10, 1e-6);
  EXPECT_NEAR(gr[0].raw.at("crel_pers"), 0.8 * (1 + 5) / 10 / 4, 1e-6);
  // Two per-item rewards: each item carries both, weighted.
  HybridReward both(ParseRewardWeights("rel=1,pers=0.5"), m);
  const auto br = both.Compute(lists, ctx);
  ASSERT_EQ(br[0].items.size(), 3u);
  EXPECT_NEAR(br[0].items[1], 0 + 0.5 * 2 / 10, 1e-6);
  EXPECT_NEAR(br[0].items[2], 1 + 0.5 * 5 / 10, 1e-6);
  // The judge's P alone (prel): (0.9 + 0.2 + 0.9) / 4 entries; the breakdown carries each
  // catalog item's P (what the evaluation measures the judge with), and none without the judge.
  HybridReward p(ParseRewardWeights("prel=1"), m);
  const auto pr = p.Compute(lists, ctx);
  EXPECT_NEAR(pr[0].raw.at("prel"), (0.9 + 0.2 + 0.9) / 4, 1e-6);
  EXPECT_EQ(pr[0].relevance, (std::vector<float>{0.9f, 0.2f, 0.9f}));
  // Rules alone: no per-item reward, no judgement.
  HybridReward rules(ParseRewardWeights("format=1,fact=1"), m);
  EXPECT_TRUE(rules.Compute(lists, ctx)[0].items.empty());
  EXPECT_TRUE(rules.Compute(lists, ctx)[0].relevance.empty());
}

// The served reward: the share of the list's entries the served list also holds, per item 1 or 0;
// it needs neither the judge nor the ranking model, and a list without a served list earns 0.
TEST(HybridTest, ServedRewardIsTheShareOfEntriesTheServedListHolds) {
  const Catalog c = MakeCatalog();
  RewardModels m;
  m.catalog = &c;  // no judge, no ranking model
  HybridReward h(ParseRewardWeights("served=2"), m);
  std::vector<ListInput> lists = {List({0, 1, 4}, {"ghost"}), List({3, 5}), List({0})};
  lists[0].served = {4, 5, 0};
  lists[1].served = {0, 1};
  const auto r = h.Compute(lists, {});
  EXPECT_NEAR(r[0].raw.at("served"), 2.0 / 4, 1e-12);  // items 0 and 4 of 4 entries
  EXPECT_NEAR(r[0].total, 2 * 2.0 / 4, 1e-12);
  ASSERT_EQ(r[0].items.size(), 3u);
  EXPECT_NEAR(r[0].items[0], 2.0, 1e-12);
  EXPECT_NEAR(r[0].items[1], 0.0, 1e-12);
  EXPECT_NEAR(r[0].items[2], 2.0, 1e-12);
  EXPECT_EQ(r[1].raw.at("served"), 0.0);  // none shared
  EXPECT_EQ(r[2].raw.at("served"), 0.0);  // no served list
  const auto needs_served = [](const char* w) {
    return RewardsNeed(ParseRewardWeights(w), &RewardSpec::needs_served);
  };
  EXPECT_TRUE(needs_served("format=1,served=1"));
  EXPECT_TRUE(needs_served("served_rel=1"));
  EXPECT_FALSE(needs_served("rel_pers=1,format=1,label=1"));
  EXPECT_TRUE(RewardsNeed(ParseRewardWeights("label=1"), &RewardSpec::needs_labels));
  EXPECT_FALSE(RewardsNeed(ParseRewardWeights("served=1"), &RewardSpec::needs_labels));
}

// served_feat: how common a song's genres, tags, language and decade are among the served songs
// (artists do not count), wherever the song is; it needs the features, which GRPO fills in.
TEST(HybridTest, ServedFeatureRewardIsTheServedListsShareOfTheSongsFeatures) {
  Catalog c = MakeCatalog();
  c.items[0].features = {"genre:rock", "tag:rain", "artist:a1"};
  c.items[1].features = {"genre:rock", "tag:sun", "artist:a1"};
  c.items[2].features = {"genre:jazz", "tag:rain", "lang:en"};
  c.items[3].features = {"genre:rock", "lang:en"};
  c.items[4].features = {"genre:pop", "artist:a1"};
  RewardModels m;
  m.catalog = &c;
  // Served 0, 1, 2: rock 2/3, rain 2/3, sun 1/3, jazz 1/3, en 1/3, pop 0; artist a1 ignored.
  const std::vector<int> served = {0, 1, 2};
  EXPECT_NEAR(ServedFeatureShare(c, served, 0), (2.0 / 3 + 2.0 / 3) / 2, 1e-12);
  EXPECT_NEAR(ServedFeatureShare(c, served, 3), (2.0 / 3 + 1.0 / 3) / 2, 1e-12);  // not served
  EXPECT_EQ(ServedFeatureShare(c, served, 4), 0.0);  // its one artist-free feature is absent
  EXPECT_EQ(ServedFeatureShare(c, served, 5), 0.0);  // no features
  EXPECT_EQ(ServedFeatureShare(c, {}, 0), 0.0);
  HybridReward h(ParseRewardWeights("served_feat=2"), m);
  std::vector<ListInput> lists = {List({3, 4}, {"ghost"})};
  lists[0].served = served;
  const auto r = h.Compute(lists, {});
  ASSERT_EQ(r[0].items.size(), 2u);
  EXPECT_NEAR(r[0].items[0], 2 * 0.5, 1e-12);
  EXPECT_NEAR(r[0].raw.at("served_feat"), 0.5 / 3, 1e-12);  // over 3 entries, the ghost's 0
  EXPECT_TRUE(RewardsNeed(ParseRewardWeights("served_feat=1"), &RewardSpec::needs_served));
  EXPECT_TRUE(RewardsNeed(ParseRewardWeights("served_feat=1"), &RewardSpec::needs_features));
  EXPECT_FALSE(RewardsNeed(ParseRewardWeights("served=1"), &RewardSpec::needs_features));
}

// served_rel: a song earns 1 only when the served list holds it and the judge passes it.
TEST(HybridTest, ServedRelRewardGatesTheServedSongsByTheJudge) {
  const Catalog c = MakeCatalog();
  RewardModels m;
  m.catalog = &c;
  m.relevance_threshold = 0.5;
  // Judge: items 0 and 3 relevant (P 0.9), others 0.2.
  m.relevance = [](std::span<const std::string>, std::span<const int> items, std::span<const int>) {
    std::vector<float> p;
    for (int i : items) p.push_back(i == 0 || i == 3 ? 0.9f : 0.2f);
    return p;
  };
  HybridReward h(ParseRewardWeights("served_rel=1"), m);
  std::vector<ListInput> lists = {List({0, 1, 4, 3})};
  lists[0].served = {4, 0, 1};  // 0 served and relevant; 1 and 4 served, judged irrelevant
  const auto r = h.Compute(lists, std::vector<RankerContext>(1));
  ASSERT_EQ(r[0].items.size(), 4u);
  EXPECT_EQ(r[0].items, (std::vector<double>{1, 0, 0, 0}));  // 3: relevant, not served
  EXPECT_NEAR(r[0].raw.at("served_rel"), 1.0 / 4, 1e-12);
}

// The debiased personalisation: base - w x (prior - mean prior), clamped to 0-10; weight 0 or no
// prior leaves the base; unknown items keep their score.
TEST(HybridTest, DebiasedPersonalFnTakesOffTheSongsMeanOverListeners) {
  PersonalFn base = [](std::span<const RankerContext>, std::span<const int> items,
                       std::span<const int>) { return std::vector<float>(items.size(), 5.0f); };
  const std::vector<float> prior = {2, 4, 6, 9.5};  // mean 5.375
  const std::vector<RankerContext> ctx(1);
  const std::vector<int> items = {0, 1, 2, 3, 7}, of = {0, 0, 0, 0, 0};
  const auto out = DebiasedPersonalFn(base, prior, 1.0)(ctx, items, of);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_NEAR(out[0], 5 - (2 - 5.375), 1e-5);
  EXPECT_NEAR(out[1], 5 - (4 - 5.375), 1e-5);
  EXPECT_NEAR(out[2], 5 - (6 - 5.375), 1e-5);
  EXPECT_NEAR(out[3], 5 - (9.5 - 5.375), 1e-5);
  EXPECT_NEAR(out[4], 5.0, 1e-6);  // not in the prior
  EXPECT_NEAR(DebiasedPersonalFn(base, prior, 3.0)(ctx, items, of)[0], 10.0, 1e-6);  // clamped
  EXPECT_NEAR(DebiasedPersonalFn(base, prior, 3.0)(ctx, items, of)[3], 0.0, 1e-6);
  EXPECT_NEAR(DebiasedPersonalFn(base, prior, 0.0)(ctx, items, of)[0], 5.0, 1e-6);
  EXPECT_NEAR(DebiasedPersonalFn(base, {}, 1.0)(ctx, items, of)[0], 5.0, 1e-6);
}

TEST(HybridTest, ConfigurationErrorsAreClear) {
  const Catalog c = MakeCatalog();
  RewardModels m;
  m.catalog = &c;
  EXPECT_THROW(ParseRewardWeights("bogus=1"), Error);
  EXPECT_THROW(ParseRewardWeights("format"), Error);
  EXPECT_THROW(ParseRewardWeights("format=abc"), Error);
  EXPECT_THROW(HybridReward(ParseRewardWeights("rel=1"), m), Error);  // no judge given
  HybridReward rules_only(ParseRewardWeights("format=1,fact=1"), m);
  EXPECT_EQ(rules_only.Compute(std::vector<ListInput>{List({0, 3, 4, 5})}, {})[0].total, 2.0);
  // Custom rewards register by name.
  RegisterReward(
      "always_half",
      {"test", false, false, [](const ScoredList&, const RewardModels&) { return 0.5; }, {}});
  HybridReward custom(ParseRewardWeights("always_half=2"), m);
  EXPECT_EQ(custom.Compute(std::vector<ListInput>{List({0})}, {})[0].total, 1.0);
}

}  // namespace
}  // namespace muchator
