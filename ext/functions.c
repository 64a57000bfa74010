/*
** functions.c - SQL functions over a kvstore table's engine.
**
**   SELECT kvstore_compact('kv');          -- due compactions; JSON summary
**   SELECT kvstore_compact('kv', 'full');  -- flush, merge into one run
**   SELECT kvstore_flush('kv');            -- memtable -> SSTable; JSON
**   SELECT kvstore_stats('kv');            -- JSON figures of the store
**   SELECT kvstore_verify('kv');           -- 'ok' or the first problem
**   SELECT kvstore_merkle('kv');           -- flush, then the root (hex)
**   SELECT kvstore_repair('kv');           -- rebuild a damaged store; JSON
**   SELECT kvstore_version();              -- the library's version
**
** The table argument is a table name, optionally "schema.table"; the table
** may be one this connection has not used yet. Each function checks its
** own argument count so that the message says what it expects. All but
** kvstore_version touch files, so they are SQLITE_DIRECTONLY: a database
** from an untrusted source cannot call them from a trigger or a view.
** Engine errors keep their code (SQLITE_CORRUPT, SQLITE_IOERR, ...) and
** message. They work on the committed state of the store: writes of this
** connection's open transaction are not in it until COMMIT.
*/
#include "kvext.h"
SQLITE_EXTENSION_INIT3

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Report an error with message zMsg and code rc. */
static void fnError(sqlite3_context *ctx, int rc, const char *zMsg){
  sqlite3_result_error(ctx, zMsg, -1);
  sqlite3_result_error_code(ctx, rc);
}

/* Report a failed engine call (its code is SQLite's of the same meaning). */
static void fnEngineError(sqlite3_context *ctx, int rc, const char *zWhat){
  char *z = kvvtabEngineMsg(rc, zWhat);
  fnError(ctx, rc, z ? z : "kvstore: error");
  sqlite3_free(z);
}

/*
** Check the argument count of function zFunc (between nMin and nMax; its
** usage is zUsage) and find the engine of the table named by argv[0]
** (bDurable: kvvtabLookup's). Returns NULL after setting an error result.
*/
static kv_db *fnTable(sqlite3_context *ctx, const char *zFunc,
                      const char *zUsage, int argc, sqlite3_value **argv,
                      int nMin, int nMax, int bDurable){
  kv_db *pKv = 0;
  char *zErr = 0;
  int eKeyType, rc;
  if( argc<nMin || argc>nMax ){
    char *z = sqlite3_mprintf("%s: wrong number of arguments (%d); usage: %s",
                              zFunc, argc, zUsage);
    fnError(ctx, SQLITE_ERROR, z ? z : "kvstore: wrong number of arguments");
    sqlite3_free(z);
    return 0;
  }
  if( sqlite3_value_type(argv[0])!=SQLITE_TEXT ){
    char *z = sqlite3_mprintf("%s: the first argument must be a table name "
                              "(text); usage: %s", zFunc, zUsage);
    fnError(ctx, SQLITE_ERROR, z ? z : "kvstore: bad argument");
    sqlite3_free(z);
    return 0;
  }
  rc = kvvtabLookup(sqlite3_context_db_handle(ctx),
                    (const char*)sqlite3_value_text(argv[0]), bDurable,
                    &pKv, &eKeyType, &zErr);
  if( rc!=SQLITE_OK ){
    fnError(ctx, rc, zErr ? zErr : "kvstore: no such table");
    sqlite3_free(zErr);
    return 0;
  }
  return pKv;
}

/* Set a result from engine memory (kv_free'd here). */
static void fnResultKv(sqlite3_context *ctx, char *z){
  sqlite3_result_text(ctx, z, -1, SQLITE_TRANSIENT);
  kv_free(z);
}

static sqlite3_int64 monoMillis(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (sqlite3_int64)ts.tv_sec*1000 + ts.tv_nsec/1000000;
}

/*
** Interruption of kvstore_compact, kvstore_verify, kvstore_checkpoint and
** kvstore_backup (KvextWatch, kvext.h). sqlite3_interrupt() only sets a
** flag on the connection, which SQLite's own loops test; a function learns
** of it by asking: sqlite3_is_interrupted() where the library has it
** (kvvtabIsInterruptedFn). Older libraries have no such call, and a
** progress handler (sqlite3_progress_handler) is not run while a function
** runs; but a statement stepped inside the function is: sqlite3_step()
** fails at once with SQLITE_INTERRUPT while the connection is interrupted
** (the flag is cleared only when no statement of the connection is
** running, and ours is). So on older libraries a prepared "SELECT 1" is
** stepped at each check: the same answer, a microsecond dearer, every
** PROGRESS entries of the merge (every table or 64 KiB of a checkpoint).
*/
void kvextWatchInit(KvextWatch *w, sqlite3 *db){
  w->db = db;
  w->xIsInterrupted = kvvtabIsInterruptedFn();
  w->pProbe = 0;
}

