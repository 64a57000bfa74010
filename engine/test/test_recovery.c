/*
** test_recovery.c - what opening refuses and what it never does: a store
** missing its CURRENT is not re-created over its tables, a reconnect
** without the create flag does not make a store, WAL segments ending in
** zeros do not hide the segments after them (issue #17).
*/
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* Number of files in zDir whose name ends with zSuffix. */
static int countFiles(const char *zDir, const char *zSuffix){
  DIR *d = opendir(zDir);
  struct dirent *e;
  size_t nSuf = strlen(zSuffix);
  int n = 0;
  assert_non_null(d);
  while( (e = readdir(d))!=0 ){
    size_t nName = strlen(e->d_name);
    if( e->d_name[0]=='.' ) continue;
    if( nName>=nSuf && strcmp(e->d_name + nName - nSuf, zSuffix)==0 ) n++;
  }
  closedir(d);
  return n;
}

static void pathOf(char *zOut, size_t nOut, const char *zDir,
                   const char *zName){
  snprintf(zOut, nOut, "%s/%s", zDir, zName);
}

/* A store with nFlush flushed tables of 10 keys each and a few keys in
** the WAL only. */
static void fillStore(const char *zDir, const kv_options *o, int nFlush){
  kv_db *db = tuOpen(zDir, o);
  int i, j;
  char zKey[32];
  for(i=0; i<nFlush; i++){
    for(j=0; j<10; j++){
      snprintf(zKey, sizeof(zKey), "k%03d", i*10+j);
      tuPut(db, zKey, "flushed");
    }
    assert_int_equal(kv_flush(db), KV_OK);
  }
  tuPut(db, "walonly", "w");
  assert_int_equal(kv_close(db), KV_OK);
}

static void test_missing_current_is_refused_not_recreated(void **state){
  char zDir[256], zPath[600];
  kv_options *o;
  kv_db *db = 0;
  int nSst;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "nocurrent");
  o = tuOptions("background=off", NULL);
  fillStore(zDir, o, 3);
  nSst = countFiles(zDir, ".sst");
  assert_true(nSst>=1);
  pathOf(zPath, sizeof(zPath), zDir, "CURRENT");
  assert_int_equal(unlink(zPath), 0);

  /* The create flag (on by default) does not make a store over tables. */
  assert_int_equal(kv_open(zDir, o, &db), KV_CORRUPT);
  assert_null(db);
  assert_non_null(strstr(kv_errmsg(0), "missing its CURRENT"));
  assert_non_null(strstr(kv_errmsg(0), zDir));
  /* Nothing was deleted or written: the tables are there, CURRENT is not. */
  assert_int_equal(countFiles(zDir, ".sst"), nSst);
  assert_int_equal(access(zPath, F_OK), -1);
  /* A second try says the same (no new WAL file, nothing created). */
  assert_int_equal(kv_open(zDir, o, &db), KV_CORRUPT);
  assert_int_equal(countFiles(zDir, ".sst"), nSst);
  assert_int_equal(countFiles(zDir, "CURRENT"), 0);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

static void test_missing_current_with_wal_only_is_refused(void **state){
  char zDir[256], zPath[600];
  kv_options *o;
  kv_db *db = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "nocurwal");
  o = tuOptions("background=off", NULL);
  fillStore(zDir, o, 0);
  pathOf(zPath, sizeof(zPath), zDir, "CURRENT");
  assert_int_equal(unlink(zPath), 0);
  assert_int_equal(kv_open(zDir, o, &db), KV_CORRUPT);
  assert_non_null(strstr(kv_errmsg(0), "CURRENT"));
  kv_options_free(o);
  tuRemoveDir(zDir);
}

