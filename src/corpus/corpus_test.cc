#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "core/rng.h"
#include "corpus/builders.h"
#include "corpus/shard.h"
#include "data/ingest.h"
#include "data/store.h"
#include "text/bpe_train.h"
#include "text/special_tokens.h"
#include "text/training_text.h"
#include "world/generate.h"

namespace muchator {

namespace fs = std::filesystem;

TEST(ShardTest, DocumentsReadBackEqualAcrossShards) {
  const std::string dir =
      (fs::temp_directory_path() / ("muchator_shard_" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  Rng r(1);
  std::vector<TokenSeq> docs(50);
  for (auto& d : docs)
    for (int k = 0, n = 1 + static_cast<int>(r.Below(40)); k < n; ++k)
      d.Id(static_cast<int>(r.Below(1000)), r.Bernoulli(0.3));
  ShardWriter w(dir, "s", /*max_shard_tokens=*/100);
  for (const auto& d : docs) w.Add(d);
  StageSummary sum = w.Finish();
  EXPECT_EQ(sum.docs, 50);
  ShardReader rd(dir, "s");
  ASSERT_EQ(rd.num_docs(), 50);
  EXPECT_EQ(rd.num_tokens(), sum.tokens);
  EXPECT_GT(fs::exists(dir + "/s.3.tokens"), 0);  // several shards were written
  for (int i = 0; i < 50; ++i) {
    auto t = rd.Tokens(i);
    auto m = rd.Mask(i);
    ASSERT_EQ(std::vector<int>(t.begin(), t.end()), docs[i].ids) << i;
    ASSERT_EQ(std::vector<uint8_t>(m.begin(), m.end()), docs[i].mask) << i;
  }
  fs::remove_all(dir);
  EXPECT_THROW(ShardReader(dir, "s"), Error);
}

class CorpusTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("muchator_corpus_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    world::Generate(world::WorldConfig::ForSize("tiny"), dir_ + "/w");
    Ingest({dir_ + "/w", dir_ + "/s.db", "", true});
    store_ = new Store(dir_ + "/s.db");
    catalog_ = new Catalog(Catalog::FromStore(*store_));
    BpeTrainOptions o;
    o.vocab_size = 1500;
    o.special_tokens = BaseSpecialTokens();
    tok_ = TrainBpe([](const auto& emit) { ForEachTrainingText(*store_, emit); }, o).release();
    codec_ = MakeItemCodec("title", *catalog_, *tok_).release();
    summary_ =
        new CorpusSummary(BuildCorpora(*store_, *tok_, *codec_, *catalog_, dir_ + "/c", options_));
  }
  static void TearDownTestSuite() {
    delete summary_;
    delete codec_;
    delete tok_;
    delete catalog_;
    delete store_;
    fs::remove_all(dir_);
  }
  static std::string dir_;
  static Store* store_;
  static Catalog* catalog_;
  static Tokenizer* tok_;
  static ItemCodec* codec_;
  static CorpusOptions options_;
  static CorpusSummary* summary_;
};
std::string CorpusTest::dir_;
Store* CorpusTest::store_ = nullptr;
Catalog* CorpusTest::catalog_ = nullptr;
Tokenizer* CorpusTest::tok_ = nullptr;
ItemCodec* CorpusTest::codec_ = nullptr;
CorpusOptions CorpusTest::options_;
CorpusSummary* CorpusTest::summary_ = nullptr;

TEST_F(CorpusTest, EveryStageHasDocumentsAndTheSummaryMatchesTheShards) {
  ASSERT_EQ(summary_->stages.size(), kStages.size());
  for (size_t i = 0; i < kStages.size(); ++i) {
    const auto& s = summary_->stages[i];
    EXPECT_EQ(s.stage, kStages[i]);
    EXPECT_GT(s.docs, 0) << s.stage;
    ShardReader r(dir_ + "/c", s.stage);
    EXPECT_EQ(r.num_docs(), s.docs);
    EXPECT_EQ(r.num_tokens(), s.tokens);
  }
  int64_t general = 0;  // the tiny world's encyclopedia entries and everyday-language documents
  store_->ForEachDocument([&](const Document& d) { general += d.kind == "general"; });
  EXPECT_GT(general, 40);
  EXPECT_EQ(summary_->stages[0].docs, general);
  // Each user's timeline minus its held-out tail, in documents of at most max_events_per_doc.
  int64_t train_docs = 0, heldout_docs = 0;
  store_->ForEachUser([&](const User& u) {
    const int64_t n = static_cast<int64_t>(store_->UserTimeline(u.id).size());
    const int64_t tail = n >= options_.heldout_tail + 2 ? options_.heldout_tail : 0;
    train_docs += (n - tail + options_.max_events_per_doc - 1) / options_.max_events_per_doc;
    heldout_docs += tail > 0;
  });
  EXPECT_EQ(summary_->stages[3].docs, train_docs);
  EXPECT_EQ(summary_->stages[4].docs, heldout_docs);
  EXPECT_GT(train_docs, 100);  // some tiny-world users have over 200 events
  EXPECT_NE(summary_->Table().find("| stage3_behaviour | " + std::to_string(train_docs) + " |"),
            std::string::npos);
}

TEST_F(CorpusTest, ObjectiveDocumentsSayWhatTheTemplateSays) {
  ShardReader r(dir_ + "/c", "stage1_objective");
  const Song s = *store_->GetSong(catalog_->items[0].id);
  auto t = r.Tokens(0);
  const std::string text = tok_->Decode(std::vector<int>(t.begin(), t.end()));
  EXPECT_NE(text.find("<|item|>" + codec_->DisplayText(0) + "<|/item|>"), std::string::npos)
      << text;
  EXPECT_NE(text.find(s.title), std::string::npos);
  EXPECT_NE(text.find(catalog_->items[0].artist), std::string::npos);
  EXPECT_NE(text.find(s.genres[0]), std::string::npos);
  EXPECT_NE(text.find("Lyrics:\n" + s.lyrics), std::string::npos);
  EXPECT_EQ(text.substr(text.size() - 13), "<|endoftext|>");
  auto m = r.Mask(0);
  EXPECT_TRUE(std::all_of(m.begin(), m.end(), [](uint8_t x) { return x == 1; }));
}

TEST_F(CorpusTest, GeneralSubjectiveAndBehaviourDocumentsDecodeToTheirTemplates) {
  auto text_of = [&](const std::string& stage, int64_t doc) {
    ShardReader r(dir_ + "/c", stage);
    auto t = r.Tokens(doc);
    return tok_->Decode(std::vector<int>(t.begin(), t.end()));
  };
  std::vector<Document> general;
  store_->ForEachDocument([&](const Document& d) {
    if (d.kind == "general") general.push_back(d);
  });
  EXPECT_EQ(text_of("stage0_general", 0),
            general[0].title + "\n" + general[0].text + "<|endoftext|>");
  std::vector<Comment> comments;
  store_->ForEachComment([&](const Comment& c) { comments.push_back(c); });
  const Comment& c = comments[0];
  const std::string want = std::string(c.kind == "professional" ? "Review of " : "Comment on ") +
                           "<|item|>" + codec_->DisplayText(catalog_->Find(c.song)) +
                           "<|/item|>: " + c.text + "<|endoftext|>";
  EXPECT_EQ(text_of("stage2_subjective", 0), want);
  // Stage 3: the first user's profile, then their first event as state, item, feedback.
  const User u = *store_->GetUser("u1");
  const auto timeline = store_->UserTimeline("u1");
  const std::string t3 = text_of("stage3_behaviour", 0);
  std::string profile;
  for (const auto& [k, v] : u.profile) profile += (profile.empty() ? "" : "; ") + k + ": " + v;
  const std::string first = "<|profile|>" + profile + "\n<|history|><|state|>" +
                            StateText(timeline[0].state) + "<|item|>" +
                            codec_->DisplayText(catalog_->Find(timeline[0].song)) + "<|/item|>" +
                            FeedbackToken(static_cast<int>(timeline[0].feedback));
  EXPECT_EQ(t3.substr(0, first.size()), first);
}

// Loss positions in stage 3 are exactly the item tokens and the feedback tokens.
TEST_F(CorpusTest, BehaviourLossMaskIsExactlyItemsAndFeedback) {
  const int item_start = tok_->TokenId(tok::kItem), item_end = tok_->TokenId(tok::kItemEnd);
  std::vector<int> feedback;
  for (int f = 0; f < 4; ++f) feedback.push_back(tok_->TokenId(FeedbackToken(f)));
  for (const std::string stage : {"stage3_behaviour", "stage3_heldout"}) {
    ShardReader r(dir_ + "/c", stage);
    int64_t heldout_feedback_loss = 0;
    for (int64_t d = 0; d < r.num_docs(); ++d) {
      auto t = r.Tokens(d);
      auto m = r.Mask(d);
      bool in_item = false;
      int items_seen = 0;
      for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] == item_start) in_item = true, ++items_seen;
        const bool is_fb = std::find(feedback.begin(), feedback.end(), t[i]) != feedback.end();
        const bool expected = in_item || is_fb;
        if (stage == "stage3_behaviour") {
          ASSERT_EQ(m[i], expected ? 1 : 0) << "doc " << d << " pos " << i;
        } else if (m[i]) {
          ASSERT_TRUE(expected) << "doc " << d << " pos " << i;
        }
        if (stage == "stage3_heldout" && is_fb && m[i]) ++heldout_feedback_loss;
        if (t[i] == item_end) in_item = false;
      }
      EXPECT_GT(items_seen, 0);
    }
    if (stage == "stage3_heldout") {
      EXPECT_EQ(heldout_feedback_loss, r.num_docs() * options_.heldout_tail);
    }
  }
}

