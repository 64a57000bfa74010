/*
** test_sha256.c - SHA-256 against the FIPS 180-4 / NIST example vectors,
** incremental hashing split at every offset, and the Merkle root against a
** direct level-by-level computation.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "kvInt.h"

static void toHex(const u8 *a, int n, char *zOut){
  static const char hex[] = "0123456789abcdef";
  int i;
  for(i=0; i<n; i++){
    zOut[2*i] = hex[a[i]>>4];
    zOut[2*i+1] = hex[a[i]&0xf];
  }
  zOut[2*n] = 0;
}

static void checkHash(const char *zMsg, const char *zExpect){
  u8 a[32];
  char zHex[65];
  kvSha256(zMsg, strlen(zMsg), a);
  toHex(a, 32, zHex);
  assert_string_equal(zHex, zExpect);
}

static void test_empty(void **state){
  (void)state;
  checkHash("",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_abc(void **state){
  (void)state;
  checkHash("abc",
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static const char *z448 =
  "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
static const char *z896 =
  "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
  "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

static void test_448bit(void **state){
  (void)state;
  assert_int_equal(strlen(z448), 56);
  checkHash(z448,
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_896bit(void **state){
  (void)state;
  assert_int_equal(strlen(z896), 112);
  checkHash(z896,
    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a(void **state){
  u8 aChunk[1000];
  u8 a[32];
  char zHex[65];
  KvSha256 ctx;
  int i;
  (void)state;
  memset(aChunk, 'a', sizeof(aChunk));
  kvSha256Init(&ctx);
  for(i=0; i<1000; i++) kvSha256Update(&ctx, aChunk, sizeof(aChunk));
  kvSha256Final(&ctx, a);
  toHex(a, 32, zHex);
  assert_string_equal(zHex,
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

  /* The same in one call, through the whole-block fast path. */
  {
    u8 *pBig = malloc(1000000);
    u8 b[32];
    assert_non_null(pBig);
    memset(pBig, 'a', 1000000);
    kvSha256(pBig, 1000000, b);
    assert_memory_equal(a, b, 32);
    free(pBig);
  }
}

/* Every split point of messages around block boundaries gives the digest
** of the one-shot call; also three-way splits. */
static void test_incremental(void **state){
  u8 aMsg[300];
  size_t n, i, j;
  (void)state;
  for(i=0; i<sizeof(aMsg); i++) aMsg[i] = (u8)(i*131 + 7);
  for(n=0; n<=sizeof(aMsg); n+=(n<130 ? 1 : 17)){
    u8 expect[32];
    kvSha256(aMsg, n, expect);
    for(i=0; i<=n; i++){
      KvSha256 ctx;
      u8 got[32];
      kvSha256Init(&ctx);
      kvSha256Update(&ctx, aMsg, i);
      kvSha256Update(&ctx, aMsg+i, n-i);
      kvSha256Final(&ctx, got);
      assert_memory_equal(got, expect, 32);
    }
  }
  /* Byte at a time, and a three-way split of the 896-bit vector. */
  {
    size_t n896 = strlen(z896);
    u8 expect[32];
    kvSha256(z896, n896, expect);
    for(i=0; i<=n896; i++){
      for(j=i; j<=n896; j++){
        KvSha256 ctx;
        u8 got[32];
        kvSha256Init(&ctx);
        kvSha256Update(&ctx, z896, i);
        kvSha256Update(&ctx, z896+i, j-i);
        kvSha256Update(&ctx, z896+j, n896-j);
        kvSha256Final(&ctx, got);
        assert_memory_equal(got, expect, 32);
      }
    }
  }
}

/* Direct computation from the documented rule: pair level by level,
** parent = SHA-256(0x01 || left || right), odd last node promoted. */
static void merkleDirect(const u8 *aLeaf, size_t nLeaf, u8 aOut[32]){
  u8 *aLevel;
  size_t n = nLeaf, i;
  if( nLeaf==0 ){
    kvSha256("", 0, aOut);
    return;
  }
  aLevel = malloc(32*nLeaf);
  assert_non_null(aLevel);
  memcpy(aLevel, aLeaf, 32*nLeaf);
  while( n>1 ){
    size_t nNext = 0;
    for(i=0; i+1<n; i+=2){
      u8 aIn[65];
      aIn[0] = 0x01;
      memcpy(aIn+1, aLevel+32*i, 32);
      memcpy(aIn+33, aLevel+32*(i+1), 32);
      kvSha256(aIn, 65, aLevel + 32*nNext);
      nNext++;
    }
    if( n & 1 ){
      memmove(aLevel + 32*nNext, aLevel + 32*(n-1), 32);
      nNext++;
    }
    n = nNext;
  }
  memcpy(aOut, aLevel, 32);
  free(aLevel);
}

