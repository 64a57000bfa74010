/*
** test_shared.c - one store open in several processes (shared.c).
**
** Two instances of one directory opened through different envs meet as
** two processes do: separate memtables, versions and block caches, byte
** locks on separate handles. Instance A uses the POSIX env, B a test env
** over it (so B can also die at any of its file operations, as a killed
** process would).
*/
#include "testutil.h"

#include <inttypes.h>
#include <unistd.h>

static kv_db *openWithH(const char *zDir, KvEnv *pEnv, const char *zOpt,
                        int bHorizon, u64 iHorizon){
  kv_options *o = tuOptions("background=off", zOpt, NULL);
  kv_db *db = 0;
  int rc;
  if( pEnv ) kvOptionsSetEnv(o, pEnv);
  if( bHorizon ) kv_options_set_horizon(o, iHorizon);
  rc = kv_open(zDir, o, &db);
  kv_options_free(o);
  if( rc!=KV_OK ) fail_msg("kv_open(%s): %d %s", zDir, rc, kv_errmsg(0));
  return db;
}

static kv_db *openWith(const char *zDir, KvEnv *pEnv, const char *zOpt){
  return openWithH(zDir, pEnv, zOpt, 0, 0);
}

static void putN(kv_db *db, const char *zPrefix, int i0, int n){
  int i;
  for(i=i0; i<i0+n; i++){
    char zKey[64], zVal[64];
    snprintf(zKey, sizeof(zKey), "%s%06d", zPrefix, i);
    snprintf(zVal, sizeof(zVal), "value-%s-%d", zPrefix, i);
    tuPut(db, zKey, zVal);
  }
}

static int countPrefix(kv_db *db, const char *zPrefix, int n){
  int i, nFound = 0;
  for(i=0; i<n; i++){
    char zKey[64];
    snprintf(zKey, sizeof(zKey), "%s%06d", zPrefix, i);
    if( tuGet(db, 0, 0, zKey) ) nFound++;
  }
  return nFound;
}

/* A second mapped POSIX env: two instances of one directory need two envs
** (the registry keys instances by env), and both append through a mapping
** as processes do. */
static KvEnv *fastPosixOther(void){
  static KvEnv env;
  env = *fastPosix();
  env.zName = "posix-nosync-other";
  return &env;
}

/* Writes of each instance reach the other after kv_catch_up. */
static void test_two_instances_see_each_other(void **state){
  char zDir[256];
  KvEnv *pEnvB = kvTestEnvNew(kvEnvPosix());
  kv_db *a, *b;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "shared");
  a = openWith(zDir, 0, "sync=off");
  b = openWith(zDir, pEnvB, "sync=off");
  assert_ptr_not_equal(a, b);
  putN(a, "a", 0, 100);
  assert_null(tuGet(b, 0, 0, "a000000"));
  assert_int_equal(kv_catch_up(b, KV_MAX_SEQ), KV_OK);
  assert_int_equal(countPrefix(b, "a", 100), 100);
  assert_int_equal(kv_last_seq(b), kv_last_seq(a));
  putN(b, "b", 0, 50);
  assert_int_equal(kv_catch_up(a, KV_MAX_SEQ), KV_OK);
  assert_int_equal(countPrefix(a, "b", 50), 50);
  assert_int_equal(kv_last_seq(a), 150);
  /* a plain write catches up first: the sequence numbers stay unique */
  putN(a, "a", 100, 1);
  assert_int_equal(kv_last_seq(a), 151);
  kv_close(b);
  kv_close(a);
  kvTestEnvFree(pEnvB);
  /* reopened alone: everything is there */
  a = openWith(zDir, 0, "sync=off");
  assert_int_equal(countPrefix(a, "a", 101), 101);
  assert_int_equal(countPrefix(a, "b", 50), 50);
  kv_close(a);
  tuRemoveDir(zDir);
}

