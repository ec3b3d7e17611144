// Properties of the synthetic world at tiny size (issue: "Properties that must hold").
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/stats.h"
#include "data/ingest.h"
#include "world/generate.h"
#include "world/oracle.h"
#include "world/text.h"

namespace muchator::world {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<json> ReadJsonl(const std::string& path) {
  std::vector<json> rows;
  LineReader r(path);
  std::string line;
  while (r.Next(line)) rows.push_back(json::parse(line));
  return rows;
}

class WorldTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("muchator_world_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    config_ = WorldConfig::ForSize("tiny");
    config_.seed = 7;
    model_ = new WorldModel(Generate(config_, dir_ + "/a"));
  }
  static void TearDownTestSuite() {
    delete model_;
    fs::remove_all(dir_);
  }
  static std::string dir_;
  static WorldConfig config_;
  static WorldModel* model_;
};
std::string WorldTest::dir_;
WorldConfig WorldTest::config_;
WorldModel* WorldTest::model_ = nullptr;

// Property 1.
TEST_F(WorldTest, SameSeedSameBytesOtherSeedOtherBytes) {
  Generate(config_, dir_ + "/b");
  WorldConfig other = config_;
  other.seed = 8;
  Generate(other, dir_ + "/c");
  int files = 0;
  for (auto& e : fs::recursive_directory_iterator(dir_ + "/a")) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), dir_ + "/a").string();
    EXPECT_EQ(ReadFile(e.path().string()), ReadFile(dir_ + "/b/" + rel)) << rel;
    ++files;
  }
  EXPECT_EQ(files, 15);
  EXPECT_NE(ReadFile(dir_ + "/a/events.jsonl"), ReadFile(dir_ + "/c/events.jsonl"));
  EXPECT_NE(ReadFile(dir_ + "/a/songs.jsonl"), ReadFile(dir_ + "/c/songs.jsonl"));
}

// Property 2.
TEST_F(WorldTest, NoQueryOnlyFormInAnyTrainingText) {
  std::string corpus;
  for (auto kind : {"songs", "documents", "comments", "playlists", "artists"})
    corpus += WordPadded(ReadFile(dir_ + "/a/" + kind + ".jsonl"));
  std::string train_queries;
  for (const auto& q : ReadJsonl(dir_ + "/a/queries.jsonl"))
    if (q["split"] != "test") train_queries += WordPadded(q["text"].get<std::string>()) + "|";
  int checked = 0;
  for (const auto* list : {&Genres(), &Moods(), &Situations()})
    for (const auto& c : *list) {
      for (const auto* group : {&c.query_train, &c.query_test})
        for (const auto& f : *group) {
          EXPECT_EQ(corpus.find(WordPadded(f)), std::string::npos)
              << "query form '" << f << "' leaks into training text";
          ++checked;
        }
      for (const auto& f : c.query_test)
        EXPECT_EQ(train_queries.find(WordPadded(f)), std::string::npos)
            << "test form '" << f << "' in an sft/rl query";
    }
  EXPECT_GT(checked, 130);
  // The test split really uses its held-out forms.
  int test_forms_used = 0;
  for (const auto& q : ReadJsonl(dir_ + "/a/queries.jsonl")) {
    if (q["split"] != "test") continue;
    const std::string t = WordPadded(q["text"].get<std::string>());
    for (const auto& s : Situations())
      for (const auto& f : s.query_test)
        test_forms_used += t.find(WordPadded(f)) != std::string::npos;
  }
  EXPECT_GT(test_forms_used, 20);
}

// Property 4.
TEST_F(WorldTest, HeldOutFeedbackCarriesPersonalSignal) {
  const Oracle oracle(*model_);
  const int64_t cutoff = HeldoutCutoffTs(config_);
  std::vector<std::pair<double, bool>> by_utility, by_popularity;
  for (const auto& e : ReadJsonl(dir_ + "/a/events.jsonl")) {
    if (e["ts"].get<int64_t>() < cutoff) continue;
    const std::string fb = e["feedback"];
    if (fb != "like" && fb != "skip") continue;
    State s;
    s.hour = e["state"]["hour"];
    s.time_of_day = e["state"]["time_of_day"];
    s.day_type = e["state"]["day_type"];
    s.context = e["state"]["context"];
    s.device = e["state"]["device"];
    const std::string song = e["song"];
    by_utility.push_back({oracle.Utility(e["user"], s, song), fb == "like"});
    by_popularity.push_back({model_->songs[oracle.SongIndex(song)].popularity, fb == "like"});
  }
  ASSERT_GT(by_utility.size(), 500u);
  const double auc_u = Auc(by_utility), auc_p = Auc(by_popularity);
  EXPECT_GE(auc_u, 0.8) << "utility AUC";
  EXPECT_LE(auc_p, 0.6) << "popularity AUC";
  std::printf("held-out like-vs-skip AUC: oracle utility %.3f, popularity %.3f (%zu events)\n",
              auc_u, auc_p, by_utility.size());
}

