/*
** test_corrupt.c - a damaged byte in every part of a store, one at a time.
**
** A small store is built once: 80 multi-key batches (puts and deletes over
** 40 keys), two of them flushed to zlib-compressed level-0 tables with
** bloom filters, the last 20 only in the WAL, so the directory holds
** CURRENT, a manifest, WAL segments, two SSTables and the identity file.
** Then, for each file and each offset of the sweep, the pristine files are
** copied to a scratch directory, one bit of that byte is flipped, and the
** store is opened, every key read, the whole store iterated and kv_verify
** run. It must hold that:
**   - nothing crashes or hangs (alarm() guards every trial);
**   - an open that fails says KV_CORRUPT (KV_ERROR for the identity file)
**     with a "kvstore: " message; for CURRENT and the manifest it names
**     the file;
**   - every value read is right: reads and iteration agree with the
**     state after some batch j, where j is 80 unless the damage is in the
**     WAL (a damaged last record reads as a torn tail, so the WAL may
**     recover a prefix: j >= 60, the flushed part); a read may instead
**     fail with KV_CORRUPT (or KV_IOERR), never with a wrong value;
**   - with a damaged SSTable, kv_verify reports a problem.
** The sweep covers every byte of CURRENT, the manifest, the WAL, the
** identity file and every SSTable part but the data blocks, and every 7th
** byte of the data blocks. make test runs one in 3 of those offsets;
** STRESS=1 runs them all.
**
** A second test plants a zlib bomb (256 MB of zeros in 256 KB) in a data
** block and checks the read fails with KV_CORRUPT without the process
** growing by more than the block's recorded size.
*/
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

#define NKEY     40
#define NBATCH   80
#define NFLUSHED 60


/* aState[j][k]: value number of key k after batch j (-1 absent). The value
** of number v is valueText(v). */
static int aState[NBATCH+1][NKEY];

static void keyText(int k, char *z){ sprintf(z, "key%02d", k); }
static size_t valueText(int v, char *z){
  size_t n = (size_t)sprintf(z, "v%d-", v);
  size_t nPad = (size_t)((v*37)%150);
  memset(z+n, 'a' + v%26, nPad);
  return n + nPad;
}

static void buildModel(void){
  int i, k;
  for(k=0; k<NKEY; k++) aState[0][k] = -1;
  for(i=1; i<=NBATCH; i++){
    memcpy(aState[i], aState[i-1], sizeof(aState[i]));
    aState[i][(i*7)%NKEY] = i*2;
    aState[i][(i*7+1)%NKEY] = i*2+1;
    if( i%4==0 ) aState[i][(i*11)%NKEY] = -1;
  }
}

static void writeStore(const char *zDir){
  kv_options *o = tuOptions("background=off", "compression=zlib",
                            "block_size=512", "summary_interval=2", NULL);
  kv_db *db;
  int i;
  db = tuOpen(zDir, o);
  for(i=1; i<=NBATCH; i++){
    kv_batch *b = kv_batch_new();
    char zKey[16], zVal[256];
    size_t n;
    keyText((i*7)%NKEY, zKey);
    n = valueText(i*2, zVal);
    kv_batch_put(b, zKey, strlen(zKey), zVal, n);
    keyText((i*7+1)%NKEY, zKey);
    n = valueText(i*2+1, zVal);
    kv_batch_put(b, zKey, strlen(zKey), zVal, n);
    if( i%4==0 ){
      keyText((i*11)%NKEY, zKey);
      kv_batch_delete(b, zKey, strlen(zKey));
    }
    assert_int_equal(kv_write(db, b), KV_OK);
    kv_batch_free(b);
    if( i==NFLUSHED/2 || i==NFLUSHED ) assert_int_equal(kv_flush(db), KV_OK);
  }
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
}

/* The pristine store, in memory. */
typedef struct File File;
struct File {
  char zName[256];
  u8 *a;
  size_t n;
};
static File aFile[32];
static int nFile = 0;

