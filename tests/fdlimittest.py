#!/usr/bin/python3
"""A process out of file descriptors. An open kvstore table keeps one
descriptor (its LOCK); its WAL segment, manifest and SSTables hold theirs
only up to half the soft RLIMIT_NOFILE in all (past that they are used
through their maps and taken again by path when needed), so a process with
more tables than its limit can reach it where ordinary tables need nothing
more. Then statements fail with a clear kvstore: error naming the file
(SQLITE_IOERR, "Too many open files"), no answer is wrong, and once the
limit is raised everything works again in the same connection with
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

TABLES = 150

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


# One table with more SSTables than the process may have descriptors: its
# table files give descriptors back past half the soft limit and are read
# through their maps (env_posix.c, "Descriptors"). Reads, scans both ways,
# kvstore_verify and a full compaction under a limit of 128, beside an
# ordinary twin; the process's descriptors counted in /proc/self/fd.
MANY = r"""
import json, os, random, resource, sqlite3, sys
sys.path.insert(0, sys.argv[2])
from kvtest import connect
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))
c = connect(sys.argv[1])
c.execute("CREATE VIRTUAL TABLE kv USING kvstore(memtable_size=65536, "
          "target_file_size=16384)")
c.execute("CREATE TABLE tw(key TEXT PRIMARY KEY, value) WITHOUT ROWID")
r = random.Random(7)
out = {"fds": []}
def fds():
    out["fds"].append(len(os.listdir("/proc/self/fd")))
def same(order):
    a = c.execute("SELECT key, value FROM kv ORDER BY key " + order).fetchall()
    b = c.execute("SELECT key, value FROM tw ORDER BY key " + order).fetchall()
    return a == b and len(a) > 0
for b in range(40):
    c.execute("BEGIN")
    for j in range(500):
        k = "k%07d" % r.randrange(10**7)
        v = "v" * r.randint(50, 400)
        for t in ("kv", "tw"):
            c.execute(f"INSERT OR REPLACE INTO {t} VALUES(?, ?)", (k, v))
    c.execute("COMMIT")
fds()
out["sstables"] = c.execute("SELECT count(*) FROM kvstore_sstables('kv')").fetchone()[0]
out["asc"] = same("ASC")
out["desc"] = same("DESC")
keys = [row[0] for row in c.execute("SELECT key FROM tw")]
out["points"] = all(
    c.execute("SELECT value FROM kv WHERE key=?", (k,)).fetchone()
    == c.execute("SELECT value FROM tw WHERE key=?", (k,)).fetchone()
    for k in r.sample(keys, 500))
fds()
out["verify"] = c.execute("SELECT kvstore_verify('kv')").fetchone()[0]
c.execute("SELECT kvstore_compact('kv', 'full')")
out["after_compact"] = same("ASC")
fds()
print(json.dumps(out))
"""


# Many tables of one database under a limit of 256: every table written,
# read and written again (its WAL segment and manifest taken again by path
# after they gave their descriptors back), beside ordinary twins, then the
# database reopened. Before, each open table kept three descriptors and the
# 84th table failed "Too many open files".
MANY_TABLES = r"""
import json, os, resource, sqlite3, sys
sys.path.insert(0, sys.argv[2])
from kvtest import connect
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
n = int(sys.argv[3])
out = {"fds": [], "errors": []}
def fds():
    out["fds"].append(len(os.listdir("/proc/self/fd")))
def same(c, i):
    a = c.execute(f"SELECT key, value FROM kv{i} ORDER BY key").fetchall()
    b = c.execute(f"SELECT key, value FROM tw{i} ORDER BY key").fetchall()
    return a == b and len(a) > 0
c = connect(sys.argv[1])
try:
    for i in range(n):
        c.execute(f"CREATE VIRTUAL TABLE kv{i} USING kvstore(memtable_size=65536)")
        c.execute(f"CREATE TABLE tw{i}(key PRIMARY KEY, value) WITHOUT ROWID")
    for rnd in range(3):
        for i in range(n):
            c.execute("BEGIN")
            for t in (f"kv{i}", f"tw{i}"):
                c.executemany(f"INSERT OR REPLACE INTO {t} VALUES(?, ?)",
                              [("k%04d" % (j * 7 % 300), "%d-%d" % (rnd, j) * 40)
                               for j in range(100 * rnd, 100 * rnd + 100)])
            c.execute("COMMIT")
        fds()
    out["same"] = all(same(c, i) for i in range(n))
    out["verify"] = [c.execute(f"SELECT kvstore_verify('kv{i}')").fetchone()[0]
                     for i in (0, n // 2, n - 1)]
    fds()
    c.close()
    c = connect(sys.argv[1])
    out["reopened"] = all(same(c, i) for i in range(n))
    fds()
except sqlite3.Error as e:
    out["errors"].append([e.sqlite_errorname, str(e)])
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

    def test_many_tables_keep_one_descriptor_each(self):
        db = os.path.join(self.dir, "tables.db")
        r = subprocess.run([sys.executable, "-c", MANY_TABLES, db,
                            os.path.dirname(os.path.abspath(__file__)), "200"],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["errors"], [])
        self.assertTrue(out["same"] and out["reopened"], out)
        self.assertEqual(out["verify"], ["ok"] * 3)
        self.assertLessEqual(max(out["fds"]), 256, out)

    def test_table_of_more_files_than_descriptors_reads_through_maps(self):
        db = os.path.join(self.dir, "many.db")
        r = subprocess.run([sys.executable, "-c", MANY, db,
                            os.path.dirname(os.path.abspath(__file__))],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertGreater(out["sstables"], 128, out)
        self.assertTrue(out["asc"] and out["desc"] and out["points"], out)
        self.assertEqual(out["verify"], "ok")
        self.assertTrue(out["after_compact"], out)
        # Table files keep at most half the limit; the rest is the
        # interpreter's, the database's and the store's own few.
        self.assertLess(max(out["fds"]), 110, out)


if __name__ == "__main__":
    unittest.main()
