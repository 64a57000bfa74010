/*
** sst_int.h - private interface between block.c and the SSTable files
** (sst_build.c, sst_read.c, sst_iter.c, sst_verify.c).
**
** block.c knows how to lay out and walk one block of sorted entries (the
** content format is documented at the top of block.c); the sst_*.c files
** frame, compress, checksum and index those blocks. Nothing outside these
** files and their tests includes this header.
*/
#ifndef KV_SST_INT_H
#define KV_SST_INT_H

#include "kvInt.h"

/* Key comparator used to search a block: <0, 0, >0 like memcmp. */
typedef int (*KvKeyCmp)(const u8 *a, size_t na, const u8 *b, size_t nb);

/*
** Block builder. Entries must be added in strictly ascending key order
** (the caller's comparator); every nRestart-th entry stores its key whole
** and becomes a restart point.
*/
typedef struct KvBlockBuilder KvBlockBuilder;
struct KvBlockBuilder {
  KvBuf buf;                    /* encoded entries, then the restart array */
  KvBuf aRestart;               /* u32 offsets of restart entries */
  KvBuf lastKey;                /* key of the last entry added */
  int nRestart;                 /* entries per restart point (>= 1) */
  int nSinceRestart;            /* entries since the last restart point */
  u32 nEntry;                   /* entries in the block */
  int bFinished;                /* kvBlockBuilderFinish called */
};
void kvBlockBuilderInit(KvBlockBuilder *p, int nRestart);
int kvBlockBuilderAdd(KvBlockBuilder *p, const u8 *pKey, size_t nKey,
                      const u8 *pVal, size_t nVal);
/* Size of the block if it were finished now. */
size_t kvBlockBuilderSize(const KvBlockBuilder *p);
/* Bytes an entry would add (upper bound), to decide when to cut a block. */
size_t kvBlockEntryBound(size_t nKey, size_t nVal);
/* Append the restart array; the block is p->buf.a[0..p->buf.n). */
int kvBlockBuilderFinish(KvBlockBuilder *p);
void kvBlockBuilderReset(KvBlockBuilder *p);      /* empty, keeps memory */
void kvBlockBuilderFree(KvBlockBuilder *p);

/*
** A parsed block: a view of decoded bytes owned by someone else.
** kvBlockParse checks the restart array (so a block always holds at least
** one entry); entries are checked as they are decoded.
*/
typedef struct KvBlock KvBlock;
struct KvBlock {
  const u8 *a;                  /* block bytes */
  size_t nData;                 /* bytes of entries (restart array follows) */
  u32 nRestart;                 /* restart points (>= 1) */
  const u8 *aRestart;           /* nRestart little-endian u32 offsets */
  /* Optional search aid (kvBlockSetPrefixes), for internal keys: every
  ** restart key's user key starts with pCommon[0..nCommon), and aPfx[i]
  ** holds bytes [nCommon, nCommon+8) of restart key i's user key,
  ** big-endian, zero-padded. NULL when the block has none. */
  const u64 *aPfx;
  const u8 *pCommon;
  size_t nCommon;
};
int kvBlockParse(const u8 *a, size_t n, KvBlock *pBlock);
/* Give a parsed block of internal keys (kvSstCmp order) the search aid,
** in aPfx[0..nRestart) and aCommon[0..nCommonMax) (the caller's, to
** outlive the block's use). Returns 0, leaving the block as it was, if a
** restart key cannot be decoded or is too short to be an internal key. */
int kvBlockSetPrefixes(KvBlock *pBlock, u64 *aPfx, u8 *aCommon,
                       size_t nCommonMax);

/*
** Cursor over a parsed block. Movement returns KV_OK or KV_CORRUPT (a
** malformed entry; the cursor is then invalid and the message generic:
** the caller adds the file and the part). The block must outlive the
** cursor; key and value pointers are valid until the next movement.
*/
typedef struct KvBlockIter KvBlockIter;
struct KvBlockIter {
  const KvBlock *pBlock;
  KvKeyCmp xCmp;
  size_t iOff;                  /* offset of the current entry */
  size_t iNext;                 /* offset just past the current entry */
  u32 iRestart;                 /* restart region holding the current one */
  size_t iRestartEnd;           /* where that region ends: the next restart
                                ** point, or nData */
  KvBuf key;                    /* current key, prefix expanded; in
                                ** aKeySpace until a key outgrows it */
  const u8 *pVal;               /* current value */
  size_t nVal;
  int bValid;
  u8 aKeySpace[64];             /* so short keys cost no allocation (the
                                ** cursor must stay where it was set up) */
};
void kvBlockIterInit(KvBlockIter *p, const KvBlock *pBlock, KvKeyCmp xCmp);
void kvBlockIterClear(KvBlockIter *p);            /* frees the key buffer */
int kvBlockIterFirst(KvBlockIter *p);
int kvBlockIterLast(KvBlockIter *p);
int kvBlockIterSeek(KvBlockIter *p, const u8 *pKey, size_t nKey); /* >= */
int kvBlockIterNext(KvBlockIter *p);              /* REQUIRES: valid */
int kvBlockIterPrev(KvBlockIter *p);              /* REQUIRES: valid */


