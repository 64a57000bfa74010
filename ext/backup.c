/*
** backup.c - copies of kvstore stores and of whole databases
** (doc/backup.md).
**
**   SELECT kvstore_checkpoint('kv', 'kv-copy');  -- one store, detached
**   SELECT kvstore_backup('/backups/app.db');     -- database + its stores
**   SELECT kvstore_backup('/backups/aux.db', 'aux');
**
** kvstore_checkpoint(t, dir) writes an online, consistent copy of table
** t's store (kv_checkpoint: hard links where possible) into dir, resolved
** like dir= (against the folder of t's database file), with an OWNER file
** in state "detached": CREATE VIRTUAL TABLE u USING kvstore(dir=...) in
** any database adopts it. dir must not exist or be empty.
**
** kvstore_backup(dest [, schema]) copies the database file of schema
** (main by default) with SQLite's backup API, in steps of BACKUP_STEP_PAGES
** pages (the interrupt is checked between them); SQLite restarts the copy
** when another connection writes the source between two steps, so the
** copy is one snapshot, the source as of its last step (after three
** restarts, the rest goes in one step, under one read lock, so a busy
** writer cannot keep it from finishing). Then, and only then, it
** checkpoints the store
** of every kvstore table of that schema to where the copy's table looks
** for it (same relative layout), with a fresh identity written both into
** the store's OWNER and into the copy's shadow rows, so the copy opens
** from any folder. A store copy taken after the database snapshot holds
** everything the snapshot committed (and possibly later batches: the
** commit horizon of the copy's shadow table revokes those at open).
**
** Both return JSON {"files":N,"bytes":N,"ms":N}, build everything under
** temporary names and leave nothing behind when they fail. Both are
** SQLITE_DIRECTONLY (they write files).
**
** Both stop promptly on sqlite3_interrupt() (KvextWatch: checked after
** each SSTable linked or read back, each 64 KiB copied, and each step of
** the database copy) with SQLITE_INTERRUPT, leaving nothing behind, and
** show their progress meanwhile in kvstore_stats(t) of each table they
** copy: "checkpoint" and "backup", bytes done of bytes planned
** (kvextCopyProgress).
*/
#include "kvext.h"
#include "../kvconfine.h"
SQLITE_EXTENSION_INIT3

#include "../kvowner.h"
#include "../kvshadow.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static sqlite3_int64 nowMs(void){
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (sqlite3_int64)t.tv_sec*1000 + t.tv_nsec/1000000;
}

static const char *baseName(const char *zPath){
  const char *z = strrchr(zPath, '/');
  return z ? z+1 : zPath;
}
/* zRel resolved against folder zFolder ("" = as given). */
static char *joinPath(const char *zFolder, const char *zRel){
  if( zRel[0]=='/' || zFolder[0]==0 ) return sqlite3_mprintf("%s", zRel);
  if( strcmp(zFolder, "/")==0 ) return sqlite3_mprintf("/%s", zRel);
  return sqlite3_mprintf("%s/%s", zFolder, zRel);
}

/* Add the "files" and "bytes" of kv_checkpoint's JSON to the totals. */
static void addCounts(const char *zJson, sqlite3_int64 *pnFile,
                      sqlite3_int64 *pnByte){
  const char *z;
  if( zJson==0 ) return;
  if( (z = strstr(zJson, "\"files\":"))!=0 ) *pnFile += atoll(z+8);
  if( (z = strstr(zJson, "\"bytes\":"))!=0 ) *pnByte += atoll(z+8);
}

/* Does zDir exist and hold anything (or is it not a directory)? */
static int dirNonEmpty(const char *zDir){
  struct stat st;
  DIR *d;
  struct dirent *e;
  int bAny = 0;
  if( stat(zDir, &st)!=0 ) return 0;
  if( !S_ISDIR(st.st_mode) ) return 1;
  d = opendir(zDir);
  if( d==0 ) return 1;
  while( !bAny && (e = readdir(d))!=0 ){
    if( strcmp(e->d_name, ".")!=0 && strcmp(e->d_name, "..")!=0 ) bAny = 1;
  }
  closedir(d);
  return bAny;
}

/* ---------------------------------------------------------------------- */
/* Progress of the copies running in this process, for kvstore_stats.      */