/* A catch-up stops at the horizon: a record above it is not applied (it
** may be abandoned), and one that replaces it with the same sequence is
** the one applied once the horizon covers it. */
static void test_catch_up_respects_horizon(void **state){
  char zDir[256];
  KvEnv *pEnvB = kvTestEnvNew(kvEnvPosix());
  kv_db *a, *b;
  kv_batch *p1 = kv_batch_new(), *p2 = kv_batch_new();
  u64 iSeq = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "sharedh");
  a = openWithH(zDir, 0, "sync=off", 1, 0);
  iSeq = 0;
  assert_int_equal(kv_batch_put(p1, "x", 1, "1", 1), KV_OK);
  assert_int_equal(tuCommitPrepared(a, p1), 1);
  kv_batch_clear(p1);
  b = openWithH(zDir, pEnvB, "sync=off", 1, 1);
  assert_string_equal(tuGet(b, 0, 0, "x"), "1");
  /* A prepares seq 2 and "dies" before the database commits it */
  assert_int_equal(kv_batch_put(p1, "lost", 4, "L", 1), KV_OK);
  assert_int_equal(kv_prepare(a, p1, &iSeq), KV_OK);
  assert_int_equal(iSeq, 2);
  kv_abort_prepared(a, iSeq);
  assert_int_equal(kv_catch_up(b, 1), KV_OK);
  assert_null(tuGet(b, 0, 0, "lost"));
  /* B commits its own batch at seq 2, replacing the abandoned record */
  iSeq = 0;
  assert_int_equal(kv_catch_up(b, 1), KV_OK);
  assert_int_equal(kv_batch_put(p2, "kept", 4, "K", 1), KV_OK);
  assert_int_equal(kv_prepare(b, p2, &iSeq), KV_OK);
  assert_int_equal(iSeq, 2);
  assert_int_equal(kv_commit_prepared(b, p2, iSeq), KV_OK);
  /* the database now holds horizon 2: A applies B's record, not its own */
  assert_int_equal(kv_catch_up(a, 2), KV_OK);
  assert_string_equal(tuGet(a, 0, 0, "kept"), "K");
  assert_null(tuGet(a, 0, 0, "lost"));
  assert_int_equal(kv_last_seq(a), 2);
  kv_batch_free(p1);
  kv_batch_free(p2);
  kv_close(b);
  kv_close(a);
  kvTestEnvFree(pEnvB);
  tuRemoveDir(zDir);
}

/* The durable point is the store's, not one process's: a compaction in B
** keeps what A's commits overwrote until A says the database made them
** durable, and drops it after, though B itself never said so. */
static void test_durable_point_shared(void **state){
  char zDir[256];
  KvEnv *pEnvB = kvTestEnvNew(kvEnvPosix());
  kv_db *a, *b;
  kv_batch *p1 = tuBatchOf("k", NULL), *p2 = kv_batch_new();
  char *zJson = 0;
  (void)state;
  assert_non_null(p2);
  assert_int_equal(kv_batch_put(p2, "k", 1, "new", 3), KV_OK);
  tuTempDir(zDir, sizeof(zDir), "shareddur");
  a = openWithH(zDir, 0, "sync=off", 1, 0);
  b = openWithH(zDir, pEnvB, "sync=off", 1, 0);
  tuCommitPrepared(a, p1);
  tuCommitPrepared(a, p2);
  assert_int_equal(kv_flush(a), KV_OK);
  assert_int_equal(kv_catch_up(b, 2), KV_OK);
  assert_int_equal(kv_compact(b, 1, &zJson), KV_OK);
  kv_free(zJson);
  assert_int_equal(tuTableEntries(b), 2);
  assert_int_equal(kv_durable_wanted(b, 0), 1);
  kv_durable(a, 2);
  assert_int_equal(kv_durable_wanted(b, 0), 0);
  assert_int_equal(kv_compact(b, 1, &zJson), KV_OK);
  kv_free(zJson);
  assert_int_equal(tuTableEntries(b), 1);
  assert_string_equal(tuGet(b, 0, 0, "k"), "new");
  assert_int_equal(kv_catch_up(a, 2), KV_OK);
  assert_string_equal(tuGet(a, 0, 0, "k"), "new");
  kv_batch_free(p1);
  kv_batch_free(p2);
  kv_close(b);
  kv_close(a);
  kvTestEnvFree(pEnvB);
  tuRemoveDir(zDir);
}

