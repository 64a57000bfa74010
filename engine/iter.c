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
** The valid children are kept sorted in that order for the direction of
** travel (aOrd, ascending while moving forward, descending while moving
** backward); the first is the current one and exhausted children are left
** out. A step moves the current child and puts it back in place, which
** usually costs one comparison (see "Why a sorted array" below). Changing
** direction repositions every non-current child on the other side of the
** current key (the LevelDB approach) and sorts them again for the new
** direction.
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
  int *aOrd;                    /* valid children in merge order; aOrd[0]
                                ** is the current one */
  int nLive;                    /* entries of aOrd */
  int eDir;                     /* MERGE_FORWARD or MERGE_BACKWARD */
  KvBuf key;                    /* copy of the current key while the other
                                ** children are repositioned */
};

/*
** The order compares the keys the children published (see KvIter), so a
** comparison costs no call through a child's methods.
**
** Why a sorted array and not a heap. A scan over an LSM tree reads runs of
** entries from one child, and when the run ends the next comes mostly from
** one or two other children (the two largest levels hold most of the
** data; level-0 tables and memtables are few entries among many). After
** the current child moves, it is compared with the runner-up (aOrd[1])
** alone: while the run lasts that is the whole step. When it falls
** behind, it usually sinks by one or two places, found by comparing it
** with the next children in turn (a binary search takes over beyond a few
** places, so a step never costs more than a few comparisons plus the log
** of the children); rarely read children stay at the back and are not
** compared at all. A binary heap pays about two comparisons per level for
** every change of child.
*/

/* Compare children i and j (both valid) by (internal key, index). Every
** child in the order is valid with a key of at least KV_TRAILER bytes:
** only valid children are kept, and the children check their keys. */
static inline __attribute__((always_inline))
int childCmp(MergeIter *p, int i, int j){
  const KvIter *a = p->apChild[i];
  const KvIter *b = p->apChild[j];
  int c = kvIKeyCmpInline(a->pKey, a->nKey, b->pKey, b->nKey);
  if( c==0 ) c = i<j ? -1 : (i>j ? 1 : 0);
  return c;
}

/* True if child i comes before child j in the direction (bForward or
** not). */
static inline __attribute__((always_inline))
int childBefore(MergeIter *p, int i, int j, int bForward){
  int c = childCmp(p, i, j);
  return bForward ? c<0 : c>0;
}

/* The first slot j of aOrd[lo..n) whose child comes after child x, or n:
** the children of aOrd[lo..j) come before it. Inline with a constant
** bForward, so each direction gets its own loop. */
static inline __attribute__((always_inline))
int findSlot(MergeIter *p, int x, int lo, int n, int bForward){
  const int *a = p->aOrd;
  int hi;
  /* a child usually sinks by a place or two: look there first */
  for(hi=lo+3; lo<n && lo<hi; lo++){
    if( childBefore(p, x, a[lo], bForward) ) return lo;
  }
  hi = n;
  while( lo<hi ){
    int mid = lo + (hi - lo)/2;
    if( childBefore(p, x, a[mid], bForward) ){
      hi = mid;
    }else{
      lo = mid + 1;
    }
  }
  return lo;
}

/* Publish the current child's entry as the merge's, or none. */
static void mergePublish(MergeIter *p){
  if( p->nLive>0 ){
    kvIterCopy(&p->base, p->apChild[p->aOrd[0]]);
  }else{
    kvIterSetInvalid(&p->base);
  }
}

/* Sort the valid children for direction bForward (binary insertion). */
static inline __attribute__((always_inline))
void sortChildren(MergeIter *p, int bForward){
  int *a = p->aOrd;
  int n = 0;
  int i;
  for(i=0; i<p->nChild; i++){
    int j, k;
    if( !kvIterValid(p->apChild[i]) ) continue;
    if( n>0 && childBefore(p, a[n-1], i, bForward) ){
      j = n;                    /* after every child so far */
    }else{
      j = findSlot(p, i, 0, n, bForward);
    }
    for(k=n; k>j; k--) a[k] = a[k-1];
    a[j] = i;
    n++;
  }
  p->nLive = n;
}

