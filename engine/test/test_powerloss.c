/*
** test_powerloss.c - simulated power loss through the test env.
**
** Each round opens the store on the test env, commits batches, and arms a
** crash after a random number of mutating I/O operations. When the env
** dies (every later operation fails) the store is closed, the power-loss
** model drops whatever was not durable (unsynced file tails, directory
** entries not fsynced; optionally leaving garbage in their place), and the
** store is reopened on a healthy env.
**
** Batch i puts "last"=i and "k<i%50>"=i and deletes "k<(i+25)%50>", so the
** state after any prefix of the history is known. After reopening, the
** store must hold exactly the state after batch j, where j is the value of
** "last" (a prefix: nothing partial, nothing out of order), and:
**   sync=full:           j >= every batch whose kv_write returned KV_OK
**   sync=normal and off: any j (the store opens and holds a prefix)
**
** test_missing_dir_fsync_detected switches the directory fsync off (a
** test-only switch of the env) and shows the check can fail: new files
** then vanish with the power and acknowledged commits are lost.
**
** test_new_store_dir_survives: a store whose directory kv_open creates
** keeps a commit acknowledged with sync=full across a power cut. The env
** loses a new directory whose parent was never fsynced; kv_open does not
** fsync it (known bug store-dir-unsynced, XFAIL while KNOWN_BUGS lists it).
*/
#include <stdint.h>
#include <unistd.h>

#include "testutil.h"

#define NKEYS 50

static u64 rng = 0x243F6A8885A308D3ULL;
static int rndInt(int n){
  rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
  return (int)((rng * 2685821657736338717ULL) % (u64)n);
}

/* Value of "k<iKey>" after batches 1..j, or -1 if absent. */
static int modelValue(int iKey, int j){
  int i;
  for(i=j; i>=1; i--){
    if( i%NKEYS==iKey ) return i;
    if( (i+25)%NKEYS==iKey ) return -1;
  }
  return -1;
}

static int writeBatch(kv_db *db, int i, int nPad){
  kv_batch *b = kv_batch_new();
  char zKey[32], zVal[600];
  size_t nVal;
  int rc;
  assert_non_null(b);
  snprintf(zVal, sizeof(zVal), "%d", i);
  kv_batch_put(b, "last", 4, zVal, strlen(zVal));
  snprintf(zKey, sizeof(zKey), "k%d", i%NKEYS);
  /* Padding makes memtables fill and flush now and then. */
  nVal = strlen(zVal);
  memset(zVal + nVal, ' ', (size_t)nPad);
  kv_batch_put(b, zKey, strlen(zKey), zVal, nVal + (size_t)nPad);
  snprintf(zKey, sizeof(zKey), "k%d", (i+25)%NKEYS);
  kv_batch_delete(b, zKey, strlen(zKey));
  rc = kv_write(db, b);
  kv_batch_free(b);
  return rc;
}

/* Check the reopened store holds exactly the state after batch j, and
** return j (0 if the store is empty). -1 when the state is not a prefix. */
static int recoveredPrefix(kv_db *db){
  const char *z = tuGet(db, 0, 0, "last");
  int j = z ? atoi(z) : 0;
  int k;
  for(k=0; k<NKEYS; k++){
    char zKey[32];
    int want = modelValue(k, j);
    snprintf(zKey, sizeof(zKey), "k%d", k);
    z = tuGet(db, 0, 0, zKey);
    if( want<0 ? z!=0 : (z==0 || atoi(z)!=want) ) return -1;
  }
  return j;
}

