/*
** kvrange.c - range deletes of the kvstore virtual table (doc/rangedel.md).
**
**   SELECT kvstore_delete_range('kv', 'a', 'm');   -- keys in ['a', 'm')
**   INSERT INTO kv(kvstore_command, key, value)
**     VALUES('delete_range', 'a', 'm');            -- the same, as SQL
**   DELETE FROM kv WHERE key >= 'a' AND key < 'm'; -- one tombstone too
**
** COMMAND ROWS. SQLite enlists a virtual table in a transaction only
** through xUpdate, never through a SQL function. So, as FTS5 does with
** `INSERT INTO ft(ft) VALUES('command')`, the table declares a HIDDEN
** column kvstore_command, NULL in every row. An INSERT that gives it a
** value is a command, not a row: 'delete_range' with the low bound in the
** key column and the high bound in the value column adds one range
** tombstone [lo, hi) to the transaction's batch. It is then part of the
** transaction like any write: atomic with it, undone by ROLLBACK and
** ROLLBACK TO, seen by the transaction's own reads, committed by the same
** two-phase commit (kvtxn.c). A hidden column is left out of `INSERT INTO
** t VALUES(...)`, `INSERT INTO t SELECT * ...` and `SELECT *`: only an
** INSERT that names it can be a command. kvstore_delete_range(t, lo, hi)
** runs exactly that INSERT on its table.
**
** RUNS. An ordinary `DELETE ... WHERE key >= a AND key < b` reaches the
** table as one xUpdate per row (SQLite first collects the keys its scan
** accepts, then deletes them one by one; a virtual table cannot avoid
** that). Each delete goes into the batch as a point delete at once, and
** the table watches the statement's scan (KvRun, kvvtabInt.h): when the
** scan ended by itself, no other cursor of the table was filtered
** meanwhile, and the deletes, all consecutive in the batch after the scan
** began, all inside the scan's bounds (which hold no key the scan did not
** return), in key order and without repeats, number exactly the rows the
** scan returned, then every row of the key range [first deleted, last
** deleted] that the transaction could see was deleted and nothing else:
** the point deletes are cut from the batch and one range tombstone
** [first, last + 0x00) takes their place (the key followed by a zero byte
** is the smallest key above it). Any doubt leaves the point deletes.
**
** The bounds check matters: SQLite runs `key IN (...) OR key >= a AND
** key < b` as two scans on one cursor number, closing the first before
** the second, and deletes the keys of both; without it the keys of the
** first would count as rows of the second (a difftest case). As a last
** guard against a key the scan never returned (a function in the WHERE
** clause that writes the table between two scans), the sums of a hash of
** the keys returned and of the keys deleted must also be equal.
**
** INCREMENTALLY. A DELETE of millions of rows would hold millions of
** point deletes in the batch until the end (about 100 bytes each, spilled
** to disk past txn_spill only to be thrown away). So the run also
** collapses as it goes: the watched cursor records, every KVRUN_STEP rows,
** the sum of the hashes so far and the key of that row (KvRunStep). When
** the run's deletes go the scan's way and number a multiple of
** KVRUN_STEP, n, and the n-th key deleted is the n-th key returned (and
** the sums agree), the first n deletes are exactly the first n rows: the
** keys deleted are keys the scan returned, distinct and in order, so the
** n-th of them can be the n-th returned only if none before it was
** skipped. Then what the run has in the batch (its point deletes, or a
** tombstone and the point deletes after it) is cut back to nScanMark and
** one tombstone [first, n-th + 0x00) takes its place (nCut = n). Giving
** up later leaves that tombstone, which stands for exactly the point
** deletes it replaced, and the point deletes after it: right either way.
** A scan that runs against the deletes' order (a descending scan, the
** deletes coming in key order) collapses only at the end.
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "kv.h"
#include "kvvtab.h"
#include "kvrow.h"
#include "kvshadow.h"
#include "kvvtabInt.h"

#include <string.h>

/****************************************************************************
** Command rows.
*/

/* The name of a bound, for messages. */
static const char *boundName(int bHigh){
  return bHigh ? "high" : "low";
}

