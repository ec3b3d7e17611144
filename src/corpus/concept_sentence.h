// "Songs for sleep, calm.": what a set of catalog songs has in common, in the catalog's own words
// (its tags and genres). UQ2I answers open with it and the pre-training corpus writes logged
// requests with it, so a model names the concept a request asks for before it lists songs for it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "text/item_codec.h"

namespace muchator {

class Store;

class ConceptNamer {
 public:
  // Reads every song's tags and genres from the store (catalog indexes).
  ConceptNamer(Store& store, const Catalog& catalog);
  // The tag most particular to `items` (highest lift: share among them over share in the
  // catalog; at least 2 of them have it), another tag 60% of them have with lift >= 2, and any
  // genre 70% of them have, as "Songs for a, b, c."; "" when they share nothing.
  std::string Sentence(const std::vector<int>& items) const;

 private:
  std::vector<std::vector<std::string>> tags_, genres_;
  std::map<std::string, int> tag_count_;
};

}  // namespace muchator
