/*
** db_write.c - the write path: the writer queue and group commit (one
** leader appends the group to the WAL and applies it to the memtable),
** two-phase commit (kv_prepare, kv_commit_prepared, kv_abort_prepared),
** kv_put, kv_delete and kv_flush.
*/
#include "kvInt.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define GROUP_MAX_BYTES (1u<<20)    /* largest group commit */

/* Kinds of queued writer (KvWriter.eKind). */
#define WRITER_PLAIN   0        /* kv_write: append, apply, publish */
#define WRITER_PREPARE 1        /* kv_prepare: append a PREPARED record */
#define WRITER_APPLY   2        /* kv_commit_prepared: apply, publish */
#define WRITER_CATCHUP 3        /* kv_catch_up: apply what other processes
                                ** committed (shared.c) */

struct KvWriter {
  kv_batch *pBatch;             /* NULL: kv_flush's forced switch */
  int eKind;                    /* WRITER_* */
  u64 iSeq;                     /* PREPARE, APPLY: first sequence (0 on a
                                ** first PREPARE: set by the leader) */
  int bDone;                    /* finished by a leader */
  int rc;                       /* its result */
  int bPrepBusy;                /* refused: another transaction's PREPARED
                                ** record awaits its commit */
  int bSpill;                   /* PREPARE, APPLY of a spilled batch */
  int bSync;                    /* PREPARE: fsync the record (the caller's
                                ** choice, kv_prepare_sync) */
  char zErr[512];               /* message when rc!=KV_OK */
  pthread_cond_t cv;
  KvWriter *pNext;
};

/* ---------------------------------------------------------------------- */
/* Writes.                                                                 */

/*
** Applying a batch to a memtable. Its operations take the sequences
** firstSeq, firstSeq+1, ... in batch order, but are linked in key order:
** kvMemAdd searches from the node it linked last when the next key is
** above it (memtable.c), so a sorted run finds each insertion point a
** few cache-warm nodes on instead of in a descent from the head through
** nodes no recent search touched. Nothing is visible before the caller
** publishes the batch's last sequence, so the order of linking is not
** observable. Runs of up to APPLY_RUN operations are sorted at a time
** (bounded memory for a batch of any size); a small batch, or a failed
** allocation, is linked in batch order.
*/
#define APPLY_RUN      4096
#define APPLY_SORT_MIN 16

typedef struct ApplyOp ApplyOp;
struct ApplyOp {
  u64 prefix;                   /* kvKeyPrefix8 of the key */
  u64 seq;
  const u8 *pKey, *pVal;
  size_t nKey, nVal;
  int eType;
};

typedef struct MemApply MemApply;
struct MemApply {
  KvMem *pMem;
  u64 seq;                      /* sequence of the next operation */
  ApplyOp *aOp;                 /* the run being gathered, or NULL */
  int nOp;
};

/* Internal key order: user key ascending, then newest (largest sequence)
** first, as the memtable orders them. */
static int applyOpCmp(const void *pA, const void *pB){
  const ApplyOp *a = pA, *b = pB;
  int c;
  if( a->prefix!=b->prefix ) return a->prefix<b->prefix ? -1 : 1;
  c = kvUKeyCmp(a->pKey, a->nKey, b->pKey, b->nKey);
  if( c ) return c;
  return a->seq>b->seq ? -1 : (a->seq<b->seq ? 1 : 0);
}

static int applyRun(MemApply *p){
  int rc = KV_OK;
  int i;
  qsort(p->aOp, (size_t)p->nOp, sizeof(ApplyOp), applyOpCmp);
  for(i=0; rc==KV_OK && i<p->nOp; i++){
    const ApplyOp *o = &p->aOp[i];
    rc = kvMemAdd(p->pMem, o->seq, o->eType, o->pKey, o->nKey, o->pVal,
                  o->nVal);
  }
  p->nOp = 0;
  return rc;
}