/*
** Encode bound pVal of a range delete on table p, compared as the key
** type compares: TEXT keys take text (numbers as their text, as TEXT
** affinity does); BLOB keys take blobs and text (its bytes, as an INSERT
** stores it); INTEGER keys take integers, and reals and numeric text
** rounded up (key >= 2.5 and key < 2.5 are key >= 3 and key < 3).
** pKey points into pVal or into itself.
*/
static int rangeBound(KvVtab *p, sqlite3_value *pVal, int bHigh,
                      KvKey *pKey){
  int eType = sqlite3_value_type(pVal);
  int e;
  if( eType==SQLITE_NULL ){
    kvvtabSetError(&p->base, "kvstore: delete_range on table %s: the %s "
        "bound is NULL (both bounds must be %s keys)", p->zName,
        boundName(bHigh), kvrowKeyTypeName(p->eKeyType));
    return SQLITE_MISMATCH;
  }
  if( p->eKeyType==KV_KEY_INTEGER
   && (eType==SQLITE_FLOAT || eType==SQLITE_TEXT) ){
    double r = 0.0;
    i64 iVal = 0;
    int eNum = SQLITE_FLOAT;
    if( eType==SQLITE_FLOAT ){
      r = sqlite3_value_double(pVal);
    }else{
      const u8 *z = sqlite3_value_text(pVal);
      if( z==0 ) return SQLITE_NOMEM;
      eNum = kvrowTextToNumber(z, sqlite3_value_bytes(pVal), &iVal, &r);
    }
    if( eNum==SQLITE_FLOAT ){
      /* 2^63 = 9223372036854775808.0 is the first real above every key. */
      if( !(r>=-9223372036854775808.0 && r<9223372036854775808.0) ){
        kvvtabSetError(&p->base, "kvstore: delete_range on table %s: the %s "
            "bound %!.15g is outside the range of INTEGER keys", p->zName,
            boundName(bHigh), r);
        return SQLITE_MISMATCH;
      }
      iVal = kvrowCeilToInt(r);
      eNum = SQLITE_INTEGER;
    }
    if( eNum==SQLITE_INTEGER ){
      memset(pKey, 0, sizeof(*pKey));
      kvrowEncodeIntKey(pKey->aInt, iVal);
      pKey->p = pKey->aInt;
      pKey->n = 8;
      return SQLITE_OK;
    }
  }
  e = kvrowKeyFromValue(p->eKeyType, pVal, pKey);
  if( e==KVROW_KEY_NOMEM ) return SQLITE_NOMEM;
  if( e!=KVROW_KEY_OK ){
    kvvtabSetError(&p->base, "kvstore: delete_range on table %s: the %s "
        "bound (%s) is not a key of type %s", p->zName, boundName(bHigh),
        kvrowTypeName(eType), kvrowKeyTypeName(p->eKeyType));
    return SQLITE_MISMATCH;
  }
  return SQLITE_OK;
}

int kvrangeCommand(KvVtab *p, int argc, sqlite3_value **argv){
  sqlite3_value *pCmd = argv[2+KVVTAB_COL_COMMAND];
  const char *zCmd;
  KvKey lo, hi;
  int rc;

  if( argc<=2+KVVTAB_COL_COMMAND ) return SQLITE_INTERNAL;
  if( sqlite3_value_type(argv[0])!=SQLITE_NULL ){
    kvvtabSetError(&p->base, "kvstore: column " KVVTAB_COMMAND_NAME
        " of table %s takes commands in an INSERT, not an UPDATE", p->zName);
    return SQLITE_ERROR;
  }
  zCmd = (const char*)sqlite3_value_text(pCmd);
  if( zCmd==0 ) return SQLITE_NOMEM;
  if( sqlite3_stricmp(zCmd, "ingest")==0 ){
    return kvingestCommand(p, argc, argv);       /* kvingest.c */
  }
  if( sqlite3_stricmp(zCmd, "delete_range")!=0 ){
    kvvtabSetError(&p->base, "kvstore: unknown command '%s' in column "
        KVVTAB_COMMAND_NAME " of table %s (known: 'delete_range', "
        "'ingest')",
        zCmd, p->zName);
    return SQLITE_ERROR;
  }
  rc = rangeBound(p, argv[2+KVVTAB_COL_KEY], 0, &lo);
  if( rc==SQLITE_OK ) rc = rangeBound(p, argv[2+KVVTAB_COL_VALUE], 1, &hi);
  if( rc==SQLITE_NOMEM ) kvvtabSetError(&p->base, "kvstore: out of memory");
  if( rc!=SQLITE_OK ) return rc;
  /* lo >= hi: an empty range, which records nothing. */
  rc = kv_batch_delete_range(p->pBatch, lo.p, (size_t)lo.n,
                             hi.p, (size_t)hi.n);
  if( rc!=KV_OK ) return kvvtabEngineError(&p->base, rc, "deleting a range");
  return SQLITE_OK;
}

