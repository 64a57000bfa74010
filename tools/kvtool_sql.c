/*
** kvtool_sql.c - the kvtool commands that go through the store's owning
** database (--db DB [--table T]):
**
**   put, delete, batch-load     writes, as SQL statements on table T, so
**                               they keep every guarantee a SQL write has
**                               (two-phase commit through DB, horizon)
**   get, scan (with --db)       reads through DB: what a query returns
**   compact, checkpoint, repair maintenance: kvstore_compact,
**                               kvstore_checkpoint, kvstore_repair, run
**                               only when no other process uses the store
**                               (ktStoreClaim)
**
** SQLite is linked in and the extension with it, compiled with SQLITE_CORE
** as libkvstore.a compiles it; sqlite3_kvstore_init registers it on the
** one connection kvtool opens. DB must exist (it is never created), and T
** must be a kvstore table whose store is STORE_DIR (the same directory,
** compared by device and inode); without --table the one such table of
** DB's main schema is used.
*/
#include "kvtool.h"

#include <sqlite3.h>
#include "../ext/kvext.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int sqlite3_kvstore_init(sqlite3*, char**, const sqlite3_api_routines*);

/* The database connection of one command. */
typedef struct KtSql KtSql;
struct KtSql {
  sqlite3 *db;                  /* the owning database, kvstore registered */
  char *zTable;                 /* table name (sqlite3_malloc) */
  int eKeyType;                 /* KV_KEY_*, once connected */
  kv_db *pKv;                   /* the table's engine, once connected: owned
                                ** by the table, valid while db is open */
};

/* The exit code of a failed SQLite call. */
static int sqlExit(int rc){
  switch( rc & 0xff ){
    case SQLITE_BUSY: case SQLITE_LOCKED: return KT_BUSY;
    case SQLITE_CANTOPEN: case SQLITE_NOTADB: case SQLITE_PERM:
    case SQLITE_AUTH: return KT_CANTOPEN;
    case SQLITE_MISUSE: return KT_USAGE;
  }
  return KT_PROBLEM;
}

/* Report a failed statement: the command, then SQLite's message (which
** for kvstore's own errors starts "kvstore: " and names the file). A
** store another process holds is "in use" (exit 4), as ktStoreClaim says. */
static int storeBusy(const KtArgs *a, const char *zMsg){
  return ktFail(KT_BUSY, "cannot %s '%s': another process has the store "
                "open (%s); close it first, or use SQL from that process",
                a->zCmd, a->zDir, zMsg);
}
static int sqlFail(const KtArgs *a, KtSql *p, int rc, const char *zWhat){
  const char *zMsg = p->db ? sqlite3_errmsg(p->db) : sqlite3_errstr(rc);
  if( (rc & 0xff)==SQLITE_BUSY && strstr(zMsg, "locked by another process") ){
    return storeBusy(a, zMsg);
  }
  return ktFail(sqlExit(rc), "%s failed: %s", zWhat, zMsg);
}

static void sqlClose(KtSql *p){
  sqlite3_free(p->zTable);
  sqlite3_close(p->db);
  memset(p, 0, sizeof(*p));
}

/* Are zA and zB the same directory? */
static int sameDir(const char *zA, const char *zB){
  struct stat a, b;
  return stat(zA, &a)==0 && stat(zB, &b)==0 && a.st_dev==b.st_dev
      && a.st_ino==b.st_ino;
}

/* Does table zTab of p->db keep its store in a->zDir? 1 yes, 0 no (the
** directory it uses in *pzDir, sqlite3_free), or -1 on error (printed). */
static int tableUsesDir(const KtArgs *a, KtSql *p, const char *zTab,
                        char **pzDir, int *pe){
  char *zDir = 0, *zErr = 0;
  kv_options *pOpts = 0;
  int rc = kvvtabStoreDir(p->db, zTab, &zDir, &pOpts, &zErr);
  int bSame;
  kv_options_free(pOpts);
  if( rc!=SQLITE_OK ){
    *pe = ktFail(rc==SQLITE_ERROR ? KT_USAGE : sqlExit(rc), "%s: %s",
                 a->zDb, zErr ? zErr : sqlite3_errstr(rc));
    sqlite3_free(zErr);
    return -1;
  }
  bSame = sameDir(zDir, a->zDir);
  if( pzDir && !bSame ) *pzDir = zDir;
  else sqlite3_free(zDir);
  return bSame;
}

