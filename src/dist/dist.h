// Data-parallel training across processes and machines through torch's c10d with the Gloo
// backend (Debian's libtorch; a CUDA build of libtorch offers NCCL through the same API). No
// home-made protocol: rank 0 hosts a c10d TCPStore for the rendezvous, Gloo does the collectives.
//
// One Group per process. Every collective has a time-out: when a rank dies or the network breaks,
// the others fail with an Error naming the job's address and what to do, instead of hanging.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace muchator::dist {

struct Config {
  int world_size = 1, rank = 0;
  std::string addr = "127.0.0.1";  // rank 0's address (it hosts the rendezvous store)
  int port = 29500;
  double timeout_s = 300;  // of the rendezvous and of every collective
  bool enabled() const { return world_size > 1; }
  // Defaults from the environment torchrun users set: WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT
  // (unset or empty variables keep the defaults above). Throws Error for a malformed value.
  static Config FromEnvironment();
  // Throws Error naming the option when rank/world size/port are out of range.
  void Validate() const;
  // Sets addr and port from "HOST:PORT" (the --dist-addr flag); returns what is wrong with
  // `text`, or "" when it was read.
  std::string SetAddress(std::string_view text);
};

class Group {
 public:
  // Joins the job: waits up to timeout_s for all world_size ranks at addr:port.
  explicit Group(const Config& config);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const { return config_.rank; }
  int size() const { return config_.world_size; }
  bool root() const { return config_.rank == 0; }
  const Config& config() const { return config_; }

  // Rank 0's values of `tensors` copied into every rank's, in place (through one flat float64
  // buffer, exact for fp32/bf16/fp16 parameters).
  void Broadcast(const std::vector<torch::Tensor>& tensors);
  // Every parameter's .grad() replaced by the sum over ranks (undefined gradients count as zero),
  // through one flattened fp32 allreduce.
  void AllReduceGradients(const std::vector<torch::Tensor>& params);
  // Sum of `x` over ranks; the vector form sums element-wise in one collective.
  double AllReduceSum(double x);
  std::vector<double> AllReduceSum(const std::vector<double>& x);
  void Barrier();
  // Seconds spent in AllReduceGradients so far, and how many calls.
  double allreduce_seconds() const { return allreduce_seconds_; }
  int64_t allreduce_calls() const { return allreduce_calls_; }

 private:
  struct Impl;
  void Run(const char* what, const std::function<void()>& fn);
  Config config_;
  std::unique_ptr<Impl> impl_;
  double allreduce_seconds_ = 0;
  int64_t allreduce_calls_ = 0;
};

// FNV-1a over the bytes of every tensor (contiguous CPU copies): equal digests = bit-identical.
uint64_t Digest(const std::vector<torch::Tensor>& tensors);

}  // namespace muchator::dist
