// A subcommand of the `muchator` binary. Each command lives in its own file, declares its
// options once in Declare() and does its work in Run(); main.cc only wires them to CLI11.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/options.h"
#include "corpus/builders.h"

namespace muchator::cli {

class Command {
 public:
  virtual ~Command() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  // Declares the command's options on `opts` (bound to members of the command).
  virtual void Declare(Options& opts) = 0;
  // Runs after options were resolved; returns the process exit code. `opts` is passed so the
  // command can write its effective configuration next to its outputs.
  virtual int Run(const Options& opts) = 0;
};

// "NAME=CHECKPOINT_DIR" values of a --checkpoints option as (name, dir); throws Error naming
// the option for a malformed one.
std::vector<std::pair<std::string, std::string>> ParseNamedCheckpoints(
    const std::vector<std::string>& values);

// The corpus step shared by `corpus`, `pipeline` and `ablate` (corpus_cmd.cc): builds the item
// codec, saves the grown tokenizer and the codec beside the shards, builds every stage, writes
// corpus_summary.json and returns the summary.
CorpusSummary RunCorpus(const std::string& store_path, const std::string& tokenizer_path,
                        const std::string& codec_name, const std::string& out,
                        const CorpusOptions& o);

// The benchmark step shared by `benchmark` and `ablate --table 5` (benchmark_cmd.cc).
struct BenchmarkSpec {
  std::string store, world, corpus;  // world and corpus optional (q2i/general, U2I perplexity)
  std::vector<std::pair<std::string, std::string>> checkpoints;  // name -> checkpoint dir
  int per_kind = 200;          // questions of each kind (eval/knowledge.h KnowledgeOptions)
  std::string split = "test";  // q2i questions' queries
  uint64_t seed = 1;
  int64_t u2i_docs = 200, u2i_context = 256;
  std::string out;  // knowledge.json, knowledge.md
};
// A run's checkpoints in Table 5's order: each pre-training stage (curriculum order), the mixed
// curriculum of `ablate --table 5` when it exists (`mixed`, default RUN/ablate/table5/mixed/final),
// then SFT and GRPO.
std::vector<std::pair<std::string, std::string>> BenchmarkCheckpointsOfRun(const std::string& run,
                                                                           std::string mixed = "");
// Scores every checkpoint, writes spec.out/knowledge.json and knowledge.md; returns the Markdown.
std::string RunBenchmark(const BenchmarkSpec& spec);

std::unique_ptr<Command> MakeIngestCommand();
std::unique_ptr<Command> MakeWorldCommand();
std::unique_ptr<Command> MakePipelineCommand();
std::unique_ptr<Command> MakeTokenizeCommand();
std::unique_ptr<Command> MakeTrainTokenizerCommand();
std::unique_ptr<Command> MakeCorpusCommand();
std::unique_ptr<Command> MakePretrainCommand();
std::unique_ptr<Command> MakeGenerateCommand();
std::unique_ptr<Command> MakeConvertCommand();
std::unique_ptr<Command> MakeTrainRankerCommand();
std::unique_ptr<Command> MakeTrainJudgeCommand();
std::unique_ptr<Command> MakeSynthCommand();
std::unique_ptr<Command> MakeSftCommand();
std::unique_ptr<Command> MakeGrpoCommand();
std::unique_ptr<Command> MakeEvaluateCommand();
std::unique_ptr<Command> MakeServeCommand();
std::unique_ptr<Command> MakeBenchmarkCommand();
std::unique_ptr<Command> MakeLaunchCommand();
std::unique_ptr<Command> MakeAblateCommand();
std::unique_ptr<Command> MakeReportCommand();
std::unique_ptr<Command> MakeExportGgufCommand();
// The command line after `--` of `muchator launch ... -- <command> [options]`.
void SetLaunchTail(std::vector<std::string> tail);

// All commands, in the order `--help` lists them.
std::vector<std::unique_ptr<Command>> AllCommands();

}  // namespace muchator::cli
