#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "model/qwen3.h"
#include "model/safetensors.h"

namespace muchator {

namespace fs = std::filesystem;

ModelConfig TinyConfig() {
  ModelConfig c = ModelConfig::Named("tiny");
  c.vocab_size = 50;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rope_theta = 10000;
  return c;
}

using Weights = std::map<std::string, torch::Tensor>;

// A slow, obviously-correct forward with plain loops over the same weights (HF's Qwen3 math).
std::vector<float> ReferenceForward(const ModelConfig& c, Weights& w,
                                    const std::vector<int64_t>& ids) {
  const int64_t T = ids.size(), C = c.hidden_size, H = c.num_attention_heads,
                KV = c.num_key_value_heads, D = c.head_dim, V = c.vocab_size,
                F = c.intermediate_size;
  auto W = [&](const std::string& n) { return w.at(n).contiguous().data_ptr<float>(); };
  auto rms = [&](const std::vector<double>& x, const float* g) {
    double ms = 0;
    for (double v : x) ms += v * v;
    ms /= x.size();
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] / std::sqrt(ms + c.rms_norm_eps) * g[i];
    return y;
  };
  auto matvec = [&](const float* m, int64_t out, int64_t in, const std::vector<double>& x) {
    std::vector<double> y(out, 0.0);
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) y[o] += m[o * in + i] * x[i];
    return y;
  };
  auto rope = [&](std::vector<double> v, int64_t pos) {
    std::vector<double> r(D);
    for (int64_t i = 0; i < D / 2; ++i) {
      const double f = pos / std::pow(c.rope_theta, 2.0 * i / D);
      r[i] = v[i] * std::cos(f) - v[i + D / 2] * std::sin(f);
      r[i + D / 2] = v[i + D / 2] * std::cos(f) + v[i] * std::sin(f);
    }
    return r;
  };
  std::vector<std::vector<double>> x(T, std::vector<double>(C));
  const float* emb = W("model.embed_tokens.weight");
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < C; ++i) x[t][i] = emb[ids[t] * C + i];
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    std::vector<std::vector<std::vector<double>>> q(T), k(T), v(T);  // [t][head][d]
    for (int64_t t = 0; t < T; ++t) {
      auto h = rms(x[t], W(p + "input_layernorm.weight"));
      auto qa = matvec(W(p + "self_attn.q_proj.weight"), H * D, C, h);
      auto ka = matvec(W(p + "self_attn.k_proj.weight"), KV * D, C, h);
      auto va = matvec(W(p + "self_attn.v_proj.weight"), KV * D, C, h);
      for (int64_t hh = 0; hh < H; ++hh)
        q[t].push_back(rope(rms(std::vector<double>(qa.begin() + hh * D, qa.begin() + (hh + 1) * D),
                                W(p + "self_attn.q_norm.weight")),
                            t));
      for (int64_t hh = 0; hh < KV; ++hh) {
        k[t].push_back(rope(rms(std::vector<double>(ka.begin() + hh * D, ka.begin() + (hh + 1) * D),
                                W(p + "self_attn.k_norm.weight")),
                            t));
        v[t].push_back(std::vector<double>(va.begin() + hh * D, va.begin() + (hh + 1) * D));
      }
    }
    std::vector<std::vector<double>> nx = x;
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> concat;
      for (int64_t hh = 0; hh < H; ++hh) {
        const int64_t g = hh / (H / KV);
        std::vector<double> s(t + 1);
        double mx = -1e300;
        for (int64_t j = 0; j <= t; ++j) {
          s[j] = 0;
          for (int64_t d = 0; d < D; ++d) s[j] += q[t][hh][d] * k[j][g][d];
          s[j] /= std::sqrt(static_cast<double>(D));
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (auto& e : s) z += (e = std::exp(e - mx));
        for (int64_t d = 0; d < D; ++d) {
          double o = 0;
          for (int64_t j = 0; j <= t; ++j) o += s[j] / z * v[j][g][d];
          concat.push_back(o);
        }
      }
      auto o = matvec(W(p + "self_attn.o_proj.weight"), C, H * D, concat);
      for (int64_t i = 0; i < C; ++i) nx[t][i] += o[i];
      auto h2 = rms(nx[t], W(p + "post_attention_layernorm.weight"));
      auto gate = matvec(W(p + "mlp.gate_proj.weight"), F, C, h2);
      auto up = matvec(W(p + "mlp.up_proj.weight"), F, C, h2);
      for (int64_t i = 0; i < F; ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
      auto down = matvec(W(p + "mlp.down_proj.weight"), C, F, gate);
      for (int64_t i = 0; i < C; ++i) nx[t][i] += down[i];
    }
    x = nx;
  }
  std::vector<float> logits;
  const float* head = c.tie_word_embeddings ? emb : W("lm_head.weight");
  for (int64_t t = 0; t < T; ++t) {
    auto h = rms(x[t], W("model.norm.weight"));
    for (auto v : matvec(head, V, C, h)) logits.push_back(static_cast<float>(v));
  }
  return logits;
}

