/*
** test_env.c - unit tests of the fault-injecting test env (env_test.c)
** and of the allocation-failure helper (failalloc.h).
**
** Every test works in its own mkdtemp() directory under /tmp and removes
** it. The files are inspected with plain POSIX calls, not through the env,
** so the tests check what is really on disk.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "kvInt.h"
#include "failalloc.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct Fixture Fixture;
struct Fixture {
  char zDir[64];                /* temp directory */
  KvEnv *pEnv;                  /* test env over kvEnvPosix() */
};

static int setupFixture(void **state){
  Fixture *f = calloc(1, sizeof(*f));
  if( f==0 ) return -1;
  tuTempDir(f->zDir, sizeof(f->zDir), "env");
  f->pEnv = kvTestEnvNew(kvEnvPosix());
  if( f->pEnv==0 ){ tuRemoveDir(f->zDir); free(f); return -1; }
  *state = f;
  return 0;
}

static int teardownFixture(void **state){
  Fixture *f = *state;
  kvTestEnvFree(f->pEnv);
  tuRemoveDir(f->zDir);
  free(f);
  return 0;
}

/* "<dir>/<name>" in one of a few rotating static buffers. */
static const char *P(Fixture *f, const char *zName){
  static char azBuf[4][512];
  static int i = 0;
  char *z = azBuf[i++ % 4];
  snprintf(z, 512, "%s/%s", f->zDir, zName);
  return z;
}

/* Fill a with a pattern that depends on iSeed. */
static void pattern(u8 *a, size_t n, int iSeed){
  size_t i;
  for(i=0; i<n; i++) a[i] = (u8)(i*7 + (size_t)iSeed*31 + 1);
}

/* Write n pattern bytes to zPath through the env; sync the file when
** bSync. Returns the first error. */
static int envWrite(KvEnv *pEnv, const char *zPath, int flags, size_t n,
                    int iSeed, int bSync){
  u8 a[4096];
  KvFile *pFile = 0;
  int rc;
  assert_true( n<=sizeof(a) );
  pattern(a, n, iSeed);
  rc = pEnv->xOpen(pEnv, zPath, flags, &pFile);
  if( rc==KV_OK ) rc = pEnv->xAppend(pFile, a, n);
  if( rc==KV_OK && bSync ) rc = pEnv->xSync(pFile);
  if( pFile ){
    int rc2 = pEnv->xClose(pFile);
    if( rc==KV_OK ) rc = rc2;
  }
  return rc;
}

static long diskSize(const char *zPath){
  struct stat st;
  if( stat(zPath, &st)!=0 ) return -1;
  return (long)st.st_size;
}

/* Read the whole file with POSIX calls; returns bytes read, -1 if none. */
static long diskRead(const char *zPath, u8 *a, size_t nMax){
  int fd = open(zPath, O_RDONLY);
  ssize_t n;
  if( fd<0 ) return -1;
  n = read(fd, a, nMax);
  close(fd);
  return (long)n;
}

/* Does zPath hold exactly n pattern bytes of seed iSeed? */
static int diskHasPattern(const char *zPath, size_t n, int iSeed){
  u8 aWant[4096], aGot[8192];
  long nGot = diskRead(zPath, aGot, sizeof(aGot));
  pattern(aWant, n, iSeed);
  return nGot==(long)n && memcmp(aWant, aGot, n)==0;
}

/* Create a file directly on disk (not through the env). */
static void diskWrite(const char *zPath, size_t n, int iSeed){
  u8 a[4096];
  int fd = open(zPath, O_WRONLY|O_CREAT|O_TRUNC, 0644);
  assert_true( fd>=0 );
  pattern(a, n, iSeed);
  assert_int_equal( write(fd, a, n), (ssize_t)n );
  close(fd);
}

/* ---------------------------------------------------------------------- */

static void test_counts(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = 0;
  u8 a[16];
  size_t nRead = 0;
  int i;
  for(i=0; i<KV_TOP_NKIND; i++) assert_int_equal(kvTestEnvCount(e, i), 0);

  assert_int_equal(e->xOpen(e, P(f,"a"), KV_OPEN_WRITE, &pFile), KV_OK);
  assert_int_equal(e->xAppend(pFile, "hello", 5), KV_OK);
  assert_int_equal(e->xAppend(pFile, "world", 5), KV_OK);
  assert_int_equal(e->xSync(pFile), KV_OK);
  assert_int_equal(e->xTruncate(pFile, 8), KV_OK);
  assert_int_equal(e->xClose(pFile), KV_OK);
  assert_int_equal(e->xOpen(e, P(f,"a"), KV_OPEN_READ, &pFile), KV_OK);
  assert_int_equal(e->xRead(pFile, 0, a, sizeof(a), &nRead), KV_OK);
  assert_int_equal(nRead, 8);
  assert_memory_equal(a, "hellowor", 8);
  assert_int_equal(e->xClose(pFile), KV_OK);
  assert_int_equal(e->xRename(e, P(f,"a"), P(f,"b")), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  assert_int_equal(e->xUnlink(e, P(f,"b")), KV_OK);

  assert_int_equal(kvTestEnvCount(e, KV_TOP_OPEN), 1);   /* writes only */
  assert_int_equal(kvTestEnvCount(e, KV_TOP_APPEND), 2);
  assert_int_equal(kvTestEnvCount(e, KV_TOP_SYNC), 1);
  assert_int_equal(kvTestEnvCount(e, KV_TOP_TRUNCATE), 1);
  assert_int_equal(kvTestEnvCount(e, KV_TOP_READ), 1);
  assert_int_equal(kvTestEnvCount(e, KV_TOP_CLOSE), 2);
  assert_int_equal(kvTestEnvCount(e, KV_TOP_RENAME), 1);
  assert_int_equal(kvTestEnvCount(e, KV_TOP_SYNCDIR), 1);
  assert_int_equal(kvTestEnvCount(e, KV_TOP_UNLINK), 1);
  /* open-for-write, 2 appends, sync, truncate, rename, syncdir, unlink */
  assert_int_equal(kvTestEnvCount(e, KV_TOP_ANY), 8);
  assert_int_equal(e->xExists(e, P(f,"b")), 0);
  assert_string_equal(e->zName, "test");
}

static void test_fail_nth_eio(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = 0;
  assert_int_equal(e->xOpen(e, P(f,"wal"), KV_OPEN_WRITE, &pFile), KV_OK);
  kvTestEnvFail(e, KV_TOP_APPEND, 2, EIO, 0);
  assert_int_equal(e->xAppend(pFile, "aa", 2), KV_OK);
  assert_int_equal(e->xAppend(pFile, "bb", 2), KV_IOERR);
  assert_non_null(strstr(kvErrMsg(), "kvstore: write failed on '"));
  assert_non_null(strstr(kvErrMsg(), P(f,"wal")));
  assert_int_equal(e->xAppend(pFile, "cc", 2), KV_OK);   /* not persistent */
  assert_int_equal(e->xClose(pFile), KV_OK);
  /* The failed append tore: one of its two bytes reached the file. */
  assert_int_equal(diskSize(P(f,"wal")), 5);
}

static void test_fail_enospc(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = 0;
  assert_int_equal(e->xOpen(e, P(f,"x"), KV_OPEN_WRITE, &pFile), KV_OK);
  kvTestEnvFail(e, KV_TOP_APPEND, 1, ENOSPC, 0);
  assert_int_equal(e->xAppend(pFile, "abcd", 4), KV_FULL);
  assert_non_null(strstr(kvErrMsg(), "write failed on"));
  assert_non_null(strstr(kvErrMsg(), P(f,"x")));
  kvTestEnvFail(e, KV_TOP_SYNC, 1, ENOSPC, 0);
  assert_int_equal(e->xSync(pFile), KV_FULL);
  assert_non_null(strstr(kvErrMsg(), "fsync failed on"));
  assert_int_equal(e->xSync(pFile), KV_OK);
  assert_int_equal(e->xClose(pFile), KV_OK);

  kvTestEnvFail(e, KV_TOP_OPEN, 1, EIO, 0);
  assert_int_equal(e->xOpen(e, P(f,"y"), KV_OPEN_WRITE, &pFile), KV_IOERR);
  assert_null(pFile);
  assert_non_null(strstr(kvErrMsg(), "open failed on"));
  assert_non_null(strstr(kvErrMsg(), P(f,"y")));
  assert_int_equal(diskSize(P(f,"y")), -1);        /* nothing was created */

  kvTestEnvFail(e, KV_TOP_SYNCDIR, 1, EIO, 0);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_IOERR);
  assert_non_null(strstr(kvErrMsg(), f->zDir));
}

