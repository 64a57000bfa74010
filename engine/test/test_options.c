/*
** test_options.c - kv_options: defaults, parsing of every kind of value
** (sizes with each suffix, quotes, enums, booleans, numbers), rejection of
** bad values for every option with a message naming option and value,
** unknown names, is_set, deep copy and the environment hook.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "kvInt.h"

/* kv_options_get(name) equals zExpect. */
static void checkGet(const kv_options *o, const char *zName,
                     const char *zExpect){
  char *z = kv_options_get(o, zName);
  assert_non_null(z);
  if( strcmp(z, zExpect)!=0 ){
    fail_msg("option %s: got '%s', expected '%s'", zName, z, zExpect);
  }
  kv_free(z);
}

/* Setting zName to zValue succeeds and reads back as zExpect. */
static void setOk(kv_options *o, const char *zName, const char *zValue,
                  const char *zExpect){
  char *zErr = (char*)&zErr;
  int rc = kv_options_set(o, zName, zValue, &zErr);
  if( rc!=KV_OK ){
    fail_msg("set %s=%s failed: %s", zName, zValue, zErr ? zErr : "?");
  }
  assert_null(zErr);
  assert_int_equal(kv_options_is_set(o, zName), 1);
  checkGet(o, zName, zExpect);
}

/* Setting zName to zValue fails with a message naming both, containing
** zExpectPart (if not NULL), and leaves the option as it was. */
static void setBad(kv_options *o, const char *zName, const char *zValue,
                   const char *zExpectPart){
  char *zErr = 0;
  char *zBefore = kv_options_get(o, zName);
  char *zAfter;
  char zNeedle[300];
  int bSetBefore = kv_options_is_set(o, zName);
  int rc = kv_options_set(o, zName, zValue, &zErr);
  if( rc!=KV_ERROR ){
    fail_msg("set %s=%s: expected KV_ERROR, got %d", zName, zValue, rc);
  }
  assert_non_null(zErr);
  snprintf(zNeedle, sizeof(zNeedle), "for option '%s'", zName);
  if( strstr(zErr, zNeedle)==0 ) fail_msg("no option name in: %s", zErr);
  if( strncmp(zErr, "kvstore: bad value '", 20)!=0 ){
    fail_msg("unexpected message: %s", zErr);
  }
  if( zExpectPart && strstr(zErr, zExpectPart)==0 ){
    fail_msg("'%s' not in: %s", zExpectPart, zErr);
  }
  /* The thread's message is the same. */
  assert_string_equal(kv_errmsg(NULL), zErr);
  zAfter = kv_options_get(o, zName);
  assert_string_equal(zBefore, zAfter);
  assert_int_equal(kv_options_is_set(o, zName), bSetBefore);
  kv_free(zBefore);
  kv_free(zAfter);
  kv_free(zErr);
}

static void test_defaults(void **state){
  kv_options *o = kv_options_new();
  (void)state;
  assert_non_null(o);
  checkGet(o, "dir", "");
  checkGet(o, "config", "");
  checkGet(o, "key_type", "text");
  checkGet(o, "sync", "full");
  checkGet(o, "memtable_size", "4194304");
  checkGet(o, "wal_segment_size", "16777216");
  checkGet(o, "wal_segment_records", "0");
  checkGet(o, "block_size", "4096");
  checkGet(o, "compression", "none");
  checkGet(o, "compression_level", "1");
  checkGet(o, "bloom_bits_per_key", "10");
  checkGet(o, "summary_interval", "16");
  checkGet(o, "cache_size", "8388608");
  checkGet(o, "compaction", "leveled");
  checkGet(o, "levels", "7");
  checkGet(o, "level0_trigger", "8");
  checkGet(o, "level_size_multiplier", "10");
  checkGet(o, "target_file_size", "2097152");
  checkGet(o, "background", "on");
  checkGet(o, "rate_limit", "0");
  checkGet(o, "rate_burst", "0");
  checkGet(o, "rate_wait_ms", "0");
  checkGet(o, "max_key_size", "65536");
  checkGet(o, "max_value_size", "67108864");

  /* And the struct fields the engine reads. */
  assert_null(o->zDir);
  assert_null(o->zConfig);
  assert_int_equal(o->eKeyType, KV_KEY_TEXT);
  assert_int_equal(o->eSync, KV_SYNC_FULL);
  assert_int_equal(o->nMemtable, 4<<20);
  assert_int_equal(o->nWalSegment, 16<<20);
  assert_int_equal(o->nWalRecords, 0);
  assert_int_equal(o->nBlock, 4096);
  assert_int_equal(o->eCompression, KV_COMPRESS_NONE);
  assert_int_equal(o->iCompressionLevel, 1);
  assert_int_equal(o->nBloomBits, 10);
  assert_int_equal(o->nSummaryInterval, 16);
  assert_int_equal(o->nCache, 8<<20);
  assert_int_equal(o->eCompaction, KV_COMPACT_LEVELED);
  assert_int_equal(o->nLevel, 7);
  assert_int_equal(o->nL0Trigger, 8);
  assert_int_equal(o->nLevelMultiplier, 10);
  assert_int_equal(o->nTargetFile, 2<<20);
  assert_int_equal(o->bBackground, 1);
  assert_true(o->rRateLimit==0.0);
  assert_true(o->rRateBurst==0.0);
  assert_int_equal(o->nRateWaitMs, 0);
  assert_int_equal(o->nMaxKey, 65536);
  assert_int_equal(o->nMaxValue, 64<<20);
  assert_int_equal(o->mSet, 0);
  assert_null(o->pEnv);
  kv_options_free(o);
  kv_options_free(NULL);
}

