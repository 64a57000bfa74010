/*
** log.c - framed records: the on-disk unit of the write-ahead log (wal.c)
** and of the manifest (version.c).
**
** FORMAT
**
** A log file is a sequence of records laid end to end, with no file header
** and no padding. Every record is:
**
**     offset  size  field
**     0       1     magic 0xA1 (record framing, format version 1)
**     1       4     payload length n, little-endian, at most 1 GiB
**     5       4     CRC32 (zlib) of the n payload bytes, little-endian
**     9       4     CRC32 (zlib) of header bytes 0..8, little-endian
**     13      n     payload
**
** The header checks itself, so a reader can tell the start of a real record
** from arbitrary bytes without trusting a length field it has not verified;
** that is what makes scanning forward after damage cheap. The magic byte is
** non-zero so a zero-filled region (what some file systems leave after a
** crash that grew the file before its data reached the disk) never passes
** for a record.
**
** WRITING
**
** Each record goes to the file in one xAppend call (header and payload
** together), as contiguous as the OS allows; nothing assumes it is atomic.
** If the append fails, the file is truncated back to the end of the last
** record written whole. If that truncation fails too, the writer refuses
** every later append (and kvLogWriterClose reports it), so a bad record is
** never followed by a good one. A failed sync is never retried: the kernel
** may have dropped the dirty pages and marked them clean, so a later sync
** could report success for data that is gone (PostgreSQL's "fsyncgate").
** After one, every append and sync fails with KV_READONLY.
**
** READING
**
** Records are returned in order. A record is good when its header is whole,
** has the magic, passes its CRC and announces at most 1 GiB, and its whole
** payload lies inside the file and passes its CRC. At the first record that
** is not good, at offset X, the reader decides between two cases:
**
**   - a good record starts somewhere after X: the damage is in the middle
**     of the history, which a crash cannot produce. kvLogRead fails with
**     KV_CORRUPT "kvstore: corrupt record in '<file>' at offset X".
**   - nothing good follows: X starts a torn, garbage or zero-filled tail,
**     what an interrupted append leaves. The file ends there cleanly:
**     kvLogReaderTorn() is 1 and kvLogReaderGoodOffset() is X.
**
** Where the search for a later good record starts: if the header at X is
** itself good (only the payload is short or fails its CRC), its length is
** trusted and the search starts where that record ends; a record running
** past the end of the file is then simply torn. Otherwise the search starts
** at X+1. Trusting a verified header keeps user bytes inside a torn
** payload that happen to look like a record from turning an ordinary torn
** tail into a report of corruption.
*/
#include "kvInt.h"
#include "log_format.h"


/* A writer keeps its scratch buffer between appends unless it grew past
** this, so one huge record does not pin its size in memory for good. */
#define LOG_KEEP_BUFFER  (1024*1024)

/* Results of logParse(). */
#define LOG_GOOD      0   /* a whole, valid record */
#define LOG_BAD_HDR   1   /* header short, or failing magic/CRC/length cap */
#define LOG_BAD_BODY  2   /* header good; payload short or failing its CRC */

struct KvLogWriter {
  KvEnv *pEnv;
  KvFile *pFile;                /* opened for append */
  char *zPath;                  /* for messages */
  u64 nGood;                    /* end of the last record written whole */
  int bBroken;                  /* a failed append could not be truncated */
  int bSyncFailed;              /* a sync failed: read-only from now on */
  KvBuf rec;                    /* scratch: header + payload being written */
};

struct KvLogReader {
  char *zPath;                  /* for messages */
  KvBuf data;                   /* the whole file */
  u64 iOff;                     /* start of the next record to read */
  int bDone;                    /* end reached (clean or torn) */
  int bTorn;                    /* a tail was cut off at iOff */
  int rcCorrupt;                /* KV_CORRUPT once damage was found */
};

