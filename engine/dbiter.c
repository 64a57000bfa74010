/*
** dbiter.c - iterators over a whole store.
**
** A kv_iter merges a transaction's batch, the memtable, the immutable
** memtable, every level-0 table and one level iterator per deeper level
** into one stream of internal keys (kvMergeIterNew), then turns that into
** user keys: it hides entries newer than its read point, shows only the
** newest version of each key, and skips keys whose newest version is a
** tombstone. Batch entries carry KV_BATCH_SEQ and are always visible.
**
** Direction, in the manner of LevelDB's DBIter: moving forward, the merged
** iterator sits on the entry that is the current user key's newest
** version. Moving backward, it sits just before every entry of the current
** key, and the current key and value are copies held in savedKey/savedVal.
**
** The iterator holds references on the memtables and the version it reads
** (so their files outlive compactions) and registers its read point as a
** snapshot (so compaction keeps what it may still see).
*/
#include "kvInt.h"

/* ---------------------------------------------------------------------- */
/* Collecting the sources of a store.                                      */

/* Room for nMore more iterators in *papIter (one allocation for all the
** sources of a store: an iterator is made for every short scan). */
static int reserveIters(KvIter ***papIter, int nIter, int nMore){
  KvIter **aNew;
  if( nMore==0 ) return KV_OK;
  aNew = kvRealloc(*papIter, sizeof(KvIter*)*(size_t)(nIter+nMore));
  if( aNew==0 ) return kvErrNoMem();
  *papIter = aNew;
  return KV_OK;
}

/* Append pIt to *papIter, growing it (closing pIt if that fails). */
static int pushIter(KvIter ***papIter, int *pnIter, KvIter *pIt){
  KvIter **aNew = kvRealloc(*papIter, sizeof(KvIter*)*(size_t)(*pnIter+1));
  if( aNew==0 ){
    pIt->pMethods->xClose(pIt);
    return kvErrNoMem();
  }
  aNew[(*pnIter)++] = pIt;
  *papIter = aNew;
  return KV_OK;
}

int kvDbCollectIters(kv_db *db, KvMem *pMem, KvMem *pImm, KvVersion *v,
                     KvIter ***papIter, int *pnIter){
  KvIter *pIt = 0;
  int rc = KV_OK;
  int nMore = (pMem!=0) + (pImm!=0) + v->anFile[0];
  int i;
  (void)db;
  for(i=1; i<KV_MAX_LEVELS; i++) nMore += v->anFile[i]>0;
  rc = reserveIters(papIter, *pnIter, nMore);
  if( rc==KV_OK && pMem ){
    rc = kvMemIterNew(pMem, &pIt);
    if( rc==KV_OK ) (*papIter)[(*pnIter)++] = pIt;
  }
  if( rc==KV_OK && pImm ){
    rc = kvMemIterNew(pImm, &pIt);
    if( rc==KV_OK ) (*papIter)[(*pnIter)++] = pIt;
  }
  /* Level-0 tables may overlap: one iterator each, opened lazily like the
  ** deeper levels (a level iterator over a single file). */
  for(i=0; rc==KV_OK && i<v->anFile[0]; i++){
    rc = kvLevelIterNew(&v->aaFile[0][i], 1, 0, &pIt);
    if( rc==KV_OK ) (*papIter)[(*pnIter)++] = pIt;
  }
  for(i=1; rc==KV_OK && i<KV_MAX_LEVELS; i++){
    if( v->anFile[i]==0 ) continue;
    rc = kvLevelIterNew(v->aaFile[i], v->anFile[i], 0, &pIt);
    if( rc==KV_OK ) (*papIter)[(*pnIter)++] = pIt;
  }
  return rc;
}

/* ---------------------------------------------------------------------- */
/* kv_iter.                                                                */

