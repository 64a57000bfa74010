/*
** kvshadow.h - the shadow table of a kvstore table.
**
** Table T of schema S has a shadow table "S"."T_kvstore" (declared to
** SQLite through xShadowName, suffix "kvstore", so defensive mode keeps
** ordinary SQL from writing it), made by xCreate with
**
**   CREATE TABLE IF NOT EXISTS "S"."T_kvstore"(k TEXT PRIMARY KEY, v)
**   WITHOUT ROWID
**
** Rows (k, v):
**   'horizon'   INTEGER: first sequence of the newest kvstore batch the
**               database committed (doc/transactions.md)
**   'store_id', 'table', 'db_path'  the store's identity (ownership)
**
** Every function returns an SQLite code and leaves the connection's error
** message set on failure; none of them begins or ends a transaction, so
** each runs inside whatever transaction the caller is in.
*/
#ifndef KVSHADOW_H
#define KVSHADOW_H

#include "sqlite3ext.h"

int kvshadowCreate(sqlite3 *db, const char *zSchema, const char *zTab);
/* *pbFound is 0 when the row is absent */
int kvshadowGetInt(sqlite3 *db, const char *zSchema, const char *zTab,
                   const char *zKey, sqlite3_int64 *piVal, int *pbFound);
/* *pzVal gets a sqlite3_malloc'd string, or NULL when the row is absent */
int kvshadowGetText(sqlite3 *db, const char *zSchema, const char *zTab,
                    const char *zKey, char **pzVal);
int kvshadowSetInt(sqlite3 *db, const char *zSchema, const char *zTab,
                   const char *zKey, sqlite3_int64 v);
int kvshadowSetText(sqlite3 *db, const char *zSchema, const char *zTab,
                    const char *zKey, const char *zVal);

/* Does the shadow table exist? Sets *pbExists. */
int kvshadowExists(sqlite3 *db, const char *zSchema, const char *zTab,
                   int *pbExists);

#endif /* KVSHADOW_H */
