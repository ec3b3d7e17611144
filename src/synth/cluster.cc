#include "synth/cluster.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/error.h"

namespace muchator {

torch::Tensor EmbedTexts(Qwen3ForCausalLM& model, const Tokenizer& tok,
                         const std::vector<std::string>& texts, int64_t batch_tokens) {
  torch::InferenceMode guard;
  model->eval();
  const int64_t c = model->config().hidden_size;
  const int64_t max_pos = model->config().max_position_embeddings;
  torch::Tensor out = torch::zeros({static_cast<int64_t>(texts.size()), c});
  // SIF token weights over the whole set of texts.
  std::vector<std::vector<int>> encoded(texts.size());
  std::unordered_map<int, double> freq;
  double total = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    encoded[i] = tok.Encode(texts[i]);
    if (encoded[i].empty()) encoded[i] = tok.Encode(" ");
    const size_t cap = static_cast<size_t>(std::min<int64_t>(max_pos, batch_tokens));
    if (encoded[i].size() > cap) encoded[i].resize(cap);
    for (int t : encoded[i]) freq[t] += 1, total += 1;
  }
  constexpr double kSifA = 1e-3;
  std::vector<int64_t> ids, pos, doc;
  std::vector<float> weight;
  std::vector<int64_t> members;  // text index of each document in the current row
  auto flush = [&] {
    if (ids.empty()) return;
    const int64_t t = static_cast<int64_t>(ids.size());
    auto h = model->Hidden(torch::tensor(ids).view({1, t}), torch::tensor(pos).view({1, t}),
                           torch::tensor(doc).view({1, t}))[0];  // (T, C)
    auto w = torch::tensor(weight);                              // (T)
    auto sums = torch::zeros({static_cast<int64_t>(members.size()), c})
                    .index_add_(0, torch::tensor(doc), h * w.unsqueeze(1));
    auto norm =
        torch::zeros({static_cast<int64_t>(members.size())}).index_add_(0, torch::tensor(doc), w);
    out.index_copy_(0, torch::tensor(members), sums / norm.unsqueeze(1));
    ids.clear(), pos.clear(), doc.clear(), weight.clear(), members.clear();
  };
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int>& t = encoded[i];
    if (static_cast<int64_t>(ids.size() + t.size()) > batch_tokens) flush();
    const int64_t d = static_cast<int64_t>(members.size());
    for (size_t k = 0; k < t.size(); ++k) {
      ids.push_back(t[k]), pos.push_back(static_cast<int64_t>(k)), doc.push_back(d);
      weight.push_back(static_cast<float>(kSifA / (kSifA + freq[t[k]] / total)));
    }
    members.push_back(static_cast<int64_t>(i));
  }
  flush();
  if (out.size(0) >= 2) {
    // Remove the common component: the top right-singular vector, by power iteration.
    auto v = torch::ones({c}) / std::sqrt(static_cast<double>(c));
    for (int it = 0; it < 30; ++it)
      v = torch::nn::functional::normalize(out.t().mv(out.mv(v)),
                                           torch::nn::functional::NormalizeFuncOptions().dim(0));
    out = out - torch::outer(out.mv(v), v);
  }
  return torch::nn::functional::normalize(out,
                                          torch::nn::functional::NormalizeFuncOptions().dim(1));
}

int ClusterCount(int64_t texts, int per_cluster) {
  if (texts <= 0) return 0;
  return static_cast<int>(
      std::clamp<int64_t>(texts / per_cluster, std::min<int64_t>(2, texts), texts));
}

std::vector<int> KMeans(const torch::Tensor& x, int k, uint64_t seed) {
  const auto data = x.contiguous().to(torch::kFloat32);
  const int64_t n = data.size(0), d = data.size(1);
  if (k < 1 || k > n)
    throw Error("k-means: need 1 <= k <= points (k " + std::to_string(k) + ", points " +
                std::to_string(n) + ")");
  faiss::ClusteringParameters cp;
  cp.niter = 20;
  cp.seed = static_cast<int>(seed);
  cp.min_points_per_centroid = 1;
  cp.max_points_per_centroid = 1 << 20;  // no sub-sampling: clusters of every query
  cp.verbose = false;
  faiss::Clustering clus(static_cast<int>(d), k, cp);
  faiss::IndexFlatL2 index(d);
  clus.train(n, data.data_ptr<float>(), index);
  std::vector<float> dist(static_cast<size_t>(n));
  std::vector<faiss::Index::idx_t> assign(static_cast<size_t>(n));
  index.search(n, data.data_ptr<float>(), 1, dist.data(), assign.data());
  return std::vector<int>(assign.begin(), assign.end());
}

}  // namespace muchator
