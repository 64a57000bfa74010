#!/usr/bin/python3
"""spilltest.py - transactions larger than txn_spill (doc/spill.md).

The same statements run on an ordinary WITHOUT ROWID table and on a
kvstore table whose txn_spill is tiny (16 KB), so that its transaction
moves to runs on disk many times over. Inside the transaction, after every
few statements, point reads, range scans in both directions and counts
must agree (read-your-writes); savepoints are rolled back into spilled
parts and released; then COMMIT (or ROLLBACK), and the rows must agree
again, after reopening too. While the transaction is open its runs are in
the store's directory; after it ends none is left.

  kill -9   a child commits spilled transactions (each also writes a row of
            an ordinary table, and rolls a savepoint back into its runs)
            and is killed at random: every transaction is in both tables
            or in neither, nothing acknowledged is lost, no run is left.

  another process
            a spilled transaction commits while another process has the
            store open, and that process reads it whole (not older values
            its own memtable holds); then that process commits one, read
            whole here; and after reopening.

  --rss N   instead: one transaction of N INSERT OR REPLACE rows (16-byte
            keys, 100-byte values) on each backend in its own process,
            printing the peak RSS of each (ru_maxrss of the child).

Usage: /usr/bin/python3 tests/spilltest.py [--rounds N] [--kills N] [--rss N]
"""
import argparse
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXT = os.path.join(os.path.dirname(HERE), "kvstore")

ORDINARY = "CREATE TABLE t(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID"
KVSTORE = ("CREATE VIRTUAL TABLE t USING kvstore(dir='t-store', "
           "txn_spill='16KB', background=off)")

failures = []


def connect(path):
    c = sqlite3.connect(path, isolation_level=None)
    c.enable_load_extension(True)
    c.load_extension(EXT)
    return c


def spills(d):
    store = os.path.join(d, "t-store")
    if not os.path.isdir(store):
        return 0
    return sum(1 for n in os.listdir(store) if n.endswith(".spill"))


def reads(c, rnd):
    """What the transaction sees: a few point reads, scans and a count."""
    out = []
    for _ in range(5):
        k = "k%05d" % rnd.randrange(3000)
        out.append(c.execute("SELECT value FROM t WHERE key=?",
                             (k,)).fetchall())
    lo = "k%05d" % rnd.randrange(3000)
    out.append(c.execute("SELECT key, value FROM t WHERE key>=? "
                         "ORDER BY key LIMIT 20", (lo,)).fetchall())
    out.append(c.execute("SELECT key FROM t WHERE key<? "
                         "ORDER BY key DESC LIMIT 20", (lo,)).fetchall())
    out.append(c.execute("SELECT count(*), sum(length(value)) "
                         "FROM t").fetchall())
    return out


def run(kind, d, seed, bCommit):
    """The script on one backend: every read's result, then the rows."""
    db = os.path.join(d, "test.db")
    c = connect(db)
    c.execute(ORDINARY if kind == "table" else KVSTORE)
    rnd = random.Random(seed)
    # committed rows before the transaction
    c.execute("BEGIN")
    for i in range(0, 3000, 3):
        c.execute("INSERT INTO t VALUES(?, ?)", ("k%05d" % i, "old%d" % i))
    c.execute("COMMIT")
    log = []
    nSpillSeen = 0
    c.execute("BEGIN")
    depth = 0
    for stmt in range(400):
        op = rnd.randrange(100)
        if op < 55:
            rows = [("k%05d" % rnd.randrange(3000),
                     "v%d-%s" % (stmt, "x" * rnd.randrange(50, 300)))
                    for _ in range(rnd.randrange(1, 12))]
            c.executemany("INSERT OR REPLACE INTO t VALUES(?, ?)", rows)
        elif op < 65:
            k = rnd.randrange(3000)
            c.execute("DELETE FROM t WHERE key=?", ("k%05d" % k,))
        elif op < 70:
            k = rnd.randrange(3000)
            c.execute("UPDATE t SET value=value||'u' WHERE key=?",
                      ("k%05d" % k,))
        elif op < 80:
            c.execute("SAVEPOINT s%d" % depth)
            depth += 1
        elif op < 90:
            if depth:
                s = rnd.randrange(depth)
                c.execute("ROLLBACK TO s%d" % s)
                depth = s + 1
        elif op < 95:
            if depth:
                depth -= 1
                c.execute("RELEASE s%d" % depth)
        else:
            try:     # a statement that fails half way is undone
                c.execute("INSERT INTO t VALUES(?, 'dup')",
                          ("k%05d" % (3 * rnd.randrange(1000)),))
                log.append("no error")
            except sqlite3.IntegrityError:
                log.append("constraint")
        if stmt % 10 == 9:
            log.append(reads(c, rnd))
        if kind == "kvstore":
            nSpillSeen = max(nSpillSeen, spills(d))
    log.append(reads(c, rnd))
    c.execute("COMMIT" if bCommit else "ROLLBACK")
    log.append(c.execute("SELECT key, value FROM t ORDER BY key").fetchall())
    c.close()
    c = connect(db)
    log.append(c.execute("SELECT key, value FROM t ORDER BY key").fetchall())
    c.close()
    return log, nSpillSeen


