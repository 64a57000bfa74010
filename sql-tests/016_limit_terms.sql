-- LIMIT and OFFSET beside WHERE terms a virtual table never sees: SQLite
-- 3.40 offers LIMIT to xBestIndex even when a term compares two columns of
-- the table or is a correlated subquery, so kvstore never takes LIMIT or
-- OFFSET (SQLite counts the rows and stops calling xNext). Each query
-- beside an ordinary WITHOUT ROWID table holding the same rows.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore(key_type=integer);
CREATE TABLE ref(key INTEGER PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
INSERT INTO kv VALUES (1,1),(2,2),(3,3),(6,1),(7,2),(8,9);
INSERT INTO ref SELECT * FROM kv;
SELECT 'kv', key, value FROM kv WHERE key > value LIMIT 2 OFFSET 1;
SELECT 'ref', key, value FROM ref WHERE key > value LIMIT 2 OFFSET 1;
SELECT 'kv', key FROM kv WHERE key >= 2 AND key > value ORDER BY key LIMIT 1;
SELECT 'ref', key FROM ref WHERE key >= 2 AND key > value ORDER BY key LIMIT 1;
SELECT 'kv', key FROM kv k WHERE value > (SELECT count(*) FROM kv x
  WHERE x.key < k.key) ORDER BY key LIMIT 2 OFFSET 1;
SELECT 'ref', key FROM ref k WHERE value > (SELECT count(*) FROM ref x
  WHERE x.key < k.key) ORDER BY key LIMIT 2 OFFSET 1;
SELECT 'kv', key FROM kv WHERE key IN (1, 2, 3, 6) AND value <> 2
  ORDER BY key DESC LIMIT 2 OFFSET 1;
SELECT 'ref', key FROM ref WHERE key IN (1, 2, 3, 6) AND value <> 2
  ORDER BY key DESC LIMIT 2 OFFSET 1;
SELECT 'kv', key FROM kv WHERE key > 1 ORDER BY key LIMIT -1 OFFSET 3;
SELECT 'ref', key FROM ref WHERE key > 1 ORDER BY key LIMIT -1 OFFSET 3;
-- No LIMIT in the plan.
EXPLAIN QUERY PLAN SELECT key FROM kv WHERE key >= 2 ORDER BY key LIMIT 3;
