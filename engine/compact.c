/*
** compact.c - running a compaction chosen by compact_pick.c: merging its
** inputs into new SSTables while dropping what no reader can see,
** installing the result, write stalls, kv_compact() and its statistics.
**
** Concurrency. One compaction at a time (KvCompactor.bRunning, under the
** db mutex). With background=on the background thread flushes first and
** compacts when nothing is waiting to be flushed; a running compaction
** flushes a waiting memtable every CHECK_EVERY entries, so writers are not
** held up behind a long merge. With background=off a flush runs the due
** compactions inline (deterministic for tests). kv_compact() runs in the
** caller's thread, after any running compaction. Files are numbered under
** the db mutex; merging runs without it.
**
** Write stalls (background=on only; inline work cannot fall behind): a
** write that finds L0 at 2 * level0_trigger files sleeps 1 ms once (the
** slowdown spreads the delay over many writes instead of one long stop);
** a write that needs a memtable switch while L0 holds 3 * level0_trigger
** files waits for a compaction to finish. So L0 never grows past the stop
** threshold plus the one flush that may be in flight.
**
** Crash safety. Outputs are written by the SSTable builder (temporary name,
** fsync, rename, directory fsync); then the version edit (outputs added,
** inputs deleted) is appended to the manifest and fsynced by kvVsetApply;
** only then is the new version installed, and inputs are unlinked when the
** last version using them (an iterator's, a running read's) lets go. A
** crash before the manifest sync leaves outputs no manifest names: the next
** open deletes them. Outputs are unlinked here only if the edit was never
** attempted; after a failed manifest write they are left for the next open
** to judge, since the record may have reached the disk. Any compaction
** failure is sticky (like a failed flush): writes fail until reopen.
*/
#include "kvInt.h"
#include "compact_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK_EVERY          1024
#define PROGRESS_EVERY       256    /* entries between progress reports */
#define MAX_ROUNDS           1000   /* kv_compact(.., 0): compactions per call */

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
  kv_db *db;
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
  kv_db *db = p->db;
  char *zPath;
  int rc;
  kvDbLock(db);
  p->iFile = kvVsetNewFileNumber(&db->vset);
  /* Each finished output cost fsyncs: a memtable that filled meanwhile is
  ** flushed now rather than after the whole merge. */
  if( p->bBg ) kvDbFlushPending(db);
  kvDbUnlock(db);
  zPath = kvSstPath(db->zDir, p->iFile);
  if( zPath==0 ) return kvErrNoMem();
  rc = kvSstBuilderNew(db->pEnv, zPath, &p->cfg,
                       db->pEnv->xNowMicros(db->pEnv), &p->pB);
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
  KvErrSave save;
  int i;
  kvErrSave(&save);
  for(i=0; i<p->nDone; i++){
    char *z = kvSstPath(p->db->zDir, p->aDone[i].iFile);
    if( z ) p->db->pEnv->xUnlink(p->db->pEnv, z);
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
  kv_db *db = pOut->db;
  u64 nDone = c->nByteIn;
  if( nPlanned>nStep ){
    nDone = (u64)((double)c->nByteIn * (double)nStep / (double)nPlanned);
  }
  kvDbLock(db);
  db->pCompactor->nProgDone = nDone;
  db->pCompactor->nProgPlanned = c->nByteIn;
  kvDbUnlock(db);
  if( pOut->xProgress && pOut->xProgress(pOut->pProgArg, nDone, c->nByteIn) ){
    pOut->bCancel = 1;
  }
  return pOut->bCancel;
}

