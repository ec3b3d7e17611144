// Logging (spdlog to stderr) and progress reporting for long loops.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace muchator {

enum class Verbosity { kQuiet, kNormal, kVerbose };

// Sets up the default spdlog logger on stderr. kQuiet shows warnings and errors only.
void SetupLogging(Verbosity v);
Verbosity CurrentVerbosity();

// Progress of a loop of known (or unknown, total = 0) length. On a terminal it redraws one line
// on stderr with a bar, rate and ETA (at most 10 times a second); otherwise it logs one line every
// `log_every` seconds. Quiet mode shows nothing. Not thread-safe: call from one thread.
class Progress {
 public:
  Progress(std::string label, uint64_t total, std::string unit = "items",
           double log_every_seconds = 5.0);
  ~Progress();  // calls Finish() if not done yet
  void Add(uint64_t n = 1);
  void Set(uint64_t done);
  // Prints the final line (count, elapsed time, mean rate).
  void Finish();
  uint64_t done() const { return done_; }
  double elapsed_seconds() const;
  // "1.2k", "3.4M": compact counts for progress lines and summaries.
  static std::string Compact(double x);
  // A rate: Compact() from 100 up, two significant digits below ("2.8", "0.41").
  static std::string Rate(double x);
  // "1:02:03" or "2:03".
  static std::string Duration(double seconds);

 private:
  void Maybe(bool force);
  std::string Line() const;

  std::string label_, unit_;
  uint64_t total_, done_ = 0;
  double log_every_;
  bool tty_, quiet_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace muchator
