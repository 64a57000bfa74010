/*
** repair.c - kv_repair: rebuild what a damaged store lost, on request only.
**
** Opening refuses a store that lost its CURRENT file, its manifest or a
** table its manifest lists (db.c, version.c): creating a store over the
** remains, or opening without the lost parts, would drop rows silently.
** kv_repair is the explicit way back, in the manner of LevelDB's RepairDB:
**
**   1. If the store opens, there is nothing to repair.
**   2. Otherwise, and only when opening failed with KV_CORRUPT, every
**      "<n>.sst" of the directory is opened and checked (footer, summary,
**      filter, metadata). A table that fails is renamed "<n>.sst.damaged"
**      (kept for inspection, never deleted); the others go to level 0 of a
**      new manifest, with the largest sequence number and file number they
**      hold, and CURRENT is pointed at it (written to a temporary name,
**      fsynced, renamed, directory fsynced). Every WAL segment present is
**      replayed by the next open, as after a crash.
**   3. The store is opened (the WAL is replayed) and fully compacted. Level
**      0 is searched newest table first by largest sequence, which is not
**      right for tables that came from deeper levels; the full compaction
**      merges every version by sequence number, so the store reads right
**      once kv_repair returns.
**
** What repair cannot know: a table that a compaction had just replaced
** (its deletion interrupted by a crash) comes back, so a key whose
** tombstone that compaction dropped can reappear. Rows only in a lost
** WAL segment or a damaged table are lost.
*/
#include "kvInt.h"
#include "filename.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct RepairScan RepairScan;
struct RepairScan {
  KvVersionEdit edit;           /* the tables kept, at level 0 */
  u64 iMaxFile;                 /* largest file number seen */
  u64 iMaxSeq;                  /* largest sequence number in a table */
  u64 iMinWal;                  /* smallest WAL segment present (0: none) */
  int nTable, nDamaged, nWal;
};

/* Open and check table iFile; add it to p->edit or rename it aside. */
static int repairTable(KvEnv *pEnv, const char *zDir, u64 iFile,
                       RepairScan *p){
  char *zPath = kvSstPath(zDir, iFile);
  KvSst *pSst = 0;
  int rc;
  if( zPath==0 ) return kvErrNoMem();
  rc = kvSstOpen(pEnv, zPath, 0, 0, &pSst);
  /* A damaged filter would fail every point read of the table later. */
  if( rc==KV_OK && (rc = kvSstFilterLoad(pSst, 1))!=KV_OK ){
    kvSstClose(pSst);
  }
  if( rc==KV_OK ){
    const KvSstMeta *m = kvSstGetMeta(pSst);
    rc = kvEditAddFile(&p->edit, 0, m, iFile);
    if( rc==KV_OK && m->maxSeq>p->iMaxSeq ) p->iMaxSeq = m->maxSeq;
    if( rc==KV_OK && m->nEntry>0 ) p->nTable++;
    kvSstClose(pSst);
  }else if( rc==KV_CORRUPT ){
    char *zAside = kvFileName(zDir, KV_FILE_SST_DAMAGED, iFile);
    rc = zAside ? pEnv->xRename(pEnv, zPath, zAside)
                : kvErrNoMem();
    if( rc==KV_OK ) p->nDamaged++;
    kvFree(zAside);
  }
  kvFree(zPath);
  return rc;
}

/* Write a new manifest listing the tables of p, and CURRENT naming it. */
static int repairManifest(KvEnv *pEnv, const char *zDir, int nLevel,
                          RepairScan *p){
  KvVersionSet vs;
  pthread_mutex_t mutex;
  KvReadCounters counters;
  int rc;
  memset(&vs, 0, sizeof(vs));
  memset(&counters, 0, sizeof(counters));
  pthread_mutex_init(&mutex, 0);
  vs.pEnv = pEnv;
  vs.zDir = (char*)zDir;
  vs.nLevel = nLevel;
  vs.pCounters = &counters;
  vs.pMutex = &mutex;
  vs.iNextFile = p->iMaxFile + 1;
  rc = kvVsetCreate(&vs);
  if( rc==KV_OK ){
    p->edit.bLastSeq = 1;
    p->edit.iLastSeq = p->iMaxSeq;
    p->edit.bLogNumber = 1;
    p->edit.iLogNumber = p->iMinWal ? p->iMinWal : 1;  /* replay them all */
    rc = kvVsetApply(&vs, &p->edit);
  }
  kvVsetClose(&vs);
  pthread_mutex_destroy(&mutex);
  return rc;
}