/* Merge the inputs of c into outputs. Runs without the mutex. *pbAbort is
** set when the store is shutting down or the progress callback cancels. */
static int mergeInputs(kv_db *db, KvCompaction *c, const u64 *aSnap,
                       int nSnap, u64 oldestSnap, int bBg, Output *pOut,
                       int *pbAbort){
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
    if( db->bOthersRead && kvIKeySeq(k, nk)>oldestSnap ){
      /* Other processes read at points this one does not know, all at or
      ** above oldestSnap: every version above it stays (shared.c). */
      eVerdict = KV_KEEP;
    }
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
         && !(db->bOthersRead && tNext>oldestSnap) ){
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
      kvDbLock(db);
      if( db->bShutdown ){
        *pbAbort = 1;
      }else if( bBg && db->pImm && db->rcBg==KV_OK ){
        kvDbFlushPending(db);
      }
      kvDbUnlock(db);
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

static int cmpU64(const void *a, const void *b){
  u64 x = *(const u64*)a, y = *(const u64*)b;
  return x<y ? -1 : x>y;
}

/* The read points of live snapshots and iterators, and iExtra if not 0,
** ascending (kvFree).
** Readers registered later read at or above the current last sequence, so
** they see the newest version of everything being merged. REQUIRES:
** mutex held. */
static int snapshotList(kv_db *db, u64 iExtra, u64 **paSnap, int *pnSnap){
  KvSnapLink *p;
  u64 *a;
  int n = iExtra ? 1 : 0;
  *paSnap = 0;
  *pnSnap = 0;
  for(p=db->snapHead.pNext; p!=&db->snapHead; p=p->pNext) n++;
  if( n==0 ) return KV_OK;
  a = kvMalloc(sizeof(u64)*(size_t)n);
  if( a==0 ) return kvErrNoMem();
  n = 0;
  /* iExtra: the oldest read point of another process (shared.c), whose
  ** others this process does not know. */
  if( iExtra ) a[n++] = iExtra;
  for(p=db->snapHead.pNext; p!=&db->snapHead; p=p->pNext) a[n++] = p->seq;
  qsort(a, (size_t)n, sizeof(u64), cmpU64);
  *paSnap = a;
  *pnSnap = n;
  return KV_OK;
}

/* Run compaction c and install its result. REQUIRES: mutex held and
** db->pCompactor->bRunning set by the caller. The mutex is released while
** tables are written. Adds what was done to *pSt. A failure is sticky. */
static int runCompaction(kv_db *db, KvCompaction *c, int bBg,
                         KvCompactStats *pSt, kv_progress_fn xProgress,
                         void *pProgArg){
  KvCompactor *pC = db->pCompactor;
  KvCompactStats st;
  Output out;
  u64 tStart = db->pEnv->xMonoMicros(db->pEnv);
  int bAbort = 0, bApplied = 0;
  int rc = KV_OK;
  int i;

  assert( pC->bRunning );
  memset(&st, 0, sizeof(st));
  memset(&out, 0, sizeof(out));
  out.db = db;
  out.c = c;
  out.pSt = &st;
  out.bBg = bBg;
  out.xProgress = xProgress;
  out.pProgArg = pProgArg;
  pC->nProgDone = 0;
  pC->nProgPlanned = c->bTrivial ? 0 : c->nByteIn;
  kvSstConfigFromOptions(db->pOpts, &out.cfg);
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
    u64 oldestSnap = kvDbOldestSnapshot(db);
    u64 *aSnap = 0;
    int nSnap = 0;
    /* Versions below oldestSnap may go: no later read point may be older
    ** (kv_snapshot_at; across processes, shared.c). */
    oldestSnap = kvDbDropFloor(db, oldestSnap);
    rc = snapshotList(db, db->bOthersRead ? oldestSnap : 0, &aSnap, &nSnap);
    kvDbUnlock(db);
    if( rc==KV_OK && xProgress && xProgress(pProgArg, 0, c->nByteIn) ){
      out.bCancel = bAbort = 1;
    }
    if( rc==KV_OK && !bAbort ){
      rc = mergeInputs(db, c, aSnap, nSnap, oldestSnap, bBg, &out, &bAbort);
    }
    kvFree(aSnap);
    if( out.pB ){
      kvSstBuilderAbandon(out.pB);
      out.pB = 0;
    }
    kvDbLock(db);
  }

  for(i=0; rc==KV_OK && !bAbort && i<c->nIn; i++){
    rc = kvEditDelFile(&out.edit, c->aiInLevel[i], c->apIn[i]->iFile);
  }
  if( rc==KV_OK && !bAbort ){
    bApplied = 1;
    rc = kvVsetApply(&db->vset, &out.edit);
  }
  if( rc==KV_OK && !bAbort ){
    for(i=0; i<c->nIn; i++){
      if( !c->bTrivial ) kvCompactorShadowRemove(pC, c->apIn[i]->iFile);
    }
    for(i=0; i<out.nDone; i++){
      kvCompactorShadowSet(pC, out.aDone[i].iFile, out.aDone[i].n);
    }
    st.nMicros = db->pEnv->xMonoMicros(db->pEnv) - tStart;
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
    db->nCompactions++;
    db->nCompactBytes += st.nByteOut;
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
    if( rc!=KV_OK ) kvDbBgError(db, rc, "compaction");
  }
  pC->nProgDone = pC->nProgPlanned = 0;
  kvEditClear(&out.edit);
  kvFree(out.aDone);
  kvBufFree(&out.lastKey);
  if( rc==KV_OK && out.bCancel ){
    rc = kvErr(KV_INTERRUPT, "kvstore: compaction of '%s' interrupted; "
               "the store is unchanged", db->zDir);
  }
  kvBufFree(&out.rdMaxHi);
  kvRdListFree(&out.rd);
  return rc;
}

