// `muchator world`: generates the synthetic world as ingestion JSONL files plus oracle/ files.
// Same config and seed give byte-identical output. Memory is bounded by the catalog and user
// latents (events, comments and queries are streamed), so the large size fits on a laptop.
#pragma once

#include <string>

#include "world/model.h"

namespace muchator::world {

struct GenerateStats {
  int64_t artists = 0, songs = 0, users = 0, events = 0, comments = 0, playlists = 0, documents = 0,
          relations = 0, queries = 0;
  double seconds = 0, event_seconds = 0;
};

// Writes DIR/{artists,songs,users,events,comments,playlists,documents,relations,queries}.jsonl and
// DIR/oracle/{world.json,songs.jsonl,users.jsonl,queries.jsonl,concepts.json,general_mcq.jsonl}.
// Returns the model (catalog and users) for callers that go on to use the oracle in memory.
WorldModel Generate(const WorldConfig& config, const std::string& dir,
                    GenerateStats* stats = nullptr);

// The log's time span: events happen in [kWorldStartTs, kWorldStartTs + days * 86400).
inline constexpr int64_t kWorldStartTs = 1736121600;  // Monday 2025-01-06 00:00 UTC
int64_t HeldoutCutoffTs(const WorldConfig& c);

}  // namespace muchator::world
