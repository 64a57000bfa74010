/*
** test_bloom.c - bloom filter: no false negatives, a false-positive rate
** close to theory, the empty key set, the probe count byte, and malformed
** filters that must answer "may contain"; for the flat layout of earlier
** builds (kvBloomBuildFlat, still read) and the blocked layout written
** now (kvBloomBuild: a key's bits in one 64-byte line).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "kvInt.h"

static u32 keyHash(const char *zPrefix, int i){
  char z[64];
  int n = snprintf(z, sizeof(z), "%s%d", zPrefix, i);
  return kvBloomHash((const u8*)z, (size_t)n);
}

/* Build a filter over keys "key0".."key<n-1>", flat or blocked. */
static void buildFilterAs(int bBlocked, int nKey, int nBits, KvBuf *pOut){
  u32 *aHash = malloc(sizeof(u32) * (size_t)(nKey>0 ? nKey : 1));
  int i;
  assert_non_null(aHash);
  for(i=0; i<nKey; i++) aHash[i] = keyHash("key", i);
  if( bBlocked ){
    assert_int_equal(kvBloomBuild(aHash, (size_t)nKey, nBits, pOut), KV_OK);
  }else{
    assert_int_equal(kvBloomBuildFlat(aHash, (size_t)nKey, nBits, pOut),
                     KV_OK);
  }
  free(aHash);
}
/* The flat layout (the tests written before the blocked one). */
static void buildFilter(int nKey, int nBits, KvBuf *pOut){
  buildFilterAs(0, nKey, nBits, pOut);
}

/* exp(x) without libm (the Makefile links tests without -lm): Taylor
** series on x/1024, then squared ten times. Plenty for x in [-50, 0]. */
static double myExp(double x){
  double y = x / 1024.0, term = 1.0, sum = 1.0;
  int i;
  for(i=1; i<20; i++){
    term *= y / i;
    sum += term;
  }
  for(i=0; i<10; i++) sum *= sum;
  return sum;
}

static int expectedProbes(int nBits){
  int k = (int)(nBits * 0.69314718 + 0.5);
  if( k<1 ) k = 1;
  if( k>30 ) k = 30;
  return k;
}

/* Fraction of nProbe absent keys the filter admits. */
static double fpRate(const KvBuf *p, int nProbe){
  int i, nFp = 0;
  for(i=0; i<nProbe; i++){
    nFp += kvBloomMayContain(p->a, p->n, keyHash("absent", i));
  }
  return (double)nFp / nProbe;
}

static double fpTheory(const KvBuf *p, int nKey){
  double m = (double)(p->n - 1) * 8;
  int k = p->a[p->n-1];
  double base = 1.0 - myExp(-(double)k * nKey / m);
  double r = 1.0;
  int i;
  for(i=0; i<k; i++) r *= base;
  return r;
}

static void test_hash(void **state){
  u32 h1, h2;
  (void)state;
  /* Deterministic, sensitive to every byte and to the length. */
  h1 = kvBloomHash((const u8*)"hello", 5);
  h2 = kvBloomHash((const u8*)"hello", 5);
  assert_int_equal(h1, h2);
  assert_int_not_equal(kvBloomHash((const u8*)"hello", 5),
                       kvBloomHash((const u8*)"hellp", 5));
  assert_int_not_equal(kvBloomHash((const u8*)"hello", 5),
                       kvBloomHash((const u8*)"hello", 4));
  assert_int_not_equal(kvBloomHash((const u8*)"\0", 1),
                       kvBloomHash((const u8*)"", 0));
  assert_int_not_equal(kvBloomHash((const u8*)"\0\0\0\0\0", 5),
                       kvBloomHash((const u8*)"\0\0\0\0", 4));
  (void)kvBloomHash(NULL, 0);
  /* The helper used for the theory is accurate. */
  assert_true(myExp(0.0) == 1.0);
  assert_true(myExp(-1.0) > 0.367879 && myExp(-1.0) < 0.367880);
  assert_true(myExp(-10.0) > 4.53999e-5 && myExp(-10.0) < 4.54000e-5);
}

