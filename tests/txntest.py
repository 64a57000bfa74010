#!/usr/bin/python3
"""txntest.py - kvstore transactions are SQLite transactions (issue #15).

Every case runs the same statements, from two or more connections, once on
an ordinary WITHOUT ROWID table and once on a kvstore table of the same
name, and expects the same outcome: the result or error of every step and
the rows left after reopening the database.

  busy_commit_then_more_writes   a COMMIT refused with SQLITE_BUSY (another
                                 connection reads), more writes, COMMIT again
  busy_commit_then_rollback      the same, then ROLLBACK: the ordinary row
                                 and the kvstore row of the transaction go
  snapshot_two_selects           WAL: two SELECTs of one read transaction
                                 with a commit of another connection between
  snapshot_one_statement         WAL: a correlated subquery of a statement
                                 that is half read when another commits
  lost_update_refused            WAL: read, another commits, write: BUSY
  kill9                          transactions writing a large ordinary row
                                 and kvstore rows, killed with SIGKILL: no
                                 transaction in one table and not the other,
                                 nothing acknowledged lost
  kill9_attached                 transactions writing a kvstore table and an
                                 ordinary one in each of two databases (main
                                 and ATTACHed: SQLite's super-journal makes
                                 them commit together), killed with SIGKILL:
                                 all four tables at the same transaction

Usage: /usr/bin/python3 tests/txntest.py [--kills N]
"""
import argparse
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kvtest  # noqa: E402
EXT = os.path.join(os.path.dirname(HERE), "kvstore")

ORDINARY = "CREATE TABLE t(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID"
KVSTORE = "CREATE VIRTUAL TABLE t USING kvstore"

failures = []


def connect(path, journal="delete"):
    c = sqlite3.connect(path, isolation_level=None, timeout=0)
    c.enable_load_extension(True)
    c.load_extension(EXT)
    c.execute("PRAGMA journal_mode=%s" % journal).fetchall()
    return c


def step(conn, sql, args=()):
    """Run one statement: its rows, or the error it raised; "slow" when it
    took over a second (nothing here waits: timeout=0)."""
    t0 = time.time()
    try:
        r = ("ok", conn.execute(sql, args).fetchall())
    except sqlite3.Error as e:
        r = ("error", type(e).__name__, str(e))
    if time.time() - t0 > 1.0:
        r = ("slow",) + r
    return r


def rows(path):
    c = connect(path)
    r = c.execute("SELECT key, value FROM t ORDER BY key").fetchall()
    o = c.execute("SELECT * FROM orders ORDER BY id").fetchall()
    c.close()
    return r, o


def run_case(name, journal, body):
    """Run body(path, log) for both kinds of table; compare the logs."""
    outcomes = []
    for create in (ORDINARY, KVSTORE):
        d = tempfile.mkdtemp(prefix="kvtxn-")
        try:
            path = os.path.join(d, "test.db")
            c = connect(path, journal)
            c.execute(create)
            c.execute("CREATE TABLE orders(id INTEGER PRIMARY KEY, what)")
            c.execute("CREATE TABLE side(x)")
            c.execute("INSERT INTO side VALUES (1)")
            c.execute("INSERT INTO t VALUES ('g', 1), ('m', 1)")
            c.close()
            log = []
            body(path, journal, log)
            log.append(("after reopen",) + rows(path))
            outcomes.append(log)
        finally:
            shutil.rmtree(d)
    if outcomes[0] != outcomes[1]:
        failures.append(name)
        print("FAIL %s" % name)
        for a, b in zip(outcomes[0], outcomes[1]):
            mark = "  " if a == b else "!="
            print("  %s ordinary: %r\n     kvstore:  %r" % (mark, a, b))
    else:
        print("ok   %s (%d steps)" % (name, len(outcomes[0])))