/* Fill the 13-byte header a[] for payload p[0..n). */
static void logPutHeader(u8 *a, const void *p, size_t n){
  a[0] = KV_LOG_MAGIC;
  kvPut32(a+1, (u32)n);
  kvPut32(a+5, kvCrc32(p, n));
  kvPut32(a+9, kvCrc32(a, 9));
}

/*
** Classify the bytes at offset off of a[0..nData). *pnPay receives the
** payload length when the header is good.
** REQUIRES: off <= nData.
*/
static int logParse(const u8 *a, u64 nData, u64 off, u32 *pnPay){
  const u8 *h = a + off;
  u32 nPay;
  assert( off<=nData );
  *pnPay = 0;
  if( nData-off<KV_LOG_HEADER ) return LOG_BAD_HDR;
  if( h[0]!=KV_LOG_MAGIC ) return LOG_BAD_HDR;
  if( kvGet32(h+9)!=kvCrc32(h, 9) ) return LOG_BAD_HDR;
  nPay = kvGet32(h+1);
  if( nPay>KV_LOG_MAX_PAYLOAD ) return LOG_BAD_HDR;
  *pnPay = nPay;
  if( nData-off-KV_LOG_HEADER<nPay ) return LOG_BAD_BODY;
  if( kvCrc32(h+KV_LOG_HEADER, nPay)!=kvGet32(h+5) ) return LOG_BAD_BODY;
  return LOG_GOOD;
}

/*
** The record at off is not good (eBad, with payload length nPay when its
** header is good). Return 1 if a good record starts later in the file.
*/
static int logGoodRecordFollows(const u8 *a, u64 nData, u64 off, int eBad,
                                u32 nPay){
  u64 i;
  u32 nDummy;
  if( eBad==LOG_BAD_BODY ){
    if( nData-off-KV_LOG_HEADER<nPay ) return 0;
    i = off + KV_LOG_HEADER + nPay;
  }else{
    i = off + 1;
  }
  for(; i+KV_LOG_HEADER<=nData; i++){
    if( a[i]==KV_LOG_MAGIC && logParse(a, nData, i, &nDummy)==LOG_GOOD ){
      return 1;
    }
  }
  return 0;
}

/* Close pFile without letting a close() error replace the message of the
** failure that made the caller give up. */
static void logCloseQuietly(KvEnv *pEnv, KvFile *pFile){
  KvErrSave save;
  if( pFile==0 ) return;
  kvErrSave(&save);
  pEnv->xClose(pFile);
  kvErrRestore(&save, KV_OK);
}

/*************************** writer ***************************************/

static void logWriterFree(KvLogWriter *pW){
  if( pW ){
    kvBufFree(&pW->rec);
    kvFree(pW->zPath);
    kvFree(pW);
  }
}

/*
** Create zPath, or empty it if it exists, and return a writer on it.
** The file is opened in append mode: after a truncation the next record
** must land at the new end, not at the old write position.
*/
int kvLogWriterOpen(KvEnv *pEnv, const char *zPath, KvLogWriter **ppW){
  return kvLogWriterOpenAt(pEnv, zPath, 0, 0, ppW);
}