/* Flushes and compactions in one instance: the other keeps reading every
** key, resets its memtable once the flush covered it, and reads the old
** version at its snapshot after the first compacted the key's history. */
static void test_flush_and_compaction_elsewhere(void **state){
  char zDir[256];
  KvEnv *pEnvB = kvTestEnvNew(kvEnvPosix());
  kv_db *a, *b;
  kv_snapshot *pSnap;
  char *zJson = 0;
  int round;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "sharedf");
  a = openWith(zDir, 0, "memtable_size=64KB");
  b = openWith(zDir, pEnvB, "memtable_size=64KB");
  tuPut(a, "k", "old");
  assert_int_equal(kv_catch_up(b, KV_MAX_SEQ), KV_OK);
  pSnap = kv_snapshot_new(b);
  assert_non_null(pSnap);
  tuPut(a, "k", "new");
  for(round=0; round<5; round++){
    putN(a, "r", round*2000, 2000);       /* several flushes */
    assert_int_equal(kv_catch_up(b, KV_MAX_SEQ), KV_OK);
    assert_int_equal(countPrefix(b, "r", (round+1)*2000), (round+1)*2000);
  }
  assert_int_equal(kv_flush(a), KV_OK);
  assert_int_equal(kv_compact(a, 1, &zJson), KV_OK);
  kv_free(zJson);
  assert_int_equal(kv_catch_up(b, KV_MAX_SEQ), KV_OK);
  assert_true(b->nShareReset>0);
  /* A's full compaction kept the version B's snapshot reads */
  assert_string_equal(tuGet(b, pSnap, 0, "k"), "old");
  assert_string_equal(tuGet(b, 0, 0, "k"), "new");
  assert_int_equal(countPrefix(b, "r", 10000), 10000);
  /* B writes, flushes and compacts; A follows */
  putN(b, "s", 0, 3000);
  assert_int_equal(kv_flush(b), KV_OK);
  assert_int_equal(kv_compact(b, 1, &zJson), KV_OK);
  kv_free(zJson);
  assert_int_equal(kv_catch_up(a, KV_MAX_SEQ), KV_OK);
  assert_int_equal(countPrefix(a, "s", 3000), 3000);
  assert_int_equal(countPrefix(a, "r", 10000), 10000);
  kv_snapshot_free(b, pSnap);
  kv_close(b);
  kv_close(a);
  kvTestEnvFree(pEnvB);
  a = openWith(zDir, 0, "memtable_size=64KB");
  assert_int_equal(countPrefix(a, "s", 3000), 3000);
  assert_int_equal(countPrefix(a, "r", 10000), 10000);
  kv_close(a);
  tuRemoveDir(zDir);
}

/* A snapshot older than what another process's compaction already
** dropped is refused (KV_BUSY), never read wrong. */
static void test_snapshot_below_shared_floor_refused(void **state){
  char zDir[256];
  KvEnv *pEnvB = kvTestEnvNew(kvEnvPosix());
  kv_db *a, *b;
  kv_snapshot *pSnap = 0;
  char *zJson = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "sharedfl");
  a = openWith(zDir, 0, "sync=off");
  b = openWith(zDir, pEnvB, "sync=off");
  tuPut(a, "k", "1");
  assert_int_equal(kv_flush(a), KV_OK);
  tuPut(a, "k", "2");
  tuPut(a, "k", "3");
  assert_int_equal(kv_flush(a), KV_OK);
  /* B has read nothing yet (its slot says "from its last sequence") */
  assert_int_equal(kv_catch_up(b, KV_MAX_SEQ), KV_OK);
  assert_int_equal(kv_compact(a, 1, &zJson), KV_OK);
  kv_free(zJson);
  assert_int_equal(kv_snapshot_at(b, 1, &pSnap), KV_BUSY);
  assert_null(pSnap);
  assert_int_equal(kv_snapshot_at(b, 3, &pSnap), KV_OK);
  assert_string_equal(tuGet(b, pSnap, 0, "k"), "3");
  kv_snapshot_free(b, pSnap);
  kv_close(b);
  kv_close(a);
  kvTestEnvFree(pEnvB);
  tuRemoveDir(zDir);
}

