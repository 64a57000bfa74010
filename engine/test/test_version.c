/*
** test_version.c - version edits, the manifest and its replay.
**
** Edits round-trip through their encoding; a version set applies edits,
** and a fresh one recovers the same files per level and counters from
** CURRENT and the manifest; a torn manifest tail loses only the last,
** unsynced edit; damage (a flipped byte, a missing manifest, a bad
** CURRENT) fails recovery with KV_CORRUPT naming the file; files removed
** by an edit are unlinked only when the last version holding them goes.
*/
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static pthread_mutex_t gMutex = PTHREAD_MUTEX_INITIALIZER;

static void vsetInit(KvVersionSet *p, const char *zDir){
  memset(p, 0, sizeof(*p));
  p->pEnv = kvEnvPosix();
  p->zDir = (char*)zDir;
  p->nLevel = 7;
  p->pMutex = &gMutex;
}

/* Metadata of a fake table covering user keys [zLo, zHi]. */
static void fakeMeta(KvSstMeta *m, const char *zLo, const char *zHi,
                     u64 minSeq, u64 maxSeq){
  memset(m, 0, sizeof(*m));
  assert_int_equal(kvIKeyAppend(&m->smallest, (const u8*)zLo, strlen(zLo),
                                maxSeq, KV_TYPE_PUT), KV_OK);
  assert_int_equal(kvIKeyAppend(&m->largest, (const u8*)zHi, strlen(zHi),
                                minSeq, KV_TYPE_PUT), KV_OK);
  m->minSeq = minSeq;
  m->maxSeq = maxSeq;
  m->nEntry = 10;
  m->nTombstone = 2;
  m->nFileSize = 1000 + maxSeq;
  memset(m->aMerkle, (int)maxSeq, 32);
}

/* Create an empty file standing for table iFile. */
static void touchSst(const char *zDir, u64 iFile){
  char *z = kvSstPath(zDir, iFile);
  FILE *f = fopen(z, "w");
  assert_non_null(f);
  fclose(f);
  kvFree(z);
}

static int sstExists(const char *zDir, u64 iFile){
  char *z = kvSstPath(zDir, iFile);
  int b = access(z, F_OK)==0;
  kvFree(z);
  return b;
}

static void test_edit_roundtrip(void **state){
  KvVersionEdit e, d;
  KvSstMeta m;
  KvBuf buf = {0, 0, 0};
  size_t n;
  (void)state;
  memset(&e, 0, sizeof(e));
  e.bLogNumber = 1; e.iLogNumber = 7;
  e.bNextFile = 1;  e.iNextFile = 300;
  e.bLastSeq = 1;   e.iLastSeq = 123456789012ULL;
  e.bDropFloor = 1; e.iDropFloor = 123456789000ULL;
  fakeMeta(&m, "apple", "pear", 5, 9);
  assert_int_equal(kvEditAddFile(&e, 2, &m, 42), KV_OK);
  assert_int_equal(kvEditDelFile(&e, 0, 17), KV_OK);
  assert_int_equal(kvEditEncode(&e, &buf), KV_OK);
  assert_int_equal(kvEditDecode(buf.a, buf.n, &d), KV_OK);
  assert_int_equal(d.iLogNumber, 7);
  assert_int_equal(d.iNextFile, 300);
  assert_int_equal(d.iLastSeq, 123456789012ULL);
  assert_int_equal(d.bDropFloor, 1);
  assert_int_equal(d.iDropFloor, 123456789000ULL);
  assert_int_equal(d.nAdd, 1);
  assert_int_equal(d.aAdd[0].iLevel, 2);
  assert_int_equal(d.aAdd[0].pMeta->iFile, 42);
  assert_int_equal(d.aAdd[0].pMeta->nByte, m.nFileSize);
  assert_int_equal(d.aAdd[0].pMeta->nTombstone, 2);
  assert_int_equal(d.aAdd[0].pMeta->minSeq, 5);
  assert_memory_equal(d.aAdd[0].pMeta->smallest.a, m.smallest.a, m.smallest.n);
  assert_memory_equal(d.aAdd[0].pMeta->largest.a, m.largest.a, m.largest.n);
  assert_memory_equal(d.aAdd[0].pMeta->aMerkle, m.aMerkle, 32);
  assert_int_equal(d.nDel, 1);
  assert_int_equal(d.aDel[0].iFile, 17);
  kvEditClear(&d);
  /* Every truncation is refused or decodes without reading past the end
  ** (ASan watches the latter). */
  for(n=0; n<buf.n; n++){
    u8 *a = malloc(n ? n : 1);
    int rc;
    memcpy(a, buf.a, n);
    rc = kvEditDecode(a, n, &d);
    if( rc==KV_OK ) kvEditClear(&d);
    else assert_int_equal(rc, KV_CORRUPT);
    free(a);
  }
  kvBufFree(&buf);
  kvEditClear(&e);
  kvSstMetaFree(&m);
}

