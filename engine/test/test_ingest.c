/*
** test_ingest.c - kv_ingest and its two-phase form (engine/ingest.c): a
** table of one store ingested into another, at the bottom level when
** nothing overlaps and at level 0, replacing older versions, when
** something does; tombstones carried over; damaged, missing, mismatched
** and mutually overlapping files refused with the file named and nothing
** changed; an abort taken back (also after reopening); a prepared ingest
** revoked by recovery below its sequence and kept at it; crash points and
** power loss around the install (all of the ingest or none of it).
*/
#include <stdint.h>
#include <unistd.h>
#include <stdio.h>

#include "testutil.h"

#define NKEY 1000

static void keyOf(char *z, int i){ snprintf(z, 16, "k%05d", i); }

static kv_options *ingestOptions(void){
  return tuOptions("background=off", "sync=off", "levels=4",
                   "block_size=1KB", NULL);
}

static void putRange(kv_db *db, int lo, int hi, const char *zVal){
  int i;
  for(i=lo; i<hi; i++){
    char z[16];
    keyOf(z, i);
    tuPut(db, z, zVal);
  }
}

/* Value of key i, or NULL. */
static const char *valueOf(kv_db *db, int i){
  char z[16];
  keyOf(z, i);
  return tuGet(db, 0, 0, z);
}

/* A source store in zDir holding keys [lo, hi) = zVal (and k00010
** deleted when bDel), flushed into one table; its path into zPath. */
static void makeSource(char *zDir, size_t nDir, char *zPath, size_t nPath,
                       int lo, int hi, const char *zVal, int bDel){
  kv_options *o = ingestOptions();
  kv_sstable_info *a = 0;
  kv_db *db;
  int n = 0;
  tuTempDir(zDir, nDir, "ingsrc");
  db = tuOpen(zDir, o);
  putRange(db, lo, hi, zVal);
  if( bDel ){
    assert_int_equal(kv_delete(db, "k00010", 6), KV_OK);
  }
  assert_int_equal(kv_flush(db), KV_OK);
  assert_int_equal(kv_sstables(db, &a, &n), KV_OK);
  assert_int_equal(n, 1);
  snprintf(zPath, nPath, "%s/%s", zDir, a[0].zFile);
  kv_free(a);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
}

/* Level of the one table holding key zKey in its range (-1: none). */
static int levelOfKey(kv_db *db, const char *zKey){
  kv_sstable_info *a = 0;
  int n = 0, i, iLevel = -1;
  size_t nKey = strlen(zKey);
  assert_int_equal(kv_sstables(db, &a, &n), KV_OK);
  for(i=0; i<n; i++){
    if( kvUKeyCmp(a[i].pSmallest, a[i].nSmallest, (const u8*)zKey, nKey)<=0
     && kvUKeyCmp(a[i].pLargest, a[i].nLargest, (const u8*)zKey, nKey)>=0 ){
      iLevel = a[i].iLevel;
      break;
    }
  }
  kv_free(a);
  return iLevel;
}

/* What most tests start from: a source store (makeSource) and an empty
** target store, opened with ingestOptions(). */
typedef struct Fixture Fixture;
struct Fixture {
  char zSrc[256];             /* the source store's directory */
  char zPath[512];            /* its one table */
  char zDir[256];             /* the target store's directory */
  const char *az[2];          /* az[0] is zPath, for kv_ingest */
  kv_options *o;              /* the target's options */
};

/* Make the source (keys [lo, hi) = zVal, as makeSource) and the target;
** returns the target, open. */
static kv_db *fixtureOpen(Fixture *f, int lo, int hi, const char *zVal,
                          int bDel){
  f->o = ingestOptions();
  makeSource(f->zSrc, sizeof(f->zSrc), f->zPath, sizeof(f->zPath), lo, hi,
             zVal, bDel);
  f->az[0] = f->zPath;
  f->az[1] = 0;
  tuTempDir(f->zDir, sizeof(f->zDir), "ingdst");
  return tuOpen(f->zDir, f->o);
}

/* Close db (unless 0), which must close cleanly, and remove both stores. */
static void fixtureClose(Fixture *f, kv_db *db){
  if( db ) assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(f->o);
  tuRemoveDir(f->zDir);
  tuRemoveDir(f->zSrc);
}

/* The keys of test_ingest_overlap after its ingest: k00010 deleted by the
** file's tombstone, the file's "new" below NKEY, the store's "old" above. */
static void checkOverlap(kv_db *db){
  int i;
  for(i=0; i<1500; i++){
    const char *z = valueOf(db, i);
    if( i==10 ) assert_null(z);
    else assert_string_equal(z, i<NKEY ? "new" : "old");
  }
}

