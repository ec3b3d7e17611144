// The generation engine on the tiny synthetic world's catalog with a tiny random model: KV cache
// against full recomputation, batching against one-by-one, the answer constraint's guarantees,
// the one-pass continuation, streaming, stop conditions and continuous batching.
#include "infer/infer_fixture.h"

namespace muchator {
namespace {

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

// The reranked answer as the evaluation and the server compute it: the ranking model's scores
// less the weighted prior of each song, the first-song evidence, catalog items out.
TEST_F(InferTest, RerankItemsAppliesTheRankerPriorAndTheEvidence) {
  std::vector<int> pool;  // three songs of three artists
  for (int it = 0; it < static_cast<int>(catalog_->items.size()) && pool.size() < 3; ++it) {
    bool fresh = true;
    for (int p : pool) fresh = fresh && grammar_->ArtistOf(p) != grammar_->ArtistOf(it);
    if (fresh) pool.push_back(it);
  }
  ASSERT_EQ(pool.size(), 3u);
  const std::vector<float> score = {9, 8, 7};
  EXPECT_EQ(RerankItems(pool, score, {}, *grammar_, 2, {}, {}),
            (std::vector<int>{pool[0], pool[1]}));
  std::vector<float> prior(catalog_->items.size(), 0.f);
  prior[static_cast<size_t>(pool[0])] = 5;  // every listener likes it: 9 - 5 = 4
  EXPECT_EQ(RerankItems(pool, score, prior, *grammar_, 2, {0, 0, 1.0}, {}),
            (std::vector<int>{pool[1], pool[2]}));
  EXPECT_EQ(RerankItems(pool, score, prior, *grammar_, 2, {0, 0, 0.0}, {}),
            (std::vector<int>{pool[0], pool[1]}));
  // Evidence: the model finds the second song 10 nats less fitting than its best.
  const std::vector<float> evidence = {0, -10, 0};
  EXPECT_EQ(RerankItems(pool, score, {}, *grammar_, 2, {0, 1.0, 0}, evidence),
            (std::vector<int>{pool[0], pool[2]}));
  // Without a first-song source, with weight 0 or without scores, there is no evidence.
  EXPECT_TRUE(PoolEvidence(nullptr, 1.0, std::vector<float>{1, 2}, pool).empty());
  if (auto first = FirstItemScores::For(*codec_)) {
    std::vector<float> scores(catalog_->items.size(), 0.f);
    scores[static_cast<size_t>(pool[1])] = 3;
    EXPECT_TRUE(PoolEvidence(&*first, 0.0, scores, pool).empty());
    EXPECT_TRUE(PoolEvidence(&*first, 1.0, {}, pool).empty());
    EXPECT_EQ(PoolEvidence(&*first, 1.0, scores, pool), (std::vector<float>{0, 3, 0}));
  }
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
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(SampleToken(logits, {}, o, a), SampleToken(logits, {}, o, b));
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
  const std::vector<std::string> queries = {
      "rainy drive", "something calm for studying late at night with tea", "party"};
  for (int k = 0; k < 3; ++k) {
    GenerationRequest r;
    r.prompt = Prompt(queries[k], k * 2);
    r.sampling.max_new_tokens = 24;
    r.stop_tokens = {-1};  // never stop early: compare many positions
    r.logits_hook = [&seen, k](std::span<float> l, std::span<const int>) {
      seen[k].emplace_back(l.begin(), l.end());
    };
    reqs.push_back(r);
  }
  const auto prompts =
      std::vector<std::vector<int>>{reqs[0].prompt, reqs[1].prompt, reqs[2].prompt};
  auto results = engine.Generate(reqs);
  for (int k = 0; k < 3; ++k) {
    ASSERT_EQ(results[k].tokens.size(), 24u);
    ASSERT_EQ(seen[k].size(), 24u);
    std::vector<int> all = prompts[k];
    all.insert(all.end(), results[k].tokens.begin(), results[k].tokens.end() - 1);
    auto full = FullLogits(all);
    for (size_t i = 0; i < seen[k].size(); ++i)
      ExpectClose(seen[k][i].data(), full[prompts[k].size() - 1 + i],
                  "request " + std::to_string(k) + " step " + std::to_string(i));
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
  for (int k = 0; k < 8; ++k)
    a[k].logits_hook = hook(first_bf, k), b[k].logits_hook = hook(first_fp, k);
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
  r.logits_hook = [&](std::span<float> l, std::span<const int> generated) {
    l[script[generated.size()]] = 1e9f;
  };
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
  c.on_tokens = [&](std::span<const int> t, std::string_view) {
    got.insert(got.end(), t.begin(), t.end()), ++calls;
  };
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
  for (int i = 0; i < 12; ++i)
    ctx.history.push_back(
        {State{"night", "weekend", "home", "speaker", 22}, i * 29 % 500, Feedback::kFinish});
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
