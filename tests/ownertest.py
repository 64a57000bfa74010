#!/usr/bin/python3
"""Store ownership: every row of DESIGN.md's "Ownership and sharing" table
and the hostile-database-file cases of doc/ownership.md, each compared
with what must (and must not) happen to the files.

    /usr/bin/python3 tests/ownertest.py

A store belongs to one table of one database: a table reaches it only when
the store's OWNER file and the table's shadow rows (T_kvstore) agree on the
store id, the table name and the database file's path relative to the
store. Anything else gets a `kvstore:` error and no access: no row read or
written, no file deleted.
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
import kvtest  # noqa: E402

SQLITE_ERROR = 1
SQLITE_CANTOPEN = 14
SQLITE_CORRUPT = 11


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kvowner-")
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def p(self, *names):
        return os.path.join(self.dir, *names)

    def connect(self, path):
        c = kvtest.connect(path)
        self.conns.append(c)
        return c

    def close(self, c):
        c.close()
        self.conns.remove(c)

    def make(self, db, args="", rows=(("a", 1), ("b", 2))):
        """A database file with table kv (CREATE arguments args) holding
        rows; closed again."""
        c = self.connect(db)
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore(%s)" % args
                  if args else "CREATE VIRTUAL TABLE kv USING kvstore")
        c.executemany("INSERT INTO kv VALUES (?, ?)", rows)
        self.close(c)

    def rows(self, db, table="kv"):
        c = self.connect(db)
        try:
            return c.execute("SELECT * FROM %s ORDER BY key" % table).fetchall()
        finally:
            self.close(c)

    def refused(self, c, sql, needle, code=None):
        """sql fails with a kvstore: message holding needle."""
        with self.assertRaises(sqlite3.DatabaseError) as cm:
            c.execute(sql).fetchall()
        msg = str(cm.exception)
        self.assertTrue(msg.startswith("kvstore: "), msg)
        self.assertIn(needle, msg)
        if code is not None:
            self.assertEqual(cm.exception.sqlite_errorcode & 0xff, code, msg)
        return msg

    def no_access(self, db, needle, code=None, table="kv"):
        """Reading, writing and the functions of table all fail."""
        c = self.connect(db)
        self.refused(c, "SELECT * FROM %s" % table, needle, code)
        self.refused(c, "SELECT count(*) FROM %s WHERE key='a'" % table,
                     needle, code)
        self.refused(c, "INSERT INTO %s VALUES ('new', 1)" % table, needle,
                     code)
        self.refused(c, "DELETE FROM %s" % table, needle, code)
        self.refused(c, "SELECT kvstore_stats('%s')" % table, needle, code)
        self.close(c)


class Moves(Base):
    def test_mv_together_opens(self):
        # Default directory and a relative dir=: same relative layout.
        os.mkdir(self.p("x"))
        self.make(self.p("x", "app.db"))
        c = self.connect(self.p("x", "app.db"))
        c.execute("CREATE VIRTUAL TABLE r USING kvstore(dir='rel')")
        c.execute("INSERT INTO r VALUES ('k', 'v')")
        self.close(c)
        os.rename(self.p("x"), self.p("y"))
        self.assertEqual(self.rows(self.p("y", "app.db")), [("a", 1), ("b", 2)])
        self.assertEqual(self.rows(self.p("y", "app.db"), "r"), [("k", "v")])

    def test_cp_a_together_is_a_copy(self):
        os.mkdir(self.p("x"))
        self.make(self.p("x", "app.db"), "dir='data'")
        subprocess.run(["cp", "-a", self.p("x"), self.p("copy")], check=True)
        self.assertEqual(self.rows(self.p("copy", "app.db")),
                         [("a", 1), ("b", 2)])
        # A copy, not linked: a write to it does not reach the original.
        c = self.connect(self.p("copy", "app.db"))
        c.execute("INSERT INTO kv VALUES ('c', 3)")
        self.close(c)
        self.assertEqual(self.rows(self.p("x", "app.db")), [("a", 1), ("b", 2)])
        self.assertEqual(len(self.rows(self.p("copy", "app.db"))), 3)


class Copies(Base):
    def test_vacuum_into_beside_original_relative_dir(self):
        self.make(self.p("app.db"), "dir='data'")
        c = self.connect(self.p("app.db"))
        c.execute("VACUUM INTO ?", (self.p("copy.db"),))
        self.close(c)
        before = kvtest.dir_snapshot(self.p("data"))
        self.no_access(self.p("copy.db"), "not to this one at '../copy.db'",
                       SQLITE_ERROR)
        # DROP TABLE in the copy: the table goes, the original's store stays.
        c = self.connect(self.p("copy.db"))
        c.execute("DROP TABLE kv")
        self.assertEqual(c.execute("SELECT count(*) FROM sqlite_schema")
                         .fetchone()[0], 0)
        self.close(c)
        self.assertEqual(kvtest.dir_snapshot(self.p("data")), before)
        self.assertEqual(self.rows(self.p("app.db")), [("a", 1), ("b", 2)])

    def test_older_database_copy_refused_until_repair(self):
        # doc/transactions.md: an older copy of the database file put in
        # place of the current one is no power cut: the store compacted
        # past commits the database had made durable, so revoking down to
        # the copy may lose values they overwrote (the code before read
        # such keys as absent, silently). The open refuses, naming
        # kvstore_repair, which takes the table back to the copy anyway and
        # reports what it revoked.
        self.make(self.p("app.db"), "dir='store'")
        shutil.copy(self.p("app.db"), self.p("old.db"))
        c = self.connect(self.p("app.db"))
        c.execute("INSERT INTO kv VALUES ('c', 3)")
        c.execute("UPDATE kv SET value = 20 WHERE key = 'b'")
        c.execute("SELECT kvstore_compact('kv', 'full')").fetchall()  # tables
        c.execute("INSERT INTO kv VALUES ('e', 5)")           # in the WAL
        self.close(c)
        shutil.copy(self.p("app.db"), self.p("new.db"))
        shutil.copy(self.p("old.db"), self.p("app.db"))
        c = self.connect(self.p("app.db"))
        msg = self.refused(c, "SELECT * FROM kv", "restored from an older "
                           "copy", SQLITE_CORRUPT)
        self.assertIn("kvstore_repair", msg)
        self.assertIn(self.p("store"), msg)
        self.assertEqual(json.loads(c.execute(
            "SELECT kvstore_repair('kv')").fetchone()[0]),
            {"repaired": True,
             "reason": "revoked the commits the database does not hold",
             "horizon": 2, "revoked_batches": 1, "revoked_entries": 2})
        # b's older value was compacted away: it reads as absent.
        self.assertEqual(c.execute("SELECT * FROM kv ORDER BY key").fetchall(),
                         [("a", 1)])
        c.execute("INSERT INTO kv VALUES ('f', 6)")
        self.close(c)
        self.assertEqual(self.rows(self.p("app.db")), [("a", 1), ("f", 6)])

    def test_older_store_copy_refused_until_repair(self):
        # The other way round: the store put back from an older copy lacks
        # commits the database holds. The code before served the older
        # state as the committed one (c missing, no error); the open now
        # refuses, naming kvstore_repair, which goes on from what the store
        # holds (c is lost, the database's horizon stays right).
        self.make(self.p("app.db"), "dir='store'")
        shutil.copytree(self.p("store"), self.p("store.old"))
        c = self.connect(self.p("app.db"))
        c.execute("INSERT INTO kv VALUES ('c', 3)")
        self.close(c)
        shutil.rmtree(self.p("store"))
        shutil.copytree(self.p("store.old"), self.p("store"))
        c = self.connect(self.p("app.db"))
        msg = self.refused(c, "SELECT * FROM kv", "older than its database",
                           SQLITE_CORRUPT)
        self.assertIn("kvstore_repair", msg)
        self.assertIn(self.p("store"), msg)
        self.assertEqual(json.loads(c.execute(
            "SELECT kvstore_repair('kv')").fetchone()[0]),
            {"repaired": True,
             "reason": "the store lacks the database's last commits; it goes "
                       "on from what it holds",
             "horizon": 3, "store_sequence": 2})
        self.assertEqual(c.execute("SELECT * FROM kv ORDER BY key").fetchall(),
                         [("a", 1), ("b", 2)])
        c.execute("INSERT INTO kv VALUES ('d', 4)")
        self.close(c)
        self.assertEqual(self.rows(self.p("app.db")),
                         [("a", 1), ("b", 2), ("d", 4)])

    def test_older_database_copy_without_compaction_revokes(self):
        # Commits the copy lacks that no compaction has seen lose nothing:
        # the open takes the table back with the database, as an ordinary
        # table goes back, and reports what it revoked (kvstore_stats'
        # recovery; sqlite3_log).
        self.make(self.p("app.db"), "dir='store'")
        shutil.copy(self.p("app.db"), self.p("old.db"))
        c = self.connect(self.p("app.db"))
        c.execute("INSERT INTO kv VALUES ('c', 3)")
        c.execute("UPDATE kv SET value = 20 WHERE key = 'b'")
        self.close(c)
        shutil.copy(self.p("app.db"), self.p("new.db"))
        shutil.copy(self.p("old.db"), self.p("app.db"))
        c = self.connect(self.p("app.db"))
        self.assertEqual(c.execute("SELECT * FROM kv ORDER BY key").fetchall(),
                         [("a", 1), ("b", 2)])
        rec = json.loads(c.execute(
            "SELECT json_extract(kvstore_stats('kv'), '$.recovery')"
        ).fetchone()[0])
        self.assertEqual(rec["horizon"], 2)
        self.assertEqual(rec["revoked_batches"] + rec["revoked_entries"] > 0,
                         True)
        self.close(c)
        # For good: the newer file put back finds them gone, and is told.
        shutil.copy(self.p("new.db"), self.p("app.db"))
        c = self.connect(self.p("app.db"))
        self.refused(c, "SELECT * FROM kv", "older than its database",
                     SQLITE_CORRUPT)
        self.close(c)

    def test_vacuum_into_default_dir_reports_missing(self):
        self.make(self.p("app.db"))
        c = self.connect(self.p("app.db"))
        c.execute("VACUUM INTO ?", (self.p("copy.db"),))
        self.close(c)
        msg = self.refused(self.connect(self.p("copy.db")), "SELECT * FROM kv",
                           "is missing", SQLITE_CANTOPEN)
        self.assertIn(self.p("copy.db-kv.kvstore"), msg)
        # Connecting never creates a store.
        self.assertFalse(os.path.exists(self.p("copy.db-kv.kvstore")))

    def test_shell_backup_is_refused(self):
        self.make(self.p("app.db"), "dir='data'")
        before = kvtest.dir_snapshot(self.p("data"))
        subprocess.run(["sqlite3", self.p("app.db"),
                        ".backup '%s'" % self.p("bak.db")], check=True,
                       capture_output=True)
        self.no_access(self.p("bak.db"), "belongs to the database at "
                       "'../app.db'")
        self.assertEqual(kvtest.dir_snapshot(self.p("data")), before)

    def test_database_file_copied_alone_absolute_dir(self):
        os.mkdir(self.p("elsewhere"))
        self.make(self.p("app.db"), "dir='%s'" % self.p("store"))
        shutil.copy(self.p("app.db"), self.p("elsewhere", "app.db"))
        before = kvtest.dir_snapshot(self.p("store"))
        self.no_access(self.p("elsewhere", "app.db"), "../app.db")
        # kvstore_attach never takes the store from a database that exists.
        c = self.connect(self.p("elsewhere", "app.db"))
        self.refused(c, "SELECT kvstore_attach('kv')", "which still exists")
        c.execute("DROP TABLE kv")
        self.close(c)
        self.assertEqual(kvtest.dir_snapshot(self.p("store")), before)
        self.assertEqual(self.rows(self.p("app.db")), [("a", 1), ("b", 2)])


class DetachAdopt(Base):
    def test_detached_store_adopted_by_create(self):
        self.make(self.p("a.db"), "dir='%s', key_type=text" % self.p("store"))
        c = self.connect(self.p("a.db"))
        self.assertEqual(c.execute("SELECT kvstore_detach('kv')").fetchone()[0],
                         self.p("store"))
        # The table stays, detached: no access, and DROP deletes nothing.
        self.refused(c, "SELECT * FROM kv", "detached")
        self.close(c)
        with open(self.p("store", "OWNER")) as f:
            self.assertIn("state=detached", f.read())
        before = kvtest.dir_snapshot(self.p("store"))
        c = self.connect(self.p("a.db"))
        c.execute("DROP TABLE kv")
        self.close(c)
        self.assertEqual(kvtest.dir_snapshot(self.p("store")), before)
        # Another database adopts it: its rows, its new identity.
        c = self.connect(self.p("b.db"))
        c.execute("CREATE VIRTUAL TABLE t2 USING kvstore(dir='store')")
        self.assertEqual(c.execute("SELECT * FROM t2 ORDER BY key").fetchall(),
                         [("a", 1), ("b", 2)])
        ident = dict(c.execute("SELECT k, v FROM t2_kvstore").fetchall())
        self.close(c)
        self.assertEqual(ident["table"], "t2")
        self.assertEqual(ident["db_path"], "../b.db")
        with open(self.p("store", "OWNER")) as f:
            owner = f.read()
        self.assertIn("store_id=%s\n" % ident["store_id"], owner)
        self.assertIn("state=owned", owner)

    def test_owned_store_never_adopted(self):
        self.make(self.p("a.db"), "dir='store'")
        before = kvtest.dir_snapshot(self.p("store"))
        c = self.connect(self.p("b.db"))
        self.refused(c, "CREATE VIRTUAL TABLE kv USING kvstore(dir='store')",
                     "a store belongs to one table")
        self.close(c)
        self.assertEqual(kvtest.dir_snapshot(self.p("store")), before)

    def test_detach_then_attach_back(self):
        self.make(self.p("a.db"), "dir='store'")
        c = self.connect(self.p("a.db"))
        c.execute("SELECT kvstore_detach('kv')")
        self.assertEqual(c.execute("SELECT kvstore_attach('kv')").fetchone()[0],
                         "ok")
        self.assertEqual(c.execute("SELECT count(*) FROM kv").fetchone()[0], 2)
        self.close(c)
        self.assertEqual(len(self.rows(self.p("a.db"))), 2)


class Renamed(Base):
    def test_database_renamed_default_dir(self):
        self.make(self.p("app.db"))
        os.rename(self.p("app.db"), self.p("new.db"))
        c = self.connect(self.p("new.db"))
        msg = self.refused(c, "SELECT * FROM kv", "is missing",
                           SQLITE_CANTOPEN)
        # Both paths: where it looks and the database it was made for.
        self.assertIn(self.p("new.db-kv.kvstore"), msg)
        self.assertIn("'../app.db'", msg)
        self.close(c)
        # Re-attach: move the store beside it, then kvstore_attach.
        os.rename(self.p("app.db-kv.kvstore"), self.p("new.db-kv.kvstore"))
        c = self.connect(self.p("new.db"))
        self.refused(c, "SELECT * FROM kv", "not to this one at '../new.db'")
        self.assertEqual(c.execute("SELECT kvstore_attach('kv')").fetchone()[0],
                         "ok")
        self.assertEqual(c.execute("SELECT * FROM kv ORDER BY key").fetchall(),
                         [("a", 1), ("b", 2)])
        self.close(c)
        self.assertEqual(len(self.rows(self.p("new.db"))), 2)

    def test_database_moved_absolute_dir(self):
        os.mkdir(self.p("sub"))
        self.make(self.p("app.db"), "dir='%s'" % self.p("store"))
        os.rename(self.p("app.db"), self.p("sub", "app.db"))
        c = self.connect(self.p("sub", "app.db"))
        msg = self.refused(c, "SELECT * FROM kv", "../sub/app.db")
        self.assertIn("'../app.db'", msg)
        self.assertIn(self.p("store"), msg)
        c.execute("SELECT kvstore_attach('kv')")
        self.assertEqual(len(c.execute("SELECT * FROM kv").fetchall()), 2)
        self.close(c)


class Missing(Base):
    def test_store_removed_or_moved_away(self):
        self.make(self.p("app.db"), "dir='data'")
        os.rename(self.p("data"), self.p("away"))
        self.no_access(self.p("app.db"), "does not exist", SQLITE_CANTOPEN)
        self.assertFalse(os.path.exists(self.p("data")))
        # Back in place: the same connection's table finds it again.
        c = self.connect(self.p("app.db"))
        self.refused(c, "SELECT * FROM kv", "does not exist")
        os.rename(self.p("away"), self.p("data"))
        self.assertEqual(len(c.execute("SELECT * FROM kv").fetchall()), 2)
        self.close(c)
        shutil.rmtree(self.p("data"))
        c = self.connect(self.p("app.db"))
        self.refused(c, "SELECT * FROM kv", "does not exist")
        c.execute("DROP TABLE kv")           # still droppable
        self.close(c)
        self.assertFalse(os.path.exists(self.p("data")))


class TwoTables(Base):
    def test_second_table_same_dir_refused(self):
        c = self.connect(self.p("app.db"))
        c.execute("CREATE VIRTUAL TABLE a USING kvstore(dir='one')")
        c.execute("INSERT INTO a VALUES ('k', 1)")
        self.refused(c, "CREATE VIRTUAL TABLE b USING kvstore(dir='one')",
                     "a store belongs to one table")
        self.assertEqual(c.execute("SELECT * FROM a").fetchall(), [("k", 1)])
        self.close(c)


class Hostile(Base):
    """Database files crafted by someone else: the table's schema entry is
    written directly (no xCreate ran), and the identity rows may be copied
    from the victim's OWNER file."""

    def craft(self, db, target, ident=None):
        c = sqlite3.connect(db, isolation_level=None)
        c.execute("PRAGMA writable_schema=ON")
        c.execute("INSERT INTO sqlite_schema VALUES('table','kv','kv',0,"
                  "'CREATE VIRTUAL TABLE kv USING kvstore(dir=''%s'')')"
                  % target)
        if ident:
            c.execute("CREATE TABLE kv_kvstore(k TEXT PRIMARY KEY, v) "
                      "WITHOUT ROWID")
            c.executemany("INSERT INTO kv_kvstore VALUES (?, ?)",
                          ident.items())
        c.close()

    def check_untouched(self, db, target, needle):
        before = kvtest.dir_snapshot(target)
        self.no_access(db, needle)
        c = self.connect(db)
        c.execute("DROP TABLE kv")
        self.close(c)
        self.assertEqual(kvtest.dir_snapshot(target), before)

    def test_names_another_apps_store(self):
        os.mkdir(self.p("victim"))
        self.make(self.p("victim", "app.db"), "dir='store'")
        with open(self.p("victim", "store", "OWNER")) as f:
            owner = dict(line.split("=", 1) for line in f.read().splitlines()
                         if "=" in line)
        # Without identity rows, and with the victim's identity copied.
        os.mkdir(self.p("evil"))
        self.craft(self.p("evil", "plain.db"), self.p("victim", "store"))
        self.check_untouched(self.p("evil", "plain.db"),
                             self.p("victim", "store"), "belongs to table kv")
        self.craft(self.p("evil", "copied.db"), self.p("victim", "store"),
                   {"store_id": owner["store_id"], "table": "kv",
                    "db_path": owner["db_path"]})
        self.check_untouched(self.p("evil", "copied.db"),
                             self.p("victim", "store"),
                             "not to this one at '../../evil/copied.db'")
        self.assertEqual(self.rows(self.p("victim", "app.db")),
                         [("a", 1), ("b", 2)])

    def test_names_an_empty_directory(self):
        os.mkdir(self.p("empty"))
        self.craft(self.p("evil.db"), self.p("empty"))
        self.check_untouched(self.p("evil.db"), self.p("empty"), "is empty")
        self.assertEqual(os.listdir(self.p("empty")), [])

    def test_names_a_system_like_directory(self):
        os.makedirs(self.p("etc", "ssl"))
        with open(self.p("etc", "passwd"), "w") as f:
            f.write("root:x:0:0::/root:/bin/sh\n")
        self.craft(self.p("evil.db"), self.p("etc"))
        self.check_untouched(self.p("evil.db"), self.p("etc"),
                             "does not hold a kvstore store")
        self.assertTrue(os.path.isdir(self.p("etc", "ssl")))

    FIFO_CHILD = r"""
import json, sqlite3, sys
sys.path.insert(0, sys.argv[1])
import kvtest
out = []
for db, sql in zip(sys.argv[2::2], sys.argv[3::2]):
    c = kvtest.connect(db)
    try:
        c.execute(sql).fetchall()
        out.append(["ok", ""])
    except sqlite3.Error as e:
        out.append([e.sqlite_errorname, str(e)])
    c.close()
print(json.dumps(out))
"""

    def test_fifos_in_place_of_files_refused_without_waiting(self):
        # A FIFO where kvstore reads a file blocked open() until a writer
        # came, that is forever: a store from someone else (CURRENT, OWNER,
        # a table file), the config file, kvstore_ingest's file.
        for name in ("CURRENT", "OWNER", "sst"):
            os.mkdir(self.p(name))
            self.make(self.p(name, "app.db"), "dir='store'")
        c = self.connect(self.p("sst", "app.db"))
        c.execute("SELECT kvstore_compact('kv', 'full')").fetchall()
        self.close(c)
        sst = [f for f in os.listdir(self.p("sst", "store"))
               if f.endswith(".sst")]
        self.assertTrue(sst)
        for name, victim in (("CURRENT", "CURRENT"), ("OWNER", "OWNER"),
                             ("sst", sst[0])):
            os.unlink(self.p(name, "store", victim))
            os.mkfifo(self.p(name, "store", victim))
        os.mkfifo(self.p("fifo"))
        work = [
            (self.p("CURRENT", "app.db"), "SELECT * FROM kv"),
            (self.p("OWNER", "app.db"), "SELECT * FROM kv"),
            (self.p("sst", "app.db"), "SELECT * FROM kv"),
            (self.p("new.db"), "CREATE VIRTUAL TABLE kv USING "
                               "kvstore(config='%s')" % self.p("fifo")),
            (self.p("sst", "app.db"), "SELECT kvstore_ingest('kv', '%s')"
                                      % self.p("fifo")),
        ]
        argv = [sys.executable, "-c", self.FIFO_CHILD,
                os.path.dirname(os.path.abspath(__file__))]
        for db, sql in work:
            argv += [db, sql]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(len(out), len(work))
        for (name, msg), needle in zip(out, (
                "CURRENT' is not a regular file", "is damaged",
                ".sst' is not a regular file",
                "fifo': not a regular file", "fifo' is not a regular file")):
            self.assertNotEqual(name, "ok", msg)
            self.assertTrue(msg.startswith("kvstore:"), msg)
            self.assertIn(needle, msg)

    def test_damaged_owner_file(self):
        self.make(self.p("app.db"), "dir='store'")
        with open(self.p("store", "OWNER"), "w") as f:
            f.write("garbage\n")
        self.check_untouched(self.p("app.db"), self.p("store"), "is damaged")


