/*
** test_dbiter.c - the store iterator's step (dbiter.c): each live key
** once, with its newest visible version, when versions of one key sit in
** several places (memtable, level 0, deeper levels) and keys differ in
** their last, first or ninth byte, or only in length. The forward step
** tests "same key as the one just left" with an equality test on 8-byte
** words (the tail one overlapping); these keys are where such a test goes
** wrong first.
*/
#include "testutil.h"

/* A key of the test: bytes and the model's view of it. */
typedef struct TKey TKey;
struct TKey {
  u8 a[40];
  size_t n;
  char zVal[32];                /* newest visible value, "" if deleted */
  char zSnapVal[32];            /* as seen by the snapshot */
};

static int tkeyCmp(const void *pa, const void *pb){
  const TKey *x = pa, *y = pb;
  return kvUKeyCmp(x->a, x->n, y->a, y->n);
}

/* The keys: for each length, runs of 'a' and variants differing in the
** last byte, the first, the ninth; a key and the same key + "\0". */
static int makeKeys(TKey *aKey, int nMax){
  static const int aLen[] = {1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 25, 33};
  int n = 0;
  int i;
  for(i=0; i<(int)(sizeof(aLen)/sizeof(aLen[0])); i++){
    int l = aLen[i];
    int v;
    for(v=0; v<5; v++){
      TKey *k = &aKey[n];
      assert_true( n<nMax );
      memset(k, 0, sizeof(*k));
      memset(k->a, 'a', (size_t)l);
      k->n = (size_t)l;
      if( v==1 ) k->a[l-1] = 'b';
      if( v==2 ) k->a[0] = 'b';
      if( v==3 ){
        if( l<9 ) continue;
        k->a[8] = 'b';
      }
      if( v==4 ){
        k->a[l] = 0;            /* the key followed by a zero byte */
        k->n = (size_t)l + 1;
      }
      n++;
    }
  }
  qsort(aKey, (size_t)n, sizeof(TKey), tkeyCmp);
  /* (no duplicates: "b" + 'a'* from v==2 and v==1 differ for l > 1; for
  ** l == 1 they are the same key "b": drop the repeats) */
  for(i=1; i<n; ){
    if( tkeyCmp(&aKey[i-1], &aKey[i])==0 ){
      memmove(&aKey[i], &aKey[i+1], sizeof(TKey)*(size_t)(n - i - 1));
      n--;
    }else{
      i++;
    }
  }
  return n;
}

static void put(kv_db *db, TKey *k, const char *zVal){
  assert_int_equal(kv_put(db, k->a, k->n, zVal, strlen(zVal)), KV_OK);
  snprintf(k->zVal, sizeof(k->zVal), "%s", zVal);
}
static void del(kv_db *db, TKey *k){
  assert_int_equal(kv_delete(db, k->a, k->n), KV_OK);
  k->zVal[0] = 0;
}

/* The iterator must be on aKey[i] with value z. */
static void checkOn(kv_iter *it, const TKey *k, const char *z){
  const void *pK, *pV;
  size_t nK, nV;
  assert_int_equal(kv_iter_valid(it), 1);
  assert_int_equal(kv_iter_entry(it, &pK, &nK, &pV, &nV), 1);
  assert_int_equal(nK, k->n);
  assert_memory_equal(pK, k->a, nK);
  assert_int_equal(nV, strlen(z));
  assert_memory_equal(pV, z, nV);
}

/* Live keys of the model (index list), as seen now or by the snapshot. */
static int liveKeys(const TKey *aKey, int nKey, int bSnap, int *aLive){
  int n = 0;
  int i;
  for(i=0; i<nKey; i++){
    const char *z = bSnap ? aKey[i].zSnapVal : aKey[i].zVal;
    if( z[0] ) aLive[n++] = i;
  }
  return n;
}

static const char *valOf(const TKey *k, int bSnap){
  return bSnap ? k->zSnapVal : k->zVal;
}

/* Forward and backward scans, and turns at every key, against the model. */
static void checkScans(kv_db *db, const kv_snapshot *snap, TKey *aKey,
                       int nKey){
  int aLive[256];
  int nLive = liveKeys(aKey, nKey, snap!=0, aLive);
  kv_iter *it = 0;
  int i;
  assert_true( nLive>0 );
  assert_int_equal(kv_iter_new(db, snap, 0, &it), KV_OK);

  assert_int_equal(kv_iter_first(it), KV_OK);
  for(i=0; i<nLive; i++){
    checkOn(it, &aKey[aLive[i]], valOf(&aKey[aLive[i]], snap!=0));
    assert_int_equal(kv_iter_next(it), KV_OK);
  }
  assert_int_equal(kv_iter_valid(it), 0);

  assert_int_equal(kv_iter_last(it), KV_OK);
  for(i=nLive-1; i>=0; i--){
    checkOn(it, &aKey[aLive[i]], valOf(&aKey[aLive[i]], snap!=0));
    assert_int_equal(kv_iter_prev(it), KV_OK);
  }
  assert_int_equal(kv_iter_valid(it), 0);

  /* forward two, back one, forward two...: every key reached both ways */
  assert_int_equal(kv_iter_first(it), KV_OK);
  i = 0;
  while( i+2<nLive ){
    assert_int_equal(kv_iter_next(it), KV_OK);
    assert_int_equal(kv_iter_next(it), KV_OK);
    checkOn(it, &aKey[aLive[i+2]], valOf(&aKey[aLive[i+2]], snap!=0));
    assert_int_equal(kv_iter_prev(it), KV_OK);
    checkOn(it, &aKey[aLive[i+1]], valOf(&aKey[aLive[i+1]], snap!=0));
    i++;
  }
  kv_iter_free(it);
}