/* Apply a few edits, recover in a fresh set, compare. */
static void test_apply_and_recover(void **state){
  char zDir[256];
  KvVersionSet s, r;
  KvVersionEdit e;
  KvSstMeta m;
  u64 aFile[4];
  int i;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "version");
  vsetInit(&s, zDir);
  assert_int_equal(kvVsetCreate(&s), KV_OK);
  for(i=0; i<4; i++){
    memset(&e, 0, sizeof(e));
    aFile[i] = kvVsetNewFileNumber(&s);
    touchSst(zDir, aFile[i]);
    fakeMeta(&m, "a", "m", (u64)(10*i+1), (u64)(10*i+9));
    assert_int_equal(kvEditAddFile(&e, 0, &m, aFile[i]), KV_OK);
    e.bLastSeq = 1;
    e.iLastSeq = (u64)(10*i+9);
    assert_int_equal(kvVsetApply(&s, &e), KV_OK);
    kvEditClear(&e);
    kvSstMetaFree(&m);
  }
  /* Move the two oldest into level 1 as one new file. */
  memset(&e, 0, sizeof(e));
  {
    u64 iNew = kvVsetNewFileNumber(&s);
    touchSst(zDir, iNew);
    fakeMeta(&m, "a", "m", 1, 19);
    assert_int_equal(kvEditAddFile(&e, 1, &m, iNew), KV_OK);
    kvSstMetaFree(&m);
  }
  assert_int_equal(kvEditDelFile(&e, 0, aFile[0]), KV_OK);
  assert_int_equal(kvEditDelFile(&e, 0, aFile[1]), KV_OK);
  e.bLogNumber = 1;
  e.iLogNumber = 5;
  s.iDropFloor = 19;            /* the merge may have dropped below 19 */
  assert_int_equal(kvVsetApply(&s, &e), KV_OK);
  kvEditClear(&e);
  /* Removed files were unlinked when the old version went away. */
  assert_false(sstExists(zDir, aFile[0]));
  assert_false(sstExists(zDir, aFile[1]));
  assert_true(sstExists(zDir, aFile[2]));

  assert_int_equal(s.pCurrent->anFile[0], 2);
  assert_int_equal(s.pCurrent->anFile[1], 1);
  /* Level 0 newest first. */
  assert_true(s.pCurrent->aaFile[0][0]->maxSeq > s.pCurrent->aaFile[0][1]->maxSeq);

  vsetInit(&r, zDir);
  assert_int_equal(kvVsetRecover(&r), KV_OK);
  assert_int_equal(r.iLogNumber, 5);
  assert_int_equal(r.iLastSeq, 39);
  assert_int_equal(r.iDropFloor, 19);
  assert_true(r.iNextFile>=s.iNextFile);
  assert_int_equal(r.pCurrent->anFile[0], 2);
  assert_int_equal(r.pCurrent->anFile[1], 1);
  assert_int_equal(r.pCurrent->aaFile[0][0]->iFile, aFile[3]);
  assert_int_equal(r.pCurrent->aaFile[0][1]->iFile, aFile[2]);
  assert_int_equal(r.pCurrent->aaFile[1][0]->minSeq, 1);
  kvVsetClose(&r);
  kvVsetClose(&s);
  /* Closing does not delete live files. */
  assert_true(sstExists(zDir, aFile[2]));
  tuRemoveDir(zDir);
}

/* Find the live manifest's path. */
static void manifestPath(const char *zDir, char *zOut, size_t nOut){
  char zCur[300];
  char zName[64];
  FILE *f;
  snprintf(zCur, sizeof(zCur), "%s/CURRENT", zDir);
  f = fopen(zCur, "r");
  assert_non_null(f);
  assert_non_null(fgets(zName, sizeof(zName), f));
  fclose(f);
  zName[strcspn(zName, "\n")] = 0;
  snprintf(zOut, nOut, "%s/%s", zDir, zName);
}

