/*
** test_block.c - the block layout of block.c: round trip with prefix
** compression and several restart intervals, seek to every key and between
** keys, backwards iteration, and malformed blocks that must fail with
** KV_CORRUPT (never crash) when parsed or walked.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "sst_int.h"

/* Plain bytewise order, shorter first on a tie (user-key order). */
static int byteCmp(const u8 *a, size_t na, const u8 *b, size_t nb){
  size_t n = na<nb ? na : nb;
  int c = n ? memcmp(a, b, n) : 0;
  if( c ) return c;
  return na<nb ? -1 : (na>nb ? 1 : 0);
}

typedef struct Entry Entry;
struct Entry {
  char zKey[40];
  int nKey;
  char zVal[40];
  int nVal;
};

/* Sorted keys with long shared prefixes; entry 0 has an empty key and
** every 7th value is empty. */
static Entry *makeEntries(int n){
  Entry *a = calloc((size_t)n, sizeof(Entry));
  int i;
  assert_non_null(a);
  for(i=0; i<n; i++){
    if( i==0 ){
      a[i].nKey = 0;
    }else{
      a[i].nKey = snprintf(a[i].zKey, sizeof(a[i].zKey),
                           "user:%03d:profile:%05d", i/10, i);
    }
    a[i].nVal = (i%7==0) ? 0 : snprintf(a[i].zVal, sizeof(a[i].zVal),
                                        "value-%d", i*31);
  }
  return a;
}

static void buildBlock(const Entry *a, int n, int nRestart,
                       KvBlockBuilder *pB){
  int i;
  kvBlockBuilderInit(pB, nRestart);
  for(i=0; i<n; i++){
    assert_int_equal(kvBlockBuilderAdd(pB, (const u8*)a[i].zKey,
                     (size_t)a[i].nKey, (const u8*)a[i].zVal,
                     (size_t)a[i].nVal), KV_OK);
  }
  assert_int_equal(kvBlockBuilderFinish(pB), KV_OK);
}

static void checkEntry(KvBlockIter *pIt, const Entry *e){
  assert_true(pIt->bValid);
  assert_int_equal(pIt->key.n, e->nKey);
  if( e->nKey ) assert_memory_equal(pIt->key.a, e->zKey, (size_t)e->nKey);
  assert_int_equal(pIt->nVal, e->nVal);
  if( e->nVal ) assert_memory_equal(pIt->pVal, e->zVal, (size_t)e->nVal);
}

static void roundTrip(int n, int nRestart){
  Entry *a = makeEntries(n);
  KvBlockBuilder b;
  KvBlock blk;
  KvBlockIter it;
  size_t nRaw = 0;
  int i;

  buildBlock(a, n, nRestart, &b);
  assert_int_equal(kvBlockParse(b.buf.a, b.buf.n, &blk), KV_OK);
  assert_int_equal(blk.nRestart, (u32)((n + nRestart - 1)/nRestart));
  for(i=0; i<n; i++) nRaw += (size_t)(a[i].nKey + a[i].nVal);
  if( nRestart>1 && n>10 ){
    /* prefix compression must pay for the headers and restart array */
    assert_true(b.buf.n < nRaw);
  }

  kvBlockIterInit(&it, &blk, byteCmp);

  /* forwards */
  assert_int_equal(kvBlockIterFirst(&it), KV_OK);
  for(i=0; i<n; i++){
    checkEntry(&it, &a[i]);
    assert_int_equal(kvBlockIterNext(&it), KV_OK);
  }
  assert_false(it.bValid);

  /* backwards */
  assert_int_equal(kvBlockIterLast(&it), KV_OK);
  for(i=n-1; i>=0; i--){
    checkEntry(&it, &a[i]);
    assert_int_equal(kvBlockIterPrev(&it), KV_OK);
  }
  assert_false(it.bValid);

  /* seek to every key, and just after every key (key + "\0") */
  for(i=0; i<n; i++){
    char z[48];
    assert_int_equal(kvBlockIterSeek(&it, (const u8*)a[i].zKey,
                                      (size_t)a[i].nKey), KV_OK);
    checkEntry(&it, &a[i]);
    /* Prev then Next from a seek position lands back */
    if( i>0 ){
      assert_int_equal(kvBlockIterPrev(&it), KV_OK);
      checkEntry(&it, &a[i-1]);
      assert_int_equal(kvBlockIterNext(&it), KV_OK);
      checkEntry(&it, &a[i]);
    }
    memcpy(z, a[i].zKey, (size_t)a[i].nKey);
    z[a[i].nKey] = 0;
    assert_int_equal(kvBlockIterSeek(&it, (const u8*)z,
                                      (size_t)a[i].nKey + 1), KV_OK);
    if( i+1<n ){
      checkEntry(&it, &a[i+1]);
    }else{
      assert_false(it.bValid);
    }
  }
  /* past the end */
  assert_int_equal(kvBlockIterSeek(&it, (const u8*)"\xff", 1), KV_OK);
  assert_false(it.bValid);

  kvBlockIterClear(&it);
  kvBlockBuilderFree(&b);
  free(a);
}

