#include "data/ingest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/file.h"
#include "data/store.h"

namespace muchator {

namespace fs = std::filesystem;

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("muchator_ingest_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "in");
    Write("artists", R"({"id":"a1","name":"Lin Bo"})"
                     "\n"
                     R"({"id":"a2","name":"The Tides","genres":["rock"]})");
    Write("songs", R"({"id":"s1","title":"Rain Song","artists":["a1"],"genres":["pop"]})"
                   "\n"
                   R"({"id":"s2","title":"Gym Beast","artists":["a2"],"year":2010})");
    Write("users", R"({"id":"u1","profile":{"region":"north"}})");
    Write("events", R"({"user":"u1","song":"s1","ts":200,"feedback":"like"})"
                    "\n"
                    R"({"user":"u1","song":"s2","ts":100,"feedback":"skip","play_s":3.5})");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& kind, const std::string& content) {
    std::ofstream(dir_ / "in" / (kind + ".jsonl"), std::ios::binary) << content << "\n";
  }
  void WriteRaw(const std::string& kind, const std::string& content) {
    std::ofstream(dir_ / "in" / (kind + ".jsonl"), std::ios::binary) << content;
  }
  IngestSummary Run(bool strict = false) {
    return Ingest({(dir_ / "in").string(), Store(), "", strict});
  }
  std::string Store() const { return (dir_ / "store.db").string(); }
  const FileSummary& File(const IngestSummary& s, const std::string& kind) {
    for (auto& f : s.files)
      if (f.kind == kind) return f;
    throw std::runtime_error("no summary for " + kind);
  }
  std::vector<nlohmann::json> Quarantine(const IngestSummary& s) {
    std::vector<nlohmann::json> rows;
    LineReader r(s.quarantine_path);
    std::string line;
    while (r.Next(line)) rows.push_back(nlohmann::json::parse(line));
    return rows;
  }
  fs::path dir_;
};

TEST_F(IngestTest, CleanInputIsAcceptedAndReadableThroughStore) {
  IngestSummary s = Run();
  EXPECT_EQ(s.read(), 7);
  EXPECT_EQ(s.accepted(), 7);
  EXPECT_EQ(s.quarantined(), 0);
  muchator::Store store(Store());
  auto t = store.UserTimeline("u1");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].song, "s2");
  EXPECT_EQ(t[0].play_s, 3.5);
}

TEST_F(IngestTest, BadRowsAreQuarantinedWithFileLineAndReason) {
  Write("events", R"({"user":"u1","song":"s1","ts":200,"feedback":"like"})"
                  "\n"
                  R"({"user":"u1","song":"s404","ts":1,"feedback":"like"})"  // unknown song
                  "\n"
                  R"({"user":"u1","song":"s1","ts":5,"feedback":"meh"})"  // bad enum
                  "\n"
                  "\n"                            // empty line
                  R"({"user":"u1","song":"s2",)"  // broken JSON
  );
  IngestSummary s = Run();
  const FileSummary& ev = File(s, "events");
  EXPECT_EQ(ev.read, 5);
  EXPECT_EQ(ev.accepted, 1);
  EXPECT_EQ(ev.quarantined, 4);
  for (auto& f : s.files) EXPECT_EQ(f.accepted + f.quarantined, f.read) << f.kind;
  auto q = Quarantine(s);
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[0]["line"], 2);
  EXPECT_NE(q[0]["reason"].get<std::string>().find("unknown song 's404'"), std::string::npos);
  EXPECT_NE(q[0]["file"].get<std::string>().find("events.jsonl"), std::string::npos);
  EXPECT_EQ(q[1]["line"], 3);
  EXPECT_EQ(q[2]["line"], 4);
  EXPECT_EQ(q[3]["line"], 5);
  EXPECT_NE(q[3]["reason"].get<std::string>().find("invalid JSON"), std::string::npos);
  EXPECT_EQ(muchator::Store(Store()).Counts().events, 1);
}

TEST_F(IngestTest, ReIngestChangesNothing) {
  Run();
  const auto before = muchator::Store(Store()).Counts();
  IngestSummary again = Run();
  EXPECT_EQ(again.quarantined(), 0);
  const auto after = muchator::Store(Store()).Counts();
  EXPECT_EQ(before.songs, after.songs);
  EXPECT_EQ(before.events, after.events);
  EXPECT_EQ(before.artists, after.artists);
  muchator::Store store(Store());
  EXPECT_EQ(store.UserTimeline("u1").size(), 2u);
  EXPECT_EQ(store.FindSongs("rain song", "lin bo").size(), 1u);
}

TEST_F(IngestTest, LaterIngestCanReferenceEarlierOne) {
  Run();
  fs::remove_all(dir_ / "in");
  fs::create_directories(dir_ / "in");
  Write("events", R"({"user":"u1","song":"s2","ts":300,"feedback":"finish"})");
  IngestSummary s = Run();
  EXPECT_EQ(s.accepted(), 1);
  EXPECT_EQ(muchator::Store(Store()).UserTimeline("u1").size(), 3u);
}

TEST_F(IngestTest, TruncatedLastLineIsQuarantinedNotHalfWritten) {
  WriteRaw("events", R"({"user":"u1","song":"s1","ts":200,"feedback":"like"})"
                     "\n"
                     R"({"user":"u1","song":"s2","ts":100,"feedb)");
  IngestSummary s = Run();
  EXPECT_EQ(File(s, "events").accepted, 1);
  EXPECT_EQ(File(s, "events").quarantined, 1);
  EXPECT_EQ(muchator::Store(Store()).Counts().events, 1);
}

TEST_F(IngestTest, InvalidUtf8IsQuarantined) {
  Write("songs",
        std::string(R"({"id":"s1","title":"Bad )") + "\xff\xfe" + R"(","artists":["a1"]})");
  IngestSummary s = Run();
  EXPECT_EQ(File(s, "songs").quarantined, 1);
  auto q = Quarantine(s);
  EXPECT_NE(q[0]["reason"].get<std::string>().find("invalid UTF-8 at byte"), std::string::npos);
  EXPECT_TRUE(q[0].contains("row_hex_prefix"));
  // The event naming the quarantined song s1 is quarantined too: no dangling reference.
  EXPECT_EQ(File(s, "events").quarantined, 2);
}

TEST_F(IngestTest, DuplicateIdWithinOneRunIsQuarantined) {
  Write("users", R"({"id":"u1"})"
                 "\n"
                 R"({"id":"u1","profile":{"region":"south"}})");
  IngestSummary s = Run();
  EXPECT_EQ(File(s, "users").quarantined, 1);
  EXPECT_EQ(muchator::Store(Store()).GetUser("u1")->profile.size(), 0u);
}

TEST_F(IngestTest, StrictRunWithBadRowsLeavesStoreUnchanged) {
  Run();
  const auto before = muchator::Store(Store()).Counts();
  Write("events", R"({"user":"u1","song":"s1","ts":999,"feedback":"like"})"
                  "\n"
                  R"({"user":"nobody","song":"s1","ts":1,"feedback":"like"})");
  EXPECT_THROW(Run(/*strict=*/true), Error);
  const auto after = muchator::Store(Store()).Counts();
  EXPECT_EQ(before.events, after.events);  // the good new event was rolled back too
}

TEST_F(IngestTest, EmptyDirectoryIsAClearError) {
  fs::remove_all(dir_ / "in");
  fs::create_directories(dir_ / "in");
  try {
    Run();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no ingestion file"), std::string::npos);
  }
}

}  // namespace muchator
