/*
** batch.c - kv_batch: an ordered group of puts and deletes that is
** committed atomically, read back by its own transaction, and cut back to
** earlier marks (savepoints).
**
** A batch keeps three things in step:
**
**   rep    the representation written to the WAL (format in kvInt.h, under
**          "batch.c"): per operation a type byte, varint key length, key,
**          and for a put a varint value length and value.
**   aOp    one entry per operation: where its key and value sit in rep,
**          and the index of the previous operation on the same key.
**   aSlot  an open-addressing (linear probing) hash table from key to the
**          latest operation on that key, for O(1) kv_batch_get.
**
** Because each operation remembers the one it shadowed, truncating back to
** a mark walks only the dropped operations, newest first, pointing each
** key's slot back at its previous operation (or removing the slot), so a
** savepoint rollback costs O(dropped), not O(batch).
**
** Iterators see a sorted copy of the live contents (the latest operation
** per key) taken when they are created. The copy is reference counted and
** cached in the batch until the batch next changes, so creating many
** iterators over an unchanged batch (one per SQL statement, say) sorts it
** once.
*/
#include "kvInt.h"

#include <stdlib.h>

#define BATCH_NONE ((size_t)-1)        /* no previous operation */
#define BATCH_MIN_SLOTS 16
#define BATCH_KEEP_BYTES (1024*1024)   /* clear keeps buffers up to this */

typedef struct BatchOp BatchOp;
typedef struct BatchView BatchView;
typedef struct BatchEnt BatchEnt;

struct BatchOp {
  size_t iStart;                /* offset of the type byte in rep */
  size_t iKey, nKey;            /* key bytes in rep */
  size_t iVal, nVal;            /* value bytes in rep (0 for a delete) */
  size_t iPrev;                 /* earlier op on the same key, or NONE */
  u32 hash;                     /* hash of the key */
  u8 eType;                     /* KV_TYPE_PUT, _DEL or _RANGEDEL (key lo,
                                ** value hi; kept out of aSlot) */
};

/* One entry of a view: internal key and value in the view's aData. */
struct BatchEnt {
  size_t iKey, nIKey;
  size_t iVal, nVal;
};

/* Sorted copy of a batch's live contents; one allocation holding the
** header, aEnt and aData. Reference counted (starting at 1 for its
** creator); shared by the batch's cache and its iterators. */
struct BatchView {
  _Atomic int nRef;
  size_t nEnt;
  BatchEnt *aEnt;
  u8 *aData;
};

struct kv_batch {
  KvBuf rep;                    /* WAL representation */
  BatchOp *aOp;                 /* operations in order */
  size_t nOp;                   /* operations recorded */
  size_t nOpAlloc;              /* allocated entries of aOp */
  size_t *aSlot;                /* hash table: op index + 1, 0 = empty */
  size_t nSlot;                 /* slots (power of two, or 0) */
  size_t nLive;                 /* occupied slots = distinct keys */
  BatchView *pView;             /* cached capture, or NULL; holds a ref */
  size_t nRangeOp;              /* range deletions among aOp (not in aSlot) */
  KvSpill *pSpill;              /* runs on disk (spill.c), or NULL */
};

/* ---------------------------------------------------------------------- */
/* Views.                                                                  */

static void viewUnref(BatchView *p){
  if( p && atomic_fetch_sub_explicit(&p->nRef, 1, memory_order_acq_rel)==1 ){
    kvFree(p);
  }
}

/* The batch changed: its cached view no longer describes it. */
static void batchChanged(kv_batch *b){
  viewUnref(b->pView);
  b->pView = 0;
}

/* ---------------------------------------------------------------------- */
/* Hash table.                                                             */

