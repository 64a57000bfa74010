-- kvstore_checkpoint's and kvstore_backup's progress in kvstore_stats:
-- both sections are there, at zero when no copy runs, and back to zero
-- after a copy ran to its end. (Interrupting one, and the figures while
-- it runs, are tests/interrupttest.py: the shell cannot interrupt a
-- statement from a second thread.)
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore(memtable_size='64KB', background=off);
CREATE TABLE ref(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
SELECT json_extract(kvstore_stats('kv'), '$.checkpoint');
SELECT json_extract(kvstore_stats('kv'), '$.backup');
INSERT INTO ref WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL
  SELECT i+1 FROM n WHERE i<3000) SELECT printf('k%05d', i), randomblob(40) FROM n;
INSERT INTO kv SELECT * FROM ref;
SELECT json_extract(kvstore_checkpoint('kv', 'copy'), '$.files') > 3;
SELECT json_extract(kvstore_stats('kv'), '$.checkpoint');
-- The copy is whole: a new table adopts it and holds the reference's rows.
CREATE VIRTUAL TABLE c USING kvstore(dir='copy');
SELECT count(*) FROM (SELECT * FROM c EXCEPT SELECT * FROM ref);
SELECT count(*) FROM (SELECT * FROM ref EXCEPT SELECT * FROM c);
-- Each table's stats show only the copies of its own store.
SELECT json_extract(kvstore_stats('c'), '$.checkpoint');
DROP TABLE c;
SELECT json_extract(kvstore_backup('backup.db'), '$.files') > 3;
SELECT json_extract(kvstore_stats('kv'), '$.backup');
ATTACH 'backup.db' AS b;
SELECT count(*) FROM (SELECT * FROM b.kv EXCEPT SELECT * FROM ref);
SELECT count(*) FROM b.kv;
-- A checkpoint that cannot start leaves the figures at zero too.
SELECT kvstore_checkpoint('kv', 'backup.db-kv.kvstore');
SELECT json_extract(kvstore_stats('kv'), '$.checkpoint.running');
