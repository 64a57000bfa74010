-- Sorted loads written straight to an SSTable (kvbulk.c): the same rows
-- as an ordinary WITHOUT ROWID table given the same statements, with
-- savepoints, reads inside the load, rows out of order, conflicts and
-- rollbacks.
.load ./kvstore
CREATE TEMP TABLE n(value INTEGER PRIMARY KEY);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<20000)
  INSERT INTO n SELECT i FROM c;
CREATE VIRTUAL TABLE kv USING kvstore(dir='kv.d', background=off);
CREATE TABLE ref(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
CREATE TEMP VIEW same AS SELECT
  (SELECT count(*) || ':' || total(length(value)) || ':' || group_concat(key, '') FROM kv)
  = (SELECT count(*) || ':' || total(length(value)) || ':' || group_concat(key, '') FROM ref) AS same;

-- One sorted INSERT ... SELECT into an empty table: one table at the
-- bottom level, at one sequence, no memtable entry, no WAL record.
INSERT INTO kv SELECT printf('b%06d', value), zeroblob(100) FROM n WHERE value BETWEEN 1 AND 20000;
INSERT INTO ref SELECT printf('b%06d', value), zeroblob(100) FROM n WHERE value BETWEEN 1 AND 20000;
SELECT * FROM same;
SELECT level, entries, min_seq = max_seq FROM kvstore_sstables('kv');
SELECT json_extract(kvstore_stats('kv'), '$.memtable.entries');
SELECT v = (SELECT max(max_seq) FROM kvstore_sstables('kv'))
  FROM kv_kvstore WHERE k = 'horizon';

-- Below everything, a few rows only: the ordinary path (level 0 after a
-- flush), then a sorted load between two keys the store holds.
INSERT INTO kv VALUES ('a1', 1), ('a2', 2);
INSERT INTO ref VALUES ('a1', 1), ('a2', 2);
INSERT INTO kv SELECT printf('a3%06d', value), value FROM n WHERE value BETWEEN 1 AND 6000;
INSERT INTO ref SELECT printf('a3%06d', value), value FROM n WHERE value BETWEEN 1 AND 6000;
SELECT * FROM same;
SELECT level, entries FROM kvstore_sstables('kv') WHERE smallest_key = 'a3000001';

-- A load that reaches a key the store holds stops there; the conflict is
-- the ordinary table's, and the statement leaves nothing.
INSERT INTO kv SELECT printf('a4%06d', value), value FROM n WHERE value BETWEEN 1 AND 5000
  UNION ALL SELECT 'b000001', 'dup';
INSERT INTO ref SELECT printf('a4%06d', value), value FROM n WHERE value BETWEEN 1 AND 5000
  UNION ALL SELECT 'b000001', 'dup';
SELECT * FROM same;
INSERT OR REPLACE INTO kv SELECT printf('a4%06d', value), value FROM n WHERE value BETWEEN 1 AND 5000
  UNION ALL SELECT 'b000001', 'replaced';
INSERT OR REPLACE INTO ref SELECT printf('a4%06d', value), value FROM n WHERE value BETWEEN 1 AND 5000
  UNION ALL SELECT 'b000001', 'replaced';
SELECT * FROM same;
SELECT value FROM kv WHERE key = 'b000001';

-- Inside a transaction: read back mid-load, savepoints rolled back to a
-- mark inside the load and before it, rows out of order after it.
BEGIN;
INSERT INTO kv SELECT printf('c%06d', value), value FROM n WHERE value BETWEEN 1 AND 8000;
INSERT INTO ref SELECT printf('c%06d', value), value FROM n WHERE value BETWEEN 1 AND 8000;
SAVEPOINT s1;
INSERT INTO kv SELECT printf('c%06d', value), value FROM n WHERE value BETWEEN 8001 AND 12000;
INSERT INTO ref SELECT printf('c%06d', value), value FROM n WHERE value BETWEEN 8001 AND 12000;
ROLLBACK TO s1;
INSERT INTO kv SELECT printf('c%06d', value), -value FROM n WHERE value BETWEEN 8001 AND 9000;
INSERT INTO ref SELECT printf('c%06d', value), -value FROM n WHERE value BETWEEN 8001 AND 9000;
SELECT count(*), max(key) FROM kv WHERE key >= 'c';
INSERT INTO kv SELECT printf('d%06d', value), value FROM n WHERE value BETWEEN 1 AND 7000;
INSERT INTO ref SELECT printf('d%06d', value), value FROM n WHERE value BETWEEN 1 AND 7000;
INSERT INTO kv VALUES ('c000000', 'early');
INSERT INTO ref VALUES ('c000000', 'early');
RELEASE s1;
COMMIT;
SELECT * FROM same;

-- A whole load rolled back leaves nothing, also no file.
BEGIN;
INSERT INTO kv SELECT printf('e%06d', value), value FROM n WHERE value BETWEEN 1 AND 9000;
SELECT count(*) FROM kv WHERE key >= 'e';
ROLLBACK;
SELECT count(*) FROM kv WHERE key >= 'e';
SELECT * FROM same;

-- A failing row mid-statement (NOT NULL) undoes that statement only.
BEGIN;
INSERT INTO kv SELECT printf('f%06d', value), value FROM n WHERE value BETWEEN 1 AND 6000;
INSERT INTO ref SELECT printf('f%06d', value), value FROM n WHERE value BETWEEN 1 AND 6000;
INSERT INTO kv SELECT printf('g%06d', value), value FROM n WHERE value BETWEEN 1 AND 6000
  UNION ALL SELECT NULL, 1;
COMMIT;
SELECT * FROM same;
SELECT kvstore_verify('kv');
SELECT count(*) FROM kvstore_sstables('kv') WHERE file > '9';
