/*
** version.c - the manifest, versions and the files they reference.
**
** A version is the set of live SSTables, per level. Every change (a flush,
** a compaction, recovery) is a version edit: it is appended to the live
** manifest and fsynced before the new version is installed, so the
** manifest always describes a state whose files are all on disk.
**
** Files on disk:
**
**   CURRENT          "MANIFEST-<n>\n": the live manifest. Replaced
**                    atomically (temp file, fsync, rename, fsync dir).
**   MANIFEST-<n>     log.c records, each one encoded version edit. The
**                    first record of a manifest is a snapshot (every live
**                    file plus the counters), so older manifests can go.
**
** Version edit encoding: a sequence of tagged fields, each a varint tag
** then its fields:
**
**   1 log number     varint  first WAL segment whose data is not in an SST
**   2 next file      varint  next unused file number
**   3 last sequence  varint
**   4 add file       varint level, file number, size, entries, tombstones,
**                    min seq, max seq; varint length + smallest internal
**                    key; varint length + largest internal key; 32 bytes
**                    Merkle root
**   5 delete file    varint level, file number
**
** Unknown tags make the edit corrupt (there is one format version, saved
** in the store's identity file).
**
** Reference counts: a KvVersion starts at 1 (held by whoever made it; the
** set's pCurrent holds one). A KvFileMeta starts at 1 for the edit that
** adds it; each version holding it adds one. When an edit deletes a file
** it is marked obsolete and unlinked when its last reference goes, so a
** file is never deleted while a version (and so an iterator) still uses
** it. All reference counts are atomic; pCurrent is read and replaced
** under the set's mutex.
*/
#include "kvInt.h"
#include "filename.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define TAG_LOG_NUMBER 1
#define TAG_NEXT_FILE  2
#define TAG_LAST_SEQ   3
#define TAG_ADD_FILE   4
#define TAG_DEL_FILE   5
#define TAG_FLUSHED    7   /* varint 1: the last sequence is the flushed
                           ** one: every entry at or below it is in a
                           ** table (manifests of a shared store) */
#define TAG_RANGEDEL   6   /* varint count: range tombstones of the file
                           ** added by the TAG_ADD_FILE just before */
#define TAG_DROP_FLOOR 8   /* varint: KvVersionSet.iDropFloor (the last
                           ** record holding it wins; absent: 0) */

/* Start a fresh manifest when the live one holds this many edits, so
** recovery stays quick. */
#define MANIFEST_MAX_EDITS 10000

char *kvSstPath(const char *zDir, u64 iFile){
  return kvFileName(zDir, KV_FILE_SST, iFile);
}

/* ---------------------------------------------------------------------- */
/* File metadata.                                                          */

void kvFileRef(KvFileMeta *f){
  atomic_fetch_add(&f->nRef, 1);
}

static void filePinClose(KvFileMeta *f){
  if( f->pPin ){
    KvErrSave save;
    kvErrSave(&save);
    f->pSet->pEnv->xClose(f->pPin);   /* read-only: nothing to report */
    kvErrRestore(&save, 0);
    f->pPin = 0;
  }
}

static void fileFree(KvFileMeta *f){
  filePinClose(f);
  kvSstClose(atomic_load_explicit(&f->pSst, memory_order_relaxed));
  kvBufFree(&f->smallest);
  kvBufFree(&f->largest);
  kvFree(f->zOpenErr);
  kvFree(f);
}

void kvFileUnref(KvFileMeta *f){
  if( f==0 ) return;
  if( atomic_fetch_sub(&f->nRef, 1)==1 ){
    if( f->bObsolete && f->pSet ){
      /* Close before unlinking, and ignore a failure to unlink: the file
      ** is no longer in the manifest, and the next open removes it. */
      char *zPath = kvSstPath(f->pSet->zDir, f->iFile);
      filePinClose(f);
      kvSstClose(atomic_load_explicit(&f->pSst, memory_order_relaxed));
      atomic_store_explicit(&f->pSst, 0, memory_order_relaxed);
      if( zPath ){
        KvErrSave save;
        kvErrSave(&save);
        f->pSet->pEnv->xUnlink(f->pSet->pEnv, zPath);
        kvErrRestore(&save, 0);
      }
      kvFree(zPath);
    }
    fileFree(f);
  }
}

static KvFileMeta *fileNew(KvVersionSet *pSet){
  KvFileMeta *f = kvMallocZero(sizeof(*f));
  if( f ){
    atomic_init(&f->nRef, 1);
    f->pSet = pSet;
  }
  return f;
}

