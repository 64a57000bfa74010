/*
** sst_iter.c - the SSTable iterator (one table, or a run of them) and
** point lookups.
*/
#include "sst_int.h"

#include <stdio.h>

/****************************************************************************
** Iterator: summary (in memory) -> index chunk -> data block.
**
** The same iterator reads a run (kvSstRunIterNew): tables in key order,
** each opened through the run's xTable when reached. Stepping off one
** table's last block goes on to the next table in place, so a scan pays
** for the run's files with no iterator layer of its own per row. What a
** run's tables are (a level's files, level_iter.c) is not known here.
*/

static void iterReleaseData(SstIter *p){
  if( p->dataRef.pBlock ) kvSstRefRelease(p->pSst, &p->dataRef);
  p->data.bValid = 0;
}
static void iterReleaseAll(SstIter *p){
  iterReleaseData(p);
  if( p->idxRef.pBlock ) kvSstRefRelease(p->pSst, &p->idxRef);
  p->idx.bValid = 0;
  p->iChunk = -1;
}

static int iterFail(SstIter *p, int rc){
  iterReleaseAll(p);
  kvIterSetInvalid(&p->base);
  return rc;
}

/* Publish the data cursor's entry. */
static void iterPublish(SstIter *p){
  kvIterSet(&p->base, p->data.key.a, p->data.key.n, p->data.pVal,
            p->data.nVal);
}

/* A run iterator: make table iFile of the run current, with nothing held
** and the chunk position before its first chunk (bForward) or after its
** last, ready for iterSettle(). */
static int iterOpenFile(SstIter *p, int iFile, int bForward){
  KvSst *pSst = 0;
  int rc;
  iterReleaseAll(p);
  rc = p->run.xTable(p->run.pCtx, iFile, &pSst);
  if( rc!=KV_OK ){
    p->pSst = 0;
    return rc;
  }
  p->pSst = pSst;
  p->iFile = iFile;
  p->iChunk = bForward ? -1 : pSst->nChunk;
  return KV_OK;
}

int kvSstIterLoadChunk(SstIter *p, int iChunk){
  KvSst *pSst = p->pSst;
  SstHandle h;
  int rc;
  if( p->iChunk==iChunk ) return KV_OK;
  iterReleaseAll(p);
  h.iOff = pSst->aChunk[iChunk].iOff;
  h.nStored = pSst->aChunk[iChunk].nStored;
  h.nRaw = h.nStored - SST_TRAILER;
  if( pSst->apChunk && !p->bBulk ){
    rc = kvSstLoadMappedChunk(pSst, iChunk, &h, &p->idxRef);
  }else{
    rc = kvSstLoadBlock(pSst, &h, 1, p->bBulk, &p->idxRef);
  }
  if( rc==KV_OK ){
    p->iChunk = iChunk;
    p->idx.pBlock = &p->idxRef.pBlock->blk;
    p->idx.bValid = 0;
  }
  return rc;
}

/* Load the data block the index cursor points at (bSeek: for a seek, which
** starts no run of the read-ahead, wherever the block before was). */
static int iterLoadData(SstIter *p, int bSeek){
  SstHandle h;
  int rc;
  assert( p->idx.bValid );
  rc = kvSstDecodeHandle(p->pSst, &p->idx, &h);
  if( rc==KV_OK && p->dataRef.pBlock && p->dataRef.iOff==h.iOff ){
    return KV_OK;
  }
  iterReleaseData(p);
  if( rc==KV_OK && p->bAhead ){
    int bDone = 0;
    p->dataRef.pH = 0;
    p->dataRef.bBorrowed = 0;
    rc = kvSstLoadAhead(p->pSst, &h, p->bBulk, bSeek, &p->ahead,
                        &p->dataRef, &bDone);
    if( rc==KV_OK && bDone ){
      p->data.pBlock = &p->dataRef.pBlock->blk;
      p->data.bValid = 0;
      return KV_OK;
    }
  }
  if( rc==KV_OK ) rc = kvSstLoadBlock(p->pSst, &h, 0, p->bBulk, &p->dataRef);
  if( rc==KV_OK ){
    p->data.pBlock = &p->dataRef.pBlock->blk;
    p->data.bValid = 0;
  }
  return rc;
}

