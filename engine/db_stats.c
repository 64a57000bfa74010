/*
** db_stats.c - looking at a store without changing it: kv_stats (the JSON
** of kvstore_stats), kv_verify (every checksum and Merkle root on disk),
** kv_sstables (one row per live SSTable) and kv_merkle (the root over the
** live SSTables). Split from db.c, whose kv_db they read under its mutex.
*/
#include "kvInt.h"
#include "filename.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------- */
/* Statistics and verification.                                            */

int kv_stats(kv_db *db, char **pzJson){
  KvBuf b = {0, 0, 0};
  KvCacheStats cs;
  KvVersion *v;
  char aTmp[512];
  u64 nMem, nMemEntry, nImm = 0, nSst = 0, nWalSeg = 0, nWalBytes, iSeg;
  u64 *aSeg = 0;
  int nSeg = 0, i, j;
  u64 nUser, nFlushBytes, nCompactBytes, nFlush, nComp;
  int bImm, bBg, bRunning, rcBg;
  int rc = KV_OK;

  *pzJson = 0;
  kvDbLock(db);
  nMem = kvMemUsage(db->pMem);
  nMemEntry = kvMemCount(db->pMem);
  bImm = db->pImm!=0;
  if( db->pImm ) nImm = kvMemUsage(db->pImm);
  iSeg = db->pWal ? kvWalSegment(db->pWal) : 0;   /* read-only: no WAL */
  nWalBytes = db->pWal ? kvWalBytes(db->pWal) : 0;
  nFlush = db->nFlush;
  nFlushBytes = db->nFlushBytes;
  nCompactBytes = db->nCompactBytes;
  nComp = db->nCompactions;
  bBg = db->bBgActive;
  bRunning = db->bBgRunning;
  rcBg = db->rcBg ? db->rcBg : db->rcWal;
  v = kvVersionCurrent(&db->vset);
  kvDbUnlock(db);
  nUser = atomic_load(&db->nUserBytes);
  kvCacheStats(db->pCache, &cs);
  if( kvWalList(db->pEnv, db->zDir, &aSeg, &nSeg)==KV_OK ) nWalSeg = (u64)nSeg;
  kvFree(aSeg);

#define EMIT(...) do{ snprintf(aTmp, sizeof(aTmp), __VA_ARGS__); \
    if( rc==KV_OK ) rc = kvBufAppend(&b, aTmp, strlen(aTmp)); }while(0)
  EMIT("{\"version\":\"%s\",\"sequence\":%" PRIu64 ",", kv_version(),
       (u64)atomic_load(&db->lastSeq));
  EMIT("\"recovery\":{\"horizon\":%" PRIu64 ",\"revoked_batches\":%" PRIu64
       ",\"revoked_entries\":%" PRIu64 "},", db->iRevokeHorizon,
       db->nRevokedBatches, db->nRevoked);
  EMIT("\"memtable\":{\"bytes\":%" PRIu64 ",\"entries\":%" PRIu64
       ",\"limit\":%" PRIu64 "},", nMem, nMemEntry, db->pOpts->nMemtable);
  EMIT("\"immutable_memtables\":%d,\"immutable_bytes\":%" PRIu64 ",",
       bImm, nImm);
  EMIT("\"wal\":{\"segments\":%" PRIu64 ",\"current_segment\":%" PRIu64
       ",\"current_bytes\":%" PRIu64 ",\"syncs\":%" PRIu64 ",\"commits\":%"
       PRIu64 "},", nWalSeg, iSeg, nWalBytes, (u64)atomic_load(&db->nSyncs),
       (u64)atomic_load(&db->nWrites));
  EMIT("\"levels\":[");
  for(i=0; i<db->pOpts->nLevel && i<KV_MAX_LEVELS; i++){
    u64 nByte = 0;
    for(j=0; j<v->anFile[i]; j++) nByte += v->aaFile[i][j]->nByte;
    nSst += nByte;
    EMIT("%s{\"level\":%d,\"files\":%d,\"bytes\":%" PRIu64 "}", i ? "," : "",
         i, v->anFile[i], nByte);
  }
  EMIT("],\"sstable_bytes\":%" PRIu64 ",", nSst);
  EMIT("\"cache\":{\"capacity\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"entries\":%"
       PRIu64 ",\"hits\":%" PRIu64 ",\"misses\":%" PRIu64 "},", cs.nCapacity,
       cs.nByte, cs.nEntry, cs.nHit, cs.nMiss);
  EMIT("\"bloom\":{\"checks\":%" PRIu64 ",\"negatives\":%" PRIu64 "},",
       (u64)atomic_load(&db->counters.nBloomCheck),
       (u64)atomic_load(&db->counters.nBloomNegative));
  EMIT("\"reads\":{\"gets\":%" PRIu64 ",\"files_probed\":%" PRIu64
       ",\"blocks_read\":%" PRIu64 "},", (u64)atomic_load(&db->nGets),
       (u64)atomic_load(&db->counters.nFileProbe),
       (u64)atomic_load(&db->counters.nBlockRead));
  EMIT("\"flushes\":%" PRIu64 ",\"compactions\":%" PRIu64 ",", nFlush, nComp);
  EMIT("\"user_bytes\":%" PRIu64 ",\"flush_bytes\":%" PRIu64
       ",\"compaction_bytes\":%" PRIu64 ",", nUser, nFlushBytes, nCompactBytes);
  EMIT("\"write_amplification\":%.3f,",
       nUser ? (double)(nFlushBytes + nCompactBytes + nUser)/(double)nUser : 0.0);
  if( rc==KV_OK ) rc = kvDbCompactStatsJson(db, &b);
  if( rc==KV_OK ) rc = kvRateStatsJson(db->pRate, &b);
  {
    /* Work waiting: an immutable memtable to flush, levels over budget. */
    int nDue = 0;
    for(i=0; i<db->pOpts->nLevel && i<KV_MAX_LEVELS; i++){
      if( kvCompactLevelScore(v, db->pOpts, i)>=1.0 ) nDue++;
    }
    EMIT("\"background\":{\"thread\":%d,\"running\":%d,\"active\":%d,"
         "\"flushes_queued\":%d,"
         "\"compactions_due\":%d,\"flushes_done\":%" PRIu64
         ",\"compactions_done\":%" PRIu64 ",\"error\":%d}}",
         db->bBgThread, bRunning, bBg, bImm, nDue, nFlush, nComp, rcBg);
  }