def busy_commit(path, journal, log, finish):
    a = connect(path, journal)
    b = connect(path, journal)
    log.append(step(a, "BEGIN"))
    log.append(step(a, "INSERT INTO orders VALUES (1, 'first')"))
    log.append(step(a, "INSERT INTO t VALUES ('a', 'before the busy commit')"))
    log.append(step(b, "BEGIN"))
    log.append(step(b, "SELECT * FROM side"))      # b holds a read lock
    log.append(step(a, "COMMIT"))                  # database is locked
    log.append(step(a, "INSERT INTO t VALUES ('b', 'after it')"))
    log.append(step(a, "UPDATE t SET value = value + 1 WHERE key = 'g'"))
    log.append(step(a, "SELECT key, value FROM t ORDER BY key"))
    log.append(step(b, "COMMIT"))
    log.append(step(a, finish))
    log.append(step(a, "SELECT key, value FROM t ORDER BY key"))
    log.append(step(b, "SELECT key, value FROM t ORDER BY key"))
    a.close()
    b.close()


def busy_commit_then_more_writes(path, journal, log):
    busy_commit(path, journal, log, "COMMIT")


def busy_commit_then_rollback(path, journal, log):
    busy_commit(path, journal, log, "ROLLBACK")


def snapshot_two_selects(path, journal, log):
    r = connect(path, journal)
    w = connect(path, journal)
    log.append(step(r, "BEGIN"))
    log.append(step(r, "SELECT key, value FROM t ORDER BY key"))
    log.append(step(w, "INSERT INTO t VALUES ('new', 2)"))
    log.append(step(w, "UPDATE t SET value = 5 WHERE key = 'g'"))
    log.append(step(w, "INSERT INTO orders VALUES (7, 'by w')"))
    log.append(step(r, "SELECT key, value FROM t ORDER BY key"))
    log.append(step(r, "SELECT value FROM t WHERE key = 'g'"))
    log.append(step(r, "SELECT value FROM t WHERE key = 'new'"))
    log.append(step(r, "SELECT count(*) FROM orders"))
    log.append(step(r, "COMMIT"))
    log.append(step(r, "SELECT key, value FROM t ORDER BY key"))
    r.close()
    w.close()


def snapshot_one_statement(path, journal, log):
    r = connect(path, journal)
    w = connect(path, journal)
    w.execute("INSERT INTO t VALUES ('x1', 1), ('x2', 1), ('x3', 1)")
    cur = r.execute("SELECT key, (SELECT count(*) FROM t AS i "
                    "WHERE i.key >= o.key) FROM t AS o ORDER BY key")
    got = [cur.fetchone()]
    log.append(step(w, "INSERT INTO t VALUES ('h', 9), ('zz', 9)"))
    log.append(step(w, "DELETE FROM t WHERE key = 'x2'"))
    got += cur.fetchall()
    log.append(("one statement", got))
    r.close()
    w.close()


def stale_reader_opens_the_store(path, journal, log):
    """A read transaction that began before another connection committed
    (and closed: no one has the store open) is the first to open the
    store. It sees its own snapshot, and the commits it does not see stay
    committed: the store used to be recovered at that snapshot's horizon,
    which revoked them for good."""
    r = connect(path, journal)
    log.append(step(r, "BEGIN"))
    log.append(step(r, "SELECT * FROM side"))
    w = connect(path, journal)
    log.append(step(w, "INSERT INTO t VALUES ('new', 2)"))
    log.append(step(w, "UPDATE t SET value = 5 WHERE key = 'g'"))
    w.close()
    log.append(step(r, "SELECT key, value FROM t ORDER BY key"))
    log.append(step(r, "COMMIT"))
    log.append(step(r, "SELECT key, value FROM t ORDER BY key"))
    r.close()


