// Properties of the synthetic world at tiny size (issue: "Properties that must hold").
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "convert/convert.h"
#include "core/error.h"
#include "core/file.h"
#include "core/stats.h"
#include "data/ingest.h"
#include "data/validate.h"
#include "world/generate.h"
#include "world/jamendo.h"
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

std::string SharedData(const std::string& name) {
  const char* src = std::getenv("MUCHATOR_SOURCE_DIR");
  return std::string(src ? src : ".") + "/../shared/data/" + name;
}

// Every property test runs on the synthetic world and on the world built on the real MTG-Jamendo
// catalog (skipped when ../shared/data/mtg-jamendo is absent); both at tiny size, generated once.
class WorldTest : public ::testing::TestWithParam<std::string> {
 protected:
  struct Built {
    std::string dir;
    WorldConfig config;
    std::unique_ptr<WorldModel> model;
  };
  static std::map<std::string, Built>& Worlds() {
    static std::map<std::string, Built> worlds;
    return worlds;
  }
  void SetUp() override {
    const std::string catalog = GetParam();
    if (catalog == "jamendo" && !fs::exists(SharedData("mtg-jamendo")))
      GTEST_SKIP() << "../shared/data/mtg-jamendo is absent";
    Built& b = Worlds()[catalog];
    if (!b.model) {
      b.dir = (fs::temp_directory_path() /
               ("muchator_world_" + catalog + "_" + std::to_string(::getpid())))
                  .string();
      fs::remove_all(b.dir);
      b.config = WorldConfig::ForSize("tiny");
      b.config.seed = 7;
      b.config.catalog = catalog;
      if (catalog == "jamendo") b.config.catalog_input = SharedData("mtg-jamendo");
      b.model = std::make_unique<WorldModel>(Generate(b.config, b.dir + "/a"));
    }
    dir_ = b.dir;
    config_ = b.config;
    model_ = b.model.get();
  }
  static void TearDownTestSuite() {
    for (auto& [name, b] : Worlds()) fs::remove_all(b.dir);
    Worlds().clear();
  }
  bool real() const { return GetParam() != "synthetic"; }
  std::string dir_;
  WorldConfig config_;
  const WorldModel* model_ = nullptr;
};

// Property 1.
TEST_P(WorldTest, SameSeedSameBytesOtherSeedOtherBytes) {
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
  EXPECT_EQ(files, 15);  // the paraphrase questions share oracle/general_mcq.jsonl
  EXPECT_NE(ReadFile(dir_ + "/a/events.jsonl"), ReadFile(dir_ + "/c/events.jsonl"));
  EXPECT_NE(ReadFile(dir_ + "/a/songs.jsonl"), ReadFile(dir_ + "/c/songs.jsonl"));
}

// Property 2.
TEST_P(WorldTest, NoQueryOnlyFormInAnyTrainingText) {
  std::string corpus;
  for (auto kind : {"songs", "comments", "playlists", "artists"})
    corpus += WordPadded(ReadFile(dir_ + "/a/" + kind + ".jsonl"));
  // Documents about music; the general (base-stage) documents are everyday language, checked by
  // EverydayLanguageTeachesEveryFormAndNamesNoSong.
  int music_docs = 0;
  for (const auto& d : ReadJsonl(dir_ + "/a/documents.jsonl"))
    if (d["kind"] != "general") corpus += WordPadded(d.dump()), ++music_docs;
  EXPECT_GT(music_docs, 100);
  std::string train_queries;
  for (const auto& q : ReadJsonl(dir_ + "/a/queries.jsonl"))
    if (q["split"] != "test") train_queries += WordPadded(q["text"].get<std::string>()) + "|";
  int checked = 0;
  const ConceptSet& concepts = *model_->concepts;
  for (const auto* list : {&concepts.genres, &concepts.moods, &concepts.situations})
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
  EXPECT_GT(checked, 100);
  // The test split really uses its held-out forms.
  int test_forms_used = 0;
  for (const auto& q : ReadJsonl(dir_ + "/a/queries.jsonl")) {
    if (q["split"] != "test") continue;
    const std::string t = WordPadded(q["text"].get<std::string>());
    for (const auto& s : concepts.situations)
      for (const auto& f : s.query_test)
        test_forms_used += t.find(WordPadded(f)) != std::string::npos;
  }
  EXPECT_GT(test_forms_used, 20);
}