static void test_open_without_create_flag_makes_nothing(void **state){
  char zDir[256], zSub[600];
  kv_options *o;
  kv_db *db = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "nocreate");
  o = tuOptions("background=off", NULL);
  kv_options_set_create(o, 0);

  /* A missing directory is not made. */
  pathOf(zSub, sizeof(zSub), zDir, "absent");
  assert_int_equal(kv_open(zSub, o, &db), KV_CANTOPEN);
  assert_null(db);
  assert_non_null(strstr(kv_errmsg(0), "does not exist"));
  assert_int_equal(access(zSub, F_OK), -1);

  /* An empty directory is not filled. */
  assert_int_equal(kv_open(zDir, o, &db), KV_CANTOPEN);
  assert_non_null(strstr(kv_errmsg(0), "no store"));
  assert_int_equal(countFiles(zDir, ""), 0);

  /* An existing store opens as usual. */
  kv_options_set_create(o, 1);
  fillStore(zDir, o, 1);
  kv_options_set_create(o, 0);
  db = tuOpen(zDir, o);
  assert_string_equal(tuGet(db, 0, 0, "k005"), "flushed");
  assert_string_equal(tuGet(db, 0, 0, "walonly"), "w");
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Issue #17: a value above the old 65 MiB block limit (max_value_size
** accepts up to 1 GiB) commits, is flushed, compacted and read back, and a
** store holding one in its WAL alone opens (recovery flushes it). */
static void test_large_value_flushes_and_reopens(void **state){
  char zDir[256];
  kv_options *o;
  kv_db *db;
  const size_t nBig = ((size_t)66 << 20) + 123;
  u8 *aBig = malloc(nBig);
  void *pGot = 0;
  size_t nGot = 0, i;
  (void)state;
  assert_non_null(aBig);
  for(i=0; i<nBig; i++) aBig[i] = (u8)(i*7 + (i>>12));
  tuTempDir(zDir, sizeof(zDir), "bigval");
  o = tuOptions("background=off", "max_value_size=1GB",
                "memtable_size=256MB", NULL);
  db = tuOpen(zDir, o);
  tuPut(db, "a", "small");
  assert_int_equal(kv_put(db, "big", 3, aBig, nBig), KV_OK);
  tuPut(db, "c", "after");
  /* Closed with the value in the WAL only: opening must flush it. */
  assert_int_equal(kv_close(db), KV_OK);
  db = tuOpen(zDir, o);
  assert_int_equal(countFiles(zDir, ".log"), 1);
  assert_int_equal(kv_get(db, 0, 0, "big", 3, &pGot, &nGot), KV_OK);
  assert_int_equal(nGot, nBig);
  assert_memory_equal(pGot, aBig, nBig);
  kv_free(pGot);
  /* A second copy through kv_flush, then a full compaction of both. */
  assert_int_equal(kv_put(db, "big2", 4, aBig, nBig), KV_OK);
  assert_int_equal(kv_flush(db), KV_OK);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  assert_int_equal(kv_get(db, 0, 0, "big2", 4, &pGot, &nGot), KV_OK);
  assert_int_equal(nGot, nBig);
  assert_memory_equal(pGot, aBig, nBig);
  kv_free(pGot);
  assert_string_equal(tuGet(db, 0, 0, "c"), "after");
  assert_int_equal(kv_close(db), KV_OK);
  /* Reopening again adds no WAL file. */
  db = tuOpen(zDir, o);
  assert_int_equal(countFiles(zDir, ".log"), 1);
  assert_string_equal(tuGet(db, 0, 0, "a"), "small");
  assert_int_equal(kv_close(db), KV_OK);
  free(aBig);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Rows of a store holding k000..k(n-1) (nFlush*10 keys) and walonly. */
static int countRows(kv_db *db){
  kv_iter *it = 0;
  int n = 0;
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  assert_int_equal(kv_iter_first(it), KV_OK);
  while( kv_iter_valid(it) ){
    n++;
    assert_int_equal(kv_iter_next(it), KV_OK);
  }
  kv_iter_free(it);
  return n;
}

/* Issue #17: an unlink failing midway through a DROP used to leave a store
** without CURRENT, which reopened as a new empty store. Now the first step
** marks the store dropped; every open refuses it, and the next destroy
** finishes. */
static void test_drop_failing_midway_stays_unopenable_then_finishes(
  void **state
){
  char zDir[256], zPath[600];
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  kv_options *o;
  kv_db *db = 0;
  (void)state;
  assert_non_null(pEnv);
  tuTempDir(zDir, sizeof(zDir), "dropfail");
  o = tuOptions("background=off", NULL);
  kvOptionsSetEnv(o, pEnv);
  fillStore(zDir, o, 3);
  /* The user's own file in the directory is never touched. */
  pathOf(zPath, sizeof(zPath), zDir, "notes.txt");
  tuWriteFile(zPath, (const u8*)"mine", 4);

  kvTestEnvFail(pEnv, KV_TOP_UNLINK, 2, EIO, 0);
  assert_int_equal(kvDestroyEnv(pEnv, zDir), KV_IOERR);
  kvTestEnvHeal(pEnv);
  assert_true(countFiles(zDir, ".sst")>0 || countFiles(zDir, ".log")>0);
  /* Neither with nor without the create flag does it open (empty). */
  assert_int_equal(kv_open(zDir, o, &db), KV_CANTOPEN);
  assert_null(db);
  assert_non_null(strstr(kv_errmsg(0), "being dropped"));
  kv_options_set_create(o, 0);
  assert_int_equal(kv_open(zDir, o, &db), KV_CANTOPEN);
  assert_non_null(strstr(kv_errmsg(0), "being dropped"));

  /* The next destroy finishes: only the user's file remains. */
  assert_int_equal(kvDestroyEnv(pEnv, zDir), KV_OK);
  assert_int_equal(countFiles(zDir, ""), 1);
  assert_int_equal(access(zPath, F_OK), 0);
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
}

/* The two steps of a DROP that commits with its database (kv.h): after
** kv_drop_prepare every open refuses the store ("not committed yet") and
** nothing is deleted; kv_drop_undo gives it back whole; after prepare
** again, kv_destroy deletes it. A hold makes kv_store_in_use say so and
** keeps kv_destroy and kv_drop_prepare from acting; an open store refuses
** kv_drop_prepare. */
static void test_drop_prepare_undo_destroy(void **state){
  char zDir[256];
  kv_options *o;
  kv_db *db = 0;
  kv_hold *pHold = 0;
  int nSst, bInUse = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "dropprep");
  o = tuOptions("background=off", NULL);
  fillStore(zDir, o, 3);
  db = tuOpen(zDir, o);
  assert_int_equal(kv_drop_prepare(zDir), KV_BUSY);   /* open here */
  assert_non_null(strstr(kvErrMsg(), "is open elsewhere (another connection "
                                     "or another process)"));
  assert_int_equal(kv_close(db), KV_OK);
  db = 0;
  nSst = countFiles(zDir, ".sst");
  assert_true(nSst>0);

  assert_int_equal(kv_drop_pending(zDir), 0);
  assert_int_equal(kv_drop_prepare(zDir), KV_OK);
  assert_int_equal(kv_drop_pending(zDir), 1);
  assert_int_equal(countFiles(zDir, ".sst"), nSst);
  assert_int_equal(kv_open(zDir, o, &db), KV_CANTOPEN);
  assert_non_null(strstr(kv_errmsg(0), "not committed yet"));

  assert_int_equal(kv_store_hold(zDir, &pHold), KV_OK);
  assert_int_equal(kv_store_in_use(zDir, &bInUse), KV_OK);
  assert_int_equal(bInUse, 1);
  assert_int_equal(kv_destroy(zDir), KV_BUSY);
  kv_store_release(pHold);
  assert_int_equal(kv_store_in_use(zDir, &bInUse), KV_OK);
  assert_int_equal(bInUse, 0);

  assert_int_equal(kv_drop_undo(zDir), KV_OK);
  assert_int_equal(kv_drop_pending(zDir), 0);
  db = tuOpen(zDir, o);
  assert_int_equal(countRows(db), 3*10 + 1);
  assert_int_equal(kv_close(db), KV_OK);

  assert_int_equal(kv_drop_prepare(zDir), KV_OK);
  assert_int_equal(kv_destroy(zDir), KV_OK);
  assert_int_equal(access(zDir, F_OK), -1);
  kv_options_free(o);
}

