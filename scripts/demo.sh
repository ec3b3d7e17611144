#!/usr/bin/env bash
# Quick start 1: set everything up and run the main job on the built-in synthetic world.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec build/muchator pipeline --out runs/demo "$@"
