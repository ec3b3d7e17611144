// `muchator benchmark`: the knowledge benchmarks of the paper's Table 5 (eval/knowledge.h) for
// every checkpoint of a run - each pre-training stage (Table 5's "stage 1, 1+2, 1+2+3"), SFT and
// GRPO - or for checkpoints given by name.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/threads.h"
#include "data/store.h"
#include "eval/knowledge.h"
#include "eval/report.h"
#include "infer/checkpoint.h"
#include "world/oracle.h"

namespace muchator::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class BenchmarkCommand : public Command {
 public:
  std::string name() const override { return "benchmark"; }
  std::string description() const override {
    return "Knowledge benchmarks (Table 5): multiple-choice music knowledge (artist, genre), "
           "query-to-item relevance "
           "and general knowledge, scored by option log-likelihood, for every checkpoint of a run";
  }
  void Declare(Options& opts) override {
    AddPath(opts, PathFlag::kRun, &run_,
            "a pipeline run directory: its store, world and checkpoints (each pre-training stage, "
            "sft, grpo)");
    AddStore(opts, &spec_.store,
             "SQLite store (songs, artists, queries); default RUN/store.sqlite");
    AddPath(
        opts, PathFlag::kWorld, &spec_.world,
        "world directory with an oracle (q2i and general questions need it); default RUN/world");
    opts.Add("checkpoints", &checkpoints_, "NAME=CHECKPOINT_DIR,... instead of the run's");
    AddPath(opts, PathFlag::kCorpus, &spec_.corpus,
            "corpus directory whose stage3_heldout gives the U2I perplexity column (default "
            "RUN/corpus; checkpoints with another tokenizer get no value)");
    opts.Add("u2i-docs", &spec_.u2i_docs,
             "held-out listener documents scored for U2I perplexity (0 = all)")
        .Range(0, 1e9);
    opts.Add("u2i-context", &spec_.u2i_context,
             "tokens of each held-out document kept, from its end (the pre-training row length)")
        .Range(16, 1e7);
    opts.Add("per-kind", &spec_.per_kind, "questions of each kind").Range(1, 1e6);
    opts.Add("split", &spec_.split, "q2i: queries of this split");
    AddSeed(opts, &seed_, "question sampling seed");
    AddOut(opts, &spec_.out,
           "output directory: knowledge.json, knowledge.md (default RUN/benchmarks)");
    AddThreads(opts, &threads_);
  }

  int Run(const Options& opts) override {
    SetupThreads(static_cast<int>(threads_));
    spec_.seed = static_cast<uint64_t>(seed_);
    if (!run_.empty()) {
      const RunLayout run = ReadRunLayout(run_);
      if (spec_.store.empty()) spec_.store = run.store;
      if (spec_.world.empty()) spec_.world = run.world;
      if (spec_.corpus.empty() && FileExists(run_ + "/corpus/stage3_heldout.index.json"))
        spec_.corpus = run_ + "/corpus";
      if (checkpoints_.empty()) spec_.checkpoints = BenchmarkCheckpointsOfRun(run_);
    }
    for (auto& nc : ParseNamedCheckpoints(checkpoints_)) spec_.checkpoints.push_back(std::move(nc));
    if (spec_.store.empty()) throw Error("no store", "--store", "give --store FILE or --run DIR");
    if (spec_.checkpoints.empty())
      throw Error("no checkpoint to benchmark", "--checkpoints",
                  "give --run DIR of a pipeline run or --checkpoints NAME=DIR");
    if (spec_.out.empty()) spec_.out = run_.empty() ? "out/benchmarks" : run_ + "/benchmarks";
    MakeDirs(spec_.out);
    opts.WriteEffective(spec_.out + "/benchmark.config.toml");
    const std::string md = RunBenchmark(spec_);
    std::printf("%s\nwrote %s/knowledge.json and %s/knowledge.md\n", md.c_str(), spec_.out.c_str(),
                spec_.out.c_str());
    return 0;
  }

 private:
  std::string run_;
  BenchmarkSpec spec_;
  std::vector<std::string> checkpoints_;
  int64_t seed_ = 1, threads_ = 0;
};

}  // namespace

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

std::unique_ptr<Command> MakeBenchmarkCommand() { return std::make_unique<BenchmarkCommand>(); }

}  // namespace muchator::cli
