#!/usr/bin/env bash
# Rank 0's capacity in a distributed index run (issue "Many machines"):
# files and vectors committed per second when rank 0 only writes and K-1
# worker ranks feed it results as fast as they can make them. The workers
# do not decode or analyze (MEDIAGREP_BENCH_SYNTHETIC=F: each job gets F
# made-up unit vectors through the real wire format: 1 = a photo, F > 1 = a
# video of F sampled frames plus its pooled vector), so what is timed is
# rank 0's walk, job hand-out, receive, and its writer's commits (SQLite +
# vector file + checkpoints); the FAISS build is left out (--no-index). Also reports the
# bytes on the wire per file (result_bytes / files of each rank).
#
# Usage: bench/dist_capacity.sh [FILES] [FRAMES] [RANKS...]
#   defaults: 50000 files, 1 frame, ranks 1 (one process, no MPI) 2 4 8
# Needs mpirun (openmpi-bin). On a 2-core machine more ranks than cores are
# oversubscribed: the workers only sleep in MPI, so rank 0 keeps a core.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MEDIAGREP_BIN:-$PWD/build/mediagrep}
FILES=${1:-50000}
FRAMES=${2:-1}
shift 2 2>/dev/null || shift $# 
RANKS=("$@")
[ ${#RANKS[@]} -gt 0 ] || RANKS=(1 2 4 8)
W=$(mktemp -d /tmp/mg-distcap.XXXXXX)
trap 'rm -rf "$W"' EXIT
ext=jpg; [ "$FRAMES" -gt 1 ] && ext=mp4
mkdir -p "$W/media"
for ((d = 0; d < (FILES + 999) / 1000; d++)); do
  mkdir -p "$W/media/d$d"
  ( cd "$W/media/d$d"; n=$((FILES - d * 1000)); [ $n -gt 1000 ] && n=1000
    for ((i = 0; i < n; i++)); do : > "f$i.$ext"; done )
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1
[ -n "${OMPI_MCA_plm:-}" ] || export OMPI_MCA_plm=isolated
printf '%-6s %8s %8s %10s %12s %12s %10s %14s\n' ranks files vectors seconds files/s vectors/s write_s bytes/file
for k in "${RANKS[@]}"; do
  rm -rf "$W/store"
  if [ "$k" = 1 ]; then
    MEDIAGREP_BENCH_SYNTHETIC=$FRAMES "$BIN" index "$W/media" --store "$W/store" --no-index --quiet --json >"$W/out.json" 2>"$W/err.txt" ||
      { echo "index failed (1 process):"; cat "$W/err.txt"; exit 1; }
  else
    mpirun -n "$k" --oversubscribe --bind-to none -x MEDIAGREP_BENCH_SYNTHETIC=$FRAMES \
      "$BIN" index "$W/media" --store "$W/store" --no-index --quiet --json >"$W/out.json" 2>"$W/err.txt" ||
      { echo "index failed ($k ranks):"; cat "$W/err.txt"; exit 1; }
  fi
  /usr/bin/python3 - "$W/out.json" "$k" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
files, items, sec = d["files_ok"], d["items"], d["pipeline_seconds"]
ranks = d.get("ranks") or []
wb = [r["result_bytes"] / r["files"] for r in ranks if r["rank"] > 0 and r["files"] > 0]
bpf = "%.0f" % (sum(wb) / len(wb)) if wb else "-"
print("%-6s %8d %8d %10.2f %12.0f %12.0f %10.2f %14s" % (sys.argv[2], files, items, sec, files / sec, items / sec,
      d["write_busy_s"], bpf))
PY
done
echo "(seconds: the pipeline, walk to last commit, without model load and the final FAISS build; $FRAMES frame(s) per file)"