/* Only one instance recovers; the second open waits for nothing and
** writes nothing; dropping a store another instance has open is refused;
** kv_store_in_use sees it. */
static void test_roles_and_drop(void **state){
  char zDir[256];
  KvEnv *pEnvB = kvTestEnvNew(kvEnvPosix());
  kv_db *a, *b;
  int bInUse = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "sharedr");
  assert_int_equal(kv_store_in_use(zDir, &bInUse), KV_OK);
  assert_int_equal(bInUse, 0);
  a = openWith(zDir, 0, "sync=off");
  tuPut(a, "x", "1");
  assert_int_equal(kv_store_in_use(zDir, &bInUse), KV_OK);
  assert_int_equal(bInUse, 1);
  b = openWith(zDir, pEnvB, "sync=off");
  /* the second open wrote no file of its own (no manifest, no segment) */
  assert_int_equal(kvTestEnvCount(pEnvB, KV_TOP_APPEND), 0);
  assert_int_equal(kvTestEnvCount(pEnvB, KV_TOP_RENAME), 0);
  kv_close(a);
  assert_int_equal(kvDestroyEnv(kvEnvPosix(), zDir), KV_BUSY);
  assert_string_equal(tuGet(b, 0, 0, "x"), "1");
  kv_close(b);
  kvTestEnvFree(pEnvB);
  assert_int_equal(kv_store_in_use(zDir, &bInUse), KV_OK);
  assert_int_equal(bInUse, 0);
  assert_int_equal(kv_destroy(zDir), KV_OK);
}

/* A writer that took the WAL's end (a kv_flush) without appending, then
** let its handle go when it wrote later, once cut the segment back to
** where it had taken it, destroying records another instance appended
** meanwhile (found by tests/mproctest.py's kill_mid_compaction). */
static void test_reposition_without_append_cuts_nothing(void **state){
  char zDir[256];
  /* B through a copy of the POSIX env (another instance, with mapped
  ** appends as in production; the test env writes plainly) */
  KvEnv *pEnvB = fastPosix();
  kv_db *a, *b;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "sharedcut");
  a = openWith(zDir, 0, "sync=off");
  b = openWith(zDir, pEnvB, "sync=off");
  putN(a, "a", 0, 10);
  assert_int_equal(kv_catch_up(b, KV_MAX_SEQ), KV_OK);
  assert_int_equal(kv_flush(b), KV_OK);     /* takes the end, appends nothing */
  putN(a, "a", 10, 10);                     /* appended after that end */
  assert_int_equal(kv_catch_up(b, KV_MAX_SEQ), KV_OK);
  putN(b, "b", 0, 5);                       /* B moves on to the new end */
  assert_int_equal(kv_catch_up(a, KV_MAX_SEQ), KV_OK);
  assert_int_equal(countPrefix(a, "b", 5), 5);
  kv_close(b);
  kv_close(a);
  a = openWith(zDir, 0, "sync=off");
  assert_int_equal(countPrefix(a, "a", 20), 20);
  assert_int_equal(countPrefix(a, "b", 5), 5);
  kv_close(a);
  tuRemoveDir(zDir);
}

