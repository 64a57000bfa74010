-- DROP TABLE, ALTER TABLE RENAME, one store per table, and the directories
-- they touch.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore;
INSERT INTO kv VALUES ('a', 1);
SELECT name FROM fsdir('.') WHERE name GLOB './test.db-*' AND name NOT GLOB './*/*';
-- RENAME moves the default directory with the table.
ALTER TABLE kv RENAME TO kv2;
SELECT name FROM fsdir('.') WHERE name GLOB './test.db-*' AND name NOT GLOB './*/*';
SELECT * FROM kv2;
-- ... but not inside a transaction.
BEGIN;
ALTER TABLE kv2 RENAME TO kv3;
COMMIT;
SELECT name FROM sqlite_schema WHERE name GLOB 'kv*';
-- DROP inside a transaction is refused: ROLLBACK could not bring files
-- back. SQLite does not pass xDestroy's message on, so the error reads
-- "database table is locked" (SQLITE_LOCKED).
BEGIN;
DROP TABLE kv2;
ROLLBACK;
SELECT * FROM kv2;
-- DROP removes the store's files and its directory once it has committed
-- (a DROP whose commit fails keeps them): when the connection next uses a
-- kvstore table or function, or closes (.open here).
DROP TABLE kv2;
.open test.db
.load ./kvstore
SELECT count(*) FROM fsdir('.') WHERE name GLOB './test.db-*';
-- A table with dir= keeps its directory on RENAME; DROP leaves files that
-- are not the store's.
CREATE VIRTUAL TABLE d USING kvstore(dir='data');
INSERT INTO d VALUES ('k', 'v');
SELECT writefile('data/mine.txt', 'not kvstore''s');
ALTER TABLE d RENAME TO e;
SELECT * FROM e;
DROP TABLE e;
.open test.db
.load ./kvstore
SELECT name FROM fsdir('data');
-- A store belongs to one table: a second table naming the same directory
-- is refused, and the first keeps its rows (doc/ownership.md).
CREATE VIRTUAL TABLE s1 USING kvstore(dir='shared');
CREATE VIRTUAL TABLE s2 USING kvstore(dir='shared');
INSERT INTO s1 VALUES ('from s1', 1);
SELECT name FROM sqlite_schema WHERE name GLOB 's*';
-- Another connection of this process shares the engine; while it is open,
-- DROP is refused ("database is locked", SQLITE_BUSY).
.connection 1
.open test.db
.load ./kvstore
INSERT INTO s1 VALUES ('from connection 1', 2);
.connection 0
SELECT * FROM s1;
DROP TABLE s1;
.connection close 1
SELECT count(*) > 0 FROM fsdir('.') WHERE name GLOB './shared*';
DROP TABLE s1;
.open test.db
.load ./kvstore
SELECT count(*) FROM fsdir('.') WHERE name GLOB './shared*';
-- A directory that holds something else is not a store.
SELECT writefile('other/CURRENT', 'MANIFEST-000001');
CREATE VIRTUAL TABLE o USING kvstore(dir='other');
-- In-memory and temporary databases get a private directory, not one in
-- the working directory.
CREATE VIRTUAL TABLE temp.t USING kvstore;
INSERT INTO temp.t VALUES ('tmp', 1);
BEGIN; CREATE TABLE scratch(a); ROLLBACK;
SELECT * FROM temp.t;
ATTACH ':memory:' AS m;
CREATE VIRTUAL TABLE m.t USING kvstore(key_type=integer);
INSERT INTO m.t VALUES (1, 'mem');
SELECT * FROM m.t;
SELECT count(*) FROM fsdir('.') WHERE name GLOB '*kvstore*' AND name NOT GLOB './kvstore.so';
DROP TABLE m.t;
DROP TABLE temp.t;
-- DIRECTONLY: not usable from a trigger or a view in the schema.
CREATE VIRTUAL TABLE kv USING kvstore;
CREATE TABLE log(x);
CREATE TRIGGER trg AFTER INSERT ON log BEGIN INSERT INTO kv VALUES (new.x, 0); END;
INSERT INTO log VALUES ('via trigger');
CREATE VIEW v AS SELECT * FROM kv;
SELECT * FROM v;
