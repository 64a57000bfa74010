/*
** kvlookup.c - finding a kvstore table by name, for the SQL functions:
** the lookup API of ext/kvext.h (kvvtabLookup, kvvtabStoreInfo,
** kvvtabStoreDir, resolved as SQLite resolves a table name) and the
** functions kvstore_attach(t) and kvstore_detach(t), which move a store
** between tables and databases explicitly (doc/ownership.md).
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "kv.h"
#include "kvvtab.h"
#include "kvowner.h"
#include "kvshadow.h"
#include "kvconfig.h"
#include "kvvtabInt.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/****************************************************************************
** Finding a table by name, for ext/ (kvext.h).
*/

/* Does schema zSchema hold a table or view named zTable? Sets *pbHas. */
static int schemaHasTable(sqlite3 *db, const char *zSchema,
                          const char *zTable, int *pbHas){
  /* The schema table is in every schema, though not listed in itself. */
  if( sqlite3_stricmp(zTable, "sqlite_schema")==0
   || sqlite3_stricmp(zTable, "sqlite_master")==0
   || sqlite3_stricmp(zTable, "sqlite_temp_schema")==0
   || sqlite3_stricmp(zTable, "sqlite_temp_master")==0 ){
    *pbHas = 1;
    return SQLITE_OK;
  }
  return kvshadowSchemaHas(db, zSchema, zTable, 1, pbHas);
}

/*
** A name written as SQL identifiers, each quoted with "", [], `` or '' or
** bare: "main"."kv", [kv], main."my table". On success (SQLITE_OK) sets
** *pzSchema (NULL when there is none) and *pzTable, both sqlite3_malloc'd;
** SQLITE_ERROR when zName is not such a name.
*/
static int parseQuotedName(const char *zName, char **pzSchema,
                           char **pzTable){
  char *azPart[2] = {0, 0};
  int nPart = 0;
  int bNoMem = 0;
  const char *z = zName;
  while( nPart<2 ){
    sqlite3_str *pStr = sqlite3_str_new(0);
    char cEnd = 0;
    if( *z=='"' || *z=='`' || *z=='\'' ) cEnd = *z;
    if( *z=='[' ) cEnd = ']';
    if( cEnd ){
      for(z++; *z; z++){
        if( *z==cEnd ){
          if( cEnd!=']' && z[1]==cEnd ){ z++; }else break;
        }
        sqlite3_str_appendchar(pStr, 1, *z);
      }
      if( *z!=cEnd ){ sqlite3_free(sqlite3_str_finish(pStr)); break; }
      z++;
    }else{
      while( *z && *z!='.' ) sqlite3_str_appendchar(pStr, 1, *z++);
    }
    if( sqlite3_str_errcode(pStr)==SQLITE_NOMEM ) bNoMem = 1;
    azPart[nPart] = sqlite3_str_finish(pStr);
    if( azPart[nPart]==0 ) break;
    nPart++;
    if( *z!='.' ) break;
    z++;
  }
  if( bNoMem || *z!=0 || nPart==0 || azPart[nPart-1]==0
   || azPart[nPart-1][0]==0 ){
    sqlite3_free(azPart[0]);
    sqlite3_free(azPart[1]);
    return bNoMem ? SQLITE_NOMEM : SQLITE_ERROR;
  }
  *pzSchema = nPart==2 ? azPart[0] : 0;
  *pzTable = nPart==2 ? azPart[1] : azPart[0];
  return SQLITE_OK;
}

