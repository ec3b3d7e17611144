#include "data/store.h"

#include <cctype>

#include "core/error.h"
#include "data/sqlite.h"
#include "data/validate.h"

namespace muchator {

using nlohmann::json;

namespace {

constexpr int kSchemaVersion = 2;

// Rows other than events are kept as their canonical JSON (the ingestion format itself) plus the
// key columns that queries need; events, the bulk of the data, are plain columns.
const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS artists(idx INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,
  norm_name TEXT NOT NULL, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS songs(idx INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,
  norm_title TEXT NOT NULL, row TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS songs_by_title ON songs(norm_title);
CREATE TABLE IF NOT EXISTS song_artists(song_idx INTEGER NOT NULL, position INTEGER NOT NULL,
  artist_idx INTEGER NOT NULL, PRIMARY KEY(song_idx, position)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS song_artists_by_artist ON song_artists(artist_idx);
CREATE TABLE IF NOT EXISTS users(idx INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS states(state_idx INTEGER PRIMARY KEY, time_of_day TEXT, day_type TEXT,
  context TEXT, device TEXT, hour INTEGER);
CREATE TABLE IF NOT EXISTS events(user_idx INTEGER NOT NULL, ts INTEGER NOT NULL,
  song_idx INTEGER NOT NULL, feedback INTEGER NOT NULL, play_s REAL, count INTEGER NOT NULL,
  state_idx INTEGER NOT NULL, event_id TEXT,
  PRIMARY KEY(user_idx, ts, song_idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS comments(idx INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,
  song_idx INTEGER NOT NULL, row TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS comments_by_song ON comments(song_idx);
CREATE TABLE IF NOT EXISTS playlists(idx INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(idx INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS relations(head_type TEXT NOT NULL, head TEXT NOT NULL,
  relation TEXT NOT NULL, tail_type TEXT NOT NULL, tail TEXT NOT NULL, weight REAL NOT NULL,
  PRIMARY KEY(head_type, head, relation, tail_type, tail)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queries(idx INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,
  split TEXT NOT NULL, row TEXT NOT NULL);
)SQL";

template <class T>
T FromRow(const std::string& text, const std::string& where) {
  T out;
  ParseRow(json::parse(text), &out).ThrowIfError(where, "the store is corrupt: re-run ingest");
  return out;
}

void BindOpt(sql::Stmt& s, int i, const std::string& v) {
  if (v.empty())
    s.BindNull(i);
  else
    s.Bind(i, v);
}

}  // namespace

std::string StateKey(const State& s) {
  return s.time_of_day + '\x1f' + s.day_type + '\x1f' + s.context + '\x1f' + s.device + '\x1f' +
         std::to_string(s.hour);
}

std::string NormalizeName(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (unsigned char c : s) {
    if (c < 0x80 && !std::isalnum(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(static_cast<char>(c < 0x80 ? std::tolower(c) : c));
  }
  return out;
}

Store::Store(const std::string& path, Mode mode) : path_(path) {
  db_ = std::make_unique<sql::Db>(path, mode == Mode::kReadOnly);
  if (mode == Mode::kReadWrite) {
    db_->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    db_->Exec(kSchema);
    db_->Exec("INSERT OR IGNORE INTO meta VALUES('schema_version', '" +
              std::to_string(kSchemaVersion) + "')");
  }
  db_->Exec("PRAGMA cache_size=-131072; PRAGMA temp_store=MEMORY;");
  sql::Stmt v(*db_, "SELECT value FROM meta WHERE key='schema_version'");
  if (!v.Step() || v.Text(0) != std::to_string(kSchemaVersion))
    throw Error("store has an unknown schema version", path, "re-create it with `muchator ingest`");
}

Store::~Store() {
  stmts_.clear();  // finalize before closing the database
}

sql::Stmt& Store::Prepared(const char* sql_text) {
  auto& p = stmts_[sql_text];
  if (!p) p = std::make_unique<sql::Stmt>(*db_, sql_text);
  p->Reset();
  return *p;
}

void Store::Begin() { db_->Exec("BEGIN IMMEDIATE"); }
void Store::Commit() { db_->Exec("COMMIT"); }
void Store::Rollback() { db_->Exec("ROLLBACK"); }

StoreCounts Store::Counts() {
  StoreCounts c;
  auto count = [&](const char* table) {
    sql::Stmt s(*db_, (std::string("SELECT COUNT(*) FROM ") + table).c_str());
    s.Step();
    return s.Int(0);
  };
  c.artists = count("artists");
  c.songs = count("songs");
  c.users = count("users");
  c.events = count("events");
  c.comments = count("comments");
  c.playlists = count("playlists");
  c.documents = count("documents");
  c.relations = count("relations");
  c.queries = count("queries");
  return c;
}

std::unordered_map<std::string, int64_t> Store::LoadIndex(const std::string& kind) {
  if (kind != "artists" && kind != "songs" && kind != "users")
    throw std::logic_error("LoadIndex: " + kind);
  std::unordered_map<std::string, int64_t> m;
  sql::Stmt s(*db_, ("SELECT id, idx FROM " + kind).c_str());
  while (s.Step()) m.emplace(s.Text(0), s.Int(1));
  return m;
}

// ---- Writing ----

void Store::PutArtist(int64_t idx, const Artist& a) {
  Prepared(
      "INSERT INTO artists(idx, id, norm_name, row) VALUES(?,?,?,?) ON CONFLICT(idx) DO UPDATE "
      "SET norm_name=excluded.norm_name, row=excluded.row")
      .Bind(1, idx)
      .Bind(2, a.id)
      .Bind(3, NormalizeName(a.name))
      .Bind(4, ToJson(a).dump())
      .Run();
}

void Store::PutSong(int64_t idx, const Song& s, const std::vector<int64_t>& artist_idx) {
  Prepared(
      "INSERT INTO songs(idx, id, norm_title, row) VALUES(?,?,?,?) ON CONFLICT(idx) DO UPDATE "
      "SET norm_title=excluded.norm_title, row=excluded.row")
      .Bind(1, idx)
      .Bind(2, s.id)
      .Bind(3, NormalizeName(s.title))
      .Bind(4, ToJson(s).dump())
      .Run();
  Prepared("DELETE FROM song_artists WHERE song_idx=?").Bind(1, idx).Run();
  for (size_t i = 0; i < artist_idx.size(); ++i)
    Prepared("INSERT INTO song_artists VALUES(?,?,?)")
        .Bind(1, idx)
        .Bind(2, static_cast<int64_t>(i))
        .Bind(3, artist_idx[i])
        .Run();
}

void Store::PutUser(int64_t idx, const User& u) {
  Prepared(
      "INSERT INTO users(idx, id, row) VALUES(?,?,?) ON CONFLICT(idx) DO UPDATE SET "
      "row=excluded.row")
      .Bind(1, idx)
      .Bind(2, u.id)
      .Bind(3, ToJson(u).dump())
      .Run();
}

void Store::PutState(int64_t state_idx, const State& st) {
  auto& s = Prepared("INSERT OR REPLACE INTO states VALUES(?,?,?,?,?,?)");
  s.Bind(1, state_idx);
  BindOpt(s, 2, st.time_of_day);
  BindOpt(s, 3, st.day_type);
  BindOpt(s, 4, st.context);
  BindOpt(s, 5, st.device);
  if (st.hour >= 0) s.Bind(6, st.hour);
  s.Run();
}

std::unordered_map<std::string, int64_t> Store::LoadStates() {
  std::unordered_map<std::string, int64_t> m;
  sql::Stmt s(*db_, "SELECT state_idx, time_of_day, day_type, context, device, hour FROM states");
  while (s.Step()) {
    State st{s.Text(1), s.Text(2), s.Text(3), s.Text(4),
             s.IsNull(5) ? -1 : static_cast<int>(s.Int(5))};
    m.emplace(StateKey(st), s.Int(0));
  }
  return m;
}

void Store::PutEvent(int64_t user_idx, int64_t song_idx, int64_t state_idx, const Event& e) {
  auto& s = Prepared(
      "INSERT OR REPLACE INTO events(user_idx, ts, song_idx, feedback, play_s, count, state_idx, "
      "event_id) "
      "VALUES(?,?,?,?,?,?,?,?)");
  s.Bind(1, user_idx).Bind(2, e.ts).Bind(3, song_idx).Bind(4, static_cast<int64_t>(e.feedback));
  if (e.play_s >= 0) s.Bind(5, e.play_s);
  s.Bind(6, e.count).Bind(7, state_idx);
  BindOpt(s, 8, e.id);
  s.Run();
}

void Store::RecordEvent(const Event& e) {
  auto next_index = [&](const char* sql_text) {
    auto& next = Prepared(sql_text);
    next.Step();
    const int64_t v = next.Int(0);
    next.Reset();
    return v;
  };
  Begin();
  try {
    auto& song = Prepared("SELECT idx FROM songs WHERE id = ?");
    song.Bind(1, e.song);
    if (!song.Step())
      throw Error("song '" + e.song + "' is not in the catalog", path_,
                  "give a song id of the catalog");
    const int64_t song_idx = song.Int(0);
    song.Reset();
    auto& user = Prepared("SELECT idx FROM users WHERE id = ?");
    user.Bind(1, e.user);
    int64_t user_idx = -1;
    if (user.Step()) user_idx = user.Int(0);
    user.Reset();
    if (user_idx < 0) {
      user_idx = next_index("SELECT COALESCE(MAX(idx) + 1, 0) FROM users");
      User u;
      u.id = e.user;
      PutUser(user_idx, u);
    }
    const auto states = LoadStates();
    int64_t state_idx = -1;
    if (auto it = states.find(StateKey(e.state)); it != states.end()) {
      state_idx = it->second;
    } else {
      state_idx = next_index("SELECT COALESCE(MAX(state_idx) + 1, 0) FROM states");
      PutState(state_idx, e.state);
    }
    PutEvent(user_idx, song_idx, state_idx, e);
    Commit();
  } catch (...) {
    Rollback();
    throw;
  }
}

void Store::PutComment(int64_t song_idx, const Comment& c) {
  Prepared(
      "INSERT INTO comments(id, song_idx, row) VALUES(?,?,?) ON CONFLICT(id) DO UPDATE "
      "SET song_idx=excluded.song_idx, row=excluded.row")
      .Bind(1, c.id)
      .Bind(2, song_idx)
      .Bind(3, ToJson(c).dump())
      .Run();
}

void Store::PutPlaylist(const Playlist& p) {
  Prepared(
      "INSERT INTO playlists(id, row) VALUES(?,?) ON CONFLICT(id) DO UPDATE SET row=excluded.row")
      .Bind(1, p.id)
      .Bind(2, ToJson(p).dump())
      .Run();
}

void Store::PutDocument(const Document& d) {
  Prepared(
      "INSERT INTO documents(id, row) VALUES(?,?) ON CONFLICT(id) DO UPDATE SET row=excluded.row")
      .Bind(1, d.id)
      .Bind(2, ToJson(d).dump())
      .Run();
}

void Store::PutRelation(const Relation& r) {
  Prepared("INSERT OR REPLACE INTO relations VALUES(?,?,?,?,?,?)")
      .Bind(1, r.head_type)
      .Bind(2, r.head)
      .Bind(3, r.relation)
      .Bind(4, r.tail_type)
      .Bind(5, r.tail)
      .Bind(6, r.weight)
      .Run();
}

void Store::PutQuery(const Query& q) {
  Prepared(
      "INSERT INTO queries(id, split, row) VALUES(?,?,?) ON CONFLICT(id) DO UPDATE "
      "SET split=excluded.split, row=excluded.row")
      .Bind(1, q.id)
      .Bind(2, q.split)
      .Bind(3, ToJson(q).dump())
      .Run();
}

// ---- Reading ----

void Store::ForEachArtist(const std::function<void(const Artist&)>& fn) {
  sql::Stmt s(*db_, "SELECT row FROM artists ORDER BY idx");
  while (s.Step()) fn(FromRow<Artist>(s.Text(0), path_));
}

void Store::ForEachSong(const std::function<void(const Song&)>& fn) {
  sql::Stmt s(*db_, "SELECT row FROM songs ORDER BY idx");
  while (s.Step()) fn(FromRow<Song>(s.Text(0), path_));
}

std::optional<Song> Store::GetSong(const std::string& id) {
  auto& s = Prepared("SELECT row FROM songs WHERE id=?").Bind(1, id);
  if (!s.Step()) return std::nullopt;
  return FromRow<Song>(s.Text(0), path_);
}

std::optional<Artist> Store::GetArtist(const std::string& id) {
  auto& s = Prepared("SELECT row FROM artists WHERE id=?").Bind(1, id);
  if (!s.Step()) return std::nullopt;
  return FromRow<Artist>(s.Text(0), path_);
}

std::vector<Song> Store::FindSongs(const std::string& title, const std::string& artist_name) {
  std::vector<Song> out;
  if (artist_name.empty()) {
    auto& s = Prepared("SELECT row FROM songs WHERE norm_title=? ORDER BY idx")
                  .Bind(1, NormalizeName(title));
    while (s.Step()) out.push_back(FromRow<Song>(s.Text(0), path_));
  } else {
    auto& s = Prepared(
        "SELECT DISTINCT s.row, s.idx FROM songs s JOIN song_artists sa ON sa.song_idx = s.idx "
        "JOIN artists a ON a.idx = sa.artist_idx WHERE s.norm_title=? AND a.norm_name=? ORDER BY "
        "s.idx");
    s.Bind(1, NormalizeName(title)).Bind(2, NormalizeName(artist_name));
    while (s.Step()) out.push_back(FromRow<Song>(s.Text(0), path_));
  }
  return out;
}

void Store::ForEachUser(const std::function<void(const User&)>& fn) {
  sql::Stmt s(*db_, "SELECT row FROM users ORDER BY idx");
  while (s.Step()) fn(FromRow<User>(s.Text(0), path_));
}

std::optional<User> Store::GetUser(const std::string& id) {
  auto& s = Prepared("SELECT row FROM users WHERE id=?").Bind(1, id);
  if (!s.Step()) return std::nullopt;
  return FromRow<User>(s.Text(0), path_);
}

namespace {
constexpr const char* kEventColumns =
    "u.id, e.ts, s.id, e.feedback, e.play_s, e.count, st.time_of_day, st.day_type, st.context, "
    "st.device, st.hour, e.event_id";

Event EventFromRow(const sql::Stmt& s) {
  Event e;
  e.user = s.Text(0);
  e.ts = s.Int(1);
  e.song = s.Text(2);
  e.feedback = static_cast<Feedback>(s.Int(3));
  e.play_s = s.IsNull(4) ? -1 : s.Real(4);
  e.count = s.Int(5);
  e.state.time_of_day = s.Text(6);
  e.state.day_type = s.Text(7);
  e.state.context = s.Text(8);
  e.state.device = s.Text(9);
  e.state.hour = s.IsNull(10) ? -1 : static_cast<int>(s.Int(10));
  e.id = s.Text(11);
  return e;
}
}  // namespace

std::vector<Event> Store::UserTimeline(const std::string& user_id) {
  static const std::string q = std::string("SELECT ") + kEventColumns +
                               " FROM users u JOIN events e ON e.user_idx = u.idx JOIN songs s ON "
                               "s.idx = e.song_idx JOIN states st ON st.state_idx = e.state_idx "
                               "WHERE u.id=? ORDER BY e.ts, e.song_idx";
  auto& s = Prepared(q.c_str()).Bind(1, user_id);
  std::vector<Event> out;
  while (s.Step()) out.push_back(EventFromRow(s));
  return out;
}

void Store::ForEachEvent(const std::function<void(const Event&)>& fn) {
  const std::string q = std::string("SELECT ") + kEventColumns +
                        " FROM events e JOIN users u ON u.idx = e.user_idx JOIN songs s ON "
                        "s.idx = e.song_idx JOIN states st ON st.state_idx = e.state_idx ORDER BY "
                        "e.user_idx, e.ts, e.song_idx";
  sql::Stmt s(*db_, q.c_str());
  while (s.Step()) fn(EventFromRow(s));
}

std::vector<Comment> Store::CommentsForSong(const std::string& song_id) {
  auto& s = Prepared(
      "SELECT c.row FROM comments c JOIN songs s ON s.idx = c.song_idx WHERE s.id=? ORDER BY "
      "c.idx");
  s.Bind(1, song_id);
  std::vector<Comment> out;
  while (s.Step()) out.push_back(FromRow<Comment>(s.Text(0), path_));
  return out;
}

void Store::ForEachComment(const std::function<void(const Comment&)>& fn) {
  sql::Stmt s(*db_, "SELECT row FROM comments ORDER BY idx");
  while (s.Step()) fn(FromRow<Comment>(s.Text(0), path_));
}

void Store::ForEachPlaylist(const std::function<void(const Playlist&)>& fn) {
  sql::Stmt s(*db_, "SELECT row FROM playlists ORDER BY idx");
  while (s.Step()) fn(FromRow<Playlist>(s.Text(0), path_));
}

void Store::ForEachDocument(const std::function<void(const Document&)>& fn) {
  sql::Stmt s(*db_, "SELECT row FROM documents ORDER BY idx");
  while (s.Step()) fn(FromRow<Document>(s.Text(0), path_));
}

void Store::ForEachRelation(const std::function<void(const Relation&)>& fn) {
  sql::Stmt s(*db_, "SELECT head_type, head, relation, tail_type, tail, weight FROM relations");
  while (s.Step()) {
    Relation r{s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Real(5)};
    fn(r);
  }
}

void Store::ForEachQuery(const std::function<void(const Query&)>& fn, const std::string& split) {
  sql::Stmt s(*db_, split.empty() ? "SELECT row FROM queries ORDER BY idx"
                                  : "SELECT row FROM queries WHERE split=? ORDER BY idx");
  if (!split.empty()) s.Bind(1, split);
  while (s.Step()) fn(FromRow<Query>(s.Text(0), path_));
}

}  // namespace muchator
