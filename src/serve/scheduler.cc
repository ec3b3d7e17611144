#include "serve/scheduler.h"

#include <map>

#include "core/error.h"
#include "core/log.h"

namespace muchator {

Scheduler::Scheduler(Engine& engine, ServerMetrics* metrics)
    : engine_(engine), metrics_(metrics), thread_([this] { Loop(); }) {}

Scheduler::~Scheduler() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Scheduler::Submit(std::vector<SchedulerJob> jobs) {
  {
    std::lock_guard l(mu_);
    for (auto& j : jobs) inbox_.push_back(std::move(j));
    // The engine is not thread-safe: its queue length is the one the engine thread last saw.
    queued_ = static_cast<int>(inbox_.size()) + engine_queued_;
  }
  cv_.notify_one();
}

void Scheduler::Loop() {
  std::map<int, SchedulerJob> active;  // engine handle -> job
  auto fail_all = [&](const std::string& why) {
    for (auto& [h, job] : active) job.on_done({}, why);
    active.clear();
  };
  for (;;) {
    std::vector<SchedulerJob> incoming;
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return stop_ || !inbox_.empty() || !active.empty(); });
      if (stop_) {
        for (auto& j : inbox_) j.on_done({}, "the server is shutting down");
        inbox_.clear();
        break;
      }
      incoming.swap(inbox_);
    }
    for (auto& job : incoming) {
      if (job.cancel && job.cancel->load()) {
        GenerationResult r;
        r.finish = FinishReason::kCancelled;
        job.on_done(std::move(r), "");
        continue;
      }
      GenerationRequest req = std::move(job.request);
      auto cb = job.on_tokens;
      req.on_tokens = [cb](std::span<const int> tokens, std::string_view) {
        if (cb) cb(tokens);
      };
      try {
        const int h = engine_.Submit(std::move(req));
        active.emplace(h, std::move(job));
      } catch (const Error& e) {
        job.on_done({}, e.problem());
      }
    }
    for (auto& [h, job] : active)
      if (job.cancel && job.cancel->load()) engine_.Cancel(h);
    try {
      engine_.Step();
    } catch (const std::exception& e) {
      // The engine's state is unknown after a failed step: end every job with the error
      // (each gets a 500) rather than hang them; later requests start from a clean batch.
      spdlog::error("engine step failed: {}", e.what());
      for (auto& [h, job] : active) engine_.Cancel(h);
      fail_all(std::string("generation failed: ") + e.what());
      continue;
    }
    int finished = 0;
    for (auto it = active.begin(); it != active.end();) {
      if (engine_.Finished(it->first)) {
        it->second.on_done(engine_.Take(it->first), "");
        it = active.erase(it);
        ++finished;
      } else {
        ++it;
      }
    }
    if (metrics_ && (engine_.running() + finished) > 0)
      metrics_->BatchSize(engine_.running() + finished);
    running_ = engine_.running();
    {
      std::lock_guard l(mu_);
      engine_queued_ = engine_.queued();
      queued_ = static_cast<int>(inbox_.size()) + engine_queued_;
    }
  }
  fail_all("the server is shutting down");
}

}  // namespace muchator
