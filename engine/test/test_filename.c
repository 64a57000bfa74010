/*
** test_filename.c - kvFileName, kvFileNameBuf and kvParseFileName
** (filename.c): every kind round-trips, the spellings the engine has
** always written and accepted, and the names it must not take for its own
** (a .damaged table, foreign files, half-formed numbers).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "testutil.h"
#include "filename.h"

static void checkName(const char *zDir, int eType, u64 iNum,
                      const char *zWant){
  char *z = kvFileName(zDir, eType, iNum);
  assert_non_null(z);
  assert_string_equal(z, zWant);
  kvFree(z);
}

static void test_build(void **state){
  (void)state;
  checkName("/d", KV_FILE_IDENTITY, 0, "/d/KVSTORE");
  checkName("/d", KV_FILE_IDENTITY_TMP, 0, "/d/KVSTORE.tmp");
  checkName("/d", KV_FILE_LOCK, 0, "/d/LOCK");
  checkName("/d", KV_FILE_CURRENT, 0, "/d/CURRENT");
  checkName("/d", KV_FILE_CURRENT_TMP, 0, "/d/CURRENT.tmp");
  checkName("/d", KV_FILE_DROPPED, 0, "/d/CURRENT.dropped");
  checkName("/d", KV_FILE_MANIFEST, 7, "/d/MANIFEST-000007");
  checkName("/d", KV_FILE_WAL, 42, "/d/wal-000042.log");
  checkName("/d", KV_FILE_WAL, 12345678, "/d/wal-12345678.log");
  checkName("/d", KV_FILE_SST, 3, "/d/000003.sst");
  checkName("/d", KV_FILE_SST_TMP, 3, "/d/000003.sst.tmp");
  checkName("/d", KV_FILE_SST_DAMAGED, 3, "/d/000003.sst.damaged");
  checkName(0, KV_FILE_MANIFEST, 1, "MANIFEST-000001");
  checkName(0, KV_FILE_LOCK, 0, "LOCK");
  assert_null(kvFileName("/d", 999, 0));
}

static void test_buf(void **state){
  char z[16];
  (void)state;
  kvFileNameBuf(z, sizeof(z), KV_FILE_SST, 12);
  assert_string_equal(z, "000012.sst");
  kvFileNameBuf(z, 8, KV_FILE_SST, 12);
  assert_string_equal(z, "000012.");              /* truncated to fit */
  kvFileNameBuf(z, sizeof(z), 999, 1);
  assert_string_equal(z, "");
}

/* Every kind, built then parsed, gives back its kind and number. */
static void test_round_trip(void **state){
  static const int aType[] = {
    KV_FILE_IDENTITY, KV_FILE_IDENTITY_TMP, KV_FILE_LOCK, KV_FILE_CURRENT,
    KV_FILE_CURRENT_TMP, KV_FILE_DROPPED, KV_FILE_MANIFEST, KV_FILE_WAL,
    KV_FILE_SST, KV_FILE_SST_TMP, KV_FILE_SST_DAMAGED,
  };
  static const u64 aNum[] = { 1, 999999, 1000000, 18446744073709551615ull };
  size_t i, j;
  (void)state;
  for(i=0; i<sizeof(aType)/sizeof(aType[0]); i++){
    for(j=0; j<sizeof(aNum)/sizeof(aNum[0]); j++){
      int bNum = aType[i]>=KV_FILE_MANIFEST;
      char *z = kvFileName(0, aType[i], aNum[j]);
      int eType = -1;
      u64 iNum = 99;
      assert_non_null(z);
      assert_int_equal(kvParseFileName(z, &eType, &iNum), 1);
      assert_int_equal(eType, aType[i]);
      assert_true(iNum==(bNum ? aNum[j] : 0));
      kvFree(z);
    }
  }
}

static void checkParse(const char *z, int bOk, int eWant, u64 iWant){
  int eType = -1;
  u64 iNum = 99;
  assert_int_equal(kvParseFileName(z, &eType, &iNum), bOk);
  assert_int_equal(eType, bOk ? eWant : KV_FILE_NONE);
  if( bOk ) assert_true(iNum==iWant);
}

static void test_parse(void **state){
  (void)state;
  /* Any run of digits, not only the 6-digit spelling. */
  checkParse("1.sst", 1, KV_FILE_SST, 1);
  checkParse("0000001234.sst.tmp", 1, KV_FILE_SST_TMP, 1234);
  checkParse("MANIFEST-5", 1, KV_FILE_MANIFEST, 5);
  checkParse("wal-7.log", 1, KV_FILE_WAL, 7);
  /* Not ours. */
  checkParse("", 0, 0, 0);
  checkParse(".sst", 0, 0, 0);
  checkParse("12x.sst", 0, 0, 0);
  checkParse("000001.sst.bak", 0, 0, 0);
  checkParse("MANIFEST-", 0, 0, 0);
  checkParse("MANIFEST-12a", 0, 0, 0);
  checkParse("wal-.log", 0, 0, 0);
  checkParse("wal-12.log.old", 0, 0, 0);
  checkParse("wal-1x2.log", 0, 0, 0);
  checkParse("log", 0, 0, 0);
  checkParse("LOCK.tmp", 0, 0, 0);
  checkParse("current", 0, 0, 0);
  checkParse("000001.log", 0, 0, 0);        /* a LevelDB log */
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_build),
    cmocka_unit_test(test_buf),
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
