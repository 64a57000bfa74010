-- A value above the old 65 MiB block limit (max_value_size accepts up to
-- 1 GiB) is flushed, compacted and read back, and the store reopens
-- (issue #17: it used to make every later open fail).
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore(dir='data', max_value_size='1GB');
CREATE TABLE plain(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
INSERT INTO kv VALUES ('big', randomblob(70000000));
INSERT INTO plain SELECT * FROM kv;
INSERT INTO kv VALUES ('z', 'after');
SELECT kvstore_flush('kv') IS NOT NULL;
.open test.db
.load ./kvstore
SELECT key, length(value) FROM kv ORDER BY key;
SELECT (SELECT value FROM kv WHERE key='big') = (SELECT value FROM plain WHERE key='big');
SELECT json_extract(kvstore_compact('kv', 'full'), '$.files_out');
SELECT (SELECT value FROM kv WHERE key='big') = (SELECT value FROM plain WHERE key='big');
SELECT kvstore_verify('kv');
