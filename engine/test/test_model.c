/*
** test_model.c - the store against an in-memory reference model.
**
** 100,000 random operations (put, delete, range delete, multi-key
** batches, get, get at a
** snapshot, iteration forward and backward with seeks and direction
** changes) over a universe of keys chosen to stress ordering (prefixes of
** one another, embedded 0x00 and 0xff bytes, the empty key), with the
** smallest memtable (many flushes, many overlapping level-0 tables) and a
** reopen every 10,000 operations. Every read is compared with the model;
** any difference fails the test with the operation number.
**
** Runs four times: compaction=leveled and compaction=tiered, each with
** background=off (deterministic) and background=on (flushes and
** compactions racing the operations). The tree is kept small (level0
** trigger 2, 16 KB tables, multiplier 4) so compactions reach every level,
** and some operations are explicit compactions (due ones, or a full one)
** run while the random snapshot is held, so snapshots live across them.
*/
#include <stdint.h>
#include <unistd.h>

#include "testutil.h"

#define NKEY 2500
#define NOP 100000
#define REOPEN_EVERY 10000

typedef struct Key Key;
struct Key {
  u8 a[24];
  int n;
};
typedef struct Val Val;
struct Val {
  int bLive;
  u8 *a;
  size_t n;
};

static Key aKey[NKEY];          /* universe, sorted by memcmp order */
static Val aModel[NKEY];        /* current state */
static Val aSnapModel[NKEY];    /* state at the open snapshot */
static u64 rngState;

static u64 rnd(void){
  /* xorshift64*: deterministic across platforms */
  rngState ^= rngState >> 12;
  rngState ^= rngState << 25;
  rngState ^= rngState >> 27;
  return rngState * 2685821657736338717ULL;
}
static int rndInt(int n){ return (int)(rnd() % (u64)n); }

static int keyCmp(const void *a, const void *b){
  const Key *x = a, *y = b;
  return kvUKeyCmp(x->a, (size_t)x->n, y->a, (size_t)y->n);
}

static void makeUniverse(void){
  int i, j;
  for(i=0; i<NKEY; i++){
    Key *k = &aKey[i];
    switch( i%5 ){
      case 0:                 /* short decimal: many prefix relations */
        k->n = snprintf((char*)k->a, sizeof(k->a), "%d", i/5);
        break;
      case 1:                 /* fixed width */
        k->n = snprintf((char*)k->a, sizeof(k->a), "key%06d", i);
        break;
      case 2:                 /* binary with 0x00 and 0xff */
        k->n = 1 + i%9;
        for(j=0; j<k->n; j++) k->a[j] = (u8)((i*31 + j*97) & 0xff);
        k->a[0] = (u8)(i&1 ? 0xff : 0x00);
        break;
      case 3:                 /* a prefix of case 1 keys */
        k->n = snprintf((char*)k->a, sizeof(k->a), "key%04d", i/10);
        break;
      default:
        k->n = snprintf((char*)k->a, sizeof(k->a), "z%dx", i);
        break;
    }
  }
  aKey[0].n = 0;              /* the empty key */
  qsort(aKey, NKEY, sizeof(Key), keyCmp);
  /* Replace duplicates by keys of a form no generator above makes. */
  for(i=1, j=1; i<NKEY; i++){
    if( keyCmp(&aKey[j-1], &aKey[i])!=0 ) aKey[j++] = aKey[i];
  }
  for(i=j; i<NKEY; i++){
    aKey[i].n = snprintf((char*)aKey[i].a, sizeof(aKey[i].a), "dup%05d", i);
  }
  qsort(aKey, NKEY, sizeof(Key), keyCmp);
  for(i=1; i<NKEY; i++) assert_true(keyCmp(&aKey[i-1], &aKey[i])<0);
}

static void valSet(Val *v, const u8 *a, size_t n){
  free(v->a);
  v->a = malloc(n ? n : 1);
  memcpy(v->a, a, n);
  v->n = n;
  v->bLive = 1;
}
static void valDel(Val *v){
  free(v->a);
  v->a = 0;
  v->n = 0;
  v->bLive = 0;
}

static size_t randomValue(u8 *a, int iOp){
  size_t n = (size_t)(rndInt(50)==0 ? 1000 + rndInt(3000) : rndInt(64));
  size_t i;
  for(i=0; i<n; i++) a[i] = (u8)(iOp + i*7);
  return n;
}

static void checkGet(kv_db *db, const kv_snapshot *s, Val *aM, int iKey,
                     int iOp){
  void *p = 0;
  size_t n = 0;
  int rc = kv_get(db, s, 0, aKey[iKey].a, (size_t)aKey[iKey].n, &p, &n);
  if( aM[iKey].bLive ){
    if( rc!=KV_OK ) fail_msg("op %d: get key %d: rc %d (%s), expected value", iOp, iKey, rc, kv_errmsg(db));
    if( n!=aM[iKey].n || memcmp(p, aM[iKey].a, n)!=0 ){
      fail_msg("op %d: get key %d: wrong value", iOp, iKey);
    }
  }else if( rc!=KV_NOTFOUND ){
    fail_msg("op %d: get key %d: rc %d, expected not found", iOp, iKey, rc);
  }
  kv_free(p);
}

