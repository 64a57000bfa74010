-- changes() and total_changes() beside an ordinary table
-- (doc/compatibility.md, item 5): the same after each statement; after an
-- explicit COMMIT, and in total_changes(), kvstore's write of its commit
-- horizon (one shadow row per commit) is counted too.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore;
CREATE TABLE o(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TEMP TABLE base(t);

INSERT INTO temp.base VALUES (total_changes());
INSERT INTO o VALUES ('a', 1), ('b', 2);
SELECT 'o  insert', changes(), total_changes() - (SELECT t FROM temp.base);
DELETE FROM temp.base; INSERT INTO temp.base VALUES (total_changes());
INSERT INTO kv VALUES ('a', 1), ('b', 2);
SELECT 'kv insert', changes(), total_changes() - (SELECT t FROM temp.base);

DELETE FROM temp.base; INSERT INTO temp.base VALUES (total_changes());
BEGIN; UPDATE o SET value = value + 1; COMMIT;
SELECT 'o  commit', changes(), total_changes() - (SELECT t FROM temp.base);
DELETE FROM temp.base; INSERT INTO temp.base VALUES (total_changes());
BEGIN; UPDATE kv SET value = value + 1; COMMIT;
SELECT 'kv commit', changes(), total_changes() - (SELECT t FROM temp.base);
SELECT * FROM kv EXCEPT SELECT * FROM o;