/* resolveTableName for a name taken as it is (no quotes removed). */
static int resolvePlainName(sqlite3 *db, const char *zName, char **pzSchema,
                            char **pzTable){
  sqlite3_stmt *pStmt = 0;
  const char *zDot = strchr(zName, '.');
  int rc, bHas = 0;
  *pzSchema = 0;
  *pzTable = 0;
  rc = sqlite3_prepare_v2(db, "SELECT name FROM pragma_database_list "
                          "ORDER BY seq<>1, seq", -1, &pStmt, 0);
  while( rc==SQLITE_OK ){
    const char *zSchema;
    int rcStep = sqlite3_step(pStmt);
    if( rcStep!=SQLITE_ROW ){
      /* Out of memory or I/O is not "no such table". */
      if( rcStep!=SQLITE_DONE ) rc = rcStep;
      break;
    }
    zSchema = (const char*)sqlite3_column_text(pStmt, 0);
    if( zSchema==0 ){ rc = SQLITE_NOMEM; break; }
    rc = schemaHasTable(db, zSchema, zName, &bHas);
    if( rc==SQLITE_OK && bHas ){
      *pzSchema = sqlite3_mprintf("%s", zSchema);
      *pzTable = sqlite3_mprintf("%s", zName);
      break;
    }
    if( rc==SQLITE_OK && zDot
     && sqlite3_strnicmp(zSchema, zName, (int)(zDot - zName))==0
     && zSchema[zDot - zName]==0 ){
      rc = schemaHasTable(db, zSchema, zDot+1, &bHas);
      if( rc==SQLITE_OK && bHas && *pzSchema==0 ){
        /* Kept unless a table named zName itself turns up later. */
        *pzSchema = sqlite3_mprintf("%s", zSchema);
        *pzTable = sqlite3_mprintf("%s", zDot+1);
        if( *pzSchema==0 || *pzTable==0 ) rc = SQLITE_NOMEM;
      }
    }
  }
  sqlite3_finalize(pStmt);
  if( rc==SQLITE_OK && *pzSchema && *pzTable==0 ) rc = SQLITE_NOMEM;
  if( rc==SQLITE_OK && *pzTable && *pzSchema==0 ) rc = SQLITE_NOMEM;
  if( rc!=SQLITE_OK ){
    sqlite3_free(*pzSchema);
    sqlite3_free(*pzTable);
    *pzSchema = 0;
    *pzTable = 0;
  }
  return rc;
}

/*
** Resolve zName to (schema, table) as SQLite resolves a table name: an
** unqualified name in temp, then main, then the attached databases in
** order; "schema.table" when no table is named zName itself. Sets
** *pzSchema and *pzTable (sqlite3_malloc), or leaves them NULL when no
** such table exists. A name with quotes ("main"."kv", [kv]) names
** exactly the schema and table it quotes.
*/
static int resolveTableName(sqlite3 *db, const char *zName, char **pzSchema,
                            char **pzTable){
  char *zS = 0, *zT = 0;
  int rc, bHas = 0;
  *pzSchema = 0;
  *pzTable = 0;
  if( strpbrk(zName, "\"`'[")==0 ){
    return resolvePlainName(db, zName, pzSchema, pzTable);
  }
  /* Quoted: exactly the schema and table it names. A quote inside a bare
  ** name (kv"q, a table so named) leaves the name as it is. */
  rc = parseQuotedName(zName, &zS, &zT);
  if( rc!=SQLITE_OK ) return rc==SQLITE_NOMEM ? rc : SQLITE_OK;
  if( zS ){
    rc = schemaHasTable(db, zS, zT, &bHas);
    if( rc==SQLITE_OK && bHas ){
      *pzSchema = zS;
      *pzTable = zT;
      return SQLITE_OK;
    }
    sqlite3_free(zS);
    sqlite3_free(zT);
    return rc;
  }
  rc = resolvePlainName(db, zT, pzSchema, pzTable);
  if( rc==SQLITE_OK && *pzTable && sqlite3_stricmp(*pzTable, zT)!=0 ){
    /* zT held a dot and matched as schema.table: not what was quoted */
    sqlite3_free(*pzSchema);
    sqlite3_free(*pzTable);
    *pzSchema = *pzTable = 0;
  }
  sqlite3_free(zT);
  return rc;
}

