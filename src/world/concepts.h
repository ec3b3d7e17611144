// The concept inventory of the synthetic world: genres, moods, situations, languages, eras, and
// for each concept its surface forms in four disjoint groups:
//   meta        - used in song metadata, lyric descriptions, encyclopedia documents (stage 1)
//   social      - used in comments, reviews and playlist titles (stage 2)
//   query_train - used only in queries of the sft and rl splits
//   query_test  - used only in queries of the test split
// No query form (train or test) appears in any song, document, comment or playlist, so a model
// can only connect "lull me to dreamland" to sleepy songs by generalising from what it learned.
#pragma once

#include <string>
#include <vector>

namespace muchator::world {

enum class ConceptKind { kGenre, kMood, kSituation };

struct Concept {
  std::string id;  // stable identifier, e.g. "falling_asleep"
  ConceptKind kind = ConceptKind::kGenre;
  std::vector<std::string> meta, social, query_train, query_test;
  // Genres: typical energy (0-1). Moods: valence and arousal (0-1). Situations: target energy and
  // valence, and the moods and genres that suit them (ids).
  double energy = 0.5, valence = 0.5;
  std::vector<std::string> moods, genres;
};

struct Language {
  std::string code, name;  // "en", "English"
  double weight;           // share of the catalog
};

const std::vector<Concept>& Genres();
const std::vector<Concept>& Moods();
const std::vector<Concept>& Situations();
const std::vector<Language>& Languages();
// Decades covered by the catalog, e.g. 1960 ... 2020, with their colloquial names per group.
struct Era {
  int decade;
  std::vector<std::string> meta, query;  // "1990s" / "the 90s", "nineties"
};
const std::vector<Era>& Eras();

// Index of a concept id within its list, or -1.
int FindConcept(const std::vector<Concept>& list, const std::string& id);

}  // namespace muchator::world
