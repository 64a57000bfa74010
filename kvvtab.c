/*
** kvvtab.c - the `kvstore` SQLite virtual table (the extension's entry
** point, which registers it, is in kvstore.c).
**
** Usage, from the sqlite3 shell:
**
**   .load ./kvstore
**   CREATE VIRTUAL TABLE kv USING kvstore(dir='kv-data', key_type=text);
**   INSERT INTO kv(key, value) VALUES ('user:1', 'alice');
**   SELECT value FROM kv WHERE key = 'user:1';
**   SELECT * FROM kv WHERE key >= 'user:' AND key < 'user;' ORDER BY key;
**   DELETE FROM kv WHERE key = 'user:1';
**
** Every CREATE argument is `name=value` and goes through kv_options_set();
** the table is declared as
**
**   CREATE TABLE x(key <TEXT|BLOB|INTEGER> PRIMARY KEY NOT NULL, value,
**                  kvstore_command HIDDEN) WITHOUT ROWID
**
** (kvstore_command is NULL in every row; an INSERT that sets it is a
** command, kvrange.c)
**
** and its rows live in the LSM engine of engine/kv.h, one store (directory)
** per table. This file only translates between SQL and that API; it knows
** nothing of the engine's internals. Rows are encoded as kvrow.h
** describes (kvrow.c).
**
** TRANSACTIONS
**
** Writes go to a per-transaction batch, committed in two phases with the
** database; kvtxn.c holds that code and describes it.
**
** RATE LIMITER
**
** When the store has rate_limit set, every row the table reads or writes
** takes one token of the engine's bucket (kv_rate_acquire): each row a
** cursor lands on (xFilter's first row, each xNext's row, rows skipped for
** OFFSET included; a lookup that finds nothing takes none) and each call
** of xUpdate (one row inserted, updated or deleted, before any check, so
** a row then skipped by OR IGNORE counts too). Over the limit, the method
** fails with SQLITE_BUSY and SQLite undoes the statement.
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "kv.h"
#include "kvvtab.h"
#include "kvconfine.h"
#include "kvowner.h"
#include "kvshadow.h"
#include "kvrow.h"
#include "kvconfig.h"
#include "kvvtabInt.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

/* Process-wide list of KvConn (kvConnAcquire). */
static pthread_mutex_t kvConnMutex = PTHREAD_MUTEX_INITIALIZER;
static KvConn *kvConnList = 0;
static KvPager *kvPagerList = 0;    /* process-wide, under kvConnMutex */

/****************************************************************************
** Small helpers.
*/

/* Replace the error message of a table. The old one is freed first; the
** new one comes from sqlite3_mprintf because SQLite frees it. */
void kvvtabSetError(sqlite3_vtab *pVtab, const char *zFmt, ...){
  va_list ap;
  sqlite3_free(pVtab->zErrMsg);
  va_start(ap, zFmt);
  pVtab->zErrMsg = sqlite3_vmprintf(zFmt, ap);
  va_end(ap);
}

/* The message of a failed engine call (kvext.h): the engine's own, or,
** when it left none, one naming the operation. */
char *kvvtabEngineMsg(int rc, const char *zWhat){
  const char *zMsg = kv_errmsg(0);
  if( zMsg && zMsg[0] ) return sqlite3_mprintf("%s", zMsg);
  if( zWhat==0 ) return 0;
  return sqlite3_mprintf("kvstore: %s failed: %s", zWhat, sqlite3_errstr(rc));
}

void kvvtabResultError(sqlite3_context *ctx, int rc, const char *zMsg){
  if( zMsg==0 ){
    sqlite3_result_error(ctx, "kvstore: out of memory", -1);
    sqlite3_result_error_code(ctx, SQLITE_NOMEM);
    return;
  }
  sqlite3_result_error(ctx, zMsg, -1);
  sqlite3_result_error_code(ctx, rc==SQLITE_OK ? SQLITE_ERROR : rc);
}

/* Report a failed engine call: its code (numerically SQLite's) and
** kvvtabEngineMsg's message. */
int kvvtabEngineError(sqlite3_vtab *pVtab, int rc, const char *zWhat){
  assert( rc!=KV_OK && rc!=KV_NOTFOUND );
  sqlite3_free(pVtab->zErrMsg);
  pVtab->zErrMsg = kvvtabEngineMsg(rc, zWhat);
  return rc;
}

/****************************************************************************
** Per-connection state and private directories.
*/

/* Find or create the KvConn of db, raising its reference count. */
static KvConn *kvConnAcquire(sqlite3 *db){
  KvConn *p;
  pthread_mutex_lock(&kvConnMutex);
  for(p=kvConnList; p && p->db!=db; p=p->pNext){}
  if( p ){
    p->nRef++;
  }else{
    p = sqlite3_malloc(sizeof(*p));
    if( p ){
      memset(p, 0, sizeof(*p));
      p->db = db;
      p->nRef = 1;
      p->pNext = kvConnList;
      kvConnList = p;
    }
  }
  pthread_mutex_unlock(&kvConnMutex);
  return p;
}

KvConn *kvvtabConnOf(sqlite3 *db){
  KvConn *p;
  pthread_mutex_lock(&kvConnMutex);
  for(p=kvConnList; p && p->db!=db; p=p->pNext){}
  pthread_mutex_unlock(&kvConnMutex);
  return p;
}

/* Free a private directory's record, removing the directory if it is
** empty (a DROP emptied it) or, with bDestroy, its store's files first. */
static void privateDirFree(KvPrivateDir *p, int bDestroy){
  if( bDestroy ) kv_destroy(p->zDir);
  rmdir(p->zDir);
  sqlite3_free(p->zId);
  sqlite3_free(p->zDir);
  sqlite3_free(p);
}

/* Free a KvPager no connection holds any more (unlinked already): its
** private directories are removed, store files first. */
static void pagerFree(KvPager *p){
  KvPrivateDir *pDir, *pNextDir;
  for(pDir=p->pDirs; pDir; pDir=pNextDir){
    pNextDir = pDir->pNext;
    privateDirFree(pDir, 1);
  }
  sqlite3_free(p->zName);
  sqlite3_free(p);
}

/* Module destructor (the connection closes, every table is disconnected
** by then): the last release lets go of the databases' KvPager. */
static void kvConnRelease(void *pArg){
  KvConn *p = (KvConn*)pArg;
  KvConn **pp;
  KvPager *pFree = 0;
  int bLast, i;
  if( p==0 ) return;
  if( p->nRef==1 && p->pDrops ) kvvtabDropsSettle(p, 1);
  pthread_mutex_lock(&kvConnMutex);
  bLast = (--p->nRef==0);
  if( bLast ){
    for(pp=&kvConnList; *pp && *pp!=p; pp=&(*pp)->pNext){}
    if( *pp ) *pp = p->pNext;
    for(i=0; i<p->nPager; i++){
      KvPager *pPager = p->apPager[i];
      __atomic_store_n(&pPager->nConn, pPager->nConn-1, __ATOMIC_RELEASE);
      if( pPager->nConn==0 ){
        KvPager **ppPager;
        for(ppPager=&kvPagerList; *ppPager!=pPager;
            ppPager=&(*ppPager)->pNext){}
        *ppPager = pPager->pNext;
        pPager->pNext = pFree;
        pFree = pPager;
      }
    }
  }
  pthread_mutex_unlock(&kvConnMutex);
  if( !bLast ) return;
  while( pFree ){
    KvPager *pNext = pFree->pNext;
    pagerFree(pFree);
    pFree = pNext;
  }
  sqlite3_free(p->apPager);
  sqlite3_free(p);
}

/* Is p the KvPager of a pager with sqlite3_file pFile, or of the memdb
** database named zName (pagerJoin)? */
static int pagerIs(const KvPager *p, sqlite3_file *pFile, const char *zName){
  if( zName ) return p->zName && strcmp(p->zName, zName)==0;
  return pFile && p->zName==0 && p->pFile==pFile;
}

/* The KvPager of schema zSchema of pConn's connection, held by pConn from
** now on (joining it the first time). NULL when out of memory. */
static KvPager *pagerJoin(KvConn *pConn, const char *zSchema){
  const char *zFile = sqlite3_db_filename(pConn->db, zSchema);
  const char *zCache = zFile ? sqlite3_uri_parameter(zFile, "cache") : 0;
  const char *zName = 0;
  sqlite3_file *pFile = 0;
  KvPager *p;
  int i;
  if( sqlite3_file_control(pConn->db, zSchema, SQLITE_FCNTL_FILE_POINTER,
                           &pFile)!=SQLITE_OK ){
    pFile = 0;
  }
  if( zFile && zFile[0]=='/' && kvownerDbFile(pConn->db, zSchema)==0 ){
    /* A memdb database whose name begins with '/' is one for every
    ** connection of the process that opens the name, each through a
    ** pager of its own. */
    zName = zFile;
  }
  pthread_mutex_lock(&kvConnMutex);
  for(p=kvPagerList; p && !pagerIs(p, pFile, zName); p=p->pNext){}
  for(i=0; p && i<pConn->nPager && pConn->apPager[i]!=p; i++){}
  if( p && i<pConn->nPager ) goto join_out;       /* held already */
  {
    /* Room for the reference first: nothing to undo if there is none. */
    KvPager **ap = sqlite3_realloc64(pConn->apPager,
                                     sizeof(ap[0])*(pConn->nPager+1));
    if( ap==0 ){
      p = 0;
      goto join_out;
    }
    pConn->apPager = ap;
  }
  if( p==0 ){
    p = sqlite3_malloc(sizeof(*p));
    if( p==0 ) goto join_out;
    memset(p, 0, sizeof(*p));
    p->pFile = zName ? 0 : pFile;
    if( zName && (p->zName = sqlite3_mprintf("%s", zName))==0 ){
      sqlite3_free(p);
      p = 0;
      goto join_out;
    }
    /* Opened as a shared cache: the URI says so, or perhaps (an
    ** in-memory database, whose URI is not kept; not the temporary one,
    ** which is the connection's own). A shared cache asked for otherwise
    ** shows once a second connection joins. */
    p->bSharedCache = (zCache && sqlite3_stricmp(zCache, "shared")==0)
        || (zName==0 && (zFile==0 || zFile[0]==0)
            && sqlite3_stricmp(zSchema, "temp")!=0);
    p->pNext = kvPagerList;
    kvPagerList = p;
  }
  pConn->apPager[pConn->nPager++] = p;
  __atomic_store_n(&p->nConn, p->nConn+1, __ATOMIC_RELEASE);
  __atomic_store_n(&p->nJoin, p->nJoin+1, __ATOMIC_RELEASE);
join_out:
  pthread_mutex_unlock(&kvConnMutex);
  return p;
}

/* A copy (sqlite3_malloc) of the directory of private store zId of
** database pPager, or NULL with *pbMissing set when it has none. */
static char *privateDirFind(KvPager *pPager, const char *zId,
                            int *pbMissing){
  KvPrivateDir *p;
  char *zDir = 0;
  *pbMissing = 1;
  pthread_mutex_lock(&kvConnMutex);
  for(p=pPager->pDirs; p; p=p->pNext){
    if( strcmp(p->zId, zId)==0 ){
      *pbMissing = 0;
      zDir = sqlite3_mprintf("%s", p->zDir);
      break;
    }
  }
  pthread_mutex_unlock(&kvConnMutex);
  return zDir;
}

/* Forget (and remove from disk, if empty) private directory zId. */
static void privateDirDrop(KvPager *pPager, const char *zId){
  KvPrivateDir **pp, *p = 0;
  pthread_mutex_lock(&kvConnMutex);
  for(pp=&pPager->pDirs; *pp; pp=&(*pp)->pNext){
    if( strcmp((*pp)->zId, zId)==0 ){
      p = *pp;
      *pp = p->pNext;
      break;
    }
  }
  pthread_mutex_unlock(&kvConnMutex);
  if( p ) privateDirFree(p, 0);
}