/****************************************************************************
** SSTables (sst_build.c, sst_read.c, sst_iter.c, sst_verify.c): the format
** constants and the structures the four files share. The file format is
** documented at the top of sst_build.c.
*/
#include <zlib.h>

#define SST_MAGIC       0x3174737376766bULL   /* "kvvsst1" */
#define SST_FOOTER      80                    /* format version 1 */
#define SST_FOOTER2     96                    /* format version 2 */
#define SST_TRAILER     5                     /* type + crc per block */
#define SST_TYPE_RAW    0
#define SST_TYPE_ZLIB   1
/* Largest block (raw or inflated). Any entry a WAL record can hold (its
** payload is at most 1 GiB, log.c) must fit in one data block, or a store
** holding it in its WAL could never flush it and so never open (#17);
** 1 MiB above that covers the entry's own framing and the block's. */
#define SST_MAX_BLOCK   (((u64)1 << 30) + ((u64)1 << 20))
/* KvSst.eFilter */
#define SST_FILTER_UNREAD  0            /* not read yet (or its read failed) */
#define SST_FILTER_LOADING 1            /* one thread is reading it */
#define SST_FILTER_READY   2            /* aFilter and bloom usable */
#define SST_META_FIXED  (7*8)

typedef struct SstHandle SstHandle;
struct SstHandle {
  u64 iOff;                     /* offset of the framed block in the file */
  u64 nStored;                  /* payload + type + crc */
  u64 nRaw;                     /* size of the block after inflating */
};

typedef struct SstChunk SstChunk;
struct SstChunk {
  const u8 *pKey;               /* last separator of the chunk: aKey, or in
                                ** aSummary when longer than aKey */
  size_t nKey;
  u64 iOff;                     /* absolute offset of the framed chunk */
  u64 nStored;
  u8 aKey[32];                  /* so that a summary search step touches one
                                ** cache line (KvSst.aChunk is 64-aligned) */
};

typedef struct SstBlock SstBlock;
struct KvSst {
  KvEnv *pEnv;
  char *zPath;                  /* for messages */
  u64 iCacheId;                 /* cache key: unique per open table */
  KvFile *pFile;
  const u8 *aMap;               /* the whole file mapped, or NULL: pread */
  /* With the file mapped ("Mapped reads" in sst_read.c): */
  _Atomic(SstBlock*) *apChunk;  /* nChunk index chunks, parsed on first use */
  _Atomic u64 *aSeen;           /* offsets + 1 of data blocks whose CRC was
                                ** checked: open addressing, mSeen+1 slots */
  u64 mSeen;
  KvCache *pCache;              /* may be NULL */
  KvReadCounters *pCounters;    /* may be NULL */
  u64 nFile;                    /* file size */
  u64 iIndexOff, nIndex;        /* Index part; Data is [0, iIndexOff) */
  u8 *aSummary;                 /* Summary part (chunk keys point in it) */
  int nChunk;
  int bVerify;                  /* kvSstSetVerify (read by every block
                                ** load: beside the other fields a lookup
                                ** reads, in what was padding) */
  SstChunk *aChunk;             /* 64-byte aligned in aChunkMem */
  void *aChunkMem;
  u8 *aFilter;                  /* Filter part, NULL until loaded: 64-byte
                                ** aligned in aFilterMem (bloom.c's lines) */
  u8 *aFilterMem;               /* the allocation holding aFilter */
  size_t nFilter;               /* bytes of filter (CRC excluded) */
  KvBloom bloom;                /* aFilter ready for probing */
  u64 iFilterOff, nFilterPart;  /* the Filter part in the file (nFilterPart
                                ** 0: none), read on the first point read
                                ** (kvSstFilterLoad): scans never use it */
  _Atomic int eFilter;          /* SST_FILTER_*: aFilter .. bloom are set
                                ** before it becomes READY (release) */
  u8 *aMetaPart;                /* Metadata part */
  const u8 *aLeaf;              /* meta.nDataBlock leaves, in aMetaPart */
  KvSstMeta meta;
  int iFormat;                  /* format version of the file */
  u8 *aRdPart;                  /* RangeDel part, NULL if none */
  u64 nRdPart;                  /* its size, CRC included */
  KvRdList rd;                  /* its tombstones (keys in aRdPart) */
  _Atomic u8 *aRegion;          /* read-ahead: what was read of each 64 KiB
                                ** of a mapped file (sst_read.c), or NULL */
  u64 nRegion;
};

/* A block read from the file: decoded bytes and their parsed view. It is
** the value held by the block cache. */
struct SstBlock {
  u8 *a;                        /* decoded bytes */
  u64 nRaw;
  int bMapped;                  /* a points into KvSst.aMap: not ours */
  KvBlock blk;
};

