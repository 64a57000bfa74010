-- Conflict clauses behave as on an ordinary WITHOUT ROWID table; the
-- ordinary table `ref` runs the same statements for comparison.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore;
CREATE TABLE ref(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
INSERT INTO kv VALUES ('a', 1), ('b', 2);
INSERT INTO ref VALUES ('a', 1), ('b', 2);
-- Plain INSERT of an existing key.
INSERT INTO kv VALUES ('a', 10);
INSERT INTO ref VALUES ('a', 10);
-- OR IGNORE skips the row, OR REPLACE and REPLACE overwrite.
INSERT OR IGNORE INTO kv VALUES ('a', 11), ('c', 3);
INSERT OR IGNORE INTO ref VALUES ('a', 11), ('c', 3);
SELECT changes();
INSERT OR REPLACE INTO kv VALUES ('b', 20);
REPLACE INTO kv VALUES ('c', 30);
INSERT OR REPLACE INTO ref VALUES ('b', 20);
REPLACE INTO ref VALUES ('c', 30);
SELECT 'kv', * FROM kv;
SELECT 'ref', * FROM ref;
-- A multi-row INSERT that fails halfway leaves nothing (ABORT) ...
INSERT INTO kv VALUES ('d', 4), ('a', 0), ('e', 5);
INSERT INTO ref VALUES ('d', 4), ('a', 0), ('e', 5);
SELECT 'abort', (SELECT count(*) FROM kv), (SELECT count(*) FROM ref);
-- ... also inside a transaction, where earlier statements stay.
BEGIN;
INSERT INTO kv VALUES ('f', 6);
INSERT INTO ref VALUES ('f', 6);
INSERT OR ABORT INTO kv VALUES ('g', 7), ('b', 0);
INSERT OR ABORT INTO ref VALUES ('g', 7), ('b', 0);
COMMIT;
SELECT 'abort in txn', group_concat(key) FROM kv;
SELECT 'abort in txn', group_concat(key) FROM ref;
-- OR FAIL keeps the rows before the failing one.
BEGIN;
INSERT OR FAIL INTO kv VALUES ('h', 8), ('a', 0), ('i', 9);
INSERT OR FAIL INTO ref VALUES ('h', 8), ('a', 0), ('i', 9);
COMMIT;
SELECT 'fail', group_concat(key) FROM kv;
SELECT 'fail', group_concat(key) FROM ref;
-- OR ROLLBACK ends the whole transaction, ordinary tables included.
BEGIN;
INSERT INTO ref VALUES ('x', 0);
INSERT INTO kv VALUES ('x', 0);
INSERT OR ROLLBACK INTO kv VALUES ('y', 0), ('a', 0);
SELECT 'rollback', (SELECT count(*) FROM kv WHERE key IN ('x','y')), (SELECT count(*) FROM ref WHERE key = 'x');
COMMIT;
-- NULL keys.
INSERT INTO kv VALUES (NULL, 1);
INSERT OR IGNORE INTO kv VALUES (NULL, 1);
INSERT OR REPLACE INTO kv VALUES (NULL, 1);
INSERT OR REPLACE INTO ref VALUES (NULL, 1);
-- UPDATE of the value is a put; of the key a delete plus a put.
UPDATE kv SET value = 100 WHERE key = 'a';
UPDATE kv SET key = 'z' WHERE key = 'a';
SELECT * FROM kv WHERE key IN ('a', 'z');
UPDATE kv SET key = 'b' WHERE key = 'z';
UPDATE ref SET key = 'b' WHERE key = 'a';
UPDATE OR IGNORE kv SET key = 'b' WHERE key = 'z';
SELECT changes(), (SELECT value FROM kv WHERE key = 'z');
UPDATE OR REPLACE kv SET key = 'b' WHERE key = 'z';
SELECT * FROM kv WHERE key IN ('b', 'z');
UPDATE kv SET key = NULL WHERE key = 'b';
UPDATE ref SET key = NULL WHERE key = 'b';
SELECT group_concat(key || '=' || value) FROM kv;
-- UPSERT is refused by SQLite for every virtual table.
INSERT INTO kv VALUES ('a', 1) ON CONFLICT DO NOTHING;