/*
** The general form: xOpen flags added to KV_OPEN_APPEND (KV_OPEN_SHARED),
** and the file cut to iEnd bytes, where the next record goes (0: emptied).
** Opening at iEnd>0 continues a log another handle wrote whole records to
** up to iEnd; whatever lies after it (a torn record, preallocated zeros)
** is cut off.
*/
int kvLogWriterOpenAt(KvEnv *pEnv, const char *zPath, int flags, u64 iEnd,
                      KvLogWriter **ppW){
  KvLogWriter *pW;
  u64 nSize = 0;
  int rc = KV_OK;
  *ppW = 0;
  pW = kvMallocZero(sizeof(*pW));
  if( pW ) pW->zPath = kvStrdup(zPath);
  if( pW==0 || pW->zPath==0 ){
    rc = kvErr(KV_NOMEM, "kvstore: out of memory opening log '%s'", zPath);
  }
  if( rc==KV_OK ){
    pW->pEnv = pEnv;
    rc = pEnv->xOpen(pEnv, zPath, KV_OPEN_APPEND|flags, &pW->pFile);
  }
  if( rc==KV_OK ) rc = pEnv->xSize(pW->pFile, &nSize);
  if( rc==KV_OK && nSize<iEnd ){
    rc = kvErr(KV_CORRUPT, "kvstore: log '%s' ends at %llu bytes, before "
               "its last record's end (%llu)", zPath,
               (unsigned long long)nSize, (unsigned long long)iEnd);
  }
  if( rc==KV_OK && nSize>iEnd ) rc = pEnv->xTruncate(pW->pFile, iEnd);
  if( rc==KV_OK ) pW->nGood = iEnd;
  if( rc!=KV_OK ){
    if( pW ) logCloseQuietly(pEnv, pW->pFile);
    logWriterFree(pW);
    return rc;
  }
  *ppW = pW;
  return KV_OK;
}

/* KV_OK if the writer may still write, else the sticky error. */
static int logWriterUsable(KvLogWriter *pW){
  if( pW->bSyncFailed ){
    return kvErr(KV_READONLY,
        "kvstore: log '%s' is read-only after a failed fsync", pW->zPath);
  }
  if( pW->bBroken ){
    return kvErr(KV_IOERR, "kvstore: log '%s' refuses appends: a failed "
        "write could not be truncated away", pW->zPath);
  }
  return KV_OK;
}

/* An append failed with rc: cut the file back to the last whole record. */
static int logUndoAppend(KvLogWriter *pW, int rc){
  KvErrSave save;
  int rc2;
  kvErrSave(&save);
  rc2 = pW->pEnv->xTruncate(pW->pFile, pW->nGood);
  if( rc2!=KV_OK ){
    pW->bBroken = 1;
    return kvErr(rc, "%s; truncating '%s' back to %llu bytes also failed, "
                 "so the log refuses further appends", save.z, pW->zPath,
                 (unsigned long long)pW->nGood);
  }
  return kvErrRestore(&save, rc);
}

int kvLogAppend(KvLogWriter *pW, const void *p, size_t n){
  int rc;
  assert( pW!=0 );
  assert( p!=0 || n==0 );
  rc = logWriterUsable(pW);
  if( rc!=KV_OK ) return rc;
  if( (u64)n>KV_LOG_MAX_PAYLOAD ){
    return kvErr(KV_TOOBIG, "kvstore: record of %llu bytes is too large "
                 "for log '%s' (limit %llu)", (unsigned long long)n,
                 pW->zPath, (unsigned long long)KV_LOG_MAX_PAYLOAD);
  }
  pW->rec.n = 0;
  rc = kvBufReserve(&pW->rec, KV_LOG_HEADER + n);
  if( rc==KV_OK ){
    logPutHeader(pW->rec.a, p, n);
    if( n>0 ) memcpy(pW->rec.a + KV_LOG_HEADER, p, n);
    rc = pW->pEnv->xAppend(pW->pFile, pW->rec.a, KV_LOG_HEADER + n);
    if( rc==KV_OK ){
      pW->nGood += KV_LOG_HEADER + n;
    }else{
      rc = logUndoAppend(pW, rc);
    }
  }
  if( pW->rec.nAlloc>LOG_KEEP_BUFFER ) kvBufFree(&pW->rec);
  return rc;
}

int kvLogSync(KvLogWriter *pW){
  int rc;
  assert( pW!=0 );
  rc = logWriterUsable(pW);
  if( rc==KV_OK ){
    rc = pW->pEnv->xSync(pW->pFile);
    if( rc!=KV_OK ){
      pW->bSyncFailed = 1;
      kvErr(rc, "%s (log '%s' is now read-only)", kvErrMsg(), pW->zPath);
    }
  }
  return rc;
}

u64 kvLogSize(KvLogWriter *pW){
  return pW->nGood;
}

