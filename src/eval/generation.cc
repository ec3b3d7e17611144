// The generation check of an instruction-tuned model (eval/generation.h).
#include "eval/generation.h"

#include "core/error.h"
#include "data/store.h"
#include "world/oracle.h"

namespace muchator {

OfflineEvaluation EvaluateGeneration(Store& store, Checkpoint& ck, const world::Oracle& oracle,
                                     const GenerationEvalOptions& o) {
  // Synthesised queries the oracle cannot read (no facet parsed) have no relevant songs: skipped.
  const auto requests =
      o.triplets.empty() ? RequestsFromStore(store, "test", o.queries)
                         : RequestsFromTriplets(o.triplets, o.queries, [&](const std::string& q) {
                             return oracle.ParseQuery(q).count() > 0;
                           });
  if (requests.empty())
    throw Error("no held-out queries with a user to evaluate",
                o.triplets.empty() ? store.path() : o.triplets);
  OfflineEvalOptions eo;
  eo.history = o.history;
  eo.max_new_tokens = o.max_new_tokens;
  eo.extras = o.extras;
  EvalJudges judges;
  judges.oracle = &oracle;
  return EvaluateOffline(store, ck, requests, judges, eo);
}

}  // namespace muchator