/* A crash and power cut after any number of the destroy's operations
** leaves either the whole store (every row) or one that every open
** refuses and the next destroy removes: never a store with rows missing. */
static void test_drop_crash_at_every_step(void **state){
  char zDir[256];
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  kv_options *o;
  int nOp, bDone = 0, nWhole = 0, nRefused = 0;
  (void)state;
  assert_non_null(pEnv);
  o = tuOptions("background=off", NULL);
  kvOptionsSetEnv(o, pEnv);
  for(nOp=0; !bDone; nOp++){
    kv_db *db = 0;
    int rc;
    tuTempDir(zDir, sizeof(zDir), "dropcrash");
    fillStore(zDir, o, 2);
    kvTestEnvCrashAfter(pEnv, nOp);
    rc = kvDestroyEnv(pEnv, zDir);
    bDone = (rc==KV_OK && !kvTestEnvIsDead(pEnv));
    assert_int_equal(kvTestEnvPowerLoss(pEnv, KV_PL_TRUNCATE), KV_OK);
    if( access(zDir, F_OK)!=0 ){
      assert_true(bDone);
      break;
    }
    kv_options_set_create(o, 0);
    rc = kv_open(zDir, o, &db);
    kv_options_set_create(o, 1);
    if( rc==KV_OK ){
      assert_int_equal(countRows(db), 21);
      assert_int_equal(kv_close(db), KV_OK);
      nWhole++;
    }else{
      assert_int_equal(rc, KV_CANTOPEN);
      nRefused++;
    }
    /* Whatever was left, destroy removes it. */
    assert_int_equal(kvDestroyEnv(pEnv, zDir), KV_OK);
    assert_int_equal(access(zDir, F_OK), -1);
    assert_true(nOp<200);
  }
  assert_true(nWhole>=1);
  assert_true(nRefused>=1);
  kv_options_free(o);
  kvTestEnvFree(pEnv);
}

