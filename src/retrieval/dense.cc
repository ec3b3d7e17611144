#include "retrieval/dense.h"

#include <faiss/IndexFlat.h>
#include <torch/torch.h>
#include <xapian.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <mutex>
#include <numeric>

#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"

namespace muchator {

std::vector<std::string> DenseFeatures(const std::string& text) {
  static const Xapian::Stem stem("english");  // Stem's operator() is const and keeps no state
  std::vector<std::string> words;
  std::string w;
  auto flush = [&] {
    if (!w.empty()) words.push_back(stem(w)), w.clear();
  };
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80)  // bytes of a UTF-8 sequence stay inside the word
      w += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    else
      flush();
  }
  flush();
  std::vector<std::string> out = words;
  for (size_t i = 1; i < words.size(); ++i) out.push_back(words[i - 1] + " " + words[i]);
  return out;
}

DenseIndex::DenseIndex() = default;
DenseIndex::~DenseIndex() = default;

namespace {

// Features of each text as vocabulary rows (unknown features dropped), flattened with offsets for
// torch's embedding_bag.
struct Bags {
  std::vector<int64_t> rows, offsets;
};

}  // namespace

std::shared_ptr<const DenseIndex> DenseIndex::TrainShared(
    const std::vector<std::pair<std::string, std::string>>& docs,
    const std::vector<DensePair>& pairs, const DenseOptions& o, bool* reused) {
  // The last inputs kept whole and compared (a few MB on the demo world, and a comparison costs
  // nothing beside training), so a reuse never rests on a hash.
  struct Last {
    std::vector<std::pair<std::string, std::string>> docs;
    std::vector<DensePair> pairs;
    DenseOptions o;
    int threads = 0;
    std::shared_ptr<const DenseIndex> index;
  };
  static std::mutex mu;
  static Last last;
  const std::lock_guard<std::mutex> lock(mu);
  const int threads = torch::get_num_threads();
  const auto same_pairs = [&] {
    return std::equal(pairs.begin(), pairs.end(), last.pairs.begin(), last.pairs.end(),
                      [](const DensePair& a, const DensePair& b) {
                        return a.query == b.query && a.doc == b.doc;
                      });
  };
  const bool same = last.index && threads == last.threads && docs == last.docs && same_pairs() &&
                    o.dim == last.o.dim && o.epochs == last.o.epochs && o.batch == last.o.batch &&
                    o.lr == last.o.lr && o.temperature == last.o.temperature &&
                    o.seed == last.o.seed;
  if (reused) *reused = same;
  if (!same) last = {docs, pairs, o, threads, Train(docs, pairs, o)};
  return last.index;
}

