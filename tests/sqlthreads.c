/*
** sqlthreads.c - kvstore at SQL level from many threads at once; built
** with gcc -fsanitize=thread and run by make tsan.
**
** kvstore is linked in statically (compiled with SQLITE_CORE, as in
** libkvstore.a) with the system libsqlite3, which is built threadsafe, and
** registered with sqlite3_auto_extension. Two database files, a.db and
** b.db, each hold one kvstore table (t in a.db, u in b.db) with its own
** store (an absolute dir=; a store belongs to one table, so the first
** release's shared store is gone): two engines, each with its background
** thread, run side by side in the process; writers on a.db are serialized
** by SQLite's lock on a.db, writers on b.db by b.db's.
**
** Every thread has its own connection (busy timeout 10 s):
**   - writers (3 on a.db, 2 on b.db): each owns keys "w<i>-<k>" and runs
**     BEGIN IMMEDIATE transactions of INSERT OR REPLACE, UPDATE, DELETE and
**     a multi-row INSERT OR REPLACE of its pair "w<i>-a"/"w<i>-b" (always
**     the transaction's number), sometimes a SAVEPOINT rolled back; after
**     each COMMIT it reads back one of its keys (nobody else writes them:
**     the value must be its model's) and publishes the pair number it
**     acknowledged;
**   - readers (one per file): read a pair of a writer of their file in one statement (both
**     equal: a statement reads one snapshot; and at least the number that
**     writer had acknowledged before the read, at most the one it was
**     committing after it), scan the whole table in key order (ordered,
**     every value well formed), count rows;
**   - a maintenance thread on a.db: kvstore_flush, kvstore_compact and
**     kvstore_verify (must be 'ok') in a loop.
** The memtable is the smallest allowed and level0_trigger is 2, so flushes
** and compactions run in the background throughout. At the end both
** tables, and the store reopened through a new connection, equal the
** writers' models exactly.
**
** Then shared caches (sharedRun): threads incrementing counters of a
** kvstore table and its ordinary twin through connections of one cache.
**
** make tsan: 300 transactions per writer; STRESS=n (make stress): 10*n
** times as many.
*/
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sqlite3_kvstore_init(sqlite3*, char**, const sqlite3_api_routines*);

#define NWRITER_A  3
#define NWRITER    5          /* writers 0..2 on a.db, 3..4 on b.db */
#define NKEY       40         /* keys per writer */

static int nTxnPerWriter = 300;
static char zDbA[300], zDbB[300], zStoreA[300], zStoreB[300];

/* Per writer: the pair number of the last acknowledged transaction and
** of the one in flight (readers check against both). */
static _Atomic int aAcked[NWRITER];
static _Atomic int aTried[NWRITER];
static _Atomic int bStop;
static _Atomic int nFail;
static _Atomic long nCommit, nPairRead, nScan, nScanRow, nMaint, nRetry;
static pthread_mutex_t failMutex = PTHREAD_MUTEX_INITIALIZER;
static char zFail[1000];

/* Final model: aModel[w][k] is the version of key w-k (0: absent). Each
** writer fills its own row only. */
static int aModel[NWRITER][NKEY];

static void fail(const char *zFmt, ...){
  va_list ap;
  pthread_mutex_lock(&failMutex);
  if( atomic_fetch_add(&nFail, 1)==0 ){
    va_start(ap, zFmt);
    vsnprintf(zFail, sizeof(zFail), zFmt, ap);
    va_end(ap);
  }
  pthread_mutex_unlock(&failMutex);
  atomic_store(&bStop, 1);
}

static uint64_t rndNext(uint64_t *p){
  *p ^= *p >> 12; *p ^= *p << 25; *p ^= *p >> 27;
  return *p * 2685821657736338717ULL;
}

/* Value of version v of writer w's keys: "w:v:" and padding. */
static void valueText(int w, int v, char *z, size_t n){
  int nPad = (v*37 + w) % 300;
  int i = snprintf(z, n, "%d:%d:", w, v);
  memset(z+i, 'a' + (v % 26), (size_t)nPad);
  z[i+nPad] = 0;
}
/* Version of a value of writer w, or -1 if it is not well formed. */
static int parseValue(int w, const char *z){
  char zWant[400];
  int ww, v;
  if( z==0 || sscanf(z, "%d:%d:", &ww, &v)!=2 || ww!=w || v<=0 ) return -1;
  valueText(w, v, zWant, sizeof(zWant));
  return strcmp(zWant, z)==0 ? v : -1;
}

