/*
** test_iter.c - unit tests of iter.c: internal key encoding and order, and
** the merging iterator checked against a brute-force sorted array.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "kvInt.h"

/* Deterministic PRNG (xorshift64*). */
static u64 gRand = 88172645463325252ULL;
static u64 rnd(void){
  gRand ^= gRand >> 12; gRand ^= gRand << 25; gRand ^= gRand >> 27;
  return gRand * 2685821657736338717ULL;
}
static u32 rndN(u32 n){ return (u32)(rnd() % n); }

/* ---------------------------------------------------------------------- */
/* A child iterator over a sorted array of internal keys (test helper).   */

typedef struct Ent Ent;
struct Ent {
  u8 aKey[32];                  /* internal key */
  size_t nKey;
  u8 aVal[16];
  size_t nVal;
  int iChild;                   /* which child holds it */
};

typedef struct ArrIter ArrIter;
struct ArrIter {
  KvIter base;
  Ent *aEnt;                    /* sorted by internal key */
  int nEnt;
  int i;                        /* current, or -1/nEnt when invalid */
  int nFailAfter;               /* fail the move after this many (or -1) */
  int *pnClosed;                /* incremented at close */
  u8 aScratch[32];              /* gScratchKeys: the current key's copy */
};

/* When set, children report their key from one buffer that every move
** rewrites (as an SSTable cursor does), so a merge that used a key after
** its child moved would see another key. */
static int gScratchKeys = 0;

static int arrValid(ArrIter *p){
  return p->i>=0 && p->i<p->nEnt;
}
/* After every move: maybe fail, then publish the current entry. */
static int arrFail(ArrIter *p){
  int rc = KV_OK;
  memset(p->aScratch, 0xee, sizeof(p->aScratch));
  if( arrValid(p) ){
    memcpy(p->aScratch, p->aEnt[p->i].aKey, p->aEnt[p->i].nKey);
  }
  if( p->nFailAfter==0 ){
    p->i = -1;
    rc = kvErr(KV_IOERR, "kvstore: injected failure");
  }else if( p->nFailAfter>0 ){
    p->nFailAfter--;
  }
  if( arrValid(p) ){
    const Ent *e = &p->aEnt[p->i];
    kvIterSet(&p->base, gScratchKeys ? p->aScratch : e->aKey, e->nKey,
              e->aVal, e->nVal);
  }else{
    kvIterSetInvalid(&p->base);
  }
  return rc;
}
static int arrFirst(KvIter *pI){
  ArrIter *p = (ArrIter*)pI;
  p->i = 0;
  return arrFail(p);
}
static int arrLast(KvIter *pI){
  ArrIter *p = (ArrIter*)pI;
  p->i = p->nEnt - 1;
  return arrFail(p);
}
static int arrSeek(KvIter *pI, const u8 *k, size_t n){
  ArrIter *p = (ArrIter*)pI;
  int i = 0;
  while( i<p->nEnt && kvIKeyCmp(p->aEnt[i].aKey, p->aEnt[i].nKey, k, n)<0 ){
    i++;
  }
  p->i = i;
  return arrFail(p);
}
static int arrNext(KvIter *pI){
  ArrIter *p = (ArrIter*)pI;
  assert_true( p->i>=0 && p->i<p->nEnt );
  p->i++;
  return arrFail(p);
}
static int arrPrev(KvIter *pI){
  ArrIter *p = (ArrIter*)pI;
  assert_true( p->i>=0 && p->i<p->nEnt );
  p->i--;
  return arrFail(p);
}
static void arrClose(KvIter *pI){
  ArrIter *p = (ArrIter*)pI;
  if( p->pnClosed ) (*p->pnClosed)++;
  free(p->aEnt);
  free(p);
}
static const KvIterMethods arrMethods = {
  arrFirst, arrLast, arrSeek, arrNext, arrPrev, arrClose
};

static int entCmp(const void *a, const void *b){
  const Ent *x = a, *y = b;
  int c = kvIKeyCmp(x->aKey, x->nKey, y->aKey, y->nKey);
  if( c==0 ) c = x->iChild - y->iChild;
  return c;
}