struct kv_iter {
  kv_db *db;
  KvIter *pMerged;
  KvMem *pMem, *pImm;           /* referenced */
  KvVersion *pVersion;          /* referenced */
  KvSnapLink link;              /* registered read point (its pointers
                                ** belong to the store's list: mutex) */
  int bLinked;                  /* link is in the store's list */
  u64 seq;                      /* read point */
  int bValid;
  int bReverse;                 /* direction: see the top of this file */
  KvBuf savedKey;               /* reverse: current key; forward: skip key */
  KvBuf savedVal;               /* reverse: current value */
  KvBuf seekKey;                /* scratch for internal seek keys */
  /* Range tombstones (rangedel.c): NULL pFrags when none applies. */
  KvRdList rd;                  /* every tombstone of the sources */
  KvBuf rdCopy;                 /* keys of the batch's range deletions */
  KvRdFrags *pFrags;            /* rd fragmented */
  u64 nVisit;                   /* merged entries examined (tests) */
  u64 nRdSkip;                  /* seeks past a tombstone's end (tests) */
  int bBatch;                   /* a batch's entries are merged in */
  int bError;                   /* a move failed: never kept for reuse */
};

/* Is the entry (user key k, sequence seq <= it->seq) hidden by a range
** tombstone? Batch tombstones (KV_BATCH_SEQ) hide every stored entry;
** batch entries themselves are settled by the batch's view. */
static int rdHidden(const kv_iter *it, const u8 *k, size_t n, u64 seq){
  const KvRdFrag *f;
  if( seq==KV_BATCH_SEQ ) return 0;
  f = kvRdFragsFind(it->pFrags, k, n);
  if( f==0 ) return 0;
  if( it->pFrags->aSeq[f->iSeq + (size_t)f->nSeq - 1]==KV_BATCH_SEQ ) return 1;
  return kvRdFragMaxSeq(it->pFrags, f, it->seq)>seq;
}

u64 kvIterVisited(const kv_iter *it){ return it->nVisit; }
u64 kvIterRdSkips(const kv_iter *it){ return it->nRdSkip; }

/* ---------------------------------------------------------------------- */
/* Skipping wrapper: a child whose entries are all older than a fragment's
** tombstone seeks past the fragment instead of stepping through it.      */

typedef struct RdSkipIter RdSkipIter;
struct RdSkipIter {
  KvIter base;
  KvIter *pChild;               /* owned */
  const KvRdFrags *pFrags;      /* the kv_iter's */
  u64 childMax;                 /* no entry of pChild is newer */
  u64 readSeq;
  u64 *pnSkip;
  KvBuf seek;
};

/* The fragment hiding everything of the child at user key k, or NULL. */
static const KvRdFrag *skipFrag(RdSkipIter *p, const u8 *k, size_t n){
  const KvRdFrag *f = kvRdFragsFind(p->pFrags, k, n);
  u64 top;
  if( f==0 ) return 0;
  top = p->pFrags->aSeq[f->iSeq + (size_t)f->nSeq - 1];
  if( top==KV_BATCH_SEQ ) return f;
  return kvRdFragMaxSeq(p->pFrags, f, p->readSeq)>p->childMax ? f : 0;
}

static int skipSettle(RdSkipIter *p, int bForward){
  KvIter *c = p->pChild;
  int rc = KV_OK;
  while( rc==KV_OK && kvIterValid(c) ){
    const KvRdFrag *f = skipFrag(p, c->pKey, c->nKey - KV_TRAILER);
    if( f==0 ) break;
    if( p->pnSkip ) (*p->pnSkip)++;
    p->seek.n = 0;
    if( bForward ){
      rc = kvIKeyAppend(&p->seek, f->pHi, f->nHi, KV_MAX_SEQ, KV_TYPE_PUT);
      if( rc==KV_OK ) rc = c->pMethods->xSeek(c, p->seek.a, p->seek.n);
    }else{
      rc = kvIKeyAppend(&p->seek, f->pLo, f->nLo, KV_MAX_SEQ, KV_TYPE_PUT);
      if( rc==KV_OK ) rc = c->pMethods->xSeek(c, p->seek.a, p->seek.n);
      if( rc==KV_OK ){
        rc = kvIterValid(c) ? c->pMethods->xPrev(c) : c->pMethods->xLast(c);
      }
    }
  }
  if( rc ){
    kvIterSetInvalid(&p->base);
    return rc;
  }
  kvIterCopy(&p->base, c);
  return KV_OK;
}

