/*
** sst.c - SSTables: the immutable sorted files of the LSM tree. Builder,
** reader (point lookups and a two-level iterator) and verifier.
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
** A reader keeps footer, summary, filter and metadata in memory and reads
** index chunks and data blocks through the block cache, keyed by
** (file number, offset); a cached block is the decompressed, parsed block
** and its handle is held while a cursor is on it.
*/
#include "sst_int.h"

#include <stdio.h>
#include <zlib.h>

#define SST_MAGIC       0x3174737376766bULL   /* "kvvsst1" */
#define SST_FOOTER      80                    /* format version 1 */
#define SST_FOOTER2     96                    /* format version 2 */
#define SST_TRAILER     5                     /* type + crc per block */
#define SST_TYPE_RAW    0
#define SST_TYPE_ZLIB   1
/* Largest block (raw or inflated). Any entry a WAL record can hold (its
** payload is at most 1 GiB, log.c) must fit in one data block, or a store
** holding it in its WAL could never flush it and so never open (#17);
** 1 MiB above that covers the entry's own framing and the block's. */
#define SST_MAX_BLOCK   (((u64)1 << 30) + ((u64)1 << 20))
#define SST_META_FIXED  (7*8)

typedef struct SstHandle SstHandle;
struct SstHandle {
  u64 iOff;                     /* offset of the framed block in the file */
  u64 nStored;                  /* payload + type + crc */
  u64 nRaw;                     /* size of the block after inflating */
};

/* Internal-key order, tolerant of keys too short to hold a trailer (only
** a damaged block holds them; cursors report those as corrupt). */
static int sstCmp(const u8 *a, size_t na, const u8 *b, size_t nb){
  if( na<KV_TRAILER || nb<KV_TRAILER ) return kvUKeyCmp(a, na, b, nb);
  return kvIKeyCmpInline(a, na, b, nb);
}

static voidpf sstZAlloc(voidpf opaque, uInt nItem, uInt nSize){
  (void)opaque;
  return kvMalloc((size_t)nItem * nSize);
}
static void sstZFree(voidpf opaque, voidpf p){
  (void)opaque;
  kvFree(p);
}

void kvSstMetaFree(KvSstMeta *p){
  if( p ){
    kvBufFree(&p->smallest);
    kvBufFree(&p->largest);
  }
}

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
    p->z.zalloc = sstZAlloc;
    p->z.zfree = sstZFree;
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
    p->meta.nEntry++;
    if( kvIKeyType(pIKey, nIKey)==KV_TYPE_DEL ) p->meta.nTombstone++;
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

/****************************************************************************
** Reader.
*/
typedef struct SstChunk SstChunk;
struct SstChunk {
  const u8 *pKey;               /* last separator of the chunk (in aSummary) */
  size_t nKey;
  u64 iOff;                     /* absolute offset of the framed chunk */
  u64 nStored;
};

typedef struct SstBlock SstBlock;
struct KvSst {
  KvEnv *pEnv;
  char *zPath;                  /* for messages */
  u64 iCacheId;                 /* cache key: unique per open table */
  KvFile *pFile;
  const u8 *aMap;               /* the whole file mapped, or NULL: pread */
  /* With the file mapped (see "Mapped reads" below): */
  _Atomic(SstBlock*) *apChunk;  /* nChunk index chunks, parsed on first use */
  _Atomic u64 *aSeen;           /* offsets + 1 of data blocks whose CRC was
                                ** checked: open addressing, mSeen+1 slots */
  u64 mSeen;
  KvCache *pCache;              /* may be NULL */
  KvReadCounters *pCounters;    /* may be NULL */
  u64 nFile;                    /* file size */
  u64 iIndexOff, nIndex;        /* Index part; Data is [0, iIndexOff) */
  u8 *aSummary;                 /* Summary part (chunk keys point in it) */
  int nChunk;
  SstChunk *aChunk;
  u8 *aFilter;                  /* Filter part, NULL if none */
  size_t nFilter;               /* bytes of filter (CRC excluded) */
  KvBloom bloom;                /* aFilter ready for probing */
  u8 *aMetaPart;                /* Metadata part */
  const u8 *aLeaf;              /* meta.nDataBlock leaves, in aMetaPart */
  KvSstMeta meta;
  int iFormat;                  /* format version of the file */
  u8 *aRdPart;                  /* RangeDel part, NULL if none */
  u64 nRdPart;                  /* its size, CRC included */
  KvRdList rd;                  /* its tombstones (keys in aRdPart) */
  int bVerify;                  /* kvSstSetVerify */
};

/* A block read from the file: decoded bytes and their parsed view. It is
** the value held by the block cache. */
struct SstBlock {
  u8 *a;                        /* decoded bytes */
  u64 nRaw;
  int bMapped;                  /* a points into KvSst.aMap: not ours */
  KvBlock blk;
};
static void sstBlockFree(void *pArg){
  SstBlock *p = (SstBlock*)pArg;
  if( p ){
    if( !p->bMapped ) kvFree(p->a);
    kvFree(p);
  }
}

/* A block in use: a cache handle, a private copy, or borrowed (an index
** chunk the table keeps, or a mapped block described in `local`). */
typedef struct SstRef SstRef;
struct SstRef {
  SstBlock *pBlock;
  KvCacheHandle *pH;
  int bBorrowed;                /* pBlock is not ours to free */
  u64 iOff;                     /* offset it was read from */
  SstBlock local;               /* pBlock for a mapped block used in place */
};
static void refRelease(KvSst *p, SstRef *pRef){
  if( pRef->pH ){
    kvCacheRelease(p->pCache, pRef->pH);
  }else if( !pRef->bBorrowed ){
    sstBlockFree(pRef->pBlock);
  }
  pRef->pBlock = 0;
  pRef->pH = 0;
  pRef->bBorrowed = 0;
}

static int corruptPart(const KvSst *p, const char *zPart, const char *zWhy){
  return kvErr(KV_CORRUPT, "kvstore: '%s': corrupt %s: %s",
               p->zPath, zPart, zWhy);
}
static int corruptBlock(const KvSst *p, int bIndex, u64 iOff,
                        const char *zWhy){
  if( bIndex ){
    return kvErr(KV_CORRUPT, "kvstore: '%s': corrupt index: chunk at "
                 "offset %llu: %s", p->zPath, (unsigned long long)iOff, zWhy);
  }
  return kvErr(KV_CORRUPT, "kvstore: '%s': corrupt data block at offset "
               "%llu: %s", p->zPath, (unsigned long long)iOff, zWhy);
}

