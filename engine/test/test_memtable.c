/*
** test_memtable.c - unit tests of memtable.c: ordering, versions and
** snapshot reads, the iterator, concurrent readers with one writer, and
** allocation failure.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "kvInt.h"
#include "failalloc.h"

static u64 gRand = 0x9E3779B97F4A7C15ULL;
static u64 rnd(void){
  gRand ^= gRand >> 12; gRand ^= gRand << 25; gRand ^= gRand >> 27;
  return gRand * 2685821657736338717ULL;
}
static u32 rndN(u32 n){ return (u32)(rnd() % n); }

/* A reference entry: internal key and value, heap-allocated. */
typedef struct Ref Ref;
struct Ref {
  KvBuf ikey;
  KvBuf val;
};
static int refCmp(const void *a, const void *b){
  const Ref *x = a, *y = b;
  return kvIKeyCmp(x->ikey.a, x->ikey.n, y->ikey.a, y->ikey.n);
}
static void refFree(Ref *a, int n){
  int i;
  for(i=0; i<n; i++){ kvBufFree(&a[i].ikey); kvBufFree(&a[i].val); }
  free(a);
}

static void put(KvMem *m, const char *zKey, u64 seq, int eType,
                const char *zVal){
  assert_int_equal(kvMemAdd(m, seq, eType, (const u8*)zKey, strlen(zKey),
                            (const u8*)zVal, zVal ? strlen(zVal) : 0), KV_OK);
}

/* Expect kvMemGet(zKey, seq) to find eType/zVal, or nothing (eType -1). */
static void expectGet(KvMem *m, const char *zKey, u64 seq, int eType,
                      const char *zVal){
  int t = -1;
  const u8 *v = 0;
  size_t n = 0;
  int r = kvMemGet(m, (const u8*)zKey, strlen(zKey), seq, &t, &v, &n);
  if( eType<0 ){
    assert_int_equal(r, 0);
    return;
  }
  assert_int_equal(r, 1);
  assert_int_equal(t, eType);
  if( eType==KV_TYPE_PUT ){
    assert_int_equal(n, strlen(zVal));
    assert_memory_equal(v, zVal, n);
  }
}

static void test_versions(void **state){
  KvMem *m = 0;
  u64 s;
  (void)state;
  assert_int_equal(kvMemNew(&m), KV_OK);
  expectGet(m, "a", KV_MAX_SEQ, -1, 0);
  put(m, "a", 1, KV_TYPE_PUT, "v1");
  put(m, "a", 9, KV_TYPE_PUT, "v9");
  put(m, "a", 5, KV_TYPE_DEL, 0);
  put(m, "ab", 3, KV_TYPE_PUT, "ab3");
  put(m, "", 2, KV_TYPE_PUT, "empty");
  put(m, "A", 7, KV_TYPE_PUT, "");
  assert_int_equal(kvMemCount(m), 6);

  expectGet(m, "a", 0, -1, 0);
  for(s=1; s<5; s++) expectGet(m, "a", s, KV_TYPE_PUT, "v1");
  for(s=5; s<9; s++) expectGet(m, "a", s, KV_TYPE_DEL, 0);
  expectGet(m, "a", 9, KV_TYPE_PUT, "v9");
  expectGet(m, "a", KV_MAX_SEQ, KV_TYPE_PUT, "v9");
  /* A prefix or extension of a key is a different key. */
  expectGet(m, "ab", 2, -1, 0);
  expectGet(m, "ab", 3, KV_TYPE_PUT, "ab3");
  expectGet(m, "abc", KV_MAX_SEQ, -1, 0);
  expectGet(m, "", 1, -1, 0);
  expectGet(m, "", 2, KV_TYPE_PUT, "empty");
  expectGet(m, "A", 7, KV_TYPE_PUT, "");
  expectGet(m, "B", KV_MAX_SEQ, -1, 0);
  /* NULL out-parameters are allowed. */
  assert_int_equal(kvMemGet(m, (const u8*)"a", 1, 9, 0, 0, 0), 1);
  kvMemUnref(m);
}

