/*
** db.c - the store: open and recovery, the write path with group commit,
** memtable switching and flushing (on a background thread or inline),
** point reads, snapshots, destroy, and the
** per-process registry of shared instances.
**
** Files in a store's directory:
**
**   KVSTORE          identity marker: "kvstore <format version>" and the
**                    options that shape the files (key_type, block_size,
**                    compression), one "name=value" per line. kvstore
**                    never deletes or overwrites files in a directory that
**                    lacks it (unless the directory was empty).
**   LOCK             flock()ed by the process that has the store open.
**   CURRENT, MANIFEST-<n>          see version.c
**   wal-<n>.log      write-ahead log segments, see wal.c
**   <n>.sst          SSTables, see sst_build.c
**
** Write path (kv_write): writers queue up; the writer at the head is the
** leader: it makes room in the memtable, then appends its own batch and
** those queued behind it to the WAL as one record each, fsyncs once for
** all of them (sync=full), inserts them into the memtable, publishes the
** new last sequence and wakes the followers. That is group commit: N
** concurrent writers share one fsync.
**
** Read path: a read point is a sequence number. Readers take references on
** the memtable, the immutable memtable and the current version under the
** mutex, then read without it.
*/
#include "kvInt.h"
#include "filename.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Registry of open stores in this process, keyed by (device, inode). */
static pthread_mutex_t gRegistryMutex = PTHREAD_MUTEX_INITIALIZER;
static kv_db *gRegistry = 0;

/*
** fork(). A child inherits the registry and every instance in it, sharing
** their open file descriptions with the parent: the byte locks of LOCK
** (open file description locks belong to the description, so the child
** holds the parent's slot and MAINT locks as its own), the mapped WAL,
** and no background thread. Using such a copy would make two processes
** one to the store (a flush that waits forever for a thread that is not
** there, two maintainers under one lock). So an instance records the fork
** generation it was opened in, the child's fork handler moves the
** generation on (no system call to check), and in the child the copies
** are never found by kv_open, never closed (closing would drop the
** parent's locks), and refuse writes and maintenance: a child opens the
** store again and meets its parent as another process.
*/
static atomic_uint gForkGen;
static pthread_once_t gForkOnce = PTHREAD_ONCE_INIT;
static void forkChild(void){ atomic_fetch_add(&gForkGen, 1); }
static void forkRegister(void){ pthread_atfork(0, 0, forkChild); }

int kvDbInherited(const kv_db *db){
  return db->iForkGen!=atomic_load_explicit(&gForkGen, memory_order_relaxed);
}

int kv_check_process(kv_db *db){
  return kvDbInherited(db) ? kvDbInheritedErr(db) : KV_OK;
}

int kvDbInheritedErr(const kv_db *db){
  return kvErr(KV_MISUSE, "kvstore: '%s' was opened before fork() by the "
               "parent process; a child process must open its own "
               "connection", db->zDir);
}

const char *kv_version(void){
#ifdef KV_VERSION_STRING
  return KV_VERSION_STRING;
#else
  return KV_VERSION_STRING_DEFAULT;
#endif
}

void kvDbLock(kv_db *db){ pthread_mutex_lock(&db->mutex); }
void kvDbUnlock(kv_db *db){ pthread_mutex_unlock(&db->mutex); }

static char *savedErr(void){
  return kvStrdup(kvErrMsg());
}

/* ---------------------------------------------------------------------- */
/* Snapshots.                                                              */

void kvDbSnapAdd(kv_db *db, KvSnapLink *pLink){
  kvDbLock(db);
  pLink->seq = atomic_load(&db->lastSeq);
  pLink->pNext = &db->snapHead;
  pLink->pPrev = db->snapHead.pPrev;
  db->snapHead.pPrev->pNext = pLink;
  db->snapHead.pPrev = pLink;
  kvDbUnlock(db);
}

void kvDbSnapRemove(kv_db *db, KvSnapLink *pLink){
  /* A child of fork() dropping a copy's snapshot: the list is the copy's,
  ** the published read point the parent's. */
  if( kvDbInherited(db) ) return;
  kvDbLock(db);
  pLink->pPrev->pNext = pLink->pNext;
  pLink->pNext->pPrev = pLink->pPrev;
  kvSharedPublish(db);
  kvDbUnlock(db);
}

u64 kvDbDropFloor(kv_db *db, u64 seq){
  int bOthers = 0;
  if( seq>db->iDropFloor ) db->iDropFloor = seq;
  seq = kvSharedRaiseFloor(db, seq, &bOthers);
  if( bOthers ) db->bOthersRead = 1;
  /* What the compaction drops below seq goes in the manifest with its
  ** edit: revoking below it later may lose older versions (recover.c). */
  if( seq>db->vset.iDropFloor ) db->vset.iDropFloor = seq;
  return seq;
}

u64 kvDbOldestSnapshot(kv_db *db){
  int bOthers = 0;
  u64 seq = kvSharedOldest(db, kvDbLocalOldest(db), &bOthers);
  db->bOthersRead = bOthers;
  return seq;
}

u64 kvDbLocalOldest(kv_db *db){
  /* Iterators made with an old snapshot join the list late, so the list
  ** is not in sequence order: take the minimum. */
  u64 seq = atomic_load(&db->lastSeq);
  KvSnapLink *p;
  for(p=db->snapHead.pNext; p!=&db->snapHead; p=p->pNext){
    if( p->seq<seq ) seq = p->seq;
  }
  return seq;
}

/*
** Durability. A store committing through a database (kv_options_set_horizon)
** has its commits revoked when the database comes back from a power cut
** without them (recover.c), and revocation is exact only if every version
** that a revocable entry overwrote is still there. Compaction therefore
** treats everything above the durable point as another process's reads:
** it keeps every version above it and the newest one at or below it
** (db_compact.c, hostReadPoints). The caller raises the point once the
** database's commit of a horizon can no longer be taken back; the point
** is shared with the other processes through KvShm. A store opened
** without a horizon revokes nothing: its point is KV_MAX_SEQ.
*/
u64 kvDbDurable(kv_db *db){
  u64 d = atomic_load(&db->iDurable);
  if( db->pShm ){
    u64 s = atomic_load(&db->pShm->iDurable);
    if( s>d ) d = s;
  }
  return d;
}

void kv_durable(kv_db *db, uint64_t iSeq){
  kvAtomicRaise(&db->iDurable, iSeq);
  if( db->pShm && !kvDbInherited(db) ) kvAtomicRaise(&db->pShm->iDurable, iSeq);
}

int kv_durable_wanted(kv_db *db, int bUnflushed){
  u64 iSeq;
  if( bUnflushed ){
    iSeq = atomic_load(&db->lastSeq);
  }else{
    kvDbLock(db);
    iSeq = db->vset.iLastSeq;
    kvDbUnlock(db);
  }
  return iSeq>kvDbDurable(db);
}

kv_snapshot *kv_snapshot_keep(kv_db *db){
  kv_snapshot *s = kvMallocZero(sizeof(*s));
  if( s==0 ){
    kvErrNoMem();
    return 0;
  }
  s->link.bKeepLater = 1;
  kvDbSnapAdd(db, &s->link);
  return s;
}

kv_snapshot *kv_snapshot_new(kv_db *db){
  kv_snapshot *s = kvMallocZero(sizeof(*s));
  if( s==0 ){
    kvErrNoMem();
    return 0;
  }
  kvDbSnapAdd(db, &s->link);
  return s;
}

int kv_snapshot_at(kv_db *db, uint64_t iSeq, kv_snapshot **ppSnap){
  kv_snapshot *s;
  int rc = KV_OK;
  *ppSnap = 0;
  if( kvDbInherited(db) ) return kvDbInheritedErr(db);
  s = kvMallocZero(sizeof(*s));
  if( s==0 ) return kvErrNoMem();
  kvDbLock(db);
  /* A horizon above the last published sequence: the database committed
  ** a batch that its connection has not applied yet (between the
  ** database's commit and xCommit). Wait for the apply, briefly: the
  ** committing connection holds no lock the apply needs. */
  if( iSeq>atomic_load(&db->lastSeq) && db->bPrepared ){
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 2;
    while( iSeq>atomic_load(&db->lastSeq) && db->bPrepared ){
      if( pthread_cond_timedwait(&db->cvWriterLock, &db->mutex, &ts)!=0 ){
        break;
      }
    }
  }
  if( iSeq<db->iDropFloor ){
    rc = kvErr(KV_BUSY, "kvstore: the snapshot at sequence %" PRIu64 " of "
               "'%s' is too old: a compaction dropped versions it reads "
               "(oldest readable: %" PRIu64 "); retry the transaction",
               iSeq, db->zDir, db->iDropFloor);
  }else{
    u64 last = atomic_load(&db->lastSeq);
    s->link.seq = iSeq<last ? iSeq : last;
    s->link.pNext = &db->snapHead;
    s->link.pPrev = db->snapHead.pPrev;
    db->snapHead.pPrev->pNext = &s->link;
    db->snapHead.pPrev = &s->link;
    /* Published before the shared floor is checked (shared.c). */
    kvSharedPublish(db);
    rc = kvSharedCheckFloor(db, s->link.seq);
    if( rc!=KV_OK ){
      s->link.pPrev->pNext = s->link.pNext;
      s->link.pNext->pPrev = s->link.pPrev;
      kvSharedPublish(db);
    }
  }
  kvDbUnlock(db);
  if( rc!=KV_OK ){
    kvFree(s);
    return rc;
  }
  *ppSnap = s;
  return KV_OK;
}

uint64_t kv_snapshot_seq(const kv_snapshot *s){
  return s->link.seq;
}

void kv_snapshot_free(kv_db *db, kv_snapshot *s){
  if( s==0 ) return;
  kvDbSnapRemove(db, &s->link);
  kvFree(s);
}

/* ---------------------------------------------------------------------- */
/* The identity file.                                                      */

