#include "rl/grpo_flags.h"

#include <gtest/gtest.h>

#include <string>

#include "core/error.h"

namespace muchator {
namespace {

// The error GrpoOptions::Validate throws for `o`, or "" when it passes.
std::string ValidateError(const GrpoOptions& o) {
  try {
    o.Validate();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Validate checks options built in code by the flags' own declarations: a bad value names its
// flag, as the command line would.
TEST(GrpoFlagsTest, ValidateUsesTheFlagDeclarations) {
  GrpoOptions o;
  EXPECT_EQ(ValidateError(o), "");
  GrpoOptions bad = o;
  bad.group_size = 1;
  EXPECT_NE(ValidateError(bad).find("--group-size"), std::string::npos) << ValidateError(bad);
  bad = o;
  bad.temperature = 0;  // greedy rollouts: a group without spread
  EXPECT_NE(ValidateError(bad).find("--temperature"), std::string::npos);
  bad = o;
  bad.rewards = "rel_pers=1,bogus=2";
  EXPECT_NE(ValidateError(bad).find("--rewards"), std::string::npos);
  EXPECT_NE(ValidateError(bad).find("bogus"), std::string::npos);
  bad = o;
  bad.rewards = "format";
  EXPECT_NE(ValidateError(bad).find("--rewards"), std::string::npos);
  bad = o;
  bad.replay_coef = 0.5;  // replay without a corpus
  EXPECT_NE(ValidateError(bad).find("--replay-coef needs --replay-corpus"), std::string::npos);
  bad.replay_corpus = "run/corpus";
  EXPECT_EQ(ValidateError(bad), "");
  bad = o;
  bad.train.lr = -1;  // a TrainOptions field, declared by train_flags
  EXPECT_NE(ValidateError(bad).find("--lr"), std::string::npos);
}

// Every flag of the command binds a field: setting one through the TOML path changes `g`.
TEST(GrpoFlagsTest, FlagsBindTheOptions) {
  GrpoOptions g;
  Options opts;
  DeclareGrpoFlags(opts, g);
  const std::string toml = opts.ToToml();
  for (const char* name : {"rewards", "steps", "group-size", "temperature", "top-p", "history",
                           "list-size", "constrained", "lr", "clip-grad", "replay-corpus"})
    EXPECT_NE(toml.find(std::string("\n") + name + " = "), std::string::npos) << name;
}

}  // namespace
}  // namespace muchator
