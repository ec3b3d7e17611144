#include "pipeline/sft_step.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "corpus/shard.h"
#include "data/store.h"
#include "eval/generation.h"
#include "infer/checkpoint.h"
#include "synth/cluster.h"
#include "world/oracle.h"

namespace muchator {

namespace fs = std::filesystem;

namespace {

// Calls fn(row, line number) for every non-empty line of a JSONL file this job wrote.
void ForEachJsonLine(const std::string& path,
                     const std::function<void(const nlohmann::json&, int64_t)>& fn) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read", path, "was it removed while the job ran?");
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(std::string("not JSON: ") + e.what(), path + ":" + std::to_string(n),
                  "run the synthesis again");
    }
    fn(row, n);
  }
}

// Rank 0's clustering of the pool, read back from its pool.jsonl by the other ranks (every rank
// builds the same pool: the texts must match line by line).
std::vector<int> ReadClusters(const std::string& path, const QueryPool& pool) {
  std::vector<int> cluster;
  ForEachJsonLine(path, [&](const nlohmann::json& row, int64_t line) {
    const size_t t = cluster.size();
    if (t >= pool.texts.size() || row.at("text") != pool.texts[t])
      throw Error("rank 0's query pool differs from this rank's at line " + std::to_string(line),
                  path, "every rank must read the same store with the same options");
    cluster.push_back(row.at("cluster").get<int>());
  });
  if (cluster.size() != pool.texts.size())
    throw Error("rank 0's query pool has " + std::to_string(cluster.size()) +
                    " texts, this rank's " + std::to_string(pool.texts.size()),
                path, "every rank must read the same store with the same options");
  return cluster;
}

std::string PartPath(const std::string& out_dir, int rank) {
  return out_dir + "/triplets.part" + std::to_string(rank) + ".jsonl";
}

// Rank 0: the shards' triplets merged in the users' order (each shard's file is in that order
// already), cut at max_triplets, and their summaries combined; the parts are removed.
nlohmann::json MergeShards(const std::string& out_dir, int ranks, const Uq2iOptions& o,
                           const std::vector<nlohmann::json>& parts) {
  struct Row {
    int64_t pos;
    std::string line;
    std::vector<double> oracle;
  };
  std::vector<std::vector<Row>> rows(static_cast<size_t>(ranks));
  for (int r = 0; r < ranks; ++r)
    ForEachJsonLine(PartPath(out_dir, r), [&](const nlohmann::json& j, int64_t) {
      rows[static_cast<size_t>(r)].push_back({j.at("pos").get<int64_t>(), j.at("triplet").dump(),
                                              j.at("oracle").is_null()
                                                  ? std::vector<double>{}
                                                  : j.at("oracle").get<std::vector<double>>()});
    });
  AtomicWriter w(out_dir + "/triplets.jsonl");
  Uq2iOracleStats quality;
  std::vector<size_t> next(static_cast<size_t>(ranks), 0);
  int64_t made = 0;
  while (o.max_triplets <= 0 || made < o.max_triplets) {
    int best = -1;  // the shard whose next triplet has the smallest user position
    for (int r = 0; r < ranks; ++r) {
      const auto& v = rows[static_cast<size_t>(r)];
      const size_t i = next[static_cast<size_t>(r)];
      if (i < v.size() &&
          (best < 0 ||
           v[i].pos < rows[static_cast<size_t>(best)][next[static_cast<size_t>(best)]].pos))
        best = r;
    }
    if (best < 0) break;
    const Row& row = rows[static_cast<size_t>(best)][next[static_cast<size_t>(best)]++];
    w.WriteLine(row.line);
    quality.Add(row.oracle);
    ++made;
  }
  w.Commit();
  nlohmann::json s = parts[0];
  s["triplets"] = made;
  for (const char* k : {"users", "anchors_without_query", "anchors_with_small_cluster",
                        "from_own_requests", "from_borrowed_requests", "from_cluster_anchors"}) {
    int64_t sum = 0;
    for (const auto& p : parts) sum += p.at(k).get<int64_t>();
    s[k] = sum;
  }
  s.erase("oracle");
  quality.Into(s);
  s["ranks"] = ranks;
  for (int r = 0; r < ranks; ++r) std::filesystem::remove(PartPath(out_dir, r));
  return s;
}

}  // namespace

