-- A text key compared with values of every affinity. SQLite converts a
-- value of no affinity (literal, parameter) to TEXT, leaves a BLOB-affinity
-- one (an untyped column, another kvstore table's value) as it is, and
-- turns keys that look like numbers into numbers against an INTEGER, REAL
-- or NUMERIC one. A table is not told which, so kvstore lets SQLite check
-- such terms again ("recheck" in the plan). Beside ordinary tables.
.load ./kvstore
CREATE VIRTUAL TABLE users USING kvstore;
CREATE VIRTUAL TABLE orders USING kvstore(key_type=integer);
CREATE TABLE rusers(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
CREATE TABLE rorders(key INTEGER PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
CREATE TABLE c(i INTEGER, t TEXT, b BLOB, n NUMERIC, r REAL, u);
INSERT INTO users VALUES ('5','five'),('05','zero-five'),('1x','x'),('2','two'),
  ('a','A'),(' 5','space-five'),('Inf','inf'),('-1','minus');
INSERT INTO rusers SELECT * FROM users;
INSERT INTO orders VALUES (1, 5), (2, '5'), (3, x'35');
INSERT INTO rorders SELECT * FROM orders;
INSERT INTO c VALUES (5, '5', 5, 5, 5, 5), ('1x', '1x', '1x', '1x', '1x', '1x'),
  (1e999, 'Inf', 1e999, 1e999, 1e999, 1e999);
-- The issue's join: o.value = 5 (no affinity) never equals u.key = '5'.
SELECT 'kv', o.key, u.key FROM orders o JOIN users u ON u.key = o.value ORDER BY 2, 3;
SELECT 'ref', o.key, u.key FROM rorders o JOIN rusers u ON u.key = o.value ORDER BY 2, 3;
SELECT 'kv', u.key, o.key FROM users u JOIN orders o ON u.key = o.value ORDER BY 2, 3;
SELECT 'ref', u.key, o.key FROM rusers u JOIN rorders o ON u.key = o.value ORDER BY 2, 3;
-- Every affinity, every operator.
SELECT 'kv', x.col, x.op, group_concat(x.key, ' ') FROM (
  SELECT 'i' col, '=' op, u.key FROM c JOIN users u ON u.key = c.i UNION ALL
  SELECT 'i', '<', u.key FROM c JOIN users u ON u.key < c.i UNION ALL
  SELECT 'i', '>=', u.key FROM c JOIN users u ON u.key >= c.i UNION ALL
  SELECT 't', '=', u.key FROM c JOIN users u ON u.key = c.t UNION ALL
  SELECT 't', '<=', u.key FROM c JOIN users u ON u.key <= c.t UNION ALL
  SELECT 'b', '=', u.key FROM c JOIN users u ON u.key = c.b UNION ALL
  SELECT 'b', '>', u.key FROM c JOIN users u ON u.key > c.b UNION ALL
  SELECT 'n', '=', u.key FROM c JOIN users u ON u.key = c.n UNION ALL
  SELECT 'n', '<', u.key FROM c JOIN users u ON u.key < c.n UNION ALL
  SELECT 'r', '<=', u.key FROM c JOIN users u ON u.key <= c.r UNION ALL
  SELECT 'u', '<', u.key FROM c JOIN users u ON u.key < c.u UNION ALL
  SELECT 'lit', '=', key FROM users WHERE key = 5 UNION ALL
  SELECT 'lit', '<', key FROM users WHERE key < 5 UNION ALL
  SELECT 'lit', '<=', key FROM users WHERE key <= 1e999 UNION ALL
  SELECT 'cast', '=', key FROM users WHERE key = CAST(5 AS INTEGER) UNION ALL
  SELECT 'sub', '=', key FROM users WHERE key = (SELECT i FROM c LIMIT 1) UNION ALL
  SELECT 'in', '=', key FROM users WHERE key IN (SELECT n FROM c) UNION ALL
  SELECT 'in', 'lit', key FROM users WHERE key IN (5, 'a')
  ORDER BY 1, 2, 3) x GROUP BY 2, 3 ORDER BY 2, 3;
SELECT 'ref', x.col, x.op, group_concat(x.key, ' ') FROM (
  SELECT 'i' col, '=' op, u.key FROM c JOIN rusers u ON u.key = c.i UNION ALL
  SELECT 'i', '<', u.key FROM c JOIN rusers u ON u.key < c.i UNION ALL
  SELECT 'i', '>=', u.key FROM c JOIN rusers u ON u.key >= c.i UNION ALL
  SELECT 't', '=', u.key FROM c JOIN rusers u ON u.key = c.t UNION ALL
  SELECT 't', '<=', u.key FROM c JOIN rusers u ON u.key <= c.t UNION ALL
  SELECT 'b', '=', u.key FROM c JOIN rusers u ON u.key = c.b UNION ALL
  SELECT 'b', '>', u.key FROM c JOIN rusers u ON u.key > c.b UNION ALL
  SELECT 'n', '=', u.key FROM c JOIN rusers u ON u.key = c.n UNION ALL
  SELECT 'n', '<', u.key FROM c JOIN rusers u ON u.key < c.n UNION ALL
  SELECT 'r', '<=', u.key FROM c JOIN rusers u ON u.key <= c.r UNION ALL
  SELECT 'u', '<', u.key FROM c JOIN rusers u ON u.key < c.u UNION ALL
  SELECT 'lit', '=', key FROM rusers WHERE key = 5 UNION ALL
  SELECT 'lit', '<', key FROM rusers WHERE key < 5 UNION ALL
  SELECT 'lit', '<=', key FROM rusers WHERE key <= 1e999 UNION ALL
  SELECT 'cast', '=', key FROM rusers WHERE key = CAST(5 AS INTEGER) UNION ALL
  SELECT 'sub', '=', key FROM rusers WHERE key = (SELECT i FROM c LIMIT 1) UNION ALL
  SELECT 'in', '=', key FROM rusers WHERE key IN (SELECT n FROM c) UNION ALL
  SELECT 'in', 'lit', key FROM rusers WHERE key IN (5, 'a')
  ORDER BY 1, 2, 3) x GROUP BY 2, 3 ORDER BY 2, 3;
-- One-pass UPDATE by a number: the = may match several keys, so it is
-- not a unique lookup.
UPDATE users SET value = 'upd' WHERE key = (SELECT n FROM c LIMIT 1);
UPDATE rusers SET value = 'upd' WHERE key = (SELECT n FROM c LIMIT 1);
SELECT 'kv', key, value FROM users WHERE value = 'upd' ORDER BY key;
SELECT 'ref', key, value FROM rusers WHERE value = 'upd' ORDER BY key;
EXPLAIN QUERY PLAN SELECT * FROM users WHERE key = 'a';
EXPLAIN QUERY PLAN SELECT * FROM users WHERE key = ?;