int kvextWatchInterrupted(KvextWatch *w){
  int rc;
  if( w->xIsInterrupted ) return w->xIsInterrupted(w->db);
  if( w->pProbe==0 ){
    rc = sqlite3_prepare_v2(w->db, "SELECT 1", -1, &w->pProbe, 0);
    if( rc!=SQLITE_OK ) return rc==SQLITE_INTERRUPT || rc==SQLITE_NOMEM;
  }
  rc = sqlite3_step(w->pProbe);
  sqlite3_reset(w->pProbe);
  /* The probe running out of memory dooms the calling statement too
  ** (SQLite keeps the failure until it ends): stop, as for an interrupt,
  ** rather than finish work whose success nobody would be told. */
  return rc==SQLITE_INTERRUPT || rc==SQLITE_NOMEM;
}

void kvextWatchFinish(KvextWatch *w){
  sqlite3_finalize(w->pProbe);
  w->pProbe = 0;
}

/* kv_progress_fn of kvstore_compact and kvstore_verify: nonzero once the
** connection is interrupted. (A compaction's progress is published by the
** engine: kv_stats.) */
static int compactProgress(void *pArg, uint64_t nDone, uint64_t nPlanned){
  (void)nDone;
  (void)nPlanned;
  return kvextWatchInterrupted((KvextWatch*)pArg);
}

/* kvstore_compact(t [, mode]): mode absent runs what is due; 'full'
** merges everything into one sorted run; a NULL mode is refused (most
** likely a parameter left unbound), as is any other. The merge stops within
** a few hundred entries of sqlite3_interrupt(), deleting what it wrote
** (SQLITE_INTERRUPT, "... interrupted; the store is unchanged"); its
** progress shows in kvstore_stats meanwhile. */
static void fnCompact(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  static const char zUsage[] = "kvstore_compact(table [, 'full'])";
  kv_db *pKv = fnTable(ctx, "kvstore_compact", zUsage, argc, argv, 1, 2, 1);
  char *zJson = 0;
  int bFull = 0, rc;
  if( pKv==0 ) return;
  if( argc==2 ){
    const char *zMode;
    if( sqlite3_value_type(argv[1])==SQLITE_NULL ){
      char *z = sqlite3_mprintf("kvstore_compact: the mode is NULL; "
          "usage: %s", zUsage);
      fnError(ctx, SQLITE_ERROR, z ? z : "kvstore_compact: NULL mode");
      sqlite3_free(z);
      return;
    }
    zMode = (const char*)sqlite3_value_text(argv[1]);
    if( zMode==0 ){
      sqlite3_result_error_nomem(ctx);
      return;
    }
    if( sqlite3_stricmp(zMode, "full")==0 ){
      bFull = 1;
    }else{
      char *z = sqlite3_mprintf("kvstore_compact: unknown mode '%s'; "
          "usage: %s", zMode, zUsage);
      fnError(ctx, SQLITE_ERROR, z ? z : "kvstore_compact: unknown mode");
      sqlite3_free(z);
      return;
    }
  }
  {
    KvextWatch w;
    kvextWatchInit(&w, sqlite3_context_db_handle(ctx));
    rc = kv_compact_progress(pKv, bFull, compactProgress, &w, &zJson);
    kvextWatchFinish(&w);
  }
  if( rc!=KV_OK ){
    fnEngineError(ctx, rc, "compaction");
    return;
  }
  fnResultKv(ctx, zJson);
}

/* kvstore_flush(t): {"flushed":true,"ms":N,"sstables":N,"sstable_bytes":N}
** (the last two count the live SSTables after the flush). */
static void fnFlush(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  kv_db *pKv = fnTable(ctx, "kvstore_flush", "kvstore_flush(table)", argc,
                       argv, 1, 1, 1);
  kv_sstable_info *aInfo = 0;
  sqlite3_int64 iStart;
  sqlite3_uint64 nByte = 0;
  int nInfo = 0, i, rc;
  char *z;
  if( pKv==0 ) return;
  iStart = monoMillis();
  rc = kv_flush(pKv);
  if( rc==KV_OK ) rc = kv_sstables(pKv, &aInfo, &nInfo);
  if( rc!=KV_OK ){
    fnEngineError(ctx, rc, "flush");
    return;
  }
  for(i=0; i<nInfo; i++) nByte += aInfo[i].nByte;
  kv_free(aInfo);
  z = sqlite3_mprintf("{\"flushed\":true,\"ms\":%lld,\"sstables\":%d,"
      "\"sstable_bytes\":%llu}", monoMillis() - iStart, nInfo, nByte);
  if( z==0 ){
    sqlite3_result_error_nomem(ctx);
  }else{
    sqlite3_result_text(ctx, z, -1, sqlite3_free);
  }
}