/* A store too damaged to open can still be destroyed. */
static void test_drop_damaged_store(void **state){
  char zDir[256], zPath[600];
  kv_options *o;
  kv_db *db = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "dropbad");
  o = tuOptions("background=off", NULL);
  fillStore(zDir, o, 1);
  pathOf(zPath, sizeof(zPath), zDir, "CURRENT");
  tuWriteFile(zPath, (const u8*)"garbage", 7);
  assert_int_equal(kv_open(zDir, o, &db), KV_CORRUPT);
  assert_int_equal(kv_destroy(zDir), KV_OK);
  assert_int_equal(access(zDir, F_OK), -1);
  kv_options_free(o);
}

/* Issue #17: links planted at the predictable temporary names are never
** written through; a leftover regular temporary file is replaced. */
static void test_planted_symlink_at_tmp_name_not_written_through(
  void **state
){
  char zDir[256], zVictim[600], zPath[600], zName[64];
  kv_options *o;
  kv_db *db = 0;
  KvFile *pFile = 0;
  u8 *a;
  size_t n;
  int i, rc;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "symlink");
  snprintf(zVictim, sizeof(zVictim), "%s.victim", zDir);
  tuWriteFile(zVictim, (const u8*)"precious", 8);
  o = tuOptions("background=off", NULL);

  /* The identity's temporary planted before the store exists: creating
  ** the store fails, the link's target is untouched. */
  pathOf(zPath, sizeof(zPath), zDir, "KVSTORE.tmp");
  assert_int_equal(symlink(zVictim, zPath), 0);
  rc = kv_open(zDir, o, &db);
  assert_int_equal(rc, KV_CANTOPEN);
  assert_non_null(strstr(kv_errmsg(0), "refusing to write through"));
  a = tuReadFile(zVictim, &n);
  assert_int_equal(n, 8);
  assert_memory_equal(a, "precious", 8);
  free(a);
  unlink(zPath);              /* (the failed write may have removed it) */
  fillStore(zDir, o, 1);

  /* CURRENT.tmp: a link is refused when CURRENT is next written (or left
  ** alone); a leftover regular file (a crash) is replaced. */
  pathOf(zPath, sizeof(zPath), zDir, "CURRENT.tmp");
  assert_int_equal(symlink(zVictim, zPath), 0);
  rc = kv_open(zDir, o, &db);
  if( rc==KV_OK ){
    assert_int_equal(kv_close(db), KV_OK);
  }else{
    assert_int_equal(rc, KV_CANTOPEN);
    assert_non_null(strstr(kv_errmsg(0), "refusing to write through"));
  }
  a = tuReadFile(zVictim, &n);
  assert_int_equal(n, 8);
  assert_memory_equal(a, "precious", 8);
  free(a);
  unlink(zPath);
  tuWriteFile(zPath, (const u8*)"stale", 5);
  db = tuOpen(zDir, o);
  assert_string_equal(tuGet(db, 0, 0, "walonly"), "w");
  assert_int_equal(kv_close(db), KV_OK);

  /* Table temporaries planted, while the store is open, for every number
  ** a flush could use (opening removes leftover temporaries). */
  db = tuOpen(zDir, o);
  for(i=1; i<100; i++){
    snprintf(zName, sizeof(zName), "%06d.sst.tmp", i);
    pathOf(zPath, sizeof(zPath), zDir, zName);
    if( symlink(zVictim, zPath)!=0 ) assert_int_equal(errno, EEXIST);
  }
  tuPut(db, "x", "y");
  rc = kv_flush(db);
  assert_int_equal(rc, KV_CANTOPEN);
  assert_non_null(strstr(kv_errmsg(db), "refusing to write through"));
  kv_close(db);
  a = tuReadFile(zVictim, &n);
  assert_int_equal(n, 8);
  assert_memory_equal(a, "precious", 8);
  free(a);

  /* The env refuses a hard link too, and replaces a plain leftover. */
  pathOf(zPath, sizeof(zPath), zDir, "hard.tmp");
  assert_int_equal(link(zVictim, zPath), 0);
  assert_int_equal(kvEnvPosix()->xOpen(kvEnvPosix(), zPath, KV_OPEN_WRITE,
                                       &pFile), KV_CANTOPEN);
  assert_int_equal(unlink(zPath), 0);
  tuWriteFile(zPath, (const u8*)"old", 3);
  assert_int_equal(kvEnvPosix()->xOpen(kvEnvPosix(), zPath, KV_OPEN_WRITE,
                                       &pFile), KV_OK);
  assert_int_equal(kvEnvPosix()->xAppend(pFile, "new!", 4), KV_OK);
  assert_int_equal(kvEnvPosix()->xClose(pFile), KV_OK);
  a = tuReadFile(zPath, &n);
  assert_int_equal(n, 4);
  assert_memory_equal(a, "new!", 4);
  free(a);
  unlink(zVictim);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Issue #17: after a flush failed with ENOSPC every write failed with the
