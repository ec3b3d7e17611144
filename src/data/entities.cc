#include "data/entities.h"

namespace muchator {

using nlohmann::json;

const char* FeedbackName(Feedback f) { return kFeedbackNames[static_cast<int>(f)]; }

std::optional<Feedback> ParseFeedback(const std::string& s) {
  for (int i = 0; i < 4; ++i)
    if (s == kFeedbackNames[i]) return static_cast<Feedback>(i);
  return std::nullopt;
}

std::string TimeOfDayForHour(int hour) {
  if (hour >= 5 && hour < 11) return "morning";
  if (hour >= 11 && hour < 17) return "afternoon";
  if (hour >= 17 && hour < 22) return "evening";
  return "night";
}

namespace {
void PutIf(json& j, const char* key, const std::string& v) {
  if (!v.empty()) j[key] = v;
}
void PutIf(json& j, const char* key, const std::vector<std::string>& v) {
  if (!v.empty()) j[key] = v;
}
void PutTs(json& j, int64_t ts) {
  if (ts != kNoTimestamp) j["ts"] = ts;
}
void PutExtra(json& j, const json& extra) {
  if (!extra.is_null() && !extra.empty()) j["extra"] = extra;
}
}  // namespace

json ToJson(const State& s) {
  json j = json::object();
  PutIf(j, "time_of_day", s.time_of_day);
  PutIf(j, "day_type", s.day_type);
  PutIf(j, "context", s.context);
  PutIf(j, "device", s.device);
  if (s.hour >= 0) j["hour"] = s.hour;
  return j;
}

json ToJson(const Artist& a) {
  json j = {{"id", a.id}, {"name", a.name}};
  PutIf(j, "genres", a.genres);
  PutIf(j, "country", a.country);
  PutExtra(j, a.extra);
  return j;
}

json ToJson(const Song& s) {
  json j = {{"id", s.id}, {"title", s.title}, {"artists", s.artists}};
  PutIf(j, "album", s.album);
  PutIf(j, "genres", s.genres);
  PutIf(j, "tags", s.tags);
  PutIf(j, "language", s.language);
  if (s.year) j["year"] = s.year;
  if (s.duration_s > 0) j["duration_s"] = s.duration_s;
  PutIf(j, "lyrics", s.lyrics);
  if (s.popularity > 0) j["popularity"] = s.popularity;
  PutExtra(j, s.extra);
  return j;
}

json ToJson(const User& u) {
  json j = {{"id", u.id}};
  if (!u.profile.empty()) j["profile"] = u.profile;
  PutExtra(j, u.extra);
  return j;
}

json ToJson(const Event& e) {
  json j = json::object();
  PutIf(j, "id", e.id);
  j["user"] = e.user;
  j["song"] = e.song;
  PutTs(j, e.ts);
  if (!e.state.empty()) j["state"] = ToJson(e.state);
  j["feedback"] = FeedbackName(e.feedback);
  if (e.play_s >= 0) j["play_s"] = e.play_s;
  if (e.count != 1) j["count"] = e.count;
  return j;
}

json ToJson(const Comment& c) {
  json j = {{"id", c.id}, {"song", c.song}};
  PutIf(j, "user", c.user);
  j["kind"] = c.kind;
  j["text"] = c.text;
  PutTs(j, c.ts);
  if (c.likes) j["likes"] = c.likes;
  return j;
}

json ToJson(const Playlist& p) {
  json j = {{"id", p.id}, {"title", p.title}};
  PutIf(j, "description", p.description);
  PutIf(j, "user", p.user);
  j["songs"] = p.songs;
  return j;
}

json ToJson(const Document& d) {
  json j = {{"id", d.id}, {"kind", d.kind}};
  PutIf(j, "song", d.song);
  PutIf(j, "artist", d.artist);
  PutIf(j, "title", d.title);
  j["text"] = d.text;
  return j;
}

json ToJson(const Relation& r) {
  json j = {{"head_type", r.head_type},
            {"head", r.head},
            {"relation", r.relation},
            {"tail_type", r.tail_type},
            {"tail", r.tail}};
  if (r.weight != 1.0) j["weight"] = r.weight;
  return j;
}

json ToJson(const Query& q) {
  json j = {{"id", q.id}, {"text", q.text}};
  PutIf(j, "user", q.user);
  PutTs(j, q.ts);
  if (!q.state.empty()) j["state"] = ToJson(q.state);
  PutIf(j, "relevant", q.relevant);
  PutIf(j, "split", q.split);
  PutIf(j, "source", q.source);
  PutExtra(j, q.extra);
  return j;
}

}  // namespace muchator
