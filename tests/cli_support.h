// The `muchator` binary under test (MUCHATOR_BIN, set by CMake): running it, and a fixture with a
// scratch directory per test. Shared by the end-to-end test binaries of tests/cli_*_test.cc.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/file.h"

namespace muchator {

namespace fs = std::filesystem;

// ctest runs two tests at a time (scripts/test.sh, -j nproc): every binary started here gets one
// compute thread unless told otherwise, or two processes' spinning OpenMP threads fight over the
// two cores (a tiny pre-training beside a two-thread job: 963 tokens/s with two threads, 12,100
// with one).
const bool kOneComputeThread = (setenv("MUCHATOR_THREADS", "1", /*overwrite=*/0), true);

struct Result {
  int code;
  std::string output;  // stdout and stderr together
};

Result RunBinary(const std::string& args) {
  const std::string cmd = std::string(MUCHATOR_BIN) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::vector<std::string> Lines(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// `command` as two local data-parallel ranks (one thread each) on `port`, each rank writing its
// weight digest (MUCHATOR_WEIGHT_DIGEST test hook) so the tests can compare them.
Result LaunchTwoRanks(int port, const std::string& command) {
  ::setenv("MUCHATOR_WEIGHT_DIGEST", "1", 1);
  Result r = RunBinary("launch -n 2 --port " + std::to_string(port) + " --threads-per-rank 1 -- " +
                       command);
  ::unsetenv("MUCHATOR_WEIGHT_DIGEST");
  return r;
}

// The tiny main job that several end-to-end tests start from, so that each does not train its own:
// ctest builds it once per run (CliTest.TinyMainJobRunsEveryStep, the fixture tiny_run in
// tests/CMakeLists.txt) into MUCHATOR_TINY_RUN_DIR. Tests read it and never write into it; one that
// adds to a run copies it first. Outside ctest, the first test that needs it builds it.
inline const std::string kTinyRunArgs =
    "--world-preset tiny --vocab-size 1500 --model-size tiny --pretrain-steps 4 --ranker-epochs 1 "
    "--judge-steps 4 --sft-steps 6 --grpo-steps 4 --report-requests 10 --bf16=false --seed 2 ";

// Which binary built a run: a rebuilt binary makes the fixture stale.
inline std::string BinaryStamp() {
  return std::to_string(fs::last_write_time(MUCHATOR_BIN).time_since_epoch().count()) + " " +
         std::to_string(fs::file_size(MUCHATOR_BIN));
}

// Builds the tiny run afresh (the fixture test); its output is the pipeline's.
inline Result BuildTinyRun() {
  const std::string dir = MUCHATOR_TINY_RUN_DIR;
  fs::remove_all(dir);
  Result r = RunBinary("-q pipeline " + kTinyRunArgs + "--out " + dir);
  if (r.code == 0) WriteFileAtomic(dir + "/fixture.stamp", BinaryStamp());
  return r;
}

// The tiny run's directory, built first where it is missing or stale.
inline std::string TinyRun() {
  const std::string dir = MUCHATOR_TINY_RUN_DIR;
  if (!FileExists(dir + "/fixture.stamp") || ReadFile(dir + "/fixture.stamp") != BinaryStamp()) {
    const Result r = BuildTinyRun();
    if (r.code != 0) throw std::runtime_error("the tiny run failed:\n" + r.output);
  }
  return dir;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("muchator_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "in");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& kind, const std::string& content) {
    std::ofstream(dir_ / "in" / (kind + ".jsonl")) << content;
  }
  std::string P(const std::string& rel) const { return (dir_ / rel).string(); }
  fs::path dir_;
};

// step -> exact loss text, from a stage's log.jsonl
std::map<int64_t, std::string> LossLog(const std::string& path) {
  std::map<int64_t, std::string> m;
  LineReader r(path);
  std::string line;
  while (r.Next(line)) {
    const auto j = nlohmann::json::parse(line);
    m[j["step"].get<int64_t>()] = j["loss_text"].get<std::string>();
  }
  return m;
}

}  // namespace muchator
