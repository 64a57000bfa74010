/*
** test_threads.c - writers, readers, iterators, flushes and compaction on
** one kv_db at once; built and run under ThreadSanitizer by make tsan.
**
** Four writer threads each own a key range ("w<t>-<k>") and commit
** batches that put two keys of their range plus their pair "w<t>-a" and
** "w<t>-b" (always the same value, so a torn batch is visible), and now and
** then delete a key. Each writer publishes, per key, the last value it had
** acknowledged (atomics), before and after each commit. Two reader threads
** meanwhile:
**   - point-read keys of every range: a read must see a value at least as
**     new as the one acknowledged before it started, and no newer than
**     the one attempted when it ended (monotonic visibility, no phantom);
**   - read "w<t>-a" and "w<t>-b" at one snapshot: equal (atomic batches);
**   - iterate the store (forward, and backward from a seek) with a
**     snapshot: keys strictly ordered, every value well formed.
** A fifth thread calls kv_flush in a loop. The memtable is the smallest
** allowed and level0_trigger is 2, so flushes and compactions run in the
** background throughout. At the end the store, and the store reopened,
** equal the writers' model exactly.
**
** make test: 2,000 batches per writer; STRESS=n: n times as many.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <stdint.h>
#include <unistd.h>
#include <time.h>

#include "testutil.h"

#define NWRITER 4
#define NREADER 2
#define NKEYW   100                 /* keys per writer */
#define DELETED 0                   /* version meaning "deleted" */

/* aAcked[t][k]: version of w<t>-<k> acknowledged last (0 deleted/absent);
** aTried[t][k]: version of the commit in flight (or aAcked). Versions of
** one writer increase. */
static _Atomic int aAcked[NWRITER][NKEYW];
static _Atomic int aTried[NWRITER][NKEYW];
static _Atomic int bStop;
static _Atomic int nReadCheck, nIterCheck, nFlushCall;
static _Atomic int aDelCount[NWRITER][NKEYW];   /* deletes attempted */
static int nBatchPerWriter = 2000;
static kv_db *gDb;

/* cmocka's failures may only be raised on the main thread: threads record
** theirs here (the first message is kept) and stop the run. */
static pthread_mutex_t failMutex = PTHREAD_MUTEX_INITIALIZER;
static char zThreadFail[1000];
static _Atomic int nThreadFail;
static void threadFail(const char *zFmt, ...){
  va_list ap;
  pthread_mutex_lock(&failMutex);
  if( atomic_fetch_add(&nThreadFail, 1)==0 ){
    va_start(ap, zFmt);
    vsnprintf(zThreadFail, sizeof(zThreadFail), zFmt, ap);
    va_end(ap);
  }
  pthread_mutex_unlock(&failMutex);
  atomic_store(&bStop, 1);
}

static u64 rndNext(u64 *p){
  *p ^= *p >> 12; *p ^= *p << 25; *p ^= *p >> 27;
  return *p * 2685821657736338717ULL;
}

/* Value text for version v of writer t: "t:v:" then padding. Version 0 is
** never written (it stands for absence). */
static size_t valueText(int t, int v, char *z){
  size_t n = (size_t)sprintf(z, "%d:%d:", t, v);
  size_t nPad = (size_t)(v*13 % 200);
  memset(z+n, 'p', nPad);
  return n + nPad;
}
/* Version of a value of writer t, or -1 if it is not well formed. */
static int parseValue(int t, const void *p, size_t n){
  char z[300], zWant[300];
  int tt, v;
  if( n==0 || n>=sizeof(z) ) return -1;
  memcpy(z, p, n);
  z[n] = 0;
  if( sscanf(z, "%d:%d:", &tt, &v)!=2 || tt!=t || v<=0 ) return -1;
  if( valueText(t, v, zWant)!=n || memcmp(zWant, z, n)!=0 ) return -1;
  return v;
}

