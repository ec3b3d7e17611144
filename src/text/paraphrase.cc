#include "text/paraphrase.h"

#include <algorithm>
#include <cctype>

#include "core/strings.h"

namespace muchator {
namespace {

// English cues that state two phrases mean the same: prefix, middle, suffix around the two. Written
// out here: no Debian package holds a paraphrase-cue list, and these few are what general text
// uses for it (a base LLM learns "X means Y" from sentences like these).
struct Cue {
  std::string_view prefix, middle, suffix;
};
constexpr Cue kCues[] = {
    {"", ", or as my friend would put it, ", ""},
    {"when someone says ", ", they usually mean ", ""},
    {"", " is just another way of saying ", ""},
    {"people use ", " and ", " for the same thing"},
    {"if you hear ", ", think ", ""},
    {"", ", which some people call ", ""},
    {"", " means the same as ", ""},
    {"", " is another word for ", ""},
};
// Without surrounding whitespace and the sentence's closing punctuation.
std::string_view TrimClause(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.back())) || s.back() == '.' ||
                        s.back() == '!' || s.back() == '?'))
    s.remove_suffix(1);
  return s;
}

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '\''; }

// A phrase a cue can pair: short, one clause (no comma, semicolon or quote).
bool Plausible(std::string_view p) {
  if (p.empty() || p.find_first_of(",;\"") != std::string_view::npos) return false;
  return std::count(p.begin(), p.end(), ' ') < ParaphraseLexicon::kMaxPhraseWords;
}

void MatchCues(std::string_view sentence, ParaphraseLexicon& lex) {
  for (const Cue& c : kCues) {
    if (sentence.size() <= c.prefix.size() + c.middle.size() + c.suffix.size()) continue;
    if (!sentence.starts_with(c.prefix) || !sentence.ends_with(c.suffix)) continue;
    const std::string_view body =
        sentence.substr(c.prefix.size(), sentence.size() - c.prefix.size() - c.suffix.size());
    const size_t at = body.find(c.middle);
    // Two places the middle could split the sentence: which two phrases it pairs is unclear.
    if (at == std::string_view::npos || body.find(c.middle, at + 1) != std::string_view::npos)
      continue;
    const std::string_view a = TrimClause(body.substr(0, at)),
                           b = TrimClause(body.substr(at + c.middle.size()));
    if (Plausible(a) && Plausible(b)) lex.AddPair(a, b);
    return;
  }
}

}  // namespace

void ParaphraseLexicon::AddText(std::string_view text) {
  const std::string lower = AsciiLower(text);
  size_t start = 0;
  while (start < lower.size()) {
    size_t end = lower.size();
    for (const char* stop : {". ", "! ", "? "}) end = std::min(end, lower.find(stop, start));
    MatchCues(TrimClause(std::string_view(lower).substr(start, end - start)), *this);
    start = end == lower.size() ? end : end + 2;
  }
}

void ParaphraseLexicon::AddPair(std::string_view a_in, std::string_view b_in) {
  const std::string a = AsciiLower(TrimClause(a_in)), b = AsciiLower(TrimClause(b_in));
  if (a.empty() || b.empty() || a == b) return;
  bool added = false;
  for (const auto& [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
    auto [it, fresh] = partners_.try_emplace(x);
    if (fresh)  // in its place among the keys, longest first (std::map keys never move)
      longest_first_.insert(
          std::upper_bound(
              longest_first_.begin(), longest_first_.end(), &it->first,
              [](const std::string* l, const std::string* r) { return l->size() > r->size(); }),
          &it->first);
    if (std::find(it->second.begin(), it->second.end(), y) == it->second.end()) {
      it->second.push_back(y);
      added = true;
    }
  }
  if (added) ++pairs_;
}

const std::vector<std::string>& ParaphraseLexicon::Partners(const std::string& phrase) const {
  static const std::vector<std::string> kNone;
  const auto it = partners_.find(phrase);
  return it == partners_.end() ? kNone : it->second;
}

std::string ParaphraseLexicon::Reword(std::string_view text, double p,
                                      const std::set<std::string>& avoid, Rng& rng,
                                      int* swapped) const {
  const std::string lower = AsciiLower(text);
  struct Match {
    size_t at, size;
    const std::string* phrase;
  };
  std::vector<Match> found;
  std::vector<bool> taken(lower.size(), false);
  for (const std::string* key : longest_first_) {
    for (size_t at = lower.find(*key); at != std::string::npos; at = lower.find(*key, at + 1)) {
      const size_t end = at + key->size();
      if ((at > 0 && IsWordChar(lower[at - 1])) || (end < lower.size() && IsWordChar(lower[end])))
        continue;
      if (std::any_of(taken.begin() + at, taken.begin() + end, [](bool t) { return t; })) continue;
      std::fill(taken.begin() + at, taken.begin() + end, true);
      found.push_back({at, key->size(), key});
    }
  }
  std::sort(found.begin(), found.end(), [](const Match& l, const Match& r) { return l.at < r.at; });
  std::string out;
  size_t from = 0;
  for (const Match& m : found) {
    out.append(text.substr(from, m.at - from));
    from = m.at + m.size;
    if (!rng.Bernoulli(p)) {
      out.append(text.substr(m.at, m.size));
      continue;
    }
    const std::vector<std::string>& all = Partners(*m.phrase);
    std::vector<const std::string*> fresh;
    for (const auto& q : all)
      if (!avoid.contains(WordKey(q))) fresh.push_back(&q);
    out += fresh.empty() ? rng.Pick(all) : *rng.Pick(fresh);
    if (swapped) ++*swapped;
  }
  out.append(text.substr(from));
  return out;
}

std::string WordKey(std::string_view phrase) {
  std::string out;
  bool gap = false;
  for (char c : phrase) {
    if (IsWordChar(c)) {
      if (gap && !out.empty()) out += ' ';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      gap = false;
    } else {
      gap = true;
    }
  }
  return out;
}

void AddWordRuns(std::string_view text, int max_words, std::set<std::string>* out) {
  const std::string key = WordKey(text);
  std::vector<size_t> starts;  // word starts in key
  for (size_t i = 0; i < key.size(); ++i)
    if (i == 0 || key[i - 1] == ' ') starts.push_back(i);
  for (size_t w = 0; w < starts.size(); ++w)
    for (size_t n = 1; n <= static_cast<size_t>(max_words) && w + n <= starts.size(); ++n) {
      const size_t end = w + n < starts.size() ? starts[w + n] - 1 : key.size();
      out->insert(key.substr(starts[w], end - starts[w]));
    }
}

}  // namespace muchator
