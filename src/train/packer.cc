#include "train/packer.h"

#include "core/error.h"
#include "core/rng.h"

namespace muchator {

Packer::Packer(const std::string& corpus_dir, const std::vector<std::string>& stages,
               int64_t seq_len, uint64_t seed, bool held_out)
    : seq_len_(seq_len), seed_(seed) {
  for (const auto& stage : stages) {
    readers_.push_back(std::make_unique<ShardReader>(corpus_dir, stage));
    const auto& r = *readers_.back();
    // Held out: documents whose hash is 0 mod 50, or (small stages) at least the one of least hash.
    int64_t min_doc = 0;
    uint64_t min_hash = UINT64_MAX;
    bool any = false;
    for (int64_t d = 0; d < r.num_docs(); ++d) {
      const uint64_t h = HashString(stage + ":" + std::to_string(d));
      any |= h % 50 == 0;
      if (h < min_hash) min_hash = h, min_doc = d;
    }
    for (int64_t d = 0; d < r.num_docs(); ++d) {
      const uint64_t h = HashString(stage + ":" + std::to_string(d));
      const bool is_held_out = h % 50 == 0 || (!any && d == min_doc && r.num_docs() > 1);
      if (is_held_out != held_out) continue;
      docs_.push_back({static_cast<int>(readers_.size() - 1), d});
      total_tokens_ += static_cast<int64_t>(r.Tokens(d).size());
    }
  }
  if (docs_.empty())
    throw Error(std::string("no ") + (held_out ? "held-out " : "training ") +
                    "documents in the given stages",
                corpus_dir, "build the corpus first (muchator corpus)");
  order_.resize(docs_.size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int64_t>(i);
  Rng r = Rng::Derive(seed_, "epoch", 0);
  r.Shuffle(order_);
}

void Packer::NextDoc() {
  offset_ = 0;
  ++doc_serial_;
  if (++cursor_ < static_cast<int64_t>(order_.size())) return;
  cursor_ = 0;
  ++epoch_;
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int64_t>(i);
  Rng r = Rng::Derive(seed_, "epoch", epoch_);
  r.Shuffle(order_);
}

Batch Packer::Next(int64_t batch_size) {
  const int64_t row = seq_len_ + 1;
  std::vector<int64_t> ids(batch_size * row), pos(batch_size * row), doc(batch_size * row);
  std::vector<float> mask(batch_size * row);
  for (int64_t i = 0; i < batch_size * row;) {
    if (whole_documents_ && offset_ == 0) {
      // A document that fits in a row but not in what is left of this one starts on the next
      // row; the rest of this row is padding (its own document id, no loss).
      const auto [r0, d0] = docs_[order_[cursor_]];
      const int64_t len = static_cast<int64_t>(readers_[r0]->Tokens(d0).size());
      const int64_t left = row - i % row;
      if (len <= row && len > left) {
        ++doc_serial_;
        for (int64_t k = 0; k < left; ++k, ++i)
          ids[i] = 0, mask[i] = 0, pos[i] = k, doc[i] = doc_serial_;
        continue;
      }
    }
    const auto [r, d] = docs_[order_[cursor_]];
    auto t = readers_[r]->Tokens(d);
    auto m = readers_[r]->Mask(d);
    const int64_t take =
        std::min<int64_t>(static_cast<int64_t>(t.size()) - offset_, batch_size * row - i);
    for (int64_t k = 0; k < take; ++k, ++i) {
      ids[i] = t[offset_ + k];
      mask[i] = m[offset_ + k];
      pos[i] = offset_ + k;
      doc[i] = doc_serial_;
    }
    offset_ += take;
    if (offset_ >= static_cast<int64_t>(t.size())) NextDoc();
  }
  auto all_ids = torch::from_blob(ids.data(), {batch_size, row}, torch::kInt64).clone();
  auto all_pos = torch::from_blob(pos.data(), {batch_size, row}, torch::kInt64).clone();
  auto all_doc = torch::from_blob(doc.data(), {batch_size, row}, torch::kInt64).clone();
  auto all_mask = torch::from_blob(mask.data(), {batch_size, row}, torch::kFloat32).clone();
  Batch b;
  b.ids = all_ids.slice(1, 0, seq_len_);
  b.positions = all_pos.slice(1, 0, seq_len_);
  b.doc_ids = all_doc.slice(1, 0, seq_len_);
  b.targets = all_ids.slice(1, 1, row);
  // A target counts when it is a loss token of the same document as its input position.
  b.mask = all_mask.slice(1, 1, row) * (all_doc.slice(1, 1, row) == b.doc_ids).to(torch::kFloat32);
  b.loss_tokens = static_cast<int64_t>(b.mask.sum().item<double>());
  return b;
}

namespace {

struct Segment {
  int64_t row, begin, end;
};

// The runs of equal doc_ids in each row that hold at least one loss token.
std::vector<Segment> LossSegments(const Batch& b) {
  const auto doc = b.doc_ids.contiguous();
  const auto mask = b.mask.contiguous();
  const int64_t rows = doc.size(0), T = doc.size(1);
  const int64_t* d = doc.data_ptr<int64_t>();
  const float* m = mask.data_ptr<float>();
  std::vector<Segment> out;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t s = 0; s < T;) {
      int64_t e = s;
      bool counted = false;
      while (e < T && d[r * T + e] == d[r * T + s]) counted |= m[r * T + e++] != 0.0f;
      if (counted) out.push_back({r, s, e});
      s = e;
    }
  }
  return out;
}

}  // namespace

std::optional<Batch> SplitDocuments(const Batch& b, double max_token_growth) {
  if (!b.doc_ids.defined()) return std::nullopt;
  const std::vector<Segment> segs = LossSegments(b);
  int64_t L = 1;
  for (const Segment& s : segs) L = std::max(L, s.end - s.begin);
  const auto n = static_cast<int64_t>(segs.size());
  const double rows = static_cast<double>(b.ids.size(0)), T = static_cast<double>(b.ids.size(1));
  if (n == 0 || static_cast<double>(n * L * L) >= rows * T * T ||
      static_cast<double>(n * L) > max_token_growth * rows * T)
    return std::nullopt;
  Batch out;
  out.ids = torch::zeros({n, L}, torch::kInt64);
  out.targets = torch::zeros({n, L}, torch::kInt64);
  out.positions = torch::zeros({n, L}, torch::kInt64);
  out.mask = torch::zeros({n, L}, torch::kFloat32);
  for (int64_t i = 0; i < n; ++i) {
    const Segment& s = segs[i];
    const int64_t len = s.end - s.begin;
    for (auto [to, from] : {std::pair{&out.ids, &b.ids}, std::pair{&out.targets, &b.targets},
                            std::pair{&out.positions, &b.positions}, std::pair{&out.mask, &b.mask}})
      (*to)[i].narrow(0, 0, len).copy_((*from)[s.row].narrow(0, s.begin, len));
  }
  out.loss_tokens = b.loss_tokens;
  return out;
}

void Packer::Skip(int64_t batches, int64_t batch_size) {
  if (whole_documents_) {
    // Where documents start depends on the padding: walk the batches themselves.
    for (int64_t b = 0; b < batches; ++b) Next(batch_size);
    return;
  }
  int64_t remaining = batches * batch_size * (seq_len_ + 1);
  while (remaining > 0) {
    const auto [r, d] = docs_[order_[cursor_]];
    const int64_t len = static_cast<int64_t>(readers_[r]->Tokens(d).size());
    const int64_t take = std::min(len - offset_, remaining);
    offset_ += take;
    remaining -= take;
    if (offset_ >= len) NextDoc();
  }
}

}  // namespace muchator