static int skipFirst(KvIter *pIter){
  RdSkipIter *p = (RdSkipIter*)pIter;
  int rc = p->pChild->pMethods->xFirst(p->pChild);
  return rc ? rc : skipSettle(p, 1);
}
static int skipLast(KvIter *pIter){
  RdSkipIter *p = (RdSkipIter*)pIter;
  int rc = p->pChild->pMethods->xLast(p->pChild);
  return rc ? rc : skipSettle(p, 0);
}
static int skipSeek(KvIter *pIter, const u8 *pKey, size_t nKey){
  RdSkipIter *p = (RdSkipIter*)pIter;
  const KvRdFrag *f = 0;
  int rc = KV_OK;
  /* A target inside a fragment that hides all of the child: seek straight
  ** to the fragment's end (one seek where skipSettle would make two). */
  if( nKey>=KV_TRAILER ) f = skipFrag(p, pKey, nKey - KV_TRAILER);
  if( f ){
    if( p->pnSkip ) (*p->pnSkip)++;
    p->seek.n = 0;
    rc = kvIKeyAppend(&p->seek, f->pHi, f->nHi, KV_MAX_SEQ, KV_TYPE_PUT);
    if( rc==KV_OK ) rc = p->pChild->pMethods->xSeek(p->pChild, p->seek.a,
                                                    p->seek.n);
  }else{
    rc = p->pChild->pMethods->xSeek(p->pChild, pKey, nKey);
  }
  return rc ? rc : skipSettle(p, 1);
}
static int skipNext(KvIter *pIter){
  RdSkipIter *p = (RdSkipIter*)pIter;
  int rc = p->pChild->pMethods->xNext(p->pChild);
  return rc ? rc : skipSettle(p, 1);
}
static int skipPrev(KvIter *pIter){
  RdSkipIter *p = (RdSkipIter*)pIter;
  int rc = p->pChild->pMethods->xPrev(p->pChild);
  return rc ? rc : skipSettle(p, 0);
}
static void skipClose(KvIter *pIter){
  RdSkipIter *p = (RdSkipIter*)pIter;
  p->pChild->pMethods->xClose(p->pChild);
  kvBufFree(&p->seek);
  kvFree(p);
}
static const KvIterMethods skipMethods = {
  skipFirst, skipLast, skipSeek, skipNext, skipPrev, skipClose
};

int kvRdSkipIterNew(KvIter *pChild, const KvRdFrags *pFrags, u64 childMaxSeq,
                    u64 readSeq, u64 *pnSkip, KvIter **ppOut){
  RdSkipIter *p = kvMallocZero(sizeof(*p));
  *ppOut = 0;
  if( p==0 ){
    pChild->pMethods->xClose(pChild);
    return kvErrNoMem();
  }
  p->base.pMethods = &skipMethods;
  p->pChild = pChild;
  p->pFrags = pFrags;
  p->childMax = childMaxSeq;
  p->readSeq = readSeq;
  p->pnSkip = pnSkip;
  *ppOut = &p->base;
  return KV_OK;
}

/* The largest sequence of a point entry of table f. Its manifest range
** is widened to its range tombstones (sst_build.c), its own metadata is
** not; a table holding tombstones is open already (kvDbRangeDels read
** them). When it is not, the widened bound (it only skips less). */
static u64 filePointMaxSeq(KvFileMeta *f){
  KvSst *pSst = 0;
  if( f->nRangeDel==0 ) return f->maxSeq;
  pSst = atomic_load_explicit(&f->pSst, memory_order_acquire);
  if( pSst==0 ) return f->maxSeq;
  return kvSstGetMeta(pSst)->maxSeq;
}

