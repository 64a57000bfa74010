#!/usr/bin/python3
"""A full disk: reads need no free space, writes fail with SQLITE_FULL and
resume, in the same connection, once there is room again.

The store lives on a 2 MiB tmpfs mounted for the test (root only; the test
says so and skips elsewhere). Run with Debian's /usr/bin/python3.
"""
import os
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kvtest import connect  # noqa: E402

SQLITE_FULL = 13


def fill(path):
    """Write zeros to path until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


class FullDisk(unittest.TestCase):
    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="kvfull-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                            self.mnt], capture_output=True, text=True)
        if r.returncode != 0:
            os.rmdir(self.mnt)
            self.skipTest("cannot mount a tmpfs here: " + r.stderr.strip())

    def tearDown(self):
        subprocess.run(["umount", self.mnt])
        os.rmdir(self.mnt)

    def test_reads_need_no_space_and_writes_resume(self):
        db = os.path.join(self.mnt, "app.db")
        c = connect(db)
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore")
        c.execute("INSERT INTO kv VALUES('a', 1), ('b', 2)")
        c.close()
        store = db + "-kv.kvstore"
        filler = os.path.join(self.mnt, "fill")
        fill(filler)
        before = sorted(os.listdir(store))

        c = connect(db)
        self.assertEqual(c.execute("SELECT key, value FROM kv ORDER BY key")
                         .fetchall(), [("a", 1), ("b", 2)])
        with self.assertRaises(sqlite3.Error) as cm:
            c.execute("INSERT INTO kv VALUES('c', 3)")
        self.assertEqual(cm.exception.sqlite_errorcode, SQLITE_FULL,
                         str(cm.exception))
        self.assertIn("kvstore:", str(cm.exception))
        self.assertIn(store, str(cm.exception))
        # Nothing half-written was left behind by the failed open.
        self.assertEqual(sorted(os.listdir(store)), before)

        os.unlink(filler)
        c.execute("INSERT INTO kv VALUES('c', 3)")
        self.assertEqual(c.execute("SELECT count(*) FROM kv").fetchone()[0], 3)
        c.close()
        c = connect(db)
        self.assertEqual(c.execute("SELECT key FROM kv ORDER BY key")
                         .fetchall(), [("a",), ("b",), ("c",)])
        self.assertEqual(c.execute("SELECT kvstore_verify('kv')").fetchone()[0],
                         "ok")
        c.close()

    def test_store_opened_read_only_sees_later_commits_of_another_process(self):
        # A connection that opened the store for reading only (the disk
        # was full) holds it as of that open. Another process, opened once
        # there was room, commits: the connection must read those rows as
        # the ordinary table beside them shows its own (it missed them).
        db = os.path.join(self.mnt, "app.db")
        c = connect(db)
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore")
        c.execute("CREATE TABLE tw(key PRIMARY KEY, value) WITHOUT ROWID")
        for t in ("kv", "tw"):
            c.execute(f"INSERT INTO {t} VALUES('a', 1), ('b', 2)")
        c.close()
        filler = os.path.join(self.mnt, "fill")
        fill(filler)
        reader = connect(db)
        self.assertEqual(reader.execute("SELECT count(*) FROM kv").fetchone(),
                         (2,))
        try:
            os.unlink(filler)
            writer = subprocess.run(
                [sys.executable, "-c", WRITER, db,
                 os.path.dirname(os.path.abspath(__file__))],
                capture_output=True, text=True)
            self.assertEqual(writer.returncode, 0, writer.stderr)
            for q in ("SELECT key, value FROM {t} ORDER BY key",
                      "SELECT value FROM {t} WHERE key = 'c'"):
                self.assertEqual(reader.execute(q.format(t="kv")).fetchall(),
                                 reader.execute(q.format(t="tw")).fetchall(),
                                 q)
        finally:
            reader.close()


WRITER = r"""
import sys
sys.path.insert(0, sys.argv[2])
from kvtest import connect
c = connect(sys.argv[1])
c.execute("BEGIN")
for t in ("kv", "tw"):
    c.execute(f"INSERT INTO {t} VALUES('c', 3), ('d', 4)")
c.execute("COMMIT")
"""


if __name__ == "__main__":
    unittest.main(verbosity=1)
