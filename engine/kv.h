/*
** kv.h - public API of the kvstore LSM engine.
**
** The engine is a standalone C11 library (engine/libkv.a); it knows nothing
** of SQLite. Conventions, in the manner of LevelDB's c.h and lmdb.h:
**
**   - Handles are opaque; every constructor has a destructor, and
**     destructors accept NULL.
**   - Keys and values are (pointer, length) pairs of bytes. Keys order by
**     memcmp, a shorter key first when one is a prefix of the other.
**   - Every fallible function returns an int result code: KV_OK (0) on
**     success, otherwise one of the KV_* codes below, numerically equal to
**     SQLite's code of the same meaning. The detailed message of the most
**     recent failure on the calling thread is returned by kv_errmsg();
**     engine messages start with "kvstore: " and name the file, option or
**     key involved.
**   - Memory the engine returns to the caller is freed with kv_free()
**     unless documented otherwise.
**   - A kv_db may be used from several threads at once. Batches, iterators
**     and snapshots belong to one thread at a time.
*/
#ifndef KV_H
#define KV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Result codes. Equal to SQLite's primary codes of the same meaning. */
#define KV_OK          0   /* success */
#define KV_ERROR       1   /* generic error (bad option, misuse of a name) */
#define KV_BUSY        5   /* store locked by another process; rate limit */
#define KV_NOMEM       7   /* allocation failed */
#define KV_READONLY    8   /* write on a kv_open_readonly handle, or after
                              ** a failed fsync */
#define KV_INTERRUPT   9   /* cancelled by the caller (kv_compact_progress) */
#define KV_IOERR      10   /* an I/O operation failed */
#define KV_CORRUPT    11   /* a checksum or format check failed */
#define KV_NOTFOUND   12   /* key not present (kv_get) */
#define KV_FULL       13   /* disk full (ENOSPC) */
#define KV_CANTOPEN   14   /* directory or file cannot be opened */
#define KV_TOOBIG     18   /* key or value larger than the configured max */
#define KV_CONSTRAINT 19   /* constraint violation (reserved for callers) */
#define KV_MISUSE     21   /* API used wrongly */

typedef struct kv_options kv_options;   /* engine parameters */
typedef struct kv_db kv_db;             /* an open store (shared instance) */
typedef struct kv_batch kv_batch;       /* an atomic group of writes */
typedef struct kv_snapshot kv_snapshot; /* a read point in time */
typedef struct kv_iter kv_iter;         /* an ordered cursor */

/* Free memory returned by the engine (messages, values, JSON). NULL ok. */
void kv_free(void *p);

/* Version string of the library, e.g. "0.1.0". Static storage. */
const char *kv_version(void);

/* Message of the most recent failing kv_* call on this thread. Never
** NULL; "" when there was none. Valid until the thread's next kv_* call.
** The db argument may be NULL (kv_open failures). */
const char *kv_errmsg(kv_db *db);

/*
** Options.
**
** kv_options_new() returns options holding every default (DESIGN.md §2).
** kv_options_set() sets one option by name from its text form, the way
** CREATE VIRTUAL TABLE arguments and the JSON config file give them:
**
**   rc = kv_options_set(opts, "memtable_size", "4MB", &zErr);
**
** Names: dir config key_type sync memtable_size wal_segment_size
** wal_segment_records block_size compression compression_level
** bloom_bits_per_key summary_interval cache_size compaction levels
** level0_trigger level_size_multiplier target_file_size background
** rate_limit rate_burst rate_wait_ms max_key_size max_value_size
** verify_checksums.
** Sizes accept a plain byte count or a suffix KB MB GB (powers of 1024, as
** KiB MiB GiB). On failure returns KV_ERROR and, when pzErr is not NULL,
** sets *pzErr to a message (free with kv_free) that names the option and
** the value and lists what is accepted. Setting an option twice keeps the
** last value: callers that must refuse duplicates check kv_options_is_set().
*/
kv_options *kv_options_new(void);                 /* NULL on OOM */
void kv_options_free(kv_options *opts);
kv_options *kv_options_copy(const kv_options *opts); /* NULL on OOM */
int kv_options_set(kv_options *opts, const char *zName, const char *zValue,
                   char **pzErr);
/* 1 if zName was given to kv_options_set(), 0 if it holds its default,
** -1 if zName is not an option name. */
int kv_options_is_set(const kv_options *opts, const char *zName);
/* Current value of option zName in text form (sizes as plain byte counts,
** "" for an unset dir or config). Returns a string owned by the caller
** (kv_free), or NULL for an unknown name or on OOM. */
char *kv_options_get(const kv_options *opts, const char *zName);
/* Comma-separated list of every option name. Static storage. */
const char *kv_options_names(void);

