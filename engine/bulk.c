/*
** bulk.c - sorted loads written straight to an SSTable (kv_bulk_*;
** doc/ingest.md, "Bulk loads").
**
** A caller that holds the store's writer (the SQL layer: the writer lock
** of the engine and the database's write lock) and knows that the rows it
** is about to add arrive in strictly increasing key order, none of them
** present in the store, adds them here instead of to a batch: each row
** goes into a table builder at once (no WAL record, no memtable, bounded
** memory: a new table every kvBulkTableEntries rows, so no builder holds
** more than that many bloom hashes and index entries), every entry at the
** sequence S the transaction will commit at
** (kv_last_seq() + 1 when the load began). At commit, kv_bulk_prepare
** finishes the tables and hands them to ingest.c, which installs it by
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
**
** The table is built on a second thread. kv_bulk_add checks the order and
** copies the row into a chunk; a full chunk (BULK_CHUNK bytes) goes to the
** builder thread, which encodes blocks, hashes them for the Merkle root,
** builds the bloom filter and writes, while the caller produces the next
** rows. At most three chunks exist (the one being filled, one handed over,
** the one being built), so memory stays bounded. The thread starts with
** the first full chunk: a load smaller than that is built by the caller at
** kv_bulk_prepare. A failure on the builder thread is sticky, and the next
** hand-over or the finish reports it with the thread's message.
*/
#include "kvInt.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#define BULK_FILE_BASE 1000000000000000ULL
#define BULK_CHUNK (1u<<20)     /* rows handed to the builder at once */

struct kv_bulk {
  kv_db *db;
  KvSstBuilder *pB;             /* the table being written, or NULL */
  char **azPath;                /* "<dir>/<n>.sst" of each table, in key
                                ** order; pB writes the last one */
  int nPath, nPathAlloc;
  u64 nInTable;                 /* rows in pB's table */
  u64 iSeq;                     /* S */
  u64 nEntry;                   /* rows added */
  KvBuf last;                   /* user key of the last row added */
  KvBuf cur;                    /* rows not handed over yet: for each,
                                ** u32 nKey, u32 nVal, key, value */
  int rcSticky;                 /* a failed add: the load is lost */
  int bFinished;                /* bulkFinish ran: no more rows */
  /* The builder thread (bThread), and what it shares with the caller */
  int bThread;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  KvBuf slot;                   /* a full chunk handed over (mu) */
  int bEnd;                     /* no more chunks (mu) */
  int bAbort;                   /* drop what is left (mu) */
  int rcBuild;                  /* the builder's first failure (mu) */
  char *zBuildErr;              /* and its message (mu) */
  KvBuf key;                    /* internal key being added (builder) */
  KvBuf work;                   /* the chunk being built (builder) */
};

static _Atomic u64 gBulkCounter = 0;

u64 kvBulkTableEntries = (u64)1<<20;

/* Start the load's next table: a new temporary number and builder. */
static int bulkNewTable(kv_bulk *p){
  kv_db *db = p->db;
  KvSstConfig cfg;
  u64 iFile = BULK_FILE_BASE + ((u64)getpid()<<16)
            + (atomic_fetch_add(&gBulkCounter, 1) & 0xffff);
  char *zPath;
  int rc = kvGrowArray((void**)&p->azPath, &p->nPathAlloc, p->nPath+1,
                       sizeof(char*));
  if( rc!=KV_OK ) return rc;
  zPath = kvSstPath(db->zDir, iFile);
  if( zPath==0 ) return kvErrNoMem();
  p->azPath[p->nPath++] = zPath;
  p->nInTable = 0;
  kvSstConfigFromOptions(db->pOpts, &cfg);
  return kvSstBuilderNew(db->pEnv, zPath, &cfg,
                         db->pEnv->xNowMicros(db->pEnv), &p->pB);
}

/* Finish pB's table, if any. */
static int bulkEndTable(kv_bulk *p){
  KvSstMeta meta;
  int rc;
  if( p->pB==0 ) return KV_OK;
  memset(&meta, 0, sizeof(meta));
  rc = kvSstBuilderFinish(p->pB, &meta);
  p->pB = 0;
  kvSstMetaFree(&meta);
  return rc;
}

int kv_bulk_begin(kv_db *db, kv_bulk **ppBulk){
  kv_bulk *p;
  int rc;
  *ppBulk = 0;
  if( db->bReadOnly ) return kvDbReadOnlyErr(db);
  p = (kv_bulk*)kvMallocZero(sizeof(*p));
  if( p==0 ) return kvErrNoMem();
  p->db = db;
  p->iSeq = atomic_load(&db->lastSeq) + 1;
  rc = bulkNewTable(p);
  if( rc!=KV_OK ){
    kv_bulk_free(p);
    return rc;
  }
  *ppBulk = p;
  return KV_OK;
}

