/*
** test_compact_crash.c - compaction under crashes and under a long run of
** flushes.
**
** Crash points: the test env lets the first n mutating I/O operations of a
** compaction succeed and kills the "process" at the next one; the power
** loss that follows drops everything not fsynced (or replaces it with
** garbage). For every n in turn, until the compaction completes, the store
** must reopen with every committed row and pass kv_verify. Run for a full
** compaction (every operation is compaction I/O) and for a flush that
** triggers an inline level-0 compaction.
**
** Flushes: 1000 flushes of a small memtable, leveled and tiered with the
** background thread (background=off: test_compact.c): level 0 never
** passes its stop threshold, and once
** compaction has caught up a point read consults at most
** levels + level0_trigger tables (counted by the store's probe counter).
*/
#include <stdint.h>

#include "testutil.h"

#define NKEY 400

static int aVer[NKEY];             /* model: version of each key, -1 absent */

static void keyName(char *z, size_t n, int i){
  snprintf(z, n, "k%05d", i);
}
static void valName(char *z, size_t n, int i, int iVer){
  snprintf(z, n, "value-%d-%d-with-some-padding-to-fill-blocks", i, iVer);
}

/* One round of writes as one batch: puts and deletes by a pattern. */
static void writeRound(kv_db *db, int r){
  kv_batch *b = kv_batch_new();
  int i;
  assert_non_null(b);
  for(i=0; i<NKEY; i++){
    char zKey[32], zVal[96];
    keyName(zKey, sizeof(zKey), i);
    if( (i+r)%5==0 ){
      assert_int_equal(kv_batch_delete(b, zKey, strlen(zKey)), KV_OK);
      aVer[i] = -1;
    }else if( (i*(r+1))%3!=1 ){
      valName(zVal, sizeof(zVal), i, r);
      assert_int_equal(kv_batch_put(b, zKey, strlen(zKey), zVal, strlen(zVal)), KV_OK);
      aVer[i] = r;
    }
  }
  assert_int_equal(kv_write(db, b), KV_OK);
  kv_batch_free(b);
}

static void checkAll(kv_db *db, int n){
  int i;
  char *z = 0;
  for(i=0; i<NKEY; i++){
    char zKey[32], zVal[96];
    const char *zGot;
    keyName(zKey, sizeof(zKey), i);
    zGot = tuGet(db, 0, 0, zKey);
    if( aVer[i]<0 ){
      if( zGot ) fail_msg("crash point %d: %s present after a crash", n, zKey);
    }else{
      valName(zVal, sizeof(zVal), i, aVer[i]);
      if( zGot==0 || strcmp(zGot, zVal)!=0 ){
        fail_msg("crash point %d: %s is %s, expected %s", n, zKey,
                 zGot ? zGot : "(absent)", zVal);
      }
    }
  }
  assert_int_equal(kv_verify(db, &z), KV_OK);
  if( strcmp(z, "ok")!=0 ) fail_msg("crash point %d: verify: %s", n, z);
  kv_free(z);
}

static kv_options *crashOptions(int eScenario, const char *zStrategy){
  char zOpt[64];
  snprintf(zOpt, sizeof(zOpt), "compaction=%s", zStrategy);
  return tuOptions("background=off", "sync=full", "levels=3", zOpt,
                   eScenario==0 ? "level0_trigger=64" : "level0_trigger=2",
                   "target_file_size=4KB", NULL);
}

/*
** eScenario 0: three L0 tables, crash inside kv_compact(db, 1).
** eScenario 1: data in the bottom level and one L0 table; crash inside the
** kv_flush whose new table triggers a level-0 compaction (trigger 2).
** The base store is built once; each crash point starts from a copy.
*/
static int runCrash(int eScenario, int eMode, const char *zStrategy,
                    int nStride){
  static int aBase[NKEY];
  char zBase[256];
  kv_options *o = crashOptions(eScenario, zStrategy);
  kv_db *db;
  int n, r;
  int nPoint = 0;

  tuTempDir(zBase, sizeof(zBase), "ccbase");
  db = tuOpen(zBase, o);
  for(r=0; r<NKEY; r++) aVer[r] = -1;
  if( eScenario==0 ){
    for(r=0; r<3; r++){
      writeRound(db, r);
      assert_int_equal(kv_flush(db), KV_OK);
    }
  }else{
    writeRound(db, 0);
    assert_int_equal(kv_compact(db, 1, 0), KV_OK);
    writeRound(db, 1);
    assert_int_equal(kv_flush(db), KV_OK);
  }
  assert_int_equal(kv_close(db), KV_OK);
  memcpy(aBase, aVer, sizeof(aBase));

  for(n=0; ; n+=nStride){
    char zDir[256];
    KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
    kv_options *oEnv = kv_options_copy(o);
    int rc, bDone;
    assert_non_null(pEnv);
    assert_non_null(oEnv);
    kvOptionsSetEnv(oEnv, pEnv);
    tuTempDir(zDir, sizeof(zDir), "ccrash");
    tuCopyDir(zBase, zDir);
    memcpy(aVer, aBase, sizeof(aBase));
    db = tuOpen(zDir, oEnv);
    if( eScenario==0 ){
      kvTestEnvCrashAfter(pEnv, n);
      rc = kv_compact(db, 1, 0);
    }else{
      writeRound(db, 2);
      kvTestEnvCrashAfter(pEnv, n);
      rc = kv_flush(db);
    }
    /* Crashes after the manifest sync (closing and unlinking the inputs)
    ** leave rc KV_OK. */
    bDone = rc==KV_OK && !kvTestEnvIsDead(pEnv);
    if( !bDone ) nPoint++;
    kv_close(db);
    assert_int_equal(kvTestEnvPowerLoss(pEnv, eMode), KV_OK);
    db = tuOpen(zDir, oEnv);
    checkAll(db, n);
    if( n%(8*nStride)==0 || bDone ){
      /* The reopened store compacts and writes normally. */
      assert_int_equal(kv_compact(db, 1, 0), KV_OK);
      writeRound(db, 3);
      checkAll(db, n);
    }
    kv_close(db);
    kv_options_free(oEnv);
    kvTestEnvFree(pEnv);
    tuRemoveDir(zDir);
    if( bDone ) break;
  }
  kv_options_free(o);
  tuRemoveDir(zBase);
  return nPoint;
}

