/*
** env_posix.c - the POSIX file system behind the KvEnv function table.
**
** Every operation records a message naming the file and the operation when
** it fails. close() failures are reported (a failed close can hide a lost
** write on NFS and some local file systems). The LOCK file is locked with
** flock(), whose locks belong to the open file description: classic fcntl
** locks would be dropped when any descriptor of the process closes.
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
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

typedef struct PosixFile PosixFile;
struct PosixFile {
  KvFile base;
  int fd;                       /* descriptor */
  char *zPath;                  /* for messages */
  void *pMap;                   /* posixMap's mapping, or NULL */
  size_t nMap;
  /* Mapped appends (see below); bAppendMap 0 for every other file. */
  int bAppendMap;
  u8 *aApp;                     /* [nMapFrom, nCap) mapped read-write, or
                                ** NULL: aApp[0] is byte nMapFrom */
  u64 nMapFrom;                 /* bytes before it are unmapped (appendKick) */
  u64 nCap;                     /* allocated size of the file */
  u64 nLogical;                 /* bytes appended: the file's real size */
  int bSynced;                  /* xSync succeeded once: cuts are synced */
  u64 nSyncEnd;                 /* nLogical at the last xSync */
  int bNoCut;                   /* KV_OPEN_SHARED: xClose keeps the size */
  int bKick;                    /* KV_OPEN_WRITE: start writeback early */
  u64 nWritten;                 /* bKick: bytes written */
  u64 nKicked;                  /* bKick: writeback started below it */
  /* KV_OPEN_IMMUTABLE files that are mapped, and mapped append files
  ** ("Descriptors"): fd is -1 once given back; it and the rest is under
  ** gFdMutex. */
  int bImmutable;
  int bReopen;                  /* mapped append file: fd reopened by path */
  int bLock;                    /* a LOCK handle (counted in gnLockFd) */
  u64 iDev, iIno;               /* bReopen: the file a reopen must find */
  int nUse;                     /* operations using fd now */
  int bListed;                  /* on the list below (fd still open) */
  PosixFile *pFdPrev, *pFdNext;
};

/*
** Descriptors. A store holds every live table file open, one descriptor
** each (555 after a 10-million-row fill), where an ordinary table needs
** none, and a process's soft RLIMIT_NOFILE is often 1024. Table files
** never change once written: opened KV_OPEN_IMMUTABLE, they are mapped
** whole at once, and their descriptors are kept for at most half the soft
** limit, most recently read first (the list below). Past that the least
** recently read file gives its descriptor back, and its reads copy from
** the map instead (page faults rather than pread: the same bytes; a file
** deleted meanwhile stays readable through the map, as it did through the
** descriptor). A read keeps the descriptor it uses from being closed under
** it (nUse). An open() failing with EMFILE or ENFILE, of any file, gives
** back the descriptor of every listed file not in use, and is tried once
** more.
**
** Every open store also appends to two files, its WAL segment and its
** manifest: with theirs, 338 tables of one database ran out of a limit of
** 1024 where an ordinary table needs no descriptor of its own. These are
** on the list too (bReopen): appends go through their mapping and need no
** descriptor; the operations that do (growing the file, fsync, cutting it
** back) take it again by path when it was given back, and refuse a file
** that is no longer the one opened (another device or inode: replaced
** behind kvstore's back). An open table then holds one descriptor that
** cannot be given back, its LOCK, whose locks belong to it.
*/
static pthread_mutex_t gFdMutex = PTHREAD_MUTEX_INITIALIZER;
static PosixFile *gFdHead, *gFdTail;    /* most recently read first */
static int gnFdListed;

static void fdUnlist(PosixFile *p){
  if( p->pFdPrev ) p->pFdPrev->pFdNext = p->pFdNext; else gFdHead = p->pFdNext;
  if( p->pFdNext ) p->pFdNext->pFdPrev = p->pFdPrev; else gFdTail = p->pFdPrev;
  p->pFdPrev = p->pFdNext = 0;
  p->bListed = 0;
  gnFdListed--;
}
static void fdListFront(PosixFile *p){
  p->pFdPrev = 0;
  p->pFdNext = gFdHead;
  if( gFdHead ) gFdHead->pFdPrev = p; else gFdTail = p;
  gFdHead = p;
  p->bListed = 1;
  gnFdListed++;
}

/* Close the descriptors of listed files not being read, least recently
** read first, until at most nKeep stay listed. Under gFdMutex. Returns
** how many were closed. */
static int fdShedLocked(int nKeep){
  PosixFile *p = gFdTail;
  int n = 0;
  while( p && gnFdListed>nKeep ){
    PosixFile *pPrev = p->pFdPrev;
    if( p->nUse==0 ){
      fdUnlist(p);
      close(p->fd);
      p->fd = -1;
      n++;
    }
    p = pPrev;
  }
  return n;
}

static int fdBudget(void);
static int openFd(const char *zPath, int oflags, mode_t mode);

/* A listed file's descriptor taken for an operation: kept from being
** given back (nUse), and made the most recently used. Under gFdMutex. */
static void fdUseLocked(PosixFile *p){
  p->nUse++;
  if( gFdHead!=p ){
    fdUnlist(p);
    fdListFront(p);
  }
}

