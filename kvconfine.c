/*
** kvconfine.c - keeping kvstore's file paths inside one directory.
**
** A host that runs SQL from users it does not trust (a Datasette-style
** server) must stop that SQL from making kvstore create, fill, copy to or
** delete directories anywhere the process may write. Store ownership
** (kvowner.c) already keeps a table away from stores that are not its own;
** this file limits where paths may point at all:
**
**   KVSTORE_ROOT=/srv/data   (environment, read when a connection
**                             registers the extension)
**   SELECT kvstore_confine('/srv/data');   -- confine this connection
**   SELECT kvstore_confine(NULL);          -- no explicit paths at all
**   SELECT kvstore_confine();              -- NULL, the root, or 'off'
**
** Confined to a root R, every store directory (dir=, the default beside
** the database file, a private temporary one excepted), every config=
** file and every destination of kvstore_backup and kvstore_checkpoint
** must lie inside R once symbolic links of its existing part are
** resolved; anything else fails with SQLITE_AUTH and a kvstore: message.
** Turned off (NULL), the options dir= and config= and the functions that
** take a path fail the same way; tables on their default directory still
** work. Both only tighten: a confined connection may move to a directory
** inside its root or turn paths off, never back. A check happens when the
** path is used, so a symbolic link swapped in afterwards is not caught:
** the root should hold no directory the untrusted side can write links in.
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvconfine.h"

#define CONFINE_NONE 0          /* paths anywhere */
#define CONFINE_ROOT 1          /* paths inside zRoot */
#define CONFINE_OFF  2          /* no explicit paths */

typedef struct Confine Confine;
struct Confine {
  sqlite3 *db;                  /* the connection */
  int eMode;                    /* CONFINE_* */
  char *zRoot;                  /* canonical root (sqlite3_malloc), or NULL */
  Confine *pNext;               /* gList */
};

/* Every connection's state, found by its sqlite3*. Entries come and go
** with the kvstore_confine function (its destructor runs at close). */
static pthread_mutex_t gMutex = PTHREAD_MUTEX_INITIALIZER;
static Confine *gList = 0;

static void confineFree(void *p){
  Confine *pC = (Confine*)p;
  Confine **pp;
  pthread_mutex_lock(&gMutex);
  for(pp=&gList; *pp; pp=&(*pp)->pNext){
    if( *pp==pC ){ *pp = pC->pNext; break; }
  }
  pthread_mutex_unlock(&gMutex);
  sqlite3_free(pC->zRoot);
  sqlite3_free(pC);
}

/*
** The canonical absolute form of zPath, which need not exist yet: the
** longest existing prefix goes through realpath() (symbolic links
** resolved), the rest is appended as written. NULL when a remaining part
** is "." or ".." (it could climb out of any prefix), or out of memory.
** sqlite3_free the result.
*/
static char *canonicalPath(const char *zPath){
  char *zAbs, *zCut, *zOut = 0;
  size_t n;
  if( zPath[0]=='/' ){
    zAbs = sqlite3_mprintf("%s", zPath);
  }else{
    char zCwd[PATH_MAX];
    if( getcwd(zCwd, sizeof(zCwd))==0 ) return 0;
    zAbs = sqlite3_mprintf("%s/%s", zCwd, zPath);
  }
  if( zAbs==0 ) return 0;
  n = strlen(zAbs);
  while( n>1 && zAbs[n-1]=='/' ) zAbs[--n] = 0;
  /* Walk up until a prefix exists, then put the rest back. */
  zCut = zAbs + n;
  for(;;){
    char zReal[PATH_MAX];
    char cSave = *zCut;
    *zCut = 0;
    if( zAbs[0]==0 ? realpath("/", zReal)!=0 : realpath(zAbs, zReal)!=0 ){
      const char *zRest;
      *zCut = cSave;
      zRest = zCut;
      /* zRest is "" or "/a/b": refuse "." and ".." among its parts. */
      {
        const char *z = zRest;
        while( *z ){
          const char *zEnd;
          while( *z=='/' ) z++;
          zEnd = z;
          while( *zEnd && *zEnd!='/' ) zEnd++;
          if( (zEnd-z==1 && z[0]=='.')
           || (zEnd-z==2 && z[0]=='.' && z[1]=='.') ){
            sqlite3_free(zAbs);
            return 0;
          }
          z = zEnd;
        }
      }
      zOut = sqlite3_mprintf("%s%s", strcmp(zReal, "/")==0 ? "" : zReal,
                             zRest);
      if( zOut && zOut[0]==0 ){
        sqlite3_free(zOut);
        zOut = sqlite3_mprintf("/");
      }
      break;
    }
    *zCut = cSave;
    if( zCut==zAbs ) break;                 /* not even "/" resolved */
    do{ zCut--; }while( zCut>zAbs && *zCut!='/' );
  }
  sqlite3_free(zAbs);
  return zOut;
}

/* Does canonical path zPath lie inside canonical directory zRoot? */
static int isInside(const char *zPath, const char *zRoot){
  size_t n = strlen(zRoot);
  if( strcmp(zRoot, "/")==0 ) return 1;
  return strncmp(zPath, zRoot, n)==0 && (zPath[n]==0 || zPath[n]=='/');
}

static Confine *confineFind(sqlite3 *db){
  Confine *p;
  pthread_mutex_lock(&gMutex);
  for(p=gList; p && p->db!=db; p=p->pNext){}
  pthread_mutex_unlock(&gMutex);
  return p;
}

