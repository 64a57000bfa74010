#!/usr/bin/python3
"""sqlite3_interrupt stops kvstore_compact(t, 'full'), kvstore_checkpoint
and kvstore_backup promptly and leaves the store as it was (and no copy
that looks complete); kvstore_stats shows their progress meanwhile (from
another connection, in another thread).

    /usr/bin/python3 tests/interrupttest.py

With SQLite >= 3.41 the extension asks sqlite3_is_interrupted(); with an
older library (Debian 12 has 3.40) it steps a nested "SELECT 1", which
fails with SQLITE_INTERRUPT once the connection is interrupted. Run it with
LD_LIBRARY_PATH pointing at a newer libsqlite3.so.0 to test the other path;
the line printed first says which library ran.
"""
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

ROWS = int(os.environ.get("INTERRUPT_ROWS", "400000"))
LIMIT_MS = 100


def sst_files(store):
    return sorted(f for f in os.listdir(store) if f.endswith(".sst"))


class Interrupt(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="kvint-")
        cls.path = os.path.join(cls.dir, "t.db")
        cls.store = os.path.join(cls.dir, "store")
        c = kvtest.connect(cls.path)
        # Small memtable and no background compaction: the load leaves
        # several tables (its duplicate checks set off a seek compaction
        # of the first flushes into level 1), so the full compaction has
        # everything to merge.
        # dir relative to the database's folder: kvstore_backup places
        # the copy's store beside the copy. txn_spill=0: each part's
        # transaction goes through the memtable (flushing many tables), not
        # to one table of its own (doc/spill.md).
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore(dir='store',"
                  " memtable_size='4MB', level0_trigger=64, background=off,"
                  " sync=off, txn_spill=0)")
        for part in range(4):
            c.execute("BEGIN")
            c.execute("WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i+4"
                      " FROM n WHERE i+4 < ?) INSERT INTO kv SELECT"
                      " printf('key%09d', i), randomblob(80) FROM n",
                      (part, ROWS))
            c.execute("COMMIT")
            c.execute("SELECT kvstore_flush('kv')")
        c.close()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def state(self, c):
        merkle = c.execute("SELECT kvstore_merkle('kv')").fetchone()[0]
        store = os.path.join(os.path.dirname(c.execute(
            "PRAGMA database_list").fetchone()[2]), "store")
        return merkle, sst_files(store)

    def interrupt_copy(self, sql, section, dest_paths, path=None,
                       phase=(5, 1)):
        """Run sql (a copy) in a thread on connection a; once
        kvstore_stats('kv') shows its section running past a fifth of its
        bytes, interrupt a. Returns (progress seen, ms from the interrupt
        to the end, the error). A copy that finished before the interrupt
        reached it is removed and tried again (the hard-linked copy of this
        store takes about 150 ms)."""
        path = path or self.path
        lo, hi = phase
        for attempt in range(8):
            a = sqlite3.connect(path, isolation_level=None,
                                check_same_thread=False)
            a.enable_load_extension(True)
            a.load_extension(kvtest.EXTENSION)
            b = kvtest.connect(path)
            try:
                before = self.state(b)
                out = {}

                def run():
                    try:
                        a.execute(sql)
                        out["result"] = "finished"
                    except sqlite3.OperationalError as e:
                        out["result"] = str(e)
                    out["t_end"] = time.monotonic()

                th = threading.Thread(target=run)
                t0 = time.monotonic()
                th.start()
                progress = None
                while time.monotonic() - t0 < 30 and th.is_alive():
                    st = json.loads(b.execute(
                        "SELECT kvstore_stats('kv')").fetchone()[0])
                    p = st[section]["progress"]
                    if (st[section]["running"]
                            and p["bytes_planned"] // lo < p["bytes_done"]
                            < p["bytes_planned"] // hi):
                        progress = p
                        break
                    time.sleep(0.002)
                t_int = time.monotonic()
                a.interrupt()
                th.join(30)
                self.assertFalse(th.is_alive())
                if out["result"] != "finished":
                    self.assertIn("interrupted", out["result"])
                if out["result"] == "finished" or progress is None:
                    for d in dest_paths:
                        if os.path.isdir(d):
                            shutil.rmtree(d)
                        elif os.path.exists(d):
                            os.unlink(d)
                    continue
                ms = (out["t_end"] - t_int) * 1000
                for d in dest_paths:
                    self.assertFalse(os.path.exists(d), d)
                self.assertEqual(self.state(b), before)
                st = json.loads(b.execute(
                    "SELECT kvstore_stats('kv')").fetchone()[0])
                self.assertEqual(st[section], {"running": 0, "progress": {
                    "bytes_done": 0, "bytes_planned": 0}})
                # Nothing sticky: the copy runs again, whole.
                a.execute(sql)
                for d in dest_paths[:1]:
                    self.assertTrue(os.path.exists(d), d)
                return progress, ms, out["result"]
            finally:
                a.close()
                b.close()
        self.fail("the copy always finished before it could be interrupted")

    def test_interrupt_checkpoint(self):
        dest = os.path.join(self.dir, "ckpt")
        progress, ms, err = self.interrupt_copy(
            "SELECT kvstore_checkpoint('kv', '%s')" % dest, "checkpoint",
            [dest, dest + ".ckpt-tmp"])
        print("SQLite %s: checkpoint at %d of %d bytes when interrupted; "
              "stopped %.1f ms later" % (
                  sqlite3.sqlite_version, progress["bytes_done"],
                  progress["bytes_planned"], ms))
        self.assertIn("interrupted; nothing was written", err)
        self.assertLess(ms, LIMIT_MS)
        c = kvtest.connect(os.path.join(self.dir, "other.db"))
        try:
            c.execute("CREATE VIRTUAL TABLE t USING kvstore(dir='%s')" % dest)
            self.assertEqual(c.execute("SELECT count(*) FROM t").fetchone()[0],
                             ROWS)
        finally:
            c.close()

    def test_interrupt_backup(self):
        sub = os.path.join(self.dir, "bk")
        os.mkdir(sub)
        dest = os.path.join(sub, "copy.db")
        progress, ms, err = self.interrupt_copy(
            "SELECT kvstore_backup('%s')" % dest, "backup",
            [dest, dest + ".kvbackup-tmp", os.path.join(sub, "store"),
             os.path.join(sub, "store.ckpt-tmp")])
        print("SQLite %s: backup at %d of %d bytes when interrupted; "
              "stopped %.1f ms later" % (
                  sqlite3.sqlite_version, progress["bytes_done"],
                  progress["bytes_planned"], ms))
        self.assertIn("interrupted", err)
        self.assertLess(ms, LIMIT_MS)
        self.assertEqual(sorted(os.listdir(sub)), ["copy.db", "store"])
        c = kvtest.connect(dest)
        try:
            self.assertEqual(c.execute("SELECT count(*) FROM kv"
                                       ).fetchone()[0], ROWS)
        finally:
            c.close()

    def test_interrupt_backup_while_copying_the_database(self):
        """A database whose ordinary table is far larger than its store:
        the interrupt comes while the database file is copied (steps of
        BACKUP_STEP_PAGES pages)."""
        d = os.path.join(self.dir, "big")
        os.mkdir(d)
        path = os.path.join(d, "big.db")
        c = kvtest.connect(path)
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore(dir='store')")
        c.execute("INSERT INTO kv VALUES ('a', 1)")
        c.execute("CREATE TABLE plain(x)")
        c.execute("INSERT INTO plain WITH RECURSIVE n(i) AS (SELECT 1 UNION"
                  " ALL SELECT i+1 FROM n WHERE i < 60000) SELECT"
                  " randomblob(1000) FROM n")
        c.close()
        sub = os.path.join(self.dir, "bigbk")
        os.mkdir(sub)
        dest = os.path.join(sub, "copy.db")
        progress, ms, err = self.interrupt_copy(
            "SELECT kvstore_backup('%s')" % dest, "backup",
            [dest, dest + ".kvbackup-tmp", os.path.join(sub, "store")],
            path=path, phase=(10, 2))
        print("SQLite %s: backup at %d of %d bytes (copying the database) "
              "when interrupted; stopped %.1f ms later" % (
                  sqlite3.sqlite_version, progress["bytes_done"],
                  progress["bytes_planned"], ms))
        self.assertIn("interrupted while copying the database", err)
        self.assertLess(ms, LIMIT_MS)
        c = kvtest.connect(dest)
        try:
            self.assertEqual(c.execute("SELECT count(*) FROM plain"
                                       ).fetchone()[0], 60000)
            self.assertEqual(c.execute("SELECT * FROM kv").fetchall(),
                             [("a", 1)])
        finally:
            c.close()

    def test_interrupt_full_compaction(self):
        # a runs the compaction in a thread of its own.
        a = sqlite3.connect(self.path, isolation_level=None,
                            check_same_thread=False)
        a.enable_load_extension(True)
        a.load_extension(kvtest.EXTENSION)
        b = kvtest.connect(self.path)
        try:
            before = self.state(a)
            self.assertGreater(len(before[1]), 4)
            out = {}

            def run():
                try:
                    a.execute("SELECT kvstore_compact('kv', 'full')")
                    out["result"] = "finished"
                except sqlite3.OperationalError as e:
                    out["result"] = str(e)
                out["t_end"] = time.monotonic()

            th = threading.Thread(target=run)
            t0 = time.monotonic()
            th.start()
            # Wait until the merge is under way and its progress shows.
            progress = None
            while time.monotonic() - t0 < 30 and th.is_alive():
                st = json.loads(b.execute(
                    "SELECT kvstore_stats('kv')").fetchone()[0])
                p = st["compaction"]["progress"]
                if (st["compaction"]["running"]
                        and p["bytes_done"] > p["bytes_planned"] // 5):
                    progress = p
                    break
                time.sleep(0.005)
            self.assertIsNotNone(progress, "no progress seen: %r" % out)
            self.assertLess(progress["bytes_done"], progress["bytes_planned"])
            t_int = time.monotonic()
            a.interrupt()
            th.join(30)
            self.assertFalse(th.is_alive())
            ms = (out["t_end"] - t_int) * 1000
            print("SQLite %s: progress %d of %d bytes when interrupted; "
                  "stopped %.1f ms later" % (
                      sqlite3.sqlite_version, progress["bytes_done"],
                      progress["bytes_planned"], ms))
            self.assertIn("interrupted; the store is unchanged",
                          out["result"])
            self.assertLess(ms, LIMIT_MS)
            self.assertEqual(self.state(b), before)
            st = json.loads(b.execute(
                "SELECT kvstore_stats('kv')").fetchone()[0])
            self.assertEqual(st["compaction"]["running"], 0)
            self.assertEqual(st["compaction"]["progress"],
                             {"bytes_done": 0, "bytes_planned": 0})
            # Not sticky: writes work and the compaction can run again.
            a.execute("INSERT INTO kv VALUES('after', 1)")
            r = json.loads(a.execute(
                "SELECT kvstore_compact('kv', 'full')").fetchone()[0])
            self.assertEqual(r["files_in"], len(before[1]) + 1)
            self.assertEqual(a.execute(
                "SELECT count(*) FROM kv").fetchone()[0], ROWS + 1)
        finally:
            a.close()
            b.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