/* Build an internal key in e from a user key index and a seq. */
static void makeEnt(Ent *e, u32 iUser, u64 seq, int eType, int iChild){
  KvBuf b = {0, 0, 0};
  char zKey[16];
  /* Keys of different lengths, with shared prefixes. */
  int n = snprintf(zKey, sizeof(zKey), "k%u", iUser);
  assert_int_equal(kvIKeyAppend(&b, (u8*)zKey, (size_t)n, seq, eType), KV_OK);
  assert_true( b.n<=sizeof(e->aKey) );
  memcpy(e->aKey, b.a, b.n);
  e->nKey = b.n;
  e->nVal = (size_t)snprintf((char*)e->aVal, sizeof(e->aVal), "c%d", iChild);
  e->iChild = iChild;
  kvBufFree(&b);
}

static ArrIter *arrNew(Ent *aEnt, int nEnt, int *pnClosed){
  ArrIter *p = calloc(1, sizeof(*p));
  assert_non_null(p);
  p->base.pMethods = &arrMethods;
  p->aEnt = malloc(sizeof(Ent) * (size_t)(nEnt>0 ? nEnt : 1));
  assert_non_null(p->aEnt);
  if( nEnt>0 ) memcpy(p->aEnt, aEnt, sizeof(Ent)*(size_t)nEnt);
  qsort(p->aEnt, (size_t)nEnt, sizeof(Ent), entCmp);
  p->nEnt = nEnt;
  p->i = -1;
  p->nFailAfter = -1;
  p->pnClosed = pnClosed;
  return p;
}

/* ---------------------------------------------------------------------- */

static void test_ikey_order(void **state){
  KvBuf a = {0, 0, 0}, b = {0, 0, 0};
  (void)state;
  assert_true( kvUKeyCmp((const u8*)"abc", 3, (const u8*)"abd", 3)<0 );
  assert_true( kvUKeyCmp((const u8*)"ab", 2, (const u8*)"abc", 3)<0 );
  assert_true( kvUKeyCmp((const u8*)"abc", 3, (const u8*)"ab", 2)>0 );
  assert_int_equal( kvUKeyCmp((const u8*)"", 0, (const u8*)"", 0), 0 );
  assert_true( kvUKeyCmp((const u8*)"", 0, (const u8*)"\0", 1)<0 );
  assert_true( kvUKeyCmp((const u8*)"\xff", 1, (const u8*)"\x01", 1)>0 );

  assert_int_equal(kvIKeyAppend(&a, (const u8*)"key", 3, 7, KV_TYPE_PUT), 0);
  assert_int_equal(a.n, 11);
  assert_int_equal(kvIKeySeq(a.a, a.n), 7);
  assert_int_equal(kvIKeyType(a.a, a.n), KV_TYPE_PUT);
  assert_memory_equal(a.a, "key", 3);
  assert_int_equal(kvGet64(a.a+3), (7<<8)|1);

  /* Same user key: higher sequence first. */
  assert_int_equal(kvIKeyAppend(&b, (const u8*)"key", 3, 9, KV_TYPE_DEL), 0);
  assert_true( kvIKeyCmp(b.a, b.n, a.a, a.n)<0 );
  assert_true( kvIKeyCmp(a.a, a.n, b.a, b.n)>0 );
  assert_int_equal( kvIKeyCmp(a.a, a.n, a.a, a.n), 0 );
  /* Same sequence: PUT before DEL (larger trailer first). */
  b.n = 0;
  assert_int_equal(kvIKeyAppend(&b, (const u8*)"key", 3, 7, KV_TYPE_DEL), 0);
  assert_true( kvIKeyCmp(a.a, a.n, b.a, b.n)<0 );
  /* User key dominates the sequence. */
  b.n = 0;
  assert_int_equal(kvIKeyAppend(&b, (const u8*)"kex", 3, KV_MAX_SEQ,
                                KV_TYPE_PUT), 0);
  assert_true( kvIKeyCmp(b.a, b.n, a.a, a.n)<0 );
  /* Prefix user key sorts first whatever its trailer. */
  b.n = 0;
  assert_int_equal(kvIKeyAppend(&b, (const u8*)"ke", 2, 0, KV_TYPE_DEL), 0);
  assert_true( kvIKeyCmp(b.a, b.n, a.a, a.n)<0 );
  /* Empty user key. */
  b.n = 0;
  assert_int_equal(kvIKeyAppend(&b, 0, 0, 1, KV_TYPE_PUT), 0);
  assert_int_equal(b.n, 8);
  assert_true( kvIKeyCmp(b.a, b.n, a.a, a.n)<0 );
  kvBufFree(&a);
  kvBufFree(&b);
}

