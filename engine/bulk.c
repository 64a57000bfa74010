/*
** bulk.c - sorted loads written straight to an SSTable (kv_bulk_*;
** doc/ingest.md, "Bulk loads").
**
** A caller that holds the store's writer (the SQL layer: the writer lock
** of the engine and the database's write lock) and knows that the rows it
** is about to add arrive in strictly increasing key order, none of them
** present in the store, adds them here instead of to a batch: each row
** goes into a table builder at once (no WAL record, no memtable, bounded
** memory), every entry at the sequence S the transaction will commit at
** (kv_last_seq() + 1 when the load began). At commit, kv_bulk_prepare
** finishes the table and hands it to ingest.c, which installs it by
** renaming it (no copy, no second check: the store wrote it) with one
** manifest edit, at the deepest level nothing overlaps: a load into an
** empty key range is never rewritten by compaction on its way down.
** Should S have moved meanwhile (it cannot under the SQL layer's locks),
** the table is copied at the right sequence instead.
**
** The table is built as "<n>.sst" with n far above the store's own file
** numbers (1e15 + the process id * 65536 + a counter), and is renamed to a
** number of the store when installed. A crash leaves it unnamed by any
** manifest, and the next open removes it (db.c, deleteObsoleteFiles).
**
** kv_bulk_unload gives the rows back as a batch (the first nKeep of them):
** for a read of the table inside the transaction, a write that is not a
** sorted insert, or ROLLBACK TO a savepoint taken mid-load.
*/
#include "kvInt.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#define BULK_FILE_BASE 1000000000000000ULL

struct kv_bulk {
  kv_db *db;
  KvSstBuilder *pB;             /* the table being written */
  u64 iFile;                    /* its (temporary) number */
  char *zPath;                  /* "<dir>/<iFile>.sst" */
  u64 iSeq;                     /* S */
  u64 nEntry;                   /* rows added */
  KvBuf key;                    /* internal key of the last row added
                                ** (reused for the next one) */
  int rcSticky;                 /* a failed add: the load is lost */
};

static _Atomic u64 gBulkCounter = 0;

int kv_bulk_begin(kv_db *db, kv_bulk **ppBulk){
  KvSstConfig cfg;
  kv_bulk *p;
  int rc;
  *ppBulk = 0;
  if( db->bReadOnly ) return kvDbReadOnlyErr(db);
  p = (kv_bulk*)kvMallocZero(sizeof(*p));
  if( p==0 ) return kvErrNoMem();
  p->db = db;
  p->iSeq = atomic_load(&db->lastSeq) + 1;
  p->iFile = BULK_FILE_BASE + ((u64)getpid()<<16)
           + (atomic_fetch_add(&gBulkCounter, 1) & 0xffff);
  p->zPath = kvSstPath(db->zDir, p->iFile);
  if( p->zPath==0 ){
    kvFree(p);
    return kvErrNoMem();
  }
  kvSstConfigFromOptions(db->pOpts, &cfg);
  rc = kvSstBuilderNew(db->pEnv, p->zPath, &cfg,
                       db->pEnv->xNowMicros(db->pEnv), &p->pB);
  if( rc!=KV_OK ){
    kvFree(p->zPath);
    kvFree(p);
    return rc;
  }
  *ppBulk = p;
  return KV_OK;
}

int kv_bulk_add(kv_bulk *p, const void *pKey, size_t nKey, const void *pVal,
                size_t nVal){
  int rc;
  if( p->rcSticky ) return kvErr(p->rcSticky, "kvstore: the bulk load into "
                                 "'%s' failed earlier", p->db->zDir);
  /* p->key still holds the previous row's internal key: its user key is
  ** the last one added (no separate copy per row). */
  if( p->nEntry>0
   && kvUKeyCmp(p->key.a, p->key.n - KV_TRAILER, pKey, nKey)>=0 ){
    return kvErr(KV_MISUSE, "kvstore: kv_bulk_add: keys out of order");
  }
  p->key.n = 0;
  rc = kvIKeyAppend(&p->key, pKey, nKey, p->iSeq, KV_TYPE_PUT);
  if( rc==KV_OK ) rc = kvSstBuilderAdd(p->pB, p->key.a, p->key.n, pVal, nVal);
  if( rc==KV_OK ){
    p->nEntry++;
  }else{
    p->rcSticky = rc;
  }
  return rc;
}