static void test_no_false_negatives(void **state){
  KvBuf f = {0};
  int i;
  (void)state;
  buildFilter(10000, 10, &f);
  assert_int_equal(f.n, 10000*10/8 + 1);
  assert_int_equal(f.a[f.n-1], 7);
  for(i=0; i<10000; i++){
    assert_int_equal(kvBloomMayContain(f.a, f.n, keyHash("key", i)), 1);
  }
  kvBufFree(&f);
}

static void test_false_positive_rate(void **state){
  KvBuf f = {0};
  double rate, theory;
  (void)state;
  buildFilter(10000, 10, &f);
  rate = fpRate(&f, 100000);
  theory = fpTheory(&f, 10000);
  /* About 0.8% at 10 bits per key. */
  assert_true(rate <= 2.0 * theory);
  assert_true(rate >= theory / 2.0);
  assert_true(rate < 0.02);
  kvBufFree(&f);
}

static void test_empty_set(void **state){
  KvBuf f = {0};
  int i;
  (void)state;
  buildFilter(0, 10, &f);
  assert_int_equal(f.n, 64/8 + 1);        /* the 64-bit minimum */
  for(i=0; i<1000; i++){
    assert_int_equal(kvBloomMayContain(f.a, f.n, keyHash("absent", i)), 0);
  }
  kvBufFree(&f);

  /* NULL array with zero keys is allowed too. */
  assert_int_equal(kvBloomBuildFlat(NULL, 0, 10, &f), KV_OK);
  assert_int_equal(f.n, 9);
  kvBufFree(&f);
}

static void test_bits_per_key(void **state){
  static const int aBits[] = { 1, 2, 4, 5, 8, 10, 15, 20, 44, 64 };
  size_t t;
  (void)state;
  for(t=0; t<sizeof(aBits)/sizeof(aBits[0]); t++){
    KvBuf f = {0};
    int nBits = aBits[t];
    int nKey = 5000;
    int i;
    double rate, theory;
    buildFilter(nKey, nBits, &f);
    assert_true(f.n >= (size_t)nKey*nBits/8 + 1);
    assert_int_equal(f.a[f.n-1], expectedProbes(nBits));
    for(i=0; i<nKey; i++){
      assert_int_equal(kvBloomMayContain(f.a, f.n, keyHash("key", i)), 1);
    }
    rate = fpRate(&f, 50000);
    theory = fpTheory(&f, nKey);
    /* Where the expected count of false positives is large enough for the
    ** ratio to mean something, hold it to within 2x of theory. */
    if( theory*50000 >= 50 ){
      assert_true(rate <= 2.0*theory);
      assert_true(rate >= theory/2.0);
    }else{
      assert_true(rate*50000 <= 50);
    }
    kvBufFree(&f);
  }
}

/* A few keys get at least 64 bits; appending keeps what pOut held. */
static void test_small_and_append(void **state){
  KvBuf f = {0};
  u32 aHash[3];
  int i;
  (void)state;
  assert_int_equal(kvBufAppend(&f, "hdr", 3), KV_OK);
  for(i=0; i<3; i++) aHash[i] = keyHash("key", i);
  assert_int_equal(kvBloomBuildFlat(aHash, 3, 10, &f), KV_OK);
  assert_int_equal(f.n, 3 + 8 + 1);
  assert_memory_equal(f.a, "hdr", 3);
  for(i=0; i<3; i++){
    assert_int_equal(kvBloomMayContain(f.a+3, f.n-3, aHash[i]), 1);
  }
  kvBufFree(&f);

  /* bits_per_key 0 or negative is treated as 1, never a zero-size filter */
  assert_int_equal(kvBloomBuildFlat(aHash, 3, 0, &f), KV_OK);
  assert_int_equal(f.n, 9);
  assert_int_equal(f.a[8], 1);
  kvBufFree(&f);
}