/* The descriptor of a bReopen file for an operation, taken again by path
** if it was given back; *pFd stays valid until fdUnpin. */
static int fdPin(PosixFile *p, int *pFd){
  struct stat st;
  int fd;
  pthread_mutex_lock(&gFdMutex);
  if( p->fd>=0 ){
    fdUseLocked(p);
    *pFd = p->fd;
    pthread_mutex_unlock(&gFdMutex);
    return KV_OK;
  }
  pthread_mutex_unlock(&gFdMutex);
  fd = openFd(p->zPath, O_RDWR | O_NOFOLLOW, 0);
  if( fd<0 ) return kvErrno(errno, "reopen", p->zPath);
  if( fstat(fd, &st)!=0 ){
    int e = errno;
    close(fd);
    return kvErrno(e, "stat", p->zPath);
  }
  if( (u64)st.st_dev!=p->iDev || (u64)st.st_ino!=p->iIno ){
    close(fd);
    return kvErr(KV_IOERR, "kvstore: '%s' was replaced by another file "
                 "while open", p->zPath);
  }
  pthread_mutex_lock(&gFdMutex);
  if( p->fd>=0 ){
    close(fd);                  /* another thread took it again first */
  }else{
    p->fd = fd;
    fdListFront(p);
  }
  fdUseLocked(p);
  *pFd = p->fd;
  fdShedLocked(fdBudget());
  pthread_mutex_unlock(&gFdMutex);
  return KV_OK;
}

static void fdUnpin(PosixFile *p){
  pthread_mutex_lock(&gFdMutex);
  p->nUse--;
  pthread_mutex_unlock(&gFdMutex);
}

/* The descriptor of any file for one operation, and its end. */
static int fileFd(PosixFile *p, int *pFd){
  if( !p->bReopen ){
    *pFd = p->fd;
    return KV_OK;
  }
  return fdPin(p, pFd);
}
static void fileFdDone(PosixFile *p){
  if( p->bReopen ) fdUnpin(p);
}

/* LOCK handles open now (posixLock): descriptors nothing can give back. */
static int gnLockFd;

/* Half the soft RLIMIT_NOFILE less the LOCK handles, at least 16: what
** the LOCKs take out of the half is left to descriptors that are not ours
** to give back (SQLite's journal, kvstore's OWNER reads), so that with
** many tables open those find one without running out. */
static int fdBudget(void){
  struct rlimit rl;
  int n;
  if( getrlimit(RLIMIT_NOFILE, &rl)!=0 || rl.rlim_cur==RLIM_INFINITY
   || rl.rlim_cur>(rlim_t)1<<24 ){
    return 1<<23;
  }
  n = (int)(rl.rlim_cur/2) - gnLockFd;
  return n<16 ? 16 : n;
}

/* After an open() that failed with EMFILE or ENFILE: nonzero if a
** descriptor was given back (try again). */
static int fdShedForOpen(int e){
  int n;
  if( e!=EMFILE && e!=ENFILE ) return 0;
  pthread_mutex_lock(&gFdMutex);
  n = fdShedLocked(0);
  pthread_mutex_unlock(&gFdMutex);
  return n>0;
}

/* open(), retried on EINTR, and once after fdShedForOpen. */
static int openFd(const char *zPath, int oflags, mode_t mode){
  int fd, bShed = 0;
  for(;;){
    fd = open(zPath, oflags | O_CLOEXEC, mode);
    if( fd>=0 ) break;
    if( errno==EINTR ) continue;
    if( bShed || !fdShedForOpen(errno) ) break;
    bShed = 1;
  }
  return fd;
}

/* Map an immutable file whole and list it (posixOpen). Not mapped (empty,
** no address space): it keeps its descriptor, as any file. */
static void immutableInit(PosixFile *p){
  struct stat st;
  void *pMap;
  if( fstat(p->fd, &st)!=0 || st.st_size<=0
   || (u64)st.st_size>(u64)SIZE_MAX ){
    return;
  }
  pMap = mmap(0, (size_t)st.st_size, PROT_READ, MAP_SHARED, p->fd, 0);
  if( pMap==MAP_FAILED ) return;
  p->pMap = pMap;
  p->nMap = (size_t)st.st_size;
  p->bImmutable = 1;
  pthread_mutex_lock(&gFdMutex);
  fdListFront(p);
  fdShedLocked(fdBudget());
  pthread_mutex_unlock(&gFdMutex);
}

/*
** Mapped appends. Files opened KV_OPEN_APPEND (the WAL and the manifest,
** through log.c) take one record per append. A write() per record costs
** a system call and the kernel's buffered-write path each time, about
** half of a single-threaded writer's time; instead the file is allocated
** ahead in steps (posix_fallocate, so a full disk is reported here as
** KV_FULL rather than by a SIGBUS later), mapped shared and read-write,
** and an append is a memcpy into it. The bytes are in the OS page cache
** at once, as after write(): a process crash loses nothing, fdatasync()
** writes them out as usual. The file is cut back to the bytes appended by
** xTruncate and xClose; after a crash it ends in zeros up to the step,
** which log.c reads as a torn tail (its magic byte is never zero).
** A size change is durable only after an fsync, so once the file has been
** synced (its caller wants it durable) every cut is followed by one;
** recovery does not depend on it (wal.c reads past zeros at the end of a
** segment that has a successor), but a file left at its real length is
** what a reader of the directory expects.
*/
#define APPEND_STEP_MIN ((u64)64 << 10)
#define APPEND_STEP_MAX ((u64)4 << 20)