nlohmann::json RunUq2iSynthesis(Store& store, const std::string& model_dir,
                                const std::string& ranker_dir, const world::Oracle* oracle,
                                const std::string& out_dir, const SynthRunOptions& o) {
  dist::Group* group = o.group.get();
  const bool root = !group || group->root();
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
  const int k = ClusterCount(static_cast<int64_t>(pool.texts.size()), o.per_cluster);
  QueryClusters clusters;
  if (root) {
    spdlog::info("synth: {} distinct queries ({} refused for query-only forms); embedding with {}",
                 pool.texts.size(), pool.dropped_forbidden, model_dir);
    Checkpoint ck = LoadCheckpoint(model_dir);
    const torch::Tensor emb = EmbedTexts(ck.model, *ck.tok, pool.texts);
    clusters = GroupSongs(pool, KMeans(emb, k, o.pool.seed), k);
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
  if (group) {
    group->Barrier();  // pool.jsonl exists
    if (!root) clusters = GroupSongs(pool, ReadClusters(out_dir + "/pool.jsonl", pool), k);
  }
  Ranker ranker = Ranker::Load(ranker_dir);
  Uq2iOptions uo = o.uq2i;
  if (group) uo.shard = group->rank(), uo.shards = group->size();
  nlohmann::json s;
  const auto t0 = std::chrono::steady_clock::now();  // "seconds": the synthesis (and merge)
  if (!group) {
    AtomicWriter w(out_dir + "/triplets.jsonl");
    s = SynthesizeUq2i(store, catalog, pool, clusters, ranker, oracle, uo,
                       [&](const Uq2iTriplet& t) { w.WriteLine(t.ToJson(catalog).dump()); });
    w.Commit();
  } else {
    AtomicWriter w(PartPath(out_dir, group->rank()));
    const nlohmann::json part = SynthesizeUq2i(
        store, catalog, pool, clusters, ranker, oracle, uo, [&](const Uq2iTriplet& t) {
          w.WriteLine(nlohmann::json({{"pos", t.user_pos},
                                      {"oracle", t.oracle.empty() ? nlohmann::json(nullptr)
                                                                  : nlohmann::json(t.oracle)},
                                      {"triplet", t.ToJson(catalog)}})
                          .dump());
        });
    w.Commit();
    WriteFileAtomic(out_dir + "/synth_summary.part" + std::to_string(group->rank()) + ".json",
                    part.dump() + "\n");
    group->Barrier();  // every part is written
    if (!root) return part;
    std::vector<nlohmann::json> parts;
    for (int r = 0; r < group->size(); ++r) {
      const std::string p = out_dir + "/synth_summary.part" + std::to_string(r) + ".json";
      parts.push_back(nlohmann::json::parse(ReadFile(p)));
      std::filesystem::remove(p);
    }
    s = MergeShards(out_dir, group->size(), uo, parts);
    s["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s["triplets_per_s"] = s["seconds"].get<double>() > 0
                              ? s["triplets"].get<double>() / s["seconds"].get<double>()
                              : 0.0;
  }
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

void PrintGeneration(const std::string& label, const OfflineEvaluation& g) {
  for (const char* mode : {"constrained", "unconstrained"}) {
    const ListMetrics* m = g.Mode(mode);
    if (!m || !m->oracle) continue;
    std::printf("%s %s: relevance@10 %.3f, utility %.3f, factuality %.3f, well-formed %.3f\n",
                label.c_str(), mode, m->oracle->relevance_at_10, m->oracle->utility, m->factuality,
                m->well_formed);
  }
}

// Held-out synthesised pairs (users not trained on) and the test split's real queries.
SftCheck Check(Store& store, Checkpoint& ck, const world::Oracle& oracle,
               const std::string& out_dir, GenerationEvalOptions e, const std::string& when) {
  SftCheck c;
  e.triplets = out_dir + "/corpus/sft_heldout.jsonl";
  c.heldout_pairs = EvaluateGeneration(store, ck, oracle, e);
  PrintGeneration(when + " SFT, held-out pairs,", c.heldout_pairs);
  e.triplets.clear();
  c.test_queries = EvaluateGeneration(store, ck, oracle, e);
  PrintGeneration(when + " SFT, test queries,", c.test_queries);
  return c;
}

// Copies `stage`'s shard files from the pre-training corpus into the SFT corpus, after checking
// that both were written with the same tokenizer (token ids would mean other words otherwise).
// False (nothing copied) when the corpus has fewer than 2 documents of the stage: a user's data
// may hold no general text (the curriculum skips that stage too).
bool CopyReplayStage(const std::string& from, const std::string& to, const std::string& stage) {
  if (!FileExists(from + "/tokenizer.json"))
    throw Error("not a corpus directory (no tokenizer.json)", from,
                "give the pre-training corpus directory (muchator corpus --out)");
  if (!FileExists(from + "/" + stage + ".index.json") || ShardReader(from, stage).num_docs() < 2) {
    spdlog::warn("{}: no {} documents to replay during SFT", from, stage);
    return false;
  }
  if (ReadFile(from + "/tokenizer.json") != ReadFile(to + "/tokenizer.json"))
    throw Error("the replay corpus was written with another tokenizer than the checkpoint's", from,
                "give the corpus the checkpoint was pre-trained on");
  for (const auto& e : fs::directory_iterator(from)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(stage + ".", 0) == 0)
      fs::copy_file(e.path(), to + "/" + name, fs::copy_options::overwrite_existing);
  }
  return true;
}

}  // namespace

nlohmann::json ToJson(const SftReport& r) {
  nlohmann::json j = {{"examples", r.examples},
                      {"final_train_loss", r.final_train_loss},
                      {"heldout_loss", r.heldout_loss}};
  for (const auto& [when, check] : {std::pair{"before", &r.before}, std::pair{"after", &r.after}})
    if (*check)
      j[when] = {{"heldout_pairs", ToJson((*check)->heldout_pairs)},
                 {"test_queries", ToJson((*check)->test_queries)}};
  return j;
}

SftReport RunSft(Store& store, const std::string& init_dir, const std::string& triplets,
                 const std::string& out_dir, const world::Oracle* oracle, const SftOptions& o,
                 const GenerationEvalOptions& eval, bool check_before) {
  // Data-parallel (o.train.group): rank 0 writes the corpus while the others wait, every rank
  // trains its rows, rank 0 alone checks and reports.
  dist::Group* group = o.train.group.get();
  const bool root = !group || group->root();
  MakeDirs(out_dir);
  SftReport report;
  const std::string replay_index = out_dir + "/corpus/stage0_general.index.json";
  if (root) {
    Checkpoint base = LoadCheckpoint(init_dir);
    report.examples = BuildSftCorpus(store, base, init_dir, triplets, out_dir + "/corpus", o);
    if (!o.replay_corpus.empty() &&
        !CopyReplayStage(o.replay_corpus, out_dir + "/corpus", "stage0_general") &&
        FileExists(replay_index))
      fs::remove(replay_index);
  }
  // One barrier: the other ranks read the corpus (and the replay copy) only once rank 0 wrote it,
  // so every rank decides alike whether the replay stage takes part.
  if (group) group->Barrier();
  std::vector<std::string> stages = {"sft"};
  if (!o.replay_corpus.empty() && FileExists(replay_index)) stages.push_back("stage0_general");
  Qwen3ForCausalLM model = LoadModel(init_dir);
  const StageResult r =
      TrainStage(model, out_dir + "/corpus", stages, {"sft"}, out_dir, "sft", o.train,
                 /*resume=*/false, out_dir + "/corpus/tokenizer.json");
  if (!root) return report;
  report.final_train_loss = r.final_loss;
  report.heldout_loss = r.heldout.empty() ? 0.0 : r.heldout[0].second;
  std::printf("sft: %lld examples, %lld steps, train loss %.4f, held-out loss %.4f\n",
              static_cast<long long>(report.examples), static_cast<long long>(r.steps),
              r.final_loss, report.heldout_loss);
  if (oracle && check_before) {  // the starting checkpoint's answers, for the before/after pair
    Checkpoint base = LoadCheckpoint(init_dir);
    report.before = Check(store, base, *oracle, out_dir, eval, "before");
  }
  if (oracle) {
    Checkpoint tuned = LoadCheckpoint(out_dir + "/sft/final");
    report.after = Check(store, tuned, *oracle, out_dir, eval, "after");
  }
  WriteFileAtomic(out_dir + "/sft_report.json", ToJson(report).dump(2) + "\n");
  return report;
}

}  // namespace muchator
