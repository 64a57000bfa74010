/*
** pcdrive.c - the workload the power-cut recorder traces.
**
**   PC_DIR=<dir> PC_LOG=<log> LD_PRELOAD=pcshim.so pcdrive <dir> [nBatch]
**
** Opens the store in <dir> (an existing empty directory) through the
** engine's C API with the options of pc.h (sync=full, 4 KB WAL segments,
** small tables, inline flush and compaction) and commits nBatch batches
** (default 120; see pc.h for what batch n writes). Every 10th batch is
** followed by a kv_flush, every 30th by a kv_compact, every 45th by a
** close and reopen. Before each batch it marks "begin <n>" in the log and
** after each commit that returned KV_OK "ack <n>" (pc_mark() of the shim,
** found with dlsym: without the shim the marks are skipped), so the
** checker knows which commits were acknowledged at every point of the log.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "pc.h"
#include "pcengine.h"

static void (*xMark)(const char*);

static void mark(const char *zWhat, int n){
  char z[64];
  if( xMark==0 ) return;
  snprintf(z, sizeof(z), "%s %d", zWhat, n);
  xMark(z);
}

static void die(const char *zWhat, kv_db *db){
  fprintf(stderr, "pcdrive: %s: %s\n", zWhat, kv_errmsg(db));
  exit(1);
}

static kv_options *options(void){ return pcOptions("pcdrive", 1); }

static int writeBatch(kv_db *db, int n){
  kv_batch *b = kv_batch_new();
  char zKey[32], zVal[400];
  int rc, nVal;
  if( b==0 ) die("out of memory", db);
  nVal = snprintf(zVal, sizeof(zVal), "%d", n);
  kv_batch_put(b, "last", 4, zVal, (size_t)nVal);
  snprintf(zKey, sizeof(zKey), "k%02d", n % PC_NKEYS);
  /* Values of 20 to 300 bytes: records and blocks of many sizes. */
  nVal = snprintf(zVal, sizeof(zVal), "%d:%s:", n, zKey);
  memset(zVal + nVal, 'a' + n % 26, (size_t)(20 + (n*37) % 280));
  nVal += 20 + (n*37) % 280;
  kv_batch_put(b, zKey, strlen(zKey), zVal, (size_t)nVal);
  snprintf(zKey, sizeof(zKey), "k%02d", (n + PC_NKEYS/2) % PC_NKEYS);
  kv_batch_delete(b, zKey, strlen(zKey));
  rc = kv_write(db, b);
  kv_batch_free(b);
  return rc;
}

int main(int argc, char **argv){
  kv_options *o;
  kv_db *db = 0;
  int nBatch = argc>2 ? atoi(argv[2]) : 120;
  int n;
  if( argc<2 ){
    fprintf(stderr, "usage: pcdrive DIR [NBATCH]\n");
    return 2;
  }
  *(void**)&xMark = dlsym(RTLD_DEFAULT, "pc_mark");
  o = options();
  if( kv_open(argv[1], o, &db)!=KV_OK ) die("open", 0);
  for(n=1; n<=nBatch; n++){
    mark("begin", n);
    if( writeBatch(db, n)!=KV_OK ) die("commit", db);
    mark("ack", n);
    if( n%10==0 && kv_flush(db)!=KV_OK ) die("flush", db);
    if( n%30==0 ){
      char *zJson = 0;
      if( kv_compact(db, 0, &zJson)!=KV_OK ) die("compact", db);
      kv_free(zJson);
    }
    if( n%45==0 ){
      if( kv_close(db)!=KV_OK ) die("close", 0);
      db = 0;
      if( kv_open(argv[1], o, &db)!=KV_OK ) die("reopen", 0);
    }
  }
  if( kv_close(db)!=KV_OK ) die("close", 0);
  kv_options_free(o);
  return 0;
}
