/*
** env.h - the file system as the engine sees it (KvEnv, KvFile) and the
** test env's controls (env_posix.c, env_test.c).
**
** Part of kvInt.h, which includes it after its integer types (as SQLite's
** sqliteInt.h includes pager.h and btree.h): include kvInt.h, not this.
*/
#ifndef KV_ENV_H
#define KV_ENV_H
/*
** The file system. Every function records a kvErr() message naming the
** file and the operation on failure. Paths are full paths.
*/
typedef struct KvEnv KvEnv;
typedef struct KvFile KvFile;
struct KvFile {
  KvEnv *pEnv;                  /* env that opened it */
};

#define KV_OPEN_READ   0x01     /* read-only; fails if missing */
#define KV_OPEN_WRITE  0x02     /* create new, write-only append (O_EXCL,
                                   ** no link followed; a leftover temporary
                                   ** of ours is replaced) */
#define KV_OPEN_APPEND 0x04     /* open existing (create if missing) for
                                ** append, keeping its contents */
#define KV_OPEN_SHARED 0x10     /* with KV_OPEN_APPEND: other processes
                                ** append to the file too (a WAL segment of
                                ** a store open in several processes):
                                ** xClose never cuts it back (its end is
                                ** not this handle's to know) */
#define KV_OPEN_IMMUTABLE 0x20  /* with KV_OPEN_READ: a file that never
                                ** changes (a table): the posix env maps
                                ** it whole at once and may give its
                                ** descriptor back while it is open
                                ** (env_posix.c, "Descriptors") */
#define KV_OPEN_PLAIN  0x08     /* with KV_OPEN_APPEND: write() every
                                ** append, never through a mapping (the
                                ** test env, whose model edits files by
                                ** path under open handles) */

#define KV_LOCK_UNLOCK 0
#define KV_LOCK_SHARED 1
#define KV_LOCK_EXCL   2

struct KvEnv {
  const char *zName;            /* "posix", "test" */
  int (*xOpen)(KvEnv*, const char *zPath, int flags, KvFile **ppFile);
  /* Read up to n bytes at off; *pnRead < n only at end of file. */
  int (*xRead)(KvFile*, u64 off, void *p, size_t n, size_t *pnRead);
  int (*xAppend)(KvFile*, const void *p, size_t n);  /* all or error */
  int (*xSync)(KvFile*);                             /* fdatasync/fsync */
  int (*xSize)(KvFile*, u64 *pnByte);
  int (*xTruncate)(KvFile*, u64 nByte);
  int (*xClose)(KvFile*);       /* always frees; reports close() failure */
  int (*xRename)(KvEnv*, const char *zFrom, const char *zTo);
  int (*xUnlink)(KvEnv*, const char *zPath);     /* missing = KV_OK */
  int (*xExists)(KvEnv*, const char *zPath);     /* 1, 0 */
  int (*xMkdir)(KvEnv*, const char *zPath);      /* exists = KV_OK */
  int (*xRmdir)(KvEnv*, const char *zPath);
  int (*xSyncDir)(KvEnv*, const char *zDir);
  /* Names in zDir (no "." or ".."), free with kvFreeList(). */
  int (*xList)(KvEnv*, const char *zDir, char ***pazName, int *pnName);
  /* Create zPath if needed and take a shared flock on it without
  ** waiting: KV_BUSY "kvstore: '<dir>' is locked by another process" if
  ** another open file description holds it exclusively (a kvstore before
  ** 0.3 takes it exclusively; so does nothing else). Processes of this
  ** version coordinate through xLockByte on the handle (shared.c). */
  int (*xLock)(KvEnv*, const char *zPath, KvFile **ppLock);
  int (*xUnlock)(KvFile *pLock);                 /* releases and closes */
  /* Byte-range lock of one byte of the lock file, owned by the handle (an
  ** open file description: two handles of one process exclude each other
  ** as two processes do; a process that dies loses them). eOp is
  ** KV_LOCK_UNLOCK, KV_LOCK_SHARED or KV_LOCK_EXCL; bWait 0 returns KV_BUSY
  ** at once when another handle holds a conflicting lock. A shared lock
  ** taken over an exclusive one of the same handle downgrades it. */
  int (*xLockByte)(KvFile *pLock, u64 iByte, int eOp, int bWait);
  /* 1 if another handle holds a lock on byte iByte, else 0. */
  int (*xLockHeld)(KvFile *pLock, u64 iByte);
  /* Map the first nByte bytes of the lock file shared and read-write
  ** (growing the file to nByte if needed) until xUnlock. */
  int (*xLockMap)(KvFile *pLock, size_t nByte, void **pp);
  int (*xFileId)(KvEnv*, const char *zPath, u64 *pDev, u64 *pIno);
  u64 (*xNowMicros)(KvEnv*);    /* wall clock, microseconds since epoch */
  u64 (*xMonoMicros)(KvEnv*);   /* monotonic clock, microseconds */
  void (*xSleepMicros)(KvEnv*, u64 nMicros);
  /* Optional (NULL: the env does not map files). Map the first nByte
  ** bytes of a file opened KV_OPEN_READ into memory, read-only, for as
  ** long as the file is open (xClose unmaps). KV_OK with *pp NULL means
  ** "not mapped" (no address space, say): the caller reads with xRead. */
  int (*xMap)(KvFile*, u64 nByte, const u8 **pp);
};
KvEnv *kvEnvPosix(void);        /* process-wide singleton */
void kvFreeList(char **azName, int nName);
/* Convenience: read a whole small file; *pBuf receives it. */
int kvEnvReadAll(KvEnv *pEnv, const char *zPath, KvBuf *pBuf);
/* Write a small file atomically: temp name, fsync, rename, fsync dir. */
int kvEnvWriteAtomic(KvEnv *pEnv, const char *zDir, const char *zName,
                     const void *p, size_t n);

/*
** Test env (env_test.c): wraps another env (normally kvEnvPosix()).
**
** Fault injection: kvTestEnvFail(env, kind, n, err, bPersist) makes the
** n-th operation of `kind` from now (1 = the next one) fail with errno err
** (EIO, ENOSPC); with bPersist every later one of that kind fails too.
** KV_TOP_ANY counts every mutating operation (append, sync, syncdir,
** rename, unlink, truncate, open for write).
**
** Crash points: kvTestEnvCrashAfter(env, n) lets n mutating operations
** succeed and then turns the env "dead": every operation fails with EIO
** (as if the process had died there). Combine with kvTestEnvPowerLoss().
**
** Power loss: kvTestEnvPowerLoss(env, mode) applies what a power cut does
** to everything not made durable: every file is truncated to the length it
** had at its last successful fsync (mode KV_PL_GARBAGE: then extended back
** to its written length with garbage bytes), and every file created or
** renamed since the last fsync of its directory is removed (or returns to
** its old name). Then the env is reset to healthy, counters kept.
** kvTestEnvSetDirSync(env, 0) makes xSyncDir a no-op that reports success
** (so tests can show that a missing directory fsync loses data).
*/
#define KV_TOP_ANY      0
#define KV_TOP_OPEN     1   /* opens for writing */
#define KV_TOP_READ     2
#define KV_TOP_APPEND   3
#define KV_TOP_SYNC     4
#define KV_TOP_SYNCDIR  5
#define KV_TOP_RENAME   6
#define KV_TOP_UNLINK   7
#define KV_TOP_TRUNCATE 8
#define KV_TOP_CLOSE    9
#define KV_TOP_NKIND   10
#define KV_PL_TRUNCATE  0
#define KV_PL_GARBAGE   1
KvEnv *kvTestEnvNew(KvEnv *pBase);              /* NULL on OOM */
void kvTestEnvFree(KvEnv *pEnv);
void kvTestEnvFail(KvEnv *pEnv, int eKind, int n, int err, int bPersist);
void kvTestEnvCrashAfter(KvEnv *pEnv, int n);
void kvTestEnvHeal(KvEnv *pEnv);                /* clear faults and death */
int kvTestEnvIsDead(KvEnv *pEnv);
u64 kvTestEnvCount(KvEnv *pEnv, int eKind);     /* operations so far */
int kvTestEnvPowerLoss(KvEnv *pEnv, int eMode);
void kvTestEnvSetDirSync(KvEnv *pEnv, int bOn);
/* Injected monotonic clock for rate-limiter tests: when set (non-zero),
** xMonoMicros returns it and xSleepMicros advances it. */
void kvTestEnvSetClock(KvEnv *pEnv, u64 nMicros);

#endif /* KV_ENV_H */
