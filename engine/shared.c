/*
** shared.c - one store, several processes.
**
** Every process that opens a store has its own instance (kv_db): its own
** memtable, block cache and version. They meet in three places:
**
**   the WAL      every committed batch is in it, written by the process
**                that committed it; the others read it from where they
**                stopped ("catching up") into their own memtables.
**   the manifest each flush or compaction writes a whole new manifest
**                and points CURRENT at it; the others read it when they
**                see that it changed.
**   LOCK         byte-range locks (one per role, below) and a small shared
**                map of its first page (KvShm), the part of the state that
**                statements check without a system call.
**
** Who may write what. Writers are serialized by a lock of their own
** (KvShm.writer, a process-shared robust mutex: free, it costs no system
** call; a holder killed mid-append hands it on); the SQL layer holds its database's write lock around a
** whole transaction anyway, so that lock is never contended there.
** A commit's batch goes to the WAL where KvShm.iWalEnd says the last
** record ended (a process that wrote there last continues its mapped
** segment; another reopens it at that offset, cutting whatever a process
** killed mid-append left behind), and iWalEnd moves past it. Flushes,
** compactions and manifest writes run under the MAINT byte, one process
** at a time, after reading the newest manifest: a flush writes only what
** no other flush has written yet (pImm's last sequence against the
** manifest's), so two processes never write the same data twice in a row.
**
** What is committed. With a commit horizon (the SQL layer's two-phase
** commit, kvtxn.c), a record counts once the horizon the database holds
** covers its first sequence and no later record has the same first
** sequence (recover.c explains the rule); the reader catches up only to
** the horizon its caller has read from the database (kv_catch_up), and
** stops at the first record above it: that record may still be committed
** or abandoned. Under the database's write lock the horizon is the newest
** one, so a writer that caught up to it has the newest state and takes
** the next sequence numbers; a record a killed process prepared and never
** committed has exactly those numbers, and the new record replaces it.
**
** Positions. iWalPos (per instance) is the catch-up position: every record
** before it is applied here, replaced, or abandoned. A process whose
** position sits at the end of the WAL when it appends moves it past its
** own record, so a process alone never reads the WAL back. A memtable
** remembers the segment of the position it started at (iMemLogNumber),
** and a flush records that segment as the manifest's log number: nothing
** before it is needed any more. When another process's flush moved the
** log number past the segment this process's memtable started in, the
** memtable holds data the tables now hold too: it is rebuilt from the WAL
** after the flushed sequence (reset), so each process's memtable stays
** about one write buffer in size.
**
** Deleted files. Every process opens and maps every table file of every
** version it installs at once (kvFilePin: the file only; the table opens
** through it when first used), so a table another process's compaction
** deletes stays readable through the map (and the descriptor while it has
** one: env_posix.c, "Descriptors") until the version goes. A WAL segment deleted under the catch-up reader means a flush
** covered it: the reader resets from the new manifest.
**
** Snapshots. Compaction may drop a version of a key only when no process
** can still read it. Each process publishes, in its slot of KvShm, the
** oldest sequence it may read (its oldest snapshot, or its last sequence);
** a compaction keeps every version above the smallest published value
** when another process is there (it does not know their snapshots in
** between), and raises iDropFloor before it drops anything: a process that
** takes a snapshot publishes it first and then checks iDropFloor, and
** refuses (KV_BUSY) a read point below it. A slot whose owner died (its
** byte lock is gone) does not count.
**
** Roles at open. The OPEN byte is held shared by every process that has
** the store open. A process that gets it exclusively is alone: it runs the
** full recovery (replay, revocation above the horizon, a new WAL segment,
** removal of leftovers) and initializes KvShm, then downgrades. Any other
** waits for the shared lock (so for that recovery to end) and then reads
** the manifest and the WAL as they are, writing nothing. The last process
** to close cuts the WAL segment's preallocated tail.
**
** Locks are open file description locks (Linux): owned by the handle, so
** they also separate two instances in one process (tests), and a killed
** process loses them at once. Where the file system has none of these (some
** network file systems), opening fails with a message that says so.
*/
#include "kvInt.h"
#include "log_format.h"
#include "filename.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define SHM_MAGIC 0x4b56534d34ULL            /* "KVSM4" */


/* Reloads of a manifest that keeps changing under the reader. */
#define RELOAD_TRIES 50

/* catchApply met a spilled commit not installed here (below). The waits
** of 1 ms for its process to install it before this one does, and the
** tries in all before KV_BUSY. */
#define CATCH_TABLES   (-1)
#define TABLES_WAIT    20
#define TABLES_TRIES   (TABLES_WAIT + 20)

/* ---------------------------------------------------------------------- */
/* Roles, the map and the slots.                                           */

