/*
** test_compact.c - compaction: the drop rule, picking (scores, overlaps,
** tiers, garbage) on hand-built versions, merging through a real store
** (ordering, snapshots, tombstones kept above data and dropped at the
** bottom, iterators pinning files), and the delete-heavy load followed by
** a full compaction. Crash points and the 1000-flush bounds are in
** test_compact_crash.c.
*/
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <dirent.h>
#include <sys/stat.h>

#include "testutil.h"

/* ---------------------------------------------------------------------- */
/* Hand-built versions.                                                    */

static KvFileMeta *mkFile(u64 iFile, const char *zLo, const char *zHi,
                          u64 nByte, u64 nEntry, u64 nTomb, u64 minSeq,
                          u64 maxSeq){
  KvFileMeta *f = kvMallocZero(sizeof(KvFileMeta));
  assert_non_null(f);
  atomic_init(&f->nRef, 1);
  f->iFile = iFile;
  f->nByte = nByte;
  f->nEntry = nEntry;
  f->nTombstone = nTomb;
  f->minSeq = minSeq;
  f->maxSeq = maxSeq;
  assert_int_equal(kvIKeyAppend(&f->smallest, (const u8*)zLo, strlen(zLo),
                                maxSeq, KV_TYPE_PUT), KV_OK);
  assert_int_equal(kvIKeyAppend(&f->largest, (const u8*)zHi, strlen(zHi),
                                minSeq, KV_TYPE_PUT), KV_OK);
  return f;
}

/* Append f to level iLevel of v (the version takes the creator's
** reference). Callers add L0 newest first and deeper levels by key. */
static void vAdd(KvVersion *v, int iLevel, KvFileMeta *f){
  KvFileMeta **a = kvRealloc(v->aaFile[iLevel],
                             sizeof(*a)*(size_t)(v->anFile[iLevel]+1));
  assert_non_null(a);
  a[v->anFile[iLevel]++] = f;
  v->aaFile[iLevel] = a;
}

static KvVersion *vNew(int nLevel){
  KvVersion *v = kvMallocZero(sizeof(KvVersion));
  assert_non_null(v);
  atomic_init(&v->nRef, 1);
  v->nLevel = nLevel;
  return v;
}

static void vFree(KvVersion *v){
  int i, j;
  for(i=0; i<KV_MAX_LEVELS; i++){
    for(j=0; j<v->anFile[i]; j++) kvFileUnref(v->aaFile[i][j]);
    kvFree(v->aaFile[i]);
  }
  kvFree(v);
}

