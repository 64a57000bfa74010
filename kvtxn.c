/*
** kvtxn.c - transactions of the kvstore virtual table: the writer lock and
** batch of a write transaction, the two-phase commit bound to the
** database (xBegin, xSync, xCommit, xRollback), savepoints, and the commit
** horizon that fixes the read point of every statement.
**
** Writes of an open SQL transaction go to a kv_batch owned by the table
** object of this connection; reads lay that batch over the store, so the
** connection sees its own writes. Savepoints are marks in the batch
** (kv_batch_count / kv_batch_truncate). The database coordinates a
** two-phase commit (doc/transactions.md): xSync writes the batch as a
** PREPARED WAL record (kv_prepare) and sets the 'horizon' row of the
** shadow table T_kvstore (kvshadow.h) through this connection, so SQLite
** commits it with the rest of the transaction; xCommit applies the batch
** (kv_commit_prepared: nothing there can fail for want of room or I/O,
** and SQLite ignores what xCommit returns); xRollback gives it up. Reads
** see the store at the horizon their database read transaction sees. A
** writer lock of the engine is held from the first write of a transaction
** to its end.
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "kv.h"
#include "kvvtab.h"
#include "kvowner.h"
#include "kvshadow.h"
#include "kvvtabInt.h"

#include <assert.h>
#include <string.h>

/*
** The commit horizon for recovery: the 'horizon' row of the shadow table
** as the database holds it now (the database's own recovery, a hot
** journal rolled back, has happened by the time it is read). A table of
** the previous release has no shadow table: its store opens without a
** horizon (it holds no PREPARED record), and the table's first write
** transaction creates the shadow table (kvtxnWriteBegin).
*/
int kvtxnHorizonForOpen(KvVtab *p, char **pzErr){
  sqlite3_int64 iH = 0;
  int bFound = 0;
  char *zShadow = sqlite3_mprintf("%s_kvstore", p->zName);
  int rc = zShadow ? kvownerTableExists(p->db, p->zSchema, zShadow,
                                        &p->bShadow) : SQLITE_NOMEM;
  sqlite3_free(zShadow);
  if( rc==SQLITE_OK ){
    /* Not a store's own if the shadow table is not kvstore's (crafted). */
    char *zBad = 0;
    rc = kvshadowShapeCheck(p->db, p->zSchema, p->zName, &zBad);
    if( zBad ){
      *pzErr = zBad;
      return rc;
    }
  }
  if( rc==SQLITE_OK && p->bShadow ){
    char *zBad = 0;
    rc = kvshadowGetHorizon(p->db, p->zSchema, p->zName, &iH, &bFound, &zBad);
    if( zBad ){
      *pzErr = zBad;
      return rc;
    }
  }
  if( rc!=SQLITE_OK ){
    *pzErr = sqlite3_mprintf("kvstore: cannot read the commit horizon of "
        "table %s from %s_kvstore: %s", p->zName, p->zName,
        kvshadowErrmsg(p->db, rc));
    return rc;
  }
  /* xCreate writes the row, so it is missing only in a shadow table that
  ** holds nothing yet: then no horizon (revoking at 0 would empty a store
  ** adopted by a CREATE whose transaction has not written the row). An
  ** older snapshot's horizon would revoke newer commits: the last
  ** committed one (kvvtabLatestHorizon). */
  if( bFound ){
    rc = kvvtabLatestHorizon(p->db, p->zSchema, p->zName, kvvtabDbFile(p),
                             &iH, pzErr);
    if( rc!=SQLITE_OK ) return rc;
    kv_options_set_horizon(p->pOpts, (u64)iH);
  }
  return SQLITE_OK;
}


/* Prepare, to keep, a statement on p's shadow table: zFmt takes the
** schema and table names (%w). */
static int horizonPrepare(KvVtab *p, const char *zFmt,
                          sqlite3_stmt **ppStmt){
  char *zSql = sqlite3_mprintf(zFmt, p->zSchema, p->zName);
  int rc;
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v3(p->db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                          ppStmt, 0);
  sqlite3_free(zSql);
  return rc;
}

