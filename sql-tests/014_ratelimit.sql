-- The token bucket in SQL: every row read or written takes one token.
-- Reject mode (rate_wait_ms=0 and a rate so low that no token accrues
-- during the test) is deterministic; a statement over the limit fails with
-- SQLITE_BUSY and leaves nothing behind. Wait mode: operations wait for
-- tokens within rate_wait_ms and all succeed.
.load ./kvstore
CREATE VIRTUAL TABLE r USING kvstore(rate_limit=0.0001, rate_burst=6, rate_wait_ms=0, background=off);
-- A multi-row INSERT past the bucket fails whole (autocommit).
INSERT INTO r VALUES ('a', 1), ('b', 2), ('c', 3), ('d', 4), ('e', 5), ('f', 6), ('g', 7);
SELECT json_extract(s, '$.sequence'), json_extract(s, '$.rate_limiter.tokens_acquired'),
       json_extract(s, '$.rate_limiter.rejections')
  FROM (SELECT kvstore_stats('r') AS s);
SELECT count(*) FROM r;
-- The refused INSERT spent its 6 tokens: nothing else gets through.
INSERT INTO r VALUES ('z', 0);
SELECT json_extract(kvstore_stats('r'), '$.rate_limiter.rejections');

CREATE VIRTUAL TABLE q USING kvstore(rate_limit=0.0001, rate_burst=5, rate_wait_ms=0, background=off);
INSERT INTO q VALUES ('a', 1), ('b', 2);
-- Reads take a token per row returned: 2 rows, 3 tokens left.
SELECT * FROM q;
-- Inside a transaction a failing statement is undone alone.
CREATE TABLE log(x);
BEGIN;
INSERT INTO log VALUES ('kept');
UPDATE q SET value = value * 10;
INSERT INTO log VALUES ('also kept');
COMMIT;
SELECT * FROM log;
-- The UPDATE read 'a', wrote it, read 'b' (3 tokens) and failed writing
-- 'b': nothing of it was committed (the sequence did not move).
SELECT json_extract(s, '$.sequence'), json_extract(s, '$.rate_limiter.tokens_acquired'),
       json_extract(s, '$.rate_limiter.tokens') < 0.01
  FROM (SELECT kvstore_stats('q') AS s);
-- A read that needs a token fails too; one that finds nothing does not.
SELECT * FROM q WHERE key = 'a';
SELECT * FROM q WHERE key = 'nothing';
SELECT count(*) FROM q WHERE key > 'zzz';

-- Wait mode: 20 tokens per second, a bucket of one, up to 2 s of waiting:
-- each row waits about 50 ms for its token and every statement succeeds.
CREATE VIRTUAL TABLE w USING kvstore(rate_limit=20, rate_burst=1, rate_wait_ms=2000, background=off);
INSERT INTO w VALUES ('a', 1), ('b', 2), ('c', 3), ('d', 4);
SELECT key, value FROM w;
SELECT json_extract(s, '$.rate_limiter.tokens_acquired'), json_extract(s, '$.rate_limiter.rejections'),
       json_extract(s, '$.rate_limiter.waits') > 0
  FROM (SELECT kvstore_stats('w') AS s);
