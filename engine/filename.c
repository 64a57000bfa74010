/*
** filename.c - building and recognising the names of a store's files
** (the list is in filename.h).
*/
#include "filename.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* snprintf() the name of a file of kind eType into zBuf (nBuf bytes, may
** be 0) and return its length, or -1 for an unknown kind. */
static int fileNameFormat(char *zBuf, size_t nBuf, const char *zDir,
                          int eType, u64 iNum){
  const char *zSep = zDir ? "/" : "";
  if( zDir==0 ) zDir = "";
  switch( eType ){
    case KV_FILE_IDENTITY:
      return snprintf(zBuf, nBuf, "%s%s" KV_NAME_IDENTITY, zDir, zSep);
    case KV_FILE_IDENTITY_TMP:
      return snprintf(zBuf, nBuf, "%s%s" KV_NAME_IDENTITY ".tmp", zDir, zSep);
    case KV_FILE_LOCK:
      return snprintf(zBuf, nBuf, "%s%s" KV_NAME_LOCK, zDir, zSep);
    case KV_FILE_CURRENT:
      return snprintf(zBuf, nBuf, "%s%s" KV_NAME_CURRENT, zDir, zSep);
    case KV_FILE_CURRENT_TMP:
      return snprintf(zBuf, nBuf, "%s%s" KV_NAME_CURRENT ".tmp", zDir, zSep);
    case KV_FILE_DROPPED:
      return snprintf(zBuf, nBuf, "%s%s" KV_NAME_DROPPED, zDir, zSep);
    case KV_FILE_DROPPING:
      return snprintf(zBuf, nBuf, "%s%s" KV_NAME_DROPPING, zDir, zSep);
    case KV_FILE_MANIFEST:
      return snprintf(zBuf, nBuf, "%s%sMANIFEST-%06" PRIu64, zDir, zSep, iNum);
    case KV_FILE_WAL:
      return snprintf(zBuf, nBuf, "%s%swal-%06" PRIu64 ".log", zDir, zSep,
                      iNum);
    case KV_FILE_SST:
      return snprintf(zBuf, nBuf, "%s%s%06" PRIu64 ".sst", zDir, zSep, iNum);
    case KV_FILE_SST_TMP:
      return snprintf(zBuf, nBuf, "%s%s%06" PRIu64 ".sst.tmp", zDir, zSep,
                      iNum);
    case KV_FILE_SST_DAMAGED:
      return snprintf(zBuf, nBuf, "%s%s%06" PRIu64 ".sst.damaged", zDir, zSep,
                      iNum);
    case KV_FILE_SPILL:
      return snprintf(zBuf, nBuf, "%s%s%06" PRIu64 ".spill", zDir, zSep, iNum);
  }
  return -1;
}

char *kvFileName(const char *zDir, int eType, u64 iNum){
  int n = fileNameFormat(0, 0, zDir, eType, iNum);
  char *z = n<0 ? 0 : kvMalloc((size_t)n + 1);
  if( z ) fileNameFormat(z, (size_t)n + 1, zDir, eType, iNum);
  return z;
}

void kvFileNameBuf(char *zBuf, size_t nBuf, int eType, u64 iNum){
  if( nBuf==0 ) return;
  if( fileNameFormat(zBuf, nBuf, 0, eType, iNum)<0 ) zBuf[0] = 0;
}

/* The value of the nDigit decimal digits at z. */
static u64 parseNumber(const char *z, size_t nDigit){
  u64 v = 0;
  size_t i;
  for(i=0; i<nDigit; i++) v = v*10 + (u64)(z[i] - '0');
  return v;
}

int kvParseFileName(const char *zName, int *peType, u64 *piNum){
  static const struct { const char *z; int eType; } aFixed[] = {
    { KV_NAME_IDENTITY,       KV_FILE_IDENTITY },
    { KV_NAME_IDENTITY ".tmp",   KV_FILE_IDENTITY_TMP },
    { KV_NAME_LOCK,          KV_FILE_LOCK },
    { KV_NAME_CURRENT,       KV_FILE_CURRENT },
    { KV_NAME_CURRENT ".tmp",   KV_FILE_CURRENT_TMP },
    { KV_NAME_DROPPED, KV_FILE_DROPPED },
    { KV_NAME_DROPPING, KV_FILE_DROPPING },
  };
  size_t n = strlen(zName);
  size_t nDigit = strspn(zName, "0123456789");
  size_t i;
  *peType = KV_FILE_NONE;
  *piNum = 0;
  for(i=0; i<sizeof(aFixed)/sizeof(aFixed[0]); i++){
    if( strcmp(zName, aFixed[i].z)==0 ){
      *peType = aFixed[i].eType;
      return 1;
    }
  }
  if( strncmp(zName, "MANIFEST-", 9)==0 && n>9
   && strspn(zName+9, "0123456789")==n-9 ){
    *peType = KV_FILE_MANIFEST;
    *piNum = parseNumber(zName+9, n-9);
  }else if( strncmp(zName, "wal-", 4)==0 && n>8
   && strcmp(zName+n-4, ".log")==0 && strspn(zName+4, "0123456789")==n-8 ){
    *peType = KV_FILE_WAL;
    *piNum = parseNumber(zName+4, n-8);
  }else if( nDigit>0 ){
    const char *zTail = zName + nDigit;
    if( strcmp(zTail, ".sst")==0 ) *peType = KV_FILE_SST;
    else if( strcmp(zTail, ".sst.tmp")==0 ) *peType = KV_FILE_SST_TMP;
    else if( strcmp(zTail, ".sst.damaged")==0 ) *peType = KV_FILE_SST_DAMAGED;
    else if( strcmp(zTail, ".spill")==0 || strcmp(zTail, ".spill.tmp")==0 ){
      *peType = KV_FILE_SPILL;
    }
    if( *peType!=KV_FILE_NONE ) *piNum = parseNumber(zName, nDigit);
  }
  return *peType!=KV_FILE_NONE;
}
