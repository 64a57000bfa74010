/*
** pccheck.c - builds the states a power cut could leave from a log of
** pcshim.so (pc.h) and checks each one with the engine.
**
**   pccheck LOG WORKDIR [--points N] [--variants N] [--expect-loss]
**           [--sql CHECKER] [--dump]
**
** --sql: the log is of an SQLite database beside the store (pcshim's
** PC_PARENT_PREFIX, tests/powercut/pcsql.py): each state is written as
** WORKDIR/sql/app.db (with its journal or WAL) and the store
** WORKDIR/sql/app.db-kv.kvstore, and "CHECKER DB ACKED BEGUN" judges it
** (exit 0 passes, 1 refused cleanly, 2 fails; its first output line says
** why) instead of the engine check below.
**
** --expect-loss inverts the verdict for the negative control (a log made
** with PC_SKIP_DIRSYNC): the run passes only if failures were found.
**
** THE MODEL. Replaying the log keeps two views of the traced directory:
** what the running process saw (every operation applied) and what is
** durable. fsync/fdatasync of a file makes its bytes and its size durable
** (POSIX: nothing else does; a write, a truncate, a fallocate before it is
** "pending" until then). fsync of the directory makes its entries durable
** (a create, rename or unlink is pending until then; POSIX promises
** nothing for a new file's name otherwise, even after the file's own
** fsync). When the log creates the store's directory itself (PC_MKDIR),
** its entry is pending until an fsync of the parent: without one, the
** whole directory may be gone. A crash point is the instant before each fsync of the log (where
** the most is pending) and the end of the log. A crash state at a point is
** the durable view plus a subset of the pending operations applied in log
** order. Subsets tried, within a budget per point (--variants):
**   synced      none: only what was made durable survives
**   all         every one (as if the process alone had died)
**   data-only   every pending data operation, no pending name change
**   names-only  every pending name change, no pending data
**   prefix-k    the first k pending operations (a file system that
**               persists in order, as a journal does)
**   omit-j      every pending operation but the j-th (reordering: a later
**               one reached the disk, that one did not)
**   torn-zeros  the prefix up to the last pending write, whose bytes are
**               zeros (the size reached the disk, the data did not)
**   torn-garbage  the same with pseudo-random bytes (a torn sector)
**   dir-lost    when the store's directory was created and its parent not
**               fsynced since: no directory at all (every other variant
**               keeps it, so that this one loss does not hide the others)
** Identical states are checked once.
**
** THE CHECK. Each state is written to WORKDIR/state and opened with the
** engine (kv_open with pc.h's options). It must open, or refuse with a
** "kvstore:" message (counted apart: never silent). Opened, it must hold
** exactly the state after some batch j (pc.h), with j at least the last
** batch acknowledged before the crash point and at most the last one
** begun, every value byte for byte what that batch wrote, and kv_verify
** must say "ok".
**
** Failures are attributed to the known bugs of $KV_KNOWN_BUGS when the
** state shows them (testutil.h lists the names): a listed bug's failures
** are counted as expected (XFAIL), the others fail the run. For each kind
** of failure the state of the earliest crash point is kept in
** WORKDIR/fail-<kind>/ with a README of how it was built.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kv.h"
#include "pc.h"
#include "pcengine.h"
#include "../../engine/test/knownbug.h"

typedef unsigned char u8;

typedef struct Op Op;
struct Op {
  PcRec r;
  char *z1, *z2;                /* names (NUL-terminated) */
  u8 *a;                        /* data */
};

typedef struct Buf Buf;
struct Buf {
  u8 *a;
  size_t n;
};

typedef struct Names Names;
struct Names {
  int bDir;                     /* the directory itself exists */
  int n;
  char *az[256];
  int aId[256];
};

/* A state under construction: names and the content of every file. */
typedef struct State State;
struct State {
  Names names;
  Buf *aFile;                   /* indexed by file id */
};

static Op *aOp;
static int nOp;
static int nFileId;             /* 1 + largest file id */
static const char *zWork;
static char zStateDir[1024];
static const char *zSqlCheck = 0;   /* --sql */

/* Counters. */
static int nState, nDup, nFail, nXfail, nRefused, nPoint, nPointAll;
static int nXfailWalCut;          /* of them, wal-cut-unsynced */

/* ---------------------------------------------------------------------- */
/* Small helpers.                                                          */

static void *xmalloc(size_t n){
  void *p = malloc(n ? n : 1);
  if( p==0 ){ fprintf(stderr, "pccheck: out of memory\n"); exit(2); }
  return p;
}

static void bufSetSize(Buf *b, size_t n){
  if( n>b->n ){
    u8 *a = realloc(b->a, n);
    if( a==0 ){ fprintf(stderr, "pccheck: out of memory\n"); exit(2); }
    memset(a + b->n, 0, n - b->n);
    b->a = a;
  }
  b->n = n;
}

