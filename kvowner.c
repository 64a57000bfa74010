/*
** kvowner.c - store identity and ownership (kvowner.h, doc/ownership.md).
**
** Nothing here opens the engine: these helpers decide, from the OWNER
** file and the table's shadow rows alone, whether a table may touch a
** directory at all, so that a copy of a database, a second table naming
** the same directory or a database file from someone else reads nothing,
** writes nothing and deletes nothing.
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "kvowner.h"
#include "kvshadow.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define OWNER_NAME   "OWNER"
#define OWNER_HEADER "kvstore-owner 1"
#define OWNER_MAX    16384      /* larger is damage */

static pthread_mutex_t ownerMutex = PTHREAD_MUTEX_INITIALIZER;
void kvownerEnter(void){ pthread_mutex_lock(&ownerMutex); }
void kvownerLeave(void){ pthread_mutex_unlock(&ownerMutex); }

void kvownerClear(KvOwner *p){
  sqlite3_free(p->zStoreId);
  sqlite3_free(p->zTable);
  sqlite3_free(p->zPrevTable);
  sqlite3_free(p->zDbPath);
  memset(p, 0, sizeof(*p));
}

/* Names a store may hold before its KVSTORE file exists (a creation cut
** short): they do not make a directory foreign. */
static int isDebris(const char *z){
  return strcmp(z, "LOCK")==0 || strcmp(z, "KVSTORE.tmp")==0
      || strcmp(z, OWNER_NAME ".tmp")==0;
}

int kvownerDropLeftover(const char *zDir){
  DIR *pDir = opendir(zDir);
  struct dirent *pEnt;
  int bOwner = 0, bOther = 0;
  if( pDir==0 ) return 0;
  while( (pEnt = readdir(pDir))!=0 ){
    const char *z = pEnt->d_name;
    if( strcmp(z, ".")==0 || strcmp(z, "..")==0 || isDebris(z)
     || strcmp(z, "CURRENT.dropped")==0 || strcmp(z, "CURRENT.dropping")==0 ){
      continue;
    }
    if( strcmp(z, OWNER_NAME)==0 ){
      bOwner = 1;
    }else{
      bOther = 1;
    }
  }
  closedir(pDir);
  return bOwner && !bOther;
}

char *kvownerDefaultDir(const char *zDbFile, const char *zTab){
  return sqlite3_mprintf("%s-%s.kvstore", zDbFile, zTab);
}

const char *kvownerDbFile(sqlite3 *db, const char *zSchema){
  const char *z = sqlite3_db_filename(db, zSchema);
  sqlite3_vfs *pVfs = 0;
  if( z==0 || z[0]==0 ) return 0;
  if( sqlite3_file_control(db, zSchema, SQLITE_FCNTL_VFS_POINTER,
                           &pVfs)==SQLITE_OK
   && pVfs && pVfs->zName && strcmp(pVfs->zName, "memdb")==0 ){
    return 0;
  }
  return z;
}

int kvownerProbe(const char *zDir){
  struct stat st;
  DIR *pDir;
  struct dirent *pEnt;
  char *zId;
  int eRes = KVDIR_EMPTY;
  if( stat(zDir, &st)!=0 ) return errno==ENOENT ? KVDIR_MISSING : KVDIR_FOREIGN;
  if( !S_ISDIR(st.st_mode) ) return KVDIR_FOREIGN;
  zId = sqlite3_mprintf("%s/KVSTORE", zDir);
  if( zId==0 ) return KVDIR_FOREIGN;
  if( lstat(zId, &st)==0 ){
    sqlite3_free(zId);
    return S_ISREG(st.st_mode) ? KVDIR_STORE : KVDIR_FOREIGN;
  }
  sqlite3_free(zId);
  pDir = opendir(zDir);
  if( pDir==0 ) return KVDIR_FOREIGN;
  while( (pEnt = readdir(pDir))!=0 ){
    const char *z = pEnt->d_name;
    if( strcmp(z, ".")==0 || strcmp(z, "..")==0 || isDebris(z) ) continue;
    eRes = KVDIR_FOREIGN;
    break;
  }
  closedir(pDir);
  return eRes;
}