// Property 5, and the oracle's best list is relevant and sorted by utility.
TEST_F(WorldTest, EveryTestQueryHasTenRelevantSongs) {
  const Oracle oracle = Oracle::Load(dir_ + "/a");
  int test_queries = 0;
  for (const auto& q : ReadJsonl(dir_ + "/a/oracle/queries.jsonl")) {
    if (q["split"] != "test") continue;
    ++test_queries;
    const QueryFacets f = oracle.FacetsOf(q["id"]);
    EXPECT_GE(q["relevant_count"].get<int>(), 10) << q["id"];
    ASSERT_EQ(q["relevant"].size(), q["relevant_count"].get<size_t>())
        << q["id"];  // tiny: always listed
    int relevant = 0;
    for (const auto& s : model_->songs) relevant += oracle.Relevant(f, s.id);
    EXPECT_EQ(relevant, q["relevant_count"].get<int>()) << q["id"];
    ASSERT_EQ(q["best10"].size(), 10u) << q["id"];
    double prev = 1e9;
    for (const auto& b : q["best10"]) {
      EXPECT_TRUE(oracle.Relevant(f, b["song"])) << q["id"];
      EXPECT_LE(b["utility"].get<double>(), prev + 1e-9);
      prev = b["utility"];
    }
  }
  EXPECT_GT(test_queries, 30);
}

// Property 6.
TEST_F(WorldTest, IngestsWithZeroQuarantinedRows) {
  IngestSummary s = Ingest({dir_ + "/a", dir_ + "/store.db", "", false});
  EXPECT_EQ(s.quarantined(), 0);
  EXPECT_GT(s.accepted(), 15000);
  for (const auto& f : s.files) EXPECT_GT(f.accepted, 0) << f.kind;
  EXPECT_EQ(s.files.size(), 9u);
}

TEST_F(WorldTest, SkipRateByHourFollowsTheMssdAggregates) {
  std::array<double, 24> skips{}, total{};
  for (const auto& e : ReadJsonl(dir_ + "/a/events.jsonl")) {
    const int h = e["state"]["hour"];
    const std::string fb = e["feedback"];
    total[h] += 1;
    skips[h] += fb == "skip" || fb == "dislike";
  }
  // The real table when ../shared/data is there; the constants copied from it otherwise.
  std::array<double, 24> target = kMssdSkipByHour;
  const char* src = std::getenv("MUCHATOR_SOURCE_DIR");
  const std::string csv = std::string(src ? src : ".") +
                          "/../shared/data/mssd-mini-skip-aggregates/hour_of_day_skipped.csv";
  if (fs::exists(csv)) {
    std::ifstream in(csv);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      const auto comma = line.find(',');
      target[std::stoi(line.substr(0, comma))] = std::stod(line.substr(comma + 1));
    }
  }
  double abs_dev = 0, all = 0, all_skips = 0;
  for (int h = 0; h < 24; ++h) {
    ASSERT_GT(total[h], 100) << "hour " << h;
    abs_dev += std::abs(skips[h] / total[h] - target[h]) / 24;
    all += total[h];
    all_skips += skips[h];
  }
  EXPECT_LT(abs_dev, 0.04);
  EXPECT_NEAR(all_skips / all, 0.515, 0.03);
}

TEST_F(WorldTest, LoadedOracleEqualsInMemoryOracle) {
  const Oracle mem(*model_);
  const Oracle loaded = Oracle::Load(dir_ + "/a");
  State s{"evening", "weekday", "gym", "phone", 19};
  for (int u = 0; u < 20; ++u)
    for (int k = 0; k < 25; ++k) {
      const std::string user = model_->users[u].id,
                        song = model_->songs[(u * 37 + k * 11) % model_->songs.size()].id;
      EXPECT_DOUBLE_EQ(mem.Utility(user, s, song), loaded.Utility(user, s, song));
      EXPECT_EQ(mem.FeedbackProbs(user, s, song), loaded.FeedbackProbs(user, s, song));
    }
  const auto p = loaded.FeedbackProbs(model_->users[0].id, s, model_->songs[0].id);
  EXPECT_NEAR(p[0] + p[1] + p[2] + p[3], 1.0, 1e-12);
  EXPECT_THROW(loaded.Utility("u1", s, "no-such-song"), Error);
}

TEST_F(WorldTest, ParseQueryRecoversTheFacetsOfQueryText) {
  const Oracle oracle = Oracle::Load(dir_ + "/a");
  int n = 0, exact = 0;
  for (const auto& q : ReadJsonl(dir_ + "/a/oracle/queries.jsonl")) {
    const QueryFacets want = oracle.FacetsOf(q["id"]);
    const QueryFacets got = oracle.ParseQuery(q["text"]);
    ++n;
    exact += got.situation == want.situation && got.mood == want.mood && got.genre == want.genre &&
             got.language == want.language && got.exclude_language == want.exclude_language &&
             got.era == want.era;
  }
  EXPECT_GT(static_cast<double>(exact) / n, 0.9) << exact << "/" << n;
}

TEST_F(WorldTest, VersionsShareTitleAndArtistWithTheirOriginal) {
  int versions = 0;
  for (const auto& s : model_->songs) {
    if (s.original < 0) continue;
    ++versions;
    const SongLatent& o = model_->songs[s.original];
    EXPECT_EQ(s.artist, o.artist);
    EXPECT_EQ(s.title.rfind(o.title, 0), 0u) << s.title << " vs " << o.title;
    EXPECT_NE(s.title, o.title);
  }
  EXPECT_GT(versions, 15);
}

}  // namespace muchator::world
