/*
** block.c - one block of sorted key/value entries: builder and cursor.
**
** SSTable data blocks and index chunks (sst_*.c) share this layout. A block,
** before sst_build.c compresses and frames it, is:
**
**     entry 0, entry 1, ... entry n-1
**     restart[0..nRestart)          fixed32 each: offset of a restart entry
**     nRestart                      fixed32, >= 1
**
** and each entry is
**
**     varint shared     bytes of key in common with the previous entry's key
**     varint unshared   bytes of key that follow
**     varint nVal
**     key[shared..shared+unshared)
**     value[0..nVal)
**
** Prefix compression would force a reader to decode from the start of the
** block to learn any key; so every nRestart-th entry (a restart point)
** stores its key whole (shared==0) and the restart array lists their
** offsets. A search binary-searches the restart keys and then scans at
** most nRestart entries; stepping backwards restarts from the nearest
** restart point before the current entry.
**
** The block's bytes come from disk, so nothing in them is trusted: every
** varint, length and offset is checked against the block's end and
** inconsistencies are reported as KV_CORRUPT, never read past.
*/
#include "sst_int.h"

/* ---------------------------------------------------------------------- */
/* Builder.                                                                */

void kvBlockBuilderInit(KvBlockBuilder *p, int nRestart){
  memset(p, 0, sizeof(*p));
  p->nRestart = nRestart<1 ? 1 : nRestart;
}

size_t kvBlockEntryBound(size_t nKey, size_t nVal){
  /* three varints, the bytes, and possibly one more restart slot */
  return 3*KV_MAX_VARINT + nKey + nVal + 4;
}

size_t kvBlockBuilderSize(const KvBlockBuilder *p){
  return p->buf.n + p->aRestart.n + 4;
}

int kvBlockBuilderAdd(KvBlockBuilder *p, const u8 *pKey, size_t nKey,
                      const u8 *pVal, size_t nVal){
  size_t nShared = 0;
  int rc = KV_OK;
  assert( p->bFinished==0 );
  if( p->buf.n + kvBlockEntryBound(nKey, nVal) > 0xffffffffu ){
    return kvErr(KV_TOOBIG, "kvstore: block entry too large (%zu bytes)",
                 nKey + nVal);
  }
  if( p->nEntry>0 && p->nSinceRestart<p->nRestart ){
    size_t nMax = nKey<p->lastKey.n ? nKey : p->lastKey.n;
    while( nShared<nMax && pKey[nShared]==p->lastKey.a[nShared] ) nShared++;
  }else{
    rc = kvBufAppend32(&p->aRestart, (u32)p->buf.n);
    p->nSinceRestart = 0;
  }
  /* One reservation for the whole entry, then plain stores (this runs
  ** once per row of every table written). */
  if( rc==KV_OK ) rc = kvBufReserve(&p->buf, 3*KV_MAX_VARINT + nKey + nVal);
  if( rc==KV_OK ){
    u8 *a = p->buf.a + p->buf.n;
    a += kvPutVarint(a, nShared);
    a += kvPutVarint(a, nKey - nShared);
    a += kvPutVarint(a, nVal);
    memcpy(a, pKey + nShared, nKey - nShared);
    a += nKey - nShared;
    if( nVal ) memcpy(a, pVal, nVal);
    a += nVal;
    p->buf.n = (size_t)(a - p->buf.a);
    rc = kvBufSet(&p->lastKey, pKey, nKey);
  }
  if( rc==KV_OK ){
    p->nSinceRestart++;
    p->nEntry++;
  }
  /* A failure leaves a half-written entry: the builder is then unusable,
  ** which the sst builder honours by failing for good. */
  return rc;
}

int kvBlockBuilderFinish(KvBlockBuilder *p){
  int rc;
  assert( p->nEntry>0 && p->bFinished==0 );
  rc = kvBufAppend(&p->buf, p->aRestart.a, p->aRestart.n);
  if( rc==KV_OK ) rc = kvBufAppend32(&p->buf, (u32)(p->aRestart.n/4));
  if( rc==KV_OK ) p->bFinished = 1;
  return rc;
}

void kvBlockBuilderReset(KvBlockBuilder *p){
  p->buf.n = 0;
  p->aRestart.n = 0;
  p->lastKey.n = 0;
  p->nSinceRestart = 0;
  p->nEntry = 0;
  p->bFinished = 0;
}

