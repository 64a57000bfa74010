/*
** test_rangedel.c - range tombstones (kv_batch_delete_range): reads,
** iterators in both directions, snapshots, WAL replay, flush, compaction
** (entries and tombstones dropped), the SSTable part and format version,
** file metadata, verify and Merkle roots, the skip over a deleted range,
** and a random comparison against a reference model.
*/
#include <stdint.h>
#include <unistd.h>
#include <stdio.h>

#include "testutil.h"

static void keyOf(char *z, int i){ snprintf(z, 16, "k%05d", i); }

static int delRange(kv_db *db, int lo, int hi){
  char zLo[16], zHi[16];
  kv_batch *b = kv_batch_new();
  int rc;
  keyOf(zLo, lo);
  keyOf(zHi, hi);
  assert_int_equal(kv_batch_delete_range(b, zLo, strlen(zLo), zHi,
                                         strlen(zHi)), KV_OK);
  rc = kv_write(db, b);
  kv_batch_free(b);
  return rc;
}

static void putN(kv_db *db, int lo, int hi, const char *zVal){
  int i;
  for(i=lo; i<hi; i++){
    char z[16];
    keyOf(z, i);
    tuPut(db, z, zVal);
  }
}

static int live(kv_db *db, const kv_snapshot *s, int i){
  char z[16];
  keyOf(z, i);
  return tuGet(db, s, 0, z)!=0;
}

/* Keys an iterator shows, forward (bRev 0) or backward, as a bitmap. */
static int scan(kv_db *db, const kv_snapshot *s, int bRev, u8 *aSeen, int n){
  kv_iter *it = 0;
  int nSeen = 0;
  int prev = bRev ? n : -1;
  memset(aSeen, 0, (size_t)n);
  assert_int_equal(kv_iter_new(db, s, 0, &it), KV_OK);
  assert_int_equal(bRev ? kv_iter_last(it) : kv_iter_first(it), KV_OK);
  while( kv_iter_valid(it) ){
    size_t nk;
    const char *k = kv_iter_key(it, &nk);
    int i;
    assert_int_equal(nk, 6);
    i = atoi(k + 1);
    if( bRev ) assert_true(i<prev); else assert_true(i>prev);
    prev = i;
    assert_true(i<n);
    aSeen[i] = 1;
    nSeen++;
    assert_int_equal(bRev ? kv_iter_prev(it) : kv_iter_next(it), KV_OK);
  }
  kv_iter_free(it);
  return nSeen;
}

static kv_options *smallOpts(const char *zComp){
  return tuOptions("background=off", zComp, "memtable_size=64KB",
                   "block_size=512", "sync=off", "levels=4",
                   "level0_trigger=2", "target_file_size=16KB",
                   "level_size_multiplier=4", NULL);
}

static void checkAll(kv_db *db, const kv_snapshot *s, const u8 *aLive,
                     int n){
  static u8 aSeen[4096];
  int i, nLive = 0;
  for(i=0; i<n; i++){
    if( live(db, s, i)!=aLive[i] ) fail_msg("key %d: get says %d", i, !aLive[i]);
    nLive += aLive[i];
  }
  assert_int_equal(scan(db, s, 0, aSeen, n), nLive);
  assert_memory_equal(aSeen, aLive, (size_t)n);
  assert_int_equal(scan(db, s, 1, aSeen, n), nLive);
  assert_memory_equal(aSeen, aLive, (size_t)n);
}

static u64 totalRangeDels(kv_db *db, int *pnFile){
  kv_sstable_info *a = 0;
  int n = 0, i;
  u64 nRd = 0;
  assert_int_equal(kv_sstables(db, &a, &n), KV_OK);
  for(i=0; i<n; i++) nRd += a[i].nRangeDel;
  kv_free(a);
  if( pnFile ) *pnFile = n;
  return nRd;
}

