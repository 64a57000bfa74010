/*
** compact_pick.c - choosing a compaction (leveled or tiered, the garbage
** and seek triggers, a full compaction) from a version, and the filter
** that decides what a merge drops. Nothing here touches a kv_db: the
** running of a compaction is in compact.c.
**
** Shape of the tree. Both strategies keep the same three invariants, so a
** store may be reopened with the other strategy:
**
**   I1  Level-0 files hold disjoint sequence ranges and are ordered newest
**       first (versionGet in db.c stops at the first L0 file holding a key).
**   I2  The files of a level >= 1 hold disjoint user-key ranges; the
**       versions of one user key never straddle two files of a level.
**   I3  For any user key, a shallower level holds newer versions than a
**       deeper one.
**
** A "sorted run" is one L0 file or one whole non-empty level >= 1. Runs in
** age order, newest first: the L0 files (version order), then L1, L2, ...
** The bottom level is max(levels-1, deepest non-empty level).
**
** Leveled (compaction=leveled), in the manner of LevelDB. Scores: L0 =
** files / level0_trigger; level n in 1..bottom-1 = bytes / target(n), with
** target(1) = level_size_multiplier * target_file_size and target(n+1) =
** target(n) * level_size_multiplier. The level with the highest score >= 1
** is compacted. From L0, every L0 file (so I1/I3 hold for what stays) plus
** the L1 files overlapping them go to L1. From level n >= 1, one file
** (round-robin by key through the level, so every key range is visited)
** plus the overlapping files of n+1 go to n+1. Outputs are cut at
** target_file_size and where an output would overlap more than
** GRANDPARENT_FACTOR * target_file_size of level n+2 (so a later compaction
** of it stays small), never between two versions of one user key (I2). A
** lone input that overlaps nothing below moves down by a manifest edit
** alone ("trivial move").
**
** Tiered (compaction=tiered), size-tiered in the manner of RocksDB's
** universal compaction: flushes stay in L0 as runs; when L0 holds
** level0_trigger runs, the newest window of adjacent runs of similar size
** is merged: starting at an L0 run, the window grows while the next older
** run is at most (1 + TIER_SIZE_RATIO) times the window's total, so sizes
** grow geometrically and each byte is rewritten O(log n) times. When no
** such window of two runs exists, the newest runs are merged to bring L0
** back under the trigger. Only adjacent runs are merged, which keeps I1.
** The output goes to L0 (one file, no split: I1), unless the window holds
** the oldest run, in which case it becomes the bottom level's run (split
** at target_file_size), or the window ends at a level-n run (it goes to
** level n). So a tiered store is L0 runs plus one bottom run; `levels`
** bounds only where that run lives.
**
** Garbage trigger. A file's garbage is its tombstones plus the entries it
** holds only because a snapshot needed them when it was written (older
** versions of a key in the same file; counted when compaction writes a
** file, kept in memory, so files written before the last open count their
** tombstones only). When garbage / entries reaches GARBAGE_RATIO (and the
** file has at least GARBAGE_MIN_ENTRIES entries) the file is compacted even
** though its level is within budget: leveled pushes it one level down (the
** tombstones meet the data they delete); tiered merges its run with the
** next older run. At the bottom (no older run) it is rewritten in place,
** but only once every entry is older than every snapshot, so each such
** rewrite removes all of it and the trigger cannot loop. (Bitcask merges
** a data file once its dead bytes pass a threshold; this is the same idea.)
** Tombstone density counts too, as RocksDB's CompactOnDeletionCollector:
** a file whose densest window of KV_DEL_WINDOW consecutive entries is at
** least GARBAGE_RATIO tombstones is garbage that much, however few
** tombstones the whole file holds (the builder counts the window; a file
** written before the last open has no count, and its whole-file ratio
** alone decides). Each such compaction moves the file down a level or, at
** the bottom, drops all its tombstones, so this trigger cannot loop
** either.
**
** What a merge drops (KvDropFilter). Entries come in internal-key order:
** user key ascending, newest first. The read points (live snapshots and
** iterators, plus "latest") cut each key's history into stripes; a reader
** sees the newest version at or below its read point, so of several
** versions with no read point between them only the newest can be seen:
** the others are dropped. (LevelDB compares with the oldest read point
** only, which keeps versions between two snapshots.) A tombstone at or
** below the oldest read point is dropped when no run older than the
** compaction's output may hold the key (checked against the key ranges of
** those runs); the older entries it hid go with it by the first rule.
** Deleted data thus leaves the disk once it reaches the bottom.
**
*/
#include "kvInt.h"
#include "compact_int.h"

