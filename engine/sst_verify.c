/*
** sst_verify.c - checking a whole SSTable: every part, every block, every
** entry.
*/
#include "sst_int.h"

#include <stdio.h>

/****************************************************************************
** Verification: every part, every block, every entry, independent of any
** cache (the table is opened without one).
*/
typedef struct VerifyState VerifyState;
struct VerifyState {
  KvBuf firstKey;               /* first entry of the table */
  KvBuf prevKey;                /* last entry seen */
  KvBuf prevSep;                /* separator of the previous block */
  u64 nEntry, nTombstone, minSeq, maxSeq, nRawBytes;
  u64 nBlock;
  u64 iNextOff;                 /* where the next data block must start */
  KvBuf leaves;                 /* recomputed Merkle leaves */
};

/* Check one data block's entries against the running state. */
static int verifyBlock(KvSst *p, const SstHandle *pH, const u8 *pSep,
                       size_t nSep, VerifyState *v){
  SstBlock *pBlock = 0;
  KvBlockIter it;
  u8 aLeaf[32];
  int rc;
  int bFirst = 1;

  if( pH->iOff!=v->iNextOff ){
    return kvSstCorruptPart(p, "index", "data blocks do not tile the data part");
  }
  rc = kvSstReadBlock(p, pH, 0, 0, aLeaf, &pBlock);
  if( rc==KV_OK ) rc = kvBufAppend(&v->leaves, aLeaf, 32);
  if( rc!=KV_OK ){
    kvSstBlockFree(pBlock);
    return rc;
  }
  v->iNextOff += pH->nStored;
  v->nBlock++;

  kvBlockIterInit(&it, &pBlock->blk, kvSstCmp);
  rc = kvBlockIterFirst(&it);
  while( rc==KV_OK && it.bValid ){
    const u8 *k = it.key.a;
    size_t nk = it.key.n;
    const char *zWhy = 0;
    if( nk<KV_TRAILER ){
      zWhy = "key too short";
    }else if( v->prevKey.n>0
           && kvIKeyCmp(v->prevKey.a, v->prevKey.n, k, nk)>=0 ){
      zWhy = "keys out of order";
    }else if( bFirst && v->prevSep.n>0
           && kvIKeyCmp(v->prevSep.a, v->prevSep.n, k, nk)>=0 ){
      zWhy = "key below the previous index separator";
    }else if( p->aFilter && !kvBloomMayContain(p->aFilter, p->nFilter,
                                   kvBloomHash(k, nk - KV_TRAILER)) ){
      rc = kvSstCorruptPart(p, "filter", "a stored key is missing");
      break;
    }
    if( zWhy ){
      rc = kvSstCorruptBlock(p, 0, pH->iOff, zWhy);
      break;
    }
    if( v->nEntry==0 ) rc = kvBufSet(&v->firstKey, k, nk);
    bFirst = 0;
    v->nEntry++;
    if( kvIKeyType(k, nk)==KV_TYPE_DEL ) v->nTombstone++;
    if( kvIKeySeq(k, nk)<v->minSeq ) v->minSeq = kvIKeySeq(k, nk);
    if( kvIKeySeq(k, nk)>v->maxSeq ) v->maxSeq = kvIKeySeq(k, nk);
    v->nRawBytes += nk + it.nVal;
    if( rc==KV_OK ) rc = kvBufSet(&v->prevKey, k, nk);
    if( rc==KV_OK ) rc = kvBlockIterNext(&it);
  }
  if( rc==KV_CORRUPT && strstr(kvErrMsg(), "corrupt block") ){
    rc = kvSstCorruptBlock(p, 0, pH->iOff, "bad entry");
  }
  if( rc==KV_OK && kvIKeyCmp(v->prevKey.a, v->prevKey.n, pSep, nSep)>0 ){
    rc = kvSstCorruptPart(p, "index", "separator below a block's last key");
  }
  if( rc==KV_OK ) rc = kvBufSet(&v->prevSep, pSep, nSep);
  kvBlockIterClear(&it);
  kvSstBlockFree(pBlock);
  return rc;
}

