// The server-sent events of a streamed chat completion (serve/chat_stream.h).
#include "serve/chat_stream.h"

namespace muchator {

using json = nlohmann::json;

std::string ChatStream::Event(const json& choices) const {
  const json c = {{"id", id_},       {"object", "chat.completion.chunk"}, {"created", created_},
                  {"model", model_}, {"system_fingerprint", nullptr},     {"choices", choices}};
  return "data: " + JsonText(c) + "\n\n";
}

std::string ChatStream::Open(size_t n) const {
  json ch = json::array();
  for (size_t i = 0; i < n; ++i)
    ch.push_back({{"index", i},
                  {"delta", {{"role", "assistant"}, {"content", ""}}},
                  {"logprobs", nullptr},
                  {"finish_reason", nullptr}});
  return Event(ch);
}

std::string ChatStream::Text(size_t i, const std::string& text) const {
  std::string out;
  for (size_t b = 0; b < text.size();) {
    const size_t nl = text.find('\n', b);
    const size_t e = nl == std::string::npos ? text.size() : nl + 1;
    out += Event(json::array({{{"index", i},
                               {"delta", {{"content", text.substr(b, e - b)}}},
                               {"logprobs", nullptr},
                               {"finish_reason", nullptr}}}));
    b = e;
  }
  return out;
}

std::string ChatStream::Finish(size_t i, const char* finish_reason, const json& items,
                               const json& invalid_items) const {
  json last = {{"index", i},
               {"delta", json::object()},
               {"logprobs", nullptr},
               {"finish_reason", finish_reason}};
  last["muchator"] = {{"items", items}, {"invalid_items", invalid_items}};
  return Event(json::array({last}));
}

std::string ChatStream::Usage(const json& usage, int64_t now) const {
  const json u = {{"id", id_},       {"object", "chat.completion.chunk"}, {"created", now},
                  {"model", model_}, {"choices", json::array()},          {"usage", usage}};
  return "data: " + JsonText(u) + "\n\n";
}

std::string ChatStream::End(const json& notes) {
  return ": muchator " + JsonText(notes) + "\n\ndata: [DONE]\n\n";
}

std::string ChatStream::Fail(const ApiError& e) {
  return "data: " + JsonText(ErrorJson(e)) + "\n\ndata: [DONE]\n\n";
}

}  // namespace muchator
