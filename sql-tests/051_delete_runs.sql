-- A DELETE over a key range: SQLite still calls xUpdate once per row, and
-- kvstore records one range tombstone in place of the point deletes when
-- the statement deleted every row its scan returned (doc/rangedel.md).
-- Each case compares with an ordinary WITHOUT ROWID table, and counts the
-- entries the memtable holds after it (flushed before each case): one
-- for a range tombstone, one per row for point deletes.
.load ./kvstore
.headers on
CREATE VIRTUAL TABLE kv USING kvstore(key_type=integer, background=off);
CREATE TABLE ref(key INTEGER PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<200)
  INSERT INTO kv SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE i END FROM c;
INSERT INTO ref SELECT key, value FROM kv;
SELECT json_extract(kvstore_flush('kv'), '$.sstables');

-- Every row of the range: one range tombstone, no point entry.
DELETE FROM kv WHERE key >= 10 AND key < 20;
DELETE FROM ref WHERE key >= 10 AND key < 20;
SELECT json_extract(kvstore_stats('kv'), '$.memtable.entries') AS memtable_entries;
SELECT json_extract(kvstore_flush('kv'), '$.flushed');
SELECT (SELECT group_concat(key || ':' || quote(value)) FROM kv)
    IS (SELECT group_concat(key || ':' || quote(value)) FROM ref) AS same;

-- <=, >, BETWEEN, one-sided ranges: the same.
DELETE FROM kv WHERE key > 20 AND key <= 25;
DELETE FROM ref WHERE key > 20 AND key <= 25;
DELETE FROM kv WHERE key BETWEEN 30 AND 39;
DELETE FROM ref WHERE key BETWEEN 30 AND 39;
DELETE FROM kv WHERE key >= 190;
DELETE FROM ref WHERE key >= 190;
DELETE FROM kv WHERE key < 3;
DELETE FROM ref WHERE key < 3;
SELECT json_extract(kvstore_stats('kv'), '$.memtable.entries') AS memtable_entries;
SELECT json_extract(kvstore_flush('kv'), '$.flushed');
SELECT (SELECT group_concat(key || ':' || quote(value)) FROM kv)
    IS (SELECT group_concat(key || ':' || quote(value)) FROM ref) AS same;

-- A term kvstore does not use leaves rows of the range: point deletes.
DELETE FROM kv WHERE key >= 40 AND key < 60 AND value IS NOT NULL;
DELETE FROM ref WHERE key >= 40 AND key < 60 AND value IS NOT NULL;
SELECT json_extract(kvstore_stats('kv'), '$.memtable.entries') AS memtable_entries;
SELECT json_extract(kvstore_flush('kv'), '$.flushed');
SELECT (SELECT group_concat(key || ':' || quote(value)) FROM kv)
    IS (SELECT group_concat(key || ':' || quote(value)) FROM ref) AS same;
SELECT key FROM kv WHERE key >= 40 AND key < 60;

-- ... also when it keeps none (the range is all rows then).
DELETE FROM kv WHERE key >= 60 AND key < 70 AND key % 1 = 0;
DELETE FROM ref WHERE key >= 60 AND key < 70 AND key % 1 = 0;
SELECT json_extract(kvstore_stats('kv'), '$.memtable.entries') AS memtable_entries;
SELECT json_extract(kvstore_flush('kv'), '$.flushed');
SELECT (SELECT group_concat(key || ':' || quote(value)) FROM kv)
    IS (SELECT group_concat(key || ':' || quote(value)) FROM ref) AS same;

-- Two scans of one statement (MULTI-INDEX OR): key 72 comes from the IN
-- list, outside the range scan; the range must not stretch down to it.
CREATE TABLE probe(x INTEGER);
INSERT INTO probe VALUES (72), (85);
DELETE FROM kv WHERE key IN (SELECT x FROM probe) OR (key >= 80 AND key < 90);
DELETE FROM ref WHERE key IN (SELECT x FROM probe) OR (key >= 80 AND key < 90);
SELECT (SELECT group_concat(key || ':' || quote(value)) FROM kv)
    IS (SELECT group_concat(key || ':' || quote(value)) FROM ref) AS same;
SELECT group_concat(key) FROM kv WHERE key BETWEEN 70 AND 92;

-- A subquery over the same table: no range tombstone, right answer.
DELETE FROM kv WHERE key >= 100 AND key < 120
  AND key NOT IN (SELECT key FROM kv WHERE key > 110 ORDER BY key LIMIT 2);
DELETE FROM ref WHERE key >= 100 AND key < 120
  AND key NOT IN (SELECT key FROM ref WHERE key > 110 ORDER BY key LIMIT 2);
SELECT (SELECT group_concat(key || ':' || quote(value)) FROM kv)
    IS (SELECT group_concat(key || ':' || quote(value)) FROM ref) AS same;
SELECT group_concat(key) FROM kv WHERE key BETWEEN 99 AND 121;

-- Inside a transaction, with savepoints: its own reads see the range
-- deleted, ROLLBACK TO brings the rows back, writes after it stay.
SELECT json_extract(kvstore_flush('kv'), '$.flushed');
BEGIN;
INSERT INTO kv VALUES (300, 'in txn');
INSERT INTO ref VALUES (300, 'in txn');
SAVEPOINT s;
DELETE FROM kv WHERE key >= 121 AND key < 140;
DELETE FROM ref WHERE key >= 121 AND key < 140;
SELECT (SELECT group_concat(key || ':' || quote(value)) FROM kv)
    IS (SELECT group_concat(key || ':' || quote(value)) FROM ref) AS same;
SELECT key FROM kv WHERE key >= 120 ORDER BY key LIMIT 2;
ROLLBACK TO s;
SELECT (SELECT group_concat(key || ':' || quote(value)) FROM kv)
    IS (SELECT group_concat(key || ':' || quote(value)) FROM ref) AS same;
DELETE FROM kv WHERE key >= 121 AND key < 130;
DELETE FROM ref WHERE key >= 121 AND key < 130;
INSERT INTO kv VALUES (126, 'after');
INSERT INTO ref VALUES (126, 'after');
RELEASE s;
COMMIT;
SELECT (SELECT group_concat(key || ':' || quote(value)) FROM kv)
    IS (SELECT group_concat(key || ':' || quote(value)) FROM ref) AS same;
SELECT key, value FROM kv WHERE key BETWEEN 120 AND 131;
SELECT json_extract(kvstore_stats('kv'), '$.memtable.entries') AS memtable_entries;
SELECT json_extract(kvstore_flush('kv'), '$.flushed');

-- Reopened and compacted, still the same.
.open test.db
.load ./kvstore
SELECT (SELECT group_concat(key || ':' || quote(value)) FROM kv)
    IS (SELECT group_concat(key || ':' || quote(value)) FROM ref) AS same;
SELECT json_extract(kvstore_compact('kv', 'full'), '$.files_out');
SELECT (SELECT group_concat(key || ':' || quote(value)) FROM kv)
    IS (SELECT group_concat(key || ':' || quote(value)) FROM ref) AS same;
SELECT sum(entries) = (SELECT count(*) FROM ref) FROM kvstore_sstables('kv');
