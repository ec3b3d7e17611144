// Request bodies of the server's JSON API, read without HTTP: typed field access (a wrong type or
// range is a 400 naming the field, as OpenAI's API answers), the chat-completions and recommend
// bodies into one AnswerSpec, the situational state. Unit-tested and fuzzed (fuzz/serve_request)
// apart from the server, which only adds the model, the queue and the transport.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/entities.h"
#include "serve/dialogue.h"
#include "serve/server.h"

namespace muchator {

// An error answered to the client as OpenAI does: {"error": {message, type, param, code}}.
struct ApiError {
  int status;
  std::string message, param, code, type;
};
ApiError BadRequest(std::string message, std::string param = "",
                    std::string code = "invalid_value");
// {"error": {message, type, param, code}}; the type follows the status when e.type is empty.
nlohmann::json ErrorJson(const ApiError& e);
// The JSON text sent to a client (compact; invalid UTF-8 in strings replaced, never a throw).
std::string JsonText(const nlohmann::json& j);

// A field of `obj`, null when absent or JSON null.
const nlohmann::json* Field(const nlohmann::json& obj, const std::string& key);
// Typed optional fields; `prefix` names the enclosing object in errors ("muchator.").
std::optional<std::string> OptString(const nlohmann::json& obj, const std::string& key,
                                     const std::string& prefix = "");
std::optional<bool> OptBool(const nlohmann::json& obj, const std::string& key,
                            const std::string& prefix = "");
std::optional<double> OptNumber(const nlohmann::json& obj, const std::string& key, double lo,
                                double hi, const std::string& prefix = "");
std::optional<int64_t> OptInt(const nlohmann::json& obj, const std::string& key, int64_t lo,
                              int64_t hi, const std::string& prefix = "");
std::vector<std::string> OptStrings(const nlohmann::json& obj, const std::string& key,
                                    const std::string& prefix = "");

// obj[key] as a state: a string ("evening, weekday, commute, car") or an object of its fields.
State ParseState(const nlohmann::json& obj, const std::string& key, const std::string& prefix);
nlohmann::json StateJson(const State& s);
// Text of messages[i]'s content: a string, or an array of {"type": "text", "text": ...} parts.
std::string ContentText(const nlohmann::json& m, size_t i);

// What one request asks for, from either endpoint.
struct AnswerSpec {
  std::string user;
  State state;
  std::vector<DialogueMessage> messages;
  int songs = 10, n = 1, max_tokens = 0;
  bool constrained = true, one_per_artist = false, sentence = true, stream = false,
       include_usage = false, rerank = true;
  double temperature = 0, top_p = 1;
  uint64_t seed = 0;
  std::vector<std::string> exclude_songs, exclude_artists;
};

// The request's extras (state, songs, exclusions, switches), at the top level or under "muchator".
void ParseExtras(const nlohmann::json& m, const ServeOptions& o, AnswerSpec& s,
                 const std::string& p);
// temperature, top_p, max(_completion)_tokens and seed (a random one when absent).
void ParseSampling(const nlohmann::json& b, const ServeOptions& o, AnswerSpec& s);

// The body as JSON; an empty or malformed body is a 400.
nlohmann::json ParseJsonBody(const std::string& body);
// POST /v1/chat/completions: `model_id` is the only model served (another one is a 404).
AnswerSpec ParseChatBody(const nlohmann::json& b, const ServeOptions& o,
                         const std::string& model_id);
// POST /v1/recommend.
AnswerSpec ParseRecommendBody(const nlohmann::json& b, const ServeOptions& o);

// A /v1/feedback body: the song and the listener's reaction (required), and optionally the
// listener, the completion the song came from (its listener and state fill in what is left out),
// the state and the seconds played. Throws ApiError (400) naming the field.
struct FeedbackSpec {
  std::string song;
  Feedback feedback = Feedback::kLike;
  std::optional<std::string> user, completion_id;
  std::optional<State> state;
  std::optional<double> play_s;
};
FeedbackSpec ParseFeedbackBody(const nlohmann::json& b);
// The feedback endpoint's answer for a stored event: {"stored": true, "event": {user, song,
// feedback, ts, state}}.
nlohmann::json StoredEventJson(const Event& e);

}  // namespace muchator