static int visible(kv_iter *it, u64 seq){
  return seq<=it->seq || seq==KV_BATCH_SEQ;
}

/* kvBufSet for savedKey, the long way. */
static __attribute__((noinline)) int saveKeyLong(KvBuf *p, const u8 *a,
                                                 size_t n){
  return kvBufSet(p, a, n);
}

/* kvBufSet for savedKey, which every forward step sets: a user key of up
** to 24 bytes in at most three 8-byte moves, the last one overlapping.
** a[] is an internal key's user key, so its 8-byte trailer follows and
** a[0..8) may be read even when n < 8. */
static inline int saveKey(KvBuf *p, const u8 *a, size_t n){
  if( n<=24 && p->nAlloc>=24 ){
    u8 *d = p->a;
    memcpy(d, a, 8);
    if( n>16 ) memcpy(d + 8, a + 8, 8);
    if( n>8 ) memcpy(d + n - 8, a + n - 8, 8);
    p->n = n;
    return KV_OK;
  }
  return saveKeyLong(p, a, n);
}

/* Eight bytes at a, in the machine's order: for equality tests only. */
static inline u64 load8(const u8 *a){
  u64 v;
  memcpy(&v, a, 8);
  return v;
}

/* Is user key a[0..n) the one in savedKey? a[] is an internal key's user
** key (its trailer follows), so eight bytes may be read from a + n - 8
** when n >= 8; savedKey holds n bytes when the lengths match. */
static inline int sameSavedKey(const KvBuf *p, const u8 *a, size_t n){
  const u8 *b = p->a;
  size_t i;
  if( n!=p->n ) return 0;
  if( n<8 ) return n==0 || memcmp(a, b, n)==0;
  for(i=0; i+8<n; i+=8){
    if( load8(a + i)!=load8(b + i) ) return 0;
  }
  return load8(a + n - 8)==load8(b + n - 8);
}

static void mKey(kv_iter *it, const u8 **pp, size_t *pn){
  kvIterKey(it->pMerged, pp, pn);
}

/* Forward: settle on the next entry that is the newest visible version of
** a live key. When bSkipping, keys <= savedKey are hidden. */
static int findNextUserEntry(kv_iter *it, int bSkipping){
  KvIter *m = it->pMerged;
  int rc = KV_OK;
  while( kvIterValid(m) ){
    const u8 *k;
    size_t n;
    mKey(it, &k, &n);
    it->nVisit++;
    if( visible(it, kvIKeySeq(k, n)) ){
      size_t nu = n - KV_TRAILER;
      if( bSkipping
       && kvUKeyCmpShort(k, nu, it->savedKey.a, it->savedKey.n)<=0 ){
        /* an older version of a key already passed or deleted */
      }else if( kvIKeyType(k, n)==KV_TYPE_DEL
             || (it->pFrags && rdHidden(it, k, nu, kvIKeySeq(k, n))) ){
        rc = saveKey(&it->savedKey, k, nu);
        if( rc ) break;
        bSkipping = 1;
      }else{
        it->bValid = 1;
        return KV_OK;
      }
    }
    rc = m->pMethods->xNext(m);
    if( rc ) break;
  }
  it->bValid = 0;
  if( rc ) it->bError = 1;
  return rc;
}

