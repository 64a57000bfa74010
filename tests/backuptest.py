#!/usr/bin/python3
"""kvstore_checkpoint and kvstore_backup (doc/backup.md).

    /usr/bin/python3 tests/backuptest.py

Each kvstore table is checked against an ordinary WITHOUT ROWID table
holding the same rows.
"""
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import subprocess
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

def writer_process(path, first, ack_path, stop_path):
    """Another process: each transaction inserts row i into both the
    ordinary table and the kvstore table; i is written to ack_path once
    COMMIT returned. Runs until stop_path exists."""
    conn = kvtest.connect(path)
    conn.execute("PRAGMA busy_timeout=10000")
    i = first
    with open(ack_path, "a") as ack:
        while not os.path.exists(stop_path):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t VALUES(?, ?)", (i, "v%d" % i))
            conn.execute("INSERT INTO kv VALUES(?, ?)", (i, "v%d" % i))
            conn.execute("COMMIT")
            ack.write("%d\n" % i)
            ack.flush()
            i += 1
    conn.close()


def read_acked(ack_path):
    try:
        with open(ack_path) as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kvbackup-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def make_db(self, name="app.db", dir_opt=None, n=500, journal="WAL"):
        os.makedirs(os.path.dirname(self.path(name)), exist_ok=True)
        conn = kvtest.connect(self.path(name))
        conn.execute("PRAGMA journal_mode=%s" % journal)
        conn.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v) WITHOUT ROWID")
        opt = ", dir=%s" % dir_opt if dir_opt else ""
        conn.execute("CREATE VIRTUAL TABLE kv USING kvstore(key_type=integer,"
                     " memtable_size=65536%s)" % opt)
        conn.execute("BEGIN")
        for i in range(n):
            conn.execute("INSERT INTO t VALUES(?, ?)", (i, "v%d" % i))
            conn.execute("INSERT INTO kv VALUES(?, ?)", (i, "v%d" % i))
        conn.execute("COMMIT")
        return conn

    def rows(self, conn, table):
        return conn.execute("SELECT * FROM %s ORDER BY 1" % table).fetchall()


class Checkpoint(Base):
    def test_checkpoint_adopted_same_rows(self):
        conn = self.make_db()
        conn.execute("SELECT kvstore_flush('kv')")
        conn.execute("INSERT INTO kv VALUES(9999, 'memtable')")
        conn.execute("INSERT INTO t VALUES(9999, 'memtable')")
        out = json.loads(conn.execute(
            "SELECT kvstore_checkpoint('kv', 'ck')").fetchone()[0])
        self.assertEqual(set(out), {"files", "bytes", "ms"})
        self.assertGreaterEqual(out["files"], 4)
        self.assertGreater(out["bytes"], 0)
        ck = self.path("ck")
        with open(os.path.join(ck, "OWNER")) as f:
            self.assertIn("state=detached", f.read())
        # The source keeps working.
        conn.execute("INSERT INTO kv VALUES(10000, 'later')")
        # Another database adopts the copy.
        other = kvtest.connect(self.path("other.db"))
        other.execute("CREATE VIRTUAL TABLE u USING kvstore(dir='%s')" % ck)
        expect = self.rows(conn, "t")
        self.assertEqual(self.rows(other, "u"), expect)
        self.assertEqual(other.execute(
            "SELECT kvstore_verify('u')").fetchone()[0], "ok")
        with open(os.path.join(ck, "OWNER")) as f:
            self.assertIn("state=owned", f.read())
        other.execute("DELETE FROM u WHERE key=1")
        self.assertEqual(conn.execute(
            "SELECT value FROM kv WHERE key=1").fetchone()[0], "v1")
        other.close()
        conn.close()

    def test_checkpoint_refuses_nonempty_dir(self):
        conn = self.make_db(n=10)
        os.mkdir(self.path("full"))
        with open(self.path("full", "keep"), "w") as f:
            f.write("mine")
        with self.assertRaises(sqlite3.OperationalError) as cm:
            conn.execute("SELECT kvstore_checkpoint('kv', 'full')")
        self.assertIn("not empty", str(cm.exception))
        self.assertEqual(os.listdir(self.path("full")), ["keep"])
        self.assertFalse(os.path.exists(self.path("full.ckpt-tmp")))
        conn.close()

    def test_checkpoint_destination_with_trailing_slash(self):
        # 'ck/' failed: its temporary sibling became 'ck/.ckpt-tmp', in a
        # folder that did not exist yet.
        conn = self.make_db(n=20)
        out = json.loads(conn.execute(
            "SELECT kvstore_checkpoint('kv', 'ck/')").fetchone()[0])
        self.assertGreaterEqual(out["files"], 4)
        self.assertFalse(os.path.exists(self.path("ck.ckpt-tmp")))
        other = kvtest.connect(self.path("other.db"))
        other.execute("CREATE VIRTUAL TABLE u USING kvstore(dir='%s/')"
                      % self.path("ck"))
        self.assertEqual(self.rows(other, "u"), self.rows(conn, "t"))
        other.close()
        conn.close()


