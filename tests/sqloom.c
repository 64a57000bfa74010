/*
** sqloom.c - kvstore at SQL level when SQLite's allocator fails: the N-th
** allocation through sqlite3_malloc fails (once, or every one from N on),
** for N = 1, 2, ... until a run finishes without reaching N. make test
** runs it under AddressSanitizer + UBSan (make sqloom).
**
** kvstore is linked in (SQLITE_CORE, as in libkvstore.a) with the system
** libsqlite3, whose allocator is replaced through SQLITE_CONFIG_MALLOC, so
** every allocation of the SQL layer (kvvtab.c, kvtxn.c, the cursors, the
** shadow table, the functions) and of SQLite itself can fail; the engine
** allocates through its own allocator, whose failures test_oom covers.
**
** Each run: a fresh database with a kvstore table kv and an ordinary
** WITHOUT ROWID table m, set up with the real allocator; then, with
** failures armed, a workload that writes both tables in the same
** transactions (multi-row INSERT, UPDATE of a range, DELETE, a savepoint
** rolled back, kvstore_delete_range, a COMMIT), reads them (point, range
** both ways, IN, a join of the two), runs kvstore_stats, kvstore_verify
** and kvstore_compact, and closes the connection. Every failing statement
** must fail cleanly, with SQLITE_NOMEM and a message that says so (no
** crash, no sanitizer report, no other error standing in for it); after
** each failed statement an open transaction is rolled back. Then, with the real
** allocator again, the database is reopened and must hold in kv exactly
** the rows of m (the transactions were atomic across both), pass
** kvstore_verify and PRAGMA integrity_check, and take a write.
**
** Usage: sqloom [STRIDE]   (every STRIDE-th N; 1, the default: every N)
*/
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sqlite3_kvstore_init(sqlite3*, char**, const sqlite3_api_routines*);

static sqlite3_mem_methods gReal;  /* the library's own allocator */
static long gCount;                /* allocations since armed */
static long gFailAt;               /* fail allocation number gFailAt */
static int gPersist;               /* and every one after it */
static int gArmed;
static long gFailed;               /* allocations failed in this run */

static int shouldFail(void){
  if( !gArmed ) return 0;
  gCount++;
  if( gCount==gFailAt || (gPersist && gCount>gFailAt) ){
    gFailed++;
    return 1;
  }
  return 0;
}
static void *oomMalloc(int n){
  return shouldFail() ? 0 : gReal.xMalloc(n);
}
static void oomFree(void *p){ gReal.xFree(p); }
static void *oomRealloc(void *p, int n){
  return shouldFail() ? 0 : gReal.xRealloc(p, n);
}
static int oomSize(void *p){ return gReal.xSize(p); }
static int oomRoundup(int n){ return gReal.xRoundup(n); }
static int oomInit(void *p){ return gReal.xInit(p); }
static void oomShutdown(void *p){ gReal.xShutdown(p); }

static void die(const char *zRun, const char *zWhat, const char *zDetail){
  fprintf(stderr, "sqloom: %s: %s%s%s\n", zRun, zWhat,
          zDetail ? ": " : "", zDetail ? zDetail : "");
  exit(1);
}

/* The workload, run with failures armed: groups of statements, each run
** by one sqlite3_exec(), which stops at the first statement that fails;
** a transaction left open then is rolled back (as an application would),
** and the next group runs. */
static const char *azWork[] = {
  "BEGIN;"
  "INSERT INTO kv VALUES ('k01','a'),('k02','b'),('k03','c'),('k04','d');"
  "INSERT INTO m VALUES ('k01','a'),('k02','b'),('k03','c'),('k04','d');"
  "COMMIT",

  "BEGIN;"
  "INSERT INTO kv VALUES ('k05', printf('%.300c', 'v'));"
  "INSERT INTO m SELECT key, value FROM kv WHERE key='k05';"
  "UPDATE kv SET value = value || 'x' WHERE key BETWEEN 'k02' AND 'k03';"
  "UPDATE m SET value = value || 'x' WHERE key BETWEEN 'k02' AND 'k03';"
  "SAVEPOINT s1;"
  "INSERT INTO kv VALUES ('k10','gone');"
  "INSERT INTO m VALUES ('k10','gone');"
  "ROLLBACK TO s1;"
  "RELEASE s1;"
  "INSERT OR REPLACE INTO kv VALUES ('k06', zeroblob(5000));"
  "INSERT OR REPLACE INTO m VALUES ('k06', zeroblob(5000));"
  "COMMIT",

  "SELECT value FROM kv WHERE key='k02'",
  "SELECT key FROM kv WHERE key>='k02' AND key<'k06' ORDER BY key DESC",
  "SELECT count(*) FROM kv WHERE key IN ('k01','k03','k99')",
  "SELECT count(*) FROM kv JOIN m USING(key) WHERE kv.value IS NOT m.value",
  "SELECT kvstore_stats('kv')",

  "BEGIN;"
  "SELECT kvstore_delete_range('kv', 'k03', 'k05');"
  "DELETE FROM m WHERE key>='k03' AND key<'k05';"
  "DELETE FROM kv WHERE key='k01';"
  "DELETE FROM m WHERE key='k01';"
  "COMMIT",

  "SELECT kvstore_compact('kv', 'full')",
  "SELECT kvstore_verify('kv')",

  "BEGIN;"
  "INSERT INTO kv VALUES ('k07','after');"
  "INSERT INTO m VALUES ('k07','after');"
  "COMMIT",

  "SELECT * FROM kv ORDER BY key",
  0
};

