/*
** kvvtabInt.h - what the files of the kvstore virtual table share: the
** table and cursor objects and the functions one file calls in another.
** kvvtab.c holds the table's life (create, connect, drop, rename, the
** connection state) and its writes; kvcursor.c its reads; kvtxn.c its
** transactions; kvlookup.c the lookups of kvext.h and kvstore_attach.
** Not for ext/, which reaches the table through ext/kvext.h.
*/
#ifndef KVVTABINT_H
#define KVVTABINT_H

#include "sqlite3ext.h"
#include "kv.h"
#include "kvrow.h"

#include <stddef.h>
#include <string.h>

/* How long a write waits for another connection sharing the engine to end
** its transaction before failing with SQLITE_BUSY. */
#define KVVTAB_WRITER_TIMEOUT_MS 5000

/* Row count assumed by xBestIndex: the engine keeps no exact count, and
** SQLite assumes about a million rows for an ordinary table without
** ANALYZE, so joins against ordinary tables weigh both sides alike. */
#define KVVTAB_EST_ROWS 1000000.0

/* Columns of the declared table. KVVTAB_COL_COMMAND is HIDDEN: NULL in
** every row, and a non-NULL value in an INSERT makes the row a command
** (kvrange.c; doc/rangedel.md). */
#define KVVTAB_COL_KEY     0
#define KVVTAB_COL_VALUE   1
#define KVVTAB_COL_COMMAND 2
#define KVVTAB_COMMAND_NAME "kvstore_command"

typedef struct KvConn KvConn;
typedef struct KvPrivateDir KvPrivateDir;
typedef struct KvPager KvPager;
typedef struct KvVtab KvVtab;
typedef struct KvCursor KvCursor;
typedef struct KvSavepoint KvSavepoint;
typedef struct KvRun KvRun;
typedef struct KvIngest KvIngest;
typedef struct KvBulk KvBulk;
typedef struct KvDrop KvDrop;

/*
** Per-connection state, shared by every kvstore table of one sqlite3*.
** It is the module's client data, and found again through a process-wide
** list when the extension is loaded twice on one connection.
*/
struct KvConn {
  sqlite3 *db;                /* the connection */
  int nRef;                   /* registrations of the module (starts at 1) */
  KvPager **apPager;          /* databases its tables are in (one reference
                              ** each, dropped when the connection closes) */
  int nPager;
  KvVtab *pTabs;              /* open kvstore tables of this connection */
  KvDrop *pDrops;             /* DROP TABLEs whose commit is not known yet */
  KvConn *pNext;              /* next in the process-wide list */
};

/*
** A DROP TABLE of a table with a store of its own (kvvtab.c, "DROP TABLE
** with the database"): the store is made unopenable (kv_drop_prepare) and
** held; it is deleted once the database's commit of the DROP is seen, or
** made openable again when the DROP rolled back (kvvtabDropsSettle).
*/
struct KvDrop {
  char *zDir;                 /* the store */
  char *zDbFile;              /* its database file */
  char *zVfs;                 /* the VFS it was opened with, or NULL */
  char *zSchema;              /* the table's schema in the connection */
  char *zTable;               /* the table dropped */
  char *zStoreId;             /* its identity (shadow row 'store_id') */
  int bMadeDir;               /* OWNER's made_dir: the directory goes too */
  kv_hold *pHold;             /* keeps others from undoing the drop */
  KvDrop *pNext;
};
/* Settle the DROPs of pConn whose transactions are over; bClosing: the
** connection is closing (its transaction is over, its handle unusable). */
void kvvtabDropsSettle(KvConn *pConn, int bClosing);
/* The KvConn of connection db, or NULL (the module is not registered). */
KvConn *kvvtabConnOf(sqlite3 *db);