int kvSharedClaimSlot(kv_db *db){
  KvEnv *pEnv = db->pEnv;
  int i;
  for(i=0; i<KV_SHM_SLOTS; i++){
    if( pEnv->xLockByte(db->pLock, KV_LOCKB_SLOT(i), KV_LOCK_EXCL, 0)==KV_OK ){
      db->iSlot = i;
      /* From the last sequence on (0 at open: everything, until the
      ** catch-up publishes the real value). */
      atomic_store(&db->pShm->aSlot[i], atomic_load(&db->lastSeq) + 1);
      kvErrClear();
      return KV_OK;
    }
  }
  kvErrClear();
  return kvErr(KV_BUSY, "kvstore: '%s' is open in %d processes already (the "
               "most one store allows)", db->zDir, KV_SHM_SLOTS);
}

int kvSharedOpen(kv_db *db, int *pbFirst){
  KvEnv *pEnv = db->pEnv;
  void *pMap = 0;
  int rc;
  *pbFirst = 0;
  db->iSlot = -1;
  rc = pEnv->xLockByte(db->pLock, KV_LOCKB_OPEN, KV_LOCK_EXCL, 0);
  if( rc==KV_OK ){
    *pbFirst = 1;
  }else if( rc==KV_BUSY ){
    /* Others have it open, or one is recovering it: wait for that. */
    rc = pEnv->xLockByte(db->pLock, KV_LOCKB_OPEN, KV_LOCK_SHARED, 1);
  }
  if( rc==KV_OK ) rc = pEnv->xLockMap(db->pLock, sizeof(KvShm), &pMap);
  if( rc!=KV_OK ) return rc;
  db->pShm = (KvShm*)pMap;
  if( !*pbFirst && db->pShm->iMagic!=SHM_MAGIC ){
    return kvErr(KV_CORRUPT, "kvstore: '%s' is open in another process but "
                 "its shared state in LOCK is not kvstore's", db->zDir);
  }
  return KV_OK;
}

/* The first process finished recovery: fresh shared state, then let the
** others in. */
int kvSharedFirstReady(kv_db *db){
  KvShm *pShm = db->pShm;
  int i;
  int rc;
  pthread_mutexattr_t attr;
  for(i=0; i<KV_SHM_SLOTS; i++) atomic_store(&pShm->aSlot[i], 0);
  /* The writer lock is taken by every commit: a process-shared robust
  ** mutex costs no system call when free (a byte-range lock costs two). */
  if( pthread_mutexattr_init(&attr)!=0
   || pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED)!=0
   || pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST)!=0
   || pthread_mutex_init(&pShm->writer, &attr)!=0 ){
    return kvErr(KV_ERROR, "kvstore: cannot make the shared writer lock of "
                 "'%s'", db->zDir);
  }
  pthread_mutexattr_destroy(&attr);
  atomic_store(&pShm->iWalEnd, kvWalEnd(db->pWal));
  atomic_store(&pShm->iManifestGen, 1);
  atomic_store(&pShm->iDropFloor, db->iDropFloor);
  atomic_store(&pShm->iWalOpens, 1);
  atomic_store(&pShm->iDurable, 0);
  db->iWalOpens = 1;
  pShm->iMagic = SHM_MAGIC;
  atomic_store(&db->iManifestGen, 1);
  db->iWalPos = kvWalEnd(db->pWal);
  db->iMemLogNumber = KV_WALPOS_SEG(db->iWalPos);
  rc = kvSharedClaimSlot(db);
  if( rc==KV_OK ){
    rc = db->pEnv->xLockByte(db->pLock, KV_LOCKB_OPEN, KV_LOCK_SHARED, 0);
  }
  return rc;
}

/* 1 if no other process has the store open. */
int kvSharedAlone(kv_db *db){
  KvEnv *pEnv = db->pEnv;
  if( db->pShm==0 ) return 0;
  if( pEnv->xLockByte(db->pLock, KV_LOCKB_OPEN, KV_LOCK_EXCL, 0)!=KV_OK ){
    kvErrClear();
    return 0;
  }
  pEnv->xLockByte(db->pLock, KV_LOCKB_OPEN, KV_LOCK_SHARED, 0);
  return 1;
}

void kvSharedClose(kv_db *db){
  if( db->pShm && db->iSlot>=0 ){
    atomic_store(&db->pShm->aSlot[db->iSlot], 0);
    db->pEnv->xLockByte(db->pLock, KV_LOCKB_SLOT(db->iSlot), KV_LOCK_UNLOCK, 0);
  }
  db->iSlot = -1;
  /* The map goes with the LOCK handle (xUnlock). */
}

/* Publish the oldest sequence this instance may read. REQUIRES: M. */
void kvSharedPublish(kv_db *db){
  if( db->pShm && db->iSlot>=0 ){
    atomic_store(&db->pShm->aSlot[db->iSlot], kvDbLocalOldest(db) + 1);
  }
}

