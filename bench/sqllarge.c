/*
** sqllarge.c - the write patterns an LSM table is chosen for, at ten
** million rows: a kvstore virtual table beside an ordinary WITHOUT ROWID
** table (issue #18; bench/large.sh runs it, `make bench-large`).
**
**   sqllarge --backend=kvstore|table --phase=NAME --dir=DIR [--rows=N]
**            [--ext=./kvstore] [--duration=S] [--scans=N] [--header]
**
** One process runs one phase on one backend's database (DIR/<backend>.db,
** kept between phases) and prints one CSV line per measurement (the
** columns of CSV_HEADER). Schemas, settings, keys and values are those of
** bench/sqlbench.c: key = "%016d" of 0..N-1, value = a 100-byte blob.
**
** Phases, in run order (K(x) is the key of row x):
**   fill         N rows in a random order (keyed permutation), INSERT OR
**                REPLACE (as sqlbench's replace_batch, "22x in batches" in
**                the issue), BEGIN..COMMIT every 1000 rows
**   point        SELECT value WHERE key=?, random existing keys,
**                min(N, 200000) (stops after --duration seconds)
**   scan         SELECT key,value WHERE key>=? ORDER BY key LIMIT 100,
**                random start, every row stepped, min(N/10, 20000)
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
**                M = min(N, 1000000): the rows come from a recursive CTE
**                in key order (a kvstore transaction still holds its
**                whole batch in memory, so M stays bounded)
**   ingest       (after bulkload) kvstore: kvstore_ingest of u's SSTables
**                into a new empty table v, one transaction
**                (`ingest_sstables`); ordinary table: INSERT INTO v
**                SELECT * FROM u, the way to copy a table's rows
*/
#ifndef _GNU_SOURCE
# define _GNU_SOURCE
#endif
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CSV_HEADER "backend,test,rows,ops,seconds,ops_per_sec,peak_rss_mb," \
  "disk_mb"
#define BATCH 1000
#define BULK_MAX 1000000

