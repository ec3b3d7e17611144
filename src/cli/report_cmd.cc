// `muchator report`: a run's results as one Markdown file and one self-contained HTML page
// (eval/run_report.h). The main job writes it at its end; run it again after `benchmark` or
// `ablate` to add their tables.
#include <cstdio>

#include "cli/command.h"
#include "core/error.h"
#include "core/file.h"
#include "eval/run_report.h"

namespace muchator::cli {
namespace {

class ReportCommand : public Command {
 public:
  std::string name() const override { return "report"; }
  std::string description() const override {
    return "Gather a run's results (evaluation, knowledge benchmarks, ablations, training and "
           "reward curves, reward models, synthesis, every command's configuration) into "
           "run_report.md and a self-contained index.html that opens offline";
  }
  void Declare(Options& opts) override {
    AddPath(opts, PathFlag::kRun, &run_, "a pipeline run directory").Required();
    AddOut(opts, &out_, "output directory (default RUN/report)");
    opts.Add("paper", &paper_,
             "the paper's own figures (JSON, docs/metrics.md \"The paper's figures\"): checked, "
             "kept as RUN/paper.json and quoted beside ours from then on (the main job's report "
             "too); delete RUN/paper.json to stop");
  }
  int Run(const Options& opts) override {
    if (!paper_.empty()) {
      CheckPaperFigures(paper_);
      if (!FileExists(run_))
        throw Error("no such run directory", run_, "give the --out of `muchator pipeline`");
      WriteFileAtomic(run_ + "/paper.json", ReadFile(paper_));
    }
    if (out_.empty()) out_ = run_ + "/report";
    MakeDirs(out_);
    opts.WriteEffective(out_ + "/report.config.toml");
    const RunReportFiles f = WriteRunReport(run_, out_);
    std::printf("%d sections: wrote %s and %s\n", f.sections, f.markdown.c_str(), f.html.c_str());
    return 0;
  }

 private:
  std::string run_, out_, paper_;
};

}  // namespace

std::unique_ptr<Command> MakeReportCommand() { return std::make_unique<ReportCommand>(); }

}  // namespace muchator::cli
