/*
** memtable.c - the in-memory write buffer: a skip list of internal keys
** (user key + 8-byte trailer, ordered as kvIKeyCmp says) with their values,
** allocated from an arena that is freed all at once.
**
** Thread safety. The invariants that make lock-free reads sound:
**
**   1. One writer at a time. Callers serialize kvMemAdd (the db write path
**      holds its mutex or is the single writer); nothing else mutates.
**   2. Nodes are never removed or changed once linked. A node's key, value
**      and height are written before the node is published, and the
**      arena memory lives until the last reference is dropped.
**   3. A node is published by a release store of the predecessor's next
**      pointer, level 0 first and then upward. Readers load next pointers
**      with acquire, so a reader that reaches a node sees its contents and
**      its own next pointers as they were when it was linked (or newer).
**      Level 0 always holds every linked node, so a reader that follows
**      level 0 sees a sorted list; higher levels are only shortcuts.
**   4. The list height is read and written relaxed: a reader that sees a
**      new height before the head's new next pointers finds NULL there and
**      just drops down a level; one that sees an old height misses only
**      shortcuts.
**   5. The reference count (starting at 1 for the creator) is atomic; each
**      iterator holds a reference, so the arena outlives every reader that
**      took one.
**
** Entry counts and arena usage are atomic counters so that other threads
** can read them (statistics, flush decisions) without taking a lock.
**
** Key filter. A memtable made from a pool (the store's memtables) keeps a
** bloom filter of the user keys of its puts and point deletes, one bit per
** 16 bytes of the memtable's size (32 KiB for 4 MiB: about nine bits a key
** of 16-byte keys and 100-byte values, each taking some 160 bytes of
** arena), blocked as the SSTables' are (bloom.c): the probes of
** a key fall in one 64-byte line. kvMemMayHave answers "certainly not
** here" for most keys the memtable does not hold, sparing a point read the
** skip list's search, which misses the CPU's caches at most levels (a new
** key's INSERT checks for a duplicate first). The writer sets a key's bits
** before it publishes the node (invariant 3's release store), so a reader
** that may see the node sees its bits. The bits are read and written
** relaxed: one writer at a time (invariant 1) sets them, never clears them.
*/
#include "kvInt.h"

#include <stdalign.h>

#define MEM_MAX_HEIGHT 12         /* 4^12 entries before heights saturate */
#define MEM_BRANCH     4          /* 1 in 4 nodes rises a level */
#define MEM_BLOCK      (64*1024)  /* arena block size */
#define MEM_BIG        (MEM_BLOCK/4)  /* larger requests get their own block */
#define MEM_FILTER_RATIO 16       /* memtable bytes per filter bit */
#define MEM_FILTER_PROBES 6       /* bits a key sets in its line */

typedef struct MemNode MemNode;
typedef struct MemBlock MemBlock;
typedef struct MemRangeDel MemRangeDel;
typedef struct MemRun MemRun;

/* A range tombstone [lo, hi) at seq, in the arena, followed by lo and hi.
** Kept in a list beside the skip list: it is not an entry of any key. */
struct MemRangeDel {
  MemRangeDel *pNext;           /* older one (immutable once published) */
  u64 seq;
  size_t nLo, nHi;
};

/*
** A node holds what a search reads: the first 16 bytes of the user key (as
** two kvKeyPrefix8 words), where the entry lies, and its next pointers.
** The entry (value length, internal key, value) lies in a separate part of
** the arena (see "Arena"), so the nodes of a memtable sit close together:
** a search decides most comparisons from the node alone and reaches for
** the entry only on a tie of all 16 bytes (keys often share their first
** eight: "%016d", a table's prefix), and the lower levels it walks, which
** miss the CPU's caches in a list the size of a memtable, take fewer cache
** lines and pages than with the entries between them.
*/
struct MemNode {
  u64 aPrefix[2];               /* kvKeyPrefix8 of the user key at 0, 8 */
  const u8 *pEntry;             /* 4-byte value length, internal key, value */
  u32 nIKey;                    /* bytes of internal key */
  u32 nHeight;                  /* levels this node is linked at */
  _Atomic(MemNode*) apNext[];   /* nHeight next pointers */
};

/* Bytes of an entry's value-length field. */
#define MEM_VLEN 4

