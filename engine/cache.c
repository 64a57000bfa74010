/*
** cache.c - the block cache: an LRU of decompressed blocks, sized in bytes.
**
** Keys are (file number, offset). The cache is split into KV_CACHE_SHARDS
** shards, chosen by a hash of the key, each with its own mutex, hash table
** and LRU lists, so readers on different blocks rarely contend. Each shard
** gets an equal slice of the capacity and evicts on its own.
**
** Reference counting. An entry starts with one reference held by the
** shard's table (while bInCache) plus one per handle given out. Handles are
** what readers hold while they use a block, so the block is never freed
** under them: when an entry leaves the table (evicted or replaced by a new
** insert of its key) the table's reference is dropped and xDelete runs
** when the last handle is released.
**
** Two lists per shard, as in LevelDB's cache: `lru` holds entries that are
** in the table and referenced by nothing else (nRef==1), oldest first, and
** are the only candidates for eviction; `inuse` holds entries in the table
** with handles outstanding. Moving between them on the 1<->2 transitions
** keeps eviction O(1) instead of skipping over busy entries.
**
** A shard may exceed its capacity while handles pin its entries; it gets
** back under capacity as soon as they are released (eviction runs on
** insert and on release). With capacity 0 nothing is retained: an insert
** hands back an entry that is not in the table and is freed on release.
**
** xDelete is never called with a shard mutex held, so a deleter may take
** locks of its own.
*/
#include "kvInt.h"

#include <pthread.h>

#define KV_CACHE_SHARDS     16
#define KV_CACHE_SHARD_BITS 4
#define KV_CACHE_MIN_BUCKET 16

struct KvCacheHandle {
  u64 iFile, iOff;              /* key */
  u32 hash;                     /* cacheHash(iFile, iOff) */
  int nRef;                     /* table (if bInCache) + handles */
  int bInCache;                 /* in its shard's hash table and a list */
  void *pValue;
  size_t nCharge;
  void (*xDelete)(void*);
  KvCacheHandle *pHashNext;     /* bucket chain */
  KvCacheHandle *pPrev, *pNext; /* lru or inuse list (circular) */
};

typedef struct KvCacheShard KvCacheShard;
struct KvCacheShard {
  pthread_mutex_t mutex;
  u64 nCapacity;                /* bytes */
  u64 nUsage;                   /* charge of the entries in the table */
  KvCacheHandle **aBucket;      /* hash table, nBucket a power of two */
  u32 nBucket;
  u64 nEntry;                   /* entries in the table */
  KvCacheHandle lru;            /* dummy head: unreferenced, oldest first */
  KvCacheHandle inuse;          /* dummy head: referenced by handles */
  u64 nHit, nMiss, nInsert, nEvict;
};

struct KvCache {
  u64 nCapacity;
  int nShardInit;               /* shards whose mutex is initialised */
  KvCacheShard aShard[KV_CACHE_SHARDS];
};

/* 32-bit hash of a key. Block offsets of one file differ in their middle
** bits only, so a full avalanche (splitmix64's finalizer) is needed for
** the shard bits and bucket bits to spread. */
static u32 cacheHash(u64 iFile, u64 iOff){
  u64 x = iFile * 0x9e3779b97f4a7c15ull ^ iOff;
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return (u32)x;
}

static KvCacheShard *cacheShard(KvCache *pCache, u32 hash){
  return &pCache->aShard[hash >> (32 - KV_CACHE_SHARD_BITS)];
}

static void listRemove(KvCacheHandle *p){
  p->pNext->pPrev = p->pPrev;
  p->pPrev->pNext = p->pNext;
  p->pPrev = p->pNext = p;
}

/* Append as the newest entry of list pHead. */
static void listAppend(KvCacheHandle *pHead, KvCacheHandle *p){
  p->pNext = pHead;
  p->pPrev = pHead->pPrev;
  p->pPrev->pNext = p;
  pHead->pPrev = p;
}

/* Slot of the bucket chain pointer that points (or would point) at the
** entry with key (iFile, iOff). */
static KvCacheHandle **shardFind(KvCacheShard *pShard, u32 hash,
                                 u64 iFile, u64 iOff){
  KvCacheHandle **pp = &pShard->aBucket[hash & (pShard->nBucket-1)];
  while( *pp && ((*pp)->hash!=hash || (*pp)->iFile!=iFile
                 || (*pp)->iOff!=iOff) ){
    pp = &(*pp)->pHashNext;
  }
  return pp;
}

