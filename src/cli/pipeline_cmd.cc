// `muchator pipeline`: the main job (pipeline/main_job.h). On the built-in default it generates
// the synthetic world; with --input it ingests the user's own data instead. Later stages
// (training, evaluation, report, server) are added to the main job as they land, never as new
// commands to type.
#include <memory>

#include "cli/command.h"
#include "core/process.h"
#include "pipeline/main_job.h"

namespace muchator::cli {
namespace {

class PipelineCommand : public Command {
 public:
  std::string name() const override { return "pipeline"; }
  std::string description() const override {
    return "Run the main job into --out: generate the synthetic world (or take --input), ingest "
           "it, train the "
           "tokenizer, build the pre-training corpora, pre-train the model on the four stages in "
           "order, train the reward "
           "models, synthesise UQ2I data and instruction-tune, align with GRPO, and write the "
           "evaluation report. A re-run into the same --out reuses every step done with the same "
           "settings and inputs (RUN/steps/) and resumes an interrupted one";
  }
  void Declare(Options& opts) override { m_.Declare(opts); }
  int Run(const Options&) override {
    m_.grpo_run_process = {SelfExecutable(), "grpo"};
    return RunMainJob(m_);
  }

 private:
  MainJobOptions m_;
};

}  // namespace

std::unique_ptr<Command> MakePipelineCommand() { return std::make_unique<PipelineCommand>(); }

}  // namespace muchator::cli