/* The oldest sequence any other live process may read (UINT64_MAX when no
** other process publishes one). */
static u64 othersOldest(kv_db *db){
  u64 m = UINT64_MAX;
  int i;
  for(i=0; i<KV_SHM_SLOTS; i++){
    u64 v;
    if( i==db->iSlot ) continue;
    v = atomic_load(&db->pShm->aSlot[i]);
    if( v==0 || v-1>=m ) continue;
    if( !db->pEnv->xLockHeld(db->pLock, KV_LOCKB_SLOT(i)) ) continue;  /* dead */
    m = v - 1;
  }
  return m;
}

u64 kvSharedOldest(kv_db *db, u64 iLocal, int *pbOthers){
  u64 m;
  *pbOthers = 0;
  if( db->pShm==0 ) return iLocal;
  m = othersOldest(db);
  if( m==UINT64_MAX ) return iLocal;
  *pbOthers = 1;
  return m<iLocal ? m : iLocal;
}

/* A compaction is about to drop versions below seq: raise the shared
** floor, then look at the slots again (a reader that published after the
** first look saw the old floor and may read below seq). Returns the floor
** the compaction must keep. */
u64 kvSharedRaiseFloor(kv_db *db, u64 seq, int *pbOthers){
  u64 m;
  int bOthers2 = 0;
  if( db->pShm==0 ) return seq;
  kvAtomicRaise(&db->pShm->iDropFloor, seq);
  m = kvSharedOldest(db, seq, &bOthers2);
  if( bOthers2 ) *pbOthers = 1;
  return m;
}

/* After publishing a read point at iSeq: KV_BUSY if a compaction may
** already have dropped versions it needs. */
int kvSharedCheckFloor(kv_db *db, u64 iSeq){
  KvShm *pShm = db->pShm ? db->pShm : db->pShmView;
  u64 f;
  if( pShm==0 ) return KV_OK;
  f = atomic_load(&pShm->iDropFloor);
  if( iSeq<f ){
    return kvErr(KV_BUSY, "kvstore: the snapshot at sequence %" PRIu64 " of "
                 "'%s' is too old: a compaction in another process dropped "
                 "versions it reads (oldest readable: %" PRIu64 "); retry "
                 "the transaction", iSeq, db->zDir, f);
  }
  return KV_OK;
}

/* A read-only handle publishes no read point, so writing processes may
** drop versions it would read at an older sequence than the one it
** loaded. Compactions raise the shared floor before they drop anything,
** so the floor read after the handle loaded its manifest covers every
** table it holds: kv_snapshot_at refuses a read point below it. LOCK
** missing, short, unmapped or not kvstore's: no floor to see (nobody has
** written the store since it was made or last had its shared state). */
void kvSharedViewOpen(kv_db *db, const char *zLock){
  KvEnv *pEnv = db->pEnv;
  KvFile *pFile = 0;
  const u8 *pMap = 0;
  u64 nByte = 0;
  if( pEnv->xMap==0 ) return;
  if( pEnv->xOpen(pEnv, zLock, KV_OPEN_READ, &pFile)==KV_OK
   && pEnv->xSize(pFile, &nByte)==KV_OK && nByte>=sizeof(KvShm)
   && pEnv->xMap(pFile, sizeof(KvShm), &pMap)==KV_OK && pMap
   && ((const KvShm*)pMap)->iMagic==SHM_MAGIC ){
    db->pShmViewFile = pFile;
    db->pShmView = (KvShm*)pMap;
  }else if( pFile ){
    pEnv->xClose(pFile);
  }
  kvErrClear();
}

/* ---------------------------------------------------------------------- */
/* Locks.                                                                  */

/* Writers: REQUIRES the caller leads the write queue (so one thread of
** this instance at a time). */
int kvSharedWriterLock(kv_db *db){
  int e;
  if( db->pShm==0 ) return KV_OK;
  e = pthread_mutex_lock(&db->pShm->writer);
  if( e==EOWNERDEAD ){
    /* The holder died, perhaps mid-append: the next append repositions
    ** at the last whole record and cuts what follows it. */
    pthread_mutex_consistent(&db->pShm->writer);
    e = 0;
  }
  if( e!=0 ){
    return kvErr(KV_IOERR, "kvstore: the shared writer lock of '%s' is "
                 "unusable (%s)", db->zDir, strerror(e));
  }
  return KV_OK;
}

void kvSharedWriterUnlock(kv_db *db){
  if( db->pShm ) pthread_mutex_unlock(&db->pShm->writer);
}

/* Hold every table of the current version open (see "Deleted files"):
** the file only (kvFilePin), its footer, index and filter are read when
** the table is first used. A table that is gone was deleted by a newer
** edit: KV_BUSY, read again. */
int kvSharedOpenTables(kv_db *db){
  KvVersion *v = kvVersionCurrent(&db->vset);
  int rc = KV_OK;
  int i, j;
  for(i=0; rc==KV_OK && i<KV_MAX_LEVELS; i++){
    for(j=0; rc==KV_OK && j<v->anFile[i]; j++){
      rc = kvFilePin(v->aaFile[i][j]);
    }
  }
  kvVersionUnref(v);
  if( rc==KV_CANTOPEN ) rc = KV_BUSY;
  return rc;
}

