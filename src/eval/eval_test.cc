#include <gtest/gtest.h>

#include "core/error.h"
#include "core/threads.h"
#include "eval/baselines.h"
#include "eval/knowledge.h"
#include "eval/offline.h"
#include "infer/checkpoint.h"
#include "reward/ranker_train.h"
#include "support/tiny_world.h"
#include "world/oracle.h"

namespace muchator {
namespace {

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
  EXPECT_DOUBLE_EQ(m["recall_at_10"].get<double>(), 1.0);
  EXPECT_NEAR(m["ndcg_at_10"].get<double>(), 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(m["factuality"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(m["well_formed"].get<double>(), 1.0);
  const auto p = ScoreAnswers(*w.store, catalog, requests, padded, judges, o);
  EXPECT_NEAR(p["factuality"].get<double>(), 10.0 / 15, 1e-12);
  EXPECT_NEAR(p["invalid_item_rate"].get<double>(), 5.0 / 15, 1e-12);
  EXPECT_NEAR(p["entries"].get<double>(), 15.0, 1e-12);
  const auto e = ScoreAnswers(*w.store, catalog, requests, empty, judges, o);
  EXPECT_EQ(e["recall_at_10"].get<double>(), 0.0);
  EXPECT_EQ(e["relevance_at_10"].get<double>(), 0.0);
  EXPECT_EQ(e["well_formed"].get<double>(), 0.0);
  // A reversed best list keeps recall but loses nDCG.
  std::vector<EvalAnswer> reversed = best;
  for (auto& a : reversed) std::reverse(a.items.begin(), a.items.end());
  const auto r = ScoreAnswers(*w.store, catalog, requests, reversed, judges, o);
  EXPECT_DOUBLE_EQ(r["recall_at_10"].get<double>(), 1.0);
  EXPECT_NEAR(r["ndcg_at_10"].get<double>(), 1.0,
              1e-12);  // all 10 are hits: order within them does not matter
  for (auto& a : reversed)
    a.items.erase(a.items.begin(), a.items.begin() + 5);  // keep the 5 worst of the best
  EXPECT_NEAR(
      ScoreAnswers(*w.store, catalog, requests, reversed, judges, o)["recall_at_10"].get<double>(),
      0.5, 1e-12);

  // Baselines: popularity gives everyone the same list; reranking BM25's candidates by the
  // ranking model cannot lower the model's mean score of the top 10 (it picks the best 10 of a
  // superset of BM25's own top 10).
  RankerTrainOptions ro;
  ro.epochs = 1;
  Ranker ranker = TrainRanker(*w.store, ro, nullptr, nullptr);
  judges.ranker = &ranker;
  BaselineDeps deps{w.store.get(), &catalog, &ranker};
  auto pop = MakeBaseline("popularity", deps);
  EXPECT_EQ(pop->Recommend(requests[0], {}, 10), pop->Recommend(requests[1], {}, 10));
  const auto mp = EvaluateBaseline(*pop, *w.store, catalog, requests, judges, o);
  EXPECT_NEAR(mp["diversity"].get<double>(), 10.0 / catalog.items.size(), 1e-12);
  auto bm25 = MakeBaseline("bm25", deps);
  auto rerank = MakeBaseline("bm25_rerank", deps);
  const auto mb = EvaluateBaseline(*bm25, *w.store, catalog, requests, judges, o);
  const auto mr = EvaluateBaseline(*rerank, *w.store, catalog, requests, judges, o);
  std::printf("popularity %s\nbm25 %s\nbm25_rerank %s\n", mp.dump().c_str(), mb.dump().c_str(),
              mr.dump().c_str());
  EXPECT_GT(mr["personalization"].get<double>(), mb["personalization"].get<double>());
  EXPECT_THROW(MakeBaseline("nope", deps), Error);
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

}  // namespace
}  // namespace muchator