/* Find (connecting it if needed) the kvstore table zName of db. On
** failure returns an SQLite code with *pzErr (sqlite3_malloc) set. */
static int lookupTable(sqlite3 *db, const char *zName, KvVtab **pp,
                       char **pzErr){
  char *zSchema = 0, *zTable = 0;
  KvVtab *p = 0;
  int rc;

  *pp = 0;
  *pzErr = 0;
  {
    KvConn *pConn = kvvtabConnOf(db);
    if( pConn && pConn->pDrops ) kvvtabDropsSettle(pConn, 0);
  }
  if( zName==0 ){
    *pzErr = sqlite3_mprintf("kvstore: no table name given");
    return SQLITE_ERROR;
  }
  rc = resolveTableName(db, zName, &zSchema, &zTable);
  if( rc==SQLITE_OK && zSchema==0 ){
    *pzErr = sqlite3_mprintf("kvstore: no such table: '%s'", zName);
    rc = SQLITE_ERROR;
  }
  if( rc==SQLITE_OK ){
    p = kvvtabFindOpen(db, zSchema, zTable);
    if( p==0 ){
      /* Not used by this connection yet: preparing a statement over it
      ** connects it (xConnect), which adds it to the connection's list. */
      sqlite3_stmt *pStmt = 0;
      char *zSql = sqlite3_mprintf("SELECT 1 FROM \"%w\".\"%w\" LIMIT 0",
                                   zSchema, zTable);
      if( zSql==0 ){
        rc = SQLITE_NOMEM;
      }else{
        rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
        if( rc!=SQLITE_OK ){
          *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
        }
        sqlite3_finalize(pStmt);
        sqlite3_free(zSql);
      }
      if( rc==SQLITE_OK ) p = kvvtabFindOpen(db, zSchema, zTable);
    }
  }
  if( rc==SQLITE_OK && p==0 ){
    *pzErr = sqlite3_mprintf("kvstore: '%s' is not a kvstore table", zName);
    rc = SQLITE_ERROR;
  }
  if( rc!=SQLITE_OK && *pzErr==0 ){
    *pzErr = sqlite3_mprintf("kvstore: cannot find table '%s': %s", zName,
                             sqlite3_errstr(rc));
  }
  sqlite3_free(zSchema);
  sqlite3_free(zTable);
  *pp = p;
  return rc;
}

int kvvtabLookup(sqlite3 *db, const char *zName, int bDurable, kv_db **ppKv,
                 int *peKeyType, char **pzErr){
  KvVtab *p = 0;
  int rc = lookupTable(db, zName, &p, pzErr);
  *ppKv = 0;
  if( rc==SQLITE_OK && p->pKv==0 && (rc = kvvtabAttach(p))!=SQLITE_OK ){
    *pzErr = sqlite3_mprintf("%s", p->zDetached);
  }
  if( rc==SQLITE_OK ){
    *ppKv = p->pKv;
    *peKeyType = p->eKeyType;
    /* A maintenance function (compaction above all) of this connection
    ** must not be held back by the read point its table keeps cached. */
    kvtxnHorizonRelease(p);
    if( bDurable ) kvtxnDurable(p, 1);
  }
  return rc;
}

/* For kvrange.c (kvvtabInt.h): the table itself, attached to its store. */
int kvvtabLookupTable(sqlite3 *db, const char *zName, KvVtab **pp,
                      char **pzErr){
  KvVtab *p = 0;
  int rc = lookupTable(db, zName, &p, pzErr);
  *pp = 0;
  if( rc==SQLITE_OK && p->pKv==0 && (rc = kvvtabAttach(p))!=SQLITE_OK ){
    *pzErr = sqlite3_mprintf("%s", p->zDetached);
  }
  if( rc==SQLITE_OK ) *pp = p;
  return rc;
}

/* For ext/backup.c (kvext.h): what a backup needs to know of a table. */
int kvvtabStoreInfo(sqlite3 *db, const char *zName, KvvtabStore *pInfo,
                    char **pzErr){
  KvVtab *p = 0;
  int rc = lookupTable(db, zName, &p, pzErr);
  memset(pInfo, 0, sizeof(*pInfo));
  if( rc==SQLITE_OK && p->pKv==0 && (rc = kvvtabAttach(p))!=SQLITE_OK ){
    *pzErr = sqlite3_mprintf("%s", p->zDetached);
  }
  if( rc==SQLITE_OK ){
    char *zOpt = kv_options_get(p->pOpts, "dir");
    pInfo->pKv = p->pKv;
    pInfo->zSchema = p->zSchema;
    pInfo->zTable = p->zName;
    pInfo->zDir = p->zDir;
    pInfo->bDefaultDir = p->bDefaultDir;
    pInfo->bPrivateDir = p->bPrivateDir;
    pInfo->bInTrans = p->bInTrans;
    pInfo->zDirOpt = (zOpt && zOpt[0]) ? sqlite3_mprintf("%s", zOpt) : 0;
    if( zOpt && zOpt[0] && pInfo->zDirOpt==0 ) rc = SQLITE_NOMEM;
    kv_free(zOpt);
  }
  return rc;
}

/****************************************************************************
** kvstore_attach(t) and kvstore_detach(t): moving a store between tables
** and databases explicitly (doc/ownership.md).
*/

