/*
** sst_read.c - opening an SSTable (format at the top of sst_build.c) and
** reading its blocks, through the block cache or from the mapping.
*/
#include "sst_int.h"

#include <stdio.h>

/* Internal-key order, tolerant of keys too short to hold a trailer (only
** a damaged block holds them; cursors report those as corrupt). */
int kvSstCmp(const u8 *a, size_t na, const u8 *b, size_t nb){
  return kvSstCmpInline(a, na, b, nb);
}

voidpf kvSstZAlloc(voidpf opaque, uInt nItem, uInt nSize){
  (void)opaque;
  return kvMalloc((size_t)nItem * nSize);
}
void kvSstZFree(voidpf opaque, voidpf p){
  (void)opaque;
  kvFree(p);
}

void kvSstMetaFree(KvSstMeta *p){
  if( p ){
    kvBufFree(&p->smallest);
    kvBufFree(&p->largest);
  }
}

/****************************************************************************
** Reader.
*/

void kvSstBlockFree(void *pArg){
  SstBlock *p = (SstBlock*)pArg;
  if( p ){
    if( !p->bMapped ) kvFree(p->a);
    kvFree((void*)p->blk.aPfx);
    kvFree(p);
  }
}

void kvSstRefRelease(KvSst *p, SstRef *pRef){
  if( pRef->pH ){
    kvCacheRelease(p->pCache, pRef->pH);
  }else if( !pRef->bBorrowed ){
    kvSstBlockFree(pRef->pBlock);
  }
  pRef->pBlock = 0;
  pRef->pH = 0;
  pRef->bBorrowed = 0;
}

int kvSstCorruptPart(const KvSst *p, const char *zPart, const char *zWhy){
  return kvErr(KV_CORRUPT, "kvstore: '%s': corrupt %s: %s",
               p->zPath, zPart, zWhy);
}
int kvSstCorruptBlock(const KvSst *p, int bIndex, u64 iOff,
                      const char *zWhy){
  if( bIndex ){
    return kvErr(KV_CORRUPT, "kvstore: '%s': corrupt index: chunk at "
                 "offset %llu: %s", p->zPath, (unsigned long long)iOff, zWhy);
  }
  return kvErr(KV_CORRUPT, "kvstore: '%s': corrupt data block at offset "
               "%llu: %s", p->zPath, (unsigned long long)iOff, zWhy);
}

/* Read exactly n bytes at iOff; a short read is damage to part zPart. */
static int readExact(KvSst *p, u64 iOff, u8 *a, size_t n, const char *zPart){
  size_t nRead = 0;
  int rc = p->pEnv->xRead(p->pFile, iOff, a, n, &nRead);
  if( rc==KV_OK && nRead!=n ) rc = kvSstCorruptPart(p, zPart, "file truncated");
  return rc;
}

/* Inflate exactly nOut bytes from a[0..n). KV_CORRUPT if the stream is
** bad or does not decode to exactly nOut bytes. */
static int sstInflate(const u8 *a, size_t n, u8 *aOut, size_t nOut){
  z_stream z;
  int zrc;
  int bOk;
  memset(&z, 0, sizeof(z));
  z.zalloc = kvSstZAlloc;
  z.zfree = kvSstZFree;
  if( inflateInit2(&z, -15)!=Z_OK ){
    return kvErr(KV_NOMEM, "kvstore: out of memory starting zlib");
  }
  z.next_in = (Bytef*)a;
  z.avail_in = (uInt)n;
  z.next_out = aOut;
  z.avail_out = (uInt)nOut;
  zrc = inflate(&z, Z_FINISH);
  bOk = zrc==Z_STREAM_END && z.avail_out==0 && z.avail_in==0;
  inflateEnd(&z);
  if( zrc==Z_MEM_ERROR ){
    return kvErr(KV_NOMEM, "kvstore: out of memory inflating a block");
  }
  return bOk ? KV_OK : KV_CORRUPT;
}

/*
** Check and decode the stored bytes aStored of the framed block at pH into
** *pBlock (the caller's; left empty on failure): its CRC, type and sizes,
** the layout of what it holds. If aLeaf is not NULL, also hash the stored
** bytes into it. A raw block is used in place (SstBlock.bMapped: read-only,
** not ours) unless *paOwned is our copy of the stored bytes, which it then
** takes (*paOwned set to NULL); a compressed one is inflated into a buffer
** of its own. Every read of a block ends here: from the map, from the
** file (readBlockInto) or from a scan's read-ahead window (aheadDecode).
*/
static int blockDecode(KvSst *p, const SstHandle *pH, int bIndex,
                       const u8 *aStored, u8 **paOwned, u8 *aLeaf,
                       SstBlock *pBlock){
  size_t nPay = (size_t)(pH->nStored - SST_TRAILER);
  u8 eType;
  int rc = KV_OK;

  memset(pBlock, 0, sizeof(*pBlock));
  if( pH->nRaw>SST_MAX_BLOCK || pH->nRaw<8 ){
    return kvSstCorruptBlock(p, bIndex, pH->iOff, "bad block handle");
  }
  if( kvCrc32(aStored, nPay + 1)!=kvGet32(aStored + nPay + 1) ){
    return kvSstCorruptBlock(p, bIndex, pH->iOff, "checksum mismatch");
  }
  if( aLeaf ) kvSha256(aStored, (size_t)pH->nStored, aLeaf);
  eType = aStored[nPay];
  if( eType==SST_TYPE_RAW ){
    if( (u64)nPay!=pH->nRaw ){
      return kvSstCorruptBlock(p, bIndex, pH->iOff, "size mismatch");
    }
    if( paOwned && *paOwned ){
      pBlock->a = *paOwned;           /* the payload is the block */
      *paOwned = 0;
    }else{
      pBlock->a = (u8*)aStored;       /* read-only use only */
      pBlock->bMapped = 1;
    }
  }else if( eType==SST_TYPE_ZLIB && !bIndex ){
    /* the builder keeps zlib output only when it is smaller */
    if( (u64)nPay>=pH->nRaw ){
      return kvSstCorruptBlock(p, bIndex, pH->iOff, "size mismatch");
    }
    pBlock->a = kvMalloc((size_t)pH->nRaw);
    if( pBlock->a==0 ) return kvErrNoMem();
    rc = sstInflate(aStored, nPay, pBlock->a, (size_t)pH->nRaw);
    if( rc==KV_CORRUPT ){
      rc = kvSstCorruptBlock(p, bIndex, pH->iOff, "bad compressed data");
    }
  }else{
    return kvSstCorruptBlock(p, bIndex, pH->iOff, "unknown block type");
  }
  if( rc==KV_OK ){
    pBlock->nRaw = pH->nRaw;
    rc = kvBlockParse(pBlock->a, (size_t)pH->nRaw, &pBlock->blk);
    if( rc!=KV_OK ) rc = kvSstCorruptBlock(p, bIndex, pH->iOff, "bad layout");
  }
  if( rc!=KV_OK ){
    if( !pBlock->bMapped ) kvFree(pBlock->a);
    memset(pBlock, 0, sizeof(*pBlock));
  }
  return rc;
}

