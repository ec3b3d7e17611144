#include "reward/ranker_data.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/log.h"
#include "data/store.h"

namespace muchator {

int Dict::Add(const std::string& s) {
  auto [it, added] = index_.try_emplace(s, static_cast<int>(values_.size()) + 1);
  if (added) values_.push_back(s);
  return it->second;
}

int Dict::Find(const std::string& s) const {
  auto it = index_.find(s);
  return it == index_.end() ? 0 : it->second;
}

Dict Dict::FromJson(const nlohmann::json& j) {
  Dict d;
  for (const auto& v : j) d.Add(v.get<std::string>());
  return d;
}

nlohmann::json RankerVocab::ToJson() const {
  return {{"songs", songs.ToJson()},         {"artists", artists.ToJson()},
          {"genres", genres.ToJson()},       {"tags", tags.ToJson()},
          {"languages", languages.ToJson()}, {"users", users.ToJson()},
          {"profile", profile.ToJson()},     {"times", times.ToJson()},
          {"days", days.ToJson()},           {"contexts", contexts.ToJson()},
          {"devices", devices.ToJson()},     {"pop_edges", pop_edges}};
}

RankerVocab RankerVocab::FromJson(const nlohmann::json& j) {
  RankerVocab v;
  v.songs = Dict::FromJson(j.at("songs"));
  v.artists = Dict::FromJson(j.at("artists"));
  v.genres = Dict::FromJson(j.at("genres"));
  v.tags = Dict::FromJson(j.at("tags"));
  v.languages = Dict::FromJson(j.at("languages"));
  v.users = Dict::FromJson(j.at("users"));
  v.profile = Dict::FromJson(j.at("profile"));
  v.times = Dict::FromJson(j.at("times"));
  v.days = Dict::FromJson(j.at("days"));
  v.contexts = Dict::FromJson(j.at("contexts"));
  v.devices = Dict::FromJson(j.at("devices"));
  v.pop_edges = j.at("pop_edges").get<std::vector<double>>();
  return v;
}

StateIds EncodeState(const RankerVocab& v, const State& s) {
  StateIds o;
  o.time = static_cast<int16_t>(v.times.Find(s.time_of_day));
  o.day = static_cast<int16_t>(v.days.Find(s.day_type));
  o.context = static_cast<int16_t>(v.contexts.Find(s.context));
  o.device = static_cast<int16_t>(v.devices.Find(s.device));
  o.hour = static_cast<int16_t>(s.hour >= 0 && s.hour < 24 ? s.hour + 1 : 0);
  return o;
}

State DecodeState(const RankerVocab& v, const StateIds& s) {
  State o;
  if (s.time) o.time_of_day = v.times.Value(s.time);
  if (s.day) o.day_type = v.days.Value(s.day);
  if (s.context) o.context = v.contexts.Value(s.context);
  if (s.device) o.device = v.devices.Value(s.device);
  o.hour = s.hour - 1;
  return o;
}

namespace {

int Decade(int year) { return year <= 0 ? 0 : 1 + std::clamp((year - 1940) / 10, 0, 9); }

int PopBucket(const std::vector<double>& edges, double popularity) {
  if (popularity <= 0) return 0;
  return 1 + static_cast<int>(std::upper_bound(edges.begin(), edges.end(), std::log1p(popularity)) -
                              edges.begin());
}

}  // namespace

SongTable BuildSongTable(RankerVocab& v, const std::vector<Song>& songs) {
  std::vector<double> pops;
  for (const auto& s : songs)
    if (s.popularity > 0) pops.push_back(std::log1p(s.popularity));
  std::sort(pops.begin(), pops.end());
  v.pop_edges.clear();
  if (!pops.empty())
    for (int k = 1; k < kPopBuckets; ++k)
      v.pop_edges.push_back(pops[pops.size() * k / kPopBuckets]);
  const int64_t n = static_cast<int64_t>(songs.size()) + 1;
  SongTable t;
  t.id = torch::zeros({n}, torch::kInt64);
  t.artist = torch::zeros({n}, torch::kInt64);
  t.language = torch::zeros({n}, torch::kInt64);
  t.decade = torch::zeros({n}, torch::kInt64);
  t.pop = torch::zeros({n}, torch::kInt64);
  t.genres = torch::zeros({n, kRankerGenres}, torch::kInt64);
  t.tags = torch::zeros({n, kRankerTags}, torch::kInt64);
  auto id = t.id.accessor<int64_t, 1>(), artist = t.artist.accessor<int64_t, 1>();
  auto lang = t.language.accessor<int64_t, 1>(), dec = t.decade.accessor<int64_t, 1>();
  auto pop = t.pop.accessor<int64_t, 1>();
  auto genres = t.genres.accessor<int64_t, 2>(), tags = t.tags.accessor<int64_t, 2>();
  for (const auto& s : songs) {
    const int row = v.songs.Add(s.id);
    id[row] = row;
    artist[row] = s.artists.empty() ? 0 : v.artists.Add(s.artists[0]);
    lang[row] = s.language.empty() ? 0 : v.languages.Add(s.language);
    dec[row] = Decade(s.year);
    pop[row] = PopBucket(v.pop_edges, s.popularity);
    for (size_t k = 0; k < s.genres.size() && k < kRankerGenres; ++k)
      genres[row][k] = v.genres.Add(s.genres[k]);
    for (size_t k = 0; k < s.tags.size() && k < kRankerTags; ++k)
      tags[row][k] = v.tags.Add(s.tags[k]);
  }
  return t;
}

RankerData LoadRankerData(Store& store, double holdout_fraction) {
  if (!(holdout_fraction > 0 && holdout_fraction < 1))
    throw Error("holdout fraction must be in (0, 1)", "--holdout",
                "e.g. 0.1 for the last 10% of the log");
  RankerData d;
  std::vector<Song> songs;
  store.ForEachSong([&](const Song& s) { songs.push_back(s); });
  d.songs = BuildSongTable(d.vocab, songs);
  std::unordered_map<std::string, size_t> user_row;
  store.ForEachUser([&](const User& u) {
    UserSequence seq;
    seq.user_id = u.id;
    seq.user = d.vocab.users.Add(u.id);
    int k = 0;
    for (const auto& [key, value] : u.profile)
      if (k < kRankerProfile) seq.profile[k++] = d.vocab.profile.Add(key + "=" + value);
    user_row[u.id] = d.users.size();
    d.users.push_back(std::move(seq));
  });
  std::vector<int64_t> all_ts;
  store.ForEachEvent([&](const Event& e) {  // ordered by user, then time
    if (e.ts == kNoTimestamp) {
      ++d.unordered_skipped;
      return;
    }
    auto& seq = d.users[user_row.at(e.user)];
    seq.song.push_back(d.vocab.songs.Find(e.song));
    seq.feedback.push_back(static_cast<uint8_t>(static_cast<int>(e.feedback) + 1));
    // The state dictionaries grow here; EncodeState only looks values up.
    if (!e.state.time_of_day.empty()) d.vocab.times.Add(e.state.time_of_day);
    if (!e.state.day_type.empty()) d.vocab.days.Add(e.state.day_type);
    if (!e.state.context.empty()) d.vocab.contexts.Add(e.state.context);
    if (!e.state.device.empty()) d.vocab.devices.Add(e.state.device);
    seq.state.push_back(EncodeState(d.vocab, e.state));
    seq.ts.push_back(e.ts);
    all_ts.push_back(e.ts);
    ++d.events;
  });
  if (d.unordered_skipped > 0)
    spdlog::warn(
        "{} events have no timestamp and are not used by the ranking model (it learns from ordered "
        "sequences; see docs/reward.md)",
        d.unordered_skipped);
  if (all_ts.empty())
    throw Error("the store has no timestamped events", store.path(),
                "the ranking model needs events with \"ts\" (docs/data-format.md)");
  const size_t k =
      std::min(all_ts.size() - 1, static_cast<size_t>(all_ts.size() * (1.0 - holdout_fraction)));
  std::nth_element(all_ts.begin(), all_ts.begin() + static_cast<long>(k), all_ts.end());
  d.cutoff_ts = all_ts[k];
  return d;
}

}  // namespace muchator
