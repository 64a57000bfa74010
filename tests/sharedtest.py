#!/usr/bin/python3
"""One database, several connections of one process, and databases
without a file: a shared cache (cache=shared, on a file and in memory),
the memdb VFS and sqlite3_deserialize. Each case runs the same statements
on a kvstore table and on an ordinary WITHOUT ROWID twin and expects the
same outcome.

    /usr/bin/python3 tests/sharedtest.py

What went wrong before (doc/ownership.md, "Databases without a file" and
"Shared cache"): each connection of a shared in-memory database had a
store of its own, so two connections of one database saw different rows;
a memdb database named "/x" put its store in "/x-kv.kvstore", in the root
directory, where it outlived the database; a deserialized copy looked for
"x-kv.kvstore" in the current directory; and in a shared cache a read
transaction saw other connections' commits (the pager's data version
does not change for them) where an ordinary table keeps writers out with
its table lock.
"""
import collections
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

SQLITE_LOCKED = 6
SQLITE_CANTOPEN = 14
TABLES = ("kv", "t")


def primary(e):
    return e.sqlite_errorcode & 0xff


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kvshared-")
        self.tmp = os.path.join(self.dir, "tmp")
        os.mkdir(self.tmp)
        self.old_tmpdir = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = self.tmp     # private directories go here
        self.cwd = os.getcwd()
        os.chdir(self.dir)
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        os.chdir(self.cwd)
        if self.old_tmpdir is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = self.old_tmpdir
        shutil.rmtree(self.dir, ignore_errors=True)

    def connect(self, path, uri=True):
        c = kvtest.connect(path, uri=uri)
        self.conns.append(c)
        return c

    def close(self, c):
        c.close()
        self.conns.remove(c)

    def create(self, c):
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore")
        c.execute("CREATE TABLE t(key TEXT PRIMARY KEY, value) WITHOUT ROWID")

    def rows(self, c, tab):
        return c.execute("SELECT key, value FROM %s ORDER BY key"
                         % tab).fetchall()

    def two_see_each_other(self, uri):
        """Two connections of uri: each sees the other's rows, in both
        tables."""
        a = self.connect(uri)
        b = self.connect(uri)
        self.create(a)
        for tab in TABLES:
            a.execute("INSERT INTO %s VALUES ('a', 1)" % tab)
            self.assertEqual(self.rows(b, tab), [("a", 1)], tab)
            b.execute("INSERT INTO %s VALUES ('b', 2)" % tab)
            self.assertEqual(self.rows(a, tab), [("a", 1), ("b", 2)], tab)
        return a, b


