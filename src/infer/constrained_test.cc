// The answer constraint through the engine on the tiny world's catalog: only catalog items,
// never banned, always well-formed, valid UTF-8, whole lists near the context limit, greedy over
// the allowed tokens, the one-pass continuation, padding rows, unconstrained parsing.
#include "infer/infer_fixture.h"

namespace muchator {
namespace {

// The same fixture as InferTest (a suite of its own: gtest wants one fixture class per suite).
class ConstrainedTest : public InferTest {};

TEST_F(ConstrainedTest, ConstrainedAnswersOnlyHoldCatalogItemsNeverBannedAlwaysWellFormed) {
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
    EXPECT_TRUE(p.well_formed()) << k << ": " << (p.problems.empty() ? "" : p.problems[0]) << "\n"
                                 << tok_->Decode(res.tokens);
    EXPECT_TRUE(p.invalid_items.empty());
    EXPECT_EQ(p.items, res.items);
    EXPECT_EQ(static_cast<int>(res.items.size()), c.num_items) << k;
    EXPECT_EQ(res.finish, FinishReason::kStop);
    with_sentence += !p.sentence.empty();
    EXPECT_TRUE(IsValidUtf8(tok_->Decode(res.tokens))) << k << ": the answer is not valid UTF-8";
    std::set<int> distinct(res.items.begin(), res.items.end()), artists;
    EXPECT_EQ(distinct.size(), res.items.size());
    for (int item : res.items) {
      EXPECT_EQ(std::count(c.banned_items.begin(), c.banned_items.end(), item), 0)
          << "banned item emitted";
      for (int a : c.banned_artists)
        EXPECT_NE(grammar_->ArtistOf(item), a) << "banned artist emitted";
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
TEST_F(ConstrainedTest, APromptNearTheContextLimitGetsAWholeListOrAClearError) {
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
    for (const auto& res : engine.Generate(reqs))
      EXPECT_LE(static_cast<int>(res.tokens.size()), bound);
  }
  // A listener with a long history in a 512-token context.
  UserContext ctx;
  ctx.state = State{"evening", "weekday", "commute", "phone", 19};
  for (int i = 0; i < 60; ++i)
    ctx.history.push_back(
        {State{i % 2 ? "morning" : "night", "weekday", "", "", -1}, i * 13 % 500, Feedback::kLike});
  const int max_len = 512;
  Engine engine(*model_, *tok_, grammar_, Fp32(4, max_len));
  // As many events as the context holds: a prompt just below max_len.
  int events = 0;
  while (events < 60 &&
         static_cast<int>(
             RenderPrompt(*tok_, *codec_, ctx, "songs for the drive home", events + 1).size()) <
             max_len)
    ++events;
  GenerationRequest full;
  full.prompt = RenderPrompt(*tok_, *codec_, ctx, "songs for the drive home", events).ids;
  ASSERT_GT(static_cast<int>(full.prompt.size()) + bound, max_len)
      << "the test needs a prompt near the limit";
  ASSERT_LT(static_cast<int>(full.prompt.size()), max_len);
  full.constraint = ten;
  try {
    engine.Submit(full);
    ADD_FAILURE() << "a prompt without room for the whole list was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("complete answer of 10 songs"), std::string::npos)
        << e.what();
  }
  GenerationRequest fitted = full;
  fitted.prompt =
      FitPrompt(*tok_, *codec_, ctx, "songs for the drive home", events, max_len - bound).ids;
  EXPECT_LE(static_cast<int>(fitted.prompt.size()), max_len - bound);
  EXPECT_GT(fitted.prompt.size(),
            RenderPrompt(*tok_, *codec_, ctx, "songs for the drive home", 0).size())
      << "only as many events as needed go";
  // One more event would not have fitted.
  int kept = 0;
  for (int h = 0; h <= events; ++h)
    if (RenderPrompt(*tok_, *codec_, ctx, "songs for the drive home", h).ids == fitted.prompt)
      kept = h;
  ASSERT_GT(kept, 0);
  EXPECT_GT(static_cast<int>(
                RenderPrompt(*tok_, *codec_, ctx, "songs for the drive home", kept + 1).size()),
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

TEST_F(ConstrainedTest, ConstrainedSentencesStayValidUtf8) {
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

TEST_F(ConstrainedTest, ConstrainedSentenceNeverReadsAsANumberedListLine) {
  // A model that loves digits, dots and spaces: before the fix it opened with a sentence such as
  // "7. 3. ..." that a client reading numbered lines took for an eleventh song.
  std::vector<int> numeric;
  for (int id = 0; id < tok_->vocab_size(); ++id) {
    const std::string& b = tok_->TokenBytes(id);
    if (tok_->IsSpecial(id) || b.empty() || b == "1") continue;
    if (b.find_first_not_of("0123456789. ") == std::string::npos &&
        b.find_first_of("0123456789") != std::string::npos)
      numeric.push_back(id);
  }
  ASSERT_GT(numeric.size(), 5u);
  for (int id : grammar_->StartTokens()) {
    if (id == tok_->Encode("1. ")[0]) continue;
    EXPECT_FALSE(std::isdigit(static_cast<unsigned char>(tok_->TokenBytes(id)[0])))
        << tok_->TokenBytes(id);
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

TEST_F(ConstrainedTest, ConstraintEndsEarlyWhenNoAllowedItemIsLeft) {
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
std::vector<int> ReferenceAllowed(const Tokenizer& tok, const ItemCodec& codec,
                                  const std::vector<int>& prefix, const std::set<int>& banned,
                                  int num_items) {
  std::vector<int> expected_text;
  std::set<int> used;
  size_t i = 0;
  for (int k = 1;; ++k) {
    // "k. " (or <|im_end|> once num_items are out), then an item, then "\n".
    if (k > num_items)
      return i == prefix.size() ? std::vector<int>{tok.TokenId(tok::kImEnd)} : std::vector<int>{};
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
        if (s.size() == cur.size())
          complete = item;
        else
          next.insert(s[cur.size()]);
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

TEST_F(ConstrainedTest, ConstrainedGreedyIsGreedyOverTheAllowedTokens) {
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

TEST_F(ConstrainedTest, OnePassContinuationGivesTheSameTextInFewerForwards) {
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

TEST_F(ConstrainedTest, PaddingRowsPastTheTokenizerAreNeverSampled) {
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
    ASSERT_GE(m->forward(ids)[0][-1].argmax().item<int64_t>(), n)
        << "the test needs a padding row on top";
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

TEST_F(ConstrainedTest, UnconstrainedOutputIsParsedWithItsNonCatalogItems) {
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
      if (static_cast<int>(i) != script[generated.size()])
        l[i] = -std::numeric_limits<float>::infinity();
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

}  // namespace
}  // namespace muchator
