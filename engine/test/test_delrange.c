/*
** test_delrange.c - the costs behind kvstore_delete_range at ten million
** rows (doc/delrange.md): a commit never waits for the tables a process
** holds open at its first maintenance step, which reads none of them.
*/
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* ---------------------------------------------------------------------- */
/* An env whose table opens are slow in every thread but the test's.      */

#define SLOW_OPEN_MICROS 40000

static KvEnv gSlowEnv;
static pthread_t gMainThread;
static pthread_mutex_t gSlowMutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gSlowCond = PTHREAD_COND_INITIALIZER;
static int gnSlowOpens;         /* table opens begun outside the test thread */

static int endsWith(const char *z, const char *zSuffix){
  size_t n = strlen(z), m = strlen(zSuffix);
  return n>=m && strcmp(z + n - m, zSuffix)==0;
}

static int slowOpen(KvEnv *pEnv, const char *zPath, int flags,
                    KvFile **ppFile){
  if( endsWith(zPath, ".sst") && (flags & KV_OPEN_READ)
   && !pthread_equal(pthread_self(), gMainThread) ){
    pthread_mutex_lock(&gSlowMutex);
    gnSlowOpens++;
    pthread_cond_broadcast(&gSlowCond);
    pthread_mutex_unlock(&gSlowMutex);
    usleep(SLOW_OPEN_MICROS);
  }
  return fastPosix()->xOpen(pEnv, zPath, flags, ppFile);
}

static KvEnv *slowEnv(void){
  gSlowEnv = *fastPosix();
  gSlowEnv.zName = "posix-slow-table-open";
  gSlowEnv.xOpen = slowOpen;
  gMainThread = pthread_self();
  gnSlowOpens = 0;
  return &gSlowEnv;
}

/* Wait (up to 10 s) until n table opens have begun in other threads. */
static int waitSlowOpens(int n){
  struct timespec ts;
  int nSeen;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 10;
  pthread_mutex_lock(&gSlowMutex);
  while( gnSlowOpens<n ){
    if( pthread_cond_timedwait(&gSlowCond, &gSlowMutex, &ts)!=0 ) break;
  }
  nSeen = gnSlowOpens;
  pthread_mutex_unlock(&gSlowMutex);
  return nSeen;
}

static u64 nowMicros(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (u64)ts.tv_sec*1000000 + (u64)ts.tv_nsec/1000;
}

/* A store of nTable tables (background=off, so exactly those), closed. */
static void makeTables(const char *zDir, int nTable){
  kv_options *o = tuOptions("background=off", "level0_trigger=64", NULL);
  kv_db *db = tuOpen(zDir, o);
  int i, j;
  char zKey[32];
  for(i=0; i<nTable; i++){
    for(j=0; j<20; j++){
      snprintf(zKey, sizeof(zKey), "k%03d-%03d", i, j);
      tuPut(db, zKey, "value");
    }
    assert_int_equal(kv_flush(db), KV_OK);
  }
  kv_close(db);
  kv_options_free(o);
}

