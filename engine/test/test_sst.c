/*
** test_sst.c - SSTables (sst_*.c): round trips under several configurations
** (compression, block sizes, bloom bits, 0 / 1 / 50k entries, empty and
** 1 MiB values), versions and tombstones read at different sequences,
** iterators against the input, the block cache, metadata and the Merkle
** root recomputed from the file by an independent parser of the documented
** format, and damage: a flipped byte in every part and truncation must
** give KV_CORRUPT naming the part, never a wrong value.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "sst_int.h"
#include "testutil.h"
#include "failalloc.h"
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------------- */
/* Entries.                                                                */

typedef struct Ent Ent;
struct Ent {
  u8 *k; size_t nk;             /* internal key */
  u8 *v; size_t nv;             /* value (puts) */
};
typedef struct Set Set;
struct Set {
  Ent *a;
  int n, nAlloc;
};

static void setAdd(Set *s, const char *zUser, u64 seq, int eType,
                   const u8 *v, size_t nv){
  KvBuf b = {0, 0, 0};
  Ent *e;
  if( s->n==s->nAlloc ){
    s->nAlloc = s->nAlloc ? s->nAlloc*2 : 64;
    s->a = realloc(s->a, sizeof(Ent) * (size_t)s->nAlloc);
    assert_non_null(s->a);
  }
  assert_int_equal(kvIKeyAppend(&b, (const u8*)zUser, strlen(zUser), seq,
                                eType), KV_OK);
  e = &s->a[s->n++];
  e->k = malloc(b.n);
  assert_non_null(e->k);
  memcpy(e->k, b.a, b.n);
  e->nk = b.n;
  kvBufFree(&b);
  e->nv = eType==KV_TYPE_PUT ? nv : 0;
  e->v = malloc(e->nv ? e->nv : 1);
  assert_non_null(e->v);
  if( e->nv ) memcpy(e->v, v, nv);
}

static void setFree(Set *s){
  int i;
  for(i=0; i<s->n; i++){ free(s->a[i].k); free(s->a[i].v); }
  free(s->a);
  memset(s, 0, sizeof(*s));
}

static void userKey(char *z, int i){ sprintf(z, "key%08d", i); }

/*
** nUser user keys "key%08d" with even numbers (odd ones are absent);
** when bVersions, key i has 1 + i%3 versions with descending sequences
** and some tombstones. Values vary in length, some are empty.
*/
static void makeSet(Set *s, int nUser, int bVersions){
  int i, j;
  memset(s, 0, sizeof(*s));
  for(i=0; i<nUser; i++){
    char z[32], zv[64];
    int nVer = bVersions ? 1 + i%3 : 1;
    userKey(z, i*2);
    for(j=0; j<nVer; j++){
      u64 seq = 1000 + (u64)i*4 + (u64)(nVer - 1 - j);
      int eType = (bVersions && (i+j)%5==0) ? KV_TYPE_DEL : KV_TYPE_PUT;
      int nv = (i%11==0) ? 0 : snprintf(zv, sizeof(zv), "v%d.%d-%.*s",
                                        i, j, i%29, "abcdefghijklmnopqrstuvwxyz012");
      setAdd(s, z, seq, eType, (const u8*)zv, (size_t)nv);
    }
  }
}

/* Reference lookup: first entry >= (user, seq, PUT), if same user key. */
static const Ent *refGet(const Set *s, const char *zUser, u64 seq){
  KvBuf t = {0, 0, 0};
  int lo = 0, hi = s->n;
  const Ent *e = 0;
  assert_int_equal(kvIKeyAppend(&t, (const u8*)zUser, strlen(zUser), seq,
                                KV_TYPE_PUT), KV_OK);
  while( lo<hi ){
    int mid = (lo+hi)/2;
    if( kvIKeyCmp(s->a[mid].k, s->a[mid].nk, t.a, t.n)<0 ) lo = mid+1;
    else hi = mid;
  }
  if( lo<s->n && kvUKeyCmp(s->a[lo].k, s->a[lo].nk - 8, t.a, t.n - 8)==0 ){
    e = &s->a[lo];
  }
  kvBufFree(&t);
  return e;
}

/* ---------------------------------------------------------------------- */
/* Files.                                                                  */

static char gDir[64];
static char gPath[128];

static int setupDir(void **state){
  (void)state;
  tuTempDir(gDir, sizeof(gDir), "sst");
  snprintf(gPath, sizeof(gPath), "%s/000007.sst", gDir);
  return 0;
}

static int teardownDir(void **state){
  char z[160];
  (void)state;
  unlink(gPath);
  snprintf(z, sizeof(z), "%s.tmp", gPath);
  unlink(z);
  snprintf(z, sizeof(z), "%s/copy.sst", gDir);
  unlink(z);
  assert_int_equal(rmdir(gDir), 0);
  return 0;
}

static KvSstConfig config(u32 nBlock, int eComp, int nBloom, int nSum){
  KvSstConfig c;
  memset(&c, 0, sizeof(c));
  c.nBlock = nBlock;
  c.eCompression = eComp;
  c.iLevel = 1;
  c.nBloomBits = nBloom;
  c.nSummaryInterval = nSum;
  c.nRestart = 16;
  return c;
}

static void buildTable(const char *zPath, const KvSstConfig *pCfg,
                       const Set *s, KvSstMeta *pMeta){
  KvSstBuilder *pB = 0;
  char zTmp[160];
  int i;
  assert_int_equal(kvSstBuilderNew(kvEnvPosix(), zPath, pCfg, 123456789,
                                   &pB), KV_OK);
  for(i=0; i<s->n; i++){
    assert_int_equal(kvSstBuilderAdd(pB, s->a[i].k, s->a[i].nk,
                                     s->a[i].v, s->a[i].nv), KV_OK);
  }
  assert_int_equal(kvSstBuilderCount(pB), (u64)s->n);
  assert_int_equal(kvSstBuilderFinish(pB, pMeta), KV_OK);
  snprintf(zTmp, sizeof(zTmp), "%s.tmp", zPath);
  assert_int_equal(access(zTmp, F_OK), -1);
  assert_int_equal(access(zPath, F_OK), 0);
}

/* ---------------------------------------------------------------------- */
/* An independent reading of the documented layout.                       */

typedef struct Region Region;
struct Region { u64 iOff, n; const char *zPart; };
typedef struct Layout Layout;
struct Layout {
  u64 aPart[8];                 /* footer: index, filter, meta, summary */
  Region *aBlock; int nBlock;   /* data blocks */
  Region *aChunk; int nChunk;   /* index chunks */
  u8 aRoot[32];                 /* Merkle root recomputed from the blocks */
};

static int anyCmp(const u8 *a, size_t na, const u8 *b, size_t nb){
  (void)a; (void)na; (void)b; (void)nb;
  return 0;
}

static u64 getVarint(const u8 **pp, const u8 *pEnd){
  u64 v = 0;
  int n = kvGetVarint(*pp, pEnd, &v);
  assert_true(n>0);
  *pp += n;
  return v;
}

static void parseLayout(const u8 *a, size_t n, Layout *L){
  const u8 *f = a + n - 80;
  const u8 *p, *pEnd;
  u8 *aLeaf;
  int i;
  memset(L, 0, sizeof(*L));
  assert_int_equal(kvGet32(f+64), KV_FORMAT_VERSION);
  assert_int_equal(kvGet32(f+68), kvCrc32(f, 68));
  for(i=0; i<8; i++) L->aPart[i] = kvGet64(f + i*8);
  /* summary: chunk list */
  p = a + L->aPart[6];
  pEnd = p + L->aPart[7] - 4;
  assert_int_equal(kvCrc32(p, L->aPart[7]-4), kvGet32(pEnd));
  L->nChunk = (int)getVarint(&p, pEnd);
  L->aChunk = calloc((size_t)L->nChunk + 1, sizeof(Region));
  for(i=0; i<L->nChunk; i++){
    u64 nKey = getVarint(&p, pEnd);
    p += nKey;
    L->aChunk[i].iOff = L->aPart[0] + getVarint(&p, pEnd);
    L->aChunk[i].n = getVarint(&p, pEnd);
    L->aChunk[i].zPart = "index";
  }
  /* index chunks: data block handles */
  L->aBlock = calloc(1, sizeof(Region));
  for(i=0; i<L->nChunk; i++){
    KvBlock blk;
    KvBlockIter it;
    const u8 *c = a + L->aChunk[i].iOff;
    size_t nc = (size_t)L->aChunk[i].n - 5;
    assert_int_equal(c[nc], 0);                       /* raw */
    assert_int_equal(kvCrc32(c, nc+1), kvGet32(c+nc+1));
    assert_int_equal(kvBlockParse(c, nc, &blk), KV_OK);
    kvBlockIterInit(&it, &blk, anyCmp);
    assert_int_equal(kvBlockIterFirst(&it), KV_OK);
    while( it.bValid ){
      const u8 *v = it.pVal;
      Region *r;
      L->aBlock = realloc(L->aBlock, sizeof(Region) * (size_t)(L->nBlock+1));
      r = &L->aBlock[L->nBlock++];
      r->iOff = getVarint(&v, it.pVal + it.nVal);
      r->n = getVarint(&v, it.pVal + it.nVal);
      r->zPart = "data block";
      assert_int_equal(kvBlockIterNext(&it), KV_OK);
    }
    kvBlockIterClear(&it);
  }
  /* Merkle root over SHA-256 of each block's stored bytes */
  aLeaf = malloc(32 * (size_t)(L->nBlock + 1));
  for(i=0; i<L->nBlock; i++){
    if( i>0 ){
      assert_int_equal(L->aBlock[i].iOff,
                       L->aBlock[i-1].iOff + L->aBlock[i-1].n);
    }
    kvSha256(a + L->aBlock[i].iOff, (size_t)L->aBlock[i].n, aLeaf + 32*i);
  }
  kvMerkleRoot(aLeaf, (size_t)L->nBlock, L->aRoot);
  free(aLeaf);
}