#undef EMIT
  kvVersionUnref(v);
  if( rc==KV_OK ) rc = kvBufAppend(&b, "", 1);
  if( rc==KV_OK ){
    *pzJson = (char*)b.a;
  }else{
    kvBufFree(&b);
  }
  return rc;
}

static int verifyBatch(void *pCtx, u64 firstSeq, u32 nCount, const u8 *pRep,
                       size_t nRep){
  (void)pCtx;
  (void)firstSeq;
  if( nCount & KV_WAL_TABLES ) return kvSpillCheckRecord(pRep, nRep, 0);
  return kvBatchDecode(pRep, nRep, KV_WAL_COUNT(nCount), 0, 0);
}

/* kv_verify found a problem: its report is the message just set. Without
** the memory to copy it, kv_verify fails (it must never say "ok"). */
static int verifyReport(char **pzReport){
  *pzReport = kvStrdup(kvErrMsg());
  if( *pzReport==0 ){
    return kvErr(KV_NOMEM, "kvstore: out of memory reporting what "
                           "kv_verify found");
  }
  return KV_OK;
}

int kv_verify(kv_db *db, char **pzReport){
  return kv_verify_progress(db, 0, 0, pzReport);
}

int kv_verify_progress(kv_db *db, kv_progress_fn xProgress, void *pArg,
                       char **pzReport){
  KvVersion *v = kvVersionCurrent(&db->vset);
  KvWalReplayInfo info;
  u64 iLog, nDone = 0, nPlanned = 0;
  int rc = KV_OK;
  int i, j;
  *pzReport = 0;
  for(i=0; i<KV_MAX_LEVELS; i++){
    for(j=0; j<v->anFile[i]; j++) nPlanned += v->aaFile[i][j]->nByte;
  }
  if( xProgress && xProgress(pArg, 0, nPlanned) ){
    rc = kvErr(KV_INTERRUPT, "kvstore: verify of '%s' interrupted", db->zDir);
  }
  for(i=0; rc==KV_OK && *pzReport==0 && i<KV_MAX_LEVELS; i++){
    for(j=0; rc==KV_OK && *pzReport==0 && j<v->anFile[i]; j++){
      char *zPath = kvSstPath(db->zDir, v->aaFile[i][j]->iFile);
      int rc2;
      if( zPath==0 ){ rc = kvErrNoMem(); break; }
      rc2 = kvSstVerify(db->pEnv, zPath);
      if( rc2==KV_NOMEM ) rc = rc2;
      else if( rc2!=KV_OK ) rc = verifyReport(pzReport);
      kvFree(zPath);
      nDone += v->aaFile[i][j]->nByte;
      if( rc==KV_OK && *pzReport==0 && xProgress
       && xProgress(pArg, nDone, nPlanned) ){
        rc = kvErr(KV_INTERRUPT, "kvstore: verify of '%s' interrupted",
                   db->zDir);
      }
    }
  }
  kvVersionUnref(v);
  if( rc==KV_OK && *pzReport==0 ){
    int nTry;
    kvDbLock(db);
    iLog = db->vset.iLogNumber;
    kvDbUnlock(db);
    /* Segments being written may end in a torn record right now: only
    ** corruption followed by valid records counts as a problem. A flush
    ** that ends meanwhile deletes the segments it retired, so a failed
    ** replay is retried from the new log number when it moved; only a
    ** failure with the log number unchanged is a problem. */
    for(nTry=0; nTry<100; nTry++){
      u64 iNow;
      int rcReplay;
      memset(&info, 0, sizeof(info));
      rcReplay = kvWalReplay(db->pEnv, db->zDir, iLog, verifyBatch, 0, &info);
      if( rcReplay==KV_OK ) break;
      if( rcReplay==KV_NOMEM ){
        rc = rcReplay;
        break;
      }
      rc = verifyReport(pzReport);
      if( rc!=KV_OK ) break;
      kvDbLock(db);
      iNow = db->vset.iLogNumber;
      kvDbUnlock(db);
      if( iNow==iLog || nTry==99 ) break;
      kvFree(*pzReport);
      *pzReport = 0;
      iLog = iNow;
    }
  }
  if( rc==KV_OK && *pzReport==0 ) *pzReport = kvStrdup("ok");
  if( rc==KV_OK && *pzReport==0 ) rc = kvErrNoMem();
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Introspection of the live SSTables.                                     */

int kv_sstables(kv_db *db, kv_sstable_info **paInfo, int *pnInfo){
  KvVersion *v;
  kv_sstable_info *aInfo = 0;
  unsigned char *pKeys;
  size_t nAlloc;
  int nInfo = 0, i, j, k;

  *paInfo = 0;
  *pnInfo = 0;
  kvDbLock(db);
  v = kvVersionCurrent(&db->vset);
  kvDbUnlock(db);
  /* One allocation: the array, then the user keys it points to. */
  nAlloc = sizeof(kv_sstable_info);
  for(i=0; i<KV_MAX_LEVELS; i++){
    for(j=0; j<v->anFile[i]; j++){
      KvFileMeta *f = v->aaFile[i][j];
      nAlloc += sizeof(kv_sstable_info) + f->smallest.n + f->largest.n;
      nInfo++;
    }
  }
  aInfo = kvMallocZero(nAlloc);
  if( aInfo==0 ){
    kvVersionUnref(v);
    return kvErrNoMem();
  }
  pKeys = (unsigned char*)&aInfo[nInfo];
  k = 0;
  for(i=0; i<KV_MAX_LEVELS; i++){
    for(j=0; j<v->anFile[i]; j++){
      KvFileMeta *f = v->aaFile[i][j];
      kv_sstable_info *p = &aInfo[k++];
      size_t nS = f->smallest.n>=KV_TRAILER ? f->smallest.n-KV_TRAILER : 0;
      size_t nL = f->largest.n>=KV_TRAILER ? f->largest.n-KV_TRAILER : 0;
      p->iLevel = i;
      kvFileNameBuf(p->zFile, sizeof(p->zFile), KV_FILE_SST, f->iFile);
      p->iFile = f->iFile;
      p->nByte = f->nByte;
      p->nEntry = f->nEntry;
      p->nTombstone = f->nTombstone;
      p->nRangeDel = f->nRangeDel;
      p->minSeq = f->minSeq;
      p->maxSeq = f->maxSeq;
      memcpy(p->aMerkle, f->aMerkle, 32);
      if( nS ) memcpy(pKeys, f->smallest.a, nS);
      p->pSmallest = pKeys;
      p->nSmallest = nS;
      pKeys += nS;
      if( nL ) memcpy(pKeys, f->largest.a, nL);
      p->pLargest = pKeys;
      p->nLargest = nL;
      pKeys += nL;
    }
  }
  kvVersionUnref(v);
  *paInfo = aInfo;
  *pnInfo = nInfo;
  return KV_OK;
}

/* Order of tables for kv_merkle: key range, then root (never a file
** number, so that the order is a property of the contents). */
static int merkleFileCmp(const void *pA, const void *pB){
  const KvFileMeta *a = *(const KvFileMeta *const*)pA;
  const KvFileMeta *b = *(const KvFileMeta *const*)pB;
  int c = kvIKeyCmp(a->smallest.a, a->smallest.n, b->smallest.a,
                    b->smallest.n);
  if( c==0 ){
    c = kvIKeyCmp(a->largest.a, a->largest.n, b->largest.a, b->largest.n);
  }
  if( c==0 ) c = memcmp(a->aMerkle, b->aMerkle, 32);
  return c;
}

int kv_merkle(kv_db *db, unsigned char aRoot[32]){
  KvVersion *v;
  KvFileMeta **apFile = 0;
  u8 *aLeaf = 0;
  int nFile = 0, i, j, k;
  int rc = KV_OK;

  kvDbLock(db);
  v = kvVersionCurrent(&db->vset);
  kvDbUnlock(db);
  for(i=0; i<KV_MAX_LEVELS; i++) nFile += v->anFile[i];
  if( nFile>0 ){
    apFile = kvMalloc(sizeof(KvFileMeta*) * (size_t)nFile);
    aLeaf = kvMalloc((size_t)32 * (size_t)nFile);
    if( apFile==0 || aLeaf==0 ) rc = kvErrNoMem();
  }
  if( rc==KV_OK ){
    for(i=k=0; i<KV_MAX_LEVELS; i++){
      for(j=0; j<v->anFile[i]; j++) apFile[k++] = v->aaFile[i][j];
    }
    if( nFile>1 ){
      qsort(apFile, (size_t)nFile, sizeof(KvFileMeta*), merkleFileCmp);
    }
    for(k=0; k<nFile; k++) memcpy(&aLeaf[32*k], apFile[k]->aMerkle, 32);
    kvMerkleRoot(aLeaf, (size_t)nFile, aRoot);
  }
  kvFree(apFile);
  kvFree(aLeaf);
  kvVersionUnref(v);
  return rc;
}
