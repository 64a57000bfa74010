/*
** checkpoint.c - kv_checkpoint: an online, consistent copy of a store.
**
** The copy is built in a temporary sibling directory "<dest>.ckpt-tmp"
** and renamed to <dest> as the last step, so a failure leaves nothing
** (the temporary directory is removed) and a crash at worst leaves the
** temporary directory, never a half-written <dest>. Steps:
**
**   1. kv_flush: the memtable goes to level 0, so the copy needs no WAL.
**   2. Under the store's mutex, take a reference on the current version
**      (compaction cannot delete its files while it is held) and read the
**      counters the manifest records: last sequence, next file number.
**      The version holds every write committed before the flush began (and
**      maybe later ones a background flush added): a prefix of the
**      history. The copy's manifest records the source's last sequence,
**      so new writes to the copy never reuse a sequence.
**   3. Into the temporary directory: KVSTORE (the identity and the
**      options that shape files, copied byte for byte), each SSTable of
**      the version (a hard link when the destination is on the same file
**      system, a copy otherwise, as RocksDB's Checkpoint does), a fresh
**      MANIFEST holding exactly that version, and CURRENT. Every file
**      written is fsynced, then the directory.
**      A caller's xExtra adds its files (the SQL layer's OWNER) here.
**   4. Check what was written: every SSTable of the copy is read whole
**      (kvSstVerify: block checksums and the Merkle root recomputed from
**      its data blocks) and its recorded Merkle root must equal the
**      source's.
**   5. Rename to <dest>, fsync the parent directory.
**
** kv_checkpoint_progress reports the bytes done of the bytes planned (each
** SSTable counted twice: linked or copied in step 3, read back in step 4)
** after each 64 KiB copied and each table linked or checked, and once
** before the flush; a nonzero answer stops the copy there: the temporary
** directory is removed and <dest> never appears (KV_INTERRUPT).
*/
#include "kvInt.h"
#include "filename.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

typedef struct Ckpt Ckpt;
struct Ckpt {
  kv_db *db;
  KvEnv *pEnv;
  char *zTmp;                   /* temporary directory */
  const char *zDest;            /* final directory */
  u64 nFile, nByte, nLinked;
  kv_progress_fn xProgress;     /* NULL: none */
  void *pProgArg;
  u64 nDone, nPlanned;          /* progress, in bytes */
};

/* Count nByte more bytes done and ask xProgress whether to go on: KV_OK,
** or KV_INTERRUPT (with its message) when it says stop. */
static int ckptStep(Ckpt *p, u64 nByte){
  p->nDone += nByte;
  if( p->nDone>p->nPlanned ) p->nPlanned = p->nDone;
  if( p->xProgress && p->xProgress(p->pProgArg, p->nDone, p->nPlanned) ){
    return kvErr(KV_INTERRUPT, "kvstore: checkpoint of '%s' into '%s' "
                 "interrupted; nothing was written", p->db->zDir, p->zDest);
  }
  return KV_OK;
}

/* Parent directory of zPath ("." when it has no slash). kvMalloc. */
static char *parentDir(const char *zPath){
  const char *z = strrchr(zPath, '/');
  if( z==0 ) return kvStrdup(".");
  if( z==zPath ) return kvStrdup("/");
  return kvMprintf("%.*s", (int)(z - zPath), zPath);
}

/* Copy file zFrom to zTo through the env, fsync it. *pnByte its size.
** With p, each chunk counts as progress (ckptStep). */
static int copyFile(KvEnv *pEnv, const char *zFrom, const char *zTo,
                    u64 *pnByte, Ckpt *p){
  KvFile *pIn = 0, *pOut = 0;
  u8 *aBuf = kvMalloc(1<<16);
  u64 off = 0;
  int rc = KV_OK;
  if( aBuf==0 ) rc = kvErrNoMem();
  if( rc==KV_OK ) rc = pEnv->xOpen(pEnv, zFrom, KV_OPEN_READ, &pIn);
  if( rc==KV_OK ) rc = pEnv->xOpen(pEnv, zTo, KV_OPEN_WRITE, &pOut);
  while( rc==KV_OK ){
    size_t n = 0;
    rc = pEnv->xRead(pIn, off, aBuf, 1<<16, &n);
    if( rc!=KV_OK || n==0 ) break;
    rc = pOut->pEnv->xAppend(pOut, aBuf, n);
    off += n;
    if( rc==KV_OK && p ) rc = ckptStep(p, n);
  }
  if( rc==KV_OK ) rc = pEnv->xSync(pOut);
  if( pOut ){
    int rc2 = pEnv->xClose(pOut);
    if( rc==KV_OK ) rc = rc2;
  }
  if( pIn ) pEnv->xClose(pIn);
  kvFree(aBuf);
  *pnByte = off;
  return rc;
}

