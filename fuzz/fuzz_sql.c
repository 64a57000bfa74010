/*
** fuzz_sql.c - libFuzzer target: SQL statements against kvstore tables.
**
** The input is read as a byte stream that picks statements from a grammar
** and fills in their parts: CREATE VIRTUAL TABLE with options (sizes at
** their smallest, so that flushes, WAL rotation and compaction happen on a
** few kilobytes; background on or off; now and then an option value or a
** JSON config file taken from the input), INSERT in every conflict mode
** (multi-row too), REPLACE, UPDATE of values and keys, DELETE, SELECT with
** =, IN, ranges, BETWEEN, GLOB, LIKE, ORDER BY [DESC], LIMIT/OFFSET, joins
** with an ordinary table, INSERT ... SELECT between tables, ALTER TABLE
** RENAME, DROP, BEGIN/SAVEPOINT/RELEASE/ROLLBACK TO/COMMIT/ROLLBACK and the
** kvstore_* functions. Literals come from the input: integers (extremes
** included), reals (-0.0, infinities), text (invalid UTF-8 too), blobs,
** NULL, large zeroblobs.
**
** The statements run on an in-memory SQLite connection with kvstore linked
** in (compiled with SQLITE_CORE, registered by sqlite3_auto_extension);
** the stores live in a fresh directory per run, on tmpfs when there is
** one, removed afterwards. Any result code is fine. Checked at the end of
** each run: kvstore_verify says 'ok' for every table (nothing here damages
** files), and every table, reopened on a new connection, holds what it
** held before the close. Crashes, sanitizer reports, leaks and hangs fail.
*/
#include <ftw.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"

int sqlite3_kvstore_init(sqlite3*, char**, const sqlite3_api_routines*);

#define NTABLE     3          /* t0, t1, t2 */
#define NSTMT_MAX  80         /* statements per input */
#define NBYTE_MAX  (3<<20)    /* bytes of values per input, roughly */

/* The input, consumed front to back; zeros once it is exhausted. */
typedef struct Src Src;
struct Src {
  const uint8_t *a;
  size_t n, i;
  size_t nBig;                /* bytes of large values generated so far */
};
static unsigned srcByte(Src *p){ return p->i<p->n ? p->a[p->i++] : 0; }
static int srcDone(const Src *p){ return p->i>=p->n; }
static unsigned srcPick(Src *p, unsigned n){ return srcByte(p) % n; }
static uint64_t srcU64(Src *p, int nByte){
  uint64_t x = 0;
  while( nByte-- ) x = (x<<8) | srcByte(p);
  return x;
}

/* Per run: the directory of the stores. */
typedef struct Run Run;
struct Run {
  char zDir[600];
};

/* Append a hex blob literal of n input bytes. */
static void addHex(sqlite3_str *s, Src *p, unsigned n){
  unsigned i;
  sqlite3_str_appendall(s, "X'");
  for(i=0; i<n; i++) sqlite3_str_appendf(s, "%02x", srcByte(p));
  sqlite3_str_appendall(s, "'");
}

/* A key literal: mostly from a small domain, so that keys collide. */
static void addKey(sqlite3_str *s, Src *p){
  unsigned c = srcByte(p);
  switch( c % 10 ){
    case 0: case 1: case 2:
      sqlite3_str_appendf(s, "'%c'", 'a' + (int)(srcByte(p)%16));
      break;
    case 3: case 4:
      sqlite3_str_appendf(s, "%d", (int)(srcByte(p)%32) - 8);
      break;
    case 5: {
      static const char *az[] = {
        "-9223372036854775808", "9223372036854775807", "0", "-1",
        "2.5", "-0.0", "5.0", "'5'", "'042'", "''", "X''", "NULL",
        "'a*'", "'a\xc3\xa9'", "9.2233720368547758e18", "1e300",
      };
      sqlite3_str_appendall(s, az[srcByte(p)%16]);
      break;
    }
    case 6:
      sqlite3_str_appendf(s, "'%c%c'", 'a' + (int)(srcByte(p)%4),
                          'a' + (int)(srcByte(p)%4));
      break;
    case 7:
      addHex(s, p, srcByte(p)%5);
      break;
    case 8:
      sqlite3_str_appendall(s, "CAST(");
      addHex(s, p, srcByte(p)%6);
      sqlite3_str_appendall(s, " AS TEXT)");
      break;
    default:
      sqlite3_str_appendf(s, "%lld", (long long)srcU64(p, 8));
      break;
  }
}