/* Every name in kv_options_names() is an option with a default, unset. */
static void test_names(void **state){
  kv_options *o = kv_options_new();
  const char *z = kv_options_names();
  int n = 0;
  (void)state;
  assert_non_null(o);
  while( *z ){
    char zName[64];
    size_t k = strcspn(z, ",");
    assert_true(k < sizeof(zName));
    memcpy(zName, z, k);
    zName[k] = 0;
    assert_int_equal(kv_options_is_set(o, zName), 0);
    {
      char *zv = kv_options_get(o, zName);
      assert_non_null(zv);
      kv_free(zv);
    }
    n++;
    z += k;
    if( *z==',' ) z++;
    if( *z==' ' ) z++;
  }
  assert_int_equal(n, 26);             /* with txn_spill (spill.c) */
  kv_options_free(o);
}

static void test_sizes(void **state){
  kv_options *o = kv_options_new();
  (void)state;
  assert_non_null(o);
  setOk(o, "memtable_size", "1048576", "1048576");
  setOk(o, "memtable_size", "8MB", "8388608");
  setOk(o, "memtable_size", "8mb", "8388608");
  setOk(o, "memtable_size", "8 MiB", "8388608");
  setOk(o, "memtable_size", "8mib", "8388608");
  setOk(o, "memtable_size", "128KB", "131072");
  setOk(o, "memtable_size", "128 KiB", "131072");
  setOk(o, "memtable_size", "128kib", "131072");
  setOk(o, "memtable_size", "1GB", "1073741824");
  setOk(o, "memtable_size", "1 GiB", "1073741824");
  setOk(o, "memtable_size", "2gib", "2147483648");
  setOk(o, "memtable_size", "65536B", "65536");
  setOk(o, "memtable_size", "65536 b", "65536");
  /* Quotes as the caller's SQL may give them, and whitespace. */
  setOk(o, "memtable_size", "'4MB'", "4194304");
  setOk(o, "memtable_size", "\"4MB\"", "4194304");
  setOk(o, "memtable_size", "  ' 5MB '  ", "5242880");
  setOk(o, "memtable_size", " 6MB\t", "6291456");
  assert_int_equal(o->nMemtable, 6<<20);
  /* Bounds are inclusive. */
  setOk(o, "memtable_size", "64KiB", "65536");
  setOk(o, "memtable_size", "4GiB", "4294967296");
  setOk(o, "block_size", "256", "256");
  setOk(o, "block_size", "1MB", "1048576");
  assert_int_equal(o->nBlock, 1<<20);
  setOk(o, "block_size", "16KB", "16384");
  assert_int_equal(o->nBlock, 16384);
  setOk(o, "wal_segment_size", "4KB", "4096");
  setOk(o, "wal_segment_size", "64MB", "67108864");
  setOk(o, "cache_size", "0", "0");
  setOk(o, "cache_size", "64MB", "67108864");
  setOk(o, "target_file_size", "1MB", "1048576");
  setOk(o, "max_key_size", "1", "1");
  setOk(o, "max_key_size", "64MiB", "67108864");
  setOk(o, "max_value_size", "0", "0");
  setOk(o, "max_value_size", "1GB", "1073741824");
  assert_int_equal(o->nMaxValue, 1<<30);
  /* Names are case-insensitive and may carry spaces. */
  setOk(o, " Cache_Size ", "1MB", "1048576");
  checkGet(o, "CACHE_SIZE", "1048576");
  kv_options_free(o);
}

