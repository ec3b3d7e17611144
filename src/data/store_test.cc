#include "data/store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"

namespace muchator {

TEST(NormalizeTest, FoldsCaseAndPunctuation) {
  EXPECT_EQ(NormalizeName("Hello,  World! (Live)"), "hello world live");
  EXPECT_EQ(NormalizeName("  --Déjà Vu--  "), "déjà vu");
  EXPECT_EQ(NormalizeName("雨の日"), "雨の日");
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("muchator_store_test_" + std::to_string(::getpid()) + ".db"))
                .string();
    Cleanup();
  }
  void TearDown() override { Cleanup(); }
  void Cleanup() {
    for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }
  std::string path_;
};

TEST_F(StoreTest, WritesAndReadsBackThroughTheApi) {
  {
    Store s(path_, Store::Mode::kReadWrite);
    s.Begin();
    s.PutArtist(0, Artist{"a1", "Lin Bo", {}, "", {}});
    s.PutArtist(1, Artist{"a2", "The Tides", {}, "", {}});
    s.PutSong(0, Song{"s1", "Rain Song", {"a1"}, "", {"pop"}, {}, "en", 2001, 200, "", 5, {}}, {0});
    s.PutSong(1, Song{"s2", "Rain Song", {"a2"}, "", {"rock"}, {}, "en", 2003, 180, "", 2, {}},
              {1});
    s.PutUser(0, User{"u1", {{"region", "north"}}, {}});
    s.PutState(0, State{});
    s.PutState(1, State{"evening", "", "", "", -1});
    s.PutEvent(0, 1, 0, Event{"", "u1", "s2", 300, {}, Feedback::kSkip, 5, 1});
    s.PutEvent(0, 0, 1,
               Event{"", "u1", "s1", 100, {"evening", "", "", "", -1}, Feedback::kLike, 200, 1});
    s.PutComment(0, Comment{"c1", "s1", "u1", "user", "so calm", kNoTimestamp, 0});
    s.PutQuery(Query{"q1", "rainy", "", kNoTimestamp, {}, {"s1"}, "test", "", {}});
    s.PutQuery(Query{"q2", "gym", "", kNoTimestamp, {}, {}, "sft", "", {}});
    s.Commit();
  }
  Store s(path_);
  StoreCounts c = s.Counts();
  EXPECT_EQ(c.songs, 2);
  EXPECT_EQ(c.events, 2);
  auto song = s.GetSong("s2");
  ASSERT_TRUE(song);
  EXPECT_EQ(song->genres, std::vector<std::string>{"rock"});
  EXPECT_FALSE(s.GetSong("nope"));
  EXPECT_EQ(s.FindSongs("rain song!").size(), 2u);
  auto by_artist = s.FindSongs("RAIN SONG", "the tides");
  ASSERT_EQ(by_artist.size(), 1u);
  EXPECT_EQ(by_artist[0].id, "s2");
  auto timeline = s.UserTimeline("u1");
  ASSERT_EQ(timeline.size(), 2u);
  EXPECT_EQ(timeline[0].song, "s1");  // time order, not insertion order
  EXPECT_EQ(timeline[0].state.time_of_day, "evening");
  EXPECT_EQ(timeline[1].feedback, Feedback::kSkip);
  EXPECT_EQ(s.CommentsForSong("s1").size(), 1u);
  int n = 0;
  s.ForEachQuery(
      [&](const Query& q) {
        EXPECT_EQ(q.id, "q1");
        ++n;
      },
      "test");
  EXPECT_EQ(n, 1);
}

TEST_F(StoreTest, ReadOnlyOpenOfMissingStoreIsAClearError) {
  EXPECT_THROW(Store(path_ + ".missing"), Error);
}

}  // namespace muchator
