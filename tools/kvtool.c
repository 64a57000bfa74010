/*
** kvtool.c - the command-line tool over a kvstore store directory.
**
**   kvtool COMMAND STORE_DIR [ARG] [options]
**
** Read commands (info, sstables, shape, dump-sst, dump-wal, dump-manifest,
** get, scan, verify) open the store with kv_open_readonly(): no lock, the
** WAL replayed into memory only, no file created, written, renamed or
** deleted, so they run beside the process that owns the store and leave
** every byte of it as it was. They use the engine alone.
**
** Writes (put, delete, batch-load) and maintenance (compact, checkpoint,
** repair) go through the owning database, named with --db
** (kvtool_sql.c): only it knows which prepared batches committed, and a
** write through it keeps every guarantee a SQL write has. Maintenance
** runs only when no other process uses the store (ktStoreClaim, the one
** place that knows the store's LOCK protocol) and refuses otherwise
** (exit 4). get and scan also go through the database when given --db.
**
** Every command takes --json (one JSON document on stdout, for scripts)
** and --help. Exit codes are KT_* in kvtool.h, documented in
** doc/kvtool.md.
*/
#include "kvtool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------- */
/* Output helpers.                                                         */

int ktFail(int e, const char *zFmt, ...){
  va_list ap;
  fputs("kvtool: ", stderr);
  va_start(ap, zFmt);
  vfprintf(stderr, zFmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return e;
}

/* Length of the UTF-8 sequence starting at p (at most n bytes), 0 if it
** is not a valid one. */
static size_t utf8Len(const u8 *p, size_t n){
  size_t k, i;
  if( p[0]<0x80 ) return 1;
  if( (p[0]&0xe0)==0xc0 && p[0]>=0xc2 ) k = 2;
  else if( (p[0]&0xf0)==0xe0 ) k = 3;
  else if( (p[0]&0xf8)==0xf0 && p[0]<=0xf4 ) k = 4;
  else return 0;
  if( k>n ) return 0;
  for(i=1; i<k; i++) if( (p[i]&0xc0)!=0x80 ) return 0;
  return k;
}

void ktJsonStr(FILE *f, const void *pv, size_t n){
  const u8 *p = (const u8*)pv;
  size_t i = 0;
  fputc('"', f);
  while( i<n ){
    u8 c = p[i];
    size_t k;
    if( c=='"' || c=='\\' ){ fputc('\\', f); fputc(c, f); i++; continue; }
    if( c=='\n' ){ fputs("\\n", f); i++; continue; }
    if( c=='\t' ){ fputs("\\t", f); i++; continue; }
    if( c<0x20 || c==0x7f ){ fprintf(f, "\\u%04x", c); i++; continue; }
    k = utf8Len(p+i, n-i);
    if( k==0 ){ fprintf(f, "\\u%04x", c); i++; continue; }
    fwrite(p+i, 1, k, f);
    i += k;
  }
  fputc('"', f);
}

void ktHex(FILE *f, const void *pv, size_t n){
  const u8 *p = (const u8*)pv;
  size_t i;
  for(i=0; i<n; i++) fprintf(f, "%02x", p[i]);
}

/* Text in SQL literal form: 'it''s'; control characters as \n \t \xNN
** so that one row stays on one line. */
static void sqlText(FILE *f, const u8 *p, size_t n){
  size_t i;
  fputc('\'', f);
  for(i=0; i<n; i++){
    if( p[i]=='\'' ) fputs("''", f);
    else if( p[i]=='\n' ) fputs("\\n", f);
    else if( p[i]=='\t' ) fputs("\\t", f);
    else if( p[i]<0x20 || p[i]==0x7f ) fprintf(f, "\\x%02x", p[i]);
    else fputc(p[i], f);
  }
  fputc('\'', f);
}

static u64 getBE64(const u8 *a){
  u64 x = 0;
  int i;
  for(i=0; i<8; i++) x = (x<<8) | a[i];
  return x;
}

void ktShowKey(FILE *f, int eKeyType, const u8 *p, size_t n, int bJson){
  if( eKeyType==KV_KEY_INTEGER && n==8 ){
    fprintf(f, "%lld", (long long)(int64_t)(getBE64(p) ^ ((u64)1<<63)));
  }else if( eKeyType==KV_KEY_TEXT ){
    if( bJson ) ktJsonStr(f, p, n); else sqlText(f, p, n);
  }else if( bJson ){
    fputc('"', f);
    ktHex(f, p, n);
    fputc('"', f);
  }else{
    fputs("X'", f);
    ktHex(f, p, n);
    fputc('\'', f);
  }
}

const char *ktValueType(const u8 *p, size_t n){
  if( n<1 ) return "invalid";
  switch( p[0] ){
    case 1: return (n>=2 && n<=9) ? "integer" : "invalid";
    case 2: return n==9 ? "real" : "invalid";
    case 3: return "text";
    case 4: return "blob";
    case 5: return n==1 ? "null" : "invalid";
  }
  return "invalid";
}

void ktShowValue(FILE *f, const u8 *p, size_t n, int bJson){
  const char *zType = ktValueType(p, n);
  if( strcmp(zType, "integer")==0 ){
    u64 x = (p[1] & 0x80) ? ~(u64)0 : 0;
    size_t i;
    for(i=1; i<n; i++) x = (x<<8) | p[i];
    fprintf(f, "%lld", (long long)(int64_t)x);
  }else if( strcmp(zType, "real")==0 ){
    u64 bits = getBE64(p+1);
    double r;
    char z[64];
    memcpy(&r, &bits, 8);
    if( r!=r || r-r!=0 ){
      /* JSON and SQL literals have no infinity: say it in words. */
      if( bJson ) fprintf(f, "\"%s\"", r>0 ? "Inf" : "-Inf");
      else fputs(r>0 ? "Inf" : "-Inf", f);
      return;
    }
    /* The shortest form that reads back as the same double. */
    {
      int nDigit;
      for(nDigit=15; nDigit<17; nDigit++){
        snprintf(z, sizeof(z), "%.*g", nDigit, r);
        if( strtod(z, 0)==r ) break;
      }
      if( nDigit==17 ) snprintf(z, sizeof(z), "%.17g", r);
    }
    if( strpbrk(z, ".en")==0 ) strcat(z, ".0");
    fputs(z, f);
  }else if( strcmp(zType, "text")==0 ){
    if( bJson ) ktJsonStr(f, p+1, n-1); else sqlText(f, p+1, n-1);
  }else if( strcmp(zType, "blob")==0 ){
    if( bJson ){ fputc('"', f); ktHex(f, p+1, n-1); fputc('"', f); }
    else{ fputs("X'", f); ktHex(f, p+1, n-1); fputc('\'', f); }
  }else if( strcmp(zType, "null")==0 ){
    fputs(bJson ? "null" : "NULL", f);
  }else{
    /* Not written by the kvstore table (an engine-level user?): raw. */
    if( bJson ){ fputc('"', f); ktHex(f, p, n); fputc('"', f); }
    else{ fputs("(not a table value) X'", f); ktHex(f, p, n); fputc('\'', f); }
  }
}

const char *ktSize(u64 n){
  static char az[4][32];
  static int i = 0;
  char *z = az[i++ & 3];
  if( n<1024 ) snprintf(z, 32, "%" PRIu64 " B", n);
  else if( n<1024*1024 ) snprintf(z, 32, "%.1f KiB", (double)n/1024);
  else if( n<(u64)1024*1024*1024 ) snprintf(z, 32, "%.1f MiB", (double)n/1048576);
  else snprintf(z, 32, "%.2f GiB", (double)n/1073741824.0);
  return z;
}

char *ktFilePath(const char *zDir, const char *zFile){
  if( strchr(zFile, '/') ) return kvStrdup(zFile);
  return kvMprintf("%s/%s", zDir, zFile);
}

const char *ktKeyTypeName(int e){
  return e==KV_KEY_BLOB ? "blob" : e==KV_KEY_INTEGER ? "integer" : "text";
}

/* ---------------------------------------------------------------------- */
/* Opening a store.                                                        */

int ktCheckStoreDir(const char *zDir){
  struct stat st;
  char *zId;
  int e = KT_OK;
  if( stat(zDir, &st)!=0 ){
    return ktFail(KT_CANTOPEN, "cannot open store '%s': %s", zDir,
                  strerror(errno));
  }
  if( !S_ISDIR(st.st_mode) ){
    return ktFail(KT_CANTOPEN, "cannot open store '%s': not a directory",
                  zDir);
  }
  zId = kvMprintf("%s/KVSTORE", zDir);
  if( zId && access(zId, F_OK)!=0 ){
    e = ktFail(KT_CANTOPEN, "'%s' does not hold a kvstore store (no KVSTORE "
               "file)", zDir);
  }
  kvFree(zId);
  return e;
}

/* Open read-only. A damaged store is a problem found (exit 1) for verify,
** and a store that cannot be opened (exit 3) for the other commands. */
static int openRo(const KtArgs *a, kv_db **ppDb){
  int rc;
  int e = ktCheckStoreDir(a->zDir);
  *ppDb = 0;
  if( e ) return e;
  rc = kv_open_readonly(a->zDir, 0, ppDb);
  if( rc!=KV_OK ){
    int eExit = (rc==KV_CORRUPT && strcmp(a->zCmd, "verify")==0)
                ? KT_PROBLEM : KT_CANTOPEN;
    if( a->bJson && eExit==KT_PROBLEM ){
      printf("{\"ok\":false,\"problem\":");
      ktJsonStr(stdout, kv_errmsg(0), strlen(kv_errmsg(0)));
      printf("}\n");
    }
    return ktFail(eExit, "cannot open store '%s' read-only: %s", a->zDir,
                  kv_errmsg(0));
  }
  return KT_OK;
}

/*
** Is the store in use by another process? Everything kvtool knows of the
** store's LOCK protocol is here, so that a change of that protocol changes
** this function alone.
**
** Every process that has a store open holds the OPEN byte of its LOCK
** file shared (engine/shared.c), and read-only opens take no lock. So the
** store is in use exactly when that byte cannot be locked exclusively
** without waiting. Holding it (ppHold) keeps every other process out, for
** work on the files alone (repair); it must not be held across a kv_open
** of this process, which would wait for it. Without ppHold it is let go at
** once, and the caller's own open (through the database) follows: a
** process that opens the store between the two shares it with the
** caller's, whose maintenance then runs under the store's own locks.
*/
int ktStoreClaim(const KtArgs *a, KvFile **ppHold){
  KvEnv *pEnv = kvEnvPosix();
  KvFile *pLock = 0;
  char *zLock;
  int rc;
  if( ppHold ) *ppHold = 0;
  zLock = kvMprintf("%s/LOCK", a->zDir);
  if( zLock==0 ) return ktFail(KT_CANTOPEN, "out of memory");
  rc = pEnv->xLock(pEnv, zLock, &pLock);
  kvFree(zLock);
  if( rc==KV_OK ){
    /* Every process that has the store open holds the OPEN byte shared
    ** (engine/shared.c): an exclusive one is refused while any does. */
    rc = pEnv->xLockByte(pLock, KV_LOCKB_OPEN, KV_LOCK_EXCL, 0);
    if( rc!=KV_OK ){
      KvErrSave save;
      kvErrSave(&save);
      pEnv->xUnlock(pLock);
      pLock = 0;
      kvErrRestore(&save, rc);
    }
  }
  if( rc==KV_BUSY ){
    return ktFail(KT_BUSY, "refusing to %s '%s': another process has the "
                  "store open (%s); close it first, or use the SQL function "
                  "from that process", a->zCmd, a->zDir, kv_errmsg(0));
  }
  if( rc!=KV_OK ){
    return ktFail(KT_CANTOPEN, "cannot lock '%s': %s", a->zDir, kv_errmsg(0));
  }
  if( ppHold ) *ppHold = pLock;
  else pEnv->xUnlock(pLock);
  return KT_OK;
}

void ktStoreRelease(KvFile *pHold){
  if( pHold ) kvEnvPosix()->xUnlock(pHold);
}

/* ---------------------------------------------------------------------- */
/* Progress bar.                                                           */

static long long nowMs(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec*1000 + ts.tv_nsec/1000000;
}

static long long iLastDraw = 0;     /* when the bar was last drawn (ms) */
static int bDrawn = 0;              /* a bar is on the line */

void ktProgress(const KtArgs *a, const char *zWhat, u64 nDone, u64 nTotal){
  long long now;
  char zBar[32];
  int i, nFill;
  if( !a->bProgress ) return;
  now = nowMs();
  if( bDrawn && now-iLastDraw<100 && (nTotal==0 || nDone<nTotal) ) return;
  iLastDraw = now;
  bDrawn = 1;
  if( nTotal==0 ){
    fprintf(stderr, "\r%s %s\033[K", zWhat, ktSize(nDone));
  }else{
    if( nDone>nTotal ) nDone = nTotal;
    nFill = (int)((double)nDone/(double)nTotal*30.0);
    for(i=0; i<30; i++) zBar[i] = i<nFill ? '#' : ' ';
    zBar[30] = 0;
    fprintf(stderr, "\r%s [%s] %3d%%\033[K", zWhat, zBar,
            (int)((double)nDone*100.0/(double)nTotal));
  }
  fflush(stderr);
}

void ktProgressEnd(const KtArgs *a){
  if( !a->bProgress || !bDrawn ) return;
  fputs("\r\033[K", stderr);
  fflush(stderr);
  bDrawn = 0;
}

/* ---------------------------------------------------------------------- */
/* info, sstables, shape.                                                  */

/* The OWNER file (written by the SQL layer when it binds a store to a
** table), or NULL. kvFree. */
static char *readOwner(const char *zDir){
  char *zPath = kvMprintf("%s/OWNER", zDir);
  KvBuf b = {0, 0, 0};
  char *z = 0;
  if( zPath && access(zPath, F_OK)==0
   && kvEnvReadAll(kvEnvPosix(), zPath, &b)==KV_OK ){
    z = kvMalloc(b.n+1);
    if( z ){
      memcpy(z, b.a, b.n);
      z[b.n] = 0;
      while( b.n>0 && (z[b.n-1]=='\n' || z[b.n-1]=='\r') ) z[--b.n] = 0;
    }
  }
  kvBufFree(&b);
  kvFree(zPath);
  return z;
}

/* The OWNER file is a header line ("kvstore-owner 1") and then one
** "name=value" line per field (kvowner.h). Values are shown as written
** (their %XX escapes kept). */
static void ownerJson(const char *zOwner){
  const char *z = strchr(zOwner, '\n');
  int bFirst = 1;
  printf("{");
  while( z ){
    const char *zLine = z+1, *zEq, *zEnd;
    z = strchr(zLine, '\n');
    zEnd = z ? z : zLine+strlen(zLine);
    zEq = memchr(zLine, '=', (size_t)(zEnd-zLine));
    if( zEq==0 ) continue;
    printf("%s", bFirst ? "" : ",");
    ktJsonStr(stdout, zLine, (size_t)(zEq-zLine));
    printf(":");
    ktJsonStr(stdout, zEq+1, (size_t)(zEnd-zEq-1));
    bFirst = 0;
  }
  printf("}");
}
static void ownerText(const char *zOwner){
  const char *z = strchr(zOwner, '\n');
  while( z ){
    const char *zLine = z+1;
    z = strchr(zLine, '\n');
    printf(" %.*s", (int)(z ? z-zLine : (long)strlen(zLine)), zLine);
  }
}

static u64 fileSize(const char *zPath){
  struct stat st;
  return stat(zPath, &st)==0 ? (u64)st.st_size : 0;
}

static int cmdInfo(const KtArgs *a){
  kv_db *db = 0;
  kv_sstable_info *aInfo = 0;
  int nInfo = 0, i;
  char *zStats = 0;
  char *zOwner = 0;
  u64 *aSeg = 0;
  int nSeg = 0;
  u64 anFile[KV_MAX_LEVELS], anByte[KV_MAX_LEVELS];
  u64 nTotal = 0;
  int nLevel, eKey;
  int e = openRo(a, &db);
  if( e ) return e;
  eKey = kv_key_type(db);
  nLevel = db->pOpts->nLevel;
  if( kv_sstables(db, &aInfo, &nInfo)!=KV_OK || kv_stats(db, &zStats)!=KV_OK
   || kvWalList(db->pEnv, db->zDir, &aSeg, &nSeg)!=KV_OK ){
    e = ktFail(KT_CANTOPEN, "cannot read '%s': %s", a->zDir, kv_errmsg(db));
    goto done;
  }
  zOwner = readOwner(a->zDir);
  memset(anFile, 0, sizeof(anFile));
  memset(anByte, 0, sizeof(anByte));
  for(i=0; i<nInfo; i++){
    anFile[aInfo[i].iLevel]++;
    anByte[aInfo[i].iLevel] += aInfo[i].nByte;
    nTotal += aInfo[i].nByte;
  }
  if( a->bJson ){
    printf("{\"store\":");
    ktJsonStr(stdout, db->zDir, strlen(db->zDir));
    printf(",\"key_type\":\"%s\",\"block_size\":%u,\"compression\":\"%s\"",
           ktKeyTypeName(eKey), db->pOpts->nBlock,
           db->pOpts->eCompression==KV_COMPRESS_ZLIB ? "zlib" : "none");
    printf(",\"sequence\":%" PRIu64, (u64)atomic_load(&db->lastSeq));
    printf(",\"manifest\":\"MANIFEST-%06" PRIu64 "\",\"log_number\":%" PRIu64,
           db->vset.iManifest, db->vset.iLogNumber);
    printf(",\"wal\":[");
    for(i=0; i<nSeg; i++){
      char *z = kvWalPath(db->zDir, aSeg[i]);
      printf("%s{\"file\":\"%s\",\"bytes\":%" PRIu64 ",\"replayed\":%s}",
             i ? "," : "", z ? strrchr(z, '/')+1 : "?", z ? fileSize(z) : 0,
             aSeg[i]>=db->vset.iLogNumber ? "true" : "false");
      kvFree(z);
    }
    printf("],\"owner\":");
    if( zOwner ) ownerJson(zOwner);
    else printf("null");
    printf(",\"levels\":[");
    for(i=0; i<nLevel; i++){
      printf("%s{\"level\":%d,\"files\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
             i ? "," : "", i, anFile[i], anByte[i]);
    }
    printf("],\"files\":%d,\"bytes\":%" PRIu64 ",\"stats\":%s}\n", nInfo,
           nTotal, zStats);
  }else{
    printf("store         %s\n", db->zDir);
    printf("key_type      %s\n", ktKeyTypeName(eKey));
    printf("block_size    %u\n", db->pOpts->nBlock);
    printf("compression   %s\n",
           db->pOpts->eCompression==KV_COMPRESS_ZLIB ? "zlib" : "none");
    printf("              (the options above are saved in the store; the "
           "others are the owner's\n               CREATE arguments and "
           "are not kept on disk)\n");
    printf("sequence      %" PRIu64 "\n", (u64)atomic_load(&db->lastSeq));
    printf("memtable      %" PRIu64 " entr%s replayed from the WAL (not "
           "yet in an SSTable)\n", kvMemCount(db->pMem),
           kvMemCount(db->pMem)==1 ? "y" : "ies");
    printf("manifest      MANIFEST-%06" PRIu64 "\n", db->vset.iManifest);
    printf("wal           %d segment%s", nSeg, nSeg==1 ? "" : "s");
    for(i=0; i<nSeg; i++){
      char *z = kvWalPath(db->zDir, aSeg[i]);
      printf("%s %s (%s%s)", i ? "," : ":", z ? strrchr(z, '/')+1 : "?",
             ktSize(z ? fileSize(z) : 0),
             aSeg[i]>=db->vset.iLogNumber ? "" : ", already in SSTables");
      kvFree(z);
    }
    printf("\nowner        ");
    if( zOwner ) ownerText(zOwner);
    else printf(" (no OWNER file)");
    printf("\n");
    printf("levels\n");
    for(i=0; i<nLevel; i++){
      printf("  L%-2d %4" PRIu64 " file%s %12s\n", i, anFile[i],
             anFile[i]==1 ? " " : "s", ktSize(anByte[i]));
    }
    printf("total         %d SSTable%s, %s\n", nInfo, nInfo==1 ? "" : "s",
           ktSize(nTotal));
    printf("note          read without the owning database: shows what the "
           "store's files hold\n");
  }
  if( a->zSvg ){
    if( ktWriteSvg(a->zSvg, db->zDir, eKey, nLevel, aInfo, nInfo) ){
      e = ktFail(KT_CANTOPEN, "cannot write '%s': %s", a->zSvg,
                 strerror(errno));
    }else if( !a->bJson ){
      printf("picture       %s\n", a->zSvg);
    }
  }
done:
  kvFree(aSeg);
  kvFree(zOwner);
  kv_free(zStats);
  kv_free(aInfo);
  kv_close(db);
  return e;
}

static int cmdSstables(const KtArgs *a){
  kv_db *db = 0;
  kv_sstable_info *aInfo = 0;
  int nInfo = 0, i, eKey;
  int e = openRo(a, &db);
  if( e ) return e;
  eKey = kv_key_type(db);
  if( kv_sstables(db, &aInfo, &nInfo)!=KV_OK ){
    e = ktFail(KT_CANTOPEN, "cannot read '%s': %s", a->zDir, kv_errmsg(db));
  }else if( a->bJson ){
    printf("[");
    for(i=0; i<nInfo; i++){
      kv_sstable_info *p = &aInfo[i];
      printf("%s{\"level\":%d,\"file\":\"%s\",\"bytes\":%" PRIu64
             ",\"entries\":%" PRIu64 ",\"tombstones\":%" PRIu64
             ",\"min_seq\":%" PRIu64 ",\"max_seq\":%" PRIu64 ",\"smallest_key\":",
             i ? "," : "", p->iLevel, p->zFile, p->nByte, p->nEntry,
             p->nTombstone, p->minSeq, p->maxSeq);
      ktShowKey(stdout, eKey, p->pSmallest, p->nSmallest, 1);
      printf(",\"largest_key\":");
      ktShowKey(stdout, eKey, p->pLargest, p->nLargest, 1);
      printf(",\"merkle_root\":\"");
      ktHex(stdout, p->aMerkle, 32);
      printf("\"}");
    }
    printf("]\n");
  }else{
    printf("%-5s %-12s %10s %8s %6s %-15s %s .. %s\n", "level", "file",
           "bytes", "entries", "tombs", "seq", "smallest", "largest");
    for(i=0; i<nInfo; i++){
      kv_sstable_info *p = &aInfo[i];
      char zSeq[48];
      snprintf(zSeq, sizeof(zSeq), "%" PRIu64 "-%" PRIu64, p->minSeq,
               p->maxSeq);
      printf("L%-4d %-12s %10" PRIu64 " %8" PRIu64 " %6" PRIu64 " %-15s ",
             p->iLevel, p->zFile, p->nByte, p->nEntry, p->nTombstone, zSeq);
      ktShowKey(stdout, eKey, p->pSmallest, p->nSmallest, 0);
      printf(" .. ");
      ktShowKey(stdout, eKey, p->pLargest, p->nLargest, 0);
      printf("\n");
    }
    printf("(%d SSTable%s)\n", nInfo, nInfo==1 ? "" : "s");
  }
  kv_free(aInfo);
  kv_close(db);
  return e;
}

static int cmdShape(const KtArgs *a){
  kv_db *db = 0;
  kv_sstable_info *aInfo = 0;
  int nInfo = 0;
  int e;
  if( a->zSvg==0 ){
    return ktFail(KT_USAGE, "shape needs --svg FILE (see kvtool shape --help)");
  }
  e = openRo(a, &db);
  if( e ) return e;
  if( kv_sstables(db, &aInfo, &nInfo)!=KV_OK ){
    e = ktFail(KT_CANTOPEN, "cannot read '%s': %s", a->zDir, kv_errmsg(db));
  }else if( ktWriteSvg(a->zSvg, db->zDir, kv_key_type(db), db->pOpts->nLevel,
                       aInfo, nInfo) ){
    e = ktFail(KT_CANTOPEN, "cannot write '%s': %s", a->zSvg, strerror(errno));
  }else if( a->bJson ){
    printf("{\"svg\":");
    ktJsonStr(stdout, a->zSvg, strlen(a->zSvg));
    printf(",\"files\":%d}\n", nInfo);
  }else{
    printf("wrote %s (%d SSTable%s)\n", a->zSvg, nInfo, nInfo==1 ? "" : "s");
  }
  kv_free(aInfo);
  kv_close(db);
  return e;
}

/* ---------------------------------------------------------------------- */
/* get, scan.                                                              */

static int hexVal(int c){
  if( c>='0' && c<='9' ) return c-'0';
  if( c>='a' && c<='f' ) return c-'a'+10;
  if( c>='A' && c<='F' ) return c-'A'+10;
  return -1;
}

/* Decode hex (optionally written x'..' as in SQL) into a (kvMalloc). */
int ktParseHex(const char *z, u8 **pa, size_t *pn){
  size_t n = strlen(z), i;
  u8 *a;
  if( n>=3 && (z[0]=='x' || z[0]=='X') && z[1]=='\'' && z[n-1]=='\'' ){
    z += 2;
    n -= 3;
  }
  if( n%2 ) return 0;
  a = kvMalloc(n/2 + 1);
  if( a==0 ) return 0;
  for(i=0; i<n; i+=2){
    int h = hexVal(z[i]), l = hexVal(z[i+1]);
    if( h<0 || l<0 ){ kvFree(a); return 0; }
    a[i/2] = (u8)(h*16 + l);
  }
  *pa = a;
  *pn = n/2;
  return 1;
}

/* Encode the command-line key z as the table stores keys of eKeyType.
** Returns KT_OK or KT_USAGE (with a message naming zWhat). */
int ktParseKey(const KtArgs *a, int eKeyType, const char *zWhat,
               const char *z, u8 **pa, size_t *pn){
  *pa = 0;
  *pn = 0;
  if( eKeyType==KV_KEY_INTEGER ){
    char *zEnd = 0;
    long long v;
    u64 u;
    int i;
    errno = 0;
    v = strtoll(z, &zEnd, 10);
    if( z[0]==0 || *zEnd!=0 || errno ){
      return ktFail(KT_USAGE, "%s '%s' is not an integer (the store's "
                    "key_type is integer)", zWhat, z);
    }
    *pa = kvMalloc(8);
    if( *pa==0 ) return ktFail(KT_CANTOPEN, "out of memory");
    u = (u64)v ^ ((u64)1<<63);
    for(i=7; i>=0; i--){ (*pa)[i] = (u8)u; u >>= 8; }
    *pn = 8;
    return KT_OK;
  }
  if( eKeyType==KV_KEY_BLOB || a->bHexKey ){
    if( !ktParseHex(z, pa, pn) ){
      return ktFail(KT_USAGE, "%s '%s' is not hex (blob keys are given in "
                    "hex, as ab01 or x'ab01')", zWhat, z);
    }
    return KT_OK;
  }
  *pa = (u8*)kvStrdup(z);
  if( *pa==0 ) return ktFail(KT_CANTOPEN, "out of memory");
  *pn = strlen(z);
  return KT_OK;
}

static int cmdGet(const KtArgs *a){
  kv_db *db = 0;
  u8 *aKey = 0;
  size_t nKey = 0, nVal = 0;
  void *pVal = 0;
  int rc, eKey;
  int e;
  if( a->zArg==0 ) return ktFail(KT_USAGE, "get needs a KEY (see kvtool get --help)");
  if( a->zDb ) return ktSqlGet(a);
  e = openRo(a, &db);
  if( e ) return e;
  eKey = kv_key_type(db);
  e = ktParseKey(a, eKey, "key", a->zArg, &aKey, &nKey);
  if( e==KT_OK ){
    rc = kv_get(db, 0, 0, aKey, nKey, &pVal, &nVal);
    if( rc==KV_NOTFOUND ){
      if( a->bJson ){
        printf("{\"key\":");
        ktShowKey(stdout, eKey, aKey, nKey, 1);
        printf(",\"found\":false}\n");
      }
      e = ktFail(KT_PROBLEM, "key %s not found", a->zArg);
    }else if( rc!=KV_OK ){
      e = ktFail(KT_CANTOPEN, "cannot read '%s': %s", a->zDir, kv_errmsg(db));
    }else if( a->bJson ){
      printf("{\"key\":");
      ktShowKey(stdout, eKey, aKey, nKey, 1);
      printf(",\"found\":true,\"value_type\":\"%s\",\"value\":",
             ktValueType(pVal, nVal));
      ktShowValue(stdout, pVal, nVal, 1);
      printf("}\n");
    }else{
      ktShowValue(stdout, pVal, nVal, 0);
      printf("\n");
    }
  }
  kv_free(pVal);
  kvFree(aKey);
  kv_close(db);
  return e;
}

/* The smallest key greater than every key starting with prefix p[0..n):
** p with its last byte below 0xff raised by one, the rest cut. Returns 0
** when there is none (the prefix is all 0xff or empty). */
static int prefixEnd(const u8 *p, size_t n, u8 *aOut, size_t *pnOut){
  while( n>0 && p[n-1]==0xff ) n--;
  if( n==0 ) return 0;
  memcpy(aOut, p, n);
  aOut[n-1]++;
  *pnOut = n;
  return 1;
}

static int keyCmp(const u8 *a, size_t na, const u8 *b, size_t nb){
  int c = memcmp(a, b, na<nb ? na : nb);
  return c ? c : (na<nb ? -1 : na>nb ? 1 : 0);
}

int ktScanBounds(const KtArgs *a, int eKey, u8 **paFrom, size_t *pnFrom,
                 u8 **paEnd, size_t *pnEnd){
  u8 *aPre = 0, *aFrom = 0, *aTo = 0, *aEnd = 0;
  size_t nPre = 0, nFrom = 0, nTo = 0, nEnd = 0;
  int bEnd = 0;                 /* aEnd: exclusive upper bound */
  int e = KT_OK;
  *paFrom = *paEnd = 0;
  *pnFrom = *pnEnd = 0;
  if( a->zPrefix && eKey==KV_KEY_INTEGER ){
    e = ktFail(KT_USAGE, "--prefix does not apply to integer keys: use "
               "--from and --to");
  }
  if( e==KT_OK && a->zPrefix ) e = ktParseKey(a, eKey, "--prefix", a->zPrefix, &aPre, &nPre);
  if( e==KT_OK && a->zFrom ) e = ktParseKey(a, eKey, "--from", a->zFrom, &aFrom, &nFrom);
  if( e==KT_OK && a->zTo ) e = ktParseKey(a, eKey, "--to", a->zTo, &aTo, &nTo);
  if( e ) goto done;
  /* Lower bound: the larger of --from and the prefix; upper bound
  ** (exclusive): the smaller of --to and the prefix's end. */
  if( aPre && (aFrom==0 || keyCmp(aPre, nPre, aFrom, nFrom)>0) ){
    kvFree(aFrom);
    aFrom = kvMalloc(nPre+1);
    if( aFrom==0 ){ e = ktFail(KT_CANTOPEN, "out of memory"); goto done; }
    memcpy(aFrom, aPre, nPre);
    nFrom = nPre;
  }
  if( aPre ){
    aEnd = kvMalloc(nPre+1);
    if( aEnd==0 ){ e = ktFail(KT_CANTOPEN, "out of memory"); goto done; }
    bEnd = prefixEnd(aPre, nPre, aEnd, &nEnd);
  }
  if( aTo && (!bEnd || keyCmp(aTo, nTo, aEnd, nEnd)<0) ){
    kvFree(aEnd);
    aEnd = aTo;
    nEnd = nTo;
    aTo = 0;
    bEnd = 1;
  }
  if( !bEnd ){
    kvFree(aEnd);
    aEnd = 0;
    nEnd = 0;
  }
  /* A key is never empty-and-absent: an empty lower bound is still a
  ** bound (kvMalloc'd above), so NULL means none. */
  *paFrom = aFrom;
  *pnFrom = nFrom;
  *paEnd = aEnd;
  *pnEnd = nEnd;
  aFrom = aEnd = 0;
done:
  kvFree(aPre);
  kvFree(aFrom);
  kvFree(aTo);
  kvFree(aEnd);
  return e;
}

static int cmdScan(const KtArgs *a){
  kv_db *db = 0;
  kv_iter *it = 0;
  u8 *aFrom = 0, *aEnd = 0;
  size_t nFrom = 0, nEnd = 0;
  int bEnd;                     /* aEnd: exclusive upper bound */
  long long nRow = 0;
  int eKey, rc = KV_OK;
  int e;
  if( a->zDb ) return ktSqlScan(a);
  e = openRo(a, &db);
  if( e ) return e;
  eKey = kv_key_type(db);
  e = ktScanBounds(a, eKey, &aFrom, &nFrom, &aEnd, &nEnd);
  if( e ) goto done;
  bEnd = aEnd!=0;
  rc = kv_iter_new(db, 0, 0, &it);
  if( rc==KV_OK ){
    if( !a->bReverse ){
      rc = aFrom ? kv_iter_seek(it, aFrom, nFrom) : kv_iter_first(it);
    }else if( bEnd ){
      rc = kv_iter_seek_for_prev(it, aEnd, nEnd);
      if( rc==KV_OK && kv_iter_valid(it) ){
        size_t n;
        const void *k = kv_iter_key(it, &n);
        if( keyCmp(k, n, aEnd, nEnd)>=0 ) rc = kv_iter_prev(it);
      }
    }else{
      rc = kv_iter_last(it);
    }
  }
  if( a->bJson ) printf("{\"key_type\":\"%s\",\"rows\":[", ktKeyTypeName(eKey));
  while( rc==KV_OK && kv_iter_valid(it) && (a->nLimit<0 || nRow<a->nLimit) ){
    size_t nK, nV;
    const u8 *k = kv_iter_key(it, &nK);
    const u8 *v = kv_iter_value(it, &nV);
    if( !a->bReverse && bEnd && keyCmp(k, nK, aEnd, nEnd)>=0 ) break;
    if( a->bReverse && aFrom && keyCmp(k, nK, aFrom, nFrom)<0 ) break;
    if( a->bJson ){
      printf("%s{\"key\":", nRow ? "," : "");
      ktShowKey(stdout, eKey, k, nK, 1);
      printf(",\"value_type\":\"%s\",\"value\":", ktValueType(v, nV));
      ktShowValue(stdout, v, nV, 1);
      printf("}");
    }else{
      ktShowKey(stdout, eKey, k, nK, 0);
      putchar('\t');
      ktShowValue(stdout, v, nV, 0);
      putchar('\n');
    }
    nRow++;
    rc = a->bReverse ? kv_iter_prev(it) : kv_iter_next(it);
  }
  if( a->bJson ) printf("],\"count\":%lld}\n", nRow);
  if( rc!=KV_OK ){
    e = ktFail(rc==KV_CORRUPT ? KT_PROBLEM : KT_CANTOPEN, "scan of '%s' "
               "failed: %s", a->zDir, kv_errmsg(db));
  }
done:
  kv_iter_free(it);
  kvFree(aFrom);
  kvFree(aEnd);
  kv_close(db);
  return e;
}

/* ---------------------------------------------------------------------- */
/* verify.                                                                 */

static int verifyProgress(void *pArg, uint64_t nDone, uint64_t nPlanned){
  ktProgress((const KtArgs*)pArg, "verify", nDone, nPlanned);
  return 0;
}

static int cmdVerify(const KtArgs *a){
  kv_db *db = 0;
  char *zReport = 0;
  int e = openRo(a, &db);
  int bOk;
  if( e ) return e;
  if( kv_verify_progress(db, verifyProgress, (void*)a, &zReport)!=KV_OK ){
    ktProgressEnd(a);
    e = ktFail(KT_CANTOPEN, "cannot verify '%s': %s", a->zDir, kv_errmsg(db));
  }else{
    ktProgressEnd(a);
    bOk = strcmp(zReport, "ok")==0;
    if( a->bJson ){
      printf("{\"ok\":%s", bOk ? "true" : "false");
      if( !bOk ){
        printf(",\"problem\":");
        ktJsonStr(stdout, zReport, strlen(zReport));
      }
      printf("}\n");
    }else{
      printf("%s\n", zReport);
    }
    if( !bOk ) e = KT_PROBLEM;
  }
  kv_free(zReport);
  kv_close(db);
  return e;
}

/* ---------------------------------------------------------------------- */
/* Command table, help, argument parsing.                                  */

typedef struct KtCmd KtCmd;
struct KtCmd {
  const char *zName;
  int (*xRun)(const KtArgs*);
  const char *zArg;             /* positional argument's name, or NULL */
  int bArgRequired;
  const char *zOptions;         /* options it accepts, space separated */
  const char *zBrief;           /* one line for kvtool --help */
  const char *zHelp;
  const char *zArg2;            /* second positional argument, or NULL */
  int bNeedDb;                  /* --db is required */
};

static const KtCmd aCmd[] = {
  { "info", cmdInfo, 0, 0, "--json --svg",
    "options, sequence, WAL, manifest, owner, files and bytes per level",
    "Options saved in the store, sequence, WAL segments, manifest, OWNER,\n"
    "files and bytes per level. --svg FILE also draws the LSM's shape.", 0, 0 },
  { "sstables", cmdSstables, 0, 0, "--json",
    "the live SSTables: level, size, entries, key range",
    "One line per live SSTable: level, file, bytes, entries, tombstones,\n"
    "sequence range, smallest and largest key (JSON adds the Merkle root).", 0, 0 },
  { "shape", cmdShape, 0, 0, "--json --svg",
    "draw the LSM's shape as an SVG picture (--svg FILE)",
    "Draw the LSM's shape as an SVG picture: one band per level, each\n"
    "SSTable a rectangle spanning its key range, shaded by size.\n"
    "Requires --svg FILE.", 0, 0 },
  { "dump-sst", ktDumpSst, "FILE", 1, "--json --entries --limit",
    "parts, blocks, entries and Merkle root of one SSTable",
    "Parts of one SSTable (offsets and sizes), its metadata and Merkle\n"
    "root, and every data block (offset, stored and raw size, compression,\n"
    "entries). --entries also lists the entries (internal keys: key,\n"
    "sequence, put/delete, value); --limit N stops after N entries. FILE is\n"
    "a name in STORE_DIR (000012.sst) or a path.", 0, 0 },
  { "dump-wal", ktDumpWal, "FILE", 0, "--json --limit",
    "records and operations of the WAL",
    "Records of a WAL segment (or of every segment when FILE is omitted):\n"
    "sequence, time, operations with keys and values.", 0, 0 },
  { "dump-manifest", ktDumpManifest, 0, 0, "--json",
    "CURRENT and every version edit of the manifest",
    "CURRENT and every version edit of the live manifest (log number, next\n"
    "file, last sequence, files added and deleted).", 0, 0 },
  { "get", cmdGet, "KEY", 1, "--json --hex --db --table",
    "the value of one key",
    "The value of KEY as the table shows it. KEY is text, a decimal integer\n"
    "or hex, after the store's key_type (--hex: a text key given in hex).\n"
    "Exit 1 when the key is absent. With --db DB [--table T] it asks the\n"
    "owning database (SELECT), which knows which batches committed;\n"
    "without, it reads the store's files alone.", 0, 0 },
  { "scan", cmdScan, 0, 0,
    "--json --hex --prefix --from --to --reverse --limit --db --table",
    "rows in key order (prefix, range, reverse, limit)",
    "Rows in key order: --prefix P, --from K (>= K), --to K (< K),\n"
    "--reverse, --limit N. Text mode prints one row a line, key and value\n"
    "as SQL literals separated by a tab ('text', X'hex', 42, 1.5, NULL).\n"
    "With --db DB [--table T] the rows come from the owning database.", 0, 0 },
  { "verify", cmdVerify, 0, 0, "--json",
    "check every checksum and Merkle root",
    "Check every checksum of every live SSTable, their Merkle roots, the\n"
    "manifest and the WAL. Prints ok or the first problem (exit 1).", 0, 0 },
  { "put", ktSqlPut, "KEY", 1, "--json --hex --type --db --table",
    "write one row through the owning database (--db)",
    "Write KEY = VALUE through the owning database DB (INSERT OR REPLACE\n"
    "into its table T, one transaction), with every guarantee of a SQL\n"
    "write. --type of VALUE: text (default), integer, real, blob (hex),\n"
    "null (VALUE then omitted or ignored). --table may be left out when\n"
    "one kvstore table of DB has STORE_DIR as its store.", "VALUE", 1 },
  { "delete", ktSqlDelete, "KEY", 1, "--json --hex --db --table",
    "delete one row through the owning database (--db)",
    "Delete KEY through the owning database DB (DELETE FROM T WHERE\n"
    "key = KEY). Exit 1 when the key is absent (nothing deleted).", 0, 1 },
  { "batch-load", ktSqlBatchLoad, 0, 0,
    "--json --hex --generate --prefix --value-size --file --db --table",
    "load many rows in one transaction through the owning database",
    "Load rows into table T of DB in ONE transaction (INSERT OR REPLACE),\n"
    "for tests and seeding. Either --generate N: N rows, keys PREFIX\n"
    "followed by a 10-digit number (--prefix, default 'key:'; integer\n"
    "keys 0..N-1; blob keys PREFIX-hex then 8 bytes), values of\n"
    "--value-size bytes of text (default 100); or --file F (- for stdin):\n"
    "one row a line, KEY TAB VALUE, the value as text, the key as for get.\n"
    "A progress bar on a terminal.", 0, 1 },
  { "compact", ktSqlCompact, 0, 0, "--full --json --db --table",
    "maintenance: run compactions (store not in use; --db)",
    "MAINTENANCE, through the owning database DB (kvstore_compact). Run\n"
    "due compactions (--full: merge everything into one sorted run).\n"
    "Refused (exit 4) while another process has the store open. Prints a\n"
    "JSON summary (with or without --json); a progress bar on a terminal.", 0, 1 },
  { "checkpoint", ktSqlCheckpoint, "DEST", 1, "--json --db --table",
    "maintenance: consistent copy into DEST (store not in use; --db)",
    "MAINTENANCE, through the owning database DB (kvstore_checkpoint).\n"
    "Write a consistent copy of the store into the new directory DEST\n"
    "(SSTables hard-linked where possible), detached: CREATE VIRTUAL TABLE\n"
    "... USING kvstore(dir='DEST') adopts it. Refused (exit 4) while\n"
    "another process has the store open.", 0, 1 },
  { "repair", ktSqlRepair, 0, 0, "--json --db --table",
    "maintenance: rebuild a damaged or lost CURRENT or manifest (--db)",
    "MAINTENANCE. When the store does not open because CURRENT is damaged\n"
    "or lost, point it at the newest manifest that reads whole and whose\n"
    "tables are present (the damaged one is kept as CURRENT.bad). When no\n"
    "manifest is usable, rebuild one from the SSTables through the owning\n"
    "database DB (kvstore_repair, which keeps only the batches DB\n"
    "committed). Refused (exit 4) while another process has the store\n"
    "open.", 0, 1 },
};
#define N_CMD ((int)(sizeof(aCmd)/sizeof(aCmd[0])))

static void usage(FILE *f){
  int i;
  fprintf(f,
    "usage: kvtool COMMAND STORE_DIR [ARG] [options]\n"
    "       kvtool COMMAND --help\n\n"
    "Inspect a kvstore store directory without changing it (read commands\n"
    "run beside the process that owns the store); write to it, or maintain\n"
    "one that no process uses, through its owning database (--db DB).\n\n"
    "commands:\n");
  for(i=0; i<N_CMD; i++){
    fprintf(f, "  %-14s %s\n", aCmd[i].zName, aCmd[i].zBrief);
  }
  fprintf(f, "\nexit codes: 0 ok, 1 problem found (damage, key absent, SQL "
          "error), 2 usage,\n            3 cannot open or read, 4 store in "
          "use (maintenance refused)\n            or database locked\n");
}

static void cmdHelp(const KtCmd *c){
  printf("usage: kvtool %s STORE_DIR%s%s%s%s%s%s [options]\n\n%s\n\n"
         "options: %s\n",
         c->zName, c->zArg ? (c->bArgRequired ? " " : " [") : "",
         c->zArg ? c->zArg : "", (c->zArg && !c->bArgRequired) ? "]" : "",
         c->zArg2 ? " " : "", c->zArg2 ? c->zArg2 : "",
         c->bNeedDb ? " --db DB [--table T]" : "",
         c->zHelp, c->zOptions);
  printf("\nexit codes: 0 ok, 1 problem found, 2 usage, 3 cannot open, "
         "4 store in use\n");
}

static int optAllowed(const KtCmd *c, const char *zOpt){
  const char *z = c->zOptions;
  size_t n = strlen(zOpt);
  while( (z = strstr(z, zOpt))!=0 ){
    if( (z[n]==0 || z[n]==' ') && (z==c->zOptions || z[-1]==' ') ) return 1;
    z += n;
  }
  return 0;
}

/* A count option's value (--limit, --generate, --value-size). */
static int parseCount(const char *zOpt, const char *zVal, long long *pn){
  char *zEnd = 0;
  errno = 0;
  *pn = strtoll(zVal, &zEnd, 10);
  if( zVal[0]==0 || *zEnd || *pn<0 || errno ){
    return ktFail(KT_USAGE, "%s '%s' is not a count", zOpt, zVal);
  }
  return KT_OK;
}

int main(int argc, char **argv){
  KtArgs a;
  const KtCmd *c = 0;
  int i, nPos = 0;
  memset(&a, 0, sizeof(a));
  a.nLimit = -1;
  a.nGenerate = -1;
  a.nValueSize = 100;
  a.bProgress = isatty(2);
  if( argc<2 ){
    usage(stderr);
    return KT_USAGE;
  }
  if( strcmp(argv[1], "--help")==0 || strcmp(argv[1], "-h")==0
   || strcmp(argv[1], "help")==0 ){
    usage(stdout);
    return KT_OK;
  }
  if( strcmp(argv[1], "--version")==0 ){
    printf("kvtool %s\n", kv_version());
    return KT_OK;
  }
  for(i=0; i<N_CMD; i++){
    if( strcmp(argv[1], aCmd[i].zName)==0 ) c = &aCmd[i];
  }
  if( c==0 ){
    ktFail(KT_USAGE, "unknown command '%s'", argv[1]);
    usage(stderr);
    return KT_USAGE;
  }
  a.zCmd = c->zName;
  for(i=2; i<argc; i++){
    const char *z = argv[i];
    if( strcmp(z, "--help")==0 || strcmp(z, "-h")==0 ){
      cmdHelp(c);
      return KT_OK;
    }
  }
  for(i=2; i<argc; i++){
    const char *z = argv[i];
    if( z[0]=='-' && z[1]=='-' ){
      const char *zVal = 0;
      int bValue = strcmp(z, "--limit")==0 || strcmp(z, "--prefix")==0
                || strcmp(z, "--from")==0 || strcmp(z, "--to")==0
                || strcmp(z, "--svg")==0 || strcmp(z, "--db")==0
                || strcmp(z, "--table")==0 || strcmp(z, "--type")==0
                || strcmp(z, "--generate")==0 || strcmp(z, "--file")==0
                || strcmp(z, "--value-size")==0;
      int e = KT_OK;
      if( !optAllowed(c, z) ){
        return ktFail(KT_USAGE, "%s does not take option '%s' (it takes: %s)",
                      c->zName, z, c->zOptions);
      }
      if( bValue ){
        if( i+1>=argc ) return ktFail(KT_USAGE, "option %s needs a value", z);
        zVal = argv[++i];
      }
      if( strcmp(z, "--json")==0 ) a.bJson = 1;
      else if( strcmp(z, "--entries")==0 ) a.bEntries = 1;
      else if( strcmp(z, "--reverse")==0 ) a.bReverse = 1;
      else if( strcmp(z, "--full")==0 ) a.bFull = 1;
      else if( strcmp(z, "--hex")==0 ) a.bHexKey = 1;
      else if( strcmp(z, "--prefix")==0 ) a.zPrefix = zVal;
      else if( strcmp(z, "--from")==0 ) a.zFrom = zVal;
      else if( strcmp(z, "--to")==0 ) a.zTo = zVal;
      else if( strcmp(z, "--svg")==0 ) a.zSvg = zVal;
      else if( strcmp(z, "--db")==0 ) a.zDb = zVal;
      else if( strcmp(z, "--table")==0 ) a.zTable = zVal;
      else if( strcmp(z, "--type")==0 ) a.zType = zVal;
      else if( strcmp(z, "--file")==0 ) a.zFile = zVal;
      else if( strcmp(z, "--limit")==0 ) e = parseCount(z, zVal, &a.nLimit);
      else if( strcmp(z, "--generate")==0 ) e = parseCount(z, zVal, &a.nGenerate);
      else if( strcmp(z, "--value-size")==0 ) e = parseCount(z, zVal, &a.nValueSize);
      if( e ) return e;
    }else if( nPos==0 ){
      a.zDir = z;
      nPos++;
    }else if( nPos==1 && c->zArg ){
      a.zArg = z;
      nPos++;
    }else if( nPos==2 && c->zArg2 ){
      a.zArg2 = z;
      nPos++;
    }else{
      return ktFail(KT_USAGE, "%s: unexpected argument '%s' (see kvtool %s "
                    "--help)", c->zName, z, c->zName);
    }
  }
  if( a.zDir==0 ){
    return ktFail(KT_USAGE, "%s needs STORE_DIR (see kvtool %s --help)",
                  c->zName, c->zName);
  }
  if( c->bArgRequired && a.zArg==0 ){
    return ktFail(KT_USAGE, "%s needs %s (see kvtool %s --help)", c->zName,
                  c->zArg, c->zName);
  }
  if( c->bNeedDb && a.zDb==0 ){
    return ktFail(KT_USAGE, "%s needs --db DB, the owning database (see "
                  "kvtool %s --help)%s", c->zName, c->zName,
                  strcmp(c->zName, "put") && strcmp(c->zName, "delete")
                  && strcmp(c->zName, "batch-load") ? ": only it knows which "
                  "prepared batches committed" : ": writes go through it");
  }
  if( a.zTable && a.zDb==0 ){
    return ktFail(KT_USAGE, "--table needs --db DB");
  }
  return c->xRun(&a);
}
