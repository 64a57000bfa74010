#!/usr/bin/python3
"""pcsql.py - the SQL workload of the power-cut recorder and its check:
a kvstore table and an ordinary WITHOUT ROWID twin, written by the same
transactions, with the database file and its journal or WAL cut by the
power loss as well as the store (doc/powerloss.md).

  pcsql.py setup DIR JOURNAL [OPTS] DIR/app.db and its tables (untraced);
                                    OPTS: more kvstore options
  pcsql.py setup-empty DIR JOURNAL  DIR/app.db without the tables
  pcsql.py drive DIR BATCHES SYNC [create|drop|big]
                                    the transactions with PRAGMA
                                    synchronous=SYNC, under pcshim.so with
                                    PC_DIR=DIR/app.db-kv.kvstore and
                                    PC_PARENT_PREFIX=app.db; with
                                    create, the first one makes both
                                    tables (after setup-empty); with
                                    drop, DROP TABLE kv follows them;
                                    with big, values of about 4 KB, so
                                    that the memtable flushes every
                                    fifteen batches or so and the flushes
                                    compact, with no kvstore_compact
  pcsql.py check DB ACKED BEGUN     one crash state (pccheck --sql)
  pcsql.py check-atomic DB ACKED BEGUN   the same without the durability
                                    of acknowledged batches
  pcsql.py check-drop DB ACKED BEGUN     check, after drive ... drop: the
                                    batches, then DROP TABLE kv; kv may be
                                    gone (after every batch, and a new kv
                                    starts empty), or there whole unless
                                    the DROP was acknowledged

Batch n sets 'last' to n and key k<n % 24> to a value of n, and deletes
k<(n + 12) % 24>, in both tables, in one transaction. The check: the
database opens; its ordinary table holds the state after some batch j
with j <= BEGUN and (check) ACKED <= j; the kvstore table holds exactly
the same rows (atomic with the database: never a batch the database lost,
never one missing that it kept); kvstore_verify says ok. Exit 0 when it
passes, 2 when not (the first line says why).

Durability is SQLite's to promise: WAL with synchronous=FULL, and
rollback journals with EXTRA (FULL does not fsync the directory after
deleting the journal, so a cut may bring the journal back and SQLite then
rolls back the last acknowledged commit). check-atomic is for the
settings that may lose commits: kvstore must then lose the same ones.

Run with Debian's /usr/bin/python3.
"""
import ctypes
import os
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from kvtest import connect  # noqa: E402

NKEYS = 24
# Small segments and tables, as pc.h's: a short run rotates the WAL,
# flushes and compacts many times.
KV_OPTIONS = ("background=off, memtable_size='64KB', wal_segment_size='4KB', "
              "wal_segment_records=6, level0_trigger=2, block_size=512, "
              "target_file_size='4KB'")


def value(n, key, big=False):
    return "%d:%s:" % (n, key) + chr(ord("a") + n % 26) * (
        (20 + n * 37 % 280) * (25 if big else 1))


def setup(folder, journal, extra=None):
    """extra: more kvstore options (the negative control's sync=off)."""
    c = connect(os.path.join(folder, "app.db"))
    c.execute("PRAGMA journal_mode=%s" % journal)
    c.execute("CREATE VIRTUAL TABLE kv USING kvstore(%s)"
              % (KV_OPTIONS + (", " + extra if extra else "")))
    c.execute("CREATE TABLE tw(key TEXT PRIMARY KEY, value) WITHOUT ROWID")
    c.close()


def setup_empty(folder, journal):
    """A database without the tables: drive's first transaction makes
    them (drive ... create), so CREATE is cut too."""
    c = connect(os.path.join(folder, "app.db"))
    c.execute("PRAGMA journal_mode=%s" % journal)
    c.execute("PRAGMA user_version=1")
    c.close()


