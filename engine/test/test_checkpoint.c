/*
** test_checkpoint.c - kv_checkpoint: the copy opens with the same data,
** SSTables are hard links, the source keeps working (also while another
** thread writes), a non-empty destination is refused, and a failure at
** any file operation leaves neither the destination nor the temporary
** directory; kv_checkpoint_progress reports growing progress up to what
** it planned, and a cancel at any of its reports leaves nothing either.
*/
#include <pthread.h>
#include <sys/stat.h>

#include "testutil.h"

/* Every key of db in order as "k=v;" text (malloc). */
static char *dumpStore(kv_db *db){
  kv_iter *it = 0;
  KvBuf b = {0, 0, 0};
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  assert_int_equal(kv_iter_first(it), KV_OK);
  while( kv_iter_valid(it) ){
    size_t nK, nV;
    const void *k = kv_iter_key(it, &nK);
    const void *v = kv_iter_value(it, &nV);
    assert_int_equal(kvBufAppend(&b, k, nK), KV_OK);
    assert_int_equal(kvBufAppend(&b, "=", 1), KV_OK);
    assert_int_equal(kvBufAppend(&b, v, nV), KV_OK);
    assert_int_equal(kvBufAppend(&b, ";", 1), KV_OK);
    assert_int_equal(kv_iter_next(it), KV_OK);
  }
  kv_iter_free(it);
  assert_int_equal(kvBufAppend(&b, "", 1), KV_OK);
  return (char*)b.a;
}

static void fill(kv_db *db, int iFirst, int n, const char *zTag){
  int i;
  for(i=iFirst; i<iFirst+n; i++){
    char k[32], v[64];
    snprintf(k, sizeof(k), "key%06d", i);
    snprintf(v, sizeof(v), "%s-%d", zTag, i);
    tuPut(db, k, v);
  }
}

static void test_checkpoint_copy_opens(void **state){
  char zDir[256], zDest[300];
  kv_options *o;
  kv_db *db, *db2;
  char *zJson = 0, *zReport = 0, *zA, *zB;
  unsigned char aRoot1[32], aRoot2[32];
  struct stat st1, st2;
  kv_sstable_info *aInfo = 0;
  int nInfo = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "ckpt");
  snprintf(zDest, sizeof(zDest), "%s-copy", zDir);
  o = tuOptions("background=off", "memtable_size=64KB", NULL);
  db = tuOpen(zDir, o);
  fill(db, 0, 3000, "a");                 /* several tables */
  fill(db, 100, 50, "b");                 /* overwrites, in the memtable */
  assert_int_equal(kv_delete(db, "key000007", 9), KV_OK);
  assert_int_equal(kv_checkpoint(db, zDest, 0, 0, &zJson), KV_OK);
  assert_non_null(zJson);
  assert_non_null(strstr(zJson, "\"files\":"));
  assert_non_null(strstr(zJson, "\"bytes\":"));
  assert_non_null(strstr(zJson, "\"ms\":"));
  assert_null(strstr(zJson, "\"linked\":0,"));   /* same file system */
  kv_free(zJson);

  /* The SSTables are links to the source's. */
  assert_int_equal(kv_sstables(db, &aInfo, &nInfo), KV_OK);
  assert_true(nInfo>0);
  {
    char zP1[512], zP2[512];
    snprintf(zP1, sizeof(zP1), "%s/%s", zDir, aInfo[0].zFile);
    snprintf(zP2, sizeof(zP2), "%s/%s", zDest, aInfo[0].zFile);
    assert_int_equal(stat(zP1, &st1), 0);
    assert_int_equal(stat(zP2, &st2), 0);
    assert_true(st1.st_ino==st2.st_ino);
  }
  kv_free(aInfo);
  assert_int_equal(kv_merkle(db, aRoot1), KV_OK);

  /* The source keeps working; the copy does not see later writes. */
  zA = dumpStore(db);
  tuPut(db, "late", "x");
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  assert_string_equal(tuGet(db, 0, 0, "late"), "x");

  db2 = tuOpen(zDest, o);
  zB = dumpStore(db2);
  assert_string_equal(zA, zB);
  assert_null(tuGet(db2, 0, 0, "late"));
  assert_null(tuGet(db2, 0, 0, "key000007"));
  assert_string_equal(tuGet(db2, 0, 0, "key000120"), "b-120");
  assert_int_equal(kv_merkle(db2, aRoot2), KV_OK);
  assert_memory_equal(aRoot1, aRoot2, 32);
  assert_int_equal(kv_verify(db2, &zReport), KV_OK);
  assert_string_equal(zReport, "ok");
  kv_free(zReport);
  /* The copy is writable and independent. */
  tuPut(db2, "only-copy", "1");
  assert_null(tuGet(db, 0, 0, "only-copy"));
  free(zA);
  free(zB);
  kv_close(db2);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
  tuRemoveDir(zDest);
}

