/*
** fuzz_manifest.c - libFuzzer target: the input is a manifest (a log of
** version edits), recovered by kvVsetRecover with CURRENT naming it. An
** input that starts with "CURRENT:" gives CURRENT's contents instead, up
** to and including the first newline; the rest is the manifest. Recovery
** then writes a fresh manifest (which must succeed when recovery read the
** input without error), and the version set is closed. Any result code
** is fine; crashes, sanitizer reports, leaks and hangs are not.
*/
#include "fuzz_common.h"

/* Recovery writes and fsyncs a new manifest; real fsyncs would only slow
** the fuzzer down. */
static int noSync(KvFile *pFile){ (void)pFile; return KV_OK; }
static int noSyncDir(KvEnv *pEnv, const char *zDir){
  (void)pEnv; (void)zDir;
  return KV_OK;
}
static KvEnv *fuzzEnv(void){
  static KvEnv env;
  if( env.xOpen==0 ){
    env = *kvEnvPosix();
    env.zName = "posix-nosync";
    env.xSync = noSync;
    env.xSyncDir = noSyncDir;
  }
  return &env;
}

int LLVMFuzzerTestOneInput(const uint8_t *a, size_t n){
  static const char zDefault[] = "MANIFEST-000001\n";
  pthread_mutex_t mutex;
  KvVersionSet vset;
  const uint8_t *aCur = (const uint8_t*)zDefault;
  size_t nCur = sizeof(zDefault) - 1;

  if( n>=8 && memcmp(a, "CURRENT:", 8)==0 ){
    const uint8_t *pNl = memchr(a+8, '\n', n-8);
    aCur = a + 8;
    nCur = pNl ? (size_t)(pNl - aCur) + 1 : n - 8;
    a = aCur + nCur;
    n -= 8 + nCur;
  }
  fuzzCleanDir();
  fuzzWrite("CURRENT", aCur, nCur);
  fuzzWrite("MANIFEST-000001", a, n);
  pthread_mutex_init(&mutex, 0);
  memset(&vset, 0, sizeof(vset));
  vset.pEnv = fuzzEnv();
  vset.zDir = (char*)fuzzDir();
  vset.nLevel = 7;
  vset.pMutex = &mutex;
  if( kvVsetRecover(&vset)==KV_OK ){
    KvVersion *v = kvVersionCurrent(&vset);
    kvVersionUnref(v);
  }
  kvVsetClose(&vset);
  pthread_mutex_destroy(&mutex);
  return 0;
}