/* Arena blocks are chained so they can be freed together. The union keeps
** the payload aligned for MemNode. */
struct MemBlock {
  union {
    struct {
      MemBlock *pNext;
      size_t nPayload;          /* bytes after the header */
    } s;
    max_align_t align;
  } u;
};

/* Blocks of MEM_BLOCK bytes kept for the next memtable (see kvInt.h). */
struct KvMemPool {
  pthread_mutex_t mutex;
  _Atomic int nRef;             /* the creator's and each memtable's */
  MemBlock *pFree;              /* kept blocks (guarded by mutex) */
  size_t nFree;                 /* blocks on pFree */
  size_t nMax;                  /* most blocks kept */
};

/* Free space at the end of the block a run of allocations is taking. */
struct MemRun {
  u8 *pFree;
  size_t nFree;
};

struct KvMem {
  _Atomic int nRef;             /* references; starts at 1 */
  _Atomic int nHeight;          /* levels in use (1..MEM_MAX_HEIGHT) */
  MemNode *pHead;               /* sentinel, MEM_MAX_HEIGHT levels */
  _Atomic size_t nUsage;        /* arena bytes handed out to nodes (not
                                ** the unused tail of the current block, so
                                ** a fresh memtable is not already "full") */
  _Atomic u64 nEntry;           /* entries linked (range tombstones too) */
  _Atomic u64 maxPointSeq;      /* largest sequence of a put or point delete */
  _Atomic(MemRangeDel*) pRangeDel;  /* range tombstones, newest first:
                                ** published like nodes (invariant 3) */
  KvMemPool *pPool;             /* where blocks come from and go, or NULL */
  /* Writer-only state (invariant 1). */
  u64 iRand;                    /* PRNG state for node heights */
  MemNode *pLast;               /* node linked last, or NULL */
  MemNode *apSplice[MEM_MAX_HEIGHT];  /* the last node before pLast's
                                ** successor at each level: pLast below its
                                ** height, above it what the insert of pLast
                                ** passed (see findAfterLast) */
  MemBlock *pBlock;             /* every arena block, newest first */
  MemRun aRun[2];               /* MEM_NODES, MEM_ENTRIES (see "Arena") */
  /* Key filter (see the top of the file); aFilter NULL: none. */
  _Atomic(u64) *aFilter;        /* nFilterLine lines of 8 words, 64-aligned */
  void *pFilterAlloc;           /* ... the allocation it lies in */
  u32 nFilterLine;
};

/* ---------------------------------------------------------------------- */
/* Arena.                                                                  */

#define MEM_ALIGN (alignof(MemNode))
#define MEM_NODES   0             /* arena runs: skip list nodes */
#define MEM_ENTRIES 1             /* ... entries and range tombstones */

static size_t roundUp(size_t n){
  return (n + MEM_ALIGN - 1) & ~(MEM_ALIGN - 1);
}

int kvMemPoolNew(size_t nMaxBytes, KvMemPool **ppPool){
  KvMemPool *p = kvMallocZero(sizeof(*p));
  *ppPool = 0;
  if( p==0 ){
    return kvErr(KV_NOMEM, "kvstore: out of memory creating a memtable pool");
  }
  pthread_mutex_init(&p->mutex, 0);
  atomic_init(&p->nRef, 1);
  p->nMax = nMaxBytes/MEM_BLOCK;
  *ppPool = p;
  return KV_OK;
}

/* Free a chain of blocks (linked through pNext). */
static void freeBlocks(MemBlock *p){
  while( p ){
    MemBlock *pNext = p->u.s.pNext;
    kvFree(p);
    p = pNext;
  }
}

static void poolRef(KvMemPool *p){
  atomic_fetch_add_explicit(&p->nRef, 1, memory_order_relaxed);
}

void kvMemPoolUnref(KvMemPool *p){
  if( p==0 ) return;
  if( atomic_fetch_sub_explicit(&p->nRef, 1, memory_order_acq_rel)==1 ){
    freeBlocks(p->pFree);
    pthread_mutex_destroy(&p->mutex);
    kvFree(p);
  }
}

size_t kvMemPoolBytes(KvMemPool *p){
  size_t n;
  pthread_mutex_lock(&p->mutex);
  n = p->nFree*MEM_BLOCK;
  pthread_mutex_unlock(&p->mutex);
  return n;
}

