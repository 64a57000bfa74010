#!/usr/bin/python3
"""Client-level tests of the kvstore virtual table through Python's sqlite3
module: exact value round trips, error codes, sharing within a process,
the lock against another process, private directories, reopening.

    /usr/bin/python3 tests/apitest.py
"""
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

SQLITE_BUSY = 5
SQLITE_TOOBIG = 18
SQLITE_CONSTRAINT_NOTNULL = 1299
SQLITE_CONSTRAINT_PRIMARYKEY = 1555
SQLITE_CONSTRAINT_DATATYPE = 3091


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kvapi-")
        self.path = os.path.join(self.dir, "t.db")
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def connect(self, path=None, **kw):
        c = kvtest.connect(path or self.path, **kw)
        self.conns.append(c)
        return c


class Values(Base):
    def test_round_trip(self):
        c = self.connect()
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore")
        values = [None, 0, 1, -1, 127, 128, -128, -129, 2**31, -2**31,
                  2**63 - 1, -2**63, 0.0, -0.0, 1.5, -1e-310, 1e308,
                  float("inf"), float("-inf"), "", "text", "nul\x00inside",
                  "\u4e2d\u6587", b"", b"\x00", bytes(range(256)) * 10]
        for i, v in enumerate(values):
            c.execute("INSERT INTO kv VALUES (?, ?)", ("k%03d" % i, v))
        c.close()
        self.conns.remove(c)
        c = self.connect()
        got = [v for (v,) in c.execute("SELECT value FROM kv ORDER BY key")]
        self.assertEqual(kvtest.tag_rows([[v] for v in got]),
                         kvtest.tag_rows([[v] for v in values]))
        # The sign of zero survives (an ordinary table loses it).
        self.assertEqual(math.copysign(1.0, got[values.index(-0.0, 13)]), -1.0)

    def test_large_value_and_limits(self):
        c = self.connect()
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore("
                  "max_value_size='1MB', max_key_size=100)")
        big = os.urandom(1024 * 1024 - 1)      # plus the type byte: 1 MiB
        c.execute("INSERT INTO kv VALUES ('big', ?)", (big,))
        self.assertEqual(c.execute(
            "SELECT value FROM kv WHERE key = 'big'").fetchone()[0], big)
        with self.assertRaises(sqlite3.DataError) as cm:
            c.execute("INSERT INTO kv VALUES ('big2', ?)", (big + b"x",))
        self.assertEqual(cm.exception.sqlite_errorcode, SQLITE_TOOBIG)
        self.assertIn("max_value_size", str(cm.exception))
        with self.assertRaises(sqlite3.DataError) as cm:
            c.execute("INSERT INTO kv VALUES (?, 1)", ("k" * 101,))
        self.assertEqual(cm.exception.sqlite_errorcode, SQLITE_TOOBIG)
        self.assertIn("max_key_size", str(cm.exception))

    def test_integer_keys_full_range(self):
        c = self.connect()
        c.execute("CREATE VIRTUAL TABLE n USING kvstore(key_type=integer)")
        keys = [-2**63, -2**63 + 1, -2**32, -1, 0, 1, 2**32, 2**63 - 2,
                2**63 - 1]
        c.executemany("INSERT INTO n VALUES (?, 'x')", [(k,) for k in keys])
        self.assertEqual([k for (k,) in c.execute("SELECT key FROM n")], keys)
        self.assertEqual(
            [k for (k,) in c.execute("SELECT key FROM n ORDER BY key DESC")],
            keys[::-1])
        self.assertEqual([k for (k,) in c.execute(
            "SELECT key FROM n WHERE key > ? AND key < ?", (-2**63, 2**63 - 1))],
            keys[1:-1])


class Errors(Base):
    def test_constraint_codes(self):
        c = self.connect()
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore(key_type=integer)")
        c.execute("INSERT INTO kv VALUES (1, 'a')")
        cases = [("INSERT INTO kv VALUES (1, 'b')",
                  SQLITE_CONSTRAINT_PRIMARYKEY, "UNIQUE constraint failed: kv.key"),
                 ("INSERT INTO kv VALUES (NULL, 'b')",
                  SQLITE_CONSTRAINT_NOTNULL, "NOT NULL constraint failed: kv.key"),
                 ("INSERT INTO kv VALUES ('x', 'b')",
                  SQLITE_CONSTRAINT_DATATYPE,
                  "cannot store TEXT value in INTEGER column kv.key")]
        for sql, code, msg in cases:
            with self.assertRaises(sqlite3.IntegrityError) as cm:
                c.execute(sql)
            self.assertEqual(cm.exception.sqlite_errorcode, code, sql)
            self.assertEqual(str(cm.exception), msg)

    def test_create_errors_name_the_option(self):
        c = self.connect()
        for args, needle in [("bogus=1", "unknown option 'bogus'"),
                             ("sync=full, sync=off", "duplicate option 'sync'"),
                             ("levels=x", "'levels'")]:
            with self.assertRaises(sqlite3.Error) as cm:
                c.execute("CREATE VIRTUAL TABLE t USING kvstore(%s)" % args)
            self.assertIn(needle, str(cm.exception))
            self.assertTrue(str(cm.exception).startswith("kvstore: "))


