// Non-LLM baselines (DESIGN.md section 7), chosen by name: each returns the top k catalog items for
// a request in its listener's context. Evaluated with the same ScoreAnswers as the LLM systems.
//   popularity   the most liked-or-finished songs of the whole log (the same list for everyone)
//   bm25         BM25 (Xapian) over each song's summary - metadata, playlist titles, comments
//                (reward/judge.h SongSummary) - best k
//   bm25_rerank  the paper's online baseline, a search system: BM25's best 100, reranked by the
//                personalisation ranking model for the listener's context, best k
//   dense        the dense retriever (retrieval/dense.h) over the same summaries, trained on the
//                training requests' relevant songs (not the rl or test splits) and the UQ2I
//                triplets when given - best k
//   dense_rerank the dense retriever's best 100, reranked by the ranking model, best k
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "eval/offline.h"
#include "retrieval/dense.h"
#include "text/chat.h"

namespace muchator {

class Recommender {
 public:
  virtual ~Recommender() = default;
  // Catalog indexes, best first, at most k.
  virtual std::vector<int> Recommend(const EvalRequest& request, const UserContext& context,
                                     int k) = 0;
};

struct BaselineDeps {
  Store* store = nullptr;
  const Catalog* catalog = nullptr;
  Ranker* ranker = nullptr;  // needed by bm25_rerank and dense_rerank
  // The trained dense retriever of dense and dense_rerank (TrainDenseRetriever); trained on
  // demand from the store and `triplets` when null.
  std::shared_ptr<const SearchIndex> dense{};
  std::string
      triplets{};  // UQ2I triplets.jsonl, more training pairs for the dense retriever ("" = none)
};

// Every (query, item) pair of a UQ2I triplets file (the dense retrievers' extra training pairs).
// Throws Error (file, line) for a malformed line.
std::vector<DensePair> TripletPairs(const std::string& path);

std::vector<std::string> BaselineNames();
bool UsesDenseRetriever(const std::string& baseline);
// The dense retriever over the summaries of the catalog's songs in `deps.store`, trained on the
// store's queries of no held-out split (not rl, not test) with relevant songs, and every
// (query, item) of `deps.triplets`. Throws Error (file, line) for a malformed triplets line.
std::shared_ptr<const DenseIndex> TrainDenseRetriever(const BaselineDeps& deps,
                                                      const DenseOptions& o = {});
// Throws Error naming the known baselines for an unknown name, or the missing dependency.
std::unique_ptr<Recommender> MakeBaseline(const std::string& name, const BaselineDeps& deps);

// The prompted-LLM systems' prompt additions (docs/metrics.md, "Baselines"):
// RAG - the `bm25` baseline's best k songs for each request's query, listed in its prompt (the
// returned function owns the index);
std::function<PromptExtras(const EvalRequest&)> RetrievedCandidates(const BaselineDeps& deps,
                                                                    int k);
// few-shot - n worked examples, the same for every request: the first triplets (after a seeded
// shuffle) of a UQ2I triplets file whose users `keep` accepts, one per user, each with its
// first `items` songs that are catalog items. Throws Error (file, line) for a malformed line.
std::vector<FewShotExample> FewShotExamples(const std::string& triplets_path,
                                            const Catalog& catalog, int n, int items, uint64_t seed,
                                            const std::function<bool(const std::string&)>& keep);

// ScoreAnswers of the baseline's lists for `requests`.
ListMetrics EvaluateBaseline(Recommender& system, Store& store, const Catalog& catalog,
                             std::span<const EvalRequest> requests, const EvalJudges& judges,
                             const OfflineEvalOptions& o);

}  // namespace muchator