/*
** kvstore_attach(t): make the store that table t's dir= names t's own,
** when t may not use it yet but may claim it: a store that records no
** owner (an earlier release's; this is the upgrade), a detached one, or
** t's own store whose OWNER names another database file that no longer
** exists (the database was moved or renamed) or a table of this database
** that no longer exists. Never a store whose owner still exists.
*/
static void attachFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  KvOwner store, mine, now;
  KvVtab *p = 0;
  char *zErr = 0;
  char *zRel = 0;
  int bKeepId = 0, bExists = 0;
  int rc;

  (void)argc;
  memset(&store, 0, sizeof(store));
  memset(&mine, 0, sizeof(mine));
  memset(&now, 0, sizeof(now));
  rc = lookupTable(db, (const char*)sqlite3_value_text(argv[0]), &p, &zErr);
  if( rc!=SQLITE_OK ) goto attach_out;
  if( p->pKv ) goto attach_out;                 /* attached already */
  if( p->bPrivateDir ){
    rc = kvvtabAttach(p);
    if( rc!=SQLITE_OK ) zErr = sqlite3_mprintf("%s", p->zDetached);
    goto attach_out;
  }
  if( kvownerProbe(p->zDir)!=KVDIR_STORE ){
    zErr = sqlite3_mprintf("%s", p->zDetached);
    rc = p->rcDetached ? p->rcDetached : SQLITE_ERROR;
    goto attach_out;
  }
  rc = kvownerRead(p->zDir, &store, &zErr);
  if( rc==SQLITE_OK ) rc = kvownerShadowRead(db, p->zSchema, p->zName, &mine);
  if( rc==SQLITE_OK ){
    rc = kvownerDbPath(p->zDir, kvvtabDbFile(p), &zRel, &zErr);
  }
  if( rc!=SQLITE_OK ) goto attach_out;
  if( store.eState==KVOWNER_OWNED ){
    if( mine.eState!=KVOWNER_OWNED
     || strcmp(store.zStoreId, mine.zStoreId)!=0 ){
      zErr = sqlite3_mprintf("kvstore: the store in '%s' belongs to another "
          "table (table %s of the database at '%s' relative to the store); "
          "kvstore_attach never takes a store from its owner", p->zDir,
          store.zTable, store.zDbPath);
      rc = SQLITE_ERROR;
    }else if( strcmp(store.zDbPath, zRel)!=0
           && kvownerOtherDbExists(p->zDir, store.zDbPath, kvvtabDbFile(p)) ){
      zErr = sqlite3_mprintf("kvstore: the store in '%s' belongs to the "
          "database at '%s' (relative to the store), which still exists: "
          "this database is a copy of it; kvstore_attach never takes a store "
          "from its owner", p->zDir, store.zDbPath);
      rc = SQLITE_ERROR;
    }else if( strcmp(store.zDbPath, zRel)==0
           && sqlite3_stricmp(store.zTable, p->zName)!=0 ){
      rc = kvownerTableExists(db, p->zSchema, store.zTable, &bExists);
      if( rc==SQLITE_OK && bExists ){
        zErr = sqlite3_mprintf("kvstore: the store in '%s' belongs to table "
            "%s of this database", p->zDir, store.zTable);
        rc = SQLITE_ERROR;
      }
    }
    bKeepId = 1;
  }
  if( rc!=SQLITE_OK ) goto attach_out;

  rc = kvvtabOpenEngine(p, &zErr);
  if( rc!=SQLITE_OK ) goto attach_out;
  mine.eState = KVOWNER_OWNED;
  if( !bKeepId ){
    sqlite3_free(mine.zStoreId);
    mine.zStoreId = kvownerNewId();
  }
  sqlite3_free(mine.zTable);
  mine.zTable = sqlite3_mprintf("%s", p->zName);
  sqlite3_free(mine.zDbPath);
  mine.zDbPath = zRel;
  zRel = 0;
  mine.bMadeDir = store.eState==KVOWNER_NONE ? p->bDefaultDir : store.bMadeDir;
  if( mine.zStoreId==0 || mine.zTable==0 ) rc = SQLITE_NOMEM;
  if( rc==SQLITE_OK ){
    kvownerEnter();
    rc = kvownerRead(p->zDir, &now, &zErr);
    if( rc==SQLITE_OK && (now.eState!=store.eState
        || (now.zStoreId && strcmp(now.zStoreId, store.zStoreId)!=0)) ){
      zErr = sqlite3_mprintf("kvstore: '%s' was claimed by another table "
                             "meanwhile", p->zDir);
      rc = SQLITE_ERROR;
    }
    if( rc==SQLITE_OK && (kv_db_refcount(p->pKv)>1
                          || kv_open_elsewhere(p->pKv)) ){
      zErr = sqlite3_mprintf("kvstore: '%s' is in use by another table, "
                             "connection or process", p->zDir);
      rc = SQLITE_BUSY;
    }
    if( rc==SQLITE_OK ) rc = kvownerWrite(p->zDir, &mine, 1, &zErr);
    kvownerLeave();
  }
  if( rc==SQLITE_OK ){
    rc = kvownerShadowWrite(db, p->zSchema, p->zName, &mine);
    if( rc!=SQLITE_OK ){
      zErr = sqlite3_mprintf("kvstore: cannot write the identity of table "
                             "%s: %s", p->zName, kvshadowErrmsg(db, rc));
    }
  }
  if( rc==SQLITE_OK ){
    p->bOwn = 1;
    sqlite3_free(p->zDetached);
    p->zDetached = 0;
    p->rcDetached = SQLITE_OK;
  }else if( p->pKv ){
    kvtxnHorizonRelease(p);
    kv_close(p->pKv);
    p->pKv = 0;
  }