/* A kept block of MEM_BLOCK bytes, or NULL when the pool has none. */
static MemBlock *poolTake(KvMemPool *p){
  MemBlock *pBlk;
  pthread_mutex_lock(&p->mutex);
  pBlk = p->pFree;
  if( pBlk ){
    p->pFree = pBlk->u.s.pNext;
    p->nFree--;
  }
  pthread_mutex_unlock(&p->mutex);
  return pBlk;
}

/* Give back a memtable's blocks (chained through pNext): the pool keeps
** standard ones up to its limit, the rest are freed. */
static void poolGive(KvMemPool *p, MemBlock *pList){
  MemBlock *pDrop = 0;
  pthread_mutex_lock(&p->mutex);
  while( pList ){
    MemBlock *pNext = pList->u.s.pNext;
    if( pList->u.s.nPayload==MEM_BLOCK && p->nFree<p->nMax ){
      pList->u.s.pNext = p->pFree;
      p->pFree = pList;
      p->nFree++;
    }else{
      pList->u.s.pNext = pDrop;
      pDrop = pList;
    }
    pList = pNext;
  }
  pthread_mutex_unlock(&p->mutex);
  freeBlocks(pDrop);
}

static MemBlock *newBlock(KvMem *pMem, size_t nPayload){
  MemBlock *p = 0;
  if( pMem->pPool && nPayload==MEM_BLOCK ) p = poolTake(pMem->pPool);
  if( p==0 ) p = kvMalloc(sizeof(MemBlock) + nPayload);
  if( p ){
    p->u.s.pNext = pMem->pBlock;
    p->u.s.nPayload = nPayload;
    pMem->pBlock = p;
  }
  return p;
}

/* Give run pRun a fresh block (from the pool when it has one). */
static int runNewBlock(KvMem *pMem, MemRun *pRun){
  MemBlock *pBlk = newBlock(pMem, MEM_BLOCK);
  if( pBlk==0 ) return KV_NOMEM;
  pRun->pFree = (u8*)&pBlk[1];
  pRun->nFree = MEM_BLOCK;
  return KV_OK;
}

/* Allocate n bytes aligned for a MemNode from run iRun (MEM_NODES: skip
** list nodes, MEM_ENTRIES: everything else, each run filling blocks of its
** own); NULL on OOM. A big request gets a block of its own so the current
** block's free space is not wasted. The bytes are not counted in nUsage:
** arenaCount does that once every allocation of an add has succeeded, so
** a failed add leaves the usage as it was. */
static void *arenaAlloc(KvMem *pMem, int iRun, size_t n){
  MemRun *pRun = &pMem->aRun[iRun];
  u8 *p;
  n = roundUp(n);
  if( n>MEM_BIG ){
    MemBlock *pBlk = newBlock(pMem, n);
    return pBlk ? (void*)&pBlk[1] : 0;
  }
  if( n>pRun->nFree && runNewBlock(pMem, pRun) ) return 0;
  p = pRun->pFree;
  pRun->pFree += n;
  pRun->nFree -= n;
  return p;
}

static void arenaCount(KvMem *pMem, size_t n){
  atomic_fetch_add_explicit(&pMem->nUsage, roundUp(n), memory_order_relaxed);
}

/* ---------------------------------------------------------------------- */
/* Skip list.                                                              */

static const u8 *nodeKey(const MemNode *p){
  return p->pEntry + MEM_VLEN;
}

static const u8 *nodeVal(const MemNode *p){
  return nodeKey(p) + p->nIKey;
}

static size_t nodeValLen(const MemNode *p){
  return kvGet32(p->pEntry);
}

static MemNode *nextAt(MemNode *p, int i){
  return atomic_load_explicit(&p->apNext[i], memory_order_acquire);
}

static int listHeight(KvMem *pMem){
  return atomic_load_explicit(&pMem->nHeight, memory_order_relaxed);
}

/* The node prefix of a user key. */
static void keyPrefix(const u8 *pUKey, size_t nUKey, u64 *aPre){
  aPre[0] = kvKeyPrefix8(pUKey, nUKey, 0);
  aPre[1] = kvKeyPrefix8(pUKey, nUKey, 8);
}

