#include "core/threads.h"

#include <gtest/gtest.h>

#include <ATen/Parallel.h>

namespace muchator {

TEST(ThreadsTest, SetsLibtorchIntraOpThreads) {
  EXPECT_EQ(SetupThreads(1), 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  const int all = SetupThreads(0);
  EXPECT_GE(all, 1);
  EXPECT_EQ(at::get_num_threads(), all);
}

}  // namespace muchator
