// The personalisation ranking model (the paper's "online multi-objective ranking model"):
// P(like), P(finish), P(skip), P(dislike) for (listener profile, recent behaviour, situational
// state, candidate song), and the personalisation score that combines them on a 0-10 scale.
//
// Architecture (DIN-style target attention, docs/reward.md):
//   song  e(s) = Pid id + artist + mean(genres) + mean(tags) + language + decade + popularity
//   bucket event h_j  = e(s_j) + feedback_j                          history (L, d) attention  a =
//   sum_j softmax_j(<Wq e(c), Wk h_j> / sqrt d) Wv h_j   over the listener's history user  u    =
//   id + mean(profile "key=value"),  state x = time + day + context + device + hour match m    = |P
//   [u, x] - Q e(c)|                          k learned distances MLP([u, x, e(c), a, mean_j h_j,
//   u*e(c), x*e(c), a*e(c), m]) -> 4 logits -> softmax.
#pragma once

#include <torch/torch.h>

#include <array>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "reward/ranker_data.h"

namespace muchator {

struct RankerConfig {
  int64_t dim = 32;      // embedding width
  int64_t hidden = 128;  // first MLP layer (the second is hidden / 2)
  int64_t history = 50;  // most recent events the model looks at
  // Width k of the match features |P [u, x] - Q e(c)|: k learned axes on which the listener's
  // momentary want and the song are compared by distance (how far a song's energy is from what
  // the listener wants now is a distance, not a product). 0 = none, as in models saved before
  // 2026-12-05. Held-out like-vs-skip AUC +0.004 on world seed 1 (docs/reward.md).
  int64_t match = 8;
  // Width of a song's own id embedding, projected to `dim` (0 = `dim`, no projection, as in models
  // saved before 2026-12-05). A song has ~36 training events; a full-width id embedding learns
  // them by heart, two numbers per song (how good it is, how energetic beyond its genre) do not.
  int64_t song_id_dim = 2;
  // Personalisation score = 10 * sum_k value[k] * P(k), k = like, finish, skip, dislike.
  std::array<double, 4> value = {1.0, 0.6, 0.15, 0.0};
  nlohmann::json ToJson() const;
  static RankerConfig FromJson(const nlohmann::json& j);
};

// A batch of contexts (Bc rows) and candidates (B rows), candidate b scored in context row[b].
struct RankerBatch {
  torch::Tensor user;       // (Bc) int64
  torch::Tensor profile;    // (Bc, kRankerProfile) int64
  torch::Tensor state;      // (Bc, 5) int64: time, day, context, device, hour
  torch::Tensor hist_song;  // (Bc, L) int64, 0 = padding
  torch::Tensor hist_fb;    // (Bc, L) int64, Feedback + 1, 0 = padding
  torch::Tensor cand;       // (B) int64 song rows
  torch::Tensor row;        // (B) int64 in [0, Bc); undefined = identity (Bc == B)
};

struct RankerNetImpl : torch::nn::Module {
  RankerNetImpl(const RankerConfig& c, const RankerVocab& v);
  // logits (B, 4) for like, finish, skip, dislike.
  torch::Tensor forward(const RankerBatch& b, const SongTable& songs);

  torch::Tensor Song(const SongTable& t, const torch::Tensor& rows);  // (..., d)
  RankerConfig config;
  // Inference only: e(s) of every song row, (S+1, d), filled by Ranker::Predict; the forward
  // uses it instead of recomputing song embeddings when the module is in eval mode.
  torch::Tensor song_cache;
  torch::nn::Embedding song{nullptr}, artist{nullptr}, genre{nullptr}, tag{nullptr},
      language{nullptr}, decade{nullptr}, pop{nullptr}, user{nullptr}, profile{nullptr},
      time{nullptr}, day{nullptr}, context{nullptr}, device{nullptr}, hour{nullptr},
      feedback{nullptr};
  torch::nn::Linear wq{nullptr}, wk{nullptr}, wv{nullptr}, fc1{nullptr}, fc2{nullptr}, out{nullptr},
      want{nullptr}, have{nullptr}, song_id_proj{nullptr};
};
TORCH_MODULE(RankerNet);

// A listener's context for scoring: profile, state and recent behaviour, by song id.
struct RankerContext {
  std::string user;  // "" or unknown = cold start (the id embedding's unknown row)
  std::map<std::string, std::string> profile;
  State state;
  std::vector<std::pair<std::string, Feedback>> history;  // oldest first
};

struct FeedbackPrediction {
  std::array<float, 4> p;  // like, finish, skip, dislike
  float score;             // 0-10
};

class Ranker {
 public:
  Ranker(RankerConfig c, RankerVocab v, SongTable songs);
  // DIR/ranker.json (config, vocabulary, report) + DIR/ranker.safetensors (weights, song table).
  static Ranker Load(const std::string& dir);
  void Save(const std::string& dir, const nlohmann::json& report = {}) const;

  // Song row for an id (0 = unknown: scored from the unknown row, i.e. as a cold item).
  int SongRow(const std::string& id) const { return vocab_.songs.Find(id); }
  const RankerVocab& vocab() const { return vocab_; }
  const RankerConfig& config() const { return config_; }
  RankerNet& net() { return net_; }
  const SongTable& songs() const { return songs_; }

  // Predictions for candidates[i] (song rows) in contexts[group[i]]; one batched forward
  // per `max_batch` candidates. Thread-compatible (one thread at a time).
  std::vector<FeedbackPrediction> Predict(std::span<const RankerContext> contexts,
                                          std::span<const int> candidates,
                                          std::span<const int> group, int max_batch = 4096);
  // All candidates in one context.
  std::vector<FeedbackPrediction> Predict(const RankerContext& context,
                                          std::span<const int> candidates);
  float Score(const std::array<float, 4>& p) const;

  // The context tensors of one listener (history as song rows, most recent `config.history`).
  void EncodeContext(const RankerContext& c, int64_t row, RankerBatch& b) const;
  RankerBatch AllocBatch(int64_t contexts, int64_t candidates) const;

 private:
  RankerConfig config_;
  RankerVocab vocab_;
  SongTable songs_;
  RankerNet net_{nullptr};
};

}  // namespace muchator