static const char *keyTypeName(int e){
  return e==KV_KEY_BLOB ? "blob" : e==KV_KEY_INTEGER ? "integer" : "text";
}

static char *identityText(const kv_options *o){
  return kvMprintf("kvstore %d\nkey_type=%s\nblock_size=%u\ncompression=%s\n",
                   KV_FORMAT_VERSION, keyTypeName(o->eKeyType), o->nBlock,
                   o->eCompression==KV_COMPRESS_ZLIB ? "zlib" : "none");
}

/* Value of "name=" in identity text z, copied into zOut. */
static int identityField(const char *z, const char *zName, char *zOut,
                         size_t nOut){
  size_t nName = strlen(zName);
  const char *p = z;
  while( p && *p ){
    if( strncmp(p, zName, nName)==0 && p[nName]=='=' ){
      const char *zVal = p + nName + 1;
      size_t n = strcspn(zVal, "\n");
      if( n>=nOut ) return 0;
      memcpy(zOut, zVal, n);
      zOut[n] = 0;
      return 1;
    }
    p = strchr(p, '\n');
    if( p ) p++;
  }
  return 0;
}

/* Options that shape the files, saved in the identity file. */
static const char *const azShaping[] = { "key_type", "block_size", "compression" };
#define N_SHAPING ((int)(sizeof(azShaping)/sizeof(azShaping[0])))

/* Reconcile options pOpts with the shaping values of an existing store,
** got by xValue(pCtx, name) (NULL if missing: a damaged identity). An
** option the caller set must agree (KV_ERROR names the first that does
** not); one left at its default takes the store's value, so a copied
** store opens with dir= alone. */
static int shapingAdopt(kv_options *pOpts, const char *zDir,
                        const char *(*xValue)(void*, const char*, char*, size_t),
                        void *pCtx){
  char zHave[64];
  int rc = KV_OK;
  int i;
  for(i=0; rc==KV_OK && i<N_SHAPING; i++){
    const char *zName = azShaping[i];
    const char *zStore = xValue(pCtx, zName, zHave, sizeof(zHave));
    char *zWant;
    if( zStore==0 ){
      return kvErr(KV_CORRUPT, "kvstore: identity file '%s/%s' is damaged: "
                   "no %s", zDir, KV_NAME_IDENTITY, zName);
    }
    zWant = kv_options_get(pOpts, zName);
    if( zWant==0 ) return kvErrNoMem();
    if( strcmp(zWant, zStore)!=0 ){
      if( kv_options_is_set(pOpts, zName)==1 ){
        rc = kvErr(KV_ERROR, "kvstore: option '%s' is '%s' but the store in "
                   "'%s' was created with '%s'", zName, zWant, zDir, zStore);
      }else{
        char *zErr = 0;
        rc = kv_options_set(pOpts, zName, zStore, &zErr);
        if( rc ){
          rc = kvErr(KV_CORRUPT, "kvstore: identity file '%s/%s' is damaged: "
                     "%s", zDir, KV_NAME_IDENTITY, zErr ? zErr : zName);
        }
        kvFree(zErr);
        /* Adopted, not chosen: a later opener may still set it. */
        pOpts->mSet &= ~kvOptionBit(zName);
      }
    }
    kvFree(zWant);
  }
  return rc;
}

static const char *identityValue(void *pCtx, const char *zName, char *zOut,
                                 size_t nOut){
  return identityField((const char*)pCtx, zName, zOut, nOut) ? zOut : 0;
}

static const char *optionsValue(void *pCtx, const char *zName, char *zOut,
                                size_t nOut){
  char *z = kv_options_get((const kv_options*)pCtx, zName);
  if( z==0 ) return 0;
  snprintf(zOut, nOut, "%s", z);
  kvFree(z);
  return zOut;
}

/* Check the saved identity against the options, adopting the store's
** shaping values for options not given. */
static int identityCheck(kv_db *db, const char *zText){
  int iVersion = 0;
  if( sscanf(zText, "kvstore %d", &iVersion)!=1 ){
    return kvErr(KV_CORRUPT, "kvstore: identity file '%s/%s' is damaged",
                 db->zDir, KV_NAME_IDENTITY);
  }
  if( iVersion!=KV_FORMAT_VERSION ){
    return kvErr(KV_ERROR, "kvstore: the store in '%s' has format version %d;"
                 " this build reads version %d", db->zDir, iVersion,
                 KV_FORMAT_VERSION);
  }
  return shapingAdopt(db->pOpts, db->zDir, identityValue, (void*)zText);
}

/* Is this one of the names a store creates? (Used to refuse foreign
** directories and by kv_destroy.) */
static int isStoreName(const char *z){
  int eType;
  u64 iNum;
  /* A table kv_repair set aside is the user's to look at: not ours. */
  return kvParseFileName(z, &eType, &iNum) && eType!=KV_FILE_SST_DAMAGED;
}

/* Refuse a directory that holds files but no identity: it belongs to
** someone else (a LevelDB or RocksDB directory looks alike, LOCK included).
** A crash while creating a store can leave LOCK or a temporary identity
** file, which do not count. */
static int foreignCheck(KvEnv *pEnv, const char *zDir){
  char *zPath = kvFileName(zDir, KV_FILE_IDENTITY, 0);
  char **az = 0;
  int n = 0, i;
  int rc = KV_OK;
  if( zPath==0 ) return kvErrNoMem();
  if( !pEnv->xExists(pEnv, zPath) ){
    rc = pEnv->xList(pEnv, zDir, &az, &n);
    for(i=0; rc==KV_OK && i<n; i++){
      int eType;
      u64 iNum;
      kvParseFileName(az[i], &eType, &iNum);
      if( eType!=KV_FILE_LOCK && eType!=KV_FILE_IDENTITY_TMP ){
        rc = kvErr(KV_ERROR, "kvstore: '%s' is not empty and does not hold a "
                   "kvstore store (no %s file)", zDir, KV_NAME_IDENTITY);
      }
    }
    kvFreeList(az, n);
  }
  kvFree(zPath);
  return rc;
}

