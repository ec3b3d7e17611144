#include "eval/report.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/stats.h"
#include "data/store.h"
#include "eval/baselines.h"
#include "reward/judge.h"
#include "reward/ranker.h"
#include "world/oracle.h"

namespace muchator {
namespace {

// Column key, header.
const std::pair<const char*, const char*> kColumns[] = {
    {"personalization", "Personalization (0-10)"},
    {"relevance", "Relevance (judge)"},
    {"diversity", "Diversity (coverage)"},
    {"list_diversity", "List diversity"},
    {"factuality", "Factuality"},
    {"well_formed", "Well-formed"},
    {"relevance_at_10", "Oracle rel@10"},
    {"utility", "Oracle utility"},
    {"ndcg_at_10", "nDCG@10"},
    {"recall_at_10", "Recall@10"},
    {"prompt_tokens", "Prompt tokens"},
    {"shared_other_request", "Shared, other request"},
    {"shared_other_listener", "Shared, other listener"},
};

}  // namespace

std::string ReportTable(const nlohmann::json& report) {
  std::vector<std::pair<const char*, const char*>> cols;
  for (const auto& c : kColumns)
    for (const auto& row : report["rows"])
      if (row.contains(c.first)) {
        cols.push_back(c);
        break;
      }
  std::string t = "| system | decoding |";
  for (const auto& c : cols) t += std::string(" ") + c.second + " |";
  t += "\n|---|---|";
  for (size_t i = 0; i < cols.size(); ++i) t += "---:|";
  t += "\n";
  char buf[32];
  for (const auto& row : report["rows"]) {
    t += "| " + row["system"].get<std::string>() + " | " + row["mode"].get<std::string>() + " |";
    for (const auto& c : cols) {
      if (row.contains(c.first))
        std::snprintf(buf, sizeof buf, " %.3f |", row[c.first].get<double>());
      else
        std::snprintf(buf, sizeof buf, " - |");
      t += buf;
    }
    t += "\n";
  }
  return t;
}

nlohmann::json PairedComparisons(const nlohmann::json& rows, const std::string& base,
                                 const std::string& treated) {
  nlohmann::json out = nlohmann::json::array();
  auto find = [&](const std::string& system, const std::string& mode) -> const nlohmann::json* {
    for (const auto& r : rows)
      if (r.value("system", "") == system && r.value("mode", "") == mode &&
          r.contains("per_request"))
        return &r;
    return nullptr;
  };
  for (const char* mode : {"constrained", "reranked", "unconstrained"}) {
    const nlohmann::json *a = find(base, mode), *b = find(treated, mode);
    if (!a || !b) continue;
    for (const char* metric : {"utility", "relevance_at_10"}) {
      const auto x = (*a)["per_request"][metric].get<std::vector<double>>();
      const auto y = (*b)["per_request"][metric].get<std::vector<double>>();
      if (x.size() != y.size() || x.empty()) continue;
      const BootstrapInterval ci = PairedBootstrap(x, y);
      out.push_back({{"mode", mode},
                     {"metric", metric},
                     {"base", base},
                     {"treated", treated},
                     {"mean", ci.mean},
                     {"low", ci.low},
                     {"high", ci.high},
                     {"excludes_zero", ci.ExcludesZero()}});
    }
  }
  return out;
}

RunLayout ReadRunLayout(const std::string& run_dir) {
  RunLayout l;
  auto has = [&](const std::string& rel) { return FileExists(run_dir + "/" + rel); };
  if (has("store.sqlite")) l.store = run_dir + "/store.sqlite";
  if (has("world/oracle/world.json")) l.world = run_dir + "/world";
  if (has("judge/judge.json")) l.judge = run_dir + "/judge";
  if (has("ranker/ranker.json")) l.ranker = run_dir + "/ranker";
  if (has("uq2i/triplets.jsonl")) l.triplets = run_dir + "/uq2i/triplets.jsonl";
  for (const auto& [name, rel] :
       {std::pair{"pretrained", "pretrain/stage3_behaviour/final"},
        std::pair{"sft", "sft/sft/final"}, std::pair{"grpo", "grpo/grpo/final"}})
    if (has(std::string(rel) + "/codec.json"))
      l.checkpoints.emplace_back(name, run_dir + "/" + rel);
  return l;
}

std::string PairedRowMarkdown(const nlohmann::json& p) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "| %s | %s | %+.3f | [%+.3f, %+.3f] | %s |\n",
                p["mode"].get<std::string>().c_str(), p["metric"].get<std::string>().c_str(),
                p["mean"].get<double>(), p["low"].get<double>(), p["high"].get<double>(),
                p["excludes_zero"].get<bool>() ? "yes" : "no");
  return buf;
}

