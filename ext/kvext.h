/*
** kvext.h - what the files of ext/ (the SQL functions, kvstore_backup and
** kvstore_checkpoint, the kvstore_sstables table-valued function) export.
**
** Each ext/ file uses SQLITE_EXTENSION_INIT3 (only kvstore.c holds INIT1
** and the entry point) and exports one kvextXxxInit(sqlite3*), called by
** kvstore.c on every connection the extension is registered on; it returns
** an SQLite result code. ext/ calls the table through ../kvvtab.h (and
** path confinement through ../kvconfine.h), never the other way round:
** outside ext/, only kvstore.c, which registers both, and kvtool (for
** kvextCopyProgress) include this file.
*/
#ifndef KVEXT_H
#define KVEXT_H

#include "sqlite3ext.h"
#include "kv.h"
#include "../kvvtab.h"

/* ext/functions.c: kvstore_compact, kvstore_flush, kvstore_stats,
** kvstore_verify, kvstore_merkle, kvstore_version. */
int kvextFunctionsInit(sqlite3 *db);

/*
** Watching for sqlite3_interrupt() from inside a function (functions.c):
** kvextWatchInterrupted is nonzero once connection db is interrupted
** (sqlite3_is_interrupted on SQLite >= 3.41; before, a nested "SELECT 1"
** that fails with SQLITE_INTERRUPT, or with SQLITE_NOMEM, which dooms the
** calling statement as well). Init, ask as often as wanted, Finish.
*/
typedef struct KvextWatch KvextWatch;
struct KvextWatch {
  sqlite3 *db;                  /* the calling connection */
  KvIsInterruptedFn xIsInterrupted; /* SQLite >= 3.41, else NULL */
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

#endif /* KVEXT_H */
