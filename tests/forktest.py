#!/usr/bin/python3
"""fork() after the table is open: the pre-forking servers' pattern (a
parent opens the database, then forks workers that open their own
connections), and Python's multiprocessing on Linux. Each child must be
another process to the store, as it is to SQLite, not a copy of the
parent's: the same rows as the ordinary table beside it, no hang, and the
parent's connection unharmed whatever the children do with theirs.

Run with Debian's /usr/bin/python3.
"""
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kvtest import connect  # noqa: E402

VALUE = "v" * 200           # big enough for the 64 KB memtable to flush


def in_child(body):
    """Fork; the child runs body() under a 60 s alarm and exits 0 if it
    returned, 1 if it raised (printing why)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(60)
            body()
            code = 0
        except BaseException as e:  # noqa: B902 - report anything
            print("child %d: %r" % (os.getpid(), e), flush=True)
        finally:
            os._exit(code)
    return pid


def wait_all(pids, seconds=90):
    """Exit statuses of pids; kills (and fails on) any still running."""
    deadline = time.time() + seconds
    left = dict.fromkeys(pids)
    while left and time.time() < deadline:
        for pid in list(left):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                left.pop(pid)
                pids[pids.index(pid)] = os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return pids, list(left)


def write_both(c, key, value):
    c.execute("BEGIN IMMEDIATE")
    for t in ("kv", "tw"):
        c.execute(f"INSERT INTO {t} VALUES(?, ?)", (key, value))
    c.execute("COMMIT")


class Fork(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kvfork-")
        self.db = os.path.join(self.dir, "app.db")
        self.parent = connect(self.db, timeout=30)
        self.parent.execute("PRAGMA journal_mode=wal")
        self.parent.execute("CREATE VIRTUAL TABLE kv USING "
                            "kvstore(memtable_size=65536)")
        self.parent.execute("CREATE TABLE tw(key PRIMARY KEY, value) "
                            "WITHOUT ROWID")
        write_both(self.parent, "p-first", VALUE)

    def tearDown(self):
        self.parent.close()
        shutil.rmtree(self.dir)

    def check_equal(self, expect_rows):
        c = connect(self.db)
        kv = c.execute("SELECT key, value FROM kv ORDER BY key").fetchall()
        tw = c.execute("SELECT key, value FROM tw ORDER BY key").fetchall()
        self.assertEqual(len(tw), expect_rows)
        self.assertEqual(kv, tw)
        self.assertEqual(c.execute("SELECT kvstore_verify('kv')").fetchone(),
                         ("ok",))
        c.close()

    def test_workers_forked_after_open_write_beside_the_parent(self):
        def worker(w):
            def body():
                c = connect(self.db, timeout=30)
                for i in range(600):
                    write_both(c, "w%d-%04d" % (w, i), VALUE)
                c.close()
            return body
        pids = [in_child(worker(w)) for w in range(3)]
        for i in range(600):
            write_both(self.parent, "p-%04d" % i, VALUE)
        codes, hung = wait_all(pids)
        self.assertEqual(hung, [], "workers still running after 90 s")
        self.assertEqual(codes, [0, 0, 0])
        self.check_equal(1 + 4 * 600)
        # The parent's connection goes on, and sees the workers' rows.
        write_both(self.parent, "p-last", VALUE)
        self.assertEqual(self.parent.execute("SELECT count(*) FROM kv")
                         .fetchone(), (2 + 4 * 600,))

    def test_child_using_the_parents_connection_gets_misuse(self):
        # SQLite forbids using a connection across fork(); kvstore refuses
        # it clearly instead of sharing the parent's memtable and locks.
        # Closing it in the child must leave the parent's store alone.
        errors = os.path.join(self.dir, "errors")

        def body():
            with open(errors, "w") as out:
                for sql in ("SELECT count(*) FROM kv",
                            "INSERT INTO kv VALUES('child', 1)"):
                    try:
                        self.parent.execute(sql).fetchall()
                        out.write("ok\n")
                    except sqlite3.Error as e:
                        out.write("%s %s\n" % (e.sqlite_errorname, e))
            self.parent.close()
        codes, hung = wait_all([in_child(body)])
        self.assertEqual((codes, hung), ([0], []))
        with open(errors) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 2, lines)
        for line in lines:
            self.assertTrue(line.startswith("SQLITE_MISUSE kvstore:"), line)
            self.assertIn("fork", line)
        # The parent's locks survived the child's close: another process
        # writing beside the parent is still serialized with it.
        def other():
            c = connect(self.db, timeout=30)
            for i in range(300):
                write_both(c, "o-%04d" % i, VALUE)
            c.close()
        pids = [in_child(other)]
        for i in range(300):
            write_both(self.parent, "p-%04d" % i, VALUE)
        codes, hung = wait_all(pids)
        self.assertEqual((codes, hung), ([0], []))
        self.check_equal(1 + 600)


if __name__ == "__main__":
    unittest.main()