/* Whether kv_open may create a store where none exists yet (a missing or
** empty directory). On by default; a caller that only reconnects to a store
** made earlier (the SQL layer's xConnect) turns it off, so a store that has
** gone missing is reported instead of silently re-created empty. Not an
** option name: a CREATE argument cannot set it. */
void kv_options_set_create(kv_options *opts, int bCreate);

/* Values of the key_type option, also returned by kv_key_type(). */
#define KV_KEY_TEXT    0
#define KV_KEY_BLOB    1
#define KV_KEY_INTEGER 2

/*
** Open or create the store in directory zDir (created if missing, parent
** must exist). If this process already has the directory open (same device
** and inode), the shared instance is returned with its reference count
** raised, after checking that the options which shape files agree.
**
** Errors: KV_BUSY if another process holds the directory's lock;
** KV_ERROR if the directory holds something that is not a kvstore store,
** or an option that shapes the files (key_type, block_size, compression,
** format version) disagrees with the one saved in the store;
** KV_CANTOPEN, KV_IOERR, KV_CORRUPT, KV_NOMEM as the cause says.
** On failure *ppDb is NULL.
**
** A store is created only when kv_options_set_create() allows it and the
** directory holds no store yet. A store whose CURRENT file is gone while
** its tables or WAL segments remain is never re-created over them: the
** open fails with KV_CORRUPT naming what is missing, and kv_repair() is
** the explicit way back. Without the create flag, a missing directory or
** one without a store fails with KV_CANTOPEN and nothing is written.
*/
int kv_open(const char *zDir, const kv_options *opts, kv_db **ppDb);

/*
** Open the store in zDir read-only, to inspect it (kvtool) while another
** process may own and write it. Nothing on disk changes: no lock is taken
** (the owner keeps writing), the WAL is replayed into memory only, no file
** is created, renamed, deleted or written, and every SSTable of the version
** read is opened at once, so that a compaction of the owner deleting one
** afterwards does not take it away. The handle is private (never shared
** with a kv_open of the same directory) and sees the store as of the
** moment it was opened. When the owner changes the store while it is being
** opened (a manifest, table or WAL segment gone between reading and
** opening it), the open starts over from CURRENT, up to 5 attempts in all
** (about 15 ms of pauses between them).
**
** kv_write, kv_put, kv_delete, kv_flush and kv_compact fail with
** KV_READONLY. Options: only those that do not shape files matter
** (cache_size); the shaping ones are taken from the store (one given that
** disagrees is KV_ERROR, as for kv_open).
**
** Errors: KV_CANTOPEN if zDir is missing or holds no store (no identity
** file or no CURRENT); KV_CORRUPT, KV_IOERR, KV_NOMEM as the cause says;
** KV_BUSY if the store kept changing during every attempt.
*/
int kv_open_readonly(const char *zDir, const kv_options *opts, kv_db **ppDb);

/* Drop one reference; the last one flushes nothing (the WAL holds
** everything), stops background work, releases the lock and frees. Returns
** the first error seen while closing (a failed close() of a file).
**
** With background work on, the last close first lets a pending memtable
** flush finish and, while level 0 holds level0_trigger tables or more,
** the background compactions run (as SQLite checkpoints its WAL when the
** last connection closes): the next open then reads a compacted level 0
** instead of probing every table of a backlog. Other compactions that are
** running are abandoned and picked again after the next open. */
int kv_close(kv_db *db);
/* kv_close without waiting for level-0 compaction: for a store about to
** be destroyed (kv_destroy), whose backlog would be thrown away. */
int kv_close_nowait(kv_db *db);

/* Delete the store in zDir: only the files its manifest lists and the
** store's own fixed names (CURRENT, MANIFEST-*, wal-*.log, *.sst, LOCK,
** the identity file, temporaries), and then the directory if it is empty.
** Refuses (KV_ERROR) a directory without the store's identity file, and
** (KV_BUSY) one that is open in this or another process. A missing
** directory is KV_OK. The first step renames CURRENT to CURRENT.dropped
** and fsyncs the directory: after it, however the destroy ends (error,
** crash), kv_open refuses the store and the next kv_destroy finishes.
** The store is not opened, so a damaged one is destroyed too. */
int kv_destroy(const char *zDir);