TEST_F(CorpusTest, BuildIsDeterministicAndAblationsDropTheirPart) {
  CorpusOptions o = options_;
  const std::string again = dir_ + "/again";
  BuildCorpora(*store_, *tok_, *codec_, *catalog_, again, o);
  for (const auto& stage : kStages)
    EXPECT_EQ(ReadFile(dir_ + "/c/" + stage + ".0.tokens"),
              ReadFile(again + "/" + stage + ".0.tokens"))
        << stage;
  o.drop_feedback = o.drop_profile = o.drop_state = true;
  const std::string ablated = dir_ + "/ablated";
  BuildCorpora(*store_, *tok_, *codec_, *catalog_, ablated, o);
  ShardReader r(ablated, "stage3_behaviour");
  for (int64_t d = 0; d < r.num_docs(); ++d)
    for (int t : r.Tokens(d)) {
      for (int f = 0; f < 4; ++f) ASSERT_NE(t, tok_->TokenId(FeedbackToken(f)));
      ASSERT_NE(t, tok_->TokenId(tok::kProfile));
      ASSERT_NE(t, tok_->TokenId(tok::kState));
    }
}

TEST_F(CorpusTest, SavedCodecLoadsBackIdentically) {
  const std::string path = dir_ + "/codec.json";
  SaveItemCodec(*codec_, *catalog_, path);
  auto back = LoadItemCodec(path, *catalog_, *tok_);
  EXPECT_EQ(back->name(), "title");
  for (int i = 0; i < codec_->num_items(); ++i) ASSERT_EQ(back->Encode(i), codec_->Encode(i));
  Catalog other = *catalog_;
  std::swap(other.items[0], other.items[1]);
  EXPECT_THROW(LoadItemCodec(path, other, *tok_), Error);
}

}  // namespace muchator
