// The chat format, one module for every stage (SFT targets, RL rollouts, serving, evaluation).
// ChatML-style:
//   <|im_start|>user\n
//   <|profile|>age_bucket: 25-34; region: north\n
//   <|history|><|state|>morning, weekday, commute, phone <item> <|like|> <item> <|skip|> ... \n
//     (a history event's state is written only where it differs from the event before)
//   <|state|>evening, weekday, commute, phone\n
//   <|query|>something for a rainy evening drive<|im_end|>\n
//   <|im_start|>assistant\n
//   [one short sentence\n]1. <item>\n2. <item>\n ... <|im_end|>
// where <item> is the codec's <|item|> ... <|/item|> sequence.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/entities.h"
#include "text/item_codec.h"
#include "text/tokenizer.h"

namespace muchator {

// Token ids with a parallel loss mask (1 = the model is trained to predict this token).
struct TokenSeq {
  std::vector<int> ids;
  std::vector<uint8_t> mask;
  void Text(const Tokenizer& tok, std::string_view text, bool loss = false);
  void Id(int id, bool loss = false);
  void Ids(std::span<const int> ids, bool loss = false);
  void Append(const TokenSeq& other);
  size_t size() const { return ids.size(); }
};

struct HistoryEntry {
  State state;
  int item;  // catalog index
  Feedback feedback;
};

// The compact user-context block of the prompt.
struct UserContext {
  std::map<std::string, std::string> profile;
  State state;
  std::vector<HistoryEntry> history;  // oldest first; the prompt keeps the most recent ones
};

class Store;

// Listener events in a prompt, everywhere a prompt is built (SFT, GRPO, evaluation, serving):
// one number, so training and serving see the same context. 10 keeps a demo prompt near 140
// tokens; at 20 (with a state per event) the prompt was ~90% of every SFT document's tokens for
// ~10% of the loss.
inline constexpr int kPromptHistory = 10;

// A listener's context from the store: profile, and the last `max_history` events (with a
// catalog song) strictly before `before_ts` (all events when kNoTimestamp). An unknown user
// gets the empty, cold-start context. The state is left empty for the caller to set.
UserContext UserContextFromStore(Store& store, const Catalog& catalog, const std::string& user_id,
                                 int64_t before_ts = kNoTimestamp,
                                 int max_history = kPromptHistory);

// "evening, weekday, commute, phone": the non-empty fields of a state.
std::string StateText(const State& s);
// The inverse for a user-typed state: up to four comma-separated fields in StateText's order.
State ParseStateText(std::string_view text);

// One worked example of a few-shot prompt: a request and the songs that answer it.
struct FewShotExample {
  std::string query;
  std::vector<int> items;  // catalog indexes
};

// What the prompted-LLM systems add to the prompt (DESIGN.md section 7, docs/metrics.md):
// earlier turns that show the task (few-shot prompting) and songs a retriever found for this
// request, listed before it (RAG). Empty = the plain prompt every other system uses.
struct PromptExtras {
  std::vector<FewShotExample> examples;
  std::vector<int> candidates;  // catalog indexes, best first
  bool empty() const { return examples.empty() && candidates.empty(); }
};

// The prompt up to and including "<|im_start|>assistant\n" (no loss anywhere). The listener's
// context (profile, history) comes before the request's state and query, so it is a prefix
// shared by all of that listener's requests; `context_tokens`, when given, receives its length.
// With `extras`: each example is a user turn (its query alone) and an assistant turn (its list)
// before the listener's turn, and the candidates are a line "candidates: <item> <item> ..."
// between the state and the query.
TokenSeq RenderPrompt(const Tokenizer& tok, const ItemCodec& codec, const UserContext& ctx,
                      std::string_view query, int max_history = kPromptHistory,
                      size_t* context_tokens = nullptr, const PromptExtras* extras = nullptr);
// RenderPrompt with as many of the listener's most recent history events (at most `max_history`)
// as keep the prompt within `max_tokens`: events go one by one from the oldest until it fits, so
// the answer's room is never what is given up. With none left and still too long, the prompt
// without history (the engine then refuses it with a clear error).
TokenSeq FitPrompt(const Tokenizer& tok, const ItemCodec& codec, const UserContext& ctx,
                   std::string_view query, int max_history, int max_tokens,
                   size_t* context_tokens = nullptr, const PromptExtras* extras = nullptr);
// The assistant's answer, ending with <|im_end|>; loss on every token.
TokenSeq RenderAnswer(const Tokenizer& tok, const ItemCodec& codec, std::span<const int> items,
                      std::string_view sentence = "");

// An answer read back from tokens (a model's output after the prompt).
struct ParsedAnswer {
  std::string sentence;                    // text before the list
  std::vector<int> items;                  // catalog indexes of valid items, in order
  std::vector<std::string> invalid_items;  // item spans that are not catalog items (decoded text)
  std::vector<std::string> problems;       // malformed parts, human-readable
  bool ended = false;                      // <|im_end|> was seen
  bool well_formed() const { return problems.empty() && ended; }
};
ParsedAnswer ParseAnswer(const Tokenizer& tok, const ItemCodec& codec, std::span<const int> tokens);

}  // namespace muchator
