/*
** test_scanread.c - a scan's read-ahead (sst_read.c "Read-ahead",
** doc/scanread.md): table iterators read the data blocks of a mapped
** table the process has not touched yet with xRead into a window, a lone
** block after a seek and growing windows while they step, forward and
** backward. Checked here: the entries are the table's, in both directions,
** across window edges and table edges, with blocks smaller and larger
** than the windows, on the passes through windows and on the later ones
** through the map; a damaged block is reported as corrupt, naming the
** file and the block, whether a window or a lone read found it; with
** verify_checksums a block changed after a first scan is caught; a first
** scan leaves the file unmapped (the process's RssFile), a repeated one
** goes to the map; the window's buffer is given back and its allocation
** failing costs nothing but the read-ahead.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "sst_int.h"
#include "testutil.h"
#include "failalloc.h"

/* Entries: user keys "k%08d" (i*2), sequence 5, values of 0 to 900 bytes
** whose bytes depend on the key, so that a block from the wrong place
** cannot pass for the right one. */
typedef struct Tab Tab;
struct Tab {
  int n;                        /* entries */
  int iFirst;                   /* user key number of the first */
  char zPath[160];
  KvSstMeta meta;
};

static char gDir[64];

static int setupDir(void **state){
  (void)state;
  tuTempDir(gDir, sizeof(gDir), "scanread");
  return 0;
}
static int teardownDir(void **state){
  (void)state;
  tuRemoveDir(gDir);
  return 0;
}

static size_t valOf(int i, u8 *a){
  size_t n = (size_t)((i*7919) % 901);
  size_t j;
  for(j=0; j<n; j++) a[j] = (u8)(i*31 + j);
  return n;
}
static void ikeyOf(int i, KvBuf *p){
  char z[32];
  p->n = 0;
  snprintf(z, sizeof(z), "k%08d", i*2);
  assert_int_equal(kvIKeyAppend(p, (const u8*)z, strlen(z), 5, KV_TYPE_PUT),
                   KV_OK);
}

static void buildTab(Tab *t, const char *zName, int iFirst, int n,
                     u32 nBlock, int eComp){
  KvSstConfig c;
  KvSstBuilder *pB = 0;
  KvBuf k = {0, 0, 0};
  u8 aVal[1024];
  int i;
  memset(&c, 0, sizeof(c));
  c.nBlock = nBlock;
  c.eCompression = eComp;
  c.iLevel = 1;
  c.nBloomBits = 10;
  c.nSummaryInterval = 16;
  c.nRestart = 16;
  memset(t, 0, sizeof(*t));
  t->n = n;
  t->iFirst = iFirst;
  snprintf(t->zPath, sizeof(t->zPath), "%s/%s", gDir, zName);
  assert_int_equal(kvSstBuilderNew(kvEnvPosix(), t->zPath, &c, 1, &pB),
                   KV_OK);
  for(i=iFirst; i<iFirst+n; i++){
    size_t nv = valOf(i, aVal);
    ikeyOf(i, &k);
    assert_int_equal(kvSstBuilderAdd(pB, k.a, k.n, aVal, nv), KV_OK);
  }
  assert_int_equal(kvSstBuilderFinish(pB, &t->meta), KV_OK);
  kvBufFree(&k);
}

/* The iterator is on entry i (nothing allocated: the allocation test
** counts allocations). */
static void checkAt(KvIter *pIt, int i){
  u8 aKey[32];
  u8 aVal[1024];
  size_t nv = valOf(i, aVal);
  int nk = snprintf((char*)aKey, sizeof(aKey), "k%08d", i*2);
  kvPut64(aKey + nk, kvPackTrailer(5, KV_TYPE_PUT));
  assert_true(kvIterValid(pIt));
  assert_int_equal(pIt->nKey, (size_t)nk + KV_TRAILER);
  assert_memory_equal(pIt->pKey, aKey, (size_t)nk + KV_TRAILER);
  assert_int_equal(pIt->nVal, nv);
  if( nv ) assert_memory_equal(pIt->pVal, aVal, nv);
}