/*
** One database as this process's connections reach it: the sqlite3_file
** of its pager (SQLITE_FCNTL_FILE_POINTER). Connections of a shared cache
** (cache=shared) share one pager, and so one KvPager; others each have
** their own. Process-wide, kept while a connection that used a kvstore
** table of the database is open.
**
** nConn > 1 means a shared cache: the pager's data version does not change
** when another connection of the cache commits, so the horizon cache is
** not trusted (kvtxnReadSnapshot); nJoin tells a table whether a
** connection joined since it cached.
**
** Private directories belong to tables of databases without a file
** (in-memory, temporary, the memdb VFS) and live here, so that every
** connection of a shared in-memory database reaches the same store. A
** table finds its directory by the random id its shadow row 'private_id'
** holds (a copy of the database made by sqlite3_serialize has the id but
** another pager, and finds nothing). SQLite disconnects and reconnects
** tables on every schema reset, so a directory outlives xDisconnect: it is
** removed when DROP TABLE says so, or when the last connection holding
** the KvPager closes.
*/
struct KvPrivateDir {
  char *zId;                  /* the shadow row 'private_id' */
  char *zDir;                 /* mkdtemp() directory holding the store */
  KvPrivateDir *pNext;
};
struct KvPager {
  sqlite3_file *pFile;        /* key (NULL: no pager found, or zName) */
  char *zName;                /* key of a memdb database named "/...", which
                              ** every connection opening it reaches through
                              ** a pager of its own */
  int bSharedCache;           /* opened with cache=shared */
  int nConn;                  /* KvConn holding it (atomic reads) */
  int nJoin;                  /* connections that ever joined (atomic reads) */
  KvPrivateDir *pDirs;        /* private directories of its tables */
  KvPager *pNext;             /* next in the process-wide list */
};

/* One savepoint mark: savepoint iSave began when the batch held nMark
** operations. Marks are kept in increasing iSave order. */
struct KvSavepoint {
  int iSave;
  size_t nMark;
};

/*
** A range-delete run (kvrange.c): one scan cursor of this table is
** watched, from its xFilter to its xClose, while no other cursor of the
** table is filtered. When the scan reached its end by itself and the
** deletes that followed it, added to the batch one after another with
** nothing else in between, all inside the scan's bounds, removed every
** row it returned (as many keys, no repeats, equal sums of key hashes),
** those point deletes are replaced by one range tombstone over the keys
** they span. The run collapses as it goes too: every KVRUN_STEP deletes,
** when they are exactly the first rows the scan returned (the prefix sums
** of the cursor), what the run has in the batch becomes one tombstone
** over them (nCut), so the batch never holds more than KVRUN_STEP of the
** run's point deletes.
*/
#define KVRUN_STEP 1024       /* rows between two prefix sums (power of 2) */
#define KVRUN_STEP_KEY 1024   /* a longer key ends the prefix sums */
#define KVRUN_NONE     0      /* no cursor watched */
#define KVRUN_PENDING  1      /* pCur filtered, but not as a range scan */
#define KVRUN_SCANNING 2      /* pCur is scanning (counts in nRunRow) */
#define KVRUN_COMPLETE 3      /* pCur's scan reached its end by itself */
#define KVRUN_INVALID  4      /* no range tombstone until pCur closes */
struct KvRun {
  KvCursor *pCur;             /* the watched cursor, or NULL */
  int eState;                 /* KVRUN_* */
  size_t nScanMark;           /* batch operations when the scan began */
  u64 nDel;                   /* deletes counted so far */
  u64 iDelSum;                /* sum of kvrunKeyHash of their keys */
  int iDir;                   /* keys deleted ascending (1), descending (-1) */
  u64 nCut;                   /* first deletes the batch holds as one range
                              ** tombstone at nScanMark (0: none) */
  u8 *aFirst; int nFirst; int nFirstAlloc;   /* first key deleted */
  u8 *aLast; int nLast; int nLastAlloc;      /* latest key deleted */
};

