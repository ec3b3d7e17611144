#include "synth/query_pool.h"

#include <algorithm>
#include <unordered_set>

#include "core/rng.h"
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
  if (std::find(texts_here.begin(), texts_here.end(), it->second) == texts_here.end()) texts_here.push_back(it->second);
  return it->second;
}

bool HasWorldQueryForm(const std::string& text) {
  static const std::vector<std::string> forms = [] {
    std::vector<std::string> f;
    for (const auto* list : {&world::Genres(), &world::Moods(), &world::Situations()})
      for (const auto& c : *list) {
        for (const auto& x : c.query_train) f.push_back(world::WordPadded(x));
        for (const auto& x : c.query_test) f.push_back(world::WordPadded(x));
      }
    return f;
  }();
  const std::string t = world::WordPadded(text);
  return std::any_of(forms.begin(), forms.end(), [&](const std::string& f) { return t.find(f) != std::string::npos; });
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

QueryPool BuildQueryPool(Store& store, const Catalog& catalog, const QueryGenerator& generate,
                         const std::function<bool(const std::string&)>& forbidden, const QueryPoolOptions& o) {
  QueryPool pool;
  pool.texts_of_song.resize(catalog.items.size());
  std::unordered_map<std::string, std::vector<std::string>> playlists;
  store.ForEachPlaylist([&](const Playlist& p) {
    for (const auto& id : p.songs) playlists[id].push_back(p.title);
  });
  static const std::vector<std::string> kNone;
  std::vector<std::pair<std::string, std::string>> cand;
  store.ForEachSong([&](const Song& s) {
    const int item = catalog.Find(s.id);
    if (item < 0) return;
    auto it = playlists.find(s.id);
    cand.clear();
    generate(SongFacts{&s, it == playlists.end() ? &kNone : &it->second}, cand);
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
