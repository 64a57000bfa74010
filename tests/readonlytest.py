#!/usr/bin/python3
"""A store this process cannot write: a database on read-only media (a
read-only bind mount here) or another user's files. SQLite reads such a
database; its kvstore tables must read the same, change nothing on disk,
refuse writes with SQLITE_READONLY, and follow the owner's later commits.

Root only (a bind mount, and a second user through setpriv); the tests say
so and skip elsewhere. Run with Debian's /usr/bin/python3.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kvtest import connect, dir_snapshot  # noqa: E402

QUERIES = [
    "SELECT key, value FROM {t} ORDER BY key",
    "SELECT key, value FROM {t} ORDER BY key DESC",
    "SELECT value FROM {t} WHERE key = 'k00042'",
    "SELECT key FROM {t} WHERE key >= 'k00100' AND key < 'k00120' "
    "ORDER BY key DESC",
    "SELECT count(*), sum(value) FROM {t}",
    "SELECT count(*) FROM {t} JOIN tw USING(key)",
]


def answers(c, table):
    out = []
    for q in QUERIES:
        try:
            out.append(c.execute(q.format(t=table)).fetchall())
        except sqlite3.Error as e:
            out.append(("error", str(e)))
    return out


def make_tables(c, rows):
    """kv (small memtable: several tables and an unflushed WAL) and its
    ordinary twin tw, the same rows in both."""
    c.execute("CREATE VIRTUAL TABLE kv USING kvstore(memtable_size=65536)")
    c.execute("CREATE TABLE tw(key PRIMARY KEY, value) WITHOUT ROWID")
    write_both(c, rows)


def write_both(c, rows):
    c.execute("BEGIN")
    for k, v in rows:
        for t in ("kv", "tw"):
            if v is None:
                c.execute(f"DELETE FROM {t} WHERE key=?", (k,))
            else:
                c.execute(f"INSERT OR REPLACE INTO {t} VALUES(?, ?)", (k, v))
    c.execute("COMMIT")


def some_rows(n, seed):
    rows = [("k%05d" % i, i * seed) for i in range(n)]
    rows += [("k%05d" % i, None) for i in range(0, n, 7)]   # deletes
    return rows


class ReadOnlyMedia(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root for a read-only bind mount")
        self.work = tempfile.mkdtemp(prefix="kvro-")
        self.mnt = tempfile.mkdtemp(prefix="kvro-mnt-")
        self.mounted = False

    def tearDown(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.mnt])
        os.rmdir(self.mnt)
        shutil.rmtree(self.work)

    def mount_read_only(self):
        for argv in (["mount", "--bind", self.work, self.mnt],
                     ["mount", "-o", "remount,ro,bind", self.mnt]):
            r = subprocess.run(argv, capture_output=True, text=True)
            if r.returncode != 0:
                self.skipTest("cannot make a read-only bind mount here: "
                              + r.stderr.strip())
            self.mounted = True

    def test_database_on_read_only_file_system_reads_as_the_table(self):
        c = connect(os.path.join(self.work, "a.db"))
        make_tables(c, some_rows(3000, 3))
        c.close()
        before = dir_snapshot(self.work)
        self.mount_read_only()
        r = connect("file:%s/a.db?mode=ro" % self.mnt, uri=True)
        expect = answers(r, "tw")
        self.assertEqual(answers(r, "kv"), expect)
        self.assertEqual(len(expect[0]), 3000 - 429)
        for t in ("kv", "tw"):
            with self.assertRaises(sqlite3.Error) as cm:
                r.execute(f"INSERT INTO {t} VALUES('new', 1)")
            self.assertEqual(cm.exception.sqlite_errorname, "SQLITE_READONLY")
        self.assertEqual(r.execute("SELECT kvstore_verify('kv')").fetchone(),
                         ("ok",))
        with self.assertRaises(sqlite3.Error) as cm:
            r.execute("SELECT kvstore_compact('kv')")
        self.assertTrue(str(cm.exception).startswith("kvstore:"),
                        str(cm.exception))
        self.assertEqual(cm.exception.sqlite_errorname, "SQLITE_READONLY")
        r.close()
        self.assertEqual(dir_snapshot(self.work), before)

    def test_immutable_database_reads_the_state_of_its_file(self):
        # Commits still in the database's WAL (its writer killed) are not
        # in the file that immutable=1 reads: the kvstore rows they wrote
        # must not show either.
        db = os.path.join(self.work, "b.db")
        writer = subprocess.Popen(
            [sys.executable, "-c", WAL_WRITER, db,
             os.path.dirname(os.path.abspath(__file__))],
            stdout=subprocess.PIPE, text=True)
        self.assertEqual(writer.stdout.readline().strip(), "ready")
        writer.kill()
        writer.wait()
        writer.stdout.close()
        self.assertTrue(os.path.getsize(db + "-wal") > 0)
        self.mount_read_only()
        r = connect("file:%s/b.db?immutable=1" % self.mnt, uri=True)
        expect = answers(r, "tw")
        self.assertEqual(answers(r, "kv"), expect)
        self.assertEqual(len(expect[0]), 500 - 72)
        r.close()


WAL_WRITER = r"""
import sys
sys.path.insert(0, sys.argv[2])
from kvtest import connect
from readonlytest import make_tables, write_both, some_rows
w = connect(sys.argv[1])
w.execute("PRAGMA journal_mode=wal")
w.execute("PRAGMA wal_autocheckpoint=0")
make_tables(w, some_rows(500, 1))
w.execute("PRAGMA wal_checkpoint(TRUNCATE)")
write_both(w, some_rows(800, 5))
print("ready", flush=True)
sys.stdin.read()
"""


READER = r"""
import json, sqlite3, sys
sys.path.insert(0, sys.argv[2])
from kvtest import connect
c = connect(sys.argv[1], timeout=30)
for line in sys.stdin:
    out = {}
    if line.strip() == "write":
        try:
            c.execute("INSERT INTO kv VALUES('new', 1)")
            out["write"] = "ok"
        except sqlite3.Error as e:
            out["write"] = [e.sqlite_errorname, str(e)]
    else:
        c.execute("BEGIN")
        out["kv"] = c.execute("SELECT key, value FROM kv ORDER BY key").fetchall()
        out["tw"] = c.execute("SELECT key, value FROM tw ORDER BY key").fetchall()
        out["kvr"] = c.execute("SELECT count(*) FROM kv WHERE key >= 'k00500'").fetchall()
        out["twr"] = c.execute("SELECT count(*) FROM tw WHERE key >= 'k00500'").fetchall()
        c.execute("COMMIT")
    print(json.dumps(out), flush=True)
