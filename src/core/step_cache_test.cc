#include "core/step_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/error.h"
#include "core/file.h"

namespace muchator {
namespace {

namespace fs = std::filesystem;

class StepCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("muchator_step_cache_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string P(const std::string& name) { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(StepCacheTest, Sha256MatchesTheStandardVectors) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(StepCacheTest, TreeDigestFollowsContentNamesAndFileBoundaries) {
  MakeDirs(P("in/sub"));
  WriteFileAtomic(P("in/a.jsonl"), "ab");
  WriteFileAtomic(P("in/sub/b.jsonl"), "c");
  const std::string d0 = DigestTree(P("in"));
  EXPECT_EQ(d0.size(), 64u);
  // Rewriting the same bytes (a new modification time) keeps the digest.
  WriteFileAtomic(P("in/a.jsonl"), "ab");
  EXPECT_EQ(DigestTree(P("in")), d0);
  // One changed byte, a moved boundary, a renamed file: each changes it.
  WriteFileAtomic(P("in/a.jsonl"), "aX");
  const std::string d1 = DigestTree(P("in"));
  EXPECT_NE(d1, d0);
  WriteFileAtomic(P("in/a.jsonl"), "a");
  WriteFileAtomic(P("in/sub/b.jsonl"), "bc");
  EXPECT_NE(DigestTree(P("in")), d0);
  WriteFileAtomic(P("in/a.jsonl"), "ab");
  WriteFileAtomic(P("in/sub/b.jsonl"), "c");
  EXPECT_EQ(DigestTree(P("in")), d0);
  fs::rename(P("in/sub/b.jsonl"), P("in/sub/c.jsonl"));
  EXPECT_NE(DigestTree(P("in")), d0);
  // A single file digests to its bytes' SHA-256.
  EXPECT_EQ(DigestTree(P("in/a.jsonl")), Sha256Hex("ab"));
  EXPECT_THROW(DigestTree(P("missing")), Error);
}

TEST_F(StepCacheTest, StepsAreDoneOnlyWithTheSameKeyAndTheirOutputs) {
  StepCache cache(P("run"));
  const std::string out = P("run/model.bin");
  StepCache::Step a = cache.Make("world", {"seed = 1"}, nullptr, {});
  StepCache::Step b = cache.Make("train", {"steps = 10"}, &a, {out});
  EXPECT_NE(b.key.find("after = \"world " + a.digest + "\""), std::string::npos);
  EXPECT_FALSE(cache.Done(b));
  EXPECT_FALSE(cache.Interrupted(b));

  cache.Start(b);
  EXPECT_TRUE(cache.Interrupted(b));
  EXPECT_FALSE(cache.Done(b));
  WriteFileAtomic(out, "weights");
  cache.Finish(b);
  EXPECT_TRUE(cache.Done(b));
  EXPECT_FALSE(cache.Interrupted(b));
  EXPECT_EQ(ReadFile(cache.DonePath("train")), b.key);

  // Same settings again: the same key (nothing time- or path-dependent in it).
  EXPECT_TRUE(cache.Done(cache.Make("train", {"steps = 10"}, &a, {out})));
  // A changed setting of this step or of the step before it: not done.
  EXPECT_FALSE(cache.Done(cache.Make("train", {"steps = 11"}, &a, {out})));
  StepCache::Step a2 = cache.Make("world", {"seed = 2"}, nullptr, {});
  EXPECT_FALSE(cache.Done(cache.Make("train", {"steps = 10"}, &a2, {out})));
  // A deleted output: not done.
  fs::remove(out);
  EXPECT_FALSE(cache.Done(b));
  WriteFileAtomic(out, "weights");
  EXPECT_TRUE(cache.Done(b));

  // Starting again (e.g. with other settings) forgets that it was done; Forget clears both.
  StepCache::Step b2 = cache.Make("train", {"steps = 11"}, &a, {out});
  cache.Start(b2);
  EXPECT_FALSE(cache.Done(b));
  EXPECT_FALSE(cache.Interrupted(b));
  EXPECT_TRUE(cache.Interrupted(b2));
  cache.Forget("train");
  EXPECT_FALSE(cache.Interrupted(b2));
  EXPECT_FALSE(fs::exists(cache.DonePath("train")));
}

}  // namespace
}  // namespace muchator