static int applyOp(void *pCtx, int eType, const u8 *pKey, size_t nKey,
                   const u8 *pVal, size_t nVal){
  MemApply *p = (MemApply*)pCtx;
  ApplyOp *o;
  if( p->aOp==0 ){
    return kvMemAdd(p->pMem, p->seq++, eType, pKey, nKey, pVal, nVal);
  }
  o = &p->aOp[p->nOp++];
  o->prefix = kvKeyPrefix8(pKey, nKey, 0);
  o->seq = p->seq++;
  o->pKey = pKey;
  o->nKey = nKey;
  o->pVal = pVal;
  o->nVal = nVal;
  o->eType = eType;
  return p->nOp==APPLY_RUN ? applyRun(p) : KV_OK;
}

int kvDbMemApply(KvMem *pMem, u64 firstSeq, const u8 *pRep, size_t nRep,
                 u32 nCount){
  MemApply a;
  int rc;
  a.pMem = pMem;
  a.seq = firstSeq;
  a.aOp = 0;
  a.nOp = 0;
  if( nCount>=APPLY_SORT_MIN ){
    a.aOp = kvMalloc(sizeof(ApplyOp)*(nCount<APPLY_RUN ? nCount : APPLY_RUN));
  }
  rc = kvBatchDecode(pRep, nRep, nCount, applyOp, &a);
  if( rc==KV_OK && a.nOp>0 ) rc = applyRun(&a);
  kvFree(a.aOp);
  return rc;
}

static int checkSizes(kv_db *db, kv_batch *b){
  size_t nKey = 0, nVal = 0;
  kvBatchMaxLens(b, &nKey, &nVal);
  if( nKey>db->pOpts->nMaxKey ){
    return kvErr(KV_TOOBIG, "kvstore: key of %zu bytes exceeds max_key_size "
                 "(%" PRIu64 ")", nKey, db->pOpts->nMaxKey);
  }
  if( nVal>db->pOpts->nMaxValue ){
    return kvErr(KV_TOOBIG, "kvstore: value of %zu bytes exceeds "
                 "max_value_size (%" PRIu64 ")", nVal, db->pOpts->nMaxValue);
  }
  return KV_OK;
}

