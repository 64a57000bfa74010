/*
** test_ioerr.c - an I/O error at every call site of a workload in turn.
**
** A deterministic workload (create the store, multi-key batches, point
** reads and iterations, kv_flush every few batches, WAL segments rotated
** every few records, a close and reopen half way) is first run on a healthy
** test env to count its operations of each kind: open for write, read,
** append, fsync, directory fsync, rename, unlink, truncate. Then for each
** kind, each n in 1..count(kind)+1, each errno (EIO, ENOSPC) and both
** "once" and "persistent" faults, a fresh store runs the workload with the
** n-th operation of that kind failing. The workload goes on after
** failures. It must hold that:
**   - every failing call returns KV_IOERR (EIO) or KV_FULL (ENOSPC), or
**     KV_READONLY once a failed commit turned the handle read-only, with a
**     message that starts "kvstore: ", names a file of the store and the
**     operation that failed;
**   - after a failed fsync, no later kv_write on that handle returns KV_OK;
**   - on the same handle, an acknowledged batch is visible and a failed one
**     is not;
**   - after kvTestEnvHeal() the store reopens with every acknowledged
**     batch, each batch all there or not at all (a failed commit may or may
**     not have reached the disk), nothing that was never written, and
**     kv_verify says "ok".
**
** Batch i writes "b<i>.x" and "b<i>.y" (both new), deletes "b<i-1>.z"
** and writes "b<i>.z" and "last"; from which batches are present the
** whole expected state follows, so each check is exact.
**
** make test samples about 20 values of n per kind, errno and persistence;
** STRESS=1 runs every n. KEEPGOING=1 reports every failure instead of
** stopping at the first. A failing truncate is reached by failing an
** append first (truncation only cuts failed appends out of a log).
*/
#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include <time.h>

#include "testutil.h"

#define NBATCH  40
#define FLUSH_EVERY 7


static const char *kindName(int eKind){
  static const char *az[] = { "any", "open", "read", "append", "sync",
    "syncdir", "rename", "unlink", "truncate", "close" };
  return az[eKind];
}

/* Runs that met the known manifest bug (see checkRecovered). */

/* State of one run. */
typedef struct Run Run;
struct Run {
  const char *zDir;
  int eKind, nAt, err, bPersist;
  int aState[NBATCH+2];         /* 0 untried, 1 acknowledged, 2 failed */
  int nFault;                   /* failing calls seen */
  int bSyncFailed;              /* a write failed after the fsync fault */
};
#define ST_UNTRIED 0
#define ST_ACKED   1
#define ST_FAILED  2
#define ST_UNKNOWN 3            /* failed on an earlier handle: a failed
                                ** commit may have reached the disk */

static void runFail(Run *p, const char *zCall, const char *zFmt, ...){
  char zMsg[1200];
  va_list ap;
  va_start(ap, zFmt);
  vsnprintf(zMsg, sizeof(zMsg), zFmt, ap);
  va_end(ap);
  if( getenv("KEEPGOING") ){
    print_message("FAIL %s fault #%d (%s, %s): %s: %s\n", kindName(p->eKind),
           p->nAt, p->err==ENOSPC ? "ENOSPC" : "EIO", p->bPersist ?
           "persistent" : "once", zCall, zMsg);
    return;
  }
  fail_msg("%s fault #%d (%s, %s): %s: %s", kindName(p->eKind), p->nAt,
           p->err==ENOSPC ? "ENOSPC" : "EIO", p->bPersist ? "persistent"
           : "once", zCall, zMsg);
}

