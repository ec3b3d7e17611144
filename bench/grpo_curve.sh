#!/usr/bin/env bash
# GRPO's learning curve (issue 28: "enough steps to move; size them from a learning curve"): from
# a finished main job's SFT checkpoint, judge and ranking model, one GRPO run per step count with
# the main job's settings (constrained rollouts, the default hybrid reward, the run's seed), each
# evaluated on the held-out RL requests (greedy constrained answers, the oracle's relevance@10 and
# utility, the learned rewards' judge relevance and personalisation). Runs are fresh, not resumed:
# the learning rate is constant after warm-up (--min-lr-ratio 1), so a run of N steps is the
# first N steps of a longer one, up to the sampling noise of multi-threaded GRPO (docs/rl.md).
#
#   bash bench/grpo_curve.sh RUN SEED [STEPS...=10 20 40 80] [-- extra grpo flags]
#   bash bench/grpo_curve.sh /tmp/learn/seed2 2 10 20 40 80
#
# Writes RUN/grpo_curve/stepsN/ (grpo_report.json, log.jsonl) and prints one row per step count,
# the starting SFT checkpoint first; a step count already run is only printed again.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:?usage: bash bench/grpo_curve.sh RUN SEED [STEPS...] [-- extra grpo flags]}"
SEED="${2:?usage: bash bench/grpo_curve.sh RUN SEED [STEPS...] [-- extra grpo flags]}"
shift 2
STEPS=()
while (($#)) && [ "$1" != "--" ]; do STEPS+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
EXTRA=("$@")
((${#STEPS[@]})) || STEPS=(10 20 40 80)
BIN=build/muchator
[ -x "$BIN" ] || { echo "grpo_curve: build first (bash scripts/setup.sh)"; exit 1; }
for f in sft/sft/final/DONE judge/judge.json ranker/ranker.json store.sqlite world; do
  [ -e "$RUN/$f" ] || { echo "grpo_curve: $RUN/$f not found: give a finished main job's run"; exit 1; }
done
for n in "${STEPS[@]}"; do
  out="$RUN/grpo_curve/steps$n"
  if [ -f "$out/grpo_report.json" ]; then continue; fi
  echo "grpo_curve: $n steps -> $out"
  mkdir -p "$RUN/grpo_curve"
  t0=$(date +%s)
  "$BIN" -q grpo --init "$RUN/sft/sft/final" --store "$RUN/store.sqlite" --judge "$RUN/judge" \
    --ranker "$RUN/ranker" --world "$RUN/world" --constrained --steps "$n" --ckpt-every "$n" \
    --seed "$SEED" "${EXTRA[@]}" --out "$out" > "$out.log" 2>&1 ||
    { echo "grpo_curve: $n steps failed, see $out.log"; tail -n 20 "$out.log"; exit 1; }
  echo "  $(($(date +%s) - t0)) s"
done
python3 - "$RUN" "${STEPS[@]}" << 'EOF'
import json, sys
run, steps = sys.argv[1], sys.argv[2:]
print("| GRPO steps | mean reward, last step | oracle rel@10 | oracle utility | judge relevance | personalisation | list diversity | alarm |")
print("|---:|---:|---:|---:|---:|---:|---:|---|")
first = True
for n in steps:
    r = json.load(open(f"{run}/grpo_curve/steps{n}/grpo_report.json"))
    if first:
        b = r["before"]["constrained"]
        print(f"| 0 (SFT) | - | {b['relevance_at_10']:.3f} | {b['utility']:.3f} | {b['relevance']:.3f} | "
              f"{b['personalization']:.3f} | {b['list_diversity']:.3f} | - |")
        first = False
    a = r["after"]["constrained"]
    last = r["training"]["last"]
    alarm = "raised" if r["reward_hacking"]["raised"] else "-"
    print(f"| {n} | {last['reward_mean']:.3f} | {a['relevance_at_10']:.3f} | {a['utility']:.3f} | {a['relevance']:.3f} | "
          f"{a['personalization']:.3f} | {a['list_diversity']:.3f} | {alarm} |")
EOF
