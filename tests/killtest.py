#!/usr/bin/python3
"""kill -9 loop: mixed multi-row transactions under busy compaction.

A child process runs transactions against a kvstore table with sync=full,
the smallest memtable (64 KB), small SSTables (target_file_size=16KB) and
level0_trigger=2, so that background flushes and compactions run all the
time (and now and then an explicit kvstore_compact, partial or full). Each
transaction mixes INSERT (which may fail on an existing key, undoing only
that statement), multi-row INSERT OR REPLACE, UPDATE and DELETE by key and
by range, a transfer between two 'acct' rows (their sum never changes), a
SAVEPOINT whose work is rolled back, and a marker row 'm<id>' (the marker
of transaction id-100 is deleted, so the newest marker names the newest
transaction present). The child prints "B id" before BEGIN and "C id" once
COMMIT has returned. The parent kills it with SIGKILL at a random moment,
then reopens the store and checks:

  - it opens and every row reads without error;
  - no phantom: the newest marker is no newer than the last "B" line;
  - no lost commit: the newest marker is at least the last "C" line;
  - no partial transaction: the accounts still sum to the total, and the
    whole table equals the model (the operations are a deterministic
    function of the transaction id, replayed on a Python dict) after
    exactly that transaction;
  - SELECT kvstore_verify('t') is 'ok'.

The next child continues after the newest transaction found.

    /usr/bin/python3 tests/killtest.py [--cycles N] [--seed S]

make test runs 30 cycles, make stress 300.
"""
import argparse
import os
import random
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

CREATE = ("CREATE VIRTUAL TABLE IF NOT EXISTS t USING kvstore("
          "sync=full, memtable_size='64KB', wal_segment_size='32KB', "
          "target_file_size='16KB', level0_trigger=2, block_size=1024)")
NKEY = 400                  # keys 'k000'..'k399'
NACCT = 8                   # accounts 'acct0'..'acct7'
ACCT_START = 1000
MARKER_KEEP = 100           # transaction id deletes the marker of id-100


def key(i):
    return "k%03d" % i


def marker(txn):
    return "m%08d" % txn


def value(rng, txn, n):
    """A value carrying its transaction id, incompressible."""
    return b"%d:" % txn + rng.randbytes(rng.randint(1, n))


def ops_of(salt, txn):
    """The statements of transaction `txn`: a deterministic function of
    (salt, txn), so the child and the checker's model agree."""
    rng = random.Random("%d/%d" % (salt, txn))
    ops = []
    for _ in range(rng.randint(2, 8)):
        r = rng.random()
        if r < 0.2:
            ops.append(("insert", key(rng.randrange(NKEY)),
                        value(rng, txn, 1500)))
        elif r < 0.4:
            ops.append(("replace", [(key(rng.randrange(NKEY)),
                                     value(rng, txn, 1500))
                                    for _ in range(rng.randint(2, 5))]))
        elif r < 0.5:
            ops.append(("update", key(rng.randrange(NKEY)),
                        value(rng, txn, 1500)))
        elif r < 0.58:
            lo = rng.randrange(NKEY)
            ops.append(("update_range", key(lo), key(lo + rng.randint(0, 4)),
                        value(rng, txn, 300)))
        elif r < 0.7:
            ops.append(("delete", key(rng.randrange(NKEY))))
        elif r < 0.76:
            lo = rng.randrange(NKEY)
            ops.append(("delete_range", key(lo), key(lo + rng.randint(1, 6))))
        elif r < 0.92:
            a, b = rng.sample(range(NACCT), 2)
            ops.append(("transfer", "acct%d" % a, "acct%d" % b,
                        rng.randint(1, 50)))
        else:
            ops.append(("rolled_back", key(rng.randrange(NKEY)),
                        value(rng, txn, 500)))
    extra = None
    if txn % 97 == 0:
        extra = "full"
    elif txn % 23 == 0:
        extra = "partial"
    return ops, extra


def run_ops(conn, txn, ops):
    """Execute one transaction's statements (inside BEGIN)."""
    for op in ops:
        kind = op[0]
        if kind == "insert":
            try:
                conn.execute("INSERT INTO t VALUES (?, ?)", op[1:])
            except sqlite3.IntegrityError:
                pass                    # the key exists: statement undone
        elif kind == "replace":
            rows = op[1]
            conn.execute("INSERT OR REPLACE INTO t VALUES "
                         + ",".join(["(?,?)"] * len(rows)),
                         [x for r in rows for x in r])
        elif kind == "update":
            conn.execute("UPDATE t SET value = ? WHERE key = ?",
                         (op[2], op[1]))
        elif kind == "update_range":
            conn.execute("UPDATE t SET value = ? WHERE key BETWEEN ? AND ?",
                         (op[3], op[1], op[2]))
        elif kind == "delete":
            conn.execute("DELETE FROM t WHERE key = ?", (op[1],))
        elif kind == "delete_range":
            conn.execute("DELETE FROM t WHERE key >= ? AND key < ?",
                         (op[1], op[2]))
        elif kind == "transfer":
            conn.execute("UPDATE t SET value = value - ? WHERE key = ?",
                         (op[3], op[1]))
            conn.execute("UPDATE t SET value = value + ? WHERE key = ?",
                         (op[3], op[2]))
        elif kind == "rolled_back":
            conn.execute("SAVEPOINT s")
            conn.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", op[1:])
            conn.execute("DELETE FROM t WHERE key >= 'k' AND key < ?",
                         (op[1],))
            conn.execute("ROLLBACK TO s")
            conn.execute("RELEASE s")
    conn.execute("INSERT INTO t VALUES (?, ?)", (marker(txn), txn))
    conn.execute("DELETE FROM t WHERE key = ?", (marker(txn - MARKER_KEEP),))


