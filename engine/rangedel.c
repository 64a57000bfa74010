/*
** rangedel.c - range tombstones: lists of them and the fragmented form
** readers and compaction look keys up in.
**
** A range tombstone [lo, hi) at sequence s hides every entry whose user
** key k has lo <= k < hi and whose sequence is below s, from every reader
** whose read point is at or above s. Tombstones come from the memtables
** (memtable.c keeps them beside the skip list) and from the range-deletion
** part of SSTables (sst_build.c); a KvRdList gathers them without copying the
** keys (the caller keeps their sources referenced).
**
** Fragmenting (RocksDB's "fragmented range tombstones", in our own
** simpler form): the distinct boundaries of all tombstones, sorted, cut
** the key space into elementary intervals; each interval that some
** tombstone covers becomes a fragment carrying the sequences of every
** tombstone over it, ascending. Fragments never overlap, so a key finds
** its fragment by binary search, and:
**   - a reader at read point S: the largest sequence <= S hides entries
**     below it (kvRdFragsMaxSeq);
**   - compaction: the smallest sequence above an entry's says which read
**     points still see the entry (kvRdFragsNextSeq);
**   - a scan that lands in a fragment may seek straight to its end when
**     every entry it could meet there is older than the fragment's
**     tombstone (kvRdFragsFind gives the end).
** Building costs O(T log T) plus the sum over tombstones of the intervals
** each spans (quadratic only for many long overlapping tombstones).
*/
#include "kvInt.h"

#include <stdlib.h>

void kvRdListFree(KvRdList *p){
  kvFree(p->a);
  memset(p, 0, sizeof(*p));
}

int kvRdListAdd(KvRdList *p, const u8 *pLo, size_t nLo, const u8 *pHi,
                size_t nHi, u64 seq){
  int rc = kvGrowArray((void**)&p->a, &p->nAlloc, p->n+1,
                       sizeof(KvRangeTomb));
  if( rc!=KV_OK ) return rc;
  p->a[p->n].pLo = pLo;
  p->a[p->n].nLo = nLo;
  p->a[p->n].pHi = pHi;
  p->a[p->n].nHi = nHi;
  p->a[p->n].seq = seq;
  p->n++;
  return KV_OK;
}

/* A boundary: a user key borrowed from a tombstone. */
typedef struct RdKey RdKey;
struct RdKey {
  const u8 *p;
  size_t n;
};

static int rdKeyCmp(const void *a, const void *b){
  const RdKey *x = a, *y = b;
  return kvUKeyCmp(x->p, x->n, y->p, y->n);
}

static int u64Cmp(const void *a, const void *b){
  u64 x = *(const u64*)a, y = *(const u64*)b;
  return x<y ? -1 : (x>y ? 1 : 0);
}

static int tombCmpLo(const void *a, const void *b){
  const KvRangeTomb *x = a, *y = b;
  int c = kvUKeyCmp(x->pLo, x->nLo, y->pLo, y->nLo);
  if( c==0 ) c = x->seq<y->seq ? -1 : (x->seq>y->seq ? 1 : 0);
  return c;
}

void kvRdListSort(KvRdList *p){
  if( p->n>1 ) qsort(p->a, (size_t)p->n, sizeof(KvRangeTomb), tombCmpLo);
}

/* Index of the first boundary >= key in aKey[0..nKey). */
static int lowerBound(const RdKey *aKey, int nKey, const u8 *p, size_t n){
  int lo = 0, hi = nKey;
  while( lo<hi ){
    int mid = (lo+hi)/2;
    if( kvUKeyCmp(aKey[mid].p, aKey[mid].n, p, n)<0 ) lo = mid+1;
    else hi = mid;
  }
  return lo;
}

/* The intervals [*pa, *pb) of the sorted boundaries aKey that tombstone t
** covers; 0 when t is above maxSeq or empty (and covers none). */
static int tombSpan(const KvRangeTomb *t, u64 maxSeq, const RdKey *aKey,
                    int nKey, int *pa, int *pb){
  if( t->seq>maxSeq ) return 0;
  if( kvUKeyCmp(t->pLo, t->nLo, t->pHi, t->nHi)>=0 ) return 0;
  *pa = lowerBound(aKey, nKey, t->pLo, t->nLo);
  *pb = lowerBound(aKey, nKey, t->pHi, t->nHi);
  return 1;
}