static void test_fail_persistent(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  int i;
  assert_int_equal(envWrite(e, P(f,"a"), KV_OPEN_WRITE, 10, 1, 1), KV_OK);
  kvTestEnvFail(e, KV_TOP_RENAME, 2, EIO, 1);
  assert_int_equal(e->xRename(e, P(f,"a"), P(f,"b")), KV_OK);
  for(i=0; i<5; i++){
    assert_int_equal(e->xRename(e, P(f,"b"), P(f,"c")), KV_IOERR);
    assert_non_null(strstr(kvErrMsg(), "rename failed on"));
  }
  assert_int_equal(diskSize(P(f,"b")), 10);     /* refused = not done */
  /* Other kinds are unaffected. */
  assert_int_equal(e->xUnlink(e, P(f,"zz")), KV_OK);
  kvTestEnvHeal(e);
  assert_int_equal(e->xRename(e, P(f,"b"), P(f,"c")), KV_OK);
  assert_int_equal(diskSize(P(f,"c")), 10);
  assert_int_equal(kvTestEnvCount(e, KV_TOP_RENAME), 7);
}

static void test_fail_any(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = 0;
  u8 a[4];
  size_t nRead;
  /* The 3rd mutating operation fails, whatever its kind. */
  kvTestEnvFail(e, KV_TOP_ANY, 3, EIO, 0);
  assert_int_equal(e->xOpen(e, P(f,"a"), KV_OPEN_WRITE, &pFile), KV_OK);
  assert_int_equal(e->xAppend(pFile, "abcd", 4), KV_OK);
  /* Read-only opens, reads and closes are not mutating: they do not move
  ** the count. */
  {
    KvFile *pRead = 0;
    assert_int_equal(e->xOpen(e, P(f,"a"), KV_OPEN_READ, &pRead), KV_OK);
    assert_int_equal(e->xRead(pRead, 0, a, 4, &nRead), KV_OK);
    assert_int_equal(e->xClose(pRead), KV_OK);
  }
  assert_int_equal(e->xSync(pFile), KV_IOERR);
  assert_int_equal(e->xSync(pFile), KV_OK);
  assert_int_equal(e->xClose(pFile), KV_OK);

  /* Read failures. */
  assert_int_equal(e->xOpen(e, P(f,"a"), KV_OPEN_READ, &pFile), KV_OK);
  kvTestEnvFail(e, KV_TOP_READ, 1, EIO, 0);
  assert_int_equal(e->xRead(pFile, 0, a, 4, &nRead), KV_IOERR);
  assert_int_equal(nRead, 0);
  assert_non_null(strstr(kvErrMsg(), "read failed on"));
  assert_int_equal(e->xRead(pFile, 0, a, 4, &nRead), KV_OK);
  assert_int_equal(nRead, 4);
  /* A failing close still releases the handle (ASan checks the leak). */
  kvTestEnvFail(e, KV_TOP_CLOSE, 1, EIO, 0);
  assert_int_equal(e->xClose(pFile), KV_IOERR);
}

static void test_partial_append(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = 0;
  u8 a[100], b[200];
  pattern(a, sizeof(a), 3);
  assert_int_equal(e->xOpen(e, P(f,"p"), KV_OPEN_WRITE, &pFile), KV_OK);
  kvTestEnvFail(e, KV_TOP_APPEND, 1, EIO, 0);
  assert_int_equal(e->xAppend(pFile, a, sizeof(a)), KV_IOERR);
  assert_int_equal(e->xClose(pFile), KV_OK);
  assert_int_equal(diskRead(P(f,"p"), b, sizeof(b)), 50);
  assert_memory_equal(a, b, 50);
}

static void test_crash_after(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = 0;
  KvFile *pRead = 0;
  u8 a[8];
  size_t nRead;
  char **az = 0;
  int nName = 0;

  assert_int_equal(envWrite(e, P(f,"old"), KV_OPEN_WRITE, 4, 1, 1), KV_OK);
  assert_int_equal(e->xOpen(e, P(f,"old"), KV_OPEN_READ, &pRead), KV_OK);
  kvTestEnvCrashAfter(e, 2);
  assert_int_equal(e->xOpen(e, P(f,"c"), KV_OPEN_WRITE, &pFile), KV_OK);
  assert_int_equal(kvTestEnvIsDead(e), 0);
  assert_int_equal(e->xRead(pRead, 0, a, 4, &nRead), KV_OK);  /* not mut. */
  assert_int_equal(e->xAppend(pFile, "abc", 3), KV_OK);
  /* The process "died" right after the second operation. */
  assert_int_equal(kvTestEnvIsDead(e), 1);
  assert_int_equal(e->xAppend(pFile, "def", 3), KV_IOERR);
  assert_int_equal(e->xSync(pFile), KV_IOERR);
  assert_int_equal(e->xRead(pRead, 0, a, 4, &nRead), KV_IOERR);
  {
    KvFile *p2 = 0;
    assert_int_equal(e->xOpen(e, P(f,"old"), KV_OPEN_READ, &p2), KV_IOERR);
    assert_null(p2);
  }
  assert_int_equal(e->xRename(e, P(f,"c"), P(f,"d")), KV_IOERR);
  assert_int_equal(e->xUnlink(e, P(f,"old")), KV_IOERR);
  assert_int_equal(e->xList(e, f->zDir, &az, &nName), KV_IOERR);
  assert_int_equal(e->xExists(e, P(f,"old")), 0);
  /* Nothing after the crash reached the disk. */
  assert_int_equal(diskSize(P(f,"c")), 3);
  assert_int_equal(diskSize(P(f,"old")), 4);
  assert_int_equal(diskSize(P(f,"d")), -1);
  /* Handles can still be released. */
  assert_int_equal(e->xClose(pFile), KV_IOERR);
  assert_int_equal(e->xClose(pRead), KV_IOERR);

  kvTestEnvHeal(e);
  assert_int_equal(kvTestEnvIsDead(e), 0);
  assert_int_equal(e->xExists(e, P(f,"old")), 1);
  kvTestEnvCrashAfter(e, 0);
  assert_int_equal(kvTestEnvIsDead(e), 1);
  kvTestEnvHeal(e);
}

/* ---------------------------------------------------------------------- */
/* Power loss.                                                             */

