#include "eval/offline.h"

#include <algorithm>
#include <unordered_set>

#include "core/error.h"
#include "core/file.h"
#include "data/store.h"
#include "infer/engine.h"
#include "reward/hybrid.h"
#include "reward/judge.h"
#include "reward/ranker.h"
#include "text/chat.h"
#include "world/oracle.h"

namespace muchator {

std::vector<EvalRequest> RequestsFromStore(Store& store, const std::string& split, int limit,
                                           const std::function<bool(const Query&)>& keep) {
  std::vector<EvalRequest> out;
  store.ForEachQuery(
      [&](const Query& q) {
        if (q.user.empty() || (limit > 0 && static_cast<int>(out.size()) >= limit) ||
            (keep && !keep(q)))
          return;
        out.push_back({q.user, q.ts, q.state, q.text, q.id});
      },
      split);
  return out;
}

std::vector<EvalRequest> RequestsFromTriplets(const std::string& path, int limit,
                                              const std::function<bool(const std::string&)>& keep) {
  std::vector<EvalRequest> out;
  LineReader reader(path);
  std::string line;
  int64_t line_no = 0;
  while ((limit <= 0 || static_cast<int>(out.size()) < limit) && reader.Next(line)) {
    ++line_no;
    try {
      const auto t = nlohmann::json::parse(line);
      EvalRequest r;
      r.user = t.at("user");
      r.ts = t.at("ts");
      r.query = t.at("query");
      const auto& st = t.at("state");
      r.state = State{st.value("time_of_day", ""), st.value("day_type", ""),
                      st.value("context", ""), st.value("device", ""), st.value("hour", -1)};
      if (!keep || keep(r.query)) out.push_back(std::move(r));
    } catch (const std::exception& e) {
      throw Error(std::string("not a UQ2I triplet: ") + e.what(),
                  path + ":" + std::to_string(line_no),
                  "use a triplets file written by `muchator synth-uq2i`");
    }
  }
  return out;
}

nlohmann::json EvaluateOffline(Store& store, Checkpoint& ck, std::span<const EvalRequest> requests,
                               const EvalJudges& judges, const OfflineEvalOptions& o) {
  if (!ck.codec || !ck.grammar) throw Error("evaluation needs the checkpoint's codec.json");
  if (requests.empty())
    throw Error("no requests to evaluate", store.path(), "check the split or the triplets file");
  const Catalog& catalog = ck.catalog;
  std::vector<std::vector<int>> prompts;
  std::vector<UserContext> contexts;
  std::vector<RankerContext> ranker_contexts;
  std::vector<world::QueryFacets> facets;
  for (const auto& q : requests) {
    UserContext ctx = UserContextFromStore(store, catalog, q.user, q.ts, o.history);
    ctx.state = q.state;
    prompts.push_back(RenderPrompt(*ck.tok, *ck.codec, ctx, q.query, o.history).ids);
    ranker_contexts.push_back(MakeRankerContext(q.user, ctx, catalog));
    contexts.push_back(std::move(ctx));
    if (judges.oracle)
      facets.push_back(q.query_id.empty() ? judges.oracle->ParseQuery(q.query)
                                          : judges.oracle->FacetsOf(q.query_id));
  }
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

  EngineOptions eo;
  eo.max_batch = o.max_batch;
  Engine engine(ck.model, *ck.tok, ck.grammar.get(), eo);
  nlohmann::json out = {{"requests", requests.size()}};
  for (const bool constrained : {true, false}) {
    if (constrained ? !o.constrained : !o.unconstrained) continue;
    std::vector<GenerationRequest> reqs;
    for (const auto& p : prompts) {
      GenerationRequest r;
      r.prompt = p;
      r.sampling.max_new_tokens = o.max_new_tokens;
      if (constrained) {
        r.sampling.max_new_tokens = 4096;  // the grammar ends the list
        ConstraintOptions c;
        c.allow_sentence = false;
        c.num_items = o.list_size;
        r.constraint = c;
      }
      reqs.push_back(std::move(r));
    }
    const auto results = engine.Generate(std::move(reqs));
    std::vector<ListInput> lists;
    std::unordered_set<int> distinct;
    double oracle_rel = 0, util = 0, invalid = 0, entries = 0;
    int64_t util_n = 0;
    for (size_t k = 0; k < results.size(); ++k) {
      const ParsedAnswer a = ParseAnswer(*ck.tok, *ck.codec, results[k].tokens);
      lists.push_back(MakeListInput(a, requests[k].query, o.list_size, static_cast<int>(k),
                                    contexts[k].history));
      const int n = lists.back().entries();
      entries += n;
      invalid += static_cast<double>(a.invalid_items.size());
      distinct.insert(a.items.begin(), a.items.end());
      if (!judges.oracle) continue;
      double relevant = 0;
      for (int i : a.items) {
        const std::string& id = catalog.items[static_cast<size_t>(i)].id;
        relevant += judges.oracle->Relevant(facets[k], id);
        util += judges.oracle->Utility(requests[k].user, requests[k].state, id), ++util_n;
      }
      oracle_rel +=
          n > 0 ? relevant / std::max(n, o.list_size) : 0.0;  // missing entries count as misses
    }
    const auto scored = metrics.Compute(lists, ranker_contexts);
    auto mean = [&](const std::string& name) {
      double s = 0;
      for (const auto& b : scored) s += b.raw.at(name);
      return s / static_cast<double>(scored.size());
    };
    const double n = static_cast<double>(results.size());
    nlohmann::json m = {{"well_formed", 0.0},
                        {"factuality", mean("fact")},
                        {"invalid_item_rate", entries > 0 ? invalid / entries : 0.0},
                        {"entries", entries / n},
                        {"list_diversity", mean("div")},
                        {"dedup", mean("dedup")},
                        {"diversity", static_cast<double>(distinct.size()) /
                                          static_cast<double>(catalog.items.size())}};
    double formed = 0;
    for (const auto& l : lists) formed += l.well_formed && l.entries() > 0;
    m["well_formed"] = formed / n;
    if (judges.judge) m["relevance"] = mean("rel");
    if (judges.ranker) m["personalization"] = 10 * mean("pers");
    if (judges.oracle) {
      m["relevance_at_10"] = oracle_rel / n;
      m["utility"] = util_n ? util / static_cast<double>(util_n) : 0.0;
    }
    out[constrained ? "constrained" : "unconstrained"] = m;
  }
  return out;
}

}  // namespace muchator
