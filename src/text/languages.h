// Language constraints a request states in so many words - "no english songs", "nothing in
// Spanish", "only korean songs", "just French" - and the catalog songs they rule out. The
// recommender honours them as hard constraints (banned items of the constrained answer), as it
// honours a listener's dislikes: a list that answers "no English songs" with an English song is
// wrong however well the rest fits, and the model alone let 10-36% through (docs/metrics.md,
// facet_fit).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "text/item_codec.h"

namespace muchator {

class Store;

struct RequestLanguages {
  std::vector<std::string> only;      // ISO 639-1 codes the request keeps to ("only english")
  std::vector<std::string> excluded;  // codes it rules out ("no english songs")
  bool empty() const { return only.empty() && excluded.empty(); }
};

// The languages `request` names after a negation (no, not, nothing, without, non, avoid, except,
// skip; up to three words such as "songs in" between) or a restriction (only, just, "<name> only").
// Language names are English names of the common languages, or their codes.
RequestLanguages ParseRequestLanguages(std::string_view request);

// The ISO 639-1 code of a language name or code ("English", "en", "mandarin" -> "zh"); "" when
// unknown.
std::string LanguageCode(std::string_view name_or_code);

// Each catalog song's language code, read once from the store (songs.jsonl `language`); songs
// without one, or with a language this table does not know, are never banned.
class CatalogLanguages {
 public:
  CatalogLanguages() = default;
  CatalogLanguages(Store& store, const Catalog& catalog);
  // Catalog indexes of the songs `request`'s language constraints rule out, ascending.
  std::vector<int> Banned(std::string_view request) const;
  // The same for constraints already parsed (ParseRequestLanguages).
  std::vector<int> Banned(const RequestLanguages& r) const;
  bool empty() const { return code_.empty(); }

 private:
  std::vector<std::string> code_;  // per catalog item
};

}  // namespace muchator