/* Open a->zDb and find the table whose store is a->zDir. With bConnect,
** also connect it (which opens the store: KT_BUSY while another process
** holds it) and learn its key type. */
static int sqlOpen(const KtArgs *a, KtSql *p, int bConnect){
  struct stat st;
  char *zErr = 0;
  int rc, e;
  memset(p, 0, sizeof(*p));
  e = ktCheckStoreDir(a->zDir);
  if( e ) return e;
  if( stat(a->zDb, &st)!=0 ){
    return ktFail(KT_CANTOPEN, "cannot open database '%s': %s", a->zDb,
                  strerror(errno));
  }
  rc = sqlite3_open_v2(a->zDb, &p->db, SQLITE_OPEN_READWRITE, 0);
  if( rc==SQLITE_OK ) rc = sqlite3_kvstore_init(p->db, &zErr, 0);
  if( rc==SQLITE_OK ) rc = sqlite3_busy_timeout(p->db, 5000);
  if( rc==SQLITE_OK ){
    /* Reading the schema here finds a file that is no database. */
    rc = sqlite3_exec(p->db, "SELECT count(*) FROM sqlite_schema", 0, 0, 0);
  }
  if( rc!=SQLITE_OK ){
    e = ktFail(rc==SQLITE_BUSY ? KT_BUSY : KT_CANTOPEN, "cannot open "
               "database '%s': %s", a->zDb,
               zErr ? zErr : p->db ? sqlite3_errmsg(p->db) : sqlite3_errstr(rc));
    sqlite3_free(zErr);
    sqlClose(p);
    return e;
  }

  if( a->zTable ){
    char *zDir = 0;
    int b = tableUsesDir(a, p, a->zTable, &zDir, &e);
    if( b==0 ){
      e = ktFail(KT_USAGE, "table %s of '%s' keeps its store in '%s', not "
                 "in '%s'", a->zTable, a->zDb, zDir, a->zDir);
    }
    sqlite3_free(zDir);
    if( b!=1 ){ sqlClose(p); return e; }
    p->zTable = sqlite3_mprintf("%s", a->zTable);
  }else{
    /* The kvstore tables of main whose store is a->zDir: exactly one. */
    sqlite3_stmt *pStmt = 0;
    int nFound = 0;
    rc = sqlite3_prepare_v2(p->db, "SELECT name FROM main.sqlite_schema "
        "WHERE type='table' AND sql LIKE 'CREATE VIRTUAL TABLE%USING "
        "kvstore%' ORDER BY name", -1, &pStmt, 0);
    while( rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
      const char *zName = (const char*)sqlite3_column_text(pStmt, 0);
      int b;
      if( zName==0 ) continue;
      b = tableUsesDir(a, p, zName, 0, &e);
      if( b<0 ){ rc = SQLITE_ERROR; break; }
      if( b ){
        nFound++;
        sqlite3_free(p->zTable);
        p->zTable = sqlite3_mprintf("%s", zName);
      }
    }
    if( rc==SQLITE_OK ) rc = sqlite3_finalize(pStmt);
    else sqlite3_finalize(pStmt);
    if( rc!=SQLITE_OK ){
      if( e==KT_OK ) e = ktFail(KT_CANTOPEN, "cannot read the schema of "
                                "'%s': %s", a->zDb, sqlite3_errmsg(p->db));
      sqlClose(p);
      return e;
    }
    if( nFound!=1 ){
      e = ktFail(KT_USAGE, "%s kvstore table of '%s' keeps its store in "
                 "'%s'%s", nFound ? "more than one" : "no", a->zDb, a->zDir,
                 nFound ? ": name it with --table" : "");
      sqlClose(p);
      return e;
    }
  }
  if( p->zTable==0 ){
    sqlClose(p);
    return ktFail(KT_CANTOPEN, "out of memory");
  }

  if( bConnect ){
    rc = kvvtabLookup(p->db, p->zTable, 0, &p->pKv, &p->eKeyType, &zErr);
    if( rc!=SQLITE_OK ){
      if( (rc & 0xff)==SQLITE_BUSY && zErr
       && strstr(zErr, "locked by another process") ){
        e = storeBusy(a, zErr);
      }else{
        e = ktFail(sqlExit(rc)==KT_PROBLEM ? KT_CANTOPEN : sqlExit(rc),
                   "cannot open table %s of '%s': %s%s", p->zTable, a->zDb,
                   zErr ? zErr : sqlite3_errstr(rc),
                   (rc & 0xff)==SQLITE_CORRUPT ? " (kvtool repair STORE_DIR "
                   "--db DB rebuilds a lost or damaged CURRENT or manifest, "
                   "as kvstore_repair does)" : "");
      }
      sqlite3_free(zErr);
      sqlClose(p);
      return e;
    }
  }
  return KT_OK;
}

static int sqlPrepare(const KtArgs *a, KtSql *p, sqlite3_stmt **ppStmt,
                      const char *zFmt, ...){
  va_list ap;
  char *zSql;
  int rc;
  va_start(ap, zFmt);
  zSql = sqlite3_vmprintf(zFmt, ap);
  va_end(ap);
  if( zSql==0 ) return ktFail(KT_CANTOPEN, "out of memory");
  rc = sqlite3_prepare_v2(p->db, zSql, -1, ppStmt, 0);
  sqlite3_free(zSql);
  return rc==SQLITE_OK ? KT_OK : sqlFail(a, p, rc, a->zCmd);
}

/* ---------------------------------------------------------------------- */
/* Keys and values between the command line, SQL and the display.          */

