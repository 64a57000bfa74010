/*
** config.c - the `config` option: options read from a JSON file.
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
#include "kvext.h"
SQLITE_EXTENSION_INIT3

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Larger files are refused: an option file is a few hundred bytes. */
#define CONFIG_MAX_BYTES (1024*1024)

/* Read the whole file into sqlite3_malloc memory (NUL-terminated). */
static int configRead(const char *zPath, char **pzText, int *pnText,
                      char **pzErr){
  FILE *f = fopen(zPath, "rb");
  struct stat st;
  char *zText = 0;
  long nSize = 0;
  size_t nRead;
  *pzText = 0;
  if( f==0 ){
    *pzErr = sqlite3_mprintf("kvstore: cannot read config file '%s': %s",
                             zPath, strerror(errno));
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

int kvextConfigLoad(kv_options *pOpts, const char *zPath, char **pzErr){
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
