#include "synth/query_pool.h"

#include <algorithm>
#include <cctype>
#include <string_view>
#include <unordered_set>

#include "core/rng.h"
#include "core/strings.h"
#include "data/store.h"
#include "world/concepts.h"
#include "world/text.h"

namespace muchator {

int QueryPool::Add(const std::string& text, const std::string& source, int song) {
  auto [it, added] = index.try_emplace(text, static_cast<int>(texts.size()));
  if (added) {
    texts.push_back(text);
    sources.push_back(source);
    songs_of_text.emplace_back();
  }
  auto& songs = songs_of_text[static_cast<size_t>(it->second)];
  if (std::find(songs.begin(), songs.end(), song) == songs.end()) songs.push_back(song);
  auto& texts_here = texts_of_song[static_cast<size_t>(song)];
  if (std::find(texts_here.begin(), texts_here.end(), it->second) == texts_here.end())
    texts_here.push_back(it->second);
  return it->second;
}

std::function<bool(const std::string&)> WorldQueryFormFilter(const world::ConceptSet& concepts) {
  return world::QueryFormMatcher(concepts, /*train_forms=*/true);
}

bool HasWorldQueryForm(const std::string& text) {
  static const auto filter = WorldQueryFormFilter(world::SyntheticConcepts());
  return filter(text);
}

QueryGenerator TemplateQueryGenerator() {
  return [](const SongFacts& f, std::vector<std::pair<std::string, std::string>>& out) {
    const Song& s = *f.song;
    for (const auto& t : s.tags) {
      out.push_back({"music for " + t, "template:tag"});
      out.push_back({t + " songs", "template:tag"});
      out.push_back({"play something " + t, "template:tag"});
      for (const auto& g : s.genres) out.push_back({t + " " + g + " songs", "template:tag+genre"});
    }
    for (const auto& g : s.genres) {
      out.push_back({"play some " + g, "template:genre"});
      out.push_back({g + " songs", "template:genre"});
    }
    for (const auto& p : *f.playlists) out.push_back({p, "playlist"});
  };
}

namespace {

// Lower-cased `text` cut at the first sentence or clause end.
std::string Clause(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '.' || c == ',' || c == '!' || c == ';' || c == '?' || c == '"' || c == '\n') break;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The phrases after each occurrence of `cue` (case-insensitive), up to the clause end.
void After(const std::string& lower, std::string_view cue, std::vector<std::string>& out) {
  for (size_t at = lower.find(cue); at != std::string::npos; at = lower.find(cue, at + 1)) {
    std::string p = Clause(std::string_view(lower).substr(at + cue.size()));
    if (!p.empty() && p.size() <= 40) out.push_back(std::move(p));
  }
}

// "a b and c" -> {"a b", "c"}.
std::vector<std::string> SplitAnd(const std::string& phrase) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t at = phrase.find(" and "); at != std::string::npos;
       at = phrase.find(" and ", start)) {
    parts.push_back(phrase.substr(start, at - start));
    start = at + 5;
  }
  parts.push_back(phrase.substr(start));
  return parts;
}

}  // namespace

