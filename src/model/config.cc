#include "model/config.h"

#include "core/error.h"
#include "core/file.h"

namespace muchator {

using nlohmann::json;

const std::vector<std::string>& ModelConfig::Names() {
  static const std::vector<std::string> names = {"tiny", "demo"};
  return names;
}

ModelConfig ModelConfig::Named(const std::string& name) {
  ModelConfig c;
  if (name == "tiny") {
    // defaults above
  } else if (name == "demo") {
    c.hidden_size = 256;
    c.intermediate_size = 768;
    c.num_hidden_layers = 4;
    c.num_attention_heads = 8;
    c.num_key_value_heads = 4;
    c.head_dim = 32;
    c.max_position_embeddings = 2048;
  } else {
    throw Error("unknown model size '" + name + "'", "", "use tiny or demo, or give a config.json");
  }
  return c;
}

void ModelConfig::Validate(const std::string& where) const {
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) throw Error(what, where, "fix the model configuration");
  };
  need(vocab_size > 0, "vocab_size must be positive");
  need(hidden_size > 0 && intermediate_size > 0 && num_hidden_layers > 0, "sizes must be positive");
  need(num_attention_heads > 0 && num_key_value_heads > 0, "head counts must be positive");
  need(num_attention_heads % num_key_value_heads == 0,
       "num_attention_heads must be a multiple of num_key_value_heads");
  need(head_dim > 0 && head_dim % 2 == 0, "head_dim must be positive and even (rotary embeddings)");
  need(rope_theta > 0 && rms_norm_eps > 0, "rope_theta and rms_norm_eps must be positive");
  need(max_position_embeddings > 0, "max_position_embeddings must be positive");
}

ModelConfig ModelConfig::FromJson(const json& j, const std::string& where) {
  ModelConfig c;
  auto get_int = [&](const char* k, int64_t* out, bool required) {
    if (!j.contains(k)) {
      if (required)
        throw Error(std::string("missing field '") + k + "'", where, "a Qwen3 config.json has it");
      return;
    }
    if (!j[k].is_number_integer())
      throw Error(std::string("field '") + k + "' must be an integer", where);
    *out = j[k].get<int64_t>();
  };
  get_int("vocab_size", &c.vocab_size, true);
  get_int("hidden_size", &c.hidden_size, true);
  get_int("intermediate_size", &c.intermediate_size, true);
  get_int("num_hidden_layers", &c.num_hidden_layers, true);
  get_int("num_attention_heads", &c.num_attention_heads, true);
  c.num_key_value_heads = c.num_attention_heads;
  get_int("num_key_value_heads", &c.num_key_value_heads, false);
  c.head_dim = c.hidden_size / c.num_attention_heads;
  get_int("head_dim", &c.head_dim, false);
  get_int("max_position_embeddings", &c.max_position_embeddings, false);
  if (j.contains("rope_theta")) c.rope_theta = j["rope_theta"].get<double>();
  if (j.contains("rms_norm_eps")) c.rms_norm_eps = j["rms_norm_eps"].get<double>();
  if (j.contains("tie_word_embeddings"))
    c.tie_word_embeddings = j["tie_word_embeddings"].get<bool>();
  if (j.contains("hidden_act") && j["hidden_act"] != "silu")
    throw Error("only hidden_act silu is supported", where);
  if (j.value("attention_bias", false))
    throw Error("attention_bias is not supported (Qwen3 has none)", where);
  c.Validate(where);
  return c;
}

ModelConfig ModelConfig::Load(const std::string& path) {
  json j;
  try {
    j = json::parse(ReadFile(path));
  } catch (const json::exception& e) {
    throw Error(std::string("invalid JSON: ") + e.what(), path);
  }
  return FromJson(j, path);
}

json ModelConfig::ToJson() const {
  return {{"architectures", {"Qwen3ForCausalLM"}},
          {"model_type", "qwen3"},
          {"hidden_act", "silu"},
          {"attention_bias", false},
          {"torch_dtype", "float32"},
          {"vocab_size", vocab_size},
          {"hidden_size", hidden_size},
          {"intermediate_size", intermediate_size},
          {"num_hidden_layers", num_hidden_layers},
          {"num_attention_heads", num_attention_heads},
          {"num_key_value_heads", num_key_value_heads},
          {"head_dim", head_dim},
          {"rope_theta", rope_theta},
          {"rms_norm_eps", rms_norm_eps},
          {"tie_word_embeddings", tie_word_embeddings},
          {"max_position_embeddings", max_position_embeddings}};
}

void ModelConfig::Save(const std::string& path) const {
  WriteFileAtomic(path, ToJson().dump(2) + "\n");
}

int64_t ModelConfig::NumParameters() const {
  const int64_t q = hidden_size * num_attention_heads * head_dim,
                kv = 2 * hidden_size * num_key_value_heads * head_dim;
  const int64_t o = num_attention_heads * head_dim * hidden_size,
                mlp = 3 * hidden_size * intermediate_size;
  const int64_t norms = 2 * hidden_size + 2 * head_dim;
  const int64_t layer = q + kv + o + mlp + norms;
  return vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * layer +
         hidden_size;
}

}  // namespace muchator
