-- Transactions bound to the database (doc/transactions.md): the horizon
-- row of the shadow table, empty transactions, savepoints, defensive
-- mode, RENAME, a busy COMMIT between two connections. Each kvstore
-- table `kv` has an ordinary twin `o` written by the same statements.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore;
CREATE TABLE o(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
-- xCreate made the shadow table, its horizon row the store's last
-- sequence (0 for a new store).
SELECT name FROM sqlite_schema ORDER BY name;
SELECT k, v FROM kv_kvstore WHERE k = 'horizon';
-- An empty transaction writes nothing (the horizon stays).
BEGIN; COMMIT;
BEGIN; SELECT * FROM kv; COMMIT;
SELECT k, v FROM kv_kvstore WHERE k = 'horizon';
-- The horizon is the last sequence of the newest committed batch.
BEGIN; INSERT INTO kv VALUES ('a', 1), ('b', 1); INSERT INTO o VALUES ('a', 1), ('b', 1); COMMIT;
SELECT k, v FROM kv_kvstore WHERE k = 'horizon';
-- ROLLBACK leaves it (and the rows) as they were.
BEGIN; INSERT INTO kv VALUES ('r', 1); INSERT INTO o VALUES ('r', 1); ROLLBACK;
SELECT k, v FROM kv_kvstore WHERE k = 'horizon';
SELECT (SELECT group_concat(key) FROM kv), (SELECT group_concat(key) FROM o);
-- SAVEPOINT without BEGIN: ROLLBACK TO reaches back to the start
-- (xRollbackTo(-1)); what follows commits.
SAVEPOINT s; INSERT INTO kv VALUES ('x', 2); INSERT INTO o VALUES ('x', 2); ROLLBACK TO s; INSERT INTO kv VALUES ('c', 3); INSERT INTO o VALUES ('c', 3); RELEASE s;
SELECT (SELECT group_concat(key) FROM kv), (SELECT group_concat(key) FROM o);
SELECT k, v FROM kv_kvstore WHERE k = 'horizon';
-- Nested savepoints inside BEGIN, rolled back in part.
BEGIN; INSERT INTO kv VALUES ('d', 4); INSERT INTO o VALUES ('d', 4); SAVEPOINT p; INSERT INTO kv VALUES ('e', 5); INSERT INTO o VALUES ('e', 5); ROLLBACK TO p; COMMIT;
SELECT (SELECT group_concat(key) FROM kv), (SELECT group_concat(key) FROM o);
-- A statement that fails half way leaves the transaction's earlier rows.
BEGIN; INSERT INTO kv VALUES ('f', 6); INSERT INTO o VALUES ('f', 6);
INSERT INTO kv VALUES ('g', 7), ('a', 0);
INSERT INTO o VALUES ('g', 7), ('a', 0);
COMMIT;
SELECT (SELECT group_concat(key) FROM kv), (SELECT group_concat(key) FROM o);
-- Defensive mode: plain SQL may not write the shadow table; kvstore's own
-- commits still do.
.dbconfig defensive on
UPDATE kv_kvstore SET v = 100;
DROP TABLE kv_kvstore;
SELECT k, v FROM kv_kvstore WHERE k = 'horizon';
INSERT INTO kv VALUES ('h', 8);
SELECT k, v FROM kv_kvstore WHERE k = 'horizon';
.dbconfig defensive off
-- RENAME carries the shadow table.
ALTER TABLE kv RENAME TO kv2;
SELECT name FROM sqlite_schema ORDER BY name;
SELECT k, v FROM kv2_kvstore WHERE k = 'horizon';
INSERT INTO kv2 VALUES ('i', 9);
SELECT k, v FROM kv2_kvstore WHERE k = 'horizon';
-- Rollback-journal mode, two connections: connection 1 reads, so the
-- COMMIT of connection 0 is refused ("database is locked") and its
-- transaction stays open; it writes more and commits again: everything
-- it wrote commits once, in both tables.
.connection 1
.open test.db
.load ./kvstore
BEGIN;
SELECT count(*) FROM o;
.connection 0
BEGIN; INSERT INTO kv2 VALUES ('j', 10); INSERT INTO o VALUES ('j', 10);
COMMIT;
INSERT INTO kv2 VALUES ('k', 11); INSERT INTO o VALUES ('k', 11);
.connection 1
SELECT (SELECT group_concat(key) FROM kv2), (SELECT group_concat(key) FROM o);
COMMIT;
.connection 0
COMMIT;
SELECT (SELECT group_concat(key) FROM kv2), (SELECT group_concat(key) FROM o);
.connection 1
SELECT (SELECT group_concat(key) FROM kv2), (SELECT group_concat(key) FROM o);
-- The same, ending in ROLLBACK: neither table keeps the transaction.
BEGIN;
SELECT count(*) FROM o;
.connection 0
BEGIN; INSERT INTO kv2 VALUES ('l', 12); INSERT INTO o VALUES ('l', 12);
COMMIT;
INSERT INTO kv2 VALUES ('m', 13); INSERT INTO o VALUES ('m', 13);
ROLLBACK;
.connection 1
COMMIT;
.connection 0
.connection close 1
SELECT (SELECT group_concat(key) FROM kv2), (SELECT group_concat(key) FROM o);
SELECT k, v FROM kv2_kvstore WHERE k = 'horizon';
-- DROP TABLE drops the shadow table with it.
DROP TABLE kv2;
SELECT name FROM sqlite_schema ORDER BY name;
-- Tables of the previous release: doc/ownership.md (kvstore_attach); their
-- first write transaction writes the first horizon.
