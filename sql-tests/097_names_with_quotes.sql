-- Table names holding quote characters, named to the kvstore functions
-- bare (as the table is called) or quoted as SQL identifiers. A bare name
-- with a quote inside made the functions' name lookup recurse until the
-- stack ran out (a crash).
.load ./kvstore
CREATE VIRTUAL TABLE "kv""q" USING kvstore;
CREATE VIRTUAL TABLE "kv'q" USING kvstore;
CREATE VIRTUAL TABLE "kv`q" USING kvstore;
CREATE VIRTUAL TABLE "kv[q" USING kvstore;
INSERT INTO "kv""q" VALUES ('a', 1);
INSERT INTO "kv'q" VALUES ('b', 2);
INSERT INTO "kv`q" VALUES ('c', 3);
INSERT INTO "kv[q" VALUES ('d', 4);

-- Bare names: the table of that name.
SELECT kvstore_verify('kv"q'), kvstore_verify('kv''q'),
       kvstore_verify('kv`q'), kvstore_verify('kv[q');
SELECT json_extract(kvstore_flush('kv"q'), '$.flushed'),
       json_extract(kvstore_flush('kv''q'), '$.flushed');

-- Quoted identifiers: the same tables.
SELECT kvstore_verify('"kv""q"'), kvstore_verify('main."kv""q"'),
       kvstore_verify('[kv''q]'), kvstore_verify('"kv`q"');

-- Names of no table: a clear error, not a crash.
SELECT kvstore_verify('kv"');
SELECT kvstore_verify('"kv"q"');
SELECT kvstore_verify('x"y"z');

-- RENAME keeps them reachable.
ALTER TABLE "kv""q" RENAME TO "kv""r";
SELECT kvstore_verify('kv"r'), count(*) FROM "kv""r";
DROP TABLE "kv""r";
DROP TABLE "kv'q";
DROP TABLE "kv`q";
DROP TABLE "kv[q";
