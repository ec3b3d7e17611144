#include "rl/reword.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "data/store.h"

namespace muchator {
namespace {

// A store whose general document pairs "kitchen jams" with three phrases: one a logged sft request
// uses, one a song tag, one only a test-split request uses. Rewording must take the last: the
// wording no logged request and no tag uses, and a test request is never read.
TEST(RewordTest, SwapsInPhrasesNoLoggedRequestOrTagUsesAndNeverReadsTestRequests) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("muchator_reword_test_" + std::to_string(::getpid()) + ".db"))
                               .string();
  {
    Store s(path, Store::Mode::kReadWrite);
    s.Begin();
    s.PutArtist(0, Artist{"a1", "Lin Bo", {}, "", {}});
    s.PutSong(0, Song{"s0", "Song", {"a1"}, "", {"pop"}, {"cooking"}, "en", 2001, 200, "", 1, {}},
              {0});
    s.PutDocument({"g1", "general", "", "", "",
                   "Cooking, which some people call kitchen jams. Kitchen jams is just another "
                   "way of saying making dinner. If you hear stirring the pot, think kitchen "
                   "jams. Raberzuia is a small country."});
    s.PutDocument({"l1", "lyric_description", "s0", "", "",
                   "When someone says kitchen jams, they usually mean chopping onions."});
    auto query = [&](const std::string& id, const char* text, const char* split,
                     const std::string& user = "u1") {
      Query q;
      q.id = id;
      q.text = text;
      q.user = user;
      q.ts = 1000;
      q.split = split;
      s.PutQuery(q);
    };
    query("q1", "making dinner tunes", "sft");
    // Eight listeners, eight draws: were every partner avoided, each would be a random one.
    for (int u = 0; u < 8; ++u)
      query("q2_" + std::to_string(u), "kitchen jams, please", "rl", "u" + std::to_string(u));
    query("q3", "stirring the pot, play me something", "test");
    s.Commit();
  }
  Store store(path);
  std::vector<EvalRequest> requests = RequestsFromStore(store, "rl", 0);
  ASSERT_EQ(requests.size(), 8u);
  const std::vector<EvalRequest> logged = requests;
  const RewordSummary s = RewordRequests(store, 1.0, requests);
  for (const auto& r : requests) EXPECT_EQ(r.query, "stirring the pot, please");
  EXPECT_EQ(s.reworded, 8u);
  EXPECT_EQ(s.swaps, 8u);
  EXPECT_EQ(s.lexicon_pairs, 3u);  // the general document only: not the lyric description's pair
  ASSERT_EQ(s.examples.size(), 5u);
  EXPECT_EQ(s.examples[0].first, "kitchen jams, please");
  // The same draws every time; p = 0 leaves the requests as logged.
  std::vector<EvalRequest> again = logged, kept = logged;
  RewordRequests(store, 0.5, again);
  std::vector<EvalRequest> half = logged;
  RewordRequests(store, 0.5, half);
  for (size_t i = 0; i < half.size(); ++i) EXPECT_EQ(again[i].query, half[i].query);
  EXPECT_EQ(RewordRequests(store, 0.0, kept).reworded, 0u);
  EXPECT_EQ(kept[0].query, logged[0].query);
  for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

}  // namespace
}  // namespace muchator
