#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "corpus/builders.h"
#include "data/ingest.h"
#include "data/store.h"
#include "text/bpe_train.h"
#include "text/item_codec.h"
#include "text/special_tokens.h"
#include "text/training_text.h"
#include "train/fused_loss.h"
#include "train/packer.h"
#include "train/trainer.h"
#include "world/generate.h"

namespace muchator {

namespace fs = std::filesystem;

TEST(ScheduleTest, WarmupThenCosine) {
  TrainOptions o;
  o.lr = 1.0;
  o.min_lr_ratio = 0.1;
  o.warmup_steps = 10;
  o.steps = 110;
  EXPECT_DOUBLE_EQ(LearningRate(o, 0), 0.1);
  EXPECT_DOUBLE_EQ(LearningRate(o, 9), 1.0);
  EXPECT_NEAR(LearningRate(o, 10), 1.0, 1e-12);
  EXPECT_NEAR(LearningRate(o, 60), 0.55, 1e-9);  // half-way down the cosine
  EXPECT_NEAR(LearningRate(o, 110), 0.1, 1e-12);
}

// MergeCheckpoints: every tensor is init + a (mean of the runs - init); a mismatched run throws.
TEST(MergeTest, MergedWeightsAreTheStartPlusAShareOfTheRunsMeanMove) {
  const fs::path dir = fs::temp_directory_path() / ("muchator_merge_" + std::to_string(::getpid()));
  ModelConfig c = ModelConfig::Named("tiny");
  c.vocab_size = 40;
  torch::manual_seed(3);
  std::vector<Qwen3ForCausalLM> models;
  for (const char* name : {"init", "run0", "run1"}) {
    models.emplace_back(c);
    SaveModel(models.back(), (dir / name).string());
  }
  WriteFileAtomic((dir / "run0" / "tokenizer.json").string(), "{}");  // travels to the merge
  MergeCheckpoints((dir / "init").string(), {(dir / "run0").string(), (dir / "run1").string()}, 0.5,
                   (dir / "merged").string(), 7);
  Qwen3ForCausalLM merged = LoadModel((dir / "merged").string());
  auto want = models[0]->named_parameters(), got = merged->named_parameters();
  auto r0 = models[1]->named_parameters(), r1 = models[2]->named_parameters();
  for (const auto& p : want) {
    const torch::Tensor expect = p.value() + 0.5 * ((r0[p.key()] + r1[p.key()]) / 2 - p.value());
    EXPECT_TRUE(torch::allclose(got[p.key()], expect, 1e-6, 1e-6)) << p.key();
    if (!torch::allclose(r0[p.key()], p.value())) {  // norms start at 1 in every model
      EXPECT_FALSE(torch::allclose(got[p.key()], p.value())) << p.key() << " did not move";
    }
  }
  EXPECT_EQ(ReadFile((dir / "merged" / "DONE").string()), "7\n");
  EXPECT_EQ(ReadFile((dir / "merged" / "tokenizer.json").string()), "{}");
  // a = 1 with one run is that run, exactly.
  MergeCheckpoints((dir / "init").string(), {(dir / "run1").string()}, 1.0, (dir / "same").string(),
                   1);
  Qwen3ForCausalLM same = LoadModel((dir / "same").string());
  for (const auto& p : same->named_parameters())
    EXPECT_TRUE(torch::allclose(p.value(), r1[p.key()], 0, 1e-7)) << p.key();
  // A run of another shape is refused, naming the run.
  ModelConfig wide = c;
  wide.intermediate_size = 96;
  Qwen3ForCausalLM other(wide);
  SaveModel(other, (dir / "other").string());
  try {
    MergeCheckpoints((dir / "init").string(), {(dir / "other").string()}, 1.0,
                     (dir / "bad").string(), 1);
    ADD_FAILURE() << "a run of another shape was merged";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("other"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(LossTest, FusedBf16LmHeadLossMatchesTheReference) {
  // Loss and gradients of the fused bf16 LM head + loss against h W^T in fp32 and
  // MaskedCrossEntropy: equal up to bf16 rounding (inputs and logits have 8-bit mantissas).
  torch::manual_seed(1);
  const int64_t B = 3, T = 17, C = 48, V = 301;  // V not a multiple of any vector width
  auto h = (torch::randn({B, T, C}) * 2).requires_grad_();
  auto w = (torch::randn({V, C}) * 0.3).requires_grad_();
  auto targets = torch::randint(0, V, {B, T}, torch::kInt64);
  auto mask = (torch::rand({B, T}) > 0.3).to(torch::kFloat32);
  auto fused = FusedLinearCrossEntropyBf16(h, w, targets, mask);
  (fused * 2.0).backward();  // a non-unit upstream gradient
  auto gh = h.grad().clone(), gw = w.grad().clone();
  h.grad().zero_();
  w.grad().zero_();
  // The reference on the bf16-rounded inputs, in fp32.
  auto h16 = h.detach().to(torch::kBFloat16).to(torch::kFloat32).requires_grad_();
  auto w16 = w.detach().to(torch::kBFloat16).to(torch::kFloat32).requires_grad_();
  auto ref = MaskedCrossEntropy(torch::matmul(h16, w16.t()), targets, mask);
  (ref * 2.0).backward();
  EXPECT_NEAR(fused.item<double>(), ref.item<double>(), 0.02 * ref.item<double>());
  auto rel = [](const torch::Tensor& a, const torch::Tensor& b) {
    return ((a - b).abs().max() / b.abs().max()).item<double>();
  };
  EXPECT_LT(rel(gh, h16.grad()), 0.03);
  EXPECT_LT(rel(gw, w16.grad()), 0.03);
  // Masked-out positions get no gradient.
  auto per_pos = gh.abs().sum(-1);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      if (mask[b][t].item<float>() == 0) {
        EXPECT_EQ(per_pos[b][t].item<float>(), 0.0f);
      }
    }
  // A target outside the vocabulary is an error, not a crash.
  auto bad = targets.clone();
  bad[0][0] = V;
  EXPECT_THROW(FusedLinearCrossEntropyBf16(h, w, bad, mask), std::exception);
}

TEST(LossTest, MaskedPositionsGetZeroGradient) {
  torch::manual_seed(0);
  auto logits = torch::randn({2, 5, 11}, torch::requires_grad());
  auto targets = torch::randint(0, 11, {2, 5}, torch::kInt64);
  auto mask = torch::tensor({1.f, 0.f, 1.f, 0.f, 0.f, 0.f, 1.f, 1.f, 0.f, 1.f}).view({2, 5});
  auto loss = MaskedCrossEntropy(logits, targets, mask);
  loss.backward();
  auto g = logits.grad().abs().sum(-1);  // (2, 5)
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 5; ++t) {
      if (mask[b][t].item<float>() == 0)
        EXPECT_EQ(g[b][t].item<float>(), 0.0f) << b << "," << t;
      else
        EXPECT_GT(g[b][t].item<float>(), 0.0f);
    }
  // The value is the mean over the masked-in positions only.
  auto ce = torch::nn::functional::cross_entropy(
      logits.detach().view({10, 11}), targets.view({10}),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  EXPECT_NEAR(loss.item<double>(), (ce * mask.view({10})).sum().item<double>() / 5.0, 1e-6);
}

class TrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("muchator_train_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    world::Generate(world::WorldConfig::ForSize("tiny"), dir_ + "/w");
    Ingest({dir_ + "/w", dir_ + "/s.db", "", true});
    Store store(dir_ + "/s.db");
    BpeTrainOptions o;
    o.vocab_size = 800;
    o.special_tokens = BaseSpecialTokens();
    auto tok = TrainBpe([&](const auto& emit) { ForEachTrainingText(store, emit); }, o);
    const Catalog catalog = Catalog::FromStore(store);
    auto codec = MakeItemCodec("title", catalog, *tok);
    MakeDirs(dir_ + "/c");
    tok->SaveHf(dir_ + "/c/tokenizer.json");
    BuildCorpora(store, *tok, *codec, catalog, dir_ + "/c", {});
    vocab_ = tok->vocab_size();
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string dir_;
  static int64_t vocab_;
};
std::string TrainTest::dir_;
int64_t TrainTest::vocab_ = 0;

TEST_F(TrainTest, PackerIsDeterministicSkipsExactlyAndHoldsOutDisjointDocuments) {
  Packer a(dir_ + "/c", {"stage1_objective"}, 32, 5), b(dir_ + "/c", {"stage1_objective"}, 32, 5);
  for (int i = 0; i < 3; ++i) a.Next(4);
  b.Skip(3, 4);
  Batch x = a.Next(4), y = b.Next(4);
  EXPECT_TRUE(torch::equal(x.ids, y.ids));
  EXPECT_TRUE(torch::equal(x.mask, y.mask));
  EXPECT_TRUE(torch::equal(x.targets.slice(1, 0, 31), x.ids.slice(1, 1, 32)));
  Packer held(dir_ + "/c", {"stage1_objective"}, 32, 5, /*held_out=*/true);
  EXPECT_GT(held.num_docs(), 0);
  EXPECT_EQ(held.num_docs() + a.num_docs(),
            ShardReader(dir_ + "/c", "stage1_objective").num_docs());
  // Stage 3 masks: only item and feedback targets count.
  Packer beh(dir_ + "/c", {"stage3_behaviour"}, 64, 1);
  Batch z = beh.Next(2);
  EXPECT_GT(z.loss_tokens, 0);
  EXPECT_LT(z.loss_tokens, 2 * 64);
}

// One document per row gives the packed batch's loss and gradients (up to float rounding), with
// fewer attention scores; without the packed rows' document mask the loss would differ.
TEST_F(TrainTest, SplitDocumentsGivesThePackedLossAndGradients) {
  // Two packed rows of 64: documents of 20, 30 and 14 (padding: no loss) tokens, then 30 and 34.
  const int64_t T = 64;
  const std::vector<std::vector<int64_t>> docs = {{20, 30, 14}, {30, 34}};
  Batch packed;
  torch::manual_seed(4);
  packed.ids = torch::randint(0, vocab_, {2, T}, torch::kInt64);
  packed.targets = torch::randint(0, vocab_, {2, T}, torch::kInt64);
  packed.mask = (torch::rand({2, T}) < 0.6).to(torch::kFloat32);
  packed.positions = torch::zeros({2, T}, torch::kInt64);
  packed.doc_ids = torch::zeros({2, T}, torch::kInt64);
  int64_t serial = 0;
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t at = 0; const int64_t len : docs[r]) {
      packed.doc_ids[r].narrow(0, at, len).fill_(++serial);
      packed.positions[r].narrow(0, at, len).copy_(torch::arange(len, torch::kInt64));
      packed.mask[r][at + len - 1] = 0.0f;  // its target is the next document's first token
      at += len;
    }
  packed.mask[0].narrow(0, 50, 14).fill_(0.0f);  // padding
  packed.loss_tokens = static_cast<int64_t>(packed.mask.sum().item<double>());
  const std::optional<Batch> made = SplitDocuments(packed);
  ASSERT_TRUE(made.has_value());
  const Batch& split = *made;
  EXPECT_EQ(split.ids.sizes(), (std::vector<int64_t>{4, 34}));  // the padding run left out
  EXPECT_TRUE(torch::equal(split.ids[1].narrow(0, 0, 30), packed.ids[0].narrow(0, 20, 30)));
  EXPECT_TRUE(torch::equal(split.positions[3].narrow(0, 0, 34), torch::arange(34, torch::kInt64)));
  EXPECT_EQ(split.mask[0].narrow(0, 20, 14).sum().item<double>(), 0.0);  // its own padding
  EXPECT_FALSE(split.doc_ids.defined());
  EXPECT_EQ(split.loss_tokens, packed.loss_tokens);
  EXPECT_EQ(split.mask.sum().item<double>(), packed.mask.sum().item<double>());
  EXPECT_TRUE((split.mask.sum(1) > 0).all().item<bool>());  // no row without a loss token
  EXPECT_FALSE(SplitDocuments(split).has_value());          // one document per row already
  Batch no_loss = packed;
  no_loss.mask = torch::zeros_like(packed.mask);
  EXPECT_FALSE(SplitDocuments(no_loss).has_value());  // nothing to keep: trained as it is

  torch::manual_seed(2);
  ModelConfig c = ModelConfig::Named("tiny");
  c.vocab_size = vocab_;
  Qwen3ForCausalLM model(c);
  auto loss_and_grads = [&](const Batch& b, const torch::Tensor& doc_ids) {
    model->zero_grad();
    auto loss = LanguageModelLoss(model, b.ids, b.positions, doc_ids, b.targets, b.mask, false);
    loss.backward();
    std::vector<torch::Tensor> grads;
    for (const auto& param : model->parameters()) grads.push_back(param.grad().clone());
    return std::pair{loss.item<double>(), grads};
  };
  const auto [want, want_grads] = loss_and_grads(packed, packed.doc_ids);
  const auto [got, got_grads] = loss_and_grads(split, split.doc_ids);
  EXPECT_NEAR(got, want, 1e-5 * want);
  ASSERT_EQ(got_grads.size(), want_grads.size());
  for (size_t i = 0; i < got_grads.size(); ++i)
    EXPECT_LT((got_grads[i] - want_grads[i]).abs().max().item<double>(),
              1e-4 * want_grads[i].abs().max().item<double>() + 1e-9)
        << "parameter " << i;
  // The check has teeth: the packed rows attending across their documents give another loss.
  const auto [leaky, leaky_grads] = loss_and_grads(packed, torch::Tensor());
  EXPECT_GT(std::abs(leaky - want), 1e-3);
}

TEST_F(TrainTest, TwoStageCurriculumLowersEachStagesHeldOutLoss) {
  torch::manual_seed(1);
  ModelConfig c = ModelConfig::Named("tiny");
  c.vocab_size = vocab_;
  Qwen3ForCausalLM model(c);
  TrainOptions o;
  o.steps = 40;
  o.seq_len = 64;
  o.batch_size = 4;
  o.lr = 3e-3;
  o.warmup_steps = 5;
  o.eval_every = 40;
  o.ckpt_every = 20;
  o.eval_batches = 2;
  const std::string corpus = dir_ + "/c";
  const std::vector<std::string> stages = {"stage0_general", "stage1_objective"};
  const double g0 = HeldoutLoss(model, corpus, stages[0], o),
               o0 = HeldoutLoss(model, corpus, stages[1], o);
  StageResult r1 = TrainStage(model, corpus, {stages[0]}, stages, dir_ + "/run", stages[0], o,
                              false, corpus + "/tokenizer.json");
  const double g1 = HeldoutLoss(model, corpus, stages[0], o),
               o1 = HeldoutLoss(model, corpus, stages[1], o);
  StageResult r2 = TrainStage(model, corpus, {stages[1]}, stages, dir_ + "/run", stages[1], o,
                              false, corpus + "/tokenizer.json");
  const double o2 = HeldoutLoss(model, corpus, stages[1], o);
  std::printf("held-out: general %.3f -> %.3f; objective %.3f -> %.3f -> %.3f\n", g0, g1, o0, o1,
              o2);
  EXPECT_LT(g1, g0 - 0.5);
  EXPECT_LT(o2, o1 - 0.3);
  EXPECT_TRUE(fs::exists(dir_ + "/run/stage1_objective/final/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir_ + "/run/stage1_objective/final/tokenizer.json"));
  EXPECT_TRUE(fs::exists(dir_ + "/run/stage0_general/log.jsonl"));
  (void)r1;
  (void)r2;
}

TEST_F(TrainTest, LossOnFewPositionsEqualsTheFullLogitsLoss) {
  // Where few positions count (SFT), the LM head runs on those alone: same loss and gradients.
  torch::manual_seed(3);
  ModelConfig c = ModelConfig::Named("tiny");
  c.vocab_size = vocab_;
  Qwen3ForCausalLM model(c);
  const int64_t B = 2, T = 24;
  auto ids = torch::randint(0, vocab_, {B, T}, torch::kInt64);
  auto targets = torch::randint(0, vocab_, {B, T}, torch::kInt64);
  auto positions = torch::arange(T, torch::kInt64).unsqueeze(0).expand({B, T}).contiguous();
  auto doc_ids = torch::zeros({B, T}, torch::kInt64);
  auto mask = torch::zeros({B, T});
  mask.index_put_({0, torch::indexing::Slice(20, 24)}, 1.0);
  mask.index_put_({1, 7}, 1.0);  // 5 of 48 positions
  auto sparse = LanguageModelLoss(model, ids, positions, doc_ids, targets, mask, false);
  sparse.backward();
  auto g_sparse = model->LmWeight().grad().clone();
  model->zero_grad();
  auto full = MaskedCrossEntropy(model->forward(ids, positions, doc_ids), targets, mask);
  full.backward();
  EXPECT_NEAR(sparse.item<double>(), full.item<double>(), 1e-5);
  EXPECT_LT((g_sparse - model->LmWeight().grad()).abs().max().item<double>(), 1e-6);
  // No counted position: a zero loss, not a NaN.
  EXPECT_EQ(LanguageModelLoss(model, ids, positions, doc_ids, targets, torch::zeros({B, T}), false)
                .item<double>(),
            0.0);
}

TEST_F(TrainTest, ItemTokensStartFromTheirSongsWords) {
  Store store(dir_ + "/s.db");
  auto tok = Tokenizer::LoadHf(dir_ + "/c/tokenizer.json");  // the title codec added no tokens
  const Catalog catalog = Catalog::FromStore(store);
  const int64_t text_vocab = tok->vocab_size();
  auto codec = MakeItemCodec("atomic", catalog, *tok);
  const std::string corpus = dir_ + "/atomic";
  MakeDirs(corpus);
  tok->SaveHf(corpus + "/tokenizer.json");
  BuildCorpora(store, *tok, *codec, catalog, corpus, {});
  ModelConfig c = ModelConfig::Named("tiny");
  c.vocab_size = tok->vocab_size();
  torch::manual_seed(4);
  Qwen3ForCausalLM model(c);
  const auto before = model->model->embed_tokens->weight.detach().clone();
  EXPECT_EQ(WarmItemEmbeddings(model, corpus, *tok), catalog.items.size());
  const auto after = model->model->embed_tokens->weight.detach();
  // Text tokens are untouched; each song token points along the mean of its words' embeddings.
  EXPECT_TRUE(torch::equal(after.narrow(0, 0, text_vocab), before.narrow(0, 0, text_vocab)));
  const Song s = *store.GetSong(catalog.items[0].id);
  std::string words;
  for (const auto& w : s.genres) words += (words.empty() ? "" : ", ") + w;
  for (const auto& w : s.tags) words += (words.empty() ? "" : ", ") + w;
  if (!s.language.empty()) words += ", " + s.language;
  std::vector<int64_t> word_ids;
  for (const int t : tok->Encode(words)) word_ids.push_back(t);
  const auto want = before.index_select(0, torch::tensor(word_ids)).mean(0);
  const int song_token = codec->Encode(0)[1];
  const auto got = after[song_token];
  EXPECT_GT(torch::cosine_similarity(got, want, 0).item<double>(), 0.999);
  EXPECT_LT(torch::cosine_similarity(before[song_token], want, 0).item<double>(), 0.5);
  const double text_norm = before.narrow(0, 0, text_vocab).norm(2, 1).mean().item<double>();
  EXPECT_NEAR(got.norm().item<double>(), text_norm, 0.05 * text_norm);
  // The title codec writes no item words: nothing to warm.
  EXPECT_FALSE(fs::exists(dir_ + "/c/" + kItemWordsFile));
  EXPECT_EQ(WarmItemEmbeddings(model, dir_ + "/c", *tok), 0);
}

TEST_F(TrainTest, GeneralStageTrainsForItsOwnStepsAndLearningRate) {
  // The everyday-language stage has its own budget (general_steps, general_lr); later stages keep
  // `steps` and `lr`. Read back from each stage's log: the steps run and the peak lr.
  TrainOptions o;
  o.steps = 4;
  o.general_steps = 8;
  o.lr = 1e-3;
  o.general_lr = 4e-3;
  o.seq_len = 32;
  o.batch_size = 2;
  o.warmup_steps = 2;
  o.log_every = 1;
  o.eval_every = o.ckpt_every = 100;
  o.warm_items = false;
  const std::string out = dir_ + "/general_budget";
  const auto results = RunCurriculum(dir_ + "/c", {"stage0_general", "stage1_objective"}, false,
                                     out, "", "tiny", o, false);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].steps, 8);
  EXPECT_EQ(results[1].steps, 4);
  auto peak_lr = [&](const std::string& stage, int64_t* last_step) {
    std::ifstream in(out + "/" + stage + "/log.jsonl");
    std::string line;
    double peak = 0;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line);
      peak = std::max(peak, j.at("lr").get<double>());
      *last_step = j.at("step").get<int64_t>();
    }
    return peak;
  };
  int64_t last0 = 0, last1 = 0;
  EXPECT_NEAR(peak_lr("stage0_general", &last0), 4e-3, 1e-9);
  EXPECT_NEAR(peak_lr("stage1_objective", &last1), 1e-3, 1e-9);
  EXPECT_EQ(last0, 8);
  EXPECT_EQ(last1, 4);
}

}  // namespace muchator

