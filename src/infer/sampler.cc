#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/vec_math.h"

namespace muchator {

void SamplingOptions::Validate() const {
  if (!(temperature >= 0.0) || !std::isfinite(temperature))
    throw Error("temperature must be >= 0 (0 = greedy), got " + std::to_string(temperature));
  if (top_k < 0) throw Error("top_k must be >= 0 (0 = off), got " + std::to_string(top_k));
  if (!(top_p > 0.0 && top_p <= 1.0))
    throw Error("top_p must be in (0, 1], got " + std::to_string(top_p));
  if (max_new_tokens < 1)
    throw Error("max_new_tokens must be >= 1, got " + std::to_string(max_new_tokens));
}

int SampleToken(std::span<const float> logits, std::span<const int> allowed,
                const SamplingOptions& o, Rng& rng, std::vector<std::pair<float, int>>* scratch) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int n =
      allowed.empty() ? static_cast<int>(logits.size()) : static_cast<int>(allowed.size());
  auto id_at = [&](int i) { return allowed.empty() ? i : allowed[i]; };
  if (n == 1) return id_at(0);
  if (o.temperature == 0.0 || o.top_k == 1) {
    int best = -1;
    float best_logit = kNegInf;
    for (int i = 0; i < n; ++i) {
      const int id = id_at(i);
      const float l = logits[id];
      if (l > best_logit || (l == best_logit && best >= 0 && id < best)) best = id, best_logit = l;
    }
    if (best < 0)
      throw Error("no token can be sampled: every allowed token has logit -inf (or NaN)");
    return best;
  }
  if (o.top_k == 0 && o.top_p >= 1.0) {
    // Plain temperature sampling over every candidate (free decoding: the whole vocabulary):
    // no ordering is needed, so the weights and the draw are vectorised loops over a float row
    // instead of a double exp per (logit, id) pair (most of a batch-8 decoding step's sampling).
    std::vector<float> w(n);
    const float* x = logits.data();
    std::vector<float> gathered;
    if (!allowed.empty()) {
      gathered.resize(n);
      for (int i = 0; i < n; ++i) gathered[i] = logits[allowed[i]];
      x = gathered.data();
    }
    int64_t finite = 0;
    const double total =
        SoftmaxWeights(x, n, static_cast<float>(1.0 / o.temperature), w.data(), &finite);
    if (finite == 0)
      throw Error("no token can be sampled: every allowed token has logit -inf (or NaN)");
    if (finite == 1)  // as below: a single possibility draws nothing
      return id_at(static_cast<int>(
          std::find_if(w.begin(), w.end(), [](float v) { return v > 0; }) - w.begin()));
    return id_at(static_cast<int>(DrawIndex(w.data(), n, rng.Uniform() * total)));
  }
  std::vector<std::pair<float, int>> local;
  auto& cand = scratch ? *scratch : local;  // (logit, id) of the tokens still in the running
  cand.clear();
  for (int i = 0; i < n; ++i) {
    const int id = id_at(i);
    if (logits[id] > kNegInf) cand.emplace_back(logits[id], id);
  }
  if (cand.empty())
    throw Error("no token can be sampled: every allowed token has logit -inf (or NaN)");
  if (cand.size() == 1) return cand[0].second;
  // Most likely first, ties by id, so the kept set and the draw are reproducible.
  auto more_likely = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  bool sorted = false;
  if (o.top_k > 0 && static_cast<size_t>(o.top_k) < cand.size()) {
    std::partial_sort(cand.begin(), cand.begin() + o.top_k, cand.end(), more_likely);
    cand.resize(o.top_k);
    sorted = true;
  }
  if (o.top_p < 1.0 && !sorted) {
    std::sort(cand.begin(), cand.end(), more_likely);
    sorted = true;
  }
  const float top =
      sorted ? cand[0].first : std::max_element(cand.begin(), cand.end(), [](auto& a, auto& b) {
                                 return a.first < b.first;
                               })->first;
  const double inv_t = 1.0 / o.temperature;
  double total = 0;
  for (auto& c : cand) {
    c.first =
        static_cast<float>(std::exp((static_cast<double>(c.first) - top) * inv_t));  // now a weight
    total += c.first;
  }
  if (o.top_p < 1.0) {
    double cum = 0;
    size_t keep = 0;
    while (keep < cand.size()) {
      cum += cand[keep++].first;
      if (cum >= o.top_p * total) break;
    }
    cand.resize(keep);
    total = cum;
  }
  double u = rng.Uniform() * total;
  for (const auto& c : cand) {
    u -= c.first;
    if (u < 0) return c.second;
  }
  return cand.back().second;  // rounding: u landed on the total
}

}  // namespace muchator
