#!/usr/bin/python3
"""Sorted bulk loads under kill -9, against an ordinary table, with
bounded memory.

A child process commits transactions T, each one sorted INSERT ... SELECT
of NROW rows (keys 't<T>:<j>', above every key the table holds: the
kvstore table writes them straight to an SSTable, kvbulk.c) into the
kvstore table `kv`, and the same rows into the ordinary WITHOUT ROWID
table `ref`, in one transaction; every fifth one is rolled back, every
seventh rolls back to a savepoint taken mid-load. It prints T after
COMMIT returns. The parent kills it with SIGKILL at random moments
(sync=full), reopens the database and checks that `kv` and `ref` hold the
same rows (a load commits whole with the transaction, or not at all,
wherever the kill fell: while writing the table, renaming it, editing the
manifest, committing the database), that every acknowledged T is there,
that kvstore_verify says ok, and that no table file is left that the
manifest does not name. Last, a load of 300,000 rows in one transaction
must stay within a bounded peak RSS (the rows never sit in memory).

    /usr/bin/python3 tests/bulktest.py [--rounds N] [--seed S]
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

NROW = 6000


def setup(conn, work):
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS kv USING kvstore("
                 "dir='%s', sync=full)" % os.path.join(work, "kv.d"))
    conn.execute("CREATE TABLE IF NOT EXISTS ref(key TEXT PRIMARY KEY NOT "
                 "NULL, value) WITHOUT ROWID")


LOAD = ("WITH RECURSIVE c(value) AS (SELECT ?2 UNION ALL SELECT value + 1 "
        "FROM c WHERE value < ?3) "
        "INSERT INTO %s SELECT printf('t%%08d:%%06d', ?1, value), "
        "printf('%%d-%%d', ?1, value * 7) FROM c")


def child(path, first):
    work = os.path.dirname(path)
    conn = kvtest.connect(path)
    setup(conn, work)
    txn = first
    while True:
        conn.execute("BEGIN")
        if txn % 7 == 0:
            for t in ("kv", "ref"):
                conn.execute(LOAD % t, (txn, 1, NROW // 2))
            conn.execute("SAVEPOINT s")
            for t in ("kv", "ref"):
                conn.execute(LOAD % t, (txn, NROW // 2 + 1, NROW))
            conn.execute("ROLLBACK TO s")
            conn.execute("RELEASE s")
        else:
            for t in ("kv", "ref"):
                conn.execute(LOAD % t, (txn, 1, NROW))
        if txn % 5 == 0:
            conn.execute("ROLLBACK")
        else:
            conn.execute("COMMIT")
            kvtest.acknowledge(txn)
        txn += 1


def check(path, acked):
    work = os.path.dirname(path)
    conn = kvtest.connect(path)
    setup(conn, work)
    got = conn.execute("SELECT key, value FROM kv ORDER BY key").fetchall()
    want = conn.execute("SELECT key, value FROM ref ORDER BY key").fetchall()
    if got != want:
        raise AssertionError("kv holds %d rows, ref %d" % (len(got),
                                                          len(want)))
    present = set(int(k[1:9]) for k, _ in got)
    for t in acked:
        if t not in present:
            raise AssertionError("acknowledged transaction %d is missing" % t)
    (v,) = conn.execute("SELECT kvstore_verify('kv')").fetchone()
    if v != "ok":
        raise AssertionError("kvstore_verify: %s" % v)
    live = set(f for (f,) in conn.execute(
        "SELECT file FROM kvstore_sstables('kv')"))
    conn.close()
    files = set(f for f in os.listdir(os.path.join(work, "kv.d"))
                if f.endswith(".sst"))
    if files - live:
        raise AssertionError("tables no manifest names: %s"
                             % sorted(files - live))
    return (max(present) if present else 0), len(got)


BIG = """
import sys
sys.path.insert(0, %r)
import kvtest
conn = kvtest.connect(%r)
conn.execute("CREATE VIRTUAL TABLE big USING kvstore(dir='%s')")
conn.execute("WITH RECURSIVE c(value) AS (SELECT 1 UNION ALL SELECT "
             "value + 1 FROM c WHERE value < 300000) "
             "INSERT INTO big SELECT printf('%%016d', value), zeroblob(100) "
             "FROM c")
# the load's peak, before a read maps the table's pages (VmHWM: the
# peak of this program; ru_maxrss would also count the parent's memory
# that the fork before the exec shared)
mb = [int(l.split()[1]) for l in open("/proc/self/status")
      if l.startswith("VmHWM:")][0] // 1024
n = conn.execute("SELECT count(*) FROM big").fetchone()[0]
assert n == 300000, n
print(mb,
      conn.execute("SELECT group_concat(level || ':' || entries) FROM "
                   "kvstore_sstables('big')").fetchone()[0])
"""


def check_rss(work):
    """One 300,000-row sorted load: the process's peak RSS stays small
    (about 460 bytes a row, 130 MB, if the rows sat in the batch)."""
    db = os.path.join(work, "big.db")
    code = BIG % (os.path.dirname(os.path.abspath(__file__)), db,
                  os.path.join(work, "big.d"))
    out = subprocess.run([sys.executable, "-c", code], check=True,
                         capture_output=True, text=True).stdout
    mb, tables = out.split()
    mb = int(mb)
    if mb > 64:
        raise AssertionError("peak RSS %d MB for a 300,000-row load (tables "
                             "level:entries %s)" % (mb, tables))
    return mb


def main():
    args = kvtest.kill_test_args(child, 20)

    with kvtest.KillRun("bulktest", args.seed, "kvbulk-") as run:
        path = os.path.join(run.work, "bulk.db")
        newest, nrows, total = run.kill_rounds(__file__, path, args.rounds,
                                               check, 0.05, 0.8)
        mb = check_rss(run.work)
        run.passed("%d kills, %d acknowledged loads, %d rows, peak RSS of a "
                   "300k-row load %d MB, %.1fs: kv equals the ordinary table "
                   "every time"
                   % (args.rounds, total, nrows, mb, run.elapsed()))
    sys.exit(run.status)

if __name__ == "__main__":
    main()