/*
** The read point of a statement: the store as of the horizon that the
** database read transaction of this statement sees, so that every read of
** one SQL transaction, and every cursor of one statement, sees one
** committed state, the one of the ordinary tables beside it.
**
** The horizon is read with a nested SELECT of the shadow row (it sees the
** transaction's snapshot; never in xBestIndex, which runs at prepare
** time), cached with the pager's data version (SQLITE_FCNTL_DATA_VERSION:
** no system call; fixed inside a read transaction, changed by every
** commit of the database). DESIGN.md's sketch distrusts the cache in a
** write transaction; here it is trusted there too, because only this
** connection can move the horizon while it writes, and it does so only in
** xSync: xSync and xRollback drop the cache (a failed COMMIT then
** ROLLBACK leaves the data version unchanged while the horizon goes
** back), and xCommit sets it to the horizon it committed, at the data
** version SQLite's commit left (horizonKeep). That keeps the nested
** SELECT off the per-row path of a write transaction (the conflict check
** of every INSERT reads), and off the next autocommit INSERT of this
** connection while no other connection commits.
** *ppSnap NULL means "the latest": a table whose shadow table or horizon
** row does not exist yet.
*/
void kvtxnHorizonForget(KvVtab *p){
  p->bHorizonOk = 0;
  p->bHorizonWriter = 0;
}

/* Forget the cache and unpin the snapshot it kept (which, while cached,
** keeps compaction from dropping the versions the snapshot reads). */
void kvtxnHorizonRelease(KvVtab *p){
  p->bHorizonOk = 0;
  p->bHorizonWriter = 0;
  if( p->pSnap && p->pKv ) kv_snapshot_free(p->pKv, p->pSnap);
  p->pSnap = 0;
}

/* After the kept horizon SELECT found no row, or NULL: KVSHADOW_IGNORED
** when an authorizer hides the shadow table's columns (kvshadow.c), and
** then the statement goes, since SQLite prepares statements again when an
** authorizer is set, not when it is removed. */
static int horizonHidden(KvVtab *p){
  int rc = kvshadowHiddenCheck(p->db, p->zSchema, p->zName);
  if( rc==KVSHADOW_IGNORED ){
    sqlite3_finalize(p->pHorizon);
    p->pHorizon = 0;
  }
  return rc;
}

/* A read-only handle (kv_open_readonly: a full disk, a store this process
** cannot write) holds the store as of its open and catches up with
** nothing; the database now has a newer horizon, so another process has
** committed since: open the store again, at that horizon. Only while no
** other cursor of this table reads the old handle (one statement's
** cursors share one horizon, so the first to read opens it). */
static int readOnlyReopen(KvVtab *p){
  if( p->nCursor>1 ){
    kvvtabSetError(&p->base, "kvstore: table %s: another process wrote the "
                   "store '%s', which this connection reads from the files "
                   "alone; end the statements reading it and retry",
                   p->zName, p->zDir);
    return SQLITE_BUSY;
  }
  kvtxnHorizonRelease(p);
  kv_close(p->pKv);
  p->pKv = 0;
  return kvvtabNeedStore(p);      /* the owner checked again, too */
}

