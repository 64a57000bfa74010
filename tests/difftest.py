#!/usr/bin/python3
"""Differential test: a kvstore table against an ordinary WITHOUT ROWID
table with the same declared key type.

Both tables live in one database file and are driven by one connection, so
BEGIN / COMMIT / ROLLBACK / SAVEPOINT apply to both alike. Every random
statement runs once against each table; the results (rows with their types,
or the error with the table name normalised) must be equal, and the whole
contents are compared every few hundred operations and at the end.

The kvstore table gets a small memtable so that the data spans many
SSTables and reads merge the memtable, immutable memtable and several
levels.

Range deletes: kvstore_delete_range(kv, lo, hi) and the command row it
runs (INSERT INTO kv(kvstore_command, key, value) VALUES('delete_range',
lo, hi)) against the ordinary table's DELETE WHERE key >= lo AND key < hi;
range DELETEs of every shape (with terms kvstore cannot use, with a
subquery over the table itself), which kvstore may turn into one range
tombstone; kvstore_compact now and then; and, in WAL mode (the text and
integer runs; blob runs in rollback-journal mode), a second connection
that holds a read transaction open across several writes and must see
both tables at the same snapshot (doc/rangedel.md).

Keys inserted are limited to what both tables store alike: a text key table
gets TEXT and numbers (TEXT affinity turns them into text), an integer key
table gets integers, integral REALs and integer-looking TEXT, a blob key
table gets BLOBs (kvstore would return TEXT inserted there as BLOB). Values
compared against the key in WHERE clauses are of every type.

    /usr/bin/python3 tests/difftest.py [--ops N] [--seed S] [--types text,blob,integer]
"""
import argparse
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

INT_MIN = -(1 << 63)
INT_MAX = (1 << 63) - 1
RANGE_OPS = [">", ">=", "<", "<=", "="]


class Mismatch(Exception):
    pass


class KeyDomain:
    """Random keys and comparison values for one key type."""

    def __init__(self, key_type, rng):
        self.key_type = key_type
        self.rng = rng
        if key_type == "integer":
            base = list(range(-3000, 3001, 1))
            base += [INT_MIN, INT_MIN + 1, INT_MAX, INT_MAX - 1,
                     1 << 40, -(1 << 40), (1 << 53) + 1, 1 << 62]
            self.keys = base
        elif key_type == "text":
            alphabet = "abcAB09:/~\u00e9\u4e2d"
            keys = set([""])
            while len(keys) < 8000:
                n = rng.randint(1, 6)
                keys.add("".join(rng.choice(alphabet) for _ in range(n)))
            keys.update(["1", "10", "2", "-5", "5.5", "1.0e+20", "a\x00b"])
            self.keys = sorted(keys)
        else:
            alphabet = [0x00, 0x01, 0x41, 0x61, 0x7f, 0x80, 0xfe, 0xff]
            keys = set([b""])
            while len(keys) < 8000:
                n = rng.randint(1, 6)
                keys.add(bytes(rng.choice(alphabet) for _ in range(n)))
            keys.update([b"abc", b"ab", b"abd"])
            self.keys = sorted(keys)

    def key(self):
        """A key to insert, in a form both tables store the same way. Half
        come from a small hot set, so that conflicts are frequent while the
        table still grows large enough to span many SSTables."""
        if self.rng.random() < 0.5:
            k = self.keys[self.rng.randrange(0, len(self.keys), 25)]
        else:
            k = self.rng.choice(self.keys)
        r = self.rng.random()
        if self.key_type == "integer":
            if r < 0.05 and -(1 << 52) < k < (1 << 52):
                return float(k)              # integral REAL becomes INTEGER
            if r < 0.10:
                return str(k)                # integer-looking TEXT
            return k
        if self.key_type == "text":
            if r < 0.05:
                return self.rng.randint(-20, 20)      # TEXT affinity
            if r < 0.07:
                return self.rng.choice([5.5, -0.25, 1e20, 3.0])
            return k
        return k

    def probe(self):
        """A value to compare the key with: usually a key, often another
        type."""
        r = self.rng.random()
        if r < 0.55:
            return self.key()
        if r < 0.60:
            return None
        if r < 0.70:
            return self.rng.choice([0, 1, -1, 5, 10, 2999, -3001, INT_MIN,
                                    INT_MAX, 1 << 40])
        if r < 0.80:
            return self.rng.choice([0.5, -0.5, 5.5, 1e19, -1e19, 9.3e18,
                                    -9.3e18, 2.0, float("inf"),
                                    float("-inf"), 1e20, 9223372036854775807.0,
                                    -9223372036854775808.0, 299.99])
        if r < 0.90:
            return self.rng.choice(["", "5", " 7 ", "10", "abc", "a", "B",
                                    "1e3", "-3.5", "\u00e9", "zzz", "0x10"])
        return self.rng.choice([b"", b"\x00", b"abc", b"a", b"\xff\xff",
                                b"\x80"])


