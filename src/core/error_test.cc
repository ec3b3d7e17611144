#include "core/error.h"

#include <gtest/gtest.h>

namespace muchator {

TEST(ErrorTest, ComposesWhereWhatAndHint) {
  Error e("bad value", "songs.jsonl:3", "fix the row");
  EXPECT_STREQ(e.what(), "songs.jsonl:3: bad value (fix the row)");
  EXPECT_EQ(FormatError(e), "error: songs.jsonl:3: bad value (fix the row)");
  EXPECT_EQ(e.problem(), "bad value");
  EXPECT_STREQ(Error("only what").what(), "only what");
}

TEST(StatusTest, OkAndInvalid) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = Status::Invalid("missing field 'id'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "missing field 'id'");
  EXPECT_THROW(s.ThrowIfError("x:1"), Error);
  EXPECT_NO_THROW(Status::Ok().ThrowIfError());
}

}  // namespace muchator
