/*
** test_spill.c - transactions of any size (spill.c): a batch past its
** txn_spill limit moves to runs on disk, reads back its own writes (point
** reads, iterators in both directions, seeks), rolls back to savepoints
** inside the spilled part, and commits as one table, atomically with the
** horizon at every crash point of the commit.
**
** A model (one state per key: absent from the batch, put with a value, or
** deleted, plus a stack of copies for savepoints) is checked against the
** batch after every step, with limits small enough that it spills often.
*/
#include "testutil.h"

#include <inttypes.h>

#define NKEY 300                /* key space of the model */
#define VAL_LEN 100

/* ---------------------------------------------------------------------- */
/* The model.                                                              */

typedef struct Model Model;
struct Model {
  signed char aState[NKEY];     /* -1 untouched, 0 deleted, 1 put */
  unsigned aVal[NKEY];          /* the value's tag when put */
};

static void keyOf(char *z, size_t n, int i){ snprintf(z, n, "k%04d", i); }

static void valOf(char *z, unsigned tag){
  int n = snprintf(z, VAL_LEN + 1, "v%u-", tag);
  memset(z + n, 'a' + (int)(tag % 26), (size_t)(VAL_LEN - n));
  z[VAL_LEN] = 0;
}

static u64 rnd(u64 *pState){
  u64 x = *pState;
  x ^= x << 13; x ^= x >> 7; x ^= x << 17;
  return *pState = x;
}

/* The batch answers for key i what the model holds. */
static void checkGet(kv_batch *b, const Model *m, int i){
  char zKey[16], zVal[VAL_LEN + 1];
  const void *p = 0;
  size_t n = 0;
  int r;
  keyOf(zKey, sizeof(zKey), i);
  r = kv_batch_get(b, zKey, strlen(zKey), &p, &n);
  if( m->aState[i]<0 ){
    if( r!=-1 ) fail_msg("%s: batch holds it (%d), model does not", zKey, r);
  }else if( m->aState[i]==0 ){
    if( r!=0 ) fail_msg("%s: not deleted in the batch (%d)", zKey, r);
  }else{
    if( r!=1 ) fail_msg("%s: not a put in the batch (%d)", zKey, r);
    valOf(zVal, m->aVal[i]);
    assert_int_equal(n, VAL_LEN);
    if( memcmp(p, zVal, VAL_LEN)!=0 ) fail_msg("%s: wrong value", zKey);
  }
}

/* The batch's iterator: every touched key in order, forward and back. */
static void checkIter(kv_batch *b, const Model *m, u64 *pRnd){
  KvIter *pIt = 0;
  int i, rc;
  char zKey[16], zVal[VAL_LEN + 1];
  assert_int_equal(kvBatchIterNew(b, &pIt), KV_OK);
  /* forward */
  rc = pIt->pMethods->xFirst(pIt);
  for(i=0; i<NKEY; i++){
    if( m->aState[i]<0 ) continue;
    assert_int_equal(rc, KV_OK);
    keyOf(zKey, sizeof(zKey), i);
    if( !kvIterValid(pIt) ) fail_msg("forward: ended before %s", zKey);
    assert_int_equal(pIt->nKey, strlen(zKey) + KV_TRAILER);
    if( memcmp(pIt->pKey, zKey, strlen(zKey))!=0 ){
      fail_msg("forward: %.*s where %s was expected",
               (int)(pIt->nKey - KV_TRAILER), pIt->pKey, zKey);
    }
    assert_int_equal(kvIKeySeq(pIt->pKey, pIt->nKey), KV_BATCH_SEQ);
    assert_int_equal(kvIKeyType(pIt->pKey, pIt->nKey),
                     m->aState[i] ? KV_TYPE_PUT : KV_TYPE_DEL);
    if( m->aState[i] ){
      valOf(zVal, m->aVal[i]);
      assert_int_equal(pIt->nVal, VAL_LEN);
      assert_memory_equal(pIt->pVal, zVal, VAL_LEN);
    }
    rc = pIt->pMethods->xNext(pIt);
  }
  assert_int_equal(rc, KV_OK);
  assert_false(kvIterValid(pIt));
  /* backward */
  rc = pIt->pMethods->xLast(pIt);
  for(i=NKEY-1; i>=0; i--){
    if( m->aState[i]<0 ) continue;
    assert_int_equal(rc, KV_OK);
    keyOf(zKey, sizeof(zKey), i);
    if( !kvIterValid(pIt) ) fail_msg("backward: ended before %s", zKey);
    if( memcmp(pIt->pKey, zKey, strlen(zKey))!=0 ){
      fail_msg("backward: %.*s where %s was expected",
               (int)(pIt->nKey - KV_TRAILER), pIt->pKey, zKey);
    }
    rc = pIt->pMethods->xPrev(pIt);
  }
  assert_int_equal(rc, KV_OK);
  assert_false(kvIterValid(pIt));
  /* seeks, then a step each way */
  for(i=0; i<20; i++){
    int t = (int)(rnd(pRnd) % NKEY), j;
    KvBuf ik = {0, 0, 0};
    keyOf(zKey, sizeof(zKey), t);
    assert_int_equal(kvIKeyAppend(&ik, (const u8*)zKey, strlen(zKey),
                                  KV_MAX_SEQ, KV_TYPE_PUT), KV_OK);
    assert_int_equal(pIt->pMethods->xSeek(pIt, ik.a, ik.n), KV_OK);
    kvBufFree(&ik);
    for(j=t; j<NKEY && m->aState[j]<0; j++){}
    if( j==NKEY ){
      assert_false(kvIterValid(pIt));
      continue;
    }
    keyOf(zKey, sizeof(zKey), j);
    assert_true(kvIterValid(pIt));
    assert_memory_equal(pIt->pKey, zKey, strlen(zKey));
    assert_int_equal(pIt->pMethods->xPrev(pIt), KV_OK);
    for(j=j-1; j>=0 && m->aState[j]<0; j--){}
    if( j<0 ){
      assert_false(kvIterValid(pIt));
    }else{
      keyOf(zKey, sizeof(zKey), j);
      assert_true(kvIterValid(pIt));
      assert_memory_equal(pIt->pKey, zKey, strlen(zKey));
    }
  }
  pIt->pMethods->xClose(pIt);
}

