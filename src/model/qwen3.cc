#include "model/qwen3.h"

#include <cmath>

#include "core/error.h"
#include "core/file.h"
#include "model/safetensors.h"

namespace muchator {

RmsNormImpl::RmsNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
  auto xf = x.to(torch::kFloat32);
  auto y = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (y * weight.to(torch::kFloat32)).to(x.scalar_type());
}

AttentionImpl::AttentionImpl(const ModelConfig& c)
    : heads(c.num_attention_heads), kv_heads(c.num_key_value_heads), head_dim(c.head_dim) {
  auto lin = [](int64_t in, int64_t out) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
  };
  q_proj = register_module("q_proj", lin(c.hidden_size, heads * head_dim));
  k_proj = register_module("k_proj", lin(c.hidden_size, kv_heads * head_dim));
  v_proj = register_module("v_proj", lin(c.hidden_size, kv_heads * head_dim));
  o_proj = register_module("o_proj", lin(heads * head_dim, c.hidden_size));
  q_norm = register_module("q_norm", RmsNorm(head_dim, c.rms_norm_eps));
  k_norm = register_module("k_norm", RmsNorm(head_dim, c.rms_norm_eps));
}

std::pair<torch::Tensor, torch::Tensor> RotaryCosSin(const torch::Tensor& positions,
                                                     int64_t head_dim, double theta) {
  auto inv_freq = 1.0 / torch::pow(theta, torch::arange(0, head_dim, 2, torch::kFloat64) /
                                              static_cast<double>(head_dim));
  auto freqs = positions.to(torch::kFloat64).unsqueeze(-1) * inv_freq;  // (B, T, D/2)
  auto emb = torch::cat({freqs, freqs}, -1);                            // (B, T, D)
  return {emb.cos().to(torch::kFloat32).unsqueeze(1), emb.sin().to(torch::kFloat32).unsqueeze(1)};
}

torch::Tensor ApplyRotary(const torch::Tensor& x, const torch::Tensor& cos,
                          const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return x * cos.to(x.scalar_type()) + torch::cat({-x2, x1}, -1) * sin.to(x.scalar_type());
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                     const torch::Tensor& sin, const torch::Tensor& mask) {
  const int64_t B = x.size(0), T = x.size(1);
  auto q = q_norm(q_proj(x).view({B, T, heads, head_dim})).transpose(1, 2);     // (B, H, T, D)
  auto k = k_norm(k_proj(x).view({B, T, kv_heads, head_dim})).transpose(1, 2);  // (B, KV, T, D)
  auto v = v_proj(x).view({B, T, kv_heads, head_dim}).transpose(1, 2);          // (B, KV, T, D)
  // The score scale 1/sqrt(head_dim) is folded into q's rotary factors, and the scores go to
  // fp32 before the mask is added: the (B, H, T, T) scores then see one conversion, one add and
  // the softmax. Scaling and masked_fill on them (in bf16 with autocast: not vectorised in this
  // libtorch) had made a bf16 training step ~6% slower (bench/README.md, training).
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  q = ApplyRotary(q, cos * scale, sin * scale);
  k = ApplyRotary(k, cos, sin);
  if (heads != kv_heads) {
    k = k.repeat_interleave(heads / kv_heads, 1);
    v = v.repeat_interleave(heads / kv_heads, 1);
  }
  auto scores = torch::matmul(q, k.transpose(-2, -1)).to(torch::kFloat32) + mask;  // (B, H, T, T)
  auto probs = torch::softmax(scores, -1).to(q.scalar_type());
  auto out =
      torch::matmul(probs, v).transpose(1, 2).reshape({B, T, heads * head_dim});  // (B, T, H*D)
  return o_proj(out);
}

MlpImpl::MlpImpl(const ModelConfig& c) {
  auto lin = [](int64_t in, int64_t out) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
  };
  gate_proj = register_module("gate_proj", lin(c.hidden_size, c.intermediate_size));
  up_proj = register_module("up_proj", lin(c.hidden_size, c.intermediate_size));
  down_proj = register_module("down_proj", lin(c.intermediate_size, c.hidden_size));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c) {
  input_layernorm = register_module("input_layernorm", RmsNorm(c.hidden_size, c.rms_norm_eps));
  self_attn = register_module("self_attn", Attention(c));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RmsNorm(c.hidden_size, c.rms_norm_eps));
  mlp = register_module("mlp", Mlp(c));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                        const torch::Tensor& sin, const torch::Tensor& mask) {
  auto h = x + self_attn(input_layernorm(x), cos, sin, mask);
  return h + mlp(post_attention_layernorm(h));
}