/* Check that the iterator sits on model position i (or is invalid when i
** is out of range). */
static void checkPos(kv_iter *it, int i, int iOp){
  if( i<0 || i>=NKEY ){
    if( kv_iter_valid(it) ) fail_msg("op %d: iterator valid, expected end", iOp);
    return;
  }
  if( !kv_iter_valid(it) ) fail_msg("op %d: iterator ended, expected key %d", iOp, i);
  {
    size_t nk, nv;
    const void *k = kv_iter_key(it, &nk);
    const void *v = kv_iter_value(it, &nv);
    if( nk!=(size_t)aKey[i].n || memcmp(k, aKey[i].a, nk)!=0 ){
      fail_msg("op %d: iterator at wrong key (expected %d)", iOp, i);
    }
    if( nv!=aModel[i].n || memcmp(v, aModel[i].a, nv)!=0 ){
      fail_msg("op %d: iterator value differs at key %d", iOp, i);
    }
  }
}

static int nextLive(int i){
  for(i++; i<NKEY && !aModel[i].bLive; i++){}
  return i;
}
static int prevLive(int i){
  for(i--; i>=0 && !aModel[i].bLive; i--){}
  return i;
}

static void checkIter(kv_db *db, int iOp){
  kv_iter *it = 0;
  int i, nStep, s;
  int iTarget = rndInt(NKEY);
  int eStart = rndInt(4);
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  switch( eStart ){
    case 0:
      assert_int_equal(kv_iter_first(it), KV_OK);
      i = nextLive(-1);
      break;
    case 1:
      assert_int_equal(kv_iter_last(it), KV_OK);
      i = prevLive(NKEY);
      break;
    case 2:
      assert_int_equal(kv_iter_seek(it, aKey[iTarget].a, (size_t)aKey[iTarget].n), KV_OK);
      i = aModel[iTarget].bLive ? iTarget : nextLive(iTarget);
      break;
    default:
      assert_int_equal(kv_iter_seek_for_prev(it, aKey[iTarget].a, (size_t)aKey[iTarget].n), KV_OK);
      i = aModel[iTarget].bLive ? iTarget : prevLive(iTarget);
      break;
  }
  checkPos(it, i, iOp);
  nStep = rndInt(30);
  for(s=0; s<nStep && i>=0 && i<NKEY; s++){
    if( rndInt(4)==0 ){
      assert_int_equal(kv_iter_prev(it), KV_OK);
      i = prevLive(i);
    }else{
      assert_int_equal(kv_iter_next(it), KV_OK);
      i = nextLive(i);
    }
    checkPos(it, i, iOp);
  }
  kv_iter_free(it);
}

