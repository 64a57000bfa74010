/*
** ingest.c - adding SSTables written elsewhere to a store (kv_ingest,
** kv_ingest_prepare / kv_ingest_commit / kv_ingest_abort; doc/ingest.md).
**
** What an ingest does, in order:
**
**   1. Check each file: every checksum and the Merkle root recomputed from
**      the data blocks (kvSstVerify), and, when the caller gives one, the
**      root it expects. A file that fails is refused, naming it; nothing
**      has changed yet. Files holding range tombstones are refused too
**      (their sequence order against the file's own entries would be lost
**      by step 4).
**   2. Flush the memtable, so that no unflushed entry can shadow an
**      ingested one in a point read (which takes the first version it
**      finds, memtable first).
**   3. Take the store's maintenance turn (shared.c: no flush or compaction
**      runs, in this process or another, until the ingest is committed or
**      given up) and reserve the next sequence S as a prepared transaction
**      does (db->bPrepared): no other write can take S meanwhile.
**   4. Rewrite each file into the store under a new file number with every
**      entry at sequence S (only the newest version of each key is kept:
**      one sequence cannot order two). This is RocksDB's "global sequence
**      number" done by copying: the file in the store is one of ours,
**      written with the store's block size and compression, with a Merkle
**      root of its own.
**   5. Install the new files with one version edit that also records S as
**      the last sequence, at the deepest level where no file of that level
**      or any above it overlaps the file's key range (level 0 when level 0
**      overlaps; level 0 always under tiered compaction). The entries are
**      the newest of their keys, so that placement keeps the LSM rule that
**      a newer version is never below an older one. S is not published
**      yet: reads at earlier sequences do not see the files.
**   6. Commit: publish S (the files become visible), end the prepared state
**      and the maintenance turn. Abort instead: a second edit removes the
**      files and puts the last sequence back to S-1.
**
** Crash safety. The rewritten files are durable before the edit names
** them (sst_build.c); a crash before the edit leaves files no version
** names, removed at the next open. Once the edit is durable the ingest is
** in the store. A caller committing through a database (the SQL layer)
** raises its horizon to S in the same transaction: if the database does
** not commit, recovery revokes everything above the horizon it kept
** (recover.c), the ingested files with it.
**
** REQUIRES (callers): prepare and commit/abort on one thread (the
** maintenance turn is a mutex); a caller sharing the store with other
** processes holds whatever serializes its writers (the SQL layer: the
** database's write lock).
*/
#include "kvInt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* One file of an ingest. */
typedef struct IngestFile IngestFile;
struct IngestFile {
  const char *zPath;            /* the source (borrowed from the caller) */
  KvSst *pSrc;                  /* the source opened (until rewritten) */
  u64 iFile;                    /* number of its copy in the store */
  u64 iOwnedSeq;                /* a table of kv_bulk (bulk.c) whose
                                ** entries are at this sequence: renamed
                                ** into place when it is S; 0: a file
                                ** from elsewhere */
  int iLevel;                   /* level it goes to */
  KvSstMeta meta;               /* the copy's metadata */
};

struct kv_ingest_job {
  int nFile;
  IngestFile *aFile;            /* sorted by smallest key */
  u64 iSeq;                     /* S: the sequence of every entry */
  u64 nEntry;                   /* entries installed */
  u64 nByte;                    /* bytes of the copies */
  int bMaint;                   /* holds the maintenance turn */
  int bPrepared;                /* holds db->bPrepared */
  int bInstalled;               /* the edit is in the manifest */
};

static int ukeyCmp(const KvBuf *a, const KvBuf *b){
  return kvUKeyCmp(a->a, a->n - KV_TRAILER, b->a, b->n - KV_TRAILER);
}

