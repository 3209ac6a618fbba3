#!/usr/bin/env bash
# A local Prefect server and a `process` worker for this project, in one terminal.
#
#   scripts/prefect-local.sh              # server on 127.0.0.1:4200 (reused if already up)
#   PORT=4300 scripts/prefect-local.sh    # another port
#
# It starts `prefect server start` (unless one already answers on PORT), creates the `process`
# work pool if missing, runs `PROJECT_DIR=<repo> prefect deploy --all` (prefect.yaml), then
# starts `prefect worker start --pool process` and waits. Ctrl-C (or SIGTERM) stops the worker
# and the server it started. Logs: $LOG_DIR (default /tmp/mtclean-prefect-local-$PORT).
# In another terminal:  export PREFECT_API_URL=http://127.0.0.1:$PORT/api
#                       .venv/bin/prefect deployment run 'preprocess/adhoc' -p source=... --watch
set -euo pipefail
# Job control: every background job gets its own process group (stopped as a group below) and
# keeps SIGINT: a non-interactive shell starts background jobs with SIGINT ignored, and
# `prefect worker` turns SIGTERM into SIGINT, so it would never stop.
set -m
# ...and if this script itself was started with SIGINT ignored (it is then inherited whatever
# `set -m` says), `spawn` puts it back to the default before exec'ing the command.
spawn() {
    "$BIN/python" -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$@"
}

cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/.venv/bin}
PORT=${PORT:-4200}
LOG_DIR=${LOG_DIR:-${TMPDIR:-/tmp}/mtclean-prefect-local-$PORT}
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_API_URL="http://127.0.0.1:$PORT/api"
export PROJECT_DIR="$PWD"
mkdir -p "$LOG_DIR"

pids=()
cleanup() {
    trap - EXIT INT TERM
    local pid
    for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 20); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 1; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    echo "stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

healthy() {
    "$BIN/python" - "$PREFECT_API_URL/health" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.read().strip() == b"true" else 1)
EOF
}

if healthy; then
    echo "using the Prefect server already running at $PREFECT_API_URL"
else
    echo "starting the Prefect server at $PREFECT_API_URL (log: $LOG_DIR/server.log)"
    spawn "$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" >"$LOG_DIR/server.log" 2>&1 &
    pids+=("$!")
    for _ in $(seq 1 120); do
        healthy && break
        kill -0 "${pids[-1]}" 2>/dev/null || { cat "$LOG_DIR/server.log"; exit 1; }
        sleep 1
    done
    healthy || { echo "server not healthy after 120 s"; tail -n 30 "$LOG_DIR/server.log"; exit 1; }
fi

"$BIN/prefect" work-pool inspect process >/dev/null 2>&1 \
    || "$BIN/prefect" work-pool create process --type process
"$BIN/prefect" --no-prompt deploy --all
"$BIN/prefect" deployment ls

echo "starting the worker (log: $LOG_DIR/worker.log); Ctrl-C stops everything"
spawn "$BIN/prefect" worker start --pool process >"$LOG_DIR/worker.log" 2>&1 &
pids+=("$!")
wait "${pids[-1]}"