/* Compare node p with the internal key (pUKey/nUKey, trailer) whose user
** key has prefix aPre (keyPrefix). Taking the target split lets kvMemGet
** search without building a key. */
static int nodeCmp(const MemNode *p, const u8 *pUKey, size_t nUKey,
                   u64 trailer, const u64 *aPre){
  const u8 *a;
  size_t na;
  int c;
  if( p->aPrefix[0]!=aPre[0] ) return p->aPrefix[0]<aPre[0] ? -1 : 1;
  if( p->aPrefix[1]!=aPre[1] ) return p->aPrefix[1]<aPre[1] ? -1 : 1;
  a = nodeKey(p);
  na = p->nIKey - KV_TRAILER;
  c = kvUKeyCmpShort(a, na, pUKey, nUKey);
  if( c==0 ){
    u64 t = kvGet64(a + na);
    c = t>trailer ? -1 : (t<trailer ? 1 : 0);
  }
  return c;
}

/* First node >= target, or NULL. When apPrev is not NULL it receives the
** last node < target at every level (the writer's insertion points); when
** ppLT is not NULL it receives the last node < target (the head if there
** is none), read in the same descent as the result. */
static MemNode *findGE(KvMem *pMem, const u8 *pUKey, size_t nUKey,
                       u64 trailer, MemNode **apPrev, MemNode **ppLT){
  MemNode *x = pMem->pHead;
  int i = listHeight(pMem) - 1;
  u64 aPre[2];
  keyPrefix(pUKey, nUKey, aPre);
  for(;;){
    MemNode *pNext = nextAt(x, i);
    if( pNext && nodeCmp(pNext, pUKey, nUKey, trailer, aPre)<0 ){
      x = pNext;
    }else{
      if( apPrev ) apPrev[i] = x;
      if( i==0 ){
        if( ppLT ) *ppLT = x;
        return pNext;
      }
      i--;
    }
  }
}

/* The writer's insertion points for a target above pLast, the node it
** linked last (keys applied in order: a sorted batch, a sequential load).
** apSplice[i] precedes the target at every level; at the lowest level i
** whose successor is at or past the target, and so at every level above
** it (each level's nodes are a subset of the level below's), it is the
** insertion point already. So climb from level 0 to that level and search
** down from there: a few nodes near the last insert, which are in the
** cache, instead of a descent from the head. */
static void findAfterLast(KvMem *pMem, const u8 *pUKey, size_t nUKey,
                          u64 trailer, const u64 *aPre, MemNode **apPrev){
  int top = listHeight(pMem) - 1;
  int i = 0, j;
  MemNode *x;
  while( i<top ){
    MemNode *pNext = nextAt(pMem->apSplice[i], i);
    if( pNext==0 || nodeCmp(pNext, pUKey, nUKey, trailer, aPre)>=0 ) break;
    i++;
  }
  for(j=top; j>i; j--) apPrev[j] = pMem->apSplice[j];
  x = pMem->apSplice[i];
  for(;;){
    MemNode *pNext = nextAt(x, i);
    if( pNext && nodeCmp(pNext, pUKey, nUKey, trailer, aPre)<0 ){
      x = pNext;
    }else{
      apPrev[i] = x;
      if( i==0 ) return;
      i--;
    }
  }
}

/* Last node < target, or the head if there is none. */
static MemNode *findLT(KvMem *pMem, const u8 *pUKey, size_t nUKey,
                       u64 trailer){
  MemNode *x = 0;
  findGE(pMem, pUKey, nUKey, trailer, 0, &x);
  return x;
}

/* Last node of the list, or the head if it is empty. */
static MemNode *findLast(KvMem *pMem){
  MemNode *x = pMem->pHead;
  int i = listHeight(pMem) - 1;
  for(;;){
    MemNode *pNext = nextAt(x, i);
    if( pNext ){
      x = pNext;
    }else{
      if( i==0 ) return x;
      i--;
    }
  }
}

static int randomHeight(KvMem *pMem){
  int h = 1;
  for(;;){
    u64 r;
    /* xorshift64: cheap, and deterministic per memtable for tests. */
    pMem->iRand ^= pMem->iRand << 13;
    pMem->iRand ^= pMem->iRand >> 7;
    pMem->iRand ^= pMem->iRand << 17;
    r = pMem->iRand;
    if( h>=MEM_MAX_HEIGHT || (r % MEM_BRANCH)!=0 ) break;
    h++;
  }
  return h;
}

/* ---------------------------------------------------------------------- */
/* Key filter.                                                             */

