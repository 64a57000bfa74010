/*
** compact.c - running a compaction chosen by compact_pick.c: merging its
** inputs into new SSTables while dropping what no reader can see, and
** installing the result.
**
** The store. compact.c never sees kv_db: it reaches its store only
** through the KvCompactHost given to kvCompactorOpen (kvInt.h), which
** db_compact.c fills in: the env, directory, options and version set, the
** store's mutex and condition variable, and six callbacks: the oldest read
** point to keep (xOldestSnapshot) and the live ones (xReadPoints), the one
** function that records a background error (xError), whether the store is
** closing (xClosing), flushing a waiting memtable (xFlushPending) and
** counting a finished compaction (xDone). When to compact (the background
** thread, inline after a flush, kv_compact) and write stalls are the
** store's business, in db_compact.c and db.c.
**
** Concurrency. One compaction at a time (KvCompactor.bRunning, under the
** store's mutex). A compaction run for the background thread flushes a
** waiting memtable every CHECK_EVERY entries and before each output, so
** writers are not held up behind a long merge. Files are numbered under
** the mutex; merging runs without it.
**
** Crash safety. Outputs are written by the SSTable builder (temporary name,
** fsync, rename, directory fsync); then the version edit (outputs added,
** inputs deleted) is appended to the manifest and fsynced by kvVsetApply;
** only then is the new version installed, and inputs are unlinked when the
** last version using them (an iterator's, a running read's) lets go
** (version.c, kvFileUnref). A crash before the manifest sync leaves
** outputs no manifest names: the next open deletes them. Outputs are
** unlinked here (outputRemoveAll) only if the edit was never attempted;
** after a failed manifest write they are left for the next open to judge,
** since the record may have reached the disk. Any compaction failure is
** sticky (like a failed flush): writes fail until it is retried or the
** store is reopened.
*/
#include "kvInt.h"
#include "compact_int.h"

#define CHECK_EVERY          1024
#define PROGRESS_EVERY       256    /* entries between progress reports */

static void hostLock(const KvCompactHost *h){ pthread_mutex_lock(h->pMutex); }
static void hostUnlock(const KvCompactHost *h){
  pthread_mutex_unlock(h->pMutex);
}

/* ---------------------------------------------------------------------- */
/* Running a compaction.                                                   */

/* Cursor over the older runs, for xOlder: keys arrive ascending, so each
** run's position only moves forward. */
typedef struct OlderCursor OlderCursor;
struct OlderCursor {
  KvCompaction *c;
  int *aPos;                    /* per run: index into c->apOld */
  int *aEnd;                    /* per run: one past its last file */
};

static int olderMayHold(void *pCtx, const u8 *k, size_t n){
  OlderCursor *p = (OlderCursor*)pCtx;
  KvCompaction *c = p->c;
  int r;
  for(r=0; r<c->nOldRun; r++){
    while( p->aPos[r]<p->aEnd[r]
        && kvCompactFileBefore(c->apOld[p->aPos[r]], k, n) ){
      p->aPos[r]++;
    }
    if( p->aPos[r]<p->aEnd[r]
     && !kvCompactFileAfter(c->apOld[p->aPos[r]], k, n) ){
      return 1;
    }
  }
  return 0;
}

static int olderInit(OlderCursor *p, KvCompaction *c){
  int i;
  int nRun = c->nOldRun ? c->nOldRun : 1;
  p->c = c;
  p->aPos = kvMallocZero(sizeof(int)*(size_t)nRun);
  p->aEnd = kvMallocZero(sizeof(int)*(size_t)nRun);
  if( p->aPos==0 || p->aEnd==0 ) return kvErrNoMem();
  for(i=c->nOld-1; i>=0; i--) p->aPos[c->aiOldRun[i]] = i;
  for(i=0; i<c->nOld; i++) p->aEnd[c->aiOldRun[i]] = i+1;
  return KV_OK;
}

static void olderFree(OlderCursor *p){
  kvFree(p->aPos);
  kvFree(p->aEnd);
}

