-- Loading, the module list, the declared schema, and a first round of
-- puts, gets, range scans and deletes.
.load ./kvstore
SELECT name FROM pragma_module_list WHERE name = 'kvstore';
CREATE VIRTUAL TABLE kv USING kvstore(memtable_size='1MB');
SELECT sql FROM sqlite_schema WHERE name = 'kv';
SELECT name, type, "notnull", pk FROM pragma_table_info('kv');
INSERT INTO kv(key, value) VALUES ('user:1', 'alice');
INSERT INTO kv(key, value) VALUES ('user:2', 'bob'), ('user:3', 'carol');
INSERT INTO kv VALUES ('item:9', 9);
SELECT value FROM kv WHERE key = 'user:1';
SELECT * FROM kv WHERE key >= 'user:' AND key < 'user;' ORDER BY key LIMIT 10;
SELECT * FROM kv WHERE key GLOB 'user:*';
SELECT * FROM kv ORDER BY key DESC;
SELECT count(*), min(key), max(key) FROM kv;
DELETE FROM kv WHERE key = 'user:1';
SELECT * FROM kv;
UPDATE kv SET value = upper(value) WHERE key > 'user:';
SELECT * FROM kv;
SELECT changes();
-- The data directory sits beside the database file.
SELECT name FROM fsdir('.') WHERE name LIKE './test.db-%' AND name NOT LIKE '%/%/%';
SELECT count(*) > 0 FROM fsdir('test.db-kv.kvstore') WHERE name LIKE '%/KVSTORE';