/* A filter for a memtable of about nBytes; none (every key "maybe") when
** the memory cannot be had. */
static void filterInit(KvMem *p, size_t nBytes){
  u64 nLine = nBytes/MEM_FILTER_RATIO/512;
  u64 i;
  if( nLine==0 ) nLine = 1;
  if( nLine>UINT32_MAX ) nLine = UINT32_MAX;
  p->pFilterAlloc = kvMalloc((size_t)nLine*64 + 64);
  if( p->pFilterAlloc==0 ) return;
  p->aFilter = (_Atomic(u64)*)(((uintptr_t)p->pFilterAlloc + 63)
                               & ~(uintptr_t)63);
  for(i=0; i<nLine*8; i++) atomic_init(&p->aFilter[i], 0);
  p->nFilterLine = (u32)nLine;
}

/* The line of key hash h (bloom.c's arithmetic, kvBloomLine). */
static _Atomic(u64) *filterLine(const KvMem *p, u32 h){
  return p->aFilter + 8*(size_t)kvBloomLine(h, p->nFilterLine);
}

static void filterAdd(KvMem *p, u32 h){
  _Atomic(u64) *a = filterLine(p, h);
  u32 x = h * KV_BLOOM_MIX;
  int j;
  for(j=0; j<MEM_FILTER_PROBES; j++, x *= KV_BLOOM_MIX){
    u32 b = kvBloomBit(x);
    u64 w = atomic_load_explicit(&a[b>>6], memory_order_relaxed);
    atomic_store_explicit(&a[b>>6], w | (1ull << (b & 63)),
                          memory_order_relaxed);
  }
}

int kvMemMayHave(KvMem *pMem, u32 hKey){
  const _Atomic(u64) *a;
  u32 x = hKey * KV_BLOOM_MIX;
  int j;
  if( pMem->aFilter==0 ) return 1;
  a = filterLine(pMem, hKey);
  for(j=0; j<MEM_FILTER_PROBES; j++, x *= KV_BLOOM_MIX){
    u32 b = kvBloomBit(x);
    if( (atomic_load_explicit(&a[b>>6], memory_order_relaxed)
         & (1ull << (b & 63)))==0 ){
      return 0;
    }
  }
  return 1;
}

/* ---------------------------------------------------------------------- */
/* Public (engine-internal) interface.                                     */

int kvMemNew(KvMem **ppMem){
  return kvMemNewPooled(0, ppMem);
}

int kvMemNewPooled(KvMemPool *pPool, KvMem **ppMem){
  const size_t nHead = sizeof(MemNode)
                       + MEM_MAX_HEIGHT*sizeof(_Atomic(MemNode*));
  KvMem *p = kvMallocZero(sizeof(*p));
  int rc = KV_OK;
  *ppMem = 0;
  if( p==0 ){
    return kvErr(KV_NOMEM, "kvstore: out of memory creating a memtable");
  }
  if( pPool ){
    poolRef(pPool);
    p->pPool = pPool;
    filterInit(p, pPool->nMax*(size_t)MEM_BLOCK);
  }
  atomic_init(&p->nRef, 1);
  atomic_init(&p->nHeight, 1);
  atomic_init(&p->nUsage, 0);
  atomic_init(&p->nEntry, 0);
  atomic_init(&p->maxPointSeq, 0);
  atomic_init(&p->pRangeDel, (MemRangeDel*)0);
  p->iRand = 0x2545F4914F6CDD1DULL;
  p->pHead = arenaAlloc(p, MEM_NODES, nHead);
  /* The entries' first block too: the first adds need no allocation, as
  ** when nodes and entries shared one block. */
  if( p->pHead && runNewBlock(p, &p->aRun[MEM_ENTRIES])==KV_OK ){
    arenaCount(p, nHead);
  }else{
    p->pHead = 0;
  }
  if( p->pHead==0 ){
    rc = kvErr(KV_NOMEM, "kvstore: out of memory creating a memtable");
    kvMemUnref(p);
  }else{
    int i;
    p->pHead->aPrefix[0] = p->pHead->aPrefix[1] = 0;
    p->pHead->pEntry = 0;
    p->pHead->nIKey = 0;
    p->pHead->nHeight = MEM_MAX_HEIGHT;
    for(i=0; i<MEM_MAX_HEIGHT; i++){
      atomic_init(&p->pHead->apNext[i], 0);
      p->apSplice[i] = p->pHead;
    }
    *ppMem = p;
  }
  return rc;
}

void kvMemRef(KvMem *pMem){
  atomic_fetch_add_explicit(&pMem->nRef, 1, memory_order_relaxed);
}