void kvBlockBuilderFree(KvBlockBuilder *p){
  kvBufFree(&p->buf);
  kvBufFree(&p->aRestart);
  kvBufFree(&p->lastKey);
}

/* ---------------------------------------------------------------------- */
/* Parsing.                                                                */

static int blockCorrupt(const char *zWhy){
  return kvErr(KV_CORRUPT, "kvstore: corrupt block: %s", zWhy);
}

int kvBlockParse(const u8 *a, size_t n, KvBlock *pBlock){
  u32 nRestart;
  size_t nData;
  u32 i;
  u32 iPrev = 0;
  memset(pBlock, 0, sizeof(*pBlock));
  if( n<8 ) return blockCorrupt("too short");
  nRestart = kvGet32(a + n - 4);
  if( nRestart==0 || nRestart>(n-4)/4 ){
    return blockCorrupt("bad restart count");
  }
  nData = n - 4 - (size_t)nRestart*4;
  for(i=0; i<nRestart; i++){
    u32 iOff = kvGet32(a + nData + (size_t)i*4);
    if( (i==0 && iOff!=0) || (i>0 && iOff<=iPrev) || iOff>=nData ){
      return blockCorrupt("bad restart offset");
    }
    iPrev = iOff;
  }
  pBlock->a = a;
  pBlock->nData = nData;
  pBlock->nRestart = nRestart;
  pBlock->aRestart = a + nData;
  return KV_OK;
}

static size_t restartOffset(const KvBlock *pBlock, u32 i){
  assert( i<pBlock->nRestart );
  return kvGet32(pBlock->aRestart + (size_t)i*4);
}

/*
** Decode the header of the entry at iOff: shared and unshared key lengths,
** value length and the offset of the key suffix. Checks that the entry
** lies inside the entry area.
*/
static inline int decodeHeader(const KvBlock *pBlock, size_t iOff,
                               u64 *pnShared, u64 *pnUnshared, u64 *pnVal,
                               size_t *piKey){
  const u8 *p = pBlock->a + iOff;
  const u8 *pEnd = pBlock->a + pBlock->nData;
  int n;
  if( iOff>=pBlock->nData ) return blockCorrupt("entry offset out of range");
  if( pEnd - p>=3 && (p[0] | p[1] | p[2])<0x80 ){
    /* Three one-byte varints: every entry of a block of short keys and
    ** values. Decoding them inline is most of the cost of a step. */
    *pnShared = p[0];
    *pnUnshared = p[1];
    *pnVal = p[2];
    p += 3;
  }else{
    n = kvGetVarint(p, pEnd, pnShared);
    if( n>0 ){ p += n; n = kvGetVarint(p, pEnd, pnUnshared); }
    if( n>0 ){ p += n; n = kvGetVarint(p, pEnd, pnVal); }
    if( n==0 ) return blockCorrupt("bad entry header");
    p += n;
  }
  if( *pnUnshared>(u64)(pEnd - p) || *pnVal>(u64)(pEnd - p) - *pnUnshared ){
    return blockCorrupt("entry overruns block");
  }
  *piKey = (size_t)(p - pBlock->a);
  return KV_OK;
}

/* ---------------------------------------------------------------------- */
/* Cursor.                                                                 */

void kvBlockIterInit(KvBlockIter *p, const KvBlock *pBlock, KvKeyCmp xCmp){
  memset(p, 0, sizeof(*p));
  p->pBlock = pBlock;
  p->xCmp = xCmp;
  p->key.a = p->aKeySpace;
  p->key.nAlloc = sizeof(p->aKeySpace);
}

void kvBlockIterClear(KvBlockIter *p){
  if( p->key.a!=p->aKeySpace ) kvBufFree(&p->key);
  p->key.a = p->aKeySpace;
  p->key.nAlloc = sizeof(p->aKeySpace);
  p->key.n = 0;
  p->bValid = 0;
}

/* Room for nExtra more bytes of key: the first time out of aKeySpace. */
static int keyReserve(KvBlockIter *p, size_t nExtra){
  if( p->key.a==p->aKeySpace ){
    KvBuf b = {0, 0, 0};
    int rc = kvBufReserve(&b, p->key.n + nExtra);
    if( rc!=KV_OK ) return rc;
    memcpy(b.a, p->aKeySpace, p->key.n);
    b.n = p->key.n;
    p->key = b;
    return KV_OK;
  }
  return kvBufReserve(&p->key, nExtra);
}

