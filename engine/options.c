/*
** options.c - kv_options: every engine parameter, its default, and parsing
** from the text form in which CREATE VIRTUAL TABLE arguments and the JSON
** config file give it.
**
** One table (aOpt) describes every option: its name, how its text is
** parsed, which field of struct kv_options it fills and the accepted range.
** Its order is the order of the bits of kv_options.mSet and of the list of
** names printed in error messages, so a new option is added in one place.
**
** Text forms accepted (after surrounding whitespace and one pair of
** matching single or double quotes are removed, SQL-style, with a doubled
** quote inside standing for one):
**
**   size     decimal byte count with an optional suffix B, KB, MB, GB,
**            KiB, MiB, GiB (any case; all powers of 1024 - block and cache
**            sizes are never meant in powers of 1000), optionally separated
**            by spaces: 4MB, 4 MiB, 4194304
**   integer  optional minus sign and decimal digits
**   number   decimal digits with an optional fraction: 100, 0.5
**   enum     one of the listed names, any case
**   boolean  on/off, 1/0, true/false, yes/no, any case
**   path     any non-empty text
**
** Numbers are parsed by hand rather than with strtoull/strtod: those accept
** signs, leading spaces, hex and locale-dependent decimal points, none of
** which belong in an option value.
*/
#include "kvInt.h"

#include <stdio.h>

#define KiB ((u64)1024)
#define MiB (KiB*1024)
#define GiB (MiB*1024)

/* How an option's text is parsed. */
#define OPT_PATH    0
#define OPT_SIZE    1
#define OPT_INT     2
#define OPT_REAL    3
#define OPT_ENUM    4
#define OPT_BOOL    5

/* The C type of the kv_options field it fills. */
#define FLD_STR     0
#define FLD_U64     1
#define FLD_U32     2
#define FLD_INT     3
#define FLD_DOUBLE  4

typedef struct OptEnum OptEnum;
struct OptEnum {
  const char *zName;
  int iValue;
};

static const OptEnum aKeyType[] = {
  { "text", KV_KEY_TEXT }, { "blob", KV_KEY_BLOB },
  { "integer", KV_KEY_INTEGER }, { 0, 0 }
};
static const OptEnum aSync[] = {
  { "full", KV_SYNC_FULL }, { "normal", KV_SYNC_NORMAL },
  { "off", KV_SYNC_OFF }, { 0, 0 }
};
static const OptEnum aCompression[] = {
  { "zlib", KV_COMPRESS_ZLIB }, { "none", KV_COMPRESS_NONE }, { 0, 0 }
};
static const OptEnum aCompaction[] = {
  { "leveled", KV_COMPACT_LEVELED }, { "tiered", KV_COMPACT_TIERED },
  { 0, 0 }
};
/* The first two are the names kv_options_get returns. */
static const OptEnum aBool[] = {
  { "on", 1 }, { "off", 0 }, { "1", 1 }, { "0", 0 }, { "true", 1 },
  { "false", 0 }, { "yes", 1 }, { "no", 0 }, { 0, 0 }
};

/* Upper bound of rate_limit and rate_burst, operations per second. */
#define OPT_MAX_RATE 1e9

typedef struct OptDef OptDef;
struct OptDef {
  const char *zName;
  u8 eType;                     /* OPT_* */
  u8 eField;                    /* FLD_* */
  size_t iOffset;               /* offsetof(kv_options, field) */
  i64 iMin, iMax;               /* inclusive range (OPT_SIZE, OPT_INT) */
  const OptEnum *aEnum;         /* OPT_ENUM, OPT_BOOL */
};