class Backup(Base):
    def check_copy(self, db_path, expect_min=None):
        conn = kvtest.connect(db_path)
        t = self.rows(conn, "t")
        kv = self.rows(conn, "kv")
        self.assertEqual(conn.execute(
            "SELECT kvstore_verify('kv')").fetchone()[0], "ok")
        conn.close()
        return t, kv

    def test_backup_names_with_dots_and_quotes(self):
        # Schemas and tables whose names hold a dot or a double quote: the
        # backup named each table to the lookup as schema.table, unquoted,
        # found none, and refused the whole backup.
        c = kvtest.connect(self.path("main.db"))
        for i, schema in enumerate(('s"q', "s.d")):
            c.execute("ATTACH ? AS \"%s\"" % schema.replace('"', '""'),
                      (self.path("other%d.db" % i),))
            q = '"%s"' % schema.replace('"', '""')
            for table in ('"k.v"', '"k""v"', "kv"):
                c.execute("CREATE VIRTUAL TABLE %s.%s USING kvstore"
                          % (q, table))
                c.execute("INSERT INTO %s.%s VALUES('a', ?)" % (q, table),
                          (schema,))
        for i, schema in enumerate(('s"q', "s.d")):
            dest = self.path("copy%d.db" % i)
            out = json.loads(c.execute("SELECT kvstore_backup(?, ?)",
                                       (dest, schema)).fetchone()[0])
            self.assertGreater(out["files"], 3)
            b = kvtest.connect(dest)
            for table in ('"k.v"', '"k""v"', "kv"):
                self.assertEqual(b.execute("SELECT * FROM %s" % table)
                                 .fetchall(), [("a", schema)])
            b.close()
        c.close()

    def test_backup_moved_folder_opens(self):
        conn = self.make_db()
        os.makedirs(self.path("bk"))
        out = json.loads(conn.execute("SELECT kvstore_backup(?)",
                                      (self.path("bk", "copy.db"),)
                                      ).fetchone()[0])
        self.assertEqual(set(out), {"files", "bytes", "ms"})
        self.assertTrue(os.path.isdir(self.path("bk", "copy.db-kv.kvstore")))
        expect = self.rows(conn, "t")
        conn.close()
        shutil.move(self.path("bk"), self.path("moved"))
        t, kv = self.check_copy(self.path("moved", "copy.db"))
        self.assertEqual(t, expect)
        self.assertEqual(kv, expect)
        # The copy is not the original: DROP TABLE in the copy removes the
        # copy's store only.
        copy = kvtest.connect(self.path("moved", "copy.db"))
        copy.execute("DROP TABLE kv")
        copy.close()
        self.assertFalse(os.path.exists(
            self.path("moved", "copy.db-kv.kvstore")))
        conn = kvtest.connect(self.path("app.db"))
        self.assertEqual(self.rows(conn, "kv"), expect)
        conn.close()

    def test_backup_relative_dir(self):
        conn = self.make_db(dir_opt="'kvdata'")
        os.makedirs(self.path("bk"))
        conn.execute("SELECT kvstore_backup(?)", (self.path("bk", "c.db"),))
        self.assertTrue(os.path.isdir(self.path("bk", "kvdata")))
        expect = self.rows(conn, "t")
        conn.close()
        shutil.move(self.path("bk"), self.path("moved"))
        t, kv = self.check_copy(self.path("moved", "c.db"))
        self.assertEqual((t, kv), (expect, expect))

    def test_backup_absolute_dir_refused(self):
        conn = self.make_db(dir_opt="'%s'" % self.path("abs"), n=10)
        os.makedirs(self.path("bk"))
        with self.assertRaises(sqlite3.OperationalError) as cm:
            conn.execute("SELECT kvstore_backup(?)", (self.path("bk", "c.db"),))
        self.assertIn("table kv", str(cm.exception))
        self.assertIn("absolute", str(cm.exception))
        self.assertEqual(os.listdir(self.path("bk")), [])
        conn.close()

    def test_backup_refuses_existing_dest(self):
        conn = self.make_db(n=10)
        with open(self.path("exists.db"), "w") as f:
            f.write("x")
        with self.assertRaises(sqlite3.OperationalError) as cm:
            conn.execute("SELECT kvstore_backup(?)", (self.path("exists.db"),))
        self.assertIn("exists", str(cm.exception))
        with open(self.path("exists.db")) as f:
            self.assertEqual(f.read(), "x")
        conn.close()

    def test_backup_failure_leaves_nothing(self):
        conn = self.make_db(n=50)
        os.makedirs(self.path("ro"))
        os.chmod(self.path("ro"), 0o555)
        try:
            if os.access(self.path("ro"), os.W_OK):
                self.skipTest("running as a user who can write anywhere")
            with self.assertRaises(sqlite3.Error):
                conn.execute("SELECT kvstore_backup(?)",
                              (self.path("ro", "c.db"),))
            self.assertEqual(os.listdir(self.path("ro")), [])
        finally:
            os.chmod(self.path("ro"), 0o755)
        conn.close()

    def test_backup_failure_dest_folder_not_writable(self):
        # Root can write into a 0555 folder: a folder that is a file cannot
        # be written by anyone.
        conn = self.make_db(n=50)
        with open(self.path("notdir"), "w") as f:
            f.write("x")
        before = sorted(os.listdir(self.dir))
        with self.assertRaises(sqlite3.Error) as cm:
            conn.execute("SELECT kvstore_backup(?)",
                         (self.path("notdir", "c.db"),))
        self.assertIn("kvstore_backup", str(cm.exception))
        self.assertEqual(sorted(os.listdir(self.dir)), before)
        conn.close()

    def test_backup_failure_after_db_copy_removes_it(self):
        # The store's destination is a file: the database copy was already
        # written when its checkpoint fails; both must be gone.
        conn = self.make_db(n=50)
        conn.execute("CREATE VIRTUAL TABLE kv2 USING kvstore")
        conn.execute("INSERT INTO kv2 VALUES('a', 'b')")
        os.makedirs(self.path("bk"))
        # kv2 sorts after kv: kv is copied, then kv2 fails.
        os.mkdir(self.path("bk", "c.db-kv2.kvstore.ckpt-tmp"))
        with self.assertRaises(sqlite3.Error):
            conn.execute("SELECT kvstore_backup(?)", (self.path("bk", "c.db"),))
        self.assertEqual(os.listdir(self.path("bk")),
                         ["c.db-kv2.kvstore.ckpt-tmp"])
        conn.close()

    def test_backup_while_another_process_commits(self):
        self.concurrent("WAL")

    def test_backup_while_another_process_commits_rollback_journal(self):
        self.concurrent("DELETE")

    def test_backup_while_this_process_overwrites_and_compacts(self):
        # Another connection of this process overwrites every row and
        # compacts while the backup runs. The store copy, made after the
        # database's, holds later batches that its horizon revokes at open;
        # the code before let a compaction drop the versions they had
        # overwritten in between, and the copy's kvstore table came back
        # empty where its twin held 20 rows (8 runs in 40 here).
        for run in range(10):
            sub = self.path("run%d" % run)
            os.makedirs(os.path.join(sub, "bk"))
            conn = kvtest.connect(os.path.join(sub, "app.db"))
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("CREATE VIRTUAL TABLE kv USING kvstore")
            conn.execute("CREATE TABLE t(k TEXT PRIMARY KEY, v) WITHOUT ROWID")
            conn.execute("CREATE TABLE pad(x)")     # a longer database copy
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO pad VALUES(?)",
                             [(os.urandom(4000),) for _ in range(3000)])
            conn.execute("COMMIT")
            stop = threading.Event()
            errors = []

            def overwrite():
                w = kvtest.connect(os.path.join(sub, "app.db"))
                w.execute("PRAGMA busy_timeout=10000")
                n = 0
                try:
                    while not stop.is_set():
                        n += 1
                        w.execute("BEGIN IMMEDIATE")
                        for k in range(20):
                            for t in ("kv", "t"):
                                w.execute("INSERT OR REPLACE INTO %s "
                                          "VALUES(?, ?)" % t, ("k%02d" % k, n))
                        w.execute("COMMIT")
                        if n % 2 == 0:
                            w.execute("SELECT kvstore_compact('kv', 'full')"
                                      ).fetchall()
                except sqlite3.Error as e:
                    errors.append(e)
                w.close()

            th = threading.Thread(target=overwrite)
            th.start()
            time.sleep(0.05)
            try:
                conn.execute("SELECT kvstore_backup(?)",
                             (os.path.join(sub, "bk", "c.db"),)).fetchall()
            finally:
                stop.set()
                th.join()
            conn.close()
            self.assertEqual(errors, [])
            c = kvtest.connect(os.path.join(sub, "bk", "c.db"))
            t = self.rows(c, "t")
            self.assertEqual(self.rows(c, "kv"), t, "run %d" % run)
            c.close()
            shutil.rmtree(sub)

    def concurrent(self, journal):
        conn = self.make_db(n=200, journal=journal)
        conn.execute("PRAGMA busy_timeout=10000")
        ack, stop = self.path("acked"), self.path("stop")
        # The writer is another process: many processes share a store.
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--writer",
             self.path("app.db"), "1000", ack, stop],
            stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 20
            while (len(read_acked(ack)) < 200 and proc.poll() is None
                   and time.time() < deadline):
                time.sleep(0.01)
            before = read_acked(ack)
            self.assertGreaterEqual(len(before), 200, proc.poll())
            os.makedirs(self.path("bk"))
            conn.execute("SELECT kvstore_backup(?)", (self.path("bk", "c.db"),))
            n = len(read_acked(ack))
            while (len(read_acked(ack)) < n + 20 and proc.poll() is None
                   and time.time() < deadline):
                time.sleep(0.01)
        finally:
            open(stop, "w").close()
            _, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        acked = read_acked(ack)
        self.assertGreater(len(acked), len(before))   # it ran during the call
        conn.close()
        shutil.move(self.path("bk"), self.path("moved"))
        t, kv = self.check_copy(self.path("moved", "c.db"))
        tk = {r[0] for r in t}
        kvk = {r[0] for r in kv}
        # Everything acknowledged before the call is in both tables.
        self.assertTrue(set(before) <= tk)
        self.assertTrue(set(before) <= kvk)
        # Every transaction the database copy holds is in the store copy
        # (the store is copied after the database's snapshot), with the
        # same values. Until the commit horizon revokes later batches at
        # open, the store copy may hold a few more.
        self.assertTrue(tk <= kvk, sorted(tk - kvk)[:5])
        self.assertEqual([r for r in kv if r[0] in tk], t)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--writer":
        writer_process(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
        sys.exit(0)
    unittest.main(verbosity=2)
