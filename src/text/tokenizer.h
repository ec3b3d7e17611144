// Byte-level BPE tokenizer of the GPT-2 / Qwen2 family, compatible with Hugging Face
// `tokenizer.json` (BPE model, byte-level pre-tokenizer and decoder, optional NFC normaliser,
// added tokens). The pre-tokenizer pattern and the normalisation come from the file.
//
// Thread safety: Encode/Decode are safe to call concurrently (the word cache is locked);
// AddSpecialToken is not.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/regex.h"

namespace muchator {

// GPT-2's pre-tokenizer regex (HF ByteLevel with use_regex: true).
inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Qwen2/Qwen3's pre-tokenizer regex (digits one at a time, case-insensitive contractions).
inline constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// GPT-2's reversible byte -> printable character map, as UTF-8 strings (e.g. ' ' -> "Ġ").
const std::string& ByteToUnicode(uint8_t b);

class Tokenizer {
 public:
  struct Added {
    int id;
    std::string content;
    bool special;
  };

  // Builds a tokenizer from its parts. `vocab`: token string (byte-level alphabet) -> id; it must
  // contain all 256 single-byte tokens. `merges`: pairs of token strings in rank order.
  Tokenizer(std::unordered_map<std::string, int> vocab,
            std::vector<std::pair<std::string, std::string>> merges, std::string pattern, bool nfc,
            bool add_prefix_space = false, bool ignore_merges = false);
  ~Tokenizer();

  // Loads a Hugging Face tokenizer.json. Throws Error naming the file and what is unsupported.
  static std::unique_ptr<Tokenizer> LoadHf(const std::string& path);
  // Loads the vocab.json + merges.txt pair (GPT-2 style; pattern given, no normalisation).
  static std::unique_ptr<Tokenizer> LoadVocabMerges(const std::string& vocab_path,
                                                    const std::string& merges_path,
                                                    const std::string& pattern = kGpt2Pattern);
  // Loads whatever a user points at: a tokenizer.json, a directory holding one, or a GPT-2 style
  // "...vocab.json" with "...merges.txt" beside it.
  static std::unique_ptr<Tokenizer> Load(const std::string& path);
  // Writes a tokenizer.json that Hugging Face `tokenizers` reads (atomic write).
  void SaveHf(const std::string& path) const;

  // Token ids of `text`; no BOS/EOS; added-token text in `text` is encoded as ordinary text.
  std::vector<int> Encode(std::string_view text) const;
  // Like Encode, but occurrences of added tokens' content become their ids (for prompts that
  // contain template markers as text).
  std::vector<int> EncodeWithSpecial(std::string_view text) const;
  // Bytes of the ids concatenated (added tokens as their content). May be invalid UTF-8 when the
  // ids cut a character; use DecodeValid for display.
  std::string Decode(std::span<const int> ids) const;

  // Appends an added (special) token and returns its id; returns the existing id if present.
  int AddSpecialToken(const std::string& content);
  // Id of a token (vocab string or added-token content), or -1.
  int TokenId(const std::string& token) const;
  // The raw bytes a token decodes to.
  const std::string& TokenBytes(int id) const { return bytes_[id]; }
  bool IsSpecial(int id) const;
  int vocab_size() const { return static_cast<int>(bytes_.size()); }
  const std::vector<Added>& added_tokens() const { return added_; }
  const std::string& pattern() const { return pattern_; }
  size_t num_merges() const { return merges_.size(); }

 private:
  void EncodeWord(std::string_view word, std::vector<int>& out) const;
  void EncodeOrdinary(std::string_view text, std::vector<int>& out) const;

  std::unordered_map<std::string, int> vocab_;  // byte-level token string -> id
  std::vector<std::string> token_strings_;      // id -> byte-level string ("" for gaps)
  std::vector<std::string> bytes_;              // id -> raw bytes
  std::vector<std::pair<std::string, std::string>> merges_;
  std::unordered_map<uint64_t, std::pair<int, int>>
      merge_rank_;  // (left,right) -> (rank, merged id)
  int byte_id_[256];
  std::vector<Added> added_;
  std::string pattern_;
  std::unique_ptr<Regex> regex_;
  bool nfc_, add_prefix_space_, ignore_merges_;
  // Word -> ids cache: pre-tokens repeat heavily in natural text.
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int>> cache_;
};

// NFC-normalises UTF-8 text (utf8proc); invalid UTF-8 is returned unchanged.
std::string NfcNormalize(std::string_view text);

}  // namespace muchator