/* Drop the mapping, if any. */
static void appendUnmap(PosixFile *p){
  if( p->aApp ) munmap(p->aApp, (size_t)(p->nCap - p->nMapFrom));
  p->aApp = 0;
  p->nMapFrom = 0;
}

/* Make [0, nNeed) allocated and mapped (from nMapFrom on). */
static int appendGrow(PosixFile *p, u64 nNeed){
  u64 nNew = p->nCap < APPEND_STEP_MIN ? APPEND_STEP_MIN : p->nCap;
  void *pNew;
  int e, fd;
  while( nNew<nNeed ){
    nNew += nNew<APPEND_STEP_MAX ? nNew : APPEND_STEP_MAX;
  }
  if( nNew>(u64)SIZE_MAX/2 ) return kvErr(KV_TOOBIG, "kvstore: '%s' too "
                                          "large to map", p->zPath);
  e = fileFd(p, &fd);
  if( e!=KV_OK ) return e;
  e = posix_fallocate(fd, 0, (off_t)nNew);
  if( e==ENOSPC && nNew>nNeed ){
    nNew = nNeed;                       /* the step does not fit: the record may */
    e = posix_fallocate(fd, 0, (off_t)nNew);
  }
  if( e ){
    fileFdDone(p);
    return kvErrno(e, "write", p->zPath);
  }
  if( p->aApp ){
    pNew = mremap(p->aApp, (size_t)(p->nCap - p->nMapFrom),
                  (size_t)(nNew - p->nMapFrom), MREMAP_MAYMOVE);
  }else{
    pNew = mmap(0, (size_t)nNew, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0);
  }
  fileFdDone(p);
  if( pNew==MAP_FAILED ){
    /* No address space: go on with write() at the logical end. */
    appendUnmap(p);
  }else{
    p->aApp = (u8*)pNew;
#ifdef MADV_POPULATE_WRITE
    /* Map the new pages writable now, in one call, rather than by one
    ** write fault per page as the appends reach them (a fault costs a few
    ** microseconds in a virtual machine; a 1M-row fill took 50,000 of
    ** them). The pages become dirty zeros at once, so a file that is
    ** being synced would write them out with its next fsync: only a file
    ** not synced yet (the WAL with sync=normal or off) is populated.
    ** Failure (a kernel before 5.14) leaves the faults to do it. */
    if( !p->bSynced ){
      (void)madvise(p->aApp + (p->nCap - p->nMapFrom),
                    (size_t)(nNew - p->nCap), MADV_POPULATE_WRITE);
    }
#endif
  }
  p->nCap = nNew;
  return KV_OK;
}

/* Cut the file to its logical size, dropping the mapping. */
static int appendCut(PosixFile *p){
  int fd, rc = KV_OK;
  appendUnmap(p);
  if( p->nCap!=p->nLogical ){
    rc = fileFd(p, &fd);
    if( rc!=KV_OK ) return rc;
    if( ftruncate(fd, (off_t)p->nLogical)!=0 ){
      rc = kvErrno(errno, "truncate", p->zPath);
    }else{
      p->nCap = p->nLogical;
      if( p->bSynced && fdatasync(fd)!=0 ){
        rc = kvErrno(errno, "fsync", p->zPath);
      }
    }
    fileFdDone(p);
  }
  return rc;
}

/*
** KV_OPEN_WRITE makes a new file under a name that can be predicted
** (NNNNNN.sst.tmp, CURRENT.tmp): it is created with O_EXCL|O_NOFOLLOW so
** nothing planted there (a symbolic link, a hard link to another file) is
** ever written through. A name already taken by a plain file of ours with
** one link is a temporary a crash left behind: it is removed and the
** create tried once more. Anything else is refused. Files opened for
** appending (WAL segments, manifests, LOCK) refuse a symbolic link too.
*/
static int openExclusive(const char *zPath, int oflags, int *pFd){
  int nTry;
  for(nTry=0; nTry<2; nTry++){
    struct stat st;
    *pFd = openFd(zPath, oflags, 0644);
    if( *pFd>=0 ) return KV_OK;
    if( errno!=EEXIST ) break;
    if( lstat(zPath, &st)!=0 ){
      if( errno==ENOENT ) continue;
      break;
    }
    if( !S_ISREG(st.st_mode) || st.st_nlink!=1 || st.st_uid!=geteuid() ){
      return kvErr(KV_CANTOPEN, "kvstore: '%s' already exists and is not a "
                   "leftover file of this store (a link, or another user's "
                   "file); refusing to write through it", zPath);
    }
    if( unlink(zPath)!=0 && errno!=ENOENT ) break;
  }
  if( *pFd<0 && errno==EEXIST ){
    return kvErr(KV_CANTOPEN, "kvstore: '%s' keeps reappearing; refusing to "
                 "write through it", zPath);
  }
  return kvErrno(errno, "open", zPath);
}

