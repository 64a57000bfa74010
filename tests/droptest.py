#!/usr/bin/python3
"""DROP TABLE commits with its database. SQLite calls xDestroy during the
DROP statement, before the commit, and the commit can still fail: in the
default rollback-journal mode another connection's read transaction makes
it fail with SQLITE_BUSY ("database is locked"), and a crash can come
first. The table then stays, and its rows must stay too, as an ordinary
table's do; kvstore deleted the store in xDestroy, so the table stayed
with its store gone. Each case runs beside an ordinary WITHOUT ROWID twin.

Run with Debian's /usr/bin/python3.
"""
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kvtest import connect  # noqa: E402

ROWS = [("k%04d" % i, "v" * (i % 50)) for i in range(300)]


def make(path, journal="delete", rows=ROWS):
    c = connect(path)
    c.execute("PRAGMA journal_mode=%s" % journal)
    c.execute("CREATE VIRTUAL TABLE kv USING kvstore")
    c.execute("CREATE TABLE tw(key TEXT PRIMARY KEY, value) WITHOUT ROWID")
    c.execute("BEGIN")
    c.executemany("INSERT INTO kv VALUES(?, ?)", rows)
    c.executemany("INSERT INTO tw VALUES(?, ?)", rows)
    c.execute("COMMIT")
    c.close()


def reader(path):
    """A connection without kvstore holding a read transaction."""
    r = sqlite3.connect(path, isolation_level=None)
    r.execute("BEGIN")
    r.execute("SELECT count(*) FROM tw").fetchone()
    return r


def tables(c):
    return {row[0] for row in c.execute(
        "SELECT name FROM sqlite_schema WHERE name IN ('kv', 'tw')")}


# A child that drops the table while a reader holds the database (rollback
# journal), and leaves at once (no close: nothing settles the DROP), or,
# with "commit", drops it for good and leaves the same way.
CHILD = r"""
import os, sqlite3, sys
sys.path.insert(0, sys.argv[2])
from kvtest import connect
path, mode = sys.argv[1], sys.argv[3]
c = connect(path, timeout=0.2)
if mode == "busy":
    r = sqlite3.connect(path, isolation_level=None)
    r.execute("BEGIN"); r.execute("SELECT count(*) FROM tw").fetchone()
    for t in ("tw", "kv"):
        try:
            c.execute("DROP TABLE " + t)
            print("dropped", t)
        except sqlite3.OperationalError as e:
            print("refused", t, e)
else:
    for t in ("tw", "kv"):
        c.execute("DROP TABLE " + t)
sys.stdout.flush()
os._exit(0)
"""

# A child that drops both tables, to be killed at some moment.
KILLED = r"""
import sys
sys.path.insert(0, sys.argv[2])
from kvtest import connect
c = connect(sys.argv[1])
print("go", flush=True)
c.execute("DROP TABLE tw")
c.execute("DROP TABLE kv")
print("done", flush=True)
"""


