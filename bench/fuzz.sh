#!/usr/bin/env bash
# The libFuzzer harnesses of fuzz/ (ingestion rows, the tokenizer and tokenizer.json, TOML
# configs, safetensors and GGUF files, the server's request bodies through dialogue and decoding
# constraints), built with clang under ASan + UBSan in build-fuzz/, each run for SECONDS with its
# corpus seeded from real files: a tiny world's JSONL rows, a tokenizer trained on it, the
# effective configurations the commands write, the rows of ../shared/data/music-reco-ner.
#
#   bash bench/fuzz.sh [SECONDS_EACH=60] [HARNESS...]
#     harnesses: ingest_row tokenizer config_toml safetensors gguf serve_request
#   FUZZ_MAX_RUNS=N stops a harness after N executions when that comes before SECONDS_EACH
#   (the issue's bar is "30 minutes or 10M executions": FUZZ_MAX_RUNS=10000000 bash bench/fuzz.sh 1800).
#
# Prints, per harness, the executions, executions per second, corpus size and findings (crash-*,
# leak-*, timeout-* files libFuzzer writes into build-fuzz/findings/HARNESS/). Exit status 1 when
# any harness found something. Needs clang and libFuzzer (Debian: clang, libclang-rt-14-dev;
# installed when missing) and build/muchator for the seeds (bash scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-60}"
shift || true
HARNESSES=("$@")
((${#HARNESSES[@]})) || HARNESSES=(ingest_row tokenizer config_toml safetensors gguf serve_request)
missing=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ -x build/muchator ] || { echo "fuzz: build/muchator is needed for the seeds: bash scripts/setup.sh"; exit 1; }
B=build-fuzz
echo "fuzz: building ${HARNESSES[*]} with clang, ASan + UBSan, into $B (logs: $B.log)"
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DMUCHATOR_FUZZ=ON \
  > "$B.cmake.log" 2>&1 || { tail -n 20 "$B.cmake.log"; exit 1; }
targets=()
for h in "${HARNESSES[@]}"; do targets+=("${h}_fuzz"); done
cmake --build "$B" -j"${MUCHATOR_JOBS:-$(nproc)}" --target "${targets[@]}" > "$B.log" 2>&1 ||
  { grep -E "error" "$B.log" | head -n 20; tail -n 20 "$B.log"; exit 1; }

# Seeds from real files (made once).
S="$B/seeds"
if [ ! -f "$S/DONE" ]; then
  rm -rf "$S" && mkdir -p "$S/ingest_row" "$S/tokenizer" "$S/config_toml"
  build/muchator -q world --size tiny --seed 3 --out "$S/world" > /dev/null
  build/muchator -q ingest --input "$S/world" --store "$S/store.sqlite" > /dev/null
  build/muchator -q train-tokenizer --store "$S/store.sqlite" --out "$S/tok" --vocab-size 600 > /dev/null
  n=0
  for f in "$S"/world/*.jsonl; do
    head -n 20 "$f" | while IFS= read -r line; do printf '%s' "$line" > "$S/ingest_row/$(basename "$f" .jsonl)_$((n++))"; done
  done
  if [ -d ../shared/data/music-reco-ner ]; then
    build/muchator -q convert --dataset musicreconer --input ../shared/data/music-reco-ner --out "$S/ner" > /dev/null 2>&1 || true
    for f in "$S"/ner/*.jsonl; do
      [ -f "$f" ] && head -n 10 "$f" | split -l 1 - "$S/ingest_row/ner_$(basename "$f" .jsonl)_"
    done
  fi
  # tokenizer: an odd first byte loads the rest as tokenizer.json, an even one encodes it.
  { printf '\x01'; cat "$S/tok/tokenizer.json"; } > "$S/tokenizer/tokenizer_json"
  k=0
  head -n 30 "$S/world/queries.jsonl" | while IFS= read -r line; do { printf '\x00'; printf '%s' "$line"; } > "$S/tokenizer/text_$((k++))"; done
  find "$S" -name "*.toml" -exec cp {} "$S/config_toml/" \;
  touch "$S/DONE"
fi

found=0
RUNS=()
[ -n "${FUZZ_MAX_RUNS:-}" ] && RUNS=(-runs="$FUZZ_MAX_RUNS")
printf '\n| harness | seconds | executions | exec/s | corpus | findings |\n|---|---:|---:|---:|---:|---:|\n'
for h in "${HARNESSES[@]}"; do
  C="$B/corpus/$h" F="$B/findings/$h"
  mkdir -p "$C" "$F"
  cp -n "$S/$h"/* "$C/" 2>/dev/null || true
  cp -n "fuzz/regressions/$h"/* "$C/" 2>/dev/null || true  # the hand-made hard cases seed it too
  log="$B/$h.fuzz.log"
  set +e
  t0=$(date +%s)
  ASAN_OPTIONS=detect_leaks=1 "$B/fuzz/${h}_fuzz" -max_total_time="$SECS" "${RUNS[@]}" -print_final_stats=1 \
    -artifact_prefix="$F/" -rss_limit_mb=4096 -timeout=20 "$C" > "$log" 2>&1
  set -e
  took=$(($(date +%s) - t0))
  execs=$(grep -oE "stat::number_of_executed_units: [0-9]+" "$log" | grep -oE "[0-9]+$" || echo 0)
  rate=$(grep -oE "exec/s: [0-9]+" "$log" | tail -n 1 | grep -oE "[0-9]+$" || echo 0)
  corpus=$(ls "$C" | wc -l)
  nf=$(ls "$F" | wc -l)
  ((nf == 0)) || found=1
  printf '| %s | %s | %s | %s | %s | %s |\n' "$h" "$took" "${execs:-0}" "${rate:-0}" "$corpus" "$nf"
  ((nf == 0)) || { echo "  findings in $F (log: $log):"; grep -E "ERROR|runtime error|terminate|Assertion" "$log" | head -n 5; }
done
exit $found