/* Make a new private directory in database pPager for table zTable: its
** new id in *pzId and its path in *pzDir (copies, sqlite3_malloc). On
** failure returns SQLITE_NOMEM or SQLITE_CANTOPEN with *pzErr set. */
static int privateDirCreate(KvPager *pPager, const char *zTable,
                            char **pzId, char **pzDir, char **pzErr){
  const char *zTmp = getenv("TMPDIR");
  KvPrivateDir *p = sqlite3_malloc(sizeof(*p));
  int rc = SQLITE_NOMEM;
  if( zTmp==0 || zTmp[0]==0 ) zTmp = "/tmp";
  if( p ){
    memset(p, 0, sizeof(*p));
    p->zId = kvownerNewId();
    p->zDir = sqlite3_mprintf("%s/kvstore-XXXXXX", zTmp);
  }
  *pzId = (p && p->zId) ? sqlite3_mprintf("%s", p->zId) : 0;
  if( p==0 || p->zId==0 || p->zDir==0 || *pzId==0 ){
    *pzErr = sqlite3_mprintf("kvstore: out of memory");
    goto create_failed;
  }
  if( mkdtemp(p->zDir)==0 ){
    *pzErr = sqlite3_mprintf(
        "kvstore: cannot create a private directory %s for table %s: %s",
        p->zDir, zTable, strerror(errno));
    rc = SQLITE_CANTOPEN;
    goto create_failed;
  }
  *pzDir = sqlite3_mprintf("%s", p->zDir);
  if( *pzDir==0 ){
    rmdir(p->zDir);
    *pzErr = sqlite3_mprintf("kvstore: out of memory");
    goto create_failed;
  }
  pthread_mutex_lock(&kvConnMutex);
  p->pNext = pPager->pDirs;
  pPager->pDirs = p;
  pthread_mutex_unlock(&kvConnMutex);
  return SQLITE_OK;

create_failed:
  sqlite3_free(*pzId);
  *pzId = 0;
  if( p ){
    sqlite3_free(p->zId);
    sqlite3_free(p->zDir);
    sqlite3_free(p);
  }
  return rc;
}

int kvvtabPagerJoins(KvVtab *p){
  if( p->pPager==0 ) return -1;
  if( p->pPager->zName ) return 0;      /* pagers of their own */
  if( p->pPager->bSharedCache
   || __atomic_load_n(&p->pPager->nConn, __ATOMIC_ACQUIRE)>1 ){
    return -1;
  }
  return __atomic_load_n(&p->pPager->nJoin, __ATOMIC_ACQUIRE);
}

/****************************************************************************
** Constructors and destructors.
*/