#define OFF(f) offsetof(kv_options, f)
static const OptDef aOpt[] = {
  { "dir",              OPT_PATH, FLD_STR, OFF(zDir), 0, 0, 0 },
  { "config",           OPT_PATH, FLD_STR, OFF(zConfig), 0, 0, 0 },
  { "key_type",         OPT_ENUM, FLD_INT, OFF(eKeyType), 0, 0, aKeyType },
  { "sync",             OPT_ENUM, FLD_INT, OFF(eSync), 0, 0, aSync },
  { "memtable_size",    OPT_SIZE, FLD_U64, OFF(nMemtable),
                        64*KiB, 4*GiB, 0 },
  { "wal_segment_size", OPT_SIZE, FLD_U64, OFF(nWalSegment),
                        4*KiB, 4*GiB, 0 },
  { "wal_segment_records", OPT_INT, FLD_U64, OFF(nWalRecords),
                        0, 1000000000, 0 },
  { "block_size",       OPT_SIZE, FLD_U32, OFF(nBlock), 256, 1*MiB, 0 },
  { "compression",      OPT_ENUM, FLD_INT, OFF(eCompression), 0, 0,
                        aCompression },
  { "compression_level", OPT_INT, FLD_INT, OFF(iCompressionLevel), 0, 9, 0 },
  { "bloom_bits_per_key", OPT_INT, FLD_INT, OFF(nBloomBits), 0, 64, 0 },
  { "summary_interval", OPT_INT,  FLD_INT, OFF(nSummaryInterval), 1, 1024, 0 },
  { "cache_size",       OPT_SIZE, FLD_U64, OFF(nCache), 0, 64*GiB, 0 },
  { "compaction",       OPT_ENUM, FLD_INT, OFF(eCompaction), 0, 0,
                        aCompaction },
  { "levels",           OPT_INT,  FLD_INT, OFF(nLevel), 1, KV_MAX_LEVELS, 0 },
  { "level0_trigger",   OPT_INT,  FLD_INT, OFF(nL0Trigger), 1, 64, 0 },
  { "level_size_multiplier", OPT_INT, FLD_INT, OFF(nLevelMultiplier),
                        2, 100, 0 },
  { "target_file_size", OPT_SIZE, FLD_U64, OFF(nTargetFile),
                        4*KiB, 4*GiB, 0 },
  { "background",       OPT_BOOL, FLD_INT, OFF(bBackground), 0, 0, aBool },
  { "rate_limit",       OPT_REAL, FLD_DOUBLE, OFF(rRateLimit), 0, 0, 0 },
  { "rate_burst",       OPT_REAL, FLD_DOUBLE, OFF(rRateBurst), 0, 0, 0 },
  { "rate_wait_ms",     OPT_INT,  FLD_U64, OFF(nRateWaitMs), 0, 3600000, 0 },
  { "max_key_size",     OPT_SIZE, FLD_U64, OFF(nMaxKey), 1, 64*MiB, 0 },
  { "max_value_size",   OPT_SIZE, FLD_U64, OFF(nMaxValue), 0, 1*GiB, 0 },
  { "verify_checksums", OPT_BOOL, FLD_INT, OFF(bVerifyChecksums), 0, 0, aBool },
  { "txn_spill",        OPT_SIZE, FLD_U64, OFF(nTxnSpill), 0, 64*GiB, 0 },
};
#undef OFF
#define N_OPT ((int)(sizeof(aOpt)/sizeof(aOpt[0])))

/* Every name, in table order; checked against aOpt by optionsNamesOk(). */
static const char zAllNames[] =
  "dir, config, key_type, sync, memtable_size, wal_segment_size, "
  "wal_segment_records, block_size, compression, compression_level, "
  "bloom_bits_per_key, summary_interval, cache_size, compaction, levels, "
  "level0_trigger, level_size_multiplier, target_file_size, background, "
  "rate_limit, rate_burst, rate_wait_ms, max_key_size, max_value_size, "
  "verify_checksums, txn_spill";

#ifndef NDEBUG
/* zAllNames lists aOpt's names in order (and mSet has a bit for each). */
static int optionsNamesOk(void){
  const char *z = zAllNames;
  int i;
  if( N_OPT>32 ) return 0;
  for(i=0; i<N_OPT; i++){
    size_t n = strlen(aOpt[i].zName);
    if( strncmp(z, aOpt[i].zName, n)!=0 ) return 0;
    z += n;
    if( i<N_OPT-1 ){
      if( z[0]!=',' || z[1]!=' ' ) return 0;
      z += 2;
    }
  }
  return *z==0;
}
#endif