/* A value literal: any type, sometimes large. */
static void addValue(sqlite3_str *s, Src *p){
  unsigned c = srcByte(p);
  switch( c % 12 ){
    case 0: sqlite3_str_appendall(s, "NULL"); break;
    case 1: case 2:
      sqlite3_str_appendf(s, "%lld", (long long)srcU64(p, 1+srcByte(p)%8));
      break;
    case 3: {
      static const char *az[] = {
        "-0.0", "0.0", "1e308*10", "-1e308*10", "0.1", "-2.5e-310",
        "9223372036854775807", "-9223372036854775808",
      };
      sqlite3_str_appendall(s, az[srcByte(p)%8]);
      break;
    }
    case 4: case 5:
      addHex(s, p, srcByte(p)%24);
      break;
    case 6:
      sqlite3_str_appendall(s, "CAST(");
      addHex(s, p, srcByte(p)%24);
      sqlite3_str_appendall(s, " AS TEXT)");
      break;
    case 7: case 8: {
      /* Large enough to fill the smallest memtable in a few rows. */
      unsigned n = (unsigned)srcU64(p, 2)*2;
      if( p->nBig + n > NBYTE_MAX ) n = 100;
      p->nBig += n;
      if( c & 16 ){
        sqlite3_str_appendf(s, "zeroblob(%u)", n);
      }else{
        /* Not all alike, so zlib does not shrink it to nothing. */
        sqlite3_str_appendf(s, "(SELECT group_concat(hex(%u*value*value%%"
            "65521),'') FROM generate_series(1,%u))", c, n/8+1);
      }
      break;
    }
    case 9:
      sqlite3_str_appendall(s, "value");    /* only valid in UPDATE */
      break;
    default:
      sqlite3_str_appendf(s, "'v%u'", srcByte(p));
      break;
  }
}

/* A WHERE clause over the key (and sometimes the value). */
static void addWhere(sqlite3_str *s, Src *p){
  static const char *azOp[] = { "=", ">", ">=", "<", "<=", "!=", "IS", "==" };
  unsigned nTerm = 1 + srcPick(p, 3);
  unsigned i;
  sqlite3_str_appendall(s, " WHERE ");
  for(i=0; i<nTerm; i++){
    unsigned c = srcByte(p);
    if( i ) sqlite3_str_appendall(s, (c & 128) ? " OR " : " AND ");
    switch( c % 8 ){
      case 0: case 1: case 2:
        sqlite3_str_appendf(s, "key %s ", azOp[srcPick(p, 8)]);
        addKey(s, p);
        break;
      case 3: {
        unsigned j, n = srcPick(p, 5);
        sqlite3_str_appendall(s, (c & 64) ? "key NOT IN (" : "key IN (");
        for(j=0; j<n; j++){
          if( j ) sqlite3_str_appendall(s, ",");
          addKey(s, p);
        }
        sqlite3_str_appendall(s, ")");
        break;
      }
      case 4:
        sqlite3_str_appendall(s, "key BETWEEN ");
        addKey(s, p);
        sqlite3_str_appendall(s, " AND ");
        addKey(s, p);
        break;
      case 5:
        sqlite3_str_appendf(s, "key %s ", (c & 64) ? "LIKE" : "GLOB");
        addKey(s, p);
        break;
      case 6:
        sqlite3_str_appendf(s, "value %s ", azOp[srcPick(p, 8)]);
        addValue(s, p);
        break;
      default:
        sqlite3_str_appendf(s, "key %s ", azOp[1+srcPick(p, 4)]);
        addKey(s, p);
        sqlite3_str_appendf(s, " COLLATE %s", (c & 64) ? "NOCASE":"BINARY");
        break;
    }
  }
}

static void addTail(sqlite3_str *s, Src *p){
  unsigned c = srcByte(p);
  static const char *azOrder[] = {
    "", " ORDER BY key", " ORDER BY key DESC", " ORDER BY value",
    " ORDER BY key ASC, value", " ORDER BY key COLLATE NOCASE",
  };
  sqlite3_str_appendall(s, azOrder[c % 6]);
  if( c & 8 ){
    sqlite3_str_appendf(s, " LIMIT %d", (int)srcPick(p, 8) - 1);
    if( c & 16 ) sqlite3_str_appendf(s, " OFFSET %d", (int)srcPick(p, 6));
  }
}