static void fnStats(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  kv_db *pKv = fnTable(ctx, "kvstore_stats", "kvstore_stats(table)", argc,
                       argv, 1, 1, 0);
  char *zJson = 0;
  int rc;
  if( pKv==0 ) return;
  rc = kv_stats(pKv, &zJson);
  if( rc!=KV_OK ){
    fnEngineError(ctx, rc, "stats");
    return;
  }
  {
    /* The engine's object, then the copies running (backup.c) before its
    ** closing brace. */
    size_t n = strlen(zJson);
    char *zCopies = kvextCopyProgress(pKv);
    char *z = (zCopies && n>0 && zJson[n-1]=='}')
        ? sqlite3_mprintf("%.*s,%s}", (int)n-1, zJson, zCopies) : 0;
    kv_free(zJson);
    sqlite3_free(zCopies);
    if( z==0 ){
      sqlite3_result_error_nomem(ctx);
    }else{
      sqlite3_result_text(ctx, z, -1, sqlite3_free);
    }
  }
}

static void fnVerify(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  kv_db *pKv = fnTable(ctx, "kvstore_verify", "kvstore_verify(table)", argc,
                       argv, 1, 1, 0);
  char *zReport = 0;
  int rc;
  KvextWatch w;
  if( pKv==0 ) return;
  /* Stops on sqlite3_interrupt() after the table being read. */
  kvextWatchInit(&w, sqlite3_context_db_handle(ctx));
  rc = kv_verify_progress(pKv, compactProgress, &w, &zReport);
  kvextWatchFinish(&w);
  if( rc!=KV_OK ){
    fnEngineError(ctx, rc, "verify");
    return;
  }
  fnResultKv(ctx, zReport);
}

/* kvstore_merkle(t): flush, so that every committed row is covered, then
** the root over the live SSTables' roots, 64 lower-case hex digits. */
static void fnMerkle(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  kv_db *pKv = fnTable(ctx, "kvstore_merkle", "kvstore_merkle(table)", argc,
                       argv, 1, 1, 0);
  unsigned char aRoot[32];
  char zHex[65];
  int rc, i;
  if( pKv==0 ) return;
  rc = kv_flush(pKv);
  if( rc==KV_OK ) rc = kv_merkle(pKv, aRoot);
  if( rc!=KV_OK ){
    fnEngineError(ctx, rc, "merkle");
    return;
  }
  for(i=0; i<32; i++){
    static const char aDigit[] = "0123456789abcdef";
    zHex[2*i] = aDigit[aRoot[i]>>4];
    zHex[2*i+1] = aDigit[aRoot[i]&0xf];
  }
  zHex[64] = 0;
  sqlite3_result_text(ctx, zHex, 64, SQLITE_TRANSIENT);
}

/* kvstore_repair(t): kv_repair on the table's store, which need not open
** (that is when repair is wanted); JSON report. Never run implicitly. */
static void fnRepair(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  char *zDir = 0, *zErr = 0, *zReport = 0;
  kv_options *pOpts = 0;
  int rc;
  if( argc!=1 || sqlite3_value_type(argv[0])!=SQLITE_TEXT ){
    fnError(ctx, SQLITE_ERROR, "kvstore_repair: wrong arguments; usage: "
            "kvstore_repair(table)");
    return;
  }
  rc = kvvtabStoreDir(db, (const char*)sqlite3_value_text(argv[0]), &zDir,
                      &pOpts, &zErr);
  if( rc!=SQLITE_OK ){
    fnError(ctx, rc, zErr ? zErr : "kvstore: no such table");
    sqlite3_free(zErr);
    return;
  }
  rc = kv_repair(zDir, pOpts, &zReport);
  if( rc!=KV_OK ){
    fnEngineError(ctx, rc, "repair");
  }else{
    fnResultKv(ctx, zReport);
  }
  kv_options_free(pOpts);
  sqlite3_free(zDir);
}

static void fnVersion(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argv;
  if( argc!=0 ){
    fnError(ctx, SQLITE_ERROR, "kvstore_version: wrong number of arguments; "
            "usage: kvstore_version()");
    return;
  }
  sqlite3_result_text(ctx, kv_version(), -1, SQLITE_STATIC);
}

int kvextFunctionsInit(sqlite3 *db){
  static const struct {
    const char *zName;
    void (*xFunc)(sqlite3_context*, int, sqlite3_value**);
    int bFiles;                 /* touches the store: direct use only */
  } aFunc[] = {
    { "kvstore_compact", fnCompact, 1 },
    { "kvstore_flush",   fnFlush,   1 },
    { "kvstore_stats",   fnStats,   1 },
    { "kvstore_verify",  fnVerify,  1 },
    { "kvstore_merkle",  fnMerkle,  1 },
    { "kvstore_repair",  fnRepair,  1 },
    { "kvstore_version", fnVersion, 0 },
  };
  size_t i;
  int rc = SQLITE_OK;
  for(i=0; rc==SQLITE_OK && i<sizeof(aFunc)/sizeof(aFunc[0]); i++){
    int eFlags = SQLITE_UTF8 | (aFunc[i].bFiles ? SQLITE_DIRECTONLY
                                 : SQLITE_DETERMINISTIC|SQLITE_INNOCUOUS);
    /* nArg -1: the functions check their argument count themselves. */
    rc = sqlite3_create_function_v2(db, aFunc[i].zName, -1, eFlags, 0,
                                    aFunc[i].xFunc, 0, 0, 0);
  }
  return rc;
}
