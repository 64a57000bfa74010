/*
** sst_int.h - private interface between block.c and sst.c.
**
** block.c knows how to lay out and walk one block of sorted entries (the
** content format is documented at the top of block.c); sst.c frames,
** compresses, checksums and indexes those blocks. Nothing outside the two
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
};
int kvBlockParse(const u8 *a, size_t n, KvBlock *pBlock);

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

#endif /* KV_SST_INT_H */
