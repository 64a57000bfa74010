/*
** kvcursor.c - reading a kvstore table: query planning (xBestIndex) and
** cursors (xOpen, xFilter, xNext, xColumn, ...): point lookups, IN lists
** and range scans over the engine, at the read point kvtxn.c gives.
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "kv.h"
#include "kvrow.h"
#include "kvvtabInt.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/****************************************************************************
** Query planning.
**
** xBestIndex describes its plan in idxStr, a list of terms separated by
** ", ", one per argv value of xFilter in the same order, which also makes
** EXPLAIN QUERY PLAN readable:
**
**   key=?          argv is a value the key must equal (= or IS)
**   key IN(...)    argv is an IN list, processed all at once
**   key>?  key>=?  key<?  key<=?
**                  argv is a bound
**   key GLOB ?     argv is a GLOB pattern; its literal prefix bounds the
**                  scan, and SQLite still checks the pattern
**   ORDER BY key [DESC]
**                  last, no argv: the order is ours (for EXPLAIN QUERY
**                  PLAN's sake; xFilter reads KVIDX_DESC)
**
** idxNum bits: KVIDX_DESC (scan in descending key order) and KVIDX_EMPTY
** (a `key IS NULL` term: no row matches a NOT NULL key).
*/
#define KVIDX_DESC  0x01
#define KVIDX_EMPTY 0x02

int kvvtabBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo){
  KvVtab *p = (KvVtab*)pVtab;
  sqlite3_str *pStr = sqlite3_str_new(p->db);
  int nArg = 0;
  int bEq = 0, bIn = 0, bEmpty = 0, nBound = 0, bGlob = 0;
  int bLo = 0, bHi = 0;
  int bEqExact = 0;           /* an exact = term: one row at most */
  int bPattern = 0;           /* blob keys: a GLOB or LIKE on the key */
  double nRow;
  int i;

  /* SQLite (3.38, 3.53; not 3.40) derives `key>='a' AND key<'b'` from
  ** `key GLOB 'a*'` (and from LIKE under case_sensitive_like) and hands
  ** them to the table, never checking them itself. They hold for text
  ** only: against blob keys, where text sorts below every key, they would
  ** empty the scan. So beside a pattern on a blob key no range term is
  ** used: a real one SQLite then checks itself. */
  if( p->eKeyType==KV_KEY_BLOB ){
    for(i=0; i<pInfo->nConstraint; i++){
      if( pInfo->aConstraint[i].iColumn==KVVTAB_COL_KEY
       && (pInfo->aConstraint[i].op==SQLITE_INDEX_CONSTRAINT_GLOB
        || pInfo->aConstraint[i].op==SQLITE_INDEX_CONSTRAINT_LIKE) ){
        bPattern = 1;
      }
    }
  }

  for(i=0; i<pInfo->nConstraint; i++){
    const struct sqlite3_index_constraint *pCons = &pInfo->aConstraint[i];
    const char *zTerm = 0;
    int bOmit = 1;
    int bInTerm = 0;          /* an IN list, taken all at once */
    int bRecheck = 0;         /* text key, value of unknown affinity */
    int op = pCons->op;

    /* LIMIT and OFFSET are never taken: SQLite (3.40 at least) offers
    ** them even when a WHERE term was not shown to xBestIndex at all (a
    ** column compared with another column of this table, a correlated
    ** subquery), so no constraint list proves that every term is ours.
    ** SQLite counts the rows itself and stops calling xNext at the
    ** LIMIT, so a range scan still stops early. */
    if( op==SQLITE_INDEX_CONSTRAINT_LIMIT
     || op==SQLITE_INDEX_CONSTRAINT_OFFSET ){
      continue;
    }
    if( pCons->iColumn!=KVVTAB_COL_KEY || !pCons->usable ){
      continue;
    }
    if( op==SQLITE_INDEX_CONSTRAINT_ISNOTNULL ){
      continue;               /* always true of a NOT NULL key */
    }
    if( bPattern && (op==SQLITE_INDEX_CONSTRAINT_GT
     || op==SQLITE_INDEX_CONSTRAINT_GE || op==SQLITE_INDEX_CONSTRAINT_LT
     || op==SQLITE_INDEX_CONSTRAINT_LE) ){
      continue;
    }
    if( op==SQLITE_INDEX_CONSTRAINT_ISNULL ){
      bEmpty = 1;             /* never true; SQLite's check rejects all */
      continue;
    }
    /* Only BINARY comparisons of text are memcmp order. Numbers and blobs
    ** compare the same whatever the collation. */
    if( p->eKeyType==KV_KEY_TEXT && op!=SQLITE_INDEX_CONSTRAINT_GLOB
     && sqlite3_stricmp(sqlite3_vtab_collation(pInfo, i), "BINARY")!=0 ){
      continue;
    }
    switch( op ){
      case SQLITE_INDEX_CONSTRAINT_EQ:
        if( i<32 && sqlite3_vtab_in(pInfo, i, -1) ){
          if( bIn ){
            /* One IN list is enough; SQLite checks the others. */
            break;
          }
          sqlite3_vtab_in(pInfo, i, 1);
          zTerm = "key IN(...)";
          bIn = 1;
          bInTerm = 1;
          break;
        }
        /* fall through */
      case SQLITE_INDEX_CONSTRAINT_IS:
        zTerm = "key=?";
        bEq = 1;
        break;
      case SQLITE_INDEX_CONSTRAINT_GT:
        zTerm = "key>?";  bLo = 1; nBound++; break;
      case SQLITE_INDEX_CONSTRAINT_GE:
        zTerm = "key>=?"; bLo = 1; nBound++; break;
      case SQLITE_INDEX_CONSTRAINT_LT:
        zTerm = "key<?";  bHi = 1; nBound++; break;
      case SQLITE_INDEX_CONSTRAINT_LE:
        zTerm = "key<=?"; bHi = 1; nBound++; break;
      case SQLITE_INDEX_CONSTRAINT_GLOB:
        /* An integer key's text form has no useful order. */
        if( p->eKeyType!=KV_KEY_INTEGER ){
          zTerm = "key GLOB ?";
          bGlob = 1;
          bOmit = 0;
        }
        break;
      default:
        break;
    }
    if( zTerm && p->eKeyType==KV_KEY_TEXT
     && op!=SQLITE_INDEX_CONSTRAINT_GLOB ){
      /* Against text keys a value's affinity decides the comparison (see
      ** termBound), and a table is not told it. A constant TEXT value
      ** compares alike under every affinity; anything else SQLite checks
      ** again, and xFilter narrows the scan loosely. */
      sqlite3_value *pRhs = 0;
      if( bInTerm || sqlite3_vtab_rhs_value(pInfo, i, &pRhs)!=SQLITE_OK
       || sqlite3_value_type(pRhs)!=SQLITE_TEXT ){
        bOmit = 0;
        bRecheck = 1;
      }
    }
    if( zTerm ){
      if( nArg ) sqlite3_str_appendall(pStr, ", ");
      sqlite3_str_appendall(pStr, zTerm);
      if( bRecheck ) sqlite3_str_appendall(pStr, " recheck");
      /* A rechecked = may be a range (a number against text keys): one
      ** row at most only when the = is exact. */
      if( zTerm[3]=='=' && !bRecheck ) bEqExact = 1;
      pInfo->aConstraintUsage[i].argvIndex = ++nArg;
      pInfo->aConstraintUsage[i].omit = (unsigned char)bOmit;
    }
  }

  /* Keys are unique, so an ORDER BY that starts with the key is ours,
  ** whatever follows it. */
  if( pInfo->nOrderBy>=1 && pInfo->aOrderBy[0].iColumn==KVVTAB_COL_KEY ){
    pInfo->orderByConsumed = 1;
    if( pInfo->aOrderBy[0].desc ) pInfo->idxNum |= KVIDX_DESC;
  }

  if( bEmpty ) pInfo->idxNum |= KVIDX_EMPTY;
  if( pInfo->orderByConsumed ){
    /* Shown by EXPLAIN QUERY PLAN; xFilter reads idxNum instead. */
    if( nArg ) sqlite3_str_appendall(pStr, ", ");
    sqlite3_str_appendall(pStr, (pInfo->idxNum & KVIDX_DESC)
                                ? "ORDER BY key DESC" : "ORDER BY key");
  }

  /* Costs: a seek costs about as much as reading 20 rows, as with a b-tree
  ** of a million rows; each range bound keeps a quarter of the rows and a
  ** two-sided range (or a prefix) a sixty-fourth, as SQLite assumes for an
  ** ordinary index without statistics. */
  if( bEmpty ){
    nRow = 1;
    pInfo->estimatedCost = 1.0;
  }else if( bEq ){
    nRow = 1;
    pInfo->estimatedCost = 20.0;
    if( bEqExact ) pInfo->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
  }else if( bIn ){
    nRow = 10;
    pInfo->estimatedCost = 200.0;
  }else{
    nRow = KVVTAB_EST_ROWS;
    if( (bLo && bHi) || bGlob ){
      nRow /= 64;
    }else if( bLo || bHi ){
      nRow /= 4;
    }
    pInfo->estimatedCost = nRow + ((bLo || bHi || bGlob) ? 20.0 : 0.0);
  }
  (void)nBound;
  pInfo->estimatedRows = (sqlite3_int64)nRow;

  if( sqlite3_str_length(pStr)>0 ){
    pInfo->idxStr = sqlite3_str_finish(pStr);
    if( pInfo->idxStr==0 ) return SQLITE_NOMEM;
    pInfo->needToFreeIdxStr = 1;
  }else{
    int rc = sqlite3_str_errcode(pStr);
    sqlite3_free(sqlite3_str_finish(pStr));
    if( rc!=SQLITE_OK ) return rc;
  }
  return SQLITE_OK;
}

/****************************************************************************
** Cursors.
*/

int kvvtabOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur){
  KvVtab *pTab = (KvVtab*)pVtab;
  KvCursor *pCur = pTab->pSpareCursor;
  void *pBuf = 0;                 /* the spare's point-read buffer */
  size_t nAlloc = 0;
  if( pTab->pConn->pDrops ) kvvtabDropsSettle(pTab->pConn, 0);
  /* SQLite opens and closes a cursor for every run of a statement: the
  ** memory of the last one closed is kept for the next, with its buffer
  ** for point reads (an allocation and a free less for each). */
  if( pCur ){
    pTab->pSpareCursor = 0;
    pBuf = pCur->pPointVal;
    nAlloc = pCur->nPointAlloc;
  }else{
    pCur = sqlite3_malloc(sizeof(*pCur));
    if( pCur==0 ) return SQLITE_NOMEM;
  }
  pTab->nCursor++;
  memset(pCur, 0, sizeof(*pCur));
  pCur->pPointVal = pBuf;
  pCur->nPointAlloc = nAlloc;
  pCur->bEof = 1;
  *ppCur = &pCur->base;
  return SQLITE_OK;
}