/* A kvstore table as seen by one connection. */
struct KvVtab {
  sqlite3_vtab base;          /* base class; must be first */
  sqlite3 *db;                /* connection owning this table */
  KvConn *pConn;              /* per-connection state */
  KvPager *pPager;            /* the database as its pager (held by pConn) */
  char *zSchema;              /* database name: "main", "temp", ... */
  char *zName;                /* table name (changes on RENAME) */
  char *zDir;                 /* resolved data directory */
  int bDefaultDir;            /* zDir derived from the table name */
  int bPrivateDir;            /* zDir is a private temporary directory
                              ** ("" when there is none: detached) */
  char *zPrivateId;           /* its id (shadow row 'private_id') */
  kv_options *pOpts;          /* options as parsed (for reopening) */
  kv_db *pKv;                 /* the engine (shared between connections) */
  int bFullReadOnly;          /* pKv is a kv_open_readonly handle: the disk
                              ** was full when the store was opened */
  int bStoreReadOnly;         /* pKv is a kv_open_readonly handle: the
                              ** store's directory cannot be written (a
                              ** read-only file system, no permission) */
  int iStoreErrno;            /* with bStoreReadOnly: why (EROFS, EACCES) */
  int nCursor;                /* cursors open on this table */
  KvCursor *pSpareCursor;     /* a closed cursor's memory, for the
                              ** next xOpen (one per statement run) */
  char *zDetached;            /* why the table cannot use its store (NULL:
                              ** it can); see vtabAttach */
  int rcDetached;             /* the SQLite code that goes with zDetached */
  int bOwn;                   /* the store's OWNER names this table */
  int eKeyType;               /* KV_KEY_TEXT, KV_KEY_BLOB or KV_KEY_INTEGER */
  u64 nMaxKey;                /* max_key_size of the store */
  u64 nMaxValue;              /* max_value_size of the store */
  /* Transaction state. */
  kv_batch *pBatch;           /* writes of the open transaction, or NULL */
  int bInTrans;               /* between xBegin and xCommit/xRollback */
  int bSynced;                /* xSync wrote the batch: it is committed */
  int bWriter;                /* this table holds the engine's writer lock */
  KvSavepoint *aSave;         /* savepoint marks, increasing iSave */
  int nSave;                  /* entries used in aSave */
  int nSaveAlloc;             /* entries allocated in aSave */
  /* Keys whose row an UPDATE OR REPLACE of the running statement deleted
  ** by moving another row onto them (ascending; emptied by xFilter, which
  ** every UPDATE calls before its first xUpdate). */
  struct KvListKey *aGone;
  int nGone;
  int nGoneAlloc;
  u64 iPrepSeq;               /* first sequence of this transaction's
                              ** PREPARED record (xSync), 0 = none */
  int eCommitSync;            /* KVTXN_SYNC_*: does a commit fsync its
                              ** PREPARED record (0 = not decided yet) */
  int bCommitSync;            /* the last xSync's answer to that */
  /* Commit horizon (doc/transactions.md). */
  int bShadow;                /* the shadow table T_kvstore exists */
  sqlite3_stmt *pHorizon;     /* cached SELECT of the 'horizon' row */
  sqlite3_stmt *pSetHorizon;  /* cached write of it (xSync) */
  int bHorizonOk;             /* iDataVersion/pSnap below are valid */
  unsigned int iDataVersion;  /* SQLITE_FCNTL_DATA_VERSION they were read at */
  kv_snapshot *pSnap;         /* read point at the horizon; NULL = latest */
  sqlite3_int64 iHorizonSeen; /* the horizon read with them */
  int iPagerJoin;             /* pPager->nJoin they were read at */
  int bHorizonWriter;         /* in a shared cache: read while bWriter,
                              ** good until the writer lock goes */
  KvRun run;                  /* range-delete run (kvrange.c) */
  KvIngest *pIngest;          /* files the transaction ingests (kvingest.c) */
  KvBulk *pBulk;              /* sorted load of the transaction (kvbulk.c) */
  int bBulkFailed;            /* a load failed: the transaction cannot
                              ** commit */
  int bShared;                /* another table of this connection uses the
                              ** store, or did (retired sharing): read the
                              ** latest state */
  KvVtab *pNextTab;           /* next table of the same connection */
};

/* Cursor modes, chosen by xFilter. */
#define CUR_EMPTY 0           /* no row can match */
#define CUR_POINT 1           /* one key, read with kv_get at xFilter */
#define CUR_LIST  2           /* sorted list of keys (IN), via the iterator */
#define CUR_SCAN  3           /* range scan between lo and hi */

/* A bound of a range: bytes owned by the cursor (sqlite3_malloc). */
typedef struct KvBound KvBound;
struct KvBound {
  u8 *a;                      /* encoded key, NULL when there is no bound */
  int n;                      /* bytes in a */
  int bIncl;                  /* bound itself included */
};

/* An owned encoded key of an IN list. */
typedef struct KvListKey KvListKey;
struct KvListKey {
  u8 *a;
  int n;
};

