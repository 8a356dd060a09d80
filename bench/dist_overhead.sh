#!/usr/bin/env bash
# The cost of starting `mediagrep index` under MPI: the same job run as one
# process without MPI and as `mpirun -n 1` (which loads the MPI module and
# initialises MPI), alternately, each on a fresh store. Target: within 5%.
# Also one `mpirun -n 2` run for the balance and bytes per file on the wire.
# Usage: bench/dist_overhead.sh FOLDER [REPEATS] [extra index options...]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MEDIAGREP_BIN:-$PWD/build/mediagrep}
DIR=$1; REP=${2:-2}; shift 2 2>/dev/null || shift $#
W=$(mktemp -d /tmp/mg-distovh.XXXXXX)
trap 'rm -rf "$W"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1
[ -n "${OMPI_MCA_plm:-}" ] || export OMPI_MCA_plm=isolated
MPI=(mpirun --oversubscribe --bind-to none)
run() { # label, command...
  local label=$1; shift
  rm -rf "$W/store"
  local t0 t1
  t0=$(date +%s.%N)
  "$@" index "$DIR" --store "$W/store" --quiet --json "${EXTRA[@]}" >"$W/out.json" 2>"$W/err.txt" || { cat "$W/err.txt"; exit 1; }
  t1=$(date +%s.%N)
  /usr/bin/python3 - "$W/out.json" "$label" "$t0" "$t1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
wall = float(sys.argv[4]) - float(sys.argv[3])
ranks = d.get("ranks") or []
share = " ".join("r%d:%d files %d B" % (r["rank"], r["files"], r["result_bytes"]) for r in ranks)
print("%-14s wall %7.2f s  pipeline %7.2f s  files %d  frames %d  %s" % (sys.argv[2], wall, d["pipeline_seconds"],
      d["files_ok"], d["frames"], share))
PY
}
EXTRA=("$@")
for ((i = 0; i < REP; i++)); do
  run "alone" "$BIN"
  run "mpirun -n 1" "${MPI[@]}" -n 1 "$BIN"
done
run "mpirun -n 2" "${MPI[@]}" -n 2 "$BIN"
