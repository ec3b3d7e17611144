// `muchator train-judge`: the relevance judge - the generative one (--kind pmi: the
// instruction-tuned model's own first-song scores, nothing trained; --kind prf: its best songs
// read in a dense retriever's song space) or a transformer fine-tuned to answer yes/no for
// (query, song summary) from a limited labelled set (--kind yesno).
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "cli/dist_options.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/threads.h"
#include "data/store.h"
#include "eval/baselines.h"
#include "infer/flags.h"
#include "model/config.h"
#include "model/flags.h"
#include "reward/judge_train.h"
#include "text/item_codec.h"
#include "train/train_flags.h"
#include "world/oracle.h"

namespace muchator::cli {
namespace {

class TrainJudgeCommand : public Command {
 public:
  std::string name() const override { return "train-judge"; }
  std::string description() const override {
    return "Build the relevance judge: --kind pmi (the instruction-tuned --init model's first-song "
           "scores against their mean over training requests), prf (pmi's best songs for the "
           "request read in a dense retriever's song space) or yesno (fine-tuned yes/no for a "
           "query and a song summary), trained and calibrated on the training queries' relevant "
           "songs; reports held-out accuracy, F1 and AUC (labelled by the oracle with --world)";
  }
  void Declare(Options& opts) override {
    AddStore(opts, &store_, "SQLite store from `muchator ingest` (songs, queries)").Required();
    AddOut(opts, &out_,
           "output directory: judge.json, judge_songs.jsonl, lm/final/ (the checkpoint)");
    AddPath(opts, PathFlag::kWorld, &world_,
            "synthetic world directory: its oracle labels the held-out (test, rl) pairs - "
            "measurement only, "
            "it never labels a training pair");
    opts.Add("kind", &kind_,
             "pmi: the instruction-tuned --init checkpoint (atomic codec) judges by how much more "
             "the request makes it name the song first than training requests do (nothing "
             "trained); prf: pmi's best songs for the request read in a dense retriever's song "
             "space trained on the training queries' relevant songs; yesno: fine-tune a model to "
             "answer yes/no")
        .OneOf({"prf", "pmi", "yesno"});
    opts.Add(kPriorRequestsFlag, &gen_.prior_requests,
             "pmi, prf: training requests the prior averages over");
    opts.Add("feedback-songs", &gen_.feedback_songs,
             "prf: the request's best songs by PMI whose mean vector is the request's")
        .Range(1, 1e6);
    opts.Add("pmi-weight", &gen_.pmi_weight,
             "prf: weight of the PMI share beside the cosine in P(relevant)")
        .Range(0, 100);
    opts.Add("query-weight", &gen_.query_weight,
             "prf: weight of the song space's own reading of the request's words beside the "
             "model's best songs in the request's vector (0: the model's alone)")
        .Range(0, 100);
    opts.Add("center-weight", &gen_.center_weight,
             "prf: how much of the training requests' mean vector is taken off the request's "
             "vector (songs that fit many requests a little lose their lead; 0: none)")
        .Range(0, 10);
    opts.Add("played-weight", &gen_.played_weight,
             "prf: weight of the played-contrast term, learned from the training requests' search "
             "logs (extra.played: liked or finished against skipped songs, request word x song "
             "tag): P(relevant) = sigmoid(logit(P) + weight x term) (0: none)")
        .Range(0, 100);
    opts.Add("played-min-requests", &gen_.played.min_requests,
             "prf: a request word x song tag cross of the played-contrast term is fitted only when "
             "met in this many training requests")
        .Range(1, 1e6);
    opts.Add("played-min-weight", &gen_.played.min_weight,
             "prf: the played-contrast term keeps only crosses whose fitted weight is at least "
             "this in size")
        .Range(0, 100);
    AddPath(opts, PathFlag::kRanker, &gen_.ranker,
            "prf with --played-weight: the ranking model (`muchator train-ranker`) whose view of "
            "the listener's taste the played-contrast term is fitted beside");
    opts.Add("space-dim", &gen_.dense.dim, "prf: width of the song space").Range(2, 4096);
    opts.Add("space-epochs", &gen_.dense.epochs, "prf: passes of the song space's training")
        .Range(1, 1000);
    AddPath(opts, PathFlag::kTriplets, &triplets_,
            "prf: UQ2I triplets (`muchator synth-uq2i`) whose (request, song) pairs the song space "
            "also trains on");
    AddPath(
        opts, PathFlag::kInit, &o_.init,
        "start from this checkpoint (a music pre-trained model); else a fresh --model-size one");
    AddPath(opts, PathFlag::kTokenizer, &o_.tokenizer,
            "tokenizer.json for a fresh model (without --init)");
    opts.Add("layers", &o_.layers,
             "with --init: keep only its first N decoder layers (faster judge); 0 = all")
        .Range(0, 1000);
    opts.Add(kModelSizeFlag, &o_.model_size, "named size of a fresh model");
    opts.Add("positives", &o_.labels.positives, "relevant songs labelled per query").Range(1, 1000);
    opts.Add("hard-negatives", &o_.labels.hard_negatives, "same-genre irrelevant songs per query")
        .Range(0, 1000);
    opts.Add("random-negatives", &o_.labels.random_negatives, "random irrelevant songs per query")
        .Range(0, 1000);
    opts.Add("max-train", &o_.labels.max_train, "at most this many labelled training pairs")
        .Range(1, 1e9);
    opts.Add("max-heldout", &o_.labels.max_heldout, "at most this many held-out pairs")
        .Range(0, 1e9);
    opts.Add("threshold", &o_.threshold,
             "R_rel = 1 when P(relevant) >= threshold; 0 = the F1-best on the rl requests' logged "
             "likes (without them: on training pairs)")
        .Range(0, 1);
    DeclareTrainFlag(opts, o_.train, "steps");
    DeclareTrainFlag(opts, o_.train, "seq-len").Range(64, 1e6);
    DeclareTrainFlag(opts, o_.train, "batch-size");
    DeclareTrainFlag(opts, o_.train, "lr");
    DeclareTrainFlag(opts, o_.train, "warmup-steps");
    DeclareTrainFlag(opts, o_.train, "bf16");
    AddSeed(opts, &seed_, "seed of labels, initialisation and data order");
    AddThreads(opts, &threads_);
    dist_.Declare(opts);
  }
  int Run(const Options& opts) override {
    SetupThreads(static_cast<int>(threads_));
    o_.train.seed = o_.labels.seed = static_cast<uint64_t>(seed_);
    o_.train.eval_every = o_.train.ckpt_every =
        o_.train.steps;  // one evaluation and checkpoint, at the end
    o_.train.warmup_steps =
        std::min(o_.train.warmup_steps, std::max<int64_t>(1, o_.train.steps / 10));
    MakeDirs(out_);
    o_.train.group = dist_.Start();
    const bool root = !o_.train.group || o_.train.group->root();
    if (root) opts.WriteEffective(out_ + "/train-judge.config.toml");
    std::unique_ptr<world::Oracle> oracle;
    if (!world_.empty()) oracle = std::make_unique<world::Oracle>(world::Oracle::Load(world_));
    Store store(store_);
    const bool generative = kind_ != "yesno";
    if (generative && o_.init.empty())
      throw Error("the generative judge needs the instruction-tuned checkpoint", "--init",
                  "give --init RUN/sft/sft/final, or --kind yesno");
    if (kind_ == "pmi") gen_.feedback_songs = 0;
    if (!gen_.ranker.empty() && (kind_ != "prf" || gen_.played_weight <= 0))
      spdlog::warn("--ranker is read only by --kind prf with --played-weight > 0: ignored");
    if (gen_.ranker.empty() && kind_ == "prf" && gen_.played_weight > 0)
      spdlog::warn(
          "no --ranker: the played-contrast term is fitted without the ranking model's view of "
          "the listener's taste, and takes some of it for relevance (give --ranker RUN/ranker)");
    gen_.dense.seed = gen_.played.seed = o_.labels.seed;
    if (!triplets_.empty()) gen_.extra_pairs = TripletPairs(triplets_);
    const JudgeReport r =
        generative ? BuildGenerativeJudge(store, oracle.get(), o_.init, o_.labels, out_, gen_)
                   : TrainJudge(store, oracle.get(), o_, out_);
    if (!root) return 0;  // rank 0 reports
    std::printf("judge (%s): %zu training pairs", kind_.c_str(), r.train_pairs);
    if (r.final_train_loss) std::printf(", final loss %.4f", *r.final_train_loss);
    std::printf(", threshold %.3f", r.threshold);
    if (r.threshold_set_on) std::printf(" (set on %s)", r.threshold_set_on->c_str());
    if (const auto& h = r.heldout)
      std::printf(
          "; held-out (%zu pairs): accuracy %.3f, F1 %.3f, AUC %.3f (vs hard negatives %.3f)",
          h->pairs, h->accuracy, h->f1, h->auc, h->auc_vs_hard_negatives);
    if (const auto& h = r.heldout_seen_forms)
      std::printf(
          "; unseen queries with training forms (%zu pairs): accuracy %.3f, F1 %.3f, AUC %.3f",
          h->pairs, h->accuracy, h->f1, h->auc);
    std::printf("\nwrote %s/judge.json\n", out_.c_str());
    return 0;
  }

 private:
  std::string store_, out_ = "out/judge", world_, kind_ = "yesno", triplets_;
  GenerativeJudgeOptions gen_;
  JudgeTrainOptions o_;
  int64_t seed_ = 1, threads_ = 0;
  DistOptions dist_;
};

}  // namespace

std::unique_ptr<Command> MakeTrainJudgeCommand() { return std::make_unique<TrainJudgeCommand>(); }

}  // namespace muchator::cli