/* Double the bucket array. On OOM keep the old one: chains get longer,
** nothing breaks. */
static void shardGrow(KvCacheShard *pShard){
  u32 nNew = pShard->nBucket * 2;
  KvCacheHandle **aNew;
  u32 i;
  if( nNew==0 ) return;
  aNew = kvMallocZero(sizeof(KvCacheHandle*) * nNew);
  if( aNew==0 ) return;
  for(i=0; i<pShard->nBucket; i++){
    KvCacheHandle *p = pShard->aBucket[i];
    while( p ){
      KvCacheHandle *pNext = p->pHashNext;
      KvCacheHandle **pp = &aNew[p->hash & (nNew-1)];
      p->pHashNext = *pp;
      *pp = p;
      p = pNext;
    }
  }
  kvFree(pShard->aBucket);
  pShard->aBucket = aNew;
  pShard->nBucket = nNew;
}

/*
** Take entry *pp out of the table and drop the table's reference. If that
** was the last one, the entry is pushed on *ppDead (linked through
** pHashNext) for the caller to free once the mutex is released.
** REQUIRES: shard mutex held; (*pp)->bInCache.
*/
static void shardErase(KvCacheShard *pShard, KvCacheHandle **pp,
                       KvCacheHandle **ppDead){
  KvCacheHandle *p = *pp;
  assert( p->bInCache );
  *pp = p->pHashNext;
  p->pHashNext = 0;
  listRemove(p);
  p->bInCache = 0;
  pShard->nUsage -= p->nCharge;
  pShard->nEntry--;
  p->nRef--;
  if( p->nRef==0 ){
    p->pHashNext = *ppDead;
    *ppDead = p;
  }
}

/* Evict unreferenced entries, oldest first, until the shard fits.
** REQUIRES: shard mutex held. */
static void shardEvict(KvCacheShard *pShard, KvCacheHandle **ppDead){
  while( pShard->nUsage>pShard->nCapacity && pShard->lru.pNext!=&pShard->lru ){
    KvCacheHandle *pOld = pShard->lru.pNext;
    KvCacheHandle **pp = shardFind(pShard, pOld->hash, pOld->iFile,
                                   pOld->iOff);
    assert( *pp==pOld );
    assert( pOld->nRef==1 );
    shardErase(pShard, pp, ppDead);
    pShard->nEvict++;
  }
}

static void freeDead(KvCacheHandle *pDead){
  while( pDead ){
    KvCacheHandle *pNext = pDead->pHashNext;
    if( pDead->xDelete ) pDead->xDelete(pDead->pValue);
    kvFree(pDead);
    pDead = pNext;
  }
}

int kvCacheNew(u64 nCapacity, KvCache **ppCache){
  KvCache *pCache;
  int rc = KV_OK;
  int i;

  assert( ppCache!=0 );
  *ppCache = 0;
  pCache = kvMallocZero(sizeof(*pCache));
  if( pCache==0 ){
    return kvErr(KV_NOMEM, "kvstore: out of memory creating the block cache");
  }
  pCache->nCapacity = nCapacity;
  for(i=0; rc==KV_OK && i<KV_CACHE_SHARDS; i++){
    KvCacheShard *pShard = &pCache->aShard[i];
    /* Round up so the shards together hold at least nCapacity. */
    pShard->nCapacity = nCapacity/KV_CACHE_SHARDS
                      + (nCapacity%KV_CACHE_SHARDS ? 1 : 0);
    pShard->lru.pNext = pShard->lru.pPrev = &pShard->lru;
    pShard->inuse.pNext = pShard->inuse.pPrev = &pShard->inuse;
    pShard->nBucket = KV_CACHE_MIN_BUCKET;
    pShard->aBucket = kvMallocZero(sizeof(KvCacheHandle*)*pShard->nBucket);
    if( pShard->aBucket==0 ){
      rc = kvErr(KV_NOMEM, "kvstore: out of memory creating the block cache");
    }else if( pthread_mutex_init(&pShard->mutex, 0)!=0 ){
      rc = kvErr(KV_NOMEM, "kvstore: cannot create a block cache mutex");
    }else{
      pCache->nShardInit++;
    }
  }
  if( rc!=KV_OK ){
    kvCacheFree(pCache);
    pCache = 0;
  }
  *ppCache = pCache;
  return rc;
}

void kvCacheFree(KvCache *pCache){
  int i;
  if( pCache==0 ) return;
  for(i=0; i<KV_CACHE_SHARDS; i++){
    KvCacheShard *pShard = &pCache->aShard[i];
    KvCacheHandle *pDead = 0;
    u32 iBucket;
    /* Entries with handles outstanding would be freed under their
    ** holders: that is a caller bug. */
    assert( pShard->inuse.pNext==0 || pShard->inuse.pNext==&pShard->inuse );
    for(iBucket=0; pShard->aBucket && iBucket<pShard->nBucket; iBucket++){
      while( pShard->aBucket[iBucket] ){
        shardErase(pShard, &pShard->aBucket[iBucket], &pDead);
      }
    }
    freeDead(pDead);
    kvFree(pShard->aBucket);
    if( i<pCache->nShardInit ) pthread_mutex_destroy(&pShard->mutex);
  }
  kvFree(pCache);
}