static int repairRebuild(KvEnv *pEnv, const char *zDir, int nLevel,
                         RepairScan *p){
  char **az = 0;
  int n = 0, i;
  char *zLock = kvFileName(zDir, KV_FILE_LOCK, 0);
  KvFile *pLock = 0;
  int rc = zLock ? KV_OK : kvErrNoMem();
  if( rc==KV_OK ) rc = pEnv->xLock(pEnv, zLock, &pLock);
  if( rc==KV_OK ){
    /* No process may have the store open (shared.c's OPEN byte). */
    rc = pEnv->xLockByte(pLock, KV_LOCKB_OPEN, KV_LOCK_EXCL, 0);
    if( rc==KV_BUSY ){
      rc = kvErr(KV_BUSY, "kvstore: '%s' is locked by another process: "
                 "it is open there", zDir);
    }
  }
  if( rc==KV_OK ) rc = pEnv->xList(pEnv, zDir, &az, &n);
  for(i=0; rc==KV_OK && i<n; i++){
    int eType;
    u64 iNum;
    kvParseFileName(az[i], &eType, &iNum);
    if( eType==KV_FILE_WAL && iNum>0 ){
      p->nWal++;
      if( p->iMinWal==0 || iNum<p->iMinWal ) p->iMinWal = iNum;
    }else if( eType==KV_FILE_SST ){
      if( iNum>p->iMaxFile ) p->iMaxFile = iNum;
      rc = repairTable(pEnv, zDir, iNum, p);
    }else if( eType==KV_FILE_MANIFEST && iNum>p->iMaxFile ){
      p->iMaxFile = iNum;         /* a manifest's number is never reused */
    }
  }
  if( rc==KV_OK ) rc = repairManifest(pEnv, zDir, nLevel, p);
  kvFreeList(az, n);
  if( pLock ) pEnv->xUnlock(pLock);
  kvFree(zLock);
  return rc;
}

int kv_repair(const char *zDir, const kv_options *opts, char **pzReport){
  kv_options *pOpts = opts ? kv_options_copy(opts) : kv_options_new();
  KvEnv *pEnv = (opts && opts->pEnv) ? opts->pEnv : kvEnvPosix();
  RepairScan scan;
  kv_db *db = 0;
  char *zWhy = 0;
  int rc;

  if( pzReport ) *pzReport = 0;
  memset(&scan, 0, sizeof(scan));
  if( pOpts==0 ) return kvErrNoMem();
  kv_options_set_create(pOpts, 0);
  /* Asked for: revoke above the horizon even where the database went back
  ** further than a power cut could take it (recover.c). */
  pOpts->bRevokeAny = 1;
  rc = kv_open(zDir, pOpts, &db);
  if( rc==KV_OK ){
    u64 iH = 0, nBatch = 0, nEntry = 0;
    int bRevoked = kv_revoked(db, &iH, &nBatch, &nEntry);
    u64 iBehind = db->iBehindFrom;
    rc = kv_close(db);
    if( rc==KV_OK && pzReport && iBehind ){
      /* Older than its database (bRevokeAny): it goes on from there. */
      *pzReport = kvMprintf("{\"repaired\":true,\"reason\":\"the store "
                            "lacks the database's last commits; it goes on "
                            "from what it holds\",\"horizon\":%" PRIu64
                            ",\"store_sequence\":%" PRIu64 "}",
                            pOpts->iHorizon, iBehind);
      if( *pzReport==0 ) rc = kvErrNoMem();
    }else if( rc==KV_OK && pzReport && bRevoked ){
      /* It opened by revoking what the database lacks (bRevokeAny). */
      *pzReport = kvMprintf("{\"repaired\":true,\"reason\":\"revoked the "
                            "commits the database does not hold\","
                            "\"horizon\":%" PRIu64 ",\"revoked_batches\":%"
                            PRIu64 ",\"revoked_entries\":%" PRIu64 "}", iH,
                            nBatch, nEntry);
      if( *pzReport==0 ) rc = kvErrNoMem();
    }else if( rc==KV_OK && pzReport ){
      *pzReport = kvMprintf("{\"repaired\":false,\"reason\":\"the store "
                            "opens: nothing to repair\"}");
      if( *pzReport==0 ) rc = kvErrNoMem();
    }
    kv_options_free(pOpts);
    return rc;
  }
  if( rc!=KV_CORRUPT ){
    /* Locked, missing, being dropped, an I/O error: not repair's to fix. */
    kv_options_free(pOpts);
    return rc;
  }
  zWhy = kvStrdup(kv_errmsg(0));
  kvErrClear();
  rc = repairRebuild(pEnv, zDir, pOpts->nLevel, &scan);
  if( rc==KV_OK ) rc = kv_open(zDir, pOpts, &db);
  if( rc==KV_OK ){
    rc = kv_compact(db, 1, 0);
    if( rc==KV_OK ){
      rc = kv_close(db);
    }else{
      KvErrSave save;
      kvErrSave(&save);
      kv_close(db);
      kvErrRestore(&save, rc);
    }
  }
  if( rc==KV_OK && pzReport ){
    char *zEsc = kvMprintf("%s", zWhy ? zWhy : "");
    char *q;
    /* the reason as a JSON string: quotes and backslashes escaped */
    size_t nEsc = zEsc ? strlen(zEsc) : 0, k, j = 0;
    q = zEsc ? kvMalloc(nEsc*2 + 1) : 0;
    if( q ){
      for(k=0; k<nEsc; k++){
        unsigned char c = (unsigned char)zEsc[k];
        if( c=='"' || c=='\\' ) q[j++] = '\\';
        q[j++] = c<0x20 ? ' ' : (char)c;
      }
      q[j] = 0;
      *pzReport = kvMprintf("{\"repaired\":true,\"reason\":\"%s\","
                            "\"tables\":%d,\"damaged_tables\":%d,"
                            "\"wal_segments\":%d}", q, scan.nTable,
                            scan.nDamaged, scan.nWal);
    }
    if( *pzReport==0 ) rc = kvErrNoMem();
    kvFree(q);
    kvFree(zEsc);
  }
  kvEditClear(&scan.edit);
  kvFree(zWhy);
  kv_options_free(pOpts);
  return rc;
}
