/*
** fuzz_sst.c - libFuzzer target: the input is an SSTable. It is opened
** (footer, summary, filter, metadata), iterated forward and backward,
** searched for a few keys (the first one it holds, one past it, and a
** missing one) and verified in full (every block, the Merkle root). Any
** result code is fine; crashes, sanitizer reports, leaks and hangs are
** not.
*/
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *a, size_t n){
  KvEnv *pEnv = kvEnvPosix();
  KvCache *pCache = 0;
  KvSst *pSst = 0;
  KvIter *pIt = 0;
  KvBuf key = {0, 0, 0};
  KvBuf val = {0, 0, 0};
  KvBuf ikey = {0, 0, 0};
  char zPath[512];
  int rc, nStep = 0;

  fuzzCleanDir();
  fuzzWrite("000001.sst", a, n);
  snprintf(zPath, sizeof(zPath), "%s/000001.sst", fuzzDir());
  rc = kvCacheNew(64*1024, &pCache);
  if( rc==KV_OK ) rc = kvSstOpen(pEnv, zPath, pCache, 0, &pSst);
  if( rc==KV_OK ){
    kvSstGetMeta(pSst);
    rc = kvSstIterNew(pSst, 0, &pIt);
  }
  if( rc==KV_OK ){
    for(rc=pIt->pMethods->xFirst(pIt);
        rc==KV_OK && kvIterValid(pIt) && nStep<100000;
        rc=pIt->pMethods->xNext(pIt), nStep++){
      const u8 *k, *v;
      size_t nk, nv;
      kvIterKey(pIt, &k, &nk);
      kvIterValue(pIt, &v, &nv);
      if( key.n==0 && nk>=KV_TRAILER ) kvBufAppend(&key, k, nk - KV_TRAILER);
    }
    for(rc=pIt->pMethods->xLast(pIt), nStep=0;
        rc==KV_OK && kvIterValid(pIt) && nStep<100000;
        rc=pIt->pMethods->xPrev(pIt), nStep++){}
    if( key.n ){
      int bFound = 0, eType = 0;
      kvSstGet(pSst, key.a, key.n, KV_MAX_SEQ, &bFound, &eType, &val);
      kvBufAppend(&key, (const u8*)"\x00", 1);
      kvSstGet(pSst, key.a, key.n, KV_MAX_SEQ, &bFound, &eType, &val);
      if( kvIKeyAppend(&ikey, key.a, key.n, 5, KV_TYPE_PUT)==KV_OK ){
        pIt->pMethods->xSeek(pIt, ikey.a, ikey.n);
      }
    }
    {
      int bFound = 0, eType = 0;
      kvSstGet(pSst, (const u8*)"zzz", 3, KV_MAX_SEQ, &bFound, &eType, &val);
    }
  }
  if( pIt ) pIt->pMethods->xClose(pIt);
  kvSstClose(pSst);
  kvSstVerify(pEnv, zPath);
  kvBufFree(&key);
  kvBufFree(&val);
  kvBufFree(&ikey);
  kvCacheFree(pCache);
  return 0;
}