static int lowerAscii(int c){
  return (c>='A' && c<='Z') ? c + ('a'-'A') : c;
}

static int isSpace(int c){
  return c==' ' || c=='\t' || c=='\n' || c=='\r' || c=='\f' || c=='\v';
}

/* Case-insensitive equality of z[0..n) and zero-terminated zLit. */
static int matchNoCase(const char *z, size_t n, const char *zLit){
  size_t i;
  for(i=0; i<n; i++){
    if( zLit[i]==0 || lowerAscii((u8)z[i])!=lowerAscii((u8)zLit[i]) ){
      return 0;
    }
  }
  return zLit[n]==0;
}

static const OptDef *findOption(const char *zName, int *piOpt){
  size_t n;
  int i;
  if( zName==0 ) return 0;
  while( isSpace((u8)*zName) ) zName++;
  n = strlen(zName);
  while( n>0 && isSpace((u8)zName[n-1]) ) n--;
  for(i=0; i<N_OPT; i++){
    if( matchNoCase(zName, n, aOpt[i].zName) ){
      if( piOpt ) *piOpt = i;
      return &aOpt[i];
    }
  }
  return 0;
}

/*
** Strip surrounding whitespace and one pair of matching quotes (a doubled
** quote inside becomes one), then whitespace inside the quotes. Returns a
** kvMalloc'd copy, NULL on OOM.
*/
static char *dequoteValue(const char *zIn){
  size_t n;
  char *z;
  while( isSpace((u8)*zIn) ) zIn++;
  n = strlen(zIn);
  while( n>0 && isSpace((u8)zIn[n-1]) ) n--;
  z = kvMalloc(n+1);
  if( z==0 ) return 0;
  if( n>=2 && (zIn[0]=='\'' || zIn[0]=='"') && zIn[n-1]==zIn[0] ){
    char q = zIn[0];
    size_t i, j = 0;
    size_t iStart, iEnd;
    for(i=1; i<n-1; i++){
      z[j++] = zIn[i];
      if( zIn[i]==q && i+1<n-1 && zIn[i+1]==q ) i++;
    }
    z[j] = 0;
    /* Whitespace just inside the quotes: ' 4MB ' */
    iStart = 0;
    while( isSpace((u8)z[iStart]) ) iStart++;
    iEnd = j;
    while( iEnd>iStart && isSpace((u8)z[iEnd-1]) ) iEnd--;
    memmove(z, z+iStart, iEnd-iStart);
    z[iEnd-iStart] = 0;
  }else{
    memcpy(z, zIn, n);
    z[n] = 0;
  }
  return z;
}

/* Parse decimal digits at *pz into *pv. Returns 0 if there are none or
** the number overflows u64. Advances *pz past them. */
static int parseDigits(const char **pz, u64 *pv){
  const char *z = *pz;
  u64 v = 0;
  if( *z<'0' || *z>'9' ) return 0;
  while( *z>='0' && *z<='9' ){
    u64 d = (u64)(*z - '0');
    if( v > (UINT64_MAX - d)/10 ) return 0;
    v = v*10 + d;
    z++;
  }
  *pz = z;
  *pv = v;
  return 1;
}

/* A size: digits, optional spaces, optional suffix. 1 on success. */
static int parseSize(const char *z, u64 *pv){
  static const struct { const char *zSuffix; u64 mult; } aSuffix[] = {
    { "", 1 }, { "b", 1 },
    { "kb", KiB }, { "kib", KiB },
    { "mb", MiB }, { "mib", MiB },
    { "gb", GiB }, { "gib", GiB },
  };
  u64 v;
  size_t i;
  if( !parseDigits(&z, &v) ) return 0;
  while( isSpace((u8)*z) ) z++;
  for(i=0; i<sizeof(aSuffix)/sizeof(aSuffix[0]); i++){
    if( matchNoCase(z, strlen(z), aSuffix[i].zSuffix) ){
      if( v > UINT64_MAX / aSuffix[i].mult ) return 0;
      *pv = v * aSuffix[i].mult;
      return 1;
    }
  }
  return 0;
}

