// The corpus step shared by `corpus`, `pipeline` and `ablate`.
#pragma once

#include <string>

#include "corpus/builders.h"

namespace muchator {

// Builds the item codec, saves the grown tokenizer and the codec beside the shards, builds every
// stage, writes corpus_summary.json and returns the summary.
CorpusSummary RunCorpus(const std::string& store_path, const std::string& tokenizer_path,
                        const std::string& codec_name, const std::string& out,
                        const CorpusOptions& o);

}  // namespace muchator