/* Hard-link zFrom as zTo, or copy it when a link is not possible (another
** file system, links not supported). The test env always copies: its
** model of the file system knows names it made only. */
static int linkOrCopy(Ckpt *p, const char *zFrom, const char *zTo,
                      u64 nByte){
  if( strcmp(p->pEnv->zName, "posix")==0 ){
    if( link(zFrom, zTo)==0 ){
      p->nLinked++;
      p->nByte += nByte;
      return ckptStep(p, nByte);
    }
    if( errno!=EXDEV && errno!=EPERM && errno!=EMLINK && errno!=ENOTSUP ){
      return kvErrno(errno, "link", zTo);
    }
  }
  {
    u64 n = 0;
    int rc = copyFile(p->pEnv, zFrom, zTo, &n, p);
    p->nByte += n;
    if( rc==KV_OK && n<nByte ) rc = ckptStep(p, nByte - n);
    return rc;
  }
}

/* Remove the temporary directory and what it holds (after a failure). */
static void removeTmp(Ckpt *p){
  char **azName = 0;
  int nName = 0, i;
  KvErrSave save;
  kvErrSave(&save);
  if( p->pEnv->xList(p->pEnv, p->zTmp, &azName, &nName)==KV_OK ){
    for(i=0; i<nName; i++){
      char *z = kvMprintf("%s/%s", p->zTmp, azName[i]);
      if( z ) p->pEnv->xUnlink(p->pEnv, z);
      kvFree(z);
    }
    kvFreeList(azName, nName);
  }
  p->pEnv->xRmdir(p->pEnv, p->zTmp);
  kvErrRestore(&save, KV_OK);
}

/* Write MANIFEST-<iManifest> describing version v, then CURRENT. */
static int writeManifest(Ckpt *p, KvVersion *v, u64 iManifest, u64 iNextFile,
                         u64 iLastSeq){
  KvBuf buf = {0, 0, 0};
  KvLogWriter *pW = 0;
  char *zPath = kvFileName(p->zTmp, KV_FILE_MANIFEST, iManifest);
  char *zName = kvFileName(0, KV_FILE_MANIFEST, iManifest);
  char *zCur = zName ? kvMprintf("%s\n", zName) : 0;
  int rc = KV_OK;
  if( zPath==0 || zCur==0 ) rc = kvErrNoMem();
  /* The copy has no WAL: log number 1 names no segment it holds. */
  if( rc==KV_OK ) rc = kvVersionSnapshotEdit(v, 1, iNextFile, iLastSeq, 0, &buf);
  if( rc==KV_OK ) rc = kvLogWriterOpen(p->pEnv, zPath, &pW);
  if( rc==KV_OK ) rc = kvLogAppend(pW, buf.a, buf.n);
  if( rc==KV_OK ) rc = kvLogSync(pW);
  if( pW ){
    u64 n = kvLogSize(pW);
    int rc2 = kvLogWriterClose(pW);
    if( rc==KV_OK ) rc = rc2;
    p->nFile++;
    p->nByte += n;
  }
  if( rc==KV_OK ){
    rc = kvEnvWriteAtomic(p->pEnv, p->zTmp, KV_NAME_CURRENT, zCur, strlen(zCur));
    p->nFile++;
    p->nByte += strlen(zCur);
  }
  kvBufFree(&buf);
  kvFree(zPath);
  kvFree(zCur);
  kvFree(zName);
  return rc;
}