static void *writerMain(void *pArg){
  int t = (int)(intptr_t)pArg;
  u64 rng = 0x9E3779B97F4A7C15ULL * (u64)(t+1);
  int v;
  for(v=1; v<=nBatchPerWriter; v++){
    kv_batch *b = kv_batch_new();
    char zKey[32], zVal[300];
    size_t n = valueText(t, v, zVal);
    int k1 = (int)(rndNext(&rng) % NKEYW);
    int k2 = (int)(rndNext(&rng) % NKEYW);
    int bDel = rndNext(&rng) % 8==0;
    int rc;
    if( b==0 ){ threadFail("writer %d: out of memory", t); break; }
    if( k2==k1 ) k2 = (k1 + 1) % NKEYW;
    atomic_store(&aTried[t][k1], v);
    atomic_store(&aTried[t][k2], bDel ? DELETED : v);
    if( bDel ) atomic_fetch_add(&aDelCount[t][k2], 1);
    snprintf(zKey, sizeof(zKey), "w%d-%03d", t, k1);
    kv_batch_put(b, zKey, strlen(zKey), zVal, n);
    snprintf(zKey, sizeof(zKey), "w%d-%03d", t, k2);
    if( bDel ) kv_batch_delete(b, zKey, strlen(zKey));
    else kv_batch_put(b, zKey, strlen(zKey), zVal, n);
    snprintf(zKey, sizeof(zKey), "w%d-a", t);
    kv_batch_put(b, zKey, strlen(zKey), zVal, n);
    snprintf(zKey, sizeof(zKey), "w%d-b", t);
    kv_batch_put(b, zKey, strlen(zKey), zVal, n);
    rc = kv_write(gDb, b);
    if( rc!=KV_OK ){
      threadFail("writer %d: kv_write: %s", t, kv_errmsg(gDb));
      kv_batch_free(b);
      break;
    }
    kv_batch_free(b);
    atomic_store(&aAcked[t][k1], v);
    atomic_store(&aAcked[t][k2], bDel ? DELETED : v);
  }
  return 0;
}

/* Is version v a possible result for a read of (t,k) that started when
** the acknowledged version was lo and ended when the attempted one was
** hi? Versions increase, deletes are 0: v must be lo, hi, or between. */
static int versionOk(int v, int lo, int hi, int bDeleted){
  if( bDeleted ) return 1;      /* a delete in the window: any of them */
  return v>=lo && v<=hi;
}

static void *readerMain(void *pArg){
  int r = (int)(intptr_t)pArg;
  u64 rng = 0xD1B54A32D192ED03ULL * (u64)(r+1);
  while( !atomic_load(&bStop) ){
    int t = (int)(rndNext(&rng) % NWRITER);
    int k = (int)(rndNext(&rng) % NKEYW);
    int op = (int)(rndNext(&rng) % 16);
    char zKey[32];
    void *p = 0;
    size_t n = 0;
    int rc;
    if( op<12 ){
      /* Point read against the writer's window. */
      int d0 = atomic_load(&aDelCount[t][k]);
      int lo = atomic_load(&aAcked[t][k]);
      int hi, bDel;
      snprintf(zKey, sizeof(zKey), "w%d-%03d", t, k);
      rc = kv_get(gDb, 0, 0, zKey, strlen(zKey), &p, &n);
      hi = atomic_load(&aTried[t][k]);
      /* A delete in the window (or at either end) can hide or reveal any
      ** version between. */
      bDel = lo==DELETED || hi==DELETED || atomic_load(&aDelCount[t][k])!=d0;
      if( rc==KV_OK ){
        int v = parseValue(t, p, n);
        if( v<0 ) threadFail("reader: malformed value of %s", zKey);
        if( !versionOk(v, lo, hi, bDel) ){
          threadFail("reader: %s is version %d, window [%d, %d]", zKey, v,
                   lo, hi);
        }
        kv_free(p);
      }else if( rc==KV_NOTFOUND ){
        if( !bDel ){
          threadFail("reader: %s missing, acknowledged version %d", zKey, lo);
        }
      }else{
        threadFail("reader: kv_get: %s", kv_errmsg(gDb));
      }
      atomic_fetch_add(&nReadCheck, 1);
    }else if( op<14 ){
      /* The pair written by every batch of writer t, at one snapshot. */
      kv_snapshot *s = kv_snapshot_new(gDb);
      char zA[300], zB[300];
      size_t nA = 0, nB = 0;
      int rcA, rcB;
      if( s==0 ){ threadFail("reader: out of memory"); break; }
      snprintf(zKey, sizeof(zKey), "w%d-a", t);
      rcA = kv_get(gDb, s, 0, zKey, strlen(zKey), &p, &n);
      if( rcA==KV_OK ){ memcpy(zA, p, n); nA = n; kv_free(p); }
      snprintf(zKey, sizeof(zKey), "w%d-b", t);
      rcB = kv_get(gDb, s, 0, zKey, strlen(zKey), &p, &n);
      if( rcB==KV_OK ){ memcpy(zB, p, n); nB = n; kv_free(p); }
      if( rcA!=rcB || nA!=nB || memcmp(zA, zB, nA)!=0 ){
        threadFail("reader: torn batch of writer %d at a snapshot", t);
      }
      kv_snapshot_free(gDb, s);
    }else{
      /* A full iteration, then backward from a seek. */
      kv_iter *it = 0;
      char zPrev[64] = "";
      size_t nPrev = 0;
      int nSeen = 0;
      if( kv_iter_new(gDb, 0, 0, &it)!=KV_OK ){
        threadFail("iterator: %s", kv_errmsg(gDb));
        break;
      }
      for(rc=kv_iter_first(it); rc==KV_OK && kv_iter_valid(it);
          rc=kv_iter_next(it)){
        size_t nKey, nVal;
        const char *zK = kv_iter_key(it, &nKey);
        const void *pV = kv_iter_value(it, &nVal);
        if( nKey>=sizeof(zPrev) || zK[0]!='w' ){
          threadFail("iterator: unexpected key");
        }
        if( nPrev && kvUKeyCmp((u8*)zPrev, nPrev, (const u8*)zK, nKey)>=0 ){
          threadFail("iterator: keys out of order");
        }
        if( parseValue(zK[1]-'0', pV, nVal)<0 ){
          threadFail("iterator: malformed value at %.*s", (int)nKey, zK);
        }
        memcpy(zPrev, zK, nKey);
        nPrev = nKey;
        nSeen++;
      }
      if( rc!=KV_OK ) threadFail("iterator: %s", kv_errmsg(gDb));
      snprintf(zKey, sizeof(zKey), "w%d-%03d", t, k);
      nPrev = 0;
      for(rc=kv_iter_seek_for_prev(it, zKey, strlen(zKey));
          rc==KV_OK && kv_iter_valid(it); rc=kv_iter_prev(it)){
        size_t nKey;
        const char *zK = kv_iter_key(it, &nKey);
        if( nPrev && kvUKeyCmp((u8*)zPrev, nPrev, (const u8*)zK, nKey)<=0 ){
          threadFail("iterator: keys out of order backward");
        }
        memcpy(zPrev, zK, nKey);
        nPrev = nKey;
      }
      if( rc!=KV_OK ) threadFail("iterator: %s", kv_errmsg(gDb));
      kv_iter_free(it);
      (void)nSeen;
      atomic_fetch_add(&nIterCheck, 1);
    }
  }
  return 0;
}