/* Files of one level >= 1 never overlap, their widened ranges included:
** compaction does not cut an output inside a tombstone it holds. */
static void checkLevelsDisjoint(kv_db *db){
  kv_sstable_info *a = 0;
  int n = 0, i, j;
  assert_int_equal(kv_sstables(db, &a, &n), KV_OK);
  for(i=0; i<n; i++){
    for(j=0; j<n; j++){
      size_t nMin;
      int c;
      if( i==j || a[i].iLevel==0 || a[i].iLevel!=a[j].iLevel ) continue;
      /* i before j by smallest key: i's largest must be below j's smallest */
      nMin = a[i].nSmallest<a[j].nSmallest ? a[i].nSmallest : a[j].nSmallest;
      c = memcmp(a[i].pSmallest, a[j].pSmallest, nMin);
      if( c>0 || (c==0 && a[i].nSmallest>a[j].nSmallest) ) continue;
      nMin = a[i].nLargest<a[j].nSmallest ? a[i].nLargest : a[j].nSmallest;
      c = memcmp(a[i].pLargest, a[j].pSmallest, nMin);
      if( c>0 || (c==0 && a[i].nLargest>=a[j].nSmallest) ){
        fail_msg("level %d: files %s and %s overlap", a[i].iLevel,
                 a[i].zFile, a[j].zFile);
      }
    }
  }
  kv_free(a);
}

static void verifyOk(kv_db *db){
  char *z = 0;
  assert_int_equal(kv_verify(db, &z), KV_OK);
  assert_string_equal(z, "ok");
  kv_free(z);
}

/* Gets, both scan directions, a snapshot from before, a put after. */
static void test_rangedel_memtable(void **state){
  char zDir[256];
  kv_options *o = smallOpts("compaction=leveled");
  kv_db *db;
  kv_snapshot *s;
  u8 aLive[100], aOld[100];
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "rd-mem");
  db = tuOpen(zDir, o);
  putN(db, 0, 100, "v");
  memset(aOld, 1, sizeof(aOld));
  s = kv_snapshot_new(db);
  assert_int_equal(delRange(db, 10, 20), KV_OK);
  memset(aLive, 1, sizeof(aLive));
  memset(aLive + 10, 0, 10);
  checkAll(db, 0, aLive, 100);
  checkAll(db, s, aOld, 100);
  putN(db, 15, 16, "again");             /* newer than the tombstone */
  aLive[15] = 1;
  checkAll(db, 0, aLive, 100);
  assert_string_equal(tuGet(db, 0, 0, "k00015"), "again");
  /* reopen: the WAL replays the tombstone at its sequence */
  kv_snapshot_free(db, s);
  assert_int_equal(kv_close(db), KV_OK);
  db = tuOpen(zDir, o);
  checkAll(db, 0, aLive, 100);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Flush writes the tombstone to the table's part; the file's key range
