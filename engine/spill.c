/*
** spill.c - transactions of any size: a batch whose in-memory operations
** pass the txn_spill limit writes them to a sorted run on disk, and a
** spilled batch commits as one new level-0 table (doc/spill.md).
**
** A spilled transaction is a small LSM of its own:
**
**   sequence  every operation has a sequence inside the transaction
**             (1, 2, ...), never reused once written to a run;
**   runs      each spill writes the in-memory operations, all versions,
**             as an SSTable "<n>.spill" whose internal keys carry those
**             sequences (the store deletes such files when it opens);
**   marks     kv_batch_count and savepoint marks count operations as
**             before; aSeg maps a mark below the spilled part to its
**             sequence (ROLLBACK TO below the spilled part restarts the
**             numbering of marks, not of sequences);
**   dead      ROLLBACK TO a mark inside the spilled part records the
**             sequences after it as dead intervals: runs are never
**             rewritten, readers skip dead entries.
**
** Reads lay the in-memory part (newest) over the runs, newest run first,
** skipping dead entries: kv_batch_get and the batch iterator see exactly
** what an unspilled batch would hold.
**
** Commit (two-phase, as for any batch; doc/transactions.md). Prepare: the
** memtable is flushed (so every entry it held is in a table older than
** the new one), the merged contents (newest live version per key) are
** written to a new table "<n>.sst" with one sequence S, the last of the
** batch's span (first sequence + kv_batch_count - 1, the horizon the
** caller records), then a small PREPARED WAL record (flag KV_WAL_TABLES)
** that names the table. Commit: one manifest edit adds the table to level
** 0 (newest by its sequence) and sets the last sequence. Recovery installs
** the named table when the record counts (first sequence at or below the
** horizon) and the version lacks it; otherwise the table is an unlisted
** file that the open deletes. Abort deletes it.
*/
#include "kvInt.h"
#include "filename.h"

#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

/* Runs are private to the process that writes them: their names are
** numbered by process id and a counter, never by the store's file
** numbers (which other processes share). */
static _Atomic u64 nRunName = 0;

typedef struct SpillRun SpillRun;
typedef struct SpillSeg SpillSeg;
typedef struct SpillDead SpillDead;

/* One run: an open table of intra-transaction sequences [iFirst, iLast]. */
struct SpillRun {
  _Atomic int nRef;             /* the spill and each iterator */
  KvEnv *pEnv;
  KvSst *pSst;
  char *zPath;                  /* deleted when the last reference goes */
  u64 iFirst, iLast;
};

/* Marks from iMark on map to sequences from iSeq on. */
struct SpillSeg {
  size_t iMark;
  u64 iSeq;
};

/* Sequences in [lo, hi) were rolled back. */
struct SpillDead {
  u64 lo, hi;
};

struct KvSpill {
  kv_db *db;
  u64 nLimit;                   /* spill beyond this many bytes in memory */
  SpillRun **apRun;             /* oldest first */
  int nRun, nRunAlloc;
  size_t nBase;                 /* marks taken by the spilled part */
  u64 iSeqBase;                 /* sequence of in-memory operation 0 */
  SpillSeg *aSeg;               /* ascending iMark; aSeg[0].iMark==0 */
  int nSeg, nSegAlloc;
  SpillDead *aDead;             /* ascending, disjoint */
  int nDead, nDeadAlloc;
  int rcBroken;                 /* out of memory in a rollback: unusable */
  size_t nMaxKey, nMaxVal;      /* largest spilled key and value */
  KvBuf val;                    /* value kvSpillGet returned */
};

/* ---------------------------------------------------------------------- */
/* Runs, marks and dead intervals.                                         */

static void runUnref(SpillRun *r){
  if( r && atomic_fetch_sub_explicit(&r->nRef, 1, memory_order_acq_rel)==1 ){
    KvErrSave save;
    kvErrSave(&save);
    kvSstClose(r->pSst);
    r->pEnv->xUnlink(r->pEnv, r->zPath);
    kvErrRestore(&save, 0);
    kvFree(r->zPath);
    kvFree(r);
  }
}

int kvSpillNew(kv_db *db, KvSpill **pp){
  KvSpill *p;
  *pp = 0;
  if( db->pOpts->nTxnSpill==0 || db->bReadOnly ) return KV_OK;
  p = kvMallocZero(sizeof(*p));
  if( p==0 ) return kvErrNoMem();
  p->db = db;
  p->nLimit = db->pOpts->nTxnSpill;
  kvSpillReset(p);
  *pp = p;
  return KV_OK;
}

int kvSpillBind(KvSpill *p, kv_db *db){
  if( p->db==db ) return KV_OK;
  if( p->nRun>0 || db->pOpts->nTxnSpill==0 || db->bReadOnly ) return KV_ERROR;
  p->db = db;
  p->nLimit = db->pOpts->nTxnSpill;
  return KV_OK;
}

void kvSpillReset(KvSpill *p){
  int i;
  for(i=0; i<p->nRun; i++) runUnref(p->apRun[i]);
  p->nRun = 0;
  p->nBase = 0;
  p->iSeqBase = 1;
  p->nDead = 0;
  p->rcBroken = KV_OK;
  p->nMaxKey = p->nMaxVal = 0;
  /* aSeg[0] = (0, 1): kvGrowArray of one entry cannot fail once allocated;
  ** a first allocation that fails leaves the spill broken. */
  p->nSeg = 0;
  if( kvGrowArray((void**)&p->aSeg, &p->nSegAlloc, 1, sizeof(SpillSeg)) ){
    p->rcBroken = KV_NOMEM;
  }else{
    p->aSeg[0].iMark = 0;
    p->aSeg[0].iSeq = 1;
    p->nSeg = 1;
  }
}

