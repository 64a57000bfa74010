/*
** testutil.h - helpers shared by the engine's unit tests: temporary
** directories, option shortcuts, store and file shortcuts. Header-only
** (static functions). Every test that needs a directory makes it with
** tuTempDir() and removes it with tuRemoveDir().
*/
#ifndef KV_TESTUTIL_H
#define KV_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "kvInt.h"
#include "knownbug.h"     /* tuKnownBug */

/* A fresh empty directory /tmp/kvtest-<zTag>-XXXXXX, its path written to
** zBuf (nBuf bytes, at least 64 for short tags). */
static inline void tuTempDir(char *zBuf, size_t nBuf, const char *zTag){
  snprintf(zBuf, nBuf, "/tmp/kvtest-%s-XXXXXX", zTag);
  assert_non_null(mkdtemp(zBuf));
}

/* Remove zDir and everything under it, like rm -rf (without a shell, so a
** quote in the path cannot break it). A directory that does not exist is
** not an error; one that cannot be removed fails the test. */
static inline void tuRemoveDir(const char *zDir){
  DIR *d = opendir(zDir);
  struct dirent *e;
  if( d==0 ){
    if( errno==ENOENT ) return;
    fail_msg("cannot open directory '%s': %s", zDir, strerror(errno));
  }
  while( (e = readdir(d))!=0 ){
    char zPath[1024];
    struct stat st;
    int n;
    if( strcmp(e->d_name, ".")==0 || strcmp(e->d_name, "..")==0 ) continue;
    n = snprintf(zPath, sizeof(zPath), "%s/%s", zDir, e->d_name);
    if( n<0 || (size_t)n>=sizeof(zPath) ) fail_msg("path too long: '%s'", zDir);
    if( lstat(zPath, &st)==0 && S_ISDIR(st.st_mode) ){
      tuRemoveDir(zPath);
    }else if( unlink(zPath)!=0 ){
      fail_msg("cannot remove '%s': %s", zPath, strerror(errno));
    }
  }
  closedir(d);
  if( rmdir(zDir)!=0 ){
    fail_msg("cannot remove directory '%s': %s", zDir, strerror(errno));
  }
}

/* Names in zDir that end in zSuffix (".sst", ".sst.tmp"). */
static inline int tuCountFiles(const char *zDir, const char *zSuffix){
  DIR *d = opendir(zDir);
  struct dirent *e;
  size_t nSuffix = strlen(zSuffix);
  int n = 0;
  if( d==0 ) fail_msg("cannot open directory '%s': %s", zDir, strerror(errno));
  while( (e = readdir(d))!=0 ){
    size_t l = strlen(e->d_name);
    if( l>nSuffix && strcmp(e->d_name+l-nSuffix, zSuffix)==0 ) n++;
  }
  closedir(d);
  return n;
}

/* Options from "name=value" pairs, NULL-terminated. */
static inline kv_options *tuOptions(const char *zFirst, ...){
  kv_options *o = kv_options_new();
  va_list ap;
  const char *z;
  assert_non_null(o);
  va_start(ap, zFirst);
  for(z=zFirst; z; z=va_arg(ap, const char*)){
    char zName[64];
    const char *zEq = strchr(z, '=');
    char *zErr = 0;
    assert_non_null(zEq);
    snprintf(zName, sizeof(zName), "%.*s", (int)(zEq - z), z);
    if( kv_options_set(o, zName, zEq+1, &zErr)!=KV_OK ){
      fail_msg("option %s: %s", z, zErr ? zErr : "?");
    }
  }
  va_end(ap);
  return o;
}

static inline kv_db *tuOpen(const char *zDir, const kv_options *o){
  kv_db *db = 0;
  int rc = kv_open(zDir, o, &db);
  if( rc!=KV_OK ) fail_msg("kv_open(%s): %d %s", zDir, rc, kv_errmsg(0));
  return db;
}

static inline void tuPut(kv_db *db, const char *zKey, const char *zVal){
  int rc = kv_put(db, zKey, strlen(zKey), zVal, strlen(zVal));
  if( rc!=KV_OK ) fail_msg("kv_put(%s): %d %s", zKey, rc, kv_errmsg(db));
}

/* Value of zKey as a NUL-terminated string (static buffer), or NULL. */
static inline const char *tuGet(kv_db *db, const kv_snapshot *s, const kv_batch *b,
                         const char *zKey){
  static char zOut[4096];
  void *p = 0;
  size_t n = 0;
  int rc = kv_get(db, s, b, zKey, strlen(zKey), &p, &n);
  if( rc==KV_NOTFOUND ) return 0;
  if( rc!=KV_OK ) fail_msg("kv_get(%s): %d %s", zKey, rc, kv_errmsg(db));
  assert_true(n<sizeof(zOut));
  memcpy(zOut, p, n);
  zOut[n] = 0;
  kv_free(p);
  return zOut;
}

/* kv_verify of db must say "ok". */
static inline void tuVerifyOk(kv_db *db){
  char *z = 0;
  assert_int_equal(kv_verify(db, &z), KV_OK);
  assert_string_equal(z, "ok");
  kv_free(z);
}