static void test_pl_unsynced_tail(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = 0;
  u8 a[300];
  pattern(a, sizeof(a), 5);
  assert_int_equal(e->xOpen(e, P(f,"log"), KV_OPEN_WRITE, &pFile), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  assert_int_equal(e->xAppend(pFile, a, 100), KV_OK);
  assert_int_equal(e->xSync(pFile), KV_OK);
  assert_int_equal(e->xAppend(pFile, a+100, 50), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(P(f,"log"), 100, 5));
  /* The old handle is stale: it fails without crashing; close works. */
  assert_int_equal(e->xAppend(pFile, a, 10), KV_IOERR);
  assert_non_null(strstr(kvErrMsg(), "power loss"));
  assert_int_equal(e->xSync(pFile), KV_IOERR);
  assert_int_equal(diskSize(P(f,"log")), 100);
  assert_int_equal(e->xClose(pFile), KV_OK);
}

static void test_pl_created_files(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  /* Synced file, directory not synced: the name is lost. */
  assert_int_equal(envWrite(e, P(f,"lost"), KV_OPEN_WRITE, 64, 1, 1), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_int_equal(diskSize(P(f,"lost")), -1);

  /* Synced file and directory: kept whole. Directory synced but file not:
  ** kept, empty. */
  assert_int_equal(envWrite(e, P(f,"kept"), KV_OPEN_WRITE, 64, 2, 1), KV_OK);
  assert_int_equal(envWrite(e, P(f,"empty"), KV_OPEN_APPEND, 64, 3, 0),
                   KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  assert_int_equal(envWrite(e, P(f,"late"), KV_OPEN_WRITE, 64, 4, 1), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(P(f,"kept"), 64, 2));
  assert_int_equal(diskSize(P(f,"empty")), 0);
  assert_int_equal(diskSize(P(f,"late")), -1);
}

static void test_pl_preexisting(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  /* Files the env never saw are durable; unsynced appends to them go. */
  diskWrite(P(f,"pre1"), 40, 6);
  diskWrite(P(f,"pre2"), 40, 7);
  assert_int_equal(envWrite(e, P(f,"pre1"), KV_OPEN_APPEND, 20, 8, 0), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(P(f,"pre1"), 40, 6));
  assert_true(diskHasPattern(P(f,"pre2"), 40, 7));
}

/* A truncate is a size change: not durable until the next fsync. */
static void test_pl_truncate_unsynced(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = 0;
  u8 a[200];
  pattern(a, sizeof(a), 11);
  assert_int_equal(e->xOpen(e, P(f,"t"), KV_OPEN_WRITE, &pFile), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  assert_int_equal(e->xAppend(pFile, a, 200), KV_OK);
  assert_int_equal(e->xSync(pFile), KV_OK);
  assert_int_equal(e->xTruncate(pFile, 50), KV_OK);
  assert_int_equal(diskSize(P(f,"t")), 50);
  assert_int_equal(e->xClose(pFile), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(P(f,"t"), 200, 11));

  /* Followed by an fsync, the truncate is durable. */
  assert_int_equal(e->xOpen(e, P(f,"t"), KV_OPEN_APPEND|KV_OPEN_PLAIN,
                            &pFile), KV_OK);
  assert_int_equal(e->xTruncate(pFile, 50), KV_OK);
  assert_int_equal(e->xSync(pFile), KV_OK);
  assert_int_equal(e->xClose(pFile), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(P(f,"t"), 50, 11));
}

/* Open KV_OPEN_APPEND (mapped and preallocated by kvEnvPosix), append n
** pattern bytes of seed 12, fsync; the file then is bigger on disk. */
static KvFile *preallocated(Fixture *f, const char *zName, size_t n){
  KvEnv *e = f->pEnv;
  KvFile *pFile = 0;
  u8 a[100];
  assert_true(n<=sizeof(a));
  pattern(a, n, 12);
  assert_int_equal(e->xOpen(e, P(f,zName), KV_OPEN_APPEND, &pFile), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  assert_int_equal(e->xAppend(pFile, a, n), KV_OK);
  assert_int_equal(e->xSync(pFile), KV_OK);
  assert_true(diskSize(P(f,zName))>(long)n);
  return pFile;
}

/* The fsync made the preallocated size durable; the cut to the logical
** size at close was never synced, so a power cut brings the zeros back
** (what a WAL segment closed without an fsync looks like afterwards). */
static void test_pl_prealloc_cut_unsynced(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = preallocated(f, "seg", 100);
  long nAlloc = diskSize(P(f,"seg"));
  u8 aGot[100];
  u8 aWant[100];
  u8 aZero[64];
  int fd;
  assert_int_equal(e->xClose(pFile), KV_OK);
  assert_int_equal(diskSize(P(f,"seg")), 100);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_int_equal(diskSize(P(f,"seg")), nAlloc);
  pattern(aWant, 100, 12);
  assert_int_equal(diskRead(P(f,"seg"), aGot, 100), 100);
  assert_memory_equal(aGot, aWant, 100);
  memset(aZero, 0, sizeof(aZero));
  fd = open(P(f,"seg"), O_RDONLY);
  assert_true(fd>=0);
  assert_int_equal(pread(fd, aGot, 64, (off_t)(nAlloc - 64)), 64);
  close(fd);
  assert_memory_equal(aGot, aZero, 64);

  /* Cut, then fsync: the cut is durable. */
  pFile = preallocated(f, "seg2", 100);
  assert_int_equal(e->xTruncate(pFile, 60), KV_OK);
  assert_int_equal(e->xSync(pFile), KV_OK);
  assert_int_equal(e->xClose(pFile), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(P(f,"seg2"), 60, 12));
}

/* A dead process cuts nothing: closing a handle after the crash leaves
** the preallocated size on disk. */
static void test_pl_dead_close_keeps_size(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = preallocated(f, "seg", 100);
  long nAlloc = diskSize(P(f,"seg"));
  kvTestEnvCrashAfter(e, 0);
  assert_int_equal(e->xClose(pFile), KV_IOERR);
  assert_int_equal(diskSize(P(f,"seg")), nAlloc);
}

/* A handle opened before the loss cannot change the restored file. */
static void test_pl_stale_close_harmless(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = preallocated(f, "seg", 100);
  long nAlloc = diskSize(P(f,"seg"));
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_int_equal(diskSize(P(f,"seg")), nAlloc);
  assert_int_equal(e->xClose(pFile), KV_OK);
  assert_int_equal(diskSize(P(f,"seg")), nAlloc);
}

/* A new directory's entry is in its parent: lost with everything in it
** unless the parent is fsynced. */
static void test_pl_mkdir(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  assert_int_equal(e->xMkdir(e, P(f,"sub")), KV_OK);
  assert_int_equal(envWrite(e, P(f,"sub/x"), KV_OPEN_WRITE, 64, 13, 1),
                   KV_OK);
  assert_int_equal(e->xSyncDir(e, P(f,"sub")), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_int_equal(diskSize(P(f,"sub/x")), -1);
  assert_int_equal(access(P(f,"sub"), F_OK), -1);

  /* With the parent fsynced, the directory and its synced file stay. */
  assert_int_equal(e->xMkdir(e, P(f,"sub")), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  assert_int_equal(envWrite(e, P(f,"sub/x"), KV_OPEN_WRITE, 64, 13, 1),
                   KV_OK);
  assert_int_equal(e->xSyncDir(e, P(f,"sub")), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(P(f,"sub/x"), 64, 13));

  /* An existing directory is not new: xMkdir of it changes nothing. */
  assert_int_equal(e->xMkdir(e, P(f,"sub")), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(P(f,"sub/x"), 64, 13));
}

static void test_pl_unlink(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  diskWrite(P(f,"u1"), 30, 1);
  diskWrite(P(f,"u2"), 30, 2);
  assert_int_equal(e->xUnlink(e, P(f,"u1")), KV_OK);
  assert_int_equal(e->xUnlink(e, P(f,"u2")), KV_OK);
  assert_int_equal(diskSize(P(f,"u1")), -1);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  /* Not made durable by a directory fsync: both come back. */
  assert_true(diskHasPattern(P(f,"u1"), 30, 1));
  assert_true(diskHasPattern(P(f,"u2"), 30, 2));
  assert_int_equal(e->xUnlink(e, P(f,"u1")), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_int_equal(diskSize(P(f,"u1")), -1);
}

static void test_pl_rename(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  /* A durable file renamed without a directory fsync goes back. */
  assert_int_equal(envWrite(e, P(f,"A"), KV_OPEN_WRITE, 50, 1, 1), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  assert_int_equal(e->xRename(e, P(f,"A"), P(f,"B")), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(P(f,"A"), 50, 1));
  assert_int_equal(diskSize(P(f,"B")), -1);

  /* Write tmp, fsync, rename over a durable file, no directory fsync:
  ** the old content survives and the temporary is gone. */
  diskWrite(P(f,"CURRENT"), 20, 2);
  assert_int_equal(envWrite(e, P(f,"CURRENT.tmp"), KV_OPEN_WRITE, 25, 3, 1),
                   KV_OK);
  assert_int_equal(e->xRename(e, P(f,"CURRENT.tmp"), P(f,"CURRENT")), KV_OK);
  assert_true(diskHasPattern(P(f,"CURRENT"), 25, 3));
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(P(f,"CURRENT"), 20, 2));
  assert_int_equal(diskSize(P(f,"CURRENT.tmp")), -1);

  /* The same with the directory fsync: the new content is durable. */
  assert_int_equal(kvEnvWriteAtomic(e, f->zDir, "CURRENT", "new!", 4), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  {
    u8 a[16];
    assert_int_equal(diskRead(P(f,"CURRENT"), a, sizeof(a)), 4);
    assert_memory_equal(a, "new!", 4);
  }
  assert_int_equal(diskSize(P(f,"CURRENT.tmp")), -1);

  /* Rename of a file whose data was never synced: after the directory
  ** fsync the name exists but holds nothing. */
  assert_int_equal(envWrite(e, P(f,"t"), KV_OPEN_WRITE, 40, 4, 0), KV_OK);
  assert_int_equal(e->xRename(e, P(f,"t"), P(f,"u")), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_int_equal(diskSize(P(f,"u")), 0);
  assert_int_equal(diskSize(P(f,"t")), -1);
}

static void test_pl_truncating_open(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  /* Reopening a durable file with KV_OPEN_WRITE: until the next fsync,
  ** the old bytes are what survives. */
  diskWrite(P(f,"f"), 60, 1);
  assert_int_equal(envWrite(e, P(f,"f"), KV_OPEN_WRITE, 10, 2, 0), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(P(f,"f"), 60, 1));
  assert_int_equal(envWrite(e, P(f,"f"), KV_OPEN_WRITE, 10, 2, 1), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(P(f,"f"), 10, 2));
}

static void test_pl_garbage(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = 0;
  u8 a[300], b[600];
  int i, nDiff = 0;
  pattern(a, sizeof(a), 9);
  assert_int_equal(e->xOpen(e, P(f,"g"), KV_OPEN_WRITE, &pFile), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  assert_int_equal(e->xAppend(pFile, a, 100), KV_OK);
  assert_int_equal(e->xSync(pFile), KV_OK);
  assert_int_equal(e->xAppend(pFile, a+100, 200), KV_OK);
  assert_int_equal(e->xClose(pFile), KV_OK);
  /* A fully synced file is left alone. */
  assert_int_equal(envWrite(e, P(f,"ok"), KV_OPEN_WRITE, 80, 1, 1), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);

  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_GARBAGE), KV_OK);
  assert_int_equal(diskRead(P(f,"g"), b, sizeof(b)), 300);
  assert_memory_equal(a, b, 100);
  for(i=100; i<300; i++) nDiff += a[i]!=b[i];
  assert_true(nDiff>150);
  assert_true(diskHasPattern(P(f,"ok"), 80, 1));
}

static void test_pl_no_dirsync(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  kvTestEnvSetDirSync(e, 0);
  assert_int_equal(envWrite(e, P(f,"n"), KV_OPEN_WRITE, 64, 1, 1), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);    /* reports success */
  assert_int_equal(kvTestEnvCount(e, KV_TOP_SYNCDIR), 1);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_int_equal(diskSize(P(f,"n")), -1);
  kvTestEnvSetDirSync(e, 1);
  assert_int_equal(envWrite(e, P(f,"n"), KV_OPEN_WRITE, 64, 1, 1), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(P(f,"n"), 64, 1));
}

static void test_pl_heals(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = 0;
  kvTestEnvFail(e, KV_TOP_SYNC, 1, EIO, 1);
  assert_int_equal(envWrite(e, P(f,"h"), KV_OPEN_WRITE, 10, 1, 0), KV_OK);
  kvTestEnvCrashAfter(e, 0);
  assert_int_equal(kvTestEnvIsDead(e), 1);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_int_equal(kvTestEnvIsDead(e), 0);
  assert_int_equal(kvTestEnvCount(e, KV_TOP_OPEN), 1);     /* kept */
  /* Faults are gone, and the loss made everything on disk durable. */
  assert_int_equal(envWrite(e, P(f,"h2"), KV_OPEN_WRITE, 10, 2, 1), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  assert_int_equal(e->xOpen(e, P(f,"h2"), KV_OPEN_APPEND, &pFile), KV_OK);
  assert_int_equal(e->xAppend(pFile, "zz", 2), KV_OK);
  assert_int_equal(e->xClose(pFile), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(P(f,"h2"), 10, 2));
  assert_int_equal(diskSize(P(f,"h")), -1);     /* removed by first loss */
}

static void test_pl_crash_then_loss(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = 0;
  /* The crash-point pattern of the engine tests: die mid-way, lose
  ** power, and find exactly the durable prefix. */
  assert_int_equal(e->xOpen(e, P(f,"w"), KV_OPEN_WRITE, &pFile), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  kvTestEnvCrashAfter(e, 3);
  assert_int_equal(e->xAppend(pFile, "0123456789", 10), KV_OK);
  assert_int_equal(e->xSync(pFile), KV_OK);
  assert_int_equal(e->xAppend(pFile, "abcdefghij", 10), KV_OK);
  assert_int_equal(e->xSync(pFile), KV_IOERR);
  assert_int_equal(diskSize(P(f,"w")), 20);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_int_equal(diskSize(P(f,"w")), 10);
  assert_int_equal(e->xClose(pFile), KV_OK);
}

static void test_pl_subdir_and_paths(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  char zSub[512], zFile[600], zAlias[600];
  /* The directory fsync of one directory does not cover another, and
  ** differently spelled paths of one file are the same file. */
  snprintf(zSub, sizeof(zSub), "%s/sub", f->zDir);
  assert_int_equal(e->xMkdir(e, zSub), KV_OK);
  snprintf(zFile, sizeof(zFile), "%s/x", zSub);
  snprintf(zAlias, sizeof(zAlias), "%s//sub/./x", f->zDir);
  assert_int_equal(envWrite(e, zFile, KV_OPEN_WRITE, 32, 1, 1), KV_OK);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_int_equal(diskSize(zFile), -1);
  assert_int_equal(envWrite(e, zFile, KV_OPEN_WRITE, 32, 1, 1), KV_OK);
  assert_int_equal(e->xSyncDir(e, zSub), KV_OK);
  assert_int_equal(envWrite(e, zAlias, KV_OPEN_APPEND, 8, 2, 0), KV_OK);
  assert_int_equal(diskSize(zFile), 40);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  assert_true(diskHasPattern(zFile, 32, 1));
}

/* ---------------------------------------------------------------------- */

static void test_clock(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  u64 t0, t1;
  kvTestEnvSetClock(e, 1000);
  assert_int_equal(e->xMonoMicros(e), 1000);
  e->xSleepMicros(e, 60*1000000ULL);      /* a minute, instantly */
  assert_int_equal(e->xMonoMicros(e), 1000 + 60*1000000ULL);
  kvTestEnvSetClock(e, 0);
  t0 = e->xMonoMicros(e);
  e->xSleepMicros(e, 2000);
  t1 = e->xMonoMicros(e);
  assert_true(t1>=t0+2000);
  assert_true(e->xNowMicros(e) > 1600000000ULL*1000000ULL);
}

typedef struct ThreadArg ThreadArg;
struct ThreadArg {
  KvEnv *pEnv;
  char zPath[512];
  int rc;
};

static void *appendThread(void *pArg){
  ThreadArg *t = pArg;
  KvFile *pFile = 0;
  int i;
  t->rc = t->pEnv->xOpen(t->pEnv, t->zPath, KV_OPEN_WRITE, &pFile);
  for(i=0; t->rc==KV_OK && i<500; i++){
    t->rc = t->pEnv->xAppend(pFile, "0123456789", 10);
    if( t->rc==KV_OK && i%50==0 ) t->rc = t->pEnv->xSync(pFile);
  }
  if( pFile ) t->pEnv->xClose(pFile);
  return 0;
}

static void test_threads(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  pthread_t aThread[4];
  ThreadArg aArg[4];
  int i;
  for(i=0; i<4; i++){
    char zName[16];
    snprintf(zName, sizeof(zName), "t%d", i);
    aArg[i].pEnv = e;
    snprintf(aArg[i].zPath, sizeof(aArg[i].zPath), "%s", P(f, zName));
    assert_int_equal(pthread_create(&aThread[i], 0, appendThread, &aArg[i]),
                     0);
  }
  for(i=0; i<4; i++){
    pthread_join(aThread[i], 0);
    assert_int_equal(aArg[i].rc, KV_OK);
    assert_int_equal(diskSize(aArg[i].zPath), 5000);
  }
  assert_int_equal(kvTestEnvCount(e, KV_TOP_APPEND), 2000);
  assert_int_equal(kvTestEnvCount(e, KV_TOP_SYNC), 40);
  assert_int_equal(e->xSyncDir(e, f->zDir), KV_OK);
  assert_int_equal(kvTestEnvPowerLoss(e, KV_PL_TRUNCATE), KV_OK);
  /* Last sync at i=450, after 451 appends. */
  for(i=0; i<4; i++) assert_int_equal(diskSize(aArg[i].zPath), 4510);
}

/* ---------------------------------------------------------------------- */
/* failalloc.h                                                             */

static void test_failalloc_nth(void **state){
  void *a[6];
  (void)state;
  failallocInstall(3, 0);
  a[0] = kvMalloc(10);
  a[1] = kvMalloc(10);
  a[2] = kvMalloc(10);
  a[3] = kvMalloc(10);
  assert_non_null(a[0]);
  assert_non_null(a[1]);
  assert_null(a[2]);
  assert_non_null(a[3]);
  assert_int_equal(failallocCount(), 4);
  assert_int_equal(failallocFailed(), 1);
  assert_int_equal(failallocOutstanding(), 3);
  /* kvRealloc counts as an allocation and keeps the block on failure. */
  failallocArm(1, 0);
  assert_null(kvRealloc(a[0], 100));
  a[0] = kvRealloc(a[0], 100);
  assert_non_null(a[0]);
  assert_int_equal(failallocOutstanding(), 3);
  kvFree(a[0]);
  kvFree(a[1]);
  kvFree(a[3]);
  assert_int_equal(failallocOutstanding(), 0);
  failallocRemove();
  assert_int_equal(failallocCount(), 6);
  assert_int_equal(failallocFailed(), 2);
}

static void test_failalloc_persist(void **state){
  void *a[5];
  int i;
  (void)state;
  failallocInstall(3, 1);
  for(i=0; i<5; i++) a[i] = kvMalloc(8);
  assert_non_null(a[0]);
  assert_non_null(a[1]);
  for(i=2; i<5; i++) assert_null(a[i]);
  assert_null(kvStrdup("x"));
  assert_int_equal(failallocFailed(), 4);
  assert_int_equal(failallocOutstanding(), 2);
  for(i=0; i<5; i++) kvFree(a[i]);
  assert_int_equal(failallocOutstanding(), 0);
  failallocRemove();
}

static void test_failalloc_leak_and_mix(void **state){
  KvBuf buf = {0, 0, 0};
  void *pBefore;
  void *pDuring;
  int i;
  (void)state;
  /* Blocks from before Install may be freed under it, and blocks live at
  ** Remove stay ordinary heap blocks. */
  pBefore = kvMalloc(32);
  failallocInstall(0, 0);
  for(i=0; i<5000; i++){
    assert_int_equal(kvBufAppend32(&buf, (u32)i), KV_OK);
  }
  pDuring = kvMalloc(16);
  kvFree(pBefore);
  assert_int_equal(failallocOutstanding(), 2);   /* buf and pDuring */
  kvBufFree(&buf);
  assert_int_equal(failallocOutstanding(), 1);
  assert_int_equal(failallocFailed(), 0);
  failallocRemove();
  kvFree(pDuring);

  /* Many live blocks: the set grows and shrinks correctly. */
  {
    void **ap;
    failallocInstall(0, 0);
    ap = kvMalloc(sizeof(void*)*10000);
    for(i=0; i<10000; i++) ap[i] = kvMalloc((size_t)(i%64) + 1);
    assert_int_equal(failallocOutstanding(), 10001);
    for(i=0; i<10000; i+=2) kvFree(ap[i]);
    assert_int_equal(failallocOutstanding(), 5001);
    for(i=1; i<10000; i+=2) kvFree(ap[i]);
    kvFree(ap);
    assert_int_equal(failallocOutstanding(), 0);
    failallocRemove();
  }
}

static void test_failalloc_env(void **state){
  Fixture *f = *state;
  KvEnv *e = f->pEnv;
  KvFile *pFile = 0;
  int n, i, nFail = 0;
  (void)state;
  /* Count the allocations of an open, then fail each in turn: the open
  ** fails cleanly with KV_NOMEM and leaks nothing. */
  failallocInstall(0, 0);
  assert_int_equal(e->xOpen(e, P(f,"m"), KV_OPEN_WRITE, &pFile), KV_OK);
  assert_int_equal(e->xClose(pFile), KV_OK);
  n = failallocCount();
  assert_true(n>=1);
  assert_int_equal(failallocOutstanding(), 0);
  for(i=1; i<=n; i++){
    failallocInstall(i, 0);
    pFile = 0;
    if( e->xOpen(e, P(f,"m"), KV_OPEN_WRITE, &pFile)==KV_NOMEM ){
      nFail++;
      assert_null(pFile);
    }else{
      e->xClose(pFile);
    }
    assert_int_equal(failallocOutstanding(), 0);
  }
  failallocRemove();
  assert_int_equal(nFail, n);
}

/*
** posix xMap: the mapping shows the file's bytes, asking again (for no
** more bytes) returns the same mapping, asking past it returns NULL (the
** caller reads instead). The test env does not map, so its fault
** injection sees every read.
*/
static void test_posix_map(void **state){
  Fixture *f = (Fixture*)*state;
  KvEnv *pPosix = kvEnvPosix();
  KvFile *pFile = 0;
  const u8 *a = 0, *a2 = 0;
  u8 aWant[3000];
  diskWrite(P(f, "m"), sizeof(aWant), 5);
  pattern(aWant, sizeof(aWant), 5);
  assert_non_null(pPosix->xMap);
  assert_int_equal(pPosix->xOpen(pPosix, P(f, "m"), KV_OPEN_READ, &pFile),
                   KV_OK);
  assert_int_equal(pPosix->xMap(pFile, sizeof(aWant), &a), KV_OK);
  assert_non_null(a);
  assert_memory_equal(a, aWant, sizeof(aWant));
  assert_int_equal(pPosix->xMap(pFile, 100, &a2), KV_OK);
  assert_ptr_equal(a2, a);
  assert_int_equal(pPosix->xMap(pFile, sizeof(aWant)+1, &a2), KV_OK);
  assert_null(a2);
  assert_int_equal(pPosix->xClose(pFile), KV_OK);
  assert_null(f->pEnv->xMap);
}

/* Descriptors of this process now. */
static int openFds(void){
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  assert_non_null(d);
  while( readdir(d) ) n++;
  closedir(d);
  return n - 3;                 /* ".", ".." and the directory's own */
}

#define IMM_FILES 100
#define IMM_SIZE  4000        /* diskWrite writes at most 4096 */

typedef struct ImmReader ImmReader;
struct ImmReader {
  KvFile **apFile;
  int nFile;                    /* read apFile[0..nFile) */
  int iSeed;
  int nBad;
};

/* Read every file whole and compare; count mismatches. */
static void *immReadAll(void *pArg){
  ImmReader *r = (ImmReader*)pArg;
  KvEnv *pPosix = kvEnvPosix();
  u8 aGot[IMM_SIZE], aWant[IMM_SIZE];
  int i, j;
  for(j=0; j<20; j++){
    for(i=0; i<r->nFile; i++){
      size_t n = 0;
      int k = (i*7 + j + r->iSeed) % r->nFile;
      pattern(aWant, sizeof(aWant), k);
      if( pPosix->xRead(r->apFile[k], 0, aGot, sizeof(aGot), &n)!=KV_OK
       || n!=sizeof(aGot) || memcmp(aGot, aWant, n)!=0 ){
        r->nBad++;
      }
    }
  }
  return 0;
}

/*
** KV_OPEN_IMMUTABLE files (tables) are mapped whole at open and keep their
** descriptors for at most half the soft RLIMIT_NOFILE: past it the least
** recently read gives its descriptor back, and its reads copy from the
** map, also after the file is unlinked, and also while other threads
** read and open (TSan: the descriptor is never closed under a read).
*/
static void test_posix_immutable_gives_descriptors_back(void **state){
  Fixture *f = (Fixture*)*state;
  KvEnv *pPosix = kvEnvPosix();
  KvFile *apFile[IMM_FILES];
  struct rlimit rlOld, rl;
  char zName[32];
  int i, nBefore, nMax = 0;
  pthread_t aThread[3];
  ImmReader aR[3];

  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rlOld), 0);
  rl = rlOld;
  rl.rlim_cur = 64;             /* a budget of 32 */
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
  nBefore = openFds();
  for(i=0; i<IMM_FILES; i++){
    snprintf(zName, sizeof(zName), "t%d", i);
    diskWrite(P(f, zName), IMM_SIZE, i);
  }
  for(i=0; i<IMM_FILES; i++){
    u64 nByte = 0;
    if( i==IMM_FILES/2 ){
      /* Readers of the first half while the second half opens (and
      ** takes their descriptors). */
      int t;
      for(t=0; t<3; t++){
        aR[t].apFile = apFile;
        aR[t].nFile = IMM_FILES/2;
        aR[t].iSeed = t*13;
        aR[t].nBad = 0;
        assert_int_equal(pthread_create(&aThread[t], 0, immReadAll, &aR[t]),
                         0);
      }
    }
    snprintf(zName, sizeof(zName), "t%d", i);
    assert_int_equal(pPosix->xOpen(pPosix, P(f, zName),
                                   KV_OPEN_READ|KV_OPEN_IMMUTABLE,
                                   &apFile[i]), KV_OK);
    assert_int_equal(pPosix->xSize(apFile[i], &nByte), KV_OK);
    assert_int_equal(nByte, IMM_SIZE);
    if( openFds() - nBefore>nMax ) nMax = openFds() - nBefore;
  }
  for(i=0; i<3; i++){
    assert_int_equal(pthread_join(aThread[i], 0), 0);
    assert_int_equal(aR[i].nBad, 0);
  }
  /* Readers can hold a descriptor past the budget for a moment. */
  assert_true(nMax<=32 + 3);
  for(i=0; i<3; i++){
    aR[i].nFile = IMM_FILES;
    assert_int_equal(pthread_create(&aThread[i], 0, immReadAll, &aR[i]), 0);
  }
  for(i=0; i<3; i++){
    assert_int_equal(pthread_join(aThread[i], 0), 0);
    assert_int_equal(aR[i].nBad, 0);
  }
  assert_true(openFds() - nBefore<=32);
  /* Unlinked: still read whole, through the descriptor or the map. */
  for(i=0; i<IMM_FILES; i++){
    snprintf(zName, sizeof(zName), "t%d", i);
    assert_int_equal(unlink(P(f, zName)), 0);
  }
  aR[0].nBad = 0;
  immReadAll(&aR[0]);
  assert_int_equal(aR[0].nBad, 0);
  /* A read past the end is short, as pread's. */
  {
    u8 a[16];
    size_t n = 99;
    for(i=0; i<IMM_FILES; i++){
      assert_int_equal(pPosix->xRead(apFile[i], IMM_SIZE - 4, a, 16, &n),
                       KV_OK);
      assert_int_equal(n, 4);
    }
  }
  for(i=0; i<IMM_FILES; i++){
    assert_int_equal(pPosix->xClose(apFile[i]), KV_OK);
  }
  assert_int_equal(openFds(), nBefore);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &rlOld), 0);
}

/*
** An open() that fails with EMFILE, of any file, gives back the
** descriptors of the mapped table files not being read and tries again.
*/
static void test_posix_open_sheds_descriptors_when_out(void **state){
  Fixture *f = (Fixture*)*state;
  KvEnv *pPosix = kvEnvPosix();
  KvFile *apFile[20], *pPlain = 0, *pMore = 0;
  struct rlimit rlOld, rl;
  int aDup[256];
  int nDup = 0, i, fd;
  char zName[32];
  u8 aGot[IMM_SIZE], aWant[IMM_SIZE];
  size_t n;

  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rlOld), 0);
  rl = rlOld;
  rl.rlim_cur = 96;             /* a budget of 48: all 20 keep theirs */
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
  diskWrite(P(f, "plain"), 100, 1);
  for(i=0; i<20; i++){
    snprintf(zName, sizeof(zName), "t%d", i);
    diskWrite(P(f, zName), IMM_SIZE, i);
    assert_int_equal(pPosix->xOpen(pPosix, P(f, zName),
                                   KV_OPEN_READ|KV_OPEN_IMMUTABLE,
                                   &apFile[i]), KV_OK);
  }
  /* The rest of the limit taken by someone else. */
  while( nDup<256 && (fd = dup(0))>=0 ) aDup[nDup++] = fd;
  assert_int_equal(errno, EMFILE);
  assert_int_equal(pPosix->xOpen(pPosix, P(f, "plain"), KV_OPEN_READ,
                                 &pPlain), KV_OK);
  assert_int_equal(pPosix->xOpen(pPosix, P(f, "t0"),
                                 KV_OPEN_READ|KV_OPEN_IMMUTABLE, &pMore),
                   KV_OK);
  for(i=0; i<20; i++){
    pattern(aWant, sizeof(aWant), i);
    assert_int_equal(pPosix->xRead(apFile[i], 0, aGot, sizeof(aGot), &n),
                     KV_OK);
    assert_int_equal(n, sizeof(aGot));
    assert_memory_equal(aGot, aWant, n);
  }
  for(i=0; i<nDup; i++) close(aDup[i]);
  assert_int_equal(pPosix->xClose(pPlain), KV_OK);
  assert_int_equal(pPosix->xClose(pMore), KV_OK);
  for(i=0; i<20; i++) assert_int_equal(pPosix->xClose(apFile[i]), KV_OK);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &rlOld), 0);
}

/*
** Mapped append files (WAL segments, manifests) are on the same list: past
** the budget the least recently used gives its descriptor back, and the
** operations that need one (growing, fsync, truncate, close's cut) take it
** again by path, so what was appended lands in the file as before. A file
** replaced behind the handle's back is refused, never written; one deleted
** closes without error. Before, each kept its descriptor while open.
*/
#define APP_FILES 48
#define APP_BYTES (200u << 10)     /* crosses several allocation steps */
static void test_posix_append_files_give_descriptors_back(void **state){
  Fixture *f = (Fixture*)*state;
  KvEnv *pPosix = kvEnvPosix();
  KvFile *apFile[APP_FILES], *pOld = 0, *pGone = 0;
  struct rlimit rlOld, rl;
  char zName[32];
  u8 *aWant = malloc(APP_BYTES), *aGot = malloc(APP_BYTES + (8<<20));
  int i, nBefore, nMax = 0;
  assert_non_null(aWant);
  assert_non_null(aGot);

  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rlOld), 0);
  rl = rlOld;
  rl.rlim_cur = 64;             /* a budget of 32 */
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
  nBefore = openFds();
  assert_int_equal(pPosix->xOpen(pPosix, P(f, "old"), KV_OPEN_APPEND, &pOld),
                   KV_OK);
  assert_int_equal(pPosix->xAppend(pOld, "abc", 3), KV_OK);
  assert_int_equal(pPosix->xOpen(pPosix, P(f, "gone"), KV_OPEN_APPEND,
                                 &pGone), KV_OK);
  assert_int_equal(pPosix->xAppend(pGone, "abc", 3), KV_OK);
  for(i=0; i<APP_FILES; i++){
    snprintf(zName, sizeof(zName), "a%d", i);
    assert_int_equal(pPosix->xOpen(pPosix, P(f, zName), KV_OPEN_APPEND,
                                   &apFile[i]), KV_OK);
    if( openFds() - nBefore>nMax ) nMax = openFds() - nBefore;
  }
  assert_true(nMax<=32);
  /* Round robin, so every file grows (and some sync) after giving its
  ** descriptor back. */
  {
    size_t n;
    for(n=0; n<APP_BYTES; n+=1000){
      size_t nThis = APP_BYTES - n<1000 ? APP_BYTES - n : 1000;
      for(i=0; i<APP_FILES; i++){
        pattern(aWant, APP_BYTES, i);
        assert_int_equal(pPosix->xAppend(apFile[i], aWant + n, nThis), KV_OK);
        if( i%3==0 && (n/1000)%50==49 ){
          assert_int_equal(pPosix->xSync(apFile[i]), KV_OK);
        }
      }
      if( openFds() - nBefore>nMax ) nMax = openFds() - nBefore;
    }
  }
  assert_true(nMax<=32);
  assert_int_equal(pPosix->xTruncate(apFile[5], 1000), KV_OK);
  for(i=0; i<APP_FILES; i++){
    assert_int_equal(pPosix->xClose(apFile[i]), KV_OK);
  }
  for(i=0; i<APP_FILES; i++){
    long nWant = i==5 ? 1000 : (long)APP_BYTES;
    snprintf(zName, sizeof(zName), "a%d", i);
    pattern(aWant, APP_BYTES, i);
    assert_int_equal(diskSize(P(f, zName)), nWant);
    assert_int_equal(diskRead(P(f, zName), aGot, APP_BYTES), nWant);
    assert_memory_equal(aGot, aWant, (size_t)nWant);
  }
  /* "old" and "gone" were the least recently used: descriptors given
  ** back. Another file now at old's name is refused. */
  diskWrite(P(f, "other"), 100, 9);
  assert_int_equal(rename(P(f, "other"), P(f, "old")), 0);
  assert_int_equal(pPosix->xSync(pOld), KV_IOERR);
  assert_non_null(strstr(kvErrMsg(), "was replaced by another file"));
  assert_non_null(strstr(kvErrMsg(), P(f, "old")));
  assert_int_equal(pPosix->xClose(pOld), KV_IOERR);
  assert_true(diskHasPattern(P(f, "old"), 100, 9));
  assert_int_equal(unlink(P(f, "gone")), 0);
  assert_int_equal(pPosix->xClose(pGone), KV_OK);
  assert_int_equal(openFds(), nBefore);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &rlOld), 0);
  free(aWant);
  free(aGot);
}