/* Bind an encoded key (ktParseKey's form) as the table takes it: integer
** keys as integers, blob keys as blobs, text keys as text. */
static int bindKey(sqlite3_stmt *pStmt, int i, int eKey, const u8 *a,
                   size_t n){
  if( eKey==KV_KEY_INTEGER ){
    u64 u = 0;
    size_t k;
    for(k=0; k<n; k++) u = (u<<8) | a[k];
    return sqlite3_bind_int64(pStmt, i, (sqlite3_int64)(u ^ ((u64)1<<63)));
  }
  if( eKey==KV_KEY_BLOB ) return sqlite3_bind_blob(pStmt, i, a, (int)n, SQLITE_TRANSIENT);
  return sqlite3_bind_text(pStmt, i, (const char*)a, (int)n, SQLITE_TRANSIENT);
}

/* Column iCol of pStmt (a key of the table) shown as ktShowKey shows it. */
static void showKey(FILE *f, int eKey, sqlite3_stmt *pStmt, int iCol,
                    int bJson){
  if( eKey==KV_KEY_INTEGER ){
    u64 u = (u64)sqlite3_column_int64(pStmt, iCol) ^ ((u64)1<<63);
    u8 a[8];
    int k;
    for(k=7; k>=0; k--){ a[k] = (u8)u; u >>= 8; }
    ktShowKey(f, eKey, a, 8, bJson);
  }else{
    const u8 *z = eKey==KV_KEY_BLOB ? sqlite3_column_blob(pStmt, iCol)
                                    : sqlite3_column_text(pStmt, iCol);
    ktShowKey(f, eKey, z ? z : (const u8*)"", (size_t)sqlite3_column_bytes(pStmt, iCol), bJson);
  }
}

/* Column iCol of pStmt (a value) shown as ktShowValue shows a stored one:
** encoded as kvrow.h stores values, then shown. */
static void showValue(FILE *f, sqlite3_stmt *pStmt, int iCol, int bJson){
  int eType = sqlite3_column_type(pStmt, iCol);
  u8 aFix[9];
  u8 *a = aFix;
  size_t n = 1, k;
  u64 u;
  double r;
  switch( eType ){
    case SQLITE_INTEGER:
      u = (u64)sqlite3_column_int64(pStmt, iCol);
      aFix[0] = 1;
      for(k=8; k>=1; k--){ aFix[k] = (u8)u; u >>= 8; }
      n = 9;
      break;
    case SQLITE_FLOAT:
      r = sqlite3_column_double(pStmt, iCol);
      memcpy(&u, &r, 8);
      aFix[0] = 2;
      for(k=8; k>=1; k--){ aFix[k] = (u8)u; u >>= 8; }
      n = 9;
      break;
    case SQLITE_TEXT: case SQLITE_BLOB: {
      const void *z = eType==SQLITE_TEXT
          ? (const void*)sqlite3_column_text(pStmt, iCol)
          : sqlite3_column_blob(pStmt, iCol);
      size_t nz = (size_t)sqlite3_column_bytes(pStmt, iCol);
      a = kvMalloc(nz + 1);
      if( a==0 ){ fputs("(out of memory)", f); return; }
      a[0] = eType==SQLITE_TEXT ? 3 : 4;
      if( nz ) memcpy(a+1, z, nz);
      n = nz + 1;
      break;
    }
    default:
      aFix[0] = 5;
      n = 1;
      break;
  }
  ktShowValue(f, a, n, bJson);
  if( a!=aFix ) kvFree(a);
}

/* What get, put and delete begin with: open a->zDb and connect the table
** (sqlOpen), parse KEY (a->zArg) after the table's key type into *paKey
** and *pnKey (kvFree), prepare zFmt (its %w: the table's name) into
** *ppStmt and bind the key as ?1. On failure as on success the caller
** finalizes *ppStmt, frees *paKey and calls sqlClose(p). */
static int sqlKeyStmt(const KtArgs *a, KtSql *p, const char *zFmt,
                      sqlite3_stmt **ppStmt, u8 **paKey, size_t *pnKey){
  int e = sqlOpen(a, p, 1);
  if( e==KT_OK ){
    e = ktParseKey(a, p->eKeyType, "key", a->zArg, paKey, pnKey);
  }
  if( e==KT_OK ) e = sqlPrepare(a, p, ppStmt, zFmt, p->zTable);
  if( e==KT_OK ) bindKey(*ppStmt, 1, p->eKeyType, *paKey, *pnKey);
  return e;
}

/* The start of put's and delete's JSON line: {"table":T,"key":K */
static void showTableKey(const KtSql *p, const u8 *aKey, size_t nKey){
  printf("{\"table\":");
  ktJsonStr(stdout, p->zTable, strlen(p->zTable));
  printf(",\"key\":");
  ktShowKey(stdout, p->eKeyType, aKey, nKey, 1);
}

/* ---------------------------------------------------------------------- */
/* get, scan.                                                              */

/* The type of a value, as --json names it. */
static const char *typeName(int eType){
  switch( eType ){
    case SQLITE_INTEGER: return "integer";
    case SQLITE_FLOAT:   return "real";
    case SQLITE_TEXT:    return "text";
    case SQLITE_BLOB:    return "blob";
  }
  return "null";
}