static void layoutFree(Layout *L){
  free(L->aBlock);
  free(L->aChunk);
}

/* ---------------------------------------------------------------------- */
/* Checking a table against its input.                                     */

static void checkEntry(KvIter *pIt, const Ent *e){
  const u8 *p;
  size_t n;
  assert_true(kvIterValid(pIt));
  kvIterKey(pIt, &p, &n);
  assert_int_equal(n, e->nk);
  assert_memory_equal(p, e->k, n);
  kvIterValue(pIt, &p, &n);
  assert_int_equal(n, e->nv);
  if( n ) assert_memory_equal(p, e->v, n);
}

/* Walk pIt (closed here) both ways and seek it to, around and between
** the keys of s, which it must present in order. */
static void checkIterOn(KvIter *pIt, const Set *s, int nSeekStep){
  const KvIterMethods *m = pIt->pMethods;
  int i;

  assert_int_equal(m->xFirst(pIt), KV_OK);
  for(i=0; i<s->n; i++){
    checkEntry(pIt, &s->a[i]);
    assert_int_equal(m->xNext(pIt), KV_OK);
  }
  assert_false(kvIterValid(pIt));

  assert_int_equal(m->xLast(pIt), KV_OK);
  for(i=s->n-1; i>=0; i--){
    checkEntry(pIt, &s->a[i]);
    assert_int_equal(m->xPrev(pIt), KV_OK);
  }
  assert_false(kvIterValid(pIt));

  for(i=0; i<s->n; i+=nSeekStep){
    KvBuf t = {0, 0, 0};
    const Ent *e = &s->a[i];
    /* exactly the key, then a step each way */
    assert_int_equal(m->xSeek(pIt, e->k, e->nk), KV_OK);
    checkEntry(pIt, e);
    if( i>0 ){
      assert_int_equal(m->xPrev(pIt), KV_OK);
      checkEntry(pIt, &s->a[i-1]);
      assert_int_equal(m->xNext(pIt), KV_OK);
      checkEntry(pIt, e);
    }
    if( i+1<s->n ){
      assert_int_equal(m->xNext(pIt), KV_OK);
      checkEntry(pIt, &s->a[i+1]);
    }
    /* just after the key: (user key, seq-1) if seq>0, else next entry */
    if( kvIKeySeq(e->k, e->nk)>0 ){
      assert_int_equal(kvIKeyAppend(&t, e->k, e->nk-8,
                       kvIKeySeq(e->k, e->nk)-1, KV_TYPE_PUT), KV_OK);
      assert_int_equal(m->xSeek(pIt, t.a, t.n), KV_OK);
      if( i+1<s->n ) checkEntry(pIt, &s->a[i+1]);
      else assert_false(kvIterValid(pIt));
    }
    /* between user keys: user key + "\0" */
    t.n = 0;
    assert_int_equal(kvBufAppend(&t, e->k, e->nk-8), KV_OK);
    assert_int_equal(kvBufAppend(&t, "", 1), KV_OK);
    assert_int_equal(kvBufAppend64(&t, kvPackTrailer(KV_MAX_SEQ, 1)), KV_OK);
    assert_int_equal(m->xSeek(pIt, t.a, t.n), KV_OK);
    {
      int j = i;
      while( j<s->n && kvUKeyCmp(s->a[j].k, s->a[j].nk-8, e->k, e->nk-8)==0 ){
        j++;
      }
      if( j<s->n ) checkEntry(pIt, &s->a[j]);
      else assert_false(kvIterValid(pIt));
    }
    kvBufFree(&t);
  }
  /* before everything, after everything */
  {
    u8 aLow[8] = {0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff};
    u8 aHigh[9] = {0xff, 0,0,0,0,0,0,0,0};
    assert_int_equal(m->xSeek(pIt, aLow, 8), KV_OK);
    if( s->n ) checkEntry(pIt, &s->a[0]);
    else assert_false(kvIterValid(pIt));
    assert_int_equal(m->xSeek(pIt, aHigh, 9), KV_OK);
    assert_false(kvIterValid(pIt));
  }
  m->xClose(pIt);
}

static void checkIter(KvSst *pSst, const Set *s, int nSeekStep){
  KvIter *pIt = 0;
  assert_int_equal(kvSstIterNew(pSst, 0, &pIt), KV_OK);
  checkIterOn(pIt, s, nSeekStep);
}

/* A point read's answer (bFound, eType, the value in v) is entry e's, or
** "not found" when e is NULL. Frees v. */
static void expectAnswer(const Ent *e, int bFound, int eType, KvBuf *v){
  assert_int_equal(bFound, e!=0);
  if( e ){
    assert_int_equal(eType, kvIKeyType(e->k, e->nk));
    if( eType==KV_TYPE_PUT ){
      assert_int_equal(v->n, e->nv);
      if( v->n ) assert_memory_equal(v->a, e->v, v->n);
    }
  }
  kvBufFree(v);
}

static void checkGet(KvSst *pSst, const Set *s, const char *zUser, u64 seq){
  KvBuf v = {0, 0, 0};
  int bFound = -1, eType = -1;
  assert_int_equal(kvSstGet(pSst, (const u8*)zUser, strlen(zUser), seq,
                            &bFound, &eType, &v), KV_OK);
  expectAnswer(refGet(s, zUser, seq), bFound, eType, &v);
}

/* checkGet without kvSstGet's range check (a point read checks the
** file's range itself): keys outside the table are searched for and not
** found. Asked with the filter and without it (a level whose probes find
** their keys passes over it, db.c): the same answers. */
static void checkGetHashed(KvSst *pSst, const Set *s, const char *zUser,
                           u64 seq){
  const Ent *e = refGet(s, zUser, seq);
  int bFilter;
  for(bFilter=0; bFilter<2; bFilter++){
    KvBuf v = {0, 0, 0};
    int bFound = -1, eType = -1;
    assert_int_equal(kvSstGetHashed(pSst, (const u8*)zUser, strlen(zUser),
                     kvBloomHash((const u8*)zUser, strlen(zUser)), bFilter,
                     seq, &bFound, &eType, &v), KV_OK);
    expectAnswer(e, bFound, eType, &v);
  }
}

/* Every user key at several sequences, and absent keys around them. */
static void checkGets(KvSst *pSst, const Set *s, int nStep){
  int i;
  char z[32];
  for(i=0; i<s->n; i+=nStep){
    const Ent *e = &s->a[i];
    u64 seq = kvIKeySeq(e->k, e->nk);
    memcpy(z, e->k, e->nk-8);
    z[e->nk-8] = 0;
    checkGet(pSst, s, z, seq);
    checkGet(pSst, s, z, seq+1);
    if( seq>0 ) checkGet(pSst, s, z, seq-1);
    checkGet(pSst, s, z, 0);
    checkGet(pSst, s, z, KV_MAX_SEQ);
    checkGetHashed(pSst, s, z, seq);
    checkGetHashed(pSst, s, z, 0);
  }
  for(i=-1; i<2*s->n+2; i+=2*nStep+1){
    userKey(z, i);
    checkGet(pSst, s, z, KV_MAX_SEQ);
    checkGetHashed(pSst, s, z, KV_MAX_SEQ);
  }
  checkGet(pSst, s, "", KV_MAX_SEQ);
  checkGet(pSst, s, "zzz", KV_MAX_SEQ);
  checkGetHashed(pSst, s, "", KV_MAX_SEQ);
  checkGetHashed(pSst, s, "zzz", KV_MAX_SEQ);
}

static void checkMeta(const KvSstMeta *m, const Set *s, const char *zPath){
  u64 nTomb = 0, minSeq = s->n ? KV_MAX_SEQ : 0, maxSeq = 0, nRaw = 0;
  size_t nFile;
  u8 *a;
  Layout L;
  int i;
  for(i=0; i<s->n; i++){
    u64 seq = kvIKeySeq(s->a[i].k, s->a[i].nk);
    nTomb += kvIKeyType(s->a[i].k, s->a[i].nk)==KV_TYPE_DEL;
    if( seq<minSeq ) minSeq = seq;
    if( seq>maxSeq ) maxSeq = seq;
    nRaw += s->a[i].nk + s->a[i].nv;
  }
  assert_int_equal(m->nEntry, (u64)s->n);
  assert_int_equal(m->nTombstone, nTomb);
  assert_int_equal(m->minSeq, minSeq);
  assert_int_equal(m->maxSeq, maxSeq);
  assert_int_equal(m->nRawBytes, nRaw);
  assert_int_equal(m->nCreated, 123456789);
  if( s->n ){
    assert_int_equal(m->smallest.n, s->a[0].nk);
    assert_memory_equal(m->smallest.a, s->a[0].k, s->a[0].nk);
    assert_int_equal(m->largest.n, s->a[s->n-1].nk);
    assert_memory_equal(m->largest.a, s->a[s->n-1].k, s->a[s->n-1].nk);
  }
  a = tuReadFile(zPath, &nFile);
  assert_int_equal(m->nFileSize, (u64)nFile);
  parseLayout(a, nFile, &L);
  assert_int_equal(m->nDataBlock, (u64)L.nBlock);
  assert_memory_equal(m->aMerkle, L.aRoot, 32);
  layoutFree(&L);
  free(a);
}

