/*
** sqllarge.c - the write patterns an LSM table is chosen for, at ten
** million rows: a kvstore virtual table beside an ordinary WITHOUT ROWID
** table (issue #18; bench/large.sh runs it, `make bench-large`).
**
**   sqllarge --backend=kvstore|table --phase=NAME --dir=DIR [--rows=N]
**            [--ext=./kvstore] [--duration=S] [--scans=N] [--limit=L]
**            [--header]
**
** One process runs one phase on one backend's database (DIR/<backend>.db,
** kept between phases) and prints one CSV line per measurement (the
** columns of CSV_HEADER). Schemas, settings, keys and values are those of
** bench/sqlbench.c: key = "%016d" of 0..N-1, value = a 100-byte blob.
**
** Phases, in run order (K(x) is the key of row x):
**   fill         N rows in a random order (keyed permutation), INSERT OR
**                REPLACE (as sqlbench's replace_batch, "22x in batches" in
**                the issue), BEGIN..COMMIT every 1000 rows; kvstore's
**                time includes kvstore_compact('t') at the end (the
**                compactions the fill made due), so later phases read a
**                settled store
**   point        SELECT value WHERE key=?, random existing keys,
**                min(N, 200000) (stops after --duration seconds)
**   scan         SELECT key,value WHERE key>=? ORDER BY key LIMIT 100,
**                random start, every row stepped, min(N/10, 20000)
**                (--limit and --scans set other figures: to measure
**                what one short scan costs, for example)
**   rangedel     DELETE FROM t WHERE key >= K(N/10) AND key < K(4N/10)
**                (30% of the rows, autocommit; `range_delete`), then 2,000
**                (--scans) scans WHERE key >= ? ORDER BY key LIMIT 10 at
**                random keys inside that range (`scan_after_range_delete`)
**   fndel        kvstore: SELECT kvstore_delete_range('t', K(55N/100),
**                K(85N/100)); ordinary table: DELETE of the same keys
**                (`delete_range_fn`), then 2,000 scans inside it
**                (`scan_after_delete_range_fn`)
**   bulkload     INSERT INTO u SELECT key, value FROM <M sorted rows> into
**                a new empty table u of the same backend, one statement,
**                M = N rows from a recursive CTE in key order (kvstore
**                writes them straight to an SSTable: doc/ingest.md)
**   ingest       (after bulkload) kvstore: kvstore_ingest of u's SSTables
**                into a new empty table v, one transaction
**                (`ingest_sstables`); ordinary table: INSERT INTO v
**                SELECT * FROM u, the way to copy a table's rows
*/
#ifndef _GNU_SOURCE
# define _GNU_SOURCE
#endif
#define BENCH_NAME "sqllarge"
#include "benchutil.h"
#include "benchsql.h"

#define CSV_HEADER "backend,test,rows,ops,seconds,ops_per_sec,peak_rss_mb," \
  "disk_mb"
#define BATCH 1000
#define VAL_SIZE 100

/* Create table zName of the backend in database zDbName (a kvstore
** table's store: <zDbName>-<zName>.kv beside the database). */
static void createTableOf(const char *zBackend, const char *zName,
                          const char *zDbName){
  char zKvDir[4200];
  snprintf(zKvDir, sizeof(zKvDir), "%s-%s.kv", zDbName, zName);
  createTable(zBackend, zName, zKvDir);
}

/* Open DIR/<backend>.db; when bCreate, afresh with table t. */
static void openDb(const char *zDir, const char *zBackend, const char *zExt,
                   int bCreate, char *zPath, size_t nPath){
  snprintf(zPath, nPath, "%s/%s.db", zDir, zBackend);
  if( bCreate ){
    char z[4300];
    removeDb(zPath);
    snprintf(z, sizeof(z), "%s/%s-t.kv", zDir, zBackend); rmTree(z);
    snprintf(z, sizeof(z), "%s/%s-u.kv", zDir, zBackend); rmTree(z);
    snprintf(z, sizeof(z), "%s/%s-v.kv", zDir, zBackend); rmTree(z);
  }
  openSql(zPath, zBackend, zExt);
  if( bCreate ) createTableOf(zBackend, "t", zBackend);
}

static const char *gBackend;
static uint64_t gScansAfter = 2000;   /* --scans: scans after a delete */
static int gScansSet = 0;             /* --scans given: the scan phase's */
static uint64_t gLimit = 100;         /* --limit: the scan phase's LIMIT */
static uint64_t gRows;
static char gPath[4200];

