/*
** env_test.c - a KvEnv for reliability tests. It wraps another env
** (normally kvEnvPosix()), forwards every operation to it, counts the
** operations per kind, and can inject faults, crashes and power loss.
**
** FAULTS. kvTestEnvFail() makes the n-th operation of a kind fail with an
** errno of the test's choosing (and optionally every later one). The error
** is recorded with kvErrno(), so it maps and reads exactly like a real one
** ("kvstore: write failed on '<path>': No space left on device" is
** KV_FULL). A failing append first writes half of its bytes, because real
** disks do partial writes and the engine must cope with a torn tail.
**
** CRASHES. kvTestEnvCrashAfter(n) lets n more mutating operations happen
** and then kills the env: from that instant every operation fails with EIO
** and does nothing, as if the process had died right after the n-th one.
** Handles can still be closed (their descriptors and memory are released,
** the close reports EIO) so the engine can be torn down in-process.
**
** POWER-LOSS MODEL. The env shadows the file system as two layers:
**   - file contents and sizes: every file (an "inode" here) has a durable
**     content: its bytes and size at its last successful xSync, where the
**     size is the size on disk (a preallocated, mapped WAL segment counts
**     with its zeros), not the engine's logical size. Files that existed
**     before the env first touched them count as fully durable. Anything
**     that would destroy durable bytes before the next xSync keeps a copy
**     of them first: opening with KV_OPEN_WRITE (O_TRUNC), an xTruncate
**     below the durable size, and an xClose that cuts a preallocated file
**     back to its logical size. A size change is durable only after an
**     xSync (POSIX: fsync/fdatasync make the size durable; nothing else
**     does), so until then the old content is what survives.
**   - directory entries: for every path touched, the file the name points
**     to now and the one it pointed to at the last successful xSyncDir of
**     its directory. Creating, renaming onto and unlinking a name change
**     only the first; xSyncDir copies the first into the second for every
**     name in that directory. The bytes of a file that is unlinked or
**     renamed over while a durable name still points to it are copied
**     first, so they can be brought back. This is the pessimistic reading
**     of POSIX: a create, rename or unlink not followed by an fsync of its
**     directory is lost, even when the file itself was fsynced (ext4 and
**     XFS would usually keep a fsynced new file's name; POSIX does not
**     promise it). The recorder (tests/powercut/) explores the other
**     outcomes and orders.
** kvTestEnvPowerLoss() makes the disk hold what the durable layer says:
** a name with no durable file is removed; every other name is rewritten,
** as a new file, with its durable file's durable bytes (a rename that was
** not followed by a directory fsync goes back to the old name; an unlink
** that was not, comes back; a cut or truncate that was not followed by an
** fsync is undone). New files, so that handles opened before the loss
** (which still point to the old ones) cannot change the restored state
** when the engine closes them. KV_PL_GARBAGE then fills the bytes a file
** lost, up to its size before the loss, with random bytes (a file whose
** size reached the disk before its data did). Afterwards everything on
** disk counts as durable, the env is healed, counters are kept, and
** handles opened before the loss are stale: every use fails with EIO
** (closing them works).
**
** After a simulated crash (kvTestEnvCrashAfter) nothing the engine does
** may change the disk, as if the process were gone: a dead handle's close
** would cut a preallocated file to its logical size, so its size on disk
** is put back afterwards.
**
** Limits of the model, acceptable for an engine that only appends, syncs,
** renames whole files and unlinks them:
**   - Appends are durable exactly up to the last fsync; the model never
**     keeps part of an unsynced append (KV_PL_GARBAGE covers torn data).
**   - A directory created by xMkdir is lost, with everything in it,
**     unless an xSyncDir of its parent followed (POSIX: the new entry is
**     in the parent). xRmdir is not modelled (it counts as durable), and a
**     restored file's directory is recreated if it is missing.
**   - An fsync through the handle of a file that is no longer linked
**     anywhere does not update the saved copy.
**   - Renames between directories are durable per name (the fsync of
**     each directory covers its own name).
**   - The model's own I/O uses POSIX calls on the paths, so the base env
**     must keep files at their paths (kvEnvPosix does); the model is
**     exact only if every change to the tracked files goes through it.
**     Bytes written through a shared mapping (kvEnvPosix's WAL appends)
**     are read back by path, through the page cache, so they count.
**
** The shadow state (names, inodes, saved copies) lives in libc memory,
** not kvMalloc(): it stands for the disk, so allocation-failure tests must
** neither break it nor see it as engine allocations or leaks. File handles
** given to the engine do come from kvMalloc().
**
** Thread safety: one mutex guards the env's state; it is held across each
** mutating operation so the shadow state and the disk change together.
** Reads run outside it.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kvInt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

typedef struct TestEnv TestEnv;
typedef struct TestFile TestFile;
typedef struct TestName TestName;
typedef struct TestInode TestInode;
typedef struct TestFault TestFault;
typedef struct TestDir TestDir;

/* A file's content, independent of its names. */
struct TestInode {
  TestName *pName;              /* name it lives under now; NULL if it was
                                ** unlinked or renamed over */
  u64 nSync;                    /* durable prefix of the live file
                                ** (meaningful while !bSaved) */
  int bSaved;                   /* durable content is aSaved instead */
  u8 *aSaved;                   /* copy of the durable bytes (libc) */
  size_t nSaved;
  TestInode *pNext;             /* every inode of the env */
};

/* A path the env has touched. */
struct TestName {
  char *zPath;                  /* canonical path (libc) */
  char *zDir;                   /* canonical directory (libc) */
  TestInode *pCur;              /* file at this name now, or NULL */
  TestInode *pDur;              /* file at this name as of the last
                                ** directory fsync, or NULL */
  TestName *pNext;              /* every name of the env */
};

/* A directory the env created (xMkdir). Its entry in its parent is
** durable only after an xSyncDir of the parent. */
struct TestDir {
  char *zPath;                  /* canonical path (libc) */
  char *zParent;                /* canonical parent (libc) */
  int bDur;                     /* the parent was fsynced since */
  TestDir *pNext;
};

