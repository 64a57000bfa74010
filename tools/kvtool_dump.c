/*
** kvtool_dump.c - kvtool's file dumps: dump-sst (parts, metadata, Merkle
** root, blocks, entries), dump-wal (records and their operations) and
** dump-manifest (CURRENT and every version edit). They read the files
** directly, following the formats documented at the top of engine/sst.c,
** engine/wal.c, engine/log.c and engine/version.c, and open them read-only:
** a store they dump is never changed, and may be in use.
**
** A file that does not follow its format is reported (exit 1) with the
** part and offset where the dump stopped; what came before is printed.
*/
#include "kvtool.h"
#include "sst_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define SST_MAGIC   0x3174737376766bULL   /* engine/sst.c */
#define SST_FOOTER  80
#define SST_TRAILER 5                     /* type + crc per framed block */
#define WAL_REC_HEADER 20                 /* engine/wal.c */

/* key_type saved in the store's identity file (text when unreadable). */
static int storeKeyType(const char *zDir){
  char *zPath = kvMprintf("%s/KVSTORE", zDir);
  KvBuf b = {0, 0, 0};
  int e = KV_KEY_TEXT;
  if( zPath && kvEnvReadAll(kvEnvPosix(), zPath, &b)==KV_OK && b.n>0 ){
    char *z;
    b.a[b.n-1] = 0;               /* ends with a newline: now a string */
    z = strstr((char*)b.a, "key_type=");
    if( z && strncmp(z+9, "blob", 4)==0 ) e = KV_KEY_BLOB;
    if( z && strncmp(z+9, "integer", 7)==0 ) e = KV_KEY_INTEGER;
  }
  kvErrClear();
  kvBufFree(&b);
  kvFree(zPath);
  return e;
}

/* An internal key: user key, sequence, operation. */
static void showIKey(FILE *f, int eKey, const u8 *p, size_t n, int bJson){
  u64 t;
  if( n<KV_TRAILER ){
    if( bJson ){ fputs("{\"bad_key\":\"", f); ktHex(f, p, n); fputs("\"}", f); }
    else{ fputs("(bad internal key) ", f); ktHex(f, p, n); }
    return;
  }
  t = kvGet64(p + n - KV_TRAILER);
  if( bJson ){
    fputs("{\"key\":", f);
    ktShowKey(f, eKey, p, n-KV_TRAILER, 1);
    fprintf(f, ",\"seq\":%" PRIu64 ",\"op\":\"%s\"}", t>>8,
            (t & 0xff)==KV_TYPE_PUT ? "put" : "delete");
  }else{
    ktShowKey(f, eKey, p, n-KV_TRAILER, 0);
    fprintf(f, " @%" PRIu64 " %s", t>>8,
            (t & 0xff)==KV_TYPE_PUT ? "put" : "delete");
  }
}

/* ---------------------------------------------------------------------- */
/* dump-sst                                                                */

typedef struct SstDump SstDump;
struct SstDump {
  const KtArgs *a;
  const char *zPath;
  const u8 *aFile;
  u64 nFile;
  int eKey;
  long long nShown;             /* entries printed (--limit) */
  int bFirstEntry;              /* JSON comma placement */
  char zProblem[512];           /* first problem found, or "" */
};

static void sstProblem(SstDump *d, const char *zFmt, ...){
  va_list ap;
  if( d->zProblem[0] ) return;
  va_start(ap, zFmt);
  vsnprintf(d->zProblem, sizeof(d->zProblem), zFmt, ap);
  va_end(ap);
}