/* The watched scan of a cursor after a multiple of KVRUN_STEP rows: the
** sum of kvrunKeyHash of the keys returned so far and the last of them. */
typedef struct KvRunStep KvRunStep;
struct KvRunStep {
  u64 iSum;                   /* iRunSum then */
  size_t iKey;                /* the row's key: aRunKey[iKey..iKey+nKey) */
  int nKey;
};

struct KvCursor {
  sqlite3_vtab_cursor base;   /* base class; must be first */
  int eMode;                  /* CUR_* */
  int bDesc;                  /* return rows in descending key order */
  int bEof;                   /* no current row */
  kv_iter *pIter;             /* CUR_LIST and CUR_SCAN */
  KvBound lo;                 /* lower bound (all modes check it) */
  KvBound hi;                 /* upper bound */
  u8 *aPointKey;              /* CUR_POINT: the key */
  int nPointKey;
  void *pPointVal;            /* CUR_POINT: its value, in a buffer of
                              ** nPointAlloc bytes kept from one point
                              ** read to the next, and by the spare cursor
                              ** (kv_get_into; kv_free) */
  size_t nPointVal;
  size_t nPointAlloc;
  KvListKey *aList;           /* CUR_LIST: keys, ascending, distinct */
  int nList;
  int iList;                  /* next entry of aList to try */
  const u8 *pKey;             /* current row's key, valid until a move */
  size_t nKey;
  const u8 *pVal;             /* current row's value */
  size_t nVal;
  i64 iRowid;                 /* row counter for xRowid */
  int bRun;                   /* the table's run watches this scan */
  u64 nRunRow;                /* rows returned while watched */
  u64 iRunSum;                /* sum of kvrunKeyHash of those rows' keys */
  KvRunStep *aRunStep;        /* aRunStep[i]: after (i+1)*KVRUN_STEP rows */
  int nRunStep, nRunStepAlloc;
  u8 *aRunKey;                /* the keys of aRunStep, one after another */
  size_t nRunKey, nRunKeyAlloc;
};

/* A cheap hash of a key for KvRun: the sum of the hashes of the keys a
** scan returned is compared with that of the keys deleted (kvrange.c).
** Every row of every watched scan pays it: two 8-byte loads (head and
** tail) and a mix, not a loop over bytes (that cost range scans 6% of
** their instructions). Only compared within one process: byte order does
** not matter. */
static inline u64 kvrunKeyHash(const u8 *a, size_t n){
  u64 x = 0, y = 0;
  if( n>=8 ){
    memcpy(&x, a, 8);
    memcpy(&y, a + n - 8, 8);
  }else{
    size_t i;
    for(i=0; i<n; i++) x = (x<<8) | a[i];
  }
  x = (x ^ (y*0x9e3779b97f4a7c15ULL) ^ (u64)n) * 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 29);
}

/****************************************************************************
** kvvtab.c
*/

/* Replace the error message of a table (the old one freed; the new one
** from sqlite3_vmprintf, as SQLite frees it). */
void kvvtabSetError(sqlite3_vtab *pVtab, const char *zFmt, ...);

/* Report a failed engine call on the table: returns rc, with
** kvvtabEngineMsg's message. REQUIRES: rc is neither KV_OK nor
** KV_NOTFOUND. */
int kvvtabEngineError(sqlite3_vtab *pVtab, int rc, const char *zWhat);

/* Open the table's store if it is not open yet (SQLite code, zErrMsg). */
int kvvtabNeedStore(KvVtab *p);

/* Whether another table of this connection uses p's store. */
int kvvtabSameEngineTables(KvVtab *p);

/* Close the store handles of table objects of p's connection left over
** from a failed statement not yet finalized (same schema and name as p,
** no transaction, no cursor), before anything that needs the store to
** itself: RENAME, DROP, kvstore_detach. */
void kvvtabCloseStaleTwins(KvVtab *p);

/* kvtxn.c's horizon cache and shared caches (KvPager): -1 when another
** connection shares p's pager (its commits leave the pager's data version
** as it was), else how many connections ever joined the pager (the cache
** is good only while that has not changed either). */
int kvvtabPagerJoins(KvVtab *p);