/****************************************************************************
** Runs: a DELETE over a key range becomes one range tombstone.
*/

/* Forget the run (keeping its buffers). */
static void runReset(KvRun *r){
  if( r->pCur ) r->pCur->bRun = 0;
  r->pCur = 0;
  r->eState = KVRUN_NONE;
  r->nScanMark = 0;
  r->nDel = 0;
  r->iDelSum = 0;
  r->iDir = 0;
  r->nCut = 0;
  r->nFirst = 0;
  r->nLast = 0;
}

/* Give up on the run until its cursor closes. */
static void runGiveUp(KvRun *r){
  if( r->pCur ) r->pCur->bRun = 0;
  r->eState = KVRUN_INVALID;
}

/* Copy a[0..n) into the growing buffer *pa. */
static int keyCopy(u8 **pa, int *pn, int *pnAlloc, const u8 *a, int n){
  if( n>*pnAlloc ){
    int nNew = n<64 ? 64 : n;
    u8 *aNew = sqlite3_realloc(*pa, nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    *pa = aNew;
    *pnAlloc = nNew;
  }
  if( n ) memcpy(*pa, a, (size_t)n);
  *pn = n;
  return SQLITE_OK;
}

/* Is key a[0..n) inside the bounds of pCur's scan? Every key the
** transaction sees there, the scan returned. */
static int keyInScan(const KvCursor *pCur, const u8 *a, int n){
  if( pCur->lo.a ){
    int c = kvrowKeyCompare(a, (size_t)n, pCur->lo.a, (size_t)pCur->lo.n);
    if( c<0 || (c==0 && !pCur->lo.bIncl) ) return 0;
  }
  if( pCur->hi.a ){
    int c = kvrowKeyCompare(a, (size_t)n, pCur->hi.a, (size_t)pCur->hi.n);
    if( c>0 || (c==0 && !pCur->hi.bIncl) ) return 0;
  }
  return 1;
}

static size_t batchCount(KvVtab *p){
  return p->pBatch ? kv_batch_count(p->pBatch) : 0;
}

/* The operations the run has in the batch after nScanMark: a tombstone
** for the first nCut deletes, if any, and a point delete for each one
** after them. */
static size_t runOps(const KvRun *r){
  return (size_t)(r->nDel - r->nCut) + (r->nCut>0 ? 1 : 0);
}

/* Whether the batch holds the run's operations and nothing else after
** nScanMark, with no savepoint mark among them. */
static int runBatchIntact(KvVtab *p){
  KvRun *r = &p->run;
  return p->pBatch!=0
      && kv_batch_count(p->pBatch)==r->nScanMark+runOps(r)
      && !(p->nSave>0 && p->aSave[p->nSave-1].nMark>r->nScanMark);
}

/*
** Replace what the run has in the batch by one range tombstone over the
** keys it deleted, [first, latest + 0x00) in key order; nCut becomes
** nDel. REQUIRES: runBatchIntact, and every row of that range the
** transaction could see is among the nDel deletes. On an error *pbCut
** says whether the batch was cut: if not, it is as it was (the point
** deletes stand); if so, the error must fail the statement (which is
** then rolled back), as the batch has lost the run's deletes.
*/
static int runCut(KvVtab *p, int *pbCut){
  KvRun *r = &p->run;
  const u8 *aLo;
  const u8 *aTop;
  int nLo, nTop;
  u8 *aHi;
  int rc;

  aLo = r->iDir>0 ? r->aFirst : r->aLast;
  nLo = r->iDir>0 ? r->nFirst : r->nLast;
  aTop = r->iDir>0 ? r->aLast : r->aFirst;
  nTop = r->iDir>0 ? r->nLast : r->nFirst;
  *pbCut = 0;
  aHi = sqlite3_malloc(nTop+1);
  if( aHi==0 ) return SQLITE_NOMEM;
  if( nTop ) memcpy(aHi, aTop, (size_t)nTop);
  aHi[nTop] = 0;
  *pbCut = 1;
  kv_batch_truncate(p->pBatch, r->nScanMark);
  rc = kv_batch_delete_range(p->pBatch, aLo, (size_t)nLo, aHi,
                             (size_t)nTop+1);
  sqlite3_free(aHi);
  if( rc!=KV_OK ) return kvvtabEngineError(&p->base, rc, "deleting a range");
  r->nCut = r->nDel;
  return SQLITE_OK;
}

/*
** The run is complete: if its deletes removed every row its scan
** returned, replace them by one range tombstone. Either way the run ends.
*/
static int runCollapse(KvVtab *p){
  KvRun *r = &p->run;
  int bCut = 0;
  int rc;

  if( r->pCur==0 || r->nDel<2 || r->nDel!=r->pCur->nRunRow
   || r->iDelSum!=r->pCur->iRunSum || !runBatchIntact(p) ){
    /* Too small to matter, not every row, or a savepoint mark inside. */
    runGiveUp(r);
    return SQLITE_OK;
  }
  rc = runCut(p, &bCut);
  runGiveUp(r);
  if( rc!=SQLITE_OK && !bCut ) rc = SQLITE_OK;  /* the point deletes stay */
  return rc;
}

/* Are the run's nDel deletes exactly the first nDel rows its scan
** returned, nDel a multiple of KVRUN_STEP (the file's comment)? */
static int runAtStep(const KvRun *r){
  const KvCursor *pCur = r->pCur;
  const KvRunStep *pStep;
  u64 i;
  if( (r->nDel & (KVRUN_STEP-1))!=0 ) return 0;
  if( (r->iDir>0)!=(pCur->bDesc==0) ) return 0;  /* against the scan */
  i = r->nDel / KVRUN_STEP;
  if( i==0 || i>(u64)pCur->nRunStep ) return 0;
  pStep = &pCur->aRunStep[i-1];
  return pStep->iSum==r->iDelSum
      && kvrowKeyCompare(r->aLast, (size_t)r->nLast,
                         pCur->aRunKey + pStep->iKey,
                         (size_t)pStep->nKey)==0;
}

/* The run's first nDel deletes are the first nDel rows of the scan:
** make them one tombstone now (the file's comment). */
static int runStep(KvVtab *p){
  KvRun *r = &p->run;
  int bCut = 0;
  int rc;
  if( !runBatchIntact(p) ){
    runGiveUp(r);
    return SQLITE_OK;
  }
  rc = runCut(p, &bCut);
  if( rc!=SQLITE_OK ){
    /* Failed before the cut: the batch is as it was, and the run goes on
    ** without this step. After it: the statement fails. */
    if( !bCut ) return SQLITE_OK;
    runGiveUp(r);
  }
  return rc;
}

void kvrangeOnStep(KvCursor *pCur){
  KvRunStep *pStep;
  size_t nKey = pCur->nKey;
  /* Steps are recorded with no gap: after one missed, none. */
  if( (u64)pCur->nRunStep+1!=pCur->nRunRow/KVRUN_STEP ) return;
  if( nKey>KVRUN_STEP_KEY ) return;
  if( pCur->nRunStep==pCur->nRunStepAlloc ){
    int nNew = pCur->nRunStepAlloc ? pCur->nRunStepAlloc*2 : 64;
    KvRunStep *aNew = sqlite3_realloc64(pCur->aRunStep,
                                        (u64)nNew*sizeof(KvRunStep));
    if( aNew==0 ) return;
    pCur->aRunStep = aNew;
    pCur->nRunStepAlloc = nNew;
  }
  if( pCur->nRunKey+nKey>pCur->nRunKeyAlloc ){
    size_t nNew = pCur->nRunKeyAlloc ? pCur->nRunKeyAlloc*2 : 4096;
    u8 *aNew;
    while( nNew<pCur->nRunKey+nKey ) nNew *= 2;
    aNew = sqlite3_realloc64(pCur->aRunKey, (u64)nNew);
    if( aNew==0 ) return;
    pCur->aRunKey = aNew;
    pCur->nRunKeyAlloc = nNew;
  }
  pStep = &pCur->aRunStep[pCur->nRunStep++];
  pStep->iSum = pCur->iRunSum;
  pStep->iKey = pCur->nRunKey;
  pStep->nKey = (int)nKey;
  if( nKey ) memcpy(pCur->aRunKey + pCur->nRunKey, pCur->pKey, nKey);
  pCur->nRunKey += nKey;
}

int kvrangeDelete(KvVtab *p, const u8 *a, int n){
  KvRun *r = &p->run;
  int bCount = 0;
  int rc;

  if( r->eState==KVRUN_SCANNING || r->eState==KVRUN_COMPLETE ){
    /* Counted only if it is one more row of the scan: after the scan
    ** began nothing but the run's deletes entered the batch, the key is
    ** inside the scan's bounds, and keys keep going one way. */
    bCount = r->nDel < r->pCur->nRunRow
          && batchCount(p)==r->nScanMark+runOps(r)
          && keyInScan(r->pCur, a, n);
    if( bCount && r->nDel>0 ){
      int c = kvrowKeyCompare(a, (size_t)n, r->aLast, (size_t)r->nLast);
      c = c<0 ? -1 : c>0;
      if( r->nDel==1 && c!=0 ){
        r->iDir = c;
      }else if( c==0 || c!=r->iDir ){
        bCount = 0;
      }
    }
    if( bCount && r->nDel==0
     && keyCopy(&r->aFirst, &r->nFirst, &r->nFirstAlloc, a, n)!=SQLITE_OK ){
      bCount = 0;
    }
    if( bCount && keyCopy(&r->aLast, &r->nLast, &r->nLastAlloc, a, n)
                  !=SQLITE_OK ){
      bCount = 0;
    }
    if( !bCount ) runGiveUp(r);
  }
  rc = kv_batch_delete(p->pBatch, a, (size_t)n);
  if( rc!=KV_OK ){
    if( r->eState!=KVRUN_NONE ) runGiveUp(r);
    return kvvtabEngineError(&p->base, rc, "deleting");
  }
  if( bCount ){
    r->nDel++;
    r->iDelSum += kvrunKeyHash(a, (size_t)n);
    if( r->eState==KVRUN_COMPLETE && r->nDel==r->pCur->nRunRow ){
      return runCollapse(p);
    }
    if( runAtStep(r) ) return runStep(p);
  }
  return SQLITE_OK;
}

void kvrangeOnFilter(KvVtab *p, KvCursor *pCur){
  KvRun *r = &p->run;
  pCur->bRun = 0;
  pCur->nRunRow = 0;
  pCur->iRunSum = 0;
  pCur->nRunStep = 0;
  pCur->nRunKey = 0;
  if( r->pCur==0 ){
    runReset(r);
    r->pCur = pCur;
    r->eState = KVRUN_PENDING;
  }else{
    /* Another cursor of this table (a subquery, a self-join, a statement
    ** left open), or this one filtered again: deletes can no longer be
    ** told apart. */
    runGiveUp(r);
  }
}

void kvrangeOnScanStart(KvVtab *p, KvCursor *pCur){
  KvRun *r = &p->run;
  if( r->pCur==pCur && r->eState==KVRUN_PENDING ){
    r->eState = KVRUN_SCANNING;
    r->nScanMark = batchCount(p);
    pCur->bRun = 1;
    pCur->nRunRow = 0;
    pCur->iRunSum = 0;
    pCur->nRunStep = 0;
    pCur->nRunKey = 0;
  }
}

int kvrangeOnScanEnd(KvCursor *pCur, int bError){
  KvVtab *p = (KvVtab*)pCur->base.pVtab;
  KvRun *r = &p->run;
  pCur->bRun = 0;
  if( r->pCur!=pCur || r->eState!=KVRUN_SCANNING ) return SQLITE_OK;
  if( bError ){
    runGiveUp(r);
    return SQLITE_OK;
  }
  r->eState = KVRUN_COMPLETE;
  /* Deletes made while scanning (a statement that deletes each row as
  ** it visits it) may already cover every row. */
  if( r->nDel>0 && r->nDel==pCur->nRunRow ) return runCollapse(p);
  return SQLITE_OK;
}

void kvrangeOnClose(KvVtab *p, KvCursor *pCur){
  if( p->run.pCur==pCur ) runReset(&p->run);
}

void kvrangeFree(KvVtab *p){
  sqlite3_free(p->run.aFirst);
  sqlite3_free(p->run.aLast);
  memset(&p->run, 0, sizeof(p->run));
}

/****************************************************************************
** kvstore_delete_range(t, lo, hi)
*/

int kvrangeRunCommand(sqlite3 *db, KvVtab *p, const char *zCmd,
                      sqlite3_value *pKey, sqlite3_value *pValue,
                      char **pzErr){
  sqlite3_stmt *pStmt = 0;
  char *zSql;
  int rc;

  /* The INSERT of a command row on the table itself, so that the command
  ** joins the caller's transaction (the file's comment). */
  zSql = sqlite3_mprintf("INSERT INTO \"%w\".\"%w\"(" KVVTAB_COMMAND_NAME
                         ", key, value) VALUES(%Q, ?1, ?2)",
                         p->zSchema, p->zName, zCmd);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
  if( rc==SQLITE_OK ) rc = sqlite3_bind_value(pStmt, 1, pKey);
  if( rc==SQLITE_OK && pValue ) rc = sqlite3_bind_value(pStmt, 2, pValue);
  if( rc==SQLITE_OK ) rc = kvshadowStepWrite(pStmt);
  if( rc!=SQLITE_OK ){
    if( rc==KVSHADOW_IGNORED ){
      *pzErr = sqlite3_mprintf("kvstore: an authorizer "
          "(sqlite3_set_authorizer) answered SQLITE_IGNORE for kvstore's "
          "INSERT of its command row into table %s, through which the "
          "command joins the transaction", p->zName);
    }else{
      rc = sqlite3_errcode(db);
      *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    }
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zSql);
  return rc;
}

static void fnDeleteRange(sqlite3_context *ctx, int argc,
                          sqlite3_value **argv){
  static const char zUsage[] = "kvstore_delete_range(table, lo, hi)";
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  KvVtab *p = 0;
  char *zErr = 0;
  int rc;

  if( argc!=3 ){
    zErr = sqlite3_mprintf("kvstore_delete_range: wrong number of arguments "
                           "(%d); usage: %s", argc, zUsage);
    rc = SQLITE_ERROR;
    goto delete_range_out;
  }
  if( sqlite3_value_type(argv[0])!=SQLITE_TEXT ){
    zErr = sqlite3_mprintf("kvstore_delete_range: the first argument must be "
                           "a table name (text); usage: %s", zUsage);
    rc = SQLITE_ERROR;
    goto delete_range_out;
  }
  rc = kvvtabLookupTable(db, (const char*)sqlite3_value_text(argv[0]), &p,
                         &zErr);
  if( rc==SQLITE_OK ){
    rc = kvrangeRunCommand(db, p, "delete_range", argv[1], argv[2], &zErr);
  }

delete_range_out:
  if( rc!=SQLITE_OK ){
    kvvtabResultError(ctx, rc, zErr);
  }else{
    sqlite3_result_null(ctx);
  }
  sqlite3_free(zErr);
}

int kvrangeFunctionsInit(sqlite3 *db){
  /* It writes a store: never from a trigger or view of a database file. */
  return sqlite3_create_function_v2(db, "kvstore_delete_range", -1,
                                    SQLITE_UTF8 | SQLITE_DIRECTONLY, 0,
                                    fnDeleteRange, 0, 0, 0);
}
