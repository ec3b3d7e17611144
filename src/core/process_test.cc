#include "core/process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "core/file.h"

namespace muchator {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("muchator_process_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

int WaitFor(ChildProcess& c) {
  for (int i = 0; i < 1000; ++i) {
    if (const auto code = c.Poll()) return *code;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

// Running: its /proc entry exists and it is not a zombie (a dead orphan waits as one until init
// reaps it).
bool Alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

TEST(ChildProcessTest, RunsWithItsEnvironmentAndLogsItsOutputAndExitCode) {
  const std::string log = TempPath("log.txt");
  WriteFileAtomic(log, "before\n");
  ChildProcess c({"/bin/sh", "-c", "echo out $MUCHATOR_TEST_VALUE; echo err >&2; exit 3"}, log,
                 {{"MUCHATOR_TEST_VALUE", "42"}});
  EXPECT_EQ(WaitFor(c), 3);
  EXPECT_EQ(c.Poll(), 3);                             // stays known
  EXPECT_EQ(ReadFile(log), "before\nout 42\nerr\n");  // appended, both streams
  std::filesystem::remove(log);
  EXPECT_THROW(ChildProcess({"/bin/true"}, "/nonexistent/dir/log.txt"), Error);
}

TEST(ChildProcessTest, KillEndsItAndAMissingProgramFails) {
  const std::string log = TempPath("kill.txt");
  ChildProcess sleeper({"/bin/sleep", "100"}, log);
  EXPECT_FALSE(sleeper.Poll().has_value());
  sleeper.Kill();
  EXPECT_EQ(sleeper.Poll(), 128 + SIGKILL);
  EXPECT_FALSE(Alive(sleeper.pid()));
  ChildProcess missing({"/nonexistent/program"}, log);
  EXPECT_EQ(WaitFor(missing), 127);
  EXPECT_NE(ReadFile(log).find("could not start"), std::string::npos);
  std::filesystem::remove(log);
}

// A job killed with SIGKILL leaves no child behind: the child gets SIGKILL with its parent.
TEST(ChildProcessTest, DiesWithItsParent) {
  const std::string pid_file = TempPath("pid.txt"), log = TempPath("orphan.txt");
  const pid_t parent = ::fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {  // the "job": starts a long child, says its pid, waits to be killed
    ChildProcess c({"/bin/sleep", "100"}, log);
    WriteFileAtomic(pid_file, std::to_string(c.pid()));
    ::pause();
    ::_exit(0);
  }
  for (int i = 0; i < 500 && !std::filesystem::exists(pid_file); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(std::filesystem::exists(pid_file));
  const pid_t child = std::stoi(ReadFile(pid_file));
  EXPECT_TRUE(Alive(child));
  ::kill(parent, SIGKILL);
  ::waitpid(parent, nullptr, 0);
  bool gone = false;  // the orphan is re-parented and reaped by init once it dies
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = !Alive(child);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone) << "the child outlived its killed parent";
  if (!gone) ::kill(child, SIGKILL);
  std::filesystem::remove(pid_file);
  std::filesystem::remove(log);
}

}  // namespace
}  // namespace muchator