int ktSqlGet(const KtArgs *a){
  KtSql s;
  sqlite3_stmt *pStmt = 0;
  u8 *aKey = 0;
  size_t nKey = 0;
  int rc;
  int e = sqlKeyStmt(a, &s, "SELECT value FROM main.\"%w\" WHERE key = ?1",
                     &pStmt, &aKey, &nKey);
  if( e==KT_OK ){
    rc = sqlite3_step(pStmt);
    if( rc==SQLITE_ROW ){
      if( a->bJson ){
        printf("{\"key\":");
        ktShowKey(stdout, s.eKeyType, aKey, nKey, 1);
        printf(",\"found\":true,\"value_type\":\"%s\",\"value\":",
               typeName(sqlite3_column_type(pStmt, 0)));
        showValue(stdout, pStmt, 0, 1);
        printf("}\n");
      }else{
        showValue(stdout, pStmt, 0, 0);
        printf("\n");
      }
    }else if( rc==SQLITE_DONE ){
      if( a->bJson ){
        printf("{\"key\":");
        ktShowKey(stdout, s.eKeyType, aKey, nKey, 1);
        printf(",\"found\":false}\n");
      }
      e = ktFail(KT_PROBLEM, "key %s not found", a->zArg);
    }else{
      e = sqlFail(a, &s, rc, "get");
    }
  }
  sqlite3_finalize(pStmt);
  kvFree(aKey);
  sqlClose(&s);
  return e;
}

int ktSqlScan(const KtArgs *a){
  KtSql s;
  sqlite3_stmt *pStmt = 0;
  u8 *aFrom = 0, *aEnd = 0;
  size_t nFrom = 0, nEnd = 0;
  long long nRow = 0;
  int rc = SQLITE_OK;
  int e = sqlOpen(a, &s, 1);
  if( e ) return e;
  e = ktScanBounds(a, s.eKeyType, &aFrom, &nFrom, &aEnd, &nEnd);
  if( e==KT_OK ){
    e = sqlPrepare(a, &s, &pStmt, "SELECT key, value FROM main.\"%w\" "
                   "WHERE %s AND %s ORDER BY key %s LIMIT ?3", s.zTable,
                   aFrom ? "key >= ?1" : "?1 IS NULL",
                   aEnd ? "key < ?2" : "?2 IS NULL",
                   a->bReverse ? "DESC" : "ASC");
  }
  if( e==KT_OK ){
    if( aFrom ) bindKey(pStmt, 1, s.eKeyType, aFrom, nFrom);
    if( aEnd ) bindKey(pStmt, 2, s.eKeyType, aEnd, nEnd);
    sqlite3_bind_int64(pStmt, 3, a->nLimit);
    if( a->bJson ){
      printf("{\"key_type\":\"%s\",\"rows\":[", ktKeyTypeName(s.eKeyType));
    }
    while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
      if( a->bJson ){
        printf("%s{\"key\":", nRow ? "," : "");
        showKey(stdout, s.eKeyType, pStmt, 0, 1);
        printf(",\"value_type\":\"%s\",\"value\":",
               typeName(sqlite3_column_type(pStmt, 1)));
        showValue(stdout, pStmt, 1, 1);
        printf("}");
      }else{
        showKey(stdout, s.eKeyType, pStmt, 0, 0);
        putchar('\t');
        showValue(stdout, pStmt, 1, 0);
        putchar('\n');
      }
      nRow++;
    }
    if( a->bJson ) printf("],\"count\":%lld}\n", nRow);
    if( rc!=SQLITE_DONE ) e = sqlFail(a, &s, rc, "scan");
  }
  sqlite3_finalize(pStmt);
  kvFree(aFrom);
  kvFree(aEnd);
  sqlClose(&s);
  return e;
}

/* ---------------------------------------------------------------------- */
/* put, delete, batch-load.                                                */

/* Bind VALUE after --type. */
static int bindValue(const KtArgs *a, sqlite3_stmt *pStmt, int i){
  const char *zType = a->zType ? a->zType : "text";
  const char *z = a->zArg2;
  if( strcmp(zType, "null")==0 ) return sqlite3_bind_null(pStmt, i)==SQLITE_OK ? KT_OK : KT_CANTOPEN;
  if( z==0 ){
    return ktFail(KT_USAGE, "put needs VALUE (or --type null)");
  }
  if( strcmp(zType, "text")==0 ){
    sqlite3_bind_text(pStmt, i, z, -1, SQLITE_TRANSIENT);
  }else if( strcmp(zType, "integer")==0 ){
    char *zEnd = 0;
    long long v;
    errno = 0;
    v = strtoll(z, &zEnd, 10);
    if( z[0]==0 || *zEnd || errno ){
      return ktFail(KT_USAGE, "VALUE '%s' is not an integer (--type integer)",
                    z);
    }
    sqlite3_bind_int64(pStmt, i, v);
  }else if( strcmp(zType, "real")==0 ){
    char *zEnd = 0;
    double r;
    errno = 0;
    r = strtod(z, &zEnd);
    if( z[0]==0 || *zEnd || r!=r ){
      return ktFail(KT_USAGE, "VALUE '%s' is not a number (--type real)", z);
    }
    sqlite3_bind_double(pStmt, i, r);
  }else if( strcmp(zType, "blob")==0 ){
    u8 *aB = 0;
    size_t nB = 0;
    if( !ktParseHex(z, &aB, &nB) ){
      return ktFail(KT_USAGE, "VALUE '%s' is not hex (--type blob)", z);
    }
    sqlite3_bind_blob(pStmt, i, aB, (int)nB, SQLITE_TRANSIENT);
    kvFree(aB);
  }else{
    return ktFail(KT_USAGE, "--type '%s' is not one of text, integer, real, "
                  "blob, null", zType);
  }
  return KT_OK;
}

