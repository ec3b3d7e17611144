// The relevance judge (the paper's fine-tuned LLM judge): our Qwen3-architecture transformer,
// fine-tuned to answer "yes" or "no" to
//   <|im_start|>user\n<|query|>{query}\nsong:
//   {summary}\nrelevant?<|im_end|>\n<|im_start|>assistant\n
// P(relevant) = softmax over the logits of the "yes" and "no" tokens at the answer position;
// the gate R_rel = P(relevant) >= threshold. The query comes first so that all songs judged
// for one query share its KV (the engine's prefix cache pre-fills it once).
//
// A judge directory holds judge.json (kind, threshold, report), judge_songs.jsonl (the song
// summaries it judges from) and lm/final/ (the fine-tuned checkpoint).
//
// The second kind, "pmi" (the generative judge, the pipeline's default): the instruction-tuned
// model itself, asked for one song for the request (no listener), scores the whole catalog at
// that song (FirstItemScores, infer/rerank.h); a song's evidence is its log-probability there
// less its mean over training requests (pointwise mutual information: how much more this request
// makes the model name the song than requests in general), and P(relevant) is the share of the
// catalog the song beats on it. Its directory holds judge.json (kind "pmi"), judge_prior.json
// (the mean, per catalog song) and lm/final/ (the checkpoint with its codec.json). Measured on
// held-out test requests of world seeds 1-3 (docs/reward.md): AUC 0.80-0.82 against the oracle,
// where the yes/no judge fine-tuned from the pre-trained model reaches ~0.63 and one fine-tuned
// from the SFT model for 600 steps 0.73.
//
// The third kind, "prf" (the pipeline's default since 2026-12-06): the generative judge's best
// songs for a request read in a dense retriever's song space (pseudo-relevance feedback). The
// request's vector is the normalised mean of the unit vectors of the K songs with the highest PMI;
// a song's P(relevant) = ((cos(request, song) + 1) / 2 + w * share) / (1 + w), share being its
// PMI share as above. The model reads the request (words no training request used included: its
// pre-training read them); the song space, trained on training requests' relevant songs, knows
// which songs fit the same requests - including the many the model never names first. Its
// directory is the "pmi" one plus judge_songs.safetensors ("vectors": catalog x dim, the prior's
// rows; "words": the song space's query tower, its rows named by judge_vocabulary.json). With a
// query weight (JudgeSongSpace::query_weight) the request's vector also reads its words through
// that tower. Test-request AUC on seed 1: 0.82 (pmi) -> 0.91 (docs/reward.md). With a played
// weight (JudgeSongSpace::played_weight; the default since the evening of 2026-12-06) it also
// holds judge_played.json.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/entities.h"
#include "infer/checkpoint.h"
#include "infer/engine.h"
#include "model/qwen3.h"
#include "retrieval/dense.h"
#include "reward/hybrid.h"
#include "reward/played_terms.h"
#include "text/tokenizer.h"

