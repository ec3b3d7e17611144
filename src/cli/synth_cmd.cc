// `muchator synth-uq2i`: User-Query-to-Item instruction data (the paper's UQ2I synthesis).
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "cli/dist_options.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/threads.h"
#include "data/flags.h"
#include "data/store.h"
#include "pipeline/sft_step.h"
#include "text/flags.h"
#include "world/oracle.h"

namespace muchator::cli {
namespace {

class SynthCommand : public Command {
 public:
  std::string name() const override { return "synth-uq2i"; }
  std::string description() const override {
    return "Synthesise (user context, query) -> 10-song lists: a query pool per song, queries "
           "clustered by a "
           "pre-trained checkpoint's embeddings, candidates from the clusters of each user's "
           "favourites, top 10 by "
           "the ranking model";
  }
  void Declare(Options& opts) override {
    AddStore(opts, &store_, "SQLite store from `muchator ingest`").Required();
    AddPath(opts, PathFlag::kModel, &model_,
            "pre-trained checkpoint whose hidden states embed the queries")
        .Required();
    AddPath(opts, PathFlag::kRanker, &ranker_,
            "ranking model directory from `muchator train-ranker`")
        .Required();
    AddPath(
        opts, PathFlag::kWorld, &world_,
        "synthetic world directory: refuse its query-only forms, measure quality with its oracle");
    AddOut(opts, &out_, "output directory: triplets.jsonl, pool.jsonl, synth_summary.json");
    opts.Add("per-song", &o_.pool.per_song, "generated queries kept per song").Range(1, 1000);
    opts.Add("per-cluster", &o_.per_cluster,
             "about this many queries per cluster (K = queries / this)")
        .Range(1, 1e6);
    opts.Add("per-user", &o_.uq2i.per_user,
             "cluster-anchor triplets per user at most (-1 = 8 without logged training requests, "
             "0 with them)")
        .Range(-1, 1e6);
    opts.Add("borrowed-per-user", &o_.uq2i.borrowed_per_user,
             "other listeners' logged requests each sft listener also asks (docs/uq2i.md)")
        .Range(0, 1e6);
    opts.Add("opening-sentence", &o_.uq2i.opening_sentence,
             "request triplets' answers open with a sentence naming what their songs share");
    opts.Add(kListSizeFlag, &o_.uq2i.list_size, "songs per target list");
    opts.Add("max-triplets", &o_.uq2i.max_triplets, "stop after this many triplets (0 = no limit)")
        .Range(0, 1e12);
    opts.Add(kHoldoutFlag, &o_.uq2i.holdout,
             "favourites only from before the log's last share (as the ranker's split)");
    AddSeed(opts, &seed_, "seed of query choice and clustering");
    AddThreads(opts, &threads_);
    dist_.Declare(opts);
  }
  int Run(const Options& opts) override {
    SetupThreads(static_cast<int>(threads_));
    o_.pool.seed = o_.uq2i.seed = static_cast<uint64_t>(seed_);
    MakeDirs(out_);
    o_.group = dist_.Start();
    const bool root = !o_.group || o_.group->root();
    if (root) opts.WriteEffective(out_ + "/synth-uq2i.config.toml");
    std::unique_ptr<world::Oracle> oracle;
    if (!world_.empty()) oracle = std::make_unique<world::Oracle>(world::Oracle::Load(world_));
    Store store(store_);
    const nlohmann::json s = RunUq2iSynthesis(store, model_, ranker_, oracle.get(), out_, o_);
    if (!root) return 0;
    std::printf("synth-uq2i: %s", Uq2iSummaryLine(s).c_str());
    std::printf("\nwrote %s/triplets.jsonl\n", out_.c_str());
    return 0;
  }

 private:
  std::string store_, model_, ranker_, world_, out_ = "out/uq2i";
  SynthRunOptions o_;
  int64_t seed_ = 1, threads_ = 0;
  DistOptions dist_;
};

}  // namespace

std::unique_ptr<Command> MakeSynthCommand() { return std::make_unique<SynthCommand>(); }

}  // namespace muchator::cli