class Lifecycle(Base):
    def test_made_dir_removed_existing_dir_kept(self):
        c = self.connect(self.p("app.db"))
        c.execute("CREATE VIRTUAL TABLE made USING kvstore(dir='made')")
        os.mkdir(self.p("given"))
        c.execute("CREATE VIRTUAL TABLE given USING kvstore(dir='given')")
        c.execute("INSERT INTO given VALUES ('k', 1)")
        c.execute("DROP TABLE made")
        c.execute("DROP TABLE given")
        # (deleted once the DROPs committed: at close, or next use)
        self.close(c)
        c = self.connect(self.p("app.db"))
        self.assertFalse(os.path.exists(self.p("made")))
        self.assertEqual(os.listdir(self.p("given")), [])
        self.assertEqual(c.execute("SELECT count(*) FROM sqlite_schema")
                         .fetchone()[0], 0)
        self.close(c)

    def test_rename_keeps_ownership(self):
        c = self.connect(self.p("app.db"))
        c.execute("CREATE VIRTUAL TABLE d USING kvstore")
        c.execute("CREATE VIRTUAL TABLE e USING kvstore(dir='e')")
        c.execute("INSERT INTO d VALUES ('k', 1)")
        c.execute("INSERT INTO e VALUES ('k', 2)")
        c.execute("ALTER TABLE d RENAME TO d2")
        c.execute("ALTER TABLE e RENAME TO e2")
        self.close(c)
        self.assertEqual(self.rows(self.p("app.db"), "d2"), [("k", 1)])
        self.assertEqual(self.rows(self.p("app.db"), "e2"), [("k", 2)])
        c = self.connect(self.p("app.db"))
        self.assertEqual(c.execute("SELECT v FROM e2_kvstore WHERE k='table'")
                         .fetchone()[0], "e2")
        self.close(c)
        with open(self.p("e", "OWNER")) as f:
            self.assertIn("table=e2\n", f.read())

    def test_odd_table_name_round_trips_in_owner(self):
        # A newline or '%' in a table name must not break the OWNER lines.
        name = 'we%rd\nname=x'
        c = self.connect(self.p("app.db"))
        c.execute('CREATE VIRTUAL TABLE "%s" USING kvstore(dir=\'odd\')'
                  % name)
        c.execute('INSERT INTO "%s" VALUES (\'k\', 1)' % name)
        self.close(c)
        with open(self.p("odd", "OWNER")) as f:
            self.assertIn("table=we%25rd%0Aname=x\n", f.read())
        self.assertEqual(self.rows(self.p("app.db"), '"%s"' % name),
                         [("k", 1)])

    def test_rename_rolled_back(self):
        self.make(self.p("app.db"), "dir='data'")
        c = self.connect(self.p("app.db"))
        c.execute("BEGIN")
        c.execute("ALTER TABLE kv RENAME TO kv9")
        c.execute("ROLLBACK")
        self.assertEqual(len(c.execute("SELECT * FROM kv").fetchall()), 2)
        self.close(c)
        self.assertEqual(len(self.rows(self.p("app.db"))), 2)

    def test_rename_failing_after_move_puts_directory_back(self):
        # The default directory moved, then recording the new name in
        # OWNER failed (OWNER.tmp in the way): the ALTER fails and the
        # directory must be back where the table, still kv, looks.
        self.make(self.p("app.db"))
        store = self.p("app.db-kv.kvstore")
        os.mkdir(os.path.join(store, "OWNER.tmp"))
        c = self.connect(self.p("app.db"))
        with self.assertRaises(sqlite3.DatabaseError):
            c.execute("ALTER TABLE kv RENAME TO kv9")
        self.assertTrue(os.path.isdir(store))
        self.assertFalse(os.path.exists(self.p("app.db-kv9.kvstore")))
        self.assertEqual(c.execute("SELECT * FROM kv ORDER BY key").fetchall(),
                         [("a", 1), ("b", 2)])
        self.close(c)
        os.rmdir(os.path.join(store, "OWNER.tmp"))
        self.assertEqual(self.rows(self.p("app.db")), [("a", 1), ("b", 2)])

    def interrupt_after(self, c, n):
        """Interrupt c's statements at their n-th progress callback."""
        count = [0]

        def handler():
            count[0] += 1
            return 1 if count[0] >= n else 0
        c.set_progress_handler(handler, 1)

    def test_rename_interrupted_at_every_step_keeps_the_store(self):
        # SQLite rolls back an ALTER interrupted after xRename moved the
        # default directory (an application's timeout through a progress
        # handler, ^C in the shell, an allocation or a full disk): the
        # table, under its old name, finds its store again, in the same
        # connection (the ALTER still prepared, and finalized) and after
        # reopening. The ordinary twin is renamed or not, with its rows.
        n = 1
        while True:
            base = self.p("r%d" % n)
            os.mkdir(base)
            db = os.path.join(base, "app.db")
            c = self.connect(db)
            c.execute("CREATE VIRTUAL TABLE kv USING kvstore")
            c.execute("CREATE TABLE t(key TEXT PRIMARY KEY, value) "
                      "WITHOUT ROWID")
            for tab in ("kv", "t"):
                c.execute("INSERT INTO %s VALUES ('a', 1)" % tab)
            done = []
            for tab in ("kv", "t"):
                self.interrupt_after(c, n)
                try:
                    c.execute("ALTER TABLE %s RENAME TO %s2" % (tab, tab))
                    done.append(tab)
                except sqlite3.OperationalError as e:
                    self.assertTrue(str(e).endswith("interrupted"), str(e))
                c.set_progress_handler(None, 1)
            names = [r[0] for r in c.execute(
                "SELECT name FROM sqlite_schema WHERE name IN "
                "('kv', 'kv2', 't', 't2')")]
            for tab in ("kv", "t"):
                name = [x for x in names if x.rstrip("2") == tab]
                self.assertEqual(len(name), 1, (n, names))
                self.assertEqual(c.execute("SELECT * FROM %s" % name[0])
                                 .fetchall(), [("a", 1)], (n, name))
            kvname = [x for x in names if x.startswith("kv")][0]
            self.assertEqual(sorted(f for f in os.listdir(base)
                                    if f.endswith(".kvstore")),
                             ["app.db-%s.kvstore" % kvname], n)
            self.close(c)
            self.assertEqual(self.rows(db, kvname), [("a", 1)], n)
            shutil.rmtree(base)
            if "kv" in done:
                break
            n += 5
        self.assertGreater(n, 50)

    def test_create_after_interrupted_rename_does_not_take_the_store(self):
        # The store left under kv2's name by an interrupted ALTER TABLE kv
        # RENAME TO kv2 belongs to kv: a CREATE of kv2 before kv is used
        # again moves it back and makes kv2 a new store.
        for cached in (0, 100):
            base = self.p("c%d" % cached)
            os.mkdir(base)
            db = os.path.join(base, "app.db")
            c = kvtest.connect(db, cached_statements=cached)
            self.conns.append(c)
            c.execute("CREATE VIRTUAL TABLE kv USING kvstore")
            c.execute("INSERT INTO kv VALUES ('a', 1)")
            # Each attempt is interrupted one step later. With a statement
            # cache the ALTER tried before stays prepared, its copy of kv
            # holding the store open: the next attempt must not be refused
            # as "in use" (it was, for as long as the cache kept it).
            n = 1
            while True:
                self.assertLess(n, 5000)
                self.interrupt_after(c, n)
                try:
                    c.execute("ALTER TABLE kv RENAME TO kv2")
                    self.fail("never interrupted after the move")
                except sqlite3.OperationalError as e:
                    self.assertNotIn("uses its store", str(e))
                c.set_progress_handler(None, 1)
                if os.path.exists(os.path.join(base, "app.db-kv2.kvstore")):
                    break
                n += 1
            c.execute("CREATE VIRTUAL TABLE kv2 USING kvstore")
            self.assertEqual(c.execute("SELECT * FROM kv2").fetchall(), [])
            self.assertEqual(c.execute("SELECT * FROM kv").fetchall(),
                             [("a", 1)])
            self.close(c)
            self.assertEqual(self.rows(db, "kv"), [("a", 1)])
            self.assertEqual(self.rows(db, "kv2"), [])

    def test_detach_after_interrupted_ddl_with_statement_cache(self):
        # An interrupted DROP, then an interrupted RENAME, both kept
        # prepared by the statement cache, leave a copy of the table that
        # holds the store open: kvstore_detach was refused ("another
        # connection ... uses") until the cache let the statements go.
        n = 1
        while True:
            base = self.p("d%d" % n)
            os.mkdir(base)
            c = self.connect(os.path.join(base, "app.db"))
            c.execute("CREATE VIRTUAL TABLE kv USING kvstore")
            c.execute("INSERT INTO kv VALUES ('a', 1)")
            done = False
            for sql in ("DROP TABLE kv", "ALTER TABLE kv RENAME TO kv2"):
                self.interrupt_after(c, n)
                try:
                    c.execute(sql)
                    done = True
                except sqlite3.OperationalError:
                    pass
                c.set_progress_handler(None, 1)
                if done or not c.execute("SELECT 1 FROM sqlite_schema "
                                         "WHERE name='kv'").fetchone():
                    done = True         # (or interrupted after its commit)
                    break
            if done:
                break
            self.assertEqual(c.execute("SELECT kvstore_detach('kv')")
                             .fetchone()[0],
                             os.path.join(base, "app.db-kv.kvstore"), n)
            self.assertEqual(c.execute("SELECT kvstore_attach('kv')")
                             .fetchone()[0], "ok", n)
            self.assertEqual(c.execute("SELECT * FROM kv").fetchall(),
                             [("a", 1)], n)
            self.close(c)
            n += 1
        self.assertGreater(n, 20)

    def test_rename_and_detach_refused_while_a_statement_reads(self):
        # They close the engine the pending SELECT reads through (RENAME
        # did, and the SELECT went on reading freed memory: valgrind saw
        # it). An ordinary table renames under a pending SELECT; kvstore
        # refuses with SQLITE_LOCKED until the statement is done.
        self.make(self.p("app.db"), rows=[("k%03d" % i, i) for i in range(50)])
        c = self.connect(self.p("app.db"))
        cur = c.cursor()
        cur.execute("SELECT * FROM kv")
        self.assertEqual(cur.fetchone(), ("k000", 0))
        for sql in ("ALTER TABLE kv RENAME TO kv2",
                    "SELECT kvstore_detach('kv')",
                    "SELECT kvstore_detach('kv') FROM kv"):
            with self.assertRaises(sqlite3.OperationalError) as cm:
                c.execute(sql).fetchall()
            self.assertEqual(cm.exception.sqlite_errorcode & 0xff, 6, sql)
            self.assertIn("while a statement is reading it", str(cm.exception))
        self.assertEqual(len(cur.fetchall()), 49)
        c.execute("ALTER TABLE kv RENAME TO kv2")
        self.assertEqual(c.execute("SELECT count(*) FROM kv2").fetchone()[0],
                         50)

    def test_create_rolled_back_then_again(self):
        c = self.connect(self.p("app.db"))
        c.execute("BEGIN")
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore(dir='data')")
        c.execute("ROLLBACK")
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore(dir='data')")
        c.execute("INSERT INTO kv VALUES ('k', 1)")
        self.close(c)
        self.assertEqual(self.rows(self.p("app.db")), [("k", 1)])


