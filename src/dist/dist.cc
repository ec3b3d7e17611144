#include "dist/dist.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "core/error.h"

namespace muchator::dist {

namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0')
    throw Error(std::string("not an integer: '") + v + "'", name, "set it to a number or unset it");
  return static_cast<int>(x);
}

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

}  // namespace

Config Config::FromEnvironment() {
  Config c;
  c.world_size = EnvInt("WORLD_SIZE", c.world_size);
  c.rank = EnvInt("RANK", c.rank);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) c.addr = a;
  c.port = EnvInt("MASTER_PORT", c.port);
  return c;
}

std::string Config::SetAddress(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size())
    return "'" + std::string(text) + "' is not HOST:PORT (e.g. 10.0.0.1:29500)";
  const std::string port_text(text.substr(colon + 1));
  size_t used = 0;
  int p = 0;
  try {
    p = std::stoi(port_text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != port_text.size())
    return "'" + std::string(text) + "' has no numeric port (e.g. 10.0.0.1:29500)";
  addr = std::string(text.substr(0, colon));
  port = p;
  return "";
}

void Config::Validate() const {
  if (world_size < 1)
    throw Error("world size must be at least 1", "--world-size", "e.g. --world-size 2");
  if (rank < 0 || rank >= world_size)
    throw Error("rank " + std::to_string(rank) + " is outside 0.." + std::to_string(world_size - 1),
                "--rank", "give each process a distinct rank below --world-size");
  if (port < 1 || port > 65535)
    throw Error("port out of range", "--dist-addr", "use HOST:PORT with 1 <= PORT <= 65535");
  if (timeout_s <= 0)
    throw Error("time-out must be positive", "--dist-timeout", "e.g. --dist-timeout 300");
}

struct Group::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

Group::Group(const Config& config) : config_(config), impl_(std::make_unique<Impl>()) {
  config_.Validate();
  // A peer that dies mid-collective closes its sockets; a write to one then raises SIGPIPE, which
  // would kill this rank silently (exit 141) before the collective's error reaches the clear
  // "failed on rank R" message. Ignored, the write fails with EPIPE and Gloo throws instead.
  std::signal(SIGPIPE, SIG_IGN);
  const std::string where = config_.addr + ":" + std::to_string(config_.port);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(config_.port);
    so.isServer = config_.rank == 0;
    so.numWorkers = static_cast<size_t>(config_.world_size);
    so.waitWorkers = true;
    so.timeout = Millis(config_.timeout_s);
    impl_->store = c10::make_intrusive<c10d::TCPStore>(config_.addr, so);
    auto options = c10d::ProcessGroupGloo::Options::create(Millis(config_.timeout_s));
    // Gloo's own connections: bound to the address that reaches rank 0 on this machine when that
    // is a loopback job, else to the machine's hostname (createDefaultDevice).
    const bool local = config_.addr == "127.0.0.1" || config_.addr == "localhost";
    options->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                     : c10d::ProcessGroupGloo::createDefaultDevice());
    options->threads = 1;
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, config_.rank,
                                                            config_.world_size, options);
  } catch (const std::exception& e) {
    throw Error(std::string("rank ") + std::to_string(config_.rank) + " could not join the " +
                    std::to_string(config_.world_size) + "-process job: " + e.what(),
                where,
                "start every rank with the same --world-size and --dist-addr within "
                "--dist-timeout; rank 0 must be "
                "reachable on that port (docs/distributed.md)");
  }
}

Group::~Group() = default;

void Group::Run(const char* what, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    throw Error(std::string(what) + " failed on rank " + std::to_string(config_.rank) + " of " +
                    std::to_string(config_.world_size) + ": " + e.what(),
                config_.addr + ":" + std::to_string(config_.port),
                "another rank stopped or the network broke; restart every rank with --resume");
  }
}

void Group::Broadcast(const std::vector<torch::Tensor>& tensors) {
  if (tensors.empty()) return;
  Run("broadcast", [&] {
    torch::NoGradGuard g;
    std::vector<torch::Tensor> flat;
    for (const auto& t : tensors) flat.push_back(t.detach().reshape({-1}).to(torch::kFloat64));
    std::vector<torch::Tensor> buf = {torch::cat(flat)};
    impl_->pg->broadcast(buf)->wait();
    int64_t at = 0;
    for (const auto& t : tensors) {
      const int64_t n = t.numel();
      t.detach().copy_(buf[0].slice(0, at, at + n).view(t.sizes()));
      at += n;
    }
  });
}

void Group::AllReduceGradients(const std::vector<torch::Tensor>& params) {
  const auto start = std::chrono::steady_clock::now();
  Run("gradient allreduce", [&] {
    torch::NoGradGuard g;
    std::vector<torch::Tensor> flat;
    for (const auto& p : params)
      flat.push_back(p.grad().defined() ? p.grad().reshape({-1}).to(torch::kFloat32)
                                        : torch::zeros({p.numel()}, torch::kFloat32));
    std::vector<torch::Tensor> buf = {torch::cat(flat)};
    impl_->pg->allreduce(buf)->wait();
    int64_t at = 0;
    for (const auto& p : params) {
      const int64_t n = p.numel();
      auto part = buf[0].slice(0, at, at + n).view(p.sizes());
      if (p.grad().defined())
        p.mutable_grad().copy_(part);
      else
        p.mutable_grad() = part.to(p.scalar_type()).clone();
      at += n;
    }
  });
  allreduce_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++allreduce_calls_;
}

double Group::AllReduceSum(double x) { return AllReduceSum(std::vector<double>{x})[0]; }

std::vector<double> Group::AllReduceSum(const std::vector<double>& x) {
  std::vector<double> out = x;
  if (x.empty()) return out;
  Run("allreduce", [&] {
    std::vector<torch::Tensor> buf = {
        torch::from_blob(out.data(), {static_cast<int64_t>(out.size())}, torch::kFloat64).clone()};
    impl_->pg->allreduce(buf)->wait();
    std::copy_n(buf[0].data_ptr<double>(), out.size(), out.begin());
  });
  return out;
}

void Group::Barrier() {
  Run("barrier", [&] { impl_->pg->barrier()->wait(); });
}

uint64_t Digest(const std::vector<torch::Tensor>& tensors) {
  uint64_t h = 1469598103934665603ULL;
  for (const auto& t : tensors) {
    const torch::Tensor c = t.detach().contiguous().cpu();
    const auto* p = static_cast<const unsigned char*>(c.data_ptr());
    const size_t n = static_cast<size_t>(c.numel()) * c.element_size();
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  }
  return h;
}

}  // namespace muchator::dist