/*
** The keys an UPDATE OR REPLACE deleted (KvVtab.aGone). SQLite computes
** every new row of a multi-row UPDATE of a virtual table first, then calls
** xUpdate row by row; an ordinary table skips a row that REPLACE has
** already deleted, so xUpdate skips an UPDATE of such a key too.
*/
void kvvtabGoneClear(KvVtab *p){
  int i;
  for(i=0; i<p->nGone; i++) sqlite3_free(p->aGone[i].a);
  p->nGone = 0;
}
/* Index of the first entry >= key a[0..n), and whether it is equal. */
static int goneFind(KvVtab *p, const u8 *a, int n, int *pbFound){
  int lo = 0, hi = p->nGone;
  *pbFound = 0;
  while( lo<hi ){
    int mid = (lo+hi)/2;
    int c = kvrowKeyCompare(p->aGone[mid].a, p->aGone[mid].n, a, n);
    if( c==0 ){ *pbFound = 1; return mid; }
    if( c<0 ) lo = mid+1; else hi = mid;
  }
  return lo;
}
static int goneAdd(KvVtab *p, const u8 *a, int n){
  int bFound;
  int i = goneFind(p, a, n, &bFound);
  u8 *aCopy;
  if( bFound ) return SQLITE_OK;
  if( p->nGone>=p->nGoneAlloc ){
    int nNew = p->nGoneAlloc ? p->nGoneAlloc*2 : 8;
    struct KvListKey *aNew = sqlite3_realloc64(p->aGone,
                                               sizeof(*aNew)*(u64)nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    p->aGone = aNew;
    p->nGoneAlloc = nNew;
  }
  aCopy = sqlite3_malloc(n ? n : 1);
  if( aCopy==0 ) return SQLITE_NOMEM;
  if( n ) memcpy(aCopy, a, n);
  memmove(&p->aGone[i+1], &p->aGone[i], sizeof(p->aGone[0])*(p->nGone-i));
  p->aGone[i].a = aCopy;
  p->aGone[i].n = n;
  p->nGone++;
  return SQLITE_OK;
}

static void vtabFree(KvVtab *p){
  KvVtab **pp;
  if( p==0 ) return;
  if( p->pConn ){
    for(pp=&p->pConn->pTabs; *pp && *pp!=p; pp=&(*pp)->pNextTab){}
    if( *pp ) *pp = p->pNextTab;
  }
  if( p->pKv ){
    if( p->iPrepSeq ) kv_abort_prepared(p->pKv, p->iPrepSeq);
    if( p->pSnap ) kv_snapshot_free(p->pKv, p->pSnap);
    if( p->bWriter ) kv_writer_release(p->pKv, p->db);
    /* A private store goes with its database: no compaction for it. */
    if( p->bPrivateDir ){
      kv_close_nowait(p->pKv);
    }else{
      kv_close(p->pKv);
    }
  }
  sqlite3_finalize(p->pHorizon);
  sqlite3_finalize(p->pSetHorizon);
  kv_batch_free(p->pBatch);
  kv_options_free(p->pOpts);
  sqlite3_free(p->aSave);
  kvvtabCursorFree(p->pSpareCursor);
  kvvtabGoneClear(p);
  sqlite3_free(p->aGone);
  kvrangeFree(p);
  kvingestFree(p);
  kvbulkFree(p);
  sqlite3_free(p->zSchema);
  sqlite3_free(p->zName);
  sqlite3_free(p->zDir);
  sqlite3_free(p->zPrivateId);
  sqlite3_free(p->zDetached);
  sqlite3_free(p->base.zErrMsg);
  sqlite3_free(p);
}

/* Tell the application's log (sqlite3_log) what the open of p's store
** revoked above the database's horizon, once per store. One batch and no
** SSTable entry is the usual end of a transaction cut short between
** kvstore's commit record and the database's commit; more means the
** database came back without commits it had made. */
static void logRevoked(KvVtab *p){
  uint64_t iH, nBatch, nEntry;
  if( !kv_revoked(p->pKv, &iH, &nBatch, &nEntry) ) return;
  /* sqlite3_log() keeps about 200 bytes of a message: no directory. */
  if( nBatch<=1 && nEntry==0 ){
    sqlite3_log(SQLITE_NOTICE, "kvstore: table %s: a transaction cut short "
        "by a crash before the database committed it was rolled back",
        p->zName);
  }else{
    sqlite3_log(SQLITE_WARNING, "kvstore: table %s: the database lost "
        "commits; revoked above its horizon %llu: %llu WAL batches, %llu "
        "SSTable entries", p->zName, (unsigned long long)iH,
        (unsigned long long)nBatch, (unsigned long long)nEntry);
  }
}

/* Whether this process may not write p's store: its directory, or the
** LOCK file in it, on a read-only file system or without permission. The
** errno of the refusal goes to *pErrno. */
static int storeUnwritable(KvVtab *p, int *pErrno){
  char *zLock = sqlite3_mprintf("%s/LOCK", p->zDir);
  int bNo = 0;
  if( zLock==0 ) return 0;
  if( access(p->zDir, W_OK)!=0 ){
    bNo = 1;
  }else if( access(zLock, F_OK)==0 && access(zLock, W_OK)!=0 ){
    bNo = 1;
  }
  if( bNo ){
    *pErrno = errno;
    bNo = errno==EROFS || errno==EACCES || errno==EPERM;
  }
  sqlite3_free(zLock);
  return bNo;
}

/* Open (or reopen) the engine of p, read what the table needs from it. */
int kvvtabOpenEngine(KvVtab *p, char **pzErr){
  const kv_options *pRun;
  int iErrno = 0;
  int rc = kvtxnHorizonForOpen(p, pzErr);
  if( rc!=SQLITE_OK ) return rc;
  p->bFullReadOnly = 0;
  p->bStoreReadOnly = 0;
  rc = kv_open(p->zDir, p->pOpts, &p->pKv);
  if( rc!=KV_OK ){
    /* Reading writes nothing. When opening for writing failed because the
    ** disk is full (it writes a WAL segment, a manifest) or because this
    ** process cannot write the store at all (a database on read-only
    ** media, another user's files), read the store as it is, as SQLite
    ** reads such a database file: a full disk is tried for writing again
    ** at the next write, an unwritable store refuses writes
    ** (kvtxnWriteBegin). */
    char *zWhy = kvvtabEngineMsg(rc, "opening the store");
    int bFull = rc==KV_FULL;
    p->pKv = 0;
    if( (bFull || (rc!=KV_CORRUPT && storeUnwritable(p, &iErrno)))
     && kv_open_readonly(p->zDir, p->pOpts, &p->pKv)==KV_OK ){
      if( bFull ){
        p->bFullReadOnly = 1;
        sqlite3_log(SQLITE_FULL, "%s (opened for reading only)",
                    zWhy ? zWhy : "kvstore: disk full");
      }else{
        p->bStoreReadOnly = 1;
        p->iStoreErrno = iErrno;
      }
      sqlite3_free(zWhy);
    }else{
      p->pKv = 0;
      *pzErr = zWhy;
      return rc;
    }
  }
  /* Reopening (after a failed DROP, a RENAME) never creates a store. */
  kv_options_set_create(p->pOpts, 0);
  logRevoked(p);
  p->eKeyType = kv_key_type(p->pKv);
  pRun = kv_db_options(p->pKv);
  p->nMaxKey = kvconfigOptionU64(pRun, "max_key_size", 65536);
  p->nMaxValue = kvconfigOptionU64(pRun, "max_value_size", 64*1024*1024);
  return SQLITE_OK;
}

/****************************************************************************
** Ownership (kvowner.h, doc/ownership.md). A table uses its store only
** when the store's OWNER file and the table's shadow rows agree; otherwise
** it is *detached*: connected, but every read and write fails with the
** reason, and DROP TABLE deletes nothing.
*/

/* The database file of p's schema, or NULL for one without a file. */
const char *kvvtabDbFile(KvVtab *p){
  return kvownerDbFile(p->db, p->zSchema);
}

/* Key type a detached table declares: the option's, or text. */
static int optionKeyType(const kv_options *pOpts){
  char *z = kv_options_get(pOpts, "key_type");
  int e = KV_KEY_TEXT;
  if( z && strcmp(z, "blob")==0 ) e = KV_KEY_BLOB;
  if( z && strcmp(z, "integer")==0 ) e = KV_KEY_INTEGER;
  kv_free(z);
  return e;
}

/* Take p's message zWhy (sqlite3_malloc) as the reason it is detached. */
void kvvtabDetach(KvVtab *p, int rc, char *zWhy){
  sqlite3_free(p->zDetached);
  p->zDetached = zWhy ? zWhy : sqlite3_mprintf("kvstore: the store of table "
                                               "%s is not open", p->zName);
  p->rcDetached = rc;
  if( p->pKv==0 && p->eKeyType==KV_KEY_TEXT ){
    p->eKeyType = optionKeyType(p->pOpts);
  }
}

/*
** Close the store of p, a table object SQLite no longer reaches: a
** statement that failed after changing the schema (an interrupted or
** failed ALTER) resets the schema, and the table objects it held are
** disconnected only when that statement is finalized (an application's
** statement cache may keep it long), still holding the store open. Not
** while it is in a transaction or has a cursor open (then it is not
** stale, or a statement still steps through it).
*/
static void vtabCloseStale(KvVtab *p){
  if( p->pKv==0 || p->bInTrans || p->iPrepSeq || p->nCursor>0 ) return;
  kvtxnHorizonRelease(p);
  kv_close(p->pKv);
  p->pKv = 0;
  kvvtabDetach(p, SQLITE_ERROR, sqlite3_mprintf("kvstore: this copy of "
      "table %s is out of the schema", p->zName));
}

/* Close the stores of p's stale twins: other table objects of p's
** connection with p's schema and name (SQLite keeps one live one per
** connection and table, so the others are left over; vtabCloseStale).
** Before anything that needs the store to itself. */
void kvvtabCloseStaleTwins(KvVtab *p){
  KvVtab *pOther;
  for(pOther=p->pConn->pTabs; pOther; pOther=pOther->pNextTab){
    if( pOther!=p && pOther->pKv==p->pKv
     && sqlite3_stricmp(pOther->zSchema, p->zSchema)==0
     && sqlite3_stricmp(pOther->zName, p->zName)==0 ){
      vtabCloseStale(pOther);
    }
  }
}

/*
** Table zSchema.zTab of pConn's connection has the default directory zDir,
** and it does not exist. An ALTER TABLE ... RENAME moves the directory in
** xRename, and SQLite rolls the ALTER back when what it does after xRename
** fails (interrupted, out of memory, disk full): the table is named as
** before, and its store sits under the new name, its OWNER naming both
** (kvownerFindRenamed). Move it back. Not while it is open anywhere but in
** the table object the ALTER renamed, which SQLite disconnects only when
** the ALTER statement is finalized, and which is out of the schema
** already (no statement reaches it): that one is closed here.
*/
static void renameBack(KvConn *pConn, const char *zSchema, const char *zTab,
                       const char *zDir){
  KvOwner mine, store;
  char *zFound = 0;
  char *zErr = 0;
  int bInUse = 1;
  KvVtab *pOld;
  memset(&mine, 0, sizeof(mine));
  memset(&store, 0, sizeof(store));
  if( kvownerShadowRead(pConn->db, zSchema, zTab, &mine)!=SQLITE_OK
   || mine.eState!=KVOWNER_OWNED
   || sqlite3_stricmp(mine.zTable, zTab)!=0 ){
    kvownerClear(&mine);
    return;
  }
  kvownerEnter();
  if( kvownerFindRenamed(kvownerDbFile(pConn->db, zSchema), &mine, zTab,
                         &zFound)!=SQLITE_OK || zFound==0 ){
    goto back_out;
  }
  for(pOld=pConn->pTabs; pOld; pOld=pOld->pNextTab){
    if( strcmp(pOld->zDir, zFound)==0 ) vtabCloseStale(pOld);
  }
  if( kv_store_in_use(zFound, &bInUse)==KV_OK && !bInUse
   && kvownerRead(zFound, &store, &zErr)==SQLITE_OK
   && rename(zFound, zDir)==0 ){
    sqlite3_log(SQLITE_NOTICE, "kvstore: moved '%s' back to '%s': an ALTER "
                "TABLE %s RENAME did not complete", zFound, zDir, zTab);
    /* OWNER names both already; now the table's name alone. */
    sqlite3_free(store.zTable);
    store.zTable = sqlite3_mprintf("%s", zTab);
    sqlite3_free(store.zPrevTable);
    store.zPrevTable = 0;
    if( store.zTable ) kvownerWrite(zDir, &store, 1, &zErr);
  }
back_out:
  kvownerLeave();
  sqlite3_free(zErr);
  sqlite3_free(zFound);
  kvownerClear(&store);
  kvownerClear(&mine);
}

static void attachUndoDrop(KvVtab *p);
static int dropCommitted(const KvDrop *d, int *pbGone);
static void dropFinish(KvDrop *d);
static const char *vtabVfsName(sqlite3 *db, const char *zSchema);

/*
** Check that p may use its store and open it. On failure p is detached
** (zDetached says why) and the code is returned. Reads nothing of a store
** that is not p's own: the check uses OWNER and the shadow rows alone.
*/
int kvvtabAttach(KvVtab *p){
  char *zWhy = 0;
  int rc = SQLITE_OK;
  if( p->pKv ) return SQLITE_OK;
  if( p->pConn->pDrops ) kvvtabDropsSettle(p->pConn, 0);
  if( p->bPrivateDir && p->zDir[0]==0 ){
    zWhy = sqlite3_mprintf("kvstore: the store of table %s is missing: its "
        "database has no file (in-memory, temporary or memdb), and such a "
        "table's store lives in the process that created it, while a "
        "connection to that database is open; a copy of the database "
        "(sqlite3_serialize, VACUUM INTO, .backup) carries no kvstore rows",
        p->zName);
    rc = zWhy ? SQLITE_CANTOPEN : SQLITE_NOMEM;
  }else if( !p->bPrivateDir ){
    /* A host may confine paths (kvconfine.c): a store elsewhere is
    ** never opened, not even read. */
    rc = kvconfineCheck(p->db, "dir", p->zDir, !p->bDefaultDir, &zWhy);
  }
  if( rc==SQLITE_OK && p->bDefaultDir
   && kvownerProbe(p->zDir)==KVDIR_MISSING ){
    renameBack(p->pConn, p->zSchema, p->zName, p->zDir);
  }
  if( rc==SQLITE_OK && !p->bPrivateDir ){
    /* A private directory is its database's alone: no OWNER. */
    rc = kvownerCheck(p->db, p->zSchema, p->zName, p->zDir, kvvtabDbFile(p),
                      &p->bOwn, &zWhy);
  }
  if( rc==SQLITE_OK && !p->bPrivateDir && kv_drop_pending(p->zDir) ){
    attachUndoDrop(p);
  }
  if( rc==SQLITE_OK ) rc = kvvtabOpenEngine(p, &zWhy);
  if( rc==SQLITE_OK && !p->bPrivateDir ){
    /* Again, now that the store is open and locked: the directory may have
    ** been replaced between the check and the open. */
    rc = kvownerCheck(p->db, p->zSchema, p->zName, p->zDir, kvvtabDbFile(p),
                      &p->bOwn, &zWhy);
    if( rc!=SQLITE_OK ){
      kv_close(p->pKv);
      p->pKv = 0;
    }
  }
  if( rc==SQLITE_OK ){
    sqlite3_free(p->zDetached);
    p->zDetached = 0;
    p->rcDetached = SQLITE_OK;
  }else{
    kvvtabDetach(p, rc, zWhy);
  }
  return rc;
}

/* For methods that need the store while p has none: try again (the store
** may be back, or no longer locked by another process), else say why. */
int kvvtabNeedStore(KvVtab *p){
  int rc = kvvtabAttach(p);
  if( rc!=SQLITE_OK ) kvvtabSetError(&p->base, "%s", p->zDetached);
  return rc;
}

/*
** May CREATE adopt the store in p->zDir, whose OWNER is *pStore? A store
** is adoptable when it records no owner (an earlier release's store), is
** detached, or names a table of this same database that no longer exists
** (a CREATE rolled back, an interrupted DROP), or a database without a
** file (it cannot come back). The caller checks, once the store is open,
** that no other connection of the process uses it.
*/
static int storeAdoptable(KvVtab *p, const KvOwner *pStore, char **pzErr){
  const char *zTaken = 0;          /* the table that has the store */
  char *zRel = 0;
  int bTaken = 0;
  int rc = SQLITE_OK;
  if( pStore->eState!=KVOWNER_OWNED ) return SQLITE_OK;
  rc = kvownerDbPath(p->zDir, kvvtabDbFile(p), &zRel, pzErr);
  if( rc!=SQLITE_OK ) return rc;
  if( pStore->zDbPath[0]==0 ){
    /* Databases without a file cannot be told apart, nor come back. */
  }else if( strcmp(pStore->zDbPath, zRel)==0 ){
    if( sqlite3_stricmp(pStore->zTable, p->zName)!=0 ){
      rc = kvownerTableExists(p->db, p->zSchema, pStore->zTable, &bTaken);
      if( bTaken ) zTaken = pStore->zTable;
    }
    if( rc==SQLITE_OK && zTaken==0 && pStore->zPrevTable
     && sqlite3_stricmp(pStore->zPrevTable, p->zName)!=0 ){
      /* Renamed from a table that still has it: an ALTER rolled back. */
      KvOwner prev;
      memset(&prev, 0, sizeof(prev));
      rc = kvownerShadowRead(p->db, p->zSchema, pStore->zPrevTable, &prev);
      if( rc==SQLITE_OK && prev.eState==KVOWNER_OWNED
       && strcmp(prev.zStoreId, pStore->zStoreId)==0 ){
        zTaken = pStore->zPrevTable;
      }
      kvownerClear(&prev);
    }
  }else{
    zTaken = pStore->zTable;          /* another database's table */
  }
  if( rc==SQLITE_OK && zTaken ){
    *pzErr = sqlite3_mprintf("kvstore: '%s' is the store of table %s of the "
        "database at '%s' (relative to the store); a store belongs to one "
        "table: give table %s its own dir=, or first detach the store from "
        "its table (SELECT kvstore_detach('%s') there)", p->zDir,
        zTaken, pStore->zDbPath, p->zName, zTaken);
    rc = SQLITE_ERROR;
  }
  sqlite3_free(zRel);
  return rc;
}

/* For vtabCreateStore: the store in p's default directory, if a table of
** p's database renamed it there with an ALTER that did not complete, goes
** back to that table's default directory. */
static void vtabCreateRenameBack(KvVtab *p){
  KvOwner store;
  char *zErr = 0;
  const char *zDbFile = kvvtabDbFile(p);
  memset(&store, 0, sizeof(store));
  if( zDbFile && kvownerRead(p->zDir, &store, &zErr)==SQLITE_OK
   && store.eState==KVOWNER_OWNED && store.zPrevTable
   && sqlite3_stricmp(store.zPrevTable, p->zName)!=0
   && strchr(store.zPrevTable, '/')==0 ){
    char *zPrevDir = kvownerDefaultDir(zDbFile, store.zPrevTable);
    if( zPrevDir && kvownerProbe(zPrevDir)==KVDIR_MISSING ){
      renameBack(p->pConn, p->zSchema, store.zPrevTable, zPrevDir);
    }
    sqlite3_free(zPrevDir);
  }
  sqlite3_free(zErr);
  kvownerClear(&store);
}

/*
** The shadow table's name must be free when CREATE makes a table: a table
** or view of that name is someone else's (an application's own table that
** happens to be called T_kvstore, or a file edited by hand), and kvstore
** would write its rows into it and DROP it with the table.
*/
static int vtabCreateShadowFree(KvVtab *p, char **pzErr){
  char *zShadow = sqlite3_mprintf("%s_kvstore", p->zName);
  int bHas = 0;
  int rc = zShadow ? kvshadowSchemaHas(p->db, p->zSchema, zShadow, 1, &bHas)
                   : SQLITE_NOMEM;
  if( rc==SQLITE_OK && bHas ){
    *pzErr = sqlite3_mprintf("kvstore: cannot create table %s: schema %s "
        "already has a table or view named %s, the name of the shadow table "
        "where kvstore keeps the table's commit horizon and identity; "
        "rename or drop that one, or give the kvstore table another name",
        p->zName, p->zSchema, zShadow);
    rc = *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
  }else if( rc!=SQLITE_OK && rc!=SQLITE_NOMEM ){
    *pzErr = sqlite3_mprintf("kvstore: cannot create table %s: %s",
                             p->zName, kvshadowErrmsg(p->db, rc));
  }
  sqlite3_free(zShadow);
  return rc;
}

/* zDir, probed as eDir, holds a committed DROP's store that was never
** deleted, or not wholly (the process ended first): a store marked
** (kv_drop_marked) or the leftover of a cut-short deletion. If nobody
** holds it and OWNER's table is gone from its database as committed
** (dropCommitted), delete the store as that DROP would have. Returns
** zDir's kind (kvownerProbe) after that. */
static int createFinishDrop(KvVtab *p, const char *zDir, int eDir){
  KvOwner store;
  KvDrop d;
  char *zErr = 0;
  int bInUse = 1, bGone = 0;
  if( !(eDir==KVDIR_STORE && kv_drop_marked(zDir))
   && !(eDir==KVDIR_FOREIGN && kvownerDropLeftover(zDir)) ){
    return eDir;
  }
  memset(&store, 0, sizeof(store));
  memset(&d, 0, sizeof(d));
  if( kv_store_in_use(zDir, &bInUse)==KV_OK && !bInUse
   && kvownerRead(zDir, &store, &zErr)==SQLITE_OK
   && store.eState==KVOWNER_OWNED && store.zDbPath && store.zDbPath[0] ){
    d.zDir = (char*)zDir;
    d.zDbFile = store.zDbPath[0]=='/'
        ? sqlite3_mprintf("%s", store.zDbPath)
        : sqlite3_mprintf("%s/%s", zDir, store.zDbPath);
    d.zVfs = (char*)vtabVfsName(p->db, p->zSchema);
    d.zTable = store.zTable;
    d.zStoreId = store.zStoreId;
    d.bMadeDir = store.bMadeDir;
    if( d.zDbFile && dropCommitted(&d, &bGone)==SQLITE_OK && bGone ){
      dropFinish(&d);
    }
    sqlite3_free(d.zDbFile);
  }
  sqlite3_free(zErr);
  kvownerClear(&store);
  return kvownerProbe(zDir);
}

/*
** xCreate's half of ownership: make a new store in a directory that does
** not exist or is empty, or adopt one (storeAdoptable), then record the
** new identity in OWNER and in the shadow table. Never writes into a
** directory that holds anything else.
*/
static int vtabCreateStore(KvVtab *p, char **pzErr){
  KvOwner store, now, mine;
  int eDir, bNew = 0, bMade = 0;
  int rc = SQLITE_OK;

  memset(&store, 0, sizeof(store));
  memset(&now, 0, sizeof(now));
  memset(&mine, 0, sizeof(mine));
  rc = vtabCreateShadowFree(p, pzErr);
  if( rc!=SQLITE_OK ) goto create_out;
  if( p->bPrivateDir ){
    rc = kvvtabOpenEngine(p, pzErr);
    if( rc==SQLITE_OK ) rc = kvshadowCreate(p->db, p->zSchema, p->zName);
    if( rc==SQLITE_OK ){
      rc = kvshadowSetText(p->db, p->zSchema, p->zName, "private_id",
                           p->zPrivateId);
    }
    if( rc!=SQLITE_OK && *pzErr==0 ){
      *pzErr = sqlite3_mprintf("kvstore: cannot write the identity of table "
          "%s: %s", p->zName, kvshadowErrmsg(p->db, rc));
    }
    goto create_out;
  }
  rc = kvconfineCheck(p->db, "dir", p->zDir, !p->bDefaultDir, pzErr);
  if( rc!=SQLITE_OK ) goto create_out;
  eDir = createFinishDrop(p, p->zDir, kvownerProbe(p->zDir));
  if( eDir==KVDIR_STORE && p->bDefaultDir ){
    /* Perhaps another table's store, left under this name by its ALTER
    ** TABLE ... RENAME TO <this name> that did not complete: it goes back
    ** first (renameBack), then this table gets a new store. */
    vtabCreateRenameBack(p);
    eDir = kvownerProbe(p->zDir);
  }
  if( eDir==KVDIR_MISSING ){
    if( mkdir(p->zDir, 0755)!=0 ){
      *pzErr = sqlite3_mprintf("kvstore: cannot create directory '%s': %s",
                               p->zDir, strerror(errno));
      rc = SQLITE_CANTOPEN;
      goto create_out;
    }
    bNew = bMade = 1;
  }else if( eDir==KVDIR_EMPTY ){
    bNew = 1;
  }else if( eDir==KVDIR_FOREIGN ){
    *pzErr = sqlite3_mprintf("kvstore: '%s' is not empty and does not hold a "
        "kvstore store; a new store goes in a new or empty directory",
        p->zDir);
    rc = SQLITE_ERROR;
    goto create_out;
  }else{
    rc = kvownerRead(p->zDir, &store, pzErr);
    if( rc==SQLITE_OK ) rc = storeAdoptable(p, &store, pzErr);
    if( rc!=SQLITE_OK ) goto create_out;
  }

  rc = kvvtabOpenEngine(p, pzErr);
  if( rc!=SQLITE_OK ){
    if( bMade ) rmdir(p->zDir);       /* only if still empty */
    goto create_out;
  }
  mine.eState = KVOWNER_OWNED;
  mine.zStoreId = kvownerNewId();
  mine.zTable = sqlite3_mprintf("%s", p->zName);
  mine.bMadeDir = bNew ? bMade : store.bMadeDir;
  if( mine.zStoreId==0 || mine.zTable==0 ) rc = SQLITE_NOMEM;
  if( rc==SQLITE_OK ){
    rc = kvownerDbPath(p->zDir, kvvtabDbFile(p), &mine.zDbPath, pzErr);
  }
  if( rc==SQLITE_OK ){
    /* The store is open (its LOCK held), so no other process can claim it;
    ** the mutex keeps this process's connections apart. Check again that
    ** nobody claimed it since it was probed. */
    kvownerEnter();
    rc = kvownerRead(p->zDir, &now, pzErr);
    if( rc==SQLITE_OK
     && (now.eState!=store.eState
         || (now.zStoreId && sqlite3_stricmp(now.zStoreId, store.zStoreId)))){
      *pzErr = sqlite3_mprintf("kvstore: '%s' was claimed by another table "
                               "meanwhile", p->zDir);
      rc = SQLITE_ERROR;
    }
    if( rc==SQLITE_OK && !bNew && kv_db_refcount(p->pKv)>1 ){
      /* Adopted while a table of another connection of this process has
      ** it open (another process would hold its LOCK). */
      *pzErr = sqlite3_mprintf("kvstore: '%s' is in use by %s%s of another "
          "connection", p->zDir, store.zTable ? "table " : "another table",
          store.zTable ? store.zTable : "");
      rc = SQLITE_BUSY;
    }
    if( rc==SQLITE_OK ) rc = kvownerWrite(p->zDir, &mine, !bNew, pzErr);
    kvownerLeave();
  }
  if( rc==SQLITE_OK ){
    rc = kvownerShadowWrite(p->db, p->zSchema, p->zName, &mine);
    if( rc!=SQLITE_OK ){
      *pzErr = sqlite3_mprintf("kvstore: cannot write the identity of table "
          "%s: %s", p->zName, kvshadowErrmsg(p->db, rc));
    }
  }
  if( rc==SQLITE_OK ) p->bOwn = 1;

create_out:
  kvownerClear(&store);
  kvownerClear(&now);
  kvownerClear(&mine);
  return rc;
}

/*
** The private directory of p, a table of a database without a file. CREATE
** makes one, with a new id for the shadow row 'private_id' (written by
** vtabCreateStore); a connect finds it by that id in p's KvPager. A table
** whose store is not there (the database is a copy, deserialized, or its
** store went with the last connection that used it) is connected with an
** empty zDir and stays detached (kvvtabAttach).
*/
static int vtabPrivateDir(KvVtab *p, int bCreate, char **pzErr){
  char *zShadow;
  int bMissing = 1, bExists = 0;
  int rc;
  p->bPrivateDir = 1;
  if( bCreate ){
    return privateDirCreate(p->pPager, p->zName, &p->zPrivateId, &p->zDir,
                            pzErr);
  }
  zShadow = sqlite3_mprintf("%s_kvstore", p->zName);
  rc = zShadow ? kvownerTableExists(p->db, p->zSchema, zShadow, &bExists)
               : SQLITE_NOMEM;
  sqlite3_free(zShadow);
  if( rc==SQLITE_OK && bExists ){
    rc = kvshadowGetText(p->db, p->zSchema, p->zName, "private_id",
                         &p->zPrivateId);
  }
  if( rc!=SQLITE_OK ){
    *pzErr = sqlite3_mprintf("kvstore: cannot read the identity of table %s "
                             "from %s_kvstore: %s", p->zName, p->zName,
                             kvshadowErrmsg(p->db, rc));
    return rc;
  }
  if( p->zPrivateId ){
    p->zDir = privateDirFind(p->pPager, p->zPrivateId, &bMissing);
    if( p->zDir==0 && !bMissing ) return SQLITE_NOMEM;
  }
  if( p->zDir==0 ){
    p->zDir = sqlite3_mprintf("");
    if( p->zDir==0 ) return SQLITE_NOMEM;
  }
  return SQLITE_OK;
}

/*
** xCreate and xConnect. argv[0] is the module name, argv[1] the database,
** argv[2] the table, argv[3..] the CREATE arguments (kept in sqlite_schema,
** so a reconnect finds the same directory from them). Only xCreate makes
** or adopts a store (vtabCreateStore); xConnect uses the store only when
** it is the table's own (kvvtabAttach).
*/
static int kvvtabInit(sqlite3 *db, void *pAux, int argc,
                      const char *const *argv, sqlite3_vtab **ppVtab,
                      char **pzErr, int bCreate){
  KvConn *pConn = (KvConn*)pAux;
  KvVtab *p = 0;
  char *zDirOpt = 0;
  const char *zDbFile;
  int rc = SQLITE_OK;

  *ppVtab = 0;
  assert( argc>=3 );
  if( pConn->pDrops ) kvvtabDropsSettle(pConn, 0);
  zDbFile = kvownerDbFile(db, argv[1]);

  p = sqlite3_malloc(sizeof(*p));
  if( p==0 ) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  p->db = db;
  p->pConn = pConn;
  p->zSchema = sqlite3_mprintf("%s", argv[1]);
  p->zName = sqlite3_mprintf("%s", argv[2]);
  p->pPager = pagerJoin(pConn, argv[1]);
  if( p->zSchema==0 || p->zName==0 || p->pPager==0 ) rc = SQLITE_NOMEM;
  if( rc==SQLITE_OK ) rc = kvconfigCheckEncoding(db, argv[1], argv[2], pzErr);
  if( rc==SQLITE_OK && bCreate ){
    rc = kvconfigCheckEmptyArguments(db, argv[1], argv[2], pzErr);
  }

  if( rc==SQLITE_OK ){
    rc = kvconfigParse(db, argc-3, argv+3, zDbFile, &p->pOpts, &zDirOpt, pzErr);
  }

  /* Resolve the data directory. */
  if( rc==SQLITE_OK ){
    if( zDirOpt ){
      p->zDir = kvconfigResolvePath(zDirOpt, zDbFile);
      if( p->zDir==0 ) rc = SQLITE_NOMEM;
    }else if( zDbFile ){
      if( strchr(p->zName, '/') ){
        *pzErr = sqlite3_mprintf("kvstore: table name %s contains '/', so "
            "it cannot name a default directory; give dir=", p->zName);
        rc = SQLITE_ERROR;
      }else{
        p->zDir = kvownerDefaultDir(zDbFile, p->zName);
        p->bDefaultDir = 1;
        if( p->zDir==0 ) rc = SQLITE_NOMEM;
      }
    }else{
      /* A database without a file: a private directory, the one the
      ** shadow row 'private_id' names (KvPager). */
      rc = vtabPrivateDir(p, bCreate, pzErr);
    }
  }

  if( rc==SQLITE_OK ) rc = kvconfigCheckPathLength(p->zDir, pzErr);
  if( rc==SQLITE_OK ){
    /* Only CREATE makes a store; a reconnect finding none reports it
    ** instead of starting afresh. */
    kv_options_set_create(p->pOpts, bCreate);
    if( bCreate ){
      rc = vtabCreateStore(p, pzErr);
    }else{
      /* Never fails for the store's sake: a table that may not or cannot
      ** use its store stays connected, detached, so it can be dropped. */
      rc = kvvtabAttach(p);
      if( rc!=SQLITE_NOMEM ) rc = SQLITE_OK;
    }
  }
  if( rc==SQLITE_OK && bCreate && p->pKv ){
    /* vtabCreateStore made the shadow table. The store may hold commits
    ** already (an adopted one): they are all below the first horizon. */
    rc = kvshadowSetInt(db, p->zSchema, p->zName, "horizon",
                        (sqlite3_int64)kv_last_seq(p->pKv));
    if( rc!=SQLITE_OK ){
      *pzErr = sqlite3_mprintf("kvstore: cannot write the commit horizon of "
          "table %s: %s", p->zName, kvshadowErrmsg(db, rc));
    }else{
      p->bShadow = 1;
    }
  }
  if( rc==SQLITE_OK ){
    char *zSql = sqlite3_mprintf(
        "CREATE TABLE x(key %s PRIMARY KEY NOT NULL, value, "
        KVVTAB_COMMAND_NAME " HIDDEN) WITHOUT ROWID",
        kvrowKeyTypeName(p->eKeyType));
    if( zSql==0 ){
      rc = SQLITE_NOMEM;
    }else{
      rc = sqlite3_declare_vtab(db, zSql);
      sqlite3_free(zSql);
      if( rc!=SQLITE_OK ){
        *pzErr = sqlite3_mprintf("kvstore: cannot declare table %s: %s",
                                 p->zName, sqlite3_errmsg(db));
      }
    }
  }
  if( rc==SQLITE_OK ){
    /* xUpdate honours OR IGNORE / OR REPLACE itself. */
    sqlite3_vtab_config(db, SQLITE_VTAB_CONSTRAINT_SUPPORT, 1);
    /* The table reads and writes files: a database file from an untrusted
    ** source must not reach it through a trigger or a view. */
    sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  }

  sqlite3_free(zDirOpt);
  if( rc!=SQLITE_OK ){
    if( rc==SQLITE_NOMEM && *pzErr==0 ){
      *pzErr = sqlite3_mprintf("kvstore: out of memory");
    }
    if( bCreate && p->bPrivateDir && p->zPrivateId && p->pKv==0 ){
      privateDirDrop(p->pPager, p->zPrivateId);
    }
    vtabFree(p);
    return rc;
  }
  p->pNextTab = pConn->pTabs;
  pConn->pTabs = p;
  *ppVtab = &p->base;
  return SQLITE_OK;
}

/* Number of other tables of p's connection open on p's engine. */
int kvvtabSameEngineTables(KvVtab *p){
  KvVtab *pOther;
  int n = 0;
  for(pOther=p->pConn->pTabs; pOther; pOther=pOther->pNextTab){
    if( pOther!=p && pOther->pKv==p->pKv ) n++;
  }
  return n;
}

static int kvvtabCreate(sqlite3 *db, void *pAux, int argc,
                        const char *const *argv, sqlite3_vtab **ppVtab,
                        char **pzErr){
  return kvvtabInit(db, pAux, argc, argv, ppVtab, pzErr, 1);
}
static int kvvtabConnect(sqlite3 *db, void *pAux, int argc,
                         const char *const *argv, sqlite3_vtab **ppVtab,
                         char **pzErr){
  return kvvtabInit(db, pAux, argc, argv, ppVtab, pzErr, 0);
}

static int kvvtabDisconnect(sqlite3_vtab *pVtab){
  vtabFree((KvVtab*)pVtab);
  return SQLITE_OK;
}

/* Drop the shadow table of p (it goes or stays with the DROP statement). */
static int vtabDropShadow(KvVtab *p){
  char *zShadow = sqlite3_mprintf("%s_kvstore", p->zName);
  int rc;
  if( zShadow==0 ) return SQLITE_NOMEM;
  rc = kvshadowRun(p->db, sqlite3_mprintf("DROP TABLE IF EXISTS \"%w\".\"%w\"",
                                          p->zSchema, zShadow),
                   p->zSchema, zShadow, 0);
  if( rc!=SQLITE_OK ){
    sqlite3_log(rc, "kvstore: cannot drop %s: %s", zShadow,
                kvshadowErrmsg(p->db, rc));
  }
  sqlite3_free(zShadow);
  return rc;
}

/*
** DROP TABLE with the database. SQLite runs xDestroy during the DROP
** statement, before its commit, and the commit can still fail (another
** connection's read lock in rollback-journal mode: SQLITE_BUSY, "database
** is locked"; an I/O error; a crash), which leaves the table in the
** schema. So xDestroy deletes nothing of a store with files: it makes the
** store unopenable in one durable step (kv_drop_prepare), holds it so
** that nobody undoes that meanwhile, and records a KvDrop. Once the DROP's
** transaction is over, kvvtabDropsSettle asks the database as committed,
** through a connection of its own: the table gone, the store is deleted
** (as xDestroy deleted it before); the table still there with the same
** store id, the store is made openable again. It runs when the connection
** next connects, attaches or opens a kvstore table or calls a kvstore
** function, and when it closes. After a crash, a table still in the
** schema finds its store being dropped and takes it back the same way
** (kvvtabAttach); a committed DROP whose settling a crash prevented leaves
** the store unopenable, with CURRENT.dropping, for the user to delete.
*/

/* The name of the VFS of schema zSchema's database, or NULL. */
static const char *vtabVfsName(sqlite3 *db, const char *zSchema){
  sqlite3_vfs *pVfs = 0;
  if( sqlite3_file_control(db, zSchema, SQLITE_FCNTL_VFS_POINTER,
                           &pVfs)!=SQLITE_OK || pVfs==0 ){
    return 0;
  }
  return pVfs->zName;
}

/* A connection of kvstore's own to zFile through VFS zVfs (it sees only
** committed states), waiting up to 2 s for locks. */
static int vtabOwnConnection(const char *zFile, const char *zVfs,
                             int flags, sqlite3 **pDb){
  int rc = sqlite3_open_v2(zFile, pDb, flags | SQLITE_OPEN_PRIVATECACHE,
                           zVfs);
  if( rc==SQLITE_OK ) sqlite3_busy_timeout(*pDb, 2000);
  return rc;
}

/* 1 if PRAGMA zSchema.zPragma returns zValue, 0 if something else, -1 if
** it cannot be read (an authorizer, memory). */
static int vtabPragmaIs(sqlite3 *db, const char *zSchema, const char *zPragma,
                        const char *zValue){
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf("PRAGMA \"%w\".%s", zSchema, zPragma);
  int bIs = -1;
  if( zSql && sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0)==SQLITE_OK
   && sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *z = (const char*)sqlite3_column_text(pStmt, 0);
    bIs = z && sqlite3_stricmp(z, zValue)==0;
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zSql);
  return bIs;
}