attach_out:
  if( rc==SQLITE_OK ){
    sqlite3_result_text(ctx, "ok", -1, SQLITE_STATIC);
  }else{
    kvvtabResultError(ctx, rc, zErr);
  }
  sqlite3_free(zErr);
  sqlite3_free(zRel);
  kvownerClear(&store);
  kvownerClear(&mine);
  kvownerClear(&now);
}

/*
** kvstore_detach(t): let go of table t's store, leaving it whole and
** marked detached, for a CREATE VIRTUAL TABLE elsewhere to adopt (the way
** to move a store to another table or database). Table t stays, detached:
** every use fails, DROP TABLE deletes nothing, kvstore_attach(t) takes the
** store back. Returns the store's directory.
*/
static void detachFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  KvOwner store;
  KvVtab *p = 0;
  char *zErr = 0;
  int rc;

  (void)argc;
  memset(&store, 0, sizeof(store));
  rc = lookupTable(db, (const char*)sqlite3_value_text(argv[0]), &p, &zErr);
  if( rc==SQLITE_OK && p->pKv==0 && (rc = kvvtabAttach(p))!=SQLITE_OK ){
    zErr = sqlite3_mprintf("%s", p->zDetached);
  }
  if( rc==SQLITE_OK && p->bPrivateDir ){
    zErr = sqlite3_mprintf("kvstore: the store of table %s is private to "
        "its database, which has no file, and goes with it",
        p->zName);
    rc = SQLITE_ERROR;
  }
  if( rc==SQLITE_OK && (p->bInTrans || !sqlite3_get_autocommit(db)) ){
    zErr = sqlite3_mprintf("kvstore: cannot detach the store of table %s "
        "inside a transaction; COMMIT first", p->zName);
    rc = SQLITE_ERROR;
  }
  if( rc==SQLITE_OK ) kvvtabCloseStaleTwins(p);
  if( rc==SQLITE_OK && p->nCursor>0 ){
    zErr = sqlite3_mprintf("kvstore: cannot detach the store of table %s "
        "while a statement is reading it; finish or reset that statement "
        "first", p->zName);
    rc = SQLITE_LOCKED;
  }
  if( rc==SQLITE_OK && (kv_db_refcount(p->pKv)>1
                        || kv_open_elsewhere(p->pKv)) ){
    zErr = sqlite3_mprintf("kvstore: cannot detach the store of table %s "
        "while another connection or process uses '%s'", p->zName, p->zDir);
    rc = SQLITE_BUSY;
  }
  if( rc==SQLITE_OK ){
    kvownerEnter();
    rc = kvownerRead(p->zDir, &store, &zErr);
    if( rc==SQLITE_OK ){
      store.eState = KVOWNER_DETACHED;
      rc = kvownerWrite(p->zDir, &store, 1, &zErr);
    }
    kvownerLeave();
  }
  if( rc==SQLITE_OK ){
    kvtxnHorizonRelease(p);
    kv_close(p->pKv);
    p->pKv = 0;
    p->bOwn = 0;
    kvvtabDetach(p, SQLITE_ERROR, sqlite3_mprintf("kvstore: the store of table "
        "%s in '%s' was detached (kvstore_detach); SELECT kvstore_attach('%s')"
        " takes it back", p->zName, p->zDir, p->zName));
    sqlite3_result_text(ctx, p->zDir, -1, SQLITE_TRANSIENT);
  }else{
    kvvtabResultError(ctx, rc, zErr);
  }
  sqlite3_free(zErr);
  kvownerClear(&store);
}

