/*
** sstables.c - kvstore_sstables, an eponymous table-valued function that
** lists the live SSTables of a kvstore table:
**
**   SELECT * FROM kvstore_sstables('kv');
**   SELECT level, count(*), sum(bytes) FROM kvstore_sstables('main.kv')
**    GROUP BY level;
**
** Columns:
**   level         0 = newest (files may overlap), deeper levels in key order
**   file          the file's name inside the data directory ("000012.sst")
**   bytes         file size
**   entries       entries (puts and tombstones)
**   smallest_key  smallest key, shown as the table's key column shows it
**   largest_key   largest key
**   min_seq       sequence range of its entries
**   max_seq
**   merkle_root   the Merkle root of its data blocks, 64 hex digits
**   table_name    HIDDEN: the argument, a table name or "schema.table"
**
** Rows come level 0 first (newest file first), then each level in key
** order. Without the argument the query fails with a message saying how to
** call it. The list is taken when the scan starts (xFilter), so it is one
** consistent version of the tree even while compaction runs.
*/
#include "kvext.h"
#include "../kvrow.h"
SQLITE_EXTENSION_INIT3

#include <string.h>

#define SST_COL_LEVEL    0
#define SST_COL_FILE     1
#define SST_COL_BYTES    2
#define SST_COL_ENTRIES  3
#define SST_COL_SMALLEST 4
#define SST_COL_LARGEST  5
#define SST_COL_MINSEQ   6
#define SST_COL_MAXSEQ   7
#define SST_COL_MERKLE   8
#define SST_COL_TABLE    9

typedef struct SstVtab SstVtab;
typedef struct SstCursor SstCursor;

struct SstVtab {
  sqlite3_vtab base;          /* base class; must be first */
  sqlite3 *db;                /* connection, for the table lookup */
};

struct SstCursor {
  sqlite3_vtab_cursor base;   /* base class; must be first */
  kv_sstable_info *aInfo;     /* the tables (kv_free) */
  int nInfo;
  int iRow;                   /* current row: aInfo[iRow] */
  int eKeyType;               /* key type of the table (KV_KEY_*) */
  char *zTable;               /* the argument as given (sqlite3_free) */
};

static int sstConnect(sqlite3 *db, void *pAux, int argc,
                      const char *const *argv, sqlite3_vtab **ppVtab,
                      char **pzErr){
  SstVtab *p;
  int rc;
  (void)pAux; (void)argc; (void)argv; (void)pzErr;
  rc = sqlite3_declare_vtab(db, "CREATE TABLE x(level INTEGER, file TEXT, "
      "bytes INTEGER, entries INTEGER, smallest_key, largest_key, "
      "min_seq INTEGER, max_seq INTEGER, merkle_root TEXT, "
      "table_name HIDDEN)");
  if( rc!=SQLITE_OK ) return rc;
  p = sqlite3_malloc(sizeof(*p));
  if( p==0 ) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  p->db = db;
  /* It opens stores named by its argument: not from triggers or views. */
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  *ppVtab = &p->base;
  return SQLITE_OK;
}

static int sstDisconnect(sqlite3_vtab *pVtab){
  sqlite3_free(pVtab);
  return SQLITE_OK;
}

/*
** idxNum 1: table_name = ? is argv[0] of xFilter. idxNum 0: no argument,
** which xFilter reports. An equality on table_name that is not usable
** (a join whose other side comes later) makes the plan unusable, so SQLite
** tries another order.
*/
static int sstBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo){
  int i, bUnusable = 0;
  (void)pVtab;
  for(i=0; i<pInfo->nConstraint; i++){
    const struct sqlite3_index_constraint *pC = &pInfo->aConstraint[i];
    if( pC->iColumn!=SST_COL_TABLE || pC->op!=SQLITE_INDEX_CONSTRAINT_EQ ){
      continue;
    }
    if( !pC->usable ){
      bUnusable = 1;
      continue;
    }
    pInfo->aConstraintUsage[i].argvIndex = 1;
    pInfo->aConstraintUsage[i].omit = 1;
    pInfo->idxNum = 1;
    pInfo->estimatedCost = 10.0;
    pInfo->estimatedRows = 10;
    return SQLITE_OK;
  }
  if( bUnusable ) return SQLITE_CONSTRAINT;
  pInfo->idxNum = 0;
  pInfo->estimatedCost = 1e12;
  pInfo->estimatedRows = 10;
  return SQLITE_OK;
}

static int sstOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur){
  SstCursor *pCur = sqlite3_malloc(sizeof(*pCur));
  (void)pVtab;
  if( pCur==0 ) return SQLITE_NOMEM;
  memset(pCur, 0, sizeof(*pCur));
  *ppCur = &pCur->base;
  return SQLITE_OK;
}

static void sstReset(SstCursor *pCur){
  kv_free(pCur->aInfo);
  pCur->aInfo = 0;
  pCur->nInfo = 0;
  pCur->iRow = 0;
  sqlite3_free(pCur->zTable);
  pCur->zTable = 0;
}

static int sstClose(sqlite3_vtab_cursor *pCursor){
  SstCursor *pCur = (SstCursor*)pCursor;
  sstReset(pCur);
  sqlite3_free(pCur);
  return SQLITE_OK;
}

static void sstSetError(sqlite3_vtab *pVtab, char *zMsg){
  sqlite3_free(pVtab->zErrMsg);
  pVtab->zErrMsg = zMsg;
}