/* Step 1 for one file: verify it and open it. */
static int ingestCheck(kv_db *db, IngestFile *f, const u8 *aRoot){
  const KvSstMeta *m;
  int rc = kvSstVerify(db->pEnv, f->zPath);
  if( rc!=KV_OK ){
    const char *zWhy = kvErrMsg();
    if( strncmp(zWhy, "kvstore: ", 9)==0 ) zWhy += 9;
    return kvErr(rc, "kvstore: ingest of '%s' refused: %s", f->zPath, zWhy);
  }
  rc = kvSstOpen(db->pEnv, f->zPath, 0, 0, &f->pSrc);
  if( rc!=KV_OK ) return rc;
  m = kvSstGetMeta(f->pSrc);
  if( aRoot && memcmp(aRoot, m->aMerkle, 32)!=0 ){
    return kvErr(KV_CORRUPT, "kvstore: ingest of '%s' refused: its Merkle "
                 "root differs from the one expected", f->zPath);
  }
  if( m->nRangeDel>0 ){
    return kvErr(KV_ERROR, "kvstore: ingest of '%s' refused: it holds %"
                 PRIu64 " range tombstones (compact the source first)",
                 f->zPath, m->nRangeDel);
  }
  return KV_OK;
}

static int cmpFile(const void *a, const void *b){
  const IngestFile *fa = (const IngestFile*)a;
  const IngestFile *fb = (const IngestFile*)b;
  const KvSstMeta *ma = kvSstGetMeta(fa->pSrc);
  const KvSstMeta *mb = kvSstGetMeta(fb->pSrc);
  if( ma->nEntry==0 || mb->nEntry==0 ) return (ma->nEntry>0)-(mb->nEntry>0);
  return ukeyCmp(&ma->smallest, &mb->smallest);
}

/* Step 4 for one file: copy it to table f->iFile with every entry at
** sequence iSeq, the newest version of each key only. */
static int ingestCopy(kv_db *db, IngestFile *f, u64 iSeq){
  KvSstConfig cfg;
  KvSstBuilder *pB = 0;
  KvIter *pIt = 0;
  KvBuf key = {0, 0, 0};
  KvBuf prev = {0, 0, 0};
  int bPrev = 0;
  char *zPath = kvSstPath(db->zDir, f->iFile);
  int rc = zPath ? KV_OK : kvErrNoMem();
  kvSstConfigFromOptions(db->pOpts, &cfg);
  if( rc==KV_OK ){
    rc = kvSstBuilderNew(db->pEnv, zPath, &cfg,
                         db->pEnv->xNowMicros(db->pEnv), &pB);
  }
  if( rc==KV_OK ) rc = kvSstIterNew(f->pSrc, KV_SST_BULK, &pIt);
  if( rc==KV_OK ) rc = pIt->pMethods->xFirst(pIt);
  while( rc==KV_OK && kvIterValid(pIt) ){
    const u8 *k, *v;
    size_t nk, nv, nu;
    int eType;
    kvIterKey(pIt, &k, &nk);
    kvIterValue(pIt, &v, &nv);
    nu = nk - KV_TRAILER;
    eType = kvIKeyType(k, nk);
    if( eType!=KV_TYPE_PUT && eType!=KV_TYPE_DEL ){
      rc = kvErr(KV_CORRUPT, "kvstore: ingest of '%s' refused: an entry of "
                 "unknown type %d", f->zPath, eType);
      break;
    }
    if( nu>db->pOpts->nMaxKey || (eType==KV_TYPE_PUT
                                  && nv>db->pOpts->nMaxValue) ){
      rc = kvErr(KV_TOOBIG, "kvstore: ingest of '%s' refused: a key or value "
                 "exceeds max_key_size or max_value_size of '%s'", f->zPath,
                 db->zDir);
      break;
    }
    /* Entries of one key come newest first: keep the first. */
    if( !bPrev || kvUKeyCmp(prev.a, prev.n, k, nu)!=0 ){
      key.n = 0;
      rc = kvIKeyAppend(&key, k, nu, iSeq, eType);
      if( rc==KV_OK ) rc = kvSstBuilderAdd(pB, key.a, key.n, v, nv);
      if( rc==KV_OK ) rc = kvBufSet(&prev, k, nu);
      bPrev = 1;
    }
    if( rc==KV_OK ) rc = pIt->pMethods->xNext(pIt);
  }
  if( pIt ) pIt->pMethods->xClose(pIt);
  if( rc==KV_OK ){
    rc = kvSstBuilderFinish(pB, &f->meta);
    pB = 0;
  }
  if( pB ) kvSstBuilderAbandon(pB);
  kvBufFree(&key);
  kvBufFree(&prev);
  kvFree(zPath);
  return rc;
}