#include <stdlib.h>

#define GARBAGE_RATIO        0.5
#define GARBAGE_MIN_ENTRIES  16
#define TIER_SIZE_RATIO      0.2
#define GRANDPARENT_FACTOR   10

int kvCompactorNew(KvCompactor **pp){
  *pp = kvMallocZero(sizeof(KvCompactor));
  if( *pp==0 ) return kvErrNoMem();
  return KV_OK;
}

void kvCompactorFree(KvCompactor *p){
  if( p ) kvFileUnref(p->pSeek);
  int i;
  if( p==0 ) return;
  for(i=0; i<KV_MAX_LEVELS; i++) kvBufFree(&p->aPointer[i]);
  kvFree(p->aShadow);
  kvFree(p);
}

static u64 shadowGet(const KvCompactor *p, u64 iFile){
  int i;
  if( p==0 ) return 0;
  for(i=0; i<p->nShadow; i++){
    if( p->aShadow[i].iFile==iFile ) return p->aShadow[i].n;
  }
  return 0;
}

/* Record n snapshot-only entries for iFile. Losing one on OOM only delays
** a garbage compaction, so failure is silent. */
void kvCompactorShadowSet(KvCompactor *p, u64 iFile, u64 n){
  ShadowCount *aNew;
  if( n==0 ) return;
  aNew = kvRealloc(p->aShadow, sizeof(ShadowCount)*(size_t)(p->nShadow+1));
  if( aNew==0 ) return;
  p->aShadow = aNew;
  aNew[p->nShadow].iFile = iFile;
  aNew[p->nShadow].n = n;
  p->nShadow++;
}

void kvCompactorShadowRemove(KvCompactor *p, u64 iFile){
  int i;
  for(i=0; i<p->nShadow; i++){
    if( p->aShadow[i].iFile==iFile ){
      p->aShadow[i] = p->aShadow[--p->nShadow];
      return;
    }
  }
}

/* ---------------------------------------------------------------------- */
/* Key ranges of files.                                                    */

static size_t ukeyLen(const KvBuf *pIKey){ return pIKey->n - KV_TRAILER; }


/* A user-key range [lo, hi], grown file by file. */
typedef struct KeyRange KeyRange;
struct KeyRange {
  KvBuf lo, hi;
  int bSet;
};

static int rangeAdd(KeyRange *r, const KvFileMeta *f){
  int rc = KV_OK;
  const u8 *a = f->smallest.a, *b = f->largest.a;
  size_t na = ukeyLen(&f->smallest), nb = ukeyLen(&f->largest);
  if( !r->bSet || kvUKeyCmp(a, na, r->lo.a, r->lo.n)<0 ){
    rc = kvBufSet(&r->lo, a, na);
  }
  if( rc==KV_OK && (!r->bSet || kvUKeyCmp(b, nb, r->hi.a, r->hi.n)>0) ){
    rc = kvBufSet(&r->hi, b, nb);
  }
  if( rc==KV_OK ) r->bSet = 1;
  return rc;
}

static int rangeOverlaps(const KeyRange *r, const KvFileMeta *f){
  return r->bSet && !kvCompactFileBefore(f, r->lo.a, r->lo.n)
      && !kvCompactFileAfter(f, r->hi.a, r->hi.n);
}