/* Build a memtable and a sorted reference of nEnt random entries. Keys are
** drawn from nUser user keys so that many have several versions. With
** nRun>1 the entries are added in ascending runs of 1 to nRun entries
** (each run sorted by internal key, the next starting anywhere): the
** order a sorted batch applies them in, which kvMemAdd searches from the
** last node it linked. */
static KvMem *randomMem(int nEnt, int nUser, int nRun, Ref **paRef){
  KvMem *m = 0;
  Ref *aRef = calloc((size_t)nEnt + 1, sizeof(Ref));
  Ref *aRun = calloc((size_t)nEnt + 1, sizeof(Ref));
  int i, j, n;
  assert_non_null(aRef);
  assert_non_null(aRun);
  assert_int_equal(kvMemNew(&m), KV_OK);
  for(i=0; i<nEnt; i++){
    char zKey[32], zVal[64];
    int nKey = snprintf(zKey, sizeof(zKey), "key%u", rndN((u32)nUser));
    int nVal = snprintf(zVal, sizeof(zVal), "val-%d-%u", i, rndN(1000));
    int eType = rndN(4)==0 ? KV_TYPE_DEL : KV_TYPE_PUT;
    u64 seq = (u64)i + 1;
    if( eType==KV_TYPE_DEL ) nVal = 0;
    assert_int_equal(kvIKeyAppend(&aRef[i].ikey, (u8*)zKey, (size_t)nKey,
                                  seq, eType), KV_OK);
    assert_int_equal(kvBufSet(&aRef[i].val, zVal, (size_t)nVal), KV_OK);
  }
  /* Insertion order: runs of the generated order, each sorted. */
  memcpy(aRun, aRef, sizeof(Ref)*(size_t)nEnt);
  for(i=0; i<nEnt; i+=n){
    n = nRun>1 ? 1 + (int)rndN((u32)nRun) : 1;
    if( n>nEnt-i ) n = nEnt - i;
    qsort(&aRun[i], (size_t)n, sizeof(Ref), refCmp);
    for(j=i; j<i+n; j++){
      const KvBuf *k = &aRun[j].ikey;
      assert_int_equal(kvMemAdd(m, kvIKeySeq(k->a, k->n),
                                kvIKeyType(k->a, k->n), k->a,
                                k->n - KV_TRAILER, aRun[j].val.a,
                                aRun[j].val.n), KV_OK);
    }
  }
  free(aRun);
  qsort(aRef, (size_t)nEnt, sizeof(Ref), refCmp);
  *paRef = aRef;
  return m;
}

static void checkAt(KvIter *it, Ref *aRef, int nRef, int i){
  if( i<0 || i>=nRef ){
    assert_int_equal(kvIterValid(it), 0);
  }else{
    const u8 *k, *v;
    size_t nk, nv;
    assert_int_equal(kvIterValid(it), 1);
    kvIterKey(it, &k, &nk);
    kvIterValue(it, &v, &nv);
    assert_int_equal(nk, aRef[i].ikey.n);
    assert_memory_equal(k, aRef[i].ikey.a, nk);
    assert_int_equal(nv, aRef[i].val.n);
    if( nv ) assert_memory_equal(v, aRef[i].val.a, nv);
  }
}

/* Every entry in order forward and backward, and 20,000 random moves and
** seeks checked against the reference (seeks descend the upper levels). */
static void checkOrderAndIter(int nRun){
  const int nEnt = 3000;
  Ref *aRef;
  KvMem *m = randomMem(nEnt, 700, nRun, &aRef);
  KvIter *it = 0;
  int i, op, iPos;

  /* (searches only get slower, not wrong, when a level above 0 is
  ** mislinked: the shape is checked directly) */
  assert_int_equal(kvMemCheck(m), KV_OK);

  assert_int_equal(kvMemCount(m), (u64)nEnt);
  assert_int_equal(kvMemIterNew(m, &it), KV_OK);
  /* Dropping the creator's reference: the iterator keeps it alive. */
  kvMemUnref(m);

  assert_int_equal(it->pMethods->xFirst(it), KV_OK);
  for(i=0; i<nEnt; i++){
    checkAt(it, aRef, nEnt, i);
    assert_int_equal(it->pMethods->xNext(it), KV_OK);
  }
  checkAt(it, aRef, nEnt, nEnt);
  assert_int_equal(it->pMethods->xLast(it), KV_OK);
  for(i=nEnt-1; i>=0; i--){
    checkAt(it, aRef, nEnt, i);
    assert_int_equal(it->pMethods->xPrev(it), KV_OK);
  }
  checkAt(it, aRef, nEnt, -1);

  iPos = -1;
  for(op=0; op<20000; op++){
    u32 e = rndN(10);
    int bValid = iPos>=0 && iPos<nEnt;
    if( e==0 ){
      assert_int_equal(it->pMethods->xFirst(it), KV_OK);
      iPos = 0;
    }else if( e==1 ){
      assert_int_equal(it->pMethods->xLast(it), KV_OK);
      iPos = nEnt - 1;
    }else if( e<4 ){
      KvBuf t = {0, 0, 0};
      char zKey[32];
      int n = snprintf(zKey, sizeof(zKey), "key%u", rndN(720));
      int j = 0;
      assert_int_equal(kvIKeyAppend(&t, (u8*)zKey, (size_t)n,
                       rndN((u32)nEnt + 2), (int)rndN(2)), KV_OK);
      /* Binary search of the reference for the first entry >= t. */
      {
        int lo = 0, hi = nEnt;
        while( lo<hi ){
          int mid = (lo + hi)/2;
          if( kvIKeyCmp(aRef[mid].ikey.a, aRef[mid].ikey.n, t.a, t.n)<0 ){
            lo = mid + 1;
          }else{
            hi = mid;
          }
        }
        j = lo;
      }
      assert_int_equal(it->pMethods->xSeek(it, t.a, t.n), KV_OK);
      kvBufFree(&t);
      iPos = j;
    }else if( e<7 ){
      if( !bValid ) continue;
      assert_int_equal(it->pMethods->xNext(it), KV_OK);
      iPos++;
    }else{
      if( !bValid ) continue;
      assert_int_equal(it->pMethods->xPrev(it), KV_OK);
      iPos--;
    }
    if( iPos>nEnt ) iPos = nEnt;
    if( iPos<-1 ) iPos = -1;
    checkAt(it, aRef, nEnt, iPos);
  }
  it->pMethods->xClose(it);
  refFree(aRef, nEnt);
}

