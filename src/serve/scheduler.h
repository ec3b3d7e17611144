// Continuous batching for the server: one thread owns the Engine and steps it while any
// sequence is queued or running; HTTP handler threads submit sequences at any time and they
// join the running batch at the next step (infer/engine.h). Callbacks run on the engine
// thread and must be quick (they hand text to the handler thread that streams it).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "infer/engine.h"
#include "serve/metrics.h"

namespace muchator {

struct SchedulerJob {
  GenerationRequest request;                                   // its on_tokens is replaced
  std::function<void(std::span<const int> tokens)> on_tokens;  // engine thread
  // Exactly once per job, on the engine thread: the result, or `error` (then result is empty)
  // when the engine refused the request (e.g. a prompt longer than the context).
  std::function<void(GenerationResult result, const std::string& error)> on_done;
  std::shared_ptr<std::atomic<bool>> cancel;  // set by anyone: the job ends as kCancelled
};

class Scheduler {
 public:
  Scheduler(Engine& engine, ServerMetrics* metrics);
  ~Scheduler();  // stops the thread; unfinished jobs end with an error
  void Submit(std::vector<SchedulerJob> jobs);
  int queued() const { return queued_.load(); }
  int running() const { return running_.load(); }

 private:
  void Loop();
  Engine& engine_;
  ServerMetrics* metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<SchedulerJob> inbox_;
  bool stop_ = false;
  int engine_queued_ = 0;  // the engine's queue length after the last step (guarded by mu_)
  std::atomic<int> queued_{0}, running_{0};
  std::thread thread_;
};

}  // namespace muchator
