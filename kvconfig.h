/*
** kvconfig.h - the CREATE arguments of a kvstore table (kvconfig.c):
** parsing them, with the `config` JSON file, into kv_options, and the
** checks xCreate/xConnect make before opening a store. Every function that
** can fail returns an SQLite code and sets *pzErr (sqlite3_free) to a
** "kvstore: ..." message naming the argument, file or table at fault.
*/
#ifndef KVCONFIG_H
#define KVCONFIG_H

#include "sqlite3ext.h"
#include "kv.h"

/* Parse the CREATE arguments azArg[0..nArg) (config= loaded first, the
** others overriding it; duplicates refused) into a new *ppOpts
** (kv_options_free). *pzDirOpt gets dir= as written (sqlite3_free), or
** NULL. zDbFile is the database file, for relative paths (NULL or "" for
** none). db is the connection, whose confinement (kvconfine.c) the
** config file's path must respect. */
int kvconfigParse(sqlite3 *db, int nArg, const char *const *azArg,
                  const char *zDbFile, kv_options **ppOpts,
                  char **pzDirOpt, char **pzErr);

/* Resolve option path zPath: absolute as is; relative against the folder
** of zDbFile, or as given when the database has no file. Returns
** sqlite3_malloc memory or NULL (OOM). */
char *kvconfigResolvePath(const char *zPath, const char *zDbFile);

/* An unsigned decimal option of pOpts, or dflt when absent or malformed. */
sqlite3_uint64 kvconfigOptionU64(const kv_options *pOpts, const char *zName,
                                 sqlite3_uint64 dflt);

/* Refuse a table zTable of schema zSchema whose database is not UTF-8. */
int kvconfigCheckEncoding(sqlite3 *db, const char *zSchema,
                          const char *zTable, char **pzErr);

/* Refuse a CREATE statement with an empty argument (SQLite drops them). */
int kvconfigCheckEmptyArguments(sqlite3 *db, const char *zSchema,
                                const char *zTable, char **pzErr);

/* Refuse a directory path longer than the system takes (SQLITE_CANTOPEN). */
int kvconfigCheckPathLength(const char *zDir, char **pzErr);

#endif /* KVCONFIG_H */
