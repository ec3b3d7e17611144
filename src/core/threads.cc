#include "core/threads.h"

#include <ATen/Parallel.h>
#include <malloc.h>

#include <thread>

namespace muchator {

void TuneAllocator() {
  // glibc caps M_MMAP_THRESHOLD at 32 MiB, so big tensors (a batch's logits are 60+ MB) would
  // still be mmapped and re-faulted every step; M_MMAP_MAX = 0 serves everything from the heap.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);  // do not give freed heap memory back eagerly
}

int SetupThreads(int threads) {
  TuneAllocator();
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  return at::get_num_threads();
}

}  // namespace muchator
