#!/usr/bin/python3
"""Tests of kvtool (tools/kvtool.c, doc/kvtool.md) on real stores made
through kvstore.so: every command, in text and JSON; a store held open by
this process (read commands work, writes and maintenance refuse); every
file of the store byte-for-byte unchanged after the read commands, WAL not
flushed included; writes and maintenance through the owning database
(--db), checked with SELECT; bad arguments, damaged files and damaged
databases giving clear errors and the documented exit codes.

    /usr/bin/python3 tests/kvtooltest.py
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

KVTOOL = os.environ.get("KVTOOL", os.path.join(kvtest.ROOT, "build", "kvtool"))
OK, PROBLEM, USAGE, CANTOPEN, BUSY = 0, 1, 2, 3, 4

# Small memtables and files so a few thousand rows make several levels.
SHAPE = ("memtable_size='64KB', background=off, level0_trigger=2, "
         "target_file_size='16KB'")


def tool(*args):
    """Run kvtool; returns (exit code, stdout, stderr)."""
    p = subprocess.run([KVTOOL] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def hashes(d):
    """{name: sha256} of every file in directory d."""
    out = {}
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def sqlite3_plain(path):
    """A connection without kvstore (autocommit), for the database's own
    tables."""
    import sqlite3
    return sqlite3.connect(path, isolation_level=None, timeout=0.1)


def shown(v):
    """A SQL value as kvtool's JSON shows it: blobs in hex."""
    if isinstance(v, bytes):
        return v.hex()
    return v


