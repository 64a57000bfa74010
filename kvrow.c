/*
** kvrow.c - encoding and decoding of the rows of a kvstore table: the
** format is described at the top of kvrow.h.
*/
#include "kvrow.h"
SQLITE_EXTENSION_INIT3

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

const char *kvrowTypeName(int eType){
  switch( eType ){
    case SQLITE_INTEGER: return "INTEGER";
    case SQLITE_FLOAT:   return "REAL";
    case SQLITE_TEXT:    return "TEXT";
    case SQLITE_BLOB:    return "BLOB";
    default:             return "NULL";
  }
}
const char *kvrowKeyTypeName(int eKeyType){
  switch( eKeyType ){
    case KV_KEY_BLOB:    return "BLOB";
    case KV_KEY_INTEGER: return "INTEGER";
    default:             return "TEXT";
  }
}

/*
** SQLite's rule for storing a REAL in an INTEGER column: it becomes an
** integer when the conversion is exact and the result is neither of the
** two extreme int64 values (which SQLite leaves as REAL). Returns 1 and sets
** *piOut when the REAL converts.
*/
int kvrowRealIsStoredAsInt(double r, i64 *piOut){
  const double two63 = 9223372036854775808.0;
  i64 i;
  if( !(r>-two63 && r<two63) ) return 0;     /* also false for NaN */
  i = (i64)r;
  if( (double)i!=r || i==INT64_MIN || i==INT64_MAX ) return 0;
  *piOut = i;
  return 1;
}

/*
** SQLite's NUMERIC affinity applied to text z[0..n): the rules of its
** sqlite3AtoF (optional spaces, sign, digits with an optional '.', an
** optional exponent, spaces; nothing else, no hexadecimal) and of
** applyNumericAffinity (text without '.' or exponent that fits an int64
** is that integer; other numbers are REAL). Returns SQLITE_INTEGER
** (*piOut set), SQLITE_FLOAT (*prOut set) or SQLITE_TEXT (not a number).
** Done here because newer SQLite versions forbid
** sqlite3_value_numeric_type() on a copy made by sqlite3_value_dup(), and
** on the caller's value it would change the value's type.
*/
static int isSpaceByte(u8 c){
  return c==' ' || (c>='\t' && c<='\r');
}
int kvrowTextToNumber(const u8 *z, int n, i64 *piOut, double *prOut){
  char aBuf[64];              /* digits 'e' exponent, for strtod */
  int i = 0, bNeg = 0, bReal = 0;
  int nDigit = 0, nBuf = 0;
  int iExp = 0;               /* value is digits * 10^iExp (plus exp10) */
  u64 u = 0;
  int bOverflow = 0;
  long exp10 = 0;

  while( i<n && isSpaceByte(z[i]) ) i++;
  if( i<n && (z[i]=='-' || z[i]=='+') ){ bNeg = (z[i]=='-'); i++; }
  for(; i<n && z[i]>='0' && z[i]<='9'; i++){
    if( u>(u64)INT64_MAX/10+1 ) bOverflow = 1; else u = u*10 + (z[i]-'0');
    if( nBuf>0 || z[i]!='0' ){
      if( nBuf<40 ) aBuf[nBuf++] = (char)z[i]; else iExp++;
    }
    nDigit++;
  }
  if( i<n && z[i]=='.' ){
    int nFrac = 0;
    i++;
    for(; i<n && z[i]>='0' && z[i]<='9'; i++){
      if( nBuf>0 || z[i]!='0' ){
        if( nBuf<40 ){ aBuf[nBuf++] = (char)z[i]; iExp--; }
      }else{
        iExp--;
      }
      nFrac++;
    }
    if( nDigit==0 && nFrac==0 ) return SQLITE_TEXT;
    nDigit += nFrac;
    bReal = 1;
  }
  if( nDigit==0 ) return SQLITE_TEXT;
  if( i<n && (z[i]=='e' || z[i]=='E') ){
    int j = i+1, bExpNeg = 0;
    if( j<n && (z[j]=='-' || z[j]=='+') ){ bExpNeg = (z[j]=='-'); j++; }
    if( j<n && z[j]>='0' && z[j]<='9' ){
      for(; j<n && z[j]>='0' && z[j]<='9'; j++){
        if( exp10<100000 ) exp10 = exp10*10 + (z[j]-'0');
      }
      if( bExpNeg ) exp10 = -exp10;
      bReal = 1;
      i = j;
    }
  }
  while( i<n && isSpaceByte(z[i]) ) i++;
  if( i<n ) return SQLITE_TEXT;         /* other bytes, an embedded NUL */

  if( !bReal && !bOverflow
   && (u<=(u64)INT64_MAX || (bNeg && u==(u64)INT64_MAX+1)) ){
    *piOut = bNeg ? (i64)(0-u) : (i64)u;
    return SQLITE_INTEGER;
  }
  /* digits e exponent: no decimal point, so the locale does not matter. */
  if( nBuf==0 ){
    *prOut = bNeg ? -0.0 : 0.0;
  }else{
    snprintf(aBuf+nBuf, sizeof(aBuf)-(size_t)nBuf, "e%ld", exp10+iExp);
    *prOut = strtod(aBuf, 0);
    if( bNeg ) *prOut = -*prOut;
  }
  return SQLITE_FLOAT;
}

