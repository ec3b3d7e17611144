// The reranked answer's command-line flags (infer/rerank.h; docs/metrics.md, "reranked"), each
// name, help and range declared here once, bound to whichever settings a command holds: the
// evaluation's (`evaluate`) or the server's (`serve`), so the served list is configured as the
// evaluated one.
#pragma once

#include <string>

#include "core/options.h"

namespace muchator {

// Where the flags' values go; every pointer must be set.
struct RerankFlagTargets {
  int* pool = nullptr;
  double *model_weight = nullptr, *evidence_weight = nullptr;
  std::string* source = nullptr;
  double *prior_weight = nullptr, *ranker_prior_weight = nullptr;
  std::string* prior_split = nullptr;
  int* prior_requests = nullptr;
};
// --rerank-pool, --rerank-model-weight, --rerank-evidence-weight, --rerank-source,
// --rerank-prior-weight, --rerank-ranker-prior-weight, --prior-split, --prior-requests.
void DeclareRerankFlags(Options& opts, const RerankFlagTargets& t);

}  // namespace muchator
