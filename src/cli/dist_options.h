// The launch options every training command shares for data-parallel runs (docs/distributed.md):
// --world-size N --rank R --dist-addr HOST:PORT [--dist-timeout S], or the same from WORLD_SIZE,
// RANK, MASTER_ADDR and MASTER_PORT as torchrun users expect (flags win over the environment).
#pragma once

#include <memory>
#include <string>

#include "core/options.h"
#include "dist/dist.h"

namespace muchator::cli {

class DistOptions {
 public:
  void Declare(Options& opts);
  // The effective configuration: flags, else the environment, else one process.
  dist::Config Resolve() const;
  // Null for one process; otherwise joins the job (ranks other than 0 then log warnings only).
  std::shared_ptr<dist::Group> Start() const;

 private:
  int64_t world_size_ = 0, rank_ = -1;
  std::string addr_;
  double timeout_s_ = 300;
};

}  // namespace muchator::cli
