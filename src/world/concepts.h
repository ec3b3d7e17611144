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
  // Real-catalog worlds only: the catalog's own tags that carry this concept (a song has the
  // concept when it has any of them), e.g. {"chillout", "downtempo"}.
  std::vector<std::string> tags;
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

// Concept builders (kind, surface-form groups and the kind's numbers), for the inventories.
Concept GenreConcept(std::string id, double energy, std::vector<std::string> meta,
                     std::vector<std::string> social, std::vector<std::string> query_train,
                     std::vector<std::string> query_test);
Concept MoodConcept(std::string id, double valence, double arousal, std::vector<std::string> meta,
                    std::vector<std::string> social, std::vector<std::string> query_train,
                    std::vector<std::string> query_test);
Concept SituationConcept(std::string id, double energy, double valence,
                         std::vector<std::string> moods, std::vector<std::string> genres,
                         std::vector<std::string> meta, std::vector<std::string> social,
                         std::vector<std::string> query_train, std::vector<std::string> query_test);

// Index of a concept id within its list, or -1.
int FindConcept(const std::vector<Concept>& list, const std::string& id);

// Everything a world knows about its vocabulary of concepts. The synthetic world uses the lists
// above; a world on a real catalog has its own (world/jamendo.h), with no languages or eras when
// the catalog does not know them (then no query asks for one).
struct ConceptSet {
  std::string catalog;  // "synthetic" | "jamendo"
  std::vector<Concept> genres, moods, situations;
  std::vector<Language> languages;  // at least one; one = the catalog does not record languages
  std::vector<Era> eras;            // empty = the catalog does not record years
  // Situation ids that fit each listening context (model.h kContexts order).
  std::vector<std::vector<std::string>> context_situations;
};
const ConceptSet& SyntheticConcepts();
// The concept set of a catalog name ("synthetic", "jamendo"); throws Error for another name.
const ConceptSet& ConceptsOfCatalog(const std::string& catalog);

}  // namespace muchator::world
