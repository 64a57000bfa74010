/*
** kvshadow.c - SQL helpers over the shadow table "S"."T_kvstore" of a
** kvstore table (kvshadow.h describes the table and its rows).
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "kvshadow.h"

#include <string.h>

/*
** An application's authorizer (sqlite3_set_authorizer) sees kvstore's own
** statements too. Denied, they fail with SQLITE_AUTH and SQLite's message.
** Answered with SQLITE_IGNORE, SQLite compiles a write into nothing and
** reads the hidden columns as NULL, both silently: a horizon write that
** did not happen loses the commit it carries (it is revoked when the store
** next opens), and a hidden row would read as absent. So every write here
** checks that it wrote, and a row found absent or NULL is checked against
** the table's row count; either finding is KVSHADOW_IGNORED, an
** SQLITE_AUTH of kvstore's own, with kvshadowErrmsg()'s explanation.
*/
static const char zIgnored[] = "an authorizer (sqlite3_set_authorizer) "
    "answered SQLITE_IGNORE for kvstore's own statement on its shadow "
    "table, which kvstore must read and write";

const char *kvshadowErrmsg(sqlite3 *db, int rc){
  if( rc==KVSHADOW_IGNORED ) return zIgnored;
  if( (sqlite3_errcode(db) & 0xff)==(rc & 0xff) ) return sqlite3_errmsg(db);
  return sqlite3_errstr(rc);
}

int kvshadowStepWrite(sqlite3_stmt *pStmt){
  int rc;
  while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){}
  if( rc!=SQLITE_DONE ) return rc;
  return sqlite3_stmt_readonly(pStmt) ? KVSHADOW_IGNORED : SQLITE_OK;
}

int kvshadowSchemaHas(sqlite3 *db, const char *zSchema, const char *zName,
                      int bView, int *pbHas){
  sqlite3_stmt *pStmt = 0;
  int rc = kvshadowPrepare(db, sqlite3_mprintf("SELECT 1 FROM \"%w\"."
                               "sqlite_schema WHERE type IN ('table', %Q) "
                               "AND name=?1 COLLATE NOCASE", zSchema,
                               bView ? "view" : "table"), zName, &pStmt);
  *pbHas = 0;
  if( rc==SQLITE_OK ){
    rc = sqlite3_step(pStmt);
    if( rc==SQLITE_ROW ){ *pbHas = 1; rc = SQLITE_OK; }
    else if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  }
  sqlite3_finalize(pStmt);
  return rc;
}

int kvshadowRun(sqlite3 *db, char *zSql, const char *zSchema,
                const char *zTable, int bExists){
  sqlite3_stmt *pStmt = 0;
  int rc;
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc==SQLITE_OK ) rc = kvshadowStepWrite(pStmt);
  sqlite3_finalize(pStmt);
  if( rc==KVSHADOW_IGNORED && zTable ){
    /* CREATE ... IF NOT EXISTS and DROP ... IF EXISTS write nothing when
    ** there is nothing to do (before SQLite 3.40): the outcome tells. */
    int bNow = 0;
    rc = kvshadowSchemaHas(db, zSchema, zTable, 0, &bNow);
    if( rc==SQLITE_OK && bNow!=bExists ) rc = KVSHADOW_IGNORED;
  }
  return rc;
}

int kvshadowCreate(sqlite3 *db, const char *zSchema, const char *zTab){
  char *zShadow = sqlite3_mprintf("%s_kvstore", zTab);
  int rc;
  if( zShadow==0 ) return SQLITE_NOMEM;
  rc = kvshadowRun(db, sqlite3_mprintf("CREATE TABLE IF NOT EXISTS "
                       "\"%w\".\"%w\"(k TEXT PRIMARY KEY, v) WITHOUT ROWID",
                       zSchema, zShadow), zSchema, zShadow, 1);
  sqlite3_free(zShadow);
  return rc;
}

int kvshadowPrepare(sqlite3 *db, char *zSql, const char *zArg,
                    sqlite3_stmt **ppStmt){
  int rc;
  *ppStmt = 0;
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, zSql, -1, ppStmt, 0);
  sqlite3_free(zSql);
  if( rc==SQLITE_OK ) rc = sqlite3_bind_text(*ppStmt, 1, zArg, -1,
                                             SQLITE_STATIC);
  return rc;
}

/* Prepare "SELECT v FROM shadow WHERE k=?" with zKey bound. */
static int shadowSelect(sqlite3 *db, const char *zSchema, const char *zTab,
                        const char *zKey, sqlite3_stmt **ppStmt){
  char *zSql = sqlite3_mprintf("SELECT v FROM \"%w\".\"%w_kvstore\" "
                               "WHERE k=?1", zSchema, zTab);
  return kvshadowPrepare(db, zSql, zKey, ppStmt);
}

