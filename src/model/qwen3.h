// A decoder-only transformer with Qwen3's architecture: RMSNorm, rotary position embeddings,
// grouped-query attention with q/k RMSNorm, SwiGLU MLP, optional tied embeddings. Parameter names
// are Hugging Face's (model.layers.0.self_attn.q_proj.weight, ..., model.norm.weight,
// lm_head.weight). Not thread-safe: one forward at a time per module.
#pragma once

#include <torch/torch.h>

#include <string>

#include "model/config.h"

namespace muchator {

struct RmsNormImpl : torch::nn::Module {
  RmsNormImpl(int64_t dim, double eps);
  torch::Tensor forward(
      const torch::Tensor& x);  // normalises the last dimension (computed in fp32)
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RmsNorm);

struct AttentionImpl : torch::nn::Module {
  explicit AttentionImpl(const ModelConfig& c);
  // x: (B, T, C); cos, sin: (B, 1, T, head_dim); mask: (B or 1, 1, T, T) float, added to the
  // scores: 0 = may attend, -inf = may not (built once per forward by Hidden).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RmsNorm q_norm{nullptr}, k_norm{nullptr};
  int64_t heads, kv_heads, head_dim;
};
TORCH_MODULE(Attention);

struct MlpImpl : torch::nn::Module {
  explicit MlpImpl(const ModelConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

struct DecoderLayerImpl : torch::nn::Module {
  explicit DecoderLayerImpl(const ModelConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask);
  RmsNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

// The "model." part of Qwen3ForCausalLM.
struct Qwen3BackboneImpl : torch::nn::Module {
  explicit Qwen3BackboneImpl(const ModelConfig& c);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers;
  RmsNorm norm{nullptr};
};
TORCH_MODULE(Qwen3Backbone);

struct Qwen3ForCausalLMImpl : torch::nn::Module {
  explicit Qwen3ForCausalLMImpl(const ModelConfig& c);
  // ids: (B, T) int64. positions: (B, T) int64 or undefined (0..T-1). doc_ids: (B, T) int64 or
  // undefined; when given, tokens attend only within their own document (packed sequences).
  // Returns logits (B, T, V) in fp32.
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& positions = {},
                        const torch::Tensor& doc_ids = {});
  // The hidden states before the LM head: (B, T, C).
  torch::Tensor Hidden(const torch::Tensor& ids, const torch::Tensor& positions,
                       const torch::Tensor& doc_ids);
  // Grows (or keeps) the vocabulary to `vocab_size` rows: old rows kept, new rows set to the mean
  // of the old ones plus small noise (a new token starts as an "average" token).
  void ResizeVocab(int64_t vocab_size);
  const ModelConfig& config() const { return config_; }
  torch::Tensor LmWeight() const;  // (V, C): lm_head.weight, or the embedding when tied

  ModelConfig config_;
  Qwen3Backbone model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tie_word_embeddings
};
TORCH_MODULE(Qwen3ForCausalLM);

// cos, sin for rotary embeddings: (B, 1, T, head_dim) from positions (B, T).
std::pair<torch::Tensor, torch::Tensor> RotaryCosSin(const torch::Tensor& positions,
                                                     int64_t head_dim, double theta);
// x * cos + rotate_half(x) * sin, with rotate_half(x) = cat(-x2, x1) (Hugging Face's convention).
torch::Tensor ApplyRotary(const torch::Tensor& x, const torch::Tensor& cos,
                          const torch::Tensor& sin);

// Checkpoints: DIR/config.json + DIR/model.safetensors (HF names), each written atomically.
void SaveModel(Qwen3ForCausalLM& model, const std::string& dir);
// Loads a checkpoint directory (ours or a real Qwen3's single-file model.safetensors); weights
// in bf16/f16 are converted to fp32. Throws Error naming missing or mis-shaped tensors.
Qwen3ForCausalLM LoadModel(const std::string& dir);

}  // namespace muchator
