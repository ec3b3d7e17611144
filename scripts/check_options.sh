#!/usr/bin/env bash
# Issue 31's rule for command-line options: every flag name is declared in exactly one place in
# src/ - an `Add("name", ...)` of the one command that takes it, or a program-wide `Flag` (a
# `k...Flag{"name", ...}` constant in the layer that owns what it sets, core/options.h) that every
# command taking it binds. Prints each name declared twice, with where, and fails; run by ctest
# (options_once_test) and by hand. Tests (*_test.cc) may declare what they like.
set -euo pipefail
cd "$(dirname "$0")/.."
declared=$(
  find src -name '*.cc' -o -name '*.h' | grep -v '_test\.cc$' | sort | while read -r f; do
    # Comments out, lines joined: clang-format may put the name on the line after `Add(`.
    text=$(sed 's|//.*$||' "$f" | tr '\n' ' ')
    {
      grep -oE '(\bAdd\(|Flag k[A-Za-z0-9]*\{[[:space:]]*(\.name = )?)[[:space:]]*"[a-z0-9-]+"' <<< "$text" |
        sed -E 's/.*"([a-z0-9-]+)"/\1/' || true
      # AddPath's names (core/options.cc): one array of flag names.
      grep -oE 'kPathFlagNames\[\] = \{[^}]*\}' <<< "$text" | grep -oE '"[a-z0-9-]+"' | tr -d '"' || true
    } | sed "s|\$| $f|"
  done
)
dups=$(awk '{n[$1]++; w[$1]=w[$1]" "$2} END {for (k in n) if (n[k] > 1) print k ":" w[k]}' \
  <<< "$declared" | sort)
if [[ -n "$dups" ]]; then
  echo "$dups"
  echo "options: $(wc -l <<< "$dups") flag names declared in more than one place: declare each"
  echo "once (a Flag constant in its layer, core/options.h) and bind it where it is used"
  exit 1
fi
echo "options: $(wc -l <<< "$declared") flag declarations, every name once"
