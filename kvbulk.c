/*
** kvbulk.c - sorted loads of the kvstore virtual table written straight
** to an SSTable (doc/ingest.md, "Bulk loads"; engine side: engine/bulk.c).
**
**   INSERT INTO t SELECT key, value FROM src ORDER BY key;   -- any sorted
**   BEGIN; INSERT INTO t VALUES(...); ... COMMIT;            -- run of rows
**
** A transaction whose writes to the table so far are plain INSERTs in
** strictly increasing key order is a candidate. Once KVBULK_MIN such rows
** sit in its batch, and the next one is above them too, the rows move into
** a bulk load (kv_bulk_begin, kv_bulk_take): from then on each sorted
** insert below the first key the store holds above them (the bound: no
** conflict is possible there, so none is checked) goes into the load's
** table at once, not into the batch, the WAL or the memtable. At COMMIT,
** xSync hands the table to the ingest path (kvingest.c: kv_bulk_prepare
** installs it with one manifest edit, by renaming it, and the horizon is
** set to its sequence); xCommit publishes it; ROLLBACK removes it.
**
** Anything else ends the load first, its rows given back to the batch
** (kv_bulk_unload), so the usual path sees every row of the transaction:
** a row that is not a sorted insert below the bound, a read of the table
** (the transaction's reads see its own rows through the batch), a command
** row. ROLLBACK TO a savepoint opened mid-load gives back the rows written
** before the savepoint and drops the rest; savepoint marks count the
** load's rows (kvtxn.c adds kvbulkCount to the batch's count).
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "kv.h"
#include "kvvtab.h"
#include "kvvtabInt.h"

#include <string.h>

/* Sorted inserts in the batch before a load starts (small transactions
** stay in the batch). */
#define KVBULK_MIN 4096

struct KvBulk {
  kv_bulk *pLoad;             /* the load, or NULL */
  sqlite3_int64 nCand;        /* batch rows that are sorted inserts; -1:
                              ** the transaction is no candidate */
  u8 *aLast;                  /* last key of the candidates (of the load:
                              ** kv_bulk_last) */
  int nLast, nLastAlloc;
  u8 *aBound;                 /* first key of the store above them */
  int nBound, nBoundAlloc;
  int bBound;                 /* aBound is set (else no key is above) */
};