/*
** Regression: at open, the background thread's first maintenance step
** (kvSharedMaintBegin) opened every table of the version while holding
** the store's mutex, and a commit in the meantime waited for all of them:
** kvstore_delete_range's 124-165 ms at ten million rows (554 tables),
** whatever the range. Here each table open takes 40 ms, 12 tables about
** half a second; a two-phase commit and a plain write made while the
** background thread is opening them must not wait for it. The tables are
** held open (pinned) and not read.
*/
static void test_commit_does_not_wait_for_table_opens(void **state){
  enum { N_TABLE = 12 };
  char zDir[256];
  kv_options *o;
  kv_db *db;
  kv_batch *b;
  u64 t0, tCommit, tPut;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "drwait");
  makeTables(zDir, N_TABLE);
  assert_int_equal(tuCountFiles(zDir, ".sst"), N_TABLE);

  o = tuOptions("background=on", "level0_trigger=64", NULL);
  kvOptionsSetEnv(o, slowEnv());
  db = tuOpen(zDir, o);
  /* The background thread has begun opening the tables. */
  assert_true(waitSlowOpens(1)>=1);

  b = kv_batch_new();
  assert_int_equal(kv_batch_delete_range(b, "k002", 4, "k009", 4), KV_OK);
  t0 = nowMicros();
  tuCommitPrepared(db, b);
  tCommit = nowMicros() - t0;
  kv_batch_free(b);
  t0 = nowMicros();
  tuPut(db, "z", "after");
  tPut = nowMicros() - t0;
  /* Not all opened yet: the commit ran beside the opening. */
  assert_true(waitSlowOpens(N_TABLE)==N_TABLE);
  if( tCommit>=(u64)SLOW_OPEN_MICROS*N_TABLE/2
   || tPut>=(u64)SLOW_OPEN_MICROS*N_TABLE/2 ){
    fail_msg("a commit waited %llu us and a put %llu us for the background "
             "thread's table opens (%d of %d us each)",
             (unsigned long long)tCommit, (unsigned long long)tPut,
             N_TABLE, SLOW_OPEN_MICROS);
  }
  /* Every table file is held open all the same (shared.c's "Deleted
  ** files"), and none was read for it: their tables open when used. */
  {
    KvVersion *v = kvVersionCurrent(&db->vset);
    pthread_mutex_t *pMutex = (pthread_mutex_t*)db->vset.pMutex;
    int i, j, k, nHeld = 0, nRead = 0, nAll = 0;
    for(i=0; i<KV_MAX_LEVELS; i++){
      for(j=0; j<v->anFile[i]; j++){
        KvFileMeta *f = v->aaFile[i][j];
        int bHeld = 0;
        nAll++;
        /* the last one may still be under way: wait for it */
        for(k=0; k<2000 && !bHeld; k++){
          pthread_mutex_lock(pMutex);
          bHeld = f->pPin!=0 || atomic_load(&f->pSst)!=0;
          nRead += k==0 && atomic_load(&f->pSst)!=0;
          pthread_mutex_unlock(pMutex);
          if( !bHeld ) usleep(1000);
        }
        nHeld += bHeld;
      }
    }
    kvVersionUnref(v);
    assert_int_equal(nAll, N_TABLE);
    assert_int_equal(nHeld, N_TABLE);
    assert_int_equal(nRead, 0);
  }
  assert_null(tuGet(db, 0, 0, "k005-000"));
  assert_string_equal(tuGet(db, 0, 0, "k001-019"), "value");
  assert_string_equal(tuGet(db, 0, 0, "k009-000"), "value");
  assert_string_equal(tuGet(db, 0, 0, "z"), "after");
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Tables of the current version that this instance has opened (read). */
static int tablesRead(kv_db *db, int *pnAll){
  KvVersion *v = kvVersionCurrent(&db->vset);
  int i, j, n = 0;
  *pnAll = 0;
  for(i=0; i<KV_MAX_LEVELS; i++){
    for(j=0; j<v->anFile[i]; j++){
      (*pnAll)++;
      n += atomic_load(&v->aaFile[i][j]->pSst)!=0;
    }
  }
  kvVersionUnref(v);
  return n;
}