/* Output files of a running compaction. */
typedef struct Output Output;
struct Output {
  KvCompactor *pC;              /* the store's compactor (its host) */
  KvCompaction *c;
  KvSstConfig cfg;
  KvSstBuilder *pB;             /* table being written, or NULL */
  u64 iFile;                    /* its number */
  u64 nShadow;                  /* its snapshot-only entries */
  KvVersionEdit edit;           /* finished outputs, then the deletions */
  ShadowCount *aDone;           /* finished outputs and their shadows */
  int nDone;
  KvBuf lastKey;                /* user key of the last entry added */
  int bLastKey;
  int iGrand;                   /* grandparent cursor */
  u64 nGrandOverlap;            /* bytes of grandparents the output spans */
  KvCompactStats *pSt;
  int bBg;                      /* on the background thread: may flush */
  kv_progress_fn xProgress;     /* kv_compact_progress callback, or NULL */
  void *pProgArg;
  int bCancel;                  /* xProgress asked to stop */
  int bKeepAbove;               /* keep every version above the oldest read
                                ** point (other processes read at points
                                ** this one does not know: shared.c) */
  /* Range tombstones of the inputs (rangedel.c), sorted by lo: each goes
  ** to the output open when the merge reaches its lo, and no output is
  ** cut before a key at or below the largest hi it holds, so outputs of
  ** one level never overlap. */
  KvRdList rd;
  int iRd;                      /* next tombstone to place */
  int bRdDropAll;               /* tombstones at or below oldestSnap go */
  u64 rdOldest;
  KvBuf rdMaxHi;                /* largest hi placed in the open output */
  int bRdMaxHi;
};

static int outputOpen(Output *p){
  const KvCompactHost *h = &p->pC->host;
  char *zPath;
  int rc;
  hostLock(h);
  p->iFile = kvVsetNewFileNumber(h->pVset);
  /* Each finished output cost fsyncs: a memtable that filled meanwhile is
  ** flushed now rather than after the whole merge. */
  if( p->bBg ) h->xFlushPending(h->pCtx);
  hostUnlock(h);
  zPath = kvSstPath(h->zDir, p->iFile);
  if( zPath==0 ) return kvErrNoMem();
  rc = kvSstBuilderNew(h->pEnv, zPath, &p->cfg,
                       h->pEnv->xNowMicros(h->pEnv), &p->pB);
  kvFree(zPath);
  p->nShadow = 0;
  p->nGrandOverlap = 0;
  return rc;
}

static int outputFinish(Output *p){
  KvSstMeta meta;
  ShadowCount *aNew;
  KvSstBuilder *pB = p->pB;
  int rc;
  memset(&meta, 0, sizeof(meta));
  p->pB = 0;
  aNew = kvRealloc(p->aDone, sizeof(ShadowCount)*(size_t)(p->nDone+1));
  if( aNew==0 ){
    kvSstBuilderAbandon(pB);
    return kvErrNoMem();
  }
  p->aDone = aNew;
  rc = kvSstBuilderFinish(pB, &meta);
  if( rc==KV_OK ){
    /* From here the file exists under its final name: remember it so a
    ** failure before the manifest edit removes it. */
    aNew[p->nDone].iFile = p->iFile;
    aNew[p->nDone].n = p->nShadow;
    p->nDone++;
    p->pSt->nFileOut++;
    p->pSt->nByteOut += meta.nFileSize;
    rc = kvEditAddFile(&p->edit, p->c->iOutLevel, &meta, p->iFile);
  }
  kvSstMetaFree(&meta);
  return rc;
}

/* Should the output be cut before user key k (which differs from the
** last key added)? */
static int outputCutBefore(Output *p, const u8 *k, size_t n){
  KvCompaction *c = p->c;
  int bCut = 0;
  while( p->iGrand<c->nGrand
      && kvCompactFileBefore(c->apGrand[p->iGrand], k, n) ){
    if( p->pB ) p->nGrandOverlap += c->apGrand[p->iGrand]->nByte;
    p->iGrand++;
  }
  if( p->pB && c->bSplit ){
    if( kvSstBuilderSize(p->pB)>=c->nTarget ) bCut = 1;
    if( p->nGrandOverlap>c->nMaxGrand ) bCut = 1;
  }
  return bCut;
}

