-- kvstore in the sqlite3 shell: what the LSM tree does with your rows.
-- make demo runs this file, then demo/reopen.sql in a new sqlite3 process
-- on the same database (build/demo/demo.db).
.load ./kvstore
.headers on
.mode column

.print '== 1. A kvstore table. Rows go to a write-ahead log (for safety)'
.print '==    and to a sorted in-memory table, the memtable.'
CREATE VIRTUAL TABLE kv USING kvstore(memtable_size='1MB');
INSERT INTO kv(key, value) VALUES
  ('user:1', 'alice'), ('user:2', 'bob'), ('user:3', 'carol'),
  ('user:4', 'dave'), ('item:7', 7.5);
-- 5,000 more rows in one transaction.
INSERT INTO kv(key, value)
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<5000)
  SELECT printf('event:%05d', i), 'payload ' || i FROM n;
SELECT json_extract(s, '$.memtable.entries') AS rows_in_memtable,
       json_extract(s, '$.sstable_bytes')    AS bytes_in_sstables
  FROM (SELECT kvstore_stats('kv') AS s);

.print
.print '== 2. A flush writes the memtable to disk as an SSTable: an immutable,'
.print '==    sorted file. New files land in level 0.'
SELECT json_extract(kvstore_flush('kv'), '$.sstables') AS sstables_after_flush;
SELECT level, file, entries, smallest_key, largest_key FROM kvstore_sstables('kv');

.print
.print '== 3. More writes: 2,000 rows overwritten, 1,000 deleted, then a second'
.print '==    flush. Nothing is changed in place: new versions and deletion'
.print '==    markers (tombstones) go to a new file; reads see the newest.'
UPDATE kv SET value = 'updated' WHERE key BETWEEN 'event:01001' AND 'event:03000';
DELETE FROM kv WHERE key BETWEEN 'event:04001' AND 'event:05000';
SELECT json_extract(kvstore_flush('kv'), '$.sstables') AS sstables_after_flush;
SELECT level, file, entries, smallest_key, largest_key FROM kvstore_sstables('kv');
SELECT count(*) AS rows_you_see FROM kv;

.print
.print '== 4. A compaction merges the files into one sorted run at the bottom'
.print '==    level (6, of levels 0-6), dropping overwritten versions and deleted rows.'
SELECT json_extract(c, '$.files_in')           AS files_in,
       json_extract(c, '$.files_out')          AS files_out,
       json_extract(c, '$.entries_dropped')    AS entries_dropped,
       json_extract(c, '$.tombstones_dropped') AS tombstones_dropped
  FROM (SELECT kvstore_compact('kv', 'full') AS c);
SELECT level, file, entries, smallest_key, largest_key FROM kvstore_sstables('kv');
SELECT json_extract(s, '$.flushes')             AS flushes,
       json_extract(s, '$.compactions')         AS compactions,
       json_extract(s, '$.write_amplification') AS write_amplification
  FROM (SELECT kvstore_stats('kv') AS s);

.print
.print '== 5. Two more rows, left in the memtable (and the write-ahead log) on'
.print '==    purpose; this sqlite3 process now exits without any flush.'
INSERT INTO kv(key, value) VALUES ('user:5', 'erin'), ('user:6', 'frank');
SELECT count(*) AS rows_before_exit FROM kv;
