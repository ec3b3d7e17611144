// Training a byte-level BPE vocabulary from text.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace muchator {

struct BpeTrainOptions {
  int vocab_size = 8000;                    // including the 256 byte tokens and the special tokens
  int64_t min_frequency = 2;                // a pair must occur at least this often to be merged
  std::vector<std::string> special_tokens;  // appended as added tokens after the merges
  std::string pattern = kQwen2Pattern;
  bool nfc = true;
};

// Feeds every training text to the callback it is given (so callers can stream from a store).
using TextSource = std::function<void(const std::function<void(std::string_view)>&)>;

// Learns merges greedily: at each step the most frequent adjacent pair of symbols (ties broken by
// the lexicographically smallest pair of token strings, so training is deterministic) becomes a
// new token, until vocab_size - special tokens is reached or no pair reaches min_frequency.
// Ids: 0-255 are the bytes (in byte order), then merges in order, then special tokens.
std::unique_ptr<Tokenizer> TrainBpe(const TextSource& texts, const BpeTrainOptions& options);

}  // namespace muchator