static void test_roundtrip(void **state){
  static const int aN[] = { 1, 2, 15, 16, 17, 100, 1000 };
  static const int aR[] = { 1, 2, 3, 16, 1000 };
  size_t i, j;
  (void)state;
  for(i=0; i<sizeof(aN)/sizeof(aN[0]); i++){
    for(j=0; j<sizeof(aR)/sizeof(aR[0]); j++){
      roundTrip(aN[i], aR[j]);
    }
  }
}

/* Keys stored whole only at restart points; elsewhere only the suffix. */
static void test_prefix_compression(void **state){
  KvBlockBuilder b;
  (void)state;
  kvBlockBuilderInit(&b, 4);
  assert_int_equal(kvBlockBuilderAdd(&b, (const u8*)"abcdef", 6,
                                     (const u8*)"1", 1), KV_OK);
  assert_int_equal(kvBlockBuilderAdd(&b, (const u8*)"abcdxy", 6,
                                     (const u8*)"2", 1), KV_OK);
  /* entry 2: shared=4, unshared=2 */
  assert_int_equal(b.buf.n, 3+6+1 + 3+2+1);
  assert_int_equal(b.buf.a[10], 4);
  assert_int_equal(b.buf.a[11], 2);
  assert_int_equal(kvBlockBuilderFinish(&b), KV_OK);
  assert_int_equal(kvBlockBuilderSize(&b), b.buf.n + 4 + 4);
  /* restart array: one offset (0), count 1 */
  assert_int_equal(kvGet32(b.buf.a + b.buf.n - 4), 1);
  assert_int_equal(kvGet32(b.buf.a + b.buf.n - 8), 0);

  /* Reset keeps working */
  kvBlockBuilderReset(&b);
  assert_int_equal(b.nEntry, 0);
  assert_int_equal(kvBlockBuilderAdd(&b, (const u8*)"z", 1, 0, 0), KV_OK);
  assert_int_equal(kvBlockBuilderFinish(&b), KV_OK);
  assert_int_equal(b.buf.n, 3+1 + 4+4);
  kvBlockBuilderFree(&b);
}