static const char *conflict(Src *p){
  static const char *az[] = { "", " OR REPLACE", " OR IGNORE", " OR ABORT",
                              " OR FAIL", " OR ROLLBACK" };
  return az[srcPick(p, 6)];
}

/* Options a fuzzed value may be given to (not dir, config or the waits). */
static const char *azFreeOpt[] = {
  "key_type", "sync", "memtable_size", "wal_segment_size",
  "wal_segment_records", "block_size", "compression", "compression_level",
  "bloom_bits_per_key", "summary_interval", "cache_size", "compaction",
  "levels", "level0_trigger", "level_size_multiplier", "target_file_size",
  "background", "rate_limit", "rate_burst", "max_key_size",
  "max_value_size", "bogus",
};

/* A JSON config file from the input. Members that would move the store
** out of the scratch directory are refused (names are case-insensitive
** and JSON escapes could spell them). Returns 1 if written. */
static int writeConfig(Run *pRun, Src *p, char *zPath, size_t nPath){
  unsigned n = srcByte(p), i;
  char z[256], zName[64];
  for(i=0; i<n; i++){
    z[i] = (char)srcByte(p);
    if( z[i]=='\\' || z[i]==0 ) z[i] = ' ';
  }
  z[n] = 0;
  if( strcasestr(z, "dir") || strcasestr(z, "config")
   || strcasestr(z, "rate_wait") ) return 0;
  /* fuzzWrite() names files relative to the scratch directory. */
  snprintf(zName, sizeof(zName), "%s/c%u.json",
           pRun->zDir + strlen(fuzzDir()) + 1, n);
  fuzzWrite(zName, (const uint8_t*)z, n);
  snprintf(zPath, nPath, "%s/%s", fuzzDir(), zName);
  return 1;
}

static void addCreate(Run *pRun, sqlite3_str *s, Src *p, int iTab){
  unsigned c = srcByte(p);
  static const char *azSync[] = { "normal", "off", "full", "normal" };
  unsigned nOpt = srcPick(p, 6), i;
  unsigned mSeen = 0;
  char zConfig[700];
  /* Two tables may name one store directory: the second CREATE is refused
  ** (a store belongs to one table), and a table reopened on a new
  ** connection adopts the store of the closed in-memory database. */
  sqlite3_str_appendf(s, "CREATE VIRTUAL TABLE %st%d USING kvstore("
      "dir='%q/s%d'", (c & 128) ? "IF NOT EXISTS " : "", iTab,
      pRun->zDir, (c & 64) ? 0 : iTab);
  if( (c & 3)==0 ) sqlite3_str_appendall(s, ",key_type=integer");
  if( (c & 3)==1 ) sqlite3_str_appendall(s, ",key_type=blob");
  sqlite3_str_appendf(s, ",memtable_size='64KB',wal_segment_size='4KB',"
      "target_file_size='4KB',block_size=%d,background=%s,sync=%s",
      (c & 4) ? 256 : 4096, (c & 8) ? "on" : "off",
      azSync[(c>>4)&3]);
  for(i=0; i<nOpt; i++){
    unsigned o = srcByte(p) % 16;
    /* Each option once (a duplicate is refused), a value from the input
    ** one time in 32. */
    if( mSeen & (1u<<o) ) continue;
    mSeen |= 1u<<o;
    if( o>=14 && (srcByte(p)&7)!=0 ) continue;
    switch( o ){
      case 0: sqlite3_str_appendall(s, ",compaction=tiered"); break;
      case 1: sqlite3_str_appendf(s, ",level0_trigger=%u", 1+srcPick(p, 4));
              break;
      case 2: sqlite3_str_appendf(s, ",levels=%u", 1+srcPick(p, 4)); break;
      case 3: sqlite3_str_appendall(s, ",compression=none"); break;
      case 4: sqlite3_str_appendf(s, ",bloom_bits_per_key=%u",
                                  srcPick(p, 3)*10); break;
      case 5: sqlite3_str_appendall(s, ",summary_interval=1"); break;
      case 6: sqlite3_str_appendf(s, ",cache_size=%u", srcPick(p, 3)*4096);
              break;
      case 7: sqlite3_str_appendf(s, ",wal_segment_records=%u",
                                  srcPick(p, 4)); break;
      case 8: sqlite3_str_appendf(s, ",max_key_size=%u", 1+srcPick(p, 16));
              break;
      case 9: sqlite3_str_appendf(s, ",max_value_size=%u",
                                  srcPick(p, 4)*64); break;
      case 10: sqlite3_str_appendf(s, ",rate_limit=%u,rate_burst=%u,"
                   "rate_wait_ms=%u", 1+srcByte(p), srcPick(p, 8),
                   srcPick(p, 3)); break;
      case 11: sqlite3_str_appendf(s, ",compression_level=%u",
                                   srcPick(p, 10)); break;
      case 12: sqlite3_str_appendf(s, ",level_size_multiplier=%u",
                                   2+srcPick(p, 3)); break;
      case 13:
        if( writeConfig(pRun, p, zConfig, sizeof(zConfig)) ){
          sqlite3_str_appendf(s, ",config='%q'", zConfig);
        }
        break;
      default: {
        /* Any option with a value from the input. */
        unsigned n = srcPick(p, 12), j;
        char z[16];
        for(j=0; j<n; j++) z[j] = (char)(srcByte(p) | 1);
        z[n] = 0;
        sqlite3_str_appendf(s, ",%s=%Q",
            azFreeOpt[srcPick(p, sizeof(azFreeOpt)/sizeof(azFreeOpt[0]))],
            z);
        break;
      }
    }
  }
  sqlite3_str_appendall(s, ")");
}

