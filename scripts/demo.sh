#!/usr/bin/env bash
# Quick start 1: set everything up, run the main job on the built-in synthetic world (the whole
# pipeline and its report into runs/demo), then serve the trained assistant at
# http://127.0.0.1:8080/ (Ctrl-C stops it). MUCHATOR_SERVE=0 skips the server; extra arguments
# go to `muchator pipeline`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
RUN="${MUCHATOR_RUN:-runs/demo}"
build/muchator pipeline --out "$RUN" "$@"
if [ "${MUCHATOR_SERVE:-1}" != "0" ]; then
  exec build/muchator serve --run "$RUN" --port "${MUCHATOR_PORT:-8080}"
fi
