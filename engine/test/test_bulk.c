/*
** test_bulk.c - kv_bulk_* (engine/bulk.c): a sorted load written straight
** to a table and installed by renaming it (no copy) at the bottom level;
** a batch taken into a load; rows given back by kv_bulk_unload (all, some,
** none); keys out of order refused; an abandoned load leaves no file; a
** load whose sequence moved is copied at the right one; recovery revokes
** a prepared load above the horizon and a crash leaves no table behind.
*/
#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include <stdio.h>

#include "testutil.h"

static void keyOf(char *z, int i){ snprintf(z, 16, "k%07d", i); }

static kv_options *bulkOptions(void){
  return tuOptions("background=off", "sync=off", "levels=4",
                   "block_size=1KB", NULL);
}

static void addRange(kv_bulk *p, int lo, int hi, const char *zVal){
  int i;
  for(i=lo; i<hi; i++){
    char z[16];
    keyOf(z, i);
    assert_int_equal(kv_bulk_add(p, z, strlen(z), zVal, strlen(zVal)),
                     KV_OK);
  }
}

/* A sorted load of keys [lo, hi), prepared and committed. */
static void loadRange(kv_db *db, int lo, int hi, const char *zVal){
  kv_bulk *p = 0;
  kv_ingest_job *pJob = 0;
  assert_int_equal(kv_bulk_begin(db, &p), KV_OK);
  addRange(p, lo, hi, zVal);
  assert_int_equal(kv_bulk_prepare(db, p, &pJob), KV_OK);
  assert_int_equal(kv_ingest_commit(db, pJob), KV_OK);
}

static const char *valueOf(kv_db *db, int i){
  char z[16];
  keyOf(z, i);
  return tuGet(db, 0, 0, z);
}

/* A load of keys [lo, hi) whose first nKeep rows kv_bulk_unload gives
** back, written: exactly those rows are in the store after it. */
static void unloadSome(kv_db *db, int lo, int hi, int nKeep,
                       const char *zVal){
  kv_bulk *p = 0;
  kv_batch *b = kv_batch_new();
  assert_non_null(b);
  assert_int_equal(kv_bulk_begin(db, &p), KV_OK);
  addRange(p, lo, hi, zVal);
  assert_int_equal(kv_bulk_unload(p, (uint64_t)nKeep, b), KV_OK);
  assert_int_equal(kv_batch_count(b), nKeep);
  assert_int_equal(kv_write(db, b), KV_OK);
  assert_string_equal(valueOf(db, lo), zVal);
  assert_string_equal(valueOf(db, lo+nKeep-1), zVal);
  assert_null(valueOf(db, lo+nKeep));
  kv_batch_free(b);
}

/* A load of keys [lo, hi) given up: zDir holds nSst tables after it, as
** before. */
static void abandonRange(kv_db *db, const char *zDir, int lo, int hi,
                         const char *zVal, int nSst){
  kv_bulk *p = 0;
  assert_int_equal(kv_bulk_begin(db, &p), KV_OK);
  addRange(p, lo, hi, zVal);
  kv_bulk_free(p);
  assert_int_equal(tuCountFiles(zDir, ".sst"), nSst);
}

/* Largest file number of a .sst in zDir. */
static u64 maxSstNumber(const char *zDir){
  char **az = 0;
  int n = 0, i;
  u64 m = 0;
  KvEnv *pEnv = kvEnvPosix();
  assert_int_equal(pEnv->xList(pEnv, zDir, &az, &n), KV_OK);
  for(i=0; i<n; i++){
    size_t l = strlen(az[i]);
    if( l>4 && strcmp(az[i]+l-4, ".sst")==0 ){
      u64 v = strtoull(az[i], 0, 10);
      if( v>m ) m = v;
    }
  }
  kvFreeList(az, n);
  return m;
}