static int posixOpen(KvEnv *pEnv, const char *zPath, int flags,
                     KvFile **ppFile){
  PosixFile *p;
  struct stat st;
  int fd;
  int oflags;
  *ppFile = 0;
  memset(&st, 0, sizeof(st));
  if( flags & KV_OPEN_WRITE ){
    oflags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND;
  }else if( (flags & KV_OPEN_APPEND) && !(flags & KV_OPEN_PLAIN) ){
    oflags = O_RDWR | O_CREAT | O_NOFOLLOW;  /* mapping needs read access */
  }else if( flags & KV_OPEN_APPEND ){
    oflags = O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW;
  }else{
    oflags = O_RDONLY;
  }
  if( flags & KV_OPEN_WRITE ){
    int rc = openExclusive(zPath, oflags, &fd);
    if( rc!=KV_OK ) return rc;
  }else{
    /* Only regular files: a FIFO planted in a store (or named by
    ** kvstore_ingest) would block open() and read() forever, so it is
    ** opened without waiting (O_NONBLOCK, which regular files ignore) and
    ** refused, as are devices and directories. */
    fd = openFd(zPath, oflags | O_NONBLOCK, 0644);
    if( fd<0 ) return kvErrno(errno, "open", zPath);
    if( fstat(fd, &st)!=0 ){
      int rc = kvErrno(errno, "stat", zPath);
      close(fd);
      return rc;
    }
    if( !S_ISREG(st.st_mode) ){
      close(fd);
      return kvErr(KV_CANTOPEN, "kvstore: '%s' is not a regular file",
                   zPath);
    }
  }
  p = kvMallocZero(sizeof(*p));
  if( p ) p->zPath = kvStrdup(zPath);
  if( p==0 || p->zPath==0 ){
    close(fd);
    if( p ) kvFree(p);
    return kvErr(KV_NOMEM, "kvstore: out of memory opening '%s'", zPath);
  }
  p->base.pEnv = pEnv;
  p->fd = fd;
  if( (flags & KV_OPEN_APPEND) && !(flags & KV_OPEN_PLAIN) ){
    p->bAppendMap = 1;
    p->nCap = p->nLogical = p->nSyncEnd = (u64)st.st_size;
    p->bNoCut = (flags & KV_OPEN_SHARED)!=0;
    p->bReopen = 1;
    p->iDev = (u64)st.st_dev;
    p->iIno = (u64)st.st_ino;
    pthread_mutex_lock(&gFdMutex);
    fdListFront(p);
    fdShedLocked(fdBudget());
    pthread_mutex_unlock(&gFdMutex);
  }
  p->bKick = (flags & KV_OPEN_WRITE)!=0;
  if( (flags & KV_OPEN_IMMUTABLE) && oflags==O_RDONLY ) immutableInit(p);
  *ppFile = &p->base;
  return KV_OK;
}

static int preadAll(PosixFile *p, int fd, u64 off, void *pBuf, size_t n,
                    size_t *pnRead){
  size_t nDone = 0;
  while( nDone<n ){
    ssize_t r = pread(fd, (u8*)pBuf + nDone, n - nDone, (off_t)(off + nDone));
    if( r<0 ){
      if( errno==EINTR ) continue;
      *pnRead = nDone;
      return kvErrno(errno, "read", p->zPath);
    }
    if( r==0 ) break;
    nDone += (size_t)r;
  }
  *pnRead = nDone;
  return KV_OK;
}

/* A read of an immutable file: through its descriptor while it has one
** (kept open meanwhile, and made the most recently read), else a copy
** from the map. */
static int immutableRead(PosixFile *p, u64 off, void *pBuf, size_t n,
                         size_t *pnRead){
  int fd, rc;
  pthread_mutex_lock(&gFdMutex);
  fd = p->fd;
  if( fd>=0 ) fdUseLocked(p);
  pthread_mutex_unlock(&gFdMutex);
  if( fd<0 ){
    size_t nCopy = off>=p->nMap ? 0
                 : (p->nMap - off<n ? (size_t)(p->nMap - off) : n);
    if( nCopy ) memcpy(pBuf, (const u8*)p->pMap + off, nCopy);
    *pnRead = nCopy;
    return KV_OK;
  }
  rc = preadAll(p, fd, off, pBuf, n, pnRead);
  pthread_mutex_lock(&gFdMutex);
  p->nUse--;
  pthread_mutex_unlock(&gFdMutex);
  return rc;
}

static int posixRead(KvFile *pFile, u64 off, void *pBuf, size_t n,
                     size_t *pnRead){
  PosixFile *p = (PosixFile*)pFile;
  int fd, rc;
  if( p->bImmutable ) return immutableRead(p, off, pBuf, n, pnRead);
  rc = fileFd(p, &fd);
  if( rc!=KV_OK ) return rc;
  rc = preadAll(p, fd, off, pBuf, n, pnRead);
  fileFdDone(p);
  return rc;
}