static void bufCopy(Buf *pTo, const Buf *pFrom){
  free(pTo->a);
  pTo->a = xmalloc(pFrom->n);
  if( pFrom->n ) memcpy(pTo->a, pFrom->a, pFrom->n);
  pTo->n = pFrom->n;
}

static int namesFind(const Names *p, const char *z){
  int i;
  for(i=0; i<p->n; i++) if( strcmp(p->az[i], z)==0 ) return i;
  return -1;
}
static void namesSet(Names *p, const char *z, int iId){
  int i = namesFind(p, z);
  if( i<0 ){
    if( p->n==256 ){ fprintf(stderr, "pccheck: too many names\n"); exit(2); }
    i = p->n++;
    p->az[i] = strdup(z);
  }
  p->aId[i] = iId;
}
static void namesDel(Names *p, const char *z){
  int i = namesFind(p, z);
  if( i<0 ) return;
  free(p->az[i]);
  p->n--;
  p->az[i] = p->az[p->n];
  p->aId[i] = p->aId[p->n];
}
static void namesCopy(Names *pTo, const Names *pFrom){
  int i;
  for(i=0; i<pTo->n; i++) free(pTo->az[i]);
  pTo->bDir = pFrom->bDir;
  pTo->n = pFrom->n;
  for(i=0; i<pFrom->n; i++){
    pTo->az[i] = strdup(pFrom->az[i]);
    pTo->aId[i] = pFrom->aId[i];
  }
}

/* Make pTo's names of one directory (the traced one, or with bParent the
** one holding it: "../" names) those of pFrom. */
static void namesCopyDir(Names *pTo, const Names *pFrom, int bParent){
  int i;
  for(i=pTo->n-1; i>=0; i--){
    if( PC_IS_PARENT(pTo->az[i])==bParent ){
      char *z = pTo->az[i];
      namesDel(pTo, z);
    }
  }
  for(i=0; i<pFrom->n; i++){
    if( PC_IS_PARENT(pFrom->az[i])==bParent ){
      namesSet(pTo, pFrom->az[i], pFrom->aId[i]);
    }
  }
}

static int isDataOp(int e){
  return e==PC_WRITE || e==PC_SETSIZE || e==PC_EXTEND;
}
static int isNameOp(int e){
  return e==PC_CREATE || e==PC_RENAME || e==PC_UNLINK || e==PC_MKDIR
      || e==PC_LINK;
}

/* Apply op to names and files. eData for a write: 1 its data, 2 zeros
** instead, 3 pseudo-random bytes instead (what a torn sector holds). */
static void applyOp(Names *pNames, Buf *aFile, const Op *p, int eData){
  Buf *b = (int)p->r.iFile<nFileId ? &aFile[p->r.iFile] : 0;
  switch( p->r.eOp ){
    case PC_CREATE: namesSet(pNames, p->z1, (int)p->r.iFile); break;
    case PC_PRESENT:
      namesSet(pNames, p->z1, (int)p->r.iFile);
      bufSetSize(b, (size_t)p->r.nData);
      if( p->r.nData ) memcpy(b->a, p->a, (size_t)p->r.nData);
      break;
    case PC_RENAME: {
      int i = namesFind(pNames, p->z1);
      if( i>=0 ){
        int iId = pNames->aId[i];
        namesDel(pNames, p->z1);
        namesSet(pNames, p->z2, iId);
      }
      break;
    }
    case PC_UNLINK: namesDel(pNames, p->z1); break;
    case PC_LINK: {
      int i = namesFind(pNames, p->z1);
      if( i>=0 ) namesSet(pNames, p->z2, pNames->aId[i]);
      break;
    }
    case PC_MKDIR:  pNames->bDir = 1; break;
    case PC_WRITE: {
      size_t n = (size_t)p->r.nData, k;
      uint64_t x = 0x9e3779b97f4a7c15ULL ^ p->r.iOff;
      if( p->r.iOff + n > b->n ) bufSetSize(b, (size_t)p->r.iOff + n);
      if( eData==2 ){
        memset(b->a + p->r.iOff, 0, n);
      }else if( eData==3 ){
        for(k=0; k<n; k++){
          x ^= x << 13; x ^= x >> 7; x ^= x << 17;
          b->a[p->r.iOff + k] = (u8)(x >> 24);
        }
      }else{
        memcpy(b->a + p->r.iOff, p->a, n);
      }
      break;
    }
    case PC_SETSIZE: bufSetSize(b, (size_t)p->r.iOff); break;
    case PC_EXTEND:
      if( p->r.iOff > b->n ) bufSetSize(b, (size_t)p->r.iOff);
      break;
  }
}

