// BM25 keyword retrieval over short documents (Xapian, English stemming). Used by the
// "internal search system" baseline and by world checks that keyword matching alone cannot
// solve the colloquial queries. Not thread-safe for concurrent Add; Search is const.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "retrieval/index.h"

namespace muchator {

class Bm25Index : public SearchIndex {
 public:
  Bm25Index();  // an empty in-memory index
  ~Bm25Index() override;
  Bm25Index(const Bm25Index&) = delete;
  Bm25Index& operator=(const Bm25Index&) = delete;

  // Adds one document; `id` is returned by Search.
  void Add(const std::string& id, const std::string& text);
  // The best `k` documents for a free-text query (terms OR-ed, BM25 scores), best first.
  std::vector<std::pair<std::string, double>> Search(const std::string& query,
                                                     int k) const override;
  size_t size() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muchator
