// The music store: SQLite (WAL) behind a small API. The rest of the pipeline reads the catalog,
// users, timelines, comments, playlists, documents, relations and queries through this class and
// never writes SQL itself.
//
// Internally every song, artist and user has a dense integer index (`idx`, assigned by the
// ingester in arrival order) that events reference; the API speaks the user's string ids.
// Thread safety: one Store per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/entities.h"

namespace muchator {

namespace sql {
class Db;
class Stmt;
}  // namespace sql

// Lower-cases ASCII, turns ASCII punctuation and whitespace runs into single spaces, trims.
// Non-ASCII bytes are kept as they are. "Hello,  World! (Live)" -> "hello world live".
std::string NormalizeName(std::string_view s);

// A key identifying a State exactly (all fields), for the states dictionary.
std::string StateKey(const State& s);

struct StoreCounts {
  int64_t artists = 0, songs = 0, users = 0, events = 0, comments = 0, playlists = 0, documents = 0,
          relations = 0, queries = 0;
};

class Store {
 public:
  enum class Mode { kReadOnly, kReadWrite };
  // Opens (and in kReadWrite mode creates) the store at `path`. Throws Error on failure.
  explicit Store(const std::string& path, Mode mode = Mode::kReadOnly);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // ---- Reading ----
  StoreCounts Counts();
  void ForEachArtist(const std::function<void(const Artist&)>& fn);
  void ForEachSong(const std::function<void(const Song&)>& fn);  // in idx order
  std::optional<Song> GetSong(const std::string& id);
  std::optional<Artist> GetArtist(const std::string& id);
  // Songs whose normalised title equals NormalizeName(title) and, when `artist_name` is not
  // empty, that have an artist whose normalised name equals NormalizeName(artist_name).
  std::vector<Song> FindSongs(const std::string& title, const std::string& artist_name = "");
  void ForEachUser(const std::function<void(const User&)>& fn);
  std::optional<User> GetUser(const std::string& id);
  // The user's events in time order (ties by song idx); records without a timestamp come first.
  std::vector<Event> UserTimeline(const std::string& user_id);
  // All events grouped by user (user idx order), each user's in time order.
  void ForEachEvent(const std::function<void(const Event&)>& fn);
  std::vector<Comment> CommentsForSong(const std::string& song_id);
  void ForEachComment(const std::function<void(const Comment&)>& fn);
  void ForEachPlaylist(const std::function<void(const Playlist&)>& fn);
  void ForEachDocument(const std::function<void(const Document&)>& fn);
  void ForEachRelation(const std::function<void(const Relation&)>& fn);
  // Queries, optionally only one split ("" = all).
  void ForEachQuery(const std::function<void(const Query&)>& fn, const std::string& split = "");

  // ---- Writing (used by the ingester; callers batch inside Begin/Commit) ----
  void Begin();
  void Commit();
  void Rollback();
  // id -> idx of existing rows of a kind ("artists", "songs", "users"), for the ingester.
  std::unordered_map<std::string, int64_t> LoadIndex(const std::string& kind);
  void PutArtist(int64_t idx, const Artist& a);
  void PutSong(int64_t idx, const Song& s, const std::vector<int64_t>& artist_idx);
  void PutUser(int64_t idx, const User& u);
  // Situational states are stored once each (events reference them by index): a few hundred
  // distinct states serve millions of events and keep event rows small.
  std::unordered_map<std::string, int64_t> LoadStates();  // StateKey(state) -> state idx
  void PutState(int64_t state_idx, const State& s);
  void PutEvent(int64_t user_idx, int64_t song_idx, int64_t state_idx, const Event& e);
  void PutComment(int64_t song_idx, const Comment& c);
  void PutPlaylist(const Playlist& p);
  void PutDocument(const Document& d);
  void PutRelation(const Relation& r);
  void PutQuery(const Query& q);
  // One event written by id, in its own transaction (the server's feedback): the song must
  // exist (Error otherwise); an unknown user is added (no profile); the state is added to the
  // states dictionary when new. Same (user, ts, song) as an existing event replaces it.
  void RecordEvent(const Event& e);
  const std::string& path() const { return path_; }

 private:
  sql::Stmt& Prepared(const char* sql);
  std::string path_;
  std::unique_ptr<sql::Db> db_;
  std::unordered_map<const char*, std::unique_ptr<sql::Stmt>> stmts_;
};

}  // namespace muchator
