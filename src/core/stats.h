// Rank statistics shared by the reward models' reports and evaluation.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace muchator {

// Area under the ROC curve of scores separating positives (true) from negatives; ties count
// half. NaN when either class is empty.
double Auc(std::vector<std::pair<double, bool>> scored);

// Ranks 1..n of `x`, ties given their average rank.
std::vector<double> AverageRanks(const std::vector<double>& x);

// Spearman's rank correlation of two equally long series (Pearson correlation of their average
// ranks). NaN when shorter than 2 or when either series is constant.
double Spearman(const std::vector<double>& a, const std::vector<double>& b);

// Paired bootstrap of the mean difference b - a over paired observations (requests): `resamples`
// draws of n indexes with replacement (seeded), the percentile interval of the drawn means.
struct BootstrapInterval {
  double mean = 0, low = 0, high = 0;  // observed mean difference and its 95% interval
  bool ExcludesZero() const { return low > 0 || high < 0; }
};
// Throws Error when a and b differ in length or are empty.
BootstrapInterval PairedBootstrap(const std::vector<double>& a, const std::vector<double>& b,
                                  int resamples = 2000, uint64_t seed = 1, double level = 0.95);

}  // namespace muchator