/* Place the tombstones whose lo is below user key k (every one when k is
** NULL) into the open output, opening one if needed. A tombstone every
** reader sees, with nothing older outside the compaction, is dropped. */
static int outputPlaceRangeDels(Output *p, const u8 *k, size_t n){
  int rc = KV_OK;
  while( rc==KV_OK && p->iRd<p->rd.n ){
    const KvRangeTomb *t = &p->rd.a[p->iRd];
    if( k && kvUKeyCmp(t->pLo, t->nLo, k, n)>=0 ) break;
    p->iRd++;
    if( p->bRdDropAll && t->seq<=p->rdOldest ){
      p->pSt->nTombDrop++;
      continue;
    }
    if( p->pB==0 ) rc = outputOpen(p);
    if( rc==KV_OK ){
      rc = kvSstBuilderAddRangeDel(p->pB, t->pLo, t->nLo, t->pHi, t->nHi,
                                   t->seq);
    }
    if( rc==KV_OK && (!p->bRdMaxHi
         || kvUKeyCmp(t->pHi, t->nHi, p->rdMaxHi.a, p->rdMaxHi.n)>0) ){
      rc = kvBufSet(&p->rdMaxHi, t->pHi, t->nHi);
      p->bRdMaxHi = 1;
    }
  }
  return rc;
}

static int outputAdd(Output *p, const u8 *k, size_t nk, const u8 *v,
                     size_t nv, int bShadow){
  size_t nUser = nk - KV_TRAILER;
  int rc = KV_OK;
  if( !p->bLastKey || kvUKeyCmp(k, nUser, p->lastKey.a, p->lastKey.n)!=0 ){
    int bCut;
    if( p->iRd<p->rd.n ) rc = outputPlaceRangeDels(p, k, nUser);
    bCut = outputCutBefore(p, k, nUser);
    if( bCut && p->bRdMaxHi
     && kvUKeyCmp(k, nUser, p->rdMaxHi.a, p->rdMaxHi.n)<=0 ){
      bCut = 0;                 /* inside a tombstone it holds */
    }
    if( bCut && rc==KV_OK ){
      rc = outputFinish(p);
      p->bRdMaxHi = 0;
    }
    if( rc==KV_OK ) rc = kvBufSet(&p->lastKey, k, nUser);
    p->bLastKey = 1;
  }
  if( rc==KV_OK && p->pB==0 ) rc = outputOpen(p);
  if( rc==KV_OK ) rc = kvSstBuilderAdd(p->pB, k, nk, v, nv);
  if( rc==KV_OK && bShadow ) p->nShadow++;
  return rc;
}

/* Remove finished outputs after a failure that happened before the
** manifest was touched. Errors are ignored: the next open removes any
** table no manifest names. */
static void outputRemoveAll(Output *p){
  const KvCompactHost *h = &p->pC->host;
  KvErrSave save;
  int i;
  kvErrSave(&save);
  for(i=0; i<p->nDone; i++){
    char *z = kvSstPath(h->zDir, p->aDone[i].iFile);
    if( z ) h->pEnv->xUnlink(h->pEnv, z);
    kvFree(z);
  }
  kvErrRestore(&save, 0);
}

/* Publish the progress of compaction c (nStep of nPlanned entries merged)
** to kv_stats and to the caller's callback; returns nonzero when the
** callback asks to stop (pOut->bCancel is then set). Runs without the
** mutex; takes it to publish. */
static int progressReport(Output *pOut, KvCompaction *c, u64 nStep,
                          u64 nPlanned){
  KvCompactor *pC = pOut->pC;
  u64 nDone = c->nByteIn;
  if( nPlanned>nStep ){
    nDone = (u64)((double)c->nByteIn * (double)nStep / (double)nPlanned);
  }
  hostLock(&pC->host);
  pC->nProgDone = nDone;
  pC->nProgPlanned = c->nByteIn;
  hostUnlock(&pC->host);
  if( pOut->xProgress && pOut->xProgress(pOut->pProgArg, nDone, c->nByteIn) ){
    pOut->bCancel = 1;
  }
  return pOut->bCancel;
}