/* Largest point-read buffer a cursor keeps between statements. */
#define CURSOR_KEEP_MAX (64*1024)

/* Forget everything a previous xFilter set up. */
static void cursorReset(KvCursor *pCur){
  int i;
  kv_iter_recycle(pCur->pIter);
  pCur->pIter = 0;
  sqlite3_free(pCur->lo.a);
  sqlite3_free(pCur->hi.a);
  memset(&pCur->lo, 0, sizeof(pCur->lo));
  memset(&pCur->hi, 0, sizeof(pCur->hi));
  sqlite3_free(pCur->aPointKey);
  pCur->aPointKey = 0;
  pCur->nPointKey = 0;
  /* The buffer is kept for the next point read, unless a large value
  ** grew it. */
  if( pCur->nPointAlloc>CURSOR_KEEP_MAX ){
    kv_free(pCur->pPointVal);
    pCur->pPointVal = 0;
    pCur->nPointAlloc = 0;
  }
  pCur->nPointVal = 0;
  for(i=0; i<pCur->nList; i++) sqlite3_free(pCur->aList[i].a);
  sqlite3_free(pCur->aList);
  pCur->aList = 0;
  pCur->nList = 0;
  pCur->iList = 0;
  pCur->pKey = 0;
  pCur->pVal = 0;
  pCur->bEof = 1;
  pCur->eMode = CUR_EMPTY;
  pCur->bDesc = 0;
}

int kvvtabClose(sqlite3_vtab_cursor *pCursor){
  KvCursor *pCur = (KvCursor*)pCursor;
  KvVtab *pTab = (KvVtab*)pCursor->pVtab;
  pTab->nCursor--;
  kvrangeOnClose(pTab, pCur);
  cursorReset(pCur);
  sqlite3_free(pCur->aRunStep);
  sqlite3_free(pCur->aRunKey);
  if( pTab->pSpareCursor==0 ){
    pTab->pSpareCursor = pCur;
  }else{
    kvvtabCursorFree(pCur);
  }
  return SQLITE_OK;
}

void kvvtabCursorFree(KvCursor *pCur){
  if( pCur ){
    kv_free(pCur->pPointVal);
    sqlite3_free(pCur);
  }
}

/* What a comparison term means for the keys of a table. */
#define TERM_NONE  0          /* no key satisfies it */
#define TERM_ALL   1          /* every key satisfies it */
#define TERM_BOUND 2          /* keys on one side of (or equal to) a key */

/* Comparison operators, as parsed from idxStr. */
#define OP_EQ 0
#define OP_GT 1
#define OP_GE 2
#define OP_LT 3
#define OP_LE 4

/* termBound's copy of a key's n bytes at z into *paKey (sqlite3_malloc):
** TERM_BOUND, or TERM_NONE with *pRc SQLITE_NOMEM. */
static int termKeyCopy(const void *z, int n, u8 **paKey, int *pnKey,
                       int *pRc){
  *paKey = sqlite3_malloc(n ? n : 1);
  if( *paKey==0 ){
    *pRc = SQLITE_NOMEM;
    return TERM_NONE;
  }
  if( n ) memcpy(*paKey, z, n);
  *pnKey = n;
  return TERM_BOUND;
}