static void test_merkle(void **state){
  u8 aLeaf[32*40];
  size_t n, i;
  (void)state;
  for(i=0; i<40; i++){
    char zBlock[32];
    snprintf(zBlock, sizeof(zBlock), "block %d", (int)i);
    kvSha256(zBlock, strlen(zBlock), aLeaf + 32*i);
  }

  /* 0 leaves: hash of the empty string. */
  {
    u8 got[32], expect[32];
    kvMerkleRoot(NULL, 0, got);
    kvSha256("", 0, expect);
    assert_memory_equal(got, expect, 32);
  }
  /* 1 leaf: itself. */
  {
    u8 got[32];
    kvMerkleRoot(aLeaf, 1, got);
    assert_memory_equal(got, aLeaf, 32);
  }
  /* 2, 3 leaves written out by hand. */
  {
    u8 got[32], h01[32], aIn[65];
    aIn[0] = 1;
    memcpy(aIn+1, aLeaf, 32);
    memcpy(aIn+33, aLeaf+32, 32);
    kvSha256(aIn, 65, h01);
    kvMerkleRoot(aLeaf, 2, got);
    assert_memory_equal(got, h01, 32);

    {
      u8 expect[32];
      memcpy(aIn+1, h01, 32);
      memcpy(aIn+33, aLeaf+64, 32);
      kvSha256(aIn, 65, expect);
      kvMerkleRoot(aLeaf, 3, got);
      assert_memory_equal(got, expect, 32);
    }
  }
  /* 0..40 leaves (covering 4 and 5) against the direct computation. */
  for(n=0; n<=40; n++){
    u8 got[32], expect[32];
    kvMerkleRoot(aLeaf, n, got);
    merkleDirect(aLeaf, n, expect);
    assert_memory_equal(got, expect, 32);
  }
  /* Order matters. */
  {
    u8 a[32], b[32], aSwap[64];
    memcpy(aSwap, aLeaf+32, 32);
    memcpy(aSwap+32, aLeaf, 32);
    kvMerkleRoot(aLeaf, 2, a);
    kvMerkleRoot(aSwap, 2, b);
    assert_memory_not_equal(a, b, 32);
  }
}

/* The accelerated block function against the portable one, on every
** length across a few block boundaries and on misaligned input. */
static void test_accel_matches_portable(void **state){
  u8 aData[1100];
  u8 aWant[32], aGot[32];
  size_t n, iAlign;
  (void)state;
  for(n=0; n<sizeof(aData); n++) aData[n] = (u8)(n*131 + (n>>3)*7 + 5);
  for(iAlign=0; iAlign<4; iAlign++){
    for(n=0; n+iAlign<=sizeof(aData); n+=(n<300 ? 1 : 37)){
      kvSha256SetAccel(0);
      kvSha256(aData + iAlign, n, aWant);
      kvSha256SetAccel(1);
      kvSha256(aData + iAlign, n, aGot);
      assert_memory_equal(aWant, aGot, 32);
    }
  }
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_empty),
    cmocka_unit_test(test_abc),
    cmocka_unit_test(test_448bit),
    cmocka_unit_test(test_896bit),
    cmocka_unit_test(test_million_a),
    cmocka_unit_test(test_incremental),
    cmocka_unit_test(test_merkle),
  };
  const struct CMUnitTest cross[] = {
    cmocka_unit_test(test_accel_matches_portable),
  };
  int nFail = 0;
  int bAccel;
  /* Every vector with the portable code, then with the processor's SHA
  ** extensions where it has them. */
  for(bAccel=0; bAccel<2; bAccel++){
    int bOn = kvSha256SetAccel(bAccel);
    printf("SHA-256 block function: %s\n", bOn ? "SHA extensions" : "portable");
    nFail += cmocka_run_group_tests(tests, NULL, NULL);
  }
  nFail += cmocka_run_group_tests(cross, NULL, NULL);
  return nFail;
}