static void test_enums(void **state){
  kv_options *o = kv_options_new();
  (void)state;
  assert_non_null(o);
  setOk(o, "key_type", "blob", "blob");
  assert_int_equal(o->eKeyType, KV_KEY_BLOB);
  setOk(o, "key_type", "INTEGER", "integer");
  assert_int_equal(o->eKeyType, KV_KEY_INTEGER);
  setOk(o, "key_type", "'text'", "text");
  assert_int_equal(o->eKeyType, KV_KEY_TEXT);
  setOk(o, "sync", "off", "off");
  assert_int_equal(o->eSync, KV_SYNC_OFF);
  setOk(o, "sync", "Normal", "normal");
  assert_int_equal(o->eSync, KV_SYNC_NORMAL);
  setOk(o, "sync", "\"full\"", "full");
  assert_int_equal(o->eSync, KV_SYNC_FULL);
  setOk(o, "compression", "none", "none");
  assert_int_equal(o->eCompression, KV_COMPRESS_NONE);
  setOk(o, "compression", "zlib", "zlib");
  setOk(o, "compaction", "tiered", "tiered");
  assert_int_equal(o->eCompaction, KV_COMPACT_TIERED);
  setOk(o, "compaction", "leveled", "leveled");
  setOk(o, "background", "off", "off");
  assert_int_equal(o->bBackground, 0);
  setOk(o, "background", "on", "on");
  assert_int_equal(o->bBackground, 1);
  setOk(o, "background", "0", "off");
  setOk(o, "background", "1", "on");
  setOk(o, "background", "false", "off");
  setOk(o, "background", "TRUE", "on");
  setOk(o, "background", "no", "off");
  setOk(o, "background", "'yes'", "on");
  kv_options_free(o);
}

static void test_numbers(void **state){
  kv_options *o = kv_options_new();
  (void)state;
  assert_non_null(o);
  setOk(o, "wal_segment_records", "1000", "1000");
  assert_int_equal(o->nWalRecords, 1000);
  setOk(o, "compression_level", "0", "0");
  setOk(o, "compression_level", "9", "9");
  assert_int_equal(o->iCompressionLevel, 9);
  setOk(o, "bloom_bits_per_key", "0", "0");
  setOk(o, "bloom_bits_per_key", "64", "64");
  setOk(o, "summary_interval", "1", "1");
  setOk(o, "summary_interval", "1024", "1024");
  setOk(o, "levels", "1", "1");
  setOk(o, "levels", "16", "16");
  assert_int_equal(o->nLevel, 16);
  setOk(o, "level0_trigger", "2", "2");
  setOk(o, "level_size_multiplier", "4", "4");
  setOk(o, "rate_wait_ms", "250", "250");
  assert_int_equal(o->nRateWaitMs, 250);
  setOk(o, "rate_limit", "1000", "1000");
  assert_true(o->rRateLimit==1000.0);
  setOk(o, "rate_limit", "0.5", "0.5");
  assert_true(o->rRateLimit==0.5);
  setOk(o, "rate_limit", "'2.25'", "2.25");
  setOk(o, "rate_limit", ".5", "0.5");
  setOk(o, "rate_limit", "0", "0");
  setOk(o, "rate_burst", "50", "50");
  assert_true(o->rRateBurst==50.0);
  setOk(o, "compression_level", "007", "7");
  kv_options_free(o);
}

static void test_paths(void **state){
  kv_options *o = kv_options_new();
  (void)state;
  assert_non_null(o);
  setOk(o, "dir", "kv-data", "kv-data");
  assert_string_equal(o->zDir, "kv-data");
  setOk(o, "dir", "'/tmp/my data'", "/tmp/my data");
  setOk(o, "dir", "'it''s'", "it's");              /* SQL doubled quote */
  setOk(o, "dir", "\"a\"\"b\"", "a\"b");
  setOk(o, "dir", "'mismatched\"", "'mismatched\"");
  setOk(o, "config", "/etc/kv.json", "/etc/kv.json");
  assert_string_equal(o->zConfig, "/etc/kv.json");
  setBad(o, "dir", "", "a non-empty path");
  setBad(o, "dir", "''", "a non-empty path");
  setBad(o, "config", "  ", "a non-empty path");
  kv_options_free(o);
}