/* Keys that grow past the cursor's inline key space, shared prefixes
** and all: every step, both ways, and every seek still sees whole keys. */
static void test_long_keys(void **state){
  enum { N = 300 };
  static char azKey[N][N+1];
  KvBlockBuilder b;
  KvBlock blk;
  KvBlockIter it;
  int i, nRestart;
  (void)state;
  for(i=0; i<N; i++){
    /* "a", "aa", "aaa", ...: each a prefix of the next, so sorted */
    memset(azKey[i], 'a', (size_t)i + 1);
    azKey[i][i+1] = 0;
  }
  for(nRestart=1; nRestart<=32; nRestart*=4){
    kvBlockBuilderInit(&b, nRestart);
    for(i=0; i<N; i++){
      assert_int_equal(kvBlockBuilderAdd(&b, (const u8*)azKey[i],
                       (size_t)i + 1, (const u8*)"v", 1), KV_OK);
    }
    assert_int_equal(kvBlockBuilderFinish(&b), KV_OK);
    assert_int_equal(kvBlockParse(b.buf.a, b.buf.n, &blk), KV_OK);
    kvBlockIterInit(&it, &blk, byteCmp);
    assert_int_equal(kvBlockIterFirst(&it), KV_OK);
    for(i=0; i<N; i++){
      assert_true(it.bValid);
      assert_int_equal(it.key.n, i + 1);
      assert_memory_equal(it.key.a, azKey[i], (size_t)i + 1);
      assert_int_equal(kvBlockIterNext(&it), KV_OK);
    }
    assert_false(it.bValid);
    assert_int_equal(kvBlockIterLast(&it), KV_OK);
    for(i=N-1; i>=0; i--){
      assert_true(it.bValid);
      assert_int_equal(it.key.n, i + 1);
      assert_memory_equal(it.key.a, azKey[i], (size_t)i + 1);
      assert_int_equal(kvBlockIterPrev(&it), KV_OK);
    }
    assert_false(it.bValid);
    for(i=N-1; i>=0; i-=7){
      assert_int_equal(kvBlockIterSeek(&it, (const u8*)azKey[i],
                                       (size_t)i + 1), KV_OK);
      assert_true(it.bValid);
      assert_int_equal(it.key.n, i + 1);
      assert_memory_equal(it.key.a, azKey[i], (size_t)i + 1);
    }
    /* cleared, the cursor starts over in its own space */
    kvBlockIterClear(&it);
    assert_int_equal(kvBlockIterFirst(&it), KV_OK);
    assert_int_equal(it.key.n, 1);
    assert_ptr_equal(it.key.a, it.aKeySpace);
    kvBlockIterClear(&it);
    kvBlockBuilderFree(&b);
  }
}

/* Walk everything in both directions and seek; return the first error. */
static int walkAll(const u8 *a, size_t n){
  KvBlock blk;
  KvBlockIter it;
  int rc = kvBlockParse(a, n, &blk);
  int nStep = 0;
  if( rc!=KV_OK ) return rc;
  kvBlockIterInit(&it, &blk, byteCmp);
  rc = kvBlockIterFirst(&it);
  while( rc==KV_OK && it.bValid && nStep++<10000 ) rc = kvBlockIterNext(&it);
  if( rc==KV_OK ) rc = kvBlockIterLast(&it);
  while( rc==KV_OK && it.bValid && nStep++<20000 ) rc = kvBlockIterPrev(&it);
  if( rc==KV_OK ) rc = kvBlockIterSeek(&it, (const u8*)"user:005", 8);
  if( rc==KV_OK ) rc = kvBlockIterSeek(&it, (const u8*)"\xff", 1);
  assert_true(nStep<20000);     /* no endless loop */
  assert_false(rc!=KV_OK && it.bValid);
  kvBlockIterClear(&it);
  return rc;
}

