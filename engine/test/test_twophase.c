/*
** test_twophase.c - the two-phase commit of kv.h (kv_prepare,
** kv_commit_prepared, kv_abort_prepared, kv_options_set_horizon) and
** snapshots at a sequence (kv_snapshot_at).
**
** The SQL layer commits a transaction as: PREPARED record in the WAL, the
** database's commit (which stores the horizon H = the batch's first
** sequence), then the apply. These tests play the database with a
** variable holding the durable H, and check what recovery makes of every
** crash point between those steps.
*/
#include "testutil.h"

#include <inttypes.h>
#include <pthread.h>
#include <unistd.h>

static kv_db *openAt(const char *zDir, kv_options *o, int bHorizon, u64 iH){
  kv_options *p = kv_options_copy(o);
  kv_db *db = 0;
  int rc;
  assert_non_null(p);
  if( bHorizon ) kv_options_set_horizon(p, iH);
  rc = kv_open(zDir, p, &db);
  kv_options_free(p);
  if( rc!=KV_OK ) fail_msg("kv_open(%s): %d %s", zDir, rc, kv_errmsg(0));
  return db;
}

/* Opening zDir with options o and horizon iH fails with KV_CORRUPT, its
** message holding zNeedle and naming kvstore_repair (recover.c). */
static void openRefused(const char *zDir, kv_options *o, u64 iH,
                        const char *zNeedle){
  kv_options *p = kv_options_copy(o);
  kv_db *db = 0;
  assert_non_null(p);
  kv_options_set_horizon(p, iH);
  assert_int_equal(kv_open(zDir, p, &db), KV_CORRUPT);
  assert_non_null(strstr(kv_errmsg(0), zNeedle));
  assert_non_null(strstr(kv_errmsg(0), "kvstore_repair"));
  kvErrClear();
  kv_options_free(p);
}

static void test_prepared_invisible_until_applied(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", NULL);
  kv_db *db;
  kv_batch *b = tuBatchOf("a", "b", NULL);
  u64 iSeq = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "2pc");
  db = tuOpen(zDir, o);
  tuPut(db, "x", "1");
  assert_int_equal(kv_prepare(db, b, &iSeq), KV_OK);
  assert_int_equal(iSeq, 2);
  assert_null(tuGet(db, 0, 0, "a"));
  assert_int_equal(kv_last_seq(db), 1);
  assert_int_equal(kv_commit_prepared(db, b, iSeq), KV_OK);
  assert_string_equal(tuGet(db, 0, 0, "a"), "v");
  assert_string_equal(tuGet(db, 0, 0, "b"), "v");
  assert_int_equal(kv_last_seq(db), 3);
  /* An apply without a prepare is a misuse, and changes nothing. */
  assert_int_equal(kv_commit_prepared(db, b, iSeq), KV_MISUSE);
  assert_int_equal(kv_last_seq(db), 3);
  kv_close(db);
  kv_batch_free(b);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

struct AbortLater { kv_db *db; u64 iSeq; };
static void *abortLater(void *pArg){
  struct AbortLater *p = (struct AbortLater*)pArg;
  usleep(100*1000);
  kv_abort_prepared(p->db, p->iSeq);
  return 0;
}

static void test_prepared_blocks_other_writes(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", NULL);
  kv_db *db;
  kv_batch *b = tuBatchOf("a", NULL);
  kv_batch *b2 = tuBatchOf("z", NULL);
  u64 iSeq = 0, iOther = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "2pc");
  db = tuOpen(zDir, o);
  assert_int_equal(kv_prepare(db, b, &iSeq), KV_OK);
  /* Another transaction's prepare is refused at once... */
  assert_int_equal(kv_prepare(db, b2, &iOther), KV_BUSY);
  /* ...a plain write waits until the prepared one is given up (or
  ** applied), and the sequence given back goes to it. */
  {
    struct AbortLater al;
    pthread_t th;
    al.db = db;
    al.iSeq = iSeq;
    assert_int_equal(pthread_create(&th, 0, abortLater, &al), 0);
    assert_int_equal(kv_put(db, "k", 1, "v", 1), KV_OK);
    pthread_join(th, 0);
  }
  assert_int_equal(kv_last_seq(db), iSeq);
  assert_int_equal(kv_flush(db), KV_OK);
  assert_null(tuGet(db, 0, 0, "a"));
  kv_close(db);
  kv_batch_free(b);
  kv_batch_free(b2);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* A COMMIT retried after SQLITE_BUSY: the transaction wrote more between