static u64 entriesInTables(kv_db *db){
  KvVersion *v = kvVersionCurrent(&db->vset);
  u64 n = 0;
  int i, j;
  for(i=0; i<KV_MAX_LEVELS; i++){
    for(j=0; j<v->anFile[i]; j++) n += v->aaFile[i][j]->nEntry;
  }
  kvVersionUnref(v);
  return n;
}

/* One two-phase commit of keys zPrefix000000.. zPrefix<n-1>, values "v". */
static void commitBatch(kv_db *db, const char *zPrefix, int n){
  kv_batch *b = kv_batch_new();
  int i;
  assert_non_null(b);
  for(i=0; i<n; i++){
    char zKey[32];
    snprintf(zKey, sizeof(zKey), "%s%06d", zPrefix, i);
    assert_int_equal(kv_batch_put(b, zKey, strlen(zKey), "v", 1), KV_OK);
  }
  tuCommitPrepared(db, b);
  kv_batch_free(b);
}

/* A writer that continued its own mapping of a segment at the shared end
** wrote past the end of the file when another instance had meanwhile
** reopened the segment there (cutting its preallocation) without
** appending: the records went to pages beyond the file's end and were
** lost to every reader ("no whole record at offset ..."; found by
** tests/mproctest.py's kill loops, where a process flushing an empty
** memtable reopens the WAL at the end). */
static void test_writer_reopens_after_another_cut_the_segment(void **state){
  char zDir[256];
  kv_db *a, *b;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "sharedstale");
  a = openWithH(zDir, fastPosix(), "sync=off", 1, 0);
  b = openWithH(zDir, fastPosixOther(), "sync=off", 1, 0);
  commitBatch(a, "a", 10);              /* A maps the segment, preallocated */
  assert_int_equal(kv_flush(b), KV_OK); /* B reopens at the end: the cut */
  commitBatch(a, "c", 10);              /* A appends through its mapping */
  assert_int_equal(kv_catch_up(b, kv_last_seq(a)), KV_OK);
  assert_int_equal(countPrefix(b, "c", 10), 10);
  kv_close(b);
  kv_close(a);
  a = openWith(zDir, 0, "sync=off");
  assert_int_equal(countPrefix(a, "a", 10), 10);
  assert_int_equal(countPrefix(a, "c", 10), 10);
  kv_close(a);
  tuRemoveDir(zDir);
}

/* Writers in two processes taking turns (sync=normal): a hand-over reopens
** the WAL at the shared end and closes the old handle without an fsync (the
** segment is synced when it is rotated away or closed last, through any
** handle); it cost one fsync per turn. Nothing is lost at a clean close. */
static void test_handover_costs_no_sync(void **state){
  char zDir[256];
  KvEnv *pEnvB = kvTestEnvNew(fastPosix());
  kv_db *a, *b;
  u64 nSync;
  int i;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "sharedturns");
  a = openWith(zDir, 0, "sync=normal");
  b = openWith(zDir, pEnvB, "sync=normal");
  nSync = kvTestEnvCount(pEnvB, KV_TOP_SYNC);
  for(i=0; i<20; i++){
    putN(a, "a", i, 1);
    putN(b, "b", i, 1);
  }
  assert_int_equal(kvTestEnvCount(pEnvB, KV_TOP_SYNC), nSync);
  kv_close(b);
  kv_close(a);
  kvTestEnvFree(pEnvB);
  a = openWith(zDir, 0, "sync=normal");
  assert_int_equal(countPrefix(a, "a", 20), 20);
  assert_int_equal(countPrefix(a, "b", 20), 20);
  kv_close(a);
  tuRemoveDir(zDir);
}

/* How many of zPrefix000000.. (n keys) read zWant through db at snap. */
static int countValue(kv_db *db, const kv_snapshot *snap, const char *zPrefix,
                      int n, const char *zWant){
  int i, nSame = 0;
  for(i=0; i<n; i++){
    char zKey[32];
    const char *zVal;
    snprintf(zKey, sizeof(zKey), "%s%06d", zPrefix, i);
    zVal = tuGet(db, snap, 0, zKey);
    if( zVal && strncmp(zVal, zWant, strlen(zWant))==0 ) nSame++;
  }
  return nSame;
}

