// The query-item pool of UQ2I synthesis (the paper's section 3.3.1, step 1): queries written for
// each song from what the data says about it, plus the real queries of the data with their known
// relevant songs. A query text maps to every song it was written for.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/entities.h"
#include "text/item_codec.h"
#include "world/concepts.h"

namespace muchator {

class Store;

struct QueryPool {
  std::vector<std::string> texts;  // distinct query texts
  std::vector<std::string>
      sources;  // per text: "template:tag", "template:genre", "playlist", "real"
  std::vector<std::vector<int>> songs_of_text;  // catalog indexes, sorted
  std::vector<std::vector<int>> texts_of_song;  // per catalog index
  int64_t dropped_forbidden = 0;  // generated texts refused by the forbidden-form guard
  int Add(const std::string& text, const std::string& source, int song);
  std::unordered_map<std::string, int> index;
};

struct QueryPoolOptions {
  int per_song =
      6;  // at most this many generated queries per song (seeded choice among its candidates)
  uint64_t seed = 1;
  bool real_queries = true;  // add the data's queries that list relevant songs (not test/rl splits)
};

// A pluggable generator: appends candidate query texts (with a source label) for one song.
struct SongFacts {
  const Song* song;
  const std::vector<std::string>* playlists;  // titles of playlists holding the song
  const std::vector<std::string>* comments;  // texts of comments on the song (listeners', critics')
  const std::vector<std::string>*
      documents;  // texts of documents about the song (descriptions, background)
};
using QueryGenerator =
    std::function<void(const SongFacts&, std::vector<std::pair<std::string, std::string>>& out)>;

// The required template generator: tags and genres in a few phrasings ("music for the seaside",
// "dreamy songs", "play some folk", "dreamy folk songs"), and titles of playlists holding the song
// (listeners' own words for a situation).
QueryGenerator TemplateQueryGenerator();

// Situations and moods mined from what people wrote about the song: comments ("perfect for a
// road trip", "added it to my rainy day list", "dreamy vibes") and descriptions ("its lyrics are
// about the seaside and jogging", "often associated with a breakup", "a favourite for the night").
// English cue phrases; negative comments ("not X at all", "too much for X", "did not work") are
// skipped. Queries: "music for X" (situations), "X songs" (moods), sources "comment",
// "description".
QueryGenerator TextQueryGenerator();
// Every built-in generator: templates, then text-mined queries.
QueryGenerator DefaultQueryGenerator();

// A world's guard: true for a text containing any of the concept set's query-only surface forms
// (query_train and query_test groups), which must stay unseen outside queries.
std::function<bool(const std::string&)> WorldQueryFormFilter(const world::ConceptSet& concepts);
// The guard of the synthetic world's concept set.
bool HasWorldQueryForm(const std::string& text);

// `forbidden(text)` true = the text must not enter the pool (the world's query-only forms).
QueryPool BuildQueryPool(Store& store, const Catalog& catalog, const QueryGenerator& generate,
                         const std::function<bool(const std::string&)>& forbidden,
                         const QueryPoolOptions& o);

}  // namespace muchator
