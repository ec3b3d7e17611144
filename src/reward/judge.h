// The relevance judge (the paper's fine-tuned LLM judge): our Qwen3-architecture transformer,
// fine-tuned to answer "yes" or "no" to
//   <|im_start|>user\n<|query|>{query}\nsong: {summary}\nrelevant?<|im_end|>\n<|im_start|>assistant\n
// P(relevant) = softmax over the logits of the "yes" and "no" tokens at the answer position;
// the gate R_rel = P(relevant) >= threshold. The query comes first so that all songs judged
// for one query share its KV (the engine's prefix cache pre-fills it once).
//
// A judge directory holds judge.json (tokens, threshold, report), judge_songs.jsonl (the song
// summaries it judges from) and lm/final/ (the fine-tuned checkpoint).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/entities.h"
#include "infer/engine.h"
#include "model/qwen3.h"
#include "reward/hybrid.h"
#include "text/tokenizer.h"

namespace muchator {

class Store;

// "River of Orbits by Ana Ruiz. genres: folk. tags: dreamy, the seaside. language: ja. 2020s.
// playlists: sunset walks; beach days. listeners: so dreamy, perfect for the beach | ..."
// Metadata alone is often incomplete (a song's tags name one situation; it may fit several), so
// the summary also carries what listeners said: titles of playlists holding the song and a few
// comments (the role of the paper's LLM-written song summaries).
std::string SongSummary(const Song& s, const std::string& artist_name, const std::vector<std::string>& playlists = {},
                        const std::vector<std::string>& comments = {});
inline constexpr int kSummaryPlaylists = 2, kSummaryComments = 2;
// The summaries of every song of the store, by id, in store order.
std::vector<std::pair<std::string, std::string>> SongSummaries(Store& store);

struct JudgeTokens {
  std::vector<int> prefix;  // prompt up to and including the query line
  std::vector<int> suffix;  // the song line, the question and the assistant header
};

class Judge {
 public:
  // `summaries`: (song id, summary text). The model is used through an inference engine.
  Judge(Qwen3ForCausalLM model, std::unique_ptr<Tokenizer> tok, std::vector<std::pair<std::string, std::string>> summaries,
        double threshold = 0.5, int max_batch = 64);
  ~Judge();
  // Throws Error naming what is missing when DIR is not a judge directory.
  static std::unique_ptr<Judge> Load(const std::string& dir);

  // Row of a song id in the summaries (-1 when unknown).
  int SongRow(const std::string& id) const;
  // P(relevant) of pairs k = (queries[query_of[k]], summary rows[k]); an unknown row (-1) gets 0.
  std::vector<float> Probability(std::span<const std::string> queries, std::span<const int> rows,
                                 std::span<const int> query_of);
  double threshold() const { return threshold_; }
  const Tokenizer& tokenizer() const { return *tok_; }
  const std::vector<std::pair<std::string, std::string>>& summaries() const { return summaries_; }

  // The prompt of a (query, summary) pair and the answer tokens (shared with training).
  static JudgeTokens Render(const Tokenizer& tok, const std::string& query, const std::string& summary);
  static int YesToken(const Tokenizer& tok);
  static int NoToken(const Tokenizer& tok);

 private:
  const std::vector<int>& Suffix(int row);
  std::unique_ptr<Tokenizer> tok_;
  std::vector<std::pair<std::string, std::string>> summaries_;
  std::unordered_map<std::string, int> rows_;
  std::vector<std::vector<int>> suffix_cache_;
  double threshold_;
  int yes_, no_;
  std::unique_ptr<Engine> engine_;
};

// The judge as a RelevanceFn over `catalog`'s items (ids mapped to the judge's summary rows once;
// songs it has no summary of get P = 0). Both must outlive the function.
RelevanceFn MakeRelevanceFn(Judge& judge, const Catalog& catalog);

}  // namespace muchator
