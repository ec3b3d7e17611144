#include "infer/constraint.h"

#include <algorithm>
#include <unordered_map>

#include "core/error.h"
#include "text/special_tokens.h"

namespace muchator {

AnswerGrammar::AnswerGrammar(const Tokenizer& tok, const ItemCodec& codec, const Catalog& catalog, int max_items)
    : codec_(codec), im_end_(tok.TokenId(tok::kImEnd)) {
  if (im_end_ < 0) throw Error("the tokenizer has no " + std::string(tok::kImEnd) + " token", "", "use a MuChator tokenizer");
  if (static_cast<int>(catalog.items.size()) != codec.num_items())
    throw Error("the catalog has " + std::to_string(catalog.items.size()) + " items but the codec " +
                std::to_string(codec.num_items()), "", "load the codec saved with this catalog");
  numbers_.emplace_back();  // index 0 unused
  for (int k = 1; k <= max_items; ++k) numbers_.push_back(tok.Encode(std::to_string(k) + ". "));
  newline_ = tok.Encode("\n");
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
  for (int id = 0; id < tok.vocab_size(); ++id) {
    const std::string& bytes = tok.TokenBytes(id);
    if (tok.IsSpecial(id) || bytes.empty() || bytes.find('\n') != std::string::npos) continue;
    sentence_.push_back(id);
  }
  sentence_or_newline_ = sentence_;
  sentence_or_newline_.push_back(newline_[0]);
  std::sort(sentence_or_newline_.begin(), sentence_or_newline_.end());
  sentence_or_newline_.erase(std::unique(sentence_or_newline_.begin(), sentence_or_newline_.end()), sentence_or_newline_.end());
  start_ = sentence_;
  if (std::find(start_.begin(), start_.end(), numbers_[1][0]) == start_.end()) start_.push_back(numbers_[1][0]);
  std::sort(start_.begin(), start_.end());
}

void ConstraintOptions::Validate(const AnswerGrammar& g) const {
  if (num_items < 1 || num_items > g.max_items())
    throw Error("num_items must be in [1, " + std::to_string(g.max_items()) + "], got " + std::to_string(num_items));
  if (min_items > num_items) throw Error("min_items (" + std::to_string(min_items) + ") is above num_items");
  if (max_sentence_tokens < 0) throw Error("max_sentence_tokens must be >= 0");
  for (int i : banned_items)
    if (i < 0 || i >= g.codec().num_items()) throw Error("banned item " + std::to_string(i) + " is not a catalog index");
  for (int a : banned_artists)
    if (a < 0 || a >= g.num_artists()) throw Error("banned artist " + std::to_string(a) + " is not an artist index");
}

AnswerConstraint::AnswerConstraint(const AnswerGrammar& g, const ConstraintOptions& o) : g_(g), o_(o) {
  o_.Validate(g);
  if (o_.min_items < 0) o_.min_items = o_.num_items;
  for (int i : o_.banned_items) Ban(i);
  for (int a : o_.banned_artists)
    for (int i : g.ItemsOfArtist(a)) Ban(i);
  if (!o_.allow_sentence || o_.max_sentence_tokens == 0) {
    // Straight to the list (or to the end when every item is banned).
    if (Available(0) > 0) Force({g_.Number(1)}, kItem);
    else state_ = kNext;
  }
}

bool AnswerConstraint::Banned(int item) const {
  const int leaf = g_.codec().trie().LeafOf(item);
  return std::binary_search(banned_leaves_.begin(), banned_leaves_.end(), leaf);
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
      if (Available(0) == 0) allowed_.push_back(g_.im_end());
      else return allowed_valid_ = true, allowed_ = g_.StartTokens(), allowed_;
      break;
    case kSentence:
      if (sentence_tokens_ >= o_.max_sentence_tokens) allowed_.push_back(g_.Newline()[0]);
      else return allowed_valid_ = true, allowed_ = g_.SentenceOrNewline(), allowed_;
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
      if (done >= o_.min_items || Available(0) == 0 || done >= o_.num_items) allowed_.push_back(g_.im_end());
      std::sort(allowed_.begin(), allowed_.end());
      break;
    case kDone:
      break;
  }
  allowed_valid_ = true;
  if (allowed_.empty() && state_ != kDone) throw Error("internal: the answer constraint left no allowed token");
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
      if (token == g_.im_end()) state_ = kDone;
      else if (token == g_.Number(1)[0]) Force({tail(g_.Number(1))}, kItem);
      else state_ = kSentence, sentence_tokens_ = 1;
      break;
    case kSentence:
      if (token == g_.Newline()[0]) Force({tail(g_.Newline()), g_.Number(1)}, kItem);  // the list starts
      else ++sentence_tokens_;
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
      if (token == g_.im_end()) state_ = kDone;
      else Force({tail(g_.Number(done + 1))}, kItem);
      break;
    case kDone:
      break;
  }
}

}  // namespace muchator