static int hasIn(const KvCompaction *c, u64 iFile){
  int i;
  for(i=0; i<c->nIn; i++) if( c->apIn[i]->iFile==iFile ) return 1;
  return 0;
}
static int hasOld(const KvCompaction *c, u64 iFile){
  int i;
  for(i=0; i<c->nOld; i++) if( c->apOld[i]->iFile==iFile ) return 1;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* The drop rule.                                                          */

static int gOlder;                 /* what xOlder answers */
static int olderAnswer(void *p, const u8 *k, size_t n){
  (void)p; (void)k; (void)n;
  return gOlder;
}

static int step(KvDropFilter *f, const char *zKey, u64 seq, int eType){
  KvBuf b = {0, 0, 0};
  int e = -1;
  assert_int_equal(kvIKeyAppend(&b, (const u8*)zKey, strlen(zKey), seq, eType), KV_OK);
  assert_int_equal(kvDropFilterStep(f, b.a, b.n, &e), KV_OK);
  kvBufFree(&b);
  return e;
}

static void test_drop_rule(void **state){
  KvDropFilter f;
  u64 aSnap[3];
  (void)state;

  /* No snapshot below 100: only the newest version of each key stays. */
  kvDropFilterInit(&f, 0, 0, 100, olderAnswer, 0);
  gOlder = 0;
  assert_int_equal(step(&f, "a", 10, KV_TYPE_PUT), KV_KEEP);
  assert_true(f.bNewest);
  assert_int_equal(step(&f, "a", 5, KV_TYPE_PUT), KV_DROP_SHADOWED);
  assert_false(f.bNewest);
  assert_int_equal(step(&f, "a", 3, KV_TYPE_DEL), KV_DROP_SHADOWED);
  /* A tombstone nothing older may hold goes, and what it hid with it. */
  assert_int_equal(step(&f, "b", 8, KV_TYPE_DEL), KV_DROP_TOMBSTONE);
  assert_int_equal(step(&f, "b", 4, KV_TYPE_PUT), KV_DROP_SHADOWED);
  /* An older run may hold "c": the tombstone stays, what it hid here goes. */
  gOlder = 1;
  assert_int_equal(step(&f, "c", 9, KV_TYPE_DEL), KV_KEEP);
  assert_int_equal(step(&f, "c", 2, KV_TYPE_PUT), KV_DROP_SHADOWED);
  /* "cc" is a different key although "c" is its prefix. */
  gOlder = 0;
  assert_int_equal(step(&f, "cc", 7, KV_TYPE_PUT), KV_KEEP);
  assert_true(f.bNewest);
  kvDropFilterFree(&f);

  /* A snapshot at 7: each version a reader at >= 7 may see stays. */
  aSnap[0] = 7;
  kvDropFilterInit(&f, aSnap, 1, 7, 0, 0);
  assert_int_equal(step(&f, "a", 10, KV_TYPE_PUT), KV_KEEP);
  assert_int_equal(step(&f, "a", 6, KV_TYPE_PUT), KV_KEEP);   /* seen at 7 */
  assert_false(f.bNewest);
  assert_int_equal(step(&f, "a", 5, KV_TYPE_PUT), KV_DROP_SHADOWED);
  /* A tombstone newer than the snapshot stays even with nothing below. */
  assert_int_equal(step(&f, "b", 9, KV_TYPE_DEL), KV_KEEP);
  assert_int_equal(step(&f, "b", 4, KV_TYPE_PUT), KV_KEEP);
  assert_int_equal(step(&f, "b", 3, KV_TYPE_PUT), KV_DROP_SHADOWED);
  /* One at the snapshot's sequence is visible to it and may go. */
  assert_int_equal(step(&f, "d", 7, KV_TYPE_DEL), KV_DROP_TOMBSTONE);
  kvDropFilterFree(&f);

  /* Snapshots at 10 and 20: of the versions between them only the newest
  ** is seen (by the snapshot at 20); LevelDB's rule would keep them all. */
  aSnap[0] = 10; aSnap[1] = 20; aSnap[2] = 30;
  kvDropFilterInit(&f, aSnap, 3, 10, 0, 0);
  assert_int_equal(step(&f, "a", 35, KV_TYPE_PUT), KV_KEEP);   /* latest */
  assert_int_equal(step(&f, "a", 31, KV_TYPE_PUT), KV_DROP_SHADOWED);
  assert_int_equal(step(&f, "a", 19, KV_TYPE_PUT), KV_KEEP);   /* seen at 20 */
  assert_int_equal(step(&f, "a", 15, KV_TYPE_DEL), KV_DROP_SHADOWED);
  assert_int_equal(step(&f, "a", 12, KV_TYPE_PUT), KV_DROP_SHADOWED);
  assert_int_equal(step(&f, "a", 10, KV_TYPE_PUT), KV_KEEP);   /* seen at 10 */
  assert_int_equal(step(&f, "a", 9, KV_TYPE_PUT), KV_DROP_SHADOWED);
  assert_int_equal(step(&f, "b", 20, KV_TYPE_DEL), KV_KEEP);   /* 10 sees b@5 */
  assert_int_equal(step(&f, "b", 5, KV_TYPE_PUT), KV_KEEP);
  assert_int_equal(step(&f, "c", 8, KV_TYPE_DEL), KV_DROP_TOMBSTONE);
  assert_int_equal(step(&f, "c", 2, KV_TYPE_PUT), KV_DROP_SHADOWED);
  kvDropFilterFree(&f);
}

/* ---------------------------------------------------------------------- */
/* Picking: leveled.                                                       */

static void test_pick_leveled(void **state){
  kv_options *o = tuOptions("levels=3", "level0_trigger=4",
                            "target_file_size=4KB", "level_size_multiplier=10",
                            NULL);
  KvCompactor *p = 0;
  KvCompaction *c = 0;
  KvVersion *v = vNew(3);
  (void)state;
  assert_int_equal(kvCompactorNew(&p), KV_OK);
  assert_int_equal(kvCompactLevelTarget(o, 1), 40960);
  assert_int_equal(kvCompactLevelTarget(o, 2), 409600);

  /* L0: 3 files (newest first), L1 three files, L2 two. */
  vAdd(v, 0, mkFile(30, "d", "f", 500, 50, 0, 301, 400));
  vAdd(v, 0, mkFile(31, "e", "h", 500, 50, 0, 201, 300));
  vAdd(v, 0, mkFile(32, "a", "b", 500, 50, 0, 101, 200));
  vAdd(v, 1, mkFile(20, "a", "a9", 1000, 100, 0, 1, 100));
  vAdd(v, 1, mkFile(21, "c", "e", 1000, 100, 0, 1, 100));
  vAdd(v, 1, mkFile(22, "x", "z", 1000, 100, 0, 1, 100));
  vAdd(v, 2, mkFile(10, "a", "c", 5000, 500, 0, 1, 50));
  vAdd(v, 2, mkFile(11, "m", "p", 5000, 500, 0, 1, 50));

  /* Under every budget: nothing. */
  assert_true(kvCompactLevelScore(v, o, 0) < 1.0);
  assert_true(kvCompactLevelScore(v, o, 1) < 1.0);
  assert_true(kvCompactLevelScore(v, o, 2)==0.0);   /* the bottom */
  assert_int_equal(kvCompactPick(v, o, p, 1000, &c), KV_OK);
  assert_null(c);

  /* A fourth L0 file: every L0 file plus the L1 files overlapping [a,h]
  ** go to L1; L2 files in that range are the older runs and grandparents. */
  vAdd(v, 0, mkFile(33, "g", "g", 500, 50, 0, 50, 60));   /* oldest */
  assert_true(kvCompactLevelScore(v, o, 0) >= 1.0);
  assert_int_equal(kvCompactPick(v, o, p, 1000, &c), KV_OK);
  assert_non_null(c);
  assert_int_equal(c->eReason, KV_CREASON_SIZE);
  assert_int_equal(c->iLevel, 0);
  assert_int_equal(c->iOutLevel, 1);
  assert_int_equal(c->nIn, 6);
  assert_true(hasIn(c, 30) && hasIn(c, 31) && hasIn(c, 32) && hasIn(c, 33));
  assert_true(hasIn(c, 20) && hasIn(c, 21));
  assert_false(hasIn(c, 22));
  assert_true(hasOld(c, 10));
  assert_false(hasOld(c, 11));
  assert_int_equal(c->nGrand, 1);
  assert_false(c->bTrivial);
  assert_true(c->bSplit);
  kvCompactionFree(c);
  vFree(v);

  /* L1 over budget (48000 > 40960): round-robin through its files; a file
  ** overlapping nothing in L2 moves without a rewrite. */
  v = vNew(3);
  vAdd(v, 1, mkFile(20, "a", "b", 16000, 100, 0, 1, 100));
  vAdd(v, 1, mkFile(21, "c", "e", 16000, 100, 0, 1, 100));
  vAdd(v, 1, mkFile(22, "x", "z", 16000, 100, 0, 1, 100));
  vAdd(v, 2, mkFile(10, "a", "a5", 5000, 500, 0, 1, 50));
  vAdd(v, 2, mkFile(11, "d", "p", 5000, 500, 0, 1, 50));
  vAdd(v, 2, mkFile(12, "q", "r", 5000, 500, 0, 1, 50));
  assert_true(kvCompactLevelScore(v, o, 1) > 1.1);
  assert_int_equal(kvCompactPick(v, o, p, 1000, &c), KV_OK);
  assert_non_null(c);
  assert_int_equal(c->iLevel, 1);
  assert_int_equal(c->iOutLevel, 2);
  assert_true(hasIn(c, 20) && hasIn(c, 10));
  assert_int_equal(c->nIn, 2);
  assert_false(c->bTrivial);
  kvCompactionFree(c);
  assert_int_equal(kvCompactPick(v, o, p, 1000, &c), KV_OK);  /* next one */
  assert_true(hasIn(c, 21) && hasIn(c, 11));
  assert_int_equal(c->nIn, 2);
  kvCompactionFree(c);
  assert_int_equal(kvCompactPick(v, o, p, 1000, &c), KV_OK);
  assert_true(hasIn(c, 22));
  assert_int_equal(c->nIn, 1);
  assert_true(c->bTrivial);                  /* nothing in L2 overlaps */
  kvCompactionFree(c);
  assert_int_equal(kvCompactPick(v, o, p, 1000, &c), KV_OK);  /* wraps */
  assert_true(hasIn(c, 20));
  kvCompactionFree(c);
  vFree(v);

  /* The highest score wins: L1 at 1.2 against L0 at 1.5. */
  v = vNew(3);
  vAdd(v, 0, mkFile(40, "a", "b", 10, 10, 0, 500, 600));
  vAdd(v, 0, mkFile(41, "a", "b", 10, 10, 0, 400, 499));
  vAdd(v, 0, mkFile(42, "a", "b", 10, 10, 0, 300, 399));
  vAdd(v, 0, mkFile(43, "a", "b", 10, 10, 0, 200, 299));
  vAdd(v, 0, mkFile(44, "a", "b", 10, 10, 0, 150, 199));
  vAdd(v, 0, mkFile(45, "a", "b", 10, 10, 0, 101, 149));
  vAdd(v, 1, mkFile(20, "c", "d", 49152, 100, 0, 1, 100));
  assert_int_equal(kvCompactPick(v, o, p, 1000, &c), KV_OK);
  assert_int_equal(c->iLevel, 0);
  assert_int_equal(c->nIn, 6);
  assert_false(hasIn(c, 20));
  kvCompactionFree(c);
  vFree(v);

  kvCompactorFree(p);
  kv_options_free(o);
}

/* The garbage trigger: a file mostly tombstones is compacted although its
** level is within budget; at the bottom only when no snapshot needs it. */
static void test_pick_garbage(void **state){
  kv_options *o = tuOptions("levels=3", "level0_trigger=4",
                            "target_file_size=4KB", "level_size_multiplier=10",
                            NULL);
  KvCompaction *c = 0;
  KvVersion *v = vNew(3);
  (void)state;

  vAdd(v, 1, mkFile(20, "a", "c", 1000, 100, 10, 200, 300));
  vAdd(v, 2, mkFile(10, "a", "c", 5000, 500, 400, 1, 100));  /* 80% */
  assert_int_equal(kvCompactPick(v, o, 0, 50, &c), KV_OK);
  assert_null(c);                    /* a snapshot at 50 needs the file */
  assert_int_equal(kvCompactPick(v, o, 0, 100, &c), KV_OK);
  assert_non_null(c);
  assert_int_equal(c->eReason, KV_CREASON_GARBAGE);
  assert_int_equal(c->iLevel, 2);
  assert_int_equal(c->iOutLevel, 2);            /* rewritten in place */
  assert_int_equal(c->nIn, 1);
  assert_int_equal(c->nOld, 0);
  kvCompactionFree(c);
  vFree(v);

  /* Above the bottom the file is pushed down, with what it overlaps. */
  v = vNew(3);
  vAdd(v, 1, mkFile(20, "a", "c", 1000, 100, 60, 200, 300));
  vAdd(v, 2, mkFile(10, "b", "d", 5000, 500, 0, 1, 100));
  assert_int_equal(kvCompactPick(v, o, 0, 10, &c), KV_OK);
  assert_non_null(c);
  assert_int_equal(c->eReason, KV_CREASON_GARBAGE);
  assert_int_equal(c->iOutLevel, 2);
  assert_true(hasIn(c, 20) && hasIn(c, 10));
  assert_false(c->bTrivial);
  kvCompactionFree(c);
  vFree(v);

  /* Tombstones crowded into one window count although the whole file
  ** holds 10% (a key range deleted row by row); spread out they do not. */
  v = vNew(3);
  vAdd(v, 1, mkFile(20, "a", "c", 5000, 1000, 100, 200, 300));
  v->aaFile[1][0]->nDelWindowMax = 40;
  vAdd(v, 2, mkFile(10, "b", "d", 5000, 500, 0, 1, 100));
  assert_int_equal(kvCompactPick(v, o, 0, 10, &c), KV_OK);
  assert_null(c);
  v->aaFile[1][0]->nDelWindowMax = KV_DEL_WINDOW;
  assert_true(kvCompactGarbage(0, v->aaFile[1][0])==1.0);
  assert_int_equal(kvCompactPick(v, o, 0, 10, &c), KV_OK);
  assert_non_null(c);
  assert_int_equal(c->eReason, KV_CREASON_GARBAGE);
  assert_int_equal(c->iLevel, 1);
  assert_int_equal(c->iOutLevel, 2);
  assert_true(hasIn(c, 20) && hasIn(c, 10));
  kvCompactionFree(c);
  vFree(v);

  /* Small files do not count. */
  v = vNew(3);
  vAdd(v, 2, mkFile(10, "a", "c", 50, 5, 5, 1, 100));
  assert_int_equal(kvCompactPick(v, o, 0, 1000, &c), KV_OK);
  assert_null(c);
  vFree(v);
  kv_options_free(o);
}

/* ---------------------------------------------------------------------- */
/* Picking: tiered.                                                        */

static void test_pick_tiered(void **state){
  kv_options *o = tuOptions("compaction=tiered", "levels=4",
                            "level0_trigger=4", "target_file_size=4KB",
                            NULL);
  KvCompaction *c = 0;
  KvVersion *v = vNew(4);
  (void)state;

  /* Four similar L0 runs over a big bottom run: the four merge into one
  ** L0 run; the bottom is the older run for tombstones. */
  vAdd(v, 0, mkFile(40, "a", "z", 100, 10, 0, 400, 499));
  vAdd(v, 0, mkFile(41, "a", "z", 110, 10, 0, 300, 399));
  vAdd(v, 0, mkFile(42, "a", "z", 95, 10, 0, 200, 299));
  vAdd(v, 0, mkFile(43, "a", "z", 100, 10, 0, 100, 199));
  vAdd(v, 3, mkFile(10, "a", "m", 5000, 500, 0, 1, 99));
  vAdd(v, 3, mkFile(11, "n", "z", 5000, 500, 0, 1, 99));
  assert_int_equal(kvCompactPick(v, o, 0, 1000, &c), KV_OK);
  assert_non_null(c);
  assert_int_equal(c->eReason, KV_CREASON_TIER);
  assert_int_equal(c->iOutLevel, 0);
  assert_false(c->bSplit);
  assert_int_equal(c->nIn, 4);
  assert_int_equal(c->nOld, 2);
  assert_int_equal(c->nOldRun, 1);
  kvCompactionFree(c);
  vFree(v);

  /* Three L0 runs: under the trigger, nothing. */
  v = vNew(4);
  vAdd(v, 0, mkFile(40, "a", "z", 100, 10, 0, 400, 499));
  vAdd(v, 0, mkFile(41, "a", "z", 100, 10, 0, 300, 399));
  vAdd(v, 0, mkFile(42, "a", "z", 100, 10, 0, 200, 299));
  assert_int_equal(kvCompactPick(v, o, 0, 1000, &c), KV_OK);
  assert_null(c);
  /* A fourth, the oldest and similar: the window holds the oldest run, so
  ** the result becomes the bottom level's run. */
  vAdd(v, 0, mkFile(43, "a", "z", 350, 10, 0, 100, 199));
  assert_int_equal(kvCompactPick(v, o, 0, 1000, &c), KV_OK);
  assert_non_null(c);
  assert_int_equal(c->nIn, 4);
  assert_int_equal(c->iOutLevel, 3);
  assert_true(c->bSplit);
  assert_int_equal(c->nOld, 0);
  kvCompactionFree(c);
  vFree(v);

  /* Sizes growing fast (no similar pair among the newest): the window
  ** starts at the first run that has a similar older neighbour. */
  v = vNew(4);
  vAdd(v, 0, mkFile(40, "a", "z", 100, 10, 0, 400, 499));
  vAdd(v, 0, mkFile(41, "a", "z", 1000, 10, 0, 300, 399));
  vAdd(v, 0, mkFile(42, "a", "z", 1100, 10, 0, 200, 299));
  vAdd(v, 0, mkFile(43, "a", "z", 50000, 10, 0, 100, 199));
  assert_int_equal(kvCompactPick(v, o, 0, 1000, &c), KV_OK);
  assert_non_null(c);
  assert_int_equal(c->eReason, KV_CREASON_TIER);
  assert_true(hasIn(c, 41) && hasIn(c, 42));
  assert_int_equal(c->nIn, 2);
  assert_int_equal(c->iOutLevel, 0);
  assert_true(hasOld(c, 43));
  assert_false(hasOld(c, 40));          /* newer runs are not "older" */
  kvCompactionFree(c);
  vFree(v);

  /* No similar sizes at all: the newest runs merge to get under the
  ** trigger (5 runs, trigger 4: the newest 3). */
  v = vNew(4);
  vAdd(v, 0, mkFile(40, "a", "z", 100, 10, 0, 500, 599));
  vAdd(v, 0, mkFile(41, "a", "z", 1000, 10, 0, 400, 499));
  vAdd(v, 0, mkFile(42, "a", "z", 10000, 10, 0, 300, 399));
  vAdd(v, 0, mkFile(43, "a", "z", 100000, 10, 0, 200, 299));
  vAdd(v, 0, mkFile(44, "a", "z", 1000000, 10, 0, 100, 199));
  assert_int_equal(kvCompactPick(v, o, 0, 1000, &c), KV_OK);
  assert_non_null(c);
  assert_int_equal(c->eReason, KV_CREASON_COUNT);
  assert_int_equal(c->nIn, 3);
  assert_true(hasIn(c, 40) && hasIn(c, 41) && hasIn(c, 42));
  kvCompactionFree(c);
  vFree(v);

  /* Garbage in a run: merged with the next older run. */
  v = vNew(4);
  vAdd(v, 0, mkFile(40, "a", "z", 100, 100, 90, 400, 499));
  vAdd(v, 0, mkFile(41, "a", "z", 100, 100, 0, 300, 399));
  vAdd(v, 3, mkFile(10, "a", "z", 10000, 1000, 0, 1, 99));
  assert_int_equal(kvCompactPick(v, o, 0, 1000, &c), KV_OK);
  assert_non_null(c);
  assert_int_equal(c->eReason, KV_CREASON_GARBAGE);
  assert_true(hasIn(c, 40) && hasIn(c, 41));
  assert_int_equal(c->nIn, 2);
  assert_true(hasOld(c, 10));
  kvCompactionFree(c);
  vFree(v);
  kv_options_free(o);
}

/* ---------------------------------------------------------------------- */
/* Merging through a store.                                                */

typedef struct Scan Scan;
struct Scan {
  int anFile[KV_MAX_LEVELS];
  u64 nEntry, nTomb;
  int nVersionsOf;              /* entries of Scan.zKey */
  const char *zKey;
  int nTombOf;                  /* tombstones of zKey */
};

/* Read every live table raw: internal keys strictly ascending in each
** file, files of a level >= 1 disjoint by user key; count entries. */
static void scanFiles(kv_db *db, Scan *s, const char *zKey){
  KvVersion *v;
  int i, j;
  memset(s, 0, sizeof(*s));
  s->zKey = zKey;
  kvDbLock(db);
  v = kvVersionCurrent(&db->vset);
  kvDbUnlock(db);
  for(i=0; i<KV_MAX_LEVELS; i++){
    s->anFile[i] = v->anFile[i];
    for(j=0; j<v->anFile[i]; j++){
      KvFileMeta *f = v->aaFile[i][j];
      KvSst *pSst = 0;
      KvIter *it = 0;
      KvBuf prev = {0, 0, 0};
      assert_int_equal(kvFileTable(f, &pSst), KV_OK);
      assert_int_equal(kvSstIterNew(pSst, 0, &it), KV_OK);
      assert_int_equal(it->pMethods->xFirst(it), KV_OK);
      while( kvIterValid(it) ){
        const u8 *k;
        size_t n;
        kvIterKey(it, &k, &n);
        if( prev.n ) assert_true(kvIKeyCmp(prev.a, prev.n, k, n)<0);
        assert_int_equal(kvBufSet(&prev, k, n), KV_OK);
        s->nEntry++;
        if( kvIKeyType(k, n)==KV_TYPE_DEL ) s->nTomb++;
        if( zKey && kvUKeyCmp(k, n-8, (const u8*)zKey, strlen(zKey))==0 ){
          s->nVersionsOf++;
          if( kvIKeyType(k, n)==KV_TYPE_DEL ) s->nTombOf++;
        }
        assert_int_equal(it->pMethods->xNext(it), KV_OK);
      }
      it->pMethods->xClose(it);
      kvBufFree(&prev);
      if( i>0 && j>0 ){
        KvFileMeta *g = v->aaFile[i][j-1];
        assert_true(kvUKeyCmp(g->largest.a, g->largest.n-8,
                              f->smallest.a, f->smallest.n-8)<0);
      }
    }
  }
  kvVersionUnref(v);
}

static void putKey(kv_db *db, int i, int iVer){
  char zKey[32], zVal[64];
  snprintf(zKey, sizeof(zKey), "k%05d", i);
  snprintf(zVal, sizeof(zVal), "value-%d-%d", i, iVer);
  tuPut(db, zKey, zVal);
}
static void delKey(kv_db *db, int i){
  char zKey[32];
  snprintf(zKey, sizeof(zKey), "k%05d", i);
  assert_int_equal(kv_delete(db, zKey, strlen(zKey)), KV_OK);
}
static void checkKey(kv_db *db, const kv_snapshot *s, int i, int iVer){
  char zKey[32], zVal[64];
  const char *z;
  snprintf(zKey, sizeof(zKey), "k%05d", i);
  z = tuGet(db, s, 0, zKey);
  if( iVer<0 ){
    if( z ) fail_msg("%s: expected absent, found %s", zKey, z);
  }else{
    snprintf(zVal, sizeof(zVal), "value-%d-%d", i, iVer);
    if( z==0 || strcmp(z, zVal)!=0 ) fail_msg("%s: expected %s, found %s", zKey, zVal, z ? z : "(absent)");
  }
}

static u64 jsonField(const char *zJson, const char *zName){
  char zPat[64];
  const char *p;
  snprintf(zPat, sizeof(zPat), "\"%s\":", zName);
  p = strstr(zJson, zPat);
  if( p==0 ) fail_msg("no %s in %s", zName, zJson);
  return strtoull(p + strlen(zPat), 0, 10);
}

/* Full compaction: one sorted run at the bottom, in order, every older
** version and tombstone gone, data unchanged; reopen sees the same. */
static void test_merge_full(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "memtable_size=64KB",
                            "levels=4", "level0_trigger=64",
                            "target_file_size=8KB", "sync=off", NULL);
  int aVer[2000];
  kv_db *db;
  char *z = 0;
  Scan s;
  int i, r;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "cfull");
  db = tuOpen(zDir, o);
  for(i=0; i<2000; i++) aVer[i] = -1;
  for(r=0; r<5; r++){
    for(i=0; i<2000; i++){
      if( (i+r)%7==0 ){ delKey(db, i); aVer[i] = -1; }
      else if( (i*r)%3==0 ){ putKey(db, i, r); aVer[i] = r; }
    }
    assert_int_equal(kv_flush(db), KV_OK);
  }
  scanFiles(db, &s, 0);
  assert_true(s.anFile[0]>=5);
  assert_true(s.nTomb>0);
  assert_int_equal(kv_compact(db, 1, &z), KV_OK);
  assert_non_null(z);
  assert_int_equal(jsonField(z, "files_in"), (u64)s.anFile[0]);
  assert_true(jsonField(z, "files_out")>1);          /* split at 8KB */
  assert_true(jsonField(z, "tombstones_dropped")>=s.nTomb);
  assert_true(jsonField(z, "bytes_out")<jsonField(z, "bytes_in"));
  assert_non_null(strstr(z, "\"ms\":"));
  kv_free(z);
  scanFiles(db, &s, 0);
  assert_int_equal(s.anFile[0], 0);
  assert_int_equal(s.anFile[1], 0);
  assert_int_equal(s.anFile[2], 0);
  assert_true(s.anFile[3]>1);
  assert_int_equal(s.nTomb, 0);
  for(i=0, r=0; i<2000; i++) if( aVer[i]>=0 ) r++;
  assert_int_equal(s.nEntry, (u64)r);                 /* one per live key */
  for(i=0; i<2000; i++) checkKey(db, 0, i, aVer[i]);
  /* Nothing is due afterwards; a full compaction of one run still works. */
  assert_int_equal(kv_compact(db, 0, &z), KV_OK);
  assert_int_equal(jsonField(z, "files_in"), 0);
  kv_free(z);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  kv_close(db);
  db = tuOpen(zDir, o);
  for(i=0; i<2000; i++) checkKey(db, 0, i, aVer[i]);
  assert_int_equal(kv_verify(db, &z), KV_OK);
  assert_string_equal(z, "ok");
  kv_free(z);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Snapshots keep what they see through compactions; released, it goes. */
