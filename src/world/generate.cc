#include "world/generate.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/entities.h"
#include "world/simulate.h"
#include "world/text.h"

namespace muchator::world {

using nlohmann::json;

int64_t HeldoutCutoffTs(const WorldConfig& c) {
  return kWorldStartTs +
         static_cast<int64_t>(std::llround(c.days * (1.0 - c.heldout_fraction) * 86400.0));
}

namespace {

// Rounds for output so files stay small and identical across libm versions in the last digits.
double R3(double x) { return std::round(x * 1000.0) / 1000.0; }

// The oracle files hold latents rounded to 3 decimals; rounding the model itself keeps the
// in-memory oracle and one loaded from files exactly equal.
void RoundLatents(WorldModel& w) {
  for (auto& s : w.songs) {
    s.energy = R3(s.energy), s.valence = R3(s.valence), s.quality = R3(s.quality);
    s.popularity = std::max(0.001, R3(s.popularity));
  }
  for (auto& u : w.users) {
    for (auto& a : u.genre_affinity) a = R3(a);
    for (auto& t : u.tod_energy) t = R3(t);
    for (auto& t : u.tod_activity) t = R3(t);
    u.energy_base = R3(u.energy_base);
  }
}

std::vector<std::string> Names(const std::vector<Concept>& list, const std::vector<int>& idx) {
  std::vector<std::string> out;
  for (int i : idx) out.push_back(list[i].id);
  return out;
}

// Songs of each situation: every query has a situation facet, so relevance is only checked there.
using SituationIndex = std::vector<std::vector<int>>;
SituationIndex BySituation(const WorldModel& w) {
  SituationIndex by_sit(w.concepts->situations.size());
  for (size_t i = 0; i < w.songs.size(); ++i)
    for (int s : w.songs[i].situations) by_sit[s].push_back(static_cast<int>(i));
  return by_sit;
}

// Events are the bulk of a large world: written by hand instead of through nlohmann::json
// (about 5x faster); the unit tests parse these lines back with the ingestion validator.
void AppendEventLine(std::string& buf, const std::string& user, const std::string& song, int64_t ts,
                     const WorldState& s, Feedback f, double play_s) {
  char num[32];
  buf += "{\"user\":\"";
  buf += user;
  buf += "\",\"song\":\"";
  buf += song;
  buf += "\",\"ts\":";
  buf.append(num, std::to_chars(num, num + sizeof num, ts).ptr);
  buf += ",\"state\":{\"time_of_day\":\"";
  buf += kTimesOfDay[s.time_of_day()];
  buf += s.weekend ? "\",\"day_type\":\"weekend\",\"context\":\""
                   : "\",\"day_type\":\"weekday\",\"context\":\"";
  buf += kContexts[s.context];
  buf += "\",\"device\":\"";
  buf += kDevices[s.device];
  buf += "\",\"hour\":";
  buf.append(num, std::to_chars(num, num + sizeof num, s.hour).ptr);
  buf += "},\"feedback\":\"";
  buf += FeedbackName(f);
  buf += "\",\"play_s\":";
  buf.append(num, std::to_chars(num, num + sizeof num, static_cast<int64_t>(play_s)).ptr);
  buf += "}\n";
}

struct Writers {
  explicit Writers(const std::string& dir) : dir_(dir) {}
  AtomicWriter& operator[](const std::string& name) {
    auto& w = files_[name];
    if (!w) w = std::make_unique<AtomicWriter>(dir_ + "/" + name);
    return *w;
  }
  void CommitAll() {
    for (auto& [name, w] : files_) w->Commit();
  }
  std::string dir_;
  std::map<std::string, std::unique_ptr<AtomicWriter>> files_;
};

void WriteCatalog(const WorldModel& w, Writers& out, GenerateStats& st) {
  const ConceptSet& C = *w.concepts;
  const bool real = C.catalog != "synthetic";
  for (const auto& a : w.artists) {
    Artist e{a.id, a.name, {C.genres[a.genre].meta[0]}, a.country, {}};
    out["artists.jsonl"].WriteLine(ToJson(e).dump());
    ++st.artists;
  }
  Progress p("world songs", w.songs.size(), "songs");
  for (size_t i = 0; i < w.songs.size(); ++i) {
    const SongLatent& s = w.songs[i];
    Rng r = Rng::Derive(w.config.seed, "song_text", i);
    Song e;
    e.id = s.id;
    e.title = s.title;
    e.artists = {w.artists[s.artist].id};
    e.album = s.album;
    if (real) {
      // The real catalog's own fields; it has no language, year or lyrics, and its popularity is
      // simulated, so none of those is written as if it were a fact about the song.
      e.genres = s.catalog_genres;
      e.tags = s.catalog_tags;
      e.duration_s = s.duration_s;
    } else {
      for (int g : s.genres) e.genres.push_back(C.genres[g].meta[0]);
      // Tags: a meta form of a mood and of a situation (catalog editors' tags).
      e.tags = {C.moods[s.moods[0]].meta[0], C.situations[s.situations[0]].meta[0]};
      e.language = C.languages[s.language].code;
      e.year = s.year;
      e.duration_s = s.duration_s;
      e.lyrics = Lyrics(r, C, s);
      e.popularity = R3(s.popularity);
    }
    out["songs.jsonl"].WriteLine(ToJson(e).dump());
    json o = {{"id", s.id},
              {"artist", w.artists[s.artist].id},
              {"original", s.original >= 0 ? json(w.songs[s.original].id) : json(nullptr)},
              {"version", static_cast<int>(s.version)},
              {"genres", Names(C.genres, s.genres)},
              {"moods", Names(C.moods, s.moods)},
              {"situations", Names(C.situations, s.situations)},
              {"energy", R3(s.energy)},
              {"valence", R3(s.valence)},
              {"quality", R3(s.quality)},
              {"popularity", R3(s.popularity)},
              {"language", C.languages[s.language].code},
              {"year", s.year}};
    out["oracle/songs.jsonl"].WriteLine(o.dump());
    ++st.songs;
    p.Add();
  }
  for (const auto& u : w.users) {
    out["users.jsonl"].WriteLine(ToJson(User{u.id, u.profile, {}}).dump());
    json o = {{"id", u.id},
              {"genre_affinity", json::object()},
              {"favourite_artists", json::array()},
              {"languages", json::array()},
              {"energy_base", R3(u.energy_base)},
              {"tod_energy", json::array()},
              {"tod_activity", json::array()},
              {"era", u.era >= 0 ? json(C.eras[u.era].decade) : json(nullptr)}};
    for (size_t g = 0; g < C.genres.size(); ++g)
      o["genre_affinity"][C.genres[g].id] = R3(u.genre_affinity[g]);
    for (int a : u.favourite_artists) o["favourite_artists"].push_back(w.artists[a].id);
    for (int l : u.languages) o["languages"].push_back(C.languages[l].code);
    for (int t = 0; t < 4; ++t) o["tod_energy"].push_back(R3(u.tod_energy[t]));
    for (int t = 0; t < 4; ++t) o["tod_activity"].push_back(R3(u.tod_activity[t]));
    out["oracle/users.jsonl"].WriteLine(o.dump());
    ++st.users;
  }
}

// Simulates every user's sessions and writes events.jsonl. Collects co-listening counts of
// training-period positives from at most kCoListenUsers users (bounded memory at any size).
void WriteEvents(const WorldModel& w, const Feed& feed, Writers& out, GenerateStats& st,
                 std::map<std::pair<int, int>, int>& colisten) {
  constexpr int64_t kCoListenUsers = 20000;
  const int64_t cutoff = HeldoutCutoffTs(w.config);
  const double per_user = static_cast<double>(w.config.events) / w.config.users;
  Progress p("world events", w.config.events, "events");
  std::string buf;
  AtomicWriter& file = out["events.jsonl"];
  for (size_t ui = 0; ui < w.users.size(); ++ui) {
    const UserLatent& u = w.users[ui];
    Rng r = Rng::Derive(w.config.seed, "events", ui);
    // Activity varies between users (log-normal around the mean), at least one session.
    const int64_t target =
        std::max<int64_t>(3, std::llround(per_user * std::exp(r.Normal(-0.125, 0.5))));
    // Session lengths first (4-16 exposures, the last one cut to reach the target), then their
    // days, sorted, so sessions spread over the whole log.
    std::vector<int> lengths;
    for (int64_t n = 0; n < target;) {
      const int len = static_cast<int>(std::min<int64_t>(target - n, 4 + r.Below(13)));
      lengths.push_back(len);
      n += len;
    }
    std::vector<int> days;
    for (size_t k = 0; k < lengths.size(); ++k)
      days.push_back(static_cast<int>(r.Below(w.config.days)));
    std::sort(days.begin(), days.end());
    int64_t written = 0, last_ts = 0;
    std::vector<int> session_pos;
    for (size_t d = 0; d < days.size(); ++d) {
      const WorldState s = SampleState(r, u, days[d]);
      int64_t ts =
          kWorldStartTs + days[d] * 86400LL + s.hour * 3600LL + static_cast<int64_t>(r.Below(3000));
      ts = std::max(ts, last_ts + 1);
      const int len = lengths[d];
      session_pos.clear();
      for (int k = 0; k < len; ++k) {
        const int song = feed.Expose(r, u);
        const SongLatent& so = w.songs[song];
        const auto probs = FeedbackProbs(w, u, s, so);
        const auto f = static_cast<Feedback>(r.Categorical(probs));
        double play = so.duration_s;
        if (f == Feedback::kSkip) play = r.Uniform(3, 40);
        if (f == Feedback::kDislike) play = r.Uniform(1, 15);
        if (f == Feedback::kFinish) play = so.duration_s * r.Uniform(0.9, 1.0);
        AppendEventLine(buf, u.id, so.id, ts, s, f, play);
        if (static_cast<int64_t>(ui) < kCoListenUsers && ts < cutoff &&
            (f == Feedback::kLike || f == Feedback::kFinish)) {
          for (int prev : session_pos)
            if (prev != song) ++colisten[{std::min(prev, song), std::max(prev, song)}];
          session_pos.push_back(song);
        }
        last_ts = ts;
        ts += static_cast<int64_t>(play) + 1;
        ++written;
      }
    }
    st.events += written;
    p.Add(written);
    if (buf.size() > (1 << 20)) {
      file.Write(buf);
      buf.clear();
    }
  }
  file.Write(buf);
  st.event_seconds = p.elapsed_seconds();
}

void WriteSocial(const WorldModel& w, Writers& out, GenerateStats& st) {
  const ConceptSet& C = *w.concepts;
  // Comments: popular songs get more; sentiment follows the song's quality.
  int64_t cid = 0;
  double mean_pop = 0;
  for (auto& s : w.songs) mean_pop += s.popularity;
  mean_pop /= std::max<size_t>(1, w.songs.size());
  for (size_t i = 0; i < w.songs.size(); ++i) {
    const SongLatent& s = w.songs[i];
    Rng r = Rng::Derive(w.config.seed, "comments", i);
    const double mean = std::min(8.0, 1.2 * std::sqrt(s.popularity / mean_pop));
    const int n = static_cast<int>(r.Exponential(1.0 / std::max(0.2, mean)));
    for (int k = 0; k < n; ++k) {
      const bool positive = r.Bernoulli(1.0 / (1.0 + std::exp(-(0.8 + s.quality))));
      const std::string user = w.users[r.Below(w.users.size())].id;
      Comment c{"c" + std::to_string(++cid),
                s.id,
                user,
                "user",
                UserComment(r, C, s, positive),
                kWorldStartTs + static_cast<int64_t>(r.Below(w.config.days * 86400LL)),
                static_cast<int64_t>(r.Below(50))};
      out["comments.jsonl"].WriteLine(ToJson(c).dump());
      ++st.comments;
    }
    if (r.Bernoulli(0.1)) {
      Comment c{"c" + std::to_string(++cid), s.id,         "", "professional",
                ProfessionalReview(r, w, s), kNoTimestamp, 0};
      out["comments.jsonl"].WriteLine(ToJson(c).dump());
      ++st.comments;
    }
  }
  // Playlists: curated per situation, with colloquial titles; songs that really fit.
  const SituationIndex by_sit = BySituation(w);
  const int per_sit = static_cast<int>(std::max<int64_t>(2, w.config.songs / 400));
  int64_t pid = 0;
  for (size_t sit = 0; sit < by_sit.size(); ++sit) {
    if (by_sit[sit].empty()) continue;
    for (int k = 0; k < per_sit; ++k) {
      Rng r = Rng::Derive(w.config.seed, "playlist", sit * 100000 + k);
      const auto& sit_moods = C.situations[sit].moods;
      const int mood_pick = sit_moods.empty() ? -1 : FindConcept(C.moods, r.Pick(sit_moods));
      Playlist p;
      p.id = "p" + std::to_string(++pid);
      std::vector<int> pool = by_sit[sit];
      r.Shuffle(pool);
      pool.resize(std::min<size_t>(pool.size(), 8 + r.Below(20)));
      for (int s : pool) p.songs.push_back(w.songs[s].id);
      const int genre =
          r.Bernoulli(0.3) && !w.songs[pool[0]].genres.empty() ? w.songs[pool[0]].genres[0] : -1;
      p.title = PlaylistTitle(r, C, static_cast<int>(sit), mood_pick, genre);
      p.user = r.Bernoulli(0.5) ? w.users[r.Below(w.users.size())].id : "";
      out["playlists.jsonl"].WriteLine(ToJson(p).dump());
      ++st.playlists;
    }
  }
}

void WriteDocuments(const WorldModel& w, Writers& out, GenerateStats& st,
                    const std::vector<GeneralEntry>& general) {
  std::vector<std::vector<int>> by_artist(w.artists.size());
  for (size_t i = 0; i < w.songs.size(); ++i)
    if (w.songs[i].original < 0) by_artist[w.songs[i].artist].push_back(static_cast<int>(i));
  for (auto& songs : by_artist)
    std::stable_sort(songs.begin(), songs.end(),
                     [&](int a, int b) { return w.songs[a].popularity > w.songs[b].popularity; });
  for (size_t a = 0; a < w.artists.size(); ++a) {
    Rng r = Rng::Derive(w.config.seed, "bio", a);
    Document d{"d_artist_" + w.artists[a].id,
               "artist_bio",
               "",
               w.artists[a].id,
               w.artists[a].name,
               ArtistBio(r, w, static_cast<int>(a), by_artist[a])};
    out["documents.jsonl"].WriteLine(ToJson(d).dump());
    ++st.documents;
  }
  for (size_t i = 0; i < w.songs.size(); ++i) {
    const SongLatent& s = w.songs[i];
    Rng r = Rng::Derive(w.config.seed, "song_docs", i);
    Document ld{"d_lyric_" + s.id, "lyric_description",      s.id, "",
                s.title,           LyricDescription(r, w, s)};
    out["documents.jsonl"].WriteLine(ToJson(ld).dump());
    ++st.documents;
    if (r.Bernoulli(0.3) || s.original >= 0) {
      Document bg{"d_song_" + s.id, "song_background", s.id, "", s.title, SongBackground(r, w, s)};
      out["documents.jsonl"].WriteLine(ToJson(bg).dump());
      ++st.documents;
    }
  }
  for (const auto& g : general) {
    Document d{"d_general_" + g.id, "general", "", "", g.title, g.text};
    out["documents.jsonl"].WriteLine(ToJson(d).dump());
    ++st.documents;
  }
}

void WriteRelations(const WorldModel& w, Writers& out, GenerateStats& st,
                    const std::map<std::pair<int, int>, int>& colisten) {
  auto put = [&](const Relation& r) {
    out["relations.jsonl"].WriteLine(ToJson(r).dump());
    ++st.relations;
  };
  const ConceptSet& C = *w.concepts;
  for (const auto& a : w.artists)
    put({"artist", a.id, "has_genre", "genre", C.genres[a.genre].meta[0], 1.0});
  for (const auto& s : w.songs) {
    put({"song", s.id, "performed_by", "artist", w.artists[s.artist].id, 1.0});
    for (int g : s.genres) put({"song", s.id, "has_genre", "genre", C.genres[g].meta[0], 1.0});
    if (s.original >= 0) put({"song", s.id, "version_of", "song", w.songs[s.original].id, 1.0});
  }
  // Item-CF: pairs of songs enjoyed in the same session by at least two listeners.
  for (const auto& [pair, count] : colisten)
    if (count >= 2)
      put({"song", w.songs[pair.first].id, "co_listen", "song", w.songs[pair.second].id,
           static_cast<double>(count)});
}

json FacetsJson(const ConceptSet& C, const QueryFacets& q) {
  json j = json::object();
  if (q.situation >= 0) j["situation"] = C.situations[q.situation].id;
  if (q.mood >= 0) j["mood"] = C.moods[q.mood].id;
  if (q.genre >= 0) j["genre"] = C.genres[q.genre].id;
  if (q.language >= 0)
    j[q.exclude_language ? "exclude_language" : "language"] = C.languages[q.language].code;
  if (q.era >= 0) j["era"] = C.eras[q.era].decade;
  return j;
}

// Whether at least `n` songs are relevant; stops scanning as soon as it knows.
bool HasRelevant(const WorldModel& w, const SituationIndex& by_sit, const QueryFacets& q, int n) {
  int found = 0;
  for (int i : by_sit[q.situation])
    if (Relevant(w.songs[i], q) && ++found >= n) return true;
  return false;
}

// Draws the facets of one query; every query has at least `min_relevant` relevant songs.
QueryFacets DrawFacets(Rng& r, const WorldModel& w, const SituationIndex& by_sit,
                       const UserLatent& u, const WorldState& s, int min_relevant) {
  const ConceptSet& C = *w.concepts;
  const std::vector<int> fit = SituationsForContext(C, s.context);
  for (int attempt = 0; attempt < 50; ++attempt) {
    QueryFacets q;
    const bool in_context = r.Bernoulli(0.5) && !fit.empty();
    q.situation = in_context ? r.Pick(fit) : static_cast<int>(r.Below(C.situations.size()));
    if (!HasRelevant(w, by_sit, q, min_relevant)) continue;
    auto try_add = [&](auto setter) {
      QueryFacets more = q;
      setter(more);
      if (HasRelevant(w, by_sit, more, min_relevant)) q = more;
    };
    if (r.Bernoulli(0.3)) {
      const auto& moods = C.situations[q.situation].moods;
      if (!moods.empty())
        try_add([&](QueryFacets& m) { m.mood = FindConcept(C.moods, r.Pick(moods)); });
    }
    if (r.Bernoulli(0.2)) {
      int best = 0;
      for (int g = 1; g < static_cast<int>(C.genres.size()); ++g)
        if (u.genre_affinity[g] > u.genre_affinity[best]) best = g;
      try_add([&](QueryFacets& m) { m.genre = best; });
    }
    // Language and era facets only where the catalog records them.
    const double c = r.Uniform();
    const bool languages = C.languages.size() > 1;
    if (c < 0.08 && languages)
      try_add([&](QueryFacets& m) { m.language = 0, m.exclude_language = true; });
    else if (c >= 0.08 && c < 0.13 && languages)
      try_add([&](QueryFacets& m) { m.language = u.languages[0]; });
    else if (c >= 0.13 && c < 0.18 && u.era >= 0)
      try_add([&](QueryFacets& m) { m.era = u.era; });
    return q;
  }
  throw Error("cannot find a situation with enough relevant songs for a query", "",
              "the world is too small: raise --songs");
}

constexpr int64_t kMaxRelevantListed = 1000;

// What a listener played after a training-split request, and how: the platform's search log.
// The search engine returns mostly songs that fit the request, ordered by the listener's taste
// (utility-weighted draws), with some that do not fit; the listener's feedback follows the world's
// feedback model, and a song that does not fit the request is liked or finished far less often.
// Returns (song, feedback) in play order.
std::vector<std::pair<int, Feedback>> SearchLog(Rng& r, const WorldModel& w,
                                                const SituationIndex& by_sit, const UserLatent& u,
                                                const WorldState& s, const QueryFacets& q) {
  constexpr int kPlays = 60;
  constexpr double kOffTarget = 0.15, kOffTargetPositive = 0.25;
  std::vector<int> fit, near;
  for (int i : by_sit[q.situation]) (Relevant(w.songs[i], q) ? fit : near).push_back(i);
  std::vector<double> weight(fit.size());
  for (size_t k = 0; k < fit.size(); ++k)
    weight[k] = std::exp(2.0 * Utility(w, u, s, w.songs[fit[k]]));
  std::vector<std::pair<int, Feedback>> log;
  std::vector<char> used(w.songs.size(), 0);
  for (int play = 0; play < kPlays; ++play) {
    int song = -1;
    if (fit.empty()) break;  // the search has no more fitting results: the listener stops
    if (r.Bernoulli(kOffTarget)) {
      song = !near.empty() && r.Bernoulli(0.5) ? r.Pick(near)
                                               : static_cast<int>(r.Below(w.songs.size()));
    } else {
      const size_t k = r.Categorical(weight);
      song = fit[k];
      weight[k] = 0;  // each fitting result once
      bool left = false;
      for (double x : weight) left = left || x > 0;
      if (!left) fit.clear();
    }
    if (used[song]) continue;
    used[song] = 1;
    auto probs = FeedbackProbs(w, u, s, w.songs[song]);
    if (!Relevant(w.songs[song], q)) {
      const double moved = (probs[0] + probs[1]) * (1 - kOffTargetPositive);
      probs[0] *= kOffTargetPositive, probs[1] *= kOffTargetPositive, probs[2] += moved;
    }
    log.push_back({song, static_cast<Feedback>(r.Categorical(probs))});
  }
  return log;
}

void WriteQueries(const WorldModel& w, Writers& out, GenerateStats& st) {
  // Users are split into disjoint groups: 60% sft, 20% rl, 20% test (the paper's data isolation).
  std::vector<int> order(w.users.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  Rng split_rng = Rng::Derive(w.config.seed, "user_split");
  split_rng.Shuffle(order);
  const size_t n_sft = order.size() * 6 / 10, n_rl = order.size() * 2 / 10;
  const std::vector<int> sft(order.begin(), order.begin() + n_sft),
      rl(order.begin() + n_sft, order.begin() + n_sft + n_rl),
      test(order.begin() + n_sft + n_rl, order.end());
  const int64_t cutoff = HeldoutCutoffTs(w.config);
  const int heldout_days =
      std::max(1, static_cast<int>(std::lround(w.config.days * w.config.heldout_fraction)));
  const SituationIndex by_sit = BySituation(w);
  Progress p("world queries", w.config.queries, "queries");
  for (int64_t i = 0; i < w.config.queries; ++i) {
    Rng r = Rng::Derive(w.config.seed, "query", i);
    const double x = r.Uniform();
    const std::string split = x < 0.6 ? "sft" : x < 0.8 ? "rl" : "test";
    const auto& pool = split == "sft" ? sft : split == "rl" ? rl : test;
    if (pool.empty()) continue;
    const UserLatent& u = w.users[r.Pick(pool)];
    const bool is_test = split == "test";
    const int day = is_test ? w.config.days - heldout_days + static_cast<int>(r.Below(heldout_days))
                            : static_cast<int>(r.Below(w.config.days - heldout_days));
    const WorldState s = SampleState(r, u, day);
    const QueryFacets q = DrawFacets(r, w, by_sit, u, s, 10);
    Query row;
    row.id = "q" + std::to_string(i + 1);
    row.text = QueryText(r, *w.concepts, q, is_test, is_test ? 0.2 : 0.3);
    row.user = u.id;
    row.ts = kWorldStartTs + day * 86400LL + s.hour * 3600LL + static_cast<int64_t>(r.Below(3600));
    if (is_test && row.ts < cutoff) row.ts = cutoff;
    row.state = s.ToState();
    row.split = split;
    row.source = "user";
    if (!is_test) {
      // Training requests come with their search log (a separate stream: the query texts do not
      // depend on it): what was played and how in `extra.played`, the liked or finished songs as
      // the request's `relevant` labels. Test requests never have answers.
      Rng lr = Rng::Derive(w.config.seed, "query_log", static_cast<uint64_t>(i));
      json played = json::array();
      for (const auto& [song, f] : SearchLog(lr, w, by_sit, u, s, q)) {
        played.push_back({w.songs[song].id, FeedbackName(f)});
        if (f == Feedback::kLike || f == Feedback::kFinish)
          row.relevant.push_back(w.songs[song].id);
      }
      row.extra = {{"played", played}};
    }
    out["queries.jsonl"].WriteLine(ToJson(row).dump());
    ++st.queries;
    json o = {{"id", row.id},
              {"split", split},
              {"user", u.id},
              {"state", ToJson(row.state)},
              {"facets", FacetsJson(*w.concepts, q)},
              {"text", row.text}};
    if (is_test) {
      // The full relevant list only while it is short (large worlds have thousands per query);
      // the oracle API answers relevance for any song either way.
      json rel = json::array();
      int64_t count = 0;
      for (int i : by_sit[q.situation])
        if (Relevant(w.songs[i], q) && ++count <= kMaxRelevantListed) rel.push_back(w.songs[i].id);
      o["relevant_count"] = count;
      if (count <= kMaxRelevantListed) o["relevant"] = rel;
      json best = json::array();
      for (int b : BestSongs(w, u, s, q, 10, &by_sit[q.situation]))
        best.push_back({{"song", w.songs[b].id}, {"utility", R3(Utility(w, u, s, w.songs[b]))}});
      o["best10"] = best;
    }
    out["oracle/queries.jsonl"].WriteLine(o.dump());
    p.Add();
  }
}

json ConceptsJson(const ConceptSet& C) {
  json j;
  auto list = [](const std::vector<Concept>& v) {
    json a = json::array();
    for (const auto& c : v) {
      json x = {{"id", c.id},
                {"meta", c.meta},
                {"social", c.social},
                {"query_train", c.query_train},
                {"query_test", c.query_test}};
      if (c.kind == ConceptKind::kGenre) x["energy"] = c.energy;
      if (c.kind == ConceptKind::kMood) x["valence"] = c.valence, x["arousal"] = c.energy;
      if (c.kind == ConceptKind::kSituation)
        x["energy"] = c.energy, x["valence"] = c.valence, x["moods"] = c.moods,
        x["genres"] = c.genres;
      if (!c.tags.empty()) x["catalog_tags"] = c.tags;
      a.push_back(x);
    }
    return a;
  };
  j["catalog"] = C.catalog;
  j["genres"] = list(C.genres);
  j["moods"] = list(C.moods);
  j["situations"] = list(C.situations);
  for (const auto& l : C.languages) j["languages"].push_back({{"code", l.code}, {"name", l.name}});
  j["eras"] = json::array();
  for (const auto& e : C.eras)
    j["eras"].push_back({{"decade", e.decade}, {"meta", e.meta}, {"query", e.query}});
  j["context_situations"] = json::object();
  for (size_t k = 0; k < C.context_situations.size(); ++k)
    j["context_situations"][kContexts[k]] = C.context_situations[k];
  return j;
}

}  // namespace

WorldModel Generate(const WorldConfig& config, const std::string& dir, GenerateStats* stats_out) {
  const auto start = std::chrono::steady_clock::now();
  if (config.songs < 50 || config.users < 10 ||
      (config.catalog == "synthetic" && config.artists < 5))
    throw Error("world too small (songs >= 50, users >= 10, artists >= 5 needed)", "",
                "raise the counts");
  WorldModel w;
  w.config = config;
  BuildCatalogAndUsers(w);  // a real catalog sets config.songs and config.artists to what it holds
  MakeDirs(dir + "/oracle");
  RoundLatents(w);
  Feed feed(w);
  CalibrateFeedback(w, feed);
  for (auto& t : w.thresholds) t = R3(t);
  for (auto& h : w.hour_shift) h = R3(h);
  GenerateStats st;
  Writers out(dir);
  WriteCatalog(w, out, st);
  std::map<std::pair<int, int>, int> colisten;
  WriteEvents(w, feed, out, st, colisten);
  WriteSocial(w, out, st);
  std::vector<GeneralEntry> general;
  std::vector<Mcq> mcqs;
  GeneralKnowledge(config.seed, static_cast<int>(config.general_entities), &general, &mcqs);
  EverydayLanguage(config.seed, *w.concepts, static_cast<int>(config.language_per_form), &general,
                   &mcqs);
  WriteDocuments(w, out, st, general);
  WriteRelations(w, out, st, colisten);
  WriteQueries(w, out, st);
  for (const auto& m : mcqs)
    out["oracle/general_mcq.jsonl"].WriteLine(json({{"id", m.id},
                                                    {"question", m.question},
                                                    {"options", m.options},
                                                    {"answer", m.answer},
                                                    {"source", m.source},
                                                    {"kind", m.kind}})
                                                  .dump());
  out["oracle/concepts.json"].Write(ConceptsJson(*w.concepts).dump(1) + "\n");
  json world = {{"size", config.size},
                {"catalog", w.config.catalog},
                {"seed", config.seed},
                {"songs", w.config.songs},
                {"artists", w.config.artists},
                {"users", config.users},
                {"events", config.events},
                {"queries", config.queries},
                {"days", config.days},
                {"start_ts", kWorldStartTs},
                {"heldout_cutoff_ts", HeldoutCutoffTs(config)},
                {"thresholds", {R3(w.thresholds[0]), R3(w.thresholds[1]), R3(w.thresholds[2])}},
                {"noise_scale", w.noise_scale},
                {"hour_shift", json::array()}};
  for (double h : w.hour_shift) world["hour_shift"].push_back(R3(h));
  out["oracle/world.json"].Write(world.dump(1) + "\n");
  out.CommitAll();
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (stats_out) *stats_out = st;
  return w;
}

}  // namespace muchator::world
