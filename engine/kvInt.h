/*
** kvInt.h - internal interfaces of the kvstore engine, grouped by file.
**
** Nothing here is part of the public API (kv.h). Conventions:
**   - Functions that can fail return an int KV_* code; KV_OK is 0. On
**     failure they record a message with kvErr() (thread-local, returned by
**     kv_errmsg()) that starts "kvstore: " and names the file, part, option
**     or key. A caller that adds context calls kvErr() again.
**   - All engine memory comes from kvMalloc()/kvRealloc()/kvFree(), so
**     tests can make allocations fail (kvSetAllocHooks()).
**   - All file I/O goes through a KvEnv (env_posix.c, env_test.c).
**   - Internal keys are a user key followed by an 8-byte little-endian
**     trailer (seq << 8 | type). They order by user key ascending (memcmp,
**     shorter first on a tie), then by trailer descending, so the newest
**     version of a key comes first.
*/
#ifndef KVINT_H
#define KVINT_H

#include "kv.h"
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <assert.h>
#include <pthread.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t i64;

#define KV_VERSION_STRING_DEFAULT "0.2.0"
#define KV_FORMAT_VERSION 1        /* SSTable/WAL/manifest format version */
/* SSTables holding range tombstones are format version 2 (sst_build.c); the
** others are still written as version 1, and both open. */
#define KV_SST_FORMAT_RANGEDEL 2
#define KV_MAX_LEVELS 16           /* hard upper bound of the levels option */

/* Entry types, stored in the low byte of an internal key's trailer. */
#define KV_TYPE_DEL 0
#define KV_TYPE_PUT 1
#define KV_TYPE_RANGEDEL 2     /* batch/WAL only: key lo, value hi (rangedel.c) */
#define KV_MAX_SEQ  ((((u64)1) << 56) - 1)
/* Sequence used for a transaction batch laid over a snapshot in an
** iterator: above every committed sequence. */
#define KV_BATCH_SEQ KV_MAX_SEQ

/****************************** alloc.c ***********************************/
/* Allocation, error messages and growable buffers. */

void *kvMalloc(size_t n);                 /* NULL on failure (or n==0) */
void *kvMallocZero(size_t n);
void *kvRealloc(void *p, size_t n);
void kvFree(void *p);
/* Room for nNeed elements of szEach bytes in *pa (*pnAlloc allocated,
** doubled from 8): KV_OK, or KV_NOMEM with *pa as it was. */
int kvGrowArray(void **pa, int *pnAlloc, int nNeed, size_t szEach);
char *kvStrdup(const char *z);            /* NULL in, NULL out */
char *kvMprintf(const char *zFmt, ...);   /* NULL on OOM */
char *kvVmprintf(const char *zFmt, va_list ap);

typedef struct KvAllocHooks KvAllocHooks;
struct KvAllocHooks {
  void *(*xMalloc)(size_t);
  void *(*xRealloc)(void*, size_t);
  void (*xFree)(void*);
};
/* Replace the allocator (tests). NULL restores malloc/realloc/free.
** REQUIRES: no engine object allocated under one set of hooks is freed
** under another that is incompatible. */
void kvSetAllocHooks(const KvAllocHooks *pHooks);

/* Record a message (printf-style) for this thread and return rc. The
** message is truncated to KV_ERRMSG_MAX-1 bytes; it never allocates. */
int kvErr(int rc, const char *zFmt, ...);
/* kvErr(KV_NOMEM, "kvstore: out of memory"): for allocations with no
** more useful context to name. */
int kvErrNoMem(void);
const char *kvErrMsg(void);
void kvErrClear(void);
/* Cleanup after a failure (closing, unlinking) may record messages of its
** own: save this thread's message first and put it back afterwards.
** kvErrRestore returns rc. */
#define KV_ERRMSG_MAX 1024
typedef struct KvErrSave KvErrSave;
struct KvErrSave {
  char z[KV_ERRMSG_MAX];        /* the saved message */
};
void kvErrSave(KvErrSave *p);
int kvErrRestore(const KvErrSave *p, int rc);
/* Map errno e of operation zOp ("write", "fsync", ...) on file zPath to a
** KV_* code (ENOSPC/EDQUOT->KV_FULL, ENOMEM->KV_NOMEM, ENOENT->KV_CANTOPEN
** for opens, everything else KV_IOERR) and record "kvstore: <zOp> failed
** on '<zPath>': <strerror>". */
int kvErrno(int e, const char *zOp, const char *zPath);

/* Growable byte buffer. Zero-initialise; kvBufFree releases. */
typedef struct KvBuf KvBuf;
struct KvBuf {
  u8 *a;          /* bytes (may be NULL when n==0) */
  size_t n;       /* bytes used */
  size_t nAlloc;  /* bytes allocated */
};
int kvBufReserve(KvBuf *p, size_t nExtra);        /* room for nExtra more */
int kvBufAppend(KvBuf *p, const void *a, size_t n);
int kvBufAppendVarint(KvBuf *p, u64 v);
int kvBufAppend32(KvBuf *p, u32 v);               /* little-endian */
int kvBufAppend64(KvBuf *p, u64 v);
int kvBufSet(KvBuf *p, const void *a, size_t n);  /* replace contents */
void kvBufFree(KvBuf *p);

/* Raise *p to v unless it is already at least v (a monotonic maximum
** several threads or processes raise). */
static inline void kvAtomicRaise(_Atomic u64 *p, u64 v){
  u64 cur = atomic_load(p);
  while( cur<v && !atomic_compare_exchange_weak(p, &cur, v) ){}
}

/****************************** coding ************************************/
/* Portable integer encodings (little-endian fixed, LEB128 varints). */

static inline void kvPut32(u8 *p, u32 v){
  p[0] = (u8)v; p[1] = (u8)(v>>8); p[2] = (u8)(v>>16); p[3] = (u8)(v>>24);
}
static inline u32 kvGet32(const u8 *p){
  return (u32)p[0] | ((u32)p[1]<<8) | ((u32)p[2]<<16) | ((u32)p[3]<<24);
}
static inline void kvPut64(u8 *p, u64 v){
  kvPut32(p, (u32)v); kvPut32(p+4, (u32)(v>>32));
}
static inline u64 kvGet64(const u8 *p){
  return (u64)kvGet32(p) | ((u64)kvGet32(p+4)<<32);
}
#define KV_MAX_VARINT 10
/* Write v at p; returns the number of bytes written (1..10). */
static inline int kvPutVarint(u8 *p, u64 v){
  int i = 0;
  while( v>=0x80 ){ p[i++] = (u8)(v | 0x80); v >>= 7; }
  p[i++] = (u8)v;
  return i;
}
/* Read a varint from [p, pEnd). Returns bytes consumed, or 0 if the
** varint is truncated or longer than 10 bytes. */
static inline int kvGetVarint(const u8 *p, const u8 *pEnd, u64 *pv){
  u64 v = 0;
  int i;
  for(i=0; i<KV_MAX_VARINT && p+i<pEnd; i++){
    v |= (u64)(p[i] & 0x7f) << (7*i);
    if( (p[i] & 0x80)==0 ){ *pv = v; return i+1; }
  }
  return 0;
}
static inline int kvVarintLen(u64 v){
  int n = 1;
  while( v>=0x80 ){ v >>= 7; n++; }
  return n;
}
/* CRC32: zlib's crc32() values (crc32.c). */
u32 kvCrc32(const void *p, size_t n);
u32 kvCrc32Extend(u32 crc, const void *p, size_t n);
/* crc32.c: the fastest way of computing the CRC up to eMax that the
** processor has, for long inputs: carry-less multiplication on 512-bit
** registers (VPCLMULQDQ), on 128-bit ones (PCLMULQDQ), or zlib alone.
** Returns the one chosen. The default (chosen at first use) is
** kvCrc32SetAccel(KV_CRC_CLMUL512). For tests: the values are zlib's
** whichever is used. */
#define KV_CRC_ZLIB     0
#define KV_CRC_CLMUL128 1
#define KV_CRC_CLMUL512 2
int kvCrc32SetAccel(int eMax);

/****************************** ikey (iter.c) ******************************/
/* Internal keys and the internal iterator interface. */

#define KV_TRAILER 8
static inline u64 kvPackTrailer(u64 seq, int eType){
  return (seq<<8) | (u64)(eType & 0xff);
}
/* Append user key + trailer to p. */
int kvIKeyAppend(KvBuf *p, const u8 *pKey, size_t nKey, u64 seq, int eType);
/* Compare internal keys (see the top of this file). */
int kvIKeyCmp(const u8 *a, size_t na, const u8 *b, size_t nb);
/* Compare user keys: memcmp order, shorter first on a tie (the out-of-line
** form of kvUKeyCmpShort below). */
int kvUKeyCmp(const u8 *a, size_t na, const u8 *b, size_t nb);
/* Bytes a[0..8) as a big-endian number: comparing two of those is
** comparing the bytes with memcmp. */
static inline u64 kvLoadBE64(const u8 *a){
  return ((u64)a[0]<<56) | ((u64)a[1]<<48) | ((u64)a[2]<<40)
       | ((u64)a[3]<<32) | ((u64)a[4]<<24) | ((u64)a[5]<<16)
       | ((u64)a[6]<<8) | (u64)a[7];
}
/* Bytes [iFrom, iFrom+8) of key a[0..n), big-endian, zero-padded: for
** keys sharing their first iFrom bytes, a number in the keys' memcmp
** order where two differ (a key that ends early pads with zeros, as it
** sorts before any longer key it is a prefix of); equal numbers say
** nothing. The memtable's node prefixes and the index chunks' search aid. */
static inline u64 kvKeyPrefix8(const u8 *a, size_t n, size_t iFrom){
  u8 b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  if( n>=iFrom+8 ) return kvLoadBE64(a + iFrom);
  if( n>iFrom ) memcpy(b, a + iFrom, n - iFrom);
  return kvLoadBE64(b);
}
/* kvUKeyCmp's order, inline and eight bytes at a time, for the
** iterators' per-entry comparisons: keys are short, so a call to memcmp
** costs more than the comparison. */
static inline int kvUKeyCmpShort(const u8 *a, size_t na, const u8 *b,
                                 size_t nb){
  size_t n = na<nb ? na : nb;
  size_t i = 0;
  for(; i+8<=n; i+=8){
    u64 wa = kvLoadBE64(a + i);
    u64 wb = kvLoadBE64(b + i);
    if( wa!=wb ) return wa<wb ? -1 : 1;
  }
  for(; i<n; i++){
    if( a[i]!=b[i] ) return a[i]<b[i] ? -1 : 1;
  }
  return na<nb ? -1 : (na>nb ? 1 : 0);
}
/* kvIKeyCmp inline (REQUIRES na, nb >= 8), for the merging iterator's
** heap and the block cursors' seeks, which spend their time comparing. */
static inline __attribute__((always_inline))
int kvIKeyCmpInline(const u8 *a, size_t na, const u8 *b, size_t nb){
  size_t nua = na - KV_TRAILER;
  size_t nub = nb - KV_TRAILER;
  int c = kvUKeyCmpShort(a, nua, b, nub);
  if( c==0 ){
    u64 ta = kvGet64(a + nua);
    u64 tb = kvGet64(b + nub);
    /* Larger trailer (newer) sorts first. */
    c = ta>tb ? -1 : (ta<tb ? 1 : 0);
  }
  return c;
}
/* Split an internal key (REQUIRES n >= 8). */
static inline u64 kvIKeySeq(const u8 *p, size_t n){ return kvGet64(p+n-8)>>8; }
static inline int kvIKeyType(const u8 *p, size_t n){ return (int)(p[n-8]); }

