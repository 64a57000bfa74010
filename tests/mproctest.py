#!/usr/bin/python3
"""mproctest.py - many processes on one store (issue #16).

Every check runs twice, with the same processes and the same statements:
once on an ordinary WITHOUT ROWID table (which proves the harness: it must
pass) and once on a kvstore table of the same name. Each process is this
file run again with --child ROLE (Debian's /usr/bin/python3, the extension
loaded with load_extension).

  counter_writers        WRITERS processes each commit BEGIN IMMEDIATE
                         transactions that read and increment a shared
                         counter g and their own counter c<w>, and insert
                         the row w<w>:<c<w>> whose value is the new g;
                         busy errors are retried. After: g = the commits
                         acknowledged = the sum of the c<w>, each writer
                         has exactly c<w> rows, and their values are 1..g
                         once each (0 lost updates). Rollback journal and
                         WAL.
  reader_snapshots       (with counter_writers) a reader process checks in
                         every scan, by one statement, by a transaction of
                         several statements and by one full scan, that
                         g = sum(c<w>) and that count(w<w>:*) = c<w>; g
                         never goes back; its last read, after the writers
                         stopped, sees the final g.
  readers_during_compaction
                         the same in WAL mode on a table that flushes every
                         few commits (64 KB memtables, a 1 KB row beside
                         each counter row) while writer 0 runs a full
                         compaction (VACUUM on the ordinary table) every 25
                         commits: no read fails or sees a mixed state.
  open_close_churn       the same with every writer and the reader opening
                         a new connection for every transaction.
  pingpong               two long-lived connections in two processes take
                         turns: one commits (insert, update, delete), the
                         other reads it at once (point lookup, range count,
                         the deleted row; every 15th turn a burst of 150
                         rows of 1 KB, so that the reader catches up across
                         flushes it did not run): 0 stale reads. Both
                         modes.
  shell                  the sqlite3 shell (.load) reads the table while a
                         Python process holds it open and a writer process
                         commits, writes a row the Python process then
                         reads, reads with -readonly and immutable=1, and an
                         idle shell that touched the table does not lock
                         the Python process out.
  reader_never_waits     a writer holds an open write transaction of 2000
                         rows; another process's SELECT returns at once,
                         without them; after COMMIT it sees them. Both
                         modes (WAL is the issue's promise; rollback
                         journal as SQLite's own readers).
  writers_wait_then_busy a second writer waits in its busy handler while
                         another process holds a write transaction, then
                         gets SQLITE_BUSY; after the COMMIT it writes. Both
                         modes, every step as on the ordinary table.
  lost_update_refused    R reads g in a transaction, W (another process)
                         commits g+1, R's UPDATE fails with SQLITE_BUSY
                         (SQLITE_BUSY_SNAPSHOT in WAL); the outcome of every
                         step must equal the ordinary table's.
  rename_while_open      ALTER TABLE RENAME in one process while another
                         holds the table: as the ordinary table (both use it
                         under the new name at once), or kvstore's refusal
                         (SQLITE_BUSY, table intact and usable, renamed once
                         the other process closed it).
  drop_while_open        DROP TABLE in one process while another holds the
                         table: as the ordinary table (dropped; the other
                         gets "no such table"), or kvstore's documented
                         refusal (SQLITE_BUSY, table intact and usable,
                         dropped once the other process closed it).
  harness_controls       (ordinary table only) the checks can fail: writers
                         reading outside their transaction are caught losing
                         updates, a reader kept in one old read transaction
                         is caught reading stale rows.
  kill_mid_transaction   kill -9 of a writer at random moments (mostly
                         inside BEGIN IMMEDIATE ... COMMIT) while a
                         survivor process commits: the survivor commits
                         again within a second of each kill, a flush by
                         another process (a checkpoint for the ordinary
                         table) takes under a second (no lock stays held),
                         everything acknowledged is present, no
                         transaction in part; kvstore_verify says ok.
  kill_mid_flush         the same with a writer of 1 KB values into a 64 KB
                         memtable (a flush every few commits)
  kill_mid_compaction    the same with a process running a full compaction
                         (kvstore_compact; VACUUM on the ordinary table)
                         between its commits

    /usr/bin/python3 tests/mproctest.py [--kinds ordinary,kvstore]
        [--checks NAME,...] [--duration S] [--turns N] [--kills N] [--seed S]

KVMPROC_KEEP=1 in the environment keeps every test directory (printed on
stderr) to inspect a failing run's store.

make test runs the defaults (72 s for both kinds in the last run, on the
2-core machine shared with other work); make stress runs longer writers
and more kills (bounded by STRESS_TIMEOUT).
"""
import argparse
import ctypes
import faulthandler
import json
import os
import random
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kvtest  # noqa: E402

ME = os.path.abspath(__file__)
SQLITE3 = os.environ.get("SQLITE3", "sqlite3")

CREATE = {
    "ordinary": "CREATE TABLE t(key TEXT PRIMARY KEY NOT NULL, value) "
                "WITHOUT ROWID",
    "kvstore": "CREATE VIRTUAL TABLE t USING kvstore",
}
# Frequent flushes and compactions (doc/options.md, README "Options").
CREATE_SMALL = {
    "ordinary": CREATE["ordinary"],
    "kvstore": "CREATE VIRTUAL TABLE t USING kvstore(memtable_size='64KB', "
               "wal_segment_size='32KB', target_file_size='16KB', "
               "level0_trigger=2, block_size=1024)",
}
# What a compacting process runs between its commits.
MAINTENANCE = {
    "ordinary": "VACUUM",
    "kvstore": "SELECT kvstore_compact('t', 'full')",
}

# A flush by another process after a kill (a checkpoint for the ordinary
# table): it must not wait for a lock the killed process held.
FLUSH = {
    "ordinary": "PRAGMA wal_checkpoint",
    "kvstore": "SELECT kvstore_flush('t')",
}

PR_SET_PDEATHSIG = 1
CHECK_TIMEOUT = 300          # seconds (more with --duration, --kills)

BUSY_TIMEOUT = 10.0          # seconds: every worker waits, then retries


def errname(e):
    return getattr(e, "sqlite_errorname", type(e).__name__)