/* kvTestEnvFail() state of one kind. */
struct TestFault {
  int nLeft;                    /* fires when it reaches 1; 0 = disarmed */
  int err;                      /* errno to fail with */
  int bPersist;                 /* keep firing after the first time */
};

struct TestEnv {
  KvEnv base;                   /* must be first: KvEnv* casts to this */
  KvEnv *pBase;                 /* env that does the real work */
  pthread_mutex_t mutex;        /* guards everything below */
  u64 aCount[KV_TOP_NKIND];     /* operations so far, per kind */
  TestFault aFault[KV_TOP_NKIND];
  int nCrash;                   /* mutating ops left before death; -1 off */
  int bDieAfterOp;              /* the current op is the last one */
  int bDead;                    /* crashed: everything fails */
  int bDirSync;                 /* xSyncDir really syncs */
  u64 nClock;                   /* injected monotonic clock; 0 = real */
  u64 iEpoch;                   /* bumped by each power loss */
  u64 iRand;                    /* PRNG state for garbage bytes */
  TestName *pNames;
  TestDir *pDirs;
  TestInode *pInodes;
};

/* A handle given to the engine: files and locks alike. */
struct TestFile {
  KvFile base;                  /* base.pEnv is the test env */
  KvFile *pReal;                /* the base env's handle */
  TestInode *pInode;            /* written file; NULL for read-only/lock */
  u64 iEpoch;                   /* env epoch at open; stale if different */
  char zPath[1];                /* as given, for messages (allocated
                                ** with the struct) */
};

/* ---------------------------------------------------------------------- */
/* Accounting, faults and death.                                           */

/* Fault check of one kind: returns the errno to fail with, or 0. */
static int tenvFaultFires(TestFault *pF){
  if( pF->nLeft==0 ) return 0;
  if( pF->nLeft>1 ){
    pF->nLeft--;
    return 0;
  }
  if( !pF->bPersist ) pF->nLeft = 0;
  return pF->err;
}

/*
** Account for one operation of kind eKind (-1: an uncounted operation)
** and decide its fate: 0 to go ahead, -1 if the env is dead, else the
** errno to inject. A mutating operation also counts as KV_TOP_ANY and
** moves the crash point. REQUIRES: p->mutex held; tenvLeave() afterwards.
*/
static int tenvEnter(TestEnv *p, int eKind, int bMutating){
  int err = 0;
  int errAny = 0;
  if( p->bDead ) return -1;
  if( eKind>0 ){
    p->aCount[eKind]++;
    err = tenvFaultFires(&p->aFault[eKind]);
  }
  if( bMutating ){
    p->aCount[KV_TOP_ANY]++;
    errAny = tenvFaultFires(&p->aFault[KV_TOP_ANY]);
    if( p->nCrash>0 && --p->nCrash==0 ){
      p->nCrash = -1;
      p->bDieAfterOp = 1;
    }
  }
  return err ? err : errAny;
}

/* The operation is over: die now if it was the last before the crash. */
static void tenvLeave(TestEnv *p){
  if( p->bDieAfterOp ){
    p->bDieAfterOp = 0;
    p->bDead = 1;
  }
}

/* Record the error of a refused operation (e from tenvEnter). */
static int tenvRefuse(int e, const char *zOp, const char *zPath){
  return kvErrno(e<0 ? EIO : e, zOp, zPath);
}

static int tenvStale(const char *zOp, const char *zPath){
  return kvErr(KV_IOERR, "kvstore: %s failed on '%s': handle opened before "
               "a simulated power loss", zOp, zPath);
}

static int tenvNoMem(const char *zPath){
  return kvErr(KV_NOMEM, "kvstore: out of memory in the test env for '%s'",
               zPath);
}

/* ---------------------------------------------------------------------- */
/* Shadow state.                                                           */

/* Canonical form of directory zDir (libc malloc; NULL on OOM): symlinks
** and "//" resolved when it exists, trailing slashes dropped otherwise. */
static char *tenvCanonDir(const char *zDir){
  char *z = realpath(zDir, 0);
  if( z==0 ){
    size_t n = strlen(zDir);
    while( n>1 && zDir[n-1]=='/' ) n--;
    z = malloc(n + 1);
    if( z ){
      memcpy(z, zDir, n);
      z[n] = 0;
    }
  }
  return z;
}

/* Split zPath into canonical directory and full path (libc malloc). */
static int tenvCanonPath(const char *zPath, char **pzDir, char **pzFull){
  const char *zSlash = strrchr(zPath, '/');
  const char *zBase = zSlash ? zSlash+1 : zPath;
  char *zRawDir;
  char *zDir = 0;
  char *zFull = 0;
  size_t nDir;
  if( zSlash==0 ){
    zRawDir = strdup(".");
  }else if( zSlash==zPath ){
    zRawDir = strdup("/");
  }else{
    zRawDir = strndup(zPath, (size_t)(zSlash - zPath));
  }
  if( zRawDir ) zDir = tenvCanonDir(zRawDir);
  free(zRawDir);
  if( zDir ){
    nDir = strlen(zDir);
    zFull = malloc(nDir + strlen(zBase) + 2);
    if( zFull ){
      /* "/" as a directory must not give "//name". */
      snprintf(zFull, nDir + strlen(zBase) + 2, "%s/%s",
               (nDir==1 && zDir[0]=='/') ? "" : zDir, zBase);
    }
  }
  if( zFull==0 ){
    free(zDir);
    return KV_NOMEM;
  }
  *pzDir = zDir;
  *pzFull = zFull;
  return KV_OK;
}

static TestInode *tenvNewInode(TestEnv *p){
  TestInode *pI = calloc(1, sizeof(*pI));
  if( pI ){
    pI->pNext = p->pInodes;
    p->pInodes = pI;
  }
  return pI;
}

