#include "serve/dialogue.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "core/strings.h"
#include "data/store.h"

namespace muchator {
namespace {

// " word " tests on a NormalizeName'd, space-padded clause.
bool HasWord(const std::string& padded, std::string_view word) {
  return padded.find(" " + std::string(word) + " ") != std::string::npos;
}

constexpr std::string_view kNegations[] = {"no",        "not",    "without", "except",  "exclude",
                                           "excluding", "skip",   "avoid",   "less",    "stop",
                                           "dont",      "don t",  "never",   "enough",  "hate",
                                           "drop",      "remove", "ban",     "nothing", "none"};
constexpr std::string_view kSimilar[] = {"like",    "similar",   "more of",
                                         "such as", "closer to", "in the style of"};
constexpr std::string_view kOrdinalWords[] = {"first", "second",  "third",  "fourth", "fifth",
                                              "sixth", "seventh", "eighth", "ninth",  "tenth"};

bool Negated(const std::string& padded) {
  for (auto w : kNegations)
    if (HasWord(padded, w)) return true;
  return false;
}

// 1-based positions in the last answer that a clause names: "the third one", "3rd", "#3",
// "number 3", "song 3", "track 3", "no. 3", "the last one".
std::vector<int> Ordinals(std::string_view raw, const std::string& padded, int last_size) {
  std::vector<int> out;
  auto add = [&](int k) {
    if (k >= 1 && k <= last_size && std::find(out.begin(), out.end(), k) == out.end())
      out.push_back(k);
  };
  for (int k = 0; k < 10; ++k) {
    if (HasWord(padded, kOrdinalWords[k])) add(k + 1);
    const std::string n = std::to_string(k + 1);
    const char* suffix = k == 0 ? "st" : k == 1 ? "nd" : k == 2 ? "rd" : "th";
    if (HasWord(padded, n + suffix)) add(k + 1);
  }
  for (auto lead : {"number", "song", "track", "no", "item", "pick"}) {
    const std::string key = " " + std::string(lead) + " ";
    for (size_t p = padded.find(key); p != std::string::npos; p = padded.find(key, p + 1)) {
      size_t q = p + key.size();
      int v = 0, digits = 0;
      while (q < padded.size() && std::isdigit(static_cast<unsigned char>(padded[q])) && digits < 3)
        v = v * 10 + (padded[q++] - '0'), ++digits;
      if (digits > 0 && (q == padded.size() || padded[q] == ' ')) add(v);
    }
  }
  for (size_t p = raw.find('#'); p != std::string_view::npos; p = raw.find('#', p + 1)) {
    size_t q = p + 1;
    int v = 0, digits = 0;
    while (q < raw.size() && std::isdigit(static_cast<unsigned char>(raw[q])) && digits < 3)
      v = v * 10 + (raw[q++] - '0'), ++digits;
    if (digits > 0) add(v);
  }
  if (padded.find(" last one ") != std::string::npos ||
      padded.find(" the last ") != std::string::npos)
    add(last_size);
  return out;
}

// Splits a message into clauses at sentence punctuation and " but " (a negation rarely
// reaches over them: "I like the first one, but not that artist").
std::vector<std::string> Clauses(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  const std::string lower = AsciiLower(text);
  for (size_t i = 0; i < lower.size(); ++i) {
    const char c = lower[i];
    const bool brk = c == ',' || c == ';' || c == '.' || c == '!' || c == '?' || c == '\n' ||
                     (lower.compare(i, 5, " but ") == 0);
    // "no. 3" is an ordinal, not a sentence end.
    if (c == '.' && i >= 2 && lower.compare(i - 2, 2, "no") == 0 && i + 2 < lower.size() &&
        std::isdigit(static_cast<unsigned char>(lower[i + 2])))
      cur += c;
    else if (brk) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

CatalogLookup::CatalogLookup(const Catalog& catalog, const ItemCodec& codec,
                             const AnswerGrammar& grammar)
    : catalog_(catalog), grammar_(grammar) {
  std::map<int, std::string> names;  // artist -> shortest normalised name seen
  for (int i = 0; i < codec.num_items(); ++i) {
    display_.emplace(codec.DisplayText(i), i);
    display_norm_.emplace(NormalizeName(codec.DisplayText(i)), i);
    const int a = grammar.ArtistOf(i);
    if (a < 0) continue;
    const auto& it = catalog.items[i];
    if (!it.artist_id.empty()) artist_.emplace(it.artist_id, a);
    const std::string n = NormalizeName(it.artist);
    if (!n.empty()) {
      artist_.emplace(n, a);
      auto& cur = names[a];
      if (cur.empty() || n.size() < cur.size()) cur = n;
    }
  }
  for (const auto& [a, n] : names)
    if (n.size() >= 3) artist_names_.emplace_back(" " + n + " ", a);
}

int CatalogLookup::FindDisplayed(std::string_view text) const {
  const std::string t = Trim(std::string(text));
  if (auto it = display_.find(t); it != display_.end()) return it->second;
  if (auto it = display_norm_.find(NormalizeName(t)); it != display_norm_.end()) return it->second;
  return -1;
}

int CatalogLookup::FindArtist(std::string_view name_or_id) const {
  const std::string s(name_or_id);
  if (auto it = artist_.find(s); it != artist_.end()) return it->second;
  if (auto it = artist_.find(NormalizeName(s)); it != artist_.end()) return it->second;
  return -1;
}

std::vector<std::pair<int, size_t>> CatalogLookup::ArtistsMentioned(
    const std::string& normalized) const {
  std::vector<std::pair<int, size_t>> out;
  for (const auto& [name, a] : artist_names_)
    if (const size_t p = normalized.find(name); p != std::string::npos) out.emplace_back(a, p);
  return out;
}

std::vector<int> ItemsInAnswerText(std::string_view text, const CatalogLookup& lookup) {
  std::vector<int> items;
  for (const auto& line : Split(text, '\n')) {
    size_t i = 0;
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    const size_t d = i;
    while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
    if (i == d || i >= line.size() || (line[i] != '.' && line[i] != ')')) continue;
    const int item = lookup.FindDisplayed(line.substr(i + 1));
    if (item >= 0 && std::find(items.begin(), items.end(), item) == items.end())
      items.push_back(item);
  }
  return items;
}

Refinement ReadDialogue(const std::vector<DialogueMessage>& messages, const CatalogLookup& lookup) {
  Refinement r;
  const DialogueMessage* first_user = nullptr;
  for (const auto& m : messages) {
    if (m.role == "user" && !first_user) first_user = &m;
    if (m.role != "assistant") continue;
    r.last_answer = ItemsInAnswerText(m.content, lookup);
    for (int it : r.last_answer)
      if (std::find(r.recommended.begin(), r.recommended.end(), it) == r.recommended.end())
        r.recommended.push_back(it);
  }
  const DialogueMessage& last = messages.back();
  r.query = Trim(last.content);
  if (first_user && first_user != &last) r.query = Trim(first_user->content) + "; " + r.query;
  if (!r.recommended.empty())
    r.notes.push_back(std::to_string(r.recommended.size()) +
                      " songs already recommended in this dialogue are excluded");
  if (first_user == &last) return r;  // a first turn has nothing to refine

  const auto& grammar = lookup.grammar();
  const auto& catalog = lookup.catalog();
  auto ban_artist = [&](int a, const std::string& why) {
    if (a < 0 ||
        std::find(r.banned_artists.begin(), r.banned_artists.end(), a) != r.banned_artists.end())
      return;
    r.banned_artists.push_back(a);
    const auto& songs = grammar.ItemsOfArtist(a);
    const std::string name = songs.empty() ? "?" : catalog.items[songs.front()].artist;
    r.notes.push_back("no songs by " + name + " (" + why + ")");
  };
  for (const auto& clause : Clauses(last.content)) {
    const std::string padded = " " + NormalizeName(clause) + " ";
    const bool neg = Negated(padded);
    const std::vector<int> ords = Ordinals(clause, padded, static_cast<int>(r.last_answer.size()));
    const bool that_artist = padded.find(" artist") != std::string::npos ||
                             HasWord(padded, "them") || HasWord(padded, "singer") ||
                             HasWord(padded, "band");
    if (neg) {
      for (const auto& [a, pos] : lookup.ArtistsMentioned(padded))
        ban_artist(a, "asked in this turn");
      if (that_artist) {
        if (!ords.empty()) {
          for (int k : ords)
            ban_artist(grammar.ArtistOf(r.last_answer[k - 1]),
                       "the artist of song " + std::to_string(k));
        } else if (!r.last_answer.empty()) {
          // The artist listed most in the last answer (ties: the earliest listed).
          std::map<int, int> count;
          for (int it : r.last_answer) ++count[grammar.ArtistOf(it)];
          int best = -1, best_n = 0;
          for (int it : r.last_answer) {
            const int a = grammar.ArtistOf(it);
            if (a >= 0 && count[a] > best_n) best = a, best_n = count[a];
          }
          ban_artist(best, "the artist listed most in the last answer");
        }
      }
      continue;
    }
    bool similar = false;
    for (auto w : kSimilar)
      similar = similar || padded.find(" " + std::string(w) + " ") != std::string::npos;
    if (similar)
      for (int k : ords) {
        const int it = r.last_answer[k - 1];
        if (std::find(r.liked.begin(), r.liked.end(), it) != r.liked.end()) continue;
        r.liked.push_back(it);
        r.notes.push_back("more like " + lookup.catalog().items[it].title + " (song " +
                          std::to_string(k) + ")");
      }
  }
  return r;
}

}  // namespace muchator
