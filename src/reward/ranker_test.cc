#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "core/threads.h"
#include "data/ingest.h"
#include "data/store.h"
#include "reward/ranker_train.h"
#include "world/generate.h"
#include "world/oracle.h"

namespace muchator {
namespace {

namespace fs = std::filesystem;

class RankerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("muchator_ranker_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    auto config = world::WorldConfig::ForSize("tiny");
    config.seed = 7;
    SetupThreads(1);  // ctest runs two tests at once on 2 cores: no oversubscription
    world::Generate(config, dir_ + "/w");
    Ingest({dir_ + "/w", dir_ + "/s.db", "", true});
    oracle_ = new world::Oracle(world::Oracle::Load(dir_ + "/w"));
    Store store(dir_ + "/s.db");
    RankerTrainOptions o;
    o.holdout = config.heldout_fraction;
    report_ = new RankerReport;
    ranker_ = new Ranker(TrainRanker(store, o, oracle_, report_));
    std::printf("%s\n", ToJson(*report_).dump().c_str());
  }
  static void TearDownTestSuite() {
    delete ranker_;
    delete report_;
    delete oracle_;
    fs::remove_all(dir_);
  }
  static std::string dir_;
  static world::Oracle* oracle_;
  static Ranker* ranker_;
  static RankerReport* report_;
};
std::string RankerTest::dir_;
world::Oracle* RankerTest::oracle_ = nullptr;
Ranker* RankerTest::ranker_ = nullptr;
RankerReport* RankerTest::report_ = nullptr;

// The bar: on held-out later events the like-vs-skip AUC is within 0.1 of the oracle's,
// every objective beats chance clearly, and the score ranks random songs like the oracle does.
TEST_F(RankerTest, HeldOutQualityNearTheOracleAndConsistentScoring) {
  const RankerReport& r = *report_;
  ASSERT_TRUE(r.oracle && r.training);
  EXPECT_GT(r.heldout_events, 1000u);
  EXPECT_GE(r.like_vs_skip_auc, r.oracle->like_vs_skip_auc - 0.1);
  for (const char* k : {"like", "finish", "skip", "dislike"}) EXPECT_GT(r.auc.at(k), 0.6) << k;
  EXPECT_GT(r.oracle->spearman, 0.4);
  // The report file's form: every field under its name, one line per epoch.
  const nlohmann::json j = ToJson(r);
  EXPECT_EQ(j["heldout_events"].get<size_t>(), r.heldout_events);
  EXPECT_DOUBLE_EQ(j["auc"]["skip"].get<double>(), r.auc.at("skip"));
  EXPECT_DOUBLE_EQ(j["oracle_spearman"].get<double>(), r.oracle->spearman);
  ASSERT_EQ(j["epochs"].size(), r.training->epoch_train_loss.size());
  EXPECT_EQ(j["epochs"].back()["epoch"].get<size_t>(), r.training->epoch_train_loss.size());

  // (One test per trained model: ctest runs each test in its own process, which retrains.)
  // Saving and loading, and batched scoring, agree with one-by-one scoring.
  ranker_->Save(dir_ + "/r");
  Ranker loaded = Ranker::Load(dir_ + "/r");
  Store store(dir_ + "/s.db");
  std::vector<RankerContext> ctx(2);
  store.ForEachUser([&](const User& u) {
    if (ctx[0].user.empty()) ctx[0].user = u.id;
  });
  for (const auto& e : store.UserTimeline(ctx[0].user))
    ctx[0].history.push_back({e.song, e.feedback});
  ASSERT_GT(ctx[0].history.size(), 50u);
  ctx[0].state.time_of_day = "evening", ctx[0].state.hour = 20;
  ctx[1].user = "nobody";  // cold start: no id, no history
  const std::vector<int> cands = {1, 5, 9, 0, 17};
  const std::vector<int> group = {0, 1, 0, 1, 1};
  auto together = ranker_->Predict(ctx, cands, group, /*max_batch=*/2);
  auto reloaded = loaded.Predict(ctx, cands, group);
  for (size_t i = 0; i < cands.size(); ++i) {
    auto alone = ranker_->Predict(ctx[static_cast<size_t>(group[i])], std::vector<int>{cands[i]});
    float sum = 0;
    for (int k = 0; k < 4; ++k) {
      EXPECT_NEAR(together[i].p[k], alone[0].p[k], 1e-5);
      EXPECT_NEAR(together[i].p[k], reloaded[i].p[k], 1e-6);
      sum += together[i].p[k];
    }
    EXPECT_NEAR(sum, 1.0f, 1e-5);
    EXPECT_GE(together[i].score, 0.0f);
    EXPECT_LE(together[i].score, 10.0f);
  }
  // History matters: the same candidate scores differently with and without the history.
  RankerContext bare = ctx[0];
  bare.history.clear();
  EXPECT_NE(ranker_->Predict(bare, std::vector<int>{1})[0].p[0], together[0].p[0]);
}

// Models saved before the match features and the narrow song id (their ranker.json has neither
// key) load as they were, while a default model carries both and depends on them.
TEST(RankerLoadTest, OldModelsLoadAndTheMatchFeaturesAreUsed) {
  const std::string dir =
      (fs::temp_directory_path() / ("muchator_ranker_old_" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  RankerVocab v;
  for (const char* id : {"a", "b", "c"}) v.songs.Add(id);
  v.users.Add("u");
  SongTable t;
  t.id = torch::arange(4, torch::kInt64);
  t.artist = torch::zeros({4}, torch::kInt64);
  t.language = torch::zeros({4}, torch::kInt64);
  t.decade = torch::zeros({4}, torch::kInt64);
  t.pop = torch::zeros({4}, torch::kInt64);
  t.genres = torch::zeros({4, kRankerGenres}, torch::kInt64);
  t.tags = torch::zeros({4, kRankerTags}, torch::kInt64);
  RankerContext ctx;
  ctx.user = "u";
  ctx.history = {{"a", Feedback::kLike}, {"b", Feedback::kSkip}};
  const std::vector<int> cands = {1, 2, 3};

  RankerConfig old_config;
  old_config.match = 0, old_config.song_id_dim = 0;
  Ranker old_model(old_config, v, t);
  old_model.Save(dir + "/old");
  auto meta = nlohmann::json::parse(ReadFile(dir + "/old/ranker.json"));
  meta["config"].erase("match");
  meta["config"].erase("song_id_dim");
  WriteFileAtomic(dir + "/old/ranker.json", meta.dump());
  Ranker old_loaded = Ranker::Load(dir + "/old");
  EXPECT_EQ(old_loaded.config().match, 0);
  EXPECT_EQ(old_loaded.config().song_id_dim, 0);
  auto before = old_model.Predict(ctx, cands), after = old_loaded.Predict(ctx, cands);
  for (size_t i = 0; i < cands.size(); ++i) EXPECT_NEAR(before[i].score, after[i].score, 1e-6);

  Ranker model(RankerConfig{}, v, t);
  EXPECT_GT(model.config().match, 0);
  EXPECT_EQ(model.net()->song->weight.size(1), model.config().song_id_dim);
  model.Save(dir + "/new");
  Ranker loaded = Ranker::Load(dir + "/new");
  auto base = loaded.Predict(ctx, cands);
  {
    torch::NoGradGuard g;
    loaded.net()->have->weight.mul_(50);  // a song's place on the match axes moves
  }
  loaded.net()->song_cache = torch::Tensor();
  auto moved = loaded.Predict(ctx, cands);
  double diff = 0;
  for (size_t i = 0; i < cands.size(); ++i) diff += std::abs(moved[i].score - base[i].score);
  EXPECT_GT(diff, 1e-4);
  fs::remove_all(dir);
}

TEST(RankerLoadTest, RejectsAMissingDirectory) {
  EXPECT_THROW(Ranker::Load("/nonexistent/ranker"), Error);
}

}  // namespace
}  // namespace muchator