static void test_order_and_iter(void **state){
  (void)state;
  checkOrderAndIter(1);
}

/* Entries added in ascending runs (kvMemAdd's search from the last node
** it linked, and its fall back to a full search where a run starts below
** it) link every level as a random order does. */
static void test_ascending_runs(void **state){
  (void)state;
  checkOrderAndIter(40);
  checkOrderAndIter(3000);
}

/* kvMemGet at every snapshot agrees with a scan of the reference. */
static void test_get_snapshots(void **state){
  const int nEnt = 600;
  Ref *aRef;
  KvMem *m = randomMem(nEnt, 50, 1, &aRef);
  int u;
  (void)state;
  for(u=0; u<52; u++){
    char zKey[32];
    int nKey = snprintf(zKey, sizeof(zKey), "key%d", u);
    u64 seq;
    for(seq=0; seq<=(u64)nEnt+1; seq+=7){
      int t = -1, r, i, iWant = -1;
      const u8 *v = 0;
      size_t nv = 0;
      /* Reference: first entry of this user key with sequence <= seq. */
      for(i=0; i<nEnt; i++){
        if( kvUKeyCmp(aRef[i].ikey.a, aRef[i].ikey.n - 8,
                      (u8*)zKey, (size_t)nKey)==0
         && kvIKeySeq(aRef[i].ikey.a, aRef[i].ikey.n)<=seq ){
          iWant = i;
          break;
        }
      }
      r = kvMemGet(m, (u8*)zKey, (size_t)nKey, seq, &t, &v, &nv);
      if( iWant<0 ){
        assert_int_equal(r, 0);
      }else{
        assert_int_equal(r, 1);
        assert_int_equal(t, kvIKeyType(aRef[iWant].ikey.a,
                                       aRef[iWant].ikey.n));
        assert_int_equal(nv, aRef[iWant].val.n);
        if( nv ) assert_memory_equal(v, aRef[iWant].val.a, nv);
      }
    }
  }
  kvMemUnref(m);
  refFree(aRef, nEnt);
}