/*
** Translate `key <op> pVal` into a bound on encoded keys, by SQLite's rules
** for comparing a column of the declared key type with a value that has no
** affinity of its own: the column's affinity is applied to the value
** (TEXT: numbers become their text; INTEGER: text that looks like a number
** becomes one; BLOB: nothing), then values of different types order NULL <
** numbers < TEXT < BLOB, and a NULL compares as nothing.
**
** On TERM_BOUND, *paKey (sqlite3_malloc) holds the key and *pOp the
** operator, which for integer keys is normalised to OP_EQ, OP_GE or OP_LE.
**
** bLoose (text keys only): the value's affinity is unknown, SQLite checks
** the term again, and the answer need only hold every key that one of
** SQLite's three readings admits. Against a TEXT column, a value of no
** affinity (a literal, a parameter) gets TEXT affinity; a BLOB-affinity
** value (an untyped column) is compared as it is (numbers sort below all
** text); and an INTEGER/REAL/NUMERIC one turns keys that look like
** numbers into numbers (below all text). Such keys begin with a space, a
** sign, '.' or a digit, so all sort below ':'.
*/
static int termBound(int eKeyType, int op, sqlite3_value *pVal, int bLoose,
                     u8 **paKey, int *pnKey, int *pOp, int *pRc){
  int eType = sqlite3_value_type(pVal);
  int bHigh = (op==OP_LT || op==OP_LE);   /* value is above the keys */
  /* When the value's type sorts entirely above every key (bAbove) or
  ** below, the term keeps all keys or none. */
  int bAbove;

  *paKey = 0;
  *pnKey = 0;
  *pOp = op;
  if( eType==SQLITE_NULL ) return TERM_NONE;

  switch( eKeyType ){
    case KV_KEY_TEXT: {
      const unsigned char *z;
      int n;
      if( eType==SQLITE_BLOB ){
        bAbove = 1;
        break;
      }
      if( bLoose ){
        i64 iDummy;
        double rDummy;
        int bHighTerm = (op==OP_LT || op==OP_LE);
        if( eType!=SQLITE_TEXT ){
          /* A number: every text key (BLOB affinity) for a lower bound;
          ** else at most the keys that look like numbers and those up to
          ** the number's text ("Inf" is above ':'). */
          if( !bHighTerm && op!=OP_EQ ) return TERM_ALL;
          z = sqlite3_value_text(pVal);
          n = sqlite3_value_bytes(pVal);
          if( z==0 || n==0 || z[0]<=':' ){
            z = (const unsigned char*)":";
            n = 1;
            *pOp = OP_LT;
          }else{
            *pOp = OP_LE;
          }
        }else{
          z = sqlite3_value_text(pVal);
          n = sqlite3_value_bytes(pVal);
          /* Text that is not a number and begins at or below '9' may be
          ** above keys that a numeric affinity turns into numbers. */
          if( z && bHighTerm && (n==0 || z[0]<='9')
           && kvrowTextToNumber(z, n, &iDummy, &rDummy)==SQLITE_TEXT ){
            z = (const unsigned char*)":";
            n = 1;
            *pOp = OP_LT;
          }
        }
      }else{
        /* A number gets the column's TEXT affinity: sqlite3_value_text()
        ** adds the text form beside the number (its type stays). */
        z = sqlite3_value_text(pVal);
        n = sqlite3_value_bytes(pVal);
      }
      if( z==0 ){
        *pRc = SQLITE_NOMEM;
        return TERM_NONE;
      }
      return termKeyCopy(z, n, paKey, pnKey, pRc);
    }
    case KV_KEY_BLOB: {
      const void *pBlob;
      int n;
      if( eType!=SQLITE_BLOB ){
        bAbove = 0;
        break;
      }
      pBlob = sqlite3_value_blob(pVal);
      n = sqlite3_value_bytes(pVal);
      return termKeyCopy(pBlob, n, paKey, pnKey, pRc);
    }
    default: {
      const double two63 = 9223372036854775808.0;
      int eNum;
      i64 iVal = 0;
      double r = 0.0;
      int bInt;
      assert( eKeyType==KV_KEY_INTEGER );
      if( eType==SQLITE_BLOB ){
        bAbove = 1;
        break;
      }
      if( eType==SQLITE_TEXT ){
        const u8 *z = sqlite3_value_text(pVal);
        if( z==0 ){
          *pRc = SQLITE_NOMEM;
          return TERM_NONE;
        }
        eNum = kvrowTextToNumber(z, sqlite3_value_bytes(pVal), &iVal, &r);
      }else{
        eNum = eType;
        if( eType==SQLITE_INTEGER ){
          iVal = sqlite3_value_int64(pVal);
        }else{
          r = sqlite3_value_double(pVal);
        }
      }
      if( eNum!=SQLITE_INTEGER && eNum!=SQLITE_FLOAT ){
        bAbove = 1;           /* text that is not a number */
        break;
      }
      bInt = (eNum==SQLITE_INTEGER);
      if( !bInt && r!=r ) return TERM_NONE;
      /* Turn every operator into an inclusive bound on an int64. SQLite
      ** compares an integer with a REAL exactly, so a REAL bound becomes
      ** the nearest integer on the inside. */
      switch( op ){
        case OP_EQ:
          if( !bInt ){
            if( !(r>=-two63 && r<two63) ) return TERM_NONE;
            iVal = (i64)r;
            if( (double)iVal!=r ) return TERM_NONE;
          }
          break;
        case OP_GT:
          if( !bInt ){
            if( r>=two63 ) return TERM_NONE;
            if( r<-two63 ) return TERM_ALL;
            iVal = kvrowFloorToInt(r);
          }
          if( iVal==INT64_MAX ) return TERM_NONE;
          iVal++;
          *pOp = OP_GE;
          break;
        case OP_GE:
          if( !bInt ){
            if( r>=two63 ) return TERM_NONE;
            if( r<=-two63 ) return TERM_ALL;
            iVal = kvrowCeilToInt(r);
          }
          break;
        case OP_LT:
          if( !bInt ){
            if( r<=-two63 ) return TERM_NONE;
            if( r>=two63 ) return TERM_ALL;
            iVal = kvrowCeilToInt(r);
          }
          if( iVal==INT64_MIN ) return TERM_NONE;
          iVal--;
          *pOp = OP_LE;
          break;
        default:
          assert( op==OP_LE );
          if( !bInt ){
            if( r<-two63 ) return TERM_NONE;
            if( r>=two63 ) return TERM_ALL;
            iVal = kvrowFloorToInt(r);
          }
          break;
      }
      *paKey = sqlite3_malloc(8);
      if( *paKey==0 ){
        *pRc = SQLITE_NOMEM;
        return TERM_NONE;
      }
      kvrowEncodeIntKey(*paKey, iVal);
      *pnKey = 8;
      return TERM_BOUND;
    }
  }

  /* The value's type sorts above (bAbove) or below every key. */
  if( op==OP_EQ ) return TERM_NONE;
  return (bHigh==bAbove) ? TERM_ALL : TERM_NONE;
}

/* Tighten bound pB (lower if bLower) with key a[0..n). Takes a. */
static void boundMerge(KvBound *pB, int bLower, u8 *a, int n, int bIncl){
  if( pB->a ){
    int c = kvrowKeyCompare(a, n, pB->a, pB->n);
    int bTighter = bLower ? (c>0) : (c<0);
    if( c==0 ){
      pB->bIncl = pB->bIncl && bIncl;
      sqlite3_free(a);
      return;
    }
    if( !bTighter ){
      sqlite3_free(a);
      return;
    }
    sqlite3_free(pB->a);
  }
  pB->a = a;
  pB->n = n;
  pB->bIncl = bIncl;
}

