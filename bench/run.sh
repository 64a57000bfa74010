#!/bin/sh
# bench/run.sh - runs the whole benchmark suite and writes bench/results/.
#
#   bench/run.sh                      (what `make bench` runs)
#   BENCH_KEYS=10000000 bench/run.sh  (more keys; see bench-large)
#
# Environment (all optional):
#   BENCH_KEYS       records per store (default 1000000)
#   BENCH_SQL_ROWS   rows of sqlbench (default = BENCH_KEYS)
#   BENCH_ENGINES    subset of "kvstore leveldb rocksdb lmdb sqlite"
#   BENCH_WORKLOADS  subset of the kvbench workloads, in run order
#   BENCH_DURATION   seconds after which a workload other than fillrandom
#                    stops and reports what it did (20)
#   BENCH_SQL_DURATION  the same for sqlbench's scratch fills and reads (60)
#   BENCH_SKIP_SQL   1 to skip sqlbench; BENCH_SKIP_KV 1 to skip kvbench
#   BENCH_SKIP_MPROC 1 to skip bench/mproc.py (many processes);
#                    BENCH_MPROC_ROWS (= BENCH_SQL_ROWS),
#                    BENCH_MPROC_DURATION (3 s a run), BENCH_MPROC_REPS (3)
#   BENCH_READ_REPS  runs of each read-only workload and SQL read test (5):
#                    the engines alternate within every round, the tables
#                    report each engine's median run, and every run goes
#                    to kvbench_runs.csv / sqlbench_runs.csv
#   BENCH_BIN        directory of the kvbench_* and sqlbench binaries
#   BENCH_DATA       scratch directory for the stores (removed at the end)
#   BENCH_OUT        results directory (bench/results)
#
# kvbench: every workload runs in a fresh process per engine, engines
# interleaved within each workload (kvstore, leveldb, rocksdb, lmdb, sqlite,
# then the next workload), so machine noise spreads over all of them. The
# read and YCSB workloads run on the store left by fillrandom (then
# overwrite); fillseq, fillbatch and fillsync write scratch stores.
set -eu

KEYS=${BENCH_KEYS:-1000000}
SQL_ROWS=${BENCH_SQL_ROWS:-$KEYS}
ENGINES=${BENCH_ENGINES:-"kvstore leveldb rocksdb lmdb sqlite"}
WORKLOADS=${BENCH_WORKLOADS:-"fillseq fillrandom fillbatch overwrite readrandom readmissing readhot readseq readreverse seekrandom ycsba ycsbb ycsbc ycsbd ycsbe ycsbf fillsync deleterandom"}
DURATION=${BENCH_DURATION:-20}
SQL_DURATION=${BENCH_SQL_DURATION:-60}
BIN=${BENCH_BIN:-build/bench}
DATA=${BENCH_DATA:-build/bench/data}
OUT=${BENCH_OUT:-bench/results}
PY=/usr/bin/python3

READ_REPS=${BENCH_READ_REPS:-5}
mkdir -p "$OUT" "$DATA"

# Rounds of a workload: read-only ones READ_REPS times (they leave the data
# as it was, and one short run moves by tens of percent on a busy machine),
# everything else once.
rounds() {
  case $1 in
    readrandom|readmissing|readhot|readseq|readreverse|seekrandom) ;;
    point_select|range_scan) ;;
    *) echo 1; return ;;
  esac
  echo "$READ_REPS"
}
# The line of CSV file $1 whose column $2 is the median (the lower middle
# of an even count).
median_line() {
  n=$(wc -l < "$1")
  sort -t, -k"$2","$2" -g "$1" | sed -n "$(( (n + 1) / 2 ))p"
}
start=$(date +%s)
echo "kvbench: $KEYS keys; engines: $ENGINES"
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "keys=$KEYS"
  echo "command=${BENCH_COMMAND:-BENCH_KEYS=$KEYS bench/run.sh}"
  echo "sql_rows=$SQL_ROWS"
  echo "duration_cap=$DURATION"
  echo "read_reps=$READ_REPS"
  echo "cpu=$cpu x $(nproc)"
  echo "kernel=$(uname -r)"
  echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  for p in libleveldb1d librocksdb7.8 liblmdb0 libsqlite3-0; do
    echo "pkg_$p=$(dpkg-query -W -f='${Version}' $p 2>/dev/null || echo '?')"
  done
} > "$OUT/env.txt"