void kvMemUnref(KvMem *pMem){
  if( pMem==0 ) return;
  /* acq_rel: the last holder must see every other holder's use finished
  ** before it frees the arena. */
  if( atomic_fetch_sub_explicit(&pMem->nRef, 1, memory_order_acq_rel)==1 ){
    if( pMem->pPool ){
      poolGive(pMem->pPool, pMem->pBlock);
      kvMemPoolUnref(pMem->pPool);
    }else{
      freeBlocks(pMem->pBlock);
    }
    kvFree(pMem->pFilterAlloc);
    kvFree(pMem);
  }
}

int kvMemAdd(KvMem *pMem, u64 seq, int eType, const u8 *pKey, size_t nKey,
             const u8 *pVal, size_t nVal){
  MemNode *apPrev[MEM_MAX_HEIGHT];
  MemNode *pNode;
  u8 *pEntry;
  size_t nIKey = nKey + KV_TRAILER;
  u64 trailer = kvPackTrailer(seq, eType);
  int h = randomHeight(pMem);
  size_t nNode = sizeof(MemNode) + (size_t)h*sizeof(pNode->apNext[0]);
  int nOld;
  int i;
  u8 *pData;

  assert( seq<=KV_MAX_SEQ );
  if( eType==KV_TYPE_RANGEDEL ){
    /* key = lo, value = hi (batch.c) */
    MemRangeDel *pR;
    if( nKey>((size_t)-1)/4 || nVal>((size_t)-1)/4 ){
      return kvErr(KV_TOOBIG, "kvstore: memtable entry too large");
    }
    pR = arenaAlloc(pMem, MEM_ENTRIES, sizeof(MemRangeDel) + nKey + nVal);
    if( pR==0 ){
      return kvErr(KV_NOMEM, "kvstore: out of memory adding a range "
                   "tombstone to the memtable");
    }
    arenaCount(pMem, sizeof(MemRangeDel) + nKey + nVal);
    pR->seq = seq;
    pR->nLo = nKey;
    pR->nHi = nVal;
    if( nKey ) memcpy((u8*)&pR[1], pKey, nKey);
    if( nVal ) memcpy((u8*)&pR[1] + nKey, pVal, nVal);
    pR->pNext = atomic_load_explicit(&pMem->pRangeDel, memory_order_relaxed);
    atomic_store_explicit(&pMem->pRangeDel, pR, memory_order_release);
    atomic_fetch_add_explicit(&pMem->nEntry, 1, memory_order_relaxed);
    return KV_OK;
  }
  assert( eType==KV_TYPE_PUT || eType==KV_TYPE_DEL );
  assert( nKey==0 || pKey!=0 );
  assert( nVal==0 || pVal!=0 );

  /* Allocate before touching the list so that failure changes nothing. */
  if( nKey>(size_t)UINT32_MAX - KV_TRAILER || nVal>(size_t)UINT32_MAX
   || nIKey + nVal>((size_t)-1)/2 ){
    return kvErr(KV_TOOBIG, "kvstore: memtable entry too large");
  }
  pEntry = arenaAlloc(pMem, MEM_ENTRIES, MEM_VLEN + nIKey + nVal);
  pNode = pEntry ? arenaAlloc(pMem, MEM_NODES, nNode) : 0;
  if( pNode==0 ){
    return kvErr(KV_NOMEM, "kvstore: out of memory adding a %zu-byte entry "
                 "to the memtable", nIKey + nVal);
  }
  arenaCount(pMem, MEM_VLEN + nIKey + nVal);
  arenaCount(pMem, nNode);
  kvPut32(pEntry, (u32)nVal);
  pData = pEntry + MEM_VLEN;
  if( nKey>0 ) memcpy(pData, pKey, nKey);
  kvPut64(pData + nKey, trailer);
  if( nVal>0 ) memcpy(pData + nIKey, pVal, nVal);
  keyPrefix(pKey, nKey, pNode->aPrefix);
  pNode->pEntry = pEntry;
  pNode->nIKey = (u32)nIKey;
  pNode->nHeight = (u32)h;
  if( pMem->aFilter ) filterAdd(pMem, kvBloomHash(pKey, nKey));

  if( pMem->pLast
   && nodeCmp(pMem->pLast, pKey, nKey, trailer, pNode->aPrefix)<0 ){
    findAfterLast(pMem, pKey, nKey, trailer, pNode->aPrefix, apPrev);
  }else{
    findGE(pMem, pKey, nKey, trailer, apPrev, 0);
  }
  nOld = listHeight(pMem);
  if( h>nOld ){
    for(i=nOld; i<h; i++) apPrev[i] = pMem->pHead;
    atomic_store_explicit(&pMem->nHeight, h, memory_order_relaxed);
  }
  for(i=0; i<h; i++){
    /* The node is not reachable yet: a relaxed store suffices for its own
    ** pointer; the release store below publishes it together with its
    ** contents (invariant 3). */
    MemNode *pSucc = atomic_load_explicit(&apPrev[i]->apNext[i],
                                          memory_order_relaxed);
    atomic_init(&pNode->apNext[i], pSucc);
    atomic_store_explicit(&apPrev[i]->apNext[i], pNode, memory_order_release);
  }
  /* The splice for a next key above this one (findAfterLast). */
  nOld = listHeight(pMem);
  for(i=0; i<nOld; i++) pMem->apSplice[i] = i<h ? pNode : apPrev[i];
  pMem->pLast = pNode;
  atomic_fetch_add_explicit(&pMem->nEntry, 1, memory_order_relaxed);
  /* One writer at a time (invariant 1): a plain maximum. Published
  ** before the store's last sequence moves past seq. */
  if( seq>atomic_load_explicit(&pMem->maxPointSeq, memory_order_relaxed) ){
    atomic_store_explicit(&pMem->maxPointSeq, seq, memory_order_release);
  }
  return KV_OK;
}

