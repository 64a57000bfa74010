#!/usr/bin/python3
"""Scans over deleted rows: a kvstore table beside an ordinary WITHOUT
ROWID table, in one process, driven by Python's sqlite3 (issue #18).

    /usr/bin/python3 bench/delete_scans.py [--rows N] [--mode M] [--scans S]

Both tables get N rows (16-character keys "%016d", 100-byte values) in a
random order, INSERT batches of 1000. Then, per --mode:

    range        one DELETE WHERE key >= K(N/10) AND key < K(4N/10)
    function     kvstore_delete_range of the same keys (the ordinary table
                 runs the DELETE)
    every_other  every other row deleted, one DELETE ... WHERE key = ? each

then S scans `WHERE key >= ? ORDER BY key LIMIT 10` starting at random keys
of [K(N/10), K(4N/10)), right after, after a flush of the kvstore table, and
two seconds later (background compaction). Prints the seconds of each and
the ratio (the table's time over kvstore's: above 1, kvstore is faster).
Both databases in WAL mode with synchronous=NORMAL, kvstore with
sync=normal, memtable_size=4MiB, cache_size=8MiB (as bench/sqlbench.c).
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests"))
import kvtest  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--mode", default="range",
                    choices=["range", "function", "every_other"])
    ap.add_argument("--scans", type=int, default=2000)
    args = ap.parse_args()
    n = args.rows
    d = tempfile.mkdtemp(prefix="kvdelscan-")
    try:
        c = kvtest.connect(os.path.join(d, "x.db"))
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=NORMAL")
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore(sync=normal, "
                  "memtable_size='4MiB', cache_size='8MiB')")
        c.execute("CREATE TABLE ref(key TEXT PRIMARY KEY NOT NULL, value) "
                  "WITHOUT ROWID")
        keys = ["%016d" % i for i in range(n)]
        order = keys[:]
        random.Random(1).shuffle(order)
        for t in ("kv", "ref"):
            for i in range(0, n, 1000):
                c.execute("BEGIN")
                c.executemany("INSERT INTO %s VALUES(?, zeroblob(100))" % t,
                              [(k,) for k in order[i:i + 1000]])
                c.execute("COMMIT")
        lo, hi = keys[n // 10], keys[4 * n // 10]
        for t in ("kv", "ref"):
            t0 = time.time()
            if args.mode == "function" and t == "kv":
                c.execute("SELECT kvstore_delete_range('kv', ?, ?)", (lo, hi))
            elif args.mode in ("range", "function"):
                c.execute("DELETE FROM %s WHERE key >= ? AND key < ?" % t,
                          (lo, hi))
            else:
                for k in keys[::2]:
                    c.execute("DELETE FROM %s WHERE key = ?" % t, (k,))
            print("%-3s %s: %.3f s" % (t, args.mode, time.time() - t0))

        def scans(t):
            rng = random.Random(5)
            q = ("SELECT key, value FROM %s WHERE key >= ? ORDER BY key "
                 "LIMIT 10" % t)
            t0 = time.time()
            seen = 0
            for _ in range(args.scans):
                k = keys[rng.randrange(n // 10, 4 * n // 10)]
                seen += len(c.execute(q, (k,)).fetchall())
            return time.time() - t0, seen

        for label in ("right after", "after a flush", "two seconds later"):
            if label == "after a flush":
                c.execute("SELECT kvstore_flush('kv')")
            elif label == "two seconds later":
                time.sleep(2)
            a, b = scans("kv"), scans("ref")
            if a[1] != b[1]:
                sys.exit("different row counts: %d kvstore, %d table"
                         % (a[1], b[1]))
            print("%d scans %s: kvstore %.4f s, table %.4f s, ratio %.2fx"
                  % (args.scans, label, a[0], b[0], b[0] / a[0]))
        s = json.loads(c.execute("SELECT kvstore_stats('kv')").fetchone()[0])
        print("kvstore compaction: garbage_triggered %d, tombstones_dropped "
              "%d" % (s["compaction"]["garbage_triggered"],
                      s["compaction"]["tombstones_dropped"]))
        c.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
