/*
** test_ratelimit.c - the token bucket (ratelimit.c) under an injected
** monotonic clock (the test env's kvTestEnvSetClock): nothing here sleeps,
** a wait advances the clock. Covers: off, burst then reject, refill and
** its cap, waiting within rate_wait_ms, reservations queueing behind each
** other, requests larger than the bucket, burst defaults, stats, and the
** limiter of a store through kv_rate_acquire and kv_stats.
*/
#include "testutil.h"

#define T0 1000000000ull          /* injected clock start, microseconds */

static KvEnv *clockEnv(void){
  KvEnv *pEnv = kvTestEnvNew(kvEnvPosix());
  assert_non_null(pEnv);
  kvTestEnvSetClock(pEnv, T0);
  return pEnv;
}

static u64 now(KvEnv *pEnv){
  return pEnv->xMonoMicros(pEnv);
}

static void test_off(void **state){
  KvRateLimiter *p = (KvRateLimiter*)1;
  KvRateStats s;
  int i;
  (void)state;
  assert_int_equal(kvRateNew(kvEnvPosix(), 0.0, 5.0, 0, &p), KV_OK);
  assert_null(p);
  for(i=0; i<1000; i++) assert_int_equal(kvRateAcquire(p, 1), KV_OK);
  kvRateStats(p, &s);
  assert_int_equal(s.bEnabled, 0);
  kvRateFree(p);
}

static void test_burst_then_reject(void **state){
  KvEnv *pEnv = clockEnv();
  KvRateLimiter *p = 0;
  KvRateStats s;
  int i;
  (void)state;
  assert_int_equal(kvRateNew(pEnv, 10.0, 5.0, 0, &p), KV_OK);
  assert_non_null(p);
  for(i=0; i<5; i++) assert_int_equal(kvRateAcquire(p, 1), KV_OK);
  assert_int_equal(kvRateAcquire(p, 1), KV_BUSY);
  assert_non_null(strstr(kv_errmsg(0), "kvstore: rate limit exceeded ("));
  assert_non_null(strstr(kv_errmsg(0), "rate_limit=10"));
  /* A rejection takes nothing and does not move the clock. */
  assert_int_equal(now(pEnv), T0);
  assert_int_equal(kvRateAcquire(p, 1), KV_BUSY);
  /* 100 ms give one token back (10 per second). */
  kvTestEnvSetClock(pEnv, T0 + 100000);
  assert_int_equal(kvRateAcquire(p, 1), KV_OK);
  assert_int_equal(kvRateAcquire(p, 1), KV_BUSY);
  /* 99.9 ms are not quite enough for the next. */
  kvTestEnvSetClock(pEnv, T0 + 199900);
  assert_int_equal(kvRateAcquire(p, 1), KV_BUSY);
  kvTestEnvSetClock(pEnv, T0 + 200000);
  assert_int_equal(kvRateAcquire(p, 1), KV_OK);
  kvRateStats(p, &s);
  assert_int_equal(s.bEnabled, 1);
  assert_int_equal(s.nAcquired, 7);
  assert_int_equal(s.nCalls, 7);
  assert_int_equal(s.nRejected, 4);
  assert_int_equal(s.nWaited, 0);
  assert_true(s.rTokens>-1e-9 && s.rTokens<1e-9);
  kvRateFree(p);
  kvTestEnvFree(pEnv);
}

static void test_refill_capped(void **state){
  KvEnv *pEnv = clockEnv();
  KvRateLimiter *p = 0;
  int i;
  (void)state;
  assert_int_equal(kvRateNew(pEnv, 100.0, 3.0, 0, &p), KV_OK);
  for(i=0; i<3; i++) assert_int_equal(kvRateAcquire(p, 1), KV_OK);
  assert_int_equal(kvRateAcquire(p, 1), KV_BUSY);
  /* An hour idle refills the bucket to its size, no more. */
  kvTestEnvSetClock(pEnv, T0 + 3600ull*1000000);
  for(i=0; i<3; i++) assert_int_equal(kvRateAcquire(p, 1), KV_OK);
  assert_int_equal(kvRateAcquire(p, 1), KV_BUSY);
  kvRateFree(p);
  kvTestEnvFree(pEnv);
}

