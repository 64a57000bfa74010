-- SQL functions of ext/functions.c: results, table names (unqualified,
-- schema-qualified, shadowed, attached, not yet used by the connection),
-- wrong names, wrong argument counts and types, direct use only.
.load ./kvstore
SELECT typeof(kvstore_version()), length(kvstore_version()) > 0;
CREATE VIRTUAL TABLE kv USING kvstore(background=off);
INSERT INTO kv VALUES ('a', 1), ('b', 2), ('c', 3);

-- kvstore_flush: a JSON summary; a second flush has nothing to write.
SELECT json_extract(j, '$.flushed'), json_extract(j, '$.sstables'),
       json_extract(j, '$.sstable_bytes') > 0, json_type(j, '$.ms')
  FROM (SELECT kvstore_flush('kv') AS j);
SELECT json_extract(kvstore_flush('kv'), '$.sstables');
INSERT INTO kv VALUES ('d', 4);
SELECT json_extract(kvstore_flush('kv'), '$.sstables');

-- kvstore_verify and kvstore_merkle.
SELECT kvstore_verify('kv');
SELECT length(kvstore_merkle('kv')), kvstore_merkle('kv') GLOB '[0-9a-f]*',
       kvstore_merkle('kv') = kvstore_merkle('main.kv');

-- kvstore_compact: nothing due, then a full compaction into one file.
SELECT kvstore_compact('kv') LIKE '{"files_in":0,"files_out":0,%';
SELECT kvstore_compact('kv', NULL);
DELETE FROM kv WHERE key = 'b';
SELECT json_extract(j, '$.files_in'), json_extract(j, '$.files_out'),
       json_extract(j, '$.tombstones_dropped'),
       json_extract(j, '$.entries_dropped'), json_type(j, '$.ms')
  FROM (SELECT kvstore_compact('kv', 'FULL') AS j);
SELECT count(*), sum(entries) FROM kvstore_sstables('kv');
SELECT * FROM kv;
SELECT kvstore_verify('kv');

-- kvstore_stats: every group of figures is there.
SELECT json_valid(kvstore_stats('kv'));
WITH t(p) AS (VALUES
  ('$.memtable.bytes'), ('$.memtable.entries'), ('$.immutable_memtables'),
  ('$.wal.segments'), ('$.levels[0].files'), ('$.levels[0].bytes'),
  ('$.sstable_bytes'), ('$.cache.hits'), ('$.cache.misses'),
  ('$.cache.bytes'), ('$.bloom.checks'), ('$.bloom.negatives'),
  ('$.write_amplification'), ('$.files_per_get'),
  ('$.space_amplification'), ('$.rate_limiter.enabled'),
  ('$.background.flushes_queued'), ('$.background.compactions_due'),
  ('$.background.flushes_done'), ('$.background.compactions_done'),
  ('$.compaction.files_in'))
SELECT p, json_type(kvstore_stats('kv'), p) FROM t;
SELECT json_extract(kvstore_stats('kv'), '$.levels[6].files');

-- Wrong table names.
SELECT kvstore_stats('nope');
CREATE TABLE plain(x);
SELECT kvstore_stats('plain');
SELECT kvstore_flush('nosuchschema.kv');
SELECT kvstore_verify(NULL);
SELECT kvstore_merkle(42);
CREATE VIEW v AS SELECT 1;
SELECT kvstore_compact('v');

-- Wrong argument counts and modes.
SELECT kvstore_stats();
SELECT kvstore_stats('kv', 'kv');
SELECT kvstore_flush();
SELECT kvstore_verify('kv', 1);
SELECT kvstore_merkle();
SELECT kvstore_compact();
SELECT kvstore_compact('kv', 'full', 'now');
SELECT kvstore_compact('kv', 'partial');
SELECT kvstore_version('kv');

-- A temp table shadows main.kv for an unqualified name, as in SQL.
CREATE TEMP TABLE kv(x);
SELECT kvstore_verify('kv');
SELECT kvstore_verify('main.kv');
DROP TABLE temp.kv;
SELECT kvstore_verify('kv');

-- Attached databases, and a table the connection has not used yet.
ATTACH 'other.db' AS other;
CREATE VIRTUAL TABLE other.okv USING kvstore(key_type=integer, background=off);
INSERT INTO other.okv VALUES (-7, 'x'), (9, 'y');
SELECT json_extract(kvstore_flush('other.okv'), '$.sstables');
SELECT kvstore_verify('okv');
.open test.db
.load ./kvstore
SELECT json_extract(kvstore_stats('kv'), '$.levels[6].files');
SELECT level, entries, smallest_key, largest_key FROM kvstore_sstables('kv');

-- Not from views or triggers (they touch files).
CREATE VIEW vs AS SELECT kvstore_stats('kv') AS s;
SELECT s IS NOT NULL FROM vs;
CREATE VIEW vt AS SELECT * FROM kvstore_sstables('kv');
SELECT count(*) FROM vt;