static void checkAll(kv_batch *b, const Model *m, u64 *pRnd){
  int i;
  for(i=0; i<NKEY; i++) checkGet(b, m, i);
  checkIter(b, m, pRnd);
}

/* ---------------------------------------------------------------------- */

/* Random puts, deletes, savepoints, rollbacks and releases on a spilling
** batch over a store holding older values of half the keys (some in the
** memtable, some in a table); the batch matches the model throughout,
** reads through the store see the batch over it, and the commit leaves
** exactly the model's contents in the store, also after reopening. */
static void test_spill_savepoints_read_your_writes(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "txn_spill=4KB", NULL);
  kv_db *db;
  kv_batch *b;
  Model m;
  Model aSave[16];
  size_t aMark[16];
  int nSave = 0;
  u64 r = 0x9e3779b97f4a7c15ULL;
  unsigned tag = 1;
  int step, i, nRollInSpill = 0;
  u64 iSeq = 0;
  char zKey[16], zVal[VAL_LEN + 1];
  (void)state;

  tuTempDir(zDir, sizeof(zDir), "spill");
  db = tuOpen(zDir, o);
  kvSpillTableEntries = 40;     /* the commit writes several tables */
  /* Older values: even keys, half flushed to a table, half in the
  ** memtable (which the commit must not let shadow the new table). */
  for(i=0; i<NKEY; i+=2){
    keyOf(zKey, sizeof(zKey), i);
    tuPut(db, zKey, "old");
    if( i==NKEY/2 ) assert_int_equal(kv_flush(db), KV_OK);
  }
  b = kv_batch_new();
  assert_non_null(b);
  assert_int_equal(kv_batch_set_spill(b, db), KV_OK);
  memset(m.aState, -1, sizeof(m.aState));
  memset(m.aVal, 0, sizeof(m.aVal));

  for(step=0; step<1500; step++){
    int op = (int)(rnd(&r) % 100);
    int k = (int)(rnd(&r) % NKEY);
    keyOf(zKey, sizeof(zKey), k);
    if( op<60 ){
      valOf(zVal, tag);
      assert_int_equal(kv_batch_put(b, zKey, strlen(zKey), zVal, VAL_LEN),
                       KV_OK);
      m.aState[k] = 1;
      m.aVal[k] = tag++;
    }else if( op<75 ){
      assert_int_equal(kv_batch_delete(b, zKey, strlen(zKey)), KV_OK);
      m.aState[k] = 0;
    }else if( op<83 ){
      if( nSave<16 ){
        aMark[nSave] = kv_batch_count(b);
        aSave[nSave] = m;
        nSave++;
      }
    }else if( op<93 ){
      if( nSave>0 ){
        /* ROLLBACK TO a random open savepoint (it stays open). */
        int s = (int)(rnd(&r) % (u64)nSave);
        if( aMark[s] < kv_batch_count(b) - kvBatchMemCount(b) ) nRollInSpill++;
        kv_batch_truncate(b, aMark[s]);
        assert_int_equal(kv_batch_count(b), aMark[s]);
        m = aSave[s];
        nSave = s + 1;
      }
    }else{
      if( nSave>0 ) nSave--;                    /* RELEASE the newest */
    }
    checkGet(b, &m, k);
    if( step%50==49 ) checkAll(b, &m, &r);
  }
  checkAll(b, &m, &r);
  /* It did spill, and rolled back into spilled parts. */
  assert_true(tuCountFiles(zDir, ".spill")>2);
  assert_true(nRollInSpill>3);

  /* kv_get and kv_iter: the batch over the store. */
  for(i=0; i<NKEY; i++){
    const char *z;
    keyOf(zKey, sizeof(zKey), i);
    z = tuGet(db, 0, b, zKey);
    if( m.aState[i]==1 ){
      valOf(zVal, m.aVal[i]);
      assert_non_null(z);
      assert_string_equal(z, zVal);
    }else if( m.aState[i]==0 || i%2 ){
      assert_null(z);
    }else{
      assert_non_null(z);
      assert_string_equal(z, "old");
    }
  }
  {
    kv_iter *it = 0;
    int nSeen = 0, nWant = 0;
    assert_int_equal(kv_iter_new(db, 0, b, &it), KV_OK);
    for(i=0; i<NKEY; i++){
      nWant += m.aState[i]==1 || (m.aState[i]<0 && i%2==0);
    }
    assert_int_equal(kv_iter_first(it), KV_OK);
    while( kv_iter_valid(it) ){
      nSeen++;
      assert_int_equal(kv_iter_next(it), KV_OK);
    }
    assert_int_equal(nSeen, nWant);
    kv_iter_free(it);
  }

  /* Commit: prepare (the tables written), apply (installed). */
  i = tuCountFiles(zDir, ".sst");
  assert_int_equal(kv_prepare(db, b, &iSeq), KV_OK);
  assert_true(tuCountFiles(zDir, ".sst")>=i+3);
  assert_int_equal(kv_commit_prepared(db, b, iSeq), KV_OK);
  assert_int_equal(kv_last_seq(db), iSeq + kv_batch_count(b) - 1);
  kv_batch_clear(b);
  assert_int_equal(tuCountFiles(zDir, ".spill"), 0);
  for(step=0; step<2; step++){
    for(i=0; i<NKEY; i++){
      const char *z;
      keyOf(zKey, sizeof(zKey), i);
      z = tuGet(db, 0, 0, zKey);
      if( m.aState[i]==1 ){
        valOf(zVal, m.aVal[i]);
        assert_non_null(z);
        assert_string_equal(z, zVal);
      }else if( m.aState[i]==0 || i%2 ){
        if( z ) fail_msg("%s: deleted or never written, reads '%s'", zKey, z);
      }else{
        assert_non_null(z);
        assert_string_equal(z, "old");
      }
    }
    /* A later write is newer than the spilled table. */
    if( step==0 ){
      tuPut(db, "k0000", "after");
      m.aState[0] = 1;
      m.aVal[0] = tag;
      valOf(zVal, tag);
      tuPut(db, "k0000", zVal);
      kv_close(db);
      db = tuOpen(zDir, o);
    }
  }
  kv_close(db);
  kv_batch_free(b);
  kv_options_free(o);
  tuRemoveDir(zDir);
  kvSpillTableEntries = (u64)1<<20;
}