/* A whole pass over entries [iFirst, iFirst+n), forward or backward. */
static void checkPass(KvIter *pIt, int iFirst, int n, int bFwd){
  int i;
  if( bFwd ){
    assert_int_equal(pIt->pMethods->xFirst(pIt), KV_OK);
    for(i=iFirst; i<iFirst+n; i++){
      checkAt(pIt, i);
      assert_int_equal(pIt->pMethods->xNext(pIt), KV_OK);
    }
  }else{
    assert_int_equal(pIt->pMethods->xLast(pIt), KV_OK);
    for(i=iFirst+n-1; i>=iFirst; i--){
      checkAt(pIt, i);
      assert_int_equal(pIt->pMethods->xPrev(pIt), KV_OK);
    }
  }
  assert_false(kvIterValid(pIt));
}

/* Seeks to entries, each followed by nStep steps one way then the other
** (turning around inside windows and at their edges). */
static void checkSeeks(KvIter *pIt, int iFirst, int n, int nStep){
  KvBuf k = {0, 0, 0};
  int j;
  for(j=0; j<40; j++){
    int i = iFirst + (int)(((u64)j*2654435761u) % (u64)n);
    int s, iAt = i;
    ikeyOf(i, &k);
    assert_int_equal(pIt->pMethods->xSeek(pIt, k.a, k.n), KV_OK);
    checkAt(pIt, i);
    for(s=0; s<nStep && iAt+1<iFirst+n; s++){
      assert_int_equal(pIt->pMethods->xNext(pIt), KV_OK);
      checkAt(pIt, ++iAt);
    }
    for(s=0; s<2*nStep && iAt>iFirst; s++){
      assert_int_equal(pIt->pMethods->xPrev(pIt), KV_OK);
      checkAt(pIt, --iAt);
    }
  }
  kvBufFree(&k);
}

/* Bytes of file-backed memory this process has mapped (RssFile). */
static long rssFileKb(void){
  FILE *f = fopen("/proc/self/status", "r");
  char z[256];
  long n = -1;
  assert_non_null(f);
  while( fgets(z, sizeof(z), f) ){
    if( sscanf(z, "RssFile: %ld kB", &n)==1 ) break;
  }
  fclose(f);
  assert_true(n>=0);
  return n;
}

/* Same entries as the table holds, forward, backward and around seeks,
** for blocks smaller than the first window, about its size, larger than
** it, and larger than the largest window (read in the map); every pass
** through windows and those after, through the map. */
static void test_scan_entries_across_windows(void **state){
  static const u32 aBlock[] = { 256, 4096, 20000, 70000, 300000 };
  int iB;
  (void)state;
  for(iB=0; iB<(int)(sizeof(aBlock)/sizeof(aBlock[0])); iB++){
    Tab t;
    KvSst *pSst = 0;
    KvIter *pIt = 0;
    int iPass;
    buildTab(&t, "a.sst", 0, 6000, aBlock[iB], KV_COMPRESS_NONE);
    assert_int_equal(kvSstOpen(kvEnvPosix(), t.zPath, 0, 0, &pSst), KV_OK);
    assert_non_null(pSst->aRegion);
    assert_int_equal(kvSstIterNew(pSst, 0, &pIt), KV_OK);
    /* passes 1..3 through windows, then the map (SST_AHEAD_PASSES) */
    for(iPass=0; iPass<5; iPass++){
      checkPass(pIt, 0, t.n, iPass%2==0);
      checkSeeks(pIt, 0, t.n, 1 + iPass*7);
    }
    pIt->pMethods->xClose(pIt);
    /* a fresh table, backward first, then a fresh iterator */
    kvSstClose(pSst);
    assert_int_equal(kvSstOpen(kvEnvPosix(), t.zPath, 0, 0, &pSst), KV_OK);
    assert_int_equal(kvSstIterNew(pSst, 0, &pIt), KV_OK);
    checkPass(pIt, 0, t.n, 0);
    pIt->pMethods->xClose(pIt);
    assert_int_equal(kvSstIterNew(pSst, 0, &pIt), KV_OK);
    checkSeeks(pIt, 0, t.n, 300);
    checkPass(pIt, 0, t.n, 1);
    pIt->pMethods->xClose(pIt);
    kvSstClose(pSst);
    kvSstMetaFree(&t.meta);
    unlink(t.zPath);
  }
}

