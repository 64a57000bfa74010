/*
** replay.c - a main() for the fuzz targets without libFuzzer: feeds every
** file named on the command line (directories: every file in them) to
** LLVMFuzzerTestOneInput once. make fuzz-replay builds each target with
** it under AddressSanitizer and UBSan and runs it over fuzz/corpus/<t>/,
** so make test replays the corpus on any compiler.
*/
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *a, size_t n);

static int replayFile(const char *zPath){
  FILE *f = fopen(zPath, "rb");
  uint8_t *a;
  long n;
  if( f==0 ){ perror(zPath); return 1; }
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  a = malloc((size_t)n + 1);
  if( a==0 || fread(a, 1, (size_t)n, f)!=(size_t)n ){
    perror(zPath);
    fclose(f);
    free(a);
    return 1;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(a, (size_t)n);
  free(a);
  return 0;
}

int main(int argc, char **argv){
  int i, nFile = 0, nErr = 0;
  for(i=1; i<argc; i++){
    struct stat st;
    if( stat(argv[i], &st)!=0 ){ perror(argv[i]); return 1; }
    if( S_ISDIR(st.st_mode) ){
      DIR *d = opendir(argv[i]);
      struct dirent *e;
      while( d && (e = readdir(d))!=0 ){
        char zPath[4096];
        if( e->d_name[0]=='.' ) continue;
        snprintf(zPath, sizeof(zPath), "%s/%s", argv[i], e->d_name);
        nErr += replayFile(zPath);
        nFile++;
      }
      if( d ) closedir(d);
    }else{
      nErr += replayFile(argv[i]);
      nFile++;
    }
  }
  printf("%s: %d inputs replayed\n", argv[0], nFile);
  return nErr ? 1 : 0;
}
