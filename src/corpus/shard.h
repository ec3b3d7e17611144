// Packed token shards: a stage's documents as one stream of int32 token ids with a parallel
// uint8 loss mask, split into shard files, plus document start offsets and an index:
//   DIR/<stage>.<k>.tokens   int32 little-endian token ids
//   DIR/<stage>.<k>.mask     uint8 loss mask (1 = predict this token)
//   DIR/<stage>.<k>.docs     int64 start offset of every document in the shard
//   DIR/<stage>.index.json   {"stage", "shards": [{"name", "tokens", "docs"}], totals}
// Writers write each file atomically; readers memory-map them.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "core/file.h"
#include "text/chat.h"

namespace muchator {

struct StageSummary {
  std::string stage;
  int64_t docs = 0, tokens = 0, loss_tokens = 0;
  nlohmann::json ToJson() const;
};

class ShardWriter {
 public:
  // `max_shard_tokens`: a shard is closed once it holds at least this many tokens.
  ShardWriter(std::string dir, std::string stage, int64_t max_shard_tokens = 16 << 20);
  ~ShardWriter();
  void Add(const TokenSeq& doc);
  // Closes the last shard and writes the index. Must be called once.
  StageSummary Finish();

 private:
  void OpenShard();
  void CloseShard();
  std::string dir_, stage_;
  int64_t max_shard_tokens_;
  std::unique_ptr<AtomicWriter> tokens_, mask_, docs_;
  int64_t shard_tokens_ = 0, shard_docs_ = 0;
  nlohmann::json shards_ = nlohmann::json::array();
  StageSummary summary_;
  bool finished_ = false;
};

// Reads a stage written by ShardWriter. Documents are numbered across shards.
class ShardReader {
 public:
  ShardReader(const std::string& dir, const std::string& stage);  // throws Error if missing
  int64_t num_docs() const { return static_cast<int64_t>(doc_shard_.size()); }
  int64_t num_tokens() const { return total_tokens_; }
  // Token ids and loss mask of document i (views into the mapped files).
  std::span<const int32_t> Tokens(int64_t doc) const;
  std::span<const uint8_t> Mask(int64_t doc) const;

 private:
  struct Shard {
    std::unique_ptr<MappedFile> tokens, mask, docs;
    int64_t n_tokens, n_docs;
  };
  std::pair<int64_t, int64_t> Range(int64_t doc) const;  // [begin, end) within its shard
  std::vector<Shard> shards_;
  std::vector<std::pair<int, int64_t>> doc_shard_;  // doc -> (shard, index within shard)
  int64_t total_tokens_ = 0;
};

}  // namespace muchator
