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
#   BENCH_PEERS      which LevelDB and RocksDB libraries the peers use:
#                    auto (default): the release builds of `make
#                    bench-peers` when BENCH_PEERS_LIB holds both, built
#                    for the installed Debian versions, else Debian's;
#                    release: those builds or stop; debian: Debian's
#   BENCH_PEERS_LIB  where the release builds are (BENCH_BIN/../peers/lib)
#   BENCH_MODES      compression modes run besides the default (kvbench
#                    --compression): "none fast" (default); empty for none
#   BENCH_MODE_WORKLOADS  the workloads of those modes, in run order
#                    ("fillrandom readrandom readseq")
#
# kvbench: every workload runs in a fresh process per engine, engines
# interleaved within each workload (kvstore, leveldb, rocksdb, lmdb, sqlite,
# then the next workload), so machine noise spreads over all of them. The
# read and YCSB workloads run on the store left by fillrandom (then
# overwrite); fillseq, fillbatch and fillsync write scratch stores.
#
# Compression modes (issue #18): the engines' defaults differ (kvstore
# stores blocks uncompressed, LevelDB and RocksDB compress with snappy), so
# after the default run the BENCH_MODE_WORKLOADS run again in each of
# BENCH_MODES, in stores of their own: none (every engine uncompressed;
# LMDB too, which never compresses) and fast (kvstore zlib, LevelDB
# snappy, RocksDB lz4; LMDB left out). Same rounds and medians;
# kvbench_modes.csv (and kvbench_modes_runs.csv) prefix each line with
# the mode.
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
MODES=${BENCH_MODES-"none fast"}
MODE_WORKLOADS=${BENCH_MODE_WORKLOADS:-"fillrandom readrandom readseq"}
mkdir -p "$OUT" "$DATA"

# The peers' libraries: release builds (make bench-peers, bench/peers.sh)
# when present and built for the installed versions, else Debian's.
PEERS=${BENCH_PEERS:-auto}
PEERS_LIB=${BENCH_PEERS_LIB:-$(dirname "$BIN")/peers/lib}
peers_versions="leveldb $(dpkg-query -W -f='${Version}' libleveldb1d 2>/dev/null)
rocksdb $(dpkg-query -W -f='${Version}' librocksdb7.8 2>/dev/null)"
peers_ready() {
  [ -e "$PEERS_LIB/libleveldb.so.1d" ] && [ -e "$PEERS_LIB/librocksdb.so.7.8" ] &&
    [ "$(cat "$PEERS_LIB/VERSIONS" 2>/dev/null)" = "$peers_versions" ]
}
case $PEERS in
  auto)
    if peers_ready; then
      PEERS=release
    else
      PEERS=debian
      [ -e "$PEERS_LIB/VERSIONS" ] && echo "bench: $PEERS_LIB was built for" \
        "other versions than the installed ones; using Debian's (make bench-peers)" >&2
    fi ;;
  release)
    peers_ready || { echo "bench: BENCH_PEERS=release but $PEERS_LIB holds no" \
      "release builds of the installed versions (make bench-peers)" >&2; exit 1; } ;;
  debian) ;;
  *) echo "bench: BENCH_PEERS=$PEERS: use auto, release or debian" >&2; exit 1 ;;
esac
[ $PEERS = release ] && PEERS_LIB=$(cd "$PEERS_LIB" && pwd)

# kvbench ENGINE ARGS...: one driver run, the peers on the libraries chosen.
kvbench() {
  e=$1; shift
  case $PEERS,$e in
    release,leveldb|release,rocksdb)
      LD_LIBRARY_PATH="$PEERS_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$BIN/kvbench_$e" "$@" ;;
    *) "$BIN/kvbench_$e" "$@" ;;
  esac
}
# The library file the driver of engine $1 loads for SONAME $2.
resolved() {
  case $PEERS in
    release) LD_LIBRARY_PATH="$PEERS_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$BIN/kvbench_$1" ;;
    *) ldd "$BIN/kvbench_$1" ;;
  esac 2>/dev/null | awk -v s="$2" '$1 == s { print $3 }'
}

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
  # paths below the working directory relative (env.txt is committed)
  echo "peers=$PEERS"
  [ $PEERS = release ] && echo "peers_lib=${PEERS_LIB#"$PWD"/}"
  l=$(resolved leveldb libleveldb.so.1d); echo "lib_leveldb=${l#"$PWD"/}"
  l=$(resolved rocksdb librocksdb.so.7.8); echo "lib_rocksdb=${l#"$PWD"/}"
  echo "modes=default $MODES"
  echo "mode_workloads=$MODE_WORKLOADS"
} > "$OUT/env.txt"
case $PEERS in
  release) echo "peers: release builds of LevelDB and RocksDB from $PEERS_LIB" ;;
  *) echo "peers: Debian's LevelDB and RocksDB (assertions enabled; make bench-peers builds release ones)" ;;