/*
** The horizon of table zTable as last committed, for the open that
** recovers its store, when dbMain reads an older snapshot: a read
** transaction of a WAL database that began before other connections
** committed (an ordinary table read first, then zTable). Recovery revokes
** every entry above the horizon it is given, so that snapshot's horizon
** would take back commits other processes made and acknowledged since. A
** connection of our own sees only the last commit. Leaves *piH as it is
** when dbMain reads the latest state anyway (no transaction, a write
** transaction, a rollback journal, which no one commits past a reader).
*/
int kvvtabLatestHorizon(sqlite3 *dbMain, const char *zSchema,
                        const char *zTable, const char *zFile,
                        sqlite3_int64 *piH, char **pzErr){
  sqlite3_stmt *pStmt = 0;
  sqlite3 *db = 0;
  char *zSql = 0;
  int bWal = 0, rc;
  if( zFile==0 || zFile[0]==0
   || sqlite3_txn_state(dbMain, zSchema)!=SQLITE_TXN_READ ){
    return SQLITE_OK;
  }
  /* Only a WAL database lets others commit past a reader, and not in
  ** locking_mode=EXCLUSIVE (no one else can even read). A PRAGMA that an
  ** authorizer refuses tells nothing: a connection of our own is asked
  ** anyway. */
  bWal = vtabPragmaIs(dbMain, zSchema, "journal_mode", "wal");
  if( bWal==0 ) return SQLITE_OK;
  if( vtabPragmaIs(dbMain, zSchema, "locking_mode", "exclusive")==1 ){
    return SQLITE_OK;
  }
  rc = vtabOwnConnection(zFile, vtabVfsName(dbMain, zSchema),
                         SQLITE_OPEN_READONLY, &db);
  if( rc==SQLITE_OK ){
    zSql = sqlite3_mprintf("SELECT v FROM \"%w_kvstore\" WHERE "
                           "k='horizon'", zTable);
    rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0) : SQLITE_NOMEM;
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_step(pStmt);
    if( rc==SQLITE_ROW
     && sqlite3_column_type(pStmt, 0)==SQLITE_INTEGER
     && sqlite3_column_int64(pStmt, 0)>=0 ){
      *piH = sqlite3_column_int64(pStmt, 0);
      rc = SQLITE_OK;
    }else if( rc==SQLITE_ROW || rc==SQLITE_DONE ){
      rc = SQLITE_CORRUPT;
    }
  }
  if( rc!=SQLITE_OK ){
    *pzErr = sqlite3_mprintf("kvstore: cannot open the store of table %s "
        "inside a read transaction that began before the last commits of "
        "its database: reading their horizon failed (%s); end the "
        "transaction and retry", zTable,
        db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    if( rc!=SQLITE_NOMEM ) rc = SQLITE_BUSY;
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zSql);
  sqlite3_close(db);
  return rc;
}

