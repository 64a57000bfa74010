#!/usr/bin/python3
"""Crash test: transactions acknowledged under sync=full survive SIGKILL.

A child process commits multi-row transactions into a kvstore table and
prints each transaction's id after COMMIT returns. The parent kills it with
SIGKILL at a random moment, then opens the store and checks that

  - the store opens and reads without error,
  - every acknowledged transaction is present whole,
  - no transaction is present in part (one that committed but was not yet
    acknowledged may be present, whole),
  - the `counter` row, which every transaction sets to its id, names the
    newest transaction present (multi-key atomicity).

This repeats --rounds times (100 by default), each child continuing after
the newest transaction found. The memtable is small and values are large
enough that flushes run (on the background thread) while the child is
killed.

    /usr/bin/python3 tests/crashtest.py [--rounds N] [--seed S]
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

CREATE = ("CREATE VIRTUAL TABLE IF NOT EXISTS kv USING kvstore("
          "sync=full, memtable_size='128KB', wal_segment_size='64KB')")


def rows_of(txn):
    """The rows transaction `txn` writes: deterministic, so the checker
    knows what a whole transaction is."""
    rng = random.Random(txn)
    n = rng.randint(1, 12)
    return [("t%08d:%02d" % (txn, j), rng.randbytes(rng.randint(10, 3000)))
            for j in range(n)]


def child(path, first):
    conn = kvtest.connect(path)
    conn.execute(CREATE)
    txn = first
    while True:
        rows = rows_of(txn)
        conn.execute("BEGIN")
        if txn % 2:
            conn.execute("INSERT INTO kv VALUES " + ",".join(["(?,?)"] * len(rows)),
                         [x for r in rows for x in r])
        else:
            for r in rows:
                conn.execute("INSERT INTO kv VALUES (?, ?)", r)
        conn.execute("INSERT OR REPLACE INTO kv VALUES ('counter', ?)", (txn,))
        conn.execute("COMMIT")
        kvtest.acknowledge(txn)
        txn += 1


def check(path, acked):
    """Return (newest transaction present, number of rows) or raise."""
    conn = kvtest.connect(path)
    conn.execute(CREATE)
    present, counter = kvtest.txn_rows(conn)
    conn.close()
    for txn, got in present.items():
        want = dict(rows_of(txn))
        if got != want:
            raise AssertionError("transaction %d is partial or wrong: %d of "
                                 "%d rows" % (txn, len(got), len(want)))
    for txn in acked:
        if txn not in present:
            raise AssertionError("acknowledged transaction %d is missing"
                                 % txn)
    newest = kvtest.check_counter(present, counter)
    return newest, sum(len(v) for v in present.values())


def main():
    args = kvtest.kill_test_args(child, 100)

    with kvtest.KillRun("crashtest", args.seed, "kvcrash-") as run:
        path = os.path.join(run.work, "crash.db")
        newest, nrows, total_acked = run.kill_rounds(__file__, path,
                                                     args.rounds, check)
        sst = [f for f in os.listdir(path + "-kv.kvstore")
               if f.endswith(".sst")]
        run.passed("%d kills, %d acknowledged transactions, newest %d, %d "
                   "rows, %d SSTables, %.1fs: all whole"
                   % (args.rounds, total_acked, newest, nrows, len(sst),
                      run.elapsed()))
    sys.exit(run.status)


if __name__ == "__main__":
    main()