static void rangeFree(KeyRange *r){
  kvBufFree(&r->lo);
  kvBufFree(&r->hi);
}

static u64 levelBytes(const KvVersion *v, int iLevel){
  u64 n = 0;
  int i;
  for(i=0; i<v->anFile[iLevel]; i++) n += v->aaFile[iLevel][i]->nByte;
  return n;
}

/* Deepest level compaction writes to: levels-1, or deeper if the store
** was written with more levels. */
static int bottomLevel(const KvVersion *v, const kv_options *o){
  int i, iBottom = o->nLevel - 1;
  for(i=KV_MAX_LEVELS-1; i>iBottom; i--){
    if( v->anFile[i]>0 ){ iBottom = i; break; }
  }
  return iBottom;
}

/* ---------------------------------------------------------------------- */
/* Compaction descriptions.                                                */

void kvCompactionFree(KvCompaction *c){
  int i;
  if( c==0 ) return;
  for(i=0; i<c->nIn; i++) kvFileUnref(c->apIn[i]);
  for(i=0; i<c->nOld; i++) kvFileUnref(c->apOld[i]);
  for(i=0; i<c->nGrand; i++) kvFileUnref(c->apGrand[i]);
  kvFree(c->apIn);
  kvFree(c->aiInLevel);
  kvFree(c->apOld);
  kvFree(c->aiOldRun);
  kvFree(c->apGrand);
  kvFree(c);
}

/* Append f and i to the parallel arrays *pap and *pai of *pn entries,
** taking a reference on f. */
static int compAppend(KvFileMeta ***pap, int **pai, int *pn, KvFileMeta *f,
                      int i){
  KvFileMeta **ap = kvRealloc(*pap, sizeof(*ap)*(size_t)(*pn+1));
  int *ai;
  if( ap==0 ) return kvErrNoMem();
  *pap = ap;
  ai = kvRealloc(*pai, sizeof(int)*(size_t)(*pn+1));
  if( ai==0 ) return kvErrNoMem();
  *pai = ai;
  ap[*pn] = f;
  ai[*pn] = i;
  (*pn)++;
  kvFileRef(f);
  return KV_OK;
}

static int compAddIn(KvCompaction *c, int iLevel, KvFileMeta *f){
  int rc = compAppend(&c->apIn, &c->aiInLevel, &c->nIn, f, iLevel);
  if( rc==KV_OK ) c->nByteIn += f->nByte;
  return rc;
}

/* Add f to the older runs; bNewRun starts a new run with it. */
static int compAddOld(KvCompaction *c, KvFileMeta *f, int bNewRun){
  int nRun = c->nOldRun + ((bNewRun || c->nOld==0) ? 1 : 0);
  int rc = compAppend(&c->apOld, &c->aiOldRun, &c->nOld, f, nRun - 1);
  if( rc==KV_OK ) c->nOldRun = nRun;
  return rc;
}

static int compAddGrand(KvCompaction *c, KvFileMeta *f){
  KvFileMeta **ap = kvRealloc(c->apGrand, sizeof(*ap)*(size_t)(c->nGrand+1));
  if( ap==0 ) return kvErrNoMem();
  c->apGrand = ap;
  ap[c->nGrand++] = f;
  kvFileRef(f);
  return KV_OK;
}

static KvCompaction *compNew(const kv_options *o, int eReason){
  KvCompaction *c = kvMallocZero(sizeof(*c));
  if( c==0 ){
    kvErrNoMem();
    return 0;
  }
  c->eReason = eReason;
  c->nTarget = o->nTargetFile;
  c->nMaxGrand = o->nTargetFile * GRANDPARENT_FACTOR;
  return c;
}