"""


class OtherUser(unittest.TestCase):
    """The database and store belong to root; the reader runs as nobody,
    so SQLite opens the database read-only and kvstore cannot open LOCK
    for writing. Rollback-journal mode: the reader's transaction sees the
    newest commit."""

    def setUp(self):
        if os.geteuid() != 0 or shutil.which("setpriv") is None:
            self.skipTest("needs root and setpriv to read as another user")
        self.work = tempfile.mkdtemp(prefix="kvro-user-")
        os.chmod(self.work, 0o755)

    def tearDown(self):
        shutil.rmtree(self.work)

    def test_other_user_reads_while_the_owner_writes(self):
        db = os.path.join(self.work, "u.db")
        w = connect(db)
        make_tables(w, some_rows(1000, 2))
        reader = subprocess.Popen(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             sys.executable, "-c", READER, db,
             os.path.dirname(os.path.abspath(__file__))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def ask(what="read"):
            reader.stdin.write(what + "\n")
            reader.stdin.flush()
            line = reader.stdout.readline()
            self.assertTrue(line, "the reader died")
            return json.loads(line)

        try:
            seen = []
            for rnd in range(6):
                got = ask()
                self.assertEqual(got["kv"], got["tw"], "round %d" % rnd)
                self.assertEqual(got["kvr"], got["twr"], "round %d" % rnd)
                seen.append(len(got["kv"]))
                # The owner commits (and compacts) between the reads.
                write_both(w, some_rows(1000 + 200 * (rnd + 1), rnd + 3))
                if rnd % 2:
                    w.execute("SELECT kvstore_compact('kv')")
            self.assertEqual(len(set(seen)), len(seen), seen)
            got = ask("write")
            self.assertEqual(got["write"][0], "SQLITE_READONLY", got)
        finally:
            reader.stdin.close()
            reader.wait()
            reader.stdout.close()
        w.close()


if __name__ == "__main__":
    unittest.main()