/* Read exactly n bytes at iOff; a short read is damage to part zPart. */
static int readExact(KvSst *p, u64 iOff, u8 *a, size_t n, const char *zPart){
  size_t nRead = 0;
  int rc = p->pEnv->xRead(p->pFile, iOff, a, n, &nRead);
  if( rc==KV_OK && nRead!=n ) rc = corruptPart(p, zPart, "file truncated");
  return rc;
}

/* Inflate exactly nOut bytes from a[0..n). KV_CORRUPT if the stream is
** bad or does not decode to exactly nOut bytes. */
static int sstInflate(const u8 *a, size_t n, u8 *aOut, size_t nOut){
  z_stream z;
  int zrc;
  int bOk;
  memset(&z, 0, sizeof(z));
  z.zalloc = sstZAlloc;
  z.zfree = sstZFree;
  if( inflateInit2(&z, -15)!=Z_OK ){
    return kvErr(KV_NOMEM, "kvstore: out of memory starting zlib");
  }
  z.next_in = (Bytef*)a;
  z.avail_in = (uInt)n;
  z.next_out = aOut;
  z.avail_out = (uInt)nOut;
  zrc = inflate(&z, Z_FINISH);
  bOk = zrc==Z_STREAM_END && z.avail_out==0 && z.avail_in==0;
  inflateEnd(&z);
  if( zrc==Z_MEM_ERROR ){
    return kvErr(KV_NOMEM, "kvstore: out of memory inflating a block");
  }
  return bOk ? KV_OK : KV_CORRUPT;
}

/*
** Read, check and decode the framed block at pH from the file (never the
** cache). If aLeaf is not NULL, also hash the stored bytes into it. With
** the file mapped, the stored bytes are not copied, and an uncompressed
** block is used in place (SstBlock.bMapped). *pBlock is the caller's; on
** failure it is left empty.
*/
static int readBlockInto(KvSst *p, const SstHandle *pH, int bIndex,
                         int bUseMap, u8 *aLeaf, SstBlock *pBlock){
  u64 iEnd = bIndex ? p->iIndexOff + p->nIndex : p->iIndexOff;
  u64 iStart = bIndex ? p->iIndexOff : 0;
  u8 *aRead = 0;                /* our copy of the stored bytes, if any */
  const u8 *aMap = bUseMap ? p->aMap : 0;
  const u8 *aStored = 0;
  size_t nPay;
  int rc = KV_OK;

  memset(pBlock, 0, sizeof(*pBlock));
  if( pH->iOff<iStart || pH->iOff>iEnd || pH->nStored>iEnd - pH->iOff
   || pH->nStored<=SST_TRAILER || pH->nStored>SST_MAX_BLOCK+SST_TRAILER
   || pH->nRaw>SST_MAX_BLOCK || pH->nRaw<8 ){
    return corruptBlock(p, bIndex, pH->iOff, "bad block handle");
  }
  nPay = (size_t)(pH->nStored - SST_TRAILER);
  if( aMap==0 ) aStored = aRead = kvMalloc((size_t)pH->nStored);
  if( aMap==0 && aRead==0 ){
    rc = kvErrNoMem();
  }else if( aMap ){
    aStored = aMap + pH->iOff;
  }else{
    rc = readExact(p, pH->iOff, aRead, (size_t)pH->nStored,
                   bIndex ? "index" : "data block");
  }
  if( rc==KV_OK ){
    u32 crc = kvCrc32(aStored, nPay + 1);
    if( crc!=kvGet32(aStored + nPay + 1) ){
      rc = corruptBlock(p, bIndex, pH->iOff, "checksum mismatch");
    }
  }
  if( rc==KV_OK && aLeaf ) kvSha256(aStored, (size_t)pH->nStored, aLeaf);
  if( rc==KV_OK ){
    u8 eType = aStored[nPay];
    if( eType==SST_TYPE_RAW ){
      if( (u64)nPay!=pH->nRaw ){
        rc = corruptBlock(p, bIndex, pH->iOff, "size mismatch");
      }else if( aRead ){
        pBlock->a = aRead;            /* the payload is the block */
        aRead = 0;
      }else{
        pBlock->a = (u8*)aStored;     /* read-only use only */
        pBlock->bMapped = 1;
      }
    }else if( eType==SST_TYPE_ZLIB && !bIndex ){
      /* the builder keeps zlib output only when it is smaller */
      pBlock->a = (u64)nPay<pH->nRaw ? kvMalloc((size_t)pH->nRaw) : 0;
      if( (u64)nPay>=pH->nRaw ){
        rc = corruptBlock(p, bIndex, pH->iOff, "size mismatch");
      }else if( pBlock->a==0 ){
        rc = kvErrNoMem();
      }else{
        rc = sstInflate(aStored, nPay, pBlock->a, (size_t)pH->nRaw);
        if( rc==KV_CORRUPT ){
          rc = corruptBlock(p, bIndex, pH->iOff, "bad compressed data");
        }
      }
    }else{
      rc = corruptBlock(p, bIndex, pH->iOff, "unknown block type");
    }
  }
  if( rc==KV_OK ){
    pBlock->nRaw = pH->nRaw;
    rc = kvBlockParse(pBlock->a, (size_t)pH->nRaw, &pBlock->blk);
    if( rc!=KV_OK ) rc = corruptBlock(p, bIndex, pH->iOff, "bad layout");
  }
  kvFree(aRead);
  if( rc!=KV_OK ){
    if( !pBlock->bMapped ) kvFree(pBlock->a);
    memset(pBlock, 0, sizeof(*pBlock));
  }
  return rc;
}

/* readBlockInto() a new SstBlock (*ppBlock, NULL on failure). */
static int readBlock(KvSst *p, const SstHandle *pH, int bIndex,
                     int bUseMap, u8 *aLeaf, SstBlock **ppBlock){
  SstBlock *pBlock = kvMalloc(sizeof(*pBlock));
  int rc;
  *ppBlock = 0;
  if( pBlock==0 ) return kvErrNoMem();
  rc = readBlockInto(p, pH, bIndex, bUseMap, aLeaf, pBlock);
  if( rc==KV_OK ){
    *ppBlock = pBlock;
  }else{
    kvFree(pBlock);
  }
  return rc;
}