/*
** Read, check and decode the framed block at pH from the file (never the
** cache). If aLeaf is not NULL, also hash the stored bytes into it. With
** the file mapped, the stored bytes are not copied, and an uncompressed
** block is used in place (SstBlock.bMapped). *pBlock is the caller's; on
** failure it is left empty.
*/
static int readBlockInto(KvSst *p, const SstHandle *pH, int bIndex,
                         int bUseMap, u8 *aLeaf, SstBlock *pBlock){
  u64 iEnd = bIndex ? p->iIndexOff + p->nIndex : p->iIndexOff;
  u64 iStart = bIndex ? p->iIndexOff : 0;
  u8 *aRead = 0;                /* our copy of the stored bytes, if any */
  int rc;

  memset(pBlock, 0, sizeof(*pBlock));
  if( pH->iOff<iStart || pH->iOff>iEnd || pH->nStored>iEnd - pH->iOff
   || pH->nStored<=SST_TRAILER || pH->nStored>SST_MAX_BLOCK+SST_TRAILER ){
    return kvSstCorruptBlock(p, bIndex, pH->iOff, "bad block handle");
  }
  if( bUseMap && p->aMap ){
    return blockDecode(p, pH, bIndex, p->aMap + pH->iOff, 0, aLeaf, pBlock);
  }
  aRead = kvMalloc((size_t)pH->nStored);
  if( aRead==0 ) return kvErrNoMem();
  rc = readExact(p, pH->iOff, aRead, (size_t)pH->nStored,
                 bIndex ? "index" : "data block");
  if( rc==KV_OK ) rc = blockDecode(p, pH, bIndex, aRead, &aRead, aLeaf, pBlock);
  kvFree(aRead);
  return rc;
}

/* readBlockInto() a new SstBlock (*ppBlock, NULL on failure). */
int kvSstReadBlock(KvSst *p, const SstHandle *pH, int bIndex,
                   int bUseMap, u8 *aLeaf, SstBlock **ppBlock){
  SstBlock *pBlock = kvMalloc(sizeof(*pBlock));
  int rc;
  *ppBlock = 0;
  if( pBlock==0 ) return kvErrNoMem();
  rc = readBlockInto(p, pH, bIndex, bUseMap, aLeaf, pBlock);
  if( rc==KV_OK ){
    *ppBlock = pBlock;
  }else{
    kvFree(pBlock);
  }
  return rc;
}

/*
** Mapped reads. With the file mapped, uncompressed blocks are used where
** they lie, and what the block cache would save (the copy, the CRC check)
** is saved without it: index chunks are parsed once and kept by the table
** (apChunk), and the table remembers which data blocks it has checked
** (aSeen), so a block's CRC is computed the first time the table reads
** it. The bytes themselves are the OS page cache's. Compressed blocks still
** go through the block cache, which holds them inflated.
*/
static u64 seenSlot(const KvSst *p, u64 iOff){
  return (iOff * 0x9e3779b97f4a7c15ull >> 20) & p->mSeen;
}
#define SST_PREFETCH_MAX (16*1024)
#define SST_SEEN_PROBES 32      /* a full neighbourhood: just check again */
static int seenHas(const KvSst *p, u64 iOff){
  u64 i = seenSlot(p, iOff);
  int n;
  for(n=0; n<SST_SEEN_PROBES; n++, i=(i+1) & p->mSeen){
    u64 v = atomic_load_explicit(&p->aSeen[i], memory_order_acquire);
    if( v==iOff+1 ) return 1;
    if( v==0 ) return 0;
  }
  return 0;
}
static void seenAdd(KvSst *p, u64 iOff){
  u64 i = seenSlot(p, iOff);
  int n;
  for(n=0; n<SST_SEEN_PROBES; n++, i=(i+1) & p->mSeen){
    u64 v = 0;
    if( atomic_compare_exchange_strong_explicit(&p->aSeen[i], &v, iOff+1,
            memory_order_acq_rel, memory_order_acquire) || v==iOff+1 ){
      return;
    }
  }
}

/* Set up mapped reads for a table whose file is mapped (at open). */
static int mappedInit(KvSst *p){
  u64 nSlot = 64;
  u64 i;
  while( nSlot < 2*p->meta.nDataBlock ) nSlot *= 2;
  p->apChunk = kvMallocZero(sizeof(p->apChunk[0]) * (size_t)(p->nChunk + 1));
  p->aSeen = kvMalloc(sizeof(p->aSeen[0]) * (size_t)nSlot);
  if( p->apChunk==0 || p->aSeen==0 ){
    return kvErrNoMem();
  }
  for(i=0; i<nSlot; i++) atomic_init(&p->aSeen[i], 0);
  for(i=0; i<(u64)p->nChunk; i++) atomic_init(&p->apChunk[i], 0);
  p->mSeen = nSlot - 1;
  return KV_OK;
}

