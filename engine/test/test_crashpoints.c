/*
** test_crashpoints.c - a crash at every mutating I/O operation in turn.
**
** One deterministic workload (create the store, multi-key batches with
** sync=full, kv_flush every few batches, WAL segments rotated every few
** records, a close and reopen half way) is first run on a healthy test env
** to count its mutating operations (append, fsync, directory fsync,
** rename, unlink, truncate, open for write): N of them. Then, for each
** crash point n in 1..N, a fresh store runs the same workload with the env
** armed to die after its n-th operation; the store is closed, the
** power-loss model drops whatever was not durable (unsynced tails cut, or
** replaced by garbage, on alternate points; directory entries not fsynced
** undone) and the store is reopened on the healed env. It must:
**   - open;
**   - hold exactly the state after some batch j (the value of "last"):
**     no partial batch, nothing out of order, no key the history never
**     wrote (checked by point reads and by a full iteration);
**   - have every acknowledged batch (j >= last kv_write that returned
**     KV_OK) and no batch that was never attempted (j <= last attempted);
**   - pass kv_verify;
**   - accept a new commit and show it after another reopen.
**
** make test runs every crash point of the uncompressed workload and one in
** three of the zlib one, alternating the power-loss modes; STRESS=1 runs
** every point of both in both modes. The base env skips real fsyncs: the
** power-loss model alone decides what survives.
**
** Known bug (testutil.h tuKnownBug): with wal-cut-unsynced listed, a lost
** acknowledged batch whose store shows a WAL segment ending in zeros is
** counted as an expected failure; the test then fails if none shows.
*/
#include <stdint.h>
#include <unistd.h>
#include <time.h>

#include "testutil.h"

#define NKEYS   40
#define NBATCH  48
#define FLUSH_EVERY 8

/* Option that differs between the test cases (compression). */
static const char *zExtraOpt = "compression=none";

/* test_crash_rangedel: every RANGEDEL_EVERY-th batch also deletes the
** range [k2, k3) (k2 and k20..k29 in byte order) as one range tombstone,
** after its other writes, so that tombstones cross WAL replay, flushes
** and compactions at every crash point. */
static int bRangeDel = 0;
#define RANGEDEL_EVERY 5
static int inRange(int iKey){ return iKey==2 || (iKey>=20 && iKey<=29); }
/* Crash points that lost a batch to the known bug wal-cut-unsynced. */
static int nXfail = 0;


/* Value of "k<iKey>" after batches 1..j, or -1 if absent. Batch i puts
** k<i%NKEYS> and deletes k<(i+17)%NKEYS>. */
static int modelValue(int iKey, int j){
  int i;
  for(i=j; i>=1; i--){
    if( bRangeDel && i%RANGEDEL_EVERY==0 && inRange(iKey) ) return -1;
    if( i%NKEYS==iKey ) return i;
    if( (i+17)%NKEYS==iKey ) return -1;
  }
  return -1;
}

static int writeBatch(kv_db *db, int i){
  kv_batch *b = kv_batch_new();
  char zKey[32], zVal[700];
  size_t nVal;
  int rc;
  assert_non_null(b);
  snprintf(zVal, sizeof(zVal), "%d", i);
  kv_batch_put(b, "last", 4, zVal, strlen(zVal));
  snprintf(zKey, sizeof(zKey), "k%d", i%NKEYS);
  nVal = strlen(zVal);
  /* Every third value is long, so tables hold several data blocks. */
  if( i%3==0 ){
    memset(zVal+nVal, 'a' + i%26, 600);
    nVal += 600;
  }
  kv_batch_put(b, zKey, strlen(zKey), zVal, nVal);
  snprintf(zKey, sizeof(zKey), "k%d", (i+17)%NKEYS);
  kv_batch_delete(b, zKey, strlen(zKey));
  if( bRangeDel && i%RANGEDEL_EVERY==0 ){
    kv_batch_delete_range(b, "k2", 2, "k3", 2);
  }
  rc = kv_write(db, b);
  kv_batch_free(b);
  return rc;
}

