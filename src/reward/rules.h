// Rule rewards of the hybrid reward (docs/reward.md): format, factuality, diversity and
// de-duplication of one generated list. Each returns a value in [0, 1], higher is better; an
// empty list scores 0 on every rule.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "text/item_codec.h"

namespace muchator {

// One generated answer, parsed (text/chat.h ParseAnswer) and in its request's context.
struct ListInput {
  std::vector<int> items;                  // catalog indexes of the catalog items, in order
  std::vector<std::string> invalid_items;  // item entries that are not catalog items
  bool well_formed = false;                // the list format parsed without problems and ended
  int expected_items = 10;                 // the list length asked for
  std::string query;                       // the listener's request
  int context = -1;  // index of the listener's context (HybridReward's contexts)
  std::unordered_set<int>
      recent_positive;  // catalog indexes liked/finished recently by the listener
  // The served system's list for this request (catalog indexes; the `served` reward): what the
  // starting model's pool, ordered by the ranking model, answers. Empty when not computed.
  std::vector<int> served;
  // The songs labelled relevant for this request (queries.jsonl `relevant`: a platform's own log
  // of what the listener liked or finished after asking; the `label` reward). Empty without labels.
  std::vector<int> labelled;
  int entries() const { return static_cast<int>(items.size() + invalid_items.size()); }
};

// 1 when well-formed with exactly expected_items entries, 0.5 when well-formed with another
// (non-zero) count, 0 otherwise.
double FormatReward(const ListInput& in);
// Share of the list's entries that are catalog items.
double FactualityReward(const ListInput& in);
// 1 - (share of catalog items that repeat an earlier item's main artist or are a title variant
// of an earlier item: same BaseTitle, e.g. "X", "X (Live)", "X - Remix"). Non-catalog entries
// are left to the factuality rule; a list without catalog items scores 0.
double DiversityReward(const ListInput& in, const Catalog& catalog);
// 1 - share of the list's entries that are in the listener's recent positive history.
double DedupReward(const ListInput& in);

// A title without its version decoration, normalised: "Rain (Live)" -> "rain",
// "Rain - 2011 Remaster" -> "rain", "Rain [Acoustic Version]" -> "rain".
std::string BaseTitle(std::string_view title);

}  // namespace muchator
