#include "eval/baselines.h"

#include <algorithm>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/strings.h"
#include "data/store.h"
#include "retrieval/bm25.h"
#include "reward/hybrid.h"
#include "reward/judge.h"
#include "reward/ranker.h"
#include "text/languages.h"

namespace muchator {
namespace {

class Popularity : public Recommender {
 public:
  explicit Popularity(const BaselineDeps& d) {
    std::unordered_map<std::string, int64_t> count;
    d.store->ForEachEvent([&](const Event& e) {
      if (e.feedback == Feedback::kLike || e.feedback == Feedback::kFinish) ++count[e.song];
    });
    std::vector<int64_t> c(d.catalog->items.size(), 0);
    for (size_t i = 0; i < c.size(); ++i) {
      auto it = count.find(d.catalog->items[i].id);
      if (it != count.end()) c[i] = it->second;
    }
    order_.resize(c.size());
    std::iota(order_.begin(), order_.end(), 0);
    std::stable_sort(order_.begin(), order_.end(), [&](int a, int b) {
      return c[static_cast<size_t>(a)] > c[static_cast<size_t>(b)];
    });
  }
  std::vector<int> Recommend(const EvalRequest&, const UserContext&, int k) override {
    return {order_.begin(),
            order_.begin() + std::min<size_t>(order_.size(), static_cast<size_t>(k))};
  }

 private:
  std::vector<int> order_;
};

// Calls fn with each line of a UQ2I triplets file as JSON; a line that does not parse, or that fn
// finds malformed (a missing field), is an Error naming the file and line.
void ForEachTriplet(const std::string& path, const std::function<void(const nlohmann::json&)>& fn) {
  LineReader reader(path);
  std::string line;
  int64_t line_no = 0;
  while (reader.Next(line)) {
    ++line_no;
    try {
      fn(nlohmann::json::parse(line));
    } catch (const std::exception& e) {
      throw Error(std::string("not a UQ2I triplet: ") + e.what(),
                  path + ":" + std::to_string(line_no),
                  "use a triplets file written by `muchator synth-uq2i`");
    }
  }
}

// The catalog songs' summaries (the documents both search indexes hold).
std::vector<std::pair<std::string, std::string>> CatalogSummaries(const BaselineDeps& d) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [id, summary] : SongSummaries(*d.store))
    if (d.catalog->Find(id) >= 0) out.emplace_back(std::move(id), std::move(summary));
  return out;
}

// A search system over one index: its best k, or (with the ranking model) its best kCandidates
// reranked for the listener's context.
class IndexSearch : public Recommender {
 public:
  IndexSearch(const BaselineDeps& d, std::shared_ptr<const SearchIndex> index,
              const std::string& name, bool rerank)
      : catalog_(*d.catalog), ranker_(rerank ? d.ranker : nullptr), index_(std::move(index)) {
    if (rerank && !ranker_)
      throw Error("the " + name + " baseline needs the ranking model", "", "give --ranker DIR");
    for (size_t i = 0; i < catalog_.items.size(); ++i)
      index_of_[catalog_.items[i].id] = static_cast<int>(i);
  }
  std::vector<int> Recommend(const EvalRequest& r, const UserContext& ctx, int k) override {
    std::vector<int> found;
    for (const auto& [id, score] : index_->Search(r.query, ranker_ ? kCandidates : k))
      found.push_back(index_of_.at(id));
    if (!ranker_ || found.empty()) return found;
    const RankerContext rc = MakeRankerContext(r.user, ctx, catalog_);
    std::vector<int> rows;  // unseen songs get row 0: scored as cold items
    for (int i : found) rows.push_back(ranker_->SongRow(catalog_.items[static_cast<size_t>(i)].id));
    const auto pred = ranker_->Predict(rc, rows);
    std::vector<size_t> order(found.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return pred[a].score > pred[b].score; });
    std::vector<int> out;
    for (size_t j = 0; j < order.size() && static_cast<int>(out.size()) < k; ++j)
      out.push_back(found[order[j]]);
    return out;
  }

 private:
  static constexpr int kCandidates = 100;
  const Catalog& catalog_;
  Ranker* ranker_;
  std::shared_ptr<const SearchIndex> index_;
  std::unordered_map<std::string, int> index_of_;
};

}  // namespace

std::vector<DensePair> TripletPairs(const std::string& path) {
  std::vector<DensePair> pairs;
  ForEachTriplet(path, [&](const nlohmann::json& t) {
    for (const auto& id : t.at("items"))
      pairs.push_back({t.at("query").get<std::string>(), id.get<std::string>()});
  });
  return pairs;
}

std::vector<std::string> BaselineNames() {
  return {"popularity", "bm25", "bm25_rerank", "dense", "dense_rerank"};
}
bool UsesDenseRetriever(const std::string& baseline) {
  return baseline == "dense" || baseline == "dense_rerank";
}

