#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.h"
#include "core/file.h"
#include "core/stats.h"
#include "core/threads.h"
#include "corpus/builders.h"
#include "eval/baselines.h"
#include "eval/knowledge.h"
#include "eval/offline.h"
#include "eval/report.h"
#include "eval/run_report.h"
#include "infer/checkpoint.h"
#include "infer/engine.h"
#include "infer/rerank.h"
#include "reward/hybrid.h"
#include "reward/judge.h"
#include "reward/judge_train.h"
#include "reward/ranker_train.h"
#include "support/tiny_world.h"
#include "text/languages.h"
#include "text/special_tokens.h"
#include "world/oracle.h"

namespace muchator {
namespace {

// A ranking model trained for one pass over the tiny world's events.
Ranker OneEpochRanker(Store& store) {
  RankerTrainOptions ro;
  ro.epochs = 1;
  return TrainRanker(store, ro, nullptr, nullptr);
}

// With the judge and the oracle, the judge is measured on the songs the system listed: its AUC
// against the oracle over them and the share of those its gate passes that are relevant
// (recomputed here from the judge's own probabilities). Lists of half relevant, half irrelevant
// songs, so both classes are present.
TEST(EvalTest, MeasuresTheJudgeOnTheListedSongs) {
  SetupThreads(1);
  testing::TinyWorld w("eval_judge", 9);
  const std::string ck = w.MakeCheckpoint("atomic", 3, "atomic");
  JudgeLabelOptions lo;
  lo.max_train = 200;
  lo.max_heldout = 50;
  BuildGenerativeJudge(*w.store, w.oracle.get(), ck, lo, w.dir + "/judge",
                       {.prior_requests = 8, .feedback_songs = 0});
  auto judge = Judge::Load(w.dir + "/judge");
  const Catalog catalog = Catalog::FromStore(*w.store);
  const std::vector<EvalRequest> requests = RequestsFromStore(*w.store, "test", 12);
  ASSERT_GE(requests.size(), 5u);
  std::unordered_map<std::string, int> index;
  for (size_t i = 0; i < catalog.items.size(); ++i)
    index[catalog.items[i].id] = static_cast<int>(i);
  std::vector<EvalAnswer> answers;
  std::vector<std::string> queries;
  std::vector<int> rows, query_of;
  std::vector<bool> relevant;
  for (size_t k = 0; k < requests.size(); ++k) {
    const auto facets = w.oracle->FacetsOf(requests[k].query_id);
    EvalAnswer a;
    int hits = 0, misses = 0;
    for (size_t i = 0; i < catalog.items.size() && a.items.size() < 10; ++i) {
      const bool rel = w.oracle->Relevant(facets, catalog.items[i].id);
      if ((rel ? hits : misses) >= 5) continue;
      ++(rel ? hits : misses);
      a.items.push_back(static_cast<int>(i));
      rows.push_back(judge->SongRow(catalog.items[i].id));
      query_of.push_back(static_cast<int>(k));
      relevant.push_back(rel);
    }
    queries.push_back(requests[k].query);
    answers.push_back(a);
  }
  EvalJudges judges;
  judges.oracle = w.oracle.get();
  judges.judge = judge.get();
  const auto m = ScoreAnswers(*w.store, catalog, requests, answers, judges, OfflineEvalOptions{});
  const auto p = judge->Probability(queries, rows, query_of);
  std::vector<std::pair<double, bool>> scored;
  double passed = 0, passed_relevant = 0;
  for (size_t j = 0; j < p.size(); ++j) {
    scored.push_back({p[j], relevant[j]});
    const bool gate = p[j] >= judge->threshold();
    passed += gate, passed_relevant += gate && relevant[j];
  }
  ASSERT_TRUE(m.judge_on_listed && m.judge_auc_on_listed) << ToJson(m).dump();
  EXPECT_NEAR(*m.judge_auc_on_listed, Auc(scored), 1e-9);
  // Each facet on its own: the situation (every request has one) recomputed here. A song that
  // fits the whole request fits its situation, so the share is at least the relevant share.
  double situation_fit = 0, listed = 0;
  for (size_t k = 0; k < requests.size(); ++k) {
    world::QueryFacets one;
    one.situation = w.oracle->FacetsOf(requests[k].query_id).situation;
    for (int item : answers[k].items)
      situation_fit += w.oracle->Relevant(one, catalog.items[static_cast<size_t>(item)].id);
    listed += static_cast<double>(answers[k].items.size());
  }
  ASSERT_TRUE(m.oracle && m.oracle->facet_fit.count("situation")) << ToJson(m).dump();
  const double situation = m.oracle->facet_fit.at("situation");
  EXPECT_NEAR(situation, situation_fit / listed, 1e-9);
  EXPECT_GE(situation, 0.5);  // half the songs are relevant
  EXPECT_LT(situation, 1.0);  // and some miss the situation
  ASSERT_GT(passed, 0);       // the gate passes some of the listed songs
  ASSERT_TRUE(m.judge_precision_on_listed);
  EXPECT_NEAR(*m.judge_precision_on_listed, passed_relevant / passed, 1e-9);
  // The report's form names the same figures.
  const nlohmann::json j = ToJson(m);
  EXPECT_DOUBLE_EQ(j["facet_fit"]["situation"].get<double>(), situation);
  EXPECT_DOUBLE_EQ(j["judge_auc_on_listed"].get<double>(), *m.judge_auc_on_listed);
  EXPECT_EQ(j["per_request"]["utility"].size(), requests.size());
  // Without the oracle there is nothing to measure the judge against.
  judges.oracle = nullptr;
  const ListMetrics no_oracle =
      ScoreAnswers(*w.store, catalog, requests, answers, judges, OfflineEvalOptions{});
  EXPECT_FALSE(no_oracle.judge_on_listed);
  EXPECT_FALSE(ToJson(no_oracle).contains("judge_auc_on_listed"));
  EXPECT_FALSE(ToJson(no_oracle).contains("relevance_at_10"));
}

// Metric definitions on lists whose right values are known, then the baselines on the tiny world.
TEST(EvalTest, ScoresKnownListsAndRerankingRaisesPersonalization) {
  SetupThreads(1);
  testing::TinyWorld w("eval", 9);
  const Catalog catalog = Catalog::FromStore(*w.store);
  const std::vector<EvalRequest> requests = RequestsFromStore(*w.store, "test", 30);
  ASSERT_GE(requests.size(), 10u);
  EvalJudges judges;
  judges.oracle = w.oracle.get();
  OfflineEvalOptions o;
  std::unordered_map<std::string, int> index;
  for (size_t i = 0; i < catalog.items.size(); ++i)
    index[catalog.items[i].id] = static_cast<int>(i);

  // The oracle's own best lists: recall@10 = nDCG@10 = 1; with 5 made-up entries appended,
  // factuality = 10 / 15 and the invalid-item rate 5 / 15; an empty answer scores 0.
  std::vector<EvalAnswer> best, padded, empty(requests.size());
  for (const auto& q : requests) {
    EvalAnswer a;
    for (const auto& id : w.oracle->Best(q.user, q.state, w.oracle->FacetsOf(q.query_id), 10))
      a.items.push_back(index.at(id));
    best.push_back(a);
    a.invalid_items = {"x", "y", "z", "u", "v"};
    padded.push_back(a);
  }
  const auto m = ScoreAnswers(*w.store, catalog, requests, best, judges, o);
  ASSERT_TRUE(m.oracle);
  EXPECT_DOUBLE_EQ(m.oracle->recall_at_10, 1.0);
  EXPECT_NEAR(m.oracle->ndcg_at_10, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(m.factuality, 1.0);
  EXPECT_DOUBLE_EQ(m.well_formed, 1.0);
  const auto p = ScoreAnswers(*w.store, catalog, requests, padded, judges, o);
  EXPECT_NEAR(p.factuality, 10.0 / 15, 1e-12);
  EXPECT_NEAR(p.invalid_item_rate, 5.0 / 15, 1e-12);
  EXPECT_NEAR(p.entries, 15.0, 1e-12);
  const auto e = ScoreAnswers(*w.store, catalog, requests, empty, judges, o);
  ASSERT_TRUE(e.oracle);
  EXPECT_EQ(e.oracle->recall_at_10, 0.0);
  EXPECT_EQ(e.oracle->relevance_at_10, 0.0);
  EXPECT_EQ(e.well_formed, 0.0);
  // A reversed best list keeps recall but loses nDCG.
  std::vector<EvalAnswer> reversed = best;
  for (auto& a : reversed) std::reverse(a.items.begin(), a.items.end());
  const auto r = ScoreAnswers(*w.store, catalog, requests, reversed, judges, o);
  ASSERT_TRUE(r.oracle);
  EXPECT_DOUBLE_EQ(r.oracle->recall_at_10, 1.0);
  EXPECT_NEAR(r.oracle->ndcg_at_10, 1.0, 1e-12);  // all 10 are hits: order within them does not
                                                  // matter
  for (auto& a : reversed)
    a.items.erase(a.items.begin(), a.items.begin() + 5);  // keep the 5 worst of the best
  EXPECT_NEAR(ScoreAnswers(*w.store, catalog, requests, reversed, judges, o).oracle->recall_at_10,
              0.5, 1e-12);

  // Baselines: popularity gives everyone the same list; reranking BM25's candidates by the
  // ranking model cannot lower the model's mean score of the top 10 (it picks the best 10 of a
  // superset of BM25's own top 10).
  Ranker ranker = OneEpochRanker(*w.store);
  judges.ranker = &ranker;
  BaselineDeps deps{w.store.get(), &catalog, &ranker};
  auto pop = MakeBaseline("popularity", deps);
  EXPECT_EQ(pop->Recommend(requests[0], {}, 10), pop->Recommend(requests[1], {}, 10));
  const auto mp = EvaluateBaseline(*pop, *w.store, catalog, requests, judges, o);
  EXPECT_NEAR(mp.diversity, 10.0 / catalog.items.size(), 1e-12);
  auto bm25 = MakeBaseline("bm25", deps);
  auto rerank = MakeBaseline("bm25_rerank", deps);
  const auto mb = EvaluateBaseline(*bm25, *w.store, catalog, requests, judges, o);
  const auto mr = EvaluateBaseline(*rerank, *w.store, catalog, requests, judges, o);
  std::printf("popularity %s\nbm25 %s\nbm25_rerank %s\n", ToJson(mp).dump().c_str(),
              ToJson(mb).dump().c_str(), ToJson(mr).dump().c_str());
  EXPECT_GT(mr.personalization.value(), mb.personalization.value());
  EXPECT_THROW(MakeBaseline("nope", deps), Error);
  // A request's language constraint holds for the baselines: the popularity list of "no <the
  // most common language> songs" has none of them and is still list_size long, where the plain
  // popularity list has some.
  {
    std::map<std::string, std::string> language;  // song id -> code
    std::map<std::string, int> count;
    w.store->ForEachSong([&](const Song& s) { ++count[language[s.id] = s.language]; });
    std::string common;
    for (const auto& [code, n] : count)
      if (!code.empty() && (common.empty() || n > count[common])) common = code;
    std::string name;  // requests name languages in full ("no en songs" is not a constraint)
    for (const char* n : {"english", "spanish", "french", "korean", "japanese", "portuguese",
                          "german", "italian", "mandarin", "chinese", "hindi", "arabic"})
      if (name.empty() && LanguageCode(n) == LanguageCode(common)) name = n;
    ASSERT_FALSE(name.empty()) << "no name for the world's language " << common;
    OfflineEvalOptions keep = o;
    keep.keep_answers = true;
    std::vector<EvalRequest> plain(requests.begin(), requests.begin() + 3), banned = plain;
    for (auto& r : banned) r.query = "something calm, no " + name + " songs";
    const auto count_common = [&](const ListMetrics& m, size_t want_size) {
      int n = 0;
      for (const auto& list : *m.answers) {
        EXPECT_EQ(list.size(), want_size);
        for (const auto& id : list) n += language.at(id) == common;
      }
      return n;
    };
    EXPECT_GT(count_common(EvaluateBaseline(*pop, *w.store, catalog, plain, judges, keep), 10), 0);
    EXPECT_EQ(count_common(EvaluateBaseline(*pop, *w.store, catalog, banned, judges, keep), 10), 0);
  }

  // The dense retriever learns from the training queries alone (never rl or test ones), and its
  // reranked list, like BM25's, raises the ranking model's score; a malformed triplets line is an
  // error naming its file and line.
  std::set<std::string> trained;
  w.store->ForEachQuery([&](const Query& q) {
    if (q.split != "rl" && q.split != "test" && !q.relevant.empty()) trained.insert(q.text);
  });
  ASSERT_FALSE(trained.empty());
  auto dense_index = TrainDenseRetriever(deps);
  EXPECT_EQ(dense_index->report()["queries"].get<size_t>(), trained.size());
  deps.dense = dense_index;
  auto dense = MakeBaseline("dense", deps), dense_rerank = MakeBaseline("dense_rerank", deps);
  EXPECT_EQ(dense->Recommend(requests[0], {}, 10).size(), 10u);
  const auto md = EvaluateBaseline(*dense, *w.store, catalog, requests, judges, o);
  const auto mdr = EvaluateBaseline(*dense_rerank, *w.store, catalog, requests, judges, o);
  EXPECT_GT(mdr.personalization.value(), md.personalization.value());
  BaselineDeps bad{w.store.get(), &catalog, &ranker};
  bad.triplets = w.dir + "/bad_triplets.jsonl";
  WriteFileAtomic(bad.triplets, "{\"query\": \"x\"}\n");
  try {
    TrainDenseRetriever(bad);
    ADD_FAILURE() << "a triplet without items was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad_triplets.jsonl:1"), std::string::npos) << e.what();
  }

