/*
** db_compact.c - the store's side of compaction: the KvCompactHost
** through which compact.c reaches the store (and nothing else of it), when
** compactions run, write stalls, kv_compact() and the compaction part of
** kv_stats.
**
** When. With background=on the background thread (bgMain in db.c) flushes
** first and runs one due compaction at a time when nothing waits to be
** flushed. With background=off a flush runs the due compactions inline
** (deterministic for tests). kv_compact() runs in the caller's thread,
** after any running compaction.
**
** Write stalls (background=on only; inline work cannot fall behind): a
** write that finds L0 at 2 * level0_trigger files sleeps 1 ms once (the
** slowdown spreads the delay over many writes instead of one long stop);
** a write that needs a memtable switch while L0 holds 3 * level0_trigger
** files waits for a compaction to finish. So L0 never grows past the stop
** threshold plus the one flush that may be in flight.
**
** Everything here REQUIRES the store's mutex held unless stated otherwise.
*/
#include "kvInt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_ROUNDS 1000         /* kv_compact(.., 0): compactions per call */

/* ---------------------------------------------------------------------- */
/* The host: what compact.c may use of the store.                          */

/* The oldest read point compaction must keep: every version a reader at
** or above it may see survives a merge. The one place that decides it.
** The durable point (db.c, kvDbDurable) counts as one: while sequences
** above it exist, what the pickers judge garbage and what the merge drops
** both follow it. */
static u64 hostOldestSnapshot(void *pCtx){
  kv_db *db = (kv_db*)pCtx;
  u64 seq = kvDbOldestSnapshot(db);
  u64 iDurable = kvDbDurable(db);
  return iDurable<seq ? iDurable : seq;
}

static int cmpU64(const void *a, const void *b){
  u64 x = *(const u64*)a, y = *(const u64*)b;
  return x<y ? -1 : x>y;
}

/* Versions below `oldest` may go from now on: kv_snapshot_at refuses an
** older read point. The read points of live snapshots and iterators,
** ascending (kvFree). Readers registered later read at or above the
** current last sequence, so they see the newest version of everything
** being merged. */
static int hostReadPoints(void *pCtx, u64 *pOldest, u64 **paSnap,
                          int *pnSnap, int *pbKeepAbove){
  kv_db *db = (kv_db*)pCtx;
  KvSnapLink *p;
  u64 *a;
  int n;
  /* Sequences above the durable point may still be revoked: the versions
  ** they overwrote stay, as for another process's reader (db.c). */
  int bRevocable = kvDbDurable(db)<atomic_load(&db->lastSeq);
  *paSnap = 0;
  *pnSnap = 0;
  *pOldest = kvDbDropFloor(db, *pOldest);
  /* Other processes: their oldest read point bounds a stripe, and every
  ** version above it stays (shared.c). */
  *pbKeepAbove = db->bOthersRead || bRevocable;
  n = 0;
  for(p=db->snapHead.pNext; p!=&db->snapHead; p=p->pNext){
    if( p->bKeepLater ) *pbKeepAbove = 1;     /* kv_snapshot_keep */
    n++;
  }
  if( *pbKeepAbove ) n++;
  if( n==0 ) return KV_OK;
  a = kvMalloc(sizeof(u64)*(size_t)n);
  if( a==0 ) return kvErrNoMem();
  n = 0;
  if( *pbKeepAbove ) a[n++] = *pOldest;
  for(p=db->snapHead.pNext; p!=&db->snapHead; p=p->pNext) a[n++] = p->seq;
  qsort(a, (size_t)n, sizeof(u64), cmpU64);
  *paSnap = a;
  *pnSnap = n;
  return KV_OK;
}

static int hostMaintBegin(void *pCtx, int bWait){
  kv_db *db = (kv_db*)pCtx;
  int rc = kvSharedMaintBegin(db, bWait);
  db->bMaintBusy = rc==KV_BUSY && !bWait;
  return rc;
}

static void hostMaintEnd(void *pCtx, int bEdited){
  kvSharedMaintEnd((kv_db*)pCtx, bEdited);
}

static void hostError(void *pCtx, int rc, const char *zWhat){
  kvDbBgError((kv_db*)pCtx, rc, zWhat);
}

static int hostClosing(void *pCtx){
  return ((kv_db*)pCtx)->bShutdown;
}

static void hostFlushPending(void *pCtx){
  kvDbFlushPending((kv_db*)pCtx);
}

static void hostDone(void *pCtx, const KvCompactStats *pSt){
  kv_db *db = (kv_db*)pCtx;
  db->nCompactions++;
  db->nCompactBytes += pSt->nByteOut;
}