def value_for(i):
    """Every value type the table stores."""
    return [f"value {i}", i * 7 - 500, i / 8.0, bytes([i % 256, 0, 255]),
            None, "it's\na 'quote'"][i % 6]


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kvtool-")
        self.db = os.path.join(self.dir, "app.db")
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def store(self, table="kv"):
        return self.db + "-" + table + ".kvstore"

    def make(self, key_type="text", n=3000, unflushed=200, hold=False,
             table="kv", shape=SHAPE):
        """A store of n rows written in several commits, the last
        `unflushed` of them in the WAL alone. With hold, the connection
        stays open (this process owns the store); else it is closed."""
        c = kvtest.connect(self.db)
        c.execute(f"CREATE VIRTUAL TABLE {table} USING kvstore(key_type="
                  f"{key_type}, {shape})")

        def key(i):
            if key_type == "integer":
                return (i - n // 2) * 1000003
            if key_type == "blob":
                return bytes([i % 7, i // 256 % 256, i % 256, 0xff])
            return "user:%05d" % i
        c.execute("BEGIN")
        for i in range(n - unflushed):
            c.execute(f"INSERT INTO {table} VALUES (?, ?)",
                      (key(i), value_for(i)))
            if i % 500 == 499:
                c.execute("COMMIT")
                c.execute("BEGIN")
        c.execute("COMMIT")
        c.execute(f"SELECT kvstore_flush('{table}')")
        c.execute("BEGIN")
        for i in range(n - unflushed, n):
            c.execute(f"INSERT INTO {table} VALUES (?, ?)",
                      (key(i), value_for(i)))
        c.execute(f"DELETE FROM {table} WHERE key = ?", (key(3),))
        c.execute("COMMIT")
        rows = c.execute(f"SELECT key, value FROM {table} ORDER BY key"
                         ).fetchall()
        if hold:
            self.conns.append(c)
        else:
            c.close()
        return rows

    def ok(self, *args):
        rc, out, err = tool(*args)
        self.assertEqual(rc, OK, f"kvtool {args}: {err}")
        return out

    def js(self, *args):
        return json.loads(self.ok(*args, "--json"))

    def scan_rows(self, *args):
        doc = self.js("scan", self.store(), *args)
        self.assertEqual(doc["count"], len(doc["rows"]))
        return [(r["key"], r["value"]) for r in doc["rows"]]

    def every_read_command(self, d, svg):
        """Run every read command on store d; returns their outputs."""
        outs = []
        for args in (["info"], ["info", "--json"], ["info", "--svg", svg],
                     ["sstables"], ["sstables", "--json"],
                     ["shape", "--svg", svg], ["dump-manifest"],
                     ["dump-manifest", "--json"], ["dump-wal"],
                     ["dump-wal", "--json"], ["verify"], ["verify", "--json"],
                     ["scan", "--limit", "5"], ["scan", "--json"],
                     ["scan", "--reverse", "--limit", "3", "--json"]):
            outs.append(self.ok(args[0], d, *args[1:]))
        for name in sorted(os.listdir(d)):
            if name.endswith(".sst"):
                outs.append(self.ok("dump-sst", d, name))
                outs.append(self.ok("dump-sst", d, name, "--entries",
                                    "--json"))
        return outs


class ReadCommands(Base):
    def test_text_store_every_command_leaves_files_unchanged(self):
        rows = self.make("text")
        d = self.store()
        wal = [f for f in os.listdir(d) if f.startswith("wal-")]
        self.assertTrue(any(os.path.getsize(os.path.join(d, f)) for f in wal),
                        "the store must have an un-flushed WAL")
        before = hashes(d)
        self.every_read_command(d, os.path.join(self.dir, "s.svg"))
        self.assertEqual(hashes(d), before)

        # scan shows what SELECT shows, with the WAL's rows.
        want = [(k, shown(v)) for k, v in rows]
        self.assertEqual(self.scan_rows(), want)
        self.assertEqual(self.scan_rows("--reverse"), want[::-1])
        self.assertEqual(self.scan_rows("--prefix", "user:012"),
                         [r for r in want if r[0].startswith("user:012")])
        self.assertEqual(self.scan_rows("--from", "user:00100", "--to",
                                        "user:00200", "--limit", "40"),
                         [r for r in want if "user:00100" <= r[0] <
                          "user:00200"][:40])
        self.assertEqual(self.scan_rows("--prefix", "user:01", "--reverse",
                                        "--to", "user:0150", "--limit", "7"),
                         [r for r in want[::-1] if r[0].startswith("user:01")
                          and r[0] < "user:0150"][:7])
        # get: each value type, text output as SQL literals.
        self.assertEqual(self.ok("get", d, "user:00006").strip(), "'value 6'")
        self.assertEqual(self.ok("get", d, "user:00007").strip(), "-451")
        self.assertEqual(self.ok("get", d, "user:00002").strip(), "0.25")
        self.assertEqual(self.ok("get", d, "user:00009").strip(), "X'0900ff'")
        self.assertEqual(self.ok("get", d, "user:00010").strip(), "NULL")
        self.assertEqual(self.ok("get", d, "user:00011").strip(),
                         "'it''s\\na ''quote'''")
        g = self.js("get", d, "user:02999")     # in the WAL alone
        self.assertEqual((g["found"], g["value"]), (True, shown(value_for(2999))))
        rc, out, err = tool("get", d, "user:00003")   # deleted
        self.assertEqual(rc, PROBLEM)
        self.assertIn("not found", err)
        self.assertEqual(hashes(d), before)

        info = self.js("info", d)
        self.assertEqual(info["key_type"], "text")
        self.assertEqual(info["files"], len(self.js("sstables", d)))
        self.assertGreater(info["stats"]["memtable"]["entries"], 0)
        # The store was made by CREATE: OWNER names its table and database.
        self.assertEqual((info["owner"]["state"], info["owner"]["table"]),
                         ("owned", "kv"))
        self.assertTrue(info["owner"]["db_path"].endswith("app.db"))
        # dump-sst agrees with the manifest on entries and Merkle roots.
        for t in self.js("sstables", d):
            s = self.js("dump-sst", d, t["file"])
            self.assertTrue(s["ok"])
            self.assertEqual(s["entries"], t["entries"])
            self.assertEqual(s["merkle_root"], t["merkle_root"])
            self.assertEqual(sum(b["entries"] for b in s["blocks"]),
                             t["entries"])
        # dump-wal holds the un-flushed rows, the delete last.
        ops = [op for seg in self.js("dump-wal", d)["segments"]
               for rec in seg["records"] for op in rec["ops"]]
        self.assertEqual(ops[-1]["op"], "delete")
        self.assertEqual(ops[-1]["key"], "user:00003")
        man = self.js("dump-manifest", d)
        self.assertTrue(man["ok"])
        self.assertTrue(any(e["add"] for e in man["edits"]))

    def test_integer_and_blob_keys_show_as_the_table_does(self):
        irows = self.make("integer", n=1200, table="ik")
        brows = self.make("blob", n=1200, table="bk")
        di, db = self.store("ik"), self.store("bk")
        before = (hashes(di), hashes(db))
        got = [(r["key"], r["value"]) for r in self.js("scan", di)["rows"]]
        self.assertEqual(got, [(k, shown(v)) for k, v in irows])
        got = [(r["key"], r["value"]) for r in self.js("scan", db)["rows"]]
        self.assertEqual(got, [(k.hex(), shown(v)) for k, v in brows])
        k, v = irows[10]
        self.assertEqual(self.js("get", di, str(k))["value"], shown(v))
        neg = [r for r in irows if r[0] < 0][-1]
        self.assertEqual(self.js("get", di, str(neg[0]))["value"], shown(neg[1]))
        sub = self.js("scan", di, "--from", "-5000000", "--to", "5000000")
        self.assertEqual([r["key"] for r in sub["rows"]],
                         [k for k, _ in irows if -5000000 <= k < 5000000])
        k, v = brows[5]
        self.assertEqual(self.js("get", db, k.hex())["value"], shown(v))
        self.assertEqual(self.js("get", db, "x'%s'" % k.hex())["value"],
                         shown(v))
        pre = self.js("scan", db, "--prefix", "03")
        self.assertEqual([r["key"] for r in pre["rows"]],
                         [k.hex() for k, _ in brows if k[0] == 3])
        self.assertEqual((hashes(di), hashes(db)), before)

    def test_shape_svg_draws_every_table(self):
        self.make("text", n=8000, unflushed=0,
                  shape=SHAPE + ", level_size_multiplier=2")
        svg = os.path.join(self.dir, "shape.svg")
        self.ok("shape", self.store(), "--svg", svg)
        tables = self.js("sstables", self.store())
        self.assertGreater(len({t["level"] for t in tables}), 1)
        root = ET.parse(svg).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        titles = [t.text for t in root.iter(ns + "title")]
        self.assertEqual(len(titles), len(tables))
        for t in tables:
            self.assertTrue(any(t["file"] in x for x in titles), t["file"])
        if shutil.which("rsvg-convert"):
            png = os.path.join(self.dir, "shape.png")
            subprocess.run(["rsvg-convert", "-o", png, svg], check=True,
                           timeout=60)
            self.assertGreater(os.path.getsize(png), 1000)


    def test_shape_svg_spreads_tables_along_the_key_axis(self):
        """Tables of one level (L1 and deeper) sit left to right in key
        order and split the axis between them, for text keys of decimal
        digits and for integer keys across zero (two placements that were
        once drawn as one table spanning everything)."""
        for kt in ("text", "integer"):
            self.make(kt, n=8000, unflushed=0, table="s" + kt,
                      shape=SHAPE + ", level_size_multiplier=2")
            svg = os.path.join(self.dir, kt + ".svg")
            self.ok("shape", self.store("s" + kt), "--svg", svg)
            tables = self.js("sstables", self.store("s" + kt))
            ns = "{http://www.w3.org/2000/svg}"
            where = {}
            for g in ET.parse(svg).getroot().iter(ns + "g"):
                name = g.find(ns + "title").text.split()[1].rstrip(":")
                r = g.find(ns + "rect")
                where[name] = (float(r.get("x")), float(r.get("width")))
            axis = max(x + w for x, w in where.values()) - min(
                x for x, _ in where.values())
            for level in {t["level"] for t in tables} - {0}:
                files = [t for t in tables if t["level"] == level]
                xs = [where[t["file"]] for t in files]
                self.assertEqual([x for x, _ in xs], sorted(x for x, _ in xs))
                if len(files) >= 4:
                    self.assertLess(max(w for _, w in xs), axis / 2,
                                    f"{kt} L{level}: {xs}")


class HeldStore(Base):
    def test_read_commands_beside_the_owner_and_maintenance_refuses(self):
        rows = self.make("text", hold=True)
        owner = self.conns[0]
        d = self.store()
        before = hashes(d)
        self.every_read_command(d, os.path.join(self.dir, "s.svg"))
        self.assertEqual(hashes(d), before)
        self.assertEqual(len(self.scan_rows()), len(rows))
        db = ["--db", self.db]
        for args in (["compact", d] + db, ["compact", d, "--full"] + db,
                     ["checkpoint", d, os.path.join(self.dir, "cp")] + db,
                     ["repair", d] + db):
            rc, out, err = tool(*args)
            self.assertEqual(rc, BUSY, f"{args}: {err}")
            self.assertIn("another process has the store open", err)
        # Without --db, maintenance is not even tried.
        for args in (["compact", d], ["checkpoint", d, "cp"], ["repair", d]):
            rc, out, err = tool(*args)
            self.assertEqual(rc, USAGE, f"{args}: {err}")
            self.assertIn("needs --db", err)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "cp")))
        self.assertEqual(hashes(d), before)
        # SQL through the database works beside the owner (many processes
        # share a store), and the owner sees what the tool wrote.
        for args in (["put", d, "k", "v"] + db,
                     ["delete", d, "user:00001"] + db,
                     ["batch-load", d, "--generate", "10"] + db,
                     ["get", d, "k"] + db, ["scan", d] + db):
            rc, out, err = tool(*args)
            self.assertEqual(rc, 0, f"{args}: {err}")
        self.assertEqual(
            owner.execute("SELECT value FROM kv WHERE key='k'").fetchone(),
            ("v",))
        self.assertIsNone(owner.execute(
            "SELECT value FROM kv WHERE key='user:00001'").fetchone())
        # The owner still writes, and the tool sees the new row.
        owner.execute("INSERT INTO kv VALUES ('zz', 'after')")
        self.assertEqual(self.ok("get", d, "zz").strip(), "'after'")

    def test_compaction_of_the_owner_under_the_tool(self):
        """The owner compacts while the tool opens and reads, again and
        again: every read shows all rows, never an error."""
        rows = self.make("text", n=2000, hold=True)
        owner = self.conns[0]
        p = subprocess.Popen(
            [sys.executable, "-c",
             "import subprocess, sys, json\n"
             "bad = 0\n"
             "for i in range(15):\n"
             "    r = subprocess.run([sys.argv[1], 'scan', sys.argv[2], "
             "'--json'], capture_output=True, text=True)\n"
             "    if r.returncode or json.loads(r.stdout)['count'] != "
             "int(sys.argv[3]): bad += 1; print(r.stderr)\n"
             "print('bad', bad)\n", KVTOOL, self.store(), str(len(rows))],
            stdout=subprocess.PIPE, text=True)
        for i in range(15):
            time.sleep(0.02)
            owner.execute("SELECT kvstore_compact('kv', 'full')")
            owner.execute("UPDATE kv SET value = ? WHERE key = 'user:00001'",
                          (i,))
        out, _ = p.communicate(timeout=120)
        self.assertIn("bad 0", out)


