/*
** filename.h - the names of the files in a store's directory, built and
** recognised in one place (filename.c).
**
**   KVSTORE            identity: store id, format version, shaping options
**   KVSTORE.tmp        identity being written (kvEnvWriteAtomic)
**   LOCK               held by the process that has the store open
**   CURRENT            "MANIFEST-<n>\n": the live manifest (version.c)
**   CURRENT.tmp        CURRENT being replaced (kvEnvWriteAtomic)
**   CURRENT.dropped    CURRENT renamed by kv_destroy: the store is dropped
**   MANIFEST-<n>       version edits (version.c)
**   wal-<n>.log        a write-ahead log segment (wal.c)
**   <n>.sst            a table (sst_build.c)
**   <n>.sst.tmp        a table being written
**   <n>.sst.damaged    a table kv_repair set aside; never deleted
**   <n>.spill          a run of a spilled transaction (spill.c); temporary
**
** <n> is written in decimal with at least 6 digits; any run of digits is
** recognised.
*/
#ifndef KV_FILENAME_H
#define KV_FILENAME_H

#include "kvInt.h"

/* The fixed names, for messages and kvEnvWriteAtomic (which takes a bare
** name and writes "<name>.tmp" first). */
#define KV_NAME_IDENTITY "KVSTORE"
#define KV_NAME_LOCK     "LOCK"
#define KV_NAME_CURRENT  "CURRENT"
#define KV_NAME_DROPPED  "CURRENT.dropped"
#define KV_NAME_DROPPING "CURRENT.dropping"

enum {
  KV_FILE_NONE = 0,             /* not a name a store uses */
  KV_FILE_IDENTITY,
  KV_FILE_IDENTITY_TMP,
  KV_FILE_LOCK,
  KV_FILE_CURRENT,
  KV_FILE_CURRENT_TMP,
  KV_FILE_DROPPED,
  KV_FILE_DROPPING,             /* a DROP TABLE not committed yet */
  KV_FILE_MANIFEST,
  KV_FILE_WAL,
  KV_FILE_SST,
  KV_FILE_SST_TMP,
  KV_FILE_SST_DAMAGED,
  KV_FILE_SPILL                 /* <n>.spill, <n>.spill.tmp: a run of a
                                ** spilled batch (spill.c), temporary */
};

/* "<zDir>/<name>" of a file of kind eType (number iNum where the kind has
** one), or the bare name when zDir is NULL. Allocated with kvMalloc; NULL
** when out of memory. */
char *kvFileName(const char *zDir, int eType, u64 iNum);

/* The bare name of a file of kind eType into zBuf (nBuf bytes, truncated
** to fit), for callers with a fixed-size field and no way to fail. */
void kvFileNameBuf(char *zBuf, size_t nBuf, int eType, u64 iNum);

/* If zName (a bare name) is one of the names above, set *peType and
** *piNum (0 for kinds without a number) and return 1; otherwise return 0
** and set *peType to KV_FILE_NONE. */
int kvParseFileName(const char *zName, int *peType, u64 *piNum);

#endif /* KV_FILENAME_H */