/* A run of three tables: windows go on from one table into the next,
** both ways; compressed tables (through the block cache) and a bulk read
** (windows always) give the same entries. */
static KvSst *gapRun[3];
static int runTable(void *pCtx, int i, KvSst **ppSst){
  (void)pCtx;
  *ppSst = gapRun[i];
  return KV_OK;
}
static KvBuf gaLargest[3];
static void runLargest(void *pCtx, int i, const u8 **pp, size_t *pn){
  (void)pCtx;
  *pp = gaLargest[i].a;
  *pn = gaLargest[i].n;
}
/* n tables of 3000 entries each (entries from 0 on), named zPrefix0.sst
** and on, open as a run in *pRun (gapRun, gaLargest). */
static void openRun(Tab *at, int n, const char *zPrefix, int eComp,
                    KvCache *pCache, KvSstRun *pRun){
  int i;
  for(i=0; i<n; i++){
    char z[32];
    snprintf(z, sizeof(z), "%s%d.sst", zPrefix, i);
    buildTab(&at[i], z, i*3000, 3000, 4096, eComp);
    assert_int_equal(kvSstOpen(kvEnvPosix(), at[i].zPath, pCache, 0,
                               &gapRun[i]), KV_OK);
    gaLargest[i].n = 0;
    assert_int_equal(kvBufSet(&gaLargest[i], at[i].meta.largest.a,
                              at[i].meta.largest.n), KV_OK);
  }
  pRun->nTable = n;
  pRun->pCtx = 0;
  pRun->xTable = runTable;
  pRun->xLargest = runLargest;
}

static void closeRun(Tab *at, int n){
  int i;
  for(i=0; i<n; i++){
    kvSstClose(gapRun[i]);
    kvSstMetaFree(&at[i].meta);
    kvBufFree(&gaLargest[i]);
    unlink(at[i].zPath);
  }
}

static void test_scan_run_of_tables(void **state){
  static const int aComp[] = { KV_COMPRESS_NONE, KV_COMPRESS_ZLIB };
  int iComp, iFlag;
  (void)state;
  for(iComp=0; iComp<2; iComp++){
    Tab at[3];
    KvCache *pCache = 0;
    KvSstRun run;
    assert_int_equal(kvCacheNew(1<<20, &pCache), KV_OK);
    openRun(at, 3, "r", aComp[iComp], pCache, &run);
    for(iFlag=0; iFlag<2; iFlag++){
      KvIter *pIt = 0;
      int iPass;
      assert_int_equal(kvSstRunIterNew(&run, iFlag ? KV_SST_BULK : 0, &pIt),
                       KV_OK);
      for(iPass=0; iPass<5; iPass++){
        checkPass(pIt, 0, 9000, iPass%2);
        checkSeeks(pIt, 0, 9000, 50);
      }
      pIt->pMethods->xClose(pIt);
    }
    closeRun(at, 3);
    kvCacheFree(pCache);
  }
}