/* Check or create the identity file. REQUIRES: LOCK held. */
static int identityOpen(kv_db *db){
  char *zPath = kvFileName(db->zDir, KV_FILE_IDENTITY, 0);
  KvBuf buf = {0, 0, 0};
  int rc = KV_OK;
  if( zPath==0 ) return kvErrNoMem();
  if( db->pEnv->xExists(db->pEnv, zPath) ){
    rc = kvEnvReadAll(db->pEnv, zPath, &buf);
    if( rc==KV_OK ) rc = identityCheck(db, (const char*)buf.a);
  }else if( db->bReadOnly ){
    rc = kvErr(KV_CANTOPEN, "kvstore: '%s' does not hold a kvstore store "
               "(no %s file)", db->zDir, KV_NAME_IDENTITY);
  }else{
    /* Checked before the lock too; again now that no one else can be
    ** creating files here. */
    rc = foreignCheck(db->pEnv, db->zDir);
    if( rc==KV_OK ){
      char *zText = identityText(db->pOpts);
      if( zText==0 ){
        rc = kvErrNoMem();
      }else{
        rc = kvEnvWriteAtomic(db->pEnv, db->zDir, KV_NAME_IDENTITY, zText,
                              strlen(zText));
      }
      kvFree(zText);
    }
  }
  kvBufFree(&buf);
  kvFree(zPath);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Writing level-0 tables.                                                 */

/*
** Write the entries of pIt and the range tombstones rd whose sequence lies
** in [iMin, iMax] to a new table iFile, and add it to level iLevel of
** pEdit; nothing in the window: no table. *pnKept and *pnSkipped count
** entries and tombstones (either may be NULL); *pnByte gets the table's
** size. Flushes (everything above what another process flushed) and
** revocation (everything at or below the horizon) both write this way.
** Runs without the mutex.
*/
int kvDbWriteTable(kv_db *db, KvIter *pIt, const KvRdList *rd, u64 iMin,
                   u64 iMax, int iLevel, u64 iFile, KvVersionEdit *pEdit,
                   u64 *pnKept, u64 *pnSkipped, u64 *pnByte){
  KvSstConfig cfg;
  KvSstBuilder *pB = 0;
  KvSstMeta meta;
  char *zPath = kvSstPath(db->zDir, iFile);
  u64 nKept = 0, nSkipped = 0;
  int rc = zPath ? KV_OK : kvErrNoMem();
  int j;
  *pnByte = 0;
  memset(&meta, 0, sizeof(meta));
  kvSstConfigFromOptions(db->pOpts, &cfg);
  if( rc==KV_OK ){
    rc = kvSstBuilderNew(db->pEnv, zPath, &cfg,
                         db->pEnv->xNowMicros(db->pEnv), &pB);
  }
  if( rc==KV_OK ) rc = pIt->pMethods->xFirst(pIt);
  while( rc==KV_OK && kvIterValid(pIt) ){
    const u8 *k, *v;
    size_t nk, nv;
    u64 seq;
    kvIterKey(pIt, &k, &nk);
    seq = kvIKeySeq(k, nk);
    if( seq>=iMin && seq<=iMax ){
      kvIterValue(pIt, &v, &nv);
      rc = kvSstBuilderAdd(pB, k, nk, v, nv);
      nKept++;
    }else{
      nSkipped++;
    }
    if( rc==KV_OK ) rc = pIt->pMethods->xNext(pIt);
  }
  /* range tombstones go to the table's range-deletion part */
  for(j=0; rc==KV_OK && j<rd->n; j++){
    const KvRangeTomb *t = &rd->a[j];
    if( t->seq>=iMin && t->seq<=iMax ){
      rc = kvSstBuilderAddRangeDel(pB, t->pLo, t->nLo, t->pHi, t->nHi, t->seq);
      nKept++;
    }else{
      nSkipped++;
    }
  }
  if( rc==KV_OK && nKept>0 ){
    rc = kvSstBuilderFinish(pB, &meta);
    pB = 0;
    if( rc==KV_OK ){
      *pnByte = meta.nFileSize;
      rc = kvEditAddFile(pEdit, iLevel, &meta, iFile);
    }
  }
  if( pB ) kvSstBuilderAbandon(pB);
  if( pnKept ) *pnKept = nKept;
  if( pnSkipped ) *pnSkipped += nSkipped;
  kvSstMetaFree(&meta);
  kvFree(zPath);
  return rc;
}

/* Write the entries of pMem with a sequence above iAbove to table iFile
** and add it to level 0 of pEdit. An empty memtable writes nothing. */
int kvDbWriteLevel0(kv_db *db, KvMem *pMem, u64 iAbove, u64 iFile,
                    KvVersionEdit *pEdit, u64 *pnByte){
  KvIter *pIt = 0;
  KvRdList rd = {0, 0, 0};
  int rc;
  *pnByte = 0;
  if( kvMemCount(pMem)==0 ) return KV_OK;
  rc = kvMemIterNew(pMem, &pIt);
  if( rc==KV_OK ) rc = kvMemRangeDels(pMem, &rd);
  if( rc==KV_OK ){
    rc = kvDbWriteTable(db, pIt, &rd, iAbove+1, KV_MAX_SEQ, 0, iFile, pEdit,
                        0, 0, pnByte);
  }
  if( pIt ) pIt->pMethods->xClose(pIt);
  kvRdListFree(&rd);
  return rc;
}

/* Remove WAL segments older than iLogNumber. Failures are harmless (the
** next open removes them) and are not reported. */
void kvDbDeleteOldSegments(kv_db *db, u64 iLogNumber){
  u64 *aSeg = 0;
  int nSeg = 0, i;
  KvErrSave save;
  kvErrSave(&save);
  if( kvWalList(db->pEnv, db->zDir, &aSeg, &nSeg)==KV_OK ){
    for(i=0; i<nSeg; i++){
      if( aSeg[i]<iLogNumber ){
        char *z = kvWalPath(db->zDir, aSeg[i]);
        if( z ) db->pEnv->xUnlink(db->pEnv, z);
        kvFree(z);
      }
    }
  }
  kvFree(aSeg);
  kvErrRestore(&save, 0);
}

/* Flush pImm to a level-0 table. REQUIRES: mutex held, pImm!=0. The mutex
** is released while the table is written. */
static void flushImm(kv_db *db){
  KvMem *pImm = db->pImm;
  KvVersionEdit edit;
  u64 iFile, nByte = 0;
  int rc;
  int bMaint = 0, bCovered = 0, bEdited = 0;
  assert( pImm );
  memset(&edit, 0, sizeof(edit));
  db->bBgActive = 1;
  kvMemRef(pImm);
  /* One process at a time, at the newest manifest (shared.c). */
  rc = kvSharedMaintBegin(db, 1);
  if( rc==KV_OK ) bMaint = db->pShm!=0;
  if( rc==KV_OK && bMaint && db->vset.iLastSeq>=db->iImmLastSeq ){
    bCovered = 1;           /* another process flushed all of it already */
    edit.iLogNumber = db->vset.iLogNumber;
  }
  if( rc==KV_OK && !bCovered ){
    iFile = kvVsetNewFileNumber(&db->vset);
    kvDbUnlock(db);
    /* Entries another process's flush wrote already stay out: one
    ** internal key is never in two tables (shared.c). */
    rc = kvDbWriteLevel0(db, pImm, bMaint ? db->vset.iLastSeq : 0, iFile,
                         &edit, &nByte);
    kvDbLock(db);
  }
  if( rc==KV_OK && !bCovered ){
    edit.bLogNumber = 1;
    edit.iLogNumber = db->iImmLogNumber;
    edit.bLastSeq = 1;
    edit.iLastSeq = bMaint ? db->iImmLastSeq : atomic_load(&db->lastSeq);
    if( bMaint ){
      /* What another process flushed since stays flushed. */
      if( db->vset.iLogNumber>edit.iLogNumber ){
        edit.iLogNumber = db->vset.iLogNumber;
      }
      if( db->vset.iLastSeq>edit.iLastSeq ) edit.iLastSeq = db->vset.iLastSeq;
    }
    rc = kvVsetApply(&db->vset, &edit);
    bEdited = rc==KV_OK;
  }
  if( bMaint ) kvSharedMaintEnd(db, bEdited);
  if( rc==KV_OK ){
    db->pImm = 0;
    kvMemUnref(pImm);
    db->nFlush++;
    db->nFlushBytes += nByte;
    kvDbDeleteOldSegments(db, edit.iLogNumber);
    /* background=off: the flush that may have made compaction due runs it
    ** (db_compact.c); with a background thread, bgMain does. */
    if( !db->bBgThread ) kvDbCompactInline(db);
  }else{
    /* Sticky: the memtable stays in memory and its data in the WAL; new
    ** writes are refused until the flush is retried (a full disk, an I/O
    ** error) and succeeds, or the store is reopened. */
    kvDbBgError(db, rc, 0);
  }
  kvEditClear(&edit);
  kvMemUnref(pImm);
  db->bBgActive = 0;
  pthread_cond_broadcast(&db->cvWork);
}

void kvDbFlushPending(kv_db *db){
  if( db->pImm && db->rcBg==KV_OK ) flushImm(db);
}

/* After a flush or compaction: the iterator kv_iter_recycle kept reads
** an older state (it is not reused) and pins its memtable and tables:
** free it, without the mutex. REQUIRES: mutex held; it is let go. */
static void dropSpareIterLocked(kv_db *db){
  kv_iter *it = db->pSpareIter;
  if( it==0 ) return;
  db->pSpareIter = 0;
  kvDbUnlock(db);
  kv_iter_free(it);
  kvDbLock(db);
}

/*
** The background thread of a store with background=on. It leaves once
** nothing has been due for kvBgIdleMicros: a process with many tables open,
** most of them idle, then has threads only for those being written (a
** thread per open table before: 1,000 tables, 1,000 threads). Whatever
** makes work due (a memtable switched, a retry due, a stall, an ingest,
** close) calls kvDbBgKick, which starts it again.
*/
u64 kvBgIdleMicros = 10*1000000;

void kvDbDeadline(struct timespec *pTs, u64 nMicros){
  clock_gettime(CLOCK_REALTIME, pTs);
  pTs->tv_sec += (time_t)(nMicros/1000000);
  pTs->tv_nsec += (long)(nMicros%1000000)*1000;
  if( pTs->tv_nsec>=1000000000L ){
    pTs->tv_sec++;
    pTs->tv_nsec -= 1000000000L;
  }
}

static void *bgMain(void *pArg){
  kv_db *db = (kv_db*)pArg;
  int bTimedOut = 0;
  kvDbLock(db);
  while( !db->bShutdown ){
    if( db->pImm && db->rcBg==KV_OK ){
      flushImm(db);
      dropSpareIterLocked(db);
    }else if( db->rcBg==KV_OK && kvDbCompactBackground(db) ){
      /* one compaction ran (flushes have priority: loop again) */
      dropSpareIterLocked(db);
    }else if( db->bMaintBusy ){
      /* Another process maintains the store now: look again soon. */
      struct timespec ts;
      kvDbDeadline(&ts, 50*1000);
      db->bBgIdle = 1;
      pthread_cond_broadcast(&db->cvWork);
      pthread_cond_timedwait(&db->cvWork, &db->mutex, &ts);
      db->bBgIdle = 0;
    }else if( db->bShutdown ){
      /* set while a flush let go of the mutex: the loop ends */
    }else if( bTimedOut ){
      /* Nothing was due for kvBgIdleMicros, and nothing is now: leave
      ** (kvDbBgKick joins this thread and starts another). */
      db->bBgIdle = 1;
      db->bBgRunning = 0;
      db->bBgJoin = 1;
      pthread_cond_broadcast(&db->cvWork);
      break;
    }else{
      /* Nothing is due: say so to a closing kv_close() that waits. */
      struct timespec ts;
      kvDbDeadline(&ts, kvBgIdleMicros);
      db->bBgIdle = 1;
      pthread_cond_broadcast(&db->cvWork);
      bTimedOut = pthread_cond_timedwait(&db->cvWork, &db->mutex, &ts)
                  ==ETIMEDOUT;
      db->bBgIdle = 0;
      continue;
    }
    bTimedOut = 0;
  }
  kvDbUnlock(db);
  return 0;
}

void kvDbBgKick(kv_db *db){
  if( db->bBgThread && !db->bBgRunning && !db->bShutdown ){
    if( db->bBgJoin ){
      /* It left under the mutex, which it let go of before returning. */
      pthread_join(db->bgThread, 0);
      db->bBgJoin = 0;
    }
    db->bBgRunning = 1;           /* (the mutex is held: it waits for it) */
    db->bBgIdle = 0;
    if( pthread_create(&db->bgThread, 0, bgMain, db)!=0 ){
      db->bBgRunning = 0;
      db->bBgThread = 0;          /* inline from now on, as background=off */
    }
  }
  pthread_cond_broadcast(&db->cvWork);
}

/* Should the last kv_close() wait for background work (see kv.h)? While
** a flush is pending, or while level 0 is at its trigger and the
** background thread compacts or has not yet found nothing to do.
** REQUIRES: mutex held. */
static int closeWaits(kv_db *db){
  KvVersion *v;
  int bL0;
  if( db->rcBg!=KV_OK || db->rcWal!=KV_OK ) return 0;
  if( db->pImm ) return 1;
  v = kvVersionCurrent(&db->vset);
  bL0 = v && v->anFile[0]>=db->pOpts->nL0Trigger;
  kvVersionUnref(v);
  return bL0 && (db->bBgActive || !db->bBgIdle);
}

/* Pause before a failed flush or compaction is tried again. */
#define BG_RETRY_MICROS 200000

void kvDbBgError(kv_db *db, int rc, const char *zWhat){
  if( db->rcBg!=KV_OK ) return;
  db->rcBg = rc;
  kvFree(db->zBgErr);
  if( zWhat ){
    db->zBgErr = kvMprintf("kvstore: %s failed in '%s': %s", zWhat, db->zDir,
                           kvErrMsg());
  }else{
    db->zBgErr = savedErr();
  }
  if( rc==KV_FULL || rc==KV_IOERR || rc==KV_NOMEM ){
    db->iBgRetryAt = db->pEnv->xMonoMicros(db->pEnv) + BG_RETRY_MICROS;
  }else{
    db->iBgRetryAt = 0;       /* corruption, a failed fsync: for good */
  }
}

void kvDbBgRetryDue(kv_db *db){
  if( db->rcBg==KV_OK || db->iBgRetryAt==0 || db->bBgActive ) return;
  if( db->pEnv->xMonoMicros(db->pEnv) < db->iBgRetryAt ) return;
  /* The failed work left nothing behind (its output is removed, the
  ** memtable and WAL still hold the data): run it again. A failure sets
  ** rcBg again, and writes see it until the next pause is over. */
  db->rcBg = KV_OK;
  kvFree(db->zBgErr);
  db->zBgErr = 0;
  db->iBgRetryAt = 0;
  db->nBgRetry++;
  kvDbBgKick(db);
}

int kvDbStickyError(kv_db *db){
  kvDbBgRetryDue(db);
  if( db->rcWal ) return kvErr(db->rcWal, "%s", db->zWalErr ? db->zWalErr : "kvstore: WAL failed");
  if( db->rcBg ) return kvErr(db->rcBg, "%s", db->zBgErr ? db->zBgErr : "kvstore: background work failed");
  return KV_OK;
}

/* Make sure the memtable has room for a write (bForce: switch it now if
** it holds anything, for kv_flush). REQUIRES: mutex held, caller is the
** write leader. */
int kvDbMakeRoom(kv_db *db, int bForce){
  int rc = KV_OK;
  int bSlowed = 0;
  while( rc==KV_OK ){
    KvMem *pNew = 0;
    u64 iSeg = 0, iEndBefore = 0;
    rc = kvDbStickyError(db);
    if( rc!=KV_OK ) break;
    /* Level 0 piling up: slow writers down, then stop them (db_compact.c). */
    if( !bForce && kvDbStallSlowdown(db, &bSlowed) ) continue;
    if( !bForce && kvMemUsage(db->pMem)<db->pOpts->nMemtable ) break;
    /* (a pending immutable memtable is flushed first: after a retried
    ** failure it may still be waiting with background=off) */
    if( bForce && kvMemCount(db->pMem)==0 && db->pImm==0 ) break;
    if( db->pImm ){
      /* The previous memtable is still being flushed. */
      if( db->bBgThread ){
        pthread_cond_wait(&db->cvWork, &db->mutex);
      }else{
        flushImm(db);
      }
      continue;
    }
    if( kvDbStallStop(db) ) continue;
    rc = kvMemNewPooled(db->pMemPool, &pNew);
    iEndBefore = db->pWal ? kvWalEnd(db->pWal) : 0;
    if( rc==KV_OK ) rc = kvWalRotate(db->pWal, &iSeg);
    if( rc!=KV_OK ){
      kvMemUnref(pNew);
      break;
    }
    db->pImm = db->pMem;
    db->iImmLastSeq = atomic_load(&db->lastSeq);
    if( db->pShm ){
      /* Records before the catch-up position are in pImm (or replaced):
      ** that is all a flush of it may retire (shared.c). */
      kvSharedWalOpened(db);
      kvSharedWalWritten(db, iEndBefore);
      iSeg = KV_WALPOS_SEG(db->iWalPos);
    }
    db->iImmLogNumber = iSeg;
    db->iMemLogNumber = iSeg;
    db->pMem = pNew;
    bForce = 0;
    kvDbBgKick(db);
    if( !db->bBgThread ) flushImm(db);
  }
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Point reads.                                                            */

/* Does user key k fall in file f's key range? */
static int fileCovers(const KvFileMeta *f, const u8 *k, size_t n){
  return kvUKeyCmpShort(k, n, f->smallest.a, f->smallest.n - KV_TRAILER)>=0
      && kvUKeyCmpShort(k, n, f->largest.a, f->largest.n - KV_TRAILER)<=0;
}

static int probeFile(KvFileMeta *f, const u8 *k, size_t n, u32 hash,
                     int bFilter, u64 seq, int *pbFound, int *peType,
                     KvBuf *pVal){
  KvSst *pSst = 0;
  int rc = kvFileTable(f, &pSst);
  if( rc==KV_OK ){
    rc = kvSstGetHashed(pSst, k, n, hash, bFilter, seq, pbFound, peType,
                        pVal);
  }
  return rc;
}

/*
** Filters that only cost. A table's bloom filter spares a search for a key
** the table does not hold, at the price of one cache line read first. When
** nearly every probe of a level finds its key, that line is one cache miss
** more on the way to the block holding the key: reads of keys that exist
** end mostly in the last level, which holds most of the data (readrandom:
** about 8% of a lookup, doc/getpath.md "Filters passed over"). RocksDB's
** optimize_filters_for_hits drops the last level's filters for good; here
** each level >= 1 keeps a score of its recent probes instead, +1 for a key
** found (a tombstone too: the filter would have said "maybe"), -FILTER_MISS
** for one not there, between 0 and FILTER_SCORE_MAX, and while it is at
** FILTER_SKIP_AT or above its probes pass over the filter. The score
** drifts up while fewer than one probe in FILTER_MISS+1 misses, so keys
** that are absent (a duplicate check before an INSERT, readmissing) bring
** the filter back after a few dozen probes. Level 0 always uses its
** filters: its files are small and each holds few of the keys sought.
** The answer never depends on it: the block search decides. Relaxed loads
** and stores: a lost update between two threads moves a score by a step.
*/
#define FILTER_SCORE_MAX 256
#define FILTER_SKIP_AT   128
#define FILTER_MISS      8

static int filterWanted(kv_db *db, int iLevel){
  return atomic_load_explicit(&db->aFilterScore[iLevel],
                              memory_order_relaxed)<FILTER_SKIP_AT;
}

static void filterNote(kv_db *db, int iLevel, int bFound){
  int s = atomic_load_explicit(&db->aFilterScore[iLevel],
                               memory_order_relaxed);
  /* (no store while a score stays at either end: the common case writes
  ** nothing other readers' caches would have to fetch again) */
  if( bFound ){
    if( s<FILTER_SCORE_MAX ){
      atomic_store_explicit(&db->aFilterScore[iLevel], s+1,
                            memory_order_relaxed);
    }
  }else if( s>0 ){
    atomic_store_explicit(&db->aFilterScore[iLevel],
                          s>FILTER_MISS ? s-FILTER_MISS : 0,
                          memory_order_relaxed);
  }
}

/* Search version v. Level 0 files are ordered newest first and hold
** disjoint sequence ranges (each flush is newer than every earlier file),
** so the first file that has the key has its newest version. */
static int versionGet(kv_db *db, KvVersion *v, const u8 *k, size_t n,
                      u32 hash, u64 seq, int *pbFound, int *peType,
                      KvBuf *pVal){
  int rc = KV_OK;
  int i, iLevel;
  KvFileMeta *pFirst = 0;       /* first file probed, if of level 0 */
  int nProbe = 0;
  *pbFound = 0;
  for(i=0; rc==KV_OK && !*pbFound && i<v->anFile[0]; i++){
    KvFileMeta *f = v->aaFile[0][i];
    if( f->minSeq>seq || !fileCovers(f, k, n) ) continue;
    if( nProbe++==0 ) pFirst = f;
    rc = probeFile(f, k, n, hash, 1, seq, pbFound, peType, pVal);
  }
  /* (most of the KV_MAX_LEVELS levels are empty: one load each) */
  for(iLevel=1; rc==KV_OK && !*pbFound && iLevel<KV_MAX_LEVELS; iLevel++){
    KvFileMeta **a;
    int lo = 0, hi = v->anFile[iLevel];
    while( hi==0 && iLevel+1<KV_MAX_LEVELS ) hi = v->anFile[++iLevel];
    a = v->aaFile[iLevel];
    /* First file whose largest user key is >= k. */
    while( lo<hi ){
      int mid = (lo+hi)/2;
      KvFileMeta *f = a[mid];
      if( kvUKeyCmpShort(f->largest.a, f->largest.n - KV_TRAILER, k, n)<0 ){
        lo = mid+1;
      }else{
        hi = mid;
      }
    }
    /* (its largest key is >= k: only its smallest is left to check) */
    if( lo<v->anFile[iLevel]
     && kvUKeyCmpShort(k, n, a[lo]->smallest.a,
                       a[lo]->smallest.n - KV_TRAILER)>=0 ){
      nProbe++;
      rc = probeFile(a[lo], k, n, hash, filterWanted(db, iLevel), seq,
                     pbFound, peType, pVal);
      if( rc==KV_OK ) filterNote(db, iLevel, *pbFound);
    }
  }
  if( nProbe>1 && rc==KV_OK && pFirst && db->pCompactor ){
    kvCompactSeekCharge(db->pCompactor, pFirst);
  }
  return rc;
}

/* A scan sought user key k in version v: its merge reads a block of every
** level-0 file whose range holds k. If the version has another table
** besides that file, charge the newest level-0 file holding k one probe in
** vain, as versionGet charges a get that goes on past it (LevelDB samples
** its iterators' keys the same way): a store that is only scanned compacts
** its level-0 pile-up too. */
void kvDbSeekChargeScan(kv_db *db, KvVersion *v, const u8 *k, size_t n){
  int i, iLevel;
  if( db->pCompactor==0 ) return;
  for(i=0; i<v->anFile[0] && !fileCovers(v->aaFile[0][i], k, n); i++){}
  if( i==v->anFile[0] ) return;
  for(iLevel=1; iLevel<KV_MAX_LEVELS && v->anFile[iLevel]==0; iLevel++){}
  if( v->anFile[0]>1 || iLevel<KV_MAX_LEVELS ){
    kvCompactSeekCharge(db->pCompactor, v->aaFile[0][i]);
  }
}

/* Is the newest version found by a point read (its sequence in *pbFound's
** entry: looked up again here) hidden by a range tombstone at or below
** seq? Sets *pbFound 0 if so. Costs nothing when no source has range
** tombstones; otherwise a pass over them (the found entry's sequence is
** found again by a second, sequence-reporting lookup). */
static int rangeDelHides(KvMem *pMem, KvMem *pImm, KvVersion *v,
                         const u8 *k, size_t nKey, u64 seq, int *pbFound){
  KvRdList rd = {0, 0, 0};
  u64 tseq;
  int rc;
  /* None anywhere (the version's memo, once kvDbRangeDels has set it, and
  ** the memtables' lists): nothing to gather. */
  if( atomic_load_explicit(&v->eRangeDel, memory_order_relaxed)==1
   && !kvMemHasRangeDels(pMem) && !(pImm && kvMemHasRangeDels(pImm)) ){
    return KV_OK;
  }
  rc = kvDbRangeDels(pMem, pImm, v, &rd);
  if( rc==KV_OK && rd.n>0 ){
    tseq = kvRdListMaxSeq(&rd, k, nKey, seq);
    if( tseq>0 ){
      /* Hidden unless the version found is newer than the tombstone:
      ** look for any version of k in (tseq, seq]. */
      KvIter **ap = 0;
      int nIt = 0, i;
      KvIter *pM = 0;
      KvBuf ik = {0, 0, 0};
      *pbFound = 0;
      rc = kvDbCollectIters(0, pMem, pImm, v, &ap, &nIt);
      if( rc==KV_OK ){
        rc = kvMergeIterNew(ap, nIt, &pM);
        nIt = 0;
      }
      for(i=0; i<nIt; i++) ap[i]->pMethods->xClose(ap[i]);
      kvFree(ap);
      if( rc==KV_OK ) rc = kvIKeyAppend(&ik, k, nKey, seq, KV_TYPE_PUT);
      if( rc==KV_OK ) rc = pM->pMethods->xSeek(pM, ik.a, ik.n);
      if( rc==KV_OK && kvIterValid(pM)
       && kvUKeyCmp(pM->pKey, pM->nKey - KV_TRAILER, k, nKey)==0
       && kvIKeySeq(pM->pKey, pM->nKey)>tseq ){
        *pbFound = 1;
      }
      if( pM ) pM->pMethods->xClose(pM);
      kvBufFree(&ik);
    }
  }
  kvRdListFree(&rd);
  return rc;
}

/* kv_get and kv_get_into: the value of pKey into *pBuf (its capacity
** reused, grown as needed) when pBuf is not NULL; its length in *pnVal
** either way. */
static int getInto(kv_db *db, const kv_snapshot *snap, const kv_batch *b,
                   const void *pKey, size_t nKey, KvBuf *pBuf,
                   size_t *pnVal){
  const u8 *k = (const u8*)pKey;
  KvMem *pMem, *pImm;
  KvVersion *v;
  u64 seq;
  u32 hash;
  int bFound = 0, eType = KV_TYPE_DEL;
  const u8 *pV = 0;
  size_t nV = 0;
  KvBuf scratch = {0, 0, 0};    /* a table's value when pBuf is NULL */
  KvBuf *pTab = pBuf ? pBuf : &scratch;
  int rc = KV_OK;

  if( b ){
    const void *pB = 0;
    size_t nB = 0;
    int r = -1;
    rc = kvBatchLookup(b, pKey, nKey, &pB, &nB, &r);
    if( rc!=KV_OK ) return rc;
    if( r==0 ) return KV_NOTFOUND;
    if( r==1 ){
      pV = pB;
      nV = nB;
      bFound = 1;
      eType = KV_TYPE_PUT;
    }
  }
  if( !bFound ){
    kvDbLock(db);
    pMem = db->pMem;
    kvMemRef(pMem);
    pImm = db->pImm;
    if( pImm ) kvMemRef(pImm);
    v = kvVersionCurrentHeld(&db->vset);
    seq = snap ? snap->link.seq : atomic_load(&db->lastSeq);
    /* (only point reads count nGets, all under the mutex: no locked add) */
    atomic_store_explicit(&db->nGets, 1 + atomic_load_explicit(&db->nGets,
                          memory_order_relaxed), memory_order_relaxed);
    kvDbUnlock(db);

    /* (an empty memtable, as after a flush, is not searched: an entry at
    ** or below seq was counted before lastSeq reached it; nor one whose
    ** key filter says it has no such key) */
    hash = kvBloomHash(k, nKey);  /* for the memtables' and tables' filters */
    if( kvMemCount(pMem)>0 && kvMemMayHave(pMem, hash) ){
      bFound = kvMemGet(pMem, k, nKey, seq, &eType, &pV, &nV);
    }
    if( !bFound && pImm && kvMemMayHave(pImm, hash) ){
      bFound = kvMemGet(pImm, k, nKey, seq, &eType, &pV, &nV);
    }
    if( !bFound ){
      /* read from a table straight into the buffer: no second copy */
      rc = versionGet(db, v, k, nKey, hash, seq, &bFound, &eType, pTab);
      pV = 0;
      nV = pTab->n;
    }
    if( rc==KV_OK && bFound && eType==KV_TYPE_PUT ){
      rc = rangeDelHides(pMem, pImm, v, k, nKey, seq, &bFound);
    }
    /* a memtable's value is copied before the memtable is let go */
    if( rc==KV_OK && bFound && eType==KV_TYPE_PUT && pV && pBuf ){
      rc = kvBufSet(pBuf, pV, nV);
    }
    kvMemUnref(pMem);
    kvMemUnref(pImm);
    kvVersionUnref(v);
    kvBufFree(&scratch);
    if( rc ) return rc;
    if( !bFound || eType!=KV_TYPE_PUT ) return KV_NOTFOUND;
    *pnVal = nV;
    return KV_OK;
  }
  *pnVal = nV;
  return pBuf ? kvBufSet(pBuf, pV, nV) : KV_OK;
}

int kv_get(kv_db *db, const kv_snapshot *snap, const kv_batch *b,
           const void *pKey, size_t nKey, void **ppVal, size_t *pnVal){
  KvBuf buf = {0, 0, 0};
  size_t nVal = 0;
  int rc;
  if( ppVal ) *ppVal = 0;
  if( pnVal ) *pnVal = 0;
  rc = getInto(db, snap, b, pKey, nKey, ppVal ? &buf : 0, &nVal);
  if( rc==KV_OK && ppVal && buf.a==0 ){
    /* an empty value: still a buffer the caller frees */
    buf.a = kvMalloc(1);
    if( buf.a==0 ) rc = kvErrNoMem();
  }
  if( rc!=KV_OK ){
    kvBufFree(&buf);
    return rc;
  }
  if( ppVal ) *ppVal = buf.a;
  if( pnVal ) *pnVal = nVal;
  return KV_OK;
}

int kv_get_into(kv_db *db, const kv_snapshot *snap, const kv_batch *b,
                const void *pKey, size_t nKey, void **ppBuf,
                size_t *pnAlloc, size_t *pnVal){
  KvBuf buf;
  int rc;
  size_t nVal = 0;
  buf.a = (u8*)*ppBuf;
  buf.n = 0;
  buf.nAlloc = *ppBuf ? *pnAlloc : 0;
  rc = getInto(db, snap, b, pKey, nKey, &buf, &nVal);
  *ppBuf = buf.a;
  *pnAlloc = buf.nAlloc;
  *pnVal = rc==KV_OK ? nVal : 0;
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Open, recovery, close.                                                  */

/* Remove what a crash can leave behind: tables no version names, temporary
** files, manifests other than the live one. */
static void deleteObsoleteFiles(kv_db *db){
  char **az = 0;
  int n = 0, i;
  KvVersion *v = db->vset.pCurrent;
  KvErrSave save;
  kvErrSave(&save);
  if( db->pEnv->xList(db->pEnv, db->zDir, &az, &n)!=KV_OK ){
    kvErrRestore(&save, 0);
    return;
  }
  for(i=0; i<n; i++){
    const char *z = az[i];
    int eType;
    u64 iFile;
    int bDel = 0;
    kvParseFileName(z, &eType, &iFile);
    if( eType==KV_FILE_SST ){
      int iLevel, j, bLive = 0;
      for(iLevel=0; iLevel<KV_MAX_LEVELS && !bLive; iLevel++){
        for(j=0; j<v->anFile[iLevel]; j++){
          if( v->aaFile[iLevel][j]->iFile==iFile ){ bLive = 1; break; }
        }
      }
      bDel = !bLive;
    }else if( eType==KV_FILE_SST_TMP || eType==KV_FILE_SPILL ){
      bDel = 1;
    }else if( eType==KV_FILE_MANIFEST ){
      bDel = iFile!=db->vset.iManifest;
    }else if( eType==KV_FILE_CURRENT_TMP || eType==KV_FILE_IDENTITY_TMP ){
      bDel = 1;
    }
    if( bDel ){
      char *zPath = kvMprintf("%s/%s", db->zDir, z);
      if( zPath ) db->pEnv->xUnlink(db->pEnv, zPath);
      kvFree(zPath);
    }
  }
  kvFreeList(az, n);
  kvErrRestore(&save, 0);
}

static void dbFree(kv_db *db, int bFinish){
  if( db==0 ) return;
  if( db->bBgThread ){             /* (bBgJoin is only ever set with it) */
    int bJoin;
    kvDbLock(db);
    if( bFinish && db->bBgThread && closeWaits(db) ){
      kvDbBgKick(db);
      /* (no thread could be started: the WAL keeps what is unflushed) */
      while( db->bBgThread && closeWaits(db) ){
        pthread_cond_wait(&db->cvWork, &db->mutex);
      }
    }
    db->bShutdown = 1;
    pthread_cond_broadcast(&db->cvWork);
    bJoin = db->bBgRunning || db->bBgJoin;
    db->bBgRunning = 0;
    db->bBgJoin = 0;
    kvDbUnlock(db);
    if( bJoin ) pthread_join(db->bgThread, 0);
    db->bBgThread = 0;
  }
  if( db->pWal ){
    if( db->pOpts->eSync!=KV_SYNC_OFF && db->rcWal==KV_OK ) kvWalSync(db->pWal);
    /* The last process leaves the segment at its real length: where the
    ** last record of any process ended (its own view may be older). */
    if( db->rcWal==KV_OK && kvSharedAlone(db) ) kvSharedWalCut(db);
    kvWalClose(db->pWal);
  }
  kvSharedClose(db);
  kvSpillPrepFree(db);
  kv_batch_free(atomic_load_explicit(&db->pSpareBatch, memory_order_relaxed));
  kv_iter_free(db->pSpareIter);         /* unlinked: takes no lock */
  kvMemUnref(db->pMem);
  kvMemUnref(db->pImm);
  kvMemPoolUnref(db->pMemPool);
  kvCompactorFree(db->pCompactor);      /* may hold a file: before the vset */
  kvVsetClose(&db->vset);
  kvCacheFree(db->pCache);
  kvRateFree(db->pRate);
  if( db->pLock ) db->pEnv->xUnlock(db->pLock);
  if( db->pShmViewFile ) db->pEnv->xClose(db->pShmViewFile);
  kv_options_free(db->pOpts);
  kvFree(db->zBgErr);
  kvFree(db->zWalErr);
  kvFree(db->zDir);
  pthread_mutex_destroy(&db->mutex);
  pthread_mutex_destroy(&db->vsetMutex);
  pthread_mutex_destroy(&db->maintMutex);
  pthread_cond_destroy(&db->cvWork);
  pthread_cond_destroy(&db->cvWriterLock);
  kvFree(db);
}

/* CURRENT is absent. A new store may be made only where nothing of an
** old one remains: a table or a WAL segment means CURRENT was lost, and
** creating a store would drop every row they hold. */
static int missingCurrentCheck(kv_db *db){
  char **az = 0;
  int n = 0, i;
  int nSst = 0, nWal = 0, nManifest = 0;
  int rc = db->pEnv->xList(db->pEnv, db->zDir, &az, &n);
  for(i=0; rc==KV_OK && i<n; i++){
    int eType;
    u64 iNum;
    kvParseFileName(az[i], &eType, &iNum);
    if( eType==KV_FILE_SST ) nSst++;
    else if( eType==KV_FILE_WAL ) nWal++;
    else if( eType==KV_FILE_MANIFEST ) nManifest++;
  }
  kvFreeList(az, n);
  if( rc!=KV_OK ) return rc;
  if( nSst>0 || nWal>0 ){
    return kvErr(KV_CORRUPT, "kvstore: store '%s' is missing its CURRENT file "
                 "(%d SSTable(s), %d WAL segment(s) and %d manifest(s) "
                 "remain); nothing was changed: kvstore_repair() can rebuild "
                 "it", db->zDir, nSst, nWal, nManifest);
  }
  if( !db->pOpts->bCreate ){
    return kvErr(KV_CANTOPEN, "kvstore: no store in '%s' (no CURRENT file) "
                 "and creating one was not requested", db->zDir);
  }
  return KV_OK;
}

/* kv_drop_pending through pEnv: KV_NAME_DROPPING there, CURRENT not. */
static int dropPendingEnv(KvEnv *pEnv, const char *zDir){
  char *zCurrent = kvFileName(zDir, KV_FILE_CURRENT, 0);
  char *zDropping = kvFileName(zDir, KV_FILE_DROPPING, 0);
  int bRes = zCurrent && zDropping && pEnv->xExists(pEnv, zDropping)
          && !pEnv->xExists(pEnv, zCurrent);
  kvFree(zCurrent);
  kvFree(zDropping);
  return bRes;
}

/* A store whose DROP was interrupted stays unopenable until a DROP
** finishes it. REQUIRES: LOCK held. */
static int droppedCheck(kv_db *db){
  char *zPath = kvFileName(db->zDir, KV_FILE_DROPPED, 0);
  int rc = KV_OK;
  if( zPath==0 ) return kvErrNoMem();
  if( db->pEnv->xExists(db->pEnv, zPath) ){
    rc = kvErr(KV_CANTOPEN, "kvstore: store '%s' is being dropped (%s "
               "exists: a DROP TABLE was interrupted); DROP TABLE again "
               "finishes it", db->zDir, KV_NAME_DROPPED);
  }else if( dropPendingEnv(db->pEnv, db->zDir) ){
    rc = kvErr(KV_CANTOPEN, "kvstore: store '%s' is being dropped by a DROP "
               "TABLE that has not committed yet (%s exists); it is back "
               "once that DROP rolls back", db->zDir, KV_NAME_DROPPING);
  }
  kvFree(zPath);
  return rc;
}

/* Without the create flag, refuse a directory that holds no store before
** anything is written to it. */
static int existingStoreCheck(KvEnv *pEnv, const char *zDir,
                              const kv_options *opts){
  char *zPath;
  int rc = KV_OK;
  if( opts==0 || opts->bCreate ) return KV_OK;
  zPath = kvFileName(zDir, KV_FILE_IDENTITY, 0);
  if( zPath==0 ) return kvErrNoMem();
  if( !pEnv->xExists(pEnv, zPath) ){
    rc = kvErr(KV_CANTOPEN, "kvstore: no store in '%s' (no %s file) and "
               "creating one was not requested", zDir, KV_NAME_IDENTITY);
  }
  kvFree(zPath);
  return rc;
}

/* fsync the directory that holds zDir, so that a store directory just
** made survives a power cut (a new directory entry is durable only once
** its parent is synced). Done on every creating open: the directory may
** have been made by an earlier open that crashed before this point. */
static int syncParentDir(KvEnv *pEnv, const char *zDir){
  const char *zSlash = strrchr(zDir, '/');
  char *zParent;
  int rc;
  if( zSlash==0 || zSlash==zDir ){
    zParent = kvMprintf("%s", zSlash==0 ? "." : "/");
  }else{
    zParent = kvMprintf("%.*s", (int)(zSlash-zDir), zDir);
  }
  if( zParent==0 ) return kvErrNoMem();
  rc = pEnv->xSyncDir(pEnv, zParent);
  kvFree(zParent);
  if( rc!=KV_OK ){
    char *zWhy = kvMprintf("%s", kvErrMsg());
    rc = kvErr(rc, "kvstore: cannot make the new store directory '%s' "
               "durable: %s", zDir, zWhy ? zWhy : "fsync failed");
    kvFree(zWhy);
  }
  return rc;
}

static int dbOpen(KvEnv *pEnv, const char *zDir, u64 iDev, u64 iIno,
                  const kv_options *opts, int bReadOnly, kv_db **ppDb){
  kv_db *db = kvMallocZero(sizeof(*db));
  char *zCurrent = 0;
  char *zLock = 0;
  int bFirst = 0;               /* no other process has the store open */
  int rc = KV_OK;

  *ppDb = 0;
  if( db==0 ) return kvErrNoMem();
  pthread_mutex_init(&db->mutex, 0);
  pthread_mutex_init(&db->vsetMutex, 0);
  pthread_mutex_init(&db->maintMutex, 0);
  db->iSlot = -1;
  pthread_cond_init(&db->cvWork, 0);
  pthread_cond_init(&db->cvWriterLock, 0);
  db->snapHead.pNext = db->snapHead.pPrev = &db->snapHead;
  db->pEnv = pEnv;
  db->iDev = iDev;
  db->iIno = iIno;
  db->nRef = 1;
  pthread_once(&gForkOnce, forkRegister);
  db->iForkGen = atomic_load(&gForkGen);
  db->bReadOnly = bReadOnly;
  db->zDir = kvStrdup(zDir);
  db->pOpts = opts ? kv_options_copy(opts) : kv_options_new();
  atomic_store(&db->iDurable,
               db->pOpts && db->pOpts->bHorizon ? 0 : KV_MAX_SEQ);
  zLock = kvFileName(zDir, KV_FILE_LOCK, 0);
  zCurrent = kvFileName(zDir, KV_FILE_CURRENT, 0);
  if( !db->zDir || !db->pOpts || !zLock || !zCurrent ){
    rc = kvErrNoMem();
  }
  if( rc==KV_OK ) rc = foreignCheck(pEnv, zDir);
  if( rc==KV_OK ) rc = existingStoreCheck(pEnv, zDir, opts);
  if( rc==KV_OK && !bReadOnly ) rc = pEnv->xLock(pEnv, zLock, &db->pLock);
  if( rc==KV_OK && !bReadOnly ){
    rc = kvSharedOpen(db, &bFirst);
    if( rc==KV_OK && !bFirst ) rc = kvSharedClaimSlot(db);
  }
  if( rc==KV_OK && bFirst ) rc = droppedCheck(db);
  if( rc==KV_OK ) rc = identityOpen(db);
  if( rc==KV_OK ){
    /* one memtable's blocks (and a little): what the next one needs */
    rc = kvMemPoolNew((size_t)db->pOpts->nMemtable + (128<<10),
                      &db->pMemPool);
  }
  if( rc==KV_OK ) rc = kvCacheNew(db->pOpts->nCache, &db->pCache);
  if( rc==KV_OK ){
    db->vset.pEnv = pEnv;
    db->vset.zDir = db->zDir;
    db->vset.nLevel = db->pOpts->nLevel;
    db->vset.pCache = db->pCache;
    db->vset.pCounters = &db->counters;
    db->vset.bVerify = db->pOpts->bVerifyChecksums;
    db->vset.pMutex = &db->vsetMutex;
    db->vset.bReadOnly = bReadOnly;
    db->vset.bNoRewrite = !bReadOnly && !bFirst;
    if( pEnv->xExists(pEnv, zCurrent) ){
      int nTry;
      rc = kvVsetRecover(&db->vset);
      /* Another process may replace the manifest (and delete what the old
      ** one named) while this one reads it: read CURRENT again. */
      for(nTry=0; !bFirst && !bReadOnly && nTry<50
                  && (rc==KV_CORRUPT || rc==KV_CANTOPEN); nTry++){
        pEnv->xSleepMicros(pEnv, 1000);
        kvErrClear();
        rc = kvVsetRecover(&db->vset);
      }
    }else if( bReadOnly || !bFirst ){
      rc = kvErr(KV_CANTOPEN, "kvstore: '%s' holds no CURRENT file: the "
                 "store was never completely created", zDir);
    }else{
      rc = missingCurrentCheck(db);
      if( rc==KV_OK ) rc = kvVsetCreate(&db->vset);
    }
  }
  if( bReadOnly ){
    if( rc==KV_OK ) rc = kvDbRecoverReadOnly(db);
    if( rc==KV_OK ) kvSharedViewOpen(db, zLock);
  }else if( !bFirst ){
    db->vset.bShared = 1;
    if( rc==KV_OK ) rc = kvDbRecoverShared(db);
  }else{
    if( rc==KV_OK ) rc = kvDbRecoverWal(db);
    if( rc==KV_OK ) rc = kvMemNewPooled(db->pMemPool, &db->pMem);
  }
  if( rc==KV_OK ) rc = kvDbCompactorNew(db);
  if( rc==KV_OK ){
    rc = kvRateNew(pEnv, db->pOpts->rRateLimit, db->pOpts->rRateBurst,
                   db->pOpts->nRateWaitMs, &db->pRate);
  }
  if( rc==KV_OK && bFirst ) deleteObsoleteFiles(db);
  if( rc==KV_OK && bFirst ){
    /* Recovered: let other processes in (shared.c). */
    db->vset.bShared = 1;
    rc = kvSharedFirstReady(db);
  }
  if( rc==KV_OK && db->pOpts->bBackground && !bReadOnly ){
    /* Set first: the thread may leave (and say so) before create returns. */
    db->bBgThread = 1;
    db->bBgRunning = 1;
    if( pthread_create(&db->bgThread, 0, bgMain, db)!=0 ){
      db->bBgThread = 0;
      db->bBgRunning = 0;
      rc = kvErr(KV_ERROR, "kvstore: cannot start the background thread "
                 "for '%s'", zDir);
    }
  }
  kvFree(zCurrent);
  kvFree(zLock);
  if( rc!=KV_OK ){
    KvErrSave save;
    kvErrSave(&save);
    dbFree(db, 0);
    kvErrRestore(&save, rc);
    return rc;
  }
  *ppDb = db;
  return KV_OK;
}

/* Canonical path of an existing directory (kvFree). */
static int canonicalDir(const char *zDir, char **pzOut){
  char *z = realpath(zDir, 0);
  *pzOut = 0;
  if( z==0 ) return kvErrno(errno, "open", zDir);
  *pzOut = kvStrdup(z);
  free(z);
  if( *pzOut==0 ) return kvErrNoMem();
  return KV_OK;
}

/* Opens of one directory through one env share an instance; through
** another env they are another instance, which meets this one as another
** process would (shared.c): the tests' way to play two processes. */
static kv_db *registryFind(u64 iDev, u64 iIno, KvEnv *pEnv){
  kv_db *p;
  for(p=gRegistry; p; p=p->pNextDb){
    if( p->iDev==iDev && p->iIno==iIno && p->pEnv==pEnv
     && !kvDbInherited(p) ){
      return p;
    }
  }
  return 0;
}

int kv_open(const char *zDir, const kv_options *opts, kv_db **ppDb){
  KvEnv *pEnv = (opts && opts->pEnv) ? opts->pEnv : kvEnvPosix();
  char *zCanon = 0;
  u64 iDev = 0, iIno = 0;
  kv_db *db = 0;
  int rc;

  kvErrClear();
  *ppDb = 0;
  if( zDir==0 || zDir[0]==0 ){
    return kvErr(KV_MISUSE, "kvstore: no directory given");
  }
  if( opts && !opts->bCreate ){
    if( !pEnv->xExists(pEnv, zDir) ){
      return kvErr(KV_CANTOPEN, "kvstore: store directory '%s' does not "
                   "exist and creating a store was not requested", zDir);
    }
    rc = KV_OK;
  }else{
    rc = pEnv->xMkdir(pEnv, zDir);
    if( rc==KV_OK ) rc = syncParentDir(pEnv, zDir);
  }
  if( rc==KV_OK ) rc = canonicalDir(zDir, &zCanon);
  if( rc==KV_OK ) rc = pEnv->xFileId(pEnv, zCanon, &iDev, &iIno);
  if( rc!=KV_OK ){
    kvFree(zCanon);
    return rc;
  }
  pthread_mutex_lock(&gRegistryMutex);
  db = registryFind(iDev, iIno, pEnv);
  if( db ){
    /* Shared instance: the shaping options given must agree with the
    ** store's (those not given are the store's anyway). */
    kv_options *pTmp = opts ? kv_options_copy(opts) : kv_options_new();
    if( pTmp==0 ){
      rc = kvErrNoMem();
    }else{
      rc = shapingAdopt(pTmp, zCanon, optionsValue, db->pOpts);
      kv_options_free(pTmp);
    }
    if( rc==KV_OK ){
      db->nRef++;
      *ppDb = db;
    }
  }else{
    rc = dbOpen(pEnv, zCanon, iDev, iIno, opts, 0, &db);
    if( rc==KV_OK ){
      db->pNextDb = gRegistry;
      gRegistry = db;
      *ppDb = db;
    }
  }
  pthread_mutex_unlock(&gRegistryMutex);
  kvFree(zCanon);
  return rc;
}

#define KV_READONLY_TRIES 5        /* kv_open_readonly: attempts */

int kv_open_readonly(const char *zDir, const kv_options *opts, kv_db **ppDb){
  KvEnv *pEnv = (opts && opts->pEnv) ? opts->pEnv : kvEnvPosix();
  char *zCanon = 0;
  u64 iDev = 0, iIno = 0;
  int rc, nTry;

  kvErrClear();
  *ppDb = 0;
  if( zDir==0 || zDir[0]==0 ){
    return kvErr(KV_MISUSE, "kvstore: no directory given");
  }
  rc = canonicalDir(zDir, &zCanon);
  if( rc!=KV_OK ){
    rc = kvErr(KV_CANTOPEN, "kvstore: cannot open store '%s': %s", zDir,
               kvErrMsg());
  }
  if( rc==KV_OK ) rc = pEnv->xFileId(pEnv, zCanon, &iDev, &iIno);
  /* Not in the registry: a private instance, never shared with writers.
  ** Another attempt reads CURRENT afresh, when the owner replaced the
  ** manifest or deleted a table or segment under the previous one; an
  ** owner compacting back to back can do that more than once, hence a
  ** few attempts, a little further apart each time. */
  for(nTry=0; rc==KV_OK; nTry++){
    rc = dbOpen(pEnv, zCanon, iDev, iIno, opts, 1, ppDb);
    if( nTry>=KV_READONLY_TRIES-1
     || (rc!=KV_BUSY && rc!=KV_CANTOPEN && rc!=KV_CORRUPT) ) break;
    if( rc==KV_CANTOPEN && !pEnv->xExists(pEnv, zCanon) ) break;
    pEnv->xSleepMicros(pEnv, (u64)1000 << nTry);
    rc = KV_OK;
  }
  kvFree(zCanon);
  return rc;
}

static int closeDb(kv_db *db, int bFinish){
  kv_db **pp;
  if( db==0 ) return KV_OK;
  if( kvDbInherited(db) ) return KV_OK;     /* the parent's: left alone */
  pthread_mutex_lock(&gRegistryMutex);
  if( --db->nRef>0 ){
    pthread_mutex_unlock(&gRegistryMutex);
    return KV_OK;
  }
  for(pp=&gRegistry; *pp; pp=&(*pp)->pNextDb){
    if( *pp==db ){ *pp = db->pNextDb; break; }
  }
  pthread_mutex_unlock(&gRegistryMutex);
  dbFree(db, bFinish);
  return KV_OK;
}

int kv_close(kv_db *db){
  return closeDb(db, 1);
}

int kv_close_nowait(kv_db *db){
  return closeDb(db, 0);
}

const kv_options *kv_db_options(kv_db *db){
  return db->pOpts;
}

int kv_key_type(kv_db *db){
  return db->pOpts->eKeyType;
}

int kv_db_refcount(kv_db *db){
  int n;
  pthread_mutex_lock(&gRegistryMutex);
  n = db->nRef;
  pthread_mutex_unlock(&gRegistryMutex);
  return n;
}

/* LOCK of store zDir opened and its OPEN byte taken exclusively: no other
** process has the store open (shared.c), else KV_BUSY saying so. */
static int lockAlone(KvEnv *pEnv, const char *zLock, const char *zDir,
                     KvFile **ppLock){
  int rc = pEnv->xLock(pEnv, zLock, ppLock);
  if( rc==KV_OK ){
    rc = pEnv->xLockByte(*ppLock, KV_LOCKB_OPEN, KV_LOCK_EXCL, 0);
    if( rc==KV_BUSY ){
      rc = kvErr(KV_BUSY, "kvstore: '%s' is open elsewhere (another "
                 "connection or another process): it cannot be dropped now",
                 zDir);
    }
  }
  return rc;
}

/* Rename zFrom to zTo in directory zDir, durably (the directory fsynced). */
static int renameSynced(KvEnv *pEnv, const char *zFrom, const char *zTo,
                        const char *zDir){
  int rc = pEnv->xRename(pEnv, zFrom, zTo);
  if( rc==KV_OK ) rc = pEnv->xSyncDir(pEnv, zDir);
  return rc;
}

/*
** Drop the store in zDir through pEnv (kv_destroy; tests pass a test env).
**
** The first step makes the store unopenable in one durable step: CURRENT
** is renamed to KV_NAME_DROPPED and the directory fsynced. A crash or an error
** after it leaves a store that every open refuses and that the next
** destroy finishes; before it, the store is whole. A store without CURRENT
** (damaged, or a drop that got further) is dropped all the same. Only the
** store's own names are deleted, data files first, then the marker, the
** identity file and LOCK, so every interrupted state is either refused by
** kv_open or an empty store that the next destroy removes.
*/
int kvDestroyEnv(KvEnv *pEnv, const char *zDir){
  char *zCanon = 0;
  char *zId = 0;
  char *zLock = 0;
  char *zCurrent = 0;
  char *zMarker = 0;
  char *zDropping = 0;
  KvFile *pLock = 0;
  u64 iDev, iIno;
  char **az = 0;
  int n = 0, i;
  int rc;

  kvErrClear();
  if( !pEnv->xExists(pEnv, zDir) ) return KV_OK;
  rc = canonicalDir(zDir, &zCanon);
  if( rc==KV_OK ) rc = pEnv->xFileId(pEnv, zCanon, &iDev, &iIno);
  if( rc==KV_OK ){
    pthread_mutex_lock(&gRegistryMutex);
    if( registryFind(iDev, iIno, pEnv) ){
      rc = kvErr(KV_BUSY, "kvstore: '%s' is open in this process", zCanon);
    }
    pthread_mutex_unlock(&gRegistryMutex);
  }
  if( rc==KV_OK ){
    zId = kvFileName(zCanon, KV_FILE_IDENTITY, 0);
    zLock = kvFileName(zCanon, KV_FILE_LOCK, 0);
    zCurrent = kvFileName(zCanon, KV_FILE_CURRENT, 0);
    zMarker = kvFileName(zCanon, KV_FILE_DROPPED, 0);
    zDropping = kvFileName(zCanon, KV_FILE_DROPPING, 0);
    if( zId==0 || zLock==0 || zCurrent==0 || zMarker==0 || zDropping==0 ){
      rc = kvErrNoMem();
    }
  }
  if( rc==KV_OK && !pEnv->xExists(pEnv, zId) ){
    rc = kvErr(KV_ERROR, "kvstore: '%s' does not hold a kvstore store (no %s "
               "file); nothing was removed", zCanon, KV_NAME_IDENTITY);
  }
  if( rc==KV_OK ) rc = lockAlone(pEnv, zLock, zCanon, &pLock);
  if( rc==KV_OK && pEnv->xExists(pEnv, zCurrent) ){
    rc = renameSynced(pEnv, zCurrent, zMarker, zCanon);
  }else if( rc==KV_OK && pEnv->xExists(pEnv, zDropping) ){
    /* (kv_drop_prepare's marker: its DROP committed) */
    rc = renameSynced(pEnv, zDropping, zMarker, zCanon);
  }
  if( rc==KV_OK ) rc = pEnv->xList(pEnv, zCanon, &az, &n);
  for(i=0; rc==KV_OK && i<n; i++){
    /* The marker and the identity go last, so an interrupted destroy is
    ** refused by kv_open and redone by the next destroy. */
    int eType;
    u64 iNum;
    kvParseFileName(az[i], &eType, &iNum);
    if( isStoreName(az[i]) && eType!=KV_FILE_LOCK
     && eType!=KV_FILE_IDENTITY && eType!=KV_FILE_DROPPED ){
      char *zPath = kvMprintf("%s/%s", zCanon, az[i]);
      if( zPath==0 ) rc = kvErrNoMem();
      else rc = pEnv->xUnlink(pEnv, zPath);
      kvFree(zPath);
    }
  }
  if( rc==KV_OK ) rc = pEnv->xUnlink(pEnv, zMarker);
  if( rc==KV_OK ) rc = pEnv->xUnlink(pEnv, zId);
  if( pLock ){
    pEnv->xUnlock(pLock);
    if( rc==KV_OK ) rc = pEnv->xUnlink(pEnv, zLock);
  }
  if( rc==KV_OK ){
    /* Only an empty directory goes; anything the user put there stays. */
    kvFreeList(az, n);
    az = 0;
    n = 0;
    if( pEnv->xList(pEnv, zCanon, &az, &n)==KV_OK && n==0 ){
      rc = pEnv->xRmdir(pEnv, zCanon);
    }
  }
  kvFreeList(az, n);
  kvFree(zId);
  kvFree(zLock);
  kvFree(zCurrent);
  kvFree(zMarker);
  kvFree(zDropping);
  kvFree(zCanon);
  return rc;
}

int kv_destroy(const char *zDir){
  return kvDestroyEnv(kvEnvPosix(), zDir);
}

/*
** The two steps of a DROP TABLE that commits with its database
** (kvvtab.c's xDestroy): kv_drop_prepare makes the store unopenable in one
** durable step (CURRENT renamed to KV_NAME_DROPPING, the directory
** fsynced) and deletes nothing; once the database's commit is known,
** kv_destroy deletes it (it takes that marker for CURRENT) or
** kv_drop_undo renames it back. Refused, as kv_destroy is, while the
** store is open in this process or another.
*/
int kv_drop_prepare(const char *zDir){
  KvEnv *pEnv = kvEnvPosix();
  char *zCurrent = kvFileName(zDir, KV_FILE_CURRENT, 0);
  char *zDropping = kvFileName(zDir, KV_FILE_DROPPING, 0);
  char *zLock = kvFileName(zDir, KV_FILE_LOCK, 0);
  KvFile *pLock = 0;
  int rc = (zCurrent && zDropping && zLock) ? KV_OK : kvErrNoMem();
  kvErrClear();
  if( rc==KV_OK ) rc = lockAlone(pEnv, zLock, zDir, &pLock);
  if( rc==KV_OK && pEnv->xExists(pEnv, zCurrent) ){
    rc = renameSynced(pEnv, zCurrent, zDropping, zDir);
  }
  if( pLock ) pEnv->xUnlock(pLock);
  kvFree(zCurrent);
  kvFree(zDropping);
  kvFree(zLock);
  return rc;
}

int kv_drop_undo(const char *zDir){
  KvEnv *pEnv = kvEnvPosix();
  char *zCurrent = kvFileName(zDir, KV_FILE_CURRENT, 0);
  char *zDropping = kvFileName(zDir, KV_FILE_DROPPING, 0);
  int rc = (zCurrent && zDropping) ? KV_OK : kvErrNoMem();
  kvErrClear();
  if( rc==KV_OK && dropPendingEnv(pEnv, zDir) ){
    rc = renameSynced(pEnv, zDropping, zCurrent, zDir);
  }
  kvFree(zCurrent);
  kvFree(zDropping);
  return rc;
}

int kv_drop_pending(const char *zDir){
  return dropPendingEnv(kvEnvPosix(), zDir);
}

int kv_drop_marked(const char *zDir){
  KvEnv *pEnv = kvEnvPosix();
  char *zDropped = kvFileName(zDir, KV_FILE_DROPPED, 0);
  int bRes = kv_drop_pending(zDir)
          || (zDropped && pEnv->xExists(pEnv, zDropped));
  kvFree(zDropped);
  return bRes;
}

int kv_store_hold(const char *zDir, kv_hold **ppHold){
  KvEnv *pEnv = kvEnvPosix();
  char *zLock = kvFileName(zDir, KV_FILE_LOCK, 0);
  KvFile *pLock = 0;
  int rc = zLock ? pEnv->xLock(pEnv, zLock, &pLock) : kvErrNoMem();
  if( rc==KV_OK ){
    rc = pEnv->xLockByte(pLock, KV_LOCKB_OPEN, KV_LOCK_SHARED, 0);
    if( rc!=KV_OK ){
      pEnv->xUnlock(pLock);
      pLock = 0;
    }
  }
  kvFree(zLock);
  *ppHold = (kv_hold*)pLock;
  return rc;
}

void kv_store_release(kv_hold *pHold){
  if( pHold ) kvEnvPosix()->xUnlock((KvFile*)pHold);
}

/* ---------------------------------------------------------------------- */
/* Writer lock.                                                            */

int kv_writer_acquire(kv_db *db, const void *owner, int timeout_ms){
  int rc = KV_OK;
  struct timespec deadline;
  if( kvDbInherited(db) ) return kvDbInheritedErr(db);
  kvDbDeadline(&deadline, timeout_ms>0 ? (u64)timeout_ms*1000 : 0);
  kvDbLock(db);
  while( db->pWriterOwner && db->pWriterOwner!=owner ){
    if( timeout_ms<=0
     || pthread_cond_timedwait(&db->cvWriterLock, &db->mutex, &deadline)==ETIMEDOUT ){
      if( db->pWriterOwner && db->pWriterOwner!=owner ){
        rc = kvErr(KV_BUSY, "kvstore: '%s' is being written by another "
                   "connection", db->zDir);
      }
      break;
    }
  }
  if( rc==KV_OK ) db->pWriterOwner = owner;
  kvDbUnlock(db);
  return rc;
}

void kv_writer_release(kv_db *db, const void *owner){
  kvDbLock(db);
  if( db->pWriterOwner==owner ){
    db->pWriterOwner = 0;
    pthread_cond_broadcast(&db->cvWriterLock);
  }
  kvDbUnlock(db);
}

