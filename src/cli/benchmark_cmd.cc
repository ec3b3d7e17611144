// `muchator benchmark`: the knowledge benchmarks of the paper's Table 5 (eval/knowledge.h) for
// every checkpoint of a run - each pre-training stage (Table 5's "stage 1, 1+2, 1+2+3"), SFT and
// GRPO - or for checkpoints given by name.
#include <cstdio>

#include "cli/command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/threads.h"
#include "data/flags.h"
#include "data/store.h"
#include "eval/flags.h"
#include "eval/report.h"
#include "pipeline/benchmark_step.h"

namespace muchator::cli {
namespace {

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
    opts.Add(kCheckpointsFlag, &checkpoints_);
    AddPath(opts, PathFlag::kCorpus, &spec_.corpus,
            "corpus directory whose stage3_heldout gives the U2I perplexity column (default "
            "RUN/corpus; checkpoints with another tokenizer get no value)");
    opts.Add(kU2iDocsFlag, &spec_.u2i_docs);
    opts.Add(kU2iContextFlag, &spec_.u2i_context,
             "u2i: tokens of each held-out document kept, from its end (the pre-training row "
             "length)");
    opts.Add(kPerKindFlag, &spec_.per_kind);
    opts.Add(kSplitFlag, &spec_.split, "q2i: queries of this split");
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
    for (const auto& nc : checkpoints_) spec_.checkpoints.push_back(nc);
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
  Options::NamedValues checkpoints_;
  int64_t seed_ = 1, threads_ = 0;
};

}  // namespace

std::unique_ptr<Command> MakeBenchmarkCommand() { return std::make_unique<BenchmarkCommand>(); }

}  // namespace muchator::cli