/* The payload of the framed block at [iOff, iOff+nStored), decompressed
** into *pOut when needed (nRaw: the size the index says it has, 0 when
** unknown). Returns 0 and sets a problem when it is damaged. */
static int sstBlock(SstDump *d, u64 iOff, u64 nStored, u64 nRaw,
                    const char *zPart, KvBuf *pOut, int *peType){
  const u8 *p;
  size_t nPay;
  pOut->n = 0;
  if( iOff>d->nFile || nStored>d->nFile-iOff || nStored<SST_TRAILER ){
    sstProblem(d, "%s at offset %" PRIu64 ": outside the file", zPart, iOff);
    return 0;
  }
  p = d->aFile + iOff;
  nPay = (size_t)nStored - SST_TRAILER;
  if( kvCrc32(p, nPay+1)!=kvGet32(p+nPay+1) ){
    sstProblem(d, "%s at offset %" PRIu64 ": checksum mismatch", zPart, iOff);
    return 0;
  }
  *peType = p[nPay];
  if( p[nPay]==0 ){
    if( kvBufAppend(pOut, p, nPay) ) return 0;
  }else if( p[nPay]==1 ){
    z_stream zs;
    int zrc;
    if( nRaw==0 || nRaw>(64u<<20) || kvBufReserve(pOut, (size_t)nRaw) ){
      sstProblem(d, "%s at offset %" PRIu64 ": bad raw size", zPart, iOff);
      return 0;
    }
    memset(&zs, 0, sizeof(zs));
    if( inflateInit2(&zs, -15)!=Z_OK ) return 0;
    zs.next_in = (Bytef*)p;
    zs.avail_in = (uInt)nPay;
    zs.next_out = pOut->a;
    zs.avail_out = (uInt)nRaw;
    zrc = inflate(&zs, Z_FINISH);
    pOut->n = (size_t)(nRaw - zs.avail_out);
    inflateEnd(&zs);
    if( zrc!=Z_STREAM_END || pOut->n!=nRaw ){
      sstProblem(d, "%s at offset %" PRIu64 ": bad zlib data", zPart, iOff);
      return 0;
    }
  }else{
    sstProblem(d, "%s at offset %" PRIu64 ": unknown block type %d", zPart,
               iOff, p[nPay]);
    return 0;
  }
  return 1;
}

/* Walk one data block: count entries, print them with --entries. */
static int sstDataBlock(SstDump *d, int iBlock, u64 iOff, u64 nStored,
                        u64 nRaw){
  KvBuf raw = {0, 0, 0};
  KvBlock blk;
  KvBlockIter it;
  int eType = 0, rc;
  long long nEntry = 0;
  FILE *f = stdout;
  if( !sstBlock(d, iOff, nStored, nRaw, "data block", &raw, &eType) ){
    kvBufFree(&raw);
    return 0;
  }
  if( kvBlockParse(raw.a, raw.n, &blk)!=KV_OK ){
    sstProblem(d, "data block at offset %" PRIu64 ": bad restart array", iOff);
    kvBufFree(&raw);
    return 0;
  }
  kvBlockIterInit(&it, &blk, kvIKeyCmp);
  for(rc=kvBlockIterFirst(&it); rc==KV_OK && it.bValid; rc=kvBlockIterNext(&it)){
    nEntry++;
  }
  if( rc!=KV_OK ){
    sstProblem(d, "data block at offset %" PRIu64 ": bad entry", iOff);
  }
  if( d->a->bJson ){
    fprintf(f, "%s{\"block\":%d,\"offset\":%" PRIu64 ",\"stored\":%" PRIu64
            ",\"raw\":%zu,\"compression\":\"%s\",\"entries\":%lld", iBlock
            ? "," : "", iBlock, iOff, nStored, raw.n, eType ? "zlib" : "none",
            nEntry);
  }else{
    fprintf(f, "  block %-4d offset %-9" PRIu64 " stored %-7" PRIu64
            " raw %-7zu %-4s %lld entries\n", iBlock, iOff, nStored, raw.n,
            eType ? "zlib" : "none", nEntry);
  }
  if( d->a->bEntries ){
    int bFirst = 1;
    if( d->a->bJson ) fprintf(f, ",\"items\":[");
    for(rc=kvBlockIterFirst(&it); rc==KV_OK && it.bValid;
        rc=kvBlockIterNext(&it)){
      const u8 *k = it.key.a;
      size_t nk = it.key.n;
      int bPut = nk>=KV_TRAILER && k[nk-KV_TRAILER]==KV_TYPE_PUT;
      if( d->a->nLimit>=0 && d->nShown>=d->a->nLimit ) break;
      d->nShown++;
      if( d->a->bJson ){
        if( !bFirst ) fputc(',', f);
        fputs("{\"ikey\":", f);
        showIKey(f, d->eKey, k, nk, 1);
        if( bPut ){
          fprintf(f, ",\"value_type\":\"%s\",\"value\":",
                  ktValueType(it.pVal, it.nVal));
          ktShowValue(f, it.pVal, it.nVal, 1);
        }
        fputc('}', f);
      }else{
        fputs("    ", f);
        showIKey(f, d->eKey, k, nk, 0);
        if( bPut ){
          fputs("  ", f);
          ktShowValue(f, it.pVal, it.nVal, 0);
        }
        fputc('\n', f);
      }
      bFirst = 0;
    }
    if( d->a->bJson ) fputc(']', f);
  }
  if( d->a->bJson ) fputc('}', f);
  kvBlockIterClear(&it);
  kvBufFree(&raw);
  return d->zProblem[0]==0;
}