int kvtxnReadSnapshot(KvVtab *p, const kv_snapshot **ppSnap){
  unsigned int iVersion = 0;
  int iJoin = kvvtabPagerJoins(p);  /* read before the horizon is */
  int bVersion = 0;
  int rc;
  *ppSnap = 0;
  if( p->pKv && (rc = kv_check_process(p->pKv))!=KV_OK ){
    return kvvtabEngineError(&p->base, rc, "reading");
  }
  if( !p->bShadow ) return SQLITE_OK;
  if( sqlite3_file_control(p->db, p->zSchema, SQLITE_FCNTL_DATA_VERSION,
                           &iVersion)==SQLITE_OK ){
    bVersion = 1;
    if( p->bHorizonOk && iVersion==p->iDataVersion
     && ((iJoin>=0 && iJoin==p->iPagerJoin) || p->bHorizonWriter) ){
      if( p->pSnap && !p->bShared ){
        /* No commit since, but another process may have flushed or
        ** compacted: kv_catch_up takes its new manifest (a load and a
        ** compare when nothing changed). A writer must have it before
        ** it appends (the WAL segments a flush retired). */
        rc = kv_catch_up(p->pKv, (u64)p->iHorizonSeen);
        if( rc!=KV_OK ){
          p->bHorizonOk = 0;
          return kvvtabEngineError(&p->base, rc, "reading other "
                                   "processes' commits");
        }
      }
      *ppSnap = p->pSnap;
      return SQLITE_OK;
    }
  }
  kvtxnHorizonForget(p);
  if( p->bShared || kvvtabSameEngineTables(p)>0 ){
    /* Two tables of this connection on one store (retired sharing): each
    ** has its own horizon, and neither alone tells what the store holds,
    ** so they read the latest state, as before, also after the other
    ** table is gone. */
    KvVtab *pOther;
    for(pOther=p->pConn->pTabs; pOther; pOther=pOther->pNextTab){
      if( pOther->pKv==p->pKv ) pOther->bShared = 1;
    }
    if( p->pSnap ) kv_snapshot_free(p->pKv, p->pSnap);
    p->pSnap = 0;
    goto read_done;
  }
  if( p->pHorizon==0 ){
    rc = horizonPrepare(p, "SELECT v FROM \"%w\".\"%w_kvstore\" "
                           "WHERE k='horizon'", &p->pHorizon);
    if( rc!=SQLITE_OK ){
      kvvtabSetError(&p->base,
          "kvstore: cannot read the commit horizon of table "
          "%s: %s", p->zName, kvshadowErrmsg(p->db, rc));
      return rc;
    }
  }
  rc = sqlite3_step(p->pHorizon);
  if( rc==SQLITE_ROW ){
    u64 iH = (u64)sqlite3_column_int64(p->pHorizon, 0);
    char *zBad = 0;
    rc = kvshadowHorizonCheck(p->pHorizon, 0, p->zName, &zBad);
    sqlite3_reset(p->pHorizon);
    if( rc==SQLITE_CORRUPT && horizonHidden(p)==KVSHADOW_IGNORED ){
      sqlite3_free(zBad);
      kvvtabSetError(&p->base, "kvstore: cannot read the commit horizon "
          "of table %s: %s", p->zName,
          kvshadowErrmsg(p->db, KVSHADOW_IGNORED));
      return KVSHADOW_IGNORED;
    }
    if( rc!=SQLITE_OK ){
      if( zBad ) kvvtabSetError(&p->base, "%s", zBad);
      sqlite3_free(zBad);
      return rc;
    }
    if( p->iPrepSeq && iH>=p->iPrepSeq ){
      /* After a failed COMMIT this transaction sees its own horizon,
      ** of its own batch, not yet applied: read below it (the batch is
      ** laid over the reads anyway), and do not keep it. */
      iH = p->iPrepSeq - 1;
      bVersion = 0;
    }
    /* Other processes may have committed up to iH: apply their batches
    ** here first (nothing to do, and no system call, when none did). */
    rc = kv_catch_up(p->pKv, iH);
    if( rc!=KV_OK ){
      return kvvtabEngineError(&p->base, rc, "reading other processes' "
                               "commits");
    }
    if( iH>kv_last_seq(p->pKv) && (p->bFullReadOnly || p->bStoreReadOnly) ){
      rc = readOnlyReopen(p);
      if( rc!=SQLITE_OK ) return rc;
    }
    p->iHorizonSeen = (sqlite3_int64)iH;
    if( p->pSnap==0 || kv_snapshot_seq(p->pSnap)!=iH ){
      kv_snapshot *pNew = 0;
      rc = kv_snapshot_at(p->pKv, iH, &pNew);
      if( rc!=KV_OK ){
        return kvvtabEngineError(&p->base, rc, "taking a snapshot");
      }
      if( p->pSnap ) kv_snapshot_free(p->pKv, p->pSnap);
      p->pSnap = pNew;
    }
  }else{
    int rc2 = sqlite3_reset(p->pHorizon);
    if( rc==SQLITE_DONE && rc2==SQLITE_OK ){
      /* No row: a table that has none yet, or one an authorizer hides. */
      rc = rc2 = horizonHidden(p);
      if( rc==SQLITE_OK ) rc = SQLITE_DONE;
    }
    if( rc!=SQLITE_DONE ){
      kvvtabSetError(&p->base,
          "kvstore: cannot read the commit horizon of table "
          "%s: %s", p->zName,
          kvshadowErrmsg(p->db, rc2!=SQLITE_OK ? rc2 : rc));
      return rc2!=SQLITE_OK ? rc2 : rc;
    }
    if( p->pSnap ) kv_snapshot_free(p->pKv, p->pSnap);
    p->pSnap = 0;
  }

read_done:
  if( bVersion && iJoin>=0 && kvvtabPagerJoins(p)==iJoin ){
    p->bHorizonOk = 1;
    p->iDataVersion = iVersion;
    p->iPagerJoin = iJoin;
  }else if( bVersion && p->bWriter ){
    /* A shared cache: the horizon read while this table holds the
    ** store's writer lock stays until the lock goes (kvtxnEnd); no other
    ** connection can commit to the store before then. */
    p->bHorizonOk = 1;
    p->bHorizonWriter = 1;
    p->iDataVersion = iVersion;
  }
  *ppSnap = p->pSnap;
  return SQLITE_OK;
}

