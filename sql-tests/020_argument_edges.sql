-- Edges of arguments and names: an empty module argument, a quoted value
-- that is two strings, spaces inside a quoted dir (kept), max_value_size=0,
-- an over-long directory path (its length in the message, not cut off),
-- a config file with bytes after a NUL, kvstore_compact with a NULL mode,
-- kvstore_verify of the schema table, and quoted table names.
.load ./kvstore
CREATE VIRTUAL TABLE a USING kvstore(,);
CREATE VIRTUAL TABLE b USING kvstore(dir='b.kv',);
CREATE VIRTUAL TABLE c USING kvstore(dir='x' 'y');
CREATE VIRTUAL TABLE d USING kvstore(dir='  spaced');
SELECT kvstore_verify('d');
CREATE VIRTUAL TABLE e USING kvstore(max_value_size=0);
CREATE VIRTUAL TABLE f USING kvstore(max_value_size=1);
INSERT INTO f VALUES ('null', NULL);
INSERT INTO f VALUES ('one', 1);
SELECT * FROM f;
CREATE VIRTUAL TABLE g USING kvstore(dir='/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/end');
SELECT writefile('nul.json', x'7b2273796e63223a226f6666227d007b7d');
CREATE VIRTUAL TABLE h USING kvstore(config='nul.json');
CREATE VIRTUAL TABLE "my kv" USING kvstore;
INSERT INTO "my kv" VALUES ('k', 'v');
SELECT kvstore_compact('my kv', NULL);
SELECT kvstore_verify('sqlite_schema');
SELECT kvstore_verify('"main"."my kv"');
SELECT kvstore_verify('main."my kv"');
SELECT kvstore_verify('[my kv]');
SELECT kvstore_verify('"main"."nope"');
SELECT kvstore_verify('"unterminated');