static void test_bulk_load(void **state){
  char zDir[256];
  kv_options *o = bulkOptions();
  kv_db *db;
  kv_bulk *p = 0;
  kv_batch *b = kv_batch_new();
  kv_ingest_job *pJob = 0;
  kv_sstable_info *a = 0;
  int n = 0, i;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "bulk");
  db = tuOpen(zDir, o);
  tuPut(db, "a", "before");                   /* below the load */
  /* the first rows come from a batch, the rest are added one by one */
  for(i=0; i<100; i++){
    char z[16];
    keyOf(z, i);
    assert_int_equal(kv_batch_put(b, z, strlen(z), "v", 1), KV_OK);
  }
  assert_int_equal(kv_bulk_begin(db, &p), KV_OK);
  assert_int_equal(kv_bulk_seq(p), 2);
  assert_int_equal(kv_bulk_take(p, b), KV_OK);
  assert_int_equal(kv_batch_count(b), 0);
  addRange(p, 100, 20000, "v");
  assert_int_equal(kv_bulk_count(p), 20000);
  /* not above the last row */
  assert_int_equal(kv_bulk_add(p, "k0000005", 8, "x", 1), KV_MISUSE);
  assert_int_equal(kv_bulk_prepare(db, p, &pJob), KV_OK);
  assert_int_equal(kv_ingest_seq(pJob), 2);
  assert_null(valueOf(db, 7));                 /* not published yet */
  assert_int_equal(kv_ingest_commit(db, pJob), KV_OK);
  for(i=0; i<20000; i+=997) assert_string_equal(valueOf(db, i), "v");
  assert_string_equal(tuGet(db, 0, 0, "a"), "before");
  /* renamed into the store's numbering, at the bottom level */
  assert_true(maxSstNumber(zDir)<1000);
  assert_int_equal(kv_sstables(db, &a, &n), KV_OK);
  assert_int_equal(n, 2);
  assert_int_equal(a[1].iLevel, 3);
  assert_int_equal(a[1].nEntry, 20000);
  assert_int_equal(a[1].minSeq, 2);
  kv_free(a);
  tuVerifyOk(db);
  assert_int_equal(kv_close(db), KV_OK);
  db = tuOpen(zDir, o);
  assert_string_equal(valueOf(db, 19999), "v");
  assert_int_equal(kv_last_seq(db), 2);
  assert_int_equal(kv_close(db), KV_OK);
  kv_batch_free(b);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* kv_bulk_last names the last row added (the SQL layer's order check uses
** it): none before the first add, each new row after, unchanged by a
** refused out-of-order add, also past the rows a batch handed over. */
static void test_bulk_last_key(void **state){
  char zDir[256];
  kv_options *o = bulkOptions();
  kv_db *db;
  kv_bulk *p = 0;
  kv_batch *b = kv_batch_new();
  const void *a;
  size_t n = 99;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "bulklast");
  db = tuOpen(zDir, o);
  assert_int_equal(kv_bulk_begin(db, &p), KV_OK);
  a = kv_bulk_last(p, &n);
  assert_null(a);
  assert_int_equal(n, 0);
  assert_int_equal(kv_batch_put(b, "b", 1, "v", 1), KV_OK);
  assert_int_equal(kv_batch_put(b, "bb", 2, "v", 1), KV_OK);
  assert_int_equal(kv_bulk_take(p, b), KV_OK);
  a = kv_bulk_last(p, &n);
  assert_int_equal(n, 2);
  assert_memory_equal(a, "bb", 2);
  assert_int_equal(kv_bulk_add(p, "c", 1, "v", 1), KV_OK);
  assert_int_equal(kv_bulk_add(p, "cat", 3, "v", 1), KV_OK);
  a = kv_bulk_last(p, &n);
  assert_int_equal(n, 3);
  assert_memory_equal(a, "cat", 3);
  /* equal and lower keys are refused; the last key stays */
  assert_int_equal(kv_bulk_add(p, "cat", 3, "w", 1), KV_MISUSE);
  assert_int_equal(kv_bulk_add(p, "ca", 2, "w", 1), KV_MISUSE);
  a = kv_bulk_last(p, &n);
  assert_int_equal(n, 3);
  assert_memory_equal(a, "cat", 3);
  assert_int_equal(kv_bulk_add(p, "catalogue", 9, "v", 1), KV_OK);
  a = kv_bulk_last(p, &n);
  assert_int_equal(n, 9);
  assert_memory_equal(a, "catalogue", 9);
  assert_int_equal(kv_bulk_count(p), 5);
  kv_bulk_free(p);
  assert_int_equal(kv_close(db), KV_OK);
  kv_batch_free(b);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Rows given back: some of them, all of them, none of them; an abandoned
