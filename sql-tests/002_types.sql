-- Values of every type round-trip with their type.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore;
INSERT INTO kv VALUES
  ('null', NULL),
  ('int0', 0), ('int1', 1), ('intm1', -1), ('int127', 127), ('int128', 128),
  ('intm128', -128), ('intm129', -129),
  ('intmax', 9223372036854775807), ('intmin', -9223372036854775807 - 1),
  ('real', 1.5), ('realneg', -2.25), ('realint', 3.0), ('realbig', 1e300),
  ('inf', 9e999), ('ninf', -9e999),
  ('text', 'hello'), ('textempty', ''), ('textutf8', 'h€llo 中'),
  ('blob', x'00ff10'), ('blobempty', x''), ('zeroblob', zeroblob(1000));
SELECT key, typeof(value), quote(value) FROM kv WHERE key <> 'zeroblob' ORDER BY key;
SELECT typeof(value), length(value), value = zeroblob(1000) FROM kv WHERE key = 'zeroblob';
-- Text with NUL bytes keeps its length.
INSERT INTO kv VALUES ('nul', CAST(x'610062' AS TEXT));
SELECT length(CAST(value AS BLOB)), hex(value) FROM kv WHERE key = 'nul';
-- A large value (1 MB) survives byte for byte.
INSERT INTO kv VALUES ('big', randomblob(1000000));
CREATE TABLE copy AS SELECT value FROM kv WHERE key = 'big';
SELECT length(value), (SELECT value FROM copy) = value FROM kv WHERE key = 'big';
-- Keys: TEXT affinity turns numbers into their text.
INSERT INTO kv VALUES (42, 'int key'), (2.5, 'real key');
SELECT key, typeof(key), value FROM kv WHERE value LIKE '% key';
SELECT value FROM kv WHERE key = 42;
SELECT value FROM kv WHERE key = '42';
-- A BLOB key cannot be held by a TEXT key table.
INSERT INTO kv VALUES (x'01', 1);