/*
** Repair the store in zDir, on request only (opening never repairs). If
** the store opens there is nothing to do. If opening fails with
** KV_CORRUPT (CURRENT, the manifest or a listed table lost or damaged),
** a new manifest is built from the tables' own metadata (every "<n>.sst"
** that checks out; a damaged one is renamed "<n>.sst.damaged", never
** deleted), CURRENT is pointed at it, the WAL is replayed and the store
** is fully compacted. Other failures (locked, missing, being dropped, I/O)
** are returned as they are. opts may be NULL; the create flag is ignored.
** When pzReport is not NULL it receives (kv_free) a JSON summary:
**   {"repaired":false,"reason":"..."} or {"repaired":true,"reason":"<the
**   error that opening gave>","tables":N,"damaged_tables":N,
**   "wal_segments":N}
** A table that a compaction had replaced but not yet deleted comes back,
** so a key deleted by a tombstone that compaction dropped can reappear.
*/
int kv_repair(const char *zDir, const kv_options *opts, char **pzReport);

/* The options the store runs with (the first opener's, with the values
** saved in the store for the shaping ones). Owned by db. */
const kv_options *kv_db_options(kv_db *db);
/* KV_KEY_TEXT, KV_KEY_BLOB or KV_KEY_INTEGER as saved in the store. */
int kv_key_type(kv_db *db);
/* Number of connections sharing this instance (kv_open count). */
int kv_db_refcount(kv_db *db);

/*
** Writes. kv_put/kv_delete write one key as a batch of one. kv_write
** commits a batch atomically: on KV_OK every operation of the batch is in
** the WAL (fsynced first when sync=full; concurrent writers share one
** fsync) and visible to reads; on failure none is. Keys longer than
** max_key_size or values longer than max_value_size fail with KV_TOOBIG.
** After a failed WAL fsync every later write fails with KV_READONLY until
** the store is reopened.
*/
int kv_put(kv_db *db, const void *pKey, size_t nKey,
           const void *pVal, size_t nVal);
int kv_delete(kv_db *db, const void *pKey, size_t nKey);
int kv_write(kv_db *db, kv_batch *batch);

/*
** Batches. A batch records puts and deletes in order; a later write of a
** key overrides an earlier one. It can be read back (kv_batch_get and
** iterators created with it), and cut back to an earlier mark, which is
** how savepoints are built on it. kv_batch_new returns NULL on OOM.
*/
kv_batch *kv_batch_new(void);
void kv_batch_free(kv_batch *b);
int kv_batch_put(kv_batch *b, const void *pKey, size_t nKey,
                 const void *pVal, size_t nVal);
int kv_batch_delete(kv_batch *b, const void *pKey, size_t nKey);
/* Delete every key k with lo <= k < hi (bytewise order) as one range
** tombstone: constant work whatever the range holds. An empty range
** (lo >= hi) records nothing. Writes of the batch made after it are not
** deleted; earlier ones in the batch are. It counts as one operation
** (kv_batch_count, savepoint marks). */
int kv_batch_delete_range(kv_batch *b, const void *pLo, size_t nLo,
                          const void *pHi, size_t nHi);
void kv_batch_clear(kv_batch *b);
/* Bound the memory of batch b (a transaction's): once its in-memory
** operations pass db's txn_spill option, they move to temporary sorted
** runs in db's directory, read back by kv_batch_get, iterators and kv_get,
** and cut back by kv_batch_truncate like the rest. A spilled batch
** commits only through kv_prepare/kv_commit_prepared (or kv_write), with
** db, as one new table. No effect when txn_spill is 0 or db is open in
** several processes. KV_NOMEM on OOM. (doc/spill.md) */
int kv_batch_set_spill(kv_batch *b, kv_db *db);
/* Number of operations recorded so far; usable as a mark. */
size_t kv_batch_count(const kv_batch *b);
/* Drop every operation recorded after the first `mark` ones. */
void kv_batch_truncate(kv_batch *b, size_t mark);
/* Look key up in the batch alone: returns 1 and sets *ppVal and *pnVal (owned
** by the batch, valid until it next changes) for a put, returns 0 and sets
** *ppVal NULL for a delete, returns -1 if the batch does not hold the key,
** -2 if reading a spilled batch's runs failed (kv_errmsg(NULL) says why).
** ppVal and pnVal may be NULL. */
int kv_batch_get(const kv_batch *b, const void *pKey, size_t nKey,
                 const void **ppVal, size_t *pnVal);

