#include "text/tokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <queue>

#include "core/error.h"
#include "core/file.h"

namespace muchator {

using nlohmann::json;

namespace {

std::string CodepointUtf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

struct ByteMap {
  std::string to_unicode[256];
  std::unordered_map<std::string, uint8_t> to_byte;
  ByteMap() {
    // GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n.
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable =
          (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      to_unicode[b] = CodepointUtf8(printable ? b : 256 + n++);
      to_byte[to_unicode[b]] = static_cast<uint8_t>(b);
    }
  }
};

const ByteMap& Bytes() {
  static const ByteMap m;
  return m;
}

// Byte-level token string -> raw bytes; throws when a character is not in the byte alphabet.
std::string ToRawBytes(const std::string& token) {
  std::string out;
  size_t i = 0;
  while (i < token.size()) {
    size_t len = 1;
    const auto c = static_cast<unsigned char>(token[i]);
    if (c >= 0xF0)
      len = 4;
    else if (c >= 0xE0)
      len = 3;
    else if (c >= 0xC0)
      len = 2;
    auto it = Bytes().to_byte.find(token.substr(i, len));
    if (it == Bytes().to_byte.end())
      throw Error("token '" + token + "' is not in the byte-level alphabet");
    out += static_cast<char>(it->second);
    i += len;
  }
  return out;
}

uint64_t PairKey(int a, int b) {
  return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
}

// Token ids index dense tables: 0..kMaxTokenId, so a corrupt or hostile file cannot make them
// overflow or size a multi-gigabyte table.
constexpr int64_t kMaxTokenId = (1 << 24) - 1;

// A token id read from a tokenizer.json, checked before nlohmann converts it: a float such as
// 5e37 converted to int is undefined behaviour (found by fuzz/tokenizer_fuzz.cc under UBSan).
int TokenIdOf(const nlohmann::json& v, const std::string& what, const std::string& path) {
  const bool in_range =
      v.is_number_unsigned()
          ? v.get<uint64_t>() <= static_cast<uint64_t>(kMaxTokenId)
          : v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= kMaxTokenId;
  if (!in_range)
    throw Error(
        what + " has id " + v.dump() + ", not an integer in 0.." + std::to_string(kMaxTokenId),
        path, "a tokenizer.json numbers its tokens 0..N-1");
  return static_cast<int>(v.get<int64_t>());
}

// A vocabulary object (tokenizer.json's model.vocab, a vocab.json): token -> checked id.
std::unordered_map<std::string, int> VocabOf(const nlohmann::json& v, const std::string& path) {
  if (!v.is_object())
    throw Error("the vocabulary is not an object of token -> id", path, "give a BPE tokenizer");
  std::unordered_map<std::string, int> vocab;
  for (const auto& item : v.items())
    vocab[item.key()] = TokenIdOf(item.value(), "token '" + item.key() + "'", path);
  return vocab;
}

}  // namespace

const std::string& ByteToUnicode(uint8_t b) { return Bytes().to_unicode[b]; }

std::string NfcNormalize(std::string_view text) {
  utf8proc_uint8_t* out = nullptr;
  const auto n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), text.size(), &out,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) return std::string(text);
  std::string s(reinterpret_cast<char*>(out), n);
  std::free(out);
  return s;
}

Tokenizer::Tokenizer(std::unordered_map<std::string, int> vocab,
                     std::vector<std::pair<std::string, std::string>> merges, std::string pattern,
                     bool nfc, bool add_prefix_space, bool ignore_merges)
    : vocab_(std::move(vocab)),
      merges_(std::move(merges)),
      pattern_(std::move(pattern)),
      regex_(std::make_unique<Regex>(pattern_)),
      nfc_(nfc),
      add_prefix_space_(add_prefix_space),
      ignore_merges_(ignore_merges) {
  // Checked again here for vocabularies that do not come from a file (kMaxTokenId).
  int max_id = -1;
  for (auto& [tok, id] : vocab_) {
    if (id < 0 || id > kMaxTokenId)
      throw Error("token id " + std::to_string(id) + " of '" + tok + "' is outside 0.." +
                      std::to_string(kMaxTokenId),
                  "", "a tokenizer.json vocabulary numbers its tokens 0..N-1");
    max_id = std::max(max_id, id);
  }
  token_strings_.assign(max_id + 1, "");
  bytes_.assign(max_id + 1, "");
  for (auto& [tok, id] : vocab_) {
    token_strings_[id] = tok;
    bytes_[id] = ToRawBytes(tok);
  }
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(ByteToUnicode(static_cast<uint8_t>(b)));
    if (it == vocab_.end())
      throw Error("the vocabulary lacks the single-byte token for byte " + std::to_string(b), "",
                  "a byte-level BPE vocabulary must contain all 256 byte tokens");
    byte_id_[b] = it->second;
  }
  for (size_t r = 0; r < merges_.size(); ++r) {
    const auto& [a, b] = merges_[r];
    auto ia = vocab_.find(a), ib = vocab_.find(b), im = vocab_.find(a + b);
    if (ia == vocab_.end() || ib == vocab_.end() || im == vocab_.end())
      throw Error("merge " + std::to_string(r + 1) + " ('" + a + "' '" + b +
                  "') names a token not in the vocabulary");
    merge_rank_.emplace(PairKey(ia->second, ib->second),
                        std::make_pair(static_cast<int>(r), im->second));
  }
}

