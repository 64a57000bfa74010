-- kvstore_ingest(t, path [, merkle_root]): an SSTable of one kvstore
-- table added to another, compared with an ordinary WITHOUT ROWID table
-- given the same rows by INSERT OR REPLACE; inside transactions and
-- savepoints; damaged files, wrong roots and mixed writes refused.
.load ./kvstore
CREATE VIRTUAL TABLE src USING kvstore(dir='src.d', background=off);
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c WHERE i<299)
  INSERT INTO src SELECT printf('k%03d', i), 'new' || i FROM c;
SELECT json_extract(kvstore_flush('src'), '$.sstables');
CREATE TEMP VIEW srcfile AS
  SELECT 'src.d/' || file AS path, merkle_root FROM kvstore_sstables('src');

CREATE VIRTUAL TABLE kv USING kvstore(dir='kv.d', background=off);
CREATE TABLE ref(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
WITH RECURSIVE c(i) AS (SELECT 250 UNION ALL SELECT i+1 FROM c WHERE i<349)
  INSERT INTO kv SELECT printf('k%03d', i), 'old' || i FROM c;
INSERT INTO ref SELECT * FROM kv;

-- Autocommit: the file's rows replace the table's on the keys they share.
SELECT kvstore_ingest('kv', (SELECT path FROM srcfile));
INSERT OR REPLACE INTO ref SELECT * FROM src;
SELECT count(*), min(key), max(key) FROM kv;
SELECT (SELECT group_concat(key || '=' || value) FROM kv)
     = (SELECT group_concat(key || '=' || value) FROM ref);
SELECT * FROM kv WHERE key IN ('k000', 'k249', 'k250', 'k299', 'k300');
SELECT kvstore_verify('kv');

-- With the root the source reports, and with another one.
SELECT json_extract(kvstore_ingest('kv', path, merkle_root), '$.entries')
  FROM srcfile;
SELECT kvstore_ingest('kv', path, replace(merkle_root, substr(merkle_root, 1, 1),
                      CASE substr(merkle_root, 1, 1) WHEN '0' THEN '1' ELSE '0' END))
  FROM srcfile;
SELECT kvstore_ingest('kv', path, 'abc') FROM srcfile;

-- Inside a transaction: not seen before COMMIT, undone by ROLLBACK and by
-- ROLLBACK TO a savepoint opened before it.
CREATE VIRTUAL TABLE kv2 USING kvstore(dir='kv2.d', background=off);
BEGIN;
SELECT json_extract(kvstore_ingest('kv2', (SELECT path FROM srcfile)), '$.entries');
SELECT count(*) FROM kv2;
ROLLBACK;
SELECT count(*) FROM kv2;
BEGIN;
SAVEPOINT a;
SELECT json_extract(kvstore_ingest('kv2', (SELECT path FROM srcfile)), '$.entries');
ROLLBACK TO a;
RELEASE a;
COMMIT;
SELECT count(*) FROM kv2;
BEGIN;
SELECT json_extract(kvstore_ingest('kv2', (SELECT path FROM srcfile)), '$.entries');
COMMIT;
SELECT count(*), min(key), max(key) FROM kv2;
SELECT level, entries FROM kvstore_sstables('kv2');

-- Rows and an ingest in one transaction are refused, either order.
BEGIN;
SELECT kvstore_ingest('kv2', (SELECT path FROM srcfile)) IS NOT NULL;
INSERT INTO kv2 VALUES('zzz', 1);
ROLLBACK;
BEGIN;
INSERT INTO kv2 VALUES('zzz', 1);
SELECT kvstore_ingest('kv2', (SELECT path FROM srcfile));
ROLLBACK;
SELECT count(*) FROM kv2 WHERE key = 'zzz';

-- Refused files: missing, not an SSTable, bad arguments.
SELECT kvstore_ingest('kv2', 'nosuch.sst');
SELECT kvstore_ingest('kv2', 'test.db');
SELECT kvstore_ingest('kv2');
SELECT kvstore_ingest('nosuch', 'x.sst');
SELECT count(*) FROM kv2;

-- kvstore_confine(NULL): no explicit path at all, so no ingest either.
SELECT kvstore_confine(NULL);
SELECT kvstore_ingest('kv2', (SELECT path FROM srcfile));
SELECT count(*) FROM kv2;
