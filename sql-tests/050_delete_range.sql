-- kvstore_delete_range(t, lo, hi) and its command row: keys in [lo, hi)
-- as one range tombstone, inside the caller's transaction, compared with
-- an ordinary WITHOUT ROWID table's DELETE WHERE key >= lo AND key < hi.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore(background=off);
CREATE TABLE ref(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c WHERE i<99)
  INSERT INTO kv SELECT printf('k%03d', i), i FROM c;
INSERT INTO ref SELECT key, value FROM kv;
SELECT json_extract(kvstore_flush('kv'), '$.sstables');

-- The hidden command column: not in SELECT *, not in INSERT VALUES.
SELECT name, hidden FROM pragma_table_xinfo('kv');
SELECT * FROM kv WHERE key = 'k001';
INSERT INTO kv VALUES ('x', 1, 2);
SELECT count(*) FROM kv WHERE kvstore_command IS NOT NULL;

-- Autocommit: one range, then the rows around it.
SELECT kvstore_delete_range('kv', 'k010', 'k020');
DELETE FROM ref WHERE key >= 'k010' AND key < 'k020';
SELECT count(*), min(key), max(key) FROM kv;
SELECT (SELECT group_concat(key) FROM kv WHERE key BETWEEN 'k008' AND 'k022')
     = (SELECT group_concat(key) FROM ref WHERE key BETWEEN 'k008' AND 'k022');
SELECT key FROM kv WHERE key >= 'k010' ORDER BY key LIMIT 2;
SELECT key FROM kv WHERE key < 'k021' ORDER BY key DESC LIMIT 2;

-- One range tombstone, no point entries: the flushed table holds none.
SELECT json_extract(kvstore_flush('kv'), '$.sstables');
SELECT entries, smallest_key, largest_key
  FROM kvstore_sstables('kv') ORDER BY file DESC LIMIT 1;

-- Inside a transaction: seen by its own reads, undone by ROLLBACK.
BEGIN;
SELECT kvstore_delete_range('kv', 'k030', 'k040');
SELECT count(*) FROM kv;
SELECT key FROM kv WHERE key >= 'k029' ORDER BY key LIMIT 2;
ROLLBACK;
SELECT count(*) FROM kv;

-- ROLLBACK TO undoes it; what stays commits with the transaction.
BEGIN;
SAVEPOINT a;
INSERT INTO kv VALUES ('k035a', 'new');
SAVEPOINT b;
SELECT kvstore_delete_range('kv', 'k030', 'k040');
SELECT count(*) FROM kv WHERE key >= 'k030' AND key < 'k040';
ROLLBACK TO b;
SELECT count(*) FROM kv WHERE key >= 'k030' AND key < 'k040';
INSERT INTO kv(kvstore_command, key, value) VALUES ('delete_range', 'k050', 'k060');
INSERT INTO kv VALUES ('k055a', 'after');
RELEASE a;
COMMIT;
DELETE FROM ref WHERE key >= 'k050' AND key < 'k060';
INSERT INTO ref VALUES ('k035a', 'new'), ('k055a', 'after');
SELECT (SELECT group_concat(key || '=' || value) FROM kv)
     = (SELECT group_concat(key || '=' || value) FROM ref);
SELECT key, value FROM kv WHERE key >= 'k049' ORDER BY key LIMIT 3;

-- An empty range (lo >= hi) deletes nothing.
SELECT kvstore_delete_range('kv', 'k090', 'k090'),
       kvstore_delete_range('kv', 'k095', 'k090');
SELECT count(*) FROM kv;

-- Reopened, then compacted: the rows stay deleted, and a full compaction
-- drops them with the tombstone.
.open test.db
.load ./kvstore
SELECT count(*) FROM kv;
SELECT (SELECT group_concat(key) FROM kv) = (SELECT group_concat(key) FROM ref);
SELECT json_extract(kvstore_compact('kv', 'full'), '$.files_out');
SELECT sum(entries) = (SELECT count(*) FROM ref) FROM kvstore_sstables('kv');
SELECT (SELECT group_concat(key) FROM kv) = (SELECT group_concat(key) FROM ref);
SELECT kvstore_verify('kv');

-- Integer keys: numbers compare as numbers, reals round up.
CREATE VIRTUAL TABLE n USING kvstore(key_type=integer, background=off);
WITH RECURSIVE c(i) AS (SELECT -5 UNION ALL SELECT i+1 FROM c WHERE i<5)
  INSERT INTO n SELECT i, i FROM c;
SELECT kvstore_delete_range('n', -2, 2.5);
SELECT group_concat(key) FROM n;
SELECT kvstore_delete_range('n', '-4', '-3');
SELECT group_concat(key) FROM n;

-- Blob keys: bytes order.
CREATE VIRTUAL TABLE b USING kvstore(key_type=blob, background=off);
INSERT INTO b VALUES (x'00', 1), (x'0001', 2), (x'01', 3), (x'ff', 4);
SELECT kvstore_delete_range('b', x'0001', x'ff');
SELECT hex(key) FROM b ORDER BY key;

-- Errors: bounds of no key type, NULL bounds, arguments, commands.
SELECT kvstore_delete_range('kv', NULL, 'k1');
SELECT kvstore_delete_range('kv', 'k0', NULL);
SELECT kvstore_delete_range('kv', x'00', 'k1');
SELECT kvstore_delete_range('n', 'abc', 5);
SELECT kvstore_delete_range('n', 1, 1e300);
SELECT kvstore_delete_range('b', 1, x'ff');
SELECT kvstore_delete_range('kv', 'a');
SELECT kvstore_delete_range(1, 'a', 'b');
SELECT kvstore_delete_range('ref', 'a', 'b');
SELECT kvstore_delete_range('nosuch', 'a', 'b');
INSERT INTO kv(kvstore_command, key, value) VALUES ('vacuum', 'a', 'b');
UPDATE kv SET kvstore_command = 'delete_range' WHERE key = 'k001';
SELECT count(*) FROM kv;

-- Direct use only: not from a trigger.
CREATE TABLE log(lo, hi);
CREATE TRIGGER tr AFTER INSERT ON log BEGIN
  SELECT kvstore_delete_range('kv', new.lo, new.hi);
END;
INSERT INTO log VALUES ('k000', 'k100');
SELECT count(*) FROM kv;