if [ "${BENCH_SKIP_KV:-0}" != 1 ]; then
  csv="$OUT/kvbench.csv.tmp"
  runs="$OUT/kvbench_runs.csv.tmp"
  "$BIN/kvbench_kvstore" --header > "$csv"
  cp "$csv" "$runs"
  for w in $WORKLOADS; do
    ops=0; threads=1
    case $w in
      fillsync) threads=4; ops=10000 ;;
      ycsb?) ops=$((KEYS / 4)) ;;
    esac
    r=0
    while [ $r -lt "$(rounds $w)" ]; do
      r=$((r + 1))
      for e in $ENGINES; do
        case $w in
          fillseq) db="$DATA/$e-seq" ;;
          fillbatch) db="$DATA/$e-batch" ;;
          fillsync) db="$DATA/$e-sync" ;;
          *) db="$DATA/$e" ;;
        esac
        line=$("$BIN/kvbench_$e" --workload=$w --db="$db" --num=$KEYS \
                 --ops=$ops --threads=$threads --duration="$DURATION") || {
          echo "kvbench_$e $w failed" >&2; exit 1; }
        echo "$line" >> "$runs"
        echo "$line" >> "$DATA/$e.round"
        echo "$line" | awk -F, '{printf "  %-12s %-8s %10s ops/s  p99 %8s us  rss %6s MB\n", $2, $1, $7, $10, $11}'
        case $w in fillseq|fillbatch|fillsync) rm -rf "$db" ;; esac
      done
    done
    for e in $ENGINES; do
      median_line "$DATA/$e.round" 7 >> "$csv"
      rm -f "$DATA/$e.round"
    done
  done
  mv "$csv" "$OUT/kvbench.csv"
  mv "$runs" "$OUT/kvbench_runs.csv"
  for e in $ENGINES; do rm -rf "$DATA/$e"; done
fi

if [ "${BENCH_SKIP_SQL:-0}" != 1 ]; then
  echo "sqlbench: $SQL_ROWS rows"
  csv="$OUT/sqlbench.csv.tmp"
  runs="$OUT/sqlbench_runs.csv.tmp"
  "$BIN/sqlbench" --header > "$csv"
  cp "$csv" "$runs"
  for t in insert_autocommit insert_batch replace_batch insert_txn \
           replace_txn point_select range_scan; do
    r=0
    while [ $r -lt "$(rounds $t)" ]; do
      r=$((r + 1))
      for b in kvstore table; do
        line=$("$BIN/sqlbench" --backend=$b --test=$t --dir="$DATA/sql" \
                 --rows="$SQL_ROWS" --ext=./kvstore --duration="$SQL_DURATION") || {
          echo "sqlbench $b $t failed" >&2; exit 1; }
        echo "$line" >> "$runs"
        echo "$line" >> "$DATA/sql-$b.round"
        echo "$line" | awk -F, '{printf "  %-18s %-8s %10s ops/s  p99 %8s us  rss %6s MB\n", $2, $1, $6, $8, $9}'
      done
    done
    for b in kvstore table; do
      median_line "$DATA/sql-$b.round" 6 >> "$csv"
      rm -f "$DATA/sql-$b.round"
    done
  done
  mv "$csv" "$OUT/sqlbench.csv"
  mv "$runs" "$OUT/sqlbench_runs.csv"
  rm -rf "$DATA/sql"
fi

# bench/mproc.py (issue #16): 1, 2 and 4 processes on one table, kvstore
# beside an ordinary table; writes $OUT/mproc.md and mproc.csv.
if [ "${BENCH_SKIP_MPROC:-0}" != 1 ]; then
  MPROC_ROWS=${BENCH_MPROC_ROWS:-$SQL_ROWS}
  echo "mproc: $MPROC_ROWS rows"
  $PY bench/mproc.py --rows "$MPROC_ROWS" \
    --duration "${BENCH_MPROC_DURATION:-3}" --reps "${BENCH_MPROC_REPS:-3}" \
    --dir "$DATA" --out "$OUT" --command "${BENCH_COMMAND:-bench/run.sh}" || {
    echo "bench/mproc.py failed" >&2; exit 1; }
fi

end=$(date +%s)
echo "run_seconds=$((end - start))" >> "$OUT/env.txt"
$PY bench/report.py "$OUT"
echo "bench: done in $((end - start)) s; results in $OUT/"
