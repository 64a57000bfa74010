/*
** test_wal.c - unit tests of wal.c: rotation by size, by record count and
** on demand; replay in order, from a middle segment, across gaps; torn
** tails in the last and in an earlier segment; corruption naming the
** segment; the order of syncs around rotation; sticky failures after a
** failed fsync (through a small fault-injecting env over POSIX).
**
** The batch representation is opaque to the WAL, so records carry dummy
** bytes here.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "log_format.h"

#define MAXREC 200

/* ------------------------------------------------------------------------ */
/* Temporary directory.                                                     */

typedef struct Fixture Fixture;
struct Fixture {
  char zDir[64];
};

static int setupDir(void **state){
  Fixture *f = calloc(1, sizeof(*f));
  if( f==0 ) return -1;
  tuTempDir(f->zDir, sizeof(f->zDir), "wal");
  *state = f;
  return 0;
}

static int teardownDir(void **state){
  Fixture *f = *state;
  tuRemoveDir(f->zDir);
  free(f);
  return 0;
}

static void segPath(const Fixture *f, u64 iSeg, char *z, size_t n){
  snprintf(z, n, "%s/wal-%06llu.log", f->zDir, (unsigned long long)iSeg);
}

static size_t fileSize(const char *zPath){
  size_t n;
  u8 *a = tuReadFile(zPath, &n);
  free(a);
  return n;
}

/* ------------------------------------------------------------------------ */
/* The records: record i has a count, a first sequence following the      */
/* previous record's, and a dummy representation of a size derived from i. */

static u32 recCount(int i){ return (u32)(1 + i%5); }

static u64 recSeq(int i){
  u64 s = 1;
  int k;
  for(k=0; k<i; k++) s += recCount(k);
  return s;
}

static size_t recRep(int i, u8 *a){
  size_t n = (size_t)((i*37)%300) + (i%13==6 ? 2500 : 0);
  size_t k;
  if( a ) for(k=0; k<n; k++) a[k] = (u8)(i + k*13 + (k>>7));
  return n;
}

/* Where each record went while writing. */
typedef struct Written Written;
struct Written {
  int n;
  u64 aSeg[MAXREC];             /* segment of record i */
  u64 aOff[MAXREC];             /* offset of record i in its segment */
};

static void appendRecords(KvWal *pWal, int iFirst, int nRec, Written *pW){
  u8 *a = malloc(4000);
  int i;
  assert_non_null(a);
  for(i=iFirst; i<iFirst+nRec; i++){
    size_t n = recRep(i, a);
    u64 iSegBefore = kvWalSegment(pWal);
    u64 nBefore = kvWalBytes(pWal);
    assert_int_equal(kvWalAppend(pWal, recSeq(i), 1000000 + (u64)i,
                                 recCount(i), a, n, i%10==9), KV_OK);
    pW->aSeg[i] = kvWalSegment(pWal);
    if( pW->aSeg[i]==iSegBefore ){
      pW->aOff[i] = nBefore;
    }else{
      assert_int_equal(pW->aSeg[i], iSegBefore + 1);
      pW->aOff[i] = 0;
    }
    assert_int_equal(kvWalBytes(pWal),
                     pW->aOff[i] + KV_LOG_HEADER + KV_WAL_HEADER + n);
  }
  pW->n = iFirst + nRec;
  free(a);
}

/* Replay collector: checks each record against the expected record
** iBase + (number seen so far). */
typedef struct Replay Replay;
struct Replay {
  int iBase;                    /* index of the first record expected */
  int n;                        /* records seen */
  int nBad;                     /* records that did not match */
  int iFailAt;                  /* return rcFail at this record (-1 never) */
  int rcFail;
};

static int replayCb(void *pCtx, u64 firstSeq, u32 nCount, const u8 *pRep,
                    size_t nRep){
  Replay *r = pCtx;
  int i = r->iBase + r->n;
  u8 aExp[4000];
  size_t nExp = recRep(i, aExp);
  if( r->n==r->iFailAt ){
    return kvErr(r->rcFail, "kvstore: injected callback failure");
  }
  if( firstSeq!=recSeq(i) || nCount!=recCount(i) || nRep!=nExp
   || (nRep>0 && memcmp(pRep, aExp, nRep)!=0) ){
    r->nBad++;
  }
  r->n++;
  return KV_OK;
}