/* Queue w and run the write path for it (and, as leader, for those queued
** behind it). */
static int writeQueued(kv_db *db, KvWriter *w){
  KvWriter *pLast = w;
  KvWriter *p;
  int bSticky = 0;
  int bWriterLock = 0;
  int rc;

  if( kvDbInherited(db) ) return kvDbInheritedErr(db);
  pthread_cond_init(&w->cv, 0);
  w->bDone = 0;
  w->rc = KV_OK;
  w->pNext = 0;
  kvDbLock(db);
  if( db->pWriterTail ) db->pWriterTail->pNext = w; else db->pWriterHead = w;
  db->pWriterTail = w;
  while( !w->bDone && db->pWriterHead!=w ){
    pthread_cond_wait(&w->cv, &db->mutex);
  }
  if( w->bDone ){
    kvDbUnlock(db);
    pthread_cond_destroy(&w->cv);
    if( w->rc ) kvErr(w->rc, "%s", w->zErr);
    return w->rc;
  }

  /* Leader. While a PREPARED record awaits its commit, nothing else may
  ** take sequence numbers or switch the memtable (which would let a flush
  ** retire the segment holding the record): only that transaction's own
  ** retried prepare, its apply, or reads. */
  rc = KV_OK;
  if( w->eKind==WRITER_CATCHUP ){
    kvDbUnlock(db);
    rc = kvSharedCatchUp(db, w->iSeq);
    kvDbLock(db);
  }else if( db->bPrepared && (w->eKind==WRITER_PLAIN
                        || (w->eKind==WRITER_PREPARE
                            && w->iSeq!=db->iPrepSeq)) ){
    rc = kvErr(KV_BUSY, "kvstore: '%s' has a prepared transaction waiting "
               "for its commit", db->zDir);
    w->bPrepBusy = 1;
  }else if( w->eKind==WRITER_APPLY
         && (!db->bPrepared || db->iPrepSeq!=w->iSeq) ){
    rc = kvErr(KV_MISUSE, "kvstore: no prepared transaction at sequence %"
               PRIu64 " in '%s'", w->iSeq, db->zDir);
  }
  /* Appends from several processes go one at a time, each where the last
  ** record ended (shared.c). */
  if( rc==KV_OK && db->pShm
   && (w->eKind==WRITER_PLAIN || w->eKind==WRITER_PREPARE) ){
    kvDbUnlock(db);
    rc = kvSharedWriterLock(db);
    if( rc==KV_OK ){
      bWriterLock = 1;
      /* Plain writes (no database holds a horizon): everything another
      ** process appended is committed. With a horizon the caller caught
      ** up to it (kv_catch_up) under the database's write lock. */
      if( !db->pOpts->bHorizon ) rc = kvSharedCatchUp(db, KV_MAX_SEQ);
    }
    kvDbLock(db);
    if( rc==KV_OK ) rc = kvSharedWalPosition(db);
  }
  /* An apply needs no room: kv_prepare made it. */
  if( rc==KV_OK && w->eKind!=WRITER_APPLY && w->eKind!=WRITER_CATCHUP ){
    rc = kvDbMakeRoom(db, w->pBatch==0);
  }
  if( rc==KV_OK && w->bSpill ){
    /* A spilled batch commits as a table (spill.c). */
    rc = w->eKind==WRITER_PREPARE ? kvSpillPrepareLocked(db, w->pBatch, &w->iSeq)
                                  : kvSpillApplyLocked(db, w->pBatch, w->iSeq);
  }else if( rc==KV_OK && w->pBatch && w->eKind!=WRITER_CATCHUP ){
    u64 iEndBefore = db->pWal ? kvWalEnd(db->pWal) : 0;
    size_t nGroup = 0;
    u64 seq = atomic_load(&db->lastSeq) + 1;
    u64 nUser = 0;
    u64 nCommit = 0;              /* batches in this group */
    KvWal *pWal = db->pWal;
    KvMem *pMem = db->pMem;
    u64 iNext;                    /* sequence of the next operation */
    /* Take the batches queued behind us, up to a size limit, stopping at a
    ** kv_flush request. */
    if( w->eKind!=WRITER_PLAIN && w->iSeq ) seq = w->iSeq;
    for(p=w; p && p->pBatch; p=p->pNext){
      size_t n = 0;
      kvBatchRep(p->pBatch, &n);
      if( p!=w && nGroup+n>GROUP_MAX_BYTES ) break;
      /* Two-phase steps go alone. */
      if( p!=w && (w->eKind!=WRITER_PLAIN || p->eKind!=WRITER_PLAIN) ) break;
      nGroup += n;
      pLast = p;
    }
    kvDbUnlock(db);

    iNext = seq;
    for(p=w; rc==KV_OK && w->eKind!=WRITER_APPLY; p=p->pNext){
      size_t n = 0;
      const u8 *a = kvBatchRep(p->pBatch, &n);
      u32 nOp = (u32)kv_batch_count(p->pBatch);
      u32 mFlag = w->eKind==WRITER_PREPARE ? KV_WAL_PREPARED : 0;
      rc = kvWalAppend(pWal, iNext, db->pEnv->xNowMicros(db->pEnv),
                       nOp | mFlag, a, n, 0);
      iNext += nOp;
      nUser += n;
      nCommit++;
      if( p==pLast ) break;
    }
    if( w->eKind==WRITER_APPLY ){
      size_t n = 0;
      kvBatchRep(w->pBatch, &n);
      nUser = n;
      nCommit = 1;
    }
    /* A failed append was cut back out of the WAL by wal.c: that commit
    ** fails and later ones may succeed. Failures past this point are
    ** sticky. */
    if( rc==KV_OK && w->eKind!=WRITER_APPLY
     && (w->eKind==WRITER_PREPARE ? w->bSync
                                  : db->pOpts->eSync==KV_SYNC_FULL) ){
      rc = kvWalSync(pWal);
      atomic_fetch_add(&db->nSyncs, 1);
      bSticky = rc!=KV_OK;
    }
    iNext = seq;
    for(p=w; rc==KV_OK && w->eKind!=WRITER_PREPARE; p=p->pNext){
      size_t n = 0;
      const u8 *a = kvBatchRep(p->pBatch, &n);
      u32 nOp = (u32)kv_batch_count(p->pBatch);
      rc = kvDbMemApply(pMem, iNext, a, n, nOp);
      iNext += nOp;
      bSticky = rc!=KV_OK;
      if( p==pLast ) break;
    }

    kvDbLock(db);
    if( w->eKind!=WRITER_APPLY ) kvSharedWalWritten(db, iEndBefore);
    if( rc==KV_OK && w->eKind==WRITER_PREPARE ){
      /* Not visible, not published: kv_commit_prepared does that. */
      db->bPrepared = 1;
      db->iPrepSeq = seq;
      w->iSeq = seq;
    }else if( rc==KV_OK ){
      if( w->eKind==WRITER_APPLY ){
        db->bPrepared = 0;
        pthread_cond_broadcast(&db->cvWriterLock);   /* kv_snapshot_at */
      }
      atomic_store(&db->lastSeq, iNext - 1);
      atomic_fetch_add(&db->nUserBytes, nUser);
      atomic_fetch_add(&db->nWrites, nCommit);
      kvSharedPublish(db);
    }else if( (bSticky || rc==KV_READONLY) && db->rcWal==KV_OK ){
      /* After a failed fsync (whose pages the kernel may have dropped), or
      ** a memtable holding half a batch, no later commit may report
      ** success: the sequence is not published and the store refuses
      ** writes until it is reopened, which replays what the WAL holds. */
      db->rcWal = rc==KV_NOMEM ? KV_NOMEM : KV_READONLY;
      db->zWalErr = kvMprintf("kvstore: '%s' is read-only until reopened "
                              "after a failed commit (%s)", db->zDir,
                              kvErrMsg());
    }
  }

  if( bWriterLock ) kvSharedWriterUnlock(db);
  /* Finish the group and hand leadership to the next writer. */
  for(;;){
    KvWriter *pHead = db->pWriterHead;
    db->pWriterHead = pHead->pNext;
    if( db->pWriterHead==0 ) db->pWriterTail = 0;
    if( pHead!=w ){
      pHead->rc = rc;
      if( rc ) snprintf(pHead->zErr, sizeof(pHead->zErr), "%s", kvErrMsg());
      pHead->bDone = 1;
      pthread_cond_signal(&pHead->cv);
    }
    if( pHead==pLast ) break;
  }
  if( db->pWriterHead ) pthread_cond_signal(&db->pWriterHead->cv);
  kvDbUnlock(db);
  pthread_cond_destroy(&w->cv);
  return rc;
}

