-- A store that lost its CURRENT file is refused with a message naming what
-- is missing; it is never re-created empty over its SSTables (issue #17).
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore(dir='data', background=off);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<500)
INSERT INTO kv SELECT printf('k%04d', i), i FROM n;
SELECT kvstore_flush('kv') IS NOT NULL;
INSERT INTO kv VALUES ('walonly', 1);
SELECT count(*) FROM kv;
.open test.db
.system rm data/CURRENT
.load ./kvstore
SELECT count(*) FROM kv;
-- Nothing was deleted or created by the failed open.
SELECT count(*) FROM fsdir('data') WHERE name GLOB 'data/*.sst';
SELECT count(*) FROM fsdir('data') WHERE name = 'data/CURRENT';
-- The same again: no new files per failed open.
SELECT count(*) FROM kv;
SELECT count(*) FROM fsdir('data') WHERE name GLOB 'data/wal-*';
-- A reconnect never creates a store: a directory removed behind the
-- table's back is reported, not re-created empty.
CREATE VIRTUAL TABLE gone USING kvstore(dir='gone');
INSERT INTO gone VALUES ('a', 1);
.open test.db
.system rm -rf gone
.load ./kvstore
SELECT count(*) FROM gone;
SELECT count(*) FROM fsdir('.') WHERE name = './gone';
-- Repair is explicit: kvstore_repair rebuilds the manifest from the
-- SSTables' own metadata, replays the WAL, and every row is back.
SELECT json_extract(kvstore_repair('kv'), '$.repaired', '$.tables', '$.damaged_tables');
SELECT count(*), min(key), max(key) FROM kv;
SELECT kvstore_verify('kv');
-- On a sound store it does nothing.
SELECT kvstore_repair('kv');
SELECT kvstore_repair('no_such_table');
SELECT kvstore_repair();
