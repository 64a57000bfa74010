-- config='file.json': options from a JSON object, parsed with SQLite's
-- JSON functions; CREATE arguments override it; its path (and a relative
-- dir inside it) resolve against the database file's folder; every error
-- names the file and the member.
.load ./kvstore
SELECT writefile('kv.json', '{
  "memtable_size": "1MB",
  "compaction": "tiered",
  "rate_limit": 0.5,
  "rate_burst": 1000,
  "rate_wait_ms": 0,
  "background": false,
  "bloom_bits_per_key": 12,
  "dir": "from-config"
}') > 0;
CREATE VIRTUAL TABLE kv USING kvstore(config='kv.json', memtable_size='2MB');
INSERT INTO kv VALUES ('a', 1);
SELECT json_extract(s, '$.memtable.limit'), json_extract(s, '$.compaction.strategy'),
       json_extract(s, '$.rate_limiter.rate'), json_extract(s, '$.rate_limiter.burst'),
       json_extract(s, '$.background.thread')
  FROM (SELECT kvstore_stats('kv') AS s);
-- dir from the file, relative to the database's folder.
SELECT name FROM fsdir('.') WHERE name = './from-config/KVSTORE';
-- The schema keeps config=; reconnecting from another working directory
-- reads the same file.
SELECT writefile('sub', NULL, 16877);
.cd sub
.open ../test.db
.load ../kvstore
SELECT * FROM kv;
SELECT json_extract(kvstore_stats('kv'), '$.memtable.limit');
.cd ..
.open test.db
.load ./kvstore

-- An empty object is fine.
SELECT writefile('empty.json', ' { } ') > 0;
CREATE VIRTUAL TABLE e USING kvstore(config='empty.json', background=off);
SELECT json_extract(kvstore_stats('e'), '$.memtable.limit');

-- Errors: each names the file and, when one is at fault, the member.
SELECT writefile('unknown.json', '{"sync": "off", "speed": 11}') > 0;
CREATE VIRTUAL TABLE x USING kvstore(config='unknown.json');
SELECT writefile('badvalue.json', '{"memtable_size": "huge"}') > 0;
CREATE VIRTUAL TABLE x USING kvstore(config='badvalue.json');
SELECT writefile('badrange.json', '{"levels": 99}') > 0;
CREATE VIRTUAL TABLE x USING kvstore(config='badrange.json');
SELECT writefile('badbool.json', '{"sync": true}') > 0;
CREATE VIRTUAL TABLE x USING kvstore(config='badbool.json');
SELECT writefile('array.json', '{"levels": [7]}') > 0;
CREATE VIRTUAL TABLE x USING kvstore(config='array.json');
SELECT writefile('null.json', '{"levels": null}') > 0;
CREATE VIRTUAL TABLE x USING kvstore(config='null.json');
SELECT writefile('dup.json', '{"levels": 3, "LEVELS": 4}') > 0;
CREATE VIRTUAL TABLE x USING kvstore(config='dup.json');
SELECT writefile('nested.json', '{"config": "other.json"}') > 0;
CREATE VIRTUAL TABLE x USING kvstore(config='nested.json');
SELECT writefile('list.json', '[{"levels": 3}]') > 0;
CREATE VIRTUAL TABLE x USING kvstore(config='list.json');
SELECT writefile('malformed.json', '{"levels": 3,') > 0;
CREATE VIRTUAL TABLE x USING kvstore(config='malformed.json');
SELECT writefile('blank.json', '') >= 0;
CREATE VIRTUAL TABLE x USING kvstore(config='blank.json');
CREATE VIRTUAL TABLE x USING kvstore(config='missing.json');
CREATE VIRTUAL TABLE x USING kvstore(config='sub');
CREATE VIRTUAL TABLE x USING kvstore(config='kv.json', config='kv.json');
SELECT count(*) FROM sqlite_schema WHERE name = 'x';
