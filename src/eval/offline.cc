#include "eval/offline.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <unordered_set>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/stats.h"
#include "data/store.h"
#include "infer/engine.h"
#include "infer/rerank.h"
#include "reward/hybrid.h"
#include "reward/judge.h"
#include "reward/ranker.h"
#include "text/chat.h"
#include "text/languages.h"
#include "world/oracle.h"

namespace muchator {

namespace {

// The facets of a query one by one, named as the oracle's queries.jsonl names them.
std::vector<std::pair<std::string, world::QueryFacets>> SingleFacets(const world::QueryFacets& f) {
  std::vector<std::pair<std::string, world::QueryFacets>> out;
  world::QueryFacets one;
  if (f.situation >= 0) one = {}, one.situation = f.situation, out.emplace_back("situation", one);
  if (f.mood >= 0) one = {}, one.mood = f.mood, out.emplace_back("mood", one);
  if (f.genre >= 0) one = {}, one.genre = f.genre, out.emplace_back("genre", one);
  if (f.language >= 0) {
    one = {}, one.language = f.language, one.exclude_language = f.exclude_language;
    out.emplace_back(f.exclude_language ? "exclude_language" : "language", one);
  }
  if (f.era >= 0) one = {}, one.era = f.era, out.emplace_back("era", one);
  return out;
}

}  // namespace

nlohmann::json ToJson(const ListMetrics& m) {
  nlohmann::json j = {{"well_formed", m.well_formed},
                      {"factuality", m.factuality},
                      {"invalid_item_rate", m.invalid_item_rate},
                      {"entries", m.entries},
                      {"list_diversity", m.list_diversity},
                      {"dedup", m.dedup},
                      {"diversity", m.diversity}};
  auto nullable = [](const std::optional<double>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  if (m.relevance) j["relevance"] = *m.relevance;
  if (m.judge_on_listed) {
    j["judge_auc_on_listed"] = nullable(m.judge_auc_on_listed);
    j["judge_precision_on_listed"] = nullable(m.judge_precision_on_listed);
  }
  if (m.personalization) j["personalization"] = *m.personalization;
  if (const auto& t = m.oracle) {
    j["relevance_at_10"] = t->relevance_at_10;
    j["utility"] = t->utility;
    j["recall_at_10"] = t->recall_at_10;
    j["ndcg_at_10"] = t->ndcg_at_10;
    j["per_request"] = {{"relevance_at_10", t->request_relevance_at_10},
                        {"utility", t->request_utility}};
    j["facet_fit"] = nlohmann::json::object();
    for (const auto& [kind, share] : t->facet_fit) j["facet_fit"][kind] = share;
  }
  if (m.answers) j["answers"] = *m.answers;
  if (m.prompt_tokens) j["prompt_tokens"] = *m.prompt_tokens;
  if (const auto& r = m.rerank) {
    j["rerank_pool"] = r->pool, j["rerank_model_weight"] = r->model_weight;
    if (r->evidence_weight) j["rerank_evidence_weight"] = *r->evidence_weight;
    j["rerank_ranker_prior_weight"] = r->ranker_prior_weight;
    j["rerank_source"] = r->source;
    if (r->prior_weight) j["rerank_prior_weight"] = *r->prior_weight;
    j["pool_entries"] = r->pool_entries;
  }
  if (m.shared_other_request) j["shared_other_request"] = *m.shared_other_request;
  if (m.shared_other_listener) j["shared_other_listener"] = *m.shared_other_listener;
  return j;
}

const ListMetrics* OfflineEvaluation::Mode(std::string_view mode) const {
  const std::optional<ListMetrics>* m = mode == "constrained"     ? &constrained
                                        : mode == "reranked"      ? &reranked
                                        : mode == "unconstrained" ? &unconstrained
                                                                  : nullptr;
  return m && *m ? &**m : nullptr;
}

nlohmann::json ToJson(const OfflineEvaluation& e) {
  nlohmann::json j = {{"requests", e.requests}};
  for (const char* mode : {"constrained", "reranked", "unconstrained"})
    if (const ListMetrics* m = e.Mode(mode)) j[mode] = ToJson(*m);
  return j;
}

ListMetrics ScoreAnswers(Store& store, const Catalog& catalog,
                         std::span<const EvalRequest> requests, std::span<const EvalAnswer> answers,
                         const EvalJudges& judges, const OfflineEvalOptions& o) {
  if (requests.size() != answers.size() || requests.empty())
    throw Error("ScoreAnswers needs one answer per request and at least one request");
  const std::vector<UserContext> contexts = RequestContexts(store, catalog, requests, o.history);
  std::vector<RankerContext> ranker_contexts;
  for (size_t k = 0; k < requests.size(); ++k)
    ranker_contexts.push_back(MakeRankerContext(requests[k].user, contexts[k], catalog));
  // The metrics that are rewards too are computed by the reward code (one definition).
  std::map<std::string, double> weights = {{"format", 1}, {"fact", 1}, {"div", 1}, {"dedup", 1}};
  RewardModels models;
  models.catalog = &catalog;
  if (judges.judge) {
    models.relevance = MakeRelevanceFn(*judges.judge, catalog);
    models.relevance_threshold = judges.judge->threshold();
    weights["rel"] = 1;
  }
  if (judges.ranker) {
    models.personal = MakePersonalFn(*judges.ranker, catalog);
    weights["pers"] = 1;
  }
  HybridReward metrics(weights, models);
  std::vector<ListInput> lists;
  std::unordered_set<int> distinct;
  double oracle_rel = 0, util = 0, invalid = 0, entries = 0, formed = 0, recall = 0, ndcg = 0;
  int64_t util_n = 0;
  std::vector<double> request_rel, request_util;  // per request, for paired comparisons
  std::vector<std::vector<bool>> listed_relevant(answers.size());  // the oracle's, per entry
  // Each kind of facet on its own: songs listed for requests that have it, and those that
  // satisfy it. Which part of a request a system gets wrong (GRPO's drift went to moods and
  // excluded languages, docs/rl.md) is invisible in relevance@10 alone.
  std::map<std::string, std::pair<double, double>> facet_fit;  // kind -> (satisfied, listed)
  for (size_t k = 0; k < answers.size(); ++k) {
    const EvalAnswer& a = answers[k];
    ListInput in;
    in.items = a.items;
    in.invalid_items = a.invalid_items;
    in.well_formed = a.well_formed;
    in.expected_items = o.list_size;
    in.query = requests[k].query;
    in.context = static_cast<int>(k);
    for (const auto& h : contexts[k].history)
      if (h.feedback == Feedback::kLike || h.feedback == Feedback::kFinish)
        in.recent_positive.insert(h.item);
    const int n = in.entries();
    entries += n;
    formed += a.well_formed && n > 0;
    invalid += static_cast<double>(a.invalid_items.size());
    distinct.insert(a.items.begin(), a.items.end());
    lists.push_back(std::move(in));
    if (!judges.oracle) continue;
    const auto& q = requests[k];
    const world::QueryFacets facets = q.query_id.empty() ? judges.oracle->ParseQuery(q.query)
                                                         : judges.oracle->FacetsOf(q.query_id);
    const std::vector<std::string> best = judges.oracle->Best(q.user, q.state, facets, o.list_size);
    const std::unordered_set<std::string> best_set(best.begin(), best.end());
    const double util_before = util;
    double relevant = 0, dcg = 0, idcg = 0, hits = 0;
    for (size_t r = 0; r < a.items.size(); ++r) {
      const std::string& id = catalog.items[static_cast<size_t>(a.items[r])].id;
      const bool rel = judges.oracle->Relevant(facets, id);
      listed_relevant[k].push_back(rel);
      relevant += rel;
      util += judges.oracle->Utility(q.user, q.state, id), ++util_n;
      if (r < static_cast<size_t>(o.list_size) && best_set.count(id))
        hits += 1, dcg += 1.0 / std::log2(r + 2.0);
    }
    for (size_t r = 0; r < best.size(); ++r) idcg += 1.0 / std::log2(r + 2.0);
    for (const auto& [kind, one] : SingleFacets(facets)) {
      auto& [satisfied, listed] = facet_fit[kind];
      for (int item : a.items)
        satisfied += judges.oracle->Relevant(one, catalog.items[static_cast<size_t>(item)].id);
      listed += static_cast<double>(a.items.size());
    }
    oracle_rel +=
        n > 0 ? relevant / std::max(n, o.list_size) : 0.0;  // missing entries count as misses
    request_rel.push_back(n > 0 ? relevant / std::max(n, o.list_size) : 0.0);
    request_util.push_back(
        a.items.empty() ? 0.0 : (util - util_before) / static_cast<double>(a.items.size()));
    recall += best.empty() ? 0.0 : hits / static_cast<double>(best.size());
    ndcg += idcg > 0 ? dcg / idcg : 0.0;
  }
  const auto scored = metrics.Compute(lists, ranker_contexts);
  auto mean = [&](const std::string& name) {
    double s = 0;
    for (const auto& b : scored) s += b.raw.at(name);
    return s / static_cast<double>(scored.size());
  };
  const double n = static_cast<double>(answers.size());
  ListMetrics m;
  m.well_formed = formed / n;
  m.factuality = mean("fact");
  m.invalid_item_rate = entries > 0 ? invalid / entries : 0.0;
  m.entries = entries / n;
  m.list_diversity = mean("div");
  m.dedup = mean("dedup");
  m.diversity = static_cast<double>(distinct.size()) / static_cast<double>(catalog.items.size());
  if (judges.judge) m.relevance = mean("rel");
  if (judges.judge && judges.oracle) {
    // The judge on the songs this system listed, against the oracle: what a reward built on it
    // sees of the system's own mistakes (held-out pairs measure it on other songs).
    std::vector<std::pair<double, bool>> pairs;
    double passed = 0, passed_relevant = 0;
    for (size_t k = 0; k < scored.size(); ++k)
      for (size_t i = 0; i < scored[k].relevance.size() && i < listed_relevant[k].size(); ++i) {
        const bool gate = scored[k].relevance[i] >= judges.judge->threshold();
        pairs.push_back({scored[k].relevance[i], listed_relevant[k][i]});
        passed += gate, passed_relevant += gate && listed_relevant[k][i];
      }
    const double auc = Auc(std::move(pairs));
    m.judge_on_listed = true;
    if (!std::isnan(auc)) m.judge_auc_on_listed = auc;
    if (passed > 0) m.judge_precision_on_listed = passed_relevant / passed;
  }
  if (judges.ranker) m.personalization = 10 * mean("pers");
  if (judges.oracle) {
    OracleListMetrics& t = m.oracle.emplace();
    t.relevance_at_10 = oracle_rel / n;
    t.utility = util_n ? util / static_cast<double>(util_n) : 0.0;
    t.recall_at_10 = recall / n;
    t.ndcg_at_10 = ndcg / n;
    t.request_relevance_at_10 = std::move(request_rel);
    t.request_utility = std::move(request_util);
    for (const auto& [kind, c] : facet_fit)
      if (c.second > 0) t.facet_fit[kind] = c.first / c.second;
  }
  if (o.keep_answers) {
    auto& lists = m.answers.emplace();
    for (const auto& a : answers) {
      auto& ids = lists.emplace_back();
      for (int item : a.items) ids.push_back(catalog.items[static_cast<size_t>(item)].id);
    }
  }
  return m;
}

std::vector<float> FirstSongPrior(Store& store, const Checkpoint& ck, Engine& engine,
                                  const FirstItemScores& first, const std::string& split, int n,
                                  int history) {
  const std::vector<EvalRequest> requests = RequestsFromStore(store, split, n);
  const auto contexts = RequestContexts(store, ck.catalog, requests, history);
  std::vector<std::vector<int>> prompts;
  ConstraintOptions one;
  one.num_items = 1;
  const int max_prompt = engine.max_len() - ck.grammar->MaxAnswerTokens(one);
  for (size_t k = 0; k < requests.size(); ++k)
    prompts.push_back(
        FitPrompt(*ck.tok, *ck.codec, contexts[k], requests[k].query, history, max_prompt).ids);
  return prompts.empty() ? std::vector<float>() : first.MeanFirstLogProbs(engine, prompts);
}

OfflineEvaluation EvaluateOffline(Store& store, Checkpoint& ck,
                                  std::span<const EvalRequest> requests, const EvalJudges& judges,
                                  const OfflineEvalOptions& o) {
  if (!ck.codec || !ck.grammar) throw Error("evaluation needs the checkpoint's codec.json");
  if (requests.empty())
    throw Error("no requests to evaluate", store.path(), "check the split or the triplets file");
  EngineOptions eo;
  eo.max_batch = o.max_batch;
  Engine engine(ck.model, *ck.tok, ck.grammar.get(), eo);
  // Prompts leave room for a whole list: the oldest history events give way (FitPrompt).
  ConstraintOptions answer;
  answer.num_items = o.list_size;
  answer.allow_sentence = o.sentence;
  const int max_prompt = engine.max_len() - ck.grammar->MaxAnswerTokens(answer);
  std::vector<std::vector<int>> prompts;
  double prompt_tokens = 0;
  std::vector<PromptExtras> all_extras;
  const auto contexts = RequestContexts(store, ck.catalog, requests, o.history);
  for (const auto& ctx : contexts) {
    const EvalRequest& q = requests[prompts.size()];
    const PromptExtras& extras = all_extras.emplace_back(o.extras ? o.extras(q) : PromptExtras{});
    prompts.push_back(
        FitPrompt(*ck.tok, *ck.codec, ctx, q.query, o.history, max_prompt, nullptr, &extras).ids);
    prompt_tokens += static_cast<double>(prompts.back().size());
  }
  prompt_tokens /= static_cast<double>(prompts.size());
  OfflineEvaluation out;
  out.requests = requests.size();
  // The ranking model's order of `items` for request k's listener (context, state); stable.
  std::vector<RankerContext> ranker_contexts;
  std::vector<int> song_rows;
  if (judges.ranker && o.rerank_pool > o.list_size) {
    for (size_t k = 0; k < requests.size(); ++k)
      ranker_contexts.push_back(MakeRankerContext(requests[k].user, contexts[k], ck.catalog));
    for (const auto& item : ck.catalog.items) song_rows.push_back(judges.ranker->SongRow(item.id));
  }
  std::vector<float> ranker_prior;
  if (!ranker_contexts.empty() && o.rerank_ranker_prior_weight != 0) {
    ranker_prior = RankerSongPrior(store, ck.catalog, *judges.ranker, o.prior_split,
                                   o.prior_requests, o.history);
    if (ranker_prior.empty())
      spdlog::warn(
          "evaluation: no '{}' requests with a listener for the ranking model's prior: reranked "
          "without it",
          o.prior_split);
  }
  auto rerank = [&](const RankerContext& rc, const std::vector<int>& items,
                    const std::vector<float>& evidence) {
    std::vector<int> rows;
    for (int i : items) rows.push_back(song_rows[static_cast<size_t>(i)]);
    std::vector<float> score;
    for (const auto& p : judges.ranker->Predict(rc, rows)) score.push_back(p.score);
    return RerankItems(
        items, score, ranker_prior, *ck.grammar, o.list_size,
        {o.rerank_model_weight, o.rerank_evidence_weight, o.rerank_ranker_prior_weight}, evidence);
  };
  // A constrained request for `prompt`: `items` catalog songs, the opening sentence if allowed.
  // The language constraints a request states ("no english songs", "only korean songs") are
  // hard, as the server honours them (text/languages.h).
  const CatalogLanguages languages(store, ck.catalog);
  auto constraint_of = [&](int items, size_t k) {
    ConstraintOptions c;
    c.allow_sentence = o.sentence;
    c.num_items = items;
    c.banned_items = languages.Banned(requests[k].query);
    if (o.only_candidates) {  // every catalog item but this request's candidates is banned
      std::vector<char> allowed(ck.catalog.items.size(), 0);
      for (const int item : all_extras[k].candidates) allowed[static_cast<size_t>(item)] = 1;
      for (const int item : c.banned_items) allowed[static_cast<size_t>(item)] = 0;
      c.banned_items.clear();
      for (size_t i = 0; i < allowed.size(); ++i)
        if (!allowed[i]) c.banned_items.push_back(static_cast<int>(i));
    }
    return c;
  };
  auto constrained_request = [&](std::vector<int> prompt, int items, size_t k) {
    GenerationRequest r;
    r.prompt = std::move(prompt);
    r.sampling.max_new_tokens = 4096;  // the grammar ends the list
    r.constraint = constraint_of(items, k);
    return r;
  };
  // The reranked mode's pool: the model's best songs at its answer's first song where the codec
  // writes an item as one token (rerank_source "first"), else a constrained list of rerank_pool
  // songs. A pool request for request k's constraints; `scores` receives the first-song scores.
  std::optional<FirstItemScores> first = FirstItemScores::ForSource(o.rerank_source, *ck.codec);
  if (first && !ranker_contexts.empty() && o.rerank_prior_weight != 0) {
    std::vector<float> prior =
        FirstSongPrior(store, ck, engine, *first, o.prior_split, o.prior_requests, o.history);
    if (prior.empty())
      spdlog::warn(
          "evaluation: no '{}' requests with a listener for the pool's prior: the pool without it",
          o.prior_split);
    first->SetPrior(std::move(prior), o.rerank_prior_weight);
  }
  // A listed pool holds at most the grammar's longest list (the context fills near it anyway).
  const int listed_pool = std::min(o.rerank_pool, ck.grammar->max_items());
  auto pool_request = [&](std::vector<int> prompt, size_t k, std::vector<float>* scores) {
    GenerationRequest r =
        constrained_request(std::move(prompt), first ? o.list_size : listed_pool, k);
    if (first)
      r.logits_hook = first->Hook(scores);
    else
      r.constraint->fit_items =
          o.list_size;  // a listed pool needs the answer's songs; the rest may be cut
    return r;
  };
  auto pool_of = [&](const std::vector<int>& listed, const std::vector<float>& scores, size_t k) {
    return first ? first->Pool(scores, o.rerank_pool, constraint_of(o.rerank_pool, k), *ck.grammar)
                 : listed;
  };
  // The first-song keys of a pool's songs (empty for a listed pool or without the evidence term).
  auto evidence_of = [&](const std::vector<int>& pool, const std::vector<float>& scores) {
    return PoolEvidence(first ? &*first : nullptr, o.rerank_evidence_weight, scores, pool);
  };
  for (const std::string mode : {"constrained", "reranked", "unconstrained"}) {
    const bool constrained = mode != "unconstrained", reranked = mode == "reranked";
    if (mode == "constrained" && !o.constrained) continue;
    if (mode == "unconstrained" && !o.unconstrained) continue;
    if (reranked && (ranker_contexts.empty() || !o.constrained)) continue;
    std::vector<GenerationRequest> reqs;
    std::vector<std::vector<float>> scores(prompts.size());  // reranked from the first song only
    for (size_t k = 0; k < prompts.size(); ++k) {
      if (reranked) {
        reqs.push_back(pool_request(prompts[k], k, &scores[k]));
      } else if (constrained) {
        reqs.push_back(constrained_request(prompts[k], o.list_size, k));
      } else {
        GenerationRequest r;
        r.prompt = prompts[k];
        r.sampling.max_new_tokens = o.max_new_tokens;
        reqs.push_back(std::move(r));
      }
    }
    std::vector<EvalAnswer> answers;
    double pool_entries = 0;
    for (const auto& res : engine.Generate(std::move(reqs))) {
      const size_t k = answers.size();
      const ParsedAnswer a = ParseAnswer(*ck.tok, *ck.codec, res.tokens);
      answers.push_back({a.items, a.invalid_items, a.well_formed()});
      if (!reranked) continue;
      const std::vector<int> pool = pool_of(a.items, scores[k], k);
      pool_entries += static_cast<double>(pool.size());
      answers.back().items = rerank(ranker_contexts[k], pool, evidence_of(pool, scores[k]));
    }
    ListMetrics m = ScoreAnswers(store, ck.catalog, requests, answers, judges, o);
    m.prompt_tokens = prompt_tokens;
    if (reranked) {
      RerankSettings& r = m.rerank.emplace();
      r.pool = o.rerank_pool, r.model_weight = o.rerank_model_weight;
      if (first) r.evidence_weight = o.rerank_evidence_weight;
      r.ranker_prior_weight = ranker_prior.empty() ? 0.0 : o.rerank_ranker_prior_weight;
      r.source = first ? "first" : "list";
      if (first) r.prior_weight = first->prior_weight();
      // Songs the pools really held: a listed pool ends early when the engine's context is full.
      r.pool_entries = pool_entries / static_cast<double>(std::max<size_t>(1, answers.size()));
    }
    if (constrained && o.sensitivity && requests.size() > 1 && !o.extras && !o.only_candidates) {
      // Does the answer depend on the request and on the listener? Request k asked again with
      // request k+1's text by the same listener (same context), and by listener k+1 (their
      // context and state); mean songs shared with the original list (0-10).
      std::vector<GenerationRequest> swapped;
      const size_t n = requests.size();
      std::vector<std::vector<float>> swapped_scores(2 * n);
      for (size_t k = 0; k < n; ++k)
        for (const bool other_listener : {false, true}) {
          const size_t j = (k + 1) % n;
          std::vector<int> prompt =
              FitPrompt(*ck.tok, *ck.codec, contexts[other_listener ? j : k],
                        requests[other_listener ? k : j].query, o.history, max_prompt)
                  .ids;
          std::vector<float>* scores = &swapped_scores[2 * k + (other_listener ? 1 : 0)];
          swapped.push_back(reranked ? pool_request(std::move(prompt), k, scores)
                                     : constrained_request(std::move(prompt), o.list_size, k));
        }
      const auto res = engine.Generate(std::move(swapped));
      double same_listener = 0, same_request = 0;
      for (size_t k = 0; k < n; ++k) {
        const std::unordered_set<int> base(answers[k].items.begin(), answers[k].items.end());
        for (const bool other_listener : {false, true}) {
          const size_t s = 2 * k + (other_listener ? 1 : 0);
          std::vector<int> listed = ParseAnswer(*ck.tok, *ck.codec, res[s].tokens).items;
          if (reranked) {
            const std::vector<int> pool = pool_of(listed, swapped_scores[s], k);
            listed = rerank(ranker_contexts[other_listener ? (k + 1) % n : k], pool,
                            evidence_of(pool, swapped_scores[s]));
          }
          double shared = 0;
          for (int i : listed) shared += base.count(i);
          (other_listener ? same_request : same_listener) += shared;
        }
      }
      m.shared_other_request = same_listener / static_cast<double>(n);
      m.shared_other_listener = same_request / static_cast<double>(n);
    }
    (mode == "constrained" ? out.constrained
     : reranked            ? out.reranked
                           : out.unconstrained) = std::move(m);
  }
  return out;
}

}  // namespace muchator