class Maintenance(Base):
    def test_compact_and_checkpoint_when_no_process_uses_the_store(self):
        rows = self.make("text")
        d = self.store()
        db = ["--db", self.db]
        doc = json.loads(self.ok("compact", d, "--full", *db))
        self.assertGreater(doc["files_in"], 1)
        # One sorted run at one level (in files of the table's
        # target_file_size, 16KB here: the owner's options apply).
        self.assertEqual(len({t["level"] for t in self.js("sstables", d)}), 1)
        want = [(k, shown(v)) for k, v in rows]
        self.assertEqual(self.scan_rows(), want)
        cp = os.path.join(self.dir, "copy")
        out = self.ok("checkpoint", d, cp, *db)
        self.assertIn("written to", out)
        self.assertEqual([(r["key"], r["value"])
                          for r in self.js("scan", cp)["rows"]], want)
        self.assertEqual(self.ok("verify", cp).strip(), "ok")
        rc, out, err = tool("checkpoint", d, cp, *db)
        self.assertEqual(rc, USAGE)
        self.assertIn("exists", err)
        # A relative DEST is relative to the working directory, and the
        # copy is detached: a new table adopts it and reads every row.
        p = subprocess.run([KVTOOL, "checkpoint", d, "rel-copy", "--json",
                            "--db", self.db], cwd=self.dir,
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, OK, p.stderr)
        self.assertGreater(json.loads(p.stdout)["files"], 2)
        c = kvtest.connect(os.path.join(self.dir, "other.db"))
        self.conns.append(c)
        c.execute("CREATE VIRTUAL TABLE t USING kvstore(dir='rel-copy')")
        self.assertEqual(c.execute("SELECT key, value FROM t ORDER BY key"
                                   ).fetchall(), rows)
        # The table still reads every row after the tool's maintenance.
        c = kvtest.connect(self.db)
        self.conns.append(c)
        self.assertEqual(c.execute("SELECT key, value FROM kv ORDER BY key"
                                   ).fetchall(), rows)


    def test_repair_rebuilds_a_damaged_current(self):
        rows = self.make("text", n=1500)
        d = self.store()
        db = ["--db", self.db]
        self.assertIn("nothing to repair", self.ok("repair", d, *db))
        with open(os.path.join(d, "CURRENT"), "wb") as f:
            f.write(b"\x00garbage")
        before = hashes(d)
        rc, out, err = tool("scan", d)
        self.assertEqual(rc, CANTOPEN)
        out = self.ok("repair", d, *db)
        self.assertIn("repaired: CURRENT now names MANIFEST-", out)
        after = hashes(d)
        self.assertEqual(after.pop("CURRENT.bad"), before["CURRENT"])
        self.assertNotEqual(after.pop("CURRENT"), before.pop("CURRENT"))
        self.assertEqual(after, before)          # nothing else touched
        self.assertEqual(self.scan_rows(), [(k, shown(v)) for k, v in rows])
        # Lost altogether: the same.
        os.unlink(os.path.join(d, "CURRENT"))
        self.assertEqual(self.js("repair", d, *db)["repaired"], True)
        self.assertEqual(len(self.scan_rows()), len(rows))

    def test_repair_rebuilds_a_lost_manifest_and_refuses_the_rest(self):
        rows = self.make("text", n=1500)
        d = self.store()
        man = [f for f in os.listdir(d) if f.startswith("MANIFEST-")][0]
        with open(os.path.join(d, man), "wb") as f:
            f.write(b"not a manifest" * 10)
        rc, out, err = tool("repair", d, "--db", self.db)
        self.assertEqual(rc, OK, err)
        self.assertIn("no manifest was usable", out)
        self.assertEqual(self.ok("verify", d).strip().split()[-1], "ok")
        self.assertEqual(len(self.scan_rows()), len(rows))
        # CURRENT sound, a table damaged: not for repair, and it says so.
        self.make("text", n=1500, table="t2")
        d2 = self.store("t2")
        sst = sorted(f for f in os.listdir(d2) if f.endswith(".sst"))[0]
        with open(os.path.join(d2, sst), "r+b") as f:
            f.truncate(100)
        rc, out, err = tool("repair", d2, "--db", self.db)
        self.assertEqual(rc, PROBLEM)
        self.assertIn("rebuilds CURRENT and the manifest only", err)
        self.assertIn(sst, err)


