// Behaviour simulation: situational states, the exposure feed and feedback, shared by the event
// generator and the calibration pilot.
#pragma once

#include <vector>

#include "core/rng.h"
#include "world/model.h"

namespace muchator::world {

// Lookup tables for sampling songs, built once per world.
class Feed {
 public:
  explicit Feed(const WorldModel& w);
  // One exposed song for the user: by popularity, from a favourite artist, or from a genre they
  // like.
  int Expose(Rng& r, const UserLatent& u) const;

 private:
  int FromCumulative(Rng& r, const std::vector<int>& items, const std::vector<double>& cum) const;
  const WorldModel& w_;
  std::vector<int> all_;
  std::vector<double> all_cum_;
  std::vector<std::vector<int>> by_genre_, by_artist_;
  std::vector<std::vector<double>> by_genre_cum_;
};

// A session's state for the user on `day` (0-based day of the log; day 0 is a Monday).
WorldState SampleState(Rng& r, const UserLatent& u, int day);
// Situations of the world's concept set that fit a listening context (for queries asked in it).
std::vector<int> SituationsForContext(const ConceptSet& concepts, int context);
// Calibrates w.thresholds and w.hour_shift with a pilot of simulated exposures so that the skip
// rate (skip or dislike) by hour of day follows kMssdSkipByHour.
void CalibrateFeedback(WorldModel& w, const Feed& feed);

}  // namespace muchator::world
