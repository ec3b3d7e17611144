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
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace muchator {

// A flag that several commands (or a command and a library's own check) take: its name, what it
// is and the values it allows, declared once for the whole program, in the layer that owns what
// it sets (`inline constexpr Flag kHistoryFlag{...}` in a header). A command binds it to its own
// target and may say what it means there, and narrow it:
//   opts.Add(kHistoryFlag, &o.history);
//   opts.Add(kTemperatureFlag, &g.temperature, "rollout sampling temperature").Range(1e-3, 10);
// scripts/check_options.sh (ctest options_once_test) fails when a flag name is written in two
// declarations.
struct Flag {
  std::string_view name, help;
  double lo = -std::numeric_limits<double>::infinity();  // numeric flags: the allowed range
  double hi = std::numeric_limits<double>::infinity();
  const std::vector<std::string>& (*choices)() = nullptr;  // string flags: a registry's names
};

class Options {
 public:
  // A list flag is given comma-separated on the command line ("--value 1,0.6,0.15,0") and as an
  // array in TOML; a numeric list's Range applies to each number. A NAME=VALUE list
  // ("--checkpoints sft=a/final,grpo=b/final") is read into pairs, each item checked for its '='.
  using NamedValues = std::vector<std::pair<std::string, std::string>>;
  using Target = std::variant<std::string*, int64_t*, int*, double*, bool*,
                              std::vector<std::string>*, std::vector<double>*, NamedValues*>;

  class Option {
   public:
    // The option must have a value after the config file and flags are applied.
    Option& Required();
    // Numeric options: value within [lo, hi] (each number of a numeric list).
    Option& Range(double lo, double hi);
    // List options: exactly n items; `what` names them in the error ("like, finish, skip,
    // dislike").
    Option& Size(size_t n, std::string what);
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
  // Declares the program-wide flag `flag` bound to `*target`, with its range or choices; `help`
  // replaces the flag's own when the command says what the value means to it.
  template <class T>
  Option& Add(const Flag& flag, T* target, std::string help = {}) {
    return AddFlag(flag, Target(target), std::move(help));
  }

  // Adds the flags (and --config FILE) to a CLI11 (sub)command. The Options object must outlive
  // parsing.
  void Bind(CLI::App& app);
  // Applies the TOML config file (if --config was given), then the flags given on the command
  // line, then checks every option. Throws Error naming the option or the file and line.
  void Resolve();
  // Checks the current values against every declaration (required, ranges, choices, checks)
  // without reading flags or a file: how a library validates options built in code against the
  // same declarations the command line uses. Throws Error naming the option.
  void CheckValues() const;
  // Applies a TOML file directly (used by Resolve, and by tests).
  void ApplyToml(const std::string& path);
  // The effective configuration as TOML text.
  std::string ToToml() const;
  // One option's current value as a TOML line, `name = value` (a cache key's setting); throws
  // std::logic_error for a name that is not declared (a programming error, not a user's).
  std::string Setting(const std::string& name) const;
  // The declared names, in declaration order.
  std::vector<std::string> Names() const;
  // Atomically writes ToToml() to `path`.
  void WriteEffective(const std::string& path) const;
  const std::string& config_file() const { return config_file_; }

 private:
  Option& AddTarget(std::string name, Target target, std::string help);
  Option& AddFlag(const Flag& flag, Target target, std::string help);
  Option* Find(const std::string& name);
  void ApplyCliValue(Option& o);
  std::vector<std::unique_ptr<Option>> options_;
  std::string config_file_;
};

inline constexpr Flag kPortFlag{"port", "TCP port (0 = any free port)", 0, 65535};

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