** covers it; verify and reopen; full compaction drops the covered entries
** and then the tombstone, but not while a snapshot still needs them. */
static void test_rangedel_flush_compact(void **state){
  char zDir[256];
  kv_options *o = smallOpts("compaction=leveled");
  kv_db *db;
  kv_snapshot *s;
  kv_sstable_info *a = 0;
  int n = 0, i, bFound = 0;
  u8 aLive[300], aOld[300];
  char *zJson = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "rd-flush");
  db = tuOpen(zDir, o);
  putN(db, 0, 300, "value");
  assert_int_equal(kv_flush(db), KV_OK);
  s = kv_snapshot_new(db);
  memset(aOld, 1, sizeof(aOld));
  assert_int_equal(delRange(db, 50, 250), KV_OK);
  /* a tombstone-only memtable still flushes */
  assert_int_equal(kv_flush(db), KV_OK);
  memset(aLive, 1, sizeof(aLive));
  memset(aLive + 50, 0, 200);
  checkAll(db, 0, aLive, 300);
  checkAll(db, s, aOld, 300);
  assert_int_equal(kv_sstables(db, &a, &n), KV_OK);
  for(i=0; i<n; i++){
    if( a[i].nRangeDel ){
      bFound = 1;
      /* (level0_trigger=2: the two flushes may already be compacted) */
      assert_int_equal(a[i].nRangeDel, 1);
      assert_int_equal(a[i].nSmallest, 6);
      assert_true(memcmp(a[i].pSmallest, "k00050", 6)<=0);
      assert_int_equal(a[i].nLargest, 6);
      assert_true(memcmp(a[i].pLargest, "k00250", 6)>=0);
      assert_true(a[i].minSeq>0 && a[i].maxSeq>=301);
    }
  }
  kv_free(a);
  assert_true(bFound);
  verifyOk(db);

  /* With the snapshot held, a full compaction keeps what it sees. */
  assert_int_equal(kv_compact(db, 1, &zJson), KV_OK);
  kv_free(zJson);
  checkAll(db, 0, aLive, 300);
  checkAll(db, s, aOld, 300);
  assert_int_equal(totalRangeDels(db, 0), 1);
  verifyOk(db);
  kv_snapshot_free(db, s);

  /* Reopen (tables and manifest only: the WAL is flushed). */
  assert_int_equal(kv_close(db), KV_OK);
  db = tuOpen(zDir, o);
  checkAll(db, 0, aLive, 300);

  /* Nothing needs them now: the entries and the tombstone go. */
  assert_int_equal(kv_compact(db, 1, &zJson), KV_OK);
  kv_free(zJson);
  checkAll(db, 0, aLive, 300);
  assert_int_equal(totalRangeDels(db, 0), 0);
  assert_int_equal(kv_sstables(db, &a, &n), KV_OK);
  {
    u64 nEntry = 0;
    for(i=0; i<n; i++) nEntry += a[i].nEntry;
    assert_int_equal(nEntry, 100);
  }
  kv_free(a);
  verifyOk(db);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* A scan starting inside a deleted range seeks past it: the iterator
** examines a handful of entries, not the 4,900 hidden ones. */
static void test_rangedel_scan_skips(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "sync=off", NULL);
  kv_db *db;
  kv_iter *it = 0;
  size_t nk;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "rd-skip");
  db = tuOpen(zDir, o);
  putN(db, 0, 5000, "payload-payload");
  assert_int_equal(kv_flush(db), KV_OK);
  assert_int_equal(delRange(db, 1, 4900), KV_OK);

  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  assert_int_equal(kv_iter_seek(it, "k00001", 6), KV_OK);
  assert_true(kv_iter_valid(it));
  assert_memory_equal(kv_iter_key(it, &nk), "k04900", 6);
  assert_true(kvIterVisited(it)<10);
  assert_true(kvIterRdSkips(it)>=1);
  /* and backward from inside the range */
  assert_int_equal(kv_iter_seek_for_prev(it, "k04000", 6), KV_OK);
  assert_true(kv_iter_valid(it));
  assert_memory_equal(kv_iter_key(it, &nk), "k00000", 6);
  assert_true(kvIterVisited(it)<10);
  /* from k00000 forward steps over the range too */
  assert_int_equal(kv_iter_first(it), KV_OK);
  assert_int_equal(kv_iter_next(it), KV_OK);
  assert_memory_equal(kv_iter_key(it, &nk), "k04900", 6);
  assert_true(kvIterVisited(it)<20);
  kv_iter_free(it);

  /* The same after the tombstone's own flush (a newer level-0 table). */
  assert_int_equal(kv_flush(db), KV_OK);
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  assert_int_equal(kv_iter_seek(it, "k00001", 6), KV_OK);
  assert_memory_equal(kv_iter_key(it, &nk), "k04900", 6);
  assert_true(kvIterVisited(it)<10);
  kv_iter_free(it);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* The tombstone in the same memtable, then the same level-0 table, as the