static sqlite3 *openConn(const char *zPath){
  sqlite3 *db = 0;
  if( sqlite3_open(zPath, &db)!=SQLITE_OK ){
    fail("open %s: %s", zPath, sqlite3_errmsg(db));
    sqlite3_close(db);
    return 0;
  }
  sqlite3_busy_timeout(db, 10000);
  return db;
}

static int exec(sqlite3 *db, const char *zSql){
  return sqlite3_exec(db, zSql, 0, 0, 0);
}

/* One column of one row (0 if none) into z; returns an SQLite code. */
static int query1(sqlite3 *db, const char *zSql, char *z, size_t n){
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  z[0] = 0;
  if( rc==SQLITE_OK ){
    rc = sqlite3_step(p);
    if( rc==SQLITE_ROW ){
      const char *zv = (const char*)sqlite3_column_text(p, 0);
      snprintf(z, n, "%s", zv ? zv : "");
      rc = SQLITE_OK;
    }else if( rc==SQLITE_DONE ){
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(p);
  return rc;
}

static void *writerMain(void *pArg){
  int w = (int)(intptr_t)pArg;
  const char *zTab = w<NWRITER_A ? "t" : "u";
  sqlite3 *db = openConn(w<NWRITER_A ? zDbA : zDbB);
  uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(w+1);
  int aVer[NKEY];
  int v = 0, txn;
  memset(aVer, 0, sizeof(aVer));
  for(txn=1; db && txn<=nTxnPerWriter && !atomic_load(&bStop); txn++){
    int aNew[NKEY];
    int nOp = 1 + (int)(rndNext(&rng) % 4), i, rc, nTry;
    char *zSql;
    sqlite3_str *s = sqlite3_str_new(0);
    memcpy(aNew, aVer, sizeof(aNew));
    sqlite3_str_appendall(s, "BEGIN IMMEDIATE;");
    for(i=0; i<nOp; i++){
      int k = (int)(rndNext(&rng) % NKEY);
      int op = (int)(rndNext(&rng) % 8);
      char zVal[400];
      if( op<5 ){
        int bExists = aNew[k]!=0;
        aNew[k] = ++v;
        valueText(w, v, zVal, sizeof(zVal));
        if( op<3 || !bExists ){
          sqlite3_str_appendf(s, "INSERT OR REPLACE INTO %s VALUES("
                              "'w%d-%d',%Q);", zTab, w, k, zVal);
        }else{
          /* The key exists (nobody else writes it): a real UPDATE. */
          sqlite3_str_appendf(s, "UPDATE %s SET value=%Q WHERE key="
                              "'w%d-%d';", zTab, zVal, w, k);
        }
      }else if( op<7 ){
        aNew[k] = 0;
        sqlite3_str_appendf(s, "DELETE FROM %s WHERE key='w%d-%d';",
                            zTab, w, k);
      }else{
        sqlite3_str_appendf(s, "SAVEPOINT sp; DELETE FROM %s WHERE key>="
            "'w%d-' AND key<'w%d.'; INSERT OR REPLACE INTO %s VALUES("
            "'w%d-%d','x'); ROLLBACK TO sp; RELEASE sp;",
            zTab, w, w, zTab, w, k);
      }
    }
    sqlite3_str_appendf(s, "INSERT OR REPLACE INTO %s VALUES('w%d-a',%d),"
                        "('w%d-b',%d); COMMIT;", zTab, w, txn, w, txn);
    zSql = sqlite3_str_finish(s);
    atomic_store(&aTried[w], txn);
    /* SQLITE_BUSY (a lock held past the busy timeout): the whole
    ** transaction is retried. */
    for(nTry=0; (rc = exec(db, zSql))==SQLITE_BUSY && nTry<20; nTry++){
      exec(db, "ROLLBACK");
      atomic_fetch_add(&nRetry, 1);
    }
    sqlite3_free(zSql);
    if( rc!=SQLITE_OK ){
      fail("writer %d txn %d: %s", w, txn, sqlite3_errmsg(db));
      break;
    }
    memcpy(aVer, aNew, sizeof(aVer));
    atomic_store(&aAcked[w], txn);
    atomic_fetch_add(&nCommit, 1);
    {
      /* Read back one own key: only this writer writes it. */
      int k = (int)(rndNext(&rng) % NKEY);
      char zQ[100], zGot[400];
      snprintf(zQ, sizeof(zQ), "SELECT value FROM %s WHERE key='w%d-%d'",
               zTab, w, k);
      rc = query1(db, zQ, zGot, sizeof(zGot));
      if( rc!=SQLITE_OK ){
        fail("writer %d read: %s", w, sqlite3_errmsg(db));
      }else if( aVer[k]==0 ? zGot[0]!=0 : parseValue(w, zGot)!=aVer[k] ){
        fail("writer %d: w%d-%d is '%.40s', want version %d", w, w, k,
             zGot, aVer[k]);
      }
    }
  }
  memcpy(aModel[w], aVer, sizeof(aVer));
  sqlite3_close(db);
  return 0;
}

/* Readers run until the writers are done. */
static _Atomic int nWriterLeft = NWRITER;

static void readPair(sqlite3 *db, const char *zTab, int w){
  sqlite3_stmt *p = 0;
  char zSql[200];
  int lo = atomic_load(&aAcked[w]);
  int a[2] = {-1, -1}, n = 0, hi, rc;
  snprintf(zSql, sizeof(zSql), "SELECT value FROM %s WHERE key IN "
           "('w%d-a','w%d-b')", zTab, w, w);
  rc = sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  while( rc==SQLITE_OK && (rc = sqlite3_step(p))==SQLITE_ROW ){
    if( n<2 ) a[n] = sqlite3_column_int(p, 0);
    n++;
    rc = SQLITE_OK;
  }
  sqlite3_finalize(p);
  hi = atomic_load(&aTried[w]);
  if( rc!=SQLITE_DONE ){
    fail("reader: %s", sqlite3_errmsg(db));
  }else if( n==0 ? lo!=0 : (n!=2 || a[0]!=a[1] || a[0]<lo || a[0]>hi) ){
    fail("reader: pair of writer %d: %d rows (%d, %d), window [%d, %d]",
         w, n, a[0], a[1], lo, hi);
  }
  atomic_fetch_add(&nPairRead, 1);
}

static void scanAll(sqlite3 *db, const char *zTab, int bDesc){
  sqlite3_stmt *p = 0;
  char zSql[100], zPrev[100] = "";
  int rc, nRow = 0;
  snprintf(zSql, sizeof(zSql), "SELECT key, value FROM %s ORDER BY key%s",
           zTab, bDesc ? " DESC" : "");
  rc = sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  while( rc==SQLITE_OK && (rc = sqlite3_step(p))==SQLITE_ROW ){
    const char *zKey = (const char*)sqlite3_column_text(p, 0);
    const char *zVal = (const char*)sqlite3_column_text(p, 1);
    int w, k;
    if( zPrev[0] && (bDesc ? strcmp(zKey, zPrev)>=0
                           : strcmp(zKey, zPrev)<=0) ){
      fail("scan of %s: '%s' after '%s'", zTab, zKey, zPrev);
    }
    snprintf(zPrev, sizeof(zPrev), "%s", zKey);
    if( sscanf(zKey, "w%d-%d", &w, &k)==2 && parseValue(w, zVal)<0 ){
      fail("scan of %s: %s has malformed value '%.40s'", zTab, zKey, zVal);
    }
    nRow++;
    rc = SQLITE_OK;
  }
  sqlite3_finalize(p);
  if( rc!=SQLITE_DONE ) fail("scan of %s: %s", zTab, sqlite3_errmsg(db));
  atomic_fetch_add(&nScan, 1);
  atomic_fetch_add(&nScanRow, nRow);
}

static void *readerMain(void *pArg){
  int r = (int)(intptr_t)pArg;
  const char *zTab = r==0 ? "t" : "u";
  sqlite3 *db = openConn(r==0 ? zDbA : zDbB);
  uint64_t rng = 0xD1B54A32D192ED03ULL * (uint64_t)(r+1);
  while( db && atomic_load(&nWriterLeft)>0 && !atomic_load(&bStop) ){
    int op = (int)(rndNext(&rng) % 16);
    if( op<12 ){
      int w = r==0 ? (int)(rndNext(&rng) % NWRITER_A)
                   : NWRITER_A + (int)(rndNext(&rng) % (NWRITER-NWRITER_A));
      readPair(db, zTab, w);
    }else{
      scanAll(db, zTab, op & 1);
    }
  }
  sqlite3_close(db);
  return 0;
}

static void *maintMain(void *pArg){
  sqlite3 *db = openConn(zDbA);
  int i = 0;
  (void)pArg;
  while( db && atomic_load(&nWriterLeft)>0 && !atomic_load(&bStop) ){
    static const char *az[] = {
      "SELECT kvstore_flush('t')", "SELECT kvstore_compact('t')",
      "SELECT kvstore_verify('t')", "SELECT kvstore_stats('t')",
      "SELECT count(*) FROM kvstore_sstables('t')",
    };
    char z[200];
    int op = i++ % 5;
    if( query1(db, az[op], z, sizeof(z))!=SQLITE_OK ){
      fail("%s: %s", az[op], sqlite3_errmsg(db));
    }else if( op==2 && strcmp(z, "ok")!=0 ){
      fail("kvstore_verify: %s", z);
    }
    atomic_fetch_add(&nMaint, 1);
    usleep(2000);
  }
  if( db ){
    char z[200];
    query1(db, "SELECT json_extract(kvstore_stats('t'), '$.flushes') || "
           "' flushes, ' || json_extract(kvstore_stats('t'), "
           "'$.compactions') || ' compactions'", z, sizeof(z));
    printf("  engine: %s\n", z);
  }
  sqlite3_close(db);
  return 0;
}

/* Every row of zTab on a new connection to zPath equals the model of
** writers wLo..wHi-1 (those of that file). */
static void checkFinal(const char *zPath, const char *zTab, int wLo, int wHi){
  sqlite3 *db = openConn(zPath);
  sqlite3_stmt *p = 0;
  int aSeen[NWRITER][NKEY];
  char zSql[100];
  int rc, w, k, nRow = 0;
  if( db==0 ) return;
  memset(aSeen, 0, sizeof(aSeen));
  snprintf(zSql, sizeof(zSql), "SELECT key, value FROM %s", zTab);
  rc = sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  while( rc==SQLITE_OK && (rc = sqlite3_step(p))==SQLITE_ROW ){
    const char *zKey = (const char*)sqlite3_column_text(p, 0);
    const char *zVal = (const char*)sqlite3_column_text(p, 1);
    char c;
    nRow++;
    rc = SQLITE_OK;
    if( sscanf(zKey, "w%d-%d", &w, &k)==2 && w>=wLo && w<wHi
     && k>=0 && k<NKEY ){
      aSeen[w][k] = parseValue(w, zVal);
      if( aSeen[w][k]!=aModel[w][k] ){
        fail("final %s: %s is version %d, model %d", zTab, zKey,
             aSeen[w][k], aModel[w][k]);
      }
    }else if( sscanf(zKey, "w%d-%c", &w, &c)==2 && (c=='a' || c=='b') ){
      if( sqlite3_column_int(p, 1)!=nTxnPerWriter ){
        fail("final %s: %s is %s", zTab, zKey, zVal);
      }
    }else{
      fail("final %s: unexpected key '%s'", zTab, zKey);
    }
  }
  sqlite3_finalize(p);
  if( rc!=SQLITE_DONE ) fail("final %s: %s", zTab, sqlite3_errmsg(db));
  for(w=wLo; w<wHi; w++){
    for(k=0; k<NKEY; k++){
      if( aModel[w][k] && aSeen[w][k]==0 ){
        fail("final %s: w%d-%d missing (model version %d)", zTab, w, k,
             aModel[w][k]);
      }
    }
  }
  {
    char z[100];
    snprintf(zSql, sizeof(zSql), "SELECT kvstore_verify('%s')", zTab);
    if( query1(db, zSql, z, sizeof(z))!=SQLITE_OK || strcmp(z, "ok")!=0 ){
      fail("final kvstore_verify('%s'): %s %s", zTab, z, sqlite3_errmsg(db));
    }
  }
  sqlite3_close(db);
  printf("  %s via %s: %d rows equal to the model\n", zTab,
         strrchr(zPath, '/')+1, nRow);
}

/*
** Shared caches (cache=shared, a file and an in-memory database): NSHARED
** threads, a connection each, read-modify-write counters of NSHKEY keys in
** the kvstore table kv and its ordinary twin m in one transaction, and
** retry on SQLITE_LOCKED / SQLITE_BUSY (a shared cache's table locks are
** not waited for by the busy timeout). The connections share the
** database's pager, and with it kvstore's per-pager state (KvPager, the
** private store of the in-memory database); at the end kv equals m and
** each counter its acknowledged increments.
*/
#define NSHARED 4
#define NSHKEY  8
static const char *zShUri;
static _Atomic int aShAcked[NSHKEY];

static sqlite3 *openShared(void){
  sqlite3 *db = 0;
  if( sqlite3_open_v2(zShUri, &db, SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE
                      |SQLITE_OPEN_URI, 0)!=SQLITE_OK ){
    fail("open %s: %s", zShUri, sqlite3_errmsg(db));
    sqlite3_close(db);
    return 0;
  }
  return db;
}

static void *sharedMain(void *pArg){
  uint64_t r = 0x9e3779b97f4a7c15ull * (uint64_t)((intptr_t)pArg + 1);
  sqlite3 *db = openShared();
  int i;
  for(i=0; db && i<nTxnPerWriter/3 && !atomic_load(&nFail); i++){
    int k = (int)(rndNext(&r) % NSHKEY);
    char zSql[300], zA[40], zB[40];
    int rc = exec(db, (rndNext(&r)&1) ? "BEGIN IMMEDIATE" : "BEGIN");
    if( rc==SQLITE_OK ){
      snprintf(zSql, sizeof(zSql), "SELECT value FROM kv WHERE key='c%d'", k);
      rc = query1(db, zSql, zA, sizeof(zA));
    }
    if( rc==SQLITE_OK ){
      snprintf(zSql, sizeof(zSql), "SELECT value FROM m WHERE key='c%d'", k);
      rc = query1(db, zSql, zB, sizeof(zB));
    }
    if( rc==SQLITE_OK && strcmp(zA, zB)!=0 ){
      fail("shared cache: kv says c%d=%s, m says %s", k, zA, zB);
    }
    if( rc==SQLITE_OK ){
      snprintf(zSql, sizeof(zSql),
               "INSERT OR REPLACE INTO kv VALUES('c%d', %d);"
               "INSERT OR REPLACE INTO m VALUES('c%d', %d);"
               "COMMIT", k, atoi(zA)+1, k, atoi(zA)+1);
      rc = exec(db, zSql);
    }
    if( rc==SQLITE_OK ){
      atomic_fetch_add(&aShAcked[k], 1);
    }else{
      int e = rc & 0xff;
      if( e!=SQLITE_LOCKED && e!=SQLITE_BUSY ){
        fail("shared cache: %s", sqlite3_errmsg(db));
      }
      if( !sqlite3_get_autocommit(db) ) exec(db, "ROLLBACK");
      atomic_fetch_add(&nRetry, 1);
      usleep(100);
    }
  }
  sqlite3_close(db);
  return 0;
}

static void sharedRun(const char *zUri){
  pthread_t a[NSHARED];
  sqlite3 *keep;
  int i;
  zShUri = zUri;
  for(i=0; i<NSHKEY; i++) atomic_store(&aShAcked[i], 0);
  keep = openShared();       /* keeps an in-memory database alive */
  if( keep==0 ) return;
  if( exec(keep, "CREATE VIRTUAL TABLE kv USING kvstore;"
                 "CREATE TABLE m(key TEXT PRIMARY KEY, value) WITHOUT ROWID")
      !=SQLITE_OK ){
    fail("shared cache: %s", sqlite3_errmsg(keep));
  }
  for(i=0; i<NSHARED; i++){
    pthread_create(&a[i], 0, sharedMain, (void*)(intptr_t)i);
  }
  for(i=0; i<NSHARED; i++) pthread_join(a[i], 0);
  for(i=0; i<NSHKEY && !atomic_load(&nFail); i++){
    char zSql[100], zA[40], zB[40];
    snprintf(zSql, sizeof(zSql), "SELECT value FROM kv WHERE key='c%d'", i);
    query1(keep, zSql, zA, sizeof(zA));
    snprintf(zSql, sizeof(zSql), "SELECT value FROM m WHERE key='c%d'", i);
    query1(keep, zSql, zB, sizeof(zB));
    if( atoi(zA)!=atomic_load(&aShAcked[i]) || strcmp(zA, zB)!=0 ){
      fail("shared cache %s: c%d is %s in kv, %s in m, %d acknowledged",
           zUri, i, zA, zB, (int)atomic_load(&aShAcked[i]));
    }
  }
  sqlite3_close(keep);
}

int main(void){
  pthread_t aWriter[NWRITER], aReader[2], maint;
  char zTmp[] = "/tmp/kvsqlthreads-XXXXXX";
  char zCmd[400], *zSql;
  const char *zStress = getenv("STRESS");
  sqlite3 *db;
  int i;

  if( zStress && atoi(zStress)>0 ) nTxnPerWriter *= atoi(zStress)*10;
  if( !sqlite3_threadsafe() ){
    fprintf(stderr, "sqlthreads: libsqlite3 is not threadsafe\n");
    return 1;
  }
  if( mkdtemp(zTmp)==0 ){ perror("mkdtemp"); return 1; }
  snprintf(zDbA, sizeof(zDbA), "%s/a.db", zTmp);
  snprintf(zDbB, sizeof(zDbB), "%s/b.db", zTmp);
  snprintf(zStoreA, sizeof(zStoreA), "%s/store-a", zTmp);
  snprintf(zStoreB, sizeof(zStoreB), "%s/store-b", zTmp);
  sqlite3_auto_extension((void(*)(void))sqlite3_kvstore_init);

  /* The tables, and WAL mode so that readers do not hold writers off. */
  for(i=0; i<2; i++){
    db = openConn(i==0 ? zDbA : zDbB);
    zSql = sqlite3_mprintf("PRAGMA journal_mode=WAL;"
        "CREATE VIRTUAL TABLE %s USING kvstore(dir=%Q, sync=normal, "
        "memtable_size='64KB', wal_segment_size='16KB', level0_trigger=2, "
        "target_file_size='16KB', block_size=1024)", i==0 ? "t" : "u",
        i==0 ? zStoreA : zStoreB);
    if( db==0 || exec(db, zSql)!=SQLITE_OK ){
      fprintf(stderr, "sqlthreads: %s\n", db ? sqlite3_errmsg(db) : "open");
      return 1;
    }
    sqlite3_free(zSql);
    sqlite3_close(db);
  }

  for(i=0; i<NWRITER; i++){
    pthread_create(&aWriter[i], 0, writerMain, (void*)(intptr_t)i);
  }
  for(i=0; i<2; i++){
    pthread_create(&aReader[i], 0, readerMain, (void*)(intptr_t)i);
  }
  pthread_create(&maint, 0, maintMain, 0);
  for(i=0; i<NWRITER; i++){
    pthread_join(aWriter[i], 0);
    atomic_fetch_sub(&nWriterLeft, 1);
  }
  for(i=0; i<2; i++) pthread_join(aReader[i], 0);
  pthread_join(maint, 0);

  printf("sqlthreads: %d writers x %d transactions (%ld committed, %ld "
         "retried), %ld pair reads, %ld scans (%ld rows), %ld maintenance "
         "calls\n", NWRITER, nTxnPerWriter, (long)nCommit, (long)nRetry,
         (long)nPairRead, (long)nScan, (long)nScanRow, (long)nMaint);
  {
    char zUri[400];
    long nBefore = (long)nRetry;
    snprintf(zUri, sizeof(zUri), "file:%s/c.db?cache=shared", zTmp);
    sharedRun(zUri);
    snprintf(zUri, sizeof(zUri), "file:kvsqlthreads%d?mode=memory&cache=shared",
             (int)getpid());
    sharedRun(zUri);
    printf("sqlthreads: shared caches (a file, in memory): %d threads x %d "
           "increments each, %ld retried\n", NSHARED, nTxnPerWriter/3,
           (long)nRetry - nBefore);
  }

  if( atomic_load(&nFail)==0 ){
    /* Every connection is closed, so the store was closed too: these
    ** reopen it. */
    checkFinal(zDbA, "t", 0, NWRITER_A);
    checkFinal(zDbB, "u", NWRITER_A, NWRITER);
  }
  snprintf(zCmd, sizeof(zCmd), "rm -rf '%s'", zTmp);
  if( atomic_load(&nFail) ){
    fprintf(stderr, "sqlthreads: FAILED (%d failures), first: %s\n",
            (int)atomic_load(&nFail), zFail);
    return 1;
  }
  if( system(zCmd)!=0 ) fprintf(stderr, "sqlthreads: cannot remove %s\n", zTmp);
  printf("sqlthreads: ok\n");
  return 0;
}