/* One CSV line: peak RSS so far, the database and its stores on disk. */
static void report(const char *zTest, uint64_t nOps, double secs){
  struct rusage ru;
  char zWal[4300], zT[4300], zU[4300], zDir[4200];
  uint64_t nDisk;
  char *zSlash;
  getrusage(RUSAGE_SELF, &ru);
  snprintf(zDir, sizeof(zDir), "%s", gPath);
  zSlash = strrchr(zDir, '/');
  if( zSlash ) *zSlash = 0;
  snprintf(zWal, sizeof(zWal), "%s-wal", gPath);
  snprintf(zT, sizeof(zT), "%s/%s-t.kv", zDir, gBackend);
  snprintf(zU, sizeof(zU), "%s/%s-u.kv", zDir, gBackend);
  nDisk = diskBytes(gPath) + diskBytes(zWal) + diskBytes(zT) + diskBytes(zU);
  printf("%s,%s,%" PRIu64 ",%" PRIu64 ",%.3f,%.0f,%.1f,%.1f\n", gBackend,
         zTest, gRows, nOps, secs, secs>0 ? nOps/secs : 0,
         ru.ru_maxrss/1024.0, nDisk/1048576.0);
  fflush(stdout);
}

/* nOps SELECTs of up to nLimit rows from random keys in [lo, hi): every
** row stepped. Returns the rows seen. */
static uint64_t scans(const char *zSql, uint64_t nOps, uint64_t lo,
                      uint64_t hi, double duration, uint64_t *pnDone){
  sqlite3_stmt *p = prep(zSql);
  Rng r = {11};
  uint64_t i, nSeen = 0, tStart = nowNs();
  char k[16];
  for(i=0; i<nOps; i++){
    int rc;
    if( (i & 255)==0 && i && nowNs()-tStart > duration*1e9 ) break;
    keyFmt(k, lo + rngUniform(&r, hi-lo));
    sqlite3_bind_text(p, 1, k, 16, SQLITE_STATIC);
    while( (rc = sqlite3_step(p))==SQLITE_ROW ) nSeen++;
    check(rc, zSql);
    sqlite3_reset(p);
  }
  sqlite3_finalize(p);
  *pnDone = i;
  return nSeen;
}

/* Delete keys [lo, hi) of t: by a DELETE, or by kvstore_delete_range. */
static void deleteRange(const char *zTest, uint64_t lo, uint64_t hi,
                        int bFunction, double duration){
  char a[17], b[17];
  const char *zSql = bFunction
      ? "SELECT kvstore_delete_range('t', ?1, ?2)"
      : "DELETE FROM t WHERE key >= ?1 AND key < ?2";
  sqlite3_stmt *p;
  uint64_t t0, nDone, nSeen;
  char zScan[64];
  /* Open the table's store before the clock starts, for both backends
  ** alike (a statement naming t does; the function's does not). */
  execSql("SELECT count(*) FROM (SELECT 1 FROM t LIMIT 1)");
  p = prep(zSql);
  keyFmt(a, lo); a[16] = 0;
  keyFmt(b, hi); b[16] = 0;
  sqlite3_bind_text(p, 1, a, 16, SQLITE_STATIC);
  sqlite3_bind_text(p, 2, b, 16, SQLITE_STATIC);
  t0 = nowNs();
  while( sqlite3_step(p)==SQLITE_ROW ){}
  check(sqlite3_reset(p), zSql);
  report(zTest, hi-lo, (double)(nowNs()-t0)*1e-9);
  sqlite3_finalize(p);
  t0 = nowNs();
  nSeen = scans("SELECT key,value FROM t WHERE key>=?1 ORDER BY key LIMIT 10",
                gScansAfter, lo, hi, duration, &nDone);
  snprintf(zScan, sizeof(zScan), "scan_after_%s", zTest);
  if( nSeen < nDone*10 ) die("%s: %" PRIu64 " rows for %" PRIu64 " scans",
                             zScan, nSeen, nDone);
  report(zScan, nDone, (double)(nowNs()-t0)*1e-9);
}

