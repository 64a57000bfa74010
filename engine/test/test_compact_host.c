/*
** test_compact_host.c - compact.c driven through a KvCompactHost with no
** store around it: a version set in a temporary directory, tables built
** by hand, and callbacks that record what compaction asked of its host.
** Shows that running a compaction needs nothing of kv_db beyond the host,
** and checks what it asks: the oldest read point and the live ones, one
** error report per failure, the closing check, flushes on the background
** thread, and one xDone per installed compaction.
*/
#include <pthread.h>

#include "testutil.h"

typedef struct Host Host;
struct Host {
  char zDir[256];
  KvEnv *pEnv;
  kv_options *pOpts;
  KvVersionSet vset;
  pthread_mutex_t mutex, vsetMutex;
  pthread_cond_t cv;
  KvCompactor *pC;
  u64 iLastSeq;                 /* sequence of the last entry added */
  /* What the callbacks answer */
  u64 oldest;
  u64 aSnap[4];
  int nSnap;
  int bClosing;
  /* What they were asked */
  int nOldest, nReadPoints, nError, nClosing, nFlush, nDone;
  u64 readOldest;
  int rcError;
  char zWhat[32];
  KvCompactStats done;
};

static u64 hOldest(void *p){
  Host *h = (Host*)p;
  h->nOldest++;
  return h->oldest;
}

static int hReadPoints(void *p, u64 *pOldest, u64 **paSnap, int *pnSnap,
                       int *pbKeepAbove){
  Host *h = (Host*)p;
  h->nReadPoints++;
  h->readOldest = *pOldest;
  *pbKeepAbove = 0;
  *paSnap = 0;
  *pnSnap = 0;
  if( h->nSnap>0 ){
    *paSnap = kvMalloc(sizeof(u64)*(size_t)h->nSnap);
    if( *paSnap==0 ) return kvErrNoMem();
    memcpy(*paSnap, h->aSnap, sizeof(u64)*(size_t)h->nSnap);
    *pnSnap = h->nSnap;
  }
  return KV_OK;
}

/* One process: the maintenance turn is always ours. */
static int hMaintBegin(void *p, int bWait){
  (void)p; (void)bWait;
  return KV_OK;
}

static void hMaintEnd(void *p, int bEdited){
  (void)p; (void)bEdited;
}

static void hError(void *p, int rc, const char *zWhat){
  Host *h = (Host*)p;
  h->nError++;
  h->rcError = rc;
  snprintf(h->zWhat, sizeof(h->zWhat), "%s", zWhat ? zWhat : "");
}

static int hClosing(void *p){
  Host *h = (Host*)p;
  h->nClosing++;
  return h->bClosing;
}

static void hFlush(void *p){
  ((Host*)p)->nFlush++;
}

static void hDone(void *p, const KvCompactStats *pSt){
  Host *h = (Host*)p;
  h->nDone++;
  h->done = *pSt;
}

/* A version set in a new directory and a compactor over it. bTestEnv:
** files go through a fault-injecting env. */
static void hostOpen(Host *h, int bTestEnv, const char *zTrigger){
  KvCompactHost ch;
  char *zErr = 0;
  memset(h, 0, sizeof(*h));
  tuTempDir(h->zDir, sizeof(h->zDir), "chost");
  h->pEnv = bTestEnv ? kvTestEnvNew(kvEnvPosix()) : kvEnvPosix();
  assert_non_null(h->pEnv);
  h->pOpts = kv_options_new();
  assert_non_null(h->pOpts);
  assert_int_equal(kv_options_set(h->pOpts, "level0_trigger", zTrigger,
                                  &zErr), KV_OK);
  pthread_mutex_init(&h->mutex, 0);
  pthread_mutex_init(&h->vsetMutex, 0);
  pthread_cond_init(&h->cv, 0);
  h->vset.pEnv = h->pEnv;
  h->vset.zDir = h->zDir;
  h->vset.nLevel = h->pOpts->nLevel;
  h->vset.pMutex = &h->vsetMutex;
  assert_int_equal(kvVsetCreate(&h->vset), KV_OK);
  memset(&ch, 0, sizeof(ch));
  ch.pEnv = h->pEnv;
  ch.zDir = h->zDir;
  ch.pOpts = h->pOpts;
  ch.pVset = &h->vset;
  ch.pMutex = &h->mutex;
  ch.pCvWork = &h->cv;
  ch.pCtx = h;
  ch.xOldestSnapshot = hOldest;
  ch.xReadPoints = hReadPoints;
  ch.xMaintBegin = hMaintBegin;
  ch.xMaintEnd = hMaintEnd;
  ch.xError = hError;
  ch.xClosing = hClosing;
  ch.xFlushPending = hFlush;
  ch.xDone = hDone;
  assert_int_equal(kvCompactorOpen(&ch, &h->pC), KV_OK);
}