/*
** The posix env opens only regular files for reading or appending: a FIFO
** (which blocked open() until a writer came), a directory, a device are
** refused at once with KV_CANTOPEN naming the file.
*/
static void test_posix_open_refuses_what_is_no_regular_file(void **state){
  Fixture *f = (Fixture*)*state;
  KvEnv *pPosix = kvEnvPosix();
  KvFile *pFile = 0;
  static const int aFlags[] = {
    KV_OPEN_READ, KV_OPEN_READ|KV_OPEN_IMMUTABLE, KV_OPEN_APPEND
  };
  const char *azPath[3];
  int i, j;
  azPath[0] = P(f, "fifo");
  azPath[1] = f->zDir;
  azPath[2] = "/dev/null";
  assert_int_equal(mkfifo(azPath[0], 0644), 0);
  for(i=0; i<3; i++){
    for(j=0; j<(int)(sizeof(aFlags)/sizeof(aFlags[0])); j++){
      assert_int_equal(pPosix->xOpen(pPosix, azPath[i], aFlags[j], &pFile),
                       KV_CANTOPEN);
      assert_null(pFile);
      /* (a directory opened for writing: open() itself says EISDIR) */
      assert_true(strstr(kvErrMsg(), "is not a regular file")!=0
                  || (i==1 && strstr(kvErrMsg(), "Is a directory")!=0));
      assert_non_null(strstr(kvErrMsg(), azPath[i]));
    }
  }
}

