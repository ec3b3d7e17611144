// The generation engine on the tiny synthetic world's catalog with a tiny random model: KV cache
// against full recomputation, batching against one-by-one, the answer constraint's guarantees,
// the one-pass continuation, streaming, stop conditions and continuous batching.
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
#include "infer/checkpoint.h"
#include "infer/constraint.h"
#include "infer/engine.h"
#include "infer/rerank.h"
#include "infer/sampler.h"
#include "data/validate.h"
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
void PeakedWeights(Qwen3ForCausalLM& m) {
  torch::NoGradGuard g;
  for (auto& p : m->named_parameters())
    if (p.value().dim() == 2) p.value().normal_(0.0, 0.25);
}

// A model of config `c` with seeded peaked weights, in eval mode.
Qwen3ForCausalLM PeakedModel(const ModelConfig& c, uint64_t seed) {
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
    for (int i = 0; i < history; ++i) ctx.history.push_back({State{"morning", "weekday", "", "", -1}, i * 17 % 500, Feedback::kLike});
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
  static Engine MakeEngine(int max_batch = 8) { return Engine(*model_, *tok_, grammar_, Fp32(max_batch)); }

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

ConstraintOptions Items(int n, bool sentence = true, bool one_per_artist = false) {
  ConstraintOptions c;
  c.num_items = n;
  c.allow_sentence = sentence;
  c.one_per_artist = one_per_artist;
  return c;
}

// Tolerance for cached vs recomputed logits: both are fp32; they differ only in summation
// order (different matmul shapes), so |a - b| <= 1e-4 * max(1, |b|).
void ExpectClose(const float* a, const torch::Tensor& b, const std::string& what) {
  auto bc = b.contiguous();
  const float* pb = bc.data_ptr<float>();
  double worst = 0;
  for (int64_t i = 0; i < bc.numel(); ++i)
    worst = std::max(worst, std::abs(a[i] - pb[i]) / std::max(1.0, std::abs(static_cast<double>(pb[i]))));
  EXPECT_LT(worst, 1e-4) << what;
}

// The reranked answer's order: the ranking model's score, the model's place in the pool
// (model_weight x log2(1 + place)), the model's evidence gap to its best song
// (evidence_weight x (evidence[j] - evidence[0])), one song per artist while the pool allows.
TEST(RerankPoolTest, ScorePlaceAndEvidenceGapOrderThePoolOneSongPerArtist) {
  const std::vector<float> score = {5, 6, 7, 8};  // the ranking model prefers the pool's end
  const std::vector<int> artist = {0, 1, 2, 3};
  EXPECT_EQ(RerankPool(score, artist, 2, 0), (std::vector<int>{3, 2}));
  // A large place weight keeps the model's order.
  EXPECT_EQ(RerankPool(score, artist, 2, 100), (std::vector<int>{0, 1}));
  // Evidence: song 3 is 10 nats below the best, songs 1 and 2 half a nat: at weight 1 the gap
  // costs song 3 more than its 1-2 points of score; at 0 (or empty evidence) it is ignored.
  const std::vector<float> evidence = {-1, -1.5, -1.5, -11};
  EXPECT_EQ(RerankPool(score, artist, 2, 0, evidence, 1.0), (std::vector<int>{2, 1}));
  EXPECT_EQ(RerankPool(score, artist, 2, 0, evidence, 0.0), (std::vector<int>{3, 2}));
  EXPECT_EQ(RerankPool(score, artist, 2, 0, {}, 0.0), (std::vector<int>{3, 2}));
  EXPECT_THROW(RerankPool(score, artist, 2, 0, std::vector<float>{1, 2}, 1.0), Error);
  // One song per artist first, then the best of the rest; no artist (-1) is never capped.
  EXPECT_EQ(RerankPool(score, std::vector<int>{0, 1, 1, 1}, 3, 0), (std::vector<int>{3, 0, 2}));
  EXPECT_EQ(RerankPool(score, std::vector<int>{-1, -1, -1, -1}, 3, 0), (std::vector<int>{3, 2, 1}));
}

TEST_F(InferTest, SamplerIsSeededAndRespectsTopKTopPAndAllowed) {
  std::vector<float> logits = {1.0f, 3.0f, 2.0f, -std::numeric_limits<float>::infinity(), 0.5f};
  Rng r(1);
  SamplingOptions greedy;
  EXPECT_EQ(SampleToken(logits, {}, greedy, r), 1);
  const std::vector<int> allowed = {0, 2, 3};
  EXPECT_EQ(SampleToken(logits, allowed, greedy, r), 2);
  SamplingOptions o;
  o.temperature = 1.0;
  o.top_k = 2;
  std::set<int> seen;
  for (int i = 0; i < 200; ++i) seen.insert(SampleToken(logits, {}, o, r));
  EXPECT_EQ(seen, (std::set<int>{1, 2}));
  o.top_k = 0;
  o.top_p = 0.5;  // p(1) = 0.61 alone reaches 0.5
  for (int i = 0; i < 50; ++i) EXPECT_EQ(SampleToken(logits, {}, o, r), 1);
  o.top_p = 1.0;
  seen.clear();
  for (int i = 0; i < 2000; ++i) seen.insert(SampleToken(logits, {}, o, r));
  EXPECT_EQ(seen, (std::set<int>{0, 1, 2, 4}));  // never the -inf token
  // Plain temperature sampling draws each token with its softmax probability at that temperature
  // (the vectorised path), over all tokens and over an allowed subset.
  for (const double t : {1.0, 0.5}) {
    o.temperature = t;
    for (const std::vector<int>& subset : {std::vector<int>{}, std::vector<int>{4, 0, 3, 2}}) {
      double z = 0;
      std::vector<double> p(logits.size(), 0.0);
      for (size_t i = 0; i < logits.size(); ++i)
        if (std::isfinite(logits[i]) &&
            (subset.empty() || std::count(subset.begin(), subset.end(), static_cast<int>(i))))
          z += p[i] = std::exp(logits[i] / t);
      std::vector<int> count(logits.size(), 0);
      const int draws = 40000;
      for (int i = 0; i < draws; ++i) ++count[SampleToken(logits, subset, o, r)];
      for (size_t i = 0; i < logits.size(); ++i)
        EXPECT_NEAR(count[i] / static_cast<double>(draws), p[i] / z, 0.01)
            << "token " << i << " at temperature " << t;
    }
  }
  o.temperature = 1.0;
  Rng a(5), b(5);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(SampleToken(logits, {}, o, a), SampleToken(logits, {}, o, b));
  // A single possibility draws nothing from the stream.
  Rng c(9), d(9);
  const std::vector<int> one = {4};
  EXPECT_EQ(SampleToken(logits, one, o, c), 4);
  EXPECT_EQ(c.NextU64(), d.NextU64());
  const std::vector<int> one_finite = {3, 4};  // 3 has logit -inf
  EXPECT_EQ(SampleToken(logits, one_finite, o, c), 4);
  EXPECT_EQ(c.NextU64(), d.NextU64());
  const std::vector<int> only_neg_inf = {3, 3};  // two candidates, both -inf
  EXPECT_THROW(SampleToken(logits, only_neg_inf, o, r), Error);
  o.temperature = -1;
  EXPECT_THROW(o.Validate(), Error);
}

TEST_F(InferTest, KvCacheDecodingGivesTheLogitsOfFullRecomputation) {
  Engine engine = MakeEngine();
  std::vector<std::vector<float>> seen[3];
  std::vector<GenerationRequest> reqs;
  const std::vector<std::string> queries = {"rainy drive", "something calm for studying late at night with tea", "party"};
  for (int k = 0; k < 3; ++k) {
    GenerationRequest r;
    r.prompt = Prompt(queries[k], k * 2);
    r.sampling.max_new_tokens = 24;
    r.stop_tokens = {-1};  // never stop early: compare many positions
    r.logits_hook = [&seen, k](std::span<float> l, std::span<const int>) { seen[k].emplace_back(l.begin(), l.end()); };
    reqs.push_back(r);
  }
  const auto prompts = std::vector<std::vector<int>>{reqs[0].prompt, reqs[1].prompt, reqs[2].prompt};
  auto results = engine.Generate(reqs);
  for (int k = 0; k < 3; ++k) {
    ASSERT_EQ(results[k].tokens.size(), 24u);
    ASSERT_EQ(seen[k].size(), 24u);
    std::vector<int> all = prompts[k];
    all.insert(all.end(), results[k].tokens.begin(), results[k].tokens.end() - 1);
    auto full = FullLogits(all);
    for (size_t i = 0; i < seen[k].size(); ++i)
      ExpectClose(seen[k][i].data(), full[prompts[k].size() - 1 + i], "request " + std::to_string(k) + " step " + std::to_string(i));
  }
}

TEST_F(InferTest, Bf16PrefillStaysCloseToFp32) {
  // bf16 pre-fill (the default on CPUs with native bf16) against exact fp32: the first token's
  // logits agree to bf16 precision and the constrained answers are mostly the same.
  EngineOptions o = Fp32(8);
  o.bf16_min_rows = 1;
  Engine bf(*model_, *tok_, grammar_, o), fp = MakeEngine();
  std::vector<GenerationRequest> reqs;
  std::vector<std::vector<float>> first_bf(8), first_fp(8);
  for (int k = 0; k < 8; ++k) {
    GenerationRequest r;
    r.prompt = Prompt("bf16 " + std::to_string(k), k);
    r.constraint = Items(5, false);
    reqs.push_back(r);
  }
  auto hook = [](std::vector<std::vector<float>>& into, int k) {
    return [&into, k](std::span<float> l, std::span<const int> gen) {
      if (gen.empty()) into[k].assign(l.begin(), l.end());
    };
  };
  auto a = reqs, b = reqs;
  for (int k = 0; k < 8; ++k) a[k].logits_hook = hook(first_bf, k), b[k].logits_hook = hook(first_fp, k);
  auto rb = bf.Generate(a), rf = fp.Generate(b);
  int same = 0;
  for (int k = 0; k < 8; ++k) {
    double worst = 0, scale = 0;
    for (size_t i = 0; i < first_fp[k].size(); ++i) {
      worst = std::max(worst, static_cast<double>(std::abs(first_bf[k][i] - first_fp[k][i])));
      scale = std::max(scale, static_cast<double>(std::abs(first_fp[k][i])));
    }
    EXPECT_LT(worst, 0.05 * scale) << k;
    EXPECT_GT(worst, 0.0) << "bf16 was not used";
    same += rb[k].items == rf[k].items;
  }
  EXPECT_GE(same, 5);
}

TEST_F(InferTest, ABatchOfDifferentLengthsEqualsOneByOne) {
  std::vector<GenerationRequest> reqs;
  for (int k = 0; k < 6; ++k) {
    GenerationRequest r;
    r.prompt = Prompt("query number " + std::to_string(k) + std::string(k * 3, '!'), k);
    r.sampling.temperature = k % 2 ? 0.0 : 0.9;
    r.sampling.seed = 100 + k;
    r.sampling.max_new_tokens = 10 + 7 * k;  // they finish at different times
    if (k >= 3) r.constraint = ConstraintOptions{};
    reqs.push_back(r);
  }
  Engine batched = MakeEngine(8);
  auto together = batched.Generate(reqs);
  for (int k = 0; k < 6; ++k) {
    Engine alone = MakeEngine(1);
    auto single = alone.Generate({reqs[k]});
    EXPECT_EQ(together[k].tokens, single[0].tokens) << "request " << k;
    EXPECT_EQ(together[k].items, single[0].items) << "request " << k;
  }
  // A batch larger than the slots queues the rest and still gives the same answers.
  Engine small = MakeEngine(2);
  auto queued = small.Generate(reqs);
  for (int k = 0; k < 6; ++k) EXPECT_EQ(queued[k].tokens, together[k].tokens) << "request " << k;
}

TEST_F(InferTest, ConstrainedAnswersOnlyHoldCatalogItemsNeverBannedAlwaysWellFormed) {
  Engine engine = MakeEngine(16);
  Rng r(42);
  std::vector<GenerationRequest> reqs;
  for (int k = 0; k < 48; ++k) {
    GenerationRequest q;
    q.prompt = Prompt("request " + std::to_string(k), k % 5);
    q.sampling.temperature = 0.5 + r.Uniform();
    q.sampling.top_p = k % 3 == 0 ? 0.9 : 1.0;
    q.sampling.seed = k;
    q.sampling.max_new_tokens = 400;
    ConstraintOptions c;
    c.num_items = 1 + static_cast<int>(r.Below(10));
    c.allow_sentence = k % 2 == 0;
    c.max_sentence_tokens = 8;
    for (int i = 0; i < 40; ++i) c.banned_items.push_back(static_cast<int>(r.Below(500)));
    c.one_per_artist = k % 4 < 2;
    if (k % 6 == 0) c.banned_artists = {grammar_->ArtistOf(0)};
    q.constraint = c;
    reqs.push_back(q);
  }
  auto results = engine.Generate(reqs);
  int with_sentence = 0;
  for (int k = 0; k < 48; ++k) {
    const auto& c = *reqs[k].constraint;
    const auto& res = results[k];
    ParsedAnswer p = ParseAnswer(*tok_, *codec_, res.tokens);
    EXPECT_TRUE(p.well_formed()) << k << ": " << (p.problems.empty() ? "" : p.problems[0]) << "\n" << tok_->Decode(res.tokens);
    EXPECT_TRUE(p.invalid_items.empty());
    EXPECT_EQ(p.items, res.items);
    EXPECT_EQ(static_cast<int>(res.items.size()), c.num_items) << k;
    EXPECT_EQ(res.finish, FinishReason::kStop);
    with_sentence += !p.sentence.empty();
    EXPECT_TRUE(IsValidUtf8(tok_->Decode(res.tokens))) << k << ": the answer is not valid UTF-8";
    std::set<int> distinct(res.items.begin(), res.items.end()), artists;
    EXPECT_EQ(distinct.size(), res.items.size());
    for (int item : res.items) {
      EXPECT_EQ(std::count(c.banned_items.begin(), c.banned_items.end(), item), 0) << "banned item emitted";
      for (int a : c.banned_artists) EXPECT_NE(grammar_->ArtistOf(item), a) << "banned artist emitted";
      if (c.one_per_artist) {
        EXPECT_TRUE(artists.insert(grammar_->ArtistOf(item)).second) << "artist twice";
      }
    }
  }
  EXPECT_GT(with_sentence, 0);  // the sentence path was exercised
}

// A prompt near the context limit (issue 32): a constrained answer is a whole list or a clear
// refusal, never a list cut short. MaxAnswerTokens bounds every complete answer; Submit refuses a
// prompt that leaves less room than that; FitPrompt drops the oldest history events until the
// prompt leaves it, and the answer to that prompt is complete.
TEST_F(InferTest, APromptNearTheContextLimitGetsAWholeListOrAClearError) {
  const ConstraintOptions ten = Items(10, /*sentence=*/true);
  const int bound = grammar_->MaxAnswerTokens(ten);
  EXPECT_GT(bound, grammar_->MaxAnswerTokens(Items(3, true)));
  EXPECT_GT(bound, grammar_->MaxAnswerTokens(Items(10, false)));
  // The bound holds for sampled answers (title codec: items of several tokens).
  {
    Engine engine = MakeEngine(8);
    std::vector<GenerationRequest> reqs;
    for (int k = 0; k < 16; ++k) {
      GenerationRequest q;
      q.prompt = Prompt("bound " + std::to_string(k), 2);
      q.sampling.temperature = 1.5;
      q.sampling.seed = static_cast<uint64_t>(k);
      q.sampling.max_new_tokens = 4096;
      q.constraint = ten;
      reqs.push_back(q);
    }
    for (const auto& res : engine.Generate(reqs)) EXPECT_LE(static_cast<int>(res.tokens.size()), bound);
  }
  // A listener with a long history in a 512-token context.
  UserContext ctx;
  ctx.state = State{"evening", "weekday", "commute", "phone", 19};
  for (int i = 0; i < 60; ++i)
    ctx.history.push_back({State{i % 2 ? "morning" : "night", "weekday", "", "", -1}, i * 13 % 500, Feedback::kLike});
  const int max_len = 512;
  Engine engine(*model_, *tok_, grammar_, Fp32(4, max_len));
  // As many events as the context holds: a prompt just below max_len.
  int events = 0;
  while (events < 60 &&
         static_cast<int>(RenderPrompt(*tok_, *codec_, ctx, "songs for the drive home", events + 1).size()) < max_len)
    ++events;
  GenerationRequest full;
  full.prompt = RenderPrompt(*tok_, *codec_, ctx, "songs for the drive home", events).ids;
  ASSERT_GT(static_cast<int>(full.prompt.size()) + bound, max_len) << "the test needs a prompt near the limit";
  ASSERT_LT(static_cast<int>(full.prompt.size()), max_len);
  full.constraint = ten;
  try {
    engine.Submit(full);
    ADD_FAILURE() << "a prompt without room for the whole list was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("complete answer of 10 songs"), std::string::npos) << e.what();
  }
  GenerationRequest fitted = full;
  fitted.prompt = FitPrompt(*tok_, *codec_, ctx, "songs for the drive home", events, max_len - bound).ids;
  EXPECT_LE(static_cast<int>(fitted.prompt.size()), max_len - bound);
  EXPECT_GT(fitted.prompt.size(), RenderPrompt(*tok_, *codec_, ctx, "songs for the drive home", 0).size())
      << "only as many events as needed go";
  // One more event would not have fitted.
  int kept = 0;
  for (int h = 0; h <= events; ++h)
    if (RenderPrompt(*tok_, *codec_, ctx, "songs for the drive home", h).ids == fitted.prompt) kept = h;
  ASSERT_GT(kept, 0);
  EXPECT_GT(static_cast<int>(RenderPrompt(*tok_, *codec_, ctx, "songs for the drive home", kept + 1).size()),
            max_len - bound);
  fitted.sampling.temperature = 1.5;
  fitted.sampling.max_new_tokens = 4096;
  for (uint64_t seed = 0; seed < 4; ++seed) {
    fitted.sampling.seed = seed;
    const auto res = engine.Generate({fitted})[0];
    const ParsedAnswer a = ParseAnswer(*tok_, *codec_, res.tokens);
    EXPECT_TRUE(a.well_formed()) << tok_->Decode(res.tokens);
    EXPECT_EQ(a.items.size(), 10u);
    EXPECT_EQ(res.finish, FinishReason::kStop);
  }
  // A listed pool asks for more songs than it needs: only those must fit (fit_items, or
  // min_items), the context may cut the rest.
  GenerationRequest pool = fitted;
  pool.constraint = Items(100, true);
  EXPECT_THROW(engine.Submit(pool), Error);
  pool.constraint->fit_items = 10;
  const auto cut = engine.Generate({pool})[0];
  EXPECT_GE(cut.items.size(), 10u);
  pool.constraint->fit_items = -1;
  pool.constraint->min_items = 10;
  EXPECT_NO_THROW(engine.Generate({pool}));
}

TEST_F(InferTest, ConstrainedSentencesStayValidUtf8) {
  // A logits hook that pushes the model towards single bytes of multi-byte characters (lead and
  // continuation bytes): the constraint must still only let complete characters through.
  std::vector<int> byte_tokens;
  for (int id = 0; id < tok_->vocab_size(); ++id) {
    const std::string& b = tok_->TokenBytes(id);
    if (b.size() == 1 && (static_cast<unsigned char>(b[0]) & 0x80)) byte_tokens.push_back(id);
  }
  ASSERT_GT(byte_tokens.size(), 100u);
  std::vector<GenerationRequest> reqs;
  for (int k = 0; k < 24; ++k) {
    GenerationRequest r;
    r.prompt = Prompt("utf8 " + std::to_string(k));
    r.sampling.temperature = 1.0;
    r.sampling.seed = k;
    r.sampling.max_new_tokens = 300;
    ConstraintOptions c = Items(2);
    c.max_sentence_tokens = 5 + k % 7;
    r.constraint = c;
    r.logits_hook = [&byte_tokens](std::span<float> l, std::span<const int>) {
      for (int id : byte_tokens) l[id] += 50.0f;
    };
    reqs.push_back(r);
  }
  Engine engine = MakeEngine(8);
  int multibyte = 0;
  for (const auto& res : engine.Generate(reqs)) {
    const std::string text = tok_->Decode(res.tokens);
    EXPECT_TRUE(IsValidUtf8(text)) << text;
    EXPECT_TRUE(ParseAnswer(*tok_, *codec_, res.tokens).well_formed()) << text;
    for (unsigned char c : text) multibyte += c >= 0xC0;
  }
  EXPECT_GT(multibyte, 10);  // multi-byte characters were written, and all completed
  // The grammar's bookkeeping: a 2-byte lead owes 1 byte; a continuation byte pays it.
  int lead = -1, cont = -1;
  for (int id : byte_tokens) {
    if (tok_->TokenBytes(id) == "\xC3") lead = id;
    if (tok_->TokenBytes(id) == "\xA9") cont = id;
  }
  EXPECT_EQ(grammar_->Utf8After(0, lead), 1);
  EXPECT_EQ(grammar_->Utf8After(1, cont), 0);
  EXPECT_EQ(grammar_->Utf8After(0, cont), -1);
  EXPECT_EQ(grammar_->Utf8After(1, lead), -1);
}

TEST_F(InferTest, ConstrainedSentenceNeverReadsAsANumberedListLine) {
  // A model that loves digits, dots and spaces: before the fix it opened with a sentence such as
  // "7. 3. ..." that a client reading numbered lines took for an eleventh song.
  std::vector<int> numeric;
  for (int id = 0; id < tok_->vocab_size(); ++id) {
    const std::string& b = tok_->TokenBytes(id);
    if (tok_->IsSpecial(id) || b.empty() || b == "1") continue;
    if (b.find_first_not_of("0123456789. ") == std::string::npos && b.find_first_of("0123456789") != std::string::npos)
      numeric.push_back(id);
  }
  ASSERT_GT(numeric.size(), 5u);
  for (int id : grammar_->StartTokens()) {
    if (id == tok_->Encode("1. ")[0]) continue;
    EXPECT_FALSE(std::isdigit(static_cast<unsigned char>(tok_->TokenBytes(id)[0]))) << tok_->TokenBytes(id);
  }
  std::vector<GenerationRequest> reqs;
  for (int k = 0; k < 8; ++k) {
    GenerationRequest r;
    r.prompt = Prompt("digits " + std::to_string(k));
    r.sampling.temperature = 1.0;
    r.sampling.seed = 100 + k;
    r.sampling.max_new_tokens = 300;
    r.constraint = Items(3);
    const int one = tok_->Encode("1. ")[0];
    r.logits_hook = [&numeric, one](std::span<float> l, std::span<const int> sofar) {
      for (int id : numeric) l[id] += 50.0f;
      if (sofar.empty()) l[one] -= 100.0f;  // and would rather not start the list at once
    };
    reqs.push_back(r);
  }
  Engine engine = MakeEngine(8);
  for (const auto& res : engine.Generate(reqs)) {
    const std::string text = tok_->Decode(res.tokens);
    int numbered = 0;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
      numbered += std::regex_search(line, std::regex("^[0-9]+\\. "));
    EXPECT_EQ(numbered, 3) << text;
    EXPECT_TRUE(ParseAnswer(*tok_, *codec_, res.tokens).well_formed()) << text;
  }
}

TEST_F(InferTest, ConstraintEndsEarlyWhenNoAllowedItemIsLeft) {
  ConstraintOptions o;
  o.allow_sentence = false;
  for (int i = 0; i < 500; ++i)
    if (i != 11 && i != 222) o.banned_items.push_back(i);
  AnswerConstraint c(*grammar_, o);
  std::vector<int> emitted;
  while (!c.Done()) {
    auto a = c.Allowed();
    ASSERT_FALSE(a.empty());
    emitted.push_back(a.back());  // any allowed choice
    c.Advance(a.back());
  }
  std::set<int> items(c.items().begin(), c.items().end());
  EXPECT_EQ(items, (std::set<int>{11, 222}));
  EXPECT_TRUE(ParseAnswer(*tok_, *codec_, emitted).well_formed());
  EXPECT_THROW(AnswerConstraint(*grammar_, Items(0)), Error);
  AnswerConstraint fresh(*grammar_, o);
  EXPECT_THROW(fresh.Advance(tok_->TokenId(tok::kItemEnd)), Error);  // not allowed first
}

// The reference for the next test: with the sentence off, the tokens allowed after `prefix`
// computed from the item sequences directly (no trie, no state machine).
std::vector<int> ReferenceAllowed(const Tokenizer& tok, const ItemCodec& codec, const std::vector<int>& prefix,
                                  const std::set<int>& banned, int num_items) {
  std::vector<int> expected_text;
  std::set<int> used;
  size_t i = 0;
  for (int k = 1;; ++k) {
    // "k. " (or <|im_end|> once num_items are out), then an item, then "\n".
    if (k > num_items) return i == prefix.size() ? std::vector<int>{tok.TokenId(tok::kImEnd)} : std::vector<int>{};
    for (int t : tok.Encode(std::to_string(k) + ". ")) {
      if (i == prefix.size()) return {t};
      if (prefix[i++] != t) return {};
    }
    std::vector<int> cur;
    while (true) {
      std::set<int> next;
      int complete = -1;
      for (int item = 0; item < codec.num_items(); ++item) {
        if (banned.count(item) || used.count(item)) continue;
        const auto& s = codec.Encode(item);
        if (s.size() < cur.size() || !std::equal(cur.begin(), cur.end(), s.begin())) continue;
        if (s.size() == cur.size()) complete = item;
        else next.insert(s[cur.size()]);
      }
      if (complete >= 0) {
        used.insert(complete);
        break;
      }
      if (i == prefix.size()) return {next.begin(), next.end()};
      cur.push_back(prefix[i++]);
    }
    for (int t : tok.Encode("\n")) {
      if (i == prefix.size()) return {t};
      if (prefix[i++] != t) return {};
    }
  }
}

TEST_F(InferTest, ConstrainedGreedyIsGreedyOverTheAllowedTokens) {
  Engine engine = MakeEngine(4);
  std::vector<GenerationRequest> reqs;
  std::vector<std::set<int>> banned(4);
  for (int k = 0; k < 4; ++k) {
    GenerationRequest r;
    r.prompt = Prompt("greedy " + std::to_string(k), k);
    ConstraintOptions c;
    c.allow_sentence = false;
    c.num_items = 5;
    for (int i = 0; i < 30; ++i) c.banned_items.push_back((k * 31 + i * 7) % 500);
    banned[k] = std::set<int>(c.banned_items.begin(), c.banned_items.end());
    r.constraint = c;
    reqs.push_back(r);
  }
  auto results = engine.Generate(reqs);
  for (int k = 0; k < 4; ++k) {
    std::vector<int> all = reqs[k].prompt;
    all.insert(all.end(), results[k].tokens.begin(), results[k].tokens.end());
    auto full = FullLogits(all);
    std::vector<int> prefix;
    for (int t : results[k].tokens) {
      const auto allowed = ReferenceAllowed(*tok_, *codec_, prefix, banned[k], 5);
      ASSERT_FALSE(allowed.empty()) << "the output left the format at token " << prefix.size();
      auto row = full[reqs[k].prompt.size() - 1 + prefix.size()];
      int best = allowed[0];
      for (int a : allowed)
        if (row[a].item<float>() > row[best].item<float>()) best = a;
      EXPECT_EQ(t, best) << "request " << k << " token " << prefix.size();
      prefix.push_back(t);
    }
    EXPECT_EQ(results[k].items.size(), 5u);
  }
}

TEST_F(InferTest, OnePassContinuationGivesTheSameTextInFewerForwards) {
  for (const char* codec_name : {"title", "atomic", "semantic"}) {
    // Each codec with its own tokenizer copy (atomic and semantic add tokens) and model rows.
    tok_->SaveHf(dir_ + "/tok_copy.json");
    auto tok_copy = Tokenizer::LoadHf(dir_ + "/tok_copy.json");
    Tokenizer& tok = *tok_copy;
    auto codec = MakeItemCodec(codec_name, *catalog_, tok);
    AnswerGrammar grammar(tok, *codec, *catalog_);
    torch::manual_seed(3);
    ModelConfig c = (*model_)->config();
    c.vocab_size = tok.vocab_size();
    Qwen3ForCausalLM m(c);
    PeakedWeights(m);
    Engine engine(m, tok, &grammar, Fp32(8));
    std::vector<GenerationRequest> fast, slow;
    for (int k = 0; k < 6; ++k) {
      GenerationRequest r;
      r.prompt = RenderPrompt(tok, *codec, UserContext{}, "pass " + std::to_string(k)).ids;
      r.sampling.temperature = 1.0;
      r.sampling.seed = k;
      r.sampling.max_new_tokens = 300;
      r.constraint = Items(6, true, k % 2 == 1);
      fast.push_back(r);
      r.one_pass_continuation = false;
      slow.push_back(r);
    }
    auto a = engine.Generate(fast);
    auto b = engine.Generate(slow);
    for (int k = 0; k < 6; ++k) {
      EXPECT_EQ(a[k].tokens, b[k].tokens) << codec_name << " request " << k;
      EXPECT_EQ(b[k].forward_passes, static_cast<int>(b[k].tokens.size())) << codec_name;
      EXPECT_LT(a[k].forward_passes, b[k].forward_passes) << codec_name;
      EXPECT_EQ(a[k].sampled_tokens, a[k].forward_passes) << codec_name;
    }
  }
}

TEST_F(InferTest, PaddingRowsPastTheTokenizerAreNeverSampled) {
  // A model with more output rows than the tokenizer has tokens (real Qwen3 checkpoints pad
  // their vocabulary); the padding rows get the largest logits, yet no answer contains them.
  torch::manual_seed(5);
  ModelConfig c = (*model_)->config();
  const int64_t n = tok_->vocab_size(), hidden = c.hidden_size;
  c.vocab_size = n + 2 * hidden;
  Qwen3ForCausalLM m(c);
  {
    // Padding rows +-1000 e_k: whatever the hidden state h, one of them scores 1000 max|h_k|.
    torch::NoGradGuard g;
    auto pad = m->LmWeight().slice(0, n);
    pad.zero_();
    for (int64_t k = 0; k < hidden; ++k) pad[2 * k][k] = 1000.0, pad[2 * k + 1][k] = -1000.0;
  }
  {
    torch::NoGradGuard g;
    const auto p = Prompt("padding 0");
    const auto ids = torch::tensor(std::vector<int64_t>(p.begin(), p.end())).unsqueeze(0);
    ASSERT_GE(m->forward(ids)[0][-1].argmax().item<int64_t>(), n) << "the test needs a padding row on top";
  }
  Engine engine(m, *tok_, grammar_, Fp32(4));
  std::vector<GenerationRequest> reqs;
  for (int k = 0; k < 4; ++k) {
    GenerationRequest r;
    r.prompt = Prompt("padding " + std::to_string(k));
    r.sampling.temperature = k == 0 ? 0 : 1.0;
    r.sampling.seed = k;
    r.sampling.max_new_tokens = 20;
    reqs.push_back(r);
  }
  for (const auto& res : engine.Generate(reqs)) {
    ASSERT_FALSE(res.tokens.empty());
    for (int t : res.tokens) EXPECT_LT(t, tok_->vocab_size());
  }
}

TEST_F(InferTest, UnconstrainedOutputIsParsedWithItsNonCatalogItems) {
  // A logits hook that dictates the tokens of an answer with one real and one invented item.
  std::vector<int> script;
  for (int t : tok_->Encode("1. ")) script.push_back(t);
  for (int t : codec_->Encode(3)) script.push_back(t);
  for (int t : tok_->Encode("\n2. ")) script.push_back(t);
  script.push_back(tok_->TokenId(tok::kItem));
  for (int t : tok_->Encode("Nowhere Song - Nobody")) script.push_back(t);
  script.push_back(tok_->TokenId(tok::kItemEnd));
  for (int t : tok_->Encode("\n")) script.push_back(t);
  script.push_back(tok_->TokenId(tok::kImEnd));
  GenerationRequest r;
  r.prompt = Prompt("anything");
  r.sampling.temperature = 1.0;
  r.logits_hook = [&](std::span<float> l, std::span<const int> generated) {
    for (size_t i = 0; i < l.size(); ++i)
      if (static_cast<int>(i) != script[generated.size()]) l[i] = -std::numeric_limits<float>::infinity();
  };
  Engine engine = MakeEngine();
  auto res = engine.Generate({r})[0];
  EXPECT_EQ(res.tokens, script);
  EXPECT_EQ(res.finish, FinishReason::kStop);
  ParsedAnswer p = ParseAnswer(*tok_, *codec_, res.tokens);
  EXPECT_EQ(p.items, (std::vector<int>{3}));
  ASSERT_EQ(p.invalid_items.size(), 1u);
  EXPECT_EQ(p.invalid_items[0], "Nowhere Song - Nobody");
}

TEST_F(InferTest, StreamingDeliversEveryTokenAndWholeCharacters) {
  // "é" as its two single-byte tokens: the first call must not show half a character.
  int lead = -1, cont = -1;
  for (int id = 0; id < tok_->vocab_size(); ++id) {
    if (tok_->TokenBytes(id) == "\xC3") lead = id;
    if (tok_->TokenBytes(id) == "\xA9") cont = id;
  }
  ASSERT_GE(lead, 0);
  ASSERT_GE(cont, 0);
  const std::vector<int> script = {lead, cont, tok_->Encode("ok")[0], tok_->TokenId(tok::kImEnd)};
  GenerationRequest r;
  r.prompt = Prompt("stream");
  r.logits_hook = [&](std::span<float> l, std::span<const int> generated) { l[script[generated.size()]] = 1e9f; };
  std::vector<std::string> texts;
  std::vector<int> streamed;
  r.on_tokens = [&](std::span<const int> t, std::string_view text) {
    streamed.insert(streamed.end(), t.begin(), t.end());
    texts.emplace_back(text);
  };
  Engine engine = MakeEngine();
  auto res = engine.Generate({r})[0];
  EXPECT_EQ(streamed, res.tokens);
  ASSERT_EQ(texts.size(), 4u);
  EXPECT_EQ(texts[0], "");
  EXPECT_EQ(texts[1], "\xC3\xA9");
  std::string joined;
  for (auto& t : texts) joined += t;
  EXPECT_EQ(joined, tok_->Decode(res.tokens));

  // Constrained streaming: forced runs come in one call with all their tokens.
  GenerationRequest c;
  c.prompt = Prompt("stream constrained");
  c.constraint = Items(3, false);
  std::vector<int> got;
  int calls = 0;
  c.on_tokens = [&](std::span<const int> t, std::string_view) { got.insert(got.end(), t.begin(), t.end()), ++calls; };
  auto cres = engine.Generate({c})[0];
  EXPECT_EQ(got, cres.tokens);
  EXPECT_EQ(calls, cres.forward_passes);
  EXPECT_LT(calls, static_cast<int>(cres.tokens.size()));
}

TEST_F(InferTest, StopConditionsLengthCancelAndContinuousBatching) {
  Engine engine = MakeEngine(4);
  GenerationRequest r;
  r.prompt = Prompt("length");
  r.stop_tokens = {-1};
  r.sampling.max_new_tokens = 7;
  auto res = engine.Generate({r})[0];
  EXPECT_EQ(res.tokens.size(), 7u);
  EXPECT_EQ(res.finish, FinishReason::kLength);
  EXPECT_EQ(res.prompt_tokens, static_cast<int>(r.prompt.size()));

  // Stop token: the first generated token of a greedy run, declared a stop token, ends it.
  GenerationRequest s = r;
  s.stop_tokens = {res.tokens[0]};
  auto stopped = engine.Generate({s})[0];
  EXPECT_EQ(stopped.tokens, std::vector<int>{res.tokens[0]});
  EXPECT_EQ(stopped.finish, FinishReason::kStop);

  // Requests joining while others run get the answers they get alone; cancel ends one.
  GenerationRequest long_one = r;
  long_one.sampling.max_new_tokens = 40;
  GenerationRequest joiner;
  joiner.prompt = Prompt("a later request with a longer prompt than the first", 4);
  joiner.constraint = Items(4);
  const auto alone = engine.Generate({joiner})[0];
  const int h1 = engine.Submit(long_one);
  const int h2 = engine.Submit(r);
  for (int i = 0; i < 5; ++i) engine.Step();
  const int h3 = engine.Submit(joiner);
  engine.Cancel(h2);
  while (engine.Step()) {
  }
  EXPECT_EQ(engine.Take(h1).tokens.size(), 40u);
  const auto joined = engine.Take(h3);
  EXPECT_EQ(joined.tokens, alone.tokens);
  const auto cancelled = engine.Take(h2);
  EXPECT_EQ(cancelled.finish, FinishReason::kCancelled);
  EXPECT_EQ(cancelled.tokens.size(), 5u);  // one token per step before the cancel, none after
  EXPECT_THROW(engine.Take(h2), Error);

  GenerationRequest bad;
  EXPECT_THROW(engine.Submit(bad), Error);  // empty prompt
  bad.prompt = std::vector<int>(600, 5);
  EXPECT_THROW(engine.Submit(bad), Error);  // longer than max_len
  Engine no_catalog(*model_, *tok_, nullptr, Fp32(2, 128));
  GenerationRequest needs = r;
  needs.constraint = ConstraintOptions{};
  EXPECT_THROW(no_catalog.Submit(needs), Error);
}

TEST_F(InferTest, PrefixCacheReusesAListenersContextWithTheSameAnswers) {
  // One listener (profile + 12 history events), several requests with other states and queries.
  UserContext ctx;
  ctx.profile = {{"age_bucket", "35-44"}, {"region", "south"}};
  for (int i = 0; i < 12; ++i) ctx.history.push_back({State{"night", "weekend", "home", "speaker", 22}, i * 29 % 500, Feedback::kFinish});
  std::vector<GenerationRequest> reqs;
  size_t context = 0;
  for (int k = 0; k < 6; ++k) {
    ctx.state = State{k % 2 ? "morning" : "evening", "weekday", "commute", "phone", 8};
    GenerationRequest r;
    r.prompt = RenderPrompt(*tok_, *codec_, ctx, "request " + std::to_string(k), 20, &context).ids;
    r.cache_prefix = static_cast<int>(context);
    // Greedy: a cached prefix's KV equals a fresh pre-fill's only to rounding (~1e-6 in the
    // logits, other matrix shapes), which can move a sampled draw that lands on a boundary.
    r.constraint = Items(4, k % 2 == 0);
    reqs.push_back(r);
  }
  ASSERT_GT(context, 100u);
  EngineOptions off = Fp32(8);
  off.prefix_cache_mb = 0;
  Engine plain(*model_, *tok_, grammar_, off), cached = MakeEngine(8);
  const auto expected = plain.Generate(reqs);
  for (const auto& r : expected) EXPECT_EQ(r.cached_prompt_tokens, 0);
  // Submitted together: one pre-fills the context, the others wait a step and reuse it.
  const auto together = cached.Generate(reqs);
  int reused = 0;
  for (int k = 0; k < 6; ++k) {
    EXPECT_EQ(together[k].tokens, expected[k].tokens) << k;
    reused += together[k].cached_prompt_tokens == static_cast<int>(context);
  }
  EXPECT_EQ(reused, 5);
  EXPECT_EQ(cached.prefix_entries(), 1);
  // Later requests of the same listener start from the cache at once.
  const auto later = cached.Generate({reqs[3]})[0];
  EXPECT_EQ(later.cached_prompt_tokens, static_cast<int>(context));
  EXPECT_EQ(later.tokens, expected[3].tokens);
  // A bounded cache: many listeners, at most the capacity held, least recently used out.
  EngineOptions small = Fp32(4);
  small.prefix_cache_mb = 1;
  Engine bounded(*model_, *tok_, grammar_, small);
  for (int u = 0; u < 40; ++u) {
    UserContext c2 = ctx;
    c2.history[0].item = u;
    GenerationRequest r = reqs[0];
    r.prompt = RenderPrompt(*tok_, *codec_, c2, "x", 20, &context).ids;
    r.cache_prefix = static_cast<int>(context);
    bounded.Generate({r});
    EXPECT_LE(bounded.prefix_bytes(), int64_t{1} << 20);
  }
  EXPECT_GT(bounded.prefix_entries(), 1);
  EXPECT_LT(bounded.prefix_entries(), 40);
  GenerationRequest bad = reqs[0];
  bad.cache_prefix = static_cast<int>(bad.prompt.size()) + 1;
  EXPECT_THROW(bounded.Submit(bad), Error);
}

TEST_F(InferTest, ASharedPrefixIsAttendedOnceWithTheLogitsOfSeparateCaches) {
  // A group with one prompt (as GRPO samples): the followers copy the leader's prompt KV from the
  // prefix cache, and decoding attends over that common prefix once for the whole group. The
  // logits must be those of sequences each with its own cache, and those the logits of the
  // model's own forward over the whole text. Head sizes 16 and 32 (the blocked attention kernel:
  // 16 and 32 value columns per pass) and 10 (the one-row fallback) with a hidden size of 60 (not a
  // multiple of the vector widths: the kernels' scalar tails); one request with another prompt in
  // the same batch.
  for (auto [hidden, head_dim] : {std::pair<int64_t, int64_t>{64, 16}, {60, 10}, {64, 32}}) {
    ModelConfig c = (*model_)->config();
    c.hidden_size = hidden;
    c.head_dim = head_dim;
    Qwen3ForCausalLM model = PeakedModel(c, 11);
    std::vector<GenerationRequest> reqs;
    std::vector<std::vector<std::vector<float>>> seen_shared(6), seen_alone(6);
    for (int k = 0; k < 6; ++k) {
      GenerationRequest r;
      r.prompt = Prompt(k < 5 ? "one prompt for the whole group" : "another prompt", 10);
      r.cache_prefix = static_cast<int>(r.prompt.size()) - 1;
      r.sampling.temperature = 0.8;
      r.sampling.seed = 40 + k;
      r.sampling.max_new_tokens = 12 + 3 * k;
      r.stop_tokens = {-1};
      reqs.push_back(r);
    }
    ASSERT_GT(reqs[0].prompt.size(), 64u);
    auto with_hooks = [&](std::vector<std::vector<std::vector<float>>>& into) {
      auto rs = reqs;
      for (int k = 0; k < 6; ++k)
        rs[k].logits_hook = [&into, k](std::span<float> l, std::span<const int>) {
          into[k].emplace_back(l.begin(), l.end());
        };
      return rs;
    };
    EngineOptions off = Fp32(8);
    off.prefix_cache_mb = 0;
    Engine shared(model, *tok_, grammar_, Fp32(8)), alone(model, *tok_, grammar_, off);
    const auto a = shared.Generate(with_hooks(seen_shared));
    const auto b = alone.Generate(with_hooks(seen_alone));
    EXPECT_GT(shared.shared_prefix_forwards(), 10) << "the group did not attend together";
    EXPECT_EQ(alone.shared_prefix_forwards(), 0);
    for (int k = 0; k < 6; ++k) {
      EXPECT_EQ(a[k].tokens, b[k].tokens) << "head_dim " << head_dim << " request " << k;
      ASSERT_EQ(seen_shared[k].size(), seen_alone[k].size());
      for (size_t i = 0; i < seen_alone[k].size(); ++i) {
        auto ref = torch::from_blob(seen_alone[k][i].data(),
                                    {static_cast<int64_t>(seen_alone[k][i].size())});
        ExpectClose(seen_shared[k][i].data(), ref,
                    "head_dim " + std::to_string(head_dim) + " request " + std::to_string(k) +
                        " step " + std::to_string(i));
      }
    }
    for (int k : {0, 5}) {
      torch::NoGradGuard g;
      std::vector<int64_t> all(reqs[k].prompt.begin(), reqs[k].prompt.end());
      all.insert(all.end(), b[k].tokens.begin(), b[k].tokens.end() - 1);
      const auto full = model->forward(torch::tensor(all, torch::kInt64).unsqueeze(0))[0];
      for (size_t i = 0; i < seen_alone[k].size(); ++i)
        ExpectClose(
            seen_alone[k][i].data(), full[reqs[k].prompt.size() - 1 + i],
            "recomputed, head_dim " + std::to_string(head_dim) + " step " + std::to_string(i));
    }
    std::set<std::vector<int>> distinct;
    for (int k = 0; k < 5; ++k) distinct.insert(a[k].tokens);
    EXPECT_GT(distinct.size(), 2u) << "the group's answers should differ (own suffixes)";
  }
}

// The worst difference, relative to the largest reference logit, between the logits `seen` at
// each step of a sequence (prompt, then the generated `tokens`) and the model's own fp32 forward
// over the same tokens; each step is expected under `tol`.
double WorstVsForward(Qwen3ForCausalLM& model, const std::vector<int>& prompt,
                      const std::vector<int>& tokens, const std::vector<std::vector<float>>& seen,
                      double tol, const std::string& what) {
  torch::NoGradGuard g;
  std::vector<int64_t> all(prompt.begin(), prompt.end());
  all.insert(all.end(), tokens.begin(), tokens.end() - 1);
  const auto full = model->forward(torch::tensor(all, torch::kInt64).unsqueeze(0))[0];
  double worst_rel = 0;
  for (size_t i = 0; i < seen.size(); ++i) {
    const auto ref = full[prompt.size() - 1 + i].contiguous();
    const float* r = ref.data_ptr<float>();
    double worst = 0, scale = 0;
    for (size_t j = 0; j < seen[i].size(); ++j) {
      worst = std::max(worst, static_cast<double>(std::abs(seen[i][j] - r[j])));
      scale = std::max(scale, static_cast<double>(std::abs(r[j])));
    }
    EXPECT_LT(worst, tol * scale) << what << " step " << i;
    worst_rel = std::max(worst_rel, worst / scale);
  }
  return worst_rel;
}

TEST_F(InferTest, Bf16DecodingStaysCloseToTheFp32Forward) {
  // The engine's own bf16 kernels (few rows: decoding, and pre-fills under kTorchBf16Rows rows)
  // against the model's fp32 forward over the same tokens, at every step of three sequences; an
  // odd hidden and intermediate size exercise the kernels' odd-input pair and partial panels.
  if (!CpuHasAvx512Bf16()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  for (auto [hidden, inter] : {std::pair<int64_t, int64_t>{64, 128}, {61, 83}}) {
    ModelConfig c = (*model_)->config();
    c.hidden_size = hidden;
    c.intermediate_size = inter;
    Qwen3ForCausalLM model = PeakedModel(c, 12);
    EngineOptions o = Fp32(4);
    o.bf16_min_rows = 1;
    Engine engine(model, *tok_, grammar_, o);
    std::vector<std::vector<float>> seen[3];
    std::vector<GenerationRequest> reqs;
    for (int k = 0; k < 3; ++k) {
      GenerationRequest r;
      r.prompt = Prompt("bf16 decoding " + std::string(k, '!'), k);
      r.sampling.max_new_tokens = 12;
      r.stop_tokens = {-1};
      r.logits_hook = [&seen, k](std::span<float> l, std::span<const int>) {
        seen[k].emplace_back(l.begin(), l.end());
      };
      reqs.push_back(r);
    }
    const auto results = engine.Generate(reqs);
    double worst_rel = 0;
    for (int k = 0; k < 3; ++k) {
      ASSERT_EQ(seen[k].size(), 12u);
      worst_rel = std::max(
          worst_rel,
          WorstVsForward(model, reqs[k].prompt, results[k].tokens, seen[k], 0.05,
                         "hidden " + std::to_string(hidden) + " request " + std::to_string(k)));
    }
    EXPECT_GT(worst_rel, 1e-5) << "bf16 was not used";
  }
}

TEST_F(InferTest, Bf16KvCacheStaysCloseToTheFp32Forward) {
  // The bf16 KV cache (bf16 forwards, head size 32): keys as pairs of dimensions, values as pairs
  // of positions. A group of four sequences with one prompt (its prefix attended together, then
  // each sequence's own positions, which start at an odd position for one prompt length and an
  // even one for the other), a sequence with another prompt in the same batch, and sequences
  // finishing at different times (their slots move). Every step's logits against the model's
  // fp32 forward over the same tokens.
  if (!CpuHasAvx512Bf16()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  ModelConfig c = (*model_)->config();
  c.head_dim = 32;
  Qwen3ForCausalLM model = PeakedModel(c, 13);
  EngineOptions o = Fp32(8);
  o.bf16_min_rows = 1;
  std::set<size_t> parities;  // of the group's shared prefix length
  for (const std::string group : {"one prompt for the group", "one prompt for the group!"}) {
    const int history = 10;
    const auto longest =
        std::max(Prompt(group, history).size(), Prompt("another one", history).size());
    o.max_len = static_cast<int>(longest + 26) | 1;  // odd: the last value pair has one position
    Engine engine(model, *tok_, grammar_, o);
    ASSERT_TRUE(engine.kv_cache_bf16());
    EXPECT_FALSE(Engine(model, *tok_, grammar_, Fp32(2)).kv_cache_bf16());
    EngineOptions fp32_cache = o;
    fp32_cache.bf16_kv_cache = false;
    EXPECT_FALSE(Engine(model, *tok_, grammar_, fp32_cache).kv_cache_bf16());
    std::vector<std::vector<float>> seen[5];
    std::vector<GenerationRequest> reqs;
    for (int k = 0; k < 5; ++k) {
      GenerationRequest r;
      r.prompt = Prompt(k < 4 ? group : "another one", history);
      r.cache_prefix = static_cast<int>(r.prompt.size()) - 1;
      r.sampling.temperature = 0.8;
      r.sampling.seed = 70 + k;
      r.sampling.max_new_tokens = 10 + 4 * k;
      r.stop_tokens = {-1};
      r.logits_hook = [&seen, k](std::span<float> l, std::span<const int>) {
        seen[k].emplace_back(l.begin(), l.end());
      };
      reqs.push_back(r);
    }
    const auto results = engine.Generate(reqs);
    EXPECT_GT(engine.shared_prefix_forwards(), 5) << "the group did not attend together";
    double worst_rel = 0;
    parities.insert(reqs[0].prompt.size() % 2);
    for (int k = 0; k < 5; ++k) {
      ASSERT_EQ(seen[k].size(), static_cast<size_t>(10 + 4 * k));
      worst_rel =
          std::max(worst_rel, WorstVsForward(model, reqs[k].prompt, results[k].tokens, seen[k],
                                             0.03, group + ": request " + std::to_string(k)));
    }
    std::printf("prefix of %zu: worst difference %.4f of the largest logit\n",
                reqs[0].prompt.size() - 1, worst_rel);
    EXPECT_GT(worst_rel, 1e-5) << "bf16 was not used";
  }
  EXPECT_EQ(parities.size(), 2u) << "the group's own positions should start odd and even";
}

TEST_F(InferTest, CheckpointDirectoryLoadsWithItsCodec) {
  const std::string dir = dir_ + "/ckpt";
  SaveModel(*model_, dir);
  tok_->SaveHf(dir + "/tokenizer.json");
  EXPECT_THROW(LoadCheckpoint(dir + "/nope"), Error);
  Checkpoint without = LoadCheckpoint(dir);
  EXPECT_EQ(without.codec, nullptr);
  SaveItemCodec(*codec_, *catalog_, dir + "/codec.json");
  Checkpoint c = LoadCheckpoint(dir);
  ASSERT_NE(c.grammar, nullptr);
  EXPECT_EQ(c.catalog.items.size(), 500u);
  EXPECT_EQ(c.catalog.items[7].artist_id, catalog_->items[7].artist_id);
  for (int i = 0; i < 500; i += 37) EXPECT_EQ(c.codec->Encode(i), codec_->Encode(i));
  // Same greedy answer from the loaded checkpoint as from the model in memory.
  GenerationRequest r;
  r.prompt = Prompt("checkpoint");
  r.constraint = Items(3);
  Engine a = MakeEngine(), b(c.model, *c.tok, c.grammar.get(), Fp32(8));
  EXPECT_EQ(a.Generate({r})[0].tokens, b.Generate({r})[0].tokens);
}

}  // namespace
}  // namespace muchator