/* Into an empty store: every key, at the bottom level, durable. */
static void test_ingest_empty_store(void **state){
  Fixture f;
  char *zJson = 0;
  kv_db *db;
  int i;
  (void)state;
  db = fixtureOpen(&f, 0, NKEY, "v1", 0);
  assert_int_equal(kv_ingest(db, f.az, 1, &zJson), KV_OK);
  assert_non_null(strstr(zJson, "\"entries\":1000"));
  assert_non_null(strstr(zJson, "\"seq\":1}"));
  kv_free(zJson);
  assert_int_equal(kv_last_seq(db), 1);
  for(i=0; i<NKEY; i++) assert_string_equal(valueOf(db, i), "v1");
  assert_int_equal(levelOfKey(db, "k00500"), 3);
  tuVerifyOk(db);
  /* the source is untouched and still a store of its own */
  assert_int_equal(access(f.zPath, F_OK), 0);
  /* later writes take the sequences after it, and win */
  tuPut(db, "k00005", "v2");
  assert_int_equal(kv_last_seq(db), 2);
  assert_int_equal(kv_close(db), KV_OK);
  db = tuOpen(f.zDir, f.o);
  for(i=0; i<NKEY; i++){
    assert_string_equal(valueOf(db, i), i==5 ? "v2" : "v1");
  }
  fixtureClose(&f, db);
}

/* Over keys the store holds (memtable and tables): the ingested versions
** are the newest, a tombstone of the file deletes, the rest stays. */
static void test_ingest_overlap(void **state){
  Fixture f;
  kv_snapshot *pSnap;
  kv_db *db;
  (void)state;
  db = fixtureOpen(&f, 0, NKEY, "new", 1);
  putRange(db, 500, 1500, "old");
  assert_int_equal(kv_flush(db), KV_OK);
  putRange(db, 0, 20, "mem");           /* in the memtable */
  pSnap = kv_snapshot_new(db);
  assert_int_equal(kv_ingest(db, f.az, 1, 0), KV_OK);
  checkOverlap(db);
  /* a snapshot from before sees the store as it was */
  {
    char z[16];
    keyOf(z, 5);
    assert_string_equal(tuGet(db, pSnap, 0, z), "mem");
    keyOf(z, 600);
    assert_string_equal(tuGet(db, pSnap, 0, z), "old");
    keyOf(z, 10);
    assert_string_equal(tuGet(db, pSnap, 0, z), "mem");
  }
  kv_snapshot_free(db, pSnap);
  assert_int_equal(levelOfKey(db, "k00700"), 0);
  tuVerifyOk(db);
  /* compaction keeps the order */
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  checkOverlap(db);
  fixtureClose(&f, db);
}

/* Nothing in levels 0..2 overlaps but level 3 does: level 2. */
static void test_ingest_level_choice(void **state){
  Fixture f;
  kv_db *db;
  (void)state;
  db = fixtureOpen(&f, 100, 200, "x", 0);
  putRange(db, 0, 1000, "base");
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  assert_int_equal(levelOfKey(db, "k00150"), 3);
  assert_int_equal(kv_ingest(db, f.az, 1, 0), KV_OK);
  assert_string_equal(valueOf(db, 150), "x");
  assert_string_equal(valueOf(db, 250), "base");
  {
    kv_sstable_info *a = 0;
    int n = 0, i, bFound = 0;
    assert_int_equal(kv_sstables(db, &a, &n), KV_OK);
    for(i=0; i<n; i++){
      if( a[i].iLevel==2 && a[i].nEntry==100 && a[i].minSeq==1001 ){
        bFound = 1;
      }
    }
    kv_free(a);
    assert_true(bFound);
  }
  fixtureClose(&f, db);
}