/* ---------------------------------------------------------------------- */
/* Reading the log.                                                        */

static void readLog(const char *zLog){
  FILE *fp = fopen(zLog, "rb");
  int nAlloc = 0;
  if( fp==0 ){ perror(zLog); exit(2); }
  for(;;){
    Op o;
    memset(&o, 0, sizeof(o));
    if( fread(&o.r, sizeof(o.r), 1, fp)!=1 ) break;
    o.z1 = xmalloc(o.r.nPath1 + 1);
    o.z2 = xmalloc(o.r.nPath2 + 1);
    o.a = xmalloc((size_t)o.r.nData + 1);
    if( fread(o.z1, 1, o.r.nPath1, fp)!=o.r.nPath1
     || fread(o.z2, 1, o.r.nPath2, fp)!=o.r.nPath2
     || fread(o.a, 1, (size_t)o.r.nData, fp)!=o.r.nData ){
      fprintf(stderr, "pccheck: %s: truncated record\n", zLog);
      exit(2);
    }
    o.z1[o.r.nPath1] = 0;
    o.z2[o.r.nPath2] = 0;
    o.a[o.r.nData] = 0;
    if( nOp==nAlloc ){
      nAlloc = nAlloc ? nAlloc*2 : 1024;
      aOp = realloc(aOp, sizeof(Op)*(size_t)nAlloc);
      if( aOp==0 ){ fprintf(stderr, "pccheck: out of memory\n"); exit(2); }
    }
    if( (int)o.r.iFile + 1 > nFileId ) nFileId = (int)o.r.iFile + 1;
    aOp[nOp++] = o;
  }
  fclose(fp);
}

static const char *opName(int e){
  static const char *az[] = { "?", "create", "write", "setsize", "extend",
    "rename", "unlink", "fsync", "dirsync", "mark", "mkdir", "parentsync",
    "present", "link" };
  return e>=1 && e<=13 ? az[e] : "?";
}

static void describeOp(FILE *out, const Op *p){
  switch( p->r.eOp ){
    case PC_CREATE: fprintf(out, "create %s (file %u)", p->z1, p->r.iFile);
                    break;
    case PC_RENAME: fprintf(out, "rename %s -> %s", p->z1, p->z2); break;
    case PC_UNLINK: fprintf(out, "unlink %s", p->z1); break;
    case PC_LINK:   fprintf(out, "link %s -> %s", p->z1, p->z2); break;
    case PC_MARK:   fprintf(out, "mark '%s'", (char*)p->a); break;
    case PC_DIRSYNC: fprintf(out, "fsync directory"); break;
    case PC_MKDIR: fprintf(out, "mkdir of the store directory"); break;
    case PC_PARENTSYNC: fprintf(out, "fsync of the parent directory"); break;
    case PC_PRESENT: fprintf(out, "%s (file %u) present before the trace, "
                             "%llu bytes", p->z1, p->r.iFile,
                             (unsigned long long)p->r.nData); break;
    default:
      fprintf(out, "%s file %u off %llu len %llu", opName((int)p->r.eOp),
              p->r.iFile, (unsigned long long)p->r.iOff,
              (unsigned long long)p->r.nData);
  }
}

/* ---------------------------------------------------------------------- */
/* The engine side.                                                        */

static kv_options *options(void){ return pcOptions("pccheck", 2); }

/* Model: value of key k<iKey> after batches 1..j: the batch that put it,
** or -1 if absent. */
static int modelBatch(int iKey, int j){
  int n;
  for(n=j; n>=1; n--){
    if( n%PC_NKEYS==iKey ) return n;
    if( (n + PC_NKEYS/2)%PC_NKEYS==iKey ) return -1;
  }
  return -1;
}

/* The value batch n wrote for key zKey (into z, returns its length). */
static int modelValue(int n, const char *zKey, char *z){
  int nVal = snprintf(z, 400, "%d:%s:", n, zKey);
  memset(z + nVal, 'a' + n % 26, (size_t)(20 + (n*37) % 280));
  return nVal + 20 + (n*37) % 280;
}