/* Re-label a block cursor's generic KV_CORRUPT with the file and part. */
int kvSstIterBlockRc(SstIter *p, int rc, int bIndex){
  if( rc==KV_CORRUPT ){
    u64 iOff = bIndex ? p->idxRef.iOff : p->dataRef.iOff;
    rc = kvSstCorruptBlock(p->pSst, bIndex, iOff, "bad entry");
  }
  return rc;
}

/* After a movement of the data cursor: step into following blocks while it
** is off the end of one (bForward) or before the start (!bForward). */
static int iterSettle(SstIter *p, int bForward){
  int rc = KV_OK;
  while( rc==KV_OK && !p->data.bValid ){
    if( p->idx.bValid ){
      rc = bForward ? kvBlockIterNext(&p->idx) : kvBlockIterPrev(&p->idx);
      rc = kvSstIterBlockRc(p, rc, 1);
    }
    if( rc==KV_OK && !p->idx.bValid ){
      int iNext = p->iChunk + (bForward ? 1 : -1);
      if( iNext<0 || iNext>=p->pSst->nChunk ){
        /* Off this table: on to the next one of a level, if any. */
        int iFile = p->iFile + (bForward ? 1 : -1);
        if( !p->bLevel || iFile<0 || iFile>=p->run.nTable ){
          iterReleaseAll(p);
          kvSstAheadRelease(&p->ahead);   /* (back in the pool) */
          kvIterSetInvalid(&p->base);
          return KV_OK;
        }
        rc = iterOpenFile(p, iFile, bForward);
        continue;
      }
      rc = kvSstIterLoadChunk(p, iNext);
      if( rc==KV_OK ){
        rc = bForward ? kvBlockIterFirst(&p->idx) : kvBlockIterLast(&p->idx);
        rc = kvSstIterBlockRc(p, rc, 1);
      }
    }
    if( rc==KV_OK ) rc = iterLoadData(p, 0);
    if( rc==KV_OK ){
      rc = bForward ? kvBlockIterFirst(&p->data) : kvBlockIterLast(&p->data);
      rc = kvSstIterBlockRc(p, rc, 0);
    }
  }
  if( rc==KV_OK && p->data.key.n<KV_TRAILER ){
    rc = kvSstCorruptBlock(p->pSst, 0, p->dataRef.iOff, "key too short");
  }
  if( rc!=KV_OK ) return iterFail(p, rc);
  iterPublish(p);
  return KV_OK;
}

/* First (bForward) or last entry: of the table, or of the level's first
** or last table that has one. */
static int iterEnd(SstIter *p, int bForward){
  int rc = KV_OK;
  kvIterSetInvalid(&p->base);
  if( p->bLevel ){
    if( p->run.nTable==0 ) return KV_OK;
    rc = iterOpenFile(p, bForward ? 0 : p->run.nTable-1, bForward);
    if( rc!=KV_OK ) return iterFail(p, rc);
  }else{
    iterReleaseAll(p);
    /* iChunk -1 is "before the first chunk", nChunk "after the last":
    ** settling steps into chunk 0 or nChunk-1 */
    if( !bForward ) p->iChunk = p->pSst->nChunk;
  }
  return iterSettle(p, bForward);
}

static int sstIterFirst(KvIter *pIter){
  return iterEnd((SstIter*)pIter, 1);
}

static int sstIterLast(KvIter *pIter){
  return iterEnd((SstIter*)pIter, 0);
}