/* Append z to s, escaping what would break the line format. */
static void escapeAppend(sqlite3_str *s, const char *z){
  for(; *z; z++){
    unsigned char c = (unsigned char)*z;
    if( c<0x20 || c==0x7f || c=='%' ){
      sqlite3_str_appendf(s, "%%%02X", c);
    }else{
      sqlite3_str_appendchar(s, 1, (char)c);
    }
  }
}

static int hexVal(char c){
  if( c>='0' && c<='9' ) return c-'0';
  if( c>='A' && c<='F' ) return c-'A'+10;
  if( c>='a' && c<='f' ) return c-'a'+10;
  return -1;
}

/* Unescape z[0..n) into a new string *pzOut: SQLITE_CORRUPT on a bad
** escape, SQLITE_NOMEM when memory runs out. */
static int unescape(const char *z, size_t n, char **pzOut){
  char *zOut = sqlite3_malloc64(n+1);
  size_t i, j = 0;
  *pzOut = 0;
  if( zOut==0 ) return SQLITE_NOMEM;
  for(i=0; i<n; i++){
    if( z[i]=='%' ){
      int h1 = i+2<n ? hexVal(z[i+1]) : -1;
      if( h1<0 || hexVal(z[i+2])<0 ){
        sqlite3_free(zOut);
        return SQLITE_CORRUPT;
      }
      zOut[j++] = (char)(h1*16 + hexVal(z[i+2]));
      i += 2;
    }else{
      zOut[j++] = z[i];
    }
  }
  zOut[j] = 0;
  *pzOut = zOut;
  return SQLITE_OK;
}

