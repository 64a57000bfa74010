/*
** level_iter.c - a level of a version read as one sorted run: the SSTable
** run iterator (sst_iter.c) over a level's files, each table opened
** through version.c (kvFileTable) when the iterator reaches it. The
** SSTable files know nothing of versions; this file joins the two.
*/
#include "kvInt.h"

static int levelTable(void *pCtx, int i, KvSst **ppSst){
  return kvFileTable(((KvFileMeta**)pCtx)[i], ppSst);
}

static void levelLargest(void *pCtx, int i, const u8 **ppKey, size_t *pnKey){
  const KvFileMeta *f = ((KvFileMeta**)pCtx)[i];
  *ppKey = f->largest.a;
  *pnKey = f->largest.n;
}

int kvLevelIterNew(KvFileMeta **aFile, int nFile, int flags,
                   KvIter **ppIter){
  KvSstRun run;
  run.nTable = nFile;
  run.pCtx = (void*)aFile;
  run.xTable = levelTable;
  run.xLargest = levelLargest;
  return kvSstRunIterNew(&run, flags, ppIter);
}
