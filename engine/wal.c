/*
** wal.c - the segmented write-ahead log.
**
** FORMAT
**
** The log lives in the store's directory as segment files
** "wal-<n>.log", n in decimal with at least 6 digits ("wal-000042.log").
** A segment is a log.c file (framing and checksums documented there); each
** of its records holds one committed batch:
**
**     offset  size  field
**     0       8     first sequence number of the batch, little-endian
**     8       8     timestamp, microseconds since the epoch, little-endian
**     16      4     number of operations in the batch, little-endian;
**                   the top bit (KV_WAL_PREPARED) marks a PREPARED record
**                   of a two-phase commit (db.c says when it counts)
**     20      ...   the batch representation (batch.c)
**
** Sequence numbers grow from record to record and from segment to segment,
** so replaying segments in number order replays the history in order.
**
** WRITING
**
** One writer appends to the newest segment. Before an append that would
** take the segment past nSegmentSize bytes or nSegmentRecords records
** (0 = no limit), the writer moves to segment n+1; a record larger than
** the size limit still goes into a segment, alone. Moving on (also on
** kvWalRotate) syncs the old segment first unless sync=off, and every new
** segment file is followed by a directory fsync before anything is written
** to it, so a synced record is never in a file the directory has lost.
**
** Failures are sticky: after a failed fsync (of a segment or of the
** directory) every later append, sync and rotation fails with KV_READONLY
** until the WAL is reopened; a failed fsync is never retried, since the
** kernel may already have dropped the pages it could not write. A failed
** close or creation of a segment also stops the WAL (KV_IOERR, or KV_NOMEM
** or KV_FULL when that was the cause): moving on
** to a new segment behind a damaged one would put good records after a
** bad one, which recovery would then never reach. A failed append that
** log.c could truncate away is not sticky.
**
** REPLAY
**
** Segments are replayed in ascending order from a given number; gaps in
** the numbering are allowed (deleted segments). A segment that has a
** successor and ends in zeros is read up to them and replay goes on: the
** writer preallocates (env_posix.c) and cuts the file back at close, and
** the cut can be lost in a power cut, while every record of the segment
** was written before the next segment was created. Replay stops at the
** first other torn tail: the records after it, in that segment or later ones, are not
** part of a history that can be recovered as a prefix. The caller must not
** let those later segments be replayed at a later open either (delete
** them or start new segments above them only after cutting the torn one).
*/
#include "kvInt.h"
#include "filename.h"
#include "log_format.h"

#include <stdio.h>
#include <stdlib.h>


/* The record scratch buffer is dropped after a record larger than this. */
#define WAL_KEEP_BUFFER (1024*1024)

struct KvWal {
  KvEnv *pEnv;
  char *zDir;
  KvWalConfig cfg;
  u64 iSeg;                     /* number of the segment being written */
  KvLogWriter *pLog;            /* writer of segment iSeg */
  u64 nRecord;                  /* records in segment iSeg */
  int rcSticky;                 /* once set, every write returns it */
  char zSticky[600];            /* message returned with rcSticky */
  KvBuf rec;                    /* scratch: the record being appended */
  /* iSeg and the current segment's size as kvWalSegment and kvWalBytes
  ** report them: statistics read these from any thread while the writer
  ** appends and rotates (freeing pLog) without the caller's lock. */
  _Atomic u64 iSegShown;
  _Atomic u64 nByteShown;
};

char *kvWalPath(const char *zDir, u64 iSeg){
  return kvFileName(zDir, KV_FILE_WAL, iSeg);
}

/* Close pLog without letting a close() error replace the message of the
** failure that made the caller give up. */
static void walCloseLogQuietly(KvLogWriter *pLog){
  KvErrSave save;
  if( pLog==0 ) return;
  kvErrSave(&save);
  kvLogWriterClose(pLog);
  kvErrRestore(&save, KV_OK);
}

