// GGUF export: what llama.cpp reads back from the file (the tests against llama.cpp itself are
// tests/gguf, through node-llama-cpp).
#include "infer/gguf.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/file.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "support/tiny_world.h"
#include "text/tokenizer.h"

namespace fs = std::filesystem;

namespace muchator {
namespace {

class GgufTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    world_ = new testing::TinyWorld("gguf", 3);
    ckpt_ = new std::string(world_->MakeCheckpoint("ck", 7, "atomic"));
  }
  static void TearDownTestSuite() {
    delete ckpt_;
    delete world_;
  }
  static std::string Export(const std::string& type) {
    const std::string out = world_->dir + "/model." + type + ".gguf";
    ExportGguf(*ckpt_, out, ParseGgufType(type));
    return out;
  }
  static testing::TinyWorld* world_;
  static std::string* ckpt_;
};
testing::TinyWorld* GgufTest::world_ = nullptr;
std::string* GgufTest::ckpt_ = nullptr;

TEST_F(GgufTest, F32KeepsEveryWeightAndTheTokenizer) {
  const std::string path = Export("f32");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  const GgufFile f = ReadGguf(path);
  const ModelConfig c = ModelConfig::Load(*ckpt_ + "/config.json");
  const auto tok = Tokenizer::LoadHf(*ckpt_ + "/tokenizer.json");
  EXPECT_EQ(f.version, 3u);
  EXPECT_EQ(f.metadata["general.architecture"], "qwen3");
  EXPECT_EQ(f.metadata["qwen3.block_count"], c.num_hidden_layers);
  EXPECT_EQ(f.metadata["qwen3.attention.head_count_kv"], c.num_key_value_heads);
  EXPECT_EQ(f.metadata["qwen3.attention.key_length"], c.head_dim);
  EXPECT_EQ(f.metadata["tokenizer.ggml.model"], "gpt2");
  EXPECT_EQ(f.metadata["tokenizer.ggml.pre"], "qwen2");
  const auto& tokens = f.metadata["tokenizer.ggml.tokens"];
  const auto& types = f.metadata["tokenizer.ggml.token_type"];
  ASSERT_EQ(tokens.size(), static_cast<size_t>(c.vocab_size));
  ASSERT_EQ(types.size(), tokens.size());
  EXPECT_EQ(f.metadata["tokenizer.ggml.merges"].size(), tok->num_merges());
  // Template markers are control tokens, item tokens user-defined, the rest normal.
  const int im_start = tok->TokenId("<|im_start|>"), item = tok->TokenId("<|s_s1|>"),
            a = tok->TokenId("a");
  ASSERT_GE(item, 0);
  EXPECT_EQ(tokens[static_cast<size_t>(im_start)], "<|im_start|>");
  EXPECT_EQ(types[static_cast<size_t>(im_start)], 3);
  EXPECT_EQ(tokens[static_cast<size_t>(item)], "<|s_s1|>");
  EXPECT_EQ(types[static_cast<size_t>(item)], 4);
  EXPECT_EQ(types[static_cast<size_t>(a)], 1);
  EXPECT_EQ(f.metadata["tokenizer.ggml.eos_token_id"], tok->TokenId("<|im_end|>"));
  EXPECT_NE(f.metadata["tokenizer.chat_template"].get<std::string>().find("<|im_start|>"),
            std::string::npos);
  // Tied embeddings: no output.weight; 11 tensors a block plus embeddings and the final norm.
  EXPECT_EQ(f.tensors.size(), static_cast<size_t>(2 + 11 * c.num_hidden_layers));
  EXPECT_EQ(f.Find("output.weight"), nullptr);
  const auto weights = LoadSafetensors(*ckpt_ + "/model.safetensors");
  const std::map<std::string, std::string> names = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"},
      {"blk.1.ffn_down.weight", "model.layers.1.mlp.down_proj.weight"},
      {"blk.0.attn_k_norm.weight", "model.layers.0.self_attn.k_norm.weight"},
      {"output_norm.weight", "model.norm.weight"}};
  for (const auto& [gguf, hf] : names) {
    const GgufFile::Tensor* t = f.Find(gguf);
    ASSERT_NE(t, nullptr) << gguf;
    const torch::Tensor w = weights.at(hf);
    EXPECT_EQ(t->dims.front(), w.size(-1)) << gguf << ": ne[0] is the row length";
    EXPECT_TRUE(torch::equal(ReadGgufTensor(path, f, gguf), w)) << gguf;
  }
}

TEST_F(GgufTest, QuantisedTypesStayCloseAndNormsStayF32) {
  const auto w =
      LoadSafetensors(*ckpt_ + "/model.safetensors").at("model.layers.0.mlp.up_proj.weight");
  for (const std::string type : {"f16", "bf16", "q8_0"}) {
    const std::string path = Export(type);
    const GgufFile f = ReadGguf(path);
    const uint32_t want = type == "f16" ? 1 : type == "bf16" ? 30 : 8;
    EXPECT_EQ(f.Find("blk.0.ffn_up.weight")->type, want) << type;
    EXPECT_EQ(f.Find("blk.0.attn_norm.weight")->type, 0u) << type;
    const torch::Tensor back = ReadGgufTensor(path, f, "blk.0.ffn_up.weight");
    // q8_0: each value within half a step of its block's scale (max|x| / 127); f16/bf16: rounding.
    const double tol = type == "q8_0"   ? w.abs().max().item<double>() / 127 * 0.51
                       : type == "bf16" ? w.abs().max().item<double>() / 128
                                        : w.abs().max().item<double>() / 1024;
    EXPECT_LE((back - w).abs().max().item<double>(), tol) << type;
    EXPECT_GT((back - w).abs().max().item<double>(), 0) << type << " should not be exact";
  }
  // Each test runs in its own process under ctest: export the f32 file here too.
  EXPECT_LT(fs::file_size(world_->dir + "/model.q8_0.gguf"), fs::file_size(Export("f32")) / 2);
}

TEST_F(GgufTest, BadFilesAndNamesAreClearErrors) {
  EXPECT_THROW(ParseGgufType("q4_k"), Error);
  const std::string path = Export("f32");
  const std::string bytes = ReadFile(path);
  const std::string cut = world_->dir + "/cut.gguf", bad = world_->dir + "/bad.gguf";
  WriteFileAtomic(cut, bytes.substr(0, bytes.size() / 2));
  try {
    ReadGguf(cut);
    FAIL() << "a truncated file must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("beyond the end"), std::string::npos) << e.what();
  }
  WriteFileAtomic(cut, bytes.substr(0, 200));
  EXPECT_THROW(ReadGguf(cut), Error);
  WriteFileAtomic(bad, "GGML" + bytes.substr(4, 100));
  EXPECT_THROW(ReadGguf(bad), Error);
  EXPECT_THROW(ExportGguf(world_->dir + "/nope", world_->dir + "/x.gguf", GgufType::kF32), Error);
}

}  // namespace
}  // namespace muchator