static void runModel(const char *zBackground, const char *zCompaction,
                     u64 seed){
  char zDir[256];
  char zBg[64];
  char zComp[64];
  kv_options *o;
  kv_db *db;
  kv_snapshot *pSnap = 0;
  static u8 aBuf[8192];
  int iOp, i;

  rngState = seed;
  memset(aModel, 0, sizeof(aModel));
  memset(aSnapModel, 0, sizeof(aSnapModel));
  tuTempDir(zDir, sizeof(zDir), "model");
  snprintf(zBg, sizeof(zBg), "background=%s", zBackground);
  snprintf(zComp, sizeof(zComp), "compaction=%s", zCompaction);
  o = tuOptions(zBg, zComp, "memtable_size=64KB", "block_size=512",
                "cache_size=8MB", "sync=off", "levels=4", "level0_trigger=2",
                "target_file_size=16KB", "level_size_multiplier=4", NULL);
  db = tuOpen(zDir, o);

  for(iOp=0; iOp<NOP; iOp++){
    int r = rndInt(100);
    int k = rndInt(NKEY);
    if( iOp>0 && iOp%REOPEN_EVERY==0 ){
      if( pSnap ){ kv_snapshot_free(db, pSnap); pSnap = 0; }
      assert_int_equal(kv_close(db), KV_OK);
      db = tuOpen(zDir, o);
    }
    if( r<38 ){                                   /* put */
      size_t n = randomValue(aBuf, iOp);
      int rc = kv_put(db, aKey[k].a, (size_t)aKey[k].n, aBuf, n);
      if( rc ) fail_msg("op %d: put: %d %s", iOp, rc, kv_errmsg(db));
      valSet(&aModel[k], aBuf, n);
    }else if( r<53 && rndInt(5)==0 ){             /* range delete */
      int hi = k + 1 + rndInt(30), j;
      kv_batch *b = kv_batch_new();
      if( hi>NKEY-1 ) hi = NKEY-1;
      assert_int_equal(kv_batch_delete_range(b, aKey[k].a, (size_t)aKey[k].n,
                                             aKey[hi].a, (size_t)aKey[hi].n),
                       KV_OK);
      assert_int_equal(kv_write(db, b), KV_OK);
      kv_batch_free(b);
      for(j=k; j<hi; j++) valDel(&aModel[j]);
    }else if( r<53 ){                             /* delete */
      assert_int_equal(kv_delete(db, aKey[k].a, (size_t)aKey[k].n), KV_OK);
      valDel(&aModel[k]);
    }else if( r<60 ){                             /* batch */
      kv_batch *b = kv_batch_new();
      int nOp = 1 + rndInt(8), j;
      int aK[8], aDel[8];
      size_t aN[8];
      static u8 aV[8][4200];
      for(j=0; j<nOp; j++){
        aK[j] = rndInt(NKEY);
        aDel[j] = rndInt(3)==0;
        if( aDel[j] ){
          assert_int_equal(kv_batch_delete(b, aKey[aK[j]].a, (size_t)aKey[aK[j]].n), KV_OK);
        }else{
          aN[j] = randomValue(aV[j], iOp+j);
          assert_int_equal(kv_batch_put(b, aKey[aK[j]].a, (size_t)aKey[aK[j]].n, aV[j], aN[j]), KV_OK);
        }
      }
      assert_int_equal(kv_write(db, b), KV_OK);
      for(j=0; j<nOp; j++){
        if( aDel[j] ) valDel(&aModel[aK[j]]);
        else valSet(&aModel[aK[j]], aV[j], aN[j]);
      }
      kv_batch_free(b);
    }else if( r<80 ){                             /* get */
      checkGet(db, 0, aModel, k, iOp);
    }else if( r<83 ){                             /* snapshot */
      if( pSnap ){
        for(i=0; i<20; i++) checkGet(db, pSnap, aSnapModel, rndInt(NKEY), iOp);
        kv_snapshot_free(db, pSnap);
        pSnap = 0;
      }else{
        pSnap = kv_snapshot_new(db);
        assert_non_null(pSnap);
        for(i=0; i<NKEY; i++){
          if( aModel[i].bLive ) valSet(&aSnapModel[i], aModel[i].a, aModel[i].n);
          else valDel(&aSnapModel[i]);
        }
      }
    }else if( r<84 && rndInt(4)==0 ){             /* flush, compact */
      int e = rndInt(4);
      int rc = e<2 ? kv_flush(db) : kv_compact(db, e==3, 0);
      if( rc ) fail_msg("op %d: %s: %d %s", iOp, e<2 ? "flush" : "compact",
                        rc, kv_errmsg(db));
    }else if( r<84 ){
      checkGet(db, 0, aModel, k, iOp);
    }else{                                        /* iterate */
      checkIter(db, iOp);
    }
  }
  /* A final full comparison, forward. */
  {
    kv_iter *it = 0;
    assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
    assert_int_equal(kv_iter_first(it), KV_OK);
    for(i=nextLive(-1); i<NKEY; i=nextLive(i)){
      checkPos(it, i, NOP);
      assert_int_equal(kv_iter_next(it), KV_OK);
    }
    assert_false(kv_iter_valid(it));
    kv_iter_free(it);
  }
  if( pSnap ) kv_snapshot_free(db, pSnap);
  {
    /* Compaction really ran in this run (counts since the last reopen). */
    char *z = 0;
    const char *p;
    assert_int_equal(kv_stats(db, &z), KV_OK);
    p = strstr(z, "\"compactions\":");
    assert_non_null(p);
    assert_true(strtoull(p + 14, 0, 10) > 0);
    print_message("%s/%s: %.60s\n", zCompaction, zBackground, p);
    kv_free(z);
  }
  {
    char *z = 0;
    assert_int_equal(kv_verify(db, &z), KV_OK);
    assert_string_equal(z, "ok");
    kv_free(z);
  }
  assert_int_equal(kv_close(db), KV_OK);
  for(i=0; i<NKEY; i++){ valDel(&aModel[i]); valDel(&aSnapModel[i]); }
  kv_options_free(o);
  tuRemoveDir(zDir);
}

static void test_model_inline(void **state){
  (void)state;
  makeUniverse();
  runModel("off", "leveled", 0x9E3779B97F4A7C15ULL);
}

static void test_model_background(void **state){
  (void)state;
  makeUniverse();
  runModel("on", "leveled", 0xD1B54A32D192ED03ULL);
}

static void test_model_tiered_inline(void **state){
  (void)state;
  makeUniverse();
  runModel("off", "tiered", 0x94D049BB133111EBULL);
}

static void test_model_tiered_background(void **state){
  (void)state;
  makeUniverse();
  runModel("on", "tiered", 0xBF58476D1CE4E5B9ULL);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_model_inline),
    cmocka_unit_test(test_model_background),
    cmocka_unit_test(test_model_tiered_inline),
    cmocka_unit_test(test_model_tiered_background),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
