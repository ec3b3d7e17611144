#include "text/chat.h"

#include <algorithm>

#include "core/error.h"
#include "data/store.h"
#include "text/special_tokens.h"

namespace muchator {

void TokenSeq::Text(const Tokenizer& tok, std::string_view text, bool loss) {
  const auto v = tok.Encode(text);
  ids.insert(ids.end(), v.begin(), v.end());
  mask.insert(mask.end(), v.size(), loss ? 1 : 0);
}

void TokenSeq::Id(int id, bool loss) {
  if (id < 0)
    throw Error("a special token is missing from the tokenizer", "",
                "train or load a MuChator tokenizer");
  ids.push_back(id);
  mask.push_back(loss ? 1 : 0);
}

void TokenSeq::Ids(std::span<const int> v, bool loss) {
  ids.insert(ids.end(), v.begin(), v.end());
  mask.insert(mask.end(), v.size(), loss ? 1 : 0);
}

void TokenSeq::Append(const TokenSeq& o) {
  ids.insert(ids.end(), o.ids.begin(), o.ids.end());
  mask.insert(mask.end(), o.mask.begin(), o.mask.end());
}

std::string StateText(const State& s) {
  std::string t;
  for (const std::string* f : {&s.time_of_day, &s.day_type, &s.context, &s.device})
    if (!f->empty()) t += (t.empty() ? "" : ", ") + *f;
  return t.empty() ? "unknown" : t;
}

State ParseStateText(std::string_view text) {
  State s;
  std::string* fields[] = {&s.time_of_day, &s.day_type, &s.context, &s.device};
  size_t k = 0, start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view f = text.substr(start, end - start);
    while (!f.empty() && f.front() == ' ') f.remove_prefix(1);
    while (!f.empty() && f.back() == ' ') f.remove_suffix(1);
    if (k >= 4)
      throw Error("a state has at most 4 fields (time of day, day type, context, device): '" +
                  std::string(text) + "'");
    *fields[k++] = std::string(f);
    start = end + 1;
  }
  return s;
}

UserContext UserContextFromStore(Store& store, const Catalog& catalog, const std::string& user_id,
                                 int64_t before_ts, int max_history) {
  UserContext ctx;
  auto user = store.GetUser(user_id);
  if (!user) return ctx;
  ctx.profile = user->profile;
  for (const Event& e : store.UserTimeline(user_id)) {
    if (before_ts != kNoTimestamp && e.ts != kNoTimestamp && e.ts >= before_ts) break;
    const int item = catalog.Find(e.song);
    if (item >= 0) ctx.history.push_back({e.state, item, e.feedback});
  }
  if (static_cast<int>(ctx.history.size()) > max_history)
    ctx.history.erase(ctx.history.begin(), ctx.history.end() - max_history);
  return ctx;
}

TokenSeq RenderPrompt(const Tokenizer& tok, const ItemCodec& codec, const UserContext& ctx,
                      std::string_view query, int max_history, size_t* context_tokens,
                      const PromptExtras* extras) {
  TokenSeq s;
  if (extras)
    for (const FewShotExample& e : extras->examples) {
      s.Id(tok.TokenId(tok::kImStart));
      s.Text(tok, "user\n");
      s.Id(tok.TokenId(tok::kQuery));
      s.Text(tok, e.query);
      s.Id(tok.TokenId(tok::kImEnd));
      s.Text(tok, "\n");
      s.Id(tok.TokenId(tok::kImStart));
      s.Text(tok, "assistant\n");
      TokenSeq answer = RenderAnswer(tok, codec, e.items);
      std::fill(answer.mask.begin(), answer.mask.end(), 0);  // part of the prompt: no loss
      s.Append(answer);
      s.Text(tok, "\n");
    }
  s.Id(tok.TokenId(tok::kImStart));
  s.Text(tok, "user\n");
  if (!ctx.profile.empty()) {
    std::string p;
    for (const auto& [k, v] : ctx.profile) p += (p.empty() ? "" : "; ") + k + ": " + v;
    s.Id(tok.TokenId(tok::kProfile));
    s.Text(tok, p + "\n");
  }
  if (!ctx.history.empty() && max_history > 0) {
    s.Id(tok.TokenId(tok::kHistory));
    const size_t from = ctx.history.size() > static_cast<size_t>(max_history)
                            ? ctx.history.size() - max_history
                            : 0;
    for (size_t i = from; i < ctx.history.size(); ++i) {
      const auto& h = ctx.history[i];
      // The state only where it changes: a listener's events come in sessions of one state, and
      // repeating it cost ~10 tokens an event (two thirds of a demo prompt's ~240 tokens).
      const std::string state = StateText(h.state);
      if (i == from || state != StateText(ctx.history[i - 1].state)) {
        s.Id(tok.TokenId(tok::kState));
        s.Text(tok, state);
      }
      s.Ids(codec.Encode(h.item));
      s.Id(tok.TokenId(FeedbackToken(static_cast<int>(h.feedback))));
    }
    s.Text(tok, "\n");
  }
  if (context_tokens) *context_tokens = s.size();
  s.Id(tok.TokenId(tok::kState));
  s.Text(tok, StateText(ctx.state) + "\n");
  if (extras && !extras->candidates.empty()) {
    s.Text(tok, "candidates:");
    for (const int item : extras->candidates) {
      s.Text(tok, " ");
      s.Ids(codec.Encode(item));
    }
    s.Text(tok, "\n");
  }
  s.Id(tok.TokenId(tok::kQuery));
  s.Text(tok, query);
  s.Id(tok.TokenId(tok::kImEnd));
  s.Text(tok, "\n");
  s.Id(tok.TokenId(tok::kImStart));
  s.Text(tok, "assistant\n");
  return s;
}