** stale error until the store was reopened. Now writes report it while it
** lasts, and once the pause is over the flush is retried and writes go on
** without reopening. */
static void fullDiskRetried(const char *zBackground){
  char zDir[256];
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  kv_options *o;
  kv_db *db;
  u64 nOpen;
  int rc;
  assert_non_null(pEnv);
  kvTestEnvSetClock(pEnv, 1000000);
  tuTempDir(zDir, sizeof(zDir), "enospc");
  o = tuOptions(zBackground, NULL);
  kvOptionsSetEnv(o, pEnv);
  db = tuOpen(zDir, o);
  tuPut(db, "a", "1");
  /* kv_flush opens a new WAL segment, then the table: the table's open
  ** finds the disk full. */
  nOpen = kvTestEnvCount(pEnv, KV_TOP_OPEN);
  kvTestEnvFail(pEnv, KV_TOP_OPEN, 2, ENOSPC, 0);
  assert_int_equal(kv_flush(db), KV_FULL);
  assert_int_equal(kvTestEnvCount(pEnv, KV_TOP_OPEN), nOpen + 2);
  /* While the pause lasts, writes report the error. */
  rc = kv_put(db, "b", 1, "2", 1);
  assert_int_equal(rc, KV_FULL);
  assert_non_null(strstr(kv_errmsg(db), "kvstore:"));
  /* Space is back and the pause is over: the write succeeds, the flush
  ** is retried. */
  kvTestEnvSetClock(pEnv, 1000000 + 1000000);
  tuPut(db, "b", "2");
  assert_int_equal(kv_flush(db), KV_OK);
  assert_int_equal(countFiles(zDir, ".sst"), 2);   /* "a", then "b" */
  assert_string_equal(tuGet(db, 0, 0, "a"), "1");
  assert_string_equal(tuGet(db, 0, 0, "b"), "2");
  assert_int_equal(db->nBgRetry, 1);
  assert_int_equal(kv_close(db), KV_OK);
  db = tuOpen(zDir, o);
  assert_string_equal(tuGet(db, 0, 0, "a"), "1");
  assert_string_equal(tuGet(db, 0, 0, "b"), "2");
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
}