/* Bad values of every kind for every option. */
static void test_bad_values(void **state){
  static const char *SIZE_MSG =
    "expected a size in bytes with optional KB, MB, GB, KiB, MiB or GiB "
    "suffix";
  static const char *aSizeOpt[] = {
    "memtable_size", "wal_segment_size", "block_size", "cache_size",
    "target_file_size", "max_key_size", "max_value_size"
  };
  static const char *aBadSize[] = {
    "", "''", "abc", "-1", "-1MB", "1.5MB", "0.5", "4XB", "4 M B", "MB",
    "4MBx", "4 MB junk", "18446744073709551616", "99999999999999999999",
    "17179869184GB", "16777216TB", "0x10", "+5", "1e6", "4 KBB", "'4MB\"",
  };
  static const struct { const char *zName, *zMsg; } aInt[] = {
    { "wal_segment_records", "expected an integer between 0 and 1000000000" },
    { "compression_level", "expected an integer between 0 and 9" },
    { "bloom_bits_per_key", "expected an integer between 0 and 64" },
    { "summary_interval", "expected an integer between 1 and 1024" },
    { "levels", "expected an integer between 1 and 16" },
    { "level0_trigger", "expected an integer between 1 and 64" },
    { "level_size_multiplier", "expected an integer between 2 and 100" },
    { "rate_wait_ms", "expected an integer between 0 and 3600000" },
  };
  static const char *aBadInt[] = {
    "", "x", "1.5", "1KB", "--1", "+1", "1 2", "99999999999999999999",
    "-99999999999999999999", "0x5", "1e3",
  };
  static const struct { const char *zName, *zMsg; } aEnum[] = {
    { "key_type", "expected one of text, blob, integer" },
    { "sync", "expected one of full, normal, off" },
    { "compression", "expected one of zlib, none" },
    { "compaction", "expected one of leveled, tiered" },
    { "background", "expected on or off" },
  };
  static const char *aBadEnum[] = { "", "xyz", "text2", "2", "onn", "t" };
  kv_options *o = kv_options_new();
  size_t i, j;
  (void)state;
  assert_non_null(o);

  for(i=0; i<sizeof(aSizeOpt)/sizeof(aSizeOpt[0]); i++){
    for(j=0; j<sizeof(aBadSize)/sizeof(aBadSize[0]); j++){
      setBad(o, aSizeOpt[i], aBadSize[j], SIZE_MSG);
    }
  }
  /* Out of range sizes, with the bounds in the message. */
  setBad(o, "memtable_size", "64000", "between 64 KiB and 4 GiB");
  setBad(o, "memtable_size", "4GiB1", SIZE_MSG);
  setBad(o, "memtable_size", "4294967297", "between 64 KiB and 4 GiB");
  setBad(o, "wal_segment_size", "4095", "between 4 KiB and 4 GiB");
  setBad(o, "block_size", "255", "between 256 bytes and 1 MiB");
  setBad(o, "block_size", "2MB", "between 256 bytes and 1 MiB");
  setBad(o, "cache_size", "65GB", "between 0 bytes and 64 GiB");
  setBad(o, "target_file_size", "1KB", "between 4 KiB and 4 GiB");
  setBad(o, "max_key_size", "0", "between 1 bytes and 64 MiB");
  setBad(o, "max_key_size", "65MB", "between 1 bytes and 64 MiB");
  setBad(o, "max_value_size", "2GB", "between 0 bytes and 1 GiB");

  for(i=0; i<sizeof(aInt)/sizeof(aInt[0]); i++){
    for(j=0; j<sizeof(aBadInt)/sizeof(aBadInt[0]); j++){
      setBad(o, aInt[i].zName, aBadInt[j], aInt[i].zMsg);
    }
  }
  setBad(o, "compression_level", "10", "between 0 and 9");
  setBad(o, "compression_level", "-1", "between 0 and 9");
  setBad(o, "bloom_bits_per_key", "65", "between 0 and 64");
  setBad(o, "summary_interval", "0", "between 1 and 1024");
  setBad(o, "summary_interval", "1025", "between 1 and 1024");
  setBad(o, "levels", "0", "between 1 and 16");
  setBad(o, "levels", "17", "between 1 and 16");
  setBad(o, "level0_trigger", "0", "between 1 and 64");
  setBad(o, "level_size_multiplier", "1", "between 2 and 100");
  setBad(o, "wal_segment_records", "-1", "between 0 and 1000000000");
  setBad(o, "wal_segment_records", "1000000001", "between 0 and 1000000000");
  setBad(o, "rate_wait_ms", "3600001", "between 0 and 3600000");

  for(i=0; i<sizeof(aEnum)/sizeof(aEnum[0]); i++){
    for(j=0; j<sizeof(aBadEnum)/sizeof(aBadEnum[0]); j++){
      setBad(o, aEnum[i].zName, aBadEnum[j], aEnum[i].zMsg);
    }
  }

  {
    static const char *aBadRate[] = {
      "", "-1", "abc", "1.2.3", "1e3", ".", "1,5", "5/s", "2000000000", "+1",
    };
    for(j=0; j<sizeof(aBadRate)/sizeof(aBadRate[0]); j++){
      setBad(o, "rate_limit", aBadRate[j], "non-negative number");
      setBad(o, "rate_burst", aBadRate[j], "non-negative number");
    }
  }

  /* The exact wording for the examples of the contract. */
  {
    char *zErr = 0;
    assert_int_equal(kv_options_set(o, "memtable_size", "xyz", &zErr),
                     KV_ERROR);
    assert_string_equal(zErr,
      "kvstore: bad value 'xyz' for option 'memtable_size': expected a size "
      "in bytes with optional KB, MB, GB, KiB, MiB or GiB suffix, between "
      "64 KiB and 4 GiB");
    kv_free(zErr);
    assert_int_equal(kv_options_set(o, "key_type", "'float'", &zErr),
                     KV_ERROR);
    assert_string_equal(zErr, "kvstore: bad value 'float' for option "
                        "'key_type': expected one of text, blob, integer");
    kv_free(zErr);
    assert_int_equal(kv_options_set(o, "levels", "99", &zErr), KV_ERROR);
    assert_string_equal(zErr, "kvstore: bad value '99' for option 'levels': "
                        "expected an integer between 1 and 16");
    kv_free(zErr);
    /* pzErr may be NULL: the thread's message still says it. */
    assert_int_equal(kv_options_set(o, "levels", "99", NULL), KV_ERROR);
    assert_string_equal(kv_errmsg(NULL), "kvstore: bad value '99' for "
                        "option 'levels': expected an integer between 1 "
                        "and 16");
    /* A NULL value. */
    assert_int_equal(kv_options_set(o, "levels", NULL, &zErr), KV_ERROR);
    assert_non_null(strstr(zErr, "'levels'"));
    kv_free(zErr);
  }
  /* Nothing was set by all of this. */
  assert_int_equal(o->mSet, 0);
  kv_options_free(o);
}

