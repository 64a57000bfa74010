-- Transactions larger than txn_spill (doc/spill.md): the kvstore table kv
-- spills its transaction to runs every 16 KB; its ordinary twin o gets the
-- same statements. Inside the transaction, after savepoints rolled back
-- into spilled parts, both hold the same rows (read-your-writes); after
-- COMMIT, and after a ROLLBACK of another spilled transaction, too.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore(dir='kv-store', txn_spill='16KB', background=off);
CREATE TABLE o(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
INSERT INTO kv VALUES ('k00010', 'before'), ('k99999', 'before');
INSERT INTO o VALUES ('k00010', 'before'), ('k99999', 'before');
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i<1999)
  INSERT OR REPLACE INTO kv SELECT printf('k%05d', i), printf('%0100d', i) FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i<1999)
  INSERT OR REPLACE INTO o SELECT printf('k%05d', i), printf('%0100d', i) FROM n;
SAVEPOINT a;
UPDATE kv SET value = 'a-' || value WHERE key < 'k01000';
UPDATE o SET value = 'a-' || value WHERE key < 'k01000';
DELETE FROM kv WHERE key >= 'k01500';
DELETE FROM o WHERE key >= 'k01500';
SAVEPOINT b;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i<999)
  INSERT OR REPLACE INTO kv SELECT printf('k%05d', i*2), printf('b%0100d', i) FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i<999)
  INSERT OR REPLACE INTO o SELECT printf('k%05d', i*2), printf('b%0100d', i) FROM n;
SELECT count(*), min(key), max(key), sum(length(value)) FROM kv;
SELECT 'differ', count(*) FROM (SELECT * FROM (SELECT key, value FROM kv EXCEPT SELECT key, value FROM o) UNION ALL SELECT * FROM (SELECT key, value FROM o EXCEPT SELECT key, value FROM kv));
-- back over the spilled updates of b: a's writes show again
ROLLBACK TO b;
SELECT value FROM kv WHERE key = 'k00002';
SELECT value FROM kv WHERE key = 'k01600';
SELECT value FROM o WHERE key = 'k01600';
SELECT 'differ', count(*) FROM (SELECT * FROM (SELECT key, value FROM kv EXCEPT SELECT key, value FROM o) UNION ALL SELECT * FROM (SELECT key, value FROM o EXCEPT SELECT key, value FROM kv));
SELECT count(*) FROM kv;
-- back over a as well: the first insert's rows, unchanged
ROLLBACK TO a;
SELECT value FROM kv WHERE key = 'k00002';
SELECT key FROM kv WHERE key > 'k01995' ORDER BY key DESC;
RELEASE a;
SELECT 'differ', count(*) FROM (SELECT * FROM (SELECT key, value FROM kv EXCEPT SELECT key, value FROM o) UNION ALL SELECT * FROM (SELECT key, value FROM o EXCEPT SELECT key, value FROM kv));
COMMIT;
SELECT count(*), sum(length(value)) FROM kv;
SELECT 'differ', count(*) FROM (SELECT * FROM (SELECT key, value FROM kv EXCEPT SELECT key, value FROM o) UNION ALL SELECT * FROM (SELECT key, value FROM o EXCEPT SELECT key, value FROM kv));
-- A spilled transaction rolled back leaves nothing.
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i<1999)
  INSERT OR REPLACE INTO kv SELECT printf('z%05d', i), printf('%0100d', i) FROM n;
DELETE FROM kv WHERE key < 'k00500';
SELECT count(*) FROM kv;
ROLLBACK;
SELECT count(*), sum(length(value)) FROM kv;
SELECT 'differ', count(*) FROM (SELECT * FROM (SELECT key, value FROM kv EXCEPT SELECT key, value FROM o) UNION ALL SELECT * FROM (SELECT key, value FROM o EXCEPT SELECT key, value FROM kv));