/* A batch past txn_spill=4KB of n keys zPrefix000000.. valued zVal. */
static kv_batch *spilledBatch(kv_db *db, const char *zPrefix, int n,
                              const char *zVal){
  kv_batch *p = kv_batch_new();
  int i;
  assert_non_null(p);
  assert_int_equal(kv_batch_set_spill(p, db), KV_OK);
  for(i=0; i<n; i++){
    char zKey[32], zBuf[128];
    snprintf(zKey, sizeof(zKey), "%s%06d", zPrefix, i);
    memset(zBuf, '.', sizeof(zBuf));
    memcpy(zBuf, zVal, strlen(zVal));
    assert_int_equal(kv_batch_put(p, zKey, strlen(zKey), zBuf, sizeof(zBuf)),
                     KV_OK);
  }
  assert_true(kvSpillHasRuns(kvBatchSpill(p)));
  return p;
}

/*
** A transaction past txn_spill spills and commits while another process
** has the store open, and that process reads it whole: not the older
** versions of its keys that its own memtable holds (read before level 0).
** Its snapshot from before keeps the older values. When the database has
** committed a spilled transaction but its process has not installed the
** tables (it died, or has not got there yet), the other process's
** catch-up to that horizon installs them, and the committer's own install
** then adds nothing. Both ways round, and after reopening alone.
*/
static void test_spill_beside_another_process(void **state){
  char zDir[256];
  kv_db *a, *b;
  kv_batch *p;
  kv_snapshot *snap;
  char *zJson = 0;
  u64 iSeq = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "sharedspill");
  a = openWith(zDir, 0, "txn_spill=4KB");
  b = openWith(zDir, fastPosixOther(), "txn_spill=4KB");

  /* b's memtable holds k..: 'old' */
  p = kv_batch_new();
  {
    int i;
    for(i=0; i<200; i++){
      char zKey[32];
      snprintf(zKey, sizeof(zKey), "k%06d", i);
      assert_int_equal(kv_batch_put(p, zKey, strlen(zKey), "old", 3), KV_OK);
    }
  }
  tuCommitPrepared(a, p);
  kv_batch_free(p);
  assert_int_equal(kv_catch_up(b, kv_last_seq(a)), KV_OK);
  assert_int_equal(countValue(b, 0, "k", 200, "old"), 200);
  snap = kv_snapshot_new(b);
  assert_non_null(snap);

  /* a spills 'new' over them and 200 more keys, and commits */
  p = spilledBatch(a, "k", 400, "new");
  tuCommitPrepared(a, p);
  kv_batch_free(p);
  assert_int_equal(kv_catch_up(b, kv_last_seq(a)), KV_OK);
  assert_int_equal(countValue(b, 0, "k", 400, "new"), 400);
  assert_int_equal(countValue(b, snap, "k", 400, "old"), 200);
  assert_int_equal(countValue(b, snap, "k", 400, "new"), 0);
  kv_snapshot_free(b, snap);

  /* a prepares 'two'; the database commits it (b reads that horizon) but
  ** a has not installed the tables (it died, or is about to): b installs
  ** them, and a's install then adds nothing */
  p = spilledBatch(a, "k", 400, "two");
  assert_int_equal(kv_prepare(a, p, &iSeq), KV_OK);
  assert_int_equal(kv_catch_up(b, iSeq), KV_OK);
  assert_int_equal(countValue(b, 0, "k", 400, "two"), 400);
  assert_int_equal(kv_commit_prepared(a, p, iSeq), KV_OK);
  kv_batch_free(p);
  assert_int_equal(countValue(a, 0, "k", 400, "two"), 400);
  assert_int_equal(kv_catch_up(b, kv_last_seq(a)), KV_OK);
  assert_int_equal(countValue(b, 0, "k", 400, "two"), 400);

  /* the other way round, and writes after it */
  assert_int_equal(kv_catch_up(b, kv_last_seq(a)), KV_OK);
  p = spilledBatch(b, "k", 300, "bbb");
  tuCommitPrepared(b, p);
  kv_batch_free(p);
  putN(b, "z", 0, 10);
  assert_int_equal(kv_catch_up(a, kv_last_seq(b)), KV_OK);
  assert_int_equal(countValue(a, 0, "k", 400, "bbb"), 300);
  assert_int_equal(countValue(a, 0, "k", 400, "two"), 100);
  assert_int_equal(countPrefix(a, "z", 10), 10);

  kv_close(b);
  kv_close(a);
  a = openWith(zDir, 0, "txn_spill=4KB");
  assert_int_equal(entriesInTables(a) >= 400, 1);
  assert_int_equal(kv_compact(a, 1, &zJson), KV_OK);
  kv_free(zJson);
  assert_int_equal(entriesInTables(a), 410);
  assert_int_equal(countValue(a, 0, "k", 400, "bbb"), 300);
  assert_int_equal(countValue(a, 0, "k", 400, "two"), 100);
  assert_int_equal(countPrefix(a, "z", 10), 10);
  kv_close(a);
  tuRemoveDir(zDir);
}

