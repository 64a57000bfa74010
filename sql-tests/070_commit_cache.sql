-- After its own commit a connection keeps the horizon it committed as its
-- read point (doc/transactions.md, "How it works", 7): the next
-- statement of that connection reads no shadow row unless the database
-- changed. Another connection's commit in between must still be seen, by
-- reads and by the conflict check of an INSERT, in WAL and in
-- rollback-journal mode. Each kvstore table `kv` has an ordinary twin `o`
-- written by the same statements.
.load ./kvstore
PRAGMA journal_mode=WAL;
CREATE VIRTUAL TABLE kv USING kvstore;
CREATE TABLE o(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
INSERT INTO kv VALUES ('a', 1);
INSERT INTO o VALUES ('a', 1);
.connection 1
.open test.db
.load ./kvstore
INSERT INTO kv VALUES ('b', 2);
INSERT INTO o VALUES ('b', 2);
.connection 0
-- Connection 0 sees connection 1's row, and refuses it as a duplicate.
SELECT 'kv', * FROM kv ORDER BY key;
SELECT 'o', * FROM o ORDER BY key;
INSERT INTO kv VALUES ('b', 3);
INSERT INTO o VALUES ('b', 3);
-- Back to back autocommit writes of one connection, then the other one's
-- reads and writes on top of them.
INSERT INTO kv VALUES ('c', 3);
INSERT INTO o VALUES ('c', 3);
UPDATE kv SET value = value + 10 WHERE key = 'c';
UPDATE o SET value = value + 10 WHERE key = 'c';
.connection 1
SELECT 'kv', * FROM kv ORDER BY key;
SELECT 'o', * FROM o ORDER BY key;
UPDATE kv SET value = value + 100 WHERE key = 'c';
UPDATE o SET value = value + 100 WHERE key = 'c';
.connection 0
SELECT 'kv', * FROM kv WHERE key = 'c';
SELECT 'o', * FROM o WHERE key = 'c';
-- A rolled back transaction leaves the read point at the last commit.
BEGIN; INSERT INTO kv VALUES ('d', 4); INSERT INTO o VALUES ('d', 4); ROLLBACK;
SELECT 'kv', count(*) FROM kv;
SELECT 'o', count(*) FROM o;
SELECT k, v FROM kv_kvstore WHERE k = 'horizon';
.connection close 1
-- Rollback-journal mode: the same with a new pair of connections.
PRAGMA journal_mode=DELETE;
INSERT INTO kv VALUES ('e', 5);
INSERT INTO o VALUES ('e', 5);
.connection 1
.open test.db
.load ./kvstore
DELETE FROM kv WHERE key = 'a';
DELETE FROM o WHERE key = 'a';
INSERT INTO kv VALUES ('f', 6);
INSERT INTO o VALUES ('f', 6);
.connection 0
SELECT 'kv', * FROM kv ORDER BY key;
SELECT 'o', * FROM o ORDER BY key;
INSERT INTO kv VALUES ('f', 7);
INSERT INTO o VALUES ('f', 7);
INSERT INTO kv VALUES ('a', 8);
INSERT INTO o VALUES ('a', 8);
.connection 1
SELECT 'kv', * FROM kv WHERE key IN ('a', 'f') ORDER BY key;
SELECT 'o', * FROM o WHERE key IN ('a', 'f') ORDER BY key;
.connection 0
.connection close 1
SELECT k, v FROM kv_kvstore WHERE k = 'horizon';