** load leaves no file. */
static void test_bulk_unload(void **state){
  char zDir[256];
  kv_options *o = bulkOptions();
  kv_db *db;
  kv_bulk *p = 0;
  kv_batch *b = kv_batch_new();
  int nSst;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "bulk");
  db = tuOpen(zDir, o);
  nSst = tuCountFiles(zDir, ".sst");
  assert_int_equal(kv_bulk_begin(db, &p), KV_OK);
  addRange(p, 0, 5000, "v");
  assert_int_equal(kv_bulk_unload(p, 1234, b), KV_OK);
  assert_int_equal(kv_batch_count(b), 1234);
  assert_int_equal(tuCountFiles(zDir, ".sst"), nSst);
  assert_int_equal(kv_write(db, b), KV_OK);
  assert_string_equal(valueOf(db, 1233), "v");
  assert_null(valueOf(db, 1234));
  kv_batch_clear(b);

  assert_int_equal(kv_bulk_begin(db, &p), KV_OK);
  addRange(p, 5000, 5100, "w");
  assert_int_equal(kv_bulk_unload(p, 100, b), KV_OK);
  assert_int_equal(kv_batch_count(b), 100);
  kv_batch_clear(b);

  assert_int_equal(kv_bulk_begin(db, &p), KV_OK);
  addRange(p, 5000, 5100, "w");
  assert_int_equal(kv_bulk_unload(p, 0, b), KV_OK);
  assert_int_equal(kv_batch_count(b), 0);

  assert_int_equal(kv_bulk_begin(db, &p), KV_OK);
  addRange(p, 5000, 5100, "w");
  kv_bulk_free(p);
  assert_int_equal(tuCountFiles(zDir, ".sst"), nSst);
  assert_int_equal(tuCountFiles(zDir, ".tmp"), 0);
  assert_int_equal(kv_close(db), KV_OK);
  kv_batch_free(b);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Another write took the load's sequence: the table is copied at the
** sequence the ingest takes, and the newer write of a shared key loses to
** it as the later commit. */
static void test_bulk_seq_moved(void **state){
  char zDir[256];
  kv_options *o = bulkOptions();
  kv_db *db;
  kv_bulk *p = 0;
  kv_ingest_job *pJob = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "bulk");
  db = tuOpen(zDir, o);
  assert_int_equal(kv_bulk_begin(db, &p), KV_OK);
  assert_int_equal(kv_bulk_seq(p), 1);
  addRange(p, 0, 3000, "bulk");
  tuPut(db, "k0000010", "put");                 /* takes sequence 1 */
  assert_int_equal(kv_bulk_prepare(db, p, &pJob), KV_OK);
  assert_int_equal(kv_ingest_seq(pJob), 2);
  assert_int_equal(kv_ingest_commit(db, pJob), KV_OK);
  assert_string_equal(valueOf(db, 10), "bulk");
  assert_string_equal(valueOf(db, 2999), "bulk");
  assert_true(maxSstNumber(zDir)<1000);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Prepared (installed in the manifest) but the database did not commit:
