/*
** kvconfig.c - the CREATE arguments of a kvstore table: parsing them into
** kv_options, the checks SQLite leaves to the module (empty arguments,
** database encoding, path lengths), and the `config` option: options read
** from a JSON file.
**
** The arguments are `name=value`, an option name optionally quoted like an
** identifier, a value optionally quoted like a string; each goes through
** kv_options_set(). Paths (dir=, config=) resolve against the folder of
** the database file.
**
** THE CONFIG FILE
**
**   CREATE VIRTUAL TABLE kv USING kvstore(config='kv.json', sync=normal);
**
** with kv.json holding, for example,
**
**   { "memtable_size": "8MB", "compaction": "tiered", "rate_limit": 500,
**     "background": false }
**
** The file holds one JSON object; each member is an option of the CREATE
** statement (any but `config` itself) with a string, number or boolean
** value (true/false read as on/off). The file is applied first, so CREATE
** arguments override it. Its path, and a relative `dir` inside it, resolve
** like dir= (against the database file's folder). SQLite's own JSON
** functions parse it (json_valid, json_type, json_each), run on a private
** in-memory connection so that nothing happens on the user's connection
** while it is inside xCreate or xConnect. Every failure names the file and,
** when one member is at fault, the member.
*/
#include "kvconfig.h"
#include "kvconfine.h"
#include "kvshadow.h"
SQLITE_EXTENSION_INIT3

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Path limits of the system (Linux: 4096 and 255). */
#ifdef PATH_MAX
# define KV_PATH_LIMIT PATH_MAX
#else
# define KV_PATH_LIMIT 4096
#endif
#ifdef NAME_MAX
# define KV_NAME_LIMIT NAME_MAX
#else
# define KV_NAME_LIMIT 255
#endif

/* Larger files are refused: an option file is a few hundred bytes. */
#define CONFIG_MAX_BYTES (1024*1024)

/* Read the whole file into sqlite3_malloc memory (NUL-terminated). */
static int configRead(const char *zPath, char **pzText, int *pnText,
                      char **pzErr){
  /* Opened without waiting: a FIFO would block open() until a writer
  ** came (it is refused below, as anything but a regular file is). */
  int fd = open(zPath, O_RDONLY|O_NONBLOCK|O_CLOEXEC);
  FILE *f = fd<0 ? 0 : fdopen(fd, "rb");
  struct stat st;
  char *zText = 0;
  long nSize = 0;
  size_t nRead;
  *pzText = 0;
  if( f==0 ){
    *pzErr = sqlite3_mprintf("kvstore: cannot read config file '%s': %s",
                             zPath, strerror(errno));
    if( fd>=0 ) close(fd);
    return SQLITE_CANTOPEN;
  }
  /* fopen() opens a directory too; reading it would fail obscurely. */
  if( fstat(fileno(f), &st)==0 && !S_ISREG(st.st_mode) ){
    *pzErr = sqlite3_mprintf("kvstore: cannot read config file '%s': not a "
                             "regular file", zPath);
    fclose(f);
    return SQLITE_CANTOPEN;
  }
  if( fseek(f, 0, SEEK_END)!=0 || (nSize = ftell(f))<0
   || fseek(f, 0, SEEK_SET)!=0 ){
    *pzErr = sqlite3_mprintf("kvstore: cannot read config file '%s': %s",
                             zPath, strerror(errno));
    fclose(f);
    return SQLITE_IOERR;
  }
  if( nSize>CONFIG_MAX_BYTES ){
    *pzErr = sqlite3_mprintf("kvstore: config file '%s' is too large (%ld "
        "bytes; at most %d)", zPath, nSize, CONFIG_MAX_BYTES);
    fclose(f);
    return SQLITE_TOOBIG;
  }
  zText = sqlite3_malloc((int)nSize + 1);
  if( zText==0 ){
    fclose(f);
    *pzErr = sqlite3_mprintf("kvstore: out of memory");
    return SQLITE_NOMEM;
  }
  nRead = fread(zText, 1, (size_t)nSize, f);
  if( nRead!=(size_t)nSize || ferror(f) ){
    *pzErr = sqlite3_mprintf("kvstore: cannot read config file '%s': %s",
                             zPath, ferror(f) ? strerror(errno) : "short read");
    sqlite3_free(zText);
    fclose(f);
    return SQLITE_IOERR;
  }
  fclose(f);
  zText[nSize] = 0;
  if( memchr(zText, 0, (size_t)nSize) ){
    /* SQLite's JSON functions would stop reading at the NUL. */
    *pzErr = sqlite3_mprintf("kvstore: config file '%s' holds a NUL byte "
        "at offset %lld: it must be JSON text", zPath,
        (long long)((char*)memchr(zText, 0, (size_t)nSize) - zText));
    sqlite3_free(zText);
    return SQLITE_ERROR;
  }
  *pzText = zText;
  *pnText = (int)nSize;
  return SQLITE_OK;
}

