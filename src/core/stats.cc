#include "core/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"

namespace muchator {

double Auc(std::vector<std::pair<double, bool>> v) {
  std::sort(v.begin(), v.end());
  double rank_sum = 0, pos = 0, neg = 0;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j < v.size() && v[j].first == v[i].first) ++j;
    const double avg_rank = (i + j + 1) / 2.0;  // 1-based average rank of the tie group
    for (size_t k = i; k < j; ++k) {
      if (v[k].second)
        rank_sum += avg_rank, ++pos;
      else
        ++neg;
    }
    i = j;
  }
  if (pos == 0 || neg == 0) return std::numeric_limits<double>::quiet_NaN();
  return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

std::vector<double> AverageRanks(const std::vector<double>& x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> ranks(x.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && x[order[j]] == x[order[i]]) ++j;
    for (size_t k = i; k < j; ++k) ranks[order[k]] = (i + j + 1) / 2.0;
    i = j;
  }
  return ranks;
}

double Spearman(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw Error("Spearman of series of different lengths");
  const size_t n = a.size();
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  const auto ra = AverageRanks(a), rb = AverageRanks(b);
  const double mean = (n + 1) / 2.0;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; ++i) {
    sab += (ra[i] - mean) * (rb[i] - mean);
    saa += (ra[i] - mean) * (ra[i] - mean);
    sbb += (rb[i] - mean) * (rb[i] - mean);
  }
  if (saa == 0 || sbb == 0) return std::numeric_limits<double>::quiet_NaN();
  return sab / std::sqrt(saa * sbb);
}

BootstrapInterval PairedBootstrap(const std::vector<double>& a, const std::vector<double>& b,
                                  int resamples, uint64_t seed, double level) {
  if (a.size() != b.size() || a.empty())
    throw Error("a paired bootstrap needs two equally long, non-empty series");
  const size_t n = a.size();
  std::vector<double> d(n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) d[i] = b[i] - a[i], sum += d[i];
  BootstrapInterval out;
  out.mean = sum / static_cast<double>(n);
  Rng rng = Rng::Derive(seed, "paired-bootstrap");
  std::vector<double> means(static_cast<size_t>(std::max(1, resamples)));
  for (auto& m : means) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += d[rng.Below(n)];
    m = s / static_cast<double>(n);
  }
  std::sort(means.begin(), means.end());
  auto at = [&](double q) {  // the q-quantile, nearest rank
    const double pos = q * static_cast<double>(means.size() - 1);
    return means[static_cast<size_t>(std::lround(pos))];
  };
  out.low = at((1 - level) / 2);
  out.high = at(1 - (1 - level) / 2);
  return out;
}

}  // namespace muchator
