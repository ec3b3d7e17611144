// Multi-turn refinement: what a conversation so far means for the next answer.
//
// The model answers one request at a time; a dialogue's later turns ("more upbeat", "no more of
// that artist", "something like the third one") are turned into things the engine enforces
// (infer/constraint.h) and context the model sees, never into a hope that the model obeys:
//   - every song an assistant turn already listed is banned (no repeats within a dialogue);
//   - "not/no/without/skip ... <artist>" bans that artist; "that artist" / "this artist" /
//     "same artist" means the artist of the song an ordinal names ("the third one", "#3",
//     "number 3"), else the artist listed most in the last answer (ties: the earliest);
//   - "like/similar to ... the third one" adds the named songs of the last answer to the
//     listener's recent history as likes, so the context pulls the answer towards them;
//   - the request text is the dialogue's first user turn, with the latest turn appended
//     ("rainy evening drive; more upbeat") when they differ.
// Rules, not a model: documented in docs/serving.md with their limits.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "infer/constraint.h"
#include "text/item_codec.h"

namespace muchator {

// Lookups over a catalog for reading dialogues: display text -> item, artist name -> the
// grammar's artist id.
class CatalogLookup {
 public:
  CatalogLookup(const Catalog& catalog, const ItemCodec& codec, const AnswerGrammar& grammar);
  // The item an answer line names ("Title - Artist", exact or after NormalizeName), or -1.
  int FindDisplayed(std::string_view text) const;
  // A song id or an artist name/id -> grammar artist id, -1 when unknown.
  int FindArtist(std::string_view name_or_id) const;
  // Artists named in `normalized` text (NormalizeName'd, padded with spaces), as
  // (grammar artist id, byte position); names shorter than 3 characters are ignored.
  std::vector<std::pair<int, size_t>> ArtistsMentioned(const std::string& normalized) const;
  const AnswerGrammar& grammar() const { return grammar_; }
  const Catalog& catalog() const { return catalog_; }

 private:
  const Catalog& catalog_;
  const AnswerGrammar& grammar_;
  std::unordered_map<std::string, int> display_, display_norm_, artist_;
  std::vector<std::pair<std::string, int>> artist_names_;  // " normalized name " -> artist
};

struct DialogueMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

struct Refinement {
  std::string query;                // what the model is asked
  std::vector<int> recommended;     // items any assistant turn listed (banned), in order
  std::vector<int> last_answer;     // the items of the last assistant turn
  std::vector<int> banned_artists;  // grammar artist ids
  std::vector<int> liked;           // items to add to the context as likes ("like the third one")
  std::vector<std::string> notes;   // what was understood, human-readable (returned to the caller)
};

// Reads the dialogue; the last message must be the user's (checked by the caller).
Refinement ReadDialogue(const std::vector<DialogueMessage>& messages, const CatalogLookup& lookup);

// Items listed in an assistant turn's text ("1. Title - Artist" lines), in order.
std::vector<int> ItemsInAnswerText(std::string_view text, const CatalogLookup& lookup);

}  // namespace muchator
