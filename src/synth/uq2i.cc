#include "synth/uq2i.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <numeric>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "corpus/concept_sentence.h"
#include "data/store.h"
#include "world/oracle.h"

namespace muchator {

nlohmann::json Uq2iTriplet::ToJson(const Catalog& catalog) const {
  nlohmann::json items_json = nlohmann::json::array();
  for (int i : items) items_json.push_back(catalog.items[static_cast<size_t>(i)].id);
  return {{"user", user},
          {"ts", ts},
          {"state", muchator::ToJson(state)},
          {"query", query},
          {"query_source", query_source},
          {"anchor", anchor},
          {"items", items_json},
          {"scores", scores},
          {"candidates", candidates.size()},
          {"sentence", sentence}};
}

QueryClusters GroupSongs(const QueryPool& pool, const std::vector<int>& cluster_of_text, int k) {
  QueryClusters c;
  c.cluster_of_text = cluster_of_text;
  c.songs.resize(static_cast<size_t>(k));
  for (size_t t = 0; t < pool.texts.size(); ++t) {
    auto& s = c.songs[static_cast<size_t>(cluster_of_text[t])];
    s.insert(s.end(), pool.songs_of_text[t].begin(), pool.songs_of_text[t].end());
  }
  for (auto& s : c.songs) {
    std::sort(s.begin(), s.end());
    s.erase(std::unique(s.begin(), s.end()), s.end());
  }
  return c;
}

void Uq2iOracleStats::Add(const std::vector<double>& m) {
  if (m.size() != 4) return;
  rel_target += m[0], rel_cand += m[1], util_target += m[2], util_cand += m[3];
  ++measured;
}

void Uq2iOracleStats::Into(nlohmann::json& s) const {
  if (measured == 0) return;
  s["oracle"] = {{"measured_triplets", measured},
                 {"relevance_at_10", rel_target / measured},
                 {"relevance_before_filtering", rel_cand / measured},
                 {"utility", util_target / measured},
                 {"utility_before_filtering", util_cand / measured}};
}

nlohmann::json SynthesizeUq2i(Store& store, const Catalog& catalog, const QueryPool& pool,
                              const QueryClusters& clusters, Ranker& ranker,
                              const world::Oracle* oracle, const Uq2iOptions& o,
                              const std::function<void(const Uq2iTriplet&)>& emit) {
  const auto t0 = std::chrono::steady_clock::now();
  // Data isolation: users with rl or test queries never appear.
  std::unordered_set<std::string> excluded;
  store.ForEachQuery([&](const Query& q) {
    if (!q.user.empty() && (q.split == "rl" || q.split == "test")) excluded.insert(q.user);
  });
  // The held-out cutoff, as the ranking model's split: favourites come from before it.
  std::vector<int64_t> all_ts;
  store.ForEachEvent([&](const Event& e) {
    if (e.ts != kNoTimestamp) all_ts.push_back(e.ts);
  });
  if (all_ts.empty())
    throw Error("the store has no timestamped events", store.path(), "UQ2I needs listening events");
  const size_t kq =
      std::min(all_ts.size() - 1, static_cast<size_t>(all_ts.size() * (1.0 - o.holdout)));
  std::nth_element(all_ts.begin(), all_ts.begin() + static_cast<long>(kq), all_ts.end());
  const int64_t cutoff = all_ts[kq];
  all_ts = {};
  std::vector<int> ranker_row(catalog.items.size());
  for (size_t i = 0; i < catalog.items.size(); ++i)
    ranker_row[i] = ranker.SongRow(catalog.items[i].id);

  std::vector<std::pair<int64_t, std::string>> users;  // (position among all, id) of this shard
  int64_t all_users = 0;
  store.ForEachUser([&](const User& u) {
    if (excluded.count(u.id)) return;
    if (o.shards <= 1 ||
        HashString(u.id) % static_cast<uint64_t>(o.shards) == static_cast<uint64_t>(o.shard))
      users.emplace_back(all_users, u.id);
    ++all_users;
  });
  int64_t made = 0, no_query = 0, small_cluster = 0, own = 0, borrowed = 0, short_logs = 0;
  Uq2iOracleStats quality;
  // Logged training requests (sft split, with a user and liked/finished songs): the platform's
  // own (request, listener, what they played) data, the closest thing to the task there is.
  std::vector<Query> requests;
  store.ForEachQuery(
      [&](const Query& q) {
        if (!q.user.empty() && q.relevant.size() >= static_cast<size_t>(o.list_size))
          requests.push_back(q);
        else if (!q.user.empty() && !q.relevant.empty())
          ++short_logs;
      },
      "sft");
  // The answers' opening sentence ("Songs for sleep, calm.", corpus/concept_sentence.h).
  std::unique_ptr<ConceptNamer> namer;
  if (!requests.empty() && o.opening_sentence)
    namer = std::make_unique<ConceptNamer>(store, catalog);
  auto opening = [&](const std::vector<int>& songs) { return namer ? namer->Sentence(songs) : ""; };
  std::unordered_map<std::string, std::vector<size_t>> requests_of;
  for (size_t i = 0; i < requests.size(); ++i) requests_of[requests[i].user].push_back(i);
  const int per_user = o.per_user >= 0 ? o.per_user : requests.empty() ? 8 : 0;
  // Ranks `cand` for the user's context at timeline position `at` (events before it) in `state`;
  // emits the top list_size as a triplet.
  auto rank_and_emit = [&](int64_t user_pos, const std::string& user_id,
                           const std::optional<User>& user, const std::vector<Event>& timeline,
                           size_t at, int64_t ts, const State& state, const std::string& query,
                           const std::string& source, const std::string& anchor,
                           const std::vector<int>& cand, const world::QueryFacets* facets,
                           const std::string& sentence = "") {
    RankerContext ctx;
    ctx.user = user_id;
    if (user) ctx.profile = user->profile;
    ctx.state = state;
    for (size_t j = at > static_cast<size_t>(o.history) ? at - static_cast<size_t>(o.history) : 0;
         j < at; ++j)
      ctx.history.push_back({timeline[j].song, timeline[j].feedback});
    std::vector<int> rows(cand.size());
    for (size_t k = 0; k < cand.size(); ++k) rows[k] = ranker_row[static_cast<size_t>(cand[k])];
    const auto pred = ranker.Predict(ctx, rows);
    std::vector<size_t> order(cand.size());
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(
        order.begin(), order.begin() + o.list_size, order.end(), [&](size_t a, size_t b) {
          return pred[a].score != pred[b].score ? pred[a].score > pred[b].score : cand[a] < cand[b];
        });
    Uq2iTriplet t;
    t.user = user_id;
    t.user_pos = user_pos;
    t.query = query;
    t.query_source = source;
    t.anchor = anchor;
    t.ts = ts;
    t.state = state;
    t.candidates = cand;
    t.sentence = sentence;
    for (int k = 0; k < o.list_size; ++k) {
      t.items.push_back(cand[order[static_cast<size_t>(k)]]);
      t.scores.push_back(pred[order[static_cast<size_t>(k)]].score);
    }
    if (oracle) {
      const world::QueryFacets parsed = facets ? *facets : oracle->ParseQuery(t.query);
      if (parsed.count() > 0) {
        auto rel = [&](int i) {
          return oracle->Relevant(parsed, catalog.items[static_cast<size_t>(i)].id) ? 1.0 : 0.0;
        };
        auto util = [&](int i) {
          return oracle->Utility(user_id, t.state, catalog.items[static_cast<size_t>(i)].id);
        };
        double rt = 0, rc = 0, ut = 0, uc = 0;
        for (int i : t.items) rt += rel(i), ut += util(i);
        for (int i : cand) rc += rel(i), uc += util(i);
        t.oracle = {rt / t.items.size(), rc / cand.size(), ut / t.items.size(), uc / cand.size()};
        quality.Add(t.oracle);
      }
    }
    emit(t);
    ++made;
  };
  auto logged_songs = [&](const Query& q) {
    std::vector<int> cand;
    for (const auto& id : q.relevant) {
      const int i = catalog.Find(id);
      if (i >= 0) cand.push_back(i);
    }
    std::sort(cand.begin(), cand.end());  // candidates are sorted catalog indexes
    cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
    return cand;
  };
  // The first timeline position at or after ts (the events before it are the context).
  auto position_at = [](const std::vector<Event>& timeline, int64_t ts) {
    size_t at = 0;
    while (at < timeline.size() && timeline[at].ts != kNoTimestamp && timeline[at].ts < ts) ++at;
    return at;
  };
  Progress progress("uq2i", users.size(), "users");
  for (const auto& [user_pos, user_id] : users) {
    progress.Add();
    if (o.max_triplets > 0 && made >= o.max_triplets) break;
    const auto user = store.GetUser(user_id);
    const auto timeline = store.UserTimeline(user_id);
    if (!requests.empty()) {
      // The user's own logged requests: what they played, ranked for them at that moment.
      auto mine = requests_of.find(user_id);
      if (mine != requests_of.end())
        for (size_t qi : mine->second) {
          const Query& q = requests[qi];
          const std::vector<int> cand = logged_songs(q);
          if (static_cast<int>(cand.size()) < o.list_size) continue;
          std::unique_ptr<world::QueryFacets> facets;
          if (oracle) facets = std::make_unique<world::QueryFacets>(oracle->FacetsOf(q.id));
          rank_and_emit(user_pos, user_id, user, timeline, position_at(timeline, q.ts), q.ts,
                        q.state, q.text, "request", "", cand, facets.get(), opening(cand));
          ++own;
        }
      // Other listeners' requests asked by this one (the same facets, this listener's context):
      // the request's logged songs ranked for this listener, at a moment of theirs in the same
      // listening context as the original request's, so the situation fits the state.
      Rng rng = Rng::Derive(o.seed, "uq2i-borrow-" + user_id);
      for (int b = 0; b < o.borrowed_per_user && !timeline.empty(); ++b) {
        const Query& q = requests[rng.Below(requests.size())];
        if (q.user == user_id) continue;
        std::vector<size_t> same;
        for (size_t i = 0; i < timeline.size(); ++i)
          if (timeline[i].ts != kNoTimestamp && timeline[i].ts < cutoff &&
              timeline[i].state.context == q.state.context)
            same.push_back(i);
        if (same.empty()) continue;
        const size_t at = same[rng.Below(same.size())];
        std::unique_ptr<world::QueryFacets> facets;
        if (oracle) facets = std::make_unique<world::QueryFacets>(oracle->FacetsOf(q.id));
        const std::vector<int> cand = logged_songs(q);
        rank_and_emit(user_pos, user_id, user, timeline, at, timeline[at].ts, timeline[at].state,
                      q.text, "request:" + q.id, "", cand, facets.get(), opening(cand));
        ++borrowed;
      }
    }
    std::vector<size_t> favourites;
    for (size_t i = 0; i < timeline.size(); ++i) {
      const auto& e = timeline[i];
      if (e.ts != kNoTimestamp && e.ts < cutoff &&
          (e.feedback == Feedback::kLike || e.feedback == Feedback::kFinish) &&
          catalog.Find(e.song) >= 0)
        favourites.push_back(i);
    }
    Rng rng = Rng::Derive(o.seed, "uq2i-" + user_id);
    rng.Shuffle(favourites);
    int here = 0;
    for (size_t f : favourites) {
      if (here >= per_user || (o.max_triplets > 0 && made >= o.max_triplets)) break;
      const auto& anchor = timeline[f];
      const int anchor_item = catalog.Find(anchor.song);
      const auto& texts = pool.texts_of_song[static_cast<size_t>(anchor_item)];
      if (texts.empty()) {
        ++no_query;
        continue;
      }
      const int text = texts[rng.Below(texts.size())];
      const auto& cand =
          clusters.songs[static_cast<size_t>(clusters.cluster_of_text[static_cast<size_t>(text)])];
      if (static_cast<int>(cand.size()) < o.list_size) {
        ++small_cluster;
        continue;
      }
      rank_and_emit(user_pos, user_id, user, timeline, f, anchor.ts, anchor.state,
                    pool.texts[static_cast<size_t>(text)], pool.sources[static_cast<size_t>(text)],
                    anchor.song, cand, nullptr);
      ++here;
    }
  }
  progress.Finish();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json s = {{"triplets", made},
                      {"users", users.size()},
                      {"excluded_users", excluded.size()},
                      {"anchors_without_query", no_query},
                      {"anchors_with_small_cluster", small_cluster},
                      {"from_own_requests", own},
                      {"from_borrowed_requests", borrowed},
                      {"requests_with_too_few_logged_songs", short_logs},
                      {"from_cluster_anchors", made - own - borrowed},
                      {"seconds", seconds},
                      {"triplets_per_s", seconds > 0 ? made / seconds : 0.0}};
  quality.Into(s);
  return s;
}

}  // namespace muchator