/* Backward: settle on the previous live key, leaving the merged iterator
** before all its entries and its newest visible version in saved*. */
static int findPrevUserEntry(kv_iter *it){
  KvIter *m = it->pMerged;
  int eType = KV_TYPE_DEL;
  int rc = KV_OK;
  while( kvIterValid(m) ){
    const u8 *k, *v;
    size_t n, nv;
    mKey(it, &k, &n);
    if( visible(it, kvIKeySeq(k, n)) ){
      size_t nu = n - KV_TRAILER;
      /* (moving backward the merged stream never goes forward: a key
      ** other than savedKey is before it) */
      if( eType!=KV_TYPE_DEL && !sameSavedKey(&it->savedKey, k, nu) ){
        break;                  /* passed every entry of savedKey */
      }
      eType = kvIKeyType(k, n);
      if( eType==KV_TYPE_PUT && it->pFrags
       && rdHidden(it, k, nu, kvIKeySeq(k, n)) ){
        eType = KV_TYPE_DEL;
      }
      if( eType==KV_TYPE_DEL ){
        it->savedKey.n = 0;
        it->savedVal.n = 0;
      }else{
        kvIterValue(m, &v, &nv);
        rc = kvBufSet(&it->savedKey, k, nu);
        if( rc==KV_OK ) rc = kvBufSet(&it->savedVal, v, nv);
        if( rc ) break;
      }
    }
    rc = m->pMethods->xPrev(m);
    if( rc ) break;
  }
  if( rc ){
    it->bValid = 0;
    it->bError = 1;
    return rc;
  }
  if( eType==KV_TYPE_DEL ){
    it->bValid = 0;
    it->savedKey.n = 0;
    it->savedVal.n = 0;
    it->bReverse = 0;
  }else{
    it->bValid = 1;
  }
  return KV_OK;
}

static int iterFail(kv_iter *it, int rc){
  it->bValid = 0;
  it->bError = 1;
  return rc;
}

/* Register the iterator's read point (the mutex held). */
static void iterLink(kv_db *db, kv_iter *it){
  it->link.pNext = &db->snapHead;
  it->link.pPrev = db->snapHead.pPrev;
  db->snapHead.pPrev->pNext = &it->link;
  db->snapHead.pPrev = &it->link;
  it->bLinked = 1;
}

/* kv_iter_new's shortcut: the iterator kv_iter_recycle kept, when it reads
** what a new one would (same memtables, version and read point; those it
** holds references on, so equal pointers are the same objects), ready to
** be positioned. Otherwise NULL, and the kept one is freed. */
static kv_iter *iterReuse(kv_db *db, const kv_snapshot *snap){
  kv_iter *it;
  KvVersion *v;
  v = kvVersionCurrent(&db->vset);
  kvDbLock(db);
  it = db->pSpareIter;
  db->pSpareIter = 0;
  if( it && it->pMem==db->pMem && it->pImm==db->pImm && it->pVersion==v
   && it->seq==(snap ? snap->link.seq : atomic_load(&db->lastSeq)) ){
    it->link.seq = it->seq;
    iterLink(db, it);
    kvDbUnlock(db);
    kvVersionUnref(v);
    it->bValid = 0;
    it->bReverse = 0;
    it->savedKey.n = 0;
    it->savedVal.n = 0;
    it->nVisit = 0;
    it->nRdSkip = 0;
    return it;
  }
  kvDbUnlock(db);
  kvVersionUnref(v);
  kv_iter_free(it);
  return 0;
}

void kv_iter_recycle(kv_iter *it){
  kv_db *db;
  kv_iter *pOld;
  if( it==0 ) return;
  if( it->bBatch || it->bError || !it->bLinked || it->pMerged==0 ){
    kv_iter_free(it);
    return;
  }
  db = it->db;
  kvDbLock(db);
  it->link.pPrev->pNext = it->link.pNext;
  it->link.pNext->pPrev = it->link.pPrev;
  it->bLinked = 0;
  kvSharedPublish(db);
  pOld = db->pSpareIter;
  db->pSpareIter = it;
  kvDbUnlock(db);
  kv_iter_free(pOld);
}

void kvDbDropSpareIter(kv_db *db){
  kv_iter *it;
  kvDbLock(db);
  it = db->pSpareIter;
  db->pSpareIter = 0;
  kvDbUnlock(db);
  kv_iter_free(it);
}

