#include "core/log.h"

#include <gtest/gtest.h>

namespace muchator {

TEST(ProgressTest, CompactAndDurationFormats) {
  EXPECT_EQ(Progress::Compact(999), "999");
  EXPECT_EQ(Progress::Compact(15300), "15.3k");
  EXPECT_EQ(Progress::Compact(2500000), "2.50M");
  EXPECT_EQ(Progress::Duration(62), "1:02");
  EXPECT_EQ(Progress::Duration(3723), "1:02:03");
  EXPECT_EQ(Progress::Duration(-1), "?");
  EXPECT_EQ(Progress::Rate(2.84), "2.8");
  EXPECT_EQ(Progress::Rate(15300), "15.3k");
}

TEST(ProgressTest, CountsWhatIsAdded) {
  Progress p("test", 100, "rows");
  p.Add(30);
  p.Add();
  EXPECT_EQ(p.done(), 31u);
  p.Set(100);
  EXPECT_EQ(p.done(), 100u);
  p.Finish();
  p.Finish();  // idempotent
}

}  // namespace muchator
