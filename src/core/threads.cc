#include "core/threads.h"

#include <ATen/Parallel.h>
#include <malloc.h>

#include <cstdlib>
#include <thread>

namespace muchator {

void TuneAllocator() {
  // glibc caps M_MMAP_THRESHOLD at 32 MiB, so big tensors (a batch's logits are 60+ MB) would
  // still be mmapped and re-faulted every step; M_MMAP_MAX = 0 serves everything from the heap.
  mallopt(M_MMAP_MAX, 0);
  // Never give freed heap memory back to the system: a training step's transient tensors (SFT's
  // 1024-token attention scores: 4 x 8 x 1024 x 1024 floats = 128 MB per tensor per layer) exceed
  // any fixed threshold, so the heap was trimmed after each step and its pages faulted in again by
  // the next one (41 million minor faults in one main job; SFT at 1,000 instead of ~3,000
  // tokens/s). -1 disables trimming (mallopt(3)); the process keeps its peak heap until it exits.
  mallopt(M_TRIM_THRESHOLD, -1);
}

int SetupThreads(int threads) {
  TuneAllocator();
  // MUCHATOR_THREADS: the default set by `muchator launch` so local ranks share the cores.
  if (const char* env = std::getenv("MUCHATOR_THREADS"); threads <= 0 && env && std::atoi(env) > 0)
    threads = std::atoi(env);
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  return at::get_num_threads();
}

}  // namespace muchator
