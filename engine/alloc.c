/*
** alloc.c - allocation, thread-local error messages and growable buffers.
**
** Every engine allocation goes through kvMalloc/kvRealloc/kvFree so tests
** can make the N-th allocation fail (kvSetAllocHooks). Error messages are
** kept per thread in a fixed buffer, so recording one never allocates and
** never fails, and connections on different threads sharing one kv_db do
** not see each other's messages.
*/
#include "kvInt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static void *libcMalloc(size_t n){ return malloc(n); }
static void *libcRealloc(void *p, size_t n){ return realloc(p, n); }
static void libcFree(void *p){ free(p); }

static KvAllocHooks gHooks = { libcMalloc, libcRealloc, libcFree };

void kvSetAllocHooks(const KvAllocHooks *pHooks){
  if( pHooks ){
    gHooks = *pHooks;
  }else{
    gHooks.xMalloc = libcMalloc;
    gHooks.xRealloc = libcRealloc;
    gHooks.xFree = libcFree;
  }
}

void *kvMalloc(size_t n){
  if( n==0 ) n = 1;
  return gHooks.xMalloc(n);
}

void *kvMallocZero(size_t n){
  void *p = kvMalloc(n);
  if( p ) memset(p, 0, n);
  return p;
}

void *kvRealloc(void *p, size_t n){
  if( n==0 ) n = 1;
  return gHooks.xRealloc(p, n);
}

void kvFree(void *p){
  if( p ) gHooks.xFree(p);
}

int kvGrowArray(void **pa, int *pnAlloc, int nNeed, size_t szEach){
  if( nNeed>*pnAlloc ){
    int nNew = *pnAlloc ? *pnAlloc*2 : 8;
    void *aNew;
    while( nNew<nNeed ) nNew *= 2;
    aNew = kvRealloc(*pa, (size_t)nNew*szEach);
    if( aNew==0 ) return kvErrNoMem();
    *pa = aNew;
    *pnAlloc = nNew;
  }
  return KV_OK;
}

void kv_free(void *p){
  kvFree(p);
}

char *kvStrdup(const char *z){
  size_t n;
  char *zOut;
  if( z==0 ) return 0;
  n = strlen(z) + 1;
  zOut = kvMalloc(n);
  if( zOut ) memcpy(zOut, z, n);
  return zOut;
}

char *kvVmprintf(const char *zFmt, va_list ap){
  va_list ap2;
  int n;
  char *z;
  va_copy(ap2, ap);
  n = vsnprintf(0, 0, zFmt, ap2);
  va_end(ap2);
  if( n<0 ) return 0;
  z = kvMalloc((size_t)n + 1);
  if( z ) vsnprintf(z, (size_t)n + 1, zFmt, ap);
  return z;
}

char *kvMprintf(const char *zFmt, ...){
  va_list ap;
  char *z;
  va_start(ap, zFmt);
  z = kvVmprintf(zFmt, ap);
  va_end(ap);
  return z;
}

/* ---------------------------------------------------------------------- */
/* Thread-local error messages.                                            */

static _Thread_local char tlsErr[KV_ERRMSG_MAX];

int kvErr(int rc, const char *zFmt, ...){
  va_list ap;
  char aTmp[KV_ERRMSG_MAX];
  /* Format into a temporary first: callers may pass kvErrMsg() itself as
  ** an argument to add context to an existing message. */
  va_start(ap, zFmt);
  vsnprintf(aTmp, sizeof(aTmp), zFmt, ap);
  va_end(ap);
  memcpy(tlsErr, aTmp, sizeof(tlsErr));
  return rc;
}

int kvErrNoMem(void){
  return kvErr(KV_NOMEM, "kvstore: out of memory");
}

void kvErrSave(KvErrSave *p){
  memcpy(p->z, tlsErr, sizeof(p->z));
}

int kvErrRestore(const KvErrSave *p, int rc){
  memcpy(tlsErr, p->z, sizeof(tlsErr));
  return rc;
}

const char *kvErrMsg(void){
  return tlsErr;
}

void kvErrClear(void){
  tlsErr[0] = 0;
}

const char *kv_errmsg(kv_db *db){
  (void)db;
  return tlsErr;
}

int kvErrno(int e, const char *zOp, const char *zPath){
  int rc;
  switch( e ){
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
      rc = KV_FULL;
      break;
    case ENOMEM:
      rc = KV_NOMEM;
      break;
    case ENOENT:
    case EACCES:
    case ENOTDIR:
    case EISDIR:
      rc = strcmp(zOp, "open")==0 ? KV_CANTOPEN : KV_IOERR;
      break;
    default:
      rc = KV_IOERR;
      break;
  }
  return kvErr(rc, "kvstore: %s failed on '%s': %s", zOp, zPath, strerror(e));
}

/* ---------------------------------------------------------------------- */
/* KvBuf.                                                                  */

int kvBufReserve(KvBuf *p, size_t nExtra){
  size_t nNeed = p->n + nExtra;
  if( nNeed>p->nAlloc ){
    size_t nNew = p->nAlloc ? p->nAlloc*2 : 64;
    u8 *aNew;
    while( nNew<nNeed ) nNew *= 2;
    aNew = kvRealloc(p->a, nNew);
    if( aNew==0 ) return kvErrNoMem();
    p->a = aNew;
    p->nAlloc = nNew;
  }
  return KV_OK;
}

int kvBufAppend(KvBuf *p, const void *a, size_t n){
  int rc = kvBufReserve(p, n);
  if( rc==KV_OK && n>0 ){
    memcpy(p->a + p->n, a, n);
    p->n += n;
  }
  return rc;
}

int kvBufAppendVarint(KvBuf *p, u64 v){
  int rc = kvBufReserve(p, KV_MAX_VARINT);
  if( rc==KV_OK ) p->n += (size_t)kvPutVarint(p->a + p->n, v);
  return rc;
}

int kvBufAppend32(KvBuf *p, u32 v){
  int rc = kvBufReserve(p, 4);
  if( rc==KV_OK ){ kvPut32(p->a + p->n, v); p->n += 4; }
  return rc;
}

int kvBufAppend64(KvBuf *p, u64 v){
  int rc = kvBufReserve(p, 8);
  if( rc==KV_OK ){ kvPut64(p->a + p->n, v); p->n += 8; }
  return rc;
}

int kvBufSet(KvBuf *p, const void *a, size_t n){
  p->n = 0;
  return kvBufAppend(p, a, n);
}

void kvBufFree(KvBuf *p){
  kvFree(p->a);
  p->a = 0;
  p->n = 0;
  p->nAlloc = 0;
}