int kvshadowHiddenCheck(sqlite3 *db, const char *zSchema, const char *zTab){
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf("SELECT count(*), count(k), count(v) FROM "
                               "\"%w\".\"%w_kvstore\"", zSchema, zTab);
  int rc;
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc==SQLITE_OK ){
    rc = sqlite3_step(pStmt);
    if( rc==SQLITE_ROW ){
      sqlite3_int64 n = sqlite3_column_int64(pStmt, 0);
      rc = n>0 && (sqlite3_column_int64(pStmt, 1)<n
                   || sqlite3_column_int64(pStmt, 2)==0) ? KVSHADOW_IGNORED
                                                         : SQLITE_OK;
    }else if( rc==SQLITE_DONE ){
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(pStmt);
  return rc;
}

/* Step pStmt once: its first column's text in *pzVal (sqlite3_malloc'd;
** a NULL as ""), or *pzVal left NULL when there is no row. */
static int stepText(sqlite3_stmt *pStmt, char **pzVal){
  int rc = sqlite3_step(pStmt);
  if( rc==SQLITE_ROW ){
    const char *z = (const char*)sqlite3_column_text(pStmt, 0);
    *pzVal = sqlite3_mprintf("%s", z ? z : "");
    rc = *pzVal ? SQLITE_OK : SQLITE_NOMEM;
  }else if( rc==SQLITE_DONE ){
    rc = SQLITE_OK;
  }
  return rc;
}

/* The name of a trigger of schema zSchema on table zShadow in *pzName
** (sqlite3_malloc'd), or NULL when it has none. */
static int shadowTrigger(sqlite3 *db, const char *zSchema,
                         const char *zShadow, char **pzName){
  sqlite3_stmt *pStmt = 0;
  int rc = kvshadowPrepare(db, sqlite3_mprintf("SELECT name FROM \"%w\"."
                               "sqlite_schema WHERE type='trigger' AND "
                               "tbl_name=?1 COLLATE NOCASE", zSchema),
                           zShadow, &pStmt);
  *pzName = 0;
  if( rc==SQLITE_OK ) rc = stepText(pStmt, pzName);
  sqlite3_finalize(pStmt);
  return rc;
}

int kvshadowShapeCheck(sqlite3 *db, const char *zSchema, const char *zTab,
                       char **pzErr){
  char *zShadow = sqlite3_mprintf("%s_kvstore", zTab);
  char *zWhat = 0;              /* what differs, once something does */
  int bBad = 0;
  int bTable = 0, bView = 0;
  int rc;
  *pzErr = 0;
  if( zShadow==0 ) return SQLITE_NOMEM;
  rc = kvshadowSchemaHas(db, zSchema, zShadow, 0, &bTable);
  if( rc==SQLITE_OK && !bTable ){
    rc = kvshadowSchemaHas(db, zSchema, zShadow, 1, &bView);
    if( bView ){ bBad = 1; zWhat = sqlite3_mprintf("it is a view"); }
  }
  if( rc==SQLITE_OK && bTable ){
    /* Every column, by name, as SQLite sees them (prepared, not run). */
    sqlite3_stmt *pStmt = 0;
    char *zSql = sqlite3_mprintf("SELECT * FROM \"%w\".\"%w\"", zSchema,
                                 zShadow);
    rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0) : SQLITE_NOMEM;
    sqlite3_free(zSql);
    if( rc==SQLITE_OK && sqlite3_column_count(pStmt)!=2 ){
      bBad = 1;
      zWhat = sqlite3_mprintf("it has %d columns, not 2",
                              sqlite3_column_count(pStmt));
    }
    sqlite3_finalize(pStmt);
  }
  if( rc==SQLITE_OK && bTable && !bBad ){
    int pkK = 0, pkV = 0;
    if( sqlite3_table_column_metadata(db, zSchema, zShadow, "k", 0, 0, 0,
                                      &pkK, 0)!=SQLITE_OK
     || sqlite3_table_column_metadata(db, zSchema, zShadow, "v", 0, 0, 0,
                                      &pkV, 0)!=SQLITE_OK ){
      bBad = 1;
      zWhat = sqlite3_mprintf("its columns are not k and v");
    }else if( !pkK || pkV ){
      bBad = 1;
      zWhat = sqlite3_mprintf("its primary key is not column k alone");
    }
  }
  if( rc==SQLITE_OK && bTable && !bBad ){
    char *zTrig = 0;
    rc = shadowTrigger(db, zSchema, zShadow, &zTrig);
    if( zTrig ){
      bBad = 1;
      zWhat = sqlite3_mprintf("it has a trigger, %Q", zTrig);
    }
    sqlite3_free(zTrig);
  }
  if( rc==SQLITE_OK && bBad ){
    *pzErr = zWhat==0 ? 0 : sqlite3_mprintf("kvstore: the shadow table "
        "%s.%s of table %s is not as kvstore made it (%s): the database file "
        "was edited or made elsewhere; kvstore does not use the table's "
        "store through it", zSchema, zShadow, zTab, zWhat);
    rc = *pzErr ? SQLITE_CORRUPT : SQLITE_NOMEM;
  }
  sqlite3_free(zWhat);
  sqlite3_free(zShadow);
  return rc;
}