/* Merge the inputs of c into outputs. Runs without the mutex. *pbAbort is
** set when the store is shutting down or the progress callback cancels. */
static int mergeInputs(KvCompaction *c, const u64 *aSnap, int nSnap,
                       u64 oldestSnap, int bBg, Output *pOut, int *pbAbort){
  const KvCompactHost *h = &pOut->pC->host;
  KvIter **ap = 0;
  KvIter *pMerge = 0;
  KvDropFilter drop;
  OlderCursor older;
  int nIter = 0;
  int rc = KV_OK;
  int i = 0;
  u64 nStep = 0, nPlanned = 0;
  KvRdFrags *pRdFrags = 0;

  memset(&older, 0, sizeof(older));
  rc = olderInit(&older, c);
  kvDropFilterInit(&drop, aSnap, nSnap, oldestSnap, olderMayHold, &older);
  ap = kvMallocZero(sizeof(KvIter*)*(size_t)(c->nIn ? c->nIn : 1));
  if( ap==0 ) rc = kvErrNoMem();
  /* L0 files one iterator each; a level's files (adjacent, by key) one
  ** level iterator. */
  while( rc==KV_OK && i<c->nIn ){
    int n = 1;
    if( c->aiInLevel[i]>0 ){
      while( i+n<c->nIn && c->aiInLevel[i+n]==c->aiInLevel[i] ) n++;
    }
    rc = kvLevelIterNew(&c->apIn[i], n, KV_SST_BULK, &ap[nIter]);
    if( rc==KV_OK ) nIter++;
    i += n;
  }
  if( rc==KV_OK ){
    rc = kvMergeIterNew(ap, nIter, &pMerge);
    nIter = 0;
  }
  for(i=0; i<nIter; i++) ap[i]->pMethods->xClose(ap[i]);
  kvFree(ap);

  for(i=0; i<c->nIn; i++) nPlanned += c->apIn[i]->nEntry;
  /* Range tombstones: entries they hide from every read point go; the
  ** tombstones themselves go once nothing older outside the compaction
  ** can hold their keys and every reader sees them. */
  if( rc==KV_OK ) rc = kvFilesRangeDels(c->apIn, c->nIn, &pOut->rd);
  if( rc==KV_OK && pOut->rd.n>0 ){
    kvRdListSort(&pOut->rd);
    rc = kvRdFragsBuild(&pOut->rd, KV_MAX_SEQ, &pRdFrags);
    pOut->bRdDropAll = (c->nOld==0);
    pOut->rdOldest = oldestSnap;
  }

  if( rc==KV_OK ) rc = pMerge->pMethods->xFirst(pMerge);
  while( rc==KV_OK && kvIterValid(pMerge) ){
    const u8 *k, *v;
    size_t nk, nv;
    int eVerdict;
    kvIterKey(pMerge, &k, &nk);
    rc = kvDropFilterStep(&drop, k, nk, &eVerdict);
    if( rc ) break;
    if( pOut->bKeepAbove && kvIKeySeq(k, nk)>oldestSnap ) eVerdict = KV_KEEP;
    if( eVerdict==KV_KEEP && pRdFrags ){
      u64 s = kvIKeySeq(k, nk);
      u64 tNext = kvRdFragsNextSeq(pRdFrags, k, nk - KV_TRAILER, s);
      if( tNext>0 ){
        /* hidden from every read point at or above tNext; kept only if
        ** a read point lies in [s, tNext) */
        int iSnap = 0, hi = nSnap;
        while( iSnap<hi ){
          int mid = (iSnap+hi)/2;
          if( aSnap[mid]<s ) iSnap = mid+1; else hi = mid;
        }
        if( (iSnap>=nSnap || aSnap[iSnap]>=tNext)
         && !(pOut->bKeepAbove && tNext>oldestSnap) ){
          eVerdict = KV_DROP_SHADOWED;
        }
      }
    }
    if( eVerdict==KV_KEEP ){
      kvIterValue(pMerge, &v, &nv);
      rc = outputAdd(pOut, k, nk, v, nv, !drop.bNewest);
    }else{
      pOut->pSt->nEntryDrop++;
      if( kvIKeyType(k, nk)==KV_TYPE_DEL ) pOut->pSt->nTombDrop++;
    }
    if( rc==KV_OK ) rc = pMerge->pMethods->xNext(pMerge);
    if( rc==KV_OK && ++nStep%PROGRESS_EVERY==0
     && progressReport(pOut, c, nStep, nPlanned) ){
      *pbAbort = 1;
      break;
    }
    if( rc==KV_OK && nStep%CHECK_EVERY==0 ){
      hostLock(h);
      if( h->xClosing(h->pCtx) ){
        *pbAbort = 1;
      }else if( bBg ){
        h->xFlushPending(h->pCtx);
      }
      hostUnlock(h);
      if( *pbAbort ) break;
    }
  }
  if( rc==KV_OK && !*pbAbort && pOut->iRd<pOut->rd.n ){
    rc = outputPlaceRangeDels(pOut, 0, 0);
  }
  if( rc==KV_OK && !*pbAbort && pOut->pB ) rc = outputFinish(pOut);
  if( pMerge ) pMerge->pMethods->xClose(pMerge);
  kvRdFragsFree(pRdFrags);
  kvDropFilterFree(&drop);
  olderFree(&older);
  return rc;
}

