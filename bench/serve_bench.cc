// Load benchmark of `muchator serve` on loopback: N concurrent sessions, each sending streaming
// chat requests back to back for a bounded time. Per level: requests/s, time to first token
// (first content delta) and full-answer latency p50/p99, errors; levels repeated and the median
// run reported, with throughput relative to one session measured in the same invocation.
//
//   build/muchator serve --run runs/demo --port 8090 &
//   build/bench/serve_bench --url http://127.0.0.1:8090 --sessions 1,8,32 --seconds 20 --repeats 3
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
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