static int execOne(sqlite3 *db, const char *zSql){
  char *zErr = 0;
  int rc = sqlite3_exec(db, zSql, 0, 0, &zErr);
  sqlite3_free(zErr);
  return rc;
}

/* Rows of zSql (two columns) as one string, "key=hex(value);"... */
static char *dump(sqlite3 *db, const char *zRun, const char *zTab){
  sqlite3_stmt *p = 0;
  char *zSql = sqlite3_mprintf("SELECT key || '=' || typeof(value) || "
                               "length(value) || ':' || hex(substr(value, "
                               "1, 8)) || hex(substr(value, -8)) FROM %s "
                               "ORDER BY key", zTab);
  char *zOut = sqlite3_mprintf("");
  int rc;
  if( sqlite3_prepare_v2(db, zSql, -1, &p, 0)!=SQLITE_OK ){
    die(zRun, "prepare after reopen", sqlite3_errmsg(db));
  }
  while( (rc = sqlite3_step(p))==SQLITE_ROW ){
    char *z = sqlite3_mprintf("%s%s;", zOut,
                              (const char*)sqlite3_column_text(p, 0));
    sqlite3_free(zOut);
    zOut = z;
  }
  if( rc!=SQLITE_DONE ) die(zRun, "reading after reopen", sqlite3_errmsg(db));
  sqlite3_finalize(p);
  sqlite3_free(zSql);
  return zOut;
}

static char *oneText(sqlite3 *db, const char *zRun, const char *zSql){
  sqlite3_stmt *p = 0;
  char *z = 0;
  if( sqlite3_prepare_v2(db, zSql, -1, &p, 0)!=SQLITE_OK
   || sqlite3_step(p)!=SQLITE_ROW ){
    die(zRun, zSql, sqlite3_errmsg(db));
  }
  z = sqlite3_mprintf("%s", (const char*)sqlite3_column_text(p, 0));
  sqlite3_finalize(p);
  return z;
}

static void removeTree(const char *zDir){
  char *zCmd = sqlite3_mprintf("rm -rf '%q'", zDir);
  if( system(zCmd)!=0 ) die(zDir, "cannot remove", 0);
  sqlite3_free(zCmd);
}

