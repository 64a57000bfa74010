#!/usr/bin/python3
"""sqlite3_interrupt stops kvstore_compact(t, 'full') promptly and leaves the
store as it was; kvstore_stats shows the compaction's progress meanwhile
(from another connection, in another thread).

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
        # Small memtable: the load leaves many level-0 tables and no
        # compaction runs in the background, so the full compaction has
        # everything to merge.
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore(dir='%s',"
                  " memtable_size='4MB', level0_trigger=64, background=off,"
                  " sync=off)" % cls.store)
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
        return merkle, sst_files(self.store)

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