int main(int argc, char **argv){
  const char *zPhase = 0, *zDir = 0, *zExt = "./kvstore", *v;
  uint64_t i, t0, nDone = 0;
  double duration = 300;
  char k[16];
  int ai;

  for(ai=1; ai<argc; ai++){
    const char *a = argv[ai];
    if( strncmp(a, "--", 2)==0 ) a += 2;
    if( strcmp(a, "header")==0 ){ printf("%s\n", CSV_HEADER); return 0; }
    else if( (v = argVal(a, "backend")) ) gBackend = v;
    else if( (v = argVal(a, "phase")) ) zPhase = v;
    else if( (v = argVal(a, "dir")) ) zDir = v;
    else if( (v = argVal(a, "rows")) ) gRows = strtoull(v, 0, 10);
    else if( (v = argVal(a, "ext")) ) zExt = v;
    else if( (v = argVal(a, "duration")) ) duration = atof(v);
    else if( (v = argVal(a, "scans")) ){
      gScansAfter = strtoull(v, 0, 10);
      gScansSet = 1;
    }
    else if( (v = argVal(a, "limit")) ) gLimit = strtoull(v, 0, 10);
    else die("unknown argument '%s'", argv[ai]);
  }
  if( !gBackend || !zPhase || !zDir || gRows<100 ){
    die("usage: %s --backend=kvstore|table --phase=NAME --dir=DIR"
        " --rows=N (N >= 100) [--ext=PATH] [--duration=S] | --header",
        argv[0]);
  }
  if( strcmp(gBackend, "kvstore")!=0 && strcmp(gBackend, "table")!=0 ){
    die("unknown backend '%s' (kvstore, table)", gBackend);
  }
  mkdir(zDir, 0755);
  openDb(zDir, gBackend, zExt, strcmp(zPhase, "fill")==0, gPath,
         sizeof(gPath));

  if( strcmp(zPhase, "fill")==0 ){
    char *aVal = valBufNew(VAL_SIZE);
    Perm perm;
    sqlite3_stmt *pIns = prep("INSERT OR REPLACE INTO t(key,value) "
                              "VALUES(?1,?2)");
    permInit(&perm, gRows);
    t0 = nowNs();
    for(i=0; i<gRows; i++){
      if( i%BATCH==0 ) execSql("BEGIN");
      keyFmt(k, permAt(&perm, i));
      sqlite3_bind_text(pIns, 1, k, 16, SQLITE_STATIC);
      sqlite3_bind_blob(pIns, 2, aVal + (i*VAL_SIZE) % VBUF_SIZE, VAL_SIZE,
                        SQLITE_STATIC);
      check(sqlite3_step(pIns), "INSERT");
      sqlite3_reset(pIns);
      if( i%BATCH==BATCH-1 || i==gRows-1 ) execSql("COMMIT");
    }
    /* The fill is done when the compactions it made due are: counted in
    ** its time, and the read phases measure a settled store, not one
    ** whose background thread is still catching up. */
    if( strcmp(gBackend, "kvstore")==0 ) execSql("SELECT kvstore_compact('t')");
    report("fill_batch", gRows, (double)(nowNs()-t0)*1e-9);
    sqlite3_finalize(pIns);
    free(aVal);
  }else if( strcmp(zPhase, "point")==0 ){
    uint64_t n = gRows<200000 ? gRows : 200000, nSeen;
    t0 = nowNs();
    nSeen = scans("SELECT value FROM t WHERE key=?1", n, 0, gRows, duration,
                  &nDone);
    if( nSeen<nDone ) die("point: %" PRIu64 " of %" PRIu64 " keys found",
                          nSeen, nDone);
    report("point_select", nDone, (double)(nowNs()-t0)*1e-9);
  }else if( strcmp(zPhase, "scan")==0 ){
    uint64_t n = gRows/10<20000 ? gRows/10 : 20000, nSeen;
    char zSql[96];
    if( gScansSet ) n = gScansAfter;
    if( gLimit<1 || gLimit>gRows ) die("--limit must be in 1..rows");
    snprintf(zSql, sizeof(zSql), "SELECT key,value FROM t WHERE key>=?1 "
             "ORDER BY key LIMIT %" PRIu64, gLimit);
    t0 = nowNs();
    /* Starts below N-limit, so every scan has its rows. */
    nSeen = scans(zSql, n, 0, gRows-gLimit, duration, &nDone);
    if( nSeen<nDone*gLimit ) die("scan: %" PRIu64 " rows for %" PRIu64
                                 " scans", nSeen, nDone);
    report("range_scan", nDone, (double)(nowNs()-t0)*1e-9);
  }else if( strcmp(zPhase, "rangedel")==0 ){
    deleteRange("range_delete", gRows/10, gRows*4/10, 0, duration);
  }else if( strcmp(zPhase, "fndel")==0 ){
    deleteRange("delete_range_fn", gRows*55/100, gRows*85/100,
                strcmp(gBackend, "kvstore")==0, duration);
  }else if( strcmp(zPhase, "bulkload")==0 ){
    uint64_t m = gRows;
    char zSql[600];
    createTableOf(gBackend, "u", gBackend);
    snprintf(zSql, sizeof(zSql),
      "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c"
      " WHERE i<%" PRIu64 ") INSERT INTO u(key,value)"
      " SELECT printf('%%016d', i), zeroblob(%d) FROM c", m-1, VAL_SIZE);
    t0 = nowNs();
    execSql(zSql);
    report("bulk_load_sorted", m, (double)(nowNs()-t0)*1e-9);
  }else if( strcmp(zPhase, "ingest")==0 ){
    uint64_t m = gRows;
    createTable(gBackend, "v", gBackend);
    t0 = nowNs();
    if( strcmp(gBackend, "kvstore")==0 ){
      char zSql[5000];
      snprintf(zSql, sizeof(zSql),
        "SELECT kvstore_ingest('v', '%s/kvstore-u.kv/' || file)"
        " FROM kvstore_sstables('u')", zDir);
      execSql("BEGIN");
      execSql(zSql);
      execSql("COMMIT");
    }else{
      execSql("INSERT INTO v SELECT key, value FROM u");
    }
    report("ingest_sstables", m, (double)(nowNs()-t0)*1e-9);
  }else{
    die("unknown phase '%s' (fill, point, scan, rangedel, fndel, bulkload, "
        "ingest)", zPhase);
  }
  if( sqlite3_close(gDb)!=SQLITE_OK ) die("close: %s", sqlite3_errmsg(gDb));
  return 0;
}