int kvMemCheck(KvMem *pMem){
  MemNode *aLast[MEM_MAX_HEIGHT];     /* last node seen at each level */
  MemNode *p, *pPrev = 0;
  int nHeight = listHeight(pMem);
  int i;
  for(i=0; i<MEM_MAX_HEIGHT; i++) aLast[i] = pMem->pHead;
  for(p=nextAt(pMem->pHead, 0); p; pPrev=p, p=nextAt(p, 0)){
    if( (int)p->nHeight>nHeight ){
      return kvErr(KV_CORRUPT, "kvstore: memtable node taller than the list");
    }
    if( pPrev
     && nodeCmp(pPrev, nodeKey(p), p->nIKey - KV_TRAILER,
                kvGet64(nodeKey(p) + p->nIKey - KV_TRAILER), p->aPrefix)>=0 ){
      return kvErr(KV_CORRUPT, "kvstore: memtable level 0 out of order");
    }
    for(i=0; i<(int)p->nHeight; i++){
      if( nextAt(aLast[i], i)!=p ){
        return kvErr(KV_CORRUPT, "kvstore: memtable level %d skips or "
                     "misorders a node", i);
      }
      aLast[i] = p;
    }
  }
  for(i=0; i<MEM_MAX_HEIGHT; i++){
    if( nextAt(aLast[i], i) ){
      return kvErr(KV_CORRUPT, "kvstore: memtable level %d links a node "
                   "past the end of level 0", i);
    }
  }
  return KV_OK;
}

int kvMemGet(KvMem *pMem, const u8 *pKey, size_t nKey, u64 seq,
             int *peType, const u8 **ppVal, size_t *pnVal){
  MemNode *p;
  assert( seq<=KV_MAX_SEQ );
  /* (key, seq, PUT) is the largest trailer a visible entry can have, so
  ** the first node >= it is the newest version with sequence <= seq. */
  p = findGE(pMem, pKey, nKey, kvPackTrailer(seq, KV_TYPE_PUT), 0, 0);
  if( p==0
   || kvUKeyCmpShort(nodeKey(p), p->nIKey - KV_TRAILER, pKey, nKey)!=0 ){
    return 0;
  }
  if( peType ) *peType = kvIKeyType(nodeKey(p), p->nIKey);
  if( ppVal ) *ppVal = nodeVal(p);
  if( pnVal ) *pnVal = nodeValLen(p);
  return 1;
}

size_t kvMemUsage(KvMem *pMem){
  return atomic_load_explicit(&pMem->nUsage, memory_order_relaxed);
}