int ktDumpSst(const KtArgs *a){
  SstDump d;
  KvBuf file = {0, 0, 0};
  char *zPath = ktFilePath(a->zDir, a->zArg);
  const char *azPart[] = { "index", "filter", "metadata", "summary" };
  u64 aPart[8];
  const u8 *pFoot;
  int e = KT_OK, i, iBlock = 0;
  int rcVerify;
  FILE *f = stdout;

  memset(&d, 0, sizeof(d));
  d.a = a;
  d.zPath = zPath;
  d.eKey = storeKeyType(a->zDir);
  if( zPath==0 ) return ktFail(KT_CANTOPEN, "out of memory");
  if( kvEnvReadAll(kvEnvPosix(), zPath, &file)!=KV_OK ){
    e = ktFail(KT_CANTOPEN, "cannot read '%s': %s", zPath, kvErrMsg());
    kvFree(zPath);
    return e;
  }
  d.aFile = file.a;
  d.nFile = file.n;
  /* The engine's own verifier first: its verdict is the one that counts. */
  rcVerify = kvSstVerify(kvEnvPosix(), zPath);
  if( rcVerify!=KV_OK ) sstProblem(&d, "%s", kvErrMsg());

  if( a->bJson ){
    fputs("{\"file\":", f);
    ktJsonStr(f, zPath, strlen(zPath));
    fprintf(f, ",\"bytes\":%" PRIu64, d.nFile);
  }else{
    printf("file      %s (%" PRIu64 " bytes)\n", zPath, d.nFile);
  }
  pFoot = d.aFile + d.nFile - SST_FOOTER;
  if( d.nFile<SST_FOOTER || kvGet64(pFoot+72)!=SST_MAGIC
   || kvCrc32(pFoot, 68)!=kvGet32(pFoot+68) ){
    sstProblem(&d, "'%s': footer is damaged (truncated file or not an "
               "SSTable)", zPath);
    goto finish;
  }
  for(i=0; i<8; i++) aPart[i] = kvGet64(pFoot + i*8);
  for(i=0; i<4; i++){
    if( aPart[i*2]>d.nFile || aPart[i*2+1]>d.nFile-aPart[i*2] ){
      sstProblem(&d, "'%s': footer names a part outside the file", zPath);
      goto finish;
    }
  }
  if( a->bJson ){
    fprintf(f, ",\"format_version\":%u,\"parts\":{\"data\":{\"offset\":0,"
            "\"size\":%" PRIu64 "}", kvGet32(pFoot+64), aPart[0]);
    for(i=0; i<4; i++){
      fprintf(f, ",\"%s\":{\"offset\":%" PRIu64 ",\"size\":%" PRIu64 "}",
              azPart[i], aPart[i*2], aPart[i*2+1]);
    }
    fprintf(f, ",\"footer\":{\"offset\":%" PRIu64 ",\"size\":%d}}",
            d.nFile-SST_FOOTER, SST_FOOTER);
  }else{
    printf("format    version %u\nparts     %-9s offset %-9d size %" PRIu64
           "\n", kvGet32(pFoot+64), "data", 0, aPart[0]);
    for(i=0; i<4; i++){
      printf("          %-9s offset %-9" PRIu64 " size %" PRIu64 "\n",
             azPart[i], aPart[i*2], aPart[i*2+1]);
    }
    printf("          %-9s offset %-9" PRIu64 " size %d\n", "footer",
           d.nFile-SST_FOOTER, SST_FOOTER);
  }

  /* Metadata: 7 x fixed64, N leaves, root, crc. */
  {
    const u8 *m = d.aFile + aPart[4];
    u64 nM = aPart[5];
    u64 nBlock;
    u8 aRoot[32];
    if( nM<7*8+32+4 || kvCrc32(m, (size_t)nM-4)!=kvGet32(m+nM-4) ){
      sstProblem(&d, "'%s': metadata is damaged", zPath);
      goto finish;
    }
    nBlock = kvGet64(m+48);
    if( nM!=7*8 + 32*nBlock + 32 + 4 ){
      sstProblem(&d, "'%s': metadata size does not match its %" PRIu64
                 " blocks", zPath, nBlock);
      goto finish;
    }
    kvMerkleRoot(m+56, (size_t)nBlock, aRoot);
    if( memcmp(aRoot, m+56+32*nBlock, 32)!=0 ){
      sstProblem(&d, "'%s': Merkle root does not match its leaves", zPath);
    }
    if( a->bJson ){
      fprintf(f, ",\"entries\":%" PRIu64 ",\"tombstones\":%" PRIu64
              ",\"min_seq\":%" PRIu64 ",\"max_seq\":%" PRIu64
              ",\"created_micros\":%" PRIu64 ",\"raw_bytes\":%" PRIu64
              ",\"data_blocks\":%" PRIu64 ",\"merkle_root\":\"", kvGet64(m),
              kvGet64(m+8), kvGet64(m+16), kvGet64(m+24), kvGet64(m+32),
              kvGet64(m+40), nBlock);
      ktHex(f, m+56+32*nBlock, 32);
      fputc('"', f);
    }else{
      printf("entries   %" PRIu64 " (%" PRIu64 " tombstones), sequences %"
             PRIu64 "..%" PRIu64 "\n", kvGet64(m), kvGet64(m+8),
             kvGet64(m+16), kvGet64(m+24));
      printf("raw bytes %" PRIu64 " (keys and values), %" PRIu64
             " data blocks\n", kvGet64(m+40), nBlock);
      printf("merkle    ");
      ktHex(f, m+56+32*nBlock, 32);
      printf("\n");
    }
  }

  /* Summary, then the index chunks it lists, then the data blocks. */
  {
    const u8 *s = d.aFile + aPart[6];
    const u8 *sEnd = s + aPart[7] - (aPart[7]>=4 ? 4 : aPart[7]);
    u64 nChunk = 0, v;
    int n;
    KvBuf chunk = {0, 0, 0};
    if( aPart[7]<4 || kvCrc32(s, (size_t)aPart[7]-4)!=kvGet32(sEnd) ){
      sstProblem(&d, "'%s': summary is damaged", zPath);
      goto finish;
    }
    n = kvGetVarint(s, sEnd, &nChunk);
    s += n;
    if( a->bJson ) fprintf(f, ",\"index_chunks\":%" PRIu64 ",\"blocks\":[",
                           nChunk);
    else printf("index     %" PRIu64 " chunk%s\nblocks\n", nChunk,
                nChunk==1 ? "" : "s");
    for(v=0; n>0 && v<nChunk && !d.zProblem[0]; v++){
      u64 nKey, iOff, nStored;
      KvBlock blk;
      KvBlockIter it;
      int eType = 0, rc;
      n = kvGetVarint(s, sEnd, &nKey);
      if( n==0 || nKey>(u64)(sEnd-s-n) ) break;
      s += n + nKey;
      n = kvGetVarint(s, sEnd, &iOff);
      if( n ) s += n;
      if( n ) n = kvGetVarint(s, sEnd, &nStored);
      if( n==0 ) break;
      s += n;
      if( !sstBlock(&d, aPart[0]+iOff, nStored, 0, "index chunk", &chunk,
                    &eType) ){
        break;
      }
      if( kvBlockParse(chunk.a, chunk.n, &blk)!=KV_OK ){
        sstProblem(&d, "'%s': index chunk %" PRIu64 " is damaged", zPath, v);
        break;
      }
      kvBlockIterInit(&it, &blk, kvIKeyCmp);
      for(rc=kvBlockIterFirst(&it); rc==KV_OK && it.bValid && !d.zProblem[0];
          rc=kvBlockIterNext(&it)){
        const u8 *p = it.pVal, *pEnd = it.pVal + it.nVal;
        u64 bOff = 0, bStored = 0, bRaw = 0;
        int m = kvGetVarint(p, pEnd, &bOff);
        if( m ){ p += m; m = kvGetVarint(p, pEnd, &bStored); }
        if( m ){ p += m; m = kvGetVarint(p, pEnd, &bRaw); }
        if( m==0 ){
          sstProblem(&d, "'%s': bad index entry", zPath);
          break;
        }
        sstDataBlock(&d, iBlock++, bOff, bStored, bRaw);
      }
      kvBlockIterClear(&it);
      if( n==0 ) break;
    }
    if( n==0 ) sstProblem(&d, "'%s': summary is damaged", zPath);
    if( a->bJson ) fputc(']', f);
    kvBufFree(&chunk);
  }

finish:
  if( a->bJson ){
    fprintf(f, ",\"ok\":%s", d.zProblem[0] ? "false" : "true");
    if( d.zProblem[0] ){
      fputs(",\"problem\":", f);
      ktJsonStr(f, d.zProblem, strlen(d.zProblem));
    }
    fputs("}\n", f);
  }else{
    printf("verify    %s\n", d.zProblem[0] ? "DAMAGED (see below)" : "ok");
  }
  if( d.zProblem[0] ) e = ktFail(KT_PROBLEM, "%s", d.zProblem);
  kvBufFree(&file);
  kvFree(zPath);
  return e;
}

