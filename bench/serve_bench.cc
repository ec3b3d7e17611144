// Load benchmark of `muchator serve` on loopback: N concurrent sessions, each sending streaming
// chat requests back to back for a bounded time. Per level: requests/s, time to first token
// (first content delta) and full-answer latency p50/p99, errors; levels repeated and the median
// run reported, with throughput relative to one session measured in the same invocation.
//
//   build/muchator serve --run runs/demo --port 8090 &
//   build/bench/serve_bench --url http://127.0.0.1:8090 --sessions 1,8,32 --seconds 20 --repeats 3
//
// --soak SECONDS: one long run of mixed traffic instead (bench/soak.sh): streaming and plain
// chat, recommend, feedback, clients that hang up mid-stream and malformed bodies, from the
// first --sessions count of clients; prints requests per kind, unexpected answers (a 5xx, a
// transport error, a 4xx to a good request or a 2xx to a bad one), latency and time to first
// token, and the server's RSS (--server-pid) before the traffic, once a minute, and at the end.
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

const char* kFollowUps[] = {"more upbeat", "no more of that artist", "something like the third one",
                            "calmer please"};
const char* kQueries[] = {"something for a rainy evening drive",
                          "just got promoted, hype me up",
                          "calm music to study",
                          "songs for a sunday morning",
                          "gym workout energy",
                          "sad songs after a breakup",
                          "road trip with friends",
                          "late night coding focus"};

struct Sample {
  double ttft = -1, total = 0;
  bool ok = false;
  std::string why;  // of a failure
};

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

struct Level {
  int sessions;
  double rps, ttft50, ttft99, lat50, lat99;
  int requests, errors;
};

Level RunLevel(const std::string& host, int port, const std::string& model,
               const std::vector<std::string>& users, int sessions, double seconds, int songs,
               int turns) {
  std::vector<Sample> samples;
  std::mutex mu;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int s = 0; s < sessions; ++s)
    threads.emplace_back([&, s] {
      httplib::Client cli(host, port);
      cli.set_read_timeout(120);
      json messages = json::array();
      std::string user;
      for (int i = 0; Clock::now() < end; ++i) {
        // A session is a listener's conversation of `turns` requests (each later turn carries
        // the earlier answers and a refinement), then another listener.
        if (i % turns == 0) {
          messages = json::array({{{"role", "user"}, {"content", kQueries[(s + i) % 8]}}});
          user = users.empty() ? "" : users[(s * 131 + i / turns * 17) % users.size()];
        } else {
          messages.push_back(json{{"role", "user"}, {"content", kFollowUps[(i % turns - 1) % 4]}});
        }
        json body = {{"model", model},
                     {"stream", true},
                     {"seed", s * 1000 + i},
                     {"messages", messages},
                     {"muchator", {{"songs", songs}}}};
        if (!user.empty()) body["user"] = user;
        Sample smp;
        const auto t0 = Clock::now();
        std::string buf;
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/chat/completions";
        req.body = body.dump();
        req.set_header("Content-Type", "application/json");
        req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
          buf.append(data, n);
          // The first delta with text (the role chunk's content is empty); nlohmann writes keys
          // sorted.
          static const std::string kDelta = "\"delta\":{\"content\":\"";
          if (smp.ttft < 0)
            for (size_t p = buf.find(kDelta); p != std::string::npos; p = buf.find(kDelta, p + 1))
              if (p + kDelta.size() < buf.size() && buf[p + kDelta.size()] != '"') {
                smp.ttft = std::chrono::duration<double>(Clock::now() - t0).count();
                break;
              }
          return true;
        };
        auto res = cli.send(req);
        smp.total = std::chrono::duration<double>(Clock::now() - t0).count();
        if (!res)
          smp.why = httplib::to_string(res.error());
        else if (res->status != 200)
          smp.why = "HTTP " + std::to_string(res->status);
        smp.ok = res && res->status == 200 && buf.find("data: [DONE]") != std::string::npos &&
                 buf.find("\"error\"") == std::string::npos;
        std::lock_guard l(mu);
        samples.push_back(smp);
      }
    });
  for (auto& t : threads) t.join();
  std::vector<double> ttft, lat;
  int errors = 0;
  for (const auto& s : samples) {
    if (!s.ok) {
      if (errors++ < 3)
        std::fprintf(stderr, "error: %s\n", s.why.empty() ? "incomplete stream" : s.why.c_str());
      continue;
    }
    if (s.ttft >= 0) ttft.push_back(s.ttft);
    lat.push_back(s.total);
  }
  return {sessions,
          lat.size() / seconds,
          Pct(ttft, 0.5),
          Pct(ttft, 0.99),
          Pct(lat, 0.5),
          Pct(lat, 0.99),
          static_cast<int>(samples.size()),
          errors};
}

