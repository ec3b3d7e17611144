// The oracle: ground truth of a synthetic world, for evaluation of any recommendation list.
// Built in memory from a WorldModel, or loaded from a world directory (its oracle/ files and
// artists.jsonl). Thread-safe for concurrent reads.
#pragma once

#include <array>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/entities.h"
#include "world/model.h"

namespace muchator::world {

class Oracle {
 public:
  explicit Oracle(WorldModel model);
  // Loads DIR/oracle/{world.json,songs.jsonl,users.jsonl,queries.jsonl} and DIR/artists.jsonl.
  // Throws Error naming the file when something is missing or malformed.
  static Oracle Load(const std::string& world_dir);

  const WorldModel& model() const { return w_; }
  // -1 when the id is unknown.
  int SongIndex(const std::string& id) const;
  int UserIndex(const std::string& id) const;

  // Utility of a song for a user in a state (unknown user: an average listener, utility from the
  // song's energy fit and quality only). Throws Error for an unknown song.
  double Utility(const std::string& user, const State& state, const std::string& song) const;
  // P(like), P(finish), P(skip), P(dislike).
  std::array<double, 4> FeedbackProbs(const std::string& user, const State& state,
                                      const std::string& song) const;
  // Graded relevance 0-3 and binary relevance of a song for a query's facets.
  int Graded(const QueryFacets& q, const std::string& song) const;
  bool Relevant(const QueryFacets& q, const std::string& song) const {
    return Graded(q, song) == 3;
  }
  // The facets of a query of this world (by id), or of any text by matching the world's surface
  // forms of every group (returns facets with count() == 0 when nothing matches).
  QueryFacets FacetsOf(const std::string& query_id) const;
  QueryFacets ParseQuery(const std::string& text) const;
  // The oracle's best `k` songs (ids) for (user, state, query facets).
  std::vector<std::string> Best(const std::string& user, const State& state, const QueryFacets& q,
                                int k = 10) const;

 private:
  const UserLatent& UserOrAverage(const std::string& id) const;
  const SongLatent& Song(const std::string& id) const;
  WorldModel w_;
  UserLatent average_;
  std::unordered_map<std::string, int> song_index_, user_index_;
  std::unordered_map<std::string, QueryFacets> queries_;
};

}  // namespace muchator::world
