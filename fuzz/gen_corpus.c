/*
** gen_corpus.c - writes the seed corpora of the fuzz targets from real
** stores: WAL segments, SSTables (raw and zlib, with and without a
** filter, small and large blocks) and manifests. Run once by hand
** (make fuzz-corpus) and commit the result:
**
**     gen_corpus <out-dir>     (writes <out-dir>/{wal,sst,manifest}/)
*/
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvInt.h"

static void die(const char *z){ fprintf(stderr, "gen_corpus: %s\n", z); exit(1); }

static void copyFile(const char *zFrom, const char *zTo){
  FILE *f = fopen(zFrom, "rb"), *g;
  char a[4096];
  size_t n;
  if( f==0 ) die(zFrom);
  g = fopen(zTo, "wb");
  if( g==0 ) die(zTo);
  while( (n = fread(a, 1, sizeof(a), f))>0 ) fwrite(a, 1, n, g);
  fclose(f);
  fclose(g);
}

/* One store with options azOpt, nBatch batches, flushed every nFlush;
** its files go to the corpora with prefix zTag. */
static void oneStore(const char *zOut, const char *zTag, const char **azOpt,
                     int nBatch, int nFlush){
  char zDir[64] = "/tmp/kvgen-XXXXXX";
  kv_options *o = kv_options_new();
  kv_db *db = 0;
  DIR *d;
  struct dirent *e;
  int i;
  if( mkdtemp(zDir)==0 ) die("mkdtemp");
  for(i=0; azOpt[i]; i+=2){
    if( kv_options_set(o, azOpt[i], azOpt[i+1], 0)!=KV_OK ) die(azOpt[i]);
  }
  if( kv_open(zDir, o, &db)!=KV_OK ) die(kv_errmsg(0));
  for(i=1; i<=nBatch; i++){
    kv_batch *b = kv_batch_new();
    char zKey[32], zVal[200];
    int n = snprintf(zVal, sizeof(zVal), "value-%d-", i);
    memset(zVal+n, 'a' + i%26, (size_t)(i*7%100));
    n += i*7%100;
    snprintf(zKey, sizeof(zKey), "key%04d", i*37%101);
    kv_batch_put(b, zKey, strlen(zKey), zVal, (size_t)n);
    snprintf(zKey, sizeof(zKey), "k%d", i%13);
    kv_batch_put(b, zKey, strlen(zKey), zVal, (size_t)n/2);
    if( i%5==0 ){
      snprintf(zKey, sizeof(zKey), "key%04d", i*11%101);
      kv_batch_delete(b, zKey, strlen(zKey));
    }
    if( kv_write(db, b)!=KV_OK ) die(kv_errmsg(db));
    kv_batch_free(b);
    if( nFlush && i%nFlush==0 && kv_flush(db)!=KV_OK ) die(kv_errmsg(db));
  }
  /* Copy while open: the WAL holds the tail, the manifest its edits. */
  d = opendir(zDir);
  while( d && (e = readdir(d))!=0 ){
    char zFrom[400], zTo[1200];
    const char *zSub = 0;
    if( strncmp(e->d_name, "wal-", 4)==0 ) zSub = "wal";
    else if( strstr(e->d_name, ".sst") && !strstr(e->d_name, "tmp") ) zSub = "sst";
    else if( strncmp(e->d_name, "MANIFEST-", 9)==0 ) zSub = "manifest";
    if( zSub==0 ) continue;
    snprintf(zFrom, sizeof(zFrom), "%s/%s", zDir, e->d_name);
    snprintf(zTo, sizeof(zTo), "%.600s/%s/%s-%.255s", zOut, zSub, zTag, e->d_name);
    copyFile(zFrom, zTo);
  }
  if( d ) closedir(d);
  kv_close(db);
  kv_options_free(o);
  kv_destroy(zDir);
}

int main(int argc, char **argv){
  static const char *az1[] = { "background", "off", "compression", "none",
    "block_size", "256", "summary_interval", "2",
    "wal_segment_records", "6", 0 };
  static const char *az2[] = { "background", "off", "compression", "zlib",
    "block_size", "1KB", "bloom_bits_per_key", "0", 0 };
  static const char *az3[] = { "background", "off", "compression", "zlib",
    "block_size", "4KB", "bloom_bits_per_key", "16", 0 };
  char z[600];
  if( argc!=2 ) die("usage: gen_corpus <out-dir>");
  snprintf(z, sizeof(z), "%s/wal", argv[1]); mkdir(z, 0755);
  snprintf(z, sizeof(z), "%s/sst", argv[1]); mkdir(z, 0755);
  snprintf(z, sizeof(z), "%s/manifest", argv[1]); mkdir(z, 0755);
  oneStore(argv[1], "raw", az1, 30, 10);
  oneStore(argv[1], "zlib", az2, 60, 25);
  oneStore(argv[1], "bloom", az3, 90, 40);
  /* A manifest whose CURRENT line is given in the input. */
  snprintf(z, sizeof(z), "%s/manifest/current-bad", argv[1]);
  {
    FILE *f = fopen(z, "wb");
    fputs("CURRENT:MANIFEST-0000x1\n", f);
    fclose(f);
  }
  return 0;
}
