-- Range pushdown on text keys: every operator pair in both orders, IN,
-- GLOB, DESC, LIMIT/OFFSET, and constraint values of other types.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore;
INSERT INTO kv(key, value) VALUES ('a',1),('b',2),('c',3),('d',4),('e',5),('10',6),('9',7),('ab',8),('abc',9),('b*',10);
SELECT group_concat(key) FROM kv;
-- The two orders of the lsm1 bug: same rows.
SELECT 'gt-le', group_concat(key) FROM kv WHERE key > 'a' AND key <= 'c';
SELECT 'le-gt', group_concat(key) FROM kv WHERE key <= 'c' AND key > 'a';
SELECT 'ge-lt', group_concat(key) FROM kv WHERE key >= 'ab' AND key < 'b';
SELECT 'lt-ge', group_concat(key) FROM kv WHERE key < 'b' AND key >= 'ab';
SELECT 'two lower', group_concat(key) FROM kv WHERE key > 'a' AND key >= 'abc' AND key > 'ab';
SELECT 'two upper', group_concat(key) FROM kv WHERE key < 'd' AND key <= 'b';
SELECT 'empty', count(*) FROM kv WHERE key > 'c' AND key < 'c';
SELECT 'point', count(*) FROM kv WHERE key >= 'c' AND key <= 'c';
SELECT 'eq+range', group_concat(key) FROM kv WHERE key = 'c' AND key > 'b';
SELECT 'eq-out', count(*) FROM kv WHERE key = 'c' AND key > 'c';
SELECT 'between', group_concat(key) FROM kv WHERE key BETWEEN 'ab' AND 'c';
-- Descending, limit and offset.
SELECT 'desc', group_concat(key) FROM (SELECT key FROM kv WHERE key > 'a' ORDER BY key DESC);
SELECT 'desc-lim', group_concat(key) FROM (SELECT key FROM kv WHERE key <= 'd' ORDER BY key DESC LIMIT 3 OFFSET 1);
SELECT 'lim', group_concat(key) FROM (SELECT key FROM kv LIMIT 2 OFFSET 3);
SELECT 'lim-where', group_concat(key) FROM (SELECT key FROM kv WHERE value > 3 LIMIT 2 OFFSET 1);
SELECT 'lim-order-value', group_concat(key) FROM (SELECT key FROM kv ORDER BY value DESC LIMIT 3);
-- IN lists, in any order, with duplicates and misses; ordered both ways.
SELECT 'in', group_concat(key) FROM kv WHERE key IN ('e', 'a', 'zz', 'a', 'c');
SELECT 'in-desc', group_concat(key) FROM (SELECT key FROM kv WHERE key IN ('e','a','c') ORDER BY key DESC);
SELECT 'in+range', group_concat(key) FROM kv WHERE key IN ('e','a','c') AND key > 'b';
SELECT 'in-sub', group_concat(key) FROM kv WHERE key IN (SELECT 'b' UNION ALL SELECT 'd');
-- GLOB is a prefix range, and SQLite still checks the pattern.
SELECT 'glob', group_concat(key) FROM kv WHERE key GLOB 'ab*';
SELECT 'glob?', group_concat(key) FROM kv WHERE key GLOB 'a?*';
SELECT 'glob-class', group_concat(key) FROM kv WHERE key GLOB 'b[*]';
SELECT 'glob-exact', group_concat(key) FROM kv WHERE key GLOB 'abc';
SELECT 'glob-star', count(*) FROM kv WHERE key GLOB '*';
-- Collations other than BINARY are left to SQLite.
SELECT 'nocase', group_concat(key) FROM kv WHERE key = 'AB' COLLATE NOCASE;
SELECT 'like', group_concat(key) FROM kv WHERE key LIKE 'A%';
-- Other types: numbers take TEXT affinity, a BLOB is above every text,
-- NULL matches nothing.
SELECT 'int', group_concat(key) FROM kv WHERE key = 10;
SELECT 'int-range', group_concat(key) FROM kv WHERE key > 1 AND key < 9;
SELECT 'real', group_concat(key) FROM kv WHERE key < 9.5;
SELECT 'blob<', count(*) FROM kv WHERE key < x'00';
SELECT 'blob>', count(*) FROM kv WHERE key > x'00';
SELECT 'null', count(*) FROM kv WHERE key > NULL;
SELECT 'isnull', count(*) FROM kv WHERE key IS NULL;
SELECT 'notnull', count(*) FROM kv WHERE key IS NOT NULL;
SELECT 'is', group_concat(key) FROM kv WHERE key IS 'b';
SELECT 'ne', group_concat(key) FROM kv WHERE key != 'b' AND key < 'c';