/*
** Internal iterator: walks internal keys in order. Every engine source
** (memtable, batch, SSTable, level, merge) implements it. Movement returns
** KV_OK or an error code (with kvErr message); after an error the iterator
** is invalid.
**
** Every movement also publishes the entry it lands on in the base struct
** (bValid, key, value), so that readers, the merging iterator above all,
** get at it with a load instead of a call through each layer. The key and
** value pointers stay valid until the next movement or close.
*/
typedef struct KvIter KvIter;
typedef struct KvIterMethods KvIterMethods;
struct KvIterMethods {
  int (*xFirst)(KvIter*);
  int (*xLast)(KvIter*);
  int (*xSeek)(KvIter*, const u8 *pIKey, size_t nIKey);  /* first >= key */
  int (*xNext)(KvIter*);                                 /* REQUIRES valid */
  int (*xPrev)(KvIter*);                                 /* REQUIRES valid */
  void (*xClose)(KvIter*);
};
struct KvIter {
  const KvIterMethods *pMethods;
  int bValid;                   /* on an entry */
  const u8 *pKey;               /* its internal key, if bValid */
  size_t nKey;
  const u8 *pVal;               /* its value, if bValid */
  size_t nVal;
};
static inline int kvIterValid(const KvIter *p){ return p->bValid; }
static inline void kvIterKey(const KvIter *p, const u8 **pp, size_t *pn){
  assert( p->bValid );
  *pp = p->pKey;
  *pn = p->nKey;
}
static inline void kvIterValue(const KvIter *p, const u8 **pp, size_t *pn){
  assert( p->bValid );
  *pp = p->pVal;
  *pn = p->nVal;
}
/* Publish entry (k, v) as the current one, or no entry. */
static inline void kvIterSet(KvIter *p, const u8 *pKey, size_t nKey,
                             const u8 *pVal, size_t nVal){
  p->bValid = 1;
  p->pKey = pKey;
  p->nKey = nKey;
  p->pVal = pVal;
  p->nVal = nVal;
}
static inline void kvIterSetInvalid(KvIter *p){ p->bValid = 0; }
/* Publish what iterator pFrom is on (a wrapper over one child). */
static inline void kvIterCopy(KvIter *p, const KvIter *pFrom){
  p->bValid = pFrom->bValid;
  p->pKey = pFrom->pKey;
  p->nKey = pFrom->nKey;
  p->pVal = pFrom->pVal;
  p->nVal = pFrom->nVal;
}
/* Merge nChild iterators into one ordered by internal key. Takes ownership
** of the children (closed by the merge, also on failure). */
int kvMergeIterNew(KvIter **apChild, int nChild, KvIter **ppOut);

/****************************** env_posix.c / env_test.c ******************/
#include "env.h"

/****************************** db.c: background errors ******************/

/* A background flush or compaction failed with rc. The first failure is
** sticky: it goes to rcBg with its message (this thread's kvErrMsg(), or
** "kvstore: <zWhat> failed in '<dir>': <kvErrMsg()>" when zWhat is not
** NULL), and later writes see it (kvDbStickyError). A cause that can go
** away (disk full, I/O error, no memory) is retried after a pause; see
** kvDbBgRetryDue. REQUIRES: mutex held. */
void kvDbBgError(kv_db *db, int rc, const char *zWhat);
/* KV_OK, or the sticky WAL or background error (message recorded), after
** clearing a background error whose retry is due. REQUIRES: mutex held. */
int kvDbStickyError(kv_db *db);
/* If rcBg may be retried now, clear it and wake the background thread.
** REQUIRES: mutex held. */
void kvDbBgRetryDue(kv_db *db);
/* Work may be due: wake the background thread, starting it again if it
** left when idle (a thread that cannot be started leaves the store doing
** its work inline, as background=off). REQUIRES: mutex held. */
void kvDbBgKick(kv_db *db);
/* How long the background thread waits with nothing due before it
** leaves (10 s; tests lower it). */
extern u64 kvBgIdleMicros;
/* *pTs = now + nMicros on CLOCK_REALTIME (pthread_cond_timedwait's). */
void kvDbDeadline(struct timespec *pTs, u64 nMicros);

/* kv_destroy through pEnv (db.c). */
int kvDestroyEnv(KvEnv *pEnv, const char *zDir);

/****************************** options.c **********************************/

#define KV_SYNC_OFF     0
#define KV_SYNC_NORMAL  1
#define KV_SYNC_FULL    2
#define KV_COMPRESS_NONE 0
#define KV_COMPRESS_ZLIB 1
#define KV_COMPACT_LEVELED 0
#define KV_COMPACT_TIERED  1

struct kv_options {
  char *zDir;                   /* dir= as given (resolved by the caller) */
  char *zConfig;                /* config= as given */
  int eKeyType;                 /* KV_KEY_* */
  int eSync;                    /* KV_SYNC_* */
  u64 nMemtable;                /* memtable_size */
  u64 nWalSegment;              /* wal_segment_size */
  u64 nWalRecords;              /* wal_segment_records (0 = no limit) */
  u32 nBlock;                   /* block_size */
  int eCompression;             /* KV_COMPRESS_* */
  int iCompressionLevel;        /* compression_level 0..9 */
  int nBloomBits;               /* bloom_bits_per_key (0 = no filter) */
  int nSummaryInterval;         /* summary_interval */
  u64 nCache;                   /* cache_size */
  int eCompaction;              /* KV_COMPACT_* */
  int nLevel;                   /* levels */
  int nL0Trigger;               /* level0_trigger */
  int nLevelMultiplier;         /* level_size_multiplier */
  u64 nTargetFile;              /* target_file_size */
  int bBackground;              /* background */
  double rRateLimit;            /* rate_limit ops/s (0 = off) */
  double rRateBurst;            /* rate_burst (0 = same as rate_limit) */
  u64 nRateWaitMs;              /* rate_wait_ms */
  u64 nMaxKey;                  /* max_key_size */
  u64 nMaxValue;                /* max_value_size */
  int bVerifyChecksums;         /* verify_checksums: CRC on every read */
  u64 nTxnSpill;                /* txn_spill: batch bytes kept in memory
                                ** before spilling (0 = never; spill.c) */
  u32 mSet;                     /* bit i set: option i given explicitly */
  int bCreate;                  /* kv_open may create a new store */
  KvEnv *pEnv;                  /* file system; NULL = kvEnvPosix() */
  int bHorizon;                 /* kv_options_set_horizon was called */
  u64 iHorizon;                 /* its value: recovery's commit horizon */
  int bRevokeAny;               /* revoke above the horizon even below the
                                ** drop floor (kv_repair; recover.c) */
};
/* Use env pEnv (tests). */
void kvOptionsSetEnv(kv_options *opts, KvEnv *pEnv);
/* The bit of kv_options.mSet that stands for option zName (0 if none). */
u32 kvOptionBit(const char *zName);

/****************************** sha256.c ***********************************/

typedef struct KvSha256 KvSha256;
struct KvSha256 {
  u32 h[8];                     /* chaining state */
  u64 nByte;                    /* bytes hashed so far */
  u8 aBuf[64];                  /* partial block */
  u32 nBuf;                     /* bytes in aBuf */
};
void kvSha256Init(KvSha256 *p);
void kvSha256Update(KvSha256 *p, const void *a, size_t n);
void kvSha256Final(KvSha256 *p, u8 aOut[32]);
void kvSha256(const void *a, size_t n, u8 aOut[32]);
/* Use the processor's SHA extensions when bAccel and it has them, else
** the portable code; returns 1 if the extensions are in use. The default
** (chosen at first use) is kvSha256SetAccel(1). For tests. */
int kvSha256SetAccel(int bAccel);
/* Merkle root over nLeaf 32-byte leaf hashes: a parent is
** SHA-256(0x01 || left || right); an odd node at the end of a level is
** promoted unchanged; zero leaves give SHA-256 of the empty string; one
** leaf is its own root. */
void kvMerkleRoot(const u8 *aLeaf, size_t nLeaf, u8 aOut[32]);

/****************************** memtable.c *********************************/
/*
** Memtable: a skip list over an arena. One writer at a time (the caller
** serializes kvMemAdd); any number of concurrent readers without locks
** (C11 acquire/release on the next pointers). Reference counted, starting
** at 1.
*/
typedef struct KvMem KvMem;
int kvMemNew(KvMem **ppMem);
/*
** Arena blocks kept for the next memtable: a memtable made with
** kvMemNewPooled takes its blocks from the pool and gives them back when
** its last reference goes, up to nMaxBytes of them (the rest are freed).
** Memory freed to the OS and allocated again costs a page fault per 4 KiB
** page when first touched (10-14 us each in a VM); a recycled block has
** none. Reference counted (each memtable holds one): the pool lives until
** its creator and every memtable of it let go. Thread-safe.
*/
typedef struct KvMemPool KvMemPool;
int kvMemPoolNew(size_t nMaxBytes, KvMemPool **ppPool);
void kvMemPoolUnref(KvMemPool *pPool);          /* NULL: no-op */
size_t kvMemPoolBytes(KvMemPool *pPool);        /* bytes of blocks kept */
int kvMemNewPooled(KvMemPool *pPool, KvMem **ppMem);  /* pPool may be NULL */
void kvMemRef(KvMem *pMem);
void kvMemUnref(KvMem *pMem);
int kvMemAdd(KvMem *pMem, u64 seq, int eType, const u8 *pKey, size_t nKey,
             const u8 *pVal, size_t nVal);
/* Newest entry for pKey with sequence <= seq: returns 1 and sets *peType
** and (for a put) *ppVal and *pnVal (owned by the memtable, valid while it is
** referenced); returns 0 when there is none. */
int kvMemGet(KvMem *pMem, const u8 *pKey, size_t nKey, u64 seq,
             int *peType, const u8 **ppVal, size_t *pnVal);
