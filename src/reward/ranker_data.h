// The ranking model's inputs: feature dictionaries, the song feature table, and listeners'
// time-ordered behaviour, read from the store once (store -> RankerData) so that training and
// evaluation batches are built from flat arrays.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/entities.h"

namespace muchator {

class Store;

// Strings -> indexes 1..n; 0 is "unknown / padding" everywhere.
class Dict {
 public:
  int Add(const std::string& s);
  int Find(const std::string& s) const;  // 0 when absent
  const std::string& Value(int i) const { return values_.at(static_cast<size_t>(i - 1)); }
  int64_t rows() const {
    return static_cast<int64_t>(values_.size()) + 1;
  }  // embedding rows incl. 0
  nlohmann::json ToJson() const { return values_; }
  static Dict FromJson(const nlohmann::json& j);

 private:
  std::vector<std::string> values_;
  std::unordered_map<std::string, int> index_;
};

inline constexpr int kRankerGenres = 3;   // genres per song kept as features
inline constexpr int kRankerTags = 6;     // tags per song kept
inline constexpr int kRankerProfile = 8;  // profile fields per user kept
inline constexpr int kPopBuckets = 10;    // popularity deciles (0 = unknown)

struct RankerVocab {
  Dict songs, artists, genres, tags, languages, users, profile, times, days, contexts, devices;
  std::vector<double> pop_edges;  // kPopBuckets - 1 decile boundaries of log1p(popularity)
  nlohmann::json ToJson() const;
  static RankerVocab FromJson(const nlohmann::json& j);
};

// Per song (row = Dict index in vocab.songs; row 0 = unknown song, all zeros).
struct SongTable {
  torch::Tensor id, artist, language, decade, pop;  // (S+1) int64
  torch::Tensor genres;                             // (S+1, kRankerGenres) int64, 0 = none
  torch::Tensor tags;                               // (S+1, kRankerTags) int64, 0 = none
};

// A state as dictionary indexes (0 = unknown); hour is 1..24 (0 = unknown).
struct StateIds {
  int16_t time = 0, day = 0, context = 0, device = 0, hour = 0;
};
StateIds EncodeState(const RankerVocab& v, const State& s);
State DecodeState(const RankerVocab& v, const StateIds& s);

// One listener's timestamped events in time order (the model's sequences and its examples).
struct UserSequence {
  std::string user_id;
  int user = 0;                               // vocab.users index
  std::array<int, kRankerProfile> profile{};  // vocab.profile indexes ("key=value"), 0 = none
  std::vector<int> song;                      // vocab.songs index
  std::vector<uint8_t> feedback;              // Feedback + 1 (0 = padding)
  std::vector<StateIds> state;
  std::vector<int64_t> ts;
};

struct RankerData {
  RankerVocab vocab;
  SongTable songs;
  std::vector<UserSequence> users;
  int64_t events = 0;             // timestamped events kept
  int64_t unordered_skipped = 0;  // events without a timestamp (no order, so no sequence)
  int64_t cutoff_ts = 0;          // events at or after it are held out
};

// Reads every song, user and event of the store. The held-out cutoff is the timestamp below
// which (1 - holdout_fraction) of the timestamped events fall. Throws Error when the store has
// no timestamped events (the model is a sequence model; see docs/reward.md).
RankerData LoadRankerData(Store& store, double holdout_fraction);

// Builds the song feature table for `songs` (vocab.songs order) and fills the song-side
// dictionaries; used by LoadRankerData, exposed for tests.
SongTable BuildSongTable(RankerVocab& v, const std::vector<Song>& songs);

}  // namespace muchator
