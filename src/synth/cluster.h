// Semantic clustering of queries (UQ2I step 2): each query embedded as the mean of a pre-trained
// checkpoint's last hidden states over its tokens (the paper's choice: the music pre-trained
// model already places paraphrases of a situation near each other, because stage-2 text - comments,
// playlist titles, reviews - uses them side by side), L2-normalised, then k-means (faiss).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "model/qwen3.h"
#include "text/tokenizer.h"

namespace muchator {

// (N, C) float32, rows L2-normalised: for each text the weighted mean of its tokens' last hidden
// states, with SIF weights a / (a + p(token)) (Arora et al. 2017; p = the token's frequency over
// all `texts`), then the texts' common direction (first principal component) removed. Without
// the weights, generated queries cluster by their shared template words ("music for", "songs")
// instead of by what they are about. Texts are packed `batch_tokens` tokens per forward (no
// padding: each text is its own document of the packed row).
torch::Tensor EmbedTexts(Qwen3ForCausalLM& model, const Tokenizer& tok,
                         const std::vector<std::string>& texts, int64_t batch_tokens = 4096);

// The rule for K: about one cluster per `per_cluster` (5) texts, at least 2, at most n. Smaller
// clusters give fewer, more relevant candidates (demo world: relevance@10 of the target lists
// 0.48 at 5 texts per cluster, 0.38 at 10, 0.29 at 20; utility 0.37, 0.48, 0.61).
int ClusterCount(int64_t texts, int per_cluster = 5);

// Cluster id of each row of `x` (N, C) by k-means with `k` centroids (faiss, 20 iterations).
std::vector<int> KMeans(const torch::Tensor& x, int k, uint64_t seed);

}  // namespace muchator