/* Add the files of levels > iOut overlapping r as older runs, and those of
** iOut+1 as grandparents when bGrand. */
static int compAddBelow(KvCompaction *c, const KvVersion *v, int iOut,
                        const KeyRange *r, int bGrand){
  int rc = KV_OK;
  int i, j;
  for(i=iOut+1; rc==KV_OK && i<KV_MAX_LEVELS; i++){
    int bNew = 1;
    for(j=0; rc==KV_OK && j<v->anFile[i]; j++){
      KvFileMeta *f = v->aaFile[i][j];
      if( !rangeOverlaps(r, f) ) continue;
      rc = compAddOld(c, f, bNew);
      bNew = 0;
      if( rc==KV_OK && bGrand && i==iOut+1 ) rc = compAddGrand(c, f);
    }
  }
  return rc;
}

static u64 grandBytes(const KvCompaction *c){
  u64 n = 0;
  int i;
  for(i=0; i<c->nGrand; i++) n += c->apGrand[i]->nByte;
  return n;
}

/* ---------------------------------------------------------------------- */
/* Scores and garbage.                                                     */

u64 kvCompactLevelTarget(const kv_options *o, int iLevel){
  u64 n = o->nTargetFile * (u64)o->nLevelMultiplier;
  int i;
  for(i=1; i<iLevel; i++) n *= (u64)o->nLevelMultiplier;
  return n ? n : 1;
}

double kvCompactLevelScore(const KvVersion *v, const kv_options *o,
                           int iLevel){
  if( iLevel==0 ) return (double)v->anFile[0] / (double)o->nL0Trigger;
  if( iLevel>=bottomLevel(v, o) ) return 0.0;
  return (double)levelBytes(v, iLevel)
       / (double)kvCompactLevelTarget(o, iLevel);
}

double kvCompactGarbage(const KvCompactor *p, const KvFileMeta *f){
  u64 nGarbage;
  double r, rWindow;
  if( f->nEntry<GARBAGE_MIN_ENTRIES ) return 0.0;
  nGarbage = f->nTombstone + shadowGet(p, f->iFile);
  if( nGarbage>f->nEntry ) nGarbage = f->nEntry;
  r = (double)nGarbage / (double)f->nEntry;
  /* Tombstones crowded together (a key range deleted row by row) make
  ** scans through them slow however few they are in the whole file: the
  ** densest window counts as the file's garbage. */
  if( f->nEntry>=KV_DEL_WINDOW ){
    rWindow = (double)f->nDelWindowMax / (double)KV_DEL_WINDOW;
    if( rWindow>r ) r = rWindow;
  }
  return r;
}

/* ---------------------------------------------------------------------- */
/* Leveled picking.                                                        */

/* Every L0 file, the L1 files they overlap, into L1 (L0 when the tree has
** one level). */
static int pickLevel0(const KvVersion *v, const kv_options *o, int eReason,
                      int bAllowMove, KvCompaction **ppC){
  int iOut = bottomLevel(v, o)==0 ? 0 : 1;
  KvCompaction *c = compNew(o, eReason);
  KeyRange r;
  int rc = c ? KV_OK : KV_NOMEM;
  int i, nL1 = 0;
  memset(&r, 0, sizeof(r));
  for(i=0; rc==KV_OK && i<v->anFile[0]; i++){
    rc = compAddIn(c, 0, v->aaFile[0][i]);
    if( rc==KV_OK ) rc = rangeAdd(&r, v->aaFile[0][i]);
  }
  if( rc==KV_OK && iOut==1 ){
    KeyRange r0;
    memset(&r0, 0, sizeof(r0));
    for(i=0; rc==KV_OK && i<v->anFile[1]; i++){
      if( rangeOverlaps(&r, v->aaFile[1][i]) ){
        rc = compAddIn(c, 1, v->aaFile[1][i]);
        if( rc==KV_OK ) rc = rangeAdd(&r0, v->aaFile[1][i]);
        nL1++;
      }
    }
    for(i=0; rc==KV_OK && i<v->anFile[0]; i++) rc = rangeAdd(&r0, v->aaFile[0][i]);
    if( rc==KV_OK ) rc = compAddBelow(c, v, iOut, &r0, 1);
    rangeFree(&r0);
  }else if( rc==KV_OK ){
    rc = compAddBelow(c, v, iOut, &r, 0);
  }
  if( rc==KV_OK ){
    c->iLevel = 0;
    c->iOutLevel = iOut;
    c->bSplit = iOut>=1;
    c->rScore = kvCompactLevelScore(v, o, 0);
    c->bTrivial = bAllowMove && iOut==1 && v->anFile[0]==1 && nL1==0
               && grandBytes(c)<=c->nMaxGrand;
  }
  rangeFree(&r);
  if( rc!=KV_OK ){ kvCompactionFree(c); c = 0; }
  *ppC = c;
  return rc;
}