/* A first scan reads the file without mapping it; once the file has been
** scanned 3 times (4 units of xRead per 64 KiB region each, against
** SST_AHEAD_RENT, 12), the next scan reads it in the map. Seeks read a
** lone block (2 units) 6 times per region, then in the map. */
static void test_scan_maps_after_passes(void **state){
  Tab t;
  KvSst *pSst = 0;
  KvIter *pIt = 0;
  long nFileKb, r0, r1;
  int iPass;
  (void)state;
  buildTab(&t, "m.sst", 0, 40000, 4096, KV_COMPRESS_NONE);
  nFileKb = (long)(t.meta.nFileSize/1024);
  assert_true(nFileKb>16000);
  assert_int_equal(kvSstOpen(kvEnvPosix(), t.zPath, 0, 0, &pSst), KV_OK);
  assert_int_equal(kvSstIterNew(pSst, 0, &pIt), KV_OK);
  r0 = rssFileKb();
  for(iPass=0; iPass<3; iPass++) checkPass(pIt, 0, t.n, iPass!=1);
  r1 = rssFileKb();
  /* (the index chunks are read in the map, and the regions at the ends,
  ** where the windows are small and meet often, pay more per pass and go
  ** to the map sooner: a few percent of the file) */
  assert_true(r1 - r0 < nFileKb/8);
  checkPass(pIt, 0, t.n, 1);
  assert_true(rssFileKb() - r0 > nFileKb/2);
  pIt->pMethods->xClose(pIt);
  kvSstClose(pSst);

  /* Seeks: the same key sought again and again reads a lone block 6
  ** times, then maps its region (64 KiB) and reads it there. */
  assert_int_equal(kvSstOpen(kvEnvPosix(), t.zPath, 0, 0, &pSst), KV_OK);
  assert_int_equal(kvSstIterNew(pSst, 0, &pIt), KV_OK);
  {
    KvBuf k = {0, 0, 0};
    u64 iBlock = 0;
    int j;
    ikeyOf(10000, &k);
    for(j=0; j<9; j++){
      /* another block between, so that the seek loads the block again */
      KvBuf k2 = {0, 0, 0};
      u8 v;
      ikeyOf(j*97, &k2);
      assert_int_equal(pIt->pMethods->xSeek(pIt, k2.a, k2.n), KV_OK);
      checkAt(pIt, j*97);
      kvBufFree(&k2);
      assert_int_equal(pIt->pMethods->xSeek(pIt, k.a, k.n), KV_OK);
      checkAt(pIt, 10000);
      iBlock = ((SstIter*)pIt)->dataRef.iOff;
      v = atomic_load(&pSst->aRegion[iBlock >> 16]);
      /* 6 lone reads (2 units each), then the map (0x80) */
      if( j<6 ) assert_int_equal(v, 2*(j+1));
      else assert_int_equal(v & 0x80, 0x80);
    }
    kvBufFree(&k);
  }
  pIt->pMethods->xClose(pIt);
  kvSstClose(pSst);
  kvSstMetaFree(&t.meta);
  unlink(t.zPath);
}

/* The same short scan again and again in one iterator (as a reused SQL
** cursor makes it): a seek, then 10 steps across into the next block, or
** the next table of the run. Each seek is a seek, not the turn of a run
** from the block the scan before ended in, so its lone reads pay the
** region's rent and the map takes over: after 30 rounds every block the
** scan reads lies in a mapped region (from iFromBlock on). (A seek next to the block the last
** scan ended in was taken for a turn of the run, the steps on for a run
** again, and a region a window had reached was never judged for the map:
** one or two windows read with xRead every round, for good.) */
static void repeatShortScan(KvIter *pIt, int iStart, int iFromBlock){
  KvSst *apSst[16];
  u64 aBlock[16];
  KvBuf k = {0, 0, 0};
  int i, r, s, nBlock = 0;
  ikeyOf(iStart, &k);
  for(r=0; r<30; r++){
    assert_int_equal(pIt->pMethods->xSeek(pIt, k.a, k.n), KV_OK);
    checkAt(pIt, iStart);
    nBlock = 0;
    for(s=0; s<=10; s++){
      SstIter *p = (SstIter*)pIt;
      if( s>0 ){
        assert_int_equal(pIt->pMethods->xNext(pIt), KV_OK);
        checkAt(pIt, iStart + s);
      }
      if( nBlock==0 || p->pSst!=apSst[nBlock-1]
       || p->dataRef.iOff!=aBlock[nBlock-1] ){
        apSst[nBlock] = p->pSst;
        aBlock[nBlock++] = p->dataRef.iOff;
      }
    }
  }
  assert_true(nBlock>=2);
  for(i=iFromBlock; i<nBlock; i++){
    u8 v = atomic_load(&apSst[i]->aRegion[aBlock[i] >> 16]);
    assert_int_equal(v & 0x80, 0x80);
  }
  kvBufFree(&k);
}