static void test_checkpoint_refuses_nonempty(void **state){
  char zDir[256], zDest[300], zFile[400], zTmp[320];
  kv_options *o;
  kv_db *db;
  FILE *f;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "ckptne");
  snprintf(zDest, sizeof(zDest), "%s-copy", zDir);
  o = tuOptions("background=off", NULL);
  db = tuOpen(zDir, o);
  tuPut(db, "a", "1");
  assert_int_equal(mkdir(zDest, 0755), 0);
  snprintf(zFile, sizeof(zFile), "%s/mine.txt", zDest);
  f = fopen(zFile, "w");
  assert_non_null(f);
  fputs("keep me", f);
  fclose(f);
  assert_int_equal(kv_checkpoint(db, zDest, 0, 0, 0), KV_ERROR);
  assert_non_null(strstr(kv_errmsg(db), "is not empty"));
  assert_int_equal(access(zFile, F_OK), 0);
  snprintf(zTmp, sizeof(zTmp), "%s.ckpt-tmp", zDest);
  assert_int_equal(access(zTmp, F_OK), -1);
  /* An empty directory is accepted. */
  assert_int_equal(unlink(zFile), 0);
  assert_int_equal(kv_checkpoint(db, zDest, 0, 0, 0), KV_OK);
  kv_close(db);
  db = tuOpen(zDest, o);
  assert_string_equal(tuGet(db, 0, 0, "a"), "1");
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
  tuRemoveDir(zDest);
}

/* xExtra adds a file that appears with the copy; when it fails, nothing
** is left. */
static int extraWrite(void *pCtx, const char *zTmpDir){
  char zPath[400];
  FILE *f;
  int *pnCall = (int*)pCtx;
  (*pnCall)++;
  snprintf(zPath, sizeof(zPath), "%s/EXTRA", zTmpDir);
  f = fopen(zPath, "w");
  if( f==0 ) return KV_IOERR;
  fputs("extra", f);
  fclose(f);
  return KV_OK;
}
static int extraFail(void *pCtx, const char *zTmpDir){
  (void)zTmpDir;
  (*(int*)pCtx)++;
  return KV_IOERR;
}
static void test_checkpoint_extra_files(void **state){
  char zDir[256], zDest[300], zPath[400];
  kv_options *o;
  kv_db *db;
  int nCall = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "ckptx");
  snprintf(zDest, sizeof(zDest), "%s-copy", zDir);
  o = tuOptions("background=off", NULL);
  db = tuOpen(zDir, o);
  tuPut(db, "a", "1");
  assert_int_equal(kv_checkpoint(db, zDest, extraFail, &nCall, 0), KV_IOERR);
  assert_int_equal(nCall, 1);
  assert_int_equal(access(zDest, F_OK), -1);
  snprintf(zPath, sizeof(zPath), "%s.ckpt-tmp", zDest);
  assert_int_equal(access(zPath, F_OK), -1);
  assert_int_equal(kv_checkpoint(db, zDest, extraWrite, &nCall, 0), KV_OK);
  assert_int_equal(nCall, 2);
  snprintf(zPath, sizeof(zPath), "%s/EXTRA", zDest);
  assert_int_equal(access(zPath, F_OK), 0);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
  tuRemoveDir(zDest);
}