/* Build, then read back every way, with and without a cache. */
static void roundTrip(const KvSstConfig *pCfg, const Set *s, int nStep){
  KvSstMeta meta;
  KvSst *pSst = 0;
  KvCache *pCache = 0;
  KvReadCounters cnt;
  int iCache;
  KvEnv noMap = *kvEnvPosix();
  noMap.xMap = 0;                       /* blocks read with pread */
  buildTable(gPath, pCfg, s, &meta);
  checkMeta(&meta, s, gPath);
  for(iCache=0; iCache<6; iCache++){
    KvEnv *pEnv = iCache<3 ? kvEnvPosix() : &noMap;
    memset(&cnt, 0, sizeof(cnt));
    if( iCache%3>0 ){
      assert_int_equal(kvCacheNew(iCache%3==1 ? 6000 : 0, &pCache), KV_OK);
    }
    assert_int_equal(kvSstOpen(pEnv, gPath, pCache, &cnt, &pSst), KV_OK);
    checkMeta(kvSstGetMeta(pSst), s, gPath);
    checkIter(pSst, s, nStep);
    checkGets(pSst, s, nStep);
    assert_true(cnt.nFileProbe>0);
    if( pCfg->nBloomBits>0 && s->n>0 ){
      assert_true(cnt.nBloomCheck>0);
      /* absent keys inside the key range: the filter rejects most */
      if( s->n>=100 ) assert_true(cnt.nBloomNegative>0);
    }else{
      assert_int_equal(cnt.nBloomCheck, 0);
    }
    kvSstClose(pSst);
    kvCacheFree(pCache);
    pCache = 0;
  }
  assert_int_equal(kvSstVerify(kvEnvPosix(), gPath), KV_OK);
  kvSstMetaFree(&meta);
}

/* The summary's chunk keys: kept in the chunk (aChunk 64-byte aligned)
** when they fit its 32 bytes, else read where they lie in the summary;
** lookups and scans find every key either way. */
static void test_summary_keys(void **state){
  KvSstConfig cfg = config(256, 0, 10, 2);       /* many small chunks */
  KvSstMeta meta;
  KvSst *pSst = 0;
  int iLong;
  (void)state;
  for(iLong=0; iLong<2; iLong++){
    Set s;
    KvIter *pIt = 0;
    int i, nInline = 0;
    memset(&s, 0, sizeof(s));
    for(i=0; i<400; i++){
      char z[64], zv[32];
      /* 12 or 40 bytes of user key: internal keys of 20 or 48 bytes */
      snprintf(z, sizeof(z), iLong ? "long-user-key-%026d" : "key-%08d", i);
      snprintf(zv, sizeof(zv), "value%d", i);
      setAdd(&s, z, 10 + (u64)i, KV_TYPE_PUT, (const u8*)zv, strlen(zv));
    }
    buildTable(gPath, &cfg, &s, &meta);
    kvSstMetaFree(&meta);
    assert_int_equal(kvSstOpen(kvEnvPosix(), gPath, 0, 0, &pSst), KV_OK);
    assert_true(pSst->nChunk>10);
    assert_int_equal((uintptr_t)pSst->aChunk % 64, 0);
    for(i=0; i<pSst->nChunk; i++){
      const SstChunk *pC = &pSst->aChunk[i];
      if( pC->pKey==pC->aKey ){
        nInline++;
        assert_true(pC->nKey<=sizeof(pC->aKey));
      }else{
        assert_true(pC->nKey>sizeof(pC->aKey));
        assert_true(pC->pKey>pSst->aSummary);
      }
    }
    assert_int_equal(nInline, iLong ? 0 : pSst->nChunk);
    for(i=0; i<s.n; i++){
      int bFound = 0, eType = -1;
      KvBuf v = {0, 0, 0};
      assert_int_equal(kvSstGet(pSst, s.a[i].k, s.a[i].nk - KV_TRAILER,
                                KV_MAX_SEQ, &bFound, &eType, &v), KV_OK);
      assert_int_equal(bFound, 1);
      assert_int_equal(eType, KV_TYPE_PUT);
      assert_int_equal(v.n, s.a[i].nv);
      assert_memory_equal(v.a, s.a[i].v, v.n);
      kvBufFree(&v);
    }
    assert_int_equal(kvSstIterNew(pSst, 0, &pIt), KV_OK);
    for(i=s.n-1; i>=0; i-=37){
      assert_int_equal(pIt->pMethods->xSeek(pIt, s.a[i].k, s.a[i].nk), KV_OK);
      assert_true(kvIterValid(pIt));
      assert_int_equal(pIt->nKey, s.a[i].nk);
      assert_memory_equal(pIt->pKey, s.a[i].k, s.a[i].nk);
    }
    pIt->pMethods->xClose(pIt);
    kvSstClose(pSst);
    setFree(&s);
  }
}

/* Of the 1024 absent keys between a test_flat_filter_still_read table's
** keys (odd numbers), how many its filter turns away. */
static int absentRejected(KvSst *pSst, KvReadCounters *pCnt){
  u64 nBefore = pCnt->nBloomNegative;
  int i;
  for(i=0; i<1024; i++){
    char z[32];
    int bFound = -1, eType = 0;
    userKey(z, 2*i + 1);
    assert_int_equal(kvSstGet(pSst, (const u8*)z, strlen(z), KV_MAX_SEQ,
                              &bFound, &eType, 0), KV_OK);
    assert_int_equal(bFound, 0);
  }
  return (int)(pCnt->nBloomNegative - nBefore);
}

/* Tables are written with the blocked bloom layout (bloom.c), read
** 64-byte aligned; a table of an earlier build, whose filter has the flat
** layout, still filters and finds every key. 1024 keys at 10 bits make
** 1280 bytes of bits in both layouts, so the flat filter is written over
** the blocked one in place (with its CRC) to make such a table. */
static void test_flat_filter_still_read(void **state){
  KvSstConfig cfg = config(4096, 0, 10, 16);
  KvSstMeta meta;
  KvSst *pSst = 0;
  KvReadCounters cnt;
  KvBuf f = {0, 0, 0};
  u32 aHash[1024];
  Layout L;
  Set s;
  u8 *a;
  size_t n;
  u64 iOff;
  int i;
  (void)state;
  makeSet(&s, 1024, 0);
  buildTable(gPath, &cfg, &s, &meta);
  kvSstMetaFree(&meta);
  a = tuReadFile(gPath, &n);
  parseLayout(a, n, &L);
  iOff = L.aPart[2];
  assert_int_equal(L.aPart[3], 1280 + 1 + 4);
  assert_int_equal(a[iOff + 1280], 64 + 7);       /* blocked, k = 7 */

  /* the blocked table: aligned lines, every key found, absent keys
  ** turned away by the filter */
  memset(&cnt, 0, sizeof(cnt));
  assert_int_equal(kvSstOpen(kvEnvPosix(), gPath, 0, &cnt, &pSst), KV_OK);
  assert_null(pSst->aFilter);            /* read by the first lookup */
  checkGets(pSst, &s, 1);
  assert_non_null(pSst->aFilter);
  assert_int_equal((uintptr_t)pSst->aFilter % 64, 0);
  assert_int_equal(pSst->bloom.nLine, 20);
  assert_true(absentRejected(pSst, &cnt)>=1000);
  kvSstClose(pSst);

  /* the same table with the flat filter of earlier builds */
  for(i=0; i<s.n; i++){
    aHash[i] = kvBloomHash(s.a[i].k, s.a[i].nk - KV_TRAILER);
  }
  assert_int_equal(kvBloomBuildFlat(aHash, 1024, 10, &f), KV_OK);
  assert_int_equal(f.n, 1281);
  assert_int_equal(f.a[1280], 7);
  memcpy(a + iOff, f.a, f.n);
  kvPut32(a + iOff + f.n, kvCrc32(f.a, f.n));
  tuWriteFile(gPath, a, n);
  memset(&cnt, 0, sizeof(cnt));
  assert_int_equal(kvSstOpen(kvEnvPosix(), gPath, 0, &cnt, &pSst), KV_OK);
  assert_int_equal(kvSstFilterLoad(pSst, 0), KV_OK);
  assert_int_equal(pSst->bloom.nLine, 0);
  assert_int_equal(pSst->bloom.nBit, 1280*8);
  checkGets(pSst, &s, 1);
  assert_true(absentRejected(pSst, &cnt)>=1000);
  kvSstClose(pSst);
  assert_int_equal(kvSstVerify(kvEnvPosix(), gPath), KV_OK);

  kvBufFree(&f);
  layoutFree(&L);
  free(a);
  setFree(&s);
}

/* gPath: a table of nUser keys, one version each, 4 KiB blocks, no
** compression, a 10-bit filter (the filter tests' table). */
static void buildFilterTable(Set *s, int nUser){
  KvSstConfig cfg = config(4096, 0, 10, 16);
  KvSstMeta meta;
  makeSet(s, nUser, 0);
  buildTable(gPath, &cfg, s, &meta);
  kvSstMetaFree(&meta);
}

/* Read the whole table forward: every entry of s, in order. */
static void scanAll(KvSst *pSst, const Set *s){
  KvIter *pIt = 0;
  int i, rc;
  assert_int_equal(kvSstIterNew(pSst, 0, &pIt), KV_OK);
  rc = pIt->pMethods->xFirst(pIt);
  for(i=0; rc==KV_OK && kvIterValid(pIt); i++){
    checkEntry(pIt, &s->a[i]);
    rc = pIt->pMethods->xNext(pIt);
  }
  assert_int_equal(rc, KV_OK);
  assert_int_equal(i, s->n);
  pIt->pMethods->xClose(pIt);
}