int kvFileTable(KvFileMeta *f, KvSst **ppSst){
  KvVersionSet *pSet = f->pSet;
  pthread_mutex_t *pMutex = (pthread_mutex_t*)pSet->pMutex;
  KvSst *pSst;
  KvFile *pPin = 0;
  char *zPath = 0;
  int rc = KV_OK;
  /* Opened already (the usual case): no lock. A table is opened once and
  ** stays open while the file is referenced, so a non-NULL pointer is
  ** good for as long as the caller holds its reference on f. */
  pSst = atomic_load_explicit(&f->pSst, memory_order_acquire);
  if( pSst ){
    *ppSst = pSst;
    return KV_OK;
  }
  zPath = kvSstPath(pSet->zDir, f->iFile);
  if( zPath==0 ) return kvErrNoMem();
  /* One thread opens a table, without the version set's mutex, which
  ** every reader takes for a moment (kvVersionCurrent): a thread opening
  ** hundreds of tables would otherwise hold each reader up for every
  ** open. Another thread wanting the same table waits for that open. */
  pthread_mutex_lock(pMutex);
  while( f->bOpening ){
    pthread_mutex_unlock(pMutex);
    pSet->pEnv->xSleepMicros(pSet->pEnv, 50);
    pthread_mutex_lock(pMutex);
  }
  pSst = atomic_load_explicit(&f->pSst, memory_order_relaxed);
  if( pSst==0 && f->rcOpen ){
    rc = kvErr(f->rcOpen, "%s", f->zOpenErr ? f->zOpenErr : "kvstore: table unreadable");
  }else if( pSst==0 ){
    /* the file held open by kvFilePin, which the table takes over */
    f->bOpening = 1;
    pPin = f->pPin;
    f->pPin = 0;
  }
  pthread_mutex_unlock(pMutex);
  if( pSst || rc!=KV_OK ){
    kvFree(zPath);
    *ppSst = pSst;
    return rc;
  }
  if( pPin ){
    /* the table's now, closed with it (or at once on failure) */
    rc = kvSstOpenFile(pSet->pEnv, zPath, pPin, pSet->pCache,
                       pSet->pCounters, &pSst);
  }else{
    rc = kvSstOpen(pSet->pEnv, zPath, pSet->pCache, pSet->pCounters, &pSst);
  }
  kvFree(zPath);
  if( rc==KV_OK ) kvSstSetVerify(pSst, pSet->bVerify);
  pthread_mutex_lock(pMutex);
  f->bOpening = 0;
  if( rc==KV_OK ){
    atomic_store_explicit(&f->pSst, pSst, memory_order_release);
  }else{
    /* Corruption is permanent for an immutable file: remember it so
    ** every later read fails the same way without re-reading. I/O errors
    ** and OOM may pass: retried (by path: a failed open gave up the pin). */
    if( rc==KV_CORRUPT ){
      f->rcOpen = rc;
      f->zOpenErr = kvStrdup(kvErrMsg());
    }
  }
  *ppSst = pSst;
  pthread_mutex_unlock(pMutex);
  return rc;
}

int kvFilePin(KvFileMeta *f){
  KvVersionSet *pSet = f->pSet;
  pthread_mutex_t *pMutex = (pthread_mutex_t*)pSet->pMutex;
  KvFile *pFile = 0;
  char *zPath;
  int rc;
  if( atomic_load_explicit(&f->pSst, memory_order_acquire) ) return KV_OK;
  pthread_mutex_lock(pMutex);
  rc = f->pPin!=0 || atomic_load_explicit(&f->pSst, memory_order_relaxed);
  pthread_mutex_unlock(pMutex);
  if( rc ) return KV_OK;
  zPath = kvSstPath(pSet->zDir, f->iFile);
  if( zPath==0 ) return kvErrNoMem();
  rc = pSet->pEnv->xOpen(pSet->pEnv, zPath, KV_OPEN_READ|KV_OPEN_IMMUTABLE,
                         &pFile);
  kvFree(zPath);
  if( rc!=KV_OK ) return rc;
  pthread_mutex_lock(pMutex);
  if( f->pPin==0 && atomic_load_explicit(&f->pSst, memory_order_relaxed)==0 ){
    f->pPin = pFile;
    pFile = 0;
  }
  pthread_mutex_unlock(pMutex);
  if( pFile ) pSet->pEnv->xClose(pFile);      /* another thread's won */
  return KV_OK;
}

/* ---------------------------------------------------------------------- */
/* Version edits.                                                          */

int kvEditAddFile(KvVersionEdit *p, int iLevel, const KvSstMeta *pSrc,
                  u64 iFile){
  KvFileMeta *f;
  void *aNew = kvRealloc(p->aAdd, sizeof(p->aAdd[0])*(size_t)(p->nAdd+1));
  if( aNew==0 ) return kvErrNoMem();
  p->aAdd = aNew;
  f = fileNew(0);
  if( f==0 ) return kvErrNoMem();
  f->iFile = iFile;
  f->nByte = pSrc->nFileSize;
  f->nEntry = pSrc->nEntry;
  f->nTombstone = pSrc->nTombstone;
  f->minSeq = pSrc->minSeq;
  f->maxSeq = pSrc->maxSeq;
  f->nRangeDel = pSrc->nRangeDel;
  f->nDelWindowMax = pSrc->nDelWindowMax;
  memcpy(f->aMerkle, pSrc->aMerkle, 32);
  if( kvBufSet(&f->smallest, pSrc->smallest.a, pSrc->smallest.n)
   || kvBufSet(&f->largest, pSrc->largest.a, pSrc->largest.n) ){
    fileFree(f);
    return KV_NOMEM;
  }
  p->aAdd[p->nAdd].iLevel = iLevel;
  p->aAdd[p->nAdd].pMeta = f;
  p->nAdd++;
  return KV_OK;
}

int kvEditDelFile(KvVersionEdit *p, int iLevel, u64 iFile){
  void *aNew = kvRealloc(p->aDel, sizeof(p->aDel[0])*(size_t)(p->nDel+1));
  if( aNew==0 ) return kvErrNoMem();
  p->aDel = aNew;
  p->aDel[p->nDel].iLevel = iLevel;
  p->aDel[p->nDel].iFile = iFile;
  p->nDel++;
  return KV_OK;
}