static int replay(const Fixture *f, u64 iFrom, int iBase, Replay *r,
                  KvWalReplayInfo *pInfo){
  memset(r, 0, sizeof(*r));
  r->iBase = iBase;
  r->iFailAt = -1;
  return kvWalReplay(kvEnvPosix(), f->zDir, iFrom, replayCb, r, pInfo);
}

static void expectInfo(const KvWalReplayInfo *pInfo, u64 nRecord, int iLast,
                       u64 iLastSeg){
  assert_int_equal(pInfo->nRecord, nRecord);
  assert_int_equal(pInfo->maxSeq,
                   nRecord ? recSeq(iLast) + recCount(iLast) - 1 : 0);
  assert_int_equal(pInfo->iLastSeg, iLastSeg);
}

/* ------------------------------------------------------------------------ */
/* Fault-injecting env with an event trace.                                 */

typedef struct FakeEnv FakeEnv;
struct FakeEnv {
  KvEnv base;                   /* must be first: files point at it */
  int bFailSync;                /* the next file sync fails */
  int bFailSyncDir;             /* the next directory sync fails */
  int nSync;                    /* file syncs attempted */
  char zTrace[4096];            /* O open, A append, S sync, D dir sync,
                                ** C close */
  int nTrace;
};

static void fakeTrace(FakeEnv *p, char c){
  if( p->nTrace<(int)sizeof(p->zTrace)-1 ){
    p->zTrace[p->nTrace++] = c;
    p->zTrace[p->nTrace] = 0;
  }
}

static int fakeOpen(KvEnv *pEnv, const char *zPath, int flags, KvFile **pp){
  if( flags!=KV_OPEN_READ ) fakeTrace((FakeEnv*)pEnv, 'O');
  return kvEnvPosix()->xOpen(pEnv, zPath, flags, pp);
}

static int fakeAppend(KvFile *pFile, const void *p, size_t n){
  fakeTrace((FakeEnv*)pFile->pEnv, 'A');
  return kvEnvPosix()->xAppend(pFile, p, n);
}

static int fakeSync(KvFile *pFile){
  FakeEnv *pFake = (FakeEnv*)pFile->pEnv;
  fakeTrace(pFake, 'S');
  pFake->nSync++;
  if( pFake->bFailSync ){
    pFake->bFailSync = 0;
    return kvErr(KV_IOERR, "kvstore: fsync failed on 'fake': injected");
  }
  return kvEnvPosix()->xSync(pFile);
}

static int fakeSyncDir(KvEnv *pEnv, const char *zDir){
  FakeEnv *pFake = (FakeEnv*)pEnv;
  fakeTrace(pFake, 'D');
  if( pFake->bFailSyncDir ){
    pFake->bFailSyncDir = 0;
    return kvErr(KV_IOERR, "kvstore: fsync directory failed on '%s': "
                 "injected", zDir);
  }
  return kvEnvPosix()->xSyncDir(pEnv, zDir);
}

static int fakeClose(KvFile *pFile){
  fakeTrace((FakeEnv*)pFile->pEnv, 'C');
  return kvEnvPosix()->xClose(pFile);
}

static void fakeInit(FakeEnv *p){
  memset(p, 0, sizeof(*p));
  p->base = *kvEnvPosix();
  p->base.zName = "fake";
  p->base.xOpen = fakeOpen;
  p->base.xAppend = fakeAppend;
  p->base.xSync = fakeSync;
  p->base.xSyncDir = fakeSyncDir;
  p->base.xClose = fakeClose;
}

/* ------------------------------------------------------------------------ */
/* Tests.                                                                   */

static void test_path_and_empty_dir(void **state){
  Fixture *f = *state;
  KvWalReplayInfo info;
  Replay r;
  char *z = kvWalPath("/x", 42);
  assert_string_equal(z, "/x/wal-000042.log");
  kvFree(z);
  z = kvWalPath("/x", 12345678);
  assert_string_equal(z, "/x/wal-12345678.log");
  kvFree(z);
  assert_int_equal(replay(f, 0, 0, &r, &info), KV_OK);
  assert_int_equal(r.n, 0);
  assert_int_equal(info.nRecord, 0);
  assert_int_equal(info.maxSeq, 0);
  assert_int_equal(info.iLastSeg, 0);
  assert_int_equal(info.bTorn, 0);
}