/* Prepare zSql on db with the file's text bound to ?1. */
static int configPrepare(sqlite3 *db, const char *zSql, const char *zText,
                         int nText, sqlite3_stmt **ppStmt){
  int rc = sqlite3_prepare_v2(db, zSql, -1, ppStmt, 0);
  if( rc==SQLITE_OK ){
    rc = sqlite3_bind_text(*ppStmt, 1, zText, nText, SQLITE_STATIC);
  }
  return rc;
}

/* Strip the "kvstore: " an engine message starts with (the caller puts
** its own in front). */
static const char *bareMessage(const char *z){
  if( z && strncmp(z, "kvstore: ", 9)==0 ) return z + 9;
  return z ? z : "bad value";
}

/*
** Apply the options of the JSON config file zPath (already resolved like
** dir=) to pOpts, before the CREATE arguments, which override them. On
** failure returns an SQLite code and sets *pzErr (sqlite3_free) to a
** message naming the file and, when one is at fault, the member.
*/
static int configLoad(kv_options *pOpts, const char *zPath, char **pzErr){
  sqlite3 *db = 0;
  sqlite3_stmt *pStmt = 0;
  char *zText = 0;
  int nText = 0;
  char **azSeen = 0;            /* member names applied so far */
  int nSeen = 0;
  int rc;

  *pzErr = 0;
  rc = configRead(zPath, &zText, &nText, pzErr);
  if( rc==SQLITE_OK ){
    rc = sqlite3_open_v2(":memory:", &db,
                         SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE, 0);
    if( rc!=SQLITE_OK ){
      *pzErr = sqlite3_mprintf("kvstore: config file '%s': cannot open an "
          "in-memory database to parse it: %s", zPath,
          db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    }
  }

  /* The whole file: valid JSON, and an object. */
  if( rc==SQLITE_OK ){
    rc = configPrepare(db, "SELECT json_valid(?1), "
        "CASE WHEN json_valid(?1) THEN json_type(?1) END", zText, nText,
        &pStmt);
    if( rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
      if( sqlite3_column_int(pStmt, 0)==0 ){
        *pzErr = sqlite3_mprintf("kvstore: config file '%s' is not valid "
                                 "JSON", zPath);
        rc = SQLITE_ERROR;
      }else if( strcmp((const char*)sqlite3_column_text(pStmt, 1),
                       "object")!=0 ){
        *pzErr = sqlite3_mprintf("kvstore: config file '%s' must hold a JSON "
            "object of options, not %s %s", zPath,
            sqlite3_column_text(pStmt, 1)[0]=='a' ? "an" : "a",
            sqlite3_column_text(pStmt, 1));
        rc = SQLITE_ERROR;
      }
    }else if( rc==SQLITE_OK ){
      rc = sqlite3_errcode(db);
    }
    if( rc!=SQLITE_OK && *pzErr==0 ){
      *pzErr = sqlite3_mprintf("kvstore: config file '%s': %s", zPath,
                               sqlite3_errmsg(db));
    }
    sqlite3_finalize(pStmt);
    pStmt = 0;
  }

  /* Each member, in file order. */
  if( rc==SQLITE_OK ){
    azSeen = sqlite3_malloc64(sizeof(char*) * (size_t)(nText/2 + 1));
    if( azSeen==0 ) rc = SQLITE_NOMEM;
  }
  if( rc==SQLITE_OK ){
    rc = configPrepare(db, "SELECT key, atom, type FROM json_each(?1)",
                       zText, nText, &pStmt);
  }
  while( rc==SQLITE_OK ){
    const char *zKey, *zAtom, *zType, *zValue;
    char *zErr = 0;
    int i, rcStep = sqlite3_step(pStmt);
    if( rcStep==SQLITE_DONE ) break;
    if( rcStep!=SQLITE_ROW ){
      rc = rcStep;
      *pzErr = sqlite3_mprintf("kvstore: config file '%s': %s", zPath,
                               sqlite3_errmsg(db));
      break;
    }
    zKey = (const char*)sqlite3_column_text(pStmt, 0);
    zAtom = (const char*)sqlite3_column_text(pStmt, 1);
    zType = (const char*)sqlite3_column_text(pStmt, 2);
    if( zKey==0 || zType==0 ){ rc = SQLITE_NOMEM; break; }
    if( kv_options_is_set(pOpts, zKey)<0 ){
      *pzErr = sqlite3_mprintf("kvstore: config file '%s': unknown option "
          "'%s'; accepted options: %s", zPath, zKey, kv_options_names());
      rc = SQLITE_ERROR;
      break;
    }
    if( sqlite3_stricmp(zKey, "config")==0 ){
      *pzErr = sqlite3_mprintf("kvstore: config file '%s': option 'config' "
          "cannot be given in a config file", zPath);
      rc = SQLITE_ERROR;
      break;
    }
    for(i=0; i<nSeen && sqlite3_stricmp(azSeen[i], zKey)!=0; i++){}
    if( i<nSeen ){
      *pzErr = sqlite3_mprintf("kvstore: config file '%s': duplicate option "
          "'%s'", zPath, zKey);
      rc = SQLITE_ERROR;
      break;
    }
    if( strcmp(zType, "true")==0 ){
      zValue = "true";
    }else if( strcmp(zType, "false")==0 ){
      zValue = "false";
    }else if( strcmp(zType, "text")==0 || strcmp(zType, "integer")==0
           || strcmp(zType, "real")==0 ){
      zValue = zAtom ? zAtom : "";
    }else{
      *pzErr = sqlite3_mprintf("kvstore: config file '%s': bad value for "
          "option '%s': a JSON %s; expected a string, a number, true or "
          "false", zPath, zKey, zType);
      rc = SQLITE_ERROR;
      break;
    }
    if( kv_options_set(pOpts, zKey, zValue, &zErr)!=KV_OK ){
      *pzErr = sqlite3_mprintf("kvstore: config file '%s': %s", zPath,
                               bareMessage(zErr));
      kv_free(zErr);
      rc = SQLITE_ERROR;
      break;
    }
    azSeen[nSeen] = sqlite3_mprintf("%s", zKey);
    if( azSeen[nSeen]==0 ){ rc = SQLITE_NOMEM; break; }
    nSeen++;
  }

  if( rc==SQLITE_NOMEM && *pzErr==0 ){
    *pzErr = sqlite3_mprintf("kvstore: out of memory");
  }
  sqlite3_finalize(pStmt);
  sqlite3_close(db);
  while( nSeen>0 ) sqlite3_free(azSeen[--nSeen]);
  sqlite3_free(azSeen);
  sqlite3_free(zText);
  return rc;
}

/* Parse an unsigned decimal option value as kv_options_get returns it. */
sqlite3_uint64 kvconfigOptionU64(const kv_options *pOpts, const char *zName,
                                  sqlite3_uint64 dflt){
  char *z = kv_options_get(pOpts, zName);
  sqlite3_uint64 v = 0;
  const char *p;
  if( z==0 ) return dflt;
  for(p=z; *p>='0' && *p<='9'; p++) v = v*10 + (sqlite3_uint64)(*p - '0');
  if( p==z || *p ) v = dflt;
  kv_free(z);
  return v;
}

/* Copy of z[0..n) without surrounding whitespace. */
static char *trimCopy(const char *z, size_t n){
  while( n>0 && (z[0]==' ' || z[0]=='\t' || z[0]=='\n' || z[0]=='\r') ){
    z++; n--;
  }
  while( n>0 && (z[n-1]==' ' || z[n-1]=='\t' || z[n-1]=='\n'
                 || z[n-1]=='\r') ){
    n--;
  }
  return sqlite3_mprintf("%.*s", (int)n, z);
}

/* An option name may be written quoted like an identifier: strip one pair
** of matching "", '', `` or []. */
static void dequoteName(char *z){
  size_t n = strlen(z);
  if( n>=2 && ((z[0]=='"' && z[n-1]=='"') || (z[0]=='\'' && z[n-1]=='\'')
            || (z[0]=='`' && z[n-1]=='`') || (z[0]=='[' && z[n-1]==']')) ){
    memmove(z, z+1, n-2);
    z[n-2] = 0;
  }
}

/*
** A value that starts with a quote must be one quoted string: the same
** quote at its end, and any inside doubled. Returns 0 if zVal is well
** formed (or not quoted), else 1: dir='x' 'y' is two strings, not a path.
*/
static int badQuoting(const char *zVal){
  char q = zVal[0];
  size_t i, n = strlen(zVal);
  if( q!='\'' && q!='"' ) return 0;
  if( n<2 || zVal[n-1]!=q ) return 1;
  for(i=1; i<n-1; i++){
    if( zVal[i]==q ){
      if( i+1<n-1 && zVal[i+1]==q ) i++; else return 1;
    }
  }
  return 0;
}

/* The text of a well-formed value: quotes removed (a doubled one inside
** becomes one), spaces inside the quotes kept, as a path needs them. */
static char *dequoteExact(const char *zVal){
  size_t n = strlen(zVal);
  char *z;
  if( zVal[0]!='\'' && zVal[0]!='"' ) return sqlite3_mprintf("%s", zVal);
  z = sqlite3_malloc64(n);
  if( z ){
    size_t i, j = 0;
    for(i=1; i+1<n; i++){
      z[j++] = zVal[i];
      if( zVal[i]==zVal[0] ) i++;
    }
    z[j] = 0;
  }
  return z;
}

/* Resolve option path zPath: absolute as is; relative against the folder
** of the database file zDbFile, or as given (the working directory) when
** the database has no file. Returns sqlite3_malloc memory or NULL (OOM). */
char *kvconfigResolvePath(const char *zPath, const char *zDbFile){
  const char *zSlash;
  if( zPath[0]=='/' || zDbFile==0 || zDbFile[0]==0 ){
    return sqlite3_mprintf("%s", zPath);
  }
  zSlash = strrchr(zDbFile, '/');
  if( zSlash==0 ) return sqlite3_mprintf("%s", zPath);
  return sqlite3_mprintf("%.*s/%s", (int)(zSlash - zDbFile), zDbFile, zPath);
}

/*
** Parse the CREATE arguments (azArg[0..nArg)) into a new kv_options.
** Duplicates are refused here, because a config file's options must not
** count as the first occurrence. Sets *ppOpts, *pzDirOpt (dir= as given,
** or NULL) and returns SQLITE_OK, or an error with *pzErr set.
*/
int kvconfigParse(sqlite3 *db, int nArg, const char *const *azArg,
                  const char *zDbFile, kv_options **ppOpts,
                  char **pzDirOpt, char **pzErr){
  kv_options *pOpts = kv_options_new();
  char **azName = 0;
  char **azValue = 0;
  char *zConfig = 0;
  int nOpt = 0;
  int rc = SQLITE_OK;
  int i, j;

  *ppOpts = 0;
  *pzDirOpt = 0;
  azName = sqlite3_malloc64(sizeof(char*) * (nArg+1));
  azValue = sqlite3_malloc64(sizeof(char*) * (nArg+1));
  if( pOpts==0 || azName==0 || azValue==0 ){
    *pzErr = sqlite3_mprintf("kvstore: out of memory");
    rc = SQLITE_NOMEM;
  }

  /* Split every argument into a name and a value. */
  for(i=0; rc==SQLITE_OK && i<nArg; i++){
    const char *zArg = azArg[i];
    const char *zEq = strchr(zArg, '=');
    if( zEq==0 ){
      char *zTrim = trimCopy(zArg, strlen(zArg));
      *pzErr = sqlite3_mprintf("kvstore: malformed argument '%s' "
          "(expected name=value); accepted options: %s",
          zTrim ? zTrim : zArg, kv_options_names());
      sqlite3_free(zTrim);
      rc = SQLITE_ERROR;
      break;
    }
    azName[nOpt] = trimCopy(zArg, (size_t)(zEq - zArg));
    azValue[nOpt] = trimCopy(zEq+1, strlen(zEq+1));
    if( azName[nOpt]==0 || azValue[nOpt]==0 ){
      sqlite3_free(azName[nOpt]);
      sqlite3_free(azValue[nOpt]);
      *pzErr = sqlite3_mprintf("kvstore: out of memory");
      rc = SQLITE_NOMEM;
      break;
    }
    nOpt++;
    if( badQuoting(azValue[nOpt-1]) ){
      *pzErr = sqlite3_mprintf("kvstore: malformed value for option '%s': "
          "%s (a quoted value is one string, with any quote inside it "
          "doubled)", azName[nOpt-1], azValue[nOpt-1]);
      rc = SQLITE_ERROR;
      break;
    }
    dequoteName(azName[nOpt-1]);
    if( kv_options_is_set(pOpts, azName[nOpt-1])<0 ){
      *pzErr = sqlite3_mprintf("kvstore: unknown option '%s'; accepted "
          "options: %s", azName[nOpt-1], kv_options_names());
      rc = SQLITE_ERROR;
      break;
    }
    for(j=0; j<nOpt-1; j++){
      if( sqlite3_stricmp(azName[j], azName[nOpt-1])==0 ){
        *pzErr = sqlite3_mprintf("kvstore: duplicate option '%s'",
                                 azName[nOpt-1]);
        rc = SQLITE_ERROR;
        break;
      }
    }
  }

  /* The config file first, so that CREATE arguments override it. */
  for(i=0; rc==SQLITE_OK && i<nOpt; i++){
    if( sqlite3_stricmp(azName[i], "config")==0 ){
      char *zErr = 0;
      if( kv_options_set(pOpts, azName[i], azValue[i], &zErr)!=KV_OK ){
        *pzErr = sqlite3_mprintf("%s", zErr ? zErr : "kvstore: bad config");
        kv_free(zErr);
        rc = SQLITE_ERROR;
        break;
      }
      zConfig = kv_options_get(pOpts, "config");
      if( zConfig==0 ){
        *pzErr = sqlite3_mprintf("kvstore: out of memory");
        rc = SQLITE_NOMEM;
      }else{
        char *zPath = kvconfigResolvePath(zConfig, zDbFile);
        if( zPath==0 ){
          *pzErr = sqlite3_mprintf("kvstore: out of memory");
          rc = SQLITE_NOMEM;
        }else{
          rc = kvconfineCheck(db, "config file", zPath, 1, pzErr);
          if( rc==SQLITE_OK ) rc = configLoad(pOpts, zPath, pzErr);
          sqlite3_free(zPath);
        }
      }
    }
  }

  for(i=0; rc==SQLITE_OK && i<nOpt; i++){
    char *zErr = 0;
    if( sqlite3_stricmp(azName[i], "config")==0 ) continue;
    if( kv_options_set(pOpts, azName[i], azValue[i], &zErr)!=KV_OK ){
      *pzErr = sqlite3_mprintf("%s", zErr ? zErr : kv_errmsg(0));
      kv_free(zErr);
      rc = SQLITE_ERROR;
      break;
    }
    if( sqlite3_stricmp(azName[i], "dir")==0 ){
      /* As written: the options object trims spaces inside quotes. */
      *pzDirOpt = dequoteExact(azValue[i]);
      if( *pzDirOpt==0 ){
        *pzErr = sqlite3_mprintf("kvstore: out of memory");
        rc = SQLITE_NOMEM;
      }
    }
  }

  /* Even a NULL value takes one byte encoded. */
  if( rc==SQLITE_OK && kv_options_is_set(pOpts, "max_value_size")==1
   && kvconfigOptionU64(pOpts, "max_value_size", 1)==0 ){
    *pzErr = sqlite3_mprintf("kvstore: max_value_size=0 leaves no room for "
        "any value (even NULL takes 1 byte); give at least 1");
    rc = SQLITE_ERROR;
  }

  /* A dir given by the config file alone resolves like an argument. */
  if( rc==SQLITE_OK && *pzDirOpt==0 && kv_options_is_set(pOpts, "dir")==1 ){
    char *zDir = kv_options_get(pOpts, "dir");
    if( zDir ){
      *pzDirOpt = sqlite3_mprintf("%s", zDir);
      kv_free(zDir);
    }
    if( *pzDirOpt==0 ){
      *pzErr = sqlite3_mprintf("kvstore: out of memory");
      rc = SQLITE_NOMEM;
    }
  }

  for(i=0; i<nOpt; i++){
    sqlite3_free(azName[i]);
    sqlite3_free(azValue[i]);
  }
  sqlite3_free(azName);
  sqlite3_free(azValue);
  kv_free(zConfig);
  if( rc!=SQLITE_OK ){
    kv_options_free(pOpts);
    sqlite3_free(*pzDirOpt);
    *pzDirOpt = 0;
  }else{
    *ppOpts = pOpts;
  }
  return rc;
}

/* The encoding without PRAGMA, which an application's authorizer may deny
** or ignore (no row): a blob cast to text is read in the database's
** encoding (every schema of a connection has main's), so the bytes C3 A9
** are U+00E9 in UTF-8, U+A9C3 in UTF-16le and U+C3A9 in UTF-16be. */
static const char *encodingByCast(sqlite3 *db, int *pRc){
  sqlite3_stmt *pStmt = 0;
  const char *zEnc = 0;
  *pRc = sqlite3_prepare_v2(db, "SELECT unicode(CAST(x'C3A9' AS TEXT))", -1,
                            &pStmt, 0);
  if( *pRc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    switch( sqlite3_column_int(pStmt, 0) ){
      case 0x00E9: zEnc = "UTF-8";    break;
      case 0xA9C3: zEnc = "UTF-16le"; break;
      case 0xC3A9: zEnc = "UTF-16be"; break;
    }
  }
  {
    int rc2 = sqlite3_finalize(pStmt);
    if( *pRc==SQLITE_OK ) *pRc = rc2;
  }
  if( *pRc==SQLITE_OK && zEnc==0 ) *pRc = SQLITE_ERROR;
  return zEnc;
}

/*
** kvstore keys and ranges follow UTF-8 byte order, which is SQLite's
** BINARY collation only in a UTF-8 database: a UTF-16 database is refused
** (at CREATE and at every connect) rather than answering in another order.
*/
int kvconfigCheckEncoding(sqlite3 *db, const char *zSchema,
                          const char *zTable, char **pzErr){
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf("PRAGMA \"%w\".encoding", zSchema);
  const char *zEnc = 0;
  int bAsk = 0;
  int rc;
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc==SQLITE_OK ){
    int rcStep = sqlite3_step(pStmt);
    if( rcStep==SQLITE_ROW ){
      zEnc = (const char*)sqlite3_column_text(pStmt, 0);
    }else if( rcStep==SQLITE_DONE ){
      bAsk = 1;                   /* no row: an authorizer ignored it */
    }else{
      rc = rcStep;
    }
  }else if( (rc & 0xff)==SQLITE_AUTH ){
    bAsk = 1;                     /* an authorizer denied it */
  }
  if( bAsk ){
    sqlite3_finalize(pStmt);
    pStmt = 0;
    zEnc = encodingByCast(db, &rc);
  }
  if( rc==SQLITE_OK ){
    if( zEnc && sqlite3_stricmp(zEnc, "UTF-8")!=0 ){
      *pzErr = sqlite3_mprintf("kvstore: table %s cannot live in a %s "
          "database: kvstore orders text as UTF-8; use a UTF-8 database",
          zTable, zEnc);
      rc = SQLITE_ERROR;
    }
  }
  {
    int rc2 = sqlite3_finalize(pStmt);
    if( rc==SQLITE_OK ) rc = rc2;
  }
  if( rc!=SQLITE_OK && rc!=SQLITE_NOMEM && *pzErr==0 ){
    *pzErr = sqlite3_mprintf("kvstore: cannot read the encoding of schema "
                             "%s for table %s: %s", zSchema, zTable,
                             kvshadowErrmsg(db, rc));
  }
  return rc;
}