/*
** Encode pVal as a key of type eKeyType, the way an ordinary table column
** of that declared type would store it (its affinity), refusing what the
** key type cannot hold.
*/
int kvrowKeyFromValue(int eKeyType, sqlite3_value *pVal, KvKey *pKey){
  int eType = sqlite3_value_type(pVal);
  memset(pKey, 0, sizeof(*pKey));
  if( eType==SQLITE_NULL ) return KVROW_KEY_NULL;
  switch( eKeyType ){
    case KV_KEY_TEXT: {
      if( eType==SQLITE_BLOB ) return KVROW_KEY_BADTYPE;
      /* TEXT affinity: SQLite's own text form of a number, which
      ** sqlite3_value_text() adds to the value beside the number (its
      ** type stays INTEGER or REAL), as SQLite's own comparisons do. */
      pKey->p = sqlite3_value_text(pVal);
      pKey->n = sqlite3_value_bytes(pVal);
      if( pKey->p==0 ) return KVROW_KEY_NOMEM;
      return KVROW_KEY_OK;
    }
    case KV_KEY_BLOB: {
      if( eType!=SQLITE_BLOB && eType!=SQLITE_TEXT ) return KVROW_KEY_BADTYPE;
      if( eType==SQLITE_TEXT ){
        pKey->p = sqlite3_value_text(pVal);
        if( pKey->p==0 ) return KVROW_KEY_NOMEM;
      }else{
        pKey->p = sqlite3_value_blob(pVal);
      }
      pKey->n = sqlite3_value_bytes(pVal);
      if( pKey->p==0 ) pKey->p = (const u8*)"";
      return KVROW_KEY_OK;
    }
    default: {
      i64 iVal;
      assert( eKeyType==KV_KEY_INTEGER );
      if( eType==SQLITE_TEXT ){
        /* INTEGER affinity: text that looks like a number becomes one. */
        const u8 *z = sqlite3_value_text(pVal);
        int eNum;
        double r = 0.0;
        if( z==0 ) return KVROW_KEY_NOMEM;
        eNum = kvrowTextToNumber(z, sqlite3_value_bytes(pVal), &iVal, &r);
        if( eNum==SQLITE_FLOAT ){
          if( !kvrowRealIsStoredAsInt(r, &iVal) ) return KVROW_KEY_BADTYPE;
        }else if( eNum!=SQLITE_INTEGER ){
          return KVROW_KEY_BADTYPE;
        }
      }else if( eType==SQLITE_FLOAT ){
        if( !kvrowRealIsStoredAsInt(sqlite3_value_double(pVal), &iVal) ){
          return KVROW_KEY_BADTYPE;
        }
      }else if( eType==SQLITE_INTEGER ){
        iVal = sqlite3_value_int64(pVal);
      }else{
        return KVROW_KEY_BADTYPE;
      }
      kvrowEncodeIntKey(pKey->aInt, iVal);
      pKey->p = pKey->aInt;
      pKey->n = 8;
      return KVROW_KEY_OK;
    }
  }
}

/*
** Encode a value for the engine (format at the top of kvrow.h). Returns
** a buffer from sqlite3_malloc64 in *paOut, or SQLITE_NOMEM.
*/
int kvrowValueEncode(sqlite3_value *pVal, u8 **paOut, size_t *pnOut){
  return kvrowValueEncodeTo(pVal, 0, 0, paOut, pnOut);
}