Tokenizer::~Tokenizer() = default;

int Tokenizer::AddSpecialToken(const std::string& content) {
  for (auto& a : added_)
    if (a.content == content) return a.id;
  const int id = static_cast<int>(bytes_.size());
  added_.push_back({id, content, true});
  token_strings_.push_back(content);
  bytes_.push_back(content);
  return id;
}

int Tokenizer::TokenId(const std::string& token) const {
  for (auto& a : added_)
    if (a.content == token) return a.id;
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

bool Tokenizer::IsSpecial(int id) const {
  for (auto& a : added_)
    if (a.id == id) return a.special;
  return false;
}

// BPE on one pre-token: a linked list of symbols and a min-heap of candidate merges ordered by
// (rank, position), so a word of n bytes costs O(n log n) even for long repeated runs. Merging
// the lowest-ranked pair, leftmost first, gives exactly GPT-2's result.
void Tokenizer::EncodeWord(std::string_view word, std::vector<int>& out) const {
  if (ignore_merges_) {
    std::string mapped;
    for (unsigned char c : word) mapped += ByteToUnicode(c);
    auto it = vocab_.find(mapped);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const int n = static_cast<int>(word.size());
  std::vector<int> id(n), prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    id[i] = byte_id_[static_cast<unsigned char>(word[i])];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Cand {
    int rank, pos, left, right;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    auto it = merge_rank_.find(PairKey(id[pos], id[next[pos]]));
    if (it != merge_rank_.end()) heap.push({it->second.first, pos, id[pos], id[next[pos]]});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    const int r = next[c.pos];
    if (id[c.pos] != c.left || r < 0 || id[r] != c.right) continue;  // stale
    id[c.pos] = merge_rank_.at(PairKey(c.left, c.right)).second;
    id[r] = -1;  // removed
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  for (int i = 0; i >= 0 && i < n; i = next[i]) out.push_back(id[i]);
}

void Tokenizer::EncodeOrdinary(std::string_view text, std::vector<int>& out) const {
  std::string normalized;
  if (nfc_) {
    normalized = NfcNormalize(text);
    text = normalized;
  }
  std::string prefixed;
  if (add_prefix_space_ && !text.empty() && text[0] != ' ') {
    prefixed = " " + std::string(text);
    text = prefixed;
  }
  regex_->Split(text, [&](std::string_view piece) {
    std::string key(piece);
    {
      std::lock_guard lock(cache_mu_);
      auto it = cache_.find(key);
      if (it != cache_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int> ids;
    EncodeWord(piece, ids);
    out.insert(out.end(), ids.begin(), ids.end());
    std::lock_guard lock(cache_mu_);
    if (cache_.size() > 500000) cache_.clear();  // bounded memory on endless streams of new words
    cache_.emplace(std::move(key), std::move(ids));
  });
}

std::vector<int> Tokenizer::Encode(std::string_view text) const {
  std::vector<int> out;
  out.reserve(text.size() / 3 + 4);
  EncodeOrdinary(text, out);
  return out;
}

std::vector<int> Tokenizer::EncodeWithSpecial(std::string_view text) const {
  std::vector<int> out;
  size_t pos = 0;
  while (pos < text.size()) {
    // The earliest (then longest) added token at or after pos.
    size_t best = std::string_view::npos, best_len = 0;
    int best_id = -1;
    for (const auto& a : added_) {
      const size_t p = text.find(a.content, pos);
      if (p != std::string_view::npos && (p < best || (p == best && a.content.size() > best_len)))
        best = p, best_len = a.content.size(), best_id = a.id;
    }
    if (best == std::string_view::npos) break;
    EncodeOrdinary(text.substr(pos, best - pos), out);
    out.push_back(best_id);
    pos = best + best_len;
  }
  if (pos < text.size()) EncodeOrdinary(text.substr(pos), out);
  return out;
}

std::string Tokenizer::Decode(std::span<const int> ids) const {
  std::string s;
  for (int id : ids) {
    if (id < 0 || id >= vocab_size())
      throw Error("token id " + std::to_string(id) + " is out of range [0, " +
                  std::to_string(vocab_size()) + ")");
    s += bytes_[id];
  }
  return s;
}

// ---- Hugging Face files ----

// A function-try-block: any shape the loader does not expect (a string where an object should be,
// a missing key) surfaces from nlohmann as json::exception, reported as one Error naming the file
// (found by fuzz/tokenizer_fuzz.cc: '[1,2,3]' escaped as a type_error).
std::unique_ptr<Tokenizer> Tokenizer::LoadHf(const std::string& path) try {
  json j;
  try {
    j = json::parse(ReadFile(path));
  } catch (const json::exception& e) {
    throw Error(std::string("not valid JSON: ") + e.what(), path,
                "give a Hugging Face tokenizer.json");
  }
  if (!j.is_object())
    throw Error("not a tokenizer.json: the top level is not a JSON object", path,
                "give a Hugging Face tokenizer.json");
  const json& model = j.value("model", json::object());
  if (model.value("type", "BPE") != "BPE")
    throw Error("unsupported model type '" + model.value("type", "") + "'", path,
                "only BPE tokenizers are supported");
  if (model.value("byte_fallback", false)) throw Error("byte_fallback BPE is not supported", path);
  std::unordered_map<std::string, int> vocab = VocabOf(model.at("vocab"), path);
  std::vector<std::pair<std::string, std::string>> merges;
  for (const auto& m : model.at("merges")) {
    if (m.is_array()) {
      merges.emplace_back(m.at(0).get<std::string>(), m.at(1).get<std::string>());
    } else {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) throw Error("malformed merge '" + s + "'", path);
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    }
  }
  // Normaliser: none or NFC (possibly inside a Sequence).
  bool nfc = false;
  const json& norm = j.value("normalizer", json());
  auto check_norm = [&](const json& n) {
    const std::string t = n.value("type", "");
    if (t == "NFC")
      nfc = true;
    else
      throw Error("unsupported normalizer '" + t + "'", path, "supported: none, NFC");
  };
  if (norm.is_object()) {
    if (norm.value("type", "") == "Sequence") {
      for (const auto& n : norm.at("normalizers")) check_norm(n);
    } else {
      check_norm(norm);
    }
  }
  // Pre-tokenizer: ByteLevel(use_regex) or Sequence[Split(Regex), ByteLevel(use_regex=false)].
  std::string pattern;
  bool add_prefix_space = false;
  const json& pre = j.value("pre_tokenizer", json());
  auto take = [&](const json& p) {
    const std::string t = p.value("type", "");
    if (t == "ByteLevel") {
      add_prefix_space = p.value("add_prefix_space", false);
      if (p.value("use_regex", true)) pattern = kGpt2Pattern;
    } else if (t == "Split") {
      const json& pat = p.at("pattern");
      if (pat.contains("Regex"))
        pattern = pat["Regex"].get<std::string>();
      else
        throw Error("Split pre-tokenizer with a plain string pattern is not supported", path);
      if (p.value("behavior", "Isolated") != "Isolated" || p.value("invert", false))
        throw Error("only the Isolated, non-inverted Split pre-tokenizer is supported", path);
    } else {
      throw Error("unsupported pre_tokenizer '" + t + "'", path,
                  "supported: ByteLevel, Split + ByteLevel");
    }
  };
  if (!pre.is_object())
    throw Error("missing pre_tokenizer", path, "a byte-level BPE tokenizer.json has one");
  if (pre.value("type", "") == "Sequence") {
    for (const auto& p : pre.at("pretokenizers")) take(p);
  } else {
    take(pre);
  }
  if (pattern.empty()) throw Error("no pre-tokenizer regex found", path);
  auto tok = std::make_unique<Tokenizer>(std::move(vocab), std::move(merges), pattern, nfc,
                                         add_prefix_space, model.value("ignore_merges", false));
  for (const auto& a : j.value("added_tokens", json::array())) {
    const std::string content = a.at("content").get<std::string>();
    const int id = TokenIdOf(a.at("id"), "added token '" + content + "'", path);
    if (id < tok->vocab_size() && tok->token_strings_[id] == content) {  // already a vocab entry
      tok->added_.push_back({id, content, a.value("special", true)});
      tok->bytes_[id] = content;
      continue;
    }
    if (id != tok->vocab_size())
      throw Error("added token '" + content + "' has id " + std::to_string(id) + ", expected " +
                      std::to_string(tok->vocab_size()),
                  path, "added tokens must follow the vocabulary without gaps");
    tok->added_.push_back({id, content, a.value("special", true)});
    tok->token_strings_.push_back(content);
    tok->bytes_.push_back(content);
  }
  return tok;
} catch (const json::exception& e) {
  throw Error(std::string("malformed tokenizer.json: ") + e.what(), path,
              "give a Hugging Face tokenizer.json (model.vocab, model.merges, pre_tokenizer)");
}

std::unique_ptr<Tokenizer> Tokenizer::LoadVocabMerges(const std::string& vocab_path,
                                                      const std::string& merges_path,
                                                      const std::string& pattern) {
  std::unordered_map<std::string, int> vocab;
  try {
    vocab = VocabOf(json::parse(ReadFile(vocab_path)), vocab_path);
  } catch (const json::exception& e) {
    throw Error(std::string("not a vocab.json: ") + e.what(), vocab_path);
  }
  std::vector<std::pair<std::string, std::string>> merges;
  LineReader reader(merges_path);
  std::string line;
  while (reader.Next(line)) {
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string::npos)
      throw Error("malformed merge line", merges_path + ":" + std::to_string(reader.line_number()),
                  "each line must be two tokens separated by one space");
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  auto tok =
      std::make_unique<Tokenizer>(std::move(vocab), std::move(merges), pattern, /*nfc=*/false);
  // GPT-2 ships <|endoftext|> inside vocab.json: mark it as the special token it is.
  const int eot = tok->TokenId("<|endoftext|>");
  if (eot >= 0) {
    tok->added_.push_back({eot, "<|endoftext|>", true});
    tok->bytes_[eot] = "<|endoftext|>";
  }
  return tok;
}

std::unique_ptr<Tokenizer> Tokenizer::Load(const std::string& path_in) {
  std::string path = path_in;
  if (std::filesystem::is_directory(path)) path += "/tokenizer.json";
  const std::string suffix = "vocab.json";
  if (path.size() >= suffix.size() &&
      path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
    return LoadVocabMerges(path, path.substr(0, path.size() - suffix.size()) + "merges.txt");
  return LoadHf(path);
}

void Tokenizer::SaveHf(const std::string& path) const {
  json vocab = json::object();
  for (int id = 0; id < static_cast<int>(token_strings_.size()); ++id) {
    const bool added =
        std::any_of(added_.begin(), added_.end(), [&](const Added& a) { return a.id == id; });
    if (!added || vocab_.count(token_strings_[id])) vocab[token_strings_[id]] = id;
  }
  json merges = json::array();
  for (const auto& [a, b] : merges_) merges.push_back(a + " " + b);
  json added = json::array();
  for (const auto& a : added_)
    added.push_back({{"id", a.id},
                     {"content", a.content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", a.special}});
  json j = {{"version", "1.0"},
            {"truncation", nullptr},
            {"padding", nullptr},
            {"added_tokens", added},
            {"normalizer", nfc_ ? json{{"type", "NFC"}} : json()},
            {"pre_tokenizer",
             {{"type", "Sequence"},
              {"pretokenizers",
               {{{"type", "Split"},
                 {"pattern", {{"Regex", pattern_}}},
                 {"behavior", "Isolated"},
                 {"invert", false}},
                {{"type", "ByteLevel"},
                 {"add_prefix_space", add_prefix_space_},
                 {"trim_offsets", false},
                 {"use_regex", false}}}}}},
            {"post_processor", nullptr},
            {"decoder",
             {{"type", "ByteLevel"},
              {"add_prefix_space", true},
              {"trim_offsets", true},
              {"use_regex", true}}},
            {"model",
             {{"type", "BPE"},
              {"dropout", nullptr},
              {"unk_token", nullptr},
              {"continuing_subword_prefix", ""},
              {"end_of_word_suffix", ""},
              {"fuse_unk", false},
              {"byte_fallback", false},
              {"ignore_merges", ignore_merges_},
              {"vocab", vocab},
              {"merges", merges}}}};
  WriteFileAtomic(path, j.dump(1) + "\n");
}

}  // namespace muchator
