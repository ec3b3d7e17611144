// `muchator evaluate`: the evaluation report - baselines and checkpoints on the same held-out
// requests, scored by the judge, the ranking model, the rules and (synthetic world) the oracle.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/threads.h"
#include "data/flags.h"
#include "eval/flags.h"
#include "eval/report.h"
#include "infer/flags.h"
#include "infer/rerank_flags.h"
#include "text/flags.h"

namespace muchator::cli {
namespace {

class EvaluateCommand : public Command {
 public:
  std::string name() const override { return "evaluate"; }
  std::string description() const override {
    return "Write the evaluation report: baselines (popularity, bm25, bm25_rerank, dense, "
           "dense_rerank) and checkpoints "
           "answer the same "
           "held-out requests; Personalization, Relevance, Diversity, Factuality and, with a "
           "world, the oracle's "
           "relevance@10, utility, nDCG@10 and recall@10 (docs/metrics.md)";
  }
  void Declare(Options& opts) override {
    AddPath(opts, PathFlag::kRun, &run_,
            "a pipeline run directory: its store, world, judge, ranker and checkpoints "
            "(pretrained, sft, grpo) are used unless given explicitly");
    AddStore(opts, &o_.store, "SQLite store (default RUN/store.sqlite)");
    AddPath(opts, PathFlag::kWorld, &o_.world_dir,
            "synthetic world directory for the oracle's metrics (default RUN/world when present)");
    AddPath(opts, PathFlag::kJudge, &o_.judge_dir,
            "relevance judge directory (default RUN/judge when present)");
    AddPath(opts, PathFlag::kRanker, &o_.ranker_dir,
            "ranking model directory (default RUN/ranker when present)");
    opts.Add(kCheckpointsFlag, &checkpoints_);
    opts.Add("baselines", &o_.baselines,
             "non-LLM baselines by name: popularity, bm25, bm25_rerank, dense, dense_rerank (empty "
             "= none)");
    AddPath(opts, PathFlag::kTriplets, &o_.triplets,
            "UQ2I triplets.jsonl: more training pairs of the dense retriever (default "
            "RUN/uq2i/triplets.jsonl "
            "when present)");
    opts.Add(kSplitFlag, &o_.split);
    opts.Add(kRequestsFlag, &o_.requests, "at most this many requests (0 = all)");
    opts.Add(kHistoryFlag, &o_.eval.history).Range(0, 1000);
    opts.Add(kMaxNewTokensFlag, &o_.eval.max_new_tokens).Range(8, 1e5);
    DeclareRerankFlags(
        opts, {&o_.eval.rerank_pool, &o_.eval.rerank_model_weight, &o_.eval.rerank_evidence_weight,
               &o_.eval.rerank_source, &o_.eval.rerank_prior_weight,
               &o_.eval.rerank_ranker_prior_weight, &o_.eval.prior_split, &o_.eval.prior_requests});
    opts.Add("answers", &o_.eval.keep_answers,
             "also write OUT/answers.jsonl: every system's list for every request (song ids), one "
             "line per system, mode and request");
    AddOut(opts, &out_, "output directory: report.json, report.md (default RUN/report)");
    AddThreads(opts, &threads_);
  }
  int Run(const Options& opts) override {
    SetupThreads(static_cast<int>(threads_));
    // Unset paths come from the run directory when it has them.
    if (!run_.empty()) {
      const RunLayout run = ReadRunLayout(run_);
      for (auto [field, value] :
           {std::pair{&o_.store, run.store}, std::pair{&o_.world_dir, run.world},
            std::pair{&o_.judge_dir, run.judge}, std::pair{&o_.ranker_dir, run.ranker},
            std::pair{&o_.triplets, run.triplets}})
        if (field->empty()) *field = value;
      if (checkpoints_.empty()) o_.checkpoints = run.checkpoints;
    }
    if (o_.store.empty())
      throw Error("no store", "--store", "give --store FILE or --run DIR of a pipeline run");
    for (const auto& nc : checkpoints_) o_.checkpoints.push_back(nc);
    if (out_.empty()) out_ = run_.empty() ? "out/report" : run_ + "/report";
    MakeDirs(out_);
    opts.WriteEffective(out_ + "/evaluate.config.toml");
    const nlohmann::json r = RunReport(o_, out_);
    std::printf("%lld held-out requests (split %s)\n%s", r["requests"].get<long long>(),
                o_.split.c_str(), ReportTable(r).c_str());
    std::printf("wrote %s/report.json and %s/report.md\n", out_.c_str(), out_.c_str());
    return 0;
  }

 private:
  std::string run_, out_;
  ReportOptions o_;
  Options::NamedValues checkpoints_;
  int64_t threads_ = 0;
};

}  // namespace

std::unique_ptr<Command> MakeEvaluateCommand() { return std::make_unique<EvaluateCommand>(); }

}  // namespace muchator::cli
