-- The second half of make demo: a new sqlite3 process opens the database
-- demo/demo.sql left behind.
.load ./kvstore
.headers on
.mode column

.print
.print '== 6. Reopened in a new process: the SSTables are read back and the'
.print '==    write-ahead log replays the two rows that were never flushed.'
SELECT count(*) AS rows_after_reopen FROM kv;
SELECT key, value FROM kv WHERE key IN ('user:5', 'user:6', 'event:02000');

.print
.print '== 7. A range scan, in key order and in reverse: the SSTables and the'
.print '==    memtable are merged on the fly, in either direction.'
SELECT key, value FROM kv WHERE key >= 'user:' AND key < 'user;' ORDER BY key;
SELECT key, value FROM kv WHERE key >= 'user:' AND key < 'user;' ORDER BY key DESC;
.print
.print '== The plan: kvstore itself serves the range and the order (no sort step).'
EXPLAIN QUERY PLAN
  SELECT key FROM kv WHERE key >= 'user:' AND key < 'user;' ORDER BY key DESC;