static u32 keyHash(const u8 *a, size_t n){
  /* FNV-1a, then a final mix so that the low bits (the slot) depend on
  ** every byte. */
  u64 h = 0xcbf29ce484222325ULL;
  size_t i;
  for(i=0; i<n; i++){
    h ^= a[i];
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return (u32)h;
}

static const u8 *opKey(const kv_batch *b, const BatchOp *pOp){
  return b->rep.a + pOp->iKey;
}

/* Slot holding pKey, or the empty slot where it would go.
** REQUIRES: the table has at least one empty slot. */
static size_t findSlot(const kv_batch *b, const u8 *pKey, size_t nKey,
                       u32 hash){
  size_t mask = b->nSlot - 1;
  size_t i = hash & mask;
  assert( b->nSlot>0 && b->nLive<b->nSlot );
  for(;;){
    size_t v = b->aSlot[i];
    if( v==0 ) return i;
    {
      const BatchOp *pOp = &b->aOp[v-1];
      if( pOp->hash==hash && pOp->nKey==nKey
       && (nKey==0 || memcmp(opKey(b, pOp), pKey, nKey)==0) ){
        return i;
      }
    }
    i = (i + 1) & mask;
  }
}

/* Make room for one more key (load factor at most 1/2). */
static int growSlots(kv_batch *b){
  size_t nNew;
  size_t *aNew;
  size_t i;
  if( (b->nLive + 1)*2<=b->nSlot ) return KV_OK;
  nNew = b->nSlot ? b->nSlot*2 : BATCH_MIN_SLOTS;
  aNew = kvMallocZero(nNew * sizeof(size_t));
  if( aNew==0 ) return KV_NOMEM;
  for(i=0; i<b->nSlot; i++){
    size_t v = b->aSlot[i];
    if( v ){
      size_t j = b->aOp[v-1].hash & (nNew - 1);
      while( aNew[j] ) j = (j + 1) & (nNew - 1);
      aNew[j] = v;
    }
  }
  kvFree(b->aSlot);
  b->aSlot = aNew;
  b->nSlot = nNew;
  return KV_OK;
}

/* Empty slot i, shifting later entries of its probe run back so that every
** key stays reachable from its home slot without tombstones. */
static void deleteSlot(kv_batch *b, size_t i){
  size_t mask = b->nSlot - 1;
  size_t j = i;
  b->aSlot[i] = 0;
  for(;;){
    size_t v, k;
    j = (j + 1) & mask;
    v = b->aSlot[j];
    if( v==0 ) break;
    k = b->aOp[v-1].hash & mask;
    /* The entry at j may move to i only if its home k is not cyclically
    ** within (i, j]. */
    if( i<=j ? (i<k && k<=j) : (i<k || k<=j) ) continue;
    b->aSlot[i] = v;
    b->aSlot[j] = 0;
    i = j;
  }
  b->nLive--;
}

/* ---------------------------------------------------------------------- */
/* Public batch API.                                                       */

kv_batch *kv_batch_new(void){
  kv_batch *b = kvMallocZero(sizeof(*b));
  if( b==0 ) kvErr(KV_NOMEM, "kvstore: out of memory creating a batch");
  return b;
}

void kv_batch_free(kv_batch *b){
  if( b ){
    batchChanged(b);
    kvSpillFree(b->pSpill);
    kvBufFree(&b->rep);
    kvFree(b->aOp);
    kvFree(b->aSlot);
    kvFree(b);
  }
}

/* Record one operation. Every allocation happens before anything changes,
** so on KV_NOMEM the batch is as it was. */
static int batchAdd(kv_batch *b, int eType, const u8 *pKey, size_t nKey,
                    const u8 *pVal, size_t nVal){
  size_t nEnc;
  int rc = KV_OK;
  BatchOp *pOp;
  u32 hash;
  size_t iSlot;
  u8 *p;

  assert( b );
  assert( nKey==0 || pKey );
  assert( nVal==0 || pVal );
  nEnc = 1 + (size_t)kvVarintLen(nKey) + nKey;
  if( eType!=KV_TYPE_DEL ) nEnc += (size_t)kvVarintLen(nVal) + nVal;
  if( nEnc<nKey || nEnc<nVal ){
    return kvErr(KV_TOOBIG, "kvstore: batch operation too large");
  }
  if( b->pSpill ){
    rc = kvSpillBeforeAdd(b->pSpill, b);
    if( rc!=KV_OK ) return rc;
  }

  rc = kvBufReserve(&b->rep, nEnc);
  if( rc==KV_OK && b->nOp==b->nOpAlloc ){
    size_t nNew = b->nOpAlloc ? b->nOpAlloc*2 : 16;
    BatchOp *aNew = kvRealloc(b->aOp, nNew*sizeof(BatchOp));
    if( aNew==0 ){
      rc = KV_NOMEM;
    }else{
      b->aOp = aNew;
      b->nOpAlloc = nNew;
    }
  }
  if( rc==KV_OK ) rc = growSlots(b);
  if( rc!=KV_OK ){
    return kvErr(KV_NOMEM, "kvstore: out of memory adding a %s of a "
                 "%zu-byte key to a batch",
                 eType==KV_TYPE_PUT ? "put" : (eType==KV_TYPE_DEL ?
                 "delete" : "range delete"), nKey);
  }

  batchChanged(b);
  pOp = &b->aOp[b->nOp];
  pOp->iStart = b->rep.n;
  pOp->eType = (u8)eType;
  p = b->rep.a + b->rep.n;
  *p++ = (u8)eType;
  p += kvPutVarint(p, nKey);
  pOp->iKey = (size_t)(p - b->rep.a);
  pOp->nKey = nKey;
  if( nKey>0 ) memcpy(p, pKey, nKey);
  p += nKey;
  if( eType!=KV_TYPE_DEL ){
    p += kvPutVarint(p, nVal);
    if( nVal>0 ) memcpy(p, pVal, nVal);
    pOp->iVal = (size_t)(p - b->rep.a);
    pOp->nVal = nVal;
    p += nVal;
  }else{
    pOp->iVal = (size_t)(p - b->rep.a);
    pOp->nVal = 0;
  }
  b->rep.n = (size_t)(p - b->rep.a);
  assert( b->rep.n - pOp->iStart==nEnc );

  if( eType==KV_TYPE_RANGEDEL ){
    pOp->hash = 0;
    pOp->iPrev = BATCH_NONE;
    b->nRangeOp++;
    b->nOp++;
    return KV_OK;
  }
  hash = keyHash(pKey, nKey);
  pOp->hash = hash;
  iSlot = findSlot(b, pKey, nKey, hash);
  if( b->aSlot[iSlot] ){
    pOp->iPrev = b->aSlot[iSlot] - 1;
  }else{
    pOp->iPrev = BATCH_NONE;
    b->nLive++;
  }
  b->aSlot[iSlot] = b->nOp + 1;
  b->nOp++;
  return KV_OK;
}

int kv_batch_put(kv_batch *b, const void *pKey, size_t nKey,
                 const void *pVal, size_t nVal){
  return batchAdd(b, KV_TYPE_PUT, pKey, nKey, pVal, nVal);
}

int kv_batch_delete(kv_batch *b, const void *pKey, size_t nKey){
  return batchAdd(b, KV_TYPE_DEL, pKey, nKey, 0, 0);
}

int kv_batch_delete_range(kv_batch *b, const void *pLo, size_t nLo,
                          const void *pHi, size_t nHi){
  if( kvUKeyCmp(pLo, nLo, pHi, nHi)>=0 ) return KV_OK;   /* empty range */
  return batchAdd(b, KV_TYPE_RANGEDEL, pLo, nLo, pHi, nHi);
}

/* Is op iOp's key inside a range deletion recorded after it (ops
** iAfter.. of the batch)? O(ops after it) when the batch has range
** deletions, O(1) otherwise. */
static int batchRangeCovers(const kv_batch *b, size_t iAfter,
                            const u8 *pKey, size_t nKey){
  size_t j;
  if( b->nRangeOp==0 ) return 0;
  for(j=b->nOp; j>iAfter; j--){
    const BatchOp *r = &b->aOp[j-1];
    if( r->eType==KV_TYPE_RANGEDEL
     && kvUKeyCmp(b->rep.a + r->iKey, r->nKey, pKey, nKey)<=0
     && kvUKeyCmp(pKey, nKey, b->rep.a + r->iVal, r->nVal)<0 ){
      return 1;
    }
  }
  return 0;
}

int kvBatchRangeDels(const kv_batch *b, KvBuf *pCopy, KvRdList *pOut){
  size_t j;
  int rc = KV_OK;
  size_t iStart = pCopy->n;
  if( b==0 || b->nRangeOp==0 ) return KV_OK;
  /* Copy first (the buffer may move), then point into the copy. */
  for(j=0; rc==KV_OK && j<b->nOp; j++){
    const BatchOp *r = &b->aOp[j];
    if( r->eType!=KV_TYPE_RANGEDEL ) continue;
    rc = kvBufAppend(pCopy, b->rep.a + r->iKey, r->nKey);
    if( rc==KV_OK ) rc = kvBufAppend(pCopy, b->rep.a + r->iVal, r->nVal);
  }
  for(j=0; rc==KV_OK && j<b->nOp; j++){
    const BatchOp *r = &b->aOp[j];
    if( r->eType!=KV_TYPE_RANGEDEL ) continue;
    rc = kvRdListAdd(pOut, pCopy->a + iStart, r->nKey,
                     pCopy->a + iStart + r->nKey, r->nVal, KV_BATCH_SEQ);
    iStart += r->nKey + r->nVal;
  }
  return rc;
}

static void batchMemClear(kv_batch *b, int bKeep);

void kv_batch_clear(kv_batch *b){
  if( b==0 ) return;
  if( b->pSpill ) kvSpillReset(b->pSpill);
  batchMemClear(b, 0);
}

/* Forget the in-memory operations (all of them: mark 0). The buffers are
** kept if bKeep (the transaction goes on: a spill, a rollback to a
** savepoint, which fill them again, and would otherwise grow them anew
** page by page) or if they are of ordinary size. */
static void batchMemClear(kv_batch *b, int bKeep){
  batchChanged(b);
  if( !bKeep && b->rep.nAlloc>BATCH_KEEP_BYTES ){
    /* Do not hold on to the memory of one huge transaction for the life
    ** of the connection. */
    kvBufFree(&b->rep);
    kvFree(b->aOp);
    kvFree(b->aSlot);
    b->aOp = 0;
    b->nOpAlloc = 0;
    b->aSlot = 0;
    b->nSlot = 0;
  }else{
    b->rep.n = 0;
    if( b->nSlot ) memset(b->aSlot, 0, b->nSlot*sizeof(size_t));
  }
  b->nOp = 0;
  b->nLive = 0;
  b->nRangeOp = 0;
}

size_t kv_batch_count(const kv_batch *b){
  if( b==0 ) return 0;
  return b->nOp + (b->pSpill ? kvSpillBase(b->pSpill) : 0);
}

void kv_batch_truncate(kv_batch *b, size_t mark){
  size_t nBase;
  if( b==0 ) return;
  nBase = b->pSpill ? kvSpillBase(b->pSpill) : 0;
  if( mark<nBase ){
    kvSpillTruncate(b->pSpill, b, mark);    /* forgets memory too */
  }else{
    kvBatchMemTruncate(b, mark - nBase);
  }
}

void kvBatchMemTruncate(kv_batch *b, size_t mark){
  size_t i;
  if( mark==0 ){
    batchMemClear(b, 1);
    return;
  }
  if( mark>=b->nOp ) return;
  batchChanged(b);
  for(i=b->nOp; i>mark; i--){
    const BatchOp *pOp = &b->aOp[i-1];
    size_t mask = b->nSlot - 1;
    size_t s = pOp->hash & mask;
    if( pOp->eType==KV_TYPE_RANGEDEL ){
      b->nRangeOp--;
      continue;
    }
    /* Walking newest first, op i-1 is the latest remaining on its key,
    ** so its key's slot points at it. */
    while( b->aSlot[s]!=i ){
      assert( b->aSlot[s]!=0 );
      s = (s + 1) & mask;
    }
    if( pOp->iPrev!=BATCH_NONE ){
      b->aSlot[s] = pOp->iPrev + 1;
    }else{
      deleteSlot(b, s);
    }
  }
  b->rep.n = b->aOp[mark].iStart;
  b->nOp = mark;
}

int kv_batch_get(const kv_batch *b, const void *pKey, size_t nKey,
                 const void **ppVal, size_t *pnVal){
  int r = -1;
  /* A read error of a spilled run: -2 (kvErrMsg() says why). */
  if( kvBatchLookup(b, pKey, nKey, ppVal, pnVal, &r)!=KV_OK ) return -2;
  return r;
}

/* The in-memory part alone. */
static int batchMemGet(const kv_batch *b, const void *pKey, size_t nKey,
                       const void **ppVal, size_t *pnVal){
  size_t s;
  const BatchOp *pOp;
  if( ppVal ) *ppVal = 0;
  if( pnVal ) *pnVal = 0;
  if( b==0 ) return -1;
  if( b->nLive==0 ) return batchRangeCovers(b, 0, pKey, nKey) ? 0 : -1;
  s = findSlot(b, pKey, nKey, keyHash(pKey, nKey));
  if( b->aSlot[s]==0 ) return batchRangeCovers(b, 0, pKey, nKey) ? 0 : -1;
  pOp = &b->aOp[b->aSlot[s]-1];
  if( pOp->eType==KV_TYPE_DEL ) return 0;
  if( batchRangeCovers(b, b->aSlot[s], pKey, nKey) ) return 0;
  if( ppVal ) *ppVal = b->rep.a + pOp->iVal;
  if( pnVal ) *pnVal = pOp->nVal;
  return 1;
}

int kvBatchLookup(const kv_batch *b, const void *pKey, size_t nKey,
                  const void **ppVal, size_t *pnVal, int *pr){
  *pr = batchMemGet(b, pKey, nKey, ppVal, pnVal);
  if( *pr<0 && b && b->pSpill && kvSpillHasRuns(b->pSpill) ){
    return kvSpillGet(b->pSpill, pKey, nKey, ppVal, pnVal, pr);
  }
  return KV_OK;
}

int kv_batch_set_spill(kv_batch *b, kv_db *db){
  if( b==0 || db==0 ) return kvErr(KV_MISUSE, "kvstore: kv_batch_set_spill: "
                                   "NULL argument");
  if( b->pSpill && kvSpillBind(b->pSpill, db)==KV_OK ) return KV_OK;
  if( b->pSpill && kvSpillHasRuns(b->pSpill) ){
    return kvErr(KV_MISUSE, "kvstore: kv_batch_set_spill: the batch has "
                 "spilled to another store");
  }
  kvSpillFree(b->pSpill);
  b->pSpill = 0;
  return kvSpillNew(db, &b->pSpill);
}

size_t kvBatchMemCount(const kv_batch *b){ return b->nOp; }
/* Memory the in-memory operations use (what txn_spill bounds): their
** representation, their entries, their hash slots (at least 2 a key). */
size_t kvBatchMemBytes(const kv_batch *b){
  return b->rep.n + b->nOp*sizeof(BatchOp) + 2*b->nLive*sizeof(size_t);
}
size_t kvBatchMemRangeOps(const kv_batch *b){ return b->nRangeOp; }
KvSpill *kvBatchSpill(const kv_batch *b){ return b ? b->pSpill : 0; }

void kvBatchMemOp(const kv_batch *b, size_t i, int *peType, const u8 **ppKey,
                  size_t *pnKey, const u8 **ppVal, size_t *pnVal){
  const BatchOp *pOp = &b->aOp[i];
  *peType = pOp->eType;
  *ppKey = b->rep.a + pOp->iKey;
  *pnKey = pOp->nKey;
  *ppVal = b->rep.a + pOp->iVal;
  *pnVal = pOp->nVal;
}

/* ---------------------------------------------------------------------- */
/* Engine-internal interface.                                              */

const u8 *kvBatchRep(const kv_batch *b, size_t *pnRep){
  *pnRep = b->rep.n;
  return b->rep.n ? b->rep.a : (const u8*)"";
}

void kvBatchMaxLens(const kv_batch *b, size_t *pnMaxKey, size_t *pnMaxVal){
  size_t nKey = 0, nVal = 0;
  size_t i;
  for(i=0; i<b->nOp; i++){
    if( b->aOp[i].nKey>nKey ) nKey = b->aOp[i].nKey;
    if( b->aOp[i].nVal>nVal ) nVal = b->aOp[i].nVal;
  }
  if( b->pSpill ){
    size_t nK = 0, nV = 0;
    kvSpillMaxLens(b->pSpill, &nK, &nV);
    if( nK>nKey ) nKey = nK;
    if( nV>nVal ) nVal = nV;
  }
  if( pnMaxKey ) *pnMaxKey = nKey;
  if( pnMaxVal ) *pnMaxVal = nVal;
}

/*
** Parse a length-prefixed field (zWhat: "key" or "value") at pRep[*piOff]:
** on success *pp, *pn point at its bytes and *piOff moves past them;
** otherwise KV_CORRUPT naming the offset.
*/
static int decodeField(const u8 *pRep, size_t nRep, size_t *piOff,
                       const char *zWhat, const u8 **pp, size_t *pn){
  size_t i = *piOff;
  u64 n;
  int nByte = kvGetVarint(pRep + i, pRep + nRep, &n);
  if( nByte==0 ){
    return kvErr(KV_CORRUPT, "kvstore: corrupt batch: bad or truncated %s "
                 "length at offset %zu", zWhat, i);
  }
  i += (size_t)nByte;
  if( n>(u64)(nRep - i) ){
    return kvErr(KV_CORRUPT, "kvstore: corrupt batch: %s of %llu bytes at "
                 "offset %zu runs past the end (%zu bytes)", zWhat,
                 (unsigned long long)n, i, nRep);
  }
  *pp = pRep + i;
  *pn = (size_t)n;
  *piOff = i + (size_t)n;
  return KV_OK;
}

/*
** Parse the operation at pRep[*piOff]. On success advances *piOff and
** fills the out-parameters (pointing into pRep); otherwise returns
** KV_CORRUPT naming the offset and what is wrong.
*/
static int decodeOp(const u8 *pRep, size_t nRep, size_t *piOff, int *peType,
                    const u8 **ppKey, size_t *pnKey,
                    const u8 **ppVal, size_t *pnVal){
  size_t iOp = *piOff;
  size_t i = iOp;
  int rc;
  int eType = pRep[i++];

  if( eType!=KV_TYPE_PUT && eType!=KV_TYPE_DEL && eType!=KV_TYPE_RANGEDEL ){
    return kvErr(KV_CORRUPT, "kvstore: corrupt batch: bad operation type "
                 "%d at offset %zu", eType, iOp);
  }
  rc = decodeField(pRep, nRep, &i, "key", ppKey, pnKey);
  if( rc!=KV_OK ) return rc;
  *ppVal = 0;
  *pnVal = 0;
  if( eType!=KV_TYPE_DEL ){
    rc = decodeField(pRep, nRep, &i, "value", ppVal, pnVal);
    if( rc!=KV_OK ) return rc;
  }
  *peType = eType;
  *piOff = i;
  return KV_OK;
}

/*
** Validate the whole representation first and only then call xOp, so a
** damaged batch is never half applied (a WAL record is all or nothing).
*/
int kvBatchDecode(const u8 *pRep, size_t nRep, u32 nCount,
                  int (*xOp)(void *pCtx, int eType, const u8 *pKey,
                             size_t nKey, const u8 *pVal, size_t nVal),
                  void *pCtx){
  int rc = KV_OK;
  int bApply;
  for(bApply=0; rc==KV_OK && bApply<2; bApply++){
    size_t iOff = 0;
    u64 nOp = 0;
    while( rc==KV_OK && iOff<nRep ){
      int eType = 0;
      const u8 *pKey = 0, *pVal = 0;
      size_t nKey = 0, nVal = 0;
      rc = decodeOp(pRep, nRep, &iOff, &eType, &pKey, &nKey, &pVal, &nVal);
      if( rc==KV_OK ){
        nOp++;
        if( bApply && xOp ) rc = xOp(pCtx, eType, pKey, nKey, pVal, nVal);
      }
    }
    if( rc==KV_OK && nOp!=nCount ){
      rc = kvErr(KV_CORRUPT, "kvstore: corrupt batch: holds %llu operations "
                 "but its header says %u", (unsigned long long)nOp, nCount);
    }
  }
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Iterator.                                                               */

typedef struct SortKey SortKey;
struct SortKey {
  const u8 *pKey;
  size_t nKey;
  size_t iOp;
  int bCovered;                 /* a later range deletion covers it */
};

static int sortKeyCmp(const void *a, const void *b){
  const SortKey *x = a, *y = b;
  return kvUKeyCmp(x->pKey, x->nKey, y->pKey, y->nKey);
}

/* Build a view of b's live contents in *ppView (one reference). */
static int viewBuild(const kv_batch *b, BatchView **ppView){
  SortKey *aSort = 0;
  BatchView *pView = 0;
  size_t nEnt = b->nLive;
  size_t nData = 0;
  size_t i, j;
  int rc = KV_OK;

  *ppView = 0;
  aSort = kvMalloc((nEnt ? nEnt : 1)*sizeof(SortKey));
  if( aSort==0 ) rc = KV_NOMEM;
  for(i=0, j=0; rc==KV_OK && i<b->nSlot; i++){
    if( b->aSlot[i] ){
      const BatchOp *pOp = &b->aOp[b->aSlot[i]-1];
      aSort[j].pKey = opKey(b, pOp);
      aSort[j].nKey = pOp->nKey;
      aSort[j].iOp = b->aSlot[i] - 1;
      aSort[j].bCovered = batchRangeCovers(b, b->aSlot[i], aSort[j].pKey,
                                           pOp->nKey);
      nData += pOp->nKey + KV_TRAILER + (aSort[j].bCovered ? 0 : pOp->nVal);
      j++;
    }
  }
  if( rc==KV_OK ){
    assert( j==nEnt );
    qsort(aSort, nEnt, sizeof(SortKey), sortKeyCmp);
    pView = kvMalloc(sizeof(BatchView) + nEnt*sizeof(BatchEnt) + nData);
    if( pView==0 ) rc = KV_NOMEM;
  }
  if( rc==KV_OK ){
    size_t iData = 0;
    atomic_init(&pView->nRef, 1);
    pView->nEnt = nEnt;
    pView->aEnt = (BatchEnt*)&pView[1];
    pView->aData = (u8*)&pView->aEnt[nEnt];
    for(i=0; i<nEnt; i++){
      const BatchOp *pOp = &b->aOp[aSort[i].iOp];
      BatchEnt *pEnt = &pView->aEnt[i];
      u8 *p = pView->aData + iData;
      /* A key a later range deletion covers reads as deleted. */
      int eType = aSort[i].bCovered ? KV_TYPE_DEL : pOp->eType;
      size_t nVal = aSort[i].bCovered ? 0 : pOp->nVal;
      if( pOp->nKey ) memcpy(p, opKey(b, pOp), pOp->nKey);
      kvPut64(p + pOp->nKey, kvPackTrailer(KV_BATCH_SEQ, eType));
      pEnt->iKey = iData;
      pEnt->nIKey = pOp->nKey + KV_TRAILER;
      iData += pEnt->nIKey;
      if( nVal ) memcpy(pView->aData + iData, b->rep.a + pOp->iVal, nVal);
      pEnt->iVal = iData;
      pEnt->nVal = nVal;
      iData += nVal;
    }
    assert( iData==nData );
    *ppView = pView;
  }
  kvFree(aSort);
  if( rc!=KV_OK ){
    rc = kvErr(rc, "kvstore: out of memory creating an iterator over a "
                   "batch of %zu keys", nEnt);
  }
  return rc;
}

typedef struct BatchIter BatchIter;
struct BatchIter {
  KvIter base;                  /* must be first */
  BatchView *pView;             /* holds a reference */
  size_t iEnt;                  /* current entry; >= nEnt when invalid */
};

/* Make entry iEnt (invalid if out of range) current and publish it. */
static int batchIterAt(BatchIter *p, size_t iEnt){
  const BatchView *v = p->pView;
  p->iEnt = iEnt;
  if( iEnt<v->nEnt ){
    const BatchEnt *e = &v->aEnt[iEnt];
    kvIterSet(&p->base, v->aData + e->iKey, e->nIKey, v->aData + e->iVal,
              e->nVal);
  }else{
    kvIterSetInvalid(&p->base);
  }
  return KV_OK;
}

static int batchIterFirst(KvIter *pIter){
  return batchIterAt((BatchIter*)pIter, 0);
}

static int batchIterLast(KvIter *pIter){
  BatchIter *p = (BatchIter*)pIter;
  /* An empty view wraps to BATCH_NONE: invalid either way. */
  return batchIterAt(p, p->pView->nEnt - 1);
}

static int batchIterSeek(KvIter *pIter, const u8 *pIKey, size_t nIKey){
  BatchIter *p = (BatchIter*)pIter;
  const BatchView *v = p->pView;
  size_t lo = 0, hi = v->nEnt;
  while( lo<hi ){
    size_t mid = lo + (hi - lo)/2;
    const BatchEnt *e = &v->aEnt[mid];
    if( kvIKeyCmp(v->aData + e->iKey, e->nIKey, pIKey, nIKey)<0 ){
      lo = mid + 1;
    }else{
      hi = mid;
    }
  }
  return batchIterAt(p, lo);
}

static int batchIterNext(KvIter *pIter){
  BatchIter *p = (BatchIter*)pIter;
  assert( p->iEnt<p->pView->nEnt );
  return batchIterAt(p, p->iEnt + 1);
}

static int batchIterPrev(KvIter *pIter){
  BatchIter *p = (BatchIter*)pIter;
  assert( p->iEnt<p->pView->nEnt );
  return batchIterAt(p, p->iEnt ? p->iEnt - 1 : BATCH_NONE);
}

static void batchIterClose(KvIter *pIter){
  BatchIter *p = (BatchIter*)pIter;
  if( p ){
    viewUnref(p->pView);
    kvFree(p);
  }
}

static const KvIterMethods batchIterMethods = {
  batchIterFirst, batchIterLast, batchIterSeek, batchIterNext,
  batchIterPrev, batchIterClose
};

int kvBatchIterNew(const kv_batch *b, KvIter **ppIter){
  if( b->pSpill && kvSpillHasRuns(b->pSpill) ){
    return kvSpillIterNew(b->pSpill, b, 0, ppIter);
  }
  return kvBatchMemIterNew(b, ppIter);
}

int kvBatchMemIterNew(const kv_batch *b, KvIter **ppIter){
  BatchIter *p;
  BatchView *pView = b->pView;
  int rc = KV_OK;

  *ppIter = 0;
  if( pView==0 ){
    rc = viewBuild(b, &pView);
    if( rc==KV_OK ){
      /* Cache it. The batch is never a const object (kv_batch_new makes
      ** them), and the cache does not change what the batch holds, so
      ** casting away const here is sound. */
      ((kv_batch*)b)->pView = pView;
    }
  }
  if( rc==KV_OK ){
    p = kvMallocZero(sizeof(*p));
    if( p==0 ){
      rc = kvErr(KV_NOMEM, "kvstore: out of memory creating a batch "
                           "iterator");
    }else{
      atomic_fetch_add_explicit(&pView->nRef, 1, memory_order_relaxed);
      p->base.pMethods = &batchIterMethods;
      p->pView = pView;
      p->iEnt = BATCH_NONE;
      *ppIter = &p->base;
    }
  }
  return rc;
}
