-- Multi-row UPDATE OR REPLACE moving keys onto each other: SQLite computes
-- every new row of a virtual table's UPDATE before the first xUpdate; a
-- row that REPLACE has already deleted is skipped, as an ordinary table
-- skips it. Beside an ordinary WITHOUT ROWID table.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore;
CREATE TABLE ref(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
INSERT INTO kv VALUES ('a',1),('b',2),('c',3);
INSERT INTO ref SELECT * FROM kv;
UPDATE OR REPLACE kv SET key = 'c';
UPDATE OR REPLACE ref SET key = 'c';
SELECT 'kv', * FROM kv;
SELECT 'ref', * FROM ref;
DELETE FROM kv; DELETE FROM ref;
INSERT INTO kv VALUES ('a',1),('b',2),('c',3),('d',4);
INSERT INTO ref SELECT * FROM kv;
UPDATE OR REPLACE kv SET key = 'd' WHERE key IN ('a', 'b', 'd');
UPDATE OR REPLACE ref SET key = 'd' WHERE key IN ('a', 'b', 'd');
SELECT 'kv', * FROM kv ORDER BY key;
SELECT 'ref', * FROM ref ORDER BY key;
-- The next statement starts afresh: 'd' is an ordinary row again.
UPDATE OR REPLACE kv SET value = value * 10;
UPDATE OR REPLACE ref SET value = value * 10;
SELECT 'kv', * FROM kv ORDER BY key;
SELECT 'ref', * FROM ref ORDER BY key;
-- Inside a transaction, and with integer keys shifted onto each other.
CREATE VIRTUAL TABLE ki USING kvstore(key_type=integer);
CREATE TABLE ri(key INTEGER PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
INSERT INTO ki VALUES (1,'one'),(2,'two'),(3,'three'),(5,'five');
INSERT INTO ri SELECT * FROM ki;
BEGIN;
UPDATE OR REPLACE ki SET key = 3 WHERE key < 3;
UPDATE OR REPLACE ri SET key = 3 WHERE key < 3;
COMMIT;
SELECT 'kv', * FROM ki ORDER BY key;
SELECT 'ref', * FROM ri ORDER BY key;