/*
** Reads. A snapshot pins a sequence number: reads through it see exactly
** the writes committed before it was taken. NULL snapshot = latest.
**
** kv_get looks up a key as seen by snapshot snap (or latest) with the
** writes of batch b (may be NULL) laid over it. On KV_OK *ppVal is a copy
** (kv_free) and *pnVal its length; pass ppVal NULL to test existence only.
** Returns KV_NOTFOUND if the key is absent or deleted.
*/
kv_snapshot *kv_snapshot_new(kv_db *db);          /* NULL on OOM */
/* A snapshot at the last sequence that also keeps every later version
** from compaction until it is freed: a copy of the store made meanwhile
** can be taken back to any sequence from it on (kvstore_backup: the
** database copy's horizon lies somewhere after it). NULL on OOM. */
kv_snapshot *kv_snapshot_keep(kv_db *db);
void kv_snapshot_free(kv_db *db, kv_snapshot *snap);
int kv_get(kv_db *db, const kv_snapshot *snap, const kv_batch *b,
           const void *pKey, size_t nKey, void **ppVal, size_t *pnVal);
/* kv_get into a buffer the caller keeps from one call to the next, so
** that a run of lookups allocates only when a value outgrows it: *ppBuf
** (NULL at first, or what an earlier call left) holds *pnAlloc bytes and
** is grown as needed; on KV_OK its first *pnVal bytes are the value
** (*ppBuf may stay NULL for an empty one). The buffer is the caller's,
** whatever the result: kv_free it when done. */
int kv_get_into(kv_db *db, const kv_snapshot *snap, const kv_batch *b,
                const void *pKey, size_t nKey, void **ppBuf,
                size_t *pnAlloc, size_t *pnVal);

/*
** Iterators walk the live keys in key order, as seen by snapshot snap (or
** a snapshot taken now when NULL) with the batch b (or NULL) laid over it.
** The batch's contents are captured when the iterator is created: later
** changes to the batch are not seen. The iterator pins the files it reads:
** they outlive compactions until kv_iter_free.
**
** Positioning functions return KV_OK (check kv_iter_valid) or an error;
** an error leaves the iterator invalid. Key and value pointers are owned
** by the iterator and valid until it next moves.
*/
int kv_iter_new(kv_db *db, const kv_snapshot *snap, const kv_batch *b,
                kv_iter **ppIter);
void kv_iter_free(kv_iter *it);
/* kv_iter_free, except that the store may keep the iterator (one per
** store) for the next kv_iter_new without a batch that would read exactly
** what it read: the same memtables, tables and read point, so nothing was
** written, flushed or compacted since. Short scans of a store that is only
** read then skip building and tearing down the merged iterator. A kept
** iterator registers no read point, but pins its memtables and tables
** (as a live one does) until that next kv_iter_new, a flush or a
** compaction of this process, or the store's close. */
void kv_iter_recycle(kv_iter *it);
int kv_iter_first(kv_iter *it);
int kv_iter_last(kv_iter *it);
int kv_iter_seek(kv_iter *it, const void *pKey, size_t nKey);  /* >= key */
int kv_iter_seek_for_prev(kv_iter *it, const void *pKey, size_t nKey);
                                                               /* <= key */
int kv_iter_next(kv_iter *it);
int kv_iter_prev(kv_iter *it);
int kv_iter_valid(const kv_iter *it);
const void *kv_iter_key(const kv_iter *it, size_t *pnKey);
const void *kv_iter_value(const kv_iter *it, size_t *pnVal);
/* kv_iter_valid, kv_iter_key and kv_iter_value in one call: 1 and the
** current entry, or 0 (outputs untouched) when there is none. */
int kv_iter_entry(const kv_iter *it, const void **ppKey, size_t *pnKey,
                  const void **ppVal, size_t *pnVal);

/*
** Maintenance and introspection.
**
** kv_flush writes the memtable (and any immutable one) to level-0 SSTables
** and returns when they are in the manifest.
** kv_stats sets *pzJson to a JSON object (kv_free) describing the store.
** kv_verify reads every SSTable on disk (every block checksum, the filter
** and index checksums, the Merkle root recomputed from the data blocks) and
** the WAL; sets *pzReport (kv_free) to "ok" or to the first problem found,
** naming the file and the part. Returns KV_OK when the check ran (whatever
** it found), an error code when it could not run.
*/
int kv_flush(kv_db *db);
int kv_stats(kv_db *db, char **pzJson);

/*
** kv_compact runs compaction now, in the calling thread, after any
** compaction already running has finished.
**
**   bFull==0  runs every compaction that is due (level over its budget,
**             too many level-0 runs, a file full of garbage) until none
**             is; does nothing when none is.
**   bFull!=0  flushes the memtable, then merges every SSTable into one
**             sorted run at the last level, dropping every overwritten
**             version and every tombstone that no snapshot or iterator
**             can still see, and installs it. Input files are deleted as
**             soon as no iterator or snapshot read uses them (at once
**             when none is open).
**
** When pzJson is not NULL, *pzJson receives (kv_free) a summary of the
** work done by this call:
**   {"files_in":N,"files_out":N,"bytes_in":N,"bytes_out":N,
**    "tombstones_dropped":N,"entries_dropped":N,"ms":N}
** Errors: KV_IOERR, KV_FULL, KV_CORRUPT (a damaged input table), KV_NOMEM,
** or the store's sticky error. A failed compaction leaves every input in
** place and is sticky, like a failed flush: writes fail until reopen.
*/
int kv_compact(kv_db *db, int bFull, char **pzJson);

