// The generation check of an instruction-tuned model: greedy answers for held-out (user, query)
// pairs scored by the oracle (relevance@10, utility, factuality, well-formed share), before and
// after SFT. EvaluateOffline with the oracle alone, on the test split or a held-out triplets file.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "eval/offline.h"
#include "infer/checkpoint.h"
#include "reward/requests.h"
#include "text/chat.h"

namespace muchator {

class Store;
namespace world {
class Oracle;
}

struct GenerationEvalOptions {
  int queries = 100;  // held-out queries with a user
  // "" = the store's test-split queries (the oracle's facets of each query id); else a held-out
  // triplets file (sft_heldout.jsonl: facets parsed from each synthesised query's text).
  std::string triplets;
  int history = kPromptHistory;
  int max_new_tokens = 200;                                // unconstrained answers
  std::function<PromptExtras(const EvalRequest&)> extras;  // as the model was tuned with
};

// Greedy answers for held-out (user, query) pairs, constrained (catalog items only, 10) and
// unconstrained (free text, parsed): per mode the oracle's mean relevance@10 (share of listed
// catalog items relevant to the query's facets, non-catalog entries counting as irrelevant),
// mean utility of the listed catalog items, factuality and well-formed share.
OfflineEvaluation EvaluateGeneration(Store& store, Checkpoint& ck, const world::Oracle& oracle,
                                     const GenerationEvalOptions& o);

}  // namespace muchator