static void makeStore(const char *zDir, int nEdit){
  KvVersionSet s;
  KvVersionEdit e;
  KvSstMeta m;
  int i;
  vsetInit(&s, zDir);
  assert_int_equal(kvVsetCreate(&s), KV_OK);
  for(i=0; i<nEdit; i++){
    u64 iFile = kvVsetNewFileNumber(&s);
    memset(&e, 0, sizeof(e));
    touchSst(zDir, iFile);
    fakeMeta(&m, "k", "z", (u64)i+1, (u64)i+1);
    assert_int_equal(kvEditAddFile(&e, 0, &m, iFile), KV_OK);
    assert_int_equal(kvVsetApply(&s, &e), KV_OK);
    kvEditClear(&e);
    kvSstMetaFree(&m);
  }
  kvVsetClose(&s);
}

static void test_torn_and_damaged(void **state){
  char zDir[256];
  char zMan[400];
  struct stat st;
  KvVersionSet r;
  FILE *f;
  off_t nFull;
  (void)state;

  /* A torn tail: the last edit (not acknowledged) is gone, the rest stay. */
  tuTempDir(zDir, sizeof(zDir), "vtorn");
  makeStore(zDir, 3);
  manifestPath(zDir, zMan, sizeof(zMan));
  assert_int_equal(stat(zMan, &st), 0);
  nFull = st.st_size;
  assert_int_equal(truncate(zMan, nFull - 3), 0);
  vsetInit(&r, zDir);
  assert_int_equal(kvVsetRecover(&r), KV_OK);
  assert_int_equal(r.pCurrent->anFile[0], 2);
  kvVsetClose(&r);
  tuRemoveDir(zDir);

  /* A table the manifest lists is gone: edits were lost, not torn. */
  tuTempDir(zDir, sizeof(zDir), "vmissing");
  makeStore(zDir, 3);
  {
    char *z = kvSstPath(zDir, 3);
    assert_int_equal(unlink(z), 0);
    kvFree(z);
  }
  vsetInit(&r, zDir);
  assert_int_equal(kvVsetRecover(&r), KV_CORRUPT);
  assert_non_null(strstr(kv_errmsg(0), "is missing"));
  assert_non_null(strstr(kv_errmsg(0), "MANIFEST-"));
  kvVsetClose(&r);
  tuRemoveDir(zDir);

  /* The first WAL segment to replay is gone while later ones exist. */
  tuTempDir(zDir, sizeof(zDir), "vwal");
  makeStore(zDir, 1);
  {
    char zWal[300];
    FILE *fw;
    snprintf(zWal, sizeof(zWal), "%s/wal-000009.log", zDir);
    fw = fopen(zWal, "w");
    assert_non_null(fw);
    fclose(fw);
  }
  vsetInit(&r, zDir);
  assert_int_equal(kvVsetRecover(&r), KV_CORRUPT);
  assert_non_null(strstr(kv_errmsg(0), "lost edits"));
  kvVsetClose(&r);
  tuRemoveDir(zDir);

  /* A flipped byte in the first record, with a valid one after it. */
  tuTempDir(zDir, sizeof(zDir), "vflip");
  makeStore(zDir, 3);
  manifestPath(zDir, zMan, sizeof(zMan));
  f = fopen(zMan, "r+b");
  assert_non_null(f);
  fseek(f, 20, SEEK_SET);
  {
    int c = fgetc(f);
    fseek(f, 20, SEEK_SET);
    fputc(c ^ 0x40, f);
  }
  fclose(f);
  vsetInit(&r, zDir);
  assert_int_equal(kvVsetRecover(&r), KV_CORRUPT);
  assert_non_null(strstr(kv_errmsg(0), "MANIFEST-"));
  kvVsetClose(&r);

  /* CURRENT naming a missing manifest. */
  assert_int_equal(unlink(zMan), 0);
  vsetInit(&r, zDir);
  assert_int_equal(kvVsetRecover(&r), KV_CORRUPT);
  assert_non_null(strstr(kv_errmsg(0), "missing"));
  kvVsetClose(&r);

  /* CURRENT with junk. */
  {
    char zCur[300];
    snprintf(zCur, sizeof(zCur), "%s/CURRENT", zDir);
    f = fopen(zCur, "w");
    fputs("hello", f);
    fclose(f);
  }
  vsetInit(&r, zDir);
  assert_int_equal(kvVsetRecover(&r), KV_CORRUPT);
  assert_non_null(strstr(kv_errmsg(0), "CURRENT"));
  kvVsetClose(&r);
  tuRemoveDir(zDir);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_edit_roundtrip),
    cmocka_unit_test(test_apply_and_recover),
    cmocka_unit_test(test_torn_and_damaged),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