static void test_scan_repeated_short_scan_maps(void **state){
  Tab at[2];
  KvSstRun run;
  KvIter *pIt = 0;
  int iStart;
  (void)state;
  openRun(at, 2, "s", KV_COMPRESS_NONE, 0, &run);
  /* Across a block edge inside table 0: two entries before the end of
  ** entry 1000's block. */
  assert_int_equal(kvSstRunIterNew(&run, 0, &pIt), KV_OK);
  {
    KvBuf k = {0, 0, 0};
    u64 iB1;
    ikeyOf(1000, &k);
    assert_int_equal(pIt->pMethods->xSeek(pIt, k.a, k.n), KV_OK);
    iB1 = ((SstIter*)pIt)->dataRef.iOff;
    for(iStart=1000; ((SstIter*)pIt)->dataRef.iOff==iB1; iStart++){
      assert_int_equal(pIt->pMethods->xNext(pIt), KV_OK);
    }
    kvBufFree(&k);
  }
  repeatShortScan(pIt, iStart - 2, 0);
  pIt->pMethods->xClose(pIt);
  /* Across the edge between the tables. */
  assert_int_equal(kvSstRunIterNew(&run, 0, &pIt), KV_OK);
  repeatShortScan(pIt, 2998, 0);
  pIt->pMethods->xClose(pIt);
  /* From a block read in the map (a point read checked it there) into the
  ** first block of the next 64 KiB region, which a window holds: the seek
  ** leaves the window alone, and the block was decoded from it again on
  ** every round, its CRC checked every time, and never mapped. */
  assert_int_equal(kvSstIterNew(gapRun[0], 0, &pIt), KV_OK);
  {
    u64 iPrev;
    int bFound = 0, eType = 0;
    KvBuf k = {0, 0, 0};
    assert_int_equal(pIt->pMethods->xFirst(pIt), KV_OK);
    iPrev = ((SstIter*)pIt)->dataRef.iOff;
    for(iStart=0; kvIterValid(pIt); iStart++){
      u64 iOff = ((SstIter*)pIt)->dataRef.iOff;
      if( iOff>>16 != iPrev>>16 ) break;
      iPrev = iOff;
      assert_int_equal(pIt->pMethods->xNext(pIt), KV_OK);
    }
    assert_true(kvIterValid(pIt));
    iStart -= 2;
    ikeyOf(iStart, &k);
    assert_int_equal(kvSstGet(gapRun[0], k.a, k.n - KV_TRAILER, KV_MAX_SEQ,
                              &bFound, &eType, 0), KV_OK);
    assert_true(bFound);
    kvBufFree(&k);
  }
  pIt->pMethods->xClose(pIt);
  assert_int_equal(kvSstIterNew(gapRun[0], 0, &pIt), KV_OK);
  repeatShortScan(pIt, iStart, 1);    /* (the first block: in the map) */
  pIt->pMethods->xClose(pIt);
  closeRun(at, 2);
}

/* Flip byte iOff of file zPath. */
static void flipByte(const char *zPath, u64 iOff){
  int fd = open(zPath, O_RDWR);
  u8 c;
  assert_true(fd>=0);
  assert_int_equal(pread(fd, &c, 1, (off_t)iOff), 1);
  c ^= 0x5a;
  assert_int_equal(pwrite(fd, &c, 1, (off_t)iOff), 1);
  close(fd);
}