/* File f of level iLevel >= 1 and the files of iLevel+1 it overlaps, into
** iLevel+1; or f alone rewritten in place when iLevel is the bottom. */
static int pickFile(const KvVersion *v, const kv_options *o, int iLevel,
                    KvFileMeta *f, int eReason, int bAllowMove,
                    KvCompaction **ppC){
  int iOut = iLevel<bottomLevel(v, o) ? iLevel+1 : iLevel;
  KvCompaction *c = compNew(o, eReason);
  KeyRange r;
  int rc = c ? KV_OK : KV_NOMEM;
  int i, nNext = 0;
  memset(&r, 0, sizeof(r));
  if( rc==KV_OK ) rc = compAddIn(c, iLevel, f);
  if( rc==KV_OK ) rc = rangeAdd(&r, f);
  if( rc==KV_OK && iOut!=iLevel ){
    KeyRange r0;
    memset(&r0, 0, sizeof(r0));
    rc = rangeAdd(&r0, f);
    for(i=0; rc==KV_OK && i<v->anFile[iOut]; i++){
      if( rangeOverlaps(&r, v->aaFile[iOut][i]) ){
        rc = compAddIn(c, iOut, v->aaFile[iOut][i]);
        if( rc==KV_OK ) rc = rangeAdd(&r0, v->aaFile[iOut][i]);
        nNext++;
      }
    }
    if( rc==KV_OK ) rc = compAddBelow(c, v, iOut, &r0, 1);
    rangeFree(&r0);
  }
  if( rc==KV_OK ){
    c->iLevel = iLevel;
    c->iOutLevel = iOut;
    c->bSplit = iOut>=1;
    c->rScore = kvCompactLevelScore(v, o, iLevel);
    c->bTrivial = bAllowMove && iOut!=iLevel && nNext==0
               && grandBytes(c)<=c->nMaxGrand;
  }
  rangeFree(&r);
  if( rc!=KV_OK ){ kvCompactionFree(c); c = 0; }
  *ppC = c;
  return rc;
}

/* The file of level iLevel after the compaction pointer (wrapping). */
static KvFileMeta *pointerFile(const KvVersion *v, KvCompactor *p,
                               int iLevel){
  int i;
  if( p && p->aPointer[iLevel].n>0 ){
    for(i=0; i<v->anFile[iLevel]; i++){
      KvFileMeta *f = v->aaFile[iLevel][i];
      if( kvIKeyCmp(f->smallest.a, f->smallest.n, p->aPointer[iLevel].a,
                    p->aPointer[iLevel].n)>0 ){
        return f;
      }
    }
  }
  return v->aaFile[iLevel][0];
}