static void test_merge_snapshots(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "levels=3", "sync=off", NULL);
  kv_snapshot *s1, *s2;
  kv_db *db;
  Scan sc;
  int i;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "csnap");
  db = tuOpen(zDir, o);
  for(i=0; i<100; i++) putKey(db, i, 0);
  s1 = kv_snapshot_new(db);
  putKey(db, 7, 1);
  delKey(db, 8);
  s2 = kv_snapshot_new(db);
  putKey(db, 7, 2);
  putKey(db, 7, 3);                  /* 7@2 is seen by nobody */
  delKey(db, 9);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  scanFiles(db, &sc, "k00007");
  assert_int_equal(sc.nVersionsOf, 3);       /* 0 (s1), 1 (s2), 3 */
  scanFiles(db, &sc, "k00008");
  assert_int_equal(sc.nVersionsOf, 2);       /* the tombstone, 0 for s1 */
  assert_int_equal(sc.nTombOf, 1);
  checkKey(db, s1, 7, 0);
  checkKey(db, s2, 7, 1);
  checkKey(db, 0, 7, 3);
  checkKey(db, s1, 8, 0);
  checkKey(db, s2, 8, -1);
  checkKey(db, s2, 9, 0);
  checkKey(db, 0, 9, -1);
  kv_snapshot_free(db, s1);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  scanFiles(db, &sc, "k00007");
  assert_int_equal(sc.nVersionsOf, 2);       /* 1 (s2), 3 */
  scanFiles(db, &sc, "k00008");
  assert_int_equal(sc.nVersionsOf, 0);       /* s2 sees it deleted too */
  checkKey(db, s2, 7, 1);
  checkKey(db, s2, 9, 0);
  kv_snapshot_free(db, s2);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  scanFiles(db, &sc, "k00007");
  assert_int_equal(sc.nVersionsOf, 1);
  assert_int_equal(sc.nTomb, 0);
  assert_int_equal(sc.nEntry, 98);
  checkKey(db, 0, 7, 3);
  checkKey(db, 0, 8, -1);
  checkKey(db, 0, 9, -1);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* kv_snapshot_keep: its own version and every later one survive a full