/* kvstore_attach and kvstore_detach (kvext.h). */
int kvvtabOwnerFunctionsInit(sqlite3 *db){
  /* They move stores: never from a trigger or view of a database file. */
  int eFlags = SQLITE_UTF8 | SQLITE_DIRECTONLY;
  int rc = sqlite3_create_function_v2(db, "kvstore_attach", 1, eFlags, 0,
                                      attachFunc, 0, 0, 0);
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_function_v2(db, "kvstore_detach", 1, eFlags, 0,
                                    detachFunc, 0, 0, 0);
  }
  return rc;
}

/*
** Split the module arguments of a CREATE VIRTUAL TABLE statement (the text
** between the parentheses after "USING <module>") at top-level commas, as
** SQLite does before xConnect: quotes and nested parentheses kept, outer
** spaces trimmed. *pazArg (sqlite3_free, one allocation) and *pnArg.
*/
static int splitModuleArgs(const char *zSql, char ***pazArg, int *pnArg){
  const char *z = zSql;
  const char *zStart;
  char **az;
  char *zOut;
  int nArg = 0, nDepth = 0;
  size_t nSql = strlen(zSql);
  *pazArg = 0;
  *pnArg = 0;
  /* The first '(' outside quotes is the one after the module name. */
  for(; *z && *z!='('; z++){
    if( *z=='\'' || *z=='"' || *z=='`' || *z=='[' ){
      char cEnd = *z=='[' ? ']' : *z;
      for(z++; *z && *z!=cEnd; z++){}
      if( *z==0 ) break;
    }
  }
  if( *z!='(' ) return SQLITE_OK;          /* no arguments */
  az = sqlite3_malloc64(sizeof(char*)*(nSql/2 + 2) + nSql + 1);
  if( az==0 ) return SQLITE_NOMEM;
  zOut = (char*)&az[nSql/2 + 2];
  zStart = ++z;
  for(;; z++){
    if( *z==0 ) break;
    if( *z=='\'' || *z=='"' || *z=='`' || *z=='[' ){
      char cEnd = *z=='[' ? ']' : *z;
      for(z++; *z && *z!=cEnd; z++){}
      if( *z==0 ) break;
      continue;
    }
    if( *z=='(' ){ nDepth++; continue; }
    if( (*z==',' || *z==')') && nDepth==0 ){
      const char *a = zStart, *b = z;
      while( a<b && (*a==' ' || *a=='\t' || *a=='\n' || *a=='\r') ) a++;
      while( b>a && (b[-1]==' ' || b[-1]=='\t' || b[-1]=='\n'
                     || b[-1]=='\r') ) b--;
      if( b>a || *z==',' || nArg>0 ){
        memcpy(zOut, a, (size_t)(b - a));
        zOut[b - a] = 0;
        az[nArg++] = zOut;
        zOut += (b - a) + 1;
      }
      if( *z==')' ) break;
      zStart = z + 1;
      continue;
    }
    if( *z==')' ) nDepth--;
  }
  *pazArg = az;
  *pnArg = nArg;
  return SQLITE_OK;
}

