#!/usr/bin/python3
"""Confinement of kvstore's paths (kvconfine.c): KVSTORE_ROOT and
kvstore_confine keep dir=, config= and the destinations of kvstore_backup
and kvstore_checkpoint inside one directory, or turn explicit paths off,
for hosts that run SQL from users they do not trust.

Run with Debian's /usr/bin/python3 (its sqlite3 module loads extensions).
"""
import os
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kvtest import EXTENSION, connect  # noqa: E402

SQLITE_AUTH = 23


class Confine(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="kvconfine-")
        self.base = self.tmp.name
        self.root = os.path.join(self.base, "root")
        self.out = os.path.join(self.base, "outside")
        os.mkdir(self.root)
        os.mkdir(self.out)

    def tearDown(self):
        self.tmp.cleanup()

    def refused(self, c, sql, *args):
        with self.assertRaises(sqlite3.Error) as cm:
            c.execute(sql, args).fetchall()
        self.assertEqual(cm.exception.sqlite_errorcode, SQLITE_AUTH,
                         str(cm.exception))
        self.assertIn("kvstore", str(cm.exception))
        return str(cm.exception)

    def test_confined_connection_keeps_every_path_inside_its_root(self):
        c = connect(os.path.join(self.root, "app.db"))
        self.assertIsNone(c.execute("SELECT kvstore_confine()").fetchone()[0])
        got = c.execute("SELECT kvstore_confine(?)", (self.root,)).fetchone()[0]
        self.assertEqual(got, os.path.realpath(self.root))
        # Inside: default dir and a relative dir= work.
        c.execute("CREATE VIRTUAL TABLE a USING kvstore")
        os.mkdir(os.path.join(self.root, "data"))
        c.execute("CREATE VIRTUAL TABLE b USING kvstore(dir='data/b')")
        c.execute("INSERT INTO b VALUES('k', 1)")
        # Outside, by absolute path, by '..', through a symbolic link.
        msg = self.refused(c, "CREATE VIRTUAL TABLE x USING kvstore(dir='%s')"
                           % os.path.join(self.out, "x"))
        self.assertIn(os.path.realpath(self.root), msg)
        self.refused(c, "CREATE VIRTUAL TABLE y USING kvstore(dir='../outside/y')")
        os.symlink(self.out, os.path.join(self.root, "link"))
        self.refused(c, "CREATE VIRTUAL TABLE z USING kvstore(dir='link/z')")
        cfg = os.path.join(self.out, "kv.json")
        with open(cfg, "w") as f:
            f.write('{"memtable_size": "1MB"}')
        self.refused(c, "CREATE VIRTUAL TABLE w USING kvstore(config='%s')"
                     % cfg)
        # The path-taking functions.
        self.refused(c, "SELECT kvstore_checkpoint('b', ?)",
                     os.path.join(self.out, "ck"))
        self.refused(c, "SELECT kvstore_backup(?)",
                     os.path.join(self.out, "copy.db"))
        c.execute("SELECT kvstore_checkpoint('b', ?)",
                  (os.path.join(self.root, "ck"),)).fetchone()
        self.assertEqual(os.listdir(self.out), ["kv.json"])
        # Only narrowing: a parent of the root is refused, a child is taken.
        self.refused(c, "SELECT kvstore_confine(?)", self.base)
        sub = os.path.join(self.root, "data")
        self.assertEqual(
            c.execute("SELECT kvstore_confine(?)", (sub,)).fetchone()[0],
            os.path.realpath(sub))
        c.close()

    def test_paths_turned_off_leave_default_directories_only(self):
        c = connect(os.path.join(self.root, "app.db"))
        self.assertEqual(c.execute("SELECT kvstore_confine(NULL)").fetchone()[0],
                         "off")
        c.execute("CREATE VIRTUAL TABLE a USING kvstore")
        c.execute("INSERT INTO a VALUES('k', 1)")
        self.refused(c, "CREATE VIRTUAL TABLE b USING kvstore(dir='data/b')")
        self.refused(c, "SELECT kvstore_backup(?)",
                     os.path.join(self.root, "copy.db"))
        self.refused(c, "SELECT kvstore_checkpoint('a', ?)",
                     os.path.join(self.root, "ck"))
        self.refused(c, "SELECT kvstore_confine(?)", self.root)
        c.close()

    def test_environment_root_applies_to_every_connection(self):
        db = os.path.join(self.out, "hostile.db")
        # A database file from elsewhere whose table names a directory
        # outside the root: with KVSTORE_ROOT set, nothing is created there.
        c = sqlite3.connect(db)
        c.execute("PRAGMA writable_schema=ON")
        c.execute("INSERT INTO sqlite_schema VALUES('table','t','t',0,"
                  "'CREATE VIRTUAL TABLE t USING kvstore(dir=''%s'')')"
                  % os.path.join(self.out, "victim"))
        c.commit()
        c.close()
        code = r"""
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.enable_load_extension(True)
c.load_extension(sys.argv[2])
print(c.execute("SELECT kvstore_confine()").fetchone()[0])
for sql in ("SELECT * FROM t", "INSERT INTO t VALUES('a', 1)"):
    try:
        c.execute(sql).fetchall()
        print("allowed")
    except sqlite3.Error as e:
        print("refused", e.sqlite_errorcode, "outside the directory" in str(e))
"""
        env = dict(os.environ, KVSTORE_ROOT=self.root)
        r = subprocess.run(["/usr/bin/python3", "-c", code, db, EXTENSION],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.split("\n")
        self.assertEqual(lines[0], os.path.realpath(self.root))
        self.assertTrue(lines[1].startswith("refused"), r.stdout)
        self.assertTrue(lines[2].startswith("refused"), r.stdout)
        self.assertIn("True", lines[1])
        self.assertEqual(sorted(os.listdir(self.out)), ["hostile.db"])

    def test_confine_cannot_be_called_from_a_view(self):
        c = connect(os.path.join(self.root, "app.db"))
        c.execute("CREATE VIEW v AS SELECT kvstore_confine(NULL)")
        with self.assertRaises(sqlite3.Error):
            c.execute("SELECT * FROM v").fetchall()
        self.assertIsNone(c.execute("SELECT kvstore_confine()").fetchone()[0])
        c.close()


if __name__ == "__main__":
    unittest.main(verbosity=1)