/* 0 if the memtable holds no put or point delete of the user key whose
** kvBloomHash is hKey (a key filter says so); 1 if it may. A memtable not
** made from a pool has no filter: always 1. */
int kvMemMayHave(KvMem *pMem, u32 hKey);
size_t kvMemUsage(KvMem *pMem);       /* bytes of arena in use */
u64 kvMemCount(KvMem *pMem);          /* entries */
/* Largest sequence of a put or point delete added (0: none). An entry a
** reader can see was added before the reader's sequence was taken, so a
** value read after that bounds every such entry (range tombstones do not
** count: dbiter.c skips entries older than a tombstone). */
u64 kvMemMaxPointSeq(KvMem *pMem);
/* Does the memtable hold a range tombstone? (a point read skips gathering
** them when none of its sources does) */
int kvMemHasRangeDels(KvMem *pMem);
/* Iterator over internal keys; holds a reference on the memtable. */
int kvMemIterNew(KvMem *pMem, KvIter **ppIter);
/* Check the skip list's shape (tests): every level in order and linking
** exactly the nodes of level 0 that are that tall. KV_OK or KV_CORRUPT. */
int kvMemCheck(KvMem *pMem);

/****************************** batch.c ************************************/
/*
** kv_batch (public functions in kv.h). The representation that goes into
** the WAL is a sequence of operations:
**     type (1 byte: KV_TYPE_PUT or KV_TYPE_DEL)
**     varint key length, key bytes
**     varint value length, value bytes          (puts only)
** kvBatchRep returns it; kvBatchDecode walks such a representation (from a
** batch or from a WAL record) and calls xOp for each operation in order.
*/
const u8 *kvBatchRep(const kv_batch *b, size_t *pnRep);
int kvBatchDecode(const u8 *pRep, size_t nRep, u32 nCount,
                  int (*xOp)(void *pCtx, int eType, const u8 *pKey,
                             size_t nKey, const u8 *pVal, size_t nVal),
                  void *pCtx);
/* Largest key and value lengths in the batch (for max_*_size checks). */
void kvBatchMaxLens(const kv_batch *b, size_t *pnMaxKey, size_t *pnMaxVal);
/* Iterator over the batch's live contents as captured now: one entry per
** key (its last operation), internal keys with sequence KV_BATCH_SEQ.
** Independent of later changes to the batch. */
int kvBatchIterNew(const kv_batch *b, KvIter **ppIter);
/* The batch's range deletions at KV_BATCH_SEQ, their keys copied into
** pCopy (appended; the list points into it, so pCopy must not change
** while the list is used). */
typedef struct KvRdList KvRdList;
int kvBatchRangeDels(const kv_batch *b, KvBuf *pCopy, KvRdList *pOut);
/* kv_batch_get with errors: a spilled batch reads its runs from disk. *pr
** gets kv_batch_get's result; returns KV_OK or the read's error. */
int kvBatchLookup(const kv_batch *b, const void *pKey, size_t nKey,
                  const void **ppVal, size_t *pnVal, int *pr);
/* For spill.c: the operations held in memory (op i of kvBatchMemCount),
** the in-memory part alone, and forgetting it. */
typedef struct KvSpill KvSpill;
size_t kvBatchMemCount(const kv_batch *b);
size_t kvBatchMemBytes(const kv_batch *b);
size_t kvBatchMemRangeOps(const kv_batch *b);
void kvBatchMemOp(const kv_batch *b, size_t i, int *peType, const u8 **ppKey,
                  size_t *pnKey, const u8 **ppVal, size_t *pnVal);
void kvBatchMemTruncate(kv_batch *b, size_t mark);
int kvBatchMemIterNew(const kv_batch *b, KvIter **ppIter);
KvSpill *kvBatchSpill(const kv_batch *b);

/****************************** spill.c ************************************/
/*
** A batch that outgrows its limit (txn_spill) writes its operations to
** sorted runs on disk; spill.c keeps the runs, the map from batch
** positions (savepoint marks) to the sequence numbers inside the
** transaction, and the sequence intervals that ROLLBACK TO made dead. A
** spilled batch commits as one table installed by a manifest edit
** (kv_prepare / kv_commit_prepared), never through the WAL and memtable.
*/
typedef struct KvVersionEdit KvVersionEdit;
/* *pp NULL (and KV_OK) when db does not spill (txn_spill=0, shared). */
int kvSpillNew(kv_db *db, KvSpill **pp);
void kvSpillFree(KvSpill *p);
/* KV_OK if p spills into db (bound anew when it holds no run). */
int kvSpillBind(KvSpill *p, kv_db *db);
void kvSpillReset(KvSpill *p);            /* kv_batch_clear */
size_t kvSpillBase(const KvSpill *p);     /* operations spilled (marks) */
int kvSpillHasRuns(const KvSpill *p);
/* Before an operation is added: spill the in-memory part if over limit. */
int kvSpillBeforeAdd(KvSpill *p, kv_batch *b);
/* Truncate to a mark below kvSpillBase. */
void kvSpillTruncate(KvSpill *p, kv_batch *b, size_t mark);
int kvSpillGet(KvSpill *p, const u8 *pKey, size_t nKey, const void **ppVal,
               size_t *pnVal, int *pr);
int kvSpillIterNew(KvSpill *p, const kv_batch *b, int bBulk,
                   KvIter **ppIter);
void kvSpillMaxLens(const KvSpill *p, size_t *pnKey, size_t *pnVal);
/* Two-phase commit of a spilled batch. REQUIRES: mutex held, caller is
** the write leader (db_write.c). */
int kvSpillPrepareLocked(kv_db *db, kv_batch *b, u64 *piSeq);
int kvSpillApplyLocked(kv_db *db, kv_batch *b, u64 iSeq);
/* Install a spilled commit's tables (pEdit's, or with pRep those its WAL
** record names) with last sequence iLast at the newest manifest, unless
** it has them. REQUIRES: mutex held. */
int kvSpillInstallLocked(kv_db *db, KvVersionEdit *pEdit, u64 iLast,
                         const u8 *pRep, size_t nRep);
/* Give up the prepared table (kv_abort_prepared). REQUIRES: mutex held. */
void kvSpillAbortLocked(kv_db *db);
/* Check a KV_WAL_TABLES record's body: KV_OK or KV_CORRUPT; *pnTable
** (may be NULL) gets how many tables it names. */
int kvSpillCheckRecord(const u8 *pRep, size_t nRep, u64 *pnTable);
/* A WAL record that names prepared tables (count has KV_WAL_TABLES):
** recovery installs them into level 0 of pEdit (skipping tables the
** version holds already). */
int kvSpillRecoverTables(kv_db *db, const u8 *pRep, size_t nRep,
                         KvVersionEdit *pEdit, int bMustExist);
void kvSpillPrepFree(kv_db *db);          /* closing: forget, keep the file */
/* Entries per table of a spilled commit (2^20; tests lower it). */
extern u64 kvSpillTableEntries;

/****************************** log.c / wal.c *****************************/
/*
** log.c: framed records, shared by the WAL and the manifest. Format at the
** top of log.c. A writer appends whole records; after a failed append it
** truncates the file back to the end of the last good record (or, if that
** fails, refuses further appends) so a bad record is never followed by a
** good one. A failed sync is sticky: every later append or sync fails with
** KV_READONLY.
**
** A reader returns records in order. A torn or garbage tail (nothing valid
** after the first bad byte) ends the file cleanly: *pbTorn is set. A bad
** record followed by a valid one is KV_CORRUPT naming the file and offset.
*/
typedef struct KvLogWriter KvLogWriter;
typedef struct KvLogReader KvLogReader;
int kvLogWriterOpen(KvEnv *pEnv, const char *zPath, KvLogWriter **ppW);
/* Open with extra xOpen flags (KV_OPEN_SHARED), continuing after iEnd
** bytes of whole records (0: an emptied file); anything after is cut. */
int kvLogWriterOpenAt(KvEnv *pEnv, const char *zPath, int flags, u64 iEnd,
                      KvLogWriter **ppW);
/* Cut the file to the records written (drop preallocated space). */
int kvLogCut(KvLogWriter *pW);
/* The good record at *pOff of a[0..nData): 1 with *pp, *pn its payload and
** *pOff moved past it; 0 if none starts there whole (the end, a record
** still being written, a torn tail). */
int kvLogNext(const u8 *a, u64 nData, u64 *pOff, const u8 **pp, size_t *pn);
int kvLogAppend(KvLogWriter *pW, const void *p, size_t n);
int kvLogSync(KvLogWriter *pW);
u64 kvLogSize(KvLogWriter *pW);
int kvLogWriterClose(KvLogWriter *pW);      /* frees; reports close error */
int kvLogReaderOpen(KvEnv *pEnv, const char *zPath, KvLogReader **ppR);
/* Next record: *pp and *pn (valid until next call), *pp NULL at the end. */
int kvLogRead(KvLogReader *pR, const u8 **pp, size_t *pn);
u64 kvLogReaderGoodOffset(KvLogReader *pR); /* end of last good record */
int kvLogReaderTorn(KvLogReader *pR);       /* 1 if a tail was cut off */
/* 1 if a tail was cut off and every byte of it is zero (what is left of a
** preallocation whose truncation did not reach the disk). */
int kvLogReaderZeroTail(KvLogReader *pR);
void kvLogReaderClose(KvLogReader *pR);

/*
** wal.c: the segmented write-ahead log in a directory, files
** "wal-<n>.log" (n decimal, 6+ digits). Each record is one batch:
**     fixed64 first sequence, fixed64 timestamp (micros), fixed32 count,
**     then the batch representation (batch.c).
** The writer rotates to segment n+1 when the current one reaches
** nSegmentSize bytes or nSegmentRecords records (0 = no limit), and when
** kvWalRotate is called. Before rotating it syncs the segment unless
** eSync is KV_SYNC_OFF; after creating a segment it syncs the directory.
** The count's top bit (KV_WAL_PREPARED) marks a PREPARED record of a
** two-phase commit (kv_prepare): the batch counts as committed only under
** the rule of recovery in db.c; the rest of the count is the operations.
*/
#define KV_WAL_PREPARED 0x80000000u
/* KV_WAL_TABLES: the record names tables a spilled batch prepared
** (spill.c) instead of holding operations; the count is the span of
** sequence numbers the batch takes. */
#define KV_WAL_TABLES 0x40000000u
#define KV_WAL_COUNT(n) ((n) & ~(KV_WAL_PREPARED|KV_WAL_TABLES))
typedef struct KvWal KvWal;
typedef struct KvWalConfig KvWalConfig;
struct KvWalConfig {
  u64 nSegmentSize;
  u64 nSegmentRecords;
  int eSync;                    /* KV_SYNC_* */
  int bShared;                  /* other processes append too: segments
                                ** are opened KV_OPEN_SHARED */
};
/* Position in the WAL: segment number and byte offset in one u64, so that
** positions compare as integers and fit one atomic word (shared.c). */
#define KV_WALPOS(seg, off) (((u64)(seg)<<40) | (u64)(off))
#define KV_WALPOS_SEG(p)    ((u64)(p)>>40)
#define KV_WALPOS_OFF(p)    ((u64)(p) & ((((u64)1)<<40)-1))
/* Continue segment iSeg after its first iOff bytes (whole records another
** process wrote): the writer of a store open in several processes. */
int kvWalOpenAt(KvEnv *pEnv, const char *zDir, u64 iSeg, u64 iOff,
                const KvWalConfig *pCfg, KvWal **ppWal);
