// Packs the documents of one or more corpus stages into fixed-length training rows: documents
// (in a seeded shuffled order per epoch) are concatenated into one stream and cut into rows of
// seq_len + 1 tokens. Each token keeps its document id and its position within the document, so
// attention stays inside documents and rotary positions restart per document. About 2% of the
// documents (chosen by a hash of their index; at least one per stage) are held out for
// evaluation and never trained on.
// Deterministic: the same seed gives the same batches; Skip(n) fast-forwards without reading
// tokens.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "corpus/shard.h"

namespace muchator {

struct Batch {
  torch::Tensor ids, targets, mask, positions,
      doc_ids;  // each (B, T); mask: float, 1 = count in loss
  int64_t loss_tokens = 0;
};

class Packer {
 public:
  // `stages`: names under `corpus_dir` (e.g. "stage1_objective"). held_out selects the held-out
  // documents instead of the training ones.
  Packer(const std::string& corpus_dir, const std::vector<std::string>& stages, int64_t seq_len,
         uint64_t seed, bool held_out = false);
  Batch Next(int64_t batch_size);
  // Advances as if Next(batch_size) had been called `batches` times.
  void Skip(int64_t batches, int64_t batch_size);
  int64_t num_docs() const { return static_cast<int64_t>(docs_.size()); }
  int64_t num_tokens() const { return total_tokens_; }
  int64_t epoch() const { return epoch_; }
  // Never cut a document that fits in one row (seq_len + 1 tokens): pad the row instead and start
  // it on the next one. SFT uses it, so an answer is never trained without its prompt.
  void set_whole_documents(bool on) { whole_documents_ = on; }

 private:
  void NextDoc();
  std::vector<std::unique_ptr<ShardReader>> readers_;
  std::vector<std::pair<int, int64_t>> docs_;  // (reader, doc)
  std::vector<int64_t> order_;
  int64_t seq_len_, total_tokens_ = 0;
  uint64_t seed_;
  int64_t epoch_ = 0, cursor_ = 0, offset_ = 0, doc_serial_ = 0;
  bool whole_documents_ = false;
};

}  // namespace muchator
