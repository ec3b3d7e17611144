#include "pipeline/benchmark_step.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "data/store.h"
#include "eval/knowledge.h"
#include "eval/report.h"
#include "infer/checkpoint.h"
#include "world/oracle.h"

namespace muchator {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::vector<std::pair<std::string, std::string>> BenchmarkCheckpointsOfRun(const std::string& run,
                                                                           std::string mixed) {
  if (mixed.empty()) mixed = run + "/ablate/table5/mixed/final";
  std::vector<std::pair<std::string, std::string>> cks;
  std::vector<std::string> stages;
  if (fs::is_directory(run + "/pretrain"))
    for (const auto& e : fs::directory_iterator(run + "/pretrain"))
      if (FileExists(e.path().string() + "/final/codec.json"))
        stages.push_back(e.path().filename().string());
  std::sort(stages.begin(), stages.end());
  for (const auto& s : stages) cks.emplace_back("pretrain:" + s, run + "/pretrain/" + s + "/final");
  if (FileExists(mixed + "/codec.json")) cks.emplace_back("pretrain:mixed", mixed);
  for (const auto& [name, dir] : ReadRunLayout(run).checkpoints)
    if (name != "pretrained") cks.emplace_back(name, dir);
  return cks;
}

std::string RunBenchmark(const BenchmarkSpec& spec) {
  KnowledgeOptions o;
  o.per_kind = spec.per_kind;
  o.split = spec.split;
  o.seed = spec.seed;
  std::unique_ptr<world::Oracle> oracle;
  std::string general;
  if (!spec.world.empty()) {
    oracle = std::make_unique<world::Oracle>(world::Oracle::Load(spec.world));
    if (FileExists(spec.world + "/oracle/general_mcq.jsonl"))
      general = spec.world + "/oracle/general_mcq.jsonl";
  } else {
    spdlog::warn("no world: the q2i and general questions need its oracle and are left out");
  }
  MakeDirs(spec.out);
  Store store(spec.store);
  json rows = json::array();
  for (const auto& [name, dir] : spec.checkpoints) {
    Checkpoint ck = LoadCheckpoint(dir);
    if (!ck.codec)
      throw Error("the checkpoint has no codec.json", dir,
                  "benchmark checkpoints written by the pipeline");
    const auto qs =
        BuildKnowledgeQuestions(store, ck.catalog, *ck.tok, *ck.codec, oracle.get(), general, o);
    const auto t0 = std::chrono::steady_clock::now();
    const json acc = KnowledgeAccuracy(qs, ScoreOptions(ck.model, qs));
    spdlog::info("{}: {} questions in {:.1f} s", name, qs.size(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    json row = {{"checkpoint", name}, {"dir", dir}, {"accuracy", acc}};
    if (!spec.corpus.empty()) {
      // The corpus's token ids mean the same only under the tokenizer it was written with.
      if (ReadFile(spec.corpus + "/tokenizer.json") == ReadFile(dir + "/tokenizer.json"))
        row["u2i"] =
            MeasureU2iPerplexity(ck.model, *ck.tok, spec.corpus, spec.u2i_docs, spec.u2i_context)
                .ToJson();
      else
        spdlog::warn("{}: its tokenizer is not the corpus's; no U2I perplexity", name);
    }
    rows.push_back(row);
  }
  const json report = {
      {"per_kind", o.per_kind}, {"seed", o.seed}, {"split", o.split}, {"rows", rows}};
  WriteFileAtomic(spec.out + "/knowledge.json", report.dump(2) + "\n");
  std::string md =
      "| checkpoint | artist | genre | q2i | general | paraphrase | U2I perplexity "
      "|\n|---|---|---|---|---|---|---|\n";
  for (const auto& r : rows) {
    md += "| " + r["checkpoint"].get<std::string>();
    for (const char* k : {"artist", "genre", "q2i", "general", "paraphrase"}) {
      const json& a = r["accuracy"];
      char cell[64] = " - ";
      if (a.contains(k))
        std::snprintf(cell, sizeof cell, "%.3f (%.3f)", a[k]["acc"].get<double>(),
                      a[k]["acc_norm"].get<double>());
      md += std::string(" | ") + cell;
    }
    char u2i[64] = " - ";
    if (r.contains("u2i"))
      std::snprintf(u2i, sizeof u2i, "%.2f", r["u2i"]["perplexity"].get<double>());
    md += std::string(" | ") + u2i + " |\n";
  }
  md = "Accuracy by summed option log-likelihood (in brackets: by mean per token); chance 0.25; " +
       std::to_string(o.per_kind) +
       " questions per kind at most. U2I perplexity: per item token of the listeners' held-out "
       "last events (lower is better).\n\n" +
       md;
  WriteFileAtomic(spec.out + "/knowledge.md", md);
  return md;
}

}  // namespace muchator
