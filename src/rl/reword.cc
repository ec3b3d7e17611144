#include "rl/reword.h"

#include "data/store.h"
#include "text/paraphrase.h"

namespace muchator {

RewordSummary RewordRequests(Store& store, double p, std::vector<EvalRequest>& requests) {
  RewordSummary s;
  if (p <= 0.0 || requests.empty()) return s;
  ParaphraseLexicon lexicon;
  store.ForEachDocument([&](const Document& d) {
    if (d.kind == "general") lexicon.AddText(d.text);
  });
  s.lexicon_phrases = lexicon.phrases();
  s.lexicon_pairs = lexicon.pairs();
  if (lexicon.phrases() == 0) return s;
  std::set<std::string> used;  // word runs the logged requests and the catalog's tags use
  for (const char* split : {"sft", "rl"})
    store.ForEachQuery(
        [&](const Query& q) { AddWordRuns(q.text, ParaphraseLexicon::kMaxPhraseWords, &used); },
        split);
  store.ForEachSong([&](const Song& song) {
    for (const auto& t : song.tags) used.insert(WordKey(t));
    for (const auto& g : song.genres) used.insert(WordKey(g));
  });
  for (EvalRequest& r : requests) {
    Rng rng = Rng::Derive(HashString(r.user + '\n' + r.query), "reword");
    int swaps = 0;
    std::string reworded = lexicon.Reword(r.query, p, used, rng, &swaps);
    constexpr size_t kExamples = 5;
    if (swaps > 0 && s.examples.size() < kExamples) s.examples.emplace_back(r.query, reworded);
    r.query = std::move(reworded);
    s.swaps += static_cast<size_t>(swaps);
    s.reworded += swaps > 0 ? 1 : 0;
  }
  return s;
}

}  // namespace muchator