/* The merge's current entry must be ref[i] (or invalid when i is out of
** range). */
static void checkAt(KvIter *m, Ent *aRef, int nRef, int i){
  if( i<0 || i>=nRef ){
    assert_int_equal(kvIterValid(m), 0);
  }else{
    const u8 *k, *v;
    size_t nk, nv;
    assert_int_equal(kvIterValid(m), 1);
    kvIterKey(m, &k, &nk);
    kvIterValue(m, &v, &nv);
    assert_int_equal(nk, aRef[i].nKey);
    assert_memory_equal(k, aRef[i].aKey, nk);
    assert_int_equal(nv, aRef[i].nVal);
    assert_memory_equal(v, aRef[i].aVal, nv);
  }
}

/* Build nChild children with random contents; also fill the reference. */
static KvIter *randomMerge(int nChild, int nUser, int nPer, int bDupes,
                           Ent **paRef, int *pnRef, int *pnClosed){
  KvIter *apChild[32];
  Ent *aRef = malloc(sizeof(Ent) * (size_t)(nChild*nPer + 1));
  int nRef = 0;
  KvIter *m = 0;
  int c;
  assert_true( nChild<=32 );
  assert_non_null(aRef);
  for(c=0; c<nChild; c++){
    Ent *aEnt = malloc(sizeof(Ent) * (size_t)(nPer + 1));
    int nEnt = 0;
    int n = nPer>0 ? (int)rndN((u32)nPer + 1) : 0;
    int j;
    assert_non_null(aEnt);
    for(j=0; j<n; j++){
      Ent e;
      u32 iUser = rndN((u32)nUser);
      u64 seq = bDupes ? rndN(3) : (u64)(c*100000 + j + 1);
      int k;
      int bSeen = 0;
      makeEnt(&e, iUser, seq, (int)rndN(2), c);
      /* One child never holds an internal key twice. */
      for(k=0; k<nEnt; k++){
        if( kvIKeyCmp(aEnt[k].aKey, aEnt[k].nKey, e.aKey, e.nKey)==0 ){
          bSeen = 1;
        }
      }
      if( bSeen ) continue;
      aEnt[nEnt++] = e;
      aRef[nRef++] = e;
    }
    apChild[c] = &arrNew(aEnt, nEnt, pnClosed)->base;
    free(aEnt);
  }
  qsort(aRef, (size_t)nRef, sizeof(Ent), entCmp);
  assert_int_equal(kvMergeIterNew(apChild, nChild, &m), KV_OK);
  assert_non_null(m);
  *paRef = aRef;
  *pnRef = nRef;
  return m;
}

static void runRandom(int nChild, int nUser, int nPer, int bDupes, int nOp){
  Ent *aRef;
  int nRef;
  int nClosed = 0;
  KvIter *m = randomMerge(nChild, nUser, nPer, bDupes, &aRef, &nRef,
                          &nClosed);
  int iPos = -1;
  int op;

  /* Full scans both ways first. */
  assert_int_equal(m->pMethods->xFirst(m), KV_OK);
  for(iPos=0; iPos<nRef; iPos++){
    checkAt(m, aRef, nRef, iPos);
    assert_int_equal(m->pMethods->xNext(m), KV_OK);
  }
  checkAt(m, aRef, nRef, nRef);
  assert_int_equal(m->pMethods->xLast(m), KV_OK);
  for(iPos=nRef-1; iPos>=0; iPos--){
    checkAt(m, aRef, nRef, iPos);
    assert_int_equal(m->pMethods->xPrev(m), KV_OK);
  }
  checkAt(m, aRef, nRef, -1);

  iPos = -1;
  for(op=0; op<nOp; op++){
    u32 e = rndN(10);
    int bValid = iPos>=0 && iPos<nRef;
    if( e==0 ){
      assert_int_equal(m->pMethods->xFirst(m), KV_OK);
      iPos = 0;
    }else if( e==1 ){
      assert_int_equal(m->pMethods->xLast(m), KV_OK);
      iPos = nRef - 1;
    }else if( e==2 ){
      Ent t;
      int i = 0;
      makeEnt(&t, rndN((u32)nUser+2), rndN(4), (int)rndN(2), 0);
      while( i<nRef && kvIKeyCmp(aRef[i].aKey, aRef[i].nKey,
                                 t.aKey, t.nKey)<0 ) i++;
      assert_int_equal(m->pMethods->xSeek(m, t.aKey, t.nKey), KV_OK);
      iPos = i;
    }else if( e<7 ){
      if( !bValid ) continue;
      assert_int_equal(m->pMethods->xNext(m), KV_OK);
      iPos++;
    }else{
      if( !bValid ) continue;
      assert_int_equal(m->pMethods->xPrev(m), KV_OK);
      iPos--;
    }
    if( iPos>=nRef ) iPos = nRef;
    if( iPos<0 ) iPos = -1;
    checkAt(m, aRef, nRef, iPos);
  }
  m->pMethods->xClose(m);
  assert_int_equal(nClosed, nChild);
  free(aRef);
}