/*
** Files made whole and synced once at the end (KV_OPEN_WRITE: tables,
** their temporaries, copies) start the writeback of each KICK_BYTES
** written as they go (sync_file_range, which waits for nothing), as
** RocksDB's bytes_per_sync does: the fsync that ends the file then writes
** only its last part. Without it a flushed 2 MiB table's fdatasync took
** about 3 ms of the background thread's time, and a random fill's flushes
** and compactions spent 30% of it in fsyncs while level 0 filled up and
** the writer slept. Durability is unchanged (the fsync still decides it);
** an error of the early writeback is reported by that fsync, which a
** sync_file_range without its wait flags does not consume.
*/
#define KICK_BYTES ((u64)1 << 20)

/* Start the writeback of bytes [iOff, iOff+n) of p, waiting for nothing
** (where the system has sync_file_range; elsewhere the fsync does it). */
static void startWriteback(int fd, u64 iOff, u64 n){
#ifdef SYNC_FILE_RANGE_WRITE
  (void)sync_file_range(fd, (off_t)iOff, (off_t)n, SYNC_FILE_RANGE_WRITE);
#else
  (void)fd; (void)iOff; (void)n;
#endif
}

static void writeKick(PosixFile *p, size_t n){
  p->nWritten += n;
  if( p->nWritten - p->nKicked >= KICK_BYTES ){
    startWriteback(p->fd, p->nKicked, p->nWritten - p->nKicked);
    p->nKicked = p->nWritten;
  }
}

/*
** A mapped file not synced yet (the WAL with sync=normal or off, synced
** when its segment is full) also starts the writeback of what it holds as
** it goes: each time KICK_BYTES have been appended past the start
** of the mapping, the whole pages before the append point are unmapped
** (the appends never come back to them) and their writeback is started
** (sync_file_range, as for tables above). Unmapped first, so the writeback
** write-protects no mapped page (see posixSync). The sync at the end of
** the segment then writes only what came after the last kick: on the
** benchmark VM the writer waited 4.6-4.9 ms for each 4 MiB segment of a
** random fill, a tenth of its time.
*/
static void appendKick(PosixFile *p){
  long nSys = sysconf(_SC_PAGESIZE);   /* once a MiB: cheap enough */
  u64 nPage = nSys>0 && (nSys & (nSys-1))==0 ? (u64)nSys : 65536;
  u64 iTo;
  size_t nDrop;
  int fd;
  /* Whole pages, and the mapping keeps one at least: mremap cannot grow
  ** an empty mapping (the allocation steps are multiples of 64 KiB). */
  iTo = p->nLogical & ~(nPage - 1);
  if( iTo>p->nCap - nPage ) iTo = p->nCap - nPage;
  if( iTo<=p->nMapFrom ) return;
  nDrop = (size_t)(iTo - p->nMapFrom);
  if( munmap(p->aApp, nDrop)!=0 ) return;
  if( fileFd(p, &fd)==KV_OK ){   /* else the next sync writes them */
    startWriteback(fd, p->nMapFrom, nDrop);
    fileFdDone(p);
  }
  p->aApp += nDrop;
  p->nMapFrom = iTo;
}

static int posixAppend(KvFile *pFile, const void *pBuf, size_t n){
  PosixFile *p = (PosixFile*)pFile;
  const u8 *a = (const u8*)pBuf;
  size_t nAll = n;
  int fd, rc;
  if( p->bAppendMap && n>0 ){
    if( p->nLogical + n > p->nCap ){
      int rc = appendGrow(p, p->nLogical + n);
      if( rc!=KV_OK ) return rc;
    }
    if( p->aApp ){
      memcpy(p->aApp + (p->nLogical - p->nMapFrom), a, n);
      p->nLogical += n;
      if( p->nLogical - p->nMapFrom >= KICK_BYTES + 4096 && !p->bSynced ){
        appendKick(p);
      }
      return KV_OK;
    }
    /* no mapping: pwrite() at the logical end, below */
  }
  rc = fileFd(p, &fd);
  if( rc!=KV_OK ) return rc;
  while( n>0 ){
    ssize_t w = p->bAppendMap ? pwrite(fd, a, n, (off_t)p->nLogical)
                              : write(fd, a, n);
    if( w<0 ){
      if( errno==EINTR ) continue;
      rc = kvErrno(errno, "write", p->zPath);
      break;
    }
    a += w;
    n -= (size_t)w;
    if( p->bAppendMap ) p->nLogical += (u64)w;
  }
  fileFdDone(p);
  if( rc==KV_OK && p->bKick ) writeKick(p, nAll);
  return rc;
}

/* Appended through the mapping since the last sync beyond which xSync
** drops the mapping first (below). */
#define SYNC_UNMAP_MIN ((u64)256 << 10)

static int posixSync(KvFile *pFile){
  PosixFile *p = (PosixFile*)pFile;
  int fd, rc;
  if( p->aApp && p->nLogical>p->nSyncEnd
   && p->nLogical - p->nSyncEnd >= SYNC_UNMAP_MIN ){
    /* An fsync write-protects every dirty page that is mapped, one page
    ** at a time, and each one is a TLB shootdown of every other CPU the
    ** process runs on: for a full 4 MiB WAL segment synced at rotation,
    ** a tenth of a 1M-row random fill's writer time in a VM. Unmapped,
    ** the pages are written out with no such walk (one flush for the
    ** munmap). Later appends use pwrite() until the file next grows and
    ** is mapped again (appendGrow); small syncs (sync=full commits) keep
    ** the mapping. */
    appendUnmap(p);
  }
  rc = fileFd(p, &fd);
  if( rc!=KV_OK ) return rc;
  if( fdatasync(fd)!=0 ) rc = kvErrno(errno, "fsync", p->zPath);
  fileFdDone(p);
  if( rc!=KV_OK ) return rc;
  p->bSynced = 1;
  p->nSyncEnd = p->nLogical;
  return KV_OK;
}

