#!/usr/bin/env bash
# Dispatches a job, runs a worker, and watches the job's progress live in the terminal.
set -euo pipefail
cd "$(dirname "$0")"
BIN=../../.venv/bin
export UNDERWAY_DATABASE_URL="sqlite:///demo.db"
export UNDERWAY_APP="tasks:app"

files='["src/app.py","src/models.py","src/views.py","src/forms.py","src/admin.py","src/urls.py",
"src/api.py","src/auth.py","src/cache.py","src/tasks.py","src/mail.py","src/search.py"]'
job=$($BIN/underway dispatch quickstart.fix_files --args "{\"files\": $files}")
echo "dispatched job $job; starting a worker (log: examples/quickstart/worker.log)"
$BIN/underway worker --processes 1 --max-time 120 >worker.log 2>&1 &
worker=$!
trap 'kill -TERM $worker 2>/dev/null; wait $worker 2>/dev/null || true' EXIT
$BIN/underway monitor "$job" --watch
$BIN/underway status "$job"
echo
echo "Try: $BIN/underway jobs   |   $BIN/underway stats   (UNDERWAY_DATABASE_URL=$UNDERWAY_DATABASE_URL)"