/* Does the current version hold a table this process has not opened? */
static int someTableClosed(kv_db *db){
  KvVersion *v = kvVersionCurrent(&db->vset);
  int i, j, bClosed = 0;
  pthread_mutex_lock((pthread_mutex_t*)db->vset.pMutex);
  for(i=0; !bClosed && i<KV_MAX_LEVELS; i++){
    for(j=0; !bClosed && j<v->anFile[i]; j++){
      KvFileMeta *f = v->aaFile[i][j];
      bClosed = f->pPin==0 && atomic_load_explicit(&f->pSst,
                                                   memory_order_relaxed)==0;
    }
  }
  pthread_mutex_unlock((pthread_mutex_t*)db->vset.pMutex);
  kvVersionUnref(v);
  return bClosed;
}

/* Install the newest manifest and open its tables; bLetGo: see
** kvSharedMaintBegin. */
static int reload(kv_db *db, int *pbChanged, int bLetGo){
  int rc = KV_OK;
  int nTry;
  *pbChanged = 0;
  if( db->pShm==0 ) return KV_OK;
  for(nTry=0; nTry<RELOAD_TRIES; nTry++){
    u64 iGen = atomic_load(&db->pShm->iManifestGen);
    int bChanged = 0;
    rc = kvVsetReload(&db->vset, &bChanged);
    if( bChanged ) *pbChanged = 1;
    if( rc==KV_OK && bLetGo && someTableClosed(db) ){
      /* The first maintenance step of a process holds open every table
      ** of the store (at ten million rows some 550): it used to read each
      ** one's footer, index and filter, 0.1-0.3 s that every writer and
      ** reader waiting for M waited out (doc/delrange.md). Pinning a file
      ** is one open(), and M is let go all the same, so that nothing
      ** waits for a number of files. The version stays current meanwhile:
      ** no local edit runs (maintMutex) and no other process edits the
      ** manifest or deletes a table (the MAINT lock). */
      kvDbUnlock(db);
      rc = kvSharedOpenTables(db);
      kvDbLock(db);
      db->nMaintLetGo++;
    }
    if( rc==KV_OK ) rc = kvSharedOpenTables(db);
    if( rc==KV_OK ){
      atomic_store(&db->iManifestGen, iGen);
      return KV_OK;
    }
    if( rc!=KV_BUSY && rc!=KV_CORRUPT && rc!=KV_CANTOPEN ) break;
    /* replaced while read: read it again */
    db->pEnv->xSleepMicros(db->pEnv, 200);
  }
  return rc;
}

/*
** Install the newest manifest (if another process wrote one) and open its
** tables. REQUIRES: maintMutex held (no local edit runs), M held.
*/
int kvSharedReload(kv_db *db, int *pbChanged){
  return reload(db, pbChanged, 0);
}

/*
** Flushes and compactions: the maintenance lock (this process's threads
** through maintMutex, other processes through the MAINT byte), then the
** newest manifest. bWait 0: KV_BUSY at once if another holds it.
** REQUIRES: M held; M is released while waiting and held again on return.
*/
int kvSharedMaintBegin(kv_db *db, int bWait){
  int rc;
  int bChanged = 0;
  if( db->pShm==0 ) return KV_OK;
  if( kvDbInherited(db) ) return kvDbInheritedErr(db);
  if( db->nMaintDepth>0 && pthread_equal(db->maintOwner, pthread_self()) ){
    /* A flush inside this thread's compaction: held already. */
    db->nMaintDepth++;
    return KV_OK;
  }
  if( bWait ){
    /* maintMutex comes before the store's mutex: let go of it to wait */
    kvDbUnlock(db);
    pthread_mutex_lock(&db->maintMutex);
    rc = db->pEnv->xLockByte(db->pLock, KV_LOCKB_MAINT, KV_LOCK_EXCL, 1);
    kvDbLock(db);
  }else{
    /* Without waiting the mutex is kept throughout (a try cannot
    ** deadlock), so the background thread misses no wake-up meanwhile. */
    if( pthread_mutex_trylock(&db->maintMutex)!=0 ) return KV_BUSY;
    rc = db->pEnv->xLockByte(db->pLock, KV_LOCKB_MAINT, KV_LOCK_EXCL, 0);
  }
  if( rc!=KV_OK ){
    pthread_mutex_unlock(&db->maintMutex);
    if( rc==KV_BUSY ) kvErrClear();
    return rc;
  }
  db->maintOwner = pthread_self();
  db->nMaintDepth = 1;
  db->bMaintEdited = 0;
  /* M is let go while tables are opened (reload): so it is while waiting
  ** above; bWait 0 (the background thread) counts it in nMaintLetGo, and
  ** kvDbCompactBackground then looks for work again before sleeping. */
  rc = reload(db, &bChanged, 1);
  if( rc!=KV_OK ) kvSharedMaintEnd(db, 0);
  return rc;
}

