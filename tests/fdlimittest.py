#!/usr/bin/python3
"""A process out of file descriptors. A kvstore table holds a few (LOCK,
the WAL segment) and one per SSTable, so a process with many tables, or
large ones, can reach its soft RLIMIT_NOFILE where ordinary tables need
nothing more. Then statements fail with a clear kvstore: error naming the
file (SQLITE_IOERR, "Too many open files"), no answer is wrong, and once
the limit is raised everything works again in the same connection with
nothing lost.

Runs in a child process (the limit is the process's). Run with Debian's
/usr/bin/python3.
"""
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kvtest import connect  # noqa: E402

TABLES = 50

CHILD = r"""
import json, resource, sqlite3, sys
sys.path.insert(0, sys.argv[2])
from kvtest import connect
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))
c = connect(sys.argv[1])
out = {"errors": [], "wrong": 0, "made": []}

def note(e):
    out["errors"].append([e.sqlite_errorname, str(e)])

for i in range(int(sys.argv[3])):
    try:
        c.execute(f"CREATE VIRTUAL TABLE kv{i} USING kvstore(memtable_size=65536)")
        c.execute(f"CREATE TABLE tw{i}(key PRIMARY KEY, value) WITHOUT ROWID")
        for t in (f"kv{i}", f"tw{i}"):
            c.execute("BEGIN")
            for j in range(400):
                c.execute(f"INSERT INTO {t} VALUES(?, ?)", ("k%05d" % j, "v" * 300))
            c.execute("COMMIT")
        out["made"].append(i)
    except sqlite3.Error as e:
        note(e)
        if c.in_transaction:
            c.execute("ROLLBACK")
        break

def compare(i):
    a = c.execute(f"SELECT key, value FROM kv{i} ORDER BY key").fetchall()
    b = c.execute(f"SELECT key, value FROM tw{i} ORDER BY key").fetchall()
    return a == b

for i in out["made"]:
    try:
        if not compare(i):
            out["wrong"] += 1
    except sqlite3.Error as e:
        note(e)
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
out["after"] = []
for i in out["made"]:
    try:
        for t in (f"kv{i}", f"tw{i}"):
            c.execute(f"INSERT OR REPLACE INTO {t} VALUES('after', 1)")
        out["after"].append(compare(i))
    except sqlite3.Error as e:
        out["after"].append(str(e))
print(json.dumps(out))
"""


class DescriptorLimit(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kvfd-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_running_out_of_descriptors_fails_clearly_and_recovers(self):
        db = os.path.join(self.dir, "app.db")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < 1024:
            self.skipTest("hard RLIMIT_NOFILE below 1024")
        r = subprocess.run([sys.executable, "-c", CHILD, db,
                            os.path.dirname(os.path.abspath(__file__)),
                            str(TABLES)],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        # The limit was reached, and said so clearly.
        self.assertTrue(out["errors"], "128 descriptors were enough")
        for name, msg in out["errors"]:
            self.assertEqual(name, "SQLITE_IOERR", msg)
            self.assertTrue(msg.startswith("kvstore:"), msg)
            self.assertIn("Too many open files", msg)
            self.assertIn(self.dir, msg)
        self.assertEqual(out["wrong"], 0)
        # With the limit back, every table works again, and holds it all.
        self.assertTrue(out["made"])
        self.assertEqual(out["after"], [True] * len(out["made"]))
        c = connect(db)
        for i in out["made"]:
            self.assertEqual(c.execute(f"SELECT kvstore_verify('kv{i}')")
                             .fetchone(), ("ok",))
            self.assertEqual(c.execute(f"SELECT count(*) FROM kv{i}")
                             .fetchone(), (401,))
        c.close()


if __name__ == "__main__":
    unittest.main()