/* The filter is read by the first point read, not by the open: a table
** only scanned never reads it. */
static void test_filter_read_by_first_lookup(void **state){
  KvSst *pSst = 0;
  KvReadCounters cnt;
  Set s;
  int i;
  (void)state;
  buildFilterTable(&s, 1024);
  memset(&cnt, 0, sizeof(cnt));
  assert_int_equal(kvSstOpen(kvEnvPosix(), gPath, 0, &cnt, &pSst), KV_OK);
  scanAll(pSst, &s);
  assert_null(pSst->aFilter);
  assert_int_equal(cnt.nBloomCheck, 0);
  /* the first lookup reads it and uses it at once */
  i = absentRejected(pSst, &cnt);
  assert_true(i>=1000);
  assert_int_equal(cnt.nBloomNegative, i);
  assert_non_null(pSst->aFilter);
  checkGets(pSst, &s, 1);
  kvSstClose(pSst);
  setFree(&s);
}

/* A damaged filter: the table opens and scans (its entries are intact),
** every point read fails with KV_CORRUPT naming the file and the filter,
** the second as the first (no lookup goes on without it once it failed),
** and kvSstVerify reports it. */
static void test_damaged_filter_fails_lookups(void **state){
  KvSst *pSst = 0;
  Layout L;
  Set s;
  u8 *a;
  size_t n;
  int k;
  (void)state;
  buildFilterTable(&s, 1024);
  a = tuReadFile(gPath, &n);
  parseLayout(a, n, &L);
  a[L.aPart[2] + 100] ^= 0x5a;
  tuWriteFile(gPath, a, n);
  assert_int_equal(kvSstOpen(kvEnvPosix(), gPath, 0, 0, &pSst), KV_OK);
  scanAll(pSst, &s);
  for(k=0; k<2; k++){
    KvBuf v = {0, 0, 0};
    int bFound = -1, eType = 0;
    const Ent *e = &s.a[10*k];
    assert_int_equal(kvSstGet(pSst, e->k, e->nk-8, KV_MAX_SEQ, &bFound,
                              &eType, &v), KV_CORRUPT);
    assert_int_equal(bFound, 0);
    assert_non_null(strstr(kvErrMsg(), "filter"));
    assert_non_null(strstr(kvErrMsg(), gPath));
    kvBufFree(&v);
  }
  assert_null(pSst->aFilter);
  kvSstClose(pSst);
  assert_int_equal(kvSstVerify(kvEnvPosix(), gPath), KV_CORRUPT);
  assert_non_null(strstr(kvErrMsg(), "filter"));
  layoutFree(&L);
  free(a);
  setFree(&s);
}

/* Threads looking up keys in a table opened a moment before: one reads
** the filter, the others go on without it meanwhile; every key is found
** (`make tsan` runs this file under ThreadSanitizer). */
typedef struct FilterRace FilterRace;
struct FilterRace {
  KvSst *pSst;
  const Set *s;
  int iStart;
  int nWrong;
};
static void *filterRaceMain(void *pArg){
  FilterRace *r = (FilterRace*)pArg;
  int i;
  for(i=0; i<r->s->n; i++){
    const Ent *e = &r->s->a[(i + r->iStart) % r->s->n];
    KvBuf v = {0, 0, 0};
    int bFound = 0, eType = 0;
    if( kvSstGet(r->pSst, e->k, e->nk-8, KV_MAX_SEQ, &bFound, &eType,
                 &v)!=KV_OK || !bFound || v.n!=e->nv
     || (v.n && memcmp(v.a, e->v, v.n)!=0) ){
      r->nWrong++;
    }
    kvBufFree(&v);
  }
  return 0;
}
static void test_filter_first_lookups_race(void **state){
  Set s;
  int k, i;
  (void)state;
  buildFilterTable(&s, 2000);
  for(k=0; k<20; k++){
    KvSst *pSst = 0;
    pthread_t aThread[4];
    FilterRace aRace[4];
    assert_int_equal(kvSstOpen(kvEnvPosix(), gPath, 0, 0, &pSst), KV_OK);
    for(i=0; i<4; i++){
      aRace[i].pSst = pSst;
      aRace[i].s = &s;
      aRace[i].iStart = i*500;
      aRace[i].nWrong = 0;
      assert_int_equal(pthread_create(&aThread[i], 0, filterRaceMain,
                                      &aRace[i]), 0);
    }
    for(i=0; i<4; i++){
      pthread_join(aThread[i], 0);
      assert_int_equal(aRace[i].nWrong, 0);
    }
    assert_non_null(pSst->aFilter);
    kvSstClose(pSst);
  }
  setFree(&s);
}

static void test_roundtrip_configs(void **state){
  static const u32 aBlock[] = { 1, 64, 4096 };
  Set s;
  size_t i;
  int eComp, nBloom;
  (void)state;
  makeSet(&s, 700, 1);
  for(i=0; i<sizeof(aBlock)/sizeof(aBlock[0]); i++){
    for(eComp=0; eComp<2; eComp++){
      for(nBloom=0; nBloom<=10; nBloom+=10){
        KvSstConfig c = config(aBlock[i], eComp, nBloom, i==0 ? 3 : 16);
        roundTrip(&c, &s, 3);
      }
    }
  }
  setFree(&s);
}

/* The default restart interval is 8 (options.c, doc/pointread.md): every
** data block of a table written with the defaults has a restart point at
** entries 0, 8, 16, ... and no others. Tables written with the interval of
** earlier builds (16) and with other intervals are read the same: every
** version of every key, absent keys, scans both ways. */
static void test_restart_interval(void **state){
  static const int aRestart[] = { 1, 3, 8, 16, 64 };
  kv_options *pOpts = kv_options_new();
  KvSstConfig c;
  KvSstMeta meta;
  Layout L;
  Set s;
  u8 *a;
  size_t n, i;
  int nBlockChecked = 0;
  (void)state;
  assert_non_null(pOpts);
  kvSstConfigFromOptions(pOpts, &c);
  assert_int_equal(c.nRestart, 8);
  makeSet(&s, 700, 1);
  buildTable(gPath, &c, &s, &meta);
  kvSstMetaFree(&meta);
  a = tuReadFile(gPath, &n);
  parseLayout(a, n, &L);
  assert_true(L.nBlock>5);
  for(i=0; i<(size_t)L.nBlock; i++){
    const u8 *b = a + L.aBlock[i].iOff;
    size_t nb = (size_t)L.aBlock[i].n - 5;
    KvBlock blk;
    KvBlockIter it;
    u32 nEntry = 0, iNextRestart = 0;
    if( b[nb]!=0 ) continue;                      /* compressed */
    assert_int_equal(kvBlockParse(b, nb, &blk), KV_OK);
    kvBlockIterInit(&it, &blk, kvSstCmp);
    assert_int_equal(kvBlockIterFirst(&it), KV_OK);
    while( it.bValid ){
      if( nEntry%8==0 ){
        assert_true(iNextRestart<blk.nRestart);
        assert_int_equal(kvGet32(blk.aRestart + 4*iNextRestart), it.iOff);
        iNextRestart++;
      }
      nEntry++;
      assert_int_equal(kvBlockIterNext(&it), KV_OK);
    }
    kvBlockIterClear(&it);
    assert_int_equal(blk.nRestart, (nEntry + 7)/8);
    assert_int_equal(iNextRestart, blk.nRestart);
    nBlockChecked++;
  }
  assert_true(nBlockChecked>5);
  layoutFree(&L);
  free(a);
  for(i=0; i<sizeof(aRestart)/sizeof(aRestart[0]); i++){
    c.nRestart = aRestart[i];
    roundTrip(&c, &s, 1);
  }
  setFree(&s);
  kv_options_free(pOpts);
}

static void test_small_tables(void **state){
  KvSstConfig c = config(4096, KV_COMPRESS_ZLIB, 10, 16);
  Set s;
  (void)state;
  memset(&s, 0, sizeof(s));
  roundTrip(&c, &s, 1);                 /* empty */
  setAdd(&s, "only", 5, KV_TYPE_PUT, (const u8*)"one", 3);
  roundTrip(&c, &s, 1);                 /* one entry */
  setFree(&s);
  setAdd(&s, "gone", 9, KV_TYPE_DEL, 0, 0);
  roundTrip(&c, &s, 1);                 /* one tombstone */
  setFree(&s);
  setAdd(&s, "", 3, KV_TYPE_PUT, 0, 0);  /* empty user key and value */
  roundTrip(&c, &s, 1);
  setFree(&s);
}