/* bEdited: a manifest was written: tell the other processes. */
void kvSharedMaintEnd(kv_db *db, int bEdited){
  if( db->pShm==0 ) return;
  if( bEdited ) db->bMaintEdited = 1;
  if( --db->nMaintDepth>0 ) return;
  if( db->bMaintEdited ){
    atomic_store(&db->iManifestGen,
                 atomic_fetch_add(&db->pShm->iManifestGen, 1) + 1);
  }
  db->pEnv->xLockByte(db->pLock, KV_LOCKB_MAINT, KV_LOCK_UNLOCK, 0);
  pthread_mutex_unlock(&db->maintMutex);
}

/* ---------------------------------------------------------------------- */
/* Catching up.                                                            */

typedef struct CatchUp CatchUp;
struct CatchUp {
  kv_db *db;
  KvMem *pMem;                  /* applied into */
  u64 iHorizon;                 /* records above it are not committed (yet) */
  u64 iLast;                    /* last sequence applied; records at or
                                ** below it are skipped */
  int bPending;                 /* a record held back (recover.c's rule) */
  u64 iPendSeq;
  u32 nPendCount;
  KvBuf pending;
  KvBuf buf;                    /* segment bytes */
  u64 nApplied;                 /* batches applied */
};

static int catchApply(CatchUp *c){
  u32 nOp = KV_WAL_COUNT(c->nPendCount);
  int rc = KV_OK;
  if( !c->bPending ) return KV_OK;
  c->bPending = 0;
  if( c->iPendSeq<=c->iLast ) return KV_OK;    /* applied already */
  if( c->nPendCount & KV_WAL_TABLES ){
    /* A spilled commit: its tables come with the manifest that its process
    ** writes after the database's commit (spill.c), together with the
    ** flush before them, and reading that manifest moves the last
    ** sequence past it. Met here, it is not installed yet (or the
    ** manifest was not read: the maintenance lock was busy): nothing from
    ** it on is applied until it is, or reads would miss the transaction
    ** (kvSharedCatchUp reads the manifest and tries again). */
    return CATCH_TABLES;
  }
  rc = kvDbMemApply(c->pMem, c->iPendSeq, c->pending.a, c->pending.n, nOp);
  if( rc==KV_OK && nOp>0 ){
    c->iLast = c->iPendSeq + nOp - 1;
    c->nApplied++;
  }
  return rc;
}

/*
** Read the WAL from *piPos to the end others have written and apply what
** is committed. *piPos moves to the first record not applied (above the
** horizon) or to the end. KV_CANTOPEN: a segment on the way is gone (a
** flush covered it and its owner deleted it).
*/
static int catchUpRun(CatchUp *c, u64 *piPos){
  kv_db *db = c->db;
  u64 pos = *piPos;
  u64 end = atomic_load(&db->pShm->iWalEnd);
  int bStop = 0;
  int rc = KV_OK;
  while( rc==KV_OK && !bStop && pos<end ){
    u64 seg = KV_WALPOS_SEG(pos), off = KV_WALPOS_OFF(pos);
    u64 to = seg==KV_WALPOS_SEG(end) ? KV_WALPOS_OFF(end) : UINT64_MAX;
    u64 o = 0;
    rc = kvWalReadSegment(db->pEnv, db->zDir, seg, off, to, &c->buf);
    while( rc==KV_OK ){
      const u8 *p = 0;
      size_t n = 0;
      u64 o0 = o, first;
      if( !kvLogNext(c->buf.a, c->buf.n, &o, &p, &n) ) break;
      if( n<KV_WAL_HEADER ){
        rc = kvErr(KV_CORRUPT, "kvstore: corrupt record in WAL segment %"
                   PRIu64 " of '%s' at offset %" PRIu64, seg, db->zDir,
                   off + o0);
        break;
      }
      first = kvGet64(p);
      if( first>c->iHorizon
       || (c->iHorizon==KV_MAX_SEQ && (kvGet32(p+16) & KV_WAL_PREPARED)) ){
        /* Above the horizon; or, with no horizon to judge it by (a caller
        ** without a database), a PREPARED record: it may never commit. */
        o = o0;
        bStop = 1;
        break;
      }
      if( c->bPending && c->iPendSeq!=first ) rc = catchApply(c);
      if( rc==KV_OK ) rc = kvBufSet(&c->pending, p + KV_WAL_HEADER,
                                    n - KV_WAL_HEADER);
      if( rc==KV_OK ){
        c->bPending = 1;
        c->iPendSeq = first;
        c->nPendCount = kvGet32(p+16);
      }
    }
    if( rc!=KV_OK ) break;
    if( !bStop && seg==KV_WALPOS_SEG(end) && off+o<KV_WALPOS_OFF(end) ){
      /* The newest segment holds whole records up to the shared end: one
      ** that does not parse before it is damage, not a write in flight. */
      rc = kvErr(KV_CORRUPT, "kvstore: WAL segment %" PRIu64 " of '%s' has "
                 "no whole record at offset %" PRIu64 " (records end at %"
                 PRIu64 ")", seg, db->zDir, off + o, KV_WALPOS_OFF(end));
      break;
    }
    pos = KV_WALPOS(seg, off + o);
    if( !bStop && seg<KV_WALPOS_SEG(end) ){
      /* A finished segment: what follows its last record is the unused
      ** end of its preallocation. Anything else is damage. */
      u64 i;
      for(i=o; i<c->buf.n; i++){
        if( c->buf.a[i]!=0 ){
          rc = kvErr(KV_CORRUPT, "kvstore: corrupt record in WAL segment %"
                     PRIu64 " of '%s' at offset %" PRIu64, seg, db->zDir,
                     off + o);
          break;
        }
      }
      pos = KV_WALPOS(seg+1, 0);
    }
  }
  /* A record held back at the end is final: any record replacing it was
  ** written before the commit that put the horizon over it. */
  if( rc==KV_OK ) rc = catchApply(c);
  if( rc==KV_OK ) *piPos = pos;
  return rc;
}

