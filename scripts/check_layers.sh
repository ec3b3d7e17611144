#!/usr/bin/env bash
# The layering rule of docs/architecture.md: a layer's files (src/LAYER/*) include only headers of
# their own layer and of the layers listed after it. Prints every include that points up and
# fails; run by ctest (layers_test) and by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
# Top to bottom, as in docs/architecture.md.
layers=(cli pipeline serve eval rl synth reward train infer model corpus text retrieval dist world convert data core)
declare -A rank
for i in "${!layers[@]}"; do rank[${layers[$i]}]=$i; done
bad=0
for dir in src/*/; do
  layer=$(basename "$dir")
  if [[ -z "${rank[$layer]+x}" ]]; then
    echo "src/$layer is not in the layer list of scripts/check_layers.sh (and docs/architecture.md)"
    bad=1
    continue
  fi
  while IFS=: read -r file line inc; do
    target=${inc#*\"}
    target=${target%%/*}
    [[ -z "${rank[$target]+x}" ]] && continue  # not a layer (a generated header, a system one)
    if (( rank[$target] < rank[$layer] )); then
      echo "$file:$line: $layer includes $target, a higher layer: ${inc}"
      bad=1
    fi
  done < <(grep -n '^#include "' "$dir"*.h "$dir"*.cc 2>/dev/null | sed 's/^\([^:]*\):\([0-9]*\):/\1:\2:/')
done
if (( bad )); then
  echo "layers: includes point up (docs/architecture.md: a layer uses only the layers below it)"
  exit 1
fi
echo "layers: every include points down (${#layers[@]} layers)"
