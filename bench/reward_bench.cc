// Reward-model throughput on this machine (targets: ranking model >= 20,000 (user, song)
// scores/s, relevance judge >= 1,000 pairs/s, both batched on 2 cores):
//   - ranker: one listener x --candidates songs per call (re-ranking), and --lists lists of 10
//     songs from different listeners per call (a GRPO step's rewards);
//   - judge: --queries queries x --songs songs per call (GRPO groups share a query).
// Median over --runs; prints one JSON line.
//   build/bench/reward_bench --ranker runs/demo/ranker --judge runs/demo/judge --store
//   runs/demo/store.sqlite
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/threads.h"
#include "data/store.h"
#include "reward/judge.h"
#include "reward/ranker.h"

using namespace muchator;

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("reward-model throughput");
  std::string ranker_dir, judge_dir, store_path;
  int runs = 5, candidates = 1000, lists = 100, queries = 20, songs = 50, threads = 0;
  app.add_option("--ranker", ranker_dir, "ranking model directory (train-ranker --out)");
  app.add_option("--judge", judge_dir, "relevance judge directory (train-judge --out)");
  app.add_option("--store", store_path, "store for real listener histories and queries")
      ->required();
  app.add_option("--runs", runs, "repetitions (median reported)");
  app.add_option("--candidates", candidates, "songs scored for one listener per call");
  app.add_option("--lists", lists, "lists of 10 songs (different listeners) per call");
  app.add_option("--queries", queries, "queries per judge call");
  app.add_option("--songs", songs, "songs judged per query");
  app.add_option("--threads", threads, "compute threads (0 = all cores)");
  CLI11_PARSE(app, argc, argv);
  try {
    SetupThreads(threads);
    spdlog::set_level(spdlog::level::warn);
    Store store(store_path);
    std::vector<std::string> song_ids, user_ids, query_texts;
    store.ForEachSong([&](const Song& s) { song_ids.push_back(s.id); });
    store.ForEachUser([&](const User& u) { user_ids.push_back(u.id); });
    store.ForEachQuery([&](const Query& q) { query_texts.push_back(q.text); }, "test");
    Rng rng(1);
    nlohmann::json out = {{"bench", "reward"}, {"threads", threads}, {"runs", runs}};
    if (!ranker_dir.empty()) {
      Ranker ranker = Ranker::Load(ranker_dir);
      auto context = [&](const std::string& user) {
        RankerContext c;
        c.user = user;
        if (auto u = store.GetUser(user)) c.profile = u->profile;
        for (const auto& e : store.UserTimeline(user)) c.history.push_back({e.song, e.feedback});
        c.state = State{"evening", "weekday", "home", "phone", 20};
        return c;
      };
      std::vector<RankerContext> ctx;
      for (int i = 0; i < lists; ++i) ctx.push_back(context(user_ids[rng.Below(user_ids.size())]));
      std::vector<int> one(static_cast<size_t>(candidates)), many, group;
      for (auto& c : one) c = ranker.SongRow(song_ids[rng.Below(song_ids.size())]);
      for (int l = 0; l < lists; ++l)
        for (int k = 0; k < 10; ++k)
          many.push_back(ranker.SongRow(song_ids[rng.Below(song_ids.size())])), group.push_back(l);
      std::vector<double> a, b;
      ranker.Predict(ctx[0], one);  // warm-up
      for (int r = 0; r < runs; ++r) {
        auto t0 = Clock::now();
        ranker.Predict(ctx[0], one);
        a.push_back(candidates / Seconds(t0));
        t0 = Clock::now();
        ranker.Predict(ctx, many, group);
        b.push_back(static_cast<double>(many.size()) / Seconds(t0));
      }
      out["ranker_one_listener_scores_per_s"] = Median(a);
      out["ranker_lists_scores_per_s"] = Median(b);
      std::fprintf(stderr,
                   "ranker: %.0f scores/s (1 listener x %d songs), %.0f scores/s (%d listeners x "
                   "10 songs)\n",
                   Median(a), candidates, Median(b), lists);
    }
    if (!judge_dir.empty()) {
      auto judge = Judge::Load(judge_dir);
      if (query_texts.empty()) throw Error("the store has no test queries", store_path);
      std::vector<std::string> qs;
      std::vector<int> rows, query_of;
      for (int q = 0; q < queries; ++q) {
        qs.push_back(query_texts[rng.Below(query_texts.size())] + " #" +
                     std::to_string(q));  // distinct prefixes
        for (int s = 0; s < songs; ++s)
          rows.push_back(judge->SongRow(song_ids[rng.Below(song_ids.size())])),
              query_of.push_back(q);
      }
      judge->Probability(qs, rows, query_of);  // warm-up (summary tokens cached from here on)
      std::vector<double> rate;
      for (int r = 0; r < runs; ++r) {
        for (auto& q : qs) q += "!";  // new queries each run: nothing in the prefix cache
        auto t0 = Clock::now();
        judge->Probability(qs, rows, query_of);
        rate.push_back(static_cast<double>(rows.size()) / Seconds(t0));
      }
      out["judge_pairs_per_s"] = Median(rate);
      std::fprintf(stderr, "judge: %.0f pairs/s (%d queries x %d songs)\n", Median(rate), queries,
                   songs);
    }
    std::printf("%s\n", out.dump().c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", FormatError(e).c_str());
    return 1;
  }
  return 0;
}
