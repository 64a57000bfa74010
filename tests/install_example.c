/*
** install_example.c - a program built against an installed kvstore with
** `pkg-config --cflags --libs kvstore` (tests/installtest.sh): writes,
** reads back and scans through the engine's public API.
*/
#include <kvstore/kv.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv){
  kv_db *db = 0;
  kv_iter *it = 0;
  void *pVal = 0;
  size_t nVal = 0;
  int rc, n = 0;
  if( argc!=2 ){
    fprintf(stderr, "usage: %s STORE_DIR\n", argv[0]);
    return 2;
  }
  rc = kv_open(argv[1], 0, &db);
  if( rc==KV_OK ) rc = kv_put(db, "apple", 5, "red", 3);
  if( rc==KV_OK ) rc = kv_put(db, "banana", 6, "yellow", 6);
  if( rc==KV_OK ) rc = kv_get(db, 0, 0, "banana", 6, &pVal, &nVal);
  if( rc==KV_OK ) printf("banana = %.*s\n", (int)nVal, (const char*)pVal);
  kv_free(pVal);
  if( rc==KV_OK ) rc = kv_iter_new(db, 0, 0, &it);
  if( rc==KV_OK ) rc = kv_iter_first(it);
  while( rc==KV_OK && kv_iter_valid(it) ){
    n++;
    rc = kv_iter_next(it);
  }
  kv_iter_free(it);
  if( rc==KV_OK ) printf("%d keys, kvstore %s\n", n, kv_version());
  if( rc!=KV_OK ) fprintf(stderr, "%s\n", kv_errmsg(db));
  kv_close(db);
  return rc==KV_OK ? 0 : 1;
}