/*
** Find the shadow record of zPath, creating it on first use from what is
** on disk now (an existing file is fully durable, name and content).
*/
static int tenvName(TestEnv *p, const char *zPath, TestName **ppName){
  char *zDir = 0;
  char *zFull = 0;
  TestName *pN;
  struct stat st;
  *ppName = 0;
  if( tenvCanonPath(zPath, &zDir, &zFull) ) return tenvNoMem(zPath);
  for(pN=p->pNames; pN; pN=pN->pNext){
    if( strcmp(pN->zPath, zFull)==0 ) break;
  }
  if( pN ){
    free(zDir);
    free(zFull);
    *ppName = pN;
    return KV_OK;
  }
  pN = calloc(1, sizeof(*pN));
  if( pN==0 ){
    free(zDir);
    free(zFull);
    return tenvNoMem(zPath);
  }
  pN->zPath = zFull;
  pN->zDir = zDir;
  if( stat(zFull, &st)==0 && S_ISREG(st.st_mode) ){
    TestInode *pI = tenvNewInode(p);
    if( pI==0 ){
      free(zDir);
      free(zFull);
      free(pN);
      return tenvNoMem(zPath);
    }
    pI->pName = pN;
    pI->nSync = (u64)st.st_size;
    pN->pCur = pN->pDur = pI;
  }
  pN->pNext = p->pNames;
  p->pNames = pN;
  *ppName = pN;
  return KV_OK;
}

/* Size of zPath on disk (0 if missing). */
static u64 tenvFileSize(const char *zPath){
  struct stat st;
  if( stat(zPath, &st)!=0 ) return 0;
  return (u64)st.st_size;
}

/* Read up to n bytes from the start of zPath into a libc buffer. */
static int tenvReadPrefix(const char *zPath, u64 n, u8 **paOut, size_t *pnOut){
  u8 *a = 0;
  size_t nDone = 0;
  int fd;
  int rc = KV_OK;
  *paOut = 0;
  *pnOut = 0;
  if( n==0 ) return KV_OK;
  fd = open(zPath, O_RDONLY | O_CLOEXEC);
  if( fd<0 ) return kvErrno(errno, "read (power-loss model)", zPath);
  a = malloc((size_t)n);
  if( a==0 ) rc = tenvNoMem(zPath);
  while( rc==KV_OK && nDone<n ){
    ssize_t r = pread(fd, a + nDone, (size_t)n - nDone, (off_t)nDone);
    if( r<0 && errno==EINTR ) continue;
    if( r<0 ) rc = kvErrno(errno, "read (power-loss model)", zPath);
    if( r<=0 ) break;
    nDone += (size_t)r;
  }
  close(fd);
  if( rc!=KV_OK ){
    free(a);
    return rc;
  }
  *paOut = a;
  *pnOut = nDone;
  return KV_OK;
}

/* Does any name durably point to pI? */
static int tenvDurablyNamed(TestEnv *p, TestInode *pI){
  TestName *pN;
  for(pN=p->pNames; pN; pN=pN->pNext){
    if( pN->pDur==pI ) return 1;
  }
  return 0;
}

/*
** Copy the durable bytes of live inode pI aside, because its file is about
** to lose them (O_TRUNC) or leave its name (unlink, rename over). When
** bIfNamed, skip the copy if no durable name points to it: a detached
** inode can never gain one, so its bytes can never come back.
*/
static int tenvSave(TestEnv *p, TestInode *pI, int bIfNamed){
  int rc = KV_OK;
  if( pI==0 || pI->bSaved ) return KV_OK;
  assert( pI->pName );
  if( !bIfNamed || tenvDurablyNamed(p, pI) ){
    rc = tenvReadPrefix(pI->pName->zPath, pI->nSync, &pI->aSaved,
                        &pI->nSaved);
  }
  if( rc==KV_OK ) pI->bSaved = 1;
  return rc;
}

static void tenvDropSaved(TestInode *pI){
  free(pI->aSaved);
  pI->aSaved = 0;
  pI->nSaved = 0;
  pI->bSaved = 0;
}

/* After a directory fsync, copies of files nobody can bring back any more
** are dead weight (compaction unlinks many tables). */
static void tenvCollect(TestEnv *p){
  TestInode *pI;
  for(pI=p->pInodes; pI; pI=pI->pNext){
    if( pI->pName==0 && pI->aSaved && !tenvDurablyNamed(p, pI) ){
      free(pI->aSaved);
      pI->aSaved = 0;
      pI->nSaved = 0;
    }
  }
}

/* Forget all shadow state: what is on disk now is durable. */
static void tenvForget(TestEnv *p){
  while( p->pDirs ){
    TestDir *pD = p->pDirs;
    p->pDirs = pD->pNext;
    free(pD->zPath);
    free(pD->zParent);
    free(pD);
  }
  while( p->pNames ){
    TestName *pN = p->pNames;
    p->pNames = pN->pNext;
    free(pN->zPath);
    free(pN->zDir);
    free(pN);
  }
  while( p->pInodes ){
    TestInode *pI = p->pInodes;
    p->pInodes = pI->pNext;
    free(pI->aSaved);
    free(pI);
  }
}

/* A new handle wrapping pReal (kvMalloc: the engine owns handles). */
static TestFile *tenvNewFile(TestEnv *p, const char *zPath){
  size_t n = strlen(zPath);
  TestFile *pF = kvMallocZero(sizeof(*pF) + n);
  if( pF ){
    pF->base.pEnv = &p->base;
    pF->iEpoch = p->iEpoch;
    memcpy(pF->zPath, zPath, n + 1);
  }
  return pF;
}

/* ---------------------------------------------------------------------- */
/* File operations.                                                        */