/*
** Stop the WAL after a failure whose message is the current one: rc is
** returned now, rcSticky by every later write. bFsync says the failure
** was an fsync, after which the store is read-only.
*/
static int walStop(KvWal *pWal, int rc, int bFsync){
  assert( rc!=KV_OK );
  if( pWal->rcSticky==KV_OK ){
    /* Out of memory and disk full keep their own codes, so a caller can
    ** tell them (and the user what to do) from a failing device. */
    pWal->rcSticky = bFsync ? KV_READONLY
                   : (rc==KV_NOMEM || rc==KV_FULL) ? rc : KV_IOERR;
    snprintf(pWal->zSticky, sizeof(pWal->zSticky),
             bFsync ? "kvstore: write-ahead log in '%s' is read-only after "
                      "a failed fsync (%s)"
                    : "kvstore: write-ahead log in '%s' refuses writes after "
                      "a failure (%s)",
             pWal->zDir, kvErrMsg());
  }
  return rc;
}

static int walCheck(KvWal *pWal){
  if( pWal->rcSticky!=KV_OK ) return kvErr(pWal->rcSticky, "%s", pWal->zSticky);
  return KV_OK;
}

/*
** Create segment iSeg, make its directory entry durable, and make it the
** current segment. On failure *pbFsync says whether the directory fsync
** was what failed. REQUIRES: no segment is open.
*/
static int walNewSegment(KvWal *pWal, u64 iSeg, int *pbFsync){
  char *zPath;
  KvLogWriter *pLog = 0;
  int rc;
  assert( pWal->pLog==0 );
  *pbFsync = 0;
  zPath = kvWalPath(pWal->zDir, iSeg);
  if( zPath==0 ){
    return kvErr(KV_NOMEM, "kvstore: out of memory creating a WAL segment "
                 "in '%s'", pWal->zDir);
  }
  rc = kvLogWriterOpenAt(pWal->pEnv, zPath,
                         pWal->cfg.bShared ? KV_OPEN_SHARED : 0, 0, &pLog);
  if( rc==KV_OK ){
    rc = pWal->pEnv->xSyncDir(pWal->pEnv, pWal->zDir);
    if( rc!=KV_OK ){
      *pbFsync = 1;
      kvErr(rc, "%s (after creating '%s')", kvErrMsg(), zPath);
      walCloseLogQuietly(pLog);
      pLog = 0;
    }
  }
  kvFree(zPath);
  if( rc==KV_OK ){
    pWal->pLog = pLog;
    pWal->iSeg = iSeg;
    pWal->nRecord = 0;
    atomic_store(&pWal->iSegShown, iSeg);
    atomic_store(&pWal->nByteShown, kvLogSize(pLog));
  }
  return rc;
}

/* Sync (unless sync=off) and close the current segment, start the next. */
static int walRotate(KvWal *pWal){
  KvLogWriter *pOld = pWal->pLog;
  int bFsync = 0;
  int rc;
  assert( pOld!=0 );
  if( pWal->cfg.eSync!=KV_SYNC_OFF ){
    rc = kvLogSync(pOld);
    if( rc!=KV_OK ) return walStop(pWal, rc, 1);
  }
  pWal->pLog = 0;
  rc = kvLogWriterClose(pOld);
  if( rc!=KV_OK ) return walStop(pWal, rc, rc==KV_READONLY);
  rc = walNewSegment(pWal, pWal->iSeg + 1, &bFsync);
  /* A failed directory fsync is as final as a failed file fsync. */
  if( rc!=KV_OK ) return walStop(pWal, rc, bFsync);
  return KV_OK;
}

static void walFree(KvWal *pWal){
  if( pWal ){
    kvBufFree(&pWal->rec);
    kvFree(pWal->zDir);
    kvFree(pWal);
  }
}

int kvWalOpen(KvEnv *pEnv, const char *zDir, u64 iSeg,
              const KvWalConfig *pCfg, KvWal **ppWal){
  KvWal *pWal;
  int bFsync = 0;
  int rc = KV_OK;
  assert( pEnv && zDir && pCfg && ppWal );
  *ppWal = 0;
  pWal = kvMallocZero(sizeof(*pWal));
  if( pWal ) pWal->zDir = kvStrdup(zDir);
  if( pWal==0 || pWal->zDir==0 ){
    rc = kvErr(KV_NOMEM, "kvstore: out of memory opening the WAL in '%s'",
               zDir);
  }
  if( rc==KV_OK ){
    pWal->pEnv = pEnv;
    pWal->cfg = *pCfg;
    rc = walNewSegment(pWal, iSeg, &bFsync);
  }
  if( rc!=KV_OK ){
    walFree(pWal);
    return rc;
  }
  *ppWal = pWal;
  return KV_OK;
}

