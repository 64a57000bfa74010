/*
** fuzz_common.h - shared by the fuzz targets: a scratch directory made
** once per process, and writing an input into a file in it.
*/
#ifndef KV_FUZZ_COMMON_H
#define KV_FUZZ_COMMON_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvInt.h"

/* The scratch directory (created on first use, removed at exit). */
static char fuzzDirBuf[64];
static void fuzzCleanDir(void);
static void fuzzRemoveDir(void){
  fuzzCleanDir();
  rmdir(fuzzDirBuf);
}
static const char *fuzzDir(void){
  if( fuzzDirBuf[0]==0 ){
    /* tmpfs when there is one: every input is written to a file. */
    snprintf(fuzzDirBuf, sizeof(fuzzDirBuf), "/dev/shm/kvfuzz-XXXXXX");
    if( mkdtemp(fuzzDirBuf)==0 ){
      snprintf(fuzzDirBuf, sizeof(fuzzDirBuf), "/tmp/kvfuzz-XXXXXX");
      if( mkdtemp(fuzzDirBuf)==0 ){ perror("mkdtemp"); abort(); }
    }
    atexit(fuzzRemoveDir);
  }
  return fuzzDirBuf;
}

/* Remove every file of the scratch directory. */
static void fuzzCleanDir(void){
  DIR *d = opendir(fuzzDir());
  struct dirent *e;
  if( d==0 ) return;
  while( (e = readdir(d))!=0 ){
    char zPath[512];
    if( e->d_name[0]=='.' ) continue;
    snprintf(zPath, sizeof(zPath), "%s/%.255s", fuzzDir(), e->d_name);
    unlink(zPath);
  }
  closedir(d);
}

/* Write a[0..n) to <scratch>/zName. */
static void fuzzWrite(const char *zName, const uint8_t *a, size_t n){
  char zPath[512];
  FILE *f;
  snprintf(zPath, sizeof(zPath), "%s/%s", fuzzDir(), zName);
  f = fopen(zPath, "wb");
  if( f==0 ){ perror(zPath); abort(); }
  if( n && fwrite(a, 1, n, f)!=n ){ perror(zPath); abort(); }
  fclose(f);
}

#endif