class Writes(Base):
    """put, delete, batch-load, and get and scan with --db: through the
    owning database, checked with SELECT."""

    def select(self, table="kv"):
        c = kvtest.connect(self.db)
        try:
            return c.execute(f"SELECT key, value FROM {table} ORDER BY key"
                             ).fetchall()
        finally:
            c.close()

    def test_put_delete_get_scan_through_the_database(self):
        for kt, key, other in (("text", "user:00007", "new"),
                               ("integer", "-42", "77"),
                               ("blob", "x'00ff10'", "cafe")):
            with self.subTest(key_type=kt):
                self.tearDown()
                self.setUp()
                rows = self.make(kt, n=600, unflushed=50)
                d = self.store()
                db = ["--db", self.db]
                for args, value in ((["hello"], "hello"),
                                    (["12", "--type", "integer"], 12),
                                    (["-0.5", "--type", "real"], -0.5),
                                    (["00ff", "--type", "blob"], b"\x00\xff"),
                                    (["--type", "null"], None),
                                    (["it's", "--json"], "it's")):
                    out = self.ok("put", d, key, *args, *db)
                    if "--json" in args:
                        self.assertTrue(json.loads(out)["put"])
                    else:
                        self.assertIn("put ", out)
                    got = self.js("get", d, key, *db)
                    self.assertEqual(got["value"], shown(value), args)
                    # The store's own files (read-only open) agree.
                    self.assertEqual(self.js("get", d, key)["value"],
                                     shown(value))
                self.ok("put", d, other, "x", *db, "--table", "kv")
                k = (int(key) if kt == "integer" else
                     bytes.fromhex("00ff10") if kt == "blob" else key)
                ko = (int(other) if kt == "integer" else
                      bytes.fromhex(other) if kt == "blob" else other)
                want = dict(rows)
                want[k] = "it's"
                want[ko] = "x"
                self.assertEqual(self.select(), sorted(want.items()))
                # scan --db shows what the table shows, both ways.
                full = self.js("scan", d, *db)
                self.assertEqual([(r["key"], r["value"]) for r in
                                  full["rows"]], [(shown(a), shown(b)) for
                                                  a, b in sorted(want.items())])
                self.assertEqual(self.js("scan", d, "--reverse", "--limit",
                                         "3", *db)["rows"],
                                 full["rows"][::-1][:3])
                self.assertEqual(self.ok("scan", d, "--limit", "4", *db),
                                 self.ok("scan", d, "--limit", "4"))
                out = self.ok("delete", d, other, *db)
                self.assertIn("deleted", out)
                rc, out, err = tool("delete", d, other, *db)
                self.assertEqual(rc, PROBLEM)
                self.assertIn("nothing deleted", err)
                rc, out, err = tool("get", d, other, "--json", *db)
                self.assertEqual(rc, PROBLEM)
                self.assertFalse(json.loads(out)["found"])
                del want[ko]
                self.assertEqual(self.select(), sorted(want.items()))

    def test_scan_bounds_through_the_database_match_the_files(self):
        self.make("text", n=800, unflushed=100)
        d = self.store()
        for args in (["--prefix", "user:001"], ["--from", "user:00500"],
                     ["--to", "user:00020"],
                     ["--prefix", "user:00", "--from", "user:0005",
                      "--to", "user:00090", "--reverse"],
                     ["--prefix", "nothing"]):
            self.assertEqual(self.js("scan", d, *args, "--db", self.db),
                             self.js("scan", d, *args), args)

    def test_batch_load_generated_rows_in_one_transaction(self):
        self.make("text", n=100, unflushed=0)
        d = self.store()
        doc = self.js("batch-load", d, "--db", self.db, "--generate", "5000",
                      "--value-size", "40")
        self.assertEqual(doc["rows"], 5000)
        rows = self.select()
        gen = [r for r in rows if r[0].startswith("key:")]
        self.assertEqual(len(gen), 5000)
        self.assertEqual(gen[0][0], "key:0000000000")
        self.assertEqual(gen[-1][0], "key:0000004999")
        self.assertTrue(all(len(v) == 40 for _, v in gen))
        self.assertEqual(len(rows), 99 + 5000)   # make() deletes one
        # Integer and blob keys.
        self.make("integer", n=10, unflushed=0, table="ti")
        self.ok("batch-load", self.store("ti"), "--db", self.db,
                "--generate", "300")
        keys = [k for k, _ in self.select("ti")]
        self.assertTrue(set(range(300)) <= set(keys))
        self.make("blob", n=10, unflushed=0, table="tb")
        self.ok("batch-load", self.store("tb"), "--db", self.db,
                "--generate", "20", "--prefix", "ab")
        keys = [k for k, _ in self.select("tb") if k[:1] == b"\xab"]
        self.assertEqual(keys[0], b"\xab" + bytes(8))
        self.assertEqual(len(keys), 20)
        # --table is needed only when the directory does not say.
        rc, out, err = tool("batch-load", self.store("tb"), "--db", self.db,
                            "--table", "kv", "--generate", "1")
        self.assertEqual(rc, USAGE)
        self.assertIn("keeps its store in", err)

    def test_batch_load_from_a_file_is_all_or_nothing(self):
        self.make("text", n=50, unflushed=0)
        d = self.store()
        good = os.path.join(self.dir, "rows.tsv")
        with open(good, "w") as f:
            for i in range(1000):
                f.write(f"file:{i:04d}\tvalue {i}\n")
            f.write("\n")
            f.write("tab\tin\tvalue\r\n")
        out = self.ok("batch-load", d, "--db", self.db, "--file", good)
        self.assertIn("loaded 1001 rows", out)
        rows = dict(self.select())
        self.assertEqual(rows["file:0999"], "value 999")
        self.assertEqual(rows["tab"], "in\tvalue")
        # From stdin too.
        p = subprocess.run([KVTOOL, "batch-load", d, "--db", self.db,
                            "--file", "-", "--json"], input="stdin:1\tx\n",
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, OK, p.stderr)
        self.assertEqual(json.loads(p.stdout)["rows"], 1)
        before = self.select()
        bad = os.path.join(self.dir, "bad.tsv")
        with open(bad, "w") as f:
            f.write("new:1\tone\nnew:2\tTwo\nno tab here\nnew:3\tthree\n")
        rc, out, err = tool("batch-load", d, "--db", self.db, "--file", bad)
        self.assertEqual(rc, USAGE)
        self.assertIn("line 3", err)
        self.assertIn("nothing loaded", err)
        self.assertEqual(self.select(), before)
        rc, out, err = tool("batch-load", d, "--db", self.db, "--file",
                            os.path.join(self.dir, "missing.tsv"))
        self.assertEqual(rc, CANTOPEN)
        self.assertIn("missing.tsv", err)

    def test_the_database_must_own_the_store(self):
        self.make("text", n=50, unflushed=0)
        self.make("text", n=50, unflushed=0, table="t2")
        d = self.store()
        # Another database, with a table of its own elsewhere.
        other = os.path.join(self.dir, "other.db")
        c = kvtest.connect(other)
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore")
        c.close()
        before = hashes(d)
        for args in (["put", d, "a", "b", "--db", other],
                     ["compact", d, "--db", other],
                     ["repair", d, "--db", other],
                     ["put", d, "a", "b", "--db", self.db, "--table", "t2"]):
            rc, out, err = tool(*args)
            self.assertEqual(rc, USAGE, f"{args}: {err}")
            self.assertIn(d, err)
        self.assertEqual(hashes(d), before)
        # Not a database at all, or missing.
        junk = os.path.join(self.dir, "junk.db")
        with open(junk, "wb") as f:
            f.write(b"this is not a database" * 100)
        rc, out, err = tool("put", d, "a", "b", "--db", junk)
        self.assertEqual(rc, CANTOPEN)
        self.assertIn("junk.db", err)
        rc, out, err = tool("get", d, "a", "--db",
                            os.path.join(self.dir, "nope.db"))
        self.assertEqual(rc, CANTOPEN)
        self.assertIn("nope.db", err)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "nope.db")))
        self.assertEqual(hashes(d), before)

    def test_a_locked_database_is_busy(self):
        """A write waits for the database's lock (5 s), then exits 4."""
        self.make("text", n=50, unflushed=0)
        c = sqlite3_plain(self.db)
        c.execute("CREATE TABLE plain(x)")
        c.execute("BEGIN EXCLUSIVE")
        c.execute("INSERT INTO plain VALUES (1)")
        try:
            rc, out, err = tool("put", self.store(), "a", "b", "--db",
                                self.db)
        finally:
            c.execute("ROLLBACK")
            c.close()
        self.assertEqual(rc, BUSY, err)
        self.assertIn("locked", err)