static int posixSize(KvFile *pFile, u64 *pnByte){
  PosixFile *p = (PosixFile*)pFile;
  struct stat st;
  if( p->bAppendMap ){
    *pnByte = p->nLogical;
    return KV_OK;
  }
  if( p->bImmutable ){
    *pnByte = p->nMap;          /* mapped whole; it never changes */
    return KV_OK;
  }
  if( fstat(p->fd, &st)!=0 ) return kvErrno(errno, "stat", p->zPath);
  *pnByte = (u64)st.st_size;
  return KV_OK;
}

static int posixTruncate(KvFile *pFile, u64 nByte){
  PosixFile *p = (PosixFile*)pFile;
  if( p->bAppendMap ){
    if( nByte<p->nLogical ) p->nLogical = nByte;
    else if( nByte>p->nLogical ) return kvErr(KV_MISUSE, "kvstore: "
        "truncating '%s' beyond its end", p->zPath);
    return appendCut(p);
  }
  if( ftruncate(p->fd, (off_t)nByte)!=0 ){
    return kvErrno(errno, "truncate", p->zPath);
  }
  return KV_OK;
}

static int posixClose(KvFile *pFile){
  PosixFile *p = (PosixFile*)pFile;
  int rc = KV_OK;
  if( p==0 ) return KV_OK;
  if( p->pMap ) munmap(p->pMap, p->nMap);
  if( p->bAppendMap && p->bNoCut ){
    /* Shared with other processes' appends: never cut (this handle's end
    ** may be older than the file's), mapped or not. */
    appendUnmap(p);
  }else if( p->bAppendMap ){
    struct stat st;
    int bShed;
    pthread_mutex_lock(&gFdMutex);
    bShed = p->fd<0;
    pthread_mutex_unlock(&gFdMutex);
    if( bShed && p->nCap!=p->nLogical
     && lstat(p->zPath, &st)!=0 && errno==ENOENT ){
      appendUnmap(p);           /* deleted, descriptor given back: no cut */
    }else{
      rc = appendCut(p);
    }
  }
  if( p->bImmutable || p->bReopen || p->bLock ){
    pthread_mutex_lock(&gFdMutex);
    if( p->bListed ) fdUnlist(p);
    if( p->bLock ) gnLockFd--;
    pthread_mutex_unlock(&gFdMutex);
  }
  if( p->fd>=0 && close(p->fd)!=0 && errno!=EINTR ){
    rc = kvErrno(errno, "close", p->zPath);
  }
  kvFree(p->zPath);
  kvFree(p);
  return rc;
}

/* A failed mmap() is not an error: the caller falls back to pread(). */
static int posixMap(KvFile *pFile, u64 nByte, const u8 **pp){
  PosixFile *p = (PosixFile*)pFile;
  int fd;
  *pp = 0;
  if( p->pMap==0 && nByte>0 && nByte<=(u64)SIZE_MAX
   && fileFd(p, &fd)==KV_OK ){
    void *pMap = mmap(0, (size_t)nByte, PROT_READ, MAP_SHARED, fd, 0);
    fileFdDone(p);
    if( pMap!=MAP_FAILED ){
      p->pMap = pMap;
      p->nMap = (size_t)nByte;
    }
  }
  if( p->pMap && nByte<=p->nMap ) *pp = (const u8*)p->pMap;
  return KV_OK;
}

static int posixRename(KvEnv *pEnv, const char *zFrom, const char *zTo){
  (void)pEnv;
  if( rename(zFrom, zTo)!=0 ) return kvErrno(errno, "rename", zFrom);
  return KV_OK;
}

static int posixUnlink(KvEnv *pEnv, const char *zPath){
  (void)pEnv;
  if( unlink(zPath)!=0 && errno!=ENOENT ) return kvErrno(errno, "unlink", zPath);
  return KV_OK;
}

static int posixExists(KvEnv *pEnv, const char *zPath){
  (void)pEnv;
  return access(zPath, F_OK)==0;
}

static int posixMkdir(KvEnv *pEnv, const char *zPath){
  struct stat st;
  (void)pEnv;
  if( mkdir(zPath, 0755)!=0 ){
    if( errno==EEXIST && stat(zPath, &st)==0 && S_ISDIR(st.st_mode) ){
      return KV_OK;
    }
    return kvErrno(errno, "mkdir", zPath);
  }
  return KV_OK;
}

static int posixRmdir(KvEnv *pEnv, const char *zPath){
  (void)pEnv;
  if( rmdir(zPath)!=0 ) return kvErrno(errno, "rmdir", zPath);
  return KV_OK;
}