#include "train/train_flags.h"

namespace muchator {
namespace {

// Each training flag lands in its TrainOptions field with its range checked; a command's own
// extra check holds beside the shared one; a name that is not a training flag is refused.
TEST(TrainFlagsTest, FlagsBindTheirFieldsAndKeepTheirChecks) {
  TrainOptions o;
  Options opts;
  DeclareTrainFlags(
      opts, o,
      {"steps", "batch-size", "grad-accum", "lr", "min-lr-ratio", "warmup-steps", "weight-decay",
       "clip", "bf16", "log-every", "eval-every", "eval-batches", "ckpt-every"});
  DeclareTrainFlag(opts, o, "seq-len").Range(64, 1e6);
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("muchator_train_flags_" + std::to_string(::getpid())))
                              .string();
  std::filesystem::create_directories(dir);
  auto toml = [&](const std::string& text) {
    std::ofstream(dir + "/c.toml") << text;
    return dir + "/c.toml";
  };
  opts.ApplyToml(toml(
      "steps = 7\nseq-len = 128\nbatch-size = 3\ngrad-accum = 2\nlr = 0.01\nmin-lr-ratio = 0.5\n"
      "warmup-steps = 4\nweight-decay = 0.2\nclip = 2.0\nbf16 = true\nlog-every = 5\n"
      "eval-every = 6\neval-batches = 2\nckpt-every = 9\n"));
  EXPECT_EQ(o.steps, 7);
  EXPECT_EQ(o.seq_len, 128);
  EXPECT_EQ(o.batch_size, 3);
  EXPECT_EQ(o.grad_accum, 2);
  EXPECT_DOUBLE_EQ(o.lr, 0.01);
  EXPECT_DOUBLE_EQ(o.min_lr_ratio, 0.5);
  EXPECT_EQ(o.warmup_steps, 4);
  EXPECT_DOUBLE_EQ(o.weight_decay, 0.2);
  EXPECT_DOUBLE_EQ(o.clip, 2.0);
  EXPECT_TRUE(o.bf16);
  EXPECT_EQ(o.log_every, 5);
  EXPECT_EQ(o.eval_every, 6);
  EXPECT_EQ(o.eval_batches, 2);
  EXPECT_EQ(o.ckpt_every, 9);
  EXPECT_NO_THROW(opts.Resolve());
  o.seq_len = 32;  // within the shared range (8 ...), not the command's own (64 ...)
  EXPECT_THROW(opts.Resolve(), Error);
  o.seq_len = 128;
  o.steps = 0;
  EXPECT_THROW(opts.Resolve(), Error);
  TrainOptions other;
  Options none;
  EXPECT_THROW(DeclareTrainFlag(none, other, "stepz"), Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace muchator