/* ---------------------------------------------------------------------- */
/* dump-wal                                                                */

typedef struct WalDump WalDump;
struct WalDump {
  const KtArgs *a;
  int eKey;
  u64 seq;                      /* sequence of the next operation */
  int bFirstOp;
  long long nShown;             /* records printed (--limit) */
};

static int walOp(void *pCtx, int eType, const u8 *pKey, size_t nKey,
                 const u8 *pVal, size_t nVal){
  WalDump *w = (WalDump*)pCtx;
  FILE *f = stdout;
  if( w->a->bJson ){
    fprintf(f, "%s{\"seq\":%" PRIu64 ",\"op\":\"%s\",\"key\":",
            w->bFirstOp ? "" : ",", w->seq, eType==KV_TYPE_PUT ? "put" : "delete");
    ktShowKey(f, w->eKey, pKey, nKey, 1);
    if( eType==KV_TYPE_PUT ){
      fprintf(f, ",\"value_type\":\"%s\",\"value\":", ktValueType(pVal, nVal));
      ktShowValue(f, pVal, nVal, 1);
    }
    fputc('}', f);
  }else{
    fprintf(f, "    @%-8" PRIu64 " %-6s ", w->seq,
            eType==KV_TYPE_PUT ? "put" : "delete");
    ktShowKey(f, w->eKey, pKey, nKey, 0);
    if( eType==KV_TYPE_PUT ){
      fputs("  ", f);
      ktShowValue(f, pVal, nVal, 0);
    }
    fputc('\n', f);
  }
  w->bFirstOp = 0;
  w->seq++;
  return KV_OK;
}