/* Make sure a batch exists and this table holds the writer lock. */
int kvtxnWriteBegin(KvVtab *p){
  if( p->pKv && kv_check_process(p->pKv)!=KV_OK ){
    return kvvtabEngineError(&p->base, SQLITE_MISUSE, "writing");
  }
  if( p->bFullReadOnly && p->pBatch==0 && !p->bWriter ){
    /* Opened read-only on a full disk: open for writing now if there is
    ** room. Only while no cursor of this table reads the old handle. */
    if( p->nCursor>0 ){
      kvvtabSetError(&p->base, "kvstore: '%s' was opened for reading only "
                     "(the disk was full); write when no statement is "
                     "reading the table", p->zDir);
      return SQLITE_FULL;
    }
    kvtxnHorizonRelease(p);
    kv_close(p->pKv);
    p->pKv = 0;
    p->bFullReadOnly = 0;
  }
  if( p->pKv==0 ){
    int rc = kvvtabNeedStore(p);
    if( rc!=SQLITE_OK ) return rc;
  }
  if( p->bFullReadOnly ){
    kvvtabSetError(&p->base, "kvstore: '%s' is open for reading only: the "
                   "disk is full (writes work again once there is room)",
                   p->zDir);
    return SQLITE_FULL;
  }
  if( p->bStoreReadOnly ){
    kvvtabSetError(&p->base, "kvstore: table %s is read-only: this process "
                   "cannot write its store '%s' (%s)", p->zName, p->zDir,
                   strerror(p->iStoreErrno));
    return SQLITE_READONLY;
  }
  if( p->pBatch==0 ){
    p->pBatch = kv_batch_new();
    if( p->pBatch==0 ) return SQLITE_NOMEM;
  }
  if( kv_batch_count(p->pBatch)==0 ){
    /* Past txn_spill the batch moves to disk (doc/spill.md); bound to the
    ** store open now (the handle may change between transactions). */
    int rc = kv_batch_set_spill(p->pBatch, p->pKv);
    if( rc!=KV_OK ) return kvvtabEngineError(&p->base, rc, "starting a write");
  }
  if( !p->bShadow ){
    /* A table made by the previous release: its first write transaction
    ** creates the shadow table, and commits it with the first horizon. */
    int rc = kvshadowCreate(p->db, p->zSchema, p->zName);
    if( rc!=SQLITE_OK ){
      kvvtabSetError(&p->base, "kvstore: cannot create the shadow table "
               "%s_kvstore: %s", p->zName, kvshadowErrmsg(p->db, rc));
      return rc;
    }
    p->bShadow = 1;
    kvtxnHorizonForget(p);
  }
  if( !p->bInTrans ){
    /* Should not happen (SQLite calls xBegin first); be a transaction. */
    p->bInTrans = 1;
    p->bSynced = 0;
    p->nSave = 0;
  }
  if( !p->bWriter ){
    /* The owner is the connection: its tables on one store (two tables
    ** naming one directory) join one SQL transaction and end together. */
    int rc = kv_writer_acquire(p->pKv, p->db, KVVTAB_WRITER_TIMEOUT_MS);
    if( rc!=KV_OK ){
      char *zMsg = kvvtabEngineMsg(rc, 0);
      if( zMsg ){
        sqlite3_free(p->base.zErrMsg);
        p->base.zErrMsg = zMsg;
      }else{
        kvvtabSetError(&p->base,
            "kvstore: store '%s' is being written by another "
            "connection", p->zDir);
      }
      return rc;
    }
    p->bWriter = 1;
  }
  return SQLITE_OK;
}

/* End the transaction state (after commit or rollback). */
void kvtxnEnd(KvVtab *p){
  if( p->bHorizonWriter ) p->bHorizonOk = 0;
  p->bHorizonWriter = 0;
  if( p->pBatch ) kv_batch_clear(p->pBatch);
  if( p->bWriter && p->pKv ) kv_writer_release(p->pKv, p->db);
  p->bWriter = 0;
  p->bInTrans = 0;
  p->bSynced = 0;
  p->nSave = 0;
}


/* xBegin keeps the horizon cache: the transaction before ended in xCommit
** (which left the horizon it committed cached, horizonKeep) or in
** xRollback (which dropped it), so what is cached is what the database
** holds at that data version; any other change to the database changes
** the data version. */
int kvvtabBegin(sqlite3_vtab *pVtab){
  KvVtab *p = (KvVtab*)pVtab;
  if( p->bInTrans ) kvtxnEnd(p);
  if( p->pBatch ) kv_batch_clear(p->pBatch);
  p->bInTrans = 1;
  p->bSynced = 0;
  p->nSave = 0;
  return SQLITE_OK;
}

