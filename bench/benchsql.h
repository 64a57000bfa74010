/*
** benchsql.h - the SQL plumbing of the SQL-level benchmarks (sqlbench.c,
** sqllarge.c): one connection gDb, statements that die on error, and the
** database and tables every run uses, so both programs measure the same
** settings:
**
**   kvstore: CREATE VIRTUAL TABLE t USING kvstore(dir=..., sync=normal,
**            memtable_size=4MiB, cache_size=8MiB)
**   table:   CREATE TABLE t(key TEXT PRIMARY KEY NOT NULL, value)
**            WITHOUT ROWID
**   both:    journal_mode=WAL, synchronous=NORMAL, cache_size=8 MiB
**
** Include after benchutil.h.
*/
#ifndef BENCHSQL_H
#define BENCHSQL_H

#include <sqlite3.h>

static sqlite3 *gDb;

/* Die unless rc is SQLITE_OK, SQLITE_DONE or SQLITE_ROW. */
BENCH_FN void check(int rc, const char *zWhat){
  if( rc!=SQLITE_OK && rc!=SQLITE_DONE && rc!=SQLITE_ROW ){
    die("%s: %s", zWhat, sqlite3_errmsg(gDb));
  }
}
BENCH_FN void execSql(const char *zSql){
  char *zErr = 0;
  if( sqlite3_exec(gDb, zSql, 0, 0, &zErr)!=SQLITE_OK ){
    die("%s: %s", zSql, zErr ? zErr : "?");
  }
}
BENCH_FN sqlite3_stmt *prep(const char *zSql){
  sqlite3_stmt *s = 0;
  check(sqlite3_prepare_v2(gDb, zSql, -1, &s, 0), zSql);
  return s;
}

/* Remove database zPath with its -wal and -shm files. */
BENCH_FN void removeDb(const char *zPath){
  char z[4300];
  rmTree(zPath);
  snprintf(z, sizeof(z), "%s-wal", zPath); rmTree(z);
  snprintf(z, sizeof(z), "%s-shm", zPath); rmTree(z);
}

/* Open zPath as gDb with the settings of every run and, for the kvstore
** backend, the extension zExt loaded. */
BENCH_FN void openSql(const char *zPath, const char *zBackend,
                           const char *zExt){
  if( sqlite3_open(zPath, &gDb)!=SQLITE_OK ) die("open %s", zPath);
  execSql("PRAGMA journal_mode=WAL");
  execSql("PRAGMA synchronous=NORMAL");
  execSql("PRAGMA cache_size=-8192");
  if( strcmp(zBackend, "kvstore")==0 ){
    char *zErr = 0;
    sqlite3_enable_load_extension(gDb, 1);
    if( sqlite3_load_extension(gDb, zExt, 0, &zErr)!=SQLITE_OK ){
      die("load %s: %s", zExt, zErr ? zErr : "?");
    }
  }
}

/* Create table zTable of the backend; a kvstore table keeps its store in
** zKvDir, relative to the database's folder (as kvstore resolves it). */
BENCH_FN void createTable(const char *zBackend, const char *zTable,
                               const char *zKvDir){
  char zSql[5000];
  if( strcmp(zBackend, "kvstore")==0 ){
    /* KVBENCH_KV_OPTS: more CREATE arguments, to try other settings */
    const char *zMore = getenv("KVBENCH_KV_OPTS");
    snprintf(zSql, sizeof(zSql),
      "CREATE VIRTUAL TABLE %s USING kvstore(dir='%s', sync=normal,"
      " memtable_size='4MiB', cache_size='8MiB'%s%s)", zTable, zKvDir,
      zMore && zMore[0] ? ", " : "", zMore ? zMore : "");
  }else{
    snprintf(zSql, sizeof(zSql), "CREATE TABLE %s(key TEXT PRIMARY KEY NOT"
             " NULL, value) WITHOUT ROWID", zTable);
  }
  execSql(zSql);
}

#endif /* BENCHSQL_H */