** compaction until it is freed (kvstore_backup copies a store that may
** be taken back to any of them). */
static void test_merge_snapshot_keep(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "levels=3", "sync=off", NULL);
  kv_snapshot *s;
  kv_db *db;
  Scan sc;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "ckeep");
  db = tuOpen(zDir, o);
  putKey(db, 7, 0);
  putKey(db, 7, 1);                  /* 7@0 is seen by nobody */
  s = kv_snapshot_keep(db);
  assert_non_null(s);
  putKey(db, 7, 2);
  putKey(db, 7, 3);
  delKey(db, 7);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  scanFiles(db, &sc, "k00007");
  assert_int_equal(sc.nVersionsOf, 4);       /* 1 (s), 2, 3, the tombstone */
  checkKey(db, s, 7, 1);
  checkKey(db, 0, 7, -1);
  kv_snapshot_free(db, s);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  scanFiles(db, &sc, "k00007");
  assert_int_equal(sc.nVersionsOf, 0);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* A tombstone stays while a deeper level may hold its key, and goes at
** the bottom. */
static void test_merge_tombstone_bottom(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "levels=3", "level0_trigger=2",
                            "sync=off", NULL);
  kv_db *db;
  Scan s;
  int i;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "ctomb");
  db = tuOpen(zDir, o);
  for(i=0; i<50; i++) putKey(db, i, 0);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);       /* into L2 */
  scanFiles(db, &s, 0);
  assert_int_equal(s.anFile[2], 1);
  /* Few deletes (under the garbage minimum), two flushes: L0 -> L1. */
  for(i=0; i<5; i++) delKey(db, i);
  tuPut(db, "k99999", "beyond L2's range");
  assert_int_equal(kv_delete(db, "zzz", 3), KV_OK);     /* also beyond */
  assert_int_equal(kv_flush(db), KV_OK);
  for(i=10; i<15; i++) putKey(db, i, 1);
  assert_int_equal(kv_flush(db), KV_OK);               /* compacts inline */
  scanFiles(db, &s, "zzz");
  assert_int_equal(s.anFile[0], 0);
  assert_int_equal(s.anFile[1], 1);
  assert_int_equal(s.nTomb, 5);        /* the five over L2's data stay */
  assert_int_equal(s.nVersionsOf, 0);  /* "zzz": nothing below, dropped */
  for(i=0; i<5; i++) checkKey(db, 0, i, -1);
  for(i=10; i<15; i++) checkKey(db, 0, i, 1);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  scanFiles(db, &s, 0);
  assert_int_equal(s.nTomb, 0);
  assert_int_equal(s.anFile[1], 0);
  assert_int_equal(s.nEntry, 46);
  for(i=0; i<5; i++) checkKey(db, 0, i, -1);
  for(i=5; i<50; i++) checkKey(db, 0, i, i>=10 && i<15 ? 1 : 0);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Deleting most of the data compacts it away without a full compaction