static void test_malformed(void **state){
  Entry *a = makeEntries(60);
  KvBlockBuilder b;
  u8 *p;
  size_t i;
  int bit;
  int nCorrupt = 0;
  (void)state;
  buildBlock(a, 60, 4, &b);
  assert_int_equal(walkAll(b.buf.a, b.buf.n), KV_OK);

  /* truncated */
  assert_int_equal(walkAll(b.buf.a, 0), KV_CORRUPT);
  assert_int_equal(walkAll(b.buf.a, 7), KV_CORRUPT);
  assert_int_equal(walkAll(b.buf.a, b.buf.n - 1), KV_CORRUPT);

  /* restart count too large / zero */
  p = malloc(b.buf.n);
  assert_non_null(p);
  memcpy(p, b.buf.a, b.buf.n);
  kvPut32(p + b.buf.n - 4, 0x7fffffff);
  assert_int_equal(walkAll(p, b.buf.n), KV_CORRUPT);
  kvPut32(p + b.buf.n - 4, 0);
  assert_int_equal(walkAll(p, b.buf.n), KV_CORRUPT);
  assert_non_null(strstr(kvErrMsg(), "corrupt block"));

  /* every single-bit flip: OK or KV_CORRUPT, never a crash (ASan) */
  for(i=0; i<b.buf.n; i++){
    for(bit=0; bit<8; bit++){
      int rc;
      memcpy(p, b.buf.a, b.buf.n);
      p[i] ^= (u8)(1<<bit);
      rc = walkAll(p, b.buf.n);
      assert_true(rc==KV_OK || rc==KV_CORRUPT);
      nCorrupt += rc==KV_CORRUPT;
    }
  }
  assert_true(nCorrupt>0);
  free(p);
  kvBlockBuilderFree(&b);
  free(a);
}

/* The seek of an SSTable cursor (kvSstCmp, compared inline): internal
** keys with several versions of a user key (newest first), user keys that
** are prefixes of others, every restart interval from 1 (an index chunk)
** to past the block. Every target, the keys themselves and the points
** between and around them (each user key at sequences above, between and
** below its versions), lands where a linear scan says: the first entry
** >= the target, or nowhere. */
static void test_seek_internal_keys(void **state){
  enum { N = 60, T = 5*N + 2 };
  KvBuf aKey[N];
  KvBuf aTarget[T];
  int nTarget = 0;
  int i, j, nRestart;
  (void)state;
  for(i=0; i<N; i++){
    /* user keys k/3 in order: "a", "a", "a", "ab", ... with three
    ** versions each (sequences 30, 20, 10) */
    static const char *azUser[] = { "", "a", "ab", "abc", "abd", "b",
      "ba", "bab", "c", "cccccccccccccccccccc", "cccccccccccccccccccd",
      "d", "e", "ee", "eee", "f", "g", "gg", "h", "i" };
    const char *z = azUser[i/3];
    memset(&aKey[i], 0, sizeof(KvBuf));
    assert_int_equal(kvIKeyAppend(&aKey[i], (const u8*)z, strlen(z),
                                  (u64)(30 - 10*(i%3)), KV_TYPE_PUT), KV_OK);
    for(j=0; j<5; j++){
      /* sequences 35, 30, 25, 15, 5: above, at, between, below */
      static const u64 aSeq[] = { 35, 30, 25, 15, 5 };
      if( i%3 ) continue;
      memset(&aTarget[nTarget], 0, sizeof(KvBuf));
      assert_int_equal(kvIKeyAppend(&aTarget[nTarget], (const u8*)z,
                       strlen(z), aSeq[j], KV_TYPE_PUT), KV_OK);
      nTarget++;
    }
  }
  /* before everything is "" at 35 (above); after everything: */
  memset(&aTarget[nTarget], 0, sizeof(KvBuf));
  assert_int_equal(kvIKeyAppend(&aTarget[nTarget], (const u8*)"j", 1, 1,
                                KV_TYPE_PUT), KV_OK);
  nTarget++;
  memset(&aTarget[nTarget], 0, sizeof(KvBuf));
  assert_int_equal(kvIKeyAppend(&aTarget[nTarget], (const u8*)"abcd", 4, 1,
                                KV_TYPE_PUT), KV_OK);
  nTarget++;
  for(i=1; i<N; i++){
    assert_true(kvSstCmp(aKey[i-1].a, aKey[i-1].n, aKey[i].a, aKey[i].n)<0);
  }
  for(nRestart=1; nRestart<=N+1; nRestart++){
    KvBlockBuilder b;
    KvBlock blk;
    KvBlockIter it;
    kvBlockBuilderInit(&b, nRestart);
    for(i=0; i<N; i++){
      assert_int_equal(kvBlockBuilderAdd(&b, aKey[i].a, aKey[i].n,
                       (const u8*)&i, sizeof(i)), KV_OK);
    }
    assert_int_equal(kvBlockBuilderFinish(&b), KV_OK);
    assert_int_equal(kvBlockParse(b.buf.a, b.buf.n, &blk), KV_OK);
    kvBlockIterInit(&it, &blk, kvSstCmp);
    for(j=0; j<nTarget+N; j++){
      const KvBuf *pT = j<nTarget ? &aTarget[j] : &aKey[j-nTarget];
      int iWant = 0;
      while( iWant<N
          && kvSstCmp(aKey[iWant].a, aKey[iWant].n, pT->a, pT->n)<0 ){
        iWant++;
      }
      assert_int_equal(kvBlockIterSeek(&it, pT->a, pT->n), KV_OK);
      if( iWant==N ){
        assert_false(it.bValid);
      }else{
        int iGot;
        assert_true(it.bValid);
        assert_int_equal(it.key.n, aKey[iWant].n);
        assert_memory_equal(it.key.a, aKey[iWant].a, aKey[iWant].n);
        assert_int_equal(it.nVal, sizeof(int));
        memcpy(&iGot, it.pVal, sizeof(int));
        assert_int_equal(iGot, iWant);
        /* the cursor goes on from there */
        assert_int_equal(kvBlockIterNext(&it), KV_OK);
        assert_int_equal(it.bValid, iWant+1<N);
      }
    }
    kvBlockIterClear(&it);
    kvBlockBuilderFree(&b);
  }
  for(i=0; i<N; i++) kvBufFree(&aKey[i]);
  for(j=0; j<nTarget; j++) kvBufFree(&aTarget[j]);
}

