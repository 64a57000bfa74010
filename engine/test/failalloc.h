/*
** failalloc.h - allocation-failure injection and leak counting for unit
** tests (header only; include it in one test file).
**
**   failallocInstall(3, 0);      // the 3rd allocation from now fails
**   rc = code_under_test();      // must fail cleanly with KV_NOMEM
**   assert_int_equal(failallocOutstanding(), 0);   // and leak nothing
**   failallocRemove();
**
** failallocInstall(n, bPersist) routes kvMalloc/kvRealloc/kvFree through
** counting hooks: the n-th allocation (kvMalloc or kvRealloc) from now
** returns NULL, and with bPersist every later one does too; n<=0 never
** fails (count and leak-check only). failallocArm() moves the failure
** point without resetting the counters.
**
** Live blocks are remembered in a pointer hash set, so blocks allocated
** before Install may be freed while it is installed and blocks still live
** at Remove stay valid: the hooks return ordinary malloc() memory. The
** counters stay readable after Remove. Thread-safe (the engine allocates
** on its background thread).
*/
#ifndef FAILALLOC_H
#define FAILALLOC_H

#include "kvInt.h"
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct FailAlloc FailAlloc;
struct FailAlloc {
  pthread_mutex_t mutex;
  int nFailAt;                  /* allocation number that fails; 0 never */
  int bPersist;                 /* every allocation after it fails too */
  int nCall;                    /* allocations attempted since Install */
  int nFailed;                  /* of which failed */
  int nLive;                    /* tracked blocks not yet freed */
  void **aSet;                  /* open-addressing set of live blocks */
  size_t nSet;                  /* slots (power of two) */
  size_t nUsed;                 /* slots holding a block or a tombstone */
};
static FailAlloc gFailAlloc = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0,
                                0, 0, 0 };
/* Marks a slot whose block was freed (probing must go on past it). */
static char gFailAllocGone;
#define FAILALLOC_GONE ((void*)&gFailAllocGone)

static inline size_t failallocSlot(void *p, size_t nSet){
  uint64_t h = (uint64_t)(uintptr_t)p;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return (size_t)h & (nSet - 1);
}

/* Add p to the set. Returns 0 if there is no memory for the set (the
** block then simply goes untracked). REQUIRES: mutex held. */
static inline int failallocAdd(void *p){
  FailAlloc *g = &gFailAlloc;
  size_t i;
  if( (g->nUsed + 1)*2 > g->nSet ){
    size_t nNew = g->nSet ? g->nSet : 1024;
    void **aNew;
    size_t j;
    while( (size_t)(g->nLive + 1)*4 > nNew ) nNew *= 2;
    aNew = calloc(nNew, sizeof(void*));
    if( aNew==0 ) return 0;
    for(j=0; j<g->nSet; j++){
      void *q = g->aSet[j];
      if( q && q!=FAILALLOC_GONE ){
        size_t k = failallocSlot(q, nNew);
        while( aNew[k] ) k = (k + 1) & (nNew - 1);
        aNew[k] = q;
      }
    }
    free(g->aSet);
    g->aSet = aNew;
    g->nSet = nNew;
    g->nUsed = (size_t)g->nLive;
  }
  i = failallocSlot(p, g->nSet);
  while( g->aSet[i] && g->aSet[i]!=FAILALLOC_GONE ){
    i = (i + 1) & (g->nSet - 1);
  }
  if( g->aSet[i]==0 ) g->nUsed++;
  g->aSet[i] = p;
  g->nLive++;
  return 1;
}

/* Remove p from the set; returns 1 if it was there. REQUIRES: mutex. */
static inline int failallocDel(void *p){
  FailAlloc *g = &gFailAlloc;
  size_t i;
  if( g->nSet==0 ) return 0;
  i = failallocSlot(p, g->nSet);
  while( g->aSet[i] ){
    if( g->aSet[i]==p ){
      g->aSet[i] = FAILALLOC_GONE;
      g->nLive--;
      return 1;
    }
    i = (i + 1) & (g->nSet - 1);
  }
  return 0;
}

