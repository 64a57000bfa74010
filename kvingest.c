/*
** kvingest.c - kvstore_ingest: SSTables written elsewhere added to a
** kvstore table, inside the caller's transaction (doc/ingest.md).
**
**   SELECT kvstore_ingest('kv', '/data/000012.sst');
**   SELECT kvstore_ingest('kv', '/data/000012.sst', '<merkle root hex>');
**   INSERT INTO kv(kvstore_command, key, value)
**     VALUES('ingest', '/data/000012.sst', NULL);       -- the same, as SQL
**
** As for kvstore_delete_range (kvrange.c), the function runs an INSERT of a
** command row on its table, so that the ingest joins the transaction: the
** file is checked at once (every checksum and the Merkle root; the root
** given, if any), and remembered; ROLLBACK, and ROLLBACK TO a savepoint
** opened before it, forget it. At COMMIT, xSync ingests every file
** remembered (kv_ingest_prepare: copied into the store at one new
** sequence S and installed by one manifest edit, not yet visible) and sets
** the table's horizon to S in the same database transaction; xCommit
** publishes S; xRollback takes the install back. A crash in between is
** settled by recovery's horizon rule: the database kept S (the ingest
** stays) or did not (it is revoked). Until COMMIT the transaction's own
** reads do not see the ingested rows.
**
** Rules: an ingest must be the table's only kind of write in its
** transaction (rows written before it, or after it, are refused with a
** message), since its sequence is taken at COMMIT; several files may be
** ingested in one transaction if their key ranges do not overlap. The
** path is a file path subject to kvstore_confine.
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "kv.h"
#include "kvvtab.h"
#include "kvconfine.h"
#include "kvvtabInt.h"

#include <string.h>

/* The files an open transaction ingests. */
struct KvIngest {
  int nPath;                    /* files remembered */
  int nAlloc;
  char **azPath;                /* their paths (sqlite3_malloc) */
  unsigned char (*aRoot)[32];   /* the roots expected, if given */
  int *abRoot;                  /* aRoot[i] given */
  int *aiSave;                  /* newest savepoint open when remembered,
                                ** -1: none */
  kv_ingest_job *pJob;          /* prepared by xSync, or NULL */
  int bHorizon;                 /* xSync raised the horizon for pJob */
  int bBulkJob;                 /* pJob installs a sorted load (kvbulk.c) */
  sqlite3_uint64 nEntry;        /* entries of the last file remembered */
  sqlite3_uint64 nByte;         /* its size */
};

static void ingestForget(KvIngest *q, int iFrom){
  int i;
  for(i=iFrom; i<q->nPath; i++) sqlite3_free(q->azPath[i]);
  if( iFrom<q->nPath ) q->nPath = iFrom;
}

void kvingestFree(KvVtab *p){
  KvIngest *q = p->pIngest;
  if( q==0 ) return;
  if( q->pJob && p->pKv ) kv_ingest_abort(p->pKv, q->pJob);
  ingestForget(q, 0);
  sqlite3_free(q->azPath);
  sqlite3_free(q->aRoot);
  sqlite3_free(q->abRoot);
  sqlite3_free(q->aiSave);
  sqlite3_free(q);
  p->pIngest = 0;
}

static int kvingestPending(KvVtab *p){
  return p->pIngest!=0 && (p->pIngest->nPath>0 || p->pIngest->pJob!=0);
}

/* 0..15 from a hex digit, -1 if it is none. */
static int hexDigit(char c){
  if( c>='0' && c<='9' ) return c - '0';
  if( c>='a' && c<='f' ) return c - 'a' + 10;
  if( c>='A' && c<='F' ) return c - 'A' + 10;
  return -1;
}

