// The muchator binary: parses the command line and runs one subcommand.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"
#include "core/threads.h"

namespace muchator::cli {

std::vector<std::unique_ptr<Command>> AllCommands() {
  std::vector<std::unique_ptr<Command>> v;
  v.push_back(MakePipelineCommand());
  v.push_back(MakeWorldCommand());
  v.push_back(MakeIngestCommand());
  v.push_back(MakeConvertCommand());
  v.push_back(MakeTrainTokenizerCommand());
  v.push_back(MakeTokenizeCommand());
  v.push_back(MakeCorpusCommand());
  v.push_back(MakePretrainCommand());
  v.push_back(MakeGenerateCommand());
  v.push_back(MakeTrainRankerCommand());
  v.push_back(MakeTrainJudgeCommand());
  v.push_back(MakeSynthCommand());
  v.push_back(MakeSftCommand());
  v.push_back(MakeGrpoCommand());
  v.push_back(MakeEvaluateCommand());
  v.push_back(MakeServeCommand());
  v.push_back(MakeBenchmarkCommand());
  v.push_back(MakeAblateCommand());
  v.push_back(MakeReportCommand());
  v.push_back(MakeExportGgufCommand());
  v.push_back(MakeLaunchCommand());
  return v;
}

// The server shares the cores between the engine's OpenMP threads and the HTTP threads; GNU
// OpenMP's default busy-waiting then steals their time (measured: 2.3x fewer answers per second
// on 2 cores, bench/README.md). The wait policy is read once when libgomp loads, so `serve`
// re-executes itself with OMP_WAIT_POLICY=passive unless the caller set a policy.
void PassiveOpenMpForServe(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;
  bool serve = false;
  for (int i = 1; i < argc && !serve; ++i) serve = std::strcmp(argv[i], "serve") == 0;
  if (!serve) return;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then run with the active policy
}

int Main(int argc, char** argv) {
  PassiveOpenMpForServe(argc, argv);
  CLI::App app{
      "MuChator-cpp: build, evaluate and serve a conversational music assistant.\n"
      "Run `muchator <command> --help` for a command's options."};
  app.require_subcommand(1);
  bool verbose = false, quiet = false;
  app.add_flag("-v,--verbose", verbose, "more log output")->configurable(false);
  app.add_flag("-q,--quiet", quiet, "only warnings and errors")->configurable(false);

  auto commands = AllCommands();
  std::vector<std::unique_ptr<Options>> options;
  std::vector<CLI::App*> subs;
  for (auto& c : commands) {
    CLI::App* sub = app.add_subcommand(c->name(), c->description());
    sub->fallthrough();
    auto opts = std::make_unique<Options>();
    c->Declare(*opts);
    opts->Bind(*sub);
    options.push_back(std::move(opts));
    subs.push_back(sub);
  }
  // `launch ... -- <command>`: what follows `--` is the command to run on every rank; `-n` is
  // torchrun's spelling of --nproc.
  std::vector<char*> args(argv, argv + argc);
  auto launch = std::find_if(args.begin() + 1, args.end(), [](char* a) { return a[0] != '-'; });
  if (launch != args.end() && std::strcmp(*launch, "launch") == 0) {
    auto dashes =
        std::find_if(launch, args.end(), [](char* a) { return std::strcmp(a, "--") == 0; });
    if (dashes != args.end()) {
      SetLaunchTail(std::vector<std::string>(dashes + 1, args.end()));
      args.erase(dashes, args.end());
    }
    static char nproc[] = "--nproc";
    for (auto it = launch; it != args.end(); ++it)
      if (std::strcmp(*it, "-n") == 0) *it = nproc;
  }
  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  SetupLogging(quiet ? Verbosity::kQuiet : verbose ? Verbosity::kVerbose : Verbosity::kNormal);
  SetupThreads();
  for (size_t i = 0; i < commands.size(); ++i) {
    if (!subs[i]->parsed()) continue;
    try {
      options[i]->Resolve();
      return commands[i]->Run(*options[i]);
    } catch (const Error& e) {
      std::fprintf(stderr, "%s\n", FormatError(e).c_str());
      return 1;
    }
  }
  return 2;
}

}  // namespace muchator::cli

int main(int argc, char** argv) {
  try {
    return muchator::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    // Not a user error: a bug or an environment failure. Still one line, never a stack dump.
    std::fprintf(stderr, "internal error: %s (please report it with the command you ran)\n",
                 e.what());
    return 3;
  }
}