/* Where the next record goes (KV_WALPOS). */
u64 kvWalEnd(KvWal *pWal);
/* Cut the current segment to its records (close of the last process). */
int kvWalCut(KvWal *pWal);
/* Bytes [iFrom, iTo) of segment iSeg (iTo = UINT64_MAX: to its end) into
** *pBuf. KV_CANTOPEN if the segment does not exist. */
int kvWalReadSegment(KvEnv *pEnv, const char *zDir, u64 iSeg, u64 iFrom,
                     u64 iTo, KvBuf *pBuf);
/* Start writing a new segment number iSeg in zDir. */
int kvWalOpen(KvEnv *pEnv, const char *zDir, u64 iSeg,
              const KvWalConfig *pCfg, KvWal **ppWal);
/* Append one batch record; sync it when bSync. Rotates first if due. */
int kvWalAppend(KvWal *pWal, u64 firstSeq, u64 nowMicros, u32 nCount,
                const u8 *pRep, size_t nRep, int bSync);
int kvWalSync(KvWal *pWal);
/* Close the current segment (synced unless sync=off) and start the next.
** Returns the new segment number in *piSeg. */
int kvWalRotate(KvWal *pWal, u64 *piSeg);
u64 kvWalSegment(KvWal *pWal);        /* current segment number */
u64 kvWalBytes(KvWal *pWal);          /* bytes in the current segment */
int kvWalClose(KvWal *pWal);
/* Close without the sync: another handle of the same files goes on (a sync
** through any handle covers what this one wrote). */
int kvWalCloseUnsynced(KvWal *pWal);
/* Segment numbers present in zDir, ascending (free with kvFree). */
int kvWalList(KvEnv *pEnv, const char *zDir, u64 **paSeg, int *pnSeg);
char *kvWalPath(const char *zDir, u64 iSeg);    /* kvFree; NULL on OOM */
/*
** Replay every segment >= iFrom in order, calling xBatch per record.
** Replay stops at the first torn tail (pInfo->bTorn, pInfo->iTornSeg,
** pInfo->iTornOffset): later segments are not replayed, so what is
** recovered is always a prefix of the history. Zeros alone at the end of
** a segment that has a successor are not a torn tail: they are what a
** lost truncation of its preallocated end leaves, and replay goes on with
** the next segment (pInfo->nZeroTail counts them). A bad record followed by
** valid ones fails with KV_CORRUPT naming the segment and offset.
*/
typedef struct KvWalReplayInfo KvWalReplayInfo;
struct KvWalReplayInfo {
  u64 nRecord;                  /* records replayed */
  u64 maxSeq;                   /* last sequence replayed (0 if none) */
  u64 iLastSeg;                 /* highest segment number present */
  int bTorn;                    /* a torn/garbage tail was cut */
  u64 iTornSeg, iTornOffset;
  u64 nZeroTail;                /* segments read past their zero-filled end */
};
int kvWalReplay(KvEnv *pEnv, const char *zDir, u64 iFrom,
                int (*xBatch)(void *pCtx, u64 firstSeq, u32 nCount,
                              const u8 *pRep, size_t nRep),
                void *pCtx, KvWalReplayInfo *pInfo);

/****************************** cache.c ************************************/
/*
** LRU cache of decompressed blocks keyed by (file number, offset),
** capacity in bytes, sharded by key hash, each shard with its own mutex.
** Entries are reference counted: a handle returned by lookup or insert
** holds one reference and the entry is never freed while referenced, even
** when evicted or replaced. Capacity 0 disables caching (inserts return a
** handle to an entry that is freed when released).
*/
typedef struct KvCache KvCache;
typedef struct KvCacheHandle KvCacheHandle;
int kvCacheNew(u64 nCapacity, KvCache **ppCache);
void kvCacheFree(KvCache *pCache);    /* REQUIRES: no handle outstanding */
KvCacheHandle *kvCacheLookup(KvCache *pCache, u64 iFile, u64 iOff);
/* Insert (replacing any entry of that key); on KV_OK *ppH holds a
** reference; on failure xDelete(pValue) has been called. */
int kvCacheInsert(KvCache *pCache, u64 iFile, u64 iOff, void *pValue,
                  size_t nCharge, void (*xDelete)(void*),
                  KvCacheHandle **ppH);
void *kvCacheValue(KvCacheHandle *pH);
void kvCacheRelease(KvCache *pCache, KvCacheHandle *pH);
typedef struct KvCacheStats KvCacheStats;
struct KvCacheStats {
  u64 nHit, nMiss, nInsert, nEvict;
  u64 nByte;                    /* charge currently held */
  u64 nEntry;
  u64 nCapacity;
};
void kvCacheStats(KvCache *pCache, KvCacheStats *pStats);

/****************************** bloom.c ************************************/

u32 kvBloomHash(const u8 *p, size_t n);
/* Build a filter for nKey key hashes with nBitsPerKey bits each; appends
** to pOut (the last byte of the filter holds the probe count and the
** layout). kvBloomBuild writes the blocked layout (a key's bits in one
** 64-byte line), kvBloomBuildFlat the flat one of earlier builds (for
** tests: readers take both). */
int kvBloomBuild(const u32 *aHash, size_t nKey, int nBitsPerKey, KvBuf *pOut);
int kvBloomBuildFlat(const u32 *aHash, size_t nKey, int nBitsPerKey,
                     KvBuf *pOut);
/* 0 if the key is certainly absent; 1 if it may be present (also for a
** malformed filter). One probe: kvBloomPrepare + kvBloomCheck below. */
int kvBloomMayContain(const u8 *pFilter, size_t nFilter, u32 hash);
/* The same for repeated probes of one filter: kvBloomPrepare checks the
** filter's shape and computes the reciprocal of its bit count once, so a
** probe multiplies instead of dividing (the same bits either way). */
typedef struct KvBloom KvBloom;
struct KvBloom {
  const u8 *a;                  /* filter bits; NULL: always "may contain" */
  u32 nBit;
  int nProbe;
  u64 mRecip;                   /* floor((2^64 - 1) / nBit) + 1 */
  u32 nLine;                    /* blocked layout: lines of 64 bytes; 0 for
                                ** the flat layout */
};
void kvBloomPrepare(KvBloom *p, const u8 *pFilter, size_t nFilter);
int kvBloomCheck(const KvBloom *p, u32 hash);
/* The blocked layout's arithmetic (bloom.c), which the memtable's key
** filter (memtable.c) shares: the line of key hash h among nLine lines of
** 512 bits, and the bits of its probes in that line: kvBloomBit(x) for
** x = h * KV_BLOOM_MIX, then for each next probe x *= KV_BLOOM_MIX. */
#define KV_BLOOM_MIX 0x9e3779b1u
static inline u32 kvBloomLine(u32 h, u32 nLine){
  return (u32)(((u64)h * nLine) >> 32);
}
static inline u32 kvBloomBit(u32 x){
  return x >> 23;
}

/****************************** sstable (block.c, sst_*.c) ****************/
/*
** SSTables: format documented at the top of sst_build.c. A file is written
** by a builder (sst_build.c) to "<n>.sst.tmp", fsynced, renamed to
** "<n>.sst", and the directory fsynced. Readers (sst_read.c) keep the
** summary, filter and metadata in memory and read index chunks and data
** blocks from the file's mapping or through the block cache; iterators
** (over one table or a run of them) and point lookups are in sst_iter.c,
** the verifier in sst_verify.c. None of them knows versions: a level is
** given to the run iterator by level_iter.c.
*/
typedef struct KvSstConfig KvSstConfig;
struct KvSstConfig {
  u32 nBlock;                   /* target uncompressed data block size */
  int eCompression;             /* KV_COMPRESS_* */
  int iLevel;                   /* zlib level */
  int nBloomBits;               /* 0 = no filter */
  int nSummaryInterval;         /* index entries per summary entry */
  int nRestart;                 /* entries per restart point (8) */
};
/* The table settings of options o (options.c). */
void kvSstConfigFromOptions(const kv_options *o, KvSstConfig *pCfg);
typedef struct KvSstMeta KvSstMeta;
struct KvSstMeta {
  u64 nEntry;                   /* entries (puts and tombstones) */
  u64 nTombstone;               /* tombstones among them */
  u64 minSeq, maxSeq;
  u64 nCreated;                 /* creation time, micros since epoch */
  u64 nFileSize;
  u64 nDataBlock;               /* data blocks */
  u64 nRawBytes;                /* keys+values before compression */
  u8 aMerkle[32];               /* Merkle root of the data blocks */
  u64 nRangeDel;                /* range tombstones (range-deletion part) */
  u64 nDelWindowMax;            /* most point tombstones among any
                                ** KV_DEL_WINDOW consecutive entries: set
                                ** by the builder, not stored in the file */
  KvBuf smallest;               /* smallest internal key */
  KvBuf largest;                /* largest internal key */
};
void kvSstMetaFree(KvSstMeta *p);    /* frees the key buffers only */
/* The window of KvSstMeta.nDelWindowMax (compact_pick.c's tombstone
** density trigger, as RocksDB's CompactOnDeletionCollector). */
#define KV_DEL_WINDOW 128

typedef struct KvSstBuilder KvSstBuilder;
/* Start a table that will be named zPath (written as zPath".tmp"). */
int kvSstBuilderNew(KvEnv *pEnv, const char *zPath, const KvSstConfig *pCfg,
                    u64 nCreated, KvSstBuilder **ppB);
/* REQUIRES: internal keys strictly ascending. */
int kvSstBuilderAdd(KvSstBuilder *pB, const u8 *pIKey, size_t nIKey,
                    const u8 *pVal, size_t nVal);
u64 kvSstBuilderSize(KvSstBuilder *pB);     /* bytes written so far */
u64 kvSstBuilderCount(KvSstBuilder *pB);    /* entries added */
/* Write the remaining parts and footer, fsync, rename, fsync the dir.
** Fills *pMeta (caller frees with kvSstMetaFree). Frees the builder. */
int kvSstBuilderFinish(KvSstBuilder *pB, KvSstMeta *pMeta);
/* Give up: close and remove the temporary file. Frees the builder. */
void kvSstBuilderAbandon(KvSstBuilder *pB);

/* Read counters shared by every table of a store. */
typedef struct KvReadCounters KvReadCounters;
struct KvReadCounters {
  _Atomic u64 nBloomCheck;      /* filter consulted */
  _Atomic u64 nBloomNegative;   /* filter said absent */
  _Atomic u64 nBlockRead;       /* data blocks read from disk */
  _Atomic u64 nFileProbe;       /* tables searched by point reads */
};
typedef struct KvSst KvSst;
/* Open a table: reads and checks footer, summary and metadata (the
** filter waits for the first point read: kvSstFilterLoad).
** KV_CORRUPT / KV_IOERR name the file and the part. pCache and
** pCounters may be NULL. Blocks are cached under an id unique to this
** open table, not the file number: a block used in place points into this
** table's mapping, which goes when it closes, while the same file may be
** opened again (a file moved to another level gets a new KvFileMeta). */
int kvSstOpen(KvEnv *pEnv, const char *zPath, KvCache *pCache,
              KvReadCounters *pCounters, KvSst **ppSst);