/* Most SSTables the flusher saw at once. */
static _Atomic int nMaxSst;

static void *flusherMain(void *pArg){
  (void)pArg;
  while( !atomic_load(&bStop) ){
    kv_sstable_info *aInfo = 0;
    int nInfo = 0;
    int rc = kv_flush(gDb);
    if( rc!=KV_OK ) threadFail("kv_flush: %s", kv_errmsg(gDb));
    atomic_fetch_add(&nFlushCall, 1);
    rc = kv_sstables(gDb, &aInfo, &nInfo);
    if( rc!=KV_OK ) threadFail("kv_sstables: %s", kv_errmsg(gDb));
    kv_free(aInfo);
    if( nInfo>atomic_load(&nMaxSst) ) atomic_store(&nMaxSst, nInfo);
    usleep(20000);
  }
  return 0;
}

/* The store equals the writers' model. */
static void checkModel(kv_db *db){
  int t, k, nExpect = 0, nSeen = 0, rc;
  kv_iter *it = 0;
  for(t=0; t<NWRITER; t++){
    for(k=0; k<NKEYW; k++){
      char zKey[32];
      void *p = 0;
      size_t n = 0;
      int v = atomic_load(&aAcked[t][k]);
      snprintf(zKey, sizeof(zKey), "w%d-%03d", t, k);
      rc = kv_get(db, 0, 0, zKey, strlen(zKey), &p, &n);
      if( v==DELETED ){
        if( rc!=KV_NOTFOUND ) fail_msg("%s: present, model deleted", zKey);
      }else{
        if( rc!=KV_OK ) fail_msg("%s: rc %d, model version %d", zKey, rc, v);
        if( parseValue(t, p, n)!=v ){
          fail_msg("%s: version %d, model %d", zKey, parseValue(t, p, n), v);
        }
        kv_free(p);
        nExpect++;
      }
    }
    nExpect += 2;                      /* w<t>-a, w<t>-b */
  }
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  for(rc=kv_iter_first(it); rc==KV_OK && kv_iter_valid(it);
      rc=kv_iter_next(it)){
    nSeen++;
  }
  assert_int_equal(rc, KV_OK);
  kv_iter_free(it);
  assert_int_equal(nSeen, nExpect);
}