/*
** Mapped reads. With the file mapped, uncompressed blocks are used where
** they lie, and what the block cache would save (the copy, the CRC check)
** is saved without it: index chunks are parsed once and kept by the table
** (apChunk), and the table remembers which data blocks it has checked
** (aSeen), so a block's CRC is computed the first time the table reads
** it. The bytes themselves are the OS page cache's. Compressed blocks still
** go through the block cache, which holds them inflated.
*/
static u64 seenSlot(const KvSst *p, u64 iOff){
  return (iOff * 0x9e3779b97f4a7c15ull >> 20) & p->mSeen;
}
#define SST_PREFETCH_MAX (16*1024)
#define SST_SEEN_PROBES 32      /* a full neighbourhood: just check again */
static int seenHas(const KvSst *p, u64 iOff){
  u64 i = seenSlot(p, iOff);
  int n;
  for(n=0; n<SST_SEEN_PROBES; n++, i=(i+1) & p->mSeen){
    u64 v = atomic_load_explicit(&p->aSeen[i], memory_order_acquire);
    if( v==iOff+1 ) return 1;
    if( v==0 ) return 0;
  }
  return 0;
}
static void seenAdd(KvSst *p, u64 iOff){
  u64 i = seenSlot(p, iOff);
  int n;
  for(n=0; n<SST_SEEN_PROBES; n++, i=(i+1) & p->mSeen){
    u64 v = 0;
    if( atomic_compare_exchange_strong_explicit(&p->aSeen[i], &v, iOff+1,
            memory_order_acq_rel, memory_order_acquire) || v==iOff+1 ){
      return;
    }
  }
}

/* Set up mapped reads for a table whose file is mapped (at open). */
static int mappedInit(KvSst *p){
  u64 nSlot = 64;
  u64 i;
  while( nSlot < 2*p->meta.nDataBlock ) nSlot *= 2;
  p->apChunk = kvMallocZero(sizeof(p->apChunk[0]) * (size_t)(p->nChunk + 1));
  p->aSeen = kvMalloc(sizeof(p->aSeen[0]) * (size_t)nSlot);
  if( p->apChunk==0 || p->aSeen==0 ){
    return kvErrNoMem();
  }
  for(i=0; i<nSlot; i++) atomic_init(&p->aSeen[i], 0);
  for(i=0; i<(u64)p->nChunk; i++) atomic_init(&p->apChunk[i], 0);
  p->mSeen = nSlot - 1;
  return KV_OK;
}

/*
** Use the mapped data block at pH in place if it is stored uncompressed:
** sets *pbDone and fills pRef. Otherwise (*pbDone 0) the caller reads it.
*/
static int loadMapped(KvSst *p, const SstHandle *pH, int *pbDone,
                      SstRef *pRef){
  SstBlock *pB = &pRef->local;
  int rc;
  *pbDone = 0;
  if( pH->nStored<=SST_TRAILER || pH->iOff>p->iIndexOff
   || pH->nStored>p->iIndexOff - pH->iOff ){
    return KV_OK;               /* readBlock() reports it */
  }
  if( pH->nStored<=SST_PREFETCH_MAX ){
    /* The block is most likely not in the CPU's caches: ask for all of
    ** it at once, so the misses of the restart array, the restart points
    ** and the scan overlap instead of following one another. */
    const u8 *a = p->aMap + pH->iOff;
    u64 i;
    for(i=0; i<pH->nStored; i+=64) __builtin_prefetch(a + i);
  }
  if( p->aMap[pH->iOff + pH->nStored - SST_TRAILER]!=SST_TYPE_RAW ){
    return KV_OK;               /* compressed: through the cache */
  }
  if( seenHas(p, pH->iOff) ){
    memset(pB, 0, sizeof(*pB));
    pB->a = (u8*)(p->aMap + pH->iOff);
    pB->nRaw = pH->nRaw;
    pB->bMapped = 1;
    rc = kvBlockParse(pB->a, (size_t)pB->nRaw, &pB->blk);
    if( rc!=KV_OK ) return corruptBlock(p, 0, pH->iOff, "bad layout");
  }else{
    rc = readBlockInto(p, pH, 0, 1, 0, pB);     /* checks, in place */
    if( rc!=KV_OK ) return rc;
    seenAdd(p, pH->iOff);
    if( p->pCounters ){
      atomic_fetch_add_explicit(&p->pCounters->nBlockRead, 1,
                                memory_order_relaxed);
    }
  }
  pRef->pBlock = pB;
  pRef->bBorrowed = 1;
  *pbDone = 1;
  return KV_OK;
}

/* Index chunk iChunk of a mapped table, parsed once and kept. */
static int loadMappedChunk(KvSst *p, int iChunk, const SstHandle *pH,
                           SstRef *pRef){
  SstBlock *pB = atomic_load_explicit(&p->apChunk[iChunk],
                                      memory_order_acquire);
  if( pB==0 ){
    SstBlock *pOld = 0;
    int rc = readBlock(p, pH, 1, 1, 0, &pB);
    if( rc!=KV_OK ) return rc;
    if( !atomic_compare_exchange_strong_explicit(&p->apChunk[iChunk], &pOld,
            pB, memory_order_acq_rel, memory_order_acquire) ){
      sstBlockFree(pB);         /* another reader was first */
      pB = pOld;
    }
  }
  pRef->pBlock = pB;
  pRef->bBorrowed = 1;
  pRef->iOff = pH->iOff;
  return KV_OK;
}

/* Get the block at pH, through the cache when there is one, unless bBulk
** (see KV_SST_BULK). */
static int loadBlock(KvSst *p, const SstHandle *pH, int bIndex, int bBulk,
                     SstRef *pRef){
  SstBlock *pBlock = 0;
  int rc;
  pRef->pBlock = 0;
  pRef->pH = 0;
  pRef->bBorrowed = 0;
  pRef->iOff = pH->iOff;
  /* verify_checksums: a data block is read and checked on every use, as
  ** a bulk read is, so a byte changed after its first read is caught. */
  if( p->bVerify && !bIndex ) bBulk = 1;
  if( p->aMap && !bBulk && !bIndex ){
    int bDone = 0;
    rc = loadMapped(p, pH, &bDone, pRef);
    if( rc!=KV_OK || bDone ) return rc;
  }
  if( p->pCache && !bBulk ){
    KvCacheHandle *pHit = kvCacheLookup(p->pCache, p->iCacheId, pH->iOff);
    if( pHit ){
      pBlock = (SstBlock*)kvCacheValue(pHit);
      if( pBlock->nRaw!=pH->nRaw ){
        kvCacheRelease(p->pCache, pHit);
        return corruptBlock(p, bIndex, pH->iOff, "size mismatch");
      }
      pRef->pBlock = pBlock;
      pRef->pH = pHit;
      return KV_OK;
    }
  }
  rc = readBlock(p, pH, bIndex, !bBulk, 0, &pBlock);
  if( rc==KV_OK && !bIndex && p->pCounters ){
    atomic_fetch_add_explicit(&p->pCounters->nBlockRead, 1,
                              memory_order_relaxed);
  }
  if( rc==KV_OK && p->pCache && !bBulk ){
    /* A block used in place in the map costs the cache only its
    ** descriptor: the bytes are the OS page cache's. Caching it still
    ** saves checking its CRC and restart array again. */
    size_t nCharge = sizeof(SstBlock);
    if( !pBlock->bMapped ) nCharge += (size_t)pBlock->nRaw;
    rc = kvCacheInsert(p->pCache, p->iCacheId, pH->iOff, pBlock, nCharge,
                       sstBlockFree, &pRef->pH);
    if( rc!=KV_OK ) pBlock = 0;         /* freed by the cache */
  }
  pRef->pBlock = pBlock;
  return rc;
}