/* Set the horizon row (kvshadowSetInt with a statement kept for the next
** commit: an autocommit one-row INSERT pays for it on every row). On
** failure the table's error message says why. */
static int horizonWrite(KvVtab *p, u64 iH){
  int rc;
  if( p->pSetHorizon==0 ){
    rc = horizonPrepare(p, "INSERT OR REPLACE INTO \"%w\".\"%w_kvstore\""
                           "(k, v) VALUES('horizon', ?1)", &p->pSetHorizon);
  }else{
    rc = SQLITE_OK;
  }
  if( rc==SQLITE_OK ){
    sqlite3_bind_int64(p->pSetHorizon, 1, (sqlite3_int64)iH);
    rc = kvshadowStepWrite(p->pSetHorizon);
    if( rc==SQLITE_OK && sqlite3_changes(p->db)!=1 ){
      /* Skipped, as by a TEMP trigger's RAISE(IGNORE) (a trigger in the
      ** file itself is refused at open, kvshadowShapeCheck): the commit
      ** would be revoked at the next open. */
      sqlite3_reset(p->pSetHorizon);
      kvvtabSetError(&p->base, "kvstore: cannot write the commit horizon of "
          "table %s: the row was not written (a trigger on %s_kvstore?)",
          p->zName, p->zName);
      return SQLITE_ERROR;
    }
    sqlite3_reset(p->pSetHorizon);
    if( rc==KVSHADOW_IGNORED ){
      /* Compiled into nothing under that authorizer (horizonHidden). */
      sqlite3_finalize(p->pSetHorizon);
      p->pSetHorizon = 0;
    }
  }
  if( rc!=SQLITE_OK ){
    kvvtabSetError(&p->base,
        "kvstore: cannot write the commit horizon of table %s: %s",
        p->zName, kvshadowErrmsg(p->db, rc));
  }
  return rc;
}

int kvtxnHorizonWrite(KvVtab *p, u64 iH){
  return horizonWrite(p, iH);
}

/* KvVtab.eCommitSync */
#define KVTXN_SYNC_FOLLOW  1    /* no sync= option: the database decides */
#define KVTXN_SYNC_ALWAYS  2    /* sync=full */
#define KVTXN_SYNC_NEVER   3    /* sync=normal, sync=off */

/*
** Does this commit fsync its PREPARED record (doc/transactions.md,
** "Durability")? An explicit sync= option decides: full yes, normal and
** off no. Without one the database's own setting does, read with PRAGMA
** schema.synchronous at each commit that writes (SQLite refuses to change
** it inside a transaction, and has no cheaper way to tell it; a commit
** that follows it with any level but OFF pays an fsync anyway): OFF (the
** database itself never syncs) no; NORMAL, FULL and EXTRA yes. NORMAL
** too, because a commit is atomic across a power cut only if the kvstore
** record is on disk no later than the database's commit, and with NORMAL
** in WAL mode that commit may reach the disk at any moment after it is
** written (the database may lose it, then the horizon revokes the
** record: that direction needs no fsync; the other one does).
*/
static int commitSyncs(KvVtab *p, int *pbSync){
  sqlite3_stmt *pStmt = 0;
  int bNoRow = 0;
  char *zSql;
  int rc;
  if( p->eCommitSync==0 ){
    char *zOpt = 0;
    if( kv_options_is_set(p->pOpts, "sync")==1 ){
      zOpt = kv_options_get(p->pOpts, "sync");
      if( zOpt==0 ) return SQLITE_NOMEM;
    }
    p->eCommitSync = zOpt==0 ? KVTXN_SYNC_FOLLOW
                   : strcmp(zOpt, "full")==0 ? KVTXN_SYNC_ALWAYS
                   : KVTXN_SYNC_NEVER;
    kv_free(zOpt);
  }
  if( p->eCommitSync!=KVTXN_SYNC_FOLLOW ){
    *pbSync = p->eCommitSync==KVTXN_SYNC_ALWAYS;
    return SQLITE_OK;
  }
  /* PRAGMA synchronous returns the level as it was when prepared: a kept
  ** statement would not see a later change. */
  zSql = sqlite3_mprintf("PRAGMA \"%w\".synchronous", p->zSchema);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc==SQLITE_OK ){
    rc = sqlite3_step(pStmt);
    if( rc==SQLITE_ROW ){
      *pbSync = sqlite3_column_int(pStmt, 0)!=0;
      rc = SQLITE_OK;
    }else{
      *pbSync = 1;
      rc = sqlite3_finalize(pStmt);
      pStmt = 0;
      if( rc==SQLITE_OK ){
        rc = SQLITE_ERROR;
        bNoRow = 1;
      }
    }
  }
  sqlite3_finalize(pStmt);
  if( rc!=SQLITE_OK ){
    /* An authorizer that denies PRAGMA, or ignores it (no row), leaves
    ** no other way to tell; the sync= option needs none. */
    kvvtabSetError(&p->base, "kvstore: cannot read the synchronous setting "
                   "of schema %s for table %s: %s (give the table sync=full "
                   "or sync=normal to commit without it)", p->zSchema,
                   p->zName, bNoRow
                   ? "PRAGMA synchronous returned no row (an authorizer "
                     "answered SQLITE_IGNORE?)"
                   : kvshadowErrmsg(p->db, rc));
  }
  return rc;
}

