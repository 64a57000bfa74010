#!/usr/bin/python3
"""rangeruntest.py - a range DELETE larger than txn_spill neither holds
its point deletes nor spills them (doc/rangedel.md, "Runs").

A kvstore table with txn_spill='1MB' and an ordinary WITHOUT ROWID table
get the same rows and the same statements, for INTEGER, TEXT and BLOB
keys. Inside a transaction, a DELETE of a key range of 150,000 rows (about
15 MB of point deletes without the incremental collapse): while the
transaction is open the store directory must hold no spill run
(`*.spill`, doc/spill.md), the transaction's reads must equal the ordinary
table's, and after COMMIT no table is added by a spilled commit and both
tables still agree, after reopening too. Then a DELETE that keeps one row
in the middle of the range (the collapse must stop before it) and a
transaction that spilled before its DELETE (runs written by a large
INSERT OR REPLACE, then the DELETE, then COMMIT). Last, 28-byte keys
with txn_spill='256KB': no spill before the run's first step.

    /usr/bin/python3 tests/rangeruntest.py
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

ROWS = 200000


def key_sql(kind):
    """SQL for key i of the given key type."""
    return {"integer": "i",
            "text": "printf('k%07d', i)",
            "blob": "CAST(printf('k%07d', i) AS BLOB)"}[kind]


def key_of(kind, i):
    if kind == "integer":
        return i
    k = "k%07d" % i
    return k if kind == "text" else k.encode()


def spills(store):
    return sorted(n for n in os.listdir(store) if n.endswith(".spill"))


def sstables(conn):
    return conn.execute("SELECT count(*) FROM kvstore_sstables('kv')"
                        ).fetchone()[0]


def same(conn, what, failures, lo=None, hi=None):
    """Both tables hold the same rows (in [lo, hi] when given)."""
    where = "" if lo is None else " WHERE key >= ? AND key <= ?"
    args = () if lo is None else (lo, hi)
    out = [conn.execute("SELECT count(*), min(key), max(key), "
                        "sum(length(key)), sum(value) FROM %s%s"
                        % (t, where), args).fetchall() for t in ("kv", "ref")]
    if out[0] != out[1]:
        failures.append("%s: kvstore %r, ordinary %r" % (what, out[0], out[1]))


def run_kind(kind, failures):
    d = tempfile.mkdtemp(prefix="rangerun-")
    try:
        path = os.path.join(d, "t.db")
        store = os.path.join(d, "kv-store")
        c = kvtest.connect(path)
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore(key_type=%s, "
                  "dir='kv-store', txn_spill='1MB', background=off)" % kind)
        c.execute("CREATE TABLE ref(key %s PRIMARY KEY NOT NULL, value) "
                  "WITHOUT ROWID" % kind.upper())
        c.execute("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 "
                  "FROM c WHERE i < %d) INSERT INTO ref SELECT %s, "
                  "CASE WHEN i = 120001 THEN NULL ELSE i END FROM c"
                  % (ROWS, key_sql(kind)))
        c.execute("INSERT INTO kv SELECT key, value FROM ref")
        c.execute("SELECT kvstore_flush('kv')").fetchall()
        n_sst = sstables(c)

        # 150,000 rows in one DELETE inside a transaction.
        lo, hi = key_of(kind, 10000), key_of(kind, 160000)
        c.execute("BEGIN")
        for t in ("kv", "ref"):
            c.execute("DELETE FROM %s WHERE key >= ? AND key < ?" % t,
                      (lo, hi))
        if spills(store):
            failures.append("%s: the DELETE spilled: %s" % (kind,
                                                           spills(store)))
        same(c, kind + " inside the transaction", failures)
        same(c, kind + " inside the transaction, around the range",
             failures, key_of(kind, 9990), key_of(kind, 160010))
        rows = [c.execute("SELECT key FROM %s WHERE key >= ? ORDER BY key "
                          "LIMIT 2" % t, (key_of(kind, 50000),)).fetchall()
                for t in ("kv", "ref")]
        if rows[0] != rows[1]:
            failures.append("%s: a scan from inside the range: %r, %r"
                            % (kind, rows[0], rows[1]))
        c.execute("COMMIT")
        if sstables(c) != n_sst:
            failures.append("%s: the commit added tables (%d, before %d): a "
                            "spilled commit" % (kind, sstables(c), n_sst))
        same(c, kind + " after COMMIT", failures)

        # A term that keeps one row in the middle (value NULL at 120001)
        # of a range never deleted yet (160000..199999 holds none: reinsert).
        c.execute("BEGIN")
        for t in ("kv", "ref"):
            c.execute("WITH RECURSIVE c(i) AS (SELECT 100000 UNION ALL "
                      "SELECT i+1 FROM c WHERE i < 159999) INSERT INTO %s "
                      "SELECT %s, CASE WHEN i = 120001 THEN NULL ELSE i END "
                      "FROM c" % (t, key_sql(kind)))
        c.execute("COMMIT")
        for t in ("kv", "ref"):
            c.execute("DELETE FROM %s WHERE key >= ? AND key < ? AND value "
                      "IS NOT NULL" % t, (key_of(kind, 100000),
                                          key_of(kind, 160000)))
        same(c, kind + " after a DELETE keeping one row", failures)
        got = c.execute("SELECT key FROM kv WHERE key >= ? AND key < ?",
                        (key_of(kind, 100000), key_of(kind, 160000))
                        ).fetchall()
        if got != [(key_of(kind, 120001),)]:
            failures.append("%s: the row kept is %r" % (kind, got))

        # A transaction that spilled (35,000 rows replaced) before its
        # DELETE.
        c.execute("BEGIN")
        for t in ("kv", "ref"):
            c.execute("WITH RECURSIVE c(i) AS (SELECT 165000 UNION ALL "
                      "SELECT i+1 FROM c WHERE i < 199999) INSERT OR REPLACE "
                      "INTO %s SELECT %s, i + 1 FROM c" % (t, key_sql(kind)))
        spilled = bool(spills(store))
        for t in ("kv", "ref"):
            c.execute("DELETE FROM %s WHERE key >= ? AND key < ?" % t,
                      (key_of(kind, 160000), key_of(kind, 190000)))
        same(c, kind + " spilled, then a DELETE", failures)
        c.execute("COMMIT")
        if not spilled:
            failures.append("%s: the UPDATE of 35,000 rows did not spill"
                            % kind)
        same(c, kind + " spilled, then a DELETE, after COMMIT", failures)
        c.close()

        c = kvtest.connect(path)
        same(c, kind + " reopened", failures)
        c.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def long_keys_small_spill_no_spill_before_first_step(failures):
    """28-byte keys and txn_spill='256KB': the point deletes before the
    run's first step (KVRUN_STEP of them) stay below the limit, so the
    DELETE writes no spill run (with a step of 4096 they crossed it)."""
    d = tempfile.mkdtemp(prefix="rangerun-")
    what = "long keys, txn_spill=256KB"
    try:
        path = os.path.join(d, "t.db")
        store = os.path.join(d, "kv-store")
        c = kvtest.connect(path)
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore(dir='kv-store', "
                  "txn_spill='256KB', background=off)")
        c.execute("CREATE TABLE ref(key TEXT PRIMARY KEY NOT NULL, value) "
                  "WITHOUT ROWID")
        for t in ("ref", "kv"):
            c.execute("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT "
                      "i+1 FROM c WHERE i < 30000) INSERT INTO %s SELECT "
                      "printf('key-%%020d-xyz', i), i FROM c" % t)
        c.execute("BEGIN")
        for t in ("kv", "ref"):
            c.execute("DELETE FROM %s WHERE key >= 'key-%020d' AND "
                      "key < 'key-%020d'" % (t, 1000, 21000))
        if spills(store):
            failures.append("%s: the DELETE spilled %d runs"
                            % (what, len(spills(store))))
        same(c, what + ", inside the transaction", failures)
        c.execute("COMMIT")
        same(c, what + ", after COMMIT", failures)
        c.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    failures = []
    for kind in ("integer", "text", "blob"):
        try:
            run_kind(kind, failures)
        except Exception as e:         # an SQL error is a failure too
            failures.append("%s: %s: %s" % (kind, type(e).__name__, e))
    try:
        long_keys_small_spill_no_spill_before_first_step(failures)
    except Exception as e:
        failures.append("long keys: %s: %s" % (type(e).__name__, e))
    for f in failures:
        print("rangeruntest: FAIL", f)
    print("rangeruntest: %s" % ("FAILED" if failures else "ok"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