static void hostClose(Host *h){
  kvCompactorFree(h->pC);
  kvVsetClose(&h->vset);
  kv_options_free(h->pOpts);
  if( h->pEnv!=kvEnvPosix() ) kvTestEnvFree(h->pEnv);
  pthread_mutex_destroy(&h->mutex);
  pthread_mutex_destroy(&h->vsetMutex);
  pthread_cond_destroy(&h->cv);
  tuRemoveDir(h->zDir);
}

/* Add a level-0 table holding keys k00000..k<nKey-1>, each a put of zVal
** at the next sequences. */
static void addTable(Host *h, int nKey, const char *zVal){
  KvSstConfig cfg;
  KvSstBuilder *pB = 0;
  KvSstMeta meta;
  KvVersionEdit e;
  KvBuf k = {0, 0, 0};
  u64 iFile = kvVsetNewFileNumber(&h->vset);
  char *zPath = kvSstPath(h->zDir, iFile);
  int i;
  assert_non_null(zPath);
  memset(&meta, 0, sizeof(meta));
  memset(&e, 0, sizeof(e));
  kvSstConfigFromOptions(h->pOpts, &cfg);
  assert_int_equal(kvSstBuilderNew(h->pEnv, zPath, &cfg, 0, &pB), KV_OK);
  for(i=0; i<nKey; i++){
    char zKey[16];
    snprintf(zKey, sizeof(zKey), "k%05d", i);
    k.n = 0;
    assert_int_equal(kvIKeyAppend(&k, (const u8*)zKey, strlen(zKey),
                                  ++h->iLastSeq, KV_TYPE_PUT), KV_OK);
    assert_int_equal(kvSstBuilderAdd(pB, k.a, k.n, (const u8*)zVal,
                                     strlen(zVal)), KV_OK);
  }
  assert_int_equal(kvSstBuilderFinish(pB, &meta), KV_OK);
  assert_int_equal(kvEditAddFile(&e, 0, &meta, iFile), KV_OK);
  e.bLastSeq = 1;
  e.iLastSeq = h->iLastSeq;
  assert_int_equal(kvVsetApply(&h->vset, &e), KV_OK);
  kvEditClear(&e);
  kvSstMetaFree(&meta);
  kvBufFree(&k);
  kvFree(zPath);
}

static int filesAt(Host *h, int iLevel){
  KvVersion *v = kvVersionCurrent(&h->vset);
  int n = v->anFile[iLevel];
  kvVersionUnref(v);
  return n;
}

/* Tables in the directory (finished or temporary). */
static int sstInDir(const char *zDir){
  return tuCountFiles(zDir, ".sst") + tuCountFiles(zDir, ".sst.tmp");
}

/* Entries of the bottom level, and how many of them hold zVal. */
static void scanBottom(Host *h, int *pnEntry, int *pnVal, const char *zVal){
  KvVersion *v = kvVersionCurrent(&h->vset);
  int iBottom = h->pOpts->nLevel - 1;
  KvIter *it = 0;
  *pnEntry = 0;
  *pnVal = 0;
  assert_int_equal(kvLevelIterNew(v->aaFile[iBottom], v->anFile[iBottom], 0,
                                  &it), KV_OK);
  assert_int_equal(it->pMethods->xFirst(it), KV_OK);
  while( kvIterValid(it) ){
    (*pnEntry)++;
    if( it->nVal==strlen(zVal) && memcmp(it->pVal, zVal, it->nVal)==0 ){
      (*pnVal)++;
    }
    assert_int_equal(it->pMethods->xNext(it), KV_OK);
  }
  it->pMethods->xClose(it);
  kvVersionUnref(v);
}

static int runFull(Host *h){
  int rc;
  pthread_mutex_lock(&h->mutex);
  rc = kvCompactRunFull(h->pC, 0, 0, 0);
  assert_int_equal(kvCompactRunning(h->pC), 0);
  pthread_mutex_unlock(&h->mutex);
  return rc;
}