class Damaged(Base):
    def test_own_damaged_store_can_be_dropped(self):
        self.make(self.p("app.db"), "dir='store'")
        with open(self.p("store", "CURRENT"), "w") as f:
            f.write("garbage")
        c = self.connect(self.p("app.db"))
        with self.assertRaises(sqlite3.DatabaseError) as cm:
            c.execute("SELECT * FROM kv").fetchall()
        self.assertEqual(cm.exception.sqlite_errorcode & 0xff, SQLITE_CORRUPT)
        c.execute("DROP TABLE kv")
        self.close(c)
        self.assertFalse(os.path.exists(self.p("store")))


    def test_incomplete_store_reported_and_droppable(self):
        # What a DROP cut short can leave: OWNER without KVSTORE.
        self.make(self.p("app.db"), "dir='store'")
        os.unlink(self.p("store", "KVSTORE"))
        c = self.connect(self.p("app.db"))
        self.refused(c, "SELECT * FROM kv", "is incomplete", SQLITE_CORRUPT)
        c.execute("DROP TABLE kv")
        self.close(c)
        self.assertFalse(os.path.exists(self.p("store", "OWNER")))

    def set_horizon(self, db, value):
        """Edit the shadow row as a damaged or hand-edited file holds it
        (plain sqlite3, no extension)."""
        c = sqlite3.connect(db, isolation_level=None)
        c.execute("UPDATE kv_kvstore SET v=%s WHERE k='horizon'" % value)
        c.close()

    def test_damaged_horizon_refused_store_kept(self):
        # A horizon that is no sequence number was read as 0, and opening
        # revoked every commit of the store for good.
        rows = [("a", 1), ("b", 2), ("c", 3)]
        self.make(self.p("app.db"), "dir='store'", rows)
        c = sqlite3.connect(self.p("app.db"))
        good = c.execute("SELECT v FROM kv_kvstore WHERE k='horizon'"
                         ).fetchone()[0]
        c.close()
        for bad, shown in (("'abc'", "the text 'abc'"),
                           ("x'0001'", "a blob of 2 bytes"),
                           ("NULL", "is NULL"), ("-5", "is -5"),
                           ("1.5", "is 1.5")):
            self.set_horizon(self.p("app.db"), bad)
            before = kvtest.dir_snapshot(self.p("store"))
            self.no_access(self.p("app.db"), "commit horizon of table kv",
                           SQLITE_CORRUPT)
            c = self.connect(self.p("app.db"))
            self.refused(c, "SELECT * FROM kv", shown, SQLITE_CORRUPT)
            self.close(c)
            self.assertEqual(kvtest.dir_snapshot(self.p("store")), before, bad)
            self.set_horizon(self.p("app.db"), good)
            self.assertEqual(self.rows(self.p("app.db")), rows, bad)

    def test_horizon_damaged_while_open_refused(self):
        # A connection that has read the table checks the row it reads
        # again after another connection's commit.
        self.make(self.p("app.db"), "dir='store'")
        c = self.connect(self.p("app.db"))
        self.assertEqual(c.execute("SELECT count(*) FROM kv").fetchone(), (2,))
        self.set_horizon(self.p("app.db"), "'7'")
        self.refused(c, "SELECT count(*) FROM kv", "the text '7'",
                     SQLITE_CORRUPT)
        self.refused(c, "INSERT INTO kv VALUES ('z', 1)", "the text '7'",
                     SQLITE_CORRUPT)
        self.refused(c, "SELECT kvstore_checkpoint('kv', '%s')"
                     % self.p("ckpt"), "the text '7'")
        self.assertFalse(os.path.exists(self.p("ckpt")))
        self.close(c)


