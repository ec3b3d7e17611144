// `muchator synth-uq2i`: User-Query-to-Item instruction data (the paper's UQ2I synthesis).
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/threads.h"
#include "data/store.h"
#include "infer/checkpoint.h"
#include "synth/cluster.h"
#include "synth/uq2i.h"
#include "world/oracle.h"

namespace muchator::cli {
namespace {

class SynthCommand : public Command {
 public:
  std::string name() const override { return "synth-uq2i"; }
  std::string description() const override {
    return "Synthesise (user context, query) -> 10-song lists: a query pool per song, queries clustered by a "
           "pre-trained checkpoint's embeddings, candidates from the clusters of each user's favourites, top 10 by "
           "the ranking model";
  }
  void Declare(Options& opts) override {
    opts.Add("store", &store_, "SQLite store from `muchator ingest`").Required();
    opts.Add("model", &model_, "pre-trained checkpoint whose hidden states embed the queries").Required();
    opts.Add("ranker", &ranker_, "ranking model directory from `muchator train-ranker`").Required();
    opts.Add("world", &world_, "synthetic world directory: refuse its query-only forms, measure quality with its oracle");
    opts.Add("out", &out_, "output directory: triplets.jsonl, pool.jsonl, synth_summary.json");
    opts.Add("per-song", &po_.per_song, "generated queries kept per song").Range(1, 1000);
    opts.Add("per-cluster", &per_cluster_, "about this many queries per cluster (K = queries / this)").Range(1, 1e6);
    opts.Add("per-user", &uo_.per_user, "triplets per user at most").Range(1, 1e6);
    opts.Add("list-size", &uo_.list_size, "songs per target list").Range(1, 1000);
    opts.Add("max-triplets", &uo_.max_triplets, "stop after this many triplets (0 = no limit)").Range(0, 1e12);
    opts.Add("holdout", &uo_.holdout, "favourites only from before the log's last share (as the ranker's split)").Range(0.001, 0.999);
    opts.Add("seed", &seed_, "seed of query choice and clustering").Range(0, 9e18);
    opts.Add("threads", &threads_, "compute threads (0 = all cores)").Range(0, 1024);
  }
  int Run(const Options& opts) override {
    SetupThreads(static_cast<int>(threads_));
    po_.seed = uo_.seed = static_cast<uint64_t>(seed_);
    MakeDirs(out_);
    opts.WriteEffective(out_ + "/synth-uq2i.config.toml");
    std::unique_ptr<world::Oracle> oracle;
    if (!world_.empty()) oracle = std::make_unique<world::Oracle>(world::Oracle::Load(world_));
    Store store(store_);
    const Catalog catalog = Catalog::FromStore(store);
    spdlog::info("synth: building the query pool");
    const QueryPool pool = BuildQueryPool(store, catalog, TemplateQueryGenerator(),
                                          oracle ? HasWorldQueryForm : std::function<bool(const std::string&)>(), po_);
    if (pool.texts.size() < 2) throw Error("the query pool has fewer than 2 queries", store_, "the songs need tags, genres or playlists");
    spdlog::info("synth: {} distinct queries ({} refused for query-only forms); embedding with {}", pool.texts.size(),
                 pool.dropped_forbidden, model_);
    Checkpoint ck = LoadCheckpoint(model_);
    const torch::Tensor emb = EmbedTexts(ck.model, *ck.tok, pool.texts);
    const int k = ClusterCount(static_cast<int64_t>(pool.texts.size()), static_cast<int>(per_cluster_));
    const QueryClusters clusters = GroupSongs(pool, KMeans(emb, k, po_.seed), k);
    {
      std::string rows;
      for (size_t t = 0; t < pool.texts.size(); ++t) {
        nlohmann::json songs = nlohmann::json::array();
        for (int i : pool.songs_of_text[t]) songs.push_back(catalog.items[static_cast<size_t>(i)].id);
        rows += nlohmann::json({{"text", pool.texts[t]}, {"source", pool.sources[t]}, {"cluster", clusters.cluster_of_text[t]},
                                {"songs", songs}}).dump() + "\n";
      }
      WriteFileAtomic(out_ + "/pool.jsonl", rows);
    }
    Ranker ranker = Ranker::Load(ranker_);
    AtomicWriter w(out_ + "/triplets.jsonl");
    nlohmann::json s = SynthesizeUq2i(store, catalog, pool, clusters, ranker, oracle.get(), uo_,
                                      [&](const Uq2iTriplet& t) { w.WriteLine(t.ToJson(catalog).dump()); });
    w.Commit();
    s["pool_queries"] = pool.texts.size();
    s["clusters"] = k;
    s["refused_query_only_forms"] = pool.dropped_forbidden;
    WriteFileAtomic(out_ + "/synth_summary.json", s.dump(2) + "\n");
    std::printf("synth-uq2i: %lld triplets from %lld users (%lld excluded: rl/test), %zu queries in %d clusters, %.0f triplets/s",
                s["triplets"].get<long long>(), s["users"].get<long long>(), s["excluded_users"].get<long long>(),
                pool.texts.size(), k, s["triplets_per_s"].get<double>());
    if (s.contains("oracle"))
      std::printf("; oracle relevance@10 %.3f (before filtering %.3f), utility %.3f (before %.3f)",
                  s["oracle"]["relevance_at_10"].get<double>(), s["oracle"]["relevance_before_filtering"].get<double>(),
                  s["oracle"]["utility"].get<double>(), s["oracle"]["utility_before_filtering"].get<double>());
    std::printf("\nwrote %s/triplets.jsonl\n", out_.c_str());
    return 0;
  }

 private:
  std::string store_, model_, ranker_, world_, out_ = "out/uq2i";
  QueryPoolOptions po_;
  Uq2iOptions uo_;
  int64_t per_cluster_ = 5, seed_ = 1, threads_ = 0;
};

}  // namespace

std::unique_ptr<Command> MakeSynthCommand() { return std::make_unique<SynthCommand>(); }

}  // namespace muchator::cli
