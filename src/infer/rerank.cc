#include "infer/rerank.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <unordered_set>

#include "core/error.h"

namespace muchator {

std::vector<int> RerankPool(std::span<const float> score, std::span<const int> artist, int keep,
                            double model_weight, std::span<const float> evidence,
                            double evidence_weight) {
  if (evidence_weight != 0 && evidence.size() != score.size())
    throw Error("RerankPool: " + std::to_string(evidence.size()) + " evidence values for " +
                std::to_string(score.size()) + " pool songs");
  if (score.size() != artist.size())
    throw Error("RerankPool: " + std::to_string(score.size()) + " scores for " +
                std::to_string(artist.size()) + " pool songs");
  const size_t n = score.size();
  std::vector<double> fused(n);
  for (size_t j = 0; j < n; ++j)
    fused[j] = score[j] - model_weight * std::log2(1.0 + static_cast<double>(j)) +
               (evidence_weight != 0 ? evidence_weight * (evidence[j] - evidence[0]) : 0.0);
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return fused[a] > fused[b]; });
  // One song per artist while the pool allows (the ranking model alone would pick several songs
  // of the listener's favourite artist), then the best of the rest.
  std::vector<int> kept;
  std::vector<char> taken(n, 0);
  std::unordered_set<int> artists;
  for (size_t j = 0; j < n && static_cast<int>(kept.size()) < keep; ++j) {
    const int a = artist[order[j]];
    if (a >= 0 && !artists.insert(a).second) continue;
    kept.push_back(order[j]), taken[j] = 1;
  }
  for (size_t j = 0; j < n && static_cast<int>(kept.size()) < keep; ++j)
    if (!taken[j]) kept.push_back(order[j]);
  return kept;
}

std::optional<FirstItemScores> FirstItemScores::For(const ItemCodec& codec) {
  FirstItemScores f;
  for (int i = 0; i < codec.num_items(); ++i) {
    const auto& seq = codec.Encode(i);  // <|item|> token <|/item|>
    if (seq.size() != 3 || (f.item_open_ >= 0 && seq[0] != f.item_open_)) return std::nullopt;
    f.item_open_ = seq[0];
    f.token_.push_back(seq[1]);
  }
  if (f.token_.empty()) return std::nullopt;
  return f;
}

std::optional<FirstItemScores> FirstItemScores::ForSource(const std::string& source,
                                                          const ItemCodec& codec) {
  if (source == "first") return For(codec);
  if (source == "list") return std::nullopt;
  throw Error("unknown rerank source '" + source + "'", "", "use first or list");
}

std::function<void(std::span<float>, std::span<const int>)> FirstItemScores::Hook(
    std::vector<float>* out) const {
  return [this, out](std::span<float> logits, std::span<const int> generated) {
    if (!out->empty() || generated.empty() || generated.back() != item_open_) return;
    out->resize(token_.size());
    for (size_t i = 0; i < token_.size(); ++i) (*out)[i] = logits[static_cast<size_t>(token_[i])];
  };
}

std::vector<int> FirstItemScores::Pool(std::span<const float> scores, int keep,
                                       const ConstraintOptions& c, const AnswerGrammar& g,
                                       double temperature, uint64_t seed) const {
  std::vector<char> banned(scores.size(), 0);
  for (int it : c.banned_items)
    if (it >= 0 && static_cast<size_t>(it) < banned.size()) banned[static_cast<size_t>(it)] = 1;
  const std::unordered_set<int> banned_artists(c.banned_artists.begin(), c.banned_artists.end());
  std::vector<double> key(scores.size());
  for (size_t i = 0; i < key.size(); ++i) key[i] = Key(scores, static_cast<int>(i));
  if (temperature > 0) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(1e-12, 1.0);
    for (double& k : key) k += temperature * -std::log(-std::log(u(rng)));
  }
  std::vector<int> order;
  for (size_t i = 0; i < scores.size(); ++i)
    if (!banned[i] && !banned_artists.count(g.ArtistOf(static_cast<int>(i))))
      order.push_back(static_cast<int>(i));
  keep = std::min<int>(keep, static_cast<int>(order.size()));
  std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](int a, int b) {
    return key[static_cast<size_t>(a)] != key[static_cast<size_t>(b)]
               ? key[static_cast<size_t>(a)] > key[static_cast<size_t>(b)]
               : a < b;
  });
  order.resize(static_cast<size_t>(keep));
  return order;
}

std::vector<float> FirstItemScores::MeanFirstLogProbs(
    Engine& engine, const std::vector<std::vector<int>>& prompts) const {
  std::vector<std::vector<float>> scores(prompts.size());
  std::vector<GenerationRequest> reqs;
  for (size_t k = 0; k < prompts.size(); ++k) {
    GenerationRequest r;
    r.prompt = prompts[k];
    r.sampling.max_new_tokens = 4096;  // the grammar ends the answer after its one song
    ConstraintOptions c;
    c.num_items = 1;
    r.constraint = c;
    r.logits_hook = Hook(&scores[k]);
    reqs.push_back(std::move(r));
  }
  engine.Generate(std::move(reqs));
  std::vector<double> sum(token_.size(), 0.0);
  size_t n = 0;
  for (const auto& s : scores) {
    if (s.size() != token_.size()) continue;  // no song was reached
    const float top = *std::max_element(s.begin(), s.end());
    double z = 0;
    for (float x : s) z += std::exp(static_cast<double>(x - top));
    const double log_z = top + std::log(z);
    for (size_t i = 0; i < s.size(); ++i) sum[i] += s[i] - log_z;
    ++n;
  }
  if (n == 0) return {};
  std::vector<float> mean(sum.size());
  for (size_t i = 0; i < sum.size(); ++i)
    mean[i] = static_cast<float>(sum[i] / static_cast<double>(n));
  return mean;
}

double FirstItemScores::Key(std::span<const float> scores, int i) const {
  const auto u = static_cast<size_t>(i);
  if (prior_weight_ != 0 && prior_.size() == scores.size())
    return scores[u] - prior_weight_ * prior_[u];
  return scores[u];
}

void FirstItemScores::SetPrior(std::vector<float> prior, double weight) {
  prior_ = std::move(prior);
  prior_weight_ = weight;
}

std::vector<int> RerankItems(std::span<const int> pool, std::span<const float> ranker_scores,
                             std::span<const float> ranker_prior, const AnswerGrammar& grammar,
                             int keep, const RerankWeights& w, std::span<const float> evidence) {
  std::vector<float> score(ranker_scores.begin(), ranker_scores.end());
  if (!ranker_prior.empty() && w.ranker_prior != 0)
    for (size_t j = 0; j < score.size(); ++j)
      score[j] -= static_cast<float>(w.ranker_prior) * ranker_prior[static_cast<size_t>(pool[j])];
  std::vector<int> artist;
  for (int it : pool) artist.push_back(grammar.ArtistOf(it));
  std::vector<int> kept;
  for (int j :
       RerankPool(score, artist, keep, w.model, evidence, evidence.empty() ? 0.0 : w.evidence))
    kept.push_back(pool[j]);
  return kept;
}

std::vector<float> PoolEvidence(const FirstItemScores* first, double evidence_weight,
                                std::span<const float> first_scores, std::span<const int> pool) {
  std::vector<float> ev;
  if (!first || evidence_weight == 0 || first_scores.empty()) return ev;
  for (int it : pool) ev.push_back(static_cast<float>(first->Key(first_scores, it)));
  return ev;
}

}  // namespace muchator
