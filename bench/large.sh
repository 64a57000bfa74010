#!/bin/sh
# bench/large.sh - the write patterns an LSM table is chosen for, at ten
# million rows (issue #18): bench/sqllarge.c's phases on a kvstore table
# and on an ordinary WITHOUT ROWID table, one fresh process per phase and
# backend, the backends alternating (kvstore first in odd phases, the
# table first in even ones). Prints, and writes to $OUT/large.md and
# $OUT/large.csv, each figure with the ratio (kvstore's ops/s over the
# table's: above 1 is faster) and the verdict against the issue's target.
#
#   bench/large.sh                         (what `make bench-large` runs)
#   BENCH_LARGE_ROWS=200000 bench/large.sh (a quick check of the harness)
#
# Environment (all optional):
#   BENCH_LARGE_ROWS      rows (10000000)
#   BENCH_LARGE_DURATION  seconds after which a read phase stops and
#                         reports what it did (300)
#   BENCH_BIN             directory of the sqllarge binary (build/bench)
#   BENCH_DATA            scratch directory (build/bench/large; removed at
#                         the end)
#   BENCH_OUT             results directory (bench/results)
#   BENCH_EXT             the extension to load (./kvstore)
#   BENCH_LARGE_SAVE      after the fill, copy the filled databases and
#                         stores there (to run later phases again
#                         without filling: the table's fill takes most of
#                         the hour)
#   BENCH_LARGE_FROM      instead of filling, start from a copy of what
#                         BENCH_LARGE_SAVE saved (same BENCH_LARGE_ROWS);
#                         with BENCH_LARGE_PHASES, the phases to run again
#   BENCH_LARGE_PHASES    the phases after the fill, in run order (all)
#   BENCH_LARGE_READ_REPS rounds of each read-only phase (point, scan): 3;
#                         the backends alternate in each round and each
#                         backend's figure is its median round (one run
#                         of a 1-2 s phase moves by a third on a busy
#                         host, and these phases change no data)
set -eu

ROWS=${BENCH_LARGE_ROWS:-10000000}
DURATION=${BENCH_LARGE_DURATION:-300}
BIN=${BENCH_BIN:-build/bench}
DATA=${BENCH_DATA:-build/bench/large}
OUT=${BENCH_OUT:-bench/results}
EXT=${BENCH_EXT:-./kvstore}
PHASES=${BENCH_LARGE_PHASES:-"point scan rangedel fndel bulkload ingest"}
READ_REPS=${BENCH_LARGE_READ_REPS:-3}
SAVE=${BENCH_LARGE_SAVE:-}
FROM=${BENCH_LARGE_FROM:-}
if [ -n "$FROM" ]; then
  rm -rf "$DATA"
  mkdir -p "$(dirname "$DATA")"
  cp -a "$FROM" "$DATA"
else
  PHASES="fill $PHASES"
fi

mkdir -p "$OUT" "$DATA"
csv="$OUT/large.csv"
"$BIN/sqllarge" --header > "$csv"
start=$(date +%s)
echo "bench-large: $ROWS rows, phases: $PHASES; read phases: $READ_REPS rounds"
n=0
[ -n "$FROM" ] && n=1          # the fill was phase 1
for phase in $PHASES; do
  n=$((n + 1))
  if [ $((n % 2)) = 1 ]; then order="kvstore table"; else order="table kvstore"; fi
  case $phase in
    point|scan) one=$order; r=1; while [ $r -lt "$READ_REPS" ]; do
                  order="$order $one"; r=$((r + 1)); done ;;
  esac
  for backend in $order; do
    # Dirty pages of the phase before (the table's DELETE writes a GB)
    # would otherwise be written back during this one and slow its fsyncs
    sync
    t0=$(date +%s)
    "$BIN/sqllarge" --backend="$backend" --phase="$phase" --dir="$DATA" \
      --rows="$ROWS" --ext="$EXT" --duration="$DURATION" >> "$csv"
    echo "  $phase $backend: $(( $(date +%s) - t0 )) s"
  done
  if [ "$phase" = fill ] && [ -n "$SAVE" ]; then
    rm -rf "$SAVE"
    cp -a "$DATA" "$SAVE"
  fi
done
rm -rf "$DATA"
elapsed=$(( $(date +%s) - start ))

/usr/bin/python3 - "$csv" "$OUT/large.md" "$ROWS" "$elapsed" \
  "${BENCH_COMMAND:-BENCH_LARGE_ROWS=$ROWS bench/large.sh}" "$READ_REPS" <<'PY'
import csv, sys
path, out, rows, elapsed, command, reps = sys.argv[1:7]
targets = [
    ("fill_batch", 20.0, "fill, batches of 1000, random order"),
    ("point_select", 1.0, "point SELECT"),
    ("range_scan", 1.0, "100-row range scan"),
    ("range_delete", 1.0, "range DELETE (30% of the rows)"),
    ("scan_after_range_delete", 1.0, "2,000 10-row scans inside it"),
    ("delete_range_fn", 100.0,
     "kvstore_delete_range (30%) vs the table's DELETE"),
    ("scan_after_delete_range_fn", 1.0, "2,000 10-row scans inside it"),
    ("bulk_load_sorted", 2.0, "sorted bulk load, one INSERT ... SELECT"),
    ("ingest_sstables", 1.0,
     "kvstore_ingest of those SSTables vs INSERT ... SELECT * (no target "
     "in the issue)"),
]
runs = {}
for r in csv.DictReader(open(path)):
    runs.setdefault((r["backend"], r["test"]), []).append(r)
# a phase run more than once: its median run (the lower middle of an even
# count), by ops/s
res = {}
for key, rs in runs.items():
    rs.sort(key=lambda r: float(r["ops_per_sec"]))
    res[key] = rs[(len(rs) - 1) // 2]
lines = ["# bench-large: %s rows" % rows, "",
         "Command: `%s`; %s s in all. Ratio: kvstore's ops/s over the "
         "ordinary table's (above 1: kvstore is faster). The read-only "
         "phases (point SELECT, range scan) ran %s rounds, the backends "
         "alternating; their rows are each backend's median round, every "
         "run is in large.csv." % (command, elapsed, reps),
         "",
         "| workload | ops | kvstore s | table s | kvstore RSS MB | "
         "table RSS MB | ratio | target | verdict |",
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
nmet = 0
for test, target, what in targets:
    k, t = res.get(("kvstore", test)), res.get(("table", test))
    if not k or not t:
        lines.append("| %s | | | | | | | >= %gx | missing |" % (what, target))
        continue
    ko, to = float(k["ops_per_sec"]), float(t["ops_per_sec"])
    ratio = ko / to if to > 0 else float("inf")
    ok = ratio >= target
    nmet += ok
    lines.append("| %s | %s | %s | %s | %s | %s | %.2fx | >= %gx | %s |"
                 % (what, k["ops"], k["seconds"], t["seconds"],
                    k["peak_rss_mb"], t["peak_rss_mb"], ratio, target,
                    "met" if ok else "NOT met"))
lines += ["", "%d of %d targets met." % (nmet, len(targets))]
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
PY