static void test_malformed(void **state){
  KvBuf f = {0};
  u8 aZero[9];
  int i;
  (void)state;
  buildFilter(100, 10, &f);

  /* Too short. */
  assert_int_equal(kvBloomMayContain(NULL, 0, 123), 1);
  assert_int_equal(kvBloomMayContain(f.a, 0, 123), 1);
  assert_int_equal(kvBloomMayContain(f.a, 1, 123), 1);
  assert_int_equal(kvBloomMayContain(f.a, 8, 123), 1);

  /* A zeroed filter with a valid k rejects; with k 0 or > 30 it cannot be
  ** understood, so everything may be present. */
  memset(aZero, 0, sizeof(aZero));
  aZero[8] = 7;
  assert_int_equal(kvBloomMayContain(aZero, 9, 123), 0);
  aZero[8] = 31;
  assert_int_equal(kvBloomMayContain(aZero, 9, 123), 1);
  aZero[8] = 255;
  assert_int_equal(kvBloomMayContain(aZero, 9, 123), 1);
  aZero[8] = 0;
  assert_int_equal(kvBloomMayContain(aZero, 9, 123), 1);

  /* Damage the probe count of a real filter: no key is hidden. */
  f.a[f.n-1] = 200;
  for(i=0; i<1000; i++){
    assert_int_equal(kvBloomMayContain(f.a, f.n, keyHash("absent", i)), 1);
  }
  kvBufFree(&f);
}

/* Reference probe with a plain division: the bit positions of the
** filter format (hash % nBit, then double hashing). */
static int refMayContain(const u8 *a, size_t n, u32 hash){
  u32 nBit, delta;
  int k, j;
  if( a==0 || n<9 ) return 1;
  k = a[n-1];
  if( k<1 || k>30 ) return 1;
  nBit = (u32)((n-1)*8);
  delta = (hash>>17) | (hash<<15);
  for(j=0; j<k; j++){
    u32 iBit = hash % nBit;
    if( (a[iBit/8] & (1<<(iBit%8)))==0 ) return 0;
    hash += delta;
  }
  return 1;
}

/* kvBloomPrepare + kvBloomCheck (multiplication instead of division)
** answer exactly as the plain probe, for filters of many sizes (bit
** counts that are and are not powers of two) and extreme hashes, and a
** malformed filter prepared answers "may contain". */
static void test_prepared_equals_plain(void **state){
  static const int aKeys[] = { 1, 7, 64, 100, 1000, 33333 };
  static const u32 aEdge[] = { 0, 1, 0x7fffffffu, 0x80000000u, 0xfffffffeu,
                               0xffffffffu };
  size_t iSet;
  int i;
  (void)state;
  for(iSet=0; iSet<sizeof(aKeys)/sizeof(aKeys[0]); iSet++){
    KvBuf f = {0};
    KvBloom b;
    int nYes = 0;
    buildFilter(aKeys[iSet], 10, &f);
    kvBloomPrepare(&b, f.a, f.n);
    assert_non_null(b.a);
    for(i=0; i<20000; i++){
      u32 h = keyHash(i%2 ? "key" : "absent", i);
      int r = kvBloomCheck(&b, h);
      assert_int_equal(r, refMayContain(f.a, f.n, h));
      assert_int_equal(r, kvBloomMayContain(f.a, f.n, h));
      nYes += r;
    }
    assert_true(nYes>0 && nYes<20000);
    for(i=0; i<(int)(sizeof(aEdge)/sizeof(aEdge[0])); i++){
      assert_int_equal(kvBloomCheck(&b, aEdge[i]),
                       refMayContain(f.a, f.n, aEdge[i]));
    }
    /* a filter one byte longer: a bit count that is no power of two */
    assert_int_equal(kvBufAppend(&f, "\x5a", 1), KV_OK);
    f.a[f.n-2] ^= f.a[f.n-1];
    f.a[f.n-1] = 6;
    kvBloomPrepare(&b, f.a, f.n);
    for(i=0; i<5000; i++){
      u32 h = keyHash("x", i) * 2654435761u;
      assert_int_equal(kvBloomCheck(&b, h), refMayContain(f.a, f.n, h));
    }
    kvBufFree(&f);
  }
  {
    KvBloom b;
    u8 aBad[9] = {0};
    aBad[8] = 0;
    kvBloomPrepare(&b, aBad, 9);
    assert_null(b.a);
    assert_int_equal(kvBloomCheck(&b, 123), 1);
    kvBloomPrepare(&b, 0, 0);
    assert_int_equal(kvBloomCheck(&b, 123), 1);
  }
}