/* Forget the keys an UPDATE OR REPLACE moved rows onto (xFilter). */
void kvvtabGoneClear(KvVtab *p);

/* For kvlookup.c. The open kvstore table zSchema.zTable of connection db,
** or NULL. The database file of p's schema, or NULL for one without a
** file. Open (or reopen) p's engine. Check that p may use its store and
** open it (on failure p is detached: zDetached says why). Take zWhy
** (sqlite3_malloc) as the reason p is detached. */
KvVtab *kvvtabFindOpen(sqlite3 *db, const char *zSchema,
                       const char *zTable);
const char *kvvtabDbFile(KvVtab *p);
int kvvtabLatestHorizon(sqlite3 *db, const char *zSchema, const char *zTable,
                        const char *zDbFile, sqlite3_int64 *piH,
                        char **pzErr);
int kvvtabOpenEngine(KvVtab *p, char **pzErr);
int kvvtabAttach(KvVtab *p);
void kvvtabDetach(KvVtab *p, int rc, char *zWhy);

/* For kvrange.c: the kvstore table zName of db, resolved as kvvtabLookup
** does and attached to its store; on failure an SQLite code and *pzErr
** (sqlite3_malloc). */
int kvvtabLookupTable(sqlite3 *db, const char *zName, KvVtab **pp,
                      char **pzErr);

/****************************************************************************
** kvrange.c: range deletes (doc/rangedel.md).
*/

/* xUpdate of an INSERT whose kvstore_command column is not NULL: run the
** command (argv as xUpdate's). */
int kvrangeCommand(KvVtab *p, int argc, sqlite3_value **argv);
/* A DELETE of the row with encoded key a[0..n): adds the point delete to
** the batch and, when it completes a run, turns the run into one range
** tombstone. REQUIRES: kvtxnWriteBegin succeeded. */
int kvrangeDelete(KvVtab *p, const u8 *a, int n);
/* Cursor events: xFilter of pCur (before it reads), its range scan about
** to start, the scan ended by itself (bError: by an error), xClose. */
void kvrangeOnFilter(KvVtab *p, KvCursor *pCur);
void kvrangeOnScanStart(KvVtab *p, KvCursor *pCur);
int kvrangeOnScanEnd(KvCursor *pCur, int bError);
void kvrangeOnClose(KvVtab *p, KvCursor *pCur);
/* The watched scan of pCur returned its nRunRow-th row, a multiple of
** KVRUN_STEP: record iRunSum and the row's key (a key too long, or no
** memory, and no later step is recorded). */
void kvrangeOnStep(KvCursor *pCur);
/* Free what the run holds (table destructor). */
void kvrangeFree(KvVtab *p);
/* For the SQL functions: run `INSERT INTO "schema"."table"(kvstore_command,
** key, value) VALUES(zCmd, pKey, pValue)` on p through db, so that the
** command joins the caller's transaction (pValue 0: NULL). On failure
** db's SQLite code and *pzErr (sqlite3_malloc) with db's message. */
int kvrangeRunCommand(sqlite3 *db, KvVtab *p, const char *zCmd,
                      sqlite3_value *pKey, sqlite3_value *pValue,
                      char **pzErr);

/****************************************************************************
** kvingest.c: kvstore_ingest (doc/ingest.md).
*/

/* The 'ingest' command row: check the file, remember it. */
int kvingestCommand(KvVtab *p, int argc, sqlite3_value **argv);
/* xUpdate (argv as its): refuse a row written while an ingest is
** remembered (an 'ingest' command row passes). */
int kvingestBlockWrite(KvVtab *p, int argc, sqlite3_value **argv);
/* xSync: prepare the ingest and set the horizon to its sequence. */
int kvingestSync(KvVtab *p);
/* xCommit (bCommit 1) and xRollback (0). */
void kvingestEnd(KvVtab *p, int bCommit);
/* xRollbackTo: forget the files remembered since savepoint iSave. */
void kvingestRollbackTo(KvVtab *p, int iSave);
/* Table destructor. */
void kvingestFree(KvVtab *p);

/****************************************************************************
** kvbulk.c: sorted loads written straight to an SSTable (doc/ingest.md).
*/