/* Add the rows of chunk a[0..n) to the table. Runs on the builder
** thread, or on the caller's when there is none. */
static int buildChunk(kv_bulk *p, const u8 *a, size_t n){
  size_t i = 0;
  int rc = KV_OK;
  while( rc==KV_OK && i<n ){
    u32 nKey, nVal;
    memcpy(&nKey, a+i, 4);
    memcpy(&nVal, a+i+4, 4);
    i += 8;
    if( p->nInTable>=kvBulkTableEntries ){
      /* The next table: bounds what one builder holds (its bloom
      ** filter's hashes and its index) whatever the load's size. */
      rc = bulkEndTable(p);
      if( rc==KV_OK ) rc = bulkNewTable(p);
      if( rc!=KV_OK ) break;
    }
    p->key.n = 0;
    rc = kvIKeyAppend(&p->key, a+i, nKey, p->iSeq, KV_TYPE_PUT);
    if( rc==KV_OK ){
      rc = kvSstBuilderAdd(p->pB, p->key.a, p->key.n, a+i+nKey, nVal);
    }
    p->nInTable++;
    i += (size_t)nKey + nVal;
  }
  return rc;
}

static void *builderMain(void *pArg){
  kv_bulk *p = (kv_bulk*)pArg;
  int rc = KV_OK;
  pthread_mutex_lock(&p->mu);
  for(;;){
    KvBuf t;
    while( p->slot.n==0 && !p->bEnd ) pthread_cond_wait(&p->cv, &p->mu);
    if( p->slot.n==0 || p->bAbort ) break;
    t = p->work;                        /* take the chunk, leave a buffer */
    p->work = p->slot;
    p->slot = t;
    p->slot.n = 0;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if( rc==KV_OK ){
      rc = buildChunk(p, p->work.a, p->work.n);
      if( rc!=KV_OK ){
        char *z = kvStrdup(kvErrMsg());
        pthread_mutex_lock(&p->mu);
        p->rcBuild = rc;
        p->zBuildErr = z;
        pthread_mutex_unlock(&p->mu);
      }
    }
    p->work.n = 0;
    pthread_mutex_lock(&p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  return 0;
}

/* The builder's failure as this thread's error, or KV_OK.
** REQUIRES: mu held, or the builder joined. */
static int buildError(kv_bulk *p){
  if( p->rcBuild==KV_OK ) return KV_OK;
  return kvErr(p->rcBuild, "%s", p->zBuildErr ? p->zBuildErr
               : "kvstore: the bulk load's table could not be written");
}

/* Hand the full chunk p->cur to the builder thread (started on first
** use), waiting while it still has the one handed over before. */
static int handOver(kv_bulk *p){
  KvBuf t;
  int rc;
  if( !p->bThread ){
    if( pthread_mutex_init(&p->mu, 0) ) return kvErrNoMem();
    if( pthread_cond_init(&p->cv, 0) ){
      pthread_mutex_destroy(&p->mu);
      return kvErrNoMem();
    }
    if( pthread_create(&p->thread, 0, builderMain, p) ){
      pthread_cond_destroy(&p->cv);
      pthread_mutex_destroy(&p->mu);
      return kvErr(KV_IOERR, "kvstore: could not start the bulk load's "
                   "builder thread for '%s'", p->db->zDir);
    }
    p->bThread = 1;
  }
  pthread_mutex_lock(&p->mu);
  while( p->slot.n>0 && p->rcBuild==KV_OK ) pthread_cond_wait(&p->cv, &p->mu);
  rc = buildError(p);
  if( rc==KV_OK ){
    t = p->slot;
    p->slot = p->cur;
    p->cur = t;
    p->cur.n = 0;
    pthread_cond_broadcast(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

/* Stop the builder thread, after it built every chunk (bAbort: at once). */
static void stopBuilder(kv_bulk *p, int bAbort){
  if( !p->bThread ) return;
  pthread_mutex_lock(&p->mu);
  p->bEnd = 1;
  p->bAbort = bAbort;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->thread, 0);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  p->bThread = 0;
}

int kv_bulk_add(kv_bulk *p, const void *pKey, size_t nKey, const void *pVal,
                size_t nVal){
  u32 aLen[2];
  int rc;
  if( p->rcSticky ) return kvErr(p->rcSticky, "kvstore: the bulk load into "
                                 "'%s' failed earlier", p->db->zDir);
  if( p->nEntry>0 && kvUKeyCmp(p->last.a, p->last.n, pKey, nKey)>=0 ){
    return kvErr(KV_MISUSE, "kvstore: kv_bulk_add: keys out of order");
  }
  if( nKey>0xffffffffu || nVal>0xffffffffu ){
    return kvErr(KV_MISUSE, "kvstore: kv_bulk_add: a row of %zu + %zu "
                 "bytes is too large", nKey, nVal);
  }
  aLen[0] = (u32)nKey;
  aLen[1] = (u32)nVal;
  rc = kvBufSet(&p->last, pKey, nKey);
  if( rc==KV_OK ) rc = kvBufReserve(&p->cur, 8 + nKey + nVal);
  if( rc==KV_OK ){
    memcpy(p->cur.a + p->cur.n, aLen, 8);
    memcpy(p->cur.a + p->cur.n + 8, pKey, nKey);
    if( nVal ) memcpy(p->cur.a + p->cur.n + 8 + nKey, pVal, nVal);
    p->cur.n += 8 + nKey + nVal;
    if( p->cur.n>=BULK_CHUNK ) rc = handOver(p);
  }
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
  *pnKey = p->last.n;
  return p->last.a;
}

uint64_t kv_bulk_seq(const kv_bulk *p){
  return p ? p->iSeq : 0;
}

void kv_bulk_free(kv_bulk *p){
  KvErrSave save;
  int i;
  if( p==0 ) return;
  stopBuilder(p, 1);
  kvErrSave(&save);
  if( p->pB ) kvSstBuilderAbandon(p->pB);     /* removes the last table */
  for(i=0; i<p->nPath - (p->pB!=0); i++){
    /* An installed table was renamed away: its unlink fails, unseen. */
    p->db->pEnv->xUnlink(p->db->pEnv, p->azPath[i]);
  }
  kvErrRestore(&save, 0);
  for(i=0; i<p->nPath; i++) kvFree(p->azPath[i]);
  kvFree(p->azPath);
  kvBufFree(&p->key);
  kvBufFree(&p->last);
  kvBufFree(&p->cur);
  kvBufFree(&p->slot);
  kvBufFree(&p->work);
  kvFree(p->zBuildErr);
  kvFree(p);
}

/* Finish the tables (once). */
static int bulkFinish(kv_bulk *p){
  int rc;
  if( p->rcSticky ) return kvErr(p->rcSticky, "kvstore: the bulk load into "
                                 "'%s' failed earlier", p->db->zDir);
  if( p->bFinished ) return KV_OK;
  p->bFinished = 1;
  /* The rows not built yet: the last chunk and what the thread holds
  ** (until it is stopped, only the thread touches pB and azPath) */
  if( p->bThread ){
    rc = p->cur.n>0 ? handOver(p) : KV_OK;
    stopBuilder(p, rc!=KV_OK);
    if( rc==KV_OK ) rc = buildError(p);
  }else{
    rc = buildChunk(p, p->cur.a, p->cur.n);
  }
  p->cur.n = 0;
  if( rc==KV_OK ) rc = bulkEndTable(p);
  if( rc!=KV_OK ) p->rcSticky = rc;
  return rc;
}

int kv_bulk_unload(kv_bulk *p, uint64_t nKeep, kv_batch *b){
  u64 i = 0;
  int iTable;
  int rc = KV_OK;
  if( nKeep>0 ) rc = bulkFinish(p);
  for(iTable=0; rc==KV_OK && i<nKeep && iTable<p->nPath; iTable++){
    KvSst *pSst = 0;
    KvIter *pIt = 0;
    rc = kvSstOpen(p->db->pEnv, p->azPath[iTable], 0, 0, &pSst);
    if( rc==KV_OK ) rc = kvSstIterNew(pSst, KV_SST_BULK, &pIt);
    if( rc==KV_OK ) rc = pIt->pMethods->xFirst(pIt);
    while( rc==KV_OK && i<nKeep && kvIterValid(pIt) ){
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
  }
  kv_bulk_free(p);
  return rc;
}

int kv_bulk_prepare(kv_db *db, kv_bulk *p, kv_ingest_job **ppIng){
  int rc = bulkFinish(p);
  *ppIng = 0;
  if( rc==KV_OK ){
    rc = kvIngestPrepareOwned(db, (const char *const*)p->azPath, p->nPath,
                              p->iSeq, ppIng);
  }
  /* Installed (renamed away) or copied: what is left at the paths goes. */
  kv_bulk_free(p);
  return rc;
}
