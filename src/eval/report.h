// The evaluation report (DESIGN.md section 7, docs/metrics.md): every system - the non-LLM
// baselines and each LLM checkpoint, constrained and unconstrained - answers the same held-out
// requests and is scored by ScoreAnswers; the result is report.json and a Markdown table.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/offline.h"

namespace muchator {

struct ReportOptions {
  std::string store;                          // the SQLite store (requests, contexts)
  std::string world_dir, judge_dir, ranker_dir;  // each optional: its metrics are left out without it
  std::vector<std::string> baselines = {"popularity", "bm25", "bm25_rerank"};
  std::vector<std::pair<std::string, std::string>> checkpoints;  // system name -> checkpoint dir
  std::string split = "test";                 // queries of this split with a user
  int requests = 100;                         // at most this many (0 = all)
  OfflineEvalOptions eval;
};

// Runs every system, writes out_dir/report.json and out_dir/report.md, returns the report:
// {"requests": n, "split": s, "rows": [{"system", "mode", metrics...}, ...]}.
nlohmann::json RunReport(const ReportOptions& o, const std::string& out_dir);
// The Markdown table of a report's rows (the columns whose metric some row has).
std::string ReportTable(const nlohmann::json& report);

}  // namespace muchator