int kv_iter_new(kv_db *db, const kv_snapshot *snap, const kv_batch *b,
                kv_iter **ppIter){
  kv_iter *it;
  KvIter **apChild = 0;
  int nChild = 0;
  int iMem = 0;                 /* index of the first memtable child */
  int rc = KV_OK;

  *ppIter = 0;
  if( b==0 || kv_batch_count(b)==0 ){
    it = iterReuse(db, snap);
    if( it ){
      *ppIter = it;
      return KV_OK;
    }
  }
  it = kvMallocZero(sizeof(*it));
  if( it==0 ) return kvErrNoMem();
  it->db = db;
  if( b && kv_batch_count(b)>0 ){
    KvIter *pB = 0;
    it->bBatch = 1;
    rc = kvBatchIterNew(b, &pB);
    if( rc==KV_OK ) rc = pushIter(&apChild, &nChild, pB);
  }
  iMem = nChild;
  if( rc==KV_OK ){
    kvDbLock(db);
    it->pMem = db->pMem;
    kvMemRef(it->pMem);
    it->pImm = db->pImm;
    if( it->pImm ) kvMemRef(it->pImm);
    it->pVersion = kvVersionCurrent(&db->vset);
    /* Register the read point under the same lock, so nothing committed
    ** after the memtables were taken is visible and nothing it needs can
    ** be compacted away. */
    it->link.seq = snap ? snap->link.seq : atomic_load(&db->lastSeq);
    iterLink(db, it);
    kvDbUnlock(db);
    it->seq = it->link.seq;
    rc = kvDbCollectIters(db, it->pMem, it->pImm, it->pVersion, &apChild,
                          &nChild);
  }
  if( rc==KV_OK ) rc = kvBatchRangeDels(b, &it->rdCopy, &it->rd);
  if( it->rd.n>0 ) it->bBatch = 1;      /* the batch's range deletions */
  if( rc==KV_OK ){
    rc = kvDbRangeDels(it->pMem, it->pImm, it->pVersion, &it->rd);
  }
  if( rc==KV_OK && it->rd.n>0 ){
    rc = kvRdFragsBuild(&it->rd, KV_BATCH_SEQ, &it->pFrags);
    if( rc==KV_OK && it->pFrags->nFrag==0 ){
      kvRdFragsFree(it->pFrags);
      it->pFrags = 0;
    }
  }
  if( rc==KV_OK && it->pFrags ){
    /* Memtables, tables and levels: every point entry is at most their
    ** largest point sequence, so a newer tombstone lets them seek past it
    ** (a tombstone in the same memtable or table as the rows it deleted
    ** included). The children follow kvDbCollectIters' order after the
    ** batch: memtable, immutable memtable, level-0 tables, levels. */
    KvVersion *v = it->pVersion;
    int i0 = iMem, iLevel, i;
    for(i=0; rc==KV_OK && i0+i<nChild; i++){
      u64 mx = 0;
      int j;
      int k = i - (it->pMem!=0) - (it->pImm!=0);
      if( k<0 ){
        KvMem *pM = (i==0 && it->pMem) ? it->pMem : it->pImm;
        mx = kvMemMaxPointSeq(pM);
      }else if( k<v->anFile[0] ){
        mx = filePointMaxSeq(v->aaFile[0][k]);
      }else{
        k -= v->anFile[0];
        for(iLevel=1; iLevel<KV_MAX_LEVELS; iLevel++){
          if( v->anFile[iLevel]==0 ) continue;
          if( k--==0 ) break;
        }
        for(j=0; j<v->anFile[iLevel]; j++){
          u64 m = filePointMaxSeq(v->aaFile[iLevel][j]);
          if( m>mx ) mx = m;
        }
      }
      rc = kvRdSkipIterNew(apChild[i0+i], it->pFrags, mx, it->seq,
                           &it->nRdSkip, &apChild[i0+i]);
      if( rc ){
        /* the child is closed: drop it from the array */
        memmove(&apChild[i0+i], &apChild[i0+i+1],
                sizeof(KvIter*)*(size_t)(nChild - i0 - i - 1));
        nChild--;
      }
    }
  }
  if( rc==KV_OK ){
    /* The merge owns the children from here on, but not the array. */
    rc = kvMergeIterNew(apChild, nChild, &it->pMerged);
    kvFree(apChild);
    apChild = 0;
    nChild = 0;
  }
  if( rc!=KV_OK ){
    int i;
    for(i=0; i<nChild; i++) apChild[i]->pMethods->xClose(apChild[i]);
    kvFree(apChild);
    kv_iter_free(it);
    return rc;
  }
  *ppIter = it;
  return KV_OK;
}