int kvownerRead(const char *zDir, KvOwner *p, char **pzErr){
  char *zPath = sqlite3_mprintf("%s/" OWNER_NAME, zDir);
  char *aBuf = 0;
  int fd = -1;
  ssize_t nRead = 0;
  int rc = SQLITE_OK;
  const char *z, *zEnd;

  memset(p, 0, sizeof(*p));
  if( zPath==0 ) return SQLITE_NOMEM;
  /* O_NONBLOCK: a FIFO in its place must not block (refused below). */
  fd = open(zPath, O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK);
  if( fd<0 ){
    if( errno==ENOENT ){
      p->eState = KVOWNER_NONE;
    }else{
      *pzErr = sqlite3_mprintf("kvstore: cannot read '%s': %s", zPath,
                               strerror(errno));
      rc = SQLITE_IOERR;
    }
    goto read_out;
  }
  {
    struct stat st;
    if( fstat(fd, &st)!=0 || !S_ISREG(st.st_mode) ) goto read_damaged;
  }
  aBuf = sqlite3_malloc(OWNER_MAX+1);
  if( aBuf==0 ){ rc = SQLITE_NOMEM; goto read_out; }
  while( nRead<OWNER_MAX ){
    ssize_t n = read(fd, aBuf+nRead, (size_t)(OWNER_MAX-nRead));
    if( n<0 && errno==EINTR ) continue;
    if( n<0 ){
      *pzErr = sqlite3_mprintf("kvstore: cannot read '%s': %s", zPath,
                               strerror(errno));
      rc = SQLITE_IOERR;
      goto read_out;
    }
    if( n==0 ) break;
    nRead += n;
  }
  aBuf[nRead] = 0;
  if( nRead>=OWNER_MAX || (size_t)nRead!=strlen(aBuf)
   || strncmp(aBuf, OWNER_HEADER "\n", strlen(OWNER_HEADER)+1)!=0 ){
    goto read_damaged;
  }
  z = aBuf + strlen(OWNER_HEADER) + 1;
  while( *z ){
    const char *zEq;
    char *zVal;
    zEnd = strchr(z, '\n');
    if( zEnd==0 ) goto read_damaged;     /* every line ends with \n */
    zEq = memchr(z, '=', (size_t)(zEnd - z));
    if( zEq==0 ) goto read_damaged;
    rc = unescape(zEq+1, (size_t)(zEnd - zEq - 1), &zVal);
    if( rc==SQLITE_NOMEM ){
      kvownerClear(p);                   /* not damaged: memory ran out */
      goto read_out;
    }
    if( rc!=SQLITE_OK ) goto read_damaged;
#define FIELD_IS(N) ((size_t)(zEq-z)==strlen(N) && strncmp(z, N, strlen(N))==0)
    if( FIELD_IS("state") ){
      if( strcmp(zVal, "owned")==0 ) p->eState = KVOWNER_OWNED;
      else if( strcmp(zVal, "detached")==0 ) p->eState = KVOWNER_DETACHED;
      sqlite3_free(zVal);
    }else if( FIELD_IS("store_id") ){
      sqlite3_free(p->zStoreId); p->zStoreId = zVal;
    }else if( FIELD_IS("table") ){
      sqlite3_free(p->zTable); p->zTable = zVal;
    }else if( FIELD_IS("prev_table") ){
      sqlite3_free(p->zPrevTable); p->zPrevTable = zVal;
    }else if( FIELD_IS("db_path") ){
      sqlite3_free(p->zDbPath); p->zDbPath = zVal;
    }else if( FIELD_IS("made_dir") ){
      p->bMadeDir = strcmp(zVal, "1")==0;
      sqlite3_free(zVal);
    }else{
      sqlite3_free(zVal);                /* a later release's field */
    }
#undef FIELD_IS
    z = zEnd + 1;
  }
  if( p->eState==KVOWNER_NONE ) goto read_damaged;
  if( p->eState==KVOWNER_OWNED
   && (p->zStoreId==0 || p->zTable==0 || p->zDbPath==0) ){
    goto read_damaged;
  }
  goto read_out;

read_damaged:
  kvownerClear(p);
  *pzErr = sqlite3_mprintf("kvstore: the ownership file '%s' is damaged; "
      "nothing in '%s' is used or removed", zPath, zDir);
  rc = SQLITE_CORRUPT;
read_out:
  if( fd>=0 ) close(fd);
  sqlite3_free(aBuf);
  sqlite3_free(zPath);
  return rc;
}

char *kvownerFolderOf(const char *zPath){
  const char *z = strrchr(zPath, '/');
  if( z==0 ) return sqlite3_mprintf("");
  if( z==zPath ) return sqlite3_mprintf("/");
  return sqlite3_mprintf("%.*s", (int)(z - zPath), zPath);
}