TokenSeq FitPrompt(const Tokenizer& tok, const ItemCodec& codec, const UserContext& ctx,
                   std::string_view query, int max_history, int max_tokens, size_t* context_tokens,
                   const PromptExtras* extras) {
  const int events = std::min<int>(max_history, static_cast<int>(ctx.history.size()));
  for (int h = std::max(0, events);; --h) {
    TokenSeq s = RenderPrompt(tok, codec, ctx, query, h, context_tokens, extras);
    if (static_cast<int>(s.size()) <= max_tokens || h <= 0) return s;
  }
}

TokenSeq RenderAnswer(const Tokenizer& tok, const ItemCodec& codec, std::span<const int> items,
                      std::string_view sentence) {
  TokenSeq s;
  if (!sentence.empty()) s.Text(tok, std::string(sentence) + "\n", true);
  for (size_t i = 0; i < items.size(); ++i) {
    s.Text(tok, std::to_string(i + 1) + ". ", true);
    s.Ids(codec.Encode(items[i]), true);
    s.Text(tok, "\n", true);
  }
  s.Id(tok.TokenId(tok::kImEnd), true);
  return s;
}

ParsedAnswer ParseAnswer(const Tokenizer& tok, const ItemCodec& codec,
                         std::span<const int> tokens) {
  ParsedAnswer a;
  const int item_start = tok.TokenId(tok::kItem), item_end = tok.TokenId(tok::kItemEnd);
  const int im_end = tok.TokenId(tok::kImEnd);
  size_t i = 0;
  std::vector<int> text;  // plain tokens since the last item
  int expected_number = 1;
  auto flush_text = [&](bool before_item) {
    std::string t = tok.Decode(text);
    text.clear();
    if (before_item) {
      // Expect "N. " right before the item (after an optional sentence on the first line).
      const std::string want = std::to_string(expected_number) + ". ";
      const size_t nl = t.rfind('\n');
      std::string head = nl == std::string::npos ? "" : t.substr(0, nl);
      std::string tail = nl == std::string::npos ? t : t.substr(nl + 1);
      if (expected_number == 1 && !head.empty()) a.sentence = head;
      if (tail != want)
        a.problems.push_back("expected '" + want + "' before item " +
                             std::to_string(expected_number) + ", got '" + tail + "'");
      ++expected_number;
    } else if (!t.empty() && t != "\n") {
      if (expected_number == 1)
        a.sentence = t;  // no list at all
      else
        a.problems.push_back("unexpected text after the list: '" + t + "'");
    }
  };
  for (; i < tokens.size(); ++i) {
    const int t = tokens[i];
    if (t == im_end) {
      a.ended = true;
      ++i;
      break;
    }
    if (t != item_start) {
      if (t == item_end)
        a.problems.push_back("<|/item|> without <|item|>");
      else
        text.push_back(t);
      continue;
    }
    flush_text(true);
    size_t j = i + 1;
    while (j < tokens.size() && tokens[j] != item_end && tokens[j] != item_start &&
           tokens[j] != im_end)
      ++j;
    if (j >= tokens.size() || tokens[j] != item_end) {
      a.problems.push_back("item " + std::to_string(expected_number - 1) +
                           " is not closed by <|/item|>");
      i = j - 1;
      continue;
    }
    const int item = codec.Decode(tokens.subspan(i, j - i + 1));
    if (item >= 0) {
      if (std::find(a.items.begin(), a.items.end(), item) != a.items.end())
        a.problems.push_back("item " + codec.DisplayText(item) + " is listed twice");
      a.items.push_back(item);
    } else {
      std::string shown;
      for (size_t k = i + 1; k < j; ++k) shown += tok.TokenBytes(tokens[k]);
      a.invalid_items.push_back(shown);
    }
    i = j;
  }
  flush_text(false);
  if (!a.ended) a.problems.push_back("the answer does not end with <|im_end|>");
  if (i < tokens.size())
    a.problems.push_back(std::to_string(tokens.size() - i) + " tokens after <|im_end|>");
  return a;
}

}  // namespace muchator