/*
** Use the mapped data block at pH in place if it is stored uncompressed:
** sets *pbDone and fills pRef. Otherwise (*pbDone 0) the caller reads it.
*/
static int loadMapped(KvSst *p, const SstHandle *pH, int *pbDone,
                      SstRef *pRef){
  SstBlock *pB = &pRef->local;
  int rc;
  *pbDone = 0;
  if( pH->nStored<=SST_TRAILER || pH->iOff>p->iIndexOff
   || pH->nStored>p->iIndexOff - pH->iOff ){
    return KV_OK;               /* kvSstReadBlock() reports it */
  }
  if( pH->nStored<=SST_PREFETCH_MAX ){
    /* The block is most likely not in the CPU's caches: ask for all of
    ** it at once, so the misses of the restart array, the restart points
    ** and the scan overlap instead of following one another. */
    const u8 *a = p->aMap + pH->iOff;
    u64 i;
    /* eight lines a step: the one-line loop's own instructions were a
    ** twentieth of a point lookup's (doc/readpath.md), four lines a step
    ** still 130 instructions of a lookup's 3,500 (doc/getpath.md) */
    u64 nLine = (pH->nStored + 63)/64;
    for(i=0; i+8<=nLine; i+=8){
      const u8 *q = a + 64*i;
      __builtin_prefetch(q);
      __builtin_prefetch(q + 64);
      __builtin_prefetch(q + 128);
      __builtin_prefetch(q + 192);
      __builtin_prefetch(q + 256);
      __builtin_prefetch(q + 320);
      __builtin_prefetch(q + 384);
      __builtin_prefetch(q + 448);
    }
    for(; i<nLine; i++) __builtin_prefetch(a + 64*i);
  }
  if( p->aMap[pH->iOff + pH->nStored - SST_TRAILER]!=SST_TYPE_RAW ){
    return KV_OK;               /* compressed: through the cache */
  }
  if( seenHas(p, pH->iOff) ){
    memset(pB, 0, sizeof(*pB));
    pB->a = (u8*)(p->aMap + pH->iOff);
    pB->nRaw = pH->nRaw;
    pB->bMapped = 1;
    rc = kvBlockParse(pB->a, (size_t)pB->nRaw, &pB->blk);
    if( rc!=KV_OK ) return kvSstCorruptBlock(p, 0, pH->iOff, "bad layout");
  }else{
    rc = readBlockInto(p, pH, 0, 1, 0, pB);     /* checks, in place */
    if( rc!=KV_OK ) return rc;
    seenAdd(p, pH->iOff);
    if( p->pCounters ){
      atomic_fetch_add_explicit(&p->pCounters->nBlockRead, 1,
                                memory_order_relaxed);
    }
  }
  pRef->pBlock = pB;
  pRef->bBorrowed = 1;
  *pbDone = 1;
  return KV_OK;
}

/* Bytes of common key prefix a chunk's search aid keeps (block.c). */
#define SST_AID_COMMON 48

/* Index chunk iChunk of a mapped table, parsed once and kept. */
int kvSstLoadMappedChunk(KvSst *p, int iChunk, const SstHandle *pH,
                         SstRef *pRef){
  SstBlock *pB = atomic_load_explicit(&p->apChunk[iChunk],
                                      memory_order_acquire);
  if( pB==0 ){
    SstBlock *pOld = 0;
    int rc = kvSstReadBlock(p, pH, 1, 1, 0, &pB);
    u64 *aPfx;
    if( rc!=KV_OK ) return rc;
    /* The search aid of a kept chunk (block.c): optional, so a chunk
    ** without it (no memory, or keys it cannot describe) is searched the
    ** usual way. */
    aPfx = kvMalloc(sizeof(u64) * pB->blk.nRestart + SST_AID_COMMON);
    if( aPfx && !kvBlockSetPrefixes(&pB->blk, aPfx,
                                    (u8*)(aPfx + pB->blk.nRestart),
                                    SST_AID_COMMON) ){
      kvFree(aPfx);
    }
    if( !atomic_compare_exchange_strong_explicit(&p->apChunk[iChunk], &pOld,
            pB, memory_order_acq_rel, memory_order_acquire) ){
      kvSstBlockFree(pB);         /* another reader was first */
      pB = pOld;
    }
  }
  pRef->pBlock = pB;
  pRef->bBorrowed = 1;
  pRef->iOff = pH->iOff;
  return KV_OK;
}

/* Get the block at pH, through the cache when there is one, unless bBulk
** (see KV_SST_BULK). */
int kvSstLoadBlock(KvSst *p, const SstHandle *pH, int bIndex, int bBulk,
                   SstRef *pRef){
  SstBlock *pBlock = 0;
  int rc;
  pRef->pBlock = 0;
  pRef->pH = 0;
  pRef->bBorrowed = 0;
  pRef->iOff = pH->iOff;
  /* verify_checksums: a data block is read and checked on every use, as
  ** a bulk read is, so a byte changed after its first read is caught. */
  if( p->bVerify && !bIndex ) bBulk = 1;
  if( p->aMap && !bBulk && !bIndex ){
    int bDone = 0;
    rc = loadMapped(p, pH, &bDone, pRef);
    if( rc!=KV_OK || bDone ) return rc;
  }
  if( p->pCache && !bBulk ){
    KvCacheHandle *pHit = kvCacheLookup(p->pCache, p->iCacheId, pH->iOff);
    if( pHit ){
      pBlock = (SstBlock*)kvCacheValue(pHit);
      if( pBlock->nRaw!=pH->nRaw ){
        kvCacheRelease(p->pCache, pHit);
        return kvSstCorruptBlock(p, bIndex, pH->iOff, "size mismatch");
      }
      pRef->pBlock = pBlock;
      pRef->pH = pHit;
      return KV_OK;
    }
  }
  rc = kvSstReadBlock(p, pH, bIndex, !bBulk, 0, &pBlock);
  if( rc==KV_OK && !bIndex && p->pCounters ){
    atomic_fetch_add_explicit(&p->pCounters->nBlockRead, 1,
                              memory_order_relaxed);
  }
  if( rc==KV_OK && p->pCache && !bBulk ){
    /* A block used in place in the map costs the cache only its
    ** descriptor: the bytes are the OS page cache's. Caching it still
    ** saves checking its CRC and restart array again. */
    size_t nCharge = sizeof(SstBlock);
    if( !pBlock->bMapped ) nCharge += (size_t)pBlock->nRaw;
    rc = kvCacheInsert(p->pCache, p->iCacheId, pH->iOff, pBlock, nCharge,
                       kvSstBlockFree, &pRef->pH);
    if( rc!=KV_OK ) pBlock = 0;         /* freed by the cache */
  }
  pRef->pBlock = pBlock;
  return rc;
}