Qwen3BackboneImpl::Qwen3BackboneImpl(const ModelConfig& c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(DecoderLayer(c));
  norm = register_module("norm", RmsNorm(c.hidden_size, c.rms_norm_eps));
}

Qwen3ForCausalLMImpl::Qwen3ForCausalLMImpl(const ModelConfig& c) : config_(c) {
  c.Validate();
  model = register_module("model", Qwen3Backbone(c));
  if (!c.tie_word_embeddings)
    lm_head = register_module(
        "lm_head",
        torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, c.vocab_size).bias(false)));
  // GPT-style initialisation: N(0, 0.02) for matrices, ones for norms (already).
  torch::NoGradGuard g;
  for (auto& p : named_parameters())
    if (p.value().dim() == 2) p.value().normal_(0.0, 0.02);
}

torch::Tensor Qwen3ForCausalLMImpl::Hidden(const torch::Tensor& ids,
                                           const torch::Tensor& positions_in,
                                           const torch::Tensor& doc_ids) {
  const int64_t B = ids.size(0), T = ids.size(1);
  torch::Tensor positions = positions_in.defined()
                                ? positions_in
                                : torch::arange(T, torch::kInt64).unsqueeze(0).expand({B, T});
  auto [cos, sin] = RotaryCosSin(positions, config_.head_dim, config_.rope_theta);
  auto causal = torch::ones({T, T}, torch::kBool).tril().view({1, 1, T, T});
  torch::Tensor allowed = causal;
  if (doc_ids.defined())
    allowed = causal & (doc_ids.unsqueeze(2) == doc_ids.unsqueeze(1)).unsqueeze(1);  // (B,1,T,T)
  const auto mask =
      torch::zeros(allowed.sizes(), torch::kFloat32)
          .masked_fill_(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  auto x = model->embed_tokens(ids);  // (B, T, C)
  for (auto& layer : *model->layers) x = layer->as<DecoderLayer>()->forward(x, cos, sin, mask);
  return model->norm(x);
}

torch::Tensor Qwen3ForCausalLMImpl::LmWeight() const {
  return lm_head ? lm_head->weight : model->embed_tokens->weight;
}

torch::Tensor Qwen3ForCausalLMImpl::forward(const torch::Tensor& ids,
                                            const torch::Tensor& positions,
                                            const torch::Tensor& doc_ids) {
  auto h = Hidden(ids, positions, doc_ids);
  return torch::matmul(h, LmWeight().to(h.scalar_type()).t()).to(torch::kFloat32);  // (B, T, V)
}

void Qwen3ForCausalLMImpl::ResizeVocab(int64_t vocab_size) {
  const int64_t old = config_.vocab_size;
  if (vocab_size < old)
    throw Error("cannot shrink the vocabulary from " + std::to_string(old) + " to " +
                std::to_string(vocab_size));
  if (vocab_size == old) return;
  torch::NoGradGuard g;
  auto grow = [&](const torch::Tensor& w) {
    auto mean = w.mean(0, true);
    const double std = w.std().item<double>();
    auto extra = mean.expand({vocab_size - old, w.size(1)}) +
                 torch::randn({vocab_size - old, w.size(1)}) * (0.1 * std);
    return torch::cat({w, extra}, 0);
  };
  auto emb = grow(model->embed_tokens->weight);
  model->embed_tokens->weight.set_data(emb);
  model->embed_tokens->options.num_embeddings(vocab_size);
  if (lm_head) {
    lm_head->weight.set_data(grow(lm_head->weight));
    lm_head->options.out_features(vocab_size);
  }
  config_.vocab_size = vocab_size;
}

void SaveModel(Qwen3ForCausalLM& model, const std::string& dir) {
  MakeDirs(dir);
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& p : model->named_parameters()) tensors[p.key()] = p.value();
  SaveSafetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  model->config().Save(dir + "/config.json");
}

Qwen3ForCausalLM LoadModel(const std::string& dir) {
  const ModelConfig c = ModelConfig::Load(dir + "/config.json");
  Qwen3ForCausalLM model(c);
  const std::string path = dir + "/model.safetensors";
  auto tensors = LoadSafetensors(path);
  torch::NoGradGuard g;
  for (auto& p : model->named_parameters()) {
    auto it = tensors.find(p.key());
    if (it == tensors.end())
      throw Error("tensor '" + p.key() + "' is missing", path, "is this a Qwen3 checkpoint?");
    if (it->second.sizes() != p.value().sizes())
      throw Error("tensor '" + p.key() + "' has shape " + c10::str(it->second.sizes()) +
                      ", expected " + c10::str(p.value().sizes()),
                  path);
    p.value().copy_(it->second.to(torch::kFloat32));
  }
  return model;
}

}  // namespace muchator