static void test_unknown(void **state){
  kv_options *o = kv_options_new();
  char *zErr = 0;
  char zExpect[1000];
  (void)state;
  assert_non_null(o);
  assert_int_equal(kv_options_set(o, "foo", "1", &zErr), KV_ERROR);
  snprintf(zExpect, sizeof(zExpect),
           "kvstore: unknown option 'foo'; accepted options: %s",
           kv_options_names());
  assert_string_equal(zErr, zExpect);
  assert_non_null(strstr(zErr, "accepted options: dir, config, key_type, "));
  assert_non_null(strstr(zErr, "max_key_size, max_value_size"));
  assert_string_equal(kv_errmsg(NULL), zExpect);
  kv_free(zErr);
  assert_int_equal(kv_options_set(o, "memtable", "4MB", &zErr), KV_ERROR);
  assert_non_null(strstr(zErr, "unknown option 'memtable'"));
  kv_free(zErr);
  assert_int_equal(kv_options_set(o, "", "4MB", NULL), KV_ERROR);
  assert_int_equal(kv_options_is_set(o, "foo"), -1);
  assert_null(kv_options_get(o, "foo"));
  assert_int_equal(kv_options_set(NULL, "levels", "2", &zErr), KV_MISUSE);
  kv_free(zErr);
  assert_int_equal(kv_options_set(o, NULL, "2", NULL), KV_MISUSE);
  assert_int_equal(o->mSet, 0);
  kv_options_free(o);
}

static void test_is_set(void **state){
  kv_options *o = kv_options_new();
  (void)state;
  assert_non_null(o);
  assert_int_equal(kv_options_is_set(o, "levels"), 0);
  assert_int_equal(kv_options_is_set(o, "dir"), 0);
  /* Setting to the default value still counts as given. */
  setOk(o, "levels", "7", "7");
  assert_int_equal(kv_options_is_set(o, "levels"), 1);
  assert_int_equal(kv_options_is_set(o, "LEVELS"), 1);
  assert_int_equal(kv_options_is_set(o, "level0_trigger"), 0);
  /* A failed set leaves the flag alone. */
  assert_int_equal(kv_options_set(o, "sync", "bad", NULL), KV_ERROR);
  assert_int_equal(kv_options_is_set(o, "sync"), 0);
  setOk(o, "max_value_size", "1MB", "1048576");
  assert_int_equal(kv_options_is_set(o, "max_value_size"), 1);
  /* Bit i for option i of kv_options_names(): dir is 0, levels 14,
  ** max_value_size 23. */
  assert_int_equal(o->mSet, (1u<<14) | (1u<<23));
  setOk(o, "dir", "x", "x");
  assert_int_equal(o->mSet & 1u, 1u);
  kv_options_free(o);
}

