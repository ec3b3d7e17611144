// Phrases that everyday text says mean the same ("if you hear lull me to dreamland, think sleep"),
// mined from documents, and requests reworded with them.
//
// Why: listeners word a situation in ways the logged requests never did ("floating among
// galaxies"). A general-language corpus says what such phrases mean, in a few fixed English cues
// ("X is just another way of saying Y", "when someone says X, they usually mean Y"). GRPO trained
// only on the logged wording learns to serve that wording; rewording its training requests with
// the phrases the corpus pairs with theirs lets what it learns carry to new wording (docs/rl.md,
// "Requests reworded in everyday language").
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/rng.h"

namespace muchator {

class ParaphraseLexicon {
 public:
  // Phrases of more words than this are not kept (a cue matched across a longer clause).
  static constexpr int kMaxPhraseWords = 8;
  // Reads every sentence of `text` (split at ". ", "! ", "? ") that matches one of the paraphrase
  // cues and records its two phrases as partners of each other. Case is ignored; phrases are kept
  // lower-case.
  void AddText(std::string_view text);
  // Adds one pair (lower-cased, trimmed); pairs of equal or empty phrases are ignored.
  void AddPair(std::string_view a, std::string_view b);

  // The phrases stated to mean the same as `phrase` (lower-case), each once, in first-seen order.
  const std::vector<std::string>& Partners(const std::string& phrase) const;
  size_t phrases() const { return partners_.size(); }
  size_t pairs() const { return pairs_; }

  // `text` with each phrase of the lexicon it contains (whole words, longest first, not
  // overlapping; case ignored) swapped with probability `p` for one of its partners, drawn from
  // those whose word key (WordKey) `avoid` does not hold when there are any. `swapped` (optional)
  // counts the swaps. The rest of the text is kept as it is.
  std::string Reword(std::string_view text, double p, const std::set<std::string>& avoid, Rng& rng,
                     int* swapped = nullptr) const;

 private:
  std::map<std::string, std::vector<std::string>> partners_;
  std::vector<const std::string*> longest_first_;  // the keys of partners_, longest first
  size_t pairs_ = 0;
};

// A phrase's words, lower-case, split at anything but ASCII letters, digits and ', joined by one
// space: "Sing-Along!" -> "sing along".
std::string WordKey(std::string_view phrase);
// Adds the word key of every run of 1..max_words consecutive words of `text` to `out`: the set
// against which "does this phrase occur in those texts" is checked (Reword's `avoid`).
void AddWordRuns(std::string_view text, int max_words, std::set<std::string>* out);

}  // namespace muchator