int kvownerSyncDir(const char *zDir){
  int fd = open(zDir[0] ? zDir : ".", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
  int rc = 0;
  if( fd<0 ) return -1;
  if( fsync(fd)!=0 ) rc = -1;
  if( close(fd)!=0 ) rc = -1;
  return rc;
}

int kvownerWrite(const char *zDir, const KvOwner *p, int bReplace,
                 char **pzErr){
  sqlite3_str *s = sqlite3_str_new(0);
  char *zText;
  char *zTmp = sqlite3_mprintf("%s/" OWNER_NAME ".tmp", zDir);
  char *zFinal = sqlite3_mprintf("%s/" OWNER_NAME, zDir);
  const char *zWhat = 0;          /* the step that failed ... */
  const char *zWhere = 0;         /* ... and the file it failed on */
  size_t n, nDone = 0;
  int fd = -1;
  int rc = SQLITE_OK;

  sqlite3_str_appendf(s, OWNER_HEADER "\nstate=%s\n",
                      p->eState==KVOWNER_DETACHED ? "detached" : "owned");
  if( p->eState==KVOWNER_OWNED ){
    sqlite3_str_appendall(s, "store_id=");
    escapeAppend(s, p->zStoreId ? p->zStoreId : "");
    sqlite3_str_appendall(s, "\ntable=");
    escapeAppend(s, p->zTable ? p->zTable : "");
    if( p->zPrevTable ){
      sqlite3_str_appendall(s, "\nprev_table=");
      escapeAppend(s, p->zPrevTable);
    }
    sqlite3_str_appendall(s, "\ndb_path=");
    escapeAppend(s, p->zDbPath ? p->zDbPath : "");
    sqlite3_str_appendall(s, "\n");
  }
  sqlite3_str_appendf(s, "made_dir=%d\n", p->bMadeDir ? 1 : 0);
  zText = sqlite3_str_finish(s);
  if( zText==0 || zTmp==0 || zFinal==0 ){
    rc = SQLITE_NOMEM;
    goto write_out;
  }
  n = strlen(zText);
  zWhere = zTmp;

  /* A leftover temporary (a crash) or a link planted there goes first;
  ** unlink never follows a link. */
  if( unlink(zTmp)!=0 && errno!=ENOENT ){ zWhat = "remove"; goto write_err; }
  fd = open(zTmp, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0644);
  if( fd<0 ){ zWhat = "create"; goto write_err; }
  while( nDone<n ){
    ssize_t w = write(fd, zText+nDone, n-nDone);
    if( w<0 && errno==EINTR ) continue;
    if( w<0 ){ zWhat = "write"; goto write_err; }
    nDone += (size_t)w;
  }
  if( fsync(fd)!=0 ){ zWhat = "fsync"; goto write_err; }
  if( close(fd)!=0 ){ fd = -1; zWhat = "close"; goto write_err; }
  fd = -1;
  zWhere = zFinal;
  if( bReplace ){
    if( rename(zTmp, zFinal)!=0 ){ zWhat = "rename a new"; goto write_err; }
  }else{
    /* link() refuses an existing OWNER: two creators cannot both win. */
    if( link(zTmp, zFinal)!=0 ){
      if( errno==EEXIST ){
        unlink(zTmp);
        *pzErr = sqlite3_mprintf("kvstore: '%s' was claimed by another "
                                 "table meanwhile", zDir);
        rc = SQLITE_ERROR;
        goto write_out;
      }
      zWhat = "link a new";
      goto write_err;
    }
    unlink(zTmp);
  }
  zWhere = zDir;
  if( kvownerSyncDir(zDir)!=0 ){ zWhat = "fsync"; goto write_err; }
  goto write_out;

write_err:
  rc = errno==ENOSPC ? SQLITE_FULL : SQLITE_IOERR;
  *pzErr = sqlite3_mprintf("kvstore: cannot %s '%s': %s", zWhat, zWhere,
                           strerror(errno));
  if( fd>=0 ) close(fd);
  unlink(zTmp);
write_out:
  sqlite3_free(zText);
  sqlite3_free(zTmp);
  sqlite3_free(zFinal);
  return rc;
}

int kvownerRemove(const char *zDir, char **pzErr){
  /* Paths from malloc(): this also cleans up after SQLite's allocator
  ** failed (a backup's store copies). */
  size_t n = strlen(zDir) + sizeof("/" OWNER_NAME ".tmp");
  char *zPath = malloc(n);
  char *zTmp = malloc(n);
  int rc = SQLITE_OK;
  if( zPath==0 || zTmp==0 ){
    rc = SQLITE_NOMEM;
  }else{
    snprintf(zPath, n, "%s/" OWNER_NAME, zDir);
    snprintf(zTmp, n, "%s/" OWNER_NAME ".tmp", zDir);
    unlink(zTmp);
    if( unlink(zPath)!=0 && errno!=ENOENT ){
      *pzErr = sqlite3_mprintf("kvstore: cannot remove '%s': %s", zPath,
                               strerror(errno));
      rc = SQLITE_IOERR;
    }else{
      kvownerSyncDir(zDir);
    }
  }
  free(zPath);
  free(zTmp);
  return rc;
}

char *kvownerNewId(void){
  unsigned char a[16];
  size_t nGot = 0;
  while( nGot<sizeof(a) ){
    ssize_t n = getrandom(a+nGot, sizeof(a)-nGot, 0);
    if( n<0 && errno==EINTR ) continue;
    if( n<0 ){
      /* No getrandom(): SQLite's own generator, seeded by the OS. */
      sqlite3_randomness((int)(sizeof(a)-nGot), a+nGot);
      break;
    }
    nGot += (size_t)n;
  }
  return sqlite3_mprintf("%02x%02x%02x%02x%02x%02x%02x%02x"
                         "%02x%02x%02x%02x%02x%02x%02x%02x",
                         a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
                         a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]);
}

