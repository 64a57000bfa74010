/*
** snapshottest.c - sqlite3_snapshot_open() on a database with a kvstore
** table beside an ordinary one (run by tests/compat.sh against SQLite
** builds with SQLITE_ENABLE_SNAPSHOT; Debian's has not).
**
** A reader records a WAL snapshot, a writer commits several transactions
** after it, and the reader opens the old snapshot again: the ordinary
** table shows its state then, and so must the kvstore table (its horizon
** is read through that snapshot). After a full compaction has dropped the
** versions it needs, kvstore cannot show that state: the read must fail
** with SQLITE_BUSY ("too old"), never return a newer value.
**
**   snapshottest EXTENSION EMPTY-DIRECTORY
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sqlite3.h"

static int nFail = 0;

#define CHECK(x) do{ if( !(x) ){ \
  printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #x); nFail++; } }while(0)

static sqlite3 *openDb(const char *zPath, const char *zExt){
  sqlite3 *db = 0;
  char *zErr = 0;
  if( sqlite3_open(zPath, &db)!=SQLITE_OK ){
    printf("cannot open %s: %s\n", zPath, sqlite3_errmsg(db));
    exit(1);
  }
  sqlite3_enable_load_extension(db, 1);
  if( sqlite3_load_extension(db, zExt, 0, &zErr)!=SQLITE_OK ){
    printf("cannot load %s: %s\n", zExt, zErr);
    exit(1);
  }
  sqlite3_busy_timeout(db, 2000);
  return db;
}

static void execOk(sqlite3 *db, const char *zSql){
  char *zErr = 0;
  if( sqlite3_exec(db, zSql, 0, 0, &zErr)!=SQLITE_OK ){
    printf("FAIL: %s: %s\n", zSql, zErr);
    sqlite3_free(zErr);
    nFail++;
  }
}

/* The first column of the first row of zSql as text into zOut (nOut
** bytes); returns the error code of the statement (SQLITE_OK when it ran). */
static int readOne(sqlite3 *db, const char *zSql, char *zOut, int nOut){
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  zOut[0] = 0;
  if( rc==SQLITE_OK ){
    rc = sqlite3_step(p);
    if( rc==SQLITE_ROW ){
      snprintf(zOut, (size_t)nOut, "%s", (const char*)sqlite3_column_text(p, 0));
      rc = SQLITE_OK;
    }else if( rc==SQLITE_DONE ){
      rc = SQLITE_OK;
    }
  }
  if( rc!=SQLITE_OK ) snprintf(zOut, (size_t)nOut, "%s", sqlite3_errmsg(db));
  sqlite3_finalize(p);
  return rc;
}

/* One round: bCompact 0 leaves every version, 1 compacts fully between
** the snapshot and its reopening. */
static void round1(const char *zExt, const char *zDir, int bCompact){
  char zPath[512], zTw[200], zKv[200];
  const char *azQuery[] = {
    "SELECT value FROM %s WHERE key='k'",
    "SELECT count(*) FROM %s",
    "SELECT group_concat(key) FROM (SELECT key FROM %s ORDER BY key DESC)",
  };
  sqlite3 *w, *r;
  sqlite3_snapshot *pSnap = 0;
  int i, rc;

  snprintf(zPath, sizeof(zPath), "%s/snap%d.db", zDir, bCompact);
  if( access(zPath, F_OK)==0 ){
    printf("%s exists: give an empty directory\n", zPath);
    exit(2);
  }
  w = openDb(zPath, zExt);
  execOk(w, "PRAGMA journal_mode=wal; PRAGMA wal_autocheckpoint=0;"
            "CREATE VIRTUAL TABLE kv USING kvstore;"
            "CREATE TABLE tw(key PRIMARY KEY, value) WITHOUT ROWID;"
            "INSERT INTO kv VALUES('k','v1'), ('a', 0);"
            "INSERT INTO tw VALUES('k','v1'), ('a', 0);");
  r = openDb(zPath, zExt);
  execOk(r, "BEGIN");
  readOne(r, "SELECT count(*) FROM tw", zTw, sizeof(zTw));
  rc = sqlite3_snapshot_get(r, "main", &pSnap);
  CHECK( rc==SQLITE_OK );
  execOk(r, "COMMIT");
  for(i=2; i<=5; i++){
    char zSql[400];
    snprintf(zSql, sizeof(zSql), "BEGIN;"
        "UPDATE kv SET value='v%d' WHERE key='k';"
        "UPDATE tw SET value='v%d' WHERE key='k';"
        "DELETE FROM kv WHERE key='a'; DELETE FROM tw WHERE key='a';"
        "INSERT INTO kv VALUES('n%d', 1); INSERT INTO tw VALUES('n%d', 1);"
        "COMMIT;", i, i, i, i);
    execOk(w, zSql);
  }
  if( bCompact ){
    CHECK( readOne(w, "SELECT kvstore_flush('kv')", zKv, sizeof(zKv))==0 );
    CHECK( readOne(w, "SELECT kvstore_compact('kv', 'full')", zKv,
                   sizeof(zKv))==0 );
  }

  execOk(r, "BEGIN");
  rc = sqlite3_snapshot_open(r, "main", pSnap);
  CHECK( rc==SQLITE_OK );
  for(i=0; i<(int)(sizeof(azQuery)/sizeof(azQuery[0])); i++){
    char zQ[200];
    int rcTw, rcKv;
    snprintf(zQ, sizeof(zQ), azQuery[i], "tw");
    rcTw = readOne(r, zQ, zTw, sizeof(zTw));
    snprintf(zQ, sizeof(zQ), azQuery[i], "kv");
    rcKv = readOne(r, zQ, zKv, sizeof(zKv));
    CHECK( rcTw==SQLITE_OK );
    if( bCompact && rcKv!=SQLITE_OK ){
      /* The state is gone from the store: refused, not misread. */
      CHECK( rcKv==SQLITE_BUSY );
      CHECK( strstr(zKv, "kvstore:")!=0 && strstr(zKv, "too old")!=0 );
    }else{
      CHECK( rcKv==SQLITE_OK );
      if( strcmp(zTw, zKv)!=0 ){
        printf("FAIL: compact=%d: %s: ordinary [%s], kvstore [%s]\n",
               bCompact, azQuery[i], zTw, zKv);
        nFail++;
      }
    }
  }
  execOk(r, "COMMIT");
  /* Outside the snapshot: the newest state on both. */
  readOne(r, "SELECT group_concat(key||value) FROM tw", zTw, sizeof(zTw));
  CHECK( readOne(r, "SELECT group_concat(key||value) FROM kv", zKv,
                 sizeof(zKv))==SQLITE_OK );
  CHECK( strcmp(zTw, zKv)==0 );
  sqlite3_snapshot_free(pSnap);
  sqlite3_close(r);
  sqlite3_close(w);
}

int main(int argc, char **argv){
  if( argc!=3 ){
    fprintf(stderr, "usage: %s EXTENSION WORKDIR\n", argv[0]);
    return 2;
  }
  round1(argv[1], argv[2], 0);
  round1(argv[1], argv[2], 1);
  printf("snapshottest (SQLite %s): %s\n", sqlite3_libversion(),
         nFail ? "FAILED" : "ok");
  return nFail ? 1 : 0;
}
