#!/usr/bin/env bash
# Installs the Debian 12 packages MuChator-cpp needs (only those missing), then configures and
# builds it in Release (binary: build/muchator). Idempotent: a few seconds when all is present.
# `setup.sh --test` also installs what the tests need beyond the build: Node.js and npm (only
# when `node`/`npm` are missing: a newer Node from elsewhere is kept), Debian's Chromium, the
# sqlite3 tool, clang-format, the npm packages of tests/serve (the openai client, playwright-core) and of
# tests/gguf (node-llama-cpp 3.21.1 with only its prebuilt CPU build).
set -euo pipefail
cd "$(dirname "$0")/.."
FOR_TESTS=0
if [ "${1:-}" = "--test" ]; then FOR_TESTS=1; fi

PACKAGES=(
  cmake g++ make pkg-config
  libtorch-dev libopenblas0-openmp libgloo-dev   # tensors; the OpenMP OpenBLAS (2.4x the pthread one)
  libpcre2-dev libutf8proc-dev libfaiss-dev libxapian-dev libsqlite3-dev libcpp-httplib-dev
  nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libssl-dev
  libgtest-dev libbenchmark-dev
)
if ((FOR_TESTS)); then
  PACKAGES+=(sqlite3 ca-certificates clang-format)   # clang-format: the format check (ctest format_test)
  command -v chromium > /dev/null || PACKAGES+=(chromium)
  command -v node > /dev/null || PACKAGES+=(nodejs)
  command -v npm > /dev/null || PACKAGES+=(npm)
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# libtorch calls BLAS through the libblas.so.3 alternative: make sure it is the OpenMP OpenBLAS.
OMP_BLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
if [ -e "$OMP_BLAS" ] && [ "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)" != "$(readlink -f "$OMP_BLAS")" ]; then
  ${SUDO:-} update-alternatives --set libblas.so.3-x86_64-linux-gnu "$OMP_BLAS" || true
fi

if ((FOR_TESTS)) && { [ ! -d tests/serve/node_modules/openai ] || [ ! -d tests/serve/node_modules/playwright-core ]; }; then
  echo "setup: installing the npm packages of tests/serve"
  (cd tests/serve && npm ci --no-audit --no-fund --loglevel=error)
fi
if ((FOR_TESTS)) && [ ! -d tests/gguf/node_modules/@node-llama-cpp/linux-x64 ]; then
  # --omit=optional: node-llama-cpp's GPU builds (~650 MB) are optional; the CPU build is a
  # direct dependency. --ignore-scripts: its postinstall would look for a GPU or build llama.cpp.
  echo "setup: installing the npm packages of tests/gguf (node-llama-cpp, a few minutes)"
  (cd tests/gguf && npm ci --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

JOBS="${MUCHATOR_JOBS:-$(nproc)}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > build.cmake.log 2>&1 || { cat build.cmake.log; exit 1; }
# The whole build log goes to build.log; errors and warnings are printed, and on a failure the
# log's last lines too (a failing step need not print "error:").
set +e
cmake --build build -j"$JOBS" > build.log 2>&1
status=$?
set -e
grep -E "error:|warning:|Error [0-9]|\*\*\*" build.log || true
if [ "$status" -ne 0 ]; then
  echo "setup: the build failed (exit $status); the last lines of build.log:"
  tail -n 40 build.log
  exit 1
fi
test -x build/muchator
echo "setup: build/muchator is ready"
