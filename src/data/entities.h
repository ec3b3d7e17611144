// The entities of the ingestion format (docs/data-format.md is the contract). Each kind is one
// JSONL file; every row parses into one of these structs. Ids are the user's own strings.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace muchator {

enum class Feedback { kLike = 0, kFinish = 1, kSkip = 2, kDislike = 3 };
inline constexpr const char* kFeedbackNames[] = {"like", "finish", "skip", "dislike"};
const char* FeedbackName(Feedback f);
std::optional<Feedback> ParseFeedback(const std::string& s);

// Time-of-day buckets (local time): morning 05-11, afternoon 11-17, evening 17-22, night 22-05.
inline const std::vector<std::string> kTimesOfDay = {"morning", "afternoon", "evening", "night"};
inline const std::vector<std::string> kDayTypes = {"weekday", "weekend"};
std::string TimeOfDayForHour(int hour);

// The listener's situation when an event or query happened. Empty strings / -1 mean unknown.
struct State {
  std::string time_of_day;  // one of kTimesOfDay
  std::string day_type;     // one of kDayTypes
  std::string context;      // free: commute, home, gym, work, ...
  std::string device;       // free: phone, desktop, car, speaker, ...
  int hour = -1;            // 0-23
  bool empty() const {
    return time_of_day.empty() && day_type.empty() && context.empty() && device.empty() && hour < 0;
  }
  bool operator==(const State&) const = default;
};

struct Artist {
  std::string id, name;
  std::vector<std::string> genres;
  std::string country;
  nlohmann::json extra;  // free-form user fields, kept as given
  bool operator==(const Artist&) const = default;
};

struct Song {
  std::string id, title;
  std::vector<std::string> artists;  // artist ids, main artist first
  std::string album;
  std::vector<std::string> genres, tags;
  std::string language;   // ISO 639-1 code or a name; "" = unknown
  int year = 0;           // 0 = unknown
  double duration_s = 0;  // 0 = unknown
  std::string lyrics;
  double popularity = 0;  // >= 0, relative; 0 = unknown
  nlohmann::json extra;
  bool operator==(const Song&) const = default;
};

struct User {
  std::string id;
  std::map<std::string, std::string> profile;  // age_bucket, gender, occupation, region, ...
  nlohmann::json extra;
  bool operator==(const User&) const = default;
};

inline constexpr int64_t kNoTimestamp = INT64_MIN;

struct Event {
  std::string id;  // optional; the key of an event is (user, ts, song)
  std::string user, song;
  int64_t ts = kNoTimestamp;  // unix seconds; kNoTimestamp = an unordered preference record
  State state;
  Feedback feedback = Feedback::kFinish;
  double play_s = -1;  // seconds played; -1 = unknown
  int64_t count = 1;   // > 1 for aggregated records (e.g. play counts)
  bool operator==(const Event&) const = default;
};

struct Comment {
  std::string id, song, user;  // user optional
  std::string kind = "user";   // user | professional
  std::string text;
  int64_t ts = kNoTimestamp;
  int64_t likes = 0;
  bool operator==(const Comment&) const = default;
};

struct Playlist {
  std::string id, title, description, user;  // description, user optional
  std::vector<std::string> songs;
  bool operator==(const Playlist&) const = default;
};

inline const std::vector<std::string> kDocumentKinds = {
    "artist_bio", "song_background", "lyric_description", "caption",
    "review",     "encyclopedia",    "general",           "other"};

struct Document {
  std::string id, kind, song, artist, title, text;  // song, artist, title optional
  bool operator==(const Document&) const = default;
};

// Entity types a relation end may have; song, artist and user ends must exist in the store.
inline const std::vector<std::string> kRelationEndTypes = {
    "song", "artist", "user", "album", "genre", "tag", "mood", "situation", "language", "entity"};

struct Relation {
  std::string head_type, head, relation, tail_type, tail;
  double weight = 1.0;
  bool operator==(const Relation&) const = default;
};

struct Query {
  std::string id, text, user;  // user optional
  int64_t ts = kNoTimestamp;
  State state;
  std::vector<std::string> relevant;  // song ids known to fit (optional)
  std::string split;                  // optional: sft, rl, test, ...
  std::string source;                 // optional: real, generated, ...
  nlohmann::json extra;               // free-form fields kept as given (e.g. annotated mentions)
  bool operator==(const Query&) const = default;
};

// JSON forms, exactly the rows of docs/data-format.md (optional fields omitted when unset).
nlohmann::json ToJson(const State& s);
nlohmann::json ToJson(const Artist& a);
nlohmann::json ToJson(const Song& s);
nlohmann::json ToJson(const User& u);
nlohmann::json ToJson(const Event& e);
nlohmann::json ToJson(const Comment& c);
nlohmann::json ToJson(const Playlist& p);
nlohmann::json ToJson(const Document& d);
nlohmann::json ToJson(const Relation& r);
nlohmann::json ToJson(const Query& q);

}  // namespace muchator