/* kvBatchDecode callback: a put of the batch into the load. */
static int takeOp(void *pCtx, int eType, const u8 *pKey, size_t nKey,
                  const u8 *pVal, size_t nVal){
  if( eType!=KV_TYPE_PUT ){
    return kvErr(KV_MISUSE, "kvstore: kv_bulk_take: the batch holds a "
                 "delete");
  }
  return kv_bulk_add((kv_bulk*)pCtx, pKey, nKey, pVal, nVal);
}

int kv_bulk_take(kv_bulk *p, kv_batch *b){
  size_t n = 0;
  const u8 *a = kvBatchRep(b, &n);
  int rc = kvBatchDecode(a, n, (u32)kv_batch_count(b), takeOp, p);
  if( rc==KV_OK ) kv_batch_clear(b);
  return rc;
}

uint64_t kv_bulk_count(const kv_bulk *p){
  return p ? p->nEntry : 0;
}

const void *kv_bulk_last(const kv_bulk *p, size_t *pnKey){
  if( p==0 || p->nEntry==0 || p->rcSticky ){
    *pnKey = 0;
    return 0;
  }
  *pnKey = p->key.n - KV_TRAILER;
  return p->key.a;
}

uint64_t kv_bulk_seq(const kv_bulk *p){
  return p ? p->iSeq : 0;
}

void kv_bulk_free(kv_bulk *p){
  if( p==0 ) return;
  if( p->pB ){
    kvSstBuilderAbandon(p->pB);
  }else if( p->zPath ){
    KvErrSave save;
    kvErrSave(&save);
    p->db->pEnv->xUnlink(p->db->pEnv, p->zPath);
    kvErrRestore(&save, 0);
  }
  kvBufFree(&p->key);
  kvFree(p->zPath);
  kvFree(p);
}

/* Finish the table (once). */
static int bulkFinish(kv_bulk *p){
  KvSstMeta meta;
  int rc;
  if( p->rcSticky ) return kvErr(p->rcSticky, "kvstore: the bulk load into "
                                 "'%s' failed earlier", p->db->zDir);
  if( p->pB==0 ) return KV_OK;
  memset(&meta, 0, sizeof(meta));
  rc = kvSstBuilderFinish(p->pB, &meta);
  p->pB = 0;
  kvSstMetaFree(&meta);
  if( rc!=KV_OK ) p->rcSticky = rc;
  return rc;
}

int kv_bulk_unload(kv_bulk *p, uint64_t nKeep, kv_batch *b){
  KvSst *pSst = 0;
  KvIter *pIt = 0;
  u64 i = 0;
  int rc = KV_OK;
  if( nKeep>0 ) rc = bulkFinish(p);
  if( rc==KV_OK && nKeep>0 ){
    rc = kvSstOpen(p->db->pEnv, p->zPath, 0, 0, &pSst);
  }
  if( rc==KV_OK && pSst ) rc = kvSstIterNew(pSst, KV_SST_BULK, &pIt);
  if( rc==KV_OK && pIt ) rc = pIt->pMethods->xFirst(pIt);
  while( rc==KV_OK && pIt && i<nKeep && kvIterValid(pIt) ){
    const u8 *k, *v;
    size_t nk, nv;
    kvIterKey(pIt, &k, &nk);
    kvIterValue(pIt, &v, &nv);
    rc = kv_batch_put(b, k, nk - KV_TRAILER, v, nv);
    i++;
    if( rc==KV_OK ) rc = pIt->pMethods->xNext(pIt);
  }
  if( pIt ) pIt->pMethods->xClose(pIt);
  if( pSst ) kvSstClose(pSst);
  kv_bulk_free(p);
  return rc;
}

int kv_bulk_prepare(kv_db *db, kv_bulk *p, kv_ingest_job **ppIng){
  int rc = bulkFinish(p);
  *ppIng = 0;
  if( rc==KV_OK ){
    rc = kvIngestPrepareOwned(db, p->zPath, p->iSeq, ppIng);
  }
  /* Installed (renamed away) or copied: what is left at zPath goes. */
  kv_bulk_free(p);
  return rc;
}