/* Does a file of level iLevel of v overlap user keys [lo, hi]? */
static int levelOverlaps(const KvVersion *v, int iLevel, const KvBuf *lo,
                         const KvBuf *hi){
  int j;
  for(j=0; j<v->anFile[iLevel]; j++){
    const KvFileMeta *g = v->aaFile[iLevel][j];
    if( ukeyCmp(&g->largest, lo)>=0 && ukeyCmp(&g->smallest, hi)<=0 ){
      return 1;
    }
  }
  return 0;
}

/* Step 5: the level of a file with key range [lo, hi] in version v. */
static int ingestLevel(kv_db *db, const KvVersion *v, const KvBuf *lo,
                       const KvBuf *hi){
  int i;
  if( db->pOpts->eCompaction==KV_COMPACT_TIERED ) return 0;
  for(i=0; i<v->nLevel; i++){
    if( levelOverlaps(v, i, lo, hi) ) return i>0 ? i-1 : 0;
  }
  return v->nLevel - 1;
}

static void ingestFree(kv_ingest_job *p){
  int i;
  if( p==0 ) return;
  for(i=0; i<p->nFile; i++){
    if( p->aFile[i].pSrc ) kvSstClose(p->aFile[i].pSrc);
    kvSstMetaFree(&p->aFile[i].meta);
  }
  kvFree(p->aFile);
  kvFree(p);
}

/* Remove the copies made so far (a failed prepare; nothing names them). */
static void ingestRemoveCopies(kv_db *db, kv_ingest_job *p){
  KvErrSave save;
  int i;
  kvErrSave(&save);
  for(i=0; i<p->nFile; i++){
    if( p->aFile[i].iFile ){
      char *z = kvSstPath(db->zDir, p->aFile[i].iFile);
      if( z ) db->pEnv->xUnlink(db->pEnv, z);
      kvFree(z);
    }
  }
  kvErrRestore(&save, 0);
}

/* Give up the prepared state and the maintenance turn (M held). */
static void ingestRelease(kv_db *db, kv_ingest_job *p, int bEdited){
  if( p->bPrepared ){
    db->bPrepared = 0;
    db->iPrepSeq = 0;
    p->bPrepared = 0;
    pthread_cond_broadcast(&db->cvWriterLock);
  }
  if( p->bMaint ){
    kvSharedMaintEnd(db, bEdited);
    p->bMaint = 0;
  }
  kvDbBgKick(db);
}

/* Steps 2 and 3: flush, then take the turn and reserve the sequence with
** the memtables empty (an engine-level writer may slip in after a flush:
** flush again, a few times). */
#define INGEST_FLUSH_TRIES 5
static int ingestReserve(kv_db *db, kv_ingest_job *p){
  int rc = KV_OK;
  int nTry;
  for(nTry=0; rc==KV_OK; nTry++){
    if( nTry==INGEST_FLUSH_TRIES ){
      rc = kvErr(KV_BUSY, "kvstore: ingest into '%s': other writes keep "
                 "filling the memtable", db->zDir);
      break;
    }
    rc = kv_flush(db);
    if( rc!=KV_OK ) break;
    kvDbLock(db);
    rc = kvDbStickyError(db);
    if( rc==KV_OK && db->bPrepared ){
      rc = kvErr(KV_BUSY, "kvstore: '%s' has a prepared transaction waiting "
                 "for its commit", db->zDir);
    }
    if( rc==KV_OK ){
      rc = kvSharedMaintBegin(db, 1);
      if( rc==KV_OK ) p->bMaint = 1;
    }
    if( rc==KV_OK && db->bPrepared ){
      /* taken while the turn was awaited */
      rc = kvErr(KV_BUSY, "kvstore: '%s' has a prepared transaction waiting "
                 "for its commit", db->zDir);
    }
    if( rc==KV_OK && kvMemCount(db->pMem)==0 && db->pImm==0 ){
      p->iSeq = atomic_load(&db->lastSeq) + 1;
      db->bPrepared = 1;
      db->iPrepSeq = p->iSeq;
      p->bPrepared = 1;
      kvDbUnlock(db);
      return KV_OK;
    }
    ingestRelease(db, p, 0);
    kvDbUnlock(db);
  }
  return rc;
}

