-- A range DELETE larger than txn_spill collapses as it goes
-- (doc/rangedel.md, "Runs"): every 1024 deletes that are exactly the
-- first rows its scan returned become one range tombstone, so the batch
-- never holds more than 1024 of its point deletes and never spills (a
-- spilled transaction would commit as new level-0 tables). Each case is
-- compared with an ordinary WITHOUT ROWID table; memtable entries are
-- counted after each (flushed before): one for a range tombstone.
.load ./kvstore
.headers on
CREATE VIRTUAL TABLE kv USING kvstore(key_type=integer, txn_spill='1MB', background=off);
CREATE TABLE ref(key INTEGER PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<200000)
  INSERT INTO ref SELECT i, CASE WHEN i IN (150000, 170001) THEN NULL ELSE i END FROM c;
INSERT INTO kv SELECT key, value FROM ref;
SELECT json_extract(kvstore_flush('kv'), '$.flushed') AS flushed;
SELECT count(*) AS sstables FROM kvstore_sstables('kv');

-- 90,000 rows (about 9 MB of point deletes), autocommit: one tombstone,
-- no table added by a spilled commit.
DELETE FROM kv WHERE key >= 1000 AND key < 91000;
DELETE FROM ref WHERE key >= 1000 AND key < 91000;
SELECT json_extract(kvstore_stats('kv'), '$.memtable.entries') AS memtable_entries;
SELECT count(*) AS sstables FROM kvstore_sstables('kv');
SELECT (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM kv)
    IS (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM ref) AS same;
SELECT key FROM kv WHERE key >= 999 ORDER BY key LIMIT 3;
SELECT key FROM kv WHERE key < 91001 ORDER BY key DESC LIMIT 3;
SELECT json_extract(kvstore_flush('kv'), '$.flushed') AS flushed;

-- A term that keeps one row (value NULL at 150000, the 50,001st row):
-- the first 48 steps (49,152 rows) became a tombstone, the rest stay
-- point deletes; row 150000 stays.
DELETE FROM kv WHERE key >= 100000 AND key < 160000 AND value IS NOT NULL;
DELETE FROM ref WHERE key >= 100000 AND key < 160000 AND value IS NOT NULL;
SELECT json_extract(kvstore_stats('kv'), '$.memtable.entries') AS memtable_entries;
SELECT (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM kv)
    IS (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM ref) AS same;
SELECT key, value FROM kv WHERE key >= 99999 ORDER BY key LIMIT 3;
SELECT json_extract(kvstore_flush('kv'), '$.flushed') AS flushed;

-- Inside a transaction, around savepoints: a large DELETE rolled back to
-- a savepoint taken before it, then one committed after a savepoint
-- released; a reader in the same transaction sees the range gone.
BEGIN;
INSERT INTO kv VALUES (0, 'in txn');
INSERT INTO ref VALUES (0, 'in txn');
SAVEPOINT a;
DELETE FROM kv WHERE key >= 160000 AND key < 200000;
DELETE FROM ref WHERE key >= 160000 AND key < 200000;
SELECT count(*) AS rows_in_a FROM kv;
ROLLBACK TO a;
SELECT (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM kv)
    IS (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM ref) AS same;
SAVEPOINT b;
DELETE FROM kv WHERE key BETWEEN 160000 AND 179999;
DELETE FROM ref WHERE key BETWEEN 160000 AND 179999;
RELEASE b;
SELECT key FROM kv WHERE key > 150000 ORDER BY key LIMIT 2;
SELECT count(*) AS rows_in_txn FROM kv WHERE key BETWEEN 150001 AND 185000;
-- A savepoint after the DELETE: rolled back to, the range stays deleted.
SAVEPOINT c;
INSERT INTO kv VALUES (170000, 'in c');
INSERT INTO ref VALUES (170000, 'in c');
DELETE FROM kv WHERE key >= 180000 AND key < 186000;
DELETE FROM ref WHERE key >= 180000 AND key < 186000;
SELECT count(*) AS rows_in_c FROM kv WHERE key BETWEEN 150001 AND 190000;
ROLLBACK TO c;
RELEASE c;
SELECT count(*) AS rows_after_c FROM kv WHERE key BETWEEN 150001 AND 190000;
INSERT INTO kv VALUES (165000, 'after');
INSERT INTO ref VALUES (165000, 'after');
SELECT (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM kv)
    IS (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM ref) AS same;
COMMIT;
SELECT json_extract(kvstore_stats('kv'), '$.memtable.entries') AS memtable_entries;
SELECT count(*) AS sstables FROM kvstore_sstables('kv');
SELECT key, value FROM kv WHERE key BETWEEN 159999 AND 180001;

-- ROLLBACK of a large DELETE leaves every row.
BEGIN;
DELETE FROM kv WHERE key >= 180000;
SELECT count(*) AS rows_in_txn FROM kv;
ROLLBACK;
SELECT (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM kv)
    IS (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM ref) AS same;

-- Two scans on one cursor (IN list, then the range): the IN key below
-- the range ends the run; its steps so far stay one tombstone.
CREATE TABLE probe(x INTEGER);
INSERT INTO probe VALUES (10), (190000);
DELETE FROM kv WHERE key IN (SELECT x FROM probe) OR key BETWEEN 180000 AND 195000;
DELETE FROM ref WHERE key IN (SELECT x FROM probe) OR key BETWEEN 180000 AND 195000;
SELECT (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM kv)
    IS (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM ref) AS same;
SELECT group_concat(key) FROM (SELECT key FROM kv WHERE key < 12 OR key BETWEEN 179998 AND 195002 ORDER BY key);

-- A subquery over the same table (a second cursor: point deletes).
-- (DELETE ... ORDER BY key DESC LIMIT n, which Debian's SQLite allows,
-- is such a subquery too; the difftest runs it.)
DELETE FROM kv WHERE key < 100000
  AND key NOT IN (SELECT key FROM kv WHERE key > 95000 ORDER BY key LIMIT 2);
DELETE FROM ref WHERE key < 100000
  AND key NOT IN (SELECT key FROM ref WHERE key > 95000 ORDER BY key LIMIT 2);
SELECT group_concat(key) FROM kv WHERE key < 100000;
SELECT (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM kv)
    IS (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM ref) AS same;

-- Reopened and compacted, still the same.
.open test.db
.load ./kvstore
SELECT (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM kv)
    IS (SELECT count(*) || ':' || sum(key) || ':' || sum(value) FROM ref) AS same;
SELECT json_extract(kvstore_compact('kv', 'full'), '$.files_out') AS files_out;
SELECT (SELECT group_concat(key || ':' || quote(value)) FROM kv)
    IS (SELECT group_concat(key || ':' || quote(value)) FROM ref) AS same;
