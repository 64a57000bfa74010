"""Integrity functions of the kvstore extension, end to end.

Corruption: a store with one flushed SSTable of many blocks is copied once
per part of the SSTable (data block, index, summary, filter, metadata,
footer) and one byte of that part is flipped in the copy. Then:
kvstore_verify names the file and the part; every read either returns the
right value or fails with SQLITE_CORRUPT, and reads that touch the damaged
part fail; no read returns a wrong value. A damaged filter fails every
point read and no scan (a scan never reads the filter).

Rate limiter: a refused statement fails with SQLITE_BUSY and leaves
nothing.

Merkle: a copy of a store's directory has the same kvstore_merkle (also
when the copy was taken with rows still only in the WAL); changing one
value and flushing makes it differ; two stores built by the same commits
and flushes agree; the root is stable across reopening.

Run with Debian's /usr/bin/python3 (see kvtest.py).
"""
import os
import shutil
import sqlite3
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

SQLITE_CORRUPT = 11
FOOTER = 80
NROWS = 400


def value_of(i):
    return "value-%05d-%s" % (i, "x" * (i % 37))


def key_of(i):
    return "key%05d" % i


def sst_parts(path):
    """(name, start, end) of each part of the SSTable at path (sst.c's
    footer: index, filter, metadata and summary offsets and sizes)."""
    with open(path, "rb") as f:
        data = f.read()
    size = len(data)
    (i_off, i_len, f_off, f_len, m_off, m_len, s_off, s_len) = \
        struct.unpack("<8Q", data[size - FOOTER:size - FOOTER + 64])
    return [
        ("data block", 0, i_off),
        ("index", i_off, i_off + i_len),
        ("filter", f_off, f_off + f_len),
        ("metadata", m_off, m_off + m_len),
        ("summary", s_off, s_off + s_len),
        ("footer", size - FOOTER, size),
    ]


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kvinteg-")
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def connect(self, name="test.db"):
        c = kvtest.connect(os.path.join(self.tmp, name))
        self.conns.append(c)
        return c

    def close(self, c):
        c.close()
        self.conns.remove(c)

    def one(self, c, sql, *args):
        return c.execute(sql, args).fetchone()[0]


class Corruption(Base):
    def build(self):
        """A store in <tmp>/pristine holding one SSTable; returns its name."""
        c = self.connect()
        c.execute("CREATE VIRTUAL TABLE t USING kvstore(dir='pristine', "
                  "block_size=256, compression=none, summary_interval=2, "
                  "background=off)")
        c.execute("BEGIN")
        for i in range(NROWS):
            c.execute("INSERT INTO t VALUES (?, ?)", (key_of(i), value_of(i)))
        c.execute("COMMIT")
        self.one(c, "SELECT kvstore_flush('t')")
        files = c.execute("SELECT file FROM kvstore_sstables('t')").fetchall()
        self.assertEqual(len(files), 1)
        self.assertEqual(self.one(c, "SELECT kvstore_verify('t')"), "ok")
        # Detached, so that each copy can be adopted by a new table (a
        # store belongs to one table: doc/ownership.md).
        self.one(c, "SELECT kvstore_detach('t')")
        self.close(c)
        return files[0][0]

    def check_reads(self, c, part):
        """Every read right or SQLITE_CORRUPT; returns (right, failed)."""
        ok = failed = 0
        for i in range(0, NROWS, 3):
            try:
                row = c.execute("SELECT value FROM t WHERE key = ?",
                                (key_of(i),)).fetchone()
            except sqlite3.DatabaseError as e:
                self.assertEqual(e.sqlite_errorcode, SQLITE_CORRUPT,
                                 "%s: %s" % (part, e))
                failed += 1
                continue
            self.assertIsNotNone(row, "%s: key %d lost silently" % (part, i))
            self.assertEqual(row[0], value_of(i), "%s: wrong value" % part)
            ok += 1
        # A full scan: each row it returns is right, in order, or it fails.
        seen = []
        try:
            for k, v in c.execute("SELECT key, value FROM t"):
                seen.append((k, v))
        except sqlite3.DatabaseError as e:
            self.assertEqual(e.sqlite_errorcode, SQLITE_CORRUPT,
                             "%s scan: %s" % (part, e))
            failed += 1
        expect = [(key_of(i), value_of(i)) for i in range(NROWS)]
        self.assertEqual(seen, expect[:len(seen)], "%s: scan" % part)
        return ok, failed

    def test_flip_each_part(self):
        fname = self.build()
        pristine = os.path.join(self.tmp, "pristine")
        parts = sst_parts(os.path.join(pristine, fname))
        for (part, start, end) in parts:
            with self.subTest(part=part):
                self.assertGreater(end, start, part)
                name = "copy-" + part.replace(" ", "-")
                copy = os.path.join(self.tmp, name)
                shutil.copytree(pristine, copy)
                # The middle of the part (the footer: inside the offsets,
                # which its CRC covers).
                off = start + 4 if part == "footer" else (start + end) // 2
                flip(os.path.join(copy, fname), off)
                c = self.connect("db-%s.db" % name)
                c.execute("CREATE VIRTUAL TABLE t USING kvstore(dir=%s, "
                          "background=off)" % ("'" + copy + "'"))
                report = self.one(c, "SELECT kvstore_verify('t')")
                self.assertNotEqual(report, "ok", part)
                self.assertIn(fname, report, part)
                self.assertIn(part, report, "%s: %s" % (part, report))
                ok, failed = self.check_reads(c, part)
                self.assertGreater(failed, 0,
                                   "%s: no read touched the damage" % part)
                if part == "data block":
                    # Only the keys of the damaged block are lost to reads.
                    self.assertGreater(ok, 0, part)
                if part == "filter":
                    # Point reads need the filter, scans do not: every
                    # lookup fails, a scan still reads every row.
                    self.assertEqual(ok, 0, part)
                    n = self.one(c, "SELECT count(*) FROM t")
                    self.assertEqual(n, NROWS, part)
                self.close(c)


