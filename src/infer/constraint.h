// Catalog-constrained decoding of an answer: a state machine for the answer's format
//   [one short sentence\n]1. <item>\n2. <item>\n ... <|im_end|>
// walked together with the item codec's trie, so every emitted item exists in the catalog, is
// not banned for this request (already recommended, disliked, excluded by the caller), appears
// once, and - when asked - at most one song per artist is listed. The format's token sequences
// are exactly RenderAnswer's (text/chat.h), so ParseAnswer reads every constrained answer as
// well formed.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "text/item_codec.h"
#include "text/tokenizer.h"

namespace muchator {

// What does not change between requests: the format's token sequences, which tokens may appear
// in the sentence, and each item's artist. Build once per (tokenizer, codec, catalog).
struct ConstraintOptions;

class AnswerGrammar {
 public:
  // `catalog` gives each item's artist (artist_id, else the artist's name); items without an
  // artist are never capped. Numbers up to `max_items` are prepared.
  AnswerGrammar(const Tokenizer& tok, const ItemCodec& codec, const Catalog& catalog,
                int max_items = 100);

  const ItemCodec& codec() const { return codec_; }
  int max_items() const { return static_cast<int>(numbers_.size()) - 1; }
  const std::vector<int>& Number(int k) const { return numbers_[k]; }  // tokens of "k. "
  const std::vector<int>& Newline() const { return newline_; }         // tokens of "\n"
  int im_end() const { return im_end_; }
  int ArtistOf(int item) const { return artist_of_[item]; }  // -1 = none
  const std::vector<int>& ItemsOfArtist(int artist) const { return items_of_artist_[artist]; }
  int num_artists() const { return static_cast<int>(items_of_artist_.size()); }
  // An upper bound on the tokens of a complete answer under `o`: the sentence when allowed (its
  // cap, the bytes a character may still owe, the newline), one line of "k. ", the catalog's
  // longest item and a newline for each song that must fit (o.fit_items, else o.min_items, else
  // num_items; a pool asks for more than it needs and may be cut), then <|im_end|>. A prompt longer
  // than the context less this cannot be answered with a whole list (Engine::Submit refuses it;
  // FitPrompt fits one).
  int MaxAnswerTokens(const ConstraintOptions& o) const;
  // The sentence is kept valid UTF-8: byte-level tokens may hold part of a character, so what
  // may come next depends on the state of a UTF-8 automaton (kUtf8States states; 0 = between
  // characters; the others owe 1-3 continuation bytes, some with a narrower range for the next
  // byte, which rules out overlong forms, surrogates and code points above U+10FFFF).
  static constexpr int kUtf8States = 8;
  // Tokens a sentence may use in `state`: ordinary (not special) tokens without a newline that
  // keep the text valid, ascending; in state 0 also the first token of "\n" (the sentence ends).
  const std::vector<int>& SentenceTokens(int state) const { return sentence_[state]; }
  // The automaton's state after `token` from `state` (-1 when the bytes would be invalid).
  int Utf8After(int state, int token) const;
  static int Utf8Owed(int state);  // continuation bytes still owed in `state`
  // At the start: the first token of "1. " plus the open = 0 sentence tokens that are not it and
  // do not begin with a digit (a sentence never reads as a numbered list line), ascending.
  const std::vector<int>& StartTokens() const { return start_; }

 private:
  const ItemCodec& codec_;
  std::vector<std::vector<int>> numbers_;
  std::vector<int> newline_;
  int im_end_;
  int max_item_tokens_ = 0;  // the catalog's longest item encoding
  std::vector<int> artist_of_;
  std::vector<std::vector<int>> items_of_artist_;
  std::vector<int> sentence_[kUtf8States], start_;
  std::vector<int8_t>
      utf8_next_;  // [token * kUtf8States + state] -> state, -1 = invalid or not a sentence token
};

struct ConstraintOptions {
  int num_items = 10;  // at most this many items
  int min_items = -1;  // at least this many (-1 = num_items), unless no allowed item is left
  bool allow_sentence = true;       // one short sentence may come before the list
  int max_sentence_tokens = 32;     // then the newline is forced
  std::vector<int> banned_items;    // catalog indexes that must not be emitted
  std::vector<int> banned_artists;  // grammar artist ids (AnswerGrammar::ArtistOf) whose songs must
                                    // not be emitted
  bool one_per_artist = false;      // at most one song per artist in this answer
  // Songs that must fit in the context with the prompt (Engine::Submit's check, MaxAnswerTokens);
  // -1 = min_items, or num_items. A pool listed until the context is full sets the answer's size.
  int fit_items = -1;
  void Validate(const AnswerGrammar& g) const;  // throws Error naming the bad field
};

class AnswerConstraint {
 public:
  AnswerConstraint(const AnswerGrammar& g, const ConstraintOptions& o);
  // The tokens allowed next; never empty before Done(). Valid until the next Advance.
  std::span<const int> Allowed();
  // Appends `token`; throws Error if it is not allowed.
  void Advance(int token);
  bool Done() const { return state_ == kDone; }
  const std::vector<int>& items() const { return items_; }

 private:
  enum State { kStart, kSentence, kForced, kItem, kNext, kDone };
  void Ban(int item);
  int Available(int node) const;  // items below a trie node that are not banned
  // Continue with the fixed tokens `seq` (from position `from`), then enter `then`.
  void Force(std::initializer_list<std::span<const int>> seqs, State then);

  const AnswerGrammar& g_;
  ConstraintOptions o_;
  State state_ = kStart;
  int sentence_tokens_ = 0;
  int utf8_state_ = 0;       // AnswerGrammar's UTF-8 automaton state after the sentence so far
  std::vector<int> forced_;  // kForced: the fixed tokens, the position, what follows
  size_t forced_pos_ = 0;
  State after_forced_ = kItem;
  int node_ = 0;                    // kItem: position in the trie
  std::vector<int> banned_leaves_;  // sorted trie leaf numbers
  std::vector<int> items_;
  std::vector<int> allowed_;
  bool allowed_valid_ = false;
};

}  // namespace muchator