/*
** SQLite drops empty module arguments, so kvstore(,) and kvstore(a=1,)
** reach xCreate as if the commas were not there. The CREATE statement is
** in the schema by then: refuse it if an argument between its top-level
** commas is empty.
*/
int kvconfigCheckEmptyArguments(sqlite3 *db, const char *zSchema,
                                const char *zTable, char **pzErr){
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf("SELECT sql FROM \"%w\".sqlite_schema "
      "WHERE type='table' AND name=?1", zSchema);
  int rc;
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if( rc==SQLITE_OK ) rc = sqlite3_bind_text(pStmt, 1, zTable, -1,
                                             SQLITE_STATIC);
  if( rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *z = (const char*)sqlite3_column_text(pStmt, 0);
    const char *zOpen = z ? strchr(z, '(') : 0;
    int nDepth = 0, nComma = 0, bEmpty = 1, bSeenEmpty = 0;
    char q = 0;
    for(z=zOpen; z && *z; z++){
      char c = *z;
      if( q ){
        if( c==q ) q = 0;
        continue;
      }
      if( c=='\'' || c=='"' || c=='`' ){ q = c; bEmpty = 0; continue; }
      if( c=='[' ){ q = ']'; bEmpty = 0; continue; }
      if( c=='(' ){ if( nDepth++>0 ) bEmpty = 0; continue; }
      if( c==')' ){
        if( --nDepth==0 ) break;
        continue;
      }
      if( c==',' && nDepth==1 ){
        if( bEmpty ) bSeenEmpty = 1;
        nComma++;
        bEmpty = 1;
        continue;
      }
      if( c!=' ' && c!='\t' && c!='\n' && c!='\r' ) bEmpty = 0;
    }
    if( zOpen && (bSeenEmpty || (nComma>0 && bEmpty)) ){
      *pzErr = sqlite3_mprintf("kvstore: table %s has an empty argument "
          "(two commas together, or one at an end); remove it", zTable);
      rc = SQLITE_ERROR;
    }
  }
  {
    int rc2 = sqlite3_finalize(pStmt);
    if( rc==SQLITE_OK ) rc = rc2;
  }
  if( rc!=SQLITE_OK && rc!=SQLITE_NOMEM && *pzErr==0 ){
    *pzErr = sqlite3_mprintf("kvstore: cannot read the definition of table "
                             "%s: %s", zTable, kvshadowErrmsg(db, rc));
  }
  return rc;
}

/*
** A directory path the system cannot take (longer than PATH_MAX, or a
** name longer than NAME_MAX) is refused here with its length and both
** ends shown: the engine's message would be cut off.
*/
int kvconfigCheckPathLength(const char *zDir, char **pzErr){
  size_t n = strlen(zDir);
  const char *z = zDir;
  size_t nLongest = 0;
  while( *z ){
    size_t nName = strcspn(z, "/");
    if( nName>nLongest ) nLongest = nName;
    z += nName;
    if( *z=='/' ) z++;
  }
  if( n<KV_PATH_LIMIT && nLongest<=KV_NAME_LIMIT ) return SQLITE_OK;
  *pzErr = sqlite3_mprintf("kvstore: directory path '%.40s...%s' is too "
      "long: %llu bytes (the limit is %d), its longest name %llu bytes (the "
      "limit is %d)", zDir, zDir + (n>40 ? n-40 : n),
      (unsigned long long)n, KV_PATH_LIMIT-1,
      (unsigned long long)nLongest, KV_NAME_LIMIT);
  return SQLITE_CANTOPEN;
}