  // RAG's candidates are BM25's list for the request; few-shot examples come from a triplets
  // file: n distinct users that `keep` accepts, each with at most `items` catalog songs, the same
  // for the same seed; a malformed line names its file and line.
  const auto retrieve = RetrievedCandidates(deps, 7);
  EXPECT_EQ(retrieve(requests[0]).candidates, bm25->Recommend(requests[0], {}, 7));
  EXPECT_TRUE(retrieve(requests[0]).examples.empty());
  const std::string triplets = w.dir + "/fewshot.jsonl";
  {
    std::string lines;
    for (int u = 0; u < 6; ++u)
      for (int k = 0; k < 2; ++k)
        lines += nlohmann::json({{"user", "u" + std::to_string(u)},
                                 {"query", "query " + std::to_string(u) + "." + std::to_string(k)},
                                 {"items",
                                  {"missing", catalog.items[u].id, catalog.items[u + 1].id,
                                   catalog.items[u + 2].id}}})
                     .dump() +
                 "\n";
    WriteFileAtomic(triplets, lines);
  }
  const auto keep = [](const std::string& user) { return user != "u0"; };
  const auto ex = FewShotExamples(triplets, catalog, 3, 2, 5, keep);
  ASSERT_EQ(ex.size(), 3u);
  std::set<std::string> users;
  for (const auto& e : ex) {
    ASSERT_EQ(e.items.size(), 2u);  // the unknown id is skipped, the cap holds
    const int u = e.query[6] - '0';
    users.insert(std::to_string(u));
    EXPECT_NE(u, 0);
    EXPECT_EQ(e.items[0], catalog.Find(catalog.items[u].id));
  }
  EXPECT_EQ(users.size(), 3u);
  EXPECT_EQ(FewShotExamples(triplets, catalog, 3, 2, 5, keep)[0].query, ex[0].query);
  WriteFileAtomic(triplets, "{\"user\": \"u1\"}\n");
  try {
    FewShotExamples(triplets, catalog, 3, 2, 5, keep);
    ADD_FAILURE() << "a line without a query must fail";
  } catch (const Error& e) {
    EXPECT_NE(FormatError(e).find("fewshot.jsonl:1"), std::string::npos) << FormatError(e);
  }
}

// The Table 5 questions are well formed (the right option is right by the data and the
// oracle), and the batched option scorer equals scoring each sequence alone.
TEST(EvalTest, KnowledgeQuestionsAndOptionScoring) {
  SetupThreads(1);
  testing::TinyWorld w("knowledge", 4);
  Checkpoint ck = LoadCheckpoint(w.MakeCheckpoint("ck", 2));
  KnowledgeOptions o;
  o.per_kind = 12;
  const auto qs = BuildKnowledgeQuestions(*w.store, ck.catalog, *ck.tok, *ck.codec, w.oracle.get(),
                                          w.dir + "/w/oracle/general_mcq.jsonl", o);
  std::map<std::string, int> kinds;
  for (const auto& q : qs) {
    ++kinds[q.kind];
    ASSERT_EQ(q.options.size(), 4u) << q.id;
    ASSERT_TRUE(q.answer >= 0 && q.answer < 4) << q.id;
    for (size_t a = 0; a < 4; ++a)
      for (size_t b = a + 1; b < 4; ++b)
        EXPECT_NE(q.options[a], q.options[b]) << q.id << ": two equal options";
    if (q.kind == "artist") {
      const auto song = w.store->GetSong(q.id.substr(7));
      ASSERT_TRUE(song.has_value());
      EXPECT_EQ(ck.tok->Decode(q.options[q.answer]),
                " " + w.store->GetArtist(song->artists[0])->name);
    }
    if (q.kind == "q2i") {
      const auto facets = w.oracle->FacetsOf(q.id.substr(4));
      for (int k = 0; k < 4; ++k) {
        const int item = ck.codec->Decode(q.options[k]);
        ASSERT_GE(item, 0);
        EXPECT_EQ(w.oracle->Graded(facets, ck.catalog.items[item].id), k == q.answer ? 3 : 0)
            << q.id;
      }
    }
  }
  for (const char* k : {"artist", "genre", "q2i", "general"}) EXPECT_EQ(kinds[k], 12) << k;
  // Same seed, same questions.
  const auto again =
      BuildKnowledgeQuestions(*w.store, ck.catalog, *ck.tok, *ck.codec, w.oracle.get(),
                              w.dir + "/w/oracle/general_mcq.jsonl", o);
  ASSERT_EQ(again.size(), qs.size());
  for (size_t i = 0; i < qs.size(); ++i) EXPECT_EQ(again[i].options, qs[i].options);

  // Batched (right-padded, 7 sequences per forward) = one sequence per forward = by hand.
  const auto batched = ScoreOptions(ck.model, qs, 7);
  const auto alone = ScoreOptions(ck.model, qs, 1);
  for (size_t i = 0; i < qs.size(); ++i)
    for (size_t k = 0; k < 4; ++k) {
      EXPECT_NEAR(batched[i][k].sum, alone[i][k].sum, 1e-3) << qs[i].id;
      EXPECT_NEAR(batched[i][k].mean, alone[i][k].sum / qs[i].options[k].size(), 1e-3);
    }
  {
    torch::NoGradGuard ng;
    const auto& q = qs.front();
    std::vector<int64_t> ids(q.prompt.begin(), q.prompt.end());
    ids.insert(ids.end(), q.options[0].begin(), q.options[0].end());
    const auto logp = torch::log_softmax(
        ck.model->forward(torch::tensor(ids).view({1, static_cast<int64_t>(ids.size())})), -1);
    double sum = 0;
    for (size_t j = 0; j < q.options[0].size(); ++j)
      sum += logp[0][q.prompt.size() + j - 1][q.options[0][j]].item<double>();
    EXPECT_NEAR(batched[0][0].sum, sum, 1e-3);
  }
  // Accuracy: the summed score and the per-token score can choose differently.
  std::vector<McQuestion> two = {qs[0], qs[0]};
  two[0].answer = 0, two[1].answer = 2;
  std::vector<std::vector<OptionScore>> scores(2, std::vector<OptionScore>(4));
  for (auto& s : scores)
    s = {{-1, -1}, {-9, -9}, {-4, -0.5}, {-8, -8}};  // sum picks 0, mean picks 2
  const auto acc = KnowledgeAccuracy(two, scores);
  EXPECT_EQ(acc[qs[0].kind]["n"].get<int>(), 2);
  EXPECT_DOUBLE_EQ(acc[qs[0].kind]["acc"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(acc[qs[0].kind]["acc_norm"].get<double>(), 0.5);
  scores[1] = {{-1, -1}, {-9, -9}, {-4, -0.5}, {-8, -8}};
  two[0].answer = 2;
  EXPECT_DOUBLE_EQ(KnowledgeAccuracy(two, scores)[qs[0].kind]["acc"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(KnowledgeAccuracy(two, scores)[qs[0].kind]["acc_norm"].get<double>(), 1.0);
}

// A tiny world's briefly trained checkpoint and n of its test requests, evaluated with two turns
// of history in the constrained mode only (the tests below vary the rest of the options).
struct ConstrainedEval {
  ConstrainedEval(const char* name, size_t n, const std::string& codec = "title")
      : w((SetupThreads(1), name), 4),  // one thread before anything trains
        ck(LoadCheckpoint(w.MakeCheckpoint("ck", 4, codec))),
        requests(RequestsFromStore(*w.store, "test", n)) {
    o.history = 2;
    o.unconstrained = false;
  }
  testing::TinyWorld w;
  Checkpoint ck;
  std::vector<EvalRequest> requests;
  OfflineEvalOptions o;
};

// Prompt extras reach the prompts (their length is reported), and with only_candidates every
// constrained answer is drawn from its request's candidates: the same 10 for every request give
// each request exactly those 10, so the coverage is 10 / catalog.
TEST(EvalTest, ExtrasLengthenPromptsAndOnlyCandidatesLimitsTheAnswers) {
  ConstrainedEval setup("extras", 4);
  auto& [w, ck, requests, o] = setup;
  ASSERT_EQ(requests.size(), 4u);
  const auto plain = EvaluateOffline(*w.store, ck, requests, {}, o);
  const std::vector<int> fixed = {3, 14, 15, 92, 65, 35, 89, 79, 32, 38};
  o.extras = [&](const EvalRequest&) {
    PromptExtras e;
    e.candidates = fixed;
    return e;
  };
  const auto listed = EvaluateOffline(*w.store, ck, requests, {}, o);
  ASSERT_TRUE(plain.constrained && listed.constrained);
  EXPECT_GT(listed.constrained->prompt_tokens.value(),
            plain.constrained->prompt_tokens.value() + 10 * 3);
  o.only_candidates = true;
  const auto only = EvaluateOffline(*w.store, ck, requests, {}, o);
  ASSERT_TRUE(only.constrained);
  EXPECT_DOUBLE_EQ(only.constrained->diversity,
                   10.0 / static_cast<double>(ck.catalog.items.size()));
  EXPECT_DOUBLE_EQ(only.constrained->entries, 10.0);
  EXPECT_GT(plain.constrained->diversity, 0.0);
  EXPECT_FALSE(plain.reranked);       // no ranking model, no pool
  EXPECT_FALSE(plain.unconstrained);  // not asked for
  EXPECT_FALSE(ToJson(plain).contains("reranked"));
}

// The reranked mode: the model's pool of rerank_pool songs, the ranking model's best 10 of it for
// the listener. The pool starts with the constrained list (same greedy prefix), so the reranked
// lists score higher by the ranking model (Personalization), and they are still 10 catalog songs.
TEST(EvalTest, RerankedModeKeepsTheRankingModelsBestOfTheModelsPool) {
  ConstrainedEval setup("reranked", 8);
  auto& [w, ck, requests, o] = setup;
  ASSERT_EQ(requests.size(), 8u);
  Ranker ranker = OneEpochRanker(*w.store);
  EvalJudges judges;
  judges.ranker = &ranker;
  o.rerank_pool = 25;
  const auto r = EvaluateOffline(*w.store, ck, requests, judges, o);
  ASSERT_TRUE(r.reranked && r.reranked->rerank && r.constrained) << ToJson(r).dump();
  EXPECT_DOUBLE_EQ(r.reranked->entries, 10.0);
  EXPECT_DOUBLE_EQ(r.reranked->factuality, 1.0);
  EXPECT_EQ(r.reranked->rerank->pool, 25);
  EXPECT_EQ(ToJson(r)["reranked"]["rerank_pool"], 25);
  std::printf("constrained %s\nreranked %s\n", ToJson(*r.constrained).dump().c_str(),
              ToJson(*r.reranked).dump().c_str());
  EXPECT_GT(r.reranked->personalization.value(), r.constrained->personalization.value());
  // A large model weight keeps the model's own order: the ranking model's choice is undone.
  o.rerank_model_weight = 1000;
  const auto m = EvaluateOffline(*w.store, ck, requests, judges, o);
  ASSERT_TRUE(m.reranked && m.reranked->rerank);
  EXPECT_EQ(m.reranked->rerank->model_weight, 1000.0);
  EXPECT_LT(m.reranked->personalization.value(), r.reranked->personalization.value());
  // A listed pool larger than the grammar's longest list is cut to it, not refused.
  o.rerank_pool = 500;
  const auto big = EvaluateOffline(*w.store, ck, requests, judges, o);
  ASSERT_TRUE(big.reranked && big.reranked->rerank);
  EXPECT_EQ(big.reranked->rerank->source, "list");
  EXPECT_LE(big.reranked->rerank->pool_entries, static_cast<double>(ck.grammar->max_items()));
  EXPECT_DOUBLE_EQ(big.reranked->entries, 10.0);
}

// With the atomic codec the reranked pool is the model's best songs for its first answer
// position (FirstItemScores): the greedy answer's first song is the pool's first, banned songs
// and artists never enter it, a temperature samples it (seeded), and the evaluation reports the
// source it used (the title codec, several tokens per item, falls back to listing the pool).
TEST(EvalTest, RerankedPoolFromTheFirstSongScoresTheWholeCatalog) {
  ConstrainedEval setup("first", 6, "atomic");
  auto& [w, ck, requests, o] = setup;
  ASSERT_EQ(requests.size(), 6u);
  const std::optional<FirstItemScores> first = FirstItemScores::For(*ck.codec);
  ASSERT_TRUE(first.has_value());
  Engine engine(ck.model, *ck.tok, ck.grammar.get());
  std::vector<std::vector<float>> scores(requests.size());
  std::vector<GenerationRequest> reqs;
  const UserContext none;
  for (size_t k = 0; k < requests.size(); ++k) {
    GenerationRequest r;
    r.prompt = RenderPrompt(*ck.tok, *ck.codec, none, requests[k].query, 0).ids;
    r.sampling.max_new_tokens = 512;
    r.constraint = ConstraintOptions{};
    r.constraint->num_items = 3;
    r.logits_hook = first->Hook(&scores[k]);
    reqs.push_back(std::move(r));
  }
  const auto results = engine.Generate(std::move(reqs));
  const ConstraintOptions c;
  for (size_t k = 0; k < results.size(); ++k) {
    ASSERT_EQ(scores[k].size(), ck.catalog.items.size());
    ASSERT_FALSE(results[k].items.empty());
    const int top = results[k].items[0];
    const std::vector<int> pool = first->Pool(scores[k], 50, c, *ck.grammar);
    ASSERT_EQ(pool.size(), 50u);
    EXPECT_EQ(pool[0], top) << "greedy decoding picks the best-scored song first";
    for (size_t j = 1; j < pool.size(); ++j) EXPECT_GE(scores[k][pool[j - 1]], scores[k][pool[j]]);
    ConstraintOptions no_top;
    no_top.banned_items = {top};
    EXPECT_EQ(first->Pool(scores[k], 1, no_top, *ck.grammar)[0], pool[1]);
    ConstraintOptions no_artist;
    no_artist.banned_artists = {ck.grammar->ArtistOf(top)};
    for (int it : first->Pool(scores[k], 200, no_artist, *ck.grammar))
      EXPECT_NE(ck.grammar->ArtistOf(it), ck.grammar->ArtistOf(top));
    const auto sampled = first->Pool(scores[k], 10, c, *ck.grammar, 100.0, 7);
    EXPECT_EQ(sampled, first->Pool(scores[k], 10, c, *ck.grammar, 100.0, 7));
    EXPECT_NE(sampled, first->Pool(scores[k], 10, c, *ck.grammar));
  }
  Ranker ranker = OneEpochRanker(*w.store);
  EvalJudges judges;
  judges.ranker = &ranker;
  o.rerank_pool = 40;
  o.sensitivity = true;
  const auto r = EvaluateOffline(*w.store, ck, requests, judges, o);
  ASSERT_TRUE(r.reranked && r.reranked->rerank && r.constrained);
  EXPECT_EQ(r.reranked->rerank->source, "first");
  EXPECT_DOUBLE_EQ(r.reranked->rerank->pool_entries, 40.0);
  EXPECT_DOUBLE_EQ(r.reranked->entries, 10.0);
  EXPECT_GT(r.reranked->personalization.value(), r.constrained->personalization.value());
  EXPECT_TRUE(r.reranked->shared_other_listener.has_value());
  const Checkpoint titles = LoadCheckpoint(w.MakeCheckpoint("titles", 4, "title"));
  EXPECT_FALSE(FirstItemScores::For(*titles.codec).has_value());
  EXPECT_FALSE(FirstItemScores::ForSource("list", *ck.codec).has_value());
  EXPECT_THROW(FirstItemScores::ForSource("best", *ck.codec), Error);
}

// The first-song prior: each song's mean log-probability as the first song over training
// requests; the pool ranks by score - weight x prior, and the evaluation takes the prior from the
// store's sft requests, never from the evaluated split.
TEST(EvalTest, FirstSongPriorIsTheMeanFirstSongLogProbabilityAndReordersThePool) {
  ConstrainedEval setup("prior", 6, "atomic");
  auto& [w, ck, requests, o] = setup;
  std::optional<FirstItemScores> first = FirstItemScores::For(*ck.codec);
  ASSERT_TRUE(first.has_value());
  Engine engine(ck.model, *ck.tok, ck.grammar.get());
  std::vector<std::vector<int>> prompts;
  std::vector<std::vector<float>> scores(requests.size());
  std::vector<GenerationRequest> reqs;
  for (size_t k = 0; k < requests.size(); ++k) {
    prompts.push_back(RenderPrompt(*ck.tok, *ck.codec, UserContext{}, requests[k].query, 0).ids);
    GenerationRequest r;
    r.prompt = prompts.back();
    r.sampling.max_new_tokens = 512;
    r.constraint = ConstraintOptions{};
    r.constraint->num_items = 2;
    r.logits_hook = first->Hook(&scores[k]);
    reqs.push_back(std::move(r));
  }
  engine.Generate(std::move(reqs));
  const std::vector<float> prior = first->MeanFirstLogProbs(engine, prompts);
  ASSERT_EQ(prior.size(), ck.catalog.items.size());
  for (size_t i : {size_t{0}, size_t{7}, prior.size() - 1}) {  // the mean of log-softmax over songs
    double expect = 0;
    for (const auto& s : scores) {
      double z = 0;
      for (float x : s) z += std::exp(static_cast<double>(x));
      expect += (s[i] - std::log(z)) / static_cast<double>(scores.size());
    }
    EXPECT_NEAR(prior[i], expect, 1e-4) << "song " << i;
  }
  const ConstraintOptions c;
  const std::vector<int> plain = first->Pool(scores[0], 30, c, *ck.grammar);
  first->SetPrior(prior, 0.0);
  EXPECT_EQ(first->Pool(scores[0], 30, c, *ck.grammar), plain) << "weight 0 is no prior";
  first->SetPrior(prior, 2.0);
  EXPECT_DOUBLE_EQ(first->prior_weight(), 2.0);
  const std::vector<int> with_prior = first->Pool(scores[0], 30, c, *ck.grammar);
  EXPECT_NE(with_prior, plain);
  for (size_t j = 1; j < with_prior.size(); ++j) {
    const auto key = [&](int i) {
      return scores[0][static_cast<size_t>(i)] - 2.0 * prior[static_cast<size_t>(i)];
    };
    EXPECT_GE(key(with_prior[j - 1]), key(with_prior[j]));
  }
  // From the store: the sft split's requests; none for a split the store lacks.
  EXPECT_EQ(FirstSongPrior(*w.store, ck, engine, *first, "sft", 8, 10).size(), prior.size());
  EXPECT_TRUE(FirstSongPrior(*w.store, ck, engine, *first, "no-such-split", 8, 10).empty());
  Ranker ranker = OneEpochRanker(*w.store);
  EvalJudges judges;
  judges.ranker = &ranker;
  o.rerank_pool = 40;
  o.rerank_prior_weight = 1.0;
  EXPECT_DOUBLE_EQ(EvaluateOffline(*w.store, ck, requests, judges, o)
                       .reranked.value()
                       .rerank->prior_weight.value(),
                   1.0);
  // The ranking model's prior: each song's mean score over the listeners of the split's requests.
  const std::vector<float> rprior = RankerSongPrior(*w.store, ck.catalog, ranker, "sft", 8, 10);
  ASSERT_EQ(rprior.size(), ck.catalog.items.size());
  {
    const std::vector<EvalRequest> sft = RequestsFromStore(*w.store, "sft", 8);
    ASSERT_FALSE(sft.empty());
    const std::vector<int> rows = {ranker.SongRow(ck.catalog.items[3].id)};
    double expect = 0;
    for (const auto& q : sft) {
      UserContext ctx = UserContextFromStore(*w.store, ck.catalog, q.user, q.ts, 10);
      ctx.state = q.state;
      expect += ranker.Predict(MakeRankerContext(q.user, ctx, ck.catalog), rows)[0].score /
                static_cast<double>(sft.size());
    }
    EXPECT_NEAR(rprior[3], expect, 1e-4);
  }
  EXPECT_TRUE(RankerSongPrior(*w.store, ck.catalog, ranker, "no-such-split", 8, 10).empty());
  // In the reranked mode it changes the lists (a prior weight of 5 subtracts a lot) and is
  // reported.
  o.rerank_ranker_prior_weight = 0;
  o.keep_answers = true;
  const auto no_rprior = EvaluateOffline(*w.store, ck, requests, judges, o);
  o.rerank_ranker_prior_weight = 5;
  const auto with_rprior = EvaluateOffline(*w.store, ck, requests, judges, o);
  ASSERT_TRUE(no_rprior.reranked && with_rprior.reranked && with_rprior.reranked->answers);
  EXPECT_DOUBLE_EQ(with_rprior.reranked->rerank.value().ranker_prior_weight, 5.0);
  EXPECT_NE(with_rprior.reranked->answers, no_rprior.reranked->answers);
  // The evidence term reaches the lists too.
  o.rerank_evidence_weight = 50;
  const auto with_evidence = EvaluateOffline(*w.store, ck, requests, judges, o);
  ASSERT_TRUE(with_evidence.reranked);
  EXPECT_DOUBLE_EQ(with_evidence.reranked->rerank.value().evidence_weight.value(), 50.0);
  EXPECT_NE(with_evidence.reranked->answers, with_rprior.reranked->answers);
  o.rerank_evidence_weight = 0;
  o.rerank_ranker_prior_weight = 0;
  o.keep_answers = false;
  o.prior_split = "no-such-split";
  EXPECT_DOUBLE_EQ(EvaluateOffline(*w.store, ck, requests, judges, o)
                       .reranked.value()
                       .rerank->prior_weight.value(),
                   0.0);
}

// U2I perplexity: the item tokens of the held-out tail only (not feedback, not context), scored
// as a plain full-logits forward of the document's last `context` tokens scores them; with
// drop_history every held-out document is one event, with the same item tokens.
TEST(EvalTest, U2iPerplexityScoresTheHeldOutItemTokens) {
  SetupThreads(1);
  testing::TinyWorld w("u2i", 5);
  Checkpoint ck = LoadCheckpoint(w.MakeCheckpoint("ck", 3));
  CorpusOptions co;
  co.heldout_tail = 3;
  const std::string corpus = w.dir + "/corpus";
  BuildCorpora(*w.store, *ck.tok, *ck.codec, ck.catalog, corpus, co);
  const int64_t context = 64;  // shorter than the documents, and than some tails
  const U2iPerplexity u = MeasureU2iPerplexity(ck.model, *ck.tok, corpus, 6, context);
  ASSERT_EQ(u.docs, 6);

  // Reference: every position's log-softmax, summed where the mask is on and no feedback token.
  ShardReader r(corpus, "stage3_heldout");
  std::set<int> feedback;
  for (int f = 0; f < 4; ++f) feedback.insert(ck.tok->TokenId(FeedbackToken(f)));
  double nll = 0;
  int64_t tokens = 0;
  torch::NoGradGuard g;
  ck.model->eval();
  for (int64_t d = 0; d < 6; ++d) {
    const auto ids = r.Tokens(d);
    const auto mask = r.Mask(d);
    ASSERT_GT(ids.size(), static_cast<size_t>(context));
    size_t first = 0;  // the first scored token: the window keeps it and one token before it
    while (!mask[first] || feedback.count(ids[first])) ++first;
    const size_t from = std::min(ids.size() - context, first - 1);
    EXPECT_GT(from, 0u);  // the document was cut
    std::vector<int64_t> x(ids.begin() + static_cast<long>(from), ids.end());
    const torch::Tensor lp =
        torch::log_softmax(ck.model->forward(torch::tensor(x).view({1, -1}))[0], -1);
    for (size_t i = from + 1; i < ids.size(); ++i)
      if (mask[i] && !feedback.count(ids[i])) {
        nll -= lp[static_cast<int64_t>(i - from - 1)][ids[i]].item<double>();
        ++tokens;
      }
  }
  EXPECT_EQ(u.tokens, tokens);
  EXPECT_EQ(u.tokens, MeasureU2iPerplexity(ck.model, *ck.tok, corpus, 6, 100000).tokens);
  EXPECT_NEAR(u.nll, nll / tokens, 1e-4);
  EXPECT_NEAR(u.perplexity, std::exp(nll / tokens), 1e-3 * u.perplexity);
  EXPECT_GT(u.perplexity, 1.0);
  // Table 6's "no item history": one event per held-out document, the same items.
  co.drop_history = true;
  BuildCorpora(*w.store, *ck.tok, *ck.codec, ck.catalog, w.dir + "/nohistory", co);
  ShardReader nh(w.dir + "/nohistory", "stage3_heldout");
  EXPECT_EQ(nh.num_docs(), r.num_docs() * co.heldout_tail);
  for (int64_t d = 0; d < nh.num_docs(); ++d) {
    int states = 0;
    for (int t : nh.Tokens(d)) states += t == ck.tok->TokenId(tok::kState);
    ASSERT_EQ(states, 1) << d;
  }
  // The same item tokens as with history (a long window holds every tail whole).
  EXPECT_EQ(MeasureU2iPerplexity(ck.model, *ck.tok, w.dir + "/nohistory").tokens,
            MeasureU2iPerplexity(ck.model, *ck.tok, corpus, 0, 100000).tokens);
  EXPECT_THROW(MeasureU2iPerplexity(ck.model, *ck.tok, w.dir + "/nowhere"), Error);
}

// The report's building blocks: escaping, and a chart whose points land where the axes say.
TEST(ReportTest, PairedComparisonsOfGrpoAgainstSftPerModeAndMetric) {
  auto row = [](const std::string& system, const std::string& mode, double shift) {
    std::vector<double> util, rel;
    for (int k = 0; k < 50; ++k)
      util.push_back(-1.0 + 0.02 * k + shift), rel.push_back(0.5 + 0.01 * (k % 5));
    return nlohmann::json{{"system", system},
                          {"mode", mode},
                          {"per_request", {{"utility", util}, {"relevance_at_10", rel}}}};
  };
  // GRPO lists raise every request's utility by 0.2 and leave relevance as it was.
  const nlohmann::json rows = {
      row("bm25", "list", 0), row("sft", "constrained", 0), row("grpo", "constrained", 0.2),
      row("sft", "reranked", 0)};  // no grpo row in this mode: no comparison
  const auto p = PairedComparisons(rows);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0]["mode"], "constrained");
  EXPECT_EQ(p[0]["metric"], "utility");
  EXPECT_NEAR(p[0]["mean"].get<double>(), 0.2, 1e-9);
  EXPECT_TRUE(p[0]["excludes_zero"].get<bool>());
  EXPECT_EQ(p[1]["metric"], "relevance_at_10");
  EXPECT_NEAR(p[1]["mean"].get<double>(), 0.0, 1e-12);
  EXPECT_FALSE(p[1]["excludes_zero"].get<bool>());
  EXPECT_TRUE(PairedComparisons(nlohmann::json::array({row("sft", "constrained", 0)})).empty());
}

TEST(RunReportTest, EscapesTextAndPlacesChartPoints) {
  EXPECT_EQ(HtmlEscape("<b a='1'>\"R&B\"</b>"),
            "&lt;b a=&#39;1&#39;&gt;&quot;R&amp;B&quot;&lt;/b&gt;");
  const std::string svg = LineChartSvg("loss <per> stage", "step", "loss",
                                       {{"a", {{0, 0}, {1, 1}}}, {"b&c", {{0, 1}, {1, 0}}}});
  EXPECT_NE(svg.find("<title>loss &lt;per&gt; stage</title>"), std::string::npos) << svg;
  EXPECT_NE(svg.find("b&amp;c"), std::string::npos);
  // Plot area: x 60..620, y 30 (top, max) .. 260 (bottom, min).
  EXPECT_NE(svg.find("points='60.0,260.0 620.0,30.0 '"), std::string::npos) << svg;
  EXPECT_NE(svg.find("points='60.0,30.0 620.0,260.0 '"), std::string::npos) << svg;
  EXPECT_NE(LineChartSvg("empty", "x", "y", {}).find("no data"), std::string::npos);
  EXPECT_THROW(WriteRunReport("/nonexistent/run", "/tmp/x"), Error);
}

// The paper's figures (RUN/paper.json) are quoted as "paper: ..." rows in the tables of the same
// kind, with "-" where the paper has no such metric (the oracle's columns); a malformed file is
// an error naming the file and the row.
TEST(RunReportTest, QuotesThePapersFiguresBesideOurs) {
  const std::string run = ::testing::TempDir() + "muchator_paper_run_" + std::to_string(::getpid());
  std::filesystem::remove_all(run);
  MakeDirs(run + "/report");
  MakeDirs(run + "/benchmarks");
  WriteFileAtomic(
      run + "/report/report.json",
      R"j({"requests": 5, "split": "test", "rows": [{"system": "sft", "mode": )j"
      R"j("constrained", "personalization": 4.5, "relevance": 0.5, "diversity": 0.01, )j"
      R"j("factuality": 1.0, "relevance_at_10": 0.04, "utility": -1.5}]})j");
  WriteFileAtomic(run + "/benchmarks/knowledge.json",
                  R"j({"per_kind": 10, "rows": [{"checkpoint": "stage3", "accuracy": {"artist": )j"
                  R"j({"acc": 0.3}}}]})j");
  const std::string md = run + "/report/run_report.md";
  WriteRunReport(run, run + "/report");
  EXPECT_EQ(ReadFile(md).find("paper:"), std::string::npos);
  EXPECT_NE(ReadFile(md).find("--paper FILE"), std::string::npos);

  // GRPO's report: the judge on the policy's own songs before and after, one row.
  MakeDirs(run + "/grpo");
  WriteFileAtomic(run + "/grpo/grpo_report.json",
                  R"j({"before": {"constrained": {"judge_auc_on_listed": 0.625, )j"
                  R"j("facet_fit": {"mood": 0.875, "situation": 0.9}}}, )j"
                  R"j("after": {"constrained": {"judge_auc_on_listed": null, )j"
                  R"j("facet_fit": {"mood": 0.75, "situation": 0.925}}}})j");
  WriteRunReport(run, run + "/report");
  EXPECT_NE(ReadFile(md).find("held-out RL requests (SFT -> GRPO) | 0.625 -> - |"),
            std::string::npos)
      << ReadFile(md);
  EXPECT_NE(ReadFile(md).find("(SFT -> GRPO) | mood 0.875 -> 0.750; situation 0.900 -> 0.925 |"),
            std::string::npos)
      << ReadFile(md);

  WriteFileAtomic(run + "/paper.json",
                  R"j({"source": "MuChator (CIKM'26)", "evaluation": [{"system": "MuChator", )j"
                  R"j("personalization": 7.25, "relevance": 0.875}], "table5": [{"checkpoint": )j"
                  R"j("stage 3", "artist": 0.625, "u2i_perplexity": 3.5}]})j");
  CheckPaperFigures(run + "/paper.json");
  WriteRunReport(run, run + "/report");
  const std::string text = ReadFile(md);
  EXPECT_NE(text.find("| paper: MuChator | - | 7.250 | 0.875 | - | - | - | - | - | - | - |"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("| paper: stage 3 | 0.625 | - | - | - | - | 3.50 |"), std::string::npos)
      << text;
  EXPECT_NE(text.find("quoted from MuChator (CIKM'26)"), std::string::npos);
  EXPECT_NE(ReadFile(run + "/report/index.html").find("paper: MuChator"), std::string::npos);

  // Each mistake is caught when the file is given, with the row and what to do.
  auto error_of = [&](const std::string& content) {
    WriteFileAtomic(run + "/bad.json", content);
    try {
      CheckPaperFigures(run + "/bad.json");
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), run + "/bad.json");
      return e.problem();
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of(R"j({"evaluation": []})j").find("source"), std::string::npos);
  EXPECT_NE(error_of(R"j({"source": "x", "table9": []})j").find("table9"), std::string::npos);
  EXPECT_NE(error_of(R"j({"source": "x", "table3": [{"system": "a", "oracle": 1}]})j")
                .find("table3[0]: \"oracle\" is not a metric"),
            std::string::npos);
  EXPECT_NE(error_of(R"j({"source": "x", "table6": [{"variant": "none", "u2i_perplexity": "4"}]})j")
                .find("not a number"),
            std::string::npos);
  EXPECT_NE(error_of(R"j({"source": "x", "table5": [{"artist": 0.5}]})j").find("checkpoint"),
            std::string::npos);
  EXPECT_NE(error_of("{not json").find("not JSON"), std::string::npos);
  std::filesystem::remove_all(run);
}

}  // namespace
}  // namespace muchator
