#include "infer/constraint.h"

#include <algorithm>
#include <unordered_map>

#include "core/error.h"
#include "text/special_tokens.h"

namespace muchator {

namespace {
// One byte through a UTF-8 automaton (RFC 3629 table 3-7): states 0 between characters, 1-3 owe
// that many continuation bytes (80-BF), 4 = after E0 (next A0-BF), 5 = after ED (next 80-9F), 6 =
// after F0 (next 90-BF), 7 = after F4 (next 80-8F). Returns the next state, or -1 if invalid.
int Utf8Step(int st, unsigned char c) {
  auto in = [c](int lo, int hi) { return c >= lo && c <= hi; };
  switch (st) {
    case 0:
      if (c < 0x80) return 0;
      if (in(0xC2, 0xDF)) return 1;
      if (c == 0xE0) return 4;
      if (c == 0xED) return 5;
      if (in(0xE1, 0xEF)) return 2;
      if (c == 0xF0) return 6;
      if (c == 0xF4) return 7;
      if (in(0xF1, 0xF3)) return 3;
      return -1;
    case 1:
      return in(0x80, 0xBF) ? 0 : -1;
    case 2:
      return in(0x80, 0xBF) ? 1 : -1;
    case 3:
      return in(0x80, 0xBF) ? 2 : -1;
    case 4:
      return in(0xA0, 0xBF) ? 1 : -1;
    case 5:
      return in(0x80, 0x9F) ? 1 : -1;
    case 6:
      return in(0x90, 0xBF) ? 2 : -1;
    case 7:
      return in(0x80, 0x8F) ? 2 : -1;
  }
  return -1;
}
}  // namespace

AnswerGrammar::AnswerGrammar(const Tokenizer& tok, const ItemCodec& codec, const Catalog& catalog,
                             int max_items)
    : codec_(codec), im_end_(tok.TokenId(tok::kImEnd)) {
  if (im_end_ < 0)
    throw Error("the tokenizer has no " + std::string(tok::kImEnd) + " token", "",
                "use a MuChator tokenizer");
  if (static_cast<int>(catalog.items.size()) != codec.num_items())
    throw Error("the catalog has " + std::to_string(catalog.items.size()) +
                    " items but the codec " + std::to_string(codec.num_items()),
                "", "load the codec saved with this catalog");
  numbers_.emplace_back();  // index 0 unused
  for (int k = 1; k <= max_items; ++k) numbers_.push_back(tok.Encode(std::to_string(k) + ". "));
  newline_ = tok.Encode("\n");
  for (int i = 0; i < codec.num_items(); ++i)
    max_item_tokens_ = std::max(max_item_tokens_, static_cast<int>(codec.Encode(i).size()));
  std::unordered_map<std::string, int> artist_index;
  for (const auto& item : catalog.items) {
    const std::string& key = item.artist_id.empty() ? item.artist : item.artist_id;
    if (key.empty()) {
      artist_of_.push_back(-1);
      continue;
    }
    auto [it, fresh] = artist_index.emplace(key, static_cast<int>(items_of_artist_.size()));
    if (fresh) items_of_artist_.emplace_back();
    items_of_artist_[it->second].push_back(static_cast<int>(artist_of_.size()));
    artist_of_.push_back(it->second);
  }
  const int V = tok.vocab_size();
  utf8_next_.assign(static_cast<size_t>(V) * kUtf8States, -1);
  for (int id = 0; id < V; ++id) {
    const std::string& bytes = tok.TokenBytes(id);
    if (tok.IsSpecial(id) || bytes.empty() || bytes.find('\n') != std::string::npos) continue;
    for (int start = 0; start < kUtf8States; ++start) {
      int st = start;
      for (size_t i = 0; i < bytes.size() && st >= 0; ++i)
        st = Utf8Step(st, static_cast<unsigned char>(bytes[i]));
      utf8_next_[static_cast<size_t>(id) * kUtf8States + start] = static_cast<int8_t>(st);
    }
  }
  for (int st = 0; st < kUtf8States; ++st) {
    for (int id = 0; id < V; ++id)
      if (Utf8After(st, id) >= 0) sentence_[st].push_back(id);
    if (st == 0) sentence_[0].push_back(newline_[0]);
    std::sort(sentence_[st].begin(), sentence_[st].end());
    sentence_[st].erase(std::unique(sentence_[st].begin(), sentence_[st].end()),
                        sentence_[st].end());
  }
  // The sentence may not begin with a digit: "7. ..." would read as a list line to anyone who
  // parses the answer by its numbered lines (the served text is read exactly that way).
  const auto starts_with_digit = [&tok](int id) {
    const std::string& b = tok.TokenBytes(id);
    return !b.empty() && b[0] >= '0' && b[0] <= '9';
  };
  for (int id : sentence_[0])
    if (id != newline_[0] && id != numbers_[1][0] && !starts_with_digit(id)) start_.push_back(id);
  start_.push_back(numbers_[1][0]);
  std::sort(start_.begin(), start_.end());
}

int AnswerGrammar::MaxAnswerTokens(const ConstraintOptions& o) const {
  const int newline = static_cast<int>(newline_.size());
  int n =
      o.allow_sentence ? o.max_sentence_tokens + 3 + newline : 0;  // 3: a character's owed bytes
  const int required = o.fit_items >= 0   ? o.fit_items
                       : o.min_items >= 0 ? o.min_items
                                          : o.num_items;
  for (int k = 1; k <= required; ++k)
    n += static_cast<int>(k <= max_items() ? numbers_[static_cast<size_t>(k)].size()
                                           : numbers_.back().size() + 1) +
         max_item_tokens_ + newline;
  return n + 1;  // <|im_end|>
}

int AnswerGrammar::Utf8After(int state, int token) const {
  if (token < 0 || static_cast<size_t>(token) * kUtf8States >= utf8_next_.size()) return -1;
  return utf8_next_[static_cast<size_t>(token) * kUtf8States + state];
}

int AnswerGrammar::Utf8Owed(int state) {
  static constexpr int owed[kUtf8States] = {0, 1, 2, 3, 2, 2, 3, 3};
  return owed[state];
}

void ConstraintOptions::Validate(const AnswerGrammar& g) const {
  if (num_items < 1 || num_items > g.max_items())
    throw Error("num_items must be in [1, " + std::to_string(g.max_items()) + "], got " +
                std::to_string(num_items));
  if (min_items > num_items)
    throw Error("min_items (" + std::to_string(min_items) + ") is above num_items");
  if (max_sentence_tokens < 0) throw Error("max_sentence_tokens must be >= 0");
  for (int i : banned_items)
    if (i < 0 || i >= g.codec().num_items())
      throw Error("banned item " + std::to_string(i) + " is not a catalog index");
  for (int a : banned_artists)
    if (a < 0 || a >= g.num_artists())
      throw Error("banned artist " + std::to_string(a) + " is not an artist index");
}

AnswerConstraint::AnswerConstraint(const AnswerGrammar& g, const ConstraintOptions& o)
    : g_(g), o_(o) {
  o_.Validate(g);
  if (o_.min_items < 0) o_.min_items = o_.num_items;
  for (int i : o_.banned_items) Ban(i);
  for (int a : o_.banned_artists)
    for (int i : g.ItemsOfArtist(a)) Ban(i);
  if (!o_.allow_sentence || o_.max_sentence_tokens == 0) {
    // Straight to the list (or to the end when every item is banned).
    if (Available(0) > 0)
      Force({g_.Number(1)}, kItem);
    else
      state_ = kNext;
  }
}

void AnswerConstraint::Ban(int item) {
  const int leaf = g_.codec().trie().LeafOf(item);
  auto it = std::lower_bound(banned_leaves_.begin(), banned_leaves_.end(), leaf);
  if (it == banned_leaves_.end() || *it != leaf) banned_leaves_.insert(it, leaf);
}

int AnswerConstraint::Available(int node) const {
  const ItemTrie& t = g_.codec().trie();
  const int lo = t.LeafBegin(node), hi = t.LeafEnd(node);
  const auto a = std::lower_bound(banned_leaves_.begin(), banned_leaves_.end(), lo);
  const auto b = std::lower_bound(a, banned_leaves_.end(), hi);
  return (hi - lo) - static_cast<int>(b - a);
}

void AnswerConstraint::Force(std::initializer_list<std::span<const int>> seqs, State then) {
  forced_.clear();
  for (auto seq : seqs) forced_.insert(forced_.end(), seq.begin(), seq.end());
  forced_pos_ = 0;
  after_forced_ = then;
  state_ = forced_.empty() ? then : kForced;
  node_ = 0;
}

std::span<const int> AnswerConstraint::Allowed() {
  if (allowed_valid_) return allowed_;
  allowed_.clear();
  const ItemTrie& trie = g_.codec().trie();
  const int done = static_cast<int>(items_.size());
  switch (state_) {
    case kStart:
      if (Available(0) == 0)
        allowed_.push_back(g_.im_end());
      else
        return allowed_valid_ = true, allowed_ = g_.StartTokens(), allowed_;
      break;
    case kSentence:
      if (sentence_tokens_ < o_.max_sentence_tokens)
        return allowed_valid_ = true, allowed_ = g_.SentenceTokens(utf8_state_), allowed_;
      if (utf8_state_ == 0) {
        allowed_.push_back(g_.Newline()[0]);
      } else {  // over the length limit: only tokens that bring the open character closer to its
                // end
        for (int t : g_.SentenceTokens(utf8_state_))
          if (AnswerGrammar::Utf8Owed(g_.Utf8After(utf8_state_, t)) <
              AnswerGrammar::Utf8Owed(utf8_state_))
            allowed_.push_back(t);
      }
      break;
    case kForced:
      allowed_.push_back(forced_[forced_pos_]);
      break;
    case kItem:
      for (int t : trie.Allowed(node_))
        if (Available(trie.Next(node_, t)) > 0) allowed_.push_back(t);
      break;
    case kNext:
      if (done < o_.num_items && Available(0) > 0) allowed_.push_back(g_.Number(done + 1)[0]);
      if (done >= o_.min_items || Available(0) == 0 || done >= o_.num_items)
        allowed_.push_back(g_.im_end());
      std::sort(allowed_.begin(), allowed_.end());
      break;
    case kDone:
      break;
  }
  allowed_valid_ = true;
  if (allowed_.empty() && state_ != kDone)
    throw Error("internal: the answer constraint left no allowed token");
  return allowed_;
}

void AnswerConstraint::Advance(int token) {
  const auto allowed = Allowed();  // ascending in every state
  if (!std::binary_search(allowed.begin(), allowed.end(), token))
    throw Error("token " + std::to_string(token) + " is not allowed here by the answer constraint");
  allowed_valid_ = false;
  const ItemTrie& trie = g_.codec().trie();
  const int done = static_cast<int>(items_.size());
  auto tail = [](const std::vector<int>& v) { return std::span<const int>(v).subspan(1); };
  switch (state_) {
    case kStart:
      if (token == g_.im_end())
        state_ = kDone;
      else if (token == g_.Number(1)[0])
        Force({tail(g_.Number(1))}, kItem);
      else
        state_ = kSentence, sentence_tokens_ = 1, utf8_state_ = g_.Utf8After(0, token);
      break;
    case kSentence:
      if (token == g_.Newline()[0] && utf8_state_ == 0) {
        Force({tail(g_.Newline()), g_.Number(1)}, kItem);  // the list starts
      } else {
        ++sentence_tokens_;
        utf8_state_ = g_.Utf8After(utf8_state_, token);
      }
      break;
    case kForced:
      if (++forced_pos_ >= forced_.size()) state_ = after_forced_;
      break;
    case kItem: {
      node_ = trie.Next(node_, token);
      const int item = trie.ItemAt(node_);
      if (item >= 0) {
        items_.push_back(item);
        Ban(item);
        if (o_.one_per_artist && g_.ArtistOf(item) >= 0)
          for (int other : g_.ItemsOfArtist(g_.ArtistOf(item))) Ban(other);
        Force({g_.Newline()}, kNext);
      }
      break;
    }
    case kNext:
      if (token == g_.im_end())
        state_ = kDone;
      else
        Force({tail(g_.Number(done + 1))}, kItem);
      break;
    case kDone:
      break;
  }
}

}  // namespace muchator