** the attempts; the second record replaces the first, and recovery at
** the horizon keeps every write of it exactly once. */
static void test_retried_prepare_replaces_record(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", NULL);
  kv_db *db;
  kv_batch *b = tuBatchOf("a", NULL);
  u64 iSeq = 0, iSeq2;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "2pc");
  db = openAt(zDir, o, 1, 0);
  assert_int_equal(kv_prepare(db, b, &iSeq), KV_OK);
  assert_int_equal(kv_batch_put(b, "b", 1, "v", 1), KV_OK);
  iSeq2 = iSeq;
  assert_int_equal(kv_prepare(db, b, &iSeq2), KV_OK);
  assert_int_equal(iSeq2, iSeq);
  /* The database commits (H = iSeq), the process dies before the apply. */
  kv_close(db);
  db = openAt(zDir, o, 1, iSeq);
  assert_string_equal(tuGet(db, 0, 0, "a"), "v");
  assert_string_equal(tuGet(db, 0, 0, "b"), "v");
  assert_int_equal(kv_last_seq(db), iSeq+1);
  kv_close(db);
  kv_batch_free(b);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* The database did not commit (its horizon stayed below): the prepared
** batch is gone after recovery, and its sequence is reused by the next
** commit, which the following recovery keeps (and only it). */
static void test_prepared_above_horizon_discarded(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", NULL);
  kv_db *db;
  kv_batch *b = tuBatchOf("old", NULL);
  kv_batch *b2 = tuBatchOf("new", NULL);
  u64 iSeq = 0, iSeq2 = 0, iH, nBatch, nEntry;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "2pc");
  db = openAt(zDir, o, 1, 0);
  assert_int_equal(kv_revoked(db, &iH, &nBatch, &nEntry), 0);
  assert_int_equal(kv_prepare(db, b, &iSeq), KV_OK);
  assert_int_equal(iSeq, 1);
  kv_close(db);
  db = openAt(zDir, o, 1, 0);
  assert_null(tuGet(db, 0, 0, "old"));
  assert_int_equal(kv_last_seq(db), 0);
  /* The one record discarded is reported, once. */
  assert_int_equal(kv_revoked(db, &iH, &nBatch, &nEntry), 1);
  assert_int_equal(iH, 0);
  assert_int_equal(nBatch, 1);
  assert_int_equal(nEntry, 0);
  assert_int_equal(kv_revoked(db, &iH, &nBatch, &nEntry), 0);
  assert_int_equal(nBatch, 1);
  assert_int_equal(kv_prepare(db, b2, &iSeq2), KV_OK);
  assert_int_equal(iSeq2, 1);
  assert_int_equal(kv_commit_prepared(db, b2, iSeq2), KV_OK);
  kv_close(db);
  db = openAt(zDir, o, 1, 1);
  assert_null(tuGet(db, 0, 0, "old"));
  assert_string_equal(tuGet(db, 0, 0, "new"), "v");
  kv_close(db);
  kv_batch_free(b);
  kv_batch_free(b2);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* ROLLBACK after a failed COMMIT: abort, and the next transaction's
** record (same sequence) replaces the abandoned one in the WAL. */
static void test_abort_then_reuse_survives_recovery(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", NULL);
  kv_db *db;
  kv_batch *b = tuBatchOf("rolledback1", "rolledback2", "rolledback3", NULL);
  kv_batch *b2 = tuBatchOf("kept", NULL);
  kv_batch *b3 = tuBatchOf("later", NULL);
  u64 iSeq = 0, iSeq2 = 0, iSeq3 = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "2pc");
  db = openAt(zDir, o, 1, 0);
  assert_int_equal(kv_prepare(db, b, &iSeq), KV_OK);
  kv_abort_prepared(db, iSeq);
  assert_int_equal(kv_prepare(db, b2, &iSeq2), KV_OK);
  assert_int_equal(iSeq2, iSeq);
  assert_int_equal(kv_commit_prepared(db, b2, iSeq2), KV_OK);
  assert_int_equal(kv_prepare(db, b3, &iSeq3), KV_OK);
  assert_int_equal(iSeq3, iSeq2+1);
  assert_int_equal(kv_commit_prepared(db, b3, iSeq3), KV_OK);
  kv_close(db);
  db = openAt(zDir, o, 1, iSeq3);
  assert_null(tuGet(db, 0, 0, "rolledback1"));
  assert_null(tuGet(db, 0, 0, "rolledback2"));
  assert_null(tuGet(db, 0, 0, "rolledback3"));
  assert_string_equal(tuGet(db, 0, 0, "kept"), "v");
  assert_string_equal(tuGet(db, 0, 0, "later"), "v");
  kv_close(db);
  kv_batch_free(b);
  kv_batch_free(b2);
  kv_batch_free(b3);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* The database lost its last commit after the store had flushed it: the
