/*
** kvshadow.h - the shadow table of a kvstore table.
**
** Table T of schema S keeps its small persistent facts in the ordinary
** table "S"."T_kvstore"(k TEXT PRIMARY KEY, v) WITHOUT ROWID, declared to
** SQLite through xShadowName (suffix "kvstore"), created by xCreate,
** renamed by xRename and dropped by xDestroy. Its rows:
**
**   'horizon'   INTEGER  sequence of the newest kvstore batch the database
**                        committed (transactions)
**   'store_id'  TEXT     the store's random identity (ownership, kvowner.h)
**   'table'     TEXT     the table's name when the store was claimed
**   'db_path'   TEXT     the database file's path relative to the store
**
** Every helper runs its SQL through db, inside whatever transaction db has
** open, so a write commits or rolls back with the statement that made it.
** Each returns an SQLite code; the connection's error message says why,
** except for KVSHADOW_IGNORED, from a statement an authorizer made
** ignore its work (kvshadow.c): kvshadowErrmsg() says that.
*/
#ifndef KVSHADOW_H
#define KVSHADOW_H

#include "sqlite3ext.h"

/* An SQLITE_AUTH of kvstore's own: an authorizer answered SQLITE_IGNORE
** for a statement kvstore runs on its shadow table (SQLite's extended
** code for the retired user-authentication extension, unused otherwise). */
#define KVSHADOW_IGNORED SQLITE_AUTH_USER

int kvshadowCreate(sqlite3 *db, const char *zSchema, const char *zTab);
/* The 'horizon' row. It must hold an integer >= 0: anything else (a
** damaged or edited database file) is SQLITE_CORRUPT with *pzErr set (a
** sqlite3_malloc'd kvstore: message; never read as 0, which would revoke
** every commit of the store); SQLITE_NOMEM with no message. Other
** failures leave the reason in db. */
int kvshadowGetHorizon(sqlite3 *db, const char *zSchema, const char *zTab,
                       sqlite3_int64 *piH, int *pbFound, char **pzErr);
/* SQLITE_OK when column iCol of pStmt's row is a valid horizon, else
** SQLITE_CORRUPT with kvshadowGetHorizon's message in *pzErr (or
** SQLITE_NOMEM). */
int kvshadowHorizonCheck(sqlite3_stmt *pStmt, int iCol, const char *zTab,
                         char **pzErr);
/* Is "zSchema"."zTab_kvstore" still the table kvstore made: a table (not a
** view) of the two columns k and v, k alone its primary key (one row per
** key), with no trigger of its schema on it? A file edited or crafted to
** differ could make kvstore's writes of the horizon vanish or read an old
** one. SQLITE_OK if so; else SQLITE_CORRUPT with a sqlite3_malloc'd
** kvstore: message in *pzErr that says what differs, or another code with
** the reason in db. */
int kvshadowShapeCheck(sqlite3 *db, const char *zSchema, const char *zTab,
                       char **pzErr);
/* *pzVal gets a sqlite3_malloc'd string, or NULL when the row is absent */
int kvshadowGetText(sqlite3 *db, const char *zSchema, const char *zTab,
                    const char *zKey, char **pzVal);
int kvshadowSetInt(sqlite3 *db, const char *zSchema, const char *zTab,
                   const char *zKey, sqlite3_int64 v);
int kvshadowSetText(sqlite3 *db, const char *zSchema, const char *zTab,
                    const char *zKey, const char *zVal);
/* Does schema zSchema hold a table (or, when bView, a view) named zName,
** compared as SQLite compares names (case-insensitively)? Sets *pbHas. */
int kvshadowSchemaHas(sqlite3 *db, const char *zSchema, const char *zName,
                      int bView, int *pbHas);
/* Step a statement of kvstore's own that must write to its end:
** KVSHADOW_IGNORED when it wrote nothing because an authorizer answered
** SQLITE_IGNORE. */
int kvshadowStepWrite(sqlite3_stmt *pStmt);
/* Prepare and run zSql (from sqlite3_mprintf, freed here) with
** kvshadowStepWrite(); for CREATE ... IF NOT EXISTS or DROP ... IF EXISTS
** of table zTable give zSchema and zTable and whether it must exist after
** (a statement with nothing to do writes nothing either), else NULLs. */
int kvshadowRun(sqlite3 *db, char *zSql, const char *zSchema,
                const char *zTable, int bExists);
/* After a shadow row read as absent or NULL: is the reason
** an authorizer that hides the shadow table's columns: KVSHADOW_IGNORED;
** SQLITE_OK if the table's rows read as they are. */
int kvshadowHiddenCheck(sqlite3 *db, const char *zSchema, const char *zTab);
/* Why a call on db (one of these helpers, or any) failed with rc: db's
** message when db recorded that failure, else rc's own text (a helper
** that ran out of memory before SQLite saw anything leaves db saying "not
** an error"). */
const char *kvshadowErrmsg(sqlite3 *db, int rc);
/* Prepare zSql (from sqlite3_mprintf, freed here; NULL gives SQLITE_NOMEM)
** with zArg bound to ?1 without a copy: zArg must outlive the statement's
** steps. *ppStmt is to be finalized by the caller, also on failure. */
int kvshadowPrepare(sqlite3 *db, char *zSql, const char *zArg,
                    sqlite3_stmt **ppStmt);

#endif /* KVSHADOW_H */