/* A flush whose log number is a segment holding records it flushed (the
** flusher had not read another process's later record) must not make the
** next recovery replay them into a second table: two tables holding one
** internal key break every merge (an assertion in the table builder,
** found by a kill test with compactions). */
static void test_recovery_skips_flushed_records(void **state){
  char zDir[256];
  KvEnv *pEnvB = fastPosix();
  kv_db *a, *b;
  char *zJson = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "sharedrec");
  a = openWithH(zDir, 0, "sync=off", 1, 0);
  b = openWithH(zDir, pEnvB, "sync=off", 1, 0);
  commitBatch(a, "a", 10);                          /* seq 1..10 */
  assert_int_equal(kv_catch_up(b, 10), KV_OK);
  commitBatch(b, "b", 10);                          /* seq 11..20 */
  assert_int_equal(kv_flush(a), KV_OK);             /* A's 1..10 only */
  assert_int_equal(entriesInTables(a), 10);
  kv_close(b);
  kv_close(a);
  a = openWithH(zDir, 0, "sync=off", 1, 20);        /* alone: recovers */
  assert_int_equal(entriesInTables(a), 20);
  assert_int_equal(countPrefix(a, "a", 10), 10);
  assert_int_equal(countPrefix(a, "b", 10), 10);
  assert_int_equal(kv_compact(a, 1, &zJson), KV_OK);
  kv_free(zJson);
  assert_int_equal(entriesInTables(a), 20);
  kv_close(a);
  tuRemoveDir(zDir);
}

/*
** Crash points of the cross-process protocol: instance B dies (its env
** fails every operation from then on, as a killed process's would never
** run) at each mutating operation of a workload of commits, memtable
** switches, flushes and compactions, while instance A stays up. Then A
** must go on at once: its catch-up sees every batch B acknowledged, it
** takes the maintenance turn and the writer lock B held, and its own
** writes, flushes and compactions work; and the store reopened alone
** holds everything.
*/
static int crashWorkload(kv_db *b, int *pnAcked){
  int i, rc = KV_OK;
  char *zJson = 0;
  for(i=0; i<60 && rc==KV_OK; i++){
    char zKey[32], zVal[128];
    snprintf(zKey, sizeof(zKey), "b%04d", i);
    memset(zVal, 'a' + i%26, sizeof(zVal)-1);
    zVal[sizeof(zVal)-1] = 0;
    rc = kv_put(b, zKey, strlen(zKey), zVal, strlen(zVal));
    if( rc==KV_OK ) *pnAcked = i+1;
    if( rc==KV_OK && i%20==19 ) rc = kv_flush(b);
    if( rc==KV_OK && i==45 ){
      rc = kv_compact(b, 1, &zJson);
      kv_free(zJson);
      zJson = 0;
    }
  }
  return rc;
}

