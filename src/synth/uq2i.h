// UQ2I synthesis (the paper's section 3.3.1): (user context, query) -> 10-song lists.
//   0. when the store has logged training requests (sft-split queries with a user and at least
//      list_size liked/finished songs): those requests, for their own listener and borrowed by
//      other sft listeners, with the logged songs ranked by the ranking model as the target;
//      steps 1-4 then make no triplets unless asked (Uq2iOptions::per_user);
//   1. query-item pool (synth/query_pool.h);
//   2. queries embedded by the pre-trained checkpoint and clustered (synth/cluster.h);
//   3. for a user, each song they favourited (liked or finished) in the training period: one of
//      its queries is sampled, and every song of that query's cluster is a candidate;
//   4. the personalisation ranking model scores the candidates in the user's context at that
//      moment (state, the events before it) and the top 10 become the target list.
// Users of the rl and test query splits are excluded (data isolation: RL and evaluation users are
// never seen in SFT). Triplets stream to a JSONL file as they are made.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reward/ranker.h"
#include "synth/query_pool.h"

namespace muchator {

class Store;
namespace world {
class Oracle;
}

struct Uq2iOptions {
  int list_size = 10;
  // Cluster-anchor triplets per user (favourites sampled, seeded): -1 = 8 when the store has no
  // logged training requests, 0 when it has (their targets are far closer to the task).
  int per_user = -1;
  // Logged training requests (sft split, `relevant` = what the listener liked or finished): each
  // gives a triplet for its own listener, and every sft user also asks this many other users'
  // requests (the request's logged songs ranked for them, in a state of the same context).
  int borrowed_per_user = 8;
  // Request triplets' answers open with a sentence naming what their logged songs share ("Songs
  // for sleep, calm."): the model names the concept before it lists songs for it.
  bool opening_sentence = true;
  int history = 50;          // events before the anchor given to the ranking model
  double holdout = 0.1;      // favourites only from before the log's held-out tail (as the ranker)
  int64_t max_triplets = 0;  // 0 = no limit
  uint64_t seed = 1;
  // Data-parallel synthesis: this process makes the triplets of the users with
  // HashString(user) % shards == shard (each user's triplets depend on the user alone).
  int shard = 0, shards = 1;
};

struct Uq2iTriplet {
  std::string user, query, query_source, anchor;  // anchor: the favourite song id
  std::string sentence;  // the answer's opening sentence ("" = the list alone)
  int64_t ts = 0;        // the anchor event's time: the context is what came before
  State state;
  std::vector<int> items;       // catalog indexes, best first
  std::vector<float> scores;    // ranker scores (0-10) of items
  std::vector<int> candidates;  // catalog indexes of the cluster's songs
  // Not written by ToJson: the user's position among all synthesised users (for merging shards
  // in one order) and, with an oracle, the list's quality measure (empty when not measured).
  int64_t user_pos = 0;
  std::vector<double> oracle;
  nlohmann::json ToJson(const Catalog& catalog) const;
};

// Cluster of each pool text and the songs of each cluster (sorted catalog indexes).
struct QueryClusters {
  std::vector<int> cluster_of_text;
  std::vector<std::vector<int>> songs;
};
QueryClusters GroupSongs(const QueryPool& pool, const std::vector<int>& cluster_of_text, int k);

// Mean relevance and utility of the target lists against their candidates before filtering, as
// the oracle measures them; added in triplet order.
struct Uq2iOracleStats {
  int64_t measured = 0;
  double rel_target = 0, rel_cand = 0, util_target = 0, util_cand = 0;
  void Add(const std::vector<double>& measure);  // a triplet's `oracle` (empty: skipped)
  void Into(nlohmann::json& summary) const;      // summary["oracle"], when any was measured
};

// Streams triplets to `emit`; returns the summary (counts, and with an oracle the mean
// relevance@10 and utility of the target lists against the candidates before filtering).
nlohmann::json SynthesizeUq2i(Store& store, const Catalog& catalog, const QueryPool& pool,
                              const QueryClusters& clusters, Ranker& ranker,
                              const world::Oracle* oracle, const Uq2iOptions& o,
                              const std::function<void(const Uq2iTriplet&)>& emit);

}  // namespace muchator