static int iterFail(KvBlockIter *p, int rc){
  p->bValid = 0;
  return rc;
}

/*
** Make the entry at iOff current. The key buffer must hold the previous
** entry's key (or nothing, at a restart point: bRestart). iRestart and
** iRestartEnd must already describe the restart region holding iOff.
*/
static inline int decodeAt(KvBlockIter *p, size_t iOff, int bRestart){
  const KvBlock *pBlock = p->pBlock;
  /* set on success only: zero for the compiler's flow analysis under LTO */
  u64 nShared = 0, nUnshared = 0, nVal = 0;
  size_t iKey = 0;
  int rc = decodeHeader(pBlock, iOff, &nShared, &nUnshared, &nVal, &iKey);
  if( rc==KV_OK ){
    if( nShared>p->key.n || (bRestart && nShared!=0) ){
      rc = blockCorrupt("bad shared key length");
    }
  }
  if( rc==KV_OK ){
    p->key.n = (size_t)nShared;
    /* one spare byte keeps key.a non-NULL even for an empty key; the
    ** buffer only grows, so the test below almost always passes */
    if( p->key.nAlloc<=p->key.n + (size_t)nUnshared ){
      rc = keyReserve(p, (size_t)nUnshared + 1);
    }
  }
  if( rc!=KV_OK ) return iterFail(p, rc);
  if( nUnshared>0 ){
    memcpy(p->key.a + p->key.n, pBlock->a + iKey, (size_t)nUnshared);
    p->key.n += (size_t)nUnshared;
  }
  p->iOff = iOff;
  p->pVal = pBlock->a + iKey + nUnshared;
  p->nVal = (size_t)nVal;
  p->iNext = iKey + (size_t)nUnshared + (size_t)nVal;
  p->bValid = 1;
  return KV_OK;
}

/* Make restart region i current: its bounds, and an empty key. */
static void setRestart(KvBlockIter *p, u32 i){
  const KvBlock *pBlock = p->pBlock;
  p->iRestart = i;
  p->iRestartEnd = i+1<pBlock->nRestart ? restartOffset(pBlock, i+1)
                                         : pBlock->nData;
  p->key.n = 0;
}

/* Position on restart point i (its key is stored whole). */
static int seekRestart(KvBlockIter *p, u32 i){
  setRestart(p, i);
  return decodeAt(p, restartOffset(p->pBlock, i), 1);
}

int kvBlockIterFirst(KvBlockIter *p){
  return seekRestart(p, 0);
}

/* kvBlockIterNext() the long way: a new restart region, long lengths,
** or anything to report. */
static __attribute__((noinline)) int nextSlow(KvBlockIter *p, size_t iOff){
  int bRestart = 0;
  if( iOff>=p->pBlock->nData ){
    p->bValid = 0;
    return KV_OK;
  }
  if( iOff>=p->iRestartEnd ){
    /* iRestartEnd < nData here: a next region starts at iRestartEnd */
    if( iOff>p->iRestartEnd ){
      return iterFail(p, blockCorrupt("restart inside entry"));
    }
    setRestart(p, p->iRestart+1);
    bRestart = 1;
  }
  return decodeAt(p, iOff, bRestart);
}

/* kvBlockIterNext's body, inline in the seek's scan. */
static inline __attribute__((always_inline)) int nextStep(KvBlockIter *p){
  const KvBlock *pBlock = p->pBlock;
  size_t iOff = p->iNext;
  assert( p->bValid );
  if( iOff<p->iRestartEnd && pBlock->nData - iOff>=3 ){
    /* The usual step, decodeAt() cut short: inside a restart region
    ** (which ends within the entry area), an entry whose three lengths
    ** are one byte each and that passes every check of decodeAt(). */
    const u8 *h = pBlock->a + iOff;
    if( (h[0] | h[1] | h[2])<0x80 ){
      size_t nShared = h[0], nUnshared = h[1], nVal = h[2];
      size_t iKey = iOff + 3;
      if( nShared<=p->key.n && nUnshared + nVal<=pBlock->nData - iKey
       && nShared + nUnshared<p->key.nAlloc ){
        memcpy(p->key.a + nShared, pBlock->a + iKey, nUnshared);
        p->key.n = nShared + nUnshared;
        p->iOff = iOff;
        p->pVal = pBlock->a + iKey + nUnshared;
        p->nVal = nVal;
        p->iNext = iKey + nUnshared + nVal;
        return KV_OK;
      }
    }
  }
  return nextSlow(p, iOff);
}

