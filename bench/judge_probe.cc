// Throwaway probe: AUC of the SFT model's first-song PMI as a relevance judge.
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "core/stats.h"
#include "data/store.h"
#include "eval/offline.h"
#include "infer/rerank.h"
#include "infer/checkpoint.h"
#include "reward/judge_train.h"
#include "text/chat.h"
#include "world/oracle.h"

using namespace muchator;

int main(int argc, char** argv) {
  const std::string run = argv[1], ckdir = argv[2];
  Store store(run + "/store.sqlite");
  auto oracle = world::Oracle::Load(run + "/world");
  JudgeLabelOptions lo;
  lo.max_train = 2000;
  const auto labels = MakeJudgeLabels(store, &oracle, lo);
  Checkpoint ck = LoadCheckpoint(ckdir);
  auto first = FirstItemScores::For(*ck.codec);
  EngineOptions eo;
  eo.max_batch = 32;
  Engine engine(ck.model, *ck.tok, ck.grammar.get(), eo);
  auto prompt = [&](const std::string& q) { return RenderPrompt(*ck.tok, *ck.codec, UserContext{}, q, 0).ids; };
  auto logsoftmax = [](std::vector<float> s) {
    float top = *std::max_element(s.begin(), s.end());
    double z = 0;
    for (float x : s) z += std::exp(double(x - top));
    const float lz = top + float(std::log(z));
    for (float& x : s) x -= lz;
    return s;
  };
  auto score_queries = [&](const std::vector<std::string>& qs) {
    std::vector<std::vector<float>> scores(qs.size());
    std::vector<GenerationRequest> reqs;
    for (size_t k = 0; k < qs.size(); ++k) {
      GenerationRequest r;
      r.prompt = prompt(qs[k]);
      r.sampling.max_new_tokens = 4096;
      ConstraintOptions c;
      c.num_items = 1;
      r.constraint = c;
      r.logits_hook = first->Hook(&scores[k]);
      reqs.push_back(std::move(r));
    }
    engine.Generate(std::move(reqs));
    for (auto& s : scores) s = logsoftmax(s);
    return scores;
  };
  // Prior: mean over training queries.
  std::vector<std::string> train_q;
  for (const auto& p : labels.train)
    if (train_q.size() < 128 && std::find(train_q.begin(), train_q.end(), p.query) == train_q.end()) train_q.push_back(p.query);
  const auto tr = score_queries(train_q);
  std::vector<float> prior(tr[0].size(), 0.f);
  for (const auto& s : tr)
    for (size_t i = 0; i < s.size(); ++i) prior[i] += s[i] / float(tr.size());
  for (const auto* set : {&labels.heldout, &labels.heldout_seen, &labels.train}) {
    std::vector<std::string> qs;
    std::unordered_map<std::string, int> qi;
    for (const auto& p : *set)
      if (qi.try_emplace(p.query, int(qs.size())).second) qs.push_back(p.query);
    const auto sc = score_queries(qs);
    std::vector<std::pair<double, bool>> raw, pmi, pct, pctraw, l05, l15, l2;
    for (const auto& p : *set) {
      const auto& s = sc[size_t(qi[p.query])];
      const int i = ck.catalog.Find(p.song);
      if (i < 0) continue;
      const double v = s[size_t(i)], w = s[size_t(i)] - prior[size_t(i)];
      int below = 0, below_raw = 0;
      for (size_t j = 0; j < s.size(); ++j) below += (s[j] - prior[j]) < w, below_raw += s[j] < v;
      raw.push_back({v, p.relevant});
      l05.push_back({v - 0.5 * prior[size_t(i)], p.relevant});
      l15.push_back({v - 1.5 * prior[size_t(i)], p.relevant});
      l2.push_back({v - 2 * prior[size_t(i)], p.relevant});
      pmi.push_back({w, p.relevant});
      pct.push_back({double(below) / s.size(), p.relevant});
      pctraw.push_back({double(below_raw) / s.size(), p.relevant});
    }
    std::printf("pairs %zu queries %zu: AUC raw %.3f pmi %.3f pct(pmi) %.3f pct(raw) %.3f  l0.5 %.3f l1.5 %.3f l2 %.3f\n", raw.size(), qs.size(),
                Auc(raw), Auc(pmi), Auc(pct), Auc(pctraw), Auc(l05), Auc(l15), Auc(l2));
  }
}
