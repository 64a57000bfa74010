#!/usr/bin/python3
"""Statements interrupted at every step: a progress handler stops each
statement shape at its n-th virtual machine step, for n = 1, 2, ... until
it completes, with and without a statement cache (an application's cache
keeps a failed statement prepared, and with it SQLite's copy of the
table).

    /usr/bin/python3 tests/stepsweeptest.py [--stride K]

After each interrupted run (the transaction rolled back, as an application
would): the kvstore table equals its ordinary WITHOUT ROWID twin, in the
same connection and after reopening; kvstore_verify says ok; a CREATE or
DROP that was interrupted works when retried; and there is a store
directory for each kvstore table and for nothing else. This is how an
application's query timeout (a progress handler) or ^C in the shell
(sqlite3_interrupt) meets kvstore. What it found: an ALTER TABLE ...
RENAME interrupted after xRename moved the directory (ownertest has that
sweep), and, with a statement cache, a DROP or RENAME retried after an
interrupted one refused as "in use" by the failed statement's copy of the
table.
"""
import argparse
import os
import shutil
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

SETUP = [
    "CREATE VIRTUAL TABLE kv USING kvstore",
    "CREATE TABLE t(key TEXT PRIMARY KEY, value) WITHOUT ROWID",
    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c "
    "WHERE i<200) INSERT INTO kv SELECT printf('k%04d', i), i FROM c",
    "INSERT INTO t SELECT key, value FROM kv",
]

# name: (statements, stride multiplier: long shapes are sampled more
# coarsely)
CASES = {
    "create": (["CREATE VIRTUAL TABLE kv2 USING kvstore"], 1),
    "drop": (["DROP TABLE kv"], 1),
    "transaction": ([
        "BEGIN",
        "INSERT INTO kv VALUES ('new', 1)",
        "INSERT INTO t VALUES ('new', 1)",
        "UPDATE kv SET value = value + 1 WHERE key < 'k0100'",
        "UPDATE t SET value = value + 1 WHERE key < 'k0100'",
        "COMMIT"], 9),
    "delete_range": ([
        "BEGIN",
        "SELECT kvstore_delete_range('kv', 'k0050', 'k0150')",
        "DELETE FROM t WHERE key >= 'k0050' AND key < 'k0150'",
        "COMMIT"], 3),
    "range_delete": ([
        "BEGIN",
        "DELETE FROM kv WHERE key >= 'k0050' AND key < 'k0150'",
        "DELETE FROM t WHERE key >= 'k0050' AND key < 'k0150'",
        "COMMIT"], 5),
    "bulk_load": ([
        "BEGIN",
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c "
        "WHERE i<1000) INSERT INTO kv SELECT printf('z%05d', i), i FROM c",
        "INSERT INTO t SELECT key, value FROM kv WHERE key >= 'z'",
        "COMMIT"], 100),
    "compact": (["SELECT kvstore_compact('kv', 'full')"], 1),
}


def problems(c):
    """What is wrong with the tables of connection c (an empty list)."""
    out = []
    names = [r[0] for r in c.execute(
        "SELECT name FROM sqlite_schema WHERE name IN ('kv', 'kv2')")]
    if "kv" in names:
        try:
            a = c.execute("SELECT key, value FROM kv ORDER BY key").fetchall()
            b = c.execute("SELECT key, value FROM t ORDER BY key").fetchall()
            if a != b:
                out.append("kv has %d rows, t %d" % (len(a), len(b)))
            v = c.execute("SELECT kvstore_verify('kv')").fetchone()[0]
            if v != "ok":
                out.append("kvstore_verify: " + v[:100])
        except sqlite3.Error as e:
            out.append("kv: %s" % e)
    if "kv2" in names:
        try:
            c.execute("SELECT * FROM kv2").fetchall()
        except sqlite3.Error as e:
            out.append("kv2: %s" % e)
    return out


def sweep(top, case, cached, stride):
    statements, mult = CASES[case]
    step = stride * mult
    n, runs, bad = 1, 0, []
    while True:
        base = os.path.join(top, "r")
        shutil.rmtree(base, ignore_errors=True)
        os.mkdir(base)
        db = os.path.join(base, "app.db")
        c = kvtest.connect(db, cached_statements=cached)
        # What is checked is what the tables hold, not what reaches the
        # disk: no fsync (the database's setting, which kvstore follows).
        c.execute("PRAGMA synchronous=OFF")
        for s in SETUP:
            c.execute(s)
        count = [0]

        def handler():
            count[0] += 1
            return 1 if count[0] >= n else 0
        c.set_progress_handler(handler, 1)
        failed = None
        for s in statements:
            try:
                c.execute(s)
            except sqlite3.OperationalError as e:
                failed = str(e)
                break
        c.set_progress_handler(None, 1)
        if failed and "interrupted" not in failed:
            bad.append((n, "failed with %r" % failed))
        if c.in_transaction:
            c.execute("ROLLBACK")
        found = problems(c)
        if failed and case == "create":
            try:
                c.execute("CREATE VIRTUAL TABLE IF NOT EXISTS kv2 "
                          "USING kvstore")
            except sqlite3.Error as e:
                found.append("CREATE retried: %s" % e)
        if failed and case == "drop":
            try:
                c.execute("DROP TABLE IF EXISTS kv")
            except sqlite3.Error as e:
                found.append("DROP retried: %s" % e)
        c.close()
        c = kvtest.connect(db)
        found += ["after reopen: " + p for p in problems(c)]
        names = sorted(r[0] for r in c.execute(
            "SELECT name FROM sqlite_schema WHERE name IN ('kv', 'kv2')"))
        c.close()
        dirs = sorted(f for f in os.listdir(base) if f.endswith(".kvstore"))
        if dirs != ["app.db-%s.kvstore" % x for x in names]:
            found.append("store directories %s for tables %s" % (dirs, names))
        if found:
            bad.append((n, failed, found))
        runs += 1
        if failed is None:
            break
        n += step
    return runs, n, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stride", type=int, default=1,
                    help="every K-th step (times a per-shape factor)")
    ap.add_argument("cases", nargs="*", default=list(CASES))
    args = ap.parse_args()
    top = tempfile.mkdtemp(prefix="kvsweep-")
    failures = 0
    try:
        for case in args.cases:
            for cached in (0, 100):
                runs, steps, bad = sweep(top, case, cached, args.stride)
                print("stepsweeptest %-13s cache %3d: %4d runs up to step "
                      "%d: %s" % (case, cached, runs, steps,
                                  "all clean" if not bad else
                                  "%d wrong" % len(bad)))
                for b in bad[:5]:
                    print("   ", b)
                failures += len(bad)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