/* The error of a write on a kv_open_readonly handle. */
int kvDbReadOnlyErr(kv_db *db){
  return kvErr(KV_READONLY, "kvstore: '%s' is open read-only", db->zDir);
}

/* A plain write or a flush waits (up to PREPARED_WAIT_S) for a prepared
** batch to be applied or given up, before queueing: the apply itself goes
** through the queue, so a leader must not wait there. A prepare that
** slips in between still makes writeQueued refuse with KV_BUSY. */
#define PREPARED_WAIT_S 5
static void waitPrepared(kv_db *db){
  struct timespec ts;
  kvDbLock(db);
  if( db->bPrepared ){
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += PREPARED_WAIT_S;
    while( db->bPrepared ){
      if( pthread_cond_timedwait(&db->cvWriterLock, &db->mutex, &ts)!=0 ){
        break;
      }
    }
  }
  kvDbUnlock(db);
}

/* A plain write of b, or kv_flush's switch (b NULL), queued once no
** PREPARED record awaits its commit. Other connections may prepare again
** between the wait and the queue (a busy writer commits back to back), so
** a refusal for that reason waits and tries again, PREPARED_WAIT_S in all. */
static int writeUnprepared(kv_db *db, kv_batch *b){
  KvWriter w;
  int rc;
  struct timespec tEnd, tNow;
  clock_gettime(CLOCK_MONOTONIC, &tEnd);
  tEnd.tv_sec += PREPARED_WAIT_S;
  for(;;){
    waitPrepared(db);
    memset(&w, 0, sizeof(w));
    w.pBatch = b;
    rc = writeQueued(db, &w);
    if( rc!=KV_BUSY || !w.bPrepBusy ) break;
    clock_gettime(CLOCK_MONOTONIC, &tNow);
    if( tNow.tv_sec>tEnd.tv_sec
     || (tNow.tv_sec==tEnd.tv_sec && tNow.tv_nsec>=tEnd.tv_nsec) ) break;
  }
  return rc;
}

