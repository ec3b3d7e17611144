// Choosing the next token from logits: greedy, temperature, top-k, top-p, seeded, optionally
// restricted to a set of allowed tokens (constrained decoding). Plain C++ on one row of logits:
// the rows are small (one per sequence) and the choice must be reproducible bit for bit.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/rng.h"

namespace muchator {

struct SamplingOptions {
  double temperature = 0.0;  // 0 = greedy (argmax; ties go to the lowest token id)
  int top_k = 0;             // keep the k most likely tokens; 0 = all
  double top_p = 1.0;        // keep the smallest most-likely set whose probability reaches top_p
  uint64_t seed = 0;         // each sequence draws from its own stream: Rng(seed)
  int max_new_tokens = 256;  // stop after this many generated tokens
  void Validate() const;     // throws Error naming the bad field
};

// The chosen token. `allowed` (ascending or not) restricts the choice; empty = every token.
// Tokens with logit -inf are never chosen, unless one is the only candidate (a forced token).
// A single candidate is returned without drawing from `rng`, so a forced continuation consumes
// no randomness (the one-pass continuation and token-by-token decoding then give the same text).
// Throws Error when no token is possible.
int SampleToken(std::span<const float> logits, std::span<const int> allowed,
                const SamplingOptions& o, Rng& rng,
                std::vector<std::pair<float, int>>* scratch = nullptr);

}  // namespace muchator
