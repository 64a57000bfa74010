/*
** verify_cost.c - the cost of verify_checksums=on on point reads, for
** callgrind (doc/recovery.md gives the command and the figures):
**
**   verify_cost <dir> on|off
**
** writes 10,000 keys of 100-byte values, flushes them to one table, then
** reads 10,000 keys in a fixed pseudo-random order in readLoop(), the
** function callgrind is told to count (--toggle-collect=readLoop).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kv.h"

#define N 10000

__attribute__((noinline)) static int readLoop(kv_db *db){
  char zKey[32];
  unsigned x = 12345;
  int i, nFound = 0;
  for(i=0; i<N; i++){
    void *p = 0;
    size_t n = 0;
    x = x*1103515245u + 12345u;
    snprintf(zKey, sizeof(zKey), "key%06u", (x>>8) % N);
    if( kv_get(db, 0, 0, zKey, strlen(zKey), &p, &n)==KV_OK ) nFound++;
    kv_free(p);
  }
  return nFound;
}

int main(int argc, char **argv){
  kv_options *o = kv_options_new();
  kv_db *db = 0;
  char zKey[32], aVal[100];
  char *zErr = 0;
  int i, nFound;
  if( argc!=3 || o==0 ){
    fprintf(stderr, "usage: %s <dir> on|off\n", argv[0]);
    return 2;
  }
  if( kv_options_set(o, "verify_checksums", argv[2], &zErr)!=KV_OK
   || kv_options_set(o, "background", "off", &zErr)!=KV_OK
   || kv_open(argv[1], o, &db)!=KV_OK ){
    fprintf(stderr, "%s\n", zErr ? zErr : kv_errmsg(0));
    return 1;
  }
  memset(aVal, 'v', sizeof(aVal));
  for(i=0; i<N; i++){
    snprintf(zKey, sizeof(zKey), "key%06d", i);
    if( kv_put(db, zKey, strlen(zKey), aVal, sizeof(aVal))!=KV_OK ) return 1;
  }
  if( kv_flush(db)!=KV_OK ) return 1;
  nFound = readLoop(db);
  printf("%d of %d found\n", nFound, N);
  kv_close(db);
  kv_options_free(o);
  return nFound==N ? 0 : 1;
}
