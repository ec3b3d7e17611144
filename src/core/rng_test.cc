#include "core/rng.h"

#include <gtest/gtest.h>

#include <cmath>

namespace muchator {

TEST(RngTest, SameSeedSameStreamDifferentSeedDifferentStream) {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.NextU64();
    EXPECT_EQ(x, b.NextU64());
    differs |= x != c.NextU64();
  }
  EXPECT_TRUE(differs);
}

TEST(RngTest, KnownFirstValueIsStableAcrossPlatforms) {
  // xoshiro256** seeded by splitmix64(0): a fixed value pins the algorithm, so a silent change
  // of generator (which would change every synthetic world) fails here.
  Rng r(0);
  const uint64_t first = r.NextU64();
  Rng r2(0);
  EXPECT_EQ(first, r2.NextU64());
  EXPECT_EQ(first, 0x99EC5F36CB75F2B4ULL);
}

TEST(RngTest, DerivedStreamsAreIndependentOfDrawOrder) {
  Rng a = Rng::Derive(7, "users", 3);
  Rng b = Rng::Derive(7, "users", 3);
  Rng c = Rng::Derive(7, "users", 4);
  EXPECT_EQ(a.NextU64(), b.NextU64());
  EXPECT_NE(Rng::Derive(7, "users", 3).NextU64(), c.NextU64());
}

TEST(RngTest, DistributionsHaveTheRightMoments) {
  Rng r(1);
  const int n = 200000;
  double sum = 0, sq = 0, esum = 0;
  int below[10] = {0};
  for (int i = 0; i < n; ++i) {
    const double x = r.Normal(2.0, 3.0);
    sum += x;
    sq += x * x;
    esum += r.Exponential(4.0);
    below[r.Below(10)]++;
  }
  const double mean = sum / n, var = sq / n - mean * mean;
  EXPECT_NEAR(mean, 2.0, 0.05);
  EXPECT_NEAR(std::sqrt(var), 3.0, 0.05);
  EXPECT_NEAR(esum / n, 0.25, 0.01);
  for (int c : below) EXPECT_NEAR(c, n / 10, n / 100);
}

TEST(RngTest, CategoricalFollowsWeightsAndSkipsZeros) {
  Rng r(5);
  std::vector<double> w = {0.0, 1.0, 3.0, 0.0};
  int counts[4] = {0};
  for (int i = 0; i < 40000; ++i) counts[r.Categorical(w)]++;
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[3], 0);
  EXPECT_NEAR(counts[2] / 40000.0, 0.75, 0.02);
  std::vector<double> zero = {0.0};
  EXPECT_THROW(r.Categorical(zero), std::invalid_argument);
}

TEST(RngTest, RangeIsInclusive) {
  Rng r(9);
  bool lo = false, hi = false;
  for (int i = 0; i < 1000; ++i) {
    const int64_t v = r.Range(-2, 2);
    ASSERT_GE(v, -2);
    ASSERT_LE(v, 2);
    lo |= v == -2;
    hi |= v == 2;
  }
  EXPECT_TRUE(lo && hi);
}

}  // namespace muchator
