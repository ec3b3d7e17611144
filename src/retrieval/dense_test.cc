#include "retrieval/dense.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>

#include "core/error.h"

namespace muchator {
namespace {

// Ten rock songs and ten ambient songs; the training queries use words no document has, so only
// training can tie them to the right half of the catalog.
std::vector<std::pair<std::string, std::string>> Docs() {
  std::vector<std::pair<std::string, std::string>> d;
  for (int i = 0; i < 10; ++i)
    d.push_back({"r" + std::to_string(i), "loud rock anthem guitars number " + std::to_string(i)});
  for (int i = 0; i < 10; ++i)
    d.push_back({"a" + std::to_string(i), "calm ambient drones number " + std::to_string(i)});
  return d;
}

std::vector<DensePair> Pairs() {
  std::vector<DensePair> p;
  for (int i = 0; i < 10; ++i) {
    p.push_back({"pump me up at the gym", "r" + std::to_string(i)});
    p.push_back({"lifting heavy weights today", "r" + std::to_string(i)});
    p.push_back({"help me fall asleep", "a" + std::to_string(i)});
    p.push_back({"winding down before bed", "a" + std::to_string(i)});
  }
  p.push_back({"help me fall asleep", "no-such-song"});
  return p;
}

int CountPrefix(const std::vector<std::pair<std::string, double>>& hits, char c) {
  int n = 0;
  for (const auto& h : hits) n += h.first[0] == c;
  return n;
}

TEST(DenseTest, FeaturesAreStemmedWordsAndWordPairs) {
  const auto f = DenseFeatures("Rainy EVENINGS, drive!");
  EXPECT_EQ(f, (std::vector<std::string>{"raini", "even", "drive", "raini even", "even drive"}));
  EXPECT_TRUE(DenseFeatures(" ,;").empty());
}

TEST(DenseTest, LearnsQueryWordsNoDocumentHas) {
  DenseOptions o;
  o.batch = 8;
  o.epochs = 30;
  auto ix = DenseIndex::Train(Docs(), Pairs(), o);
  EXPECT_EQ(ix->size(), 20u);
  EXPECT_EQ(ix->report().at("skipped_pairs"), 1);
  EXPECT_LT(ix->report().at("last_epoch_loss").get<double>(),
            ix->report().at("first_epoch_loss").get<double>());
  // Wordings of the training queries' words, never seen as a whole.
  const auto gym = ix->Search("gym weights", 10), sleep = ix->Search("asleep in bed", 10);
  ASSERT_EQ(gym.size(), 10u);
  EXPECT_EQ(CountPrefix(gym, 'r'), 10);
  EXPECT_EQ(CountPrefix(sleep, 'a'), 10);
  EXPECT_GE(gym.front().second, gym.back().second);  // best first
  // A document's own words still find it (the word table is shared by both towers).
  EXPECT_EQ(CountPrefix(ix->Search("guitars", 5), 'r'), 5);
  EXPECT_TRUE(ix->Search("zebra", 5).empty());
  EXPECT_TRUE(ix->Search("gym", 0).empty());
  EXPECT_EQ(ix->Search("gym", 100).size(), 20u);
  // Deterministic for a seed.
  auto again = DenseIndex::Train(Docs(), Pairs(), o);
  EXPECT_EQ(again->Search("gym weights", 10), gym);
}

// The query tower alone (what the relevance judge keeps) places a query where the index does:
// its vector's inner product with each found document's vector is the search score.
TEST(DenseTest, QueryEncoderAloneGivesTheSearchScores) {
  DenseOptions o;
  o.batch = 8;
  o.epochs = 5;
  auto ix = DenseIndex::Train(Docs(), Pairs(), o);
  const DenseQueryEncoder copy(ix->query_encoder().vocabulary(), ix->query_encoder().words(),
                               ix->dim());
  std::vector<float> q;
  ASSERT_TRUE(copy.Encode("gym weights", q));
  ASSERT_EQ(q.size(), static_cast<size_t>(ix->dim()));
  std::map<std::string, size_t> row;
  for (size_t i = 0; i < ix->ids().size(); ++i) row[ix->ids()[i]] = i;
  for (const auto& [id, score] : ix->Search("gym weights", 20)) {
    const std::vector<float> d = ix->DocVector(row.at(id));
    EXPECT_NEAR(std::inner_product(q.begin(), q.end(), d.begin(), 0.0), score, 1e-4) << id;
  }
  EXPECT_FALSE(copy.Encode("zebra", q));  // no known word: no vector
  EXPECT_EQ(std::count(q.begin(), q.end(), 0.0f), ix->dim());
  EXPECT_THROW(DenseQueryEncoder({"a", "b"}, std::vector<float>(3), 2), Error);
}

// The same inputs twice: the index trained the first time, which equals a fresh one; other
// options train anew.
TEST(DenseTest, TrainSharedReusesTheLastIndexForTheSameInputs) {
  DenseOptions o;
  o.batch = 8;
  o.epochs = 5;
  bool reused = true;
  const auto first = DenseIndex::TrainShared(Docs(), Pairs(), o, &reused);
  EXPECT_FALSE(reused);
  const auto second = DenseIndex::TrainShared(Docs(), Pairs(), o, &reused);
  EXPECT_TRUE(reused);
  EXPECT_EQ(first.get(), second.get());
  EXPECT_EQ(second->Search("gym weights", 10),
            DenseIndex::Train(Docs(), Pairs(), o)->Search("gym weights", 10));
  o.seed = 2;
  const auto other = DenseIndex::TrainShared(Docs(), Pairs(), o, &reused);
  EXPECT_FALSE(reused);
  EXPECT_NE(other.get(), first.get());
  auto fewer = Pairs();
  fewer.pop_back();
  DenseIndex::TrainShared(Docs(), fewer, o, &reused);
  EXPECT_FALSE(reused);
}

TEST(DenseTest, NoUsablePairIsAClearError) {
  EXPECT_THROW(DenseIndex::Train(Docs(), {{"gym", "nope"}}, DenseOptions{}), Error);
}

}  // namespace
}  // namespace muchator