/*
** Phase one of the two-phase commit whose coordinator is the database
** (doc/transactions.md). SQLite calls xSync on every table of the
** transaction before its own commit: the batch goes to the WAL as a
** PREPARED record (kv_prepare), then the horizon row of the shadow table
** is set, through this connection, to the batch's last sequence; SQLite
** commits that row with the rest of the transaction, and xCommit applies
** the batch. Recovery counts the record only if the database kept its
** horizon. Only the shadow table is written here (writing another virtual
** table from xSync fails with SQLITE_LOCKED).
**
** A COMMIT that fails after xSync (SQLITE_BUSY) leaves the transaction
** open; the application may write more and COMMIT again, which calls xSync
** again: the record is written anew with the same sequence (the later
** record replaces the earlier) and the horizon row follows. Nothing is
** written for an empty batch (SQLite calls xSync after statements that
** wrote nothing, and after CREATE without xBegin).
*/
int kvvtabSync(sqlite3_vtab *pVtab){
  KvVtab *p = (KvVtab*)pVtab;
  uint64_t iSeq;
  int bSync = 1;
  int rc;
  if( p->bInTrans && p->pBatch && kv_batch_count(p->pBatch)>0
   && p->pKv && p->iPrepSeq==0 ){
    /* This connection holds the database's write lock: the horizon it
    ** reads is the newest, and every batch up to it must be applied here
    ** before this one takes the next sequence numbers (other processes
    ** commit too; a blind INSERT OR REPLACE read nothing before). */
    const kv_snapshot *pSnap = 0;
    rc = kvtxnReadSnapshot(p, &pSnap);
    if( rc!=SQLITE_OK ) return rc;
  }
  kvtxnHorizonForget(p);
  if( !p->bInTrans ) return SQLITE_OK;
  if( p->pIngest || p->pBulk ){
    rc = kvingestSync(p);         /* kvingest.c */
    if( rc!=SQLITE_OK ) return rc;
  }
  if( p->pBatch==0 || kv_batch_count(p->pBatch)==0 ){
    if( p->iPrepSeq && p->pKv ){
      /* A failed COMMIT prepared writes that ROLLBACK TO has since undone:
      ** give the record up and put back the horizon this transaction
      ** raised (the store's last commit is the database's, as before). */
      kv_abort_prepared(p->pKv, p->iPrepSeq);
      p->iPrepSeq = 0;
      rc = horizonWrite(p, kv_last_seq(p->pKv));
      if( rc!=SQLITE_OK ) return rc;
    }
    return SQLITE_OK;
  }
  if( p->pKv==0 ){
    kvvtabSetError(pVtab,
        "kvstore: the store of table %s is not open", p->zName);
    return SQLITE_ERROR;
  }
  if( !p->bShadow ){
    /* A table of the previous release (see kvtxnWriteBegin). */
    kvvtabSetError(pVtab, "kvstore: table %s has no shadow table %s_kvstore",
             p->zName, p->zName);
    return SQLITE_ERROR;
  }
  if( p->iPrepSeq==0 ){
    KvVtab *pOther;
    for(pOther=p->pConn->pTabs; pOther; pOther=pOther->pNextTab){
      if( pOther!=p && pOther->pKv==p->pKv && pOther->iPrepSeq ){
        /* One engine holds one prepared batch. Sharing a store between
        ** tables is retired; refuse (not SQLITE_BUSY, which would leave
        ** the transaction open for a retry that cannot succeed). */
        kvvtabSetError(pVtab,
            "kvstore: tables %s and %s share the store '%s' and "
            "cannot both be written in one transaction", pOther->zName,
            p->zName, p->zDir);
        return SQLITE_ERROR;
      }
    }
  }
  rc = commitSyncs(p, &bSync);
  if( rc!=SQLITE_OK ) return rc;
  p->bCommitSync = bSync;
  iSeq = p->iPrepSeq;
  rc = kv_prepare_sync(p->pKv, p->pBatch, &iSeq, bSync);
  if( rc!=KV_OK ) return kvvtabEngineError(pVtab, rc, "committing");
  p->iPrepSeq = iSeq;
  rc = horizonWrite(p, iSeq + kv_batch_count(p->pBatch) - 1);
  /* On failure the record stays prepared: xRollback (or a retried COMMIT)
  ** follows. */
  return rc;
}

