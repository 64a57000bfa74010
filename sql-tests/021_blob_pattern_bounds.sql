-- GLOB and LIKE on blob keys: SQLite 3.38 and 3.53 (not 3.40) derive
-- `key>='a' AND key<'b'` from `key GLOB 'a*'` and give them to the table
-- without checking them; against blob keys (text sorts below every blob)
-- they would empty the scan. Range terms beside a pattern are left to
-- SQLite. Beside an ordinary WITHOUT ROWID table. Built with
-- SQLITE_LIKE_DOESNT_MATCH_BLOBS (Debian, better-sqlite3, make compat) a
-- pattern matches no blob and both sides are empty; without it (the
-- amalgamation's default) this caught the empty scan on 3.38 and 3.53.
.load ./kvstore
CREATE VIRTUAL TABLE b USING kvstore(key_type=blob);
CREATE TABLE rb(key BLOB PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
INSERT INTO b VALUES (x'61000001', 1), (x'6141', 2), (x'62', 3), (x'6162', 4);
INSERT INTO rb SELECT * FROM b;
SELECT 'kv', hex(key) FROM b WHERE key GLOB 'a*' ORDER BY key;
SELECT 'ref', hex(key) FROM rb WHERE key GLOB 'a*' ORDER BY key;
SELECT 'kv', hex(key) FROM b WHERE key GLOB 'a*' AND key < x'6142' ORDER BY key;
SELECT 'ref', hex(key) FROM rb WHERE key GLOB 'a*' AND key < x'6142' ORDER BY key;
SELECT 'kv', hex(key) FROM b WHERE key >= x'6141' AND key < 'zz';
SELECT 'ref', hex(key) FROM rb WHERE key >= x'6141' AND key < 'zz';
PRAGMA case_sensitive_like = ON;
SELECT 'kv', hex(key) FROM b WHERE key LIKE 'a%' ORDER BY key;
SELECT 'ref', hex(key) FROM rb WHERE key LIKE 'a%' ORDER BY key;
