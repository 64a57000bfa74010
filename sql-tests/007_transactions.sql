-- Transactions, savepoints (including the sparse numbering a table gets
-- when it joins late), own-write visibility, statement atomicity.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore;
CREATE VIRTUAL TABLE kv2 USING kvstore;
INSERT INTO kv VALUES ('a', 1);
-- ROLLBACK undoes; own writes are visible before COMMIT.
BEGIN;
INSERT INTO kv VALUES ('b', 2);
UPDATE kv SET value = 10 WHERE key = 'a';
DELETE FROM kv WHERE key = 'a';
SELECT 'in txn', group_concat(key || '=' || value) FROM kv;
SELECT 'in txn point', count(*) FROM kv WHERE key = 'a';
ROLLBACK;
SELECT 'after rollback', group_concat(key || '=' || value) FROM kv;
BEGIN;
INSERT INTO kv VALUES ('b', 2), ('c', 3);
COMMIT;
SELECT 'after commit', group_concat(key || '=' || value) FROM kv;
-- Savepoints.
BEGIN;
INSERT INTO kv VALUES ('d', 4);
SAVEPOINT s1;
INSERT INTO kv VALUES ('e', 5);
SAVEPOINT s2;
INSERT INTO kv VALUES ('f', 6);
ROLLBACK TO s2;
SELECT 'rollback to s2', group_concat(key) FROM kv;
INSERT INTO kv VALUES ('g', 7);
RELEASE s2;
ROLLBACK TO s1;
SELECT 'rollback to s1', group_concat(key) FROM kv;
INSERT INTO kv VALUES ('h', 8);
RELEASE s1;
COMMIT;
SELECT 'committed', group_concat(key) FROM kv;
-- A table first written after SAVEPOINT a; SAVEPOINT b.
SAVEPOINT a;
INSERT INTO kv VALUES ('i', 9);
SAVEPOINT b;
INSERT INTO kv2 VALUES ('x', 1);
SAVEPOINT c;
INSERT INTO kv2 VALUES ('y', 2);
ROLLBACK TO b;
SELECT 'to b', (SELECT group_concat(key) FROM kv2), (SELECT count(*) FROM kv WHERE key = 'i');
INSERT INTO kv2 VALUES ('z', 3);
ROLLBACK TO a;
SELECT 'to a', (SELECT count(*) FROM kv2), (SELECT count(*) FROM kv WHERE key = 'i');
INSERT INTO kv2 VALUES ('w', 4);
RELEASE a;
SELECT 'released', (SELECT group_concat(key) FROM kv2), (SELECT count(*) FROM kv WHERE key = 'i');
-- Statement atomicity: a multi-row UPDATE that fails halfway leaves nothing.
BEGIN;
INSERT INTO kv VALUES ('j', 10);
UPDATE kv SET key = 'k' WHERE key IN ('b', 'c');
SELECT 'atomic', group_concat(key) FROM kv;
COMMIT;
-- Scans read a snapshot: rows a statement writes are not seen by it.
CREATE VIRTUAL TABLE n USING kvstore(key_type=integer);
INSERT INTO n VALUES (1, 'a'), (2, 'b'), (3, 'c');
BEGIN;
INSERT INTO n SELECT key + 3, value FROM n;
INSERT INTO n SELECT key + 6, value FROM n WHERE key > 0;
SELECT 'copied', group_concat(key) FROM n;
UPDATE n SET key = key + 100 WHERE key > 6;
DELETE FROM n WHERE key < 100 AND key > 3;
COMMIT;
SELECT 'moved', group_concat(key || value) FROM n;
-- A read-only statement inside a transaction sees the committed rows plus
-- the transaction's own.
BEGIN;
DELETE FROM n WHERE key > 100;
SELECT 'own delete', group_concat(key) FROM n;
SELECT 'own delete desc', group_concat(key) FROM (SELECT key FROM n ORDER BY key DESC);
ROLLBACK;
SELECT 'back', count(*) FROM n;
