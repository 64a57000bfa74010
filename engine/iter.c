/*
** iter.c - internal keys and the merging iterator.
**
** An internal key is a user key followed by an 8-byte little-endian trailer
** (seq << 8 | type); see the top of kvInt.h. Internal keys order by user
** key ascending, then by trailer descending, so that for one user key the
** newest version comes first and a seek to (key, seq, KV_TYPE_PUT) lands on
** the newest version visible at seq.
**
** The merging iterator presents N child iterators (memtables, batch,
** SSTables) as one stream in internal-key order. It orders entries by the
** pair (internal key, child index): children are not expected to hold equal
** internal keys, but if they do the lower-numbered child comes first going
** forward and last going backward, so both directions visit exactly the
** same sequence reversed.
**
** The children that are not current are kept in a binary heap: a min-heap
** while moving forward, a max-heap while moving backward. Every child that
** is valid is either the current one (heap root) or somewhere in the heap;
** exhausted children are kept out of the heap. Changing direction
** repositions every non-current child on the other side of the current
** key (the LevelDB approach) and rebuilds the heap for the new direction.
** Steps in one direction compare the moved child with the runner-up
** first (see "Runner-up" below), so a run of entries from one child costs
** one comparison an entry.
*/
#include "kvInt.h"

/* ---------------------------------------------------------------------- */
/* Internal keys.                                                          */

int kvIKeyAppend(KvBuf *p, const u8 *pKey, size_t nKey, u64 seq, int eType){
  int rc;
  assert( seq<=KV_MAX_SEQ );
  rc = kvBufReserve(p, nKey + KV_TRAILER);
  if( rc==KV_OK ){
    if( nKey>0 ) memcpy(p->a + p->n, pKey, nKey);
    kvPut64(p->a + p->n + nKey, kvPackTrailer(seq, eType));
    p->n += nKey + KV_TRAILER;
  }
  return rc;
}

int kvUKeyCmp(const u8 *a, size_t na, const u8 *b, size_t nb){
  return kvUKeyCmpShort(a, na, b, nb);
}

int kvIKeyCmp(const u8 *a, size_t na, const u8 *b, size_t nb){
  assert( na>=KV_TRAILER && nb>=KV_TRAILER );
  return kvIKeyCmpInline(a, na, b, nb);
}

/* ---------------------------------------------------------------------- */
/* Merging iterator.                                                       */

#define MERGE_FORWARD  0
#define MERGE_BACKWARD 1

typedef struct MergeIter MergeIter;
struct MergeIter {
  KvIter base;                  /* must be first */
  int nChild;
  KvIter **apChild;             /* owned children */
  int *aHeap;                   /* heap of child indices; aHeap[0] current */
  int nHeap;                    /* valid children in aHeap */
  int iRunner;                  /* heap slot (1 or 2) of the runner-up, the
                                ** child that comes next but for the
                                ** current one; 0 when nHeap<2 */
  int eDir;                     /* MERGE_FORWARD or MERGE_BACKWARD */
  KvBuf key;                    /* copy of the current key while the other
                                ** children are repositioned */
};

/*
** The heap compares the keys the children published (see KvIter), so a
** comparison costs no call through a child's methods.
**
** Runner-up. A scan over an LSM tree mostly reads runs of entries from one
** child (the largest level holds most of the data), and while the current
** child keeps its place nothing below the root changes. So the merge keeps
** the slot of the root's better child (the runner-up: the best of every
** child but the current one) and, after the current child moves, compares
** it with the runner-up alone: one comparison per step while the run
** lasts. Only when the current child falls behind does the runner-up take
** the root and the old root sink from the runner-up's slot (one level less
** to sift than from the root), after which the runner-up is chosen anew
** between slots 1 and 2.
*/

/* Compare children i and j (both valid) by (internal key, index). Every
** child in the heap is valid with a key of at least KV_TRAILER bytes: the
** heap holds only valid children, and the children check their keys. */
static inline __attribute__((always_inline))
int childCmp(MergeIter *p, int i, int j){
  const KvIter *a = p->apChild[i];
  const KvIter *b = p->apChild[j];
  int c = kvIKeyCmpInline(a->pKey, a->nKey, b->pKey, b->nKey);
  if( c==0 ) c = i<j ? -1 : (i>j ? 1 : 0);
  return c;
}

/* True if heap entry i must sit above heap entry j in the direction
** (bForward or not). */
static inline __attribute__((always_inline))
int heapBefore(MergeIter *p, int i, int j, int bForward){
  int c = childCmp(p, p->aHeap[i], p->aHeap[j]);
  return bForward ? c<0 : c>0;
}