/* Check the store in zStateDir. Returns 0 if it passes, 1 if it was
** refused cleanly, 2 on a failure (described in zWhy). */
static int checkStore(kv_options *o, int nAcked, int nTried, char *zWhy,
                      size_t nWhy){
  kv_db *db = 0;
  kv_iter *it = 0;
  void *p = 0;
  size_t n = 0;
  int rc, j = 0, k, nLive = 0, nSeen = 0, ret = 0;
  char *zReport = 0;
  rc = kv_open(zStateDir, o, &db);
  if( rc!=KV_OK ){
    const char *zMsg = kv_errmsg(0);
    snprintf(zWhy, nWhy, "open refused (%d): %s", rc, zMsg);
    return strncmp(zMsg, "kvstore:", 8)==0 ? 1 : 2;
  }
  rc = kv_get(db, 0, 0, "last", 4, &p, &n);
  if( rc==KV_OK ){
    char z[32];
    snprintf(z, sizeof(z), "%.*s", (int)(n<31 ? n : 31), (char*)p);
    j = atoi(z);
    kv_free(p);
  }else if( rc!=KV_NOTFOUND ){
    snprintf(zWhy, nWhy, "reading 'last': %s", kv_errmsg(db));
    ret = 2;
    goto done;
  }
  if( j<nAcked ){
    snprintf(zWhy, nWhy, "lost acknowledged batches %d..%d (store holds "
             "batch %d)", j+1, nAcked, j);
    ret = 2;
    goto done;
  }
  if( j>nTried ){
    snprintf(zWhy, nWhy, "holds batch %d, only %d begun", j, nTried);
    ret = 2;
    goto done;
  }
  for(k=0; k<PC_NKEYS; k++) if( modelBatch(k, j)>0 ) nLive++;
  rc = kv_iter_new(db, 0, 0, &it);
  for(rc = rc==KV_OK ? kv_iter_first(it) : rc;
      rc==KV_OK && kv_iter_valid(it); rc = kv_iter_next(it)){
    size_t nKey, nVal;
    const char *zKey = kv_iter_key(it, &nKey);
    const char *zVal = kv_iter_value(it, &nVal);
    char zK[32], zWant[400];
    int iKey, nb, nWant;
    if( nKey==4 && memcmp(zKey, "last", 4)==0 ) continue;
    snprintf(zK, sizeof(zK), "%.*s", (int)(nKey<31 ? nKey : 31), zKey);
    if( nKey!=3 || zKey[0]!='k' || (iKey = atoi(zK+1))>=PC_NKEYS
     || (nb = modelBatch(iKey, j))<0 ){
      snprintf(zWhy, nWhy, "key '%s' should not exist after batch %d", zK, j);
      ret = 2;
      goto done;
    }
    nWant = modelValue(nb, zK, zWant);
    if( (int)nVal!=nWant || memcmp(zVal, zWant, nVal)!=0 ){
      snprintf(zWhy, nWhy, "value of '%s' is not what batch %d wrote "
               "(%d bytes, want %d)", zK, nb, (int)nVal, nWant);
      ret = 2;
      goto done;
    }
    nSeen++;
  }
  if( rc!=KV_OK ){
    snprintf(zWhy, nWhy, "iteration: %s", kv_errmsg(db));
    ret = 2;
    goto done;
  }
  if( nSeen!=nLive ){
    snprintf(zWhy, nWhy, "%d keys after batch %d, want %d", nSeen, j, nLive);
    ret = 2;
    goto done;
  }
  rc = kv_verify(db, &zReport);
  if( rc!=KV_OK || strcmp(zReport, "ok")!=0 ){
    snprintf(zWhy, nWhy, "kv_verify: %s",
             rc!=KV_OK ? kv_errmsg(db) : zReport);
    ret = 2;
  }
done:
  kv_free(zReport);
  kv_iter_free(it);
  kv_close(db);
  return ret;
}

/* --sql: run the checker on the database of the state. Same returns as
** checkStore. */
static int checkSql(int nAcked, int nTried, char *zWhy, size_t nWhy){
  char zCmd[3072];
  FILE *fp;
  int st;
  snprintf(zCmd, sizeof(zCmd), "%s '%s/sql/app.db' %d %d 2>&1", zSqlCheck,
           zWork, nAcked, nTried);
  fp = popen(zCmd, "r");
  if( fp==0 ){ perror("popen"); exit(2); }
  zWhy[0] = 0;
  if( fgets(zWhy, (int)nWhy, fp) ){
    size_t n = strlen(zWhy);
    if( n && zWhy[n-1]=='\n' ) zWhy[n-1] = 0;
  }
  while( fgetc(fp)!=EOF ){}
  st = pclose(fp);
  if( st==-1 || !WIFEXITED(st) ) return 2;
  return WEXITSTATUS(st)==0 ? 0 : WEXITSTATUS(st)==1 ? 1 : 2;
}

/* ---------------------------------------------------------------------- */
/* States.                                                                 */

static void removeDirFiles(const char *zDir){
  DIR *d = opendir(zDir);
  struct dirent *e;
  char z[2048];
  if( d==0 ) return;
  while( (e = readdir(d))!=0 ){
    if( e->d_name[0]=='.' && (e->d_name[1]==0 || e->d_name[1]=='.') ) continue;
    snprintf(z, sizeof(z), "%s/%s", zDir, e->d_name);
    unlink(z);
  }
  closedir(d);
}