int kvDbCompactorNew(kv_db *db){
  KvCompactHost h;
  memset(&h, 0, sizeof(h));
  h.pEnv = db->pEnv;
  h.zDir = db->zDir;
  h.pOpts = db->pOpts;
  h.pVset = &db->vset;
  h.pMutex = &db->mutex;
  h.pCvWork = &db->cvWork;
  h.pCtx = db;
  h.xOldestSnapshot = hostOldestSnapshot;
  h.xReadPoints = hostReadPoints;
  h.xMaintBegin = hostMaintBegin;
  h.xMaintEnd = hostMaintEnd;
  h.xError = hostError;
  h.xClosing = hostClosing;
  h.xFlushPending = hostFlushPending;
  h.xDone = hostDone;
  return kvCompactorOpen(&h, &db->pCompactor);
}

/* ---------------------------------------------------------------------- */
/* When compactions run.                                                   */

int kvDbCompactBackground(kv_db *db){
  int bRan = 0;
  u64 nLetGo = db->nMaintLetGo;
  if( db->pCompactor==0 || kvCompactRunning(db->pCompactor)
   || db->rcBg!=KV_OK ){
    return 0;
  }
  db->bBgActive = 1;
  kvCompactRunDue(db->pCompactor, 1, 0, &bRan, 0, 0);
  db->bBgActive = 0;
  /* Picking let go of the mutex to open tables (shared.c): a memtable
  ** switched meanwhile signalled no one, so report work done and let
  ** bgMain look again rather than sleep. */
  return bRan || db->nMaintLetGo!=nLetGo;
}

void kvDbCompactInline(kv_db *db){
  int n;
  if( db->pCompactor==0 || kvCompactRunning(db->pCompactor) ) return;
  for(n=0; n<MAX_ROUNDS && db->rcBg==KV_OK && !db->bShutdown; n++){
    int bRan = 0;
    if( kvCompactRunDue(db->pCompactor, 0, 0, &bRan, 0, 0)!=KV_OK || !bRan ){
      break;
    }
  }
}

/* ---------------------------------------------------------------------- */
/* Write stalls.                                                           */

int kvDbStallSlowdown(kv_db *db, int *pbSlowed){
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
  db->nStallSlowdown++;
  return 1;
}

int kvDbStallStop(kv_db *db){
  KvVersion *v = db->vset.pCurrent;
  u64 t;
  if( !db->bBgThread || v==0 || db->rcBg!=KV_OK ) return 0;
  if( v->anFile[0] < 3*db->pOpts->nL0Trigger ) return 0;
  t = db->pEnv->xMonoMicros(db->pEnv);
  kvDbBgKick(db);
  if( !db->bBgThread ) return 1;   /* (could not start it: inline now) */
  pthread_cond_wait(&db->cvWork, &db->mutex);
  db->nStallMicros += db->pEnv->xMonoMicros(db->pEnv) - t;
  db->nStallStop++;
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
** whether to go on. Returns nonzero when it asks to stop. */
static int waitAsking(kv_db *db, kv_progress_fn xProgress, void *pArg){
  struct timespec deadline;
  int bStop;
  kvDbUnlock(db);
  bStop = xProgress(pArg, 0, 0);
  kvDbLock(db);
  if( bStop ) return 1;
  kvDbDeadline(&deadline, 10*1000);
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
      int bRan = 0;
      while( kvCompactRunning(pC) && db->rcBg==KV_OK ){
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
        rc = kvCompactRunDue(pC, 0, &st, &bRan, xProgress, pArg);
        if( !bRan ) break;
        continue;
      }
      rc = kvCompactRunFull(pC, &st, xProgress, pArg);
      break;
    }
    kvDbUnlock(db);
  }
  st.nMicros = db->pEnv->xMonoMicros(db->pEnv) - tStart;
  kvDbDropSpareIter(db);        /* it read the state before (kv.h) */
  if( rc==KV_OK && pzJson ) rc = statsJson(&st, pzJson);
  return rc;
}

int kvDbCompactStatsJson(kv_db *db, KvBuf *pOut){
  KvCompactCounters cnt;
  KvVersion *v;
  char aTmp[1024];
  u64 nSst = 0, nRunMax = 0;
  u64 nGets, nProbe, nStall, nSlowdown, nStop;
  int i, j;

  memset(&cnt, 0, sizeof(cnt));
  kvDbLock(db);
  if( db->pCompactor ) kvCompactCounters(db->pCompactor, &cnt);
  nStall = db->nStallMicros;
  nSlowdown = db->nStallSlowdown;
  nStop = db->nStallStop;
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
    cnt.bRunning, cnt.total.nFileIn, cnt.total.nFileOut, cnt.total.nByteIn,
    cnt.total.nByteOut, cnt.total.nTombDrop, cnt.total.nEntryDrop,
    cnt.nTrivial, cnt.nGarbage, cnt.nSeek, cnt.nFull, cnt.total.nMicros/1000,
    nSlowdown, nStop, nStall, cnt.nProgDone, cnt.nProgPlanned,
    nRunMax ? (double)nSst/(double)nRunMax : (nSst ? 1.0 : 0.0),
    nGets ? (double)nProbe/(double)nGets : 0.0);
  return kvBufAppend(pOut, aTmp, strlen(aTmp));
}