def apply_ops(m, txn, ops):
    """The same transaction on the model dict m."""
    for op in ops:
        kind = op[0]
        if kind == "insert":
            m.setdefault(op[1], op[2])
        elif kind == "replace":
            for k, v in op[1]:
                m[k] = v
        elif kind == "update":
            if op[1] in m:
                m[op[1]] = op[2]
        elif kind == "update_range":
            for k in [k for k in m if op[1] <= k <= op[2]]:
                m[k] = op[3]
        elif kind == "delete":
            m.pop(op[1], None)
        elif kind == "delete_range":
            for k in [k for k in m if op[1] <= k < op[2]]:
                del m[k]
        elif kind == "transfer":
            m[op[1]] -= op[3]
            m[op[2]] += op[3]
    m[marker(txn)] = txn
    m.pop(marker(txn - MARKER_KEEP), None)


def initial_state():
    return {"acct%d" % i: ACCT_START for i in range(NACCT)}


def setup(path):
    conn = kvtest.connect(path)
    conn.execute(CREATE)
    conn.execute("BEGIN")
    for k, v in initial_state().items():
        conn.execute("INSERT INTO t VALUES (?, ?)", (k, v))
    conn.execute("COMMIT")
    conn.close()


def child(path, salt, first):
    conn = kvtest.connect(path)
    conn.execute(CREATE)
    out = sys.stdout
    txn = first
    while True:
        ops, extra = ops_of(salt, txn)
        out.write("B %d\n" % txn)
        out.flush()
        conn.execute("BEGIN")
        run_ops(conn, txn, ops)
        conn.execute("COMMIT")
        out.write("C %d\n" % txn)
        out.flush()
        if extra == "full":
            conn.execute("SELECT kvstore_compact('t', 'full')").fetchone()
        elif extra == "partial":
            conn.execute("SELECT kvstore_compact('t')").fetchone()
        txn += 1


def check(path, salt, state, newest, started, acked):
    """Reopen and check the store after a kill. state is the model after
    transaction `newest` (the previous check). Returns (state, newest) of
    the store found."""
    conn = kvtest.connect(path)
    conn.execute(CREATE)
    got = dict(conn.execute("SELECT key, value FROM t ORDER BY key"))
    verify = conn.execute("SELECT kvstore_verify('t')").fetchone()[0]
    conn.close()
    if verify != "ok":
        raise AssertionError("kvstore_verify: %s" % verify)
    markers = [v for k, v in got.items() if k.startswith("m")]
    found = max(markers) if markers else newest
    if found > max(started, newest):
        raise AssertionError("phantom: marker of transaction %d, never "
                             "started (last started %d)" % (found, started))
    if found < acked:
        raise AssertionError("acknowledged transaction %d lost (newest "
                             "present %d)" % (acked, found))
    if found < newest:
        raise AssertionError("transaction %d, present before, lost (newest "
                             "present %d)" % (newest, found))
    total = sum(v for k, v in got.items() if k.startswith("acct"))
    if total != ACCT_START * NACCT:
        raise AssertionError("partial transaction: accounts sum to %d"
                             % total)
    for txn in range(newest + 1, found + 1):
        apply_ops(state, txn, ops_of(salt, txn)[0])
    if got != state:
        diff = sorted(k for k in set(got) | set(state)
                      if got.get(k) != state.get(k))
        raise AssertionError("store differs from the state after "
                             "transaction %d (partial transaction?): %d "
                             "keys, first %s" % (found, len(diff), diff[:5]))
    return state, found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=30)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--child", nargs=3, metavar=("DB", "SALT", "FIRST"))
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return

    state = initial_state()
    newest = nacked = 0
    with kvtest.KillRun("killtest", args.seed, "kvkill-", unit="cycle",
                        errors=(AssertionError, sqlite3.Error)) as run:
        path = os.path.join(run.work, "kill.db")
        setup(path)
        for run.round in range(args.cycles):
            # Now and then right after startup (open, recovery), mostly
            # in the middle of the workload.
            lo, hi = (0.0, 0.15) if run.rng.random() < 0.2 else (0.1, 1.0)
            lines = kvtest.kill_child(
                kvtest.child_argv(__file__, path, run.seed, newest + 1),
                run.rng, lo, hi)
            started = max([int(x[2:]) for x in lines if x[0] == "B"],
                          default=newest)
            acked_ids = [int(x[2:]) for x in lines if x[0] == "C"]
            acked = max(acked_ids, default=newest)
            nacked += len(acked_ids)
            state, newest = check(path, run.seed, state, newest, started,
                                  acked)
        conn = kvtest.connect(path)
        conn.execute(CREATE)
        levels = conn.execute("SELECT group_concat(n, '/') FROM (SELECT "
                              "count(*) AS n FROM kvstore_sstables('t') "
                              "GROUP BY level ORDER BY level)").fetchone()[0]
        conn.close()
        run.passed("%d kills, %d acknowledged transactions, newest %d, %d "
                   "rows, SSTables per level %s, %.1fs: none lost, none "
                   "partial, no phantom, verify ok"
                   % (args.cycles, nacked, newest, len(state), levels,
                      run.elapsed()))
    sys.exit(run.status)


if __name__ == "__main__":
    main()