/*
** Another process's flush covered what this memtable holds: start a new
** one from the WAL after the flushed sequence, up to what this one held.
** REQUIRES: leader; M not held; maintMutex held; no pImm.
*/
static int resetMem(kv_db *db){
  CatchUp c;
  KvMem *pNew = 0, *pOld;
  u64 pos = KV_WALPOS(db->vset.iLogNumber, 0);
  int rc;
  memset(&c, 0, sizeof(c));
  rc = kvMemNewPooled(db->pMemPool, &pNew);
  c.db = db;
  c.pMem = pNew;
  c.iLast = db->vset.iLastSeq;
  c.iHorizon = atomic_load(&db->lastSeq);
  if( c.iHorizon<c.iLast ) c.iHorizon = c.iLast;
  if( rc==KV_OK ) rc = catchUpRun(&c, &pos);
  kvBufFree(&c.pending);
  kvBufFree(&c.buf);
  if( rc!=KV_OK ){
    kvMemUnref(pNew);
    return rc;
  }
  kvDbLock(db);
  pOld = db->pMem;
  db->pMem = pNew;
  db->iMemLogNumber = db->vset.iLogNumber;
  if( pos>db->iWalPos || c.iLast>=atomic_load(&db->lastSeq) ){
    db->iWalPos = pos;
  }
  db->nShareReset++;
  kvDbUnlock(db);
  kvMemUnref(pOld);
  return KV_OK;
}

/*
** Pick up another process's manifest, and reset the memtable if its flush
** covered it. bMust 0: only if the shared generation moved, and without
** waiting (a local flush or compaction in progress makes this a no-op
** until the next call). KV_CANTOPEN: a segment vanished while being read
** (yet another flush): the caller tries again. REQUIRES: leader, M not
** held.
*/
static int followManifest(kv_db *db, int bMust){
  int rc = KV_OK;
  int bChanged = 0, bReset = 0;
  u64 iFlushed = 0;
  if( !bMust && atomic_load(&db->pShm->iManifestGen)
                == atomic_load(&db->iManifestGen) ){
    return KV_OK;
  }
  for(;;){
    if( bMust ){
      pthread_mutex_lock(&db->maintMutex);
    }else if( pthread_mutex_trylock(&db->maintMutex)!=0 ){
      return KV_OK;
    }
    kvDbLock(db);
    rc = kvSharedReload(db, &bChanged);
    if( rc!=KV_OK ) break;
    /* The tables hold everything up to the flushed sequence now. If that
    ** covers what this memtable holds (a flush elsewhere moved the log
    ** number past the segment it started in) or sequences it never got
    ** (a flush or a spilled commit elsewhere), it starts anew from the
    ** WAL after them before the last sequence moves there: the tables may
    ** hold newer versions of keys it holds older ones of, and it is read
    ** before level 0. Its immutable predecessor must be flushed first. */
    iFlushed = db->vset.iLastSeq;
    bReset = db->vset.iLogNumber>db->iMemLogNumber
          || iFlushed>atomic_load(&db->lastSeq);
    if( !bReset || db->pImm==0 ) break;
    /* That flush needs maintMutex: let go of it while waiting. Not
    ** waiting (bMust 0), the catch-up goes on from where it was, which
    ** applies the sequences it lacks (or meets a segment the flush
    ** deleted, and comes back with bMust). */
    pthread_mutex_unlock(&db->maintMutex);
    if( !bMust ){
      kvDbUnlock(db);
      return KV_OK;
    }
    while( db->pImm && kvDbStickyError(db)==KV_OK ){
      if( db->bBgThread ){
        pthread_cond_wait(&db->cvWork, &db->mutex);
      }else{
        kvDbFlushPending(db);
      }
    }
    rc = kvDbStickyError(db);
    kvDbUnlock(db);
    if( rc!=KV_OK ) return rc;
  }
  if( rc==KV_OK && KV_WALPOS_SEG(db->iWalPos)<db->vset.iLogNumber ){
    /* What lay before the log number is in the tables (or replaced). */
    db->iWalPos = KV_WALPOS(db->vset.iLogNumber, 0);
  }
  kvDbUnlock(db);
  if( rc==KV_OK && bReset ) rc = resetMem(db);
  if( rc==KV_OK ){
    kvDbLock(db);
    if( iFlushed>atomic_load(&db->lastSeq) ){
      atomic_store(&db->lastSeq, iFlushed);
    }
    kvDbUnlock(db);
  }
  pthread_mutex_unlock(&db->maintMutex);
  return rc;
}