** (the garbage trigger), also in a tiered store. */
static void runGarbage(const char *zStrategy){
  char zDir[256];
  char zOpt[64];
  kv_options *o;
  kv_db *db;
  char *z = 0;
  Scan s;
  int i;
  snprintf(zOpt, sizeof(zOpt), "compaction=%s", zStrategy);
  o = tuOptions("background=off", "levels=3", zOpt, "sync=off", NULL);
  tuTempDir(zDir, sizeof(zDir), "cgarb");
  db = tuOpen(zDir, o);
  for(i=0; i<1000; i++) putKey(db, i, 0);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  for(i=0; i<900; i++) delKey(db, i);
  assert_int_equal(kv_flush(db), KV_OK);    /* garbage-driven, inline */
  scanFiles(db, &s, 0);
  assert_int_equal(s.nTomb, 0);
  assert_int_equal(s.nEntry, 100);
  assert_int_equal(kv_stats(db, &z), KV_OK);
  assert_true(jsonField(z, "garbage_triggered")>=1);
  kv_free(z);
  for(i=0; i<1000; i++) checkKey(db, 0, i, i<900 ? -1 : 0);
  /* With a snapshot held, the tombstones must stay, and picking must not
  ** loop on them. */
  {
    kv_snapshot *snap = kv_snapshot_new(db);
    for(i=900; i<990; i++) delKey(db, i);
    assert_int_equal(kv_flush(db), KV_OK);
    assert_int_equal(kv_compact(db, 0, 0), KV_OK);
    checkKey(db, snap, 950, 0);
    checkKey(db, 0, 950, -1);
    kv_snapshot_free(db, snap);
    assert_int_equal(kv_compact(db, 0, 0), KV_OK);
    scanFiles(db, &s, 0);
    assert_int_equal(s.nTomb, 0);
    assert_int_equal(s.nEntry, 10);
  }
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

static void test_garbage_leveled(void **state){
  (void)state;
  runGarbage("leveled");
}
static void test_garbage_tiered(void **state){
  (void)state;
  runGarbage("tiered");
}

static u64 sstBytes(const char *zDir){
  DIR *d = opendir(zDir);
  struct dirent *e;
  u64 n = 0;
  assert_non_null(d);
  while( (e = readdir(d))!=0 ){
    size_t l = strlen(e->d_name);
    if( l>4 && strcmp(e->d_name+l-4, ".sst")==0 ){
      char zPath[600];
      struct stat st;
      snprintf(zPath, sizeof(zPath), "%s/%s", zDir, e->d_name);
      assert_int_equal(stat(zPath, &st), 0);
      n += (u64)st.st_size;
    }
  }
  closedir(d);
  return n;
}

static int sstExists(kv_db *db, u64 iFile){
  char *z = kvSstPath(db->zDir, iFile);
  struct stat st;
  int b;
  assert_non_null(z);
  b = stat(z, &st)==0;
  kvFree(z);
  return b;
}

/* An iterator pins the files it reads: a compaction does not delete them
** until it is freed, and it keeps reading its snapshot from them. */
static void test_iterator_pins_files(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "level0_trigger=64",
                            "sync=off", NULL);
  kv_db *db;
  kv_iter *it = 0;
  u64 aFile[3];
  int i, n;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "cpin");
  db = tuOpen(zDir, o);
  for(i=0; i<300; i++){
    putKey(db, i, 0);
    if( i%100==99 ) assert_int_equal(kv_flush(db), KV_OK);
  }
  kvDbLock(db);
  assert_int_equal(db->vset.pCurrent->anFile[0], 3);
  for(i=0; i<3; i++) aFile[i] = db->vset.pCurrent->aaFile[0][i]->iFile;
  kvDbUnlock(db);
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  for(i=0; i<300; i++) delKey(db, i);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  for(i=0; i<3; i++) assert_true(sstExists(db, aFile[i]));
  assert_int_equal(kv_iter_first(it), KV_OK);
  for(n=0; kv_iter_valid(it); n++) assert_int_equal(kv_iter_next(it), KV_OK);
  assert_int_equal(n, 300);                         /* its snapshot */
  kv_iter_free(it);
  for(i=0; i<3; i++) assert_false(sstExists(db, aFile[i]));
  /* The iterator's read point kept the deleted rows; now they can go. */
  assert_true(tuCountFiles(zDir, ".sst")>0);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  assert_int_equal(tuCountFiles(zDir, ".sst"), 0);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* ---------------------------------------------------------------------- */
