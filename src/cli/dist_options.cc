#include "cli/dist_options.h"

#include "core/error.h"
#include "core/log.h"

namespace muchator::cli {

void DistOptions::Declare(Options& opts) {
  opts.Add(
          "world-size", &world_size_,
          "data-parallel processes in the job (0 = $WORLD_SIZE, else 1); `muchator launch` sets it")
      .Range(0, 1e6);
  opts.Add("rank", &rank_, "this process's rank, 0..world-size-1 (-1 = $RANK, else 0)")
      .Range(-1, 1e6);
  opts.Add("dist-addr", &addr_,
           "HOST:PORT of rank 0, which hosts the rendezvous (empty = $MASTER_ADDR:$MASTER_PORT, "
           "else 127.0.0.1:29500)")
      .Check([this]() -> std::string {
        dist::Config c;
        return addr_.empty() ? "" : c.SetAddress(addr_);
      });
  opts.Add("dist-timeout", &timeout_s_,
           "seconds to wait for the other ranks at start and in every collective before failing")
      .Range(1, 1e6);
}

dist::Config DistOptions::Resolve() const {
  dist::Config c = dist::Config::FromEnvironment();
  if (world_size_ > 0) c.world_size = static_cast<int>(world_size_);
  if (rank_ >= 0) c.rank = static_cast<int>(rank_);
  if (!addr_.empty()) {
    const std::string err = c.SetAddress(addr_);  // checked when the flags were read
    if (!err.empty()) throw Error(err, "--dist-addr", "e.g. --dist-addr 10.0.0.1:29500");
  }
  c.timeout_s = timeout_s_;
  c.Validate();
  return c;
}

std::shared_ptr<dist::Group> DistOptions::Start() const {
  const dist::Config c = Resolve();
  if (!c.enabled()) return nullptr;
  spdlog::info("rank {} of {}: joining the job at {}:{} (c10d TCPStore + Gloo)", c.rank,
               c.world_size, c.addr, c.port);
  auto group = std::make_shared<dist::Group>(c);
  if (c.rank != 0) spdlog::set_level(spdlog::level::warn);  // one progress bar and log: rank 0's
  spdlog::info("all {} ranks joined", c.world_size);
  return group;
}

}  // namespace muchator::cli
