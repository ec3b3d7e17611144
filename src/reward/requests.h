// Requests to answer and what scores the answers: the store's queries of a split, or the (user,
// query) pairs of a UQ2I triplets file; each listener's context at the request's time; and the
// ranking model's per-song prior over a split's listeners. Used by SFT (synth), GRPO (rl), the
// evaluation (eval) and the server, so it lives below all of them.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "data/entities.h"
#include "text/chat.h"
#include "text/item_codec.h"

namespace muchator {

class Store;
class Judge;
class Ranker;
namespace world {
class Oracle;
}

// One request: who asks (empty = cold start), when (their history is what came before), in
// which situation, and what.
struct EvalRequest {
  std::string user;
  int64_t ts = kNoTimestamp;
  State state;
  std::string query;
  std::string query_id;  // the store's query id, when it has one (the oracle knows its facets)
};

// The store's queries of `split` that have a user, in store order, at most `limit` (0 = all),
// those for which `keep` (when given) returns true.
std::vector<EvalRequest> RequestsFromStore(Store& store, const std::string& split, int limit,
                                           const std::function<bool(const Query&)>& keep = {});
// The (user, ts, state, query) of a UQ2I triplets file, at most `limit`, those whose query text
// `keep` accepts. Throws Error with file and line for a malformed line.
std::vector<EvalRequest> RequestsFromTriplets(
    const std::string& path, int limit, const std::function<bool(const std::string&)>& keep = {});

// What scores the answers; each may be null. Borrowed for the call.
struct EvalJudges {
  Judge* judge = nullptr;
  Ranker* ranker = nullptr;
  const world::Oracle* oracle = nullptr;
};

// Each request's listener context: their history before the request (at most `history` events)
// and the request's state.
std::vector<UserContext> RequestContexts(Store& store, const Catalog& catalog,
                                         std::span<const EvalRequest> requests, int history);

// The prior of OfflineEvalOptions::rerank_ranker_prior_weight: each catalog song's mean
// ranking-model score (0-10) over the listeners (context, state) of at most `n` requests of
// `split` that have a listener; empty when there is none. Shared by the evaluation and the server.
std::vector<float> RankerSongPrior(Store& store, const Catalog& catalog, Ranker& ranker,
                                   const std::string& split, int n, int history);

}  // namespace muchator
