#include "data/ingest.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <variant>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "data/store.h"
#include "data/validate.h"

namespace muchator {

using nlohmann::json;

int64_t IngestSummary::read() const {
  int64_t n = 0;
  for (auto& f : files) n += f.read;
  return n;
}
int64_t IngestSummary::accepted() const {
  int64_t n = 0;
  for (auto& f : files) n += f.accepted;
  return n;
}
int64_t IngestSummary::quarantined() const {
  int64_t n = 0;
  for (auto& f : files) n += f.quarantined;
  return n;
}

json IngestSummary::ToJson() const {
  json j = {{"seconds", seconds},
            {"read", read()},
            {"accepted", accepted()},
            {"quarantined", quarantined()},
            {"quarantine_file", quarantine_path}};
  for (auto& f : files)
    j["files"].push_back({{"kind", f.kind},
                          {"path", f.path},
                          {"read", f.read},
                          {"accepted", f.accepted},
                          {"quarantined", f.quarantined},
                          {"seconds", f.seconds}});
  return j;
}

std::string IngestSummary::Table() const {
  char buf[160];
  std::string s;
  std::snprintf(buf, sizeof buf, "%-16s %12s %12s %12s\n", "file", "read", "accepted",
                "quarantined");
  s += buf;
  for (auto& f : files) {
    std::snprintf(buf, sizeof buf, "%-16s %12lld %12lld %12lld\n", (f.kind + ".jsonl").c_str(),
                  static_cast<long long>(f.read), static_cast<long long>(f.accepted),
                  static_cast<long long>(f.quarantined));
    s += buf;
  }
  std::snprintf(buf, sizeof buf, "%-16s %12lld %12lld %12lld\n", "total",
                static_cast<long long>(read()), static_cast<long long>(accepted()),
                static_cast<long long>(quarantined()));
  return s + buf;
}

namespace {

// A validated row with its references resolved to store indexes, ready to write.
struct Pending {
  std::variant<Artist, Song, User, Event, Comment, Playlist, Document, Relation, Query> row;
  int64_t idx = -1, ref = -1;    // own idx (artist/song/user); event user / comment song
  int64_t ref2 = -1;             // event song
  int64_t state = -1;            // event state idx
  bool new_state = false;        // the writer must store the state first
  std::vector<int64_t> artists;  // song's artist idx
};

using Batch = std::vector<Pending>;

// Bounded single-producer single-consumer queue of batches: the parser thread validates while
// the writer thread inserts, and memory stays bounded whatever the file size.
class BatchQueue {
 public:
  void Push(Batch b) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return q_.size() < kCapacity || aborted_; });
    q_.push_back(std::move(b));
    not_empty_.notify_one();
  }
  // Returns false when the producer is done and the queue is empty.
  bool Pop(Batch& b) {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return !q_.empty() || done_; });
    if (q_.empty()) return false;
    b = std::move(q_.front());
    q_.pop_front();
    not_full_.notify_one();
    return true;
  }
  void Close() {
    std::lock_guard lock(mu_);
    done_ = true;
    not_empty_.notify_all();
  }
  void Abort() {
    std::lock_guard lock(mu_);
    aborted_ = true;
    not_full_.notify_all();
  }

 private:
  static constexpr size_t kCapacity = 8;
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Batch> q_;
  bool done_ = false, aborted_ = false;
};

// Id -> idx of every artist, song and user known so far (store + this run). Owned by the parser
// thread; the writer only sees the resolved indexes.
struct Index {
  std::unordered_map<std::string, int64_t> ids;
  int64_t next = 0;
  int64_t Assign(const std::string& id) {
    auto [it, fresh] = ids.emplace(id, next);
    if (fresh) ++next;
    return it->second;
  }
  int64_t Find(const std::string& id) const {
    auto it = ids.find(id);
    return it == ids.end() ? -1 : it->second;
  }
};

struct Context {
  Index artists, songs, users, states;
};

Status Need(const Index& index, const std::string& id, const char* field, const char* kind,
            int64_t* out = nullptr) {
  const int64_t idx = index.Find(id);
  if (idx < 0)
    return Status::Invalid("field '" + std::string(field) + "': unknown " + kind + " '" + id +
                           "' (add it to " + kind + "s.jsonl first)");
  if (out) *out = idx;
  return Status::Ok();
}

Status NeedEnd(const Context& c, const std::string& type, const std::string& id,
               const char* field) {
  if (type == "song") return Need(c.songs, id, field, "song");
  if (type == "artist") return Need(c.artists, id, field, "artist");
  if (type == "user") return Need(c.users, id, field, "user");
  return Status::Ok();
}

