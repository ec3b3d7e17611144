// Offline evaluation of generated answers (DESIGN.md section 7, docs/metrics.md): greedy answers
// of a checkpoint for held-out requests, constrained (catalog items only) and unconstrained (free
// text, parsed), scored by whichever judges are given - the relevance judge, the ranking model,
// the synthetic world's oracle - and by the rule metrics that need none.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
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
  // ScoreAnswers also returns ListMetrics::answers: each request's list as catalog song ids (the
  // report writes them to answers.jsonl, `muchator evaluate --answers`).
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

// The metrics M of one system's answers in one decoding mode (docs/metrics.md). Each layer that
// reads them (the report, GRPO's before/after and its alarm, the SFT step) reads these fields;
// JSON is only how they are written to report.json and grpo_report.json (ToJson).
struct OracleListMetrics {                  // with the oracle (a synthetic world)
  double relevance_at_10 = 0;               // relevant catalog entries / max(entries, list_size)
  double utility = 0;                       // mean oracle utility of the catalog items listed
  double recall_at_10 = 0, ndcg_at_10 = 0;  // against the oracle's own best list_size songs
  // Each request's own figures (its utility the mean over its list, 0 for an empty one), for
  // paired comparisons of systems: JSON per_request.{relevance_at_10, utility}.
  std::vector<double> request_relevance_at_10, request_utility;
  // For each kind of facet the requests have (situation, mood, genre, language,
  // exclude_language, era): the share of the songs listed for requests with that facet that
  // satisfy it on its own (what part of a request a system gets wrong).
  std::map<std::string, double> facet_fit;
};
struct RerankSettings {  // the reranked mode's serving settings, as they ran
  int pool = 0;
  double model_weight = 0, ranker_prior_weight = 0;
  std::string source;                                   // "first" or "list"
  std::optional<double> evidence_weight, prior_weight;  // with source "first" only
  double pool_entries = 0;  // songs the pools really held (a listed pool ends at a full context)
};
struct ListMetrics {
  double well_formed = 0;  // share of lists with at least one entry that parsed and ended
  double factuality = 0;   // share of entries that are catalog items
  double invalid_item_rate = 0, entries = 0;  // entries: mean list length
  double list_diversity = 0, dedup = 0;       // the diversity and de-duplication rules' means
  double diversity = 0;                       // distinct catalog items over all answers / catalog
  // With the judge: the share of entries judged relevant (entries that are not catalog songs are
  // not). With the ranking model: the mean 0-10 score of the entries (non-catalog ones 0).
  std::optional<double> relevance, personalization;
  // With the judge and the oracle: the judge's AUC against the oracle over the songs listed
  // (nullopt when they are all relevant or all not) and the share of the listed songs its gate
  // passes that are relevant (nullopt when it passes none); judge_on_listed says they were
  // measured (JSON null, not absent, when undefined).
  bool judge_on_listed = false;
  std::optional<double> judge_auc_on_listed, judge_precision_on_listed;
  std::optional<OracleListMetrics> oracle;
  // With keep_answers: each request's list as catalog song ids.
  std::optional<std::vector<std::vector<std::string>>> answers;
  // EvaluateOffline's own: mean prompt length (the cost of o.extras), the reranked mode's
  // settings, and with o.sensitivity the mean songs shared with the original list when the
  // request is asked with the next request's text / by the next request's listener (0-10).
  std::optional<double> prompt_tokens;
  std::optional<RerankSettings> rerank;
  std::optional<double> shared_other_request, shared_other_listener;
};
// report.json's and grpo_report.json's form of M (the fields' names, per_request, facet_fit).
nlohmann::json ToJson(const ListMetrics& m);

// EvaluateOffline's answer: M per decoding mode that ran.
struct OfflineEvaluation {
  size_t requests = 0;
  std::optional<ListMetrics> constrained, reranked, unconstrained;
  // The mode by name ("constrained", "reranked", "unconstrained"); nullptr when it did not run.
  const ListMetrics* Mode(std::string_view mode) const;
};
// {"requests": n, "constrained": M, "reranked": M, "unconstrained": M}, the modes that ran.
nlohmann::json ToJson(const OfflineEvaluation& e);

// The metrics M of answers[k] to requests[k], for any system (an LLM's parsed answers or a
// baseline's lists).
ListMetrics ScoreAnswers(Store& store, const Catalog& catalog,
                         std::span<const EvalRequest> requests, std::span<const EvalAnswer> answers,
                         const EvalJudges& judges, const OfflineEvalOptions& o);

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
// Greedy answers of `ck` to `requests` in each decoding mode o asks for ("reranked" only with
// rerank_pool and a ranking model; docs/metrics.md), scored by ScoreAnswers.
OfflineEvaluation EvaluateOffline(Store& store, Checkpoint& ck,
                                  std::span<const EvalRequest> requests, const EvalJudges& judges,
                                  const OfflineEvalOptions& o);

}  // namespace muchator