/* The workload above on a new store with options o; returns the number
** of SSTables at the end. */
static int runThreads(kv_options *o){
  char zDir[256];
  pthread_t aW[NWRITER], aR[NREADER], flusher;
  char *zReport = 0;
  kv_sstable_info *aInfo = 0;
  int nInfo = 0;
  int i;
  struct timespec t0, t1;
  memset(aAcked, 0, sizeof(aAcked));
  memset(aTried, 0, sizeof(aTried));
  memset(aDelCount, 0, sizeof(aDelCount));
  atomic_store(&nReadCheck, 0);
  atomic_store(&nIterCheck, 0);
  atomic_store(&nFlushCall, 0);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  tuTempDir(zDir, sizeof(zDir), "threads");
  gDb = tuOpen(zDir, o);
  atomic_store(&bStop, 0);
  for(i=0; i<NREADER; i++){
    assert_int_equal(pthread_create(&aR[i], 0, readerMain,
                                    (void*)(intptr_t)i), 0);
  }
  assert_int_equal(pthread_create(&flusher, 0, flusherMain, 0), 0);
  for(i=0; i<NWRITER; i++){
    assert_int_equal(pthread_create(&aW[i], 0, writerMain,
                                    (void*)(intptr_t)i), 0);
  }
  for(i=0; i<NWRITER; i++) pthread_join(aW[i], 0);
  atomic_store(&bStop, 1);
  for(i=0; i<NREADER; i++) pthread_join(aR[i], 0);
  pthread_join(flusher, 0);
  if( atomic_load(&nThreadFail) ) fail_msg("%s", zThreadFail);

  checkModel(gDb);
  assert_int_equal(kv_verify(gDb, &zReport), KV_OK);
  assert_string_equal(zReport, "ok");
  kv_free(zReport);
  assert_int_equal(kv_sstables(gDb, &aInfo, &nInfo), KV_OK);
  kv_free(aInfo);
  assert_int_equal(kv_close(gDb), KV_OK);
  gDb = tuOpen(zDir, o);
  checkModel(gDb);
  assert_int_equal(kv_close(gDb), KV_OK);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  print_message("%d writers x %d batches, %d point reads checked, %d "
                "iterations, %d kv_flush calls, %.1fs\n", NWRITER,
                nBatchPerWriter, atomic_load(&nReadCheck),
                atomic_load(&nIterCheck), atomic_load(&nFlushCall),
                (double)(t1.tv_sec - t0.tv_sec)
                + (double)(t1.tv_nsec - t0.tv_nsec)/1e9);
  tuRemoveDir(zDir);
  return nInfo;
}

static void test_threads(void **s){
  const char *zStress = getenv("STRESS");
  kv_options *o;
  (void)s;
  if( zStress && atoi(zStress)>0 ) nBatchPerWriter *= 10*atoi(zStress);
  o = tuOptions("background=on", "memtable_size=64KB", "level0_trigger=2",
                "wal_segment_size=16KB", "block_size=1KB", "sync=normal",
                "cache_size=128KB", NULL);
  runThreads(o);
  kv_options_free(o);
}

/*
** The same with more SSTables than the process keeps descriptors for
** (env_posix.c, "Descriptors": half the soft RLIMIT_NOFILE, lowered to 32
** here): table files give their descriptors back and are read through
** their maps while the writers, readers, flushes and compactions run.
*/
static void test_threads_few_descriptors(void **s){
  struct rlimit rlOld, rl;
  kv_options *o;
  int nSst;
  (void)s;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rlOld), 0);
  rl = rlOld;
  rl.rlim_cur = 32;
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
  o = tuOptions("background=on", "memtable_size=64KB", "level0_trigger=2",
                "wal_segment_size=16KB", "block_size=1KB", "sync=normal",
                "cache_size=128KB", "target_file_size=4KB", NULL);
  atomic_store(&nMaxSst, 0);
  nSst = runThreads(o);
  kv_options_free(o);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &rlOld), 0);
  print_message("%d SSTables at most, %d at the end, 16 descriptors for "
                "them and the WAL and manifest\n", atomic_load(&nMaxSst),
                nSst);
  assert_true(atomic_load(&nMaxSst)>16);
}

/*
** The same with a background thread that leaves after 1 ms with nothing
** due (db.c, bgMain): it leaves and is started again (kvDbBgKick) all
** through the run, beside the writers' waits for flushes and stalls.
*/
static void test_threads_background_leaving(void **s){
  u64 nBefore = kvBgIdleMicros;
  kv_options *o;
  (void)s;
  kvBgIdleMicros = 1000;
  o = tuOptions("background=on", "memtable_size=64KB", "level0_trigger=2",
                "wal_segment_size=16KB", "block_size=1KB", "sync=normal",
                "cache_size=128KB", NULL);
  runThreads(o);
  kv_options_free(o);
  kvBgIdleMicros = nBefore;
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_threads),
    cmocka_unit_test(test_threads_few_descriptors),
    cmocka_unit_test(test_threads_background_leaving),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