int kvWalOpenAt(KvEnv *pEnv, const char *zDir, u64 iSeg, u64 iOff,
                const KvWalConfig *pCfg, KvWal **ppWal){
  KvWal *pWal;
  char *zPath = 0;
  int rc = KV_OK;
  *ppWal = 0;
  pWal = kvMallocZero(sizeof(*pWal));
  if( pWal ) pWal->zDir = kvStrdup(zDir);
  if( pWal ) zPath = kvWalPath(zDir, iSeg);
  if( pWal==0 || pWal->zDir==0 || zPath==0 ){
    rc = kvErr(KV_NOMEM, "kvstore: out of memory opening the WAL in '%s'",
               zDir);
  }
  if( rc==KV_OK ){
    pWal->pEnv = pEnv;
    pWal->cfg = *pCfg;
    rc = kvLogWriterOpenAt(pEnv, zPath, pCfg->bShared ? KV_OPEN_SHARED : 0,
                           iOff, &pWal->pLog);
  }
  kvFree(zPath);
  if( rc!=KV_OK ){
    walFree(pWal);
    return rc;
  }
  pWal->iSeg = iSeg;
  /* Records others wrote count toward the segment's limit by size only. */
  pWal->nRecord = iOff>0 ? 1 : 0;
  atomic_store(&pWal->iSegShown, iSeg);
  atomic_store(&pWal->nByteShown, iOff);
  *ppWal = pWal;
  return KV_OK;
}

u64 kvWalEnd(KvWal *pWal){
  /* 0 (no position) once a failed rotation left no segment open */
  if( pWal->pLog==0 ) return 0;
  return KV_WALPOS(pWal->iSeg, kvLogSize(pWal->pLog));
}

int kvWalCut(KvWal *pWal){
  int rc = walCheck(pWal);
  if( rc==KV_OK && pWal->pLog ) rc = kvLogCut(pWal->pLog);
  return rc;
}

int kvWalReadSegment(KvEnv *pEnv, const char *zDir, u64 iSeg, u64 iFrom,
                     u64 iTo, KvBuf *pBuf){
  char *zPath = kvWalPath(zDir, iSeg);
  KvFile *pFile = 0;
  u64 nSize = 0;
  int rc = zPath ? KV_OK : kvErrNoMem();
  pBuf->n = 0;
  if( rc==KV_OK ) rc = pEnv->xOpen(pEnv, zPath, KV_OPEN_READ, &pFile);
  if( rc==KV_OK ) rc = pEnv->xSize(pFile, &nSize);
  if( rc==KV_OK ){
    size_t nRead = 0;
    if( iTo>nSize ) iTo = nSize;
    if( iTo>iFrom ){
      rc = kvBufReserve(pBuf, (size_t)(iTo-iFrom));
      if( rc==KV_OK ){
        rc = pEnv->xRead(pFile, iFrom, pBuf->a, (size_t)(iTo-iFrom), &nRead);
      }
      if( rc==KV_OK ) pBuf->n = nRead;
    }
  }
  if( pFile ) pEnv->xClose(pFile);
  kvFree(zPath);
  return rc;
}

/* 1 if a record with nPayload bytes of payload must go to a new segment. */
static int walRotateDue(KvWal *pWal, size_t nPayload){
  const KvWalConfig *pCfg = &pWal->cfg;
  if( pWal->nRecord==0 ) return 0;    /* an empty segment takes anything */
  if( pCfg->nSegmentRecords>0 && pWal->nRecord>=pCfg->nSegmentRecords ){
    return 1;
  }
  if( pCfg->nSegmentSize>0
   && kvLogSize(pWal->pLog) + KV_LOG_HEADER + (u64)nPayload
        > pCfg->nSegmentSize ){
    return 1;
  }
  return 0;
}

