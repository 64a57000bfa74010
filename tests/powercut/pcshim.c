/*
** pcshim.c - an LD_PRELOAD recorder of the file-system operations a
** process makes on the files of one directory, for the power-cut checker
** (pccheck.c; the approach of ALICE and CrashMonkey: record, then build
** every state a power cut could leave).
**
**   PC_DIR=<dir> PC_LOG=<file> LD_PRELOAD=pcshim.so <program>
**
** It wraps open/openat (and their 64-bit and fortified names), write,
** pwrite, ftruncate, truncate, fallocate, posix_fallocate, rename,
** renameat, unlink, unlinkat, fsync, fdatasync, msync, close, mmap,
** mremap and munmap, and logs what each did to a file directly inside
** $PC_DIR in the format of pc.h; also mkdir of $PC_DIR itself and the
** fsyncs of its parent. $PC_DIR may exist before the program starts (it
** then counts as durable) or be created by it (its parent must exist).
**
** Shared writable mappings (kvEnvPosix appends the WAL and the manifest
** through one) change a file without a system call: the shim keeps a copy
** of each such mapping and, before logging any other operation and at
** every fsync, msync and munmap, logs the bytes that differ from its copy
** as PC_WRITE records. A mapped write therefore appears in the log no
** later than the next operation the process makes on the directory, which
** is the ordering that matters: it is never made durable by an fsync that
** came before it.
**
** Hard links inside the directory are logged (link, linkat). Not traced:
** subdirectories (the store is flat), O_DIRECT
** and O_DSYNC writes, writev, sync() and syncfs(); the engine uses none
** of them (DESIGN.md, "Durability rules"). Nor sync_file_range, which the
** engine calls with SYNC_FILE_RANGE_WRITE alone to start a writeback
** early: it changes no byte and makes nothing durable (no device flush,
** no metadata), so a power cut may still leave any state it could leave
** without it.
**
** A munmap of the first part of a mapping (the engine drops the part of
** a WAL segment's mapping its appends have left behind) keeps the rest
** tracked.
**
** Negative control: PC_SKIP_DIRSYNC=<n> turns every directory fsync after
** the n-th into a no-op that reports success (and is not logged), as an
** engine that forgot them would be. The checker must then find lost
** commits (make powercut runs it so, expecting failures).
**
** The process is expected to be single-threaded in its file I/O (the
** workload runs the engine with background=off); a mutex keeps the log
** whole if it is not.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "pc.h"

#define MAX_FD    4096
#define MAX_FILE  8192
#define MAX_MAP   64
#define MAX_NAME  1024

typedef struct ShimMap ShimMap;
struct ShimMap {
  uint8_t *pAddr;               /* the mapping; NULL = slot free */
  size_t nLen;
  int iFile;                    /* file id */
  uint64_t iOff;                /* file offset of pAddr[0] */
  uint8_t *aCopy;               /* what the log says is there */
};

/* Real functions. */
static int (*real_open)(const char*, int, ...);
static int (*real_openat)(int, const char*, int, ...);
static ssize_t (*real_write)(int, const void*, size_t);
static ssize_t (*real_pwrite)(int, const void*, size_t, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_truncate)(const char*, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_posix_fallocate)(int, off_t, off_t);
static int (*real_rename)(const char*, const char*);
static int (*real_renameat)(int, const char*, int, const char*);
static int (*real_unlink)(const char*);
static int (*real_link)(const char*, const char*);
static int (*real_linkat)(int, const char*, int, const char*, int);
static int (*real_unlinkat)(int, const char*, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_msync)(void*, size_t, int);
static int (*real_close)(int);
static void *(*real_mmap)(void*, size_t, int, int, int, off_t);
static void *(*real_mremap)(void*, size_t, size_t, int, ...);
static int (*real_munmap)(void*, size_t);

static pthread_mutex_t gMutex = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static int gOn = 0;             /* tracing */
static int gLog = -1;           /* log descriptor */
static char gzDir[PATH_MAX];    /* canonical traced directory */
static char gzParent[PATH_MAX]; /* canonical directory holding it */
static int aFdFile[MAX_FD];     /* fd -> file id + 1; -1 = the directory,
                                ** -2 = its parent */