/* kvSstOpen of a file the caller opened already (KV_OPEN_READ): pFile is
** the table's from then on, closed with it, or at once on failure. */
int kvSstOpenFile(KvEnv *pEnv, const char *zPath, KvFile *pFile,
                  KvCache *pCache, KvReadCounters *pCounters, KvSst **ppSst);
void kvSstClose(KvSst *pSst);
/* Read and check the table's bloom filter, which kvSstOpen leaves unread
** (a table only scanned never needs it); the first point read does it
** itself. KV_OK also for a table without one. With bWait 0, a thread that
** finds another reading it returns KV_OK at once (the lookup goes on
** without the filter); with bWait 1 it waits for that read. A damaged
** filter is KV_CORRUPT naming the file, every time it is asked for. */
int kvSstFilterLoad(KvSst *pSst, int bWait);
/* verify_checksums: read every data block from the file and check its CRC
** on every use (no block cache, no use in place in the mapping). */
void kvSstSetVerify(KvSst *pSst, int bOn);
const KvSstMeta *kvSstGetMeta(KvSst *pSst);
/* Newest entry of user key pKey with sequence <= seq. Returns KV_OK with
** *pbFound 0 or 1; when found sets *peType and copies a put's value into
** pVal (replacing its contents). */
int kvSstGet(KvSst *pSst, const u8 *pKey, size_t nKey, u64 seq,
             int *pbFound, int *peType, KvBuf *pVal);
/* The same with the key's kvBloomHash() already computed (a point read
** probes several tables with one key), for a caller that has checked the
** key against the table's key range: the key's range is not checked again
** (a key outside it is searched for and not found). With bFilter 0 the
** bloom filter is not consulted (versionGet's choice, db.c): the answer is
** the same, only what it costs differs. */
int kvSstGetHashed(KvSst *pSst, const u8 *pKey, size_t nKey, u32 hash,
                   int bFilter, u64 seq, int *pbFound, int *peType,
                   KvBuf *pVal);
/* Iterator over the table's internal keys. The table must outlive it.
** flags: 0, or KV_SST_BULK for a one-pass read of much of the table
** (compaction): blocks are read with xRead into private buffers, never
** from the map (whose touched pages would count in the process's RSS)
** and never through the cache (which they would flush), as LevelDB's
** fill_cache=false. */
#define KV_SST_BULK 0x01
int kvSstIterNew(KvSst *pSst, int flags, KvIter **ppIter);
/* A run: nTable tables with disjoint key ranges, in key order, read as
** one sorted sequence by one table iterator that moves from table to
** table. xTable gives table i, opened (owned by the run's source, valid
** while the iterator is open); xLargest gives its largest internal key
** without opening it (seeks). What the tables are is the caller's
** business (level_iter.c: a level's files). */
typedef struct KvSstRun KvSstRun;
struct KvSstRun {
  int nTable;
  void *pCtx;                   /* first argument of xTable and xLargest */
  int (*xTable)(void *pCtx, int i, KvSst **ppSst);
  void (*xLargest)(void *pCtx, int i, const u8 **ppKey, size_t *pnKey);
};
/* Iterator over run *pRun (copied; pCtx must outlive the iterator).
** flags: kvSstIterNew's. */
int kvSstRunIterNew(const KvSstRun *pRun, int flags, KvIter **ppIter);
/* Read every byte of the file at zPath and check every part: returns
** KV_OK if sound, else KV_CORRUPT (or KV_IOERR) with a message naming
** the file and the part ("data block at offset N", "index", "summary",
** "filter", "metadata", "footer", "merkle root"). */
int kvSstVerify(KvEnv *pEnv, const char *zPath);

/****************************** version.c **********************************/
/*
** Manifest and versions. "CURRENT" holds the name of the live manifest
** ("MANIFEST-<n>\n"), a log (log.c records) of version edits. A version
** is the set of live SSTables per level; versions and file descriptors are
** reference counted (starting at 1 for their creator). A file removed by
** an edit is unlinked when the last version holding it is released.
*/
typedef struct KvFileMeta KvFileMeta;
typedef struct KvVersion KvVersion;
typedef struct KvVersionEdit KvVersionEdit;
typedef struct KvVersionSet KvVersionSet;

struct KvFileMeta {
  _Atomic int nRef;
  u64 iFile;                    /* file number: "<iFile>.sst" */
  u64 nByte;                    /* file size */
  u64 nEntry, nTombstone;
  u64 minSeq, maxSeq;
  KvBuf smallest, largest;      /* internal keys */
  u64 nRangeDel;                /* range tombstones in the table */
  u64 nDelWindowMax;            /* KvSstMeta's; 0 (unknown) for a file
                                ** this process did not write */
  u8 aMerkle[32];
  int bObsolete;                /* removed by an edit: unlink at last unref */
  int bCompacting;              /* being compacted (under db mutex) */
  _Atomic u32 nSeeks;           /* point reads that probed it in vain while
                                ** a deeper file had to be probed too */
  _Atomic(KvSst*) pSst;         /* opened on first use (lazily); set once
                                ** under the vset mutex, read without it */
  int rcOpen;                   /* sticky error of a failed open */
  char *zOpenErr;               /* its message (kvMalloc) */
  KvFile *pPin;                 /* the file held open until the table is
                                ** (kvFilePin; under the vset mutex) */
  int bOpening;                 /* a thread is opening the table, without
                                ** the vset mutex (kvFileTable; under it) */
  KvVersionSet *pSet;
};

struct KvVersion {
  _Atomic int nRef;
  KvVersionSet *pSet;
  int nLevel;
  int anFile[KV_MAX_LEVELS];
  KvFileMeta **aaFile[KV_MAX_LEVELS];   /* L0 newest first; L1+ by key */
  _Atomic int eRangeDel;        /* rangedel.c's memo: 0 not yet known,
                                ** 1 no file has range tombstones, 2 some */
};

struct KvVersionEdit {
  int bLogNumber;  u64 iLogNumber;   /* first WAL segment still needed */
  int bNextFile;   u64 iNextFile;
  int bLastSeq;    u64 iLastSeq;
  int bFlushed;                      /* iLastSeq is the flushed sequence */
  int bDropFloor;  u64 iDropFloor;   /* KvVersionSet.iDropFloor */
  int nAdd;  struct { int iLevel; KvFileMeta *pMeta; } *aAdd;  /* owned */
  int nDel;  struct { int iLevel; u64 iFile; } *aDel;
};
int kvEditAddFile(KvVersionEdit *p, int iLevel, const KvSstMeta *pSrc,
                  u64 iFile);
int kvEditDelFile(KvVersionEdit *p, int iLevel, u64 iFile);
void kvEditClear(KvVersionEdit *p);
int kvEditEncode(const KvVersionEdit *p, KvBuf *pOut);
int kvEditDecode(const u8 *a, size_t n, KvVersionEdit *p);

struct KvVersionSet {
  KvEnv *pEnv;
  char *zDir;
  int nLevel;
  KvCache *pCache;              /* for opening tables */
  KvReadCounters *pCounters;
  int bVerify;                  /* tables check every data block read */
  KvVersion *pCurrent;          /* holds one reference */
  u64 iNextFile;                /* next file number (SST and manifest) */
  u64 iLastSeq;                 /* last sequence recorded */
  u64 iDropFloor;               /* compactions may have dropped versions
                                ** that entries at or below it shadowed,
                                ** so revoking below it may lose older
                                ** versions (recover.c); every edit and
                                ** manifest records it (TAG_DROP_FLOOR) */
  u64 iLogNumber;               /* first WAL segment still needed */
  u64 iManifest;                /* number of the live manifest */
  KvLogWriter *pManifest;
  u64 nManifestEdit;            /* edits in the live manifest */
  int bReadOnly;                /* kv_open_readonly: recover writes nothing */
  int bNoRewrite;               /* recover keeps the manifest (another
                                ** process has the store open) */
  int bShared;                  /* edits write whole manifests (shared.c) */
  int bLastIsFlushed;           /* the manifest says every entry up to
                                ** iLastSeq is in a table (TAG_FLUSHED) */
  void *pMutex;                 /* pthread_mutex_t* guarding refcounts of
                                ** versions/files and pCurrent */
};
/* Create a new store's manifest (iLogNumber = 1). */
int kvVsetCreate(KvVersionSet *p);
/* Read CURRENT and the manifest; a bad manifest fails with KV_CORRUPT
** naming it. Then starts a fresh manifest holding a snapshot. */
int kvVsetRecover(KvVersionSet *p);
/* Apply the edit to the current version, append it to the manifest and
** fsync it, then install the new version. REQUIRES: the caller serializes
** calls (db mutex or single writer). Fills in next file / last seq. */
int kvVsetApply(KvVersionSet *p, KvVersionEdit *pEdit);
/* Install the version of the manifest CURRENT names, if it is not the
** one read last (another process changed the store). */
int kvVsetReload(KvVersionSet *p, int *pbChanged);
void kvVsetClose(KvVersionSet *p);
u64 kvVsetNewFileNumber(KvVersionSet *p);
int kvVersionSnapshotEdit(KvVersion *v, u64 iLogNumber, u64 iNextFile,
                          u64 iLastSeq, u64 iDropFloor, KvBuf *pOut);
KvVersion *kvVersionCurrent(KvVersionSet *p);  /* with a reference */
/* The same without taking pMutex, for a caller holding the store's mutex
** (M), under which every change of pCurrent happens too (kvVsetApply,
** kvVsetReload; kvVsetRecover runs at open): a point read's one lock. */
KvVersion *kvVersionCurrentHeld(KvVersionSet *p);
void kvVersionRef(KvVersion *v);
void kvVersionUnref(KvVersion *v);
void kvFileRef(KvFileMeta *f);
void kvFileUnref(KvFileMeta *f);
/* The opened table of f (opening it on first use). */
int kvFileTable(KvFileMeta *f, KvSst **ppSst);
/* Hold file f open without reading it (no-op when its table is open), so
** that it stays readable if another process deletes it (shared.c); the
** table opens through that handle when first used. */
int kvFilePin(KvFileMeta *f);
char *kvSstPath(const char *zDir, u64 iFile);    /* "<dir>/<n>.sst" */

/****************************** level_iter.c *******************************/
/* A level iterator: the non-overlapping files aFile[0..nFile) of one level
** read as one sorted run (kvSstRunIterNew), each table opened with
** kvFileTable when reached. It borrows the array and the files: the
** caller keeps them (a version, a compaction's inputs) until the iterator
** is closed. flags: kvSstIterNew's. */
int kvLevelIterNew(KvFileMeta **aFile, int nFile, int flags,
                   KvIter **ppIter);