def case(seed, bCommit):
    name = "seed %d %s" % (seed, "commit" if bCommit else "rollback")
    res = {}
    for kind in ("table", "kvstore"):
        d = tempfile.mkdtemp(prefix="spilltest-")
        try:
            res[kind] = run(kind, d, seed, bCommit)
            if kind == "kvstore" and spills(d):
                failures.append("%s: runs left after the transaction" % name)
        finally:
            shutil.rmtree(d)
    a, b = res["table"][0], res["kvstore"][0]
    if a != b:
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                failures.append("%s: step %d differs:\n  table   %r\n  "
                                "kvstore %r" % (name, i, str(x)[:300],
                                                str(y)[:300]))
                break
        else:
            failures.append("%s: %d vs %d steps" % (name, len(a), len(b)))
    if res["kvstore"][1] < 3:
        failures.append("%s: the transaction spilled only %d runs at once"
                        % (name, res["kvstore"][1]))
    print("%s: %d steps, up to %d runs on disk: %s" % (
        name, len(a), res["kvstore"][1], "same" if a == b else "DIFFERENT"))


KILL_CHILD = r"""
import sqlite3, sys
path, ext, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = sqlite3.connect(path, isolation_level=None, timeout=10)
c.enable_load_extension(True)
c.load_extension(ext)
i = first
while True:
    c.execute("BEGIN")
    c.execute("INSERT INTO marks VALUES(?)", (i,))
    c.executemany("INSERT OR REPLACE INTO t VALUES(?, ?)",
                  (("%06d-%04d" % (i, j), "%d" % i + "x" * 90)
                   for j in range(600)))
    c.execute("SAVEPOINT s")
    c.executemany("INSERT OR REPLACE INTO t VALUES(?, 'rolled back')",
                  (("%06d-%04d" % (i, j),) for j in range(300, 900)))
    c.execute("ROLLBACK TO s")
    c.execute("RELEASE s")
    c.execute("COMMIT")
    sys.stdout.write("%d\n" % i)
    sys.stdout.flush()
    i += 1
"""


