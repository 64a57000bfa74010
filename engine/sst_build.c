/*
** sst_build.c - SSTables, the immutable sorted files of the LSM tree: the
** format, and the builder that writes it. The reader is in sst_read.c, the
** iterator and point lookups in sst_iter.c, the verifier in sst_verify.c.
**
** FILE FORMAT (version KV_FORMAT_VERSION = 1, and version 2 =
** KV_SST_FORMAT_RANGEDEL for a table holding range tombstones). Integers are little-endian;
** "varint" is LEB128 (kvPutVarint). Parts, in file order:
**
**   Data      data blocks, back to back from offset 0
**   Index     index chunks, back to back
**   Filter    bloom filter (may be empty)
**   RangeDel  range tombstones (format version 2 only; may be empty)
**   Metadata
**   Summary
**   Footer    80 bytes, at the very end
**
** A framed block (data block or index chunk) is
**
**     payload    the block of block.c, raw or zlib-compressed
**     type       1 byte: 0 = raw, 1 = zlib (a raw deflate stream, RFC 1951:
**                no zlib header or adler32, which the CRC32 below makes
**                redundant and which cost ~6% of a read that misses
**                the cache)
**     crc        fixed32 CRC32 of payload + type
**
** Its "stored size" counts all three. The block inside is the block.c
** layout (sorted entries, prefix-compressed keys, restart points). A data
** block is compressed only when zlib saves at least 1/8 of its size, and
** is cut before it would pass the configured size, so a block holds one
** entry when that entry is large. No block may expand past
** SST_MAX_BLOCK bytes (room for any entry the WAL takes), which a reader
** enforces before inflating, and the inflated size must equal the size
** the index records.
**
** Data blocks hold the table's entries: internal key -> value, in strictly
** ascending internal-key order across the whole part.
**
** Index: one entry per data block, in order, grouped into chunks of
** nSummaryInterval entries, each chunk one framed block (always raw, one
** restart point per entry). An entry's key is a separator S with
** last key of the block <= S < first key of the next block (often a
** shortened user key with the largest trailer; the last block uses its
** last key). Its value is varint offset, varint stored size, varint
** uncompressed size of the data block.
**
** Filter: a bloom filter (bloom.c) over the distinct user keys, then a
** fixed32 CRC32 of it. The part is empty (size 0) when built with
** nBloomBits==0.
**
** RangeDel (version 2): the table's range tombstones, kvRdListEncode's
** encoding (varint count; per tombstone varint length + lo, varint
** length + hi, varint sequence; lo < hi), then a fixed32 CRC32 of it.
** Size 0 when the table has none. When present, SHA-256 of the whole part
** (CRC included) is one more Merkle leaf after the data blocks' leaves,
** so the root covers the tombstones too; the metadata stores only the
** data blocks' leaves. Entry counts and sequences in the metadata are the
** point entries'; the manifest's file record widens the key range and
** sequence range to the tombstones'.
**
** Metadata:
**     fixed64 entries, tombstones, min seq, max seq, creation time
**             (micros), raw bytes (keys + values), data block count N
**     N x 32 bytes   Merkle leaves: SHA-256 of each data block's stored
**                    bytes (payload, type and crc)
**     32 bytes       Merkle root of the leaves (kvMerkleRoot)
**     fixed32        CRC32 of everything before it
**
** Summary (held in memory by readers):
**     varint C, the number of index chunks; then per chunk
**         varint key length, key (the chunk's last separator),
**         varint offset of the chunk within the Index part, varint stored size
**     varint length, first internal key of the table
**     varint length, last internal key of the table
**     fixed32 CRC32 of everything before it
**
** Footer:
**     0  fixed64 index offset       8  fixed64 index size
**    16  fixed64 filter offset     24  fixed64 filter size
**    32  fixed64 metadata offset   40  fixed64 metadata size
**    48  fixed64 summary offset    56  fixed64 summary size
**    64  fixed32 format version
**    68  fixed32 CRC32 of bytes [0, 68)
**    72  fixed64 magic SST_MAGIC
**
** Footer of format version 2 (96 bytes): the same eight offsets and
** sizes, then 64 fixed64 RangeDel offset, 72 fixed64 RangeDel size,
** 80 fixed32 format version, 84 fixed32 CRC32 of bytes [0, 84), 88 the
** magic. The version, CRC and magic sit at the same distance from the end
** of the file in both, so a reader reads the version first. A table
** without range tombstones is still written as version 1 (no RangeDel
** part), so stores that never use range deletes stay readable by older
** builds, and every version 1 table opens.
**
** The parts must tile the file exactly (Data ends where Index starts, ...,
** Summary ends where the Footer starts), the chunks must tile the Index
** and the blocks the Data part, so a reader never trusts an offset or a
** length it has not bounds-checked, and every byte is under a checksum.
**
** A reader (sst_read.c) keeps footer, summary, filter and metadata in
** memory. Uncompressed tables are read from the file's mapping and skip
** the block cache (index chunks parsed once and kept by the table, data
** blocks used where they lie); compressed blocks, and every block when
** the file is not mapped, go through the block cache, keyed by (table,
** offset), where a cached block is the decompressed, parsed block and its
** handle is held while a cursor is on it.
*/
#include "sst_int.h"

