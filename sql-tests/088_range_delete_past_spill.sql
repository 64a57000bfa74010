-- A range DELETE whose point deletes pass txn_spill before they collapse
-- into one range tombstone (kvrange.c): the spilled deletes are dropped
-- and the statement commits, as on the ordinary twin o. Found by make
-- bench-large at 10M rows ("a spilled transaction wrote 1 tables for 1
-- sequences"): autocommit, then inside a transaction with rows written
-- before it, then rolled back.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore(dir='kv-store', txn_spill='16KB', background=off);
CREATE TABLE o(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i<4999)
  INSERT INTO kv SELECT printf('k%05d', i), printf('%050d', i) FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i<4999)
  INSERT INTO o SELECT printf('k%05d', i), printf('%050d', i) FROM n;
DELETE FROM kv WHERE key >= 'k01000' AND key < 'k03000';
DELETE FROM o WHERE key >= 'k01000' AND key < 'k03000';
SELECT count(*), min(key), max(key) FROM kv;
SELECT 'differ', count(*) FROM (SELECT * FROM (SELECT key, value FROM kv EXCEPT SELECT key, value FROM o) UNION ALL SELECT * FROM (SELECT key, value FROM o EXCEPT SELECT key, value FROM kv));
BEGIN;
INSERT INTO kv VALUES ('a', 1);
INSERT INTO o VALUES ('a', 1);
DELETE FROM kv WHERE key >= 'k03000' AND key < 'k04500';
DELETE FROM o WHERE key >= 'k03000' AND key < 'k04500';
SELECT count(*) FROM kv;
COMMIT;
SELECT count(*), min(key), max(key) FROM kv;
SELECT 'differ', count(*) FROM (SELECT * FROM (SELECT key, value FROM kv EXCEPT SELECT key, value FROM o) UNION ALL SELECT * FROM (SELECT key, value FROM o EXCEPT SELECT key, value FROM kv));
BEGIN;
DELETE FROM kv WHERE key >= 'k00000';
SELECT count(*) FROM kv;
ROLLBACK;
SELECT count(*) FROM kv;