/* Loads.                                                                  */

#define NLOADKEY 20000
#define NLOADOP 1000000

static u64 rngState;
static u64 rnd(void){
  rngState ^= rngState >> 12;
  rngState ^= rngState << 25;
  rngState ^= rngState >> 27;
  return rngState * 2685821657736338717ULL;
}

/* 1M writes over 20k keys, 30% deletes; then a full compaction: the data
** equals the model, no tombstone is left, and the tables are within 1.3x
** of a fresh store holding only the live rows. */
static void test_delete_heavy_load(void **state){
  static int aVer[NLOADKEY];
  char zDir[256], zFresh[256];
  kv_options *o = tuOptions("sync=off", NULL);
  kv_db *db;
  kv_batch *b = kv_batch_new();
  char *z = 0;
  u64 nBytes, nFresh;
  Scan s;
  int i, nLive = 0;
  (void)state;
  rngState = 0x2545F4914F6CDD1DULL;
  tuTempDir(zDir, sizeof(zDir), "cload");
  tuTempDir(zFresh, sizeof(zFresh), "cfresh");
  db = tuOpen(zDir, o);
  for(i=0; i<NLOADKEY; i++) aVer[i] = -1;
  for(i=0; i<NLOADOP; i++){
    int k = (int)(rnd() % NLOADKEY);
    char zKey[32], zVal[128];
    snprintf(zKey, sizeof(zKey), "k%05d", k);
    if( rnd()%10<3 ){
      assert_int_equal(kv_batch_delete(b, zKey, strlen(zKey)), KV_OK);
      aVer[k] = -1;
    }else{
      int n = snprintf(zVal, sizeof(zVal), "value-%d-%d", k, i);
      memset(zVal+n, 'v', 60);        /* ~80-byte values */
      zVal[n+60] = 0;
      assert_int_equal(kv_batch_put(b, zKey, strlen(zKey), zVal, strlen(zVal)), KV_OK);
      aVer[k] = i;
    }
    if( kv_batch_count(b)==100 ){
      assert_int_equal(kv_write(db, b), KV_OK);
      kv_batch_clear(b);
    }
  }
  assert_int_equal(kv_write(db, b), KV_OK);
  kv_batch_clear(b);
  assert_int_equal(kv_compact(db, 1, &z), KV_OK);
  print_message("full compaction: %s\n", z);
  kv_free(z);
  scanFiles(db, &s, 0);
  assert_int_equal(s.nTomb, 0);
  for(i=0; i<NLOADKEY; i++){
    char zKey[32], zVal[128];
    const char *zGot;
    snprintf(zKey, sizeof(zKey), "k%05d", i);
    zGot = tuGet(db, 0, 0, zKey);
    if( aVer[i]<0 ){
      assert_null(zGot);
    }else{
      int n = snprintf(zVal, sizeof(zVal), "value-%d-%d", i, aVer[i]);
      memset(zVal+n, 'v', 60);
      zVal[n+60] = 0;
      assert_non_null(zGot);
      assert_string_equal(zGot, zVal);
      nLive++;
    }
  }
  assert_int_equal(s.nEntry, (u64)nLive);
  assert_int_equal(kv_stats(db, &z), KV_OK);
  print_message("stats: %s\n", z);
  kv_free(z);
  nBytes = sstBytes(zDir);

  /* The fresh store: the live rows only. */
  {
    kv_db *pFresh = tuOpen(zFresh, o);
    kv_iter *it = 0;
    assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
    assert_int_equal(kv_iter_first(it), KV_OK);
    while( kv_iter_valid(it) ){
      size_t nk, nv;
      const void *k = kv_iter_key(it, &nk);
      const void *v = kv_iter_value(it, &nv);
      assert_int_equal(kv_batch_put(b, k, nk, v, nv), KV_OK);
      if( kv_batch_count(b)==100 ){
        assert_int_equal(kv_write(pFresh, b), KV_OK);
        kv_batch_clear(b);
      }
      assert_int_equal(kv_iter_next(it), KV_OK);
    }
    kv_iter_free(it);
    assert_int_equal(kv_write(pFresh, b), KV_OK);
    assert_int_equal(kv_flush(pFresh), KV_OK);
    nFresh = sstBytes(zFresh);
    kv_close(pFresh);
  }
  print_message("sstable bytes after full compaction %llu, fresh store %llu "
                "(%.3fx)\n", (unsigned long long)nBytes,
                (unsigned long long)nFresh, (double)nBytes/(double)nFresh);
  assert_true((double)nBytes <= 1.3*(double)nFresh);
  kv_batch_free(b);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
  tuRemoveDir(zFresh);
}

/* 1000 flushes with background=off: the flush that fills level 0 compacts
** it at once, so it never holds more than level0_trigger tables, and a
** point read consults at most levels + level0_trigger of them. (With the
** background thread: test_compact_crash.c.) */
static void test_flushes_inline(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "levels=5", "level0_trigger=4",
                            "memtable_size=64KB", "target_file_size=16KB",
                            "level_size_multiplier=4", "sync=off", NULL);
  kv_db *db;
  int iFlush, i, nMaxL0 = 0, nMaxProbe = 0;
  (void)state;
  rngState = 0x9E3779B97F4A7C15ULL;
  tuTempDir(zDir, sizeof(zDir), "cflush");
  db = tuOpen(zDir, o);
  for(iFlush=0; iFlush<1000; iFlush++){
    kv_batch *b = kv_batch_new();
    for(i=0; i<20; i++){
      char zKey[32], zVal[96];
      snprintf(zKey, sizeof(zKey), "k%05d", (int)(rnd()%10000));
      snprintf(zVal, sizeof(zVal), "value-%d-%d-with-some-padding", i, iFlush);
      assert_int_equal(kv_batch_put(b, zKey, strlen(zKey), zVal, strlen(zVal)), KV_OK);
    }
    assert_int_equal(kv_write(db, b), KV_OK);
    kv_batch_free(b);
    assert_int_equal(kv_flush(db), KV_OK);
    kvDbLock(db);
    if( db->vset.pCurrent->anFile[0]>nMaxL0 ) nMaxL0 = db->vset.pCurrent->anFile[0];
    kvDbUnlock(db);
  }
  assert_true(nMaxL0 < 4);
  for(i=0; i<2000; i++){
    char zKey[32];
    u64 n0 = atomic_load(&db->counters.nFileProbe), n1;
    snprintf(zKey, sizeof(zKey), "k%05d", (int)(rnd()%12000));
    tuGet(db, 0, 0, zKey);
    n1 = atomic_load(&db->counters.nFileProbe);
    if( (int)(n1-n0)>nMaxProbe ) nMaxProbe = (int)(n1-n0);
  }
  print_message("leveled, background=off: max L0 files %d, max tables per "
                "read %d\n", nMaxL0, nMaxProbe);
  assert_true(nMaxProbe <= 5 + 4);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Three level-0 files of disjoint key sets (key i*3+r written in flush r)
