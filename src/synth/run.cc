#include "synth/run.h"

#include <cstdio>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "data/store.h"
#include "infer/checkpoint.h"
#include "synth/cluster.h"
#include "world/oracle.h"

namespace muchator {

nlohmann::json RunUq2iSynthesis(Store& store, const std::string& model_dir,
                                const std::string& ranker_dir, const world::Oracle* oracle,
                                const std::string& out_dir, const SynthRunOptions& o) {
  MakeDirs(out_dir);
  const Catalog catalog = Catalog::FromStore(store);
  spdlog::info("synth: building the query pool");
  const QueryPool pool = BuildQueryPool(store, catalog, DefaultQueryGenerator(),
                                        oracle ? WorldQueryFormFilter(*oracle->model().concepts)
                                               : std::function<bool(const std::string&)>(),
                                        o.pool);
  if (pool.texts.size() < 2)
    throw Error("the query pool has fewer than 2 queries", store.path(),
                "the songs need tags, genres or playlists");
  spdlog::info("synth: {} distinct queries ({} refused for query-only forms); embedding with {}",
               pool.texts.size(), pool.dropped_forbidden, model_dir);
  Checkpoint ck = LoadCheckpoint(model_dir);
  const torch::Tensor emb = EmbedTexts(ck.model, *ck.tok, pool.texts);
  const int k = ClusterCount(static_cast<int64_t>(pool.texts.size()), o.per_cluster);
  const QueryClusters clusters = GroupSongs(pool, KMeans(emb, k, o.pool.seed), k);
  {
    AtomicWriter rows(out_dir + "/pool.jsonl");
    for (size_t t = 0; t < pool.texts.size(); ++t) {
      nlohmann::json songs = nlohmann::json::array();
      for (int i : pool.songs_of_text[t]) songs.push_back(catalog.items[static_cast<size_t>(i)].id);
      rows.WriteLine(nlohmann::json({{"text", pool.texts[t]},
                                     {"source", pool.sources[t]},
                                     {"cluster", clusters.cluster_of_text[t]},
                                     {"songs", songs}})
                         .dump());
    }
    rows.Commit();
  }
  Ranker ranker = Ranker::Load(ranker_dir);
  AtomicWriter w(out_dir + "/triplets.jsonl");
  nlohmann::json s =
      SynthesizeUq2i(store, catalog, pool, clusters, ranker, oracle, o.uq2i,
                     [&](const Uq2iTriplet& t) { w.WriteLine(t.ToJson(catalog).dump()); });
  w.Commit();
  s["pool_queries"] = pool.texts.size();
  s["clusters"] = k;
  s["refused_query_only_forms"] = pool.dropped_forbidden;
  WriteFileAtomic(out_dir + "/synth_summary.json", s.dump(2) + "\n");
  return s;
}

std::string Uq2iSummaryLine(const nlohmann::json& s) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%lld triplets from %lld users (%lld excluded: rl/test), %lld queries in %d "
                "clusters, %.0f triplets/s",
                s["triplets"].get<long long>(), s["users"].get<long long>(),
                s["excluded_users"].get<long long>(), s["pool_queries"].get<long long>(),
                s["clusters"].get<int>(), s["triplets_per_s"].get<double>());
  std::string line = buf;
  if (s.contains("oracle")) {
    std::snprintf(buf, sizeof buf,
                  "; oracle relevance@10 %.3f (before filtering %.3f), utility %.3f (before %.3f)",
                  s["oracle"]["relevance_at_10"].get<double>(),
                  s["oracle"]["relevance_before_filtering"].get<double>(),
                  s["oracle"]["utility"].get<double>(),
                  s["oracle"]["utility_before_filtering"].get<double>());
    line += buf;
  }
  return line;
}

namespace {

void PrintGeneration(const std::string& label, const nlohmann::json& g) {
  for (const char* mode : {"constrained", "unconstrained"})
    std::printf("%s %s: relevance@10 %.3f, utility %.3f, factuality %.3f, well-formed %.3f\n",
                label.c_str(), mode, g[mode]["relevance_at_10"].get<double>(),
                g[mode]["utility"].get<double>(), g[mode]["factuality"].get<double>(),
                g[mode]["well_formed"].get<double>());
}

// Held-out synthesised pairs (users not trained on) and the test split's real queries.
void Check(Store& store, Checkpoint& ck, const world::Oracle& oracle, const std::string& out_dir,
           GenerationEvalOptions e, const std::string& when, nlohmann::json& report) {
  e.triplets = out_dir + "/corpus/sft_heldout.jsonl";
  report[when]["heldout_pairs"] = EvaluateGeneration(store, ck, oracle, e);
  PrintGeneration(when + " SFT, held-out pairs,", report[when]["heldout_pairs"]);
  e.triplets.clear();
  report[when]["test_queries"] = EvaluateGeneration(store, ck, oracle, e);
  PrintGeneration(when + " SFT, test queries,", report[when]["test_queries"]);
}

}  // namespace

nlohmann::json RunSft(Store& store, const std::string& init_dir, const std::string& triplets,
                      const std::string& out_dir, const world::Oracle* oracle, const SftOptions& o,
                      const GenerationEvalOptions& eval, bool check_before) {
  // Data-parallel (o.train.group): rank 0 writes the corpus while the others wait, every rank
  // trains its rows, rank 0 alone checks and reports.
  dist::Group* group = o.train.group.get();
  const bool root = !group || group->root();
  MakeDirs(out_dir);
  nlohmann::json report;
  if (root) {
    Checkpoint base = LoadCheckpoint(init_dir);
    report["examples"] = BuildSftCorpus(store, base, init_dir, triplets, out_dir + "/corpus", o);
  }
  if (group) group->Barrier();
  Qwen3ForCausalLM model = LoadModel(init_dir);
  const StageResult r =
      TrainStage(model, out_dir + "/corpus", {"sft"}, {"sft"}, out_dir, "sft", o.train,
                 /*resume=*/false, out_dir + "/corpus/tokenizer.json");
  if (!root) return report;
  report["final_train_loss"] = r.final_loss;
  report["heldout_loss"] = r.heldout.empty() ? 0.0 : r.heldout[0].second;
  std::printf("sft: %lld examples, %lld steps, train loss %.4f, held-out loss %.4f\n",
              report["examples"].get<long long>(), static_cast<long long>(r.steps), r.final_loss,
              report["heldout_loss"].get<double>());
  if (oracle && check_before) {  // the starting checkpoint's answers, for the before/after pair
    Checkpoint base = LoadCheckpoint(init_dir);
    Check(store, base, *oracle, out_dir, eval, "before", report);
  }
  if (oracle) {
    Checkpoint tuned = LoadCheckpoint(out_dir + "/sft/final");
    Check(store, tuned, *oracle, out_dir, eval, "after", report);
  }
  WriteFileAtomic(out_dir + "/sft_report.json", report.dump(2) + "\n");
  return report;
}

}  // namespace muchator
