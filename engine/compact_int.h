/*
** compact_int.h - what compact_pick.c (choosing) and compact.c (running)
** share: the per-store compactor state and a few helpers.
*/
#ifndef KV_COMPACT_INT_H
#define KV_COMPACT_INT_H

#include "kvInt.h"

typedef struct ShadowCount ShadowCount;
struct ShadowCount {
  u64 iFile;                    /* file number */
  u64 n;                        /* entries kept only for a snapshot */
};

struct KvCompactor {
  KvCompactHost host;           /* the store, as compact.c sees it */
  int bRunning;                 /* a compaction is in progress (M) */
  KvBuf aPointer[KV_MAX_LEVELS];/* leveled: largest key of the last file
                                ** compacted from each level (M) */
  ShadowCount *aShadow;         /* per-file snapshot-only entries (M) */
  int nShadow;
  KvCompactStats total;         /* all compactions so far (M) */
  u64 nTrivial;                 /* trivial moves among them */
  u64 nGarbage;                 /* picked by the garbage trigger */
  u64 nSeek;                    /* picked by the seek trigger */
  KvFileMeta *pSeek;            /* file whose seeks ran out (referenced),
                                ** or NULL (M) */
  int iSeekLevel;
  u64 nFull;                    /* full compactions */
  u64 nProgDone;                /* running compaction: input bytes merged */
  u64 nProgPlanned;             /*   of its input bytes (M) */
};

/* Record that file iFile holds n entries kept only for a snapshot, or
** forget it (compact_pick.c). */
void kvCompactorShadowSet(KvCompactor *p, u64 iFile, u64 n);
void kvCompactorShadowRemove(KvCompactor *p, u64 iFile);
/* Is file f entirely before user key k? */
static inline int kvCompactFileBefore(const KvFileMeta *f, const u8 *k,
                                      size_t n){
  return kvUKeyCmp(f->largest.a, f->largest.n - KV_TRAILER, k, n)<0;
}
/* Is file f entirely after user key k? */
static inline int kvCompactFileAfter(const KvFileMeta *f, const u8 *k,
                                     size_t n){
  return kvUKeyCmp(f->smallest.a, f->smallest.n - KV_TRAILER, k, n)>0;
}

#endif /* KV_COMPACT_INT_H */
