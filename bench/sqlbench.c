/*
** sqlbench.c - SQL-level benchmark: the same statements against a kvstore
** virtual table and against an ordinary WITHOUT ROWID table.
**
**   sqlbench --backend=kvstore|table --test=NAME --dir=DIR [--rows=N]
**            [--ops=N] [--ext=./kvstore] [--duration=S] [--header]
**
** One process runs one test on one backend and prints one CSV line (the
** columns of CSV_HEADER); bench/run.sh runs the tests in the order below,
** alternating the two backends, in fresh processes.
**
** Schema. kvstore: CREATE VIRTUAL TABLE t USING kvstore(dir=..., sync=normal,
** memtable_size=4MiB, cache_size=8MiB). Ordinary: CREATE TABLE t(key TEXT
** PRIMARY KEY NOT NULL, value) WITHOUT ROWID, journal_mode=WAL,
** synchronous=NORMAL, cache_size=8 MiB. sync=normal is kvstore's
** counterpart of WAL+synchronous=NORMAL: a commit reaches the OS at once
** and is fsynced later (WAL rotation, flush; SQLite: checkpoint).
**
** Rows: key = 16-character decimal text ("%016d") of 0..N-1, inserted in a
** random order (a keyed permutation: random inserts are where a B-tree
** pays); value = a 100-byte blob, half compressible (as bench/kvbench.c).
**
** Tests (N = --rows):
**   insert_autocommit   INSERT, one statement per transaction, N/10 rows
**   insert_batch        INSERT, BEGIN..COMMIT every 1000 rows, N rows
**   replace_batch       INSERT OR REPLACE, batches of 1000, N rows; this
**                       table is kept for the read tests
**   insert_txn          INSERT, all N rows in one transaction
**   replace_txn         INSERT OR REPLACE, all N rows in one transaction
**   point_select        SELECT value FROM t WHERE key=?, random existing
**                       keys, --ops (default min(N, 200000))
**   range_scan          SELECT key,value FROM t WHERE key>=? ORDER BY key
**                       LIMIT 100, random start, all 100 rows stepped,
**                       --ops (default min(N/10, 20000))
** Fills other than replace_batch, and the reads, stop after --duration
** seconds (default 60) and report what they did. Every fill but
** replace_batch writes a scratch table that is dropped afterwards.
**
** CPU µs/op: user+sys time of the process (open and close included) over
** the ops done; other load on the machine disturbs it far less than ops/s.
**
** Latency: per statement (sqlite3_step to SQLITE_DONE/last row); in the
** batch tests the COMMIT is timed with the row that precedes it.
*/
#ifndef _GNU_SOURCE
# define _GNU_SOURCE
#endif
#define BENCH_NAME "sqlbench"
#include "benchutil.h"
#include "benchsql.h"

#define CSV_HEADER "backend,test,rows,ops,seconds,ops_per_sec,p50_us,p99_us," \
  "peak_rss_mb,disk_mb,cpu_us_per_op"
#define BATCH 1000
#define VAL_SIZE 100

/* Open DIR/<backend>-<name>.db and, when bCreate, create table t in it. */
static void openDb(const char *zDir, const char *zBackend, const char *zName,
                   const char *zExt, int bCreate, char *zPath, size_t nPath){
  char zKvDir[4200];
  snprintf(zPath, nPath, "%s/%s-%s.db", zDir, zBackend, zName);
  snprintf(zKvDir, sizeof(zKvDir), "%s/%s-%s.kv", zDir, zBackend, zName);
  if( bCreate ){
    removeDb(zPath);
    rmTree(zKvDir);
  }
  openSql(zPath, zBackend, zExt);
  if( bCreate ){
    snprintf(zKvDir, sizeof(zKvDir), "%s-%s.kv", zBackend, zName);
    createTable(zBackend, "t", zKvDir);
  }
}

