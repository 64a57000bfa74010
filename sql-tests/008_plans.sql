-- EXPLAIN QUERY PLAN: what xBestIndex consumes. ORDER BY key (ASC or
-- DESC, with or without ranges) never needs a temp b-tree; LIMIT/OFFSET
-- stay with SQLite (it may offer them beside terms a table never sees);
-- a text key compared with a value that is not a constant text is
-- "recheck"ed by SQLite (its affinity decides the comparison); joins probe
-- kvstore by key.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore;
CREATE TABLE t(x TEXT, y);
INSERT INTO t VALUES ('a', 1), ('b', 2);
INSERT INTO kv VALUES ('a', 'A'), ('c', 'C');
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY key;
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY key DESC;
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE key > 'a' AND key <= 'm' ORDER BY key;
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE key <= 'm' AND key > 'a' ORDER BY key DESC;
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE key >= ? ORDER BY key DESC LIMIT 5 OFFSET 2;
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE key IN ('a', 'b') ORDER BY key DESC;
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE key = 'a';
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE key GLOB 'ab*' ORDER BY key;
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY key, value;
-- Not ours: ordering by value needs a sort, and LIMIT stays with SQLite.
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY value LIMIT 3;
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE value = 1 LIMIT 3;
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE key = 'a' COLLATE NOCASE;
-- Joins: the ordinary table drives, kvstore is probed by key.
EXPLAIN QUERY PLAN SELECT t.y, kv.value FROM t JOIN kv ON kv.key = t.x;
EXPLAIN QUERY PLAN SELECT t.y, kv.value FROM kv JOIN t ON kv.key = t.x;
SELECT t.y, kv.value FROM t JOIN kv ON kv.key = t.x;
SELECT t.y, kv.value FROM t LEFT JOIN kv ON kv.key = t.x ORDER BY t.y;