/* nTotal bytes of pattern iSeed to append (*paWant), and a buffer to read
** the file back into, 8 MiB longer for the tail of zeros a mapped append
** file may have (*paGot). */
static void appendBuffers(size_t nTotal, int iSeed, u8 **paWant, u8 **paGot){
  *paWant = malloc(nTotal);
  *paGot = malloc(nTotal + (8<<20));
  assert_non_null(*paWant);
  assert_non_null(*paGot);
  pattern(*paWant, nTotal, iSeed);
}

/* Appends aWant from *pn on to pFile (the posix env's) in records of nRec
** bytes, the last one cut at nTotal, until *pn reaches nTo. */
static void appendRecords(KvFile *pFile, const u8 *aWant, size_t nTotal,
                          size_t *pn, size_t nTo, size_t nRec){
  KvEnv *pPosix = kvEnvPosix();
  while( *pn<nTo ){
    size_t nThis = nRec<nTotal-*pn ? nRec : nTotal-*pn;
    assert_int_equal(pPosix->xAppend(pFile, aWant+*pn, nThis), KV_OK);
    *pn += nThis;
  }
}

/*
** posix KV_OPEN_APPEND files are written through a mapping: what was
** appended is in the file at once (another descriptor reads it while the
** writer is open, as after write()), the file may be longer, with zeros,
** until xTruncate or xClose cut it to the bytes appended; appends that
** cross the allocation steps and a truncation followed by more appends
** land where write() would have put them. KV_OPEN_PLAIN files never have
** a zero tail.
*/
static void test_posix_append(void **state){
  Fixture *f = (Fixture*)*state;
  KvEnv *pPosix = kvEnvPosix();
  int bPlain;
  for(bPlain=0; bPlain<2; bPlain++){
    const char *zPath = P(f, bPlain ? "plain" : "mapped");
    size_t nTotal = 9<<20;                /* crosses several 4 MiB steps */
    u8 *aWant, *aGot;
    KvFile *pFile = 0;
    size_t n = 0, nStep = 1;
    u64 nSize = 0;
    int fd;
    long nDisk;
    appendBuffers(nTotal, 3, &aWant, &aGot);
    assert_int_equal(pPosix->xOpen(pPosix, zPath,
        KV_OPEN_APPEND | (bPlain ? KV_OPEN_PLAIN : 0), &pFile), KV_OK);
    while( n<nTotal ){
      size_t nThis = nStep<nTotal-n ? nStep : nTotal-n;
      assert_int_equal(pPosix->xAppend(pFile, aWant+n, nThis), KV_OK);
      n += nThis;
      nStep = nStep*3 + 1;
      if( nStep>300000 ) nStep = 7;
    }
    assert_int_equal(pPosix->xSize(pFile, &nSize), KV_OK);
    assert_int_equal(nSize, nTotal);
    /* visible to a reader now, then zeros if anything */
    fd = open(zPath, O_RDONLY);
    assert_true(fd>=0);
    nDisk = (long)read(fd, aGot, nTotal + (8<<20));
    close(fd);
    assert_true(nDisk>=(long)nTotal);
    if( bPlain ) assert_int_equal(nDisk, (long)nTotal);
    assert_memory_equal(aGot, aWant, nTotal);
    for(n=nTotal; n<(size_t)nDisk; n++) assert_int_equal(aGot[n], 0);
    /* cut back, append again */
    assert_int_equal(pPosix->xTruncate(pFile, 1000), KV_OK);
    assert_int_equal(diskSize(zPath), 1000);
    assert_int_equal(pPosix->xAppend(pFile, aWant+5000, 3000), KV_OK);
    assert_int_equal(pPosix->xSize(pFile, &nSize), KV_OK);
    assert_int_equal(nSize, 4000);
    assert_int_equal(pPosix->xSync(pFile), KV_OK);
    assert_int_equal(pPosix->xClose(pFile), KV_OK);
    assert_int_equal(diskRead(zPath, aGot, nTotal), 4000);
    assert_memory_equal(aGot, aWant, 1000);
    assert_memory_equal(aGot+1000, aWant+5000, 3000);
    /* reopened for append: keeps its bytes, appends after them */
    assert_int_equal(pPosix->xOpen(pPosix, zPath,
        KV_OPEN_APPEND | (bPlain ? KV_OPEN_PLAIN : 0), &pFile), KV_OK);
    assert_int_equal(pPosix->xSize(pFile, &nSize), KV_OK);
    assert_int_equal(nSize, 4000);
    assert_int_equal(pPosix->xAppend(pFile, aWant, 10), KV_OK);
    assert_int_equal(pPosix->xClose(pFile), KV_OK);
    assert_int_equal(diskRead(zPath, aGot, nTotal), 4010);
    assert_memory_equal(aGot+4000, aWant, 10);
    free(aWant);
    free(aGot);
  }
}