/*
** kv_compact with a progress callback, for callers that show progress or
** let a user cancel. xProgress (NULL: none) is called from the calling
** thread, without any engine lock held, every few hundred entries merged
** and once as each compaction starts, with the bytes done and the bytes
** planned of the compaction running (input bytes; done is estimated from
** the entries merged). kv_stats shows the same figures to other threads
** ("compaction":{"progress":{...}}). While the call waits for a
** compaction another thread runs, xProgress is called every 10 ms with 0
** of 0 bytes. A nonzero return cancels: the tables
** written so far are deleted, the inputs stay as they were, nothing is
** sticky, and the call returns KV_INTERRUPT ("kvstore: compaction of
** '<dir>' interrupted; the store is unchanged"). Compactions that
** finished earlier in the same call (bFull==0 runs several) stay done.
*/
typedef int (*kv_progress_fn)(void *pArg, uint64_t nDone, uint64_t nPlanned);
int kv_compact_progress(kv_db *db, int bFull, kv_progress_fn xProgress,
                        void *pArg, char **pzJson);
int kv_verify(kv_db *db, char **pzReport);
/*
** kv_verify with a progress callback (kv_progress_fn): called before the
** first table and after each table read, with the bytes of the tables
** checked and of all of them (the WAL, checked last, is not counted). A
** nonzero return stops the check: KV_INTERRUPT ("kvstore: verify of
** '<dir>' interrupted"), *pzReport NULL.
*/
int kv_verify_progress(kv_db *db, kv_progress_fn xProgress, void *pArg,
                       char **pzReport);

/*
** Rate limiter (options rate_limit, rate_burst, rate_wait_ms): one token
** bucket per store, shared by every kv_open of it and configured by the
** first opener's options. kv_rate_acquire takes nTokens tokens, waiting
** up to rate_wait_ms for them to accrue; returns KV_OK, or KV_BUSY with
** "kvstore: rate limit exceeded (...)" (nothing taken) when waiting that
** long would not be enough. Always KV_OK when rate_limit is 0. The engine
** never takes tokens itself: callers decide what an operation is (the SQL
** layer takes one per row read or written).
*/
int kv_rate_acquire(kv_db *db, uint64_t nTokens);

/*
** Introspection of the live SSTables.
**
** kv_sstables sets *paInfo to an array of *pnInfo entries, one per live
** SSTable: level 0 first (newest table first), then each deeper level in
** key order. The array and the keys it points to are one allocation: free
** with kv_free(*paInfo). Keys are user keys (the bytes given to kv_put).
**
** kv_merkle sets aRoot to the Merkle root (SHA-256; a parent is
** SHA-256(0x01 || left || right), an odd node is promoted, one leaf is
** its own root) over the Merkle roots of the live SSTables ordered by key range
** (smallest internal key, then largest, then the root itself), so it does
** not depend on file numbers or levels. Each table's root covers the stored
** bytes of its data blocks, so the root identifies the SSTable contents:
** a copy of the store's directory has the same root; any change to the
** data (once flushed) or a compaction that rewrites files changes it. The
** memtable is not covered: call kv_flush first. No table: SHA-256("").
*/
typedef struct kv_sstable_info kv_sstable_info;
struct kv_sstable_info {
  int iLevel;                     /* level, 0 = newest */
  char zFile[32];                 /* file name in the directory, "<n>.sst" */
  uint64_t iFile;                 /* file number */
  uint64_t nByte;                 /* file size */
  uint64_t nEntry;                /* entries (puts and tombstones) */
  uint64_t nTombstone;            /* tombstones among them */
  uint64_t minSeq, maxSeq;        /* sequence range */
  const unsigned char *pSmallest; /* smallest user key */
  size_t nSmallest;
  const unsigned char *pLargest;  /* largest user key */
  size_t nLargest;
  unsigned char aMerkle[32];      /* Merkle root of its data blocks (and
                                  ** of its range deletions, if any) */
  uint64_t nRangeDel;             /* range tombstones; the key range above
                                  ** includes [lo, hi] of each */
};
int kv_sstables(kv_db *db, kv_sstable_info **paInfo, int *pnInfo);
int kv_merkle(kv_db *db, unsigned char aRoot[32]);