def is_busy(e):
    return isinstance(e, sqlite3.OperationalError) and (
        errname(e).startswith("SQLITE_BUSY") or "locked" in str(e))


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def spawn(child, **args):
    return subprocess.Popen([sys.executable, ME, "--child", child,
                             json.dumps(args)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


class Lines:
    """Complete lines a child prints, read without blocking."""

    def __init__(self, proc):
        self.proc = proc
        self.buf = b""
        self.eof = False

    def poll(self, timeout):
        """Lines that arrived within `timeout` seconds (at least one if
        any arrives in time)."""
        out = []
        deadline = time.monotonic() + timeout
        while not out and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if not r:
                break
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                self.eof = True
            self.buf += chunk
            *done, self.buf = self.buf.split(b"\n")
            out += [x.decode() for x in done]
        return out


def cpu_seconds(pid):
    """User + system CPU seconds a process has used."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return -1.0


def backtrace(pid):
    """The C stacks of every thread of a hung child (gdb, when installed),
    kept in a file whose name is returned, with the CPU time it used in
    one second (spinning or blocked); a message otherwise."""
    c0 = cpu_seconds(pid)
    time.sleep(1.0)
    spin = "%.2f s CPU in the last second" % (cpu_seconds(pid) - c0)
    if not shutil.which("gdb"):
        return spin + "; no gdb for its stacks"
    fd, name = tempfile.mkstemp(prefix="kvmproc-hung-%d-" % pid,
                                suffix=".txt")
    with os.fdopen(fd, "w") as f:
        subprocess.run(["gdb", "-batch", "-p", str(pid), "-ex",
                        "thread apply all bt"], stdout=f,
                       stderr=subprocess.STDOUT, timeout=60)
    return spin + "; its stacks are in " + name


def finish(proc, timeout):
    """Wait for a child; its stdout lines and its stderr."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        where = backtrace(proc.pid)
        proc.kill()
        out, err = proc.communicate()
        err += (b"\n(hung: still running after %.0f s; %s)"
                % (timeout, where.encode()))
    return out.decode().splitlines(), err.decode()


def last_json(lines, err, who):
    for line in reversed(lines):
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("%s reported nothing: %s" % (who, err[-1500:]))


# ---------------------------------------------------------------- children

def child_peer(a):
    """One long-lived connection: runs the statements it reads on stdin
    ([sql, params] per line), answers {"r": rows} or {"e": [name, msg]}
    with the seconds the statement took."""
    conn = kvtest.connect(a["db"], a.get("timeout", BUSY_TIMEOUT))
    emit({"ready": os.getpid()})
    for line in sys.stdin:
        sql, params = json.loads(line)
        t0 = time.monotonic()
        try:
            res = {"r": [list(r) for r in conn.execute(sql, params)]}
        except sqlite3.Error as e:
            res = {"e": [errname(e), str(e)]}
        res["t"] = time.monotonic() - t0
        emit(res)


def child_exec(a):
    """Store.execute: one statement in a new connection."""
    conn = kvtest.connect(a["db"], BUSY_TIMEOUT)
    t0 = time.monotonic()
    try:
        res = {"r": [[v.hex() if isinstance(v, bytes) else v for v in r]
                     for r in conn.execute(a["sql"], a["params"])]}
    except sqlite3.Error as e:
        res = {"e": [errname(e), str(e)]}
    res["t"] = time.monotonic() - t0
    conn.close()
    emit(res)


def counter_txn(conn, w, split, pad):
    """One transaction of counter_writers: its commit count c<w>. split
    (the negative control) reads before the transaction."""
    if split:
        g = conn.execute("SELECT value FROM t WHERE key = 'g'").fetchone()[0]
        time.sleep(0.001)
    conn.execute("BEGIN IMMEDIATE")
    if not split:
        g = conn.execute("SELECT value FROM t WHERE key = 'g'").fetchone()[0]
    n = conn.execute("SELECT value FROM t WHERE key = ?",
                     ("c%d" % w,)).fetchone()[0]
    conn.execute("UPDATE t SET value = ? WHERE key = 'g'", (g + 1,))
    conn.execute("UPDATE t SET value = ? WHERE key = ?", (n + 1, "c%d" % w))
    conn.execute("INSERT INTO t VALUES (?, ?)", ("w%d:%08d" % (w, n + 1),
                                                 g + 1))
    if pad:
        conn.execute("INSERT INTO t VALUES (?, ?)", ("p%d:%08d" % (w, n + 1),
                                                     os.urandom(1000)))
    return n + 1


def commit(conn):
    """COMMIT, retried while SQLite says busy (the transaction stays open
    then, as SQLite documents)."""
    for _ in range(100):
        try:
            conn.execute("COMMIT")
            return
        except sqlite3.OperationalError as e:
            if not is_busy(e):
                raise
    conn.execute("COMMIT")


def child_writer(a):
    """counter_writers: commit until a["until"] (monotonic clock)."""
    conn = kvtest.connect(a["db"], BUSY_TIMEOUT)
    w = a["w"]
    commits = retries = 0
    errors = []
    while time.monotonic() < a["until"]:
        if a.get("reopen"):
            conn.close()
            conn = kvtest.connect(a["db"], BUSY_TIMEOUT)
        try:
            n = counter_txn(conn, w, a.get("split", False),
                            a.get("pad", False))
            commit(conn)
            commits += 1
            if a.get("maintain") and commits % 25 == 0:
                conn.execute(MAINTENANCE[a["kind"]]).fetchall()
            time.sleep(0.001)       # room for the reader between commits
            if n != commits:
                errors.append("commit %d of writer %d read c%d=%d"
                              % (commits, w, w, n - 1))
        except sqlite3.Error as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if is_busy(e):
                retries += 1
                continue
            errors.append("%s: %s" % (errname(e), e))
            break
    emit({"commits": commits, "retries": retries, "errors": errors[:5]})


def invariant_rows(conn, nw, how):
    """(g, [c<w>], [count of w<w>:*]) read by `how`: one statement, one
    transaction of several statements, or one full scan."""
    if how == "statement":
        cols = ["(SELECT value FROM t WHERE key = 'g')"]
        cols += ["(SELECT value FROM t WHERE key = 'c%d')" % w
                 for w in range(nw)]
        cols += ["(SELECT count(*) FROM t WHERE key >= 'w%d:' AND "
                 "key < 'w%d;')" % (w, w) for w in range(nw)]
        r = conn.execute("SELECT " + ", ".join(cols)).fetchone()
        return r[0], list(r[1:1 + nw]), list(r[1 + nw:])
    if how == "transaction":
        conn.execute("BEGIN")
        try:
            g = conn.execute("SELECT value FROM t WHERE key = 'g'"
                             ).fetchone()[0]
            c, n = [], []
            for w in range(nw):
                time.sleep(0.001)
                n.append(conn.execute(
                    "SELECT count(*) FROM t WHERE key >= ? AND key < ?",
                    ("w%d:" % w, "w%d;" % w)).fetchone()[0])
                c.append(conn.execute("SELECT value FROM t WHERE key = ?",
                                      ("c%d" % w,)).fetchone()[0])
        finally:
            conn.execute("COMMIT")
        return g, c, n
    g, c, n = None, [None] * nw, [0] * nw
    for k, v in conn.execute("SELECT key, value FROM t ORDER BY key"):
        if k == "g":
            g = v
        elif k[0] == "c":
            c[int(k[1:])] = v
        elif k[0] == "w":
            n[int(k[1:k.index(":")])] += 1
        elif k[0] == "p":
            if v is None or len(v) != 1000:
                raise sqlite3.DatabaseError("row %s read as %r" % (k, v))
    return g, c, n


def child_reader(a):
    """reader_snapshots: check until the file a["stop"] exists, then once
    more."""
    conn = kvtest.connect(a["db"], BUSY_TIMEOUT)
    nw = a["writers"]
    hows = ["statement", "transaction", "scan"]
    checks = {h: 0 for h in hows}
    bad = []
    last = -1
    i = 0
    stopping = False
    while True:
        if os.path.exists(a["stop"]):
            stopping = True
        how = hows[i % 3]
        i += 1
        if a.get("reopen"):
            conn.close()
            conn = kvtest.connect(a["db"], BUSY_TIMEOUT)
        try:
            g, c, n = invariant_rows(conn, nw, how)
        except sqlite3.Error as e:
            if is_busy(e):
                continue
            bad.append("%s: %s: %s" % (how, errname(e), e))
            break
        checks[how] += 1
        if g != sum(c) or c != n:
            bad.append("%s: g=%s, c=%s, rows=%s" % (how, g, c, n))
        if g < last:
            bad.append("%s: g went back from %d to %d" % (how, last, g))
        last = g
        if stopping:
            break
    emit({"checks": checks, "bad": bad[:5], "nbad": len(bad), "last": last})


def child_survivor(a):
    """kill tests: commit small transactions, print "C id time" after
    each; "E message" on an error."""
    conn = kvtest.connect(a["db"], BUSY_TIMEOUT)
    i = a["first"]
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t VALUES (?, ?)", ("s%08d" % i, i))
            conn.execute("SELECT count(*) FROM t WHERE key >= 's' AND "
                         "key < 't'").fetchone()
            commit(conn)
        except sqlite3.Error as e:
            print("E %s: %s" % (errname(e), e), flush=True)
            return
        print("C %d %.6f" % (i, time.monotonic()), flush=True)
        i += 1
        time.sleep(0.01)


VICTIM_ROWS = {"txn": 10, "flush": 20, "compact": 20}


def child_victim(a):
    """kill tests: transactions of VICTIM_ROWS rows 'v<id>-<j>'; prints
    "B id" before BEGIN and "C id" once COMMIT returned."""
    conn = kvtest.connect(a["db"], BUSY_TIMEOUT)
    kind, role = a["kind"], a["role"]
    i = a["first"]
    nrows = VICTIM_ROWS[role]
    size = 200 if role == "txn" else 1000
    while True:
        print("B %d" % i, flush=True)
        conn.execute("BEGIN IMMEDIATE")
        for j in range(nrows):
            conn.execute("INSERT INTO t VALUES (?, ?)",
                         ("v%08d-%02d" % (i, j), os.urandom(size)))
            if role == "txn":
                time.sleep(0.002)
        commit(conn)
        print("C %d" % i, flush=True)
        if role == "compact" and i % 3 == 0:
            conn.execute(MAINTENANCE[kind]).fetchall()
        i += 1


CHILDREN = {"exec": child_exec, "peer": child_peer, "writer": child_writer,
            "reader": child_reader, "survivor": child_survivor,
            "victim": child_victim}


# ---------------------------------------------------------------- harness

class Peer:
    """A connection held open by another process."""

    def __init__(self, path, timeout=BUSY_TIMEOUT):
        self.proc = spawn("peer", db=path, timeout=timeout)
        self.lines = Lines(self.proc)
        self._answer(60)

    def _answer(self, timeout):
        got = self.lines.poll(timeout)
        if not got:
            err = b""
            if self.proc.poll() is not None:
                err = self.proc.stderr.read()
            raise AssertionError("peer %d: no answer within %.0f s %s"
                                 % (self.proc.pid, timeout, err.decode()))
        return json.loads(got[0])

    def q(self, sql, *params):
        """("ok", rows) or ("error", SQLITE_NAME, message)."""
        self.elapsed = None
        self.proc.stdin.write((json.dumps([sql, params]) + "\n").encode())
        self.proc.stdin.flush()
        a = self._answer(60)
        self.elapsed = a["t"]
        if "e" in a:
            return ("error",) + tuple(a["e"])
        return ("ok", [tuple(r) for r in a["r"]])

    def rows(self, sql, *params):
        r = self.q(sql, *params)
        if r[0] != "ok":
            raise AssertionError("%s: %s" % (sql, r))
        return r[1]

    def close(self):
        finish(self.proc, 10)


class Store:
    """A fresh database with table t of one kind, in one journal mode."""

    def __init__(self, kind, journal, create=CREATE):
        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix="kvmproc-")
        self.path = os.path.join(self.dir, "test.db")
        self.execute("PRAGMA journal_mode=%s" % journal)
        self.execute(create[kind])

    def execute(self, sql, params=()):
        """Run one statement in a new connection of a new process (a
        statement that hangs is then reported with its stacks, and the
        run goes on); its rows. self.elapsed: the statement's seconds."""
        proc = spawn("exec", db=self.path, sql=sql, params=list(params))
        lines, err = finish(proc, 60)
        for line in reversed(lines):
            if line.startswith("{"):
                a = json.loads(line)
                self.elapsed = a["t"]
                if "e" in a:
                    raise sqlite3.OperationalError("%s: %s (%s)"
                                                   % (sql, a["e"][1],
                                                      a["e"][0]))
                return [tuple(r) for r in a["r"]]
        raise AssertionError("%s: no answer: %s"
                             % (sql, err.strip()[-1500:]))

    def remove(self):
        if os.environ.get("KVMPROC_KEEP"):
            print("kept %s" % self.dir, file=sys.stderr)
            return
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- checks

def counter_writers(kind, args, rng):
    """counter_writers and reader_snapshots, in both journal modes."""
    return "; ".join(counter_run(kind, j, args) for j in ("delete", "wal"))


def counter_run(kind, journal, args, split=False, small=False,
                reopen=False):
    """split: the harness's negative control, writers that read in one
    transaction and write in the next (lost updates must be reported).
    small: frequent flushes (a 1 KB row 'p<w>:<n>' beside each counter
    row, 64 KB memtables) and writer 0 runs a full compaction every 25
    commits. reopen: every writer and the reader open a new connection
    for every transaction."""
    nw = 3
    children = []
    if True:
        st = Store(kind, journal, CREATE_SMALL if small else CREATE)
        try:
            st.execute("INSERT INTO t VALUES ('g', 0)")
            for w in range(nw):
                st.execute("INSERT INTO t VALUES (?, 0)", ("c%d" % w,))
            stop = os.path.join(st.dir, "stop")
            until = time.monotonic() + args.duration + 0.5
            writers = [spawn("writer", db=st.path, w=w, until=until,
                             split=split, pad=small, kind=kind,
                             maintain=small and w == 0, reopen=reopen)
                       for w in range(nw)]
            reader = spawn("reader", db=st.path, writers=nw, stop=stop,
                           reopen=reopen)
            children = writers + [reader]
            outs = [finish(p, args.duration + 30) for p in writers]
            open(stop, "w").close()
            outs.append(finish(reader, 30))
            res = [last_json(o[0], o[1], "writer %d" % w)
                   for w, o in enumerate(outs[:nw])]
            rd = last_json(outs[nw][0], outs[nw][1], "reader")
            for w, r in enumerate(res):
                if r["errors"]:
                    raise AssertionError("%s: writer %d: %s"
                                         % (journal, w, r["errors"]))
            commits = sum(r["commits"] for r in res)
            if commits < nw:
                raise AssertionError("%s: only %d commits" % (journal,
                                                              commits))
            g = st.execute("SELECT value FROM t WHERE key = 'g'")[0][0]
            for w, r in enumerate(res):
                c = st.execute("SELECT value FROM t WHERE key = ?",
                               ("c%d" % w,))[0][0]
                vals = st.execute("SELECT value FROM t WHERE key >= ? AND "
                                  "key < ?", ("w%d:" % w, "w%d;" % w))
                if c != r["commits"] or len(vals) != c:
                    raise AssertionError(
                        "%s: writer %d acknowledged %d commits, c%d=%d, "
                        "%d rows" % (journal, w, r["commits"], w, c,
                                     len(vals)))
            allv = sorted(v for (v,) in st.execute(
                "SELECT value FROM t WHERE key >= 'w' AND key < 'x'"))
            if g != commits or allv != list(range(1, g + 1)):
                raise AssertionError(
                    "%s: %d commits acknowledged, counter g=%d, values of "
                    "the writers' rows %s (lost updates)"
                    % (journal, commits, g, allv[:20]))
            if rd["nbad"]:
                raise AssertionError("%s: reader: %d inconsistent reads, "
                                     "first %s" % (journal, rd["nbad"],
                                                   rd["bad"]))
            if rd["last"] != g:
                raise AssertionError("%s: reader's last read (after the "
                                     "writers stopped) saw g=%d, not %d"
                                     % (journal, rd["last"], g))
            if min(rd["checks"].values()) == 0:
                raise AssertionError("%s: reader checked %s"
                                     % (journal, rd["checks"]))
            return ("%s: %d commits (%d busy retries), 0 lost; reader "
                    "%s consistent" % (journal, commits,
                                       sum(r["retries"] for r in res),
                                       "/".join(str(v) for v in
                                                rd["checks"].values())))
        finally:
            for p in children:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
            st.remove()


def readers_during_compaction(kind, args, rng):
    """counter_writers and its reader on a table that flushes every few
    commits, one writer running full compactions (VACUUM for the ordinary
    table): no read fails, none sees a mixed state (WAL)."""
    return counter_run(kind, "wal", args, small=True)


def open_close_churn(kind, args, rng):
    """counter_writers and its reader opening a new connection for every
    transaction, on a table that flushes every few commits (WAL): opens
    beside other processes' commits, flushes and compactions."""
    return counter_run(kind, "wal", args, small=True, reopen=True)


def pingpong(kind, args, rng):
    return "; ".join(pingpong_run(kind, j, args) for j in ("delete", "wal"))


def pingpong_run(kind, journal, args, stale_reader=False):
    """stale_reader: the negative control, process b reads inside one
    long read transaction (WAL), so it must be caught reading old rows.
    Every 15th turn the writer first replaces a burst of 150 rows of 1 KB
    in one transaction, on a table with 64 KB memtables: the reader must
    read them all after flushes it did not run."""
    if True:
        st = Store(kind, journal, CREATE_SMALL)
        a = b = None
        try:
            a, b = Peer(st.path), Peer(st.path)
            if stale_reader:
                b.rows("BEGIN")
                b.rows("SELECT count(*) FROM t")
            stale = []
            for i in range(args.turns):
                # The writer of this turn, and the other process reading.
                w, r, me = (a, b, "a") if i % 2 == 0 else (b, a, "b")
                if stale_reader:
                    w, r = a, b
                k = "%s%06d" % (me, i)
                if i % 15 == 14:
                    w.rows("BEGIN")
                    w.rows("DELETE FROM t WHERE key >= 'zb' AND "
                           "key < 'zc'")
                    w.rows("WITH RECURSIVE c(j) AS (SELECT 1 UNION ALL "
                           "SELECT j + 1 FROM c WHERE j < 150) INSERT INTO t "
                           "SELECT printf('zb%03d', j), ? || "
                           "hex(randomblob(497)) FROM c", "%06d" % i)
                    w.rows("COMMIT")
                    got = r.rows("SELECT count(*), min(substr(value, 1, 6)),"
                                 " max(substr(value, 1, 6)), "
                                 "sum(length(value)) FROM t WHERE key >= "
                                 "'zb' AND key < 'zc'")
                    if got != [(150, "%06d" % i, "%06d" % i, 150 * 1000)]:
                        stale.append((i, "burst", got))
                if i % 3 == 0:
                    w.rows("BEGIN")
                w.rows("INSERT INTO t VALUES (?, ?)", k, i)
                w.rows("INSERT OR REPLACE INTO t VALUES ('last', ?)", k)
                if i >= 6:
                    w.rows("DELETE FROM t WHERE key = ?",
                           "%s%06d" % (me, i - 6))
                if i % 3 == 0:
                    w.rows("COMMIT")
                want = [(i,)]
                got = r.rows("SELECT value FROM t WHERE key = ?", k)
                if got != want:
                    stale.append((i, "point", got))
                got = r.rows("SELECT value FROM t WHERE key = 'last'")
                if got != [(k,)]:
                    stale.append((i, "last", got))
                n = r.rows("SELECT count(*) FROM t WHERE key >= ? AND "
                           "key < ?", me, me + "~")[0][0]
                if n != min(i // 2 + 1, 3):
                    stale.append((i, "count", n))
                if i >= 6 and r.rows("SELECT 1 FROM t WHERE key = ?",
                                     "%s%06d" % (me, i - 6)):
                    stale.append((i, "deleted row still read", None))
            if stale:
                raise AssertionError("%s: %d stale reads of %d turns, "
                                     "first %s" % (journal, len(stale),
                                                   args.turns, stale[:3]))
            return "%s: %d turns, 0 stale reads" % (journal, args.turns)
        finally:
            for p in (a, b):
                if p:
                    p.close()
            st.remove()


def shell_run(argv, script, timeout=30):
    p = subprocess.run(argv, input=script, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def shell(kind, args, rng):
    st = Store(kind, "wal")
    py = writer = idle = None
    load = ".load %s\n" % os.path.splitext(kvtest.EXTENSION)[0]
    try:
        nw = 1
        st.execute("INSERT INTO t VALUES ('g', 0), ('c0', 0)")
        py = Peer(st.path)
        py.rows("INSERT INTO t VALUES ('py', 'from python')")
        py.rows("SELECT count(*) FROM t")
        until = time.monotonic() + 3.0
        writer = spawn("writer", db=st.path, w=0, until=until)
        cols = ("(SELECT value FROM t WHERE key = 'g'), "
                "(SELECT value FROM t WHERE key = 'c0'), "
                "(SELECT count(*) FROM t WHERE key >= 'w0:' AND "
                "key < 'w0;')")
        checks = 0
        # While the Python process holds the table and a writer commits.
        for _ in range(4):
            rc, so, se = shell_run([SQLITE3, "-batch", st.path],
                                   load + ".timeout 10000\n"
                                   "SELECT value FROM t WHERE key = 'py';\n"
                                   "SELECT %s;\n" % cols)
            lines = so.splitlines()
            if rc != 0 or len(lines) != 2 or lines[0] != "from python":
                raise AssertionError("shell read: rc %d, out %r, err %r"
                                     % (rc, so, se))
            g, c, n = (int(x) for x in lines[1].split("|"))
            if not g == c == n:
                raise AssertionError("shell read inconsistent: g=%d c0=%d "
                                     "rows=%d" % (g, c, n))
            checks += 1
            time.sleep(0.3)
        lines, err = finish(writer, 60)
        writer = None
        wr = last_json(lines, err, "writer")
        if wr["errors"] or wr["commits"] < 1:
            raise AssertionError("writer beside the shell: %s" % wr)
        # The shell writes; the Python process reads it at once.
        rc, so, se = shell_run([SQLITE3, "-batch", st.path],
                               load + ".timeout 10000\n"
                               "INSERT INTO t VALUES ('shell', 'from the "
                               "shell');\n")
        if rc != 0:
            raise AssertionError("shell write: rc %d, %r" % (rc, se))
        got = py.rows("SELECT value FROM t WHERE key = 'shell'")
        if got != [("from the shell",)]:
            raise AssertionError("python after the shell's write: %r" % got)
        py.rows("INSERT INTO t VALUES ('py2', 'again')")
        # Read-only and immutable opens (immutable=1 reads the database
        # file alone, without its WAL: checkpoint first).
        py.rows("PRAGMA wal_checkpoint(TRUNCATE)")
        for argv in ([SQLITE3, "-batch", "-readonly", st.path],
                     [SQLITE3, "-batch", "file:%s?immutable=1" % st.path]):
            rc, so, se = shell_run(argv, load + "SELECT group_concat(key) "
                                   "FROM (SELECT key FROM t WHERE key GLOB "
                                   "'[ps]*' ORDER BY key);\n")
            if (rc, so) != (0, "py,py2,shell\n"):
                raise AssertionError("%s: rc %d, out %r, err %r"
                                     % (argv[2], rc, so, se))
        # An idle shell that touched the table keeps nobody out.
        idle = subprocess.Popen(["stdbuf", "-oL", SQLITE3, "-batch",
                                 st.path], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        idle.stdin.write((load + "SELECT count(*) FROM t;\n").encode())
        idle.stdin.flush()
        il = Lines(idle)
        first = il.poll(20)
        if not first:
            raise AssertionError("idle shell did not answer: %r"
                                 % idle.stderr.read1(4096))
        r = py.q("INSERT INTO t VALUES ('py3', 'beside an idle shell')")
        if r[0] != "ok" or py.elapsed > 1.0:
            raise AssertionError("python write beside an idle shell: %r "
                                 "after %.2f s" % (r, py.elapsed))
        idle.stdin.write(b"SELECT value FROM t WHERE key = 'py3';\n")
        idle.stdin.flush()
        got = il.poll(20)
        if got != ["beside an idle shell"]:
            raise AssertionError("idle shell after python's write: %r %r"
                                 % (got, idle.stderr.read1(4096)))
        return ("%d consistent shell reads beside a writer; shell write "
                "seen by python; -readonly, immutable=1; idle shell blocks "
                "nobody" % checks)
    finally:
        for p in (writer, idle):
            if p:
                p.kill()
                p.communicate()
        if py:
            py.close()
        st.remove()


def reader_never_waits(kind, args, rng):
    out = []
    for journal in ("wal", "delete"):
        st = Store(kind, journal)
        w = r = None
        try:
            st.execute("INSERT INTO t VALUES ('a', 1)")
            w, r = Peer(st.path), Peer(st.path)
            r.rows("SELECT count(*) FROM t")
            w.rows("BEGIN IMMEDIATE")
            w.rows("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                   "FROM c WHERE i < 2000) INSERT INTO t "
                   "SELECT printf('x%05d', i), randomblob(100) FROM c")
            slow = []
            for sql, want in (("SELECT count(*) FROM t", [(1,)]),
                              ("SELECT value FROM t WHERE key = 'a'", [(1,)]),
                              ("SELECT count(*) FROM t WHERE key >= 'x'",
                               [(0,)])):
                got = r.q(sql)
                if r.elapsed > 0.5:
                    slow.append((sql, r.elapsed))
                if got != ("ok", want):
                    raise AssertionError("%s: %s during the open write "
                                         "transaction: %r" % (journal, sql,
                                                              got))
            if slow:
                raise AssertionError("%s: the reader waited: %s"
                                     % (journal, slow))
            w.rows("COMMIT")
            got = r.rows("SELECT count(*) FROM t")
            if got != [(2001,)]:
                raise AssertionError("%s: after COMMIT the reader counts %r"
                                     % (journal, got))
            out.append("%s: reads during the open write transaction in "
                       "<0.5 s" % journal)
        finally:
            for p in (w, r):
                if p:
                    p.close()
            st.remove()
    return "; ".join(out)


def lost_update_log(st, journal):
    """The steps of lost_update_refused; the log of their outcomes."""
    log = []
    r = Peer(st.path, timeout=0.3)
    w = Peer(st.path, timeout=0.3)
    try:
        log.append(r.q("BEGIN"))
        log.append(r.q("SELECT value FROM t WHERE key = 'g'"))
        log.append(w.q("UPDATE t SET value = value + 1 WHERE key = 'g'"))
        log.append(r.q("UPDATE t SET value = 2 WHERE key = 'g'"))
        log.append(r.q("COMMIT"))
        log.append(r.q("ROLLBACK"))
        log.append(r.q("SELECT value FROM t WHERE key = 'g'"))
        log.append(w.q("SELECT value FROM t WHERE key = 'g'"))
    finally:
        r.close()
        w.close()
    return log


def lost_update_refused(kind, args, rng):
    out = []
    for journal in ("wal", "delete"):
        def run(k):
            st = Store(k, journal)
            try:
                st.execute("INSERT INTO t VALUES ('g', 1)")
                log = lost_update_log(st, journal)
                log.append(("after", st.execute(
                    "SELECT value FROM t WHERE key = 'g'")))
                return log
            finally:
                st.remove()
        logs = {k: ordinary_once(("lost_update", journal), k, run)
                for k in sorted({"ordinary", kind})}
        base = logs["ordinary"]
        if journal == "wal" and \
                base[3][:2] != ("error", "SQLITE_BUSY_SNAPSHOT"):
            raise AssertionError("harness: the ordinary table's write did "
                                 "not fail with SQLITE_BUSY_SNAPSHOT: %r"
                                 % (base[3],))
        compare_logs(journal, logs, kind)
        out.append("%s: W's write %s, R's write %s"
                   % (journal, base[2][1] if base[2][0] == "error" else "ok",
                      base[3][1] if base[3][0] == "error" else "ok"))
    return "; ".join(out)


def busy_writer_log(st):
    log = []
    a, b = Peer(st.path, timeout=0.3), Peer(st.path, timeout=0.3)
    try:
        log.append(a.q("BEGIN IMMEDIATE"))
        log.append(a.q("INSERT INTO t VALUES ('a1', 1)"))
        log.append(b.q("INSERT INTO t VALUES ('b1', 1)"))
        log.append(("waited", b.elapsed >= 0.25))
        log.append(b.q("BEGIN IMMEDIATE"))
        log.append(("waited", b.elapsed >= 0.25))
        log.append(a.q("COMMIT"))
        log.append(b.q("INSERT INTO t VALUES ('b1', 1)"))
        log.append(a.q("SELECT key FROM t ORDER BY key"))
    finally:
        a.close()
        b.close()
    return log


def writers_wait_then_busy(kind, args, rng):
    """A second writer waits in its busy handler (0.3 s) while another
    process holds a write transaction, then gets SQLITE_BUSY; once the
    first commits it writes: every step as on the ordinary table."""
    out = []
    for journal in ("wal", "delete"):
        def run(k):
            st = Store(k, journal)
            try:
                return busy_writer_log(st)
            finally:
                st.remove()
        logs = {k: ordinary_once(("busy_writer", journal), k, run)
                for k in sorted({"ordinary", kind})}
        if logs["ordinary"][2][:2] != ("error", "SQLITE_BUSY"):
            raise AssertionError("harness: the ordinary table's second "
                                 "writer got %r" % (logs["ordinary"][2],))
        compare_logs(journal, logs, kind)
        out.append("%s: %s after the busy timeout" % (journal,
                                                      logs[kind][2][1]))
    return "; ".join(out)


ORDINARY_LOGS = {}


def ordinary_once(key, k, run):
    """run(k), the ordinary table's log computed once per run and shared
    by the checks of both kinds."""
    if k != "ordinary":
        return run(k)
    if key not in ORDINARY_LOGS:
        ORDINARY_LOGS[key] = run(k)
    return ORDINARY_LOGS[key]


def compare_logs(what, logs, kind):
    if logs[kind] != logs["ordinary"]:
        lines = ["%s: differs from the ordinary table:" % what]
        for x, y in zip(logs["ordinary"], logs[kind]):
            lines.append("  %s ordinary %r\n     %s %r"
                         % ("  " if x == y else "!=", x, kind, y))
        raise AssertionError("\n".join(lines))


def rename_while_open(kind, args, rng):
    """ALTER TABLE RENAME in one process while another holds the table.
    The ordinary table is renamed at once and both processes read and write
    it under its new name. kvstore may instead refuse with SQLITE_BUSY
    while another connection uses the store (its directory is renamed with
    it, kvvtabRename): then the table must stay whole and usable by both
    under its old name, and the RENAME must go through once the other
    process closed it."""
    st = Store(kind, "wal")
    a = b = None
    try:
        st.execute("INSERT INTO t VALUES ('g', 1)")
        a, b = Peer(st.path, timeout=2), Peer(st.path, timeout=2)
        a.rows("SELECT count(*) FROM t")
        b.rows("INSERT INTO t VALUES ('b1', 1)")
        r = b.q("ALTER TABLE t RENAME TO t2")
        if r[0] == "ok":
            steps = [
                (a, "SELECT count(*) FROM t", "no such table"),
                (a, "SELECT key FROM t2 ORDER BY key", [("b1",), ("g",)]),
                (a, "INSERT INTO t2 VALUES ('a1', 1)", []),
                (b, "SELECT key FROM t2 ORDER BY key",
                 [("a1",), ("b1",), ("g",)]),
                (b, "INSERT INTO t2 VALUES ('b2', 2)", []),
                (a, "SELECT key FROM t2 ORDER BY key",
                 [("a1",), ("b1",), ("b2",), ("g",)])]
            for n, (who, sql, want) in enumerate(steps):
                got = who.q(sql)
                ok = (got[0] == "error" and want in got[2]) \
                    if isinstance(want, str) else got == ("ok", want)
                if not ok:
                    raise AssertionError("step %d after the RENAME by the "
                                         "other process: %s %s: %r"
                                         % (n + 1, "a" if who is a else "b",
                                            sql, got))
            path = "renamed at once; both processes use it under its new name"
        else:
            if r[:2] != ("error", "SQLITE_BUSY") or kind == "ordinary":
                raise AssertionError("RENAME beside another process: %r"
                                     % (r,))
            a.rows("INSERT INTO t VALUES ('a1', 1)")
            got = b.rows("SELECT key FROM t ORDER BY key")
            if got != [("a1",), ("b1",), ("g",)]:
                raise AssertionError("after the refused RENAME the table "
                                     "reads %r" % got)
            a.close()
            a = None
            r = b.q("ALTER TABLE t RENAME TO t2")
            if r[0] != "ok":
                raise AssertionError("RENAME once the other process closed "
                                     "the table: %r" % (r,))
            b.rows("INSERT INTO t2 VALUES ('b2', 2)")
            path = ("refused with SQLITE_BUSY while another process uses it, "
                    "table intact; renamed once it closed")
        b.close()
        b = None
        got = st.execute("SELECT key FROM t2 ORDER BY key")
        if got != [("a1",), ("b1",), ("b2",), ("g",)]:
            raise AssertionError("reopened after the RENAME: %r" % got)
        return path
    finally:
        for p in (a, b):
            if p:
                p.close()
        st.remove()


def drop_while_open(kind, args, rng):
    """DROP TABLE in one process while another holds the table open. The
    ordinary table goes at once and the other process gets "no such
    table". kvstore may instead refuse with SQLITE_BUSY while another
    connection uses the store (kvvtabDestroy, README): then the table must
    stay whole and usable by both, and the DROP must go through once the
    other process closed it."""
    st = Store(kind, "wal")
    a = b = None
    try:
        st.execute("INSERT INTO t VALUES ('g', 1)")
        a, b = Peer(st.path, timeout=2), Peer(st.path, timeout=2)
        a.rows("SELECT count(*) FROM t")
        r = b.q("DROP TABLE t")
        if r[0] == "ok":
            got = a.q("SELECT count(*) FROM t")
            if got[:2] != ("error", "SQLITE_ERROR") or \
                    "no such table" not in got[2]:
                raise AssertionError("after the DROP the other process "
                                     "reads %r" % (got,))
            b.rows(CREATE[kind])
            a.rows("INSERT INTO t VALUES ('a1', 1)")
            got = b.rows("SELECT key FROM t ORDER BY key")
            if got != [("a1",)]:
                raise AssertionError("the new table reads %r" % got)
            return "dropped at once; the new table is shared"
        if r[:2] != ("error", "SQLITE_BUSY") or kind == "ordinary":
            raise AssertionError("DROP TABLE beside another process: %r"
                                 % (r,))
        a.rows("INSERT INTO t VALUES ('a1', 1)")
        got = b.rows("SELECT key FROM t ORDER BY key")
        if got != [("a1",), ("g",)]:
            raise AssertionError("after the refused DROP the table reads "
                                 "%r" % got)
        a.close()
        a = None
        r = b.q("DROP TABLE t")
        if r[0] != "ok":
            raise AssertionError("DROP TABLE once the other process closed "
                                 "the table: %r" % (r,))
        b.close()               # (a committed DROP's store goes at close)
        b = None
        left = [f for f in os.listdir(st.dir) if f.startswith("test.db-t")]
        if left:
            raise AssertionError("the dropped table's store is still there: "
                                 "%s" % left)
        return ("refused with SQLITE_BUSY while another process uses it, "
                "table intact; dropped once it closed")
    finally:
        for p in (a, b):
            if p:
                p.close()
        st.remove()


def kill_loop(kind, args, rng, role, journal):
    """Kill -9 a victim (role) args.kills times beside a survivor."""
    st = Store(kind, journal, CREATE_SMALL)
    surv = None
    try:
        surv = spawn("survivor", db=st.path, first=1)
        sl = Lines(surv)
        sacked = []
        nxt = 1
        acked_all = set()
        gaps = []
        flush_s = []

        def drain(timeout):
            for line in sl.poll(timeout):
                if line.startswith("E"):
                    raise AssertionError("survivor: %s" % line)
                sacked.append((int(line.split()[1]),
                               float(line.split()[2])))

        drain(30)
        if not sacked:
            raise AssertionError("the survivor never committed: %s"
                                 % surv.stderr.read1(4096).decode())
        for cycle in range(args.kills):
            victim = spawn("victim", db=st.path, kind=kind, role=role,
                           first=nxt)
            lines = kill_running(victim, rng, 0.2, 0.9)
            tk = time.monotonic()
            # The survivor goes on within a second.
            while not sacked or sacked[-1][1] <= tk:
                if time.monotonic() - tk > 10:
                    break
                drain(0.2)
            after = [t for _, t in sacked if t > tk]
            gap = (after[0] - tk) if after else None
            gaps.append(gap)
            if gap is None or gap > 1.0:
                dead = surv.poll()
                raise AssertionError("cycle %d: the survivor's next commit "
                                     "came %s after the kill%s"
                                     % (cycle, "%.2f s" % gap if gap
                                        else "not within 10 s",
                                        "" if dead is None else
                                        " (the survivor died: exit status "
                                        "%d)" % dead))
            # No store-level lock stays held: a flush (a checkpoint of the
            # ordinary table) by another process goes through at once.
            st.execute(FLUSH[kind])
            flush_s.append(st.elapsed)
            if flush_s[-1] > 1.0:
                raise AssertionError("cycle %d: %s took %.2f s after the "
                                     "kill" % (cycle, FLUSH[kind],
                                               flush_s[-1]))
            acked = [int(x[2:]) for x in lines if x.startswith("C ")]
            started = [int(x[2:]) for x in lines if x.startswith("B ")]
            acked_all |= set(acked)
            have = {}
            for (k,) in st.execute("SELECT key FROM t WHERE key >= 'v' AND "
                                   "key < 'w'"):
                have.setdefault(int(k[1:9]), set()).add(k)
            nrows = VICTIM_ROWS[role]
            partial = [i for i, ks in have.items() if len(ks) != nrows]
            lost = sorted(acked_all - set(have))
            if partial or lost:
                raise AssertionError("cycle %d: transactions in part %s, "
                                     "acknowledged and lost %s"
                                     % (cycle, partial[:5], lost[:5]))
            nxt = max(list(have) + started + [nxt]) + 1
        drain(0.5)
        surv.kill()
        surv.communicate()
        surv = None
        have = {int(k[1:]) for (k,) in st.execute(
            "SELECT key FROM t WHERE key >= 's' AND key < 't'")}
        lost = sorted({i for i, _ in sacked} - have)
        if lost:
            raise AssertionError("survivor's acknowledged commits lost: %s"
                                 % lost[:5])
        if kind == "kvstore":
            v = st.execute("SELECT kvstore_verify('t')")[0][0]
            if v != "ok":
                raise AssertionError("kvstore_verify: %s" % v)
        return ("%s: %d kills, %d victim and %d survivor commits kept, "
                "survivor resumed after at most %.2f s, a flush by "
                "another process took at most %.2f s"
                % (journal, args.kills, len(acked_all), len(sacked),
                   max(gaps), max(flush_s)))
    finally:
        if surv:
            surv.kill()
            surv.communicate()
        st.remove()


def kill_running(proc, rng, lo, hi):
    """SIGKILL a running child after [lo, hi) seconds; the complete lines
    it printed. Fails if it exited by itself."""
    deadline = time.monotonic() + rng.uniform(lo, hi)
    lines = Lines(proc)
    got = []
    while time.monotonic() < deadline and not lines.eof:
        got += lines.poll(deadline - time.monotonic())
    proc.send_signal(signal.SIGKILL)
    rest, err = proc.communicate()
    got += [x.decode() for x in (lines.buf + rest).split(b"\n")[:-1]]
    if proc.returncode != -signal.SIGKILL:
        raise AssertionError("victim exited by itself (%r): %s"
                             % (proc.returncode,
                                err.decode().strip().splitlines()[-1:]))
    return got


def kill_mid_transaction(kind, args, rng):
    return "; ".join(kill_loop(kind, args, rng, "txn", j)
                     for j in ("delete", "wal"))


def kill_mid_flush(kind, args, rng):
    return kill_loop(kind, args, rng, "flush", "wal")


def kill_mid_compaction(kind, args, rng):
    return kill_loop(kind, args, rng, "compact", "wal")


def expect_failure(what, fn):
    try:
        fn()
    except AssertionError as e:
        return str(e)
    raise AssertionError("negative control passed: %s" % what)


def harness_controls(kind, args, rng):
    """The checks must be able to fail: writers that read outside their
    transaction lose updates, a reader inside one long transaction reads
    stale rows. Run on the ordinary table only."""
    class Short:
        duration = 0.5
        turns = 12
    a = expect_failure("split writers", lambda: counter_run(
        "ordinary", "wal", Short, split=True))
    if "lost updates" not in a and "inconsistent" not in a:
        raise AssertionError("split writers: unexpected failure: %s" % a)
    b = expect_failure("stale reader", lambda: pingpong_run(
        "ordinary", "wal", Short, stale_reader=True))
    if "stale reads" not in b:
        raise AssertionError("stale reader: unexpected failure: %s" % b)
    return "split writers caught (%s); stale reader caught (%s)" % (
        a[:60], b[:60])


CHECKS = [harness_controls, counter_writers, readers_during_compaction,
          open_close_churn, pingpong, shell, reader_never_waits,
          writers_wait_then_busy, lost_update_refused,
          rename_while_open, drop_while_open, kill_mid_transaction,
          kill_mid_flush, kill_mid_compaction]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kinds", default="ordinary,kvstore")
    ap.add_argument("--checks", default=",".join(c.__name__ for c in CHECKS))
    ap.add_argument("--duration", type=float, default=1.0,
                    help="seconds the counter writers run")
    ap.add_argument("--turns", type=int, default=60)
    ap.add_argument("--kills", type=int, default=2)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--child", nargs=2, metavar=("ROLE", "ARGS"))
    args = ap.parse_args()
    if args.child:
        # Die with the parent (a parent stopped by its watchdog leaves no
        # writer running).
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG,
                                                signal.SIGKILL)
        if os.getppid() == 1:
            return
        CHILDREN[args.child[0]](json.loads(args.child[1]))
        return
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    byname = {c.__name__: c for c in CHECKS}
    failures = []
    t00 = time.time()
    for name in args.checks.split(","):
        kinds = args.kinds.split(",")
        if name == "harness_controls":
            kinds = ["ordinary"]
        for kind in kinds:
            rng = random.Random("%d/%s/%s" % (seed, name, kind))
            t0 = time.time()
            # A check that hangs inside SQLite stops the run with every
            # thread's Python stack rather than hanging make test.
            faulthandler.dump_traceback_later(
                CHECK_TIMEOUT + 10 * args.duration + 10 * args.kills +
                args.turns / 10, exit=True)
            try:
                what = byname[name](kind, args, rng)
                print("ok   %-21s %-8s %s (%.1fs)" % (name, kind, what,
                                                      time.time() - t0),
                      flush=True)
            except (AssertionError, sqlite3.Error, OSError,
                    subprocess.SubprocessError, ValueError) as e:
                failures.append("%s/%s" % (name, kind))
                print("FAIL %-21s %-8s %s: %s (%.1fs)"
                      % (name, kind, type(e).__name__, e, time.time() - t0),
                      flush=True)
            finally:
                faulthandler.cancel_dump_traceback_later()
    if failures:
        print("mproctest seed=%d: FAILED: %s (%.0fs)"
              % (seed, ", ".join(failures), time.time() - t00))
        sys.exit(1)
    print("mproctest seed=%d: all passed (%.0fs)" % (seed, time.time() - t00))


if __name__ == "__main__":
    main()