int kv_write(kv_db *db, kv_batch *b){
  int rc;
  if( db==0 || b==0 ) return kvErr(KV_MISUSE, "kvstore: kv_write: NULL argument");
  if( db->bReadOnly ) return kvDbReadOnlyErr(db);
  if( kv_batch_count(b)==0 ) return KV_OK;
  rc = checkSizes(db, b);
  if( rc ) return rc;
  if( kvBatchSpill(b) && kvSpillHasRuns(kvBatchSpill(b)) ){
    /* A spilled batch commits only as a prepared table. */
    uint64_t iSeq = 0;
    waitPrepared(db);
    rc = kv_prepare(db, b, &iSeq);
    if( rc==KV_OK ) rc = kv_commit_prepared(db, b, iSeq);
    return rc;
  }
  return writeUnprepared(db, b);
}

/*
** Two-phase commit (kv.h). The PREPARED record goes through the same
** queue as kv_write, alone, so it lands in the WAL in sequence order; its
** sequence numbers are reserved (db->bPrepared) until kv_commit_prepared
** publishes them or kv_abort_prepared gives them back.
*/
int kv_prepare(kv_db *db, kv_batch *b, uint64_t *piSeq){
  return kv_prepare_sync(db, b, piSeq,
                         db && db->pOpts->eSync==KV_SYNC_FULL);
}

int kv_prepare_sync(kv_db *db, kv_batch *b, uint64_t *piSeq, int bSync){
  KvWriter w;
  int rc;
  if( db==0 || b==0 || piSeq==0 ){
    return kvErr(KV_MISUSE, "kvstore: kv_prepare: NULL argument");
  }
  if( kv_batch_count(b)==0 ){
    return kvErr(KV_MISUSE, "kvstore: kv_prepare: empty batch");
  }
  rc = checkSizes(db, b);
  if( rc ) return rc;
  memset(&w, 0, sizeof(w));
  w.pBatch = b;
  w.eKind = WRITER_PREPARE;
  w.iSeq = *piSeq;
  w.bSpill = kvBatchSpill(b) && kvSpillHasRuns(kvBatchSpill(b));
  w.bSync = bSync!=0;
  rc = writeQueued(db, &w);
  if( rc==KV_OK ) *piSeq = w.iSeq;
  return rc;
}

int kv_commit_prepared(kv_db *db, kv_batch *b, uint64_t iSeq){
  KvWriter w;
  if( db==0 || b==0 ){
    return kvErr(KV_MISUSE, "kvstore: kv_commit_prepared: NULL argument");
  }
  memset(&w, 0, sizeof(w));
  w.pBatch = b;
  w.eKind = WRITER_APPLY;
  w.iSeq = iSeq;
  kvDbLock(db);
  w.bSpill = db->pSpillPrep!=0;
  kvDbUnlock(db);
  return writeQueued(db, &w);
}