void kvEditClear(KvVersionEdit *p){
  int i;
  for(i=0; i<p->nAdd; i++) kvFileUnref(p->aAdd[i].pMeta);
  kvFree(p->aAdd);
  kvFree(p->aDel);
  memset(p, 0, sizeof(*p));
}

static int appendKey(KvBuf *pOut, const KvBuf *pKey){
  int rc = kvBufAppendVarint(pOut, pKey->n);
  if( rc==KV_OK ) rc = kvBufAppend(pOut, pKey->a, pKey->n);
  return rc;
}

int kvEditEncode(const KvVersionEdit *p, KvBuf *pOut){
  int rc = KV_OK;
  int i;
  if( p->bLogNumber ){
    if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, TAG_LOG_NUMBER);
    if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, p->iLogNumber);
  }
  if( p->bNextFile ){
    if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, TAG_NEXT_FILE);
    if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, p->iNextFile);
  }
  if( p->bLastSeq ){
    if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, TAG_LAST_SEQ);
    if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, p->iLastSeq);
  }
  if( p->bFlushed ){
    if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, TAG_FLUSHED);
    if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, 1);
  }
  if( p->bDropFloor ){
    if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, TAG_DROP_FLOOR);
    if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, p->iDropFloor);
  }
  for(i=0; rc==KV_OK && i<p->nDel; i++){
    rc = kvBufAppendVarint(pOut, TAG_DEL_FILE);
    if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, (u64)p->aDel[i].iLevel);
    if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, p->aDel[i].iFile);
  }
  for(i=0; rc==KV_OK && i<p->nAdd; i++){
    const KvFileMeta *f = p->aAdd[i].pMeta;
    u64 aField[7];
    int j;
    aField[0] = (u64)p->aAdd[i].iLevel;
    aField[1] = f->iFile;
    aField[2] = f->nByte;
    aField[3] = f->nEntry;
    aField[4] = f->nTombstone;
    aField[5] = f->minSeq;
    aField[6] = f->maxSeq;
    rc = kvBufAppendVarint(pOut, TAG_ADD_FILE);
    for(j=0; rc==KV_OK && j<7; j++) rc = kvBufAppendVarint(pOut, aField[j]);
    if( rc==KV_OK ) rc = appendKey(pOut, &f->smallest);
    if( rc==KV_OK ) rc = appendKey(pOut, &f->largest);
    if( rc==KV_OK ) rc = kvBufAppend(pOut, f->aMerkle, 32);
    if( rc==KV_OK && f->nRangeDel>0 ){
      rc = kvBufAppendVarint(pOut, TAG_RANGEDEL);
      if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, f->nRangeDel);
    }
  }
  return rc;
}

/* Decoding cursor over an edit record. */
typedef struct EditReader EditReader;
struct EditReader {
  const u8 *p;
  const u8 *pEnd;
  int bBad;                     /* malformed input seen */
};

static u64 readVarint(EditReader *r){
  u64 v = 0;
  int n;
  if( r->bBad ) return 0;
  n = kvGetVarint(r->p, r->pEnd, &v);
  if( n==0 ){ r->bBad = 1; return 0; }
  r->p += n;
  return v;
}

static int readBytes(EditReader *r, KvBuf *pOut, u64 n){
  if( r->bBad ) return KV_OK;
  if( n>(u64)(r->pEnd - r->p) ){ r->bBad = 1; return KV_OK; }
  if( kvBufSet(pOut, r->p, (size_t)n) ) return KV_NOMEM;
  r->p += n;
  return KV_OK;
}