#include <stdio.h>

/****************************************************************************
** Builder.
*/
struct KvSstBuilder {
  KvEnv *pEnv;
  char *zPath;                  /* final name */
  char *zTmp;                   /* zPath".tmp", written first */
  KvFile *pFile;                /* open while building */
  KvSstConfig cfg;              /* with defaults filled in */
  int rc;                       /* first error: sticky */
  u64 iOff;                     /* bytes written (to the file or wbuf) */
  KvBuf wbuf;                   /* bytes not yet handed to xAppend */
  KvBlockBuilder data;          /* data block being filled */
  KvBlockBuilder index;         /* index chunk being filled */
  KvBuf indexPart;              /* finished index chunks, framed */
  KvBuf summary;                /* summary entries so far (no count) */
  u64 nChunk;                   /* index chunks in indexPart */
  int bPending;                 /* a flushed block awaits its index entry */
  SstHandle pending;            /* ... which is this one */
  KvBuf lastKey;                /* last internal key added */
  KvBuf scratch;                /* separator key, index value, compressor */
  KvBuf hashes;                 /* u32 bloom hashes of distinct user keys */
  KvBuf leaves;                 /* 32-byte Merkle leaves, one per block */
  KvSstMeta meta;               /* counters and smallest key so far */
  u64 aDelWin[KV_DEL_WINDOW/64];  /* ring of the last KV_DEL_WINDOW entries:
                                ** bit set for a point tombstone */
  u64 nDelWin;                  /* tombstones in the ring */
  KvBuf rdEnc;                  /* range tombstones, encoded (no count) */
  u64 nRd;                      /* ... how many */
  KvBuf rdLo, rdHi;             /* smallest lo and largest hi among them */
  u64 rdMinSeq, rdMaxSeq;
  z_stream z;                   /* deflate state, reused between blocks */
  int bZInit;                   /* z is initialised */
};

static void builderFree(KvSstBuilder *p){
  if( p==0 ) return;
  if( p->pFile ) p->pEnv->xClose(p->pFile);
  if( p->bZInit ) deflateEnd(&p->z);
  kvBlockBuilderFree(&p->data);
  kvBlockBuilderFree(&p->index);
  kvBufFree(&p->indexPart);
  kvBufFree(&p->summary);
  kvBufFree(&p->lastKey);
  kvBufFree(&p->scratch);
  kvBufFree(&p->hashes);
  kvBufFree(&p->leaves);
  kvBufFree(&p->wbuf);
  kvBufFree(&p->rdEnc);
  kvBufFree(&p->rdLo);
  kvBufFree(&p->rdHi);
  kvSstMetaFree(&p->meta);
  kvFree(p->zPath);
  kvFree(p->zTmp);
  kvFree(p);
}