static void test_empty_and_big(void **state){
  KvMem *m = 0;
  KvIter *it = 0;
  size_t nUsage0, nUsage1;
  u8 *aBig;
  const size_t nBig = 1000000;
  const u8 *v;
  size_t nv;
  int t;
  (void)state;
  assert_int_equal(kvMemNew(&m), KV_OK);
  assert_int_equal(kvMemIterNew(m, &it), KV_OK);
  assert_int_equal(it->pMethods->xFirst(it), KV_OK);
  assert_int_equal(kvIterValid(it), 0);
  assert_int_equal(it->pMethods->xLast(it), KV_OK);
  assert_int_equal(kvIterValid(it), 0);

  nUsage0 = kvMemUsage(m);
  assert_true( nUsage0>0 );
  aBig = malloc(nBig);
  assert_non_null(aBig);
  memset(aBig, 'x', nBig);
  aBig[nBig-1] = 'y';
  put(m, "small", 1, KV_TYPE_PUT, "s");
  /* Usage counts bytes handed out, not the block's unused tail. */
  assert_true( kvMemUsage(m)>nUsage0 );
  assert_true( kvMemUsage(m)<nUsage0 + 256 );
  nUsage0 = kvMemUsage(m);
  assert_int_equal(kvMemAdd(m, 2, KV_TYPE_PUT, (u8*)"big", 3, aBig, nBig),
                   KV_OK);
  nUsage1 = kvMemUsage(m);
  assert_true( nUsage1>=nUsage0 + nBig );
  assert_true( nUsage1<nUsage0 + nBig + 1024 );
  /* The current block keeps serving small entries. */
  put(m, "small2", 3, KV_TYPE_PUT, "s");
  assert_true( kvMemUsage(m)>nUsage1 && kvMemUsage(m)<nUsage1 + 256 );
  assert_int_equal(kvMemGet(m, (u8*)"big", 3, 5, &t, &v, &nv), 1);
  assert_int_equal(nv, nBig);
  assert_memory_equal(v, aBig, nBig);
  assert_int_equal(it->pMethods->xLast(it), KV_OK);
  assert_int_equal(kvIterValid(it), 1);
  kvIterValue(it, &v, &nv);
  assert_int_equal(nv, 1);                   /* "small2" */
  it->pMethods->xClose(it);
  kvMemUnref(m);
  free(aBig);
}

/* ---------------------------------------------------------------------- */
/* One writer, two readers.                                                */

#define CONC_N 20000
typedef struct Conc Conc;
struct Conc {
  KvMem *m;
  _Atomic int nDone;            /* entries the writer has added */
  _Atomic int bStop;
  _Atomic int nReady;           /* readers started */
  int nScan;                    /* per reader: scans completed */
  int nBad;                     /* per reader: violations seen */
};

/* Key i maps to a scrambled key so inserts land all over the list. */
static int concKey(int i, char *z){
  return sprintf(z, "%08x", (unsigned)((u32)i * 2654435761u));
}

static void *concWriter(void *pArg){
  Conc *p = pArg;
  int i;
  /* Start only when both readers run, and yield now and then, so that
  ** the reads really overlap the inserts. */
  while( atomic_load(&p->nReady)<2 ) sched_yield();
  for(i=0; i<CONC_N; i++){
    char zKey[16];
    int n = concKey(i, zKey);
    /* The value repeats the key: readers check that they match. */
    if( kvMemAdd(p->m, (u64)i + 1, KV_TYPE_PUT, (u8*)zKey, (size_t)n,
                 (u8*)zKey, (size_t)n)!=KV_OK ) break;
    atomic_store_explicit(&p->nDone, i + 1, memory_order_release);
    if( (i % 64)==0 ) sched_yield();
  }
  atomic_store(&p->bStop, 1);
  return 0;
}

typedef struct Reader Reader;
struct Reader {
  Conc *p;
  int nScan;
  int nBad;
  u64 iRand;
};

static void *concReader(void *pArg){
  Reader *r = pArg;
  Conc *p = r->p;
  KvIter *it = 0;
  int nLast = 0;
  if( kvMemIterNew(p->m, &it)!=KV_OK ){ r->nBad++; return 0; }
  atomic_fetch_add(&p->nReady, 1);
  for(;;){
    int bStop = atomic_load(&p->bStop);
    int nBefore = atomic_load_explicit(&p->nDone, memory_order_acquire);
    int nSeen = 0;
    u8 aPrev[64];
    size_t nPrev = 0;
    int j;
    /* A scan in one direction or the other: must be sorted and hold at
    ** least everything published before it started. */
    if( r->nScan & 1 ){
      it->pMethods->xFirst(it);
    }else{
      it->pMethods->xLast(it);
    }
    while( kvIterValid(it) ){
      const u8 *k, *v;
      size_t nk, nv;
      kvIterKey(it, &k, &nk);
      kvIterValue(it, &v, &nv);
      if( nk!=16 || nv!=8 || memcmp(k, v, 8)!=0 ) r->nBad++;
      if( nPrev>0 ){
        int c = kvIKeyCmp(aPrev, nPrev, k, nk);
        if( (r->nScan & 1) ? c>=0 : c<=0 ) r->nBad++;
      }
      if( nk<=sizeof(aPrev) ){ memcpy(aPrev, k, nk); nPrev = nk; }
      nSeen++;
      if( r->nScan & 1 ) it->pMethods->xNext(it);
      else it->pMethods->xPrev(it);
    }
    if( nSeen<nBefore || nSeen<nLast ) r->nBad++;
    nLast = nSeen;
    /* Point reads of published keys must succeed. */
    for(j=0; j<50 && nBefore>0; j++){
      char zKey[16];
      int i, n, t = -1;
      const u8 *v = 0;
      size_t nv = 0;
      r->iRand = r->iRand*6364136223846793005ULL + 1442695040888963407ULL;
      i = (int)((r->iRand >> 33) % (u64)nBefore);
      n = concKey(i, zKey);
      /* an entry added before nDone moved is in the key filter too */
      if( !kvMemMayHave(p->m, kvBloomHash((u8*)zKey, (size_t)n)) ) r->nBad++;
      if( kvMemGet(p->m, (u8*)zKey, (size_t)n, KV_MAX_SEQ, &t, &v, &nv)!=1
       || t!=KV_TYPE_PUT || nv!=(size_t)n || memcmp(v, zKey, nv)!=0 ){
        r->nBad++;
      }
    }
    r->nScan++;
    if( bStop ) break;
  }
  it->pMethods->xClose(it);
  if( nLast!=CONC_N ) r->nBad++;
  return 0;
}