int main(int argc, char **argv){
  const char *zBackend = 0, *zTest = 0, *zDir = 0, *zExt = "./kvstore", *v;
  uint64_t nRow = 1000000, nOps = 0, i, nDone = 0, t0, tStart;
  double duration = 60, secs;
  char zPath[4200], k[16];
  char *aVal = valBufNew(VAL_SIZE);
  Hist *h = calloc(1, sizeof(Hist));
  Rng r = {7};
  Perm perm;
  struct rusage ru;
  int bFill, bScratch, bReplace = 0, bTxn = 0, bAuto = 0;
  int ai;

  for(ai=1; ai<argc; ai++){
    const char *a = argv[ai];
    if( strncmp(a, "--", 2)==0 ) a += 2;
    if( strcmp(a, "header")==0 ){ printf("%s\n", CSV_HEADER); return 0; }
    else if( (v = argVal(a, "backend")) ) zBackend = v;
    else if( (v = argVal(a, "test")) ) zTest = v;
    else if( (v = argVal(a, "dir")) ) zDir = v;
    else if( (v = argVal(a, "rows")) ) nRow = strtoull(v, 0, 10);
    else if( (v = argVal(a, "ops")) ) nOps = strtoull(v, 0, 10);
    else if( (v = argVal(a, "ext")) ) zExt = v;
    else if( (v = argVal(a, "duration")) ) duration = atof(v);
    else die("unknown argument '%s'", argv[ai]);
  }
  if( !zBackend || !zTest || !zDir || nRow==0 ){
    die("usage: %s --backend=kvstore|table --test=NAME --dir=DIR [--rows=N]"
        " [--ops=N] [--ext=PATH] [--duration=S] | --header", argv[0]);
  }
  if( strcmp(zBackend, "kvstore")!=0 && strcmp(zBackend, "table")!=0 ){
    die("unknown backend '%s' (kvstore, table)", zBackend);
  }
  mkdir(zDir, 0755);
  bFill = strstr(zTest, "insert")!=0 || strstr(zTest, "replace")!=0;
  bScratch = bFill && strcmp(zTest, "replace_batch")!=0;
  permInit(&perm, nRow);

  if( strcmp(zTest, "insert_autocommit")==0 ){
    bAuto = 1; if( !nOps ) nOps = nRow/10 ? nRow/10 : 1;
  }else if( strcmp(zTest, "insert_batch")==0 ){
  }else if( strcmp(zTest, "replace_batch")==0 ){ bReplace = 1;
  }else if( strcmp(zTest, "insert_txn")==0 ){ bTxn = 1;
  }else if( strcmp(zTest, "replace_txn")==0 ){ bTxn = 1; bReplace = 1;
  }else if( strcmp(zTest, "point_select")==0 ){
    if( !nOps ) nOps = nRow<200000 ? nRow : 200000;
  }else if( strcmp(zTest, "range_scan")==0 ){
    if( !nOps ) nOps = nRow/10<20000 ? (nRow/10 ? nRow/10 : 1) : 20000;
  }else{
    die("unknown test '%s'", zTest);
  }
  if( bFill && !nOps ) nOps = nRow;

  openDb(zDir, zBackend, bFill ? (bScratch ? "scratch" : "base") : "base",
         zExt, bFill, zPath, sizeof(zPath));
  /* Statements are prepared before the clock starts: preparing the first
  ** statement on a kvstore table opens the engine (xConnect, WAL replay). */
  if( bFill ){
    sqlite3_stmt *pIns = prep(bReplace
        ? "INSERT OR REPLACE INTO t(key,value) VALUES(?1,?2)"
        : "INSERT INTO t(key,value) VALUES(?1,?2)");
    sqlite3_stmt *pBegin = prep("BEGIN"), *pCommit = prep("COMMIT");
    tStart = nowNs();
    uint64_t nBatch = bAuto ? 1 : bTxn ? nOps : BATCH;
    for(i=0; i<nOps; i++){
      int bFirst = !bAuto && i%nBatch==0;
      int bLast = !bAuto && (i%nBatch==nBatch-1 || i==nOps-1);
      if( bScratch && (i & 1023)==0 && i && nowNs()-tStart > duration*1e9 ){
        if( !bAuto ){ check(sqlite3_step(pCommit), "COMMIT");
                      sqlite3_reset(pCommit); }
        break;
      }
      keyFmt(k, permAt(&perm, i));
      t0 = nowNs();
      if( bFirst ){ check(sqlite3_step(pBegin), "BEGIN");
                    sqlite3_reset(pBegin); }
      sqlite3_bind_text(pIns, 1, k, 16, SQLITE_STATIC);
      sqlite3_bind_blob(pIns, 2, aVal + (i*VAL_SIZE) % VBUF_SIZE, VAL_SIZE,
                        SQLITE_STATIC);
      check(sqlite3_step(pIns), "INSERT");
      sqlite3_reset(pIns);
      if( bLast ){ check(sqlite3_step(pCommit), "COMMIT");
                   sqlite3_reset(pCommit); }
      histAdd(h, nowNs()-t0);
    }
    nDone = i;
    sqlite3_finalize(pIns); sqlite3_finalize(pBegin); sqlite3_finalize(pCommit);
  }else{
    int bScan = zTest[0]=='r';
    sqlite3_stmt *pSel = prep(bScan
        ? "SELECT key,value FROM t WHERE key>=?1 ORDER BY key LIMIT 100"
        : "SELECT value FROM t WHERE key=?1");
    uint64_t nRowSeen = 0;
    tStart = nowNs();
    for(i=0; i<nOps; i++){
      int rc;
      if( (i & 255)==0 && i && nowNs()-tStart > duration*1e9 ) break;
      keyFmt(k, rngUniform(&r, nRow));
      t0 = nowNs();
      sqlite3_bind_text(pSel, 1, k, 16, SQLITE_STATIC);
      while( (rc = sqlite3_step(pSel))==SQLITE_ROW ) nRowSeen++;
      check(rc, "SELECT");
      sqlite3_reset(pSel);
      histAdd(h, nowNs()-t0);
    }
    nDone = i;
    if( nRowSeen < (bScan ? nDone*50 : nDone) ){
      die("%s: only %" PRIu64 " rows for %" PRIu64 " queries: table not"
          " filled?", zTest, nRowSeen, nDone);
    }
    sqlite3_finalize(pSel);
  }
  secs = (double)(nowNs() - tStart)*1e-9;
  if( sqlite3_close(gDb)!=SQLITE_OK ) die("close: %s", sqlite3_errmsg(gDb));
  getrusage(RUSAGE_SELF, &ru);
  {
    char zKv[4300], zWal[4300];
    uint64_t nDisk;
    snprintf(zKv, sizeof(zKv), "%.*s.kv", (int)(strlen(zPath)-3), zPath);
    snprintf(zWal, sizeof(zWal), "%s-wal", zPath);
    nDisk = diskBytes(zPath) + diskBytes(zKv) + diskBytes(zWal);
    double cpu = cpuSecs(&ru);
    printf("%s,%s,%" PRIu64 ",%" PRIu64 ",%.3f,%.0f,%.2f,%.2f,%.1f,%.1f,"
           "%.2f\n",
           zBackend, zTest, nRow, nDone, secs, secs>0 ? nDone/secs : 0,
           histPct(h, 50)/1000.0, histPct(h, 99)/1000.0,
           ru.ru_maxrss/1024.0, nDisk/1048576.0,
           nDone ? cpu*1e6/(double)nDone : 0.0);
    if( bScratch ){
      char z[4300];
      rmTree(zPath); rmTree(zKv); rmTree(zWal);
      snprintf(z, sizeof(z), "%s-shm", zPath); rmTree(z);
    }
  }
  free(aVal); free(h);
  return 0;
}