static int posixSyncDir(KvEnv *pEnv, const char *zDir){
  int fd;
  int rc = KV_OK;
  (void)pEnv;
  fd = openFd(zDir, O_RDONLY | O_DIRECTORY, 0);
  if( fd<0 ) return kvErrno(errno, "open directory", zDir);
  if( fsync(fd)!=0 ) rc = kvErrno(errno, "fsync directory", zDir);
  if( close(fd)!=0 && rc==KV_OK && errno!=EINTR ){
    rc = kvErrno(errno, "close directory", zDir);
  }
  return rc;
}

void kvFreeList(char **azName, int nName){
  int i;
  if( azName==0 ) return;
  for(i=0; i<nName; i++) kvFree(azName[i]);
  kvFree(azName);
}

static int posixList(KvEnv *pEnv, const char *zDir, char ***pazName,
                     int *pnName){
  DIR *d;
  struct dirent *e;
  char **az = 0;
  int n = 0, nAlloc = 0;
  (void)pEnv;
  *pazName = 0;
  *pnName = 0;
  d = opendir(zDir);
  if( d==0 && fdShedForOpen(errno) ) d = opendir(zDir);
  if( d==0 ) return kvErrno(errno, "list", zDir);
  while( (e = readdir(d))!=0 ){
    if( strcmp(e->d_name, ".")==0 || strcmp(e->d_name, "..")==0 ) continue;
    if( n==nAlloc ){
      int nNew = nAlloc ? nAlloc*2 : 16;
      char **azNew = kvRealloc(az, sizeof(char*)*(size_t)nNew);
      if( azNew==0 ) goto oom;
      az = azNew;
      nAlloc = nNew;
    }
    az[n] = kvStrdup(e->d_name);
    if( az[n]==0 ) goto oom;
    n++;
  }
  closedir(d);
  *pazName = az;
  *pnName = n;
  return KV_OK;
oom:
  closedir(d);
  kvFreeList(az, n);
  return kvErr(KV_NOMEM, "kvstore: out of memory listing '%s'", zDir);
}

static int posixLock(KvEnv *pEnv, const char *zPath, KvFile **ppLock){
  PosixFile *p;
  int fd;
  *ppLock = 0;
  fd = openFd(zPath, O_RDWR | O_CREAT | O_NOFOLLOW, 0644);
  if( fd<0 ) return kvErrno(errno, "open", zPath);
  if( flock(fd, LOCK_SH | LOCK_NB)!=0 ){
    int e = errno;
    close(fd);
    if( e==EWOULDBLOCK ){
      /* Name the directory, not the LOCK file: that is what the user
      ** chose and what another process has open. */
      char *zDir = kvStrdup(zPath);
      char *zSlash = zDir ? strrchr(zDir, '/') : 0;
      if( zSlash ) *zSlash = 0;
      kvErr(KV_BUSY, "kvstore: '%s' is locked by another process",
            zDir ? zDir : zPath);
      kvFree(zDir);
      return KV_BUSY;
    }
    return kvErrno(e, "lock", zPath);
  }
  p = kvMallocZero(sizeof(*p));
  if( p ) p->zPath = kvStrdup(zPath);
  if( p==0 || p->zPath==0 ){
    close(fd);
    kvFree(p);
    return kvErr(KV_NOMEM, "kvstore: out of memory locking '%s'", zPath);
  }
  p->base.pEnv = pEnv;
  p->fd = fd;
  p->bLock = 1;
  pthread_mutex_lock(&gFdMutex);
  gnLockFd++;
  pthread_mutex_unlock(&gFdMutex);
  *ppLock = &p->base;
  return KV_OK;
}

static int posixUnlock(KvFile *pLock){
  PosixFile *p = (PosixFile*)pLock;
  if( p==0 ) return KV_OK;
  flock(p->fd, LOCK_UN);
  return posixClose(pLock);       /* drops its byte locks and its map */
}

/* Open file description locks (F_OFD_*, Linux 3.15): owned by the handle,
** not the process, so two handles of one process exclude each other and
** closing one never drops the other's locks (POSIX record locks would). */
static int posixLockByte(KvFile *pLock, u64 iByte, int eOp, int bWait){
  PosixFile *p = (PosixFile*)pLock;
  struct flock fl;
  memset(&fl, 0, sizeof(fl));
  fl.l_type = eOp==KV_LOCK_EXCL ? F_WRLCK
            : eOp==KV_LOCK_SHARED ? F_RDLCK : F_UNLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = (off_t)iByte;
  fl.l_len = 1;
  for(;;){
    if( fcntl(p->fd, bWait ? F_OFD_SETLKW : F_OFD_SETLK, &fl)==0 ){
      return KV_OK;
    }
    if( errno==EINTR ) continue;
    if( errno==EAGAIN || errno==EACCES ){
      return kvErr(KV_BUSY, "kvstore: '%s' is locked by another process",
                   p->zPath);
    }
    if( errno==EINVAL || errno==ENOLCK || errno==EOPNOTSUPP ){
      return kvErr(KV_IOERR, "kvstore: cannot lock '%s' (%s): the file "
                   "system does not support the byte-range locks that "
                   "several processes need", p->zPath, strerror(errno));
    }
    return kvErrno(errno, "lock", p->zPath);
  }
}

static int posixLockHeld(KvFile *pLock, u64 iByte){
  PosixFile *p = (PosixFile*)pLock;
  struct flock fl;
  memset(&fl, 0, sizeof(fl));
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = (off_t)iByte;
  fl.l_len = 1;
  if( fcntl(p->fd, F_OFD_GETLK, &fl)!=0 ) return 0;
  return fl.l_type!=F_UNLCK;
}