static void test_rotate_by_size(void **state){
  Fixture *f = *state;
  KvWalConfig cfg = { 1000, 0, KV_SYNC_NORMAL, 0 };
  KvWal *pWal = 0;
  Written w;
  KvWalReplayInfo info;
  Replay r;
  u64 *aSeg = 0;
  int nSeg = 0, i, k;
  const int N = 60;
  assert_int_equal(kvWalOpen(kvEnvPosix(), f->zDir, 1, &cfg, &pWal), KV_OK);
  assert_int_equal(kvWalSegment(pWal), 1);
  assert_int_equal(kvWalBytes(pWal), 0);
  appendRecords(pWal, 0, N, &w);
  assert_int_equal(kvWalClose(pWal), KV_OK);

  /* Segments are 1..last with no gap; each is at most 1000 bytes unless
  ** it holds a single record. */
  assert_int_equal(kvWalList(kvEnvPosix(), f->zDir, &aSeg, &nSeg), KV_OK);
  assert_true(nSeg>5);
  for(k=0; k<nSeg; k++){
    char z[128];
    size_t nFile;
    int nIn = 0;
    assert_int_equal(aSeg[k], (u64)k + 1);
    for(i=0; i<N; i++) nIn += w.aSeg[i]==aSeg[k];
    assert_true(nIn>=1);
    segPath(f, aSeg[k], z, sizeof(z));
    nFile = fileSize(z);
    assert_true(nFile<=1000 || nIn==1);
  }
  /* A record that would not fit went to a new segment (so it was not the
  ** first in its own). */
  for(i=1; i<N; i++){
    if( w.aSeg[i]!=w.aSeg[i-1] ){
      size_t nPrev = w.aOff[i-1] + KV_LOG_HEADER + KV_WAL_HEADER + recRep(i-1, 0);
      assert_true(nPrev + KV_LOG_HEADER + KV_WAL_HEADER + recRep(i, 0) > 1000);
    }
  }
  /* The big records (2500 bytes of representation) sit alone. */
  for(i=0; i<N; i++){
    if( recRep(i, 0)>1000 ){
      assert_int_equal(w.aOff[i], 0);
      assert_true(i==N-1 || w.aSeg[i+1]!=w.aSeg[i]);
    }
  }
  kvFree(aSeg);

  assert_int_equal(replay(f, 0, 0, &r, &info), KV_OK);
  assert_int_equal(r.n, N);
  assert_int_equal(r.nBad, 0);
  expectInfo(&info, N, N-1, w.aSeg[N-1]);
  assert_int_equal(info.bTorn, 0);
}

static void test_rotate_by_count(void **state){
  Fixture *f = *state;
  KvWalConfig cfg = { 0, 3, KV_SYNC_FULL, 0 };
  KvWal *pWal = 0;
  Written w;
  KvWalReplayInfo info;
  Replay r;
  int i;
  const int N = 20;
  assert_int_equal(kvWalOpen(kvEnvPosix(), f->zDir, 7, &cfg, &pWal), KV_OK);
  appendRecords(pWal, 0, N, &w);
  assert_int_equal(kvWalClose(pWal), KV_OK);
  for(i=0; i<N; i++) assert_int_equal(w.aSeg[i], 7 + (u64)(i/3));
  assert_int_equal(replay(f, 0, 0, &r, &info), KV_OK);
  assert_int_equal(r.n, N);
  assert_int_equal(r.nBad, 0);
  expectInfo(&info, N, N-1, 7 + (N-1)/3);

  /* Both limits at once: whichever comes first. */
  {
    Fixture g;
    KvWalConfig cfg2 = { 700, 4, KV_SYNC_OFF, 0 };
    strcpy(g.zDir, f->zDir);
    strcat(g.zDir, "/sub");
    assert_int_equal(mkdir(g.zDir, 0755), 0);
    assert_int_equal(kvWalOpen(kvEnvPosix(), g.zDir, 1, &cfg2, &pWal), KV_OK);
    appendRecords(pWal, 0, N, &w);
    assert_int_equal(kvWalClose(pWal), KV_OK);
    for(i=0; i<N; i++){
      int nSame = 0, k;
      for(k=0; k<N; k++) nSame += w.aSeg[k]==w.aSeg[i];
      assert_true(nSame<=4);
      assert_true(w.aOff[i]==0 ||
                  w.aOff[i] + KV_LOG_HEADER + KV_WAL_HEADER + recRep(i, 0) <= 700);
    }
    assert_int_equal(replay(&g, 0, 0, &r, &info), KV_OK);
    assert_int_equal(r.n, N);
    assert_int_equal(r.nBad, 0);
    tuRemoveDir(g.zDir);
  }
}