static int pickLeveled(const KvVersion *v, const kv_options *o,
                       KvCompactor *p, u64 oldestSnap, KvCompaction **ppC){
  int iBottom = bottomLevel(v, o);
  int iBest = -1;
  double rBest = 0.0;
  int i, j;
  int rc = KV_OK;

  *ppC = 0;
  for(i=0; i<=iBottom; i++){
    double s = kvCompactLevelScore(v, o, i);
    /* A one-level tree merges L0 into one file: it needs two. */
    if( i==0 && iBottom==0 && v->anFile[0]<2 ) s = 0.0;
    if( s>=1.0 && s>rBest ){ rBest = s; iBest = i; }
  }
  if( iBest==0 ) return pickLevel0(v, o, KV_CREASON_SIZE, 1, ppC);
  if( iBest>0 ){
    KvFileMeta *f = pointerFile(v, p, iBest);
    rc = pickFile(v, o, iBest, f, KV_CREASON_SIZE, 1, ppC);
    if( rc==KV_OK && p ) rc = kvBufSet(&p->aPointer[iBest], f->largest.a, f->largest.n);
    return rc;
  }

  /* A file reads keep probing in vain, if it is still where it was. */
  if( p && p->pSeek ){
    KvFileMeta *f = p->pSeek;
    int iLevel = p->iSeekLevel;
    int bThere;
    p->pSeek = 0;
    for(j=0; j<v->anFile[iLevel] && v->aaFile[iLevel][j]!=f; j++){}
    bThere = j<v->anFile[iLevel];
    kvFileUnref(f);             /* still referenced by v if bThere */
    if( bThere && iLevel<iBottom ){
      if( iLevel==0 ) return pickLevel0(v, o, KV_CREASON_SEEK, 1, ppC);
      return pickFile(v, o, iLevel, f, KV_CREASON_SEEK, 1, ppC);
    }
  }

  /* Nothing over budget: the file with the most garbage, if any passes. */
  {
    KvFileMeta *pBest = 0;
    int iLevel = 0;
    rBest = 0.0;
    for(i=0; i<=iBottom; i++){
      for(j=0; j<v->anFile[i]; j++){
        KvFileMeta *f = v->aaFile[i][j];
        double g = kvCompactGarbage(p, f);
        if( g<GARBAGE_RATIO || g<=rBest ) continue;
        if( i==iBottom && f->maxSeq>oldestSnap ) continue;
        if( i==0 && iBottom==0 && f->maxSeq>oldestSnap && v->anFile[0]<2 ){
          continue;
        }
        rBest = g;
        pBest = f;
        iLevel = i;
      }
    }
    if( pBest==0 ) return KV_OK;
    if( iLevel==0 ) return pickLevel0(v, o, KV_CREASON_GARBAGE, 0, ppC);
    return pickFile(v, o, iLevel, pBest, KV_CREASON_GARBAGE, 0, ppC);
  }
}

/* ---------------------------------------------------------------------- */
/* Tiered picking.                                                         */

typedef struct Run Run;
struct Run {
  int iLevel;
  KvFileMeta **ap;              /* its files (in the version) */
  int n;
  u64 nByte, nEntry, nGarbage, maxSeq;
};

/* The runs of v, newest first (kvFree the array). */
static int collectRuns(const KvVersion *v, const KvCompactor *p, Run **paRun,
                       int *pnRun){
  Run *a = kvMallocZero(sizeof(Run)*(size_t)(v->anFile[0] + KV_MAX_LEVELS));
  int n = 0, i, j;
  *paRun = a;
  *pnRun = 0;
  if( a==0 ) return kvErrNoMem();
  for(i=0; i<KV_MAX_LEVELS; i++){
    for(j=0; j<v->anFile[i]; j++){
      KvFileMeta *f = v->aaFile[i][j];
      Run *r = &a[n];
      if( i==0 || j==0 ){
        r->iLevel = i;
        r->ap = &v->aaFile[i][j];
      }
      r->n++;
      r->nByte += f->nByte;
      r->nEntry += f->nEntry;
      if( f->nEntry>=GARBAGE_MIN_ENTRIES ){
        r->nGarbage += (u64)(kvCompactGarbage(p, f) * (double)f->nEntry);
      }
      if( f->maxSeq>r->maxSeq ) r->maxSeq = f->maxSeq;
      if( i==0 || j==v->anFile[i]-1 ) n++;
    }
  }
  *pnRun = n;
  return KV_OK;
}