static int aFdAppend[MAX_FD];   /* fd opened O_APPEND */
static char *azName[MAX_FILE];  /* file id -> current name (NULL: none) */
static uint64_t aSize[MAX_FILE];/* file id -> size as the log has it */
static int nFile = 0;
static ShimMap aMap[MAX_MAP];
static char gzPrefix[MAX_NAME];      /* PC_PARENT_PREFIX; "" = off */
static int nSkipDirSyncAfter = -1;  /* PC_SKIP_DIRSYNC; -1: off */
static int nDirSync = 0;            /* directory fsyncs so far */

#define REAL(name) do{ if( real_##name==0 ) \
  *(void**)&real_##name = dlsym(RTLD_NEXT, #name); }while(0)

static void shimResolve(void){
  REAL(open); REAL(openat); REAL(write); REAL(pwrite); REAL(ftruncate);
  REAL(truncate); REAL(fallocate); REAL(posix_fallocate); REAL(rename);
  REAL(renameat); REAL(unlink); REAL(unlinkat); REAL(link); REAL(linkat);
  REAL(fsync);
  REAL(fdatasync); REAL(msync); REAL(close); REAL(mmap); REAL(mremap);
  REAL(munmap);
}

__attribute__((constructor)) static void shimInit(void){
  const char *zDir = getenv("PC_DIR");
  const char *zLog = getenv("PC_LOG");
  shimResolve();
  if( zDir==0 || zLog==0 ) return;
  /* The directory may not exist yet (the program creates it): then its
  ** parent must, and the name is the canonical parent + the base name. */
  {
    char zTmp[PATH_MAX], zBase[PATH_MAX];
    const char *zSlash;
    snprintf(zTmp, sizeof(zTmp), "%s", zDir);
    while( strlen(zTmp)>1 && zTmp[strlen(zTmp)-1]=='/' ){
      zTmp[strlen(zTmp)-1] = 0;
    }
    zSlash = strrchr(zTmp, '/');
    snprintf(zBase, sizeof(zBase), "%s", zSlash ? zSlash+1 : zTmp);
    if( zSlash==0 ){
      snprintf(gzParent, sizeof(gzParent), ".");
    }else if( zSlash==zTmp ){
      snprintf(gzParent, sizeof(gzParent), "/");
    }else{
      zTmp[zSlash - zTmp] = 0;
      snprintf(gzParent, sizeof(gzParent), "%s", zTmp);
    }
    if( realpath(gzParent, zTmp)==0 ){
      fprintf(stderr, "pcshim: parent of PC_DIR '%s': %s\n", zDir,
              strerror(errno));
      exit(2);
    }
    snprintf(gzParent, sizeof(gzParent), "%s", zTmp);
    if( strlen(gzParent) + strlen(zBase) + 2 > sizeof(gzDir) ){
      fprintf(stderr, "pcshim: PC_DIR too long\n");
      exit(2);
    }
    strcpy(gzDir, strcmp(gzParent, "/")==0 ? "" : gzParent);
    strcat(gzDir, "/");
    strcat(gzDir, zBase);
  }
  gLog = real_open(zLog, O_WRONLY|O_CREAT|O_TRUNC|O_APPEND|O_CLOEXEC, 0644);
  if( gLog<0 ){
    fprintf(stderr, "pcshim: PC_LOG '%s': %s\n", zLog, strerror(errno));
    exit(2);
  }
  if( getenv("PC_SKIP_DIRSYNC") ) nSkipDirSyncAfter = atoi(getenv("PC_SKIP_DIRSYNC"));
  if( getenv("PC_PARENT_PREFIX") ){
    snprintf(gzPrefix, sizeof(gzPrefix), "%s", getenv("PC_PARENT_PREFIX"));
  }
  gOn = 1;
}

/* ---------------------------------------------------------------------- */
/* The log.                                                                */

static void logBytes(const void *p, size_t n){
  const uint8_t *a = p;
  while( n>0 ){
    ssize_t w = real_write(gLog, a, n);
    if( w<0 && errno==EINTR ) continue;
    if( w<=0 ){
      fprintf(stderr, "pcshim: writing the log: %s\n", strerror(errno));
      abort();
    }
    a += w;
    n -= (size_t)w;
  }
}

