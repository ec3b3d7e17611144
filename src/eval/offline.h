// Offline evaluation of generated answers (DESIGN.md section 7, docs/metrics.md): greedy answers
// of a checkpoint for held-out requests, constrained (catalog items only) and unconstrained (free
// text, parsed), scored by whichever judges are given - the relevance judge, the ranking model,
// the synthetic world's oracle - and by the rule metrics that need none.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "data/entities.h"
#include "infer/checkpoint.h"
#include "reward/requests.h"
#include "text/chat.h"

namespace muchator {

class Store;
class Judge;
class Ranker;
namespace world {
class Oracle;
}

struct OfflineEvalOptions {
  int history = kPromptHistory;  // events of the listener's history in the prompt
  int list_size = 10;            // songs asked for
  int max_new_tokens = 200;      // unconstrained answers
  bool constrained = true, unconstrained = true;
  int max_batch = 16;  // sequences decoded together
  // The prompted-LLM systems' additions to each request's prompt (few-shot examples, retrieved
  // candidates); unset = the plain prompt.
  std::function<PromptExtras(const EvalRequest&)> extras;
  // Constrained answers may list only the request's extras.candidates (the LLM ranks what the
  // retriever found).
  bool only_candidates = false;
  // Constrained answers also to each request with the next request's text (same listener) and by
  // the next request's listener (same text): shared_other_request and shared_other_listener, the
  // mean songs shared with the original list. Not with extras or only_candidates. Off by default
  // (it triples the constrained decoding); the evaluation report turns it on.
  bool sensitivity = false;
  // Constrained answers may open with one short sentence before the list, as the SFT answers do
  // ("Songs for sleep, calm."): the model names what the request asks for, then lists songs.
  bool sentence = true;
  // With a ranking model (EvalJudges::ranker) and rerank_pool > list_size, a third mode,
  // "reranked": the model's constrained list of rerank_pool songs (its candidates, in its order),
  // ordered by the ranking model for the listener and state, the first list_size kept (one song
  // per artist while the pool allows). The
  // model says what fits the request; the ranking model picks among those for the listener (the
  // personalisation GRPO is meant to teach, applied at decoding; docs/metrics.md). 0 = off.
  int rerank_pool = 0;
  // How much the model's own order counts in the reranked mode: pool songs are ordered by the
  // ranking model's score (0-10) minus rerank_model_weight * log2(1 + the song's position in
  // the model's list). 0 = the ranking model alone; large = the model's order (a pure cut of the
  // pool). The two signals are fused because neither alone is the answer: the model knows what
  // fits the request (its first songs are the most often relevant), the ranking model what suits
  // the listener (docs/metrics.md has the sweep that chose the default).
  double rerank_model_weight = 0;
  // Reranked mode with rerank_source "first": a pool song's order also adds this times its
  // first-song key (score less the prior) minus the pool's best key (RerankPool; 0 = off).
  double rerank_evidence_weight = 0;
  // Where the reranked mode's pool comes from: "first" (the rerank_pool catalog songs the model
  // scores highest at its answer's first song, best first: the whole catalog scored by the one
  // forward pass that picks that song; FirstItemScores, single-token item codecs such as atomic;
  // with other codecs "list" is used) or "list" (the model lists rerank_pool songs one after the
  // other). report.json's rerank_source says which one ran.
  std::string rerank_source = "first";
  // ScoreAnswers also returns "answers": each request's list as catalog song ids (the report
  // writes them to answers.jsonl, `muchator evaluate --answers`).
  bool keep_answers = false;
  // Reranked mode with rerank_source "first": the pool ranks songs by their first-song score
  // minus rerank_prior_weight x their mean first-song log-probability over at most
  // prior_requests requests of prior_split (a training split; FirstSongPrior). 0: off.
  double rerank_prior_weight = 1.0;
  // Reranked mode: a pool song's ranking-model score less this times its mean score over the
  // listeners of the same prior_requests requests (RankerSongPrior): what a listener likes beyond
  // what every listener likes - the ranking model learnt from logs where popular songs were
  // shown more. 0: off.
  double rerank_ranker_prior_weight = 0;
  std::string prior_split = "sft";
  int prior_requests = 64;
};

// One system's answer to one request: the catalog items listed (indexes, in order), the entries
// that are not catalog items, and whether the answer parsed as a well-formed list.
struct EvalAnswer {
  std::vector<int> items;
  std::vector<std::string> invalid_items;
  bool well_formed = true;
};

// The metrics M (below) of answers[k] to requests[k], for any system (an LLM's parsed answers or a
// baseline's lists).
nlohmann::json ScoreAnswers(Store& store, const Catalog& catalog,
                            std::span<const EvalRequest> requests,
                            std::span<const EvalAnswer> answers, const EvalJudges& judges,
                            const OfflineEvalOptions& o);

class Engine;
class FirstItemScores;
// The prior of FirstItemScores::SetPrior: the mean first-song log-probabilities of `engine`'s
// model over at most `n` requests of `split` that have a listener (prompts rendered as the
// evaluation and the server render theirs: the listener's context before the request, its state).
// Empty when the store has no such request. Shared by the evaluation and the server, so the
// served pool is the evaluated one.
std::vector<float> FirstSongPrior(Store& store, const Checkpoint& ck, Engine& engine,
                                  const FirstItemScores& first, const std::string& split, int n,
                                  int history);
// {"requests": n, "constrained": M, "reranked": M, "unconstrained": M}, M per decoding mode
// ("reranked" only with rerank_pool and a ranking model; docs/metrics.md):
//   well_formed (a list with at least one entry that parsed and ended), factuality (share of
//   entries that are catalog items), invalid_item_rate, entries (mean list length), list_diversity
//   (the diversity rule's mean), dedup (the rule's mean), diversity (distinct catalog items over
//   all answers / catalog size); with the judge: relevance (share of entries judged relevant;
//   non-catalog entries are not); with the ranking model: personalization (mean 0-10 score of
//   entries; non-catalog ones 0); with the oracle: relevance_at_10 (relevant catalog entries /
//   max(entries, list_size)) and utility (mean oracle utility of the catalog items listed), and
//   per_request: {"relevance_at_10": [...], "utility": [...]} (each request's own figures, its
//   utility the mean over its list, 0 for an empty one: for paired comparisons of systems) and
//   facet_fit: {kind: share} for each kind of facet the requests have (situation, mood, genre,
//   language, exclude_language, era), the share of the songs listed for requests with that facet
//   that satisfy it on its own (what part of a request a system gets wrong);
//   with the judge and the oracle: judge_auc_on_listed (the judge's AUC against the oracle over
//   the songs listed; null when they are all relevant or all not) and judge_precision_on_listed
//   (share of the listed songs its gate passes that are relevant; null when it passes none);
//   and prompt_tokens (mean prompt length: the cost of o.extras).
nlohmann::json EvaluateOffline(Store& store, Checkpoint& ck, std::span<const EvalRequest> requests,
                               const EvalJudges& judges, const OfflineEvalOptions& o);

}  // namespace muchator