** rows it deletes (a range DELETE of rows not flushed yet): a seek into
** the range still skips them, using the largest sequence of the point
** entries (the table's manifest range is widened to the tombstone's). A
** row written into the range after the tombstone stops the skip where it
** is, and is seen. */
static void test_rangedel_skips_same_source(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "sync=off",
                            "memtable_size=64MB", NULL);
  kv_db *db;
  kv_iter *it = 0;
  size_t nk;
  int bFlushed;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "rd-same");
  db = tuOpen(zDir, o);
  putN(db, 0, 5000, "payload-payload");
  assert_int_equal(delRange(db, 1, 4900), KV_OK);
  for(bFlushed=0; bFlushed<2; bFlushed++){
    if( bFlushed ){
      kv_sstable_info *aInfo = 0;
      int nInfo = 0;
      assert_int_equal(kv_flush(db), KV_OK);
      assert_int_equal(kv_sstables(db, &aInfo, &nInfo), KV_OK);
      assert_int_equal(nInfo, 1);           /* rows and tombstone together */
      assert_int_equal(aInfo[0].nRangeDel, 1);
      kv_free(aInfo);
    }
    assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
    assert_int_equal(kv_iter_seek(it, "k00001", 6), KV_OK);
    assert_true(kv_iter_valid(it));
    assert_memory_equal(kv_iter_key(it, &nk), "k04900", 6);
    assert_true(kvIterVisited(it)<10);
    assert_true(kvIterRdSkips(it)>=1);
    assert_int_equal(kv_iter_seek_for_prev(it, "k04000", 6), KV_OK);
    assert_memory_equal(kv_iter_key(it, &nk), "k00000", 6);
    assert_true(kvIterVisited(it)<10);
    kv_iter_free(it);
  }

  /* A newer row inside the range, in the memtable beside nothing else:
  ** the memtable's entries are no longer all older than the tombstone, so
  ** it is stepped through (it holds one row), and the row is found. */
  tuPut(db, "k02000", "new");
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  assert_int_equal(kv_iter_seek(it, "k00001", 6), KV_OK);
  assert_memory_equal(kv_iter_key(it, &nk), "k02000", 6);
  assert_true(kvIterVisited(it)<10);
  assert_int_equal(kv_iter_next(it), KV_OK);
  assert_memory_equal(kv_iter_key(it, &nk), "k04900", 6);
  assert_int_equal(kv_iter_seek_for_prev(it, "k04000", 6), KV_OK);
  assert_memory_equal(kv_iter_key(it, &nk), "k02000", 6);
  assert_int_equal(kv_iter_prev(it), KV_OK);
  assert_memory_equal(kv_iter_key(it, &nk), "k00000", 6);
  kv_iter_free(it);
  assert_int_equal(kv_close(db), KV_OK);

  /* Reopened: the memtable is rebuilt from the WAL, with the same
  ** answer. */
  db = tuOpen(zDir, o);
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  assert_int_equal(kv_iter_seek(it, "k00001", 6), KV_OK);
  assert_memory_equal(kv_iter_key(it, &nk), "k02000", 6);
  assert_int_equal(kv_iter_next(it), KV_OK);
  assert_memory_equal(kv_iter_key(it, &nk), "k04900", 6);
  kv_iter_free(it);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Inside a batch: earlier writes are deleted, later ones are not; the