static void logRec(uint32_t eOp, int iFile, uint64_t iOff, const char *z1,
                   const char *z2, const void *pData, uint64_t nData){
  PcRec r;
  int e = errno;
  memset(&r, 0, sizeof(r));
  r.eOp = eOp;
  r.iFile = (uint32_t)iFile;
  r.iOff = iOff;
  r.nPath1 = z1 ? (uint32_t)strlen(z1) : 0;
  r.nPath2 = z2 ? (uint32_t)strlen(z2) : 0;
  r.nData = nData;
  logBytes(&r, sizeof(r));
  if( r.nPath1 ) logBytes(z1, r.nPath1);
  if( r.nPath2 ) logBytes(z2, r.nPath2);
  if( nData ) logBytes(pData, (size_t)nData);
  errno = e;
}

/* Log what changed in the shared writable mappings since the last scan:
** one PC_WRITE per run of differing bytes. */
static void scanMaps(void){
  int i;
  for(i=0; i<MAX_MAP; i++){
    ShimMap *m = &aMap[i];
    size_t j, nLen;
    if( m->pAddr==0 ) continue;
    /* Never read a page beyond the end of the file (SIGBUS). */
    nLen = m->nLen;
    if( m->iOff>=aSize[m->iFile] ) continue;
    if( aSize[m->iFile] - m->iOff < nLen ){
      nLen = (size_t)(aSize[m->iFile] - m->iOff);
    }
    for(j=0; j<nLen; ){
      size_t k;
      if( m->pAddr[j]==m->aCopy[j] ){ j++; continue; }
      /* One record per run of changes, gaps of up to 64 equal bytes
      ** included: a memcpy of a record is one write, even where some of
      ** its bytes happen to equal what was there. */
      for(k=j; k<nLen; k++){
        size_t g;
        if( m->pAddr[k]!=m->aCopy[k] ) continue;
        for(g=k; g<nLen && g<k+64 && m->pAddr[g]==m->aCopy[g]; g++){}
        if( g==nLen || g==k+64 ) break;
        k = g;
      }
      memcpy(m->aCopy + j, m->pAddr + j, k - j);
      logRec(PC_WRITE, m->iFile, m->iOff + j, 0, 0, m->aCopy + j, k - j);
      j = k;
    }
  }
}

/* ---------------------------------------------------------------------- */
/* Names.                                                                  */

/* If zPath names an entry directly inside the traced directory, copy its
** base name to zBase and return 1. The directory itself gives 2. */
static int shimName(int dirfd, const char *zPath, char *zBase){
  char zFull[PATH_MAX], zParent[PATH_MAX], zCanon[PATH_MAX];
  const char *zSlash;
  if( !gOn || zPath==0 ) return 0;
  if( zPath[0]=='/' || dirfd==AT_FDCWD ){
    snprintf(zFull, sizeof(zFull), "%s", zPath);
  }else{
    return 0;                   /* relative to another directory: unused */
  }
  if( realpath(zFull, zCanon) ){
    struct stat st;
    int bDir = stat(zCanon, &st)==0 && S_ISDIR(st.st_mode);
    if( bDir && strcmp(zCanon, gzDir)==0 ) return 2;
    if( bDir && strcmp(zCanon, gzParent)==0 ) return 3;
  }
  zSlash = strrchr(zFull, '/');
  if( zSlash==0 ){
    snprintf(zParent, sizeof(zParent), ".");
  }else if( zSlash==zFull ){
    snprintf(zParent, sizeof(zParent), "/");
  }else{
    snprintf(zParent, sizeof(zParent), "%.*s", (int)(zSlash - zFull), zFull);
  }
  if( realpath(zParent, zCanon)==0 ) return 0;
  {
    const char *z = zSlash ? zSlash+1 : zFull;
    size_t n = strlen(z);
    if( n+3>=MAX_NAME ) return 0;
    if( strcmp(zCanon, gzDir)==0 ){
      memcpy(zBase, z, n+1);
    }else if( gzPrefix[0] && strcmp(zCanon, gzParent)==0
           && strncmp(z, gzPrefix, strlen(gzPrefix))==0
           && !(n>=4 && strcmp(z+n-4, "-shm")==0) ){
      memcpy(zBase, "../", 3);  /* the database beside the store */
      memcpy(zBase+3, z, n+1);
    }else{
      return 0;
    }
  }
  return zBase[0]!=0;
}

