/*
** kvext.h - private interface between kvvtab.c and the files of ext/ (the
** SQL functions, kvstore_backup and the kvstore_sstables table-valued
** function).
**
** Each ext/ file uses SQLITE_EXTENSION_INIT3 (only kvstore.c holds INIT1
** and the entry point) and exports one kvextXxxInit(sqlite3*), called by
** kvstore.c on every connection the extension is registered on; it returns
** an SQLite result code. ext/ calls kvvtab.c (the lookups below), never
** the other way round.
*/
#ifndef KVEXT_H
#define KVEXT_H

#include "sqlite3ext.h"
#include "kv.h"

/*
** Provided by the table (kvvtab.c, kvlookup.c).
**
** kvvtabLookup finds the kvstore table zName ("table" or "schema.table",
** resolved the way SQLite resolves an unqualified name: temp, main, then
** attached databases) of connection db and returns its engine in *ppKv
** (owned by the table, valid while the table stays connected: do not keep
** it past the current call) and its key type (KV_KEY_*) in *peKeyType. A
** table this connection has not used yet is connected first. On failure
** returns an SQLite code with *pzErr (sqlite3_free) set:
**   "kvstore: no such table: 'x'" or "kvstore: 'x' is not a kvstore table".
*/
int kvvtabLookup(sqlite3 *db, const char *zName, kv_db **ppKv,
                 int *peKeyType, char **pzErr);

/* The message of a failed engine call, rc its code: the engine's own
** (kv_errmsg), or, when it left none, "kvstore: <zWhat> failed: <rc's
** text>" (NULL when zWhat is NULL, for a caller with its own default).
** sqlite3_malloc'd (the caller frees it); NULL also on OOM. */
char *kvvtabEngineMsg(int rc, const char *zWhat);

/* The store directory and options of kvstore table zName, found without
** connecting it (a table whose store does not open cannot connect): from
** the open table, or from the arguments of its CREATE statement, resolved
** as xConnect resolves them, the commit horizon of its shadow table
** included (so kv_repair keeps only the batches the database committed).
** *pzDir (sqlite3_free), *ppOpts (kv_options_free). On failure an SQLite
** code and *pzErr (sqlite3_free). */
int kvvtabStoreDir(sqlite3 *db, const char *zName, char **pzDir,
                   kv_options **ppOpts, char **pzErr);
/*
** kvvtabStoreInfo: the kvstore table zName (resolved as kvvtabLookup does,
** attached first) and its store, for ext/backup.c. The strings but zDirOpt
** belong to the table (valid during the current call); zDirOpt, the dir=
** option as written (NULL when not given), is sqlite3_malloc'd.
*/
typedef struct KvvtabStore KvvtabStore;
struct KvvtabStore {
  kv_db *pKv;                 /* the engine */
  const char *zSchema;        /* "main", ... */
  const char *zTable;         /* table name */
  const char *zDir;           /* resolved store directory */
  char *zDirOpt;              /* dir= as given, or NULL (caller frees) */
  int bDefaultDir;            /* zDir is <db file>-<table>.kvstore */
  int bPrivateDir;            /* a private temporary directory */
  int bInTrans;               /* the table is in a transaction */
};
int kvvtabStoreInfo(sqlite3 *db, const char *zName, KvvtabStore *pInfo,
                    char **pzErr);

/* For kvstore.c (the entry point): register the `kvstore` module on db,
** and the functions kvstore_attach and kvstore_detach. SQLite codes; the
** first also sets *pzErrMsg (sqlite3_free) on failure. */
int kvvtabRegister(sqlite3 *db, char **pzErrMsg);
int kvvtabOwnerFunctionsInit(sqlite3 *db);
/* kvrange.c: kvstore_delete_range(t, lo, hi). */
int kvrangeFunctionsInit(sqlite3 *db);
/* kvingest.c: kvstore_ingest. */
int kvingestFunctionsInit(sqlite3 *db);

/* ext/functions.c: kvstore_compact, kvstore_flush, kvstore_stats,
** kvstore_verify, kvstore_merkle, kvstore_version. */
int kvextFunctionsInit(sqlite3 *db);

/*
** Watching for sqlite3_interrupt() from inside a function (functions.c):
** kvextWatchInterrupted is nonzero once connection db is interrupted
** (sqlite3_is_interrupted on SQLite >= 3.41; before, a nested "SELECT 1"
** that fails with SQLITE_INTERRUPT). Init, ask as often as wanted, Finish.
*/
typedef int (*IsInterruptedFn)(sqlite3*);
typedef struct KvextWatch KvextWatch;
struct KvextWatch {
  sqlite3 *db;                  /* the calling connection */
  IsInterruptedFn xIsInterrupted; /* SQLite >= 3.41, else NULL */
  sqlite3_stmt *pProbe;         /* "SELECT 1", stepped on older ones */
};
void kvextWatchInit(KvextWatch *w, sqlite3 *db);
int kvextWatchInterrupted(KvextWatch *w);
void kvextWatchFinish(KvextWatch *w);

/* ext/backup.c: kvstore_checkpoint and kvstore_backup. */
int kvextBackupInit(sqlite3 *db);
/* The copies of store pKv running in this process, as JSON members for
** kvstore_stats: "checkpoint":{"running":N,"progress":{"bytes_done":N,
** "bytes_planned":N}},"backup":{...} (running 0 and 0 of 0 when none; a
** backup's figures are the whole backup's: its database and every store).
** sqlite3_malloc'd; NULL on OOM. */
char *kvextCopyProgress(kv_db *pKv);

/* ext/sstables.c: the eponymous table-valued function kvstore_sstables. */
int kvextSstablesInit(sqlite3 *db);

/*
** Provided by confine.c. kvextConfineCheck: may connection db use path
** zPath (what it is for in zWhat: "dir", "config file", "backup
** destination", ...)? bExplicit is 0 for a path kvstore chose itself (the
** default store directory). SQLITE_OK, or SQLITE_AUTH with *pzErr
** (sqlite3_free) naming the path and the root.
*/
int kvextConfineInit(sqlite3 *db);
int kvextConfineCheck(sqlite3 *db, const char *zWhat, const char *zPath,
                      int bExplicit, char **pzErr);

#endif /* KVEXT_H */