void kvSpillFree(KvSpill *p){
  if( p ){
    kvSpillReset(p);
    kvFree(p->apRun);
    kvFree(p->aSeg);
    kvFree(p->aDead);
    kvBufFree(&p->val);
    kvFree(p);
  }
}

size_t kvSpillBase(const KvSpill *p){ return p->nBase; }
int kvSpillHasRuns(const KvSpill *p){ return p->nRun>0; }

void kvSpillMaxLens(const KvSpill *p, size_t *pnKey, size_t *pnVal){
  *pnKey = p->nMaxKey;
  *pnVal = p->nMaxVal;
}

/* Is sequence seq in a dead interval of a (n entries)? */
static int deadIn(const SpillDead *a, int n, u64 seq){
  int lo = 0, hi = n;
  while( lo<hi ){                       /* first interval with lo > seq */
    int mid = lo + (hi - lo)/2;
    if( a[mid].lo<=seq ) lo = mid + 1; else hi = mid;
  }
  return lo>0 && seq<a[lo-1].hi;
}

/* Does a dead interval meet [lo, hi]? */
static int deadMeets(const KvSpill *p, u64 lo, u64 hi){
  int i;
  for(i=0; i<p->nDead; i++){
    if( p->aDead[i].lo<=hi && lo<p->aDead[i].hi ) return 1;
  }
  return 0;
}

/* Sequence of mark iMark (< nBase). */
static u64 markSeq(const KvSpill *p, size_t iMark){
  int i = p->nSeg - 1;
  while( i>0 && p->aSeg[i].iMark>iMark ) i--;
  return p->aSeg[i].iSeq + (u64)(iMark - p->aSeg[i].iMark);
}

void kvSpillTruncate(KvSpill *p, kv_batch *b, size_t mark){
  u64 lo, hi;
  int i;
  assert( mark<p->nBase );
  kvBatchMemTruncate(b, 0);
  if( mark==0 ){
    /* Nothing is left: drop the runs, so the batch commits as an
    ** unspilled one (a range DELETE's point deletes replaced by one range
    ** deletion, kvrange.c). Sequences go on from where they were: an
    ** iterator may still hold a run. */
    u64 iSeq = p->iSeqBase;
    kvSpillReset(p);
    if( p->nSeg>0 ) p->aSeg[0].iSeq = iSeq;
    p->iSeqBase = iSeq;
    return;
  }
  if( p->rcBroken ) return;
  lo = markSeq(p, mark);
  hi = p->iSeqBase;           /* in-memory sequences were never written */
  if( kvGrowArray((void**)&p->aDead, &p->nDeadAlloc, p->nDead+1,
                sizeof(SpillDead))
   || kvGrowArray((void**)&p->aSeg, &p->nSegAlloc, p->nSeg+1,
                sizeof(SpillSeg)) ){
    p->rcBroken = KV_NOMEM;
    return;
  }
  /* Every interval starting at or after lo lies inside [lo, hi): every
  ** sequence so far is below hi. */
  while( p->nDead>0 && p->aDead[p->nDead-1].lo>=lo ) p->nDead--;
  i = p->nDead;
  if( i>0 && p->aDead[i-1].hi>=lo ){
    if( p->aDead[i-1].hi<hi ) p->aDead[i-1].hi = hi;
  }else if( lo<hi ){
    p->aDead[i].lo = lo;
    p->aDead[i].hi = hi;
    p->nDead++;
  }
  while( p->nSeg>1 && p->aSeg[p->nSeg-1].iMark>=mark ) p->nSeg--;
  if( p->aSeg[p->nSeg-1].iMark>=mark ){
    p->aSeg[p->nSeg-1].iSeq = p->iSeqBase;      /* mark 0 */
  }else{
    p->aSeg[p->nSeg].iMark = mark;
    p->aSeg[p->nSeg].iSeq = p->iSeqBase;
    p->nSeg++;
  }
  p->nBase = mark;
}

/* ---------------------------------------------------------------------- */
/* Spilling.                                                               */

typedef struct SpillOp SpillOp;
struct SpillOp {
  const u8 *pKey;
  size_t nKey;
  size_t i;
};

/* Key ascending, then newest (largest i) first: internal key order. */
static int spillOpCmp(const void *a, const void *b){
  const SpillOp *x = a, *y = b;
  int c = kvUKeyCmp(x->pKey, x->nKey, y->pKey, y->nKey);
  if( c ) return c;
  return x->i > y->i ? -1 : (x->i < y->i);
}

/* The table settings of a run or a spilled commit: the store's, with a
** bloom filter always (every put of a transaction probes every run). */
static void spillConfig(kv_db *db, KvSstConfig *pCfg){
  kvSstConfigFromOptions(db->pOpts, pCfg);
  if( pCfg->nBloomBits==0 ) pCfg->nBloomBits = 10;
}