int ktSqlPut(const KtArgs *a){
  KtSql s;
  sqlite3_stmt *pStmt = 0;
  u8 *aKey = 0;
  size_t nKey = 0;
  int rc;
  int e;
  if( a->zArg2==0 && (a->zType==0 || strcmp(a->zType, "null")!=0) ){
    return ktFail(KT_USAGE, "put needs KEY and VALUE (see kvtool put --help)");
  }
  e = sqlKeyStmt(a, &s, "INSERT OR REPLACE INTO main.\"%w\"(key, value) "
                 "VALUES(?1, ?2)", &pStmt, &aKey, &nKey);
  if( e==KT_OK ) e = bindValue(a, pStmt, 2);
  if( e==KT_OK ){
    rc = sqlite3_step(pStmt);
    if( rc!=SQLITE_DONE ){
      e = sqlFail(a, &s, rc, "put");
    }else if( a->bJson ){
      showTableKey(&s, aKey, nKey);
      printf(",\"put\":true}\n");
    }else{
      printf("put ");
      ktShowKey(stdout, s.eKeyType, aKey, nKey, 0);
      printf(" into %s\n", s.zTable);
    }
  }
  sqlite3_finalize(pStmt);
  kvFree(aKey);
  sqlClose(&s);
  return e;
}

int ktSqlDelete(const KtArgs *a){
  KtSql s;
  sqlite3_stmt *pStmt = 0;
  u8 *aKey = 0;
  size_t nKey = 0;
  int rc;
  int e = sqlKeyStmt(a, &s, "DELETE FROM main.\"%w\" WHERE key = ?1",
                     &pStmt, &aKey, &nKey);
  if( e==KT_OK ){
    rc = sqlite3_step(pStmt);
    if( rc!=SQLITE_DONE ){
      e = sqlFail(a, &s, rc, "delete");
    }else{
      int bDeleted = sqlite3_changes(s.db)>0;
      if( a->bJson ){
        showTableKey(&s, aKey, nKey);
        printf(",\"deleted\":%s}\n", bDeleted ? "true" : "false");
      }else if( bDeleted ){
        printf("deleted ");
        ktShowKey(stdout, s.eKeyType, aKey, nKey, 0);
        printf(" from %s\n", s.zTable);
      }
      if( !bDeleted ){
        e = ktFail(KT_PROBLEM, "key %s not found: nothing deleted", a->zArg);
      }
    }
  }
  sqlite3_finalize(pStmt);
  kvFree(aKey);
  sqlClose(&s);
  return e;
}

static long long nowMs(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec*1000 + ts.tv_nsec/1000000;
}

/* The key of row i of batch-load --generate, encoded, into *pKey. */
static int generatedKey(int eKey, const u8 *aPre, size_t nPre, long long i,
                        KvBuf *pKey){
  u8 aNum[8];
  int k;
  pKey->n = 0;
  if( eKey==KV_KEY_INTEGER ){
    u64 u = (u64)i ^ ((u64)1<<63);
    for(k=7; k>=0; k--){ aNum[k] = (u8)u; u >>= 8; }
    return kvBufAppend(pKey, aNum, 8);
  }
  if( eKey==KV_KEY_BLOB ){
    u64 u = (u64)i;
    for(k=7; k>=0; k--){ aNum[k] = (u8)u; u >>= 8; }
    if( kvBufAppend(pKey, aPre, nPre) ) return KV_NOMEM;
    return kvBufAppend(pKey, aNum, 8);
  }
  {
    char z[32];
    snprintf(z, sizeof(z), "%010lld", i);
    if( kvBufAppend(pKey, aPre, nPre) ) return KV_NOMEM;
    return kvBufAppend(pKey, z, strlen(z));
  }
}

/* Its value: n bytes of text, "v<i>:" then letters. */
static void generatedValue(long long i, char *z, size_t n){
  size_t k;
  int nHead = snprintf(z, n+1, "v%lld:", i);
  for(k=(size_t)nHead<n ? (size_t)nHead : n; k<n; k++){
    z[k] = (char)('a' + (int)((i + (long long)k) % 26));
  }
  z[n] = 0;
}