/* Readers beside the writer, in a memtable without a key filter and in
** one with (made from a pool). */
static void runConcurrent(KvMemPool *pPool){
  Conc c;
  Reader ar[2];
  pthread_t w, rt[2];
  int i;
  memset(&c, 0, sizeof(c));
  assert_int_equal(kvMemNewPooled(pPool, &c.m), KV_OK);
  for(i=0; i<2; i++){
    memset(&ar[i], 0, sizeof(ar[i]));
    ar[i].p = &c;
    ar[i].iRand = (u64)i + 17;
    assert_int_equal(pthread_create(&rt[i], 0, concReader, &ar[i]), 0);
  }
  assert_int_equal(pthread_create(&w, 0, concWriter, &c), 0);
  assert_int_equal(pthread_join(w, 0), 0);
  for(i=0; i<2; i++){
    assert_int_equal(pthread_join(rt[i], 0), 0);
    assert_int_equal(ar[i].nBad, 0);
    assert_true( ar[i].nScan>=2 );
  }
  assert_int_equal(kvMemCount(c.m), CONC_N);
  kvMemUnref(c.m);
}

static void test_concurrent(void **state){
  KvMemPool *pPool = 0;
  (void)state;
  runConcurrent(0);
  assert_int_equal(kvMemPoolNew(4<<20, &pPool), KV_OK);
  runConcurrent(pPool);
  kvMemPoolUnref(pPool);
}

/* ---------------------------------------------------------------------- */
/* Key filter.                                                             */

static int mayHave(KvMem *m, const char *z){
  return kvMemMayHave(m, kvBloomHash((const u8*)z, strlen(z)));
}

/* A memtable made from a pool answers "not here" for most absent keys and
** never for a key it holds (puts and point deletes, empty key too); one
** made without a pool, or from a pool too small for more than one filter
** line, is right as well. */
static void test_key_filter(void **state){
  const int nKey = 20000;                /* about 1 MiB of a 4 MiB pool */
  size_t aPool[2] = { 4<<20, 1 };
  int iPool;
  (void)state;
  for(iPool=0; iPool<2; iPool++){
    KvMemPool *pPool = 0;
    KvMem *m = 0, *mPlain = 0;
    char z[32];
    int i, nNo = 0;
    assert_int_equal(kvMemPoolNew(aPool[iPool], &pPool), KV_OK);
    assert_int_equal(kvMemNewPooled(pPool, &m), KV_OK);
    assert_int_equal(kvMemNew(&mPlain), KV_OK);
    assert_int_equal(mayHave(m, "k000001"), 0);     /* empty */
    for(i=0; i<nKey; i++){
      snprintf(z, sizeof(z), "k%06d", i);
      assert_int_equal(kvMemAdd(m, (u64)i + 1,
                                i%10==0 ? KV_TYPE_DEL : KV_TYPE_PUT,
                                (u8*)z, strlen(z), (u8*)z, strlen(z)), KV_OK);
    }
    assert_int_equal(kvMemAdd(m, (u64)nKey + 1, KV_TYPE_PUT, (u8*)"", 0,
                              (u8*)"e", 1), KV_OK);
    for(i=0; i<nKey; i++){
      snprintf(z, sizeof(z), "k%06d", i);
      assert_int_equal(mayHave(m, z), 1);
    }
    assert_int_equal(mayHave(m, ""), 1);
    for(i=0; i<nKey; i++){
      snprintf(z, sizeof(z), "a%06d", i);
      nNo += !mayHave(m, z);
      assert_int_equal(mayHave(mPlain, z), 1);
    }
    if( iPool==0 ){
      assert_true(nNo>=nKey*9/10);       /* about 13 bits a key */
    }else{
      assert_true(nNo<nKey/10);          /* one line holds too few bits */
    }
    kvMemUnref(m);
    kvMemUnref(mPlain);
    kvMemPoolUnref(pPool);
  }
}