class SharedCache(Base):
    def read_transaction_keeps_writers_out(self, uri):
        a = self.connect(uri)
        b = self.connect(uri)
        self.create(a)
        for tab in TABLES:
            a.execute("INSERT INTO %s VALUES ('g', 0)" % tab)
            # b has used the table before a's transaction, and not.
            a.execute("BEGIN")
            self.assertEqual(self.rows(a, tab), [("g", 0)])
            with self.assertRaises(sqlite3.OperationalError) as cm:
                b.execute("UPDATE %s SET value = value + 1 WHERE key = 'g'"
                          % tab)
            self.assertEqual(primary(cm.exception), SQLITE_LOCKED, tab)
            self.assertIn("database table is locked", str(cm.exception))
            self.assertEqual(self.rows(a, tab), [("g", 0)], tab)
            a.execute("UPDATE %s SET value = value + 1 WHERE key = 'g'" % tab)
            a.execute("COMMIT")
            b.execute("UPDATE %s SET value = value + 1 WHERE key = 'g'" % tab)
            self.assertEqual(self.rows(a, tab), [("g", 2)], tab)
            self.assertEqual(self.rows(b, tab), [("g", 2)], tab)
        return a, b

    def test_file_shared_cache_read_transaction_keeps_writers_out(self):
        self.read_transaction_keeps_writers_out("file:a.db?cache=shared")

    def test_memory_shared_cache_read_transaction_keeps_writers_out(self):
        self.read_transaction_keeps_writers_out(
            "file:m%s?mode=memory&cache=shared" % uuid.uuid4().hex)

    def test_memory_shared_cache_one_store_for_every_connection(self):
        uri = "file:m%s?mode=memory&cache=shared" % uuid.uuid4().hex
        a, b = self.two_see_each_other(uri)
        self.assertEqual(len(os.listdir(self.tmp)), 1)
        # The database lives while any connection does; so does the store.
        self.close(a)
        c = self.connect(uri)
        for tab in TABLES:
            self.assertEqual(self.rows(c, tab), [("a", 1), ("b", 2)], tab)
        self.close(b)
        self.close(c)
        self.assertEqual(os.listdir(self.tmp), [])
        # A new database of the same name starts empty, as SQLite's does.
        d = self.connect(uri)
        self.assertEqual(d.execute("SELECT name FROM sqlite_schema").fetchall(),
                         [])

    def test_shared_cache_drop_waits_for_the_other_connections(self):
        uri = "file:m%s?mode=memory&cache=shared" % uuid.uuid4().hex
        a = self.connect(uri)
        b = self.connect(uri)
        self.create(a)
        a.execute("INSERT INTO kv VALUES ('a', 1)")
        self.assertEqual(self.rows(b, "kv"), [("a", 1)])
        # b's connection still holds the table (SQLite disconnects it at
        # b's close): refused, nothing deleted.
        with self.assertRaises(sqlite3.OperationalError) as cm:
            a.execute("DROP TABLE kv")
        self.assertIn("database is locked", str(cm.exception))
        self.assertEqual(self.rows(b, "kv"), [("a", 1)])
        self.close(b)
        a.execute("DROP TABLE kv")
        self.assertEqual(os.listdir(self.tmp), [])


    def increments_from_threads(self, uri):
        """Four threads, a connection each, read-modify-write the same few
        keys of both tables in one transaction: every acknowledged
        increment is there once, in both (no lost update)."""
        keep = self.connect(uri)
        self.create(keep)
        acked = collections.Counter()
        failures = []
        lock = threading.Lock()

        def worker(n):
            c = kvtest.connect(uri, uri=True)
            rng = random.Random(n)
            try:
                for _ in range(150):
                    k = "k%d" % rng.randrange(20)
                    try:
                        c.execute("BEGIN IMMEDIATE" if rng.random() < 0.5
                                  else "BEGIN")
                        v = c.execute("SELECT value FROM kv WHERE key = ?",
                                      (k,)).fetchone()
                        w = c.execute("SELECT value FROM t WHERE key = ?",
                                      (k,)).fetchone()
                        if v != w:
                            with lock:
                                failures.append((k, v, w))
                        n1 = (v[0] if v else 0) + 1
                        for tab in TABLES:
                            c.execute("INSERT OR REPLACE INTO %s VALUES (?, ?)"
                                      % tab, (k, n1))
                        c.execute("COMMIT")
                        with lock:
                            acked[k] += 1
                    except sqlite3.OperationalError as e:
                        if primary(e) != SQLITE_LOCKED:
                            with lock:
                                failures.append(str(e))
                        if not c.in_transaction:
                            continue
                        c.execute("ROLLBACK")
            finally:
                c.close()

        threads = [threading.Thread(target=worker, args=(i,))
                   for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(failures, [])
        self.assertGreater(sum(acked.values()), 0)
        self.assertEqual(self.rows(keep, "kv"), self.rows(keep, "t"))
        self.assertEqual(dict(self.rows(keep, "kv")), dict(acked))

    def test_file_shared_cache_threads_lose_no_update(self):
        self.increments_from_threads("file:a.db?cache=shared")

    def test_memory_shared_cache_threads_lose_no_update(self):
        self.increments_from_threads(
            "file:m%s?mode=memory&cache=shared" % uuid.uuid4().hex)


class NoFile(Base):
    def test_memdb_vfs_store_is_private_not_beside_its_name(self):
        name = "/kvshared-%s" % uuid.uuid4().hex
        uri = "file:%s?vfs=memdb" % name
        probe = self.connect(uri)
        named = probe.execute("PRAGMA database_list").fetchone()[2] != ""
        if named:
            # SQLite tells the name (3.40 does): connections opening one
            # '/...' name are one database, and share its stores.
            a, b = self.two_see_each_other(uri)
        else:
            # SQLite hides it (3.53 does): a connection finds the store
            # of the connection that made it only through a shared cache;
            # the other one says so instead of showing an empty table.
            a = self.connect(uri)
            b = self.connect(uri)
            self.create(a)
            a.execute("INSERT INTO kv VALUES ('a', 1)")
            with self.assertRaises(sqlite3.OperationalError) as cm:
                self.rows(b, "kv")
            self.assertIn("is missing", str(cm.exception))
        self.close(probe)
        self.assertFalse(os.path.exists(name + "-kv.kvstore"))
        self.assertEqual(len(os.listdir(self.tmp)), 1)
        self.close(a)
        self.close(b)
        self.assertEqual(os.listdir(self.tmp), [])
        self.assertFalse(os.path.exists(name + "-kv.kvstore"))

    def deserialized_copy_refused_original_kept(self, src):
        self.create(src)
        src.execute("INSERT INTO kv VALUES ('a', 1)")
        src.execute("INSERT INTO t VALUES ('a', 1)")
        data = src.serialize()
        before = sorted(os.listdir(self.dir))
        copy = self.connect(":memory:", uri=False)
        copy.deserialize(data)
        # The ordinary table's rows are in the copy; kvstore's are not,
        # and the copy says so instead of showing an empty table.
        self.assertEqual(self.rows(copy, "t"), [("a", 1)])
        for sql in ("SELECT * FROM kv", "INSERT INTO kv VALUES ('b', 2)"):
            with self.assertRaises(sqlite3.OperationalError) as cm:
                copy.execute(sql)
            self.assertTrue(str(cm.exception).startswith("kvstore: "))
            self.assertIn("is missing", str(cm.exception))
        copy.execute("DROP TABLE kv")     # deletes nothing of the original
        self.assertEqual(self.rows(src, "kv"), [("a", 1)])
        self.assertEqual(sorted(os.listdir(self.dir)), before)
        return copy

    def test_deserialized_copy_of_memory_database_refused(self):
        src = self.connect(":memory:", uri=False)
        self.deserialized_copy_refused_original_kept(src)
        self.assertEqual(len(os.listdir(self.tmp)), 1)   # the original's

    def test_deserialized_copy_of_file_database_refused(self):
        src = self.connect("a.db", uri=False)
        copy = self.deserialized_copy_refused_original_kept(src)
        # A new table in the deserialized database gets a private store.
        copy.execute("CREATE VIRTUAL TABLE kv2 USING kvstore")
        copy.execute("INSERT INTO kv2 VALUES ('z', 26)")
        self.assertEqual(self.rows(copy, "kv2"), [("z", 26)])
        self.assertFalse(os.path.exists(os.path.join(self.dir,
                                                     "x-kv2.kvstore")))
        self.assertEqual(len(os.listdir(self.tmp)), 1)


if __name__ == "__main__":
    unittest.main(verbosity=1)