int ktSqlBatchLoad(const KtArgs *a){
  KtSql s;
  sqlite3_stmt *pStmt = 0;
  FILE *pIn = 0;
  KvBuf key = {0, 0, 0};
  u8 *aPre = 0;
  size_t nPre = 0;
  char *zVal = 0;
  char *zLine = 0;
  size_t nLineAlloc = 0;
  long long nRow = 0, nLine = 0, iStart;
  u64 nFileSize = 0;
  int bBegun = 0;
  int rc = SQLITE_OK, e;

  if( (a->nGenerate>=0)==(a->zFile!=0) ){
    return ktFail(KT_USAGE, "batch-load needs either --generate N or --file F "
                  "(see kvtool batch-load --help)");
  }
  if( a->zFile && a->zPrefix ){
    return ktFail(KT_USAGE, "--prefix goes with --generate, not --file");
  }
  if( a->nValueSize>64*1024*1024 ){
    return ktFail(KT_USAGE, "--value-size %lld is larger than 64 MiB",
                  a->nValueSize);
  }
  if( a->zFile ){
    if( strcmp(a->zFile, "-")==0 ){
      pIn = stdin;
    }else{
      struct stat st;
      pIn = fopen(a->zFile, "r");
      if( pIn==0 ){
        return ktFail(KT_CANTOPEN, "cannot open '%s': %s", a->zFile,
                      strerror(errno));
      }
      if( fstat(fileno(pIn), &st)==0 ) nFileSize = (u64)st.st_size;
    }
  }
  e = sqlOpen(a, &s, 1);
  if( e ) goto done;
  if( a->nGenerate>=0 ){
    const char *zPre = a->zPrefix ? a->zPrefix : "key:";
    if( s.eKeyType==KV_KEY_INTEGER && a->zPrefix ){
      e = ktFail(KT_USAGE, "--prefix does not apply to integer keys (rows "
                 "0 to N-1 are generated)");
      goto done;
    }
    if( s.eKeyType==KV_KEY_BLOB ){
      if( a->zPrefix==0 ) zPre = "";
      if( !ktParseHex(zPre, &aPre, &nPre) ){
        e = ktFail(KT_USAGE, "--prefix '%s' is not hex (blob keys)", zPre);
        goto done;
      }
    }else if( s.eKeyType==KV_KEY_TEXT ){
      aPre = (u8*)kvStrdup(zPre);
      nPre = strlen(zPre);
      if( aPre==0 ){ e = ktFail(KT_CANTOPEN, "out of memory"); goto done; }
    }
    zVal = kvMalloc((size_t)a->nValueSize + 32);
    if( zVal==0 ){ e = ktFail(KT_CANTOPEN, "out of memory"); goto done; }
  }
  e = sqlPrepare(a, &s, &pStmt, "INSERT OR REPLACE INTO main.\"%w\"(key, "
                 "value) VALUES(?1, ?2)", s.zTable);
  if( e ) goto done;
  iStart = nowMs();
  rc = sqlite3_exec(s.db, "BEGIN IMMEDIATE", 0, 0, 0);
  if( rc!=SQLITE_OK ){ e = sqlFail(a, &s, rc, "batch-load (BEGIN)"); goto done; }
  bBegun = 1;

  if( a->nGenerate>=0 ){
    long long i;
    for(i=0; i<a->nGenerate; i++){
      if( generatedKey(s.eKeyType, aPre, nPre, i, &key)!=KV_OK ){
        e = ktFail(KT_CANTOPEN, "out of memory");
        goto done;
      }
      generatedValue(i, zVal, (size_t)a->nValueSize);
      bindKey(pStmt, 1, s.eKeyType, key.a, key.n);
      sqlite3_bind_text(pStmt, 2, zVal, (int)a->nValueSize, SQLITE_STATIC);
      rc = sqlite3_step(pStmt);
      sqlite3_reset(pStmt);
      if( rc!=SQLITE_DONE ){
        e = sqlFail(a, &s, rc, "batch-load");
        goto done;
      }
      nRow++;
      ktProgress(a, "batch-load", (u64)nRow, (u64)a->nGenerate);
    }
  }else{
    ssize_t nLen;
    while( (nLen = getline(&zLine, &nLineAlloc, pIn))>=0 ){
      char *zTab;
      u8 *aKey = 0;
      size_t nKey = 0;
      nLine++;
      while( nLen>0 && (zLine[nLen-1]=='\n' || zLine[nLen-1]=='\r') ){
        zLine[--nLen] = 0;
      }
      if( nLen==0 ) continue;
      zTab = strchr(zLine, '\t');
      if( zTab==0 ){
        e = ktFail(KT_USAGE, "line %lld of '%s' has no TAB between key and "
                   "value; nothing loaded", nLine, a->zFile);
        goto done;
      }
      *zTab = 0;
      e = ktParseKey(a, s.eKeyType, "key", zLine, &aKey, &nKey);
      if( e ){
        ktFail(e, "at line %lld of '%s'; nothing loaded", nLine, a->zFile);
        goto done;
      }
      bindKey(pStmt, 1, s.eKeyType, aKey, nKey);
      kvFree(aKey);
      sqlite3_bind_text(pStmt, 2, zTab+1, (int)(nLen - (zTab+1-zLine)),
                        SQLITE_TRANSIENT);
      rc = sqlite3_step(pStmt);
      sqlite3_reset(pStmt);
      if( rc!=SQLITE_DONE ){
        e = sqlFail(a, &s, rc, "batch-load");
        ktFail(e, "at line %lld of '%s'; nothing loaded", nLine, a->zFile);
        goto done;
      }
      nRow++;
      if( nFileSize ){
        long iPos = ftell(pIn);
        ktProgress(a, "batch-load", iPos>0 ? (u64)iPos : 0, nFileSize);
      }
    }
    if( ferror(pIn) ){
      e = ktFail(KT_CANTOPEN, "cannot read '%s': %s; nothing loaded",
                 a->zFile, strerror(errno));
      goto done;
    }
  }
  rc = sqlite3_exec(s.db, "COMMIT", 0, 0, 0);
  if( rc!=SQLITE_OK ){ e = sqlFail(a, &s, rc, "batch-load (COMMIT)"); goto done; }
  bBegun = 0;
  ktProgressEnd(a);
  {
    long long ms = nowMs() - iStart;
    if( a->bJson ){
      printf("{\"table\":");
      ktJsonStr(stdout, s.zTable, strlen(s.zTable));
      printf(",\"rows\":%lld,\"ms\":%lld}\n", nRow, ms);
    }else{
      printf("loaded %lld row%s into %s in one transaction (%lld ms)\n",
             nRow, nRow==1 ? "" : "s", s.zTable, ms);
    }
  }
done:
  ktProgressEnd(a);
  if( bBegun ) sqlite3_exec(s.db, "ROLLBACK", 0, 0, 0);
  sqlite3_finalize(pStmt);
  if( s.db ) sqlClose(&s);
  if( pIn && pIn!=stdin ) fclose(pIn);
  free(zLine);
  kvBufFree(&key);
  kvFree(aPre);
  kvFree(zVal);
  return e;
}