/* Pick and run one due compaction. REQUIRES: mutex held, none running.
** Returns KV_OK with *pbRan 0 when nothing is due. */
static int compactOneLocked(kv_db *db, int bBg, KvCompactStats *pSt,
                            int *pbRan, kv_progress_fn xProgress,
                            void *pProgArg);

/* compactOne under the maintenance lock of a store several processes may
** share (shared.c): a background compaction does not wait for it
** (db->bMaintBusy tells bgMain to look again later). */
static int compactOne(kv_db *db, int bBg, KvCompactStats *pSt, int *pbRan,
                      kv_progress_fn xProgress, void *pProgArg){
  int rc = kvSharedMaintBegin(db, !bBg);
  *pbRan = 0;
  db->bMaintBusy = 0;
  if( rc==KV_BUSY && bBg ){
    db->bMaintBusy = 1;
    return KV_OK;
  }
  if( rc!=KV_OK ){
    kvDbBgError(db, rc, "reading the manifest");
    return rc;
  }
  rc = compactOneLocked(db, bBg, pSt, pbRan, xProgress, pProgArg);
  kvSharedMaintEnd(db, *pbRan);
  return rc;
}

static int compactOneLocked(kv_db *db, int bBg, KvCompactStats *pSt,
                            int *pbRan, kv_progress_fn xProgress,
                            void *pProgArg){
  KvCompactor *pC = db->pCompactor;
  KvCompaction *c = 0;
  KvVersion *v;
  int rc;
  *pbRan = 0;
  v = kvVersionCurrent(&db->vset);
  rc = kvCompactPick(v, db->pOpts, pC, kvDbOldestSnapshot(db), &c);
  kvVersionUnref(v);
  if( rc!=KV_OK ){
    kvDbBgError(db, rc, "compaction");
    return rc;
  }
  if( c==0 ) return KV_OK;
  *pbRan = 1;
  pC->bRunning = 1;
  rc = runCompaction(db, c, bBg, pSt, xProgress, pProgArg);
  pC->bRunning = 0;
  kvCompactionFree(c);
  pthread_cond_broadcast(&db->cvWork);
  return rc;
}

int kvCompactBackground(kv_db *db){
  int bRan = 0;
  if( db->pCompactor==0 || db->pCompactor->bRunning || db->rcBg!=KV_OK ){
    return 0;
  }
  db->bBgActive = 1;
  compactOne(db, 1, 0, &bRan, 0, 0);
  db->bBgActive = 0;
  return bRan;
}

void kvCompactInline(kv_db *db){
  int n;
  if( db->pCompactor==0 || db->pCompactor->bRunning ) return;
  for(n=0; n<MAX_ROUNDS && db->rcBg==KV_OK && !db->bShutdown; n++){
    int bRan = 0;
    if( compactOne(db, 0, 0, &bRan, 0, 0)!=KV_OK || !bRan ) break;
  }
}

void kvCompactSeekCharge(kv_db *db, KvFileMeta *f, int iLevel){
  u64 nAllowed = f->nByte / (16*1024);
  u32 n;
  if( nAllowed<100 ) nAllowed = 100;
  n = atomic_fetch_add_explicit(&f->nSeeks, 1, memory_order_relaxed) + 1;
  if( n!=nAllowed ) return;             /* exactly one reader gets here */
  kvDbLock(db);
  if( db->pCompactor && db->pCompactor->pSeek==0
   && db->pOpts->eCompaction==KV_COMPACT_LEVELED ){
    kvFileRef(f);
    db->pCompactor->pSeek = f;
    db->pCompactor->iSeekLevel = iLevel;
    pthread_cond_broadcast(&db->cvWork);
  }
  kvDbUnlock(db);
}