/****************************************************************************
** Read-ahead (doc/scanread.md). On a virtual machine the first touch of a
** mapped page is dear (page faults: about 2.5 us a page when read in
** order, 20 us and more for a lone page, whose fault maps 64 KiB around
** it), while xRead of the same bytes into a buffer already touched costs
** about 0.7 us a page in 256 KiB pieces and 3 us for a lone 4 KiB block.
** So a scan (an iterator from kvSstIterNew, never a point read) reads the
** data blocks of a mapped file that the process has not touched yet with
** xRead: a block alone after a seek, then growing windows (SST_AHEAD_MIN
** doubling to SST_AHEAD_MAX) while it steps from block to block in either
** direction. Each block from a window is checked (CRC, layout) as a first
** read from the map is, and used in the window; nothing from it is added
** to the table's aSeen (which means "checked and touched in the map").
**
** Once the mapping is touched, reading it costs next to nothing, and xRead
** costs a copy every time. Which is cheaper depends on how often the bytes
** are read again, so this rents before it buys: each 64 KiB region of
** the file (KvSst.aRegion) counts the xRead it has cost, one unit per 16
** KiB piece of it a read reached, and once that reaches
** SST_AHEAD_RENT (about what one page fault of the region costs) it is
** read in the map and marked so, as it is at once when aSeen holds the
** block (a point read or an earlier scan touched it). A whole scan pays 4
** units per region, so the fourth reads in the map; a lone block after a
** seek costs 2 units, so the seventh does. A workload that reads the store once pays xRead only; one that
** reads it over and over pays the map's first touch once, plus a few
** reads: at most about twice the best choice made knowing the future (the
** ski-rental bound).
**
** Buffers come from a small pool (fresh anonymous pages cost 10-14 us a
** page here, and glibc gives large freed blocks back to the system): an
** iterator takes one for its first xRead and gives it back when it runs
** off its end or closes; the pool is emptied when the last table closes.
** Compressed tables keep reading through the block cache, except for bulk
** (KV_SST_BULK and verify_checksums) reads, which use windows always.
*/
#define SST_REGION_SHIFT  16            /* 64 KiB: the kernel's fault-around */
#define SST_REG_RENT      0x7f          /* rent paid: xRead units, below */
#define SST_REG_MAPPED    0x80          /* read in the map from now on */
#define SST_RENT_UNIT     (16*1024)     /* a unit: xRead of a 16 KiB piece
                                        ** of the region (2-5 us here) */
#define SST_AHEAD_RENT    12            /* units before the map (a page
                                        ** fault of a region: 25-40 us) */
#define SST_RENT_LONE     2             /* units of a lone block's read */
#define SST_POOL_MAX      16            /* buffers kept: 4 MiB */

static pthread_mutex_t gAheadMutex = PTHREAD_MUTEX_INITIALIZER;
static u8 *gaAheadPool[SST_POOL_MAX];
static int gnAheadPool;
static int gnAheadTable;                /* tables open */

/* Counting open tables: the pool goes with the last one. */
static void aheadTableOpened(void){
  pthread_mutex_lock(&gAheadMutex);
  gnAheadTable++;
  pthread_mutex_unlock(&gAheadMutex);
}
static void aheadTableClosed(void){
  u8 *aFree[SST_POOL_MAX];
  int nFree = 0, i;
  pthread_mutex_lock(&gAheadMutex);
  if( --gnAheadTable==0 ){
    for(i=0; i<gnAheadPool; i++) aFree[nFree++] = gaAheadPool[i];
    gnAheadPool = 0;
  }
  pthread_mutex_unlock(&gAheadMutex);
  for(i=0; i<nFree; i++) kvFree(aFree[i]);
}

/* Give the window's buffer back to the pool (or free it). */
void kvSstAheadRelease(SstAhead *w){
  u8 *a = w->a;
  if( a==0 ) return;
  w->a = 0;
  w->n = 0;
  pthread_mutex_lock(&gAheadMutex);
  if( gnAheadPool<SST_POOL_MAX && gnAheadTable>0 ){
    gaAheadPool[gnAheadPool++] = a;
    a = 0;
  }
  pthread_mutex_unlock(&gAheadMutex);
  kvFree(a);
}

/* A buffer for the window; 0 if there is no memory (the caller then reads
** as it would without read-ahead). */
static int aheadBuffer(SstAhead *w){
  if( w->a ) return 1;
  pthread_mutex_lock(&gAheadMutex);
  if( gnAheadPool>0 ) w->a = gaAheadPool[--gnAheadPool];
  pthread_mutex_unlock(&gAheadMutex);
  if( w->a==0 ) w->a = kvMalloc(SST_AHEAD_MAX);
  return w->a!=0;
}

/* The region array of a mapped table (at open). */
static int aheadInit(KvSst *p){
  u64 i;
  p->nRegion = (p->iIndexOff >> SST_REGION_SHIFT) + 1;
  p->aRegion = kvMalloc(sizeof(p->aRegion[0]) * (size_t)p->nRegion);
  if( p->aRegion==0 ) return kvErrNoMem();
  for(i=0; i<p->nRegion; i++) atomic_init(&p->aRegion[i], 0);
  return KV_OK;
}
static u8 regionGet(const KvSst *p, u64 iOff){
  return atomic_load_explicit(&p->aRegion[iOff >> SST_REGION_SHIFT],
                              memory_order_relaxed);
}
/* Mark the region of file offset iOff mapped. (Only that one: marking
** the next region too for a block that ends in it would carry the mark
** from region to region through a scan.) */
static void regionMap(KvSst *p, u64 iOff){
  atomic_fetch_or_explicit(&p->aRegion[iOff >> SST_REGION_SHIFT],
                           SST_REG_MAPPED, memory_order_relaxed);
}

/* Should the map serve the scan's block at iOff, not a window? Yes when
** its region is mapped or the block was checked in the map, or when the
** region has paid its rent (it is marked mapped now), unless bDecided: a
** window before reached the region and the question was settled then. */
static int aheadUseMap(KvSst *p, u64 iOff, int bDecided){
  u8 v = regionGet(p, iOff);
  if( (v & SST_REG_MAPPED) || seenHas(p, iOff) ) return 1;
  if( !bDecided && (v & SST_REG_RENT)>=SST_AHEAD_RENT ){
    regionMap(p, iOff);
    return 1;
  }
  return 0;
}