int kvSstBuilderNew(KvEnv *pEnv, const char *zPath, const KvSstConfig *pCfg,
                    u64 nCreated, KvSstBuilder **ppB){
  KvSstBuilder *p;
  int rc = KV_OK;
  *ppB = 0;
  p = kvMallocZero(sizeof(*p));
  if( p==0 ) return kvErrNoMem();
  p->pEnv = pEnv;
  p->cfg = *pCfg;
  if( p->cfg.nBlock==0 ) p->cfg.nBlock = 4096;
  if( p->cfg.nRestart<1 ) p->cfg.nRestart = 16;
  if( p->cfg.nSummaryInterval<1 ) p->cfg.nSummaryInterval = 16;
  if( p->cfg.nBloomBits<0 ) p->cfg.nBloomBits = 0;
  kvBlockBuilderInit(&p->data, p->cfg.nRestart);
  /* a restart per index entry: keys are few, searches are many */
  kvBlockBuilderInit(&p->index, 1);
  p->meta.minSeq = KV_MAX_SEQ;
  p->meta.nCreated = nCreated;
  p->zPath = kvStrdup(zPath);
  p->zTmp = kvMprintf("%s.tmp", zPath);
  if( p->zPath==0 || p->zTmp==0 ){
    rc = kvErrNoMem();
  }
  if( rc==KV_OK ) rc = pEnv->xOpen(pEnv, p->zTmp, KV_OPEN_WRITE, &p->pFile);
  if( rc!=KV_OK ){
    builderFree(p);
    return rc;
  }
  *ppB = p;
  return KV_OK;
}

/* Appends are gathered into SST_WRITE_BUFFER-byte writes: one write()
** per data block cost a tenth of a compaction's time in system calls. */
#define SST_WRITE_BUFFER (64*1024)

static int builderFlushWrites(KvSstBuilder *p){
  int rc = KV_OK;
  if( p->wbuf.n>0 ){
    rc = p->pEnv->xAppend(p->pFile, p->wbuf.a, p->wbuf.n);
    p->wbuf.n = 0;
  }
  return rc;
}

static int builderAppend(KvSstBuilder *p, const void *a, size_t n){
  int rc = KV_OK;
  if( p->wbuf.n + n > SST_WRITE_BUFFER ) rc = builderFlushWrites(p);
  if( rc==KV_OK ){
    if( n>=SST_WRITE_BUFFER ){
      rc = p->pEnv->xAppend(p->pFile, a, n);
    }else{
      rc = kvBufAppend(&p->wbuf, a, n);
    }
  }
  if( rc==KV_OK ) p->iOff += n;
  return rc;
}

/* Compress a[0..n) into p->scratch; *pbUse is 1 if it is worth keeping. */
static int builderDeflate(KvSstBuilder *p, const u8 *a, size_t n,
                          int *pbUse){
  int rc = KV_OK;
  int zrc;
  uLong nBound;
  *pbUse = 0;
  if( !p->bZInit ){
    int iLevel = p->cfg.iLevel;
    if( iLevel<0 || iLevel>9 ) iLevel = Z_DEFAULT_COMPRESSION;
    p->z.zalloc = kvSstZAlloc;
    p->z.zfree = kvSstZFree;
    p->z.opaque = 0;
    if( deflateInit2(&p->z, iLevel, Z_DEFLATED, -15, 8,
                     Z_DEFAULT_STRATEGY)!=Z_OK ){
      return kvErr(KV_NOMEM, "kvstore: '%s': cannot start zlib", p->zTmp);
    }
    p->bZInit = 1;
  }else{
    deflateReset(&p->z);
  }
  nBound = deflateBound(&p->z, (uLong)n);
  p->scratch.n = 0;
  rc = kvBufReserve(&p->scratch, (size_t)nBound);
  if( rc==KV_OK ){
    p->z.next_in = (Bytef*)a;
    p->z.avail_in = (uInt)n;
    p->z.next_out = p->scratch.a;
    p->z.avail_out = (uInt)nBound;
    zrc = deflate(&p->z, Z_FINISH);
    if( zrc==Z_STREAM_END ){
      p->scratch.n = (size_t)p->z.total_out;
      *pbUse = p->scratch.n <= n - n/8;
    }else if( zrc==Z_MEM_ERROR ){
      rc = kvErr(KV_NOMEM, "kvstore: out of memory compressing a block");
    }
    /* any other outcome: store the block raw */
  }
  return rc;
}

