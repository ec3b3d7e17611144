// The latent model of the synthetic world: what every artist, song and user really is, and the
// ground-truth functions (relevance, utility, feedback probabilities) that the oracle exposes.
// Everything here is deterministic given the seed. docs/world.md defines each quantity.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/entities.h"
#include "world/concepts.h"

namespace muchator::world {

inline constexpr int kNumGenres = 20;
inline constexpr int kNumMoods = 16;

// Listening contexts and devices of the situational state.
inline const std::vector<std::string> kContexts = {"home",  "commute",  "gym",    "work",
                                                   "study", "outdoors", "social", "car"};
inline const std::vector<std::string> kDevices = {"phone", "desktop", "smart_speaker",
                                                  "car_stereo"};

struct WorldConfig {
  std::string size = "tiny";  // tiny | demo | large (sets the defaults below)
  uint64_t seed = 1;
  int64_t songs = 500, artists = 80, users = 100, events = 20000, queries = 300;
  int64_t general_entities = 40;   // fictional encyclopedia entries
  int64_t language_per_form = 12;  // everyday-language sentences per concept surface form (stage 0)
  int days = 120;                  // length of the behaviour log
  double heldout_fraction = 0.1;   // last share of the log's time span, for held-out evaluation
  // Where the songs come from: "synthetic" (generated) or "jamendo" (the real MTG-Jamendo catalog
  // read from catalog_input; `songs` is then the most tracks to take, `artists` follows from them).
  std::string catalog = "synthetic", catalog_input;
  // Applies the named size's defaults; throws Error on an unknown name.
  static WorldConfig ForSize(const std::string& size);
};

struct ArtistLatent {
  std::string id, name, country;
  int genre;     // main genre
  int language;  // index into Languages()
  int start_year;
  double popularity;  // relative, heavy-tailed
};

enum class Version : uint8_t { kOriginal, kLive, kRemix, kAcoustic };
inline const char* kVersionSuffix[] = {"", " (Live)", " (Remix)", " (Acoustic Version)"};

struct SongLatent {
  std::string id, title, album;
  int artist;
  int original = -1;  // index of the original song for a live/remix/acoustic version
  Version version = Version::kOriginal;
  std::vector<int> genres, moods, situations;  // indices into Genres(), Moods(), Situations()
  double energy, valence, quality;             // energy, valence in [0,1]; quality ~ N(0,1)
  double popularity;                           // relative, heavy-tailed
  int language, year;
  int era = -1;  // index into the concept set's eras; -1 = unknown year or no eras
  double duration_s;
  // Real-catalog worlds: the song's own genre names and tags as the catalog has them.
  std::vector<std::string> catalog_genres, catalog_tags;
};

struct UserLatent {
  std::string id;
  std::vector<double> genre_affinity;  // per genre of the concept set, in [-1, 1]
  std::vector<int> favourite_artists;
  std::vector<int> languages;          // languages the user enjoys
  double energy_base;                  // preferred energy in a neutral state
  std::array<double, 4> tod_energy;    // energy shift by time of day (morning..night)
  int era = -1;                        // favourite decade (index into the set's eras); -1 = none
  std::array<double, 4> tod_activity;  // how often they listen at each time of day
  std::map<std::string, std::string> profile;
};

// A situational state in model terms (indices), convertible to the ingestion State.
struct WorldState {
  int hour = 20;  // 0-23
  bool weekend = false;
  int context = 0;          // index into kContexts
  int device = 0;           // index into kDevices
  int time_of_day() const;  // index into kTimesOfDay
  State ToState() const;
  static WorldState FromState(const State& s);  // unknown fields -> neutral defaults
};

// What a query asks for. -1 = not constrained.
struct QueryFacets {
  int situation = -1, mood = -1, genre = -1;
  int language = -1;  // with exclude_language: "no X songs"; otherwise "only X songs"
  bool exclude_language = false;
  int era = -1;  // decade index
  int count() const;
};

// The world's latent state, in memory.
struct WorldModel {
  WorldConfig config;
  const ConceptSet* concepts = &SyntheticConcepts();  // static lifetime
  std::vector<ArtistLatent> artists;
  std::vector<SongLatent> songs;
  std::vector<UserLatent> users;
  // Feedback thresholds on the latent score (dislike < t0 <= skip < t1 <= finish < t2 <= like),
  // and per-hour shifts calibrated so skip rates by hour follow the MSSD aggregates.
  std::array<double, 3> thresholds = {-1.5, 0.0, 1.2};
  std::array<double, 24> hour_shift{};
  double noise_scale = 0.55;
};

// Builds artists, songs and users (no behaviour yet) for the config: generated songs, or the real
// catalog named by config.catalog (world/jamendo.h) with simulated users.
void BuildCatalogAndUsers(WorldModel& w);
// Simulated listeners over w's artists and songs (both kinds of catalog).
void BuildUsers(WorldModel& w);
// Era index of a year in the concept set, -1 when the year is unknown (0) or there are no eras.
int EraOfYear(const ConceptSet& c, int year);

// Ground truth.
double Utility(const WorldModel& w, const UserLatent& u, const WorldState& s,
               const SongLatent& song);
// P(like), P(finish), P(skip), P(dislike), in Feedback order; sums to 1.
std::array<double, 4> FeedbackProbs(const WorldModel& w, const UserLatent& u, const WorldState& s,
                                    const SongLatent& song);
// Facets satisfied by the song, out of facets.count(); graded = round(3 * satisfied / count).
int GradedRelevance(const SongLatent& song, const QueryFacets& q);
inline bool Relevant(const SongLatent& song, const QueryFacets& q) {
  return GradedRelevance(song, q) == 3;
}
// The oracle's best list: the `k` relevant songs of highest utility, one version per original song.
// `candidates` (optional) limits the search to those song indexes.
std::vector<int> BestSongs(const WorldModel& w, const UserLatent& u, const WorldState& s,
                           const QueryFacets& q, int k = 10,
                           const std::vector<int>* candidates = nullptr);

// Skip rate (skip or dislike) by hour of day in the MSSD mini sample
// (../shared/data/mssd-mini-skip-aggregates/hour_of_day_skipped.csv), the target of calibration.
extern const std::array<double, 24> kMssdSkipByHour;

}  // namespace muchator::world