/* Charge the regions of file bytes [iLo, iHi), just read with xRead into
** w, a unit per SST_RENT_UNIT-aligned piece the read reached, but for
** the pieces the windows before in the same run charged (windows meet
** inside a block, read twice): a whole pass costs a region 4 units. A
** lone block after a seek costs SST_RENT_LONE units a piece: against a
** page fault, which maps the whole region, xRead of a lone block is
** dearer per byte than a window's. */
static void regionRent(KvSst *p, SstAhead *w, u64 iLo, u64 iHi, int bRun){
  u64 q0 = iLo/SST_RENT_UNIT, q1 = (iHi - 1)/SST_RENT_UNIT;
  u64 q;
  u8 nAdd = bRun ? 1 : SST_RENT_LONE;
  if( bRun && w->bPieces ){
    if( w->bFwd ){
      if( q0<=w->qHi ) q0 = w->qHi + 1;
    }else{
      if( q1>=w->qLo ){
        if( w->qLo==0 ) return;
        q1 = w->qLo - 1;
      }
    }
  }else{
    w->qLo = q0;
    w->qHi = q1;
    w->bPieces = 1;
  }
  for(q=q0; q<=q1; q++){
    u64 r = q*SST_RENT_UNIT >> SST_REGION_SHIFT;
    u8 v = atomic_load_explicit(&p->aRegion[r], memory_order_relaxed);
    /* (a lost race only miscounts a heuristic) */
    if( (v & SST_REG_RENT)<=SST_REG_RENT - nAdd ){
      atomic_store_explicit(&p->aRegion[r], (u8)(v + nAdd),
                            memory_order_relaxed);
    }
  }
  if( q0<w->qLo ) w->qLo = q0;
  if( q1>w->qHi ) w->qHi = q1;
}

/* Check and decode the stored block at pH, whose bytes are aStored (in the
** window), into pRef: raw blocks used in place, compressed ones inflated
** into a block of their own. */
static int aheadDecode(KvSst *p, const SstHandle *pH, const u8 *aStored,
                       SstRef *pRef){
  SstBlock *pB = &pRef->local;
  int rc = blockDecode(p, pH, 0, aStored, 0, 0, pB);
  if( rc!=KV_OK ) return rc;
  if( !pB->bMapped ){
    /* inflated: a block of its own, freed with the reference */
    pB = kvMalloc(sizeof(*pB));
    if( pB==0 ){
      kvFree(pRef->local.a);
      memset(&pRef->local, 0, sizeof(pRef->local));
      return kvErrNoMem();
    }
    *pB = pRef->local;
    memset(&pRef->local, 0, sizeof(pRef->local));
  }
  pRef->pBlock = pB;
  pRef->bBorrowed = pB==&pRef->local;
  if( p->pCounters ){
    atomic_fetch_add_explicit(&p->pCounters->nBlockRead, 1,
                              memory_order_relaxed);
  }
  return KV_OK;
}

/*
** Load data block pH of a scan from its read-ahead window w, reading the
** window first if it must and should. bSeek: the block is loaded for a
** seek. *pbDone is 0 when the block is to be read the ordinary way
** (kvSstLoadBlock): in the map, from the cache, or for a handle this does
** not take (the ordinary read reports a bad one). pRef must be empty.
*/
int kvSstLoadAhead(KvSst *p, const SstHandle *pH, int bBulk, int bSeek,
                   SstAhead *w, SstRef *pRef, int *pbDone){
  u64 iEnd = pH->iOff + pH->nStored;
  u64 iLo, iHi;                 /* the window to read */
  size_t nRead = 0;
  int bFwd = 1, nRun = 0;
  int rc;

  *pbDone = 0;
  if( p->bVerify ) bBulk = 1;   /* every use read and checked: a window */
  if( pH->nStored<=SST_TRAILER || pH->nStored>SST_AHEAD_MAX
   || pH->iOff>p->iIndexOff || pH->nStored>p->iIndexOff - pH->iOff ){
    return KV_OK;
  }
  if( !bBulk && (p->aMap==0 || p->aRegion==0) ) return KV_OK;

  /* How the scan moves: forward or back from the block before, or going
  ** on into this table from the end of the one before (a run). A seek
  ** starts none, even next to the block before: an iterator sought again
  ** and again for short scans (a reused SQL cursor) would otherwise take
  ** each seek for the turn of a run, whose regions are never judged for
  ** the map (bDecided below), and read the same windows every time. */
  if( w->iTable!=p->iCacheId ){
    if( !bSeek && w->nRun>0 && w->bFwd && pH->iOff==0 ){
      nRun = w->nRun + 1;
    }else if( !bSeek && w->nRun>0 && !w->bFwd && iEnd==p->iIndexOff ){
      nRun = w->nRun + 1;
      bFwd = 0;
    }
    w->n = 0;                   /* (another table's bytes) */
    w->bOff = 0;
    w->bPieces = 0;
  }else if( bSeek ){
    /* (nRun 0) */
  }else if( w->iPrevEnd==pH->iOff ){
    nRun = (w->nRun>0 && w->bFwd) ? w->nRun + 1 : 1;
  }else if( iEnd==w->iPrevOff ){
    nRun = (w->nRun>0 && !w->bFwd) ? w->nRun + 1 : 1;
    bFwd = 0;
  }
  if( nRun==0 || bFwd!=w->bFwd ){
    w->nWin = SST_AHEAD_MIN;
    w->bPieces = 0;
  }
  w->iTable = p->iCacheId;
  w->iPrevOff = pH->iOff;
  w->iPrevEnd = iEnd;
  w->nRun = nRun;
  w->bFwd = bFwd;
  if( w->bOff ) return KV_OK;

  if( w->a==0 || pH->iOff<w->iOff || iEnd>w->iOff + w->n ){
    /* Not in the window: read one, or let the map serve the block. */
    if( !bBulk ){
      /* (a region the window before reached was decided then) */
      u64 r = pH->iOff >> SST_REGION_SHIFT;
      int bDecided = nRun>0 && w->n>0 && r>=w->iOff >> SST_REGION_SHIFT
                  && r<=(w->iOff + w->n - 1) >> SST_REGION_SHIFT;
      if( aheadUseMap(p, pH->iOff, bDecided) ) return KV_OK;
    }
    if( !aheadBuffer(w) ) return KV_OK;   /* (no memory: the map) */
    if( nRun==0 && !bBulk ){
      iLo = pH->iOff;           /* after a seek: the block alone */
      iHi = iEnd;
    }else{
      u64 nWin = bBulk ? SST_AHEAD_MAX : w->nWin;
      if( nWin<pH->nStored ) nWin = pH->nStored;
      if( bFwd ){
        iLo = pH->iOff;
        iHi = nWin<p->iIndexOff - iLo ? iLo + nWin : p->iIndexOff;
      }else{
        iHi = iEnd;
        iLo = iHi>nWin ? iHi - nWin : 0;
      }
      if( w->nWin<SST_AHEAD_MAX ) w->nWin *= 2;
    }
    w->n = 0;
    rc = p->pEnv->xRead(p->pFile, iLo, w->a, (size_t)(iHi - iLo), &nRead);
    if( rc==KV_OK && nRead!=iHi - iLo ){
      rc = kvSstCorruptPart(p, "data block", "file truncated");
    }
    if( rc!=KV_OK ) return rc;
    w->iOff = iLo;
    w->n = iHi - iLo;
    w->iDoneLo = w->iDoneHi = pH->iOff;
    if( !bBulk ) regionRent(p, w, iLo, iHi, nRun>0);
  }else if( !bBulk && pH->iOff>=w->iDoneLo && iEnd<=w->iDoneHi ){
    /* Decoded from these bytes before: the window is at hand, but a
    ** second decode checks the block again (CRC). That is rent, as a lone
    ** read is, so a place read over and over (short scans sought to the
    ** same spot) goes to the map, checked once, instead of being checked
    ** from the window every time. */
    if( aheadUseMap(p, pH->iOff, 0) ) return KV_OK;
    regionRent(p, w, pH->iOff, iEnd, 0);
  }
  if( !bBulk && w->a[pH->iOff - w->iOff + pH->nStored - SST_TRAILER]
                !=SST_TYPE_RAW ){
    /* A compressed table: its blocks go through the block cache. */
    w->bOff = 1;
    return KV_OK;
  }
  rc = aheadDecode(p, pH, w->a + (pH->iOff - w->iOff), pRef);
  if( rc==KV_OK ){
    pRef->iOff = pH->iOff;
    *pbDone = 1;
    if( iEnd>=w->iDoneLo && pH->iOff<=w->iDoneHi ){
      if( pH->iOff<w->iDoneLo ) w->iDoneLo = pH->iOff;
      if( iEnd>w->iDoneHi ) w->iDoneHi = iEnd;
    }else{
      w->iDoneLo = pH->iOff;
      w->iDoneHi = iEnd;
    }
  }
  return rc;
}

