// `muchator ablate`: the paper's ablation tables on a finished run of the main job
// (pipeline/ablation.h has the tables).
#include <memory>

#include "cli/command.h"
#include "core/file.h"
#include "core/threads.h"
#include "pipeline/ablation.h"

namespace muchator::cli {
namespace {

class AblateCommand : public Command {
 public:
  std::string name() const override { return "ablate"; }
  std::string description() const override {
    return "The paper's ablations on a finished run of the main job, reusing its checkpoints "
           "and caching what it trains. --table 3: every system (baselines, zero-/few-shot, SFT "
           "only, RAG, pre-training + SFT, + GRPO) on the same held-out requests; --table 4: SFT "
           "only / + pre-training / + RL; --table 6: behaviour pre-training with growing user "
           "context against U2I perplexity; --table 7: GRPO without each part of the hybrid "
           "reward (docs/metrics.md)";
  }
  void Declare(Options& opts) override {
    o_.Declare(opts);
    AddThreads(opts, &threads_);
  }
  int Run(const Options& opts) override {
    SetupThreads(static_cast<int>(threads_));
    o_.ResolveDefaults();
    MakeDirs(o_.out);
    opts.WriteEffective(o_.out + "/ablate.table" + o_.table + ".config.toml");
    return RunAblationTable(o_);
  }

 private:
  AblationOptions o_;
  int64_t threads_ = 0;
};

}  // namespace

std::unique_ptr<Command> MakeAblateCommand() { return std::make_unique<AblateCommand>(); }

}  // namespace muchator::cli