/* Run compaction c and install its result. REQUIRES: mutex held and
** pC->bRunning set by the caller. The mutex is released while tables are
** written. Adds what was done to *pSt. A failure is recorded with the
** host's xError (sticky). */
static int runCompaction(KvCompactor *pC, KvCompaction *c, int bBg,
                         KvCompactStats *pSt, kv_progress_fn xProgress,
                         void *pProgArg){
  const KvCompactHost *h = &pC->host;
  KvCompactStats st;
  Output out;
  u64 tStart = h->pEnv->xMonoMicros(h->pEnv);
  int bAbort = 0, bApplied = 0;
  int rc = KV_OK;
  int i;

  assert( pC->bRunning );
  memset(&st, 0, sizeof(st));
  memset(&out, 0, sizeof(out));
  out.pC = pC;
  out.c = c;
  out.pSt = &st;
  out.bBg = bBg;
  out.xProgress = xProgress;
  out.pProgArg = pProgArg;
  pC->nProgDone = 0;
  pC->nProgPlanned = c->bTrivial ? 0 : c->nByteIn;
  kvSstConfigFromOptions(h->pOpts, &out.cfg);
  st.nFileIn = (u64)c->nIn;
  st.nByteIn = c->nByteIn;

  if( c->bTrivial ){
    /* Same files, deeper level: only the manifest changes. */
    for(i=0; rc==KV_OK && i<c->nIn; i++){
      KvFileMeta *f = c->apIn[i];
      KvSstMeta m;
      memset(&m, 0, sizeof(m));
      m.nEntry = f->nEntry;
      m.nTombstone = f->nTombstone;
      m.nRangeDel = f->nRangeDel;
      m.minSeq = f->minSeq;
      m.maxSeq = f->maxSeq;
      m.nFileSize = f->nByte;
      memcpy(m.aMerkle, f->aMerkle, 32);
      m.smallest = f->smallest;   /* borrowed: kvEditAddFile copies */
      m.largest = f->largest;
      rc = kvEditAddFile(&out.edit, c->iOutLevel, &m, f->iFile);
    }
    st.nByteIn = 0;
    st.nFileIn = 0;
  }else{
    u64 oldestSnap = h->xOldestSnapshot(h->pCtx);
    u64 *aSnap = 0;
    int nSnap = 0;
    /* Versions below oldestSnap may go: the host keeps later read points
    ** from being older, and lists the live ones. */
    rc = h->xReadPoints(h->pCtx, &oldestSnap, &aSnap, &nSnap,
                        &out.bKeepAbove);
    hostUnlock(h);
    if( rc==KV_OK && xProgress && xProgress(pProgArg, 0, c->nByteIn) ){
      out.bCancel = bAbort = 1;
    }
    if( rc==KV_OK && !bAbort ){
      rc = mergeInputs(c, aSnap, nSnap, oldestSnap, bBg, &out, &bAbort);
    }
    kvFree(aSnap);
    if( out.pB ){
      kvSstBuilderAbandon(out.pB);
      out.pB = 0;
    }
    hostLock(h);
  }

  for(i=0; rc==KV_OK && !bAbort && i<c->nIn; i++){
    rc = kvEditDelFile(&out.edit, c->aiInLevel[i], c->apIn[i]->iFile);
  }
  if( rc==KV_OK && !bAbort ){
    bApplied = 1;
    rc = kvVsetApply(h->pVset, &out.edit);
  }
  if( rc==KV_OK && !bAbort ){
    for(i=0; i<c->nIn; i++){
      if( !c->bTrivial ) kvCompactorShadowRemove(pC, c->apIn[i]->iFile);
    }
    for(i=0; i<out.nDone; i++){
      kvCompactorShadowSet(pC, out.aDone[i].iFile, out.aDone[i].n);
    }
    st.nMicros = h->pEnv->xMonoMicros(h->pEnv) - tStart;
    pC->total.nFileIn += st.nFileIn;
    pC->total.nFileOut += st.nFileOut;
    pC->total.nByteIn += st.nByteIn;
    pC->total.nByteOut += st.nByteOut;
    pC->total.nTombDrop += st.nTombDrop;
    pC->total.nEntryDrop += st.nEntryDrop;
    pC->total.nMicros += st.nMicros;
    if( c->bTrivial ) pC->nTrivial++;
    if( c->eReason==KV_CREASON_GARBAGE ) pC->nGarbage++;
    if( c->eReason==KV_CREASON_SEEK ) pC->nSeek++;
    if( c->eReason==KV_CREASON_FULL ) pC->nFull++;
    h->xDone(h->pCtx, &st);
    if( pSt ){
      pSt->nFileIn += st.nFileIn;
      pSt->nFileOut += st.nFileOut;
      pSt->nByteIn += st.nByteIn;
      pSt->nByteOut += st.nByteOut;
      pSt->nTombDrop += st.nTombDrop;
      pSt->nEntryDrop += st.nEntryDrop;
    }
  }else{
    if( !bApplied ) outputRemoveAll(&out);
    if( rc!=KV_OK ) h->xError(h->pCtx, rc, "compaction");
  }
  pC->nProgDone = pC->nProgPlanned = 0;
  kvEditClear(&out.edit);
  kvFree(out.aDone);
  kvBufFree(&out.lastKey);
  if( rc==KV_OK && out.bCancel ){
    rc = kvErr(KV_INTERRUPT, "kvstore: compaction of '%s' interrupted; "
               "the store is unchanged", h->zDir);
  }
  kvBufFree(&out.rdMaxHi);
  kvRdListFree(&out.rd);
  return rc;
}