/*
** Frame block a[0..n) (payload, type, crc). For a data block (pDest NULL)
** append it to the file, compressing when configured, and record its
** Merkle leaf; for an index chunk append it, raw, to pDest.
*/
static int builderWriteBlock(KvSstBuilder *p, const u8 *a, size_t n,
                             KvBuf *pDest, SstHandle *pH){
  int rc = KV_OK;
  int bZip = 0;
  const u8 *pPay = a;
  size_t nPay = n;
  u8 aTrail[SST_TRAILER];
  if( pDest==0 && p->cfg.eCompression==KV_COMPRESS_ZLIB ){
    rc = builderDeflate(p, a, n, &bZip);
    if( bZip ){
      pPay = p->scratch.a;
      nPay = p->scratch.n;
    }
  }
  aTrail[0] = bZip ? SST_TYPE_ZLIB : SST_TYPE_RAW;
  kvPut32(aTrail+1, kvCrc32Extend(kvCrc32(pPay, nPay), aTrail, 1));
  pH->nStored = nPay + SST_TRAILER;
  pH->nRaw = n;
  if( pDest ){
    pH->iOff = pDest->n;
    if( rc==KV_OK ) rc = kvBufAppend(pDest, pPay, nPay);
    if( rc==KV_OK ) rc = kvBufAppend(pDest, aTrail, SST_TRAILER);
  }else{
    KvSha256 sha;
    pH->iOff = p->iOff;
    if( rc==KV_OK ) rc = builderAppend(p, pPay, nPay);
    if( rc==KV_OK ) rc = builderAppend(p, aTrail, SST_TRAILER);
    if( rc==KV_OK ) rc = kvBufReserve(&p->leaves, 32);
    if( rc==KV_OK ){
      kvSha256Init(&sha);
      kvSha256Update(&sha, pPay, nPay);
      kvSha256Update(&sha, aTrail, SST_TRAILER);
      kvSha256Final(&sha, p->leaves.a + p->leaves.n);
      p->leaves.n += 32;
    }
  }
  return rc;
}

static int builderFlushChunk(KvSstBuilder *p){
  SstHandle h;
  int rc = kvBlockBuilderFinish(&p->index);
  if( rc==KV_OK ){
    rc = builderWriteBlock(p, p->index.buf.a, p->index.buf.n,
                           &p->indexPart, &h);
  }
  if( rc==KV_OK ) rc = kvBufAppendVarint(&p->summary, p->index.lastKey.n);
  if( rc==KV_OK ){
    rc = kvBufAppend(&p->summary, p->index.lastKey.a, p->index.lastKey.n);
  }
  if( rc==KV_OK ) rc = kvBufAppendVarint(&p->summary, h.iOff);
  if( rc==KV_OK ) rc = kvBufAppendVarint(&p->summary, h.nStored);
  if( rc==KV_OK ){
    p->nChunk++;
    kvBlockBuilderReset(&p->index);
  }
  return rc;
}

static int builderAddIndex(KvSstBuilder *p, const u8 *pSep, size_t nSep,
                           const SstHandle *pH){
  u8 aVal[3*KV_MAX_VARINT];
  int nVal = 0;
  int rc;
  nVal += kvPutVarint(aVal+nVal, pH->iOff);
  nVal += kvPutVarint(aVal+nVal, pH->nStored);
  nVal += kvPutVarint(aVal+nVal, pH->nRaw);
  /* Long keys: a chunk ends early rather than pass the block limit (the
  ** summary lists each chunk, so chunks need not be of equal length). */
  if( p->index.nEntry>0 && kvBlockBuilderSize(&p->index)
        + kvBlockEntryBound(nSep, (size_t)nVal) + 16 > SST_MAX_BLOCK ){
    rc = builderFlushChunk(p);
    if( rc!=KV_OK ) return rc;
  }
  rc = kvBlockBuilderAdd(&p->index, pSep, nSep, aVal, (size_t)nVal);
  if( rc==KV_OK && p->index.nEntry>=(u32)p->cfg.nSummaryInterval ){
    rc = builderFlushChunk(p);
  }
  return rc;
}