/* Decode an index entry's value into a data block handle. */
static int decodeHandle(KvSst *p, const KvBlockIter *pIdx, SstHandle *pH){
  const u8 *a = pIdx->pVal;
  const u8 *pEnd = a + pIdx->nVal;
  int n = kvGetVarint(a, pEnd, &pH->iOff);
  if( n>0 ){ a += n; n = kvGetVarint(a, pEnd, &pH->nStored); }
  if( n>0 ){ a += n; n = kvGetVarint(a, pEnd, &pH->nRaw); }
  if( n==0 || a+n!=pEnd ){
    return corruptPart(p, "index", "bad block handle");
  }
  return KV_OK;
}

/* a[] is the last nFoot bytes of the file (nFoot = SST_FOOTER2, or
** SST_FOOTER for a file shorter than that). Fills aPart[0..10): the four
** parts of version 1, then the RangeDel part (size 0 in version 1). */
static int parseFooter(KvSst *p, const u8 *a, size_t nFoot, u64 *aPart){
  const u8 *pEnd = a + nFoot;
  u32 iVersion;
  u64 iRd = 0, nRd = 0;
  int i;
  if( kvGet64(pEnd-8)!=SST_MAGIC ){
    return corruptPart(p, "footer", "bad magic number");
  }
  iVersion = kvGet32(pEnd-16);
  if( iVersion==KV_FORMAT_VERSION ){
    a = pEnd - SST_FOOTER;
    if( kvCrc32(a, 68)!=kvGet32(a+68) ){
      return corruptPart(p, "footer", "checksum mismatch");
    }
  }else if( iVersion==KV_SST_FORMAT_RANGEDEL && nFoot>=SST_FOOTER2 ){
    a = pEnd - SST_FOOTER2;
    if( kvCrc32(a, 84)!=kvGet32(a+84) ){
      return corruptPart(p, "footer", "checksum mismatch");
    }
    iRd = kvGet64(a+64);
    nRd = kvGet64(a+72);
  }else if( iVersion==KV_SST_FORMAT_RANGEDEL ){
    return corruptPart(p, "footer", "file too short");
  }else{
    if( kvCrc32(pEnd-SST_FOOTER, 68)!=kvGet32(pEnd-12) ){
      return corruptPart(p, "footer", "checksum mismatch");
    }
    return kvErr(KV_CORRUPT, "kvstore: '%s': corrupt footer: unsupported "
                 "format version %u", p->zPath, iVersion);
  }
  p->iFormat = (int)iVersion;
  for(i=0; i<8; i++) aPart[i] = kvGet64(a + i*8);
  aPart[8] = iRd;
  aPart[9] = nRd;
  /* The parts must tile [index offset, footer) in order: index, filter,
  ** range deletions, metadata, summary. */
  {
    static const int aOrder[5] = {0, 1, 4, 2, 3};
    u64 nFooter = iVersion==1 ? SST_FOOTER : SST_FOOTER2;
    for(i=0; i<5; i++){
      int j = aOrder[i];
      u64 iOff = aPart[j*2], nSize = aPart[j*2+1];
      u64 iNext = i<4 ? aPart[aOrder[i+1]*2] : p->nFile - nFooter;
      if( iVersion==1 && j==4 ) continue;
      if( iVersion==1 && j==1 ) iNext = aPart[4];
      if( iOff>p->nFile || nSize>p->nFile - iOff || iOff+nSize!=iNext ){
        return corruptPart(p, "footer", "parts do not tile the file");
      }
    }
  }
  return KV_OK;
}

/* Read a part whole and check its trailing CRC32. */
static int readPart(KvSst *p, u64 iOff, u64 nSize, const char *zPart,
                    u8 **paOut){
  u8 *a;
  int rc = KV_OK;
  *paOut = 0;
  if( nSize<4 ) return corruptPart(p, zPart, "too short");
  a = kvMalloc((size_t)nSize);
  if( a==0 ) return kvErrNoMem();
  rc = readExact(p, iOff, a, (size_t)nSize, zPart);
  if( rc==KV_OK && kvCrc32(a, (size_t)nSize-4)!=kvGet32(a + nSize - 4) ){
    rc = corruptPart(p, zPart, "checksum mismatch");
  }
  if( rc!=KV_OK ){
    kvFree(a);
    a = 0;
  }
  *paOut = a;
  return rc;
}

static int parseSummary(KvSst *p, u64 nSize){
  const u8 *a = p->aSummary;
  const u8 *pEnd = a + nSize - 4;
  u64 nChunk, iExpect = 0;
  u64 v;
  int n, i;
  n = kvGetVarint(a, pEnd, &nChunk);
  /* each chunk takes at least 4 bytes here: a bound before allocating */
  if( n==0 || nChunk>(u64)(pEnd - a)/4 ){
    return corruptPart(p, "summary", "bad chunk count");
  }
  a += n;
  p->aChunk = kvMallocZero(sizeof(SstChunk) * (size_t)(nChunk ? nChunk : 1));
  if( p->aChunk==0 ) return kvErrNoMem();
  p->nChunk = (int)nChunk;
  for(i=0; i<p->nChunk; i++){
    SstChunk *pC = &p->aChunk[i];
    n = kvGetVarint(a, pEnd, &v);
    if( n==0 || v<KV_TRAILER || v>(u64)(pEnd - a - n) ) break;
    pC->pKey = a + n;
    pC->nKey = (size_t)v;
    a += n + v;
    n = kvGetVarint(a, pEnd, &pC->iOff);
    if( n==0 ) break;
    a += n;
    n = kvGetVarint(a, pEnd, &pC->nStored);
    if( n==0 ) break;
    a += n;
    if( pC->iOff!=iExpect || pC->nStored>p->nIndex - iExpect ) break;
    iExpect += pC->nStored;
    pC->iOff += p->iIndexOff;
  }
  if( i<p->nChunk || iExpect!=p->nIndex ){
    return corruptPart(p, "summary", "bad index chunk list");
  }
  for(i=0; i<2; i++){
    KvBuf *pKey = i==0 ? &p->meta.smallest : &p->meta.largest;
    int rc;
    n = kvGetVarint(a, pEnd, &v);
    if( n==0 || v>(u64)(pEnd - a - n) || (v>0 && v<KV_TRAILER)
     || (v==0)!=(nChunk==0) ){
      return corruptPart(p, "summary", "bad first or last key");
    }
    rc = kvBufSet(pKey, a+n, (size_t)v);
    if( rc!=KV_OK ) return rc;
    a += n + v;
  }
  if( a!=pEnd ) return corruptPart(p, "summary", "trailing bytes");
  return KV_OK;
}

