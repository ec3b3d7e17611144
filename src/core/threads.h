// Compute setup: libtorch's intra-op pool sized to the machine, and the C allocator tuned for
// tensor workloads.
#pragma once

namespace muchator {

// Sets libtorch's intra-op threads to `threads` (0 = number of cores; libtorch's own default is
// half of them). Returns the number in effect. Also calls TuneAllocator().
int SetupThreads(int threads = 0);

// Keeps freed large blocks in the heap instead of returning them to the kernel.
// Why: libtorch's CPU allocator uses posix_memalign/free, and glibc serves blocks above its mmap
// threshold with mmap and unmaps them on free, so every training step faults in (and zeroes)
// hundreds of MB of fresh pages. Raising the mmap and trim thresholds made a demo-size training
// step 1.8x (fp32) to 2.9x (bf16) faster on 1 core (bench/README.md). Memory stays bounded by the
// peak working set. Idempotent.
void TuneAllocator();

}  // namespace muchator