static int fileByName(const char *zBase){
  int i;
  for(i=0; i<nFile; i++){
    if( azName[i] && strcmp(azName[i], zBase)==0 ) return i;
  }
  return -1;
}

/* A new file id under name zBase (logged as PC_CREATE, with the bytes it
** already holds if it existed before the shim saw it). */
static int newFile(const char *zBase, int fd, int bBefore){
  int i = nFile++;
  struct stat st;
  uint8_t *a = 0;
  ssize_t n = 0;
  if( i>=MAX_FILE ){
    fprintf(stderr, "pcshim: too many files\n");
    abort();
  }
  azName[i] = strdup(zBase);
  aSize[i] = 0;
  if( fd>=0 && fstat(fd, &st)==0 && st.st_size>0 ){
    /* Its bytes, as they are (pread). */
    a = malloc((size_t)st.st_size);
    n = a ? pread(fd, a, (size_t)st.st_size, 0) : -1;
    if( n<0 ) n = 0;
  }
  if( bBefore ){
    /* There before the trace began: durable as it is. */
    logRec(PC_PRESENT, i, 0, zBase, 0, a, (uint64_t)n);
  }else{
    logRec(PC_CREATE, i, 0, zBase, 0, 0, 0);
    if( n>0 ) logRec(PC_WRITE, i, 0, 0, 0, a, (uint64_t)n);
  }
  aSize[i] = (uint64_t)n;
  free(a);
  return i;
}

static int fdFile(int fd){
  if( !gOn || fd<0 || fd>=MAX_FD ) return -1;
  return aFdFile[fd]>0 ? aFdFile[fd]-1 : -1;
}

/* ---------------------------------------------------------------------- */
/* Wrapped calls.                                                          */

static int shimOpen(int dirfd, const char *zPath, int flags, mode_t mode){
  char zBase[MAX_NAME];
  int eName, fd, bExisted = 0, iFile;
  shimResolve();
  pthread_mutex_lock(&gMutex);
  eName = shimName(dirfd, zPath, zBase);
  if( eName==1 ) bExisted = access(zPath, F_OK)==0;
  if( eName ) scanMaps();
  fd = real_openat(dirfd, zPath, flags, mode);
  if( fd>=0 && fd<MAX_FD && (eName==2 || eName==3) ){
    aFdFile[fd] = eName==2 ? -1 : -2;
  }else if( fd>=0 && fd<MAX_FD && eName==1 ){
    iFile = fileByName(zBase);
    if( iFile<0 || !bExisted ){
      if( iFile>=0 ){ free(azName[iFile]); azName[iFile] = 0; }
      iFile = newFile(zBase, fd, iFile<0 && bExisted);
    }
    if( (flags & O_TRUNC) && (flags & O_ACCMODE)!=O_RDONLY
     && aSize[iFile]>0 ){
      logRec(PC_SETSIZE, iFile, 0, 0, 0, 0, 0);
      aSize[iFile] = 0;
    }
    aFdFile[fd] = iFile + 1;
    aFdAppend[fd] = (flags & O_APPEND)!=0;
  }
  pthread_mutex_unlock(&gMutex);
  return fd;
}

