/*
** kvstore.c - the entry point of the kvstore extension.
**
**   .load ./kvstore                       (sqlite3 shell)
**   sqlite3_auto_extension(sqlite3_kvstore_init)   (linked in statically)
**
** sqlite3_kvstore_init checks the SQLite version, then registers on the
** connection the `kvstore` virtual table module (kvvtab.c) and the rest of
** the SQL surface (ext/). It is the only file with SQLITE_EXTENSION_INIT1;
** every other file uses SQLITE_EXTENSION_INIT3. Nothing calls back into it.
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1

#include "kv.h"
#include "ext/kvext.h"
#include "kvconfine.h"

/* The oldest SQLite kvstore runs on, checked at load. */
#define KVSTORE_MIN_SQLITE     3038002
#define KVSTORE_MIN_SQLITE_STR "3.38.2"

/*
** The rest of the SQL surface lives in ext/ (DESIGN.md §1): each file
** exports kvextXxxInit(sqlite3*), returning an SQLite code, and is
** registered here, after the module, on every connection.
*/
static int kvstoreRegisterExt(sqlite3 *db, char **pzErrMsg){
  int rc = kvconfineInit(db);
  if( rc==SQLITE_OK ) rc = kvextFunctionsInit(db);
  if( rc==SQLITE_OK ) rc = kvextSstablesInit(db);
  if( rc==SQLITE_OK ) rc = kvextBackupInit(db);
  if( rc==SQLITE_OK ) rc = kvvtabOwnerFunctionsInit(db);
  if( rc==SQLITE_OK ) rc = kvrangeFunctionsInit(db);
  if( rc==SQLITE_OK ) rc = kvingestFunctionsInit(db);
  if( rc!=SQLITE_OK ){
    *pzErrMsg = sqlite3_mprintf("kvstore: cannot register the SQL "
        "functions: %s", sqlite3_errmsg(db));
  }
  return rc;
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_kvstore_init(sqlite3 *db, char **pzErrMsg,
                         const sqlite3_api_routines *pApi){
  int rc;
  SQLITE_EXTENSION_INIT2(pApi);
  /* 3.38 brought sqlite3_vtab_in() and sqlite3_vtab_rhs_value(); 3.38.2
  ** is the oldest release the compatibility matrix runs (make compat). */
  if( sqlite3_libversion_number()<KVSTORE_MIN_SQLITE ){
    *pzErrMsg = sqlite3_mprintf("kvstore: needs SQLite %s or later (this "
        "is %s)", KVSTORE_MIN_SQLITE_STR, sqlite3_libversion());
    return SQLITE_ERROR;
  }
  rc = kvvtabRegister(db, pzErrMsg);
  if( rc==SQLITE_OK ) rc = kvstoreRegisterExt(db, pzErrMsg);
  if( rc!=SQLITE_OK ) return rc;
#ifdef SQLITE_CORE
  /* Linked into the application (sqlite3_auto_extension): plain OK, which
  ** is all an auto-extension may return. */
  return SQLITE_OK;
#else
  /* The engine may run a background thread inside this library: it must
  ** never be unloaded while that thread runs. */
  return SQLITE_OK_LOAD_PERMANENTLY;
#endif
}