/* Reference probe of the blocked layout, written from its description in
** bloom.c: line (h * nLine) >> 32, bits x_j >> 23 with x_0 = h * M and
** x_(j+1) = x_j * M. */
static int refBlockedMayContain(const u8 *a, size_t n, u32 hash){
  u32 nLine, x;
  const u8 *aLine;
  int k, j;
  if( a==0 || n<65 || (n-1)%64 ) return 1;
  k = a[n-1] - 64;
  if( k<1 || k>30 ) return 1;
  nLine = (u32)((n-1)/64);
  aLine = a + 64*(size_t)(((u64)hash * nLine) >> 32);
  x = hash * 0x9e3779b1u;
  for(j=0; j<k; j++){
    u32 iBit = x >> 23;
    if( (aLine[iBit/8] & (1<<(iBit%8)))==0 ) return 0;
    x *= 0x9e3779b1u;
  }
  return 1;
}

/* The blocked layout: whole 64-byte lines, the marker byte 64 + k, no
** false negatives, every key's bits in one line, and probes that answer
** as the reference for present, absent and extreme hashes. */
static void test_blocked_layout(void **state){
  static const int aKeys[] = { 0, 1, 3, 51, 52, 1000, 10000, 33333 };
  static const u32 aEdge[] = { 0, 1, 0x7fffffffu, 0x80000000u, 0xfffffffeu,
                               0xffffffffu };
  size_t t;
  int i;
  (void)state;
  for(t=0; t<sizeof(aKeys)/sizeof(aKeys[0]); t++){
    KvBuf f = {0};
    KvBloom b;
    int nKey = aKeys[t];
    size_t nWant = ((size_t)nKey*10/8 + 63)/64*64;
    if( nWant<64 ) nWant = 64;
    buildFilterAs(1, nKey, 10, &f);
    assert_int_equal(f.n, nWant + 1);
    assert_int_equal(f.a[f.n-1], 64 + 7);
    kvBloomPrepare(&b, f.a, f.n);
    assert_non_null(b.a);
    assert_int_equal(b.nLine, (u32)(nWant/64));
    for(i=0; i<nKey; i++){
      u32 h = keyHash("key", i);
      assert_int_equal(kvBloomCheck(&b, h), 1);
      assert_int_equal(kvBloomMayContain(f.a, f.n, h), 1);
      assert_int_equal(refBlockedMayContain(f.a, f.n, h), 1);
    }
    for(i=0; i<20000; i++){
      u32 h = keyHash("absent", i);
      assert_int_equal(kvBloomCheck(&b, h), refBlockedMayContain(f.a, f.n, h));
    }
    for(i=0; i<(int)(sizeof(aEdge)/sizeof(aEdge[0])); i++){
      assert_int_equal(kvBloomCheck(&b, aEdge[i]),
                       refBlockedMayContain(f.a, f.n, aEdge[i]));
    }
    kvBufFree(&f);
  }
  /* One key sets at most k bits, all in one line; the others are zero. */
  for(i=0; i<200; i++){
    KvBuf f = {0};
    u32 h = keyHash("one", i);
    size_t j, iLine = (size_t)-1;
    int nSet = 0;
    assert_int_equal(kvBloomBuild(&h, 1, 10000, &f), KV_OK);
    assert_int_equal(f.n, 20*64 + 1);             /* 10000 bits: 20 lines */
    assert_int_equal(f.a[f.n-1], 64 + 30);       /* k clamped to 30 */
    for(j=0; j<f.n-1; j++){
      int bit;
      for(bit=0; bit<8; bit++){
        if( f.a[j] & (1<<bit) ){
          if( iLine==(size_t)-1 ) iLine = j/64;
          assert_int_equal(j/64, iLine);
          nSet++;
        }
      }
    }
    assert_true(nSet>=1 && nSet<=30);
    assert_int_equal(iLine, (size_t)(((u64)h * 20) >> 32));
    assert_int_equal(kvBloomMayContain(f.a, f.n, h), 1);
    kvBufFree(&f);
  }
}