static void test_merge_random(void **state){
  int r;
  (void)state;
  for(r=0; r<40; r++){
    runRandom(1 + (int)rndN(8), 50, 30, 0, 400);
  }
  runRandom(20, 200, 100, 0, 5000);
}

/* Children whose key buffer every move rewrites: the merge must not use
** a key it read before that child moved. */
static void test_merge_scratch_keys(void **state){
  int r;
  (void)state;
  gScratchKeys = 1;
  for(r=0; r<40; r++){
    runRandom(1 + (int)rndN(8), 50, 30, r & 1, 400);
  }
  runRandom(20, 200, 100, 0, 5000);
  gScratchKeys = 0;
}

/* Exact duplicates across children: ties by child index. */
static void test_merge_dupes(void **state){
  int r;
  (void)state;
  for(r=0; r<40; r++){
    runRandom(2 + (int)rndN(6), 6, 10, 1, 400);
  }
}

static void test_merge_edge(void **state){
  KvIter *m = 0;
  int nClosed = 0;
  Ent e;
  KvIter *apChild[3];
  (void)state;

  /* No children at all. */
  assert_int_equal(kvMergeIterNew(0, 0, &m), KV_OK);
  assert_int_equal(m->pMethods->xFirst(m), KV_OK);
  assert_int_equal(kvIterValid(m), 0);
  assert_int_equal(m->pMethods->xLast(m), KV_OK);
  assert_int_equal(kvIterValid(m), 0);
  makeEnt(&e, 1, 1, KV_TYPE_PUT, 0);
  assert_int_equal(m->pMethods->xSeek(m, e.aKey, e.nKey), KV_OK);
  assert_int_equal(kvIterValid(m), 0);
  m->pMethods->xClose(m);

  /* Only empty children. */
  apChild[0] = &arrNew(0, 0, &nClosed)->base;
  apChild[1] = &arrNew(0, 0, &nClosed)->base;
  assert_int_equal(kvMergeIterNew(apChild, 2, &m), KV_OK);
  assert_int_equal(m->pMethods->xFirst(m), KV_OK);
  assert_int_equal(kvIterValid(m), 0);
  assert_int_equal(m->pMethods->xLast(m), KV_OK);
  assert_int_equal(kvIterValid(m), 0);
  m->pMethods->xClose(m);
  assert_int_equal(nClosed, 2);

  /* Direction switch at the ends: one child runs out first. */
  {
    Ent a[2], b[1];
    nClosed = 0;
    makeEnt(&a[0], 1, 5, KV_TYPE_PUT, 0);
    makeEnt(&a[1], 3, 5, KV_TYPE_PUT, 0);
    makeEnt(&b[0], 2, 5, KV_TYPE_PUT, 1);
    apChild[0] = &arrNew(a, 2, &nClosed)->base;
    apChild[1] = &arrNew(b, 1, &nClosed)->base;
    assert_int_equal(kvMergeIterNew(apChild, 2, &m), KV_OK);
    assert_int_equal(m->pMethods->xLast(m), KV_OK);          /* k3 */
    assert_int_equal(m->pMethods->xPrev(m), KV_OK);          /* k2 */
    assert_int_equal(m->pMethods->xNext(m), KV_OK);          /* k3 */
    {
      const u8 *k; size_t n;
      kvIterKey(m, &k, &n);
      assert_int_equal(kvIKeyCmp(k, n, a[1].aKey, a[1].nKey), 0);
    }
    assert_int_equal(m->pMethods->xNext(m), KV_OK);
    assert_int_equal(kvIterValid(m), 0);
    assert_int_equal(m->pMethods->xFirst(m), KV_OK);         /* k1 */
    assert_int_equal(m->pMethods->xNext(m), KV_OK);          /* k2 */
    assert_int_equal(m->pMethods->xPrev(m), KV_OK);          /* k1 */
    {
      const u8 *k; size_t n;
      kvIterKey(m, &k, &n);
      assert_int_equal(kvIKeyCmp(k, n, a[0].aKey, a[0].nKey), 0);
    }
    assert_int_equal(m->pMethods->xPrev(m), KV_OK);
    assert_int_equal(kvIterValid(m), 0);
    m->pMethods->xClose(m);
    assert_int_equal(nClosed, 2);
  }
}