/* True if key a[0..n) is on the inner side of bound pB: above it if
** bLower, below it otherwise (or on it, if the bound is inclusive). No
** bound admits every key. */
static inline int boundAdmits(const KvBound *pB, int bLower, const u8 *a,
                              size_t n){
  int c;
  if( pB->a==0 ) return 1;
  c = kvrowKeyCompare(a, n, pB->a, (size_t)pB->n);
  if( bLower ) c = -c;
  return c<0 || (c==0 && pB->bIncl);
}

/* True if key a[0..n) is within the cursor's bounds. */
static int cursorInBounds(KvCursor *pCur, const u8 *a, size_t n){
  return boundAdmits(&pCur->lo, 1, a, n) && boundAdmits(&pCur->hi, 0, a, n);
}

/* True if key a[0..n), reached by a scan that started inside the near
** bound (the seek saw to that), is still inside the far one: the upper
** bound going up, the lower going down. */
static int cursorBeforeEnd(KvCursor *pCur, const u8 *a, size_t n){
  return pCur->bDesc ? boundAdmits(&pCur->lo, 1, a, n)
                     : boundAdmits(&pCur->hi, 0, a, n);
}

/* Bytes of the literal prefix of GLOB pattern z: up to the first wildcard.
** It stops at the first non-ASCII byte too: GLOB compares characters, and
** malformed UTF-8 in a key reads as U+FFFD, which a pattern may hold
** literally without the key holding its bytes. */
static int globPrefix(const unsigned char *z){
  int n = 0;
  while( z[n] && z[n]!='*' && z[n]!='?' && z[n]!='[' && z[n]<0x80 ) n++;
  return n;
}

static int listKeyCmp(const void *a, const void *b){
  const KvListKey *pA = (const KvListKey*)a;
  const KvListKey *pB = (const KvListKey*)b;
  return kvrowKeyCompare(pA->a, (size_t)pA->n, pB->a, (size_t)pB->n);
}

/* Take the rate limiter's token for the row the cursor landed on. */
static inline int cursorToken(KvCursor *pCur){
  KvVtab *pTab = (KvVtab*)pCur->base.pVtab;
  int rc = kv_rate_acquire(pTab->pKv, 1);
  if( rc!=KV_OK ){
    pCur->bEof = 1;
    return kvvtabEngineError(&pTab->base, rc, "rate limiting");
  }
  return SQLITE_OK;
}

/* cursorSettle for CUR_SCAN: the row the iterator is on, if it is one
** the cursor returns. */
static int scanSettle(KvCursor *pCur){
  const void *pKey, *pVal;
  if( !kv_iter_entry(pCur->pIter, &pKey, &pCur->nKey, &pVal, &pCur->nVal) ){
    pCur->bEof = 1;
    return pCur->bRun ? kvrangeOnScanEnd(pCur, 0) : SQLITE_OK;
  }
  pCur->pKey = (const u8*)pKey;
  pCur->pVal = (const u8*)pVal;
  /* The start was sought; only the far bound can end the scan. */
  if( !cursorBeforeEnd(pCur, pCur->pKey, pCur->nKey) ){
    pCur->bEof = 1;
    return pCur->bRun ? kvrangeOnScanEnd(pCur, 0) : SQLITE_OK;
  }
  if( pCur->bRun ){
    pCur->nRunRow++;
    pCur->iRunSum += kvrunKeyHash(pCur->pKey, pCur->nKey);
    if( (pCur->nRunRow & (KVRUN_STEP-1))==0 ) kvrangeOnStep(pCur);
  }
  return cursorToken(pCur);
}

/* cursorSettle for CUR_LIST: the first key of the list from iList on that
** the store holds. */
static int listSettle(KvCursor *pCur){
  while( pCur->iList<pCur->nList ){
    int i = pCur->bDesc ? pCur->nList-1-pCur->iList : pCur->iList;
    KvListKey *pK = &pCur->aList[i];
    int rc = kv_iter_seek(pCur->pIter, pK->a, (size_t)pK->n);
    if( rc!=KV_OK ) return kvvtabEngineError(pCur->base.pVtab, rc, "seeking");
    if( kv_iter_valid(pCur->pIter) ){
      const u8 *a;
      size_t n;
      a = kv_iter_key(pCur->pIter, &n);
      if( kvrowKeyCompare(a, n, pK->a, (size_t)pK->n)==0 ){
        pCur->pKey = a;
        pCur->nKey = n;
        pCur->pVal = kv_iter_value(pCur->pIter, &pCur->nVal);
        return cursorToken(pCur);
      }
    }
    pCur->iList++;
  }
  pCur->bEof = 1;
  return SQLITE_OK;
}

/*
** Move to the first row at or after the current position that the cursor
** returns, or set bEof. The iterator is already positioned (CUR_SCAN) or
** iList names the next list entry to try (CUR_LIST).
*/
static int cursorSettle(KvCursor *pCur){
  switch( pCur->eMode ){
    case CUR_SCAN: return scanSettle(pCur);
    case CUR_LIST: return listSettle(pCur);
    default:
      pCur->bEof = 1;
      return SQLITE_OK;
  }
}

/* Advance to the next row. */
static inline int cursorStep(KvCursor *pCur){
  int rc = KV_OK;
  if( pCur->bEof ) return SQLITE_OK;
  switch( pCur->eMode ){
    case CUR_SCAN:
      rc = pCur->bDesc ? kv_iter_prev(pCur->pIter) : kv_iter_next(pCur->pIter);
      if( rc!=KV_OK ){
        pCur->bEof = 1;
        if( pCur->bRun ) kvrangeOnScanEnd(pCur, 1);
        return kvvtabEngineError(pCur->base.pVtab, rc, "iterating");
      }
      return scanSettle(pCur);
    case CUR_LIST:
      pCur->iList++;
      return listSettle(pCur);
    default:
      pCur->bEof = 1;
      return SQLITE_OK;
  }
}