/* Canonical path of database file zDbFile: its folder resolved, its own
** name kept (the file may not exist yet), in *pzOut (sqlite3_malloc).
** SQLITE_CANTOPEN when the folder does not resolve (errno says why). */
static int canonicalDb(const char *zDbFile, char **pzOut){
  const char *zSlash = strrchr(zDbFile, '/');
  char *zFolder = zSlash ? sqlite3_mprintf("%.*s", (int)(zSlash - zDbFile),
                                           zDbFile)
                         : sqlite3_mprintf(".");
  char *zReal;
  int rc = SQLITE_OK;
  *pzOut = 0;
  if( zFolder==0 ) return SQLITE_NOMEM;
  zReal = realpath(zFolder[0] ? zFolder : "/", 0);
  if( zReal ){
    *pzOut = sqlite3_mprintf("%s/%s", strcmp(zReal, "/")==0 ? "" : zReal,
                             zSlash ? zSlash+1 : zDbFile);
    if( *pzOut==0 ) rc = SQLITE_NOMEM;
    free(zReal);
  }else{
    rc = errno==ENOMEM ? SQLITE_NOMEM : SQLITE_CANTOPEN;
  }
  sqlite3_free(zFolder);
  return rc;
}

int kvownerDbPath(const char *zDir, const char *zDbFile, char **pzRel,
                  char **pzErr){
  char *zA = 0, *zB = 0;
  sqlite3_str *s;
  size_t iCommon = 0, i;
  int rc = SQLITE_OK;

  *pzRel = 0;
  if( zDbFile==0 || zDbFile[0]==0 ){
    *pzRel = sqlite3_mprintf("");
    return *pzRel ? SQLITE_OK : SQLITE_NOMEM;
  }
  zA = realpath(zDir, 0);
  if( zA==0 ){
    rc = errno==ENOMEM ? SQLITE_NOMEM : SQLITE_CANTOPEN;
    *pzErr = sqlite3_mprintf("kvstore: cannot resolve '%s': %s", zDir,
                             strerror(errno));
    return rc;
  }
  rc = canonicalDb(zDbFile, &zB);
  if( rc!=SQLITE_OK ){
    *pzErr = rc==SQLITE_NOMEM ? 0
           : sqlite3_mprintf("kvstore: cannot resolve '%s': %s", zDbFile,
                             strerror(errno));
    free(zA);
    return rc;
  }
  /* Longest common prefix ending at a component boundary. */
  for(i=0; zA[i] && zA[i]==zB[i]; i++){
    if( zA[i]=='/' ) iCommon = i;
  }
  if( zA[i]==0 && zB[i]=='/' ) iCommon = i;
  s = sqlite3_str_new(0);
  for(i=iCommon; zA[i]; i++){
    if( zA[i]=='/' && zA[i+1] ) sqlite3_str_appendall(s, "../");
  }
  if( strcmp(zA, "/")==0 ) iCommon = 0;
  sqlite3_str_appendall(s, zB + iCommon + 1);
  *pzRel = sqlite3_str_finish(s);
  if( *pzRel==0 ) rc = SQLITE_NOMEM;
  free(zA);
  sqlite3_free(zB);
  return rc;
}