Weights WeightsOf(Qwen3ForCausalLM& m) {
  Weights w;
  for (auto& p : m->named_parameters()) w[p.key()] = p.value().detach();
  return w;
}

TEST(ModelTest, ParameterNamesAreHuggingFaces) {
  ModelConfig c = TinyConfig();
  c.tie_word_embeddings = false;
  Qwen3ForCausalLM m(c);
  Weights w = WeightsOf(m);
  for (auto name :
       {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
        "model.layers.1.self_attn.k_norm.weight", "model.layers.0.self_attn.q_norm.weight",
        "model.layers.0.mlp.gate_proj.weight", "model.layers.1.post_attention_layernorm.weight",
        "model.norm.weight", "lm_head.weight"})
    EXPECT_TRUE(w.count(name)) << name;
  int64_t n = 0;
  for (auto& [k, t] : w) n += t.numel();
  EXPECT_EQ(n, c.NumParameters());
}

class ForwardTest : public ::testing::TestWithParam<bool> {};

TEST_P(ForwardTest, MatchesTheReferenceForward) {
  torch::manual_seed(0);
  ModelConfig c = TinyConfig();
  c.tie_word_embeddings = GetParam();
  Qwen3ForCausalLM m(c);
  {  // non-trivial norm weights, so a missing norm would show
    torch::NoGradGuard g;
    for (auto& p : m->named_parameters())
      if (p.value().dim() == 1) p.value().uniform_(0.5, 1.5);
  }
  const std::vector<int64_t> ids = {3, 17, 42, 5, 9, 9, 31};
  auto logits = m->forward(torch::tensor(ids).unsqueeze(0)).squeeze(0);  // (T, V)
  Weights w = WeightsOf(m);
  const auto ref = ReferenceForward(c, w, ids);
  ASSERT_EQ(static_cast<int64_t>(ref.size()), logits.numel());
  auto got = logits.contiguous();
  double max_diff = 0;
  for (int64_t i = 0; i < got.numel(); ++i)
    max_diff = std::max(max_diff, std::abs(double(got.data_ptr<float>()[i]) - ref[i]));
  EXPECT_LT(max_diff, 1e-4);
}
INSTANTIATE_TEST_SUITE_P(TiedAndUntied, ForwardTest, ::testing::Values(true, false));

TEST(ModelTest, PackedDocumentsDoNotSeeEachOther) {
  torch::manual_seed(1);
  Qwen3ForCausalLM m(TinyConfig());
  auto a = torch::tensor(std::vector<int64_t>{1, 2, 3, 4}),
       b = torch::tensor(std::vector<int64_t>{7, 8, 9});
  auto packed = torch::cat({a, b}).unsqueeze(0);
  auto doc = torch::tensor(std::vector<int64_t>{0, 0, 0, 0, 1, 1, 1}).unsqueeze(0);
  auto pos = torch::tensor(std::vector<int64_t>{0, 1, 2, 3, 0, 1, 2}).unsqueeze(0);
  auto together = m->forward(packed, pos, doc).squeeze(0);
  auto alone_b = m->forward(b.unsqueeze(0)).squeeze(0);
  EXPECT_TRUE(torch::allclose(together.slice(0, 4, 7), alone_b, 1e-5, 1e-5));
  auto leaky = m->forward(packed).squeeze(0);  // without doc ids, b sees a
  EXPECT_FALSE(torch::allclose(leaky.slice(0, 4, 7), alone_b, 1e-5, 1e-5));
}