int kvingestCommand(KvVtab *p, int argc, sqlite3_value **argv){
  KvIngest *q = p->pIngest;
  const char *zPath;
  unsigned char aRoot[32];
  int bRoot = 0;
  char *zErr = 0;
  uint64_t nEntry = 0, nByte = 0;
  int rc;

  if( argc<=2+KVVTAB_COL_COMMAND ) return SQLITE_INTERNAL;
  if( sqlite3_value_type(argv[2+KVVTAB_COL_KEY])!=SQLITE_TEXT ){
    kvvtabSetError(&p->base, "kvstore: ingest into table %s: the file path "
                   "(the key column) must be text", p->zName);
    return SQLITE_MISMATCH;
  }
  zPath = (const char*)sqlite3_value_text(argv[2+KVVTAB_COL_KEY]);
  if( zPath==0 ) return SQLITE_NOMEM;
  if( sqlite3_value_type(argv[2+KVVTAB_COL_VALUE])!=SQLITE_NULL ){
    const char *zHex = (const char*)sqlite3_value_text(
                                         argv[2+KVVTAB_COL_VALUE]);
    int i;
    if( zHex==0 ) return SQLITE_NOMEM;
    for(i=0; i<64; i++){
      if( hexDigit(zHex[i])<0 ) break;
    }
    if( i!=64 || zHex[64]!=0 ){
      kvvtabSetError(&p->base, "kvstore: ingest into table %s: the Merkle "
                     "root '%s' is not 64 hex digits", p->zName, zHex);
      return SQLITE_MISMATCH;
    }
    for(i=0; i<32; i++){
      aRoot[i] = (unsigned char)(hexDigit(zHex[2*i])*16
                                 + hexDigit(zHex[2*i+1]));
    }
    bRoot = 1;
  }
  if( kv_batch_count(p->pBatch)>0 || kvbulkActive(p) ){
    kvvtabSetError(&p->base, "kvstore: ingest into table %s: the "
                   "transaction has written rows of it already (an ingest "
                   "must be the table's only write in its transaction)",
                   p->zName);
    return SQLITE_ERROR;
  }
  rc = kvconfineCheck(p->db, "ingest file", zPath, 1, &zErr);
  if( rc!=SQLITE_OK ){
    sqlite3_free(p->base.zErrMsg);
    p->base.zErrMsg = zErr;
    return rc;
  }
  /* Checked now, so that a damaged file fails this statement; the copy
  ** checks it again at COMMIT (it may have changed since). */
  rc = kv_ingest_check(p->pKv, zPath, bRoot ? aRoot : 0, &nEntry, &nByte);
  if( rc!=KV_OK ) return kvvtabEngineError(&p->base, rc, "ingesting");

  if( q==0 ){
    q = sqlite3_malloc(sizeof(*q));
    if( q==0 ) return SQLITE_NOMEM;
    memset(q, 0, sizeof(*q));
    p->pIngest = q;
  }
  if( q->nPath>=q->nAlloc ){
    int nNew = q->nAlloc ? q->nAlloc*2 : 4;
    char **az = sqlite3_realloc64(q->azPath, sizeof(char*)*nNew);
    unsigned char (*aR)[32];
    int *ab, *ai;
    if( az==0 ) return SQLITE_NOMEM;
    q->azPath = az;
    aR = sqlite3_realloc64(q->aRoot, 32*(sqlite3_uint64)nNew);
    if( aR==0 ) return SQLITE_NOMEM;
    q->aRoot = aR;
    ab = sqlite3_realloc64(q->abRoot, sizeof(int)*nNew);
    if( ab==0 ) return SQLITE_NOMEM;
    q->abRoot = ab;
    ai = sqlite3_realloc64(q->aiSave, sizeof(int)*nNew);
    if( ai==0 ) return SQLITE_NOMEM;
    q->aiSave = ai;
    q->nAlloc = nNew;
  }
  q->azPath[q->nPath] = sqlite3_mprintf("%s", zPath);
  if( q->azPath[q->nPath]==0 ) return SQLITE_NOMEM;
  if( bRoot ) memcpy(q->aRoot[q->nPath], aRoot, 32);
  q->abRoot[q->nPath] = bRoot;
  q->aiSave[q->nPath] = p->nSave>0 ? p->aSave[p->nSave-1].iSave : -1;
  q->nPath++;
  q->nEntry = nEntry;
  q->nByte = nByte;
  return SQLITE_OK;
}

int kvingestBlockWrite(KvVtab *p, int argc, sqlite3_value **argv){
  if( !kvingestPending(p) ) return SQLITE_OK;
  if( argc>2+KVVTAB_COL_COMMAND
   && sqlite3_value_type(argv[2+KVVTAB_COL_COMMAND])==SQLITE_TEXT ){
    const char *z = (const char*)sqlite3_value_text(argv[2+KVVTAB_COL_COMMAND]);
    if( z && sqlite3_stricmp(z, "ingest")==0 ) return SQLITE_OK;
  }
  kvvtabSetError(&p->base, "kvstore: table %s: no row may be written in "
                 "the transaction that ingests into it (kvstore_ingest)",
                 p->zName);
  return SQLITE_ERROR;
}

void kvingestRollbackTo(KvVtab *p, int iSave){
  KvIngest *q = p->pIngest;
  int i;
  if( q==0 ) return;
  for(i=0; i<q->nPath; i++){
    if( q->aiSave[i]>=0 && q->aiSave[i]>=iSave ) break;
  }
  ingestForget(q, i);
  if( q->pJob && q->bBulkJob ){
    /* A failed COMMIT had prepared a bulk load: its rows cannot be cut
    ** at a savepoint any more; the transaction can only roll back. */
    kv_ingest_abort(p->pKv, q->pJob);
    q->pJob = 0;
    q->bBulkJob = 0;
    p->bBulkFailed = 1;
  }else if( q->pJob && q->nPath==0 ){
    /* A failed COMMIT had prepared it; the next xSync puts the horizon
    ** back. */
    kv_ingest_abort(p->pKv, q->pJob);
    q->pJob = 0;
  }
}