int kvrowValueEncodeTo(sqlite3_value *pVal, u8 *aBuf, size_t nBuf,
                       u8 **paOut, size_t *pnOut){
  int eType = sqlite3_value_type(pVal);
  size_t nPay = 0;
  const void *pPay = 0;
  u8 aNum[8];
  u8 *a;
  switch( eType ){
    case SQLITE_INTEGER: {
      i64 v = sqlite3_value_int64(pVal);
      int i;
      kvrowPutBigEndian64(aNum, (u64)v);
      /* Drop leading bytes that are pure sign extension. */
      for(i=0; i<7; i++){
        u8 fill = (v<0) ? 0xff : 0x00;
        if( aNum[i]!=fill || ((aNum[i+1] ^ fill) & 0x80) ) break;
      }
      pPay = &aNum[i];
      nPay = 8 - i;
      break;
    }
    case SQLITE_FLOAT: {
      double r = sqlite3_value_double(pVal);
      u64 bits;
      memcpy(&bits, &r, 8);
      kvrowPutBigEndian64(aNum, bits);
      pPay = aNum;
      nPay = 8;
      break;
    }
    case SQLITE_TEXT:
      pPay = sqlite3_value_text(pVal);
      nPay = (size_t)sqlite3_value_bytes(pVal);
      if( pPay==0 ) return SQLITE_NOMEM;
      break;
    case SQLITE_BLOB:
      pPay = sqlite3_value_blob(pVal);
      nPay = (size_t)sqlite3_value_bytes(pVal);
      if( pPay==0 && nPay>0 ) return SQLITE_NOMEM;
      break;
    default:
      eType = KVROW_NULL;
      break;
  }
  if( 1 + nPay<=nBuf ){
    a = aBuf;
  }else{
    a = sqlite3_malloc64(1 + nPay);
    if( a==0 ) return SQLITE_NOMEM;
  }
  a[0] = (u8)eType;
  if( nPay ) memcpy(&a[1], pPay, nPay);
  *paOut = a;
  *pnOut = 1 + nPay;
  return SQLITE_OK;
}

/* Set the SQL result to blob a[0..n) (a zero-length blob, not NULL, when
** n is 0). */
static int resultBlob(sqlite3_context *ctx, const u8 *a, size_t n){
  if( n>0x7fffffff ) return SQLITE_TOOBIG;
  if( n==0 ){
    sqlite3_result_zeroblob(ctx, 0);
  }else{
    sqlite3_result_blob(ctx, a, (int)n, SQLITE_TRANSIENT);
  }
  return SQLITE_OK;
}

/* Set the SQL result to the decoded value. Returns SQLITE_CORRUPT for a
** value that does not follow the format. */
int kvrowValueDecode(sqlite3_context *ctx, const u8 *a, size_t n){
  size_t nPay;
  if( n<1 ) return SQLITE_CORRUPT;
  nPay = n - 1;
  switch( a[0] ){
    case KVROW_INTEGER: {
      u64 x;
      size_t i;
      if( nPay<1 || nPay>8 ) return SQLITE_CORRUPT;
      x = (a[1] & 0x80) ? ~(u64)0 : 0;
      for(i=1; i<=nPay; i++) x = (x<<8) | a[i];
      sqlite3_result_int64(ctx, (i64)x);
      return SQLITE_OK;
    }
    case KVROW_REAL: {
      u64 bits;
      double r;
      if( nPay!=8 ) return SQLITE_CORRUPT;
      bits = kvrowGetBigEndian64(&a[1]);
      memcpy(&r, &bits, 8);
      sqlite3_result_double(ctx, r);
      return SQLITE_OK;
    }
    case KVROW_TEXT:
      if( nPay>0x7fffffff ) return SQLITE_TOOBIG;
      sqlite3_result_text(ctx, (const char*)&a[1], (int)nPay,
                          SQLITE_TRANSIENT);
      return SQLITE_OK;
    case KVROW_BLOB:
      return resultBlob(ctx, &a[1], nPay);
    case KVROW_NULL:
      if( nPay!=0 ) return SQLITE_CORRUPT;
      sqlite3_result_null(ctx);
      return SQLITE_OK;
    default:
      return SQLITE_CORRUPT;
  }
}

/* Set the result to key a[0..n) as the key column shows it. */
int kvrowKeyDecode(sqlite3_context *ctx, int eKeyType, const u8 *a,
                   size_t n){
  switch( eKeyType ){
    case KV_KEY_INTEGER:
      if( n!=8 ) return SQLITE_CORRUPT;
      sqlite3_result_int64(ctx, kvrowDecodeIntKey(a));
      return SQLITE_OK;
    case KV_KEY_BLOB:
      return resultBlob(ctx, a, n);
    default:
      if( n>0x7fffffff ) return SQLITE_TOOBIG;
      sqlite3_result_text(ctx, (const char*)a, (int)n, SQLITE_TRANSIENT);
      return SQLITE_OK;
  }
}

/* kvrowKeyDecode with an error result on failure (kvrow.h). */
int kvrowKeyResult(sqlite3_context *ctx, int eKeyType,
                   const unsigned char *a, size_t n){
  int rc = kvrowKeyDecode(ctx, eKeyType, a, n);
  if( rc!=SQLITE_OK ){
    char *zMsg = sqlite3_mprintf("kvstore: malformed key of %llu bytes "
        "(%s keys)", (unsigned long long)n, kvrowKeyTypeName(eKeyType));
    sqlite3_result_error(ctx, zMsg ? zMsg : "kvstore: malformed key", -1);
    sqlite3_result_error_code(ctx, rc);
    sqlite3_free(zMsg);
  }
  return rc;
}