/*
** A level iterator (kvLevelIterNew) reads a run of tables as one: the
** entries of s are split over tables of very different sizes (one entry,
** a few, several blocks) added to level 1 of a version set, and the run
** must read like the single table of roundTrip(): both ways across every
** table boundary, and seeks landing on, around and between keys, also
** past a table's last key into the next table. With the cache and
** without, and in bulk mode (compaction's).
*/
static pthread_mutex_t gLevelMutex = PTHREAD_MUTEX_INITIALIZER;
static void test_level_iter(void **state){
  static const int aSize[] = { 1, 3, 40, 1, 250, 7 };   /* the rest last */
  KvSstConfig c = config(256, KV_COMPRESS_NONE, 10, 4);
  KvVersionSet vs;
  KvVersionEdit e;
  KvVersion *v;
  Set s, part;
  int i, iFlag, iEnt = 0, nFile = 0;
  (void)state;
  memset(&vs, 0, sizeof(vs));
  vs.pEnv = kvEnvPosix();
  vs.zDir = gDir;
  vs.nLevel = 7;
  vs.pMutex = &gLevelMutex;
  assert_int_equal(kvVsetCreate(&vs), KV_OK);
  makeSet(&s, 400, 1);
  memset(&e, 0, sizeof(e));
  for(i=0; iEnt<s.n; i++){
    int n = i<(int)(sizeof(aSize)/sizeof(aSize[0])) ? aSize[i] : s.n - iEnt;
    u64 iFile = kvVsetNewFileNumber(&vs);
    char *zPath = kvSstPath(gDir, iFile);
    KvSstMeta meta;
    int j;
    if( n>s.n - iEnt ) n = s.n - iEnt;
    memset(&part, 0, sizeof(part));
    for(j=iEnt; j<iEnt+n; j++){
      /* setAdd takes a user key string: rebuild it from the entry */
      char z[32];
      assert_true(s.a[j].nk - 8 < sizeof(z));
      memcpy(z, s.a[j].k, s.a[j].nk - 8);
      z[s.a[j].nk - 8] = 0;
      setAdd(&part, z, kvIKeySeq(s.a[j].k, s.a[j].nk),
             kvIKeyType(s.a[j].k, s.a[j].nk), s.a[j].v, s.a[j].nv);
    }
    assert_non_null(zPath);
    buildTable(zPath, &c, &part, &meta);
    assert_int_equal(kvEditAddFile(&e, 1, &meta, iFile), KV_OK);
    kvSstMetaFree(&meta);
    kvFree(zPath);
    setFree(&part);
    iEnt += n;
    nFile++;
  }
  assert_int_equal(kvVsetApply(&vs, &e), KV_OK);
  kvEditClear(&e);
  v = kvVersionCurrent(&vs);
  assert_int_equal(v->anFile[1], nFile);
  assert_true(nFile>=7);
  for(iFlag=0; iFlag<3; iFlag++){
    KvIter *pIt = 0;
    if( iFlag==1 ) assert_int_equal(kvCacheNew(4000, &vs.pCache), KV_OK);
    assert_int_equal(kvLevelIterNew(v->aaFile[1], v->anFile[1],
                                    iFlag==2 ? KV_SST_BULK : 0, &pIt), KV_OK);
    checkIterOn(pIt, &s, 1);
  }
  /* An empty level is an exhausted iterator. */
  {
    KvIter *pIt = 0;
    u8 aLow[8] = {0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff};
    assert_int_equal(kvLevelIterNew(v->aaFile[2], 0, 0, &pIt), KV_OK);
    assert_int_equal(pIt->pMethods->xFirst(pIt), KV_OK);
    assert_false(kvIterValid(pIt));
    assert_int_equal(pIt->pMethods->xLast(pIt), KV_OK);
    assert_false(kvIterValid(pIt));
    assert_int_equal(pIt->pMethods->xSeek(pIt, aLow, 8), KV_OK);
    assert_false(kvIterValid(pIt));
    pIt->pMethods->xClose(pIt);
  }
  kvVersionUnref(v);
  kvVsetClose(&vs);
  kvCacheFree(vs.pCache);
  setFree(&s);
  tuRemoveDir(gDir);
  assert_int_equal(mkdir(gDir, 0700), 0);
}

/*
** A run of tables with no version behind it (kvSstRunIterNew): tables the
** test opens itself, given through xTable and xLargest. The run reads as
** one table; a table is asked for only when the iterator reaches it (a
** seek into the last table opens nothing before it); a table that cannot
** be had fails the movement with its code.
*/
typedef struct TestRun TestRun;
struct TestRun {
  KvSst *ap[4];
  int nAsked[4];                /* xTable calls per table */
  int iFail;                    /* table xTable refuses (-1: none) */
};
static int testRunTable(void *pCtx, int i, KvSst **ppSst){
  TestRun *r = (TestRun*)pCtx;
  r->nAsked[i]++;
  if( i==r->iFail ) return kvErr(KV_IOERR, "kvstore: test: table %d", i);
  *ppSst = r->ap[i];
  return KV_OK;
}
static void testRunLargest(void *pCtx, int i, const u8 **pp, size_t *pn){
  const KvSstMeta *m = kvSstGetMeta(((TestRun*)pCtx)->ap[i]);
  *pp = m->largest.a;
  *pn = m->largest.n;
}
static void test_run_iter_without_versions(void **state){
  KvSstConfig c = config(256, KV_COMPRESS_NONE, 10, 4);
  KvSstRun run;
  TestRun r;
  KvIter *pIt = 0;
  Set s, part;
  int i, j, iEnt = 0;
  (void)state;
  memset(&r, 0, sizeof(r));
  r.iFail = -1;
  makeSet(&s, 200, 1);
  for(i=0; i<4; i++){
    char zPath[160];
    KvSstMeta meta;
    int n = i<3 ? s.n/4 : s.n - iEnt;
    memset(&part, 0, sizeof(part));
    /* keep the versions of one user key in one table */
    while( iEnt+n<s.n && kvUKeyCmp(s.a[iEnt+n].k, s.a[iEnt+n].nk-8,
                          s.a[iEnt+n-1].k, s.a[iEnt+n-1].nk-8)==0 ) n++;
    for(j=iEnt; j<iEnt+n; j++){
      char z[32];
      memcpy(z, s.a[j].k, s.a[j].nk - 8);
      z[s.a[j].nk - 8] = 0;
      setAdd(&part, z, kvIKeySeq(s.a[j].k, s.a[j].nk),
             kvIKeyType(s.a[j].k, s.a[j].nk), s.a[j].v, s.a[j].nv);
    }
    snprintf(zPath, sizeof(zPath), "%s/run%d.sst", gDir, i);
    memset(&meta, 0, sizeof(meta));
    buildTable(zPath, &c, &part, &meta);
    kvSstMetaFree(&meta);
    assert_int_equal(kvSstOpen(kvEnvPosix(), zPath, 0, 0, &r.ap[i]), KV_OK);
    setFree(&part);
    iEnt += n;
  }
  run.nTable = 4;
  run.pCtx = &r;
  run.xTable = testRunTable;
  run.xLargest = testRunLargest;

  /* a seek into the last table opens that table only */
  assert_int_equal(kvSstRunIterNew(&run, 0, &pIt), KV_OK);
  assert_int_equal(pIt->pMethods->xSeek(pIt, s.a[s.n-1].k, s.a[s.n-1].nk),
                   KV_OK);
  checkEntry(pIt, &s.a[s.n-1]);
  assert_int_equal(r.nAsked[0] + r.nAsked[1] + r.nAsked[2], 0);
  assert_int_equal(r.nAsked[3], 1);
  pIt->pMethods->xClose(pIt);

  /* the run reads as one table */
  assert_int_equal(kvSstRunIterNew(&run, 0, &pIt), KV_OK);
  checkIterOn(pIt, &s, 1);

  /* a table that cannot be had fails the step into it */
  r.iFail = 2;
  assert_int_equal(kvSstRunIterNew(&run, KV_SST_BULK, &pIt), KV_OK);
  assert_int_equal(pIt->pMethods->xFirst(pIt), KV_OK);
  {
    int rc = KV_OK;
    int nSeen = 0;
    while( rc==KV_OK && kvIterValid(pIt) ){
      nSeen++;
      rc = pIt->pMethods->xNext(pIt);
    }
    assert_int_equal(rc, KV_IOERR);
    assert_false(kvIterValid(pIt));
    assert_true(nSeen>0 && nSeen<s.n);
  }
  pIt->pMethods->xClose(pIt);

  for(i=0; i<4; i++) kvSstClose(r.ap[i]);
  setFree(&s);
  tuRemoveDir(gDir);
  assert_int_equal(mkdir(gDir, 0700), 0);
}