/* ---------------------------------------------------------------------- */
/* Maintenance: compact, checkpoint, repair.                               */

/* While a long SQL function runs on the main thread, a watcher thread
** reads the engine's kv_stats every 100 ms and draws the progress of the
** section zSection ("compaction" or "checkpoint": its
** "progress":{"bytes_done":N,"bytes_planned":M}). Only on a terminal. */
typedef struct KtWatch KtWatch;
struct KtWatch {
  const KtArgs *a;
  kv_db *pKv;
  const char *zSection;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int bStop;
};

static void *watchMain(void *pArg){
  KtWatch *w = (KtWatch*)pArg;
  pthread_mutex_lock(&w->mu);
  while( !w->bStop ){
    struct timespec ts;
    char *zJson = 0;
    pthread_mutex_unlock(&w->mu);
    /* Compaction's figures are the engine's (kv_stats); a checkpoint's
    ** are kept by the extension (kvextCopyProgress). */
    if( strcmp(w->zSection, "compaction")==0 ){
      if( kv_stats(w->pKv, &zJson)!=KV_OK ) zJson = 0;
    }else{
      char *z = kvextCopyProgress(w->pKv);
      zJson = z ? kvStrdup(z) : 0;
      sqlite3_free(z);
    }
    if( zJson ){
      char zKey[64];
      const char *z;
      snprintf(zKey, sizeof(zKey), "\"%s\":{", w->zSection);
      z = strstr(zJson, zKey);
      if( z ) z = strstr(z, "\"progress\":{\"bytes_done\":");
      if( z ){
        unsigned long long nDone = 0, nPlanned = 0;
        if( sscanf(z, "\"progress\":{\"bytes_done\":%llu,\"bytes_planned\":%llu",
                   &nDone, &nPlanned)==2 && nPlanned>0 ){
          ktProgress(w->a, w->a->zCmd, nDone, nPlanned);
        }
      }
    }
    kv_free(zJson);
    pthread_mutex_lock(&w->mu);
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100*1000000;
    if( ts.tv_nsec>=1000000000 ){ ts.tv_sec++; ts.tv_nsec -= 1000000000; }
    if( !w->bStop ) pthread_cond_timedwait(&w->cv, &w->mu, &ts);
  }
  pthread_mutex_unlock(&w->mu);
  return 0;
}