/* A call of the workload failed with rc: check the code and message. */
static void checkError(Run *p, const char *zCall, int rc, kv_db *db){
  const char *zMsg = kv_errmsg(db);
  static const char *azOp[] = { "open", "read", "write", "fsync", "sync",
    "rename", "unlink", "truncate", "close", "stat", "list", 0 };
  int i, bOp = 0;
  p->nFault++;
  if( rc!=KV_IOERR && rc!=KV_FULL && rc!=KV_READONLY ){
    runFail(p, zCall, "unexpected rc %d: %s", rc, zMsg);
  }
  if( rc==KV_FULL && p->err!=ENOSPC ){
    runFail(p, zCall, "KV_FULL for EIO: %s", zMsg);
  }
  if( rc==KV_IOERR && p->err==ENOSPC && p->nFault==1 ){
    /* Later calls may meet a log that refuses appends since a failed
    ** write could not be cut away (KV_IOERR); the first must say FULL. */
    runFail(p, zCall, "KV_IOERR for ENOSPC: %s", zMsg);
  }
  if( strncmp(zMsg, "kvstore: ", 9)!=0 ){
    runFail(p, zCall, "message without prefix: '%s'", zMsg);
  }
  if( strstr(zMsg, p->zDir)==0 ){
    runFail(p, zCall, "message does not name the file: '%s'", zMsg);
  }
  for(i=0; azOp[i]; i++) if( strstr(zMsg, azOp[i]) ) bOp = 1;
  if( rc!=KV_READONLY && !bOp ){
    runFail(p, zCall, "message does not name the operation: '%s'", zMsg);
  }
}

static int writeBatch(kv_db *db, int i){
  kv_batch *b = kv_batch_new();
  char zKey[32], zVal[700];
  size_t nVal;
  int rc;
  assert_non_null(b);
  nVal = (size_t)snprintf(zVal, sizeof(zVal), "%d", i);
  snprintf(zKey, sizeof(zKey), "b%d.x", i);
  kv_batch_put(b, zKey, strlen(zKey), zVal, nVal);
  kv_batch_put(b, "last", 4, zVal, nVal);
  snprintf(zKey, sizeof(zKey), "b%d.z", i-1);
  kv_batch_delete(b, zKey, strlen(zKey));
  snprintf(zKey, sizeof(zKey), "b%d.z", i);
  kv_batch_put(b, zKey, strlen(zKey), zVal, nVal);
  if( i%3==0 ){
    memset(zVal+nVal, 'a' + i%26, 600);
    nVal += 600;
  }
  snprintf(zKey, sizeof(zKey), "b%d.y", i);
  kv_batch_put(b, zKey, strlen(zKey), zVal, nVal);
  rc = kv_write(db, b);
  kv_batch_free(b);
  return rc;
}

/* Read "b<i>.x": 1 present (with value i), 0 absent, -1 read error. */
static int batchPresent(Run *p, kv_db *db, int i, const char *zCall){
  char zKey[32];
  void *pVal = 0;
  size_t nVal = 0;
  int rc;
  snprintf(zKey, sizeof(zKey), "b%d.x", i);
  rc = kv_get(db, 0, 0, zKey, strlen(zKey), &pVal, &nVal);
  if( rc==KV_NOTFOUND ) return 0;
  if( rc!=KV_OK ){
    checkError(p, zCall, rc, db);
    return -1;
  }
  if( (size_t)snprintf(zKey, sizeof(zKey), "%d", i)!=nVal
   || memcmp(zKey, pVal, nVal)!=0 ){
    runFail(p, zCall, "b%d.x holds a wrong value", i);
  }
  kv_free(pVal);
  return 1;
}

