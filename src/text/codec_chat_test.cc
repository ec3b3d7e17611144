// Item codecs and the chat format on the tiny synthetic world.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/rng.h"
#include "data/ingest.h"
#include "data/store.h"
#include "text/bpe_train.h"
#include "text/chat.h"
#include "text/item_codec.h"
#include "text/special_tokens.h"
#include "text/training_text.h"
#include "world/generate.h"

namespace muchator {

namespace fs = std::filesystem;

class CodecTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("muchator_codec_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    world::Generate(world::WorldConfig::ForSize("tiny"), dir_ + "/w");
    Ingest({dir_ + "/w", dir_ + "/s.db", "", true});
    store_ = new Store(dir_ + "/s.db");
    catalog_ = new Catalog(Catalog::FromStore(*store_));
  }
  static void TearDownTestSuite() {
    delete store_;
    delete catalog_;
    fs::remove_all(dir_);
  }
  static std::unique_ptr<Tokenizer> NewTokenizer() {
    BpeTrainOptions o;
    o.vocab_size = 1500;
    o.special_tokens = BaseSpecialTokens();
    return TrainBpe([](const auto& emit) { ForEachTrainingText(*store_, emit); }, o);
  }
  static std::string dir_;
  static Store* store_;
  static Catalog* catalog_;
};
std::string CodecTest::dir_;
Store* CodecTest::store_ = nullptr;
Catalog* CodecTest::catalog_ = nullptr;

TEST_F(CodecTest, CatalogComesFromTheStore) {
  ASSERT_EQ(catalog_->items.size(), 500u);
  EXPECT_EQ(catalog_->Find(catalog_->items[42].id), 42);
  EXPECT_EQ(catalog_->Find("nope"), -1);
  EXPECT_FALSE(catalog_->items[0].artist.empty());
  EXPECT_FALSE(catalog_->colisten.empty());
}

