// The knowledge-benchmark step shared by `benchmark` and `ablate --table 5`.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace muchator {

struct BenchmarkSpec {
  std::string store, world, corpus;  // world and corpus optional (q2i/general, U2I perplexity)
  std::vector<std::pair<std::string, std::string>> checkpoints;  // name -> checkpoint dir
  int per_kind = 200;          // questions of each kind (eval/knowledge.h KnowledgeOptions)
  std::string split = "test";  // q2i questions' queries
  uint64_t seed = 1;
  int64_t u2i_docs = 200, u2i_context = 256;
  std::string out;  // knowledge.json, knowledge.md
};
// A run's checkpoints in Table 5's order: each pre-training stage (curriculum order), the mixed
// curriculum of `ablate --table 5` when it exists (`mixed`, default RUN/ablate/table5/mixed/final),
// then SFT and GRPO.
std::vector<std::pair<std::string, std::string>> BenchmarkCheckpointsOfRun(const std::string& run,
                                                                           std::string mixed = "");
// Scores every checkpoint, writes spec.out/knowledge.json and knowledge.md; returns the Markdown.
std::string RunBenchmark(const BenchmarkSpec& spec);

}  // namespace muchator