static void test_copy(void **state){
  kv_options *o = kv_options_new();
  kv_options *c;
  int dummyEnv;
  (void)state;
  assert_non_null(o);
  setOk(o, "dir", "/tmp/data", "/tmp/data");
  setOk(o, "config", "cfg.json", "cfg.json");
  setOk(o, "memtable_size", "1MB", "1048576");
  kvOptionsSetEnv(o, (KvEnv*)&dummyEnv);
  c = kv_options_copy(o);
  assert_non_null(c);
  assert_ptr_not_equal(c->zDir, o->zDir);
  assert_ptr_not_equal(c->zConfig, o->zConfig);
  assert_string_equal(c->zDir, "/tmp/data");
  assert_ptr_equal(c->pEnv, (KvEnv*)&dummyEnv);
  assert_int_equal(c->mSet, o->mSet);
  checkGet(c, "memtable_size", "1048576");
  /* Changing or freeing the original does not touch the copy. */
  setOk(o, "dir", "/elsewhere", "/elsewhere");
  checkGet(c, "dir", "/tmp/data");
  kv_options_free(o);
  checkGet(c, "dir", "/tmp/data");
  checkGet(c, "config", "cfg.json");
  kv_options_free(c);

  /* Copy of defaults (NULL strings). */
  o = kv_options_new();
  c = kv_options_copy(o);
  assert_non_null(c);
  assert_null(c->zDir);
  checkGet(c, "dir", "");
  kv_options_free(o);
  kv_options_free(c);
  assert_null(kv_options_copy(NULL));
}

/* Allocation failure: new/copy return NULL, set reports KV_NOMEM and
** leaves the options unchanged. */
static int nAllocLeft = -1;
static void *failMalloc(size_t n){
  if( nAllocLeft==0 ) return NULL;
  if( nAllocLeft>0 ) nAllocLeft--;
  return malloc(n);
}
static void *failRealloc(void *p, size_t n){
  if( nAllocLeft==0 ) return NULL;
  if( nAllocLeft>0 ) nAllocLeft--;
  return realloc(p, n);
}
static void failFree(void *p){ free(p); }

static void test_oom(void **state){
  static const KvAllocHooks hooks = { failMalloc, failRealloc, failFree };
  kv_options *o, *c;
  int i;
  (void)state;
  kvSetAllocHooks(&hooks);
  nAllocLeft = 0;
  assert_null(kv_options_new());
  nAllocLeft = -1;
  o = kv_options_new();
  assert_non_null(o);
  assert_int_equal(kv_options_set(o, "dir", "d", NULL), KV_OK);
  assert_int_equal(kv_options_set(o, "config", "c", NULL), KV_OK);
  for(i=0; i<3; i++){
    nAllocLeft = i;
    assert_null(kv_options_copy(o));
  }
  nAllocLeft = 0;
  assert_int_equal(kv_options_set(o, "dir", "other", NULL), KV_NOMEM);
  nAllocLeft = 1;          /* the dequoted copy succeeds, strdup fails */
  assert_int_equal(kv_options_set(o, "dir", "other", NULL), KV_NOMEM);
  nAllocLeft = 0;
  assert_null(kv_options_get(o, "levels"));
  nAllocLeft = -1;
  checkGet(o, "dir", "d");
  c = kv_options_copy(o);
  assert_non_null(c);
  kv_options_free(c);
  kv_options_free(o);
  kvSetAllocHooks(NULL);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_defaults),
    cmocka_unit_test(test_names),
    cmocka_unit_test(test_sizes),
    cmocka_unit_test(test_enums),
    cmocka_unit_test(test_numbers),
    cmocka_unit_test(test_paths),
    cmocka_unit_test(test_bad_values),
    cmocka_unit_test(test_unknown),
    cmocka_unit_test(test_is_set),
    cmocka_unit_test(test_copy),
    cmocka_unit_test(test_oom),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