/* Step 4 for a table of kv_bulk written at sequence S already: rename
** it to table f->iFile. */
static int ingestAdopt(kv_db *db, IngestFile *f){
  const KvSstMeta *m = kvSstGetMeta(f->pSrc);
  char *zTo = kvSstPath(db->zDir, f->iFile);
  int rc = zTo ? KV_OK : kvErrNoMem();
  f->meta = *m;
  memset(&f->meta.smallest, 0, sizeof(KvBuf));
  memset(&f->meta.largest, 0, sizeof(KvBuf));
  if( rc==KV_OK ) rc = kvBufSet(&f->meta.smallest, m->smallest.a, m->smallest.n);
  if( rc==KV_OK ) rc = kvBufSet(&f->meta.largest, m->largest.a, m->largest.n);
  kvSstClose(f->pSrc);
  f->pSrc = 0;
  if( rc==KV_OK ) rc = db->pEnv->xRename(db->pEnv, f->zPath, zTo);
  if( rc==KV_OK ) rc = db->pEnv->xSyncDir(db->pEnv, db->zDir);
  kvFree(zTo);
  return rc;
}

static int ingestPrepare(kv_db *db, kv_ingest_job *p,
                         const unsigned char *const *apRoot,
                         kv_ingest_job **ppIng);

/* A job for the nPath files azPath[] (iOwnedSeq: tables kv_bulk wrote at
** that sequence; 0: files to check), prepared by ingestPrepare. */
static int ingestStart(kv_db *db, const char *const *azPath, int nPath,
                       u64 iOwnedSeq, const unsigned char *const *apRoot,
                       kv_ingest_job **ppIng){
  kv_ingest_job *p = (kv_ingest_job*)kvMallocZero(sizeof(*p));
  int i;
  if( p ){
    p->aFile = (IngestFile*)kvMallocZero(sizeof(IngestFile)*(size_t)nPath);
  }
  if( p==0 || p->aFile==0 ){
    ingestFree(p);
    return kvErrNoMem();
  }
  p->nFile = nPath;
  for(i=0; i<nPath; i++){
    p->aFile[i].zPath = azPath[i];
    p->aFile[i].iOwnedSeq = iOwnedSeq;
  }
  return ingestPrepare(db, p, apRoot, ppIng);
}

int kv_ingest_prepare(kv_db *db, const char *const *azPath, int nPath,
                      const unsigned char *const *apRoot,
                      kv_ingest_job **ppIng){
  if( ppIng ) *ppIng = 0;
  if( db==0 || azPath==0 || nPath<=0 || ppIng==0 ){
    return kvErr(KV_MISUSE, "kvstore: kv_ingest_prepare: bad argument");
  }
  if( db->bReadOnly ) return kvDbReadOnlyErr(db);
  return ingestStart(db, azPath, nPath, 0, apRoot, ppIng);
}

int kvIngestPrepareOwned(kv_db *db, const char *const *azPath, int nPath,
                         u64 iSeq, kv_ingest_job **ppIng){
  *ppIng = 0;
  return ingestStart(db, azPath, nPath, iSeq, 0, ppIng);
}