static void loadFiles(const char *zDir){
  DIR *d = opendir(zDir);
  struct dirent *e;
  assert_non_null(d);
  nFile = 0;
  while( (e = readdir(d))!=0 ){
    char zPath[1200];
    FILE *f;
    struct stat st;
    if( e->d_name[0]=='.' ) continue;
    assert_true(nFile<32);
    snprintf(zPath, sizeof(zPath), "%s/%s", zDir, e->d_name);
    assert_int_equal(stat(zPath, &st), 0);
    snprintf(aFile[nFile].zName, sizeof(aFile[nFile].zName), "%s",
             e->d_name);
    aFile[nFile].n = (size_t)st.st_size;
    aFile[nFile].a = malloc(aFile[nFile].n + 1);
    f = fopen(zPath, "rb");
    assert_non_null(f);
    assert_int_equal(fread(aFile[nFile].a, 1, aFile[nFile].n, f),
                     aFile[nFile].n);
    fclose(f);
    nFile++;
  }
  closedir(d);
}

static void freeFiles(void){
  int i;
  for(i=0; i<nFile; i++) free(aFile[i].a);
  nFile = 0;
}

/* Make zDir hold the pristine files, file iFile with bit iBit of byte
** iOff flipped. */
static void restore(const char *zDir, int iFile, size_t iOff, int iBit){
  DIR *d = opendir(zDir);
  struct dirent *e;
  int i;
  assert_non_null(d);
  while( (e = readdir(d))!=0 ){
    char zPath[1200];
    if( e->d_name[0]=='.' ) continue;
    snprintf(zPath, sizeof(zPath), "%s/%s", zDir, e->d_name);
    unlink(zPath);
  }
  closedir(d);
  for(i=0; i<nFile; i++){
    char zPath[1200];
    FILE *f;
    snprintf(zPath, sizeof(zPath), "%.900s/%.255s", zDir, aFile[i].zName);
    f = fopen(zPath, "wb");
    assert_non_null(f);
    if( i==iFile ) aFile[i].a[iOff] ^= (u8)(1<<iBit);
    assert_int_equal(fwrite(aFile[i].a, 1, aFile[i].n, f), aFile[i].n);
    if( i==iFile ) aFile[i].a[iOff] ^= (u8)(1<<iBit);
    fclose(f);
  }
}

/* Sweep figures. */
static int nTrial, nOpenFail, nReadCorrupt, nVerifyCaught;

/* Candidate prefixes j (1 = still possible). */
typedef struct Trial Trial;
struct Trial {
  const char *zFile;
  size_t iOff;
  u8 aCand[NBATCH+1];
};

static void observe(Trial *t, int k, int v){
  int j;
  for(j=0; j<=NBATCH; j++) if( aState[j][k]!=v ) t->aCand[j] = 0;
}

static void trialFail(Trial *t, const char *zWhat, const char *zMsg){
  fail_msg("%s byte %zu: %s: %s", t->zFile, t->iOff, zWhat, zMsg);
}

/* Value number of the text z[0..n), or -2 if it is no value at all. */
static int parseValue(const void *p, size_t n){
  char zWant[256];
  int v;
  const char *z = p;
  if( n<3 || z[0]!='v' ) return -2;
  v = atoi(z+1);
  if( v<2 || v>NBATCH*2+1 ) return -2;
  if( valueText(v, zWant)!=n || memcmp(zWant, z, n)!=0 ) return -2;
  return v;
}

static int isReadError(int rc){ return rc==KV_CORRUPT || rc==KV_IOERR; }

