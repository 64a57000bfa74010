"""Helpers shared by the Python tests of the kvstore extension.

Run the tests with Debian's /usr/bin/python3: its sqlite3 module can load
extensions (a python3 built elsewhere may lack enable_load_extension).
"""
import argparse
import hashlib
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTENSION = os.environ.get("KVSTORE_SO", os.path.join(ROOT, "kvstore.so"))


def connect(path, timeout=10.0, uri=False, cached_statements=128):
    """Open `path` (a URI with uri=True) in autocommit mode (explicit BEGIN
    only) with kvstore loaded; cached_statements is the size of the
    statement cache (0: every statement finalized after use)."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None,
                           uri=uri, cached_statements=cached_statements)
    if not hasattr(conn, "enable_load_extension"):
        sys.exit("this python's sqlite3 module cannot load extensions; "
                 "run the tests with /usr/bin/python3")
    conn.enable_load_extension(True)
    conn.load_extension(EXTENSION)
    conn.enable_load_extension(False)
    return conn


def dir_snapshot(path):
    """Every file under path with its size and SHA-256, and every folder:
    equal before and after means nothing was written, added or removed."""
    out = {}
    for root, dirs, files in os.walk(path):
        out[os.path.relpath(root, path) + "/"] = None
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, path)] = hashlib.sha256(
                    fh.read()).hexdigest()
    return out


def tagged(value):
    """A value with its type, so that 5 and 5.0 compare different."""
    return (type(value).__name__, value)


def tag_rows(rows):
    return [tuple(tagged(v) for v in row) for row in rows]


def kill_child(argv, rng, lo, hi):
    """Start argv, read its stdout for a random time in [lo, hi) seconds,
    SIGKILL it. Returns the complete lines it printed; fails if it exited
    by itself."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.time() + rng.uniform(lo, hi)
    buf = b""
    while True:
        left = deadline - time.time()
        if left <= 0:
            break
        r, _, _ = select.select([proc.stdout], [], [], left)
        if r:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
    proc.send_signal(signal.SIGKILL)
    rest, err = proc.communicate()
    buf += rest
    if proc.returncode != -signal.SIGKILL:
        raise AssertionError("child exited by itself (%r): %s"
                             % (proc.returncode, err.decode()[-2000:]))
    # A line without its newline was never acknowledged.
    return [line.decode() for line in buf.split(b"\n")[:-1]]


def txn_rows(conn):
    """What the table kv of a transaction kill test holds: {transaction:
    {key: value}} of the keys 't<8-digit transaction>...', and the value of
    the row 'counter' that each transaction sets to its id (None when
    there is none)."""
    present = {}
    for key, value in conn.execute(
            "SELECT key, value FROM kv WHERE key GLOB 't*' ORDER BY key"):
        present.setdefault(int(key[1:9]), {})[key] = value
    counter = conn.execute(
        "SELECT value FROM kv WHERE key = 'counter'").fetchone()
    return present, (counter[0] if counter else None)


def check_counter(present, counter):
    """The counter must name the newest transaction present (the
    transactions are atomic across keys). Returns the newest (0: none)."""
    newest = max(present) if present else 0
    if present and counter != newest:
        raise AssertionError("counter is %r but the newest transaction is %d"
                             % (counter, newest))
    return newest


def child_argv(script, *args):
    """The command that runs `script --child ARGS...` under this python."""
    return ([sys.executable, os.path.abspath(script), "--child"]
            + [str(a) for a in args])


def acknowledge(txn):
    """In the child of KillRun.kill_rounds: say that transaction txn has
    committed (COMMIT returned), as the line kill_rounds reads."""
    sys.stdout.write("%d\n" % txn)
    sys.stdout.flush()


def kill_test_args(child, rounds):
    """The command line of a kill test that KillRun.kill_rounds runs:
    --rounds N (default `rounds`), --seed S, and --child DB FIRST, which
    makes this process the child: it runs child(DB, FIRST) and exits.
    Returns the parent's arguments."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--child", nargs=2, metavar=("DB", "FIRST"))
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        sys.exit(0)
    return args


class KillRun:
    """The frame the kill tests share (crashtest, killtest, rangetest,
    ingesttest, bulktest):
    the seed (given, or taken from the clock, and printed so that a failing
    run can be repeated) and its random source, a work directory, the round
    being run, and the one line of result:

        with kvtest.KillRun("crashtest", args.seed, "kvcrash-") as run:
            path = os.path.join(run.work, "crash.db")
            for run.round in range(args.rounds):
                lines = kvtest.kill_child(kvtest.child_argv(__file__, ...),
                                          run.rng, 0.02, 0.6)
                ...check the store, raising AssertionError...
            (or, for children that print transaction ids, run.kill_rounds)
            run.passed("%d kills, ..., %.1fs" % (..., run.elapsed()))
        sys.exit(run.status)

    passed() prints "NAME seed=S: TEXT" and the directory is removed on
    leaving the block. An AssertionError (or one of `errors`) raised in the
    block prints "NAME seed=S UNIT R: FAILED: Type: message (kept DIR)",
    keeps the directory to look at, and is not raised further: status is
    then 1. Any other exception leaves the block as it is."""

    def __init__(self, name, seed, prefix, unit="round",
                 errors=(AssertionError,)):
        self.name = name
        self.seed = seed if seed is not None else int(time.time()) % 100000
        self.rng = random.Random(self.seed)
        self.prefix = prefix
        self.unit = unit
        self.errors = errors
        self.round = 0
        self.status = 1
        self.work = None
        self.t0 = time.time()

    def __enter__(self):
        self.work = tempfile.mkdtemp(prefix=self.prefix)
        return self

    def elapsed(self):
        """Seconds since the run began."""
        return time.time() - self.t0

    def kill_rounds(self, script, path, rounds, check, lo=0.02, hi=0.6,
                    gap=1):
        """The rounds of a kill test whose child, `script --child PATH
        FIRST`, commits transactions FIRST, FIRST+1, ... and prints each
        one's id once COMMIT has returned. Each round kills it after [lo,
        hi) seconds (only complete lines were acknowledged) and calls
        check(path, acknowledged ids), which returns (newest transaction
        present, rows) or raises; the next child starts at newest + gap.
        A gap above 1 is for a check that may see the newest transaction
        as an older one (ingesttest: a transaction that rewrites the keys
        of the one before it), up to gap - 1 below the last acknowledged.
        Returns (newest, rows, transactions acknowledged in all)."""
        newest = nrows = total = 0
        for self.round in range(rounds):
            lines = kill_child(child_argv(script, path, newest + gap),
                               self.rng, lo, hi)
            acked = [int(x) for x in lines]
            total += len(acked)
            newest, nrows = check(path, acked)
            if acked and newest + gap - 1 < acked[-1]:
                raise AssertionError("newest present %d < last acked %d"
                                     % (newest, acked[-1]))
        return newest, nrows, total

    def passed(self, text):
        print("%s seed=%d: %s" % (self.name, self.seed, text))
        self.status = 0

    def __exit__(self, etype, e, tb):
        if etype is None and self.status == 0:
            shutil.rmtree(self.work, ignore_errors=True)
            return False
        if etype is not None and issubclass(etype, self.errors):
            print("%s seed=%d %s %d: FAILED: %s: %s (kept %s)"
                  % (self.name, self.seed, self.unit, self.round,
                     etype.__name__, e, self.work))
            self.status = 1
            return True
        return False