/*
** Install the tables of a spilled commit (its WAL record's body pRep,
** sequences up to iLast) that the database committed and its process has
** not installed: that process may have died after the database's commit,
** or not have reached its install yet (kvSpillInstallLocked: whichever
** comes second adds nothing). REQUIRES: leader; M not held.
*/
static int installSpilled(kv_db *db, const u8 *pRep, size_t nRep, u64 iLast){
  KvVersionEdit edit;
  int rc;
  memset(&edit, 0, sizeof(edit));
  kvDbLock(db);
  rc = kvSpillInstallLocked(db, &edit, iLast, pRep, nRep);
  kvDbUnlock(db);
  kvEditClear(&edit);
  return rc;
}

/*
** Apply what other processes committed up to iHorizon. REQUIRES: the
** caller leads the write queue; M not held.
*/
int kvSharedCatchUp(kv_db *db, u64 iHorizon){
  CatchUp c;
  u64 pos;
  int rc = KV_OK, nTry, nTables = 0;
  if( db->pShm==0 ) return KV_OK;
  for(nTry=0; nTry<RELOAD_TRIES; nTry++){
    /* After a segment vanished (a flush elsewhere covered it and deleted
    ** it), or at a spilled commit, the manifest that says so is read
    ** (waiting for the maintenance lock) before trying again. */
    rc = followManifest(db, nTry>0 || nTables>0);
    if( rc==KV_OK ){
      memset(&c, 0, sizeof(c));
      c.db = db;
      c.pMem = db->pMem;
      c.iHorizon = iHorizon;
      c.iLast = atomic_load(&db->lastSeq);
      /* This instance's own prepared batch is applied by its commit. */
      if( db->bPrepared && db->iPrepSeq<=c.iHorizon ){
        c.iHorizon = db->iPrepSeq - 1;
      }
      pos = db->iWalPos;
      rc = catchUpRun(&c, &pos);
      if( rc==CATCH_TABLES && nTables>=TABLES_WAIT ){
        /* Still not installed after the waits: do it here. The next try
        ** reads the manifest with it (and starts the memtable anew). */
        u64 iLast = c.iPendSeq + KV_WAL_COUNT(c.nPendCount) - 1;
        int rc2 = installSpilled(db, c.pending.a, c.pending.n, iLast);
        if( rc2!=KV_OK ) rc = rc2;
      }
      kvBufFree(&c.pending);
      kvBufFree(&c.buf);
      kvDbLock(db);
      if( c.iLast>atomic_load(&db->lastSeq) ){
        atomic_store(&db->lastSeq, c.iLast);
        atomic_fetch_add(&db->nWrites, c.nApplied);
      }
      if( rc==KV_OK ){
        db->iWalPos = pos;
        kvSharedPublish(db);
      }
      kvDbUnlock(db);
    }
    if( rc==CATCH_TABLES ){
      /* Its process installs it right after the database's commit, which
      ** this caller's horizon has seen; else this one does (above). */
      if( ++nTables>=TABLES_TRIES ) break;
      if( nTables>1 ) db->pEnv->xSleepMicros(db->pEnv, 1000);
      nTry--;
      continue;
    }
    if( rc!=KV_CANTOPEN ) break;
    kvErrClear();
    db->pEnv->xSleepMicros(db->pEnv, 100);
  }
  if( rc==CATCH_TABLES ){
    rc = kvErr(KV_BUSY, "kvstore: the tables of a transaction another "
               "process committed to '%s' keep not being installed: try "
               "again", db->zDir);
  }else if( rc==KV_CANTOPEN ){
    rc = kvErr(KV_IOERR, "kvstore: WAL segment %" PRIu64 " of '%s' keeps "
               "disappearing while being read", KV_WALPOS_SEG(db->iWalPos),
               db->zDir);
  }
  return rc;
}