/* An integer with an optional minus sign. 1 on success. */
static int parseInt(const char *z, i64 *pv){
  int bNeg = 0;
  u64 v;
  if( *z=='-' ){ bNeg = 1; z++; }
  if( !parseDigits(&z, &v) || *z!=0 ) return 0;
  if( v > (u64)INT64_MAX ) return 0;
  *pv = bNeg ? -(i64)v : (i64)v;
  return 1;
}

/* A non-negative decimal number, digits with an optional fraction (".5"
** and "5." too). 1 on success. */
static int parseReal(const char *z, double *pv){
  double r = 0.0;
  double scale = 1.0;
  int nDigit = 0;
  while( *z>='0' && *z<='9' ){
    r = r*10.0 + (*z - '0');
    z++;
    nDigit++;
  }
  if( *z=='.' ){
    z++;
    while( *z>='0' && *z<='9' ){
      scale /= 10.0;
      r += (*z - '0') * scale;
      z++;
      nDigit++;
    }
  }
  if( nDigit==0 || *z!=0 ) return 0;
  *pv = r;
  return 1;
}

/* "64 KiB", "4 GiB", "256 bytes": a bound for an error message. */
static void formatBytes(u64 v, char *zBuf, size_t nBuf){
  if( v>=GiB && v%GiB==0 ){
    snprintf(zBuf, nBuf, "%llu GiB", (unsigned long long)(v/GiB));
  }else if( v>=MiB && v%MiB==0 ){
    snprintf(zBuf, nBuf, "%llu MiB", (unsigned long long)(v/MiB));
  }else if( v>=KiB && v%KiB==0 ){
    snprintf(zBuf, nBuf, "%llu KiB", (unsigned long long)(v/KiB));
  }else{
    snprintf(zBuf, nBuf, "%llu bytes", (unsigned long long)v);
  }
}

/* "text, blob, integer" into zBuf. */
static void formatEnum(const OptEnum *a, char *zBuf, size_t nBuf){
  size_t n = 0;
  int i;
  zBuf[0] = 0;
  for(i=0; a[i].zName && n<nBuf; i++){
    int k = snprintf(zBuf+n, nBuf-n, "%s%s", i ? ", " : "", a[i].zName);
    if( k<0 ) break;
    n += (size_t)k;
  }
}

/* What the option accepts, for "expected ..." in an error message. */
static void describeExpected(const OptDef *p, char *zBuf, size_t nBuf){
  char zLo[32], zHi[32], zList[128];
  switch( p->eType ){
    case OPT_PATH:
      snprintf(zBuf, nBuf, "a non-empty path");
      break;
    case OPT_SIZE:
      formatBytes((u64)p->iMin, zLo, sizeof(zLo));
      formatBytes((u64)p->iMax, zHi, sizeof(zHi));
      snprintf(zBuf, nBuf, "a size in bytes with optional KB, MB, GB, KiB, "
               "MiB or GiB suffix, between %s and %s", zLo, zHi);
      break;
    case OPT_INT:
      snprintf(zBuf, nBuf, "an integer between %lld and %lld",
               (long long)p->iMin, (long long)p->iMax);
      break;
    case OPT_REAL:
      snprintf(zBuf, nBuf, "a non-negative number of operations per second "
               "(decimal, at most %.0f)", OPT_MAX_RATE);
      break;
    case OPT_ENUM:
      formatEnum(p->aEnum, zList, sizeof(zList));
      snprintf(zBuf, nBuf, "one of %s", zList);
      break;
    default:
      assert( p->eType==OPT_BOOL );
      snprintf(zBuf, nBuf, "on or off (also 1/0, true/false, yes/no)");
      break;
  }
}