int kvownerFindRenamed(const char *zDbFile, const KvOwner *pMine,
                       const char *zTab, char **pzFound){
  const char *zSlash = strrchr(zDbFile, '/');
  const char *zBase = zSlash ? zSlash+1 : zDbFile;
  char *zFolder = zSlash ? sqlite3_mprintf("%.*s", (int)(zSlash-zDbFile),
                                           zDbFile)
                         : sqlite3_mprintf(".");
  size_t nBase = strlen(zBase);
  struct dirent *pEnt;
  DIR *pDir;
  int rc = SQLITE_OK;

  *pzFound = 0;
  if( zFolder==0 ) return SQLITE_NOMEM;
  pDir = opendir(zFolder[0] ? zFolder : "/");
  while( pDir && rc==SQLITE_OK && *pzFound==0
      && (pEnt = readdir(pDir))!=0 ){
    const char *zName = pEnt->d_name;
    size_t n = strlen(zName);
    KvOwner store;
    char *zPath, *zRel = 0, *zErr = 0, *zWant = 0;
    if( n<=nBase+1+8 || memcmp(zName, zBase, nBase)!=0 || zName[nBase]!='-'
     || strcmp(zName+n-8, ".kvstore")!=0 ){
      continue;
    }
    zPath = sqlite3_mprintf("%s/%s", zFolder, zName);
    if( zPath==0 ){
      rc = SQLITE_NOMEM;
      break;
    }
    memset(&store, 0, sizeof(store));
    if( kvownerRead(zPath, &store, &zErr)==SQLITE_OK
     && store.eState==KVOWNER_OWNED
     && strcmp(store.zStoreId, pMine->zStoreId)==0
     && store.zPrevTable && sqlite3_stricmp(store.zPrevTable, zTab)==0
     && sqlite3_stricmp(store.zTable, zTab)!=0
     && (zWant = kvownerDefaultDir(zBase, store.zTable))!=0
     && strcmp(zWant, zName)==0          /* the default one of its table */
     && kvownerDbPath(zPath, zDbFile, &zRel, &zErr)==SQLITE_OK
     && strcmp(zRel, store.zDbPath)==0 ){
      *pzFound = zPath;
      zPath = 0;
    }
    sqlite3_free(zErr);
    sqlite3_free(zRel);
    sqlite3_free(zWant);
    sqlite3_free(zPath);
    kvownerClear(&store);
  }
  if( pDir ) closedir(pDir);
  sqlite3_free(zFolder);
  return rc;
}

int kvownerOtherDbExists(const char *zDir, const char *zRel,
                         const char *zDbFile){
  struct stat a, b;
  char *zPath;
  int bRes = 0;
  if( zRel==0 || zRel[0]==0 ) return 0;
  zPath = zRel[0]=='/' ? sqlite3_mprintf("%s", zRel)
                       : sqlite3_mprintf("%s/%s", zDir, zRel);
  if( zPath && stat(zPath, &a)==0 ){
    bRes = 1;
    if( zDbFile && stat(zDbFile, &b)==0 && a.st_dev==b.st_dev
     && a.st_ino==b.st_ino ){
      bRes = 0;
    }
  }
  sqlite3_free(zPath);
  return bRes;
}

int kvownerTableExists(sqlite3 *db, const char *zSchema, const char *zTab,
                       int *pbExists){
  return kvshadowSchemaHas(db, zSchema, zTab, 0, pbExists);
}