typedef struct BkJob BkJob;
struct BkJob {
  int bBackup;                  /* kvstore_backup (else kvstore_checkpoint) */
  kv_db **apKv;                 /* the stores it copies (not owned) */
  int nKv;
  sqlite3_uint64 nDone, nPlanned;   /* bytes (jobMutex) */
  BkJob *pNext;                 /* list of running jobs (jobMutex) */
};
static pthread_mutex_t jobMutex = PTHREAD_MUTEX_INITIALIZER;
static BkJob *pJobList = 0;

static void jobStart(BkJob *p){
  pthread_mutex_lock(&jobMutex);
  p->pNext = pJobList;
  pJobList = p;
  pthread_mutex_unlock(&jobMutex);
}
static void jobSet(BkJob *p, sqlite3_uint64 nDone, sqlite3_uint64 nPlanned){
  pthread_mutex_lock(&jobMutex);
  p->nDone = nDone;
  p->nPlanned = nPlanned<nDone ? nDone : nPlanned;
  pthread_mutex_unlock(&jobMutex);
}
static void jobEnd(BkJob *p){
  BkJob **pp;
  pthread_mutex_lock(&jobMutex);
  for(pp=&pJobList; *pp; pp=&(*pp)->pNext){
    if( *pp==p ){ *pp = p->pNext; break; }
  }
  pthread_mutex_unlock(&jobMutex);
}

char *kvextCopyProgress(kv_db *pKv){
  sqlite3_uint64 aDone[2] = {0, 0}, aPlanned[2] = {0, 0};
  int anRun[2] = {0, 0};
  BkJob *p;
  int i;
  pthread_mutex_lock(&jobMutex);
  for(p=pJobList; p; p=p->pNext){
    for(i=0; i<p->nKv && p->apKv[i]!=pKv; i++){}
    if( i<p->nKv ){
      anRun[p->bBackup]++;
      aDone[p->bBackup] += p->nDone;
      aPlanned[p->bBackup] += p->nPlanned;
    }
  }
  pthread_mutex_unlock(&jobMutex);
  return sqlite3_mprintf("\"checkpoint\":{\"running\":%d,\"progress\":"
      "{\"bytes_done\":%llu,\"bytes_planned\":%llu}},\"backup\":{\"running\":"
      "%d,\"progress\":{\"bytes_done\":%llu,\"bytes_planned\":%llu}}",
      anRun[0], aDone[0], aPlanned[0], anRun[1], aDone[1], aPlanned[1]);
}

/* The kv_progress_fn given to kv_checkpoint_progress: publish the job's
** progress (the store's figures after nBase bytes of earlier work, with
** nRest bytes still to come after it) and say whether to stop. */
typedef struct BkWatch BkWatch;
struct BkWatch {
  KvextWatch w;
  BkJob *pJob;
  sqlite3_uint64 nBase;         /* bytes done before this store */
  sqlite3_uint64 nRest;         /* bytes planned after it */
};
static int bkProgress(void *pArg, uint64_t nDone, uint64_t nPlanned){
  BkWatch *p = (BkWatch*)pArg;
  jobSet(p->pJob, p->nBase + nDone, p->nBase + nPlanned + p->nRest);
  return kvextWatchInterrupted(&p->w);
}

/* Bytes of the live SSTables of pKv, twice (what kv_checkpoint_progress
** plans for them: written, then read back); 0 if unknown. */
static sqlite3_uint64 storePlan(kv_db *pKv){
  kv_sstable_info *aInfo = 0;
  int nInfo = 0, i;
  sqlite3_uint64 n = 0;
  if( kv_sstables(pKv, &aInfo, &nInfo)==KV_OK ){
    for(i=0; i<nInfo; i++) n += 2*aInfo[i].nByte;
  }
  kv_free(aInfo);
  return n;
}

/* ---------------------------------------------------------------------- */
/* OWNER of a copy, written by kv_checkpoint's xExtra into its temporary
** directory. */

typedef struct OwnerCtx OwnerCtx;
struct OwnerCtx {
  KvOwner owner;              /* what to write (zDbPath filled in here when
                              ** zDbTmp is set) */
  const char *zDbTmp;         /* the copy's database under its temporary
                              ** name, beside its final name */
  const char *zDbFinal;       /* its final name */
  char *zErr;                 /* why xExtra failed (sqlite3_malloc) */
};

