// `muchator train-ranker`: the personalisation ranking model on the store's behaviour log.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "cli/command.h"
#include "cli/dist_options.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/threads.h"
#include "data/flags.h"
#include "data/store.h"
#include "reward/ranker_train.h"
#include "text/flags.h"
#include "train/train_flags.h"
#include "world/oracle.h"

namespace muchator::cli {
namespace {

class TrainRankerCommand : public Command {
 public:
  std::string name() const override { return "train-ranker"; }
  std::string description() const override {
    return "Train the personalisation ranking model (P(like/finish/skip/dislike) and a 0-10 score) "
           "on the store's "
           "events with a time-based split; reports held-out AUCs (and the oracle's rank "
           "correlation with --world)";
  }
  void Declare(Options& opts) override {
    AddStore(opts, &store_, "SQLite store from `muchator ingest`").Required();
    AddOut(opts, &out_, "output directory: ranker.json + ranker.safetensors + ranker_report.json");
    AddPath(opts, PathFlag::kWorld, &world_,
            "synthetic world directory (its oracle/): adds the oracle comparisons to the report");
    opts.Add("epochs", &o_.epochs,
             "passes over the training events; 0 = ~1.6M examples' worth (2 to 12 passes)")
        .Range(0, 1000);
    opts.Add("batch", &o_.batch, "events per optimizer step").Range(1, 1e6);
    opts.Add(kLrFlag, &o_.lr, "peak learning rate (cosine decay to 10%)");
    opts.Add(kWeightDecayFlag, &o_.weight_decay, "AdamW weight decay");
    opts.Add("dim", &o_.model.dim, "embedding width").Range(4, 4096);
    opts.Add("hidden", &o_.model.hidden, "first MLP layer width").Range(4, 65536);
    opts.Add(kHistoryFlag, &o_.model.history, "most recent events the model attends over")
        .Range(1, 10000);
    opts.Add("match", &o_.model.match,
             "width of the match features |P [listener, state] - Q song| (0 = none)")
        .Range(0, 4096);
    opts.Add("song-id-dim", &o_.model.song_id_dim,
             "width of a song's own id embedding, projected to --dim (0 = --dim)")
        .Range(0, 4096);
    opts.Add("value", &value_,
             "score weights of like, finish, skip, dislike: score = 10 * sum value_k P(k)")
        .Range(0, 1)
        .Size(4, "like, finish, skip, dislike");
    opts.Add(kHoldoutFlag, &o_.holdout);
    opts.Add("eval-contexts", &o_.eval_contexts,
             "held-out contexts for the oracle rank correlation")
        .Range(1, 1e7);
    opts.Add("eval-candidates", &o_.eval_candidates, "random songs scored per context")
        .Range(2, 1e6);
    AddSeed(opts, &seed_, "seed of initialisation and data order");
    AddThreads(opts, &threads_);
    dist_.Declare(opts);
  }
  int Run(const Options& opts) override {
    SetupThreads(static_cast<int>(threads_));
    for (size_t k = 0; k < 4; ++k) o_.model.value[k] = value_[k];
    o_.seed = static_cast<uint64_t>(seed_);
    MakeDirs(out_);
    o_.group = dist_.Start();
    const bool root = !o_.group || o_.group->root();
    if (root) opts.WriteEffective(out_ + "/train-ranker.config.toml");
    std::unique_ptr<world::Oracle> oracle;
    if (!world_.empty()) oracle = std::make_unique<world::Oracle>(world::Oracle::Load(world_));
    Store store(store_);
    RankerReport report;
    Ranker ranker = TrainRanker(store, o_, oracle.get(), &report);
    if (std::getenv("MUCHATOR_WEIGHT_DIGEST"))  // test hook: each rank's final weight digest
      WriteFileAtomic(
          out_ + "/digest.rank" + std::to_string(o_.group ? o_.group->rank() : 0) + ".txt",
          std::to_string(dist::Digest(ranker.net()->parameters())) + "\n");
    if (!root) return 0;  // every rank holds the same ranker; rank 0 saves and reports
    ranker.Save(out_, ToJson(report));
    WriteFileAtomic(out_ + "/ranker_report.json", ToJson(report).dump(2) + "\n");
    std::printf("held-out (%zu events): loss %.4f; AUC", report.heldout_events,
                report.heldout_loss);
    for (const char* objective : kFeedbackNames)
      std::printf(" %s %.3f", objective, report.auc.at(objective));
    std::printf("; like-vs-skip %.3f", report.like_vs_skip_auc);
    if (report.oracle)
      std::printf(" (oracle %.3f); Spearman with oracle utility %.3f",
                  report.oracle->like_vs_skip_auc, report.oracle->spearman);
    std::printf("\nwrote %s/ranker.json, ranker.safetensors, ranker_report.json\n", out_.c_str());
    return 0;
  }

 private:
  std::string store_, out_ = "out/ranker", world_;
  RankerTrainOptions o_;
  std::vector<double> value_ = {1, 0.6, 0.15, 0};
  int64_t seed_ = 1, threads_ = 0;
  DistOptions dist_;
};

}  // namespace

std::unique_ptr<Command> MakeTrainRankerCommand() { return std::make_unique<TrainRankerCommand>(); }

}  // namespace muchator::cli