/* The next statement, or 0 when the input is exhausted. */
static char *nextStatement(Run *pRun, Src *p, int bCreate){
  sqlite3_str *s = sqlite3_str_new(0);
  unsigned op = bCreate ? 0 : srcByte(p);
  int iTab = (int)srcPick(p, NTABLE);
  int jTab = (int)srcPick(p, NTABLE);
  unsigned i, n;
  switch( op % 24 ){
    case 0: case 1:
      addCreate(pRun, s, p, iTab);
      break;
    case 2: case 3: case 4:
      n = 1 + srcPick(p, 4);
      sqlite3_str_appendf(s, "INSERT%s INTO t%d VALUES ", conflict(p), iTab);
      for(i=0; i<n; i++){
        sqlite3_str_appendall(s, i ? ",(" : "(");
        addKey(s, p);
        sqlite3_str_appendall(s, ",");
        addValue(s, p);
        sqlite3_str_appendall(s, ")");
      }
      break;
    case 5:
      sqlite3_str_appendf(s, "REPLACE INTO t%d(value,key) VALUES(", iTab);
      addValue(s, p);
      sqlite3_str_appendall(s, ",");
      addKey(s, p);
      sqlite3_str_appendall(s, ")");
      break;
    case 6: case 7:
      sqlite3_str_appendf(s, "UPDATE%s t%d SET value = ", conflict(p), iTab);
      addValue(s, p);
      addWhere(s, p);
      break;
    case 8:
      sqlite3_str_appendf(s, "UPDATE%s t%d SET key = ", conflict(p), iTab);
      if( op & 32 ){
        sqlite3_str_appendall(s, "key || 'x'");
      }else{
        addKey(s, p);
      }
      addWhere(s, p);
      break;
    case 9: case 10:
      sqlite3_str_appendf(s, "DELETE FROM t%d", iTab);
      if( op & 32 ) addWhere(s, p);
      break;
    case 11: case 12: case 13:
      sqlite3_str_appendf(s, "SELECT key, value FROM t%d", iTab);
      if( op & 32 ) addWhere(s, p);
      addTail(s, p);
      break;
    case 14:
      sqlite3_str_appendf(s, "SELECT count(*), sum(length(value)), "
          "min(key), max(key) FROM t%d", iTab);
      if( op & 32 ) addWhere(s, p);
      break;
    case 15: {
      static const char *az[] = {
        "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT s1", "SAVEPOINT s2",
        "RELEASE s1", "ROLLBACK TO s1", "ROLLBACK TO s2", "END",
        "BEGIN IMMEDIATE",
      };
      sqlite3_str_appendall(s, az[srcPick(p, 10)]);
      break;
    }
    case 16: case 17: {
      static const char *az[] = {
        "kvstore_flush('t%d')", "kvstore_compact('t%d')",
        "kvstore_compact('t%d','full')", "kvstore_verify('t%d')",
        "kvstore_stats('t%d')", "kvstore_merkle('t%d')",
        "kvstore_compact('t%d','bogus')", "kvstore_version(%d)",
        "count(*) FROM kvstore_sstables('t%d')",
        "sum(entries), max(largest_key) FROM kvstore_sstables('t%d')",
        "kvstore_stats('main.t%d')", "kvstore_flush('m%d')",
      };
      sqlite3_str_appendall(s, "SELECT ");
      sqlite3_str_appendf(s, az[srcPick(p, 12)], iTab);
      break;
    }
    case 18:
      sqlite3_str_appendf(s, "INSERT%s INTO t%d SELECT key, value FROM t%d",
                          conflict(p), iTab, jTab);
      if( op & 32 ) addWhere(s, p);
      addTail(s, p);
      break;
    case 19:
      sqlite3_str_appendf(s, "SELECT m.x, t%d.value FROM m JOIN t%d ON "
          "t%d.key = m.x", iTab, iTab, iTab);
      if( op & 32 ) sqlite3_str_appendf(s, " ORDER BY t%d.key DESC", iTab);
      break;
    case 20:
      sqlite3_str_appendf(s, "ALTER TABLE t%d RENAME TO t%d", iTab, jTab);
      break;
    case 21:
      sqlite3_str_appendf(s, "DROP TABLE t%d", iTab);
      break;
    case 22:
      sqlite3_str_appendf(s, "SELECT a.key, b.key FROM t%d a, t%d b WHERE "
          "b.key > a.key ORDER BY a.key LIMIT 20", iTab, jTab);
      break;
    default:
      sqlite3_str_appendf(s, "INSERT INTO m VALUES(");
      addKey(s, p);
      sqlite3_str_appendall(s, ")");
      break;
  }
  return sqlite3_str_finish(s);
}