static void test_rotate_explicit(void **state){
  Fixture *f = *state;
  KvWalConfig cfg = { 0, 0, KV_SYNC_NORMAL, 0 };
  KvWal *pWal = 0;
  Written w;
  KvWalReplayInfo info;
  Replay r;
  u64 iSeg = 0;
  char z[128];
  assert_int_equal(kvWalOpen(kvEnvPosix(), f->zDir, 1, &cfg, &pWal), KV_OK);
  appendRecords(pWal, 0, 5, &w);
  assert_int_equal(kvWalRotate(pWal, &iSeg), KV_OK);
  assert_int_equal(iSeg, 2);
  assert_int_equal(kvWalSegment(pWal), 2);
  assert_int_equal(kvWalBytes(pWal), 0);
  /* Rotating an empty segment leaves it empty behind. */
  assert_int_equal(kvWalRotate(pWal, &iSeg), KV_OK);
  assert_int_equal(iSeg, 3);
  segPath(f, 2, z, sizeof(z));
  assert_int_equal(fileSize(z), 0);
  appendRecords(pWal, 5, 5, &w);
  assert_int_equal(w.aSeg[9], 3);
  assert_int_equal(kvWalClose(pWal), KV_OK);
  assert_int_equal(replay(f, 0, 0, &r, &info), KV_OK);
  assert_int_equal(r.n, 10);
  assert_int_equal(r.nBad, 0);
  expectInfo(&info, 10, 9, 3);
}

static void test_replay_from_middle(void **state){
  Fixture *f = *state;
  KvWalConfig cfg = { 0, 4, KV_SYNC_NORMAL, 0 };
  KvWal *pWal = 0;
  Written w;
  KvWalReplayInfo info;
  Replay r;
  const int N = 22;               /* segments 1..6 */
  assert_int_equal(kvWalOpen(kvEnvPosix(), f->zDir, 1, &cfg, &pWal), KV_OK);
  appendRecords(pWal, 0, N, &w);
  assert_int_equal(kvWalClose(pWal), KV_OK);
  assert_int_equal(replay(f, 3, 8, &r, &info), KV_OK);
  assert_int_equal(r.n, N-8);
  assert_int_equal(r.nBad, 0);
  expectInfo(&info, N-8, N-1, 6);
  /* Past the last segment: nothing replayed, iLastSeg still reported. */
  assert_int_equal(replay(f, 100, 0, &r, &info), KV_OK);
  assert_int_equal(r.n, 0);
  expectInfo(&info, 0, 0, 6);
}

/* Missing segment numbers are skipped; foreign names are ignored. */
static void test_list_and_gaps(void **state){
  Fixture *f = *state;
  KvWalConfig cfg = { 0, 2, KV_SYNC_NORMAL, 0 };
  KvWal *pWal = 0;
  Written w;
  KvWalReplayInfo info;
  Replay r;
  u64 *aSeg = 0;
  int nSeg = 0;
  char z[200];
  static const char *azForeign[] = {
    "wal-1.log", "wal-0000003.log", "wal-000003.log.tmp", "wal-00000x.log",
    "xwal-000003.log", "wal-000003.LOG", "MANIFEST-000001", "000005.sst",
    "wal-.log", "wal-99999999999999999999.log",
  };
  size_t i;
  assert_int_equal(kvWalOpen(kvEnvPosix(), f->zDir, 1, &cfg, &pWal), KV_OK);
  appendRecords(pWal, 0, 8, &w);   /* segments 1..4, two records each */
  assert_int_equal(kvWalClose(pWal), KV_OK);
  for(i=0; i<sizeof(azForeign)/sizeof(azForeign[0]); i++){
    snprintf(z, sizeof(z), "%s/%s", f->zDir, azForeign[i]);
    tuWriteFile(z, (const u8*)"junk", 4);
  }
  assert_int_equal(kvWalList(kvEnvPosix(), f->zDir, &aSeg, &nSeg), KV_OK);
  assert_int_equal(nSeg, 4);
  for(i=0; i<4; i++) assert_int_equal(aSeg[i], i+1);
  kvFree(aSeg);

  /* Drop segment 1 (flushed): replay starts at record 2. Drop 3 as well:
  ** replay gives records 2,3 then 6,7 (checked by replaying in pieces). */
  segPath(f, 1, z, sizeof(z));
  assert_int_equal(unlink(z), 0);
  assert_int_equal(replay(f, 0, 2, &r, &info), KV_OK);
  assert_int_equal(r.n, 6);
  assert_int_equal(r.nBad, 0);
  segPath(f, 3, z, sizeof(z));
  assert_int_equal(unlink(z), 0);
  assert_int_equal(replay(f, 0, 2, &r, &info), KV_OK);
  assert_int_equal(r.n, 4);
  assert_int_equal(r.nBad, 2);    /* records 4,5 are gone: 6,7 mismatch */
  assert_int_equal(info.nRecord, 4);
  assert_int_equal(info.iLastSeg, 4);
  assert_int_equal(replay(f, 3, 6, &r, &info), KV_OK);
  assert_int_equal(r.n, 2);
  assert_int_equal(r.nBad, 0);
  assert_int_equal(kvWalList(kvEnvPosix(), f->zDir, &aSeg, &nSeg), KV_OK);
  assert_int_equal(nSeg, 2);
  kvFree(aSeg);
}