/* Is the DROP of d committed? SQLITE_OK with *pbGone when that is known,
** from a connection of our own (which sees only committed states). */
static int dropCommitted(const KvDrop *d, int *pbGone){
  sqlite3 *db = 0;
  sqlite3_stmt *pStmt = 0;
  char *zSql = 0;
  int rc;
  *pbGone = 0;
  rc = vtabOwnConnection(d->zDbFile, d->zVfs, SQLITE_OPEN_READWRITE, &db);
  if( rc==SQLITE_OK ){
    zSql = sqlite3_mprintf("SELECT (SELECT v FROM \"%w_kvstore\" WHERE "
                           "k='store_id') WHERE EXISTS (SELECT 1 FROM "
                           "sqlite_schema WHERE type='table' AND name=%Q "
                           "COLLATE NOCASE)", d->zTable, d->zTable);
    rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0) : SQLITE_NOMEM;
    if( rc==SQLITE_ERROR ){
      /* no shadow table: the table is gone (or never had one, an earlier
      ** release's, which has no KvDrop) */
      *pbGone = 1;
      rc = SQLITE_OK;
    }else if( rc==SQLITE_OK ){
      rc = sqlite3_step(pStmt);
      if( rc==SQLITE_ROW ){
        const char *z = (const char*)sqlite3_column_text(pStmt, 0);
        *pbGone = z==0 || strcmp(z, d->zStoreId)!=0;
        rc = SQLITE_OK;
      }else if( rc==SQLITE_DONE ){
        *pbGone = 1;
        rc = SQLITE_OK;
      }
    }
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zSql);
  sqlite3_close(db);
  return rc;
}

/* Is the DROP of d committed, as connection db sees its schema (the
** dropping connection itself once the DROP's transaction is over, or one
** that has the table in its schema)? SQLITE_OK with *pbGone if known. */
static int dropGoneHere(sqlite3 *db, const KvDrop *d, int *pbGone){
  KvOwner mine;
  int rc;
  memset(&mine, 0, sizeof(mine));
  *pbGone = 0;
  if( sqlite3_db_filename(db, d->zSchema)==0 ) return SQLITE_ERROR;
  rc = kvownerShadowRead(db, d->zSchema, d->zTable, &mine);
  if( rc==SQLITE_OK ){
    *pbGone = mine.eState!=KVOWNER_OWNED
           || strcmp(mine.zStoreId, d->zStoreId)!=0;
  }
  kvownerClear(&mine);
  return rc;
}

static void dropFree(KvDrop *d){
  kv_store_release(d->pHold);
  sqlite3_free(d->zDir);
  sqlite3_free(d->zDbFile);
  sqlite3_free(d->zVfs);
  sqlite3_free(d->zSchema);
  sqlite3_free(d->zTable);
  sqlite3_free(d->zStoreId);
  sqlite3_free(d);
}