/* A spilled prepare that is abandoned leaves nothing behind; a retried
** prepare replaces the earlier table; ROLLBACK TO the start empties the
** batch; a store without a horizon commits a spilled batch by kv_write. */
static void test_spill_abort_retry_and_kv_write(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "txn_spill=4KB", NULL);
  kv_db *db;
  kv_batch *b;
  char zKey[16], zVal[VAL_LEN + 1];
  u64 iSeq = 0;
  int i, nSst;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "spill");
  db = tuOpen(zDir, o);
  tuPut(db, "k0001", "old");
  assert_int_equal(kv_flush(db), KV_OK);
  nSst = tuCountFiles(zDir, ".sst");
  b = kv_batch_new();
  assert_non_null(b);
  assert_int_equal(kv_batch_set_spill(b, db), KV_OK);
  valOf(zVal, 7);
  for(i=0; i<200; i++){
    keyOf(zKey, sizeof(zKey), i);
    assert_int_equal(kv_batch_put(b, zKey, strlen(zKey), zVal, VAL_LEN), KV_OK);
  }
  assert_true(tuCountFiles(zDir, ".spill")>0);
  assert_int_equal(kv_prepare(db, b, &iSeq), KV_OK);
  assert_int_equal(tuCountFiles(zDir, ".sst"), nSst + 1);
  /* retried: the table is written anew, with more in it */
  assert_int_equal(kv_batch_put(b, "zz", 2, "last", 4), KV_OK);
  assert_int_equal(kv_prepare(db, b, &iSeq), KV_OK);
  assert_int_equal(tuCountFiles(zDir, ".sst"), nSst + 1);
  kv_abort_prepared(db, iSeq);
  assert_int_equal(tuCountFiles(zDir, ".sst"), nSst);
  assert_string_equal(tuGet(db, 0, 0, "k0001"), "old");
  assert_null(tuGet(db, 0, 0, "zz"));
  /* ROLLBACK TO the start: nothing left to commit */
  kv_batch_truncate(b, 0);
  assert_int_equal(kv_batch_count(b), 0);
  assert_int_equal(kv_batch_get(b, "k0001", 5, 0, 0), -1);
  assert_string_equal(tuGet(db, 0, b, "k0001"), "old");
  /* kv_write of a spilled batch (no horizon) */
  for(i=0; i<200; i++){
    keyOf(zKey, sizeof(zKey), i);
    if( i%3==0 ){
      assert_int_equal(kv_batch_delete(b, zKey, strlen(zKey)), KV_OK);
    }else{
      assert_int_equal(kv_batch_put(b, zKey, strlen(zKey), zVal, VAL_LEN),
                       KV_OK);
    }
  }
  assert_int_equal(kv_write(db, b), KV_OK);
  kv_batch_clear(b);
  {
    /* kv_verify reads the WAL record that names the tables */
    char *zReport = 0;
    assert_int_equal(kv_verify(db, &zReport), KV_OK);
    assert_string_equal(zReport, "ok");
    kv_free(zReport);
  }
  kv_close(db);
  db = tuOpen(zDir, o);
  for(i=0; i<200; i++){
    const char *z;
    keyOf(zKey, sizeof(zKey), i);
    z = tuGet(db, 0, 0, zKey);
    if( i%3==0 ){
      assert_null(z);
    }else{
      assert_non_null(z);
      assert_string_equal(z, zVal);
    }
  }
  assert_null(tuGet(db, 0, 0, "zz"));
  assert_int_equal(tuCountFiles(zDir, ".spill"), 0);
  kv_close(db);
  kv_batch_free(b);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* A range deletion in a spilled batch hides what the runs hold. */