QueryGenerator TextQueryGenerator() {
  return [](const SongFacts& f, std::vector<std::pair<std::string, std::string>>& out) {
    static const std::vector<std::string_view> kNegative = {"not ",    "skip",   "too much",
                                                            "did not", "didn't", "meh"};
    static const std::vector<std::string_view> kSituationCues = {
        "perfect for ", "ideal for ", "great for ", "a favourite for ", "associated with "};
    auto mine = [&](const std::string& text, const char* source, bool is_comment) {
      const std::string lower = AsciiLower(text);
      if (is_comment && std::any_of(kNegative.begin(), kNegative.end(), [&](std::string_view n) {
            return lower.find(n) != std::string::npos;
          }))
        return;
      std::vector<std::string> situations, moods;
      for (auto cue : kSituationCues) After(lower, cue, situations);
      After(lower, "lyrics are about ", situations);
      // "added it to my cozy winter list"
      for (size_t at = lower.find("added it to my "); at != std::string::npos;
           at = lower.find("added it to my ", at + 1)) {
        const std::string p = Clause(std::string_view(lower).substr(at + 15));
        if (p.size() > 5 && p.size() <= 45 && p.compare(p.size() - 5, 5, " list") == 0)
          situations.push_back(p.substr(0, p.size() - 5));
      }
      // "dreamy vibes"
      for (size_t at = lower.find(" vibes"); at != std::string::npos;
           at = lower.find(" vibes", at + 1)) {
        if (at == 0) continue;
        const size_t begin = lower.find_last_of(" ,.!", at - 1);
        const std::string w = lower.substr(begin == std::string::npos ? 0 : begin + 1,
                                           at - (begin == std::string::npos ? 0 : begin + 1));
        if (!w.empty() && w.size() <= 20) moods.push_back(w);
      }
      for (const auto& s : situations)
        for (auto part : SplitAnd(s)) {
          if (!part.empty()) out.push_back({"music for " + part, source});
        }
      for (const auto& m : moods) out.push_back({m + " songs", source});
    };
    for (const auto& c : *f.comments) mine(c, "comment", true);
    for (const auto& d : *f.documents) mine(d, "description", false);
  };
}

QueryGenerator DefaultQueryGenerator() {
  return [templates = TemplateQueryGenerator(), text = TextQueryGenerator()](
             const SongFacts& f, std::vector<std::pair<std::string, std::string>>& out) {
    templates(f, out);
    text(f, out);
  };
}

QueryPool BuildQueryPool(Store& store, const Catalog& catalog, const QueryGenerator& generate,
                         const std::function<bool(const std::string&)>& forbidden,
                         const QueryPoolOptions& o) {
  QueryPool pool;
  pool.texts_of_song.resize(catalog.items.size());
  std::unordered_map<std::string, std::vector<std::string>> playlists;
  store.ForEachPlaylist([&](const Playlist& p) {
    for (const auto& id : p.songs) playlists[id].push_back(p.title);
  });
  // What people wrote about each song (comments, and documents tied to a song).
  std::unordered_map<std::string, std::vector<std::string>> comments, documents;
  store.ForEachComment([&](const Comment& c) { comments[c.song].push_back(c.text); });
  store.ForEachDocument([&](const Document& d) {
    if (!d.song.empty()) documents[d.song].push_back(d.text);
  });
  static const std::vector<std::string> kNone;
  std::vector<std::pair<std::string, std::string>> cand;
  store.ForEachSong([&](const Song& s) {
    const int item = catalog.Find(s.id);
    if (item < 0) return;
    auto of = [&](const std::unordered_map<std::string, std::vector<std::string>>& m) {
      auto it = m.find(s.id);
      return it == m.end() ? &kNone : &it->second;
    };
    cand.clear();
    generate(SongFacts{&s, of(playlists), of(comments), of(documents)}, cand);
    // Distinct candidates, then a seeded choice of per_song of them.
    std::unordered_set<std::string> seen;
    std::vector<std::pair<std::string, std::string>> unique;
    for (auto& c : cand) {
      if (c.first.empty() || !seen.insert(c.first).second) continue;
      if (forbidden && forbidden(c.first)) {
        ++pool.dropped_forbidden;
        continue;
      }
      unique.push_back(std::move(c));
    }
    Rng rng = Rng::Derive(o.seed, "query-pool", static_cast<uint64_t>(item));
    rng.Shuffle(unique);
    for (size_t k = 0; k < unique.size() && static_cast<int>(k) < o.per_song; ++k)
      pool.Add(unique[k].first, unique[k].second, item);
  });
  if (o.real_queries)
    store.ForEachQuery([&](const Query& q) {
      if (q.split == "test" || q.split == "rl" || q.relevant.empty()) return;
      for (const auto& id : q.relevant) {
        const int item = catalog.Find(id);
        if (item >= 0) pool.Add(q.text, "real", item);
      }
    });
  for (auto& v : pool.songs_of_text) std::sort(v.begin(), v.end());
  return pool;
}

}  // namespace muchator