namespace muchator {

class Store;

inline constexpr const char* kJudgeSongSpaceFile = "judge_songs.safetensors";
inline constexpr const char* kJudgeVocabularyFile = "judge_vocabulary.json";
// The song space of the "prf" judge.
struct JudgeSongSpace {
  int dim = 0;                 // 0: no song space (the "pmi" judge)
  std::vector<float> vectors;  // catalog size x dim, the prior's rows; a song without one: zeros
  int feedback_songs = 40;     // K: the request's best songs by PMI averaged into its vector
  double pmi_weight = 0.1;     // w: the PMI share's weight beside the cosine
  // q: the weight of the song space's own reading of the request's words (its query tower)
  // beside the model's best songs: the request's vector is normalise(prf + q x words), prf and
  // words unit vectors. The model reads the request well but is the policy GRPO starts from, so
  // its mistakes are the policy's; the query tower's are its own. 0: the model's reading alone.
  double query_weight = 0;
  DenseQueryEncoder query_encoder;  // set when query_weight > 0
  // c: the request's vector less c x the mean request vector of the training requests (their
  // labelled songs standing in for the model's best), renormalised. Songs near that mean (the
  // ones that fit many requests a little: popular songs) then lose the lead the plain cosine gives
  // them over songs that fit this request in particular (hubness). 0: no centring.
  double center_weight = 0;
  std::vector<float> request_mean;  // dim values; set when center_weight > 0
  // g: the weight of the played-contrast term (reward/played_terms.h): P(relevant) becomes
  // sigmoid(logit(P) + g x term), the term read from the training requests' search logs. It sees
  // what the song space hardly does: a request's exclusions ("no english"). 0: no term.
  double played_weight = 0;
  PlayedTerms played;  // set when played_weight > 0
};

// A request's vector in the song space, from the sum `v` of its songs' vectors: normalised, then,
// with a query weight q > 0 and a tower that knows some of `query`'s words, normalise(v + q x the
// tower's reading). The judge reads every request this way, and the mean it centres on is made of
// training requests read the same way (judge_train.cc), so the two cannot drift apart.
void ReadRequest(std::vector<float>& v, const std::string& query, const DenseQueryEncoder& tower,
                 double query_weight);

// "River of Orbits by Ana Ruiz. genres: folk. tags: dreamy, the seaside. language: ja. 2020s.
// playlists: sunset walks; beach days. listeners: so dreamy, perfect for the beach | ..."
// Metadata alone is often incomplete (a song's tags name one situation; it may fit several), so
// the summary also carries what listeners said: titles of playlists holding the song and a few
// comments (the role of the paper's LLM-written song summaries).
std::string SongSummary(const Song& s, const std::string& artist_name,
                        const std::vector<std::string>& playlists = {},
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
  Judge(Qwen3ForCausalLM model, std::unique_ptr<Tokenizer> tok,
        std::vector<std::pair<std::string, std::string>> summaries, double threshold = 0.5,
        int max_batch = 64);
  ~Judge();
  // The generative judge over `ck`'s catalog (a checkpoint with its codec; a one-token item codec).
  // `prior`: the mean first-song log-probability of each catalog song over training requests.
  // With a song space (dim > 0): the "prf" judge.
  Judge(Checkpoint ck, std::vector<float> prior, double threshold, JudgeSongSpace space = {},
        int max_batch = 32);
  // Throws Error naming what is missing when DIR is not a judge directory.
  static std::unique_ptr<Judge> Load(const std::string& dir);
  bool generative() const { return pmi_ != nullptr; }
  // The prompt of the generative judge for a request (no listener, no history).
  static std::vector<int> PmiPrompt(const Checkpoint& ck, const std::string& query);

  // Row of a song id in the summaries (-1 when unknown).
  int SongRow(const std::string& id) const;
  // P(relevant) of pairs k = (queries[query_of[k]], summary rows[k]); an unknown row (-1) gets 0.
  std::vector<float> Probability(std::span<const std::string> queries, std::span<const int> rows,
                                 std::span<const int> query_of);
  double threshold() const { return threshold_; }
  const Tokenizer& tokenizer() const;
  const std::vector<std::pair<std::string, std::string>>& summaries() const { return summaries_; }

  // The prompt of a (query, summary) pair and the answer tokens (shared with training).
  static JudgeTokens Render(const Tokenizer& tok, const std::string& query,
                            const std::string& summary);
  static int YesToken(const Tokenizer& tok);
  static int NoToken(const Tokenizer& tok);

 private:
  const std::vector<int>& Suffix(int row);
  // The "prf" judge's unit vector of each request from its PMI over the catalog (empty rows
  // without a song space or without scores).
  std::vector<std::vector<float>> RequestVectors(std::span<const std::string> queries,
                                                 const std::vector<std::vector<float>>& pmi) const;
  std::unique_ptr<Tokenizer> tok_;
  std::vector<std::pair<std::string, std::string>> summaries_;
  std::unordered_map<std::string, int> rows_;
  std::vector<std::vector<int>> suffix_cache_;
  double threshold_;
  int yes_ = -1, no_ = -1;
  std::unique_ptr<Engine> engine_;
  struct Pmi;
  std::unique_ptr<Pmi> pmi_;
};

// The judge as a RelevanceFn over `catalog`'s items (ids mapped to the judge's summary rows once;
// songs it has no summary of get P = 0). Both must outlive the function.
RelevanceFn MakeRelevanceFn(Judge& judge, const Catalog& catalog);

}  // namespace muchator