static void test_wait(void **state){
  KvEnv *pEnv = clockEnv();
  KvRateLimiter *p = 0;
  KvRateStats s;
  (void)state;
  /* 10 per second, bucket of 1, may wait 250 ms. */
  assert_int_equal(kvRateNew(pEnv, 10.0, 1.0, 250, &p), KV_OK);
  assert_int_equal(kvRateAcquire(p, 1), KV_OK);
  assert_int_equal(now(pEnv), T0);
  /* The next token accrues in 100 ms: the call sleeps exactly that. */
  assert_int_equal(kvRateAcquire(p, 1), KV_OK);
  assert_int_equal(now(pEnv), T0 + 100000);
  assert_int_equal(kvRateAcquire(p, 1), KV_OK);
  assert_int_equal(now(pEnv), T0 + 200000);
  /* Three at once need 300 ms > 250 ms... but only one token has to be
  ** in the bucket (it is 1 token large): 100 ms, then the debt. */
  assert_int_equal(kvRateAcquire(p, 3), KV_OK);
  assert_int_equal(now(pEnv), T0 + 300000);
  /* The bucket owes 2 tokens: the next needs 3 tokens of refill, 300 ms,
  ** more than the wait allowed. */
  assert_int_equal(kvRateAcquire(p, 1), KV_BUSY);
  assert_int_equal(now(pEnv), T0 + 300000);
  kvRateStats(p, &s);
  assert_int_equal(s.nWaited, 3);
  assert_int_equal(s.nWaitMicros, 300000);
  assert_int_equal(s.nRejected, 1);
  assert_int_equal(s.nAcquired, 6);
  assert_true(s.rTokens<-1.999 && s.rTokens>-2.001);
  kvRateFree(p);
  kvTestEnvFree(pEnv);
}

/* Reservations: a second waiter queues behind the first one's tokens
** (the clock is not advanced between them, as when two threads ask at
** the same instant; here the first one's sleep moves it, so the second
** one's wait is what remains). */
static void test_reservation_order(void **state){
  KvEnv *pEnv = clockEnv();
  KvRateLimiter *p = 0;
  (void)state;
  assert_int_equal(kvRateNew(pEnv, 4.0, 1.0, 1000, &p), KV_OK);
  assert_int_equal(kvRateAcquire(p, 1), KV_OK);           /* bucket empty */
  assert_int_equal(kvRateAcquire(p, 1), KV_OK);           /* waits 250 ms */
  assert_int_equal(now(pEnv), T0 + 250000);
  assert_int_equal(kvRateAcquire(p, 2), KV_OK);           /* 1 token + debt */
  assert_int_equal(now(pEnv), T0 + 500000);
  /* Debt of 1: the next single token needs 2 tokens of refill: 500 ms. */
  assert_int_equal(kvRateAcquire(p, 1), KV_OK);
  assert_int_equal(now(pEnv), T0 + 1000000);
  kvRateFree(p);
  kvTestEnvFree(pEnv);
}

