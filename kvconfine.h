/*
** kvconfine.h - keeping kvstore's file paths inside one directory
** (kvconfine.c): the table checks its store directory and config file,
** ext/backup.c its destinations. kvconfineInit registers
** kvstore_confine() and reads KVSTORE_ROOT for connection db.
*/
#ifndef KVCONFINE_H
#define KVCONFINE_H

#include "sqlite3ext.h"

int kvconfineInit(sqlite3 *db);

/* May connection db use path zPath (what it is for in zWhat: "dir",
** "config file", "backup destination", ...)? bExplicit is 0 for a path
** kvstore chose itself (the default store directory). SQLITE_OK, or
** SQLITE_AUTH with *pzErr (sqlite3_free) naming the path and the root. */
int kvconfineCheck(sqlite3 *db, const char *zWhat, const char *zPath,
                   int bExplicit, char **pzErr);

#endif /* KVCONFINE_H */
