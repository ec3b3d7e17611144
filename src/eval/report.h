// The evaluation report (DESIGN.md section 7, docs/metrics.md): every system - the non-LLM
// baselines and each LLM checkpoint, constrained and unconstrained - answers the same held-out
// requests and is scored by ScoreAnswers; the result is report.json and a Markdown table.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "eval/offline.h"

namespace muchator {

// What a pipeline run directory (`muchator pipeline --out DIR`) holds; a path is empty where
// the run has no such part. One place spells the layout: the report, `evaluate --run` and
// `serve --run` read it through this.
struct RunLayout {
  std::string store, world, judge, ranker;
  // Trained checkpoints in pipeline order: pretrained, sft, grpo (those present).
  std::vector<std::pair<std::string, std::string>> checkpoints;
};
RunLayout ReadRunLayout(const std::string& run_dir);

struct ReportOptions {
  std::string store;  // the SQLite store (requests, contexts)
  std::string world_dir, judge_dir,
      ranker_dir;  // each optional: its metrics are left out without it
  std::vector<std::string> baselines = {"popularity", "bm25", "bm25_rerank"};
  std::vector<std::pair<std::string, std::string>> checkpoints;  // system name -> checkpoint dir
  std::string split = "test";  // queries of this split with a user
  int requests = 100;          // at most this many (0 = all)
  // The checkpoints also answer "reranked" (OfflineEvalOptions::rerank_pool: the model's 20
  // songs, the ranking model's 10 best of them, one per artist) when the ranking model is given.
  // 20, chosen on the rl split (not the report's test split) of the demo world, seed 1, final
  // model: pools of 20 / 30 kept oracle rel@10 0.529 / 0.404 with utility -0.456 / -0.329
  // (constrained 0.702 / -0.632; BM25 + ranking model 0.181 / -0.199). Deeper pool songs fit the
  // request less, and the ranking model does not see the request.
  OfflineEvalOptions eval = [] {
    OfflineEvalOptions e;
    e.rerank_pool = 20;
    return e;
  }();
  // Prompt additions of some checkpoint systems (few-shot, RAG), by system name.
  std::map<std::string, std::function<PromptExtras(const EvalRequest&)>> extras;
  // Systems answering only constrained, from their prompt's candidates (OfflineEvalOptions::
  // only_candidates).
  std::set<std::string> only_candidates;
};

// Runs every system, writes out_dir/report.json and out_dir/report.md, returns the report:
// {"requests": n, "split": s, "rows": [{"system", "mode", metrics...}, ...]}.
nlohmann::json RunReport(const ReportOptions& o, const std::string& out_dir);
// The Markdown table of a report's rows (the columns whose metric some row has).
std::string ReportTable(const nlohmann::json& report);

}  // namespace muchator