/* Position a CUR_SCAN cursor on its first row. */
static int cursorStartScan(KvCursor *pCur){
  sqlite3_vtab *pVtab = pCur->base.pVtab;
  kv_iter *it = pCur->pIter;
  /* the bound the scan starts from: lo ascending, hi descending */
  const KvBound *pB = pCur->bDesc ? &pCur->hi : &pCur->lo;
  int rc;
  if( pB->a ){
    rc = pCur->bDesc ? kv_iter_seek_for_prev(it, pB->a, (size_t)pB->n)
                     : kv_iter_seek(it, pB->a, (size_t)pB->n);
    if( rc==KV_OK && !pB->bIncl && kv_iter_valid(it) ){
      size_t n;
      const u8 *a = kv_iter_key(it, &n);
      if( kvrowKeyCompare(a, n, pB->a, (size_t)pB->n)==0 ){
        rc = pCur->bDesc ? kv_iter_prev(it) : kv_iter_next(it);
      }
    }
  }else{
    rc = pCur->bDesc ? kv_iter_last(it) : kv_iter_first(it);
  }
  if( rc!=KV_OK ) return kvvtabEngineError(pVtab, rc, "seeking");
  return cursorSettle(pCur);
}

/* Parse the next term of idxStr at *pz; returns its code or 0 at the end. */
#define TERM_EQ     1
#define TERM_IN     2
#define TERM_GT     3
#define TERM_GE     4
#define TERM_LT     5
#define TERM_LE     6
#define TERM_GLOB   7
#define TERM_RECHECK 0x100    /* flag: SQLite checks the term again (loose) */
static int nextTerm(const char **pz){
  static const struct { const char *zName; int eTerm; } aTerm[] = {
    { "key=?",       TERM_EQ },
    { "key IN(...)", TERM_IN },
    { "key>=?",      TERM_GE },
    { "key>?",       TERM_GT },
    { "key<=?",      TERM_LE },
    { "key<?",       TERM_LT },
    { "key GLOB ?",  TERM_GLOB },
  };
  const char *z = *pz;
  size_t i;
  while( *z==',' || *z==' ' ) z++;
  for(i=0; i<sizeof(aTerm)/sizeof(aTerm[0]); i++){
    size_t n = strlen(aTerm[i].zName);
    if( strncmp(z, aTerm[i].zName, n)==0 ){
      static const char zRecheck[] = " recheck";
      int eTerm = aTerm[i].eTerm;
      if( strncmp(z+n, zRecheck, sizeof(zRecheck)-1)==0 ){
        n += sizeof(zRecheck)-1;
        eTerm |= TERM_RECHECK;
      }
      if( z[n]==0 || z[n]==',' ){
        *pz = z + n;
        return eTerm;
      }
    }
  }
  return 0;
}

/* Collect the IN list argument pList into pCur->aList: encoded, sorted,
** distinct. Values that match no key are dropped. */
static int cursorLoadList(KvVtab *pTab, KvCursor *pCur, sqlite3_value *pList,
                          int bLoose, int *pbScan){
  sqlite3_value *pVal = 0;
  int nAlloc = 0;
  int rc;
  int i, j;
  *pbScan = 0;
  for(rc=sqlite3_vtab_in_first(pList, &pVal); rc==SQLITE_OK;
      rc=sqlite3_vtab_in_next(pList, &pVal)){
    u8 *a;
    int n, op;
    int eTerm = termBound(pTab->eKeyType, OP_EQ, pVal, bLoose,
                          &a, &n, &op, &rc);
    if( rc!=SQLITE_OK ) return rc;
    if( eTerm==TERM_BOUND && op!=OP_EQ ){
      /* A loose value that is no single key (a number against text
      ** keys): scan instead; SQLite checks the IN itself. */
      sqlite3_free(a);
      for(i=0; i<pCur->nList; i++) sqlite3_free(pCur->aList[i].a);
      pCur->nList = 0;
      *pbScan = 1;
      return SQLITE_OK;
    }
    if( eTerm!=TERM_BOUND ) continue;
    if( pCur->nList>=nAlloc ){
      int nNew = nAlloc ? nAlloc*2 : 16;
      KvListKey *aNew = sqlite3_realloc64(pCur->aList, sizeof(KvListKey)*nNew);
      if( aNew==0 ){
        sqlite3_free(a);
        return SQLITE_NOMEM;
      }
      pCur->aList = aNew;
      nAlloc = nNew;
    }
    pCur->aList[pCur->nList].a = a;
    pCur->aList[pCur->nList].n = n;
    pCur->nList++;
  }
  if( rc!=SQLITE_DONE ) return rc;
  if( pCur->nList>1 ){
    qsort(pCur->aList, (size_t)pCur->nList, sizeof(KvListKey), listKeyCmp);
  }
  /* Drop duplicates and keys outside the bounds. */
  for(i=j=0; i<pCur->nList; i++){
    KvListKey *pK = &pCur->aList[i];
    if( (j>0 && listKeyCmp(pK, &pCur->aList[j-1])==0)
     || !cursorInBounds(pCur, pK->a, (size_t)pK->n) ){
      sqlite3_free(pK->a);
    }else{
      pCur->aList[j++] = *pK;
    }
  }
  pCur->nList = j;
  return SQLITE_OK;
}

