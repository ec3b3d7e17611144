// `muchator pipeline`: the main job. On the built-in default it generates the synthetic world
// and ingests it; with --input it ingests the user's own data instead. Later stages (training,
// evaluation, report, server) are added here as they land, never as new commands to type.
#include <cstdio>
#include <filesystem>

#include "cli/command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "data/ingest.h"
#include "data/store.h"
#include "world/generate.h"

namespace muchator::cli {
namespace {

class PipelineCommand : public Command {
 public:
  std::string name() const override { return "pipeline"; }
  std::string description() const override {
    return "Run the main job into --out: generate the synthetic world (or take --input) and ingest it into a store";
  }
  void Declare(Options& opts) override {
    opts.Add("out", &out_, "run directory: world/, store.sqlite and each step's outputs and configs");
    opts.Add("input", &input_, "your own data (ingestion JSONL directory); empty = the synthetic world");
    opts.Add("world-size", &size_, "synthetic world size").OneOf({"tiny", "demo", "large"});
    opts.Add("seed", &seed_, "random seed of the synthetic world").Range(0, 9e18);
  }
  int Run(const Options& opts) override {
    MakeDirs(out_);
    opts.WriteEffective(out_ + "/pipeline.config.toml");
    std::string data_dir = input_;
    if (data_dir.empty()) {
      data_dir = out_ + "/world";
      world::WorldConfig c = world::WorldConfig::ForSize(size_);
      c.seed = static_cast<uint64_t>(seed_);
      spdlog::info("step 1/2: generating the {} synthetic world into {}", size_, data_dir);
      world::GenerateStats st;
      world::Generate(c, data_dir, &st);
      spdlog::info("world: {} songs, {} users, {} events in {:.1f} s", st.songs, st.users, st.events, st.seconds);
    }
    const std::string store = out_ + "/store.sqlite";
    // A fresh store per run: the run directory is reproducible from its config alone.
    for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(store + suffix);
    spdlog::info("step 2/2: ingesting {} into {}", data_dir, store);
    IngestSummary s = Ingest({data_dir, store, "", false});
    WriteFileAtomic(store + ".ingest.json", s.ToJson().dump(2) + "\n");
    std::fputs(s.Table().c_str(), stdout);
    if (s.quarantined() > 0)
      spdlog::warn("{} rows quarantined: see {}", s.quarantined(), s.quarantine_path);
    std::printf("pipeline done: %s\n", out_.c_str());
    return 0;
  }

 private:
  std::string out_ = "runs/demo", input_, size_ = "demo";
  int64_t seed_ = 1;
};

}  // namespace

std::unique_ptr<Command> MakePipelineCommand() { return std::make_unique<PipelineCommand>(); }

}  // namespace muchator::cli
