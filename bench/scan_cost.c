/*
** scan_cost.c - per-scan cost of short scans (issue #18), for callgrind.
**
**   cc -O2 -g -o /tmp/scan_cost bench/scan_cost.c -lsqlite3
**   valgrind --tool=callgrind --toggle-collect=do_scans \
**     --callgrind-out-file=/tmp/cg.out \
**     /tmp/scan_cost ./kvstore.so kv 20000 range 1 500
**   (instructions per scan: the "summary:" of /tmp/cg.out over 500)
**
** Arguments: extension, table (kv: a kvstore table, ref: an ordinary
** WITHOUT ROWID table), rows, mode (none; range: one DELETE of keys
** [rows/10, 4*rows/10); func: kvstore_delete_range of them for kv), flush
** (1: kvstore_flush before the scans), scans. Rows are inserted in a
** random order, 1,000 a transaction, as bench/delete_scans.py does; the
** scans are `SELECT key, value ... WHERE key >= ? ORDER BY key LIMIT 10`
** from random keys of the deleted range, all inside do_scans().
*/

#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sqlite3 *db;
static long nSeen;

static void exec(const char *zSql){
  char *zErr = 0;
  if( sqlite3_exec(db, zSql, 0, 0, &zErr)!=SQLITE_OK ){
    fprintf(stderr, "%s: %s\n", zSql, zErr);
    exit(1);
  }
}

static void keyOf(char *z, int i){ snprintf(z, 32, "%016d", i); }

/* The measured part: nScan scans from keys of [n/10, 4n/10). */
__attribute__((noinline)) void do_scans(const char *zTab, int n, int nScan){
  char zSql[200], zKey[32];
  sqlite3_stmt *pStmt;
  unsigned r = 5;
  int i;
  snprintf(zSql, sizeof(zSql), "SELECT key, value FROM %s WHERE key >= ? "
           "ORDER BY key LIMIT 10", zTab);
  if( sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0)!=SQLITE_OK ){
    fprintf(stderr, "%s\n", sqlite3_errmsg(db));
    exit(1);
  }
  for(i=0; i<nScan; i++){
    r = r*1103515245u + 12345u;
    keyOf(zKey, n/10 + (int)((r>>8) % (unsigned)(3*n/10)));
    sqlite3_bind_text(pStmt, 1, zKey, -1, SQLITE_TRANSIENT);
    while( sqlite3_step(pStmt)==SQLITE_ROW ) nSeen++;
    sqlite3_reset(pStmt);
  }
  sqlite3_finalize(pStmt);
}

int main(int argc, char **argv){
  const char *zSo, *zTab, *zMode;
  int n, bFlush, nScan, i, j;
  unsigned r = 1;
  int *aPerm;
  char zDir[] = "/tmp/kvscancost-XXXXXX";
  char zPath[300], zSql[300], zLo[32], zHi[32], zErr2[400];
  char *zErr = 0;
  sqlite3_stmt *pIns;
  if( argc!=7 ){
    fprintf(stderr, "usage: %s EXTENSION kv|ref ROWS none|range|func "
            "FLUSH SCANS\n", argv[0]);
    return 2;
  }
  zSo = argv[1]; zTab = argv[2]; n = atoi(argv[3]); zMode = argv[4];
  bFlush = atoi(argv[5]); nScan = atoi(argv[6]);
  if( mkdtemp(zDir)==0 ){ perror("mkdtemp"); return 1; }
  snprintf(zPath, sizeof(zPath), "%s/x.db", zDir);
  sqlite3_open(zPath, &db);
  sqlite3_enable_load_extension(db, 1);
  if( sqlite3_load_extension(db, zSo, 0, &zErr)!=SQLITE_OK ){
    fprintf(stderr, "%s\n", zErr);
    return 1;
  }
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  if( strcmp(zTab, "kv")==0 ){
    exec("CREATE VIRTUAL TABLE kv USING kvstore(sync=normal, "
         "memtable_size='4MiB', cache_size='8MiB')");
  }else{
    exec("CREATE TABLE ref(key TEXT PRIMARY KEY NOT NULL, value) "
         "WITHOUT ROWID");
  }
  aPerm = malloc(sizeof(int)*(size_t)n);
  for(i=0; i<n; i++) aPerm[i] = i;
  for(i=n-1; i>0; i--){
    int t;
    r = r*1103515245u + 12345u;
    j = (int)((r>>8) % (unsigned)(i+1));
    t = aPerm[i]; aPerm[i] = aPerm[j]; aPerm[j] = t;
  }
  snprintf(zSql, sizeof(zSql), "INSERT INTO %s VALUES(?, zeroblob(100))",
           zTab);
  sqlite3_prepare_v2(db, zSql, -1, &pIns, 0);
  for(i=0; i<n; i+=1000){
    exec("BEGIN");
    for(j=i; j<i+1000 && j<n; j++){
      char zKey[32];
      keyOf(zKey, aPerm[j]);
      sqlite3_bind_text(pIns, 1, zKey, -1, SQLITE_TRANSIENT);
      sqlite3_step(pIns);
      sqlite3_reset(pIns);
    }
    exec("COMMIT");
  }
  sqlite3_finalize(pIns);
  free(aPerm);
  keyOf(zLo, n/10);
  keyOf(zHi, 4*n/10);
  if( strcmp(zMode, "func")==0 && strcmp(zTab, "kv")==0 ){
    snprintf(zSql, sizeof(zSql),
             "SELECT kvstore_delete_range('kv', '%s', '%s')", zLo, zHi);
    exec(zSql);
  }else if( strcmp(zMode, "none")!=0 ){
    snprintf(zSql, sizeof(zSql),
             "DELETE FROM %s WHERE key >= '%s' AND key < '%s'", zTab, zLo, zHi);
    exec(zSql);
  }
  if( bFlush && strcmp(zTab, "kv")==0 ) exec("SELECT kvstore_flush('kv')");
  do_scans(zTab, n, nScan);
  printf("rows seen %ld\n", nSeen);
  sqlite3_close(db);
  snprintf(zErr2, sizeof(zErr2), "rm -rf '%s'", zDir);
  return system(zErr2)==0 ? 0 : 1;
}