def value(rng):
    r = rng.random()
    if r < 0.10:
        return None
    if r < 0.30:
        return rng.choice([0, 1, -1, 127, 128, -128, -129, 255, 256, 65535,
                           INT_MIN, INT_MAX, rng.randint(INT_MIN, INT_MAX),
                           rng.randint(-100000, 100000)])
    if r < 0.45:
        return rng.choice([0.0, -0.0, 1.5, -2.25, 1e300, -1e-300,
                           float("inf"), float("-inf"), rng.random()])
    if r < 0.75:
        n = rng.randint(0, 120)
        return "".join(rng.choice("xyz \u00e9\u4e2d\x00") for _ in range(n))
    if r < 0.995:
        return rng.randbytes(rng.randint(0, 300))
    # A large value now and then (spans blocks).
    return os.urandom(rng.randint(5000, 150000))


class Driver:
    def __init__(self, key_type, seed, workdir, verbose):
        self.key_type = key_type
        self.rng = random.Random(seed)
        self.dom = KeyDomain(key_type, self.rng)
        self.workdir = workdir
        self.path = os.path.join(workdir, "diff.db")
        self.verbose = verbose
        self.conn = None
        self.savepoints = []
        self.nstmt = 0
        self.nerr = 0
        self.nrows = 0
        self.history = []
        self.max_sst = 0
        self.wal = key_type != "blob"
        self.reader = None          # connection holding a snapshot
        self.reader_left = 0        # operations until it reads again
        self.nrange = 0             # range deletes run
        self.nlong = 0              # range DELETEs of over 4000 rows

    # -------------------------------------------------------------- setup
    def open(self):
        self.conn = kvtest.connect(self.path)
        self.conn.execute("PRAGMA synchronous=OFF")
        if self.wal:
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.savepoints = []

    def create(self):
        self.open()
        ktype = self.key_type.upper()
        self.conn.execute(
            "CREATE VIRTUAL TABLE kv USING kvstore(key_type=%s, "
            "memtable_size='128KB', target_file_size='16KB', sync=off, "
            "block_size='1KB', compression=none)"
            % self.key_type)
        self.conn.execute(
            "CREATE TABLE ref(key %s PRIMARY KEY NOT NULL, value) "
            "WITHOUT ROWID" % ktype)
        self.conn.execute("CREATE TABLE probe(x %s)" % ktype)
        self.refill_probe()

    def reconnect(self):
        self.conn.close()
        self.open()

    def refill_probe(self):
        self.exec_once("DELETE FROM probe")
        for _ in range(self.rng.randint(0, 12)):
            self.exec_once("INSERT INTO probe VALUES(?)", (self.dom.key(),))

    # -------------------------------------------------------------- running
    def exec_once(self, sql, params=()):
        self.history.append((sql, params))
        return self.conn.execute(sql, params).fetchall()

    def run(self, sql, params=(), ordered=True):
        """Run sql (with {t} for the table) against both tables."""
        self.nstmt += 1
        self.history.append((sql, params))
        if len(self.history) > 600:
            del self.history[:20]
        out = []
        for t in ("kv", "ref"):
            try:
                rows = self.conn.execute(sql.format(t=t), params).fetchall()
                rows = kvtest.tag_rows(rows)
                if not ordered:
                    rows.sort(key=repr)
                out.append(("ok", rows))
            except sqlite3.Error as e:
                msg = str(e).replace(t + ".", "T.").replace('"%s"' % t, "T")
                out.append(("error", type(e).__name__, msg))
        if out[0] != out[1]:
            raise Mismatch("statement %d: %s %r\n  kvstore:  %r\n  ordinary: %r"
                           % (self.nstmt, sql, params, out[0], out[1]))
        if out[0][0] == "error":
            self.nerr += 1
            # A failed OR ROLLBACK ended the transaction.
            if not self.conn.in_transaction:
                self.savepoints = []
        else:
            self.nrows += len(out[0][1])
        return out[0]

    def compare_all(self):
        self.run("SELECT key, value FROM {t} ORDER BY key")
        self.run("SELECT count(*), min(key), max(key) FROM {t}")

    # -------------------------------------------------------------- ops
    def op_insert(self):
        verb = self.rng.choice(["INSERT", "INSERT", "INSERT OR REPLACE",
                                "REPLACE", "INSERT OR IGNORE",
                                "INSERT OR ABORT", "INSERT OR FAIL"])
        k = None if self.rng.random() < 0.01 else self.dom.key()
        self.run(verb + " INTO {t}(key, value) VALUES(?, ?)",
                 (k, value(self.rng)))

    def op_insert_multi(self):
        verb = self.rng.choice(["INSERT", "INSERT OR REPLACE",
                                "INSERT OR IGNORE", "INSERT OR FAIL",
                                "INSERT OR ABORT", "INSERT OR ROLLBACK"])
        if verb == "INSERT OR ROLLBACK" and self.conn.in_transaction:
            # Its failure on the first table would roll back the second
            # table's part of the transaction too: only in autocommit mode
            # do the two runs start from equal states.
            verb = "INSERT OR ABORT"
        n = self.rng.randint(2, 8)
        params = []
        for _ in range(n):
            params.append(self.dom.key())
            params.append(value(self.rng))
        self.run(verb + " INTO {t}(key, value) VALUES "
                 + ", ".join(["(?, ?)"] * n), tuple(params))

    def op_insert_select(self):
        # A multi-row statement whose source is the other table's keys.
        self.run("INSERT OR IGNORE INTO {t}(key, value) "
                 "SELECT x, 'from-probe' FROM probe")

    def op_update_value(self):
        r = self.rng.random()
        if r < 0.6:
            self.run("UPDATE {t} SET value = ? WHERE key = ?",
                     (value(self.rng), self.dom.key()))
        elif r < 0.8:
            lo, hi = self.dom.probe(), self.dom.probe()
            self.run("UPDATE {t} SET value = ? WHERE key >= ? AND key < ?",
                     (value(self.rng), lo, hi))
        else:
            self.run("UPDATE {t} SET value = typeof(value) || ':' || "
                     "coalesce(length(value), 0) WHERE key > ? AND key <= ?",
                     (self.dom.probe(), self.dom.probe()))

    def op_update_key(self):
        verb = self.rng.choice(["UPDATE", "UPDATE", "UPDATE OR REPLACE",
                                "UPDATE OR IGNORE", "UPDATE OR FAIL"])
        new = None if self.rng.random() < 0.02 else self.dom.key()
        if self.rng.random() < 0.5:
            self.run(verb + " {t} SET key = ? WHERE key = ?",
                     (new, self.dom.key()))
        else:
            self.run(verb + " {t} SET key = ?, value = ? WHERE key = ?",
                     (new, value(self.rng), self.dom.key()))

    def op_delete(self):
        r = self.rng.random()
        if r < 0.5:
            self.run("DELETE FROM {t} WHERE key = ?", (self.dom.key(),))
        elif r < 0.65:
            a, b = self.rng.sample(RANGE_OPS[:4], 2)
            self.run("DELETE FROM {t} WHERE key %s ? AND key %s ?" % (a, b),
                     (self.dom.probe(), self.dom.probe()))
        elif r < 0.9:
            ks = [self.dom.key() for _ in range(self.rng.randint(1, 5))]
            self.run("DELETE FROM {t} WHERE key IN (%s)"
                     % ",".join("?" * len(ks)), tuple(ks))
        else:
            self.run("DELETE FROM {t} WHERE key > ? AND typeof(value) = ?",
                     (self.dom.probe(), self.rng.choice(
                         ["null", "integer", "real", "text", "blob"])))

    def order_limit(self):
        r = self.rng.random()
        s = ""
        if r < 0.35:
            s = " ORDER BY key"
        elif r < 0.7:
            s = " ORDER BY key DESC"
        if self.rng.random() < 0.4:
            s += " LIMIT %d" % self.rng.randint(-1, 12)
            if self.rng.random() < 0.5:
                s += " OFFSET %d" % self.rng.randint(-1, 8)
        return s

    def op_select(self):
        r = self.rng.random()
        tail = self.order_limit()
        if r < 0.15:
            self.run("SELECT key, value FROM {t} WHERE key = ?",
                     (self.dom.probe(),))
        elif r < 0.22:
            self.run("SELECT key, value FROM {t} WHERE key IS ?",
                     (self.dom.probe(),))
        elif r < 0.35:
            vals = [self.dom.probe() for _ in range(self.rng.randint(1, 6))]
            self.run("SELECT key, value FROM {t} WHERE key IN (%s)%s"
                     % (",".join("?" * len(vals)), tail), tuple(vals))
        elif r < 0.70:
            a = self.rng.choice(RANGE_OPS)
            b = self.rng.choice(RANGE_OPS)
            self.run("SELECT key, value FROM {t} WHERE key %s ? AND key %s ?%s"
                     % (a, b, tail), (self.dom.probe(), self.dom.probe()))
        elif r < 0.76:
            a = self.rng.choice(RANGE_OPS)
            self.run("SELECT key FROM {t} WHERE key %s ?%s" % (a, tail),
                     (self.dom.probe(),))
        elif r < 0.82:
            self.op_glob(tail)
        elif r < 0.86:
            self.run("SELECT count(*), min(key), max(key), "
                     "sum(length(value)) FROM {t} WHERE key > ?",
                     (self.dom.probe(),))
        elif r < 0.90:
            self.run("SELECT p.x, t.key, t.value FROM probe p JOIN {t} t "
                     "ON t.key = p.x ORDER BY p.rowid")
            if self.rng.random() < 0.5:
                self.run("SELECT p.x, t.value FROM probe p LEFT JOIN {t} t "
                         "ON t.key = p.x ORDER BY p.rowid")
        elif r < 0.93:
            self.run("SELECT key FROM {t} WHERE key IN (SELECT x FROM probe)"
                     "%s" % tail)
        elif r < 0.96:
            # Terms kvstore cannot use: SQLite must still filter them.
            self.run("SELECT key FROM {t} WHERE key > ? AND "
                     "typeof(value) = 'text'%s" % tail, (self.dom.probe(),))
            self.run("SELECT key FROM {t} WHERE key = ? COLLATE NOCASE",
                     (self.dom.probe(),), ordered=False)
            self.run("SELECT key FROM {t} WHERE key != ? AND key < ?%s"
                     % tail, (self.dom.probe(), self.dom.probe()))
        else:
            self.run("SELECT key, value FROM {t} WHERE key BETWEEN ? AND ?"
                     "%s" % tail, (self.dom.probe(), self.dom.probe()))

    def op_glob(self, tail):
        k = self.dom.key()
        if isinstance(k, bytes):
            try:
                k = k.decode("ascii")
            except UnicodeDecodeError:
                k = "ab"
        k = str(k)
        pre = k[:self.rng.randint(0, len(k))]
        pat = self.rng.choice([pre + "*", pre + "?*", pre, pre + "[ab]*",
                               "*" + pre])
        self.run("SELECT key FROM {t} WHERE key GLOB ?%s" % tail, (pat,))
        if self.rng.random() < 0.3:
            self.run("SELECT key FROM {t} WHERE key LIKE ?%s" % tail,
                     (pre + "%",))

    def op_txn(self):
        c = self.conn
        r = self.rng.random()
        if not c.in_transaction:
            self.savepoints = []
            if r < 0.7:
                self.exec_once("BEGIN")
            else:
                name = "s%d" % self.nstmt
                self.exec_once("SAVEPOINT " + name)
                self.savepoints.append(name)
            return
        if r < 0.30:
            name = "s%d" % self.nstmt
            self.exec_once("SAVEPOINT " + name)
            self.savepoints.append(name)
        elif r < 0.45 and self.savepoints:
            i = self.rng.randrange(len(self.savepoints))
            self.exec_once("ROLLBACK TO " + self.savepoints[i])
            del self.savepoints[i + 1:]
        elif r < 0.55 and self.savepoints:
            i = self.rng.randrange(len(self.savepoints))
            self.exec_once("RELEASE " + self.savepoints[i])
            del self.savepoints[i:]
        elif r < 0.80:
            self.exec_once("COMMIT")
            self.savepoints = []
        else:
            self.exec_once("ROLLBACK")
            self.savepoints = []

    def range_bound(self):
        """A bound for a range delete that both tables read alike."""
        r = self.rng.random()
        if self.key_type == "integer" and r < 0.1:
            return self.rng.choice([0.5, -0.5, 2.5, -2999.5, 1e3 + 0.25])
        if self.key_type == "text" and r < 0.05:
            return self.rng.choice(["", "~~~~~~~~", "\uffff"])
        if self.key_type == "blob" and r < 0.05:
            return self.rng.choice([b"", b"\xff" * 8])
        return self.dom.key()

    def op_delete_range(self):
        """kvstore_delete_range (or its command row) against the ordinary
        table's DELETE of the same keys."""
        self.nstmt += 1
        self.nrange += 1
        lo, hi = self.range_bound(), self.range_bound()
        if self.rng.random() < 0.7 and not isinstance(lo, float):
            try:
                if hi < lo:
                    lo, hi = hi, lo
            except TypeError:
                pass
        bad = None
        r = self.rng.random()
        if r < 0.02:
            bad = None, hi
        elif r < 0.04:
            bad = lo, None
        elif r < 0.06:
            bad = {"text": (b"\x01", hi), "blob": (5, hi),
                   "integer": (lo, "abc")}[self.key_type]
        if self.rng.random() < 0.5:
            kv_sql = "SELECT kvstore_delete_range('kv', ?, ?)"
        else:
            kv_sql = ("INSERT INTO kv(kvstore_command, key, value) "
                      "VALUES('delete_range', ?, ?)")
        if bad is not None:
            self.history.append((kv_sql, bad))
            try:
                self.conn.execute(kv_sql, bad).fetchall()
            except sqlite3.Error as e:
                if not str(e).startswith("kvstore: delete_range on table kv"):
                    raise Mismatch("statement %d: %s %r: unexpected error %s"
                                   % (self.nstmt, kv_sql, bad, e))
                self.nerr += 1
                return
            raise Mismatch("statement %d: %s %r: no error for a bad bound"
                           % (self.nstmt, kv_sql, bad))
        ref_sql = "DELETE FROM ref WHERE key >= ? AND key < ?"
        self.history.append((kv_sql + " / " + ref_sql, (lo, hi)))
        out = []
        for sql in (kv_sql, ref_sql):
            try:
                self.conn.execute(sql, (lo, hi)).fetchall()
                out.append("ok")
            except sqlite3.Error as e:
                out.append("error: " + str(e))
        if out[0] != out[1]:
            raise Mismatch("statement %d: range delete %r\n  kvstore:  %s\n"
                           "  ordinary: %s" % (self.nstmt, (lo, hi), out[0],
                                               out[1]))
        if self.rng.random() < 0.3:
            self.run("SELECT key, value FROM {t} WHERE key >= ? ORDER BY key "
                     "LIMIT 5", (lo,))

    def op_delete_shapes(self):
        """Range DELETEs that kvstore may record as one range tombstone,
        and ones it must not (terms it cannot use, a subquery over the
        same table)."""
        p1, p2 = self.dom.probe(), self.dom.probe()
        r = self.rng.random()
        if r < 0.15:
            self.run("DELETE FROM {t} WHERE key BETWEEN ? AND ?", (p1, p2))
        elif r < 0.30:
            self.run("DELETE FROM {t} WHERE key > ? AND key <= ?", (p1, p2))
        elif r < 0.40:
            self.run("DELETE FROM {t} WHERE key >= ?", (p1,))
        elif r < 0.50:
            self.run("DELETE FROM {t} WHERE key < ?", (p1,))
        elif r < 0.65:
            self.run("DELETE FROM {t} WHERE key >= ? AND key < ? AND "
                     "value IS NOT NULL", (p1, p2))
        elif r < 0.75:
            self.run("DELETE FROM {t} WHERE key >= ? AND key < ? AND "
                     "typeof(value) <> ?", (p1, p2, self.rng.choice(
                         ["null", "integer", "real", "text", "blob"])))
        elif r < 0.85:
            self.run("DELETE FROM {t} WHERE key >= ? AND key < ? AND key NOT "
                     "IN (SELECT key FROM {t} WHERE key > ? ORDER BY key "
                     "LIMIT 3)", (p1, p2, self.dom.probe()))
        elif r < 0.92:
            self.run("DELETE FROM {t} WHERE key > ? AND key < ? OR key = ?",
                     (p1, p2, self.dom.key()))
        else:
            self.run("DELETE FROM {t} WHERE key IN (SELECT x FROM probe) "
                     "OR (key >= ? AND key < ?)", (p1, p2))

    def block_key(self, prefix, i):
        """Key i of a dense block (op_delete_long), as Python and as SQL
        for the CTE's i."""
        if self.key_type == "integer":
            return prefix + i
        k = "%s%05d" % (prefix, i)
        return k if self.key_type == "text" else k.encode()

    def block_sql(self):
        if self.key_type == "integer":
            return "?1 + i"
        if self.key_type == "text":
            return "?1 || printf('%05d', i)"
        return "CAST(?1 || printf('%05d', i) AS BLOB)"

    def op_delete_long(self):
        """A range DELETE of more rows than KVRUN_STEP (1024) several times, which kvstore
        collapses into a range tombstone as it goes (doc/rangedel.md): a
        dense block of rows among the random ones, then a DELETE of a
        range over it, every row or all but some (a term keeps a row
        somewhere, or every m-th row: a tombstone must never cover a row
        that was not deleted), two scans on one cursor, a subquery over
        the table, ORDER BY DESC LIMIT; at times inside a savepoint rolled
        back or released; then reads over the range."""
        self.nlong += 1
        n = self.rng.randint(4000, 13000)
        if self.key_type == "integer":
            prefix = self.rng.randint(-6000, 3000)
        else:
            prefix = self.rng.choice(["", "a", "b0", "A:", "~", "9"])
        m = self.rng.choice([0, 0, 1, 2, 7, 4097, 6000, n + 1])
        r0 = self.rng.randrange(max(m, 1))
        self.run("WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 "
                 "FROM c WHERE i < ?2) INSERT OR REPLACE INTO {t}(key, value) "
                 "SELECT " + self.block_sql() + ", CASE WHEN ?3 > 0 AND "
                 "i % ?3 = ?4 THEN NULL ELSE i END FROM c",
                 (prefix, n - 1, m, r0))
        a = self.rng.randrange(0, n // 4)
        b = self.rng.randrange(a + 1, n + 1)
        lo, hi = self.block_key(prefix, a), self.block_key(prefix, b)
        if self.rng.random() < 0.1:
            lo = self.dom.key()          # the range reaches random rows
        sp = None
        if self.rng.random() < 0.35:
            sp = "long%d" % self.nstmt
            self.exec_once("SAVEPOINT " + sp)
        r = self.rng.random()
        if r < 0.30:
            self.run("DELETE FROM {t} WHERE key >= ? AND key < ?", (lo, hi))
        elif r < 0.40:
            self.run("DELETE FROM {t} WHERE key BETWEEN ? AND ?", (lo, hi))
        elif r < 0.55:
            self.run("DELETE FROM {t} WHERE key >= ? AND key < ? AND "
                     "value IS NOT NULL", (lo, hi))
        elif r < 0.65:
            keep = self.block_key(prefix, self.rng.randrange(a, b))
            self.run("DELETE FROM {t} WHERE key >= ? AND key < ? AND "
                     "key IS NOT ?", (lo, hi, keep))
        elif r < 0.75:
            self.run("DELETE FROM {t} WHERE key IN (SELECT x FROM probe) "
                     "OR key BETWEEN ? AND ?", (lo, hi))
        elif r < 0.85:
            self.run("DELETE FROM {t} WHERE key >= ? AND key < ? AND key NOT "
                     "IN (SELECT key FROM {t} WHERE key > ? ORDER BY key "
                     "LIMIT 3)", (lo, hi, self.block_key(
                         prefix, self.rng.randrange(a, b))))
        elif r < 0.92:
            self.run("DELETE FROM {t} WHERE key >= ? AND key < ? ORDER BY "
                     "key DESC LIMIT ?", (lo, hi, self.rng.randint(1, n)))
        else:
            self.run("DELETE FROM {t} WHERE key >= ? AND key < ? AND "
                     "key >= (SELECT min(key) FROM {t} WHERE key >= ?)",
                     (lo, hi, lo))
        self.run("SELECT count(*), min(key), max(key) FROM {t} "
                 "WHERE key >= ? AND key <= ?", (lo, hi))
        self.run("SELECT key, value FROM {t} WHERE key >= ? ORDER BY key "
                 "LIMIT 5", (self.block_key(prefix, self.rng.randrange(
                     a, b)),))
        self.run("SELECT key FROM {t} WHERE key < ? ORDER BY key DESC "
                 "LIMIT 3", (hi,))
        if sp is not None:
            if self.rng.random() < 0.5:
                self.exec_once("ROLLBACK TO " + sp)
            self.exec_once("RELEASE " + sp)
            self.run("SELECT count(*), min(key), max(key) FROM {t} "
                     "WHERE key >= ? AND key <= ?", (lo, hi))
        if self.rng.random() < 0.8:
            # Most blocks go again (whole comparisons stay cheap).
            self.run("DELETE FROM {t} WHERE key >= ? AND key <= ?",
                     (self.block_key(prefix, 0), self.block_key(prefix, n)))

    def op_compact(self):
        mode = "full" if self.rng.random() < 0.2 else None
        if mode:
            self.exec_once("SELECT kvstore_compact('kv', 'full')")
        else:
            self.exec_once("SELECT kvstore_compact('kv')")

    def reader_query(self):
        out = []
        for t in ("kv", "ref"):
            rows = self.reader.execute(
                "SELECT key, value FROM %s ORDER BY key" % t).fetchall()
            out.append(kvtest.tag_rows(rows))
        if out[0] != out[1]:
            raise Mismatch("statement %d: the snapshot reader sees kvstore "
                           "%d rows, ordinary %d" % (self.nstmt, len(out[0]),
                                                     len(out[1])))
        self.nrows += len(out[0])
        return out[0]

    def op_snapshot(self):
        """WAL mode: a second connection reads both tables in one read
        transaction, before and after a few writes of the first."""
        if not self.wal:
            return
        if self.reader is None:
            self.reader = kvtest.connect(self.path)
            self.reader.execute("BEGIN")
            self.snap_rows = self.reader_query()
            self.reader_left = self.rng.randint(5, 80)
            return
        rows = self.reader_query()
        if rows != self.snap_rows:
            raise Mismatch("statement %d: the snapshot reader's rows changed "
                           "inside its read transaction" % self.nstmt)
        self.reader.execute("COMMIT")
        self.reader.close()
        self.reader = None

    # -------------------------------------------------------------- main
    def step(self, i):
        r = self.rng.random()
        if r < 0.20:
            self.op_insert()
        elif r < 0.27:
            self.op_insert_multi()
        elif r < 0.28:
            self.op_insert_select()
        elif r < 0.35:
            self.op_update_value()
        elif r < 0.40:
            self.op_update_key()
        elif r < 0.48:
            self.op_delete()
        elif r < 0.88:
            self.op_select()
        elif r < 0.97:
            self.op_txn()
        elif r < 0.985:
            self.refill_probe()
        elif r < 0.99:
            self.reconnect()
        elif r < 0.996:
            self.op_delete_range()
        elif r < 0.998:
            self.op_delete_shapes()
        elif r < 0.999:
            self.op_delete_long()
        else:
            self.op_compact()
        if self.reader is not None:
            self.reader_left -= 1
            if self.reader_left <= 0:
                self.op_snapshot()
        elif self.rng.random() < 0.002:
            self.op_snapshot()
        if i % 500 == 0:
            self.compare_all()
            self.max_sst = max(self.max_sst, self.count_sst())

    def count_sst(self):
        d = self.path + "-kv.kvstore"
        return len([f for f in os.listdir(d) if f.endswith(".sst")])


def run_type(key_type, nops, seed, verbose):
    workdir = tempfile.mkdtemp(prefix="kvdiff-")
    d = Driver(key_type, seed, workdir, verbose)
    t0 = time.time()
    ok = False
    try:
        d.create()
        for i in range(1, nops + 1):
            d.step(i)
        if d.reader is not None:
            d.op_snapshot()
        if d.conn.in_transaction:
            d.exec_once("COMMIT")
        d.compare_all()
        d.reconnect()
        d.compare_all()
        print("difftest %-7s seed=%d: %d ops, %d statements, %d errors "
              "(equal), %d rows compared, %d range deletes, %d long range "
              "DELETEs, %d SSTables at the end (up to %d), %.1fs: 0 "
              "differences"
              % (key_type, seed, nops, d.nstmt, d.nerr, d.nrows, d.nrange,
                 d.nlong,
                 d.count_sst(), d.max_sst, time.time() - t0))
        ok = True
    except Mismatch as e:
        print("difftest %s seed=%d: DIFFERENCE\n%s" % (key_type, seed, e))
        print("recent statements:")
        for sql, params in d.history[-int(os.environ.get("DIFF_HISTORY", "15")):]:
            print("   ", sql, params)
    finally:
        try:
            if d.reader is not None:
                d.reader.close()
            d.conn.close()
        except Exception:
            pass
        if ok or not verbose:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("kept", workdir)
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--types", default="text,blob,integer")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory of a failing run")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    ok = True
    for i, kt in enumerate(args.types.split(",")):
        ok = run_type(kt, args.ops, seed + i, args.keep) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
