#!/usr/bin/env bash
# Every C++ source and header of the repository formatted as the repository's .clang-format says
# (Google style, 100 columns). Lists the files that are not and fails; run by ctest
# (format_test) and by hand. Fix with:
#   find src tests fuzz bench \( -name '*.cc' -o -name '*.h' \) -not -path '*/node_modules/*' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format > /dev/null ||
  { echo "format: clang-format is missing (apt-get install clang-format; scripts/setup.sh --test installs it)"; exit 1; }
bad=()
while IFS= read -r f; do
  clang-format --dry-run --Werror "$f" > /dev/null 2>&1 || bad+=("$f")
done < <(find src tests fuzz bench \( -name '*.cc' -o -name '*.h' \) -not -path '*/node_modules/*' | sort)
if ((${#bad[@]})); then
  printf 'format: not formatted as .clang-format says: %s\n' "${bad[@]}"
  echo "format: run clang-format -i on them"
  exit 1
fi
echo "format: every C++ file is formatted ($(clang-format --version | head -n 1))"