/* Check every SSTable of the copy against the source's metadata. */
static int verifyCopy(Ckpt *p, KvVersion *v){
  int rc = KV_OK;
  int i, j;
  for(i=0; rc==KV_OK && i<KV_MAX_LEVELS; i++){
    for(j=0; rc==KV_OK && j<v->anFile[i]; j++){
      KvFileMeta *f = v->aaFile[i][j];
      char *zPath = kvSstPath(p->zTmp, f->iFile);
      KvSst *pSst = 0;
      if( zPath==0 ) rc = kvErrNoMem();
      if( rc==KV_OK ) rc = kvSstVerify(p->pEnv, zPath);
      if( rc==KV_OK ) rc = kvSstOpen(p->pEnv, zPath, 0, 0, &pSst);
      if( rc==KV_OK
       && memcmp(kvSstGetMeta(pSst)->aMerkle, f->aMerkle, 32)!=0 ){
        rc = kvErr(KV_CORRUPT, "kvstore: checkpoint copy '%s' has another "
                   "Merkle root than the source's table", zPath);
      }
      kvSstClose(pSst);
      kvFree(zPath);
      if( rc==KV_OK ) rc = ckptStep(p, f->nByte);
    }
  }
  return rc;
}

int kv_checkpoint(kv_db *db, const char *zDest,
                  int (*xExtra)(void *pCtx, const char *zTmpDir), void *pCtx,
                  char **pzJson){
  return kv_checkpoint_progress(db, zDest, xExtra, pCtx, 0, 0, pzJson);
}