/* Dump one segment. Returns KT_OK, KT_PROBLEM (damage, printed) or
** KT_CANTOPEN. */
static int walSegment(WalDump *w, const char *zPath, int bFirstSeg){
  KvLogReader *pR = 0;
  FILE *f = stdout;
  int rc, e = KT_OK, nRec = 0;
  rc = kvLogReaderOpen(kvEnvPosix(), zPath, &pR);
  if( rc!=KV_OK ){
    return ktFail(KT_CANTOPEN, "cannot read '%s': %s", zPath, kvErrMsg());
  }
  if( w->a->bJson ){
    fprintf(f, "%s{\"file\":", bFirstSeg ? "" : ",");
    ktJsonStr(f, zPath, strlen(zPath));
    fputs(",\"records\":[", f);
  }else{
    printf("segment %s\n", zPath);
  }
  for(;;){
    const u8 *p = 0;
    size_t n = 0;
    u64 iOff = kvLogReaderGoodOffset(pR);
    rc = kvLogRead(pR, &p, &n);
    if( rc!=KV_OK || p==0 ) break;
    if( w->a->nLimit>=0 && w->nShown>=w->a->nLimit ) continue;
    if( n<WAL_REC_HEADER ){
      rc = kvErr(KV_CORRUPT, "kvstore: corrupt record in '%s' at offset %"
                 PRIu64 " (too short for a WAL record)", zPath, iOff);
      break;
    }
    w->seq = kvGet64(p);
    w->bFirstOp = 1;
    if( w->a->bJson ){
      fprintf(f, "%s{\"offset\":%" PRIu64 ",\"first_seq\":%" PRIu64
              ",\"micros\":%" PRIu64 ",\"count\":%u,\"prepared\":%s,"
              "\"ops\":[", nRec ? "," : "",
              iOff, kvGet64(p), kvGet64(p+8), KV_WAL_COUNT(kvGet32(p+16)),
              (kvGet32(p+16) & KV_WAL_PREPARED) ? "true" : "false");
    }else{
      char zTime[40];
      time_t t = (time_t)(kvGet64(p+8)/1000000);
      struct tm tm;
      if( gmtime_r(&t, &tm) ){
        strftime(zTime, sizeof(zTime), "%Y-%m-%d %H:%M:%S", &tm);
      }else{
        snprintf(zTime, sizeof(zTime), "?");
      }
      /* A PREPARED record (two-phase commit, doc/transactions.md) counts
      ** only if its database kept the horizon: said, not decided here. */
      printf("  record at %" PRIu64 ": seq %" PRIu64 ", %u op%s, %s.%06u "
             "UTC%s\n", iOff, kvGet64(p), KV_WAL_COUNT(kvGet32(p+16)),
             KV_WAL_COUNT(kvGet32(p+16))==1 ? "" : "s", zTime,
             (unsigned)(kvGet64(p+8)%1000000),
             (kvGet32(p+16) & KV_WAL_PREPARED) ? ", prepared" : "");
    }
    if( kvGet32(p+16) & KV_WAL_TABLES ){
      /* A spilled transaction's record names its tables (doc/spill.md). */
      u64 nTable = 0;
      rc = kvSpillCheckRecord(p+WAL_REC_HEADER, n-WAL_REC_HEADER, &nTable);
      if( rc==KV_OK && !w->a->bJson ){
        printf("    (spilled transaction: %" PRIu64 " table%s)\n", nTable,
               nTable==1 ? "" : "s");
      }
    }else{
      rc = kvBatchDecode(p+WAL_REC_HEADER, n-WAL_REC_HEADER,
                         KV_WAL_COUNT(kvGet32(p+16)), walOp, w);
    }
    if( w->a->bJson ) fputs("]}", f);
    nRec++;
    w->nShown++;
    if( rc!=KV_OK ){
      kvErr(rc, "kvstore: bad batch in the WAL record at offset %" PRIu64
            " of '%s'", iOff, zPath);
      break;
    }
  }
  if( w->a->bJson ){
    fprintf(f, "],\"torn_tail\":%s", kvLogReaderTorn(pR) ? "true" : "false");
    if( rc!=KV_OK ){
      fputs(",\"problem\":", f);
      ktJsonStr(f, kvErrMsg(), strlen(kvErrMsg()));
    }
    fputc('}', f);
  }else if( kvLogReaderTorn(pR) ){
    printf("  torn tail after offset %" PRIu64 " (a write cut short by a "
           "crash, or one in progress)\n", kvLogReaderGoodOffset(pR));
  }
  if( rc!=KV_OK ) e = ktFail(KT_PROBLEM, "%s", kvErrMsg());
  kvLogReaderClose(pR);
  return e;
}