int kvWalAppend(KvWal *pWal, u64 firstSeq, u64 nowMicros, u32 nCount,
                const u8 *pRep, size_t nRep, int bSync){
  size_t nPayload = KV_WAL_HEADER + nRep;
  int rc;
  assert( pWal!=0 );
  assert( pRep!=0 || nRep==0 );
  rc = walCheck(pWal);
  if( rc==KV_OK && walRotateDue(pWal, nPayload) ) rc = walRotate(pWal);
  if( rc==KV_OK ){
    pWal->rec.n = 0;
    rc = kvBufReserve(&pWal->rec, nPayload);
  }
  if( rc==KV_OK ){
    u8 *a = pWal->rec.a;
    kvPut64(a, firstSeq);
    kvPut64(a+8, nowMicros);
    kvPut32(a+16, nCount);
    if( nRep>0 ) memcpy(a + KV_WAL_HEADER, pRep, nRep);
    rc = kvLogAppend(pWal->pLog, a, nPayload);
    if( rc==KV_OK ){
      pWal->nRecord++;
      atomic_store(&pWal->nByteShown, kvLogSize(pWal->pLog));
    }
  }
  if( pWal->rec.nAlloc>WAL_KEEP_BUFFER ) kvBufFree(&pWal->rec);
  if( rc==KV_OK && bSync ) rc = kvWalSync(pWal);
  return rc;
}

int kvWalSync(KvWal *pWal){
  int rc = walCheck(pWal);
  if( rc==KV_OK ){
    rc = kvLogSync(pWal->pLog);
    if( rc!=KV_OK ) walStop(pWal, rc, 1);
  }
  return rc;
}

int kvWalRotate(KvWal *pWal, u64 *piSeg){
  int rc = walCheck(pWal);
  if( rc==KV_OK ) rc = walRotate(pWal);
  if( piSeg ) *piSeg = pWal->iSeg;
  return rc;
}

u64 kvWalSegment(KvWal *pWal){
  return atomic_load(&pWal->iSegShown);
}

u64 kvWalBytes(KvWal *pWal){
  return atomic_load(&pWal->nByteShown);
}

/*
** Close the WAL. Unless sync=off, the current segment is synced first, so
** a clean shutdown leaves every record durable whatever the sync mode.
** Returns the first error met. NULL is a no-op.
*/
static int walClose(KvWal *pWal, int bSync){
  int rc = KV_OK;
  if( pWal==0 ) return KV_OK;
  if( pWal->pLog ){
    if( bSync && pWal->rcSticky==KV_OK && pWal->cfg.eSync!=KV_SYNC_OFF ){
      rc = kvLogSync(pWal->pLog);
    }
    if( rc==KV_OK ){
      rc = kvLogWriterClose(pWal->pLog);
    }else{
      walCloseLogQuietly(pWal->pLog);
    }
  }
  walFree(pWal);
  return rc;
}

int kvWalClose(KvWal *pWal){
  return walClose(pWal, 1);
}

int kvWalCloseUnsynced(KvWal *pWal){
  return walClose(pWal, 0);
}

/* If zName is a segment name as kvWalPath() writes it, set *piSeg and
** return 1. Other spellings of a number are not ours. */
static int walParseName(const char *zName, u64 *piSeg){
  char zCanon[48];
  int eType;
  u64 v;
  if( !kvParseFileName(zName, &eType, &v) || eType!=KV_FILE_WAL ) return 0;
  if( strlen(zName)>8+19 ) return 0;  /* 19 digits always fit in a u64 */
  kvFileNameBuf(zCanon, sizeof(zCanon), KV_FILE_WAL, v);
  if( strcmp(zCanon, zName)!=0 ) return 0;
  *piSeg = v;
  return 1;
}

static int walCmpSeg(const void *a, const void *b){
  u64 x = *(const u64*)a, y = *(const u64*)b;
  return x<y ? -1 : x>y;
}

/* *paSeg is NULL when *pnSeg is 0. */
int kvWalList(KvEnv *pEnv, const char *zDir, u64 **paSeg, int *pnSeg){
  char **azName = 0;
  int nName = 0;
  u64 *aSeg = 0;
  int nSeg = 0;
  int i;
  int rc;
  *paSeg = 0;
  *pnSeg = 0;
  rc = pEnv->xList(pEnv, zDir, &azName, &nName);
  if( rc==KV_OK && nName>0 ){
    aSeg = kvMalloc(sizeof(u64)*(size_t)nName);
    if( aSeg==0 ){
      rc = kvErr(KV_NOMEM, "kvstore: out of memory listing '%s'", zDir);
    }
  }
  for(i=0; rc==KV_OK && i<nName; i++){
    if( walParseName(azName[i], &aSeg[nSeg]) ) nSeg++;
  }
  kvFreeList(azName, nName);
  if( rc!=KV_OK || nSeg==0 ){
    kvFree(aSeg);
    return rc;
  }
  qsort(aSeg, (size_t)nSeg, sizeof(u64), walCmpSeg);
  *paSeg = aSeg;
  *pnSeg = nSeg;
  return KV_OK;
}

