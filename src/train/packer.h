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
#include <optional>
#include <string>
#include <vector>

#include "corpus/shard.h"

namespace muchator {

struct Batch {
  torch::Tensor ids, targets, mask, positions,
      doc_ids;  // each (B, T); mask: float, 1 = count in loss
  int64_t loss_tokens = 0;
};

// The same batch with one document per row, where that computes less; nullopt where it does not.
// Every run of equal doc_ids in a row becomes its own row, padded to the longest (ids 0, no loss),
// and runs without a loss token are left out (no other token attends to them). The loss over it is
// the packed batch's loss, up to float rounding: the same tokens, targets and mask, each attending
// to the same tokens. It is cheaper where rows hold several documents: the packed batch computes
// every (B, H, T, T) attention score and masks the other documents' away, the split one only
// (N, H, L, L) with L the longest document (SFT on the demo world: two ~210-token documents per
// 512-token row, attention on 2 x 258^2 instead of 512^2 scores). It is made when it has fewer
// scores and at most `max_token_growth` times the packed batch's token positions; never for a
// batch without a loss token or without doc_ids. Its doc_ids are undefined: one document per row
// needs only the causal mask.
std::optional<Batch> SplitDocuments(const Batch& b, double max_token_growth = 1.25);

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