/* The DROP of d committed: delete the store, as xDestroy did before. */
static void dropFinish(KvDrop *d){
  char *zErr = 0;
  int rc;
  kv_store_release(d->pHold);
  d->pHold = 0;
  rc = kv_destroy(d->zDir);
  if( rc!=KV_OK && kvownerProbe(d->zDir)!=KVDIR_STORE ){
    /* Its KVSTORE went already (a destroy cut short): what is left of the
    ** store's own names goes, OWNER last. */
    static const char *const azLeft[] = {
      "CURRENT.dropped", "CURRENT.dropping", "LOCK", "KVSTORE.tmp"
    };
    size_t i;
    for(i=0; i<sizeof(azLeft)/sizeof(azLeft[0]); i++){
      char *z = sqlite3_mprintf("%s/%s", d->zDir, azLeft[i]);
      if( z ) unlink(z);
      sqlite3_free(z);
    }
    rc = KV_OK;
  }
  if( rc!=KV_OK ){
    sqlite3_log(rc, "%s", kv_errmsg(0));
    return;
  }
  if( kvownerRemove(d->zDir, &zErr)!=SQLITE_OK ){
    sqlite3_log(SQLITE_IOERR, "%s", zErr ? zErr : "kvstore: cannot remove "
                "OWNER");
  }else if( d->bMadeDir ){
    rmdir(d->zDir);             /* only if nothing else is left */
  }
  sqlite3_free(zErr);
}

void kvvtabDropsSettle(KvConn *pConn, int bClosing){
  KvDrop **pp = &pConn->pDrops;
  while( *pp ){
    KvDrop *d = *pp;
    int bGone = 0;
    int rc;
    if( bClosing ){
      rc = dropCommitted(d, &bGone);
    }else if( sqlite3_txn_state(pConn->db, d->zSchema)!=SQLITE_TXN_WRITE ){
      /* The DROP's transaction is over: the connection's own schema says
      ** how it ended (a database detached since: ask the file). */
      rc = dropGoneHere(pConn->db, d, &bGone);
      if( rc!=SQLITE_OK && rc!=SQLITE_NOMEM ) rc = dropCommitted(d, &bGone);
    }else{
      /* It may be open yet (a COMMIT to retry after SQLITE_BUSY), or this
      ** is a later write transaction: only a committed DROP is known. */
      rc = dropCommitted(d, &bGone);
      if( rc==SQLITE_OK && !bGone ) rc = SQLITE_BUSY;
    }
    if( !bClosing && rc!=SQLITE_OK ){
      pp = &d->pNext;           /* next time */
      continue;
    }
    if( rc!=SQLITE_OK ){
      sqlite3_log(rc, "kvstore: the DROP TABLE of %s could not be settled; "
                  "'%s' stays as it is", d->zTable, d->zDir);
    }else if( bGone ){
      dropFinish(d);
    }else{
      kv_store_release(d->pHold);
      d->pHold = 0;
      if( kv_drop_undo(d->zDir)==KV_OK ){
        sqlite3_log(SQLITE_NOTICE, "kvstore: DROP TABLE %s did not commit: "
                    "its store '%s' is back", d->zTable, d->zDir);
      }else{
        sqlite3_log(SQLITE_IOERR, "%s", kv_errmsg(0));
      }
    }
    *pp = d->pNext;
    dropFree(d);
  }
}

/* p's store is being dropped (kv_drop_pending) and nobody holds it: a DROP
** that rolled back, or crashed before it was settled. If the database
** still has the table, as committed, with this store's id, take the store
** back. */
static void attachUndoDrop(KvVtab *p){
  KvOwner mine;
  KvDrop d;
  int bInUse = 1, bGone = 1;
  memset(&mine, 0, sizeof(mine));
  if( kv_store_in_use(p->zDir, &bInUse)!=KV_OK || bInUse ) return;
  if( kvownerShadowRead(p->db, p->zSchema, p->zName, &mine)==SQLITE_OK
   && mine.eState==KVOWNER_OWNED ){
    memset(&d, 0, sizeof(d));
    d.zDbFile = (char*)kvvtabDbFile(p);
    d.zVfs = (char*)vtabVfsName(p->db, p->zSchema);
    d.zTable = p->zName;
    d.zStoreId = mine.zStoreId;
    /* As committed; when the file cannot be read apart (a VFS that needs
    ** more than its name), this connection has the table in its schema. */
    if( d.zDbFile==0 || dropCommitted(&d, &bGone)!=SQLITE_OK ) bGone = 0;
    if( !bGone && kv_drop_undo(p->zDir)==KV_OK ){
      sqlite3_log(SQLITE_NOTICE, "kvstore: DROP TABLE %s did not commit: "
                  "its store '%s' is back", p->zName, p->zDir);
    }
  }
  kvownerClear(&mine);
}

/* xDestroy's part for a store with files: kv_drop_prepare, a hold, and a
** KvDrop for kvvtabDropsSettle. pStore: OWNER as read. */
static int vtabDropDefer(KvVtab *p, const KvOwner *pStore){
  KvDrop *d = sqlite3_malloc(sizeof(*d));
  int rc;
  if( d==0 ) return SQLITE_NOMEM;
  memset(d, 0, sizeof(*d));
  d->zDir = sqlite3_mprintf("%s", p->zDir);
  d->zDbFile = sqlite3_mprintf("%s", kvvtabDbFile(p) ? kvvtabDbFile(p) : "");
  d->zTable = sqlite3_mprintf("%s", p->zName);
  d->zSchema = sqlite3_mprintf("%s", p->zSchema);
  d->zStoreId = sqlite3_mprintf("%s", pStore->zStoreId ? pStore->zStoreId
                                                        : "");
  if( vtabVfsName(p->db, p->zSchema) ){
    d->zVfs = sqlite3_mprintf("%s", vtabVfsName(p->db, p->zSchema));
    if( d->zVfs==0 ){
      dropFree(d);
      return SQLITE_NOMEM;
    }
  }
  d->bMadeDir = pStore->bMadeDir;
  if( !d->zDir || !d->zDbFile || !d->zTable || !d->zSchema || !d->zStoreId ){
    dropFree(d);
    return SQLITE_NOMEM;
  }
  rc = kv_drop_prepare(p->zDir);
  if( rc==KV_OK ) rc = kv_store_hold(p->zDir, &d->pHold);
  if( rc!=KV_OK ){
    sqlite3_log(rc, "%s", kv_errmsg(0));
    kv_drop_undo(p->zDir);
    dropFree(d);
    return rc;
  }
  d->pNext = p->pConn->pDrops;
  p->pConn->pDrops = d;
  return SQLITE_OK;
}

/*
** DROP TABLE. SQLite runs xDestroy at once, even inside a transaction, and
** a ROLLBACK could not bring deleted files back; another connection using
** the store would lose it under its feet. Both are refused.
**
** Only a store this table provably owns is deleted: its OWNER file names
** this table's store id, name and database (kvownerCheck, read again
** here). A detached table (a copy, a foreign or missing store) leaves the
** directory as it is and only leaves the schema; a damaged store that is
** the table's own is still deleted. The directory itself goes only when
** kvstore made it (OWNER's made_dir) and nothing else is left in it.
**
** SQLite does not read zErrMsg after xDestroy (3.40), so the refusal shows
** as the code's generic message: SQLITE_LOCKED, "database table is locked",
** inside a transaction, SQLITE_BUSY, "database is locked", when the store
** is shared. The full message goes to sqlite3_log(), and zErrMsg stays
** empty so that no later statement picks it up.
*/
static int kvvtabDestroy(sqlite3_vtab *pVtab){
  KvVtab *p = (KvVtab*)pVtab;
  KvOwner store;
  char *zErr = 0;
  int bOwn = 0;
  int rc;
  if( !sqlite3_get_autocommit(p->db) || p->bInTrans ){
    sqlite3_log(SQLITE_LOCKED, "kvstore: cannot drop table %s inside a "
        "transaction (a ROLLBACK could not restore its files); COMMIT first",
        p->zName);
    return SQLITE_LOCKED;
  }
  if( p->pKv ){
    int nSame;
    kvvtabCloseStaleTwins(p);
    nSame = kvvtabSameEngineTables(p);
    if( kv_db_refcount(p->pKv)>1+nSame || kv_open_elsewhere(p->pKv) ){
      sqlite3_log(SQLITE_BUSY, "kvstore: cannot drop table %s while another "
          "connection or process uses its store '%s'", p->zName, p->zDir);
      return SQLITE_BUSY;
    }
  }
  if( !p->bPrivateDir ){
    /* Decided before the shadow rows go. */
    rc = kvownerCheck(p->db, p->zSchema, p->zName, p->zDir, kvvtabDbFile(p),
                      &bOwn, &zErr);
    if( rc==SQLITE_NOMEM ){
      sqlite3_free(zErr);
      return rc;
    }
    if( !bOwn ){
      sqlite3_log(SQLITE_NOTICE, "kvstore: DROP TABLE %s deletes nothing in "
          "'%s': %s", p->zName, p->zDir, zErr ? zErr : "not its store");
    }
    sqlite3_free(zErr);
    zErr = 0;
  }
  rc = vtabDropShadow(p);
  if( rc!=SQLITE_OK ) return rc;
  if( (!p->bPrivateDir && !bOwn) || (p->bPrivateDir && p->zDir[0]==0) ){
    /* Not its store, or (a private one) no store at all. */
    vtabFree(p);
    return SQLITE_OK;
  }
  if( p->pKv ){
    kvtxnHorizonRelease(p);
    rc = kv_close_nowait(p->pKv);     /* its files go next */
    p->pKv = 0;
    if( rc!=KV_OK ){
      sqlite3_log(rc, "%s", kv_errmsg(0));
      kvvtabAttach(p);
      return rc;
    }
  }
  memset(&store, 0, sizeof(store));
  if( !p->bPrivateDir ) kvownerRead(p->zDir, &store, &zErr);
  sqlite3_free(zErr);
  zErr = 0;
  if( !p->bPrivateDir ){
    rc = vtabDropDefer(p, &store);
    kvownerClear(&store);
    if( rc!=SQLITE_OK ){
      /* Keep the table usable: the DROP fails and the table stays. */
      kvvtabAttach(p);
      return rc;
    }
    vtabFree(p);
    return SQLITE_OK;
  }
  rc = kv_destroy(p->zDir);
  if( rc!=KV_OK && !p->bPrivateDir && kvownerProbe(p->zDir)!=KVDIR_STORE ){
    /* No KVSTORE: the engine's files are gone, or kv_destroy cannot tell
    ** them (an interrupted DROP): OWNER, the last, goes now. */
    sqlite3_log(rc, "%s", kv_errmsg(0));
    rc = KV_OK;
  }
  if( rc!=KV_OK ){
    sqlite3_log(rc, "%s", kv_errmsg(0));
    /* Keep the table usable: the DROP fails and the table stays. */
    kvownerClear(&store);
    kvvtabAttach(p);
    return rc;
  }
  if( !p->bPrivateDir ){
    rc = kvownerRemove(p->zDir, &zErr);
    if( rc!=SQLITE_OK ){
      sqlite3_log(rc, "%s", zErr ? zErr : "kvstore: cannot remove OWNER");
      sqlite3_free(zErr);
      kvownerClear(&store);
      return rc;
    }
    if( store.bMadeDir ) rmdir(p->zDir);  /* only if nothing else is left */
  }
  kvownerClear(&store);
  if( p->bPrivateDir ) privateDirDrop(p->pPager, p->zPrivateId);
  vtabFree(p);
  return SQLITE_OK;
}