/*
** After this connection's commit: the database holds horizon iH (written
** by the last xSync; SQLite has committed it and raised the data version
** before calling xCommit), and the store has applied every batch up to
** iH (xSync caught up first, xCommit applied this one). Keep that as the
** cached read point, so that the next statement, an autocommit INSERT
** above all, need not read the horizon row again while no other
** connection commits (which would change the data version). On any doubt
** (no data version, a store shared by two tables, no snapshot) the cache
** stays dropped and the next read asks the database.
*/
static void horizonKeep(KvVtab *p, u64 iH){
  unsigned int iVersion = 0;
  if( p->bShared || kvvtabSameEngineTables(p)>0 ) return;
  if( kvvtabPagerJoins(p)!=p->iPagerJoin ) return;
  if( sqlite3_file_control(p->db, p->zSchema, SQLITE_FCNTL_DATA_VERSION,
                           &iVersion)!=SQLITE_OK ) return;
  if( kv_last_seq(p->pKv)!=iH ) return;
  if( p->pSnap==0 || kv_snapshot_seq(p->pSnap)!=iH ){
    kv_snapshot *pNew = 0;
    if( kv_snapshot_at(p->pKv, iH, &pNew)!=KV_OK ) return;
    if( p->pSnap ) kv_snapshot_free(p->pKv, p->pSnap);
    p->pSnap = pNew;
  }
  p->iHorizonSeen = (sqlite3_int64)iH;
  p->iDataVersion = iVersion;
  p->bHorizonOk = 1;
}

/*
** Durability of the database's commits (kv_durable, engine/db.c). A power
** cut may take back the database's last commits (WAL mode with
** synchronous=NORMAL syncs none: they reach the disk at the next
** checkpoint), and the next open then revokes their kvstore entries;
** compaction keeps every version such a commit overwrote, so that the
** revocation brings the older ones back, until the store hears that the
** commits are durable. This tells it, making them durable first: SQLite's
** own handle of the WAL or rollback journal is synced
** (SQLITE_FCNTL_JOURNAL_POINTER; the VFS's xSync), then the folder that
** holds the database file (where a deleted rollback journal is gone for
** good only after a sync). Two fsyncs, only when wanted: at a commit once
** a flush has written sequences above the durable point (about once per
** memtable; bUnflushed 0), before kvstore_compact and kvstore_flush
** whenever any sequence is above it (bUnflushed 1). Under
** synchronous=OFF, followed by the table, nothing is synced: the database
** makes no promise there. A journal sync that fails raises nothing;
** compaction then keeps more, and nothing is lost.
*/
void kvtxnDurable(KvVtab *p, int bUnflushed){
  const char *zFile;
  u64 iSeq;
  if( p->pKv==0 || !kv_durable_wanted(p->pKv, bUnflushed) ) return;
  iSeq = kv_last_seq(p->pKv);    /* committed by the database (xCommit) */
  zFile = kvownerDbFile(p->db, p->zSchema);
  if( zFile && !(p->eCommitSync==KVTXN_SYNC_FOLLOW && !p->bCommitSync) ){
    sqlite3_file *pJrnl = 0;
    char *zFolder;
    int rc = sqlite3_file_control(p->db, p->zSchema,
                                  SQLITE_FCNTL_JOURNAL_POINTER, &pJrnl);
    if( rc!=SQLITE_OK ) return;
    if( pJrnl && pJrnl->pMethods
     && pJrnl->pMethods->xSync(pJrnl, SQLITE_SYNC_NORMAL)!=SQLITE_OK ){
      return;
    }
    zFolder = kvownerFolderOf(zFile);
    if( zFolder==0 ) return;
    /* A folder that cannot be synced counts as synced, as SQLite's unix
    ** VFS counts it after creating a journal (unixSync). */
    kvownerSyncDir(zFolder);
    sqlite3_free(zFolder);
  }
  kv_durable(p->pKv, iSeq);
}