class RepairHorizon(Base):
    def test_repair_through_the_database_keeps_only_committed_batches(self):
        """A rebuilt manifest replays the WAL; only the batches the
        database committed (its horizon) may count. The database here lost
        its last commit (the horizon set back by hand, as a hot journal
        rolled back would): that commit overwrote a key, and the full
        compaction of repair must not let it shadow the committed value."""
        self.lose_last_commit_and_manifest()
        d = self.store()
        out = self.ok("repair", d, "--db", self.db)
        self.assertIn("no manifest was usable", out)
        c = kvtest.connect(self.db)
        self.conns.append(c)
        self.assertEqual(c.execute("SELECT key, value FROM kv ORDER BY key"
                                   ).fetchall(),
                         [("a", "committed"), ("b", "b1")])

    def lose_last_commit_and_manifest(self):
        """Table kv whose database lost its last commit (an overwrite of
        'a' and a new 'c'), its store's manifests destroyed."""
        c = kvtest.connect(self.db)
        c.execute("CREATE VIRTUAL TABLE kv USING kvstore(background=off)")
        c.execute("INSERT INTO kv VALUES ('a', 'committed'), ('b', 'b1')")
        h = c.execute("SELECT v FROM kv_kvstore WHERE k = 'horizon'"
                      ).fetchone()[0]
        c.execute("SELECT kvstore_flush('kv')")
        c.execute("UPDATE kv SET value = 'lost' WHERE key = 'a'")
        c.execute("INSERT INTO kv VALUES ('c', 'lost too')")
        c.close()
        c = sqlite3_plain(self.db)
        c.execute("UPDATE kv_kvstore SET v = ? WHERE k = 'horizon'", (h,))
        c.close()
        d = self.store()
        for m in [f for f in os.listdir(d) if f.startswith("MANIFEST-")]:
            with open(os.path.join(d, m), "wb") as f:
                f.write(b"garbage" * 20)

    def test_kvstore_repair_uses_the_commit_horizon(self):
        """The same through SQL: kvstore_repair('kv') (kvvtabStoreDir gives
        kv_repair the shadow table's horizon). Without it the full
        compaction of repair kept only the uncommitted overwrite of 'a',
        which the next open revoked: 'a' was gone altogether."""
        self.lose_last_commit_and_manifest()
        c = kvtest.connect(self.db)
        self.conns.append(c)
        c.execute("SELECT kvstore_repair('kv')")
        self.assertEqual(c.execute("SELECT key, value FROM kv ORDER BY key"
                                   ).fetchall(),
                         [("a", "committed"), ("b", "b1")])


