#include "text/languages.h"

#include <algorithm>
#include <sstream>

#include "data/store.h"

namespace muchator {
namespace {

// English names of common song languages and their ISO 639-1 codes. Written out here rather than
// taken from ICU's locale display names: requests use everyday names, some of which ICU does not
// list as languages ("mandarin", "cantonese"), and this table is all the parser must know.
struct LanguageName {
  const char* name;
  const char* code;
};
constexpr LanguageName kLanguages[] = {
    {"english", "en"},    {"spanish", "es"},    {"french", "fr"},    {"german", "de"},
    {"italian", "it"},    {"portuguese", "pt"}, {"japanese", "ja"},  {"korean", "ko"},
    {"chinese", "zh"},    {"mandarin", "zh"},   {"cantonese", "zh"}, {"russian", "ru"},
    {"hindi", "hi"},      {"arabic", "ar"},     {"turkish", "tr"},   {"dutch", "nl"},
    {"swedish", "sv"},    {"norwegian", "no"},  {"danish", "da"},    {"finnish", "fi"},
    {"polish", "pl"},     {"greek", "el"},      {"hebrew", "he"},    {"thai", "th"},
    {"vietnamese", "vi"}, {"indonesian", "id"}, {"tagalog", "tl"},   {"swahili", "sw"},
    {"ukrainian", "uk"},  {"czech", "cs"},      {"hungarian", "hu"}, {"romanian", "ro"},
    {"persian", "fa"},    {"bengali", "bn"},    {"punjabi", "pa"},   {"tamil", "ta"},
};

// A language word of a request: only full names count ("no en songs" is not how anyone asks,
// and "no" itself is Norwegian's code).
std::string NameCode(std::string_view word) {
  for (const auto& l : kLanguages)
    if (word == l.name) return l.code;
  return "";
}

bool OneOf(std::string_view w, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), w) != set.end();
}

void AddOnce(std::vector<std::string>& v, const std::string& code) {
  if (std::find(v.begin(), v.end(), code) == v.end()) v.push_back(code);
}

}  // namespace

std::string LanguageCode(std::string_view name_or_code) {
  const std::string n = NormalizeName(name_or_code);
  if (const std::string c = NameCode(n); !c.empty()) return c;
  for (const auto& l : kLanguages)
    if (n == l.code) return l.code;
  return "";
}

RequestLanguages ParseRequestLanguages(std::string_view request) {
  std::vector<std::string> w;
  std::istringstream in(NormalizeName(request));
  for (std::string s; in >> s;) w.push_back(s);
  RequestLanguages out;
  const auto filler = [](std::string_view s) {
    return OneOf(s, {"songs", "song", "music", "tracks", "track", "stuff", "lyrics", "in", "sung",
                     "any", "anything", "more", "of", "the", "tunes", "vocals"});
  };
  for (size_t i = 0; i < w.size(); ++i) {
    const bool negation = OneOf(w[i], {"no", "not", "nothing", "without", "non", "avoid", "except",
                                       "skip", "zero", "none"});
    const bool restriction = OneOf(w[i], {"only", "just", "exclusively", "purely"});
    if (negation || restriction) {
      // The language word: right after, or after up to three filler words ("no songs in").
      for (size_t j = i + 1; j < w.size() && j <= i + 4; ++j) {
        if (const std::string c = NameCode(w[j]); !c.empty()) {
          auto& list = negation ? out.excluded : out.only;
          AddOnce(list, c);
          // "no korean or japanese", "only spanish and french".
          for (size_t k = j + 1; k + 1 < w.size() && OneOf(w[k], {"or", "and", "nor"}); k += 2) {
            const std::string more = NameCode(w[k + 1]);
            if (more.empty()) break;
            AddOnce(list, more);
          }
          break;
        }
        if (!filler(w[j])) break;
      }
    }
    // "<name> only", "<name> songs only".
    if (const std::string c = NameCode(w[i]); !c.empty()) {
      const bool negated = i > 0 && OneOf(w[i - 1], {"no", "not", "non", "without"});
      for (size_t j = i + 1; !negated && j < w.size() && j <= i + 2; ++j) {
        if (w[j] == "only") {
          AddOnce(out.only, c);
          break;
        }
        if (!filler(w[j])) break;
      }
    }
  }
  // A language both kept to and ruled out ("only english, no english"): the exclusion wins.
  std::erase_if(out.only, [&](const std::string& c) {
    return std::find(out.excluded.begin(), out.excluded.end(), c) != out.excluded.end();
  });
  return out;
}

CatalogLanguages::CatalogLanguages(Store& store, const Catalog& catalog)
    : code_(catalog.items.size()) {
  store.ForEachSong([&](const Song& s) {
    if (s.language.empty()) return;
    if (const int i = catalog.Find(s.id); i >= 0)
      code_[static_cast<size_t>(i)] = LanguageCode(s.language);
  });
}

std::vector<int> CatalogLanguages::Banned(std::string_view request) const {
  return Banned(ParseRequestLanguages(request));
}

std::vector<int> CatalogLanguages::Banned(const RequestLanguages& r) const {
  std::vector<int> out;
  if (r.empty()) return out;
  const auto in = [](const std::vector<std::string>& v, const std::string& c) {
    return std::find(v.begin(), v.end(), c) != v.end();
  };
  for (size_t i = 0; i < code_.size(); ++i) {
    const std::string& c = code_[i];
    if (c.empty()) continue;  // unknown language: never banned
    if (in(r.excluded, c) || (!r.only.empty() && !in(r.only, c)))
      out.push_back(static_cast<int>(i));
  }
  return out;
}

}  // namespace muchator
