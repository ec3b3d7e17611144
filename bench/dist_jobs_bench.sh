#!/usr/bin/env bash
# Data-parallel corpus building, UQ2I synthesis and GRPO: one process (all cores) against
# `muchator launch -n 2` (the cores split between the ranks) on a finished run of the main job;
# prints one JSON line with the median wall seconds of each (GRPO: median seconds per step after
# the first, from grpo/log.jsonl) and the ratio 1 process / 2 ranks (> 1 = the ranks are faster).
#
#   bash bench/dist_jobs_bench.sh --run DIR [--runs 3] [--grpo-steps 4] [--bin build/muchator]
#
# DIR is a `muchator pipeline` output (store.sqlite, tokenizer/, pretrain/, ranker/, judge/, sft/).
set -euo pipefail
run="" runs=3 gsteps=4 bin=build/muchator
while [[ $# -gt 0 ]]; do
  case "$1" in
    --run) run="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --grpo-steps) gsteps="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [[ -z "$run" || ! -f "$run/store.sqlite" || ! -d "$run/sft/sft/final" ]]; then
  echo "error: --run must name a finished pipeline run (store.sqlite, sft/sft/final, ...)" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
corpus=(corpus --store "$run/store.sqlite" --tokenizer "$run/tokenizer")
synth=(synth-uq2i --store "$run/store.sqlite" --model "$run/pretrain/stage3_behaviour/final"
       --ranker "$run/ranker" --world "$run/world")
grpo=(grpo --init "$run/sft/sft/final" --store "$run/store.sqlite" --judge "$run/judge"
      --ranker "$run/ranker" --world "$run/world" --steps "$gsteps" --eval-requests 0 --runs 1)
# Seconds of a command's run; GRPO: the median of its steps' "seconds" after the first.
timed() { local t0; t0=$(date +%s.%N); "$@" >&2; python3 -c "import time; print(time.time() - $t0)"; }
step_s() { python3 - "$1" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])][1:]
print(statistics.median(r["seconds"] for r in rows))
EOF
}
declare -A res
port=29720
for r in $(seq 1 "$runs"); do
  for job in corpus synth grpo; do
    declare -n args=$job
    echo "run $r/$runs: $job, 1 process" >&2
    t=$(timed "$bin" -q "${args[@]}" --out "$work/$job.one$r")
    [[ $job == grpo ]] && t=$(step_s "$work/$job.one$r/grpo/log.jsonl")
    res[$job.one]+="$t "
    echo "run $r/$runs: $job, 2 ranks" >&2
    port=$((port + 1))
    t=$(timed "$bin" -q launch -n 2 --port $port -- "${args[@]}" --out "$work/$job.two$r")
    [[ $job == grpo ]] && t=$(step_s "$work/$job.two$r/grpo/log.jsonl")
    res[$job.two]+="$t "
    rm -rf "$work/$job.one$r" "$work/$job.two$r"
  done
done
python3 - "$runs" "${res[corpus.one]}" "${res[corpus.two]}" "${res[synth.one]}" "${res[synth.two]}" \
  "${res[grpo.one]}" "${res[grpo.two]}" <<'EOF'
import json, statistics, sys
med = lambda s: statistics.median(float(x) for x in s.split())
out = {"runs": int(sys.argv[1])}
for i, job in enumerate(["corpus_s", "synth_uq2i_s", "grpo_s_per_step"]):
    one, two = med(sys.argv[2 + 2 * i]), med(sys.argv[3 + 2 * i])
    out[job] = {"1_process": round(one, 2), "2_ranks": round(two, 2), "ratio_1_over_2": round(one / two, 3)}
print(json.dumps(out))
EOF
