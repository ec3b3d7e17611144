// The server-sent events of a streamed chat completion, as OpenAI's API sends them: a role event
// per choice, content events as text completes (one line at most each), a last event per choice
// with its finish_reason (and its songs under `muchator`), an optional usage event, then
// `data: [DONE]`; an error ends the stream with the error object. Text only, no HTTP: the server
// writes what these return (unit-tested in serve_test).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "serve/request_json.h"

namespace muchator {

class ChatStream {
 public:
  ChatStream(std::string id, std::string model, int64_t created)
      : id_(std::move(id)), model_(std::move(model)), created_(created) {}
  // The first event: each of `n` choices opens with the assistant role and empty content.
  std::string Open(size_t n) const;
  // Text of choice `i`: one event per line (a reranked answer's list arrives whole).
  std::string Text(size_t i, const std::string& text) const;
  // Choice `i`'s last event: its finish reason, its songs and the items that did not parse.
  std::string Finish(size_t i, const char* finish_reason, const nlohmann::json& items,
                     const nlohmann::json& invalid_items) const;
  // The usage event (stream_options.include_usage): no choices, `created` = now.
  std::string Usage(const nlohmann::json& usage, int64_t now) const;
  // The end of a complete stream: a comment line with the request's notes, then [DONE].
  static std::string End(const nlohmann::json& notes);
  // The end of a failed stream: the error object, then [DONE].
  static std::string Fail(const ApiError& e);

 private:
  std::string Event(const nlohmann::json& choices) const;
  std::string id_, model_;
  int64_t created_;
};

}  // namespace muchator
