// A compiled Unicode regular expression (PCRE2, UTF + UCP, JIT when available) used to split text
// into pre-tokens. Immutable after construction; Split() is thread-safe (per-call match data).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace muchator {

class Regex {
 public:
  // Throws Error with the PCRE2 message and offset when the pattern does not compile.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls fn for every piece of `text` in order: each match, and each gap between matches
  // (HF's "Isolated" split behaviour), so the pieces concatenate back to `text`.
  // `text` must be valid UTF-8.
  void Split(std::string_view text, const std::function<void(std::string_view)>& fn) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muchator
