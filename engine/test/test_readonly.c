/*
** test_readonly.c - kv_open_readonly: reads a store (WAL included) without
** changing a byte of it, beside a writer that holds it, refuses writes with
** KV_READONLY, keeps reading tables a compaction deleted under it, and
** refuses a directory that holds no store without creating anything.
*/
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>

#include "testutil.h"

/* Fingerprint of a directory: every name with the FNV-1a hash of its bytes
** and its size, in name order, as one string (static buffer). */
static const char *dirPrint(const char *zDir){
  static char zOut[8192];
  struct dirent **aEnt = 0;
  int n = scandir(zDir, &aEnt, 0, alphasort);
  size_t nOut = 0;
  int i;
  assert_true(n>=0);
  zOut[0] = 0;
  for(i=0; i<n; i++){
    char zPath[1024];
    FILE *f;
    uint64_t h = 1469598103934665603ull;
    long nByte = 0;
    int c;
    if( aEnt[i]->d_name[0]=='.' ){ free(aEnt[i]); continue; }
    snprintf(zPath, sizeof(zPath), "%s/%s", zDir, aEnt[i]->d_name);
    f = fopen(zPath, "rb");
    assert_non_null(f);
    while( (c = fgetc(f))!=EOF ){
      h = (h ^ (uint64_t)(unsigned char)c) * 1099511628211ull;
      nByte++;
    }
    fclose(f);
    nOut += (size_t)snprintf(zOut+nOut, sizeof(zOut)-nOut, "%s:%ld:%llx\n",
                             aEnt[i]->d_name, nByte, (unsigned long long)h);
    assert_true(nOut<sizeof(zOut));
    free(aEnt[i]);
  }
  free(aEnt);
  return zOut;
}

static kv_db *roOpen(const char *zDir){
  kv_db *db = 0;
  int rc = kv_open_readonly(zDir, 0, &db);
  if( rc!=KV_OK ) fail_msg("kv_open_readonly(%s): %d %s", zDir, rc,
                           kv_errmsg(0));
  return db;
}

static int countRows(kv_db *db){
  kv_iter *it = 0;
  int n = 0;
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  assert_int_equal(kv_iter_first(it), KV_OK);
  while( kv_iter_valid(it) ){
    n++;
    assert_int_equal(kv_iter_next(it), KV_OK);
  }
  kv_iter_free(it);
  return n;
}

/* A writer holds the store with data in SSTables and in the WAL alone:
** the read-only handle sees both, writes fail, and no file changes. */
static void test_readonly_unflushed_wal_unchanged(void **state){
  char zDir[256];
  char zBefore[8192];
  kv_options *o;
  kv_db *w, *r;
  char *zJson = 0, *zReport = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "ro-wal");
  o = tuOptions("background=off", NULL);
  w = tuOpen(zDir, o);
  tuPut(w, "a", "1");
  tuPut(w, "b", "2");
  assert_int_equal(kv_flush(w), KV_OK);
  tuPut(w, "c", "3");                   /* WAL only */
  assert_int_equal(kv_delete(w, "a", 1), KV_OK);
  snprintf(zBefore, sizeof(zBefore), "%s", dirPrint(zDir));

  r = roOpen(zDir);
  assert_true(r!=w);                    /* never the shared instance */
  assert_null(tuGet(r, 0, 0, "a"));
  assert_string_equal(tuGet(r, 0, 0, "b"), "2");
  assert_string_equal(tuGet(r, 0, 0, "c"), "3");
  assert_int_equal(countRows(r), 2);
  assert_int_equal(kv_put(r, "x", 1, "y", 1), KV_READONLY);
  assert_non_null(strstr(kv_errmsg(r), "read-only"));
  assert_int_equal(kv_delete(r, "b", 1), KV_READONLY);
  assert_int_equal(kv_flush(r), KV_READONLY);
  assert_int_equal(kv_compact(r, 1, 0), KV_READONLY);
  assert_int_equal(kv_compact(r, 0, 0), KV_READONLY);
  assert_int_equal(kv_stats(r, &zJson), KV_OK);
  assert_non_null(strstr(zJson, "\"sequence\":4"));
  kv_free(zJson);
  assert_int_equal(kv_verify(r, &zReport), KV_OK);
  assert_string_equal(zReport, "ok");
  kv_free(zReport);
  assert_int_equal(kv_close(r), KV_OK);
  assert_string_equal(dirPrint(zDir), zBefore);

  /* The writer still works and still holds its lock. */
  tuPut(w, "d", "4");
  assert_string_equal(tuGet(w, 0, 0, "d"), "4");
  kv_close(w);

  /* A closed store with a WAL to replay: still nothing changes. */
  snprintf(zBefore, sizeof(zBefore), "%s", dirPrint(zDir));
  r = roOpen(zDir);
  assert_string_equal(tuGet(r, 0, 0, "d"), "4");
  kv_close(r);
  assert_string_equal(dirPrint(zDir), zBefore);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* A full compaction of the writer deletes every table the read-only