/* Run the one-value statement zSql (argument ?1 the table, ?2 zArg2 when
** not NULL) with a progress watcher on section zSection; *pzOut gets its
** text result (sqlite3_malloc). */
static int runMaintenance(const KtArgs *a, KtSql *p, const char *zSql,
                          const char *zArg2, const char *zSection,
                          char **pzOut){
  sqlite3_stmt *pStmt = 0;
  KtWatch w;
  pthread_t tid;
  int bThread = 0;
  int rc, e;
  *pzOut = 0;
  e = sqlPrepare(a, p, &pStmt, "%s", zSql);
  if( e ) return e;
  sqlite3_bind_text(pStmt, 1, p->zTable, -1, SQLITE_STATIC);
  if( zArg2 ) sqlite3_bind_text(pStmt, 2, zArg2, -1, SQLITE_STATIC);
  memset(&w, 0, sizeof(w));
  if( a->bProgress && p->pKv && zSection ){
    w.a = a;
    w.pKv = p->pKv;
    w.zSection = zSection;
    pthread_mutex_init(&w.mu, 0);
    pthread_cond_init(&w.cv, 0);
    bThread = pthread_create(&tid, 0, watchMain, &w)==0;
  }
  rc = sqlite3_step(pStmt);
  if( bThread ){
    pthread_mutex_lock(&w.mu);
    w.bStop = 1;
    pthread_cond_signal(&w.cv);
    pthread_mutex_unlock(&w.mu);
    pthread_join(tid, 0);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    ktProgressEnd(a);
  }
  if( rc==SQLITE_ROW ){
    const char *z = (const char*)sqlite3_column_text(pStmt, 0);
    *pzOut = sqlite3_mprintf("%s", z ? z : "");
    if( *pzOut==0 ) e = ktFail(KT_CANTOPEN, "out of memory");
  }else{
    e = sqlFail(a, p, sqlite3_errcode(p->db), a->zCmd);
  }
  sqlite3_finalize(pStmt);
  return e;
}

int ktSqlCompact(const KtArgs *a){
  KtSql s;
  char *zOut = 0;
  int e = ktCheckStoreDir(a->zDir);
  if( e==KT_OK ) e = ktStoreClaim(a, 0);
  if( e ) return e;
  e = sqlOpen(a, &s, 1);
  if( e ) return e;
  e = runMaintenance(a, &s, a->bFull ? "SELECT kvstore_compact(?1, 'full')"
                     : "SELECT kvstore_compact(?1)", 0, "compaction", &zOut);
  if( e==KT_OK ) printf("%s\n", zOut);
  sqlite3_free(zOut);
  sqlClose(&s);
  return e;
}

int ktSqlCheckpoint(const KtArgs *a){
  KtSql s;
  char *zOut = 0, *zDest = 0;
  struct stat st;
  int e;
  if( stat(a->zArg, &st)==0 ){
    return ktFail(KT_USAGE, "checkpoint: '%s' exists; name a new directory",
                  a->zArg);
  }
  e = ktCheckStoreDir(a->zDir);
  if( e==KT_OK ) e = ktStoreClaim(a, 0);
  if( e ) return e;
  /* kvstore_checkpoint resolves a relative directory against the folder
  ** of the database file; on the command line it is the working one. */
  if( a->zArg[0]=='/' ){
    zDest = sqlite3_mprintf("%s", a->zArg);
  }else{
    char zCwd[4096];
    if( getcwd(zCwd, sizeof(zCwd))==0 ){
      return ktFail(KT_CANTOPEN, "cannot find the working directory: %s",
                    strerror(errno));
    }
    zDest = sqlite3_mprintf("%s/%s", zCwd, a->zArg);
  }
  if( zDest==0 ) return ktFail(KT_CANTOPEN, "out of memory");
  e = sqlOpen(a, &s, 1);
  if( e==KT_OK ){
    e = runMaintenance(a, &s, "SELECT kvstore_checkpoint(?1, ?2)", zDest,
                       "checkpoint", &zOut);
    if( e==KT_OK && a->bJson ){
      printf("%s\n", zOut);
    }else if( e==KT_OK ){
      printf("checkpoint of %s (table %s) written to %s: %s\n", a->zDir,
             s.zTable, a->zArg, zOut);
    }
    sqlClose(&s);
  }
  sqlite3_free(zOut);
  sqlite3_free(zDest);
  return e;
}

int ktSqlRepair(const KtArgs *a){
  KtSql s;
  char *zOut = 0;
  int bRebuild = 0;
  int e = ktCheckStoreDir(a->zDir);
  if( e ) return e;
  /* The database and table are checked first: nothing is changed for a
  ** --db that is not the store's owner. */
  e = sqlOpen(a, &s, 0);
  if( e ) return e;
  e = ktRepairCurrent(a, &bRebuild);
  if( e==KT_OK && bRebuild ){
    /* kvstore_repair takes the store's lock itself (kv_repair). */
    e = runMaintenance(a, &s, "SELECT kvstore_repair(?1)", 0, 0, &zOut);
    if( e==KT_OK && a->bJson ){
      printf("{\"repaired\":true,\"rebuilt\":\"manifest\",\"report\":%s}\n",
             zOut[0] ? zOut : "null");
    }else if( e==KT_OK ){
      printf("repaired: no manifest was usable; a new one was built from "
             "the SSTables' metadata, keeping the batches %s committed: %s\n",
             a->zDb, zOut);
    }
  }
  sqlite3_free(zOut);
  sqlClose(&s);
  return e;
}
