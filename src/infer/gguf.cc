#include "infer/gguf.h"

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "core/error.h"
#include "core/file.h"
#include "infer/gguf_read.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "text/item_codec.h"
#include "text/special_tokens.h"
#include "text/tokenizer.h"

namespace fs = std::filesystem;

namespace muchator {
namespace {

using namespace gguf_format;  // NOLINT(google-build-using-namespace): the format's constants

// llama.cpp's token types (llama.h, llama_token_type).
enum : int32_t { kTokNormal = 1, kTokControl = 3, kTokUserDefined = 4, kTokUnused = 5 };

uint64_t AlignUp(uint64_t x) { return (x + kAlignment - 1) / kAlignment * kAlignment; }

// Little-endian serialisation of header values (x86-64 and aarch64 are little-endian; the file
// format is too).
class Out {
 public:
  template <typename T>
  void Pod(T v) {
    buf_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void Str(const std::string& s) {
    Pod<uint64_t>(s.size());
    buf_ += s;
  }
  void Key(const std::string& k, uint32_t type) {
    Str(k);
    Pod<uint32_t>(type);
    ++kv_;
  }
  void KvU32(const std::string& k, uint32_t v) { Key(k, kU32), Pod(v); }
  void KvI32(const std::string& k, int32_t v) { Key(k, kI32), Pod(v); }
  void KvF32(const std::string& k, float v) { Key(k, kF32v), Pod(v); }
  void KvBool(const std::string& k, bool v) { Key(k, kBool), Pod<uint8_t>(v ? 1 : 0); }
  void KvStr(const std::string& k, const std::string& v) { Key(k, kString), Str(v); }
  void KvStrs(const std::string& k, const std::vector<std::string>& v) {
    Key(k, kArray), Pod<uint32_t>(kString), Pod<uint64_t>(v.size());
    for (const auto& s : v) Str(s);
  }
  void KvI32s(const std::string& k, const std::vector<int32_t>& v) {
    Key(k, kArray), Pod<uint32_t>(kI32), Pod<uint64_t>(v.size());
    for (int32_t x : v) Pod(x);
  }
  std::string& buf() { return buf_; }
  uint64_t kv() const { return kv_; }

 private:
  std::string buf_;
  uint64_t kv_ = 0;
};

// The HF name of a checkpoint tensor -> llama.cpp's; empty for a name llama.cpp has no place for.
std::string LlamaName(const std::string& hf, int* layer) {
  static const std::map<std::string, std::string> top = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"}};
  static const std::map<std::string, std::string> block = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"}};
  *layer = -1;
  if (auto it = top.find(hf); it != top.end()) return it->second;
  static const std::regex re(R"(model\.layers\.(\d+)\.(.+))");
  std::smatch m;
  if (!std::regex_match(hf, m, re)) return "";
  auto it = block.find(m[2].str());
  if (it == block.end()) return "";
  *layer = std::stoi(m[1].str());
  return "blk." + m[1].str() + "." + it->second;
}

// The ggml type a tensor of this shape is written in.
uint32_t TypeFor(const torch::Tensor& t, GgufType type) {
  if (t.dim() < 2 || type == GgufType::kF32) return kGgmlF32;
  if (type == GgufType::kBF16) return kGgmlBF16;
  if (type == GgufType::kF16 || t.size(-1) % kQ8Block != 0) return kGgmlF16;
  return kGgmlQ8_0;
}

// The tensor's bytes in `type` (rows of t.size(-1) values; 1-D tensors stay f32). Returns the
// ggml type written (TypeFor's).
uint32_t Encode(const torch::Tensor& t0, GgufType type, std::string* bytes) {
  const torch::Tensor t = t0.to(torch::kFloat32).contiguous();
  const int64_t n = t.numel();
  const float* x = t.data_ptr<float>();
  auto raw = [&](const torch::Tensor& c) {
    bytes->assign(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.nbytes()));
  };
  const uint32_t ggml_type = TypeFor(t, type);
  if (ggml_type == kGgmlF32) return raw(t), kGgmlF32;
  if (ggml_type == kGgmlBF16) return raw(t.to(torch::kBFloat16).contiguous()), kGgmlBF16;
  if (ggml_type == kGgmlF16) return raw(t.to(torch::kFloat16).contiguous()), kGgmlF16;
  // q8_0 as ggml's reference quantize_row_q8_0: d = max|x| / 127, q = round(x / d).
  const int64_t blocks = n / kQ8Block;
  bytes->resize(static_cast<size_t>(blocks) * (2 + kQ8Block));
  char* out = bytes->data();
  for (int64_t b = 0; b < blocks; ++b, out += 2 + kQ8Block) {
    const float* xb = x + b * kQ8Block;
    float amax = 0;
    for (int i = 0; i < kQ8Block; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    const c10::Half h(d);
    std::memcpy(out, &h.x, 2);
    for (int i = 0; i < kQ8Block; ++i)
      out[2 + i] = static_cast<char>(static_cast<int8_t>(std::round(xb[i] * id)));
  }
  return kGgmlQ8_0;
}

struct TokenizerParts {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
  std::string pre;
};

// The tokenizer.json's vocabulary as llama.cpp's "gpt2" BPE model wants it.
TokenizerParts ReadTokenizer(const std::string& path, int64_t vocab_size) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ReadFile(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("not JSON: ") + e.what(), path);
  }
  const auto& model = j.at("model");
  if (model.value("type", "") != "BPE")
    throw Error("tokenizer model '" + model.value("type", "") + "' is not BPE", path,
                "GGUF export supports the byte-level BPE tokenizers muchator trains");
  // llama.cpp knows pre-tokenizers by name; ours use Qwen2's or GPT-2's split pattern.
  std::string pattern;
  const std::string pre_dump = j.value("pre_tokenizer", nlohmann::json()).dump();
  if (pre_dump.find(nlohmann::json(kQwen2Pattern).dump()) != std::string::npos) {
    pattern = "qwen2";
  } else if (pre_dump.find(nlohmann::json(kGpt2Pattern).dump()) != std::string::npos ||
             pre_dump.find("\"use_regex\":true") != std::string::npos) {
    pattern = "gpt-2";
  } else {
    throw Error("its pre-tokenizer is neither Qwen2's nor GPT-2's split pattern", path,
                "llama.cpp selects pre-tokenizers by name; export a tokenizer muchator trained");
  }
  TokenizerParts p;
  p.pre = pattern;
  std::vector<std::string> tokens(static_cast<size_t>(vocab_size));
  std::vector<int32_t> types(static_cast<size_t>(vocab_size), kTokUnused);
  std::vector<char> seen(static_cast<size_t>(vocab_size), 0);
  auto put = [&](const std::string& s, int64_t id, int32_t type) {
    if (id < 0 || id >= vocab_size)
      throw Error("token '" + s + "' has id " + std::to_string(id) +
                      ", outside the model's vocabulary of " + std::to_string(vocab_size),
                  path, "the tokenizer must belong to this checkpoint");
    tokens[static_cast<size_t>(id)] = s, types[static_cast<size_t>(id)] = type,
    seen[static_cast<size_t>(id)] = 1;
  };
  for (const auto& [s, id] : model.at("vocab").items()) put(s, id.get<int64_t>(), kTokNormal);
  const auto& base = BaseSpecialTokens();
  const std::set<std::string> control(base.begin(), base.end());
  // Template and field markers are control tokens (parsed in text only when asked, hidden when
  // detokenised by default); the item tokens are user-defined, so they are always parsed and
  // always printed, like any word.
  for (const auto& a : j.value("added_tokens", nlohmann::json::array()))
    put(a.at("content").get<std::string>(), a.at("id").get<int64_t>(),
        control.count(a.at("content").get<std::string>()) ? kTokControl : kTokUserDefined);
  for (size_t i = 0; i < tokens.size(); ++i)
    if (!seen[i])
      tokens[i] = "[PAD" + std::to_string(i) + "]";  // rows the model has, the tokenizer not
  for (const auto& m : model.at("merges")) {
    if (m.is_string()) {
      p.merges.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2) {
      p.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    } else {
      throw Error("a merge is neither \"a b\" nor [a, b]: " + m.dump(), path);
    }
  }
  p.tokens = std::move(tokens), p.types = std::move(types);
  return p;
}

}  // namespace

