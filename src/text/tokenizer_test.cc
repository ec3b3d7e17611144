#include "text/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "text/bpe_train.h"

namespace muchator {

namespace fs = std::filesystem;

std::string SharedDir() {
  const char* src = std::getenv("MUCHATOR_SOURCE_DIR");
  return std::string(src ? src : ".") + "/../shared/tokenizers/gpt2";
}

std::unique_ptr<Tokenizer> Gpt2() {
  return Tokenizer::LoadVocabMerges(SharedDir() + "/gpt2-vocab.json",
                                    SharedDir() + "/gpt2-merges.txt");
}

class Gpt2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(SharedDir() + "/gpt2-vocab.json"))
      GTEST_SKIP() << "../shared/tokenizers/gpt2 is absent";
    if (!tok_) tok_ = Gpt2().release();
  }
  static Tokenizer* tok_;
};
Tokenizer* Gpt2Test::tok_ = nullptr;

TEST_F(Gpt2Test, KnownEncodings) {
  EXPECT_EQ(tok_->vocab_size(), 50257);
  EXPECT_EQ(tok_->num_merges(), 50000u);
  EXPECT_EQ(tok_->Encode("Hello world"), (std::vector<int>{15496, 995}));
  EXPECT_EQ(tok_->Encode(" Hello world"), (std::vector<int>{18435, 995}));
  EXPECT_TRUE(tok_->IsSpecial(50256));
}

// All 46 of llama.cpp's reference encodings for GPT-2, exactly.
TEST_F(Gpt2Test, ReproducesTheLlamaCppReferenceEncodings) {
  const std::string inp = ReadFile(SharedDir() + "/ggml-vocab-gpt-2.gguf.inp");
  const std::string out = ReadFile(SharedDir() + "/ggml-vocab-gpt-2.gguf.out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  for (size_t p; (p = inp.find(sep, pos)) != std::string::npos; pos = p + sep.size())
    texts.push_back(inp.substr(pos, p - pos));
  std::vector<std::vector<int>> expected;
  size_t lp = 0;
  for (size_t p; (p = out.find('\n', lp)) != std::string::npos; lp = p + 1) {
    std::vector<int> ids;
    std::string line = out.substr(lp, p - lp);
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && line[i] == ' ') ++i;
      size_t j = i;
      while (j < line.size() && line[j] != ' ') ++j;
      if (j > i) ids.push_back(std::stoi(line.substr(i, j - i)));
      i = j;
    }
    expected.push_back(ids);
  }
  ASSERT_EQ(texts.size(), 46u);
  ASSERT_EQ(expected.size(), 46u);
  int exact = 0;
  for (size_t k = 0; k < texts.size(); ++k) {
    const auto ids = tok_->Encode(texts[k]);
    EXPECT_EQ(ids, expected[k]) << "test " << k << ": '" << texts[k] << "'";
    exact += ids == expected[k];
    EXPECT_EQ(tok_->Decode(ids), texts[k]);
  }
  EXPECT_EQ(exact, 46);
}

TEST_F(Gpt2Test, RoundTripsAnyUtf8) {
  const std::vector<std::string> texts = {"中文歌曲，适合下雨天",
                                          "emoji 🎵🎧👩‍👩‍👧",
                                          "combining e\xCC\x81 and a\xCC\x8A",
                                          std::string(5000, 'a'),
                                          std::string(3000, ' ') + "x",
                                          "ab\r\n\r\n\ttab",
                                          "Ελληνικά русский ភាសាខ្មែរ",
                                          ""};
  for (const auto& t : texts) EXPECT_EQ(tok_->Decode(tok_->Encode(t)), t) << t.substr(0, 40);
}

// Raw bytes that are not UTF-8 (`muchator tokenize` reads stdin as it is) encode as byte tokens
// and decode back; "\xff\xff" once crashed PCRE2's JIT (fuzz/regressions/tokenizer).
TEST_F(Gpt2Test, InvalidUtf8EncodesAsBytesAndRoundTrips) {
  for (const std::string t : {"\xff\xff", "a\xff\xfe b", "caf\xc3 end", "\xed\xa0\x80 x", "\xc3"}) {
    const std::vector<int> ids = tok_->Encode(t);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(tok_->Decode(ids), t);
  }
  EXPECT_EQ(
      tok_->Encode("a\xff b"),
      (std::vector<int>{tok_->Encode("a")[0], tok_->Encode("\xff")[0], tok_->Encode(" b")[0]}));
}

