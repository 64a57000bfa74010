-- Scans read a table's blocks ahead with xRead the first passes, then in
-- the map (doc/scanread.md): every scan, forward and backward, whole and
-- in ranges, repeated past the passes that switch to the map, returns
-- what an ordinary WITHOUT ROWID table returns; verify_checksums too.
.load ./kvstore
.headers on
CREATE VIRTUAL TABLE kv USING kvstore(key_type=integer, memtable_size='256KB', background=off);
CREATE VIRTUAL TABLE kvv USING kvstore(key_type=integer, dir='kvv.d', verify_checksums=on, background=off);
CREATE TABLE ref(key INTEGER PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<60000)
  INSERT INTO ref SELECT (i*7919) % 60013, printf('%d:%.*c', i, i % 700, 'x') FROM c;
-- kv in four overlapping flushes (the INSERTs' duplicate checks set off a
-- seek compaction, so they end as 8 tables over three levels and a scan
-- merges several table iterators), kvv in one
INSERT INTO kv SELECT key, value FROM ref WHERE key % 4 = 0;
SELECT kvstore_flush('kv') IS NOT NULL AS flushed;
INSERT INTO kv SELECT key, value FROM ref WHERE key % 4 = 1;
SELECT kvstore_flush('kv') IS NOT NULL AS flushed;
INSERT INTO kv SELECT key, value FROM ref WHERE key % 4 = 2;
SELECT kvstore_flush('kv') IS NOT NULL AS flushed;
INSERT INTO kv SELECT key, value FROM ref WHERE key % 4 = 3;
SELECT kvstore_flush('kv') IS NOT NULL AS flushed;
INSERT INTO kvv SELECT key, value FROM ref;
SELECT kvstore_flush('kvv') IS NOT NULL AS flushed;
SELECT count(*) AS sstables FROM kvstore_sstables('kv');

-- Whole scans both ways, five times each (past the three window passes).
CREATE TABLE same(t, n);
WITH RECURSIVE p(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM p WHERE n<5)
  INSERT INTO same SELECT 'forward', n FROM p
   WHERE (SELECT group_concat(key || ':' || length(value) || substr(value, -3), ',')
            FROM (SELECT * FROM kv ORDER BY key))
      IS (SELECT group_concat(key || ':' || length(value) || substr(value, -3), ',')
            FROM (SELECT * FROM ref ORDER BY key));
WITH RECURSIVE p(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM p WHERE n<5)
  INSERT INTO same SELECT 'backward', n FROM p
   WHERE (SELECT group_concat(key || ':' || length(value) || substr(value, -3), ',')
            FROM (SELECT * FROM kv ORDER BY key DESC))
      IS (SELECT group_concat(key || ':' || length(value) || substr(value, -3), ',')
            FROM (SELECT * FROM ref ORDER BY key DESC));
SELECT t, count(*) AS passes_equal FROM same GROUP BY t ORDER BY t;

-- 300 range scans of 0 to 3,000 keys, each way, at spread keys.
SELECT count(*) AS ranges_equal FROM (
  WITH RECURSIVE s(j) AS (SELECT 1 UNION ALL SELECT j+1 FROM s WHERE j<300)
  SELECT j FROM s
   WHERE (SELECT group_concat(key || value, ',') FROM
           (SELECT * FROM kv WHERE key BETWEEN (j*4001) % 60013
                                           AND (j*4001) % 60013 + j*10 ORDER BY key))
      IS (SELECT group_concat(key || value, ',') FROM
           (SELECT * FROM ref WHERE key BETWEEN (j*4001) % 60013
                                            AND (j*4001) % 60013 + j*10 ORDER BY key))
     AND (SELECT group_concat(key || value, ',') FROM
           (SELECT * FROM kv WHERE key BETWEEN (j*4001) % 60013
                                           AND (j*4001) % 60013 + j*10 ORDER BY key DESC))
      IS (SELECT group_concat(key || value, ',') FROM
           (SELECT * FROM ref WHERE key BETWEEN (j*4001) % 60013
                                            AND (j*4001) % 60013 + j*10 ORDER BY key DESC)));

-- After a full compaction (new tables, read ahead from the start again).
SELECT kvstore_compact('kv') IS NOT NULL AS compacted;
SELECT (SELECT group_concat(key || value, ',') FROM (SELECT * FROM kv ORDER BY key DESC))
    IS (SELECT group_concat(key || value, ',') FROM (SELECT * FROM ref ORDER BY key DESC))
    AS same_after_compaction;

-- verify_checksums: every block read and checked on every use.
SELECT (SELECT group_concat(key || value, ',') FROM (SELECT * FROM kvv ORDER BY key))
    IS (SELECT group_concat(key || value, ',') FROM (SELECT * FROM ref ORDER BY key))
   AND (SELECT group_concat(key || value, ',') FROM (SELECT * FROM kvv ORDER BY key DESC))
    IS (SELECT group_concat(key || value, ',') FROM (SELECT * FROM ref ORDER BY key DESC))
    AS same_with_verify;
SELECT count(*) AS rows FROM kvv WHERE key BETWEEN 1000 AND 50000;
SELECT count(*) AS rows FROM ref WHERE key BETWEEN 1000 AND 50000;
