#include "core/vec_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/rng.h"

namespace muchator {
namespace {

TEST(VecMath, ExpShiftedSumMatchesExpAndClampsVeryNegativeArguments) {
  std::vector<float> x, want;
  for (int i = 0; i < 203; ++i) x.push_back(-0.37f * i + 3.0f);  // shift 3: args 0 .. -72
  x.push_back(-200.0f);                                          // clamped at -87
  const float shift = 3.0f;
  double total = 0;
  for (float v : x) want.push_back(std::exp(std::max(v - shift, -87.0f))), total += want.back();
  const float sum = ExpShiftedSum(x.data(), static_cast<int64_t>(x.size()), shift);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i] / want[i], 1.0, 1e-6) << i;
  EXPECT_NEAR(sum / total, 1.0, 1e-6);
}

TEST(VecMath, SoftmaxWeightsAreExpOfScaledLogitsWithZeroForMinusInfAndNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {1.0f, 3.0f, -inf, 2.0f, std::nanf(""), 0.5f};
  std::vector<float> w(x.size());
  int64_t finite = -1;
  const float sum = SoftmaxWeights(x.data(), 6, 0.5f, w.data(), &finite);
  EXPECT_EQ(finite, 4);
  EXPECT_EQ(w[2], 0.0f);
  EXPECT_EQ(w[4], 0.0f);
  EXPECT_NEAR(w[1], 1.0f, 1e-6);  // the largest: exp(0)
  EXPECT_NEAR(w[0], std::exp(0.5 - 1.5), 1e-6);
  EXPECT_NEAR(w[3], std::exp(1.0 - 1.5), 1e-6);
  EXPECT_NEAR(w[5], std::exp(0.25 - 1.5), 1e-6);
  EXPECT_NEAR(sum, w[0] + w[1] + w[3] + w[5], 1e-6);
  const std::vector<float> none = {-inf, std::nanf("")};
  EXPECT_EQ(SoftmaxWeights(none.data(), 2, 1.0f, w.data(), &finite), 0.0f);
  EXPECT_EQ(finite, 0);
}

// The index a plain running sum gives.
int64_t ScanDraw(const std::vector<float>& w, double u) {
  int64_t last = -1;
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i] <= 0) continue;
    last = static_cast<int64_t>(i);
    u -= w[i];
    if (u < 0) return last;
  }
  return last;
}

TEST(VecMath, DrawIndexFindsTheBlockAndPositionOfAPlainRunningSum) {
  Rng rng(3);
  for (const int n : {1, 5, 64, 65, 200, 3369}) {
    std::vector<float> w(n);
    double total = 0;
    for (int i = 0; i < n; ++i) {
      w[i] = i % 7 == 3 ? 0.0f : static_cast<float>(rng.Uniform());
      total += w[i];
    }
    for (int k = 0; k < 300; ++k) {
      const double u = rng.Uniform() * total;
      const int64_t got = DrawIndex(w.data(), n, u), want = ScanDraw(w, u);
      // Block sums round differently from the running sum: only a draw within rounding of a
      // boundary may land on the neighbouring token.
      if (got != want) {
        double before = 0;
        for (int64_t i = 0; i < std::min(got, want) + 1; ++i) before += w[i];
        EXPECT_NEAR(u, before, 1e-4 * total) << "n " << n << " u " << u;
      }
      ASSERT_GE(got, 0);
      ASSERT_LT(got, n);
      EXPECT_GT(w[got], 0.0f);
    }
    // u at (or by rounding above) the total: the last positive weight.
    EXPECT_EQ(DrawIndex(w.data(), n, total * (1 + 1e-6)), ScanDraw(w, total * 2));
  }
}

}  // namespace
}  // namespace muchator
