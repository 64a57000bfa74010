-- verify_checksums=on (off by default): every data block read checks its
-- CRC; reads return what an ordinary table returns.
.load ./kvstore
CREATE VIRTUAL TABLE kv USING kvstore(verify_checksums=on, background=off);
CREATE TABLE plain(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<2000)
INSERT INTO kv SELECT printf('k%05d', i), i*i FROM n;
INSERT INTO plain SELECT * FROM kv;
SELECT kvstore_flush('kv') IS NOT NULL;
SELECT count(*) FROM kv JOIN plain USING(key) WHERE kv.value = plain.value;
SELECT value FROM kv WHERE key = 'k01234';
SELECT sum(value) = (SELECT sum(value) FROM plain WHERE key >= 'k00500') FROM kv WHERE key >= 'k00500';
CREATE VIRTUAL TABLE bad USING kvstore(verify_checksums=maybe);