/* Fail the n-th mutating file operation, for every n until the checkpoint
** succeeds: each failure leaves neither the destination nor the temporary
** directory, and the source still works. */
static void test_checkpoint_failure_leaves_nothing(void **state){
  char zDir[256], zDest[300], zTmp[320];
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  kv_options *o;
  kv_db *db;
  int n, nFail = 0;
  (void)state;
  assert_non_null(pEnv);
  tuTempDir(zDir, sizeof(zDir), "ckptf");
  snprintf(zDest, sizeof(zDest), "%s-copy", zDir);
  snprintf(zTmp, sizeof(zTmp), "%s.ckpt-tmp", zDest);
  o = tuOptions("background=off", "memtable_size=64KB", NULL);
  kvOptionsSetEnv(o, pEnv);
  db = tuOpen(zDir, o);
  fill(db, 0, 2000, "a");
  for(n=1; n<200; n++){
    int rc;
    fill(db, n*10, 3, "n");
    kvTestEnvFail(pEnv, KV_TOP_ANY, n, EIO, 0);
    rc = kv_checkpoint(db, zDest, 0, 0, 0);
    kvTestEnvHeal(pEnv);
    if( rc==KV_OK ) break;
    nFail++;
    assert_int_equal(access(zDest, F_OK), -1);
    assert_int_equal(access(zTmp, F_OK), -1);
    /* A failed flush is sticky (writes fail until reopen): reopen. */
    kv_close(db);
    db = tuOpen(zDir, o);
  }
  assert_true(nFail>=5);
  assert_true(n<200);
  kv_close(db);
  /* The copy made after the failures opens with the data. */
  kv_options_free(o);
  o = tuOptions("background=off", NULL);
  db = tuOpen(zDest, o);
  assert_string_equal(tuGet(db, 0, 0, "key001999"), "a-1999");
  kv_close(db);
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
  tuRemoveDir(zDest);
}

/* The last operation, the fsync of the destination's parent after the
** rename, fails: the rename is taken back and nothing is left. */
static void test_checkpoint_parent_fsync_fails(void **state){
  char zDir[256], zDest[300], zDest2[300], zTmp[320];
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  kv_options *o;
  kv_db *db;
  u64 n0, nSyncDir;
  (void)state;
  assert_non_null(pEnv);
  tuTempDir(zDir, sizeof(zDir), "ckpts");
  snprintf(zDest, sizeof(zDest), "%s-copy", zDir);
  snprintf(zDest2, sizeof(zDest2), "%s-copy2", zDir);
  snprintf(zTmp, sizeof(zTmp), "%s.ckpt-tmp", zDest2);
  o = tuOptions("background=off", NULL);
  kvOptionsSetEnv(o, pEnv);
  db = tuOpen(zDir, o);
  fill(db, 0, 100, "a");
  assert_int_equal(kv_flush(db), KV_OK);
  /* A checkpoint with nothing to flush: count its directory fsyncs. */
  n0 = kvTestEnvCount(pEnv, KV_TOP_SYNCDIR);
  assert_int_equal(kv_checkpoint(db, zDest, 0, 0, 0), KV_OK);
  nSyncDir = kvTestEnvCount(pEnv, KV_TOP_SYNCDIR) - n0;
  assert_true(nSyncDir>=2);
  kvTestEnvFail(pEnv, KV_TOP_SYNCDIR, (int)nSyncDir, EIO, 0);
  assert_int_equal(kv_checkpoint(db, zDest2, 0, 0, 0), KV_IOERR);
  kvTestEnvHeal(pEnv);
  assert_int_equal(access(zDest2, F_OK), -1);
  assert_int_equal(access(zTmp, F_OK), -1);
  kv_close(db);
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
  tuRemoveDir(zDest);
}

/* A writer thread runs during the checkpoint: the copy is a prefix. */
typedef struct Writer { kv_db *db; int nDone; volatile int bStop; } Writer;
static void *writerMain(void *p){
  Writer *w = (Writer*)p;
  while( !w->bStop && w->nDone<20000 ){
    char k[32];
    snprintf(k, sizeof(k), "w%08d", w->nDone);
    if( kv_put(w->db, k, strlen(k), "v", 1)!=KV_OK ) break;
    w->nDone++;
  }
  return 0;
}

