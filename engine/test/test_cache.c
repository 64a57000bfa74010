/*
** test_cache.c - block cache: hits and misses, LRU order, capacity,
** reference counting (a referenced entry is never freed, also across a
** replace), capacity 0, allocation failure, and four threads hammering it.
**
** Shard selection is internal to cache.c, so the LRU tests first discover
** keys that share a shard by watching one evict another.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <cmocka.h>

#include "kvInt.h"

/* A value that knows its key, so a wrong or freed block is noticed. */
typedef struct TestVal TestVal;
struct TestVal {
  u64 iFile, iOff;
  u32 magic;
};
#define TV_LIVE 0x600dcafe
#define TV_DEAD 0xdeadbeef

static _Atomic int nDeleted;
static _Atomic int nBadDelete;    /* deleter saw a dead or foreign value */

/* Runs on whichever thread drops the last reference, so it records a
** problem instead of failing a cmocka assertion off the main thread. */
static void tvDelete(void *p){
  TestVal *v = (TestVal*)p;
  if( v->magic!=TV_LIVE ) nBadDelete++;
  v->magic = TV_DEAD;
  free(v);
  nDeleted++;
}

static TestVal *tvNew(u64 iFile, u64 iOff){
  TestVal *v = malloc(sizeof(*v));
  assert_non_null(v);
  v->iFile = iFile;
  v->iOff = iOff;
  v->magic = TV_LIVE;
  return v;
}

/* Insert (iFile, iOff) and drop the handle at once. */
static void put(KvCache *c, u64 iFile, u64 iOff, size_t nCharge){
  KvCacheHandle *h = 0;
  assert_int_equal(kvCacheInsert(c, iFile, iOff, tvNew(iFile, iOff),
                                 nCharge, tvDelete, &h), KV_OK);
  assert_non_null(h);
  kvCacheRelease(c, h);
}

/* 1 if the key is cached (and checks its value), 0 if not. */
static int present(KvCache *c, u64 iFile, u64 iOff){
  KvCacheHandle *h = kvCacheLookup(c, iFile, iOff);
  TestVal *v;
  if( h==0 ) return 0;
  v = kvCacheValue(h);
  assert_int_equal(v->magic, TV_LIVE);
  assert_int_equal(v->iFile, iFile);
  assert_int_equal(v->iOff, iOff);
  kvCacheRelease(c, h);
  return 1;
}

/* Offsets o (file 7) whose entries share a shard with (7, aOff[0]=0):
** in a cache of one byte per shard, inserting such a key evicts the
** first. Fills aOff[0..n-1]. */
static void sameShardKeys(u64 *aOff, int n){
  KvCache *c = 0;
  int nFound = 1;
  u64 o;
  assert_int_equal(kvCacheNew(16, &c), KV_OK);
  aOff[0] = 0;
  for(o=4096; nFound<n; o+=4096){
    put(c, 7, 0, 1);
    put(c, 7, o, 1);
    if( !present(c, 7, 0) ) aOff[nFound++] = o;
    assert_true(o < 4096*100000);
  }
  kvCacheFree(c);
}

static void test_hit_miss(void **state){
  KvCache *c = 0;
  KvCacheHandle *h;
  KvCacheStats st;
  (void)state;
  nDeleted = 0;
  assert_int_equal(kvCacheNew(1<<20, &c), KV_OK);
  assert_null(kvCacheLookup(c, 1, 0));
  put(c, 1, 0, 100);
  put(c, 1, 4096, 200);
  put(c, 2, 0, 300);
  h = kvCacheLookup(c, 1, 4096);
  assert_non_null(h);
  assert_int_equal(((TestVal*)kvCacheValue(h))->iOff, 4096);
  kvCacheRelease(c, h);
  assert_int_equal(present(c, 2, 0), 1);
  assert_int_equal(present(c, 2, 4096), 0);
  assert_int_equal(present(c, 3, 0), 0);

  kvCacheStats(c, &st);
  assert_int_equal(st.nHit, 2);
  assert_int_equal(st.nMiss, 3);
  assert_int_equal(st.nInsert, 3);
  assert_int_equal(st.nEvict, 0);
  assert_int_equal(st.nEntry, 3);
  assert_int_equal(st.nByte, 600);
  assert_int_equal(st.nCapacity, 1<<20);
  assert_int_equal(nDeleted, 0);
  kvCacheFree(c);
  assert_int_equal(nDeleted, 3);

  /* Freeing NULL is fine; releasing NULL too. */
  kvCacheFree(NULL);
}