// The base stage's everyday language: every surface form of every concept (test forms included)
// appears there beside another form of its concept, and no song title, artist or album is named.
TEST_P(WorldTest, EverydayLanguageTeachesEveryFormAndNamesNoSong) {
  std::string general;
  for (const auto& d : ReadJsonl(dir_ + "/a/documents.jsonl"))
    if (d["kind"] == "general") general += WordPadded(d["text"].get<std::string>()) + "|";
  ASSERT_FALSE(general.empty());
  const ConceptSet& concepts = *model_->concepts;
  int forms = 0;
  for (const auto* list : {&concepts.genres, &concepts.moods, &concepts.situations})
    for (const auto& c : *list)
      for (const auto* group : {&c.social, &c.query_train, &c.query_test})
        for (const auto& f : *group) {
          EXPECT_NE(general.find(WordPadded(f)), std::string::npos)
              << "form '" << f << "' never taught";
          ++forms;
        }
  EXPECT_GT(forms, 50);
  for (const auto& s : ReadJsonl(dir_ + "/a/songs.jsonl")) {
    // Titles of one or two common words ("Echo") could occur by chance: longer ones must not.
    const std::string title = WordPadded(s["title"].get<std::string>());
    if (std::count(title.begin(), title.end(), ' ') >= 4) {
      EXPECT_EQ(general.find(title), std::string::npos)
          << "song title " << title << " in general text";
    }
  }
  for (const auto& a : ReadJsonl(dir_ + "/a/artists.jsonl"))
    EXPECT_EQ(general.find(WordPadded(a["name"].get<std::string>())), std::string::npos)
        << "artist " << a["name"] << " in general text";
  // The paraphrase questions exist and point at a meta form of their concept.
  int paraphrase = 0;
  for (const auto& q : ReadJsonl(dir_ + "/a/oracle/general_mcq.jsonl"))
    if (q.value("kind", "") == "paraphrase") {
      const auto& opts = q["options"];
      ASSERT_LT(q["answer"].get<size_t>(), opts.size());
      ++paraphrase;
    }
  EXPECT_GT(paraphrase, 50);
}

// Training requests carry what the listener then played (a search log): mostly songs that fit
// the request, so their liked/finished songs are good labels; test requests never have answers.
TEST_P(WorldTest, TrainingRequestsHaveSearchLogsTestRequestsNone) {
  const Oracle oracle = Oracle::Load(dir_ + "/a");
  int64_t train = 0, with_log = 0, relevant = 0, labels = 0;
  for (const auto& q : ReadJsonl(dir_ + "/a/queries.jsonl")) {
    if (q["split"] == "test") {
      EXPECT_FALSE(q.contains("relevant")) << q.dump();
      EXPECT_FALSE(q.contains("extra")) << q.dump();
      continue;
    }
    ++train;
    if (!q.contains("relevant")) continue;
    ++with_log;
    EXPECT_TRUE(q["extra"].contains("played"));
    const QueryFacets f = oracle.FacetsOf(q["id"]);
    for (const auto& id : q["relevant"])
      relevant += oracle.Relevant(f, id.get<std::string>()), ++labels;
  }
  ASSERT_GT(train, 0);
  EXPECT_GT(with_log, train * 9 / 10);
  EXPECT_GT(labels, with_log * 8);  // enough liked or finished songs per request for a list of 10
  EXPECT_GT(static_cast<double>(relevant) / labels, 0.9);  // noisy, but mostly right
}