/* ---------------------------------------------------------------------- */
/* Allocation failure.                                                     */

/* failallocArm(n + 1, 1): n allocations succeed, then every one fails;
** failallocArm(0, 0): none fails. */
static void test_oom(void **state){
  KvMem *m = 0;
  KvIter *it = 0;
  int nFail, rc, i;
  size_t nUsage;
  u8 aVal[100];
  (void)state;
  memset(aVal, 'v', sizeof(aVal));
  failallocInstall(0, 0);

  /* kvMemNew fails cleanly at every allocation. */
  for(nFail=0; ; nFail++){
    failallocArm(nFail + 1, 1);
    rc = kvMemNew(&m);
    failallocArm(0, 0);
    if( rc==KV_OK ) break;
    assert_int_equal(rc, KV_NOMEM);
    assert_null(m);
    assert_int_equal(failallocOutstanding(), 0);
  }
  assert_true( nFail>=1 );

  /* Fill the first block until an add needs a new one, with allocation
  ** failing: the add fails and the memtable is unchanged. */
  nUsage = kvMemUsage(m);
  failallocArm(1, 1);
  for(i=0; ; i++){
    char zKey[16];
    int n = snprintf(zKey, sizeof(zKey), "k%05d", i);
    rc = kvMemAdd(m, (u64)i + 1, KV_TYPE_PUT, (u8*)zKey, (size_t)n,
                  aVal, sizeof(aVal));
    if( rc!=KV_OK ) break;
    nUsage = kvMemUsage(m);
  }
  assert_int_equal(rc, KV_NOMEM);
  assert_non_null(strstr(kvErrMsg(), "out of memory"));
  assert_int_equal(kvMemCount(m), (u64)i);
  assert_int_equal(kvMemUsage(m), nUsage);
  /* A big entry needs its own block: fails too. */
  {
    static u8 aBig[100000];
    assert_int_equal(kvMemAdd(m, 1000000, KV_TYPE_PUT, (u8*)"big2", 4,
                              aBig, sizeof(aBig)), KV_NOMEM);
  }
  assert_int_equal(kvMemIterNew(m, &it), KV_NOMEM);
  assert_null(it);
  failallocArm(0, 0);

  /* Everything that was added is intact and in order. */
  assert_int_equal(kvMemIterNew(m, &it), KV_OK);
  assert_int_equal(it->pMethods->xFirst(it), KV_OK);
  {
    int nSeen = 0;
    while( kvIterValid(it) ){
      nSeen++;
      assert_int_equal(it->pMethods->xNext(it), KV_OK);
    }
    assert_int_equal(nSeen, i);
  }
  /* Adding works again once memory is back. */
  assert_int_equal(kvMemAdd(m, 1000001, KV_TYPE_PUT, (u8*)"zz", 2,
                            aVal, sizeof(aVal)), KV_OK);
  it->pMethods->xClose(it);
  kvMemUnref(m);
  assert_int_equal(failallocOutstanding(), 0);
  failallocRemove();
}

/* Fill m with nEnt puts "p<tag>-<i>" (values "v<tag>-<i>" padded to 100
** bytes) at sequences from seq0, in a scattered order. */
static void fillTagged(KvMem *m, char cTag, int nEnt, u64 seq0){
  int i;
  for(i=0; i<nEnt; i++){
    char zKey[32], zVal[128];
    int j = (int)(((u64)i*7919) % (u64)nEnt);   /* nEnt not a multiple */
    int n = snprintf(zKey, sizeof(zKey), "p%c-%06d", cTag, j);
    memset(zVal, cTag, sizeof(zVal));
    snprintf(zVal, sizeof(zVal), "v%c-%06d", cTag, j);
    assert_int_equal(kvMemAdd(m, seq0 + (u64)i, KV_TYPE_PUT, (u8*)zKey,
                              (size_t)n, (u8*)zVal, 100), KV_OK);
  }
}

