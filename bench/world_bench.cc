// World generation throughput: generates a world `runs` times and prints the median events/s
// (event simulation and writing) and whole-generation seconds as JSON.
//   build/bench/world_bench --size demo --runs 3
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "core/log.h"
#include "world/generate.h"

namespace fs = std::filesystem;
using namespace muchator;

int main(int argc, char** argv) {
  std::string size = "demo";
  int64_t events = 0, songs = 0, users = 0;
  int runs = 3;
  std::string dir = (fs::temp_directory_path() / "muchator_world_bench").string();
  CLI::App app{"world generation throughput benchmark"};
  app.add_option("--size", size, "tiny, demo or large");
  app.add_option("--events", events, "override events");
  app.add_option("--songs", songs, "override songs");
  app.add_option("--users", users, "override users");
  app.add_option("--runs", runs, "repetitions (median reported)");
  app.add_option("--dir", dir, "scratch directory");
  CLI11_PARSE(app, argc, argv);
  SetupLogging(Verbosity::kQuiet);
  world::WorldConfig c = world::WorldConfig::ForSize(size);
  if (events) c.events = events;
  if (songs) c.songs = songs;
  if (users) c.users = users;
  std::vector<double> rates, totals;
  for (int run = 0; run < runs; ++run) {
    world::GenerateStats st;
    world::Generate(c, dir, &st);
    rates.push_back(st.events / st.event_seconds);
    totals.push_back(st.seconds);
    std::fprintf(stderr, "run %d: %lld events, %.2f s total, %.0f events/s\n", run,
                 (long long)st.events, st.seconds, rates.back());
    fs::remove_all(dir);
  }
  std::sort(rates.begin(), rates.end());
  std::sort(totals.begin(), totals.end());
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "{\"bench\":\"world\",\"size\":\"%s\",\"songs\":%lld,\"users\":%lld,\"events\":%lld,\"runs\":"
      "%d,"
      "\"median_events_per_s\":%.0f,\"median_total_s\":%.2f,\"peak_rss_mb\":%.1f}\n",
      size.c_str(), (long long)c.songs, (long long)c.users, (long long)c.events, runs,
      rates[rates.size() / 2], totals[totals.size() / 2], ru.ru_maxrss / 1024.0);
  return 0;
}