int open(const char *zPath, int flags, ...){
  mode_t mode = 0;
  if( flags & (O_CREAT|O_TMPFILE) ){
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  return shimOpen(AT_FDCWD, zPath, flags, mode);
}
int open64(const char *zPath, int flags, ...){
  mode_t mode = 0;
  if( flags & (O_CREAT|O_TMPFILE) ){
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  return shimOpen(AT_FDCWD, zPath, flags, mode);
}
int openat(int dirfd, const char *zPath, int flags, ...){
  mode_t mode = 0;
  if( flags & (O_CREAT|O_TMPFILE) ){
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  return shimOpen(dirfd, zPath, flags, mode);
}
int openat64(int dirfd, const char *zPath, int flags, ...){
  mode_t mode = 0;
  if( flags & (O_CREAT|O_TMPFILE) ){
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  return shimOpen(dirfd, zPath, flags, mode);
}
int __open_2(const char *zPath, int flags){
  return shimOpen(AT_FDCWD, zPath, flags, 0);
}
int __open64_2(const char *zPath, int flags){
  return shimOpen(AT_FDCWD, zPath, flags, 0);
}

/* Log n bytes written at iOff to file iFile. */
static void noteWrite(int iFile, uint64_t iOff, const void *p, size_t n){
  logRec(PC_WRITE, iFile, iOff, 0, 0, p, n);
  if( iOff + n > aSize[iFile] ) aSize[iFile] = iOff + n;
}

ssize_t write(int fd, const void *p, size_t n){
  int iFile;
  ssize_t w;
  uint64_t iOff = 0;
  shimResolve();
  iFile = fdFile(fd);
  if( iFile<0 ) return real_write(fd, p, n);
  pthread_mutex_lock(&gMutex);
  scanMaps();
  if( aFdAppend[fd] ){
    struct stat st;
    if( fstat(fd, &st)==0 ) iOff = (uint64_t)st.st_size;
  }else{
    off_t o = lseek(fd, 0, SEEK_CUR);
    iOff = o<0 ? 0 : (uint64_t)o;
  }
  w = real_write(fd, p, n);
  if( w>0 ) noteWrite(iFile, iOff, p, (size_t)w);
  pthread_mutex_unlock(&gMutex);
  return w;
}

ssize_t pwrite(int fd, const void *p, size_t n, off_t off){
  int iFile;
  ssize_t w;
  shimResolve();
  iFile = fdFile(fd);
  if( iFile<0 ) return real_pwrite(fd, p, n, off);
  pthread_mutex_lock(&gMutex);
  scanMaps();
  w = real_pwrite(fd, p, n, off);
  if( w>0 ) noteWrite(iFile, (uint64_t)off, p, (size_t)w);
  pthread_mutex_unlock(&gMutex);
  return w;
}
ssize_t pwrite64(int fd, const void *p, size_t n, off_t off){
  return pwrite(fd, p, n, off);
}

int ftruncate(int fd, off_t n){
  int iFile, rc;
  shimResolve();
  iFile = fdFile(fd);
  if( iFile<0 ) return real_ftruncate(fd, n);
  pthread_mutex_lock(&gMutex);
  scanMaps();
  rc = real_ftruncate(fd, n);
  if( rc==0 ){
    logRec(PC_SETSIZE, iFile, (uint64_t)n, 0, 0, 0, 0);
    aSize[iFile] = (uint64_t)n;
  }
  pthread_mutex_unlock(&gMutex);
  return rc;
}
int ftruncate64(int fd, off_t n){
  return ftruncate(fd, n);
}

int truncate(const char *zPath, off_t n){
  char zBase[MAX_NAME];
  int rc, iFile = -1;
  shimResolve();
  pthread_mutex_lock(&gMutex);
  if( shimName(AT_FDCWD, zPath, zBase)==1 ){
    iFile = fileByName(zBase);
    scanMaps();
  }
  rc = real_truncate(zPath, n);
  if( rc==0 && iFile>=0 ){
    logRec(PC_SETSIZE, iFile, (uint64_t)n, 0, 0, 0, 0);
    aSize[iFile] = (uint64_t)n;
  }
  pthread_mutex_unlock(&gMutex);
  return rc;
}

static void noteExtend(int iFile, uint64_t nEnd){
  logRec(PC_EXTEND, iFile, nEnd, 0, 0, 0, 0);
  if( nEnd>aSize[iFile] ) aSize[iFile] = nEnd;
}

int fallocate(int fd, int mode, off_t off, off_t len){
  int iFile, rc;
  shimResolve();
  iFile = fdFile(fd);
  if( iFile<0 ) return real_fallocate(fd, mode, off, len);
  pthread_mutex_lock(&gMutex);
  scanMaps();
  rc = real_fallocate(fd, mode, off, len);
  /* Only plain allocation is traced; KEEP_SIZE changes no byte or size. */
  if( rc==0 && mode==0 ) noteExtend(iFile, (uint64_t)(off + len));
  pthread_mutex_unlock(&gMutex);
  return rc;
}
int fallocate64(int fd, int mode, off_t off, off_t len){
  return fallocate(fd, mode, off, len);
}

int posix_fallocate(int fd, off_t off, off_t len){
  int iFile, rc;
  shimResolve();
  iFile = fdFile(fd);
  if( iFile<0 ) return real_posix_fallocate(fd, off, len);
  pthread_mutex_lock(&gMutex);
  scanMaps();
  rc = real_posix_fallocate(fd, off, len);
  if( rc==0 ) noteExtend(iFile, (uint64_t)(off + len));
  pthread_mutex_unlock(&gMutex);
  return rc;
}
int posix_fallocate64(int fd, off_t off, off_t len){
  return posix_fallocate(fd, off, len);
}

/* rename and link: lock, and which of the two paths are traced (their
** base names into zA and zB). The caller unlocks. */
static void twoNames(int fromfd, const char *zFrom, int tofd, const char *zTo,
                     char *zA, char *zB, int *pbA, int *pbB){
  shimResolve();
  pthread_mutex_lock(&gMutex);
  *pbA = shimName(fromfd, zFrom, zA)==1;
  *pbB = shimName(tofd, zTo, zB)==1;
  if( *pbA || *pbB ) scanMaps();
}

static int shimRename(int fromfd, const char *zFrom, int tofd,
                      const char *zTo){
  char zA[MAX_NAME], zB[MAX_NAME];
  int bA, bB, rc;
  twoNames(fromfd, zFrom, tofd, zTo, zA, zB, &bA, &bB);
  rc = real_renameat(fromfd, zFrom, tofd, zTo);
  if( rc==0 && bA && bB ){
    int iFrom = fileByName(zA);
    int iTo = fileByName(zB);
    if( iFrom!=iTo ){
      logRec(PC_RENAME, 0, 0, zA, zB, 0, 0);
      if( iTo>=0 ){ free(azName[iTo]); azName[iTo] = 0; }
      if( iFrom>=0 ){ free(azName[iFrom]); azName[iFrom] = strdup(zB); }
    }
  }else if( rc==0 && (bA || bB) ){
    fprintf(stderr, "pcshim: rename into or out of the traced directory "
            "is not modelled ('%s' -> '%s')\n", zFrom, zTo);
    abort();
  }
  pthread_mutex_unlock(&gMutex);
  return rc;
}
int rename(const char *zFrom, const char *zTo){
  return shimRename(AT_FDCWD, zFrom, AT_FDCWD, zTo);
}
int renameat(int fromfd, const char *zFrom, int tofd, const char *zTo){
  return shimRename(fromfd, zFrom, tofd, zTo);
}

/* A hard link inside the traced directory: the new name points at the
** old name's file (kvowner.c makes OWNER so, refusing an existing one). */
static int shimLink(int fromfd, const char *zFrom, int tofd, const char *zTo,
                    int flags){
  char zA[MAX_NAME], zB[MAX_NAME];
  int bA, bB, rc;
  twoNames(fromfd, zFrom, tofd, zTo, zA, zB, &bA, &bB);
  rc = real_linkat(fromfd, zFrom, tofd, zTo, flags);
  if( rc==0 && bA && bB ){
    logRec(PC_LINK, 0, 0, zA, zB, 0, 0);
  }else if( rc==0 && bB ){
    /* (A link out of it, a checkpoint's, changes nothing here.) */
    fprintf(stderr, "pcshim: a link into the traced directory is not "
            "modelled ('%s' -> '%s')\n", zFrom, zTo);
    abort();
  }
  pthread_mutex_unlock(&gMutex);
  return rc;
}
int link(const char *zFrom, const char *zTo){
  return shimLink(AT_FDCWD, zFrom, AT_FDCWD, zTo, 0);
}
int linkat(int fromfd, const char *zFrom, int tofd, const char *zTo,
           int flags){
  return shimLink(fromfd, zFrom, tofd, zTo, flags);
}

static int shimUnlink(int dirfd, const char *zPath, int flags){
  char zBase[MAX_NAME];
  int b, rc;
  shimResolve();
  pthread_mutex_lock(&gMutex);
  b = shimName(dirfd, zPath, zBase)==1;
  if( b ) scanMaps();
  rc = real_unlinkat(dirfd, zPath, flags);
  if( rc==0 && b ){
    int iFile = fileByName(zBase);
    logRec(PC_UNLINK, 0, 0, zBase, 0, 0, 0);
    if( iFile>=0 ){ free(azName[iFile]); azName[iFile] = 0; }
  }
  pthread_mutex_unlock(&gMutex);
  return rc;
}
int unlink(const char *zPath){
  return shimUnlink(AT_FDCWD, zPath, 0);
}
int unlinkat(int dirfd, const char *zPath, int flags){
  return shimUnlink(dirfd, zPath, flags);
}

static int shimSync(int fd, int bData){
  int rc;
  int iFile;
  shimResolve();
  if( !gOn || fd<0 || fd>=MAX_FD || aFdFile[fd]==0 ){
    return bData ? real_fdatasync(fd) : real_fsync(fd);
  }
  pthread_mutex_lock(&gMutex);
  scanMaps();
  iFile = fdFile(fd);
  if( aFdFile[fd]==-1 && nSkipDirSyncAfter>=0
   && ++nDirSync>nSkipDirSyncAfter ){
    pthread_mutex_unlock(&gMutex);
    return 0;                   /* negative control: a forgotten fsync */
  }
  rc = bData ? real_fdatasync(fd) : real_fsync(fd);
  if( rc==0 ){
    if( aFdFile[fd]==-2 ) logRec(PC_PARENTSYNC, 0, 0, 0, 0, 0, 0);
    else if( aFdFile[fd]<0 ) logRec(PC_DIRSYNC, 0, 0, 0, 0, 0, 0);
    else logRec(PC_FSYNC, iFile, 0, 0, 0, 0, 0);
  }
  pthread_mutex_unlock(&gMutex);
  return rc;
}
int fsync(int fd){ return shimSync(fd, 0); }
int fdatasync(int fd){ return shimSync(fd, 1); }

int msync(void *p, size_t n, int flags){
  int i, rc;
  shimResolve();
  if( !gOn ) return real_msync(p, n, flags);
  pthread_mutex_lock(&gMutex);
  scanMaps();
  rc = real_msync(p, n, flags);
  if( rc==0 && (flags & MS_SYNC) ){
    for(i=0; i<MAX_MAP; i++){
      if( aMap[i].pAddr && (uint8_t*)p>=aMap[i].pAddr
       && (uint8_t*)p<aMap[i].pAddr + aMap[i].nLen ){
        logRec(PC_FSYNC, aMap[i].iFile, 0, 0, 0, 0, 0);
        break;
      }
    }
  }
  pthread_mutex_unlock(&gMutex);
  return rc;
}

int close(int fd){
  shimResolve();
  if( gOn && fd>=0 && fd<MAX_FD && aFdFile[fd]!=0 ){
    pthread_mutex_lock(&gMutex);
    aFdFile[fd] = 0;
    aFdAppend[fd] = 0;
    pthread_mutex_unlock(&gMutex);
  }
  return real_close(fd);
}

void *mmap(void *pAddr, size_t n, int prot, int flags, int fd, off_t off){
  int iFile;
  void *p;
  shimResolve();
  iFile = fdFile(fd);
  p = real_mmap(pAddr, n, prot, flags, fd, off);
  if( p!=MAP_FAILED && iFile>=0 && (prot & PROT_WRITE)
   && (flags & MAP_SHARED) ){
    int i;
    pthread_mutex_lock(&gMutex);
    for(i=0; i<MAX_MAP && aMap[i].pAddr; i++){}
    if( i==MAX_MAP ){
      fprintf(stderr, "pcshim: too many writable mappings\n");
      abort();
    }
    aMap[i].pAddr = p;
    aMap[i].nLen = n;
    aMap[i].iFile = iFile;
    aMap[i].iOff = (uint64_t)off;
    aMap[i].aCopy = malloc(n);
    if( aMap[i].aCopy==0 ) abort();
    /* What the file holds now is in the log already. */
    {
      size_t nIn = 0;
      if( aSize[iFile]>(uint64_t)off ){
        nIn = (size_t)(aSize[iFile] - (uint64_t)off);
        if( nIn>n ) nIn = n;
      }
      memcpy(aMap[i].aCopy, p, nIn);
      memset(aMap[i].aCopy + nIn, 0, n - nIn);
    }
    pthread_mutex_unlock(&gMutex);
  }
  return p;
}
void *mmap64(void *pAddr, size_t n, int prot, int flags, int fd, off_t off){
  return mmap(pAddr, n, prot, flags, fd, off);
}

static ShimMap *mapAt(void *p){
  int i;
  for(i=0; i<MAX_MAP; i++){
    if( aMap[i].pAddr && aMap[i].pAddr==(uint8_t*)p ) return &aMap[i];
  }
  return 0;
}

void *mremap(void *pOld, size_t nOld, size_t nNew, int flags, ...){
  void *p;
  void *pFixed = 0;
  ShimMap *m;
  shimResolve();
  if( flags & MREMAP_FIXED ){
    va_list ap;
    va_start(ap, flags);
    pFixed = va_arg(ap, void*);
    va_end(ap);
  }
  pthread_mutex_lock(&gMutex);
  m = gOn ? mapAt(pOld) : 0;
  if( m ) scanMaps();
  p = real_mremap(pOld, nOld, nNew, flags, pFixed);
  if( p!=MAP_FAILED && m ){
    uint8_t *aNew = realloc(m->aCopy, nNew);
    size_t nIn = 0;
    if( aNew==0 ) abort();
    m->aCopy = aNew;
    m->pAddr = p;
    if( nNew>nOld ){
      /* The new part holds what the file holds there (logged). */
      uint64_t iEnd = aSize[m->iFile];
      if( iEnd>m->iOff + nOld ){
        nIn = (size_t)(iEnd - m->iOff - nOld);
        if( nIn>nNew - nOld ) nIn = nNew - nOld;
      }
      memcpy(m->aCopy + nOld, (uint8_t*)p + nOld, nIn);
      memset(m->aCopy + nOld + nIn, 0, nNew - nOld - nIn);
    }
    m->nLen = nNew;
  }
  pthread_mutex_unlock(&gMutex);
  return p;
}

int munmap(void *p, size_t n){
  ShimMap *m;
  int rc;
  shimResolve();
  pthread_mutex_lock(&gMutex);
  m = gOn ? mapAt(p) : 0;
  if( m ){
    scanMaps();
    if( n<m->nLen ){
      /* The first n bytes go; the rest stays mapped and tracked. */
      memmove(m->aCopy, m->aCopy + n, m->nLen - n);
      m->pAddr += n;
      m->iOff += n;
      m->nLen -= n;
    }else{
      free(m->aCopy);
      memset(m, 0, sizeof(*m));
    }
  }
  rc = real_munmap(p, n);
  pthread_mutex_unlock(&gMutex);
  return rc;
}

static int (*real_mkdir)(const char*, mode_t);

/* mkdir of the traced directory itself is logged (PC_MKDIR): its entry in
** the parent is durable only after an fsync of the parent. */
int mkdir(const char *zPath, mode_t mode){
  char zCanon[PATH_MAX];
  int rc;
  if( real_mkdir==0 ) *(void**)&real_mkdir = dlsym(RTLD_NEXT, "mkdir");
  rc = real_mkdir(zPath, mode);
  if( rc==0 && gOn && realpath(zPath, zCanon) && strcmp(zCanon, gzDir)==0 ){
    pthread_mutex_lock(&gMutex);
    scanMaps();
    logRec(PC_MKDIR, 0, 0, 0, 0, 0, 0);
    pthread_mutex_unlock(&gMutex);
  }
  return rc;
}

/* Called by the workload (found with dlsym): a note in the log. */
void pc_mark(const char *zNote){
  if( !gOn ) return;
  pthread_mutex_lock(&gMutex);
  scanMaps();
  logRec(PC_MARK, 0, 0, 0, 0, zNote, strlen(zNote));
  pthread_mutex_unlock(&gMutex);
}
