#!/usr/bin/env bash
# Every C++ source and header of the repository formatted as the repository's .clang-format says
# (Google style, 100 columns). Lists the files that are not and fails; run by ctest
# (format_test) and by hand. Fix with:
#   find src tests fuzz bench \( -name '*.cc' -o -name '*.h' \) -not -path '*/node_modules/*' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format > /dev/null ||
  { echo "format: clang-format is missing (apt-get install clang-format; scripts/setup.sh --test installs it)"; exit 1; }
mapfile -t files < <(find src tests fuzz bench \( -name '*.cc' -o -name '*.h' \) -not -path '*/node_modules/*' | sort)
# One clang-format process for every file (one per file took ~16 s, mostly process start-up, on a
# 2-core machine); it checks them all and names each violation's file on stderr.
status=0
out=$(clang-format --dry-run --Werror "${files[@]}" 2>&1) || status=$?
mapfile -t bad < <(printf '%s\n' "$out" |
  sed -nE 's/^([^:]+):[0-9]+:[0-9]+: (error|warning): code should be clang-formatted.*/\1/p' | sort -u)
if ((status)) && ((${#bad[@]} == 0)); then  # it failed, but not on formatting: say how
  printf '%s\n' "$out" | tail -n 20
  echo "format: clang-format failed (exit $status)"
  exit 1
fi
if ((${#bad[@]})); then
  printf 'format: not formatted as .clang-format says: %s\n' "${bad[@]}"
  echo "format: run clang-format -i on them"
  exit 1
fi
echo "format: every C++ file is formatted ($(clang-format --version | head -n 1))"