int kvconfineCheck(sqlite3 *db, const char *zWhat, const char *zPath,
                   int bExplicit, char **pzErr){
  Confine *p = confineFind(db);
  char *zCanon;
  int eMode;
  if( p==0 ) return SQLITE_OK;
  pthread_mutex_lock(&gMutex);
  eMode = p->eMode;
  pthread_mutex_unlock(&gMutex);
  if( eMode==CONFINE_NONE ) return SQLITE_OK;
  if( eMode==CONFINE_OFF ){
    if( !bExplicit ) return SQLITE_OK;
    *pzErr = sqlite3_mprintf("kvstore: %s '%s' refused: paths are turned off "
        "on this connection (kvstore_confine(NULL))", zWhat, zPath);
    return SQLITE_AUTH;
  }
  zCanon = canonicalPath(zPath);
  if( zCanon==0 || !isInside(zCanon, p->zRoot) ){
    *pzErr = sqlite3_mprintf("kvstore: %s '%s' is outside the directory "
        "this connection is confined to ('%s'; see kvstore_confine)",
        zWhat, zPath, p->zRoot);
    sqlite3_free(zCanon);
    return SQLITE_AUTH;
  }
  sqlite3_free(zCanon);
  return SQLITE_OK;
}

/* kvstore_confine([root]): see the file header. */
static void confineFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  Confine *p = (Confine*)sqlite3_user_data(ctx);
  char *zErr = 0;
  if( argc>1 ){
    sqlite3_result_error(ctx, "kvstore_confine: usage: kvstore_confine"
                         "([root directory | NULL])", -1);
    return;
  }
  if( argc==1 ){
    if( sqlite3_value_type(argv[0])==SQLITE_NULL ){
      pthread_mutex_lock(&gMutex);
      p->eMode = CONFINE_OFF;
      pthread_mutex_unlock(&gMutex);
    }else{
      const char *zArg = (const char*)sqlite3_value_text(argv[0]);
      char zReal[PATH_MAX];
      int eMode;
      if( zArg==0 ){
        sqlite3_result_error_nomem(ctx);
        return;
      }
      pthread_mutex_lock(&gMutex);
      eMode = p->eMode;
      pthread_mutex_unlock(&gMutex);
      if( eMode==CONFINE_OFF ){
        zErr = sqlite3_mprintf("kvstore_confine: paths are turned off on "
                               "this connection; that cannot be undone");
      }else if( realpath(zArg, zReal)==0 ){
        zErr = sqlite3_mprintf("kvstore_confine: '%s': %s", zArg,
                               strerror(errno));
      }else if( eMode==CONFINE_ROOT && !isInside(zReal, p->zRoot) ){
        zErr = sqlite3_mprintf("kvstore_confine: '%s' is not inside the "
            "current root '%s' (a confinement only narrows)", zArg, p->zRoot);
      }else{
        char *zNew = sqlite3_mprintf("%s", zReal);
        if( zNew==0 ){
          sqlite3_result_error_nomem(ctx);
          return;
        }
        pthread_mutex_lock(&gMutex);
        sqlite3_free(p->zRoot);
        p->zRoot = zNew;
        p->eMode = CONFINE_ROOT;
        pthread_mutex_unlock(&gMutex);
      }
      if( zErr ){
        sqlite3_result_error(ctx, zErr, -1);
        sqlite3_result_error_code(ctx, SQLITE_AUTH);
        sqlite3_free(zErr);
        return;
      }
    }
  }
  pthread_mutex_lock(&gMutex);
  if( p->eMode==CONFINE_ROOT ){
    sqlite3_result_text(ctx, p->zRoot, -1, SQLITE_TRANSIENT);
  }else if( p->eMode==CONFINE_OFF ){
    sqlite3_result_text(ctx, "off", -1, SQLITE_STATIC);
  }else{
    sqlite3_result_null(ctx);
  }
  pthread_mutex_unlock(&gMutex);
}

int kvconfineInit(sqlite3 *db){
  Confine *p;
  const char *zEnv = getenv("KVSTORE_ROOT");
  int rc;
  if( confineFind(db) ) return SQLITE_OK;   /* registered again: keep it */
  p = sqlite3_malloc(sizeof(*p));
  if( p==0 ) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  p->db = db;
  if( zEnv && zEnv[0] ){
    char zReal[PATH_MAX];
    /* A root that does not resolve confines to nothing rather than to
    ** everything: paths are turned off. */
    if( realpath(zEnv, zReal)!=0 ){
      p->zRoot = sqlite3_mprintf("%s", zReal);
      if( p->zRoot==0 ){
        sqlite3_free(p);
        return SQLITE_NOMEM;
      }
      p->eMode = CONFINE_ROOT;
    }else{
      p->eMode = CONFINE_OFF;
    }
  }
  pthread_mutex_lock(&gMutex);
  p->pNext = gList;
  gList = p;
  pthread_mutex_unlock(&gMutex);
  /* DIRECTONLY: a view or trigger in a database file must not loosen or
  ** probe the setting either. The destructor unlinks p at close. */
  rc = sqlite3_create_function_v2(db, "kvstore_confine", -1,
      SQLITE_UTF8 | SQLITE_DIRECTONLY, p, confineFunc, 0, 0, confineFree);
  if( rc!=SQLITE_OK ){
    /* sqlite3_create_function_v2 calls the destructor on failure. */
    return rc;
  }
  return SQLITE_OK;
}