/* Cut the last segment at every offset of its last record. */
static void test_torn_last_segment(void **state){
  Fixture *f = *state;
  KvWalConfig cfg = { 0, 5, KV_SYNC_NORMAL, 0 };
  KvWal *pWal = 0;
  Written w;
  KvWalReplayInfo info;
  Replay r;
  const int N = 19;               /* record 18: 4th of segment 4 */
  char z[128];
  u8 *aFile;
  size_t nFile, L;
  assert_int_equal(kvWalOpen(kvEnvPosix(), f->zDir, 1, &cfg, &pWal), KV_OK);
  appendRecords(pWal, 0, N, &w);
  assert_int_equal(kvWalClose(pWal), KV_OK);
  assert_int_equal(w.aSeg[N-1], 4);
  segPath(f, 4, z, sizeof(z));
  aFile = tuReadFile(z, &nFile);
  for(L=w.aOff[N-1]; L<=nFile; L++){
    tuWriteFile(z, aFile, L);
    assert_int_equal(replay(f, 0, 0, &r, &info), KV_OK);
    assert_int_equal(r.nBad, 0);
    if( L==nFile ){
      assert_int_equal(r.n, N);
      expectInfo(&info, N, N-1, 4);
      assert_int_equal(info.bTorn, 0);
    }else{
      assert_int_equal(r.n, N-1);
      expectInfo(&info, N-1, N-2, 4);
      assert_int_equal(info.bTorn, L!=w.aOff[N-1]);
      if( info.bTorn ){
        assert_int_equal(info.iTornSeg, 4);
        assert_int_equal(info.iTornOffset, w.aOff[N-1]);
      }
    }
  }
  /* A zero-filled tail is torn too. */
  aFile = realloc(aFile, nFile + 500);
  assert_non_null(aFile);
  memset(aFile + nFile, 0, 500);
  tuWriteFile(z, aFile, nFile + 500);
  assert_int_equal(replay(f, 0, 0, &r, &info), KV_OK);
  assert_int_equal(r.n, N);
  assert_int_equal(info.bTorn, 1);
  assert_int_equal(info.iTornSeg, 4);
  assert_int_equal(info.iTornOffset, nFile);
  free(aFile);
}

/* A torn tail in an earlier segment stops the replay there. */
static void test_torn_earlier_segment(void **state){
  Fixture *f = *state;
  KvWalConfig cfg = { 0, 3, KV_SYNC_NORMAL, 0 };
  KvWal *pWal = 0;
  Written w;
  KvWalReplayInfo info;
  Replay r;
  const int N = 15;               /* segments 1..5 */
  char z[128];
  u8 *aFile;
  size_t nFile;
  assert_int_equal(kvWalOpen(kvEnvPosix(), f->zDir, 1, &cfg, &pWal), KV_OK);
  appendRecords(pWal, 0, N, &w);
  assert_int_equal(kvWalClose(pWal), KV_OK);
  /* Cut segment 2 in the middle of its last record (record 5). */
  assert_int_equal(w.aSeg[5], 2);
  segPath(f, 2, z, sizeof(z));
  aFile = tuReadFile(z, &nFile);
  tuWriteFile(z, aFile, w.aOff[5] + 17);
  assert_int_equal(replay(f, 0, 0, &r, &info), KV_OK);
  assert_int_equal(r.n, 5);
  assert_int_equal(r.nBad, 0);
  expectInfo(&info, 5, 4, 5);
  assert_int_equal(info.bTorn, 1);
  assert_int_equal(info.iTornSeg, 2);
  assert_int_equal(info.iTornOffset, w.aOff[5]);
  free(aFile);
}

