// Ingestion throughput: generates an input directory with N events (plus the songs and users
// they reference), ingests it `runs` times into fresh stores and prints the median events/s and
// the process's peak RSS as JSON. Run it with two sizes to see that memory does not grow with
// the number of events.
//   build/bench/ingest_bench --events 1000000 --runs 3
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/ingest.h"

namespace fs = std::filesystem;
using namespace muchator;

int main(int argc, char** argv) {
  int64_t events = 1000000, songs = 50000, users = 20000;
  int runs = 3;
  std::string dir = (fs::temp_directory_path() / "muchator_ingest_bench").string();
  CLI::App app{"ingestion throughput benchmark"};
  app.add_option("--events", events, "events to ingest");
  app.add_option("--songs", songs, "songs in the catalog");
  app.add_option("--users", users, "users");
  app.add_option("--runs", runs, "repetitions (median reported)");
  app.add_option("--dir", dir, "scratch directory");
  CLI11_PARSE(app, argc, argv);
  SetupLogging(Verbosity::kQuiet);

  fs::remove_all(dir);
  MakeDirs(dir + "/in");
  {
    AtomicWriter a(dir + "/in/artists.jsonl");
    a.WriteLine(R"({"id":"a1","name":"Bench Artist"})");
    a.Commit();
    AtomicWriter s(dir + "/in/songs.jsonl");
    for (int64_t i = 0; i < songs; ++i)
      s.WriteLine("{\"id\":\"s" + std::to_string(i) + "\",\"title\":\"Song " + std::to_string(i) +
                  "\",\"artists\":[\"a1\"],\"genres\":[\"pop\"],\"year\":2001,\"duration_s\":200}");
    s.Commit();
    AtomicWriter u(dir + "/in/users.jsonl");
    for (int64_t i = 0; i < users; ++i) u.WriteLine("{\"id\":\"u" + std::to_string(i) + "\"}");
    u.Commit();
    AtomicWriter e(dir + "/in/events.jsonl");
    Rng r(1);
    static const char* kFb[] = {"like", "finish", "skip", "dislike"};
    static const char* kTod[] = {"morning", "afternoon", "evening", "night"};
    std::string line;
    for (int64_t i = 0; i < events; ++i) {
      line = "{\"user\":\"u" + std::to_string(r.Below(users)) + "\",\"song\":\"s" +
             std::to_string(r.Below(songs)) + "\",\"ts\":" + std::to_string(1736121600 + i) +
             ",\"state\":{\"time_of_day\":\"" + kTod[r.Below(4)] +
             "\",\"day_type\":\"weekday\",\"context\":\"commute\",\"device\":\"phone\",\"hour\":8},"
             "\"feedback\":\"" +
             kFb[r.Below(4)] + "\",\"play_s\":" + std::to_string(r.Below(300)) + "}";
      e.WriteLine(line);
    }
    e.Commit();
  }
  std::vector<double> rates;
  for (int run = 0; run < runs; ++run) {
    const std::string store = dir + "/store" + std::to_string(run) + ".db";
    const auto t0 = std::chrono::steady_clock::now();
    IngestSummary s = Ingest({dir + "/in", store, "", true});  // --strict: all rows must pass
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int64_t ev = 0;
    double ev_secs = 0;
    for (auto& f : s.files)
      if (f.kind == "events") ev = f.accepted, ev_secs = f.seconds;
    rates.push_back(ev / ev_secs);
    std::fprintf(stderr,
                 "run %d: %lld events in %.2f s (events file) of %.2f s in all: %.0f events/s\n",
                 run, (long long)ev, ev_secs, secs, ev / ev_secs);
    for (auto suffix : {"", "-wal", "-shm", ".quarantine.jsonl"}) fs::remove(store + suffix);
  }
  std::sort(rates.begin(), rates.end());
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "{\"bench\":\"ingest\",\"events\":%lld,\"songs\":%lld,\"users\":%lld,\"runs\":%d,"
      "\"median_events_per_s\":%.0f,\"min_events_per_s\":%.0f,\"max_events_per_s\":%.0f,\"peak_rss_"
      "mb\":%.1f}\n",
      (long long)events, (long long)songs, (long long)users, runs, rates[rates.size() / 2],
      rates.front(), rates.back(), ru.ru_maxrss / 1024.0);
  fs::remove_all(dir);
  return 0;
}
