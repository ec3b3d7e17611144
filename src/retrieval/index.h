// The one interface of a text-to-document search index (DESIGN.md section 3): BM25 (Xapian,
// retrieval/bm25.h) and the dense dual encoder (faiss, retrieval/dense.h) implement it, so the
// search baselines, the RAG prompt and any later retriever are written once against it.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace muchator {

class SearchIndex {
 public:
  virtual ~SearchIndex() = default;
  // The best `k` documents for a free-text query, best first, as (id, score); a higher score is a
  // better match, comparable only within one index. Empty when nothing in the query is known.
  virtual std::vector<std::pair<std::string, double>> Search(const std::string& query,
                                                             int k) const = 0;
  virtual size_t size() const = 0;  // documents indexed
};

}  // namespace muchator