// Property 4.
TEST_P(WorldTest, HeldOutFeedbackCarriesPersonalSignal) {
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
TEST_P(WorldTest, EveryTestQueryHasTenRelevantSongs) {
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
TEST_P(WorldTest, IngestsWithZeroQuarantinedRows) {
  IngestSummary s = Ingest({dir_ + "/a", dir_ + "/store.db", "", false});
  EXPECT_EQ(s.quarantined(), 0);
  EXPECT_GT(s.accepted(), 15000);
  for (const auto& f : s.files) EXPECT_GT(f.accepted, 0) << f.kind;
  EXPECT_EQ(s.files.size(), 9u);
}

TEST_P(WorldTest, SkipRateByHourFollowsTheMssdAggregates) {
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

TEST_P(WorldTest, LoadedOracleEqualsInMemoryOracle) {
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

TEST_P(WorldTest, ParseQueryRecoversTheFacetsOfQueryText) {
  const Oracle oracle = Oracle::Load(dir_ + "/a");
  int n = 0, exact = 0;
  for (const auto& q : ReadJsonl(dir_ + "/a/oracle/queries.jsonl")) {
    const QueryFacets want = oracle.FacetsOf(q["id"]);
    const QueryFacets got = oracle.ParseQuery(q["text"]);
    ++n;
    const bool same = got.situation == want.situation && got.mood == want.mood &&
                      got.genre == want.genre && got.language == want.language &&
                      got.exclude_language == want.exclude_language && got.era == want.era;
    exact += same;
    if (!same && std::getenv("MUCHATOR_VERBOSE"))
      std::printf("not recovered: %s\n", q["text"].get<std::string>().c_str());
  }
  EXPECT_GT(static_cast<double>(exact) / n, 0.9) << exact << "/" << n;
}

TEST_P(WorldTest, VersionsShareTitleAndArtistWithTheirOriginal) {
  if (real()) GTEST_SKIP() << "a real catalog has no generated live/remix versions";
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

INSTANTIATE_TEST_SUITE_P(Catalogs, WorldTest, ::testing::Values("synthetic", "jamendo"),
                         [](const auto& info) { return info.param; });

// ---- The world on the real catalog: its item side is the real one ----

// Concept indexes of one kind among a track's raw tags ("genre---rock", "mood/theme---party").
std::vector<int> ConceptsOfTags(const std::vector<Concept>& list,
                                const std::vector<std::string>& raw, const std::string& kind) {
  std::vector<int> out;
  for (size_t i = 0; i < list.size(); ++i)
    for (const auto& t : list[i].tags)
      if (std::find(raw.begin(), raw.end(), kind + "---" + t) != raw.end()) {
        out.push_back(static_cast<int>(i));
        break;
      }
  return out;
}

class JamendoWorldTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(SharedData("mtg-jamendo")))
      GTEST_SKIP() << "../shared/data/mtg-jamendo is absent";
    for (auto& t : ReadJamendoTracks(SharedData("mtg-jamendo")))
      tracks_.emplace(t.id, std::move(t));
    dir_ = (fs::temp_directory_path() / ("muchator_jworld_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    config_ = WorldConfig::ForSize("tiny");
    config_.catalog = "jamendo";
    config_.catalog_input = SharedData("mtg-jamendo");
    model_ = Generate(config_, dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::map<std::string, JamendoTrack> tracks_;
  std::string dir_;
  WorldConfig config_;
  WorldModel model_;
};

TEST_F(JamendoWorldTest, SongsAreRealTracksWithTheirRealFields) {
  const auto rows = ReadJsonl(dir_ + "/songs.jsonl");
  ASSERT_EQ(rows.size(), 500u);  // tiny: 500 of the ~18k qualifying tracks
  std::set<std::string> artists;
  for (const auto& row : rows) {
    auto it = tracks_.find(row["id"].get<std::string>());
    ASSERT_NE(it, tracks_.end()) << row["id"] << " is not a Jamendo track";
    const Song want = JamendoSong(it->second);
    Song got;
    ASSERT_TRUE(ParseRow(row, &got).ok()) << row.dump();
    EXPECT_EQ(got.title, want.title);
    EXPECT_EQ(got.artists, want.artists);
    EXPECT_EQ(got.album, want.album);
    EXPECT_EQ(got.genres, want.genres);
    EXPECT_EQ(got.tags, want.tags);
    EXPECT_DOUBLE_EQ(got.duration_s, want.duration_s);
    // Nothing the copy lacks is written as a fact.
    EXPECT_EQ(got.language, "");
    EXPECT_EQ(got.year, 0);
    EXPECT_EQ(got.lyrics, "");
    artists.insert(got.artists[0]);
  }
  EXPECT_EQ(static_cast<int64_t>(artists.size()), model_.config.artists);
  for (const auto& a : ReadJsonl(dir_ + "/artists.jsonl"))
    EXPECT_EQ(a["name"].get<std::string>(),
              "Jamendo artist " + JamendoNumber(a["id"].get<std::string>()));
  // Another seed samples other tracks.
  WorldConfig other = config_;
  other.seed = 2;
  Generate(other, dir_ + "/other");
  EXPECT_NE(ReadFile(dir_ + "/songs.jsonl"), ReadFile(dir_ + "/other/songs.jsonl"));
}

TEST_F(JamendoWorldTest, ConceptsAndRelevanceComeFromTheRealTags) {
  const ConceptSet& c = JamendoConcepts();
  for (const auto& s : model_.songs) {
    const auto& raw = tracks_.at(s.id).tags;
    EXPECT_EQ(s.genres, ConceptsOfTags(c.genres, raw, "genre")) << s.id;
    EXPECT_EQ(s.moods, ConceptsOfTags(c.moods, raw, "mood/theme")) << s.id;
    EXPECT_EQ(s.situations, ConceptsOfTags(c.situations, raw, "mood/theme")) << s.id;
  }
  // Every query's relevance, recomputed from the raw tag file: relevant = tagged with the facets.
  const Oracle oracle = Oracle::Load(dir_);
  int queries = 0, relevant_pairs = 0;
  for (const auto& q : ReadJsonl(dir_ + "/oracle/queries.jsonl")) {
    const QueryFacets f = oracle.FacetsOf(q["id"]);
    EXPECT_GE(f.situation, 0);
    EXPECT_LT(f.language, 0);  // Jamendo records no language and no year: no such facets
    EXPECT_LT(f.era, 0);
    for (const auto& s : model_.songs) {
      const auto& raw = tracks_.at(s.id).tags;
      auto has = [&](const std::vector<Concept>& list, int i, const std::string& kind) {
        const auto v = ConceptsOfTags(list, raw, kind);
        return i < 0 || std::find(v.begin(), v.end(), i) != v.end();
      };
      const bool want = has(c.situations, f.situation, "mood/theme") &&
                        has(c.moods, f.mood, "mood/theme") && has(c.genres, f.genre, "genre");
      ASSERT_EQ(oracle.Relevant(f, s.id), want) << q["id"] << " " << s.id;
      relevant_pairs += want;
    }
    if (++queries == 60) break;
  }
  EXPECT_EQ(queries, 60);
  EXPECT_GT(relevant_pairs, 600);
}

TEST(JamendoWorld, MissingInputIsAClearError) {
  WorldConfig c = WorldConfig::ForSize("tiny");
  c.catalog = "jamendo";
  const std::string dir =
      (fs::temp_directory_path() / ("muchator_jmissing_" + std::to_string(::getpid()))).string();
  try {
    Generate(c, dir);
    FAIL() << "no error without --input";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--input"), std::string::npos) << e.what();
  }
  c.catalog_input = dir + "/nowhere";
  try {
    Generate(c, dir);
    FAIL() << "no error for a missing folder";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("track_tags_merged.tsv"), std::string::npos) << e.what();
  }
  c.catalog = "spotify";
  EXPECT_THROW(Generate(c, dir), Error);
  EXPECT_FALSE(fs::exists(dir + "/songs.jsonl"));
}

}  // namespace muchator::world
