#!/bin/sh
# bench/compare_ir.sh OLD_DIR NEW_DIR [ROWS] [OPS]
#
# Instructions, not time: sqlbench (bench/sqlbench.c) under valgrind's
# callgrind for two builds of the extension, each test in a fresh process
# on its build's own data directory (replace_batch fills the table the
# reads use). Instruction counts do not change with other work on the
# machine, so a change of a few percent shows even when bench/compare.sh's
# timings cannot; they miss what costs time without instructions (system
# calls waiting on the disk, cache misses, lock waits): read both.
# About 2 minutes at the defaults.
set -eu
OLD=$(cd "$1" && pwd); NEW=$(cd "$2" && pwd)
ROWS=${3:-20000}; OPS=${4:-4000}
HERE=$(cd "$(dirname "$0")" && pwd)
command -v valgrind >/dev/null || { echo "compare_ir.sh: needs valgrind" >&2; exit 2; }
W=$(mktemp -d "${TMPDIR:-/tmp}/kvcompareir-XXXXXX")
trap 'rm -rf "$W"' EXIT
cc -std=c11 -O2 -D_GNU_SOURCE "$HERE/sqlbench.c" -o "$W/sqlbench" -lsqlite3 -lm
TESTS="replace_batch point_select range_scan insert_autocommit insert_batch insert_txn"
for b in old new; do
  if [ $b = old ]; then ext=$OLD/kvstore; else ext=$NEW/kvstore; fi
  mkdir -p "$W/data-$b"
  for t in $TESTS; do
    # the fills write ROWS rows (autocommit ROWS/10); the reads do OPS
    case $t in point_select|range_scan) ops="--ops=$OPS" ;; *) ops= ;; esac
    valgrind --tool=callgrind --callgrind-out-file="$W/$b.$t.cg" \
      "$W/sqlbench" --backend=kvstore --test=$t --dir="$W/data-$b" \
      --rows="$ROWS" $ops --ext="$ext" --duration=600 \
      > "$W/$b.$t.log" 2>&1 || { cat "$W/$b.$t.log" >&2; exit 1; }
    n=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$W/$b.$t.log")
    echo "$t,$b,$n" >> "$W/ir.csv"
  done
done
/usr/bin/python3 - "$W/ir.csv" "$ROWS" "$OPS" <<'PY'
import csv, sys
d = {(r[0], r[1]): int(r[2]) for r in csv.reader(open(sys.argv[1]))}
print("sqlbench under callgrind, %s rows, %s ops: instructions of the whole "
      "process (open and close included)" % (sys.argv[2], sys.argv[3]))
print("| test | old | new | new/old |")
print("| --- | ---: | ---: | ---: |")
for t in ("replace_batch", "point_select", "range_scan", "insert_autocommit",
          "insert_batch", "insert_txn"):
    o, n = d[(t, "old")], d[(t, "new")]
    print("| %s | %d | %d | %.3f |" % (t, o, n, n / o))
PY