/* Sift heap slot i down. Inline with a constant bForward, so that each
** direction gets its own loop without a test per comparison. */
static inline __attribute__((always_inline))
void siftDown(MergeIter *p, int i, int bForward){
  int *a = p->aHeap;
  const int n = p->nHeap;
  for(;;){
    int l = 2*i + 1;
    int best = i;
    int t;
    if( l>=n ) break;
    if( heapBefore(p, l, best, bForward) ) best = l;
    if( l+1<n && heapBefore(p, l+1, best, bForward) ) best = l+1;
    if( best==i ) break;
    t = a[i]; a[i] = a[best]; a[best] = t;
    i = best;
  }
}

static void heapSiftDown(MergeIter *p, int i){
  if( p->eDir==MERGE_FORWARD ){
    siftDown(p, i, 1);
  }else{
    siftDown(p, i, 0);
  }
}

/* Choose the runner-up after the heap below the root changed. */
static inline __attribute__((always_inline))
void setRunner(MergeIter *p, int bForward){
  if( p->nHeap<2 ){
    p->iRunner = 0;
  }else if( p->nHeap==2 || heapBefore(p, 1, 2, bForward) ){
    p->iRunner = 1;
  }else{
    p->iRunner = 2;
  }
}

/* Publish the root child's entry as the merge's, or none. */
static void mergePublish(MergeIter *p){
  if( p->nHeap>0 ){
    kvIterCopy(&p->base, p->apChild[p->aHeap[0]]);
  }else{
    kvIterSetInvalid(&p->base);
  }
}

/* Put every valid child in the heap and heapify for the current
** direction. */
static void heapBuild(MergeIter *p){
  int i;
  p->nHeap = 0;
  for(i=0; i<p->nChild; i++){
    if( kvIterValid(p->apChild[i]) ) p->aHeap[p->nHeap++] = i;
  }
  for(i=p->nHeap/2 - 1; i>=0; i--) heapSiftDown(p, i);
  setRunner(p, p->eDir==MERGE_FORWARD);
  mergePublish(p);
}

/*
** The root child moved (or became invalid): restore the heap and the
** runner-up, then publish. Inline with a constant bForward (see
** siftDown()).
*/
static inline __attribute__((always_inline))
void fixRoot(MergeIter *p, int bForward){
  int *a = p->aHeap;
  int r = p->iRunner;
  if( !p->apChild[a[0]]->bValid ){
    /* The current child ran out: the runner-up takes the root and the
    ** last slot fills the runner-up's (its parent, the new root, comes
    ** before everything, so it can only sink). */
    if( r==0 ){
      p->nHeap = 0;
    }else{
      a[0] = a[r];
      p->nHeap--;
      if( r<p->nHeap ){
        a[r] = a[p->nHeap];
        siftDown(p, r, bForward);
      }
      setRunner(p, bForward);
    }
  }else if( r && !heapBefore(p, 0, r, bForward) ){
    /* The current child fell behind the runner-up: swap them and sink
    ** the old root from the runner-up's slot. */
    int t = a[0]; a[0] = a[r]; a[r] = t;
    siftDown(p, r, bForward);
    setRunner(p, bForward);
  }
  mergePublish(p);
}

/* Record the result of a movement: on error the iterator is invalid. */
static int mergeDone(MergeIter *p, int rc){
  if( rc!=KV_OK ){
    p->nHeap = 0;
    kvIterSetInvalid(&p->base);
  }
  return rc;
}

/* Every child to its first (bForward) or last entry, then the heap. */
static int mergeEnd(MergeIter *p, int bForward){
  int rc = KV_OK;
  int i;
  for(i=0; rc==KV_OK && i<p->nChild; i++){
    KvIter *c = p->apChild[i];
    rc = bForward ? c->pMethods->xFirst(c) : c->pMethods->xLast(c);
  }
  p->eDir = bForward ? MERGE_FORWARD : MERGE_BACKWARD;
  if( rc==KV_OK ) heapBuild(p);
  return mergeDone(p, rc);
}

static int mergeFirst(KvIter *pIter){
  return mergeEnd((MergeIter*)pIter, 1);
}

static int mergeLast(KvIter *pIter){
  return mergeEnd((MergeIter*)pIter, 0);
}

static int mergeSeek(KvIter *pIter, const u8 *pIKey, size_t nIKey){
  MergeIter *p = (MergeIter*)pIter;
  int rc = KV_OK;
  int i;
  for(i=0; rc==KV_OK && i<p->nChild; i++){
    KvIter *c = p->apChild[i];
    rc = c->pMethods->xSeek(c, pIKey, nIKey);
  }
  p->eDir = MERGE_FORWARD;
  if( rc==KV_OK ) heapBuild(p);
  return mergeDone(p, rc);
}