def stale_reader_repairs():
    """kvstore_repair called inside such a read transaction (the store
    closed everywhere): its open, too, used the snapshot's horizon."""
    d = tempfile.mkdtemp(prefix="kvtxn-")
    try:
        path = os.path.join(d, "test.db")
        c = connect(path, "wal")
        c.execute(KVSTORE)
        c.execute("CREATE TABLE side(x)")
        c.execute("INSERT INTO side VALUES (1)")
        c.execute("INSERT INTO t VALUES ('g', 1)")
        c.close()
        r = connect(path, "wal")
        r.execute("BEGIN")
        r.execute("SELECT * FROM side").fetchall()
        w = connect(path, "wal")
        w.execute("INSERT INTO t VALUES ('new', 2)")
        w.execute("UPDATE t SET value = 5 WHERE key = 'g'")
        w.close()
        got = step(r, "SELECT kvstore_repair('t')")
        r.execute("COMMIT")
        r.close()
        c = connect(path, "wal")
        after = c.execute("SELECT key, value FROM t ORDER BY key").fetchall()
        c.close()
        if after != [("g", 5), ("new", 2)]:
            failures.append("stale_reader_repairs")
            print("FAIL stale_reader_repairs: %r, then %r" % (got, after))
        else:
            print("ok   stale_reader_repairs")
    finally:
        shutil.rmtree(d)


def lost_update_refused(path, journal, log):
    r = connect(path, journal)
    w = connect(path, journal)
    log.append(step(r, "BEGIN"))
    log.append(step(r, "SELECT value FROM t WHERE key = 'g'"))
    log.append(step(w, "UPDATE t SET value = value + 1 WHERE key = 'g'"))
    log.append(step(r, "UPDATE t SET value = 2 WHERE key = 'g'"))
    log.append(step(r, "COMMIT"))
    log.append(step(r, "ROLLBACK"))
    log.append(step(r, "SELECT value FROM t WHERE key = 'g'"))
    r.close()
    w.close()


# ---------------------------------------------------------------- kill -9

CHILD = r"""
import sqlite3, sys
path, ext, journal, first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = sqlite3.connect(path, isolation_level=None, timeout=10)
c.enable_load_extension(True)
c.load_extension(ext)
c.execute("PRAGMA journal_mode=%s" % journal).fetchall()
c.execute("PRAGMA synchronous=FULL")
big = b"B" * (1 << 20)
i = first
while True:
    c.execute("BEGIN")
    c.execute("INSERT INTO big VALUES (?, ?)", (i, big))
    for j in range(5):
        c.execute("INSERT INTO t VALUES (?, ?)", ("%06d-%d" % (i, j), i))
    c.execute("COMMIT")
    sys.stdout.write("%d\n" % i)
    sys.stdout.flush()
    i += 1
"""


def kill9(nKills):
    ok = True
    for journal in ("delete", "wal"):
        d = tempfile.mkdtemp(prefix="kvtxn-kill-")
        try:
            path = os.path.join(d, "test.db")
            c = connect(path, journal)
            c.execute(KVSTORE)
            c.execute("CREATE TABLE big(id INTEGER PRIMARY KEY, b BLOB)")
            c.close()
            acked = set()
            nxt = 1
            for k in range(nKills):
                lines = kvtest.kill_child([sys.executable, "-c", CHILD, path,
                                           EXT, journal, str(nxt)],
                                          random, 0.15, 0.5)
                acked |= {int(x) for x in lines}
                c = connect(path, journal)
                ids = {r[0] for r in c.execute("SELECT id FROM big")}
                kv = {}
                for key, v in c.execute("SELECT key, value FROM t"):
                    kv.setdefault(v, set()).add(key)
                c.close()
                for i in ids | set(kv):
                    full = {"%06d-%d" % (i, j) for j in range(5)}
                    if (i in ids) != (kv.get(i) == full):
                        print("FAIL kill9 (%s): transaction %d: big row %s, "
                              "kvstore rows %s" % (journal, i, i in ids,
                                                   sorted(kv.get(i, ()))))
                        ok = False
                lost = acked - ids
                if lost:
                    print("FAIL kill9 (%s): acknowledged transactions lost: "
                          "%s" % (journal, sorted(lost)[:10]))
                    ok = False
                if not ok:
                    break
                nxt = max(ids | acked | {0}) + 1
            print("%s  kill9 (%s): %d kills, %d transactions acknowledged" %
                  ("ok " if ok else "FAIL", journal, nKills, len(acked)))
        finally:
            shutil.rmtree(d)
        if not ok:
            failures.append("kill9 " + journal)