int kvingestSync(KvVtab *p){
  KvIngest *q = p->pIngest;
  const kv_snapshot *pSnap = 0;
  int rc;
  if( !p->bInTrans ) return SQLITE_OK;
  if( kvbulkActive(p) || p->bBulkFailed ){
    /* A sorted load (kvbulk.c): installed as an ingest of its table. */
    kv_ingest_job *pJob = 0;
    if( q==0 ){
      q = sqlite3_malloc(sizeof(*q));
      if( q==0 ) return SQLITE_NOMEM;
      memset(q, 0, sizeof(*q));
      p->pIngest = q;
    }
    if( q->pJob ){
      kvvtabSetError(&p->base, "kvstore: table %s: a bulk load and an "
                     "ingest in one transaction", p->zName);
      return SQLITE_ERROR;
    }
    rc = kvtxnReadSnapshot(p, &pSnap);
    if( rc==SQLITE_OK ) rc = kvbulkPrepare(p, &pJob);
    if( rc!=SQLITE_OK ) return rc;
    q->pJob = pJob;
    q->bBulkJob = 1;
  }
  if( q==0 ) return SQLITE_OK;
  if( q->nPath==0 && q->pJob==0 ){
    if( q->bHorizon ){
      q->bHorizon = 0;
      return kvtxnHorizonWrite(p, kv_last_seq(p->pKv));
    }
    return SQLITE_OK;
  }
  if( q->pJob==0 ){
    const unsigned char **apRoot;
    int i;
    /* This connection holds the database's write lock: apply what other
    ** processes committed before taking the next sequence. */
    rc = kvtxnReadSnapshot(p, &pSnap);
    if( rc!=SQLITE_OK ) return rc;
    apRoot = sqlite3_malloc64(sizeof(unsigned char*)*(sqlite3_uint64)q->nPath);
    if( apRoot==0 ) return SQLITE_NOMEM;
    for(i=0; i<q->nPath; i++) apRoot[i] = q->abRoot[i] ? q->aRoot[i] : 0;
    rc = kv_ingest_prepare(p->pKv, (const char*const*)q->azPath, q->nPath,
                           (const unsigned char*const*)apRoot, &q->pJob);
    sqlite3_free(apRoot);
    if( rc!=KV_OK ){
      q->pJob = 0;
      return kvvtabEngineError(&p->base, rc, "ingesting");
    }
  }
  rc = kvtxnHorizonWrite(p, kv_ingest_seq(q->pJob));
  if( rc==SQLITE_OK ) q->bHorizon = 1;
  return rc;
}

void kvingestEnd(KvVtab *p, int bCommit){
  KvIngest *q = p->pIngest;
  kvbulkEnd(p);
  if( q==0 ) return;
  if( q->pJob ){
    if( bCommit ){
      kv_ingest_commit(p->pKv, q->pJob);
    }else{
      kv_ingest_abort(p->pKv, q->pJob);
    }
    q->pJob = 0;
  }
  q->bHorizon = 0;
  q->bBulkJob = 0;
  ingestForget(q, 0);
}

/****************************************************************************
** kvstore_ingest(t, path [, merkle_root_hex])
*/
static void fnIngest(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  static const char zUsage[] = "kvstore_ingest(table, path [, merkle_root])";
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  KvVtab *p = 0;
  char *zErr = 0;
  int rc;

  if( argc!=2 && argc!=3 ){
    zErr = sqlite3_mprintf("kvstore_ingest: wrong number of arguments (%d); "
                           "usage: %s", argc, zUsage);
    rc = SQLITE_ERROR;
    goto ingest_out;
  }
  if( sqlite3_value_type(argv[0])!=SQLITE_TEXT
   || sqlite3_value_type(argv[1])!=SQLITE_TEXT ){
    zErr = sqlite3_mprintf("kvstore_ingest: the table name and the path "
                           "must be text; usage: %s", zUsage);
    rc = SQLITE_ERROR;
    goto ingest_out;
  }
  rc = kvvtabLookupTable(db, (const char*)sqlite3_value_text(argv[0]), &p,
                         &zErr);
  if( rc==SQLITE_OK ){
    rc = kvrangeRunCommand(db, p, "ingest", argv[1], argc==3 ? argv[2] : 0,
                           &zErr);
  }

ingest_out:
  if( rc!=SQLITE_OK ){
    kvvtabResultError(ctx, rc, zErr);
  }else{
    char *zJson = sqlite3_mprintf("{\"entries\":%llu,\"bytes\":%llu}",
        (unsigned long long)(p->pIngest ? p->pIngest->nEntry : 0),
        (unsigned long long)(p->pIngest ? p->pIngest->nByte : 0));
    if( zJson==0 ){
      sqlite3_result_error_nomem(ctx);
    }else{
      sqlite3_result_text(ctx, zJson, -1, sqlite3_free);
    }
  }
  sqlite3_free(zErr);
}

int kvingestFunctionsInit(sqlite3 *db){
  /* It writes a store and reads a file: never from a trigger or view. */
  return sqlite3_create_function_v2(db, "kvstore_ingest", -1,
                                    SQLITE_UTF8 | SQLITE_DIRECTONLY, 0,
                                    fnIngest, 0, 0, 0);
}