/* One run; returns 1 when allocation gFailAt was reached. */
static int runOnce(const char *zBase, long nAt, int bPersist, int *pnErr){
  char zRun[64], zDir[512], zDb[600];
  sqlite3 *db = 0;
  char *zKv, *zM, *z;
  int i, rc, bReached;

  snprintf(zRun, sizeof(zRun), "%s N=%ld", bPersist ? "persistent" : "once",
           nAt);
  snprintf(zDir, sizeof(zDir), "%s/r", zBase);
  removeTree(zDir);
  if( mkdir(zDir, 0755)!=0 ) die(zRun, "mkdir", zDir);
  snprintf(zDb, sizeof(zDb), "%s/t.db", zDir);

  if( sqlite3_open(zDb, &db)!=SQLITE_OK ) die(zRun, "open", 0);
  if( execOne(db, "CREATE VIRTUAL TABLE kv USING kvstore("
                  "memtable_size='64KiB');"
                  "CREATE TABLE m(key TEXT PRIMARY KEY, value) WITHOUT ROWID")
      !=SQLITE_OK ){
    die(zRun, "setup", sqlite3_errmsg(db));
  }

  gCount = 0;
  gFailAt = nAt;
  gPersist = bPersist;
  gFailed = 0;
  gArmed = 1;
  for(i=0; azWork[i]; i++){
    rc = execOne(db, azWork[i]);
    if( rc!=SQLITE_OK ){
      int ext = sqlite3_extended_errcode(db);
      (*pnErr)++;
      if( getenv("SQLOOM_VERBOSE") ){
        fprintf(stderr, "%s: %s -> (%d) %s\n", zRun, azWork[i], ext,
                sqlite3_errmsg(db));
      }
      /* Only allocations fail here, so every failure is SQLITE_NOMEM
      ** and says so: not "no such table", not "not an error". */
      if( (ext & 0xff)!=SQLITE_NOMEM
       || strstr(sqlite3_errmsg(db), "out of memory")==0 ){
        char *z = sqlite3_mprintf("(%d) %s", ext, sqlite3_errmsg(db));
        die(zRun, azWork[i], z);
      }
      if( !sqlite3_get_autocommit(db) ) execOne(db, "ROLLBACK");
    }
  }
  rc = sqlite3_close(db);
  gArmed = 0;
  bReached = gCount>=nAt;
  if( rc!=SQLITE_OK ) die(zRun, "close", sqlite3_errstr(rc));

  /* Reopen with the real allocator: one state for both tables. */
  db = 0;
  if( sqlite3_open(zDb, &db)!=SQLITE_OK ) die(zRun, "reopen", 0);
  zKv = dump(db, zRun, "kv");
  zM = dump(db, zRun, "m");
  if( strcmp(zKv, zM)!=0 ){
    fprintf(stderr, "sqloom: %s: kv and m differ after reopen\n  kv: %s\n"
            "  m:  %s\n", zRun, zKv, zM);
    exit(1);
  }
  z = oneText(db, zRun, "SELECT kvstore_verify('kv')");
  if( strcmp(z, "ok")!=0 ) die(zRun, "kvstore_verify", z);
  sqlite3_free(z);
  z = oneText(db, zRun, "PRAGMA integrity_check");
  if( strcmp(z, "ok")!=0 ) die(zRun, "integrity_check", z);
  sqlite3_free(z);
  if( execOne(db, "INSERT OR REPLACE INTO kv VALUES ('zz', 1)")!=SQLITE_OK ){
    die(zRun, "a write after reopen", sqlite3_errmsg(db));
  }
  sqlite3_free(zKv);
  sqlite3_free(zM);
  if( sqlite3_close(db)!=SQLITE_OK ) die(zRun, "close after check", 0);
  return bReached;
}

int main(int argc, char **argv){
  static const sqlite3_mem_methods oom = {
    oomMalloc, oomFree, oomRealloc, oomSize, oomRoundup, oomInit,
    oomShutdown, 0
  };
  long nStride = argc>1 ? atol(argv[1]) : 1;
  char zBase[] = "/tmp/kvsqloom-XXXXXX";
  int bPersist;
  long nRuns = 0;
  int nErr = 0;

  if( nStride<1 ) nStride = 1;
  if( sqlite3_config(SQLITE_CONFIG_GETMALLOC, &gReal)!=SQLITE_OK
   || sqlite3_config(SQLITE_CONFIG_MALLOC, &oom)!=SQLITE_OK ){
    fprintf(stderr, "sqloom: cannot replace SQLite's allocator\n");
    return 1;
  }
  /* Lookaside would serve small allocations without the allocator. */
  sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0);
  sqlite3_auto_extension((void(*)(void))sqlite3_kvstore_init);
  if( mkdtemp(zBase)==0 ){
    fprintf(stderr, "sqloom: mkdtemp failed\n");
    return 1;
  }
  for(bPersist=0; bPersist<2; bPersist++){
    long nAt;
    long nMax = 0;
    for(nAt=1; ; nAt+=nStride){
      nRuns++;
      if( !runOnce(zBase, nAt, bPersist, &nErr) ) break;
      nMax = nAt;
    }
    printf("sqloom: %s failures: allocations 1..%ld every %ld, all clean\n",
           bPersist ? "persistent" : "one-off", nMax, nStride);
  }
  removeTree(zBase);
  printf("sqloom: %ld runs, %d failed statements, 0 differences\n", nRuns,
         nErr);
  return 0;
}
