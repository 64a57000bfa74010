-- A short tour of kvstore in the sqlite3 shell (make demo).
.load ./kvstore
.headers on
.mode column

-- A table with a few options; its data lives in demo.db-kv.kvstore/.
CREATE VIRTUAL TABLE kv USING kvstore(memtable_size='1MB', compression=zlib, sync=full);

-- Writes: puts, a blind overwrite, and an insert of an existing key that
-- OR IGNORE skips (a plain INSERT would fail: UNIQUE constraint failed).
INSERT INTO kv(key, value) VALUES ('user:1', 'alice'), ('user:2', 'bob'), ('user:3', 'carol'), ('item:7', 7.5);
INSERT OR REPLACE INTO kv VALUES ('user:2', 'bobby');
INSERT OR IGNORE INTO kv VALUES ('user:1', 'mallory');
SELECT changes() AS rows_inserted;

-- Reads: a point lookup, a range scan in both directions, a prefix scan.
SELECT value FROM kv WHERE key = 'user:1';
SELECT * FROM kv WHERE key >= 'user:' AND key < 'user;' ORDER BY key DESC LIMIT 2;
SELECT * FROM kv WHERE key GLOB 'item:*';

-- A transaction rolled back leaves nothing behind.
BEGIN;
DELETE FROM kv WHERE key GLOB 'user:*';
SELECT count(*) AS rows_inside_transaction FROM kv;
ROLLBACK;
SELECT count(*) AS rows_after_rollback FROM kv;

-- The query plan: the range and the order are handled by kvstore.
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE key > 'user:1' AND key <= 'user:3' ORDER BY key DESC;
