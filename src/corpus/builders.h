// Corpus builders: the store as the token streams of the pre-training stages.
//   stage0_general     the general-knowledge documents (the base stage)
//   stage1_objective   metadata through several templates, documents, lyric descriptions; each
//                      song's item tokens next to its title, artist and attributes; documents about
//                      a song also description-first (then the song), and concept -> song lists
//                      (each tag's and genre's songs)
//   stage2_subjective  comments and reviews, playlists as item lists, logged sft requests with
//                      what their songs share and the songs, item-CF and KG relations
//   stage3_behaviour   per user: profile, then (state, item, feedback) in time order as
//                      next-behaviour prediction; loss on item and feedback tokens only
//   stage3_heldout     the same for each user's last `heldout_tail` events (loss only there),
//                      for U2I perplexity
// Streaming (one user's events in memory at a time) and deterministic.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "corpus/shard.h"
#include "text/item_codec.h"
#include "text/tokenizer.h"

namespace muchator {

class Store;

struct CorpusOptions {
  uint64_t seed = 1;             // template choice
  int heldout_tail = 5;          // events per user kept for U2I perplexity (0 = none)
  int max_events_per_doc = 200;  // longer timelines are split into several documents
  int concept_list_passes = 2;   // stage 1: times each song is listed under each of its tags/genres
  int request_doc_passes = 3;    // stage 2: documents per logged sft request (songs in new orders)
  bool drop_profile = false, drop_state = false, drop_feedback = false;  // Table 6 ablations
  // Table 6's rows without item history: every event its own document (header + that event), so
  // an item is predicted from the profile and its own state alone.
  bool drop_history = false;
  int64_t shard_tokens = 16 << 20;
  // Data-parallel building (docs/distributed.md): rank `rank` of `ranks` builds the pre-behaviour
  // stages i with i % ranks == rank and the behaviour documents of the users with
  // HashString(user) % ranks == rank; `barrier` (required when ranks > 1) waits for every rank;
  // then rank 0 merges the behaviour parts in the users' order: the same files as one process.
  int rank = 0, ranks = 1;
  std::function<void()> barrier;
};

struct CorpusSummary {
  std::vector<StageSummary> stages;
  nlohmann::json ToJson() const;
  std::string Table() const;  // like the paper's Table 1
};

// Written beside the stages: per song, its item-only codec tokens and describing words (none
// with the title codec). Read by pre-training's WarmItemEmbeddings (train/trainer.h).
inline constexpr const char* kItemWordsFile = "item_words.jsonl";

inline const std::vector<std::string> kStages = {"stage0_general", "stage1_objective",
                                                 "stage2_subjective", "stage3_behaviour",
                                                 "stage3_heldout"};

// Every stage into out_dir. With ranks > 1 only rank 0's summary lists the stages (the others
// return an empty one).
CorpusSummary BuildCorpora(Store& store, const Tokenizer& tok, const ItemCodec& codec,
                           const Catalog& catalog, const std::string& out_dir,
                           const CorpusOptions& options);

}  // namespace muchator