/* Write the in-memory operations of b to a new run. */
static int spillRun(KvSpill *p, kv_batch *b){
  kv_db *db = p->db;
  size_t n = kvBatchMemCount(b);
  SpillOp *aOp = 0;
  SpillRun *pRun = 0;
  KvSstBuilder *pB = 0;
  KvSstConfig cfg;
  KvSstMeta meta;
  KvBuf ik = {0, 0, 0};
  size_t i;
  size_t nMaxKey = p->nMaxKey, nMaxVal = p->nMaxVal;
  u64 iFile;
  int rc = KV_OK;

  memset(&meta, 0, sizeof(meta));
  if( n==0 ) return KV_OK;
  rc = kvGrowArray((void**)&p->apRun, &p->nRunAlloc, p->nRun+1,
                 sizeof(SpillRun*));
  if( rc==KV_OK ){
    aOp = kvMalloc(n*sizeof(SpillOp));
    pRun = kvMallocZero(sizeof(*pRun));
    if( aOp==0 || pRun==0 ) rc = kvErrNoMem();
  }
  for(i=0; rc==KV_OK && i<n; i++){
    int eType;
    const u8 *pVal;
    size_t nVal;
    kvBatchMemOp(b, i, &eType, &aOp[i].pKey, &aOp[i].nKey, &pVal, &nVal);
    aOp[i].i = i;
    assert( eType==KV_TYPE_PUT || eType==KV_TYPE_DEL );
    if( aOp[i].nKey>nMaxKey ) nMaxKey = aOp[i].nKey;
    if( nVal>nMaxVal ) nMaxVal = nVal;
  }
  if( rc==KV_OK ){
    qsort(aOp, n, sizeof(SpillOp), spillOpCmp);
    iFile = ((u64)getpid() << 24)
          | (atomic_fetch_add(&nRunName, 1) & 0xffffff);
    pRun->zPath = kvFileName(db->zDir, KV_FILE_SPILL, iFile);
    if( pRun->zPath==0 ) rc = kvErrNoMem();
  }
  if( rc==KV_OK ){
    spillConfig(db, &cfg);
    rc = kvSstBuilderNew(db->pEnv, pRun->zPath, &cfg,
                         db->pEnv->xNowMicros(db->pEnv), &pB);
  }
  for(i=0; rc==KV_OK && i<n; i++){
    int eType;
    const u8 *pKey, *pVal;
    size_t nKey, nVal;
    kvBatchMemOp(b, aOp[i].i, &eType, &pKey, &nKey, &pVal, &nVal);
    ik.n = 0;
    rc = kvIKeyAppend(&ik, pKey, nKey, p->iSeqBase + aOp[i].i, eType);
    if( rc==KV_OK ){
      rc = kvSstBuilderAdd(pB, ik.a, ik.n, pVal, eType==KV_TYPE_PUT ? nVal : 0);
    }
  }
  if( rc==KV_OK ){
    rc = kvSstBuilderFinish(pB, &meta);
    pB = 0;
  }
  if( rc==KV_OK ){
    /* No block cache: a run may outlive the store's handle (a batch freed
    ** after kv_close). */
    rc = kvSstOpen(db->pEnv, pRun->zPath, 0, 0, &pRun->pSst);
    if( rc!=KV_OK ) db->pEnv->xUnlink(db->pEnv, pRun->zPath);
  }
  if( rc==KV_OK ){
    atomic_init(&pRun->nRef, 1);
    pRun->pEnv = db->pEnv;
    pRun->iFirst = p->iSeqBase;
    pRun->iLast = p->iSeqBase + n - 1;
    p->apRun[p->nRun++] = pRun;
    pRun = 0;
    p->nBase += n;
    p->iSeqBase += n;
    p->nMaxKey = nMaxKey;
    p->nMaxVal = nMaxVal;
    kvBatchMemTruncate(b, 0);
  }else{
    rc = kvErr(rc, "kvstore: cannot spill a transaction of %zu operations to "
               "'%s': %s", n, db->zDir, kvErrMsg());
  }
  if( pB ) kvSstBuilderAbandon(pB);
  if( pRun ){
    kvFree(pRun->zPath);
    kvFree(pRun);
  }
  kvSstMetaFree(&meta);
  kvBufFree(&ik);
  kvFree(aOp);
  return rc;
}

int kvSpillBeforeAdd(KvSpill *p, kv_batch *b){
  if( p->rcBroken ){
    return kvErr(p->rcBroken, "kvstore: out of memory in a rollback of a "
                 "spilled transaction: roll it back");
  }
  /* Range deletions stay in memory (doc/spill.md). */
  if( kvBatchMemBytes(b)<p->nLimit || kvBatchMemRangeOps(b)>0 ) return KV_OK;
  return spillRun(p, b);
}

/* ---------------------------------------------------------------------- */
/* Point reads.                                                            */

