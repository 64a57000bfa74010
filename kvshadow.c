/*
** kvshadow.c - reading and writing the shadow table of a kvstore table
** (format in kvshadow.h). Plain SQL on the caller's connection: a write
** joins the caller's transaction and commits with it, which is what makes
** the horizon commit atomically with the database (doc/transactions.md).
*/
#include "kvshadow.h"
SQLITE_EXTENSION_INIT3

#include <stddef.h>

int kvshadowCreate(sqlite3 *db, const char *zSchema, const char *zTab){
  char *zSql = sqlite3_mprintf("CREATE TABLE IF NOT EXISTS \"%w\".\"%w_kvstore\""
      "(k TEXT PRIMARY KEY, v) WITHOUT ROWID", zSchema, zTab);
  int rc;
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_exec(db, zSql, 0, 0, 0);
  sqlite3_free(zSql);
  return rc;
}

int kvshadowExists(sqlite3 *db, const char *zSchema, const char *zTab,
                   int *pbExists){
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf("SELECT 1 FROM \"%w\".sqlite_schema "
      "WHERE type='table' AND name='%q_kvstore'", zSchema, zTab);
  int rc;
  *pbExists = 0;
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc==SQLITE_OK ){
    rc = sqlite3_step(pStmt);
    if( rc==SQLITE_ROW ){
      *pbExists = 1;
      rc = SQLITE_OK;
    }else if( rc==SQLITE_DONE ){
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(pStmt);
  return rc;
}

/* Run the SELECT of row zKey; on SQLITE_ROW the statement stays open for
** the caller to read column 0 and finalize. */
static int shadowSelect(sqlite3 *db, const char *zSchema, const char *zTab,
                        const char *zKey, sqlite3_stmt **ppStmt){
  char *zSql = sqlite3_mprintf("SELECT v FROM \"%w\".\"%w_kvstore\" "
      "WHERE k=?1", zSchema, zTab);
  int rc;
  *ppStmt = 0;
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, zSql, -1, ppStmt, 0);
  sqlite3_free(zSql);
  if( rc==SQLITE_OK ) rc = sqlite3_bind_text(*ppStmt, 1, zKey, -1,
                                             SQLITE_STATIC);
  if( rc==SQLITE_OK ) rc = sqlite3_step(*ppStmt);
  if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  if( rc!=SQLITE_ROW ){
    sqlite3_finalize(*ppStmt);
    *ppStmt = 0;
  }
  return rc;
}

int kvshadowGetInt(sqlite3 *db, const char *zSchema, const char *zTab,
                   const char *zKey, sqlite3_int64 *piVal, int *pbFound){
  sqlite3_stmt *pStmt = 0;
  int rc = shadowSelect(db, zSchema, zTab, zKey, &pStmt);
  *pbFound = 0;
  *piVal = 0;
  if( rc==SQLITE_ROW ){
    *piVal = sqlite3_column_int64(pStmt, 0);
    *pbFound = 1;
    rc = sqlite3_finalize(pStmt);
  }
  return rc;
}

int kvshadowGetText(sqlite3 *db, const char *zSchema, const char *zTab,
                    const char *zKey, char **pzVal){
  sqlite3_stmt *pStmt = 0;
  int rc = shadowSelect(db, zSchema, zTab, zKey, &pStmt);
  *pzVal = 0;
  if( rc==SQLITE_ROW ){
    const unsigned char *z = sqlite3_column_text(pStmt, 0);
    if( z ){
      *pzVal = sqlite3_mprintf("%s", (const char*)z);
      if( *pzVal==0 ){
        sqlite3_finalize(pStmt);
        return SQLITE_NOMEM;
      }
    }
    rc = sqlite3_finalize(pStmt);
  }
  return rc;
}

/* INSERT OR REPLACE of row zKey: the text zVal, or iVal when zVal is NULL. */
static int shadowSet(sqlite3 *db, const char *zSchema, const char *zTab,
                     const char *zKey, sqlite3_int64 iVal, const char *zVal){
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf("INSERT OR REPLACE INTO \"%w\".\"%w_kvstore\""
      "(k, v) VALUES(?1, ?2)", zSchema, zTab);
  int rc;
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc==SQLITE_OK ) rc = sqlite3_bind_text(pStmt, 1, zKey, -1, SQLITE_STATIC);
  if( rc==SQLITE_OK ){
    rc = zVal ? sqlite3_bind_text(pStmt, 2, zVal, -1, SQLITE_STATIC)
              : sqlite3_bind_int64(pStmt, 2, iVal);
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_step(pStmt);
    if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  }
  if( pStmt ){
    int rc2 = sqlite3_finalize(pStmt);
    if( rc==SQLITE_OK ) rc = rc2;
  }
  return rc;
}

int kvshadowSetInt(sqlite3 *db, const char *zSchema, const char *zTab,
                   const char *zKey, sqlite3_int64 v){
  return shadowSet(db, zSchema, zTab, zKey, v, 0);
}

int kvshadowSetText(sqlite3 *db, const char *zSchema, const char *zTab,
                    const char *zKey, const char *zVal){
  if( zVal==0 ) return SQLITE_MISUSE;
  return shadowSet(db, zSchema, zTab, zKey, 0, zVal);
}
