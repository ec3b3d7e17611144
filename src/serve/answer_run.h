// One request's answers while the server decodes them: per choice the text so far and what is
// not yet sent, the engine's result, and for reranked answers the pool's scores and the songs
// kept; per request the lock and condition the HTTP side waits on. Filled by the scheduler's
// callbacks (serve/server.cc), read by the endpoint that answers (JSON or server-sent events).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infer/engine.h"
#include "reward/ranker.h"
#include "serve/answer_text.h"

namespace muchator {

struct AnswerChoice {
  explicit AnswerChoice(const Tokenizer& t, const ItemCodec* c) : text(t, c) {}
  AnswerText text;
  std::string unsent;
  bool done = false, reported = false;
  GenerationResult result;
  std::string error;
  // Reranked answers: the songs kept from the model's pool and the answer's text (the pool's
  // own text is never sent).
  std::optional<std::vector<int>> kept;
  std::vector<FeedbackPrediction> kept_scores;  // the ranking model's, computed while reranking
  std::vector<float> first_song_scores;         // the model's score of every song as its first
  std::string reranked_text;
  size_t streamed = 0;         // bytes of the opening sentence already sent
  bool sentence_done = false;  // the list has begun: the rest waits for the pool
  // The opening sentence of text() so far (up to and with its newline): the model's own words,
  // which the reranking leaves as they are. Empty when the answer starts with the list (a
  // sentence never begins with a digit: AnswerGrammar::StartTokens).
  std::string_view Sentence() const {
    const std::string& all = text.text();
    if (!all.empty() && all[0] >= '0' && all[0] <= '9') return {};
    const size_t nl = all.find('\n');
    return std::string_view(all).substr(0, nl == std::string::npos ? all.size() : nl + 1);
  }
  const std::string& content() const { return kept ? reranked_text : text.text(); }
  // OpenAI's finish_reason: "length" when the model's own answer ran into its token limit; a
  // reranked answer is complete even when its pool filled the context. A cancelled answer (the
  // client went away; a time-out is answered as an error) reads "stop", as OpenAI has no word for
  // it.
  const char* finish_reason() const {
    return !kept && result.finish == FinishReason::kLength ? FinishReasonName(FinishReason::kLength)
                                                           : "stop";
  }
};
struct AnswerRun {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::unique_ptr<AnswerChoice>> choices;
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  bool first_token = false;
  bool AllDone() const {
    for (const auto& c : choices)
      if (!c->done) return false;
    return true;
  }
};

}  // namespace muchator