/* At every bits-per-key setting the blocked layout finds every key and
** keeps false positives near the flat layout's theory (one line per key
** costs a little: within 2x of it, and under 2% at 10 bits per key). */
static void test_blocked_false_positive_rate(void **state){
  static const int aBits[] = { 1, 2, 4, 5, 8, 10, 15, 20, 44, 64 };
  size_t t;
  (void)state;
  for(t=0; t<sizeof(aBits)/sizeof(aBits[0]); t++){
    KvBuf f = {0}, g = {0};
    int nBits = aBits[t];
    int nKey = 5000;
    int i;
    double rate, theory;
    buildFilterAs(1, nKey, nBits, &f);
    buildFilterAs(0, nKey, nBits, &g);
    assert_int_equal(f.a[f.n-1], 64 + expectedProbes(nBits));
    for(i=0; i<nKey; i++){
      assert_int_equal(kvBloomMayContain(f.a, f.n, keyHash("key", i)), 1);
    }
    rate = fpRate(&f, 50000);
    theory = fpTheory(&g, nKey);
    if( theory*50000 >= 50 ){
      assert_true(rate <= 2.0*theory);
      assert_true(rate >= theory/2.0);
    }else{
      assert_true(rate*50000 <= 100);
    }
    if( nBits==10 ) assert_true(rate < 0.02);
    kvBufFree(&f);
    kvBufFree(&g);
  }
}

/* A blocked marker on a filter that is not whole lines, or with a probe
** count of 0 or above 30, cannot be understood: "may contain". */
static void test_blocked_malformed(void **state){
  u8 aZero[129];
  KvBloom b;
  int i;
  (void)state;
  memset(aZero, 0, sizeof(aZero));
  aZero[64] = 64 + 7;                   /* one zeroed line: rejects */
  assert_int_equal(kvBloomMayContain(aZero, 65, 123), 0);
  kvBloomPrepare(&b, aZero, 65);
  assert_int_equal(b.nLine, 1);
  aZero[64] = 64;                       /* k = 0 */
  assert_int_equal(kvBloomMayContain(aZero, 65, 123), 1);
  aZero[64] = 64 + 31;                  /* k = 31 */
  assert_int_equal(kvBloomMayContain(aZero, 65, 123), 1);
  aZero[65] = 64 + 7;                   /* 65 bytes of bits: not a line */
  assert_int_equal(kvBloomMayContain(aZero, 66, 123), 1);
  aZero[8] = 64 + 7;                    /* 8 bytes of bits */
  assert_int_equal(kvBloomMayContain(aZero, 9, 123), 1);
  aZero[128] = 64 + 7;                  /* two zeroed lines: reject all */
  for(i=0; i<1000; i++){
    assert_int_equal(kvBloomMayContain(aZero, 129, keyHash("k", i)), 0);
  }
}

/* Both layouts refuse a filter beyond 2^32 bits before allocating it,
** with the key count and bits per key in the message, and write nothing. */
static void test_filter_too_large(void **state){
  u32 dummy = 0;
  KvBuf buf = {0, 0, 0};
  (void)state;
  assert_int_equal(kvBloomBuild(&dummy, 70000000, 64, &buf), KV_TOOBIG);
  assert_non_null(strstr(kvErrMsg(), "70000000 keys at 64 bits"));
  assert_int_equal(kvBloomBuildFlat(&dummy, 70000000, 64, &buf), KV_TOOBIG);
  assert_int_equal(buf.n, 0);
  /* the same bits per key for one key builds */
  assert_int_equal(kvBloomBuild(&dummy, 1, 64, &buf), KV_OK);
  assert_true(buf.n>0);
  kvBufFree(&buf);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_hash),
    cmocka_unit_test(test_filter_too_large),
    cmocka_unit_test(test_no_false_negatives),
    cmocka_unit_test(test_false_positive_rate),
    cmocka_unit_test(test_empty_set),
    cmocka_unit_test(test_bits_per_key),
    cmocka_unit_test(test_small_and_append),
    cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_prepared_equals_plain),
    cmocka_unit_test(test_blocked_layout),
    cmocka_unit_test(test_blocked_false_positive_rate),
    cmocka_unit_test(test_blocked_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
