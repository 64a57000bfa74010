/*
** test_crc32.c - kvCrc32 (crc32.c) against zlib's crc32(), with zlib
** alone and with each carry-less-multiplication path the processor has
** (128 and 512 bits wide): every length from 0 to a few folding rounds
** past the thresholds, four alignments, chained calls split at every
** point of a buffer, and a known value.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>
#include <zlib.h>

#include "testutil.h"

#define NDATA 5000

static u8 aData[NDATA + 8];

static void fill(void){
  u64 x = 0x243f6a8885a308d3ull;
  size_t i;
  for(i=0; i<sizeof(aData); i++){
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    aData[i] = (u8)(x >> 29);
  }
}

static u32 zlibValue(u32 crc, const u8 *a, size_t n){
  return (u32)crc32(crc, a, (uInt)n);
}

static void checkMode(int eAccel){
  size_t n, iAlign;
  assert_int_equal(kvCrc32SetAccel(eAccel), eAccel);
  /* "123456789" is the CRC-32 check value of the catalogues */
  assert_int_equal(kvCrc32("123456789", 9), 0xcbf43926u);
  assert_int_equal(kvCrc32("", 0), 0);
  for(iAlign=0; iAlign<4; iAlign++){
    const u8 *a = aData + iAlign;
    for(n=0; n<=NDATA; n += (n<600 ? 1 : 53)){
      assert_int_equal(kvCrc32(a, n), zlibValue(0, a, n));
    }
  }
  /* chained: any split of the input gives the value of the whole */
  for(n=0; n<=1100; n+=7){
    u32 c = kvCrc32(aData, n);
    c = kvCrc32Extend(c, aData + n, 1100 - n);
    assert_int_equal(c, zlibValue(0, aData, 1100));
  }
  for(n=0; n<=NDATA; n+=331){
    u32 c = kvCrc32(aData, n);
    c = kvCrc32Extend(c, aData + n, NDATA - n);
    assert_int_equal(c, zlibValue(0, aData, NDATA));
  }
  /* a non-zero start value, as a chained caller passes: its bytes go
  ** into the first four of the message, which the folds may split
  ** between two lanes (every length mod 16, either side of the four-lane
  ** and the 256-byte thresholds) */
  assert_int_equal(kvCrc32Extend(0x12345678u, aData, 4096),
                   zlibValue(0x12345678u, aData, 4096));
  for(n=0; n<=300; n++){
    assert_int_equal(kvCrc32Extend(0xdeadbeefu, aData + 1, n),
                     zlibValue(0xdeadbeefu, aData + 1, n));
  }
}

static void test_zlib_only(void **state){
  (void)state;
  checkMode(KV_CRC_ZLIB);
}

/* checkMode on a path the processor has (kvCrc32SetAccel gives back the
** one asked for); a path it lacks is reported and skipped. */
static void checkIfPresent(int eAccel, const char *zWhat){
  if( kvCrc32SetAccel(eAccel)!=eAccel ){
    printf("no %s on this processor: not tested\n", zWhat);
    return;
  }
  checkMode(eAccel);
}

static void test_accelerated(void **state){
  (void)state;
  checkIfPresent(KV_CRC_CLMUL128, "PCLMULQDQ");
}

static void test_accelerated_wide(void **state){
  (void)state;
  checkIfPresent(KV_CRC_CLMUL512, "AVX-512 VPCLMULQDQ");
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_zlib_only),
    cmocka_unit_test(test_accelerated),
    cmocka_unit_test(test_accelerated_wide),
  };
  fill();
  return cmocka_run_group_tests(tests, NULL, NULL);
}
