#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "core/file.h"
#include "core/threads.h"
#include "data/ingest.h"
#include "data/store.h"
#include "infer/checkpoint.h"
#include "reward/ranker_train.h"
#include "support/tiny_world.h"
#include "synth/cluster.h"
#include "synth/sft.h"
#include "synth/uq2i.h"
#include "text/bpe_train.h"
#include "text/item_codec.h"
#include "text/special_tokens.h"
#include "text/training_text.h"
#include "world/concepts.h"
#include "world/generate.h"
#include "world/oracle.h"
#include "world/text.h"

namespace muchator {
namespace {

namespace fs = std::filesystem;

// Situations and moods mined from comments and descriptions; negative comments are skipped.
TEST(QueryPoolTest, TextGeneratorMinesCommentsAndDescriptions) {
  Song song;
  song.id = "s1";
  const std::vector<std::string> playlists;
  const std::vector<std::string> comments = {
      "so dreamy, perfect for the beach", "not floaty at all, skip",
      "sinister vibes, perfect for ranked grind", "added it to my cozy winter list",
      "too much for hot cocoa"};
  const std::vector<std::string> documents = {
      "\"X\" is a tender song. Its lyrics are about jogging and video games, with a upbeat feeling "
      "throughout.",
      "Critics file it under folk, and it is often associated with a breakup."};
  std::vector<std::pair<std::string, std::string>> out;
  TextQueryGenerator()(SongFacts{&song, &playlists, &comments, &documents}, out);
  std::set<std::pair<std::string, std::string>> got(out.begin(), out.end());
  for (const auto& want :
       std::vector<std::pair<std::string, std::string>>{{"music for the beach", "comment"},
                                                        {"music for ranked grind", "comment"},
                                                        {"sinister songs", "comment"},
                                                        {"music for cozy winter", "comment"},
                                                        {"music for jogging", "description"},
                                                        {"music for video games", "description"},
                                                        {"music for a breakup", "description"}})
    EXPECT_TRUE(got.count(want)) << want.first;
  for (const auto& [text, source] : out) {
    EXPECT_EQ(text.find("floaty"), std::string::npos) << text;
    EXPECT_EQ(text.find("cocoa"), std::string::npos) << text;
  }
}

// One fixture, one test: ctest runs each test in its own process, and the ranker takes seconds.
TEST(Uq2iTest, PoolClustersAndTargetListsOnTheTinyWorld) {
  SetupThreads(1);
  const std::string dir =
      (fs::temp_directory_path() / ("muchator_synth_" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  auto config = world::WorldConfig::ForSize("tiny");
  config.seed = 3;
  world::Generate(config, dir + "/w");
  Ingest({dir + "/w", dir + "/s.db", "", true});
  const world::Oracle oracle = world::Oracle::Load(dir + "/w");
  Store store(dir + "/s.db");
  const Catalog catalog = Catalog::FromStore(store);

  // 1. The pool: every song has queries; no query-only form of the world leaks in.
  QueryPoolOptions po;
  const QueryPool pool =
      BuildQueryPool(store, catalog, DefaultQueryGenerator(), HasWorldQueryForm, po);
  ASSERT_GT(pool.texts.size(), 100u);
  std::set<std::string> sources(pool.sources.begin(), pool.sources.end());
  for (const char* s : {"template:tag", "template:genre", "playlist", "comment", "description"})
    EXPECT_TRUE(sources.count(s)) << s;
  int songs_with_queries = 0;
  for (const auto& t : pool.texts_of_song) songs_with_queries += !t.empty();
  EXPECT_EQ(songs_with_queries, static_cast<int>(catalog.items.size()));
  // Generated texts carry no query form; the store's logged sft requests ("real") carry training
  // forms, which is what they are for; no text carries a test form.
  const auto test_form = world::QueryFormMatcher(world::SyntheticConcepts(), /*train_forms=*/false);
  int real = 0;
  for (size_t i = 0; i < pool.texts.size(); ++i) {
    if (pool.sources[i] == "real")
      ++real;
    else
      EXPECT_FALSE(HasWorldQueryForm(pool.texts[i])) << pool.texts[i];
    EXPECT_FALSE(test_form(pool.texts[i])) << pool.texts[i];
  }
  EXPECT_GT(real, 50);
  EXPECT_TRUE(HasWorldQueryForm("some top forty fare please"));  // a test form: the guard works

  // 2. Clustering with a (random-weight) tiny model: texts about the same concept (same parsed
  // facets) share a cluster more often than random pairs.
  BpeTrainOptions bo;
  bo.vocab_size = 1200;
  bo.special_tokens = BaseSpecialTokens();
  auto tok = TrainBpe([&](const auto& emit) { ForEachTrainingText(store, emit); }, bo);
  torch::manual_seed(1);
  ModelConfig mc = ModelConfig::Named("tiny");
  mc.vocab_size = tok->vocab_size();
  Qwen3ForCausalLM model(mc);
  const torch::Tensor emb = EmbedTexts(model, *tok, pool.texts, /*batch_tokens=*/512);
  ASSERT_EQ(emb.size(0), static_cast<int64_t>(pool.texts.size()));
  EXPECT_NEAR(emb[0].norm().item<float>(), 1.0f, 1e-4);
  // Packing does not change an embedding: smaller batches give the same vectors.
  const torch::Tensor small = EmbedTexts(model, *tok, pool.texts, /*batch_tokens=*/64);
  EXPECT_TRUE(torch::allclose(small, emb, 1e-4, 1e-5));
  const int k = ClusterCount(static_cast<int64_t>(pool.texts.size()));
  EXPECT_EQ(k, static_cast<int>(pool.texts.size() / 5));
  const std::vector<int> cluster = KMeans(emb, k, 1);
  // Texts about a common concept (same parsed situation, mood or genre: "hopeful indie songs",
  // "play something hopeful") against all pairs.
  std::vector<world::QueryFacets> facets;
  for (const auto& t : pool.texts) facets.push_back(oracle.ParseQuery(t));
  auto share = [](const world::QueryFacets& a, const world::QueryFacets& b) {
    return (a.situation >= 0 && a.situation == b.situation) || (a.mood >= 0 && a.mood == b.mood) ||
           (a.genre >= 0 && a.genre == b.genre);
  };
  int64_t same_pairs = 0, same_together = 0, all_pairs = 0, all_together = 0;
  for (size_t a = 0; a < pool.texts.size(); ++a)
    for (size_t b = a + 1; b < pool.texts.size(); ++b) {
      const bool together = cluster[a] == cluster[b];
      ++all_pairs, all_together += together;
      if (share(facets[a], facets[b])) ++same_pairs, same_together += together;
    }
  ASSERT_GT(same_pairs, 500);
  const double p_same = static_cast<double>(same_together) / same_pairs;
  const double p_all = static_cast<double>(all_together) / all_pairs;
  std::printf("same concept together %.3f vs any pair %.3f (%lld / %lld pairs)\n", p_same, p_all,
              static_cast<long long>(same_pairs), static_cast<long long>(all_pairs));
  EXPECT_GT(p_same, 2 * p_all);

  // 3-4. Target lists: 10 distinct candidates, sorted by the ranker; no rl/test user.
  RankerTrainOptions ro;
  ro.epochs = 2;
  Ranker ranker = TrainRanker(store, ro, nullptr, nullptr);
  const QueryClusters clusters = GroupSongs(pool, cluster, k);
  std::set<std::string> isolated;
  store.ForEachQuery([&](const Query& q) {
    if (q.split == "rl" || q.split == "test") isolated.insert(q.user);
  });
  ASSERT_FALSE(isolated.empty());
  Uq2iOptions uo;
  std::vector<Uq2iTriplet> triplets;
  const auto summary = SynthesizeUq2i(store, catalog, pool, clusters, ranker, &oracle, uo,
                                      [&](const Uq2iTriplet& t) { triplets.push_back(t); });
  ASSERT_GT(triplets.size(), 100u);
  for (const auto& t : triplets) {
    EXPECT_EQ(isolated.count(t.user), 0u) << t.user;
    ASSERT_EQ(t.items.size(), 10u);
    EXPECT_EQ(std::set<int>(t.items.begin(), t.items.end()).size(), 10u);
    for (size_t i = 0; i < t.items.size(); ++i) {
      EXPECT_TRUE(std::binary_search(t.candidates.begin(), t.candidates.end(), t.items[i]));
      if (i > 0) {
        EXPECT_GE(t.scores[i - 1], t.scores[i]);
      }
    }
    EXPECT_FALSE(test_form(t.query)) << t.query;  // no test form reached a training query
    // The logged sft requests are the data (no cluster-anchor triplets when they exist).
    EXPECT_EQ(t.query_source.rfind("request", 0), 0u) << t.query_source;
  }
  EXPECT_GT(summary["from_own_requests"].get<int64_t>(), 50);
  EXPECT_GT(summary["from_borrowed_requests"].get<int64_t>(), 100);
  // Filtering by the ranking model raises the oracle utility of the lists over their candidates.
  const auto& q = summary.at("oracle");
  std::printf("%s\n", summary.dump().c_str());
  EXPECT_GT(q["utility"].get<double>(), q["utility_before_filtering"].get<double>());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace muchator
