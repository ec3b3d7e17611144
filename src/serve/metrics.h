// Server metrics in the Prometheus text exposition format (GET /metrics): request counters by
// endpoint and status, and histograms of time to first token, request latency and decoding
// batch sizes. Written here because Debian 12 packages no Prometheus client for C++ and the
// format is a few lines of text (https://prometheus.io/docs/instrumenting/exposition_formats/).
// Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace muchator {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void Observe(double v);
  // "name_bucket{le=...} n" lines, name_sum and name_count (cumulative buckets, as Prometheus
  // wants).
  std::string Render(const std::string& name, const std::string& help) const;
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

class ServerMetrics {
 public:
  ServerMetrics();
  void Request(const std::string& endpoint, int status);
  void FirstToken(double seconds);
  void Latency(double seconds);
  void BatchSize(int running);
  void Tokens(int prompt, int completion);
  std::string Render(int queued, int running) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  Histogram ttft_, latency_, batch_;
  uint64_t prompt_tokens_ = 0, completion_tokens_ = 0;
};

}  // namespace muchator