int kvvtabStoreDir(sqlite3 *db, const char *zName, char **pzDir,
                   kv_options **ppOpts, char **pzErr){
  char *zSchema = 0, *zTable = 0;
  KvVtab *p;
  sqlite3_stmt *pStmt = 0;
  char **azArg = 0;
  int nArg = 0;
  char *zDirOpt = 0;
  const char *zDbFile;
  int rc;

  *pzDir = 0;
  *ppOpts = 0;
  *pzErr = 0;
  rc = resolveTableName(db, zName, &zSchema, &zTable);
  if( rc==SQLITE_OK && zSchema==0 ){
    *pzErr = sqlite3_mprintf("kvstore: no such table: '%s'", zName);
    rc = SQLITE_ERROR;
  }
  if( rc==SQLITE_OK && (p = kvvtabFindOpen(db, zSchema, zTable))!=0 ){
    *pzDir = sqlite3_mprintf("%s", p->zDir);
    *ppOpts = kv_options_copy(p->pOpts);
    if( *pzDir==0 || *ppOpts==0 ) rc = SQLITE_NOMEM;
    goto store_dir_out;
  }
  if( rc==SQLITE_OK ){
    char *zSql = sqlite3_mprintf("SELECT sql FROM \"%w\".sqlite_schema "
        "WHERE type='table' AND name=%Q", zSchema, zTable);
    rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  if( rc==SQLITE_OK ){
    const char *zCreate = 0;
    int rcStep = sqlite3_step(pStmt);
    if( rcStep==SQLITE_ROW ){
      zCreate = (const char*)sqlite3_column_text(pStmt, 0);
      if( zCreate==0 ) rc = SQLITE_NOMEM;
    }else if( rcStep!=SQLITE_DONE ){
      rc = rcStep;
    }
    if( rc!=SQLITE_OK ){
      /* Reported below, not as "not a kvstore table". */
    }else if( zCreate==0 || sqlite3_strnicmp(zCreate, "CREATE VIRTUAL TABLE", 20)
     || sqlite3_strlike("%USING kvstore%", zCreate, 0)!=0 ){
      *pzErr = sqlite3_mprintf("kvstore: '%s' is not a kvstore table",
                               zName);
      rc = SQLITE_ERROR;
    }else{
      rc = splitModuleArgs(zCreate, &azArg, &nArg);
    }
  }
  zDbFile = zSchema ? kvownerDbFile(db, zSchema) : 0;
  if( rc==SQLITE_OK ){
    rc = kvconfigParse(db, nArg, (const char *const*)azArg, zDbFile, ppOpts,
                       &zDirOpt, pzErr);
  }
  if( rc==SQLITE_OK ){
    /* As kvvtabInit resolves it (a private directory is always open in
    ** its connection, found above). */
    if( zDirOpt ){
      *pzDir = kvconfigResolvePath(zDirOpt, zDbFile);
    }else if( zDbFile ){
      *pzDir = kvownerDefaultDir(zDbFile, zTable);
    }else{
      *pzErr = sqlite3_mprintf("kvstore: table %s has no store directory "
                               "of its own to repair", zName);
      rc = SQLITE_ERROR;
    }
    if( rc==SQLITE_OK && *pzDir==0 ) rc = SQLITE_NOMEM;
  }
  if( rc==SQLITE_OK ){
    /* The commit horizon, as the table's open would use it
    ** (kvtxnHorizonForOpen): kv_repair replays the WAL, and must count
    ** only the prepared batches the database committed. No shadow table
    ** (an earlier release's table) or no row: no horizon. */
    char *zShadow = sqlite3_mprintf("%s_kvstore", zTable);
    int bShadow = 0, bFound = 0;
    sqlite3_int64 iH = 0;
    rc = zShadow ? kvownerTableExists(db, zSchema, zShadow, &bShadow)
                 : SQLITE_NOMEM;
    sqlite3_free(zShadow);
    if( rc==SQLITE_OK && bShadow ){
      rc = kvshadowGetHorizon(db, zSchema, zTable, &iH, &bFound, pzErr);
    }
    if( rc==SQLITE_OK && bFound && zDbFile ){
      /* the last committed one, not an older snapshot's */
      rc = kvvtabLatestHorizon(db, zSchema, zTable, zDbFile, &iH, pzErr);
    }
    if( rc==SQLITE_OK && bFound ) kv_options_set_horizon(*ppOpts, (u64)iH);
    if( rc!=SQLITE_OK && rc!=SQLITE_NOMEM && *pzErr==0 ){
      *pzErr = sqlite3_mprintf("kvstore: cannot read the commit horizon of "
          "table %s from %s_kvstore: %s", zTable, zTable,
          kvshadowErrmsg(db, rc));
    }
  }
store_dir_out:
  if( rc!=SQLITE_OK && *pzErr==0 ){
    *pzErr = rc==SQLITE_NOMEM ? sqlite3_mprintf("kvstore: out of memory")
           : sqlite3_mprintf("kvstore: cannot find table '%s': %s", zName,
                             sqlite3_errstr(rc));
  }
  if( rc!=SQLITE_OK ){
    sqlite3_free(*pzDir);
    *pzDir = 0;
    kv_options_free(*ppOpts);
    *ppOpts = 0;
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(azArg);
  sqlite3_free(zDirOpt);
  sqlite3_free(zSchema);
  sqlite3_free(zTable);
  return rc;
}