def kills(nKills):
    d = tempfile.mkdtemp(prefix="spilltest-kill-")
    ok = True
    try:
        path = os.path.join(d, "test.db")
        c = connect(path)
        c.execute(KVSTORE)
        c.execute("CREATE TABLE marks(id INTEGER PRIMARY KEY)")
        c.close()
        acked = set()
        nxt = 1
        for k in range(nKills):
            p = subprocess.Popen([sys.executable, "-c", KILL_CHILD, path, EXT,
                                  str(nxt)], stdout=subprocess.PIPE, cwd=d)
            time.sleep(0.2 + random.random() * 0.5)
            os.kill(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            acked |= {int(x) for x in out.split()}
            c = connect(path)
            ids = {r[0] for r in c.execute("SELECT id FROM marks")}
            kv = {}
            for key, v in c.execute("SELECT key, value FROM t"):
                kv.setdefault(int(key[:6]), []).append((key, v))
            c.close()
            for i in ids | set(kv):
                want = [("%06d-%04d" % (i, j), "%d" % i + "x" * 90)
                        for j in range(600)]
                if (i in ids) != (kv.get(i) == want):
                    failures.append("kill: transaction %d: ordinary row %s, "
                                    "kvstore rows %d (%s)" % (
                                        i, i in ids, len(kv.get(i, [])),
                                        "as written" if kv.get(i) == want
                                        else "not as written"))
                    ok = False
            lost = acked - ids
            if lost:
                failures.append("kill: acknowledged transactions lost: %s"
                                % sorted(lost)[:10])
                ok = False
            if spills(d):
                failures.append("kill: runs left after reopening")
                ok = False
            if not ok:
                break
            nxt = max(ids | acked | {0}) + 1
        print("kill -9: %d kills, %d transactions acknowledged: %s"
              % (nKills, len(acked), "ok" if ok else "FAILED"))
        if len(acked) < 5:
            failures.append("kill: only %d transactions committed" % len(acked))
    finally:
        shutil.rmtree(d)


HOLD_CHILD = r"""
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
c.enable_load_extension(True)
c.load_extension(sys.argv[2])
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "read":
        r = c.execute("SELECT count(*), sum(value = ?), max(key) FROM t",
                      (cmd[1],)).fetchone()
        print("%d %d %s" % (r[0], r[1] or 0, r[2]), flush=True)
    elif cmd[0] == "spill":
        c.execute("BEGIN")
        c.executemany("INSERT OR REPLACE INTO t VALUES(?, ?)",
                      (("k%05d" % i, cmd[1]) for i in range(int(cmd[2]))))
        c.execute("COMMIT")
        print("done", flush=True)
"""


def other_process():
    """Spilled transactions commit beside another process, each way round,
    and each process reads the other's whole: not the older values its own
    memtable holds."""
    d = tempfile.mkdtemp(prefix="spilltest-mp-")
    try:
        path = os.path.join(d, "test.db")
        c = connect(path)
        c.execute(KVSTORE)
        c.execute("BEGIN")
        c.executemany("INSERT INTO t VALUES(?, ?)",
                      (("k%05d" % i, "old") for i in range(100)))
        c.execute("COMMIT")
        h = subprocess.Popen([sys.executable, "-c", HOLD_CHILD, path, EXT],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, cwd=d)

        def ask(line):
            h.stdin.write(line + "\n")
            h.stdin.flush()
            return h.stdout.readline().strip()
        seen = [ask("read old")]
        c.execute("BEGIN")
        c.executemany("INSERT OR REPLACE INTO t VALUES(?, ?)",
                      (("k%05d" % i, "new") for i in range(2000)))
        spilled = bool(spills(d))
        seen.append(ask("read new"))            # not committed yet
        c.execute("COMMIT")
        seen.append(ask("read new"))
        seen.append(ask("spill held 3000"))
        mine = c.execute("SELECT count(*), sum(value = 'held') FROM t"
                         ).fetchone()
        h.stdin.close()
        h.wait()
        c.close()
        c = connect(path)
        after = c.execute("SELECT count(*), sum(value = 'held') FROM t"
                          ).fetchone()
        c.close()
        want = ["100 100 k00099", "100 0 k00099", "2000 2000 k01999", "done"]
        ok = (spilled and seen == want and mine == (3000, 3000)
              and after == (3000, 3000) and not spills(d))
        if not ok:
            failures.append("another process: spilled %r, it saw %r (want "
                            "%r), this one %r, after reopening %r, runs %d"
                            % (spilled, seen, want, mine, after, spills(d)))
        print("another process: spilled commits both ways, each read whole:"
              " %s" % ("ok" if ok else "FAILED"))
    finally:
        shutil.rmtree(d)


RSS_CHILD = r"""
import os, resource, sqlite3, sys
n, kind, ext, d = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
c = sqlite3.connect(os.path.join(d, "test.db"), isolation_level=None)
c.enable_load_extension(True)
c.load_extension(ext)
c.execute("PRAGMA journal_mode=WAL").fetchall()
c.execute("PRAGMA synchronous=NORMAL")
if kind == "table":
    c.execute("CREATE TABLE t(key TEXT PRIMARY KEY, value) WITHOUT ROWID")
else:
    c.execute("CREATE VIRTUAL TABLE t USING kvstore(dir='t-store', "
              "sync=normal%s)" % sys.argv[5])
val = "v" * 100
def rows():
    for i in range(n):
        yield ("%016x" % ((i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF), val)
c.execute("BEGIN")
c.executemany("INSERT OR REPLACE INTO t VALUES(?, ?)", rows())
c.execute("COMMIT")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# (checked after the figure: a full scan maps every block it reads)
assert c.execute("SELECT count(*) FROM t").fetchone()[0] == n
print(peak)
"""


def rss(n, kinds, opts):
    out = {}
    for kind in kinds:
        d = tempfile.mkdtemp(prefix="spillrss-")
        try:
            r = subprocess.run([sys.executable, "-c", RSS_CHILD, str(n), kind,
                                EXT, d, "".join(", " + o for o in opts)],
                               cwd=d, capture_output=True, text=True)
            if r.returncode != 0:
                print(r.stderr)
                sys.exit(1)
            out[kind] = int(r.stdout.split()[-1]) // 1024
        finally:
            shutil.rmtree(d)
        print("%s%s: one transaction of %d INSERT OR REPLACE rows: peak RSS "
              "%d MB" % (kind, "(%s)" % ", ".join(opts) if opts and
                         kind == "kvstore" else "", n, out[kind]))
    if len(out) < 2:
        return 0
    print("kvstore - table: %+d MB (target <= 64)"
          % (out["kvstore"] - out["table"]))
    return 0 if out["kvstore"] - out["table"] <= 64 else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--rss", type=int, default=0)
    ap.add_argument("--kills", type=int, default=15)
    ap.add_argument("--only", choices=("table", "kvstore"),
                    help="with --rss: measure one backend")
    ap.add_argument("--opt", action="append", default=[],
                    help="with --rss: a kvstore option (txn_spill=0 ...)")
    args = ap.parse_args()
    if args.rss:
        return rss(args.rss, [args.only] if args.only
                   else ["table", "kvstore"], args.opt)
    for seed in range(args.rounds):
        case(seed, seed % 4 != 3)
    other_process()
    kills(args.kills)
    for f in failures:
        print("FAIL:", f)
    print("spilltest: %s" % ("FAILED" if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