static void test_full_disk_in_flush_is_retried(void **state){
  (void)state;
  fullDiskRetried("background=off");
  fullDiskRetried("background=on");
}

/* A disk that stays full keeps reporting the error, one retry per pause,
** and loses nothing. */
static void test_full_disk_stays_full_reports_and_keeps_data(void **state){
  char zDir[256];
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  kv_options *o;
  kv_db *db;
  int i;
  (void)state;
  assert_non_null(pEnv);
  kvTestEnvSetClock(pEnv, 1000000);
  tuTempDir(zDir, sizeof(zDir), "enospc2");
  o = tuOptions("background=off", NULL);
  kvOptionsSetEnv(o, pEnv);
  db = tuOpen(zDir, o);
  tuPut(db, "a", "1");
  kvTestEnvFail(pEnv, KV_TOP_OPEN, 2, ENOSPC, 0);
  assert_int_equal(kv_flush(db), KV_FULL);
  for(i=0; i<3; i++){
    /* every open for writing fails: the retried flush fails again */
    kvTestEnvFail(pEnv, KV_TOP_OPEN, 1, ENOSPC, 1);
    kvTestEnvSetClock(pEnv, 1000000 + (u64)(i+1)*1000000);
    assert_int_equal(kv_flush(db), KV_FULL);
    assert_int_equal(kv_put(db, "c", 1, "3", 1), KV_FULL);
  }
  assert_int_equal(db->nBgRetry, 3);
  kvTestEnvHeal(pEnv);
  kvTestEnvSetClock(pEnv, 1000000 + 10*1000000);
  assert_int_equal(kv_flush(db), KV_OK);
  assert_string_equal(tuGet(db, 0, 0, "a"), "1");
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
}

/* A store whose tables sit on several levels, with overwrites and deletes
** after the compactions: key kNNN holds "r<round>-NNN" of its last round,
** every 7th key deleted in the last round. Leaves some rows in the WAL. */
static void fillLevels(const char *zDir, const kv_options *o){
  kv_db *db = tuOpen(zDir, o);
  int r, i;
  char zKey[32], zVal[32];
  for(r=0; r<6; r++){
    for(i=0; i<200; i++){
      if( (i + r) % (r+1) ) continue;        /* rounds touch fewer keys */
      snprintf(zKey, sizeof(zKey), "k%03d", i);
      snprintf(zVal, sizeof(zVal), "r%d-%03d", r, i);
      tuPut(db, zKey, zVal);
    }
    assert_int_equal(kv_flush(db), KV_OK);
    if( r==2 ) assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  }
  for(i=0; i<200; i+=7){
    snprintf(zKey, sizeof(zKey), "k%03d", i);
    assert_int_equal(kv_delete(db, zKey, strlen(zKey)), KV_OK);
  }
  assert_int_equal(kv_close(db), KV_OK);
}