def drive(folder, batches, sync, create=False, drop=False, big=False):
    try:
        mark = ctypes.CDLL(None).pc_mark
    except AttributeError:
        sys.exit("pcsql drive: run under pcshim.so (LD_PRELOAD)")
    mark.argtypes = [ctypes.c_char_p]
    c = None
    for n in range(1, batches + 1):
        if c is None or n % 40 == 0:
            if c is not None:
                c.close()           # a reopen: the store recovers too
            c = connect(os.path.join(folder, "app.db"))
            c.execute("PRAGMA synchronous=%s" % sync)
        mark(b"begin %d" % n)
        c.execute("BEGIN")
        if create and n == 1:
            c.execute("CREATE VIRTUAL TABLE kv USING kvstore(%s)"
                      % KV_OPTIONS)
            c.execute("CREATE TABLE tw(key TEXT PRIMARY KEY, value) "
                      "WITHOUT ROWID")
        put = "k%02d" % (n % NKEYS)
        gone = "k%02d" % ((n + NKEYS // 2) % NKEYS)
        for t in ("kv", "tw"):
            c.execute("INSERT OR REPLACE INTO %s VALUES('last', ?)" % t, (n,))
            c.execute("INSERT OR REPLACE INTO %s VALUES(?, ?)" % t,
                      (put, value(n, put, big)))
            c.execute("DELETE FROM %s WHERE key=?" % t, (gone,))
        c.execute("COMMIT")
        mark(b"ack %d" % n)
        if n % 30 == 0 and not big:
            c.execute("SELECT kvstore_compact('kv')").fetchall()
    if drop:
        # One more step: DROP TABLE kv, settled when the connection closes.
        mark(b"begin %d" % (batches + 1))
        c.execute("DROP TABLE kv")
        mark(b"ack %d" % (batches + 1))
    c.close()


def check_dropped(c, tw, acked, begun):
    """kv dropped (check-drop): every batch before the DROP is in tw, and a
    new table of the name starts empty."""
    last = dict(tw).get("last", 0)
    if last != begun - 1:
        print("kv is dropped, but tw holds batch %d of %d" % (last, begun - 1))
        return 2
    c.execute("CREATE VIRTUAL TABLE kv USING kvstore(%s)" % KV_OPTIONS)
    n = c.execute("SELECT count(*) FROM kv").fetchone()[0]
    if n != 0:
        print("a new kv after the DROP has %d rows" % n)
        return 2
    return 0


def check(db, acked, begun, durable=True, drop=False):
    try:
        c = connect(db)
        names = {r[0] for r in c.execute(
            "SELECT name FROM sqlite_schema WHERE name IN ('kv', 'tw')")}
        if drop and names == {"tw"}:
            tw = c.execute("SELECT key, value FROM tw ORDER BY key").fetchall()
            return check_dropped(c, tw, acked, begun)
        if not names:
            # Created by drive's first transaction, which did not commit.
            if durable and acked > 0:
                print("the database lost acknowledged batches 1..%d (no "
                      "tables)" % acked)
                return 2
            return 0
        if names != {"kv", "tw"}:
            print("one transaction made kv and tw; the database has only %s"
                  % sorted(names))
            return 2
        tw = c.execute("SELECT key, value FROM tw ORDER BY key").fetchall()
    except sqlite3.Error as e:
        print("the database does not open: %s" % e)
        return 2
    last = dict(tw).get("last", 0)
    if drop and durable and acked == last + 1 and acked == begun:
        print("DROP TABLE kv was acknowledged; kv is still there")
        return 2
    if drop and acked == last + 1:
        acked = last                # (the DROP's, checked above)
    if durable and last < acked:
        print("the database lost acknowledged batches %d..%d" %
              (last + 1, acked))
        return 2
    if last > begun:
        print("the database holds batch %d, only %d begun" % (last, begun))
        return 2
    try:
        kv = c.execute("SELECT key, value FROM kv ORDER BY key").fetchall()
        verify = c.execute("SELECT kvstore_verify('kv')").fetchone()[0]
    except sqlite3.Error as e:
        print("kvstore table after batch %d: %s" % (last, e))
        return 2
    if kv != tw:
        kvlast = dict(kv).get("last")
        print("kvstore table differs from the ordinary one (batch %d): "
              "kvstore's last is %r, %d rows against %d" %
              (last, kvlast, len(kv), len(tw)))
        return 2
    if verify != "ok":
        print("kvstore_verify: %s" % verify)
        return 2
    c.close()
    return 0


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "setup":
        setup(sys.argv[2], sys.argv[3],
              sys.argv[4] if len(sys.argv) > 4 else None)
    elif len(sys.argv) >= 4 and sys.argv[1] == "setup-empty":
        setup_empty(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "drive":
        drive(sys.argv[2], int(sys.argv[3]), sys.argv[4],
              len(sys.argv) > 5 and sys.argv[5] == "create",
              len(sys.argv) > 5 and sys.argv[5] == "drop",
              len(sys.argv) > 5 and sys.argv[5] == "big")
    elif len(sys.argv) >= 5 and sys.argv[1] in ("check", "check-atomic",
                                                 "check-drop"):
        sys.exit(check(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                       sys.argv[1] != "check-atomic",
                       sys.argv[1] == "check-drop"))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