static int parseMeta(KvSst *p, u64 nSize){
  const u8 *a = p->aMetaPart;
  KvSstMeta *m = &p->meta;
  if( nSize<SST_META_FIXED + 32 + 4 ){
    return corruptPart(p, "metadata", "too short");
  }
  m->nEntry = kvGet64(a);
  m->nTombstone = kvGet64(a+8);
  m->minSeq = kvGet64(a+16);
  m->maxSeq = kvGet64(a+24);
  m->nCreated = kvGet64(a+32);
  m->nRawBytes = kvGet64(a+40);
  m->nDataBlock = kvGet64(a+48);
  if( m->nDataBlock>(nSize - SST_META_FIXED - 36)/32
   || SST_META_FIXED + m->nDataBlock*32 + 36!=nSize ){
    return corruptPart(p, "metadata", "bad block count");
  }
  if( m->nTombstone>m->nEntry || (m->nEntry==0)!=(m->nDataBlock==0)
   || (m->nEntry==0)!=(p->nChunk==0) || m->nDataBlock>m->nEntry ){
    return corruptPart(p, "metadata", "inconsistent counts");
  }
  p->aLeaf = a + SST_META_FIXED;
  /* The part's CRC covers leaves and root; that the root is the root of
  ** the data blocks' hashes is kvSstVerify's to check, not every open's
  ** (hashing the tree costs a table open more than the rest of it). */
  memcpy(m->aMerkle, a + SST_META_FIXED + m->nDataBlock*32, 32);
  return KV_OK;
}

void kvSstClose(KvSst *pSst){
  if( pSst==0 ) return;
  if( pSst->apChunk ){
    int i;
    for(i=0; i<pSst->nChunk; i++){
      sstBlockFree(atomic_load_explicit(&pSst->apChunk[i],
                                        memory_order_relaxed));
    }
    kvFree((void*)pSst->apChunk);
  }
  kvFree((void*)pSst->aSeen);
  if( pSst->pFile ) pSst->pEnv->xClose(pSst->pFile);
  kvFree(pSst->zPath);
  kvFree(pSst->aSummary);
  kvFree(pSst->aChunk);
  kvFree(pSst->aFilter);
  kvFree(pSst->aMetaPart);
  kvFree(pSst->aRdPart);
  kvRdListFree(&pSst->rd);
  kvSstMetaFree(&pSst->meta);
  kvFree(pSst);
}

static _Atomic u64 gSstCacheId;    /* last id given to an open table */

int kvSstOpen(KvEnv *pEnv, const char *zPath, KvCache *pCache,
              KvReadCounters *pCounters, KvSst **ppSst){
  KvSst *p;
  u8 aFoot[SST_FOOTER2];
  size_t nFoot = SST_FOOTER2;
  u64 aPart[10];
  int rc = KV_OK;

  *ppSst = 0;
  p = kvMallocZero(sizeof(*p));
  if( p==0 ) return kvErrNoMem();
  p->pEnv = pEnv;
  p->iCacheId = atomic_fetch_add(&gSstCacheId, 1) + 1;
  p->pCache = pCache;
  p->pCounters = pCounters;
  p->zPath = kvStrdup(zPath);
  if( p->zPath==0 ) rc = kvErrNoMem();
  if( rc==KV_OK ) rc = pEnv->xOpen(pEnv, zPath, KV_OPEN_READ, &p->pFile);
  if( rc==KV_OK ) rc = pEnv->xSize(p->pFile, &p->nFile);
  if( rc==KV_OK && p->nFile<SST_FOOTER ){
    rc = corruptPart(p, "footer", "file too short");
  }
  if( rc==KV_OK && p->nFile<SST_FOOTER2 ) nFoot = SST_FOOTER;
  if( rc==KV_OK ){
    rc = readExact(p, p->nFile - nFoot, aFoot, nFoot, "footer");
  }
  if( rc==KV_OK ) rc = parseFooter(p, aFoot, nFoot, aPart);
  if( rc==KV_OK && aPart[9]>0 ){
    rc = readPart(p, aPart[8], aPart[9], "range deletions", &p->aRdPart);
    p->nRdPart = aPart[9];
    if( rc==KV_OK
     && kvRdListDecode(p->aRdPart, (size_t)aPart[9] - 4, &p->rd)!=KV_OK ){
      rc = corruptPart(p, "range deletions", "bad tombstone");
    }
    if( rc==KV_OK ) p->meta.nRangeDel = (u64)p->rd.n;
  }
  if( rc==KV_OK ){
    p->iIndexOff = aPart[0];
    p->nIndex = aPart[1];
    rc = readPart(p, aPart[6], aPart[7], "summary", &p->aSummary);
  }
  if( rc==KV_OK ) rc = parseSummary(p, aPart[7]);
  if( rc==KV_OK && aPart[3]>0 ){
    rc = readPart(p, aPart[2], aPart[3], "filter", &p->aFilter);
    p->nFilter = (size_t)aPart[3] - 4;
    if( rc==KV_OK && p->nFilter==0 ){
      rc = corruptPart(p, "filter", "empty filter");
    }
  }
  if( rc==KV_OK ){
    rc = readPart(p, aPart[4], aPart[5], "metadata", &p->aMetaPart);
  }
  if( rc==KV_OK ) rc = parseMeta(p, aPart[5]);
  if( rc==KV_OK && p->aFilter ) kvBloomPrepare(&p->bloom, p->aFilter, p->nFilter);
  if( rc==KV_OK && pEnv->xMap ) rc = pEnv->xMap(p->pFile, p->nFile, &p->aMap);
  if( rc==KV_OK && p->aMap ) rc = mappedInit(p);
  if( rc==KV_OK ){
    p->meta.nFileSize = p->nFile;
    *ppSst = p;
  }else{
    kvSstClose(p);
  }
  return rc;
}