/****************************** ratelimit.c ********************************/
/*
** Token bucket of a store (design at the top of ratelimit.c). NULL is a
** valid limiter that never limits (rate_limit=0). Thread-safe.
*/
typedef struct KvRateLimiter KvRateLimiter;
typedef struct KvRateStats KvRateStats;
struct KvRateStats {
  int bEnabled;                 /* 0 when the limiter is off */
  double rRate, rBurst;         /* tokens per second, bucket size */
  u64 nWaitMs;                  /* rate_wait_ms */
  double rTokens;               /* tokens in the bucket now (< 0: owed) */
  u64 nAcquired;                /* tokens granted */
  u64 nCalls;                   /* requests granted */
  u64 nWaited;                  /* requests granted after waiting */
  u64 nWaitMicros;              /* time waited, all requests */
  u64 nRejected;                /* requests refused with KV_BUSY */
};
/* *ppRate is NULL (and KV_OK) when rRate <= 0. rBurst 0 = rRate. */
int kvRateNew(KvEnv *pEnv, double rRate, double rBurst, u64 nWaitMs,
              KvRateLimiter **ppRate);
void kvRateFree(KvRateLimiter *p);                     /* NULL ok */
/* Take nToken tokens, sleeping (xSleepMicros) up to the configured wait;
** KV_BUSY "kvstore: rate limit exceeded (...)" when that is not enough. */
int kvRateAcquire(KvRateLimiter *p, u64 nToken);
void kvRateStats(KvRateLimiter *p, KvRateStats *pStats);
/* Append "\"rate_limiter\":{...}," for kv_stats. */
int kvRateStatsJson(KvRateLimiter *p, KvBuf *pOut);

/****************************** rangedel.c *********************************/
/*
** Range tombstones (design at the top of rangedel.c). A KvRangeTomb
** borrows its keys from its source (memtable arena, open table), which the
** holder of the list keeps referenced.
*/
typedef struct KvRangeTomb KvRangeTomb;
struct KvRangeTomb {
  const u8 *pLo; size_t nLo;    /* first user key deleted */
  const u8 *pHi; size_t nHi;    /* first user key past the range */
  u64 seq;
};
struct KvRdList {               /* zero-initialise; kvRdListFree */
  KvRangeTomb *a;
  int n, nAlloc;
};
typedef struct KvRdFrag KvRdFrag;
struct KvRdFrag {               /* [lo, hi) with the sequences over it */
  const u8 *pLo; size_t nLo;
  const u8 *pHi; size_t nHi;
  size_t iSeq;                  /* first in KvRdFrags.aSeq (ascending) */
  int nSeq;
};
typedef struct KvRdFrags KvRdFrags;
struct KvRdFrags {
  int nFrag;
  KvRdFrag *aFrag;              /* sorted, disjoint */
  u64 *aSeq;
  int bInline;                  /* aFrag and aSeq share this allocation */
};
int kvRdListAdd(KvRdList *p, const u8 *pLo, size_t nLo, const u8 *pHi,
                size_t nHi, u64 seq);
void kvRdListFree(KvRdList *p);
void kvRdListSort(KvRdList *p);                 /* by lo, then seq */
/* Largest sequence <= maxSeq of a tombstone covering key (0: none). */
u64 kvRdListMaxSeq(const KvRdList *p, const u8 *pKey, size_t nKey,
                   u64 maxSeq);
int kvRdListEncode(const KvRdList *p, KvBuf *pOut);
/* KV_CORRUPT (no message) when malformed; keys point into a[]. */
int kvRdListDecode(const u8 *a, size_t n, KvRdList *pOut);
/* Fragment the tombstones of pList with sequence <= maxSeq. *ppOut
** borrows the list's keys. */
int kvRdFragsBuild(const KvRdList *pList, u64 maxSeq, KvRdFrags **ppOut);
void kvRdFragsFree(KvRdFrags *p);                 /* NULL ok */
const KvRdFrag *kvRdFragsFind(const KvRdFrags *p, const u8 *pKey,
                              size_t nKey);       /* NULL: none covers */
u64 kvRdFragMaxSeq(const KvRdFrags *p, const KvRdFrag *f, u64 maxSeq);
u64 kvRdFragsMaxSeq(const KvRdFrags *p, const u8 *pKey, size_t nKey,
                    u64 maxSeq);
/* Smallest sequence above seq of a tombstone covering key (0: none). */
u64 kvRdFragsNextSeq(const KvRdFrags *p, const u8 *pKey, size_t nKey,
                     u64 seq);
/* Gather the range tombstones of a memtable / files (sst_read.c opens each
** file with nRangeDel > 0). */
int kvMemRangeDels(KvMem *pMem, KvRdList *pOut);
int kvFilesRangeDels(KvFileMeta **aFile, int nFile, KvRdList *pOut);
/* Every tombstone a reader of (pMem, pImm, v) may need. */
int kvDbRangeDels(KvMem *pMem, KvMem *pImm, KvVersion *v, KvRdList *pOut);
/* A table's tombstones (borrowing the open table's memory). */
int kvSstRangeDels(KvSst *pSst, KvRdList *pOut);
/* Add a range tombstone to a table being built (any order, any time
** before Finish). The file's key range is widened to include [lo, hi]. */
int kvSstBuilderAddRangeDel(KvSstBuilder *pB, const u8 *pLo, size_t nLo,
                            const u8 *pHi, size_t nHi, u64 seq);
/* A skipping wrapper (dbiter.c): iterator pChild, whose entries all have
** sequences <= childMaxSeq, steps over every fragment of pFrags (not
** owned) whose tombstone at or below readSeq is above childMaxSeq by
** seeking to its end. Takes ownership of pChild. *pnSkip (may be NULL)
** counts the seeks. */
/* Test hooks: merged entries a kv_iter examined, and its seeks past a
** tombstone's end. */
u64 kvIterVisited(const kv_iter *it);
u64 kvIterRdSkips(const kv_iter *it);
/* Free the iterator kv_iter_recycle kept, if any (takes the mutex; call
** without it). */
void kvDbDropSpareIter(kv_db *db);
int kvRdSkipIterNew(KvIter *pChild, const KvRdFrags *pFrags, u64 childMaxSeq,
                    u64 readSeq, u64 *pnSkip, KvIter **ppOut);

/****************************** db.c / dbiter.c ****************************/
/*
** An open store. One instance per directory per process, shared by every
** kv_open of it (reference counted in the registry). Locking: `mutex`
** guards every field marked (M); the write path's leader inserts into pMem
** without the mutex (it is the memtable's single writer).
*/
typedef struct KvWriter KvWriter;
typedef struct KvSpillPrep KvSpillPrep;
typedef struct KvSnapLink KvSnapLink;
struct KvSnapLink {             /* doubly linked list of live read points */
  u64 seq;
  int bKeepLater;               /* every version above seq stays too
                                ** (kv_snapshot_keep) */
  KvSnapLink *pPrev, *pNext;
};
struct kv_snapshot {
  KvSnapLink link;              /* must be first */
};

typedef struct KvShm KvShm;
struct kv_db {
  char *zDir;                   /* canonical directory path */
  u64 iDev, iIno;               /* registry key */
  int nRef;                     /* kv_open count (registry mutex) */
  kv_db *pNextDb;               /* registry list (registry mutex) */
  unsigned iForkGen;            /* kvForkGen when opened: another value
                                ** means a fork() copied it (kvDbInherited) */
  kv_options *pOpts;            /* private copy, shaping options from disk */
  KvEnv *pEnv;
  KvFile *pLock;                /* LOCK file with flock held */
  int bReadOnly;                /* kv_open_readonly: no lock, no WAL, no
                                ** file created or deleted, writes refused */
  KvCache *pCache;
  KvReadCounters counters;
  KvVersionSet vset;            /* (M) except refcounts */
  pthread_mutex_t mutex;        /* the store's mutex (M) */
  pthread_mutex_t vsetMutex;    /* vset.pMutex: pCurrent and lazy opens;
                                ** taken after `mutex`, never before it */
  pthread_cond_t cvWork;        /* background work done or wanted */
  pthread_cond_t cvWriterLock;  /* kv_writer_release */

  /* Memtables and WAL (M) */
  KvMem *pMem;                  /* active memtable */
  KvMem *pImm;                  /* immutable memtable awaiting flush */
  KvMemPool *pMemPool;          /* arena blocks of flushed memtables, kept
                                ** for the next ones (memtable.c) */
  u64 iImmLogNumber;            /* first WAL segment not in pImm */
  KvWal *pWal;
  _Atomic u64 lastSeq;          /* last sequence visible to readers */
  _Atomic(kv_batch*) pSpareBatch; /* reused by kv_put/kv_delete, or NULL */
  KvWriter *pWriterHead;        /* group commit queue (M) */
  KvWriter *pWriterTail;
  KvSnapLink snapHead;          /* circular list of live snapshots (M) */
  kv_iter *pSpareIter;          /* kv_iter_recycle's, unlinked, or NULL (M) */
  /* Two-phase commit (kv_prepare) (M) */
  int bPrepared;                /* a PREPARED record awaits commit/abort */
  u64 iPrepSeq;                 /* its first sequence */
  KvSpillPrep *pSpillPrep;      /* its table, when the batch spilled */
  u64 nRevoked;                 /* entries revoked by recovery (revokeAbove) */
  u64 nRevokedBatches;          /* PREPARED WAL records above the horizon
                                ** that recovery discarded */
  u64 iRevokeHorizon;           /* the horizon they were above */
  u64 iBehindFrom;              /* kv_repair: the store's last sequence,
                                ** which recovery moved up to the horizon
                                ** (recover.c, olderStoreCheck); else 0 */
  atomic_int bRevokeTold;       /* kv_revoked has reported them */
  u64 iDropFloor;               /* oldest snapshot of the newest compaction:
                                ** kv_snapshot_at refuses an older read point */
  _Atomic u64 iDurable;         /* kv_durable: no commit up to it can be
                                ** revoked (KV_MAX_SEQ: no horizon, none can) */

  /* Background work (M) */
  pthread_t bgThread;
  int bBgThread;                /* background=on: bgThread does the work */
  int bBgRunning;               /* bgThread is running (kvDbBgKick) */
  int bBgJoin;                  /* bgThread left when idle: join it */
  int bShutdown;
  int bBgActive;                /* flush/compaction in progress */
  int bBgIdle;                  /* bgThread waits: nothing was due */
  int rcBg;                     /* sticky background error */
  char *zBgErr;                 /* its message */
  u64 iBgRetryAt;               /* rcBg is retried from then (0: never) */
  u64 nBgRetry;                 /* retries after a background failure */
  int rcWal;                    /* sticky WAL error (failed fsync) */
  char *zWalErr;

  /* kv_writer_acquire (M) */
  const void *pWriterOwner;