/* Every key of tag cTag is in m, in order, and nothing else. */
static void expectOnlyTagged(KvMem *m, char cTag, int nEnt){
  KvIter *it = 0;
  int i = 0;
  assert_int_equal(kvMemCount(m), (u64)nEnt);
  assert_int_equal(kvMemIterNew(m, &it), KV_OK);
  assert_int_equal(it->pMethods->xFirst(it), KV_OK);
  while( kvIterValid(it) ){
    char zKey[32], zVal[128];
    const u8 *k;
    size_t nk;
    int n = snprintf(zKey, sizeof(zKey), "p%c-%06d", cTag, i);
    memset(zVal, cTag, sizeof(zVal));
    snprintf(zVal, sizeof(zVal), "v%c-%06d", cTag, i);
    kvIterKey(it, &k, &nk);
    assert_int_equal(nk, (size_t)n + KV_TRAILER);
    assert_memory_equal(k, zKey, (size_t)n);
    {
      size_t nv;
      const u8 *v;
      kvIterValue(it, &v, &nv);
      assert_int_equal(nv, 100);
      assert_memory_equal(v, zVal, 100);
    }
    i++;
    assert_int_equal(it->pMethods->xNext(it), KV_OK);
  }
  assert_int_equal(i, nEnt);
  it->pMethods->xClose(it);
}

/*
** A memtable made from a pool reuses the blocks of one freed before it:
** it holds only its own entries (none of the old ones, which are still in
** the recycled memory), orders and finds every key, and counts its usage
** from zero. The pool keeps no more than its limit; the blocks live until
** the pool and every memtable of it are gone (no leak, none freed early).
*/
static void test_pool_reuse(void **state){
  const int nEnt = 20000;                 /* about 3 MiB of arena */
  KvMemPool *pPool = 0;
  KvMem *m1 = 0, *m2 = 0, *m3 = 0;
  size_t nUsage1, nKept;
  int i, nMallocs;
  (void)state;
  failallocInstall(0, 0);
  assert_int_equal(kvMemPoolNew(8<<20, &pPool), KV_OK);
  assert_int_equal(kvMemPoolBytes(pPool), 0);

  assert_int_equal(kvMemNewPooled(pPool, &m1), KV_OK);
  fillTagged(m1, 'a', nEnt, 1);
  nUsage1 = kvMemUsage(m1);
  expectOnlyTagged(m1, 'a', nEnt);
  kvMemUnref(m1);
  nKept = kvMemPoolBytes(pPool);
  assert_true(nKept>=nUsage1);             /* every block came back */
  assert_true(nKept<=nUsage1 + (128<<10));

  /* The next memtable takes them: no new allocation for its arena. */
  nMallocs = failallocCount();
  assert_int_equal(kvMemNewPooled(pPool, &m2), KV_OK);
  fillTagged(m2, 'b', nEnt/2, 1000000);
  assert_true(failallocCount() - nMallocs <= 2);  /* the KvMem itself */
  assert_true(kvMemPoolBytes(pPool) < nKept);
  assert_true(kvMemUsage(m2) < nUsage1);   /* counted from zero */
  expectOnlyTagged(m2, 'b', nEnt/2);
  for(i=0; i<nEnt; i+=97){
    char zKey[32], zVal[128];
    snprintf(zKey, sizeof(zKey), "pa-%06d", i);
    expectGet(m2, zKey, KV_MAX_SEQ, -1, 0);     /* an old key: gone */
    if( i<nEnt/2 ){
      snprintf(zKey, sizeof(zKey), "pb-%06d", i);
      snprintf(zVal, sizeof(zVal), "vb-%06d", i);
      {
        int t = -1;
        const u8 *v = 0;
        size_t n = 0;
        assert_int_equal(kvMemGet(m2, (u8*)zKey, strlen(zKey), KV_MAX_SEQ,
                                  &t, &v, &n), 1);
        assert_int_equal(t, KV_TYPE_PUT);
        assert_int_equal(n, 100);
        assert_memory_equal(v, zVal, strlen(zVal));
      }
    }
  }

  /* A small limit: the pool keeps no more than it. */
  kvMemUnref(m2);
  kvMemPoolUnref(pPool);                   /* blocks freed with it */
  assert_int_equal(failallocOutstanding(), 0);
  assert_int_equal(kvMemPoolNew(256<<10, &pPool), KV_OK);
  assert_int_equal(kvMemNewPooled(pPool, &m3), KV_OK);
  fillTagged(m3, 'c', nEnt, 1);
  kvMemUnref(m3);
  assert_int_equal(kvMemPoolBytes(pPool), 256<<10);
  assert_int_equal(failallocOutstanding(), 4 + 1);   /* 4 blocks, the pool */
  /* The creator lets go first: the memtable keeps the pool alive. */
  assert_int_equal(kvMemNewPooled(pPool, &m3), KV_OK);
  fillTagged(m3, 'd', nEnt, 1);
  kvMemPoolUnref(pPool);
  expectOnlyTagged(m3, 'd', nEnt);
  kvMemUnref(m3);
  assert_int_equal(failallocOutstanding(), 0);
  failallocRemove();
}