int kvSstRangeDels(KvSst *pSst, KvRdList *pOut){
  int rc = KV_OK;
  int i;
  for(i=0; rc==KV_OK && i<pSst->rd.n; i++){
    const KvRangeTomb *t = &pSst->rd.a[i];
    rc = kvRdListAdd(pOut, t->pLo, t->nLo, t->pHi, t->nHi, t->seq);
  }
  return rc;
}

void kvSstSetVerify(KvSst *pSst, int bOn){
  pSst->bVerify = bOn;
}

const KvSstMeta *kvSstGetMeta(KvSst *pSst){
  return &pSst->meta;
}

/****************************************************************************
** Iterator: summary (in memory) -> index chunk -> data block.
**
** The same iterator reads a level (kvLevelIterNew): a run of tables in key
** order, each opened when reached. Stepping off one table's last block
** goes on to the next table in place, so a scan pays for the run's files
** with no iterator layer of its own per row.
*/
typedef struct SstIter SstIter;
struct SstIter {
  KvIter base;
  KvSst *pSst;                  /* table read; NULL before a level iterator
                                ** is first positioned */
  int iChunk;                   /* chunk held in idxRef; with nothing held,
                                ** -1 or nChunk (before / after all) */
  SstRef idxRef;
  KvBlockIter idx;              /* cursor in the index chunk */
  SstRef dataRef;               /* data block, pBlock NULL if none */
  KvBlockIter data;             /* cursor in the data block */
  int bBulk;                    /* KV_SST_BULK */
  int bLevel;                   /* reads a level (aFile), not one table */
  KvFileMeta **aFile;           /* the level's files by smallest key
                                ** (borrowed) */
  int nFile;
  int iFile;                    /* file of pSst in aFile */
};

static void iterReleaseData(SstIter *p){
  if( p->dataRef.pBlock ) refRelease(p->pSst, &p->dataRef);
  p->data.bValid = 0;
}
static void iterReleaseAll(SstIter *p){
  iterReleaseData(p);
  if( p->idxRef.pBlock ) refRelease(p->pSst, &p->idxRef);
  p->idx.bValid = 0;
  p->iChunk = -1;
}

static int iterFail(SstIter *p, int rc){
  iterReleaseAll(p);
  kvIterSetInvalid(&p->base);
  return rc;
}

/* Publish the data cursor's entry. */
static void iterPublish(SstIter *p){
  kvIterSet(&p->base, p->data.key.a, p->data.key.n, p->data.pVal,
            p->data.nVal);
}

/* A level iterator: make file iFile's table current, with nothing held
** and the chunk position before its first chunk (bForward) or after its
** last, ready for iterSettle(). */
static int iterOpenFile(SstIter *p, int iFile, int bForward){
  KvSst *pSst = 0;
  int rc;
  iterReleaseAll(p);
  rc = kvFileTable(p->aFile[iFile], &pSst);
  if( rc!=KV_OK ){
    p->pSst = 0;
    return rc;
  }
  p->pSst = pSst;
  p->iFile = iFile;
  p->iChunk = bForward ? -1 : pSst->nChunk;
  return KV_OK;
}

static int iterLoadChunk(SstIter *p, int iChunk){
  KvSst *pSst = p->pSst;
  SstHandle h;
  int rc;
  if( p->iChunk==iChunk ) return KV_OK;
  iterReleaseAll(p);
  h.iOff = pSst->aChunk[iChunk].iOff;
  h.nStored = pSst->aChunk[iChunk].nStored;
  h.nRaw = h.nStored - SST_TRAILER;
  if( pSst->apChunk && !p->bBulk ){
    rc = loadMappedChunk(pSst, iChunk, &h, &p->idxRef);
  }else{
    rc = loadBlock(pSst, &h, 1, p->bBulk, &p->idxRef);
  }
  if( rc==KV_OK ){
    p->iChunk = iChunk;
    p->idx.pBlock = &p->idxRef.pBlock->blk;
    p->idx.bValid = 0;
  }
  return rc;
}

/* Load the data block the index cursor points at. */
static int iterLoadData(SstIter *p){
  SstHandle h;
  int rc;
  assert( p->idx.bValid );
  rc = decodeHandle(p->pSst, &p->idx, &h);
  if( rc==KV_OK && p->dataRef.pBlock && p->dataRef.iOff==h.iOff ){
    return KV_OK;
  }
  iterReleaseData(p);
  if( rc==KV_OK ) rc = loadBlock(p->pSst, &h, 0, p->bBulk, &p->dataRef);
  if( rc==KV_OK ){
    p->data.pBlock = &p->dataRef.pBlock->blk;
    p->data.bValid = 0;
  }
  return rc;
}

/* Re-label a block cursor's generic KV_CORRUPT with the file and part. */
static int iterBlockRc(SstIter *p, int rc, int bIndex){
  if( rc==KV_CORRUPT ){
    u64 iOff = bIndex ? p->idxRef.iOff : p->dataRef.iOff;
    rc = corruptBlock(p->pSst, bIndex, iOff, "bad entry");
  }
  return rc;
}

/* After a movement of the data cursor: step into following blocks while it
** is off the end of one (bForward) or before the start (!bForward). */
static int iterSettle(SstIter *p, int bForward){
  int rc = KV_OK;
  while( rc==KV_OK && !p->data.bValid ){
    if( p->idx.bValid ){
      rc = bForward ? kvBlockIterNext(&p->idx) : kvBlockIterPrev(&p->idx);
      rc = iterBlockRc(p, rc, 1);
    }
    if( rc==KV_OK && !p->idx.bValid ){
      int iNext = p->iChunk + (bForward ? 1 : -1);
      if( iNext<0 || iNext>=p->pSst->nChunk ){
        /* Off this table: on to the next one of a level, if any. */
        int iFile = p->iFile + (bForward ? 1 : -1);
        if( !p->bLevel || iFile<0 || iFile>=p->nFile ){
          iterReleaseAll(p);
          kvIterSetInvalid(&p->base);
          return KV_OK;
        }
        rc = iterOpenFile(p, iFile, bForward);
        continue;
      }
      rc = iterLoadChunk(p, iNext);
      if( rc==KV_OK ){
        rc = bForward ? kvBlockIterFirst(&p->idx) : kvBlockIterLast(&p->idx);
        rc = iterBlockRc(p, rc, 1);
      }
    }
    if( rc==KV_OK ) rc = iterLoadData(p);
    if( rc==KV_OK ){
      rc = bForward ? kvBlockIterFirst(&p->data) : kvBlockIterLast(&p->data);
      rc = iterBlockRc(p, rc, 0);
    }
  }
  if( rc==KV_OK && p->data.key.n<KV_TRAILER ){
    rc = corruptBlock(p->pSst, 0, p->dataRef.iOff, "key too short");
  }
  if( rc!=KV_OK ) return iterFail(p, rc);
  iterPublish(p);
  return KV_OK;
}

