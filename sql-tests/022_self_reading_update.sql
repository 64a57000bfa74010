-- The documented limit (doc/compatibility.md): a multi-row UPDATE of a
-- virtual table gets every new row computed, subqueries included, before
-- the first xUpdate, so a subquery over the table it writes sees the
-- table as it was. The way around, one statement per row in key order,
-- gives the ordinary table's answer.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore(key_type=integer);
CREATE TABLE ref(key INTEGER PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
INSERT INTO kv VALUES (1,1),(2,1),(3,1),(4,1);
INSERT INTO ref SELECT * FROM kv;
UPDATE kv SET value = (SELECT sum(value) FROM kv x WHERE x.key <= kv.key);
UPDATE ref SET value = (SELECT sum(value) FROM ref x WHERE x.key <= ref.key);
SELECT 'kv (limit)', group_concat(value) FROM kv;
SELECT 'ref', group_concat(value) FROM ref;
UPDATE kv SET value = 1;
UPDATE kv SET value = (SELECT sum(value) FROM kv x WHERE x.key <= 1) WHERE key = 1;
UPDATE kv SET value = (SELECT sum(value) FROM kv x WHERE x.key <= 2) WHERE key = 2;
UPDATE kv SET value = (SELECT sum(value) FROM kv x WHERE x.key <= 3) WHERE key = 3;
UPDATE kv SET value = (SELECT sum(value) FROM kv x WHERE x.key <= 4) WHERE key = 4;
SELECT 'kv (per row)', group_concat(value) FROM kv;
-- Order-free forms agree.
UPDATE kv SET value = (SELECT count(*) FROM kv x);
UPDATE ref SET value = (SELECT count(*) FROM ref x);
SELECT 'kv', group_concat(value) FROM kv;
SELECT 'ref', group_concat(value) FROM ref;
-- RETURNING: SQLite refuses it on UPDATE of any virtual table, and
-- INSERT OR IGNORE returns a row that was skipped.
UPDATE kv SET value = 0 RETURNING key;
INSERT OR IGNORE INTO kv VALUES (1, 'skipped') RETURNING key, value;
SELECT 'kv', value FROM kv WHERE key = 1;