/* The deterministic workload. Stops at the first failure (a crashed env
** fails everything after the crash). Sets *pnAcked to the last batch whose
** commit returned KV_OK and *pnTried to the last one attempted. */
static void workload(const char *zDir, const kv_options *o, int *pnAcked,
                     int *pnTried){
  kv_db *db = 0;
  int i, rc;
  *pnAcked = 0;
  *pnTried = 0;
  rc = kv_open(zDir, o, &db);
  for(i=1; rc==KV_OK && i<=NBATCH; i++){
    if( i==NBATCH/2 ){
      kv_close(db);
      db = 0;
      rc = kv_open(zDir, o, &db);
      if( rc!=KV_OK ) break;
    }
    *pnTried = i;
    rc = writeBatch(db, i);
    if( rc!=KV_OK ) break;
    *pnAcked = i;
    if( i%FLUSH_EVERY==0 ) rc = kv_flush(db);
  }
  kv_close(db);
}

/* Check that db holds exactly the state after batch j and return j. Fails
** the test (naming the crash point) otherwise. */
static int checkPrefix(kv_db *db, int iPoint){
  const char *z = tuGet(db, 0, 0, "last");
  int j = z ? atoi(z) : 0;
  int k, nLive = 0, nSeen = 0;
  kv_iter *it = 0;
  int rc;
  for(k=0; k<NKEYS; k++){
    char zKey[32];
    int want = modelValue(k, j);
    snprintf(zKey, sizeof(zKey), "k%d", k);
    z = tuGet(db, 0, 0, zKey);
    if( want<0 ? z!=0 : (z==0 || atoi(z)!=want) ){
      fail_msg("crash point %d: state is not the one after batch %d: "
               "%s is %s, want %d", iPoint, j, zKey, z ? z : "absent", want);
    }
    if( want>=0 ) nLive++;
  }
  /* No phantom keys: the iteration sees the model's keys and no other. */
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  for(rc=kv_iter_first(it); rc==KV_OK && kv_iter_valid(it);
      rc=kv_iter_next(it)){
    size_t n;
    const char *zKey = kv_iter_key(it, &n);
    if( n==4 && memcmp(zKey, "last", 4)==0 ) continue;
    if( n<2 || zKey[0]!='k' ){
      fail_msg("crash point %d: phantom key '%.*s'", iPoint, (int)n, zKey);
    }
    nSeen++;
  }
  if( rc!=KV_OK ) fail_msg("crash point %d: iteration: %s", iPoint,
                           kv_errmsg(db));
  kv_iter_free(it);
  if( nSeen!=nLive ){
    fail_msg("crash point %d: iteration saw %d keys, want %d", iPoint,
             nSeen, nLive);
  }
  return j;
}

static void checkVerify(kv_db *db, int iPoint){
  char *zReport = 0;
  int rc = kv_verify(db, &zReport);
  if( rc!=KV_OK ) fail_msg("crash point %d: kv_verify: %s", iPoint,
                           kv_errmsg(db));
  if( strcmp(zReport, "ok")!=0 ){
    fail_msg("crash point %d: kv_verify: %s", iPoint, zReport);
  }
  kv_free(zReport);
}