static void test_spill_range_delete_over_runs(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "txn_spill=4KB", NULL);
  kv_db *db;
  kv_batch *b;
  char zKey[16], zVal[VAL_LEN + 1];
  int i;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "spill");
  db = tuOpen(zDir, o);
  tuPut(db, "k0013", "stored");  /* older, in the memtable */
  tuPut(db, "k0014", "stored");
  assert_int_equal(kv_flush(db), KV_OK);
  tuPut(db, "k0016", "stored");
  b = kv_batch_new();
  assert_non_null(b);
  assert_int_equal(kv_batch_set_spill(b, db), KV_OK);
  valOf(zVal, 3);
  for(i=0; i<100; i++){
    keyOf(zKey, sizeof(zKey), i);
    assert_int_equal(kv_batch_put(b, zKey, strlen(zKey), zVal, VAL_LEN), KV_OK);
  }
  assert_true(tuCountFiles(zDir, ".spill")>0);
  assert_int_equal(kv_batch_delete_range(b, "k0010", 5, "k0020", 5), KV_OK);
  assert_int_equal(kv_batch_get(b, "k0015", 5, 0, 0), 0);
  /* written after the range deletion: it stays */
  assert_int_equal(kv_batch_put(b, "k0011", 5, "after", 5), KV_OK);
  assert_int_equal(kv_batch_get(b, "k0011", 5, 0, 0), 1);
  /* the same in the first table, whose sequence the deletions share */
  assert_int_equal(kv_batch_delete_range(b, "k0002", 5, "k0005", 5), KV_OK);
  assert_int_equal(kv_batch_put(b, "k0003", 5, "after", 5), KV_OK);
  assert_int_equal(kv_batch_get(b, "k0020", 5, 0, 0), 1);
  assert_null(tuGet(db, 0, b, "k0010"));
  assert_non_null(tuGet(db, 0, b, "k0009"));
  {
    kv_iter *it = 0;
    int n = 0;
    assert_int_equal(kv_iter_new(db, 0, b, &it), KV_OK);
    for(assert_int_equal(kv_iter_first(it), KV_OK); kv_iter_valid(it);
        assert_int_equal(kv_iter_next(it), KV_OK)){
      n++;
    }
    assert_int_equal(n, 89);
    kv_iter_free(it);
  }
  kvSpillTableEntries = 7;      /* the range deletion's table and others */
  tuCommitPrepared(db, b);
  kvSpillTableEntries = (u64)1<<20;
  kv_batch_clear(b);
  for(i=0; i<2; i++){
    assert_null(tuGet(db, 0, 0, "k0012"));
    assert_null(tuGet(db, 0, 0, "k0019"));
    assert_string_equal(tuGet(db, 0, 0, "k0011"), "after");
    assert_string_equal(tuGet(db, 0, 0, "k0003"), "after");
    assert_null(tuGet(db, 0, 0, "k0002"));
    assert_null(tuGet(db, 0, 0, "k0004"));
    assert_null(tuGet(db, 0, 0, "k0013"));
    assert_null(tuGet(db, 0, 0, "k0016"));
    assert_non_null(tuGet(db, 0, 0, "k0020"));
    assert_non_null(tuGet(db, 0, 0, "k0009"));
    assert_non_null(tuGet(db, 0, 0, "k0099"));
    kv_close(db);
    db = tuOpen(zDir, o);
  }
  kv_close(db);
  kv_batch_free(b);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* A statement's point deletes spilled, then cut back to the start of the
