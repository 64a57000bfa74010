/*
** kvrow.h - how the rows of a kvstore table are stored in the engine: the
** encoding of keys and values (an on-disk format, described here), and
** the conversions between it and SQLite values. Used by kvvtab.c and by
** ext/sstables.c; it knows nothing of the virtual table.
**
** ENCODING OF ROWS IN THE ENGINE
**
** Keys (the engine orders keys by memcmp, so each encoding preserves the SQL
** order of its key type):
**
**   key_type=text     the UTF-8 bytes of the text, nothing else. memcmp order
**                     is SQLite's BINARY collation.
**   key_type=blob     the bytes of the blob.
**   key_type=integer  8 bytes, big-endian, of the two's complement value with
**                     its sign bit flipped (x ^ 0x8000000000000000), so that
**                     INT64_MIN encodes as 00..00 and INT64_MAX as ff..ff.
**
** Values: one type byte, equal to SQLite's fundamental type code, then a
** payload whose length is the rest of the value:
**
**   0x01 INTEGER  1 to 8 bytes: the value in big-endian two's complement,
**                 shortest form that sign-extends back to it
**   0x02 REAL     8 bytes: the IEEE-754 binary64 bits, big-endian (so -0.0
**                 and the infinities round-trip; SQLite has no NaN values)
**   0x03 TEXT     the UTF-8 bytes (may be empty, may hold NUL bytes)
**   0x04 BLOB     the bytes (may be empty)
**   0x05 NULL     no payload
**
** Nothing depends on the host's byte order or float layout, so a store
*/
#ifndef KVROW_H
#define KVROW_H

#include "sqlite3ext.h"
#include "kv.h"

#include <stddef.h>
#include <string.h>

typedef unsigned char u8;
typedef sqlite3_int64 i64;
typedef sqlite3_uint64 u64;

/* Value type bytes (SQLite's fundamental type codes). */
#define KVROW_INTEGER 0x01
#define KVROW_REAL    0x02
#define KVROW_TEXT    0x03
#define KVROW_BLOB    0x04
#define KVROW_NULL    0x05

/*
** An encoded key. p points either into aInt or into a value owned by
** SQLite (valid while that value is).
*/
typedef struct KvKey KvKey;
struct KvKey {
  const u8 *p;                /* encoded bytes */
  int n;                      /* their number */
  u8 aInt[8];                 /* storage for an integer key */
};

/* Outcome of converting a value to a key for storage. */
#define KVROW_KEY_OK      0
#define KVROW_KEY_NULL    1         /* NULL key */
#define KVROW_KEY_BADTYPE 2         /* the key type cannot hold this value */
#define KVROW_KEY_NOMEM   3


/* Small helpers, inline because the cursor calls them for every row. */
/* memcmp order, a proper prefix first: the engine's key order. */
static inline int kvrowKeyCompare(const u8 *a, size_t na,
                                  const u8 *b, size_t nb){
  size_t n = na<nb ? na : nb;
  int c = n ? memcmp(a, b, n) : 0;
  if( c==0 ) c = (na<nb) ? -1 : (na>nb);
  return c;
}

static inline void kvrowPutBigEndian64(u8 *a, u64 x){
  int i;
  for(i=7; i>=0; i--){ a[i] = (u8)(x & 0xff); x >>= 8; }
}
static inline u64 kvrowGetBigEndian64(const u8 *a){
  u64 x = 0;
  int i;
  for(i=0; i<8; i++) x = (x<<8) | a[i];
  return x;
}

static inline void kvrowEncodeIntKey(u8 *a, i64 v){
  kvrowPutBigEndian64(a, ((u64)v) ^ ((u64)1<<63));
}
static inline i64 kvrowDecodeIntKey(const u8 *a){
  return (i64)(kvrowGetBigEndian64(a) ^ ((u64)1<<63));
}

/* floor() and ceil() of r as an int64. REQUIRES: -2^63 <= r < 2^63.
** (Done by hand so that the library needs no libm.) */
static inline i64 kvrowFloorToInt(double r){
  i64 i = (i64)r;                 /* truncates toward zero */
  return ((double)i>r) ? i-1 : i;
}
static inline i64 kvrowCeilToInt(double r){
  i64 i = (i64)r;
  return ((double)i<r) ? i+1 : i;
}

/* "INTEGER", "REAL", "TEXT", "BLOB" or "NULL" for an SQLITE_* type code;
** "TEXT", "BLOB" or "INTEGER" for a KV_KEY_* key type. Static strings. */
const char *kvrowTypeName(int eType);
const char *kvrowKeyTypeName(int eKeyType);

/* SQLite's rule for storing a REAL in an INTEGER column: returns 1 and
** sets *piOut when r converts exactly and is neither extreme int64 value. */
int kvrowRealIsStoredAsInt(double r, i64 *piOut);

/* SQLite's NUMERIC affinity applied to text z[0..n): SQLITE_INTEGER
** (*piOut set), SQLITE_FLOAT (*prOut set) or SQLITE_TEXT (not a number). */
int kvrowTextToNumber(const u8 *z, int n, i64 *piOut, double *prOut);

/* Encode pVal as a key of type eKeyType (KV_KEY_*), the way an ordinary
** column of that declared type would store it. Returns KVROW_KEY_*. */
int kvrowKeyFromValue(int eKeyType, sqlite3_value *pVal, KvKey *pKey);

/* Encode a value. *paOut from sqlite3_malloc64 (the caller frees it), or
** SQLITE_NOMEM. */
int kvrowValueEncode(sqlite3_value *pVal, u8 **paOut, size_t *pnOut);
/* The same into aBuf[0..nBuf) when it fits (*paOut is then aBuf: no
** allocation, for the row-by-row paths), else as kvrowValueEncode: the
** caller frees *paOut when it is not aBuf. */
int kvrowValueEncodeTo(sqlite3_value *pVal, u8 *aBuf, size_t nBuf,
                       u8 **paOut, size_t *pnOut);

/* Set the result of ctx to the decoded value a[0..n) / key a[0..n) of key
** type eKeyType. Return SQLITE_CORRUPT (or SQLITE_TOOBIG) without setting
** an error result when the bytes do not follow the format. */
int kvrowValueDecode(sqlite3_context *ctx, const u8 *a, size_t n);
int kvrowKeyDecode(sqlite3_context *ctx, int eKeyType, const u8 *a,
                   size_t n);

/* As kvrowKeyDecode, but on failure also sets an error result naming the
** key's size and type. For ext/ (kvstore_sstables). */
int kvrowKeyResult(sqlite3_context *ctx, int eKeyType,
                   const unsigned char *a, size_t n);

#endif /* KVROW_H */
