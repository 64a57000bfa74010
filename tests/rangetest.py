#!/usr/bin/python3
"""Range deletes under kill -9: a range tombstone commits with its
transaction, whole or not at all, and survives a crash once acknowledged.

A child process commits transactions into a kvstore table (sync=full) and
prints each one's id after COMMIT returns; the parent kills it with
SIGKILL at a random moment, reopens the store and checks it. Transaction
T inserts its own rows (keys 't<T>:<j>'); when T is a multiple of 5 it
also deletes every row of transaction T-3, as one range ['t<T-3>:',
't<T-3>;'): by kvstore_delete_range when T is a multiple of 10, by a range
DELETE (which kvstore records as one range tombstone) otherwise, and at
times from inside a savepoint that is released. Every few transactions a
savepoint holds a range delete of T-1's rows and is rolled back, which
must leave them. After each kill:

  - the store opens and reads without error;
  - every transaction present is whole, unless a transaction present
    deleted it, and then none of it is left;
  - every acknowledged transaction is present or deleted by one present;
  - the `counter` row names the newest transaction present.

The memtable is small, so flushes (and compactions) run while the child is
killed: tombstones are caught in the memtable, the WAL and SSTables.

    /usr/bin/python3 tests/rangetest.py [--rounds N] [--seed S]
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

CREATE = ("CREATE VIRTUAL TABLE IF NOT EXISTS kv USING kvstore("
          "sync=full, memtable_size='64KB', wal_segment_size='64KB')")


def rows_of(txn):
    """The rows transaction `txn` inserts (deterministic)."""
    rng = random.Random(txn)
    n = rng.randint(2, 10)
    return [("t%08d:%02d" % (txn, j), rng.randbytes(rng.randint(10, 2000)))
            for j in range(n)]


def victim(txn):
    """The transaction whose rows `txn` deletes, or None."""
    return txn - 3 if txn % 5 == 0 and txn > 3 else None


def bounds(txn):
    return "t%08d:" % txn, "t%08d;" % txn


def child(path, first):
    conn = kvtest.connect(path)
    conn.execute(CREATE)
    txn = first
    while True:
        rows = rows_of(txn)
        conn.execute("BEGIN")
        conn.execute("INSERT INTO kv VALUES "
                     + ",".join(["(?,?)"] * len(rows)),
                     [x for r in rows for x in r])
        if txn % 3 == 0 and txn > 1:
            # Rolled back: transaction txn-1 stays whole.
            conn.execute("SAVEPOINT undo")
            conn.execute("SELECT kvstore_delete_range('kv', ?, ?)",
                         bounds(txn - 1))
            conn.execute("ROLLBACK TO undo")
            conn.execute("RELEASE undo")
        v = victim(txn)
        if v is not None:
            if txn % 4 == 0:
                conn.execute("SAVEPOINT keep")
            if txn % 10 == 0:
                conn.execute("SELECT kvstore_delete_range('kv', ?, ?)",
                             bounds(v))
            else:
                conn.execute("DELETE FROM kv WHERE key >= ? AND key < ?",
                             bounds(v))
            if txn % 4 == 0:
                conn.execute("RELEASE keep")
        conn.execute("INSERT OR REPLACE INTO kv VALUES ('counter', ?)", (txn,))
        conn.execute("COMMIT")
        kvtest.acknowledge(txn)
        txn += 1


def check(path, acked):
    """Return (newest transaction present, rows present) or raise."""
    conn = kvtest.connect(path)
    conn.execute(CREATE)
    present, counter = kvtest.txn_rows(conn)
    # Deleting transactions are never deleted themselves (a multiple of 5
    # minus 3 is not a multiple of 5), so "present" decides for them.
    deleted = set(victim(t) for t in present if victim(t) is not None)
    # A range scan from inside a deleted range lands after it.
    for v in deleted:
        lo, hi = bounds(v)
        row = conn.execute("SELECT key FROM kv WHERE key >= ? ORDER BY key "
                           "LIMIT 1", (lo,)).fetchone()
        if row is not None and row[0] < hi:
            raise AssertionError("scan from deleted transaction %d finds %s"
                                 % (v, row[0]))
    conn.close()
    for txn, got in present.items():
        if txn in deleted:
            raise AssertionError("transaction %d was deleted by %d, yet %d "
                                 "of its rows are left"
                                 % (txn, txn + 3, len(got)))
        if got != dict(rows_of(txn)):
            raise AssertionError("transaction %d is partial or wrong: %d of "
                                 "%d rows" % (txn, len(got),
                                              len(rows_of(txn))))
    for txn in acked:
        if txn not in present and txn not in deleted:
            raise AssertionError("acknowledged transaction %d is missing"
                                 % txn)
        v = victim(txn)
        if v is not None and v in present:
            raise AssertionError("acknowledged transaction %d did not delete "
                                 "%d" % (txn, v))
    newest = kvtest.check_counter(present, counter)
    return newest, sum(len(v) for v in present.values())


def main():
    args = kvtest.kill_test_args(child, 40)

    with kvtest.KillRun("rangetest", args.seed, "kvrange-") as run:
        path = os.path.join(run.work, "range.db")
        newest, nrows, total_acked = run.kill_rounds(__file__, path,
                                                     args.rounds, check)
        run.passed("%d kills, %d acknowledged transactions (%d range "
                   "deletes), newest %d, %d rows, %.1fs: all whole"
                   % (args.rounds, total_acked, newest // 5, newest, nrows,
                      run.elapsed()))
    sys.exit(run.status)


if __name__ == "__main__":
    main()
