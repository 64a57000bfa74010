/*
** kvtool_repair.c - kvtool repair: make a store whose CURRENT file is
** damaged or lost open again, by pointing CURRENT at the newest manifest
** that reads whole and whose tables are all present.
**
** It runs only with the store claimed (ktStoreClaim: refused while another
** process has the store open) and changes one file: CURRENT, replaced
** atomically; the damaged one is kept as CURRENT.bad for inspection.
** Nothing is deleted.
**
** When no manifest is usable, it says so to its caller (kvtool_sql.c),
** which rebuilds one from the SSTables through the owning database
** (kvstore_repair: kv_repair with the database's commit horizon, so that
** prepared batches the database never committed do not come back).
*/
#include "kvtool.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Does manifest zName read whole, with its counters, and are the tables of
** the version it describes all present? Sets *pnFile to their number. On
** failure the engine's message says why. */
static int manifestUsable(const char *zDir, const char *zName, int *pnFile){
  char *zPath = kvMprintf("%s/%s", zDir, zName);
  KvLogReader *pR = 0;
  u64 *aLive = 0;
  int nLive = 0, nAlloc = 0, nEdit = 0, i, j;
  int bLog = 0, bNext = 0, bSeq = 0;
  int rc;
  *pnFile = 0;
  if( zPath==0 ) return kvErr(KV_NOMEM, "kvstore: out of memory");
  rc = kvLogReaderOpen(kvEnvPosix(), zPath, &pR);
  while( rc==KV_OK ){
    const u8 *a = 0;
    size_t n = 0;
    KvVersionEdit e;
    rc = kvLogRead(pR, &a, &n);
    if( rc!=KV_OK || a==0 ) break;
    rc = kvEditDecode(a, n, &e);
    if( rc!=KV_OK ){
      rc = kvErr(KV_CORRUPT, "kvstore: corrupt manifest '%s': bad version "
                 "edit", zPath);
      break;
    }
    nEdit++;
    bLog |= e.bLogNumber;
    bNext |= e.bNextFile;
    bSeq |= e.bLastSeq;
    for(i=0; i<e.nDel; i++){
      for(j=0; j<nLive; j++){
        if( aLive[j]==e.aDel[i].iFile ){ aLive[j] = aLive[--nLive]; break; }
      }
    }
    for(i=0; rc==KV_OK && i<e.nAdd; i++){
      if( nLive==nAlloc ){
        u64 *aNew = kvRealloc(aLive, sizeof(u64)*(size_t)(nAlloc*2+8));
        if( aNew==0 ){ rc = kvErr(KV_NOMEM, "kvstore: out of memory"); break; }
        aLive = aNew;
        nAlloc = nAlloc*2 + 8;
      }
      aLive[nLive++] = e.aAdd[i].pMeta->iFile;
    }
    kvEditClear(&e);
  }
  if( rc==KV_OK && (nEdit==0 || !bLog || !bNext || !bSeq) ){
    rc = kvErr(KV_CORRUPT, "kvstore: corrupt manifest '%s': %s", zPath,
               nEdit ? "missing counters" : "no valid version edit");
  }
  for(i=0; rc==KV_OK && i<nLive; i++){
    char *zSst = kvSstPath(zDir, aLive[i]);
    if( zSst==0 ){
      rc = kvErr(KV_NOMEM, "kvstore: out of memory");
    }else if( !kvEnvPosix()->xExists(kvEnvPosix(), zSst) ){
      rc = kvErr(KV_CORRUPT, "kvstore: manifest '%s' lists the table '%s', "
                 "which is missing", zPath, zSst);
    }
    kvFree(zSst);
  }
  if( rc==KV_OK ) *pnFile = nLive;
  kvLogReaderClose(pR);
  kvFree(aLive);
  kvFree(zPath);
  return rc;
}

static int cmpDesc(const void *a, const void *b){
  u64 x = *(const u64*)a, y = *(const u64*)b;
  return x<y ? 1 : x>y ? -1 : 0;
}