static void writeState(const char *zDir, const State *s){
  char zParent[1024];
  int i;
  snprintf(zParent, sizeof(zParent), "%s", zDir);
  if( strrchr(zParent, '/') ) *strrchr(zParent, '/') = 0;
  mkdir(zDir, 0755);
  removeDirFiles(zDir);
  if( zSqlCheck ) removeDirFiles(zParent);  /* (the store's dir stays) */
  if( !s->names.bDir ){
    rmdir(zDir);                /* the store directory itself is lost */
  }
  for(i=0; i<s->names.n; i++){
    char z[2048];
    const Buf *b = &s->aFile[s->names.aId[i]];
    int fd;
    if( PC_IS_PARENT(s->names.az[i]) ){
      snprintf(z, sizeof(z), "%s/%s", zParent, s->names.az[i]+3);
    }else if( !s->names.bDir ){
      continue;
    }else{
      snprintf(z, sizeof(z), "%s/%s", zDir, s->names.az[i]);
    }
    fd = open(z, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    if( fd<0 || (b->n && write(fd, b->a, b->n)!=(ssize_t)b->n) ){
      perror(z);
      exit(2);
    }
    close(fd);
  }
}

static uint64_t stateHash(const State *s){
  uint64_t h = 1469598103934665603ULL;
  int i;
  /* Order-independent over names: sum of per-name hashes. */
  uint64_t sum = 0;
  if( !s->names.bDir ) return 0x5eed;   /* no directory: nothing else */
  for(i=0; i<s->names.n; i++){
    const char *z = s->names.az[i];
    const Buf *b = &s->aFile[s->names.aId[i]];
    size_t k;
    uint64_t g = h;
    for(; *z; z++){ g ^= (u8)*z; g *= 1099511628211ULL; }
    g ^= 0xff; g *= 1099511628211ULL;
    for(k=0; k<b->n; k++){ g ^= b->a[k]; g *= 1099511628211ULL; }
    g ^= b->n; g *= 1099511628211ULL;
    sum += g;
  }
  return sum ^ (uint64_t)s->names.n ^ ((uint64_t)s->names.bDir << 40);
}

/* Attribution to a known bug, from the state itself. */
static const char *attribute(const State *s){
  int i;
  int bCurrent = 0, bOther = 0;
  unsigned long long iNewest = 0;
  for(i=0; i<s->names.n; i++){
    unsigned long long iSeg;
    if( sscanf(s->names.az[i], "wal-%llu.log", &iSeg)==1 && iSeg>iNewest ){
      iNewest = iSeg;
    }
    if( strcmp(s->names.az[i], "CURRENT")==0 ) bCurrent = 1;
    if( strncmp(s->names.az[i], "MANIFEST-", 9)==0
     || strstr(s->names.az[i], ".sst") ) bOther = 1;
  }
  if( !s->names.bDir ) return "store-dir-unsynced";
  if( !bCurrent && bOther ) return "missing-current";
  for(i=0; i<s->names.n; i++){
    unsigned long long iSeg;
    const Buf *b = &s->aFile[s->names.aId[i]];
    if( sscanf(s->names.az[i], "wal-%llu.log", &iSeg)==1 && iSeg<iNewest
     && b->n>0 && b->a[b->n-1]==0 ){
      return "wal-cut-unsynced";
    }
  }
  return 0;
}


/* Kinds of failure already saved (the earliest crash point of each). */
static char azSaved[32][64];
static int nSaved;

static void saveFailure(const char *zKind, const State *s, int iPoint,
                        const char *zVariant, const int *aPend, int nPend,
                        const u8 *aUse, int bDirLost, const char *zWhy){
  char zDir[1200], zReadme[1300];
  FILE *out;
  int i;
  for(i=0; i<nSaved; i++) if( strcmp(azSaved[i], zKind)==0 ) return;
  if( nSaved<32 ) snprintf(azSaved[nSaved++], 64, "%s", zKind);
  snprintf(zDir, sizeof(zDir), "%s/fail-%s", zWork, zKind);
  writeState(zDir, s);
  snprintf(zReadme, sizeof(zReadme), "%s.txt", zDir);
  out = fopen(zReadme, "w");
  if( out==0 ) return;
  fprintf(out, "failure: %s\ncrash point: before log record %d (%s)\n"
          "variant: %s\n%s", zWhy, iPoint,
          iPoint<nOp ? opName((int)aOp[iPoint].r.eOp) : "end of log",
          zVariant, s->names.bDir ? "files:\n"
          : "the store directory itself is missing; it held:\n");
  for(i=0; i<s->names.n; i++){
    fprintf(out, "  %-20s %zu bytes (file %d)\n", s->names.az[i],
            s->aFile[s->names.aId[i]].n, s->names.aId[i]);
  }
  fprintf(out, "pending operations (+ applied, - dropped):\n");
  for(i=0; i<nPend; i++){
    int bUsed = aOp[aPend[i]].r.eOp==PC_MKDIR ? !bDirLost : aUse[i]!=0;
    fprintf(out, "  %c #%d ", bUsed ? '+' : '-', aPend[i]);
    describeOp(out, &aOp[aPend[i]]);
    fprintf(out, "\n");
  }
  fclose(out);
  printf("  saved: %s (and %s)\n", zDir, zReadme);
}

/* States checked (open addressing): hash, and the most acknowledged
** batches a check of it required. The same state at a later crash point
** is checked again only if more batches were acknowledged by then (the
** check is stricter; a later point never makes it laxer otherwise). */
static uint64_t *aSeen;
static int *aSeenAcked;
static size_t nSeenAlloc, nSeenUsed;
static int seenBefore(uint64_t h, int nAcked){
  size_t i;
  if( h==0 ) h = 1;
  if( nSeenUsed*2>=nSeenAlloc ){
    uint64_t *aOld = aSeen;
    int *aOldAcked = aSeenAcked;
    size_t nOld = nSeenAlloc;
    nSeenAlloc = nSeenAlloc ? nSeenAlloc*2 : 4096;
    aSeen = calloc(nSeenAlloc, sizeof(uint64_t));
    aSeenAcked = calloc(nSeenAlloc, sizeof(int));
    if( aSeen==0 || aSeenAcked==0 ){
      fprintf(stderr, "pccheck: out of memory\n");
      exit(2);
    }
    nSeenUsed = 0;
    for(i=0; i<nOld; i++) if( aOld[i] ) seenBefore(aOld[i], aOldAcked[i]);
    free(aOld);
    free(aOldAcked);
  }
  for(i=h%nSeenAlloc; aSeen[i]; i=(i+1)%nSeenAlloc){
    if( aSeen[i]==h ){
      if( aSeenAcked[i]>=nAcked ) return 1;
      aSeenAcked[i] = nAcked;
      return 0;
    }
  }
  aSeen[i] = h;
  aSeenAcked[i] = nAcked;
  nSeenUsed++;
  return 0;
}

/* Build and check one state: the durable view plus the pending operations
** aPend[i] with aUse[i] (1: as logged, 2: zeros in place of the data,
** 3: garbage in place of the data). The creation of the store directory
** itself, when pending, is applied unless bDirLost: its loss is one state
** of its own, which would otherwise hide every other one. */
static void tryState(kv_options *o, const Names *pDurNames, Buf *aDur,
                     const int *aPend, int nPend, const u8 *aUse,
                     int bDirLost, int iPoint, const char *zVariant,
                     int nAcked, int nTried){
  State s;
  int i, r;
  char zWhy[600];
  const char *zBug;
  memset(&s, 0, sizeof(s));
  namesCopy(&s.names, pDurNames);
  s.aFile = calloc((size_t)nFileId + 1, sizeof(Buf));
  for(i=0; i<nFileId; i++) bufCopy(&s.aFile[i], &aDur[i]);
  for(i=0; i<nPend; i++){
    const Op *p = &aOp[aPend[i]];
    if( p->r.eOp==PC_MKDIR ){
      if( !bDirLost ) applyOp(&s.names, s.aFile, p, 1);
    }else if( aUse[i] ){
      applyOp(&s.names, s.aFile, p, aUse[i]);
    }
  }
  if( seenBefore(stateHash(&s), nAcked) ){
    nDup++;
    goto out;
  }
  nState++;
  writeState(zStateDir, &s);
  zBug = attribute(&s);
  r = zSqlCheck ? checkSql(nAcked, nTried, zWhy, sizeof(zWhy))
                : checkStore(o, nAcked, nTried, zWhy, sizeof(zWhy));
  if( r==1 ){
    nRefused++;
    if( nRefused<=5 ){
      printf("  refused: crash point %d (%s), acked %d: %s\n", iPoint,
             zVariant, nAcked, zWhy);
    }
  }else if( r==2 ){
    char zKind[64];
    /* A zero-tailed segment explains lost commits, nothing else. */
    if( zBug && strcmp(zBug, "wal-cut-unsynced")==0
     && strncmp(zWhy, "lost acknowledged", 17)!=0 ){
      zBug = 0;
    }
    if( zBug && tuKnownBug(zBug) ){
      nXfail++;
      if( strcmp(zBug, "wal-cut-unsynced")==0 ) nXfailWalCut++;
      snprintf(zKind, sizeof(zKind), "%s", zBug);
    }else{
      nFail++;
      snprintf(zKind, sizeof(zKind), "%s", zBug ? zBug : "unexplained");
      if( nFail<=20 ){
        printf("  FAIL crash point %d (%s), acked %d: %s\n", iPoint,
               zVariant, nAcked, zWhy);
      }
    }
    saveFailure(zKind, &s, iPoint, zVariant, aPend, nPend, aUse, bDirLost,
                zWhy);
  }
out:
  for(i=0; i<s.names.n; i++) free(s.names.az[i]);
  for(i=0; i<nFileId; i++) free(s.aFile[i].a);
  free(s.aFile);
}

/* Every variant of one crash point (budget: nVariant prefix and omit
** variants each). */
static void crashPoint(kv_options *o, const Names *pDurNames, Buf *aDur,
                       const int *aPend, int nPend, int iPoint, int nAcked,
                       int nTried, int nVariant){
  u8 *aUse = xmalloc((size_t)nPend + 1);
  char zVar[64];
  int i, k, step;
#define TRY(zV) tryState(o, pDurNames, aDur, aPend, nPend, aUse, 0, iPoint, \
                         zV, nAcked, nTried)
  memset(aUse, 0, (size_t)nPend + 1);
  TRY("synced");
  if( !pDurNames->bDir ){
    tryState(o, pDurNames, aDur, aPend, nPend, aUse, 1, iPoint, "dir-lost",
             nAcked, nTried);
  }
  memset(aUse, 1, (size_t)nPend + 1);
  TRY("all");
  if( nPend>1 ){
    for(i=0; i<nPend; i++) aUse[i] = isDataOp((int)aOp[aPend[i]].r.eOp);
    TRY("data-only");
    for(i=0; i<nPend; i++) aUse[i] = isNameOp((int)aOp[aPend[i]].r.eOp);
    TRY("names-only");
    step = nPend-1 > nVariant ? (nPend-1 + nVariant-1)/nVariant : 1;
    for(k=1; k<nPend; k+=step){
      for(i=0; i<nPend; i++) aUse[i] = i<k;
      snprintf(zVar, sizeof(zVar), "prefix-%d/%d", k, nPend);
      TRY(zVar);
    }
    step = nPend > nVariant ? (nPend + nVariant-1)/nVariant : 1;
    for(k=0; k<nPend; k+=step){
      for(i=0; i<nPend; i++) aUse[i] = i!=k;
      snprintf(zVar, sizeof(zVar), "omit-%d/%d", k+1, nPend);
      TRY(zVar);
    }
  }
  for(k=nPend-1; k>=0 && aOp[aPend[k]].r.eOp!=PC_WRITE; k--){}
  if( k>=0 ){
    for(i=0; i<nPend; i++) aUse[i] = i<k ? 1 : 0;
    aUse[k] = 2;
    snprintf(zVar, sizeof(zVar), "torn-zeros-%d/%d", k+1, nPend);
    TRY(zVar);
    aUse[k] = 3;
    snprintf(zVar, sizeof(zVar), "torn-garbage-%d/%d", k+1, nPend);
    TRY(zVar);
  }
#undef TRY
  free(aUse);
}