class EveryCodec : public CodecTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(EveryCodec, EverySongRoundTripsAndTheTrieAcceptsExactlyTheCatalog) {
  auto tok = NewTokenizer();
  const int before = tok->vocab_size();
  auto codec = MakeItemCodec(GetParam(), *catalog_, *tok);
  EXPECT_EQ(codec->name(), GetParam());
  ASSERT_EQ(codec->num_items(), 500);
  if (GetParam() == "atomic") {
    EXPECT_EQ(tok->vocab_size(), before + 500);
  } else if (GetParam() == "title") {
    EXPECT_EQ(tok->vocab_size(), before);
  }
  for (int i = 0; i < codec->num_items(); ++i) {
    const auto& seq = codec->Encode(i);
    ASSERT_EQ(codec->Decode(seq), i) << i;
    EXPECT_EQ(seq.front(), tok->TokenId(tok::kItem));
    EXPECT_EQ(seq.back(), tok->TokenId(tok::kItemEnd));
  }
  // Every proper prefix is "not an item", and so are sequences outside the catalog.
  Rng r(3);
  for (int k = 0; k < 200; ++k) {
    const auto& seq = codec->Encode(static_cast<int>(r.Below(500)));
    const size_t cut = 1 + r.Below(seq.size() - 1);
    EXPECT_EQ(codec->Decode(std::span<const int>(seq.data(), cut)), -1);
    std::vector<int> bad = seq;
    bad.insert(bad.end() - 1, 'x');  // an extra token before <|/item|>
    EXPECT_EQ(codec->Decode(bad), -1);
  }
  // Walking the trie: each allowed continuation leads somewhere; the number of terminal nodes
  // equals the catalog size.
  int terminals = 0;
  for (size_t n = 0; n < codec->trie().num_nodes(); ++n)
    terminals += codec->trie().ItemAt(static_cast<int>(n)) >= 0;
  EXPECT_EQ(terminals, 500);
  // Leaf ranges: the items below each node are exactly its leaf range (checked by walking every
  // item's path), and a node's children split its range in order.
  const ItemTrie& trie = codec->trie();
  EXPECT_EQ(trie.LeafBegin(0), 0);
  EXPECT_EQ(trie.LeafEnd(0), 500);
  std::vector<int> below(trie.num_nodes(), 0);
  for (int i = 0; i < 500; ++i) {
    int node = 0;
    for (int t : codec->Encode(i)) {
      ++below[node];
      EXPECT_GE(trie.LeafOf(i), trie.LeafBegin(node));
      EXPECT_LT(trie.LeafOf(i), trie.LeafEnd(node));
      node = trie.Next(node, t);
    }
    EXPECT_EQ(trie.LeafEnd(node) - trie.LeafBegin(node), 1);
  }
  for (size_t n = 0; n < trie.num_nodes(); ++n) {
    const int node = static_cast<int>(n);
    if (trie.ItemAt(node) >= 0) continue;
    EXPECT_EQ(trie.LeafEnd(node) - trie.LeafBegin(node), below[n]);
    int at = trie.LeafBegin(node);
    for (int t : trie.Allowed(node)) {
      const int child = trie.Next(node, t);
      EXPECT_EQ(trie.LeafBegin(child), at);
      at = trie.LeafEnd(child);
    }
    EXPECT_EQ(at, trie.LeafEnd(node));
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, EveryCodec, ::testing::Values("title", "atomic", "semantic"));

TEST_F(CodecTest, SemanticCodesPutSimilarSongsTogether) {
  auto tok = NewTokenizer();
  auto codec = MakeItemCodec("semantic", *catalog_, *tok);
  // Songs sharing the first-level code share genres more often than random pairs do.
  auto first = [&](int i) { return codec->Encode(i)[1]; };
  auto shares_genre = [&](int a, int b) {
    for (const auto& f : catalog_->items[a].features)
      if (f.rfind("genre:", 0) == 0 &&
          std::find(catalog_->items[b].features.begin(), catalog_->items[b].features.end(), f) !=
              catalog_->items[b].features.end())
        return true;
    return false;
  };
  double same_code = 0, same_n = 0, any = 0, any_n = 0;
  for (int a = 0; a < 500; a += 3)
    for (int b = a + 1; b < 500; b += 7) {
      const bool s = shares_genre(a, b);
      any += s, ++any_n;
      if (first(a) == first(b)) same_code += s, ++same_n;
    }
  ASSERT_GT(same_n, 10);
  EXPECT_GT(same_code / same_n, 1.5 * any / any_n);
}

TEST_F(CodecTest, UnknownCodecIsAClearError) {
  auto tok = NewTokenizer();
  EXPECT_THROW(MakeItemCodec("hash", *catalog_, *tok), Error);
}

TEST_F(CodecTest, PromptAndAnswerRenderAndParseBack) {
  auto tok = NewTokenizer();
  auto codec = MakeItemCodec("title", *catalog_, *tok);
  UserContext ctx;
  ctx.profile = {{"age_bucket", "25-34"}, {"region", "north"}};
  ctx.state = State{"evening", "weekday", "commute", "phone", 19};
  for (int i = 0; i < 30; ++i)
    ctx.history.push_back({State{"morning", "weekday", "", "", -1}, i, Feedback::kSkip});
  size_t context = 0;
  TokenSeq prompt = RenderPrompt(*tok, *codec, ctx, "something for a rainy evening drive",
                                 /*max_history=*/5, &context);
  EXPECT_EQ(prompt.ids.size(), prompt.mask.size());
  EXPECT_TRUE(
      std::all_of(prompt.mask.begin(), prompt.mask.end(), [](uint8_t m) { return m == 0; }));
  const std::string text = tok->Decode(prompt.ids);
  EXPECT_EQ(
      text.rfind("<|im_start|>user\n<|profile|>age_bucket: 25-34; region: north\n<|history|>", 0),
      0u)
      << text;
  EXPECT_NE(text.find("<|/item|><|skip|>\n<|state|>evening, weekday, commute, "
                      "phone\n<|query|>something for a rainy evening "
                      "drive<|im_end|>\n<|im_start|>assistant\n"),
            std::string::npos)
      << text;
  // The context prefix ends with the history line; the same listener with another state and
  // query shares it token for token.
  EXPECT_EQ(tok->Decode(std::span<const int>(prompt.ids).first(context)).back(), '\n');
  EXPECT_EQ(
      tok->Decode(std::span<const int>(prompt.ids).subspan(context)).rfind("<|state|>evening", 0),
      0u);
  UserContext other = ctx;
  other.state = State{"morning", "weekend", "gym", "phone", 8};
  size_t other_context = 0;
  TokenSeq prompt2 = RenderPrompt(*tok, *codec, other, "hype me up", 5, &other_context);
  ASSERT_EQ(other_context, context);
  EXPECT_TRUE(std::equal(prompt.ids.begin(), prompt.ids.begin() + context, prompt2.ids.begin()));
  EXPECT_EQ(std::count(prompt.ids.begin(), prompt.ids.end(), tok->TokenId(tok::kSkip)),
            5);  // the last 5 only
  EXPECT_NE(text.find(codec->DisplayText(29)), std::string::npos);
  EXPECT_EQ(text.find(codec->DisplayText(0) + "<|/item|>"), std::string::npos);

  const std::vector<int> items = {7, 3, 99};
  TokenSeq answer = RenderAnswer(*tok, *codec, items, "Here you go:");
  EXPECT_TRUE(
      std::all_of(answer.mask.begin(), answer.mask.end(), [](uint8_t m) { return m == 1; }));
  ParsedAnswer p = ParseAnswer(*tok, *codec, answer.ids);
  EXPECT_TRUE(p.well_formed()) << (p.problems.empty() ? "" : p.problems[0]);
  EXPECT_EQ(p.items, items);
  EXPECT_EQ(p.sentence, "Here you go:");
  EXPECT_TRUE(p.invalid_items.empty());
}

TEST_F(CodecTest, PromptExtrasAddExampleTurnsAndCandidatesWithoutLoss) {
  auto tok = NewTokenizer();
  auto codec = MakeItemCodec("title", *catalog_, *tok);
  UserContext ctx;
  ctx.state = State{"evening", "weekday", "commute", "phone", 19};
  ctx.history = {{State{"morning", "weekday", "", "", -1}, 1, Feedback::kLike}};
  const TokenSeq plain = RenderPrompt(*tok, *codec, ctx, "hype me up");
  PromptExtras extras;
  extras.examples = {{"calm piano for reading", {4, 5}}, {"gym energy", {6}}};
  extras.candidates = {11, 12, 13};
  size_t context = 0;
  const TokenSeq prompt = RenderPrompt(*tok, *codec, ctx, "hype me up", 20, &context, &extras);
  EXPECT_EQ(prompt.ids.size(), prompt.mask.size());
  EXPECT_TRUE(
      std::all_of(prompt.mask.begin(), prompt.mask.end(), [](uint8_t m) { return m == 0; }));
  const std::string text = tok->Decode(prompt.ids);
  const std::string first_example =
      "<|im_start|>user\n<|query|>calm piano for reading<|im_end|>\n"
      "<|im_start|>assistant\n1. <|item|>" +
      codec->DisplayText(4) + "<|/item|>\n2. <|item|>" + codec->DisplayText(5) +
      "<|/item|>\n<|im_end|>\n";
  EXPECT_EQ(text.rfind(first_example, 0), 0u) << text;
  // Three turns before the listener's: the two examples' user and assistant turns, then the
  // request.
  EXPECT_EQ(std::count(prompt.ids.begin(), prompt.ids.end(), tok->TokenId(tok::kImStart)), 6);
  EXPECT_NE(text.find("<|state|>evening, weekday, commute, phone\ncandidates: <|item|>" +
                      codec->DisplayText(11) + "<|/item|> <|item|>" + codec->DisplayText(12) +
                      "<|/item|> <|item|>" + codec->DisplayText(13) +
                      "<|/item|>\n<|query|>hype me up<|im_end|>\n<|im_start|>assistant\n"),
            std::string::npos)
      << text;
  // The plain prompt is the extras prompt's last turn, minus the candidates line.
  const PromptExtras none;
  EXPECT_EQ(RenderPrompt(*tok, *codec, ctx, "hype me up", 20, nullptr, &none).ids, plain.ids);
  PromptExtras examples_only = extras;
  examples_only.candidates.clear();
  const TokenSeq ex = RenderPrompt(*tok, *codec, ctx, "hype me up", 20, nullptr, &examples_only);
  ASSERT_GT(ex.ids.size(), plain.ids.size());
  EXPECT_TRUE(std::equal(plain.ids.begin(), plain.ids.end(),
                         ex.ids.end() - static_cast<long>(plain.ids.size())));
}

TEST_F(CodecTest, ParseReportsMalformedPartsAndInvalidItems) {
  auto tok = NewTokenizer();
  auto codec = MakeItemCodec("title", *catalog_, *tok);
  TokenSeq s;
  s.Text(*tok, "1. ");
  s.Ids(codec->Encode(4));
  s.Text(*tok, "\n3. ");  // wrong number
  s.Id(tok->TokenId(tok::kItem));
  s.Text(*tok, "Imaginary Song - Nobody");  // not in the catalog
  s.Id(tok->TokenId(tok::kItemEnd));
  s.Text(*tok, "\n3. ");
  s.Ids(codec->Encode(4));  // a duplicate
  // no <|im_end|>
  ParsedAnswer p = ParseAnswer(*tok, *codec, s.ids);
  EXPECT_FALSE(p.well_formed());
  EXPECT_EQ(p.items, (std::vector<int>{4, 4}));
  ASSERT_EQ(p.invalid_items.size(), 1u);
  EXPECT_EQ(p.invalid_items[0], "Imaginary Song - Nobody");
  EXPECT_FALSE(p.ended);
  bool wrong_number = false, twice = false;
  for (const auto& pr : p.problems) {
    wrong_number |= pr.find("expected '2. '") != std::string::npos;
    twice |= pr.find("listed twice") != std::string::npos;
  }
  EXPECT_TRUE(wrong_number);
  EXPECT_TRUE(twice);
}

}  // namespace muchator