/* Crash at operation iPoint of the workload, lose power, recover, check. */
static void crashAt(const char *zOpts, int iPoint, int eMode){
  char zDir[256];
  KvEnv *pEnv = kvTestEnvNew(fastPosix());
  kv_options *o;
  kv_db *db = 0;
  int nAcked = 0, nTried = 0, j, rc;
  int bZeroTail;

  assert_non_null(pEnv);
  tuTempDir(zDir, sizeof(zDir), "crashpt");
  o = tuOptions(zOpts, zExtraOpt, "background=off", "wal_segment_records=5",
                "level0_trigger=2", "block_size=1KB", NULL);
  kvOptionsSetEnv(o, pEnv);
  if( iPoint>0 ) kvTestEnvCrashAfter(pEnv, iPoint);
  workload(zDir, o, &nAcked, &nTried);
  assert_int_equal(kvTestEnvPowerLoss(pEnv, eMode), KV_OK);
  bZeroTail = tuWalZeroTail(zDir);

  rc = kv_open(zDir, o, &db);
  if( rc!=KV_OK ){
    fail_msg("crash point %d (%s): reopen failed: %d %s", iPoint,
             eMode==KV_PL_GARBAGE ? "garbage" : "truncate", rc,
             kv_errmsg(0));
  }
  j = checkPrefix(db, iPoint);
  if( j<nAcked && bZeroTail && tuKnownBug("wal-cut-unsynced") ){
    print_message("XFAIL crash point %d (wal-cut-unsynced): lost "
                  "acknowledged batches %d..%d\n", iPoint, j+1, nAcked);
    nXfail++;
    kv_close(db);
    kv_options_free(o);
    kvTestEnvFree(pEnv);
    tuRemoveDir(zDir);
    return;
  }
  if( j<nAcked ){
    fail_msg("crash point %d: lost acknowledged batches %d..%d", iPoint,
             j+1, nAcked);
  }
  if( j>nTried ){
    fail_msg("crash point %d: batch %d recovered, only %d attempted",
             iPoint, j, nTried);
  }
  checkVerify(db, iPoint);

  /* The recovered store takes new commits and keeps them. */
  if( writeBatch(db, j+1)!=KV_OK ){
    fail_msg("crash point %d: commit after recovery: %s", iPoint,
             kv_errmsg(db));
  }
  kv_close(db);
  db = tuOpen(zDir, o);
  assert_int_equal(checkPrefix(db, iPoint), j+1);
  kv_close(db);

  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
}

/* Number of mutating operations of the whole workload. */
static int countOps(const char *zOpts){
  char zDir[256];
  KvEnv *pEnv = kvTestEnvNew(fastPosix());
  kv_options *o;
  int nAcked, nTried, n;
  assert_non_null(pEnv);
  tuTempDir(zDir, sizeof(zDir), "crashpt");
  o = tuOptions(zOpts, zExtraOpt, "background=off", "wal_segment_records=5",
                "level0_trigger=2", "block_size=1KB", NULL);
  kvOptionsSetEnv(o, pEnv);
  workload(zDir, o, &nAcked, &nTried);
  assert_int_equal(nAcked, NBATCH);
  n = (int)kvTestEnvCount(pEnv, KV_TOP_ANY);
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
  return n;
}

static void runAll(const char *zOpts, int nStrideShort){
  int nOp = countOps(zOpts);
  int bStress = stressLevel()>0;
  int nStride = bStress ? 1 : nStrideShort;
  int n, nRun = 0;
  struct timespec t0, t1;
  nXfail = 0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for(n=1; n<=nOp; n+=nStride){
    if( bStress ){
      crashAt(zOpts, n, KV_PL_TRUNCATE);
      crashAt(zOpts, n, KV_PL_GARBAGE);
      nRun += 2;
    }else{
      crashAt(zOpts, n, (n/nStride)%2 ? KV_PL_GARBAGE : KV_PL_TRUNCATE);
      nRun++;
    }
  }
  /* And the crash that never comes: the whole workload, then power loss. */
  crashAt(zOpts, 0, KV_PL_GARBAGE);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  print_message("%s %s: %d mutating operations, %d crash points run in "
                "%.1fs\n", zOpts, zExtraOpt, nOp, nRun + 1,
                (double)(t1.tv_sec - t0.tv_sec)
                + (double)(t1.tv_nsec - t0.tv_nsec)/1e9);
  if( tuKnownBug("wal-cut-unsynced") ){
    print_message("%d crash points lost batches to the known bug "
                  "wal-cut-unsynced (XFAIL)\n", nXfail);
    if( nXfail==0 ){
      fail_msg("XPASS: wal-cut-unsynced no longer shows; remove it from "
               "KNOWN_BUGS in the Makefile");
    }
  }
}

static void test_crash_sync_full(void **state){
  (void)state;
  zExtraOpt = "compression=none";
  runAll("sync=full", 1);
}

static void test_crash_sync_full_zlib(void **state){
  (void)state;
  zExtraOpt = "compression=zlib";
  runAll("sync=full", 3);
}

static void test_crash_rangedel(void **state){
  (void)state;
  zExtraOpt = "compression=none";
  bRangeDel = 1;
  runAll("sync=full", 2);
  bRangeDel = 0;
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_crash_sync_full),
    cmocka_unit_test(test_crash_sync_full_zlib),
    cmocka_unit_test(test_crash_rangedel),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