class ProgressBar(Base):
    def run_on_tty(self, *args):
        """Run kvtool with stderr on a pseudo-terminal; returns (exit code,
        stdout, what the terminal received)."""
        import pty
        master, slave = pty.openpty()
        p = subprocess.Popen([KVTOOL] + [str(a) for a in args],
                             stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        got = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
        out, _ = p.communicate(timeout=60)
        os.close(master)
        return p.returncode, out.decode(), got.decode(errors="replace")

    def test_progress_bar_on_a_terminal_only(self):
        self.make("text", n=3000, unflushed=0)
        d = self.store()
        db = ["--db", self.db]
        # Not a terminal: stderr stays empty, stdout is the result alone.
        for args in (["batch-load", d, "--generate", "20000"] + db,
                     ["verify", d], ["compact", d, "--full"] + db,
                     ["checkpoint", d, os.path.join(self.dir, "c1")] + db):
            rc, out, err = tool(*args)
            self.assertEqual(rc, OK, err)
            self.assertEqual(err, "", args)
        # A terminal: a bar that ends cleared; stdout unchanged.
        rc, out, term = self.run_on_tty("batch-load", d, "--generate",
                                        "20000", "--prefix", "p:", *db)
        self.assertEqual(rc, OK, term)
        self.assertIn("loaded 20000 rows", out)
        self.assertRegex(term, r"batch-load \[#* *\] +\d+%")
        self.assertTrue(term.endswith("\r\x1b[K"), repr(term[-40:]))
        rc, out, term = self.run_on_tty("verify", d)
        self.assertEqual((rc, out), (OK, "ok\n"))
        self.assertRegex(term, r"verify \[#* *\] +\d+%")
        self.assertTrue(term.endswith("\r\x1b[K"), repr(term[-40:]))
        for args in (["compact", d, "--full"] + db,
                     ["checkpoint", d, os.path.join(self.dir, "c2")] + db):
            rc, out, term = self.run_on_tty(*args)
            self.assertEqual(rc, OK, term)
            # Drawn only if the work outlasted the first look (100 ms).
            if term:
                self.assertRegex(term, r"(compact|checkpoint) \[")
                self.assertTrue(term.endswith("\r\x1b[K"))


class Errors(Base):
    def test_usage_errors_exit_2(self):
        self.make("integer", n=100, unflushed=0)
        d = self.store()
        for args, words in (
                ([], "usage"), (["frobnicate", d], "unknown command"),
                (["info"], "needs STORE_DIR"), (["get", d], "needs KEY"),
                (["info", d, "--prefix", "a"], "does not take option"),
                (["scan", d, "--limit"], "needs a value"),
                (["scan", d, "--limit", "many"], "not a count"),
                (["get", d, "12abc"], "not an integer"),
                (["scan", d, "--prefix", "1"], "integer keys"),
                (["shape", d], "--svg"), (["info", d, "extra"], "unexpected"),
                (["dump-sst", d], "needs FILE"),
                (["put", d, "1"], "needs --db"),
                (["put", d, "1", "--db", self.db], "needs KEY and VALUE"),
                (["put", d, "1", "x", "--db", self.db, "--type", "integer"],
                 "not an integer"),
                (["put", d, "1", "x", "--db", self.db, "--type", "date"],
                 "not one of"),
                (["put", d, "1", "zz", "--db", self.db, "--type", "blob"],
                 "not hex"),
                (["put", d, "x", "1", "--db", self.db], "not an integer"),
                (["put", d, "1", "2", "3", "--db", self.db], "unexpected"),
                (["delete", d, "1", "--table", "kv"], "needs --db"),
                (["batch-load", d, "--db", self.db], "either --generate"),
                (["batch-load", d, "--db", self.db, "--generate", "5",
                  "--file", "f"], "either --generate"),
                (["batch-load", d, "--db", self.db, "--generate", "-5"],
                 "not a count"),
                (["batch-load", d, "--db", self.db, "--generate", "5",
                  "--prefix", "a"], "integer keys"),
                (["put", d, "1", "2", "--db", self.db, "--table", "nope"],
                 "no such table"),
                (["scan", d, "--table", "kv"], "--table needs --db"),
                (["verify", d, "--db", self.db], "does not take option")):
            rc, out, err = tool(*args)
            self.assertEqual(rc, USAGE, f"{args}: {err}")
            self.assertIn(words, err, args)
        rc, out, err = tool("--help")
        self.assertEqual(rc, OK)
        for cmd in ("info", "sstables", "shape", "dump-sst", "dump-wal",
                    "dump-manifest", "get", "scan", "verify", "compact",
                    "checkpoint", "repair", "put", "delete", "batch-load"):
            self.assertIn(cmd, out)
            rc, out2, err = tool(cmd, "--help")
            self.assertEqual(rc, OK, cmd)
            self.assertIn("usage: kvtool " + cmd, out2)
            self.assertIn("exit codes", out2)

    def test_no_store_exit_3_and_nothing_created(self):
        missing = os.path.join(self.dir, "missing")
        rc, out, err = tool("info", missing)
        self.assertEqual(rc, CANTOPEN)
        self.assertIn("missing", err)
        self.assertFalse(os.path.exists(missing))
        empty = os.path.join(self.dir, "empty")
        os.mkdir(empty)
        for args in (["info"], ["scan"], ["verify"],
                     ["compact", "--db", self.db],
                     ["put", "k", "v", "--db", self.db]):
            rc, out, err = tool(args[0], empty, *args[1:])
            self.assertEqual(rc, CANTOPEN, args)
            self.assertIn("does not hold a kvstore store", err)
        self.assertEqual(os.listdir(empty), [])

    def damaged_copy(self):
        self.make("text", n=2000)
        d = os.path.join(self.dir, "copy")
        shutil.copytree(self.store(), d)
        return d

    def test_truncated_sstable(self):
        d = self.damaged_copy()
        sst = sorted(f for f in os.listdir(d) if f.endswith(".sst"))[0]
        path = os.path.join(d, sst)
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        before = hashes(d)
        rc, out, err = tool("dump-sst", d, sst)
        self.assertEqual(rc, PROBLEM)
        self.assertIn(sst, err)
        self.assertIn("footer", err)
        rc, out, err = tool("verify", d)
        self.assertEqual(rc, PROBLEM)
        self.assertIn(sst, err)
        rc, out, err = tool("scan", d)
        self.assertEqual(rc, CANTOPEN)
        self.assertIn(sst, err)
        self.assertEqual(hashes(d), before)

    def test_flipped_byte_in_a_data_block(self):
        d = self.damaged_copy()
        sst = sorted(f for f in os.listdir(d) if f.endswith(".sst"))[0]
        path = os.path.join(d, sst)
        with open(path, "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 0x40]))
        rc, out, err = tool("verify", d, "--json")
        self.assertEqual(rc, PROBLEM)
        doc = json.loads(out)
        self.assertFalse(doc["ok"])
        self.assertIn(sst, doc["problem"])
        rc, out, err = tool("dump-sst", d, sst)
        self.assertEqual(rc, PROBLEM)
        self.assertIn("data block at offset 0", err)

    def test_garbage_manifest_and_current(self):
        d = self.damaged_copy()
        man = [f for f in os.listdir(d) if f.startswith("MANIFEST-")][0]
        with open(os.path.join(d, man), "wb") as f:
            f.write(b"this is not a manifest\n" * 20)
        before = hashes(d)
        rc, out, err = tool("info", d)
        self.assertEqual(rc, CANTOPEN)
        self.assertIn(man, err)
        rc, out, err = tool("verify", d)
        self.assertEqual(rc, PROBLEM)
        self.assertIn("manifest", err)
        rc, out, err = tool("dump-manifest", d)
        self.assertEqual(rc, PROBLEM)
        self.assertIn("no valid version edit", err)
        with open(os.path.join(d, "CURRENT"), "wb") as f:
            f.write(b"\x00garbage")
        rc, out, err = tool("dump-manifest", d)
        self.assertEqual(rc, PROBLEM)
        self.assertIn("corrupt CURRENT", err)
        rc, out, err = tool("get", d, "user:00001")
        self.assertEqual(rc, CANTOPEN)
        self.assertIn("CURRENT", err)
        del before["CURRENT"]
        after = hashes(d)
        del after["CURRENT"]
        self.assertEqual(after, before)

    def test_damaged_store_through_the_database(self):
        """Writes and maintenance on a store with a truncated SSTable or a
        garbage manifest: clear errors naming the file, no table deleted
        or changed (opening for writing may flush the WAL into a new
        one), no copy left."""
        self.make("text", n=2000)
        d = self.store()
        db = ["--db", self.db]
        sst = sorted(f for f in os.listdir(d) if f.endswith(".sst"))[0]
        with open(os.path.join(d, sst), "r+b") as f:
            f.truncate(100)
        cp = os.path.join(self.dir, "cp")
        for args in (["compact", d, "--full"], ["checkpoint", d, cp],
                     ["scan", d]):
            before = hashes(d)
            rc, out, err = tool(*args, *db)
            self.assertEqual(rc, PROBLEM, f"{args}: {err}")
            self.assertIn(sst, err)
            self.assertIn("corrupt", err)
            after = hashes(d)
            for name, h in before.items():
                if name.endswith(".sst"):
                    self.assertEqual(after.get(name), h, (args, name))
        self.assertEqual(sorted(os.listdir(self.dir)),
                         sorted(["app.db", os.path.basename(d)]))
        rc, out, err = tool("repair", d, *db)
        self.assertEqual(rc, PROBLEM)
        self.assertIn("damage is elsewhere", err)
        # A garbage manifest: the store does not open for writes either.
        self.tearDown()
        self.setUp()
        self.make("text", n=500)
        d = self.store()
        for m in [f for f in os.listdir(d) if f.startswith("MANIFEST-")]:
            with open(os.path.join(d, m), "wb") as f:
                f.write(b"garbage" * 30)
        before = hashes(d)
        for args in (["put", d, "k", "v"], ["get", d, "user:00001"],
                     ["compact", d], ["batch-load", d, "--generate", "3"]):
            rc, out, err = tool(*args, "--db", self.db)
            self.assertEqual(rc, CANTOPEN, f"{args}: {err}")
            self.assertIn("MANIFEST-", err)
            self.assertIn("kvstore_repair", err)
        self.assertEqual(hashes(d), before)

    def test_dump_of_a_missing_file(self):
        self.make("text", n=100, unflushed=0)
        rc, out, err = tool("dump-sst", self.store(), "999999.sst")
        self.assertEqual(rc, CANTOPEN)
        self.assertIn("999999.sst", err)
        rc, out, err = tool("dump-wal", self.store(), "wal-999999.log")
        self.assertEqual(rc, CANTOPEN)


if __name__ == "__main__":
    if not os.path.exists(KVTOOL):
        sys.exit(f"{KVTOOL} is missing: run make first")
    unittest.main(verbosity=2)