  /* Statistics (M unless atomic) */
  u64 nFlush;                   /* memtable flushes */
  u64 nFlushBytes;              /* bytes written by flushes */
  u64 nCompactBytes;            /* bytes written by compaction */
  u64 nCompactions;
  _Atomic u64 nUserBytes;       /* key+value bytes committed by users */
  _Atomic u64 nWrites;          /* batches committed */
  _Atomic u64 nSyncs;           /* WAL fsyncs by commits */
  _Atomic u64 nGets;            /* point reads */
  _Atomic int aFilterScore[KV_MAX_LEVELS];  /* per level >= 1: do its
                                ** point probes find their keys? (db.c,
                                ** filterWanted); relaxed, a hint */
  u64 nStallMicros;             /* writers delayed by level-0 pressure */
  u64 nStallSlowdown;           /* writes delayed 1 ms */
  u64 nStallStop;               /* writes that waited for a compaction */
  struct KvCompactor *pCompactor;  /* compaction state (compact.c) (M) */
  KvRateLimiter *pRate;         /* token bucket (ratelimit.c); NULL = off */

  /* Several processes (shared.c) */
  KvShm *pShm;                  /* LOCK's shared map; NULL read-only */
  KvFile *pShmViewFile;         /* read-only handle: LOCK opened for reading */
  KvShm *pShmView;              /* its map, read-only (the drop floor), or
                                ** NULL when there is none to map */
  int iSlot;                    /* this instance's slot in pShm->aSlot */
  pthread_mutex_t maintMutex;   /* this process's side of the MAINT lock;
                                ** taken before `mutex`, never after it */
  u64 iWalPos;                  /* catch-up position (KV_WALPOS) (leader) */
  u64 iWalOpens;                /* pShm->iWalOpens when pWal was opened */
  u64 iMemLogNumber;            /* first segment pMem's data may be in */
  u64 iImmLastSeq;              /* last sequence pImm holds */
  _Atomic u64 iManifestGen;     /* pShm->iManifestGen the version is from */
  int bOthersRead;              /* other processes read (compaction) (M) */
  int bMaintBusy;               /* a background compaction found another
                                ** process maintaining the store (M) */
  u64 nShareReset;              /* memtables rebuilt after others' flushes */
  pthread_t maintOwner;         /* thread holding maintMutex, if any */
  int nMaintDepth;              /* its nesting (a flush in a compaction) */
  int bMaintEdited;             /* a manifest was written under it */
  u64 nMaintLetGo;              /* times kvSharedMaintBegin let go of M to
                                ** open tables (M) */
};

void kvDbLock(kv_db *db);
void kvDbUnlock(kv_db *db);
/* Oldest sequence any snapshot or iterator may read, of this process and
** of the others sharing the store (sets bOthersRead) (M). */
u64 kvDbOldestSnapshot(kv_db *db);
/* The same for this instance alone (M). */
u64 kvDbLocalOldest(kv_db *db);
/* Register/unregister a read point (M taken inside). */
void kvDbSnapAdd(kv_db *db, KvSnapLink *pLink);
/* Raise db->iDropFloor (and the shared one) to seq before a compaction
** drops versions below it; returns the oldest read point it must keep,
** which another process may just have lowered, and records that in
** vset.iDropFloor for the manifest (compaction, M held). */
u64 kvDbDropFloor(kv_db *db, u64 seq);
/* The highest sequence no recovery can revoke (kv_durable, this process's
** or another's): compaction keeps what later sequences overwrote. */
u64 kvDbDurable(kv_db *db);
void kvDbSnapRemove(kv_db *db, KvSnapLink *pLink);
/* A scan sought user key k in version v: charge its level-0 reads to seek
** compaction (db.c). */
void kvDbSeekChargeScan(kv_db *db, KvVersion *v, const u8 *k, size_t n);
/* Children for a full merge of what version v and the memtables hold:
** appends iterators to *papIter (kvRealloc'd array) and *pnIter. */
int kvDbCollectIters(kv_db *db, KvMem *pMem, KvMem *pImm, KvVersion *v,
                     KvIter ***papIter, int *pnIter);

/* Shared by db.c, db_write.c and recover.c. REQUIRES as stated at the definitions. */
/* Apply a batch's representation (nCount operations, sequences firstSeq
** on, in batch order) to pMem, linked in key order (db_write.c). The whole
** representation is checked before anything is linked. */
int kvDbMemApply(KvMem *pMem, u64 firstSeq, const u8 *pRep, size_t nRep,
                 u32 nCount);
/* Write what of pIt and rd has a sequence in [iMin, iMax] to table iFile
** at level iLevel of pEdit (no table when nothing); counts kept and
** skipped (added to *pnSkipped); either count may be NULL. */
int kvDbWriteTable(kv_db *db, KvIter *pIt, const KvRdList *rd, u64 iMin,
                   u64 iMax, int iLevel, u64 iFile, KvVersionEdit *pEdit,
                   u64 *pnKept, u64 *pnSkipped, u64 *pnByte);
/* Write every entry of pMem with a sequence above iAbove to table iFile,
** add it to level 0 of pEdit. */
int kvDbWriteLevel0(kv_db *db, KvMem *pMem, u64 iAbove, u64 iFile,
                    KvVersionEdit *pEdit, u64 *pnByte);
/* Remove WAL segments older than iLogNumber (failures ignored). */
void kvDbDeleteOldSegments(kv_db *db, u64 iLogNumber);
/* Make sure the memtable has room for a write (bForce: switch it now if
** it holds anything, for kv_flush). REQUIRES: mutex held, caller is the
** write leader. */
int kvDbMakeRoom(kv_db *db, int bForce);
/* Replay the WAL into a memtable at open (recover.c): kvDbRecoverWal
** flushes it and starts a new segment; kvDbRecoverReadOnly keeps it in
** memory and writes nothing. */
int kvDbRecoverWal(kv_db *db);
int kvDbRecoverReadOnly(kv_db *db);

/****************************** ingest.c ***********************************/
/* kv_ingest_prepare for the nPath tables that kv_bulk (bulk.c) wrote in
** the store's directory at azPath[] (disjoint key ranges), every entry at
** sequence iSeq: not checked again, and renamed into place (not copied)
** when iSeq is the sequence the ingest takes. */
int kvIngestPrepareOwned(kv_db *db, const char *const *azPath, int nPath,
                         u64 iSeq, kv_ingest_job **ppIng);
/* Entries per table of a sorted load (2^20; tests lower it): each table's
** builder holds its bloom hashes and index until it is finished. */
extern u64 kvBulkTableEntries;

/* A copy of an instance in a child of fork(): its descriptors, and so its
** byte locks, are the parent's, and it has no background thread. The child
** never uses one; kvDbInheritedErr is the error of an attempt. */
int kvDbInherited(const kv_db *db);
int kvDbInheritedErr(const kv_db *db);

/****************************** shared.c ***********************************/
/*
** One store, several processes (design at the top of shared.c). KvShm is
** the first page of the LOCK file, mapped shared by every process.
*/
#define KV_SHM_SLOTS 64
/* Byte locks of the LOCK file (beyond the map). */
#define KV_LOCKB_OPEN    ((u64)1 << 20)   /* shared by every opener */
#define KV_LOCKB_MAINT   (KV_LOCKB_OPEN + 1)
#define KV_LOCKB_SLOT(i) (KV_LOCKB_OPEN + 16 + (u64)(i))
struct KvShm {
  u64 iMagic;
  _Atomic u64 iWalEnd;          /* KV_WALPOS after the last whole record */
  _Atomic u64 iManifestGen;     /* bumped by every manifest written */
  _Atomic u64 iDropFloor;       /* no read point below it (compactions) */
  _Atomic u64 iWalOpens;        /* bumped by every WAL handle opened for
                                ** appending: opening at the end cuts the
                                ** segment there, so any other handle's
                                ** mapping of it is stale */
  _Atomic u64 iDurable;         /* the highest kv_durable of any process */
  _Atomic u64 aSlot[KV_SHM_SLOTS];  /* 1 + oldest sequence a process may
                                ** read; 0 = free */
  pthread_mutex_t writer;       /* WAL appends (process-shared, robust:
                                ** a holder's death hands it on) */
};
/* At open, LOCK held: *pbFirst 1 if no other process has the store open
** (then recover, and call kvSharedFirstReady), else wait for a recovery in
** progress and share it. */
int kvSharedOpen(kv_db *db, int *pbFirst);
int kvSharedFirstReady(kv_db *db);
/* Take a free slot of pShm->aSlot (KV_BUSY if none). */
int kvSharedClaimSlot(kv_db *db);
void kvSharedClose(kv_db *db);
int kvSharedAlone(kv_db *db);
void kvSharedPublish(kv_db *db);                       /* M */
u64 kvSharedOldest(kv_db *db, u64 iLocal, int *pbOthers);
u64 kvSharedRaiseFloor(kv_db *db, u64 seq, int *pbOthers);
int kvSharedCheckFloor(kv_db *db, u64 iSeq);
/* A read-only handle: map LOCK read-only, if it can, to see the drop
** floor of the processes writing the store (no lock is taken). */
void kvSharedViewOpen(kv_db *db, const char *zLock);
int kvSharedWriterLock(kv_db *db);
void kvSharedWalOpened(kv_db *db);
void kvSharedWriterUnlock(kv_db *db);
int kvSharedReload(kv_db *db, int *pbChanged);
/* Open every table of the current version (KV_BUSY: one was deleted by a
** newer edit: read the manifest again). */
int kvSharedOpenTables(kv_db *db);
int kvSharedMaintBegin(kv_db *db, int bWait);          /* M */
void kvSharedMaintEnd(kv_db *db, int bEdited);         /* M */
int kvSharedCatchUp(kv_db *db, u64 iHorizon);          /* leader, no M */
int kvSharedWalPosition(kv_db *db);                    /* leader, M */
void kvSharedWalWritten(kv_db *db, u64 iEndBefore);    /* leader, M */
void kvSharedWalCut(kv_db *db);                         /* at close */
/* Open a store another process has open: read its manifest and WAL as they
** are (recover.c). */
int kvDbRecoverShared(kv_db *db);

/****************************** compact_pick.c, compact.c *****************/
/*
** Compaction (design at the top of compact_pick.c for choosing, of
** compact.c for running; what they share is in compact_int.h). Picking,
** in compact_pick.c, is a pure function
** of a version, the options and the compactor's memory (round-robin
** pointers, per-file snapshot-only entry counts), so tests can drive it
** with hand-built versions. Running, in compact.c, reaches the store only
** through a KvCompactHost (below), never kv_db: compact.c depends on
** version.c and the SSTable files, and db_compact.c on it, not the other
** way round.
*/
typedef struct KvCompactor KvCompactor;     /* per-store state */
typedef struct KvCompaction KvCompaction;   /* one picked compaction */
typedef struct KvCompactStats KvCompactStats;
typedef struct KvDropFilter KvDropFilter;