static void die(const char *zFmt, ...){
  va_list ap;
  va_start(ap, zFmt);
  fprintf(stderr, "sqllarge: ");
  vfprintf(stderr, zFmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

/* ------------------------------------------------- generators, measuring
** (as bench/sqlbench.c, kept here so each file stands alone) */
typedef struct Rng { uint64_t s; } Rng;
static uint64_t rngNext(Rng *r){
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static uint64_t rngUniform(Rng *r, uint64_t n){ return rngNext(r) % n; }

typedef struct Perm { uint64_t n, mask; int bits; } Perm;
static void permInit(Perm *p, uint64_t n){
  p->n = n; p->bits = 1;
  while( (1ull<<p->bits) < n ) p->bits++;
  p->mask = (1ull<<p->bits) - 1;
}
static uint64_t permAt(const Perm *p, uint64_t i){
  uint64_t x = i;
  do{
    int r;
    for(r=0; r<3; r++){
      x = (x * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull*(r+1)) & p->mask;
      x ^= x >> (p->bits/2 + 1);
    }
  }while( x>=p->n );
  return x;
}

#define VBUF_SIZE (1<<20)
#define VAL_SIZE 100
static char *valBuf(void){
  Rng r = {301};
  size_t i = 0;
  char *a = malloc(VBUF_SIZE + VAL_SIZE);
  while( i<VBUF_SIZE + VAL_SIZE ){
    char piece[100];
    size_t j;
    for(j=0; j<50; j++) piece[j] = (char)(' ' + rngUniform(&r, 95));
    memcpy(piece+50, piece, 50);
    for(j=0; j<100 && i<VBUF_SIZE + VAL_SIZE; j++) a[i++] = piece[j];
  }
  return a;
}

static uint64_t nowNs(void){
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec*1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t diskBytes(const char *zPath){
  struct stat st;
  uint64_t n = 0;
  DIR *d;
  struct dirent *e;
  if( lstat(zPath, &st)!=0 ) return 0;
  if( !S_ISDIR(st.st_mode) ) return (uint64_t)st.st_blocks*512;
  if( (d = opendir(zPath))==0 ) return 0;
  while( (e = readdir(d))!=0 ){
    char z[4096];
    if( strcmp(e->d_name, ".")==0 || strcmp(e->d_name, "..")==0 ) continue;
    snprintf(z, sizeof(z), "%s/%s", zPath, e->d_name);
    n += diskBytes(z);
  }
  closedir(d);
  return n;
}
static void rmTree(const char *zPath){
  struct stat st;
  DIR *d;
  struct dirent *e;
  if( lstat(zPath, &st)!=0 ) return;
  if( !S_ISDIR(st.st_mode) ){ unlink(zPath); return; }
  if( (d = opendir(zPath))!=0 ){
    while( (e = readdir(d))!=0 ){
      char z[4096];
      if( strcmp(e->d_name, ".")==0 || strcmp(e->d_name, "..")==0 ) continue;
      snprintf(z, sizeof(z), "%s/%s", zPath, e->d_name);
      rmTree(z);
    }
    closedir(d);
  }
  rmdir(zPath);
}

/* ------------------------------------------------------------ SQL plumbing */
static sqlite3 *gDb;
static void check(int rc, const char *zWhat){
  if( rc!=SQLITE_OK && rc!=SQLITE_DONE && rc!=SQLITE_ROW ){
    die("%s: %s", zWhat, sqlite3_errmsg(gDb));
  }
}
static void execSql(const char *zSql){
  char *zErr = 0;
  if( sqlite3_exec(gDb, zSql, 0, 0, &zErr)!=SQLITE_OK ){
    die("%s: %s", zSql, zErr ? zErr : "?");
  }
}
static sqlite3_stmt *prep(const char *zSql){
  sqlite3_stmt *s = 0;
  check(sqlite3_prepare_v2(gDb, zSql, -1, &s, 0), zSql);
  return s;
}

/* The kvstore table's CREATE arguments (as bench/sqlbench.c). */
static void createTable(const char *zBackend, const char *zName,
                        const char *zDbName){
  char zSql[5000];
  if( strcmp(zBackend, "kvstore")==0 ){
    /* kvstore resolves a relative dir against the database's folder */
    snprintf(zSql, sizeof(zSql),
      "CREATE VIRTUAL TABLE %s USING kvstore(dir='%s-%s.kv', sync=normal,"
      " memtable_size='4MiB', cache_size='8MiB')", zName, zDbName, zName);
  }else{
    snprintf(zSql, sizeof(zSql), "CREATE TABLE %s(key TEXT PRIMARY KEY NOT"
             " NULL, value) WITHOUT ROWID", zName);
  }
  execSql(zSql);
}

/* Open DIR/<backend>.db; when bCreate, afresh with table t. */
static void openDb(const char *zDir, const char *zBackend, const char *zExt,
                   int bCreate, char *zPath, size_t nPath){
  snprintf(zPath, nPath, "%s/%s.db", zDir, zBackend);
  if( bCreate ){
    char z[4300];
    rmTree(zPath);
    snprintf(z, sizeof(z), "%s-wal", zPath); rmTree(z);
    snprintf(z, sizeof(z), "%s-shm", zPath); rmTree(z);
    snprintf(z, sizeof(z), "%s/%s-t.kv", zDir, zBackend); rmTree(z);
    snprintf(z, sizeof(z), "%s/%s-u.kv", zDir, zBackend); rmTree(z);
    snprintf(z, sizeof(z), "%s/%s-v.kv", zDir, zBackend); rmTree(z);
  }
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
  if( bCreate ) createTable(zBackend, "t", zBackend);
}

static void keyFmt(char *z, uint64_t i){
  char t[32];
  snprintf(t, sizeof(t), "%016" PRIu64, i);
  memcpy(z, t, 16);
}

static const char *argVal(const char *zArg, const char *zName){
  size_t n = strlen(zName);
  if( strncmp(zArg, zName, n)==0 && zArg[n]=='=' ) return zArg + n + 1;
  return 0;
}

static const char *gBackend;
static uint64_t gScansAfter = 2000;   /* --scans */
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
    else if( (v = argVal(a, "scans")) ) gScansAfter = strtoull(v, 0, 10);
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
    char *aVal = valBuf();
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
    t0 = nowNs();
    /* Starts below N-100, so every scan has its 100 rows. */
    nSeen = scans("SELECT key,value FROM t WHERE key>=?1 ORDER BY key "
                  "LIMIT 100", n, 0, gRows-100, duration, &nDone);
    if( nSeen<nDone*100 ) die("scan: %" PRIu64 " rows for %" PRIu64
                              " scans", nSeen, nDone);
    report("range_scan", nDone, (double)(nowNs()-t0)*1e-9);
  }else if( strcmp(zPhase, "rangedel")==0 ){
    deleteRange("range_delete", gRows/10, gRows*4/10, 0, duration);
  }else if( strcmp(zPhase, "fndel")==0 ){
    deleteRange("delete_range_fn", gRows*55/100, gRows*85/100,
                strcmp(gBackend, "kvstore")==0, duration);
  }else if( strcmp(zPhase, "bulkload")==0 ){
    uint64_t m = gRows<BULK_MAX ? gRows : BULK_MAX;
    char zSql[600];
    createTable(gBackend, "u", gBackend);
    snprintf(zSql, sizeof(zSql),
      "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c"
      " WHERE i<%" PRIu64 ") INSERT INTO u(key,value)"
      " SELECT printf('%%016d', i), zeroblob(%d) FROM c", m-1, VAL_SIZE);
    t0 = nowNs();
    execSql(zSql);
    report("bulk_load_sorted", m, (double)(nowNs()-t0)*1e-9);
  }else if( strcmp(zPhase, "ingest")==0 ){
    uint64_t m = gRows<BULK_MAX ? gRows : BULK_MAX;
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