class NoFile(Base):
    def test_store_of_an_in_memory_database_adoptable_after_close(self):
        # A database without a file cannot come back: once its connection
        # is gone, its store may be adopted; while it is open, not.
        store = self.p("mstore")
        a = self.connect(":memory:")
        a.execute("CREATE VIRTUAL TABLE m USING kvstore(dir='%s')" % store)
        a.execute("INSERT INTO m VALUES ('x', 1)")
        b = self.connect(":memory:")
        with self.assertRaises(sqlite3.DatabaseError):
            b.execute("CREATE VIRTUAL TABLE m USING kvstore(dir='%s')" % store)
        self.close(a)
        b.execute("CREATE VIRTUAL TABLE m USING kvstore(dir='%s')" % store)
        self.assertEqual(b.execute("SELECT * FROM m").fetchall(), [("x", 1)])
        self.close(b)


class Upgrade(Base):
    def make_legacy(self, db, args):
        """What the previous release left: a table without shadow rows and
        a store without OWNER."""
        self.make(db, args)
        c = sqlite3.connect(db, isolation_level=None)
        c.execute("DROP TABLE kv_kvstore")
        c.close()

    def test_legacy_refused_until_attached(self):
        self.make_legacy(self.p("old.db"), "dir='old'")
        os.unlink(self.p("old", "OWNER"))
        before = kvtest.dir_snapshot(self.p("old"))
        self.no_access(self.p("old.db"), "earlier kvstore release")
        self.assertEqual(kvtest.dir_snapshot(self.p("old")), before)
        c = self.connect(self.p("old.db"))
        self.assertEqual(c.execute("SELECT kvstore_attach('kv')").fetchone()[0],
                         "ok")
        self.assertEqual(len(c.execute("SELECT * FROM kv").fetchall()), 2)
        self.close(c)
        self.assertEqual(len(self.rows(self.p("old.db"))), 2)
        self.assertTrue(os.path.exists(self.p("old", "OWNER")))

    def test_legacy_store_adopted_by_create(self):
        self.make_legacy(self.p("old.db"), "dir='old'")
        os.unlink(self.p("old", "OWNER"))
        c = self.connect(self.p("new.db"))
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore(dir='old')")
        self.assertEqual(len(c.execute("SELECT * FROM kv").fetchall()), 2)
        self.close(c)
        # The old table can no longer claim it.
        c = self.connect(self.p("old.db"))
        self.refused(c, "SELECT kvstore_attach('kv')", "belongs to another")
        self.close(c)


if __name__ == "__main__":
    unittest.main(verbosity=1)