static void test_lru_order(void **state){
  u64 aOff[6];
  KvCache *c = 0;
  KvCacheStats st;
  (void)state;
  sameShardKeys(aOff, 6);
  nDeleted = 0;

  /* Three bytes per shard: three charge-1 entries fit. */
  assert_int_equal(kvCacheNew(16*3, &c), KV_OK);
  put(c, 7, aOff[0], 1);
  put(c, 7, aOff[1], 1);
  put(c, 7, aOff[2], 1);
  /* Using 0 makes 1 the least recently used. */
  assert_int_equal(present(c, 7, aOff[0]), 1);
  put(c, 7, aOff[3], 1);
  assert_int_equal(nDeleted, 1);
  assert_int_equal(present(c, 7, aOff[1]), 0);
  assert_int_equal(present(c, 7, aOff[2]), 1);
  assert_int_equal(present(c, 7, aOff[0]), 1);
  assert_int_equal(present(c, 7, aOff[3]), 1);
  /* Order of use now: 2, 0, 3 (oldest first). */
  put(c, 7, aOff[4], 1);
  assert_int_equal(present(c, 7, aOff[2]), 0);
  put(c, 7, aOff[5], 1);
  assert_int_equal(present(c, 7, aOff[0]), 0);
  assert_int_equal(present(c, 7, aOff[3]), 1);
  assert_int_equal(present(c, 7, aOff[4]), 1);
  assert_int_equal(present(c, 7, aOff[5]), 1);

  /* A charge-2 entry pushes out the two oldest. Order: 3, 4, 5. */
  put(c, 7, aOff[1], 2);
  assert_int_equal(present(c, 7, aOff[3]), 0);
  assert_int_equal(present(c, 7, aOff[4]), 0);
  assert_int_equal(present(c, 7, aOff[5]), 1);
  assert_int_equal(present(c, 7, aOff[1]), 1);

  kvCacheStats(c, &st);
  assert_int_equal(st.nEvict, 5);
  assert_int_equal(st.nEntry, 2);
  assert_int_equal(st.nByte, 3);
  assert_int_equal(nDeleted, 5);
  kvCacheFree(c);
  assert_int_equal(nDeleted, 7);
}

static void test_capacity(void **state){
  KvCache *c = 0;
  KvCacheStats st;
  u64 nCap = 16*1000;
  u32 x = 12345;
  int i;
  (void)state;
  nDeleted = 0;
  assert_int_equal(kvCacheNew(nCap, &c), KV_OK);
  for(i=0; i<5000; i++){
    x = x*1103515245 + 12345;
    put(c, x % 50, ((x>>8) % 64) * 4096, 1 + (x>>16) % 300);
    kvCacheStats(c, &st);
    assert_true(st.nByte <= nCap);
  }
  kvCacheStats(c, &st);
  assert_true(st.nEvict > 0);
  assert_true(st.nEntry > 0);
  assert_int_equal(st.nInsert, 5000);
  /* Every insert either lives in the table or was deleted once. */
  assert_int_equal((u64)nDeleted + st.nEntry, 5000);

  /* An entry bigger than a shard stays while held, goes on release. */
  {
    KvCacheHandle *h = 0;
    assert_int_equal(kvCacheInsert(c, 999, 0, tvNew(999, 0), nCap,
                                   tvDelete, &h), KV_OK);
    assert_int_equal(present(c, 999, 0), 1);
    kvCacheRelease(c, h);
    assert_int_equal(present(c, 999, 0), 0);
    kvCacheStats(c, &st);
    assert_true(st.nByte <= nCap);
  }
  kvCacheFree(c);
  assert_int_equal(nDeleted, 5001);
}

static void test_referenced_not_freed(void **state){
  KvCache *c = 0;
  KvCacheHandle *h = 0, *h2;
  TestVal *v;
  KvCacheStats st;
  int i;
  (void)state;
  nDeleted = 0;
  assert_int_equal(kvCacheNew(16*10, &c), KV_OK);
  assert_int_equal(kvCacheInsert(c, 1, 0, tvNew(1, 0), 5, tvDelete, &h),
                   KV_OK);
  v = kvCacheValue(h);
  /* A second handle from a lookup. */
  h2 = kvCacheLookup(c, 1, 0);
  assert_ptr_equal(h2, h);
  /* Flood every shard many times over. */
  for(i=0; i<2000; i++) put(c, 2 + i%7, (u64)i*4096, 3);
  assert_int_equal(v->magic, TV_LIVE);
  assert_int_equal(present(c, 1, 0), 1);   /* pinned, so still cached */
  kvCacheStats(c, &st);
  assert_true(st.nEvict > 0);
  /* Everything else was evicted or is still cached; (1,0) was neither
  ** deleted nor evicted. */
  assert_int_equal((u64)nDeleted + st.nEntry, 2000 + 1);
  assert_int_equal(st.nEvict, (u64)nDeleted);
  kvCacheRelease(c, h);
  assert_int_equal(v->magic, TV_LIVE);
  kvCacheRelease(c, h2);
  kvCacheFree(c);
  assert_int_equal(nDeleted, 2001);
}