int kvshadowHorizonCheck(sqlite3_stmt *pStmt, int iCol, const char *zTab,
                         char **pzErr){
  int eType = sqlite3_column_type(pStmt, iCol);
  char *zWhat;
  *pzErr = 0;
  if( eType==SQLITE_INTEGER && sqlite3_column_int64(pStmt, iCol)>=0 ){
    return SQLITE_OK;
  }
  if( eType==SQLITE_NULL ){
    zWhat = sqlite3_mprintf("NULL");
  }else if( eType==SQLITE_BLOB ){
    zWhat = sqlite3_mprintf("a blob of %d bytes",
                            sqlite3_column_bytes(pStmt, iCol));
  }else{
    zWhat = sqlite3_mprintf(eType==SQLITE_TEXT ? "the text %.40Q" : "%s",
                            (const char*)sqlite3_column_text(pStmt, iCol));
  }
  *pzErr = zWhat==0 ? 0 : sqlite3_mprintf("kvstore: the commit horizon of "
      "table %s (row 'horizon' of %s_kvstore) is %s, not a sequence number: "
      "the database file is damaged or was edited; the store is left as it "
      "is", zTab, zTab, zWhat);
  sqlite3_free(zWhat);
  return *pzErr ? SQLITE_CORRUPT : SQLITE_NOMEM;
}

int kvshadowGetHorizon(sqlite3 *db, const char *zSchema, const char *zTab,
                       sqlite3_int64 *piH, int *pbFound, char **pzErr){
  sqlite3_stmt *pStmt = 0;
  int rc = shadowSelect(db, zSchema, zTab, "horizon", &pStmt);
  *pbFound = 0;
  *piH = 0;
  *pzErr = 0;
  if( rc==SQLITE_OK ){
    rc = sqlite3_step(pStmt);
    if( rc==SQLITE_ROW ){
      rc = kvshadowHorizonCheck(pStmt, 0, zTab, pzErr);
      if( rc==SQLITE_OK ){
        *piH = sqlite3_column_int64(pStmt, 0);
        *pbFound = 1;
      }
    }else if( rc==SQLITE_DONE ){
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(pStmt);
  if( (rc==SQLITE_OK && !*pbFound) || rc==SQLITE_CORRUPT ){
    int rc2 = kvshadowHiddenCheck(db, zSchema, zTab);
    if( rc2!=SQLITE_OK ){
      sqlite3_free(*pzErr);
      *pzErr = 0;
      rc = rc2;
    }
  }
  return rc;
}

int kvshadowGetText(sqlite3 *db, const char *zSchema, const char *zTab,
                    const char *zKey, char **pzVal){
  sqlite3_stmt *pStmt = 0;
  int rc = shadowSelect(db, zSchema, zTab, zKey, &pStmt);
  *pzVal = 0;
  if( rc==SQLITE_OK ) rc = stepText(pStmt, pzVal);
  sqlite3_finalize(pStmt);
  if( rc==SQLITE_OK && *pzVal==0 ) rc = kvshadowHiddenCheck(db, zSchema, zTab);
  return rc;
}

/* INSERT OR REPLACE row zKey: value zText when bText, else v. */
static int shadowSet(sqlite3 *db, const char *zSchema, const char *zTab,
                     const char *zKey, const char *zText, sqlite3_int64 v,
                     int bText){
  sqlite3_stmt *pStmt = 0;
  int rc = kvshadowPrepare(db, sqlite3_mprintf("INSERT OR REPLACE INTO "
                               "\"%w\".\"%w_kvstore\"(k, v) VALUES(?1, ?2)",
                               zSchema, zTab), zKey, &pStmt);
  if( rc==SQLITE_OK ){
    rc = bText ? sqlite3_bind_text(pStmt, 2, zText, -1, SQLITE_STATIC)
               : sqlite3_bind_int64(pStmt, 2, v);
  }
  if( rc==SQLITE_OK ) rc = kvshadowStepWrite(pStmt);
  sqlite3_finalize(pStmt);
  return rc;
}

int kvshadowSetInt(sqlite3 *db, const char *zSchema, const char *zTab,
                   const char *zKey, sqlite3_int64 v){
  return shadowSet(db, zSchema, zTab, zKey, 0, v, 0);
}

int kvshadowSetText(sqlite3 *db, const char *zSchema, const char *zTab,
                    const char *zKey, const char *zVal){
  return shadowSet(db, zSchema, zTab, zKey, zVal, 0, 1);
}