int kvMemRangeDels(KvMem *pMem, KvRdList *pOut){
  MemRangeDel *p = atomic_load_explicit(&pMem->pRangeDel, memory_order_acquire);
  int rc = KV_OK;
  for(; rc==KV_OK && p; p=p->pNext){
    const u8 *a = (const u8*)&p[1];
    rc = kvRdListAdd(pOut, a, p->nLo, a + p->nLo, p->nHi, p->seq);
  }
  return rc;
}

u64 kvMemCount(KvMem *pMem){
  return atomic_load_explicit(&pMem->nEntry, memory_order_relaxed);
}

int kvMemHasRangeDels(KvMem *pMem){
  return atomic_load_explicit(&pMem->pRangeDel, memory_order_acquire)!=0;
}

u64 kvMemMaxPointSeq(KvMem *pMem){
  return atomic_load_explicit(&pMem->maxPointSeq, memory_order_acquire);
}

/* ---------------------------------------------------------------------- */
/* Iterator.                                                               */

typedef struct MemIter MemIter;
struct MemIter {
  KvIter base;                  /* must be first */
  KvMem *pMem;                  /* holds a reference */
  MemNode *pNode;               /* current node; NULL when invalid */
};

/* The head sentinel stands for "before the first": report it as NULL. */
static MemNode *notHead(MemIter *p, MemNode *pNode){
  return pNode==p->pMem->pHead ? 0 : pNode;
}

/* Make pNode (or none) current and publish it. Going forward (a flush,
** a scan), each step reads a node and then its entry, two loads that miss
** the caches one after the other. So each step starts the loads of the
** next step's entry and of the node after it: the next node itself was
** started by the step before, and is in the cache by now. */
static int memIterAt(MemIter *p, MemNode *pNode){
  p->pNode = pNode;
  if( pNode ){
    MemNode *pNext = nextAt(pNode, 0);
    if( pNext ){
      MemNode *pAfter = nextAt(pNext, 0);
      __builtin_prefetch(pNext->pEntry);
      if( pAfter ) __builtin_prefetch(pAfter);
    }
    kvIterSet(&p->base, nodeKey(pNode), pNode->nIKey, nodeVal(pNode),
              nodeValLen(pNode));
  }else{
    kvIterSetInvalid(&p->base);
  }
  return KV_OK;
}

static int memIterFirst(KvIter *pIter){
  MemIter *p = (MemIter*)pIter;
  return memIterAt(p, nextAt(p->pMem->pHead, 0));
}

static int memIterLast(KvIter *pIter){
  MemIter *p = (MemIter*)pIter;
  return memIterAt(p, notHead(p, findLast(p->pMem)));
}

static int memIterSeek(KvIter *pIter, const u8 *pIKey, size_t nIKey){
  MemIter *p = (MemIter*)pIter;
  assert( nIKey>=KV_TRAILER );
  return memIterAt(p, findGE(p->pMem, pIKey, nIKey - KV_TRAILER,
                             kvGet64(pIKey + nIKey - KV_TRAILER), 0, 0));
}

static int memIterNext(KvIter *pIter){
  MemIter *p = (MemIter*)pIter;
  assert( p->pNode );
  return memIterAt(p, nextAt(p->pNode, 0));
}

/* There are no back pointers (they could not be published atomically with
** the forward ones): search for the last node before the current key. */
static int memIterPrev(KvIter *pIter){
  MemIter *p = (MemIter*)pIter;
  MemNode *pCur = p->pNode;
  size_t nUKey;
  assert( pCur );
  nUKey = pCur->nIKey - KV_TRAILER;
  return memIterAt(p, notHead(p, findLT(p->pMem, nodeKey(pCur), nUKey,
                                        kvGet64(nodeKey(pCur) + nUKey))));
}

static void memIterClose(KvIter *pIter){
  MemIter *p = (MemIter*)pIter;
  if( p ){
    kvMemUnref(p->pMem);
    kvFree(p);
  }
}

static const KvIterMethods memIterMethods = {
  memIterFirst, memIterLast, memIterSeek, memIterNext, memIterPrev,
  memIterClose
};

int kvMemIterNew(KvMem *pMem, KvIter **ppIter){
  MemIter *p = kvMallocZero(sizeof(*p));
  *ppIter = 0;
  if( p==0 ){
    return kvErr(KV_NOMEM, "kvstore: out of memory creating a memtable "
                           "iterator");
  }
  p->base.pMethods = &memIterMethods;
  p->pMem = pMem;
  kvMemRef(pMem);
  *ppIter = &p->base;
  return KV_OK;
}
