#!/usr/bin/python3
"""kvstore_ingest under kill -9, against an ordinary table, and seen by
another process.

A child process loops over transactions T: it writes T's rows into a
source kvstore table `src` (its own directory), flushes it (the newest
SSTable then holds exactly T's rows), and in one SQL transaction ingests
that file into the kvstore table `kv` and inserts the same rows into the
ordinary WITHOUT ROWID table `ref` (INSERT OR REPLACE). Every fourth T
rewrites the keys of T-1 with new values (the file overlaps what `kv`
holds, so it goes to level 0 and must win); every seventh is rolled
back. It prints T after COMMIT returns. The parent kills it with SIGKILL
at random moments (sync=full), reopens the database and checks:

  - `kv` and `ref` hold exactly the same rows (the ingest and the
    ordinary rows commit together or not at all, whatever the kill hit:
    the copy into the store, the manifest edit, the database commit);
  - every acknowledged T is present;
  - kvstore_verify says ok.

Then a damaged copy of a source file is refused with its name, and a
connection of this process, open throughout, sees an ingest committed by
another process.

    /usr/bin/python3 tests/ingesttest.py [--rounds N] [--seed S]
"""
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

NROW = 400


def setup(conn, work):
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS src USING kvstore("
                 "dir='%s', sync=off, background=off, level0_trigger=64)"
                 % os.path.join(work, "src.d"))
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS kv USING kvstore("
                 "dir='%s', sync=full, memtable_size='64KB')"
                 % os.path.join(work, "kv.d"))
    conn.execute("CREATE TABLE IF NOT EXISTS ref(key TEXT PRIMARY KEY NOT "
                 "NULL, value) WITHOUT ROWID")


def rows_of(txn):
    """The rows transaction `txn` writes (deterministic)."""
    rng = random.Random(txn)
    base = txn - 1 if txn % 4 == 0 and txn > 1 else txn
    return [("t%08d:%04d" % (base, j), rng.randbytes(rng.randint(20, 300)))
            for j in range(NROW)]


def newest_file(conn, work):
    (name,) = conn.execute("SELECT file FROM kvstore_sstables('src') "
                           "WHERE level = 0 ORDER BY file DESC LIMIT 1"
                           ).fetchone()
    return os.path.join(work, "src.d", name)


def child(path, first):
    work = os.path.dirname(path)
    conn = kvtest.connect(path)
    setup(conn, os.path.dirname(path))
    txn = first
    while True:
        rows = rows_of(txn)
        (nl0,) = conn.execute("SELECT count(*) FROM kvstore_sstables('src')"
                              " WHERE level = 0").fetchone()
        if nl0 >= 32:
            # level 0 stays below its trigger (64): the flush's table stays
            # there, holding T's rows alone
            conn.execute("SELECT kvstore_compact('src', 'full')")
        conn.execute("BEGIN")
        conn.executemany("INSERT OR REPLACE INTO src VALUES (?, ?)", rows)
        conn.execute("COMMIT")
        conn.execute("SELECT kvstore_flush('src')")
        f = newest_file(conn, work)
        conn.execute("BEGIN")
        conn.execute("SELECT kvstore_ingest('kv', ?)", (f,))
        conn.executemany("INSERT OR REPLACE INTO ref VALUES (?, ?)", rows)
        if txn % 7 == 0:
            conn.execute("ROLLBACK")
        else:
            conn.execute("COMMIT")
            kvtest.acknowledge(txn)
        txn += 1


def check(path, acked):
    conn = kvtest.connect(path)
    setup(conn, os.path.dirname(path))
    got = conn.execute("SELECT key, value FROM kv ORDER BY key").fetchall()
    want = conn.execute("SELECT key, value FROM ref ORDER BY key").fetchall()
    if got != want:
        raise AssertionError("kv holds %d rows, ref %d (first difference at "
                             "%r)" % (len(got), len(want),
                                      next((a for a, b in zip(got, want)
                                            if a != b), None)))
    present = set(int(k[1:9]) for k, _ in got)
    for t in acked:
        base = t - 1 if t % 4 == 0 and t > 1 else t
        if base not in present:
            raise AssertionError("acknowledged transaction %d is missing" % t)
    (v,) = conn.execute("SELECT kvstore_verify('kv')").fetchone()
    if v != "ok":
        raise AssertionError("kvstore_verify: %s" % v)
    newest = max(present) if present else 0
    conn.close()
    return newest, len(got)