/* Phase two: the database has committed. SQLite ignores what this
** returns, so nothing here may fail for want of room or I/O: kv_prepare
** made room; only memory for the memtable can run out, and then the store
** turns read-only until reopened, when recovery applies the batch from the
** WAL (the database holds its horizon). */
int kvvtabCommit(sqlite3_vtab *pVtab){
  KvVtab *p = (KvVtab*)pVtab;
  int rc = SQLITE_OK;
  kvtxnHorizonForget(p);
  if( p->bInTrans && p->iPrepSeq==0 && p->pBatch
   && kv_batch_count(p->pBatch)>0 ){
    /* No xSync came (not expected): the database commit carries no
    ** horizon for it, so the writes are not committed. */
    kvvtabSetError(pVtab,
        "kvstore: commit of table %s without xSync: its writes "
        "are dropped", p->zName);
    rc = SQLITE_ERROR;
  }
  if( p->iPrepSeq && p->pKv ){
    u64 iH = p->iPrepSeq + kv_batch_count(p->pBatch) - 1;
    rc = kv_commit_prepared(p->pKv, p->pBatch, p->iPrepSeq);
    if( rc!=KV_OK ){
      rc = kvvtabEngineError(pVtab, rc, "applying a commit");
    }else{
      horizonKeep(p, iH);
      kvtxnDurable(p, 0);
    }
  }
  p->iPrepSeq = 0;
  kvingestEnd(p, 1);
  kvtxnEnd(p);
  return rc;
}

/* The database rolled back: a prepared record is given up (its sequence
** is above the horizon the database kept, and the next commit reuses it). */
int kvvtabRollback(sqlite3_vtab *pVtab){
  KvVtab *p = (KvVtab*)pVtab;
  kvtxnHorizonForget(p);
  if( p->iPrepSeq && p->pKv ) kv_abort_prepared(p->pKv, p->iPrepSeq);
  p->iPrepSeq = 0;
  kvingestEnd(p, 0);
  kvtxnEnd(p);
  return SQLITE_OK;
}

/*
** Savepoints. SQLite numbers them from 0 in the order they were opened; a
** table joining a transaction late gets only the newest number, so marks
** are sparse (DESIGN.md §2, protocol notes).
*/
int kvvtabSavepoint(sqlite3_vtab *pVtab, int iSave){
  KvVtab *p = (KvVtab*)pVtab;
  size_t nMark = (p->pBatch ? kv_batch_count(p->pBatch) : 0)
               + (size_t)kvbulkCount(p);
  while( p->nSave>0 && p->aSave[p->nSave-1].iSave>=iSave ) p->nSave--;
  if( p->nSave>=p->nSaveAlloc ){
    int nNew = p->nSaveAlloc ? p->nSaveAlloc*2 : 8;
    KvSavepoint *aNew = sqlite3_realloc64(p->aSave, sizeof(KvSavepoint)*nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    p->aSave = aNew;
    p->nSaveAlloc = nNew;
  }
  p->aSave[p->nSave].iSave = iSave;
  p->aSave[p->nSave].nMark = nMark;
  p->nSave++;
  return SQLITE_OK;
}

int kvvtabRelease(sqlite3_vtab *pVtab, int iSave){
  KvVtab *p = (KvVtab*)pVtab;
  while( p->nSave>0 && p->aSave[p->nSave-1].iSave>=iSave ) p->nSave--;
  return SQLITE_OK;
}

/* Back to the newest mark <= iSave, or to the start of the transaction;
** the savepoint itself stays open. */
int kvvtabRollbackTo(sqlite3_vtab *pVtab, int iSave){
  KvVtab *p = (KvVtab*)pVtab;
  size_t nMark = 0;
  while( p->nSave>0 && p->aSave[p->nSave-1].iSave>iSave ) p->nSave--;
  if( p->nSave>0 ) nMark = p->aSave[p->nSave-1].nMark;
  kvbulkRollbackTo(p, nMark);     /* kvbulk.c */
  if( p->pBatch && !p->bSynced ) kv_batch_truncate(p->pBatch, nMark);
  kvingestRollbackTo(p, iSave);
  return SQLITE_OK;
}