/* Step through the whole table one way; the rc of the first failure. */
static int passRc(KvIter *pIt, int bFwd){
  int rc = bFwd ? pIt->pMethods->xFirst(pIt) : pIt->pMethods->xLast(pIt);
  while( rc==KV_OK && kvIterValid(pIt) ){
    rc = bFwd ? pIt->pMethods->xNext(pIt) : pIt->pMethods->xPrev(pIt);
  }
  return rc;
}

static void checkCorruptMsg(const Tab *t, u64 iBlock){
  char z[64];
  const char *zMsg = kvErrMsg();
  snprintf(z, sizeof(z), "corrupt data block at offset %llu",
           (unsigned long long)iBlock);
  assert_non_null(strstr(zMsg, t->zPath));
  assert_non_null(strstr(zMsg, z));
  assert_non_null(strstr(zMsg, "checksum mismatch"));
}

/* A damaged data block, in the middle of a window, at the start of a
** table read backward, or read alone after a seek: KV_CORRUPT naming the
** file and the block. */
static void test_scan_damaged_block(void **state){
  Tab t;
  KvSst *pSst = 0;
  KvIter *pIt = 0;
  SstIter probe;
  int aWhich[3], iW;
  (void)state;
  buildTab(&t, "d.sst", 0, 6000, 4096, KV_COMPRESS_NONE);
  /* block offsets: from an iterator that walks the table's index */
  assert_int_equal(kvSstOpen(kvEnvPosix(), t.zPath, 0, 0, &pSst), KV_OK);
  aWhich[0] = (int)(t.meta.nDataBlock/2);     /* inside a window */
  aWhich[1] = 0;                              /* the first: a lone read */
  aWhich[2] = (int)t.meta.nDataBlock - 1;     /* the last */
  for(iW=0; iW<3; iW++){
    u64 iBlock = 0, nStored = 0;
    int iBlk = 0, bFwd;
    char zCopy[160];
    KvSst *pBad = 0;
    /* block aWhich[iW]'s offset: step an iterator without read-ahead */
    kvSstIterInit(&probe, pSst);
    assert_int_equal(probe.base.pMethods->xFirst(&probe.base), KV_OK);
    while( kvIterValid(&probe.base) ){
      if( iBlk==0 || probe.dataRef.iOff!=iBlock ){
        iBlock = probe.dataRef.iOff;
        nStored = probe.dataRef.pBlock->nRaw + SST_TRAILER;
        if( iBlk++==aWhich[iW] ) break;
      }
      assert_int_equal(probe.base.pMethods->xNext(&probe.base), KV_OK);
    }
    assert_int_equal(iBlk, aWhich[iW] + 1);
    kvSstIterClear(&probe);
    snprintf(zCopy, sizeof(zCopy), "%s/bad%d.sst", gDir, iW);
    {
      int fdIn = open(t.zPath, O_RDONLY), fdOut;
      u8 *a = malloc((size_t)t.meta.nFileSize);
      assert_non_null(a);
      assert_true(fdIn>=0);
      assert_int_equal(pread(fdIn, a, (size_t)t.meta.nFileSize, 0),
                       (ssize_t)t.meta.nFileSize);
      close(fdIn);
      fdOut = open(zCopy, O_CREAT|O_TRUNC|O_WRONLY, 0644);
      assert_true(fdOut>=0);
      assert_int_equal(write(fdOut, a, (size_t)t.meta.nFileSize),
                       (ssize_t)t.meta.nFileSize);
      close(fdOut);
      free(a);
    }
    flipByte(zCopy, iBlock + nStored/2);
    for(bFwd=0; bFwd<2; bFwd++){
      Tab tc = t;
      snprintf(tc.zPath, sizeof(tc.zPath), "%s", zCopy);
      assert_int_equal(kvSstOpen(kvEnvPosix(), zCopy, 0, 0, &pBad), KV_OK);
      assert_int_equal(kvSstIterNew(pBad, 0, &pIt), KV_OK);
      assert_int_equal(passRc(pIt, bFwd), KV_CORRUPT);
      assert_false(kvIterValid(pIt));
      checkCorruptMsg(&tc, iBlock);
      /* the same iterator the other way */
      assert_int_equal(passRc(pIt, !bFwd), KV_CORRUPT);
      checkCorruptMsg(&tc, iBlock);
      pIt->pMethods->xClose(pIt);
      kvSstClose(pBad);
    }
    unlink(zCopy);
  }
  kvSstClose(pSst);
  kvSstMetaFree(&t.meta);
  unlink(t.zPath);
}

