-- Without a sync= option a commit fsyncs its kvstore record when the
-- database syncs its own commits: PRAGMA synchronous=OFF does not,
-- NORMAL, FULL and EXTRA do (doc/transactions.md, "Durability"). An
-- explicit sync= wins either way. Counted with kvstore_stats' WAL syncs,
-- before and after five autocommit INSERTs and one transaction.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore;
CREATE VIRTUAL TABLE kvfull USING kvstore(sync=full);
CREATE VIRTUAL TABLE kvoff USING kvstore(sync=off);
CREATE VIRTUAL TABLE kvnormal USING kvstore(sync=normal);
CREATE TABLE s(tab TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID;
CREATE TEMP VIEW syncs AS
  SELECT 'kv' AS tab, json_extract(kvstore_stats('kv'), '$.wal.syncs') AS n
  UNION ALL SELECT 'kvfull', json_extract(kvstore_stats('kvfull'), '$.wal.syncs')
  UNION ALL SELECT 'kvoff', json_extract(kvstore_stats('kvoff'), '$.wal.syncs')
  UNION ALL SELECT 'kvnormal', json_extract(kvstore_stats('kvnormal'), '$.wal.syncs');
CREATE TEMP TABLE k(i INTEGER PRIMARY KEY);
INSERT INTO k VALUES (1), (2), (3), (4), (5);
-- synchronous=OFF
PRAGMA synchronous=OFF;
PRAGMA synchronous;
REPLACE INTO s SELECT tab, n FROM syncs;
INSERT INTO kv VALUES ('a1', 1);
INSERT INTO kv VALUES ('a2', 1);
INSERT INTO kv VALUES ('a3', 1);
INSERT INTO kv VALUES ('a4', 1);
INSERT INTO kv VALUES ('a5', 1);
BEGIN; INSERT INTO kv VALUES ('a6', 1); INSERT INTO kv VALUES ('a7', 1); COMMIT;
INSERT INTO kvfull SELECT 'a' || i, i FROM k;
INSERT INTO kvoff SELECT 'a' || i, i FROM k;
INSERT INTO kvnormal SELECT 'a' || i, i FROM k;
SELECT 'OFF', tab, syncs.n - s.n FROM syncs JOIN s USING (tab) ORDER BY tab;
-- synchronous=NORMAL
PRAGMA synchronous=NORMAL;
PRAGMA synchronous;
REPLACE INTO s SELECT tab, n FROM syncs;
INSERT INTO kv VALUES ('b1', 1);
INSERT INTO kv VALUES ('b2', 1);
INSERT INTO kv VALUES ('b3', 1);
INSERT INTO kv VALUES ('b4', 1);
INSERT INTO kv VALUES ('b5', 1);
BEGIN; INSERT INTO kv VALUES ('b6', 1); INSERT INTO kv VALUES ('b7', 1); COMMIT;
INSERT INTO kvfull SELECT 'b' || i, i FROM k;
INSERT INTO kvoff SELECT 'b' || i, i FROM k;
INSERT INTO kvnormal SELECT 'b' || i, i FROM k;
SELECT 'NORMAL', tab, syncs.n - s.n FROM syncs JOIN s USING (tab) ORDER BY tab;
-- synchronous=FULL, in WAL mode
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
PRAGMA synchronous;
REPLACE INTO s SELECT tab, n FROM syncs;
INSERT INTO kv VALUES ('c1', 1);
INSERT INTO kv VALUES ('c2', 1);
INSERT INTO kv VALUES ('c3', 1);
INSERT INTO kv VALUES ('c4', 1);
INSERT INTO kv VALUES ('c5', 1);
BEGIN; INSERT INTO kv VALUES ('c6', 1); INSERT INTO kv VALUES ('c7', 1); COMMIT;
INSERT INTO kvfull SELECT 'c' || i, i FROM k;
INSERT INTO kvoff SELECT 'c' || i, i FROM k;
INSERT INTO kvnormal SELECT 'c' || i, i FROM k;
SELECT 'FULL', tab, syncs.n - s.n FROM syncs JOIN s USING (tab) ORDER BY tab;
-- Back to OFF in WAL mode: the level is read at each commit.
PRAGMA synchronous=OFF;
REPLACE INTO s SELECT tab, n FROM syncs;
INSERT INTO kv VALUES ('d1', 1);
INSERT INTO kv VALUES ('d2', 1);
SELECT 'OFF', tab, syncs.n - s.n FROM syncs JOIN s USING (tab) WHERE tab = 'kv';
-- An attached database follows its own setting.
ATTACH 'other.db' AS other;
CREATE VIRTUAL TABLE other.kv2 USING kvstore;
PRAGMA main.synchronous=FULL;
PRAGMA other.synchronous=OFF;
CREATE TEMP TABLE s2 AS
  SELECT json_extract(kvstore_stats('other.kv2'), '$.wal.syncs') AS n;
INSERT INTO other.kv2 VALUES ('e1', 1);
INSERT INTO other.kv2 VALUES ('e2', 1);
SELECT 'other OFF', json_extract(kvstore_stats('other.kv2'), '$.wal.syncs') - n FROM s2;
PRAGMA other.synchronous=NORMAL;
UPDATE s2 SET n = json_extract(kvstore_stats('other.kv2'), '$.wal.syncs');
INSERT INTO other.kv2 VALUES ('e3', 1);
INSERT INTO other.kv2 VALUES ('e4', 1);
SELECT 'other NORMAL', json_extract(kvstore_stats('other.kv2'), '$.wal.syncs') - n FROM s2;
-- Every row is there.
SELECT count(*) FROM kv;
SELECT count(*) FROM kvfull;
SELECT count(*) FROM kvoff;
SELECT count(*) FROM kvnormal;
SELECT count(*) FROM other.kv2;
