#!/usr/bin/env bash
# Data-parallel pre-training speed: one process (all cores) against `muchator launch -n 2` (the
# cores split between the ranks), same model, global batch and steps; prints one JSON line with
# the median tokens/s of each (steps after the first two, from the stage's log.jsonl), their ratio
# and the mean allreduce time per step of the 2-rank runs.
#
#   bash bench/dist_bench.sh [--corpus DIR] [--runs 3] [--steps 12] [--model-size demo]
#                            [--batch-size 8] [--seq-len 256] [--bin build/muchator]
#
# Without --corpus it builds the demo world's corpus once into $TMPDIR (about a minute).
set -euo pipefail
corpus="" runs=3 steps=12 size=demo batch=8 seq=256 bin=build/muchator
while [[ $# -gt 0 ]]; do
  case "$1" in
    --corpus) corpus="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --model-size) size="$2"; shift 2 ;;
    --batch-size) batch="$2"; shift 2 ;;
    --seq-len) seq="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ -z "$corpus" ]]; then
  echo "building the demo corpus in $work/run" >&2
  "$bin" -q pipeline --world-preset demo --pretrain-steps 0 --out "$work/run" >&2
  corpus="$work/run/corpus"
fi
common=(pretrain --corpus "$corpus" --stages general --model-size "$size" --steps "$steps"
        --batch-size "$batch" --seq-len "$seq" --log-every 1 --eval-every 100000 --ckpt-every 100000)
# Median tokens/s of a log's steps 3.. (the first steps include allocation and warm-up).
rate() { python3 - "$1" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])][2:]
print(statistics.median(r["tokens_per_s"] for r in rows), statistics.mean(r.get("allreduce_s_per_step", 0) for r in rows))
EOF
}
one=() two=() ar=()
for r in $(seq 1 "$runs"); do
  echo "run $r/$runs: 1 process" >&2
  "$bin" -q "${common[@]}" --out "$work/one$r" >&2
  read -r t _ < <(rate "$work/one$r/stage0_general/log.jsonl"); one+=("$t")
  echo "run $r/$runs: 2 ranks" >&2
  "$bin" -q launch -n 2 --port $((29700 + r)) -- "${common[@]}" --out "$work/two$r" >&2
  read -r t a < <(rate "$work/two$r/stage0_general/log.jsonl"); two+=("$t"); ar+=("$a")
done
python3 - "${one[*]}" "${two[*]}" "${ar[*]}" "$size" "$batch" "$seq" "$steps" <<'EOF'
import json, statistics, sys
one = [float(x) for x in sys.argv[1].split()]
two = [float(x) for x in sys.argv[2].split()]
ar = [float(x) for x in sys.argv[3].split()]
print(json.dumps({"model_size": sys.argv[4], "global_batch": int(sys.argv[5]), "seq_len": int(sys.argv[6]),
                  "steps": int(sys.argv[7]), "runs": len(one),
                  "tokens_per_s_1_process": round(statistics.median(one)),
                  "tokens_per_s_2_ranks": round(statistics.median(two)),
                  "ratio_2_over_1": round(statistics.median(two) / statistics.median(one), 3),
                  "allreduce_ms_per_step_2_ranks": round(1000 * statistics.median(ar), 2)}))
EOF