/* Count one allocation; 1 if it must fail. REQUIRES: mutex held. */
static inline int failallocMustFail(void){
  FailAlloc *g = &gFailAlloc;
  int bFail;
  g->nCall++;
  bFail = g->nFailAt>0
       && (g->nCall==g->nFailAt || (g->bPersist && g->nCall>g->nFailAt));
  if( bFail ) g->nFailed++;
  return bFail;
}

static inline void *failallocMalloc(size_t n){
  void *p = 0;
  pthread_mutex_lock(&gFailAlloc.mutex);
  if( !failallocMustFail() ){
    p = malloc(n);
    if( p ) failallocAdd(p);
  }
  pthread_mutex_unlock(&gFailAlloc.mutex);
  return p;
}

static inline void *failallocRealloc(void *pOld, size_t n){
  void *p = 0;
  pthread_mutex_lock(&gFailAlloc.mutex);
  if( !failallocMustFail() ){
    /* A block from before Install stays untracked after it moves, so the
    ** live count only ever covers blocks allocated under the hooks. */
    int bTracked = pOld==0 || failallocDel(pOld);
    p = realloc(pOld, n);
    if( p==0 ){
      if( pOld && bTracked ) failallocAdd(pOld);
    }else if( bTracked ){
      failallocAdd(p);
    }
  }
  pthread_mutex_unlock(&gFailAlloc.mutex);
  return p;
}

static inline void failallocFree(void *p){
  pthread_mutex_lock(&gFailAlloc.mutex);
  failallocDel(p);
  pthread_mutex_unlock(&gFailAlloc.mutex);
  free(p);
}

/* Move the failure point: the n-th allocation from now (n<=0: none). */
static inline void failallocArm(int n, int bPersist){
  pthread_mutex_lock(&gFailAlloc.mutex);
  gFailAlloc.nFailAt = n>0 ? gFailAlloc.nCall + n : 0;
  gFailAlloc.bPersist = bPersist;
  pthread_mutex_unlock(&gFailAlloc.mutex);
}

/* Reset the counters and install the hooks. */
static inline void failallocInstall(int n, int bPersist){
  static const KvAllocHooks hooks = {
    failallocMalloc, failallocRealloc, failallocFree
  };
  FailAlloc *g = &gFailAlloc;
  pthread_mutex_lock(&g->mutex);
  free(g->aSet);
  g->aSet = 0;
  g->nSet = 0;
  g->nUsed = 0;
  g->nLive = 0;
  g->nCall = 0;
  g->nFailed = 0;
  g->nFailAt = n>0 ? n : 0;
  g->bPersist = bPersist;
  pthread_mutex_unlock(&g->mutex);
  kvSetAllocHooks(&hooks);
}

/* Restore malloc/realloc/free. Counters keep their last values. */
static inline void failallocRemove(void){
  FailAlloc *g = &gFailAlloc;
  kvSetAllocHooks(0);
  pthread_mutex_lock(&g->mutex);
  free(g->aSet);
  g->aSet = 0;
  g->nSet = 0;
  g->nUsed = 0;
  g->nFailAt = 0;
  pthread_mutex_unlock(&g->mutex);
}

static inline int failallocRead(const int *pn){
  int n;
  pthread_mutex_lock(&gFailAlloc.mutex);
  n = *pn;
  pthread_mutex_unlock(&gFailAlloc.mutex);
  return n;
}
/* Allocations attempted since Install (failed ones included). */
static inline int failallocCount(void){
  return failallocRead(&gFailAlloc.nCall);
}
/* Allocations that were made to fail. */
static inline int failallocFailed(void){
  return failallocRead(&gFailAlloc.nFailed);
}
/* Blocks allocated since Install and not freed yet (0 = no leak). */
static inline int failallocOutstanding(void){
  return failallocRead(&gFailAlloc.nLive);
}

#endif /* FAILALLOC_H */
