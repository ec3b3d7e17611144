#include "serve/request_json.h"

#include <fmt/format.h>

#include <mutex>
#include <random>

#include "core/strings.h"

namespace muchator {

using json = nlohmann::json;

ApiError BadRequest(std::string message, std::string param, std::string code) {
  return {400, std::move(message), std::move(param), std::move(code), "invalid_request_error"};
}

std::string JsonText(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json ErrorJson(const ApiError& e) {
  const std::string type = !e.type.empty()   ? e.type
                           : e.status == 401 ? "authentication_error"
                           : e.status == 429 ? "rate_limit_error"
                           : e.status >= 500 ? "server_error"
                                             : "invalid_request_error";
  return {{"error",
           {{"message", e.message},
            {"type", type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

// ---- Typed access to request fields (a wrong type is a 400 naming the field) ----

const json* Field(const json& obj, const std::string& key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}
std::optional<std::string> OptString(const json& obj, const std::string& key,
                                     const std::string& prefix) {
  const json* f = Field(obj, key);
  if (!f) return std::nullopt;
  if (!f->is_string())
    throw BadRequest("'" + prefix + key + "' must be a string", prefix + key, "invalid_type");
  return f->get<std::string>();
}
std::optional<bool> OptBool(const json& obj, const std::string& key, const std::string& prefix) {
  const json* f = Field(obj, key);
  if (!f) return std::nullopt;
  if (!f->is_boolean())
    throw BadRequest("'" + prefix + key + "' must be true or false", prefix + key, "invalid_type");
  return f->get<bool>();
}
std::optional<double> OptNumber(const json& obj, const std::string& key, double lo, double hi,
                                const std::string& prefix) {
  const json* f = Field(obj, key);
  if (!f) return std::nullopt;
  if (!f->is_number())
    throw BadRequest("'" + prefix + key + "' must be a number", prefix + key, "invalid_type");
  const double v = f->get<double>();
  if (!(v >= lo && v <= hi))
    throw BadRequest(
        fmt::format("'{}{}' must be between {} and {}, got {}", prefix, key, lo, hi, v),
        prefix + key);
  return v;
}
std::optional<int64_t> OptInt(const json& obj, const std::string& key, int64_t lo, int64_t hi,
                              const std::string& prefix) {
  const json* f = Field(obj, key);
  if (!f) return std::nullopt;
  if (!f->is_number_integer())
    throw BadRequest("'" + prefix + key + "' must be an integer", prefix + key, "invalid_type");
  const int64_t v = f->is_number_unsigned()
                        ? static_cast<int64_t>(std::min<uint64_t>(f->get<uint64_t>(), INT64_MAX))
                        : f->get<int64_t>();
  if (v < lo || v > hi)
    throw BadRequest(
        fmt::format("'{}{}' must be between {} and {}, got {}", prefix, key, lo, hi, v),
        prefix + key);
  return v;
}
std::vector<std::string> OptStrings(const json& obj, const std::string& key,
                                    const std::string& prefix) {
  const json* f = Field(obj, key);
  if (!f) return {};
  if (!f->is_array())
    throw BadRequest("'" + prefix + key + "' must be an array of strings", prefix + key,
                     "invalid_type");
  std::vector<std::string> out;
  for (const auto& v : *f) {
    if (!v.is_string())
      throw BadRequest("'" + prefix + key + "' must be an array of strings", prefix + key,
                       "invalid_type");
    out.push_back(v.get<std::string>());
  }
  return out;
}

State ParseState(const json& obj, const std::string& key, const std::string& prefix) {
  const json* f = Field(obj, key);
  if (!f) return {};
  if (f->is_string()) return ParseStateText(f->get<std::string>());
  if (!f->is_object())
    throw BadRequest("'" + prefix + key +
                         "' must be a string such as 'evening, weekday, commute, car' or an object",
                     prefix + key, "invalid_type");
  State s;
  const std::string p = prefix + key + ".";
  s.time_of_day = OptString(*f, "time_of_day", p).value_or("");
  s.day_type = OptString(*f, "day_type", p).value_or("");
  s.context = OptString(*f, "context", p).value_or("");
  s.device = OptString(*f, "device", p).value_or("");
  s.hour = static_cast<int>(OptInt(*f, "hour", -1, 23, p).value_or(-1));
  return s;
}

json StateJson(const State& s) {
  json j = json::object();
  if (!s.time_of_day.empty()) j["time_of_day"] = s.time_of_day;
  if (!s.day_type.empty()) j["day_type"] = s.day_type;
  if (!s.context.empty()) j["context"] = s.context;
  if (!s.device.empty()) j["device"] = s.device;
  if (s.hour >= 0) j["hour"] = s.hour;
  return j;
}

json StoredEventJson(const Event& e) {
  return {{"stored", true},
          {"event",
           {{"user", e.user},
            {"song", e.song},
            {"feedback", FeedbackName(e.feedback)},
            {"ts", e.ts},
            {"state", StateJson(e.state)}}}};
}

// Text of a message's content: a string, or an array of {"type": "text", "text": ...} parts.
std::string ContentText(const json& m, size_t i) {
  const std::string param = "messages[" + std::to_string(i) + "].content";
  const json* c = Field(m, "content");
  if (!c) return "";
  if (c->is_string()) return c->get<std::string>();
  if (!c->is_array())
    throw BadRequest("'" + param + "' must be a string or an array of text parts", param,
                     "invalid_type");
  std::string out;
  for (const auto& part : *c) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
        !part["text"].is_string())
      throw BadRequest(
          "'" + param +
              "' parts must be {\"type\": \"text\", \"text\": ...} (this model reads text only)",
          param, "invalid_type");
    out += part["text"].get<std::string>();
  }
  return out;
}

void ParseExtras(const json& m, const ServeOptions& o, AnswerSpec& s, const std::string& p) {
  s.state = ParseState(m, "state", p);
  s.songs = static_cast<int>(OptInt(m, "songs", 1, o.max_songs, p).value_or(s.songs));
  s.exclude_songs = OptStrings(m, "exclude_songs", p);
  s.exclude_artists = OptStrings(m, "exclude_artists", p);
  s.constrained = OptBool(m, "constrained", p).value_or(s.constrained);
  s.one_per_artist = OptBool(m, "one_per_artist", p).value_or(s.one_per_artist);
  s.sentence = OptBool(m, "sentence", p).value_or(s.sentence);
  s.rerank = OptBool(m, "rerank", p).value_or(s.rerank);
}

void ParseSampling(const json& b, const ServeOptions& o, AnswerSpec& s) {
  s.temperature = OptNumber(b, "temperature", 0, 2).value_or(o.temperature);
  s.top_p = OptNumber(b, "top_p", 1e-9, 1).value_or(o.top_p);
  auto mt = OptInt(b, "max_completion_tokens", 1, o.max_tokens);
  if (!mt) mt = OptInt(b, "max_tokens", 1, o.max_tokens);
  s.max_tokens = static_cast<int>(mt.value_or(o.default_max_tokens));
  if (auto seed = OptInt(b, "seed", INT64_MIN, INT64_MAX)) {
    s.seed = static_cast<uint64_t>(*seed);
  } else {
    static std::mutex mu;
    static std::mt19937_64 rng{std::random_device{}()};
    std::lock_guard l(mu);
    s.seed = rng();
  }
}

AnswerSpec ParseChatBody(const json& b, const ServeOptions& o, const std::string& model_id) {
  if (!b.is_object()) throw BadRequest("the request body must be a JSON object");
  AnswerSpec s;
  const auto model = OptString(b, "model");
  if (!model)
    throw BadRequest("'model' is required (GET /v1/models lists it)", "model",
                     "missing_required_parameter");
  if (*model != model_id)
    throw ApiError{
        404, "the model '" + *model + "' does not exist; this server serves '" + model_id + "'",
        "model", "model_not_found", "invalid_request_error"};
  const json* msgs = Field(b, "messages");
  if (!msgs) throw BadRequest("'messages' is required", "messages", "missing_required_parameter");
  if (!msgs->is_array())
    throw BadRequest("'messages' must be an array", "messages", "invalid_type");
  if (msgs->empty())
    throw BadRequest("'messages' is empty: send at least one user message", "messages");
  if (static_cast<int>(msgs->size()) > o.max_messages)
    throw BadRequest(fmt::format("too many messages ({} > {})", msgs->size(), o.max_messages),
                     "messages");
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    const std::string p = "messages[" + std::to_string(i) + "]";
    if (!m.is_object())
      throw BadRequest("'" + p + "' must be an object with 'role' and 'content'", p,
                       "invalid_type");
    const auto role = OptString(m, "role", p + ".");
    if (!role)
      throw BadRequest("'" + p + ".role' is required", p + ".role", "missing_required_parameter");
    if (*role != "system" && *role != "developer" && *role != "user" && *role != "assistant")
      throw BadRequest(
          "'" + p + ".role' must be system, developer, user or assistant, got '" + *role + "'",
          p + ".role");
    s.messages.push_back({*role, ContentText(m, i)});
  }
  if (s.messages.back().role != "user")
    throw BadRequest("the last message must be the listener's (role 'user')", "messages");
  if (Trim(s.messages.back().content).empty())
    throw BadRequest("the last user message is empty", "messages");
  s.user = OptString(b, "user").value_or("");
  s.stream = OptBool(b, "stream").value_or(false);
  if (const json* so = Field(b, "stream_options")) {
    if (!so->is_object())
      throw BadRequest("'stream_options' must be an object", "stream_options", "invalid_type");
    s.include_usage = OptBool(*so, "include_usage", "stream_options.").value_or(false);
  }
  s.n = static_cast<int>(OptInt(b, "n", 1, o.max_n).value_or(1));
  ParseSampling(b, o, s);
  if (const json* m = Field(b, "muchator")) {
    if (!m->is_object())
      throw BadRequest("'muchator' must be an object", "muchator", "invalid_type");
    ParseExtras(*m, o, s, "muchator.");
  }
  return s;
}

AnswerSpec ParseRecommendBody(const json& b, const ServeOptions& o) {
  if (!b.is_object()) throw BadRequest("the request body must be a JSON object");
  AnswerSpec s;
  const auto query = OptString(b, "query");
  if (!query || Trim(*query).empty())
    throw BadRequest("'query' is required: the listener's request", "query",
                     "missing_required_parameter");
  s.messages.push_back({"user", *query});
  s.user = OptString(b, "user").value_or("");
  ParseSampling(b, o, s);
  ParseExtras(b, o, s, "");
  return s;
}

json ParseJsonBody(const std::string& body) {
  if (body.empty())
    throw BadRequest("the request body is empty: send a JSON object", "", "invalid_json");
  try {
    return json::parse(body);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1E99999
    throw BadRequest(std::string("the body is not valid JSON (UTF-8): ") + e.what(), "",
                     "invalid_json");
  }
}

FeedbackSpec ParseFeedbackBody(const json& b) {
  if (!b.is_object()) throw BadRequest("the request body must be a JSON object");
  FeedbackSpec f;
  const auto song = OptString(b, "song");
  if (!song)
    throw BadRequest("'song' is required: the id of the song the listener reacted to", "song",
                     "missing_required_parameter");
  f.song = *song;
  const auto fb = OptString(b, "feedback");
  if (!fb)
    throw BadRequest("'feedback' is required: like, finish, skip or dislike", "feedback",
                     "missing_required_parameter");
  const auto parsed = ParseFeedback(*fb);
  if (!parsed)
    throw BadRequest("'feedback' must be like, finish, skip or dislike, got '" + *fb + "'",
                     "feedback");
  f.feedback = *parsed;
  f.user = OptString(b, "user");
  f.completion_id = OptString(b, "completion_id");
  if (Field(b, "state")) f.state = ParseState(b, "state", "");
  f.play_s = OptNumber(b, "play_s", 0, 1e7);
  return f;
}

}  // namespace muchator