int kvBlockIterNext(KvBlockIter *p){
  return nextStep(p);
}

/* Scan forward from restart point iRestart to the last entry that ends at
** or before iEnd (the entry area's end, or the start of the current entry).
*/
static int scanTo(KvBlockIter *p, u32 iRestart, size_t iEnd){
  int rc = seekRestart(p, iRestart);
  while( rc==KV_OK && p->iNext<iEnd ){
    rc = kvBlockIterNext(p);
    if( rc==KV_OK && !p->bValid ) rc = blockCorrupt("lost entry boundary");
  }
  if( rc==KV_OK && p->iNext!=iEnd ) rc = blockCorrupt("lost entry boundary");
  return rc==KV_OK ? KV_OK : iterFail(p, rc);
}

int kvBlockIterLast(KvBlockIter *p){
  return scanTo(p, p->pBlock->nRestart-1, p->pBlock->nData);
}

int kvBlockIterPrev(KvBlockIter *p){
  const KvBlock *pBlock = p->pBlock;
  u32 i = p->iRestart;
  size_t iCur = p->iOff;
  assert( p->bValid );
  if( iCur==0 ){
    p->bValid = 0;
    return KV_OK;
  }
  while( restartOffset(pBlock, i)>=iCur ){
    assert( i>0 );   /* restart[0]==0 < iCur */
    i--;
  }
  return scanTo(p, i, iCur);
}

/* The user key of restart point i (0 if it cannot be decoded). */
static int restartUserKey(const KvBlock *pBlock, u32 i, const u8 **pa,
                          size_t *pn){
  u64 nShared = 0, nUnshared = 0, nVal = 0;
  size_t iKey = 0;
  if( decodeHeader(pBlock, restartOffset(pBlock, i), &nShared, &nUnshared,
                   &nVal, &iKey)!=KV_OK
   || nShared!=0 || nUnshared<KV_TRAILER ){
    return 0;
  }
  *pa = pBlock->a + iKey;
  *pn = (size_t)nUnshared - KV_TRAILER;
  return 1;
}

/*
** The search aid of an index chunk kept by its table (sst_read.c): its
** binary search over restart keys, one decode, one cache line and one
** key comparison a step, becomes a search over 8-byte numbers in one or
** two lines, and key comparisons only among restart points whose numbers
** equal the target's (doc/pointread.md). The user keys of a sorted block
** share the common prefix of its first and last; it is copied beside the
** numbers, so that a seek reads the block itself only where it lands.
*/
int kvBlockSetPrefixes(KvBlock *pBlock, u64 *aPfx, u8 *aCommon,
                       size_t nCommonMax){
  const u8 *aFirst = 0, *aLast = 0, *a = 0;
  size_t nFirst = 0, nLast = 0, n = 0, nCommon = 0;
  u32 i;
  if( !restartUserKey(pBlock, 0, &aFirst, &nFirst)
   || !restartUserKey(pBlock, pBlock->nRestart-1, &aLast, &nLast) ){
    return 0;
  }
  /* (any shorter prefix is common too: at most nCommonMax is kept) */
  while( nCommon<nFirst && nCommon<nLast && nCommon<nCommonMax
      && aFirst[nCommon]==aLast[nCommon] ){
    nCommon++;
  }
  for(i=0; i<pBlock->nRestart; i++){
    if( !restartUserKey(pBlock, i, &a, &n) ) return 0;
    aPfx[i] = kvKeyPrefix8(a, n, nCommon);
  }
  if( nCommon ) memcpy(aCommon, aFirst, nCommon);
  pBlock->aPfx = aPfx;
  pBlock->pCommon = aCommon;
  pBlock->nCommon = nCommon;
  return 1;
}