static int sstIterSeek(KvIter *pIter, const u8 *pKey, size_t nKey){
  SstIter *p = (SstIter*)pIter;
  KvSst *pSst;
  int lo, hi;
  int rc;
  kvIterSetInvalid(&p->base);
  if( p->bLevel ){
    /* A run: the first table whose largest key is >= the target. */
    lo = 0;
    hi = p->run.nTable;
    while( lo<hi ){
      int mid = lo + (hi - lo)/2;
      const u8 *pLargest;
      size_t nLargest;
      p->run.xLargest(p->run.pCtx, mid, &pLargest, &nLargest);
      if( kvIKeyCmp(pLargest, nLargest, pKey, nKey)<0 ) lo = mid+1;
      else hi = mid;
    }
    if( lo>=p->run.nTable ){
      iterReleaseAll(p);
      return KV_OK;
    }
    if( p->pSst==0 || p->iFile!=lo ){
      /* (the same file keeps its held chunk and block for the seek) */
      rc = iterOpenFile(p, lo, 1);
      if( rc!=KV_OK ) return iterFail(p, rc);
    }
  }
  pSst = p->pSst;
  lo = 0;
  hi = pSst->nChunk;
  /* first chunk whose last separator is >= the target */
  while( lo<hi ){
    int mid = lo + (hi - lo)/2;
    const SstChunk *pC = &pSst->aChunk[mid];
    if( kvSstCmp(pC->pKey, pC->nKey, pKey, nKey)<0 ){
      lo = mid + 1;
    }else{
      hi = mid;
    }
  }
  if( lo>=pSst->nChunk ){
    /* past this table: after its last chunk, so that a level settles into
    ** its next file */
    iterReleaseAll(p);
    p->iChunk = pSst->nChunk;
    return iterSettle(p, 1);
  }
  rc = kvSstIterLoadChunk(p, lo);
  if( rc==KV_OK ) rc = kvSstIterBlockRc(p, kvBlockIterSeek(&p->idx, pKey, nKey), 1);
  if( rc==KV_OK && p->idx.bValid ){
    rc = iterLoadData(p, 1);
    if( rc==KV_OK ){
      rc = kvSstIterBlockRc(p, kvBlockIterSeek(&p->data, pKey, nKey), 0);
    }
  }else{
    p->data.bValid = 0;
  }
  if( rc!=KV_OK ) return iterFail(p, rc);
  return iterSettle(p, 1);
}

static int sstIterNext(KvIter *pIter){
  SstIter *p = (SstIter*)pIter;
  int rc;
  assert( p->base.bValid );
  rc = kvSstIterBlockRc(p, kvBlockIterNext(&p->data), 0);
  if( rc!=KV_OK ) return iterFail(p, rc);
  if( p->data.bValid && p->data.key.n>=KV_TRAILER ){
    iterPublish(p);             /* still in the block: the usual step */
    return KV_OK;
  }
  return iterSettle(p, 1);
}

static int sstIterPrev(KvIter *pIter){
  SstIter *p = (SstIter*)pIter;
  int rc;
  assert( p->base.bValid );
  rc = kvSstIterBlockRc(p, kvBlockIterPrev(&p->data), 0);
  if( rc!=KV_OK ) return iterFail(p, rc);
  return iterSettle(p, 0);
}

/* Release the blocks and cursors (for iterators on the stack too). */
void kvSstIterClear(SstIter *p){
  iterReleaseAll(p);
  kvSstAheadRelease(&p->ahead);
  kvBlockIterClear(&p->idx);
  kvBlockIterClear(&p->data);
}

static void sstIterClose(KvIter *pIter){
  SstIter *p = (SstIter*)pIter;
  if( p ){
    kvSstIterClear(p);
    kvFree(p);
  }
}

static const KvIterMethods sstIterMethods = {
  sstIterFirst, sstIterLast, sstIterSeek, sstIterNext, sstIterPrev,
  sstIterClose
};

void kvSstIterInit(SstIter *p, KvSst *pSst){
  memset(p, 0, sizeof(*p));
  p->base.pMethods = &sstIterMethods;
  p->pSst = pSst;
  p->iChunk = -1;
  kvBlockIterInit(&p->idx, 0, kvSstCmp);
  kvBlockIterInit(&p->data, 0, kvSstCmp);
}

int kvSstIterNew(KvSst *pSst, int flags, KvIter **ppIter){
  SstIter *p = kvMalloc(sizeof(*p));
  *ppIter = 0;
  if( p==0 ) return kvErrNoMem();
  kvSstIterInit(p, pSst);
  p->bBulk = (flags & KV_SST_BULK)!=0;
  p->bAhead = 1;                /* a scan (point reads use the map) */
  *ppIter = &p->base;
  return KV_OK;
}

int kvSstRunIterNew(const KvSstRun *pRun, int flags, KvIter **ppIter){
  int rc = kvSstIterNew(0, flags, ppIter);
  if( rc==KV_OK ){
    SstIter *p = (SstIter*)*ppIter;
    p->bLevel = 1;
    p->run = *pRun;
    p->iFile = -1;
  }
  return rc;
}

