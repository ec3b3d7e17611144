#include "pipeline/main_job_options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/file.h"

namespace muchator {
namespace {

// Each step's key holds its options' current values, read from the declarations.
TEST(MainJobOptionsTest, StepKeysComeFromTheDeclarations) {
  MainJobOptions m;
  Options opts;
  m.Declare(opts);
  CheckEveryOptionIsKeyed(opts);  // every option of the main job is in a key, or in none by design
  EXPECT_EQ(StepSettings(opts, "tokenizer"), (std::vector<std::string>{"vocab-size = 8000"}));
  m.codec = "semantic";
  m.seed = 7;
  EXPECT_EQ(StepSettings(opts, "corpus"),
            (std::vector<std::string>{"codec = \"semantic\"", "seed = 7"}));
  const auto grpo = StepSettings(opts, "grpo");
  EXPECT_NE(std::find(grpo.begin(), grpo.end(), "grpo-constrained = true"), grpo.end());
  // An option no step's key holds is refused: it would leave a stale step in place.
  int64_t forgotten = 3;
  opts.Add("forgotten", &forgotten, "a new option nobody added to a key");
  EXPECT_THROW(CheckEveryOptionIsKeyed(opts), std::logic_error);
}

// ablate reads a run's configuration into the same declarations: the run's values where the file
// has them, the main job's defaults elsewhere, and a clear error for a key the main job lacks.
TEST(MainJobOptionsTest, OfRunReadsTheRunsConfiguration) {
  const std::string run =
      (std::filesystem::temp_directory_path() / ("muchator_mainjob_" + std::to_string(::getpid())))
          .string();
  MakeDirs(run);
  const MainJobOptions defaults;
  EXPECT_EQ(MainJobOptions::OfRun(run).sft_steps, defaults.sft_steps);  // no file: the defaults
  WriteFileAtomic(run + "/pipeline.config.toml",
                  "seed = 3\nsft-steps = 50\nbf16 = false\nmodel-size = \"tiny\"\n");
  const MainJobOptions m = MainJobOptions::OfRun(run);
  EXPECT_EQ(m.seed, 3);
  EXPECT_EQ(m.sft_steps, 50);
  EXPECT_FALSE(m.bf16);
  EXPECT_EQ(m.model_size, "tiny");
  EXPECT_EQ(m.grpo_steps, defaults.grpo_steps);
  WriteFileAtomic(run + "/pipeline.config.toml", "seed = 3\nworld-size = \"demo\"\n");
  try {
    MainJobOptions::OfRun(run);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.where().find("pipeline.config.toml:2"), std::string::npos) << e.where();
  }
  std::filesystem::remove_all(run);
}

}  // namespace
}  // namespace muchator