/* ---------------------------------------------------------------------- */
/* Write stalls.                                                           */

int kvCompactSlowdown(kv_db *db, int *pbSlowed){
  KvVersion *v = db->vset.pCurrent;
  u64 t;
  if( !db->bBgThread || *pbSlowed || v==0 ) return 0;
  if( v->anFile[0] < 2*db->pOpts->nL0Trigger ) return 0;
  *pbSlowed = 1;
  t = db->pEnv->xMonoMicros(db->pEnv);
  kvDbUnlock(db);
  db->pEnv->xSleepMicros(db->pEnv, 1000);
  kvDbLock(db);
  db->nStallMicros += db->pEnv->xMonoMicros(db->pEnv) - t;
  if( db->pCompactor ) db->pCompactor->nSlowdown++;
  return 1;
}

int kvCompactStop(kv_db *db){
  KvVersion *v = db->vset.pCurrent;
  u64 t;
  if( !db->bBgThread || v==0 || db->rcBg!=KV_OK ) return 0;
  if( v->anFile[0] < 3*db->pOpts->nL0Trigger ) return 0;
  t = db->pEnv->xMonoMicros(db->pEnv);
  pthread_cond_broadcast(&db->cvWork);
  pthread_cond_wait(&db->cvWork, &db->mutex);
  db->nStallMicros += db->pEnv->xMonoMicros(db->pEnv) - t;
  if( db->pCompactor ) db->pCompactor->nStop++;
  return 1;
}

/* ---------------------------------------------------------------------- */
/* kv_compact and statistics.                                              */

static int statsJson(const KvCompactStats *p, char **pzJson){
  *pzJson = kvMprintf("{\"files_in\":%" PRIu64 ",\"files_out\":%" PRIu64
                      ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
                      ",\"tombstones_dropped\":%" PRIu64
                      ",\"entries_dropped\":%" PRIu64 ",\"ms\":%" PRIu64 "}",
                      p->nFileIn, p->nFileOut, p->nByteIn, p->nByteOut,
                      p->nTombDrop, p->nEntryDrop, p->nMicros/1000);
  if( *pzJson==0 ) return kvErrNoMem();
  return KV_OK;
}

