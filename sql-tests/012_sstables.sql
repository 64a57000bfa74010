-- kvstore_sstables: one row per live SSTable, keys shown with the table's
-- key type, level 0 newest first; its argument and its errors.
.load ./kvstore
.headers on
CREATE VIRTUAL TABLE t USING kvstore(background=off);
SELECT count(*) FROM kvstore_sstables('t');
INSERT INTO t VALUES ('m', 1), ('b', 2);
SELECT kvstore_flush('t') IS NOT NULL AS flushed;
INSERT INTO t VALUES ('x', 3), ('c', 4), ('k', 5);
DELETE FROM t WHERE key = 'b';
SELECT kvstore_flush('t') IS NOT NULL AS flushed;
SELECT level, file GLOB '[0-9]*.sst' AS named, bytes > 0 AS sized, entries,
       smallest_key, largest_key, typeof(smallest_key) AS type, min_seq,
       max_seq, length(merkle_root) AS hexlen, merkle_root GLOB '*[^0-9a-f]*' AS nonhex
  FROM kvstore_sstables('t');
-- Every column by name, and the hidden argument column.
SELECT group_concat(name, ',') AS columns, sum(hidden) AS hidden FROM pragma_table_xinfo('kvstore_sstables');
SELECT count(*) AS n, table_name FROM kvstore_sstables WHERE table_name = 't';
-- File names are those in the data directory.
SELECT count(*) AS present FROM kvstore_sstables('t') AS s
  JOIN fsdir('test.db-t.kvstore') AS d ON d.name = 'test.db-t.kvstore/' || s.file;
-- After a full compaction: one file at the last level holding the live rows.
SELECT kvstore_compact('t', 'full') IS NOT NULL AS compacted;
SELECT level, entries, smallest_key, largest_key, min_seq, max_seq FROM kvstore_sstables('t');

-- Integer and blob keys come back as the key column shows them.
CREATE VIRTUAL TABLE i USING kvstore(key_type=integer, background=off);
INSERT INTO i VALUES (-9223372036854775808, 'min'), (42, 'x'), (9223372036854775807, 'max');
SELECT kvstore_flush('i') IS NOT NULL AS flushed;
SELECT smallest_key, typeof(smallest_key) AS t1, largest_key, typeof(largest_key) AS t2 FROM kvstore_sstables('i');
CREATE VIRTUAL TABLE bl USING kvstore(key_type=blob, background=off);
INSERT INTO bl VALUES (x'00ff', 1), (x'', 2), ('text', 3);
SELECT kvstore_flush('bl') IS NOT NULL AS flushed;
SELECT hex(smallest_key) AS lo, typeof(smallest_key) AS t1, hex(largest_key) AS hi, typeof(largest_key) AS t2 FROM kvstore_sstables('bl');

-- In a join: the argument from another table.
CREATE TABLE names(n TEXT);
INSERT INTO names VALUES ('t'), ('i'), ('bl');
SELECT n, count(s.file) AS files FROM names LEFT JOIN kvstore_sstables(names.n) AS s GROUP BY n ORDER BY n;

-- Errors.
SELECT * FROM kvstore_sstables;
SELECT * FROM kvstore_sstables('nope');
SELECT * FROM kvstore_sstables('names');
SELECT * FROM kvstore_sstables(NULL);
SELECT * FROM kvstore_sstables(7);
SELECT * FROM kvstore_sstables('t', 'u');
