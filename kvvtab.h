/*
** kvvtab.h - what the kvstore table offers the rest of the extension: the
** files of ext/ (functions, backups, kvstore_sstables), kvtool and the
** entry point kvstore.c. Provided by kvvtab.c, kvlookup.c and kvrange.c.
** The table includes nothing of ext/: ext/ depends on the table, not the
** other way round.
*/
#ifndef KVVTAB_H
#define KVVTAB_H

#include "sqlite3ext.h"
#include "kv.h"

/*
** kvvtabLookup finds the kvstore table zName ("table" or "schema.table",
** resolved the way SQLite resolves an unqualified name: temp, main, then
** attached databases) of connection db and returns its engine in *ppKv
** (owned by the table, valid while the table stays connected: do not keep
** it past the current call) and its key type (KV_KEY_*) in *peKeyType. A
** table this connection has not used yet is connected first. On failure
** returns an SQLite code with *pzErr (sqlite3_free) set:
**   "kvstore: no such table: 'x'" or "kvstore: 'x' is not a kvstore table".
** bDurable 1 (kvstore_compact, kvstore_flush): the database's commits are
** made durable first, so that compaction may drop the versions they
** overwrote (kvtxn.c, kvtxnDurable).
*/
int kvvtabLookup(sqlite3 *db, const char *zName, int bDurable, kv_db **ppKv,
                 int *peKeyType, char **pzErr);

/* The message of a failed engine call, rc its code: the engine's own
** (kv_errmsg), or, when it left none, "kvstore: <zWhat> failed: <rc's
** text>" (NULL when zWhat is NULL, for a caller with its own default).
** sqlite3_malloc'd (the caller frees it); NULL also on OOM. */
char *kvvtabEngineMsg(int rc, const char *zWhat);

/* An SQL function's error: message zMsg (built by the caller, which still
** frees it) and code rc; a NULL zMsg is a failed allocation ("kvstore: out
** of memory", SQLITE_NOMEM), and rc SQLITE_OK reads as SQLITE_ERROR. */
void kvvtabResultError(sqlite3_context *ctx, int rc, const char *zMsg);

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
/* sqlite3_is_interrupted of the library running us (SQLite >= 3.41), or
** NULL: for long work inside a statement (kvvtab.c says how it is found). */
typedef int (*KvIsInterruptedFn)(sqlite3*);
KvIsInterruptedFn kvvtabIsInterruptedFn(void);
/* kvrange.c: kvstore_delete_range(t, lo, hi). */
int kvrangeFunctionsInit(sqlite3 *db);
/* kvingest.c: kvstore_ingest. */
int kvingestFunctionsInit(sqlite3 *db);

#endif /* KVVTAB_H */
