#include "text/bpe_train.h"

#include <gtest/gtest.h>

namespace muchator {

TEST(BpeTrainTest, ReproducesAHandCheckedMergeOrder) {
  // Words "aaa", "aa", "ab" (one each). Pair counts: (a,a) = 2 + 1 = 3, (a,b) = 1.
  //  1. a+a (3). Words become [aa,a], [aa], [a,b]: pairs (aa,a) = 1, (a,b) = 1: a tie.
  //  2. a+b: the tie goes to the smaller first string ("a" < "aa").
  //  3. aa+a.
  BpeTrainOptions o;
  o.vocab_size = 259;
  o.min_frequency = 1;
  o.nfc = false;
  auto tok = TrainBpe(
      [](const auto& emit) {
        emit("aaa");
        emit("aa");
        emit("ab");
      },
      o);
  ASSERT_EQ(tok->num_merges(), 3u);
  EXPECT_EQ(tok->TokenId("aa"), 256);
  EXPECT_EQ(tok->TokenId("ab"), 257);
  EXPECT_EQ(tok->TokenId("aaa"), 258);
  EXPECT_EQ(tok->Encode("aaa"), std::vector<int>{258});
  // a+a has the lowest rank, so "aaaa" becomes aa,aa (never aaa,a).
  EXPECT_EQ(tok->Encode("aaaa"), (std::vector<int>{256, 256}));
}

TEST(BpeTrainTest, MinFrequencyStopsEarlyAndTrainingIsDeterministic) {
  BpeTrainOptions o;
  o.vocab_size = 1000;
  o.min_frequency = 3;
  auto src = [](const auto& emit) {
    for (int i = 0; i < 5; ++i) emit("the rainy day song, the rainy night song");
    emit("unique words appear once");
  };
  auto a = TrainBpe(src, o), b = TrainBpe(src, o);
  EXPECT_LT(a->vocab_size(), 1000);
  EXPECT_EQ(a->num_merges(), b->num_merges());
  EXPECT_EQ(a->Encode("the rainy day"), b->Encode("the rainy day"));
  EXPECT_LE(a->Encode(" rainy").size(), 2u);  // a frequent word is (nearly) one token
  EXPECT_EQ(a->Decode(a->Encode("unique words appear once")), "unique words appear once");
}

}  // namespace muchator