def check_damaged(path):
    """A damaged copy of a source file is refused, naming it."""
    work = os.path.dirname(path)
    conn = kvtest.connect(path)
    setup(conn, os.path.dirname(path))
    conn.execute("INSERT INTO src VALUES ('zz', 'x')")
    conn.execute("SELECT kvstore_flush('src')")
    src = newest_file(conn, work)
    bad = os.path.join(work, "damaged.sst")
    data = bytearray(open(src, "rb").read())
    data[len(data) // 3] ^= 0x01
    open(bad, "wb").write(bytes(data))
    n0 = conn.execute("SELECT count(*) FROM kv").fetchone()[0]
    try:
        conn.execute("SELECT kvstore_ingest('kv', ?)", (bad,))
        raise AssertionError("a damaged file was ingested")
    except kvtest.sqlite3.Error as e:
        msg = str(e)
        if "damaged.sst" not in msg or not msg.startswith("kvstore: ingest"):
            raise AssertionError("unexpected message: %s" % msg)
    n1 = conn.execute("SELECT count(*) FROM kv").fetchone()[0]
    if n1 != n0:
        raise AssertionError("the refused ingest changed the table")
    conn.close()


OTHER = """
import sys
sys.path.insert(0, %r)
import kvtest
conn = kvtest.connect(%r)
conn.execute("SELECT count(*) FROM kv").fetchone()
conn.execute("SELECT kvstore_ingest('kv', ?)", (%r,))
conn.execute("INSERT OR REPLACE INTO ref SELECT key, value FROM kv "
             "WHERE key = 'zz'")
"""


def check_other_process(path):
    """A connection open in this process sees another process's ingest."""
    work = os.path.dirname(path)
    conn = kvtest.connect(path)
    setup(conn, os.path.dirname(path))
    src = newest_file(conn, work)        # the file holding 'zz'
    before = conn.execute("SELECT count(*) FROM kv WHERE key = 'zz'"
                          ).fetchone()[0]
    if before != 0:
        raise AssertionError("'zz' present before the ingest")
    code = OTHER % (os.path.dirname(os.path.abspath(__file__)), path, src)
    subprocess.run([sys.executable, "-c", code], check=True)
    after = conn.execute("SELECT value FROM kv WHERE key = 'zz'").fetchone()
    if after != ("x",):
        raise AssertionError("the other process's ingest is not seen: %r"
                             % (after,))
    conn.execute("INSERT OR REPLACE INTO kv VALUES ('zz2', 'y')")
    if conn.execute("SELECT count(*) FROM kv WHERE key >= 'zz'"
                    ).fetchone()[0] != 2:
        raise AssertionError("a write after the other process's ingest "
                             "is lost")
    conn.close()


def main():
    args = kvtest.kill_test_args(child, 20)

    # A transaction T that rewrites the keys of T-1 is seen as T-1 (check):
    # the next child starts two after the newest seen.
    with kvtest.KillRun("ingesttest", args.seed, "kvingest-") as run:
        path = os.path.join(run.work, "ingest.db")
        newest, nrows, total = run.kill_rounds(__file__, path, args.rounds,
                                               check, 0.05, 0.8, gap=2)
        check_damaged(path)
        check_other_process(path)
        run.passed("%d kills, %d acknowledged ingests, %d rows, %.1fs: kv "
                   "equals the ordinary table every time"
                   % (args.rounds, total, nrows, run.elapsed()))
    sys.exit(run.status)

if __name__ == "__main__":
    main()