class Merkle(Base):
    def fill(self, c, table, lo, hi):
        c.execute("BEGIN")
        for i in range(lo, hi):
            c.execute("INSERT OR REPLACE INTO %s VALUES (?, ?)" % table,
                      (key_of(i), value_of(i)))
        c.execute("COMMIT")

    def test_copy_equal_change_differs(self):
        c = self.connect()
        c.execute("CREATE VIRTUAL TABLE a USING kvstore(dir='a', "
                  "memtable_size='64KB', background=off)")
        self.fill(c, "a", 0, 300)
        self.one(c, "SELECT kvstore_flush('a')")
        self.fill(c, "a", 300, 600)
        self.one(c, "SELECT kvstore_flush('a')")
        # Rows only in the WAL when the copy is taken.
        self.fill(c, "a", 600, 650)
        # A store belongs to one table: copied while detached, the copy is
        # adoptable by table b, and a takes its own back.
        self.one(c, "SELECT kvstore_detach('a')")
        self.close(c)
        shutil.copytree(os.path.join(self.tmp, "a"),
                        os.path.join(self.tmp, "b"))

        c = self.connect()
        self.assertEqual(self.one(c, "SELECT kvstore_attach('a')"), "ok")
        c.execute("CREATE VIRTUAL TABLE b USING kvstore(dir='b', "
                  "background=off)")
        ra = self.one(c, "SELECT kvstore_merkle('a')")
        rb = self.one(c, "SELECT kvstore_merkle('b')")
        self.assertEqual(len(ra), 64)
        self.assertEqual(ra, rb)
        self.assertEqual(
            c.execute("SELECT merkle_root FROM kvstore_sstables('a') "
                      "ORDER BY 1").fetchall(),
            c.execute("SELECT merkle_root FROM kvstore_sstables('b') "
                      "ORDER BY 1").fetchall())
        # Same data read back from both.
        self.assertEqual(c.execute("SELECT * FROM a").fetchall(),
                         c.execute("SELECT * FROM b").fetchall())
        # Stable: no write, same root (also after reopening).
        self.assertEqual(self.one(c, "SELECT kvstore_merkle('a')"), ra)
        self.close(c)
        c = self.connect()
        self.assertEqual(self.one(c, "SELECT kvstore_merkle('a')"), ra)
        self.assertEqual(self.one(c, "SELECT kvstore_verify('b')"), "ok")

        # One value changed in b: after the flush kvstore_merkle makes,
        # the roots differ.
        c.execute("UPDATE b SET value = 'changed' WHERE key = ?",
                  (key_of(123),))
        rb2 = self.one(c, "SELECT kvstore_merkle('b')")
        self.assertNotEqual(rb2, ra)
        self.assertEqual(self.one(c, "SELECT kvstore_merkle('a')"), ra)
        # The same change in a gives the same files again.
        c.execute("UPDATE a SET value = 'changed' WHERE key = ?",
                  (key_of(123),))
        self.assertEqual(self.one(c, "SELECT kvstore_merkle('a')"), rb2)

    def test_same_history_same_root(self):
        c = self.connect()
        for t in ("x", "y"):
            c.execute("CREATE VIRTUAL TABLE %s USING kvstore(dir='%s', "
                      "background=off)" % (t, t))
        for t in ("x", "y"):
            self.fill(c, t, 0, 200)
            self.one(c, "SELECT kvstore_flush('%s')" % t)
            c.execute("DELETE FROM %s WHERE key < ?" % t, (key_of(50),))
            self.fill(c, t, 150, 260)
        rx = self.one(c, "SELECT kvstore_merkle('x')")
        self.assertEqual(rx, self.one(c, "SELECT kvstore_merkle('y')"))
        # A full compaction of both keeps them equal.
        self.one(c, "SELECT kvstore_compact('x', 'full')")
        self.one(c, "SELECT kvstore_compact('y', 'full')")
        rx2 = self.one(c, "SELECT kvstore_merkle('x')")
        self.assertEqual(rx2, self.one(c, "SELECT kvstore_merkle('y')"))
        self.assertNotEqual(rx2, rx)
        # An empty store: the root of no tables.
        c.execute("CREATE VIRTUAL TABLE e USING kvstore(dir='e')")
        self.assertEqual(
            self.one(c, "SELECT kvstore_merkle('e')"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


class RateLimit(Base):
    def test_busy_code_and_atomicity(self):
        c = self.connect()
        c.execute("CREATE VIRTUAL TABLE r USING kvstore(dir='r', "
                  "rate_limit=0.0001, rate_burst=3, background=off)")
        with self.assertRaises(sqlite3.OperationalError) as cm:
            c.execute("INSERT INTO r VALUES ('a',1),('b',2),('c',3),('d',4)")
        self.assertEqual(cm.exception.sqlite_errorcode, 5)   # SQLITE_BUSY
        self.assertIn("kvstore: rate limit exceeded (", str(cm.exception))
        self.assertEqual(c.execute("SELECT count(*) FROM r").fetchone()[0], 0)
        self.assertEqual(self.one(c, "SELECT json_extract(kvstore_stats('r'),"
                                  " '$.sequence')"), 0)


if __name__ == "__main__":
    unittest.main(verbosity=1)
