// The UQ2I synthesis step and the SFT step as whole jobs (directories in, directories and reports
// out), shared by `muchator synth-uq2i`, `muchator sft` and the pipeline's step 7.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "dist/dist.h"
#include "eval/generation.h"
#include "synth/sft.h"
#include "synth/uq2i.h"

namespace muchator {

class Store;
namespace world {
class Oracle;
}

struct SynthRunOptions {
  QueryPoolOptions pool;
  Uq2iOptions uq2i;
  int per_cluster = 5;  // K = pool queries / this
  // Data-parallel (docs/distributed.md): every rank builds the pool, rank 0 embeds and clusters it
  // (pool.jsonl, which the others read), each rank synthesises the users of its shard, rank 0
  // merges the shards in the users' order: the same files as one process.
  std::shared_ptr<dist::Group> group;
};

// Query pool from the store (without the world's query-only forms when `oracle` is given),
// embedded by the checkpoint in `model_dir` and clustered, target lists by the ranking model in
// `ranker_dir`. Writes out_dir/pool.jsonl, triplets.jsonl, synth_summary.json; returns the
// summary (counts, throughput, and with an oracle the quality of the lists before/after filtering).
nlohmann::json RunUq2iSynthesis(Store& store, const std::string& model_dir,
                                const std::string& ranker_dir, const world::Oracle* oracle,
                                const std::string& out_dir, const SynthRunOptions& o);
// One line: "N triplets from U users ..., oracle relevance@10 ..." (for the terminal).
std::string Uq2iSummaryLine(const nlohmann::json& summary);

// The generation check of one checkpoint (EvaluateGeneration): held-out synthesised pairs (users
// not trained on) and the test split's real queries.
struct SftCheck {
  OfflineEvaluation heldout_pairs, test_queries;
};
// RunSft's report. Data-parallel ranks other than 0 return it empty.
struct SftReport {
  int64_t examples = 0;  // SFT documents written
  double final_train_loss = 0, heldout_loss = 0;
  std::optional<SftCheck> before, after;  // with an oracle (before: with check_before)
};
// sft_report.json: {examples, final_train_loss, heldout_loss, before?, after?}, each check
// {heldout_pairs, test_queries} in EvaluateOffline's JSON form.
nlohmann::json ToJson(const SftReport& r);

// SFT of `init_dir` on `triplets` into out_dir (corpus/, sft/final/, sft_report.json). With an
// oracle, the generation check on held-out pairs and test queries after training (and before,
// when `check_before`). Returns the report.
SftReport RunSft(Store& store, const std::string& init_dir, const std::string& triplets,
                 const std::string& out_dir, const world::Oracle* oracle, const SftOptions& o,
                 const GenerationEvalOptions& eval, bool check_before);

}  // namespace muchator