struct KvCompactStats {
  u64 nFileIn, nFileOut;        /* tables read, tables written */
  u64 nByteIn, nByteOut;        /* their bytes */
  u64 nTombDrop;                /* tombstones dropped */
  u64 nEntryDrop;               /* entries dropped (tombstones included) */
  u64 nMicros;                  /* time taken */
};

/* Why a compaction was picked. */
#define KV_CREASON_SIZE    1    /* leveled: level over its budget */
#define KV_CREASON_TIER    2    /* tiered: adjacent runs of similar size */
#define KV_CREASON_COUNT   3    /* tiered: too many runs, newest merged */
#define KV_CREASON_GARBAGE 4    /* a file's garbage share passed the limit */
#define KV_CREASON_FULL    5    /* kv_compact(db, 1, ..) */
#define KV_CREASON_SEEK    6    /* leveled: reads keep probing a file in vain */

struct KvCompaction {
  int eReason;                  /* KV_CREASON_* */
  int iLevel;                   /* level picked (first input's level) */
  int iOutLevel;                /* where the outputs go */
  int bTrivial;                 /* move the inputs, no rewrite */
  int bSplit;                   /* cut outputs (level >= 1 outputs) */
  u64 nTarget;                  /* target output size */
  u64 nMaxGrand;                /* cut when overlapping this many bytes of
                                ** iOutLevel+1 */
  double rScore;                /* score of the level picked */
  int nIn;                      /* inputs (referenced): L0 newest first, */
  KvFileMeta **apIn;            /* then deeper levels, each by key */
  int *aiInLevel;               /* level of each input */
  u64 nByteIn;
  int nOld, nOldRun;            /* files outside the compaction that may */
  KvFileMeta **apOld;           /* hold older versions of its keys, as */
  int *aiOldRun;                /* runs (each by key); referenced */
  int nGrand;                   /* files of iOutLevel+1 it overlaps */
  KvFileMeta **apGrand;         /* (referenced) */
};

int kvCompactorNew(KvCompactor **pp);
void kvCompactorFree(KvCompactor *p);                  /* NULL ok */
/* The due compaction of v, or *ppC NULL when none is due. p may be NULL
** (no pointers, no snapshot-only counts). oldestSnap: kvDbOldestSnapshot.
** p's round-robin pointer moves when a leveled file is picked. */
int kvCompactPick(const KvVersion *v, const kv_options *o, KvCompactor *p,
                  u64 oldestSnap, KvCompaction **ppC);
/* Everything into one run at the bottom level (NULL when v is empty). */
int kvCompactPickFull(const KvVersion *v, const kv_options *o,
                      KvCompaction **ppC);
void kvCompactionFree(KvCompaction *c);                /* NULL ok */
double kvCompactLevelScore(const KvVersion *v, const kv_options *o,
                           int iLevel);
u64 kvCompactLevelTarget(const kv_options *o, int iLevel); /* bytes, L>=1 */
/* Share of f's entries that are garbage (0 below the minimum size). */
double kvCompactGarbage(const KvCompactor *p, const KvFileMeta *f);

/*
** The drop rule, fed every entry of a merge in internal-key order. aSnap:
** the live snapshot and iterator sequences, ascending (not copied; may be
** NULL when nSnap is 0); oldestSnap: kvDbOldestSnapshot (<= aSnap[0]).
** An entry is dropped when no read point lies between it and a newer
** version of its key (same "stripe"); a tombstone at or below oldestSnap
** is dropped when xOlder(pCtx, userKey) says no run older than the output
** may hold the key (xOlder NULL: none may). After each step bNewest tells
** whether the entry was the newest of its user key in the merge.
*/
#define KV_KEEP           0
#define KV_DROP_SHADOWED  1     /* a newer version hides it from everyone */
#define KV_DROP_TOMBSTONE 2     /* a tombstone nothing older needs */
struct KvDropFilter {
  const u64 *aSnap;             /* read points, ascending */
  int nSnap;
  u64 oldestSnap;               /* oldest sequence any reader uses */
  int (*xOlder)(void*, const u8*, size_t);
  void *pCtx;
  KvBuf key;                    /* user key of the current entry */
  int bKey;
  int bHaveLast;                /* iLastStripe valid for key */
  int iLastStripe;              /* stripe of the previous entry of key */
  int bNewest;
};
void kvDropFilterInit(KvDropFilter *p, const u64 *aSnap, int nSnap,
                      u64 oldestSnap,
                      int (*xOlder)(void*, const u8*, size_t), void *pCtx);
int kvDropFilterStep(KvDropFilter *p, const u8 *pIKey, size_t nIKey,
                     int *peVerdict);
void kvDropFilterFree(KvDropFilter *p);

/*
** The seam between compaction and its store. compact.c knows nothing of
** kv_db: everything it uses of the store is in a KvCompactHost, copied
** into the compactor by kvCompactorOpen (db_compact.c fills it in). The
** callbacks get pCtx first; each REQUIRES the store's mutex held.
*/
typedef struct KvCompactHost KvCompactHost;
struct KvCompactHost {
  KvEnv *pEnv;
  const char *zDir;             /* store directory (names outputs, errors) */
  const kv_options *pOpts;
  KvVersionSet *pVset;          /* file numbers, current version, apply */
  pthread_mutex_t *pMutex;      /* the store's mutex */
  pthread_cond_t *pCvWork;      /* broadcast when a compaction ends and
                                ** when a seek compaction is wanted */
  void *pCtx;                   /* the store, for the callbacks */
  /* Oldest sequence a reader may read: compaction keeps every version a
  ** read point at or above it may see (and picks with it). */
  u64 (*xOldestSnapshot)(void *pCtx);
  /* A merge is about to drop what no read point at or above *pOldest can
  ** see: refuse older read points from now on and list the live ones,
  ** ascending (*paSnap: kvFree; NULL when *pnSnap is 0). *pOldest may
  ** come back lower (another process's reader got in first), and
  ** *pbKeepAbove 1 says that readers the list does not name may read at
  ** any point above it (other processes): keep every version there. */
  int (*xReadPoints)(void *pCtx, u64 *pOldest, u64 **paSnap, int *pnSnap,
                     int *pbKeepAbove);
  /* Take (and end) a turn at the store's maintenance: one process at a
  ** time picks, runs and installs compactions (shared.c). bWait 0: KV_BUSY
  ** at once when another process has the turn. bEdited: a manifest was
  ** written. The mutex is released while waiting. */
  int (*xMaintBegin)(void *pCtx, int bWait);
  void (*xMaintEnd)(void *pCtx, int bEdited);
  /* Record that compaction failed with rc (sticky, see kvDbBgError);
  ** zWhat names the work ("compaction"). */
  void (*xError)(void *pCtx, int rc, const char *zWhat);
  /* Nonzero when the store is closing: a merge stops (nothing changes). */
  int (*xClosing)(void *pCtx);
  /* Flush the immutable memtable if one waits (the mutex is released
  ** while the table is written). Called only for background compactions. */
  void (*xFlushPending)(void *pCtx);
  /* A compaction was installed; *pSt is what it did. */
  void (*xDone)(void *pCtx, const KvCompactStats *pSt);
};
/* A compactor that runs compactions for the store pHost describes
** (copied). kvCompactorFree frees it. */
int kvCompactorOpen(const KvCompactHost *pHost, KvCompactor **pp);
/* Pick and run one due compaction. Returns KV_OK with *pbRan 0 when none
** is due. bBg: for the background thread (flushes a waiting memtable as
** it goes). pSt (may be NULL) gets what was done added. xProgress (may be
** NULL): kv_compact_progress's callback; when it asks to stop, KV_INTERRUPT
** and the store is unchanged. A failure is recorded with xError.
** REQUIRES: mutex held, no compaction running; released while tables are
** written. */
int kvCompactRunDue(KvCompactor *pC, int bBg, KvCompactStats *pSt,
                    int *pbRan, kv_progress_fn xProgress, void *pProgArg);
/* The same for everything into one run at the bottom level (kv_compact
** with bFull); KV_OK when the store holds no table. */
int kvCompactRunFull(KvCompactor *pC, KvCompactStats *pSt,
                     kv_progress_fn xProgress, void *pProgArg);
/* Is a compaction running? REQUIRES: mutex held. */
int kvCompactRunning(const KvCompactor *pC);
/* What the compactor has done, for kv_stats. REQUIRES: mutex held. */
typedef struct KvCompactCounters KvCompactCounters;
struct KvCompactCounters {
  KvCompactStats total;         /* all compactions so far */
  u64 nTrivial;                 /* trivial moves among them */
  u64 nGarbage;                 /* picked by the garbage trigger */
  u64 nSeek;                    /* picked by the seek trigger */
  u64 nFull;                    /* full compactions */
  u64 nProgDone;                /* running compaction: input bytes merged */
  u64 nProgPlanned;             /*   of its input bytes */
  int bRunning;
};
void kvCompactCounters(const KvCompactor *pC, KvCompactCounters *pOut);
/* A point read probed level-0 file f without finding its key and then
** had to probe another file, or a scan sought into f's range (mutex NOT
** held). Once a file has cost max(100, size / 16 KiB) such probes, a
** compaction of it is scheduled even though no level is over its budget
** (LevelDB's seek compaction): a store that is only read stops paying for
** the level-0 pile-up its writers left. Level-0 files only: below level 0
** a compaction rewrites about ten times the file's size, far more than the
** bloom-filter probes it would save cost when the data is in memory
** (measured: charging every level slowed kvbench readrandom by a fifth
** while the compactions ran). */
void kvCompactSeekCharge(KvCompactor *pC, KvFileMeta *f);

/****************************** db_compact.c *******************************/
/*
** The store's side of compaction: the KvCompactHost it gives compact.c,
** when compactions run (background thread, inline, kv_compact), write
** stalls and the compaction part of kv_stats. REQUIRES the mutex held
** unless stated otherwise.
*/
/* Make db->pCompactor (at open). */
int kvDbCompactorNew(kv_db *db);
/* Background thread: run one due compaction; 1 if one ran, or if the
** mutex was let go meanwhile (look for work again). */
int kvDbCompactBackground(kv_db *db);
/* background=off: run due compactions until none is due. */
void kvDbCompactInline(kv_db *db);
/* Write stalls for the write leader (background=on only). Slowdown: sleep
** 1 ms once per write when L0 holds 2*level0_trigger files (*pbSlowed
** records it); Stop: wait for a compaction when L0 holds
** 3*level0_trigger. Each returns 1 if it released the mutex. */
int kvDbStallSlowdown(kv_db *db, int *pbSlowed);
int kvDbStallStop(kv_db *db);
/* Append the compaction fields of kv_stats (mutex NOT held). */
int kvDbCompactStatsJson(kv_db *db, KvBuf *pOut);
/* Defined in db.c: flush the immutable memtable if one waits (mutex held;
** released while writing). */
void kvDbFlushPending(kv_db *db);
/* KV_READONLY with its message, for writes on a kv_open_readonly handle. */
int kvDbReadOnlyErr(kv_db *db);

#endif /* KVINT_H */
