/*
** benchutil.h - what the benchmark programs (kvbench.c, sqlbench.c,
** sqllarge.c) share, so that the same arguments give the same rows and
** the same measurements in each: the fatal-error exit, the generators
** (splitmix64, a keyed permutation, 16-digit keys, half-compressible
** values), the clocks, a latency histogram, the CPU time of the process,
** disk usage and removal of a tree, and --name=value arguments.
**
** Define BENCH_NAME (the program's name, the prefix of its error messages)
** before including this file. Every function is static (BENCH_FN), as
** when each program kept its own copy, so the compiler treats it as it did
** then; the unused attribute keeps -Wunused-function quiet about the ones
** a program does not call.
*/
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef BENCH_NAME
# error "define BENCH_NAME before including benchutil.h"
#endif

#define BENCH_FN static __attribute__((unused))

/* Print "BENCH_NAME: <message>" and exit(1): a benchmark that drops an
** error measures nothing. */
BENCH_FN void die(const char *zFmt, ...){
  va_list ap;
  va_start(ap, zFmt);
  fprintf(stderr, BENCH_NAME ": ");
  vfprintf(stderr, zFmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

/* ------------------------------------------------------------ generators */

/* splitmix64: fast, deterministic, the same sequence for every engine. */
typedef struct Rng { uint64_t s; } Rng;
BENCH_FN uint64_t rngNext(Rng *r){
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
BENCH_FN uint64_t rngUniform(Rng *r, uint64_t n){
  return rngNext(r) % n;
}
BENCH_FN double rngDouble(Rng *r){
  return (rngNext(r) >> 11) * 0x1.0p-53;
}

/* A keyed permutation of [0,n) without a table (so the driver itself adds
** nothing to the peak RSS of a fill): a bijection on the smallest
** power-of-two domain >= n (odd multiply, xor-shift; both invertible mod
** 2^k), cycle-walked until the value falls below n. */
typedef struct Perm { uint64_t n, mask; int bits; } Perm;
BENCH_FN void permInit(Perm *p, uint64_t n){
  p->n = n; p->bits = 1;
  while( (1ull<<p->bits) < n ) p->bits++;
  p->mask = (1ull<<p->bits) - 1;
}
BENCH_FN uint64_t permAt(const Perm *p, uint64_t i){
  uint64_t x = i;
  do{
    int r;
    for(r=0; r<3; r++){
      x = (x * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull*(r+1)) & p->mask;
      x ^= x >> (p->bits/2 + 1);
    }
  }while( x>=p->n );
  return x;
}

/* Keys: the 16-character decimal text ("%016d") of i, not terminated. */
#define KEY_SIZE 16
BENCH_FN void keyFmt(char *z, uint64_t i){
  char t[32];
  snprintf(t, sizeof(t), "%016" PRIu64, i);
  memcpy(z, t, KEY_SIZE);
}

/* Values: a buffer of VBUF_SIZE + nVal bytes made of 100-byte pieces, each
** 50 random printable bytes repeated twice, so a value compresses to
** about half (db_bench's default compression ratio 0.5). Values are
** slices of it. Free with free(). */
#define VBUF_SIZE (1<<20)
BENCH_FN char *valBufNew(size_t nVal){
  Rng r = {301};
  size_t i = 0;
  char *a = malloc(VBUF_SIZE + nVal);
  if( a==0 ) die("out of memory");
  while( i<VBUF_SIZE + nVal ){
    char piece[100];
    size_t j;
    for(j=0; j<50; j++) piece[j] = (char)(' ' + rngUniform(&r, 95));
    memcpy(piece+50, piece, 50);
    for(j=0; j<100 && i<VBUF_SIZE + nVal; j++) a[i++] = piece[j];
  }
  return a;
}

/* ------------------------------------------------------------ measuring */
BENCH_FN double nowSec(void){
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec*1e-9;
}
BENCH_FN uint64_t nowNs(void){
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec*1000000000ull + (uint64_t)t.tv_nsec;
}

/* Log-linear histogram: 32 buckets per power of two of nanoseconds. */
#define HSUB 32
#define HBUCKETS (64*HSUB)
typedef struct Hist { uint64_t a[HBUCKETS]; uint64_t n; } Hist;
BENCH_FN int histBucket(uint64_t ns){
  int msb, sub;
  if( ns<HSUB ) return (int)ns;
  msb = 63 - __builtin_clzll(ns);            /* >= 5 */
  sub = (int)((ns >> (msb-5)) & (HSUB-1));
  return (msb-4)*HSUB + sub;
}
BENCH_FN double histLow(int b){
  int msb;
  if( b<HSUB ) return b;
  msb = b/HSUB + 4;
  return (double)((1ull<<msb) + ((uint64_t)(b%HSUB) << (msb-5)));
}
BENCH_FN void histAdd(Hist *h, uint64_t ns){
  h->a[histBucket(ns)]++;
  h->n++;
}
BENCH_FN void histMerge(Hist *h, const Hist *o){
  int i;
  for(i=0; i<HBUCKETS; i++) h->a[i] += o->a[i];
  h->n += o->n;
}
/* The pct-th percentile, in nanoseconds (the middle of its bucket). */
BENCH_FN double histPct(const Hist *h, double pct){
  uint64_t want = (uint64_t)ceil(h->n * pct / 100.0), seen = 0;
  int i;
  if( h->n==0 ) return 0;
  if( want==0 ) want = 1;
  for(i=0; i<HBUCKETS; i++){
    seen += h->a[i];
    if( seen>=want ){
      double lo = histLow(i), hi = histLow(i+1);
      return (lo+hi)/2;
    }
  }
  return histLow(HBUCKETS-1);
}

/* CPU seconds of the process (all threads, background work included):
** unlike ops/s, barely moved by other load on the machine. Measured from
** process start, so it includes open and close. */
BENCH_FN double cpuSecs(const struct rusage *ru){
  return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec*1e-6
       + (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec*1e-6;
}

/* Allocated bytes of a file, or of every file under a directory
** (recursive); 0 when zPath does not exist. */
BENCH_FN uint64_t diskBytes(const char *zPath){
  struct stat st;
  uint64_t n = 0;
  DIR *d;
  struct dirent *e;
  if( lstat(zPath, &st)!=0 ) return 0;
  if( !S_ISDIR(st.st_mode) ) return (uint64_t)st.st_blocks*512;
  if( (d = opendir(zPath))==0 ) return 0;
  while( (e = readdir(d))!=0 ){
    char z[4096];
    if( strcmp(e->d_name, ".")==0 || strcmp(e->d_name, "..")==0 ) continue;
    snprintf(z, sizeof(z), "%s/%s", zPath, e->d_name);
    n += diskBytes(z);
  }
  closedir(d);
  return n;
}

/* Remove a file, or a directory and everything under it. */
BENCH_FN void rmTree(const char *zPath){
  struct stat st;
  DIR *d;
  struct dirent *e;
  if( lstat(zPath, &st)!=0 ) return;
  if( !S_ISDIR(st.st_mode) ){ unlink(zPath); return; }
  if( (d = opendir(zPath))!=0 ){
    while( (e = readdir(d))!=0 ){
      char z[4096];
      if( strcmp(e->d_name, ".")==0 || strcmp(e->d_name, "..")==0 ) continue;
      snprintf(z, sizeof(z), "%s/%s", zPath, e->d_name);
      rmTree(z);
    }
    closedir(d);
  }
  rmdir(zPath);
}

/* ------------------------------------------------------------ arguments */

/* The value of "NAME=value" when zArg is that argument, else NULL. */
BENCH_FN const char *argVal(const char *zArg, const char *zName){
  size_t n = strlen(zName);
  if( strncmp(zArg, zName, n)==0 && zArg[n]=='=' ) return zArg + n + 1;
  return 0;
}

#endif /* BENCHUTIL_H */