/* cp -a of a store directory's contents into zTo (no fsync needed: the
** copy's files count as durable for the test env, which only tracks what
** it writes itself). */
static inline void tuCopyDir(const char *zFrom, const char *zTo){
  char zCmd[1400];
  snprintf(zCmd, sizeof(zCmd), "cp -a '%s'/. '%s'/", zFrom, zTo);
  assert_int_equal(system(zCmd), 0);
}

/* A new batch putting "v" under each key of a NULL-terminated list
** (kv_batch_free it). */
static inline kv_batch *tuBatchOf(const char *zFirst, ...){
  kv_batch *b = kv_batch_new();
  va_list ap;
  const char *z;
  assert_non_null(b);
  va_start(ap, zFirst);
  for(z=zFirst; z; z=va_arg(ap, const char*)){
    assert_int_equal(kv_batch_put(b, z, strlen(z), "v", 1), KV_OK);
  }
  va_end(ap);
  return b;
}

/* Entries (puts and tombstones) of every live table of db. */
static inline u64 tuTableEntries(kv_db *db){
  kv_sstable_info *a = 0;
  int n = 0, i;
  u64 nEntry = 0;
  assert_int_equal(kv_sstables(db, &a, &n), KV_OK);
  for(i=0; i<n; i++) nEntry += a[i].nEntry;
  kv_free(a);
  return nEntry;
}

/* Commit batch b the two-phase way, as the extension does: kv_prepare
** under a new sequence, then kv_commit_prepared. Returns the sequence. */
static inline u64 tuCommitPrepared(kv_db *db, kv_batch *b){
  u64 iSeq = 0;
  int rc = kv_prepare(db, b, &iSeq);
  if( rc!=KV_OK ) fail_msg("kv_prepare: %d %s", rc, kv_errmsg(db));
  rc = kv_commit_prepared(db, b, iSeq);
  if( rc!=KV_OK ) fail_msg("kv_commit_prepared: %d %s", rc, kv_errmsg(db));
  return iSeq;
}

/* The POSIX env without real fsyncs, as a test env's base or for tests
** whose subject is not fsync cost: the test env still counts and fails
** syncs, and its power-loss model decides what survives. */
static inline int tuNoSync(KvFile *pFile){ (void)pFile; return KV_OK; }
static inline int tuNoSyncDir(KvEnv *pEnv, const char *zDir){
  (void)pEnv; (void)zDir;
  return KV_OK;
}
static inline KvEnv *fastPosix(void){
  static KvEnv env;
  env = *kvEnvPosix();
  env.zName = "posix-nosync";
  env.xSync = tuNoSync;
  env.xSyncDir = tuNoSyncDir;
  return &env;
}

/* STRESS=N in the environment: the long versions of the tests. */
static inline int stressLevel(void){
  const char *z = getenv("STRESS");
  return z ? atoi(z) : 0;
}

/* The whole file zPath (malloc'd, free with free()); *pn its size. */
static inline u8 *tuReadFile(const char *zPath, size_t *pn){
  FILE *fp = fopen(zPath, "rb");
  u8 *a;
  long n;
  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  n = ftell(fp);
  assert_true(n>=0);
  if( n<0 ) n = 0;    /* (for the compiler's bounds analysis) */
  fseek(fp, 0, SEEK_SET);
  a = malloc((size_t)n + 1);
  assert_non_null(a);
  assert_int_equal(fread(a, 1, (size_t)n, fp), (size_t)n);
  fclose(fp);
  *pn = (size_t)n;
  return a;
}

/* Replace the contents of zPath with a[0..n). */
static inline void tuWriteFile(const char *zPath, const u8 *a, size_t n){
  FILE *fp = fopen(zPath, "wb");
  assert_non_null(fp);
  if( n>0 ) assert_int_equal(fwrite(a, 1, n, fp), n);
  assert_int_equal(fclose(fp), 0);
}

/*
** Does the store in zDir show the wal-cut-unsynced damage: a WAL segment
** other than the newest that ends in a zero byte (a preallocated tail a
** power cut brought back)? Attributes a lost commit to that bug.
*/
static inline int tuWalZeroTail(const char *zDir){
  char **az = 0;
  int nName = 0, i;
  u64 iNewest = 0;
  int bFound = 0;
  if( kvEnvPosix()->xList(kvEnvPosix(), zDir, &az, &nName)!=KV_OK ) return 0;
  for(i=0; i<nName; i++){
    unsigned long long iSeg;
    if( sscanf(az[i], "wal-%llu.log", &iSeg)==1 && iSeg>iNewest ){
      iNewest = iSeg;
    }
  }
  for(i=0; i<nName && !bFound; i++){
    unsigned long long iSeg;
    char zPath[1200];
    FILE *fp;
    if( sscanf(az[i], "wal-%llu.log", &iSeg)!=1 || iSeg==iNewest ) continue;
    snprintf(zPath, sizeof(zPath), "%s/%s", zDir, az[i]);
    fp = fopen(zPath, "rb");
    if( fp && fseek(fp, -1, SEEK_END)==0 && fgetc(fp)==0 ) bFound = 1;
    if( fp ) fclose(fp);
  }
  kvFreeList(az, nName);
  return bFound;
}

#endif
