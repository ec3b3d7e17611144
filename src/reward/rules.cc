#include "reward/rules.h"

#include <algorithm>
#include <unordered_map>

#include "data/store.h"

namespace muchator {

double FormatReward(const ListInput& in) {
  if (in.entries() == 0 || !in.well_formed) return 0.0;
  return in.entries() == in.expected_items ? 1.0 : 0.5;
}

double FactualityReward(const ListInput& in) {
  if (in.entries() == 0) return 0.0;
  return static_cast<double>(in.items.size()) / in.entries();
}

std::string BaseTitle(std::string_view title) {
  std::string t;
  int depth = 0;  // inside (...) or [...]: dropped
  for (char c : title) {
    if (c == '(' || c == '[')
      ++depth;
    else if ((c == ')' || c == ']') && depth > 0)
      --depth;
    else if (depth == 0)
      t.push_back(c);
  }
  // "Title - Live at X", "Title - 2011 Remaster": a dash-separated suffix naming a version.
  static const char* kVersionWords[] = {"live", "remix",   "mix",      "acoustic",     "remaster",
                                        "edit", "version", "demo",     "instrumental", "radio",
                                        "mono", "stereo",  "unplugged"};
  const size_t dash = t.find(" - ");
  if (dash != std::string::npos) {
    const std::string tail = NormalizeName(t.substr(dash + 3));
    for (const char* w : kVersionWords)
      if ((" " + tail + " ").find(std::string(" ") + w + " ") != std::string::npos) {
        t.resize(dash);
        break;
      }
  }
  return NormalizeName(t);
}

double DiversityReward(const ListInput& in, const Catalog& catalog) {
  if (in.items.empty()) return 0.0;
  std::unordered_set<std::string> artists, titles;
  int repeated = 0;
  for (int item : in.items) {
    const CatalogItem& c = catalog.items.at(static_cast<size_t>(item));
    const std::string artist = c.artist_id.empty() ? c.artist : c.artist_id;
    const bool seen_artist = !artist.empty() && !artists.insert(artist).second;
    const bool seen_title = !titles.insert(BaseTitle(c.title)).second;
    repeated += seen_artist || seen_title;
  }
  return 1.0 - static_cast<double>(repeated) / static_cast<double>(in.items.size());
}

double DedupReward(const ListInput& in) {
  if (in.entries() == 0) return 0.0;
  const auto dup = std::count_if(in.items.begin(), in.items.end(),
                                 [&](int i) { return in.recent_positive.count(i) > 0; });
  return 1.0 - static_cast<double>(dup) / in.entries();
}

}  // namespace muchator
