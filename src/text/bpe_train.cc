#include "text/bpe_train.h"

#include <set>
#include <tuple>
#include <unordered_map>

#include "core/error.h"
#include "core/log.h"

namespace muchator {

namespace {

uint64_t Key(int a, int b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

struct Word {
  std::vector<int> symbols;
  int64_t count;
};

}  // namespace

std::unique_ptr<Tokenizer> TrainBpe(const TextSource& texts, const BpeTrainOptions& options) {
  const int target = options.vocab_size - static_cast<int>(options.special_tokens.size());
  if (target < 256)
    throw Error("--vocab-size must leave room for the 256 byte tokens and the special tokens");
  Regex regex(options.pattern);

  // 1. Word frequencies of the pre-tokenized corpus.
  std::unordered_map<std::string, int64_t> freq;
  texts([&](std::string_view text) {
    std::string norm = options.nfc ? NfcNormalize(text) : std::string(text);
    regex.Split(norm, [&](std::string_view piece) { ++freq[std::string(piece)]; });
  });
  // Deterministic word order whatever the hash map did.
  std::vector<std::pair<std::string, int64_t>> sorted(freq.begin(), freq.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<Word> words;
  for (auto& [w, c] : sorted) {
    Word word{{}, c};
    for (unsigned char ch : w) word.symbols.push_back(ch);
    words.push_back(std::move(word));
  }

  // 2. Token strings (byte-level alphabet) and pair statistics.
  std::vector<std::string> tokens;
  std::unordered_map<std::string, int> token_id;
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(ByteToUnicode(static_cast<uint8_t>(b)));
    token_id.emplace(tokens.back(), b);
  }
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<int>> pair_words;  // may hold stale entries
  // Ordered by count (desc), then token strings (asc): begin() is the next merge.
  auto cmp = [&](const std::tuple<int64_t, int, int>& x, const std::tuple<int64_t, int, int>& y) {
    if (std::get<0>(x) != std::get<0>(y)) return std::get<0>(x) > std::get<0>(y);
    const int c1 = tokens[std::get<1>(x)].compare(tokens[std::get<1>(y)]);
    if (c1 != 0) return c1 < 0;
    return tokens[std::get<2>(x)] < tokens[std::get<2>(y)];
  };
  std::set<std::tuple<int64_t, int, int>, decltype(cmp)> queue(cmp);
  auto add = [&](int a, int b, int64_t delta, int word) {
    const uint64_t k = Key(a, b);
    int64_t& c = pair_count[k];
    if (c > 0) queue.erase({c, a, b});
    c += delta;
    if (c > 0) queue.insert({c, a, b});
    if (delta > 0 && word >= 0) pair_words[k].push_back(word);
  };
  for (int w = 0; w < static_cast<int>(words.size()); ++w)
    for (size_t i = 0; i + 1 < words[w].symbols.size(); ++i)
      add(words[w].symbols[i], words[w].symbols[i + 1], words[w].count, w);

  // 3. Greedy merges.
  std::vector<std::pair<std::string, std::string>> merges;
  Progress progress("bpe merges", target - 256, "merges");
  while (static_cast<int>(tokens.size()) < target && !queue.empty()) {
    // (a, b) is copied out: the set entry is erased while the words are updated.
    const auto [count, a, b] = *queue.begin();
    if (count < options.min_frequency) break;
    // Two different pairs can spell the same string ("a"+"bc", "ab"+"c"): reuse its id then.
    const std::string spelled = tokens[a] + tokens[b];
    auto [it, fresh] = token_id.emplace(spelled, static_cast<int>(tokens.size()));
    if (fresh) tokens.push_back(spelled);
    const int merged = it->second;
    merges.emplace_back(tokens[a], tokens[b]);
    std::vector<int> affected = std::move(pair_words[Key(a, b)]);
    std::sort(affected.begin(), affected.end());
    affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
    for (int w : affected) {
      auto& s = words[w].symbols;
      bool has = false;
      for (size_t i = 0; i + 1 < s.size(); ++i) has |= s[i] == a && s[i + 1] == b;
      if (!has) continue;  // stale index entry
      const int64_t c = words[w].count;
      for (size_t i = 0; i + 1 < s.size(); ++i) add(s[i], s[i + 1], -c, -1);
      std::vector<int> out;
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          out.push_back(merged);
          i += 2;
        } else {
          out.push_back(s[i++]);
        }
      }
      s = std::move(out);
      for (size_t i = 0; i + 1 < s.size(); ++i) add(s[i], s[i + 1], c, w);
    }
    progress.Add();
  }
  progress.Finish();

  auto tok = std::make_unique<Tokenizer>(std::move(token_id), std::move(merges), options.pattern,
                                         options.nfc);
  for (const auto& s : options.special_tokens) tok->AddSpecialToken(s);
  return tok;
}

}  // namespace muchator
