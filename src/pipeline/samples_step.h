// The main job's look at its model: a few answers to held-out test requests.
#pragma once

#include <string>

namespace muchator {

// A few answers of the checkpoint `ckpt_dir` to held-out test requests of the store (constrained,
// greedy), printed and written to `out` as JSON: a look at what the model does so far, not an
// evaluation. Does nothing for a checkpoint without a catalog grammar or a store without test
// requests.
void SampleAnswers(const std::string& store_path, const std::string& ckpt_dir,
                   const std::string& out);

}  // namespace muchator
