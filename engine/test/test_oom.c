/*
** test_oom.c - the N-th allocation fails, for every N over a workload.
**
** The workload creates a store and runs batches (through the batch API),
** point reads, snapshots, iterators forward and backward, kv_flush (level-0
** tables, WAL rotation, manifest edits), kv_stats, kv_verify, a close and
** reopen (recovery: manifest and WAL replay), and a final close. With
** failalloc.h installed, allocation N fails (once, or every allocation from
** N on), for N = 1, 2, ... until a run completes without reaching N. For
** every run:
**   - every call that fails returns KV_NOMEM with a "kvstore: " message
**     (nothing crashes; no other code leaks out of an allocation failure);
**   - after the last kv_close every block allocated during the run has
**     been freed (failallocOutstanding() is 0): no leak on any error path;
**   - reopened with the real allocator, the store holds every
**     acknowledged batch, no partial batch and nothing never written, and
**     passes kv_verify.
**
** make test runs a sample of N (a stride) for "once" and "persistent";
** STRESS=1 runs every N. Run it under ASan too (make asan): LeakSanitizer
** then also covers memory outside the engine's allocator.
*/
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>
#include <time.h>

#include "testutil.h"
#include "failalloc.h"

#define NBATCH 16


typedef struct Run Run;
struct Run {
  int nAt, bPersist;
  int nFail;                    /* calls that failed */
  int aAcked[NBATCH+2];         /* 1 if kv_write of batch i returned OK */
  int aTried[NBATCH+2];
};

static void checkNomem(Run *p, const char *zCall, int rc){
  const char *zMsg = kv_errmsg(0);
  p->nFail++;
  if( rc!=KV_NOMEM ){
    fail_msg("allocation %d (%s): %s returned %d, not KV_NOMEM: %s", p->nAt,
             p->bPersist ? "persistent" : "once", zCall, rc, zMsg);
  }
  if( strncmp(zMsg, "kvstore: ", 9)!=0 ){
    fail_msg("allocation %d: %s: message '%s'", p->nAt, zCall, zMsg);
  }
}

static int writeBatch(int i, kv_db *db){
  kv_batch *b = kv_batch_new();
  char zKey[32], zVal[700];
  size_t nVal;
  int rc = KV_OK;
  if( b==0 ) return KV_NOMEM;
  nVal = (size_t)snprintf(zVal, sizeof(zVal), "%d", i);
  snprintf(zKey, sizeof(zKey), "b%d.x", i);
  if( rc==KV_OK ) rc = kv_batch_put(b, zKey, strlen(zKey), zVal, nVal);
  snprintf(zKey, sizeof(zKey), "b%d.y", i);
  if( i%3==0 ){
    memset(zVal+nVal, 'a' + i%26, 600);
    nVal += 600;
  }
  if( rc==KV_OK ) rc = kv_batch_put(b, zKey, strlen(zKey), zVal, nVal);
  snprintf(zKey, sizeof(zKey), "b%d.x", i-2);
  if( rc==KV_OK && i>2 ) rc = kv_batch_delete(b, zKey, strlen(zKey));
  if( rc==KV_OK ) rc = kv_write(db, b);
  kv_batch_free(b);
  return rc;
}

/* Reads of every kind; failures must be KV_NOMEM. */
static void readAll(Run *p, kv_db *db, int iLast){
  kv_snapshot *pSnap = kv_snapshot_new(db);
  kv_iter *it = 0;
  char zKey[32];
  void *pVal = 0;
  size_t nVal = 0;
  char *z = 0;
  int rc, k;
  if( pSnap==0 ) p->nFail++;
  for(k=1; k<=iLast; k++){
    snprintf(zKey, sizeof(zKey), "b%d.y", k);
    rc = kv_get(db, pSnap, 0, zKey, strlen(zKey), &pVal, &nVal);
    if( rc==KV_OK ){
      if( !p->aAcked[k] ) fail_msg("allocation %d: failed batch %d visible",
                                   p->nAt, k);
      kv_free(pVal);
    }else if( rc==KV_NOTFOUND ){
      if( p->aAcked[k] ) fail_msg("allocation %d: acknowledged batch %d "
                                  "missing", p->nAt, k);
    }else{
      checkNomem(p, "kv_get", rc);
    }
  }
  rc = kv_iter_new(db, pSnap, 0, &it);
  if( rc==KV_OK ){
    for(rc=kv_iter_first(it); rc==KV_OK && kv_iter_valid(it);
        rc=kv_iter_next(it)){}
    if( rc==KV_OK ) rc = kv_iter_last(it);
    while( rc==KV_OK && kv_iter_valid(it) ) rc = kv_iter_prev(it);
    if( rc==KV_OK ) rc = kv_iter_seek(it, "b1", 2);
    if( rc==KV_OK ) rc = kv_iter_seek_for_prev(it, "b5", 2);
  }
  if( rc!=KV_OK ) checkNomem(p, "kv_iter", rc);
  kv_iter_free(it);
  kv_snapshot_free(db, pSnap);
  rc = kv_stats(db, &z);
  if( rc!=KV_OK ) checkNomem(p, "kv_stats", rc);
  kv_free(z);
  z = 0;
  rc = kv_verify(db, &z);
  if( rc!=KV_OK ) checkNomem(p, "kv_verify", rc);
  else if( strcmp(z, "ok")!=0 ){
    /* A report of damage must not come out of an allocation failure. */
    if( strstr(z, "memory")==0 ){
      fail_msg("allocation %d: verify: %s", p->nAt, z);
    }
  }
  kv_free(z);
}

