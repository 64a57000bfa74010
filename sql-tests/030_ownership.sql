-- A store belongs to one table of one database (doc/ownership.md): the
-- messages a table gets when it may not use the directory it names.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore(dir='data');
INSERT INTO kv VALUES ('a', 1), ('b', 2);
SELECT k, length(v) FROM kv_kvstore ORDER BY k;
-- A second table naming the same directory is refused.
CREATE VIRTUAL TABLE kv2 USING kvstore(dir='data');
-- A copy of the database file (VACUUM INTO, .backup) beside the original:
-- its table names the original's store, which is not its own.
VACUUM INTO 'copy.db';
ATTACH 'copy.db' AS c;
SELECT * FROM c.kv;
INSERT INTO c.kv VALUES ('c', 3);
SELECT kvstore_attach('c.kv');
-- DROP TABLE in the copy deletes nothing of the original's.
DROP TABLE c.kv;
DETACH c;
SELECT * FROM kv;
-- A directory that holds something else: never used, never filled.
SELECT writefile('etc/passwd', 'root:x:0:0');
CREATE VIRTUAL TABLE e USING kvstore(dir='etc');
-- A database file crafted to name it, or an empty directory: no access,
-- and DROP removes nothing.
SELECT writefile('empty', NULL, 16877);
-- The shell of SQLite 3.44 and later starts in defensive mode.
.output /dev/null
.dbconfig defensive off
.output
PRAGMA writable_schema=ON;
INSERT INTO sqlite_schema VALUES('table','x','x',0,'CREATE VIRTUAL TABLE x USING kvstore(dir=''etc'')');
INSERT INTO sqlite_schema VALUES('table','y','y',0,'CREATE VIRTUAL TABLE y USING kvstore(dir=''empty'')');
PRAGMA writable_schema=OFF;
.open test.db
.load ./kvstore
SELECT * FROM x;
INSERT INTO y VALUES ('k', 1);
DROP TABLE x;
DROP TABLE y;
SELECT name FROM fsdir('etc') UNION ALL SELECT name FROM fsdir('empty') ORDER BY 1;
-- kvstore_detach lets a table go of its store; a CREATE adopts it.
SELECT kvstore_detach('kv');
SELECT * FROM kv;
CREATE VIRTUAL TABLE moved USING kvstore(dir='data');
SELECT * FROM moved;
SELECT kvstore_attach('kv');
-- A store removed or moved away: an error, not an empty table.
.shell mv data away
.open test.db
.load ./kvstore
SELECT * FROM moved;
DROP TABLE kv;
.shell mv away data
SELECT * FROM moved;
BEGIN;
SELECT kvstore_detach('moved');
ROLLBACK;
