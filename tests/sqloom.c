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
** failures armed, the workload azWork: transactions writing both tables
** (multi-row INSERT, UPDATE of a range, DELETE, a savepoint rolled back,
** kvstore_delete_range), reads (point, range both ways, IN, a join),
** kvstore_stats, _verify and _compact, a second kvstore table kv2 made by
** a CREATE (retried) with its twin m2 and loaded in key order past
** txn_spill, kv2's tables ingested into kv, kvstore_checkpoint of kv2,
** kvstore_backup, and the close. The first failing statement must fail
** cleanly with SQLITE_NOMEM, and kvstore's message must say so (no crash,
** no sanitizer report, no other error standing in for it); after a
** one-off failure no second statement may fail; an open transaction is
** rolled back after each failure. Then, with the real allocator again,
** the database is reopened: each kvstore table must hold exactly its
** twin's rows (the transactions were atomic across both), pass
** kvstore_verify and PRAGMA integrity_check, and take a write; a
** checkpoint or backup must be whole (the same rows) or absent.
**
** With SQLOOM_IO=1 the N-th file operation of the database and its
** journal fails instead (read, write, truncate or sync, through a VFS
** around the default one, SQLITE_IOERR_*), with the same workload and
** checks, except that the first failure is an I/O error and a one-off
** failure may fail more than one statement: this is where the database's
** commit fails around kvstore's own (the two-phase commit), and the
** reopened database and stores must agree.
**
** Usage: sqloom [STRIDE]   (every STRIDE-th N; 1, the default: every N)
**   SQLOOM_VERBOSE=1 prints every failed statement; SQLOOM_FROM=N starts
**   both passes at N; SQLOOM_AT=N [SQLOOM_PERSIST=1] runs that one N.
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

static int gIoMode;                /* SQLOOM_IO: file operations fail */

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
  return !gIoMode && shouldFail() ? 0 : gReal.xMalloc(n);
}
static void oomFree(void *p){ gReal.xFree(p); }
static void *oomRealloc(void *p, int n){
  return !gIoMode && shouldFail() ? 0 : gReal.xRealloc(p, n);
}
static int oomSize(void *p){ return gReal.xSize(p); }
static int oomRoundup(int n){ return gReal.xRoundup(n); }
static int oomInit(void *p){ return gReal.xInit(p); }
static void oomShutdown(void *p){ gReal.xShutdown(p); }

/* The VFS "kvfault": the default VFS, with each read, write, truncate
** and sync of a file counted as one operation while armed (gIoMode). */
typedef struct FaultFile FaultFile;
struct FaultFile {
  sqlite3_file base;
  sqlite3_file *pReal;          /* the default VFS's file, after this */
};
static sqlite3_vfs *gRealVfs;

