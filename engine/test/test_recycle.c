/*
** test_recycle.c - kv_iter_recycle: the store keeps one iterator for the
** next kv_iter_new that reads the same state (memtables, tables, read
** point), and never hands it out for any other: after a write, a flush, a
** compaction, under an older snapshot, or with a batch, the new iterator
** sees what a fresh one would. A kept iterator holds no read point.
*/
#include <stdint.h>
#include <unistd.h>
#include <stdio.h>

#include "testutil.h"

static char zDir[256];

/* The key an iterator over db shows at or after zFrom, or "" (static). */
static const char *keyFrom(kv_iter *it, const char *zFrom){
  static char z[64];
  size_t n;
  const char *k;
  assert_int_equal(kv_iter_seek(it, zFrom, strlen(zFrom)), KV_OK);
  if( !kv_iter_valid(it) ) return "";
  k = kv_iter_key(it, &n);
  snprintf(z, sizeof(z), "%.*s", (int)n, k);
  return z;
}

/* Live read points of the store (snapshots and iterators). */
static int nReadPoints(kv_db *db){
  KvSnapLink *p;
  int n = 0;
  kvDbLock(db);
  for(p=db->snapHead.pNext; p!=&db->snapHead; p=p->pNext) n++;
  kvDbUnlock(db);
  return n;
}

static void test_recycle_reuses_same_state(void **state){
  kv_options *o = tuOptions("background=off", NULL);
  kv_db *db;
  kv_iter *it = 0, *it2 = 0;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "recycle");
  db = tuOpen(zDir, o);
  tuPut(db, "b", "1");
  tuPut(db, "d", "2");
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  assert_string_equal(keyFrom(it, "c"), "d");
  assert_int_equal(nReadPoints(db), 1);
  kv_iter_recycle(it);
  assert_int_equal(nReadPoints(db), 0);   /* kept, but reads nothing */
  assert_ptr_equal(db->pSpareIter, it);

  /* Nothing changed: the same iterator, positioned afresh. */
  assert_int_equal(kv_iter_new(db, 0, 0, &it2), KV_OK);
  assert_ptr_equal(it2, it);
  assert_null(db->pSpareIter);
  assert_int_equal(nReadPoints(db), 1);
  assert_false(kv_iter_valid(it2));
  assert_string_equal(keyFrom(it2, "a"), "b");
  assert_int_equal(kv_iter_next(it2), KV_OK);
  assert_int_equal(kv_iter_next(it2), KV_OK);
  assert_false(kv_iter_valid(it2));
  kv_iter_recycle(it2);

  /* A write: a new read point, so a new iterator that sees the key. */
  tuPut(db, "c", "3");
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  assert_string_equal(keyFrom(it, "c"), "c");
  assert_null(db->pSpareIter);
  kv_iter_recycle(it);
  assert_non_null(db->pSpareIter);

  /* A flush drops the kept one (it pins the old memtable). */
  assert_int_equal(kv_flush(db), KV_OK);
  assert_null(db->pSpareIter);
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  assert_string_equal(keyFrom(it, "bb"), "c");
  kv_iter_recycle(it);
  assert_non_null(db->pSpareIter);
  assert_int_equal(kv_compact(db, 1, 0), KV_OK);
  assert_null(db->pSpareIter);

  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

static void test_recycle_snapshot_and_batch(void **state){
  kv_options *o = tuOptions("background=off", NULL);
  kv_db *db;
  kv_iter *it = 0, *it2 = 0;
  kv_snapshot *s;
  kv_batch *b;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "recycle");
  db = tuOpen(zDir, o);
  tuPut(db, "b", "1");
  s = kv_snapshot_new(db);
  assert_non_null(s);
  tuPut(db, "c", "2");

  /* Kept at the snapshot's read point: not for a reader of now. */
  assert_int_equal(kv_iter_new(db, s, 0, &it), KV_OK);
  assert_string_equal(keyFrom(it, "bb"), "");
  kv_iter_recycle(it);
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  assert_string_equal(keyFrom(it, "bb"), "c");
  kv_iter_recycle(it);
  /* ...and the other way round. */
  assert_int_equal(kv_iter_new(db, s, 0, &it2), KV_OK);
  assert_string_equal(keyFrom(it2, "bb"), "");
  kv_iter_recycle(it2);
  /* The same snapshot again: reused. */
  assert_int_equal(kv_iter_new(db, s, 0, &it), KV_OK);
  assert_ptr_equal(it, it2);
  assert_string_equal(keyFrom(it, "a"), "b");
  kv_iter_recycle(it);

  /* With a batch: never the kept one, and never kept itself. */
  b = tuBatchOf("bc", "x", NULL);
  assert_int_equal(kv_iter_new(db, s, b, &it), KV_OK);
  assert_ptr_not_equal(it, it2);
  assert_string_equal(keyFrom(it, "bb"), "bc");
  kv_iter_recycle(it);
  assert_ptr_equal(db->pSpareIter, it2);  /* the batch's freed instead */
  kv_batch_free(b);

  /* A range deletion: a kept iterator with tombstones, reused, skips. */
  b = kv_batch_new();
  assert_int_equal(kv_batch_delete_range(b, "a", 1, "bz", 2), KV_OK);
  assert_int_equal(kv_write(db, b), KV_OK);
  kv_batch_free(b);
  assert_int_equal(kv_iter_new(db, 0, 0, &it), KV_OK);
  assert_string_equal(keyFrom(it, "a"), "c");
  kv_iter_recycle(it);
  assert_int_equal(kv_iter_new(db, 0, 0, &it2), KV_OK);
  assert_ptr_equal(it2, it);
  assert_string_equal(keyFrom(it2, "b"), "c");
  kv_iter_free(it2);

  kv_snapshot_free(db, s);
  kv_close(db);                 /* frees a kept iterator too (asan) */
  kv_options_free(o);
  tuRemoveDir(zDir);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_recycle_reuses_same_state),
    cmocka_unit_test(test_recycle_snapshot_and_batch),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