class Sharing(Base):
    def test_connections_share_and_see_commits(self):
        a = self.connect()
        a.execute("CREATE VIRTUAL TABLE kv USING kvstore")
        b = self.connect()
        a.execute("BEGIN")
        a.execute("INSERT INTO kv VALUES ('k', 1)")
        # Not committed: the other connection does not see it.
        self.assertEqual(b.execute("SELECT count(*) FROM kv").fetchone()[0], 0)
        a.execute("COMMIT")
        self.assertEqual(b.execute("SELECT value FROM kv").fetchone()[0], 1)

    def test_second_database_file_refused(self):
        # Two database files naming one directory: sharing a store is
        # retired (doc/ownership.md); the second CREATE is refused and the
        # first table keeps its rows.
        store = os.path.join(self.dir, "store")
        a = self.connect(os.path.join(self.dir, "a.db"))
        b = self.connect(os.path.join(self.dir, "b.db"))
        a.execute("CREATE VIRTUAL TABLE kv USING kvstore(dir='%s')" % store)
        a.execute("INSERT INTO kv VALUES ('a', 1)")
        with self.assertRaises(sqlite3.OperationalError) as cm:
            b.execute("CREATE VIRTUAL TABLE kv USING kvstore(dir='%s')"
                      % store)
        self.assertIn("a store belongs to one table", str(cm.exception))
        self.assertTrue(str(cm.exception).startswith("kvstore: "))
        self.assertEqual(a.execute("SELECT * FROM kv").fetchall(),
                         [("a", 1)])

    def test_other_process_reads_and_writes(self):
        """Many processes share a table: another process reads what this
        one committed, writes, and this one sees it."""
        a = self.connect()
        a.execute("CREATE VIRTUAL TABLE kv USING kvstore")
        a.execute("INSERT INTO kv VALUES ('k', 1)")
        code = ("import sys; sys.path.insert(0, %r); import kvtest\n"
                "c = kvtest.connect(%r)\n"
                "print(c.execute('SELECT * FROM kv').fetchall())\n"
                "c.execute(\"INSERT INTO kv VALUES ('from-child', 2)\")\n"
                % (os.path.dirname(os.path.abspath(__file__)), self.path))
        r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "[('k', 1)]")
        self.assertEqual(a.execute("SELECT * FROM kv ORDER BY key").fetchall(),
                         [("from-child", 2), ("k", 1)])


class Directories(Base):
    def test_private_directory_removed_at_close(self):
        tmp = os.path.join(self.dir, "tmp")
        os.mkdir(tmp)
        old = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = tmp
        try:
            c = self.connect(":memory:")
            c.execute("CREATE VIRTUAL TABLE kv USING kvstore")
            c.execute("CREATE VIRTUAL TABLE temp.t USING kvstore")
            c.execute("INSERT INTO kv VALUES ('a', 1)")
            c.execute("BEGIN")
            c.execute("CREATE TABLE x(a)")
            c.execute("ROLLBACK")          # schema reset: tables reconnect
            self.assertEqual(c.execute("SELECT * FROM kv").fetchall(),
                             [("a", 1)])
            self.assertEqual(len(os.listdir(tmp)), 2)
            c.execute("DROP TABLE temp.t")
            self.assertEqual(len(os.listdir(tmp)), 1)
            c.close()
            self.conns.remove(c)
            self.assertEqual(os.listdir(tmp), [])
        finally:
            if old is None:
                del os.environ["TMPDIR"]
            else:
                os.environ["TMPDIR"] = old

    def test_reopen_from_elsewhere(self):
        c = self.connect()
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore(dir='data')")
        c.execute("INSERT INTO kv VALUES ('a', 1)")
        c.close()
        self.conns.remove(c)
        cwd = os.getcwd()
        os.chdir("/")
        try:
            c = self.connect()
            self.assertEqual(c.execute("SELECT * FROM kv").fetchall(),
                             [("a", 1)])
        finally:
            os.chdir(cwd)
        self.assertTrue(os.path.isdir(os.path.join(self.dir, "data")))

    def test_drop_removes_only_the_store(self):
        c = self.connect()
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore(dir='data')")
        c.execute("INSERT INTO kv VALUES ('a', 1)")
        with open(os.path.join(self.dir, "data", "notes.txt"), "w") as f:
            f.write("mine")
        c.execute("DROP TABLE kv")
        # The store goes once the DROP committed: at the connection's next
        # use of kvstore (this CREATE), or at its close.
        c.execute("CREATE VIRTUAL TABLE kv2 USING kvstore")
        self.assertEqual(os.listdir(os.path.join(self.dir, "data")),
                         ["notes.txt"])
        c.execute("DROP TABLE kv2")
        c.close()
        self.conns.remove(c)
        self.assertFalse(os.path.exists(self.path + "-kv2.kvstore"))


if __name__ == "__main__":
    unittest.main(verbosity=1)