/* Decode an index entry's value into a data block handle. */
int kvSstDecodeHandle(KvSst *p, const KvBlockIter *pIdx, SstHandle *pH){
  const u8 *a = pIdx->pVal;
  const u8 *pEnd = a + pIdx->nVal;
  int n = kvGetVarint(a, pEnd, &pH->iOff);
  if( n>0 ){ a += n; n = kvGetVarint(a, pEnd, &pH->nStored); }
  if( n>0 ){ a += n; n = kvGetVarint(a, pEnd, &pH->nRaw); }
  if( n==0 || a+n!=pEnd ){
    return kvSstCorruptPart(p, "index", "bad block handle");
  }
  return KV_OK;
}

/* a[] is the last nFoot bytes of the file (nFoot = SST_FOOTER2, or
** SST_FOOTER for a file shorter than that). Fills aPart[0..10): the four
** parts of version 1, then the RangeDel part (size 0 in version 1). */
static int parseFooter(KvSst *p, const u8 *a, size_t nFoot, u64 *aPart){
  const u8 *pEnd = a + nFoot;
  u32 iVersion;
  u64 iRd = 0, nRd = 0;
  int i;
  if( kvGet64(pEnd-8)!=SST_MAGIC ){
    return kvSstCorruptPart(p, "footer", "bad magic number");
  }
  iVersion = kvGet32(pEnd-16);
  if( iVersion==KV_FORMAT_VERSION ){
    a = pEnd - SST_FOOTER;
    if( kvCrc32(a, 68)!=kvGet32(a+68) ){
      return kvSstCorruptPart(p, "footer", "checksum mismatch");
    }
  }else if( iVersion==KV_SST_FORMAT_RANGEDEL && nFoot>=SST_FOOTER2 ){
    a = pEnd - SST_FOOTER2;
    if( kvCrc32(a, 84)!=kvGet32(a+84) ){
      return kvSstCorruptPart(p, "footer", "checksum mismatch");
    }
    iRd = kvGet64(a+64);
    nRd = kvGet64(a+72);
  }else if( iVersion==KV_SST_FORMAT_RANGEDEL ){
    return kvSstCorruptPart(p, "footer", "file too short");
  }else{
    if( kvCrc32(pEnd-SST_FOOTER, 68)!=kvGet32(pEnd-12) ){
      return kvSstCorruptPart(p, "footer", "checksum mismatch");
    }
    return kvErr(KV_CORRUPT, "kvstore: '%s': corrupt footer: unsupported "
                 "format version %u", p->zPath, iVersion);
  }
  p->iFormat = (int)iVersion;
  for(i=0; i<8; i++) aPart[i] = kvGet64(a + i*8);
  aPart[8] = iRd;
  aPart[9] = nRd;
  /* The parts must tile [index offset, footer) in order: index, filter,
  ** range deletions, metadata, summary. */
  {
    static const int aOrder[5] = {0, 1, 4, 2, 3};
    u64 nFooter = iVersion==1 ? SST_FOOTER : SST_FOOTER2;
    for(i=0; i<5; i++){
      int j = aOrder[i];
      u64 iOff = aPart[j*2], nSize = aPart[j*2+1];
      u64 iNext = i<4 ? aPart[aOrder[i+1]*2] : p->nFile - nFooter;
      if( iVersion==1 && j==4 ) continue;
      if( iVersion==1 && j==1 ) iNext = aPart[4];
      if( iOff>p->nFile || nSize>p->nFile - iOff || iOff+nSize!=iNext ){
        return kvSstCorruptPart(p, "footer", "parts do not tile the file");
      }
    }
  }
  return KV_OK;
}