static int ioFail(void){ return gIoMode && shouldFail(); }
static int fClose(sqlite3_file *f){
  FaultFile *p = (FaultFile*)f;
  return p->pReal->pMethods ? p->pReal->pMethods->xClose(p->pReal)
                            : SQLITE_OK;
}
static int fRead(sqlite3_file *f, void *a, int n, sqlite3_int64 o){
  FaultFile *p = (FaultFile*)f;
  if( ioFail() ) return SQLITE_IOERR_READ;
  return p->pReal->pMethods->xRead(p->pReal, a, n, o);
}
static int fWrite(sqlite3_file *f, const void *a, int n, sqlite3_int64 o){
  FaultFile *p = (FaultFile*)f;
  if( ioFail() ) return SQLITE_IOERR_WRITE;
  return p->pReal->pMethods->xWrite(p->pReal, a, n, o);
}
static int fTruncate(sqlite3_file *f, sqlite3_int64 n){
  FaultFile *p = (FaultFile*)f;
  if( ioFail() ) return SQLITE_IOERR_TRUNCATE;
  return p->pReal->pMethods->xTruncate(p->pReal, n);
}
static int fSync(sqlite3_file *f, int flags){
  FaultFile *p = (FaultFile*)f;
  if( ioFail() ) return SQLITE_IOERR_FSYNC;
  return p->pReal->pMethods->xSync(p->pReal, flags);
}
static int fFileSize(sqlite3_file *f, sqlite3_int64 *pn){
  FaultFile *p = (FaultFile*)f;
  return p->pReal->pMethods->xFileSize(p->pReal, pn);
}
static int fLock(sqlite3_file *f, int e){
  FaultFile *p = (FaultFile*)f;
  return p->pReal->pMethods->xLock(p->pReal, e);
}
static int fUnlock(sqlite3_file *f, int e){
  FaultFile *p = (FaultFile*)f;
  return p->pReal->pMethods->xUnlock(p->pReal, e);
}
static int fCheckReserved(sqlite3_file *f, int *pRes){
  FaultFile *p = (FaultFile*)f;
  return p->pReal->pMethods->xCheckReservedLock(p->pReal, pRes);
}
static int fFileControl(sqlite3_file *f, int op, void *pArg){
  FaultFile *p = (FaultFile*)f;
  return p->pReal->pMethods->xFileControl(p->pReal, op, pArg);
}
static int fSectorSize(sqlite3_file *f){
  FaultFile *p = (FaultFile*)f;
  return p->pReal->pMethods->xSectorSize(p->pReal);
}
static int fDeviceCharacteristics(sqlite3_file *f){
  FaultFile *p = (FaultFile*)f;
  return p->pReal->pMethods->xDeviceCharacteristics(p->pReal);
}
/* Version 1: no shared memory (rollback journal only) and no mmap. */
static const sqlite3_io_methods gFaultMethods = {
  1, fClose, fRead, fWrite, fTruncate, fSync, fFileSize, fLock, fUnlock,
  fCheckReserved, fFileControl, fSectorSize, fDeviceCharacteristics,
  0, 0, 0, 0, 0, 0
};
static int fOpen(sqlite3_vfs *pVfs, const char *zName, sqlite3_file *f,
                 int flags, int *pOutFlags){
  FaultFile *p = (FaultFile*)f;
  int rc;
  (void)pVfs;
  p->pReal = (sqlite3_file*)&p[1];
  rc = gRealVfs->xOpen(gRealVfs, zName, p->pReal, flags, pOutFlags);
  p->base.pMethods = p->pReal->pMethods ? &gFaultMethods : 0;
  return rc;
}
static int fDelete(sqlite3_vfs *v, const char *z, int bSync){
  (void)v;
  return gRealVfs->xDelete(gRealVfs, z, bSync);
}
static int fAccess(sqlite3_vfs *v, const char *z, int f, int *pRes){
  (void)v;
  return gRealVfs->xAccess(gRealVfs, z, f, pRes);
}
static int fFullPathname(sqlite3_vfs *v, const char *z, int n, char *zOut){
  (void)v;
  return gRealVfs->xFullPathname(gRealVfs, z, n, zOut);
}
static int fRandomness(sqlite3_vfs *v, int n, char *z){
  (void)v;
  return gRealVfs->xRandomness(gRealVfs, n, z);
}
static int fSleep(sqlite3_vfs *v, int n){
  (void)v;
  return gRealVfs->xSleep(gRealVfs, n);
}
static int fCurrentTime(sqlite3_vfs *v, double *p){
  (void)v;
  return gRealVfs->xCurrentTime(gRealVfs, p);
}
static sqlite3_vfs gFaultVfs = {
  1, 0, 512, 0, "kvfault", 0, fOpen, fDelete, fAccess, fFullPathname,
  0, 0, 0, 0, fRandomness, fSleep, fCurrentTime, 0,
  0, 0, 0, 0
};

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

  /* A table made under failures; a sorted load into it, past txn_spill. */
  "CREATE VIRTUAL TABLE kv2 USING kvstore(txn_spill='8KiB')",
  /* A CREATE that failed leaves nothing in the way of its retry (after
  ** a one-off failure the retry must work). */
  "CREATE VIRTUAL TABLE IF NOT EXISTS kv2 USING kvstore(txn_spill='8KiB')",
  "CREATE TABLE m2(key TEXT PRIMARY KEY, value) WITHOUT ROWID",
  "CREATE TABLE IF NOT EXISTS m2(key TEXT PRIMARY KEY, value) WITHOUT ROWID",
  "BEGIN;"
  "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<300)"
  " INSERT INTO kv2 SELECT printf('s%05d', i), zeroblob(200) FROM c;"
  "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<300)"
  " INSERT INTO m2 SELECT printf('s%05d', i), zeroblob(200) FROM c;"
  "COMMIT",
  "SELECT level, file, entries FROM kvstore_sstables('kv2')",

  /* kv2's tables ingested into kv (all of kv2 is in them: the load went
  ** straight to a table), in one transaction with their mirror. */
  "BEGIN;"
  "SELECT kvstore_ingest('kv', 't.db-kv2.kvstore/' || file)"
  " FROM kvstore_sstables('kv2');"
  "INSERT OR REPLACE INTO m SELECT key, value FROM kv2;"
  "COMMIT",

  /* Copies: all or nothing (checked after the run). */
  "SELECT kvstore_checkpoint('kv2', 'ck')",
  "SELECT kvstore_backup('bk.db')",

  /* ALTER TABLE ... RENAME of a table with a default directory, which
  ** xRename moves: when SQLite fails after xRename (an allocation, a file
  ** operation) and rolls the ALTER back, the store moves back at the
  ** table's next use (checked after the reopen). */
  "ALTER TABLE kv2 RENAME TO kv3",
  "ALTER TABLE m2 RENAME TO m3",
  0
};

