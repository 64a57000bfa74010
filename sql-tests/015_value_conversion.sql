-- Keys converted by the key type's affinity without sqlite3_value_dup():
-- newer SQLite (3.53) crashed when sqlite3_value_numeric_type() ran on a
-- duplicated value. Text into an integer key, text bounds against integer
-- keys, numbers into and against text keys; each beside an ordinary
-- WITHOUT ROWID table holding the same rows.
.load ./kvstore
CREATE VIRTUAL TABLE ki USING kvstore(key_type=integer);
CREATE TABLE ri(key INTEGER PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
INSERT INTO ki VALUES ('abc', 1);
INSERT INTO ki VALUES (' 42 ', 'a'), ('1e1', 'b'), ('-7', 'c'), ('5.0', 'd'),
  ('+3', 'e'), ('9223372036854775807', 'f'), ('-9223372036854775808', 'g');
INSERT INTO ri VALUES (' 42 ', 'a'), ('1e1', 'b'), ('-7', 'c'), ('5.0', 'd'),
  ('+3', 'e'), ('9223372036854775807', 'f'), ('-9223372036854775808', 'g');
INSERT INTO ki VALUES ('5.5', 'x');
INSERT INTO ki VALUES ('0x10', 'x');
INSERT INTO ki VALUES ('1e', 'x');
SELECT 'kv', key, typeof(key), value FROM ki ORDER BY key;
SELECT 'ref', key, typeof(key), value FROM ri ORDER BY key;
SELECT 'kv', key FROM ki WHERE key = '42';
SELECT 'ref', key FROM ri WHERE key = '42';
SELECT 'kv', key FROM ki WHERE key > ' 4.5 ' AND key <= '1e2' ORDER BY key;
SELECT 'ref', key FROM ri WHERE key > ' 4.5 ' AND key <= '1e2' ORDER BY key;
SELECT 'kv', key FROM ki WHERE key < 'abc' ORDER BY key DESC LIMIT 3;
SELECT 'ref', key FROM ri WHERE key < 'abc' ORDER BY key DESC LIMIT 3;
SELECT 'kv', count(*) FROM ki WHERE key IN ('10', '-7', 'x', 3.0);
SELECT 'ref', count(*) FROM ri WHERE key IN ('10', '-7', 'x', 3.0);
CREATE VIRTUAL TABLE kt USING kvstore;
CREATE TABLE rt(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
INSERT INTO kt VALUES (5, 'int'), (2.5, 'real'), (1e300, 'big'), (-0.0, 'zero');
INSERT INTO rt VALUES (5, 'int'), (2.5, 'real'), (1e300, 'big'), (-0.0, 'zero');
SELECT 'kv', key, typeof(key), value FROM kt ORDER BY key;
SELECT 'ref', key, typeof(key), value FROM rt ORDER BY key;
SELECT 'kv', key FROM kt WHERE key = 5 OR key = 2.5 ORDER BY key;
SELECT 'ref', key FROM rt WHERE key = 5 OR key = 2.5 ORDER BY key;
SELECT 'kv', key FROM kt WHERE key > 2 ORDER BY key;
SELECT 'ref', key FROM rt WHERE key > 2 ORDER BY key;