** in store zDir, below the trigger, compacting in the background. */
static kv_db *openThreeLevel0(const char *zDir, kv_options *o){
  kv_db *db = tuOpen(zDir, o);
  Scan s;
  int i, r;
  for(r=0; r<3; r++){
    for(i=0; i<600; i++) putKey(db, i*3 + r, r);
    assert_int_equal(kv_flush(db), KV_OK);
  }
  scanFiles(db, &s, 0);
  assert_int_equal(s.anFile[0], 3);
  return db;
}

/* Within 5 s, a seek compaction empties level 0 of openThreeLevel0()'s
** store; every key then reads its newest value, and the stats count it. */
static void checkSeekCompacted(kv_db *db){
  Scan s;
  char *z = 0;
  int i, r, nWait;
  for(nWait=0; nWait<500; nWait++){
    scanFiles(db, &s, 0);
    if( s.anFile[0]==0 ) break;
    {
      struct timespec ts = { 0, 10*1000*1000 };
      nanosleep(&ts, 0);
    }
  }
  assert_int_equal(s.anFile[0], 0);
  for(r=0; r<3; r++){
    for(i=0; i<600; i++) checkKey(db, 0, i*3 + r, r);
  }
  assert_int_equal(kv_stats(db, &z), KV_OK);
  assert_true(jsonField(z, "seek_triggered")>=1);
  kv_free(z);
}

/*
** Seek compaction: level-0 files below the trigger stay put while the
** store is written; once point reads have probed the newest of them in
** vain (and gone on to older files) max(100, size/16 KiB) times, the
** background thread compacts level 0 although no level is over budget.
** Every key still reads its newest value afterwards; the stats count it.
*/
static void test_seek_compaction(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=on", "memtable_size=64KB",
                            "level0_trigger=8", "sync=off", NULL);
  kv_db *db;
  int i;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "cseek");
  db = openThreeLevel0(zDir, o);
  /* keys of the oldest file: every read probes the two newer ones first */
  for(i=0; i<150; i++) checkKey(db, 0, (i%600)*3, 0);
  checkSeekCompacted(db);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/*
** Seek compaction from scans: a store that is only scanned after its writes
** stopped charges its level-0 files too. Every kv_iter_seek into the range
** of the newest level-0 file (with older files beside it) counts as a probe
** in vain; after max(100, size/16 KiB) of them the background thread
** compacts level 0, and every key reads its newest value, forward and
** backward, afterwards.
*/
static void test_seek_compaction_scans(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=on", "memtable_size=64KB",
                            "level0_trigger=8", "sync=off", NULL);
  kv_db *db;
  kv_iter *it = 0;
  int i;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "cseeks");
  db = openThreeLevel0(zDir, o);
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  for(i=0; i<150; i++){
    char zKey[32];
    snprintf(zKey, sizeof(zKey), "k%05d", (i*7 % 600)*3);
    if( i%2 ){
      assert_int_equal(kv_iter_seek_for_prev(it, zKey, strlen(zKey)), KV_OK);
    }else{
      assert_int_equal(kv_iter_seek(it, zKey, strlen(zKey)), KV_OK);
    }
    assert_true(kv_iter_valid(it));
  }
  kv_iter_free(it);
  checkSeekCompacted(db);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* nFile level-0 files (kv_flush each): key iBase+i with version i in file
** i, and key 99999 in every file, with version iBase+i. */
static void fillLevel0(kv_db *db, int iBase, int nFile){
  int i;
  for(i=0; i<nFile; i++){
    putKey(db, iBase + i, i);
    putKey(db, 99999, iBase + i);
    assert_int_equal(kv_flush(db), KV_OK);
  }
}

/* Every key fillLevel0(db, iBase, nFile) wrote reads its newest value. */
static void checkLevel0(kv_db *db, int iBase, int nFile){
  int i;
  for(i=0; i<nFile; i++) checkKey(db, 0, iBase + i, i);
  checkKey(db, 0, 99999, iBase + nFile - 1);
}

/*
** Point reads over 60 level-0 files: every key is found in its own file,
** the key written in every flush reads its newest value (from the newest
** file), and absent keys stay absent.
*/
static void test_many_level0(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "memtable_size=64KB",
                            "level0_trigger=64", "sync=off", NULL);
  kv_db *db;
  Scan s;
  int i;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "cmany");
  db = tuOpen(zDir, o);
  fillLevel0(db, 0, 60);
  scanFiles(db, &s, 0);
  assert_int_equal(s.anFile[0], 60);
  checkLevel0(db, 0, 60);
  for(i=60; i<70; i++) checkKey(db, 0, i, -1);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* The last kv_close() with background work on waits while level 0 is at
** its trigger: a store opened with a backlog and closed at once is left
** with level 0 compacted, every key intact. kv_close_nowait() does not
** wait (what it leaves depends on timing; only the data is checked). */
static void test_close_compacts_level0(void **state){
  char zDir[256];
  kv_options *oFill = tuOptions("background=off", "memtable_size=64KB",
                                "level0_trigger=64", "sync=off", NULL);
  kv_options *oBg = tuOptions("background=on", "level0_trigger=4",
                              "sync=off", NULL);
  kv_db *db;
  Scan s;
  int r;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "cclose");
  for(r=0; r<2; r++){
    db = tuOpen(zDir, oFill);
    fillLevel0(db, r*100, 12);
    scanFiles(db, &s, 0);
    assert_true(s.anFile[0]>=12);
    kv_close(db);

    db = tuOpen(zDir, oBg);
    if( r==0 ){
      assert_int_equal(kv_close(db), KV_OK);
      db = tuOpen(zDir, oFill);
      scanFiles(db, &s, 0);
      assert_true(s.anFile[0]<4);
    }else{
      assert_int_equal(kv_close_nowait(db), KV_OK);
      db = tuOpen(zDir, oFill);
    }
    checkLevel0(db, r*100, 12);
    kv_close(db);
  }
  kv_options_free(oFill);
  kv_options_free(oBg);
  tuRemoveDir(zDir);
}

/* ---------------------------------------------------------------------- */
/* kv_compact_progress: progress figures and cancellation.                 */

/* The sorted names of the .sst files in zDir, joined by spaces. */
static void sstNames(const char *zDir, char *zOut, size_t nOut){
  char aName[256][32];
  int n = 0, i, j;
  struct dirent *e;
  DIR *d = opendir(zDir);
  assert_non_null(d);
  while( (e = readdir(d))!=0 ){
    size_t nm = strlen(e->d_name);
    if( nm>4 && nm<32 && strcmp(e->d_name+nm-4, ".sst")==0 ){
      assert_true(n<256);
      strcpy(aName[n++], e->d_name);
    }
  }
  closedir(d);
  for(i=1; i<n; i++){
    for(j=i; j>0 && strcmp(aName[j-1], aName[j])>0; j--){
      char t[32];
      strcpy(t, aName[j]); strcpy(aName[j], aName[j-1]); strcpy(aName[j-1], t);
    }
  }
  zOut[0] = 0;
  for(i=0; i<n; i++){
    assert_true(strlen(zOut)+strlen(aName[i])+2<nOut);
    strcat(zOut, aName[i]);
    strcat(zOut, " ");
  }
}

typedef struct ProgressLog ProgressLog;
struct ProgressLog {
  kv_db *db;
  int nCall;                    /* calls so far */
  int nCancelAt;                /* return 1 at this call (0: never) */
  uint64_t nLastDone, nPlanned;
  int bBackwards;               /* nDone went down or past nPlanned */
  int bStatsSeen;               /* kv_stats showed the same figures */
};