/* kv_ingest_prepare's steps, for the files of p (freed on failure). */
static int ingestPrepare(kv_db *db, kv_ingest_job *p,
                         const unsigned char *const *apRoot,
                         kv_ingest_job **ppIng){
  KvVersionEdit edit;
  KvVersion *v = 0;
  int rc = KV_OK;
  int i;

  memset(&edit, 0, sizeof(edit));
  /* 1. Check every file (a table the store wrote itself is only opened);
  ** empty ones are dropped; the rest must not overlap each other (one
  ** sequence cannot order two versions). */
  for(i=0; rc==KV_OK && i<p->nFile; i++){
    IngestFile *f = &p->aFile[i];
    if( f->iOwnedSeq ){
      rc = kvSstOpen(db->pEnv, f->zPath, 0, 0, &f->pSrc);
    }else{
      rc = ingestCheck(db, f, apRoot ? apRoot[i] : 0);
    }
  }
  if( rc==KV_OK ){
    qsort(p->aFile, (size_t)p->nFile, sizeof(IngestFile), cmpFile);
    while( p->nFile>0 && kvSstGetMeta(p->aFile[0].pSrc)->nEntry==0 ){
      kvSstClose(p->aFile[0].pSrc);
      memmove(p->aFile, p->aFile+1, sizeof(IngestFile)*(size_t)--p->nFile);
    }
    for(i=1; rc==KV_OK && i<p->nFile; i++){
      const KvSstMeta *a = kvSstGetMeta(p->aFile[i-1].pSrc);
      const KvSstMeta *b = kvSstGetMeta(p->aFile[i].pSrc);
      if( ukeyCmp(&a->largest, &b->smallest)>=0 ){
        rc = kvErr(KV_ERROR, "kvstore: ingest refused: the key ranges of '%s' "
                   "and '%s' overlap (ingest them one at a time)",
                   p->aFile[i-1].zPath, p->aFile[i].zPath);
      }
    }
  }

  /* 2, 3. */
  if( rc==KV_OK ) rc = ingestReserve(db, p);

  /* 4. The copies, without the mutex (the turn and the reservation keep
  ** everything else out of the way). */
  for(i=0; rc==KV_OK && i<p->nFile; i++){
    kvDbLock(db);
    p->aFile[i].iFile = kvVsetNewFileNumber(&db->vset);
    kvDbUnlock(db);
    if( p->aFile[i].iOwnedSeq==p->iSeq ){
      rc = ingestAdopt(db, &p->aFile[i]);
    }else{
      rc = ingestCopy(db, &p->aFile[i], p->iSeq);
    }
    if( rc==KV_OK ){
      p->nEntry += p->aFile[i].meta.nEntry;
      p->nByte += p->aFile[i].meta.nFileSize;
      kvSstClose(p->aFile[i].pSrc);
      p->aFile[i].pSrc = 0;
    }
  }

  /* 5. One edit (a store with nothing to ingest still records S, so that
  ** the caller's horizon and the store agree). */
  kvDbLock(db);
  if( rc==KV_OK ){
    v = kvVersionCurrent(&db->vset);
    for(i=0; rc==KV_OK && i<p->nFile; i++){
      IngestFile *f = &p->aFile[i];
      f->iLevel = ingestLevel(db, v, &f->meta.smallest, &f->meta.largest);
      rc = kvEditAddFile(&edit, f->iLevel, &f->meta, f->iFile);
    }
    kvVersionUnref(v);
  }
  if( rc==KV_OK ){
    edit.bLastSeq = 1;
    edit.iLastSeq = p->iSeq;
    rc = kvVsetApply(&db->vset, &edit);
    if( rc==KV_OK ) p->bInstalled = 1;
  }
  if( rc!=KV_OK ){
    KvErrSave save;
    kvErrSave(&save);
    ingestRemoveCopies(db, p);
    ingestRelease(db, p, 0);
    kvDbUnlock(db);
    kvErrRestore(&save, rc);
    kvEditClear(&edit);
    ingestFree(p);
    return rc;
  }
  kvDbUnlock(db);
  kvEditClear(&edit);
  *ppIng = p;
  return KV_OK;
}

