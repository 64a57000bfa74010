/*
** fuzz_wal.c - libFuzzer target: the input is a WAL segment. It is
** replayed through kvWalReplay (log records, batch headers, batch
** representations decoded operation by operation) and read again through
** the log reader alone. Any result code is fine; crashes, sanitizer
** reports, leaks and hangs are not.
*/
#include "fuzz_common.h"

static int fuzzOp(void *pCtx, int eType, const u8 *pKey, size_t nKey,
                  const u8 *pVal, size_t nVal){
  u64 *pSum = (u64*)pCtx;
  /* Touch every byte so the sanitizers check the bounds. */
  size_t i;
  for(i=0; i<nKey; i++) *pSum += pKey[i];
  for(i=0; i<nVal; i++) *pSum += pVal[i];
  *pSum += (u64)eType;
  return KV_OK;
}

static int fuzzBatch(void *pCtx, u64 firstSeq, u32 nCount, const u8 *pRep,
                     size_t nRep){
  (void)firstSeq;
  return kvBatchDecode(pRep, nRep, nCount, fuzzOp, pCtx);
}

int LLVMFuzzerTestOneInput(const uint8_t *a, size_t n){
  KvEnv *pEnv = kvEnvPosix();
  KvWalReplayInfo info;
  KvLogReader *pR = 0;
  char zPath[512];
  u64 sum = 0;
  int rc;
  fuzzCleanDir();
  fuzzWrite("wal-000001.log", a, n);
  memset(&info, 0, sizeof(info));
  kvWalReplay(pEnv, fuzzDir(), 1, fuzzBatch, &sum, &info);
  snprintf(zPath, sizeof(zPath), "%s/wal-000001.log", fuzzDir());
  rc = kvLogReaderOpen(pEnv, zPath, &pR);
  while( rc==KV_OK ){
    const u8 *p = 0;
    size_t np = 0;
    rc = kvLogRead(pR, &p, &np);
    if( rc!=KV_OK || p==0 ) break;
    if( np ) sum += p[np-1];
  }
  if( pR ){
    kvLogReaderGoodOffset(pR);
    kvLogReaderTorn(pR);
    kvLogReaderClose(pR);
  }
  return 0;
}