/* With no read point between the two versions of each key, the older
** goes; the host is asked for the oldest read point, lists the live ones
** with that floor, and hears of the result once. */
static void test_host_full_merge_drops_shadowed(void **state){
  Host h;
  int nEntry, nNew;
  (void)state;
  hostOpen(&h, 0, "8");
  addTable(&h, 100, "old");
  addTable(&h, 100, "new");
  h.oldest = h.iLastSeq;
  assert_int_equal(runFull(&h), KV_OK);
  assert_true(h.nOldest>=1);
  assert_int_equal(h.nReadPoints, 1);
  assert_true(h.readOldest==h.iLastSeq);
  assert_int_equal(h.nError, 0);
  assert_int_equal(h.nDone, 1);
  assert_true(h.done.nFileIn==2);
  assert_true(h.done.nEntryDrop==100);
  assert_int_equal(h.nFlush, 0);          /* not the background thread */
  assert_int_equal(filesAt(&h, 0), 0);
  scanBottom(&h, &nEntry, &nNew, "new");
  assert_int_equal(nEntry, 100);
  assert_int_equal(nNew, 100);
  /* the inputs went with the last version naming them */
  assert_int_equal(sstInDir(h.zDir), filesAt(&h, h.pOpts->nLevel-1));
  hostClose(&h);
}

/* A read point between the versions keeps both. */
static void test_host_read_point_keeps_versions(void **state){
  Host h;
  int nEntry, nOld;
  (void)state;
  hostOpen(&h, 0, "8");
  addTable(&h, 100, "old");
  addTable(&h, 100, "new");
  h.oldest = 100;
  h.aSnap[0] = 100;
  h.nSnap = 1;
  assert_int_equal(runFull(&h), KV_OK);
  assert_true(h.readOldest==100);
  assert_int_equal(h.nDone, 1);
  assert_true(h.done.nEntryDrop==0);
  scanBottom(&h, &nEntry, &nOld, "old");
  assert_int_equal(nEntry, 200);
  assert_int_equal(nOld, 100);
  hostClose(&h);
}

/* A failure is reported once through xError, with its code and "what";
** nothing is installed and no output is left behind. */
static void test_host_error_reported_once(void **state){
  Host h;
  int rc;
  (void)state;
  hostOpen(&h, 1, "8");
  addTable(&h, 100, "old");
  addTable(&h, 100, "new");
  h.oldest = h.iLastSeq;
  kvTestEnvFail(h.pEnv, KV_TOP_OPEN, 1, EIO, 0);
  rc = runFull(&h);
  assert_int_equal(rc, KV_IOERR);
  assert_int_equal(h.nError, 1);
  assert_int_equal(h.rcError, KV_IOERR);
  assert_string_equal(h.zWhat, "compaction");
  assert_int_equal(h.nDone, 0);
  assert_int_equal(filesAt(&h, 0), 2);
  assert_int_equal(sstInDir(h.zDir), 2);
  hostClose(&h);
}

/* A store closing stops the merge: nothing changes and nothing is
** reported (the check comes every 1024 entries). */
static void test_host_closing_abandons(void **state){
  Host h;
  (void)state;
  hostOpen(&h, 0, "8");
  addTable(&h, 3000, "old");
  addTable(&h, 3000, "new");
  h.oldest = h.iLastSeq;
  h.bClosing = 1;
  assert_int_equal(runFull(&h), KV_OK);
  assert_true(h.nClosing>=1);
  assert_int_equal(h.nDone, 0);
  assert_int_equal(h.nError, 0);
  assert_int_equal(filesAt(&h, 0), 2);
  assert_int_equal(sstInDir(h.zDir), 2);
  hostClose(&h);
}

/* A due compaction run for the background thread flushes a waiting
** memtable before each output; one run for kv_compact does not. */
static void test_host_due_background_flushes(void **state){
  Host h;
  int bRan = 0;
  int rc;
  (void)state;
  hostOpen(&h, 0, "2");
  addTable(&h, 50, "a");
  addTable(&h, 50, "b");
  h.oldest = h.iLastSeq;
  pthread_mutex_lock(&h.mutex);
  rc = kvCompactRunDue(h.pC, 1, 0, &bRan, 0, 0);
  pthread_mutex_unlock(&h.mutex);
  assert_int_equal(rc, KV_OK);
  assert_int_equal(bRan, 1);
  assert_true(h.nFlush>=1);
  assert_int_equal(h.nDone, 1);
  assert_int_equal(filesAt(&h, 0), 0);
  /* nothing more is due */
  pthread_mutex_lock(&h.mutex);
  rc = kvCompactRunDue(h.pC, 0, 0, &bRan, 0, 0);
  pthread_mutex_unlock(&h.mutex);
  assert_int_equal(rc, KV_OK);
  assert_int_equal(bRan, 0);
  assert_int_equal(h.nDone, 1);
  hostClose(&h);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_host_full_merge_drops_shadowed),
    cmocka_unit_test(test_host_read_point_keeps_versions),
    cmocka_unit_test(test_host_error_reported_once),
    cmocka_unit_test(test_host_closing_abandons),
    cmocka_unit_test(test_host_due_background_flushes),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