std::shared_ptr<const DenseIndex> TrainDenseRetriever(const BaselineDeps& deps,
                                                      const DenseOptions& o) {
  if (!deps.store || !deps.catalog)
    throw Error("the dense retriever needs the store and the catalog");
  std::vector<DensePair> pairs;
  deps.store->ForEachQuery([&](const Query& q) {
    if (q.split == "rl" || q.split == "test") return;  // held out: never trained on
    for (const auto& s : q.relevant) pairs.push_back({q.text, s});
  });
  const size_t from_queries = pairs.size();
  if (!deps.triplets.empty())
    for (auto& p : TripletPairs(deps.triplets)) pairs.push_back(std::move(p));
  spdlog::info("dense retriever: {} pairs from training queries, {} from UQ2I triplets",
               from_queries, pairs.size() - from_queries);
  bool reused = false;
  auto ix = DenseIndex::TrainShared(CatalogSummaries(deps), pairs, o, &reused);
  spdlog::info("dense retriever: {} documents, vocabulary {}, loss {:.3f} -> {:.3f}, {}",
               ix->size(), ix->report().at("vocabulary").get<int64_t>(),
               ix->report().at("first_epoch_loss").get<double>(),
               ix->report().at("last_epoch_loss").get<double>(),
               reused ? std::string("the judge's song space, same data (trained once)")
                      : fmt::format("{:.1f} s", ix->report().at("seconds").get<double>()));
  return ix;
}

std::unique_ptr<Recommender> MakeBaseline(const std::string& name, const BaselineDeps& deps) {
  if (!deps.store || !deps.catalog) throw Error("baselines need the store and the catalog");
  if (name == "popularity") return std::make_unique<Popularity>(deps);
  if (name == "bm25" || name == "bm25_rerank") {
    auto index = std::make_shared<Bm25Index>();
    for (const auto& [id, summary] : CatalogSummaries(deps)) index->Add(id, summary);
    return std::make_unique<IndexSearch>(deps, index, name, name == "bm25_rerank");
  }
  if (UsesDenseRetriever(name))
    return std::make_unique<IndexSearch>(deps, deps.dense ? deps.dense : TrainDenseRetriever(deps),
                                         name, name == "dense_rerank");
  throw Error("unknown baseline '" + name + "'", "",
              "use one of: " + JoinStrings(BaselineNames(), ", "));
}

std::function<PromptExtras(const EvalRequest&)> RetrievedCandidates(const BaselineDeps& deps,
                                                                    int k) {
  std::shared_ptr<Recommender> bm25 = MakeBaseline("bm25", deps);
  return [bm25, k](const EvalRequest& r) {
    PromptExtras e;
    e.candidates = bm25->Recommend(r, UserContext{}, k);  // BM25 reads the query alone
    return e;
  };
}

std::vector<FewShotExample> FewShotExamples(const std::string& triplets_path,
                                            const Catalog& catalog, int n, int items, uint64_t seed,
                                            const std::function<bool(const std::string&)>& keep) {
  struct Candidate {
    std::string user;
    FewShotExample example;
  };
  std::vector<Candidate> all;
  ForEachTriplet(triplets_path, [&](const nlohmann::json& t) {
    Candidate c{t.at("user").get<std::string>(), {t.at("query").get<std::string>(), {}}};
    if (keep && !keep(c.user)) return;
    for (const auto& id : t.at("items")) {
      const int i = catalog.Find(id.get<std::string>());
      if (i >= 0 && static_cast<int>(c.example.items.size()) < items) c.example.items.push_back(i);
    }
    if (!c.example.items.empty()) all.push_back(std::move(c));
  });
  Rng rng(seed);
  rng.Shuffle(all);
  std::vector<FewShotExample> out;
  std::unordered_set<std::string> users;
  for (auto& c : all)
    if (static_cast<int>(out.size()) < n && users.insert(c.user).second)
      out.push_back(std::move(c.example));
  return out;
}

ListMetrics EvaluateBaseline(Recommender& system, Store& store, const Catalog& catalog,
                             std::span<const EvalRequest> requests, const EvalJudges& judges,
                             const OfflineEvalOptions& o) {
  // The request's language constraints hold for the baselines as for the LLM systems
  // (EvaluateOffline): a constrained request takes ten times the list from the system, drops the
  // songs they rule out, and keeps the first list_size.
  const CatalogLanguages languages(store, catalog);
  std::vector<EvalAnswer> answers;
  for (const auto& r : requests) {
    UserContext ctx = UserContextFromStore(store, catalog, r.user, r.ts, o.history);
    ctx.state = r.state;
    const std::vector<int> banned = languages.Banned(r.query);
    if (banned.empty()) {
      answers.push_back({system.Recommend(r, ctx, o.list_size), {}, true});
      continue;
    }
    const int wide = std::min(static_cast<int>(catalog.items.size()), o.list_size * 10);
    std::vector<int> list;
    for (const int item : system.Recommend(r, ctx, wide))
      if (!std::binary_search(banned.begin(), banned.end(), item) &&
          static_cast<int>(list.size()) < o.list_size)
        list.push_back(item);
    answers.push_back({std::move(list), {}, true});
  }
  return ScoreAnswers(store, catalog, requests, answers, judges, o);
}

}  // namespace muchator
