/*
** recover.c - opening a store's history: replaying the WAL into a memtable
** (two-phase commit records judged against the horizon), revoking tables
** that hold commits above the horizon, and the read-only variant that
** replays without writing anything.
*/
#include "kvInt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/*
** Recovery of two-phase commits. A record counts as committed when it is
** the latest record of its first sequence (a COMMIT retried after
** SQLITE_BUSY writes the transaction's record again, with the same first
** sequence and maybe more operations; a commit after an abandoned prepare
** reuses its sequence), and, if it is a PREPARED record and the store was
** opened with a horizon (kv_options_set_horizon), its first sequence is at
** or below the horizon. A record of the same sequence always follows the
** one it replaces directly (no other write can come between: see
** writeQueued in db.c), so the replay holds back one record, the pending one,
** until the next record shows whether it was replaced.
*/
typedef struct Replay Replay;
struct Replay {
  KvMem *pMem;
  u64 maxSeq;
  int bHorizon;                 /* PREPARED records need seq <= iHorizon */
  u64 iHorizon;
  int bPending;                 /* a record is held back in pending */
  u64 iPendSeq;                 /* its first sequence */
  u32 nPendCount;               /* its count field (with KV_WAL_PREPARED) */
  KvBuf pending;                /* its batch representation */
  u64 nDiscarded;               /* PREPARED records above the horizon */
  kv_db *db;                    /* install tables of spilled commits into */
  KvVersionEdit *pEdit;         /* pEdit (NULL: read-only, skip them) */
  u64 iFlushed;                 /* records starting at or below it are in
                                ** tables already (a shared store's
                                ** manifest says so): not replayed */
};

static int replayApply(Replay *r){
  u32 nOp = KV_WAL_COUNT(r->nPendCount);
  int rc;
  if( !r->bPending ) return KV_OK;
  r->bPending = 0;
  if( (r->nPendCount & KV_WAL_PREPARED) && r->bHorizon
   && r->iPendSeq>r->iHorizon ){
    r->nDiscarded++;
    return KV_OK;
  }
  if( r->nPendCount & KV_WAL_TABLES ){
    /* A spilled transaction's table (spill.c). */
    rc = KV_OK;
    if( r->pEdit ){
      rc = kvSpillRecoverTables(r->db, r->pending.a, r->pending.n, r->pEdit,
                                r->bHorizon);
    }
    if( rc==KV_OK && nOp>0 && r->iPendSeq+nOp-1>r->maxSeq ){
      r->maxSeq = r->iPendSeq + nOp - 1;
    }
    return rc;
  }
  rc = kvDbMemApply(r->pMem, r->iPendSeq, r->pending.a, r->pending.n, nOp);
  if( rc==KV_OK && nOp>0 && r->iPendSeq+nOp-1>r->maxSeq ){
    r->maxSeq = r->iPendSeq + nOp - 1;
  }
  return rc;
}

static int replayBatch(void *pCtx, u64 firstSeq, u32 nCount, const u8 *pRep,
                       size_t nRep){
  Replay *r = (Replay*)pCtx;
  int rc = KV_OK;
  if( firstSeq<=r->iFlushed ){
    /* In a table already: replaying it would write it into a second one
    ** (two tables with one internal key). It counts toward the last
    ** sequence only where the horizon covers it (what a table holds above
    ** the horizon is revoked). */
    u64 iEnd = firstSeq + KV_WAL_COUNT(nCount) - 1;
    if( KV_WAL_COUNT(nCount)>0 && iEnd>r->maxSeq
     && (!r->bHorizon || iEnd<=r->iHorizon) ){
      r->maxSeq = iEnd;
    }
    return KV_OK;
  }
  if( r->bPending && r->iPendSeq!=firstSeq ) rc = replayApply(r);
  if( rc==KV_OK ) rc = kvBufSet(&r->pending, pRep, nRep);
  if( rc==KV_OK ){
    r->bPending = 1;
    r->iPendSeq = firstSeq;
    r->nPendCount = nCount;
  }
  return rc;
}