/*
** A scan that starts inside a range tombstone costs what it would cost had
** the rows never existed: its seek goes straight to the tombstone's end in
** each level, stepping through no covered entry and opening none of the
** tables the tombstone covers whole. Here 20,000 rows in some 15 tables at
** the bottom, then a tombstone over the middle 80% of them.
*/
static void test_seek_in_tombstone_opens_no_covered_table(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "target_file_size=64KB",
                            NULL);
  kv_db *db;
  kv_iter *it = 0;
  kv_batch *b;
  char zKey[32];
  size_t nk;
  int i, nAll = 0, nRead;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "drseek");
  db = tuOpen(zDir, o);
  for(i=0; i<20000; i++){
    snprintf(zKey, sizeof(zKey), "k%06d", i);
    tuPut(db, zKey, "payload-payload-payload-payload-payload");
  }
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  b = kv_batch_new();
  assert_int_equal(kv_batch_delete_range(b, "k002000", 7, "k018000", 7),
                   KV_OK);
  assert_int_equal(kv_write(db, b), KV_OK);
  kv_batch_free(b);
  assert_int_equal(kv_close(db), KV_OK);

  /* A fresh instance: no table read yet (the tombstone is in the WAL). */
  db = tuOpen(zDir, o);
  assert_int_equal(tablesRead(db, &nAll), 0);
  if( nAll<10 ) fail_msg("only %d tables", nAll);
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  for(i=2000; i<18000; i+=1999){
    u64 nVisit = kvIterVisited(it);
    snprintf(zKey, sizeof(zKey), "k%06d", i);
    assert_int_equal(kv_iter_seek(it, zKey, 7), KV_OK);
    assert_true(kv_iter_valid(it));
    assert_memory_equal(kv_iter_key(it, &nk), "k018000", 7);
    nVisit = kvIterVisited(it) - nVisit;
    if( nVisit>=4 ){
      fail_msg("a seek to %s visited %llu entries", zKey,
               (unsigned long long)nVisit);
    }
  }
  /* and the ten rows after it, as the benchmark's scans read */
  for(i=0; i<9; i++) assert_int_equal(kv_iter_next(it), KV_OK);
  assert_memory_equal(kv_iter_key(it, &nk), "k018009", 7);
  kv_iter_free(it);
  nRead = tablesRead(db, &nAll);
  if( nRead>2 ){
    fail_msg("seeks inside the tombstone read %d of %d tables", nRead, nAll);
  }
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Four threads use one table first at once (kvFileTable opens it outside
** the version set's mutex): it is opened once, and all get that table. */
typedef struct FirstUse FirstUse;
struct FirstUse {
  KvFileMeta *f;
  KvSst *pSst;
  int rc;
};
static void *firstUseMain(void *pArg){
  FirstUse *p = (FirstUse*)pArg;
  p->rc = kvFileTable(p->f, &p->pSst);
  return 0;
}
static void test_concurrent_first_use_opens_table_once(void **state){
  enum { N_THREAD = 4 };
  char zDir[256];
  kv_options *o;
  kv_db *db;
  KvVersion *v;
  FirstUse a[N_THREAD];
  pthread_t aThread[N_THREAD];
  int i;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "dronce");
  makeTables(zDir, 2);
  o = tuOptions("background=off", "level0_trigger=64", NULL);
  kvOptionsSetEnv(o, slowEnv());
  db = tuOpen(zDir, o);
  v = kvVersionCurrent(&db->vset);
  assert_int_equal(v->anFile[0], 2);
  assert_null(atomic_load(&v->aaFile[0][0]->pSst));
  for(i=0; i<N_THREAD; i++){
    a[i].f = v->aaFile[0][0];
    a[i].pSst = 0;
    a[i].rc = -1;
    assert_int_equal(pthread_create(&aThread[i], 0, firstUseMain, &a[i]), 0);
  }
  for(i=0; i<N_THREAD; i++) pthread_join(aThread[i], 0);
  for(i=0; i<N_THREAD; i++){
    assert_int_equal(a[i].rc, KV_OK);
    assert_non_null(a[i].pSst);
    assert_ptr_equal(a[i].pSst, a[0].pSst);
  }
  assert_int_equal(gnSlowOpens, 1);
  kvVersionUnref(v);
  assert_string_equal(tuGet(db, 0, 0, "k001-019"), "value");
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_commit_does_not_wait_for_table_opens),
    cmocka_unit_test(test_seek_in_tombstone_opens_no_covered_table),
    cmocka_unit_test(test_concurrent_first_use_opens_table_once),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