void kv_iter_free(kv_iter *it){
  if( it==0 ) return;
  if( it->pMerged ) it->pMerged->pMethods->xClose(it->pMerged);
  if( it->bLinked ) kvDbSnapRemove(it->db, &it->link);
  kvMemUnref(it->pMem);
  kvMemUnref(it->pImm);
  kvVersionUnref(it->pVersion);
  kvBufFree(&it->savedKey);
  kvBufFree(&it->savedVal);
  kvBufFree(&it->seekKey);
  kvRdFragsFree(it->pFrags);
  kvRdListFree(&it->rd);
  kvBufFree(&it->rdCopy);
  kvFree(it);
}

int kv_iter_first(kv_iter *it){
  int rc;
  it->bReverse = 0;
  rc = it->pMerged->pMethods->xFirst(it->pMerged);
  if( rc ) return iterFail(it, rc);
  return findNextUserEntry(it, 0);
}

int kv_iter_last(kv_iter *it){
  int rc;
  it->bReverse = 1;
  rc = it->pMerged->pMethods->xLast(it->pMerged);
  if( rc ) return iterFail(it, rc);
  return findPrevUserEntry(it);
}

int kv_iter_seek(kv_iter *it, const void *pKey, size_t nKey){
  int rc;
  it->bReverse = 0;
  /* The largest trailer sorts first among a key's entries, so the seek
  ** lands on the newest (batch) version. */
  it->seekKey.n = 0;
  rc = kvIKeyAppend(&it->seekKey, pKey, nKey, KV_MAX_SEQ, KV_TYPE_PUT);
  if( rc==KV_OK ){
    rc = it->pMerged->pMethods->xSeek(it->pMerged, it->seekKey.a, it->seekKey.n);
  }
  if( rc ) return iterFail(it, rc);
  kvDbSeekChargeScan(it->db, it->pVersion, pKey, nKey);
  return findNextUserEntry(it, 0);
}

int kv_iter_seek_for_prev(kv_iter *it, const void *pKey, size_t nKey){
  KvIter *m = it->pMerged;
  int rc;
  it->bReverse = 1;
  /* Position after every entry of pKey: sequence 0 with the smallest type
  ** sorts last among them (no entry has sequence 0). */
  it->seekKey.n = 0;
  rc = kvIKeyAppend(&it->seekKey, pKey, nKey, 0, KV_TYPE_DEL);
  if( rc==KV_OK ) rc = m->pMethods->xSeek(m, it->seekKey.a, it->seekKey.n);
  if( rc==KV_OK ) kvDbSeekChargeScan(it->db, it->pVersion, pKey, nKey);
  if( rc==KV_OK ){
    if( kvIterValid(m) ){
      rc = m->pMethods->xPrev(m);
    }else{
      rc = m->pMethods->xLast(m);
    }
  }
  if( rc ) return iterFail(it, rc);
  return findPrevUserEntry(it);
}

