// Model configuration in Hugging Face's Qwen3 `config.json` terms.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace muchator {

struct ModelConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 64;
  int64_t intermediate_size = 128;
  int64_t num_hidden_layers = 2;
  int64_t num_attention_heads = 4;
  int64_t num_key_value_heads = 2;
  int64_t head_dim = 16;
  double rope_theta = 1000000.0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = true;
  int64_t max_position_embeddings = 1024;

  // Named sizes for a 2-core machine: "tiny" (tests, well under 1M parameters with a small
  // vocabulary) and "demo" (the demo pipeline, ~5M parameters). vocab_size is left to the caller.
  static ModelConfig Named(const std::string& name);
  // The names Named() knows, for option choice lists.
  static const std::vector<std::string>& Names();
  // Throws Error with the field name when a value is missing, of the wrong type or inconsistent.
  static ModelConfig FromJson(const nlohmann::json& j, const std::string& where = "config.json");
  static ModelConfig Load(const std::string& path);
  nlohmann::json ToJson() const;  // with architectures, model_type, hidden_act, torch_dtype
  void Save(const std::string& path) const;
  void Validate(const std::string& where = "config") const;
  // Parameters of the model this config builds.
  int64_t NumParameters() const;
};

}  // namespace muchator