void kv_abort_prepared(kv_db *db, uint64_t iSeq){
  if( db==0 ) return;
  kvDbLock(db);
  /* The record stays in the WAL: recovery ignores it, since the next
  ** commit reuses its sequence (a later record of the same sequence wins)
  ** and, until then, the caller's horizon stays below it. */
  if( db->bPrepared && db->iPrepSeq==iSeq ){
    kvSpillAbortLocked(db);           /* its table, if it spilled */
    db->bPrepared = 0;
    pthread_cond_broadcast(&db->cvWriterLock);       /* kv_snapshot_at */
  }
  kvDbUnlock(db);
}

/* Apply what other processes committed up to iHorizon (shared.c). No
** queue, no system call when nothing changed. */
int kv_catch_up(kv_db *db, uint64_t iHorizon){
  KvWriter w;
  if( db==0 || db->pShm==0 ) return KV_OK;
  if( iHorizon<=atomic_load(&db->lastSeq)
   && atomic_load(&db->pShm->iManifestGen)==atomic_load(&db->iManifestGen) ){
    return KV_OK;
  }
  memset(&w, 0, sizeof(w));
  w.eKind = WRITER_CATCHUP;
  w.iSeq = iHorizon;
  return writeQueued(db, &w);
}

uint64_t kv_last_seq(kv_db *db){
  return atomic_load(&db->lastSeq);
}

int kv_revoked(kv_db *db, uint64_t *piHorizon, uint64_t *pnBatches,
               uint64_t *pnEntries){
  *piHorizon = db->iRevokeHorizon;
  *pnBatches = db->nRevokedBatches;
  *pnEntries = db->nRevoked;
  if( db->nRevokedBatches==0 && db->nRevoked==0 ) return 0;
  return atomic_exchange(&db->bRevokeTold, 1)==0;
}

/* kv_put and kv_delete write one-operation batches: rather than allocate
** and free one (and its buffers) each time, they reuse a spare batch. Two
** threads writing at once each get a batch; the loser of the race to give
** one back frees it. */
static kv_batch *spareTake(kv_db *db){
  kv_batch *b = atomic_exchange_explicit(&db->pSpareBatch, 0,
                                         memory_order_acquire);
  return b ? b : kv_batch_new();
}
static void spareGive(kv_db *db, kv_batch *b){
  kv_batch_clear(b);
  kv_batch_free(atomic_exchange_explicit(&db->pSpareBatch, b,
                                         memory_order_acq_rel));
}

int kv_put(kv_db *db, const void *pKey, size_t nKey, const void *pVal,
           size_t nVal){
  kv_batch *b = spareTake(db);
  int rc;
  if( b==0 ) return kvErrNoMem();
  rc = kv_batch_put(b, pKey, nKey, pVal, nVal);
  if( rc==KV_OK ) rc = kv_write(db, b);
  spareGive(db, b);
  return rc;
}

int kv_delete(kv_db *db, const void *pKey, size_t nKey){
  kv_batch *b = spareTake(db);
  int rc;
  if( b==0 ) return kvErrNoMem();
  rc = kv_batch_delete(b, pKey, nKey);
  if( rc==KV_OK ) rc = kv_write(db, b);
  spareGive(db, b);
  return rc;
}

int kv_flush(kv_db *db){
  int rc;
  if( db->bReadOnly ) return kvDbReadOnlyErr(db);
  rc = writeUnprepared(db, 0);
  if( rc==KV_OK ){
    kvDbLock(db);
    while( db->pImm && db->rcBg==KV_OK && db->bBgThread ){
      pthread_cond_wait(&db->cvWork, &db->mutex);
    }
    rc = kvDbStickyError(db);
    kvDbUnlock(db);
  }
  kvDbDropSpareIter(db);
  return rc;
}
