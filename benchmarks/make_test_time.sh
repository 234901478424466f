#!/usr/bin/env bash
# Wall time of `make test` once set-up is done (the venv exists), with the load average before and after.
# Usage: bash benchmarks/make_test_time.sh [LOG]   (LOG defaults to .cache/make_test.log)
# The per-test breakdown: .venv/bin/pytest -n 2 --dist loadfile --nbval --nbval-current-env \
#     --nbval-sanitize-with nbval_sanitize.cfg --durations=15 tests notebooks
# The last line is the wall time in seconds and make's exit status.
set -u
cd "$(dirname "$0")/.."
log=${1:-.cache/make_test.log}
mkdir -p "$(dirname "$log")"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s%N)
make test >"$log" 2>&1
status=$?
end=$(date +%s%N)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
tail -n 3 "$log"
echo "make test: $(( (end - start) / 1000000000 )) s wall, exit status $status (log: $log)"
