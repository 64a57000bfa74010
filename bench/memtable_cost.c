/*
** memtable_cost.c - the cost of the memtable's skip list alone: adds,
** point reads and a full scan of one memtable's worth of entries, with the
** CPU's caches as a commit leaves them or warm (doc/getpath.md, "Nodes apart
** from their entries").
**
**   cc -O3 -g -flto=auto -Iengine -o /tmp/memtable_cost \
**     bench/memtable_cost.c build/libkv.a -lz -lpthread
**   /tmp/memtable_cost [ROUNDS] [EVICT_KB]
**
** Each round fills a fresh pooled memtable (kvbench's 4 MiB, with its key
** filter) with 26,000 entries of 16-byte "%016d" keys in random order and
** 100-byte values (about what 4 MiB holds), then reads every key once in
** another random order, then scans the list. Between two operations it
** reads and writes EVICT_KB KiB of other memory (default 1024: about what
** an autocommit INSERT's system calls and SQLite's work pass through the
** caches; 0 for warm caches), outside the timed part. It prints, per
** operation, the median over ROUNDS (default 7) of the mean time in
** nanoseconds, less the cost of reading the clock (measured the same way
** around nothing), and a checksum so that nothing is optimized away.
*/
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvInt.h"

#define N_ENTRY 26000
#define N_VAL 100
#define MAX_ROUNDS 64

static double nowNs(void){
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec*1e9 + t.tv_nsec;
}

static u64 iRng = 0x9E3779B97F4A7C15ull;
static u64 rng(void){
  iRng ^= iRng << 13; iRng ^= iRng >> 7; iRng ^= iRng << 17;
  return iRng;
}

static void shuffle(int *a, int n){
  int i;
  for(i=n-1; i>0; i--){
    int j = (int)(rng() % (u64)(i+1)), t = a[i];
    a[i] = a[j]; a[j] = t;
  }
}

static volatile u64 sink;
static u8 *aEvict;
static size_t nEvict;

/* Pass the eviction buffer through the caches, one store per line. */
static void evict(void){
  size_t i;
  u64 x = 0;
  for(i=0; i<nEvict; i+=64){
    x += aEvict[i];
    aEvict[i] = (u8)(x + i);
  }
  sink += x;
}

static int cmpDouble(const void *a, const void *b){
  double x = *(const double*)a, y = *(const double*)b;
  return x<y ? -1 : x>y;
}

static double median(double *a, int n){
  qsort(a, (size_t)n, sizeof(double), cmpDouble);
  return a[n/2];
}

static void die(int rc, const char *zWhat){
  fprintf(stderr, "memtable_cost: %s: %d %s\n", zWhat, rc, kvErrMsg());
  exit(1);
}

int main(int argc, char **argv){
  int nRound = argc>1 ? atoi(argv[1]) : 7;
  int nEvictKb = argc>2 ? atoi(argv[2]) : 1024;
  static int aOrder[N_ENTRY], aRead[N_ENTRY];
  double aAdd[MAX_ROUNDS], aGet[MAX_ROUNDS], aScan[MAX_ROUNDS];
  u8 aVal[N_VAL];
  KvMemPool *pPool = 0;
  u64 nCheck = 0;
  int r, i, rc;

  if( nRound<1 || nRound>MAX_ROUNDS || nEvictKb<0 ){
    fprintf(stderr, "usage: memtable_cost [ROUNDS (1-%d)] [EVICT_KB]\n",
            MAX_ROUNDS);
    return 1;
  }
  nEvict = (size_t)nEvictKb*1024;
  aEvict = calloc(nEvict ? nEvict : 1, 1);
  if( aEvict==0 ) return 1;
  memset(aVal, 'v', sizeof(aVal));
  for(i=0; i<N_ENTRY; i++) aOrder[i] = aRead[i] = i;
  rc = kvMemPoolNew(4u<<20, &pPool);
  if( rc ) die(rc, "pool");

  for(r=0; r<nRound; r++){
    KvMem *pMem = 0;
    KvIter *pIter = 0;
    double tAdd = 0, tGet = 0, tClock = 0, t0;
    char zKey[17];
    shuffle(aOrder, N_ENTRY);
    shuffle(aRead, N_ENTRY);
    rc = kvMemNewPooled(pPool, &pMem);
    if( rc ) die(rc, "memtable");
    for(i=0; i<N_ENTRY; i++){
      evict();
      t0 = nowNs();
      tClock += nowNs() - t0;
    }
    tClock /= N_ENTRY;
    for(i=0; i<N_ENTRY; i++){
      snprintf(zKey, sizeof(zKey), "%016d", aOrder[i]);
      evict();
      t0 = nowNs();
      rc = kvMemAdd(pMem, (u64)i + 1, KV_TYPE_PUT, (const u8*)zKey, 16,
                    aVal, sizeof(aVal));
      tAdd += nowNs() - t0;
      if( rc ) die(rc, "add");
    }
    for(i=0; i<N_ENTRY; i++){
      const u8 *pV = 0;
      size_t nV = 0;
      int eType = 0;
      snprintf(zKey, sizeof(zKey), "%016d", aRead[i]);
      evict();
      t0 = nowNs();
      nCheck += (u64)kvMemGet(pMem, (const u8*)zKey, 16, KV_MAX_SEQ, &eType,
                              &pV, &nV);
      nCheck += nV ? pV[0] : 0;
      tGet += nowNs() - t0;
    }
    evict();
    rc = kvMemIterNew(pMem, &pIter);
    if( rc ) die(rc, "iterator");
    t0 = nowNs();
    for(rc=pIter->pMethods->xFirst(pIter); rc==KV_OK && kvIterValid(pIter);
        rc=pIter->pMethods->xNext(pIter)){
      const u8 *pK, *pV;
      size_t nK, nV;
      kvIterKey(pIter, &pK, &nK);
      kvIterValue(pIter, &pV, &nV);
      nCheck += pK[nK-9] + pV[nV-1];
    }
    aScan[r] = (nowNs() - t0)/N_ENTRY;
    if( rc ) die(rc, "scan");
    pIter->pMethods->xClose(pIter);
    kvMemUnref(pMem);
    aAdd[r] = tAdd/N_ENTRY - tClock;
    aGet[r] = tGet/N_ENTRY - tClock;
  }
  printf("entries %d, evict %d KiB, rounds %d: add %.0f ns, get %.0f ns, "
         "scan %.1f ns an entry (medians; check %llu)\n", N_ENTRY, nEvictKb,
         nRound, median(aAdd, nRound), median(aGet, nRound),
         median(aScan, nRound), (unsigned long long)(nCheck + sink));
  kvMemPoolUnref(pPool);
  free(aEvict);
  return 0;
}