** entries above the horizon are revoked at open (the SSTable rewritten
** without them), stay revoked once later commits reuse their numbers,
** and older versions of the same keys show again. */
static void test_flushed_commit_above_horizon_revoked(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", NULL);
  kv_db *db;
  kv_batch *b1 = tuBatchOf("k1", "k2", NULL);
  kv_batch *b2 = kv_batch_new();
  kv_batch *b3 = tuBatchOf("k3", NULL);
  u64 iSeq1 = 0, iSeq2 = 0, iSeq3 = 0, iH, nBatch, nEntry;
  char *zStats = 0;
  (void)state;
  assert_non_null(b2);
  assert_int_equal(kv_batch_put(b2, "k1", 2, "lost", 4), KV_OK);
  assert_int_equal(kv_batch_put(b2, "lost", 4, "lost", 4), KV_OK);
  tuTempDir(zDir, sizeof(zDir), "2pc");
  db = openAt(zDir, o, 1, 0);
  iSeq1 = tuCommitPrepared(db, b1);
  assert_int_equal(kv_flush(db), KV_OK);
  iSeq2 = tuCommitPrepared(db, b2);
  assert_int_equal(kv_flush(db), KV_OK);
  assert_string_equal(tuGet(db, 0, 0, "k1"), "lost");
  kv_close(db);
  /* The database kept only the first commit (H = its last sequence). */
  db = openAt(zDir, o, 1, iSeq1+1);
  assert_string_equal(tuGet(db, 0, 0, "k1"), "v");
  assert_null(tuGet(db, 0, 0, "lost"));
  assert_int_equal(kv_last_seq(db), iSeq1+1);
  /* Both entries of the lost commit, from its SSTable; no WAL record. */
  assert_int_equal(kv_revoked(db, &iH, &nBatch, &nEntry), 1);
  assert_int_equal(iH, iSeq1+1);
  assert_int_equal(nBatch, 0);
  assert_int_equal(nEntry, 2);
  assert_int_equal(kv_stats(db, &zStats), KV_OK);
  assert_non_null(strstr(zStats, "\"recovery\":{\"horizon\":2,"
                         "\"revoked_batches\":0,\"revoked_entries\":2}"));
  kv_free(zStats);
  assert_int_equal(kv_prepare(db, b3, &iSeq3), KV_OK);
  assert_int_equal(iSeq3, iSeq2);
  assert_int_equal(kv_commit_prepared(db, b3, iSeq3), KV_OK);
  assert_int_equal(kv_flush(db), KV_OK);
  kv_close(db);
  db = openAt(zDir, o, 1, iSeq3);
  assert_string_equal(tuGet(db, 0, 0, "k1"), "v");
  assert_string_equal(tuGet(db, 0, 0, "k3"), "v");
  assert_null(tuGet(db, 0, 0, "lost"));
  kv_close(db);
  kv_batch_free(b1);
  kv_batch_free(b2);
  kv_batch_free(b3);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* The database lost commits that overwrote keys, and a compaction ran
** before the power cut: revocation still brings the older versions back,
** because compaction keeps what sequences above the durable point
** overwrote (the code before dropped "v" and k1 then read as absent). */
static void test_compaction_keeps_what_revocable_commits_overwrote(
    void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", NULL);
  kv_db *db;
  kv_batch *b1 = tuBatchOf("k1", "k2", NULL);
  kv_batch *b2 = kv_batch_new();
  kv_batch *b3 = kv_batch_new();
  char *zJson = 0;
  u64 iSeq1;
  (void)state;
  assert_non_null(b2);
  assert_non_null(b3);
  assert_int_equal(kv_batch_put(b2, "k1", 2, "lost", 4), KV_OK);
  assert_int_equal(kv_batch_delete(b3, "k2", 2), KV_OK);
  tuTempDir(zDir, sizeof(zDir), "2pcdur");
  db = openAt(zDir, o, 1, 0);
  iSeq1 = tuCommitPrepared(db, b1);
  kv_durable(db, iSeq1+1);            /* the database synced batch 1 */
  assert_int_equal(kv_durable_wanted(db, 1), 0);
  assert_int_equal(kv_flush(db), KV_OK);
  tuCommitPrepared(db, b2);
  tuCommitPrepared(db, b3);
  assert_int_equal(kv_durable_wanted(db, 0), 0);
  assert_int_equal(kv_durable_wanted(db, 1), 1);
  assert_int_equal(kv_compact(db, 1, &zJson), KV_OK);   /* flush + merge */
  kv_free(zJson);
  assert_int_equal(kv_durable_wanted(db, 0), 1);
  assert_int_equal(tuTableEntries(db), 4);  /* k1 twice, k2 and its tombstone */
  assert_string_equal(tuGet(db, 0, 0, "k1"), "lost");
  assert_null(tuGet(db, 0, 0, "k2"));
  kv_close(db);
  /* The power cut took the database back to batch 1. */
  db = openAt(zDir, o, 1, iSeq1+1);
  assert_string_equal(tuGet(db, 0, 0, "k1"), "v");
  assert_string_equal(tuGet(db, 0, 0, "k2"), "v");
  kv_close(db);
  kv_batch_free(b1);
  kv_batch_free(b2);
  kv_batch_free(b3);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Once the caller says the commits are durable, compaction drops what
** they overwrote; a store opened without a horizon never keeps any. */
static void test_durable_point_lets_compaction_drop(void **state){
  char zDir[256], zDir2[256];
  kv_options *o = tuOptions("background=off", NULL);
  kv_db *db;
  kv_batch *b1 = tuBatchOf("k1", NULL);
  kv_batch *b2 = kv_batch_new();
  char *zJson = 0;
  (void)state;
  assert_non_null(b2);
  assert_int_equal(kv_batch_put(b2, "k1", 2, "new", 3), KV_OK);
  tuTempDir(zDir, sizeof(zDir), "2pcdrop");
  db = openAt(zDir, o, 1, 0);
  tuCommitPrepared(db, b1);
  tuCommitPrepared(db, b2);
  assert_int_equal(kv_compact(db, 1, &zJson), KV_OK);
  kv_free(zJson);
  assert_int_equal(tuTableEntries(db), 2);
  kv_durable(db, kv_last_seq(db));
  assert_int_equal(kv_durable_wanted(db, 1), 0);
  assert_int_equal(kv_compact(db, 1, &zJson), KV_OK);
  kv_free(zJson);
  assert_int_equal(tuTableEntries(db), 1);
  assert_string_equal(tuGet(db, 0, 0, "k1"), "new");
  kv_close(db);
  tuTempDir(zDir2, sizeof(zDir2), "2pcnohz");
  db = openAt(zDir2, o, 0, 0);
  tuPut(db, "k1", "old");
  tuPut(db, "k1", "new");
  assert_int_equal(kv_durable_wanted(db, 1), 0);
  assert_int_equal(kv_compact(db, 1, &zJson), KV_OK);
  kv_free(zJson);
  assert_int_equal(tuTableEntries(db), 1);
  kv_close(db);
  kv_batch_free(b1);
  kv_batch_free(b2);
  kv_options_free(o);
  tuRemoveDir(zDir);
  tuRemoveDir(zDir2);
}

/* A database that comes back older than the floor compactions recorded
** (an older copy of the file, not a power cut) is refused: revoking down
** to it may lose values. kv_repair revokes anyway and reports it; the
** floor then comes down to the horizon, and the numbers above it are
** used again without another refusal. */
static void test_database_older_than_drop_floor_refused(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", NULL);
  kv_options *pH = kv_options_copy(o);
  kv_db *db;
  kv_batch *b1 = tuBatchOf("k1", "k2", NULL);
  kv_batch *b2 = kv_batch_new();
  kv_batch *b3 = tuBatchOf("k3", NULL);
  char *zJson = 0;
  u64 iSeq1;
  (void)state;
  assert_non_null(b2);
  assert_non_null(pH);
  assert_int_equal(kv_batch_put(b2, "k1", 2, "new", 3), KV_OK);
  tuTempDir(zDir, sizeof(zDir), "2pcfloor");
  db = openAt(zDir, o, 1, 0);
  iSeq1 = tuCommitPrepared(db, b1);
  tuCommitPrepared(db, b2);
  kv_durable(db, kv_last_seq(db));
  assert_int_equal(kv_compact(db, 1, &zJson), KV_OK);   /* drops k1=v */
  kv_free(zJson);
  kv_close(db);
  /* The database is as durable as the store: it opens. */
  db = openAt(zDir, o, 1, iSeq1+2);
  assert_string_equal(tuGet(db, 0, 0, "k1"), "new");
  kv_close(db);
  /* An older database: refused, the store untouched. */
  openRefused(zDir, o, iSeq1+1, "restored from an older copy");
  kv_options_set_horizon(pH, iSeq1+1);
  db = openAt(zDir, o, 1, iSeq1+2);
  assert_string_equal(tuGet(db, 0, 0, "k1"), "new");
  kv_close(db);
  /* kv_repair takes the store back to it, and k1's older value is gone. */
  assert_int_equal(kv_repair(zDir, pH, &zJson), KV_OK);
  assert_string_equal(zJson, "{\"repaired\":true,\"reason\":\"revoked the "
      "commits the database does not hold\",\"horizon\":2,"
      "\"revoked_batches\":0,\"revoked_entries\":1}");
  kv_free(zJson);
  db = openAt(zDir, o, 1, iSeq1+1);
  assert_null(tuGet(db, 0, 0, "k1"));
  assert_string_equal(tuGet(db, 0, 0, "k2"), "v");
  /* The numbers above the horizon again, flushed: no refusal. */
  assert_int_equal(tuCommitPrepared(db, b3), iSeq1+2);
  assert_int_equal(kv_flush(db), KV_OK);
  kv_close(db);
  db = openAt(zDir, o, 1, iSeq1+1);
  assert_null(tuGet(db, 0, 0, "k3"));
  kv_close(db);
  kv_batch_free(b1);
  kv_batch_free(b2);
  kv_batch_free(b3);
  kv_options_free(pH);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* A store that lacks the database's last commits (a store put back from
** an older copy; the last records of a sync=off store lost) is refused
** instead of read as if its state were the committed one (the code before
** opened it and served k2 as absent). kv_repair goes on from what it
** holds, past the database's horizon, so that horizon stays right. */
static void test_store_older_than_database_refused(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", NULL);
  kv_options *pH = kv_options_copy(o);
  kv_db *db;
  kv_batch *b1 = tuBatchOf("k1", NULL);
  kv_batch *b2 = tuBatchOf("k2", NULL);
  char *zJson = 0;
  (void)state;
  assert_non_null(pH);
  tuTempDir(zDir, sizeof(zDir), "2pcbehind");
  db = openAt(zDir, o, 1, 0);
  assert_int_equal(tuCommitPrepared(db, b1), 1);
  kv_close(db);
  /* The database committed up to 3; the store holds 1. */
  openRefused(zDir, o, 3, "older than its database");
  kv_options_set_horizon(pH, 3);
  assert_int_equal(kv_repair(zDir, pH, &zJson), KV_OK);
  assert_string_equal(zJson, "{\"repaired\":true,\"reason\":\"the store "
      "lacks the database's last commits; it goes on from what it holds\","
      "\"horizon\":3,\"store_sequence\":1}");
  kv_free(zJson);
  db = openAt(zDir, o, 1, 3);
  assert_string_equal(tuGet(db, 0, 0, "k1"), "v");
  assert_null(tuGet(db, 0, 0, "k2"));
  assert_int_equal(kv_last_seq(db), 3);
  assert_int_equal(tuCommitPrepared(db, b2), 4);
  kv_close(db);
  db = openAt(zDir, o, 1, 4);
  assert_string_equal(tuGet(db, 0, 0, "k2"), "v");
  kv_close(db);
  kv_batch_free(b1);
  kv_batch_free(b2);
  kv_options_free(pH);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* A range tombstone at or below the horizon, in a table that also holds
** a revoked commit, survives the table's rewrite at open: the keys it
** deleted stay deleted. */
static void test_revocation_keeps_range_tombstones(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", NULL);
  kv_db *db;
  kv_batch *b1 = tuBatchOf("a", "b", NULL);
  kv_batch *b2 = kv_batch_new();
  kv_batch *b3 = tuBatchOf("lost", NULL);
  u64 iSeq2;
  (void)state;
  assert_non_null(b2);
  assert_int_equal(kv_batch_delete_range(b2, "b", 1, "c", 1), KV_OK);
  tuTempDir(zDir, sizeof(zDir), "2pc");
  db = openAt(zDir, o, 1, 0);
  tuCommitPrepared(db, b1);
  iSeq2 = tuCommitPrepared(db, b2);
  tuCommitPrepared(db, b3);
  assert_int_equal(kv_flush(db), KV_OK);     /* one table holds all three */
  assert_null(tuGet(db, 0, 0, "b"));
  kv_close(db);
  db = openAt(zDir, o, 1, iSeq2);            /* the database lost b3 */
  assert_string_equal(tuGet(db, 0, 0, "a"), "v");
  assert_null(tuGet(db, 0, 0, "b"));
  assert_null(tuGet(db, 0, 0, "lost"));
  kv_close(db);
  db = openAt(zDir, o, 1, iSeq2);
  assert_null(tuGet(db, 0, 0, "b"));
  kv_close(db);
  kv_batch_free(b1);
  kv_batch_free(b2);
  kv_batch_free(b3);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* A reader that sees the database's new horizon before the committing
** connection applied its batch (between the database's commit and
** xCommit) waits for the apply instead of reading without it. */
struct ApplyLater { kv_db *db; kv_batch *b; u64 iSeq; int rc; };
static void *applyLater(void *pArg){
  struct ApplyLater *p = (struct ApplyLater*)pArg;
  usleep(100*1000);
  p->rc = kv_commit_prepared(p->db, p->b, p->iSeq);
  return 0;
}

static void test_snapshot_at_waits_for_apply(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", NULL);
  struct ApplyLater al;
  pthread_t th;
  kv_snapshot *s = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "2pc");
  memset(&al, 0, sizeof(al));
  al.db = tuOpen(zDir, o);
  al.b = tuBatchOf("w", NULL);
  assert_int_equal(kv_prepare(al.db, al.b, &al.iSeq), KV_OK);
  assert_int_equal(pthread_create(&th, 0, applyLater, &al), 0);
  assert_int_equal(kv_snapshot_at(al.db, al.iSeq, &s), KV_OK);
  assert_int_equal(kv_snapshot_seq(s), al.iSeq);
  assert_string_equal(tuGet(al.db, s, 0, "w"), "v");
  pthread_join(th, 0);
  assert_int_equal(al.rc, KV_OK);
  kv_snapshot_free(al.db, s);
  kv_close(al.db);
  kv_batch_free(al.b);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

static void test_snapshot_at_sequence(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", NULL);
  kv_db *db;
  kv_snapshot *s = 0, *s2 = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "2pc");
  db = tuOpen(zDir, o);
  tuPut(db, "g", "1");
  tuPut(db, "g", "2");
  tuPut(db, "h", "1");
  assert_int_equal(kv_snapshot_at(db, 1, &s), KV_OK);
  assert_int_equal(kv_snapshot_seq(s), 1);
  assert_string_equal(tuGet(db, s, 0, "g"), "1");
  assert_null(tuGet(db, s, 0, "h"));
  /* A read point beyond the last sequence reads the last one. */
  assert_int_equal(kv_snapshot_at(db, 99, &s2), KV_OK);
  assert_int_equal(kv_snapshot_seq(s2), 3);
  kv_snapshot_free(db, s2);
  /* Compaction keeps what the live snapshot needs... */
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  assert_string_equal(tuGet(db, s, 0, "g"), "1");
  kv_snapshot_free(db, s);
  /* ...and once it is gone, a read point older than the compaction's is
  ** refused rather than answered from dropped versions. */
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  s = 0;
  assert_int_equal(kv_snapshot_at(db, 1, &s), KV_BUSY);
  assert_null(s);
  assert_int_equal(kv_snapshot_at(db, 3, &s), KV_OK);
  assert_string_equal(tuGet(db, s, 0, "g"), "2");
  kv_snapshot_free(db, s);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/*
** Crash points. Each round commits transactions (a few keys each, named
** after the transaction) until the armed crash kills the test env at its
** n-th mutating operation: inside the PREPARED append or its fsync, after
** it but before the database's commit, or between that commit and the
** apply (bLoseDbCommit plays a database whose last commit a power cut took
** back, as WAL mode with synchronous=NORMAL allows). After the power loss
** the store reopens at the database's durable horizon and must hold
** exactly the transactions whose horizon the database kept.
*/
#define TXN_KEYS 3

static void txnKey(char *z, size_t n, int iTxn, int j){
  snprintf(z, n, "t%05d-%d", iTxn, j);
}

static void crashRounds(int bLoseDbCommit){
  char zDir[256];
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  kv_options *o;
  u64 aSeq[400];                /* first sequence of each transaction the
                                ** database committed durably, else 0 */
  u64 iH = 0;                   /* the database's durable horizon */
  int nTxn = 0;                 /* transactions started */
  int iCrash;
  char zPad[300];               /* values large enough to flush often */

  assert_non_null(pEnv);
  memset(zPad, 'p', sizeof(zPad));
  tuTempDir(zDir, sizeof(zDir), "2pc-crash");
  /* Small memtables flush often: a lost commit may be in an SSTable. */
  o = tuOptions("sync=full", "background=off", "memtable_size=64KB",
                "wal_segment_size=4KB", NULL);
  kvOptionsSetEnv(o, pEnv);
  for(iCrash=1; iCrash<=40 && nTxn<380; iCrash++){
    kv_db *db = openAt(zDir, o, 1, iH);
    u64 iHPrev = iH;
    int iLast = -1;             /* last transaction the database committed */
    int i, j;
    /* Exactly the transactions at or below the horizon are there. */
    for(i=0; i<nTxn; i++){
      for(j=0; j<TXN_KEYS; j++){
        char zKey[32];
        const char *z;
        txnKey(zKey, sizeof(zKey), i, j);
        z = tuGet(db, 0, 0, zKey);
        if( aSeq[i]!=0 ){
          if( z==0 ) fail_msg("crash %d: committed %s lost", iCrash, zKey);
        }else if( z!=0 ){
          fail_msg("crash %d: %s of an uncommitted transaction is there",
                   iCrash, zKey);
        }
      }
    }
    kvTestEnvCrashAfter(pEnv, iCrash);
    for(;;){
      kv_batch *b = kv_batch_new();
      u64 iSeq = 0;
      int rc;
      assert_non_null(b);
      for(j=0; j<TXN_KEYS; j++){
        char zKey[32];
        txnKey(zKey, sizeof(zKey), nTxn, j);
        assert_int_equal(kv_batch_put(b, zKey, strlen(zKey), zPad,
                                      sizeof(zPad)), KV_OK);
      }
      aSeq[nTxn] = 0;
      nTxn++;
      rc = kv_prepare(db, b, &iSeq);
      if( rc==KV_OK && !kvTestEnvIsDead(pEnv) ){
        /* The database commits, with H = iSeq in it. */
        iHPrev = iH;
        iH = iSeq;
        aSeq[nTxn-1] = iSeq;
        iLast = nTxn-1;
        rc = kv_commit_prepared(db, b, iSeq);
        assert_int_equal(rc, KV_OK);
      }
      kv_batch_free(b);
      if( rc!=KV_OK || kvTestEnvIsDead(pEnv) || nTxn>=380 ) break;
    }
    if( bLoseDbCommit && iLast>=0 ){
      /* The power cut takes back the database's last commit. */
      aSeq[iLast] = 0;
      iH = iHPrev;
    }
    kv_close(db);
    assert_int_equal(kvTestEnvPowerLoss(pEnv, KV_PL_TRUNCATE), KV_OK);
  }
  assert_true(nTxn>40);
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
}

/* The "syncs" figure of kv_stats. */
static u64 statSyncs(kv_db *db){
  char *zJson = 0;
  const char *z;
  u64 n;
  assert_int_equal(kv_stats(db, &zJson), KV_OK);
  z = strstr(zJson, "\"syncs\":");
  assert_non_null(z);
  n = strtoull(z+8, 0, 10);
  kv_free(zJson);
  return n;
}

/* Prepare and apply one batch {zKey} with kv_prepare_sync(bSync): its
** first sequence. */
static u64 commitOne(kv_db *db, const char *zKey, int bSync){
  kv_batch *b = tuBatchOf(zKey, NULL);
  u64 iSeq = 0;
  assert_int_equal(kv_prepare_sync(db, b, &iSeq, bSync), KV_OK);
  assert_int_equal(kv_commit_prepared(db, b, iSeq), KV_OK);
  kv_batch_free(b);
  return iSeq;
}

/* kv_prepare_sync fsyncs the record when the caller asks, whatever the
** store's sync option (the SQL layer follows its database's synchronous
** setting): such a record survives a power cut on a sync=off store, and
** without the fsync the same commit is lost (the power-loss model drops
** unsynced data: the first half is not true by accident). kv_prepare
** still follows the store's option. */
static void test_prepare_sync_is_the_callers_choice(void **state){
  char zDir[256];
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  kv_options *o;
  int bSync;
  (void)state;
  assert_non_null(pEnv);
  o = tuOptions("sync=off", "background=off", NULL);
  kvOptionsSetEnv(o, pEnv);
  for(bSync=0; bSync<=1; bSync++){
    kv_db *db;
    u64 n0, iSeq;
    tuTempDir(zDir, sizeof(zDir), "2pc-sync");
    db = openAt(zDir, o, 1, 0);
    n0 = statSyncs(db);
    iSeq = commitOne(db, "a", bSync);
    assert_int_equal(statSyncs(db), n0 + bSync);
    kv_close(db);
    assert_int_equal(kvTestEnvPowerLoss(pEnv, KV_PL_TRUNCATE), KV_OK);
    if( bSync ){
      db = openAt(zDir, o, 1, iSeq);
      assert_string_equal(tuGet(db, 0, 0, "a"), "v");
      kv_close(db);
    }else{
      /* Lost: the store is older than the database that committed it,
      ** and says so (recover.c, olderStoreCheck). */
      openRefused(zDir, o, iSeq, "older than its database");
    }
    tuRemoveDir(zDir);
  }
  kv_options_free(o);
  kvTestEnvFree(pEnv);

  /* A sync=full store: no fsync when the caller says so; kv_prepare
  ** fsyncs. */
  {
    kv_options *oFull = tuOptions("sync=full", "background=off", NULL);
    kv_db *db;
    kv_batch *b = tuBatchOf("c", NULL);
    u64 n0, iSeq = 0;
    tuTempDir(zDir, sizeof(zDir), "2pc-sync");
    db = openAt(zDir, oFull, 1, 0);
    n0 = statSyncs(db);
    commitOne(db, "b", 0);
    assert_int_equal(statSyncs(db), n0);
    assert_int_equal(kv_prepare(db, b, &iSeq), KV_OK);
    assert_int_equal(kv_commit_prepared(db, b, iSeq), KV_OK);
    assert_int_equal(statSyncs(db), n0 + 1);
    kv_batch_free(b);
    kv_close(db);
    kv_options_free(oFull);
    tuRemoveDir(zDir);
  }
}

static void test_crash_points_two_phase(void **state){
  (void)state;
  crashRounds(0);
}

static void test_crash_lost_database_commit_takes_its_rows(void **state){
  (void)state;
  crashRounds(1);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_prepared_invisible_until_applied),
    cmocka_unit_test(test_prepared_blocks_other_writes),
    cmocka_unit_test(test_retried_prepare_replaces_record),
    cmocka_unit_test(test_prepared_above_horizon_discarded),
    cmocka_unit_test(test_abort_then_reuse_survives_recovery),
    cmocka_unit_test(test_flushed_commit_above_horizon_revoked),
    cmocka_unit_test(test_revocation_keeps_range_tombstones),
    cmocka_unit_test(test_compaction_keeps_what_revocable_commits_overwrote),
    cmocka_unit_test(test_durable_point_lets_compaction_drop),
    cmocka_unit_test(test_database_older_than_drop_floor_refused),
    cmocka_unit_test(test_store_older_than_database_refused),
    cmocka_unit_test(test_snapshot_at_sequence),
    cmocka_unit_test(test_snapshot_at_waits_for_apply),
    cmocka_unit_test(test_prepare_sync_is_the_callers_choice),
    cmocka_unit_test(test_crash_points_two_phase),
    cmocka_unit_test(test_crash_lost_database_commit_takes_its_rows),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