/*
** Into p->scratch, a key S with a <= S < b, shorter than a when their
** user keys differ early enough: the shortest prefix of a's user key with
** its last byte raised, plus the largest trailer (which sorts first).
*/
static int builderSeparator(KvSstBuilder *p, const u8 *a, size_t na,
                            const u8 *b, size_t nb){
  size_t nua = na - KV_TRAILER;
  size_t nub = nb - KV_TRAILER;
  size_t nMin = nua<nub ? nua : nub;
  size_t i = 0;
  int rc;
  while( i<nMin && a[i]==b[i] ) i++;
  p->scratch.n = 0;
  if( i<nMin && i+1<nua && a[i]<0xff && (u8)(a[i]+1)<b[i] ){
    rc = kvBufAppend(&p->scratch, a, i+1);
    if( rc==KV_OK ){
      p->scratch.a[i]++;
      rc = kvBufAppend64(&p->scratch, kvPackTrailer(KV_MAX_SEQ, KV_TYPE_PUT));
    }
  }else{
    rc = kvBufAppend(&p->scratch, a, na);
  }
  return rc;
}

static int builderFlushData(KvSstBuilder *p){
  int rc = kvBlockBuilderFinish(&p->data);
  if( rc==KV_OK ){
    rc = builderWriteBlock(p, p->data.buf.a, p->data.buf.n, 0, &p->pending);
  }
  if( rc==KV_OK ){
    p->bPending = 1;
    p->meta.nDataBlock++;
    kvBlockBuilderReset(&p->data);
  }
  return rc;
}

int kvSstBuilderAdd(KvSstBuilder *pB, const u8 *pIKey, size_t nIKey,
                    const u8 *pVal, size_t nVal){
  KvSstBuilder *p = pB;
  size_t nEntry = kvBlockEntryBound(nIKey, nVal);
  int rc = p->rc;
  assert( nIKey>=KV_TRAILER );
  assert( p->lastKey.n==0
       || kvIKeyCmp(p->lastKey.a, p->lastKey.n, pIKey, nIKey)<0 );
  if( rc!=KV_OK ) return rc;
  if( nEntry + 16 > SST_MAX_BLOCK ){
    return kvErr(KV_TOOBIG, "kvstore: '%s': entry of %zu bytes is too large "
                 "for a table block", p->zTmp, nIKey + nVal);
  }
  if( p->data.nEntry>0 ){
    size_t nNew = kvBlockBuilderSize(&p->data) + nEntry;
    if( nNew>p->cfg.nBlock || nNew>SST_MAX_BLOCK ) rc = builderFlushData(p);
  }
  if( rc==KV_OK && p->bPending ){
    rc = builderSeparator(p, p->lastKey.a, p->lastKey.n, pIKey, nIKey);
    if( rc==KV_OK ){
      rc = builderAddIndex(p, p->scratch.a, p->scratch.n, &p->pending);
    }
    p->bPending = 0;
  }
  if( rc==KV_OK ) rc = kvBlockBuilderAdd(&p->data, pIKey, nIKey, pVal, nVal);

  /* Bloom hashes: one per distinct user key (versions are adjacent). */
  if( rc==KV_OK && p->cfg.nBloomBits>0 && (p->lastKey.n==0
       || kvUKeyCmp(p->lastKey.a, p->lastKey.n - KV_TRAILER,
                    pIKey, nIKey - KV_TRAILER)!=0) ){
    u32 h = kvBloomHash(pIKey, nIKey - KV_TRAILER);
    rc = kvBufAppend(&p->hashes, &h, sizeof(h));
  }
  if( rc==KV_OK && p->meta.nEntry==0 ){
    rc = kvBufSet(&p->meta.smallest, pIKey, nIKey);
  }
  if( rc==KV_OK ) rc = kvBufSet(&p->lastKey, pIKey, nIKey);
  if( rc==KV_OK ){
    u64 seq = kvIKeySeq(pIKey, nIKey);
    int bDel = kvIKeyType(pIKey, nIKey)==KV_TYPE_DEL;
    u64 iBit = p->meta.nEntry % KV_DEL_WINDOW;
    u64 m = (u64)1 << (iBit % 64);
    u64 *pW = &p->aDelWin[iBit / 64];
    /* The entry KV_DEL_WINDOW back leaves the window, this one enters. */
    if( *pW & m ) p->nDelWin--;
    if( bDel ){ *pW |= m; p->nDelWin++; }else{ *pW &= ~m; }
    if( p->nDelWin>p->meta.nDelWindowMax ) p->meta.nDelWindowMax = p->nDelWin;
    p->meta.nEntry++;
    if( bDel ) p->meta.nTombstone++;
    if( seq<p->meta.minSeq ) p->meta.minSeq = seq;
    if( seq>p->meta.maxSeq ) p->meta.maxSeq = seq;
    p->meta.nRawBytes += nIKey + nVal;
  }
  p->rc = rc;
  return rc;
}