static void expectLevels(kv_db *db){
  int r, i;
  char zKey[32], zVal[32];
  for(i=0; i<200; i++){
    int iLast = -1;
    snprintf(zKey, sizeof(zKey), "k%03d", i);
    for(r=0; r<6; r++) if( (i + r) % (r+1)==0 ) iLast = r;
    if( i%7==0 || iLast<0 ){
      assert_null(tuGet(db, 0, 0, zKey));
    }else{
      snprintf(zVal, sizeof(zVal), "r%d-%03d", iLast, i);
      assert_string_equal(tuGet(db, 0, 0, zKey), zVal);
    }
  }
}

static void repairOk(const char *zDir, const kv_options *o, char **pz){
  int rc = kv_repair(zDir, o, pz);
  if( rc!=KV_OK ) fail_msg("kv_repair: %d %s", rc, kv_errmsg(0));
}

/* Remove every file of zDir whose name starts with zPrefix. */
static void removePrefix(const char *zDir, const char *zPrefix){
  DIR *d = opendir(zDir);
  struct dirent *e;
  char zPath[600];
  assert_non_null(d);
  while( (e = readdir(d))!=0 ){
    if( strncmp(e->d_name, zPrefix, strlen(zPrefix))==0 ){
      pathOf(zPath, sizeof(zPath), zDir, e->d_name);
      assert_int_equal(unlink(zPath), 0);
    }
  }
  closedir(d);
}

/* kv_repair: nothing to do on a sound store; CURRENT lost, the manifest
** lost, both lost: the store is rebuilt from its tables and WAL with every
** row as it was. */
static void test_repair_rebuilds_lost_current_and_manifest(void **state){
  static const char *const azLose[] = { "CURRENT", "MANIFEST-", "" };
  char zDir[256];
  kv_options *o;
  kv_db *db = 0;
  char *zReport = 0;
  int k;
  (void)state;
  o = tuOptions("background=off", "levels=4", NULL);
  for(k=0; k<3; k++){
    tuTempDir(zDir, sizeof(zDir), "repair");
    fillLevels(zDir, o);
    assert_int_equal(kv_repair(zDir, o, &zReport), KV_OK);
    assert_non_null(strstr(zReport, "\"repaired\":false"));
    kv_free(zReport);
    if( azLose[k][0] ){
      removePrefix(zDir, azLose[k]);
    }else{
      removePrefix(zDir, "CURRENT");
      removePrefix(zDir, "MANIFEST-");
    }
    assert_int_equal(kv_open(zDir, o, &db), KV_CORRUPT);
    repairOk(zDir, o, &zReport);
    assert_non_null(strstr(zReport, "\"repaired\":true"));
    assert_non_null(strstr(zReport, "\"damaged_tables\":0"));
    kv_free(zReport);
    db = tuOpen(zDir, o);
    expectLevels(db);
    assert_int_equal(kv_verify(db, &zReport), KV_OK);
    assert_string_equal(zReport, "ok");
    kv_free(zReport);
    assert_int_equal(kv_close(db), KV_OK);
    tuRemoveDir(zDir);
  }
  kv_options_free(o);
}

/* A damaged table is set aside (renamed, not deleted); the rest comes
** back. Repair is never implicit: opening still refuses until asked. */
static void test_repair_sets_damaged_table_aside(void **state){
  char zDir[256], zPath[600];
  kv_options *o;
  kv_db *db = 0;
  char *zReport = 0;
  u8 *a;
  size_t n;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "repairbad");
  o = tuOptions("background=off", NULL);
  fillStore(zDir, o, 3);            /* tables 3 x 10 keys, then walonly */
  removePrefix(zDir, "CURRENT");
  /* Damage the footer of one table. */
  db = 0;
  {
    DIR *d = opendir(zDir);
    struct dirent *e;
    zPath[0] = 0;
    while( (e = readdir(d))!=0 ){
      size_t nName = strlen(e->d_name);
      if( nName>4 && strcmp(e->d_name + nName - 4, ".sst")==0 ){
        pathOf(zPath, sizeof(zPath), zDir, e->d_name);
        break;
      }
    }
    closedir(d);
  }
  assert_true(zPath[0]!=0);
  a = tuReadFile(zPath, &n);
  a[n-1] ^= 0x55;
  tuWriteFile(zPath, a, n);
  free(a);
  assert_int_equal(kv_open(zDir, o, &db), KV_CORRUPT);
  assert_int_equal(kv_open(zDir, o, &db), KV_CORRUPT);   /* still */
  repairOk(zDir, o, &zReport);
  assert_non_null(strstr(zReport, "\"damaged_tables\":1"));
  kv_free(zReport);
  assert_int_equal(countFiles(zDir, ".sst.damaged"), 1);
  db = tuOpen(zDir, o);
  assert_string_equal(tuGet(db, 0, 0, "walonly"), "w");
  /* The rows of the two sound tables and the WAL at least (WAL segments
  ** a flush has not yet removed may hold some of the damaged table's). */
  assert_true(countRows(db)>=21 - 10);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Change, in place, the first occurrence of zFind in the store's only