/*
** kv_checkpoint writes an online, consistent copy of the open store into
** directory zDest, which must not exist or be empty (KV_ERROR otherwise);
** its parent must exist. The store stays open and writable meanwhile. The
** copy holds every write committed before the call (the memtable is
** flushed first, so the copy needs no WAL) and possibly some committed
** during it, always a prefix of the store's history. SSTables are hard
** links when zDest is on the same file system (they are immutable),
** copies otherwise; the identity file, a fresh manifest naming exactly
** the copied version, and CURRENT are written and fsynced. The copy is
** built in "<zDest>.ckpt-tmp" and renamed to zDest at the end: on failure
** nothing is left, also when the fsync of zDest's parent after the rename
** fails (the rename is taken back). KV_ERROR if that temporary directory
** exists already (an interrupted checkpoint: remove it).
** Before the rename every copied table is read whole and its Merkle root
** compared with the source's. It opens with kv_open(zDest). When pzJson
** is not NULL it receives (kv_free)
**   {"files":N,"bytes":N,"ms":N,"linked":N,"sequence":N}
** (files and bytes written or linked, of which `linked` hard links, and
** the newest sequence in the copy's tables: every write up to it is in).
**
** xExtra, when not NULL, is called with pCtx and the temporary directory
** once the store's files are written, before the check and the rename: a
** caller adds its own files there (the SQL layer's OWNER), so they appear
** with the copy or not at all. It returns KV_OK or a KV_* code, which
** kv_checkpoint returns (its message is the caller's business).
*/
int kv_checkpoint(kv_db *db, const char *zDest,
                  int (*xExtra)(void *pCtx, const char *zTmpDir), void *pCtx,
                  char **pzJson);
/*
** kv_checkpoint with a progress callback (kv_progress_fn, as for
** kv_compact_progress): xProgress (NULL: none) is called from the calling
** thread, with no engine lock held, once before the flush and then after
** each table linked, each 64 KiB copied and each table read back, with the
** bytes done and planned (the tables' bytes counted twice: written, then
** checked). A nonzero return stops the copy: the temporary directory is
** removed, zDest is not made (an empty zDest given by the caller stays),
** and the call returns KV_INTERRUPT ("kvstore: checkpoint of '<dir>' into
** '<dest>' interrupted; nothing was written"). Nothing is sticky.
*/
int kv_checkpoint_progress(kv_db *db, const char *zDest,
                           int (*xExtra)(void *pCtx, const char *zTmpDir),
                           void *pCtx, kv_progress_fn xProgress,
                           void *pProgArg, char **pzJson);

/*
** Writer lock for callers that buffer a transaction and must not lose
** updates to another connection writing the same store: held from the
** first write of a transaction to its commit or rollback. Waits up to
** timeout_ms milliseconds (0 = try once), then returns KV_BUSY. Owner is
** an opaque token (the caller's connection); acquiring again with the same
** owner succeeds at once. kv_writer_release with a non-owner is a no-op.
*/
int kv_writer_acquire(kv_db *db, const void *owner, int timeout_ms);
void kv_writer_release(kv_db *db, const void *owner);