** batch and replaced by one range deletion (what kvrange.c does when a
** large range DELETE collapses): the batch is empty again, its runs are
** gone, and the range deletion commits alone (it failed with "a spilled
** transaction wrote 1 tables for 1 sequences", found by make bench-large
** at 10M rows). The same with puts after the cut. */
static void test_spill_truncated_to_start_commits(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "txn_spill=4KB", NULL);
  kv_db *db;
  kv_batch *b;
  char zKey[16];
  int i, iRound;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "spill");
  db = tuOpen(zDir, o);
  for(i=0; i<300; i++){
    keyOf(zKey, sizeof(zKey), i);
    tuPut(db, zKey, "stored");
  }
  b = kv_batch_new();
  assert_non_null(b);
  assert_int_equal(kv_batch_set_spill(b, db), KV_OK);
  for(iRound=0; iRound<2; iRound++){
    for(i=0; i<300; i++){
      keyOf(zKey, sizeof(zKey), i);
      assert_int_equal(kv_batch_delete(b, zKey, strlen(zKey)), KV_OK);
    }
    assert_true(tuCountFiles(zDir, ".spill")>0);
    kv_batch_truncate(b, 0);
    assert_int_equal(kv_batch_count(b), 0);
    assert_int_equal(tuCountFiles(zDir, ".spill"), 0);
    assert_non_null(tuGet(db, 0, b, "k0205"));  /* the deletes are gone */
    if( iRound==0 ){
      assert_int_equal(kv_batch_delete_range(b, "k0000", 5, "k0100", 5),
                       KV_OK);
    }else{
      assert_int_equal(kv_batch_put(b, "k0150", 5, "new", 3), KV_OK);
    }
    assert_int_equal(kv_batch_count(b), 1);
    tuCommitPrepared(db, b);
    kv_batch_clear(b);
    assert_null(tuGet(db, 0, 0, "k0000"));
    assert_null(tuGet(db, 0, 0, "k0099"));
  }
  kv_close(db);
  db = tuOpen(zDir, o);
  assert_null(tuGet(db, 0, 0, "k0000"));
  assert_null(tuGet(db, 0, 0, "k0099"));
  assert_string_equal(tuGet(db, 0, 0, "k0100"), "stored");
  assert_string_equal(tuGet(db, 0, 0, "k0150"), "new");
  assert_string_equal(tuGet(db, 0, 0, "k0299"), "stored");
  kv_close(db);
  kv_batch_free(b);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* ---------------------------------------------------------------------- */
