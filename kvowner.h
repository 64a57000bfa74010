/*
** kvowner.h - which table a kvstore store belongs to (doc/ownership.md).
**
** A store belongs to one table of one database. Its identity is kept
** twice: in the store, as the file OWNER, and in the table's shadow table
** (kvshadow.h) as the rows 'store_id', 'table' and 'db_path'. A table
** reaches a store only when all three agree. The OWNER file is text, one
** "name=value" per line after a header line:
**
**   kvstore-owner 1
**   state=owned            (or "detached": any CREATE may adopt it)
**   store_id=<32 hex digits, random>
**   table=<table name>
**   prev_table=<name before the last ALTER TABLE RENAME, if any>
**   db_path=<database file, relative to the store directory; empty for a
**           database without a file>
**   made_dir=1             (kvstore made the directory: DROP removes it)
**
** Values escape '%', '\n', '\r' and other control bytes as %XX. The file
** is replaced atomically (OWNER.tmp created with O_EXCL|O_NOFOLLOW,
** fsync, rename or link, directory fsync).
*/
#ifndef KVOWNER_H
#define KVOWNER_H

#include "sqlite3ext.h"

#define KVOWNER_NONE     0    /* no OWNER file (an earlier release's store) */
#define KVOWNER_OWNED    1
#define KVOWNER_DETACHED 2

typedef struct KvOwner KvOwner;
struct KvOwner {
  int eState;                 /* KVOWNER_* */
  char *zStoreId;             /* sqlite3_malloc'd, or NULL */
  char *zTable;
  char *zPrevTable;           /* name before a RENAME (may roll back) */
  char *zDbPath;
  int bMadeDir;               /* kvstore created the directory */
};

/* What a directory named by dir= holds. */
#define KVDIR_MISSING 0       /* nothing there */
#define KVDIR_EMPTY   1       /* an empty directory (or a creation's debris) */
#define KVDIR_STORE   2       /* a kvstore store (its KVSTORE file) */
#define KVDIR_FOREIGN 3       /* anything else: never touched */

/* Does zDir hold what a store's drop interrupted after its KVSTORE file
** went leaves (OWNER, with LOCK and the drop markers at most)? */
int kvownerDropLeftover(const char *zDir);
int kvownerProbe(const char *zDir);

/* The default directory of table zTab of database file zDbFile:
** "<zDbFile>-<zTab>.kvstore" (sqlite3_malloc; NULL when out of memory). */
char *kvownerDefaultDir(const char *zDbFile, const char *zTab);

/* The database file of schema zSchema, or NULL for a database without a
** file on disk: in-memory and temporary ones, and those of the memdb VFS
** (sqlite3_deserialize, "file:/name?vfs=memdb"), whose names are no
** files (a store made beside one would outlive the database, somewhere
** unrelated: "/name-t.kvstore" in the root directory). */
const char *kvownerDbFile(sqlite3 *db, const char *zSchema);

/* Folder part of zPath, without the slash ("" when there is none, "/" at
** the root); sqlite3_malloc'd, NULL on OOM. */
char *kvownerFolderOf(const char *zPath);
/* fsync the directory zDir ("" = the current one): 0, or -1 (errno). */
int kvownerSyncDir(const char *zDir);

void kvownerClear(KvOwner *p);
/* Read zDir/OWNER into *p (eState KVOWNER_NONE when absent). Returns
** SQLITE_OK, or SQLITE_CORRUPT / SQLITE_IOERR with *pzErr set. */
int kvownerRead(const char *zDir, KvOwner *p, char **pzErr);
/* Write zDir/OWNER atomically. bReplace==0 fails (SQLITE_ERROR) when an
** OWNER file exists already. */
int kvownerWrite(const char *zDir, const KvOwner *p, int bReplace,
                 char **pzErr);
/* Remove OWNER (the last step of DROP) and fsync the directory. Needs
** nothing from SQLite's allocator but for the error message. */
int kvownerRemove(const char *zDir, char **pzErr);
/* A new random store id (32 hex digits, sqlite3_malloc). */
char *kvownerNewId(void);
/* Path of database file zDbFile relative to the existing directory zDir,
** through canonical paths ("" when zDbFile is NULL). sqlite3_malloc. */
int kvownerDbPath(const char *zDir, const char *zDbFile, char **pzRel,
                  char **pzErr);
/* An ALTER TABLE ... RENAME that SQLite rolled back after xRename moved
** the default directory (doc/ownership.md, "Limits") leaves the store of
** table zTab, whose shadow identity is *pMine, under the new name: in the
** folder of zDbFile as "<db>-<new>.kvstore", its OWNER with pMine's
** store id, table <new> and prev_table zTab, naming this database. *pzFound
** gets its path (sqlite3_malloc), or NULL when there is none. */
int kvownerFindRenamed(const char *zDbFile, const KvOwner *pMine,
                       const char *zTab, char **pzFound);
/* Does the file zDir/zRel exist and differ from zDbFile? */
int kvownerOtherDbExists(const char *zDir, const char *zRel,
                         const char *zDbFile);

/* The identity the table zSchema.zTab holds in its shadow table: *p gets
** eState KVOWNER_OWNED and the three rows, or KVOWNER_NONE when the shadow
** table or its store_id row is missing (an earlier release's table). */
int kvownerShadowRead(sqlite3 *db, const char *zSchema, const char *zTab,
                      KvOwner *p);
/* Write the three identity rows into the (created if missing) shadow. */
int kvownerShadowWrite(sqlite3 *db, const char *zSchema, const char *zTab,
                       const KvOwner *p);
/* Does schema zSchema hold a table named zTab? */
int kvownerTableExists(sqlite3 *db, const char *zSchema, const char *zTab,
                       int *pbExists);

/*
** May table zSchema.zTab (database file zDbFile, NULL without one) use
** the store in zDir? SQLITE_OK when the store's OWNER and the table's
** shadow rows agree on all three; otherwise an SQLite code with *pzWhy
** (sqlite3_malloc) saying why, naming the directory: SQLITE_CANTOPEN
** (missing), SQLITE_ERROR (not this table's, or an earlier release's),
** SQLITE_CORRUPT (OWNER damaged). *pbOwn is 1 when the OWNER file names
** this table (so DROP may delete the store even if it cannot be opened).
*/
int kvownerCheck(sqlite3 *db, const char *zSchema, const char *zTab,
                 const char *zDir, const char *zDbFile, int *pbOwn,
                 char **pzWhy);

/* Serialises claims (check OWNER, then write it) within the process;
** between processes the store's LOCK, held by the open engine, does. */
void kvownerEnter(void);
void kvownerLeave(void);

#endif /* KVOWNER_H */