/* Read a part whole and check its trailing CRC32. */
/* Read part zPart into a new allocation *paMem, its bytes at *paOut:
** the allocation's start, or its first 64-byte boundary if bAlign. */
static int readPartAt(KvSst *p, u64 iOff, u64 nSize, const char *zPart,
                      int bAlign, u8 **paMem, u8 **paOut){
  u8 *aMem, *a;
  int rc = KV_OK;
  *paMem = *paOut = 0;
  if( nSize<4 ) return kvSstCorruptPart(p, zPart, "too short");
  aMem = kvMalloc((size_t)nSize + (bAlign ? 63 : 0));
  if( aMem==0 ) return kvErrNoMem();
  a = bAlign ? aMem + ((64 - (uintptr_t)aMem % 64) % 64) : aMem;
  rc = readExact(p, iOff, a, (size_t)nSize, zPart);
  if( rc==KV_OK && kvCrc32(a, (size_t)nSize-4)!=kvGet32(a + nSize - 4) ){
    rc = kvSstCorruptPart(p, zPart, "checksum mismatch");
  }
  if( rc!=KV_OK ){
    kvFree(aMem);
    aMem = a = 0;
  }
  *paMem = aMem;
  *paOut = a;
  return rc;
}
static int readPart(KvSst *p, u64 iOff, u64 nSize, const char *zPart,
                    u8 **paOut){
  u8 *aMem;
  return readPartAt(p, iOff, nSize, zPart, 0, &aMem, paOut);
}

static int parseSummary(KvSst *p, u64 nSize){
  const u8 *a = p->aSummary;
  const u8 *pEnd = a + nSize - 4;
  u64 nChunk, iExpect = 0;
  u64 v;
  int n, i;
  n = kvGetVarint(a, pEnd, &nChunk);
  /* each chunk takes at least 4 bytes here: a bound before allocating */
  if( n==0 || nChunk>(u64)(pEnd - a)/4 ){
    return kvSstCorruptPart(p, "summary", "bad chunk count");
  }
  a += n;
  p->aChunkMem = kvMallocZero(sizeof(SstChunk) * (size_t)(nChunk ? nChunk : 1)
                              + 63);
  if( p->aChunkMem==0 ) return kvErrNoMem();
  p->aChunk = (SstChunk*)((u8*)p->aChunkMem
                          + (64 - (uintptr_t)p->aChunkMem % 64) % 64);
  p->nChunk = (int)nChunk;
  for(i=0; i<p->nChunk; i++){
    SstChunk *pC = &p->aChunk[i];
    n = kvGetVarint(a, pEnd, &v);
    if( n==0 || v<KV_TRAILER || v>(u64)(pEnd - a - n) ) break;
    pC->pKey = a + n;
    pC->nKey = (size_t)v;
    if( v<=sizeof(pC->aKey) ){
      memcpy(pC->aKey, a + n, (size_t)v);
      pC->pKey = pC->aKey;
    }
    a += n + v;
    n = kvGetVarint(a, pEnd, &pC->iOff);
    if( n==0 ) break;
    a += n;
    n = kvGetVarint(a, pEnd, &pC->nStored);
    if( n==0 ) break;
    a += n;
    if( pC->iOff!=iExpect || pC->nStored>p->nIndex - iExpect ) break;
    iExpect += pC->nStored;
    pC->iOff += p->iIndexOff;
  }
  if( i<p->nChunk || iExpect!=p->nIndex ){
    return kvSstCorruptPart(p, "summary", "bad index chunk list");
  }
  for(i=0; i<2; i++){
    KvBuf *pKey = i==0 ? &p->meta.smallest : &p->meta.largest;
    int rc;
    n = kvGetVarint(a, pEnd, &v);
    if( n==0 || v>(u64)(pEnd - a - n) || (v>0 && v<KV_TRAILER)
     || (v==0)!=(nChunk==0) ){
      return kvSstCorruptPart(p, "summary", "bad first or last key");
    }
    rc = kvBufSet(pKey, a+n, (size_t)v);
    if( rc!=KV_OK ) return rc;
    a += n + v;
  }
  if( a!=pEnd ) return kvSstCorruptPart(p, "summary", "trailing bytes");
  return KV_OK;
}

static int parseMeta(KvSst *p, u64 nSize){
  const u8 *a = p->aMetaPart;
  KvSstMeta *m = &p->meta;
  if( nSize<SST_META_FIXED + 32 + 4 ){
    return kvSstCorruptPart(p, "metadata", "too short");
  }
  m->nEntry = kvGet64(a);
  m->nTombstone = kvGet64(a+8);
  m->minSeq = kvGet64(a+16);
  m->maxSeq = kvGet64(a+24);
  m->nCreated = kvGet64(a+32);
  m->nRawBytes = kvGet64(a+40);
  m->nDataBlock = kvGet64(a+48);
  if( m->nDataBlock>(nSize - SST_META_FIXED - 36)/32
   || SST_META_FIXED + m->nDataBlock*32 + 36!=nSize ){
    return kvSstCorruptPart(p, "metadata", "bad block count");
  }
  if( m->nTombstone>m->nEntry || (m->nEntry==0)!=(m->nDataBlock==0)
   || (m->nEntry==0)!=(p->nChunk==0) || m->nDataBlock>m->nEntry ){
    return kvSstCorruptPart(p, "metadata", "inconsistent counts");
  }
  p->aLeaf = a + SST_META_FIXED;
  /* The part's CRC covers leaves and root; that the root is the root of
  ** the data blocks' hashes is kvSstVerify's to check, not every open's
  ** (hashing the tree costs a table open more than the rest of it). */
  memcpy(m->aMerkle, a + SST_META_FIXED + m->nDataBlock*32, 32);
  return KV_OK;
}

void kvSstClose(KvSst *pSst){
  if( pSst==0 ) return;
  if( pSst->apChunk ){
    int i;
    for(i=0; i<pSst->nChunk; i++){
      kvSstBlockFree(atomic_load_explicit(&pSst->apChunk[i],
                                        memory_order_relaxed));
    }
    kvFree((void*)pSst->apChunk);
  }
  kvFree((void*)pSst->aSeen);
  kvFree((void*)pSst->aRegion);
  aheadTableClosed();
  if( pSst->pFile ) pSst->pEnv->xClose(pSst->pFile);
  kvFree(pSst->zPath);
  kvFree(pSst->aSummary);
  kvFree(pSst->aChunkMem);
  kvFree(pSst->aFilterMem);
  kvFree(pSst->aMetaPart);
  kvFree(pSst->aRdPart);
  kvRdListFree(&pSst->rd);
  kvSstMetaFree(&pSst->meta);
  kvFree(pSst);
}