** handle's version names: it keeps reading them through its open files. */
static void test_readonly_survives_compaction(void **state){
  char zDir[256];
  char zKey[32], zVal[32];
  kv_options *o;
  kv_db *w, *r;
  int i;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "ro-compact");
  o = tuOptions("background=off", NULL);
  w = tuOpen(zDir, o);
  for(i=0; i<3; i++){
    int j;
    for(j=0; j<100; j++){
      snprintf(zKey, sizeof(zKey), "k%04d", j*3+i);
      snprintf(zVal, sizeof(zVal), "v%d", j);
      tuPut(w, zKey, zVal);
    }
    assert_int_equal(kv_flush(w), KV_OK);
  }
  r = roOpen(zDir);
  tuPut(w, "k0000", "changed");
  assert_int_equal(kv_compact(w, 1, 0), KV_OK);
  /* The old tables are gone from the directory... */
  {
    kv_sstable_info *a = 0;
    int n = 0;
    assert_int_equal(kv_sstables(w, &a, &n), KV_OK);
    assert_int_equal(n, 1);
    kv_free(a);
  }
  /* ...and still read through the read-only handle, as of its open. */
  assert_string_equal(tuGet(r, 0, 0, "k0000"), "v0");
  assert_string_equal(tuGet(r, 0, 0, "k0299"), "v99");
  assert_int_equal(countRows(r), 300);
  kv_close(r);
  /* A new read-only open sees the compacted store. */
  r = roOpen(zDir);
  assert_string_equal(tuGet(r, 0, 0, "k0000"), "changed");
  assert_int_equal(countRows(r), 300);
  kv_close(r);
  kv_close(w);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* A read-only handle publishes no read point, so the writer's compaction
** may drop versions it would read below the writer's last sequence: a
** read point under the compaction's floor is refused (KV_BUSY), not read
** as a state that never was. */
static void test_readonly_refuses_read_point_below_drop_floor(void **state){
  char zDir[256];
  kv_options *o;
  kv_snapshot *s = 0;
  kv_db *w, *r;
  uint64_t iOld;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "ro-floor");
  o = tuOptions("background=off", NULL);
  w = tuOpen(zDir, o);
  tuPut(w, "k", "old");
  iOld = kv_last_seq(w);
  tuPut(w, "k", "new");
  tuPut(w, "other", "x");
  assert_int_equal(kv_flush(w), KV_OK);
  r = roOpen(zDir);
  /* Before any compaction the old version is there to read. */
  assert_int_equal(kv_snapshot_at(r, iOld, &s), KV_OK);
  assert_string_equal(tuGet(r, s, 0, "k"), "old");
  kv_snapshot_free(r, s);
  kv_close(r);
  assert_int_equal(kv_compact(w, 1, 0), KV_OK);   /* drops "old" */
  r = roOpen(zDir);
  s = 0;
  assert_int_equal(kv_snapshot_at(r, iOld, &s), KV_BUSY);
  assert_null(s);
  assert_non_null(strstr(kv_errmsg(0), "too old"));
  assert_int_equal(kv_snapshot_at(r, kv_last_seq(w), &s), KV_OK);
  assert_string_equal(tuGet(r, s, 0, "k"), "new");
  kv_snapshot_free(r, s);
  kv_close(r);
  kv_close(w);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* A missing directory, an empty one and a foreign one: KV_CANTOPEN or