int kv_checkpoint_progress(kv_db *db, const char *zDest,
                           int (*xExtra)(void *pCtx, const char *zTmpDir),
                           void *pCtx, kv_progress_fn xProgress,
                           void *pProgArg, char **pzJson){
  Ckpt c;
  KvVersion *v = 0;
  u64 iLastSeq = 0, iNextFile = 0, iMaxSeq = 0;
  u64 tStart;
  char *zParent = 0, *zFrom = 0, *zTo = 0;
  char *zDestBuf = 0;
  int bMadeTmp = 0;
  int rc = KV_OK;
  int i, j;

  memset(&c, 0, sizeof(c));
  if( pzJson ) *pzJson = 0;
  if( db==0 || zDest==0 || zDest[0]==0 ){
    return kvErr(KV_MISUSE, "kvstore: kv_checkpoint needs a store and a "
                 "destination");
  }
  /* "dir/" names dir: without the slash, so that the temporary sibling
  ** is "dir.ckpt-tmp", not "dir/.ckpt-tmp" inside a folder not made yet. */
  zDestBuf = kvStrdup(zDest);
  if( zDestBuf==0 ) return kvErrNoMem();
  for(i=(int)strlen(zDestBuf); i>1 && zDestBuf[i-1]=='/'; i--){
    zDestBuf[i-1] = 0;
  }
  zDest = zDestBuf;
  c.db = db;
  c.pEnv = db->pEnv;
  c.zDest = zDest;
  c.xProgress = xProgress;
  c.pProgArg = pProgArg;
  tStart = c.pEnv->xMonoMicros(c.pEnv);
  c.zTmp = kvMprintf("%s.ckpt-tmp", zDest);
  zParent = parentDir(zDest);
  if( c.zTmp==0 || zParent==0 ) rc = kvErrNoMem();

  /* The destination must not exist, or be an empty directory. */
  if( rc==KV_OK && c.pEnv->xExists(c.pEnv, zDest) ){
    char **azName = 0;
    int nName = 0;
    rc = c.pEnv->xList(c.pEnv, zDest, &azName, &nName);
    if( rc==KV_OK && nName>0 ){
      rc = kvErr(KV_ERROR, "kvstore: checkpoint destination '%s' exists and "
                 "is not empty", zDest);
    }
    kvFreeList(azName, nName);
  }
  if( rc==KV_OK && c.pEnv->xExists(c.pEnv, c.zTmp) ){
    rc = kvErr(KV_ERROR, "kvstore: '%s' exists (an interrupted checkpoint?): "
               "remove it first", c.zTmp);
  }
  if( rc==KV_OK ){
    rc = c.pEnv->xMkdir(c.pEnv, c.zTmp);
    if( rc==KV_OK ) bMadeTmp = 1;
  }

  /* 1, 2: flush, then pin the version and its counters. */
  if( rc==KV_OK ) rc = ckptStep(&c, 0);
  if( rc==KV_OK ) rc = kv_flush(db);
  if( rc==KV_OK ){
    kvDbLock(db);
    v = kvVersionCurrent(&db->vset);
    iLastSeq = db->vset.iLastSeq;
    iNextFile = db->vset.iNextFile;
    kvDbUnlock(db);
    for(i=0; i<KV_MAX_LEVELS; i++){
      for(j=0; j<v->anFile[i]; j++) c.nPlanned += 2*v->aaFile[i][j]->nByte;
    }
    rc = ckptStep(&c, 0);
  }

  /* 3: identity, tables, manifest. */
  if( rc==KV_OK ){
    zFrom = kvFileName(db->zDir, KV_FILE_IDENTITY, 0);
    zTo = kvFileName(c.zTmp, KV_FILE_IDENTITY, 0);
    if( zFrom==0 || zTo==0 ) rc = kvErrNoMem();
    if( rc==KV_OK ){
      u64 n = 0;
      rc = copyFile(c.pEnv, zFrom, zTo, &n, 0);
      c.nFile++;
      c.nByte += n;
    }
    kvFree(zFrom); zFrom = 0;
    kvFree(zTo); zTo = 0;
  }
  for(i=0; rc==KV_OK && i<KV_MAX_LEVELS; i++){
    for(j=0; rc==KV_OK && j<v->anFile[i]; j++){
      KvFileMeta *f = v->aaFile[i][j];
      zFrom = kvSstPath(db->zDir, f->iFile);
      zTo = kvSstPath(c.zTmp, f->iFile);
      if( zFrom==0 || zTo==0 ) rc = kvErrNoMem();
      if( f->maxSeq>iMaxSeq ) iMaxSeq = f->maxSeq;
      if( rc==KV_OK ) rc = linkOrCopy(&c, zFrom, zTo, f->nByte);
      if( rc==KV_OK ) c.nFile++;
      kvFree(zFrom); zFrom = 0;
      kvFree(zTo); zTo = 0;
    }
  }
  /* Each fsync below may take a while: ask between them. */
  if( rc==KV_OK ) rc = writeManifest(&c, v, iNextFile, iNextFile+1, iLastSeq);
  if( rc==KV_OK ) rc = ckptStep(&c, 0);
  if( rc==KV_OK && xExtra ) rc = xExtra(pCtx, c.zTmp);
  if( rc==KV_OK ) rc = ckptStep(&c, 0);
  if( rc==KV_OK ) rc = c.pEnv->xSyncDir(c.pEnv, c.zTmp);
  if( rc==KV_OK ) rc = ckptStep(&c, 0);

  /* 4: check, 5: publish. */
  if( rc==KV_OK ) rc = verifyCopy(&c, v);
  /* The summary before the rename: once renamed, nothing may fail. */
  if( rc==KV_OK && pzJson ){
    u64 ms = (c.pEnv->xMonoMicros(c.pEnv) - tStart) / 1000;
    *pzJson = kvMprintf("{\"files\":%" PRIu64 ",\"bytes\":%" PRIu64
                        ",\"ms\":%" PRIu64 ",\"linked\":%" PRIu64
                        ",\"sequence\":%" PRIu64 "}",
                        c.nFile, c.nByte, ms, c.nLinked, iMaxSeq);
    if( *pzJson==0 ) rc = kvErrNoMem();
  }
  if( rc==KV_OK && c.pEnv->xExists(c.pEnv, zDest) ){
    rc = c.pEnv->xRmdir(c.pEnv, zDest);     /* the empty directory */
  }
  if( rc==KV_OK ) rc = c.pEnv->xRename(c.pEnv, c.zTmp, zDest);
  if( rc==KV_OK ){
    rc = c.pEnv->xSyncDir(c.pEnv, zParent);
    if( rc!=KV_OK ){
      /* The new name may not survive a power cut: take it back, so the
      ** failure leaves nothing (if even that fails, the copy is whole). */
      KvErrSave save;
      kvErrSave(&save);
      if( c.pEnv->xRename(c.pEnv, zDest, c.zTmp)!=KV_OK ) bMadeTmp = 0;
      kvErrRestore(&save, rc);
    }else{
      bMadeTmp = 0;
    }
  }
  if( rc!=KV_OK && pzJson && *pzJson ){ kvFree(*pzJson); *pzJson = 0; }
  if( rc!=KV_OK && bMadeTmp ) removeTmp(&c);
  if( v ) kvVersionUnref(v);
  kvFree(c.zTmp);
  kvFree(zParent);
  kvFree(zDestBuf);
  return rc;
}