int kvSstBuilderAddRangeDel(KvSstBuilder *pB, const u8 *pLo, size_t nLo,
                            const u8 *pHi, size_t nHi, u64 seq){
  KvSstBuilder *p = pB;
  KvRdList one = {0, 0, 0};
  KvBuf enc = {0, 0, 0};
  int rc = p->rc;
  if( rc!=KV_OK ) return rc;
  rc = kvRdListAdd(&one, pLo, nLo, pHi, nHi, seq);
  if( rc==KV_OK ) rc = kvRdListEncode(&one, &enc);
  /* drop the count byte (1 for one tombstone): entries only */
  if( rc==KV_OK ) rc = kvBufAppend(&p->rdEnc, enc.a + 1, enc.n - 1);
  if( rc==KV_OK && (p->nRd==0 || kvUKeyCmp(pLo, nLo, p->rdLo.a, p->rdLo.n)<0) ){
    rc = kvBufSet(&p->rdLo, pLo, nLo);
  }
  if( rc==KV_OK && (p->nRd==0 || kvUKeyCmp(pHi, nHi, p->rdHi.a, p->rdHi.n)>0) ){
    rc = kvBufSet(&p->rdHi, pHi, nHi);
  }
  if( rc==KV_OK ){
    if( p->nRd==0 || seq<p->rdMinSeq ) p->rdMinSeq = seq;
    if( p->nRd==0 || seq>p->rdMaxSeq ) p->rdMaxSeq = seq;
    p->nRd++;
  }
  kvRdListFree(&one);
  kvBufFree(&enc);
  p->rc = rc;
  return rc;
}

/* Widen the returned file description to the tombstones: key range
** [min(smallest, lo), max(largest, hi)] and the sequence range. */
static int builderWidenMeta(KvSstBuilder *p, KvSstMeta *pMeta){
  KvBuf k = {0, 0, 0};
  int rc = KV_OK;
  if( p->nRd==0 ) return KV_OK;
  pMeta->nRangeDel = p->nRd;
  if( pMeta->nEntry==0 ){
    pMeta->minSeq = p->rdMinSeq;
    pMeta->maxSeq = p->rdMaxSeq;
  }else{
    if( p->rdMinSeq<pMeta->minSeq ) pMeta->minSeq = p->rdMinSeq;
    if( p->rdMaxSeq>pMeta->maxSeq ) pMeta->maxSeq = p->rdMaxSeq;
  }
  /* smallest: (lo, max seq) sorts before every entry of lo */
  rc = kvIKeyAppend(&k, p->rdLo.a, p->rdLo.n, KV_MAX_SEQ, KV_TYPE_PUT);
  if( rc==KV_OK && (pMeta->smallest.n==0
       || kvIKeyCmp(k.a, k.n, pMeta->smallest.a, pMeta->smallest.n)<0) ){
    rc = kvBufSet(&pMeta->smallest, k.a, k.n);
  }
  /* largest: (hi, 0) sorts after every entry of hi (hi itself is not
  ** deleted; the range is closed only to keep the file's span simple) */
  k.n = 0;
  if( rc==KV_OK ) rc = kvIKeyAppend(&k, p->rdHi.a, p->rdHi.n, 0, KV_TYPE_DEL);
  if( rc==KV_OK && (pMeta->largest.n==0
       || kvIKeyCmp(k.a, k.n, pMeta->largest.a, pMeta->largest.n)>0) ){
    rc = kvBufSet(&pMeta->largest, k.a, k.n);
  }
  kvBufFree(&k);
  return rc;
}

u64 kvSstBuilderSize(KvSstBuilder *pB){
  return pB->iOff + (pB->data.nEntry ? kvBlockBuilderSize(&pB->data) : 0);
}

u64 kvSstBuilderCount(KvSstBuilder *pB){
  return pB->meta.nEntry;
}