/* A counter of the page faults this thread takes from now on (the
** faults of its own instructions: not those a madvise populates), or -1
** when the kernel does not let us count. */
static int faultCounter(void){
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.type = PERF_TYPE_SOFTWARE;
  attr.size = sizeof(attr);
  attr.config = PERF_COUNT_SW_PAGE_FAULTS;
  attr.exclude_kernel = 0;
  return (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
}

static long faultsSoFar(int fd){
  long long n = 0;
  assert_int_equal(read(fd, &n, sizeof(n)), (ssize_t)sizeof(n));
  return (long)n;
}

/* Append nTotal bytes in records of 100; the page faults that took. */
static long appendFaults(KvFile *pFile, size_t nTotal, int fd){
  u8 a[100];
  size_t n;
  long n0;
  pattern(a, sizeof(a), 5);
  n0 = faultsSoFar(fd);
  for(n=0; n<nTotal; n+=sizeof(a)){
    assert_int_equal(kvEnvPosix()->xAppend(pFile, a, sizeof(a)), KV_OK);
  }
  return faultsSoFar(fd) - n0;
}

/*
** The mapped appends of a file nobody has synced (the WAL with sync=normal)
** find their pages mapped: a growth step maps them writable in one call
** rather than by a fault per 4 KiB page as the appends reach them. Once
** the file is synced, the steps are left to fault page by page, because
** populated pages are dirty zeros that the next fsync would write out.
*/
static void test_posix_append_prefaulted(void **state){
  Fixture *f = (Fixture*)*state;
  KvEnv *pPosix = kvEnvPosix();
  size_t nTotal = 8<<20;                  /* 2048 pages, several steps */
  long nPage = (long)(nTotal/4096);
  long nUnsynced, nSynced;
  KvFile *pFile = 0;
  void *pProbe;
  int fd = faultCounter();
  if( fd<0 ) skip();                      /* no perf events here */
  pProbe = mmap(0, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS,
                -1, 0);
  assert_true(pProbe!=MAP_FAILED);
  if( madvise(pProbe, 4096, MADV_POPULATE_WRITE)!=0 ){
    munmap(pProbe, 4096);
    close(fd);
    skip();                               /* kernel before 5.14 */
  }
  munmap(pProbe, 4096);

  assert_int_equal(pPosix->xOpen(pPosix, P(f,"unsynced"), KV_OPEN_APPEND,
                                 &pFile), KV_OK);
  nUnsynced = appendFaults(pFile, nTotal, fd);
  assert_int_equal(pPosix->xClose(pFile), KV_OK);

  assert_int_equal(pPosix->xOpen(pPosix, P(f,"synced"), KV_OPEN_APPEND,
                                 &pFile), KV_OK);
  assert_int_equal(pPosix->xAppend(pFile, "x", 1), KV_OK);
  assert_int_equal(pPosix->xSync(pFile), KV_OK);
  nSynced = appendFaults(pFile, nTotal, fd);
  assert_int_equal(pPosix->xClose(pFile), KV_OK);
  close(fd);
  assert_true(nSynced > nPage/2);
  /* Judged against the synced file's count, not a fixed one: under ASan
  ** the appends also fault in their shadow memory (a page per 8). */
  assert_true(nUnsynced*4 < nSynced);
}

/* Scan /proc/self/maps for mappings of zPath: -1 when that cannot be
** read, else 1 if there is one (*piMin, if not NULL, set to the lowest
** file offset mapped) and 0 if not. */
static int mapScan(const char *zPath, long long *piMin){
  char zReal[PATH_MAX], zLine[PATH_MAX + 256];
  FILE *in;
  int bFound = 0;
  if( realpath(zPath, zReal)==0 ) return -1;
  in = fopen("/proc/self/maps", "r");
  if( in==0 ) return -1;
  while( fgets(zLine, sizeof(zLine), in) ){
    size_t n = strlen(zLine), nReal = strlen(zReal);
    unsigned long long iOff = 0;
    if( n>0 && zLine[n-1]=='\n' ) zLine[--n] = 0;
    if( n<nReal || strcmp(zLine + n - nReal, zReal)!=0 ) continue;
    if( sscanf(zLine, "%*s %*s %llx", &iOff)!=1 ) continue;
    if( piMin && (!bFound || (long long)iOff<*piMin) ) *piMin = (long long)iOff;
    bFound = 1;
  }
  fclose(in);
  return bFound;
}

/* Is zPath mapped into this process (a line of /proc/self/maps names
** it)? -1 when /proc cannot be read. */
static int isMapped(const char *zPath){
  return mapScan(zPath, 0);
}

/* Read zPath (at most nGot bytes into aGot): it must hold aWant's nWant
** bytes, then zeros if anything. Returns the bytes read. */
static long expectBytesThenZeros(const char *zPath, const u8 *aWant,
                                 size_t nWant, u8 *aGot, size_t nGot){
  long nDisk = diskRead(zPath, aGot, nGot);
  size_t i;
  assert_true(nDisk>=(long)nWant);
  assert_memory_equal(aGot, aWant, nWant);
  for(i=nWant; i<(size_t)nDisk; i++) assert_int_equal(aGot[i], 0);
  return nDisk;
}

/*
** An fsync of a mapped append file write-protects each dirty mapped page
** with a TLB shootdown per page: a sync after a large run of mapped
** appends (a WAL segment synced at rotation) drops the mapping first; a
** small one (a sync=full commit) keeps it. Whatever the mapping's state,
** every byte lands where write() would have put it: appends after the
** unmapping go by pwrite() until the file grows and is mapped again, and
** a shared file's close still keeps its size.
*/
static void test_posix_sync_unmaps_large_run(void **state){
  Fixture *f = (Fixture*)*state;
  KvEnv *pPosix = kvEnvPosix();
  const char *zPath = P(f, "seg");
  size_t nTotal = 6<<20;              /* past the first 4 MiB of steps */
  size_t nRec = 100, n = 0;
  u8 *aWant, *aGot;
  KvFile *pFile = 0;
  long nDisk;
  appendBuffers(nTotal, 9, &aWant, &aGot);
  assert_int_equal(pPosix->xOpen(pPosix, zPath, KV_OPEN_APPEND|KV_OPEN_SHARED,
                                 &pFile), KV_OK);
  if( isMapped(zPath)<0 ){
    pPosix->xClose(pFile);
    free(aWant);
    free(aGot);
    skip();                           /* no /proc here */
  }
  /* 1 MiB through the mapping, then a sync: unmapped */
  appendRecords(pFile, aWant, nTotal, &n, 1<<20, nRec);
  assert_int_equal(isMapped(zPath), 1);
  assert_int_equal(pPosix->xSync(pFile), KV_OK);
  assert_int_equal(isMapped(zPath), 0);
  /* a little more (pwrite: within the allocated size), a small sync */
  appendRecords(pFile, aWant, nTotal, &n, (1<<20) + 1000, nRec);
  assert_int_equal(isMapped(zPath), 0);
  assert_int_equal(pPosix->xSync(pFile), KV_OK);
  /* on past the allocated size: mapped again; a small sync keeps it */
  appendRecords(pFile, aWant, nTotal, &n, nTotal - 1000, nRec);
  assert_int_equal(isMapped(zPath), 1);
  assert_int_equal(pPosix->xSync(pFile), KV_OK);
  assert_int_equal(isMapped(zPath), 0);
  appendRecords(pFile, aWant, nTotal, &n, nTotal, nRec);
  /* the reader sees every byte in order, zeros after them */
  nDisk = expectBytesThenZeros(zPath, aWant, nTotal, aGot, nTotal + (8<<20));
  assert_int_equal(pPosix->xClose(pFile), KV_OK);
  assert_int_equal(diskSize(zPath), nDisk);      /* shared: not cut */

  /* A file not shared: the close cuts it to its bytes. */
  zPath = P(f, "own");
  assert_int_equal(pPosix->xOpen(pPosix, zPath, KV_OPEN_APPEND, &pFile),
                   KV_OK);
  n = 0;
  appendRecords(pFile, aWant, nTotal, &n, 1<<20, nRec);
  assert_int_equal(pPosix->xSync(pFile), KV_OK);
  assert_int_equal(isMapped(zPath), 0);
  assert_int_equal(pPosix->xAppend(pFile, aWant+n, 10), KV_OK);
  assert_int_equal(pPosix->xClose(pFile), KV_OK);
  assert_int_equal(diskRead(zPath, aGot, nTotal), (long)n + 10);
  assert_memory_equal(aGot, aWant, n + 10);
  free(aWant);
  free(aGot);
}

/* Pages of [0, nByte) of the file open as fd that are dirty or under
** writeback (cachestat(2), Linux 6.5), or -1 when the kernel has no
** cachestat. */
#define CACHESTAT_NR 451              /* the same on every architecture */
static long unwrittenPages(int fd, u64 nByte){
  struct { u64 off, len; } range = { 0, nByte };
  struct { u64 nCache, nDirty, nWriteback, nEvicted, nRecent; } cs;
  memset(&cs, 0, sizeof(cs));
  if( syscall(CACHESTAT_NR, fd, &range, &cs, 0)!=0 ) return -1;
  return (long)(cs.nDirty + cs.nWriteback);
}

/* Expect the first nByte bytes of zPath to leave the dirty and writeback
** states within 3 s, unsynced (where the kernel has cachestat). */
static void expectWrittenOut(const char *zPath, u64 nByte){
  long nLeft = -1;
  int fd = open(zPath, O_RDONLY), i;
  assert_true(fd>=0);
  for(i=0; i<300; i++){
    nLeft = unwrittenPages(fd, nByte);
    if( nLeft<=0 ) break;
    usleep(10000);
  }
  close(fd);
  if( nLeft<0 ){
    print_message("no cachestat(2) in this kernel: writeback not checked\n");
  }else{
    assert_int_equal(nLeft, 0);
  }
}

/*
** A KV_OPEN_WRITE file (a table being built) starts the writeback of its
** bytes as they are written, a MiB at a time, without waiting for its
** fsync: written 3 MiB in 64 KiB steps and never synced, its first 2 MiB
** are on their way to the disk within seconds (left to the kernel, they
** would stay dirty for 30). Every byte is in the file, in order, after
** writes of every size, one of them past the MiB on its own.
*/
static void test_posix_write_starts_writeback(void **state){
  Fixture *f = (Fixture*)*state;
  KvEnv *pPosix = kvEnvPosix();
  const char *zPath = P(f, "table");
  size_t nTotal = 3<<20, n = 0, nStep = 64<<10;
  u8 *aWant = malloc(nTotal + (3<<20));
  u8 *aGot = malloc(nTotal + (3<<20));
  KvFile *pFile = 0;
  assert_non_null(aWant);
  assert_non_null(aGot);
  pattern(aWant, nTotal + (3<<20), 4);
  assert_int_equal(pPosix->xOpen(pPosix, zPath, KV_OPEN_WRITE, &pFile),
                   KV_OK);
  for(; n<nTotal; n+=nStep){
    assert_int_equal(pPosix->xAppend(pFile, aWant+n, nStep), KV_OK);
  }
  expectWrittenOut(zPath, 2<<20);
  /* odd sizes, and one write of 1.5 MiB */
  assert_int_equal(pPosix->xAppend(pFile, aWant+n, 7), KV_OK);
  n += 7;
  assert_int_equal(pPosix->xAppend(pFile, aWant+n, (3<<20)/2), KV_OK);
  n += (3<<20)/2;
  assert_int_equal(pPosix->xAppend(pFile, aWant+n, 99999), KV_OK);
  n += 99999;
  assert_int_equal(pPosix->xSync(pFile), KV_OK);
  assert_int_equal(pPosix->xClose(pFile), KV_OK);
  assert_int_equal(diskRead(zPath, aGot, nTotal + (3<<20)), (long)n);
  assert_memory_equal(aGot, aWant, n);
  free(aWant);
  free(aGot);
}

/* The lowest file offset of zPath mapped in this process, or -1. */
static long long mappedFrom(const char *zPath){
  long long iMin = -1;
  return mapScan(zPath, &iMin)==1 ? iMin : -1;
}

/*
** A mapped append file not synced yet (a WAL segment with sync=normal)
** starts the writeback of what it holds as the appends go on: after 3 MiB
** of 100-byte records and no sync, the first 2 MiB are unmapped (the
** mapping starts past them) and on their way to the disk (cachestat(2),
** where the kernel has it). Appends go on across the next allocation
** step (the mapping, which no longer starts at 0, grows), and every byte
** is where write() would have put it.
*/
static void test_posix_append_starts_writeback(void **state){
  Fixture *f = (Fixture*)*state;
  KvEnv *pPosix = kvEnvPosix();
  const char *zPath = P(f, "seg");
  size_t nTotal = 6<<20, nRec = 100, n = 0;
  u8 *aWant, *aGot;
  KvFile *pFile = 0;
  long nDisk;
  appendBuffers(nTotal, 6, &aWant, &aGot);
  assert_int_equal(pPosix->xOpen(pPosix, zPath, KV_OPEN_APPEND|KV_OPEN_SHARED,
                                 &pFile), KV_OK);
  appendRecords(pFile, aWant, nTotal, &n, 3<<20, nRec);
  if( mappedFrom(zPath)<0 ){
    pPosix->xClose(pFile);
    free(aWant);
    free(aGot);
    skip();                           /* no /proc here, or no mapping */
  }
  assert_true( mappedFrom(zPath)>=(2<<20) );
  expectWrittenOut(zPath, 2<<20);
  appendRecords(pFile, aWant, nTotal, &n, nTotal, nRec);
  nDisk = expectBytesThenZeros(zPath, aWant, nTotal, aGot, nTotal + (8<<20));
  assert_int_equal(pPosix->xSync(pFile), KV_OK);
  assert_int_equal(pPosix->xClose(pFile), KV_OK);
  assert_int_equal(diskRead(zPath, aGot, nTotal + (8<<20)), nDisk);
  assert_memory_equal(aGot, aWant, nTotal);
  free(aWant);
  free(aGot);
}

int main(void){
  const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setupFixture, teardownFixture)
    T(test_counts),
    T(test_fail_nth_eio),
    T(test_fail_enospc),
    T(test_fail_persistent),
    T(test_fail_any),
    T(test_partial_append),
    T(test_crash_after),
    T(test_pl_unsynced_tail),
    T(test_pl_created_files),
    T(test_pl_preexisting),
    T(test_pl_truncate_unsynced),
    T(test_pl_prealloc_cut_unsynced),
    T(test_pl_dead_close_keeps_size),
    T(test_pl_stale_close_harmless),
    T(test_pl_mkdir),
    T(test_pl_unlink),
    T(test_pl_rename),
    T(test_pl_truncating_open),
    T(test_pl_garbage),
    T(test_pl_no_dirsync),
    T(test_pl_heals),
    T(test_pl_crash_then_loss),
    T(test_pl_subdir_and_paths),
    T(test_clock),
    T(test_threads),
    T(test_posix_map),
    T(test_posix_immutable_gives_descriptors_back),
    T(test_posix_open_sheds_descriptors_when_out),
    T(test_posix_append_files_give_descriptors_back),
    T(test_posix_open_refuses_what_is_no_regular_file),
    T(test_posix_append),
    T(test_posix_append_prefaulted),
    T(test_posix_sync_unmaps_large_run),
    T(test_posix_write_starts_writeback),
    T(test_posix_append_starts_writeback),
    cmocka_unit_test(test_failalloc_nth),
    cmocka_unit_test(test_failalloc_persist),
    cmocka_unit_test(test_failalloc_leak_and_mix),
    T(test_failalloc_env),
#undef T
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
