#!/bin/sh
# bench/compare.sh OLD_DIR NEW_DIR [ROWS] [ROUNDS]
#
# sqlbench (bench/sqlbench.c) side by side for two builds of the extension
# and an ordinary table, interleaved in one run: for each round and test,
# OLD_DIR/kvstore.so, NEW_DIR/kvstore.so, then the table, each in a fresh
# process. Prints the medians of ops/s and the ratios new/old, old/table,
# new/table, then the same for CPU time per operation (the figure to
# trust when other work shares the machine). Build an older commit with
# `git worktree add /tmp/old REV && make -C /tmp/old kvstore.so`, then:
# bench/compare.sh /tmp/old .
set -eu
OLD=$(cd "$1" && pwd); NEW=$(cd "$2" && pwd)
ROWS=${3:-200000}; ROUNDS=${4:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/kvcompare-XXXXXX")
trap 'rm -rf "$W"' EXIT
cc -std=c11 -O2 -D_GNU_SOURCE "$HERE/sqlbench.c" -o "$W/sqlbench" -lsqlite3 -lm
out="$W/results.csv"; : > "$out"
r=0
while [ $r -lt "$ROUNDS" ]; do
  r=$((r + 1))
  rm -rf "$W/data"; mkdir -p "$W/data/old" "$W/data/new" "$W/data/table"
  for t in insert_autocommit insert_batch replace_batch insert_txn \
           point_select range_scan; do
    for b in old new table; do
      case $b in
        old) be=kvstore; ext=$OLD/kvstore ;;
        new) be=kvstore; ext=$NEW/kvstore ;;
        table) be=table; ext=$NEW/kvstore ;;
      esac
      line=$("$W/sqlbench" --backend=$be --test=$t --dir="$W/data/$b" \
               --rows="$ROWS" --ext="$ext" --duration=20)
      echo "$b,$line" >> "$out"
    done
  done
done
/usr/bin/python3 - "$out" "$ROWS" "$ROUNDS" <<'PY'
import collections, csv, statistics, sys
TESTS = ("insert_autocommit", "insert_batch", "replace_batch", "insert_txn",
         "point_select", "range_scan")


def table(col, title, fmt, ratios):
    """Print title and a table of the medians of CSV column col by test
    and build (each as fmt), then the ratios: (heading, f(old, new,
    table)) pairs."""
    d = collections.defaultdict(list)
    for r in csv.reader(open(sys.argv[1])):
        d[(r[2], r[0])].append(float(r[col]))   # test, build
    print(title)
    print("| test | old | new | table | %s |"
          % " | ".join(h for h, _ in ratios))
    print("| --- | ---: | ---: | ---: |" + " ---: |" * len(ratios))
    for t in TESTS:
        m = [statistics.median(d[(t, k)]) for k in ("old", "new", "table")]
        print("| %s | %s | %s |" % (t, " | ".join(fmt % v for v in m),
                                    " | ".join("%.2f" % f(*m)
                                               for _, f in ratios)))


table(6, "sqlbench, %s rows, median of %s interleaved rounds (ops/s)"
      % (sys.argv[2], sys.argv[3]), "%.0f",
      [("new/old", lambda o, n, b: n / o),
       ("old/table", lambda o, n, b: o / b),
       ("new/table", lambda o, n, b: n / b)])
# CPU time per operation (user+sys of each process, open and close
# included): far less disturbed than ops/s when other work shares the
# machine. Ratios are old/new and table/new, so above 1 is new faster here
# too.
print()
table(11, "CPU us/op, median of %s interleaved rounds" % sys.argv[3], "%.2f",
      [("old/new", lambda o, n, b: o / n),
       ("table/new", lambda o, n, b: b / n)])
PY
