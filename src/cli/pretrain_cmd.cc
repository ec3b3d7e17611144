// `muchator pretrain`: the curriculum of pre-training stages over a corpus directory.
#include <cstdio>
#include <map>

#include "cli/command.h"
#include "cli/dist_options.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/threads.h"
#include "model/config.h"
#include "model/flags.h"
#include "text/item_codec.h"
#include "train/train_flags.h"
#include "train/trainer.h"

namespace muchator::cli {

namespace {

std::string StageDirName(const std::string& short_name) {
  static const std::map<std::string, std::string> names = {{"general", "stage0_general"},
                                                           {"objective", "stage1_objective"},
                                                           {"subjective", "stage2_subjective"},
                                                           {"behaviour", "stage3_behaviour"}};
  auto it = names.find(short_name);
  if (it == names.end())
    throw Error("unknown stage '" + short_name + "'", "--stages",
                "use general, objective, subjective, behaviour");
  return it->second;
}

class PretrainCommand : public Command {
 public:
  std::string name() const override { return "pretrain"; }
  std::string description() const override {
    return "Pre-train a Qwen3-architecture model on the corpus stages in order (curriculum), or on "
           "all of them "
           "shuffled together (--mixed); a checkpoint per stage";
  }
  void Declare(Options& opts) override {
    AddPath(opts, PathFlag::kCorpus, &corpus_, "corpus directory from `muchator corpus`")
        .Required();
    opts.Add("stages", &stages_,
             "stages in training order: general, objective, subjective, behaviour");
    opts.Add("mixed", &mixed_,
             "train all given stages shuffled together as one stage (the paper's ablation)");
    opts.Add("replay", &o_.replay,
             "every stage also trains on the documents of the stages before it (against "
             "forgetting; docs/model.md)");
    opts.Add("warm-items", &o_.warm_items,
             "after the general stage, start the item tokens' embeddings from their songs' genre, "
             "tag and language words (the corpus's item_words.jsonl; docs/model.md)");
    AddOut(opts, &out_,
           "output directory: one sub-directory per stage, final/ holds its checkpoint");
    opts.Add(kModelSizeFlag, &size_, "named model size when not starting from --init");
    AddPath(opts, PathFlag::kInit, &init_,
            "start from this checkpoint directory (config.json + model.safetensors)");
    opts.Add(kResumeFlag, &resume_);
    DeclareTrainFlag(opts, o_, "steps");
    DeclareTrainFlag(opts, o_, "seq-len");
    DeclareTrainFlag(opts, o_, "batch-size");
    DeclareTrainFlag(opts, o_, "grad-accum");
    DeclareTrainFlag(opts, o_, "lr");
    opts.Add(kGeneralStepsFlag, &o_.general_steps,
             "optimizer steps of the general (everyday-language) stage (0 = --steps)");
    opts.Add("general-lr", &o_.general_lr, "peak learning rate of the general stage (0 = --lr)")
        .Range(0, 10);
    DeclareTrainFlag(opts, o_, "min-lr-ratio");
    DeclareTrainFlag(opts, o_, "warmup-steps");
    DeclareTrainFlag(opts, o_, "weight-decay");
    DeclareTrainFlag(opts, o_, "clip");
    DeclareTrainFlag(opts, o_, "bf16");
    DeclareTrainFlag(opts, o_, "split-documents");
    DeclareTrainFlag(opts, o_, "log-every");
    DeclareTrainFlag(opts, o_, "eval-every");
    DeclareTrainFlag(opts, o_, "eval-batches");
    DeclareTrainFlag(opts, o_, "ckpt-every");
    AddSeed(opts, &seed_, "seed of initialisation and data order");
    AddThreads(opts, &threads_);
    opts.Add("crash-at", &o_.crash_at,
             "testing: exit abruptly at step:N or ckpt:N (simulates kill -9)");
    dist_.Declare(opts);
  }
  int Run(const Options& opts) override {
    SetupThreads(static_cast<int>(threads_));
    o_.seed = static_cast<uint64_t>(seed_);
    MakeDirs(out_);
    o_.group = dist_.Start();
    if (!o_.group || o_.group->root()) opts.WriteEffective(out_ + "/pretrain.config.toml");
    std::vector<std::string> stage_dirs;
    for (const auto& s : stages_) stage_dirs.push_back(StageDirName(s));
    if (stage_dirs.empty())
      throw Error("no stages given", "--stages", "e.g. --stages general,objective");

    for (const StageResult& r :
         RunCurriculum(corpus_, stage_dirs, mixed_, out_, init_, size_, o_, resume_)) {
      if (o_.group && !o_.group->root()) continue;
      std::printf("%s: %lld steps, final train loss %.4f; held-out:", r.stage.c_str(),
                  (long long)r.steps, r.final_loss);
      for (auto& [s, l] : r.heldout) std::printf(" %s %.4f", s.c_str(), l);
      std::printf("\n");
    }
    return 0;
  }

 private:
  std::string corpus_, out_ = "out/pretrain", size_ = "tiny", init_;
  std::vector<std::string> stages_ = {"general", "objective", "subjective", "behaviour"};
  bool mixed_ = false, resume_ = false;
  int64_t seed_ = 1, threads_ = 0;
  TrainOptions o_;
  DistOptions dist_;
};

}  // namespace

std::unique_ptr<Command> MakePretrainCommand() { return std::make_unique<PretrainCommand>(); }

}  // namespace muchator::cli
