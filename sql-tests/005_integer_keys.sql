-- key_type=integer: signed, order-preserving over the whole int64 range;
-- SQLite's comparison rules for REAL and TEXT bounds.
.load ./kvstore
CREATE VIRTUAL TABLE n USING kvstore(key_type=integer);
SELECT type FROM pragma_table_info('n') WHERE name = 'key';
INSERT INTO n VALUES (-9223372036854775808, 'min'), (-1000, 'a'), (-1, 'b'),
  (0, 'c'), (1, 'd'), (2, 'e'), (1000, 'f'), (9223372036854775807, 'max');
SELECT group_concat(key) FROM n;
SELECT group_concat(key) FROM (SELECT key FROM n ORDER BY key DESC);
SELECT 'neg', group_concat(key) FROM n WHERE key < 0;
SELECT 'range', group_concat(key) FROM n WHERE key >= -1 AND key < 2;
SELECT 'range-rev', group_concat(key) FROM n WHERE key < 2 AND key >= -1;
-- REAL bounds compare exactly with integer keys.
SELECT 'gt 0.5', group_concat(key) FROM n WHERE key > 0.5 AND key < 999.9;
SELECT 'ge -0.5', group_concat(key) FROM n WHERE key >= -0.5 AND key <= 1.0;
SELECT 'eq 1.0', group_concat(key) FROM n WHERE key = 1.0;
SELECT 'eq 1.5', count(*) FROM n WHERE key = 1.5;
SELECT 'huge', group_concat(key) FROM n WHERE key > 1e300;
SELECT 'lt -huge', count(*) FROM n WHERE key < -1e300;
SELECT 'ge 2^63', count(*) FROM n WHERE key >= 9223372036854775808.0;
SELECT 'lt 2^63', count(*) FROM n WHERE key < 9223372036854775808.0;
SELECT 'ge -2^63', count(*) FROM n WHERE key >= -9223372036854775808.0;
SELECT 'inf', count(*) FROM n WHERE key < 9e999 AND key > -9e999;
-- TEXT that looks like a number is one; other TEXT is above every number.
SELECT 'text num', group_concat(key) FROM n WHERE key = '1000';
SELECT 'text real', group_concat(key) FROM n WHERE key > ' 1.5 ' AND key < '1e3';
SELECT 'text', count(*) FROM n WHERE key < 'abc';
SELECT 'text>', count(*) FROM n WHERE key > 'abc';
SELECT 'blob', count(*) FROM n WHERE key < x'00';
SELECT 'in', group_concat(key) FROM n WHERE key IN ('2', 1.0, 3, -9223372036854775808, 'x', NULL);
-- Inserting: integers, integral REALs and integer-looking TEXT become
-- integers; anything else is refused, naming the table and column.
INSERT INTO n VALUES (5.0, 'real five'), ('6', 'text six'), (' 7 ', 'text seven');
SELECT key, typeof(key), value FROM n WHERE key BETWEEN 5 AND 7;
INSERT INTO n VALUES (5.5, 'x');
INSERT INTO n VALUES ('abc', 'x');
INSERT INTO n VALUES (x'01', 'x');
INSERT INTO n VALUES (9223372036854775808.0, 'x');
INSERT OR IGNORE INTO n VALUES ('abc', 'x');
-- Arithmetic on keys, and an UPDATE that moves rows inside its own range.
UPDATE n SET key = key + 10 WHERE key BETWEEN 0 AND 2;
SELECT group_concat(key) FROM n WHERE key BETWEEN -1 AND 20;
DELETE FROM n WHERE key > 0 AND key < 1000000;
SELECT group_concat(key) FROM n;