/* Replay one segment into xBatch, updating *pInfo. bLast: no segment
** follows this one. */
static int walReplaySegment(KvEnv *pEnv, const char *zDir, u64 iSeg,
                            int bLast,
                            int (*xBatch)(void*, u64, u32, const u8*, size_t),
                            void *pCtx, KvWalReplayInfo *pInfo){
  char *zPath = kvWalPath(zDir, iSeg);
  KvLogReader *pR = 0;
  int rc = KV_OK;
  if( zPath==0 ){
    rc = kvErr(KV_NOMEM, "kvstore: out of memory replaying the WAL in '%s'",
               zDir);
  }
  if( rc==KV_OK ) rc = kvLogReaderOpen(pEnv, zPath, &pR);
  while( rc==KV_OK ){
    u64 iOff = kvLogReaderGoodOffset(pR);
    const u8 *p = 0;
    size_t n = 0;
    u64 firstSeq;
    u32 nCount;
    rc = kvLogRead(pR, &p, &n);
    if( rc!=KV_OK || p==0 ) break;
    if( n<KV_WAL_HEADER ){
      rc = kvErr(KV_CORRUPT, "kvstore: corrupt record in '%s' at offset %llu "
                 "(%llu bytes, too short for a WAL record)", zPath,
                 (unsigned long long)iOff, (unsigned long long)n);
      break;
    }
    firstSeq = kvGet64(p);
    nCount = kvGet32(p+16);
    rc = xBatch(pCtx, firstSeq, nCount, p + KV_WAL_HEADER,
                n - KV_WAL_HEADER);
    if( rc==KV_CORRUPT ){
      kvErr(rc, "%s (WAL record at offset %llu of '%s')", kvErrMsg(),
            (unsigned long long)iOff, zPath);
    }
    if( rc==KV_OK ){
      pInfo->nRecord++;
      if( KV_WAL_COUNT(nCount)>0
       && firstSeq + KV_WAL_COUNT(nCount) - 1 > pInfo->maxSeq ){
        pInfo->maxSeq = firstSeq + KV_WAL_COUNT(nCount) - 1;
      }
    }
  }
  if( rc==KV_OK && !bLast && kvLogReaderZeroTail(pR) ){
    /* Every record of a segment was written (and, unless sync=off, synced)
    ** before its successor was created, so zeros here are the unused end
    ** of its preallocation, not a lost write: the history goes on in the
    ** next segment. */
    pInfo->nZeroTail++;
  }else if( rc==KV_OK && kvLogReaderTorn(pR) ){
    pInfo->bTorn = 1;
    pInfo->iTornSeg = iSeg;
    pInfo->iTornOffset = kvLogReaderGoodOffset(pR);
  }
  kvLogReaderClose(pR);
  kvFree(zPath);
  return rc;
}

int kvWalReplay(KvEnv *pEnv, const char *zDir, u64 iFrom,
                int (*xBatch)(void *pCtx, u64 firstSeq, u32 nCount,
                              const u8 *pRep, size_t nRep),
                void *pCtx, KvWalReplayInfo *pInfo){
  u64 *aSeg = 0;
  int nSeg = 0;
  int i;
  int rc;
  assert( pEnv && zDir && xBatch && pInfo );
  memset(pInfo, 0, sizeof(*pInfo));
  rc = kvWalList(pEnv, zDir, &aSeg, &nSeg);
  if( rc==KV_OK && nSeg>0 ) pInfo->iLastSeg = aSeg[nSeg-1];
  for(i=0; rc==KV_OK && i<nSeg && !pInfo->bTorn; i++){
    if( aSeg[i]<iFrom ) continue;
    rc = walReplaySegment(pEnv, zDir, aSeg[i], i==nSeg-1, xBatch, pCtx,
                          pInfo);
  }
  kvFree(aSeg);
  return rc;
}
