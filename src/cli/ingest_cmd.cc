// `muchator ingest`: validate JSONL files and load them into the store.
#include <cstdio>
#include <filesystem>

#include "cli/command.h"
#include "core/file.h"
#include "core/log.h"
#include "data/ingest.h"

namespace muchator::cli {
namespace {

class IngestCommand : public Command {
 public:
  std::string name() const override { return "ingest"; }
  std::string description() const override {
    return "Validate <kind>.jsonl files (docs/data-format.md) and load them into a SQLite store; "
           "bad rows "
           "go to a quarantine file";
  }
  void Declare(Options& opts) override {
    AddPath(opts, PathFlag::kInput, &o_.input_dir,
            "directory with artists/songs/users/events/... .jsonl files")
        .Required();
    AddStore(opts, &o_.store_path, "SQLite store to create or update");
    opts.Add("quarantine", &o_.quarantine_path,
             "where rejected rows go (default: <store>.quarantine.jsonl)");
    opts.Add("strict", &o_.strict, "fail and change nothing if any row is rejected");
  }
  int Run(const Options& opts) override {
    IngestSummary s = Ingest(o_);
    std::fputs(s.Table().c_str(), stdout);
    std::printf("store: %s\n", o_.store_path.c_str());
    if (s.quarantined() > 0)
      spdlog::warn("{} rows quarantined: see {}", s.quarantined(), s.quarantine_path);
    WriteFileAtomic(o_.store_path + ".ingest.json", s.ToJson().dump(2) + "\n");
    opts.WriteEffective(o_.store_path + ".ingest.config.toml");
    return 0;
  }

 private:
  IngestOptions o_ = [] {
    IngestOptions o;
    o.store_path = "out/store.sqlite";
    return o;
  }();
};

}  // namespace

std::unique_ptr<Command> MakeIngestCommand() { return std::make_unique<IngestCommand>(); }

}  // namespace muchator::cli
