#include "core/options.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <filesystem>

#include "core/error.h"
#include "core/file.h"

namespace muchator {

struct Cfg {
  std::string input;
  std::string mode = "fast";
  int64_t steps = 100;
  int threads = 2;
  double lr = 0.001;
  bool strict = false;
  std::vector<std::string> tags = {"a"};
};

class OptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    opts_.Add("input", &cfg_.input, "input directory").Required();
    opts_.Add("mode", &cfg_.mode, "speed").OneOf({"fast", "slow"});
    opts_.Add("steps", &cfg_.steps, "training steps").Range(1, 1e6);
    opts_.Add("threads", &cfg_.threads, "threads").Range(1, 64);
    opts_.Add("lr", &cfg_.lr, "learning rate");
    opts_.Add("strict", &cfg_.strict, "fail on bad rows");
    opts_.Add("tags", &cfg_.tags, "tags");
    opts_.Bind(app_);
  }
  void Parse(std::vector<std::string> args) {
    std::reverse(args.begin(), args.end());
    app_.parse(args);
    opts_.Resolve();
  }
  std::string TempFile(const std::string& content) {
    auto p = std::filesystem::temp_directory_path() /
             ("muchator_opts_" + std::to_string(::getpid()) + ".toml");
    WriteFileAtomic(p.string(), content);
    files_.push_back(p.string());
    return p.string();
  }
  void TearDown() override {
    for (auto& f : files_) std::filesystem::remove(f);
  }
  Cfg cfg_;
  Options opts_;
  CLI::App app_{"test"};
  std::vector<std::string> files_;
};

TEST_F(OptionsTest, DefaultsThenFlags) {
  Parse({"--input", "dir", "--steps", "5", "--strict", "--tags", "x,y"});
  EXPECT_EQ(cfg_.input, "dir");
  EXPECT_EQ(cfg_.steps, 5);
  EXPECT_EQ(cfg_.mode, "fast");
  EXPECT_TRUE(cfg_.strict);
  EXPECT_EQ(cfg_.tags, (std::vector<std::string>{"x", "y"}));
}

TEST_F(OptionsTest, FlagsOverrideConfigFileWhichOverridesDefaults) {
  const std::string f = TempFile("input = \"from_file\"\nsteps = 7\nlr = 0.5\nmode = \"slow\"\n");
  Parse({"--config", f, "--steps", "9"});
  EXPECT_EQ(cfg_.input, "from_file");
  EXPECT_EQ(cfg_.steps, 9);
  EXPECT_DOUBLE_EQ(cfg_.lr, 0.5);
  EXPECT_EQ(cfg_.mode, "slow");
}

TEST_F(OptionsTest, MissingRequiredIsAnError) {
  try {
    Parse({});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--input"), std::string::npos);
  }
}

TEST_F(OptionsTest, ChecksRejectBadValues) {
  EXPECT_THROW(Parse({"--input", "d", "--threads", "0"}), Error);
}

TEST_F(OptionsTest, OneOfRejectsUnknownValue) {
  EXPECT_THROW(Parse({"--input", "d", "--mode", "medium"}), Error);
}

TEST_F(OptionsTest, NonNumericFlagIsAnError) {
  EXPECT_THROW(Parse({"--input", "d", "--steps", "many"}), Error);
}

TEST_F(OptionsTest, UnknownConfigKeyNamesFileAndLine) {
  const std::string f = TempFile("input = \"x\"\n\nstepz = 3\n");
  try {
    Parse({"--config", f});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.where().find(":3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("stepz"), std::string::npos);
  }
}

TEST_F(OptionsTest, ConfigTypeMismatchIsAnError) {
  const std::string f = TempFile("input = \"x\"\nsteps = 1.5\n");
  EXPECT_THROW(Parse({"--config", f}), Error);
}

TEST_F(OptionsTest, EffectiveConfigRoundTrips) {
  Parse({"--input", "dir", "--steps", "5", "--lr", "0.25", "--tags", "p,q"});
  const std::string f = TempFile(opts_.ToToml());
  Cfg other;
  Options o2;
  o2.Add("input", &other.input, "");
  o2.Add("mode", &other.mode, "");
  o2.Add("steps", &other.steps, "");
  o2.Add("threads", &other.threads, "");
  o2.Add("lr", &other.lr, "");
  o2.Add("strict", &other.strict, "");
  o2.Add("tags", &other.tags, "");
  o2.ApplyToml(f);
  EXPECT_EQ(other.input, "dir");
  EXPECT_EQ(other.steps, 5);
  EXPECT_DOUBLE_EQ(other.lr, 0.25);
  EXPECT_EQ(other.tags, (std::vector<std::string>{"p", "q"}));
}

}  // namespace muchator

#include "core/strings.h"

namespace muchator {

TEST(StringsTest, JoinStrings) {
  EXPECT_EQ(JoinStrings({"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_EQ(JoinStrings({"solo"}, ","), "solo");
  EXPECT_EQ(JoinStrings({}, ","), "");
}

}  // namespace muchator