KvCacheHandle *kvCacheLookup(KvCache *pCache, u64 iFile, u64 iOff){
  u32 hash = cacheHash(iFile, iOff);
  KvCacheShard *pShard = cacheShard(pCache, hash);
  KvCacheHandle *p;

  pthread_mutex_lock(&pShard->mutex);
  p = *shardFind(pShard, hash, iFile, iOff);
  if( p ){
    assert( p->bInCache );
    if( p->nRef==1 ){
      listRemove(p);
      listAppend(&pShard->inuse, p);
    }
    p->nRef++;
    pShard->nHit++;
  }else{
    pShard->nMiss++;
  }
  pthread_mutex_unlock(&pShard->mutex);
  return p;
}

int kvCacheInsert(KvCache *pCache, u64 iFile, u64 iOff, void *pValue,
                  size_t nCharge, void (*xDelete)(void*),
                  KvCacheHandle **ppH){
  u32 hash = cacheHash(iFile, iOff);
  KvCacheShard *pShard = cacheShard(pCache, hash);
  KvCacheHandle *pDead = 0;
  KvCacheHandle *p;

  if( ppH ) *ppH = 0;
  p = kvMallocZero(sizeof(*p));
  if( p==0 ){
    if( xDelete ) xDelete(pValue);
    return kvErr(KV_NOMEM, "kvstore: out of memory adding block %llu of "
                 "file %llu to the cache",
                 (unsigned long long)iOff, (unsigned long long)iFile);
  }
  p->iFile = iFile;
  p->iOff = iOff;
  p->hash = hash;
  p->pValue = pValue;
  p->nCharge = nCharge;
  p->xDelete = xDelete;
  p->nRef = 1;                  /* the caller's handle */
  p->pPrev = p->pNext = p;

  pthread_mutex_lock(&pShard->mutex);
  pShard->nInsert++;
  if( pShard->nCapacity>0 ){
    KvCacheHandle **pp = shardFind(pShard, hash, iFile, iOff);
    if( *pp ) shardErase(pShard, pp, &pDead);
    p->nRef++;                  /* the table's */
    p->bInCache = 1;
    listAppend(&pShard->inuse, p);
    p->pHashNext = pShard->aBucket[hash & (pShard->nBucket-1)];
    pShard->aBucket[hash & (pShard->nBucket-1)] = p;
    pShard->nUsage += nCharge;
    pShard->nEntry++;
    if( pShard->nEntry>pShard->nBucket ) shardGrow(pShard);
    shardEvict(pShard, &pDead);
  }
  pthread_mutex_unlock(&pShard->mutex);
  freeDead(pDead);

  if( ppH ){
    *ppH = p;
  }else{
    kvCacheRelease(pCache, p);
  }
  return KV_OK;
}

void *kvCacheValue(KvCacheHandle *pH){
  /* pValue never changes after insert, so no lock; nRef is not checked
  ** here because other threads update it under the shard mutex. */
  assert( pH!=0 );
  return pH->pValue;
}

void kvCacheRelease(KvCache *pCache, KvCacheHandle *pH){
  KvCacheShard *pShard;
  KvCacheHandle *pDead = 0;
  if( pH==0 ) return;
  pShard = cacheShard(pCache, pH->hash);
  pthread_mutex_lock(&pShard->mutex);
  assert( pH->nRef>(pH->bInCache ? 1 : 0) );
  pH->nRef--;
  if( pH->nRef==0 ){
    pDead = pH;
  }else if( pH->bInCache && pH->nRef==1 ){
    /* Most recently used now, and evictable again. */
    listRemove(pH);
    listAppend(&pShard->lru, pH);
    shardEvict(pShard, &pDead);
  }
  pthread_mutex_unlock(&pShard->mutex);
  freeDead(pDead);
}

void kvCacheStats(KvCache *pCache, KvCacheStats *pStats){
  int i;
  memset(pStats, 0, sizeof(*pStats));
  pStats->nCapacity = pCache->nCapacity;
  for(i=0; i<KV_CACHE_SHARDS; i++){
    KvCacheShard *pShard = &pCache->aShard[i];
    pthread_mutex_lock(&pShard->mutex);
    pStats->nHit += pShard->nHit;
    pStats->nMiss += pShard->nMiss;
    pStats->nInsert += pShard->nInsert;
    pStats->nEvict += pShard->nEvict;
    pStats->nByte += pShard->nUsage;
    pStats->nEntry += pShard->nEntry;
    pthread_mutex_unlock(&pShard->mutex);
  }
}