static void test_replace_while_held(void **state){
  KvCache *c = 0;
  KvCacheHandle *hOld = 0, *hNew = 0;
  TestVal *vOld, *vNew;
  KvCacheStats st;
  (void)state;
  nDeleted = 0;
  assert_int_equal(kvCacheNew(1<<20, &c), KV_OK);
  assert_int_equal(kvCacheInsert(c, 5, 8192, tvNew(5, 8192), 10, tvDelete,
                                 &hOld), KV_OK);
  vOld = kvCacheValue(hOld);
  vNew = tvNew(5, 8192);
  assert_int_equal(kvCacheInsert(c, 5, 8192, vNew, 20, tvDelete, &hNew),
                   KV_OK);
  assert_int_equal(nDeleted, 0);
  assert_int_equal(vOld->magic, TV_LIVE);
  /* Lookups see the new value. */
  {
    KvCacheHandle *h = kvCacheLookup(c, 5, 8192);
    assert_non_null(h);
    assert_ptr_equal(kvCacheValue(h), vNew);
    kvCacheRelease(c, h);
  }
  kvCacheStats(c, &st);
  assert_int_equal(st.nEntry, 1);
  assert_int_equal(st.nByte, 20);
  assert_int_equal(st.nEvict, 0);
  /* The old value goes with its last handle, the new one stays. */
  kvCacheRelease(c, hOld);
  assert_int_equal(nDeleted, 1);
  kvCacheRelease(c, hNew);
  assert_int_equal(nDeleted, 1);
  assert_int_equal(present(c, 5, 8192), 1);

  /* Replacing an unreferenced entry frees it at once. */
  put(c, 5, 8192, 30);
  assert_int_equal(nDeleted, 2);
  kvCacheStats(c, &st);
  assert_int_equal(st.nByte, 30);
  kvCacheFree(c);
  assert_int_equal(nDeleted, 3);
}

static void test_capacity_zero(void **state){
  KvCache *c = 0;
  KvCacheHandle *h = 0;
  KvCacheStats st;
  TestVal *v;
  (void)state;
  nDeleted = 0;
  assert_int_equal(kvCacheNew(0, &c), KV_OK);
  assert_int_equal(kvCacheInsert(c, 1, 0, tvNew(1, 0), 100, tvDelete, &h),
                   KV_OK);
  assert_non_null(h);
  v = kvCacheValue(h);
  assert_int_equal(v->magic, TV_LIVE);
  assert_int_equal(present(c, 1, 0), 0);
  kvCacheStats(c, &st);
  assert_int_equal(st.nEntry, 0);
  assert_int_equal(st.nByte, 0);
  assert_int_equal(nDeleted, 0);
  kvCacheRelease(c, h);
  assert_int_equal(nDeleted, 1);
  /* No handle wanted: freed at once. */
  assert_int_equal(kvCacheInsert(c, 1, 0, tvNew(1, 0), 100, tvDelete, NULL),
                   KV_OK);
  assert_int_equal(nDeleted, 2);
  kvCacheFree(c);
  assert_int_equal(nDeleted, 2);
}

/* Allocation hooks that fail every call while bFail is set. */
static int bFail = 0;
static void *failMalloc(size_t n){ return bFail ? NULL : malloc(n); }
static void *failRealloc(void *p, size_t n){
  return bFail ? NULL : realloc(p, n);
}
static void failFree(void *p){ free(p); }

static void test_oom(void **state){
  static const KvAllocHooks hooks = { failMalloc, failRealloc, failFree };
  KvCache *c = 0;
  KvCacheHandle *h = (KvCacheHandle*)&h;
  (void)state;
  nDeleted = 0;
  kvSetAllocHooks(&hooks);
  bFail = 1;
  assert_int_equal(kvCacheNew(1000, &c), KV_NOMEM);
  assert_null(c);
  bFail = 0;
  assert_int_equal(kvCacheNew(1000, &c), KV_OK);
  bFail = 1;
  assert_int_equal(kvCacheInsert(c, 1, 0, tvNew(1, 0), 10, tvDelete, &h),
                   KV_NOMEM);
  assert_null(h);
  assert_int_equal(nDeleted, 1);            /* value freed on failure */
  assert_non_null(strstr(kvErrMsg(), "cache"));
  /* Once memory is back the same cache works normally. */
  bFail = 0;
  put(c, 1, 0, 10);
  assert_int_equal(present(c, 1, 0), 1);
  kvCacheFree(c);
  kvSetAllocHooks(NULL);
  assert_int_equal(nDeleted, 2);
}