/* Run the statements of zSql in turn, stepping each to its end, until
** one fails (prepared and stepped here rather than by sqlite3_exec(),
** whose own allocations for its callback would fail a statement after
** its work was done). */
static int execOne(sqlite3 *db, const char *zSql){
  int rc = SQLITE_OK;
  while( rc==SQLITE_OK && zSql && zSql[0] ){
    sqlite3_stmt *p = 0;
    const char *zTail = 0;
    rc = sqlite3_prepare_v2(db, zSql, -1, &p, &zTail);
    if( rc==SQLITE_OK && p ){
      while( (rc = sqlite3_step(p))==SQLITE_ROW ){}
      if( rc==SQLITE_DONE ) rc = SQLITE_OK;
    }
    sqlite3_finalize(p);
    zSql = zTail;
  }
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

static int hasTable(sqlite3 *db, const char *zRun, const char *zTab){
  char *zSql = sqlite3_mprintf("SELECT count(*) FROM sqlite_schema "
                               "WHERE name='%q'", zTab);
  char *z = oneText(db, zRun, zSql);
  int bHas = strcmp(z, "0")!=0;
  sqlite3_free(z);
  sqlite3_free(zSql);
  return bHas;
}

/* kvstore table zKv and ordinary table zM of db hold the same rows; zKv
** passes kvstore_verify and the database integrity_check. */
static void checkPair(sqlite3 *db, const char *zRun, const char *zKv,
                      const char *zM){
  char *zA = dump(db, zRun, zKv);
  char *zB = dump(db, zRun, zM);
  char *zSql, *z;
  if( strcmp(zA, zB)!=0 ){
    fprintf(stderr, "sqloom: %s: %s and %s differ after reopen\n  %s: %s\n"
            "  %s: %s\n", zRun, zKv, zM, zKv, zA, zM, zB);
    exit(1);
  }
  sqlite3_free(zA);
  sqlite3_free(zB);
  zSql = sqlite3_mprintf("SELECT kvstore_verify('%q')", zKv);
  z = oneText(db, zRun, zSql);
  if( strcmp(z, "ok")!=0 ) die(zRun, zSql, z);
  sqlite3_free(z);
  sqlite3_free(zSql);
  z = oneText(db, zRun, "PRAGMA integrity_check");
  if( strcmp(z, "ok")!=0 ) die(zRun, "integrity_check", z);
  sqlite3_free(z);
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
  int i, rc, bReached, nErrBefore, bCkFailed;

  snprintf(zRun, sizeof(zRun), "%s N=%ld", bPersist ? "persistent" : "once",
           nAt);
  snprintf(zDir, sizeof(zDir), "%s/r", zBase);
  removeTree(zDir);
  if( mkdir(zDir, 0755)!=0 ) die(zRun, "mkdir", zDir);
  snprintf(zDb, sizeof(zDb), "%s/t.db", zDir);
  if( chdir(zDir)!=0 ) die(zRun, "chdir", zDir);    /* 'ck', 'bk.db' */

  if( sqlite3_open_v2(zDb, &db, SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE,
                      gIoMode ? "kvfault" : 0)!=SQLITE_OK ){
    die(zRun, "open", 0);
  }
  if( execOne(db, "CREATE VIRTUAL TABLE kv USING kvstore("
                  "memtable_size='64KiB');"
                  "CREATE TABLE m(key TEXT PRIMARY KEY, value) WITHOUT ROWID")
      !=SQLITE_OK ){
    die(zRun, "setup", sqlite3_errmsg(db));
  }

  nErrBefore = *pnErr;
  gCount = 0;
  gFailAt = nAt;
  gPersist = bPersist;
  gFailed = 0;
  gArmed = 1;
  bCkFailed = 0;
  for(i=0; azWork[i]; i++){
    rc = execOne(db, azWork[i]);
    if( rc!=SQLITE_OK && strstr(azWork[i], "kvstore_checkpoint") ){
      bCkFailed = 1;
    }
    if( rc!=SQLITE_OK ){
      int ext = sqlite3_extended_errcode(db);
      (*pnErr)++;
      if( getenv("SQLOOM_VERBOSE") ){
        fprintf(stderr, "%s: %s -> (%d) %s\n", zRun, azWork[i], ext,
                sqlite3_errmsg(db));
      }
      /* Only allocations fail here, so the first failure is SQLITE_NOMEM,
      ** and kvstore's message says so: not "no such table", not "not an
      ** error" (SQLite's own may name what it was doing). A later one may
      ** follow from it (a table whose CREATE failed is missing), but is
      ** never a misuse, corruption or an internal error. */
      const char *zMsg = sqlite3_errmsg(db);
      int bFirst = (*pnErr)==nErrBefore+1;
      int eCode = ext & 0xff;
      if( bFirst ? (gIoMode ? (eCode!=SQLITE_IOERR && eCode!=SQLITE_FULL
                               && eCode!=SQLITE_CANTOPEN)
                    : (eCode!=SQLITE_NOMEM
                       || (strncmp(zMsg, "kvstore", 7)==0
                           && strstr(zMsg, "out of memory")==0)))
                 : (eCode==SQLITE_MISUSE || eCode==SQLITE_CORRUPT
                    || eCode==SQLITE_INTERNAL
                    || strstr(zMsg, "not an error")!=0) ){
        char *z = sqlite3_mprintf("(%d) %s", ext, sqlite3_errmsg(db));
        die(zRun, azWork[i], z);
      }
      if( !sqlite3_get_autocommit(db) ) execOne(db, "ROLLBACK");
    }
  }
  rc = sqlite3_close(db);
  gArmed = 0;
  if( !gIoMode && !bPersist && *pnErr>nErrBefore+1 ){
    /* One allocation failed: one statement may fail, and nothing after
    ** it (the workload retries the one CREATE others depend on). */
    die(zRun, "more than one statement failed after one failed allocation",
        "run with SQLOOM_VERBOSE=1");
  }
  bReached = gCount>=nAt;
  if( rc!=SQLITE_OK ) die(zRun, "close", sqlite3_errstr(rc));

  /* Reopen with the real allocator: one state for both tables. */
  db = 0;
  if( sqlite3_open(zDb, &db)!=SQLITE_OK ) die(zRun, "reopen", 0);
  checkPair(db, zRun, "kv", "m");
  {
    /* kv2 made (perhaps renamed kv3), its mirror m2 (perhaps m3). */
    const char *zT = hasTable(db, zRun, "kv3") ? "kv3"
                   : hasTable(db, zRun, "kv2") ? "kv2" : 0;
    const char *zU = hasTable(db, zRun, "m3") ? "m3"
                   : hasTable(db, zRun, "m2") ? "m2" : 0;
    if( zT && zU ) checkPair(db, zRun, zT, zU);
  }
  /* A checkpoint of kv2 is there whole, or not at all: adopted by a new
  ** table, it holds kv2's rows (not written since: its mirror's). */
  if( bCkFailed && access("ck", F_OK)==0 ){
    die(zRun, "kvstore_checkpoint", "failed, but left 'ck' behind");
  }
  if( access("ck", F_OK)==0 ){
    const char *zU = hasTable(db, zRun, "m3") ? "m3" : "m2";
    if( execOne(db, "CREATE VIRTUAL TABLE ckt USING kvstore(dir='ck')")
        !=SQLITE_OK ){
      die(zRun, "adopting the checkpoint", sqlite3_errmsg(db));
    }
    checkPair(db, zRun, "ckt", zU);
  }
  if( execOne(db, "INSERT OR REPLACE INTO kv VALUES ('zz', 1)")!=SQLITE_OK ){
    die(zRun, "a write after reopen", sqlite3_errmsg(db));
  }
  if( sqlite3_close(db)!=SQLITE_OK ) die(zRun, "close after check", 0);

  /* A backup is there whole, as of one commit, or not at all. */
  if( access("bk.db", F_OK)==0 ){
    if( sqlite3_open("bk.db", &db)!=SQLITE_OK ) die(zRun, "open bk.db", 0);
    checkPair(db, zRun, "kv", "m");
    if( hasTable(db, zRun, "kv2") && hasTable(db, zRun, "m2") ){
      checkPair(db, zRun, "kv2", "m2");
    }
    sqlite3_close(db);
  }else if( access("bk.db-kv.kvstore", F_OK)==0
         || access("bk.db-kv2.kvstore", F_OK)==0 ){
    die(zRun, "kvstore_backup", "failed, but left store copies behind");
  }
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
  gIoMode = getenv("SQLOOM_IO")!=0;
  gRealVfs = sqlite3_vfs_find(0);
  gFaultVfs.szOsFile = (int)sizeof(FaultFile) + gRealVfs->szOsFile;
  gFaultVfs.mxPathname = gRealVfs->mxPathname;
  if( sqlite3_vfs_register(&gFaultVfs, 0)!=SQLITE_OK ){
    fprintf(stderr, "sqloom: cannot register the kvfault VFS\n");
    return 1;
  }
  sqlite3_auto_extension((void(*)(void))sqlite3_kvstore_init);
  if( mkdtemp(zBase)==0 ){
    fprintf(stderr, "sqloom: mkdtemp failed\n");
    return 1;
  }
  if( getenv("SQLOOM_AT") ){
    /* One run, to look at: SQLOOM_AT=N, SQLOOM_PERSIST=1 for that mode. */
    long nAt = atol(getenv("SQLOOM_AT"));
    bPersist = getenv("SQLOOM_PERSIST")!=0;
    runOnce(zBase, nAt, bPersist, &nErr);
    printf("sqloom: %s N=%ld: clean\n", bPersist ? "persistent" : "once",
           nAt);
    removeTree(zBase);
    return 0;
  }
  for(bPersist=0; bPersist<2; bPersist++){
    long nAt;
    long nMax = 0;
    long nFrom = getenv("SQLOOM_FROM") ? atol(getenv("SQLOOM_FROM")) : 1;
    for(nAt=nFrom>0 ? nFrom : 1; ; nAt+=nStride){
      nRuns++;
      if( !runOnce(zBase, nAt, bPersist, &nErr) ) break;
      nMax = nAt;
    }
    printf("sqloom: %s failures: %s 1..%ld every %ld, all clean\n",
           bPersist ? "persistent" : "one-off",
           gIoMode ? "file operations" : "allocations", nMax, nStride);
  }
  removeTree(zBase);
  printf("sqloom: %ld runs, %d failed statements, 0 differences\n", nRuns,
         nErr);
  return 0;
}
