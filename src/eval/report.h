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
  std::string triplets;  // the UQ2I triplets (uq2i/triplets.jsonl)
  // Trained checkpoints in pipeline order: pretrained, sft, grpo (those present).
  std::vector<std::pair<std::string, std::string>> checkpoints;
};
RunLayout ReadRunLayout(const std::string& run_dir);

struct ReportOptions {
  std::string store;  // the SQLite store (requests, contexts)
  std::string world_dir, judge_dir,
      ranker_dir;  // each optional: its metrics are left out without it
  std::vector<std::string> baselines = {"popularity", "bm25", "bm25_rerank", "dense",
                                        "dense_rerank"};
  std::string triplets;  // UQ2I triplets: more training pairs of the dense retriever ("" = none)
  std::vector<std::pair<std::string, std::string>> checkpoints;  // system name -> checkpoint dir
  std::string split = "test";  // queries of this split with a user
  int requests = 100;          // at most this many (0 = all)
  // The checkpoints also answer "reranked" (OfflineEvalOptions::rerank_pool: the model's 500
  // best first songs, less their mean first-song log-probability over 64 sft requests (prior
  // weight 1); each ordered by the ranking model's score less its mean score over those requests'
  // listeners (ranker prior weight 1) plus 1 x (its first-song key - the pool's best, in nats);
  // the first 10 kept, one per artist) when the ranking model is given. Chosen on the rl split
  // (never the report's test split) of the demo world, seeds 1, 2 and 3, and of the Jamendo
  // world, seed 1, GRPO models; oracle rel@10 / utility / coverage (docs/metrics.md has every
  // point; BM25 + ranking model 0.186 / 0.058, 0.274 / -0.025, 0.203 / 0.105, Jamendo 0.238 /
  // 0.186):
  //   before (pool 100, 0.25 x log2(1 + place)): 0.568 / 0.355 / 0.115, 0.595 / 0.110 / 0.107,
  //                                               0.600 / 0.209 / 0.114, 0.705 / 0.152 / 0.082
  //   now:                                        0.591 / 0.512 / 0.141, 0.593 / 0.187 / 0.142,
  //                                               0.610 / 0.362 / 0.142, 0.831 / 0.120 / 0.096
  // Relevance on rl no lower than before on any world (weight 0.8: seed 2 0.555, and on test
  // seed 1's 0.400 fell below 2x the baseline's), utility and coverage higher on the demo world.
  OfflineEvalOptions eval = [] {
    OfflineEvalOptions e;
    e.rerank_pool = 500;
    e.rerank_model_weight = 0;
    e.rerank_evidence_weight = 1.0;
    e.rerank_prior_weight = 1.0;
    e.rerank_ranker_prior_weight = 1.0;
    return e;
  }();
  // Prompt additions of some checkpoint systems (few-shot, RAG), by system name.
  std::map<std::string, std::function<PromptExtras(const EvalRequest&)>> extras;
  // Systems answering only constrained, from their prompt's candidates (OfflineEvalOptions::
  // only_candidates).
  std::set<std::string> only_candidates;
};

// Runs every system, writes out_dir/report.json and out_dir/report.md, returns the report:
// {"requests": n, "split": s, "rows": [{"system", "mode", metrics...}, ...], "paired": [...]}.
// "paired" (with the oracle): for each decoding mode in which both the `sft` and the `grpo`
// system answered, GRPO minus SFT on oracle utility and relevance@10 over the same requests, the
// mean difference and its 95% paired-bootstrap interval (2,000 resamples, core/stats.h).
nlohmann::json PairedComparisons(const nlohmann::json& rows, const std::string& base = "sft",
                                 const std::string& treated = "grpo");
// One PairedComparisons entry as a Markdown table row: "| mode | metric | mean | [low, high] |
// yes/no |" (yes: the interval excludes 0), with its newline.
std::string PairedRowMarkdown(const nlohmann::json& p);
nlohmann::json RunReport(const ReportOptions& o, const std::string& out_dir);
// The Markdown table of a report's rows (the columns whose metric some row has).
std::string ReportTable(const nlohmann::json& report);

}  // namespace muchator