int kvownerShadowRead(sqlite3 *db, const char *zSchema, const char *zTab,
                      KvOwner *p){
  char *zShadow = sqlite3_mprintf("%s_kvstore", zTab);
  int bExists = 0;
  int rc;
  memset(p, 0, sizeof(*p));
  if( zShadow==0 ) return SQLITE_NOMEM;
  rc = kvownerTableExists(db, zSchema, zShadow, &bExists);
  sqlite3_free(zShadow);
  if( rc==SQLITE_OK && bExists ){
    rc = kvshadowGetText(db, zSchema, zTab, "store_id", &p->zStoreId);
    if( rc==SQLITE_OK ) rc = kvshadowGetText(db, zSchema, zTab, "table",
                                             &p->zTable);
    if( rc==SQLITE_OK ) rc = kvshadowGetText(db, zSchema, zTab, "db_path",
                                             &p->zDbPath);
  }
  if( rc==SQLITE_OK && p->zStoreId && p->zTable && p->zDbPath ){
    p->eState = KVOWNER_OWNED;
  }else{
    kvownerClear(p);
  }
  return rc;
}

int kvownerShadowWrite(sqlite3 *db, const char *zSchema, const char *zTab,
                       const KvOwner *p){
  int rc = kvshadowCreate(db, zSchema, zTab);
  if( rc==SQLITE_OK ) rc = kvshadowSetText(db, zSchema, zTab, "store_id",
                                           p->zStoreId);
  if( rc==SQLITE_OK ) rc = kvshadowSetText(db, zSchema, zTab, "table",
                                           p->zTable);
  if( rc==SQLITE_OK ) rc = kvshadowSetText(db, zSchema, zTab, "db_path",
                                           p->zDbPath);
  return rc;
}