GgufType ParseGgufType(const std::string& name) {
  if (name == "f32") return GgufType::kF32;
  if (name == "f16") return GgufType::kF16;
  if (name == "bf16") return GgufType::kBF16;
  if (name == "q8_0") return GgufType::kQ8_0;
  throw Error("unknown GGUF type '" + name + "'", "--type", "use f32, f16, bf16 or q8_0");
}

const char* GgufTypeName(GgufType t) {
  switch (t) {
    case GgufType::kF32:
      return "f32";
    case GgufType::kF16:
      return "f16";
    case GgufType::kBF16:
      return "bf16";
    case GgufType::kQ8_0:
      return "q8_0";
  }
  return "?";
}

const std::string& GgufChatTemplate() {
  static const std::string t =
      "{%- for message in messages -%}"
      "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
      "{%- if message['role'] == 'user' and '<|query|>' not in message['content'] -%}{{- "
      "'<|query|>' -}}{%- endif -%}"
      "{{- message['content'] + '<|im_end|>' + '\\n' -}}"
      "{%- endfor -%}"
      "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";
  return t;
}

GgufExportStats ExportGguf(const std::string& dir, const std::string& out_path, GgufType type) {
  const std::string config_path = (fs::path(dir) / "config.json").string();
  const nlohmann::json raw_config = nlohmann::json::parse(ReadFile(config_path), nullptr, false);
  if (raw_config.is_discarded()) throw Error("not JSON", config_path);
  if (raw_config.value("model_type", "qwen3") != "qwen3")
    throw Error("model_type '" + raw_config.value("model_type", "") + "' is not qwen3", config_path,
                "GGUF export writes llama.cpp's qwen3 architecture");
  const ModelConfig c = ModelConfig::Load(config_path);
  const TokenizerParts tp =
      ReadTokenizer((fs::path(dir) / "tokenizer.json").string(), c.vocab_size);
  const auto weights = LoadSafetensors((fs::path(dir) / "model.safetensors").string());

  struct Item {
    int layer;
    std::string name;
    torch::Tensor t;
  };
  std::vector<Item> items;
  for (const auto& [hf, t] : weights) {
    int layer = -1;
    const std::string name = LlamaName(hf, &layer);
    if (name.empty())
      throw Error("tensor '" + hf + "' has no place in llama.cpp's qwen3",
                  dir + "/model.safetensors");
    if (name == "output.weight" && c.tie_word_embeddings) continue;  // llama.cpp reuses token_embd
    items.push_back({layer, name, t});
  }
  // llama.cpp's own order: embeddings, blocks in layer order, then the output norm and head.
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    auto rank = [](const Item& i) {
      return i.name == "token_embd.weight" ? -2 : i.layer < 0 ? 1 << 30 : i.layer;
    };
    return rank(a) < rank(b);
  });

  Out h;
  const uint32_t file_type = type == GgufType::kF32    ? 0
                             : type == GgufType::kF16  ? 1
                             : type == GgufType::kQ8_0 ? 7
                                                       : 32;
  const std::string arch = "qwen3";
  h.KvStr("general.architecture", arch);
  h.KvStr("general.name", fs::path(dir).filename().string().empty()
                              ? "muchator"
                              : "muchator " + fs::path(dir).filename().string());
  h.KvU32("general.file_type", file_type);
  h.KvU32("general.quantization_version", 2);
  h.KvU32("general.alignment", static_cast<uint32_t>(kAlignment));
  h.KvU32(arch + ".context_length", static_cast<uint32_t>(c.max_position_embeddings));
  h.KvU32(arch + ".embedding_length", static_cast<uint32_t>(c.hidden_size));
  h.KvU32(arch + ".feed_forward_length", static_cast<uint32_t>(c.intermediate_size));
  h.KvU32(arch + ".block_count", static_cast<uint32_t>(c.num_hidden_layers));
  h.KvU32(arch + ".attention.head_count", static_cast<uint32_t>(c.num_attention_heads));
  h.KvU32(arch + ".attention.head_count_kv", static_cast<uint32_t>(c.num_key_value_heads));
  h.KvU32(arch + ".attention.key_length", static_cast<uint32_t>(c.head_dim));
  h.KvU32(arch + ".attention.value_length", static_cast<uint32_t>(c.head_dim));
  h.KvF32(arch + ".rope.freq_base", static_cast<float>(c.rope_theta));
  h.KvF32(arch + ".attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  h.KvStr("tokenizer.ggml.model", "gpt2");
  h.KvStr("tokenizer.ggml.pre", tp.pre);
  h.KvStrs("tokenizer.ggml.tokens", tp.tokens);
  h.KvI32s("tokenizer.ggml.token_type", tp.types);
  h.KvStrs("tokenizer.ggml.merges", tp.merges);
  auto id_of = [&](const char* s) {
    const auto it = std::find(tp.tokens.begin(), tp.tokens.end(), s);
    if (it == tp.tokens.end())
      throw Error(std::string("the tokenizer has no ") + s, dir + "/tokenizer.json");
    return static_cast<uint32_t>(it - tp.tokens.begin());
  };
  h.KvU32("tokenizer.ggml.bos_token_id", id_of(tok::kEndOfText));
  h.KvU32("tokenizer.ggml.eos_token_id", id_of(tok::kImEnd));
  h.KvU32("tokenizer.ggml.padding_token_id", id_of(tok::kEndOfText));
  h.KvBool("tokenizer.ggml.add_bos_token", false);
  h.KvStr("tokenizer.chat_template", GgufChatTemplate());

  // Tensor table, then the data, each tensor at an aligned offset.
  // Sizes come from the types, so each tensor is encoded only when it is written (a 0.6B model
  // never holds a second copy of itself in memory).
  GgufExportStats s;
  Out table;
  uint64_t offset = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const uint32_t ggml_type = TypeFor(items[i].t, type);
    table.Str(items[i].name);
    table.Pod<uint32_t>(static_cast<uint32_t>(items[i].t.dim()));
    for (int64_t d = items[i].t.dim() - 1; d >= 0; --d)
      table.Pod<uint64_t>(static_cast<uint64_t>(items[i].t.size(d)));
    table.Pod<uint32_t>(ggml_type);
    table.Pod<uint64_t>(offset);
    offset = AlignUp(
        offset + TensorBytes(ggml_type, static_cast<uint64_t>(items[i].t.numel()), items[i].name));
    s.parameters += items[i].t.numel();
  }
  Out head;
  head.buf() = "GGUF";
  head.Pod<uint32_t>(3);
  head.Pod<uint64_t>(items.size());
  head.Pod<uint64_t>(h.kv());
  std::string header = head.buf() + h.buf() + table.buf();
  header.resize(AlignUp(header.size()), '\0');

  const std::string tmp = out_path + ".tmp";
  if (const auto parent = fs::path(out_path).parent_path(); !parent.empty())
    MakeDirs(parent.string());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error("cannot write", tmp, "check the directory exists and is writable");
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
    uint64_t at = 0;
    std::string d;
    for (const Item& item : items) {
      Encode(item.t, type, &d);
      f.write(d.data(), static_cast<std::streamsize>(d.size()));
      at += d.size();
      const uint64_t pad = AlignUp(at) - at;
      f.write(std::string(pad, '\0').data(), static_cast<std::streamsize>(pad));
      at += pad;
    }
    f.flush();
    if (!f) throw Error("write failed (disk full?)", tmp);
  }
  fs::rename(tmp, out_path);
  s.tensors = static_cast<int64_t>(items.size());
  s.bytes = static_cast<int64_t>(fs::file_size(out_path));
  s.vocab = static_cast<int64_t>(tp.tokens.size());
  return s;
}