static int verifyWalk(KvSst *p, VerifyState *v){
  SstIter it;
  int rc = KV_OK;
  int i;
  kvSstIterInit(&it, p);
  for(i=0; rc==KV_OK && i<p->nChunk; i++){
    SstHandle h;
    rc = kvSstIterLoadChunk(&it, i);
    if( rc==KV_OK ) rc = kvSstIterBlockRc(&it, kvBlockIterFirst(&it.idx), 1);
    while( rc==KV_OK && it.idx.bValid ){
      const u8 *pSep = it.idx.key.a;
      size_t nSep = it.idx.key.n;
      if( nSep<KV_TRAILER ){
        rc = kvSstCorruptPart(p, "index", "separator too short");
        break;
      }
      rc = kvSstDecodeHandle(p, &it.idx, &h);
      if( rc==KV_OK ) rc = verifyBlock(p, &h, pSep, nSep, v);
      if( rc==KV_OK ){
        const SstChunk *pC = &p->aChunk[i];
        KvBlockIter *pI = &it.idx;
        rc = kvSstIterBlockRc(&it, kvBlockIterNext(pI), 1);
        if( rc==KV_OK && !pI->bValid
         && kvSstCmp(v->prevSep.a, v->prevSep.n, pC->pKey, pC->nKey)!=0 ){
          rc = kvSstCorruptPart(p, "summary", "chunk key differs from the index");
        }
      }
    }
  }
  kvSstIterClear(&it);
  return rc;
}

int kvSstVerify(KvEnv *pEnv, const char *zPath){
  KvSst *p = 0;
  VerifyState v;
  int rc;
  memset(&v, 0, sizeof(v));
  v.minSeq = KV_MAX_SEQ;
  rc = kvSstOpen(pEnv, zPath, 0, 0, &p);
  if( rc==KV_OK ) rc = kvSstFilterLoad(p, 1);
  if( rc==KV_OK ) rc = verifyWalk(p, &v);
  if( rc==KV_OK ){
    const KvSstMeta *m = &p->meta;
    u8 aRoot[32];
    if( v.nEntry==0 ) v.minSeq = 0;
    if( v.iNextOff!=p->iIndexOff ){
      rc = kvSstCorruptPart(p, "index", "data blocks do not tile the data part");
    }else if( v.nBlock!=m->nDataBlock ){
      rc = kvSstCorruptPart(p, "metadata", "data block count mismatch");
    }else if( v.nEntry!=m->nEntry || v.nTombstone!=m->nTombstone
           || v.minSeq!=m->minSeq || v.maxSeq!=m->maxSeq
           || v.nRawBytes!=m->nRawBytes ){
      rc = kvSstCorruptPart(p, "metadata", "counts differ from the data");
    }
    if( rc==KV_OK && p->aRdPart ){
      /* the range deletions' leaf follows the data blocks' */
      u8 aLeaf[32];
      kvSha256(p->aRdPart, (size_t)p->nRdPart, aLeaf);
      rc = kvBufAppend(&v.leaves, aLeaf, 32);
    }
    if( rc==KV_OK ){
      kvMerkleRoot(v.leaves.a, v.leaves.n/32, aRoot);
      if( memcmp(aRoot, m->aMerkle, 32)!=0 ){
        rc = kvErr(KV_CORRUPT, "kvstore: '%s': merkle root mismatch",
                   zPath);
      }
    }
    if( rc==KV_OK && v.nEntry>0
     && (m->largest.n!=v.prevKey.n
      || memcmp(m->largest.a, v.prevKey.a, v.prevKey.n)!=0
      || m->smallest.n!=v.firstKey.n
      || memcmp(m->smallest.a, v.firstKey.a, v.firstKey.n)!=0) ){
      rc = kvSstCorruptPart(p, "summary", "first or last key differs from the data");
    }
  }
  kvBufFree(&v.firstKey);
  kvBufFree(&v.prevKey);
  kvBufFree(&v.prevSep);
  kvBufFree(&v.leaves);
  kvSstClose(p);
  return rc;
}