int kvEditDecode(const u8 *a, size_t n, KvVersionEdit *p){
  EditReader r;
  int rc = KV_OK;
  r.p = a;
  r.pEnd = a + n;
  r.bBad = 0;
  memset(p, 0, sizeof(*p));
  while( rc==KV_OK && !r.bBad && r.p<r.pEnd ){
    u64 tag = readVarint(&r);
    switch( tag ){
      case TAG_LOG_NUMBER:
        p->bLogNumber = 1;
        p->iLogNumber = readVarint(&r);
        break;
      case TAG_NEXT_FILE:
        p->bNextFile = 1;
        p->iNextFile = readVarint(&r);
        break;
      case TAG_LAST_SEQ:
        p->bLastSeq = 1;
        p->iLastSeq = readVarint(&r);
        break;
      case TAG_DROP_FLOOR:
        p->iDropFloor = readVarint(&r);
        p->bDropFloor = 1;
        break;
      case TAG_FLUSHED:
        p->bFlushed = readVarint(&r)!=0;
        break;
      case TAG_DEL_FILE: {
        u64 iLevel = readVarint(&r);
        u64 iFile = readVarint(&r);
        if( r.bBad || iLevel>=KV_MAX_LEVELS ){ r.bBad = 1; break; }
        rc = kvEditDelFile(p, (int)iLevel, iFile);
        break;
      }
      case TAG_RANGEDEL: {
        u64 n = readVarint(&r);
        if( r.bBad || p->nAdd==0 ){ r.bBad = 1; break; }
        p->aAdd[p->nAdd-1].pMeta->nRangeDel = n;
        break;
      }
      case TAG_ADD_FILE: {
        KvFileMeta *f;
        u64 iLevel = readVarint(&r);
        void *aNew;
        if( r.bBad || iLevel>=KV_MAX_LEVELS ){ r.bBad = 1; break; }
        aNew = kvRealloc(p->aAdd, sizeof(p->aAdd[0])*(size_t)(p->nAdd+1));
        f = aNew ? fileNew(0) : 0;
        if( aNew ) p->aAdd = aNew;
        if( f==0 ){ rc = kvErrNoMem(); break; }
        p->aAdd[p->nAdd].iLevel = (int)iLevel;
        p->aAdd[p->nAdd].pMeta = f;
        p->nAdd++;
        f->iFile = readVarint(&r);
        f->nByte = readVarint(&r);
        f->nEntry = readVarint(&r);
        f->nTombstone = readVarint(&r);
        f->minSeq = readVarint(&r);
        f->maxSeq = readVarint(&r);
        rc = readBytes(&r, &f->smallest, readVarint(&r));
        if( rc==KV_OK ) rc = readBytes(&r, &f->largest, readVarint(&r));
        if( rc==KV_OK && !r.bBad ){
          if( r.pEnd - r.p < 32 ){
            r.bBad = 1;
          }else{
            memcpy(f->aMerkle, r.p, 32);
            r.p += 32;
          }
        }
        if( f->smallest.n<KV_TRAILER || f->largest.n<KV_TRAILER ) r.bBad = 1;
        break;
      }
      default:
        r.bBad = 1;
        break;
    }
  }
  if( rc==KV_OK && r.bBad ) rc = KV_CORRUPT;
  if( rc!=KV_OK ) kvEditClear(p);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Versions.                                                               */

void kvVersionRef(KvVersion *v){
  atomic_fetch_add(&v->nRef, 1);
}

static void versionFree(KvVersion *v){
  int i, j;
  for(i=0; i<KV_MAX_LEVELS; i++){
    for(j=0; j<v->anFile[i]; j++) kvFileUnref(v->aaFile[i][j]);
    kvFree(v->aaFile[i]);
  }
  kvFree(v);
}

void kvVersionUnref(KvVersion *v){
  if( v && atomic_fetch_sub(&v->nRef, 1)==1 ) versionFree(v);
}

KvVersion *kvVersionCurrentHeld(KvVersionSet *p){
  KvVersion *v = p->pCurrent;
  kvVersionRef(v);
  return v;
}

KvVersion *kvVersionCurrent(KvVersionSet *p){
  KvVersion *v;
  pthread_mutex_lock((pthread_mutex_t*)p->pMutex);
  v = p->pCurrent;
  kvVersionRef(v);
  pthread_mutex_unlock((pthread_mutex_t*)p->pMutex);
  return v;
}

static KvVersion *versionNew(KvVersionSet *pSet){
  KvVersion *v = kvMallocZero(sizeof(*v));
  if( v ){
    atomic_init(&v->nRef, 1);
    v->pSet = pSet;
    v->nLevel = pSet->nLevel;
  }
  return v;
}

/* Order of files within a level. Level 0 files may overlap: newest data
** first (largest max sequence). Other levels: by smallest key. */
static int cmpL0(const void *a, const void *b){
  const KvFileMeta *fa = *(KvFileMeta*const*)a;
  const KvFileMeta *fb = *(KvFileMeta*const*)b;
  if( fa->maxSeq!=fb->maxSeq ) return fa->maxSeq > fb->maxSeq ? -1 : 1;
  if( fa->iFile!=fb->iFile ) return fa->iFile > fb->iFile ? -1 : 1;
  return 0;
}
static int cmpLn(const void *a, const void *b){
  const KvFileMeta *fa = *(KvFileMeta*const*)a;
  const KvFileMeta *fb = *(KvFileMeta*const*)b;
  int c = kvIKeyCmp(fa->smallest.a, fa->smallest.n,
                    fb->smallest.a, fb->smallest.n);
  if( c ) return c;
  return fa->iFile < fb->iFile ? -1 : (fa->iFile > fb->iFile);
}

static int levelAppend(KvVersion *v, int iLevel, KvFileMeta *f){
  KvFileMeta **aNew = kvRealloc(v->aaFile[iLevel],
                           sizeof(KvFileMeta*)*(size_t)(v->anFile[iLevel]+1));
  if( aNew==0 ) return kvErrNoMem();
  v->aaFile[iLevel] = aNew;
  aNew[v->anFile[iLevel]++] = f;
  kvFileRef(f);
  return KV_OK;
}

/* 1 if the edit adds file iFile (a move to another level re-adds it). */
static int editAdds(const KvVersionEdit *e, u64 iFile){
  int i;
  for(i=0; i<e->nAdd; i++){
    if( e->aAdd[i].pMeta->iFile==iFile ) return 1;
  }
  return 0;
}

static int editDeletes(const KvVersionEdit *e, int iLevel, u64 iFile){
  int i;
  for(i=0; i<e->nDel; i++){
    if( e->aDel[i].iLevel==iLevel && e->aDel[i].iFile==iFile ) return 1;
  }
  return 0;
}

/* Build the version base + edit into *ppOut. */
static int versionApply(KvVersionSet *pSet, KvVersion *pBase,
                        const KvVersionEdit *e, KvVersion **ppOut){
  KvVersion *v = versionNew(pSet);
  int rc = KV_OK;
  int i, j;
  *ppOut = 0;
  if( v==0 ) return kvErrNoMem();
  for(i=0; rc==KV_OK && i<KV_MAX_LEVELS; i++){
    for(j=0; pBase && rc==KV_OK && j<pBase->anFile[i]; j++){
      KvFileMeta *f = pBase->aaFile[i][j];
      if( !editDeletes(e, i, f->iFile) ) rc = levelAppend(v, i, f);
    }
  }
  for(i=0; rc==KV_OK && i<e->nAdd; i++){
    KvFileMeta *f = e->aAdd[i].pMeta;
    f->pSet = pSet;
    rc = levelAppend(v, e->aAdd[i].iLevel, f);
  }
  if( rc==KV_OK ){
    for(i=0; i<KV_MAX_LEVELS; i++){
      if( v->anFile[i]>1 ){
        qsort(v->aaFile[i], (size_t)v->anFile[i], sizeof(KvFileMeta*),
              i==0 ? cmpL0 : cmpLn);
      }
    }
    *ppOut = v;
  }else{
    versionFree(v);
  }
  return rc;
}

/* ---------------------------------------------------------------------- */
/* The version set.                                                        */

u64 kvVsetNewFileNumber(KvVersionSet *p){
  return p->iNextFile++;
}

/* An edit describing the whole of version v (NULL: no files) and the
** counters given, encoded into *pOut: the first record of a manifest. */
int kvVersionSnapshotEdit(KvVersion *v, u64 iLogNumber, u64 iNextFile,
                          u64 iLastSeq, u64 iDropFloor, KvBuf *pOut){
  KvVersionEdit e;
  int rc = KV_OK;
  int i, j;
  memset(&e, 0, sizeof(e));
  e.bLogNumber = 1; e.iLogNumber = iLogNumber;
  e.bNextFile = 1;  e.iNextFile = iNextFile;
  e.bLastSeq = 1;   e.iLastSeq = iLastSeq;
  e.bDropFloor = iDropFloor>0;  e.iDropFloor = iDropFloor;
  for(i=0; v && rc==KV_OK && i<KV_MAX_LEVELS; i++){
    for(j=0; rc==KV_OK && j<v->anFile[i]; j++){
      void *aNew = kvRealloc(e.aAdd, sizeof(e.aAdd[0])*(size_t)(e.nAdd+1));
      if( aNew==0 ){ rc = kvErrNoMem(); break; }
      e.aAdd = aNew;
      e.aAdd[e.nAdd].iLevel = i;
      e.aAdd[e.nAdd].pMeta = v->aaFile[i][j];
      kvFileRef(v->aaFile[i][j]);
      e.nAdd++;
    }
  }
  if( rc==KV_OK ) rc = kvEditEncode(&e, pOut);
  kvEditClear(&e);
  return rc;
}

/* Start manifest number iNum holding a snapshot of pCurrent, then point
** CURRENT at it. On success the previous manifest writer is closed and its
** file removed. */
static int writeManifest(KvVersionSet *p, u64 iNum, KvVersion *v,
                         u64 iLogNumber, u64 iLastSeq, u64 iDropFloor);
static int newManifest(KvVersionSet *p, u64 iNum){
  return writeManifest(p, iNum, p->pCurrent, p->iLogNumber, p->iLastSeq,
                       p->iDropFloor);
}

/* Manifest number iNum holding a snapshot of v and the counters given. */
static int writeManifest(KvVersionSet *p, u64 iNum, KvVersion *v,
                         u64 iLogNumber, u64 iLastSeq, u64 iDropFloor){
  char *zName = kvFileName(0, KV_FILE_MANIFEST, iNum);
  char *zPath = kvFileName(p->zDir, KV_FILE_MANIFEST, iNum);
  char *zCurrent = zName ? kvMprintf("%s\n", zName) : 0;
  KvLogWriter *pW = 0;
  KvBuf snap = {0, 0, 0};
  int rc = KV_OK;
  if( zPath==0 || zCurrent==0 ) rc = kvErrNoMem();
  if( rc==KV_OK ){
    rc = kvVersionSnapshotEdit(v, iLogNumber, p->iNextFile, iLastSeq,
                               iDropFloor, &snap);
    if( rc==KV_OK && p->bShared ){
      /* flushes of a shared store record the flushed sequence (shared.c) */
      rc = kvBufAppendVarint(&snap, TAG_FLUSHED);
      if( rc==KV_OK ) rc = kvBufAppendVarint(&snap, 1);
    }
  }
  if( rc==KV_OK ) rc = kvLogWriterOpen(p->pEnv, zPath, &pW);
  if( rc==KV_OK ) rc = kvLogAppend(pW, snap.a, snap.n);
  if( rc==KV_OK ) rc = kvLogSync(pW);
  if( rc==KV_OK ) rc = p->pEnv->xSyncDir(p->pEnv, p->zDir);
  if( rc==KV_OK ){
    rc = kvEnvWriteAtomic(p->pEnv, p->zDir, KV_NAME_CURRENT, zCurrent,
                          strlen(zCurrent));
    if( rc!=KV_OK ){
      /* CURRENT may name either manifest now (the rename may have happened
      ** before the failure): keep both, and stop writing manifests, so the
      ** next open follows whichever CURRENT is on disk and finds it whole.
      ** Version edits fail with KV_READONLY until then. */
      KvErrSave save;
      kvErrSave(&save);
      kvLogWriterClose(pW);
      pW = 0;
      if( p->pManifest ) kvLogWriterClose(p->pManifest);
      p->pManifest = 0;
      kvErrRestore(&save, rc);
    }
  }
  if( rc==KV_OK ){
    u64 iOld = p->iManifest;
    int bOld = p->pManifest!=0 || iOld!=0;
    if( p->pManifest ) kvLogWriterClose(p->pManifest);
    p->pManifest = pW;
    p->iManifest = iNum;
    p->nManifestEdit = 1;
    pW = 0;
    if( p->bShared ){
      /* Shared: every edit writes a manifest of its own (kvVsetApply). */
      rc = kvLogWriterClose(p->pManifest);
      p->pManifest = 0;
    }
    if( bOld && iOld!=iNum ){
      char *zOld = kvFileName(p->zDir, KV_FILE_MANIFEST, iOld);
      if( zOld ) p->pEnv->xUnlink(p->pEnv, zOld);
      kvFree(zOld);
    }
  }else if( pW ){
    /* Failed before CURRENT was touched: the new manifest is unused. */
    KvErrSave save;
    kvErrSave(&save);
    kvLogWriterClose(pW);
    p->pEnv->xUnlink(p->pEnv, zPath);
    kvErrRestore(&save, rc);
  }
  kvBufFree(&snap);
  kvFree(zName);
  kvFree(zPath);
  kvFree(zCurrent);
  return rc;
}

static int vsetInit(KvVersionSet *p){
  if( p->pCurrent==0 ){
    p->pCurrent = versionNew(p);
    if( p->pCurrent==0 ) return kvErrNoMem();
  }
  return KV_OK;
}

int kvVsetCreate(KvVersionSet *p){
  int rc = vsetInit(p);
  p->iLogNumber = 1;
  p->iLastSeq = 0;
  p->iDropFloor = 0;
  if( p->iNextFile<2 ) p->iNextFile = 2;
  if( rc==KV_OK ) rc = newManifest(p, kvVsetNewFileNumber(p));
  return rc;
}

/* After reading manifest zPath, check that the files it relies on are
** there. A manifest whose last edit was damaged reads like one with a torn
** tail, but a torn tail only ever loses an edit that was never synced,
** after which nothing was deleted. So a missing table, or a missing first
** WAL segment to replay while later ones exist, means edits were lost:
** fail rather than open without the data they held (and before the
** manifest is rewritten, so the damaged one stays for inspection). */
static int checkManifestFiles(KvVersionSet *p, const char *zPath){
  KvVersion *v = p->pCurrent;
  u64 *aSeg = 0;
  int nSeg = 0, i, j;
  int rc = KV_OK;
  for(i=0; rc==KV_OK && i<KV_MAX_LEVELS; i++){
    for(j=0; rc==KV_OK && j<v->anFile[i]; j++){
      char *zSst = kvSstPath(p->zDir, v->aaFile[i][j]->iFile);
      if( zSst==0 ){
        rc = kvErrNoMem();
      }else if( !p->pEnv->xExists(p->pEnv, zSst) ){
        rc = kvErr(KV_CORRUPT, "kvstore: corrupt manifest '%s': the table "
                   "'%s' it lists is missing", zPath, zSst);
      }
      kvFree(zSst);
    }
  }
  if( rc==KV_OK ) rc = kvWalList(p->pEnv, p->zDir, &aSeg, &nSeg);
  if( rc==KV_OK && nSeg>0 && aSeg[nSeg-1]>p->iLogNumber ){
    int bFirst = 0;
    for(i=0; i<nSeg; i++){
      if( aSeg[i]==p->iLogNumber ) bFirst = 1;
    }
    if( !bFirst ){
      rc = kvErr(KV_CORRUPT, "kvstore: corrupt manifest '%s': it lost edits "
                 "(WAL segment %" PRIu64 " it names is gone, later ones "
                 "exist)", zPath, p->iLogNumber);
    }
  }
  kvFree(aSeg);
  return rc;
}

/* The number of the manifest CURRENT names. */
static int readCurrent(KvVersionSet *p, u64 *piManifest){
  KvBuf cur = {0, 0, 0};
  char *zCurPath = kvFileName(p->zDir, KV_FILE_CURRENT, 0);
  int rc = zCurPath ? KV_OK : kvErrNoMem();
  *piManifest = 0;
  if( rc==KV_OK ) rc = kvEnvReadAll(p->pEnv, zCurPath, &cur);
  if( rc==KV_OK ){
    /* "MANIFEST-<digits>\n" (at most 20 digits) and nothing else. */
    char zName[32];
    int eType = KV_FILE_NONE;
    if( cur.n>10 && cur.n<=30 && cur.a[cur.n-1]=='\n' ){
      memcpy(zName, cur.a, cur.n-1);
      zName[cur.n-1] = 0;
      if( strlen(zName)==cur.n-1 ){
        kvParseFileName(zName, &eType, piManifest);
      }
    }
    if( eType!=KV_FILE_MANIFEST ){
      rc = kvErr(KV_CORRUPT, "kvstore: corrupt CURRENT file '%s'", zCurPath);
    }
  }
  kvBufFree(&cur);
  kvFree(zCurPath);
  return rc;
}

/* Read manifest zPath into a new version *ppV (built from nothing) and
** its counters. */
static int readManifest(KvVersionSet *p, const char *zPath, KvVersion **ppV,
                        u64 *piLog, u64 *piNext, u64 *piLast, int *pbFlushed,
                        u64 *piDropFloor){
  KvLogReader *pR = 0;
  KvVersion *v = versionNew(p);
  int bLog = 0, bNext = 0, bSeq = 0;
  int rc = v ? KV_OK : kvErrNoMem();
  *ppV = 0;
  if( rc==KV_OK ){
    rc = kvLogReaderOpen(p->pEnv, zPath, &pR);
    if( rc==KV_CANTOPEN ){
      rc = kvErr(KV_CORRUPT, "kvstore: manifest '%s' named by CURRENT is "
                 "missing", zPath);
    }
  }
  while( rc==KV_OK ){
    const u8 *a = 0;
    size_t n = 0;
    KvVersionEdit e;
    KvVersion *vNew = 0;
    rc = kvLogRead(pR, &a, &n);
    if( rc!=KV_OK || a==0 ) break;
    rc = kvEditDecode(a, n, &e);
    if( rc==KV_CORRUPT ){
      rc = kvErr(KV_CORRUPT, "kvstore: corrupt manifest '%s': bad version "
                 "edit", zPath);
      break;
    }
    if( rc!=KV_OK ) break;
    if( e.bLogNumber ){ *piLog = e.iLogNumber; bLog = 1; }
    if( e.bNextFile ){ *piNext = e.iNextFile; bNext = 1; }
    if( e.bLastSeq ){ *piLast = e.iLastSeq; bSeq = 1; }
    *pbFlushed = e.bFlushed;
    if( e.bDropFloor ) *piDropFloor = e.iDropFloor;
    rc = versionApply(p, v, &e, &vNew);
    kvEditClear(&e);
    if( rc==KV_OK ){
      kvVersionUnref(v);
      v = vNew;
    }
  }
  if( rc==KV_CORRUPT && strstr(kvErrMsg(), "MANIFEST")==0 && zPath ){
    rc = kvErr(KV_CORRUPT, "kvstore: corrupt manifest '%s': %s", zPath,
               kvErrMsg());
  }
  if( rc==KV_OK && (!bLog || !bNext || !bSeq) ){
    rc = kvErr(KV_CORRUPT, "kvstore: corrupt manifest '%s': missing "
               "counters", zPath);
  }
  kvLogReaderClose(pR);
  if( rc==KV_OK ){
    int i, j;
    /* A file number at or above the recorded next number would be reused
    ** by the next flush: the manifest is inconsistent. */
    for(i=0; i<KV_MAX_LEVELS; i++){
      for(j=0; j<v->anFile[i]; j++){
        if( v->aaFile[i][j]->iFile>=*piNext ){
          rc = kvErr(KV_CORRUPT, "kvstore: corrupt manifest '%s': file "
                     "number out of range", zPath);
        }
      }
    }
  }
  if( rc!=KV_OK ){
    kvVersionUnref(v);
    return rc;
  }
  *ppV = v;
  return KV_OK;
}

int kvVsetRecover(KvVersionSet *p){
  char *zPath = 0;
  KvVersion *v = 0;
  int rc = vsetInit(p);
  u64 iManifest = 0;

  if( rc==KV_OK ) rc = readCurrent(p, &iManifest);
  if( rc==KV_OK ){
    zPath = kvFileName(p->zDir, KV_FILE_MANIFEST, iManifest);
    if( zPath==0 ) rc = kvErrNoMem();
  }
  if( rc==KV_OK ){
    p->iDropFloor = 0;
    rc = readManifest(p, zPath, &v, &p->iLogNumber, &p->iNextFile,
                      &p->iLastSeq, &p->bLastIsFlushed, &p->iDropFloor);
  }
  if( rc==KV_OK ){
    kvVersionUnref(p->pCurrent);
    p->pCurrent = v;
    rc = checkManifestFiles(p, zPath);
  }
  if( rc==KV_OK && (p->bReadOnly || p->bNoRewrite) ){
    /* Read-only, or a store another process has open: the manifest stays
    ** as it is, pManifest stays NULL (kvVsetApply refuses with
    ** KV_READONLY, or, shared, writes a manifest of its own). */
    p->iManifest = iManifest;
  }else if( rc==KV_OK ){
    if( p->iNextFile<=iManifest ) p->iNextFile = iManifest+1;
    p->iManifest = iManifest;
    rc = newManifest(p, kvVsetNewFileNumber(p));
  }
  kvFree(zPath);
  return rc;
}

/*
** Another process changed the store (shared.c): read the manifest CURRENT
** names now, if it is not ours, and install its version. Files this
** version already holds keep their metadata (and their opened tables).
** *pbChanged says whether anything was installed. A manifest replaced
** while being read fails with KV_CORRUPT naming it missing: the caller
** tries again. REQUIRES: no local edit runs meanwhile.
*/
int kvVsetReload(KvVersionSet *p, int *pbChanged){
  char *zPath = 0;
  KvVersion *v = 0, *pOld;
  u64 iManifest = 0, iLog = 0, iNext = 0, iLast = 0, iDropFloor = 0;
  int bFlushed = 0;
  int rc = readCurrent(p, &iManifest);
  int i, j, k;
  *pbChanged = 0;
  if( rc!=KV_OK || iManifest==p->iManifest ) return rc;
  zPath = kvFileName(p->zDir, KV_FILE_MANIFEST, iManifest);
  rc = zPath ? KV_OK : kvErrNoMem();
  if( rc==KV_OK ){
    rc = readManifest(p, zPath, &v, &iLog, &iNext, &iLast, &bFlushed,
                      &iDropFloor);
  }
  kvFree(zPath);
  if( rc!=KV_OK ) return rc;
  for(i=0; i<KV_MAX_LEVELS; i++){
    for(j=0; j<v->anFile[i]; j++){
      KvFileMeta *f = v->aaFile[i][j];
      for(k=0; k<p->pCurrent->anFile[i]; k++){
        KvFileMeta *fOld = p->pCurrent->aaFile[i][k];
        if( fOld->iFile==f->iFile ){
          kvFileRef(fOld);
          v->aaFile[i][j] = fOld;
          kvFileUnref(f);
          break;
        }
      }
    }
  }
  pthread_mutex_lock((pthread_mutex_t*)p->pMutex);
  pOld = p->pCurrent;
  p->pCurrent = v;
  pthread_mutex_unlock((pthread_mutex_t*)p->pMutex);
  kvVersionUnref(pOld);
  p->iManifest = iManifest;
  p->iLogNumber = iLog;
  if( iNext>p->iNextFile ) p->iNextFile = iNext;
  p->iLastSeq = iLast;
  p->bLastIsFlushed = bFlushed;
  p->iDropFloor = iDropFloor;
  *pbChanged = 1;
  return KV_OK;
}

int kvVsetApply(KvVersionSet *p, KvVersionEdit *pEdit){
  KvVersion *v = 0;
  KvBuf rec = {0, 0, 0};
  int rc;
  pEdit->bNextFile = 1;
  pEdit->iNextFile = p->iNextFile;
  if( !pEdit->bLastSeq ){
    pEdit->bLastSeq = 1;
    pEdit->iLastSeq = p->iLastSeq;
  }
  if( !pEdit->bLogNumber ){
    pEdit->bLogNumber = 1;
    pEdit->iLogNumber = p->iLogNumber;
  }
  if( !pEdit->bDropFloor && p->iDropFloor>0 ){
    pEdit->bDropFloor = 1;
    pEdit->iDropFloor = p->iDropFloor;
  }
  rc = versionApply(p, p->pCurrent, pEdit, &v);
  if( rc==KV_OK && p->bShared ){
    /* Several processes edit this store, one at a time (shared.c): each
    ** edit is a whole new manifest that CURRENT then names, so no process
    ** ever appends after a record another one may have left torn. */
    u64 iNum = kvVsetNewFileNumber(p);
    pEdit->iNextFile = p->iNextFile;
    rc = writeManifest(p, iNum, v, pEdit->iLogNumber, pEdit->iLastSeq,
                       pEdit->bDropFloor ? pEdit->iDropFloor : 0);
  }else if( rc==KV_OK ) rc = kvEditEncode(pEdit, &rec);
  if( rc==KV_OK && !p->bShared ){
    if( p->pManifest==0 ){
      rc = kvErr(KV_READONLY, "kvstore: manifest of '%s' is not writable",
                 p->zDir);
    }else{
      rc = kvLogAppend(p->pManifest, rec.a, rec.n);
      if( rc==KV_OK ) rc = kvLogSync(p->pManifest);
    }
  }
  if( rc==KV_OK ){
    KvVersion *pOld;
    int i, j;
    /* Durable: mark the deleted files obsolete and install. */
    for(i=0; i<KV_MAX_LEVELS; i++){
      for(j=0; j<p->pCurrent->anFile[i]; j++){
        KvFileMeta *f = p->pCurrent->aaFile[i][j];
        if( editDeletes(pEdit, i, f->iFile) && !editAdds(pEdit, f->iFile) ){
          f->bObsolete = 1;
        }
      }
    }
    pthread_mutex_lock((pthread_mutex_t*)p->pMutex);
    pOld = p->pCurrent;
    p->pCurrent = v;
    pthread_mutex_unlock((pthread_mutex_t*)p->pMutex);
    kvVersionUnref(pOld);
    p->iLogNumber = pEdit->iLogNumber;
    p->iLastSeq = pEdit->iLastSeq;
    p->iDropFloor = pEdit->bDropFloor ? pEdit->iDropFloor : 0;
    p->nManifestEdit++;
    if( !p->bShared && p->nManifestEdit>MANIFEST_MAX_EDITS ){
      /* A failure here leaves the old manifest live and complete. */
      newManifest(p, kvVsetNewFileNumber(p));
      kvErrClear();
    }
    v = 0;
  }
  kvVersionUnref(v);
  kvBufFree(&rec);
  return rc;
}

void kvVsetClose(KvVersionSet *p){
  if( p->pManifest ){
    kvLogWriterClose(p->pManifest);
    p->pManifest = 0;
  }
  kvVersionUnref(p->pCurrent);
  p->pCurrent = 0;
}