/* Compaction of runs [iFirst, iEnd). */
static int pickWindow(const KvVersion *v, const kv_options *o, Run *aRun,
                      int nRun, int iFirst, int iEnd, int eReason,
                      KvCompaction **ppC){
  KvCompaction *c = compNew(o, eReason);
  int rc = c ? KV_OK : KV_NOMEM;
  int i, j, iOut;
  assert( iFirst>=0 && iFirst<iEnd && iEnd<=nRun );
  iOut = iEnd==nRun ? bottomLevel(v, o) : aRun[iEnd-1].iLevel;
  for(i=iFirst; rc==KV_OK && i<iEnd; i++){
    for(j=0; rc==KV_OK && j<aRun[i].n; j++){
      rc = compAddIn(c, aRun[i].iLevel, aRun[i].ap[j]);
    }
  }
  for(i=iEnd; rc==KV_OK && i<nRun; i++){
    for(j=0; rc==KV_OK && j<aRun[i].n; j++){
      rc = compAddOld(c, aRun[i].ap[j], j==0);
    }
  }
  if( rc==KV_OK ){
    c->iLevel = aRun[iFirst].iLevel;
    c->iOutLevel = iOut;
    c->bSplit = iOut>=1;
    c->rScore = kvCompactLevelScore(v, o, 0);
    c->bTrivial = iEnd-iFirst==1 && aRun[iFirst].iLevel!=iOut
               && eReason!=KV_CREASON_GARBAGE;
  }else{
    kvCompactionFree(c);
    c = 0;
  }
  *ppC = c;
  return rc;
}

static int pickTiered(const KvVersion *v, const kv_options *o,
                      KvCompactor *p, u64 oldestSnap, KvCompaction **ppC){
  Run *aRun = 0;
  int nRun = 0, nL0 = v->anFile[0];
  int i, rc;
  *ppC = 0;
  rc = collectRuns(v, p, &aRun, &nRun);
  if( rc==KV_OK && nL0>=o->nL0Trigger && nRun>=2 ){
    int iFirst = -1, iEnd = -1;
    for(i=0; i<nL0 && iFirst<0; i++){
      u64 nSum = aRun[i].nByte;
      int e = i+1;
      while( e<nRun
          && (double)aRun[e].nByte<=(double)nSum*(1.0+TIER_SIZE_RATIO) ){
        nSum += aRun[e].nByte;
        e++;
      }
      if( e-i>=2 ){ iFirst = i; iEnd = e; }
    }
    if( iFirst>=0 ){
      rc = pickWindow(v, o, aRun, nRun, iFirst, iEnd, KV_CREASON_TIER, ppC);
    }else{
      /* No similar sizes: merge the newest runs until L0 is back under the
      ** trigger. */
      int k = nL0 - o->nL0Trigger + 2;
      if( k>nRun ) k = nRun;
      rc = pickWindow(v, o, aRun, nRun, 0, k, KV_CREASON_COUNT, ppC);
    }
  }else if( rc==KV_OK && nL0>=o->nL0Trigger && nL0==1
         && bottomLevel(v, o)>0 ){
    /* level0_trigger=1: the lone run moves to the bottom. */
    rc = pickWindow(v, o, aRun, nRun, 0, 1, KV_CREASON_COUNT, ppC);
  }else if( rc==KV_OK ){
    int iBest = -1;
    double rBest = 0.0;
    for(i=0; i<nRun; i++){
      double g;
      if( aRun[i].nEntry==0 ) continue;
      g = (double)aRun[i].nGarbage / (double)aRun[i].nEntry;
      if( g<GARBAGE_RATIO || g<=rBest ) continue;
      if( i==nRun-1 && aRun[i].maxSeq>oldestSnap ) continue;
      iBest = i;
      rBest = g;
    }
    if( iBest>=0 ){
      int iEnd = iBest==nRun-1 ? nRun : iBest+2;
      rc = pickWindow(v, o, aRun, nRun, iBest, iEnd, KV_CREASON_GARBAGE, ppC);
    }
  }
  kvFree(aRun);
  return rc;
}

