-- key_type=blob: bytes in memcmp order; TEXT is stored as its bytes and
-- comes back as a BLOB.
.load ./kvstore
CREATE VIRTUAL TABLE b USING kvstore(key_type=blob);
SELECT type FROM pragma_table_info('b') WHERE name = 'key';
INSERT INTO b VALUES (x'', 'empty'), (x'00', 'zero'), (x'0000', 'zerozero'),
  (x'01', 'one'), (x'7f', 'x7f'), (x'80', 'x80'), (x'ff', 'ff'), (x'ffff', 'ffff');
INSERT INTO b VALUES ('abc', 'text');
SELECT hex(key), typeof(key), value FROM b;
SELECT 'desc', group_concat(hex(key)) FROM (SELECT key FROM b ORDER BY key DESC);
SELECT 'range', group_concat(hex(key)) FROM b WHERE key > x'00' AND key <= x'80';
SELECT 'range-rev', group_concat(hex(key)) FROM b WHERE key <= x'80' AND key > x'00';
SELECT 'eq', value FROM b WHERE key = x'0000';
SELECT 'eq text', count(*) FROM b WHERE key = 'abc';
SELECT 'eq blob', value FROM b WHERE key = CAST('abc' AS BLOB);
SELECT 'glob', value FROM b WHERE key GLOB 'ab*';
-- Numbers and TEXT sort below every BLOB.
SELECT 'gt text', count(*) FROM b WHERE key > 'zzz';
SELECT 'lt num', count(*) FROM b WHERE key < 5;
INSERT INTO b VALUES (5, 'x');
INSERT INTO b VALUES (NULL, 'x');
