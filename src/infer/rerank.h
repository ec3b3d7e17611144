// The reranked answer (docs/metrics.md, "reranked"): the model proposes a pool of catalog songs
// in its own order; the ranking model scores them for the listener and state; the answer is the
// pool ordered by both, cut to the list size. Shared by the evaluation and the server, so the
// served list is the evaluated one.
//
// Where the pool comes from: with a single-token item codec (atomic, the default) the model
// scores the whole catalog in the one forward pass that picks its answer's first song
// (FirstItemScores): the pool is its best songs by that score. Otherwise the model lists the pool
// song after song (a constrained answer of pool-size items), a pool whose later songs drift from
// the request.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "infer/constraint.h"
#include "infer/engine.h"
#include "text/item_codec.h"

namespace muchator {

// Positions in the pool (0-based, best first) of the answer: the pool is ordered by
// score[j] - model_weight * log2(1 + j) (score: the ranking model's 0-10 for pool song j; ties
// keep the model's order), then the first `keep` are taken with at most one song per artist
// (artist[j] < 0: no artist, never capped), and if the pool runs out of artists, the best of the
// rest. model_weight 0 = the ranking model alone; a large weight = the model's own order.
// With `evidence` (the model's score of each pool song, e.g. FirstItemScores::Key) and
// evidence_weight > 0, each song's order also adds evidence_weight * (evidence[j] - evidence[0]):
// a song the model finds much less fitting than its best counts less, however far down it is.
std::vector<int> RerankPool(std::span<const float> score, std::span<const int> artist, int keep,
                            double model_weight, std::span<const float> evidence = {},
                            double evidence_weight = 0);

// The model's score of every catalog item as its answer's first song: item i's logit at the
// position right after the answer's first item-open token, read through a logits hook of the
// constrained request that writes the answer. Only for codecs that write an item as one token
// between the item markers (atomic).
class FirstItemScores {
 public:
  // Empty when the codec writes an item with more than one token.
  static std::optional<FirstItemScores> For(const ItemCodec& codec);
  // The pool source of --rerank-source: "first" is For(codec) (empty: fall back to a listed
  // pool), "list" is empty; throws Error for any other name.
  static std::optional<FirstItemScores> ForSource(const std::string& source,
                                                  const ItemCodec& codec);
  // A GenerationRequest::logits_hook storing the scores into *out (resized to the catalog) at
  // the answer's first item position; later positions leave them. *out must outlive the request.
  std::function<void(std::span<float>, std::span<const int>)> Hook(std::vector<float>* out) const;
  // The pool: the `keep` items with the best scores, best first (ties by catalog index), never a
  // song or artist the constraint bans. temperature > 0 samples the pool instead, without
  // replacement (Gumbel top-k: score + temperature x Gumbel noise, seeded), as the sampling
  // settings of a request ask. Empty scores (the answer had no song) give an empty pool.
  std::vector<int> Pool(std::span<const float> scores, int keep, const ConstraintOptions& c,
                        const AnswerGrammar& g, double temperature = 0, uint64_t seed = 0) const;

  // The songs the model puts first whatever is asked (hubs): each song's mean log-probability
  // among the catalog as the answer's first song over `prompts` (requests of a training split,
  // never a held-out one), decoded by `engine` as constrained one-song answers.
  std::vector<float> MeanFirstLogProbs(Engine& engine,
                                       const std::vector<std::vector<int>>& prompts) const;
  // From now on Pool ranks by score - weight * prior (a pointwise-mutual-information score: how
  // much more this request makes the model put the song first than requests in general do).
  // weight 0 or an empty prior: the scores alone.
  void SetPrior(std::vector<float> prior, double weight);
  // The key Pool ranks item i by (without sampling noise): scores[i] - prior weight * prior[i].
  double Key(std::span<const float> scores, int i) const;
  double prior_weight() const { return prior_.empty() ? 0 : prior_weight_; }

 private:
  std::vector<float> prior_;
  double prior_weight_ = 0;
  int item_open_ = -1;
  std::vector<int> token_;  // item -> its token
};

// The reranked answer of a pool, as the evaluation and the server both compute it: the ranking
// model's score of each pool song (ranker_scores[j]) less ranker_prior_weight x the song's prior
// (ranker_prior[pool[j]], RankerSongPrior; empty = none), each song's artist from the grammar,
// and the first-song evidence (PoolEvidence; empty = none), ordered by RerankPool. Returns the
// kept songs (catalog items), best first.
struct RerankWeights {
  double model = 0, evidence = 0, ranker_prior = 0;
};
std::vector<int> RerankItems(std::span<const int> pool, std::span<const float> ranker_scores,
                             std::span<const float> ranker_prior, const AnswerGrammar& grammar,
                             int keep, const RerankWeights& w, std::span<const float> evidence);
// The evidence term's values for a pool: each song's FirstItemScores::Key; empty without a
// first-song source, with weight 0, or without scores (a listed pool).
std::vector<float> PoolEvidence(const FirstItemScores* first, double evidence_weight,
                                std::span<const float> first_scores, std::span<const int> pool);

}  // namespace muchator
