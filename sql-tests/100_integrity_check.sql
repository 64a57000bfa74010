-- PRAGMA integrity_check and quick_check check kvstore tables too (the
-- module's xIntegrity, SQLite 3.44 and later; older versions do not ask a
-- virtual table, and answer ok: 100_integrity_check.expected is theirs,
-- the .3.53.2.expected file shows the checks). integrity_check reads the
-- store as kvstore_verify does; quick_check and integrity_check both
-- report a table that cannot use its store.
.load ./kvstore
CREATE VIRTUAL TABLE t USING kvstore(dir='data');
CREATE TABLE o(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)
INSERT INTO t SELECT printf('k%05d', i), zeroblob(40) FROM c;
INSERT INTO o SELECT * FROM t;
SELECT json_extract(kvstore_flush('t'), '$.sstables');
PRAGMA integrity_check;
PRAGMA quick_check;

-- Four bytes of the first data block overwritten.
.system printf 'XXXX' | dd of=data/000004.sst bs=1 seek=100 conv=notrunc 2>/dev/null
.open test.db
.load ./kvstore
PRAGMA integrity_check;
PRAGMA quick_check;
PRAGMA integrity_check(o);
SELECT kvstore_verify('t');

-- The store gone: both report it, and the ordinary table still checks.
.open other.db
.system mv data away
.open test.db
.load ./kvstore
PRAGMA quick_check;
PRAGMA integrity_check;
PRAGMA integrity_check(o);
.open other.db
.system mv away data
.open test.db
.load ./kvstore
PRAGMA quick_check;