TEST_F(Gpt2Test, SaveAndLoadHfGiveIdenticalEncodings) {
  const std::string path =
      (fs::temp_directory_path() / ("gpt2_" + std::to_string(::getpid()) + ".json")).string();
  tok_->SaveHf(path);
  auto back = Tokenizer::LoadHf(path);
  fs::remove(path);
  EXPECT_EQ(back->vocab_size(), tok_->vocab_size());
  for (const std::string t :
       {"Hello world", " this is 🦙.cpp", "нещо на Български", "   \n\n\t x"})
    EXPECT_EQ(back->Encode(t), tok_->Encode(t)) << t;
  EXPECT_TRUE(back->IsSpecial(50256));
}

TEST(TokenizerTest, QwenStyleFileWithNfcAndAddedTokens) {
  // A Qwen-style tokenizer.json: NFC normaliser, Split(Regex) + ByteLevel, added tokens after the
  // vocab.
  BpeTrainOptions o;
  o.vocab_size = 300;
  o.min_frequency = 1;
  o.special_tokens = {"<|im_start|>", "<|im_end|>"};
  auto tok = TrainBpe([](const auto& emit) { emit("caf\xC3\xA9 cafe 123 it's IT'S"); }, o);
  const std::string path =
      (fs::temp_directory_path() / ("qwenish_" + std::to_string(::getpid()) + ".json")).string();
  tok->SaveHf(path);
  auto back = Tokenizer::LoadHf(path);
  fs::remove(path);
  // NFC: "e" + combining acute encodes exactly like the precomposed "é".
  EXPECT_EQ(back->Encode("cafe\xCC\x81"), back->Encode("caf\xC3\xA9"));
  // Qwen's pattern splits digits one by one.
  EXPECT_EQ(back->Encode("123").size(), 3u);
  const int start = back->TokenId("<|im_start|>");
  ASSERT_GE(start, 256);
  EXPECT_TRUE(back->IsSpecial(start));
  auto ids = back->EncodeWithSpecial("<|im_start|>user");
  EXPECT_EQ(ids.front(), start);
  EXPECT_NE(back->Encode("<|im_start|>").front(), start);  // plain Encode does not parse specials
  EXPECT_EQ(back->Decode(ids), "<|im_start|>user");
}

TEST(TokenizerTest, BadFilesAreClearErrors) {
  const std::string path =
      (fs::temp_directory_path() / ("bad_" + std::to_string(::getpid()) + ".json")).string();
  WriteFileAtomic(path, "{\"model\": {\"type\": \"Unigram\"}}");
  try {
    Tokenizer::LoadHf(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Unigram"), std::string::npos);
  }
  WriteFileAtomic(path, "not json");
  EXPECT_THROW(Tokenizer::LoadHf(path), Error);
  // Shapes the loader does not expect are Errors naming the file, not nlohmann's exceptions, and
  // an absurd id is refused before any table is sized by it (both found by the fuzzer).
  for (const auto& [text, says] : std::vector<std::pair<std::string, std::string>>{
           {"[1,2,3]", "not a JSON object"},
           {"{\"model\": {\"vocab\": [1], \"merges\": []}}", "the vocabulary is not an object"},
           {"{\"model\": {\"vocab\": {}, \"merges\": 7}}", "malformed tokenizer.json"},
           {"{\"model\": {\"vocab\": {\"a\": 2147483647}, \"merges\": []}, \"pre_tokenizer\": "
            "{\"type\": \"ByteLevel\"}}",
            "0..16777215"},
           {"{\"model\": {\"vocab\": {\"a\": 5e37}, \"merges\": []}}", "not an integer"}}) {
    WriteFileAtomic(path, text);
    try {
      Tokenizer::LoadHf(path);
      ADD_FAILURE() << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  }
  // A GPT-2 style vocab.json goes through the same id checks.
  WriteFileAtomic(path, "{\"a\": 1.5e30}");
  try {
    Tokenizer::LoadVocabMerges(path, path + ".merges");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an integer"), std::string::npos) << e.what();
  }
  fs::remove(path);
}

}  // namespace muchator