/* Append the tail of a part: CRC32 of pBuf[iStart..), then write it. */
static int builderWritePart(KvSstBuilder *p, KvBuf *pBuf, u64 *piOff,
                            u64 *pnSize){
  int rc = kvBufAppend32(pBuf, kvCrc32(pBuf->a, pBuf->n));
  *piOff = p->iOff;
  *pnSize = pBuf->n;
  if( rc==KV_OK ) rc = builderAppend(p, pBuf->a, pBuf->n);
  return rc;
}

static char *dirOf(const char *zPath){
  const char *zSlash = strrchr(zPath, '/');
  if( zSlash==0 ) return kvStrdup(".");
  if( zSlash==zPath ) return kvStrdup("/");
  return kvMprintf("%.*s", (int)(zSlash - zPath), zPath);
}

int kvSstBuilderFinish(KvSstBuilder *pB, KvSstMeta *pMeta){
  KvSstBuilder *p = pB;
  int rc = p->rc;
  u64 aPart[10];                /* index, filter, metadata, summary,
                                ** range deletions */
  KvBuf part = {0, 0, 0};
  u8 aFoot[SST_FOOTER2];
  char *zDir = 0;
  int bRenamed = 0;             /* the file has its final name */
  int i;

  memset(pMeta, 0, sizeof(*pMeta));
  memset(aPart, 0, sizeof(aPart));

  /* Last data block, its index entry (keyed by its last key), last chunk */
  if( rc==KV_OK && p->data.nEntry>0 ) rc = builderFlushData(p);
  if( rc==KV_OK && p->bPending ){
    rc = builderAddIndex(p, p->lastKey.a, p->lastKey.n, &p->pending);
    p->bPending = 0;
  }
  if( rc==KV_OK && p->index.nEntry>0 ) rc = builderFlushChunk(p);

  /* Index */
  aPart[0] = p->iOff;
  aPart[1] = p->indexPart.n;
  if( rc==KV_OK ) rc = builderAppend(p, p->indexPart.a, p->indexPart.n);

  /* Filter */
  if( rc==KV_OK && p->cfg.nBloomBits>0 ){
    rc = kvBloomBuild((const u32*)p->hashes.a, p->hashes.n/sizeof(u32),
                      p->cfg.nBloomBits, &part);
    if( rc==KV_OK ) rc = builderWritePart(p, &part, &aPart[2], &aPart[3]);
  }else{
    aPart[2] = p->iOff;
  }

  /* Range deletions, and their Merkle leaf */
  aPart[8] = p->iOff;
  if( rc==KV_OK && p->nRd>0 ){
    u8 aLeaf[32];
    part.n = 0;
    rc = kvBufAppendVarint(&part, p->nRd);
    if( rc==KV_OK ) rc = kvBufAppend(&part, p->rdEnc.a, p->rdEnc.n);
    if( rc==KV_OK ) rc = builderWritePart(p, &part, &aPart[8], &aPart[9]);
    kvSha256(part.a, part.n, aLeaf);
    if( rc==KV_OK ) rc = kvBufAppend(&p->leaves, aLeaf, 32);
  }

  /* Metadata */
  if( p->meta.nEntry==0 ) p->meta.minSeq = 0;
  kvMerkleRoot(p->leaves.a, p->leaves.n/32, p->meta.aMerkle);
  if( p->nRd>0 ) p->leaves.n -= 32;       /* stored: data leaves only */
  part.n = 0;
  if( rc==KV_OK ) rc = kvBufAppend64(&part, p->meta.nEntry);
  if( rc==KV_OK ) rc = kvBufAppend64(&part, p->meta.nTombstone);
  if( rc==KV_OK ) rc = kvBufAppend64(&part, p->meta.minSeq);
  if( rc==KV_OK ) rc = kvBufAppend64(&part, p->meta.maxSeq);
  if( rc==KV_OK ) rc = kvBufAppend64(&part, p->meta.nCreated);
  if( rc==KV_OK ) rc = kvBufAppend64(&part, p->meta.nRawBytes);
  if( rc==KV_OK ) rc = kvBufAppend64(&part, p->meta.nDataBlock);
  if( rc==KV_OK ) rc = kvBufAppend(&part, p->leaves.a, p->leaves.n);
  if( rc==KV_OK ) rc = kvBufAppend(&part, p->meta.aMerkle, 32);
  if( rc==KV_OK ) rc = builderWritePart(p, &part, &aPart[4], &aPart[5]);

  /* Summary */
  part.n = 0;
  if( rc==KV_OK ) rc = kvBufAppendVarint(&part, p->nChunk);
  if( rc==KV_OK ) rc = kvBufAppend(&part, p->summary.a, p->summary.n);
  if( rc==KV_OK ) rc = kvBufAppendVarint(&part, p->meta.smallest.n);
  if( rc==KV_OK ){
    rc = kvBufAppend(&part, p->meta.smallest.a, p->meta.smallest.n);
  }
  if( rc==KV_OK ) rc = kvBufAppendVarint(&part, p->lastKey.n);
  if( rc==KV_OK ) rc = kvBufAppend(&part, p->lastKey.a, p->lastKey.n);
  if( rc==KV_OK ) rc = builderWritePart(p, &part, &aPart[6], &aPart[7]);

  /* Footer: version 1 unless the table holds range tombstones */
  if( p->nRd==0 ){
    for(i=0; i<8; i++) kvPut64(aFoot + i*8, aPart[i]);
    kvPut32(aFoot+64, KV_FORMAT_VERSION);
    kvPut32(aFoot+68, kvCrc32(aFoot, 68));
    kvPut64(aFoot+72, SST_MAGIC);
    if( rc==KV_OK ) rc = builderAppend(p, aFoot, SST_FOOTER);
  }else{
    for(i=0; i<10; i++) kvPut64(aFoot + i*8, aPart[i]);
    kvPut32(aFoot+80, KV_SST_FORMAT_RANGEDEL);
    kvPut32(aFoot+84, kvCrc32(aFoot, 84));
    kvPut64(aFoot+88, SST_MAGIC);
    if( rc==KV_OK ) rc = builderAppend(p, aFoot, SST_FOOTER2);
  }

  /* Durable under its final name: sync, close, rename, sync directory */
  if( rc==KV_OK ) rc = builderFlushWrites(p);
  if( rc==KV_OK ) rc = p->pEnv->xSync(p->pFile);
  if( rc==KV_OK ){
    rc = p->pEnv->xClose(p->pFile);
    p->pFile = 0;
  }
  if( rc==KV_OK ) rc = p->pEnv->xRename(p->pEnv, p->zTmp, p->zPath);
  if( rc==KV_OK ){
    bRenamed = 1;
    zDir = dirOf(p->zPath);
    if( zDir==0 ) rc = kvErrNoMem();
  }
  if( rc==KV_OK ) rc = p->pEnv->xSyncDir(p->pEnv, zDir);

  if( rc==KV_OK ){
    *pMeta = p->meta;
    memset(&p->meta.smallest, 0, sizeof(KvBuf));
    memset(&pMeta->largest, 0, sizeof(KvBuf));
    pMeta->largest = p->lastKey;
    memset(&p->lastKey, 0, sizeof(KvBuf));
    pMeta->nFileSize = p->iOff;
    rc = builderWidenMeta(p, pMeta);
    if( rc!=KV_OK ) kvSstMetaFree(pMeta);
  }
  if( rc!=KV_OK ){
    /* Keep the first error's message: cleanup failures are secondary. */
    char zMsg[1024];
    snprintf(zMsg, sizeof(zMsg), "%s", kvErrMsg());
    if( p->pFile ){
      p->pEnv->xClose(p->pFile);
      p->pFile = 0;
    }
    /* A table whose directory entry may not be durable is not handed
    ** out: the caller never records it, so it must not linger either. */
    p->pEnv->xUnlink(p->pEnv, bRenamed ? p->zPath : p->zTmp);
    kvErr(rc, "%s", zMsg);
  }
  kvBufFree(&part);
  kvFree(zDir);
  builderFree(p);
  return rc;
}

void kvSstBuilderAbandon(KvSstBuilder *pB){
  if( pB==0 ) return;
  if( pB->pFile ){
    pB->pEnv->xClose(pB->pFile);
    pB->pFile = 0;
  }
  pB->pEnv->xUnlink(pB->pEnv, pB->zTmp);
  builderFree(pB);
}