ATTACHED_CHILD = r"""
import sqlite3, sys
a, b, ext, start = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = sqlite3.connect(a, isolation_level=None)
c.enable_load_extension(True)
c.load_extension(ext)
c.execute("ATTACH ? AS b", (b,))
for s in ("main", "b"):
    c.execute("PRAGMA %s.synchronous=FULL" % s)
i = start
while True:
    c.execute("BEGIN")
    for s in ("main", "b"):
        for t in ("kv", "tw"):
            c.execute("INSERT INTO %s.%s VALUES(?, ?)" % (s, t),
                      ("t%08d" % i, i))
            c.execute("INSERT OR REPLACE INTO %s.%s VALUES('counter', ?)"
                      % (s, t), (i,))
    c.execute("COMMIT")
    print(i, flush=True)
    i += 1
"""


def kill9_attached(nKills):
    """One transaction over two databases (rollback journals: SQLite
    commits them together through a super-journal), each with a kvstore
    table and an ordinary one, killed at random: after each kill all four
    tables hold the same last transaction and row count, and nothing
    acknowledged is missing."""
    ok = True
    d = tempfile.mkdtemp(prefix="kvtxn-attached-")
    try:
        paths = [os.path.join(d, n) for n in ("a.db", "b.db")]
        for p in paths:
            c = connect(p)
            c.execute("CREATE VIRTUAL TABLE kv USING "
                      "kvstore(memtable_size=65536)")
            c.execute(ORDINARY.replace(" t(", " tw("))
            c.close()
        acked = set()
        nxt = 1
        for k in range(nKills):
            lines = kvtest.kill_child([sys.executable, "-c", ATTACHED_CHILD]
                                      + paths + [EXT, str(nxt)],
                                      random, 0.15, 0.5)
            acked |= {int(x) for x in lines}
            c = connect(paths[0])
            c.execute("ATTACH ? AS b", (paths[1],))
            state = {}
            for s in ("main", "b"):
                for t in ("kv", "tw"):
                    state[s + "." + t] = c.execute(
                        "SELECT (SELECT value FROM %s.%s WHERE key='counter'),"
                        " count(*) FROM %s.%s" % (s, t, s, t)).fetchone()
            c.close()
            last = state["main.tw"][0] or 0
            if len(set(state.values())) != 1:
                print("FAIL kill9_attached: kill %d: the four tables differ: "
                      "%s" % (k, state))
                ok = False
            elif acked and max(acked) > last:
                print("FAIL kill9_attached: acknowledged %d, the databases "
                      "hold %d" % (max(acked), last))
                ok = False
            if not ok:
                break
            nxt = last + 1
        print("%s  kill9_attached: %d kills, %d transactions acknowledged" %
              ("ok " if ok else "FAIL", nKills, len(acked)))
    finally:
        shutil.rmtree(d)
    if not ok:
        failures.append("kill9_attached")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=8)
    args = ap.parse_args()
    run_case("busy_commit_then_more_writes", "delete",
             busy_commit_then_more_writes)
    run_case("busy_commit_then_rollback", "delete", busy_commit_then_rollback)
    run_case("snapshot_two_selects", "wal", snapshot_two_selects)
    run_case("snapshot_one_statement", "wal", snapshot_one_statement)
    run_case("lost_update_refused", "wal", lost_update_refused)
    run_case("stale_reader_opens_the_store", "wal",
             stale_reader_opens_the_store)
    stale_reader_repairs()
    kill9(args.kills)
    kill9_attached(args.kills)
    if failures:
        print("txntest: FAILED: %s" % ", ".join(failures))
        sys.exit(1)
    print("txntest: all passed")


if __name__ == "__main__":
    main()