/* Step a statement to the end; every value read is touched. */
static int runSql(sqlite3 *db, const char *zSql){
  sqlite3_stmt *pStmt = 0;
  int rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
  int nRow = 0;
  while( rc==SQLITE_OK && (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    int i;
    for(i=0; i<sqlite3_column_count(pStmt); i++){
      const unsigned char *z = sqlite3_column_blob(pStmt, i);
      int n = sqlite3_column_bytes(pStmt, i);
      if( z && n ) (void)*(volatile const unsigned char*)&z[n-1];
    }
    /* A runaway self-join or INSERT ... SELECT stops here. */
    if( ++nRow>10000 ){ rc = SQLITE_DONE; break; }
    rc = SQLITE_OK;
  }
  sqlite3_finalize(pStmt);
  return rc==SQLITE_DONE ? SQLITE_OK : rc;
}

/* A digest of table zTab's rows (types included, REALs by their bits, as
** quote() drops the sign of -0.0), or 0 if it cannot be read. */
static char *tableDigest(sqlite3 *db, const char *zTab){
  sqlite3_stmt *pStmt = 0;
  sqlite3_str *s = sqlite3_str_new(0);
  char *zQ = sqlite3_mprintf("SELECT quote(key), quote(value) FROM \"%w\" "
                             "ORDER BY key", zTab);
  int rc = sqlite3_prepare_v2(db, zQ, -1, &pStmt, 0);
  sqlite3_free(zQ);
  while( rc==SQLITE_OK && (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    sqlite3_str_appendf(s, "%s|%s", (const char*)sqlite3_column_text(pStmt,0),
                        (const char*)sqlite3_column_text(pStmt, 1));
    if( sqlite3_column_type(pStmt, 1)==SQLITE_FLOAT ){
      double r = sqlite3_column_double(pStmt, 1);
      uint64_t u;
      memcpy(&u, &r, 8);
      sqlite3_str_appendf(s, "|%llx", (unsigned long long)u);
    }
    sqlite3_str_appendall(s, "\n");
    rc = SQLITE_OK;
  }
  sqlite3_finalize(pStmt);
  if( rc!=SQLITE_DONE ){
    sqlite3_free(sqlite3_str_finish(s));
    return 0;
  }
  return sqlite3_str_finish(s);
}

static int removeEntry(const char *zPath, const struct stat *pSt, int eType,
                       struct FTW *pFtw){
  (void)pSt; (void)eType; (void)pFtw;
  remove(zPath);
  return 0;
}

static sqlite3 *openDb(void){
  sqlite3 *db = 0;
  if( sqlite3_open(":memory:", &db)!=SQLITE_OK ){
    fprintf(stderr, "fuzz_sql: cannot open: %s\n", sqlite3_errmsg(db));
    abort();
  }
  sqlite3_exec(db, "CREATE TABLE m(x)", 0, 0, 0);
  return db;
}

int LLVMFuzzerTestOneInput(const uint8_t *a, size_t n){
  static int bInit = 0;
  static int bTrace = 0;         /* FUZZ_SQL_TRACE: print each statement */
  Run run;
  Src src;
  sqlite3 *db;
  sqlite3_stmt *pSchema = 0;
  char *azName[NTABLE], *azCreate[NTABLE], *azDigest[NTABLE];
  int nStmt = 0, nTab = 0, i;

  if( !bInit ){
    sqlite3_auto_extension((void(*)(void))sqlite3_kvstore_init);
    bTrace = getenv("FUZZ_SQL_TRACE")!=0;
    bInit = 1;
  }
  memset(&run, 0, sizeof(run));
  memset(&src, 0, sizeof(src));
  src.a = a;
  src.n = n;
  snprintf(run.zDir, sizeof(run.zDir), "%s/run-XXXXXX", fuzzDir());
  if( mkdtemp(run.zDir)==0 ){ perror(run.zDir); abort(); }

  db = openDb();
  while( !srcDone(&src) && nStmt<NSTMT_MAX ){
    /* The first statement makes a table, so that the rest has one. */
    char *zSql = nextStatement(&run, &src, nStmt++==0);
    int rc = runSql(db, zSql);
    if( bTrace ){
      fprintf(stderr, "%s;\n  -- %s\n", zSql,
              rc==SQLITE_OK ? "ok" : sqlite3_errmsg(db));
    }
    sqlite3_free(zSql);
  }
  sqlite3_exec(db, "ROLLBACK", 0, 0, 0);

  /* The kvstore tables that exist now (renames included), as the schema
  ** has them. Nothing here damages a file, so every store must verify. */
  sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_schema WHERE sql "
      "LIKE 'CREATE VIRTUAL TABLE%'", -1, &pSchema, 0);
  while( nTab<NTABLE && sqlite3_step(pSchema)==SQLITE_ROW ){
    const char *zName = (const char*)sqlite3_column_text(pSchema, 0);
    sqlite3_stmt *pStmt = 0;
    char *zSql = sqlite3_mprintf("SELECT kvstore_verify(%Q)", zName);
    if( sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0)==SQLITE_OK
     && sqlite3_step(pStmt)==SQLITE_ROW ){
      const char *z = (const char*)sqlite3_column_text(pStmt, 0);
      if( z==0 || strcmp(z, "ok")!=0 ){
        fprintf(stderr, "fuzz_sql: kvstore_verify('%s') = %s\n", zName,
                z ? z : "NULL");
        abort();
      }
    }
    sqlite3_finalize(pStmt);
    sqlite3_free(zSql);
    azName[nTab] = sqlite3_mprintf("%s", zName);
    azCreate[nTab] = sqlite3_mprintf("%s", sqlite3_column_text(pSchema, 1));
    azDigest[nTab] = tableDigest(db, zName);
    nTab++;
  }
  sqlite3_finalize(pSchema);
  sqlite3_close(db);

  /* Each table, made again on a new connection by its CREATE statement
  ** (which names the same directory), holds the same rows. */
  db = openDb();
  for(i=0; i<nTab; i++){
    char *zNow;
    if( azDigest[i]==0 ) continue;
    if( runSql(db, azCreate[i])!=SQLITE_OK ) continue;
    zNow = tableDigest(db, azName[i]);
    if( zNow && strcmp(zNow, azDigest[i])!=0 ){
      fprintf(stderr, "fuzz_sql: %s changed over a reopen\n%s\n"
              "before:\n%s\nafter:\n%s\n", azName[i], azCreate[i],
              azDigest[i], zNow);
      abort();
    }
    sqlite3_free(zNow);
  }
  sqlite3_close(db);

  for(i=0; i<nTab; i++){
    sqlite3_free(azName[i]);
    sqlite3_free(azCreate[i]);
    sqlite3_free(azDigest[i]);
  }
  nftw(run.zDir, removeEntry, 16, FTW_DEPTH|FTW_PHYS);
  return 0;
}