/* Pick a compaction (everything into the bottom level when bFull, else
** the due one) and run it with pC->bRunning set; then wake whoever waits
** for the compaction to end. *pbRan is 0 when there was nothing to do. A
** failure to pick a due compaction is recorded with xError too.
** REQUIRES: mutex held, none running. */
static int pickAndRunLocked(KvCompactor *pC, int bFull, int bBg,
                            KvCompactStats *pSt, int *pbRan,
                            kv_progress_fn xProgress, void *pProgArg);
static int pickAndRun(KvCompactor *pC, int bFull, int bBg,
                      KvCompactStats *pSt, int *pbRan,
                      kv_progress_fn xProgress, void *pProgArg){
  const KvCompactHost *h = &pC->host;
  int rc;
  assert( !pC->bRunning );
  *pbRan = 0;
  /* Picking and running are one step of the store's maintenance, which
  ** several processes take turns at (shared.c); a background compaction
  ** does not wait for its turn (KV_BUSY: nothing ran). */
  rc = h->xMaintBegin(h->pCtx, !bBg);
  if( rc==KV_BUSY && bBg ) return KV_OK;
  if( rc!=KV_OK ){
    h->xError(h->pCtx, rc, "reading the manifest");
    return rc;
  }
  rc = pickAndRunLocked(pC, bFull, bBg, pSt, pbRan, xProgress, pProgArg);
  h->xMaintEnd(h->pCtx, *pbRan && rc==KV_OK);
  return rc;
}

