// GRPO's training requests reworded in the everyday language of the run's general documents
// (text/paraphrase.h; docs/rl.md, "Requests reworded in everyday language").
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "reward/requests.h"

namespace muchator {

class Store;

struct RewordSummary {
  size_t lexicon_phrases = 0, lexicon_pairs = 0;  // what the general documents paired
  size_t reworded = 0;                            // requests with at least one phrase swapped
  size_t swaps = 0;                               // phrases swapped in all
  std::vector<std::pair<std::string, std::string>> examples;  // the first few, before and after
};

// Swaps, with probability `p`, each phrase of each request's text that the store's "general"
// documents say means the same as others (ParaphraseLexicon) for one of those others, preferring
// phrases that no request of the sft and rl splits and no song tag or genre uses: the wording
// listeners have not used yet. Never reads a test-split request. Deterministic: each request's
// draws come from its user and text alone, so every soup run and every process rewords alike.
// Without general documents nothing changes (the summary says so).
RewordSummary RewordRequests(Store& store, double p, std::vector<EvalRequest>& requests);

}  // namespace muchator