int kvvtabFilter(sqlite3_vtab_cursor *pCursor, int idxNum,
                 const char *idxStr, int argc, sqlite3_value **argv){
  KvCursor *pCur = (KvCursor*)pCursor;
  KvVtab *pTab = (KvVtab*)pCursor->pVtab;
  const char *z = idxStr ? idxStr : "";
  u8 *aEq = 0;                /* key of the = terms, if any */
  int nEq = 0;
  int bEmpty = (idxNum & KVIDX_EMPTY)!=0;
  int iListArg = -1;          /* argv index of the IN list, if any */
  int bListLoose = 0;
  int bScan = 0;              /* the IN list is scanned, not looked up */
  const kv_snapshot *pSnap = 0;  /* read point (kvtxnReadSnapshot) */
  int rc = kvbulkActive(pTab) ? kvbulkStop(pTab) : SQLITE_OK;  /* kvbulk.c */
  int iArg;

  cursorReset(pCur);
  kvrangeOnFilter(pTab, pCur);
  if( pTab->nGone ) kvvtabGoneClear(pTab);  /* a new statement */
  pCur->bDesc = (idxNum & KVIDX_DESC)!=0;
  pCur->iRowid = 0;
  if( pTab->pKv==0 && (rc = kvvtabNeedStore(pTab))!=SQLITE_OK ) return rc;

  for(iArg=0; rc==SQLITE_OK && iArg<argc; iArg++){
    int eTerm = nextTerm(&z);
    int bLoose = (eTerm & TERM_RECHECK)!=0;
    sqlite3_value *pVal = argv[iArg];
    u8 *a = 0;
    int n = 0;
    int op = OP_EQ, eRes;
    eTerm &= ~TERM_RECHECK;
    switch( eTerm ){
      case TERM_IN:
        iListArg = iArg;
        bListLoose = bLoose;
        break;
      case TERM_EQ: case TERM_GT: case TERM_GE: case TERM_LT: case TERM_LE:
        op = eTerm==TERM_EQ ? OP_EQ : eTerm==TERM_GT ? OP_GT :
             eTerm==TERM_GE ? OP_GE : eTerm==TERM_LT ? OP_LT : OP_LE;
        eRes = termBound(pTab->eKeyType, op, pVal, bLoose, &a, &n, &op, &rc);
        if( rc!=SQLITE_OK ) break;
        if( eRes==TERM_NONE ){
          bEmpty = 1;
        }else if( eRes==TERM_BOUND ){
          if( op==OP_EQ ){
            if( aEq && kvrowKeyCompare(aEq, nEq, a, n)!=0 ) bEmpty = 1;
            sqlite3_free(aEq);
            aEq = a;
            nEq = n;
          }else{
            int bLower = (op==OP_GT || op==OP_GE);
            int bIncl = (op==OP_GE || op==OP_LE);
            boundMerge(bLower ? &pCur->lo : &pCur->hi, bLower, a, n, bIncl);
          }
        }
        break;
      case TERM_GLOB:
        /* Only a range hint: SQLite checks the pattern itself. */
        if( sqlite3_value_type(pVal)==SQLITE_TEXT ){
          const unsigned char *zPat = sqlite3_value_text(pVal);
          int nPre = zPat ? globPrefix(zPat) : 0;
          if( nPre>0 ){
            u8 *aLo = sqlite3_malloc(nPre);
            u8 *aHi = sqlite3_malloc(nPre);
            int nHi = nPre;
            if( aLo==0 || aHi==0 ){
              sqlite3_free(aLo);
              sqlite3_free(aHi);
              rc = SQLITE_NOMEM;
              break;
            }
            memcpy(aLo, zPat, nPre);
            memcpy(aHi, zPat, nPre);
            boundMerge(&pCur->lo, 1, aLo, nPre, 1);
            /* Keys with the prefix are below the prefix with its last
            ** byte raised (all bytes are < 0x80, so no carry). */
            aHi[nHi-1]++;
            boundMerge(&pCur->hi, 0, aHi, nHi, 0);
          }
        }
        break;
      default:
        kvvtabSetError(pCursor->pVtab, "kvstore: bad plan '%s'", idxStr);
        rc = SQLITE_INTERNAL;
        break;
    }
  }
  if( rc!=SQLITE_OK ) goto filter_out;

  /* An empty range. */
  if( pCur->lo.a && pCur->hi.a ){
    int c = kvrowKeyCompare(pCur->lo.a, pCur->lo.n, pCur->hi.a, pCur->hi.n);
    if( c>0 || (c==0 && !(pCur->lo.bIncl && pCur->hi.bIncl)) ) bEmpty = 1;
  }
  if( aEq && !cursorInBounds(pCur, aEq, nEq) ) bEmpty = 1;
  if( bEmpty ){
    pCur->eMode = CUR_EMPTY;
    pCur->bEof = 1;
    goto filter_out;
  }

  if( iListArg>=0 ){
    if( aEq ){
      /* Both = and IN: the = key, if the list holds it; as bounds, the
      ** list is cut down to it. */
      u8 *aCopy = sqlite3_malloc(nEq ? nEq : 1);
      if( aCopy==0 ){ rc = SQLITE_NOMEM; goto filter_out; }
      if( nEq ) memcpy(aCopy, aEq, nEq);
      boundMerge(&pCur->lo, 1, aEq, nEq, 1);
      boundMerge(&pCur->hi, 0, aCopy, nEq, 1);
      aEq = 0;
    }
    rc = cursorLoadList(pTab, pCur, argv[iListArg], bListLoose, &bScan);
    if( rc!=SQLITE_OK ) goto filter_out;
    if( bScan ){
      pCur->eMode = CUR_SCAN;
    }else if( pCur->nList==0 ){
      pCur->bEof = 1;
      goto filter_out;
    }else{
      pCur->eMode = CUR_LIST;
    }
  }else if( aEq ){
    pCur->eMode = CUR_POINT;
  }else{
    pCur->eMode = CUR_SCAN;
  }

  rc = kvtxnReadSnapshot(pTab, &pSnap);
  if( rc!=SQLITE_OK ) goto filter_out;
  if( pCur->eMode==CUR_POINT ){
    /* One key: read it now, which is as much a snapshot as an iterator. */
    rc = kv_get_into(pTab->pKv, pSnap, kvtxnReadBatch(pTab), aEq,
                     (size_t)nEq, &pCur->pPointVal, &pCur->nPointAlloc,
                     &pCur->nPointVal);
    if( rc==KV_NOTFOUND ){
      rc = SQLITE_OK;
      pCur->bEof = 1;
    }else if( rc!=KV_OK ){
      rc = kvvtabEngineError(pCursor->pVtab, rc, "reading");
    }else{
      pCur->aPointKey = aEq;
      pCur->nPointKey = nEq;
      aEq = 0;
      pCur->pKey = pCur->aPointKey;
      pCur->nKey = (size_t)pCur->nPointKey;
      pCur->pVal = (const u8*)pCur->pPointVal;
      pCur->nVal = pCur->nPointVal;
      pCur->bEof = 0;
      rc = cursorToken(pCur);
    }
  }else{
    /* CUR_LIST and CUR_SCAN read through an iterator, which captures the
    ** batch and a snapshot now: rows written while the statement runs (an
    ** UPDATE or DELETE over its own range) are not seen by it. */
    rc = kv_iter_new(pTab->pKv, pSnap, kvtxnReadBatch(pTab), &pCur->pIter);
    if( rc!=KV_OK ){
      pCur->pIter = 0;
      rc = kvvtabEngineError(pCursor->pVtab, rc, "opening an iterator");
      goto filter_out;
    }
    pCur->bEof = 0;
    if( pCur->eMode==CUR_SCAN ){
      kvrangeOnScanStart(pTab, pCur);
      rc = cursorStartScan(pCur);
    }else{
      pCur->iList = 0;
      rc = cursorSettle(pCur);
    }
  }

filter_out:
  sqlite3_free(aEq);
  if( rc!=SQLITE_OK ){
    if( pCur->bRun ) kvrangeOnScanEnd(pCur, 1);
    pCur->bEof = 1;
    if( rc==SQLITE_NOMEM && pCursor->pVtab->zErrMsg==0 ){
      kvvtabSetError(pCursor->pVtab, "kvstore: out of memory");
    }
  }
  return rc;
}