/*
** With the search aid, narrow the restart points a seek must compare to
** [*pLo, *pHi): those before are known to be < the target, those from *pHi
** on > it (an internal key's order is its user key's first).
*/
static void seekPrefixed(const KvBlock *pBlock, const u8 *pKey, size_t nKey,
                         u32 *pLo, u32 *pHi){
  size_t nUser = nKey - KV_TRAILER;
  size_t nCommon = pBlock->nCommon;
  int c = memcmp(pKey, pBlock->pCommon, nUser<nCommon ? nUser : nCommon);
  if( c==0 && nUser<nCommon ) c = -1;   /* a prefix of every restart key */
  if( c<0 ){
    *pLo = *pHi = 0;
  }else if( c>0 ){
    *pLo = *pHi = pBlock->nRestart;
  }else{
    u64 t = kvKeyPrefix8(pKey, nUser, nCommon);
    u32 lo = 0, hi = pBlock->nRestart;
    while( lo<hi ){                       /* first number >= t */
      u32 mid = lo + (hi - lo)/2;
      if( pBlock->aPfx[mid]<t ) lo = mid + 1; else hi = mid;
    }
    *pLo = lo;
    hi = pBlock->nRestart;
    while( lo<hi ){                       /* first number > t */
      u32 mid = lo + (hi - lo)/2;
      if( pBlock->aPfx[mid]<=t ) lo = mid + 1; else hi = mid;
    }
    *pHi = lo;
  }
}

/* A seek's comparison: kvSstCmp inline when it is the cursor's (every
** SSTable cursor's), which saves a call per entry compared. */
static inline __attribute__((always_inline))
int seekCmp(const KvBlockIter *p, const u8 *a, size_t na, const u8 *b,
            size_t nb){
  if( p->xCmp==kvSstCmp ) return kvSstCmpInline(a, na, b, nb);
  return p->xCmp(a, na, b, nb);
}

/*
** The first entry >= the target. A binary search finds the first restart
** point whose key is >= the target (r; nRestart if none); the entry sought
** is then restart point r itself or an entry of region r-1. The scan
** starts at restart point r-1 (known to be < the target, so not compared)
** and stops, without comparing, on reaching restart point r (known to be
** >= it). An index chunk has a restart point per entry: its seek is the
** binary search alone.
*/
int kvBlockIterSeek(KvBlockIter *p, const u8 *pKey, size_t nKey){
  const KvBlock *pBlock = p->pBlock;
  u32 lo = 0;
  u32 hi = pBlock->nRestart;
  size_t iStop;
  int rc = KV_OK;

  if( pBlock->aPfx && p->xCmp==kvSstCmp && nKey>=KV_TRAILER ){
    seekPrefixed(pBlock, pKey, nKey, &lo, &hi);
  }
  while( lo<hi ){
    u32 mid = lo + (hi - lo)/2;
    u64 nShared = 0, nUnshared = 0, nVal = 0;   /* as in decodeAt */
    size_t iKey = 0;
    rc = decodeHeader(pBlock, restartOffset(pBlock, mid),
                      &nShared, &nUnshared, &nVal, &iKey);
    if( rc==KV_OK && nShared!=0 ) rc = blockCorrupt("bad restart entry");
    if( rc!=KV_OK ) return iterFail(p, rc);
    if( seekCmp(p, pBlock->a + iKey, (size_t)nUnshared, pKey, nKey)<0 ){
      lo = mid + 1;
    }else{
      hi = mid;
    }
  }
  if( lo==0 ) return seekRestart(p, 0);
  iStop = lo<pBlock->nRestart ? restartOffset(pBlock, lo) : pBlock->nData;
  if( lo<pBlock->nRestart ){
    /* Region lo-1 holds its restart point alone (as every region of an
    ** index chunk does): the entry sought is restart point lo. */
    u64 nShared = 0, nUnshared = 0, nVal = 0;
    size_t iKey = 0;
    if( decodeHeader(pBlock, restartOffset(pBlock, lo-1), &nShared,
                     &nUnshared, &nVal, &iKey)==KV_OK
     && iKey + nUnshared + nVal==iStop ){
      return seekRestart(p, lo);
    }
  }
  rc = seekRestart(p, lo-1);
  while( rc==KV_OK && p->bValid ){
    rc = nextStep(p);
    if( rc!=KV_OK || !p->bValid || p->iOff>=iStop ) break;
    if( seekCmp(p, p->key.a, p->key.n, pKey, nKey)>=0 ) break;
  }
  return rc;
}