/*
** The search aid of kept index chunks (kvBlockSetPrefixes): a seek with it
** lands exactly where the plain binary search and a linear scan do, for
** every target: present keys at sequences above, at, between and below
** their versions, absent keys between, before and after them, targets
** shorter than the keys' common prefix, equal to it, or leaving it on
** either side, and keys whose 8 bytes after the common prefix tie (long
** keys, keys ending inside those bytes, keys with zero bytes there, which
** pad the same as a shorter key). Every restart interval, from 1 (an index
** chunk) to past the block.
*/
typedef struct UKey UKey;
struct UKey { const char *z; int n; };

static void addIKey(KvBuf *p, const UKey *u, u64 seq){
  memset(p, 0, sizeof(*p));
  assert_int_equal(kvIKeyAppend(p, (const u8*)u->z, (size_t)u->n, seq,
                                KV_TYPE_PUT), KV_OK);
}

static void checkPrefixedSeeks(const UKey *aUser, int nUser,
                               const UKey *aExtra, int nExtra,
                               size_t nCommonWant){
  static const u64 aSeq[] = { 35, 30, 25, 15, 5 };
  int nKey = nUser*3, nTarget = 0;
  KvBuf *aKey = calloc((size_t)nKey, sizeof(KvBuf));
  KvBuf *aTarget = calloc((size_t)(nUser*5 + nExtra*2), sizeof(KvBuf));
  int i, j, nRestart;
  assert_non_null(aKey);
  assert_non_null(aTarget);
  for(i=0; i<nKey; i++) addIKey(&aKey[i], &aUser[i/3], (u64)(30 - 10*(i%3)));
  for(i=0; i<nKey; i++){
    if( i>0 ){
      assert_true(kvSstCmp(aKey[i-1].a, aKey[i-1].n, aKey[i].a, aKey[i].n)<0);
    }
  }
  for(i=0; i<nUser; i++){
    for(j=0; j<5; j++) addIKey(&aTarget[nTarget++], &aUser[i], aSeq[j]);
  }
  for(i=0; i<nExtra; i++){
    addIKey(&aTarget[nTarget++], &aExtra[i], KV_MAX_SEQ);
    addIKey(&aTarget[nTarget++], &aExtra[i], 0);
  }
  for(nRestart=1; nRestart<=nKey+1; nRestart++){
    KvBlockBuilder b;
    KvBlock plain, aided;
    KvBlockIter itP, itA;
    u64 *aPfx;
    kvBlockBuilderInit(&b, nRestart);
    for(i=0; i<nKey; i++){
      assert_int_equal(kvBlockBuilderAdd(&b, aKey[i].a, aKey[i].n,
                       (const u8*)&i, sizeof(i)), KV_OK);
    }
    assert_int_equal(kvBlockBuilderFinish(&b), KV_OK);
    assert_int_equal(kvBlockParse(b.buf.a, b.buf.n, &plain), KV_OK);
    assert_int_equal(kvBlockParse(b.buf.a, b.buf.n, &aided), KV_OK);
    assert_null(plain.aPfx);
    aPfx = calloc(aided.nRestart + 2, sizeof(u64));
    assert_non_null(aPfx);
    /* the common prefix kept whole, and cut to 3 bytes (still common) */
    assert_int_equal(kvBlockSetPrefixes(&aided, aPfx,
                     (u8*)(aPfx + aided.nRestart), nRestart%2 ? 16 : 3), 1);
    assert_ptr_equal(aided.aPfx, aPfx);
    assert_ptr_equal(aided.pCommon, (u8*)(aPfx + aided.nRestart));
    if( nRestart==1 ) assert_int_equal(aided.nCommon, nCommonWant);
    if( nRestart==2 ){
      assert_int_equal(aided.nCommon, nCommonWant<3 ? nCommonWant : 3);
    }
    for(i=1; i<(int)aided.nRestart; i++) assert_true(aPfx[i-1]<=aPfx[i]);
    kvBlockIterInit(&itP, &plain, kvSstCmp);
    kvBlockIterInit(&itA, &aided, kvSstCmp);
    for(j=0; j<nTarget+nKey; j++){
      const KvBuf *pT = j<nTarget ? &aTarget[j] : &aKey[j-nTarget];
      int iWant = 0;
      while( iWant<nKey
          && kvSstCmp(aKey[iWant].a, aKey[iWant].n, pT->a, pT->n)<0 ){
        iWant++;
      }
      assert_int_equal(kvBlockIterSeek(&itP, pT->a, pT->n), KV_OK);
      assert_int_equal(kvBlockIterSeek(&itA, pT->a, pT->n), KV_OK);
      assert_int_equal(itA.bValid, iWant<nKey);
      assert_int_equal(itP.bValid, iWant<nKey);
      if( iWant<nKey ){
        int iGot;
        assert_int_equal(itA.iOff, itP.iOff);
        assert_int_equal(itA.key.n, aKey[iWant].n);
        assert_memory_equal(itA.key.a, aKey[iWant].a, aKey[iWant].n);
        memcpy(&iGot, itA.pVal, sizeof(int));
        assert_int_equal(iGot, iWant);
        assert_int_equal(kvBlockIterNext(&itA), KV_OK);
        assert_int_equal(itA.bValid, iWant+1<nKey);
      }
    }
    kvBlockIterClear(&itP);
    kvBlockIterClear(&itA);
    kvBlockBuilderFree(&b);
    free(aPfx);
  }
  for(i=0; i<nKey; i++) kvBufFree(&aKey[i]);
  for(j=0; j<nTarget; j++) kvBufFree(&aTarget[j]);
  free(aKey);
  free(aTarget);
}