// Resolves references of a parsed row; assigns idx to new artists/songs/users.
Status Resolve(Context& c, Pending& p) {
  return std::visit(
      [&](auto& r) -> Status {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, Artist>) {
          p.idx = c.artists.Assign(r.id);
        } else if constexpr (std::is_same_v<T, Song>) {
          for (auto& a : r.artists) {
            int64_t idx;
            Status s = Need(c.artists, a, "artists", "artist", &idx);
            if (!s.ok()) return s;
            p.artists.push_back(idx);
          }
          p.idx = c.songs.Assign(r.id);
        } else if constexpr (std::is_same_v<T, User>) {
          p.idx = c.users.Assign(r.id);
        } else if constexpr (std::is_same_v<T, Event>) {
          Status s = Need(c.users, r.user, "user", "user", &p.ref);
          if (s.ok()) s = Need(c.songs, r.song, "song", "song", &p.ref2);
          if (s.ok()) {
            const int64_t before = c.states.next;
            p.state = c.states.Assign(StateKey(r.state));
            p.new_state = c.states.next != before;
          }
          return s;
        } else if constexpr (std::is_same_v<T, Comment>) {
          Status s = Need(c.songs, r.song, "song", "song", &p.ref);
          if (s.ok() && !r.user.empty()) s = Need(c.users, r.user, "user", "user");
          return s;
        } else if constexpr (std::is_same_v<T, Playlist>) {
          for (auto& id : r.songs) {
            Status s = Need(c.songs, id, "songs", "song");
            if (!s.ok()) return s;
          }
          if (!r.user.empty()) return Need(c.users, r.user, "user", "user");
        } else if constexpr (std::is_same_v<T, Document>) {
          if (!r.song.empty()) {
            Status s = Need(c.songs, r.song, "song", "song");
            if (!s.ok()) return s;
          }
          if (!r.artist.empty()) return Need(c.artists, r.artist, "artist", "artist");
        } else if constexpr (std::is_same_v<T, Relation>) {
          Status s = NeedEnd(c, r.head_type, r.head, "head");
          if (s.ok()) s = NeedEnd(c, r.tail_type, r.tail, "tail");
          return s;
        } else if constexpr (std::is_same_v<T, Query>) {
          if (!r.user.empty()) {
            Status s = Need(c.users, r.user, "user", "user");
            if (!s.ok()) return s;
          }
          for (auto& id : r.relevant) {
            Status s = Need(c.songs, id, "relevant", "song");
            if (!s.ok()) return s;
          }
        }
        return Status::Ok();
      },
      p.row);
}

void Write(Store& store, const Pending& p) {
  std::visit(
      [&](auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, Artist>)
          store.PutArtist(p.idx, r);
        else if constexpr (std::is_same_v<T, Song>)
          store.PutSong(p.idx, r, p.artists);
        else if constexpr (std::is_same_v<T, User>)
          store.PutUser(p.idx, r);
        else if constexpr (std::is_same_v<T, Event>) {
          if (p.new_state) store.PutState(p.state, r.state);
          store.PutEvent(p.ref, p.ref2, p.state, r);
        } else if constexpr (std::is_same_v<T, Comment>)
          store.PutComment(p.ref, r);
        else if constexpr (std::is_same_v<T, Playlist>)
          store.PutPlaylist(r);
        else if constexpr (std::is_same_v<T, Document>)
          store.PutDocument(r);
        else if constexpr (std::is_same_v<T, Relation>)
          store.PutRelation(r);
        else if constexpr (std::is_same_v<T, Query>)
          store.PutQuery(r);
      },
      p.row);
}

// Parses one line into `p` as the given kind; returns what was wrong.
Status ParseLine(const std::string& kind, const std::string& line, Pending& p) {
  size_t bad = 0;
  if (!IsValidUtf8(line, &bad))
    return Status::Invalid("invalid UTF-8 at byte " + std::to_string(bad + 1));
  json j;
  try {
    j = json::parse(line);
  } catch (const json::parse_error& e) {
    return Status::Invalid(std::string("invalid JSON at byte ") + std::to_string(e.byte) + ": " +
                           (line.empty() ? "empty line" : "syntax error"));
  }
  auto parse = [&](auto entity) {
    Status s = ParseRow(j, &entity);
    p.row = std::move(entity);
    return s;
  };
  if (kind == "artists") return parse(Artist{});
  if (kind == "songs") return parse(Song{});
  if (kind == "users") return parse(User{});
  if (kind == "events") return parse(Event{});
  if (kind == "comments") return parse(Comment{});
  if (kind == "playlists") return parse(Playlist{});
  if (kind == "documents") return parse(Document{});
  if (kind == "relations") return parse(Relation{});
  return parse(Query{});
}

// The row's own id, for duplicate detection within one run ("" for events and relations, which
// are keyed by content).
std::string RowId(const Pending& p) {
  return std::visit(
      [](auto& r) -> std::string {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, Event> || std::is_same_v<T, Relation>)
          return "";
        else
          return r.id;
      },
      p.row);
}

constexpr size_t kBatchRows = 2048;

