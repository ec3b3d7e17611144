#!/usr/bin/env bash
# The GRPO soup's wall time with its runs one after the other in one process (--parallel-runs 1,
# each run on all the threads) against side by side as child processes (the default: one run per
# thread), from a finished main job's SFT checkpoint, judge and ranking model, with the main job's
# GRPO settings (--constrained, the default reward and soup of two runs; no held-out evaluation).
# Each mode runs REPEATS times, alternating; prints every time, the medians and their ratio.
#
#   bash bench/grpo_soup_bench.sh RUN [STEPS=20] [REPEATS=3] [THREADS=2]
#   bash bench/grpo_soup_bench.sh runs/demo 20 3
#
# Writes RUN/grpo_soup_bench/ (removed at the end: the checkpoints are 3 x 90 MB per repeat).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/timing.sh
RUN="${1:?usage: bash bench/grpo_soup_bench.sh RUN [STEPS] [REPEATS] [THREADS]}"
STEPS="${2:-20}"
REPEATS="${3:-3}"
THREADS="${4:-2}"
BIN=build/muchator
[ -x "$BIN" ] || { echo "grpo_soup_bench: build first (bash scripts/setup.sh)"; exit 1; }
for f in sft/sft/final/DONE judge/judge.json ranker/ranker.json store.sqlite; do
  [ -e "$RUN/$f" ] || { echo "grpo_soup_bench: $RUN/$f not found: give a finished main job's run"; exit 1; }
done
OUT="$RUN/grpo_soup_bench"
declare -A times
for ((i = 1; i <= REPEATS; i++)); do
  for mode in serial parallel; do
    flags=()
    [ "$mode" = serial ] && flags=(--parallel-runs 1)
    rm -rf "$OUT/$mode"
    mkdir -p "$OUT"
    t0=$(date +%s.%N)
    "$BIN" -q grpo --init "$RUN/sft/sft/final" --store "$RUN/store.sqlite" --judge "$RUN/judge" \
      --ranker "$RUN/ranker" --constrained --steps "$STEPS" --eval-requests 0 \
      --threads "$THREADS" "${flags[@]}" --out "$OUT/$mode" > "$OUT/$mode.log" 2>&1 ||
      { echo "grpo_soup_bench: $mode failed, see $OUT/$mode.log"; tail -n 20 "$OUT/$mode.log"; exit 1; }
    t=$(seconds_since "$t0")
    times[$mode]+="$t "
    printf "repeat %d %-8s %6.1f s\n" "$i" "$mode" "$t"
  done
done
s=$(echo "${times[serial]}" | median)
p=$(echo "${times[parallel]}" | median)
printf "GRPO soup of 2 runs x %s steps, %s threads, %s repeats: serial median %.1f s, side by side %.1f s, ratio %.2f\n" \
  "$STEPS" "$THREADS" "$REPEATS" "$s" "$p" "$(ratio "$s" "$p")"
rm -rf "$OUT"
