#include "reward/played_terms.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/rng.h"
#include "retrieval/dense.h"

namespace muchator {
namespace {

// Songs "en1".."en9" are English, "es1".."es9" Spanish; all are rock.
std::unordered_map<std::string, std::vector<std::string>> Tags() {
  std::unordered_map<std::string, std::vector<std::string>> t;
  for (int i = 1; i <= 9; ++i) {
    t["en" + std::to_string(i)] = {"g:rock", "l:en"};
    t["es" + std::to_string(i)] = {"g:rock", "l:es"};
  }
  return t;
}

// `requests` requests of each of two kinds, 12 plays each: "rock please" likes half of what it
// plays whatever the language; "rock please no english" likes Spanish songs half the time and
// English ones one time in ten.
std::vector<PlayedExample> Log(int requests, uint64_t seed) {
  Rng rng = Rng::Derive(seed, "played-test");
  std::vector<PlayedExample> out;
  for (int r = 0; r < requests; ++r)
    for (const bool exclude : {false, true}) {
      const std::string text = exclude ? "rock please no english" : "rock please";
      const std::string id = (exclude ? "x" : "p") + std::to_string(r);
      for (int k = 0; k < 12; ++k) {
        const bool english = rng.Bernoulli(0.5);
        const std::string song = (english ? "en" : "es") + std::to_string(1 + rng.Below(9));
        const double like = exclude && english ? 0.1 : 0.5;
        out.push_back({text, id, song, rng.Bernoulli(like)});
      }
    }
  return out;
}

TEST(PlayedTermsTest, LearnsWhatARequestRulesOut) {
  PlayedTermOptions o;
  o.epochs = 5;
  const PlayedTerms t = PlayedTerms::Fit(Log(60, 1), Tags(), o);
  ASSERT_FALSE(t.empty());
  const auto exclude = DenseFeatures("rock please no english");
  const auto plain = DenseFeatures("rock please");
  // The exclusion: English songs score well below Spanish ones for the excluding request ...
  EXPECT_LT(t.Score(exclude, "en1"), t.Score(exclude, "es1") - 0.5);
  // ... and not for the plain one, where the two languages are liked alike.
  EXPECT_NEAR(t.Score(plain, "en1"), t.Score(plain, "es1"), 0.3);
  EXPECT_EQ(t.Score(exclude, "unknown song"), 0.0);
  EXPECT_EQ(t.report()["requests"], 120);
  EXPECT_EQ(t.report()["examples"], 120 * 12);
}

TEST(PlayedTermsTest, RareCrossesGetNoWeight) {
  PlayedTermOptions o;
  o.min_requests = 61;  // more requests than either kind has
  const PlayedTerms t = PlayedTerms::Fit(Log(60, 2), Tags(), o);
  const auto exclude = DenseFeatures("rock please no english");
  // "english" and "no english" are met in 60 requests: no weight; "rock" in all 120: weights.
  const std::vector<std::string> exclusion = {"english", "no english"}, rock = {"rock"};
  EXPECT_EQ(t.Score(exclusion, "en1"), 0.0);
  EXPECT_NE(t.Score(rock, "en1"), 0.0);
  EXPECT_GT(t.report()["crosses_met"].get<int>(), t.report()["crosses_fitted"].get<int>());
}

TEST(PlayedTermsTest, AMinimumWeightKeepsOnlyTheStrongContrasts) {
  PlayedTermOptions o;
  o.epochs = 5;
  const PlayedTerms all = PlayedTerms::Fit(Log(60, 1), Tags(), o);
  o.min_weight = 0.2;
  const PlayedTerms strong = PlayedTerms::Fit(Log(60, 1), Tags(), o);
  const auto exclude = DenseFeatures("rock please no english");
  // The exclusion's crosses with English stay as they were (each feature of the exclusion takes
  // a share, ~-0.3); the weak ones (rock, please, the exclusion with rock or Spanish) go.
  const std::vector<std::string> no_english = {"no english"}, rock = {"rock"};
  EXPECT_LT(strong.Score(no_english, "en1"), -0.2);
  EXPECT_GT(strong.Score(no_english, "en1"), all.Score(no_english, "en1"));  // less the rock one
  EXPECT_EQ(strong.Score(no_english, "es1"), 0.0);
  EXPECT_NE(all.Score(no_english, "es1"), 0.0);
  EXPECT_EQ(strong.Score(rock, "es1"), 0.0);
  EXPECT_NE(all.Score(rock, "es1"), 0.0);
  EXPECT_LT(strong.Score(exclude, "en1"), strong.Score(exclude, "es1") - 0.5);
  EXPECT_LT(strong.report()["crosses_kept"].get<int>(), all.report()["crosses_kept"].get<int>());
  // Tag weights once per request, then any song: the same as scoring each from the features.
  const auto weights = strong.WeighTags(exclude);
  for (const char* song : {"en1", "es2", "none"})
    EXPECT_DOUBLE_EQ(strong.Score(weights, song), strong.Score(exclude, song));
}

TEST(PlayedTermsTest, TheOffsetExplainsTasteSoTheWordsNeedNot) {
  // Listeners who write "mellow" happen to like Spanish songs (their taste, known to the ranking
  // model: the offset); nothing in the request rules English out. Without the offset the cross
  // "mellow" x l:es takes the taste up; with it, much less.
  Rng rng = Rng::Derive(3, "taste");
  std::vector<PlayedExample> log;
  for (int r = 0; r < 80; ++r)
    for (int k = 0; k < 12; ++k) {
      const bool mellow = r % 2 == 0, english = rng.Bernoulli(0.5);
      const double p = mellow && !english ? 0.8 : 0.3;
      PlayedExample e{mellow ? "mellow rock" : "loud rock", "q" + std::to_string(r),
                      (english ? "en" : "es") + std::to_string(1 + rng.Below(9)), rng.Bernoulli(p),
                      std::log(p / (1 - p))};
      log.push_back(e);
    }
  PlayedTermOptions o;
  o.epochs = 5;
  auto without = log;
  for (auto& e : without) e.offset = 0;
  const auto words = DenseFeatures("mellow rock");
  const PlayedTerms taste = PlayedTerms::Fit(without, Tags(), o);
  const PlayedTerms fit = PlayedTerms::Fit(log, Tags(), o);
  const double gap_taste = taste.Score(words, "es1") - taste.Score(words, "en1");
  const double gap_fit = fit.Score(words, "es1") - fit.Score(words, "en1");
  EXPECT_GT(gap_taste, 0.5);
  EXPECT_LT(std::abs(gap_fit), gap_taste / 2);
  EXPECT_GT(fit.report()["offset_weight"].get<double>(), 0.5);
}

TEST(PlayedTermsTest, FileFormRoundTrips) {
  const PlayedTerms t = PlayedTerms::Fit(Log(30, 4), Tags(), {});
  const PlayedTerms back = PlayedTerms::FromJson(t.ToJson(), "test");
  const auto exclude = DenseFeatures("rock please no english");
  for (const char* song : {"en1", "es3", "nope"})
    EXPECT_FLOAT_EQ(back.Score(exclude, song), t.Score(exclude, song));
  EXPECT_THROW(PlayedTerms::FromJson({{"weights", 3}}, "test"), Error);
}

TEST(PlayedTermsTest, ReadsAQuerysLogAndNamesABadEntry) {
  Query q;
  q.id = "q7";
  q.text = "rock please";
  EXPECT_TRUE(PlayedExamples(q).empty());  // no log
  using nlohmann::json;
  q.extra = {
      {"played", json::array({json::array({"s1", "like"}), json::array({"s2", "skip"}),
                              json::array({"s3", "finish"}), json::array({"s4", "dislike"})})}};
  const auto e = PlayedExamples(q);
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].song, "s1");
  EXPECT_EQ(e[0].query_id, "q7");
  EXPECT_TRUE(e[0].positive);
  EXPECT_FALSE(e[1].positive);
  EXPECT_TRUE(e[2].positive);
  EXPECT_FALSE(e[3].positive);
  q.extra = {{"played", json::array({json::array({"s1", "like"}), json::array({"s2", "loved"})})}};
  try {
    PlayedExamples(q);
    FAIL() << "a bad feedback name was accepted";
  } catch (const Error& err) {
    EXPECT_NE(err.where().find("q7"), std::string::npos);
    EXPECT_NE(std::string(err.what()).find("entry 1"), std::string::npos);
  }
}

}  // namespace
}  // namespace muchator