/* Many entries in one cache: bucket arrays grow, every key is found. */
static void test_many(void **state){
  KvCache *c = 0;
  KvCacheStats st;
  u64 i;
  (void)state;
  nDeleted = 0;
  assert_int_equal(kvCacheNew(1<<30, &c), KV_OK);
  for(i=0; i<20000; i++) put(c, i/100, (i%100)*4096, 1);
  for(i=0; i<20000; i++){
    assert_int_equal(present(c, i/100, (i%100)*4096), 1);
  }
  assert_int_equal(present(c, 200, 0), 0);
  kvCacheStats(c, &st);
  assert_int_equal(st.nEntry, 20000);
  assert_int_equal(st.nEvict, 0);
  kvCacheFree(c);
  assert_int_equal(nDeleted, 20000);
}

typedef struct Hammer Hammer;
struct Hammer {
  KvCache *c;
  int iThread;
  int nIter;
};

static void *hammerMain(void *pArg){
  Hammer *p = (Hammer*)pArg;
  u32 x = 0x9e3779b9u * (u32)(p->iThread + 1);
  KvCacheHandle *aHeld[4] = {0, 0, 0, 0};
  int i;
  for(i=0; i<p->nIter; i++){
    u64 iFile, iOff;
    KvCacheHandle *h;
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    iFile = x % 8;
    iOff = ((x >> 8) % 64) * 4096;
    h = kvCacheLookup(p->c, iFile, iOff);
    if( h==0 ){
      int rc = kvCacheInsert(p->c, iFile, iOff, tvNew(iFile, iOff),
                             1 + (x>>20)%64, tvDelete, &h);
      if( rc!=KV_OK ) return (void*)1;
    }
    {
      TestVal *v = kvCacheValue(h);
      if( v->magic!=TV_LIVE || v->iFile!=iFile || v->iOff!=iOff ){
        return (void*)1;
      }
    }
    /* Keep a few handles for a while so evictions meet pinned entries. */
    if( aHeld[i%4] ) kvCacheRelease(p->c, aHeld[i%4]);
    aHeld[i%4] = h;
    if( (x & 0xff)==0 ){
      KvCacheStats st;
      kvCacheStats(p->c, &st);
    }
  }
  for(i=0; i<4; i++){
    if( aHeld[i] ){
      TestVal *v = kvCacheValue(aHeld[i]);
      if( v->magic!=TV_LIVE ) return (void*)1;
      kvCacheRelease(p->c, aHeld[i]);
    }
  }
  return 0;
}

static void test_threads(void **state){
  KvCache *c = 0;
  pthread_t aTid[4];
  Hammer aArg[4];
  KvCacheStats st;
  int i;
  (void)state;
  nDeleted = 0;
  assert_int_equal(kvCacheNew(16*256, &c), KV_OK);
  for(i=0; i<4; i++){
    aArg[i].c = c;
    aArg[i].iThread = i;
    aArg[i].nIter = 50000;
    assert_int_equal(pthread_create(&aTid[i], 0, hammerMain, &aArg[i]), 0);
  }
  for(i=0; i<4; i++){
    void *pRet = (void*)1;
    assert_int_equal(pthread_join(aTid[i], &pRet), 0);
    assert_null(pRet);
  }
  kvCacheStats(c, &st);
  assert_int_equal(st.nHit + st.nMiss, 4*50000);
  assert_true(st.nEvict > 0);
  assert_true(st.nHit > 0);
  assert_true(st.nByte <= 16*256);
  assert_int_equal((u64)nDeleted + st.nEntry, st.nInsert);
  kvCacheFree(c);
  assert_int_equal((u64)nDeleted, st.nInsert);
  assert_int_equal(nBadDelete, 0);
}

/* Run last: no deleter in any test saw a freed or foreign value. */
static void test_no_bad_delete(void **state){
  (void)state;
  assert_int_equal(nBadDelete, 0);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_hit_miss),
    cmocka_unit_test(test_lru_order),
    cmocka_unit_test(test_capacity),
    cmocka_unit_test(test_referenced_not_freed),
    cmocka_unit_test(test_replace_while_held),
    cmocka_unit_test(test_capacity_zero),
    cmocka_unit_test(test_oom),
    cmocka_unit_test(test_many),
    cmocka_unit_test(test_threads),
    cmocka_unit_test(test_no_bad_delete),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
