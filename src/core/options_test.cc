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

// Parses `args` into `opts` as a command line and returns the effective configuration.
std::string ParseArgs(Options& opts, std::vector<std::string> args) {
  CLI::App app{"test"};
  opts.Bind(app);
  std::reverse(args.begin(), args.end());
  app.parse(args);
  opts.Resolve();
  return opts.ToToml();
}

// A numeric list: comma-separated on the command line, an array of numbers in TOML, its Range
// per number and its Size checked, and written back as an array.
TEST(OptionsListTest, NumericListParsesChecksAndRoundTrips) {
  auto parse = [](std::vector<double>* v, std::vector<std::string> args) {
    Options opts;
    opts.Add("value", v, "weights").Range(0, 1).Size(4, "like, finish, skip, dislike");
    return ParseArgs(opts, std::move(args));
  };
  std::vector<double> v = {1, 0.6, 0.15, 0};
  parse(&v, {"--value", "0.5, 0.25,0,1"});
  EXPECT_EQ(v, (std::vector<double>{0.5, 0.25, 0, 1}));
  EXPECT_THROW(parse(&v, {"--value", "1,2,0,0"}), Error);     // 2 is out of [0, 1]
  EXPECT_THROW(parse(&v, {"--value", "1,0.5,0"}), Error);     // three numbers
  EXPECT_THROW(parse(&v, {"--value", "1,half,0,0"}), Error);  // not a number
  v = {0.5, 0.25, 0, 1};
  const std::string toml = parse(&v, {});
  EXPECT_NE(toml.find("value = [ 0.5, 0.25, 0.0, 1.0 ]"), std::string::npos) << toml;
  const auto f = std::filesystem::temp_directory_path() /
                 ("muchator_opts_list_" + std::to_string(::getpid()) + ".toml");
  WriteFileAtomic(f.string(), "value = [1, 0.5, 0.25, 0]\n");
  std::vector<double> w;
  Options o2;
  o2.Add("value", &w, "");
  o2.ApplyToml(f.string());
  EXPECT_EQ(w, (std::vector<double>{1, 0.5, 0.25, 0}));
  WriteFileAtomic(f.string(), "value = [\"a\"]\n");
  EXPECT_THROW(o2.ApplyToml(f.string()), Error);
  std::filesystem::remove(f);
}

// A NAME=VALUE list: each item needs its '=', a name and a value; the TOML form is an array of
// "NAME=VALUE" strings.
TEST(OptionsListTest, NamedValuesParseAndRefuseItemsWithoutAName) {
  auto parse = [](Options::NamedValues* v, std::vector<std::string> args) {
    Options opts;
    opts.Add("checkpoints", v, "systems");
    return ParseArgs(opts, std::move(args));
  };
  Options::NamedValues v;
  const std::string toml = parse(&v, {"--checkpoints", "sft=runs/a/final,grpo=runs/b=c/final"});
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], (std::pair<std::string, std::string>{"sft", "runs/a/final"}));
  EXPECT_EQ(v[1], (std::pair<std::string, std::string>{"grpo", "runs/b=c/final"}));
  EXPECT_NE(toml.find("checkpoints = [ 'sft=runs/a/final', 'grpo=runs/b=c/final' ]"),
            std::string::npos)
      << toml;
  for (const char* bad : {"runs/a/final", "=runs/a", "sft="}) {
    try {
      parse(&v, {"--checkpoints", bad});
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--checkpoints"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("is not NAME=VALUE"), std::string::npos) << e.what();
    }
  }
}

// A program-wide Flag brings its name, help and range; a command's help replaces the help only,
// and a command may narrow the range further.
inline constexpr Flag kTestHistoryFlag{"history", "events in the prompt", 0, 1000};
const std::vector<std::string>& TestCodecs() {
  static const std::vector<std::string> names = {"atomic", "title"};
  return names;
}
inline constexpr Flag kTestCodecFlag{.name = "codec", .help = "item codec", .choices = TestCodecs};

TEST(OptionsFlagTest, FlagCarriesItsRangeAndChoices) {
  int64_t history = 20;
  std::string codec = "atomic";
  Options opts;
  opts.Add(kTestHistoryFlag, &history, "recent events of --user").Range(0, 50);
  opts.Add(kTestCodecFlag, &codec);
  opts.CheckValues();
  history = 2000;  // outside the flag's own range
  EXPECT_THROW(opts.CheckValues(), Error);
  history = 60;  // inside the flag's range, outside the command's narrower one
  EXPECT_THROW(opts.CheckValues(), Error);
  history = 50;
  codec = "semantic";  // not one of the registry's names
  try {
    opts.CheckValues();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--codec must be one of atomic, title"), std::string::npos)
        << e.what();
  }
  CLI::App app{"test"};
  opts.Bind(app);
  EXPECT_NE(app.help().find("recent events of --user"), std::string::npos);
  EXPECT_NE(app.help().find("item codec {atomic,title}"), std::string::npos);
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
