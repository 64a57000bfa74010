/*
** readseq_cost.c - the cost of full scans of a store, pass by pass
** (issue #18, doc/mergeheap.md), for callgrind and for the clock.
**
**   cc -O3 -g -flto=auto -Iengine -o /tmp/readseq_cost \
**     bench/readseq_cost.c build/libkv.a -lz -lpthread
**   /tmp/readseq_cost DIR [PASSES] [reverse]
**   valgrind --tool=callgrind --toggle-collect=scanPass \
**     /tmp/readseq_cost DIR 2
**
** Opens the store in DIR with kvbench's options (4 MiB memtable, 8 MiB
** cache, 10-bit bloom filters), then scans every entry PASSES times
** (default 3) forward, or backward with "reverse", in one process. It
** prints per pass the entries, the wall time and this thread's CPU time
** (which the other load of a shared machine disturbs far less than the
** wall time). The first pass also pays for the first reads of the blocks
** (page faults of the mapping, the CRC check of each data block); later
** ones are the iterators' own cost.
*/
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv.h"

static double clockMs(clockid_t id){
  struct timespec t;
  clock_gettime(id, &t);
  return t.tv_sec*1e3 + t.tv_nsec/1e6;
}

static void check(int rc, const char *zWhat){
  if( rc!=KV_OK ){
    fprintf(stderr, "readseq_cost: %s: rc=%d %s\n", zWhat, rc, kv_errmsg(0));
    exit(1);
  }
}

/* One full scan; returns the entries seen and the bytes in *pnByte. */
__attribute__((noinline)) long scanPass(kv_db *db, int bReverse,
                                        size_t *pnByte){
  kv_iter *it = 0;
  long n = 0;
  size_t nByte = 0;
  check(kv_iter_new(db, 0, 0, &it), "kv_iter_new");
  check(bReverse ? kv_iter_last(it) : kv_iter_first(it), "first/last");
  while( kv_iter_valid(it) ){
    const void *pK, *pV;
    size_t nK, nV;
    kv_iter_entry(it, &pK, &nK, &pV, &nV);
    nByte += nK + nV;
    n++;
    check(bReverse ? kv_iter_prev(it) : kv_iter_next(it), "step");
  }
  kv_iter_free(it);
  *pnByte = nByte;
  return n;
}

int main(int argc, char **argv){
  kv_options *o;
  kv_db *db = 0;
  int nPass = argc>2 ? atoi(argv[2]) : 3;
  int bReverse = argc>3 && strcmp(argv[3], "reverse")==0;
  char *zErr = 0;
  int i;
  if( argc<2 || nPass<1 ){
    fprintf(stderr, "usage: %s DIR [PASSES] [reverse]\n", argv[0]);
    return 1;
  }
  o = kv_options_new();
  if( kv_options_set(o, "memtable_size", "4194304", &zErr)
   || kv_options_set(o, "cache_size", "8388608", &zErr)
   || kv_options_set(o, "bloom_bits_per_key", "10", &zErr) ){
    fprintf(stderr, "readseq_cost: %s\n", zErr);
    return 1;
  }
  check(kv_open(argv[1], o, &db), "kv_open");
  kv_options_free(o);
  for(i=0; i<nPass; i++){
    double w0 = clockMs(CLOCK_MONOTONIC);
    double c0 = clockMs(CLOCK_THREAD_CPUTIME_ID);
    size_t nByte = 0;
    long n = scanPass(db, bReverse, &nByte);
    double c1 = clockMs(CLOCK_THREAD_CPUTIME_ID);
    double w1 = clockMs(CLOCK_MONOTONIC);
    printf("pass %d %s: %ld entries, %zu bytes, wall %.1f ms, cpu %.1f ms,"
           " %.0f ns cpu/entry\n", i+1, bReverse ? "reverse" : "forward", n,
           nByte, w1 - w0, c1 - c0, n ? (c1 - c0)*1e6/(double)n : 0.0);
  }
  check(kv_close(db), "kv_close");
  return 0;
}