#define UK(s) { s, (int)sizeof(s) - 1 }
static void test_seek_prefixed(void **state){
  /* keys as kvbench writes them: a long common prefix */
  static const UKey aBench[] = { UK("0000000000123400"), UK("0000000000123407"),
    UK("0000000000123411"), UK("0000000000123499"), UK("0000000000125000"),
    UK("0000000000125001"), UK("0000000000130000") };
  static const UKey aBenchX[] = { UK(""), UK("0"), UK("00000000001"),
    UK("0000000000"), UK("00000000001234"), UK("0000000000123401"),
    UK("00000000001234000"), UK("0000000000124"), UK("00000000001300000"),
    UK("0000000000130001"), UK("0000000001"), UK("000000000"),
    UK("1"), UK("0000000000000000"), UK("0000000000999999") };
  /* ties in the 8 bytes after the common prefix: long keys, keys that end
  ** there, zero bytes that pad like an end */
  static const UKey aTie[] = { UK("pfx/"), UK("pfx/\0"), UK("pfx/\0\0"),
    UK("pfx/A"), UK("pfx/ABCDEFGH"), UK("pfx/ABCDEFGH1"),
    UK("pfx/ABCDEFGH2"), UK("pfx/ABCDEFGH2zzzzzzzzz"), UK("pfx/ABCDEFGI"),
    UK("pfx/B\0"), UK("pfx/B\0\0\0\0\0\0\0\0\0x"), UK("pfx/\xff\xff") };
  static const UKey aTieX[] = { UK("pfx"), UK("pfx/\0\0\0"), UK("pfx/@"),
    UK("pfx/ABCDEFGH0"), UK("pfx/ABCDEFGH15"), UK("pfx/ABCDEFGH3"),
    UK("pfx/B"), UK("pfx/B\0\0\0\0\0\0\0\0\0"), UK("pfx/B\0\0\0\0\0\0\0\0\0y"),
    UK("pfx/\xff\xff\xff"), UK("pfw"), UK("pfy"), UK("pfx0") };
  /* no common prefix, an empty user key first */
  static const UKey aMixed[] = { UK(""), UK("a"), UK("ab"), UK("abc"),
    UK("abd"), UK("b"), UK("ba"), UK("c"), UK("cccccccccccccccccccc"),
    UK("cccccccccccccccccccd"), UK("d") };
  static const UKey aMixedX[] = { UK("abcd"), UK("bb"), UK("cc"), UK("z") };
  /* one user key */
  static const UKey aOne[] = { UK("only") };
  static const UKey aOneX[] = { UK("onl"), UK("only!"), UK("a"), UK("p") };
  (void)state;
  checkPrefixedSeeks(aBench, 7, aBenchX, 15, 11);
  checkPrefixedSeeks(aTie, 12, aTieX, 13, 4);
  checkPrefixedSeeks(aMixed, 11, aMixedX, 4, 0);
  checkPrefixedSeeks(aOne, 1, aOneX, 4, 4);
}