/*
** Revocation. A database whose last commits a power cut took back (WAL
** mode with synchronous=NORMAL, or synchronous=OFF) comes back with a
** horizon below batches the store had already applied and perhaps
** flushed into SSTables. Every table holding a sequence above the horizon
** is rewritten without those entries, and the rewrite is installed by the
** recovery's one manifest edit, which also retires the WAL segments that
** held their records: once that edit is durable nothing above the horizon
** exists anywhere, and the numbers can be reused. Until then the old
** files stay, and an interrupted open revokes again at the next one.
**
** What this cannot bring back: an older version of a key that a
** compaction dropped because a revoked entry overwrote it
** (doc/transactions.md).
*/
static int revokeFile(kv_db *db, KvFileMeta *f, int iLevel, u64 iHorizon,
                      KvVersionEdit *pEdit, u64 *pnRevoked){
  KvSst *pSst = 0;
  KvIter *pIt = 0;
  KvRdList rd = {0, 0, 0};
  u64 nByte = 0;
  int rc = kvFileTable(f, &pSst);
  /* The file's range tombstones follow the same rule as its entries. */
  if( rc==KV_OK ) rc = kvSstIterNew(pSst, KV_SST_BULK, &pIt);
  if( rc==KV_OK ) rc = kvSstRangeDels(pSst, &rd);
  if( rc==KV_OK ){
    rc = kvDbWriteTable(db, pIt, &rd, 0, iHorizon, iLevel,
                        kvVsetNewFileNumber(&db->vset), pEdit, 0, pnRevoked,
                        &nByte);
  }
  if( pIt ) pIt->pMethods->xClose(pIt);
  kvRdListFree(&rd);
  if( rc==KV_OK ) rc = kvEditDelFile(pEdit, iLevel, f->iFile);
  return rc;
}

static int revokeAbove(kv_db *db, u64 iHorizon, KvVersionEdit *pEdit,
                       u64 *pnRevoked){
  KvVersion *v = kvVersionCurrent(&db->vset);
  int rc = KV_OK;
  int i, j;
  for(i=0; rc==KV_OK && v && i<v->nLevel; i++){
    for(j=0; rc==KV_OK && j<v->anFile[i]; j++){
      KvFileMeta *f = v->aaFile[i][j];
      if( f->maxSeq>iHorizon ){
        rc = revokeFile(db, f, i, iHorizon, pEdit, pnRevoked);
      }
    }
  }
  kvVersionUnref(v);
  return rc;
}

/* The largest sequence a table of the current version holds. */
static u64 tablesMaxSeq(kv_db *db){
  KvVersion *v = kvVersionCurrent(&db->vset);
  u64 m = 0;
  int i, j;
  for(i=0; v && i<v->nLevel; i++){
    for(j=0; j<v->anFile[i]; j++){
      if( v->aaFile[i][j]->maxSeq>m ) m = v->aaFile[i][j]->maxSeq;
    }
  }
  kvVersionUnref(v);
  return m;
}

/*
** A database older than its store. Compactions record the floor below
** which they may have dropped shadowed versions (KvVersionSet.iDropFloor);
** in a store that commits through a database that floor never passes the
** durable point (db.c), which the database's commits had reached when it
** rose. So a database that comes back with a horizon below the floor did
** not come back from a power cut: it is an older copy of the file, put in
** place of the current one (or its commits were never synced,
** synchronous=OFF). Revoking down to it may lose values the revoked
** commits overwrote, so the open refuses when tables hold entries above
** the horizon (only those shadowed anything a compaction saw), naming the
** two ways out; kv_repair (bRevokeAny) takes the second. Without entries
** above the horizon nothing is lost, and the floor comes down to the
** horizon, as it does after a forced revocation, since the numbers above
** it are used again.
*/
static int olderDatabaseCheck(kv_db *db, u64 iHorizon){
  if( iHorizon>=db->vset.iDropFloor || db->pOpts->bRevokeAny
   || tablesMaxSeq(db)<=iHorizon ){
    return KV_OK;
  }
  return kvErr(KV_CORRUPT, "kvstore: store '%s' is newer than its database: "
      "the database holds its commits up to sequence %" PRIu64 ", but the "
      "store compacted past sequence %" PRIu64 ", which the database had "
      "committed before (was the database file restored from an older "
      "copy?); revoking the commits it lacks may lose values they "
      "overwrote: restore the database together with its stores (a "
      "kvstore_backup copy), or call kvstore_repair on the table to take "
      "it back to the database anyway", db->zDir, iHorizon,
      db->vset.iDropFloor);
}

