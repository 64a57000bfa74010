/*
** pcengine.h - what the workload (pcdrive.c) and the checker (pccheck.c)
** share on the engine side (pcshim.c, the recorder, knows no engine):
** the options both open the store with. Header-only; include after kv.h
** and pc.h.
*/
#ifndef PCENGINE_H
#define PCENGINE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PC_OPTIONS (pc.h) as a kv_options (kv_options_free); a failure prints
** "zProg: ..." and exits with eExit. */
static kv_options *pcOptions(const char *zProg, int eExit){
  static const char *azOpt[] = { PC_OPTIONS };
  kv_options *o = kv_options_new();
  size_t i;
  if( o==0 ){
    fprintf(stderr, "%s: out of memory\n", zProg);
    exit(eExit);
  }
  for(i=0; i<sizeof(azOpt)/sizeof(azOpt[0]); i++){
    char zName[64];
    const char *zEq = strchr(azOpt[i], '=');
    char *zErr = 0;
    snprintf(zName, sizeof(zName), "%.*s", (int)(zEq - azOpt[i]), azOpt[i]);
    if( kv_options_set(o, zName, zEq+1, &zErr)!=KV_OK ){
      fprintf(stderr, "%s: option %s: %s\n", zProg, azOpt[i], zErr);
      exit(eExit);
    }
  }
  return o;
}

#endif /* PCENGINE_H */