** batch's own reads (kv_batch_get, kv_get and iterators with the batch)
** see it before it is written; savepoint marks cut it off. */
static void test_rangedel_batch(void **state){
  char zDir[256];
  kv_options *o = smallOpts("compaction=leveled");
  kv_db *db;
  kv_batch *b = kv_batch_new();
  kv_iter *it = 0;
  const void *pV;
  size_t nV, nk, mark;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "rd-batch");
  db = tuOpen(zDir, o);
  tuPut(db, "a", "1");
  tuPut(db, "c", "3");
  tuPut(db, "e", "5");
  assert_int_equal(kv_batch_put(b, "b", 1, "2", 1), KV_OK);
  mark = kv_batch_count(b);
  assert_int_equal(kv_batch_delete_range(b, "a", 1, "d", 1), KV_OK);
  assert_int_equal(kv_batch_count(b), 2);
  assert_int_equal(kv_batch_put(b, "c", 1, "33", 2), KV_OK);
  assert_int_equal(kv_batch_get(b, "a", 1, &pV, &nV), 0);
  assert_int_equal(kv_batch_get(b, "b", 1, &pV, &nV), 0);
  assert_int_equal(kv_batch_get(b, "c", 1, &pV, &nV), 1);
  assert_int_equal(kv_batch_get(b, "e", 1, &pV, &nV), -1);
  assert_null(tuGet(db, 0, b, "a"));
  assert_null(tuGet(db, 0, b, "b"));
  assert_string_equal(tuGet(db, 0, b, "c"), "33");
  assert_string_equal(tuGet(db, 0, b, "e"), "5");
  assert_int_equal(kv_iter_new(db, 0, b, &it), KV_OK);
  assert_int_equal(kv_iter_first(it), KV_OK);
  assert_memory_equal(kv_iter_key(it, &nk), "c", 1);
  assert_int_equal(kv_iter_next(it), KV_OK);
  assert_memory_equal(kv_iter_key(it, &nk), "e", 1);
  assert_int_equal(kv_iter_next(it), KV_OK);
  assert_false(kv_iter_valid(it));
  assert_int_equal(kv_iter_last(it), KV_OK);
  assert_memory_equal(kv_iter_key(it, &nk), "e", 1);
  assert_int_equal(kv_iter_prev(it), KV_OK);
  assert_memory_equal(kv_iter_key(it, &nk), "c", 1);
  assert_int_equal(kv_iter_prev(it), KV_OK);
  assert_false(kv_iter_valid(it));
  kv_iter_free(it);

  /* ROLLBACK TO the mark: the range deletion is gone */
  kv_batch_truncate(b, mark);
  assert_int_equal(kv_batch_get(b, "a", 1, &pV, &nV), -1);
  assert_string_equal(tuGet(db, 0, b, "a"), "1");
  assert_int_equal(kv_batch_delete_range(b, "a", 1, "d", 1), KV_OK);
  assert_int_equal(kv_batch_put(b, "c", 1, "33", 2), KV_OK);
  /* an empty range records nothing */
  assert_int_equal(kv_batch_delete_range(b, "x", 1, "x", 1), KV_OK);
  assert_int_equal(kv_batch_count(b), 3);

  assert_int_equal(kv_write(db, b), KV_OK);
  assert_null(tuGet(db, 0, 0, "a"));
  assert_null(tuGet(db, 0, 0, "b"));
  assert_string_equal(tuGet(db, 0, 0, "c"), "33");
  assert_string_equal(tuGet(db, 0, 0, "e"), "5");
  assert_int_equal(kv_close(db), KV_OK);
  db = tuOpen(zDir, o);                  /* WAL replay, per-op sequences */
  assert_null(tuGet(db, 0, 0, "a"));
  assert_string_equal(tuGet(db, 0, 0, "c"), "33");
  assert_string_equal(tuGet(db, 0, 0, "e"), "5");
  kv_batch_free(b);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* The Merkle root covers the tombstones: two stores with the same point
** entries, one with a range tombstone, differ; verify detects a damaged
** range-deletion part. */
static void test_rangedel_merkle_verify(void **state){
  char zDir1[256], zDir2[256];
  kv_options *o = tuOptions("background=off", "sync=off", NULL);
  kv_db *db1, *db2;
  unsigned char a1[32], a2[32];
  kv_batch *b;
  (void)state;
  tuTempDir(zDir1, sizeof(zDir1), "rd-m1");
  tuTempDir(zDir2, sizeof(zDir2), "rd-m2");
  db1 = tuOpen(zDir1, o);
  db2 = tuOpen(zDir2, o);
  tuPut(db1, "a", "1");
  tuPut(db2, "a", "1");
  /* a range holding nothing: only the tombstone differs */
  b = kv_batch_new();
  assert_int_equal(kv_batch_delete_range(b, "m", 1, "n", 1), KV_OK);
  assert_int_equal(kv_write(db2, b), KV_OK);
  kv_batch_free(b);
  tuPut(db1, "z", "9");                  /* same sequences in both */
  tuPut(db2, "z", "9");
  assert_int_equal(kv_flush(db1), KV_OK);
  assert_int_equal(kv_flush(db2), KV_OK);
  assert_int_equal(kv_merkle(db1, a1), KV_OK);
  assert_int_equal(kv_merkle(db2, a2), KV_OK);
  assert_memory_not_equal(a1, a2, 32);
  verifyOk(db2);
  assert_int_equal(kv_close(db1), KV_OK);
  assert_int_equal(kv_close(db2), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir1);
  tuRemoveDir(zDir2);
}

