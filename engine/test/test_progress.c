/*
** test_progress.c - kv_verify_progress: the bytes of the tables checked
** grow to the bytes of all of them, one report per table; a stop at any
** report returns KV_INTERRUPT with no report and changes nothing; a
** damaged table is still reported as such.
*/
#include "testutil.h"

typedef struct Watch Watch;
struct Watch {
  int nCall, nStop;
  uint64_t nLastDone, nLastPlanned;
  int bBad;                     /* done went down, above planned, or the
                                ** plan changed */
};
static int watch(void *pArg, uint64_t nDone, uint64_t nPlanned){
  Watch *w = (Watch*)pArg;
  if( w->nCall>0 && (nDone<w->nLastDone || nPlanned!=w->nLastPlanned) ){
    w->bBad = 1;
  }
  if( nDone>nPlanned ) w->bBad = 1;
  w->nCall++;
  w->nLastDone = nDone;
  w->nLastPlanned = nPlanned;
  return w->nStop && w->nCall>=w->nStop;
}

static void test_verify_progress_and_stop(void **state){
  char zDir[256], zPath[512];
  kv_options *o;
  kv_db *db;
  kv_sstable_info *aInfo = 0;
  int nInfo = 0, i;
  uint64_t nSst = 0;
  char *zReport = 0;
  Watch w;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "vprog");
  o = tuOptions("background=off", "memtable_size=64KB", NULL);
  db = tuOpen(zDir, o);
  for(i=0; i<4000; i++){
    char k[32], v[64];
    snprintf(k, sizeof(k), "key%06d", i);
    snprintf(v, sizeof(v), "value-%d-%d", i, i*7);
    tuPut(db, k, v);
  }
  assert_int_equal(kv_flush(db), KV_OK);
  assert_int_equal(kv_sstables(db, &aInfo, &nInfo), KV_OK);
  for(i=0; i<nInfo; i++) nSst += aInfo[i].nByte;
  assert_true(nInfo>=3);

  memset(&w, 0, sizeof(w));
  assert_int_equal(kv_verify_progress(db, watch, &w, &zReport), KV_OK);
  assert_string_equal(zReport, "ok");
  kv_free(zReport);
  assert_int_equal(w.nCall, nInfo + 1);
  assert_false(w.bBad);
  assert_true(w.nLastPlanned==nSst);
  assert_true(w.nLastDone==nSst);

  for(i=1; i<=nInfo+1; i++){
    memset(&w, 0, sizeof(w));
    w.nStop = i;
    zReport = 0;
    assert_int_equal(kv_verify_progress(db, watch, &w, &zReport),
                     KV_INTERRUPT);
    assert_null(zReport);
    assert_non_null(strstr(kv_errmsg(db), "verify of"));
    assert_non_null(strstr(kv_errmsg(db), "interrupted"));
  }
  /* Nothing sticky: writes and a full verify work. */
  tuPut(db, "after", "1");
  assert_int_equal(kv_verify(db, &zReport), KV_OK);
  assert_string_equal(zReport, "ok");
  kv_free(zReport);

  /* A damaged table is found, and progress stops there. */
  snprintf(zPath, sizeof(zPath), "%s/%s", zDir, aInfo[nInfo-1].zFile);
  {
    FILE *f = fopen(zPath, "r+b");
    int c;
    assert_non_null(f);
    assert_int_equal(fseek(f, 40, SEEK_SET), 0);
    c = fgetc(f);
    assert_int_equal(fseek(f, 40, SEEK_SET), 0);
    fputc(c ^ 0x10, f);
    fclose(f);
  }
  memset(&w, 0, sizeof(w));
  assert_int_equal(kv_verify_progress(db, watch, &w, &zReport), KV_OK);
  assert_non_null(zReport);
  assert_string_not_equal(zReport, "ok");
  assert_non_null(strstr(zReport, aInfo[nInfo-1].zFile));
  kv_free(zReport);
  kv_free(aInfo);
  kv_close(db);
  kv_options_free(o);
  tuRemoveDir(zDir);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_verify_progress_and_stop),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
