// Text of the synthetic world: names, titles, lyrics, descriptions, biographies, comments,
// playlist titles, queries, the fictional general-knowledge encyclopedia and the everyday
// language of the base stage. Every music template here uses only `meta` and `social` surface
// forms; query forms are used only by QueryText() and EverydayLanguage() (general text that never
// names a song).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"
#include "world/model.h"

namespace muchator::world {

std::string ArtistName(Rng& rng);
std::string SongTitle(Rng& rng);
std::string AlbumTitle(Rng& rng);
std::string Country(Rng& rng);

std::string Lyrics(Rng& rng, const ConceptSet& c, const SongLatent& s);
std::string LyricDescription(Rng& rng, const WorldModel& w, const SongLatent& s);
std::string SongBackground(Rng& rng, const WorldModel& w, const SongLatent& s);
std::string ArtistBio(Rng& rng, const WorldModel& w, int artist, const std::vector<int>& songs);
// A listener's comment; `positive` picks the sentiment.
std::string UserComment(Rng& rng, const ConceptSet& c, const SongLatent& s, bool positive);
std::string ProfessionalReview(Rng& rng, const WorldModel& w, const SongLatent& s);
std::string PlaylistTitle(Rng& rng, const ConceptSet& c, int situation, int mood, int genre);

// Query text for the facets. `test_forms` picks the query_test forms (test split) instead of
// query_train; `social_share` is the chance to use a social form instead of a query form.
std::string QueryText(Rng& rng, const ConceptSet& c, const QueryFacets& q, bool test_forms,
                      double social_share);

// Lower-cased text with every non-alphanumeric ASCII byte turned into a space and single spaces
// between words, padded with one space at each end, so " form " finds whole-word matches.
std::string WordPadded(const std::string& text);

// A matcher of the concept set's query-only surface forms in any text (whole words, via
// WordPadded): the query_test forms, and the query_train forms too when `train_forms`. The forms
// are padded once here, so the matcher is cheap per text.
std::function<bool(const std::string&)> QueryFormMatcher(const ConceptSet& concepts,
                                                         bool train_forms);

// The fictional encyclopedia: entry texts and multiple-choice questions about them.
struct GeneralEntry {
  std::string id, title, text;
};
struct Mcq {
  std::string id, question;
  std::vector<std::string> options;
  int answer;
  std::string source;  // entry id (general) or concept id (paraphrase)
  std::string kind;    // "general" (the encyclopedia) or "paraphrase" (form -> concept)
};
void GeneralKnowledge(uint64_t seed, int entities, std::vector<GeneralEntry>* entries,
                      std::vector<Mcq>* mcqs);
// The base model's everyday language (stage 0): documents of non-music sentences that use every
// surface form of every concept (meta, social, query_train and query_test) together with other
// forms of the same concept, `per_form` sentences per form, as a real base LLM has read that
// "lull me into dreamland" means sleep. Never names a song, artist or album. Also the paraphrase
// multiple-choice questions (a non-meta form -> its concept's meta form among four), kind
// "paraphrase", which measure that knowledge and its forgetting.
void EverydayLanguage(uint64_t seed, const ConceptSet& c, int per_form,
                      std::vector<GeneralEntry>* entries, std::vector<Mcq>* mcqs);

}  // namespace muchator::world