/* Issue #17: a segment whose preallocated end survived a power cut (its
** cut to the real length was lost) ends in zeros. That is not a torn
** tail when a later segment exists: replay reads on into it, so no
** acknowledged record of the later segments is skipped. */
static void test_zero_tail_before_later_segment(void **state){
  Fixture *f = *state;
  KvWalConfig cfg = { 0, 3, KV_SYNC_FULL, 0 };
  KvWal *pWal = 0;
  Written w;
  KvWalReplayInfo info;
  Replay r;
  const int N = 15;               /* segments 1..5 */
  char z[128];
  u8 *aFile;
  size_t nFile;
  u64 iSeg;
  assert_int_equal(kvWalOpen(kvEnvPosix(), f->zDir, 1, &cfg, &pWal), KV_OK);
  appendRecords(pWal, 0, N, &w);
  assert_int_equal(kvWalClose(pWal), KV_OK);
  assert_int_equal(w.aSeg[N-1], 5);
  /* Segments 1..4 as the power cut could leave them: 64 KiB of zeros. */
  for(iSeg=1; iSeg<=4; iSeg++){
    segPath(f, iSeg, z, sizeof(z));
    aFile = tuReadFile(z, &nFile);
    aFile = realloc(aFile, nFile + 65536);
    assert_non_null(aFile);
    memset(aFile + nFile, 0, 65536);
    tuWriteFile(z, aFile, nFile + 65536);
    free(aFile);
  }
  assert_int_equal(replay(f, 0, 0, &r, &info), KV_OK);
  assert_int_equal(r.nBad, 0);
  assert_int_equal(r.n, N);
  expectInfo(&info, N, N-1, 5);
  assert_int_equal(info.bTorn, 0);
  assert_int_equal(info.nZeroTail, 4);

  /* Zeros at the end of the last segment are its torn tail, as before. */
  segPath(f, 5, z, sizeof(z));
  aFile = tuReadFile(z, &nFile);
  aFile = realloc(aFile, nFile + 100);
  assert_non_null(aFile);
  memset(aFile + nFile, 0, 100);
  tuWriteFile(z, aFile, nFile + 100);
  free(aFile);
  assert_int_equal(replay(f, 0, 0, &r, &info), KV_OK);
  assert_int_equal(r.n, N);
  assert_int_equal(info.bTorn, 1);
  assert_int_equal(info.iTornSeg, 5);

  /* Anything but zeros after the last record of an earlier segment still
  ** stops the replay there (a torn record, not a preallocation). */
  segPath(f, 2, z, sizeof(z));
  aFile = tuReadFile(z, &nFile);
  aFile[nFile - 1] = KV_LOG_MAGIC;
  tuWriteFile(z, aFile, nFile);
  free(aFile);
  assert_int_equal(replay(f, 0, 0, &r, &info), KV_OK);
  assert_int_equal(r.n, 6);
  assert_int_equal(info.bTorn, 1);
  assert_int_equal(info.iTornSeg, 2);
}

/* Flipping any byte of a record in the middle of a segment is corruption
** naming the segment; nothing after it is replayed. */
static void test_corrupt_middle_record(void **state){
  Fixture *f = *state;
  KvWalConfig cfg = { 0, 5, KV_SYNC_NORMAL, 0 };
  KvWal *pWal = 0;
  Written w;
  KvWalReplayInfo info;
  Replay r;
  const int N = 15;               /* segments 1..3 */
  const int iBad = 7;             /* third record of segment 2 */
  char z[128], zExp[256];
  u8 *aFile;
  size_t nFile, k, kEnd;
  assert_int_equal(kvWalOpen(kvEnvPosix(), f->zDir, 1, &cfg, &pWal), KV_OK);
  appendRecords(pWal, 0, N, &w);
  assert_int_equal(kvWalClose(pWal), KV_OK);
  assert_int_equal(w.aSeg[iBad], 2);
  segPath(f, 2, z, sizeof(z));
  snprintf(zExp, sizeof(zExp), "kvstore: corrupt record in '%s' at offset %llu",
           z, (unsigned long long)w.aOff[iBad]);
  aFile = tuReadFile(z, &nFile);
  kEnd = w.aOff[iBad+1];
  for(k=w.aOff[iBad]; k<kEnd; k++){
    aFile[k] ^= 0x20;
    tuWriteFile(z, aFile, nFile);
    assert_int_equal(replay(f, 0, 0, &r, &info), KV_CORRUPT);
    assert_string_equal(kvErrMsg(), zExp);
    assert_non_null(strstr(kvErrMsg(), "wal-000002.log"));
    assert_int_equal(r.n, iBad);
    assert_int_equal(r.nBad, 0);
    aFile[k] ^= 0x20;
  }
  free(aFile);
}