static void test_dbiter_versions_across_levels(void **state){
  char zDir[256];
  TKey aKey[80];
  kv_options *o;
  kv_db *db;
  kv_snapshot *snap;
  int nKey, i;
  (void)state;
  nKey = makeKeys(aKey, (int)(sizeof(aKey)/sizeof(aKey[0])));
  assert_true( nKey>40 );
  tuTempDir(zDir, sizeof(zDir), "dbiter");
  o = tuOptions("background=off", NULL);
  db = tuOpen(zDir, o);

  /* version 1 of every key, pushed to the deepest level */
  for(i=0; i<nKey; i++) put(db, &aKey[i], "v1");
  assert_int_equal(kv_flush(db), KV_OK);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  /* version 2 of every other key, a tombstone over every fifth: level 0 */
  for(i=0; i<nKey; i++){
    if( i%5==0 ) del(db, &aKey[i]);
    else if( i%2==0 ) put(db, &aKey[i], "v2");
  }
  assert_int_equal(kv_flush(db), KV_OK);
  /* the snapshot sees that much */
  for(i=0; i<nKey; i++) strcpy(aKey[i].zSnapVal, aKey[i].zVal);
  snap = kv_snapshot_new(db);
  assert_non_null(snap);
  /* version 3 of every third key in the memtable, some deleted ones put
  ** back, some deleted now */
  for(i=0; i<nKey; i++){
    if( i%3==0 ) put(db, &aKey[i], "v3");
    else if( i%7==1 ) del(db, &aKey[i]);
  }
  checkScans(db, 0, aKey, nKey);
  checkScans(db, snap, aKey, nKey);

  /* again with the memtable in level 0, then all in one level */
  assert_int_equal(kv_flush(db), KV_OK);
  checkScans(db, 0, aKey, nKey);
  checkScans(db, snap, aKey, nKey);
  kv_snapshot_free(db, snap);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  checkScans(db, 0, aKey, nKey);

  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

/* Two keys of the same length whose first eight bytes agree and whose
** last eight (overlapping the first) differ, each with versions in the
** memtable and a table: the forward step must not take the second for
** a version of the first. */
static void test_dbiter_same_length_keys(void **state){
  char zDir[256];
  kv_options *o;
  kv_db *db;
  kv_iter *it = 0;
  static const char *azKey[] = {
    "abcdefghij", "abcdefghik", "abcdefghzj", "bbcdefghij", "abcdefgh",
    "abcdefgi", "abcdefghijklmnop", "abcdefghijklmnoq", "abcdefghijklmnopq",
  };
  const int nKey = (int)(sizeof(azKey)/sizeof(azKey[0]));
  const char *azSorted[16];
  int i, n;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "dbiter2");
  o = tuOptions("background=off", NULL);
  db = tuOpen(zDir, o);
  for(i=0; i<nKey; i++) tuPut(db, azKey[i], "old");
  assert_int_equal(kv_flush(db), KV_OK);
  for(i=0; i<nKey; i++) tuPut(db, azKey[i], azKey[i]);
  for(i=0; i<nKey; i++) azSorted[i] = azKey[i];
  /* insertion sort by memcmp order, shorter first on a tie */
  for(i=1; i<nKey; i++){
    const char *z = azSorted[i];
    int j = i;
    while( j>0 && kvUKeyCmp((const u8*)azSorted[j-1], strlen(azSorted[j-1]),
                            (const u8*)z, strlen(z))>0 ){
      azSorted[j] = azSorted[j-1];
      j--;
    }
    azSorted[j] = z;
  }
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  n = 0;
  for(assert_int_equal(kv_iter_first(it), KV_OK); kv_iter_valid(it);
      assert_int_equal(kv_iter_next(it), KV_OK)){
    const void *pK, *pV;
    size_t nK, nV;
    assert_true( n<nKey );
    assert_int_equal(kv_iter_entry(it, &pK, &nK, &pV, &nV), 1);
    assert_int_equal(nK, strlen(azSorted[n]));
    assert_memory_equal(pK, azSorted[n], nK);
    assert_int_equal(nV, nK);                   /* the new value: the key */
    assert_memory_equal(pV, azSorted[n], nV);
    n++;
  }
  assert_int_equal(n, nKey);
  kv_iter_free(it);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dbiter_versions_across_levels),
    cmocka_unit_test(test_dbiter_same_length_keys),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