static int progressCb(void *pArg, uint64_t nDone, uint64_t nPlanned){
  ProgressLog *p = (ProgressLog*)pArg;
  char *z = 0;
  p->nCall++;
  if( nDone<p->nLastDone || nDone>nPlanned ) p->bBackwards = 1;
  p->nLastDone = nDone;
  p->nPlanned = nPlanned;
  /* Called without engine locks: kv_stats works and shows the figures. */
  if( nDone>0 && kv_stats(p->db, &z)==KV_OK ){
    const char *zP = strstr(z, "\"progress\":");
    if( zP && jsonField(zP, "bytes_done")==nDone
     && jsonField(zP, "bytes_planned")==nPlanned ){
      p->bStatsSeen = 1;
    }
  }
  kv_free(z);
  return p->nCancelAt && p->nCall>=p->nCancelAt;
}

/* A full compaction cancelled part-way leaves the same files and the same
** Merkle root, is not sticky, and runs to the end when not cancelled;
** progress rises to the bytes planned and kv_stats shows it meanwhile. */
static void test_compact_progress_cancel(void **state){
  char zDir[256], zBefore[8192], zAfter[8192];
  kv_options *o = tuOptions("background=off", "memtable_size=64KB",
                            "levels=4", "level0_trigger=64",
                            "target_file_size=8KB", "sync=off", NULL);
  unsigned char aRoot[32], aRoot2[32];
  ProgressLog log;
  kv_db *db;
  char *z = 0;
  int i, r;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "cprog");
  db = tuOpen(zDir, o);
  for(r=0; r<4; r++){
    for(i=0; i<3000; i++) putKey(db, i, r);
    assert_int_equal(kv_flush(db), KV_OK);
  }
  assert_int_equal(kv_merkle(db, aRoot), KV_OK);
  sstNames(zDir, zBefore, sizeof(zBefore));

  /* Cancelled at once (the first call, before any table is written). */
  memset(&log, 0, sizeof(log));
  log.db = db;
  log.nCancelAt = 1;
  assert_int_equal(kv_compact_progress(db, 1, progressCb, &log, &z),
                   KV_INTERRUPT);
  assert_null(z);
  assert_non_null(strstr(kv_errmsg(db), "interrupted; the store is unchanged"));
  assert_int_equal(log.nCall, 1);
  assert_int_equal(log.nLastDone, 0);
  assert_true(log.nPlanned>0);

  /* Cancelled part-way: some outputs were written (8KB each), then gone. */
  memset(&log, 0, sizeof(log));
  log.db = db;
  log.nCancelAt = 20;
  assert_int_equal(kv_compact_progress(db, 1, progressCb, &log, 0),
                   KV_INTERRUPT);
  assert_int_equal(log.nCall, 20);
  assert_true(log.nLastDone>0 && log.nLastDone<log.nPlanned);
  assert_false(log.bBackwards);
  assert_true(log.bStatsSeen);
  sstNames(zDir, zAfter, sizeof(zAfter));
  assert_string_equal(zAfter, zBefore);
  assert_int_equal(kv_merkle(db, aRoot2), KV_OK);
  assert_memory_equal(aRoot, aRoot2, 32);
  assert_int_equal(kv_stats(db, &z), KV_OK);
  assert_non_null(strstr(z, "\"progress\":{\"bytes_done\":0,\"bytes_planned\":0}"));
  kv_free(z);

  /* Not sticky: writes work, and the same compaction runs to its end. */
  putKey(db, 5000, 1);
  memset(&log, 0, sizeof(log));
  log.db = db;
  assert_int_equal(kv_compact_progress(db, 1, progressCb, &log, &z), KV_OK);
  assert_true(jsonField(z, "files_out")>1);
  kv_free(z);
  assert_true(log.nCall>20);
  assert_false(log.bBackwards);
  sstNames(zDir, zAfter, sizeof(zAfter));
  assert_string_not_equal(zAfter, zBefore);
  for(i=0; i<3000; i++) checkKey(db, 0, i, 3);
  checkKey(db, 0, 5000, 1);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* A compaction that waits for one another thread runs asks its callback
** meanwhile (0 of 0 bytes) and stops when told to; the running one goes
** on and finishes. The running one is held in its own callback until the
** waiting call has returned, so the order is certain. */
typedef struct HeldCompaction HeldCompaction;
struct HeldCompaction {
  kv_db *db;
  atomic_int bStarted;          /* the held compaction is merging */
  atomic_int bRelease;          /* let it go on */
  int rc;
};

static int holdCb(void *pArg, uint64_t nDone, uint64_t nPlanned){
  HeldCompaction *p = (HeldCompaction*)pArg;
  (void)nDone;
  (void)nPlanned;
  atomic_store(&p->bStarted, 1);
  while( !atomic_load(&p->bRelease) ){
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, 0);
  }
  return 0;
}

static void *holdThread(void *pArg){
  HeldCompaction *p = (HeldCompaction*)pArg;
  p->rc = kv_compact_progress(p->db, 1, holdCb, p, 0);
  return 0;
}

static int waitCb(void *pArg, uint64_t nDone, uint64_t nPlanned){
  int *pnCall = (int*)pArg;
  (*pnCall)++;
  assert_int_equal(nDone, 0);
  assert_int_equal(nPlanned, 0);       /* waiting, not merging */
  return *pnCall>=3;
}

static void test_compact_progress_cancel_waiting(void **state){
  char zDir[256];
  kv_options *o = tuOptions("background=off", "memtable_size=64KB",
                            "sync=off", NULL);
  HeldCompaction h;
  pthread_t th;
  kv_db *db;
  int i, nCall = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "cwait");
  db = tuOpen(zDir, o);
  for(i=0; i<2000; i++) putKey(db, i, 1);
  assert_int_equal(kv_flush(db), KV_OK);
  for(i=0; i<2000; i++) putKey(db, i, 2);
  memset(&h, 0, sizeof(h));
  h.db = db;
  atomic_init(&h.bStarted, 0);
  atomic_init(&h.bRelease, 0);
  assert_int_equal(pthread_create(&th, 0, holdThread, &h), 0);
  while( !atomic_load(&h.bStarted) ){
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, 0);
  }
  assert_int_equal(kv_compact_progress(db, 0, waitCb, &nCall, 0),
                   KV_INTERRUPT);
  assert_int_equal(nCall, 3);
  assert_non_null(strstr(kv_errmsg(db), "while waiting for a running one"));
  atomic_store(&h.bRelease, 1);
  assert_int_equal(pthread_join(th, 0), 0);
  assert_int_equal(h.rc, KV_OK);
  for(i=0; i<2000; i++) checkKey(db, 0, i, 2);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_drop_rule),
    cmocka_unit_test(test_pick_leveled),
    cmocka_unit_test(test_pick_garbage),
    cmocka_unit_test(test_pick_tiered),
    cmocka_unit_test(test_merge_full),
    cmocka_unit_test(test_merge_snapshots),
    cmocka_unit_test(test_merge_snapshot_keep),
    cmocka_unit_test(test_merge_tombstone_bottom),
    cmocka_unit_test(test_garbage_leveled),
    cmocka_unit_test(test_garbage_tiered),
    cmocka_unit_test(test_iterator_pins_files),
    cmocka_unit_test(test_delete_heavy_load),
    cmocka_unit_test(test_flushes_inline),
    cmocka_unit_test(test_seek_compaction),
    cmocka_unit_test(test_seek_compaction_scans),
    cmocka_unit_test(test_many_level0),
    cmocka_unit_test(test_close_compacts_level0),
    cmocka_unit_test(test_compact_progress_cancel),
    cmocka_unit_test(test_compact_progress_cancel_waiting),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