/* A record too short for the 20-byte header is corruption. */
static void test_short_record(void **state){
  Fixture *f = *state;
  KvLogWriter *pLog = 0;
  KvWalReplayInfo info;
  Replay r;
  char z[128];
  segPath(f, 1, z, sizeof(z));
  assert_int_equal(kvLogWriterOpen(kvEnvPosix(), z, &pLog), KV_OK);
  assert_int_equal(kvLogAppend(pLog, "short", 5), KV_OK);
  assert_int_equal(kvLogWriterClose(pLog), KV_OK);
  assert_int_equal(replay(f, 0, 0, &r, &info), KV_CORRUPT);
  assert_non_null(strstr(kvErrMsg(), "wal-000001.log"));
  assert_non_null(strstr(kvErrMsg(), "offset 0"));
  assert_int_equal(r.n, 0);
}

static void test_callback_error(void **state){
  Fixture *f = *state;
  KvWalConfig cfg = { 0, 2, KV_SYNC_NORMAL, 0 };
  KvWal *pWal = 0;
  Written w;
  KvWalReplayInfo info;
  Replay r;
  assert_int_equal(kvWalOpen(kvEnvPosix(), f->zDir, 1, &cfg, &pWal), KV_OK);
  appendRecords(pWal, 0, 6, &w);
  assert_int_equal(kvWalClose(pWal), KV_OK);
  memset(&r, 0, sizeof(r));
  r.iFailAt = 3;
  r.rcFail = KV_NOMEM;
  assert_int_equal(kvWalReplay(kvEnvPosix(), f->zDir, 0, replayCb, &r, &info),
                   KV_NOMEM);
  assert_string_equal(kvErrMsg(), "kvstore: injected callback failure");
  assert_int_equal(info.nRecord, 3);
  /* A corrupt batch found by the callback gets the segment's name. */
  memset(&r, 0, sizeof(r));
  r.iFailAt = 3;
  r.rcFail = KV_CORRUPT;
  assert_int_equal(kvWalReplay(kvEnvPosix(), f->zDir, 0, replayCb, &r, &info),
                   KV_CORRUPT);
  assert_non_null(strstr(kvErrMsg(), "wal-000002.log"));
}

/* The syncs around rotation, in order. */
static void test_sync_order(void **state){
  Fixture *f = *state;
  FakeEnv fake;
  KvWalConfig cfg = { 0, 2, KV_SYNC_NORMAL, 0 };
  KvWal *pWal = 0;
  u8 a[10] = {0};
  fakeInit(&fake);
  assert_int_equal(kvWalOpen(&fake.base, f->zDir, 1, &cfg, &pWal), KV_OK);
  assert_string_equal(fake.zTrace, "OD");
  assert_int_equal(kvWalAppend(pWal, 1, 0, 1, a, 10, 0), KV_OK);
  assert_int_equal(kvWalAppend(pWal, 2, 0, 1, a, 10, 1), KV_OK);
  assert_string_equal(fake.zTrace, "ODAAS");
  /* Third record: sync old, close, create, sync dir, then append. */
  assert_int_equal(kvWalAppend(pWal, 3, 0, 1, a, 10, 0), KV_OK);
  assert_string_equal(fake.zTrace, "ODAASSCODA");
  assert_int_equal(kvWalRotate(pWal, 0), KV_OK);
  assert_string_equal(fake.zTrace, "ODAASSCODASCOD");
  assert_int_equal(kvWalClose(pWal), KV_OK);
  assert_string_equal(fake.zTrace, "ODAASSCODASCODSC");

  /* sync=off: no file sync at rotation or close, directory still synced. */
  fakeInit(&fake);
  cfg.eSync = KV_SYNC_OFF;
  assert_int_equal(kvWalOpen(&fake.base, f->zDir, 10, &cfg, &pWal), KV_OK);
  assert_int_equal(kvWalAppend(pWal, 1, 0, 1, a, 10, 0), KV_OK);
  assert_int_equal(kvWalAppend(pWal, 2, 0, 1, a, 10, 0), KV_OK);
  assert_int_equal(kvWalAppend(pWal, 3, 0, 1, a, 10, 0), KV_OK);
  assert_int_equal(kvWalClose(pWal), KV_OK);
  assert_string_equal(fake.zTrace, "ODAACODAC");
}

