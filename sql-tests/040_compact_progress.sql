-- kvstore_compact's progress in kvstore_stats, and what a compaction run
-- to its end leaves there. (Interrupting one is tests/interrupttest.py:
-- the shell cannot interrupt a statement from a second thread.)
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore(memtable_size='64KB', background=off);
CREATE TABLE ref(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
-- Idle: nothing planned, nothing done.
SELECT json_extract(kvstore_stats('kv'), '$.compaction.progress');
SELECT json_extract(kvstore_stats('kv'), '$.compaction.running');
INSERT INTO ref WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL
  SELECT i+1 FROM n WHERE i<2000) SELECT printf('k%05d', i), randomblob(50) FROM n;
INSERT INTO kv SELECT * FROM ref;
SELECT json_extract(kvstore_flush('kv'), '$.flushed');
UPDATE kv SET value = 'v' WHERE key < 'k01000';
UPDATE ref SET value = 'v' WHERE key < 'k01000';
DELETE FROM kv WHERE key >= 'k01900';
DELETE FROM ref WHERE key >= 'k01900';
-- A full compaction runs to its end and reports what it did; afterwards
-- the progress figures are back to zero and the rows are the reference's.
SELECT json_extract(c, '$.files_in') >= 2, json_extract(c, '$.files_out')
  FROM (SELECT kvstore_compact('kv', 'full') AS c);
SELECT json_extract(kvstore_stats('kv'), '$.compaction.progress');
SELECT json_extract(kvstore_stats('kv'), '$.compaction.running');
SELECT count(*), sum(value = 'v') FROM kv;
SELECT count(*) FROM (SELECT * FROM kv EXCEPT SELECT * FROM ref);
SELECT count(*) FROM (SELECT * FROM ref EXCEPT SELECT * FROM kv);
-- The same error as before for a bad mode; nothing runs.
SELECT kvstore_compact('kv', 'fast');