static void *fieldPtr(kv_options *opts, const OptDef *p){
  return (char*)opts + p->iOffset;
}
static const void *fieldPtrC(const kv_options *opts, const OptDef *p){
  return (const char*)opts + p->iOffset;
}

/* Store integer v (already range-checked) in the option's field. */
static void storeInt(kv_options *opts, const OptDef *p, u64 v){
  void *pField = fieldPtr(opts, p);
  switch( p->eField ){
    case FLD_U64: *(u64*)pField = v; break;
    case FLD_U32: *(u32*)pField = (u32)v; break;
    default:
      assert( p->eField==FLD_INT );
      *(int*)pField = (int)v;
      break;
  }
}

/* Look z up in an enum table: 1 and *piValue on success. */
static int parseEnum(const OptEnum *a, const char *z, int *piValue){
  int i;
  for(i=0; a[i].zName; i++){
    if( matchNoCase(z, strlen(z), a[i].zName) ){
      *piValue = a[i].iValue;
      return 1;
    }
  }
  return 0;
}

/* Parse zVal for option p and store it. KV_OK, KV_ERROR for a bad value
** (nothing stored), KV_NOMEM. */
static int applyValue(kv_options *opts, const OptDef *p, const char *zVal){
  switch( p->eType ){
    case OPT_PATH: {
      char *zCopy;
      char **pz = (char**)fieldPtr(opts, p);
      if( zVal[0]==0 ) return KV_ERROR;
      zCopy = kvStrdup(zVal);
      if( zCopy==0 ) return KV_NOMEM;
      kvFree(*pz);
      *pz = zCopy;
      return KV_OK;
    }
    case OPT_SIZE: {
      u64 v;
      if( !parseSize(zVal, &v) ) return KV_ERROR;
      if( v<(u64)p->iMin || v>(u64)p->iMax ) return KV_ERROR;
      storeInt(opts, p, v);
      return KV_OK;
    }
    case OPT_INT: {
      i64 v;
      if( !parseInt(zVal, &v) ) return KV_ERROR;
      if( v<p->iMin || v>p->iMax ) return KV_ERROR;
      storeInt(opts, p, (u64)v);
      return KV_OK;
    }
    case OPT_REAL: {
      double r;
      if( !parseReal(zVal, &r) || !(r<=OPT_MAX_RATE) ) return KV_ERROR;
      *(double*)fieldPtr(opts, p) = r;
      return KV_OK;
    }
    default: {
      int v;
      assert( p->eType==OPT_ENUM || p->eType==OPT_BOOL );
      if( !parseEnum(p->aEnum, zVal, &v) ) return KV_ERROR;
      *(int*)fieldPtr(opts, p) = v;
      return KV_OK;
    }
  }
}

static void setDefaults(kv_options *opts){
  memset(opts, 0, sizeof(*opts));
  opts->eKeyType = KV_KEY_TEXT;
  opts->eSync = KV_SYNC_FULL;
  opts->nMemtable = 4*MiB;
  opts->nTxnSpill = 16*MiB;
  opts->nWalSegment = 16*MiB;
  opts->nWalRecords = 0;
  opts->nBlock = 4*KiB;
  /* DESIGN.md starts from zlib and a level-0 trigger of 4; the benchmark
  ** (bench/, 1M keys, 2 cores) moved both: zlib's inflate and deflate
  ** were most of the time of every workload (readrandom 67k -> 194k ops/s,
  ** fillrandom 103k -> 274k without it, at about twice the disk for
  ** half-compressible values), and a trigger of 8 halves the level-0 to
  ** level-1 rewrites (fillrandom 274k -> 364k, reads unchanged thanks to
  ** the bloom filters). compression=zlib remains one option away. */
  opts->eCompression = KV_COMPRESS_NONE;
  opts->iCompressionLevel = 1;
  opts->nBloomBits = 10;
  opts->nSummaryInterval = 16;
  opts->nCache = 8*MiB;
  opts->eCompaction = KV_COMPACT_LEVELED;
  opts->nLevel = 7;
  opts->nL0Trigger = 8;
  opts->nLevelMultiplier = 10;
  opts->nTargetFile = 2*MiB;
  opts->bBackground = 1;
  opts->rRateLimit = 0.0;
  opts->rRateBurst = 0.0;
  opts->nRateWaitMs = 0;
  opts->nMaxKey = 64*KiB;
  opts->nMaxValue = 64*MiB;
  opts->bCreate = 1;
}