static void workload(Run *p, const char *zDir, const kv_options *o){
  kv_db *db = 0;
  int i, rc;
  rc = kv_open(zDir, o, &db);
  if( rc!=KV_OK ){ checkNomem(p, "kv_open", rc); return; }
  for(i=1; i<=NBATCH; i++){
    if( i==NBATCH/2 ){
      rc = kv_close(db);
      if( rc!=KV_OK ) checkNomem(p, "kv_close", rc);
      db = 0;
      rc = kv_open(zDir, o, &db);
      if( rc!=KV_OK ){ checkNomem(p, "kv_open (middle)", rc); return; }
    }
    p->aTried[i] = 1;
    rc = writeBatch(i, db);
    if( rc==KV_OK ) p->aAcked[i] = 1;
    else checkNomem(p, "kv_write", rc);
    if( i%5==0 ){
      rc = kv_flush(db);
      if( rc!=KV_OK ) checkNomem(p, "kv_flush", rc);
      readAll(p, db, i);
    }
  }
  readAll(p, db, NBATCH);
  rc = kv_close(db);
  if( rc!=KV_OK ) checkNomem(p, "kv_close", rc);
}

/* With the real allocator: the store holds exactly the batches that
** reached it, every acknowledged one among them. */
static void checkRecovered(Run *p, const char *zDir, const kv_options *o){
  kv_db *db = 0;
  int aHere[NBATCH+3];
  int i, nExpect = 0, nSeen = 0, rc;
  kv_iter *it = 0;
  char *zReport = 0;
  rc = kv_open(zDir, o, &db);
  if( rc!=KV_OK ){
    fail_msg("allocation %d (%s): reopen: %d %s", p->nAt,
             p->bPersist ? "persistent" : "once", rc, kv_errmsg(0));
  }
  memset(aHere, 0, sizeof(aHere));
  for(i=1; i<=NBATCH; i++){
    char zKey[32];
    snprintf(zKey, sizeof(zKey), "b%d.y", i);
    aHere[i] = tuGet(db, 0, 0, zKey)!=0;
    if( p->aAcked[i] && !aHere[i] ){
      fail_msg("allocation %d: acknowledged batch %d lost", p->nAt, i);
    }
    if( !p->aTried[i] && aHere[i] ){
      fail_msg("allocation %d: batch %d never written", p->nAt, i);
    }
  }
  for(i=1; i<=NBATCH; i++){
    char zKey[32];
    int bX;
    snprintf(zKey, sizeof(zKey), "b%d.x", i);
    bX = tuGet(db, 0, 0, zKey)!=0;
    /* b<i>.x is put by batch i and deleted by batch i+2. */
    if( bX!=(aHere[i] && !aHere[i+2]) ){
      fail_msg("allocation %d: b%d.x is %s (batches %d/%d: %d/%d)", p->nAt,
               i, bX ? "present" : "absent", i, i+2, aHere[i], aHere[i+2]);
    }
    nExpect += aHere[i] + bX;
  }
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  for(rc=kv_iter_first(it); rc==KV_OK && kv_iter_valid(it);
      rc=kv_iter_next(it)){
    nSeen++;
  }
  assert_int_equal(rc, KV_OK);
  kv_iter_free(it);
  if( nSeen!=nExpect ){
    fail_msg("allocation %d: %d keys, want %d", p->nAt, nSeen, nExpect);
  }
  assert_int_equal(kv_verify(db, &zReport), KV_OK);
  if( strcmp(zReport, "ok")!=0 ){
    fail_msg("allocation %d: verify: %s", p->nAt, zReport);
  }
  kv_free(zReport);
  assert_int_equal(kv_close(db), KV_OK);
}

