// The engine tests' fixture (infer_test.cc, constrained_test.cc): a tiny synthetic world's catalog,
// a tokenizer trained on it, the title codec and a tiny random model with peaked weights, built
// once per test suite; and helpers to compare logits.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/rng.h"
#include "data/ingest.h"
#include "data/store.h"
#include "data/validate.h"
#include "infer/checkpoint.h"
#include "infer/constraint.h"
#include "infer/engine.h"
#include "infer/rerank.h"
#include "infer/sampler.h"
#include "text/bpe_train.h"
#include "text/chat.h"
#include "text/special_tokens.h"
#include "text/training_text.h"
#include "world/generate.h"

namespace muchator {
namespace {

namespace fs = std::filesystem;

// Larger weights than training's init: peaked distributions, so no test hangs on a near-tie
// that rounding could flip between two equally correct computations.
inline void PeakedWeights(Qwen3ForCausalLM& m) {
  torch::NoGradGuard g;
  for (auto& p : m->named_parameters())
    if (p.value().dim() == 2) p.value().normal_(0.0, 0.25);
}

// A model of config `c` with seeded peaked weights, in eval mode.
inline Qwen3ForCausalLM PeakedModel(const ModelConfig& c, uint64_t seed) {
  torch::manual_seed(seed);
  Qwen3ForCausalLM m(c);
  PeakedWeights(m);
  m->eval();
  return m;
}

class InferTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("muchator_infer_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    world::Generate(world::WorldConfig::ForSize("tiny"), dir_ + "/w");
    Ingest({dir_ + "/w", dir_ + "/s.db", "", true});
    Store store(dir_ + "/s.db");
    catalog_ = new Catalog(Catalog::FromStore(store));
    BpeTrainOptions o;
    o.vocab_size = 1500;
    o.special_tokens = BaseSpecialTokens();
    tok_ = TrainBpe([&](const auto& emit) { ForEachTrainingText(store, emit); }, o).release();
    codec_ = MakeItemCodec("title", *catalog_, *tok_).release();
    grammar_ = new AnswerGrammar(*tok_, *codec_, *catalog_);
    torch::manual_seed(7);
    ModelConfig c = ModelConfig::Named("tiny");
    c.vocab_size = tok_->vocab_size();
    model_ = new Qwen3ForCausalLM(c);
    PeakedWeights(*model_);
    (*model_)->eval();
  }
  static void TearDownTestSuite() {
    delete grammar_;
    delete codec_;
    delete tok_;
    delete catalog_;
    delete model_;
    fs::remove_all(dir_);
  }
  static std::vector<int> Prompt(const std::string& query, int history = 3) {
    UserContext ctx;
    ctx.profile = {{"age_bucket", "25-34"}};
    ctx.state = State{"evening", "weekday", "commute", "phone", 19};
    for (int i = 0; i < history; ++i)
      ctx.history.push_back(
          {State{"morning", "weekday", "", "", -1}, i * 17 % 500, Feedback::kLike});
    return RenderPrompt(*tok_, *codec_, ctx, query).ids;
  }
  // Logits of every position of `ids` by the model's own full forward (no cache).
  static torch::Tensor FullLogits(const std::vector<int>& ids) {
    torch::NoGradGuard g;
    std::vector<int64_t> v(ids.begin(), ids.end());
    auto t = torch::tensor(v, torch::kInt64).unsqueeze(0);
    return (*model_)->forward(t)[0];
  }
  // Exact fp32 engines (bf16 pre-fill off; it has its own test).
  static EngineOptions Fp32(int max_batch, int max_len = 512) {
    EngineOptions o;
    o.max_batch = max_batch;
    o.max_len = max_len;
    o.bf16_min_rows = 0;
    return o;
  }
  static Engine MakeEngine(int max_batch = 8) {
    return Engine(*model_, *tok_, grammar_, Fp32(max_batch));
  }

  static std::string dir_;
  static Catalog* catalog_;
  static Tokenizer* tok_;
  static ItemCodec* codec_;
  static AnswerGrammar* grammar_;
  static Qwen3ForCausalLM* model_;
};
std::string InferTest::dir_;
Catalog* InferTest::catalog_ = nullptr;
Tokenizer* InferTest::tok_ = nullptr;
ItemCodec* InferTest::codec_ = nullptr;
AnswerGrammar* InferTest::grammar_ = nullptr;
Qwen3ForCausalLM* InferTest::model_ = nullptr;

inline ConstraintOptions Items(int n, bool sentence = true, bool one_per_artist = false) {
  ConstraintOptions c;
  c.num_items = n;
  c.allow_sentence = sentence;
  c.one_per_artist = one_per_artist;
  return c;
}

// Tolerance for cached vs recomputed logits: both are fp32; they differ only in summation
// order (different matmul shapes), so |a - b| <= 1e-4 * max(1, |b|).
inline void ExpectClose(const float* a, const torch::Tensor& b, const std::string& what) {
  auto bc = b.contiguous();
  const float* pb = bc.data_ptr<float>();
  double worst = 0;
  for (int64_t i = 0; i < bc.numel(); ++i)
    worst = std::max(worst,
                     std::abs(a[i] - pb[i]) / std::max(1.0, std::abs(static_cast<double>(pb[i]))));
  EXPECT_LT(worst, 1e-4) << what;
}

// The reranked answer's order: the ranking model's score, the model's place in the pool
// (model_weight x log2(1 + place)), the model's evidence gap to its best song

}  // namespace
}  // namespace muchator
