#!/usr/bin/env bash
# bench_serve.sh - bounded HTTP load test of `mediagrep serve` with wrk on
# loopback: warm text search (GET /api/search?q=...&k=10) over the 100,000
# random-vector store that `mediagrep bench search` builds (flat index, exact
# scan), with the model bound to that store.
#
#   bench/bench_serve.sh [BUILD_DIR (build)] [DURATION (20s)] [CONNECTIONS (50)]
#   environment: STORE (default: the 100,000 store), SERVE_OPTS (extra `mediagrep serve` options)
#
# Two runs: one fixed query ("a dog catching a frisbee"), and one rotating
# through 500 distinct queries (bench/serve_queries.lua) so that every
# request encodes its text anew even if some cache of query embeddings
# exists. Prints wrk's report and a summary line per run (requests/s, p50,
# p99). wrk waits up to 10 s for a response (its default, 2 s, would
# count slower ones as timeouts instead of latency). Needs wrk (scripts/install-deps.sh).
set -euo pipefail

BUILD=${1:-build}
DUR=${2:-20s}
CONN=${3:-50}
HERE=$(cd "$(dirname "$0")" && pwd)
EXE=$(cd "$BUILD" && pwd)/mediagrep
DIR=/tmp/mediagrep-bench-search
STORE=${STORE:-$DIR/store-100000}

command -v wrk >/dev/null || { echo "bench_serve: wrk not installed (scripts/install-deps.sh)" >&2; exit 2; }
[ -x "$EXE" ] || { echo "bench_serve: no $EXE (build the mediagrep target)" >&2; exit 2; }
if [ ! -f "$STORE/catalog.db" ]; then
  echo "bench_serve: building $STORE with mediagrep bench search ..."
  "$EXE" bench search --large 0 --queries 20 --dir "$DIR"
fi

LOG=$(mktemp /tmp/mediagrep-bench-serve.XXXXXX)
"$EXE" serve --store "$STORE" --port 0 ${SERVE_OPTS:-} >"$LOG" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -f "$LOG"' EXIT
URL=""
for _ in $(seq 1 1800); do  # up to 3 min: each engine loads a large FAISS index at start
  URL=$(grep -o 'http://[^ ]*' "$LOG" | head -n 1 || true)
  [ -n "$URL" ] && break
  kill -0 $PID 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
[ -n "$URL" ] || { echo "bench_serve: server did not start" >&2; cat "$LOG" >&2; exit 1; }
URL=${URL%/}
echo "server: $URL (store $STORE, pid $PID, $(nproc) CPUs)"

# warm up: model pages, the store mapping, the neutral prompts
for i in $(seq 1 20); do
  curl -sf "$URL/api/search?q=warm%20up%20$i&k=10" >/dev/null
done
curl -sf "$URL/api/search?q=a%20dog%20catching%20a%20frisbee&k=10" | head -c 300; echo
# then 5 s of the same load, not measured: the index and vector pages fault
# in, the engines' buffers grow to the batch sizes this load makes
wrk -t2 -c"$CONN" -d5s --timeout 10s "$URL/api/search?q=a%20dog%20catching%20a%20frisbee&k=10" >/dev/null

summary() { # wrk output on stdin -> one line
  awk -v name="$1" '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    /requests in/ { n = $1 }
    /Non-2xx/ { bad = $NF }
    /Socket errors/ { err = $0 }
    END { printf "%s: %s requests, %s req/s, p50 %s, p99 %s, non-2xx %s%s\n", name, n, rps, p50, p99, bad ? bad : 0, err ? " (" err ")" : "" }'
}

echo "== fixed query: wrk -t2 -c$CONN -d$DUR --timeout 10s --latency"
wrk -t2 -c"$CONN" -d"$DUR" --timeout 10s --latency "$URL/api/search?q=a%20dog%20catching%20a%20frisbee&k=10" | tee "$LOG.fixed"
echo "== rotating queries: wrk -t2 -c$CONN -d$DUR --timeout 10s --latency -s bench/serve_queries.lua"
wrk -t2 -c"$CONN" -d"$DUR" --timeout 10s --latency -s "$HERE/serve_queries.lua" "$URL" | tee "$LOG.rot"
echo
summary "fixed query   " <"$LOG.fixed"
summary "rotating (500)" <"$LOG.rot"
curl -sf "$URL/metrics" | grep -E '^mediagrep_search(es|_errors)' || true
rm -f "$LOG.fixed" "$LOG.rot"
