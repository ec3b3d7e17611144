// Thread setup for compute: libtorch's intra-op pool sized to the machine.
#pragma once

namespace muchator {

// Sets libtorch's intra-op threads to `threads` (0 = number of cores; libtorch's own default is
// half of them). Returns the number in effect.
int SetupThreads(int threads = 0);

}  // namespace muchator
