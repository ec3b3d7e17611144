#!/usr/bin/env bash
# Soak test of the real server (the reliability issue): `muchator serve` on a run's GRPO
# checkpoint with a private copy of its store, then mixed traffic from CLIENTS concurrent clients
# for SECONDS (serve_bench --soak: streaming and plain chat, recommend, feedback, clients hanging
# up mid-stream, malformed bodies). Prints requests, unexpected answers (must be 0), latency and
# time to first token, the server's RSS before the traffic / once a minute / at the end, and
# SQLite's integrity check of the store afterwards. Not part of CI (it takes SECONDS).
#
#   bash bench/soak.sh RUN [SECONDS=600] [CLIENTS=32]
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:?usage: bash bench/soak.sh RUN [SECONDS=600] [CLIENTS=32]}"
SECS="${2:-600}"
CLIENTS="${3:-32}"
[ -x build/muchator ] && [ -x build/bench/serve_bench ] || { echo "soak: build first (bash scripts/setup.sh)"; exit 1; }
[ -f "$RUN/store.sqlite" ] || { echo "soak: $RUN/store.sqlite not found: give a finished main job's run"; exit 1; }
TMP=$(mktemp -d)
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
cp "$RUN/store.sqlite" "$TMP/store.sqlite"  # feedback goes to a copy, not the run's store
build/muchator -q serve --run "$RUN" --store "$TMP/store.sqlite" --port 0 --port-file "$TMP/port" \
  --http-threads $((CLIENTS + 8)) --rate-limit 0 > "$TMP/serve.log" 2>&1 &
PID=$!
for _ in $(seq 600); do [ -s "$TMP/port" ] && break; sleep 0.1; done
[ -s "$TMP/port" ] || { echo "soak: the server did not start"; cat "$TMP/serve.log"; exit 1; }
set +e
build/bench/serve_bench --url "http://127.0.0.1:$(cat "$TMP/port")" --sessions "$CLIENTS" \
  --soak "$SECS" --server-pid "$PID"
rc=$?
set -e
kill -TERM "$PID"
wait "$PID" || true
printf 'store integrity after the soak: '
python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$TMP/store.sqlite"
exit $rc