/* Put every valid child in order for the current direction. */
static void mergeBuild(MergeIter *p){
  if( p->eDir==MERGE_FORWARD ){
    sortChildren(p, 1);
  }else{
    sortChildren(p, 0);
  }
  mergePublish(p);
}

/*
** The current child moved (or ran out): restore the order and publish.
** Inline with a constant bForward (see findSlot()).
*/
static inline __attribute__((always_inline))
void fixFront(MergeIter *p, int bForward){
  int *a = p->aOrd;
  int n = p->nLive;
  int x = a[0];
  int i;
  if( !p->apChild[x]->bValid ){
    p->nLive = --n;
    for(i=0; i<n; i++) a[i] = a[i+1];
  }else if( n>1 && !childBefore(p, x, a[1], bForward) ){
    /* behind the runner-up: it goes before the first child after it */
    int j = findSlot(p, x, 2, n, bForward);
    a[0] = a[1];
    for(i=1; i<j-1; i++) a[i] = a[i+1];
    a[j-1] = x;
  }
  mergePublish(p);
}

/* Record the result of a movement: on error the iterator is invalid. */
static int mergeDone(MergeIter *p, int rc){
  if( rc!=KV_OK ){
    p->nLive = 0;
    kvIterSetInvalid(&p->base);
  }
  return rc;
}

/* Every child to its first (bForward) or last entry, then the order. */
static int mergeEnd(MergeIter *p, int bForward){
  int rc = KV_OK;
  int i;
  for(i=0; rc==KV_OK && i<p->nChild; i++){
    KvIter *c = p->apChild[i];
    rc = bForward ? c->pMethods->xFirst(c) : c->pMethods->xLast(c);
  }
  p->eDir = bForward ? MERGE_FORWARD : MERGE_BACKWARD;
  if( rc==KV_OK ) mergeBuild(p);
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
  if( rc==KV_OK ) mergeBuild(p);
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
** current key, the current child steps, and the children are sorted for
** the new direction. (Out of line: steps in one direction are the hot
** path.)
*/
static __attribute__((noinline)) int mergeTurn(MergeIter *p, int eDir){
  int iCur = p->aOrd[0];
  KvIter *c = p->apChild[iCur];
  int rc = mergeReposition(p, iCur, eDir);
  p->eDir = eDir;
  if( rc==KV_OK ){
    rc = eDir==MERGE_FORWARD ? c->pMethods->xNext(c) : c->pMethods->xPrev(c);
  }
  if( rc==KV_OK ) mergeBuild(p);
  return mergeDone(p, rc);
}

static int mergeNext(KvIter *pIter){
  MergeIter *p = (MergeIter*)pIter;
  KvIter *c;
  int rc;
  assert( p->base.bValid && p->nLive>0 );
  if( p->eDir!=MERGE_FORWARD ) return mergeTurn(p, MERGE_FORWARD);
  c = p->apChild[p->aOrd[0]];
  rc = c->pMethods->xNext(c);
  if( rc!=KV_OK ) return mergeDone(p, rc);
  fixFront(p, 1);
  return KV_OK;
}

static int mergePrev(KvIter *pIter){
  MergeIter *p = (MergeIter*)pIter;
  KvIter *c;
  int rc;
  assert( p->base.bValid && p->nLive>0 );
  if( p->eDir!=MERGE_BACKWARD ) return mergeTurn(p, MERGE_BACKWARD);
  c = p->apChild[p->aOrd[0]];
  rc = c->pMethods->xPrev(c);
  if( rc!=KV_OK ) return mergeDone(p, rc);
  fixFront(p, 0);
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
    kvFree(p->aOrd);
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
    p->aOrd = kvMalloc(sizeof(int) * (size_t)(nChild>0 ? nChild : 1));
  }
  if( p==0 || p->apChild==0 || p->aOrd==0 ){
    rc = kvErr(KV_NOMEM, "kvstore: out of memory creating a merging "
                         "iterator of %d children", nChild);
    if( p ){
      kvFree(p->apChild);
      kvFree(p->aOrd);
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
