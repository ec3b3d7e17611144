// RunGrpo: GRPO with its reward models loaded from directories, and the before/after report.
#include "pipeline/grpo_step.h"

#include <cstdio>
#include <memory>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "data/store.h"
#include "eval/offline.h"
#include "reward/judge.h"
#include "reward/ranker.h"
#include "world/oracle.h"

namespace muchator {
namespace {

void PrintComparison(const nlohmann::json& before, const nlohmann::json& after) {
  static const char* kRows[][2] = {{"relevance", "judge relevance"},
                                   {"personalization", "personalization (ranker, 0-10)"},
                                   {"list_diversity", "list diversity (rule)"},
                                   {"diversity", "catalog coverage (distinct/catalog)"},
                                   {"factuality", "factuality"},
                                   {"well_formed", "well-formed"},
                                   {"relevance_at_10", "oracle relevance@10"},
                                   {"utility", "oracle utility"}};
  std::printf("held-out RL requests (%lld): starting checkpoint -> GRPO\n",
              before["requests"].get<long long>());
  for (const char* mode : {"unconstrained", "constrained"}) {
    if (!before.contains(mode)) continue;
    std::printf("  %s\n", mode);
    for (const auto& row : kRows)
      if (before[mode].contains(row[0]))
        std::printf("    %-38s %8.3f -> %8.3f\n", row[1], before[mode][row[0]].get<double>(),
                    after[mode][row[0]].get<double>());
  }
}

}  // namespace

nlohmann::json RewardHackingAlarm(const nlohmann::json& before, const nlohmann::json& after,
                                  double tolerance) {
  static const char* kLearned[][2] = {{"relevance", "judge relevance"},
                                      {"personalization", "ranker personalisation"}};
  static const char* kTruth[][2] = {{"relevance_at_10", "oracle relevance@10"},
                                    {"utility", "oracle utility"}};
  nlohmann::json alarm = {{"raised", false}, {"reasons", nlohmann::json::array()}};
  bool any_truth = false;
  auto delta = [](const nlohmann::json& a, const nlohmann::json& b, const char* key) {
    return b.at(key).get<double>() - a.at(key).get<double>();
  };
  char buf[256];
  for (const char* mode : {"unconstrained", "constrained"}) {
    if (!before.contains(mode) || !after.contains(mode)) continue;
    const auto &b = before[mode], &a = after[mode];
    for (const auto& t : kTruth) {
      if (!b.contains(t[0]) || !a.contains(t[0])) continue;
      any_truth = true;
      const double dt = delta(b, a, t[0]);
      if (dt >= -tolerance) continue;
      for (const auto& l : kLearned) {
        if (!b.contains(l[0]) || !a.contains(l[0])) continue;
        const double dl = delta(b, a, l[0]);
        if (dl <= tolerance) continue;
        std::snprintf(buf, sizeof buf, "%s: %s %+.3f while %s %+.3f", mode, l[1], dl, t[1], dt);
        alarm["raised"] = true;
        alarm["reasons"].push_back(buf);
      }
    }
  }
  if (!any_truth)
    alarm["reasons"].push_back("no oracle figures: the alarm needs a synthetic world");
  return alarm;
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
    if (spec.needs_personal && !ranker)
      throw Error("reward '" + name + "' needs the ranking model", "--rewards",
                  "give --ranker DIR (from `muchator train-ranker`) or rewards without the ranking "
                  "model (pers and the *rel_pers ones), e.g. "
                  "rel=1,format=0.2,fact=0.2,div=0.2,dedup=0.2");
  }
  EvalJudges judges{judge.get(), ranker.get(), oracle.get()};
  const RlSplit split = LoadRlRequests(store, o.heldout_percent);
  spdlog::info("grpo: {} training requests, {} held-out requests (RL split)", split.train.size(),
               split.heldout.size());
  MakeDirs(out_dir);
  nlohmann::json report = {{"train_requests", split.train.size()},
                           {"heldout_requests", split.heldout.size()}};
  report["training"] = TrainGrpo(store, init_dir, split.train, judges, o.grpo, out_dir, o.resume);
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
    {
      Checkpoint ck = LoadCheckpoint(init_dir);
      report["before"] = EvaluateOffline(store, ck, eval, judges, eo);
    }
    Checkpoint ck = LoadCheckpoint(out_dir + "/grpo/final");
    report["after"] = EvaluateOffline(store, ck, eval, judges, eo);
    PrintComparison(report["before"], report["after"]);
    report["reward_hacking"] = RewardHackingAlarm(report["before"], report["after"]);
    for (const auto& reason : report["reward_hacking"]["reasons"])
      if (report["reward_hacking"]["raised"].get<bool>())
        spdlog::warn("reward hacking: {} (the learned reward rose, the truth fell)",
                     reason.get<std::string>());
  }
  WriteFileAtomic(out_dir + "/grpo_report.json", report.dump(2) + "\n");
  return report;
}

}  // namespace muchator