static void crashOne(int iPoint, int *pbDone){
  char zDir[256];
  KvEnv *pEnvB = kvTestEnvNew(fastPosix());
  kv_db *a, *b, *c;
  int nAcked = 0, i, rc;
  char *zJson = 0;
  tuTempDir(zDir, sizeof(zDir), "sharedcp");
  a = openWith(zDir, 0, "wal_segment_records=7");
  tuPut(a, "a0", "x");
  b = openWith(zDir, pEnvB, "wal_segment_records=7");
  kvTestEnvCrashAfter(pEnvB, iPoint);
  rc = crashWorkload(b, &nAcked);
  *pbDone = rc==KV_OK && !kvTestEnvIsDead(pEnvB);
  kv_close_nowait(b);                   /* the dead process's locks go */
  /* A goes on. */
  assert_int_equal(kv_catch_up(a, KV_MAX_SEQ), KV_OK);
  for(i=0; i<nAcked; i++){
    char zKey[32];
    snprintf(zKey, sizeof(zKey), "b%04d", i);
    if( tuGet(a, 0, 0, zKey)==0 ){
      fail_msg("crash point %d: acknowledged key %s missing in the other "
               "instance", iPoint, zKey);
    }
  }
  putN(a, "after", 0, 30);
  /* ... and its records reach the WAL whatever B did to it last (a third
  ** instance reads them from there). */
  c = openWith(zDir, fastPosixOther(), "wal_segment_records=7");
  assert_int_equal(kv_catch_up(c, KV_MAX_SEQ), KV_OK);
  if( countPrefix(c, "after", 30)!=30 ){
    fail_msg("crash point %d: another instance read %d of 30 records "
             "written after the crash", iPoint, countPrefix(c, "after", 30));
  }
  kv_close(c);
  assert_int_equal(kv_flush(a), KV_OK);
  assert_int_equal(kv_compact(a, 1, &zJson), KV_OK);
  kv_free(zJson);
  assert_int_equal(countPrefix(a, "after", 30), 30);
  kv_close(a);
  kvTestEnvFree(pEnvB);
  a = openWith(zDir, 0, "wal_segment_records=7");
  for(i=0; i<nAcked; i++){
    char zKey[32];
    snprintf(zKey, sizeof(zKey), "b%04d", i);
    if( tuGet(a, 0, 0, zKey)==0 ){
      fail_msg("crash point %d: acknowledged key %s lost after reopening",
               iPoint, zKey);
    }
  }
  assert_int_equal(countPrefix(a, "after", 30), 30);
  assert_string_equal(tuGet(a, 0, 0, "a0"), "x");
  kv_close(a);
  tuRemoveDir(zDir);
}

static void test_crash_points_of_another_instance(void **state){
  int iPoint, bDone = 0;
  (void)state;
  for(iPoint=1; !bDone && iPoint<2000; iPoint++) crashOne(iPoint, &bDone);
  assert_true(bDone);                  /* every point was reached */
  print_message("crash points: %d\n", iPoint-1);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_two_instances_see_each_other),
    cmocka_unit_test(test_catch_up_respects_horizon),
    cmocka_unit_test(test_durable_point_shared),
    cmocka_unit_test(test_flush_and_compaction_elsewhere),
    cmocka_unit_test(test_snapshot_below_shared_floor_refused),
    cmocka_unit_test(test_roles_and_drop),
    cmocka_unit_test(test_reposition_without_append_cuts_nothing),
    cmocka_unit_test(test_recovery_skips_flushed_records),
    cmocka_unit_test(test_writer_reopens_after_another_cut_the_segment),
    cmocka_unit_test(test_handover_costs_no_sync),
    cmocka_unit_test(test_spill_beside_another_process),
    cmocka_unit_test(test_crash_points_of_another_instance),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