/* Crash points of the commit.                                             */

#define CRASH_KEYS 120

static void crashKey(char *z, size_t n, int iTxn, int j){
  snprintf(z, n, "t%03d-%04d", iTxn, j);
}

/* Every round opens the store at the database's durable horizon, checks
** that exactly the transactions it covers are there (keys, the shared
** key's value, the keys a savepoint rolled back), then runs spilled
** transactions until the test env's crash point kills the process: in
** the spill, the table's write, the WAL record, the apply's manifest
** edit, or between them. */
static void test_spill_crash_points(void **state){
  char zDir[256];
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  kv_options *o;
  int aDone[200];
  u64 iH = 0;
  int nTxn = 0, iCrash, nCommitted = 0;
  int nDiedInApply = 0;          /* after the database's commit */
  int nDiedBefore = 0;           /* in a spill or a prepare */
  char zPad[VAL_LEN + 1];
  (void)state;
  assert_non_null(pEnv);
  valOf(zPad, 5);
  tuTempDir(zDir, sizeof(zDir), "spill-crash");
  o = tuOptions("sync=full", "background=off", "txn_spill=4KB",
                "memtable_size=64KB", NULL);
  kvOptionsSetEnv(o, pEnv);
  kvSpillTableEntries = 25;     /* several tables per commit */
  for(iCrash=1; iCrash<=150 && nTxn<190; iCrash+=3){
    kv_options *p = kv_options_copy(o);
    kv_db *db = 0;
    int i, j, iLast = -1;
    char zKey[32];
    assert_non_null(p);
    kv_options_set_horizon(p, iH);
    assert_int_equal(kv_open(zDir, p, &db), KV_OK);
    kv_options_free(p);
    assert_int_equal(tuCountFiles(zDir, ".spill"), 0);
    for(i=0; i<nTxn; i++){
      for(j=0; j<CRASH_KEYS; j+=7){
        const char *z;
        crashKey(zKey, sizeof(zKey), i, j);
        z = tuGet(db, 0, 0, zKey);
        if( aDone[i] && j<CRASH_KEYS/2 ){
          if( z==0 ) fail_msg("crash %d: committed %s lost", iCrash, zKey);
        }else if( z ){
          fail_msg("crash %d: %s (%s) is there", iCrash, zKey,
                   aDone[i] ? "rolled back" : "not committed");
        }
      }
      if( aDone[i] ) iLast = i;
    }
    {
      const char *z = tuGet(db, 0, 0, "shared");
      if( iLast<0 ){
        assert_null(z);
      }else{
        char zWant[16];
        snprintf(zWant, sizeof(zWant), "%d", iLast);
        assert_non_null(z);
        assert_string_equal(z, zWant);
      }
    }
    kvTestEnvCrashAfter(pEnv, iCrash);
    for(;;){
      kv_batch *b = kv_batch_new();
      u64 iSeq = 0;
      size_t nMark;
      char zNum[16];
      int rc;
      assert_non_null(b);
      rc = kv_batch_set_spill(b, db);
      aDone[nTxn] = 0;
      nTxn++;
      for(j=0; rc==KV_OK && j<CRASH_KEYS/2; j++){
        crashKey(zKey, sizeof(zKey), nTxn-1, j);
        rc = kv_batch_put(b, zKey, strlen(zKey), zPad, VAL_LEN);
      }
      snprintf(zNum, sizeof(zNum), "%d", nTxn-1);
      if( rc==KV_OK ) rc = kv_batch_put(b, "shared", 6, zNum, strlen(zNum));
      nMark = kv_batch_count(b);
      for(j=CRASH_KEYS/2; rc==KV_OK && j<CRASH_KEYS; j++){
        crashKey(zKey, sizeof(zKey), nTxn-1, j);
        rc = kv_batch_put(b, zKey, strlen(zKey), zPad, VAL_LEN);
      }
      if( rc==KV_OK ) rc = kv_batch_put(b, "shared", 6, "rolled back", 11);
      kv_batch_truncate(b, nMark);      /* ROLLBACK TO, into spilled runs */
      if( rc==KV_OK ) rc = kv_prepare(db, b, &iSeq);
      if( rc==KV_OK && !kvTestEnvIsDead(pEnv) ){
        /* The database commits its horizon. */
        iH = iSeq + kv_batch_count(b) - 1;
        aDone[nTxn-1] = 1;
        nCommitted++;
        rc = kv_commit_prepared(db, b, iSeq);
        if( !kvTestEnvIsDead(pEnv) ) assert_int_equal(rc, KV_OK);
        else nDiedInApply++;
      }else if( kvTestEnvIsDead(pEnv) ){
        nDiedBefore++;
      }
      kv_batch_free(b);
      if( rc!=KV_OK || kvTestEnvIsDead(pEnv) || nTxn>=190 ) break;
    }
    kv_close(db);
    assert_int_equal(kvTestEnvPowerLoss(pEnv, KV_PL_TRUNCATE), KV_OK);
  }
  if( getenv("KV_SPILL_VERBOSE") ){
    printf("committed %d, died in apply %d, before %d, rounds %d\n",
           nCommitted, nDiedInApply, nDiedBefore, iCrash);
  }
  assert_true(nCommitted>10);
  /* Both sides of the database's commit were crash points. */
  assert_true(nDiedInApply>0);
  assert_true(nDiedBefore>5);
  kvSpillTableEntries = (u64)1<<20;
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
}