/* Wait up to 10 ms for the compaction running to signal, after asking
** xProgress (called with 0 of 0 bytes: waiting, without the mutex)
** whether to go on. Returns nonzero when it asks to stop. REQUIRES: mutex
** held. */
static int waitAsking(kv_db *db, kv_progress_fn xProgress, void *pArg){
  struct timespec deadline;
  int bStop;
  kvDbUnlock(db);
  bStop = xProgress(pArg, 0, 0);
  kvDbLock(db);
  if( bStop ) return 1;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_nsec += 10*1000000L;
  if( deadline.tv_nsec>=1000000000L ){
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_cond_timedwait(&db->cvWork, &db->mutex, &deadline);
  return 0;
}

int kv_compact(kv_db *db, int bFull, char **pzJson){
  return kv_compact_progress(db, bFull, 0, 0, pzJson);
}

int kv_compact_progress(kv_db *db, int bFull, kv_progress_fn xProgress,
                        void *pArg, char **pzJson){
  KvCompactStats st;
  u64 tStart;
  int rc = KV_OK;
  int n;

  if( pzJson ) *pzJson = 0;
  if( db==0 ) return kvErr(KV_MISUSE, "kvstore: kv_compact: NULL store");
  if( db->bReadOnly ) return kvDbReadOnlyErr(db);
  kvErrClear();
  memset(&st, 0, sizeof(st));
  tStart = db->pEnv->xMonoMicros(db->pEnv);
  if( bFull ) rc = kv_flush(db);
  if( rc==KV_OK ){
    kvDbLock(db);
    for(n=0; rc==KV_OK && n<MAX_ROUNDS; n++){
      KvCompactor *pC = db->pCompactor;
      KvCompaction *c = 0;
      int bRan = 0;
      while( pC->bRunning && db->rcBg==KV_OK ){
        if( xProgress==0 ){
          pthread_cond_wait(&db->cvWork, &db->mutex);
        }else if( waitAsking(db, xProgress, pArg) ){
          rc = kvErr(KV_INTERRUPT, "kvstore: compaction of '%s' interrupted "
                     "while waiting for a running one; the store is "
                     "unchanged", db->zDir);
          break;
        }
      }
      if( rc!=KV_OK ) break;
      rc = kvDbStickyError(db);
      if( rc!=KV_OK ) break;
      if( !bFull ){
        rc = compactOne(db, 0, &st, &bRan, xProgress, pArg);
        if( !bRan ) break;
        continue;
      }
      rc = kvSharedMaintBegin(db, 1);
      if( rc==KV_OK ){
        KvVersion *v = kvVersionCurrent(&db->vset);
        rc = kvCompactPickFull(v, db->pOpts, &c);
        kvVersionUnref(v);
        if( rc==KV_OK && c ){
          pC->bRunning = 1;
          rc = runCompaction(db, c, 0, &st, xProgress, pArg);
          pC->bRunning = 0;
          pthread_cond_broadcast(&db->cvWork);
        }
        kvSharedMaintEnd(db, c!=0 && rc==KV_OK);
      }
      kvCompactionFree(c);
      break;
    }
    kvDbUnlock(db);
  }
  st.nMicros = db->pEnv->xMonoMicros(db->pEnv) - tStart;
  if( rc==KV_OK && pzJson ) rc = statsJson(&st, pzJson);
  return rc;
}

int kvCompactStatsJson(kv_db *db, KvBuf *pOut){
  KvCompactor *pC = db->pCompactor;
  KvCompactor copy;
  KvVersion *v;
  char aTmp[1024];
  u64 nSst = 0, nRunMax = 0;
  u64 nGets, nProbe, nStall;
  int i, j, bRunning;
  int rc = KV_OK;

  memset(&copy, 0, sizeof(copy));
  kvDbLock(db);
  if( pC ) copy = *pC;
  bRunning = pC ? pC->bRunning : 0;
  nStall = db->nStallMicros;
  v = kvVersionCurrent(&db->vset);
  kvDbUnlock(db);
  /* Space amplification: SSTable bytes over an estimate of the live data,
  ** the largest sorted run (the bottom level once the tree has settled,
  ** which is what a full compaction would keep when it holds the live
  ** data; an overestimate while the data is spread over L0). */
  for(i=0; i<KV_MAX_LEVELS; i++){
    u64 nLevel = 0;
    for(j=0; j<v->anFile[i]; j++){
      KvFileMeta *f = v->aaFile[i][j];
      nLevel += f->nByte;
      if( i==0 && f->nByte>nRunMax ) nRunMax = f->nByte;
    }
    nSst += nLevel;
    if( i>0 && nLevel>nRunMax ) nRunMax = nLevel;
  }
  kvVersionUnref(v);
  nGets = atomic_load(&db->nGets);
  nProbe = atomic_load(&db->counters.nFileProbe);
  snprintf(aTmp, sizeof(aTmp),
    "\"compaction\":{\"strategy\":\"%s\",\"running\":%d,\"files_in\":%" PRIu64
    ",\"files_out\":%" PRIu64 ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
    ",\"tombstones_dropped\":%" PRIu64 ",\"entries_dropped\":%" PRIu64
    ",\"trivial_moves\":%" PRIu64 ",\"garbage_triggered\":%" PRIu64
    ",\"seek_triggered\":%" PRIu64
    ",\"full\":%" PRIu64 ",\"ms\":%" PRIu64 ",\"stall_slowdowns\":%" PRIu64
    ",\"stall_stops\":%" PRIu64 ",\"stall_micros\":%" PRIu64
    ",\"progress\":{\"bytes_done\":%" PRIu64 ",\"bytes_planned\":%" PRIu64 "}},"
    "\"space_amplification\":%.3f,\"files_per_get\":%.3f,",
    db->pOpts->eCompaction==KV_COMPACT_TIERED ? "tiered" : "leveled",
    bRunning, copy.total.nFileIn, copy.total.nFileOut, copy.total.nByteIn,
    copy.total.nByteOut, copy.total.nTombDrop, copy.total.nEntryDrop,
    copy.nTrivial, copy.nGarbage, copy.nSeek, copy.nFull, copy.total.nMicros/1000,
    copy.nSlowdown, copy.nStop, nStall, copy.nProgDone, copy.nProgPlanned,
    nRunMax ? (double)nSst/(double)nRunMax : (nSst ? 1.0 : 0.0),
    nGets ? (double)nProbe/(double)nGets : 0.0);
  rc = kvBufAppend(pOut, aTmp, strlen(aTmp));
  return rc;
}