kv_options *kv_options_new(void){
  kv_options *opts = kvMalloc(sizeof(*opts));
  assert( optionsNamesOk() );
  if( opts==0 ){
    kvErr(KV_NOMEM, "kvstore: out of memory allocating options");
    return 0;
  }
  setDefaults(opts);
  return opts;
}

void kv_options_free(kv_options *opts){
  if( opts==0 ) return;
  kvFree(opts->zDir);
  kvFree(opts->zConfig);
  kvFree(opts);
}

kv_options *kv_options_copy(const kv_options *opts){
  kv_options *pNew;
  if( opts==0 ) return 0;
  pNew = kvMalloc(sizeof(*pNew));
  if( pNew==0 ){
    kvErr(KV_NOMEM, "kvstore: out of memory copying options");
    return 0;
  }
  *pNew = *opts;
  pNew->zDir = 0;
  pNew->zConfig = 0;
  if( (opts->zDir && (pNew->zDir = kvStrdup(opts->zDir))==0)
   || (opts->zConfig && (pNew->zConfig = kvStrdup(opts->zConfig))==0)
  ){
    kv_options_free(pNew);
    kvErr(KV_NOMEM, "kvstore: out of memory copying options");
    return 0;
  }
  return pNew;
}

void kv_options_set_create(kv_options *opts, int bCreate){
  assert( opts!=0 );
  opts->bCreate = bCreate!=0;
}

void kv_options_set_horizon(kv_options *opts, uint64_t iHorizon){
  opts->bHorizon = 1;
  opts->iHorizon = iHorizon;
}

void kvOptionsSetEnv(kv_options *opts, KvEnv *pEnv){
  assert( opts!=0 );
  opts->pEnv = pEnv;
}

const char *kv_options_names(void){
  return zAllNames;
}

/* Record message zMsg (kvMprintf'd, may be NULL on OOM) as the thread's
** error and hand it to *pzErr, or free it. Returns rc. */
static int optionsError(int rc, char *zMsg, char **pzErr){
  if( zMsg ){
    kvErr(rc, "%s", zMsg);
  }else{
    kvErr(KV_NOMEM, "kvstore: out of memory reporting an option error");
  }
  if( pzErr ){
    *pzErr = zMsg;
  }else{
    kvFree(zMsg);
  }
  return rc;
}

int kv_options_set(kv_options *opts, const char *zName, const char *zValue,
                   char **pzErr){
  const OptDef *p;
  char *zVal = 0;
  int iOpt = 0;
  int rc;

  if( pzErr ) *pzErr = 0;
  if( opts==0 || zName==0 ){
    return optionsError(KV_MISUSE,
        kvMprintf("kvstore: kv_options_set called with a NULL %s",
                  opts==0 ? "options object" : "option name"), pzErr);
  }
  p = findOption(zName, &iOpt);
  if( p==0 ){
    return optionsError(KV_ERROR,
        kvMprintf("kvstore: unknown option '%s'; accepted options: %s",
                  zName, zAllNames), pzErr);
  }
  if( zValue==0 ){
    char zExpect[200];
    describeExpected(p, zExpect, sizeof(zExpect));
    return optionsError(KV_ERROR,
        kvMprintf("kvstore: missing value for option '%s': expected %s",
                  p->zName, zExpect), pzErr);
  }
  zVal = dequoteValue(zValue);
  if( zVal==0 ){
    return optionsError(KV_NOMEM,
        kvMprintf("kvstore: out of memory setting option '%s'", p->zName),
        pzErr);
  }
  rc = applyValue(opts, p, zVal);
  if( rc==KV_OK ){
    opts->mSet |= (u32)1 << iOpt;
  }else if( rc==KV_NOMEM ){
    optionsError(rc,
        kvMprintf("kvstore: out of memory setting option '%s'", p->zName),
        pzErr);
  }else{
    char zExpect[200];
    describeExpected(p, zExpect, sizeof(zExpect));
    optionsError(rc,
        kvMprintf("kvstore: bad value '%s' for option '%s': expected %s",
                  zVal, p->zName, zExpect), pzErr);
  }
  kvFree(zVal);
  return rc;
}