/* verify_checksums: every use reads and checks (through windows here);
** a block changed after a first clean scan is caught by the next one,
** which without verify is caught too while the scans read windows. */
static void test_scan_verify_checksums(void **state){
  Tab t;
  KvSst *pSst = 0;
  KvIter *pIt = 0;
  int bVerify;
  (void)state;
  for(bVerify=1; bVerify>=0; bVerify--){
    buildTab(&t, "v.sst", 0, 6000, 4096, KV_COMPRESS_NONE);
    assert_int_equal(kvSstOpen(kvEnvPosix(), t.zPath, 0, 0, &pSst), KV_OK);
    kvSstSetVerify(pSst, bVerify);
    assert_int_equal(kvSstIterNew(pSst, 0, &pIt), KV_OK);
    checkPass(pIt, 0, t.n, 1);
    checkPass(pIt, 0, t.n, 0);
    checkSeeks(pIt, 0, t.n, 20);
    flipByte(t.zPath, t.meta.nFileSize/3);    /* inside some data block */
    assert_int_equal(passRc(pIt, 1), KV_CORRUPT);
    assert_non_null(strstr(kvErrMsg(), t.zPath));
    assert_non_null(strstr(kvErrMsg(), "corrupt data block at offset"));
    pIt->pMethods->xClose(pIt);
    kvSstClose(pSst);
    kvSstMetaFree(&t.meta);
    unlink(t.zPath);
  }
}

/* The window's buffer: nothing left allocated once the tables close, and
** any allocation failing gives KV_NOMEM or the right entries (a buffer
** that cannot be had only costs the read-ahead). */
static void test_scan_buffer_alloc(void **state){
  Tab t;
  int nFail;
  (void)state;
  buildTab(&t, "b.sst", 0, 3000, 4096, KV_COMPRESS_NONE);
  for(nFail=1; nFail<40; nFail++){
    KvSst *pSst = 0;
    KvIter *pIt = 0;
    int rc;
    failallocInstall(nFail, 0);
    rc = kvSstOpen(kvEnvPosix(), t.zPath, 0, 0, &pSst);
    if( rc==KV_OK ) rc = kvSstIterNew(pSst, 0, &pIt);
    if( rc==KV_OK ){
      int i = 0;
      rc = pIt->pMethods->xFirst(pIt);
      while( rc==KV_OK && kvIterValid(pIt) ){
        checkAt(pIt, i++);
        rc = pIt->pMethods->xNext(pIt);
      }
      if( rc==KV_OK ) assert_int_equal(i, t.n);
    }
    assert_true(rc==KV_OK || rc==KV_NOMEM);
    if( pIt ) pIt->pMethods->xClose(pIt);
    kvSstClose(pSst);
    assert_int_equal(failallocOutstanding(), 0);
    failallocRemove();
    kvErrClear();
  }
  kvSstMetaFree(&t.meta);
  unlink(t.zPath);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_scan_entries_across_windows,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_scan_run_of_tables, setupDir,
                                    teardownDir),
    cmocka_unit_test_setup_teardown(test_scan_maps_after_passes, setupDir,
                                    teardownDir),
    cmocka_unit_test_setup_teardown(test_scan_repeated_short_scan_maps,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_scan_damaged_block, setupDir,
                                    teardownDir),
    cmocka_unit_test_setup_teardown(test_scan_verify_checksums, setupDir,
                                    teardownDir),
    cmocka_unit_test_setup_teardown(test_scan_buffer_alloc, setupDir,
                                    teardownDir),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