** revoked at the next open. A crash mid-load leaves a table nothing
** names: removed at the next open. */
static void test_bulk_recovery(void **state){
  char zDir[256], zCopy[256], zCopy2[256];
  kv_options *o = bulkOptions();
  kv_options *oH;
  kv_db *db;
  kv_bulk *p = 0;
  kv_ingest_job *pJob = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "bulk");
  tuTempDir(zCopy, sizeof(zCopy), "bulkc");
  tuTempDir(zCopy2, sizeof(zCopy2), "bulkc");
  db = tuOpen(zDir, o);
  tuPut(db, "a", "1");
  assert_int_equal(kv_bulk_begin(db, &p), KV_OK);
  addRange(p, 0, 4000, "v");
  tuCopyDir(zDir, zCopy2);                        /* mid-load */
  assert_int_equal(kv_bulk_prepare(db, p, &pJob), KV_OK);
  tuCopyDir(zDir, zCopy);                         /* installed, unpublished */
  assert_int_equal(kv_ingest_abort(db, pJob), KV_OK);
  assert_int_equal(kv_close(db), KV_OK);

  oH = kv_options_copy(o);
  kv_options_set_horizon(oH, 1);
  db = tuOpen(zCopy, oH);
  assert_null(valueOf(db, 5));
  assert_string_equal(tuGet(db, 0, 0, "a"), "1");
  assert_int_equal(kv_last_seq(db), 1);
  assert_int_equal(kv_close(db), KV_OK);

  db = tuOpen(zCopy2, oH);
  assert_null(valueOf(db, 5));
  assert_true(maxSstNumber(zCopy2)<1000);
  assert_int_equal(tuCountFiles(zCopy2, ".tmp"), 0);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(oH);
  kv_options_free(o);
  tuRemoveDir(zDir);
  tuRemoveDir(zCopy);
  tuRemoveDir(zCopy2);
}

