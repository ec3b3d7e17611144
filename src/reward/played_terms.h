// The played-contrast term of the "prf" judge: what a request's words say about a song's tags,
// learned from the platform's search log.
//
// A training request's log (`extra.played` in the ingestion format, docs/data-format.md) lists
// the songs its listener played and how (like, finish, skip, dislike). Those songs mostly fit the
// request's situation already: the search found them for it. Among them, the liked or finished
// ones against the skipped or disliked ones say which song properties the request's words ask for
// or rule out - "no english" against an English song, which the judge's song space (trained on
// requests and the songs they liked, where every request names a situation and few exclude a
// language) can hardly see: there the best request vector separates the excluded language from
// fitting songs at AUC 0.61-0.64 (docs/rl.md, "Where the relevance goes").
//
// The model is a logistic regression over crosses (request feature x song tag), beside a learned
// weight on each play's offset (PlayedExample::offset: the ranking model's view of the listener's
// taste, so that the crosses need not explain it): request features
// are the dense retriever's (stemmed words and word pairs, DenseFeatures), song tags its genres,
// tags, language and decade. It has an intercept and a bias per tag (absorbing how often songs of
// a tag are liked whatever the request: taste and popularity), and a weight per cross met in at
// least `min_requests` distinct requests (a rarer cross is mostly noise); after the fit only the
// crosses weighing at least `min_weight` are kept (the default judge keeps 8-11 of ~26,000: the
// many weak ones are noise on songs unlike the played ones). The term a song gets for
// a request is the sum of its crosses' weights: the biases are left out, as they say nothing about
// fitting this request.
//
// Written here (not a library's logistic regression): Debian's packages offer none for sparse
// string crosses that is lighter than these ~60 lines of SGD, and the fit must be deterministic
// for a seed.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/entities.h"

namespace muchator {

inline constexpr const char* kJudgePlayedFile = "judge_played.json";

// One played song of a training request: liked or finished (positive) against skipped or
// disliked.
struct PlayedExample {
  std::string query;     // the request's text
  std::string query_id;  // the store's id of the request
  std::string song;      // song id
  bool positive = false;
  // What is known of the outcome without the request: the logit of the ranking model's P(like or
  // finish) for this listener, in this state, of this song (0: unknown). The fit learns a weight
  // for it, so the crosses explain what the listener's taste does not - whether the song fits the
  // request - instead of the taste that goes with the words a listener types.
  double offset = 0;
};

// The played songs of a query from its `extra.played` ([[song id, feedback], ...]); none when the
// query has no log. Throws Error naming the query and the entry when the log is malformed.
std::vector<PlayedExample> PlayedExamples(const Query& q);

// A song's tags as the term reads them: "g:GENRE", "t:TAG", "l:LANGUAGE", "d:DECADE".
std::vector<std::string> SongTags(const Song& s);

struct PlayedTermOptions {
  int min_requests = 10;  // a cross's weight is fitted only when it is met in this many requests
  int epochs = 3;
  double lr = 0.02;
  double l2 = 0.01;  // on the cross weights (not the intercept and biases)
  // After the fit, crosses whose weight is smaller than this in size are dropped: the term keeps
  // the few strong contrasts (an exclusion) and not the many weak ones, which are mostly noise
  // on songs unlike the played ones.
  double min_weight = 0;
  uint64_t seed = 1;
};

class PlayedTerms {
 public:
  PlayedTerms() = default;
  // Fits on `examples`; songs without tags in `song_tags` are skipped. An empty model (no
  // examples) scores every pair 0.
  static PlayedTerms Fit(const std::vector<PlayedExample>& examples,
                         std::unordered_map<std::string, std::vector<std::string>> song_tags,
                         const PlayedTermOptions& o);
  bool empty() const { return weights_.empty(); }
  // The term of a song for a request whose features (DenseFeatures) are `features`: 0 for an
  // unknown song.
  double Score(const std::vector<std::string>& features, const std::string& song) const;
  // The same in two steps, for many songs of one request: the weight each tag gets from the
  // request's features (the sum of its crosses), then a song's term, the sum over its tags.
  using TagWeights = std::unordered_map<std::string, double>;
  TagWeights WeighTags(const std::vector<std::string>& features) const;
  double Score(const TagWeights& tags, const std::string& song) const;
  // What the fit saw: examples, positives, requests, crosses met / fitted / kept, the offset's
  // weight, log loss per epoch, the strongest weights.
  const nlohmann::json& report() const { return report_; }

  // The file form: {"songs": {id: [tags]}, "weights": {feature: {tag: w}}, "report": ...}.
  nlohmann::json ToJson() const;
  // Throws Error naming `where` when `j` is not ToJson's form.
  static PlayedTerms FromJson(const nlohmann::json& j, const std::string& where);

 private:
  std::unordered_map<std::string, std::vector<std::string>> song_tags_;
  std::unordered_map<std::string, std::unordered_map<std::string, float>> weights_;
  nlohmann::json report_ = nlohmann::json::object();
};

}  // namespace muchator