static kv_options *runOptions(void){
  kv_options *o = tuOptions("sync=full", "background=off",
                            "wal_segment_records=4", "level0_trigger=2",
                            "block_size=512", "compression=zlib",
                            "cache_size=64KB", NULL);
  kvOptionsSetEnv(o, fastPosix());
  return o;
}

/* One run with allocation nAt failing; returns 1 if it was reached. */
static int runOne(int nAt, int bPersist, int *pnAlloc){
  char zDir[256];
  kv_options *o = runOptions();
  Run r;
  int bReached, nLeak;
  memset(&r, 0, sizeof(r));
  r.nAt = nAt;
  r.bPersist = bPersist;
  tuTempDir(zDir, sizeof(zDir), "oom");
  failallocInstall(nAt, bPersist);
  workload(&r, zDir, o);
  nLeak = failallocOutstanding();
  bReached = failallocFailed()>0;
  *pnAlloc = failallocCount();
  failallocRemove();
  if( nLeak ){
    fail_msg("allocation %d (%s): %d blocks leaked", nAt,
             bPersist ? "persistent" : "once", nLeak);
  }
  if( bReached && r.nFail==0 ){
    /* An allocation failure nobody reported must not have lost anything:
    ** checkRecovered decides. */
  }
  checkRecovered(&r, zDir, o);
  kv_options_free(o);
  tuRemoveDir(zDir);
  return bReached;
}

static void runAll(int bPersist){
  int nAlloc = 0, n, nRun = 0, nStride;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  runOne(0, 0, &nAlloc);                  /* learn the total */
  nStride = stressLevel()>0 ? 1 : (nAlloc+299)/300;
  for(n=1; ; n+=nStride){
    int nThis = 0;
    nRun++;
    if( !runOne(n, bPersist, &nThis) ) break;
    if( n>4*nAlloc + 1000 ) fail_msg("allocation count does not settle");
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  print_message("%s: %d allocations in the workload, %d failure points run "
                "in %.1fs\n", bPersist ? "persistent" : "once", nAlloc, nRun,
                (double)(t1.tv_sec - t0.tv_sec)
                + (double)(t1.tv_nsec - t0.tv_nsec)/1e9);
}

/*
** kv_verify on a store with a damaged data block, allocation N failing for
** every N it reaches: it reports the damage or fails with KV_NOMEM, and
** never says "ok" (it once did when copying its report ran out of memory).
*/
static void test_verify_damaged(void **s){
  char zDir[256], zSst[600] = "";
  kv_options *o = tuOptions("background=off", "compression=none", NULL);
  kv_db *db;
  DIR *pDir;
  struct dirent *pEnt;
  u8 *a;
  size_t n;
  int i, nAt;
  (void)s;
  tuTempDir(zDir, sizeof(zDir), "oomverify");
  db = tuOpen(zDir, o);
  for(i=1; i<=40; i++) assert_int_equal(writeBatch(i, db), KV_OK);
  assert_int_equal(kv_flush(db), KV_OK);
  assert_int_equal(kv_close(db), KV_OK);
  pDir = opendir(zDir);
  assert_non_null(pDir);
  while( (pEnt = readdir(pDir))!=0 ){
    size_t nName = strlen(pEnt->d_name);
    if( nName>4 && strcmp(pEnt->d_name + nName - 4, ".sst")==0 ){
      snprintf(zSst, sizeof(zSst), "%s/%s", zDir, pEnt->d_name);
    }
  }
  closedir(pDir);
  assert_true(zSst[0]!=0);
  a = tuReadFile(zSst, &n);
  assert_true(n>100);
  a[20] ^= 0x40;                        /* inside the first data block */
  tuWriteFile(zSst, a, n);
  free(a);
  db = tuOpen(zDir, o);
  for(nAt=1; ; nAt++){
    char *z = 0;
    int rc, bReached;
    failallocInstall(nAt, 0);
    rc = kv_verify(db, &z);
    bReached = failallocFailed()>0;
    failallocRemove();
    if( rc==KV_OK ){
      assert_non_null(z);
      if( strstr(z, "corrupt")==0 ){
        fail_msg("allocation %d: kv_verify says '%s'", nAt, z);
      }
    }else if( rc!=KV_NOMEM ){
      fail_msg("allocation %d: kv_verify returned %d", nAt, rc);
    }
    kv_free(z);
    if( !bReached ) break;
  }
  assert_true(nAt>1);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

static void test_oom_once(void **s){ (void)s; runAll(0); }
static void test_oom_persistent(void **s){ (void)s; runAll(1); }

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_verify_damaged),
    cmocka_unit_test(test_oom_once),
    cmocka_unit_test(test_oom_persistent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
