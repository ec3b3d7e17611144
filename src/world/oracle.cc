#include "world/oracle.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "world/text.h"

namespace muchator::world {

using nlohmann::json;

namespace {

int IndexOf(const std::vector<Concept>& list, const json& id, const std::string& where) {
  const int i = FindConcept(list, id.get<std::string>());
  if (i < 0)
    throw Error("unknown concept '" + id.get<std::string>() + "'", where, "regenerate the world");
  return i;
}

int LanguageIndex(const ConceptSet& c, const std::string& code) {
  for (size_t i = 0; i < c.languages.size(); ++i)
    if (c.languages[i].code == code) return static_cast<int>(i);
  return -1;
}

int EraIndex(const ConceptSet& c, const json& decade) {
  if (decade.is_null()) return -1;
  for (size_t i = 0; i < c.eras.size(); ++i)
    if (c.eras[i].decade == decade.get<int>()) return static_cast<int>(i);
  return -1;
}

QueryFacets FacetsFromJson(const ConceptSet& c, const json& f, const std::string& where) {
  QueryFacets q;
  if (f.contains("situation")) q.situation = IndexOf(c.situations, f["situation"], where);
  if (f.contains("mood")) q.mood = IndexOf(c.moods, f["mood"], where);
  if (f.contains("genre")) q.genre = IndexOf(c.genres, f["genre"], where);
  if (f.contains("language")) q.language = LanguageIndex(c, f["language"]);
  if (f.contains("exclude_language"))
    q.language = LanguageIndex(c, f["exclude_language"]), q.exclude_language = true;
  if (f.contains("era")) q.era = EraIndex(c, f["era"]);
  return q;
}

// Reads a JSONL file, calling fn(row, "file:line") for each line.
template <class Fn>
void ForEachJsonLine(const std::string& path, Fn fn) {
  LineReader reader(path);
  std::string line;
  while (reader.Next(line)) {
    const std::string where = path + ":" + std::to_string(reader.line_number());
    try {
      fn(json::parse(line), where);
    } catch (const json::exception& e) {
      throw Error(std::string("malformed oracle row: ") + e.what(), where, "regenerate the world");
    }
  }
}

}  // namespace

Oracle::Oracle(WorldModel model) : w_(std::move(model)) {
  for (size_t i = 0; i < w_.songs.size(); ++i) song_index_[w_.songs[i].id] = static_cast<int>(i);
  for (size_t i = 0; i < w_.users.size(); ++i) user_index_[w_.users[i].id] = static_cast<int>(i);
  // The average listener: neutral taste, any language, middle energy, no favourites.
  const ConceptSet& c = *w_.concepts;
  average_.id = "";
  average_.genre_affinity.assign(c.genres.size(), 0.0);
  average_.energy_base = 0.5;
  average_.tod_energy = {0.1, 0.05, 0.0, -0.25};
  average_.tod_activity = {1, 1, 1, 1};
  average_.era = c.eras.empty() ? -1 : std::min(4, static_cast<int>(c.eras.size()) - 1);
  for (size_t l = 0; l < c.languages.size(); ++l) average_.languages.push_back(static_cast<int>(l));
}

Oracle Oracle::Load(const std::string& dir) {
  WorldModel w;
  const json world = json::parse(ReadFile(dir + "/oracle/world.json"));
  w.config = WorldConfig::ForSize(world["size"].get<std::string>());
  w.config.seed = world["seed"].get<uint64_t>();
  // Worlds written before real catalogs existed have no "catalog": they are synthetic.
  w.config.catalog = world.value("catalog", std::string("synthetic"));
  w.concepts = &ConceptsOfCatalog(w.config.catalog);
  const ConceptSet& c = *w.concepts;
  for (int k = 0; k < 3; ++k) w.thresholds[k] = world["thresholds"][k].get<double>();
  for (int h = 0; h < 24; ++h) w.hour_shift[h] = world["hour_shift"][h].get<double>();
  w.noise_scale = world["noise_scale"].get<double>();
  std::unordered_map<std::string, int> artist_index;
  ForEachJsonLine(dir + "/artists.jsonl", [&](const json& j, const std::string&) {
    ArtistLatent a;
    a.id = j["id"].get<std::string>();
    a.name = j["name"].get<std::string>();
    artist_index[a.id] = static_cast<int>(w.artists.size());
    w.artists.push_back(a);
  });
  std::unordered_map<std::string, int> song_index;
  ForEachJsonLine(dir + "/oracle/songs.jsonl", [&](const json& j, const std::string& where) {
    SongLatent s;
    s.id = j["id"].get<std::string>();
    s.artist = artist_index.at(j["artist"].get<std::string>());
    s.original = j["original"].is_null() ? -1 : song_index.at(j["original"].get<std::string>());
    s.version = static_cast<Version>(j["version"].get<int>());
    for (auto& g : j["genres"]) s.genres.push_back(IndexOf(c.genres, g, where));
    for (auto& m : j["moods"]) s.moods.push_back(IndexOf(c.moods, m, where));
    for (auto& x : j["situations"]) s.situations.push_back(IndexOf(c.situations, x, where));
    s.energy = j["energy"], s.valence = j["valence"], s.quality = j["quality"],
    s.popularity = j["popularity"];
    s.language = LanguageIndex(c, j["language"]);
    s.year = j["year"];
    s.era = EraOfYear(c, s.year);
    song_index[s.id] = static_cast<int>(w.songs.size());
    w.songs.push_back(std::move(s));
  });
  ForEachJsonLine(dir + "/oracle/users.jsonl", [&](const json& j, const std::string&) {
    UserLatent u;
    u.id = j["id"].get<std::string>();
    for (const auto& g : c.genres)
      u.genre_affinity.push_back(j["genre_affinity"][g.id].get<double>());
    for (auto& a : j["favourite_artists"])
      u.favourite_artists.push_back(artist_index.at(a.get<std::string>()));
    std::sort(u.favourite_artists.begin(), u.favourite_artists.end());
    for (auto& l : j["languages"]) u.languages.push_back(LanguageIndex(c, l));
    u.energy_base = j["energy_base"];
    for (int t = 0; t < 4; ++t)
      u.tod_energy[t] = j["tod_energy"][t], u.tod_activity[t] = j["tod_activity"][t];
    u.era = EraIndex(c, j["era"]);
    w.users.push_back(std::move(u));
  });
  Oracle o(std::move(w));
  ForEachJsonLine(dir + "/oracle/queries.jsonl", [&](const json& j, const std::string& where) {
    o.queries_[j["id"].get<std::string>()] = FacetsFromJson(c, j["facets"], where);
  });
  return o;
}

int Oracle::SongIndex(const std::string& id) const {
  auto it = song_index_.find(id);
  return it == song_index_.end() ? -1 : it->second;
}

int Oracle::UserIndex(const std::string& id) const {
  auto it = user_index_.find(id);
  return it == user_index_.end() ? -1 : it->second;
}

const UserLatent& Oracle::UserOrAverage(const std::string& id) const {
  const int i = UserIndex(id);
  return i < 0 ? average_ : w_.users[i];
}

const SongLatent& Oracle::Song(const std::string& id) const {
  const int i = SongIndex(id);
  if (i < 0)
    throw Error("unknown song '" + id + "'", "oracle", "only catalog songs have a ground truth");
  return w_.songs[i];
}

double Oracle::Utility(const std::string& user, const State& state, const std::string& song) const {
  return world::Utility(w_, UserOrAverage(user), WorldState::FromState(state), Song(song));
}

std::array<double, 4> Oracle::FeedbackProbs(const std::string& user, const State& state,
                                            const std::string& song) const {
  return world::FeedbackProbs(w_, UserOrAverage(user), WorldState::FromState(state), Song(song));
}

int Oracle::Graded(const QueryFacets& q, const std::string& song) const {
  return GradedRelevance(Song(song), q);
}

QueryFacets Oracle::FacetsOf(const std::string& query_id) const {
  auto it = queries_.find(query_id);
  if (it == queries_.end())
    throw Error("unknown query '" + query_id + "'", "oracle", "use a query id of this world");
  return it->second;
}

QueryFacets Oracle::ParseQuery(const std::string& text) const {
  const std::string padded = WordPadded(text);
  // The longest matching form wins, so "late night drive" beats "night" (situation) or "drive".
  auto match = [&](const std::vector<Concept>& list) {
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < list.size(); ++i)
      for (const auto* group :
           {&list[i].meta, &list[i].social, &list[i].query_train, &list[i].query_test})
        for (const auto& form : *group) {
          const std::string f = WordPadded(form);
          if (f.size() > best_len && padded.find(f) != std::string::npos)
            best = static_cast<int>(i), best_len = f.size();
        }
    return best;
  };
  const ConceptSet& c = *w_.concepts;
  QueryFacets q;
  q.situation = match(c.situations);
  q.mood = match(c.moods);
  q.genre = match(c.genres);
  for (size_t l = 0; c.languages.size() > 1 && l < c.languages.size(); ++l) {
    std::string name = c.languages[l].name;
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    if (padded.find(" no " + name + " ") != std::string::npos)
      q.language = static_cast<int>(l), q.exclude_language = true;
    else if (padded.find(" only " + name + " ") != std::string::npos)
      q.language = static_cast<int>(l);
  }
  for (size_t e = 0; e < c.eras.size(); ++e)
    for (const auto& form : c.eras[e].query)
      if (padded.find(" from " + WordPadded(form).substr(1)) != std::string::npos)
        q.era = static_cast<int>(e);
  return q;
}

std::vector<std::string> Oracle::Best(const std::string& user, const State& state,
                                      const QueryFacets& q, int k) const {
  std::vector<std::string> out;
  for (int i : BestSongs(w_, UserOrAverage(user), WorldState::FromState(state), q, k))
    out.push_back(w_.songs[i].id);
  return out;
}

}  // namespace muchator::world