/* xUpdate, before anything: a row that is not a plain INSERT ends the
** load (its rows go back to the batch). */
int kvbulkBeforeWrite(KvVtab *p, int argc, sqlite3_value **argv);
/* xUpdate of a plain INSERT of encoded key and value, before its conflict
** check: *pbDone 1 when the row went into the load (nothing else to do);
** else the usual path follows (the load may have ended: its rows are in
** the batch). */
int kvbulkInsert(KvVtab *p, const u8 *aKey, int nKey, const u8 *aVal,
                 size_t nVal, int *pbDone);
/* A load is under way (its rows are not in the batch). */
int kvbulkActive(KvVtab *p);
/* Rows in the load (savepoint marks count them after the batch's). */
sqlite3_uint64 kvbulkCount(KvVtab *p);
/* End the load, its rows back into the batch (reads of the table). */
int kvbulkStop(KvVtab *p);
/* ROLLBACK TO a mark of nMark rows. */
void kvbulkRollbackTo(KvVtab *p, sqlite3_uint64 nMark);
/* xSync: finish the load and prepare its install (*ppJob NULL: none). */
int kvbulkPrepare(KvVtab *p, kv_ingest_job **ppJob);
/* End of the transaction; table destructor. */
void kvbulkEnd(KvVtab *p);
void kvbulkFree(KvVtab *p);

/****************************************************************************
** kvcursor.c: query planning and cursors (the sqlite3_module slots).
*/
int kvvtabBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo);
int kvvtabOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur);
int kvvtabClose(sqlite3_vtab_cursor *pCursor);
/* Free a closed cursor's memory with the point-read buffer it kept (the
** table's spare cursor, when the table goes). */
void kvvtabCursorFree(KvCursor *pCur);
int kvvtabFilter(sqlite3_vtab_cursor *pCursor, int idxNum,
                 const char *idxStr, int argc, sqlite3_value **argv);
int kvvtabNext(sqlite3_vtab_cursor *pCursor);
int kvvtabEof(sqlite3_vtab_cursor *pCursor);
int kvvtabColumn(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx,
                 int iCol);
int kvvtabRowid(sqlite3_vtab_cursor *pCursor, sqlite_int64 *pRowid);

/****************************************************************************
** kvtxn.c: transactions and the commit horizon.
*/

/* Read the commit horizon for kv_open into p->pOpts (constructor). */
int kvtxnHorizonForOpen(KvVtab *p, char **pzErr);
/* Drop the cached horizon (it is read again at the next statement). */
void kvtxnHorizonForget(KvVtab *p);
/* Drop the cache and release the pinned snapshot. */
void kvtxnHorizonRelease(KvVtab *p);
/* The read point of the running statement (NULL: the latest). */
int kvtxnReadSnapshot(KvVtab *p, const kv_snapshot **ppSnap);
/* Set the table's horizon row through its connection (xSync). */
int kvtxnHorizonWrite(KvVtab *p, u64 iH);
/* Make sure a batch exists and this table holds the writer lock. */
int kvtxnWriteBegin(KvVtab *p);
/* End the transaction state (after commit or rollback). */
void kvtxnEnd(KvVtab *p);
/* Make the database's commits durable, when the store wants it, and tell
** the store (kv_durable): bUnflushed 0 after a flush only, 1 whenever a
** commit could still be revoked. */
void kvtxnDurable(KvVtab *p, int bUnflushed);

/* The sqlite3_module transaction slots. */
int kvvtabBegin(sqlite3_vtab *pVtab);
int kvvtabSync(sqlite3_vtab *pVtab);
int kvvtabCommit(sqlite3_vtab *pVtab);
int kvvtabRollback(sqlite3_vtab *pVtab);
int kvvtabSavepoint(sqlite3_vtab *pVtab, int iSave);
int kvvtabRelease(sqlite3_vtab *pVtab, int iSave);
int kvvtabRollbackTo(sqlite3_vtab *pVtab, int iSave);

/* The batch the connection's reads lay over the store, or NULL. */
static inline const kv_batch *kvtxnReadBatch(KvVtab *pTab){
  if( pTab->bInTrans && !pTab->bSynced && pTab->pBatch
   && kv_batch_count(pTab->pBatch)>0 ){
    return pTab->pBatch;
  }
  return 0;
}

#endif /* KVVTABINT_H */
