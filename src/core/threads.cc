#include "core/threads.h"

#include <ATen/Parallel.h>
#include <malloc.h>

#include <thread>

namespace muchator {

void TuneAllocator() {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);  // 1 GiB: tensors below this come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);  // do not give freed heap memory back eagerly
}

int SetupThreads(int threads) {
  TuneAllocator();
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  return at::get_num_threads();
}

}  // namespace muchator