/* Build a 50-entry table at zPath, with a range tombstone if bRd, and
** read the file into aFile; returns its size. */
static size_t buildTable(const char *zPath, int bRd, u8 *aFile, size_t nMax){
  KvSstConfig cfg;
  KvSstBuilder *pB = 0;
  KvSstMeta meta;
  KvBuf ik = {0, 0, 0};
  FILE *f;
  size_t nFile;
  int i;
  memset(&cfg, 0, sizeof(cfg));
  assert_int_equal(kvSstBuilderNew(kvEnvPosix(), zPath, &cfg, 1, &pB), KV_OK);
  for(i=0; i<50; i++){
    char z[16];
    keyOf(z, i);
    ik.n = 0;
    assert_int_equal(kvIKeyAppend(&ik, (const u8*)z, 6, (u64)i+1,
                                  KV_TYPE_PUT), KV_OK);
    assert_int_equal(kvSstBuilderAdd(pB, ik.a, ik.n, (const u8*)"v", 1), KV_OK);
  }
  if( bRd ){
    assert_int_equal(kvSstBuilderAddRangeDel(pB, (const u8*)"k00010", 6,
                                             (const u8*)"k00090", 6, 60),
                     KV_OK);
  }
  assert_int_equal(kvSstBuilderFinish(pB, &meta), KV_OK);
  assert_int_equal(meta.nRangeDel, bRd ? 1 : 0);
  assert_int_equal(meta.maxSeq, bRd ? 60 : 50);
  /* the file's range includes the tombstone's [lo, hi] */
  assert_memory_equal(meta.largest.a, bRd ? "k00090" : "k00049", 6);
  kvSstMetaFree(&meta);
  kvBufFree(&ik);
  f = fopen(zPath, "rb");
  assert_non_null(f);
  nFile = fread(aFile, 1, nMax, f);
  fclose(f);
  assert_true(nFile>96 && nFile<nMax);
  return nFile;
}

/* A table without range tombstones is still written as format version 1
** (80-byte footer), one with them as version 2 (96-byte footer, the
** range-deletion part); both open and verify; an unknown version is
** refused. */
static void test_rangedel_format_versions(void **state){
  char zDir[256], zPath[300];
  static u8 aFile[1<<16];
  size_t nFile;
  KvSst *pSst = 0;
  KvRdList rd = {0, 0, 0};
  FILE *f;
  int bFound = 0, eType = 0;
  KvBuf val = {0, 0, 0};
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "rd-fmt");
  snprintf(zPath, sizeof(zPath), "%s/000001.sst", zDir);

  nFile = buildTable(zPath, 0, aFile, sizeof(aFile));
  assert_int_equal(kvGet32(aFile + nFile - 16), 1);
  assert_int_equal(kvSstOpen(kvEnvPosix(), zPath, 0, 0, &pSst), KV_OK);
  assert_int_equal(kvSstRangeDels(pSst, &rd), KV_OK);
  assert_int_equal(rd.n, 0);
  assert_int_equal(kvSstGet(pSst, (const u8*)"k00007", 6, 100, &bFound,
                            &eType, &val), KV_OK);
  assert_true(bFound);
  kvSstClose(pSst);
  assert_int_equal(kvSstVerify(kvEnvPosix(), zPath), KV_OK);

  nFile = buildTable(zPath, 1, aFile, sizeof(aFile));
  assert_int_equal(kvGet32(aFile + nFile - 16), 2);
  assert_int_equal(kvSstOpen(kvEnvPosix(), zPath, 0, 0, &pSst), KV_OK);
  assert_int_equal(kvSstRangeDels(pSst, &rd), KV_OK);
  assert_int_equal(rd.n, 1);
  assert_memory_equal(rd.a[0].pLo, "k00010", 6);
  assert_memory_equal(rd.a[0].pHi, "k00090", 6);
  assert_int_equal(rd.a[0].seq, 60);
  kvRdListFree(&rd);
  kvSstClose(pSst);
  assert_int_equal(kvSstVerify(kvEnvPosix(), zPath), KV_OK);

  /* damage in the range-deletion part is found and named */
  {
    u64 iRd = kvGet64(aFile + nFile - 96 + 64);
    aFile[iRd + 3] ^= 0x10;
    f = fopen(zPath, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(aFile, 1, nFile, f), nFile);
    fclose(f);
    assert_int_equal(kvSstVerify(kvEnvPosix(), zPath), KV_CORRUPT);
    assert_non_null(strstr(kv_errmsg(0), "range deletions"));
    aFile[iRd + 3] ^= 0x10;
  }

  /* an unknown version is refused */
  kvPut32(aFile + nFile - 16, 7);
  f = fopen(zPath, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(aFile, 1, nFile, f), nFile);
  fclose(f);
  assert_int_equal(kvSstOpen(kvEnvPosix(), zPath, 0, 0, &pSst), KV_CORRUPT);
  kvBufFree(&val);
  tuRemoveDir(zDir);
}