int ktDumpWal(const KtArgs *a){
  WalDump w;
  int e = KT_OK, i;
  memset(&w, 0, sizeof(w));
  w.a = a;
  w.eKey = storeKeyType(a->zDir);
  if( a->bJson ) fputs("{\"segments\":[", stdout);
  if( a->zArg ){
    char *zPath = ktFilePath(a->zDir, a->zArg);
    e = zPath ? walSegment(&w, zPath, 1) : ktFail(KT_CANTOPEN, "out of memory");
    kvFree(zPath);
  }else{
    u64 *aSeg = 0;
    int nSeg = 0;
    if( kvWalList(kvEnvPosix(), a->zDir, &aSeg, &nSeg)!=KV_OK ){
      e = ktFail(KT_CANTOPEN, "cannot list '%s': %s", a->zDir, kvErrMsg());
    }
    for(i=0; e!=KT_CANTOPEN && i<nSeg; i++){
      char *zPath = kvWalPath(a->zDir, aSeg[i]);
      int e2 = zPath ? walSegment(&w, zPath, i==0) : KT_CANTOPEN;
      if( e2>e ) e = e2;
      kvFree(zPath);
    }
    kvFree(aSeg);
  }
  if( a->bJson ) fputs("]}\n", stdout);
  return e;
}