/*
** Position every child other than iCur just after (eDir==MERGE_FORWARD)
** or just before (MERGE_BACKWARD) the current entry (pKey, iCur) in the
** (internal key, child index) order. The key is copied first because the
** interface only promises that a child's key stays valid until that child
** moves; copying keeps this correct even for children that share buffers.
*/
static int mergeReposition(MergeIter *p, int iCur, int eDir){
  KvBuf *pBuf = &p->key;
  int rc;
  int i;

  rc = kvBufSet(pBuf, p->apChild[iCur]->pKey, p->apChild[iCur]->nKey);
  for(i=0; rc==KV_OK && i<p->nChild; i++){
    KvIter *c = p->apChild[i];
    if( i==iCur ) continue;
    rc = c->pMethods->xSeek(c, pBuf->a, pBuf->n);
    if( rc!=KV_OK ) break;
    if( kvIterValid(c) ){
      int bEq = kvIKeyCmp(c->pKey, c->nKey, pBuf->a, pBuf->n)==0;
      if( eDir==MERGE_FORWARD ){
        /* Now at the first entry >= key. An equal entry of a lower child
        ** sorts before the current one, so step over it. */
        if( bEq && i<iCur ) rc = c->pMethods->xNext(c);
      }else{
        /* Want the last entry < (key, iCur): an equal entry of a lower
        ** child qualifies; anything else found by the seek is too far. */
        if( !(bEq && i<iCur) ) rc = c->pMethods->xPrev(c);
      }
    }else if( eDir==MERGE_BACKWARD ){
      /* Every entry of this child is < key. */
      rc = c->pMethods->xLast(c);
    }
  }
  return rc;
}

/*
** A direction change: the other children are repositioned around the
** current key, the current child steps, and the heap is rebuilt for the
** new order. (Out of line: the steps in one direction are the hot path.)
*/
static __attribute__((noinline)) int mergeTurn(MergeIter *p, int eDir){
  int iCur = p->aHeap[0];
  KvIter *c = p->apChild[iCur];
  int rc = mergeReposition(p, iCur, eDir);
  p->eDir = eDir;
  if( rc==KV_OK ){
    rc = eDir==MERGE_FORWARD ? c->pMethods->xNext(c) : c->pMethods->xPrev(c);
  }
  if( rc==KV_OK ) heapBuild(p);
  return mergeDone(p, rc);
}

static int mergeNext(KvIter *pIter){
  MergeIter *p = (MergeIter*)pIter;
  KvIter *c;
  int rc;
  assert( p->base.bValid && p->nHeap>0 );
  if( p->eDir!=MERGE_FORWARD ) return mergeTurn(p, MERGE_FORWARD);
  c = p->apChild[p->aHeap[0]];
  rc = c->pMethods->xNext(c);
  if( rc!=KV_OK ) return mergeDone(p, rc);
  fixRoot(p, 1);
  return KV_OK;
}

static int mergePrev(KvIter *pIter){
  MergeIter *p = (MergeIter*)pIter;
  KvIter *c;
  int rc;
  assert( p->base.bValid && p->nHeap>0 );
  if( p->eDir!=MERGE_BACKWARD ) return mergeTurn(p, MERGE_BACKWARD);
  c = p->apChild[p->aHeap[0]];
  rc = c->pMethods->xPrev(c);
  if( rc!=KV_OK ) return mergeDone(p, rc);
  fixRoot(p, 0);
  return KV_OK;
}

static void closeChildren(KvIter **apChild, int nChild){
  int i;
  for(i=0; i<nChild; i++){
    if( apChild[i] ) apChild[i]->pMethods->xClose(apChild[i]);
  }
}

static void mergeClose(KvIter *pIter){
  MergeIter *p = (MergeIter*)pIter;
  if( p ){
    closeChildren(p->apChild, p->nChild);
    kvFree(p->apChild);
    kvFree(p->aHeap);
    kvBufFree(&p->key);
    kvFree(p);
  }
}

static const KvIterMethods mergeMethods = {
  mergeFirst, mergeLast, mergeSeek, mergeNext, mergePrev, mergeClose
};

int kvMergeIterNew(KvIter **apChild, int nChild, KvIter **ppOut){
  MergeIter *p;
  int rc = KV_OK;
  assert( nChild>=0 );
  *ppOut = 0;
  p = kvMallocZero(sizeof(*p));
  if( p ){
    p->base.pMethods = &mergeMethods;
    p->apChild = kvMalloc(sizeof(KvIter*) * (size_t)(nChild>0 ? nChild : 1));
    p->aHeap = kvMalloc(sizeof(int) * (size_t)(nChild>0 ? nChild : 1));
  }
  if( p==0 || p->apChild==0 || p->aHeap==0 ){
    rc = kvErr(KV_NOMEM, "kvstore: out of memory creating a merging "
                         "iterator of %d children", nChild);
    if( p ){
      kvFree(p->apChild);
      kvFree(p->aHeap);
      kvFree(p);
    }
    closeChildren(apChild, nChild);
  }else{
    if( nChild>0 ) memcpy(p->apChild, apChild, sizeof(KvIter*)*(size_t)nChild);
    p->nChild = nChild;
    *ppOut = &p->base;
  }
  return rc;
}
