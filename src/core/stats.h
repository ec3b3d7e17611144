// Rank statistics shared by the reward models' reports and evaluation.
#pragma once

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

}  // namespace muchator