/* First (bForward) or last entry: of the table, or of the level's first
** or last table that has one. */
static int iterEnd(SstIter *p, int bForward){
  int rc = KV_OK;
  kvIterSetInvalid(&p->base);
  if( p->bLevel ){
    if( p->nFile==0 ) return KV_OK;
    rc = iterOpenFile(p, bForward ? 0 : p->nFile-1, bForward);
    if( rc!=KV_OK ) return iterFail(p, rc);
  }else{
    iterReleaseAll(p);
    /* iChunk -1 is "before the first chunk", nChunk "after the last":
    ** settling steps into chunk 0 or nChunk-1 */
    if( !bForward ) p->iChunk = p->pSst->nChunk;
  }
  return iterSettle(p, bForward);
}

static int sstIterFirst(KvIter *pIter){
  return iterEnd((SstIter*)pIter, 1);
}

static int sstIterLast(KvIter *pIter){
  return iterEnd((SstIter*)pIter, 0);
}

static int sstIterSeek(KvIter *pIter, const u8 *pKey, size_t nKey){
  SstIter *p = (SstIter*)pIter;
  KvSst *pSst;
  int lo, hi;
  int rc;
  kvIterSetInvalid(&p->base);
  if( p->bLevel ){
    /* A level: the first file whose largest key is >= the target. */
    lo = 0;
    hi = p->nFile;
    while( lo<hi ){
      int mid = lo + (hi - lo)/2;
      const KvFileMeta *f = p->aFile[mid];
      if( kvIKeyCmp(f->largest.a, f->largest.n, pKey, nKey)<0 ) lo = mid+1;
      else hi = mid;
    }
    if( lo>=p->nFile ){
      iterReleaseAll(p);
      return KV_OK;
    }
    if( p->pSst==0 || p->iFile!=lo ){
      /* (the same file keeps its held chunk and block for the seek) */
      rc = iterOpenFile(p, lo, 1);
      if( rc!=KV_OK ) return iterFail(p, rc);
    }
  }
  pSst = p->pSst;
  lo = 0;
  hi = pSst->nChunk;
  /* first chunk whose last separator is >= the target */
  while( lo<hi ){
    int mid = lo + (hi - lo)/2;
    const SstChunk *pC = &pSst->aChunk[mid];
    if( sstCmp(pC->pKey, pC->nKey, pKey, nKey)<0 ){
      lo = mid + 1;
    }else{
      hi = mid;
    }
  }
  if( lo>=pSst->nChunk ){
    /* past this table: after its last chunk, so that a level settles into
    ** its next file */
    iterReleaseAll(p);
    p->iChunk = pSst->nChunk;
    return iterSettle(p, 1);
  }
  rc = iterLoadChunk(p, lo);
  if( rc==KV_OK ) rc = iterBlockRc(p, kvBlockIterSeek(&p->idx, pKey, nKey), 1);
  if( rc==KV_OK && p->idx.bValid ){
    rc = iterLoadData(p);
    if( rc==KV_OK ){
      rc = iterBlockRc(p, kvBlockIterSeek(&p->data, pKey, nKey), 0);
    }
  }else{
    p->data.bValid = 0;
  }
  if( rc!=KV_OK ) return iterFail(p, rc);
  return iterSettle(p, 1);
}

static int sstIterNext(KvIter *pIter){
  SstIter *p = (SstIter*)pIter;
  int rc;
  assert( p->base.bValid );
  rc = iterBlockRc(p, kvBlockIterNext(&p->data), 0);
  if( rc!=KV_OK ) return iterFail(p, rc);
  if( p->data.bValid && p->data.key.n>=KV_TRAILER ){
    iterPublish(p);             /* still in the block: the usual step */
    return KV_OK;
  }
  return iterSettle(p, 1);
}

static int sstIterPrev(KvIter *pIter){
  SstIter *p = (SstIter*)pIter;
  int rc;
  assert( p->base.bValid );
  rc = iterBlockRc(p, kvBlockIterPrev(&p->data), 0);
  if( rc!=KV_OK ) return iterFail(p, rc);
  return iterSettle(p, 0);
}

/* Release the blocks and cursors (for iterators on the stack too). */
static void iterClear(SstIter *p){
  iterReleaseAll(p);
  kvBlockIterClear(&p->idx);
  kvBlockIterClear(&p->data);
}

static void sstIterClose(KvIter *pIter){
  SstIter *p = (SstIter*)pIter;
  if( p ){
    iterClear(p);
    kvFree(p);
  }
}

static const KvIterMethods sstIterMethods = {
  sstIterFirst, sstIterLast, sstIterSeek, sstIterNext, sstIterPrev,
  sstIterClose
};

static void iterInit(SstIter *p, KvSst *pSst){
  memset(p, 0, sizeof(*p));
  p->base.pMethods = &sstIterMethods;
  p->pSst = pSst;
  p->iChunk = -1;
  kvBlockIterInit(&p->idx, 0, sstCmp);
  kvBlockIterInit(&p->data, 0, sstCmp);
}

int kvSstIterNew(KvSst *pSst, int flags, KvIter **ppIter){
  SstIter *p = kvMalloc(sizeof(*p));
  *ppIter = 0;
  if( p==0 ) return kvErrNoMem();
  iterInit(p, pSst);
  p->bBulk = (flags & KV_SST_BULK)!=0;
  *ppIter = &p->base;
  return KV_OK;
}

int kvLevelIterNew(KvFileMeta **aFile, int nFile, int flags,
                   KvIter **ppIter){
  int rc = kvSstIterNew(0, flags, ppIter);
  if( rc==KV_OK ){
    SstIter *p = (SstIter*)*ppIter;
    p->bLevel = 1;
    p->aFile = aFile;
    p->nFile = nFile;
    p->iFile = -1;
  }
  return rc;
}

/****************************************************************************
** Point lookup.
*/
static void counterAdd(_Atomic u64 *p){
  atomic_fetch_add_explicit(p, 1, memory_order_relaxed);
}

int kvSstGet(KvSst *pSst, const u8 *pKey, size_t nKey, u64 seq,
             int *pbFound, int *peType, KvBuf *pVal){
  return kvSstGetHashed(pSst, pKey, nKey, kvBloomHash(pKey, nKey), seq,
                        pbFound, peType, pVal);
}