int kvSpillGet(KvSpill *p, const u8 *pKey, size_t nKey, const void **ppVal,
               size_t *pnVal, int *pr){
  int rc = KV_OK;
  int i;
  *pr = -1;
  if( p->rcBroken ){
    return kvErr(p->rcBroken, "kvstore: out of memory in a rollback of a "
                 "spilled transaction: roll it back");
  }
  for(i=p->nRun-1; rc==KV_OK && i>=0; i--){
    SpillRun *r = p->apRun[i];
    int bFound = 0, eType = KV_TYPE_DEL;
    /* The filter first: most keys are in no run. */
    rc = kvSstGet(r->pSst, pKey, nKey, KV_MAX_SEQ, &bFound, &eType, &p->val);
    if( rc!=KV_OK || !bFound ) continue;
    if( deadMeets(p, r->iFirst, r->iLast) ){
      /* Its newest live version, if any. */
      KvIter *pIt = 0;
      KvBuf ik = {0, 0, 0};
      bFound = 0;
      rc = kvSstIterNew(r->pSst, 0, &pIt);
      if( rc==KV_OK ) rc = kvIKeyAppend(&ik, pKey, nKey, KV_MAX_SEQ,
                                        KV_TYPE_PUT);
      if( rc==KV_OK ) rc = pIt->pMethods->xSeek(pIt, ik.a, ik.n);
      while( rc==KV_OK && kvIterValid(pIt)
          && kvUKeyCmp(pIt->pKey, pIt->nKey - KV_TRAILER, pKey, nKey)==0 ){
        if( !deadIn(p->aDead, p->nDead, kvIKeySeq(pIt->pKey, pIt->nKey)) ){
          bFound = 1;
          eType = kvIKeyType(pIt->pKey, pIt->nKey);
          rc = kvBufSet(&p->val, pIt->pVal, pIt->nVal);
          break;
        }
        rc = pIt->pMethods->xNext(pIt);
      }
      if( pIt ) pIt->pMethods->xClose(pIt);
      kvBufFree(&ik);
    }
    if( rc==KV_OK && bFound ){
      if( eType==KV_TYPE_PUT ){
        *pr = 1;
        if( ppVal ) *ppVal = p->val.n ? p->val.a : (const u8*)"";
        if( pnVal ) *pnVal = p->val.n;
      }else{
        *pr = 0;
      }
      break;
    }
  }
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Iterator: the newest live version of each key, at KV_BATCH_SEQ, of the
** in-memory view laid over the runs. Captured when created (runs held,
** dead intervals and the in-memory range deletions copied), as the
** in-memory batch iterator is. */

typedef struct SpillIter SpillIter;
struct SpillIter {
  KvIter base;                  /* must be first */
  KvIter *pM;                   /* merge of the view and the runs */
  SpillRun **apRun;
  int nRun;
  SpillDead *aDead;
  int nDead;
  KvBuf rdCopy;                 /* in-memory range deletions */
  KvRdList rd;
  KvBuf key;                    /* published internal key */
  KvBuf uk;                     /* scratch user key */
  KvBuf seek;                   /* scratch internal key */
};

static int siLive(const SpillIter *p){
  u64 seq = kvIKeySeq(p->pM->pKey, p->pM->nKey);
  return seq==KV_BATCH_SEQ || !deadIn(p->aDead, p->nDead, seq);
}

/* Publish the entry pM is on (live, the newest of its key). */
static int siPublish(SpillIter *p){
  const KvIter *m = p->pM;
  size_t nUk = m->nKey - KV_TRAILER;
  int eType = kvIKeyType(m->pKey, m->nKey);
  int rc;
  int j;
  if( kvIKeySeq(m->pKey, m->nKey)!=KV_BATCH_SEQ ){
    /* From a run: a range deletion in memory is newer. */
    for(j=0; j<p->rd.n; j++){
      const KvRangeTomb *t = &p->rd.a[j];
      if( kvUKeyCmp(t->pLo, t->nLo, m->pKey, nUk)<=0
       && kvUKeyCmp(m->pKey, nUk, t->pHi, t->nHi)<0 ){
        eType = KV_TYPE_DEL;
        break;
      }
    }
  }
  p->key.n = 0;
  rc = kvIKeyAppend(&p->key, m->pKey, nUk, KV_BATCH_SEQ, eType);
  if( rc==KV_OK ){
    kvIterSet(&p->base, p->key.a, p->key.n, eType==KV_TYPE_PUT ? m->pVal : 0,
              eType==KV_TYPE_PUT ? m->nVal : 0);
  }
  return rc;
}

/* From the first entry of a key: the first live entry there or later. */
static int siForward(SpillIter *p){
  int rc = KV_OK;
  while( rc==KV_OK && kvIterValid(p->pM) ){
    if( siLive(p) ) return siPublish(p);
    rc = p->pM->pMethods->xNext(p->pM);
  }
  kvIterSetInvalid(&p->base);
  return rc;
}

/* Copy the user key pM is on into p->uk; position pM at its first entry. */
static int siKeyStart(SpillIter *p){
  int rc = kvBufSet(&p->uk, p->pM->pKey, p->pM->nKey - KV_TRAILER);
  if( rc==KV_OK ){
    p->seek.n = 0;
    rc = kvIKeyAppend(&p->seek, p->uk.a, p->uk.n, KV_MAX_SEQ, KV_TYPE_PUT);
  }
  if( rc==KV_OK ) rc = p->pM->pMethods->xSeek(p->pM, p->seek.a, p->seek.n);
  return rc;
}

static int siSameKey(const SpillIter *p){
  return kvIterValid(p->pM)
      && kvUKeyCmp(p->pM->pKey, p->pM->nKey - KV_TRAILER, p->uk.a, p->uk.n)==0;
}

/* From an entry of some key: the newest live version of that key or, if
** it has none, of the nearest earlier key that has one. */
static int siBackward(SpillIter *p){
  int rc = KV_OK;
  while( rc==KV_OK && kvIterValid(p->pM) ){
    rc = siKeyStart(p);
    while( rc==KV_OK && siSameKey(p) ){
      if( siLive(p) ) return siPublish(p);
      rc = p->pM->pMethods->xNext(p->pM);
    }
    /* Every version of it is dead: before its first entry. */
    if( rc==KV_OK ) rc = p->pM->pMethods->xSeek(p->pM, p->seek.a, p->seek.n);
    if( rc==KV_OK && kvIterValid(p->pM) ) rc = p->pM->pMethods->xPrev(p->pM);
  }
  kvIterSetInvalid(&p->base);
  return rc;
}

static int siFirst(KvIter *pIter){
  SpillIter *p = (SpillIter*)pIter;
  int rc = p->pM->pMethods->xFirst(p->pM);
  return rc==KV_OK ? siForward(p) : rc;
}

static int siLast(KvIter *pIter){
  SpillIter *p = (SpillIter*)pIter;
  int rc = p->pM->pMethods->xLast(p->pM);
  return rc==KV_OK ? siBackward(p) : rc;
}

static int siNext(KvIter *pIter){
  SpillIter *p = (SpillIter*)pIter;
  int rc;
  assert( p->base.bValid );
  rc = kvBufSet(&p->uk, p->pM->pKey, p->pM->nKey - KV_TRAILER);
  while( rc==KV_OK && siSameKey(p) ) rc = p->pM->pMethods->xNext(p->pM);
  return rc==KV_OK ? siForward(p) : rc;
}

static int siPrev(KvIter *pIter){
  SpillIter *p = (SpillIter*)pIter;
  int rc;
  assert( p->base.bValid );
  rc = siKeyStart(p);
  if( rc==KV_OK && kvIterValid(p->pM) ) rc = p->pM->pMethods->xPrev(p->pM);
  return rc==KV_OK ? siBackward(p) : rc;
}

/* The first entry whose (key, KV_BATCH_SEQ) is at or after the target, as
** the in-memory batch iterator seeks. */
static int siSeek(KvIter *pIter, const u8 *pIKey, size_t nIKey){
  SpillIter *p = (SpillIter*)pIter;
  int rc;
  p->seek.n = 0;
  rc = kvIKeyAppend(&p->seek, pIKey, nIKey - KV_TRAILER, KV_MAX_SEQ,
                    KV_TYPE_PUT);
  if( rc==KV_OK ) rc = p->pM->pMethods->xSeek(p->pM, p->seek.a, p->seek.n);
  if( rc==KV_OK ) rc = siForward(p);
  if( rc==KV_OK && p->base.bValid
   && kvIKeyCmp(p->base.pKey, p->base.nKey, pIKey, nIKey)<0 ){
    rc = siNext(pIter);
  }
  return rc;
}

static void siClose(KvIter *pIter){
  SpillIter *p = (SpillIter*)pIter;
  int i;
  if( p==0 ) return;
  if( p->pM ) p->pM->pMethods->xClose(p->pM);
  for(i=0; i<p->nRun; i++) runUnref(p->apRun[i]);
  kvFree(p->apRun);
  kvFree(p->aDead);
  kvRdListFree(&p->rd);
  kvBufFree(&p->rdCopy);
  kvBufFree(&p->key);
  kvBufFree(&p->uk);
  kvBufFree(&p->seek);
  kvFree(p);
}

static const KvIterMethods spillIterMethods = {
  siFirst, siLast, siSeek, siNext, siPrev, siClose
};

int kvSpillIterNew(KvSpill *p, const kv_batch *b, int bBulk,
                   KvIter **ppIter){
  SpillIter *pIt = 0;
  KvIter **apChild = 0;
  int nChild = 0;
  int rc = p->rcBroken;
  int i;

  *ppIter = 0;
  if( rc ){
    return kvErr(rc, "kvstore: out of memory in a rollback of a spilled "
                 "transaction: roll it back");
  }
  pIt = kvMallocZero(sizeof(*pIt));
  apChild = kvMallocZero(sizeof(KvIter*)*(size_t)(p->nRun + 1));
  if( pIt==0 || apChild==0 ) rc = kvErrNoMem();
  if( rc==KV_OK ){
    pIt->base.pMethods = &spillIterMethods;
    pIt->apRun = kvMallocZero(sizeof(SpillRun*)*(size_t)p->nRun);
    pIt->aDead = kvMalloc(sizeof(SpillDead)*(size_t)(p->nDead ? p->nDead : 1));
    if( pIt->apRun==0 || pIt->aDead==0 ) rc = kvErrNoMem();
  }
  if( rc==KV_OK ){
    if( p->nDead ) memcpy(pIt->aDead, p->aDead, sizeof(SpillDead)*p->nDead);
    pIt->nDead = p->nDead;
    for(i=0; i<p->nRun; i++){
      pIt->apRun[i] = p->apRun[i];
      atomic_fetch_add_explicit(&p->apRun[i]->nRef, 1, memory_order_relaxed);
    }
    pIt->nRun = p->nRun;
    rc = kvBatchRangeDels(b, &pIt->rdCopy, &pIt->rd);
  }
  if( rc==KV_OK ) rc = kvBatchMemIterNew(b, &apChild[nChild++]);
  for(i=0; rc==KV_OK && i<p->nRun; i++){
    rc = kvSstIterNew(p->apRun[i]->pSst, bBulk ? KV_SST_BULK : 0,
                      &apChild[nChild]);
    if( rc==KV_OK ) nChild++;
  }
  if( rc==KV_OK ){
    rc = kvMergeIterNew(apChild, nChild, &pIt->pM);
  }else{
    for(i=0; i<nChild; i++) apChild[i]->pMethods->xClose(apChild[i]);
  }
  kvFree(apChild);
  if( rc==KV_OK ){
    *ppIter = &pIt->base;
  }else{
    siClose(pIt ? &pIt->base : 0);
  }
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Commit.                                                                 */


/* A spilled commit writes tables of at most this many entries or bytes
** (the builder keeps 4 bytes per key for the filter, and the index, in
** memory). Each table of one commit gets its own sequence: level 0 keeps
** disjoint sequence ranges (compact_pick.c, I1). */
u64 kvSpillTableEntries = (u64)1<<20;
#define SPILL_TABLE_BYTES   ((u64)256<<20)

typedef struct PrepTable PrepTable;
struct PrepTable {
  u64 iFile;
  KvSstMeta meta;
};

struct KvSpillPrep {
  u64 iSeq;                     /* first sequence of the batch */
  u64 iLast;                    /* last sequence of its span */
  u64 *aReserved;               /* table numbers reserved in the manifest */
  int nReserved;
  PrepTable *aTable;            /* tables written, in key order */
  int nTable;
};

static void prepFree(kv_db *db, KvSpillPrep *pPrep, int bUnlink){
  int i;
  if( pPrep==0 ) return;
  for(i=0; i<pPrep->nTable; i++){
    if( bUnlink ){
      char *z = kvSstPath(db->zDir, pPrep->aTable[i].iFile);
      KvErrSave save;
      kvErrSave(&save);
      if( z ) db->pEnv->xUnlink(db->pEnv, z);
      kvErrRestore(&save, 0);
      kvFree(z);
    }
    kvSstMetaFree(&pPrep->aTable[i].meta);
  }
  kvFree(pPrep->aTable);
  kvFree(pPrep->aReserved);
  kvFree(pPrep);
}

void kvSpillAbortLocked(kv_db *db){
  prepFree(db, db->pSpillPrep, 1);
  db->pSpillPrep = 0;
}

/* Finish the table being built as pPrep->aTable[pPrep->nTable]. */
static int prepFinish(KvSpillPrep *pPrep, KvSstBuilder *pB){
  int rc = kvSstBuilderFinish(pB, &pPrep->aTable[pPrep->nTable].meta);
  if( rc==KV_OK ) pPrep->nTable++;
  return rc;
}

/* Write the merged contents of b to tables numbered pPrep->aReserved, the
** i-th table's entries at sequence iSeq + i, or iSeq + 1 + i when the
** transaction has range deletions: those go to the first table at iSeq,
** below every entry of the transaction (a tombstone hides entries of its
** own sequence too) and above the store. Runs without the mutex. */
static int prepWriteTables(kv_db *db, kv_batch *b, KvSpillPrep *pPrep){
  KvSpill *p = kvBatchSpill(b);
  KvIter *pIt = 0;
  KvSstBuilder *pB = 0;
  KvSstConfig cfg;
  KvBuf ik = {0, 0, 0};
  KvBuf rdCopy = {0, 0, 0};
  KvRdList rd = {0, 0, 0};
  char *zPath = 0;
  u64 nInTable = 0;
  int rc = KV_OK;
  int j;

  spillConfig(db, &cfg);
  /* The in-memory part goes to a run first: merging it from a sorted
  ** copy (the batch's view) would hold it twice in memory. */
  if( kvBatchMemRangeOps(b)==0 ) rc = spillRun(p, b);
  if( rc==KV_OK ) rc = kvSpillIterNew(p, b, 1, &pIt);
  if( rc==KV_OK ) rc = kvBatchRangeDels(b, &rdCopy, &rd);
  if( rc==KV_OK ) rc = pIt->pMethods->xFirst(pIt);
  while( rc==KV_OK && (kvIterValid(pIt) || (pPrep->nTable==0 && pB==0
                                            && rd.n>0)) ){
    if( pB==0 ){
      /* Start the next table. */
      if( pPrep->nTable>=pPrep->nReserved ){
        rc = kvErr(KV_ERROR, "kvstore: a spilled transaction needs more "
                   "than the %d tables reserved for it", pPrep->nReserved);
        break;
      }
      kvFree(zPath);
      zPath = kvSstPath(db->zDir, pPrep->aReserved[pPrep->nTable]);
      if( zPath==0 ){ rc = kvErrNoMem(); break; }
      memset(&pPrep->aTable[pPrep->nTable], 0, sizeof(PrepTable));
      pPrep->aTable[pPrep->nTable].iFile = pPrep->aReserved[pPrep->nTable];
      rc = kvSstBuilderNew(db->pEnv, zPath, &cfg,
                           db->pEnv->xNowMicros(db->pEnv), &pB);
      nInTable = 0;
      for(j=0; rc==KV_OK && pPrep->nTable==0 && j<rd.n; j++){
        const KvRangeTomb *t = &rd.a[j];
        rc = kvSstBuilderAddRangeDel(pB, t->pLo, t->nLo, t->pHi, t->nHi,
                                     pPrep->iSeq);
      }
      if( rc!=KV_OK || !kvIterValid(pIt) ) break;
    }
    ik.n = 0;
    rc = kvIKeyAppend(&ik, pIt->pKey, pIt->nKey - KV_TRAILER,
                      pPrep->iSeq + (u64)pPrep->nTable + (rd.n>0),
                      kvIKeyType(pIt->pKey, pIt->nKey));
    if( rc==KV_OK ) rc = kvSstBuilderAdd(pB, ik.a, ik.n, pIt->pVal, pIt->nVal);
    nInTable++;
    if( rc==KV_OK ) rc = pIt->pMethods->xNext(pIt);
    if( rc==KV_OK && kvIterValid(pIt)
     && (nInTable>=kvSpillTableEntries
         || kvSstBuilderSize(pB)>=SPILL_TABLE_BYTES) ){
      rc = prepFinish(pPrep, pB);
      pB = 0;
    }
  }
  if( rc==KV_OK && pB ){
    rc = prepFinish(pPrep, pB);
    pB = 0;
  }
  if( pB ) kvSstBuilderAbandon(pB);
  if( pIt ) pIt->pMethods->xClose(pIt);
  kvRdListFree(&rd);
  kvBufFree(&rdCopy);
  kvBufFree(&ik);
  kvFree(zPath);
  return rc;
}

/* Reserve n table numbers in pPrep, durably (a manifest edit, under MAINT
** at the newest manifest, as flushes take theirs: no process reuses
** them). REQUIRES: mutex held (let go while waiting for MAINT). */
static int prepReserve(kv_db *db, KvSpillPrep *pPrep, int n){
  int rc;
  pPrep->aReserved = kvMalloc(sizeof(u64)*(size_t)n);
  pPrep->aTable = kvMallocZero(sizeof(PrepTable)*(size_t)n);
  if( pPrep->aReserved==0 || pPrep->aTable==0 ) return kvErrNoMem();
  rc = kvSharedMaintBegin(db, 1);
  if( rc==KV_OK ){
    KvVersionEdit edit;
    int i;
    memset(&edit, 0, sizeof(edit));
    for(i=0; i<n; i++) pPrep->aReserved[i] = kvVsetNewFileNumber(&db->vset);
    rc = kvVsetApply(&db->vset, &edit);
    kvEditClear(&edit);
    kvSharedMaintEnd(db, rc==KV_OK);
  }
  if( rc==KV_OK ) pPrep->nReserved = n;
  return rc;
}

int kvSpillPrepareLocked(kv_db *db, kv_batch *b, u64 *piSeq){
  KvSpill *p = kvBatchSpill(b);
  KvSpillPrep *pPrep = 0;
  u64 nCount = kv_batch_count(b);
  u64 nOps = 0, nBytes = (u64)kvBatchMemBytes(b);
  KvBuf rep = {0, 0, 0};
  u64 iEndBefore;
  int nTable;
  int i;
  int rc;

  /* Every entry the memtable holds goes to a table older than the new
  ** ones: a read looks in the memtable before level 0. */
  rc = kvDbMakeRoom(db, 1);
  while( rc==KV_OK && db->pImm ){
    if( db->bBgThread ){
      pthread_cond_wait(&db->cvWork, &db->mutex);
    }else{
      kvDbFlushPending(db);
    }
    rc = kvDbStickyError(db);
  }
  if( rc!=KV_OK ) return rc;
  if( nCount>=KV_WAL_TABLES ){
    return kvErr(KV_TOOBIG, "kvstore: a transaction of %" PRIu64 " operations "
                 "is too large to commit (at most %u)", nCount,
                 KV_WAL_TABLES - 1);
  }
  /* A retried COMMIT writes the tables anew. */
  kvSpillAbortLocked(db);
  /* How many tables at most: every run's entries and bytes, and what
  ** memory holds, cut at the limits. */
  nOps = kvBatchMemCount(b);
  for(i=0; i<p->nRun; i++){
    nOps += p->apRun[i]->iLast - p->apRun[i]->iFirst + 1;
    nBytes += kvSstGetMeta(p->apRun[i]->pSst)->nRawBytes;
  }
  nTable = (int)(nOps/kvSpillTableEntries + 2*nBytes/SPILL_TABLE_BYTES + 2);
  pPrep = kvMallocZero(sizeof(*pPrep));
  if( pPrep==0 ) return kvErrNoMem();
  pPrep->iSeq = *piSeq ? *piSeq : atomic_load(&db->lastSeq) + 1;
  pPrep->iLast = pPrep->iSeq + nCount - 1;
  rc = prepReserve(db, pPrep, nTable);
  if( rc!=KV_OK ){
    prepFree(db, pPrep, 0);
    return rc;
  }
  iEndBefore = kvWalEnd(db->pWal);
  kvDbUnlock(db);

  rc = prepWriteTables(db, b, pPrep);
  if( rc==KV_OK && (u64)pPrep->nTable + (kvBatchMemRangeOps(b)>0)>nCount ){
    rc = kvErr(KV_ERROR, "kvstore: a spilled transaction wrote %d tables "
               "for %" PRIu64 " sequences", pPrep->nTable, nCount);
  }
  if( rc==KV_OK ){
    /* The PREPARED record names the tables. */
    rc = kvBufReserve(&rep, 10*(size_t)(pPrep->nTable + 1));
    if( rc==KV_OK ){
      rep.n += (size_t)kvPutVarint(rep.a + rep.n, (u64)pPrep->nTable);
      for(i=0; i<pPrep->nTable; i++){
        rep.n += (size_t)kvPutVarint(rep.a + rep.n, pPrep->aTable[i].iFile);
      }
      rc = kvWalAppend(db->pWal, pPrep->iSeq, db->pEnv->xNowMicros(db->pEnv),
                       (u32)nCount | KV_WAL_PREPARED | KV_WAL_TABLES, rep.a,
                       rep.n, 0);
    }
    if( rc==KV_OK && db->pOpts->eSync==KV_SYNC_FULL ){
      rc = kvWalSync(db->pWal);
      atomic_fetch_add(&db->nSyncs, 1);
      if( rc!=KV_OK && db->rcWal==KV_OK ){
        kvDbLock(db);
        db->rcWal = KV_READONLY;
        db->zWalErr = kvMprintf("kvstore: '%s' is read-only until reopened "
                                "after a failed commit (%s)", db->zDir,
                                kvErrMsg());
        kvDbUnlock(db);
      }
    }
  }
  kvBufFree(&rep);

  kvDbLock(db);
  /* Other processes read the record from here on, as they do a prepared
  ** batch's: they must not apply past it before the tables are in. */
  kvSharedWalWritten(db, iEndBefore);
  if( rc==KV_OK ){
    db->bPrepared = 1;
    db->iPrepSeq = pPrep->iSeq;
    db->pSpillPrep = pPrep;
    *piSeq = pPrep->iSeq;
  }else{
    prepFree(db, pPrep, 1);
  }
  return rc;
}

/*
** Install a spilled commit's tables with its last sequence iLast, under
** the maintenance lock, at the newest manifest, unless that manifest is
** past iLast already: the committer (kvSpillApplyLocked) and a process
** catching up to the database's commit (shared.c) may both try, and
** whichever comes second adds nothing. The tables are pEdit's, or, with
** pRep not NULL, those its WAL record pRep names (read only when needed:
** once installed, they may have been compacted away). REQUIRES: mutex
** held.
*/
int kvSpillInstallLocked(kv_db *db, KvVersionEdit *pEdit, u64 iLast,
                         const u8 *pRep, size_t nRep){
  int bEdited = 0;
  int rc = kvSharedMaintBegin(db, 1);
  if( rc!=KV_OK ) return rc;
  if( db->vset.iLastSeq<iLast ){
    if( pRep ) rc = kvSpillRecoverTables(db, pRep, nRep, pEdit, 1);
    pEdit->bLastSeq = 1;
    pEdit->iLastSeq = iLast;
    if( rc==KV_OK ) rc = kvVsetApply(&db->vset, pEdit);
    bEdited = rc==KV_OK;
  }
  kvSharedMaintEnd(db, bEdited);
  return rc;
}

int kvSpillApplyLocked(kv_db *db, kv_batch *b, u64 iSeq){
  KvSpillPrep *pPrep = db->pSpillPrep;
  KvVersionEdit edit;
  int rc = KV_OK;
  int i;
  (void)b;
  if( pPrep==0 || pPrep->iSeq!=iSeq ){
    return kvErr(KV_MISUSE, "kvstore: no prepared spilled transaction at "
                 "sequence %" PRIu64 " in '%s'", iSeq, db->zDir);
  }
  memset(&edit, 0, sizeof(edit));
  for(i=0; rc==KV_OK && i<pPrep->nTable; i++){
    rc = kvEditAddFile(&edit, 0, &pPrep->aTable[i].meta,
                       pPrep->aTable[i].iFile);
  }
  if( rc==KV_OK ) rc = kvSpillInstallLocked(db, &edit, pPrep->iLast, 0, 0);
  kvEditClear(&edit);
  db->bPrepared = 0;
  pthread_cond_broadcast(&db->cvWriterLock);
  db->pSpillPrep = 0;
  if( rc==KV_OK ){
    atomic_store(&db->lastSeq, pPrep->iLast);
    atomic_fetch_add(&db->nWrites, 1);
    kvSharedPublish(db);
  }else if( db->rcWal==KV_OK ){
    /* The database committed: the tables stay for the next open, whose
    ** recovery installs them (the WAL record names them). */
    db->rcWal = KV_READONLY;
    db->zWalErr = kvMprintf("kvstore: '%s' is read-only until reopened "
                            "after a failed commit (%s)", db->zDir,
                            kvErrMsg());
  }
  prepFree(db, pPrep, 0);
  return rc;
}

void kvSpillPrepFree(kv_db *db){
  prepFree(db, db->pSpillPrep, 0);
  db->pSpillPrep = 0;
}

/* Is table iFile in the current version? */
static int versionHas(kv_db *db, u64 iFile){
  KvVersion *v = kvVersionCurrent(&db->vset);
  int bHave = 0;
  int i, j;
  for(i=0; v && i<v->nLevel && !bHave; i++){
    for(j=0; j<v->anFile[i]; j++){
      if( v->aaFile[i][j]->iFile==iFile ){ bHave = 1; break; }
    }
  }
  kvVersionUnref(v);
  return bHave;
}

int kvSpillCheckRecord(const u8 *pRep, size_t nRep, u64 *pnTable){
  const u8 *pEnd = pRep + nRep;
  u64 nTable = 0, k, iFile;
  int n = kvGetVarint(pRep, pEnd, &nTable);
  if( n==0 || nTable>nRep ) goto corrupt;
  pRep += n;
  for(k=0; k<nTable; k++){
    n = kvGetVarint(pRep, pEnd, &iFile);
    if( n==0 ) goto corrupt;
    pRep += n;
  }
  if( pRep!=pEnd ) goto corrupt;
  if( pnTable ) *pnTable = nTable;
  return KV_OK;
corrupt:
  return kvErr(KV_CORRUPT, "kvstore: corrupt WAL record of a spilled "
               "transaction (%zu bytes naming its tables)", nRep);
}

int kvSpillRecoverTables(kv_db *db, const u8 *pRep, size_t nRep,
                         KvVersionEdit *pEdit, int bMustExist){
  const u8 *pEnd = pRep + nRep;
  u64 nTable = 0, k;
  int n;
  int rc = kvSpillCheckRecord(pRep, nRep, &nTable);
  if( rc!=KV_OK ) return rc;
  n = kvGetVarint(pRep, pEnd, &nTable);
  pRep += n;
  for(k=0; rc==KV_OK && k<nTable; k++){
    u64 iFile = 0;
    char *zPath = 0;
    KvSst *pSst = 0;
    n = kvGetVarint(pRep, pEnd, &iFile);
    if( n==0 ){
      return kvErr(KV_CORRUPT, "kvstore: corrupt WAL record of a spilled "
                   "transaction in '%s'", db->zDir);
    }
    pRep += n;
    if( versionHas(db, iFile) ) continue;       /* installed already */
    zPath = kvSstPath(db->zDir, iFile);
    if( zPath==0 ) return kvErrNoMem();
    if( !bMustExist && !db->pEnv->xExists(db->pEnv, zPath) ){
      /* An abandoned prepare of a store without a horizon: given up, its
      ** tables deleted. */
      kvFree(zPath);
      return KV_OK;
    }
    rc = kvSstOpen(db->pEnv, zPath, 0, 0, &pSst);
    if( rc==KV_OK ){
      rc = kvEditAddFile(pEdit, 0, kvSstGetMeta(pSst), iFile);
      kvSstClose(pSst);
    }else{
      rc = kvErr(rc, "kvstore: the table %s of a committed transaction "
                 "cannot be installed: %s", zPath, kvErrMsg());
    }
    kvFree(zPath);
  }
  return rc;
}
