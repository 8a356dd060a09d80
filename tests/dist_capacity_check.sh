#!/usr/bin/env bash
# Checks bench/dist_capacity.sh end to end on a small folder: one process
# and 3 ranks each commit every file with F+1 vectors (F frames + pooled),
# and the workers' bytes per file are what the wire format must carry for
# F+1 vectors of the model's dimension (at least 4 x dim x (F+1) bytes).
# 77 (skipped) without mpirun.
set -euo pipefail
command -v mpirun >/dev/null || { echo "mpirun missing: skipped"; exit 77; }
SRC=$1 BIN=$2
out=$(MEDIAGREP_BIN=$BIN "$SRC/bench/dist_capacity.sh" 300 4 1 3 2>&1) || { echo "$out"; echo "FAIL: the bench failed"; exit 1; }
echo "$out"
rows=$(echo "$out" | awk '$1 == "1" || $1 == "3"' | wc -l)
[ "$rows" = 2 ] || { echo "FAIL: expected rows for 1 and 3 ranks"; exit 1; }
echo "$out" | awk '$1 == "1" || $1 == "3" { if ($2 != 300 || $3 != 1500) { print "FAIL: " $0; bad = 1 } }
  $1 == "3" { if ($8 + 0 < 4 * 512 * 5) { print "FAIL: bytes/file " $8; bad = 1 } } END { exit bad }'
echo "ok"
