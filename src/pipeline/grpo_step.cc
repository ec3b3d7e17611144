// RunGrpo: GRPO with its reward models loaded from directories, and the before/after report.
#include "pipeline/grpo_step.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/process.h"
#include "data/store.h"
#include "dist/dist.h"
#include "eval/offline.h"
#include "eval/report.h"
#include "reward/judge.h"
#include "reward/ranker.h"
#include "rl/grpo_flags.h"
#include "rl/reword.h"
#include "text/item_codec.h"
#include "train/train_flags.h"
#include "world/oracle.h"

namespace muchator {
namespace {

// A learned reward's figure or the truth's, read from one mode's metrics (nullopt: not measured).
using Figure = std::optional<double> (*)(const ListMetrics&);
std::optional<double> JudgeRelevance(const ListMetrics& m) { return m.relevance; }
std::optional<double> Personalization(const ListMetrics& m) { return m.personalization; }
std::optional<double> OracleRelevance(const ListMetrics& m) {
  return m.oracle ? std::optional(m.oracle->relevance_at_10) : std::nullopt;
}
std::optional<double> OracleUtility(const ListMetrics& m) {
  return m.oracle ? std::optional(m.oracle->utility) : std::nullopt;
}

void PrintComparison(const OfflineEvaluation& before, const OfflineEvaluation& after) {
  const std::pair<Figure, const char*> kRows[] = {
      {JudgeRelevance, "judge relevance"},
      {Personalization, "personalization (ranker, 0-10)"},
      {[](const ListMetrics& m) { return std::optional(m.list_diversity); },
       "list diversity (rule)"},
      {[](const ListMetrics& m) { return std::optional(m.diversity); },
       "catalog coverage (distinct/catalog)"},
      {[](const ListMetrics& m) { return std::optional(m.factuality); }, "factuality"},
      {[](const ListMetrics& m) { return std::optional(m.well_formed); }, "well-formed"},
      {OracleRelevance, "oracle relevance@10"},
      {OracleUtility, "oracle utility"}};
  std::printf("held-out RL requests (%zu): starting checkpoint -> GRPO\n", before.requests);
  for (const char* mode : {"unconstrained", "constrained"}) {
    const ListMetrics *b = before.Mode(mode), *a = after.Mode(mode);
    if (!b || !a) continue;
    std::printf("  %s\n", mode);
    for (const auto& [figure, label] : kRows)
      if (figure(*b) && figure(*a))
        std::printf("    %-38s %8.3f -> %8.3f\n", label, *figure(*b), *figure(*a));
  }
}

// The served lists of `requests`: the checkpoint's reranked answers (the report's serving
// settings, evidence weight `evidence_weight`), as catalog indexes, one per request. The
// evaluation also decodes the constrained answers the reranked mode runs beside (EvaluateOffline
// has no reranked-only mode): about half of the time, unused.
std::vector<std::vector<int>> ServedLists(Store& store, const std::string& init_dir,
                                          std::span<const EvalRequest> requests, Ranker& ranker,
                                          double evidence_weight, int history, int list_size) {
  OfflineEvalOptions eo = ReportOptions{}.eval;  // the served order, as the report measures it
  eo.rerank_evidence_weight = evidence_weight;
  eo.history = history;
  eo.list_size = list_size;
  eo.unconstrained = false;
  eo.keep_answers = true;
  Checkpoint ck = LoadCheckpoint(init_dir);
  // The ranking model alone: the served list never sees the judge's verdicts or the oracle.
  const OfflineEvaluation e =
      EvaluateOffline(store, ck, requests, EvalJudges{nullptr, &ranker, nullptr}, eo);
  if (!e.reranked || !e.reranked->answers)
    throw Error("the checkpoint has no reranked answers", init_dir,
                "the served reward needs a checkpoint with the item codec and a ranking model");
  std::vector<std::vector<int>> lists;
  for (const auto& ids : *e.reranked->answers) {
    auto& list = lists.emplace_back();
    for (const auto& id : ids)
      if (const int i = ck.catalog.Find(id); i >= 0) list.push_back(i);
  }
  return lists;
}

// Fills each request's RequestTargets::labelled from its store query's `relevant` songs (catalog
// indexes of the checkpoint's codec; songs outside the catalog are dropped). Returns how many
// requests have at least one.
int LabelledLists(Store& store, const std::string& init_dir, std::span<const EvalRequest> requests,
                  std::span<RequestTargets> targets) {
  const Catalog catalog = Catalog::FromCodecFile(init_dir + "/codec.json");
  std::unordered_map<std::string, std::vector<int>> by_query;
  store.ForEachQuery(
      [&](const Query& q) {
        auto& list = by_query[q.id];
        for (const auto& id : q.relevant)
          if (const int i = catalog.Find(id); i >= 0) list.push_back(i);
      },
      "rl");
  int labelled = 0;
  for (size_t r = 0; r < requests.size(); ++r) {
    const auto it = by_query.find(requests[r].query_id);
    if (it == by_query.end() || it->second.empty()) continue;
    targets[r].labelled = it->second;
    ++labelled;
  }
  return labelled;
}

}  // namespace

nlohmann::json ToJson(const HackingAlarm& a) {
  return {{"raised", a.raised}, {"reasons", a.reasons}};
}

HackingAlarm RewardHackingAlarm(const OfflineEvaluation& before, const OfflineEvaluation& after,
                                double tolerance) {
  const std::pair<Figure, const char*> kLearned[] = {{JudgeRelevance, "judge relevance"},
                                                     {Personalization, "ranker personalisation"}};
  const std::pair<Figure, const char*> kTruth[] = {{OracleRelevance, "oracle relevance@10"},
                                                   {OracleUtility, "oracle utility"}};
  HackingAlarm alarm;
  bool any_truth = false;
  char buf[256];
  for (const char* mode : {"unconstrained", "constrained"}) {
    const ListMetrics *b = before.Mode(mode), *a = after.Mode(mode);
    if (!b || !a) continue;
    for (const auto& [truth, truth_label] : kTruth) {
      if (!truth(*b) || !truth(*a)) continue;
      any_truth = true;
      const double dt = *truth(*a) - *truth(*b);
      if (dt >= -tolerance) continue;
      for (const auto& [learned, learned_label] : kLearned) {
        if (!learned(*b) || !learned(*a)) continue;
        const double dl = *learned(*a) - *learned(*b);
        if (dl <= tolerance) continue;
        std::snprintf(buf, sizeof buf, "%s: %s %+.3f while %s %+.3f", mode, learned_label, dl,
                      truth_label, dt);
        alarm.raised = true;
        alarm.reasons.push_back(buf);
      }
    }
  }
  if (!any_truth) alarm.reasons.push_back("no oracle figures: the alarm needs a synthetic world");
  return alarm;
}

namespace {

// Run k of a soup: seed --seed + 10k, into out_dir/runs/k; `done` when a resumed soup finds its
// final checkpoint (it is then skipped and logged as such).
struct SoupRun {
  int k = 0;
  uint64_t seed = 0;
  std::string dir;
  bool done = false;
  std::string final_dir() const { return dir + "/grpo/final"; }
};
std::vector<SoupRun> SoupRuns(const GrpoRunOptions& o, const std::string& out_dir) {
  std::vector<SoupRun> runs;
  for (int k = 0; k < o.runs; ++k) {
    SoupRun& r = runs.emplace_back(SoupRun{k, o.grpo.train.seed + 10 * static_cast<uint64_t>(k),
                                           out_dir + "/runs/" + std::to_string(k)});
    r.done = o.resume && FileExists(r.final_dir() + "/DONE");
    if (r.done)
      spdlog::info("grpo soup: run {} of {} already done ({})", k + 1, o.runs, r.final_dir());
  }
  return runs;
}

// The soup's end, on rank 0: the runs merged into out_dir/grpo/final, run 0's log as the
// report's training curve.
void MergeSoup(const std::string& init_dir, const std::vector<SoupRun>& runs,
               const GrpoRunOptions& o, const std::string& out_dir) {
  std::vector<std::string> finals;
  for (const SoupRun& r : runs) finals.push_back(r.final_dir());
  MergeCheckpoints(init_dir, finals, o.merge, out_dir + "/grpo/final", o.grpo.steps);
  const std::string log0 = out_dir + "/runs/0/grpo/log.jsonl";
  if (FileExists(log0)) WriteFileAtomic(out_dir + "/grpo/log.jsonl", ReadFile(log0));
  spdlog::info("grpo soup: {} runs merged at {} into {}/grpo/final", runs.size(), o.merge, out_dir);
}

// Run 0's summary with "runs" (every run's summary, `all`) and "merge".
nlohmann::json SoupSummary(nlohmann::json all, double merge) {
  nlohmann::json summary = all[0];
  summary["runs"] = std::move(all);
  summary["merge"] = merge;
  return summary;
}

// GrpoRunOptions::runs GRPO runs one after another in this process, merged (MergeSoup); a resumed
// soup skips the runs that finished. With data-parallel ranks every rank trains every run and
// rank 0 merges.
nlohmann::json TrainSoup(Store& store, const std::string& init_dir,
                         const std::vector<EvalRequest>& requests, const EvalJudges& judges,
                         const GrpoRunOptions& o, const std::string& out_dir,
                         std::span<const RequestTargets> targets) {
  const auto& group = o.grpo.train.group;
  const std::vector<SoupRun> runs = SoupRuns(o, out_dir);
  nlohmann::json all = nlohmann::json::array();
  for (const SoupRun& r : runs) {
    nlohmann::json s;
    if (r.done) {
      s = {{"skipped", "done before the resume"}};
    } else {
      spdlog::info("grpo soup: run {} of {} (seed {}) into {}", r.k + 1, o.runs, r.seed, r.dir);
      GrpoOptions g = o.grpo;
      g.train.seed = r.seed;
      s = TrainGrpo(store, init_dir, requests, judges, g, r.dir, o.resume, targets);
    }
    s["seed"] = r.seed;
    s["dir"] = r.dir;
    all.push_back(std::move(s));
  }
  if (!group || group->root()) MergeSoup(init_dir, runs, o, out_dir);
  if (group) group->Barrier();  // the other ranks return once final/ exists
  return SoupSummary(std::move(all), o.merge);
}

// How many soup runs train at once (GrpoRunOptions::parallel_runs): more than one only as child
// processes, so never without run_process or with data-parallel ranks.
int ParallelRuns(const GrpoRunOptions& o) {
  if (o.run_process.empty() || o.runs <= 1 || o.grpo.train.group) return 1;
  const int want = o.parallel_runs > 0 ? o.parallel_runs : std::max(1, at::get_num_threads());
  return std::clamp(want, 1, o.runs);
}

// The last line of a child's log that says what went wrong ("error: ..."), else its last line.
std::string LastErrorLine(const std::string& log_path) {
  std::string last, error;
  std::ifstream in(log_path);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    last = line;
    if (line.find("error") != std::string::npos) error = line;
  }
  return error.empty() ? last : error;
}

// The soup's runs as child processes (o.run_process: `muchator grpo`, one run each, its options
// written to OUT/runs/K/run.config.toml, its output to OUT/runs/K/grpo.log), `parallel` at a time,
// each with an equal share of this process's threads. Each child builds its own served lists.
// Why processes, not threads: libtorch's random generator and intra-op thread count are global,
// so two runs in one process would neither be deterministic nor keep to one thread each.
nlohmann::json TrainSoupInChildren(Store& store, const std::string& init_dir,
                                   const GrpoRunOptions& o, const std::string& out_dir,
                                   int parallel) {
  const int threads = std::max(1, at::get_num_threads() / parallel);
  struct Running {
    SoupRun run;
    std::unique_ptr<ChildProcess> child;
  };
  const std::vector<SoupRun> runs = SoupRuns(o, out_dir);
  std::vector<SoupRun> pending;
  std::vector<Running> running;
  nlohmann::json all = nlohmann::json::array();
  for (const SoupRun& r : runs) {
    all.push_back({{"seed", r.seed}, {"dir", r.dir}});
    if (r.done)
      all.back()["skipped"] = "done before the resume";
    else
      pending.push_back(r);
  }
  if (!pending.empty())
    spdlog::info(
        "grpo soup: {} runs, {} at a time as child processes with {} thread(s) each "
        "(their logs: {}/runs/K/grpo.log)",
        pending.size(), std::min<size_t>(parallel, pending.size()), threads, out_dir);
  const auto steps_done = [](const SoupRun& r) {
    std::ifstream in(r.dir + "/grpo/log.jsonl");
    uint64_t n = 0;
    for (std::string line; std::getline(in, line);) n += !line.empty();
    return n;
  };
  Progress progress("grpo soup", pending.size() * static_cast<uint64_t>(o.grpo.steps), "steps");
  uint64_t finished_steps = 0;
  while (!pending.empty() || !running.empty()) {
    while (static_cast<int>(running.size()) < parallel && !pending.empty()) {
      SoupRun r = std::move(pending.front());
      pending.erase(pending.begin());
      GrpoRunOptions c = o;
      c.runs = 1;
      c.merge = 1;
      c.parallel_runs = 1;
      c.eval_requests = 0;
      c.run_process.clear();
      Options opts;
      DeclareGrpoRunFlags(opts, c);
      MakeDirs(r.dir);
      const std::string config = r.dir + "/run.config.toml", log = r.dir + "/grpo.log";
      WriteFileAtomic(config, opts.ToToml());
      if (!o.resume) WriteFileAtomic(log, "");
      std::vector<std::string> argv = o.run_process;
      for (const std::string& a : {std::string("--config"), config, std::string("--init"), init_dir,
                                   std::string("--store"), store.path(), std::string("--out"),
                                   r.dir, std::string("--seed"), std::to_string(r.seed),
                                   std::string("--threads"), std::to_string(threads)})
        argv.push_back(a);
      spdlog::info("grpo soup: run {} of {} (seed {}) into {}", r.k + 1, o.runs, r.seed, r.dir);
      running.push_back({r, std::make_unique<ChildProcess>(argv, log)});
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    uint64_t done = finished_steps;
    for (size_t i = 0; i < running.size();) {
      const SoupRun& r = running[i].run;
      const std::optional<int> code = running[i].child->Poll();
      if (!code) {
        done += steps_done(r);
        ++i;
        continue;
      }
      if (*code != 0)  // the others are killed as `running` goes out of scope
        throw Error("GRPO run " + std::to_string(r.k + 1) + " of the soup (seed " +
                        std::to_string(r.seed) + ") failed with exit code " +
                        std::to_string(*code) + ": " + LastErrorLine(r.dir + "/grpo.log"),
                    r.dir + "/grpo.log", "read the run's log; --resume continues the soup");
      const auto report = nlohmann::json::parse(ReadFile(r.dir + "/grpo_report.json"));
      for (const auto& [key, value] : report.at("training").items()) all[r.k][key] = value;
      finished_steps += static_cast<uint64_t>(o.grpo.steps);
      done += static_cast<uint64_t>(o.grpo.steps);
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
    }
    progress.Set(std::max(done, progress.done()));  // a resumed run's log starts shorter
  }
  progress.Finish();
  MergeSoup(init_dir, runs, o, out_dir);
  return SoupSummary(std::move(all), o.merge);
}

}  // namespace

void DeclareGrpoRunFlags(Options& opts, GrpoRunOptions& o) {
  AddPath(opts, PathFlag::kJudge, &o.judge_dir,
          "relevance judge directory (train-judge): needed by rel, served_rel and the *rel_pers "
          "rewards");
  AddPath(opts, PathFlag::kRanker, &o.ranker_dir,
          "ranking model directory (train-ranker): needed by pers, the *rel_pers rewards and the "
          "served rewards");
  AddPath(opts, PathFlag::kWorld, &o.world_dir,
          "synthetic world: log and report the oracle's relevance and utility too");
  DeclareGrpoFlags(opts, o.grpo);
  opts.Add(kResumeFlag, &o.resume, "continue from OUT/grpo/latest");
  opts.Add("heldout-percent", &o.heldout_percent, "RL-split users held out for the report")
      .Range(0, 100);
  opts.Add("eval-requests", &o.eval_requests,
           "held-out requests evaluated before and after (0 = none)")
      .Range(0, 1e6);
  opts.Add("served-evidence-weight", &o.served_evidence_weight,
           "the served rewards' lists: the starting model's pool reranked by the ranking model "
           "with this weight on the model's own evidence (the report's reranked order at 1; "
           "larger keeps closer to the model's own choice)")
      .Range(0, 100);
  opts.Add("served-size", &o.served_size,
           "songs in each served list of the served rewards (0 = --list-size); more also "
           "rewards the fitting songs just below the served ten")
      .Range(0, 500);
  opts.Add("reword", &o.reword,
           "swap each phrase of a training request that the store's general documents say means "
           "the same as others, with this probability, for one that no logged request uses "
           "(docs/rl.md; 0 = the requests as logged)")
      .Range(0, 1);
  opts.Add("runs", &o.runs,
           "a soup of GRPO runs: this many runs from --init with the seeds --seed, --seed + 10, "
           "..., each into OUT/runs/K/grpo/, their weights averaged into OUT/grpo/final "
           "(docs/rl.md)")
      .Range(1, 16);
  opts.Add("merge", &o.merge,
           "OUT/grpo/final = the start + this x (the runs' mean - the start): 1 = the runs' "
           "mean, 0.5 = halfway back to --init (WiSE-FT)")
      .Range(0, 2);
  opts.Add("parallel-runs", &o.parallel_runs,
           "soup runs trained at once, each as a child process with its share of --threads (0 = "
           "as many as the threads allow, at most --runs; 1 = one after another in this process)")
      .Range(0, 16);
}

nlohmann::json RunGrpo(Store& store, const std::string& init_dir, const std::string& out_dir,
                       const GrpoRunOptions& o) {
  std::unique_ptr<Judge> judge;
  std::unique_ptr<Ranker> ranker;
  std::unique_ptr<world::Oracle> oracle;
  if (!o.judge_dir.empty()) judge = Judge::Load(o.judge_dir);
  if (!o.ranker_dir.empty()) ranker = std::make_unique<Ranker>(Ranker::Load(o.ranker_dir));
  if (!o.world_dir.empty())
    oracle = std::make_unique<world::Oracle>(world::Oracle::Load(o.world_dir));
  for (const auto& [name, weight] : ParseRewardWeights(o.grpo.rewards)) {  // before any work
    const RewardSpec& spec = FindReward(name);
    if (spec.needs_relevance && !judge)
      throw Error("reward '" + name + "' needs the relevance judge", "--rewards",
                  "give --judge DIR (from `muchator train-judge`) or rewards without the judge "
                  "(rel and the *rel_pers ones), e.g. "
                  "pers=1,format=0.2,fact=0.2,div=0.2,dedup=0.2");
    if ((spec.needs_personal || spec.needs_served) && !ranker)
      throw Error("reward '" + name + "' needs the ranking model", "--rewards",
                  "give --ranker DIR (from `muchator train-ranker`) or rewards without the ranking "
                  "model (pers, the *rel_pers and the served ones), e.g. "
                  "rel=1,format=0.2,fact=0.2,div=0.2,dedup=0.2");
  }
  EvalJudges judges{judge.get(), ranker.get(), oracle.get()};
  RlSplit split = LoadRlRequests(store, o.heldout_percent);
  spdlog::info("grpo: {} training requests, {} held-out requests (RL split)", split.train.size(),
               split.heldout.size());
  MakeDirs(out_dir);
  nlohmann::json report = {{"train_requests", split.train.size()},
                           {"heldout_requests", split.heldout.size()}};
  if (o.reword > 0) {
    const RewordSummary rs = RewordRequests(store, o.reword, split.train);
    spdlog::info(
        "grpo: {} of {} training requests reworded ({} phrases swapped; the general documents "
        "pair {} phrases in {} pairs)",
        rs.reworded, split.train.size(), rs.swaps, rs.lexicon_phrases, rs.lexicon_pairs);
    if (rs.lexicon_phrases == 0)
      spdlog::warn(
          "grpo: --reword {}: the store's general documents pair no phrases, so no "
          "request is reworded (docs/rl.md)",
          o.reword);
    for (const auto& [before, after] : rs.examples)
      spdlog::info("grpo: reworded \"{}\" -> \"{}\"", before, after);
    report["reword"] = {{"p", o.reword},
                        {"reworded", rs.reworded},
                        {"swaps", rs.swaps},
                        {"lexicon_phrases", rs.lexicon_phrases},
                        {"lexicon_pairs", rs.lexicon_pairs},
                        {"examples", rs.examples}};
  }
  std::vector<RequestTargets> targets(split.train.size());
  const auto weights = ParseRewardWeights(o.grpo.rewards);
  const int parallel = ParallelRuns(o);  // > 1: each child run builds its own targets
  if (RewardsNeed(weights, &RewardSpec::needs_served) && ranker) {
    const int size = o.served_size > 0 ? o.served_size : o.grpo.list_size;
    report["served_evidence_weight"] = o.served_evidence_weight;
    report["served_size"] = size;
    if (parallel == 1) {
      const auto t = std::chrono::steady_clock::now();
      auto served = ServedLists(store, init_dir, split.train, *ranker, o.served_evidence_weight,
                                o.grpo.history, size);
      for (size_t i = 0; i < served.size(); ++i) targets[i].served = std::move(served[i]);
      spdlog::info(
          "grpo: served lists of {} songs for {} training requests in {:.0f} s (evidence weight "
          "{})",
          size, served.size(),
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count(),
          o.served_evidence_weight);
    }
  }
  if (parallel == 1 && RewardsNeed(weights, &RewardSpec::needs_labels)) {
    const int labelled = LabelledLists(store, init_dir, split.train, targets);
    spdlog::info("grpo: {} of {} training requests have labelled songs (the label reward)",
                 labelled, split.train.size());
    report["labelled_requests"] = labelled;
  }
  if (o.runs <= 1 && o.merge == 1.0) {
    report["training"] =
        TrainGrpo(store, init_dir, split.train, judges, o.grpo, out_dir, o.resume, targets);
  } else if (parallel > 1) {
    report["training"] = TrainSoupInChildren(store, init_dir, o, out_dir, parallel);
  } else {
    report["training"] = TrainSoup(store, init_dir, split.train, judges, o, out_dir, targets);
  }
  // Data-parallel: every rank trained; rank 0 alone evaluates and writes the report.
  if (o.grpo.train.group && !o.grpo.train.group->root()) return report;
  if (o.eval_requests > 0 && !split.heldout.empty()) {
    const std::vector<EvalRequest> eval(
        split.heldout.begin(),
        split.heldout.begin() +
            std::min<size_t>(split.heldout.size(), static_cast<size_t>(o.eval_requests)));
    OfflineEvalOptions eo;
    eo.history = o.grpo.history;
    eo.list_size = o.grpo.list_size;
    eo.max_new_tokens = o.grpo.max_new_tokens;
    OfflineEvaluation before;
    {
      Checkpoint ck = LoadCheckpoint(init_dir);
      before = EvaluateOffline(store, ck, eval, judges, eo);
    }
    Checkpoint ck = LoadCheckpoint(out_dir + "/grpo/final");
    const OfflineEvaluation after = EvaluateOffline(store, ck, eval, judges, eo);
    PrintComparison(before, after);
    const HackingAlarm alarm = RewardHackingAlarm(before, after);
    if (alarm.raised)
      for (const auto& reason : alarm.reasons)
        spdlog::warn("reward hacking: {} (the learned reward rose, the truth fell)", reason);
    report["before"] = ToJson(before);
    report["after"] = ToJson(after);
    report["reward_hacking"] = ToJson(alarm);
  }
  WriteFileAtomic(out_dir + "/grpo_report.json", report.dump(2) + "\n");
  return report;
}

}  // namespace muchator