int kvLogCut(KvLogWriter *pW){
  int rc = logWriterUsable(pW);
  if( rc==KV_OK ) rc = pW->pEnv->xTruncate(pW->pFile, pW->nGood);
  return rc;
}

int kvLogNext(const u8 *a, u64 nData, u64 *pOff, const u8 **pp, size_t *pn){
  u32 nPay = 0;
  *pp = 0;
  *pn = 0;
  if( *pOff>=nData || logParse(a, nData, *pOff, &nPay)!=LOG_GOOD ) return 0;
  *pp = a + *pOff + KV_LOG_HEADER;
  *pn = nPay;
  *pOff += KV_LOG_HEADER + (u64)nPay;
  return 1;
}

/*
** Close and free. Reports a failed close() and, since the caller may not
** have looked at every append's result, a writer left in a sticky error
** state. NULL is a no-op.
*/
int kvLogWriterClose(KvLogWriter *pW){
  int rc = KV_OK;
  if( pW==0 ) return KV_OK;
  if( pW->pFile ) rc = pW->pEnv->xClose(pW->pFile);
  if( rc==KV_OK ) rc = logWriterUsable(pW);
  logWriterFree(pW);
  return rc;
}

/*************************** reader ***************************************/

int kvLogReaderOpen(KvEnv *pEnv, const char *zPath, KvLogReader **ppR){
  KvLogReader *pR;
  int rc = KV_OK;
  *ppR = 0;
  pR = kvMallocZero(sizeof(*pR));
  if( pR ) pR->zPath = kvStrdup(zPath);
  if( pR==0 || pR->zPath==0 ){
    rc = kvErr(KV_NOMEM, "kvstore: out of memory opening log '%s'", zPath);
  }
  if( rc==KV_OK ) rc = kvEnvReadAll(pEnv, zPath, &pR->data);
  if( rc!=KV_OK ){
    kvLogReaderClose(pR);
    return rc;
  }
  *ppR = pR;
  return KV_OK;
}

int kvLogRead(KvLogReader *pR, const u8 **pp, size_t *pn){
  const u8 *a = pR->data.a;
  u64 nData = pR->data.n;
  u32 nPay = 0;
  int e;
  *pp = 0;
  *pn = 0;
  if( pR->rcCorrupt ) goto corrupt;
  if( pR->bDone ) return KV_OK;
  if( pR->iOff>=nData ){
    pR->bDone = 1;
    return KV_OK;
  }
  e = logParse(a, nData, pR->iOff, &nPay);
  if( e==LOG_GOOD ){
    /* Never NULL, even for an empty payload: NULL means the end. */
    *pp = a + pR->iOff + KV_LOG_HEADER;
    *pn = nPay;
    pR->iOff += KV_LOG_HEADER + (u64)nPay;
    return KV_OK;
  }
  if( logGoodRecordFollows(a, nData, pR->iOff, e, nPay) ){
    pR->rcCorrupt = KV_CORRUPT;
    goto corrupt;
  }
  pR->bDone = 1;
  pR->bTorn = 1;
  return KV_OK;

corrupt:
  return kvErr(KV_CORRUPT, "kvstore: corrupt record in '%s' at offset %llu",
               pR->zPath, (unsigned long long)pR->iOff);
}

u64 kvLogReaderGoodOffset(KvLogReader *pR){
  return pR->iOff;
}

int kvLogReaderTorn(KvLogReader *pR){
  return pR->bTorn;
}

int kvLogReaderZeroTail(KvLogReader *pR){
  u64 i;
  if( !pR->bTorn ) return 0;
  for(i=pR->iOff; i<pR->data.n; i++){
    if( pR->data.a[i]!=0 ) return 0;
  }
  return 1;
}

void kvLogReaderClose(KvLogReader *pR){
  if( pR ){
    kvBufFree(&pR->data);
    kvFree(pR->zPath);
    kvFree(pR);
  }
}