/****************************************************************************
** Point lookup.
*/
static void counterAdd(_Atomic u64 *p){
  atomic_fetch_add_explicit(p, 1, memory_order_relaxed);
}

int kvSstGet(KvSst *pSst, const u8 *pKey, size_t nKey, u64 seq,
             int *pbFound, int *peType, KvBuf *pVal){
  const KvSstMeta *m = &pSst->meta;
  if( m->nEntry==0
   || kvUKeyCmp(pKey, nKey, m->smallest.a, m->smallest.n - KV_TRAILER)<0
   || kvUKeyCmp(pKey, nKey, m->largest.a, m->largest.n - KV_TRAILER)>0 ){
    *pbFound = 0;
    if( pSst->pCounters ) counterAdd(&pSst->pCounters->nFileProbe);
    return KV_OK;
  }
  return kvSstGetHashed(pSst, pKey, nKey, kvBloomHash(pKey, nKey), 1, seq,
                        pbFound, peType, pVal);
}

int kvSstGetHashed(KvSst *pSst, const u8 *pKey, size_t nKey, u32 hash,
                   int bFilter, u64 seq, int *pbFound, int *peType,
                   KvBuf *pVal){
  KvSst *p = pSst;
  const KvSstMeta *m = &p->meta;
  KvBuf target = {0, 0, 0};     /* the internal key sought, if too long */
  u8 aTarget[128];              /* ... for aTarget, the usual case */
  const u8 *pTarget = aTarget;
  size_t nTarget = nKey + KV_TRAILER;
  SstIter it;
  int eFilter;                  /* p->eFilter, as this lookup saw it (not
                                ** read at all with bFilter 0) */
  int rc = KV_OK;

  *pbFound = 0;
  if( p->pCounters ) counterAdd(&p->pCounters->nFileProbe);
  /* (the key's range was checked by the caller: kvSstGet, or a point read
  ** against the file's range in the version; a key outside the table's
  ** entries is searched for and not found) */
  if( m->nEntry==0 ) return KV_OK;
  eFilter = bFilter ? atomic_load_explicit(&p->eFilter, memory_order_acquire)
                   : SST_FILTER_UNREAD;
  if( bFilter && eFilter!=SST_FILTER_READY && p->nFilterPart ){
    /* the first lookup reads it (or, while another thread does, this one
    ** goes on without it) */
    rc = kvSstFilterLoad(p, 0);
    if( rc!=KV_OK ) return rc;
    eFilter = atomic_load_explicit(&p->eFilter, memory_order_acquire);
  }
  if( eFilter==SST_FILTER_READY ){
    if( p->pCounters ) counterAdd(&p->pCounters->nBloomCheck);
    if( !kvBloomCheck(&p->bloom, hash) ){
      if( p->pCounters ) counterAdd(&p->pCounters->nBloomNegative);
      return KV_OK;
    }
  }

  if( seq>KV_MAX_SEQ ) seq = KV_MAX_SEQ;
  if( nTarget<=sizeof(aTarget) ){
    if( nKey>0 ) memcpy(aTarget, pKey, nKey);
    kvPut64(aTarget + nKey, kvPackTrailer(seq, KV_TYPE_PUT));
  }else{
    rc = kvIKeyAppend(&target, pKey, nKey, seq, KV_TYPE_PUT);
    pTarget = target.a;
  }
  kvSstIterInit(&it, p);
  if( rc==KV_OK ) rc = sstIterSeek(&it.base, pTarget, nTarget);
  if( rc==KV_OK && it.base.bValid ){
    const u8 *pK = it.data.key.a;
    size_t nK = it.data.key.n;
    if( kvUKeyCmp(pK, nK - KV_TRAILER, pKey, nKey)==0 ){
      *pbFound = 1;
      *peType = kvIKeyType(pK, nK);
      if( *peType==KV_TYPE_PUT && pVal ){
        rc = kvBufSet(pVal, it.data.pVal, it.data.nVal);
      }
    }
  }
  kvSstIterClear(&it);
  kvBufFree(&target);
  if( rc!=KV_OK ) *pbFound = 0;
  return rc;
}