int kv_ingest_check(kv_db *db, const char *zPath, const unsigned char *aRoot,
                    uint64_t *pnEntry, uint64_t *pnByte){
  IngestFile f;
  int rc;
  if( db==0 || zPath==0 ){
    return kvErr(KV_MISUSE, "kvstore: kv_ingest_check: NULL argument");
  }
  memset(&f, 0, sizeof(f));
  f.zPath = zPath;
  rc = ingestCheck(db, &f, aRoot);
  if( rc==KV_OK ){
    const KvSstMeta *m = kvSstGetMeta(f.pSrc);
    if( pnEntry ) *pnEntry = m->nEntry;
    if( pnByte ) *pnByte = m->nFileSize;
  }
  if( f.pSrc ) kvSstClose(f.pSrc);
  return rc;
}

uint64_t kv_ingest_seq(const kv_ingest_job *p){
  return p ? p->iSeq : 0;
}

uint64_t kv_ingest_entries(const kv_ingest_job *p){
  return p ? p->nEntry : 0;
}

int kv_ingest_commit(kv_db *db, kv_ingest_job *p){
  if( db==0 || p==0 ){
    return kvErr(KV_MISUSE, "kvstore: kv_ingest_commit: NULL argument");
  }
  kvDbLock(db);
  if( p->bInstalled && p->iSeq>atomic_load(&db->lastSeq) ){
    atomic_store(&db->lastSeq, p->iSeq);
  }
  atomic_fetch_add(&db->nWrites, 1);
  atomic_fetch_add(&db->nUserBytes, p->nByte);
  ingestRelease(db, p, p->bInstalled);
  kvSharedPublish(db);
  /* Level 0 may be due for compaction now. */
  if( !db->bBgThread ) kvDbCompactInline(db);
  kvDbUnlock(db);
  ingestFree(p);
  return KV_OK;
}

int kv_ingest_abort(kv_db *db, kv_ingest_job *p){
  KvVersionEdit edit;
  int rc = KV_OK;
  int i;
  if( db==0 || p==0 ) return KV_OK;
  memset(&edit, 0, sizeof(edit));
  kvDbLock(db);
  if( p->bInstalled ){
    /* Nothing merged the files meanwhile: the turn kept compactions out. */
    for(i=0; rc==KV_OK && i<p->nFile; i++){
      rc = kvEditDelFile(&edit, p->aFile[i].iLevel, p->aFile[i].iFile);
    }
    if( rc==KV_OK ){
      edit.bLastSeq = 1;
      edit.iLastSeq = p->iSeq - 1;
      rc = kvVsetApply(&db->vset, &edit);
    }
    if( rc!=KV_OK && db->rcWal==KV_OK ){
      /* The files stay in the version with S above the last sequence: no
      ** write may take S now. Reopening revokes them (the caller's
      ** horizon is below S) or keeps them (no horizon). */
      db->rcWal = KV_READONLY;
      kvFree(db->zWalErr);
      db->zWalErr = kvMprintf("kvstore: '%s' is read-only until reopened: "
                              "an ingest could not be taken back (%s)",
                              db->zDir, kvErrMsg());
    }
  }
  ingestRelease(db, p, p->bInstalled);
  kvDbUnlock(db);
  kvEditClear(&edit);
  ingestFree(p);
  return rc;
}

int kv_ingest(kv_db *db, const char *const *azPath, int nPath,
              char **pzJson){
  kv_ingest_job *p = 0;
  u64 nEntry, nByte, iSeq;
  int nFile;
  int rc;
  if( pzJson ) *pzJson = 0;
  rc = kv_ingest_prepare(db, azPath, nPath, 0, &p);
  if( rc!=KV_OK ) return rc;
  nEntry = p->nEntry;
  nByte = p->nByte;
  iSeq = p->iSeq;
  nFile = p->nFile;
  rc = kv_ingest_commit(db, p);
  if( rc==KV_OK && pzJson ){
    *pzJson = kvMprintf("{\"files\":%d,\"entries\":%" PRIu64 ",\"bytes\":%"
                        PRIu64 ",\"seq\":%" PRIu64 "}", nFile, nEntry, nByte,
                        iSeq);
    if( *pzJson==0 ) rc = kvErrNoMem();
  }
  return rc;
}