/* RENAME of the shadow table and of the 'table' row in it, as FTS5
** renames its shadow tables; both go or stay with the ALTER statement. */
static int vtabRenameShadow(KvVtab *p, const char *zNew){
  KvOwner mine;
  char *zShadow = sqlite3_mprintf("%s_kvstore", p->zName);
  int bExists = 0;
  int rc;
  memset(&mine, 0, sizeof(mine));
  if( zShadow==0 ) return SQLITE_NOMEM;
  rc = kvownerTableExists(p->db, p->zSchema, zShadow, &bExists);
  if( rc==SQLITE_OK && bExists ){
    rc = kvownerShadowRead(p->db, p->zSchema, p->zName, &mine);
    if( rc==SQLITE_OK ){
      rc = kvshadowRun(p->db, sqlite3_mprintf("ALTER TABLE \"%w\".\"%w\" "
                           "RENAME TO \"%w_kvstore\"", p->zSchema, zShadow,
                           zNew), 0, 0, 0);
    }
    if( rc==SQLITE_OK && mine.eState==KVOWNER_OWNED ){
      rc = kvshadowSetText(p->db, p->zSchema, zNew, "table", zNew);
    }
    if( rc!=SQLITE_OK && rc!=SQLITE_NOMEM ){
      kvvtabSetError(&p->base, "kvstore: cannot rename %s: %s", zShadow,
               kvshadowErrmsg(p->db, rc));
    }
  }
  kvownerClear(&mine);
  sqlite3_free(zShadow);
  return rc;
}

/* Record table name zNew in the OWNER file of p's own store. */
static int vtabRenameOwner(KvVtab *p, const char *zNew){
  KvOwner store;
  char *zErr = 0;
  int rc;
  if( p->bPrivateDir || !p->bOwn ) return SQLITE_OK;
  kvownerEnter();
  rc = kvownerRead(p->zDir, &store, &zErr);
  if( rc==SQLITE_OK && store.eState==KVOWNER_OWNED ){
    sqlite3_free(store.zPrevTable);
    store.zPrevTable = store.zTable;
    store.zTable = sqlite3_mprintf("%s", zNew);
    rc = store.zTable ? kvownerWrite(p->zDir, &store, 1, &zErr)
                      : SQLITE_NOMEM;
  }
  kvownerLeave();
  if( rc!=SQLITE_OK ){
    kvvtabSetError(&p->base, "%s", zErr ? zErr : "kvstore: out of memory");
  }
  sqlite3_free(zErr);
  kvownerClear(&store);
  return rc;
}

/*
** ALTER TABLE ... RENAME. A default directory carries the table's name, so
** it moves with it; that needs the engine closed, which is only safe with
** no transaction open and no other connection using the store. The shadow
** table is renamed too, and the store's OWNER records the new name.
*/
static int kvvtabRename(sqlite3_vtab *pVtab, const char *zNew){
  KvVtab *p = (KvVtab*)pVtab;
  char *zNewName = sqlite3_mprintf("%s", zNew);
  char *zNewDir = 0;
  char *zErr = 0;
  const char *zDbFile;
  struct stat st;
  int rc = SQLITE_OK;

  if( zNewName==0 ) return SQLITE_NOMEM;
  /* The kept horizon statements name the shadow table: prepared again. */
  sqlite3_finalize(p->pHorizon);
  p->pHorizon = 0;
  sqlite3_finalize(p->pSetHorizon);
  p->pSetHorizon = 0;
  kvtxnHorizonRelease(p);
  if( !p->bDefaultDir || (p->pKv==0 && !p->bOwn) ){
    /* A directory that is not the table's own (dir=, a private one, a
    ** foreign store) is never moved. */
    rc = vtabRenameShadow(p, zNew);
    if( rc==SQLITE_OK ) rc = vtabRenameOwner(p, zNew);
    if( rc!=SQLITE_OK ){
      sqlite3_free(zNewName);
      return rc;
    }
    sqlite3_free(p->zName);
    p->zName = zNewName;
    return SQLITE_OK;
  }

  if( p->pKv ) kvvtabCloseStaleTwins(p);
  if( !sqlite3_get_autocommit(p->db) || p->bInTrans ){
    kvvtabSetError(pVtab,
        "kvstore: cannot rename table %s inside a transaction: "
        "its data directory '%s' is renamed with it; COMMIT first",
        p->zName, p->zDir);
    rc = SQLITE_ERROR;
  }else if( p->nCursor>0 ){
    /* Renaming closes the engine the cursors read through. */
    kvvtabSetError(pVtab, "kvstore: cannot rename table %s while a statement "
        "is reading it; finish or reset that statement first", p->zName);
    rc = SQLITE_LOCKED;
  }else if( p->pKv && (kv_db_refcount(p->pKv)>1 || kv_open_elsewhere(p->pKv)) ){
    kvvtabSetError(pVtab, "kvstore: cannot rename table %s while another table, "
        "connection or process uses its store '%s'", p->zName, p->zDir);
    rc = SQLITE_BUSY;
  }else if( strchr(zNew, '/') ){
    kvvtabSetError(pVtab, "kvstore: cannot rename table %s to %s: the name "
        "contains '/' and names its data directory", p->zName, zNew);
    rc = SQLITE_ERROR;
  }
  if( rc==SQLITE_OK ){
    zDbFile = kvvtabDbFile(p);         /* a default directory: it has one */
    zNewDir = kvownerDefaultDir(zDbFile ? zDbFile : "", zNew);
    if( zNewDir && stat(zNewDir, &st)==0 ){
      /* The store of a table of that name dropped before: gone once its
      ** DROP is settled or finished. */
      if( p->pConn->pDrops ) kvvtabDropsSettle(p->pConn, 0);
      createFinishDrop(p, zNewDir, kvownerProbe(zNewDir));
    }
    if( zNewDir==0 ){
      rc = SQLITE_NOMEM;
    }else if( stat(zNewDir, &st)==0 ){
      kvvtabSetError(pVtab,
          "kvstore: cannot rename table %s to %s: '%s' already "
          "exists", p->zName, zNew, zNewDir);
      rc = SQLITE_ERROR;
    }
  }
  if( rc==SQLITE_OK ) rc = vtabRenameShadow(p, zNew);
  if( rc==SQLITE_OK && p->pKv ){
    kvtxnHorizonRelease(p);
    rc = kv_close_nowait(p->pKv);     /* reopened under the new name */
    p->pKv = 0;
    if( rc!=KV_OK ) kvvtabEngineError(pVtab, rc, "closing the store");
  }
  if( rc==SQLITE_OK ){
    if( rename(p->zDir, zNewDir)!=0 && errno!=ENOENT ){
      kvvtabSetError(pVtab, "kvstore: cannot rename '%s' to '%s': %s",
               p->zDir, zNewDir, strerror(errno));
      rc = SQLITE_IOERR;
    }else{
      char *zOldDir = p->zDir;
      p->zDir = zNewDir;
      rc = vtabRenameOwner(p, zNew);
      if( rc!=SQLITE_OK ){
        /* SQLite undoes the ALTER: the directory goes back where the
        ** table will look for it. (OWNER is unchanged, or names both.) */
        if( rename(zNewDir, zOldDir)!=0 && errno!=ENOENT ){
          sqlite3_log(SQLITE_IOERR, "kvstore: cannot move '%s' back to "
                      "'%s' after a failed rename: %s", zNewDir, zOldDir,
                      strerror(errno));
        }
        p->zDir = zOldDir;
      }else{
        sqlite3_free(zOldDir);
        zNewDir = 0;
        sqlite3_free(p->zName);
        p->zName = zNewName;
        zNewName = 0;
      }
    }
  }
  if( p->pKv==0 && p->zDetached==0 ){
    /* Once the directory has moved the rename stands: a store that does
    ** not open now is opened again by the next statement. */
    int rc2 = kvvtabOpenEngine(p, &zErr);
    if( rc2!=SQLITE_OK ){
      sqlite3_log(rc2, "%s", zErr ? zErr : "kvstore: cannot reopen the store");
    }
    sqlite3_free(zErr);
  }
  sqlite3_free(zNewName);
  sqlite3_free(zNewDir);
  return rc;
}

/****************************************************************************
** Writes and transactions.
*/

/*
** Report a constraint violation, or skip the row quietly under OR IGNORE
** (returning SQLITE_CONSTRAINT with SQLITE_IGNORE as the conflict mode
** makes SQLite skip the row).
*/
static int constraintError(KvVtab *p, int eCode, sqlite3_value *pKey,
                           int eWhy){
  if( sqlite3_vtab_on_conflict(p->db)==SQLITE_IGNORE ) return eCode;
  switch( eWhy ){
    case KVROW_KEY_NULL:
      kvvtabSetError(&p->base, "NOT NULL constraint failed: %s.key", p->zName);
      break;
    case KVROW_KEY_BADTYPE:
      kvvtabSetError(&p->base, "cannot store %s value in %s column %s.key",
               kvrowTypeName(sqlite3_value_type(pKey)),
               kvrowKeyTypeName(p->eKeyType), p->zName);
      break;
    default:
      kvvtabSetError(&p->base, "UNIQUE constraint failed: %s.key", p->zName);
      break;
  }
  return eCode;
}

/* Encode the key of an INSERT or UPDATE, reporting why it cannot be. */
static int writeKey(KvVtab *p, sqlite3_value *pVal, KvKey *pKey){
  int e = kvrowKeyFromValue(p->eKeyType, pVal, pKey);
  switch( e ){
    case KVROW_KEY_OK:
      if( (u64)pKey->n>p->nMaxKey ){
        kvvtabSetError(&p->base, "kvstore: key of %d bytes is larger than "
            "max_key_size (%llu) of table %s", pKey->n,
            (unsigned long long)p->nMaxKey, p->zName);
        return SQLITE_TOOBIG;
      }
      return SQLITE_OK;
    case KVROW_KEY_NULL:
      return constraintError(p, SQLITE_CONSTRAINT_NOTNULL, pVal,
                             KVROW_KEY_NULL);
    case KVROW_KEY_BADTYPE:
      return constraintError(p, SQLITE_CONSTRAINT_DATATYPE, pVal,
                             KVROW_KEY_BADTYPE);
    default:
      kvvtabSetError(&p->base, "kvstore: out of memory");
      return SQLITE_NOMEM;
  }
}

/* Does the key exist, as this transaction sees it? Sets *pbExists. */
static int keyExists(KvVtab *p, const KvKey *pKey, int *pbExists){
  const kv_snapshot *pSnap = 0;
  int rc = kvtxnReadSnapshot(p, &pSnap);
  if( rc!=SQLITE_OK ) return rc;
  rc = kv_get(p->pKv, pSnap, kvtxnReadBatch(p), pKey->p, (size_t)pKey->n, 0, 0);
  if( rc==KV_OK ){
    *pbExists = 1;
    return SQLITE_OK;
  }
  *pbExists = 0;
  if( rc==KV_NOTFOUND ) return SQLITE_OK;
  return kvvtabEngineError(&p->base, rc, "reading");
}