static void runTrial(const char *zDir, int iFile, size_t iOff, int bWal,
                     int bSst){
  kv_options *o = tuOptions("background=off", "compression=zlib",
                            "block_size=512", "summary_interval=2", NULL);
  kv_db *db = 0;
  kv_iter *it = 0;
  Trial t;
  int rc, j, k, kNext = 0, nCand = 0;
  char *zReport = 0;

  kvOptionsSetEnv(o, fastPosix());
  memset(&t, 0, sizeof(t));
  t.zFile = aFile[iFile].zName;
  t.iOff = iOff;
  for(j=bWal ? NFLUSHED : NBATCH; j<=NBATCH; j++) t.aCand[j] = 1;
  restore(zDir, iFile, iOff, (int)(iOff%8));
  nTrial++;
  alarm(20);

  rc = kv_open(zDir, o, &db);
  if( rc!=KV_OK ){
    const char *zMsg = kv_errmsg(0);
    nOpenFail++;
    if( rc!=KV_CORRUPT && !(rc==KV_ERROR && strstr(t.zFile, "MANIFEST")==0
                             && strstr(t.zFile, ".sst")==0) ){
      trialFail(&t, "open failed with an unexpected code", zMsg);
    }
    if( strncmp(zMsg, "kvstore: ", 9)!=0 ) trialFail(&t, "message", zMsg);
    if( (strcmp(t.zFile, "CURRENT")==0 || strstr(t.zFile, "MANIFEST"))
     && strstr(zMsg, "CURRENT")==0 && strstr(zMsg, "MANIFEST")==0 ){
      trialFail(&t, "open failure does not name the file", zMsg);
    }
    alarm(0);
    kv_options_free(o);
    return;
  }

  /* Point reads. */
  for(k=0; k<NKEY; k++){
    char zKey[16];
    void *pVal = 0;
    size_t nVal = 0;
    keyText(k, zKey);
    rc = kv_get(db, 0, 0, zKey, strlen(zKey), &pVal, &nVal);
    if( rc==KV_OK ){
      int v = parseValue(pVal, nVal);
      if( v==-2 ) trialFail(&t, "kv_get returned a wrong value", zKey);
      observe(&t, k, v);
      kv_free(pVal);
    }else if( rc==KV_NOTFOUND ){
      observe(&t, k, -1);
    }else if( isReadError(rc) ){
      nReadCorrupt++;
    }else{
      trialFail(&t, "kv_get", kv_errmsg(db));
    }
  }

  /* Iteration: returned keys carry their values, skipped keys are
  ** absent; after an error nothing more is known. */
  rc = kv_iter_new(db, 0, 0, &it);
  if( rc==KV_OK ){
    for(rc=kv_iter_first(it); rc==KV_OK && kv_iter_valid(it);
        rc=kv_iter_next(it)){
      size_t nKey, nVal;
      const char *zKey = kv_iter_key(it, &nKey);
      const void *pVal = kv_iter_value(it, &nVal);
      int kThis, v;
      if( nKey!=5 || memcmp(zKey, "key", 3)!=0 ){
        trialFail(&t, "iteration returned a key never written", "");
      }
      kThis = atoi(zKey+3);
      if( kThis<kNext ) trialFail(&t, "iteration out of order", "");
      for(; kNext<kThis; kNext++) observe(&t, kNext, -1);
      v = parseValue(pVal, nVal);
      if( v==-2 ) trialFail(&t, "iteration returned a wrong value", zKey);
      observe(&t, kThis, v);
      kNext = kThis + 1;
    }
    if( rc==KV_OK ) for(; kNext<NKEY; kNext++) observe(&t, kNext, -1);
  }
  if( rc!=KV_OK ){
    if( !isReadError(rc) ) trialFail(&t, "iteration", kv_errmsg(db));
    nReadCorrupt++;
  }
  kv_iter_free(it);
  for(j=0; j<=NBATCH; j++) nCand += t.aCand[j];
  if( nCand==0 ){
    trialFail(&t, "reads match no prefix of the history", "wrong values");
  }

  rc = kv_verify(db, &zReport);
  if( rc==KV_OK ){
    if( strcmp(zReport, "ok")!=0 ) nVerifyCaught++;
    else if( bSst ) trialFail(&t, "kv_verify missed a damaged table", "ok");
    kv_free(zReport);
  }else if( !isReadError(rc) ){
    trialFail(&t, "kv_verify", kv_errmsg(db));
  }
  kv_close(db);
  alarm(0);
  kv_options_free(o);
}

