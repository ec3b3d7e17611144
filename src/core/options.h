// Options declared once (name, default, help, check), from which everything else is derived:
// command-line flags (CLI11), `--help`, reading a TOML file (`--config FILE`, flags override it)
// and the effective configuration written as TOML next to a command's outputs.
//
// Usage, in one command's file:
//   struct IngestConfig { std::string input; int threads = 2; };   // defaults live here
//   Options opts;
//   opts.Add("input", &cfg.input, "directory with the JSONL files").Required();
//   opts.Add("threads", &cfg.threads, "parser threads").Range(1, 64);
//   opts.Bind(*sub);           // before CLI11 parses
//   ... app.parse(...) ...
//   opts.Resolve();            // defaults <- TOML file <- flags, then checks; throws Error
//   opts.WriteEffective(out_dir + "/ingest.config.toml");
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace muchator {

class Options {
 public:
  using Target =
      std::variant<std::string*, int64_t*, int*, double*, bool*, std::vector<std::string>*>;

  class Option {
   public:
    // The option must have a value after the config file and flags are applied.
    Option& Required();
    // Numeric options: value within [lo, hi].
    Option& Range(double lo, double hi);
    // String options: value is one of `allowed`.
    Option& OneOf(std::vector<std::string> allowed);
    // Any check: returns an error message, or "" when the value is fine.
    Option& Check(std::function<std::string()> check);
    // May also be given as the first bare argument (`muchator convert jamendo` = `--dataset
    // jamendo`).
    Option& Positional();

   private:
    friend class Options;
    std::string name_, help_;
    Target target_;
    bool required_ = false, positional_ = false;
    std::vector<std::function<std::string()>> checks_;
    std::vector<std::string> allowed_;
    // Filled by Bind(): what CLI11 parsed, applied in Resolve().
    CLI::Option* cli_ = nullptr;
    std::string cli_text_;
    bool cli_flag_ = false;
    std::vector<std::string> cli_list_;
    bool set_ = false;  // a value came from the config file or a flag
  };

  Options();
  ~Options();
  Options(const Options&) = delete;
  Options& operator=(const Options&) = delete;

  // Declares an option bound to `*target`; the target's current value is the default.
  template <class T>
  Option& Add(std::string name, T* target, std::string help) {
    return AddTarget(std::move(name), Target(target), std::move(help));
  }

  // Adds the flags (and --config FILE) to a CLI11 (sub)command. The Options object must outlive
  // parsing.
  void Bind(CLI::App& app);
  // Applies the TOML config file (if --config was given), then the flags given on the command
  // line, then checks every option. Throws Error naming the option or the file and line.
  void Resolve();
  // Applies a TOML file directly (used by Resolve, and by tests).
  void ApplyToml(const std::string& path);
  // The effective configuration as TOML text.
  std::string ToToml() const;
  // Atomically writes ToToml() to `path`.
  void WriteEffective(const std::string& path) const;
  const std::string& config_file() const { return config_file_; }

 private:
  Option& AddTarget(std::string name, Target target, std::string help);
  Option* Find(const std::string& name);
  void ApplyCliValue(Option& o);
  std::vector<std::unique_ptr<Option>> options_;
  std::string config_file_;
};

// The options most commands share, each name and check declared here once; a command passes what
// the value means to it (the help) and may chain more (.Required()).
//   --seed N      >= 0
//   --threads N   compute threads, 0 = all cores
//   --store FILE  a SQLite store
//   --out DIR     where the command writes
Options::Option& AddSeed(Options& opts, int64_t* seed, std::string help);
Options::Option& AddThreads(Options& opts, int64_t* threads);
Options::Option& AddStore(Options& opts, std::string* store, std::string help);
Options::Option& AddOut(Options& opts, std::string* out, std::string help);

// Path flags several commands take, each name declared here once (the help says what the
// command does with it): --run (a pipeline run directory), --world (a synthetic world's
// directory, for the oracle), --model and --init (checkpoints), --ranker and --judge (reward model
// directories), --input (a data directory), --tokenizer, --corpus, --triplets.
enum class PathFlag {
  kRun,
  kWorld,
  kModel,
  kInit,
  kRanker,
  kJudge,
  kInput,
  kTokenizer,
  kCorpus,
  kTriplets
};
Options::Option& AddPath(Options& opts, PathFlag which, std::string* path, std::string help);

}  // namespace muchator