static void test_crash_full_compaction(void **state){
  int n;
  (void)state;
  n = runCrash(0, KV_PL_TRUNCATE, "leveled", 1);
  print_message("full compaction: %d crash points\n", n);
  assert_true(n>=10);
  n = runCrash(0, KV_PL_GARBAGE, "tiered", 3);   /* every third point */
  assert_true(n>=5);
}

static void test_crash_flush_compaction(void **state){
  int n;
  (void)state;
  n = runCrash(1, KV_PL_TRUNCATE, "leveled", 1);
  print_message("flush + level-0 compaction: %d crash points\n", n);
  assert_true(n>=10);
  n = runCrash(1, KV_PL_GARBAGE, "tiered", 3);
  assert_true(n>=5);
}

/* ---------------------------------------------------------------------- */
/* 1000 flushes.                                                           */

static u64 rngState;
static u64 rnd(void){
  rngState ^= rngState >> 12;
  rngState ^= rngState << 25;
  rngState ^= rngState >> 27;
  return rngState * 2685821657736338717ULL;
}

static void runFlushes(const char *zStrategy, const char *zBackground){
  char zDir[256], zOpt[64], zBg[64];
  kv_options *o;
  kv_db *db;
  int iFlush, i, nMaxL0 = 0, nMaxProbe = 0;
  int nLevel = 5, nTrigger = 4;
  char *z = 0;
  rngState = 0x9E3779B97F4A7C15ULL;
  snprintf(zOpt, sizeof(zOpt), "compaction=%s", zStrategy);
  snprintf(zBg, sizeof(zBg), "background=%s", zBackground);
  o = tuOptions(zOpt, zBg, "levels=5", "level0_trigger=4",
                "memtable_size=64KB", "target_file_size=16KB",
                "level_size_multiplier=4", "block_size=1KB", "sync=off", NULL);
  tuTempDir(zDir, sizeof(zDir), "cflush");
  db = tuOpen(zDir, o);
  for(iFlush=0; iFlush<1000; iFlush++){
    /* 20 rows per flush over 10000 keys: the tree grows to ~1 MB. */
    kv_batch *b = kv_batch_new();
    for(i=0; i<20; i++){
      char zKey[32], zVal[96];
      keyName(zKey, sizeof(zKey), (int)(rnd()%10000));
      valName(zVal, sizeof(zVal), i, iFlush);
      assert_int_equal(kv_batch_put(b, zKey, strlen(zKey), zVal, strlen(zVal)), KV_OK);
    }
    assert_int_equal(kv_write(db, b), KV_OK);
    kv_batch_free(b);
    assert_int_equal(kv_flush(db), KV_OK);
    kvDbLock(db);
    if( db->vset.pCurrent->anFile[0]>nMaxL0 ) nMaxL0 = db->vset.pCurrent->anFile[0];
    kvDbUnlock(db);
  }
  /* The stop threshold holds (a flush waits below it). */
  assert_true(nMaxL0 <= 3*nTrigger);
  if( strcmp(zBackground, "off")==0 ) assert_true(nMaxL0 <= nTrigger);
  assert_int_equal(kv_compact(db, 0, 0), KV_OK);       /* catch up */
  for(i=0; i<2000; i++){
    char zKey[32];
    u64 n0 = atomic_load(&db->counters.nFileProbe), n1;
    keyName(zKey, sizeof(zKey), (int)(rnd()%12000));
    tuGet(db, 0, 0, zKey);
    n1 = atomic_load(&db->counters.nFileProbe);
    if( (int)(n1-n0)>nMaxProbe ) nMaxProbe = (int)(n1-n0);
  }
  assert_int_equal(kv_stats(db, &z), KV_OK);
  print_message("%s, background=%s: max L0 files %d, max tables per read %d"
                "\n  levels %.200s\n", zStrategy, zBackground, nMaxL0,
                nMaxProbe, strstr(z, "\"levels\""));
  print_message("  %.400s\n", strstr(z, "\"reads\""));
  kv_free(z);
  assert_true(nMaxProbe <= nLevel + nTrigger);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

static void test_flushes_leveled_bg(void **state){
  (void)state;
  runFlushes("leveled", "on");
}
static void test_flushes_tiered_bg(void **state){
  (void)state;
  runFlushes("tiered", "on");
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_crash_full_compaction),
    cmocka_unit_test(test_crash_flush_compaction),
    cmocka_unit_test(test_flushes_leveled_bg),
    cmocka_unit_test(test_flushes_tiered_bg),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