static void test_checkpoint_while_writing(void **state){
  char zDir[256], zDest[300];
  kv_options *o;
  kv_db *db, *db2;
  pthread_t t;
  Writer w;
  int nBefore, i, nCopy = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "ckptw");
  snprintf(zDest, sizeof(zDest), "%s-copy", zDir);
  o = tuOptions("memtable_size=64KB", NULL);
  db = tuOpen(zDir, o);
  memset(&w, 0, sizeof(w));
  w.db = db;
  assert_int_equal(pthread_create(&t, 0, writerMain, &w), 0);
  while( w.nDone<2000 ) usleep(1000);
  nBefore = w.nDone;
  assert_int_equal(kv_checkpoint(db, zDest, 0, 0, 0), KV_OK);
  w.bStop = 1;
  pthread_join(t, 0);
  db2 = tuOpen(zDest, o);
  /* Every write acknowledged before the call, and a prefix after. */
  for(i=0; i<w.nDone; i++){
    char k[32];
    int rc;
    snprintf(k, sizeof(k), "w%08d", i);
    rc = kv_get(db2, 0, 0, k, strlen(k), 0, 0);
    if( rc==KV_NOTFOUND ) break;
    assert_int_equal(rc, KV_OK);
    nCopy++;
  }
  assert_true(nCopy>=nBefore);
  for(; i<w.nDone; i++){
    char k[32];
    snprintf(k, sizeof(k), "w%08d", i);
    assert_int_equal(kv_get(db2, 0, 0, k, strlen(k), 0, 0), KV_NOTFOUND);
  }
  kv_close(db2);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
  tuRemoveDir(zDest);
}

/* Progress of kv_checkpoint_progress: every call, and cancelling at the
** n-th one (nStop, 0: never). */
typedef struct CkptWatch CkptWatch;
struct CkptWatch {
  int nCall, nStop;
  uint64_t nLastDone, nLastPlanned;
  int bBackwards;               /* done went down, or above planned */
};
static int ckptWatch(void *pArg, uint64_t nDone, uint64_t nPlanned){
  CkptWatch *w = (CkptWatch*)pArg;
  w->nCall++;
  if( nDone<w->nLastDone || nDone>nPlanned ) w->bBackwards = 1;
  w->nLastDone = nDone;
  w->nLastPlanned = nPlanned;
  return w->nStop && w->nCall>=w->nStop;
}

static void test_checkpoint_progress_and_cancel(void **state){
  char zDir[256], zDest[300], zTmp[320];
  kv_options *o;
  kv_db *db, *db2;
  kv_sstable_info *aInfo = 0;
  int nInfo = 0, i, nCalls;
  uint64_t nSst = 0;
  unsigned char aRoot1[32], aRoot2[32];
  char *zJson = 0;
  CkptWatch w;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "ckptp");
  snprintf(zDest, sizeof(zDest), "%s-copy", zDir);
  snprintf(zTmp, sizeof(zTmp), "%s.ckpt-tmp", zDest);
  o = tuOptions("background=off", "memtable_size=64KB", NULL);
  db = tuOpen(zDir, o);
  fill(db, 0, 4000, "a");
  assert_int_equal(kv_flush(db), KV_OK);
  assert_int_equal(kv_sstables(db, &aInfo, &nInfo), KV_OK);
  for(i=0; i<nInfo; i++) nSst += aInfo[i].nByte;
  kv_free(aInfo);
  assert_true(nInfo>=3);
  assert_int_equal(kv_merkle(db, aRoot1), KV_OK);

  /* The whole run: done grows to planned, twice the tables' bytes. */
  memset(&w, 0, sizeof(w));
  assert_int_equal(kv_checkpoint_progress(db, zDest, 0, 0, ckptWatch, &w,
                                          &zJson), KV_OK);
  kv_free(zJson);
  nCalls = w.nCall;
  assert_true(nCalls>=2 + 2*nInfo);
  assert_false(w.bBackwards);
  assert_true(w.nLastPlanned==2*nSst);
  assert_true(w.nLastDone==w.nLastPlanned);
  tuRemoveDir(zDest);

  /* Cancelled at each report in turn: KV_INTERRUPT, nothing made, the
  ** store unchanged and still writable (nothing sticky). */
  for(i=1; i<=nCalls; i++){
    memset(&w, 0, sizeof(w));
    w.nStop = i;
    assert_int_equal(kv_checkpoint_progress(db, zDest, 0, 0, ckptWatch, &w,
                                            &zJson), KV_INTERRUPT);
    assert_null(zJson);
    assert_non_null(strstr(kv_errmsg(db), "interrupted; nothing was "
                                          "written"));
    assert_int_equal(access(zDest, F_OK), -1);
    assert_int_equal(access(zTmp, F_OK), -1);
    assert_int_equal(kv_merkle(db, aRoot2), KV_OK);
    assert_memory_equal(aRoot1, aRoot2, 32);
  }
  tuPut(db, "after", "1");
  assert_string_equal(tuGet(db, 0, 0, "after"), "1");
  /* Uncancelled again: the copy is whole. */
  assert_int_equal(kv_checkpoint_progress(db, zDest, 0, 0, 0, 0, 0), KV_OK);
  db2 = tuOpen(zDest, o);
  assert_string_equal(tuGet(db2, 0, 0, "after"), "1");
  assert_string_equal(tuGet(db2, 0, 0, "key003999"), "a-3999");
  kv_close(db2);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
  tuRemoveDir(zDest);
}

