-- A UTF-16 database is refused with a kvstore: message: kvstore orders
-- text keys as UTF-8 bytes, which is SQLite's BINARY order only in a UTF-8
-- database. Nothing is created.
PRAGMA encoding = 'UTF-16le';
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore;
CREATE VIRTUAL TABLE kb USING kvstore(key_type=blob);
SELECT count(*) FROM sqlite_schema;
PRAGMA encoding;
