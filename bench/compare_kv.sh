#!/bin/sh
# bench/compare_kv.sh OLD_DIR NEW_DIR [KEYS] [ROUNDS]
#
# kvbench (bench/kvbench.c, the engine alone) side by side for two builds
# of the engine, interleaved in one run, as bench/compare.sh does for
# sqlbench: each tree's own build/bench/kvbench_kvstore (its engine linked
# in), for each round and workload old then new, each in a fresh process
# on its own store. Prints the medians of ops/s and of CPU us/op and the
# ratios new/old. Build an older commit with `git worktree add /tmp/old REV
# && make -C /tmp/old LTO= build/bench/kvbench_kvstore` (and the same in
# NEW_DIR), then: bench/compare_kv.sh /tmp/old . 1000000 3
set -eu
OLD=$(cd "$1" && pwd); NEW=$(cd "$2" && pwd)
KEYS=${3:-1000000}; ROUNDS=${4:-3}
WORKLOADS=${COMPARE_WORKLOADS:-"fillrandom readrandom readmissing readseq seekrandom overwrite ycsbb"}
for d in "$OLD" "$NEW"; do
  [ -x "$d/build/bench/kvbench_kvstore" ] || {
    echo "compare_kv: no $d/build/bench/kvbench_kvstore (make -C $d LTO= build/bench/kvbench_kvstore)" >&2
    exit 2; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/kvcompare-XXXXXX")
trap 'rm -rf "$W"' EXIT
out="$W/results.csv"; : > "$out"
r=0
while [ $r -lt "$ROUNDS" ]; do
  r=$((r + 1))
  rm -rf "$W/old" "$W/new"
  for w in $WORKLOADS; do
    for b in old new; do
      case $b in old) dir=$OLD ;; new) dir=$NEW ;; esac
      line=$("$dir/build/bench/kvbench_kvstore" --workload=$w --db="$W/$b" \
               --num="$KEYS" --duration=60)
      echo "$b,$line" >> "$out"
    done
  done
done
/usr/bin/python3 - "$out" "$KEYS" "$ROUNDS" <<'PY'
import collections, csv, statistics, sys
ops = collections.defaultdict(list)
cpu = collections.defaultdict(list)
order = []
for r in csv.reader(open(sys.argv[1])):
    build, work = r[0], r[2]
    if work not in order:
        order.append(work)
    ops[(work, build)].append(float(r[7]))     # ops_per_sec
    cpu[(work, build)].append(float(r[17]))    # cpu_us_per_op
print("kvbench (kvstore engine), %s keys, median of %s interleaved rounds"
      % (sys.argv[2], sys.argv[3]))
print("| workload | old ops/s | new ops/s | new/old | old CPU us/op "
      "| new CPU us/op | new/old |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for w in order:
    o, n = (statistics.median(ops[(w, b)]) for b in ("old", "new"))
    co, cn = (statistics.median(cpu[(w, b)]) for b in ("old", "new"))
    print("| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f |"
          % (w, o, n, n / o if o else 0, co, cn, cn / co if co else 0))
PY