static void test_burst_defaults(void **state){
  KvEnv *pEnv = clockEnv();
  KvRateLimiter *p = 0;
  KvRateStats s;
  int i;
  (void)state;
  /* rate_burst 0: the bucket is rate_limit tokens large. */
  assert_int_equal(kvRateNew(pEnv, 7.0, 0.0, 0, &p), KV_OK);
  kvRateStats(p, &s);
  assert_true(s.rBurst==7.0);
  for(i=0; i<7; i++) assert_int_equal(kvRateAcquire(p, 1), KV_OK);
  assert_int_equal(kvRateAcquire(p, 1), KV_BUSY);
  kvRateFree(p);
  /* Below one token a bucket could never grant: it holds one. */
  assert_int_equal(kvRateNew(pEnv, 0.5, 0.0, 0, &p), KV_OK);
  kvRateStats(p, &s);
  assert_true(s.rBurst==1.0);
  assert_int_equal(kvRateAcquire(p, 1), KV_OK);
  assert_int_equal(kvRateAcquire(p, 1), KV_BUSY);
  kvTestEnvSetClock(pEnv, T0 + 2000000);                  /* 2 s: 1 token */
  assert_int_equal(kvRateAcquire(p, 1), KV_OK);
  /* Zero tokens always succeed. */
  assert_int_equal(kvRateAcquire(p, 0), KV_OK);
  kvRateFree(p);
  kvTestEnvFree(pEnv);
}

/* The store's limiter: configured by the options, reached through
** kv_rate_acquire, reported by kv_stats. */
static void test_store(void **state){
  char zDir[64];
  KvEnv *pEnv = clockEnv();
  kv_options *o;
  kv_db *db, *db2;
  char *zJson = 0;
  int i;
  (void)state;
  tuTempDir(zDir, sizeof(zDir), "rate");
  o = tuOptions("rate_limit=5", "rate_burst=2", "rate_wait_ms=100",
                "background=off", (char*)0);
  kvOptionsSetEnv(o, pEnv);
  db = tuOpen(zDir, o);
  assert_int_equal(kv_rate_acquire(db, 2), KV_OK);
  assert_int_equal(now(pEnv), T0);
  /* One token every 200 ms: more than rate_wait_ms. */
  assert_int_equal(kv_rate_acquire(db, 1), KV_BUSY);
  assert_non_null(strstr(kv_errmsg(db), "rate limit exceeded"));
  /* A second opener shares the bucket. */
  db2 = tuOpen(zDir, o);
  assert_ptr_equal(db, db2);
  kvTestEnvSetClock(pEnv, T0 + 150000);
  assert_int_equal(kv_rate_acquire(db2, 1), KV_OK);        /* waits 50 ms */
  assert_int_equal(now(pEnv), T0 + 200000);
  assert_int_equal(kv_close(db2), KV_OK);
  assert_int_equal(kv_stats(db, &zJson), KV_OK);
  assert_non_null(strstr(zJson, "\"rate_limiter\":{\"enabled\":true,"
                                "\"rate\":5,\"burst\":2,\"wait_ms\":100,"));
  assert_non_null(strstr(zJson, "\"tokens_acquired\":3,\"requests\":2,"
                                "\"waits\":1,\"wait_ms_total\":50,"
                                "\"rejections\":1}"));
  kv_free(zJson);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);

  /* rate_limit=0: unlimited, and the stats say so. */
  o = tuOptions("background=off", (char*)0);
  kvOptionsSetEnv(o, pEnv);
  db = tuOpen(zDir, o);
  for(i=0; i<10000; i++) assert_int_equal(kv_rate_acquire(db, 1), KV_OK);
  assert_int_equal(kv_stats(db, &zJson), KV_OK);
  assert_non_null(strstr(zJson, "\"rate_limiter\":{\"enabled\":false}"));
  kv_free(zJson);
  assert_int_equal(kv_close(db), KV_OK);
  kv_options_free(o);
  assert_int_equal(kv_rate_acquire(0, 1), KV_MISUSE);
  tuRemoveDir(zDir);
  kvTestEnvFree(pEnv);
}

int main(void){
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_off),
    cmocka_unit_test(test_burst_then_reject),
    cmocka_unit_test(test_refill_capped),
    cmocka_unit_test(test_wait),
    cmocka_unit_test(test_reservation_order),
    cmocka_unit_test(test_burst_defaults),
    cmocka_unit_test(test_store),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