int kvvtabNext(sqlite3_vtab_cursor *pCursor){
  KvCursor *pCur = (KvCursor*)pCursor;
  pCur->iRowid++;
  if( pCur->eMode==CUR_POINT ){
    pCur->bEof = 1;
    return SQLITE_OK;
  }
  return cursorStep(pCur);
}

int kvvtabEof(sqlite3_vtab_cursor *pCursor){
  return ((KvCursor*)pCursor)->bEof;
}

/* kvvtabColumn's error result, out of its way. */
static __attribute__((noinline)) void columnError(KvCursor *pCur,
                                                  sqlite3_context *ctx,
                                                  int iCol, int rc){
  KvVtab *pTab = (KvVtab*)pCur->base.pVtab;
  char *zMsg;
  if( iCol==KVVTAB_COL_KEY ){
    zMsg = sqlite3_mprintf("kvstore: malformed key of %llu bytes in '%s' "
        "(table %s has %s keys)", (unsigned long long)pCur->nKey,
        pTab->zDir, pTab->zName, kvrowKeyTypeName(pTab->eKeyType));
  }else{
    zMsg = sqlite3_mprintf("kvstore: malformed value (%llu bytes) in '%s', "
        "table %s", (unsigned long long)pCur->nVal, pTab->zDir, pTab->zName);
  }
  sqlite3_result_error(ctx, zMsg ? zMsg : (iCol==KVVTAB_COL_KEY
      ? "kvstore: malformed key" : "kvstore: malformed value"), -1);
  sqlite3_result_error_code(ctx, rc);
  sqlite3_free(zMsg);
}

int kvvtabColumn(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx,
                 int iCol){
  KvCursor *pCur = (KvCursor*)pCursor;
  int rc;
  if( pCur->bEof ) return SQLITE_OK;
  if( iCol==KVVTAB_COL_KEY ){
    KvVtab *pTab = (KvVtab*)pCursor->pVtab;
    rc = kvrowKeyDecode(ctx, pTab->eKeyType, pCur->pKey, pCur->nKey);
  }else if( iCol==KVVTAB_COL_COMMAND ){
    return SQLITE_OK;                 /* NULL: rows hold no command */
  }else{
    rc = kvrowValueDecode(ctx, pCur->pVal, pCur->nVal);
  }
  if( rc!=SQLITE_OK ) columnError(pCur, ctx, iCol, rc);
  return rc;
}

/* Never called for a WITHOUT ROWID table; numbers the rows anyway. */
int kvvtabRowid(sqlite3_vtab_cursor *pCursor, sqlite_int64 *pRowid){
  *pRowid = ((KvCursor*)pCursor)->iRowid;
  return SQLITE_OK;
}