/*
** Nodes keep the first 16 bytes of their key for comparisons, as two
** words: keys that tie in either word or both (short keys, zero bytes,
** keys that are prefixes of each other, shared heads of 12 and 20 bytes)
** must still order as kvIKeyCmp says, and every one must be found. Keys
** are drawn from a small alphabet with 0x00 and 0xFF so that ties and
** padding cases are frequent.
*/
static void test_prefix_ties(void **state){
  const int nEnt = 4000;
  static const u8 aAlpha[] = { 0x00, 0x01, 'a', 0x7F, 0x80, 0xFF };
  Ref *aRef = calloc((size_t)nEnt, sizeof(Ref));
  KvMem *m = 0;
  KvIter *it = 0;
  int i, nDistinct = 0;
  (void)state;
  assert_non_null(aRef);
  assert_int_equal(kvMemNew(&m), KV_OK);
  for(i=0; i<nEnt; i++){
    u8 aKey[32];
    u8 aVal[8];
    int nKey = (int)rndN(28), j;
    int nShared = (int)rndN(3)==0 ? 12 : (int)rndN(3)==0 ? 20 : 0;
    for(j=0; j<nKey; j++){
      aKey[j] = j<nShared ? (u8)'k' : aAlpha[rndN(sizeof(aAlpha))];
    }
    kvPut64(aVal, (u64)i);
    assert_int_equal(kvMemAdd(m, (u64)i + 1, KV_TYPE_PUT, aKey,
                              (size_t)nKey, aVal, 8), KV_OK);
    assert_int_equal(kvIKeyAppend(&aRef[i].ikey, aKey, (size_t)nKey,
                                  (u64)i + 1, KV_TYPE_PUT), KV_OK);
    assert_int_equal(kvBufAppend(&aRef[i].val, aVal, 8), KV_OK);
  }
  qsort(aRef, (size_t)nEnt, sizeof(Ref), refCmp);
  /* the iterator yields exactly the sorted reference */
  assert_int_equal(kvMemIterNew(m, &it), KV_OK);
  assert_int_equal(it->pMethods->xFirst(it), KV_OK);
  for(i=0; i<nEnt; i++) {
    checkAt(it, aRef, nEnt, i);
    assert_int_equal(it->pMethods->xNext(it), KV_OK);
  }
  checkAt(it, aRef, nEnt, nEnt);
  it->pMethods->xClose(it);
  /* each distinct user key: its newest version is found */
  for(i=0; i<nEnt; i++){
    size_t nU = aRef[i].ikey.n - KV_TRAILER;
    const u8 *v = 0;
    size_t nv = 0;
    int t = -1;
    if( i>0 && kvUKeyCmp(aRef[i-1].ikey.a, aRef[i-1].ikey.n - KV_TRAILER,
                         aRef[i].ikey.a, nU)==0 ){
      continue;                       /* an older version of the same key */
    }
    nDistinct++;
    assert_int_equal(kvMemGet(m, aRef[i].ikey.a, nU, KV_MAX_SEQ, &t, &v,
                              &nv), 1);
    assert_int_equal(nv, 8);
    assert_memory_equal(v, aRef[i].val.a, 8);
  }
  assert_true(nDistinct>100);
  kvMemUnref(m);
  refFree(aRef, nEnt);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_versions),
    cmocka_unit_test(test_order_and_iter),
    cmocka_unit_test(test_ascending_runs),
    cmocka_unit_test(test_get_snapshots),
    cmocka_unit_test(test_empty_and_big),
    cmocka_unit_test(test_concurrent),
    cmocka_unit_test(test_oom),
    cmocka_unit_test(test_pool_reuse),
    cmocka_unit_test(test_key_filter),
    cmocka_unit_test(test_prefix_ties),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