/*
** Two-phase commit, for a caller whose transactions commit through
** another log (the SQL layer commits through its SQLite database, which
** keeps the "horizon" H: the last sequence of the newest batch it
** committed, read back from the database before the store is opened; any
** value from that batch's first sequence to its last works for recovery,
** the last one also as a read point).
**
**   kv_prepare        appends the batch to the WAL as a PREPARED record
**                     (fsynced under sync=full) without making it visible.
**                     *piSeq is 0 for a new transaction and receives the
**                     batch's first sequence; passing that sequence again
**                     writes the transaction's record anew (a commit
**                     retried with more writes): the later record replaces
**                     the earlier one. While a prepared batch waits, every
**                     other write and kv_flush fails with KV_BUSY.
**   kv_commit_prepared applies the batch (the same one, unchanged since
**                     its last kv_prepare) to the memtable and publishes
**                     it. It needs no room and no I/O; it fails only on a
**                     misuse or when memory runs out, and then the store
**                     turns read-only until reopened (the WAL and the
**                     horizon still hold the batch).
**   kv_abort_prepared forgets the prepared batch; the next commit reuses
**                     its sequence numbers. No I/O.
**
** Recovery: kv_options_set_horizon(opts, H) before kv_open makes the
** opening replay count a PREPARED record as committed only when its first
** sequence is <= H and no later record has the same first sequence; and
** every entry above H that an SSTable holds (the database lost commits
** the store had flushed) is revoked: the tables are rewritten without it
** before the store accepts writes, so the numbers above H are reused.
** Without a horizon every PREPARED record that was not replaced counts
** (a tool that opens a store without its database). The horizon only
** matters to the kv_open that opens the store for the process (later
** ones share that instance).
**
** kv_last_seq is the last published sequence; kv_snapshot_at takes a
** snapshot at sequence iSeq (or the last one, if that is older) and fails
** with KV_BUSY when a compaction may already have dropped versions that
** a read at iSeq needs (the caller retries its transaction; on a
** kv_open_readonly handle, which publishes no read point, any compaction
** of a writing process counts, seen through LOCK mapped read-only);
** kv_snapshot_seq is the sequence a snapshot reads at.
*/
int kv_prepare(kv_db *db, kv_batch *b, uint64_t *piSeq);
/* kv_prepare_sync is kv_prepare with the fsync of this one record chosen
** by the caller (bSync 1: fsynced before it returns, 0: not) whatever the
** store's sync option, which still governs WAL rotation, flush and close:
** the SQL layer makes each commit as durable as its database makes its
** own (doc/transactions.md). */
int kv_prepare_sync(kv_db *db, kv_batch *b, uint64_t *piSeq, int bSync);
int kv_commit_prepared(kv_db *db, kv_batch *b, uint64_t iSeq);
void kv_abort_prepared(kv_db *db, uint64_t iSeq);
void kv_options_set_horizon(kv_options *opts, uint64_t iHorizon);
uint64_t kv_last_seq(kv_db *db);
/* What the open of this store (the process's first kv_open of it, which
** recovered it) revoked above its horizon: *pnBatches PREPARED WAL records
** (batches the database never committed, or lost) and *pnEntries entries
** of SSTables (commits the database lost). Returns 1 for the first caller
** to ask once either count is nonzero, 0 otherwise (and for a store opened
** without a horizon): one report per store, however many tables open it. */
int kv_revoked(kv_db *db, uint64_t *piHorizon, uint64_t *pnBatches,
               uint64_t *pnEntries);
/* Several processes may have one store open (doc/multiprocess.md). A
** caller that commits through a database reads its horizon H there and,
** before reading at H or writing (under the database's write lock),
** calls kv_catch_up(db, H): the records other processes committed up to
** H are applied here. Costs nothing when nothing changed. */
int kv_catch_up(kv_db *db, uint64_t iHorizon);
/*
** Durable commits. The database may come back from a power cut without
** its last commits (WAL mode with synchronous=NORMAL) even though the store
** holds them; recovery then revokes them, which brings back exactly the
** older versions only if compaction kept every version they overwrote.
** It does so for every sequence above the durable point, which a store
** opened with a horizon starts at 0: kv_durable(db, S) tells it that the
** database's commits up to S can no longer be lost (the caller made them
** durable), shared with every process of the store. kv_durable_wanted: 1
** if the store's tables (bUnflushed 0), or its tables and memtable (1),
** hold sequences above that point, so that raising it would let
** compaction drop more. Neither does I/O.
*/
void kv_durable(kv_db *db, uint64_t iSeq);
int kv_durable_wanted(kv_db *db, int bUnflushed);
/* *pbInUse 1 if a process has the store in zDir open (for tools that must
** not change a store in use). */
int kv_store_in_use(const char *zDir, int *pbInUse);
/*
** A DROP TABLE that commits with its database (db.c): kv_drop_prepare
** makes the store in zDir unopenable ("being dropped") in one durable
** step and deletes nothing; then kv_destroy deletes it, or kv_drop_undo
** makes it openable again. kv_drop_pending: 1 if the store is in that
** state. kv_store_hold keeps a store "in use" for kv_store_in_use (and
** kv_destroy and kv_drop_prepare of other processes refuse it) without
** opening it, until kv_store_release.
*/
typedef struct kv_hold kv_hold;
int kv_drop_prepare(const char *zDir);
int kv_drop_undo(const char *zDir);
int kv_drop_pending(const char *zDir);
/* kv_drop_pending, or a destroy that did not finish (CURRENT.dropped). */
int kv_drop_marked(const char *zDir);
int kv_store_hold(const char *zDir, kv_hold **ppHold);
void kv_store_release(kv_hold *pHold);
/* 1 if another process (another instance) has db's store open too. */
int kv_open_elsewhere(kv_db *db);
/* KV_OK, or KV_MISUSE (with its message) when db was opened before a
** fork() and this is the child: the child must open the store itself.
** Writes, snapshots and maintenance on such a handle fail the same way;
** kv_close of it does nothing (the parent's locks stay). No system call. */
int kv_check_process(kv_db *db);
int kv_snapshot_at(kv_db *db, uint64_t iSeq, kv_snapshot **ppSnap);
uint64_t kv_snapshot_seq(const kv_snapshot *snap);