/* A damaged copy, a missing file, a wrong expected root, two files that
** overlap: refused, the file named, the store unchanged. */
static void test_ingest_refused(void **state){
  Fixture f;
  char zBad[600];
  unsigned char aRoot[32];
  const unsigned char *apRoot[1];
  kv_ingest_job *pJob = 0;
  kv_db *db;
  u8 *a;
  size_t n;
  int rc;
  (void)state;
  db = fixtureOpen(&f, 0, NKEY, "v1", 0);
  tuPut(db, "a", "1");
  assert_int_equal(kv_flush(db), KV_OK);

  /* one flipped byte in a data block */
  snprintf(zBad, sizeof(zBad), "%s/damaged.sst", f.zSrc);
  a = tuReadFile(f.zPath, &n);
  a[100] ^= 0x40;
  tuWriteFile(zBad, a, n);
  free(a);
  f.az[0] = zBad;
  rc = kv_ingest(db, f.az, 1, 0);
  assert_int_equal(rc, KV_CORRUPT);
  assert_non_null(strstr(kv_errmsg(db), "kvstore: ingest of '"));
  assert_non_null(strstr(kv_errmsg(db), "damaged.sst"));
  assert_int_equal(tuCountFiles(f.zDir, ".sst"), 1);
  assert_int_equal(tuCountFiles(f.zDir, ".tmp"), 0);
  assert_null(valueOf(db, 1));
  assert_int_equal(kv_last_seq(db), 1);

  /* missing */
  snprintf(zBad, sizeof(zBad), "%s/nosuch.sst", f.zSrc);
  f.az[0] = zBad;
  rc = kv_ingest(db, f.az, 1, 0);
  assert_int_equal(rc, KV_CANTOPEN);
  assert_non_null(strstr(kv_errmsg(db), "nosuch.sst"));

  /* a sound file whose root is not the one expected */
  memset(aRoot, 0x5a, sizeof(aRoot));
  apRoot[0] = aRoot;
  f.az[0] = f.zPath;
  rc = kv_ingest_prepare(db, f.az, 1, apRoot, &pJob);
  assert_int_equal(rc, KV_CORRUPT);
  assert_null(pJob);
  assert_non_null(strstr(kv_errmsg(db), "Merkle root differs"));

  /* the same file twice: the key ranges overlap */
  f.az[0] = f.zPath;
  f.az[1] = f.zPath;
  rc = kv_ingest(db, f.az, 2, 0);
  assert_int_equal(rc, KV_ERROR);
  assert_non_null(strstr(kv_errmsg(db), "overlap"));

  assert_int_equal(tuCountFiles(f.zDir, ".sst"), 1);
  assert_int_equal(kv_last_seq(db), 1);
  tuPut(db, "b", "2");
  assert_int_equal(kv_last_seq(db), 2);
  tuVerifyOk(db);
  fixtureClose(&f, db);
}

/* Prepared, then aborted: never visible, the sequence reused, the files
** gone from the version (and after reopening). */
static void test_ingest_abort(void **state){
  Fixture f;
  kv_ingest_job *pJob = 0;
  kv_db *db;
  (void)state;
  db = fixtureOpen(&f, 0, NKEY, "v1", 0);
  tuPut(db, "a", "1");
  assert_int_equal(kv_ingest_prepare(db, f.az, 1, 0, &pJob), KV_OK);
  assert_int_equal(kv_ingest_seq(pJob), 2);
  assert_int_equal(kv_ingest_entries(pJob), NKEY);
  assert_int_equal(kv_last_seq(db), 1);
  assert_null(valueOf(db, 3));              /* not published */
  assert_int_equal(kv_ingest_abort(db, pJob), KV_OK);
  assert_null(valueOf(db, 3));
  tuPut(db, "b", "2");
  assert_int_equal(kv_last_seq(db), 2);
  assert_int_equal(kv_close(db), KV_OK);
  db = tuOpen(f.zDir, f.o);
  assert_null(valueOf(db, 3));
  assert_string_equal(tuGet(db, 0, 0, "b"), "2");
  /* the flush before the ingest, the WAL's at reopening: no copy left */
  assert_int_equal(tuCountFiles(f.zDir, ".sst"), 2);
  {
    kv_sstable_info *a = 0;
    int n = 0, i;
    assert_int_equal(kv_sstables(db, &a, &n), KV_OK);
    assert_int_equal(n, 2);
    for(i=0; i<n; i++) assert_int_equal(a[i].nEntry, 1);
    kv_free(a);
  }
  tuVerifyOk(db);
  fixtureClose(&f, db);
}

