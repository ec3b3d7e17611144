#include "core/stats.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace muchator {
namespace {

TEST(AucTest, PerfectInvertedTiedAndDegenerate) {
  EXPECT_DOUBLE_EQ(Auc({{1, false}, {2, false}, {3, true}, {4, true}}), 1.0);
  EXPECT_DOUBLE_EQ(Auc({{1, true}, {2, true}, {3, false}, {4, false}}), 0.0);
  EXPECT_DOUBLE_EQ(Auc({{1, true}, {1, false}}), 0.5);
  // One of the two positives outranks the negative: 1/2.
  EXPECT_DOUBLE_EQ(Auc({{1, true}, {2, false}, {3, true}}), 0.5);
  EXPECT_TRUE(std::isnan(Auc({{1, true}, {2, true}})));
}

TEST(SpearmanTest, MonotoneAntiAndHandComputed) {
  EXPECT_DOUBLE_EQ(Spearman({1, 2, 3, 4}, {10, 20, 35, 1000}), 1.0);
  EXPECT_DOUBLE_EQ(Spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // Ranks (1,2,3) vs (2,1,3): 1 - 6*sum(d^2)/(n(n^2-1)) = 1 - 6*2/24 = 0.5.
  EXPECT_NEAR(Spearman({1, 2, 3}, {5, 4, 6}), 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(Spearman({1, 1, 1}, {1, 2, 3})));
  const auto r = AverageRanks({3, 1, 3, 2});
  EXPECT_EQ(r, (std::vector<double>{3.5, 1, 3.5, 2}));
}

}  // namespace
}  // namespace muchator

namespace muchator {

TEST(PairedBootstrapTest, IntervalAroundTheMeanDifference) {
  // b is a plus a clear shift with noise: the interval excludes 0 and holds the mean.
  std::vector<double> a, b, same;
  for (int i = 0; i < 100; ++i) {
    a.push_back(i % 7);
    b.push_back(i % 7 + 0.5 + ((i * 37) % 11 - 5) * 0.05);
  }
  const auto up = PairedBootstrap(a, b);
  EXPECT_NEAR(up.mean, 0.5, 0.01);
  EXPECT_LT(up.low, up.mean);
  EXPECT_GT(up.high, up.mean);
  EXPECT_TRUE(up.ExcludesZero());
  // No difference on average (+1 and -1 alternately): the interval holds 0.
  for (int i = 0; i < 100; ++i) same.push_back(a[static_cast<size_t>(i)] + (i % 2 ? 1 : -1));
  const auto flat = PairedBootstrap(a, same);
  EXPECT_NEAR(flat.mean, 0.0, 1e-12);
  EXPECT_FALSE(flat.ExcludesZero());
  // Seeded: the same interval again.
  EXPECT_EQ(PairedBootstrap(a, b).low, up.low);
  EXPECT_THROW(PairedBootstrap(a, {1.0}), Error);
  EXPECT_THROW(PairedBootstrap({}, {}), Error);
}

}  // namespace muchator
