#!/usr/bin/env bash
# Instruction tuning with its packed rows as they are (--split-documents=false) against one
# document per row (the default, SplitDocuments in src/train/packer.h), from a finished main job's
# pre-trained checkpoint and UQ2I triplets, with the main job's SFT settings (512-token rows of 8,
# whole documents, the general stage's documents replayed beside the triplets). Each mode runs REPEATS
# times, alternating; prints each time, the training tokens/s and loss of the last logged step
# (the two modes' losses agree to float rounding), the medians and their ratio.
#
#   bash bench/split_documents_bench.sh RUN [STEPS=20] [REPEATS=3] [THREADS=1]
#   bash bench/split_documents_bench.sh runs/demo 20 3
#
# Writes RUN/split_documents_bench/ (removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/timing.sh
RUN="${1:?usage: bash bench/split_documents_bench.sh RUN [STEPS] [REPEATS] [THREADS]}"
STEPS="${2:-20}"
REPEATS="${3:-3}"
THREADS="${4:-1}"
BIN=build/muchator
[ -x "$BIN" ] || { echo "split_documents_bench: build first (bash scripts/setup.sh)"; exit 1; }
for f in uq2i/triplets.jsonl corpus/stage0_general.index.json pretrain/stage3_behaviour/final/model.safetensors store.sqlite; do
  [ -e "$RUN/$f" ] || { echo "split_documents_bench: $RUN/$f not found: give a finished main job's run"; exit 1; }
done
OUT="$RUN/split_documents_bench"
declare -A times
for ((i = 1; i <= REPEATS; i++)); do
  for split in false true; do
    rm -rf "$OUT/$split"
    mkdir -p "$OUT"
    t0=$(date +%s.%N)
    "$BIN" -q sft --triplets "$RUN/uq2i/triplets.jsonl" --store "$RUN/store.sqlite" \
      --init "$RUN/pretrain/stage3_behaviour/final" --replay-corpus "$RUN/corpus" --steps "$STEPS" --split-documents="$split" \
      --threads "$THREADS" --out "$OUT/$split" > "$OUT/$split.log" 2>&1 ||
      { echo "split_documents_bench: split=$split failed, see $OUT/$split.log"; tail -n 20 "$OUT/$split.log"; exit 1; }
    t=$(seconds_since "$t0")
    times[$split]+="$t "
    last=$(tail -n 1 "$OUT/$split/sft/log.jsonl")
    tps=$(echo "$last" | grep -o '"tokens_per_s":[0-9.]*' | cut -d: -f2)
    loss=$(echo "$last" | grep -o '"loss_text":"[0-9.]*"' | cut -d'"' -f4)
    printf "repeat %d split-documents=%-5s %6.1f s, %8.0f tokens/s, loss %s at step %s\n" \
      "$i" "$split" "$t" "$tps" "$loss" "$STEPS"
  done
done
packed=$(echo "${times[false]}" | median)
split=$(echo "${times[true]}" | median)
printf "SFT %s steps, %s thread(s), %s repeats: packed rows median %.1f s, one document per row %.1f s, ratio %.2f\n" \
  "$STEPS" "$THREADS" "$REPEATS" "$packed" "$split" "$(ratio "$packed" "$split")"
rm -rf "$OUT"
