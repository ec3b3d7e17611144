// A subcommand of the `muchator` binary. Each command lives in its own file, declares its
// options once in Declare() and does its work in Run(); main.cc only wires them to CLI11.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/options.h"

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
