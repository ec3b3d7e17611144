#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace muchator {

namespace {
Verbosity g_verbosity = Verbosity::kNormal;
}

void SetupLogging(Verbosity v) {
  g_verbosity = v;
  auto logger = spdlog::stderr_color_mt("muchator");
  logger->set_pattern("%^[%H:%M:%S %l]%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(v == Verbosity::kQuiet     ? spdlog::level::warn
                    : v == Verbosity::kVerbose ? spdlog::level::debug
                                               : spdlog::level::info);
}

Verbosity CurrentVerbosity() { return g_verbosity; }

Progress::Progress(std::string label, uint64_t total, std::string unit, double log_every_seconds)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      log_every_(log_every_seconds),
      tty_(::isatty(STDERR_FILENO) != 0),
      quiet_(g_verbosity == Verbosity::kQuiet),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { Finish(); }

void Progress::Add(uint64_t n) {
  done_ += n;
  Maybe(false);
}

void Progress::Set(uint64_t done) {
  done_ = done;
  Maybe(false);
}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::Compact(double x) {
  char buf[32];
  if (x >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2fG", x / 1e9);
  else if (x >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM", x / 1e6);
  else if (x >= 1e4)
    std::snprintf(buf, sizeof buf, "%.1fk", x / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", x);
  return buf;
}

std::string Progress::Rate(double x) {
  if (x >= 100) return Compact(x);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2g", x);
  return buf;
}

std::string Progress::Duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

std::string Progress::Line() const {
  const double t = elapsed_seconds();
  const double rate = t > 0 ? done_ / t : 0;
  std::string s = label_ + " ";
  if (total_ > 0) {
    const double frac = std::min(1.0, static_cast<double>(done_) / total_);
    if (tty_) {
      const int width = 24, filled = static_cast<int>(frac * width);
      s += "[" + std::string(filled, '=') + std::string(width - filled, ' ') + "] ";
    }
    char pct[16];
    std::snprintf(pct, sizeof pct, "%3.0f%% ", 100 * frac);
    s += pct + Compact(done_) + "/" + Compact(total_) + " " + unit_;
    s += ", " + Rate(rate) + " " + unit_ + "/s";
    if (!finished_)
      s += ", ETA " + Duration(rate > 0 ? (total_ - std::min(total_, done_)) / rate : -1);
  } else {
    s += Compact(done_) + " " + unit_ + ", " + Rate(rate) + " " + unit_ + "/s";
  }
  s += ", elapsed " + Duration(t);
  return s;
}

void Progress::Maybe(bool force) {
  if (quiet_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (tty_) {
    if (!force && since < 0.1) return;
    std::fprintf(stderr, "\r\033[K%s", Line().c_str());
    std::fflush(stderr);
  } else {
    if (!force && since < log_every_) return;
    spdlog::info("{}", Line());
  }
  last_draw_ = now;
}

void Progress::Finish() {
  if (finished_) return;
  finished_ = true;
  if (quiet_) return;
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s\n", Line().c_str());
  } else {
    spdlog::info("{}", Line());
  }
}

}  // namespace muchator