/* The same through the test env, which copies tables instead of linking
** them: progress comes in 64 KiB chunks, and a stop in the middle of a
** copy leaves nothing either. */
static void test_checkpoint_progress_while_copying(void **state){
  char zDir[256], zDest[300], zTmp[320];
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  kv_options *o;
  kv_db *db;
  kv_sstable_info *aInfo = 0;
  int nInfo = 0, i, nCalls;
  uint64_t nSst = 0, nChunk = 0;
  CkptWatch w;
  (void)state;
  assert_non_null(pEnv);
  tuTempDir(zDir, sizeof(zDir), "ckptc");
  snprintf(zDest, sizeof(zDest), "%s-copy", zDir);
  snprintf(zTmp, sizeof(zTmp), "%s.ckpt-tmp", zDest);
  /* Tables larger than one 64 KiB chunk. */
  o = tuOptions("background=off", "memtable_size=512KB", NULL);
  kvOptionsSetEnv(o, pEnv);
  db = tuOpen(zDir, o);
  fill(db, 0, 12000, "a-long-value-to-make-the-tables-larger");
  assert_int_equal(kv_flush(db), KV_OK);
  assert_int_equal(kv_sstables(db, &aInfo, &nInfo), KV_OK);
  for(i=0; i<nInfo; i++){
    nSst += aInfo[i].nByte;
    nChunk += (aInfo[i].nByte + 65535)/65536;
  }
  kv_free(aInfo);
  assert_true(nChunk>(uint64_t)nInfo);

  memset(&w, 0, sizeof(w));
  assert_int_equal(kv_checkpoint_progress(db, zDest, 0, 0, ckptWatch, &w, 0),
                   KV_OK);
  nCalls = w.nCall;
  /* One report per 64 KiB copied, one per table read back, two before
  ** the copy and three between the fsyncs. */
  assert_true((uint64_t)nCalls==5 + nChunk + (uint64_t)nInfo);
  assert_false(w.bBackwards);
  assert_true(w.nLastDone==2*nSst && w.nLastPlanned==2*nSst);
  /* (The test env's model of the files does not see a removal made
  ** behind its back: the stopped copies go to another name.) */
  snprintf(zDest, sizeof(zDest), "%s-stopped", zDir);
  snprintf(zTmp, sizeof(zTmp), "%s.ckpt-tmp", zDest);
  for(i=2; i<nCalls; i+=3){
    memset(&w, 0, sizeof(w));
    w.nStop = i;
    assert_int_equal(kv_checkpoint_progress(db, zDest, 0, 0, ckptWatch, &w,
                                            0), KV_INTERRUPT);
    assert_int_equal(access(zDest, F_OK), -1);
    assert_int_equal(access(zTmp, F_OK), -1);
  }
  kv_close(db);
  kv_options_free(o);
  kvTestEnvFree(pEnv);
  tuRemoveDir(zDir);
  snprintf(zDest, sizeof(zDest), "%s-copy", zDir);
  tuRemoveDir(zDest);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_checkpoint_copy_opens),
    cmocka_unit_test(test_checkpoint_refuses_nonempty),
    cmocka_unit_test(test_checkpoint_extra_files),
    cmocka_unit_test(test_checkpoint_failure_leaves_nothing),
    cmocka_unit_test(test_checkpoint_parent_fsync_fails),
    cmocka_unit_test(test_checkpoint_while_writing),
    cmocka_unit_test(test_checkpoint_progress_and_cancel),
    cmocka_unit_test(test_checkpoint_progress_while_copying),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