static int tenvOpen(KvEnv *pEnv, const char *zPath, int flags,
                    KvFile **ppFile){
  TestEnv *p = (TestEnv*)pEnv;
  int bWrite = (flags & (KV_OPEN_WRITE|KV_OPEN_APPEND))!=0;
  int bTrunc = (flags & KV_OPEN_WRITE)!=0;
  TestName *pN = 0;
  TestInode *pNew = 0;
  TestFile *pF = 0;
  KvFile *pReal = 0;
  int rc = KV_OK;
  int e;
  *ppFile = 0;
  pthread_mutex_lock(&p->mutex);
  e = tenvEnter(p, bWrite ? KV_TOP_OPEN : -1, bWrite);
  if( e ) rc = tenvRefuse(e, "open", zPath);
  /* Everything that can fail for lack of memory comes before the real
  ** open, so a failure leaves the disk and the shadow state as they were. */
  if( rc==KV_OK ){
    pF = tenvNewFile(p, zPath);
    if( pF==0 ) rc = kvErr(KV_NOMEM, "kvstore: out of memory opening '%s'",
                           zPath);
  }
  if( rc==KV_OK && bWrite ) rc = tenvName(p, zPath, &pN);
  if( rc==KV_OK && bWrite && pN->pCur==0 ){
    pNew = tenvNewInode(p);
    if( pNew==0 ) rc = tenvNoMem(zPath);
  }
  if( rc==KV_OK && bTrunc ) rc = tenvSave(p, pN->pCur, 0);
  /* The engine's own flags: a WAL segment is preallocated and mapped as
  ** in production, so its preallocation and its cut at close are seen. */
  /* Not KV_OPEN_IMMUTABLE: the model rewrites files under open handles
  ** (a crash's lost writes), which a mapping must not see. */
  if( rc==KV_OK ){
    rc = p->pBase->xOpen(p->pBase, zPath, flags & ~KV_OPEN_IMMUTABLE, &pReal);
  }
  if( rc==KV_OK ){
    if( bWrite ){
      if( pN->pCur==0 ){
        pNew->pName = pN;
        pN->pCur = pNew;
      }
      pF->pInode = pN->pCur;
    }
    pF->pReal = pReal;
    *ppFile = &pF->base;
  }else{
    kvFree(pF);
    /* An unused pNew stays on the list, unnamed and empty: harmless. */
  }
  tenvLeave(p);
  pthread_mutex_unlock(&p->mutex);
  return rc;
}

static int tenvRead(KvFile *pFile, u64 off, void *pBuf, size_t n,
                    size_t *pnRead){
  TestFile *pF = (TestFile*)pFile;
  TestEnv *p = (TestEnv*)pFile->pEnv;
  int bStale;
  int e = 0;
  *pnRead = 0;
  pthread_mutex_lock(&p->mutex);
  bStale = pF->iEpoch!=p->iEpoch;
  if( !bStale ) e = tenvEnter(p, KV_TOP_READ, 0);
  tenvLeave(p);
  pthread_mutex_unlock(&p->mutex);
  if( bStale ) return tenvStale("read", pF->zPath);
  if( e ) return tenvRefuse(e, "read", pF->zPath);
  return p->pBase->xRead(pF->pReal, off, pBuf, n, pnRead);
}

static int tenvAppend(KvFile *pFile, const void *pBuf, size_t n){
  TestFile *pF = (TestFile*)pFile;
  TestEnv *p = (TestEnv*)pFile->pEnv;
  int rc;
  int e;
  pthread_mutex_lock(&p->mutex);
  if( pF->iEpoch!=p->iEpoch ){
    rc = tenvStale("write", pF->zPath);
  }else if( (e = tenvEnter(p, KV_TOP_APPEND, 1))!=0 ){
    if( e>0 && n>1 ){
      /* A torn write: part of the data reaches the file. */
      p->pBase->xAppend(pF->pReal, pBuf, n/2);
    }
    rc = tenvRefuse(e, "write", pF->zPath);
  }else{
    rc = p->pBase->xAppend(pF->pReal, pBuf, n);
  }
  tenvLeave(p);
  pthread_mutex_unlock(&p->mutex);
  return rc;
}

static int tenvSync(KvFile *pFile){
  TestFile *pF = (TestFile*)pFile;
  TestEnv *p = (TestEnv*)pFile->pEnv;
  int rc;
  int e;
  pthread_mutex_lock(&p->mutex);
  if( pF->iEpoch!=p->iEpoch ){
    rc = tenvStale("fsync", pF->zPath);
  }else if( (e = tenvEnter(p, KV_TOP_SYNC, 1))!=0 ){
    rc = tenvRefuse(e, "fsync", pF->zPath);
  }else{
    rc = p->pBase->xSync(pF->pReal);
    if( rc==KV_OK && pF->pInode && pF->pInode->pName ){
      /* The size on disk, preallocated zeros included: that is what an
      ** fdatasync makes durable, whatever the engine's logical size. */
      tenvDropSaved(pF->pInode);
      pF->pInode->nSync = tenvFileSize(pF->pInode->pName->zPath);
    }
  }
  tenvLeave(p);
  pthread_mutex_unlock(&p->mutex);
  return rc;
}

static int tenvSize(KvFile *pFile, u64 *pnByte){
  TestFile *pF = (TestFile*)pFile;
  TestEnv *p = (TestEnv*)pFile->pEnv;
  int bStale, bDead;
  pthread_mutex_lock(&p->mutex);
  bStale = pF->iEpoch!=p->iEpoch;
  bDead = p->bDead;
  pthread_mutex_unlock(&p->mutex);
  *pnByte = 0;
  if( bStale ) return tenvStale("stat", pF->zPath);
  if( bDead ) return kvErrno(EIO, "stat", pF->zPath);
  return p->pBase->xSize(pF->pReal, pnByte);
}

static int tenvTruncate(KvFile *pFile, u64 nByte){
  TestFile *pF = (TestFile*)pFile;
  TestEnv *p = (TestEnv*)pFile->pEnv;
  int rc;
  int e;
  pthread_mutex_lock(&p->mutex);
  if( pF->iEpoch!=p->iEpoch ){
    rc = tenvStale("truncate", pF->zPath);
  }else if( (e = tenvEnter(p, KV_TOP_TRUNCATE, 1))!=0 ){
    rc = tenvRefuse(e, "truncate", pF->zPath);
  }else{
    /* Not durable until the next xSync: keep the durable bytes it cuts. */
    TestInode *pI = pF->pInode;
    rc = KV_OK;
    if( pI && pI->pName && !pI->bSaved && pI->nSync>nByte ){
      rc = tenvSave(p, pI, 0);
    }
    if( rc==KV_OK ) rc = p->pBase->xTruncate(pF->pReal, nByte);
  }
  tenvLeave(p);
  pthread_mutex_unlock(&p->mutex);
  return rc;
}