/* One store, nRound crash/power-loss rounds. Returns the number of rounds
** in which an acknowledged commit was lost or the store failed to open. */
static int runRounds(const char *zSync, int eMode, int bDirSync, int nRound,
                     int bExpectClean){
  char zDir[256];
  char zSyncOpt[64];
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  kv_options *o;
  int iNext = 1;                /* next batch number */
  int nLoss = 0;
  int r;

  assert_non_null(pEnv);
  tuTempDir(zDir, sizeof(zDir), "powerloss");
  snprintf(zSyncOpt, sizeof(zSyncOpt), "sync=%s", zSync);
  o = tuOptions(zSyncOpt, "background=off", "memtable_size=64KB",
                "wal_segment_size=16KB", NULL);
  kvOptionsSetEnv(o, pEnv);
  kvTestEnvSetDirSync(pEnv, bDirSync);

  for(r=0; r<nRound; r++){
    kv_db *db = 0;
    int iAcked = iNext - 1;
    int rc, j;
    rc = kv_open(zDir, o, &db);
    if( rc!=KV_OK ){
      if( bExpectClean ) fail_msg("round %d: open failed: %s", r, kv_errmsg(0));
      nLoss++;
      break;                    /* the store is gone; nothing more to do */
    }
    j = recoveredPrefix(db);
    if( j<0 ) fail_msg("round %d: recovered state is not a prefix", r);
    if( j<iAcked ){
      if( bExpectClean ){
        fail_msg("round %d (sync=%s): lost acknowledged commits %d..%d",
                 r, zSync, j+1, iAcked);
      }
      nLoss++;
    }
    iNext = j + 1;
    /* Commit until the armed crash kills the env. */
    kvTestEnvCrashAfter(pEnv, 1 + rndInt(60));
    for(;;){
      rc = writeBatch(db, iNext, rndInt(4)==0 ? 500 : 0);
      if( rc!=KV_OK ) break;
      iNext++;
    }
    assert_true(kvTestEnvIsDead(pEnv));
    kv_close(db);
    assert_int_equal(kvTestEnvPowerLoss(pEnv, eMode), KV_OK);
  }
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
  return nLoss;
}

static void test_sync_full(void **state){
  (void)state;
  assert_int_equal(runRounds("full", KV_PL_TRUNCATE, 1, 150, 1), 0);
}

static void test_sync_full_garbage(void **state){
  (void)state;
  assert_int_equal(runRounds("full", KV_PL_GARBAGE, 1, 150, 1), 0);
}

static void test_sync_normal(void **state){
  (void)state;
  /* A prefix every time; commits since the last segment sync may go. */
  runRounds("normal", KV_PL_TRUNCATE, 1, 100, 0);
  runRounds("normal", KV_PL_GARBAGE, 1, 100, 0);
}

static void test_sync_off(void **state){
  (void)state;
  runRounds("off", KV_PL_TRUNCATE, 1, 100, 0);
  runRounds("off", KV_PL_GARBAGE, 1, 100, 0);
}

static void test_missing_dir_fsync_detected(void **state){
  int nLoss;
  (void)state;
  /* Without the directory fsync, new WAL segments and tables vanish with
  ** the power: the same check must see acknowledged commits lost (or the
  ** store fail to open) in some round. */
  nLoss = runRounds("full", KV_PL_TRUNCATE, 0, 60, 0);
  print_message("rounds with loss when directory fsync is off: %d\n", nLoss);
  assert_true(nLoss>0);
}

static void test_new_store_dir_survives(void **state){
  char zParent[256], zDir[300];
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  kv_options *o;
  kv_db *db;
  const char *z;
  int bDirGone;
  (void)state;
  assert_non_null(pEnv);
  tuTempDir(zParent, sizeof(zParent), "powerloss-newdir");
  snprintf(zDir, sizeof(zDir), "%s/store", zParent);
  o = tuOptions("sync=full", "background=off", NULL);
  kvOptionsSetEnv(o, pEnv);
  db = tuOpen(zDir, o);
  tuPut(db, "acked", "yes");
  kvTestEnvCrashAfter(pEnv, 0);
  kv_close(db);
  assert_int_equal(kvTestEnvPowerLoss(pEnv, KV_PL_TRUNCATE), KV_OK);
  bDirGone = access(zDir, F_OK)!=0;
  db = tuOpen(zDir, o);
  z = tuGet(db, 0, 0, "acked");
  if( z==0 && bDirGone && tuKnownBug("store-dir-unsynced") ){
    print_message("XFAIL (store-dir-unsynced): the new store's directory "
                  "was lost with an acknowledged commit\n");
  }else{
    if( z==0 ){
      fail_msg("commit acknowledged with sync=full lost (store directory "
               "%s)", bDirGone ? "lost" : "kept");
    }
    assert_string_equal(z, "yes");
    if( tuKnownBug("store-dir-unsynced") ){
      fail_msg("XPASS: store-dir-unsynced no longer shows; remove it from "
               "KNOWN_BUGS in the Makefile");
    }
  }
  kv_close(db);
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zParent);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sync_full),
    cmocka_unit_test(test_sync_full_garbage),
    cmocka_unit_test(test_sync_normal),
    cmocka_unit_test(test_sync_off),
    cmocka_unit_test(test_missing_dir_fsync_detected),
    cmocka_unit_test(test_new_store_dir_survives),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