/* A block whose keys are too short to be internal keys gets no aid, and
** is left as it was. */
static void test_prefixes_refused(void **state){
  KvBlockBuilder b;
  KvBlock blk;
  u64 aPfx[4];
  u8 aCommon[16];
  (void)state;
  kvBlockBuilderInit(&b, 1);
  assert_int_equal(kvBlockBuilderAdd(&b, (const u8*)"abcdefghij", 10,
                                     (const u8*)"v", 1), KV_OK);
  assert_int_equal(kvBlockBuilderAdd(&b, (const u8*)"b", 1,
                                     (const u8*)"v", 1), KV_OK);
  assert_int_equal(kvBlockBuilderFinish(&b), KV_OK);
  assert_int_equal(kvBlockParse(b.buf.a, b.buf.n, &blk), KV_OK);
  assert_int_equal(kvBlockSetPrefixes(&blk, aPfx, aCommon, 16), 0);
  assert_null(blk.aPfx);
  assert_null(blk.pCommon);
  assert_int_equal(blk.nCommon, 0);
  kvBlockBuilderFree(&b);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_roundtrip),
    cmocka_unit_test(test_prefix_compression),
    cmocka_unit_test(test_long_keys),
    cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_seek_internal_keys),
    cmocka_unit_test(test_seek_prefixed),
    cmocka_unit_test(test_prefixes_refused),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