std::string HexPrefix(const std::string& s, size_t max_bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < std::min(s.size(), max_bytes); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// Reads, validates and resolves one file on this thread, feeding batches to `queue`.
void ParseFile(const std::string& kind, const std::string& path, Context& ctx,
               AtomicWriter& quarantine, FileSummary& summary, BatchQueue& queue) {
  LineReader reader(path);
  const uint64_t size = std::filesystem::file_size(path);
  Progress progress("ingest " + kind, size, "B");
  std::unordered_map<std::string, int64_t> first_line;  // id -> line, duplicates within this run
  std::string line;
  Batch batch;
  batch.reserve(kBatchRows);
  while (reader.Next(line)) {
    ++summary.read;
    Pending p;
    Status s;
    if (reader.last_line_too_long()) s = Status::Invalid("line longer than 16 MiB");
    if (s.ok()) s = ParseLine(kind, line, p);
    if (s.ok()) {
      const std::string id = RowId(p);
      if (!id.empty()) {
        auto [it, fresh] = first_line.emplace(id, reader.line_number());
        if (!fresh)
          s = Status::Invalid("duplicate id '" + id + "' (first at line " +
                              std::to_string(it->second) + ")");
      }
    }
    if (s.ok()) s = Resolve(ctx, p);
    if (!s.ok()) {
      ++summary.quarantined;
      json q = {{"file", path}, {"line", reader.line_number()}, {"reason", s.message()}};
      if (IsValidUtf8(line))
        q["row"] = line.size() > 4096 ? line.substr(0, 4096) + "..." : line;
      else
        q["row_hex_prefix"] = HexPrefix(line, 256);
      quarantine.WriteLine(q.dump(-1, ' ', false, json::error_handler_t::replace));
      continue;
    }
    ++summary.accepted;
    batch.push_back(std::move(p));
    if (batch.size() == kBatchRows) {
      queue.Push(std::move(batch));
      batch = Batch();
      batch.reserve(kBatchRows);
      progress.Set(reader.bytes_read());
    }
  }
  if (!batch.empty()) queue.Push(std::move(batch));
  progress.Set(reader.bytes_read());
}

}  // namespace

IngestSummary Ingest(const IngestOptions& options) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(options.input_dir))
    throw Error("input is not a directory", options.input_dir,
                "give the folder that holds songs.jsonl etc.");
  std::vector<std::string> kinds;
  for (auto& k : kIngestKinds)
    if (fs::exists(fs::path(options.input_dir) / (k + ".jsonl"))) kinds.push_back(k);
  if (kinds.empty())
    throw Error(
        "no ingestion file found", options.input_dir,
        "expected files such as songs.jsonl, users.jsonl, events.jsonl (see docs/data-format.md)");
  for (auto& e : fs::directory_iterator(options.input_dir)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() == ".jsonl" &&
        std::find(kIngestKinds.begin(), kIngestKinds.end(), e.path().stem().string()) ==
            kIngestKinds.end())
      spdlog::warn(
          "{}: not an ingestion file name, ignored (known: artists, songs, users, playlists, "
          "comments, documents, relations, events, queries)",
          e.path().string());
  }
  const fs::path store_dir = fs::path(options.store_path).parent_path();
  if (!store_dir.empty()) MakeDirs(store_dir.string());

  IngestSummary summary;
  summary.quarantine_path = options.quarantine_path.empty()
                                ? options.store_path + ".quarantine.jsonl"
                                : options.quarantine_path;
  const auto start = std::chrono::steady_clock::now();

  Store store(options.store_path, Store::Mode::kReadWrite);
  Context ctx;
  for (auto [index, kind] :
       {std::pair{&ctx.artists, "artists"}, {&ctx.songs, "songs"}, {&ctx.users, "users"}}) {
    index->ids = store.LoadIndex(kind);
    for (auto& [id, idx] : index->ids) index->next = std::max(index->next, idx + 1);
  }
  ctx.states.ids = store.LoadStates();
  for (auto& [key, idx] : ctx.states.ids) ctx.states.next = std::max(ctx.states.next, idx + 1);
  AtomicWriter quarantine(summary.quarantine_path);

  store.Begin();
  try {
    for (const auto& kind : kinds) {
      FileSummary fsum{kind, (fs::path(options.input_dir) / (kind + ".jsonl")).string()};
      const auto file_start = std::chrono::steady_clock::now();
      BatchQueue queue;
      std::exception_ptr parse_error;
      std::thread parser([&] {
        try {
          ParseFile(kind, fsum.path, ctx, quarantine, fsum, queue);
        } catch (...) {
          parse_error = std::current_exception();
        }
        queue.Close();
      });
      Batch batch;
      try {
        while (queue.Pop(batch))
          for (auto& p : batch) Write(store, p);
      } catch (...) {
        queue.Abort();
        while (queue.Pop(batch)) {
        }
        parser.join();
        throw;
      }
      parser.join();
      if (parse_error) std::rethrow_exception(parse_error);
      fsum.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - file_start).count();
      spdlog::info("{}: {} read, {} accepted, {} quarantined", fsum.path, fsum.read, fsum.accepted,
                   fsum.quarantined);
      summary.files.push_back(fsum);
    }
    quarantine.Commit();
    if (options.strict && summary.quarantined() > 0)
      throw Error(std::to_string(summary.quarantined()) +
                      " rows quarantined with --strict; the store was not changed",
                  summary.quarantine_path, "fix the rows listed there or drop --strict");
    store.Commit();
  } catch (...) {
    store.Rollback();
    throw;
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace muchator
