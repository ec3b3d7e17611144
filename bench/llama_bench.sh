#!/usr/bin/env bash
# Our engine against llama.cpp on the same weights (bench/README.md, "llama.cpp side by side"):
#   bash bench/llama_bench.sh CKPT OUT_DIR [--big] [-- llama_bench.mjs flags]
# exports CKPT as f32 GGUF into OUT_DIR and runs bench/llama_bench.mjs on it (2 threads, medians
# of 5 interleaved runs). --big also builds a random-weight checkpoint of Qwen3-0.6B's shape
# (build/bench/random_checkpoint; ~2.4 GB f32, larger than any L3 cache) and measures it too.
# Needs `bash scripts/setup.sh --test` (node-llama-cpp in tests/gguf).
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=${1:?usage: bench/llama_bench.sh CKPT OUT_DIR [--big] [-- flags]}
OUT=${2:?usage: bench/llama_bench.sh CKPT OUT_DIR [--big] [-- flags]}
shift 2
BIG=0
if [ "${1:-}" = "--big" ]; then BIG=1; shift; fi
if [ "${1:-}" = "--" ]; then shift; fi
mkdir -p "$OUT"
# llama.cpp's decode loop, built against the headers and libraries node-llama-cpp ships.
L=tests/gguf/node_modules
LIB=$(realpath "$L/@node-llama-cpp/linux-x64/bins/linux-x64")
SRC=$L/node-llama-cpp/llama/llama.cpp
g++ -O2 -std=c++17 bench/llama_decode.cc -I"$SRC/include" -I"$SRC/ggml/include" -L"$LIB" -l:libllama.v0.4.0.so \
  -l:libggml.v0.4.0.so -l:libggml-base.so -Wl,-rpath,"$LIB" -o "$OUT/llama_decode"
FLAGS=(--llama-decode "$OUT/llama_decode" --backends "$LIB")
build/muchator -q export-gguf --model "$CKPT" --out "$OUT/model.gguf" --type f32
node bench/llama_bench.mjs --model "$CKPT" --gguf "$OUT/model.gguf" "${FLAGS[@]}" "$@" | tee "$OUT/llama_bench.json"
if ((BIG)); then
  build/bench/random_checkpoint --like "$CKPT" --shape qwen3-0.6b --out "$OUT/qwen3-0.6b"
  build/muchator -q export-gguf --model "$OUT/qwen3-0.6b" --out "$OUT/qwen3-0.6b.gguf" --type f32
  node bench/llama_bench.mjs --model "$OUT/qwen3-0.6b" --gguf "$OUT/qwen3-0.6b.gguf" "${FLAGS[@]}" --runs 3 \
    --tokens 32 --long-words 30 "$@" \
    | tee "$OUT/llama_bench_0.6b.json"
fi