std::unique_ptr<DenseIndex> DenseIndex::Train(
    const std::vector<std::pair<std::string, std::string>>& docs,
    const std::vector<DensePair>& pairs, const DenseOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<DenseIndex> ix(new DenseIndex());
  // The vocabulary: every feature of a document or a training query.
  std::unordered_map<std::string, int> vocab;
  std::vector<std::string> vocabulary;
  std::unordered_map<std::string, int> doc_row;
  std::vector<std::vector<int>> doc_feats(docs.size());
  auto rows_of = [&](const std::string& text) {
    std::vector<int> r;
    for (auto& f : DenseFeatures(text)) {
      auto [it, fresh] = vocab.emplace(f, static_cast<int>(vocab.size()));
      if (fresh) vocabulary.push_back(f);
      r.push_back(it->second);
    }
    return r;
  };
  for (size_t i = 0; i < docs.size(); ++i) {
    doc_row.emplace(docs[i].first, static_cast<int>(i));
    ix->ids_.push_back(docs[i].first);
    doc_feats[i] = rows_of(docs[i].second);
  }
  struct Example {
    int query, doc;  // query: index into query_feats
  };
  std::unordered_map<std::string, int> query_row;
  std::vector<std::vector<int>> query_feats;
  std::vector<Example> examples;
  int64_t skipped = 0;
  for (const auto& p : pairs) {
    auto d = doc_row.find(p.doc);
    if (d == doc_row.end()) {
      ++skipped;
      continue;
    }
    auto [q, fresh] = query_row.emplace(p.query, static_cast<int>(query_feats.size()));
    if (fresh) query_feats.push_back(rows_of(p.query));
    examples.push_back({q->second, d->second});
  }
  if (examples.empty())
    throw Error("the dense retriever has no training pair naming a known document", "",
                "give queries with relevant songs of the catalog, or UQ2I triplets");
  const int64_t V = static_cast<int64_t>(vocab.size()), N = static_cast<int64_t>(docs.size());

  torch::manual_seed(o.seed);
  torch::Tensor W = (torch::randn({V, o.dim}) * 0.1).requires_grad_(true);
  torch::Tensor E = torch::zeros({N, o.dim}).requires_grad_(true);
  torch::optim::AdamW opt({W, E}, torch::optim::AdamWOptions(o.lr).weight_decay(0));
  namespace F = torch::nn::functional;
  auto bag = [&](const std::vector<const std::vector<int>*>& texts) {
    std::vector<int64_t> rows, offsets;
    for (const auto* t : texts) {
      offsets.push_back(static_cast<int64_t>(rows.size()));
      rows.insert(rows.end(), t->begin(), t->end());
    }
    return F::embedding_bag(torch::tensor(rows, torch::kLong), W,
                            F::EmbeddingBagFuncOptions()
                                .offsets(torch::tensor(offsets, torch::kLong))
                                .mode(torch::kMean));
  };
  Rng rng = Rng::Derive(o.seed, "dense-retriever");
  std::vector<size_t> order(examples.size());
  std::iota(order.begin(), order.end(), size_t{0});
  double first_loss = 0, last_loss = 0;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    rng.Shuffle(order);
    double sum = 0;
    int64_t batches = 0;
    for (size_t b = 0; b + 1 < order.size(); b += static_cast<size_t>(o.batch)) {
      const size_t n = std::min(order.size() - b, static_cast<size_t>(o.batch));
      std::vector<const std::vector<int>*> qs, ds;
      std::vector<int64_t> drows, qids;
      for (size_t j = 0; j < n; ++j) {
        const Example& e = examples[order[b + j]];
        qs.push_back(&query_feats[static_cast<size_t>(e.query)]);
        ds.push_back(&doc_feats[static_cast<size_t>(e.doc)]);
        drows.push_back(e.doc);
        qids.push_back(e.query);
      }
      const auto drow_t = torch::tensor(drows, torch::kLong),
                 qid_t = torch::tensor(qids, torch::kLong);
      auto q = F::normalize(bag(qs), F::NormalizeFuncOptions().dim(1));
      auto d = F::normalize(bag(ds) + E.index_select(0, drow_t), F::NormalizeFuncOptions().dim(1));
      auto logits = q.mm(d.t()) / o.temperature;
      // Another pair of the same query or the same document is not a negative.
      auto same =
          drow_t.unsqueeze(1).eq(drow_t.unsqueeze(0)) | qid_t.unsqueeze(1).eq(qid_t.unsqueeze(0));
      same.fill_diagonal_(false);
      logits = logits.masked_fill(same, -1e4);
      auto loss = F::cross_entropy(logits, torch::arange(static_cast<int64_t>(n), torch::kLong));
      opt.zero_grad();
      loss.backward();
      opt.step();
      sum += loss.item<double>();
      ++batches;
    }
    const double mean = batches ? sum / static_cast<double>(batches) : 0;
    if (epoch == 0) first_loss = mean;
    last_loss = mean;
    spdlog::info("dense retriever: epoch {}/{}, loss {:.3f}", epoch + 1, o.epochs, mean);
  }
  // The trained tables, and every document's vector in the faiss index.
  torch::NoGradGuard no_grad;
  auto Wc = W.detach().contiguous();
  ix->encoder_ = DenseQueryEncoder(
      std::move(vocabulary),
      std::vector<float>(Wc.data_ptr<float>(), Wc.data_ptr<float>() + V * o.dim), o.dim);
  std::vector<const std::vector<int>*> all;
  for (auto& f : doc_feats) all.push_back(&f);
  auto dv = F::normalize(bag(all) + E.detach(), F::NormalizeFuncOptions().dim(1)).contiguous();
  ix->index_ = std::make_unique<faiss::IndexFlatIP>(o.dim);
  ix->index_->add(N, dv.data_ptr<float>());
  ix->report_ = {
      {"pairs", examples.size()},
      {"skipped_pairs", skipped},
      {"queries", query_feats.size()},
      {"documents", N},
      {"vocabulary", V},
      {"dim", o.dim},
      {"epochs", o.epochs},
      {"first_epoch_loss", first_loss},
      {"last_epoch_loss", last_loss},
      {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  return ix;
}

DenseQueryEncoder::DenseQueryEncoder(std::vector<std::string> vocabulary, std::vector<float> words,
                                     int dim)
    : dim_(dim), vocabulary_(std::move(vocabulary)), words_(std::move(words)) {
  if (dim_ < 1 || words_.size() != vocabulary_.size() * static_cast<size_t>(dim_))
    throw Error("a dense query encoder's word table is not vocabulary x dim (" +
                std::to_string(words_.size()) + " values, " + std::to_string(vocabulary_.size()) +
                " words, dim " + std::to_string(dim_) + ")");
  for (size_t i = 0; i < vocabulary_.size(); ++i)
    rows_.emplace(vocabulary_[i], static_cast<int>(i));
}

bool DenseQueryEncoder::Encode(const std::string& text, std::vector<float>& out) const {
  out.assign(static_cast<size_t>(dim_), 0.f);
  int known = 0;
  for (const auto& f : DenseFeatures(text)) {
    auto it = rows_.find(f);
    if (it == rows_.end()) continue;
    const float* w = &words_[static_cast<size_t>(it->second) * static_cast<size_t>(dim_)];
    for (int j = 0; j < dim_; ++j) out[static_cast<size_t>(j)] += w[j];
    ++known;
  }
  double norm = 0;
  for (float x : out) norm += static_cast<double>(x) * x;
  if (known == 0 || norm <= 0) {
    out.assign(static_cast<size_t>(dim_), 0.f);
    return false;
  }
  const float inv =
      static_cast<float>(1.0 / std::sqrt(norm));  // the mean's direction: /known cancels
  for (float& x : out) x *= inv;
  return true;
}

std::vector<std::pair<std::string, double>> DenseIndex::Search(const std::string& query,
                                                               int k) const {
  std::vector<float> q;
  if (k <= 0 || ids_.empty() || !encoder_.Encode(query, q)) return {};
  k = std::min<int>(k, static_cast<int>(ids_.size()));
  std::vector<float> dist(static_cast<size_t>(k));
  std::vector<faiss::Index::idx_t> label(static_cast<size_t>(k));
  index_->search(1, q.data(), k, dist.data(), label.data());
  std::vector<std::pair<std::string, double>> out;
  for (int j = 0; j < k; ++j)
    if (label[static_cast<size_t>(j)] >= 0)
      out.push_back(
          {ids_[static_cast<size_t>(label[static_cast<size_t>(j)])], dist[static_cast<size_t>(j)]});
  return out;
}

std::vector<float> DenseIndex::DocVector(size_t row) const {
  std::vector<float> v(static_cast<size_t>(encoder_.dim()));
  index_->reconstruct(static_cast<faiss::Index::idx_t>(row), v.data());
  return v;
}

}  // namespace muchator