/* ---------------------------------------------------------------------- */
/* dump-manifest                                                           */

int ktDumpManifest(const KtArgs *a){
  char *zCur = kvMprintf("%s/CURRENT", a->zDir);
  char *zPath = 0;
  KvBuf cur = {0, 0, 0};
  KvLogReader *pR = 0;
  FILE *f = stdout;
  int eKey = storeKeyType(a->zDir);
  int e = KT_OK, rc, nEdit = 0, i;
  char zName[64];

  if( zCur==0 ) return ktFail(KT_CANTOPEN, "out of memory");
  if( kvEnvReadAll(kvEnvPosix(), zCur, &cur)!=KV_OK ){
    e = ktFail(KT_CANTOPEN, "cannot read '%s': %s", zCur, kvErrMsg());
    goto done;
  }
  if( cur.n<11 || cur.n>40 || memcmp(cur.a, "MANIFEST-", 9)!=0
   || cur.a[cur.n-1]!='\n' || strspn((char*)cur.a+9, "0123456789")!=cur.n-10 ){
    e = ktFail(KT_PROBLEM, "corrupt CURRENT file '%s' (it must hold "
               "MANIFEST-<n> and a newline)", zCur);
    goto done;
  }
  snprintf(zName, sizeof(zName), "%.*s", (int)cur.n-1, (char*)cur.a);
  zPath = kvMprintf("%s/%s", a->zDir, zName);
  if( zPath==0 || kvLogReaderOpen(kvEnvPosix(), zPath, &pR)!=KV_OK ){
    e = ktFail(KT_CANTOPEN, "cannot read the manifest '%s' named by CURRENT: "
               "%s", zPath ? zPath : zName, kvErrMsg());
    goto done;
  }
  if( a->bJson ){
    fprintf(f, "{\"current\":\"%s\",\"edits\":[", zName);
  }else{
    printf("CURRENT   %s\n", zName);
  }
  for(;;){
    const u8 *p = 0;
    size_t n = 0;
    u64 iOff = kvLogReaderGoodOffset(pR);
    KvVersionEdit ed;
    rc = kvLogRead(pR, &p, &n);
    if( rc!=KV_OK || p==0 ) break;
    rc = kvEditDecode(p, n, &ed);
    if( rc!=KV_OK ){
      kvErr(rc, "kvstore: corrupt manifest '%s': bad version edit at offset "
            "%" PRIu64, zPath, iOff);
      break;
    }
    if( a->bJson ){
      fprintf(f, "%s{\"offset\":%" PRIu64, nEdit ? "," : "", iOff);
      if( ed.bLogNumber ) fprintf(f, ",\"log_number\":%" PRIu64, ed.iLogNumber);
      if( ed.bNextFile ) fprintf(f, ",\"next_file\":%" PRIu64, ed.iNextFile);
      if( ed.bLastSeq ) fprintf(f, ",\"last_seq\":%" PRIu64, ed.iLastSeq);
      fputs(",\"add\":[", f);
      for(i=0; i<ed.nAdd; i++){
        KvFileMeta *m = ed.aAdd[i].pMeta;
        fprintf(f, "%s{\"level\":%d,\"file\":%" PRIu64 ",\"bytes\":%" PRIu64
                ",\"entries\":%" PRIu64 ",\"tombstones\":%" PRIu64
                ",\"min_seq\":%" PRIu64 ",\"max_seq\":%" PRIu64 ",\"smallest\":",
                i ? "," : "", ed.aAdd[i].iLevel, m->iFile, m->nByte, m->nEntry,
                m->nTombstone, m->minSeq, m->maxSeq);
        showIKey(f, eKey, m->smallest.a, m->smallest.n, 1);
        fputs(",\"largest\":", f);
        showIKey(f, eKey, m->largest.a, m->largest.n, 1);
        fputs(",\"merkle_root\":\"", f);
        ktHex(f, m->aMerkle, 32);
        fputs("\"}", f);
      }
      fputs("],\"delete\":[", f);
      for(i=0; i<ed.nDel; i++){
        fprintf(f, "%s{\"level\":%d,\"file\":%" PRIu64 "}", i ? "," : "",
                ed.aDel[i].iLevel, ed.aDel[i].iFile);
      }
      fputs("]}", f);
    }else{
      printf("edit %d at offset %" PRIu64 ":", nEdit, iOff);
      if( ed.bLogNumber ) printf(" log_number %" PRIu64, ed.iLogNumber);
      if( ed.bNextFile ) printf(" next_file %" PRIu64, ed.iNextFile);
      if( ed.bLastSeq ) printf(" last_seq %" PRIu64, ed.iLastSeq);
      printf("\n");
      for(i=0; i<ed.nAdd; i++){
        KvFileMeta *m = ed.aAdd[i].pMeta;
        printf("  add    L%d %06" PRIu64 ".sst %" PRIu64 " bytes, %" PRIu64
               " entries, seq %" PRIu64 "..%" PRIu64 ", ", ed.aAdd[i].iLevel,
               m->iFile, m->nByte, m->nEntry, m->minSeq, m->maxSeq);
        showIKey(f, eKey, m->smallest.a, m->smallest.n, 0);
        printf(" .. ");
        showIKey(f, eKey, m->largest.a, m->largest.n, 0);
        printf("\n");
      }
      for(i=0; i<ed.nDel; i++){
        printf("  delete L%d %06" PRIu64 ".sst\n", ed.aDel[i].iLevel,
               ed.aDel[i].iFile);
      }
    }
    kvEditClear(&ed);
    nEdit++;
  }
  if( rc==KV_OK && nEdit==0 ){
    rc = kvErr(KV_CORRUPT, "kvstore: corrupt manifest '%s': no valid version "
               "edit", zPath);
  }
  if( a->bJson ){
    fprintf(f, "],\"torn_tail\":%s,\"ok\":%s",
            kvLogReaderTorn(pR) ? "true" : "false", rc==KV_OK ? "true" : "false");
    if( rc!=KV_OK ){
      fputs(",\"problem\":", f);
      ktJsonStr(f, kvErrMsg(), strlen(kvErrMsg()));
    }
    fputs("}\n", f);
  }else if( kvLogReaderTorn(pR) ){
    printf("torn tail after offset %" PRIu64 "\n", kvLogReaderGoodOffset(pR));
  }
  if( rc!=KV_OK ) e = ktFail(KT_PROBLEM, "%s", kvErrMsg());
done:
  kvLogReaderClose(pR);
  kvBufFree(&cur);
  kvFree(zCur);
  kvFree(zPath);
  return e;
}
