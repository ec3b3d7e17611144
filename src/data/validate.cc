#include "data/validate.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/strings.h"

namespace muchator {

using nlohmann::json;

bool IsValidUtf8(std::string_view s, size_t* bad_offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0)
      len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
      len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
      len = 4, cp = c & 0x07;
    else {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    if (i + len > n) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    for (int k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) {
        if (bad_offset) *bad_offset = i;
        return false;
      }
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    const bool overlong =
        (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

namespace {

std::string Short(const json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

// Reads typed fields from one JSON object, remembering the first problem and which fields were
// used, so that unknown fields can be reported.
class Fields {
 public:
  explicit Fields(const json& j) : j_(j) {
    if (!j.is_object()) error_ = "a row must be a JSON object, got " + std::string(j.type_name());
  }

  void Str(const char* key, std::string* out, bool required, bool non_empty = true) {
    const json* v = Get(key, required);
    if (!v) return;
    if (!v->is_string()) return Fail(key, "expected a string, got " + Short(*v));
    *out = v->get<std::string>();
    if (non_empty && out->empty()) Fail(key, "must not be empty");
  }
  void Enum(const char* key, std::string* out, bool required,
            const std::vector<std::string>& allowed) {
    Str(key, out, required);
    if (ok() && !out->empty() && std::find(allowed.begin(), allowed.end(), *out) == allowed.end())
      Fail(key, "'" + *out + "' is not one of " + JoinStrings(allowed, ", "));
  }
  void StrList(const char* key, std::vector<std::string>* out, bool required,
               bool non_empty = false) {
    const json* v = Get(key, required);
    if (!v) return;
    if (!v->is_array()) return Fail(key, "expected an array of strings, got " + Short(*v));
    out->clear();
    for (const auto& item : *v) {
      if (!item.is_string() || item.get_ref<const std::string&>().empty())
        return Fail(key, "items must be non-empty strings, got " + Short(item));
      out->push_back(item.get<std::string>());
    }
    if (non_empty && out->empty()) Fail(key, "must not be empty");
  }
  void Int(const char* key, int64_t* out, bool required, int64_t lo, int64_t hi) {
    const json* v = Get(key, required);
    if (!v) return;
    if (!v->is_number_integer()) return Fail(key, "expected an integer, got " + Short(*v));
    const int64_t x =
        v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX ? INT64_MAX : v->get<int64_t>();
    if (x < lo || x > hi)
      return Fail(key, std::to_string(x) + " is out of range [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "]");
    *out = x;
  }
  void Num(const char* key, double* out, bool required, double lo, double hi) {
    const json* v = Get(key, required);
    if (!v) return;
    if (!v->is_number()) return Fail(key, "expected a number, got " + Short(*v));
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi)
      return Fail(
          key, Short(*v) + " is out of range [" + Short(json(lo)) + ", " + Short(json(hi)) + "]");
    *out = x;
  }
  void StrMap(const char* key, std::map<std::string, std::string>* out) {
    const json* v = Get(key, false);
    if (!v) return;
    if (!v->is_object()) return Fail(key, "expected an object of strings, got " + Short(*v));
    for (auto& [k, val] : v->items()) {
      if (!val.is_string())
        return Fail(key, "value of '" + k + "' must be a string, got " + Short(val));
      (*out)[k] = val.get<std::string>();
    }
  }
  void Extra(json* out) {
    const json* v = Get("extra", false);
    if (!v) return;
    if (!v->is_object()) return Fail("extra", "expected an object, got " + Short(*v));
    *out = *v;
  }
  void StateField(const char* key, State* out) {
    const json* v = Get(key, false);
    if (!v || !ok()) return;
    Fields f(*v);
    if (!f.ok()) return Fail(key, "expected an object, got " + Short(*v));
    f.Enum("time_of_day", &out->time_of_day, false, kTimesOfDay);
    f.Enum("day_type", &out->day_type, false, kDayTypes);
    f.Str("context", &out->context, false);
    f.Str("device", &out->device, false);
    int64_t hour = -1;
    f.Int("hour", &hour, false, 0, 23);
    out->hour = static_cast<int>(hour);
    if (f.ok() && out->hour >= 0 && out->time_of_day.empty())
      out->time_of_day = TimeOfDayForHour(out->hour);
    Status s = f.Finish();
    if (!s.ok()) Fail(key, s.message());
  }
  // Reports fields that no reader asked for.
  // Fast path: when every present field was read, the counts match and nothing is looked up.
  Status Finish() {
    if (ok() && j_.is_object() && used_ != j_.size()) {
      for (const auto& item : j_.items()) {
        // Not a structured binding: clang 14 (the fuzz build) cannot capture one in the lambda.
        const std::string& k = item.key();
        if (item.value().is_null()) continue;
        if (std::none_of(known_.begin(), known_.end(), [&](const char* n) { return k == n; })) {
          std::vector<std::string> names(known_.begin(), known_.end());
          error_ = "unknown field '" + k + "' (known: " + JoinStrings(names, ", ") +
                   "; put free-form data under \"extra\")";
          break;
        }
      }
    }
    return ok() ? Status::Ok() : Status::Invalid(error_);
  }
  bool ok() const { return error_.empty(); }
  void Fail(const std::string& key, const std::string& what) {
    if (ok()) error_ = "field '" + key + "': " + what;
  }

 private:
  const json* Get(const char* key, bool required) {
    known_.push_back(key);
    if (!ok()) return nullptr;
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      if (required) error_ = "missing required field '" + std::string(key) + "'";
      return nullptr;
    }
    ++used_;
    return &*it;
  }
  const json& j_;
  std::string error_;
  size_t used_ = 0;                 // present, non-null fields that were read
  std::vector<const char*> known_;  // every field name asked for
};

constexpr int64_t kMaxTs = 32503680000;  // year 3000
constexpr int64_t kMinTs = -2208988800;  // year 1900

}  // namespace

Status ParseRow(const json& j, Artist* a) {
  *a = Artist{};
  Fields f(j);
  f.Str("id", &a->id, true);
  f.Str("name", &a->name, true);
  f.StrList("genres", &a->genres, false);
  f.Str("country", &a->country, false);
  f.Extra(&a->extra);
  return f.Finish();
}

Status ParseRow(const json& j, Song* s) {
  *s = Song{};
  Fields f(j);
  f.Str("id", &s->id, true);
  f.Str("title", &s->title, true);
  f.StrList("artists", &s->artists, true);
  f.Str("album", &s->album, false);
  f.StrList("genres", &s->genres, false);
  f.StrList("tags", &s->tags, false);
  f.Str("language", &s->language, false);
  int64_t year = 0;
  f.Int("year", &year, false, 1000, 2100);
  s->year = static_cast<int>(year);
  f.Num("duration_s", &s->duration_s, false, 0, 24 * 3600);
  f.Str("lyrics", &s->lyrics, false, /*non_empty=*/false);
  f.Num("popularity", &s->popularity, false, 0, 1e15);
  f.Extra(&s->extra);
  return f.Finish();
}

Status ParseRow(const json& j, User* u) {
  *u = User{};
  Fields f(j);
  f.Str("id", &u->id, true);
  f.StrMap("profile", &u->profile);
  f.Extra(&u->extra);
  return f.Finish();
}

Status ParseRow(const json& j, Event* e) {
  *e = Event{};
  Fields f(j);
  f.Str("id", &e->id, false);
  f.Str("user", &e->user, true);
  f.Str("song", &e->song, true);
  f.Int("ts", &e->ts, false, kMinTs, kMaxTs);
  f.StateField("state", &e->state);
  std::string fb;
  f.Enum("feedback", &fb, true, {"like", "finish", "skip", "dislike"});
  if (f.ok()) e->feedback = *ParseFeedback(fb);
  f.Num("play_s", &e->play_s, false, 0, 24 * 3600);
  f.Int("count", &e->count, false, 1, INT64_MAX);
  return f.Finish();
}

Status ParseRow(const json& j, Comment* c) {
  *c = Comment{};
  Fields f(j);
  f.Str("id", &c->id, true);
  f.Str("song", &c->song, true);
  f.Str("user", &c->user, false);
  f.Enum("kind", &c->kind, false, {"user", "professional"});
  if (c->kind.empty()) c->kind = "user";
  f.Str("text", &c->text, true);
  f.Int("ts", &c->ts, false, kMinTs, kMaxTs);
  f.Int("likes", &c->likes, false, 0, INT64_MAX);
  return f.Finish();
}

Status ParseRow(const json& j, Playlist* p) {
  *p = Playlist{};
  Fields f(j);
  f.Str("id", &p->id, true);
  f.Str("title", &p->title, true);
  f.Str("description", &p->description, false, /*non_empty=*/false);
  f.Str("user", &p->user, false);
  f.StrList("songs", &p->songs, true, /*non_empty=*/true);
  return f.Finish();
}

Status ParseRow(const json& j, Document* d) {
  *d = Document{};
  Fields f(j);
  f.Str("id", &d->id, true);
  f.Enum("kind", &d->kind, true, kDocumentKinds);
  f.Str("song", &d->song, false);
  f.Str("artist", &d->artist, false);
  f.Str("title", &d->title, false);
  f.Str("text", &d->text, true);
  return f.Finish();
}

Status ParseRow(const json& j, Relation* r) {
  *r = Relation{};
  Fields f(j);
  f.Enum("head_type", &r->head_type, true, kRelationEndTypes);
  f.Str("head", &r->head, true);
  f.Str("relation", &r->relation, true);
  f.Enum("tail_type", &r->tail_type, true, kRelationEndTypes);
  f.Str("tail", &r->tail, true);
  f.Num("weight", &r->weight, false, -1e12, 1e12);
  return f.Finish();
}

Status ParseRow(const json& j, Query* q) {
  *q = Query{};
  Fields f(j);
  f.Str("id", &q->id, true);
  f.Str("text", &q->text, true);
  f.Str("user", &q->user, false);
  f.Int("ts", &q->ts, false, kMinTs, kMaxTs);
  f.StateField("state", &q->state);
  f.StrList("relevant", &q->relevant, false);
  f.Str("split", &q->split, false);
  f.Str("source", &q->source, false);
  f.Extra(&q->extra);
  return f.Finish();
}

}  // namespace muchator
