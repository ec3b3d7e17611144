// The knowledge benchmarks of the paper's Table 5, as multiple-choice questions scored by option
// log-likelihood (no generation): which option does the model find most likely after the prompt?
//   artist   music knowledge: who performs a song ("Song: <item>\nTitle: T\nArtist:" -> " Name")
//   genre    music knowledge: a song's genre ("<item> is \"T\", a" -> " genre")
//   q2i      query-to-item relevance: which song fits a held-out request (the chat prompt, then
//            "1. " -> the item's tokens); the right option is oracle-relevant, the others not
//   general  general knowledge: the world's fictional encyclopedia (oracle/general_mcq.jsonl)
//   paraphrase  everyday language: which concept an everyday form means ("\"lull me into
//            dreamland\" is another way of saying" -> " sleep"), rows of kind "paraphrase" in the
//            same file; measures the base stage's language knowledge and its forgetting
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

// U2I perplexity (the paper's Table 5 and 6): exp of the mean negative log-likelihood of the
// item tokens of every listener's held-out last events (the corpus stage `stage3_heldout`, written
// by BuildCorpora), each predicted after the listener's header and the events before it; the
// feedback tokens of those events are not counted. Each document keeps its last `context` tokens
// (the pre-training rows' length, 256, is what the model saw), or more when the scored tail needs
// them: every scored token is in the window with at least one token before it (up to the model's
// positions), so the rows of an ablation table score the same tokens. At most `max_docs`
// documents (0 = all), in corpus order.
struct U2iPerplexity {
  // Per item token (nll: the mean). Not per item: without state and feedback tokens the items of
  // a timeline are adjacent and their boundaries are not in the corpus; every row of a table
  // scores the same item tokens, so per-token values compare.
  double perplexity = 0, nll = 0;
  int64_t docs = 0, tokens = 0;  // documents and item tokens scored
  nlohmann::json ToJson() const;
};
U2iPerplexity MeasureU2iPerplexity(Qwen3ForCausalLM& model, const Tokenizer& tok,
                                   const std::string& corpus_dir, int64_t max_docs = 0,
                                   int64_t context = 256);

}  // namespace muchator