** table (same file, so an open mapping and the OS page cache see it). */
static void damageInPlace(const char *zDir, const char *zFind){
  DIR *d = opendir(zDir);
  struct dirent *e;
  char zPath[600];
  u8 *a;
  size_t n, i, nFind = strlen(zFind);
  FILE *fp;
  zPath[0] = 0;
  while( (e = readdir(d))!=0 ){
    size_t nName = strlen(e->d_name);
    if( nName>4 && strcmp(e->d_name + nName - 4, ".sst")==0 ){
      pathOf(zPath, sizeof(zPath), zDir, e->d_name);
    }
  }
  closedir(d);
  assert_true(zPath[0]!=0);
  a = tuReadFile(zPath, &n);
  for(i=0; i+nFind<=n && memcmp(a+i, zFind, nFind)!=0; i++){}
  assert_true(i+nFind<=n);
  fp = fopen(zPath, "r+b");
  assert_non_null(fp);
  assert_int_equal(fseek(fp, (long)i, SEEK_SET), 0);
  assert_int_equal(fputc('X', fp), 'X');
  assert_int_equal(fclose(fp), 0);
  free(a);
}

/* Issue #17 (lower): a byte changed in a table block while the store is
** open was returned as data by later reads, the CRC being checked on a
** block's first read only. With verify_checksums=on every read checks it. */
static void test_verify_checksums_catches_later_change(void **state){
  char zDir[256];
  kv_options *o;
  kv_db *db;
  void *p = 0;
  size_t n = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "verifycrc");
  o = tuOptions("background=off", "verify_checksums=on", NULL);
  db = tuOpen(zDir, o);
  tuPut(db, "key", "VALUE-original");
  assert_int_equal(kv_flush(db), KV_OK);
  assert_string_equal(tuGet(db, 0, 0, "key"), "VALUE-original");
  damageInPlace(zDir, "VALUE-original");
  assert_int_equal(kv_get(db, 0, 0, "key", 3, &p, &n), KV_CORRUPT);
  assert_non_null(strstr(kv_errmsg(db), "checksum"));
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_missing_current_is_refused_not_recreated),
    cmocka_unit_test(test_missing_current_with_wal_only_is_refused),
    cmocka_unit_test(test_open_without_create_flag_makes_nothing),
    cmocka_unit_test(test_large_value_flushes_and_reopens),
    cmocka_unit_test(test_drop_failing_midway_stays_unopenable_then_finishes),
    cmocka_unit_test(test_drop_crash_at_every_step),
    cmocka_unit_test(test_drop_prepare_undo_destroy),
    cmocka_unit_test(test_drop_damaged_store),
    cmocka_unit_test(test_planted_symlink_at_tmp_name_not_written_through),
    cmocka_unit_test(test_full_disk_in_flush_is_retried),
    cmocka_unit_test(test_full_disk_stays_full_reports_and_keeps_data),
    cmocka_unit_test(test_repair_rebuilds_lost_current_and_manifest),
    cmocka_unit_test(test_repair_sets_damaged_table_aside),
    cmocka_unit_test(test_verify_checksums_catches_later_change),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