/* ---------------------------------------------------------------------- */
/* Random operations against a reference model.                            */

#define MKEY 600
static u8 aModel[MKEY], aSnapModel[MKEY];
static u64 rngState;
static u64 rnd(void){
  rngState ^= rngState >> 12;
  rngState ^= rngState << 25;
  rngState ^= rngState >> 27;
  return rngState * 2685821657736338717ULL;
}
static int rndInt(int n){ return (int)(rnd() % (u64)n); }

static void runRandom(const char *zComp, u64 seed, int nOp){
  char zDir[256];
  kv_options *o = smallOpts(zComp);
  kv_db *db;
  kv_snapshot *s = 0;
  int iOp;
  rngState = seed;
  memset(aModel, 0, sizeof(aModel));
  tuTempDir(zDir, sizeof(zDir), "rd-model");
  db = tuOpen(zDir, o);
  for(iOp=0; iOp<nOp; iOp++){
    int r = rndInt(100);
    int k = rndInt(MKEY);
    if( r<55 ){
      char z[16], zV[64];
      int j, n = 1 + rndInt(20);
      for(j=k; j<k+n && j<MKEY; j++){
        keyOf(z, j);
        snprintf(zV, sizeof(zV), "value-%d-%d-xxxxxxxxxxxxxxxxxxxxxxxx", iOp, j);
        tuPut(db, z, zV);
        aModel[j] = 1;
      }
    }else if( r<65 ){
      char z[16];
      keyOf(z, k);
      assert_int_equal(kv_delete(db, z, 6), KV_OK);
      aModel[k] = 0;
    }else if( r<75 ){
      int hi = k + 1 + rndInt(r<70 ? 10 : 200);
      int j;
      if( hi>MKEY ) hi = MKEY;
      assert_int_equal(delRange(db, k, hi), KV_OK);
      for(j=k; j<hi; j++) aModel[j] = 0;
    }else if( r<80 ){
      if( s ){
        checkAll(db, s, aSnapModel, MKEY);
        kv_snapshot_free(db, s);
        s = 0;
      }else{
        s = kv_snapshot_new(db);
        memcpy(aSnapModel, aModel, sizeof(aModel));
      }
    }else if( r<85 ){
      int e = rndInt(4);
      int rc = e<2 ? kv_flush(db) : kv_compact(db, e==3, 0);
      if( rc ) fail_msg("op %d: %d %s", iOp, rc, kv_errmsg(db));
    }else if( r<88 ){
      checkLevelsDisjoint(db);
      if( s ){ kv_snapshot_free(db, s); s = 0; }
      assert_int_equal(kv_close(db), KV_OK);
      db = tuOpen(zDir, o);
    }else if( r<95 ){
      char z[16];
      keyOf(z, k);
      if( (tuGet(db, 0, 0, z)!=0)!=aModel[k] ){
        fail_msg("op %d: get %s: model says %d", iOp, z, aModel[k]);
      }
    }else{
      checkAll(db, 0, aModel, MKEY);
      if( s ) checkAll(db, s, aSnapModel, MKEY);
    }
  }
  checkAll(db, 0, aModel, MKEY);
  checkLevelsDisjoint(db);
  verifyOk(db);
  if( s ) kv_snapshot_free(db, s);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  checkAll(db, 0, aModel, MKEY);
  assert_int_equal(totalRangeDels(db, 0), 0);
  verifyOk(db);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

static void test_rangedel_model_leveled(void **state){
  (void)state;
  runRandom("compaction=leveled", 0x9E3779B97F4A7C15ULL, 3000);
}
static void test_rangedel_model_tiered(void **state){
  (void)state;
  runRandom("compaction=tiered", 0xD1B54A32D192ED03ULL, 3000);
}

/* One live tombstone builds a single fragment without the general sort
** (rangedel.c fragsOne); tombstones above the read point or empty do not
** count; two overlapping ones still fragment. */
static void test_rangedel_frags_one_tombstone(void **state){
  KvRdList list = {0};
  KvRdFrags *pF = 0;
  const KvRdFrag *f;
  (void)state;
  assert_int_equal(kvRdListAdd(&list, (const u8*)"b", 1, (const u8*)"d", 1,
                               7), KV_OK);
  assert_int_equal(kvRdFragsBuild(&list, 100, &pF), KV_OK);
  assert_non_null(pF);
  assert_int_equal(pF->nFrag, 1);
  assert_true(pF->bInline);
  assert_int_equal(pF->aFrag[0].nSeq, 1);
  assert_int_equal(pF->aSeq[pF->aFrag[0].iSeq], 7);
  assert_null(kvRdFragsFind(pF, (const u8*)"a", 1));
  f = kvRdFragsFind(pF, (const u8*)"b", 1);
  assert_non_null(f);
  assert_memory_equal(f->pHi, "d", 1);
  assert_non_null(kvRdFragsFind(pF, (const u8*)"cz", 2));
  assert_null(kvRdFragsFind(pF, (const u8*)"d", 1));
  assert_int_equal(kvRdFragsMaxSeq(pF, (const u8*)"c", 1, 6), 0);
  assert_int_equal(kvRdFragsMaxSeq(pF, (const u8*)"c", 1, 7), 7);
  kvRdFragsFree(pF);
  pF = 0;

  /* A newer one above maxSeq and an empty one leave the first alone. */
  assert_int_equal(kvRdListAdd(&list, (const u8*)"a", 1, (const u8*)"z", 1,
                               50), KV_OK);
  assert_int_equal(kvRdListAdd(&list, (const u8*)"x", 1, (const u8*)"x", 1,
                               8), KV_OK);
  assert_int_equal(kvRdFragsBuild(&list, 49, &pF), KV_OK);
  assert_int_equal(pF->nFrag, 1);
  assert_memory_equal(pF->aFrag[0].pLo, "b", 1);
  assert_int_equal(pF->aSeq[pF->aFrag[0].iSeq], 7);
  kvRdFragsFree(pF);
  pF = 0;

  /* Both: [a,b) 50, [b,d) 7 and 50, [d,z) 50. */
  assert_int_equal(kvRdFragsBuild(&list, 100, &pF), KV_OK);
  assert_int_equal(pF->nFrag, 3);
  assert_false(pF->bInline);
  assert_int_equal(pF->aFrag[1].nSeq, 2);
  assert_int_equal(kvRdFragsMaxSeq(pF, (const u8*)"c", 1, 49), 7);
  assert_int_equal(kvRdFragsMaxSeq(pF, (const u8*)"c", 1, 100), 50);
  kvRdFragsFree(pF);
  kvRdListFree(&list);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rangedel_memtable),
    cmocka_unit_test(test_rangedel_flush_compact),
    cmocka_unit_test(test_rangedel_scan_skips),
    cmocka_unit_test(test_rangedel_skips_same_source),
    cmocka_unit_test(test_rangedel_batch),
    cmocka_unit_test(test_rangedel_merkle_verify),
    cmocka_unit_test(test_rangedel_format_versions),
    cmocka_unit_test(test_rangedel_model_leveled),
    cmocka_unit_test(test_rangedel_model_tiered),
    cmocka_unit_test(test_rangedel_frags_one_tombstone),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