/*
** A store older than its database: the database committed batches up to
** its horizon, and the store holds none of the last ones (no WAL record,
** no table). kvstore's record of a commit is written before the database
** commits, fsynced unless sync=normal or off, so this is a store put back
** from an older copy, WAL segments deleted, or the last commits of a
** store with sync=normal or off lost to a power cut. Reading on would
** show an older state as the committed one; the open refuses, and
** kv_repair (bRevokeAny) goes on with what the store holds: the missing
** numbers stay unused, so the database's horizon stays right.
*/
static int olderStoreCheck(kv_db *db, u64 iHorizon, u64 *piSeq){
  u64 iHave = *piSeq, iTables;
  if( iHorizon<=iHave ) return KV_OK;
  iTables = tablesMaxSeq(db);
  if( iTables>iHave ) iHave = iTables;
  if( iHorizon<=iHave ){
    *piSeq = iHave;
    return KV_OK;
  }
  if( !db->pOpts->bRevokeAny ){
    return kvErr(KV_CORRUPT, "kvstore: store '%s' is older than its "
        "database: the database holds its commits up to sequence %" PRIu64
        ", the store only up to %" PRIu64 " (was the store restored from "
        "an older copy, or were its last commits lost to a power cut under "
        "sync=normal or sync=off?): restore the database together with its "
        "stores (a kvstore_backup copy), or call kvstore_repair on the "
        "table to go on with what the store holds", db->zDir, iHorizon,
        iHave);
  }
  db->iBehindFrom = iHave;
  *piSeq = iHorizon;
  return KV_OK;
}

/* Replay the WAL into a memtable, write it to a level-0 table, and start
** a new WAL segment. Every recovered write is then in an SSTable, so the
** old segments (including one whose torn tail was cut) can go. */
int kvDbRecoverWal(kv_db *db){
  KvWalReplayInfo info;
  KvWalConfig cfg;
  KvVersionEdit edit;
  Replay r;
  u64 iNewSeg, nByte = 0, seq = 0;
  int rc;

  memset(&info, 0, sizeof(info));
  memset(&edit, 0, sizeof(edit));
  memset(&r, 0, sizeof(r));
  r.bHorizon = db->pOpts->bHorizon;
  r.iHorizon = db->pOpts->iHorizon;
  r.db = db;
  r.pEdit = &edit;
  if( db->vset.bLastIsFlushed ) r.iFlushed = db->vset.iLastSeq;
  rc = r.bHorizon ? olderDatabaseCheck(db, r.iHorizon) : KV_OK;
  if( rc==KV_OK ) rc = kvMemNewPooled(db->pMemPool, &r.pMem);
  if( rc==KV_OK ){
    rc = kvWalReplay(db->pEnv, db->zDir, db->vset.iLogNumber, replayBatch, &r,
                     &info);
  }
  if( rc==KV_OK ) rc = replayApply(&r);
  kvBufFree(&r.pending);
  if( rc==KV_OK && r.bHorizon ){
    rc = revokeAbove(db, r.iHorizon, &edit, &db->nRevoked);
    db->nRevokedBatches = r.nDiscarded;
    db->iRevokeHorizon = r.iHorizon;
    if( r.iHorizon<db->vset.iDropFloor ){
      edit.bDropFloor = 1;
      edit.iDropFloor = r.iHorizon;
    }
  }
  iNewSeg = info.iLastSeg + 1;
  if( iNewSeg<db->vset.iLogNumber ) iNewSeg = db->vset.iLogNumber;
  if( rc==KV_OK ){
    seq = db->vset.iLastSeq;
    /* Above the horizon nothing is left (revokeAbove, and the segments
    ** this edit retires): those numbers are free again. */
    if( r.bHorizon && seq>r.iHorizon ) seq = r.iHorizon;
    if( r.maxSeq>seq ) seq = r.maxSeq;
    if( r.bHorizon ) rc = olderStoreCheck(db, r.iHorizon, &seq);
  }
  if( rc==KV_OK ){
    atomic_store(&db->lastSeq, seq);
    rc = kvDbWriteLevel0(db, r.pMem, 0, kvVsetNewFileNumber(&db->vset), &edit,
                         &nByte);
    db->nFlushBytes += nByte;
  }
  if( rc==KV_OK ){
    edit.bLogNumber = 1;
    edit.iLogNumber = iNewSeg;
    edit.bLastSeq = 1;
    edit.iLastSeq = atomic_load(&db->lastSeq);
    rc = kvVsetApply(&db->vset, &edit);
  }
  if( rc==KV_OK ){
    cfg.nSegmentSize = db->pOpts->nWalSegment;
    cfg.nSegmentRecords = db->pOpts->nWalRecords;
    cfg.eSync = db->pOpts->eSync;
    cfg.bShared = 1;        /* other processes may append later (shared.c) */
    rc = kvWalOpen(db->pEnv, db->zDir, iNewSeg, &cfg, &db->pWal);
  }
  if( rc==KV_OK ) kvDbDeleteOldSegments(db, iNewSeg);
  kvEditClear(&edit);
  kvMemUnref(r.pMem);
  return rc;
}

