-- CREATE arguments: every one goes through the engine's option parser;
-- unknown, duplicate and malformed ones fail naming themselves.
.load ./kvstore
CREATE VIRTUAL TABLE a USING kvstore(memtable_size='4MB', sync=normal, compression=none, block_size='8 KiB', bloom_bits_per_key=0, background=off);
INSERT INTO a VALUES ('k', 'v');
SELECT * FROM a;
CREATE VIRTUAL TABLE b USING kvstore(no_such_option=1);
CREATE VIRTUAL TABLE b USING kvstore(sync=full, sync=off);
CREATE VIRTUAL TABLE b USING kvstore(memtable_size);
CREATE VIRTUAL TABLE b USING kvstore(memtable_size='lots');
CREATE VIRTUAL TABLE b USING kvstore(key_type=float);
CREATE VIRTUAL TABLE b USING kvstore(compression_level=42);
CREATE VIRTUAL TABLE b USING kvstore(config='settings.json');
SELECT count(*) FROM sqlite_schema WHERE name = 'b';
-- Quotes and spaces are optional.
CREATE VIRTUAL TABLE c USING kvstore( "key_type" = 'integer' , dir = "c data" );
INSERT INTO c VALUES (-5, 'neg');
SELECT * FROM c;
-- Options that shape the files must agree with the store's when given;
-- when not given, the store's own values are taken (the key is INTEGER).
-- Table d adopts c's store once c lets go of it (kvstore_detach).
SELECT kvstore_detach('c');
CREATE VIRTUAL TABLE d USING kvstore(dir='c data', key_type=text);
CREATE VIRTUAL TABLE d USING kvstore(dir='c data');
SELECT key, typeof(key), value FROM d;
-- Sizes: too large keys and values fail with SQLITE_TOOBIG.
CREATE VIRTUAL TABLE small USING kvstore(max_key_size=8, max_value_size=100);
INSERT INTO small VALUES ('12345678', zeroblob(99));
INSERT INTO small VALUES ('123456789', 1);
INSERT INTO small VALUES ('k', zeroblob(100));
SELECT key, length(value) FROM small;
-- A relative dir= resolves against the database file's folder, not the
-- working directory, so the database finds its data from anywhere.
CREATE VIRTUAL TABLE r USING kvstore(dir='rel');
INSERT INTO r VALUES ('here', 1);
SELECT writefile('sub', NULL, 16877);
.cd sub
.open ../test.db
.load ../kvstore
SELECT * FROM r;
SELECT count(*) FROM fsdir('.');