/* A load of several chunks (BULK_CHUNK, 1 MiB) is built on the builder
** thread while rows are still being added: every row lands in the table
** in order, kv_bulk_last follows the rows, the order check still refuses
** a lower key, and rows given back by kv_bulk_unload after the thread ran
** are the first ones, whole. */
static void test_bulk_builder_thread(void **state){
  char zDir[256];
  char zVal[201];
  kv_options *o = bulkOptions();
  kv_db *db;
  kv_bulk *p = 0;
  kv_ingest_job *pJob = 0;
  kv_sstable_info *a = 0;
  const void *pLast;
  size_t nLast = 0;
  int n = 0, i;
  (void)state;
  memset(zVal, 'x', 200);
  zVal[200] = 0;
  tuTempDir(zDir, sizeof(zDir), "bulkthr");
  db = tuOpen(zDir, o);
  assert_int_equal(kv_bulk_begin(db, &p), KV_OK);
  addRange(p, 0, 30000, zVal);                  /* about 6.2 MB: 6 chunks */
  pLast = kv_bulk_last(p, &nLast);
  assert_int_equal(nLast, 8);
  assert_memory_equal(pLast, "k0029999", 8);
  assert_int_equal(kv_bulk_add(p, "k0000005", 8, "x", 1), KV_MISUSE);
  assert_int_equal(kv_bulk_count(p), 30000);
  assert_int_equal(kv_bulk_prepare(db, p, &pJob), KV_OK);
  assert_int_equal(kv_ingest_commit(db, pJob), KV_OK);
  for(i=0; i<30000; i+=613) assert_string_equal(valueOf(db, i), zVal);
  assert_string_equal(valueOf(db, 29999), zVal);
  assert_int_equal(kv_sstables(db, &a, &n), KV_OK);
  assert_int_equal(n, 1);
  assert_int_equal(a[0].nEntry, 30000);
  kv_free(a);
  tuVerifyOk(db);

  /* given back after chunks went to the thread */
  unloadSome(db, 30000, 50000, 15000, zVal);
  /* abandoned while the thread holds chunks: no file left */
  abandonRange(db, zDir, 50000, 70000, zVal, 1);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* A write that fails on the builder thread (the disk full) fails the
** load, with the thread's message naming the file, at a later add or at
** kv_bulk_prepare; nothing is installed and no file is left; the store
** takes a new load afterwards. Each of the first appends fails in turn. */
static void test_bulk_builder_failure(void **state){
  char zDir[256];
  char zVal[201];
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  kv_options *o = bulkOptions();
  kv_db *db;
  int nFail;
  (void)state;
  assert_non_null(pEnv);
  memset(zVal, 'y', 200);
  zVal[200] = 0;
  kvOptionsSetEnv(o, pEnv);
  tuTempDir(zDir, sizeof(zDir), "bulkfail");
  db = tuOpen(zDir, o);
  for(nFail=1; nFail<=40; nFail+=13){
    kv_bulk *p = 0;
    kv_ingest_job *pJob = 0;
    int i, rc = KV_OK;
    assert_int_equal(kv_bulk_begin(db, &p), KV_OK);
    kvTestEnvFail(pEnv, KV_TOP_APPEND, nFail, ENOSPC, 1);
    for(i=0; i<30000 && rc==KV_OK; i++){
      char z[16];
      keyOf(z, i);
      rc = kv_bulk_add(p, z, strlen(z), zVal, 200);
    }
    if( rc==KV_OK ){
      rc = kv_bulk_prepare(db, p, &pJob);
    }else{
      kv_bulk_free(p);
    }
    kvTestEnvHeal(pEnv);
    assert_int_equal(rc, KV_FULL);
    assert_non_null(strstr(kv_errmsg(db), "kvstore: "));
    assert_non_null(strstr(kv_errmsg(db), ".sst"));
    assert_null(pJob);
    assert_null(valueOf(db, 0));
    assert_int_equal(tuCountFiles(zDir, ".sst"), 0);
  }
  loadRange(db, 0, 10000, zVal);
  assert_string_equal(valueOf(db, 9999), zVal);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
}

/* A load of more rows than kvBulkTableEntries is several tables (in key
** order, disjoint), all installed at the bottom level at one sequence;
** rows given back span them; an abandoned load removes every one. With
** the builder thread (200-byte values) and without (1-byte values). */
static void test_bulk_several_tables(void **state){
  char zDir[256];
  char zVal[201];
  kv_options *o = bulkOptions();
  kv_db *db;
  kv_sstable_info *a = 0;
  int n = 0, i, iRound;
  (void)state;
  memset(zVal, 'z', 200);
  zVal[200] = 0;
  kvBulkTableEntries = 1000;
  tuTempDir(zDir, sizeof(zDir), "bulkn");
  db = tuOpen(zDir, o);
  for(iRound=0; iRound<2; iRound++){
    const char *zV = iRound ? zVal : "v";
    int lo = iRound*100000;
    loadRange(db, lo, lo+5500, zV);
    for(i=lo; i<lo+5500; i+=97) assert_string_equal(valueOf(db, i), zV);
    assert_string_equal(valueOf(db, lo+5499), zV);
  }
  assert_int_equal(kv_sstables(db, &a, &n), KV_OK);
  assert_int_equal(n, 12);
  for(i=0; i<n; i++){
    assert_int_equal(a[i].iLevel, 3);
    assert_int_equal(a[i].nEntry, (i%6)==5 ? 500 : 1000);
  }
  kv_free(a);
  assert_true(maxSstNumber(zDir)<1000);
  tuVerifyOk(db);
  /* given back across tables */
  unloadSome(db, 200000, 204500, 3500, zVal);
  /* abandoned: no table left */
  abandonRange(db, zDir, 300000, 304500, zVal, 12);
  assert_true(maxSstNumber(zDir)<1000);
  assert_int_equal(kv_close(db), KV_OK);
  db = tuOpen(zDir, o);
  assert_string_equal(valueOf(db, 105499), zVal);
  assert_string_equal(valueOf(db, 203000), zVal);
  assert_int_equal(kv_close(db), KV_OK);
  kvBulkTableEntries = (u64)1<<20;
  kv_options_free(o);
  tuRemoveDir(zDir);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_bulk_load),
    cmocka_unit_test(test_bulk_last_key),
    cmocka_unit_test(test_bulk_unload),
    cmocka_unit_test(test_bulk_seq_moved),
    cmocka_unit_test(test_bulk_recovery),
    cmocka_unit_test(test_bulk_builder_thread),
    cmocka_unit_test(test_bulk_builder_failure),
    cmocka_unit_test(test_bulk_several_tables),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