/*
** Mapped reads: uncompressed blocks are used in place and index chunks are
** kept by the table, so neither reaches the block cache; inflated blocks
** do, as without the map. A KV_SST_BULK iterator (compaction) reads every
** entry without inserting into (or evicting from) the cache.
*/
static void test_mapped_and_bulk(void **state){
  static const int aComp[] = { KV_COMPRESS_NONE, KV_COMPRESS_ZLIB };
  KvEnv noMap = *kvEnvPosix();
  Set s;
  int iComp, bMap;
  (void)state;
  noMap.xMap = 0;
  makeSet(&s, 2000, 0);
  for(iComp=0; iComp<2; iComp++){
    KvSstConfig c = config(4096, aComp[iComp], 10, 16);
    KvSstMeta meta;
    u64 aByte[2];
    buildTable(gPath, &c, &s, &meta);
    assert_true(meta.nDataBlock>4);
    for(bMap=0; bMap<2; bMap++){
      KvCache *pCache = 0;
      KvSst *pSst = 0;
      KvIter *pIt = 0;
      KvCacheStats st;
      int n = 0;
      assert_int_equal(kvCacheNew(1<<20, &pCache), KV_OK);
      assert_int_equal(kvSstOpen(bMap ? kvEnvPosix() : &noMap, gPath,
                                 pCache, 0, &pSst), KV_OK);
      /* bulk: every entry, nothing cached */
      assert_int_equal(kvSstIterNew(pSst, KV_SST_BULK, &pIt), KV_OK);
      assert_int_equal(pIt->pMethods->xFirst(pIt), KV_OK);
      while( kvIterValid(pIt) ){
        checkEntry(pIt, &s.a[n++]);
        assert_int_equal(pIt->pMethods->xNext(pIt), KV_OK);
      }
      pIt->pMethods->xClose(pIt);
      assert_int_equal(n, s.n);
      kvCacheStats(pCache, &st);
      assert_int_equal(st.nInsert, 0);
      assert_int_equal(st.nEntry, 0);
      /* normal: through the cache, but for what the map serves */
      checkIter(pSst, &s, 97);
      checkGets(pSst, &s, 37);
      kvCacheStats(pCache, &st);
      if( !bMap ){
        assert_true(st.nEntry>=meta.nDataBlock);
      }else if( aComp[iComp]==KV_COMPRESS_NONE ){
        assert_int_equal(st.nInsert, 0);
      }else{
        assert_true(st.nEntry>0);
      }
      aByte[bMap] = st.nByte;
      kvSstClose(pSst);
      kvCacheFree(pCache);
    }
    /* The same file opened again with the same cache after the first
    ** open closed (a file moved to another level does that): nothing
    ** cached by the first, whose mapping is gone, may be used. */
    {
      KvCache *pCache = 0;
      KvSst *pSst = 0;
      assert_int_equal(kvCacheNew(1<<20, &pCache), KV_OK);
      assert_int_equal(kvSstOpen(kvEnvPosix(), gPath, pCache, 0, &pSst),
                       KV_OK);
      void *pHole;
      checkIter(pSst, &s, 97);
      kvSstClose(pSst);
      /* occupy the address range just unmapped, so the second mapping
      ** lands elsewhere and a stale block would point into PROT_NONE */
      pHole = mmap(0, (size_t)meta.nFileSize, PROT_NONE,
                   MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
      assert_true(pHole!=MAP_FAILED);
      assert_int_equal(kvSstOpen(kvEnvPosix(), gPath, pCache, 0, &pSst),
                       KV_OK);
      checkIter(pSst, &s, 97);
      kvSstClose(pSst);
      kvCacheFree(pCache);
      munmap(pHole, (size_t)meta.nFileSize);
    }
    if( aComp[iComp]==KV_COMPRESS_NONE ){
      assert_int_equal(aByte[1], 0);
    }else{
      /* only the (never compressed) index chunks stay out of it */
      assert_true(aByte[1]<aByte[0] && aByte[1]*10 > aByte[0]*9);
    }
    kvSstMetaFree(&meta);
  }
  setFree(&s);
}

static void test_large_values(void **state){
  Set s;
  u8 *aBig = malloc(1<<20);
  int i;
  (void)state;
  assert_non_null(aBig);
  for(i=0; i<(1<<20); i++) aBig[i] = (u8)((i*7) ^ (i>>9));
  memset(&s, 0, sizeof(s));
  setAdd(&s, "a", 10, KV_TYPE_PUT, (const u8*)"x", 1);
  setAdd(&s, "b", 11, KV_TYPE_PUT, aBig, 1<<20);
  setAdd(&s, "c", 12, KV_TYPE_PUT, 0, 0);
  setAdd(&s, "d", 13, KV_TYPE_PUT, aBig, 1000);
  setAdd(&s, "e", 14, KV_TYPE_PUT, aBig + 77, (1<<20) - 77);
  for(i=0; i<2; i++){
    KvSstConfig c = config(4096, i, 10, 2);
    roundTrip(&c, &s, 1);
  }
  setFree(&s);
  free(aBig);
}

static void test_50k(void **state){
  Set s;
  KvSstConfig c = config(4096, KV_COMPRESS_ZLIB, 10, 16);
  KvSstMeta meta;
  KvSst *pSst = 0;
  KvCache *pCache = 0;
  KvReadCounters cnt;
  u64 nRead;
  (void)state;
  makeSet(&s, 25500, 1);
  assert_true(s.n>=50000);
  buildTable(gPath, &c, &s, &meta);
  checkMeta(&meta, &s, gPath);
  assert_true(meta.nDataBlock>10);
  /* compressed, and index + summary much smaller than the data */
  assert_true(meta.nFileSize < meta.nRawBytes);

  memset(&cnt, 0, sizeof(cnt));
  assert_int_equal(kvCacheNew(1<<20, &pCache), KV_OK);
  assert_int_equal(kvSstOpen(kvEnvPosix(), gPath, pCache, &cnt, &pSst),
                   KV_OK);
  checkIter(pSst, &s, 97);
  checkGets(pSst, &s, 13);
  /* a repeated lookup of a cached block reads nothing from disk */
  checkGet(pSst, &s, "key00000100", KV_MAX_SEQ);
  nRead = cnt.nBlockRead;
  checkGet(pSst, &s, "key00000100", KV_MAX_SEQ);
  assert_int_equal(cnt.nBlockRead, nRead);
  kvSstClose(pSst);
  kvCacheFree(pCache);

  /* without a cache every lookup reads its block */
  memset(&cnt, 0, sizeof(cnt));
  assert_int_equal(kvSstOpen(kvEnvPosix(), gPath, 0, &cnt, &pSst), KV_OK);
  checkGet(pSst, &s, "key00000100", KV_MAX_SEQ);
  checkGet(pSst, &s, "key00000100", KV_MAX_SEQ);
  assert_int_equal(cnt.nBlockRead, 2);
  assert_int_equal(cnt.nFileProbe, 2);
  kvSstClose(pSst);

  assert_int_equal(kvSstVerify(kvEnvPosix(), gPath), KV_OK);
  kvSstMetaFree(&meta);
  setFree(&s);
}

static void test_abandon(void **state){
  KvSstConfig c = config(4096, KV_COMPRESS_NONE, 10, 16);
  KvSstBuilder *pB = 0;
  char zTmp[160];
  (void)state;
  snprintf(zTmp, sizeof(zTmp), "%s.tmp", gPath);
  unlink(gPath);
  assert_int_equal(kvSstBuilderNew(kvEnvPosix(), gPath, &c, 1, &pB), KV_OK);
  assert_int_equal(kvSstBuilderAdd(pB, (const u8*)"k\1\0\0\0\0\0\0\0", 9,
                                   (const u8*)"v", 1), KV_OK);
  assert_int_equal(access(zTmp, F_OK), 0);
  kvSstBuilderAbandon(pB);
  assert_int_equal(access(zTmp, F_OK), -1);
  assert_int_equal(access(gPath, F_OK), -1);
}

/* Build n entries "k%05d" with sequence 1, a point tombstone where
** isDel(i); returns the builder's nDelWindowMax. */
static u64 delWindowOf(int n, int (*isDel)(int)){
  KvSstConfig c = config(4096, KV_COMPRESS_NONE, 10, 16);
  KvSstBuilder *pB = 0;
  KvSstMeta meta;
  u64 nMax;
  int i;
  unlink(gPath);
  assert_int_equal(kvSstBuilderNew(kvEnvPosix(), gPath, &c, 1, &pB), KV_OK);
  for(i=0; i<n; i++){
    KvBuf k = {0, 0, 0};
    char z[16];
    int bDel = isDel(i);
    snprintf(z, sizeof(z), "k%05d", i);
    assert_int_equal(kvIKeyAppend(&k, (const u8*)z, strlen(z), 1,
                                  bDel ? KV_TYPE_DEL : KV_TYPE_PUT), KV_OK);
    assert_int_equal(kvSstBuilderAdd(pB, k.a, k.n, (const u8*)"v",
                                     bDel ? 0 : 1), KV_OK);
    kvBufFree(&k);
  }
  assert_int_equal(kvSstBuilderFinish(pB, &meta), KV_OK);
  nMax = meta.nDelWindowMax;
  kvSstMetaFree(&meta);
  return nMax;
}
static int delNone(int i){ (void)i; return 0; }
static int delBlock(int i){ return i>=300 && i<500; }
static int delEveryOther(int i){ return i%2; }
static int delSparse(int i){ return i%10==0; }
static int delShortRun(int i){ return i>=600 && i<650; }

/* The densest window of KV_DEL_WINDOW consecutive entries (compaction's
** tombstone density trigger): a block of 200 tombstones fills one, every
** other row half of one, one in ten an eighth or so, a run of 50 fifty. */
static void test_delete_window(void **state){
  (void)state;
  assert_int_equal(delWindowOf(1000, delNone), 0);
  assert_int_equal(delWindowOf(1000, delBlock), KV_DEL_WINDOW);
  assert_int_equal(delWindowOf(1000, delEveryOther), KV_DEL_WINDOW/2);
  assert_int_equal(delWindowOf(1000, delSparse), 13);
  assert_int_equal(delWindowOf(1000, delShortRun), 50);
  assert_int_equal(delWindowOf(40, delEveryOther), 20);    /* under one */
}

/* ---------------------------------------------------------------------- */
/* Failures while building and reading.                                    */

/* Build s through env, expecting failure rc somewhere; nothing remains. */
static void buildFails(KvEnv *pEnv, const KvSstConfig *pCfg, const Set *s,
                       int rcExpect){
  KvSstBuilder *pB = 0;
  KvSstMeta meta;
  char zTmp[160];
  int rc;
  int i;
  snprintf(zTmp, sizeof(zTmp), "%s.tmp", gPath);
  rc = kvSstBuilderNew(pEnv, gPath, pCfg, 1, &pB);
  for(i=0; rc==KV_OK && i<s->n; i++){
    rc = kvSstBuilderAdd(pB, s->a[i].k, s->a[i].nk, s->a[i].v, s->a[i].nv);
  }
  if( rc==KV_OK ){
    rc = kvSstBuilderFinish(pB, &meta);
    assert_int_equal(meta.smallest.a, 0);
  }else if( pB ){
    /* sticky: a later (well-ordered) add fails the same way */
    assert_int_equal(kvSstBuilderAdd(pB, (const u8*)"\xff\xff\1\0\0\0\0\0\0\0",
                                     10, 0, 0), rc);
    kvSstBuilderAbandon(pB);
  }
  assert_int_equal(rc, rcExpect);
  assert_non_null(strstr(kvErrMsg(), "kvstore: "));
  assert_int_equal(access(zTmp, F_OK), -1);
  assert_int_equal(access(gPath, F_OK), -1);
}

static void test_io_faults(void **state){
  KvSstConfig c = config(256, KV_COMPRESS_ZLIB, 10, 4);
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  Set s;
  int n;
  int aKind[] = { KV_TOP_OPEN, KV_TOP_SYNC, KV_TOP_RENAME, KV_TOP_SYNCDIR };
  u64 nAppend;
  (void)state;
  assert_non_null(pEnv);
  makeSet(&s, 6000, 1);   /* several 64 KiB writes */
  unlink(gPath);

  /* count the appends of a good build, then fail each in turn */
  {
    KvSstMeta meta;
    u64 n0 = kvTestEnvCount(pEnv, KV_TOP_APPEND);
    KvSstBuilder *pB = 0;
    int i;
    assert_int_equal(kvSstBuilderNew(pEnv, gPath, &c, 1, &pB), KV_OK);
    for(i=0; i<s.n; i++){
      assert_int_equal(kvSstBuilderAdd(pB, s.a[i].k, s.a[i].nk,
                                       s.a[i].v, s.a[i].nv), KV_OK);
    }
    assert_int_equal(kvSstBuilderFinish(pB, &meta), KV_OK);
    kvSstMetaFree(&meta);
    nAppend = kvTestEnvCount(pEnv, KV_TOP_APPEND) - n0;
    assert_true(nAppend>=3);
    unlink(gPath);
  }
  for(n=1; n<=(int)nAppend; n++){
    kvTestEnvFail(pEnv, KV_TOP_APPEND, n, n%2 ? EIO : ENOSPC, 0);
    buildFails(pEnv, &c, &s, n%2 ? KV_IOERR : KV_FULL);
    kvTestEnvHeal(pEnv);
  }
  for(n=0; n<(int)(sizeof(aKind)/sizeof(aKind[0])); n++){
    kvTestEnvFail(pEnv, aKind[n], 1, EIO, 0);
    buildFails(pEnv, &c, &s, KV_IOERR);
    kvTestEnvHeal(pEnv);
  }

  /* read errors surface as KV_IOERR, not as corruption or "not found" */
  {
    KvSstMeta meta;
    KvSst *pSst = 0;
    KvBuf v = {0, 0, 0};
    int bFound = 0, eType = 0;
    buildTable(gPath, &c, &s, &meta);
    kvSstMetaFree(&meta);
    /* open reads the footer, the summary and the metadata */
    for(n=1; n<=3; n++){
      kvTestEnvFail(pEnv, KV_TOP_READ, n, EIO, 0);
      assert_int_equal(kvSstOpen(pEnv, gPath, 0, 0, &pSst), KV_IOERR);
      assert_null(pSst);
      kvTestEnvHeal(pEnv);
    }
    assert_int_equal(kvSstOpen(pEnv, gPath, 0, 0, &pSst), KV_OK);
    /* the filter, read by the first lookup: its failure is that
    ** lookup's, and the next one reads it again */
    kvTestEnvFail(pEnv, KV_TOP_READ, 1, EIO, 0);
    assert_int_equal(kvSstGet(pSst, s.a[5].k, s.a[5].nk-8, KV_MAX_SEQ,
                              &bFound, &eType, &v), KV_IOERR);
    assert_int_equal(bFound, 0);
    assert_null(pSst->aFilter);
    kvTestEnvHeal(pEnv);
    assert_int_equal(kvSstGet(pSst, s.a[5].k, s.a[5].nk-8, KV_MAX_SEQ,
                              &bFound, &eType, &v), KV_OK);
    assert_int_equal(bFound, 1);
    assert_non_null(pSst->aFilter);
    kvTestEnvFail(pEnv, KV_TOP_READ, 1, EIO, 1);
    assert_int_equal(kvSstGet(pSst, s.a[5].k, s.a[5].nk-8, KV_MAX_SEQ,
                              &bFound, &eType, &v), KV_IOERR);
    assert_int_equal(bFound, 0);
    assert_int_equal(kvSstVerify(pEnv, gPath), KV_IOERR);
    kvTestEnvHeal(pEnv);
    kvSstClose(pSst);
    kvBufFree(&v);
  }
  kvTestEnvFree(pEnv);
  setFree(&s);
}

/* Read everything once; returns the first error. */
static int readAll(const char *zPath, KvCache *pCache, const Set *s){
  KvSst *pSst = 0;
  KvIter *pIt = 0;
  KvBuf v = {0, 0, 0};
  int rc = kvSstOpen(kvEnvPosix(), zPath, pCache, 0, &pSst);
  int i;
  if( rc==KV_OK ) rc = kvSstIterNew(pSst, 0, &pIt);
  if( rc==KV_OK ) rc = pIt->pMethods->xLast(pIt);
  while( rc==KV_OK && kvIterValid(pIt) ){
    rc = pIt->pMethods->xPrev(pIt);
  }
  if( rc==KV_OK ) rc = pIt->pMethods->xSeek(pIt, s->a[7].k, s->a[7].nk);
  if( rc==KV_OK ) checkEntry(pIt, &s->a[7]);
  for(i=0; rc==KV_OK && i<s->n; i+=17){
    int bFound = 0, eType = 0;
    rc = kvSstGet(pSst, s->a[i].k, s->a[i].nk-8, KV_MAX_SEQ, &bFound,
                  &eType, &v);
    if( rc==KV_OK ) assert_true(bFound);
  }
  if( rc==KV_OK ) rc = kvSstVerify(kvEnvPosix(), zPath);
  if( pIt ) pIt->pMethods->xClose(pIt);
  kvSstClose(pSst);
  kvBufFree(&v);
  return rc;
}

static void test_alloc_faults(void **state){
  KvSstConfig c = config(300, KV_COMPRESS_ZLIB, 10, 3);
  Set s;
  int n;
  int rc;
  (void)state;
  makeSet(&s, 60, 1);
  unlink(gPath);
  /* building: the n-th allocation fails, for every n until it succeeds */
  for(n=1; ; n++){
    KvSstBuilder *pB = 0;
    KvSstMeta meta;
    int i;
    failallocInstall(n, 0);
    rc = kvSstBuilderNew(kvEnvPosix(), gPath, &c, 1, &pB);
    for(i=0; rc==KV_OK && i<s.n; i++){
      rc = kvSstBuilderAdd(pB, s.a[i].k, s.a[i].nk, s.a[i].v, s.a[i].nv);
    }
    if( rc==KV_OK ){
      rc = kvSstBuilderFinish(pB, &meta);
      if( rc==KV_OK ) kvSstMetaFree(&meta);
    }else{
      kvSstBuilderAbandon(pB);
    }
    failallocRemove();
    assert_int_equal(failallocOutstanding(), 0);
    if( rc==KV_OK ) break;
    assert_int_equal(rc, KV_NOMEM);
    assert_int_equal(access(gPath, F_OK), -1);
  }
  assert_true(n>5);
  /* reading, with and without a cache */
  for(n=1; ; n++){
    KvCache *pCache = 0;
    assert_int_equal(kvCacheNew(4000, &pCache), KV_OK);
    failallocInstall(n, 0);
    rc = readAll(gPath, n%2 ? pCache : 0, &s);
    kvCacheFree(pCache);          /* its blocks count as ours */
    failallocRemove();
    assert_int_equal(failallocOutstanding(), 0);
    if( rc==KV_OK ) break;
    if( rc!=KV_NOMEM ) fail_msg("alloc %d: rc=%d %s", n, rc, kvErrMsg());
  }
  assert_true(n>5);
  setFree(&s);
}

/* ---------------------------------------------------------------------- */
/* Damage.                                                                 */

/*
** Open the damaged copy and read everything: the result is KV_CORRUPT
** somewhere (open, iteration or a lookup), and nothing read before that
** differs from the input.
*/
static int readDamaged(const char *zPath, const Set *s){
  KvSst *pSst = 0;
  KvIter *pIt = 0;
  int rc = kvSstOpen(kvEnvPosix(), zPath, 0, 0, &pSst);
  int rcFinal = rc;
  int i;
  if( rc!=KV_OK ) return rc;
  assert_int_equal(kvSstIterNew(pSst, 0, &pIt), KV_OK);
  rc = pIt->pMethods->xFirst(pIt);
  for(i=0; rc==KV_OK && kvIterValid(pIt); i++){
    assert_true(i<s->n);
    checkEntry(pIt, &s->a[i]);
    rc = pIt->pMethods->xNext(pIt);
  }
  if( rc==KV_OK ) assert_int_equal(i, s->n);
  else assert_false(kvIterValid(pIt));
  rcFinal = rc;
  rc = pIt->pMethods->xLast(pIt);
  for(i=s->n-1; rc==KV_OK && kvIterValid(pIt); i--){
    checkEntry(pIt, &s->a[i]);
    rc = pIt->pMethods->xPrev(pIt);
  }
  if( rcFinal==KV_OK ) rcFinal = rc;
  pIt->pMethods->xClose(pIt);
  for(i=0; i<s->n; i++){
    const Ent *e = &s->a[i];
    KvBuf v = {0, 0, 0};
    int bFound = 0, eType = 0;
    rc = kvSstGet(pSst, e->k, e->nk-8, kvIKeySeq(e->k, e->nk), &bFound,
                  &eType, &v);
    if( rc==KV_OK ){
      /* a damaged filter may only make a key look absent if that is
      ** detected elsewhere; a found key must be right */
      if( bFound ){
        assert_int_equal(eType, kvIKeyType(e->k, e->nk));
        if( eType==KV_TYPE_PUT ){
          assert_int_equal(v.n, e->nv);
          if( v.n ) assert_memory_equal(v.a, e->v, v.n);
        }
      }else{
        rc = -1;   /* missing: only acceptable if damage is reported */
      }
    }else{
      assert_int_equal(rc, KV_CORRUPT);
    }
    kvBufFree(&v);
    if( rcFinal==KV_OK && rc!=KV_OK ) rcFinal = rc;
  }
  kvSstClose(pSst);
  return rcFinal;
}

static void flipAndCheck(const u8 *a, size_t n, u64 iOff, const char *zPart,
                         const char *zCopy, const Set *s){
  u8 *b = malloc(n);
  int rc;
  memcpy(b, a, n);
  b[iOff] ^= 0x5a;
  tuWriteFile(zCopy, b, n);
  rc = readDamaged(zCopy, s);
  if( rc!=KV_CORRUPT ){
    fail_msg("flip at %llu (%s): read gave %d", (unsigned long long)iOff,
             zPart, rc);
  }
  assert_int_equal(kvSstVerify(kvEnvPosix(), zCopy), KV_CORRUPT);
  if( strstr(kvErrMsg(), zPart)==0 || strstr(kvErrMsg(), zCopy)==0 ){
    fail_msg("flip at %llu (%s): verify said: %s",
             (unsigned long long)iOff, zPart, kvErrMsg());
  }
  free(b);
}

/* First, last, middle and a couple more bytes of a region. */
static void flipRegion(const u8 *a, size_t n, const Region *r,
                       const char *zCopy, const Set *s){
  u64 aOff[5];
  int i;
  aOff[0] = r->iOff;
  aOff[1] = r->iOff + r->n - 1;
  aOff[2] = r->iOff + r->n/2;
  aOff[3] = r->iOff + r->n - 5;        /* type byte of a framed block */
  aOff[4] = r->iOff + 1;
  for(i=0; i<5; i++){
    if( aOff[i]>=r->iOff && aOff[i]<r->iOff + r->n ){
      flipAndCheck(a, n, aOff[i], r->zPart, zCopy, s);
    }
  }
}

static void test_corruption(void **state){
  KvSstConfig c = config(512, KV_COMPRESS_ZLIB, 10, 4);
  KvSstMeta meta;
  Set s;
  u8 *a;
  size_t n;
  Layout L;
  char zCopy[160];
  Region r;
  int i;
  (void)state;
  snprintf(zCopy, sizeof(zCopy), "%s/copy.sst", gDir);
  makeSet(&s, 300, 1);
  buildTable(gPath, &c, &s, &meta);
  a = tuReadFile(gPath, &n);
  parseLayout(a, n, &L);
  assert_true(L.nBlock>8);
  assert_true(L.nChunk>2);

  for(i=0; i<L.nBlock; i++) flipRegion(a, n, &L.aBlock[i], zCopy, &s);
  for(i=0; i<L.nChunk; i++) flipRegion(a, n, &L.aChunk[i], zCopy, &s);
  r.iOff = L.aPart[2]; r.n = L.aPart[3]; r.zPart = "filter";
  flipRegion(a, n, &r, zCopy, &s);
  r.iOff = L.aPart[4]; r.n = L.aPart[5]; r.zPart = "metadata";
  flipRegion(a, n, &r, zCopy, &s);
  r.iOff = L.aPart[6]; r.n = L.aPart[7]; r.zPart = "summary";
  flipRegion(a, n, &r, zCopy, &s);
  r.iOff = n - 80; r.n = 80; r.zPart = "footer";
  flipRegion(a, n, &r, zCopy, &s);
  for(i=0; i<80; i+=7) flipAndCheck(a, n, n-80+i, "footer", zCopy, &s);

  /* truncation at several lengths */
  {
    size_t aLen[] = { 0, 1, 79, 80, 81, 100, 0, 0, 0, 0 };
    int j;
    aLen[6] = n/2;
    aLen[7] = n - 1;
    aLen[8] = n - 80;
    aLen[9] = n - 81;
    for(j=0; j<10; j++){
      KvSst *pSst = 0;
      tuWriteFile(zCopy, a, aLen[j]);
      assert_int_equal(kvSstOpen(kvEnvPosix(), zCopy, 0, 0, &pSst),
                       KV_CORRUPT);
      assert_null(pSst);
      assert_non_null(strstr(kvErrMsg(), zCopy));
      assert_int_equal(kvSstVerify(kvEnvPosix(), zCopy), KV_CORRUPT);
    }
  }

  /* consistent-looking metadata whose leaves do not match the blocks:
  ** only the Merkle check sees it */
  {
    u8 *b = malloc(n);
    u8 *m;
    u64 nMeta = L.aPart[5];
    u64 nLeaf;
    KvSst *pSst = 0;
    memcpy(b, a, n);
    m = b + L.aPart[4];
    nLeaf = kvGet64(m + 48);
    m[56 + 3] ^= 1;                               /* leaf 0 */
    kvMerkleRoot(m + 56, (size_t)nLeaf, m + 56 + nLeaf*32);
    kvPut32(m + nMeta - 4, kvCrc32(m, (size_t)nMeta - 4));
    tuWriteFile(zCopy, b, n);
    assert_int_equal(kvSstOpen(kvEnvPosix(), zCopy, 0, 0, &pSst), KV_OK);
    kvSstClose(pSst);
    assert_int_equal(kvSstVerify(kvEnvPosix(), zCopy), KV_CORRUPT);
    assert_non_null(strstr(kvErrMsg(), "merkle root mismatch"));
    /* and a root that does not match its leaves: the part's CRC agrees,
    ** so the table opens; verification finds it */
    m[56 + nLeaf*32] ^= 1;
    kvPut32(m + nMeta - 4, kvCrc32(m, (size_t)nMeta - 4));
    tuWriteFile(zCopy, b, n);
    assert_int_equal(kvSstOpen(kvEnvPosix(), zCopy, 0, 0, &pSst), KV_OK);
    kvSstClose(pSst);
    assert_int_equal(kvSstVerify(kvEnvPosix(), zCopy), KV_CORRUPT);
    assert_non_null(strstr(kvErrMsg(), "merkle root mismatch"));
    free(b);
  }

  /* an index chunk (re-checksummed) claiming a huge uncompressed size:
  ** refused before inflating */
  {
    u8 *b = malloc(n);
    KvSst *pSst = 0;
    KvBuf v = {0, 0, 0};
    int bFound = 0, eType = 0;
    u8 *c;
    size_t nc = (size_t)L.aChunk[0].n - 5;
    KvBlock blk;
    KvBlockIter it;
    memcpy(b, a, n);
    c = b + L.aChunk[0].iOff;
    assert_int_equal(kvBlockParse(c, nc, &blk), KV_OK);
    kvBlockIterInit(&it, &blk, anyCmp);
    assert_int_equal(kvBlockIterFirst(&it), KV_OK);
    /* the third varint of the first entry's value is the raw size; make
    ** its continuation bits claim more without changing the length when
    ** possible (set the top bits of the varint's last byte) */
    {
      u8 *pv = (u8*)it.pVal;
      u8 *pLast = pv + it.nVal - 1;
      *pLast |= 0x7f;                           /* >= 127 << 7k */
      if( it.nVal>=3 && (pLast[-1] & 0x80) ) *pLast = 0x7f;
    }
    kvPut32(c + nc + 1, kvCrc32(c, nc + 1));
    kvBlockIterClear(&it);
    tuWriteFile(zCopy, b, n);
    assert_int_equal(kvSstOpen(kvEnvPosix(), zCopy, 0, 0, &pSst), KV_OK);
    assert_int_equal(kvSstGet(pSst, s.a[0].k, s.a[0].nk - 8, KV_MAX_SEQ,
                              &bFound, &eType, &v), KV_CORRUPT);
    assert_non_null(strstr(kvErrMsg(), "data block at offset 0"));
    assert_int_equal(bFound, 0);
    kvSstClose(pSst);
    kvBufFree(&v);
    free(b);
  }

  layoutFree(&L);
  free(a);
  kvSstMetaFree(&meta);
  setFree(&s);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_flat_filter_still_read, setupDir,
                                    teardownDir),
    cmocka_unit_test_setup_teardown(test_filter_read_by_first_lookup,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_damaged_filter_fails_lookups,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_filter_first_lookups_race,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_summary_keys, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_roundtrip_configs, setupDir,
                                    teardownDir),
    cmocka_unit_test_setup_teardown(test_restart_interval, setupDir,
                                    teardownDir),
    cmocka_unit_test_setup_teardown(test_small_tables, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_delete_window, setupDir,
                                    teardownDir),
    cmocka_unit_test_setup_teardown(test_large_values, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_level_iter, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_run_iter_without_versions, setupDir,
                                    teardownDir),
    cmocka_unit_test_setup_teardown(test_mapped_and_bulk, setupDir,
                                    teardownDir),
    cmocka_unit_test_setup_teardown(test_50k, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_abandon, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_io_faults, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_alloc_faults, setupDir,
                                    teardownDir),
    cmocka_unit_test_setup_teardown(test_corruption, setupDir, teardownDir),
  };
  /* `make tsan` runs only the tests with threads */
  if( getenv("KV_TEST_FILTER") ){
    cmocka_set_test_filter(getenv("KV_TEST_FILTER"));
  }
  return cmocka_run_group_tests(tests, 0, 0);
}
