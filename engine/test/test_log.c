/*
** test_log.c - unit tests of log.c: record framing, torn and garbage tails,
** corruption in the middle of a log, and the writer's behaviour after a
** failed append or sync (through a small fault-injecting env over POSIX).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>

#include "testutil.h"
#include "log_format.h"


/* ------------------------------------------------------------------------ */
/* Temporary directory.                                                     */

typedef struct Fixture Fixture;
struct Fixture {
  char zDir[64];
  char zPath[128];                /* zDir/test.log */
  char zCopy[128];                /* zDir/copy.log */
};

static int setupDir(void **state){
  Fixture *f = calloc(1, sizeof(*f));
  if( f==0 ) return -1;
  tuTempDir(f->zDir, sizeof(f->zDir), "log");
  snprintf(f->zPath, sizeof(f->zPath), "%s/test.log", f->zDir);
  snprintf(f->zCopy, sizeof(f->zCopy), "%s/copy.log", f->zDir);
  *state = f;
  return 0;
}

static int teardownDir(void **state){
  Fixture *f = *state;
  tuRemoveDir(f->zDir);
  free(f);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Deterministic record contents.                                           */

static u32 gSeed;
static u32 rnd(void){
  gSeed = gSeed*1103515245u + 12345u;
  return gSeed>>8;
}

#define NREC 12
static const size_t aSize[NREC] = {
  0, 1, 12, 13, 14, 100, 4000, 255, 0, 70000, 777, 3001
};

/* Payload of record i: size aSize[i], bytes derived from i. */
static void makePayload(int i, u8 *a){
  size_t k;
  for(k=0; k<aSize[i]; k++) a[k] = (u8)(i*31 + k*7 + (k>>8));
}

/* Write the NREC records to zPath; return offsets of each record start in
** aOff[0..NREC] (aOff[NREC] = file size). */
static void writeRecords(const char *zPath, u64 *aOff){
  KvLogWriter *pW = 0;
  u8 *a = malloc(70000);
  int i;
  assert_non_null(a);
  assert_int_equal(kvLogWriterOpen(kvEnvPosix(), zPath, &pW), KV_OK);
  for(i=0; i<NREC; i++){
    u64 nBefore = kvLogSize(pW);
    if( aOff ) aOff[i] = nBefore;
    makePayload(i, a);
    assert_int_equal(kvLogAppend(pW, a, aSize[i]), KV_OK);
    assert_int_equal(kvLogSize(pW), nBefore + KV_LOG_HEADER + aSize[i]);
  }
  if( aOff ) aOff[NREC] = kvLogSize(pW);
  assert_int_equal(kvLogSync(pW), KV_OK);
  assert_int_equal(kvLogWriterClose(pW), KV_OK);
  free(a);
}

/*
** Read zPath; check that the records returned are exactly the first ones
** written. Returns the reader's result code; *pnRec, *pbTorn, *piGood
** receive what was read.
*/
static int readAndCheck(const char *zPath, int *pnRec, int *pbTorn,
                        u64 *piGood){
  KvLogReader *pR = 0;
  u8 *aExp = malloc(70000);
  int n = 0;
  int rc;
  assert_non_null(aExp);
  rc = kvLogReaderOpen(kvEnvPosix(), zPath, &pR);
  assert_int_equal(rc, KV_OK);
  for(;;){
    const u8 *p;
    size_t nP;
    rc = kvLogRead(pR, &p, &nP);
    if( rc!=KV_OK || p==0 ) break;
    assert_true(n<NREC);
    makePayload(n, aExp);
    assert_int_equal(nP, aSize[n]);
    if( nP ) assert_memory_equal(p, aExp, nP);
    n++;
  }
  *pnRec = n;
  *pbTorn = kvLogReaderTorn(pR);
  *piGood = kvLogReaderGoodOffset(pR);
  kvLogReaderClose(pR);
  free(aExp);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Fault-injecting env: wraps kvEnvPosix() and fails chosen operations.     */

typedef struct FakeEnv FakeEnv;
struct FakeEnv {
  KvEnv base;                     /* must be first: files point at it */
  int bFailAppend;                /* fail the next append... */
  size_t nPartial;                /* ...after writing this many bytes */
  int bFailTruncate;              /* every truncate fails */
  int bFailSync;                  /* the next sync fails */
  int bFailClose;                 /* every close reports failure */
  int nSync;                      /* syncs attempted */
  int nAppend;                    /* appends attempted */
};

static int fakeAppend(KvFile *pFile, const void *p, size_t n){
  FakeEnv *pFake = (FakeEnv*)pFile->pEnv;
  pFake->nAppend++;
  if( pFake->bFailAppend ){
    size_t nPart = pFake->nPartial<n ? pFake->nPartial : n;
    pFake->bFailAppend = 0;
    if( nPart>0 ) kvEnvPosix()->xAppend(pFile, p, nPart);
    return kvErr(KV_FULL, "kvstore: write failed on 'fake': injected");
  }
  return kvEnvPosix()->xAppend(pFile, p, n);
}

static int fakeTruncate(KvFile *pFile, u64 n){
  FakeEnv *pFake = (FakeEnv*)pFile->pEnv;
  if( pFake->bFailTruncate ){
    return kvErr(KV_IOERR, "kvstore: truncate failed on 'fake': injected");
  }
  return kvEnvPosix()->xTruncate(pFile, n);
}

static int fakeSync(KvFile *pFile){
  FakeEnv *pFake = (FakeEnv*)pFile->pEnv;
  pFake->nSync++;
  if( pFake->bFailSync ){
    pFake->bFailSync = 0;
    return kvErr(KV_IOERR, "kvstore: fsync failed on 'fake': injected");
  }
  return kvEnvPosix()->xSync(pFile);
}

static int fakeClose(KvFile *pFile){
  FakeEnv *pFake = (FakeEnv*)pFile->pEnv;
  int rc = kvEnvPosix()->xClose(pFile);
  if( rc==KV_OK && pFake->bFailClose ){
    rc = kvErr(KV_IOERR, "kvstore: close failed on 'fake': injected");
  }
  return rc;
}

static void fakeInit(FakeEnv *p){
  memset(p, 0, sizeof(*p));
  p->base = *kvEnvPosix();
  p->base.zName = "fake";
  p->base.xAppend = fakeAppend;
  p->base.xTruncate = fakeTruncate;
  p->base.xSync = fakeSync;
  p->base.xClose = fakeClose;
}

/* ------------------------------------------------------------------------ */
/* Tests.                                                                   */

static void test_roundtrip(void **state){
  Fixture *f = *state;
  u64 aOff[NREC+1];
  int nRec, bTorn;
  u64 iGood;
  writeRecords(f->zPath, aOff);
  assert_int_equal(readAndCheck(f->zPath, &nRec, &bTorn, &iGood), KV_OK);
  assert_int_equal(nRec, NREC);
  assert_int_equal(bTorn, 0);
  assert_int_equal(iGood, aOff[NREC]);
}

static void test_empty_file(void **state){
  Fixture *f = *state;
  KvLogWriter *pW = 0;
  int nRec, bTorn;
  u64 iGood;
  assert_int_equal(kvLogWriterOpen(kvEnvPosix(), f->zPath, &pW), KV_OK);
  assert_int_equal(kvLogSize(pW), 0);
  assert_int_equal(kvLogWriterClose(pW), KV_OK);
  assert_int_equal(readAndCheck(f->zPath, &nRec, &bTorn, &iGood), KV_OK);
  assert_int_equal(nRec, 0);
  assert_int_equal(bTorn, 0);
  assert_int_equal(iGood, 0);
  /* A missing file is an error of the open, naming it. */
  {
    KvLogReader *pR = 0;
    char z[200];
    snprintf(z, sizeof(z), "%s/missing.log", f->zDir);
    assert_int_not_equal(kvLogReaderOpen(kvEnvPosix(), z, &pR), KV_OK);
    assert_null(pR);
    assert_non_null(strstr(kvErrMsg(), "missing.log"));
  }
}

/* Opening a writer on an existing file starts it empty. */
static void test_writer_truncates_existing(void **state){
  Fixture *f = *state;
  KvLogWriter *pW = 0;
  int nRec, bTorn;
  u64 iGood;
  u8 a[100];
  writeRecords(f->zPath, 0);
  assert_int_equal(kvLogWriterOpen(kvEnvPosix(), f->zPath, &pW), KV_OK);
  makePayload(0, a);
  assert_int_equal(kvLogAppend(pW, a, aSize[0]), KV_OK);
  assert_int_equal(kvLogWriterClose(pW), KV_OK);
  assert_int_equal(readAndCheck(f->zPath, &nRec, &bTorn, &iGood), KV_OK);
  assert_int_equal(nRec, 1);
  assert_int_equal(bTorn, 0);
}

/* Cut the file at every byte offset inside the last record. */
static void test_torn_tail_every_offset(void **state){
  Fixture *f = *state;
  u64 aOff[NREC+1];
  size_t nFile, L;
  u8 *aFile;
  writeRecords(f->zPath, aOff);
  aFile = tuReadFile(f->zPath, &nFile);
  assert_int_equal(nFile, aOff[NREC]);
  for(L=aOff[NREC-1]; L<=nFile; L++){
    int nRec, bTorn;
    u64 iGood;
    tuWriteFile(f->zCopy, aFile, L);
    assert_int_equal(readAndCheck(f->zCopy, &nRec, &bTorn, &iGood), KV_OK);
    if( L==nFile ){
      assert_int_equal(nRec, NREC);
      assert_int_equal(bTorn, 0);
      assert_int_equal(iGood, nFile);
    }else{
      assert_int_equal(nRec, NREC-1);
      assert_int_equal(bTorn, L!=aOff[NREC-1]);
      assert_int_equal(iGood, aOff[NREC-1]);
    }
  }
  free(aFile);
}

/* Cut inside an early record: everything after it is gone too, so the
** tail is torn and only the records before it come back. */
static void test_torn_early(void **state){
  Fixture *f = *state;
  u64 aOff[NREC+1];
  size_t nFile;
  u8 *aFile;
  int nRec, bTorn;
  u64 iGood;
  writeRecords(f->zPath, aOff);
  aFile = tuReadFile(f->zPath, &nFile);
  tuWriteFile(f->zCopy, aFile, aOff[5] + 20);
  assert_int_equal(readAndCheck(f->zCopy, &nRec, &bTorn, &iGood), KV_OK);
  assert_int_equal(nRec, 5);
  assert_int_equal(bTorn, 1);
  assert_int_equal(iGood, aOff[5]);
  free(aFile);
}

static void test_zero_tail(void **state){
  Fixture *f = *state;
  u64 aOff[NREC+1];
  size_t nFile, nZero;
  u8 *aFile;
  static const size_t aZero[] = { 1, 5, 12, 13, 14, 30, 4096, 100000 };
  size_t i;
  writeRecords(f->zPath, aOff);
  aFile = tuReadFile(f->zPath, &nFile);
  aFile = realloc(aFile, nFile + 100000);
  assert_non_null(aFile);
  for(i=0; i<sizeof(aZero)/sizeof(aZero[0]); i++){
    int nRec, bTorn;
    u64 iGood;
    nZero = aZero[i];
    memset(aFile + nFile, 0, nZero);
    tuWriteFile(f->zCopy, aFile, nFile + nZero);
    assert_int_equal(readAndCheck(f->zCopy, &nRec, &bTorn, &iGood), KV_OK);
    assert_int_equal(nRec, NREC);
    assert_int_equal(bTorn, 1);
    assert_int_equal(iGood, nFile);
  }
  /* A file holding nothing but zeros. */
  {
    int nRec, bTorn;
    u64 iGood;
    memset(aFile, 0, 5000);
    tuWriteFile(f->zCopy, aFile, 5000);
    assert_int_equal(readAndCheck(f->zCopy, &nRec, &bTorn, &iGood), KV_OK);
    assert_int_equal(nRec, 0);
    assert_int_equal(bTorn, 1);
    assert_int_equal(iGood, 0);
  }
  free(aFile);
}

/*
** A process killed while writing: the posix env writes log records
** through a mapping of a file allocated ahead, so the file it leaves has
** every appended record, then zeros up to the allocation step. The reader
** returns all the records and calls the rest a torn tail.
*/
static void test_killed_writer(void **state){
  Fixture *f = *state;
  int nRec, bTorn, status = 0;
  u64 iGood;
  size_t nFile;
  u8 *aFile;
  pid_t pid = fork();
  assert_true(pid>=0);
  if( pid==0 ){
    KvLogWriter *pW = 0;
    u8 *a = malloc(70000);
    int i;
    if( a==0 || kvLogWriterOpen(kvEnvPosix(), f->zPath, &pW)!=KV_OK ){
      _exit(2);
    }
    for(i=0; i<NREC; i++){
      makePayload(i, a);
      if( kvLogAppend(pW, a, aSize[i])!=KV_OK ) _exit(3);
    }
    kill(getpid(), SIGKILL);
    _exit(4);
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status)==SIGKILL);
  aFile = tuReadFile(f->zPath, &nFile);
  free(aFile);
  assert_int_equal(readAndCheck(f->zPath, &nRec, &bTorn, &iGood), KV_OK);
  assert_int_equal(nRec, NREC);
  assert_true(iGood<=nFile);
  assert_int_equal(bTorn, iGood<nFile);
  assert_true(bTorn);                   /* the posix env allocates ahead */
}

static void test_garbage_tail(void **state){
  Fixture *f = *state;
  u64 aOff[NREC+1];
  size_t nFile, k;
  u8 *aFile;
  int iTry;
  writeRecords(f->zPath, aOff);
  aFile = tuReadFile(f->zPath, &nFile);
  aFile = realloc(aFile, nFile + 20000);
  assert_non_null(aFile);
  gSeed = 42;
  for(iTry=0; iTry<20; iTry++){
    int nRec, bTorn;
    u64 iGood;
    size_t nGarbage = 1 + rnd()%20000;
    for(k=0; k<nGarbage; k++) aFile[nFile+k] = (u8)rnd();
    /* Half the time, start with the magic byte so the header check is what
    ** rejects it. */
    if( iTry&1 ) aFile[nFile] = KV_LOG_MAGIC;
    tuWriteFile(f->zCopy, aFile, nFile + nGarbage);
    assert_int_equal(readAndCheck(f->zCopy, &nRec, &bTorn, &iGood), KV_OK);
    assert_int_equal(nRec, NREC);
    assert_int_equal(bTorn, 1);
    assert_int_equal(iGood, nFile);
  }
  free(aFile);
}

/* Flip each byte of a record in the middle, header included. */
static void test_corrupt_middle_every_byte(void **state){
  Fixture *f = *state;
  u64 aOff[NREC+1];
  size_t nFile, k;
  u8 *aFile;
  const int iBad = 7;             /* 255-byte payload, valid records after */
  char zExp[256];
  writeRecords(f->zPath, aOff);
  aFile = tuReadFile(f->zPath, &nFile);
  snprintf(zExp, sizeof(zExp), "kvstore: corrupt record in '%s' at offset %llu",
           f->zCopy, (unsigned long long)aOff[iBad]);
  for(k=aOff[iBad]; k<aOff[iBad+1]; k++){
    static const u8 aMask[] = { 0x01, 0x80, 0xff };
    size_t m;
    for(m=0; m<sizeof(aMask); m++){
      int nRec, bTorn;
      u64 iGood;
      aFile[k] ^= aMask[m];
      tuWriteFile(f->zCopy, aFile, nFile);
      assert_int_equal(readAndCheck(f->zCopy, &nRec, &bTorn, &iGood),
                       KV_CORRUPT);
      assert_string_equal(kvErrMsg(), zExp);
      assert_int_equal(nRec, iBad);
      assert_int_equal(bTorn, 0);
      aFile[k] ^= aMask[m];
    }
  }
  free(aFile);
}

/* After KV_CORRUPT, further reads keep failing instead of resuming. */
static void test_corrupt_is_sticky(void **state){
  Fixture *f = *state;
  u64 aOff[NREC+1];
  size_t nFile;
  u8 *aFile;
  KvLogReader *pR = 0;
  const u8 *p;
  size_t n;
  int i;
  writeRecords(f->zPath, aOff);
  aFile = tuReadFile(f->zPath, &nFile);
  aFile[aOff[2] + 3] ^= 0x10;
  tuWriteFile(f->zCopy, aFile, nFile);
  assert_int_equal(kvLogReaderOpen(kvEnvPosix(), f->zCopy, &pR), KV_OK);
  for(i=0; i<2; i++){
    assert_int_equal(kvLogRead(pR, &p, &n), KV_OK);
    assert_non_null(p);
  }
  assert_int_equal(kvLogRead(pR, &p, &n), KV_CORRUPT);
  assert_null(p);
  assert_int_equal(kvLogRead(pR, &p, &n), KV_CORRUPT);
  assert_null(p);
  assert_non_null(strstr(kvErrMsg(), "copy.log"));
  assert_int_equal(kvLogReaderGoodOffset(pR), aOff[2]);
  kvLogReaderClose(pR);
  free(aFile);
}

/* A header that passes its CRC but announces an absurd length is refused;
** followed by a valid record it is corruption, alone it is a torn tail. */
static void test_absurd_length(void **state){
  Fixture *f = *state;
  u8 aBad[KV_LOG_HEADER];
  size_t nFile;
  u8 *aFile, *aAll;
  int nRec, bTorn;
  u64 iGood;
  aBad[0] = KV_LOG_MAGIC;
  kvPut32(aBad+1, 0x80000000u);
  kvPut32(aBad+5, 0);
  kvPut32(aBad+9, kvCrc32(aBad, 9));
  writeRecords(f->zPath, 0);
  aFile = tuReadFile(f->zPath, &nFile);
  aAll = malloc(nFile + KV_LOG_HEADER);
  assert_non_null(aAll);
  memcpy(aAll, aBad, KV_LOG_HEADER);
  memcpy(aAll + KV_LOG_HEADER, aFile, nFile);
  tuWriteFile(f->zCopy, aAll, nFile + KV_LOG_HEADER);
  assert_int_equal(readAndCheck(f->zCopy, &nRec, &bTorn, &iGood), KV_CORRUPT);
  assert_int_equal(nRec, 0);
  memcpy(aAll, aFile, nFile);
  memcpy(aAll + nFile, aBad, KV_LOG_HEADER);
  tuWriteFile(f->zCopy, aAll, nFile + KV_LOG_HEADER);
  assert_int_equal(readAndCheck(f->zCopy, &nRec, &bTorn, &iGood), KV_OK);
  assert_int_equal(nRec, NREC);
  assert_int_equal(bTorn, 1);
  free(aAll);
  free(aFile);
}

/* A partial write is truncated away; later appends succeed and the file
** reads back cleanly without the failed record. */
static void test_append_failure_truncates(void **state){
  Fixture *f = *state;
  FakeEnv fake;
  KvLogWriter *pW = 0;
  u8 *a = malloc(70000);
  int i, nRec, bTorn;
  u64 iGood, nBefore;
  static const size_t aPart[] = { 0, 1, 5, 13, 20, 200 };
  size_t j;
  assert_non_null(a);
  fakeInit(&fake);
  assert_int_equal(kvLogWriterOpen(&fake.base, f->zPath, &pW), KV_OK);
  /* Records 0..NREC-1 are written; before each record i>0, a failing
  ** append of garbage with a partial write of some length. */
  for(i=0; i<NREC; i++){
    if( i>0 ){
      j = (size_t)i % (sizeof(aPart)/sizeof(aPart[0]));
      memset(a, 0xA1, 300);
      nBefore = kvLogSize(pW);
      fake.bFailAppend = 1;
      fake.nPartial = aPart[j];
      assert_int_equal(kvLogAppend(pW, a, 300), KV_FULL);
      assert_non_null(strstr(kvErrMsg(), "injected"));
      assert_int_equal(kvLogSize(pW), nBefore);
    }
    makePayload(i, a);
    assert_int_equal(kvLogAppend(pW, a, aSize[i]), KV_OK);
  }
  assert_int_equal(kvLogSync(pW), KV_OK);
  assert_int_equal(kvLogWriterClose(pW), KV_OK);
  assert_int_equal(readAndCheck(f->zPath, &nRec, &bTorn, &iGood), KV_OK);
  assert_int_equal(nRec, NREC);
  assert_int_equal(bTorn, 0);
  free(a);
}

/* When the truncation fails too, the writer refuses every later append,
** its close reports it, and a reader sees the good prefix and a torn tail. */
static void test_append_failure_untruncatable(void **state){
  Fixture *f = *state;
  FakeEnv fake;
  KvLogWriter *pW = 0;
  u8 a[300];
  int i, nRec, bTorn, nAppend;
  u64 iGood, nGood;
  fakeInit(&fake);
  assert_int_equal(kvLogWriterOpen(&fake.base, f->zPath, &pW), KV_OK);
  for(i=0; i<3; i++){
    makePayload(i, a);
    assert_int_equal(kvLogAppend(pW, a, aSize[i]), KV_OK);
  }
  nGood = kvLogSize(pW);
  fake.bFailAppend = 1;
  fake.nPartial = 50;
  fake.bFailTruncate = 1;
  memset(a, 0x33, sizeof(a));
  assert_int_equal(kvLogAppend(pW, a, 200), KV_FULL);
  assert_non_null(strstr(kvErrMsg(), "refuses further appends"));
  nAppend = fake.nAppend;
  makePayload(3, a);
  assert_int_equal(kvLogAppend(pW, a, aSize[3]), KV_IOERR);
  assert_non_null(strstr(kvErrMsg(), f->zPath));
  assert_int_equal(fake.nAppend, nAppend);     /* nothing reached the file */
  assert_int_equal(kvLogSize(pW), nGood);
  assert_int_equal(kvLogWriterClose(pW), KV_IOERR);
  assert_int_equal(readAndCheck(f->zPath, &nRec, &bTorn, &iGood), KV_OK);
  assert_int_equal(nRec, 3);
  assert_int_equal(bTorn, 1);
  assert_int_equal(iGood, nGood);
}

/* A failed sync is never retried; every later append and sync fails with
** KV_READONLY naming the file. */
static void test_sync_failure_sticky(void **state){
  Fixture *f = *state;
  FakeEnv fake;
  KvLogWriter *pW = 0;
  u8 a[16];
  int nSync, nAppend;
  char zExp[300];
  fakeInit(&fake);
  memset(a, 7, sizeof(a));
  assert_int_equal(kvLogWriterOpen(&fake.base, f->zPath, &pW), KV_OK);
  assert_int_equal(kvLogAppend(pW, a, sizeof(a)), KV_OK);
  assert_int_equal(kvLogSync(pW), KV_OK);
  assert_int_equal(kvLogAppend(pW, a, sizeof(a)), KV_OK);
  fake.bFailSync = 1;
  assert_int_equal(kvLogSync(pW), KV_IOERR);
  assert_non_null(strstr(kvErrMsg(), "read-only"));
  nSync = fake.nSync;
  nAppend = fake.nAppend;
  snprintf(zExp, sizeof(zExp),
           "kvstore: log '%s' is read-only after a failed fsync", f->zPath);
  assert_int_equal(kvLogAppend(pW, a, sizeof(a)), KV_READONLY);
  assert_string_equal(kvErrMsg(), zExp);
  assert_int_equal(kvLogSync(pW), KV_READONLY);
  assert_string_equal(kvErrMsg(), zExp);
  assert_int_equal(kvLogAppend(pW, a, 0), KV_READONLY);
  assert_int_equal(fake.nSync, nSync);         /* never retried */
  assert_int_equal(fake.nAppend, nAppend);
  assert_int_equal(kvLogWriterClose(pW), KV_READONLY);
}

static void test_close_failure_reported(void **state){
  Fixture *f = *state;
  FakeEnv fake;
  KvLogWriter *pW = 0;
  fakeInit(&fake);
  assert_int_equal(kvLogWriterOpen(&fake.base, f->zPath, &pW), KV_OK);
  assert_int_equal(kvLogAppend(pW, "abc", 3), KV_OK);
  fake.bFailClose = 1;
  assert_int_equal(kvLogWriterClose(pW), KV_IOERR);
  assert_non_null(strstr(kvErrMsg(), "close failed"));
  assert_int_equal(kvLogWriterClose(0), KV_OK);
  kvLogReaderClose(0);
}

/* The record size is exactly header + payload (wal.c relies on it for
** segment size accounting). */
static void test_record_size(void **state){
  Fixture *f = *state;
  KvLogWriter *pW = 0;
  u8 a[1000];
  size_t n;
  u64 nExp = 0;
  memset(a, 0x5a, sizeof(a));
  assert_int_equal(kvLogWriterOpen(kvEnvPosix(), f->zPath, &pW), KV_OK);
  for(n=0; n<sizeof(a); n+=97){
    assert_int_equal(kvLogAppend(pW, a, n), KV_OK);
    nExp += KV_LOG_HEADER + n;
    assert_int_equal(kvLogSize(pW), nExp);
  }
  assert_int_equal(kvLogWriterClose(pW), KV_OK);
  {
    size_t nFile;
    u8 *aFile = tuReadFile(f->zPath, &nFile);
    assert_int_equal(nFile, nExp);
    free(aFile);
  }
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_roundtrip, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_empty_file, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_writer_truncates_existing,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_torn_tail_every_offset,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_torn_early, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_zero_tail, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_garbage_tail, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_killed_writer, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_corrupt_middle_every_byte,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_corrupt_is_sticky,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_absurd_length, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_append_failure_truncates,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_append_failure_untruncatable,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_sync_failure_sticky,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_close_failure_reported,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_record_size, setupDir, teardownDir),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