/* Read-only recovery: replay the WAL into the memtable that reads use, and
** open every table of the version now, so that a writer's compaction
** deleting one later leaves our descriptor readable. A table or segment
** that vanished since the manifest was read means the owner moved on
** (KV_CANTOPEN from the table, KV_BUSY for the segment): kv_open_readonly
** then starts over. Replays with the same replayBatch as kvDbRecoverWal: a
** change to what recovery keeps from the WAL belongs in both. */
int kvDbRecoverReadOnly(kv_db *db){
  KvWalReplayInfo info;
  KvVersion *v = db->vset.pCurrent;
  Replay r;
  u64 *aSeg = 0;
  int nSeg = 0, i, j;
  int rc;

  memset(&info, 0, sizeof(info));
  memset(&r, 0, sizeof(r));
  r.bHorizon = db->pOpts->bHorizon;
  r.iHorizon = db->pOpts->iHorizon;
  rc = kvMemNew(&r.pMem);
  for(i=0; rc==KV_OK && i<KV_MAX_LEVELS; i++){
    for(j=0; rc==KV_OK && j<v->anFile[i]; j++){
      KvSst *pSst = 0;
      rc = kvFileTable(v->aaFile[i][j], &pSst);
    }
  }
  if( rc==KV_OK ){
    rc = kvWalReplay(db->pEnv, db->zDir, db->vset.iLogNumber, replayBatch, &r,
                     &info);
  }
  if( rc==KV_OK ) rc = replayApply(&r);   /* the record held back */
  kvBufFree(&r.pending);
  /* The segment the manifest names must still be there once replay is
  ** done (when later ones exist): the owner deletes it only after a
  ** manifest edit this version does not hold. */
  if( rc==KV_OK ) rc = kvWalList(db->pEnv, db->zDir, &aSeg, &nSeg);
  if( rc==KV_OK && nSeg>0 && aSeg[nSeg-1]>db->vset.iLogNumber ){
    int bFound = 0;
    for(i=0; i<nSeg; i++) if( aSeg[i]==db->vset.iLogNumber ) bFound = 1;
    if( !bFound ){
      rc = kvErr(KV_BUSY, "kvstore: '%s' changed while being opened "
                 "read-only (WAL segment %" PRIu64 " is gone)", db->zDir,
                 db->vset.iLogNumber);
    }
  }
  kvFree(aSeg);
  if( rc==KV_OK ){
    u64 seq = db->vset.iLastSeq;
    if( r.maxSeq>seq ) seq = r.maxSeq;
    atomic_store(&db->lastSeq, seq);
    db->pMem = r.pMem;
    r.pMem = 0;
  }
  kvMemUnref(r.pMem);
  return rc;
}

/* Open a store that another process has open (shared.c): its recovery
** has run; the manifest and the WAL are read as they are and nothing is
** written. Every table file of the version is held open now (a compaction
** elsewhere may delete one later); the WAL is applied from the manifest's
** log number up to the horizon (all of it without one). */
int kvDbRecoverShared(kv_db *db){
  int rc = kvSharedOpenTables(db);
  if( rc==KV_BUSY ){
    /* a table was deleted since: a newer manifest says what replaced it */
    int bChanged = 0;
    kvErrClear();
    rc = kvSharedReload(db, &bChanged);
  }
  if( rc==KV_OK ) rc = kvMemNewPooled(db->pMemPool, &db->pMem);
  if( rc==KV_OK ){
    db->iWalPos = KV_WALPOS(db->vset.iLogNumber, 0);
    db->iMemLogNumber = db->vset.iLogNumber;
    atomic_store(&db->lastSeq, db->vset.iLastSeq);
    rc = kvSharedCatchUp(db, db->pOpts->bHorizon ? db->pOpts->iHorizon
                                                 : KV_MAX_SEQ);
  }
  if( rc==KV_CANTOPEN ) rc = KV_BUSY;
  return rc;
}