int kv_iter_next(kv_iter *it){
  KvIter *m = it->pMerged;
  int rc = KV_OK;
  if( !it->bValid ) return KV_OK;
  if( it->bReverse ){
    /* The merged iterator is before the current key's entries: step into
    ** them; savedKey (the current key) is then skipped below. */
    it->bReverse = 0;
    if( !kvIterValid(m) ){
      rc = m->pMethods->xFirst(m);
    }else{
      rc = m->pMethods->xNext(m);
    }
    if( rc ) return iterFail(it, rc);
    if( !kvIterValid(m) ){
      it->bValid = 0;
      it->savedKey.n = 0;
      return KV_OK;
    }
  }else{
    const u8 *k;
    size_t n;
    mKey(it, &k, &n);
    rc = saveKey(&it->savedKey, k, n - KV_TRAILER);
    if( rc==KV_OK ) rc = m->pMethods->xNext(m);
    if( rc ) return iterFail(it, rc);
    if( m->bValid ){
      /* The usual step, findNextUserEntry()'s first test inline: a
      ** visible put of a key after the one just left. Moving forward the
      ** merged stream never goes back, so a key other than the one left
      ** is after it: an equality test does. */
      u64 t = kvGet64(m->pKey + m->nKey - KV_TRAILER);
      if( (t & 0xff)==KV_TYPE_PUT && visible(it, t>>8) && it->pFrags==0
       && !sameSavedKey(&it->savedKey, m->pKey, m->nKey - KV_TRAILER) ){
        return KV_OK;           /* it->bValid stays 1 */
      }
    }
  }
  return findNextUserEntry(it, 1);
}

int kv_iter_prev(kv_iter *it){
  KvIter *m = it->pMerged;
  int rc = KV_OK;
  if( !it->bValid ) return KV_OK;
  if( !it->bReverse ){
    /* On the current key's newest entry: back up past all its entries. */
    const u8 *k;
    size_t n;
    mKey(it, &k, &n);
    rc = kvBufSet(&it->savedKey, k, n - KV_TRAILER);
    while( rc==KV_OK ){
      rc = m->pMethods->xPrev(m);
      if( rc ) break;
      if( !kvIterValid(m) ){
        it->bValid = 0;
        it->savedKey.n = 0;
        it->savedVal.n = 0;
        return KV_OK;
      }
      mKey(it, &k, &n);
      if( kvUKeyCmp(k, n - KV_TRAILER, it->savedKey.a, it->savedKey.n)<0 ){
        break;
      }
    }
    if( rc ) return iterFail(it, rc);
    it->bReverse = 1;
  }
  return findPrevUserEntry(it);
}

int kv_iter_valid(const kv_iter *it){
  return it && it->bValid;
}

int kv_iter_entry(const kv_iter *it, const void **ppKey, size_t *pnKey,
                  const void **ppVal, size_t *pnVal){
  const KvIter *m;
  if( it==0 || !it->bValid ) return 0;
  if( it->bReverse ){
    *ppKey = it->savedKey.a ? (const void*)it->savedKey.a : (const void*)"";
    *pnKey = it->savedKey.n;
    *ppVal = it->savedVal.a ? (const void*)it->savedVal.a : (const void*)"";
    *pnVal = it->savedVal.n;
  }else{
    m = it->pMerged;
    *ppKey = m->pKey;
    *pnKey = m->nKey - KV_TRAILER;
    *ppVal = m->pVal;
    *pnVal = m->nVal;
  }
  return 1;
}

const void *kv_iter_key(const kv_iter *it, size_t *pnKey){
  const void *pKey = 0, *pVal;
  size_t nVal;
  int bValid = kv_iter_entry(it, &pKey, pnKey, &pVal, &nVal);
  assert( bValid );
  (void)bValid;
  return pKey;
}

const void *kv_iter_value(const kv_iter *it, size_t *pnVal){
  const void *pKey, *pVal = 0;
  size_t nKey;
  int bValid = kv_iter_entry(it, &pKey, &nKey, &pVal, pnVal);
  assert( bValid );
  (void)bValid;
  return pVal;
}