/* Iterate the store and check keys are ascending and every value is the
** number of its batch. Errors are checked, not fatal. */
static void scanStore(Run *p, kv_db *db, const char *zCall){
  kv_iter *it = 0;
  int rc = kv_iter_new(db, 0, 0, &it);
  char zPrev[64] = "";
  if( rc!=KV_OK ){
    checkError(p, zCall, rc, db);
    return;
  }
  for(rc=kv_iter_first(it); rc==KV_OK && kv_iter_valid(it);
      rc=kv_iter_next(it)){
    size_t nKey, nVal;
    const char *zKey = kv_iter_key(it, &nKey);
    kv_iter_value(it, &nVal);
    if( nKey>=sizeof(zPrev) ) runFail(p, zCall, "phantom long key");
    if( zPrev[0] && kvUKeyCmp((const u8*)zPrev, strlen(zPrev),
                              (const u8*)zKey, nKey)>=0 ){
      runFail(p, zCall, "iteration out of order at %.*s", (int)nKey, zKey);
    }
    memcpy(zPrev, zKey, nKey);
    zPrev[nKey] = 0;
  }
  if( rc!=KV_OK ) checkError(p, zCall, rc, db);
  kv_iter_free(it);
}

static void workload(Run *p, const kv_options *o){
  kv_db *db = 0;
  int i, k, rc;
  rc = kv_open(p->zDir, o, &db);
  if( rc!=KV_OK ){ checkError(p, "kv_open", rc, 0); return; }
  for(i=1; i<=NBATCH; i++){
    if( i==NBATCH/2 ){
      rc = kv_close(db);
      if( rc!=KV_OK ) checkError(p, "kv_close", rc, 0);
      db = 0;
      rc = kv_open(p->zDir, o, &db);
      if( rc!=KV_OK ){ checkError(p, "kv_open (middle)", rc, 0); return; }
      p->bSyncFailed = 0;         /* a new handle trusts the files again */
      for(k=1; k<i; k++) if( p->aState[k]==ST_FAILED ) p->aState[k] = ST_UNKNOWN;
    }
    rc = writeBatch(db, i);
    if( rc==KV_OK ){
      if( p->bSyncFailed ){
        runFail(p, "kv_write", "batch %d acknowledged after a failed fsync",
                i);
      }
      p->aState[i] = ST_ACKED;
    }else{
      p->aState[i] = ST_FAILED;
      checkError(p, "kv_write", rc, db);
      if( p->eKind==KV_TOP_SYNC ) p->bSyncFailed = 1;
    }
    if( i%FLUSH_EVERY==0 ){
      rc = kv_flush(db);
      if( rc!=KV_OK ){
        checkError(p, "kv_flush", rc, db);
        if( p->eKind==KV_TOP_SYNC ) p->bSyncFailed = 1;
      }
    }
    if( i%5==0 ){
      /* Reads on the same handle: acknowledged batches are visible, failed
      ** ones are not. */
      for(k=1; k<=i; k++){
        int bHere = batchPresent(p, db, k, "kv_get");
        if( bHere==1 && p->aState[k]==ST_FAILED ){
          runFail(p, "kv_get", "failed batch %d is visible", k);
        }
        if( bHere==0 && p->aState[k]==ST_ACKED ){
          runFail(p, "kv_get", "acknowledged batch %d is missing", k);
        }
      }
      scanStore(p, db, "kv_iter");
    }
  }
  rc = kv_close(db);
  if( rc!=KV_OK ) checkError(p, "kv_close", rc, 0);
}