static void test_corruption_sweep(void **s){
  char zSrc[256], zDir[256];
  int i;
  int nStep = stressLevel()>0 ? 1 : 3;
  int nByte = 0;
  struct timespec t0, t1;
  (void)s;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  buildModel();
  tuTempDir(zSrc, sizeof(zSrc), "corrupt-src");
  tuTempDir(zDir, sizeof(zDir), "corrupt");
  writeStore(zSrc);
  loadFiles(zSrc);
  nTrial = nOpenFail = nReadCorrupt = nVerifyCaught = 0;
  for(i=0; i<nFile; i++){
    const char *z = aFile[i].zName;
    int bWal = strncmp(z, "wal-", 4)==0;
    int bSst = strstr(z, ".sst")!=0;
    size_t nData = 0, iOff;
    int nThis = 0;
    if( strcmp(z, "LOCK")==0 ) continue;
    if( bSst ){
      assert_true(aFile[i].n>80);
      nData = (size_t)kvGet64(aFile[i].a + aFile[i].n - 80);
      assert_true(nData<aFile[i].n);
    }
    for(iOff=0; iOff<aFile[i].n; iOff++){
      int bData = iOff<nData;
      if( bData ? iOff%(size_t)(7*nStep)!=0 : iOff%(size_t)nStep!=0 ){
        continue;
      }
      runTrial(zDir, i, iOff, bWal, bSst);
      nThis++;
    }
    nByte += nThis;
    print_message("%-16s %6zu bytes, %5d corrupted\n", z, aFile[i].n, nThis);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  print_message("%d bytes corrupted: %d opens refused, %d reads failed "
                "with KV_CORRUPT, %d damages named by kv_verify; %.1fs\n",
                nByte, nOpenFail, nReadCorrupt, nVerifyCaught,
                (double)(t1.tv_sec - t0.tv_sec)
                + (double)(t1.tv_nsec - t0.tv_nsec)/1e9);
  freeFiles();
  tuRemoveDir(zSrc);
  tuRemoveDir(zDir);
}

static long maxRssKb(void){
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

static void test_zlib_bomb(void **s){
  char zDir[256], zPath[1200];
  kv_options *o = tuOptions("background=off", "compression=zlib", NULL);
  kv_db *db;
  u8 *aVal, *aFileBuf, *aBomb, *aZeros;
  size_t nVal = 512*1024, nFileBuf, nData, nPay;
  uLongf nBomb;
  FILE *f;
  void *pOut = 0;
  size_t nOut = 0;
  long nRss0;
  u32 x = 1;
  size_t i;
  int rc;
  (void)s;

  /* One incompressible value: one raw data block of about 512 KB. */
  tuTempDir(zDir, sizeof(zDir), "bomb");
  aVal = malloc(nVal);
  for(i=0; i<nVal; i++){ x = x*1103515245u + 12345u; aVal[i] = (u8)(x>>16); }
  db = tuOpen(zDir, o);
  assert_int_equal(kv_put(db, "bomb", 4, aVal, nVal), KV_OK);
  assert_int_equal(kv_flush(db), KV_OK);
  assert_int_equal(kv_close(db), KV_OK);

  /* Replace its payload with zlib of 256 MB of zeros, padded with zero
  ** bytes to the same length, mark it compressed and fix its checksum. */
  snprintf(zPath, sizeof(zPath), "%s/%s", zDir, "000003.sst");
  {
    DIR *d = opendir(zDir);
    struct dirent *e;
    while( (e = readdir(d))!=0 ){
      if( strstr(e->d_name, ".sst") ){
        snprintf(zPath, sizeof(zPath), "%s/%s", zDir, e->d_name);
      }
    }
    closedir(d);
  }
  f = fopen(zPath, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  nFileBuf = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  aFileBuf = malloc(nFileBuf);
  assert_int_equal(fread(aFileBuf, 1, nFileBuf, f), nFileBuf);
  fclose(f);
  nData = (size_t)kvGet64(aFileBuf + nFileBuf - 80);
  nPay = nData - 5;
  aZeros = calloc(256u<<20, 1);
  aBomb = malloc(compressBound(256u<<20));
  {
    /* A raw deflate stream, as the SSTable format stores blocks. */
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, -15, 9,
                                  Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = aZeros;
    z.avail_in = 256u<<20;
    z.next_out = aBomb;
    z.avail_out = (uInt)compressBound(256u<<20);
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    nBomb = z.total_out;
    deflateEnd(&z);
  }
  free(aZeros);
  assert_true(nBomb<=nPay);
  memset(aFileBuf, 0, nPay);
  memcpy(aFileBuf, aBomb, nBomb);
  aFileBuf[nPay] = 1;
  kvPut32(aFileBuf + nPay + 1, kvCrc32(aFileBuf, nPay + 1));
  free(aBomb);
  f = fopen(zPath, "wb");
  assert_int_equal(fwrite(aFileBuf, 1, nFileBuf, f), nFileBuf);
  fclose(f);
  free(aFileBuf);

  nRss0 = maxRssKb();
  db = tuOpen(zDir, o);
  rc = kv_get(db, 0, 0, "bomb", 4, &pOut, &nOut);
  assert_int_equal(rc, KV_CORRUPT);
  assert_non_null(strstr(kv_errmsg(db), ".sst"));
  /* The inflated size is capped by the size the index records. */
  assert_true(maxRssKb() - nRss0 < 64*1024);
  kv_close(db);
  kv_options_free(o);
  free(aVal);
  tuRemoveDir(zDir);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_corruption_sweep),
    cmocka_unit_test(test_zlib_bomb),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