int kvownerCheck(sqlite3 *db, const char *zSchema, const char *zTab,
                 const char *zDir, const char *zDbFile, int *pbOwn,
                 char **pzWhy){
  KvOwner mine, store;
  char *zRel = 0;
  char *zErr = 0;
  int eDir = kvownerProbe(zDir);
  int bIncomplete = 0;            /* OWNER, but no KVSTORE */
  int rc;

  *pbOwn = 0;
  *pzWhy = 0;
  memset(&store, 0, sizeof(store));
  rc = kvownerShadowRead(db, zSchema, zTab, &mine);
  if( rc!=SQLITE_OK ){
    *pzWhy = sqlite3_mprintf("kvstore: cannot read the identity of table %s "
                             "from %s_kvstore: %s", zTab, zTab,
                             kvshadowErrmsg(db, rc));
    return rc;
  }
  if( eDir==KVDIR_MISSING || eDir==KVDIR_EMPTY ){
    /* The hint: where the store sits relative to the database it names. */
    *pzWhy = sqlite3_mprintf("kvstore: the store of table %s is missing: "
        "'%s' %s%s%s%s", zTab, zDir,
        eDir==KVDIR_MISSING ? "does not exist" : "is empty",
        mine.zDbPath ? " (the store was made for the database at '" : "",
        mine.zDbPath ? mine.zDbPath : "",
        mine.zDbPath ? "' relative to it: was the database file or the "
                       "store moved or copied alone?)" : "");
    rc = SQLITE_CANTOPEN;
    goto check_out;
  }
  if( eDir==KVDIR_FOREIGN ){
    /* No KVSTORE file. With an OWNER file (kvstore writes it only into
    ** a directory it claimed) it may be this table's store, cut short
    ** (an interrupted DROP): DROP TABLE must still be able to finish. */
    if( kvownerRead(zDir, &store, &zErr)!=SQLITE_OK
     || store.eState!=KVOWNER_OWNED ){
      *pzWhy = sqlite3_mprintf("kvstore: '%s' does not hold a kvstore store; "
          "table %s does not use it", zDir, zTab);
      rc = SQLITE_ERROR;
      goto check_out;
    }
    bIncomplete = 1;
  }else{
    rc = kvownerRead(zDir, &store, &zErr);
    if( rc!=SQLITE_OK ){
      *pzWhy = zErr;
      zErr = 0;
      goto check_out;
    }
  }
  if( store.eState==KVOWNER_DETACHED ){
    *pzWhy = sqlite3_mprintf("kvstore: the store in '%s' is detached: it "
        "belongs to no table; CREATE VIRTUAL TABLE ... USING kvstore(dir=...)"
        " adopts it, SELECT kvstore_attach('%s') gives it to table %s",
        zDir, zTab, zTab);
    rc = SQLITE_ERROR;
    goto check_out;
  }
  if( store.eState==KVOWNER_NONE || mine.eState==KVOWNER_NONE ){
    if( store.eState==KVOWNER_NONE && mine.eState==KVOWNER_NONE ){
      *pzWhy = sqlite3_mprintf("kvstore: table %s and its store '%s' were "
          "made by an earlier kvstore release, which recorded no owner; run "
          "SELECT kvstore_attach('%s') once to upgrade them", zTab, zDir, zTab);
    }else if( store.eState==KVOWNER_NONE ){
      *pzWhy = sqlite3_mprintf("kvstore: the store in '%s' records no owner "
          "(an earlier release's store, or a copy without its OWNER file); "
          "table %s does not use it: SELECT kvstore_attach('%s') claims it",
          zDir, zTab, zTab);
    }else{
      *pzWhy = sqlite3_mprintf("kvstore: the store in '%s' belongs to table "
          "%s of the database at '%s' (relative to the store), not to table "
          "%s, which has no identity (an earlier release's table)", zDir,
          store.zTable, store.zDbPath, zTab);
    }
    rc = SQLITE_ERROR;
    goto check_out;
  }
  rc = kvownerDbPath(zDir, zDbFile, &zRel, &zErr);
  if( rc!=SQLITE_OK ){
    *pzWhy = zErr;
    zErr = 0;
    goto check_out;
  }
  if( strcmp(store.zStoreId, mine.zStoreId)!=0 ){
    *pzWhy = sqlite3_mprintf("kvstore: the store in '%s' belongs to another "
        "table (table %s of the database at '%s' relative to the store); "
        "table %s does not use it", zDir, store.zTable, store.zDbPath, zTab);
    rc = SQLITE_ERROR;
  }else if( strcmp(store.zDbPath, zRel)!=0 ){
    *pzWhy = sqlite3_mprintf("kvstore: the store in '%s' belongs to the "
        "database at '%s' (relative to the store), not to this one at '%s'; "
        "a copy of a database file does not carry its kvstore rows (use "
        "kvstore_backup); if the database file was moved or renamed, SELECT "
        "kvstore_attach('%s') re-attaches it", zDir, store.zDbPath, zRel,
        zTab);
    rc = SQLITE_ERROR;
  }else if( sqlite3_stricmp(store.zTable, zTab)!=0
         && (store.zPrevTable==0 || sqlite3_stricmp(store.zPrevTable, zTab)) ){
    /* (Under its name before a RENAME too: the ALTER may have been rolled
    ** back after OWNER recorded the new name.) */
    *pzWhy = sqlite3_mprintf("kvstore: the store in '%s' belongs to table %s,"
        " not %s; SELECT kvstore_attach('%s') re-attaches it when table %s "
        "no longer exists", zDir, store.zTable, zTab, zTab, store.zTable);
    rc = SQLITE_ERROR;
  }else if( bIncomplete ){
    *pbOwn = 1;
    *pzWhy = sqlite3_mprintf("kvstore: the store of table %s in '%s' is "
        "incomplete (no KVSTORE file: an interrupted DROP TABLE?); DROP "
        "TABLE removes what is left", zTab, zDir);
    rc = SQLITE_CORRUPT;
  }else{
    *pbOwn = 1;
    rc = SQLITE_OK;
  }

check_out:
  if( rc==SQLITE_NOMEM && *pzWhy==0 ){
    *pzWhy = sqlite3_mprintf("kvstore: out of memory");
  }
  sqlite3_free(zRel);
  sqlite3_free(zErr);
  kvownerClear(&mine);
  kvownerClear(&store);
  return rc;
}
