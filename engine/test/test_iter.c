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

/* Full scans both ways, then nOp random movements, each checked against
** the sorted reference (user keys of aRef: "k<n>", n < nUser). */
static void exercise(KvIter *m, Ent *aRef, int nRef, int nUser, int nOp){
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
}

static void runRandom(int nChild, int nUser, int nPer, int bDupes, int nOp){
  Ent *aRef;
  int nRef;
  int nClosed = 0;
  KvIter *m = randomMerge(nChild, nUser, nPer, bDupes, &aRef, &nRef,
                          &nClosed);
  exercise(m, aRef, nRef, nUser, nOp);
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

/* ---------------------------------------------------------------------- */
/* The order a step restores (iter.c "Why a sorted array"): runs from one
** child, children sinking by one place or far, ties, children running
** out, turns. Each builds its children from a list of entries (iChild
** says whose) and checks the merge against the sorted list.             */

static KvIter *mergeOf(const Ent *aAll, int nAll, int nChild, Ent **paRef,
                       int *pnClosed){
  KvIter *apChild[32];
  Ent *aRef = malloc(sizeof(Ent) * (size_t)(nAll + 1));
  Ent *aEnt = malloc(sizeof(Ent) * (size_t)(nAll + 1));
  KvIter *m = 0;
  int c, i;
  assert_true( nChild<=32 );
  assert_non_null(aRef);
  assert_non_null(aEnt);
  for(c=0; c<nChild; c++){
    int nEnt = 0;
    for(i=0; i<nAll; i++){
      if( aAll[i].iChild==c ) aEnt[nEnt++] = aAll[i];
    }
    apChild[c] = &arrNew(aEnt, nEnt, pnClosed)->base;
  }
  free(aEnt);
  if( nAll>0 ) memcpy(aRef, aAll, sizeof(Ent)*(size_t)nAll);
  qsort(aRef, (size_t)nAll, sizeof(Ent), entCmp);
  assert_int_equal(kvMergeIterNew(apChild, nChild, &m), KV_OK);
  *paRef = aRef;
  return m;
}

/* Merge aAll over nChild children, exercise it, close it. */
static void runEntries(const Ent *aAll, int nAll, int nChild, int nUser,
                       int nOp){
  Ent *aRef = 0;
  int nClosed = 0;
  KvIter *m = mergeOf(aAll, nAll, nChild, &aRef, &nClosed);
  exercise(m, aRef, nAll, nUser, nOp);
  m->pMethods->xClose(m);
  assert_int_equal(nClosed, nChild);
  free(aRef);
}

/* Most keys from child 0 in runs of 1 to 60, the others one at a time
** from one of six sparse children: the step mostly compares with the
** runner-up alone, and at a run's end child 0 sinks by one place. */
static void test_merge_long_runs(void **state){
  enum { N = 3000 };
  Ent *a = malloc(sizeof(Ent) * N);
  int r;
  (void)state;
  assert_non_null(a);
  for(r=0; r<4; r++){
    int i = 0;
    while( i<N ){
      int nRun = 1 + (int)rndN(60);
      while( nRun-- > 0 && i<N ){
        makeEnt(&a[i], (u32)i, 1, KV_TYPE_PUT, 0);
        i++;
      }
      if( i<N ){
        makeEnt(&a[i], (u32)i, 2, (int)rndN(2), 1 + (int)rndN(6));
        i++;
      }
    }
    runEntries(a, N, 7, N, 4000);
  }
  free(a);
}

/* Key i in child i % nChild: every step the current child sinks to the
** back, past the three places looked at first into the binary search. */
static void test_merge_round_robin(void **state){
  enum { N = 2000 };
  Ent *a = malloc(sizeof(Ent) * N);
  int nChild;
  (void)state;
  assert_non_null(a);
  for(nChild=2; nChild<=24; nChild+=nChild<6 ? 1 : 6){
    int i;
    for(i=0; i<N; i++){
      makeEnt(&a[i], (u32)i, 1, KV_TYPE_PUT, i % nChild);
    }
    runEntries(a, N, nChild, N, 3000);
    /* the same with the children in the other order */
    for(i=0; i<N; i++) a[i].iChild = nChild - 1 - (i % nChild);
    runEntries(a, N, nChild, N, 3000);
  }
  free(a);
}

/* Equal internal keys in several children (the merge orders them by
** child index: lower first going forward, last going backward), the
** current child tying with the runner-up and with children further back. */
static void test_merge_ties(void **state){
  enum { NUSER = 40, NCHILD = 7 };
  Ent a[NUSER*NCHILD];
  int r;
  (void)state;
  for(r=0; r<20; r++){
    int n = 0;
    u32 k;
    for(k=0; k<NUSER; k++){
      int c;
      int eType = (int)rndN(2);
      for(c=0; c<NCHILD; c++){
        if( rndN(3)==0 ) continue;
        makeEnt(&a[n++], k, 7, eType, c);
      }
    }
    runEntries(a, n, NCHILD, NUSER, 1500);
  }
  /* every child holds every key: a tie at each step */
  {
    int n = 0;
    u32 k;
    int c;
    for(k=0; k<NUSER; k++){
      for(c=0; c<NCHILD; c++) makeEnt(&a[n++], k, 7, KV_TYPE_PUT, c);
    }
    runEntries(a, n, NCHILD, NUSER, 1500);
  }
}

/* Children running out one after another, two at the same key, some
** empty, while child 0 goes on: the front leaves the order and the
** runner-up takes over, in both directions. */
static void test_merge_exhaust(void **state){
  enum { N = 200 };
  Ent a[3*N];
  int n = 0;
  int i;
  (void)state;
  for(i=0; i<N; i++) makeEnt(&a[n++], (u32)(2*i), 3, KV_TYPE_PUT, 0);
  for(i=0; i<N; i++){
    /* child 1 + i/25: consecutive ranges; children 9 and 10 hold the same
    ** entries as 7 and 8 (ending together); 11 and 12 stay empty */
    int c = 1 + i/25;
    makeEnt(&a[n++], (u32)(2*i + 1), 4, KV_TYPE_PUT, c);
    if( c==7 || c==8 ){
      makeEnt(&a[n++], (u32)(2*i + 1), 4, KV_TYPE_PUT, c + 2);
    }
  }
  runEntries(a, n, 13, 2*N, 3000);
  /* the last children of a scan: one child left, then none */
  n = 0;
  makeEnt(&a[n++], 1, 1, KV_TYPE_PUT, 0);
  makeEnt(&a[n++], 2, 1, KV_TYPE_PUT, 1);
  makeEnt(&a[n++], 3, 1, KV_TYPE_PUT, 1);
  makeEnt(&a[n++], 4, 1, KV_TYPE_PUT, 1);
  runEntries(a, n, 2, 5, 300);
}

/* Turns at the ends of runs and inside them: forward, back, forward
** again, each step checked. */
static void test_merge_turns(void **state){
  static const char *azWalk[] = {
    "nnnnnnnnnnppppnnnnnnnpnpnpnp",
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnpppppppppppppppppppppnnn",
    "pppppppnnnnnnnpppppppppppppnpnpnp",
  };
  enum { N = 120 };
  Ent a[N];
  int i, w;
  (void)state;
  for(i=0; i<N; i++){
    /* runs of 5 from child 0, then 3 from child 1, 1 from child 2/3 */
    int j = i % 9;
    int c = j<5 ? 0 : (j<8 ? 1 : 2 + (i/9) % 2);
    makeEnt(&a[i], (u32)(1000 + i), (u64)(1 + c), KV_TYPE_PUT, c);
  }
  for(w=0; w<(int)(sizeof(azWalk)/sizeof(azWalk[0])); w++){
    Ent *aRef = 0;
    int nClosed = 0;
    KvIter *m = mergeOf(a, N, 4, &aRef, &nClosed);
    const char *z = azWalk[w];
    int iPos;
    if( z[0]=='n' ){
      assert_int_equal(m->pMethods->xFirst(m), KV_OK);
      iPos = 0;
    }else{
      assert_int_equal(m->pMethods->xLast(m), KV_OK);
      iPos = N - 1;
    }
    checkAt(m, aRef, N, iPos);
    for(; *z; z++){
      if( *z=='n' ){
        assert_int_equal(m->pMethods->xNext(m), KV_OK);
        iPos++;
      }else{
        assert_int_equal(m->pMethods->xPrev(m), KV_OK);
        iPos--;
      }
      checkAt(m, aRef, N, iPos);
    }
    m->pMethods->xClose(m);
    assert_int_equal(nClosed, 4);
    free(aRef);
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
    cmocka_unit_test(test_merge_long_runs),
    cmocka_unit_test(test_merge_round_robin),
    cmocka_unit_test(test_merge_ties),
    cmocka_unit_test(test_merge_exhaust),
    cmocka_unit_test(test_merge_turns),
    cmocka_unit_test(test_merge_edge),
    cmocka_unit_test(test_merge_error),
    cmocka_unit_test(test_merge_oom),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
