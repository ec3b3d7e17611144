#include "core/file.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"

namespace muchator {

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("muchator_file_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string P(const std::string& name) { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(FileTest, AtomicWriteReplacesWholeFile) {
  WriteFileAtomic(P("a.txt"), "old");
  WriteFileAtomic(P("a.txt"), "new content");
  EXPECT_EQ(ReadFile(P("a.txt")), "new content");
  // No temporary file is left behind.
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_)) (void)e, ++n;
  EXPECT_EQ(n, 1);
}

TEST_F(FileTest, UncommittedWriterLeavesOldFileAndNoTemp) {
  WriteFileAtomic(P("a.txt"), "old");
  {
    AtomicWriter w(P("a.txt"));
    w.Write("half of a new fi");
  }  // destroyed without Commit(), as when an exception unwinds
  EXPECT_EQ(ReadFile(P("a.txt")), "old");
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_)) (void)e, ++n;
  EXPECT_EQ(n, 1);
}

TEST_F(FileTest, WriterToMissingDirectoryThrowsClearError) {
  try {
    AtomicWriter w(P("no/such/dir/x"));
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create file"), std::string::npos);
  }
}

TEST_F(FileTest, LineReaderNumbersLinesAndFlagsUnterminatedAndLongLines) {
  WriteFileAtomic(P("l.txt"), "one\r\ntwo\n" + std::string(50, 'x') + "\nlast");
  LineReader r(P("l.txt"), /*max_line_bytes=*/20);
  std::string line;
  ASSERT_TRUE(r.Next(line));
  EXPECT_EQ(line, "one");
  ASSERT_TRUE(r.Next(line));
  EXPECT_EQ(line, "two");
  EXPECT_EQ(r.line_number(), 2);
  ASSERT_TRUE(r.Next(line));
  EXPECT_TRUE(r.last_line_too_long());
  EXPECT_EQ(line.size(), 20u);
  ASSERT_TRUE(r.Next(line));
  EXPECT_EQ(line, "last");
  EXPECT_FALSE(r.last_line_too_long());
  EXPECT_TRUE(r.last_line_unterminated());
  EXPECT_FALSE(r.Next(line));
  EXPECT_EQ(r.line_number(), 4);
}

TEST_F(FileTest, MappedFileSeesTheBytes) {
  WriteFileAtomic(P("m.bin"), std::string("ab\0cd", 5));
  MappedFile m(P("m.bin"));
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(std::string(m.data(), 5), std::string("ab\0cd", 5));
  WriteFileAtomic(P("empty.bin"), "");
  EXPECT_EQ(MappedFile(P("empty.bin")).size(), 0u);
  EXPECT_THROW(MappedFile(P("missing.bin")), Error);
}

TEST_F(FileTest, MissingFileThrows) { EXPECT_THROW(LineReader(P("missing")), Error); }

}  // namespace muchator