std::string CatalogGbnf(const std::string& dir, int items) {
  const std::string codec_path = (fs::path(dir) / "codec.json").string();
  if (!FileExists(codec_path))
    throw Error("no codec.json: the grammar lists the catalog's item tokens", dir,
                "give a checkpoint made by the pipeline (sft/sft/final, grpo/grpo/final)");
  if (items < 1)
    throw Error("a grammar for " + std::to_string(items) + " songs", "--grammar-items",
                "give 1 or more");
  const auto tok = Tokenizer::LoadHf((fs::path(dir) / "tokenizer.json").string());
  const Catalog catalog = Catalog::FromCodecFile(codec_path);
  const auto codec = LoadItemCodec(codec_path, catalog, *tok);
  std::string g =
      "# muchator's constrained answer for " + dir + " (" + std::to_string(codec->num_items()) +
      " songs): an optional sentence, then " + std::to_string(items) +
      " numbered catalog songs.\n# Token ids are this checkpoint's; llama.cpp ends the answer with "
      "<|im_end|> when the grammar is complete.\n";
  g += "root ::= sentence?";
  for (int i = 1; i <= items; ++i) g += " \"" + std::to_string(i) + ". \" song \"\\n\"";
  g += "\nsentence ::= [A-Za-z] [^\\n<0-9]{0,79} \"\\n\"\n";
  // Inside parentheses GBNF allows a rule to span lines (and a comment on each).
  g += "# one alternative per song: its item tokens (\"Title - Artist\")\nsong ::= (";
  for (int i = 0; i < codec->num_items(); ++i) {
    g += i ? "\n  |" : "\n   ";
    for (int t : codec->Encode(i)) g += " <[" + std::to_string(t) + "]>";
    std::string name = codec->DisplayText(i);
    std::replace(name.begin(), name.end(), '\n', ' ');
    g += "  # " + name;
  }
  return g + "\n)\n";
}

torch::Tensor ReadGgufTensor(const std::string& path, const GgufFile& f, const std::string& name) {
  const GgufFile::Tensor* t = f.Find(name);
  if (!t) throw Error("no tensor '" + name + "'", path);
  std::vector<float> values = ReadGgufValues(path, f, name);
  std::vector<int64_t> shape(t->dims.rbegin(), t->dims.rend());
  return torch::from_blob(values.data(), {static_cast<int64_t>(values.size())}, torch::kFloat32)
      .clone()
      .reshape(shape);
}

}  // namespace muchator