static int ownerExtra(void *pCtx, const char *zTmpDir){
  OwnerCtx *p = (OwnerCtx*)pCtx;
  int rc = SQLITE_OK;
  if( p->zDbTmp ){
    /* The path from the store to the database: the temporary directory
    ** and the temporary database file sit beside their final names, so
    ** only the last component changes. */
    char *zRel = 0;
    rc = kvownerDbPath(zTmpDir, p->zDbTmp, &zRel, &p->zErr);
    if( rc==SQLITE_OK ){
      size_t nRel = strlen(zRel), nTmp = strlen(baseName(p->zDbTmp));
      if( nRel<nTmp || strcmp(zRel+nRel-nTmp, baseName(p->zDbTmp))!=0 ){
        p->zErr = sqlite3_mprintf("kvstore: cannot place the database copy "
                                  "'%s' relative to its store", p->zDbFinal);
        rc = SQLITE_ERROR;
      }else{
        sqlite3_free(p->owner.zDbPath);
        p->owner.zDbPath = sqlite3_mprintf("%.*s%s", (int)(nRel - nTmp), zRel,
                                           baseName(p->zDbFinal));
        if( p->owner.zDbPath==0 ) rc = SQLITE_NOMEM;
      }
    }
    sqlite3_free(zRel);
  }
  if( rc==SQLITE_OK ) rc = kvownerWrite(zTmpDir, &p->owner, 0, &p->zErr);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* kvstore_checkpoint(t, dir) */

/* Apply what other processes committed to t's store, up to the horizon
** the database holds now (the copy of the store must hold at least what
** the copy of the database committed; a later batch is revoked when the
** copy opens). One process alone: nothing to do, no system call. */
static int catchUpTable(sqlite3 *db, const char *zSchema, const char *zTable,
                        kv_db *pKv, char **pzErr){
  sqlite3_int64 iH = 0;
  int bFound = 0;
  int rc = kvshadowGetHorizon(db, zSchema, zTable, &iH, &bFound, pzErr);
  if( rc==SQLITE_OK && bFound && kv_catch_up(pKv, (uint64_t)iH)!=KV_OK ){
    rc = SQLITE_IOERR;
  }
  return rc;
}

/* unlink() of zBase with zSuffix appended. Cleanup after a failure,
** which may be SQLite's allocator failing: its paths come from malloc(). */
static void unlinkSuffixed(const char *zBase, const char *zSuffix){
  size_t n = strlen(zBase) + strlen(zSuffix) + 1;
  char *z = malloc(n);
  if( z ){
    snprintf(z, n, "%s%s", zBase, zSuffix);
    unlink(z);
    free(z);
  }
}

/* Remove a store copy made by this checkpoint or backup (after a later
** failure): its identity files, the store, the directory. */
static void removeStoreCopy(const char *zDir){
  char *zErr = 0;
  kvownerRemove(zDir, &zErr);
  sqlite3_free(zErr);
  kv_destroy(zDir);
  rmdir(zDir);
}

static void checkpointFunc(sqlite3_context *ctx, int argc,
                           sqlite3_value **argv){
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  KvvtabStore info;
  OwnerCtx oc;
  char *zErr = 0, *zDest = 0, *zFolder = 0, *zJson = 0;
  const char *zDbFile;
  sqlite3_int64 t0 = nowMs();
  int rc;

  memset(&oc, 0, sizeof(oc));
  memset(&info, 0, sizeof(info));
  if( argc!=2 || sqlite3_value_type(argv[0])!=SQLITE_TEXT
   || sqlite3_value_type(argv[1])!=SQLITE_TEXT ){
    kvvtabResultError(ctx, SQLITE_ERROR, "kvstore_checkpoint: usage: "
            "kvstore_checkpoint(table, dir), both text");
    return;
  }
  rc = kvvtabStoreInfo(db, (const char*)sqlite3_value_text(argv[0]), &info,
                       &zErr);
  if( rc==SQLITE_OK ){
    zDbFile = kvownerDbFile(db, info.zSchema);
    zFolder = kvownerFolderOf(zDbFile ? zDbFile : "");
    zDest = zFolder ? joinPath(zFolder, (const char*)sqlite3_value_text(argv[1]))
                    : 0;
    oc.owner.eState = KVOWNER_DETACHED;
    oc.owner.zStoreId = kvownerNewId();
    oc.owner.zTable = sqlite3_mprintf("%s", info.zTable);
    oc.owner.zDbPath = sqlite3_mprintf("");
    oc.owner.bMadeDir = 1;
    if( !zDest || !oc.owner.zStoreId || !oc.owner.zTable
     || !oc.owner.zDbPath ){
      rc = SQLITE_NOMEM;
    }
  }
  if( rc==SQLITE_OK ){
    rc = kvconfineCheck(db, "checkpoint directory", zDest, 1, &zErr);
  }
  if( rc==SQLITE_OK ){
    BkJob job;
    BkWatch bw;
    memset(&job, 0, sizeof(job));
    memset(&bw, 0, sizeof(bw));
    job.apKv = &info.pKv;
    job.nKv = 1;
    bw.pJob = &job;
    kvextWatchInit(&bw.w, db);
    jobStart(&job);
    rc = catchUpTable(db, info.zSchema, info.zTable, info.pKv, &zErr);
    if( rc==SQLITE_OK ){
      rc = kv_checkpoint_progress(info.pKv, zDest, ownerExtra, &oc,
                                  bkProgress, &bw, &zJson);
    }
    jobEnd(&job);
    kvextWatchFinish(&bw.w);
    if( rc!=SQLITE_OK && zErr==0 ){
      zErr = oc.zErr ? sqlite3_mprintf("%s", oc.zErr)
                     : kvvtabEngineMsg(rc, "kv_checkpoint");
    }
  }
  if( rc==SQLITE_OK ){
    sqlite3_int64 nFile = 1, nByte = 0;      /* OWNER counted */
    char *z;
    addCounts(zJson, &nFile, &nByte);
    z = sqlite3_mprintf("{\"files\":%lld,\"bytes\":%lld,\"ms\":%lld}",
                        nFile, nByte, nowMs() - t0);
    if( z ){
      sqlite3_result_text(ctx, z, -1, sqlite3_free);
    }else{
      /* A checkpoint that reports a failure is not there. */
      removeStoreCopy(zDest);
      sqlite3_result_error_nomem(ctx);
    }
  }else{
    kvvtabResultError(ctx, rc, zErr);
  }
  kv_free(zJson);
  sqlite3_free(zErr);
  sqlite3_free(oc.zErr);
  sqlite3_free(zDest);
  sqlite3_free(zFolder);
  sqlite3_free(info.zDirOpt);
  kvownerClear(&oc.owner);
}

/* ---------------------------------------------------------------------- */
/* kvstore_backup(dest [, schema]) */

/* Would the listing below miss tables because an authorizer answers
** SQLITE_IGNORE for sqlite_schema's columns (read as NULL)? count(*)
** reads no column; type and name are never NULL, and a schema with rows
** has some sql. *pRc gets a failure of the check itself. */
static int schemaHidden(sqlite3 *db, const char *zSchema, int *pRc){
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf("SELECT count(*)>count(type) OR "
      "count(*)>count(name) OR (count(*)>0 AND count(sql)=0) "
      "FROM \"%w\".sqlite_schema", zSchema);
  int bHidden = 0;
  int rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  if( rc==SQLITE_OK ){
    rc = sqlite3_step(pStmt);
    if( rc==SQLITE_ROW ){
      bHidden = sqlite3_column_int(pStmt, 0);
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(pStmt);
  *pRc = rc;
  return bHidden;
}

/* Pages of the database copied per step of kvstore_backup (4 MiB with
** 16 KiB pages): a step is the longest the interrupt waits for. */
#define BACKUP_STEP_PAGES 256

typedef struct BkStore BkStore;
struct BkStore {
  char *zTable;
  kv_db *pKv;
  kv_snapshot *pKeep;         /* from before the database copy until the
                              ** store is copied (kv_snapshot_keep) */
  sqlite3_uint64 nPlan;       /* progress bytes planned for it (storePlan) */
  char *zDest;                /* where the copy's table looks */
  int bDone;                  /* written: remove it if a later step fails */
  KvOwner owner;              /* its identity in the copy */
};

static void removeDbFiles(const char *zPath){
  static const char *const azSuffix[] = { "", "-journal", "-wal", "-shm" };
  size_t i;
  for(i=0; i<sizeof(azSuffix)/sizeof(azSuffix[0]); i++){
    unlinkSuffixed(zPath, azSuffix[i]);
  }
}

static void backupFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *zSchema = "main";
  const char *zDest;
  const char *zDbFile;
  char *zTmp = 0, *zFolder = 0, *zErr = 0, *zResult = 0;
  sqlite3 *pCopy = 0;
  sqlite3_stmt *pStmt = 0;
  BkStore *aStore = 0;
  int nStore = 0, i;
  int bMadeTmp = 0;           /* zTmp is ours to remove on failure */
  sqlite3_int64 t0 = nowMs(), nFile = 1, nByte = 0;
  int rc = SQLITE_OK;
  BkJob job;                  /* this backup's progress, for kvstore_stats */
  BkWatch bw;                 /* ... and its watch for sqlite3_interrupt */
  kv_db **apKv = 0;
  sqlite3_uint64 nDbBytes = 0, nStorePlan = 0, nStoreDone = 0;
  int bJob = 0;

  memset(&job, 0, sizeof(job));
  memset(&bw, 0, sizeof(bw));
  kvextWatchInit(&bw.w, db);
  job.bBackup = 1;
  bw.pJob = &job;

  if( argc<1 || argc>2 || sqlite3_value_type(argv[0])!=SQLITE_TEXT
   || (argc==2 && sqlite3_value_type(argv[1])!=SQLITE_TEXT) ){
    kvvtabResultError(ctx, SQLITE_ERROR, "kvstore_backup: usage: "
            "kvstore_backup(dest [, schema]), text arguments");
    return;
  }
  zDest = (const char*)sqlite3_value_text(argv[0]);
  if( argc==2 ) zSchema = (const char*)sqlite3_value_text(argv[1]);
  zDbFile = sqlite3_db_filename(db, zSchema);
  if( zDbFile==0 ){
    zErr = sqlite3_mprintf("kvstore_backup: no such schema: '%s'", zSchema);
    rc = SQLITE_ERROR;
  }else if( kvownerDbFile(db, zSchema)==0 ){
    zErr = sqlite3_mprintf("kvstore_backup: schema '%s' has no database file "
                           "(in-memory, temporary or memdb): nothing to copy "
                           "its stores beside", zSchema);
    rc = SQLITE_ERROR;
  }else if( !sqlite3_get_autocommit(db) ){
    zErr = sqlite3_mprintf("kvstore_backup: cannot run inside a transaction "
                           "(its uncommitted writes would be copied); COMMIT "
                           "first");
    rc = SQLITE_ERROR;
  }else if( zDest[0]==0 || access(zDest, F_OK)==0 ){
    zErr = sqlite3_mprintf("kvstore_backup: destination '%s' exists; "
                           "name a new file", zDest);
    rc = SQLITE_ERROR;
  }else{
    rc = kvconfineCheck(db, "backup destination", zDest, 1, &zErr);
  }
  if( rc==SQLITE_OK ){
    zTmp = sqlite3_mprintf("%s.kvbackup-tmp", zDest);
    zFolder = kvownerFolderOf(zDest);
    if( zTmp==0 || zFolder==0 ) rc = SQLITE_NOMEM;
  }
  if( rc==SQLITE_OK && access(zTmp, F_OK)==0 ){
    zErr = sqlite3_mprintf("kvstore_backup: '%s' exists (an interrupted "
                           "backup?): remove it first", zTmp);
    rc = SQLITE_ERROR;
  }

  /* The kvstore tables of the schema and where their copies go. Nothing
  ** is written before every table is known to have a place. */
  if( rc==SQLITE_OK ){
    int bHidden = schemaHidden(db, zSchema, &rc);
    if( bHidden || (rc!=SQLITE_OK && rc!=SQLITE_NOMEM) ){
      zErr = sqlite3_mprintf("kvstore_backup: cannot list the kvstore "
          "tables of %s: %s", zSchema, bHidden ? "an authorizer "
          "(sqlite3_set_authorizer) hides columns of sqlite_schema "
          "(SQLITE_IGNORE), and the copy would lack their stores"
          : kvshadowErrmsg(db, rc));
      if( bHidden ) rc = SQLITE_AUTH;
    }
  }
  if( rc==SQLITE_OK ){
    char *zSql = sqlite3_mprintf("SELECT name FROM \"%w\".sqlite_schema "
        "WHERE type='table' AND sql LIKE 'CREATE%%VIRTUAL%%TABLE%%USING%%"
        "kvstore%%' ORDER BY name", zSchema);
    rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  while( rc==SQLITE_OK ){
    const char *zName;
    char *zQual;
    KvvtabStore info;
    BkStore *pS;
    char *zWhy = 0;
    int rcStep = sqlite3_step(pStmt);
    if( rcStep!=SQLITE_ROW ){
      /* A failed step must not pass for the end of the list: the copy
      ** would lack the stores of the tables not listed yet. */
      if( rcStep!=SQLITE_DONE ){
        rc = rcStep;
        zErr = sqlite3_mprintf("kvstore_backup: listing the kvstore tables "
                               "of %s: %s", zSchema, kvshadowErrmsg(db, rc));
      }
      break;
    }
    zName = (const char*)sqlite3_column_text(pStmt, 0);
    /* Quoted: a dot or quote in either name must not split it. */
    zQual = zName ? sqlite3_mprintf("\"%w\".\"%w\"", zSchema, zName) : 0;
    if( zQual==0 ){ rc = SQLITE_NOMEM; break; }
    rc = kvvtabStoreInfo(db, zQual, &info, &zWhy);
    sqlite3_free(zQual);
    if( rc!=SQLITE_OK ){
      if( zWhy && strstr(zWhy, "is not a kvstore table") ){
        sqlite3_free(zWhy);          /* another module's table */
        rc = SQLITE_OK;
        continue;
      }
      zErr = sqlite3_mprintf("kvstore_backup: table %s: %s", zName,
                             zWhy ? zWhy : sqlite3_errstr(rc));
      sqlite3_free(zWhy);
      break;
    }
    pS = sqlite3_realloc64(aStore, sizeof(BkStore)*(nStore+1));
    if( pS==0 ){ sqlite3_free(info.zDirOpt); rc = SQLITE_NOMEM; break; }
    aStore = pS;
    pS = &aStore[nStore++];
    memset(pS, 0, sizeof(*pS));
    pS->pKv = info.pKv;
    /* The store copy, made after the database's, may hold later batches,
    ** which its horizon revokes at open: the versions they overwrote must
    ** be in it, so compaction keeps every version from now on until the
    ** store is copied (the code before could copy a store whose newest
    ** version at the horizon a compaction had just dropped). */
    pS->pKeep = kv_snapshot_keep(info.pKv);
    if( pS->pKeep==0 ){ sqlite3_free(info.zDirOpt); rc = SQLITE_NOMEM; break; }
    pS->zTable = sqlite3_mprintf("%s", info.zTable);
    if( info.bDefaultDir ){
      pS->zDest = kvownerDefaultDir(zDest, info.zTable);
    }else if( info.zDirOpt && info.zDirOpt[0]!='/' ){
      pS->zDest = joinPath(zFolder, info.zDirOpt);
    }else{
      zErr = sqlite3_mprintf("kvstore_backup: table %s keeps its store at the "
          "absolute path '%s', where the copy's table would look too (the "
          "original's store): copy it with kvstore_checkpoint('%s', dir) and "
          "adopt it, or give the table a relative dir=", info.zTable,
          info.zDir, info.zTable);
      rc = SQLITE_ERROR;
    }
    sqlite3_free(info.zDirOpt);
    if( rc==SQLITE_OK && (pS->zTable==0 || pS->zDest==0) ) rc = SQLITE_NOMEM;
    if( rc==SQLITE_OK ){
      rc = kvconfineCheck(db, "backup store directory", pS->zDest, 1,
                          &zErr);
    }
    if( rc==SQLITE_OK && dirNonEmpty(pS->zDest) ){
      zErr = sqlite3_mprintf("kvstore_backup: the store of table %s would go "
          "to '%s', which exists and is not empty", pS->zTable, pS->zDest);
      rc = SQLITE_ERROR;
    }
  }
  sqlite3_finalize(pStmt);
  pStmt = 0;

  /* The progress shown in each table's kvstore_stats: the database's
  ** bytes, then each store's. */
  if( rc==SQLITE_OK ){
    apKv = sqlite3_malloc64(sizeof(kv_db*)*(nStore+1));
    if( apKv==0 ) rc = SQLITE_NOMEM;
  }
  if( rc==SQLITE_OK ){
    for(i=0; i<nStore; i++){
      apKv[i] = aStore[i].pKv;
      aStore[i].nPlan = storePlan(aStore[i].pKv);
      nStorePlan += aStore[i].nPlan;
    }
    job.apKv = apKv;
    job.nKv = nStore;
    jobStart(&job);
    bJob = 1;
    jobSet(&job, 0, nStorePlan);
  }

  /* 1. The database, in steps (one snapshot: see the top of the file). */
  if( rc==SQLITE_OK ){
    bMadeTmp = 1;
    rc = sqlite3_open_v2(zTmp, &pCopy, SQLITE_OPEN_READWRITE
                         | SQLITE_OPEN_CREATE, 0);
    if( rc==SQLITE_OK ){
      sqlite3_backup *pB = sqlite3_backup_init(pCopy, "main", db, zSchema);
      if( pB==0 ){
        rc = sqlite3_errcode(pCopy);
      }else{
        /* A writer of a rollback-journal database can hold the lock for
        ** a while: wait for it up to about 10 s. */
        int rcStep, nTry = 0, nStep = BACKUP_STEP_PAGES;
        int nRestart = 0, nLastLeft = -1;
        sqlite3_int64 szPage = 0;
        {
          char *zSql = sqlite3_mprintf("PRAGMA \"%w\".page_size", zSchema);
          sqlite3_stmt *pPg = 0;
          if( zSql && sqlite3_prepare_v2(db, zSql, -1, &pPg, 0)==SQLITE_OK
           && sqlite3_step(pPg)==SQLITE_ROW ){
            szPage = sqlite3_column_int64(pPg, 0);
          }
          sqlite3_finalize(pPg);
          sqlite3_free(zSql);
        }
        while( 1 ){
          rcStep = sqlite3_backup_step(pB, nStep);
          if( rcStep==SQLITE_OK || rcStep==SQLITE_DONE ){
            int nTotal = sqlite3_backup_pagecount(pB);
            int nLeft = sqlite3_backup_remaining(pB);
            if( nLastLeft>=0 && nLeft>nLastLeft && ++nRestart>=3 ) nStep = -1;
            nLastLeft = nLeft;
            nDbBytes = (sqlite3_uint64)nTotal*szPage;
            jobSet(&job, (sqlite3_uint64)(nTotal-nLeft)*szPage,
                   nDbBytes + nStorePlan);
          }
          if( rcStep==SQLITE_DONE ) break;
          if( kvextWatchInterrupted(&bw.w) ){
            rcStep = SQLITE_INTERRUPT;
            break;
          }
          if( rcStep==SQLITE_BUSY || rcStep==SQLITE_LOCKED ){
            if( ++nTry>=1000 ) break;
            sqlite3_sleep(10);
          }else if( rcStep!=SQLITE_OK ){
            break;
          }
        }
        rc = sqlite3_backup_finish(pB);
        if( rcStep!=SQLITE_DONE ) rc = rcStep;
        if( rc==SQLITE_INTERRUPT ){
          zErr = sqlite3_mprintf("kvstore_backup: interrupted while copying "
                                 "the database; nothing was written");
        }
      }
    }
    if( rc!=SQLITE_OK && zErr==0 ){
      zErr = sqlite3_mprintf("kvstore_backup: copying the database to '%s' "
                             "failed: %s", zTmp, pCopy ? sqlite3_errmsg(pCopy)
                             : sqlite3_errstr(rc));
    }
  }

  /* 2. The stores, after the snapshot: each holds at least what it
  ** committed. Identities are fresh: the copy is not the original. */
  for(i=0; rc==SQLITE_OK && i<nStore; i++){
    BkStore *pS = &aStore[i];
    OwnerCtx oc;
    char *zJson = 0;
    memset(&oc, 0, sizeof(oc));
    oc.owner.eState = KVOWNER_OWNED;
    oc.owner.zStoreId = kvownerNewId();
    oc.owner.zTable = sqlite3_mprintf("%s", pS->zTable);
    oc.owner.bMadeDir = 1;
    oc.zDbTmp = zTmp;
    oc.zDbFinal = zDest;
    if( oc.owner.zStoreId==0 || oc.owner.zTable==0 ) rc = SQLITE_NOMEM;
    if( rc==SQLITE_OK ){
      char *zBad = 0;
      nStorePlan -= pS->nPlan;
      bw.nBase = nDbBytes + nStoreDone;
      bw.nRest = nStorePlan;
      rc = catchUpTable(db, zSchema, pS->zTable, pS->pKv, &zBad);
      if( rc==SQLITE_OK ){
        rc = kv_checkpoint_progress(pS->pKv, pS->zDest, ownerExtra, &oc,
                                    bkProgress, &bw, &zJson);
      }
      nStoreDone = job.nDone - nDbBytes;
      if( rc!=SQLITE_OK ){
        char *zEng = (oc.zErr || zBad) ? 0
                                       : kvvtabEngineMsg(rc, "kv_checkpoint");
        zErr = sqlite3_mprintf("kvstore_backup: table %s: %s", pS->zTable,
                               zBad ? zBad : oc.zErr ? oc.zErr
                                    : zEng ? zEng : "");
        sqlite3_free(zEng);
        sqlite3_free(zBad);
      }
    }
    if( rc==SQLITE_OK ){
      pS->bDone = 1;
      addCounts(zJson, &nFile, &nByte);
      nFile++;                                  /* OWNER */
    }
    pS->owner = oc.owner;                       /* freed below */
    kv_free(zJson);
    sqlite3_free(oc.zErr);
  }

  /* 3. The copy's shadow rows name the copies' identities. */
  for(i=0; rc==SQLITE_OK && i<nStore; i++){
    rc = kvownerShadowWrite(pCopy, "main", aStore[i].zTable, &aStore[i].owner);
    if( rc!=SQLITE_OK ){
      zErr = sqlite3_mprintf("kvstore_backup: writing the identity of table "
                             "%s into '%s': %s", aStore[i].zTable, zTmp,
                             kvshadowErrmsg(pCopy, rc));
    }
  }
  if( pCopy ){
    int rc2 = sqlite3_close(pCopy);
    if( rc==SQLITE_OK && rc2!=SQLITE_OK ){
      rc = rc2;
      zErr = sqlite3_mprintf("kvstore_backup: closing '%s' failed", zTmp);
    }
    pCopy = 0;
  }

  /* 4. Publish the database under its name. */
  if( rc==SQLITE_OK ){
    struct stat st;
    int fd = open(zTmp, O_RDONLY);
    if( fd<0 || fsync(fd)!=0 || fstat(fd, &st)!=0 ){
      zErr = sqlite3_mprintf("kvstore_backup: fsync of '%s' failed: %s",
                             zTmp, strerror(errno));
      rc = SQLITE_IOERR;
    }else{
      nByte += st.st_size;
    }
    if( fd>=0 ) close(fd);
  }
  /* The result before the rename: a backup that reports a failure is
  ** not there. */
  if( rc==SQLITE_OK ){
    zResult = sqlite3_mprintf("{\"files\":%lld,\"bytes\":%lld,\"ms\":%lld}",
                              nFile, nByte, nowMs() - t0);
    if( zResult==0 ) rc = SQLITE_NOMEM;
  }
  if( rc==SQLITE_OK && rename(zTmp, zDest)!=0 ){
    zErr = sqlite3_mprintf("kvstore_backup: rename of '%s' to '%s' failed: "
                           "%s", zTmp, zDest, strerror(errno));
    rc = SQLITE_IOERR;
  }
  if( rc==SQLITE_OK ) kvownerSyncDir(zFolder);

  if( rc==SQLITE_OK ){
    sqlite3_result_text(ctx, zResult, -1, sqlite3_free);
    zResult = 0;
  }else{
    if( pCopy ) sqlite3_close(pCopy);
    if( bMadeTmp ) removeDbFiles(zTmp);
    for(i=0; i<nStore; i++){
      if( aStore[i].bDone ) removeStoreCopy(aStore[i].zDest);
    }
    kvvtabResultError(ctx, rc, zErr ? zErr : 0);
  }
  if( bJob ) jobEnd(&job);
  kvextWatchFinish(&bw.w);
  sqlite3_free(apKv);
  for(i=0; i<nStore; i++){
    if( aStore[i].pKeep ) kv_snapshot_free(aStore[i].pKv, aStore[i].pKeep);
    sqlite3_free(aStore[i].zTable);
    sqlite3_free(aStore[i].zDest);
    kvownerClear(&aStore[i].owner);
  }
  sqlite3_free(aStore);
  sqlite3_free(zErr);
  sqlite3_free(zResult);
  sqlite3_free(zTmp);
  sqlite3_free(zFolder);
}

int kvextBackupInit(sqlite3 *db){
  /* They write files: never from a trigger or view of a database file. */
  int eFlags = SQLITE_UTF8 | SQLITE_DIRECTONLY;
  int rc = sqlite3_create_function_v2(db, "kvstore_checkpoint", 2, eFlags, 0,
                                      checkpointFunc, 0, 0, 0);
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_function_v2(db, "kvstore_backup", -1, eFlags, 0,
                                    backupFunc, 0, 0, 0);
  }
  return rc;
}
