#include "core/threads.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace muchator {

TEST(ThreadsTest, SetsLibtorchIntraOpThreads) {
  EXPECT_EQ(SetupThreads(1), 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  const int all = SetupThreads(0);
  EXPECT_GE(all, 1);
  EXPECT_EQ(at::get_num_threads(), all);
}

}  // namespace muchator
