#include "world/simulate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace muchator::world {

Feed::Feed(const WorldModel& w)
    : w_(w),
      by_genre_(w.concepts->genres.size()),
      by_artist_(w.artists.size()),
      by_genre_cum_(w.concepts->genres.size()) {
  double total = 0;
  for (size_t i = 0; i < w.songs.size(); ++i) {
    const SongLatent& s = w.songs[i];
    all_.push_back(static_cast<int>(i));
    total += s.popularity;
    all_cum_.push_back(total);
    for (int g : s.genres) {
      by_genre_[g].push_back(static_cast<int>(i));
      by_genre_cum_[g].push_back((by_genre_cum_[g].empty() ? 0 : by_genre_cum_[g].back()) +
                                 std::sqrt(s.popularity));
    }
    by_artist_[s.artist].push_back(static_cast<int>(i));
  }
}

int Feed::FromCumulative(Rng& r, const std::vector<int>& items,
                         const std::vector<double>& cum) const {
  const double x = r.Uniform() * cum.back();
  const size_t k = std::upper_bound(cum.begin(), cum.end(), x) - cum.begin();
  return items[std::min(k, items.size() - 1)];
}

int Feed::Expose(Rng& r, const UserLatent& u) const {
  const double p = r.Uniform();
  if (p < 0.35) return FromCumulative(r, all_, all_cum_);
  if (p < 0.55 && !u.favourite_artists.empty()) {
    const auto& songs = by_artist_[u.favourite_artists[r.Below(u.favourite_artists.size())]];
    if (!songs.empty()) return songs[r.Below(songs.size())];
  }
  const size_t genres = by_genre_.size();
  thread_local std::vector<double> weights;  // per call otherwise: one allocation per exposure
  weights.resize(genres);
  for (size_t g = 0; g < genres; ++g)
    weights[g] = by_genre_[g].empty() ? 0 : std::exp(3.0 * u.genre_affinity[g]);
  const int g = static_cast<int>(r.Categorical(weights));
  return FromCumulative(r, by_genre_[g], by_genre_cum_[g]);
}

namespace {
enum Ctx { kHome, kCommute, kGym, kWork, kStudy, kOutdoors, kSocial, kCar };
}

WorldState SampleState(Rng& r, const UserLatent& u, int day) {
  WorldState s;
  s.weekend = day % 7 >= 5;
  const int tod = static_cast<int>(r.Categorical(u.tod_activity));
  static const int kHours[4][7] = {{5, 6, 7, 8, 9, 10, 10},
                                   {11, 12, 13, 14, 15, 16, 16},
                                   {17, 18, 19, 20, 21, 21, 19},
                                   {22, 23, 0, 1, 2, 3, 4}};
  s.hour = kHours[tod][r.Below(tod == 3 ? 7 : 6)];
  // Context distribution by (weekend, time of day), over home commute gym work study outdoors
  // social car.
  static const double kCtx[2][4][8] = {{{.3, .4, .15, 0, 0, 0, 0, .15},
                                        {.15, 0, .1, .45, .2, .1, 0, 0},
                                        {.45, .2, .15, 0, 0, 0, .1, .1},
                                        {.75, 0, 0, 0, 0, 0, .15, .1}},
                                       {{.5, 0, .25, 0, 0, .25, 0, 0},
                                        {.3, 0, 0, 0, 0, .35, .2, .15},
                                        {.35, 0, 0, 0, 0, .1, .4, .15},
                                        {.75, 0, 0, 0, 0, 0, .15, .1}}};
  s.context = static_cast<int>(r.Categorical(kCtx[s.weekend][s.time_of_day()]));
  switch (s.context) {
    case kCar:
      s.device = 3;
      break;
    case kHome:
      s.device = static_cast<int>(r.Categorical(std::vector<double>{.4, .2, .4, 0}));
      break;
    case kWork:
    case kStudy:
      s.device = r.Bernoulli(0.6) ? 1 : 0;
      break;
    default:
      s.device = 0;
  }
  return s;
}

std::vector<int> SituationsForContext(const ConceptSet& c, int context) {
  std::vector<int> ids;
  for (const auto& n : c.context_situations.at(static_cast<size_t>(context))) {
    const int i = FindConcept(c.situations, n);
    if (i >= 0) ids.push_back(i);
  }
  return ids;
}

void CalibrateFeedback(WorldModel& w, const Feed& feed) {
  // Pilot exposures: the same process as the log, on its own random stream.
  Rng r = Rng::Derive(w.config.seed, "calibration");
  const int n = 48000;
  std::vector<std::vector<double>> by_hour(24);
  std::vector<double> all;
  for (int i = 0; i < n; ++i) {
    const UserLatent& u = w.users[r.Below(w.users.size())];
    const WorldState s = SampleState(r, u, static_cast<int>(r.Below(w.config.days)));
    const double z = Utility(w, u, s, w.songs[feed.Expose(r, u)]);
    by_hour[s.hour].push_back(z);
    all.push_back(z);
  }
  // P(skip or dislike) = sigmoid((t1 - z - shift) / noise); solve for the shift by bisection.
  auto skip_rate = [&](const std::vector<double>& zs, double t1) {
    double sum = 0;
    for (double z : zs) sum += 1.0 / (1.0 + std::exp(-(t1 - z) / w.noise_scale));
    return sum / zs.size();
  };
  auto solve = [&](const std::vector<double>& zs, double target) {
    double lo = -10, hi = 10;
    for (int it = 0; it < 60; ++it) {
      const double mid = 0.5 * (lo + hi);
      (skip_rate(zs, mid) < target ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
  };
  const double mean_target =
      std::accumulate(kMssdSkipByHour.begin(), kMssdSkipByHour.end(), 0.0) / 24;
  const double t1 = solve(all, mean_target);
  w.thresholds = {t1 - 1.6, t1, t1 + 1.1};
  for (int h = 0; h < 24; ++h)
    w.hour_shift[h] = by_hour[h].size() < 50 ? 0.0 : t1 - solve(by_hour[h], kMssdSkipByHour[h]);
}

}  // namespace muchator::world