static _Atomic u64 gSstCacheId;    /* last id given to an open table */

int kvSstOpen(KvEnv *pEnv, const char *zPath, KvCache *pCache,
              KvReadCounters *pCounters, KvSst **ppSst){
  KvFile *pFile = 0;
  int rc = pEnv->xOpen(pEnv, zPath, KV_OPEN_READ|KV_OPEN_IMMUTABLE, &pFile);
  *ppSst = 0;
  if( rc!=KV_OK ) return rc;
  return kvSstOpenFile(pEnv, zPath, pFile, pCache, pCounters, ppSst);
}

int kvSstOpenFile(KvEnv *pEnv, const char *zPath, KvFile *pFile,
                  KvCache *pCache, KvReadCounters *pCounters, KvSst **ppSst){
  KvSst *p;
  u8 aFoot[SST_FOOTER2];
  size_t nFoot = SST_FOOTER2;
  u64 aPart[10];
  int rc = KV_OK;

  *ppSst = 0;
  p = kvMallocZero(sizeof(*p));
  if( p==0 ){
    pEnv->xClose(pFile);
    return kvErrNoMem();
  }
  aheadTableOpened();
  p->pEnv = pEnv;
  p->pFile = pFile;
  p->iCacheId = atomic_fetch_add(&gSstCacheId, 1) + 1;
  p->pCache = pCache;
  p->pCounters = pCounters;
  p->zPath = kvStrdup(zPath);
  if( p->zPath==0 ) rc = kvErrNoMem();
  if( rc==KV_OK ) rc = pEnv->xSize(p->pFile, &p->nFile);
  if( rc==KV_OK && p->nFile<SST_FOOTER ){
    rc = kvSstCorruptPart(p, "footer", "file too short");
  }
  if( rc==KV_OK && p->nFile<SST_FOOTER2 ) nFoot = SST_FOOTER;
  if( rc==KV_OK ){
    rc = readExact(p, p->nFile - nFoot, aFoot, nFoot, "footer");
  }
  if( rc==KV_OK ) rc = parseFooter(p, aFoot, nFoot, aPart);
  if( rc==KV_OK && aPart[9]>0 ){
    rc = readPart(p, aPart[8], aPart[9], "range deletions", &p->aRdPart);
    p->nRdPart = aPart[9];
    if( rc==KV_OK
     && kvRdListDecode(p->aRdPart, (size_t)aPart[9] - 4, &p->rd)!=KV_OK ){
      rc = kvSstCorruptPart(p, "range deletions", "bad tombstone");
    }
    if( rc==KV_OK ) p->meta.nRangeDel = (u64)p->rd.n;
  }
  if( rc==KV_OK ){
    p->iIndexOff = aPart[0];
    p->nIndex = aPart[1];
    rc = readPart(p, aPart[6], aPart[7], "summary", &p->aSummary);
  }
  if( rc==KV_OK ) rc = parseSummary(p, aPart[7]);
  if( rc==KV_OK && aPart[3]>0 ){
    if( aPart[3]<=4 ){
      rc = kvSstCorruptPart(p, "filter", "empty filter");
    }
    p->iFilterOff = aPart[2];
    p->nFilterPart = aPart[3];
  }
  atomic_init(&p->eFilter, SST_FILTER_UNREAD);
  if( rc==KV_OK ){
    rc = readPart(p, aPart[4], aPart[5], "metadata", &p->aMetaPart);
  }
  if( rc==KV_OK ) rc = parseMeta(p, aPart[5]);
  if( rc==KV_OK && pEnv->xMap ) rc = pEnv->xMap(p->pFile, p->nFile, &p->aMap);
  if( rc==KV_OK && p->aMap ) rc = mappedInit(p);
  if( rc==KV_OK && p->aMap ) rc = aheadInit(p);
  if( rc==KV_OK ){
    p->meta.nFileSize = p->nFile;
    *ppSst = p;
  }else{
    kvSstClose(p);
  }
  return rc;
}

int kvSstFilterLoad(KvSst *p, int bWait){
  u8 *aMem = 0, *a = 0;
  int e = atomic_load_explicit(&p->eFilter, memory_order_acquire);
  int rc;
  if( e==SST_FILTER_READY || p->nFilterPart==0 ) return KV_OK;
  for(;;){
    e = SST_FILTER_UNREAD;
    if( atomic_compare_exchange_strong_explicit(&p->eFilter, &e,
            SST_FILTER_LOADING, memory_order_acquire,
            memory_order_acquire) ){
      break;                    /* this thread reads it */
    }
    if( e==SST_FILTER_READY || !bWait ) return KV_OK;
    p->pEnv->xSleepMicros(p->pEnv, 50);
  }
  rc = readPartAt(p, p->iFilterOff, p->nFilterPart, "filter", 1, &aMem, &a);
  if( rc==KV_OK ){
    p->aFilterMem = aMem;
    p->aFilter = a;
    p->nFilter = (size_t)p->nFilterPart - 4;
    kvBloomPrepare(&p->bloom, p->aFilter, p->nFilter);
    atomic_store_explicit(&p->eFilter, SST_FILTER_READY,
                          memory_order_release);
  }else{
    /* the next lookup reads it again and reports the same damage */
    atomic_store_explicit(&p->eFilter, SST_FILTER_UNREAD,
                          memory_order_release);
  }
  return rc;
}

int kvSstRangeDels(KvSst *pSst, KvRdList *pOut){
  int rc = KV_OK;
  int i;
  for(i=0; rc==KV_OK && i<pSst->rd.n; i++){
    const KvRangeTomb *t = &pSst->rd.a[i];
    rc = kvRdListAdd(pOut, t->pLo, t->nLo, t->pHi, t->nHi, t->seq);
  }
  return rc;
}

void kvSstSetVerify(KvSst *pSst, int bOn){
  pSst->bVerify = bOn;
}

const KvSstMeta *kvSstGetMeta(KvSst *pSst){
  return &pSst->meta;
}