/*
** The leader is about to append: continue the WAL where the last record
** ended, whoever wrote it. REQUIRES: leader, WRITER lock held, M held.
*/
int kvSharedWalPosition(kv_db *db){
  u64 end;
  KvWalConfig cfg;
  KvWal *pNew = 0;
  int rc;
  if( db->pShm==0 ) return KV_OK;
  end = atomic_load(&db->pShm->iWalEnd);
  if( db->pWal && kvWalEnd(db->pWal)==end
   && db->iWalOpens==atomic_load(&db->pShm->iWalOpens) ){
    return KV_OK;
  }
  if( db->pWal && kvWalEnd(db->pWal)==0 ){
    /* stopped after a failure: that stays (rcWal / the WAL's own error) */
    return KV_OK;
  }
  cfg.nSegmentSize = db->pOpts->nWalSegment;
  cfg.nSegmentRecords = db->pOpts->nWalRecords;
  cfg.eSync = db->pOpts->eSync;
  cfg.bShared = 1;
  /* Every other handle goes stale before the open cuts the segment: a
  ** process killed in between must not leave one that still looks
  ** current. */
  kvSharedWalOpened(db);
  rc = kvWalOpenAt(db->pEnv, db->zDir, KV_WALPOS_SEG(end),
                   KV_WALPOS_OFF(end), &cfg, &pNew);
  if( rc!=KV_OK ){
    db->iWalOpens = 0;            /* the old handle is stale too */
    return rc;
  }
  if( db->pWal ){
    KvErrSave save;
    kvErrSave(&save);
    /* No sync: what this handle wrote is synced with its segment by the
    ** handle that rotates away from it or closes last (fdatasync covers
    ** the file, whichever handle or mapping dirtied it), or already was
    ** (sync=full). A sync here cost one per hand-over between processes. */
    kvWalCloseUnsynced(db->pWal);
    kvErrRestore(&save, KV_OK);
  }
  db->pWal = pNew;
  return KV_OK;
}

/* This instance opens (or opened) a WAL handle for appending, at the
** shared end or in a new segment: every other handle is stale, even one
** whose end is the shared end (its mapping may reach past the segment's
** cut end: appends through it would land beyond the file). Generations
** start at 1; 0 is no usable handle. REQUIRES: WRITER lock held. */
void kvSharedWalOpened(kv_db *db){
  if( db->pShm==0 ) return;
  db->iWalOpens = atomic_fetch_add(&db->pShm->iWalOpens, 1) + 1;
}

/* The leader appended (or rotated): publish the new end; a position that
** was at the end follows it. REQUIRES: leader, WRITER lock held, M held. */
void kvSharedWalWritten(kv_db *db, u64 iEndBefore){
  u64 end;
  if( db->pShm==0 || db->pWal==0 ) return;
  end = kvWalEnd(db->pWal);
  if( end==0 ) return;            /* the WAL stopped: nothing to publish */
  atomic_store(&db->pShm->iWalEnd, end);
  if( db->iWalPos==iEndBefore ) db->iWalPos = end;
}

int kv_store_in_use(const char *zDir, int *pbInUse){
  KvEnv *pEnv = kvEnvPosix();
  char *zLock = kvFileName(zDir, KV_FILE_LOCK, 0);
  KvFile *pLock = 0;
  int rc = zLock ? KV_OK : kvErrNoMem();
  *pbInUse = 0;
  if( rc==KV_OK && pEnv->xExists(pEnv, zLock) ){
    rc = pEnv->xLock(pEnv, zLock, &pLock);
    if( rc==KV_OK ){
      rc = pEnv->xLockByte(pLock, KV_LOCKB_OPEN, KV_LOCK_EXCL, 0);
      pEnv->xUnlock(pLock);
    }
    if( rc==KV_BUSY ){
      kvErrClear();
      *pbInUse = 1;
      rc = KV_OK;
    }
  }
  kvFree(zLock);
  return rc;
}

int kv_open_elsewhere(kv_db *db){
  return db && db->pShm && !kvSharedAlone(db);
}

/* At close, alone: cut the newest segment after the last whole record any
** process wrote (KvShm.iWalEnd), dropping its preallocated tail. */
void kvSharedWalCut(kv_db *db){
  KvErrSave save;
  if( db->pShm==0 || db->pWal==0 ) return;
  kvErrSave(&save);
  if( kvSharedWriterLock(db)==KV_OK ){
    /* Reopened at the shared end, the segment is cut there; then the
    ** preallocation goes. */
    if( kvSharedWalPosition(db)==KV_OK && db->pWal ) kvWalCut(db->pWal);
    kvSharedWriterUnlock(db);
  }
  kvErrRestore(&save, KV_OK);
}
