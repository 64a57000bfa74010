-- The shadow table T_kvstore holds a kvstore table's commit horizon and
-- identity. A table or view of that name that kvstore did not make is
-- someone else's: CREATE refuses to adopt it (it used to write its rows
-- into the application's own table and drop it with DROP TABLE), and a
-- shadow table edited to another shape or given a trigger (a database
-- file made elsewhere) leaves the table detached with the reason: through
-- it, acknowledged commits vanished at the next open. (Defensive mode,
-- on in newer shells, keeps SQL from such edits; a file need not.)
.load ./kvstore
.output /dev/null
.dbconfig defensive off
.output

-- An application's own table named like a shadow table.
CREATE TABLE orders_kvstore(k TEXT PRIMARY KEY, v);
INSERT INTO orders_kvstore VALUES ('mine', 'precious');
CREATE VIRTUAL TABLE orders USING kvstore;
CREATE VIEW items_kvstore AS SELECT 1 AS k, 2 AS v;
CREATE VIRTUAL TABLE items USING kvstore;
SELECT name FROM sqlite_schema ORDER BY name;
SELECT * FROM orders_kvstore;
-- Nothing of a store was made.
SELECT count(*) FROM pragma_table_list WHERE name IN ('orders', 'items');

-- A kvstore table whose shadow table is then edited.
CREATE VIRTUAL TABLE t USING kvstore;
INSERT INTO t VALUES ('a', '1');
CREATE TABLE x(k, v);
INSERT INTO x SELECT * FROM t_kvstore;
DROP TABLE t_kvstore;
ALTER TABLE x RENAME TO t_kvstore;
.open test.db
.load ./kvstore
.output /dev/null
.dbconfig defensive off
.output
INSERT INTO t VALUES ('b', '2');
SELECT * FROM t;
-- Back as kvstore made it: the rows again.
CREATE TABLE y(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
INSERT INTO y SELECT * FROM t_kvstore;
DROP TABLE t_kvstore;
ALTER TABLE y RENAME TO t_kvstore;
.open test.db
.load ./kvstore
.output /dev/null
.dbconfig defensive off
.output
SELECT * FROM t;

-- A third column, in the primary key.
CREATE TABLE z(k TEXT, v, w DEFAULT 1, PRIMARY KEY(k, w)) WITHOUT ROWID;
INSERT INTO z(k, v) SELECT * FROM t_kvstore;
DROP TABLE t_kvstore;
ALTER TABLE z RENAME TO t_kvstore;
.open test.db
.load ./kvstore
.output /dev/null
.dbconfig defensive off
.output
SELECT * FROM t;
ALTER TABLE t_kvstore RENAME TO z;
CREATE TABLE t_kvstore(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
INSERT INTO t_kvstore SELECT k, v FROM z;
DROP TABLE z;

-- A trigger on the shadow table that skips kvstore's writes.
CREATE TRIGGER skip BEFORE INSERT ON t_kvstore BEGIN SELECT RAISE(IGNORE); END;
.open test.db
.load ./kvstore
.output /dev/null
.dbconfig defensive off
.output
INSERT INTO t VALUES ('c', '3');
SELECT * FROM t;
DROP TRIGGER skip;
.open test.db
.load ./kvstore
.output /dev/null
.dbconfig defensive off
.output
INSERT INTO t VALUES ('c', '3');
SELECT * FROM t;

-- A TEMP trigger of the connection's own: the commit fails, nothing is
-- acknowledged that a later open would take back.
CREATE TEMP TRIGGER skip BEFORE INSERT ON main.t_kvstore
BEGIN SELECT RAISE(IGNORE); END;
INSERT INTO t VALUES ('d', '4');
DROP TRIGGER temp.skip;
.open test.db
.load ./kvstore
.output /dev/null
.dbconfig defensive off
.output
SELECT * FROM t;
SELECT kvstore_verify('t');
