/*
** ratelimit.c - the token-bucket rate limiter of a store (rate_limit,
** rate_burst, rate_wait_ms).
**
** One bucket per engine instance (kv_db), shared by every connection of the
** process that opened the store; the first opener's options configure it.
** The bucket holds up to `burst` tokens (rate_burst, or rate_limit when 0,
** and never less than one token) and refills continuously at `rate` tokens
** per second from the env's monotonic clock (xMonoMicros), so a test env
** with an injected clock makes it fully deterministic: xSleepMicros then
** advances the clock instead of sleeping.
**
** Acquiring n tokens:
**   - the bucket is refilled for the time elapsed since the last refill;
**   - if it holds min(n, burst) tokens, n are taken at once (a request
**     larger than the bucket may drive it negative: later callers then
**     wait until the debt is repaid, so the long-run rate holds);
**   - otherwise the caller needs to wait until enough tokens have accrued.
**     If that wait is at most rate_wait_ms, the tokens are reserved now
**     (the bucket goes negative, so callers behind it queue fairly behind
**     the reservation) and the caller sleeps outside the mutex; else the
**     request is rejected at once with KV_BUSY and takes nothing (waiting
**     first could not help: the refill rate is fixed).
**
** What counts as one token is the caller's decision; the SQL layer takes
** one per row read or written (README.md, "Rate limiter").
*/
#include "kvInt.h"

#include <inttypes.h>
#include <stdio.h>

struct KvRateLimiter {
  KvEnv *pEnv;                  /* clock and sleep */
  pthread_mutex_t mutex;        /* guards everything below */
  double rRate;                 /* tokens per second, > 0 */
  double rBurst;                /* bucket size, >= 1 */
  u64 nWaitMicros;              /* longest wait allowed (rate_wait_ms) */
  double rTokens;               /* tokens now; negative while reserved */
  u64 iLast;                    /* clock reading of the last refill */
  u64 nAcquired;                /* tokens granted */
  u64 nCalls;                   /* requests granted */
  u64 nWaited;                  /* requests granted after a wait */
  u64 nWaitTotal;               /* microseconds waited, all requests */
  u64 nRejected;                /* requests refused */
};

int kvRateNew(KvEnv *pEnv, double rRate, double rBurst, u64 nWaitMs,
              KvRateLimiter **ppRate){
  KvRateLimiter *p;
  *ppRate = 0;
  if( !(rRate>0.0) ) return KV_OK;        /* off (also for NaN) */
  p = kvMallocZero(sizeof(*p));
  if( p==0 ) return kvErrNoMem();
  if( pthread_mutex_init(&p->mutex, 0)!=0 ){
    kvFree(p);
    return kvErr(KV_NOMEM, "kvstore: cannot create the rate limiter's mutex");
  }
  p->pEnv = pEnv ? pEnv : kvEnvPosix();
  p->rRate = rRate;
  p->rBurst = rBurst>0.0 ? rBurst : rRate;
  /* A bucket smaller than one token could never grant a request. */
  if( p->rBurst<1.0 ) p->rBurst = 1.0;
  p->nWaitMicros = nWaitMs*1000;
  p->rTokens = p->rBurst;                 /* starts full */
  p->iLast = p->pEnv->xMonoMicros(p->pEnv);
  *ppRate = p;
  return KV_OK;
}

void kvRateFree(KvRateLimiter *p){
  if( p==0 ) return;
  pthread_mutex_destroy(&p->mutex);
  kvFree(p);
}

/* Add the tokens accrued since the last refill. REQUIRES: mutex held. */
static void rateRefill(KvRateLimiter *p){
  u64 iNow = p->pEnv->xMonoMicros(p->pEnv);
  if( iNow>p->iLast ){
    p->rTokens += (double)(iNow - p->iLast) * p->rRate / 1e6;
    if( p->rTokens>p->rBurst ) p->rTokens = p->rBurst;
    p->iLast = iNow;
  }
}

