#include "retrieval/bm25.h"

#include <gtest/gtest.h>

namespace muchator {

TEST(Bm25Test, RanksTheMatchingDocumentFirst) {
  Bm25Index index;
  index.Add("s1", "a calm ambient song about sleep and bedtime");
  index.Add("s2", "an energetic rock anthem for the workout");
  index.Add("s3", "jazz for a rainy afternoon");
  EXPECT_EQ(index.size(), 3u);
  auto hits = index.Search("rock workout songs", 2);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].first, "s2");
  EXPECT_GT(hits[0].second, 0);
  EXPECT_EQ(index.Search("afternoons", 3).at(0).first, "s3");  // English stemming
}

TEST(Bm25Test, NoMatchGivesNothing) {
  Bm25Index index;
  index.Add("s1", "calm ambient");
  EXPECT_TRUE(index.Search("zebra", 5).empty());
  EXPECT_TRUE(index.Search("", 5).empty());
}

}  // namespace muchator