/* The state a crash leaves between the install and the database's
** commit: recovery with a horizon below the ingest's sequence revokes
** it; with the horizon at it, it stays. */
static void test_ingest_revoked_by_horizon(void **state){
  Fixture f;
  char zCopy[2][256];
  kv_ingest_job *pJob = 0;
  kv_db *db;
  int k;
  (void)state;
  db = fixtureOpen(&f, 0, NKEY, "v1", 0);
  tuPut(db, "a", "1");
  assert_int_equal(kv_ingest_prepare(db, f.az, 1, 0, &pJob), KV_OK);
  assert_int_equal(kv_ingest_seq(pJob), 2);
  for(k=0; k<2; k++){
    tuTempDir(zCopy[k], sizeof(zCopy[k]), "ingcopy");
    tuCopyDir(f.zDir, zCopy[k]);
  }
  assert_int_equal(kv_ingest_abort(db, pJob), KV_OK);
  assert_int_equal(kv_close(db), KV_OK);
  for(k=0; k<2; k++){
    kv_options *oH = kv_options_copy(f.o);
    kv_options_set_horizon(oH, k==0 ? 1 : 2);
    db = tuOpen(zCopy[k], oH);
    assert_string_equal(tuGet(db, 0, 0, "a"), "1");
    if( k==0 ){
      assert_null(valueOf(db, 3));
      assert_int_equal(kv_last_seq(db), 1);
    }else{
      assert_string_equal(valueOf(db, 3), "v1");
      assert_int_equal(kv_last_seq(db), 2);
    }
    tuVerifyOk(db);
    assert_int_equal(kv_close(db), KV_OK);
    kv_options_free(oH);
    tuRemoveDir(zCopy[k]);
  }
  fixtureClose(&f, 0);
}

/* Crash after each mutating operation of kv_ingest, then power loss:
** the store holds all of the ingest or none of it, and what it held
** before. */
static void test_ingest_crash_points(void **state){
  char zSrc[256], zPath[512], zBase[256];
  const char *az[1];
  kv_options *o = tuOptions("background=off", "sync=full", "levels=4",
                            "block_size=1KB", NULL);
  kv_db *db;
  int n, nPoint = 0, nAll = 0, nNone = 0;
  (void)state;
  makeSource(zSrc, sizeof(zSrc), zPath, sizeof(zPath), 0, NKEY, "v1", 0);
  tuTempDir(zBase, sizeof(zBase), "ingbase");
  db = tuOpen(zBase, o);
  putRange(db, 900, 1100, "old");
  assert_int_equal(kv_flush(db), KV_OK);
  tuPut(db, "a", "wal");                    /* only in the WAL */
  assert_int_equal(kv_close(db), KV_OK);
  az[0] = zPath;
  for(n=0; ; n++){
    char zDir[256];
    KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
    kv_options *oEnv = kv_options_copy(o);
    int rc, bDone, i, nNew = 0;
    assert_non_null(pEnv);
    kvOptionsSetEnv(oEnv, pEnv);
    tuTempDir(zDir, sizeof(zDir), "ingcrash");
    tuCopyDir(zBase, zDir);
    db = tuOpen(zDir, oEnv);
    kvTestEnvCrashAfter(pEnv, n);
    rc = kv_ingest(db, az, 1, 0);
    bDone = rc==KV_OK && !kvTestEnvIsDead(pEnv);
    kv_close(db);
    assert_int_equal(kvTestEnvPowerLoss(pEnv, KV_PL_TRUNCATE), KV_OK);
    db = tuOpen(zDir, oEnv);
    for(i=0; i<1100; i++){
      const char *z = valueOf(db, i);
      if( i<900 ){
        if( z ){ assert_string_equal(z, "v1"); nNew++; }
      }else if( i<NKEY ){
        assert_non_null(z);
        if( strcmp(z, "v1")==0 ) nNew++; else assert_string_equal(z, "old");
      }else{
        assert_string_equal(z, "old");
      }
    }
    assert_true(nNew==0 || nNew==NKEY);
    if( bDone ) assert_int_equal(nNew, NKEY);
    if( nNew ) nAll++; else nNone++;
    assert_string_equal(tuGet(db, 0, 0, "a"), "wal");
    tuVerifyOk(db);
    /* the store writes on */
    tuPut(db, "z", "after");
    assert_string_equal(tuGet(db, 0, 0, "z"), "after");
    kv_close(db);
    kv_options_free(oEnv);
    kvTestEnvFree(pEnv);
    tuRemoveDir(zDir);
    if( !bDone ) nPoint++;
    if( bDone ) break;
    assert_true(n<500);
  }
  print_message("ingest: %d crash points (%d with the ingest, %d without)\n",
                nPoint, nAll, nNone);
  assert_true(nPoint>3);
  assert_true(nNone>0);
  kv_options_free(o);
  tuRemoveDir(zBase);
  tuRemoveDir(zSrc);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ingest_empty_store),
    cmocka_unit_test(test_ingest_overlap),
    cmocka_unit_test(test_ingest_level_choice),
    cmocka_unit_test(test_ingest_refused),
    cmocka_unit_test(test_ingest_abort),
    cmocka_unit_test(test_ingest_revoked_by_horizon),
    cmocka_unit_test(test_ingest_crash_points),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