/* Microseconds until rTokens reaches rNeed at the refill rate, rounded
** up. REQUIRES: rNeed > rTokens. */
static u64 rateWaitFor(const KvRateLimiter *p, double rNeed){
  double r = (rNeed - p->rTokens) * 1e6 / p->rRate;
  u64 n;
  if( r>=1.8e19 ) return UINT64_MAX;
  n = (u64)r;
  if( (double)n<r ) n++;
  return n;
}

int kvRateAcquire(KvRateLimiter *p, u64 nToken){
  double rNeed;
  u64 nWait = 0;
  if( p==0 || nToken==0 ) return KV_OK;
  rNeed = (double)nToken;
  if( rNeed>p->rBurst ) rNeed = p->rBurst;
  pthread_mutex_lock(&p->mutex);
  rateRefill(p);
  /* The epsilon absorbs rounding of the refill sums, so that a token due
  ** at an exact instant is there at that instant. */
  if( p->rTokens<rNeed-1e-9 ){
    nWait = rateWaitFor(p, rNeed);
    if( nWait>p->nWaitMicros ){
      double rRate = p->rRate, rBurst = p->rBurst;
      u64 nWaitMs = p->nWaitMicros/1000;
      p->nRejected++;
      pthread_mutex_unlock(&p->mutex);
      return kvErr(KV_BUSY, "kvstore: rate limit exceeded (rate_limit=%g "
          "operations per second, rate_burst=%g, rate_wait_ms=%" PRIu64 ")",
          rRate, rBurst, nWaitMs);
    }
    p->nWaited++;
    p->nWaitTotal += nWait;
  }
  /* Take the tokens now, even those still to accrue: a reservation. */
  p->rTokens -= (double)nToken;
  p->nAcquired += nToken;
  p->nCalls++;
  pthread_mutex_unlock(&p->mutex);
  if( nWait>0 ) p->pEnv->xSleepMicros(p->pEnv, nWait);
  return KV_OK;
}

void kvRateStats(KvRateLimiter *p, KvRateStats *pStats){
  memset(pStats, 0, sizeof(*pStats));
  if( p==0 ) return;
  pthread_mutex_lock(&p->mutex);
  rateRefill(p);
  pStats->bEnabled = 1;
  pStats->rRate = p->rRate;
  pStats->rBurst = p->rBurst;
  pStats->nWaitMs = p->nWaitMicros/1000;
  pStats->rTokens = p->rTokens;
  pStats->nAcquired = p->nAcquired;
  pStats->nCalls = p->nCalls;
  pStats->nWaited = p->nWaited;
  pStats->nWaitMicros = p->nWaitTotal;
  pStats->nRejected = p->nRejected;
  pthread_mutex_unlock(&p->mutex);
}

int kvRateStatsJson(KvRateLimiter *p, KvBuf *pOut){
  KvRateStats s;
  char aTmp[512];
  kvRateStats(p, &s);
  if( !s.bEnabled ){
    snprintf(aTmp, sizeof(aTmp), "\"rate_limiter\":{\"enabled\":false},");
  }else{
    snprintf(aTmp, sizeof(aTmp), "\"rate_limiter\":{\"enabled\":true,"
        "\"rate\":%.15g,\"burst\":%.15g,\"wait_ms\":%" PRIu64 ","
        "\"tokens\":%.3f,\"tokens_acquired\":%" PRIu64 ",\"requests\":%"
        PRIu64 ",\"waits\":%" PRIu64 ",\"wait_ms_total\":%" PRIu64 ","
        "\"rejections\":%" PRIu64 "},", s.rRate, s.rBurst, s.nWaitMs,
        s.rTokens, s.nAcquired, s.nCalls, s.nWaited, s.nWaitMicros/1000,
        s.nRejected);
  }
  return kvBufAppend(pOut, aTmp, strlen(aTmp));
}

int kv_rate_acquire(kv_db *db, uint64_t nTokens){
  if( db==0 ) return kvErr(KV_MISUSE, "kvstore: kv_rate_acquire: no store");
  return kvRateAcquire(db->pRate, nTokens);
}
