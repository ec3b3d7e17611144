#!/usr/bin/env bash
# The unit suite under AddressSanitizer + UndefinedBehaviorSanitizer (the reliability issue).
# GCC, not clang: clang 14 cannot compile libtorch's headers in C++20 (the fuzz harnesses use clang
# on the torch-free parts instead, bench/fuzz.sh). Builds into build-asan/ and runs ctest there
# without the end-to-end tests (the CLI, server and GGUF/llama.cpp tests drive whole binaries for
# minutes; under ASan they would take far longer than the unit tests they add nothing to).
#
#   bash scripts/sanitize.sh [CTEST_REGEX_TO_EXCLUDE]
#
# Leak detection is off: libtorch and OpenMP keep allocations alive until exit by design.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build-asan
EXCLUDE="${1:-CliTest|serve_|gguf_llama|WorldBm25|world_bm25|llama}"
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  > "$B.cmake.log" 2>&1 || { tail -n 20 "$B.cmake.log"; exit 1; }
echo "sanitize: building into $B (log: $B.log)"
cmake --build "$B" -j"${MUCHATOR_JOBS:-$(nproc)}" > "$B.log" 2>&1 || { grep -E "error" "$B.log" | head -n 20; exit 1; }
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cd "$B"
ctest -j"${MUCHATOR_JOBS:-$(nproc)}" -E "$EXCLUDE" --output-on-failure --timeout 1800