/* After a failed fsync every write fails with KV_READONLY, and no fsync
** is attempted again. */
static void test_sync_failure_sticky(void **state){
  Fixture *f = *state;
  FakeEnv fake;
  KvWalConfig cfg = { 0, 2, KV_SYNC_FULL, 0 };
  KvWal *pWal = 0;
  u8 a[10] = {0};
  u64 iSeg = 0;
  int nSync;
  KvWalReplayInfo info;
  Replay r;
  fakeInit(&fake);
  assert_int_equal(kvWalOpen(&fake.base, f->zDir, 1, &cfg, &pWal), KV_OK);
  assert_int_equal(kvWalAppend(pWal, 1, 0, 1, a, 10, 1), KV_OK);
  fake.bFailSync = 1;
  assert_int_equal(kvWalAppend(pWal, 2, 0, 1, a, 10, 1), KV_IOERR);
  assert_non_null(strstr(kvErrMsg(), "fsync failed"));
  nSync = fake.nSync;
  assert_int_equal(kvWalAppend(pWal, 3, 0, 1, a, 10, 0), KV_READONLY);
  assert_non_null(strstr(kvErrMsg(), "read-only after a failed fsync"));
  assert_non_null(strstr(kvErrMsg(), f->zDir));
  assert_int_equal(kvWalAppend(pWal, 3, 0, 1, a, 10, 1), KV_READONLY);
  assert_int_equal(kvWalSync(pWal), KV_READONLY);
  assert_int_equal(kvWalRotate(pWal, &iSeg), KV_READONLY);
  assert_int_equal(iSeg, 1);
  assert_int_equal(fake.nSync, nSync);
  assert_int_equal(kvWalClose(pWal), KV_READONLY);
  assert_int_equal(fake.nSync, nSync);
  /* What was appended before the failure is still readable. */
  assert_int_equal(replay(f, 0, 0, &r, &info), KV_OK);
  assert_int_equal(info.nRecord, 2);

  /* A failed sync at rotation (sync=normal) stops the WAL too. */
  fakeInit(&fake);
  cfg.eSync = KV_SYNC_NORMAL;
  assert_int_equal(kvWalOpen(&fake.base, f->zDir, 5, &cfg, &pWal), KV_OK);
  assert_int_equal(kvWalAppend(pWal, 1, 0, 1, a, 10, 0), KV_OK);
  assert_int_equal(kvWalAppend(pWal, 2, 0, 1, a, 10, 0), KV_OK);
  fake.bFailSync = 1;
  assert_int_equal(kvWalAppend(pWal, 3, 0, 1, a, 10, 0), KV_IOERR);
  assert_int_equal(kvWalSegment(pWal), 5);
  assert_int_equal(kvWalAppend(pWal, 3, 0, 1, a, 10, 0), KV_READONLY);
  assert_int_equal(kvWalClose(pWal), KV_READONLY);

  /* So does a failed directory fsync after creating a segment. */
  fakeInit(&fake);
  assert_int_equal(kvWalOpen(&fake.base, f->zDir, 20, &cfg, &pWal), KV_OK);
  fake.bFailSyncDir = 1;
  assert_int_equal(kvWalRotate(pWal, &iSeg), KV_IOERR);
  assert_non_null(strstr(kvErrMsg(), "wal-000021.log"));
  assert_int_equal(kvWalAppend(pWal, 1, 0, 1, a, 10, 0), KV_READONLY);
  assert_int_equal(kvWalClose(pWal), KV_OK);

  /* And a failed one at open fails the open. */
  fakeInit(&fake);
  fake.bFailSyncDir = 1;
  pWal = (KvWal*)&fake;
  assert_int_equal(kvWalOpen(&fake.base, f->zDir, 30, &cfg, &pWal), KV_IOERR);
  assert_null(pWal);
  assert_int_equal(kvWalClose(0), KV_OK);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_path_and_empty_dir,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_rotate_by_size, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_rotate_by_count,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_rotate_explicit,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_replay_from_middle,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_list_and_gaps, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_torn_last_segment,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_torn_earlier_segment,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_zero_tail_before_later_segment,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_corrupt_middle_record,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_short_record, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_callback_error,
                                    setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_sync_order, setupDir, teardownDir),
    cmocka_unit_test_setup_teardown(test_sync_failure_sticky,
                                    setupDir, teardownDir),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