long RssKb(int pid) {  // VmRSS of a process, 0 when unknown
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
  if (!f) return 0;
  char line[256];
  long kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  std::fclose(f);
  return kb;
}

// Mixed traffic for `seconds` from `clients` clients; returns the number of unexpected answers.
int RunSoak(const std::string& host, int port, const std::string& model,
            const std::vector<std::string>& users, int clients, double seconds, int songs,
            int pid) {
  const char* kinds[] = {"chat stream", "chat", "recommend", "feedback", "hang up", "malformed"};
  const char* kBad[] = {"{",
                        "[]",
                        R"({"model":"m","messages":5})",
                        "\xff\xfe{}",
                        R"({"query":"x","songs":100000})",
                        R"({"model":"m","messages":[{"role":"user"}]})"};
  std::mutex mu;
  std::map<std::string, int> count, unexpected;
  std::vector<double> ttft, lat;
  std::vector<std::string> examples;
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const long rss0 = RssKb(pid);
  // The server's RSS once a minute (every tenth of a shorter run), to tell caches filling - a
  // series that rises and then stays flat - from a leak, which keeps rising to the end.
  std::vector<std::pair<double, long>> rss_series;
  std::mutex rss_mu;
  std::condition_variable rss_cv;
  bool rss_stop = false;
  std::thread sampler([&] {
    if (pid <= 0) return;
    const double every = std::clamp(seconds / 10, 1.0, 60.0);
    std::unique_lock l(rss_mu);
    for (int k = 1;; ++k) {
      if (rss_cv.wait_until(l,
                            start + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(k * every)),
                            [&] { return rss_stop; }))
        return;
      rss_series.emplace_back(k * every, RssKb(pid));
    }
  });
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      httplib::Client cli(host, port);
      cli.set_read_timeout(120);
      std::string last_song;
      for (int n = 0; Clock::now() < end; ++n) {
        // Mostly streaming chat, as a chat page sends; one request in 10 of each other kind.
        const int i = n * clients + c, r = (n + c) % 10, kind = r < 5 ? 0 : r - 4;
        const std::string user =
            users.empty() ? "" : users[static_cast<size_t>(i * 7919) % users.size()];
        json body;
        std::string path = "/v1/chat/completions", raw;
        if (kind == 0 || kind == 1 || kind == 4) {
          body = {{"model", model},
                  {"stream", kind != 1},
                  {"seed", i},
                  {"messages", {{{"role", "user"}, {"content", kQueries[i % 8]}}}},
                  {"muchator", {{"songs", songs}}}};
          if (!user.empty()) body["user"] = user;
        } else if (kind == 2) {
          path = "/v1/recommend";
          body = {{"query", kQueries[i % 8]}, {"songs", songs}, {"seed", i}};
          if (!user.empty()) body["user"] = user;
        } else if (kind == 3) {
          if (last_song.empty() || user.empty()) continue;
          path = "/v1/feedback";
          body = {{"user", user}, {"song", last_song}, {"feedback", i % 3 ? "like" : "skip"}};
        } else {
          path = i % 2 ? "/v1/chat/completions" : "/v1/recommend";
          raw = kBad[(i / 10) % 6];
        }
        std::string buf;
        double first = -1;
        const auto t0 = Clock::now();
        httplib::Request req;
        req.method = "POST";
        req.path = path;
        req.body = raw.empty() ? body.dump() : raw;
        req.set_header("Content-Type", "application/json");
        req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
          buf.append(data, n);
          if (first < 0 && buf.find("\"delta\":{\"content\":\"") != std::string::npos)
            first = std::chrono::duration<double>(Clock::now() - t0).count();
          return kind != 4 || first < 0;  // "hang up": close the connection at the first words
        };
        auto res = cli.send(req);
        const double total = std::chrono::duration<double>(Clock::now() - t0).count();
        std::string why;
        if (kind == 4) {
          if (res && res->status >= 500) why = "HTTP " + std::to_string(res->status);
          cli.stop();       // a fresh connection after hanging up
        } else if (!res) {  // with what had arrived, to tell a refused connection from a cut stream
          why = httplib::to_string(res.error()) + " after " +
                std::to_string(static_cast<int>(total * 1000)) + " ms, " +
                std::to_string(buf.size()) + " bytes received, request " + std::to_string(n) +
                " of this client";
        } else if (kind == 5) {
          if (res->status < 400 || res->status >= 500)
            why = "HTTP " + std::to_string(res->status) + " to a bad body";
        } else if (res->status != 200) {
          why = "HTTP " + std::to_string(res->status) + ": " + buf.substr(0, 200);
        } else if (kind == 0 && buf.find("data: [DONE]") == std::string::npos) {
          why = "stream without [DONE]";
        }
        if (kind == 2 && res && res->status == 200) {
          const json j = json::parse(buf, nullptr, false);
          if (j.is_object() && j.contains("items") && !j["items"].empty())
            last_song = j["items"][0].value("id", "");
        }
        std::lock_guard l(mu);
        ++count[kinds[kind]];
        if (!why.empty()) {
          ++unexpected[kinds[kind]];
          if (examples.size() < 5) examples.push_back(std::string(kinds[kind]) + ": " + why);
        } else if (kind == 0) {
          lat.push_back(total);
          if (first >= 0) ttft.push_back(first);
        }
      }
    });
  for (auto& t : threads) t.join();
  {
    std::lock_guard l(rss_mu);
    rss_stop = true;
  }
  rss_cv.notify_all();
  sampler.join();
  const long rss1 = RssKb(pid);
  int total = 0, bad = 0;
  std::printf("%-12s %9s %11s\n", "kind", "requests", "unexpected");
  for (const char* k : kinds) {
    std::printf("%-12s %9d %11d\n", k, count[k], unexpected[k]);
    total += count[k], bad += unexpected[k];
  }
  std::printf("all          %9d %11d  (%.1f req/s over %.0f s, %d clients)\n", total, bad,
              total / seconds, seconds, clients);
  for (const auto& e : examples) std::printf("  e.g. %s\n", e.c_str());
  std::printf(
      "streamed chat: first token p50 %.0f ms, p99 %.0f ms; answer p50 %.0f ms, p99 %.0f ms\n",
      Pct(ttft, 0.5) * 1e3, Pct(ttft, 0.99) * 1e3, Pct(lat, 0.5) * 1e3, Pct(lat, 0.99) * 1e3);
  if (pid > 0) {
    std::printf("server RSS: %.1f MB before the traffic, %.1f MB at the end\n", rss0 / 1024.0,
                rss1 / 1024.0);
    std::printf("server RSS over time (s: MB):");
    for (const auto& [t, kb] : rss_series) std::printf(" %.0f: %.1f", t, kb / 1024.0);
    std::printf("\n");
    // Growth over the second half of the run: the bounded caches (10,000 remembered answers, the
    // prefix cache) fill in the first minutes; what still grows after that is a leak.
    const size_t n = rss_series.size();
    if (n >= 4 && rss_series[n / 2 - 1].second > 0) {
      const auto& [t_mid, kb_mid] = rss_series[n / 2 - 1];
      std::printf(
          "server RSS growth from %.0f s to the end: %+.1f%% (from the first sample at %.0f s: "
          "%+.1f%%)\n",
          t_mid, 100.0 * (rss1 - kb_mid) / kb_mid, rss_series[0].first,
          100.0 * (rss1 - rss_series[0].second) / rss_series[0].second);
    }
  }
  return bad;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Load benchmark of muchator serve: concurrent streaming sessions on loopback"};
  std::string url = "http://127.0.0.1:8080";
  std::vector<int> levels = {1, 8, 32};
  double seconds = 20;
  int repeats = 3, songs = 10, turns = 1;
  app.add_option("--url", url, "server address (http://HOST:PORT)");
  app.add_option("--sessions", levels, "concurrent session counts, comma-separated")
      ->delimiter(',');
  app.add_option("--seconds", seconds, "duration of each level");
  app.add_option("--repeats", repeats, "runs of every level (the median run is reported)");
  app.add_option("--songs", songs, "songs per answer");
  app.add_option("--turns", turns,
                 "requests per listener conversation (1 = a new listener every request)");
  double soak = 0;
  int server_pid = 0;
  app.add_option("--soak", soak, "one mixed-traffic run of this many seconds (bench/soak.sh)");
  app.add_option("--server-pid", server_pid, "the server's pid, for its RSS in --soak");
  CLI11_PARSE(app, argc, argv);
  const size_t colon = url.rfind(':');
  const std::string host = url.substr(url.find("//") + 2, colon - url.find("//") - 2);
  const int port = std::stoi(url.substr(colon + 1));
  httplib::Client probe(host, port);
  auto models = probe.Get("/v1/models");
  if (!models || models->status != 200) {
    std::fprintf(stderr, "error: no server at %s (start `muchator serve` first)\n", url.c_str());
    return 1;
  }
  const std::string model = json::parse(models->body)["data"][0]["id"];
  std::vector<std::string> users;
  if (auto u = probe.Get("/v1/users"); u && u->status == 200) {
    const json list = json::parse(u->body);
    for (const auto& x : list["data"]) users.push_back(x["id"].get<std::string>());
  }
  if (soak > 0) {
    std::printf("soak: server %s, model %s, %zu listeners, %d clients, %.0f s\n", url.c_str(),
                model.c_str(), users.size(), levels.front(), soak);
    return RunSoak(host, port, model, users, levels.front(), soak, songs, server_pid) == 0 ? 0 : 1;
  }
  std::printf(
      "server %s, model %s, %zu listeners, %d songs per answer, %.0f s per level, %d repeats\n",
      url.c_str(), model.c_str(), users.size(), songs, seconds, repeats);
  std::printf("%8s %6s %8s %10s %10s %10s %10s %7s\n", "sessions", "run", "req/s", "ttft p50",
              "ttft p99", "lat p50", "lat p99", "errors");
  std::vector<Level> medians;
  for (int level : levels) {
    std::vector<Level> runs;
    for (int r = 0; r < repeats; ++r) {
      runs.push_back(RunLevel(host, port, model, users, level, seconds, songs, turns));
      const auto& x = runs.back();
      std::printf("%8d %6d %8.2f %8.1fms %8.1fms %8.1fms %8.1fms %7d\n", level, r + 1, x.rps,
                  x.ttft50 * 1e3, x.ttft99 * 1e3, x.lat50 * 1e3, x.lat99 * 1e3, x.errors);
      std::fflush(stdout);
    }
    std::sort(runs.begin(), runs.end(),
              [](const Level& a, const Level& b) { return a.rps < b.rps; });
    medians.push_back(runs[runs.size() / 2]);
  }
  std::printf("\nmedian run per level (by requests/s):\n%8s %8s %10s %10s %10s %10s %7s %9s\n",
              "sessions", "req/s", "ttft p50", "ttft p99", "lat p50", "lat p99", "errors",
              "x 1 sess");
  for (const auto& m : medians)
    std::printf("%8d %8.2f %8.1fms %8.1fms %8.1fms %8.1fms %7d %8.2fx\n", m.sessions, m.rps,
                m.ttft50 * 1e3, m.ttft99 * 1e3, m.lat50 * 1e3, m.lat99 * 1e3, m.errors,
                medians[0].rps > 0 ? m.rps / medians[0].rps : 0);
  return 0;
}