/*
** xUpdate. For this WITHOUT ROWID table:
**   argc==1                    DELETE; argv[0] is the key
**   argc>1, argv[0] NULL       INSERT; argv[2] key, argv[3] value
**   argc>1, argv[0] not NULL   UPDATE of the row with key argv[0]; argv[2]
**                              (also in argv[1]) is the new key, argv[3]
**                              the new value
** Each call is all-or-nothing: checks come before any write, and a failed
** second write cuts the batch back to where the call began.
*/
static int kvvtabUpdate(sqlite3_vtab *pVtab, int argc, sqlite3_value **argv,
                        sqlite_int64 *pRowid){
  KvVtab *p = (KvVtab*)pVtab;
  KvKey key, oldKey;
  u8 aValBuf[256];              /* the encoded value when small enough */
  u8 *aVal = 0;
  size_t nVal = 0;
  size_t nMark;
  int bOldKey = 0;
  int rc;

  (void)pRowid;
  memset(&key, 0, sizeof(key));
  memset(&oldKey, 0, sizeof(oldKey));
  rc = kvtxnWriteBegin(p);
  if( rc==SQLITE_OK ) rc = kvingestBlockWrite(p, argc, argv);
  if( rc==SQLITE_OK ) rc = kvbulkBeforeWrite(p, argc, argv);
  if( rc!=SQLITE_OK ) return rc;
  /* One token per row written, before anything changes. */
  rc = kv_rate_acquire(p->pKv, 1);
  if( rc!=KV_OK ) return kvvtabEngineError(pVtab, rc, "rate limiting");
  nMark = kv_batch_count(p->pBatch);

  if( sqlite3_value_type(argv[0])!=SQLITE_NULL ){
    int e = kvrowKeyFromValue(p->eKeyType, argv[0], &oldKey);
    if( e!=KVROW_KEY_OK ){
      kvvtabSetError(pVtab, e==KVROW_KEY_NOMEM ? "kvstore: out of memory"
                      : "kvstore: bad key of a row of table %s", p->zName);
      return e==KVROW_KEY_NOMEM ? SQLITE_NOMEM : SQLITE_MISMATCH;
    }
    bOldKey = 1;
  }

  if( argc==1 ){
    /* A point delete, which may complete a range (kvrange.c). */
    rc = kvrangeDelete(p, oldKey.p, oldKey.n);
    goto update_out;
  }
  if( argc>2+KVVTAB_COL_COMMAND
   && sqlite3_value_type(argv[2+KVVTAB_COL_COMMAND])!=SQLITE_NULL ){
    rc = kvrangeCommand(p, argc, argv);       /* a command row */
    goto update_out;
  }

  if( bOldKey && p->nGone ){
    int bGone;
    goneFind(p, oldKey.p, oldKey.n, &bGone);
    if( bGone ) goto update_out;        /* REPLACE deleted this row */
  }

  rc = writeKey(p, argv[2], &key);
  if( rc!=SQLITE_OK ) goto update_out;
  rc = kvrowValueEncodeTo(argv[3], aValBuf, sizeof(aValBuf), &aVal, &nVal);
  if( rc!=SQLITE_OK ){
    kvvtabSetError(pVtab, "kvstore: out of memory");
    goto update_out;
  }
  if( nVal>p->nMaxValue ){
    kvvtabSetError(pVtab,
        "kvstore: value of %llu bytes (encoded) is larger than "
        "max_value_size (%llu) of table %s", (unsigned long long)nVal,
        (unsigned long long)p->nMaxValue, p->zName);
    rc = SQLITE_TOOBIG;
    goto update_out;
  }

  if( bOldKey && kvrowKeyCompare(oldKey.p, oldKey.n, key.p, key.n)==0 ){
    /* UPDATE that keeps the key: a put. */
    rc = kv_batch_put(p->pBatch, key.p, (size_t)key.n, aVal, nVal);
    if( rc!=KV_OK ) rc = kvvtabEngineError(pVtab, rc, "writing");
    goto update_out;
  }

  if( !bOldKey ){
    /* A sorted load goes straight to an SSTable (kvbulk.c). */
    int bDone = 0;
    rc = kvbulkInsert(p, key.p, key.n, aVal, nVal, &bDone);
    if( rc!=SQLITE_OK || bDone ) goto update_out;
    nMark = kv_batch_count(p->pBatch);  /* an ended load's rows are there */
  }

  /* INSERT, or UPDATE that moves the row to another key: the new key must
  ** be free unless the conflict mode is REPLACE (a blind put). */
  if( sqlite3_vtab_on_conflict(p->db)!=SQLITE_REPLACE ){
    int bExists = 0;
    rc = keyExists(p, &key, &bExists);
    if( rc!=SQLITE_OK ) goto update_out;
    if( bExists ){
      rc = constraintError(p, SQLITE_CONSTRAINT_PRIMARYKEY, argv[2], 0);
      goto update_out;
    }
  }
  if( bOldKey ){
    if( sqlite3_vtab_on_conflict(p->db)==SQLITE_REPLACE ){
      /* Whatever row held the new key is gone: if this statement has
      ** yet to visit it, it must skip it. */
      rc = goneAdd(p, key.p, key.n);
      if( rc!=SQLITE_OK ){
        kvvtabSetError(pVtab, "kvstore: out of memory");
        goto update_out;
      }
    }
    rc = kv_batch_delete(p->pBatch, oldKey.p, (size_t)oldKey.n);
    if( rc!=KV_OK ){
      rc = kvvtabEngineError(pVtab, rc, "deleting");
      goto update_out;
    }
  }
  rc = kv_batch_put(p->pBatch, key.p, (size_t)key.n, aVal, nVal);
  if( rc!=KV_OK ) rc = kvvtabEngineError(pVtab, rc, "writing");

update_out:
  if( rc!=SQLITE_OK && p->pBatch ) kv_batch_truncate(p->pBatch, nMark);
  if( aVal!=aValBuf ) sqlite3_free(aVal);
  return rc;
}

/****************************************************************************
** Finding an open table (kvlookup.c finds the others).
*/

/* The open kvstore table zSchema.zTable of connection db, or NULL. */
KvVtab *kvvtabFindOpen(sqlite3 *db, const char *zSchema,
                       const char *zTable){
  KvConn *pConn;
  KvVtab *p = 0;
  pthread_mutex_lock(&kvConnMutex);
  for(pConn=kvConnList; pConn && pConn->db!=db; pConn=pConn->pNext){}
  pthread_mutex_unlock(&kvConnMutex);
  if( pConn==0 ) return 0;
  for(p=pConn->pTabs; p; p=p->pNextTab){
    if( sqlite3_stricmp(p->zSchema, zSchema)==0
     && sqlite3_stricmp(p->zName, zTable)==0 ){
      break;
    }
  }
  return p;
}

/*
** sqlite3_is_interrupted(), added in SQLite 3.41, for long work inside a
** statement: the functions of ext/ (KvextWatch) and xIntegrity. The library
** running us may be newer than the headers we were built with, so the call
** is found at run time: through the extension's API table when
** sqlite3_libversion_number() says the table has the slot (its layout is
** append-only: the 3.41 slot follows the last slot of 3.40), or as a weak
** symbol when SQLite is linked in (SQLITE_CORE). NULL on older libraries.
*/
#if SQLITE_VERSION_NUMBER>=3041000
KvIsInterruptedFn kvvtabIsInterruptedFn(void){
  return sqlite3_libversion_number()>=3041000 ? sqlite3_is_interrupted : 0;
}
#elif defined(SQLITE_CORE)
extern int sqlite3_is_interrupted(sqlite3*) __attribute__((weak));
KvIsInterruptedFn kvvtabIsInterruptedFn(void){
  return sqlite3_libversion_number()>=3041000 ? sqlite3_is_interrupted : 0;
}
#elif SQLITE_VERSION_NUMBER>=3040000
/* The 3.40 table followed by the slot 3.41 appended. */
typedef struct ApiRoutines341 ApiRoutines341;
struct ApiRoutines341 {
  sqlite3_api_routines base;
  KvIsInterruptedFn is_interrupted;
};
KvIsInterruptedFn kvvtabIsInterruptedFn(void){
  if( sqlite3_libversion_number()<3041000 ) return 0;
  return ((const ApiRoutines341*)sqlite3_api)->is_interrupted;
}
#else
KvIsInterruptedFn kvvtabIsInterruptedFn(void){ return 0; }
#endif


/****************************************************************************
** Registration.
*/

/* "T_kvstore" is the shadow table of table T (kvshadow.h). */
static int kvvtabShadowName(const char *zSuffix){
  return sqlite3_stricmp(zSuffix, "kvstore")==0;
}

/*
** xIntegrity (SQLite >= 3.44): PRAGMA integrity_check and quick_check of a
** database check its kvstore tables too, as they do FTS5's and R-Tree's.
** Both report a table that cannot use its store (detached: missing,
** another table's, damaged beyond opening, a shadow table kvstore did not
** make) with the reason; integrity_check then reads the store whole, as
** kvstore_verify does (every live SSTable's checksums and Merkle root, the
** WAL), and reports its first problem. A problem is a line of the PRAGMA's
** result (*pzErr, SQLITE_OK); an error code fails the PRAGMA (out of
** memory, interrupted).
*/
static int verifyInterrupted(void *pArg, uint64_t nDone, uint64_t nPlanned){
  KvVtab *p = (KvVtab*)pArg;
  KvIsInterruptedFn xIs = kvvtabIsInterruptedFn();
  (void)nDone;
  (void)nPlanned;
  return xIs ? xIs(p->db) : 0;
}

#define KVVTAB_QUICK_CHECK 0x0001     /* xIntegrity's mFlags: quick_check */

static int kvvtabIntegrity(sqlite3_vtab *pVtab, const char *zSchema,
                           const char *zTabName, int mFlags, char **pzErr){
  KvVtab *p = (KvVtab*)pVtab;
  char *zReport = 0;
  int rc = kvvtabAttach(p);
  *pzErr = 0;
  if( rc==SQLITE_NOMEM ) return rc;
  if( rc!=SQLITE_OK ){
    *pzErr = sqlite3_mprintf("%s", p->zDetached);
    return *pzErr ? SQLITE_OK : SQLITE_NOMEM;
  }
  if( mFlags & KVVTAB_QUICK_CHECK ) return SQLITE_OK;
  rc = kv_verify_progress(p->pKv, verifyInterrupted, p, &zReport);
  if( rc!=KV_OK ) return kvvtabEngineError(pVtab, rc, "integrity check");
  if( strcmp(zReport, "ok")!=0 ){
    const char *z = zReport;
    if( strncmp(z, "kvstore: ", 9)==0 ) z += 9;
    *pzErr = sqlite3_mprintf("kvstore: table %s.%s: %s", zSchema, zTabName,
                             z);
    if( *pzErr==0 ) rc = SQLITE_NOMEM;
  }
  kv_free(zReport);
  return rc;
}

/*
** The module. xIntegrity came with SQLite 3.44 (iVersion 4), appended to
** sqlite3_module; with older headers it is appended here, at the offset
** the newer struct has it. Older libraries read no further than their
** own members.
*/
typedef struct KvModule KvModule;
struct KvModule {
  sqlite3_module base;
#if SQLITE_VERSION_NUMBER<3044000
  int (*xIntegrity)(sqlite3_vtab*, const char*, const char*, int, char**);
#endif
};
#if SQLITE_VERSION_NUMBER<3044000
_Static_assert(offsetof(KvModule, xIntegrity)
               ==offsetof(sqlite3_module, xShadowName) + sizeof(void(*)(void)),
               "xIntegrity follows xShadowName");
#endif

static KvModule kvvtabModule = { {
  /* iVersion    */ 4,
  /* xCreate     */ kvvtabCreate,
  /* xConnect    */ kvvtabConnect,
  /* xBestIndex  */ kvvtabBestIndex,
  /* xDisconnect */ kvvtabDisconnect,
  /* xDestroy    */ kvvtabDestroy,
  /* xOpen       */ kvvtabOpen,
  /* xClose      */ kvvtabClose,
  /* xFilter     */ kvvtabFilter,
  /* xNext       */ kvvtabNext,
  /* xEof        */ kvvtabEof,
  /* xColumn     */ kvvtabColumn,
  /* xRowid      */ kvvtabRowid,
  /* xUpdate     */ kvvtabUpdate,
  /* xBegin      */ kvvtabBegin,
  /* xSync       */ kvvtabSync,
  /* xCommit     */ kvvtabCommit,
  /* xRollback   */ kvvtabRollback,
  /* xFindMethod */ 0,
  /* xRename     */ kvvtabRename,
  /* xSavepoint  */ kvvtabSavepoint,
  /* xRelease    */ kvvtabRelease,
  /* xRollbackTo */ kvvtabRollbackTo,
  /* xShadowName */ kvvtabShadowName,
#if SQLITE_VERSION_NUMBER>=3044000
  /* xIntegrity  */ kvvtabIntegrity
#endif
  },
#if SQLITE_VERSION_NUMBER<3044000
  /* xIntegrity  */ kvvtabIntegrity
#endif
};

/* Register the module on db (kvext.h). */
int kvvtabRegister(sqlite3 *db, char **pzErrMsg){
  KvConn *pConn = kvConnAcquire(db);
  int rc;
  if( pConn==0 ) return SQLITE_NOMEM;
  /* On failure SQLite calls the destructor, which drops our reference. */
  rc = sqlite3_create_module_v2(db, "kvstore", &kvvtabModule.base, pConn,
                                kvConnRelease);
  if( rc!=SQLITE_OK ){
    *pzErrMsg = sqlite3_mprintf("kvstore: cannot register the module: %s",
                                sqlite3_errmsg(db));
  }
  return rc;
}