/*
** Ingest: add SSTables written elsewhere (another store's tables, copied
** or shipped) to the store (engine/ingest.c, doc/ingest.md). Each file is
** checked first: every checksum, and its Merkle root recomputed from the
** data blocks (and compared with the 32 bytes at apRoot[i] when apRoot
** and apRoot[i] are not NULL); a file
** that fails is refused with KV_CORRUPT (KV_CANTOPEN if missing) and a
** message naming it, and nothing changes. Files holding range tombstones,
** and files whose key ranges overlap each other, are refused (KV_ERROR).
** The memtable is flushed, then every entry of the files is copied into
** new tables of the store at one new sequence S (the newest version of
** each key only), so the ingested rows replace what the store held for
** their keys; each table goes to the deepest level where nothing above or
** at it overlaps its key range.
**
**   kv_ingest          does it all and publishes S; *pzJson (kv_free; may
**                      be NULL) gets {"files","entries","bytes","seq"}.
**   kv_ingest_prepare  does it up to the manifest edit that installs the
**                      tables, without publishing S (reads do not see
**                      them), and holds the store's maintenance turn and
**                      the next sequence as a kv_prepare does: other writes
**                      fail with KV_BUSY until kv_ingest_commit (publish)
**                      or kv_ingest_abort (another edit removes the
**                      tables; on failure the store turns read-only until
**                      reopened). Both free *ppIng and must be called on
**                      the thread that prepared. A caller committing
**                      through a database sets its horizon to
**                      kv_ingest_seq() in the same transaction: recovery
**                      with a lower horizon revokes the ingested tables.
**   kv_ingest_check    the checks of one file alone (changes nothing):
**                      *pnEntry and *pnByte (either may be NULL) get its
**                      entries and size.
*/
typedef struct kv_ingest_job kv_ingest_job;
int kv_ingest(kv_db *db, const char *const *azPath, int nPath,
              char **pzJson);
int kv_ingest_prepare(kv_db *db, const char *const *azPath, int nPath,
                      const unsigned char *const *apRoot,
                      kv_ingest_job **ppIng);
uint64_t kv_ingest_seq(const kv_ingest_job *p);
uint64_t kv_ingest_entries(const kv_ingest_job *p);
int kv_ingest_commit(kv_db *db, kv_ingest_job *p);
int kv_ingest_abort(kv_db *db, kv_ingest_job *p);
int kv_ingest_check(kv_db *db, const char *zPath, const unsigned char *aRoot,
                    uint64_t *pnEntry, uint64_t *pnByte);

/*
** Bulk loads (engine/bulk.c, doc/ingest.md): rows in strictly increasing
** key order, none of them in the store, written straight into an SSTable
** of the store at the next sequence S (no WAL, no memtable), installed by
** kv_bulk_prepare as an ingest is (then kv_ingest_commit / abort).
** REQUIRES: the caller is the store's only writer from kv_bulk_begin to
** the commit (the SQL layer holds the writer lock and the database's).
**
**   kv_bulk_begin    start; S = kv_last_seq() + 1.
**   kv_bulk_add      one row (KV_MISUSE if not above the last one). A
**                    failure is sticky: the load is lost.
**   kv_bulk_take     move batch b's puts (in key order, above every row
**                    added so far) into the load, then clear b.
**   kv_bulk_last     the last row's key (valid until the next add), or
**                    NULL with *pnKey 0 when no row was added.
**   kv_bulk_unload   the first nKeep rows back into batch b as puts; frees
**                    the load (its table is removed).
**   kv_bulk_prepare  finish the table and kv_ingest_prepare it; frees the
**                    load (also on failure).
**   kv_bulk_free     give up: the table is removed.
*/
typedef struct kv_bulk kv_bulk;
int kv_bulk_begin(kv_db *db, kv_bulk **ppBulk);
int kv_bulk_add(kv_bulk *p, const void *pKey, size_t nKey, const void *pVal,
                size_t nVal);
int kv_bulk_take(kv_bulk *p, kv_batch *b);
uint64_t kv_bulk_count(const kv_bulk *p);
uint64_t kv_bulk_seq(const kv_bulk *p);
const void *kv_bulk_last(const kv_bulk *p, size_t *pnKey);
int kv_bulk_unload(kv_bulk *p, uint64_t nKeep, kv_batch *b);
int kv_bulk_prepare(kv_db *db, kv_bulk *p, kv_ingest_job **ppIng);
void kv_bulk_free(kv_bulk *p);

#ifdef __cplusplus
}
#endif
#endif /* KV_H */