void kvRdFragsFree(KvRdFrags *p){
  if( p==0 ) return;
  if( !p->bInline ){
    kvFree(p->aFrag);
    kvFree(p->aSeq);
  }
  kvFree(p);
}

/* kvRdFragsBuild when one tombstone applies, the usual case of a scan
** after a range delete: its own fragment, in one allocation, without the
** boundary sort (every scan of such a store builds this). */
static int fragsOne(const KvRangeTomb *t, KvRdFrags **ppOut){
  struct RdOne { KvRdFrags frags; KvRdFrag frag; u64 seq; } *p;
  p = kvMalloc(sizeof(*p));
  if( p==0 ) return kvErrNoMem();
  p->frags.nFrag = 1;
  p->frags.aFrag = &p->frag;
  p->frags.aSeq = &p->seq;
  p->frags.bInline = 1;
  p->frag.pLo = t->pLo;  p->frag.nLo = t->nLo;
  p->frag.pHi = t->pHi;  p->frag.nHi = t->nHi;
  p->frag.iSeq = 0;
  p->frag.nSeq = 1;
  p->seq = t->seq;
  *ppOut = &p->frags;
  return KV_OK;
}

int kvRdFragsBuild(const KvRdList *pList, u64 maxSeq, KvRdFrags **ppOut){
  RdKey *aKey = 0;
  int *anCover = 0;             /* tombstones over each interval */
  int *aiStart = 0;             /* first slot of each interval in aSeqAll */
  u64 *aSeqAll = 0;
  KvRdFrags *pF = 0;
  int nKey = 0, nInt, i, j;
  size_t nSeq = 0;
  int rc = KV_OK;

  *ppOut = 0;
  {
    const KvRangeTomb *pOne = 0;
    int nLive = 0;
    for(i=0; i<pList->n && nLive<2; i++){
      const KvRangeTomb *t = &pList->a[i];
      if( t->seq>maxSeq ) continue;
      if( kvUKeyCmp(t->pLo, t->nLo, t->pHi, t->nHi)>=0 ) continue;
      pOne = t;
      nLive++;
    }
    if( nLive==1 ) return fragsOne(pOne, ppOut);
  }
  pF = kvMallocZero(sizeof(*pF));
  if( pF==0 ) return kvErrNoMem();
  aKey = kvMalloc(sizeof(RdKey)*(size_t)(pList->n*2 + 1));
  if( aKey==0 ){ rc = kvErrNoMem(); goto done; }
  for(i=0; i<pList->n; i++){
    const KvRangeTomb *t = &pList->a[i];
    if( t->seq>maxSeq ) continue;
    if( kvUKeyCmp(t->pLo, t->nLo, t->pHi, t->nHi)>=0 ) continue;  /* empty */
    aKey[nKey].p = t->pLo; aKey[nKey].n = t->nLo; nKey++;
    aKey[nKey].p = t->pHi; aKey[nKey].n = t->nHi; nKey++;
  }
  if( nKey==0 ) goto done;
  qsort(aKey, (size_t)nKey, sizeof(RdKey), rdKeyCmp);
  for(i=1, j=1; i<nKey; i++){
    if( rdKeyCmp(&aKey[i], &aKey[j-1])!=0 ) aKey[j++] = aKey[i];
  }
  nKey = j;
  nInt = nKey - 1;
  anCover = kvMallocZero(sizeof(int)*(size_t)(nInt+1));
  aiStart = kvMallocZero(sizeof(int)*(size_t)(nInt+2));
  if( anCover==0 || aiStart==0 ){
    rc = kvErrNoMem();
    goto done;
  }
  /* Count, then place, the sequences of each interval. */
  for(i=0; i<pList->n; i++){
    int a, b;
    if( !tombSpan(&pList->a[i], maxSeq, aKey, nKey, &a, &b) ) continue;
    for(j=a; j<b; j++) anCover[j]++;
    nSeq += (size_t)(b - a);
  }
  for(i=0; i<nInt; i++) aiStart[i+1] = aiStart[i] + anCover[i];
  aSeqAll = kvMalloc(sizeof(u64)*(nSeq ? nSeq : 1));
  if( aSeqAll==0 ){ rc = kvErrNoMem(); goto done; }
  memset(anCover, 0, sizeof(int)*(size_t)nInt);
  for(i=0; i<pList->n; i++){
    int a, b;
    if( !tombSpan(&pList->a[i], maxSeq, aKey, nKey, &a, &b) ) continue;
    for(j=a; j<b; j++) aSeqAll[aiStart[j] + anCover[j]++] = pList->a[i].seq;
  }
  pF->aFrag = kvMalloc(sizeof(KvRdFrag)*(size_t)(nInt ? nInt : 1));
  if( pF->aFrag==0 ){ rc = kvErrNoMem(); goto done; }
  for(i=0; i<nInt; i++){
    KvRdFrag *f;
    if( anCover[i]==0 ) continue;
    qsort(&aSeqAll[aiStart[i]], (size_t)anCover[i], sizeof(u64), u64Cmp);
    f = &pF->aFrag[pF->nFrag++];
    f->pLo = aKey[i].p;   f->nLo = aKey[i].n;
    f->pHi = aKey[i+1].p; f->nHi = aKey[i+1].n;
    f->iSeq = (size_t)aiStart[i];
    f->nSeq = anCover[i];
  }
  pF->aSeq = aSeqAll;
  aSeqAll = 0;

done:
  kvFree(aKey);
  kvFree(anCover);
  kvFree(aiStart);
  kvFree(aSeqAll);
  if( rc==KV_OK ){
    *ppOut = pF;
  }else{
    kvRdFragsFree(pF);
  }
  return rc;
}