class Drop(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kvdrop-")
        self.db = os.path.join(self.dir, "app.db")
        self.store = self.db + "-kv.kvstore"

    def tearDown(self):
        shutil.rmtree(self.dir)

    def child(self, code, *args):
        return subprocess.run([sys.executable, "-c", code, self.db,
                               os.path.dirname(os.path.abspath(__file__))]
                              + list(args), capture_output=True, text=True,
                              timeout=120)

    def assert_both(self, c, rows=ROWS):
        self.assertEqual(c.execute("SELECT * FROM tw ORDER BY key")
                         .fetchall(), rows)
        self.assertEqual(c.execute("SELECT * FROM kv ORDER BY key")
                         .fetchall(), rows)
        self.assertEqual(c.execute("SELECT kvstore_verify('kv')").fetchone(),
                         ("ok",))

    def test_drop_refused_at_commit_keeps_the_rows(self):
        make(self.db)
        r = reader(self.db)
        c = connect(self.db, timeout=0.2)
        for t in ("tw", "kv"):
            with self.assertRaises(sqlite3.OperationalError) as cm:
                c.execute("DROP TABLE " + t)
            self.assertIn("locked", str(cm.exception))
        r.execute("COMMIT")
        r.close()
        self.assertEqual(tables(c), {"kv", "tw"})
        self.assert_both(c)
        # Dropped once the reader is gone; the store with it.
        c.execute("DROP TABLE kv")
        c.execute("DROP TABLE tw")
        c.close()
        self.assertFalse(os.path.exists(self.store))
        c = connect(self.db)
        self.assertEqual(tables(c), set())
        c.close()

    def test_drop_in_attached_database(self):
        other = os.path.join(self.dir, "other.db")
        make(other)
        c = connect(self.db, timeout=0.2)
        c.execute("ATTACH ? AS a", (other,))
        r = reader(other)
        for t in ("tw", "kv"):
            with self.assertRaises(sqlite3.OperationalError):
                c.execute("DROP TABLE a." + t)
        r.execute("COMMIT")
        r.close()
        self.assertEqual(c.execute("SELECT count(*) FROM a.kv").fetchone(),
                         (len(ROWS),))
        c.execute("DROP TABLE a.kv")
        c.execute("DETACH a")
        c.close()
        self.assertFalse(os.path.exists(other + "-kv.kvstore"))
        c = connect(other)
        self.assertEqual(tables(c), {"tw"})
        c.close()

    def test_committed_drop_deletes_the_store_at_next_use_and_close(self):
        make(self.db, "wal")
        c = connect(self.db)
        c.execute("CREATE VIRTUAL TABLE other USING kvstore")
        c.execute("DROP TABLE kv")
        c.execute("SELECT count(*) FROM other").fetchone()
        self.assertFalse(os.path.exists(self.store))
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore")
        c.execute("DROP TABLE kv")
        self.assertTrue(os.path.exists(self.store))
        c.close()
        self.assertFalse(os.path.exists(self.store))

    def test_refused_drop_then_exit_gives_the_rows_back(self):
        make(self.db)
        out = self.child(CHILD, "busy")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("refused kv", out.stdout)
        c = connect(self.db)
        self.assertEqual(tables(c), {"kv", "tw"})
        self.assert_both(c)
        c.close()

    def test_committed_drop_then_exit_then_create_is_empty(self):
        make(self.db)
        out = self.child(CHILD, "commit")
        self.assertEqual(out.returncode, 0, out.stderr)
        c = connect(self.db)
        self.assertEqual(tables(c), set())
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore")
        c.execute("CREATE TABLE tw(key TEXT PRIMARY KEY, value) WITHOUT ROWID")
        self.assert_both(c, [])
        c.execute("INSERT INTO kv VALUES('new', 1)")
        self.assertEqual(c.execute("SELECT * FROM kv").fetchall(),
                         [("new", 1)])
        c.close()

    def test_create_after_a_drop_cut_short(self):
        # A committed DROP whose deletion a kill stopped after the store's
        # KVSTORE file went (found by test_kill9_during_drop): OWNER, LOCK
        # and the marker are left, which CREATE took for someone else's
        # directory, and no table was left to DROP again.
        make(self.db)
        out = self.child(CHILD, "commit")
        self.assertEqual(out.returncode, 0, out.stderr)
        for f in os.listdir(self.store):
            if f == "CURRENT.dropping":
                os.rename(os.path.join(self.store, f),
                          os.path.join(self.store, "CURRENT.dropped"))
            elif f not in ("OWNER", "LOCK"):
                os.remove(os.path.join(self.store, f))
        c = connect(self.db)
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore")
        self.assertEqual(c.execute("SELECT count(*) FROM kv").fetchone(),
                         (0,))
        self.assertNotIn("CURRENT.dropped", os.listdir(self.store))
        c.close()

    def test_rename_onto_a_dropped_name(self):
        # ALTER TABLE x RENAME TO kv moves x's store to kv's default
        # directory, where the dropped kv's store waits to be settled (the
        # same connection) or finished (a process that left): it failed
        # with "... already exists".
        for leave in (False, True):
            make(self.db)
            c = connect(self.db)
            c.execute("CREATE VIRTUAL TABLE x USING kvstore")
            c.execute("INSERT INTO x VALUES('x', 2)")
            if leave:
                c.close()
                out = self.child(CHILD, "commit")
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertTrue(os.path.exists(self.store))
                c = connect(self.db)
                c.execute("CREATE TABLE tw(key TEXT PRIMARY KEY, value) "
                          "WITHOUT ROWID")
            else:
                c.execute("DROP TABLE kv")
            c.execute("ALTER TABLE x RENAME TO kv")
            self.assertEqual(c.execute("SELECT * FROM kv").fetchall(),
                             [("x", 2)])
            c.execute("DROP TABLE kv")
            c.execute("DROP TABLE tw")
            c.close()
            self.assertFalse(os.path.exists(self.store))

    def test_kill9_during_drop(self):
        rnd = random.Random(int(os.environ.get("KV_SEED", "0")) or None)
        outcomes = {"both": 0, "neither": 0, "kv only": 0}
        for i in range(12):
            for f in os.listdir(self.dir):
                p = os.path.join(self.dir, f)
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
            many = [("k%06d" % j, "x" * 100) for j in range(20000)]
            make(self.db, rnd.choice(["delete", "wal"]), many)
            p = subprocess.Popen([sys.executable, "-c", KILLED, self.db,
                                  os.path.dirname(os.path.abspath(__file__))],
                                 stdout=subprocess.PIPE, text=True)
            p.stdout.readline()
            time.sleep(rnd.uniform(0, 0.08))
            p.send_signal(signal.SIGKILL)
            p.wait()
            p.stdout.close()
            c = connect(self.db)
            have = tables(c)
            if "kv" in have:
                # Still in the schema: every row, as the twin where it is.
                self.assertEqual(c.execute("SELECT * FROM kv ORDER BY key")
                                 .fetchall(), many)
                self.assertEqual(c.execute("SELECT kvstore_verify('kv')")
                                 .fetchone(), ("ok",))
            if "tw" in have:
                self.assertEqual(c.execute("SELECT count(*) FROM tw")
                                 .fetchone(), (len(many),))
            self.assertIn(have, ({"kv", "tw"}, {"kv"}, set()))
            outcomes[{2: "both", 1: "kv only", 0: "neither"}[len(have)]] += 1
            if "kv" not in have:
                # Gone for good: a new table of the name starts empty.
                c.execute("CREATE VIRTUAL TABLE kv USING kvstore")
                self.assertEqual(c.execute("SELECT count(*) FROM kv")
                                 .fetchone(), (0,))
            c.close()
        print("kill9 during DROP:", outcomes, file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