int kv_options_is_set(const kv_options *opts, const char *zName){
  int iOpt = 0;
  if( opts==0 || findOption(zName, &iOpt)==0 ) return -1;
  return (opts->mSet >> iOpt) & 1;
}

u32 kvOptionBit(const char *zName){
  int iOpt = 0;
  return findOption(zName, &iOpt) ? (u32)1 << iOpt : 0;
}

/* "%.15g" with a '.' even under a locale whose decimal point is ','. */
static void formatReal(double r, char *zBuf, size_t nBuf){
  char *z;
  snprintf(zBuf, nBuf, "%.15g", r);
  for(z=zBuf; *z; z++){
    if( *z==',' ) *z = '.';
  }
}

char *kv_options_get(const kv_options *opts, const char *zName){
  const OptDef *p;
  char zBuf[64];
  const void *pField;
  char *zOut;

  if( opts==0 ) return 0;
  p = findOption(zName, 0);
  if( p==0 ){
    kvErr(KV_ERROR, "kvstore: unknown option '%s'; accepted options: %s",
          zName ? zName : "(null)", zAllNames);
    return 0;
  }
  pField = fieldPtrC(opts, p);
  switch( p->eField ){
    case FLD_STR: {
      const char *z = *(char *const*)pField;
      zOut = kvStrdup(z ? z : "");
      break;
    }
    case FLD_DOUBLE:
      formatReal(*(const double*)pField, zBuf, sizeof(zBuf));
      zOut = kvStrdup(zBuf);
      break;
    case FLD_U64:
      snprintf(zBuf, sizeof(zBuf), "%llu",
               (unsigned long long)*(const u64*)pField);
      zOut = kvStrdup(zBuf);
      break;
    case FLD_U32:
      snprintf(zBuf, sizeof(zBuf), "%lu", (unsigned long)*(const u32*)pField);
      zOut = kvStrdup(zBuf);
      break;
    default: {
      int v = *(const int*)pField;
      assert( p->eField==FLD_INT );
      if( p->aEnum ){
        /* The first name of a value is its canonical one. */
        const char *zName2 = 0;
        int i;
        for(i=0; p->aEnum[i].zName; i++){
          if( p->aEnum[i].iValue==v ){ zName2 = p->aEnum[i].zName; break; }
        }
        zOut = kvStrdup(zName2 ? zName2 : "?");
      }else{
        snprintf(zBuf, sizeof(zBuf), "%d", v);
        zOut = kvStrdup(zBuf);
      }
      break;
    }
  }
  if( zOut==0 ) kvErr(KV_NOMEM, "kvstore: out of memory reading an option");
  return zOut;
}

void kvSstConfigFromOptions(const kv_options *o, KvSstConfig *pCfg){
  pCfg->nBlock = o->nBlock;
  pCfg->eCompression = o->eCompression;
  pCfg->iLevel = o->iCompressionLevel;
  pCfg->nBloomBits = o->nBloomBits;
  pCfg->nSummaryInterval = o->nSummaryInterval;
  /* A point read binary-searches a data block's restart points and then
  ** steps through at most this many entries: 8 takes about 280
  ** instructions off a lookup against 16, for 1% more space and 2.5% more
  ** instructions per entry in a scan (doc/pointread.md). Readers
  ** take any interval (the block lists its restart points), so tables of
  ** earlier builds (16) read as before. */
  pCfg->nRestart = 8;
}