TEST(ModelTest, SaveLoadRoundTripIsExactAndTheFileLayoutIsSafetensors) {
  const std::string dir =
      (fs::temp_directory_path() / ("muchator_model_" + std::to_string(::getpid()))).string();
  torch::manual_seed(2);
  ModelConfig c = TinyConfig();
  c.tie_word_embeddings = false;
  Qwen3ForCausalLM m(c);
  SaveModel(m, dir);
  Qwen3ForCausalLM back = LoadModel(dir);
  Weights a = WeightsOf(m), b = WeightsOf(back);
  ASSERT_EQ(a.size(), b.size());
  for (auto& [k, t] : a) EXPECT_TRUE(torch::equal(t, b.at(k))) << k;
  // Layout: 8-byte little-endian N, N bytes of JSON padded with spaces to 8, then the data.
  const std::string bytes = ReadFile(dir + "/model.safetensors");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  EXPECT_EQ(n % 8, 0u);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  uint64_t end = 0, total = 0;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") continue;
    EXPECT_EQ(v["dtype"], "F32");
    end = std::max(end, v["data_offsets"][1].get<uint64_t>());
    total += v["data_offsets"][1].get<uint64_t>() - v["data_offsets"][0].get<uint64_t>();
  }
  EXPECT_EQ(bytes.size(), 8 + n + end);
  EXPECT_EQ(total, end);  // contiguous, no gaps
  EXPECT_EQ(header["model.layers.0.self_attn.q_proj.weight"]["shape"], nlohmann::json({32, 32}));
  // bf16 tensors load too (converted on load).
  SaveSafetensors(dir + "/bf16.safetensors", {{"x", torch::ones({3}, torch::kBFloat16) * 1.5}});
  EXPECT_TRUE(torch::equal(LoadSafetensors(dir + "/bf16.safetensors").at("x").to(torch::kFloat32),
                           torch::full({3}, 1.5)));
  // A missing tensor is a clear error.
  SaveSafetensors(dir + "/model.safetensors", {{"model.norm.weight", torch::ones({32})}});
  EXPECT_THROW(LoadModel(dir), Error);
  fs::remove_all(dir);
}

TEST(ModelTest, ResizeVocabKeepsOldRows) {
  Qwen3ForCausalLM m(TinyConfig());
  auto before = m->model->embed_tokens->weight.detach().clone();
  m->ResizeVocab(60);
  EXPECT_EQ(m->config().vocab_size, 60);
  EXPECT_TRUE(torch::equal(m->model->embed_tokens->weight.slice(0, 0, 50), before));
  EXPECT_EQ(m->forward(torch::tensor(std::vector<int64_t>{55, 59}).unsqueeze(0)).size(2), 60);
  EXPECT_THROW(m->ResizeVocab(10), Error);
}

TEST(ModelTest, RealQwen3ConfigParses) {
  const auto j = nlohmann::json::parse(
      R"({"architectures":["Qwen3ForCausalLM"],"hidden_act":"silu","attention_bias":false,
    "vocab_size":151936,"hidden_size":1024,"intermediate_size":3072,"num_hidden_layers":28,"num_attention_heads":16,
    "num_key_value_heads":8,"head_dim":128,"rope_theta":1000000,"rms_norm_eps":1e-06,"tie_word_embeddings":true,
    "max_position_embeddings":40960,"torch_dtype":"bfloat16"})");
  const ModelConfig c = ModelConfig::FromJson(j);
  EXPECT_EQ(c.head_dim, 128);  // q_proj output (2048) != hidden_size (1024) in Qwen3-0.6B
  EXPECT_NEAR(c.NumParameters() / 1e6, 596, 2);
  auto bad = j;
  bad["num_key_value_heads"] = 3;
  EXPECT_THROW(ModelConfig::FromJson(bad), Error);
  EXPECT_LT(ModelConfig::Named("tiny").NumParameters(), 1000000);
}

}  // namespace muchator