/* A block in use: a cache handle, a private copy, or borrowed (an index
** chunk the table keeps, or a mapped block described in `local`). */
typedef struct SstRef SstRef;
struct SstRef {
  SstBlock *pBlock;
  KvCacheHandle *pH;
  int bBorrowed;                /* pBlock is not ours to free */
  u64 iOff;                     /* offset it was read from */
  SstBlock local;               /* pBlock for a mapped block used in place */
};

/* A scan's read-ahead window ("Read-ahead" in sst_read.c): file bytes
** read with xRead into a buffer the iterator borrows from a pool, and
** how the iterator has been moving through the data blocks. */
#define SST_AHEAD_MIN   (16*1024)       /* first window of a run */
#define SST_AHEAD_MAX   (256*1024)      /* the buffer; windows double to it */
typedef struct SstAhead SstAhead;
struct SstAhead {
  u8 *a;                        /* SST_AHEAD_MAX bytes, or NULL */
  u64 iTable;                   /* KvSst.iCacheId of the bytes in a[], or
                                ** of the table last read; 0 none */
  u64 iOff, n;                  /* a[] holds the file's [iOff, iOff+n) */
  u64 iPrevOff, iPrevEnd;       /* the last data block loaded */
  u64 nWin;                     /* size of the next window */
  u64 qLo, qHi;                 /* pieces the run's xReads were charged */
  int bPieces;                  /* (qLo..qHi set) */
  int nRun;                     /* consecutive blocks loaded in direction
                                ** bFwd (0: the last load was a seek) */
  int bFwd;
  int bOff;                     /* not for this table (it compresses) */
  u64 iDoneLo, iDoneHi;         /* blocks of a[] decoded already: a second
                                ** decode is rent (kvSstLoadAhead) */
};

typedef struct SstIter SstIter;
struct SstIter {
  KvIter base;
  KvSst *pSst;                  /* table read; NULL before a run iterator
                                ** is first positioned */
  int iChunk;                   /* chunk held in idxRef; with nothing held,
                                ** -1 or nChunk (before / after all) */
  SstRef idxRef;
  KvBlockIter idx;              /* cursor in the index chunk */
  SstRef dataRef;               /* data block, pBlock NULL if none */
  KvBlockIter data;             /* cursor in the data block */
  int bBulk;                    /* KV_SST_BULK */
  int bLevel;                   /* reads a run of tables, not one table */
  KvSstRun run;                 /* the run (bLevel) */
  int iFile;                    /* index of pSst in the run */
  int bAhead;                   /* may read ahead (scans: kvSstIterNew) */
  SstAhead ahead;
};

/* Defined in sst_read.c (reading blocks) and sst_iter.c (the iterator,
** which sst_verify.c walks a table with). */
int kvSstCorruptBlock(const KvSst *p, int bIndex, u64 iOff,
                      const char *zWhy);
int kvSstCorruptPart(const KvSst *p, const char *zPart, const char *zWhy);
int kvSstDecodeHandle(KvSst *p, const KvBlockIter *pIdx, SstHandle *pH);
int kvSstLoadBlock(KvSst *p, const SstHandle *pH, int bIndex, int bBulk,
                   SstRef *pRef);
int kvSstLoadMappedChunk(KvSst *p, int iChunk, const SstHandle *pH,
                         SstRef *pRef);
int kvSstLoadAhead(KvSst *p, const SstHandle *pH, int bBulk, int bSeek,
                   SstAhead *w, SstRef *pRef, int *pbDone);
void kvSstAheadRelease(SstAhead *w);
int kvSstReadBlock(KvSst *p, const SstHandle *pH, int bIndex,
                   int bUseMap, u8 *aLeaf, SstBlock **ppBlock);
void kvSstRefRelease(KvSst *p, SstRef *pRef);
void kvSstBlockFree(void *pArg);
int kvSstIterBlockRc(SstIter *p, int rc, int bIndex);
void kvSstIterClear(SstIter *p);
void kvSstIterInit(SstIter *p, KvSst *pSst);
int kvSstIterLoadChunk(SstIter *p, int iChunk);
int kvSstCmp(const u8 *a, size_t na, const u8 *b, size_t nb);
/* kvSstCmp inline: the block cursor's seeks compare with it directly
** instead of through the cursor's xCmp pointer (doc/readpath.md). */
static inline int kvSstCmpInline(const u8 *a, size_t na, const u8 *b,
                                 size_t nb){
  if( na<KV_TRAILER || nb<KV_TRAILER ) return kvUKeyCmp(a, na, b, nb);
  return kvIKeyCmpInline(a, na, b, nb);
}
voidpf kvSstZAlloc(voidpf opaque, uInt nItem, uInt nSize);
void kvSstZFree(voidpf opaque, voidpf p);

#endif /* KV_SST_INT_H */