const KvRdFrag *kvRdFragsFind(const KvRdFrags *p, const u8 *pKey,
                              size_t nKey){
  int lo = 0, hi;
  if( p==0 ) return 0;
  hi = p->nFrag;
  /* First fragment whose end is above the key. */
  while( lo<hi ){
    int mid = (lo+hi)/2;
    const KvRdFrag *f = &p->aFrag[mid];
    if( kvUKeyCmp(f->pHi, f->nHi, pKey, nKey)<=0 ) lo = mid+1;
    else hi = mid;
  }
  if( lo<p->nFrag
   && kvUKeyCmp(p->aFrag[lo].pLo, p->aFrag[lo].nLo, pKey, nKey)<=0 ){
    return &p->aFrag[lo];
  }
  return 0;
}

u64 kvRdFragMaxSeq(const KvRdFrags *p, const KvRdFrag *f, u64 maxSeq){
  const u64 *a = &p->aSeq[f->iSeq];
  int i;
  for(i=f->nSeq-1; i>=0; i--){
    if( a[i]<=maxSeq ) return a[i];
  }
  return 0;
}

u64 kvRdFragsMaxSeq(const KvRdFrags *p, const u8 *pKey, size_t nKey,
                    u64 maxSeq){
  const KvRdFrag *f = kvRdFragsFind(p, pKey, nKey);
  return f ? kvRdFragMaxSeq(p, f, maxSeq) : 0;
}

u64 kvRdFragsNextSeq(const KvRdFrags *p, const u8 *pKey, size_t nKey,
                     u64 seq){
  const KvRdFrag *f = kvRdFragsFind(p, pKey, nKey);
  int i;
  if( f==0 ) return 0;
  for(i=0; i<f->nSeq; i++){
    if( p->aSeq[f->iSeq + (size_t)i]>seq ) return p->aSeq[f->iSeq + (size_t)i];
  }
  return 0;
}

u64 kvRdListMaxSeq(const KvRdList *p, const u8 *pKey, size_t nKey,
                   u64 maxSeq){
  u64 best = 0;
  int i;
  for(i=0; i<p->n; i++){
    const KvRangeTomb *t = &p->a[i];
    if( t->seq>maxSeq || t->seq<=best ) continue;
    if( kvUKeyCmp(t->pLo, t->nLo, pKey, nKey)<=0
     && kvUKeyCmp(pKey, nKey, t->pHi, t->nHi)<0 ){
      best = t->seq;
    }
  }
  return best;
}