static int keySet(u8 **pa, int *pn, int *pnAlloc, const u8 *a, int n){
  if( n>*pnAlloc ){
    int nNew = n<64 ? 64 : n*2;
    u8 *aNew = sqlite3_realloc(*pa, nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    *pa = aNew;
    *pnAlloc = nNew;
  }
  if( n ) memcpy(*pa, a, (size_t)n);
  *pn = n;
  return SQLITE_OK;
}

static KvBulk *bulkState(KvVtab *p){
  if( p->pBulk==0 ){
    p->pBulk = sqlite3_malloc(sizeof(KvBulk));
    if( p->pBulk ) memset(p->pBulk, 0, sizeof(KvBulk));
  }
  return p->pBulk;
}

sqlite3_uint64 kvbulkCount(KvVtab *p){
  return p->pBulk && p->pBulk->pLoad ? kv_bulk_count(p->pBulk->pLoad) : 0;
}

int kvbulkActive(KvVtab *p){
  return p->pBulk!=0 && p->pBulk->pLoad!=0;
}

/* End the load: its first nKeep rows go back to the batch, the rest are
** dropped. No new load in this transaction. */
static int bulkUnload(KvVtab *p, sqlite3_uint64 nKeep){
  KvBulk *s = p->pBulk;
  int rc;
  if( s==0 ) return SQLITE_OK;
  s->nCand = -1;
  if( s->pLoad==0 ) return SQLITE_OK;
  rc = kv_bulk_unload(s->pLoad, nKeep, p->pBatch);
  s->pLoad = 0;
  if( rc!=KV_OK ){
    /* The batch holds part of the rows: the transaction must not commit
    ** (xSync sees bFailed through kvbulkSyncCheck). */
    p->bBulkFailed = 1;
    return kvvtabEngineError(&p->base, rc, "ending a bulk load");
  }
  return SQLITE_OK;
}

int kvbulkStop(KvVtab *p){
  return bulkUnload(p, kvbulkCount(p));
}

void kvbulkRollbackTo(KvVtab *p, sqlite3_uint64 nMark){
  if( kvbulkActive(p) && nMark<kvbulkCount(p) ){
    bulkUnload(p, nMark);
  }else if( p->pBulk ){
    p->pBulk->nCand = -1;
  }
}

int kvbulkBeforeWrite(KvVtab *p, int argc, sqlite3_value **argv){
  int bInsert = argc>1 && sqlite3_value_type(argv[0])==SQLITE_NULL
             && (argc<=2+KVVTAB_COL_COMMAND
                 || sqlite3_value_type(argv[2+KVVTAB_COL_COMMAND])
                    ==SQLITE_NULL);
  if( bInsert ) return SQLITE_OK;
  if( p->pBulk ) p->pBulk->nCand = -1;
  return kvbulkActive(p) ? kvbulkStop(p) : SQLITE_OK;
}

/* Start a load with the candidates of the batch, above which the store's
** next key (at the latest state: this connection writes, holding the
** database's write lock) becomes the bound. *pbStarted 0: not now. */
static int bulkStart(KvVtab *p, int *pbStarted){
  KvBulk *s = p->pBulk;
  const kv_snapshot *pSnap = 0;
  kv_iter *pIt = 0;
  int rc;
  *pbStarted = 0;
  /* Other processes' commits up to the horizon first: the load takes the
  ** sequence after them. */
  rc = kvtxnReadSnapshot(p, &pSnap);
  if( rc!=SQLITE_OK ) return rc;
  rc = kv_iter_new(p->pKv, pSnap, 0, &pIt);
  if( rc==KV_OK ) rc = kv_iter_seek(pIt, s->aLast, (size_t)s->nLast);
  while( rc==KV_OK && kv_iter_valid(pIt) ){
    size_t n = 0;
    const u8 *a = kv_iter_key(pIt, &n);
    if( kvrowKeyCompare(a, n, s->aLast, (size_t)s->nLast)>0 ){
      rc = keySet(&s->aBound, &s->nBound, &s->nBoundAlloc, a, (int)n);
      if( rc!=SQLITE_OK ){
        kv_iter_free(pIt);
        return rc;
      }
      s->bBound = 1;
      break;
    }
    rc = kv_iter_next(pIt);
  }
  if( rc==KV_OK && !kv_iter_valid(pIt) ) s->bBound = 0;
  kv_iter_free(pIt);
  if( rc!=KV_OK ) return kvvtabEngineError(&p->base, rc, "starting a bulk load");
  rc = kv_bulk_begin(p->pKv, &s->pLoad);
  if( rc==KV_OK ){
    rc = kv_bulk_take(s->pLoad, p->pBatch);
    if( rc!=KV_OK ){
      kv_bulk_free(s->pLoad);
      s->pLoad = 0;
    }
  }
  if( rc!=KV_OK ){
    /* Not started: the rows are still in the batch (kv_bulk_take clears
    ** it only on success); the transaction goes on without a load. */
    s->nCand = -1;
    return SQLITE_OK;
  }
  *pbStarted = 1;
  return SQLITE_OK;
}

int kvbulkInsert(KvVtab *p, const u8 *aKey, int nKey, const u8 *aVal,
                 size_t nVal, int *pbDone){
  KvBulk *s = bulkState(p);
  int rc;
  *pbDone = 0;
  if( s==0 ) return SQLITE_NOMEM;
  if( s->nCand<0 ) return SQLITE_OK;
  if( s->pLoad==0 ){
    int bAbove = s->nCand==0
        || kvrowKeyCompare(aKey, (size_t)nKey, s->aLast, (size_t)s->nLast)>0;
    int bStarted = 0;
    if( !bAbove || (sqlite3_int64)kv_batch_count(p->pBatch)!=s->nCand ){
      s->nCand = -1;
      return SQLITE_OK;
    }
    if( s->nCand>=KVBULK_MIN ){
      rc = bulkStart(p, &bStarted);
      if( rc!=SQLITE_OK ) return rc;
    }
    if( !bStarted ){
      if( s->nCand<0 ) return SQLITE_OK;
      s->nCand++;
      return keySet(&s->aLast, &s->nLast, &s->nLastAlloc, aKey, nKey);
    }
  }
  /* The load: above its last row and below the bound. */
  {
    size_t nPrev = 0;
    const u8 *aPrev = (const u8*)kv_bulk_last(s->pLoad, &nPrev);
    if( (aPrev && kvrowKeyCompare(aKey, (size_t)nKey, aPrev, nPrev)<=0)
     || (s->bBound && kvrowKeyCompare(aKey, (size_t)nKey, s->aBound,
                                      (size_t)s->nBound)>=0) ){
      return kvbulkStop(p);
    }
  }
  rc = kv_bulk_add(s->pLoad, aKey, (size_t)nKey, aVal, nVal);
  if( rc!=KV_OK ){
    kv_bulk_free(s->pLoad);
    s->pLoad = 0;
    s->nCand = -1;
    p->bBulkFailed = 1;
    return kvvtabEngineError(&p->base, rc, "bulk loading");
  }
  *pbDone = 1;
  return SQLITE_OK;
}

int kvbulkPrepare(KvVtab *p, kv_ingest_job **ppJob){
  KvBulk *s = p->pBulk;
  int rc;
  *ppJob = 0;
  if( p->bBulkFailed ){
    kvvtabSetError(&p->base, "kvstore: a bulk load into table %s failed "
                   "earlier in this transaction: it cannot commit", p->zName);
    return SQLITE_ERROR;
  }
  if( s==0 || s->pLoad==0 ) return SQLITE_OK;
  rc = kv_bulk_prepare(p->pKv, s->pLoad, ppJob);
  s->pLoad = 0;
  if( rc!=KV_OK ) return kvvtabEngineError(&p->base, rc, "committing a bulk load");
  return SQLITE_OK;
}

void kvbulkEnd(KvVtab *p){
  KvBulk *s = p->pBulk;
  p->bBulkFailed = 0;
  if( s==0 ) return;
  if( s->pLoad ) kv_bulk_free(s->pLoad);
  s->pLoad = 0;
  s->nCand = 0;
  s->nLast = 0;
  s->bBound = 0;
}

void kvbulkFree(KvVtab *p){
  KvBulk *s = p->pBulk;
  if( s==0 ) return;
  if( s->pLoad ) kv_bulk_free(s->pLoad);
  sqlite3_free(s->aLast);
  sqlite3_free(s->aBound);
  sqlite3_free(s);
  p->pBulk = 0;
}