/* After healing: reopen and check the whole state exactly. */
static void checkRecovered(Run *p, const kv_options *o){
  kv_db *db = 0;
  int aHere[NBATCH+2];
  int i, nExpect = 0, nSeen = 0, iLast = 0, rc;
  char *zReport = 0;
  kv_iter *it = 0;
  const char *z;

  rc = kv_open(p->zDir, o, &db);
  if( rc!=KV_OK ) runFail(p, "reopen", "%d %s", rc, kv_errmsg(0));
  memset(aHere, 0, sizeof(aHere));
  for(i=1; i<=NBATCH; i++){
    aHere[i] = batchPresent(p, db, i, "reopen: kv_get");
    if( aHere[i]<0 ) runFail(p, "reopen", "read failed on a healed env");
    if( p->aState[i]==ST_ACKED && !aHere[i] ){
      runFail(p, "reopen", "acknowledged batch %d lost", i);
    }
    if( p->aState[i]==ST_UNTRIED && aHere[i] ){
      runFail(p, "reopen", "batch %d was never written", i);
    }
    if( aHere[i] ) iLast = i;
  }
  for(i=1; i<=NBATCH; i++){
    char zKey[32];
    if( !aHere[i] ) continue;
    snprintf(zKey, sizeof(zKey), "b%d.y", i);
    if( tuGet(db, 0, 0, zKey)==0 ) runFail(p, "reopen", "partial batch %d", i);
    snprintf(zKey, sizeof(zKey), "b%d.z", i);
    z = tuGet(db, 0, 0, zKey);
    if( (z!=0)!=(aHere[i+1]==0) ){
      runFail(p, "reopen", "b%d.z wrong (batch %d %s)", i, i+1,
              aHere[i+1] ? "present" : "absent");
    }
    nExpect += 2 + (aHere[i+1]==0);
  }
  z = tuGet(db, 0, 0, "last");
  if( iLast ? (z==0 || atoi(z)!=iLast) : z!=0 ){
    runFail(p, "reopen", "last is %s, want %d", z ? z : "absent", iLast);
  }
  if( iLast ) nExpect++;
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  for(rc=kv_iter_first(it); rc==KV_OK && kv_iter_valid(it);
      rc=kv_iter_next(it)){
    nSeen++;
  }
  assert_int_equal(rc, KV_OK);
  kv_iter_free(it);
  if( nSeen!=nExpect ){
    runFail(p, "reopen", "iteration saw %d keys, want %d", nSeen, nExpect);
  }
  assert_int_equal(kv_verify(db, &zReport), KV_OK);
  if( strcmp(zReport, "ok")!=0 ) runFail(p, "reopen", "verify: %s", zReport);
  kv_free(zReport);
  assert_int_equal(kv_close(db), KV_OK);
}

static kv_options *runOptions(KvEnv *pEnv){
  kv_options *o = tuOptions("sync=full", "background=off",
                            "wal_segment_records=5", "level0_trigger=2",
                            "block_size=1KB", "cache_size=0", NULL);
  kvOptionsSetEnv(o, pEnv);
  return o;
}

/* One workload with one fault armed. Returns failing calls seen. */
static int runOne(int eKind, int nAt, int err, int bPersist){
  char zDir[256];
  KvEnv *pEnv = kvTestEnvNew(fastPosix());
  kv_options *o;
  Run r;
  assert_non_null(pEnv);
  tuTempDir(zDir, sizeof(zDir), "ioerr");
  o = runOptions(pEnv);
  memset(&r, 0, sizeof(r));
  r.zDir = zDir;
  r.eKind = eKind;
  r.nAt = nAt;
  r.err = err;
  r.bPersist = bPersist;
  if( eKind==KV_TOP_TRUNCATE ){
    /* Truncation only runs to cut a failed append back out of a log. */
    kvTestEnvFail(pEnv, KV_TOP_APPEND, nAt, err, 0);
    kvTestEnvFail(pEnv, KV_TOP_TRUNCATE, 1, err, bPersist);
  }else if( nAt>0 ){
    kvTestEnvFail(pEnv, eKind, nAt, err, bPersist);
  }
  workload(&r, o);
  kvTestEnvHeal(pEnv);
  checkRecovered(&r, o);
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
  return r.nFault;
}

/* Operations of each kind in a healthy run. */
static void countOps(u64 *aCount){
  char zDir[256];
  KvEnv *pEnv = kvTestEnvNew(fastPosix());
  kv_options *o;
  Run r;
  int i;
  assert_non_null(pEnv);
  tuTempDir(zDir, sizeof(zDir), "ioerr");
  o = runOptions(pEnv);
  memset(&r, 0, sizeof(r));
  r.zDir = zDir;
  workload(&r, o);
  assert_int_equal(r.nFault, 0);
  for(i=0; i<KV_TOP_NKIND; i++) aCount[i] = kvTestEnvCount(pEnv, i);
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
}

