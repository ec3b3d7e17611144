// What this CPU can do, read once from /proc/cpuinfo (Linux; false elsewhere).
#pragma once

namespace muchator {

// Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX-BF16 in /proc/cpuinfo). Without
// it, bf16 autocast is emulated and many times slower than fp32 (seen: 83 tokens/s against
// thousands on an AVX2-only EPYC), so training and the engine fall back to fp32.
bool CpuHasNativeBf16();

// Whether this CPU has AVX512-BF16 (the engine's own bf16 kernels for few rows need it:
// infer/linear.cc, infer/attention.cc).
bool CpuHasAvx512Bf16();

}  // namespace muchator