int kvSstGetHashed(KvSst *pSst, const u8 *pKey, size_t nKey, u32 hash,
                   u64 seq, int *pbFound, int *peType, KvBuf *pVal){
  KvSst *p = pSst;
  const KvSstMeta *m = &p->meta;
  KvBuf target = {0, 0, 0};     /* the internal key sought, if too long */
  u8 aTarget[128];              /* ... for aTarget, the usual case */
  const u8 *pTarget = aTarget;
  size_t nTarget = nKey + KV_TRAILER;
  SstIter it;
  int rc = KV_OK;

  *pbFound = 0;
  if( p->pCounters ) counterAdd(&p->pCounters->nFileProbe);
  if( m->nEntry==0
   || kvUKeyCmp(pKey, nKey, m->smallest.a, m->smallest.n - KV_TRAILER)<0
   || kvUKeyCmp(pKey, nKey, m->largest.a, m->largest.n - KV_TRAILER)>0 ){
    return KV_OK;
  }
  if( p->aFilter ){
    if( p->pCounters ) counterAdd(&p->pCounters->nBloomCheck);
    if( !kvBloomCheck(&p->bloom, hash) ){
      if( p->pCounters ) counterAdd(&p->pCounters->nBloomNegative);
      return KV_OK;
    }
  }

  if( seq>KV_MAX_SEQ ) seq = KV_MAX_SEQ;
  if( nTarget<=sizeof(aTarget) ){
    if( nKey>0 ) memcpy(aTarget, pKey, nKey);
    kvPut64(aTarget + nKey, kvPackTrailer(seq, KV_TYPE_PUT));
  }else{
    rc = kvIKeyAppend(&target, pKey, nKey, seq, KV_TYPE_PUT);
    pTarget = target.a;
  }
  iterInit(&it, p);
  if( rc==KV_OK ) rc = sstIterSeek(&it.base, pTarget, nTarget);
  if( rc==KV_OK && it.base.bValid ){
    const u8 *pK = it.data.key.a;
    size_t nK = it.data.key.n;
    if( kvUKeyCmp(pK, nK - KV_TRAILER, pKey, nKey)==0 ){
      *pbFound = 1;
      *peType = kvIKeyType(pK, nK);
      if( *peType==KV_TYPE_PUT && pVal ){
        rc = kvBufSet(pVal, it.data.pVal, it.data.nVal);
      }
    }
  }
  iterClear(&it);
  kvBufFree(&target);
  if( rc!=KV_OK ) *pbFound = 0;
  return rc;
}

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
    return corruptPart(p, "index", "data blocks do not tile the data part");
  }
  rc = readBlock(p, pH, 0, 0, aLeaf, &pBlock);
  if( rc==KV_OK ) rc = kvBufAppend(&v->leaves, aLeaf, 32);
  if( rc!=KV_OK ){
    sstBlockFree(pBlock);
    return rc;
  }
  v->iNextOff += pH->nStored;
  v->nBlock++;

  kvBlockIterInit(&it, &pBlock->blk, sstCmp);
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
      rc = corruptPart(p, "filter", "a stored key is missing");
      break;
    }
    if( zWhy ){
      rc = corruptBlock(p, 0, pH->iOff, zWhy);
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
    rc = corruptBlock(p, 0, pH->iOff, "bad entry");
  }
  if( rc==KV_OK && kvIKeyCmp(v->prevKey.a, v->prevKey.n, pSep, nSep)>0 ){
    rc = corruptPart(p, "index", "separator below a block's last key");
  }
  if( rc==KV_OK ) rc = kvBufSet(&v->prevSep, pSep, nSep);
  kvBlockIterClear(&it);
  sstBlockFree(pBlock);
  return rc;
}

static int verifyWalk(KvSst *p, VerifyState *v){
  SstIter it;
  int rc = KV_OK;
  int i;
  iterInit(&it, p);
  for(i=0; rc==KV_OK && i<p->nChunk; i++){
    SstHandle h;
    rc = iterLoadChunk(&it, i);
    if( rc==KV_OK ) rc = iterBlockRc(&it, kvBlockIterFirst(&it.idx), 1);
    while( rc==KV_OK && it.idx.bValid ){
      const u8 *pSep = it.idx.key.a;
      size_t nSep = it.idx.key.n;
      if( nSep<KV_TRAILER ){
        rc = corruptPart(p, "index", "separator too short");
        break;
      }
      rc = decodeHandle(p, &it.idx, &h);
      if( rc==KV_OK ) rc = verifyBlock(p, &h, pSep, nSep, v);
      if( rc==KV_OK ){
        const SstChunk *pC = &p->aChunk[i];
        KvBlockIter *pI = &it.idx;
        rc = iterBlockRc(&it, kvBlockIterNext(pI), 1);
        if( rc==KV_OK && !pI->bValid
         && sstCmp(v->prevSep.a, v->prevSep.n, pC->pKey, pC->nKey)!=0 ){
          rc = corruptPart(p, "summary", "chunk key differs from the index");
        }
      }
    }
  }
  iterClear(&it);
  return rc;
}

int kvSstVerify(KvEnv *pEnv, const char *zPath){
  KvSst *p = 0;
  VerifyState v;
  int rc;
  memset(&v, 0, sizeof(v));
  v.minSeq = KV_MAX_SEQ;
  rc = kvSstOpen(pEnv, zPath, 0, 0, &p);
  if( rc==KV_OK ) rc = verifyWalk(p, &v);
  if( rc==KV_OK ){
    const KvSstMeta *m = &p->meta;
    u8 aRoot[32];
    if( v.nEntry==0 ) v.minSeq = 0;
    if( v.iNextOff!=p->iIndexOff ){
      rc = corruptPart(p, "index", "data blocks do not tile the data part");
    }else if( v.nBlock!=m->nDataBlock ){
      rc = corruptPart(p, "metadata", "data block count mismatch");
    }else if( v.nEntry!=m->nEntry || v.nTombstone!=m->nTombstone
           || v.minSeq!=m->minSeq || v.maxSeq!=m->maxSeq
           || v.nRawBytes!=m->nRawBytes ){
      rc = corruptPart(p, "metadata", "counts differ from the data");
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
      rc = corruptPart(p, "summary", "first or last key differs from the data");
    }
  }
  kvBufFree(&v.firstKey);
  kvBufFree(&v.prevKey);
  kvBufFree(&v.prevSep);
  kvBufFree(&v.leaves);
  kvSstClose(p);
  return rc;
}
