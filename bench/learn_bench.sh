#!/usr/bin/env bash
# The learned-task targets (issue "The assistant must learn the task"), measured the way they are
# defined: the main job on several world seeds, then one table per seed from each run's
# report/report.json (100 held-out test requests, constrained answers) and the job's wall time and
# peak memory (/usr/bin/time -v).
#
#   bash bench/learn_bench.sh [OUT_ROOT] [SEEDS...] [-- extra pipeline flags]
#   bash bench/learn_bench.sh /tmp/learn 1 2 3
#   bash bench/learn_bench.sh /tmp/learn_j 1 -- --world-catalog jamendo --world-input ../shared/data/mtg-jamendo
#
# A seed whose run exists is resumed (the pipeline's step cache), so re-running only prints.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="${1:-/tmp/learn}"
shift || true
SEEDS=()
while (($#)) && [ "$1" != "--" ]; do SEEDS+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
EXTRA=("$@")
((${#SEEDS[@]})) || SEEDS=(1 2 3)
BIN=build/muchator
[ -x "$BIN" ] || { echo "learn_bench: build first (bash scripts/setup.sh)"; exit 1; }
mkdir -p "$ROOT"
for seed in "${SEEDS[@]}"; do
  out="$ROOT/seed$seed"
  echo "learn_bench: seed $seed -> $out"
  /usr/bin/time -v "$BIN" pipeline --out "$out" --seed "$seed" "${EXTRA[@]}" > "$out.log" 2> "$out.time" ||
    { echo "learn_bench: seed $seed failed, see $out.log and $out.time"; tail -n 20 "$out.log"; exit 1; }
done
python3 - "$ROOT" "${SEEDS[@]}" << 'EOF'
import json, re, sys
root, seeds = sys.argv[1], sys.argv[2:]
def row(rows, system, mode):
    for r in rows:
        if r["system"] == system and r["mode"] == mode:
            return r
    return None
print("| seed | system | oracle rel@10 | utility | coverage | list diversity | shared, other request | shared, other listener |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
verdicts = []
for s in seeds:
    rep = json.load(open(f"{root}/seed{s}/report/report.json"))
    rows = rep["rows"]
    base = row(rows, "bm25_rerank", "list")
    final = row(rows, "grpo", "constrained") or row(rows, "sft", "constrained")
    # The final model's constrained answers reranked by the ranking model (eval/offline.h).
    reranked = row(rows, "grpo", "reranked") or row(rows, "sft", "reranked")
    for name, r in [("BM25 + ranking model", base), ("pre-training + SFT", row(rows, "sft", "constrained")),
                    ("final (constrained)", final), ("final (reranked)", reranked)]:
        if r is None:
            continue
        f = lambda k: f"{r[k]:.3f}" if k in r else "-"
        print(f"| {s} | {name} | {f('relevance_at_10')} | {f('utility')} | {f('diversity')} | {f('list_diversity')} | "
              f"{f('shared_other_request')} | {f('shared_other_listener')} |")
    t = open(f"{root}/seed{s}.time").read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", t)
    wall_s = 0.0
    if wall:
        parts = [float(x) for x in wall.group(1).split(":")]
        for x in parts:
            wall_s = wall_s * 60 + x
    gb = int(rss.group(1)) / 1e6 if rss else 0.0  # /usr/bin/time reports kB; decimal GB as the docs
    for system, r in [("constrained", final), ("reranked", reranked)]:
        if r is None:
            continue
        checks = {
            "rel@10 >= 0.40": r["relevance_at_10"] >= 0.40,
            "rel@10 >= 2x BM25+ranker": r["relevance_at_10"] >= 2 * base["relevance_at_10"],
            "utility >= BM25+ranker": r["utility"] >= base["utility"],
            "coverage >= 10%": r["diversity"] >= 0.10,
            "list diversity >= 0.9": r["list_diversity"] >= 0.9,
            "shared, other request <= 3": r.get("shared_other_request", 10) <= 3,
            "shared, other listener <= 7": r.get("shared_other_listener", 10) <= 7,
            "wall <= 30 min": 0 < wall_s <= 1800,
            "peak <= 6 GB": 0 < gb <= 6,
        }
        verdicts.append((s, system, wall_s, gb, checks))
print()
for s, system, wall_s, gb, checks in verdicts:
    met = [k for k, v in checks.items() if v]
    unmet = [k for k, v in checks.items() if not v]
    print(f"seed {s}, final {system}: wall {wall_s / 60:.1f} min, peak {gb:.2f} GB; met: {', '.join(met) or '-'}; "
          f"NOT met: {', '.join(unmet) or '-'}")
EOF