int main(int argc, char **argv){
  int nMaxPoint = 0, nVariant = 4, bDump = 0, bExpectLoss = 0;
  int i, nAcked = 0, nTried = 0, iStride = 1, iCand = 0;
  Names cur, dur;
  Buf *aCur, *aDur;
  int *aPend, nPend = 0;
  kv_options *o;
  struct timespec t0, t1;
  if( argc<3 ){
    fprintf(stderr, "usage: pccheck LOG WORKDIR [--points N] "
            "[--variants N] [--dump]\n");
    return 2;
  }
  zWork = argv[2];
  for(i=3; i<argc; i++){
    if( strcmp(argv[i], "--points")==0 && i+1<argc ){
      nMaxPoint = atoi(argv[++i]);
    }else if( strcmp(argv[i], "--variants")==0 && i+1<argc ){
      nVariant = atoi(argv[++i]);
    }else if( strcmp(argv[i], "--expect-loss")==0 ){
      bExpectLoss = 1;
    }else if( strcmp(argv[i], "--dump")==0 ){
      bDump = 1;
    }else if( strcmp(argv[i], "--sql")==0 && i+1<argc ){
      zSqlCheck = argv[++i];
    }else{
      fprintf(stderr, "pccheck: unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if( nVariant<1 ) nVariant = 1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  readLog(argv[1]);
  if( bDump ){
    for(i=0; i<nOp; i++){
      printf("#%d ", i);
      describeOp(stdout, &aOp[i]);
      printf("\n");
    }
    return 0;
  }
  mkdir(zWork, 0755);
  if( zSqlCheck ){
    char zSql[1024];
    snprintf(zSql, sizeof(zSql), "%s/sql", zWork);
    mkdir(zSql, 0755);
    snprintf(zStateDir, sizeof(zStateDir), "%s/sql/app.db-kv.kvstore", zWork);
  }else{
    snprintf(zStateDir, sizeof(zStateDir), "%s/state", zWork);
  }
  o = options();

  /* Crash points: before every fsync, and the end of the log. */
  for(i=0; i<nOp; i++){
    if( aOp[i].r.eOp==PC_FSYNC || aOp[i].r.eOp==PC_DIRSYNC
     || aOp[i].r.eOp==PC_PARENTSYNC ) nPointAll++;
  }
  nPointAll++;
  if( nMaxPoint>0 && nPointAll>nMaxPoint ){
    iStride = (nPointAll + nMaxPoint - 1)/nMaxPoint;
  }

  memset(&cur, 0, sizeof(cur));
  memset(&dur, 0, sizeof(dur));
  cur.bDir = dur.bDir = 1;      /* unless the log creates it */
  aCur = calloc((size_t)nFileId + 1, sizeof(Buf));
  aDur = calloc((size_t)nFileId + 1, sizeof(Buf));
  aPend = xmalloc(sizeof(int)*((size_t)nOp + 1));
  for(i=0; i<=nOp; i++){
    const Op *p = i<nOp ? &aOp[i] : 0;
    int e = p ? (int)p->r.eOp : 0;
    if( p==0 || e==PC_FSYNC || e==PC_DIRSYNC || e==PC_PARENTSYNC ){
      /* A crash point (the stride spreads a bounded run over the log; the
      ** end of the log is always taken). */
      if( p==0 || iCand%iStride==0 ){
        nPoint++;
        crashPoint(o, &dur, aDur, aPend, nPend, i, nAcked, nTried, nVariant);
      }
      iCand++;
    }
    if( p==0 ) break;
    if( e==PC_MARK ){
      int n;
      if( sscanf((char*)p->a, "ack %d", &n)==1 ) nAcked = n;
      if( sscanf((char*)p->a, "begin %d", &n)==1 ) nTried = n;
      continue;
    }
    if( e==PC_FSYNC ){
      int k, m = 0;
      bufCopy(&aDur[p->r.iFile], &aCur[p->r.iFile]);
      for(k=0; k<nPend; k++){
        const Op *q = &aOp[aPend[k]];
        if( !(isDataOp((int)q->r.eOp) && q->r.iFile==p->r.iFile) ){
          aPend[m++] = aPend[k];
        }
      }
      nPend = m;
      continue;
    }
    if( e==PC_DIRSYNC || e==PC_PARENTSYNC ){
      /* The entries of that directory: for the traced one, not its own
      ** entry in its parent; for the parent, that entry and the files
      ** traced there ("../" names). */
      int k, m = 0, bParent = e==PC_PARENTSYNC;
      namesCopyDir(&dur, &cur, bParent);
      if( bParent ) dur.bDir = cur.bDir;
      for(k=0; k<nPend; k++){
        const Op *q = &aOp[aPend[k]];
        int eP = (int)q->r.eOp;
        int bDone = eP==PC_MKDIR ? bParent
                  : isNameOp(eP) && PC_IS_PARENT(q->z1)==bParent;
        if( !bDone ) aPend[m++] = aPend[k];
      }
      nPend = m;
      continue;
    }
    if( e==PC_PRESENT ){
      applyOp(&cur, aCur, p, 1);
      applyOp(&dur, aDur, p, 1);
      continue;
    }
    if( e==PC_MKDIR ) dur.bDir = 0;   /* it did not exist before */
    applyOp(&cur, aCur, p, 1);
    aPend[nPend++] = i;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);

  printf("powercut: %d log records, %d crash points of %d, %d crash states "
         "checked (%d duplicates skipped), %d failures, %d expected "
         "failures (known bugs: %s), %d refused cleanly, %.1fs\n",
         nOp, nPoint, nPointAll, nState, nDup, nFail, nXfail,
         getenv("KV_KNOWN_BUGS") ? getenv("KV_KNOWN_BUGS") : "none",
         nRefused, (double)(t1.tv_sec - t0.tv_sec)
         + (double)(t1.tv_nsec - t0.tv_nsec)/1e9);
  kv_options_free(o);
  if( bExpectLoss ){
    printf("powercut: negative control: %s\n",
           nFail>0 ? "failures found, as they must be"
                   : "NO failure found: the checker is blind");
    return nFail>0 ? 0 : 1;
  }
  if( tuKnownBug("wal-cut-unsynced") && nXfailWalCut==0 ){
    printf("powercut: XPASS: no failure shows wal-cut-unsynced any more; "
           "remove it from KNOWN_BUGS in the Makefile\n");
    return 1;
  }
  return nFail>0 ? 1 : 0;
}
