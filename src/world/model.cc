#include "world/model.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "world/jamendo.h"
#include "world/text.h"

namespace muchator::world {

const std::array<double, 24> kMssdSkipByHour = {
    0.5183, 0.5207, 0.5489, 0.5390, 0.5189, 0.5027, 0.4668, 0.4996, 0.5013, 0.4794, 0.4939, 0.5162,
    0.5237, 0.5135, 0.5135, 0.5027, 0.5122, 0.5307, 0.5258, 0.5171, 0.5316, 0.5244, 0.5311, 0.5314};

WorldConfig WorldConfig::ForSize(const std::string& size) {
  WorldConfig c;
  c.size = size;
  if (size == "tiny") {
    // defaults above
  } else if (size == "demo") {
    c.songs = 5000, c.artists = 600, c.users = 1000, c.events = 200000, c.queries = 3000,
    c.general_entities = 150, c.language_per_form = 30;
  } else if (size == "large") {
    c.songs = 1000000, c.artists = 80000, c.users = 1000000, c.events = 100000000,
    c.queries = 50000;
    c.general_entities = 1000, c.days = 365, c.language_per_form = 30;
  } else {
    throw Error("unknown world size '" + size + "'", "", "use tiny, demo or large");
  }
  return c;
}

int WorldState::time_of_day() const {
  const std::string t = TimeOfDayForHour(hour);
  return static_cast<int>(std::find(kTimesOfDay.begin(), kTimesOfDay.end(), t) -
                          kTimesOfDay.begin());
}

State WorldState::ToState() const {
  return State{kTimesOfDay[time_of_day()], weekend ? "weekend" : "weekday", kContexts[context],
               kDevices[device], hour};
}

WorldState WorldState::FromState(const State& s) {
  WorldState w;
  if (s.hour >= 0)
    w.hour = s.hour;
  else if (s.time_of_day == "morning")
    w.hour = 8;
  else if (s.time_of_day == "afternoon")
    w.hour = 14;
  else if (s.time_of_day == "evening")
    w.hour = 19;
  else if (s.time_of_day == "night")
    w.hour = 23;
  w.weekend = s.day_type == "weekend";
  auto c = std::find(kContexts.begin(), kContexts.end(), s.context);
  w.context = c == kContexts.end() ? 0 : static_cast<int>(c - kContexts.begin());
  auto d = std::find(kDevices.begin(), kDevices.end(), s.device);
  w.device = d == kDevices.end() ? 0 : static_cast<int>(d - kDevices.begin());
  return w;
}

int QueryFacets::count() const {
  return (situation >= 0) + (mood >= 0) + (genre >= 0) + (language >= 0) + (era >= 0);
}

namespace {

double Clamp01(double x) { return std::min(1.0, std::max(0.0, x)); }
double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Energy shift of a listening context: gyms want energy, studying wants calm.
constexpr double kContextEnergy[] = {-0.05, 0.08, 0.35, -0.08, -0.25, 0.1, 0.2, 0.05};

void BuildArtists(WorldModel& w) {
  const auto& langs = Languages();
  std::vector<double> lang_w;
  for (auto& l : langs) lang_w.push_back(l.weight);
  w.artists.resize(w.config.artists);
  for (int64_t i = 0; i < w.config.artists; ++i) {
    Rng r = Rng::Derive(w.config.seed, "artist", i);
    ArtistLatent& a = w.artists[i];
    a.id = "a" + std::to_string(i + 1);
    a.name = ArtistName(r);
    a.country = Country(r);
    a.genre = static_cast<int>(r.Below(kNumGenres));
    a.language = static_cast<int>(r.Categorical(lang_w));
    if (Genres()[a.genre].id == "kpop") a.language = 3;
    if (Genres()[a.genre].id == "latin") a.language = 2;
    a.start_year = static_cast<int>(1960 + 63 * std::pow(r.Uniform(), 0.6));
    a.popularity = std::pow(1.0 - r.Uniform(), -1.0 / 1.2);  // Pareto tail
  }
}

// Moods nearest to a song's (valence, energy), one or two of them.
std::vector<int> PickMoods(Rng& r, double valence, double energy) {
  std::vector<std::pair<double, int>> d;
  for (int m = 0; m < kNumMoods; ++m) {
    const auto& c = Moods()[m];
    d.push_back({std::hypot(c.valence - valence, c.energy - energy) + r.Uniform(0, 0.12), m});
  }
  std::sort(d.begin(), d.end());
  std::vector<int> out = {d[0].second};
  if (r.Bernoulli(0.6)) out.push_back(d[1].second);
  return out;
}

// Situations follow from a song's energy, valence, moods and genres (with noise), never drawn
// independently: the link between a situation and its songs is learnable from their features.
std::vector<int> PickSituations(Rng& r, const SongLatent& s) {
  const auto& sits = Situations();
  std::vector<std::pair<double, int>> scores;
  for (size_t i = 0; i < sits.size(); ++i) {
    const Concept& c = sits[i];
    double score = -3.0 * std::abs(s.energy - c.energy) - 1.5 * std::abs(s.valence - c.valence);
    for (int m : s.moods)
      if (std::find(c.moods.begin(), c.moods.end(), Moods()[m].id) != c.moods.end()) score += 1.0;
    for (int g : s.genres)
      if (std::find(c.genres.begin(), c.genres.end(), Genres()[g].id) != c.genres.end())
        score += 0.9;
    score += r.Normal(0, 0.35);
    scores.push_back({-score, static_cast<int>(i)});
  }
  std::sort(scores.begin(), scores.end());
  std::vector<int> out = {scores[0].second};
  for (int k = 1; k < 4; ++k)
    if (-scores[k].first > -scores[0].first - 0.6) out.push_back(scores[k].second);
  return out;
}

void BuildSongs(WorldModel& w) {
  const int64_t n = w.config.songs;
  w.songs.clear();
  w.songs.reserve(n);
  std::vector<double> artist_w;
  for (auto& a : w.artists) artist_w.push_back(std::sqrt(a.popularity));
  // Cumulative weights so each song's artist is one binary search, not a linear scan.
  std::vector<double> cum(artist_w.size());
  std::partial_sum(artist_w.begin(), artist_w.end(), cum.begin());
  for (int64_t i = 0; i < n; ++i) {
    Rng r = Rng::Derive(w.config.seed, "song", i);
    SongLatent s;
    s.id = "s" + std::to_string(i + 1);
    // About 8% of songs are a live, remix or acoustic version of an earlier song.
    if (i > 10 && r.Bernoulli(0.08)) {
      const int orig = static_cast<int>(r.Below(i));
      const SongLatent& o = w.songs[w.songs[orig].original >= 0 ? w.songs[orig].original : orig];
      s = o;
      s.id = "s" + std::to_string(i + 1);
      s.original = w.songs[orig].original >= 0 ? w.songs[orig].original : orig;
      s.version = static_cast<Version>(1 + r.Below(3));
      s.title = o.title + kVersionSuffix[static_cast<int>(s.version)];
      if (s.version == Version::kAcoustic) s.energy = Clamp01(o.energy - 0.25);
      if (s.version == Version::kRemix) s.energy = Clamp01(o.energy + 0.2);
      s.year = std::min(2025, o.year + static_cast<int>(r.Below(6)));
      s.quality = o.quality + r.Normal(0, 0.3);
      s.popularity = o.popularity * r.Uniform(0.05, 0.5);
      s.moods = PickMoods(r, s.valence, s.energy);
      s.situations = PickSituations(r, s);
      w.songs.push_back(std::move(s));
      continue;
    }
    const double u = r.Uniform() * cum.back();
    s.artist = static_cast<int>(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin());
    s.artist = std::min<int>(s.artist, static_cast<int>(w.artists.size()) - 1);
    const ArtistLatent& a = w.artists[s.artist];
    s.genres = {r.Bernoulli(0.85) ? a.genre : static_cast<int>(r.Below(kNumGenres))};
    if (r.Bernoulli(0.3)) {
      const int g2 = static_cast<int>(r.Below(kNumGenres));
      if (g2 != s.genres[0]) s.genres.push_back(g2);
    }
    s.energy = Clamp01(Genres()[s.genres[0]].energy + r.Normal(0, 0.13));
    s.valence = Clamp01(r.Bernoulli(0.5) ? r.Uniform(0.0, 1.0)
                                         : 0.5 + 0.5 * (s.energy - 0.5) + r.Normal(0, 0.2));
    s.moods = PickMoods(r, s.valence, s.energy);
    s.situations = PickSituations(r, s);
    s.language = a.language;
    s.year = std::min(2025, a.start_year + static_cast<int>(r.Below(15)));
    s.quality = r.Normal(0, 1);
    s.popularity = a.popularity * std::exp(r.Normal(0, 1.0) + 0.3 * s.quality);
    s.duration_s = std::round(r.Uniform(140, 300));
    s.title = SongTitle(r);
    s.album = AlbumTitle(r);
    w.songs.push_back(std::move(s));
  }
}

}  // namespace

void BuildUsers(WorldModel& w) {
  const ConceptSet& c = *w.concepts;
  const auto& langs = c.languages;
  const uint64_t genres = c.genres.size();
  static const std::vector<std::string> kAges = {"18-24", "25-34", "35-44", "45-54", "55+"};
  static const std::vector<std::string> kGenders = {"female", "male", "nonbinary"};
  static const std::vector<std::string> kJobs = {"student",  "engineer", "teacher", "nurse",
                                                 "designer", "driver",   "chef",    "retired",
                                                 "sales",    "artist"};
  static const std::vector<std::string> kRegions = {"north", "south", "east", "west", "central"};
  w.users.resize(w.config.users);
  for (int64_t i = 0; i < w.config.users; ++i) {
    Rng r = Rng::Derive(w.config.seed, "user", i);
    UserLatent& u = w.users[i];
    u.id = "u" + std::to_string(i + 1);
    const int age = static_cast<int>(r.Categorical(std::vector<double>{0.25, 0.3, 0.2, 0.15, 0.1}));
    u.profile = {
        {"age_bucket", kAges[age]},
        {"gender", kGenders[r.Categorical(std::vector<double>{0.48, 0.48, 0.04})]},
        {"occupation", age == 0 && r.Bernoulli(0.6) ? "student" : kJobs[r.Below(kJobs.size())]},
        {"region", kRegions[r.Below(kRegions.size())]}};
    // Taste: a few loved genres, a few disliked, the rest mildly negative.
    u.genre_affinity.assign(genres, 0.0);
    for (auto& a : u.genre_affinity) a = r.Uniform(-0.5, 0.1);
    const int loved = 2 + static_cast<int>(r.Below(3));
    for (int k = 0; k < loved; ++k) u.genre_affinity[r.Below(genres)] = r.Uniform(0.6, 1.0);
    for (int k = 0; k < 2; ++k) u.genre_affinity[r.Below(genres)] = r.Uniform(-1.0, -0.7);
    // Older listeners lean to older decades (none when the catalog has no years).
    const int era = 6 - age - static_cast<int>(r.Below(3));
    u.era = c.eras.empty() ? -1 : std::clamp(era, 0, static_cast<int>(c.eras.size()) - 1);
    // Languages: the region's language plus maybe one more.
    u.languages = {r.Bernoulli(0.7) ? 0 : static_cast<int>(r.Below(langs.size()))};
    if (r.Bernoulli(0.4)) u.languages.push_back(static_cast<int>(r.Below(langs.size())));
    // Favourite artists among those of loved genres.
    for (int tries = 0; tries < 60 && u.favourite_artists.size() < 5; ++tries) {
      const int a = static_cast<int>(r.Below(w.artists.size()));
      if (u.genre_affinity[w.artists[a].genre] > 0.5) u.favourite_artists.push_back(a);
    }
    std::sort(u.favourite_artists.begin(), u.favourite_artists.end());
    u.favourite_artists.erase(std::unique(u.favourite_artists.begin(), u.favourite_artists.end()),
                              u.favourite_artists.end());
    // Situational habits: calmer at night, livelier in the morning, with personal variation.
    u.energy_base = Clamp01(r.Normal(0.5, 0.15));
    const double base_shift[] = {0.1, 0.05, 0.0, -0.25};
    for (int t = 0; t < 4; ++t) u.tod_energy[t] = base_shift[t] + r.Normal(0, 0.12);
    for (int t = 0; t < 4; ++t) u.tod_activity[t] = 0.2 + r.Uniform();
  }
}

int EraOfYear(const ConceptSet& c, int year) {
  if (year <= 0 || c.eras.empty()) return -1;
  return std::clamp((year - c.eras.front().decade) / 10, 0, static_cast<int>(c.eras.size()) - 1);
}

void BuildCatalogAndUsers(WorldModel& w) {
  if (w.config.catalog == "synthetic") {
    w.concepts = &SyntheticConcepts();
    BuildArtists(w);
    BuildSongs(w);
  } else if (w.config.catalog == "jamendo") {
    BuildJamendoCatalog(w);
  } else {
    ConceptsOfCatalog(w.config.catalog);  // throws naming the catalogs there are
  }
  for (auto& s : w.songs) s.era = EraOfYear(*w.concepts, s.year);
  BuildUsers(w);
}

double TargetEnergy(const UserLatent& u, const WorldState& s) {
  return Clamp01(u.energy_base + u.tod_energy[s.time_of_day()] + kContextEnergy[s.context]);
}

double Utility(const WorldModel& w, const UserLatent& u, const WorldState& s,
               const SongLatent& song) {
  double genre = 0;
  for (int g : song.genres) genre += u.genre_affinity[g];
  if (!song.genres.empty()) genre /= static_cast<double>(song.genres.size());
  const int artist = song.artist;
  const bool fav =
      std::binary_search(u.favourite_artists.begin(), u.favourite_artists.end(), artist);
  const bool lang =
      std::find(u.languages.begin(), u.languages.end(), song.language) != u.languages.end();
  const int era_gap = song.era >= 0 && u.era >= 0 ? std::abs(song.era - u.era) : 0;
  (void)w;
  return 1.8 * genre + (fav ? 1.0 : 0.0) + (lang ? 0.3 : -0.7) - 0.15 * era_gap -
         2.5 * std::abs(song.energy - TargetEnergy(u, s)) + 0.35 * song.quality;
}

std::array<double, 4> FeedbackProbs(const WorldModel& w, const UserLatent& u, const WorldState& s,
                                    const SongLatent& song) {
  // Ordered logit: score z = utility + hour shift + logistic noise; thresholds split it into
  // dislike < skip < finish < like.
  const double z = Utility(w, u, s, song) + w.hour_shift[s.hour];
  const double c0 = Sigmoid((w.thresholds[0] - z) / w.noise_scale);
  const double c1 = Sigmoid((w.thresholds[1] - z) / w.noise_scale);
  const double c2 = Sigmoid((w.thresholds[2] - z) / w.noise_scale);
  return {1.0 - c2, c2 - c1, c1 - c0, c0};
}

int GradedRelevance(const SongLatent& song, const QueryFacets& q) {
  const int total = q.count();
  if (total == 0) return 0;
  auto has = [](const std::vector<int>& v, int x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  int ok = 0;
  if (q.situation >= 0) ok += has(song.situations, q.situation);
  if (q.mood >= 0) ok += has(song.moods, q.mood);
  if (q.genre >= 0) ok += has(song.genres, q.genre);
  if (q.language >= 0)
    ok += q.exclude_language ? song.language != q.language : song.language == q.language;
  if (q.era >= 0) ok += song.era == q.era;
  if (ok == total) return 3;
  return std::min(2, static_cast<int>(std::lround(3.0 * ok / total)));
}

std::vector<int> BestSongs(const WorldModel& w, const UserLatent& u, const WorldState& s,
                           const QueryFacets& q, int k, const std::vector<int>* candidates) {
  std::vector<std::pair<double, int>> scored;
  auto consider = [&](int i) {
    if (Relevant(w.songs[i], q)) scored.push_back({-Utility(w, u, s, w.songs[i]), i});
  };
  if (candidates) {
    for (int i : *candidates) consider(i);
  } else {
    for (size_t i = 0; i < w.songs.size(); ++i) consider(static_cast<int>(i));
  }
  std::sort(scored.begin(), scored.end());
  std::vector<int> out;
  std::vector<int> originals;
  for (auto& [neg, i] : scored) {
    const int orig = w.songs[i].original >= 0 ? w.songs[i].original : i;
    if (std::find(originals.begin(), originals.end(), orig) != originals.end()) continue;
    originals.push_back(orig);
    out.push_back(i);
    if (static_cast<int>(out.size()) == k) break;
  }
  return out;
}

}  // namespace muchator::world
