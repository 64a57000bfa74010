"""Helpers shared by the Python tests of the kvstore extension.

Run the tests with Debian's /usr/bin/python3: its sqlite3 module can load
extensions (a python3 built elsewhere may lack enable_load_extension).
"""
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTENSION = os.environ.get("KVSTORE_SO", os.path.join(ROOT, "kvstore.so"))


def connect(path, timeout=10.0):
    """Open `path` in autocommit mode (explicit BEGIN only) with kvstore
    loaded."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    if not hasattr(conn, "enable_load_extension"):
        sys.exit("this python's sqlite3 module cannot load extensions; "
                 "run the tests with /usr/bin/python3")
    conn.enable_load_extension(True)
    conn.load_extension(EXTENSION)
    conn.enable_load_extension(False)
    return conn


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