/* Allocations of 1 MiB or more (the hooks of the next test). */
static int nBigAlloc = 0;
static void *bigMalloc(size_t n){
  if( n>=(1<<20) ) nBigAlloc++;
  return malloc(n);
}
static void *bigRealloc(void *p, size_t n){
  if( n>=(1<<20) ) nBigAlloc++;
  return realloc(p, n);
}

/* A spill empties the batch's memory, which the transaction then fills
** again to the limit: it keeps its buffers rather than growing them anew
** each time (a realloc doubling from nothing, and fresh pages to fault
** in: a third of a 1M-row transaction's time once). */
static void test_spill_keeps_buffers_between_spills(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "txn_spill=2MB", NULL);
  KvAllocHooks hooks = {bigMalloc, bigRealloc, free};
  kv_db *db;
  kv_batch *b;
  char zKey[32], zVal[1000];
  size_t nBase = 0;
  int i, nSpill = 0, nBigAtFirst = -1;
  (void)state;

  tuTempDir(zDir, sizeof(zDir), "spillbuf");
  db = tuOpen(zDir, o);
  b = kv_batch_new();
  assert_non_null(b);
  assert_int_equal(kv_batch_set_spill(b, db), KV_OK);
  memset(zVal, 'v', sizeof(zVal));
  nBigAlloc = 0;
  kvSetAllocHooks(&hooks);
  for(i=0; i<12000; i++){
    snprintf(zKey, sizeof(zKey), "key%08d", (i*7919)%12000);
    assert_int_equal(kv_batch_put(b, zKey, strlen(zKey), zVal, sizeof(zVal)),
                     KV_OK);
    if( kvSpillBase(kvBatchSpill(b))!=nBase ){
      nBase = kvSpillBase(kvBatchSpill(b));
      if( nSpill++==0 ) nBigAtFirst = nBigAlloc;
    }
  }
  kvSetAllocHooks(NULL);
  assert_true(nSpill>=4);
  assert_true(nBigAtFirst>0);             /* the buffers grew past 1 MiB */
  if( nBigAlloc!=nBigAtFirst ){
    fail_msg("%d allocations of 1 MiB or more after the first of %d spills",
             nBigAlloc - nBigAtFirst, nSpill);
  }
  assert_int_equal(kv_write(db, b), KV_OK);
  kv_batch_free(b);
  {
    const char *z = tuGet(db, 0, 0, "key00000000");
    assert_non_null(z);
    assert_int_equal(strlen(z), sizeof(zVal));
    assert_memory_equal(z, zVal, sizeof(zVal));
  }
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_spill_savepoints_read_your_writes),
    cmocka_unit_test(test_spill_abort_retry_and_kv_write),
    cmocka_unit_test(test_spill_range_delete_over_runs),
    cmocka_unit_test(test_spill_truncated_to_start_commits),
    cmocka_unit_test(test_spill_crash_points),
    cmocka_unit_test(test_spill_keeps_buffers_between_spills),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
