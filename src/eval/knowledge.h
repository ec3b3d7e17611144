// The knowledge benchmarks of the paper's Table 5, as multiple-choice questions scored by option
// log-likelihood (no generation): which option does the model find most likely after the prompt?
//   artist   music knowledge: who performs a song ("Song: <item>\nTitle: T\nArtist:" -> " Name")
//   genre    music knowledge: a song's genre ("<item> is \"T\", a" -> " genre")
//   q2i      query-to-item relevance: which song fits a held-out request (the chat prompt, then
//            "1. " -> the item's tokens); the right option is oracle-relevant, the others not
//   general  general knowledge: the world's fictional encyclopedia (oracle/general_mcq.jsonl)
// Four options each, drawn with a seeded Rng. Accuracy by the summed log-probability of the
// option's tokens (`acc`) and by its mean per token (`acc_norm`, which does not favour short
// options); chance is 0.25. docs/metrics.md.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/qwen3.h"
#include "text/item_codec.h"
#include "text/tokenizer.h"

namespace muchator {

class Store;
namespace world {
class Oracle;
}

struct McQuestion {
  std::string id, kind;
  std::vector<int> prompt;                // token ids
  std::vector<std::vector<int>> options;  // token ids of each option (not empty)
  int answer = 0;
};

struct KnowledgeOptions {
  int per_kind = 200;          // questions of each kind (fewer when the data has fewer)
  std::string split = "test";  // q2i: queries of this split (held-out surface forms)
  uint64_t seed = 1;
};

// The questions; q2i needs `oracle` and general needs `general_mcq_path` (each skipped without).
std::vector<McQuestion> BuildKnowledgeQuestions(Store& store, const Catalog& catalog,
                                                const Tokenizer& tok, const ItemCodec& codec,
                                                const world::Oracle* oracle,
                                                const std::string& general_mcq_path,
                                                const KnowledgeOptions& o);

struct OptionScore {
  double sum = 0, mean = 0;  // log P(option | prompt): summed over its tokens, and per token
};
// Every option of every question, in `rows` sequences per forward (right-padded).
std::vector<std::vector<OptionScore>> ScoreOptions(Qwen3ForCausalLM& model,
                                                   const std::vector<McQuestion>& questions,
                                                   int rows = 32);
// {"artist": {"n", "acc", "acc_norm"}, ...} for the kinds present.
nlohmann::json KnowledgeAccuracy(const std::vector<McQuestion>& questions,
                                 const std::vector<std::vector<OptionScore>>& scores);

}  // namespace muchator