int ktRepairCurrent(const KtArgs *a, int *pbRebuild){
  KvEnv *pEnv = kvEnvPosix();
  KvFile *pLock = 0;
  kv_db *db = 0;
  char **az = 0;
  u64 *aNum = 0;
  int nName = 0, nNum = 0, i, nFile = 0;
  int e;
  int rc;
  char zCurrent[64];
  char zWhy[512];

  *pbRebuild = 0;
  e = ktStoreClaim(a, &pLock);
  if( e ) return e;

  /* A store that opens needs no repair. */
  if( kv_open_readonly(a->zDir, 0, &db)==KV_OK ){
    kv_close(db);
    printf("nothing to repair: '%s' opens\n", a->zDir);
    goto done;
  }
  snprintf(zWhy, sizeof(zWhy), "%s", kv_errmsg(0));

  /* Is CURRENT the damage? When it names a usable manifest, it is not. */
  {
    char *zCur = kvMprintf("%s/CURRENT", a->zDir);
    KvBuf cur = {0, 0, 0};
    int bCurOk = 0;
    if( zCur && pEnv->xExists(pEnv, zCur)
     && kvEnvReadAll(pEnv, zCur, &cur)==KV_OK && cur.n>10 && cur.n<40
     && memcmp(cur.a, "MANIFEST-", 9)==0 && cur.a[cur.n-1]=='\n'
     && strspn((char*)cur.a+9, "0123456789")==cur.n-10 ){
      char zName[48];
      snprintf(zName, sizeof(zName), "%.*s", (int)cur.n-1, (char*)cur.a);
      bCurOk = manifestUsable(a->zDir, zName, &nFile)==KV_OK;
    }
    kvBufFree(&cur);
    kvFree(zCur);
    if( bCurOk ){
      e = ktFail(KT_PROBLEM, "cannot repair '%s': CURRENT and its manifest "
                 "are sound; the damage is elsewhere, and repair rebuilds "
                 "CURRENT and the manifest only: %s", a->zDir, zWhy);
      goto done;
    }
  }

  /* The newest manifest that is usable. */
  if( pEnv->xList(pEnv, a->zDir, &az, &nName)!=KV_OK ){
    e = ktFail(KT_CANTOPEN, "cannot list '%s': %s", a->zDir, kv_errmsg(0));
    goto done;
  }
  aNum = kvMalloc(sizeof(u64)*(size_t)(nName+1));
  if( aNum==0 ){ e = ktFail(KT_CANTOPEN, "out of memory"); goto done; }
  for(i=0; i<nName; i++){
    const char *z = az[i];
    if( strncmp(z, "MANIFEST-", 9)==0 && z[9] && strspn(z+9, "0123456789")==strlen(z+9) ){
      aNum[nNum++] = strtoull(z+9, 0, 10);
    }
  }
  qsort(aNum, (size_t)nNum, sizeof(u64), cmpDesc);
  zCurrent[0] = 0;
  for(i=0; i<nNum; i++){
    char zName[48];
    snprintf(zName, sizeof(zName), "MANIFEST-%06" PRIu64, aNum[i]);
    if( manifestUsable(a->zDir, zName, &nFile)==KV_OK ){
      snprintf(zCurrent, sizeof(zCurrent), "%s\n", zName);
      break;
    }
    snprintf(zWhy, sizeof(zWhy), "%s", kv_errmsg(0));
  }
  if( zCurrent[0]==0 ){
    /* No manifest is usable: the caller rebuilds one (kv_repair through
    ** the database). */
    *pbRebuild = 1;
    goto done;
  }

  /* Keep the damaged CURRENT, then replace it atomically. */
  {
    char *zCur = kvMprintf("%s/CURRENT", a->zDir);
    KvBuf old = {0, 0, 0};
    if( zCur && pEnv->xExists(pEnv, zCur)
     && kvEnvReadAll(pEnv, zCur, &old)==KV_OK ){
      rc = kvEnvWriteAtomic(pEnv, a->zDir, "CURRENT.bad", old.a, old.n);
    }else{
      rc = KV_OK;
    }
    if( rc==KV_OK ){
      rc = kvEnvWriteAtomic(pEnv, a->zDir, "CURRENT", zCurrent,
                            strlen(zCurrent));
    }
    kvBufFree(&old);
    kvFree(zCur);
    if( rc!=KV_OK ){
      e = ktFail(KT_PROBLEM, "cannot write CURRENT in '%s': %s", a->zDir,
                 kv_errmsg(0));
      goto done;
    }
  }
  if( kv_open_readonly(a->zDir, 0, &db)!=KV_OK ){
    e = ktFail(KT_PROBLEM, "CURRENT of '%s' now names %.*s, but the store "
               "still does not open: %s", a->zDir,
               (int)strlen(zCurrent)-1, zCurrent, kv_errmsg(0));
    goto done;
  }
  kv_close(db);
  if( a->bJson ){
    printf("{\"repaired\":true,\"current\":\"%.*s\",\"tables\":%d}\n",
           (int)strlen(zCurrent)-1, zCurrent, nFile);
  }else{
    printf("repaired: CURRENT now names %.*s (%d table%s); the damaged one "
           "is kept as CURRENT.bad\n", (int)strlen(zCurrent)-1, zCurrent,
           nFile, nFile==1 ? "" : "s");
  }
done:
  kvFreeList(az, nName);
  kvFree(aNum);
  ktStoreRelease(pLock);
  return e;
}