static int sstFilter(sqlite3_vtab_cursor *pCursor, int idxNum,
                     const char *idxStr, int argc, sqlite3_value **argv){
  SstCursor *pCur = (SstCursor*)pCursor;
  SstVtab *pTab = (SstVtab*)pCursor->pVtab;
  kv_db *pKv = 0;
  char *zErr = 0;
  const char *zName;
  int rc;
  (void)idxStr;
  sstReset(pCur);
  if( idxNum!=1 || argc<1 ){
    sstSetError(pCursor->pVtab, sqlite3_mprintf("kvstore_sstables: give the "
        "table name: SELECT * FROM kvstore_sstables('t')"));
    return SQLITE_ERROR;
  }
  if( sqlite3_value_type(argv[0])!=SQLITE_TEXT ){
    sstSetError(pCursor->pVtab, sqlite3_mprintf("kvstore_sstables: the "
        "argument must be a table name (text)"));
    return SQLITE_ERROR;
  }
  zName = (const char*)sqlite3_value_text(argv[0]);
  pCur->zTable = sqlite3_mprintf("%s", zName);
  if( pCur->zTable==0 ) return SQLITE_NOMEM;
  rc = kvvtabLookup(pTab->db, zName, 0, &pKv, &pCur->eKeyType, &zErr);
  if( rc!=SQLITE_OK ){
    sstSetError(pCursor->pVtab, zErr);
    return rc;
  }
  rc = kv_sstables(pKv, &pCur->aInfo, &pCur->nInfo);
  if( rc!=KV_OK ){
    char *zMsg = kvvtabEngineMsg(rc, 0);
    sstSetError(pCursor->pVtab, zMsg ? zMsg
        : sqlite3_mprintf("kvstore: cannot list the SSTables"));
    pCur->aInfo = 0;
    pCur->nInfo = 0;
    return rc;
  }
  return SQLITE_OK;
}

static int sstNext(sqlite3_vtab_cursor *pCursor){
  ((SstCursor*)pCursor)->iRow++;
  return SQLITE_OK;
}

static int sstEof(sqlite3_vtab_cursor *pCursor){
  SstCursor *pCur = (SstCursor*)pCursor;
  return pCur->iRow>=pCur->nInfo;
}

static int sstColumn(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx,
                     int iCol){
  SstCursor *pCur = (SstCursor*)pCursor;
  const kv_sstable_info *p = &pCur->aInfo[pCur->iRow];
  switch( iCol ){
    case SST_COL_LEVEL:
      sqlite3_result_int(ctx, p->iLevel);
      break;
    case SST_COL_FILE:
      sqlite3_result_text(ctx, p->zFile, -1, SQLITE_TRANSIENT);
      break;
    case SST_COL_BYTES:
      sqlite3_result_int64(ctx, (sqlite3_int64)p->nByte);
      break;
    case SST_COL_ENTRIES:
      sqlite3_result_int64(ctx, (sqlite3_int64)p->nEntry);
      break;
    case SST_COL_SMALLEST:
      return kvrowKeyResult(ctx, pCur->eKeyType, p->pSmallest, p->nSmallest);
    case SST_COL_LARGEST:
      return kvrowKeyResult(ctx, pCur->eKeyType, p->pLargest, p->nLargest);
    case SST_COL_MINSEQ:
      sqlite3_result_int64(ctx, (sqlite3_int64)p->minSeq);
      break;
    case SST_COL_MAXSEQ:
      sqlite3_result_int64(ctx, (sqlite3_int64)p->maxSeq);
      break;
    case SST_COL_MERKLE: {
      static const char aDigit[] = "0123456789abcdef";
      char zHex[65];
      int i;
      for(i=0; i<32; i++){
        zHex[2*i] = aDigit[p->aMerkle[i]>>4];
        zHex[2*i+1] = aDigit[p->aMerkle[i]&0xf];
      }
      zHex[64] = 0;
      sqlite3_result_text(ctx, zHex, 64, SQLITE_TRANSIENT);
      break;
    }
    default:
      sqlite3_result_text(ctx, pCur->zTable, -1, SQLITE_TRANSIENT);
      break;
  }
  return SQLITE_OK;
}

static int sstRowid(sqlite3_vtab_cursor *pCursor, sqlite3_int64 *pRowid){
  *pRowid = ((SstCursor*)pCursor)->iRow;
  return SQLITE_OK;
}

static sqlite3_module sstModule = {
  /* iVersion    */ 0,
  /* xCreate     */ 0,          /* eponymous only */
  /* xConnect    */ sstConnect,
  /* xBestIndex  */ sstBestIndex,
  /* xDisconnect */ sstDisconnect,
  /* xDestroy    */ 0,
  /* xOpen       */ sstOpen,
  /* xClose      */ sstClose,
  /* xFilter     */ sstFilter,
  /* xNext       */ sstNext,
  /* xEof        */ sstEof,
  /* xColumn     */ sstColumn,
  /* xRowid      */ sstRowid,
  /* xUpdate     */ 0,
  /* xBegin      */ 0,
  /* xSync       */ 0,
  /* xCommit     */ 0,
  /* xRollback   */ 0,
  /* xFindMethod */ 0,
  /* xRename     */ 0,
  /* xSavepoint  */ 0,
  /* xRelease    */ 0,
  /* xRollbackTo */ 0,
  /* xShadowName */ 0
};

int kvextSstablesInit(sqlite3 *db){
  return sqlite3_create_module(db, "kvstore_sstables", &sstModule, 0);
}