/*
** Encoding of a list (the SSTable range-deletion part, before its CRC):
** varint count, then per tombstone varint lo length, lo, varint hi
** length, hi, varint sequence.
*/
int kvRdListEncode(const KvRdList *p, KvBuf *pOut){
  int rc = kvBufAppendVarint(pOut, (u64)p->n);
  int i;
  for(i=0; rc==KV_OK && i<p->n; i++){
    const KvRangeTomb *t = &p->a[i];
    rc = kvBufAppendVarint(pOut, t->nLo);
    if( rc==KV_OK ) rc = kvBufAppend(pOut, t->pLo, t->nLo);
    if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, t->nHi);
    if( rc==KV_OK ) rc = kvBufAppend(pOut, t->pHi, t->nHi);
    if( rc==KV_OK ) rc = kvBufAppendVarint(pOut, t->seq);
  }
  return rc;
}

int kvRdListDecode(const u8 *a, size_t n, KvRdList *pOut){
  const u8 *p = a, *pEnd = a + n;
  u64 nTomb, i;
  int k = kvGetVarint(p, pEnd, &nTomb);
  if( k==0 || nTomb>n ) return KV_CORRUPT;
  p += k;
  for(i=0; i<nTomb; i++){
    u64 nLo, nHi, seq;
    const u8 *pLo, *pHi;
    k = kvGetVarint(p, pEnd, &nLo);
    if( k==0 || nLo>(u64)(pEnd - p - k) ) return KV_CORRUPT;
    pLo = p + k; p = pLo + nLo;
    k = kvGetVarint(p, pEnd, &nHi);
    if( k==0 || nHi>(u64)(pEnd - p - k) ) return KV_CORRUPT;
    pHi = p + k; p = pHi + nHi;
    k = kvGetVarint(p, pEnd, &seq);
    if( k==0 || seq==0 || seq>KV_MAX_SEQ ) return KV_CORRUPT;
    p += k;
    if( kvUKeyCmp(pLo, (size_t)nLo, pHi, (size_t)nHi)>=0 ) return KV_CORRUPT;
    if( kvRdListAdd(pOut, pLo, (size_t)nLo, pHi, (size_t)nHi, seq) ){
      return KV_NOMEM;
    }
  }
  if( p!=pEnd ) return KV_CORRUPT;
  return KV_OK;
}

/* ---------------------------------------------------------------------- */
/* Gathering a store's tombstones.                                         */

int kvFilesRangeDels(KvFileMeta **aFile, int nFile, KvRdList *pOut){
  int rc = KV_OK;
  int i;
  for(i=0; rc==KV_OK && i<nFile; i++){
    KvSst *pSst = 0;
    if( aFile[i]->nRangeDel==0 ) continue;
    rc = kvFileTable(aFile[i], &pSst);
    if( rc==KV_OK ) rc = kvSstRangeDels(pSst, pOut);
  }
  return rc;
}

int kvDbRangeDels(KvMem *pMem, KvMem *pImm, KvVersion *v, KvRdList *pOut){
  int rc = KV_OK;
  int i;
  int e;
  if( pMem ) rc = kvMemRangeDels(pMem, pOut);
  if( rc==KV_OK && pImm ) rc = kvMemRangeDels(pImm, pOut);
  /* A version never changes: whether any of its files holds tombstones
  ** is worked out once, so reads of a store without them pay one load. */
  e = atomic_load_explicit(&v->eRangeDel, memory_order_relaxed);
  if( e==0 ){
    int j;
    e = 1;
    for(i=0; e==1 && i<KV_MAX_LEVELS; i++){
      for(j=0; j<v->anFile[i]; j++){
        if( v->aaFile[i][j]->nRangeDel ){ e = 2; break; }
      }
    }
    atomic_store_explicit(&v->eRangeDel, e, memory_order_relaxed);
  }
  for(i=0; rc==KV_OK && e==2 && i<KV_MAX_LEVELS; i++){
    rc = kvFilesRangeDels(v->aaFile[i], v->anFile[i], pOut);
  }
  return rc;
}
