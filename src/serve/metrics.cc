#include "serve/metrics.h"

#include <fmt/format.h>

namespace muchator {

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

std::string Histogram::Render(const std::string& name, const std::string& help) const {
  std::string s = fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    s += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cum);
  }
  s += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, count_, name,
                   sum_, name, count_);
  return s;
}

ServerMetrics::ServerMetrics()
    : ttft_({0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5}),
      latency_({0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30}),
      batch_({1, 2, 4, 8, 16, 32, 64}) {}

void ServerMetrics::Request(const std::string& endpoint, int status) {
  std::lock_guard l(mu_);
  ++requests_[{endpoint, status}];
}
void ServerMetrics::FirstToken(double s) {
  std::lock_guard l(mu_);
  ttft_.Observe(s);
}
void ServerMetrics::Latency(double s) {
  std::lock_guard l(mu_);
  latency_.Observe(s);
}
void ServerMetrics::BatchSize(int running) {
  std::lock_guard l(mu_);
  batch_.Observe(running);
}
void ServerMetrics::Tokens(int prompt, int completion) {
  std::lock_guard l(mu_);
  prompt_tokens_ += prompt;
  completion_tokens_ += completion;
}

std::string ServerMetrics::Render(int queued, int running) const {
  std::lock_guard l(mu_);
  std::string s =
      "# HELP muchator_requests_total HTTP requests by endpoint and status code.\n"
      "# TYPE muchator_requests_total counter\n";
  uint64_t errors = 0;
  for (const auto& [key, n] : requests_) {
    s += fmt::format("muchator_requests_total{{endpoint=\"{}\",code=\"{}\"}} {}\n", key.first,
                     key.second, n);
    if (key.second >= 400) errors += n;
  }
  s += fmt::format(
      "# HELP muchator_errors_total Requests answered with a 4xx or 5xx status.\n"
      "# TYPE muchator_errors_total counter\nmuchator_errors_total {}\n",
      errors);
  s += ttft_.Render("muchator_time_to_first_token_seconds",
                    "From request arrival to the first generated token.");
  s += latency_.Render("muchator_request_latency_seconds",
                       "From request arrival to the complete answer.");
  s +=
      batch_.Render("muchator_decode_batch_size", "Sequences decoded together in one engine step.");
  s += fmt::format(
      "# HELP muchator_prompt_tokens_total Prompt tokens.\n# TYPE muchator_prompt_tokens_total "
      "counter\n"
      "muchator_prompt_tokens_total {}\n"
      "# HELP muchator_completion_tokens_total Generated tokens.\n"
      "# TYPE muchator_completion_tokens_total counter\nmuchator_completion_tokens_total {}\n",
      prompt_tokens_, completion_tokens_);
  s += fmt::format(
      "# HELP muchator_queued_sequences Sequences waiting for a decoding slot.\n"
      "# TYPE muchator_queued_sequences gauge\nmuchator_queued_sequences {}\n"
      "# HELP muchator_running_sequences Sequences being decoded.\n"
      "# TYPE muchator_running_sequences gauge\nmuchator_running_sequences {}\n",
      queued, running);
  return s;
}

}  // namespace muchator