nlohmann::json RunReport(const ReportOptions& o, const std::string& out_dir) {
  Store store(o.store);
  std::unique_ptr<Judge> judge;
  std::unique_ptr<Ranker> ranker;
  std::unique_ptr<world::Oracle> oracle;
  if (!o.judge_dir.empty()) judge = Judge::Load(o.judge_dir);
  if (!o.ranker_dir.empty()) ranker = std::make_unique<Ranker>(Ranker::Load(o.ranker_dir));
  if (!o.world_dir.empty())
    oracle = std::make_unique<world::Oracle>(world::Oracle::Load(o.world_dir));
  const EvalJudges judges{judge.get(), ranker.get(), oracle.get()};
  const std::vector<EvalRequest> requests = RequestsFromStore(store, o.split, o.requests);
  if (requests.empty())
    throw Error("no queries of split '" + o.split + "' with a user", o.store,
                "mark held-out queries with \"split\"");
  MakeDirs(out_dir);
  nlohmann::json report = {
      {"requests", requests.size()}, {"split", o.split}, {"rows", nlohmann::json::array()}};
  std::string answers;  // answers.jsonl, with o.eval.keep_answers
  auto add = [&](const std::string& system, const std::string& mode, ListMetrics metrics,
                 double seconds) {
    if (metrics.answers) {
      for (size_t k = 0; k < metrics.answers->size(); ++k)
        answers += nlohmann::json({{"system", system},
                                   {"mode", mode},
                                   {"request", k},
                                   {"query_id", requests[k].query_id},
                                   {"user", requests[k].user},
                                   {"query", requests[k].query},
                                   {"songs", (*metrics.answers)[k]}})
                       .dump() +
                   "\n";
      metrics.answers.reset();
    }
    nlohmann::json m = ToJson(metrics);
    m["system"] = system;
    m["mode"] = mode;
    m["seconds"] = seconds;
    report["rows"].push_back(m);
  };
  using Clock = std::chrono::steady_clock;
  // The catalog of the baselines: that of the first checkpoint when there is one (same indexes
  // as the LLM systems), else the store's.
  const Catalog catalog = o.checkpoints.empty()
                              ? Catalog::FromStore(store)
                              : Catalog::FromCodecFile(o.checkpoints[0].second + "/codec.json");
  BaselineDeps deps{&store, &catalog, ranker.get()};
  deps.triplets = o.triplets;
  double dense_seconds = 0;  // training time, counted in the first dense row's seconds
  if (std::any_of(o.baselines.begin(), o.baselines.end(), UsesDenseRetriever)) {
    const auto t = Clock::now();
    auto dense = TrainDenseRetriever(deps);
    report["dense_retriever"] = dense->report();
    deps.dense = std::move(dense);
    dense_seconds = std::chrono::duration<double>(Clock::now() - t).count();
  }
  for (const auto& name : o.baselines) {
    if (name.empty()) continue;  // `--baselines ""`: none
    spdlog::info("report: {} on {} requests", name, requests.size());
    auto t = Clock::now();
    if (UsesDenseRetriever(name))
      t -=
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(dense_seconds)),
          dense_seconds = 0;
    auto system = MakeBaseline(name, deps);
    ListMetrics m = EvaluateBaseline(*system, store, catalog, requests, judges, o.eval);
    add(name, "list", std::move(m), std::chrono::duration<double>(Clock::now() - t).count());
  }
  for (const auto& [name, dir] : o.checkpoints) {
    spdlog::info("report: {} ({}) on {} requests", name, dir, requests.size());
    const auto t = Clock::now();
    Checkpoint ck = LoadCheckpoint(dir);
    OfflineEvalOptions eo = o.eval;
    if (eo.rerank_prior_weight != 0 && eo.prior_split == o.split)
      throw Error("the pool's prior would come from the evaluated split '" + o.split + "'",
                  "--prior-split", "give a training split (sft)");
    eo.sensitivity = true;  // shared songs across requests and listeners (docs/metrics.md)
    if (auto it = o.extras.find(name); it != o.extras.end()) eo.extras = it->second;
    if (o.only_candidates.count(name)) eo.only_candidates = true, eo.unconstrained = false;
    const OfflineEvaluation r = EvaluateOffline(store, ck, requests, judges, eo);
    const double seconds = std::chrono::duration<double>(Clock::now() - t).count();
    for (const char* mode : {"constrained", "reranked", "unconstrained"})
      if (const ListMetrics* m = r.Mode(mode)) add(name, mode, *m, seconds);
  }
  report["paired"] = PairedComparisons(report["rows"]);
  if (o.eval.keep_answers) WriteFileAtomic(out_dir + "/answers.jsonl", answers);
  WriteFileAtomic(out_dir + "/report.json", report.dump(2) + "\n");
  const std::string table = ReportTable(report);
  std::string paired;
  for (const auto& p : report["paired"]) paired += PairedRowMarkdown(p);
  if (!paired.empty())
    paired =
        "\n## GRPO minus SFT, paired over the same requests\n\n| decoding | metric | mean | 95% "
        "bootstrap "
        "interval | excludes 0 |\n|---|---|---:|---|---|\n" +
        paired;
  WriteFileAtomic(out_dir + "/report.md",
                  "# Evaluation report\n\n" + std::to_string(requests.size()) +
                      " held-out requests (split `" + o.split +
                      "`); metrics defined in docs/metrics.md.\n\n" + table + paired);
  return report;
}

}  // namespace muchator
