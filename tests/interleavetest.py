#!/usr/bin/python3
"""Interleaved connections against an ordinary table.

    /usr/bin/python3 tests/interleavetest.py [--seeds N] [--first S]
                                             [--processes]

Three connections to one database take random steps in turn: BEGIN,
COMMIT, ROLLBACK, reads of the table and of another ordinary table (which
begins a read transaction without touching the table), INSERT OR REPLACE,
UPDATE, DELETE, closing a connection, and closing every connection but the
one stepping (so that the store closes and the next use opens it again,
perhaps inside an older read transaction). The same steps run once with a
kvstore table and once with an ordinary WITHOUT ROWID table, in WAL mode
and with a rollback journal, with no busy timeout; every step's outcome
(its rows, or its error) and the final contents must be the same. With
--processes each connection lives in a process of its own (a child of
this script that runs the statements it is sent), which takes the store's
paths between processes: its shared memory, catching up, recovery by the
first process to open it.

One difference is normalized: after SQLITE_BUSY inside a transaction, the
connection rolls back, as SQLite asks of applications. A kvstore write
that fails there has already begun the transaction's read snapshot (it
fails in the virtual table's xBegin, after SQLite began reading), where an
ordinary table's write that finds the database locked has not
(doc/transactions.md, "What is not promised").

On the code before 9279a83 seed 163 (WAL) of the first 200 lost an
acknowledged commit: a connection whose read transaction began before the
others committed and closed opened the store at its snapshot's horizon,
which revoked it.

Run with Debian's /usr/bin/python3 (its sqlite3 module loads extensions).
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
EXT = os.path.join(os.path.dirname(HERE), "kvstore")

NCONN = 3
NSTEPS = 60
NKEYS = 6
STEPS = ["begin", "begin", "commit", "rollback", "read", "side", "side",
         "put", "put", "delete", "update", "close", "close", "close-others",
         "close-others"]


def connect(path, journal):
    c = sqlite3.connect(path, isolation_level=None, timeout=0)
    c.enable_load_extension(True)
    c.load_extension(EXT)
    c.execute("PRAGMA journal_mode=%s" % journal).fetchall()
    return c


class Peer:
    """A connection in a process of its own (--processes): the same calls
    as the sqlite3 connection the steps use, answered over a pipe."""

    def __init__(self, path, journal):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child", path,
             journal], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.in_transaction = False
        self._call(None)

    def _call(self, msg):
        if msg is not None:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("interleavetest: a peer process died")
        a = json.loads(line)
        self.in_transaction = a.get("txn", False)
        if "e" in a:
            raise sqlite3.OperationalError(a["e"])
        return a.get("r")

    def execute(self, sql, params=()):
        return Rows(self._call([sql, list(params)]))

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(30)


class Rows:
    def __init__(self, rows):
        self.rows = [tuple(r) for r in rows]

    def fetchall(self):
        return self.rows


def child(path, journal):
    try:
        c = connect(path, journal)
        print(json.dumps({}), flush=True)
    except sqlite3.Error as e:
        print(json.dumps({"e": str(e)}), flush=True)
        return
    for line in sys.stdin:
        sql, params = json.loads(line)
        try:
            out = {"r": [list(r) for r in c.execute(sql, params)]}
        except sqlite3.Error as e:
            out = {"e": str(e)}
        out["txn"] = c.in_transaction
        print(json.dumps(out), flush=True)
    c.close()


def is_busy(e):
    m = str(e)
    return "locked" in m or "busy" in m.lower() or "snapshot" in m


def one_step(conns, k, step, i, rng):
    c = conns[k]
    key = "k%d" % rng.randrange(NKEYS)
    if step == "begin":
        return c.execute("BEGIN").fetchall()
    if step == "commit":
        return c.execute("COMMIT").fetchall()
    if step == "rollback":
        return c.execute("ROLLBACK").fetchall()
    if step == "read":
        return c.execute("SELECT key, value FROM t ORDER BY key").fetchall()
    if step == "side":
        return c.execute("SELECT x FROM side").fetchall()
    if step == "put":
        return c.execute("INSERT OR REPLACE INTO t VALUES(?, ?)",
                         (key, i)).fetchall()
    if step == "update":
        return c.execute("UPDATE t SET value = value + 1 WHERE key = ?",
                         (key,)).fetchall()
    if step == "delete":
        return c.execute("DELETE FROM t WHERE key = ?", (key,)).fetchall()
    if step == "close":
        c.close()
        conns[k] = None
        return "closed"
    # close-others
    for j in range(NCONN):
        if j != k and conns[j] is not None:
            conns[j].close()
            conns[j] = None
    return "closed the others"


def run(seed, kvstore, journal, processes=False):
    """The outcomes of seed's steps, and the table's rows at the end."""
    rng = random.Random(seed)
    folder = tempfile.mkdtemp(prefix="kvinterleave-")
    try:
        path = os.path.join(folder, "app.db")
        c = connect(path, journal)
        c.execute("CREATE VIRTUAL TABLE t USING kvstore(memtable_size=65536)"
                  if kvstore else
                  "CREATE TABLE t(key TEXT PRIMARY KEY, value) WITHOUT ROWID")
        c.execute("CREATE TABLE side(x)")
        c.execute("INSERT INTO side VALUES (1)")
        c.close()
        conns = [None] * NCONN
        log = []
        for i in range(NSTEPS):
            k = rng.randrange(NCONN)
            step = rng.choice(STEPS)
            if conns[k] is None:
                try:
                    conns[k] = (Peer(path, journal) if processes
                                else connect(path, journal))
                except sqlite3.Error as e:
                    log.append((i, k, "connect", "error", str(e)))
                    continue
            try:
                out = ("ok", one_step(conns, k, step, i, rng))
            except sqlite3.Error as e:
                if is_busy(e):
                    out = ("busy",)
                    if conns[k].in_transaction:
                        conns[k].execute("ROLLBACK")
                        out = ("busy", "rolled back")
                else:
                    out = ("error", str(e))
            log.append((i, k, step) + out)
        for c in conns:
            if c is not None:
                c.close()
        c = connect(path, journal)
        rows = c.execute("SELECT key, value FROM t ORDER BY key").fetchall()
        c.close()
        return log, rows
    finally:
        shutil.rmtree(folder)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--processes", action="store_true",
                    help="each connection in a process of its own")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    bad = 0
    for seed in range(args.first, args.first + args.seeds):
        for journal in ("wal", "delete"):
            want = run(seed, False, journal, args.processes)
            got = run(seed, True, journal, args.processes)
            if got == want:
                continue
            bad += 1
            print("FAIL seed %d (%s)" % (seed, journal))
            for a, b in zip(want[0], got[0]):
                if a != b:
                    print("  first difference: ordinary %r\n"
                          "                    kvstore  %r" % (a, b))
                    break
            if got[1] != want[1]:
                print("  at the end: ordinary %r\n              kvstore  %r"
                      % (want[1], got[1]))
    if bad:
        print("interleavetest: %d of %d runs differ" % (bad, 2 * args.seeds))
        sys.exit(1)
    print("interleavetest: %d seeds x 2 journals, %d steps each%s: the same "
          "outcomes as the ordinary table" % (args.seeds, NSTEPS,
          ", a process per connection" if args.processes else ""))


if __name__ == "__main__":
    main()
