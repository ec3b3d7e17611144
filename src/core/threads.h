// Compute setup: libtorch's intra-op pool sized to the machine, and the C allocator tuned for
// tensor workloads.
#pragma once

namespace muchator {

// Sets libtorch's intra-op threads to `threads` (0 = $MUCHATOR_THREADS if set, else the number of
// cores; libtorch's own default is half of them). Returns the number in effect. Also calls
// TuneAllocator().
int SetupThreads(int threads = 0);

// Keeps freed large blocks in the heap instead of returning them to the kernel.
// Why: libtorch's CPU allocator uses posix_memalign/free, and glibc serves blocks above its mmap
// threshold with mmap and unmaps them on free, so every training step faults in (and zeroes)
// hundreds of MB of fresh pages. Serving all blocks from the heap (M_MMAP_MAX = 0) and not trimming
// it eagerly makes a demo-size training step several times faster (bench/README.md). Memory stays
// bounded by the peak working set. Idempotent.
void TuneAllocator();

}  // namespace muchator