int kvCompactPick(const KvVersion *v, const kv_options *o, KvCompactor *p,
                  u64 oldestSnap, KvCompaction **ppC){
  if( o->eCompaction==KV_COMPACT_TIERED ){
    return pickTiered(v, o, p, oldestSnap, ppC);
  }
  return pickLeveled(v, o, p, oldestSnap, ppC);
}

int kvCompactPickFull(const KvVersion *v, const kv_options *o,
                      KvCompaction **ppC){
  KvCompaction *c;
  int rc = KV_OK;
  int i, j;
  *ppC = 0;
  c = compNew(o, KV_CREASON_FULL);
  if( c==0 ) return KV_NOMEM;
  for(i=0; rc==KV_OK && i<KV_MAX_LEVELS; i++){
    for(j=0; rc==KV_OK && j<v->anFile[i]; j++){
      rc = compAddIn(c, i, v->aaFile[i][j]);
    }
  }
  if( rc!=KV_OK || c->nIn==0 ){
    kvCompactionFree(c);
    return rc;
  }
  c->iLevel = 0;
  c->iOutLevel = bottomLevel(v, o);
  c->bSplit = c->iOutLevel>=1;
  *ppC = c;
  return KV_OK;
}

/* ---------------------------------------------------------------------- */
/* The drop rule.                                                          */

void kvDropFilterInit(KvDropFilter *p, const u64 *aSnap, int nSnap,
                      u64 oldestSnap,
                      int (*xOlder)(void*, const u8*, size_t), void *pCtx){
  memset(p, 0, sizeof(*p));
  p->aSnap = aSnap;
  p->nSnap = nSnap;
  p->oldestSnap = oldestSnap;
  p->xOlder = xOlder;
  p->pCtx = pCtx;
}

void kvDropFilterFree(KvDropFilter *p){
  kvBufFree(&p->key);
}

/* Index of the first read point >= seq (nSnap: only the latest state
** sees it). Two versions of a key in one stripe are seen by the same
** readers, so only the newer matters. */
static int stripeOf(const KvDropFilter *p, u64 seq){
  int lo = 0, hi = p->nSnap;
  while( lo<hi ){
    int mid = (lo+hi)/2;
    if( p->aSnap[mid]<seq ) lo = mid+1; else hi = mid;
  }
  return lo;
}

int kvDropFilterStep(KvDropFilter *p, const u8 *pIKey, size_t nIKey,
                     int *peVerdict){
  size_t nKey = nIKey - KV_TRAILER;
  u64 seq = kvIKeySeq(pIKey, nIKey);
  int iStripe = stripeOf(p, seq);
  assert( nIKey>=KV_TRAILER );
  *peVerdict = KV_KEEP;
  if( !p->bKey || kvUKeyCmp(pIKey, nKey, p->key.a, p->key.n)!=0 ){
    int rc = kvBufSet(&p->key, pIKey, nKey);
    if( rc ) return rc;
    p->bKey = 1;
    p->bHaveLast = 0;
  }
  p->bNewest = !p->bHaveLast;
  if( p->bHaveLast && p->iLastStripe==iStripe ){
    *peVerdict = KV_DROP_SHADOWED;
  }else if( kvIKeyType(pIKey, nIKey)==KV_TYPE_DEL && seq<=p->oldestSnap
         && (p->xOlder==0 || !p->xOlder(p->pCtx, pIKey, nKey)) ){
    /* Every reader sees the tombstone; everything older in this merge is
    ** in its stripe (or an older one that no reader separates), and goes
    ** by the rule above (seq <= oldestSnap puts it in stripe 0). */
    *peVerdict = KV_DROP_TOMBSTONE;
  }
  p->iLastStripe = iStripe;
  p->bHaveLast = 1;
  return KV_OK;
}