static int posixLockMap(KvFile *pLock, size_t nByte, void **pp){
  PosixFile *p = (PosixFile*)pLock;
  struct stat st;
  void *pMap;
  *pp = 0;
  if( p->pMap ){
    *pp = p->pMap;
    return KV_OK;
  }
  if( fstat(p->fd, &st)!=0 ) return kvErrno(errno, "stat", p->zPath);
  if( (u64)st.st_size<(u64)nByte ){
    int e = posix_fallocate(p->fd, 0, (off_t)nByte);
    if( e ) return kvErrno(e, "write", p->zPath);
  }
  pMap = mmap(0, nByte, PROT_READ|PROT_WRITE, MAP_SHARED, p->fd, 0);
  if( pMap==MAP_FAILED ) return kvErrno(errno, "map", p->zPath);
  p->pMap = pMap;
  p->nMap = nByte;
  *pp = pMap;
  return KV_OK;
}

static int posixFileId(KvEnv *pEnv, const char *zPath, u64 *pDev, u64 *pIno){
  struct stat st;
  (void)pEnv;
  if( stat(zPath, &st)!=0 ) return kvErrno(errno, "stat", zPath);
  *pDev = (u64)st.st_dev;
  *pIno = (u64)st.st_ino;
  return KV_OK;
}

static u64 posixNowMicros(KvEnv *pEnv){
  struct timespec ts;
  (void)pEnv;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (u64)ts.tv_sec*1000000 + (u64)ts.tv_nsec/1000;
}

static u64 posixMonoMicros(KvEnv *pEnv){
  struct timespec ts;
  (void)pEnv;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (u64)ts.tv_sec*1000000 + (u64)ts.tv_nsec/1000;
}

static void posixSleepMicros(KvEnv *pEnv, u64 nMicros){
  struct timespec ts;
  (void)pEnv;
  ts.tv_sec = (time_t)(nMicros/1000000);
  ts.tv_nsec = (long)(nMicros%1000000)*1000;
  while( nanosleep(&ts, &ts)!=0 && errno==EINTR ){}
}

static KvEnv gPosixEnv = {
  "posix",
  posixOpen, posixRead, posixAppend, posixSync, posixSize, posixTruncate,
  posixClose, posixRename, posixUnlink, posixExists, posixMkdir, posixRmdir,
  posixSyncDir, posixList, posixLock, posixUnlock, posixLockByte,
  posixLockHeld, posixLockMap, posixFileId,
  posixNowMicros, posixMonoMicros, posixSleepMicros, posixMap
};

KvEnv *kvEnvPosix(void){
  return &gPosixEnv;
}

/* ---------------------------------------------------------------------- */
/* Helpers over any env.                                                   */

int kvEnvReadAll(KvEnv *pEnv, const char *zPath, KvBuf *pBuf){
  KvFile *pFile = 0;
  u64 nSize = 0;
  size_t nRead = 0;
  int rc;
  pBuf->n = 0;
  rc = pEnv->xOpen(pEnv, zPath, KV_OPEN_READ, &pFile);
  if( rc==KV_OK ) rc = pEnv->xSize(pFile, &nSize);
  if( rc==KV_OK ) rc = kvBufReserve(pBuf, (size_t)nSize + 1);
  if( rc==KV_OK ) rc = pEnv->xRead(pFile, 0, pBuf->a, (size_t)nSize, &nRead);
  if( rc==KV_OK ){
    pBuf->n = nRead;
    pBuf->a[nRead] = 0;       /* convenience terminator, not counted */
  }
  if( pFile ){
    int rc2 = pEnv->xClose(pFile);
    if( rc==KV_OK ) rc = rc2;
  }
  return rc;
}

int kvEnvWriteAtomic(KvEnv *pEnv, const char *zDir, const char *zName,
                     const void *p, size_t n){
  char *zTmp = kvMprintf("%s/%s.tmp", zDir, zName);
  char *zFinal = kvMprintf("%s/%s", zDir, zName);
  KvFile *pFile = 0;
  int rc = KV_OK;
  if( zTmp==0 || zFinal==0 ) rc = kvErrNoMem();
  if( rc==KV_OK ) rc = pEnv->xOpen(pEnv, zTmp, KV_OPEN_WRITE, &pFile);
  if( rc==KV_OK ) rc = pEnv->xAppend(pFile, p, n);
  if( rc==KV_OK ) rc = pEnv->xSync(pFile);
  if( pFile ){
    int rc2 = pEnv->xClose(pFile);
    if( rc==KV_OK ) rc = rc2;
  }
  if( rc==KV_OK ) rc = pEnv->xRename(pEnv, zTmp, zFinal);
  if( rc==KV_OK ) rc = pEnv->xSyncDir(pEnv, zDir);
  if( rc!=KV_OK && zTmp ){
    KvErrSave save;
    kvErrSave(&save);
    pEnv->xUnlink(pEnv, zTmp);
    kvErrRestore(&save, rc);
  }
  kvFree(zTmp);
  kvFree(zFinal);
  return rc;
}