** KV_ERROR, and nothing created. */
static void test_readonly_refuses_non_store(void **state){
  char zDir[256], zSub[300];
  kv_db *r = 0;
  struct stat st;
  FILE *f;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "ro-none");
  snprintf(zSub, sizeof(zSub), "%s/missing", zDir);
  assert_int_equal(kv_open_readonly(zSub, 0, &r), KV_CANTOPEN);
  assert_null(r);
  assert_true(stat(zSub, &st)!=0);
  assert_int_equal(kv_open_readonly(zDir, 0, &r), KV_CANTOPEN);
  assert_non_null(strstr(kv_errmsg(0), "KVSTORE"));
  assert_string_equal(dirPrint(zDir), "");
  snprintf(zSub, sizeof(zSub), "%s/notes.txt", zDir);
  f = fopen(zSub, "w");
  assert_non_null(f);
  fputs("mine\n", f);
  fclose(f);
  assert_int_not_equal(kv_open_readonly(zDir, 0, &r), KV_OK);
  assert_null(r);
  assert_non_null(strstr(dirPrint(zDir), "notes.txt"));
  assert_null(strstr(dirPrint(zDir), "LOCK"));
  tuRemoveDir(zDir);
}

/* An env that, at the first open of an SSTable by the read-only handle
** (after it read CURRENT and the manifest), lets the owner run a full
** compaction: the table is gone when the open happens. */
static KvEnv gRaceEnv;
static kv_db *gRaceOwner = 0;
static int gRaceDone = 0;
static int raceOpen(KvEnv *pEnv, const char *zPath, int flags,
                    KvFile **ppFile){
  size_t n = strlen(zPath);
  (void)pEnv;
  if( !gRaceDone && n>4 && strcmp(zPath+n-4, ".sst")==0 ){
    gRaceDone = 1;
    assert_int_equal(kv_compact(gRaceOwner, 1, 0), KV_OK);
  }
  return kvEnvPosix()->xOpen(kvEnvPosix(), zPath, flags, ppFile);
}

static void test_readonly_retries_when_owner_moves_on(void **state){
  char zDir[256];
  kv_options *o, *oRo;
  kv_db *r = 0;
  int i;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "ro-race");
  o = tuOptions("background=off", NULL);
  gRaceOwner = tuOpen(zDir, o);
  for(i=0; i<3; i++){
    char zKey[16];
    snprintf(zKey, sizeof(zKey), "k%d", i);
    tuPut(gRaceOwner, zKey, "v");
    assert_int_equal(kv_flush(gRaceOwner), KV_OK);
  }
  gRaceEnv = *kvEnvPosix();
  gRaceEnv.xOpen = raceOpen;
  gRaceDone = 0;
  oRo = kv_options_new();
  assert_non_null(oRo);
  kvOptionsSetEnv(oRo, &gRaceEnv);
  /* The first attempt finds its table deleted; the second reads the
  ** compacted version from CURRENT. */
  assert_int_equal(kv_open_readonly(zDir, oRo, &r), KV_OK);
  assert_int_equal(gRaceDone, 1);
  assert_int_equal(countRows(r), 3);
  assert_string_equal(tuGet(r, 0, 0, "k2"), "v");
  kv_close(r);
  kv_options_free(oRo);
  kv_close(gRaceOwner);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_readonly_unflushed_wal_unchanged),
    cmocka_unit_test(test_readonly_survives_compaction),
    cmocka_unit_test(test_readonly_refuses_read_point_below_drop_floor),
    cmocka_unit_test(test_readonly_refuses_non_store),
    cmocka_unit_test(test_readonly_retries_when_owner_moves_on),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