static void runKind(int eKind){
  u64 aCount[KV_TOP_NKIND];
  int nOp, nStride, n, nRun = 0, nFault = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  countOps(aCount);
  nOp = (int)aCount[eKind==KV_TOP_TRUNCATE ? KV_TOP_APPEND : eKind];
  nStride = stressLevel()>0 ? 1 : (nOp+19)/20;
  if( nStride<1 ) nStride = 1;
  for(n=1; n<=nOp+1; n+=nStride){
    int bPersist;
    for(bPersist=0; bPersist<2; bPersist++){
      nFault += runOne(eKind, n, EIO, bPersist);
      nFault += runOne(eKind, n, ENOSPC, bPersist);
      nRun += 2;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  print_message("%-8s: %d call sites, %d faulty runs, %d failing calls "
                "checked, %.1fs\n", kindName(eKind), nOp, nRun, nFault,
                (double)(t1.tv_sec - t0.tv_sec)
                + (double)(t1.tv_nsec - t0.tv_nsec)/1e9);
}

static void test_open(void **s){ (void)s; runKind(KV_TOP_OPEN); }
static void test_read(void **s){ (void)s; runKind(KV_TOP_READ); }
static void test_append(void **s){ (void)s; runKind(KV_TOP_APPEND); }
static void test_sync(void **s){ (void)s; runKind(KV_TOP_SYNC); }
static void test_syncdir(void **s){ (void)s; runKind(KV_TOP_SYNCDIR); }
static void test_rename(void **s){ (void)s; runKind(KV_TOP_RENAME); }
static void test_unlink(void **s){ (void)s; runKind(KV_TOP_UNLINK); }
static void test_truncate(void **s){ (void)s; runKind(KV_TOP_TRUNCATE); }

/* The fsync rule on its own: a failed WAL fsync turns the handle
** read-only with a message saying so, and reopening recovers. */
static void test_failed_fsync_readonly(void **s){
  char zDir[256];
  KvEnv *pEnv = kvTestEnvNew(fastPosix());
  kv_options *o;
  kv_db *db;
  int rc;
  (void)s;
  assert_non_null(pEnv);
  tuTempDir(zDir, sizeof(zDir), "ioerr");
  o = runOptions(pEnv);
  db = tuOpen(zDir, o);
  tuPut(db, "a", "1");
  kvTestEnvFail(pEnv, KV_TOP_SYNC, 1, EIO, 0);
  rc = kv_put(db, "b", 1, "2", 1);
  assert_int_equal(rc, KV_IOERR);
  assert_non_null(strstr(kv_errmsg(db), "fsync"));
  assert_non_null(strstr(kv_errmsg(db), "wal-"));
  /* The fault is gone, but the handle must not trust the file again. */
  rc = kv_put(db, "c", 1, "3", 1);
  assert_int_equal(rc, KV_READONLY);
  assert_non_null(strstr(kv_errmsg(db), "read-only"));
  assert_int_equal(kv_flush(db), KV_READONLY);
  assert_string_equal(tuGet(db, 0, 0, "a"), "1");
  assert_null(tuGet(db, 0, 0, "c"));
  kv_close(db);
  db = tuOpen(zDir, o);
  assert_string_equal(tuGet(db, 0, 0, "a"), "1");
  assert_null(tuGet(db, 0, 0, "c"));
  tuPut(db, "c", "3");
  kv_close(db);
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_failed_fsync_readonly),
    cmocka_unit_test(test_open),
    cmocka_unit_test(test_read),
    cmocka_unit_test(test_append),
    cmocka_unit_test(test_sync),
    cmocka_unit_test(test_syncdir),
    cmocka_unit_test(test_rename),
    cmocka_unit_test(test_unlink),
    cmocka_unit_test(test_truncate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