esac

if [ "${BENCH_SKIP_KV:-0}" != 1 ]; then
  csv="$OUT/kvbench.csv.tmp"
  runs="$OUT/kvbench_runs.csv.tmp"
  "$BIN/kvbench_kvstore" --header > "$csv"
  cp "$csv" "$runs"
  # run_kv MODE WORKLOAD "ENGINES": the rounds of one workload, each
  # engine's median line to $csv and every run to $runs; lines of a mode
  # other than default are prefixed with "MODE," and use stores of their
  # own ($DATA/ENGINE-MODE).
  run_kv() {
    m=$1; w=$2; engs=$3
    pre=""; sfx=""; label=$w
    [ "$m" = default ] || { pre="$m,"; sfx="-$m"; label="$w/$m"; }
    ops=0; threads=1
    case $w in
      fillsync) threads=4; ops=10000 ;;
      ycsb?) ops=$((KEYS / 4)) ;;
    esac
    r=0
    while [ $r -lt "$(rounds $w)" ]; do
      r=$((r + 1))
      for e in $engs; do
        case $w in
          fillseq) db="$DATA/$e-seq" ;;
          fillbatch) db="$DATA/$e-batch" ;;
          fillsync) db="$DATA/$e-sync" ;;
          *) db="$DATA/$e$sfx" ;;
        esac
        line=$(kvbench $e --workload=$w --db="$db" --num=$KEYS \
                 --ops=$ops --threads=$threads --duration="$DURATION" \
                 --compression=$m) || {
          echo "kvbench_$e $w ($m) failed" >&2; exit 1; }
        echo "$pre$line" >> "$runs"
        echo "$line" >> "$DATA/$e.round"
        echo "$line" | awk -F, -v w="$label" '{printf "  %-12s %-8s %10s ops/s  p99 %8s us  rss %6s MB\n", w, $1, $7, $10, $11}'
        case $w in fillseq|fillbatch|fillsync) rm -rf "$db" ;; esac
      done
    done
    for e in $engs; do
      median_line "$DATA/$e.round" 7 | sed "s/^/$pre/" >> "$csv"
      rm -f "$DATA/$e.round"
    done
  }
  for w in $WORKLOADS; do
    run_kv default $w "$ENGINES"
  done
  mv "$csv" "$OUT/kvbench.csv"
  mv "$runs" "$OUT/kvbench_runs.csv"
  for e in $ENGINES; do rm -rf "$DATA/$e"; done

  if [ -n "$MODES" ]; then
    csv="$OUT/kvbench_modes.csv.tmp"
    runs="$OUT/kvbench_modes_runs.csv.tmp"
    echo "mode,$("$BIN/kvbench_kvstore" --header)" > "$csv"
    cp "$csv" "$runs"
    for m in $MODES; do
      case $m in
        none) want="kvstore leveldb rocksdb lmdb" ;;
        fast) want="kvstore leveldb rocksdb" ;;
        *) echo "bench: BENCH_MODES: unknown mode '$m' (none, fast)" >&2; exit 1 ;;
      esac
      engs=""
      for e in $ENGINES; do
        case " $want " in *" $e "*) engs="$engs $e" ;; esac
      done
      [ -n "$engs" ] || continue
      echo "kvbench: compression=$m:$engs"
      for w in $MODE_WORKLOADS; do
        run_kv $m $w "$engs"
      done
      for e in $engs; do rm -rf "$DATA/$e-$m"; done
    done
    mv "$csv" "$OUT/kvbench_modes.csv"
    mv "$runs" "$OUT/kvbench_modes_runs.csv"
  fi
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