static int tenvClose(KvFile *pFile){
  TestFile *pF = (TestFile*)pFile;
  TestEnv *p;
  TestInode *pI;
  int rc, rc2;
  int rcSave = KV_OK;
  int e = 0;
  int bLive;
  const char *zDisk = 0;        /* path of a written file, if named */
  u64 nDisk = 0;                /* its size on disk before the close */
  if( pF==0 ) return KV_OK;
  p = (TestEnv*)pFile->pEnv;
  pI = pF->pInode;
  /* The mutex is held across the real close: a preallocated file is cut
  ** to its logical size there, and the shadow state must agree. */
  pthread_mutex_lock(&p->mutex);
  bLive = pF->iEpoch==p->iEpoch;
  if( bLive ) e = tenvEnter(p, KV_TOP_CLOSE, 0);
  if( bLive && pI && pI->pName ){
    zDisk = pI->pName->zPath;
    nDisk = tenvFileSize(zDisk);
    if( !p->bDead && !pI->bSaved && pI->nSync>0 ){
      u64 nLogical = nDisk;
      if( p->pBase->xSize(pF->pReal, &nLogical)==KV_OK
       && nLogical<nDisk && nLogical<pI->nSync ){
        /* The cut is a size change no fsync follows. */
        rcSave = tenvSave(p, pI, 0);
      }
    }
  }
  /* Always release: a dead or failing env must not leak descriptors. */
  rc2 = p->pBase->xClose(pF->pReal);
  if( p->bDead && zDisk && tenvFileSize(zDisk)<nDisk ){
    /* A dead process cuts nothing: put the preallocated zeros back. */
    if( truncate(zDisk, (off_t)nDisk)!=0 && rc2==KV_OK ){
      rc2 = kvErrno(errno, "truncate (power-loss model)", zDisk);
    }
  }
  tenvLeave(p);
  pthread_mutex_unlock(&p->mutex);
  rc = e ? tenvRefuse(e, "close", pF->zPath) : rc2;
  if( rc==KV_OK ) rc = rcSave;
  kvFree(pF);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Directory operations.                                                   */

static int tenvRename(KvEnv *pEnv, const char *zFrom, const char *zTo){
  TestEnv *p = (TestEnv*)pEnv;
  TestName *pFrom = 0;
  TestName *pTo = 0;
  int rc = KV_OK;
  int e;
  pthread_mutex_lock(&p->mutex);
  e = tenvEnter(p, KV_TOP_RENAME, 1);
  if( e ) rc = tenvRefuse(e, "rename", zFrom);
  if( rc==KV_OK ) rc = tenvName(p, zFrom, &pFrom);
  if( rc==KV_OK ) rc = tenvName(p, zTo, &pTo);
  if( rc==KV_OK && pFrom!=pTo ) rc = tenvSave(p, pTo->pCur, 1);
  if( rc==KV_OK ) rc = p->pBase->xRename(p->pBase, zFrom, zTo);
  if( rc==KV_OK && pFrom!=pTo ){
    TestInode *pI = pFrom->pCur;
    if( pTo->pCur ) pTo->pCur->pName = 0;
    pTo->pCur = pI;
    pFrom->pCur = 0;
    if( pI ) pI->pName = pTo;
  }
  tenvLeave(p);
  pthread_mutex_unlock(&p->mutex);
  return rc;
}

static int tenvUnlink(KvEnv *pEnv, const char *zPath){
  TestEnv *p = (TestEnv*)pEnv;
  TestName *pN = 0;
  int rc = KV_OK;
  int e;
  pthread_mutex_lock(&p->mutex);
  e = tenvEnter(p, KV_TOP_UNLINK, 1);
  if( e ) rc = tenvRefuse(e, "unlink", zPath);
  if( rc==KV_OK ) rc = tenvName(p, zPath, &pN);
  if( rc==KV_OK ) rc = tenvSave(p, pN->pCur, 1);
  if( rc==KV_OK ) rc = p->pBase->xUnlink(p->pBase, zPath);
  if( rc==KV_OK && pN->pCur ){
    pN->pCur->pName = 0;
    pN->pCur = 0;
  }
  tenvLeave(p);
  pthread_mutex_unlock(&p->mutex);
  return rc;
}

static int tenvSyncDir(KvEnv *pEnv, const char *zDir){
  TestEnv *p = (TestEnv*)pEnv;
  int rc = KV_OK;
  int e;
  pthread_mutex_lock(&p->mutex);
  e = tenvEnter(p, KV_TOP_SYNCDIR, 1);
  if( e ){
    rc = tenvRefuse(e, "fsync directory", zDir);
  }else if( p->bDirSync ){
    char *zCanon = tenvCanonDir(zDir);
    if( zCanon==0 ) rc = tenvNoMem(zDir);
    if( rc==KV_OK ) rc = p->pBase->xSyncDir(p->pBase, zDir);
    if( rc==KV_OK ){
      TestName *pN;
      TestDir *pD;
      for(pN=p->pNames; pN; pN=pN->pNext){
        if( strcmp(pN->zDir, zCanon)==0 ) pN->pDur = pN->pCur;
      }
      for(pD=p->pDirs; pD; pD=pD->pNext){
        if( strcmp(pD->zParent, zCanon)==0 ) pD->bDur = 1;
      }
      tenvCollect(p);
    }
    free(zCanon);
  }
  tenvLeave(p);
  pthread_mutex_unlock(&p->mutex);
  return rc;
}

/* Liveness check of the operations that are forwarded without a kind. */
static int tenvAlive(TestEnv *p){
  int bDead;
  pthread_mutex_lock(&p->mutex);
  bDead = p->bDead;
  pthread_mutex_unlock(&p->mutex);
  return !bDead;
}

static int tenvExists(KvEnv *pEnv, const char *zPath){
  TestEnv *p = (TestEnv*)pEnv;
  if( !tenvAlive(p) ) return 0;
  return p->pBase->xExists(p->pBase, zPath);
}

static int tenvMkdir(KvEnv *pEnv, const char *zPath){
  TestEnv *p = (TestEnv*)pEnv;
  struct stat st;
  char *zParent = 0;
  char *zFull = 0;
  int bNew;
  int rc;
  if( !tenvAlive(p) ) return kvErrno(EIO, "mkdir", zPath);
  pthread_mutex_lock(&p->mutex);
  bNew = stat(zPath, &st)!=0;
  rc = p->pBase->xMkdir(p->pBase, zPath);
  if( rc==KV_OK && bNew && tenvCanonPath(zPath, &zParent, &zFull)==KV_OK ){
    TestDir *pD = calloc(1, sizeof(*pD));
    if( pD ){
      pD->zPath = zFull;
      pD->zParent = zParent;
      pD->pNext = p->pDirs;
      p->pDirs = pD;
      zFull = zParent = 0;
    }else{
      rc = tenvNoMem(zPath);
    }
  }
  free(zParent);
  free(zFull);
  pthread_mutex_unlock(&p->mutex);
  return rc;
}

static int tenvRmdir(KvEnv *pEnv, const char *zPath){
  TestEnv *p = (TestEnv*)pEnv;
  if( !tenvAlive(p) ) return kvErrno(EIO, "rmdir", zPath);
  return p->pBase->xRmdir(p->pBase, zPath);
}

static int tenvList(KvEnv *pEnv, const char *zDir, char ***pazName,
                    int *pnName){
  TestEnv *p = (TestEnv*)pEnv;
  *pazName = 0;
  *pnName = 0;
  if( !tenvAlive(p) ) return kvErrno(EIO, "list", zDir);
  return p->pBase->xList(p->pBase, zDir, pazName, pnName);
}

static int tenvLock(KvEnv *pEnv, const char *zPath, KvFile **ppLock){
  TestEnv *p = (TestEnv*)pEnv;
  TestFile *pF;
  int rc;
  *ppLock = 0;
  if( !tenvAlive(p) ) return kvErrno(EIO, "lock", zPath);
  pthread_mutex_lock(&p->mutex);
  pF = tenvNewFile(p, zPath);
  pthread_mutex_unlock(&p->mutex);
  if( pF==0 ){
    return kvErr(KV_NOMEM, "kvstore: out of memory locking '%s'", zPath);
  }
  rc = p->pBase->xLock(p->pBase, zPath, &pF->pReal);
  if( rc==KV_OK ){
    *ppLock = &pF->base;
  }else{
    kvFree(pF);
  }
  return rc;
}

static int tenvUnlock(KvFile *pLock){
  TestFile *pF = (TestFile*)pLock;
  TestEnv *p;
  int rc;
  if( pF==0 ) return KV_OK;
  p = (TestEnv*)pLock->pEnv;
  /* Released even when dead: a test reopens the store in this process. */
  rc = p->pBase->xUnlock(pF->pReal);
  if( rc==KV_OK && !tenvAlive(p) ) rc = kvErrno(EIO, "unlock", pF->zPath);
  kvFree(pF);
  return rc;
}

/* Byte locks and the map go to the real lock file: they are not data,
** and a crash of the modelled process drops them like a real death. */
static int tenvLockByte(KvFile *pLock, u64 iByte, int eOp, int bWait){
  TestFile *pF = (TestFile*)pLock;
  TestEnv *p = (TestEnv*)pLock->pEnv;
  if( eOp!=KV_LOCK_UNLOCK && !tenvAlive(p) ){
    return kvErrno(EIO, "lock", pF->zPath);
  }
  return p->pBase->xLockByte(pF->pReal, iByte, eOp, bWait);
}

static int tenvLockHeld(KvFile *pLock, u64 iByte){
  TestFile *pF = (TestFile*)pLock;
  TestEnv *p = (TestEnv*)pLock->pEnv;
  return p->pBase->xLockHeld(pF->pReal, iByte);
}

static int tenvLockMap(KvFile *pLock, size_t nByte, void **pp){
  TestFile *pF = (TestFile*)pLock;
  TestEnv *p = (TestEnv*)pLock->pEnv;
  *pp = 0;
  if( !tenvAlive(p) ) return kvErrno(EIO, "map", pF->zPath);
  return p->pBase->xLockMap(pF->pReal, nByte, pp);
}

static int tenvFileId(KvEnv *pEnv, const char *zPath, u64 *pDev, u64 *pIno){
  TestEnv *p = (TestEnv*)pEnv;
  if( !tenvAlive(p) ) return kvErrno(EIO, "stat", zPath);
  return p->pBase->xFileId(p->pBase, zPath, pDev, pIno);
}

/* ---------------------------------------------------------------------- */
/* Clocks.                                                                 */

static u64 tenvNowMicros(KvEnv *pEnv){
  TestEnv *p = (TestEnv*)pEnv;
  return p->pBase->xNowMicros(p->pBase);
}

static u64 tenvMonoMicros(KvEnv *pEnv){
  TestEnv *p = (TestEnv*)pEnv;
  u64 n;
  pthread_mutex_lock(&p->mutex);
  n = p->nClock;
  pthread_mutex_unlock(&p->mutex);
  return n ? n : p->pBase->xMonoMicros(p->pBase);
}

static void tenvSleepMicros(KvEnv *pEnv, u64 nMicros){
  TestEnv *p = (TestEnv*)pEnv;
  int bInjected;
  pthread_mutex_lock(&p->mutex);
  bInjected = p->nClock!=0;
  if( bInjected ) p->nClock += nMicros;
  pthread_mutex_unlock(&p->mutex);
  if( !bInjected ) p->pBase->xSleepMicros(p->pBase, nMicros);
}

/* ---------------------------------------------------------------------- */
/* Power loss.                                                             */

#define PL_REMOVE 0             /* no durable file: the name goes */
#define PL_WRITE  1             /* the name gets its durable bytes */
#define PL_KEEP   2             /* removed behind the env's back: leave it */

typedef struct PlStep PlStep;
struct PlStep {
  TestName *pN;
  int eAct;                     /* PL_* */
  u8 *a;                        /* PL_WRITE: content (libc) */
  size_t n;
  u64 nPre;                     /* length before the loss (for garbage) */
};

/* Append nByte pseudo-random bytes to the open descriptor fd. */
static int tenvGarbage(TestEnv *p, int fd, u64 nByte, const char *zPath){
  u8 aBuf[512];
  while( nByte>0 ){
    size_t n = nByte<sizeof(aBuf) ? (size_t)nByte : sizeof(aBuf);
    size_t i;
    ssize_t w;
    for(i=0; i<n; i++){
      /* xorshift64 */
      p->iRand ^= p->iRand << 13;
      p->iRand ^= p->iRand >> 7;
      p->iRand ^= p->iRand << 17;
      aBuf[i] = (u8)(p->iRand >> 24);
    }
    w = write(fd, aBuf, n);
    if( w<0 && errno==EINTR ) continue;
    if( w<0 ) return kvErrno(errno, "write (power-loss model)", zPath);
    nByte -= (u64)w;
  }
  return KV_OK;
}

/*
** Make the name of step s hold its durable state on disk. A rewritten
** name gets a new file (unlink, then create): a handle opened before the
** loss keeps the old one, so its close (which may cut a preallocated
** file) cannot touch the restored state.
*/
static int tenvApplyStep(TestEnv *p, PlStep *s, int eMode){
  const char *zPath = s->pN->zPath;
  int rc = KV_OK;
  int fd;
  size_t nDone = 0;
  if( unlink(zPath)!=0 && errno!=ENOENT ){
    return kvErrno(errno, "unlink (power-loss model)", zPath);
  }
  if( s->eAct==PL_REMOVE ) return KV_OK;
  mkdir(s->pN->zDir, 0755);     /* an unmodelled rmdir is undone */
  fd = open(zPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if( fd<0 ) return kvErrno(errno, "open (power-loss model)", zPath);
  while( rc==KV_OK && nDone<s->n ){
    ssize_t w = write(fd, s->a + nDone, s->n - nDone);
    if( w<0 && errno==EINTR ) continue;
    if( w<0 ) rc = kvErrno(errno, "write (power-loss model)", zPath);
    else nDone += (size_t)w;
  }
  if( rc==KV_OK && eMode==KV_PL_GARBAGE && s->nPre>s->n ){
    rc = tenvGarbage(p, fd, s->nPre - s->n, zPath);
  }
  close(fd);
  return rc;
}

/* Is zDir a directory, or inside one, that the env created and whose
** entry no fsync of its parent made durable? */
static int tenvInLostDir(TestEnv *p, const char *zDir){
  TestDir *pD;
  for(pD=p->pDirs; pD; pD=pD->pNext){
    size_t n = strlen(pD->zPath);
    if( !pD->bDur && strncmp(zDir, pD->zPath, n)==0
     && (zDir[n]==0 || zDir[n]=='/') ){
      return 1;
    }
  }
  return 0;
}

/* rm -rf zPath (missing is fine). */
static int tenvRemoveTree(const char *zPath){
  struct stat st;
  DIR *d;
  struct dirent *e;
  int rc = KV_OK;
  if( lstat(zPath, &st)!=0 ) return KV_OK;
  if( !S_ISDIR(st.st_mode) ){
    if( unlink(zPath)!=0 ) return kvErrno(errno, "unlink (power-loss "
                                         "model)", zPath);
    return KV_OK;
  }
  d = opendir(zPath);
  if( d==0 ) return kvErrno(errno, "list (power-loss model)", zPath);
  while( rc==KV_OK && (e = readdir(d))!=0 ){
    char *zChild;
    if( strcmp(e->d_name, ".")==0 || strcmp(e->d_name, "..")==0 ) continue;
    zChild = malloc(strlen(zPath) + strlen(e->d_name) + 2);
    if( zChild==0 ){
      rc = tenvNoMem(zPath);
      break;
    }
    sprintf(zChild, "%s/%s", zPath, e->d_name);
    rc = tenvRemoveTree(zChild);
    free(zChild);
  }
  closedir(d);
  if( rc==KV_OK && rmdir(zPath)!=0 ){
    rc = kvErrno(errno, "rmdir (power-loss model)", zPath);
  }
  return rc;
}

int kvTestEnvPowerLoss(KvEnv *pEnv, int eMode){
  TestEnv *p = (TestEnv*)pEnv;
  PlStep *aStep = 0;
  int nStep = 0;
  int rc = KV_OK;
  int i;
  TestName *pN;
  pthread_mutex_lock(&p->mutex);
  for(pN=p->pNames; pN; pN=pN->pNext) nStep++;
  if( nStep>0 ){
    aStep = calloc((size_t)nStep, sizeof(*aStep));
    if( aStep==0 ) rc = tenvNoMem("power loss");
  }

  /* Plan, reading every byte that must be rewritten before anything
  ** changes: a durable file's bytes may sit under a name that goes. */
  for(i=0, pN=p->pNames; rc==KV_OK && pN; pN=pN->pNext, i++){
    PlStep *s = &aStep[i];
    TestInode *pD = pN->pDur;
    s->pN = pN;
    if( tenvInLostDir(p, pN->zDir) ){
      s->eAct = PL_KEEP;        /* goes with its directory, below */
    }else if( pD==0 ){
      s->eAct = PL_REMOVE;
    }else if( pD==pN->pCur && !pD->bSaved && access(pN->zPath, F_OK)!=0 ){
      s->eAct = PL_KEEP;
    }else{
      s->eAct = PL_WRITE;
      if( pD->bSaved ){
        s->n = pD->nSaved;
        if( pD->nSaved ){
          s->a = malloc(pD->nSaved);
          if( s->a==0 ) rc = tenvNoMem(pN->zPath);
          else memcpy(s->a, pD->aSaved, pD->nSaved);
        }
      }else if( pD->pName ){
        rc = tenvReadPrefix(pD->pName->zPath, pD->nSync, &s->a, &s->n);
      }
      /* else: detached with nothing saved, so nothing was durable. */
      s->nPre = pD->pName ? tenvFileSize(pD->pName->zPath) : s->n;
    }
  }

  /* Removals first, then rewrites: no step reads what another wrote. */
  for(i=0; rc==KV_OK && i<nStep; i++){
    if( aStep[i].eAct==PL_REMOVE ) rc = tenvApplyStep(p, &aStep[i], eMode);
  }
  for(i=0; rc==KV_OK && i<nStep; i++){
    if( aStep[i].eAct==PL_WRITE ) rc = tenvApplyStep(p, &aStep[i], eMode);
  }

  /* Directories whose creation never reached a parent's fsync go, with
  ** everything in them. */
  if( rc==KV_OK ){
    TestDir *pDir;
    for(pDir=p->pDirs; rc==KV_OK && pDir; pDir=pDir->pNext){
      if( !pDir->bDur ) rc = tenvRemoveTree(pDir->zPath);
    }
  }
  for(i=0; aStep && i<nStep; i++) free(aStep[i].a);
  free(aStep);
  tenvForget(p);
  p->iEpoch++;
  memset(p->aFault, 0, sizeof(p->aFault));
  p->nCrash = -1;
  p->bDieAfterOp = 0;
  p->bDead = 0;
  pthread_mutex_unlock(&p->mutex);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Construction and control.                                               */

KvEnv *kvTestEnvNew(KvEnv *pBase){
  TestEnv *p;
  assert( pBase );
  p = kvMallocZero(sizeof(*p));
  if( p==0 ) return 0;
  if( pthread_mutex_init(&p->mutex, 0)!=0 ){
    kvFree(p);
    return 0;
  }
  p->base.zName = "test";
  p->base.xOpen = tenvOpen;
  p->base.xRead = tenvRead;
  p->base.xAppend = tenvAppend;
  p->base.xSync = tenvSync;
  p->base.xSize = tenvSize;
  p->base.xTruncate = tenvTruncate;
  p->base.xClose = tenvClose;
  p->base.xRename = tenvRename;
  p->base.xUnlink = tenvUnlink;
  p->base.xExists = tenvExists;
  p->base.xMkdir = tenvMkdir;
  p->base.xRmdir = tenvRmdir;
  p->base.xSyncDir = tenvSyncDir;
  p->base.xList = tenvList;
  p->base.xLock = tenvLock;
  p->base.xUnlock = tenvUnlock;
  p->base.xLockByte = tenvLockByte;
  p->base.xLockHeld = tenvLockHeld;
  p->base.xLockMap = tenvLockMap;
  p->base.xFileId = tenvFileId;
  p->base.xNowMicros = tenvNowMicros;
  p->base.xMonoMicros = tenvMonoMicros;
  p->base.xSleepMicros = tenvSleepMicros;
  p->pBase = pBase;
  p->nCrash = -1;
  p->bDirSync = 1;
  p->iEpoch = 1;
  p->iRand = 0x9e3779b97f4a7c15ULL;   /* fixed: garbage is reproducible */
  return &p->base;
}

/* REQUIRES: every handle opened through pEnv has been closed. */
void kvTestEnvFree(KvEnv *pEnv){
  TestEnv *p = (TestEnv*)pEnv;
  if( p==0 ) return;
  tenvForget(p);
  pthread_mutex_destroy(&p->mutex);
  kvFree(p);
}

/* n<=0 disarms the kind; err 0 means EIO. */
void kvTestEnvFail(KvEnv *pEnv, int eKind, int n, int err, int bPersist){
  TestEnv *p = (TestEnv*)pEnv;
  assert( eKind>=0 && eKind<KV_TOP_NKIND );
  pthread_mutex_lock(&p->mutex);
  p->aFault[eKind].nLeft = n>0 ? n : 0;
  p->aFault[eKind].err = err ? err : EIO;
  p->aFault[eKind].bPersist = bPersist;
  pthread_mutex_unlock(&p->mutex);
}

/* n<=0: dead at once. */
void kvTestEnvCrashAfter(KvEnv *pEnv, int n){
  TestEnv *p = (TestEnv*)pEnv;
  pthread_mutex_lock(&p->mutex);
  if( n<=0 ){
    p->bDead = 1;
    p->nCrash = -1;
  }else{
    p->nCrash = n;
  }
  pthread_mutex_unlock(&p->mutex);
}

void kvTestEnvHeal(KvEnv *pEnv){
  TestEnv *p = (TestEnv*)pEnv;
  pthread_mutex_lock(&p->mutex);
  memset(p->aFault, 0, sizeof(p->aFault));
  p->nCrash = -1;
  p->bDieAfterOp = 0;
  p->bDead = 0;
  pthread_mutex_unlock(&p->mutex);
}

int kvTestEnvIsDead(KvEnv *pEnv){
  return !tenvAlive((TestEnv*)pEnv);
}

u64 kvTestEnvCount(KvEnv *pEnv, int eKind){
  TestEnv *p = (TestEnv*)pEnv;
  u64 n;
  assert( eKind>=0 && eKind<KV_TOP_NKIND );
  pthread_mutex_lock(&p->mutex);
  n = p->aCount[eKind];
  pthread_mutex_unlock(&p->mutex);
  return n;
}

void kvTestEnvSetDirSync(KvEnv *pEnv, int bOn){
  TestEnv *p = (TestEnv*)pEnv;
  pthread_mutex_lock(&p->mutex);
  p->bDirSync = bOn;
  pthread_mutex_unlock(&p->mutex);
}

void kvTestEnvSetClock(KvEnv *pEnv, u64 nMicros){
  TestEnv *p = (TestEnv*)pEnv;
  pthread_mutex_lock(&p->mutex);
  p->nClock = nMicros;
  pthread_mutex_unlock(&p->mutex);
}