static int pickAndRunLocked(KvCompactor *pC, int bFull, int bBg,
                            KvCompactStats *pSt, int *pbRan,
                            kv_progress_fn xProgress, void *pProgArg){
  const KvCompactHost *h = &pC->host;
  KvCompaction *c = 0;
  KvVersion *v;
  int rc;
  v = kvVersionCurrent(h->pVset);
  if( bFull ){
    rc = kvCompactPickFull(v, h->pOpts, &c);
  }else{
    rc = kvCompactPick(v, h->pOpts, pC, h->xOldestSnapshot(h->pCtx), &c);
    if( rc!=KV_OK ) h->xError(h->pCtx, rc, "compaction");
  }
  kvVersionUnref(v);
  if( rc!=KV_OK || c==0 ) return rc;
  *pbRan = 1;
  pC->bRunning = 1;
  rc = runCompaction(pC, c, bBg, pSt, xProgress, pProgArg);
  pC->bRunning = 0;
  kvCompactionFree(c);
  pthread_cond_broadcast(h->pCvWork);
  return rc;
}

int kvCompactRunDue(KvCompactor *pC, int bBg, KvCompactStats *pSt,
                    int *pbRan, kv_progress_fn xProgress, void *pProgArg){
  return pickAndRun(pC, 0, bBg, pSt, pbRan, xProgress, pProgArg);
}

int kvCompactRunFull(KvCompactor *pC, KvCompactStats *pSt,
                     kv_progress_fn xProgress, void *pProgArg){
  int bRan = 0;
  return pickAndRun(pC, 1, 0, pSt, &bRan, xProgress, pProgArg);
}

int kvCompactorOpen(const KvCompactHost *pHost, KvCompactor **pp){
  int rc = kvCompactorNew(pp);
  if( rc==KV_OK ) (*pp)->host = *pHost;
  return rc;
}

int kvCompactRunning(const KvCompactor *pC){
  return pC->bRunning;
}

void kvCompactCounters(const KvCompactor *pC, KvCompactCounters *pOut){
  pOut->total = pC->total;
  pOut->nTrivial = pC->nTrivial;
  pOut->nGarbage = pC->nGarbage;
  pOut->nSeek = pC->nSeek;
  pOut->nFull = pC->nFull;
  pOut->nProgDone = pC->nProgDone;
  pOut->nProgPlanned = pC->nProgPlanned;
  pOut->bRunning = pC->bRunning;
}

void kvCompactSeekCharge(KvCompactor *pC, KvFileMeta *f){
  const KvCompactHost *h = &pC->host;
  u64 nAllowed = f->nByte / (16*1024);
  u32 n;
  if( nAllowed<100 ) nAllowed = 100;
  n = atomic_fetch_add_explicit(&f->nSeeks, 1, memory_order_relaxed) + 1;
  if( n!=nAllowed ) return;             /* exactly one reader gets here */
  hostLock(h);
  if( pC->pSeek==0 && h->pOpts->eCompaction==KV_COMPACT_LEVELED ){
    kvFileRef(f);
    pC->pSeek = f;
    pC->iSeekLevel = 0;
    pthread_cond_broadcast(h->pCvWork);
  }
  hostUnlock(h);
}