/* A child failure surfaces as the merge's error and leaves it invalid; a
** later positioning call works again. */
static void test_merge_error(void **state){
  Ent a[3], b[3];
  KvIter *apChild[2];
  KvIter *m = 0;
  ArrIter *pB;
  int nClosed = 0;
  int i;
  (void)state;
  for(i=0; i<3; i++){
    makeEnt(&a[i], (u32)(2*i), 5, KV_TYPE_PUT, 0);
    makeEnt(&b[i], (u32)(2*i+1), 5, KV_TYPE_PUT, 1);
  }
  apChild[0] = &arrNew(a, 3, &nClosed)->base;
  pB = arrNew(b, 3, &nClosed);
  apChild[1] = &pB->base;
  assert_int_equal(kvMergeIterNew(apChild, 2, &m), KV_OK);
  assert_int_equal(m->pMethods->xFirst(m), KV_OK);
  pB->nFailAfter = 1;        /* First ok below, then the next move fails */
  assert_int_equal(m->pMethods->xFirst(m), KV_OK);
  assert_int_equal(m->pMethods->xNext(m), KV_OK);   /* a0 -> b0: a moves */
  assert_int_equal(m->pMethods->xNext(m), KV_IOERR); /* b moves: fails */
  assert_int_equal(kvIterValid(m), 0);
  assert_string_equal(kvErrMsg(), "kvstore: injected failure");
  pB->nFailAfter = -1;
  assert_int_equal(m->pMethods->xLast(m), KV_OK);
  assert_int_equal(kvIterValid(m), 1);
  /* Failure of a non-current child repositioned on a direction switch:
  ** Prev moves b from k5 to k3 and leaves a (k4) current; Next then seeks
  ** b, which fails. */
  assert_int_equal(m->pMethods->xPrev(m), KV_OK);
  pB->nFailAfter = 0;
  assert_int_equal(m->pMethods->xNext(m), KV_IOERR);
  assert_int_equal(kvIterValid(m), 0);
  m->pMethods->xClose(m);
  assert_int_equal(nClosed, 2);
}

/* Out of memory creating the merge closes the children. */
static int gFailAlloc = 0;
static void *failMalloc(size_t n){
  if( gFailAlloc ) return 0;
  return malloc(n);
}
static void *failRealloc(void *p, size_t n){
  if( gFailAlloc ) return 0;
  return realloc(p, n);
}
static void test_merge_oom(void **state){
  KvAllocHooks h = { failMalloc, failRealloc, free };
  KvIter *apChild[2];
  KvIter *m = (KvIter*)1;
  int nClosed = 0;
  (void)state;
  apChild[0] = &arrNew(0, 0, &nClosed)->base;
  apChild[1] = &arrNew(0, 0, &nClosed)->base;
  kvSetAllocHooks(&h);
  gFailAlloc = 1;
  assert_int_equal(kvMergeIterNew(apChild, 2, &m), KV_NOMEM);
  gFailAlloc = 0;
  kvSetAllocHooks(0);
  assert_null(m);
  assert_int_equal(nClosed, 2);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ikey_order),
    cmocka_unit_test(test_merge_random),
    cmocka_unit_test(test_merge_dupes),
    cmocka_unit_test(test_merge_scratch_keys),
    cmocka_unit_test(test_merge_edge),
    cmocka_unit_test(test_merge_error),
    cmocka_unit_test(test_merge_oom),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
