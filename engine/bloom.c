/*
** bloom.c - the bloom filter of an SSTable, and the key hash it uses.
**
** Filter format (the bytes of the SSTable's filter part, before the
** SSTable adds its own checksum around them):
**
**   bits[nByte]   bit i of the filter is bit (i % 8) of byte i / 8
**   k  (1 byte)   number of probes, 1..30
**
** nByte*8 is at least 64, so a handful of keys does not make a filter that
** says "maybe" to everything. A key with 32-bit hash h (kvBloomHash of the
** user key) sets k bits by double hashing: probe j tests bit
** (h + j*delta) mod nBits with delta = h rotated right by 17, all in 32-bit
** unsigned arithmetic. One hash per key simulates k independent ones well
** enough for a filter (Kirsch and Mitzenmacher), and readers hash each
** key once.
**
** A probe count above 30 is left free for future encodings: readers treat
** such a filter, like one too short to be ours, as "may contain", so a
** filter that cannot be understood never hides a key.
**
** The blocked layout (written since issue #18; the flat layout above is
** still read) keeps all of a key's bits in one 64-byte line, so a probe
** costs one cache miss instead of k:
**
**   bits[nByte]   nByte a multiple of 64 (at least 64): nByte/64 lines of
**                 512 bits, bit i of a line being bit (i % 8) of its byte
**                 i / 8
**   64 + k        (1 byte) k = number of probes, 1..30
**
** A key with hash h uses line (h * nLine) >> 32 (64-bit product), and its
** probe j tests bit x_j >> 23 of that line, where x_0 = h * 0x9e3779b1 and
** x_(j+1) = x_j * 0x9e3779b1 (32-bit unsigned arithmetic): the line comes
** from h's high bits, the bits in it from all of h's bits, remixed. Builds
** before the blocked layout read its marker byte (65..94) as an unknown
** encoding, "may contain": they find every key, only without the filter's
** help. Readers that hold the filter 64-byte aligned (sst_read.c) touch
** one cache line per probe.
**
** kvBloomHash is part of the format: it reads bytes in a fixed order, so a
** file written on one machine is read correctly on any other.
*/
#include "kvInt.h"

#define BLOOM_MIN_BITS  64
#define BLOOM_MAX_PROBE 30
#define BLOOM_BLOCKED   64      /* marker byte of the blocked layout: 64+k */
#define BLOOM_LINE      64      /* bytes of a line of the blocked layout */

/*
** 32-bit hash in the style of MurmurHash3: four bytes at a time mixed in
** with multiply-rotate-multiply, the tail likewise, then a finalizer that
** makes every input bit affect every output bit. The seed is arbitrary but
** fixed forever (it is part of the on-disk format).
*/
u32 kvBloomHash(const u8 *p, size_t n){
  const u32 c1 = 0xcc9e2d51;
  const u32 c2 = 0x1b873593;
  u32 h = 0x6b43a9b5u ^ (u32)n;
  size_t i = 0;
  u32 k;

  assert( p!=0 || n==0 );
  for(; i+4<=n; i+=4){
    k = kvGet32(p + i);
    k *= c1;
    k = (k<<15) | (k>>17);
    k *= c2;
    h ^= k;
    h = (h<<13) | (h>>19);
    h = h*5 + 0xe6546b64;
  }
  k = 0;
  switch( n - i ){
    case 3: k ^= (u32)p[i+2] << 16;  /* fall through */
    case 2: k ^= (u32)p[i+1] << 8;   /* fall through */
    case 1:
      k ^= (u32)p[i];
      k *= c1;
      k = (k<<15) | (k>>17);
      k *= c2;
      h ^= k;
      break;
    default:
      break;
  }
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

/* Probe count for nBitsPerKey: bits*ln(2) minimises the false-positive
** rate; rounded to the nearest integer and clamped. Integer arithmetic
** (ln 2 ~ 0.693147) so no floating-point rounding can make two machines
** pick different counts. */
static int bloomProbes(int nBitsPerKey){
  long k = ((long)nBitsPerKey * 693147L + 500000L) / 1000000L;
  if( k<1 ) k = 1;
  if( k>BLOOM_MAX_PROBE ) k = BLOOM_MAX_PROBE;
  return (int)k;
}

/* Bits per key (at least 1) and probes of a filter of nKey keys, which
** may not exceed 2^32 bits (512 MiB): the flat layout computes bit
** positions modulo a u32-sized bit count; the blocked one keeps the cap
** (its lines, picked by a 32-bit multiply, could be more). Also guards
** the multiply. */
static int bloomShape(size_t nKey, int *pnBitsPerKey, int *pk){
  if( *pnBitsPerKey<1 ) *pnBitsPerKey = 1;
  *pk = bloomProbes(*pnBitsPerKey);
  if( nKey > (size_t)0xffffffffu / (size_t)*pnBitsPerKey ){
    return kvErr(KV_TOOBIG, "kvstore: bloom filter for %llu keys at %d bits "
                 "per key exceeds 2^32 bits",
                 (unsigned long long)nKey, *pnBitsPerKey);
  }
  return KV_OK;
}

/* Append a filter of nByte zero bytes and its marker byte (the encoding)
** to pOut; *paBit points at the bytes, for the caller to set its bits. */
static int bloomAppend(KvBuf *pOut, size_t nByte, u8 marker, u8 **paBit){
  int rc = kvBufReserve(pOut, nByte + 1);
  if( rc!=KV_OK ){
    return kvErr(rc, "kvstore: out of memory building a bloom filter of "
                 "%llu bytes", (unsigned long long)nByte);
  }
  *paBit = pOut->a + pOut->n;
  memset(*paBit, 0, nByte);
  (*paBit)[nByte] = marker;
  pOut->n += nByte + 1;
  return KV_OK;
}

int kvBloomBuildFlat(const u32 *aHash, size_t nKey, int nBitsPerKey,
                     KvBuf *pOut){
  size_t nBit, nByte, i;
  u8 *aBit = 0;
  int k;
  int rc;

  assert( aHash!=0 || nKey==0 );
  assert( pOut!=0 );
  rc = bloomShape(nKey, &nBitsPerKey, &k);
  if( rc!=KV_OK ) return rc;
  nBit = nKey * (size_t)nBitsPerKey;
  if( nBit<BLOOM_MIN_BITS ) nBit = BLOOM_MIN_BITS;
  nByte = (nBit + 7) / 8;
  nBit = nByte * 8;
  if( nBit > (size_t)0xffffffffu ){
    nByte = (size_t)0xffffffffu / 8;
    nBit = nByte * 8;
  }

  rc = bloomAppend(pOut, nByte, (u8)k, &aBit);
  if( rc!=KV_OK ) return rc;
  for(i=0; i<nKey; i++){
    u32 h = aHash[i];
    u32 delta = (h>>17) | (h<<15);
    int j;
    for(j=0; j<k; j++){
      u32 iBit = (u32)(h % (u32)nBit);
      aBit[iBit/8] |= (u8)(1 << (iBit%8));
      h += delta;
    }
  }
  return KV_OK;
}

int kvBloomBuild(const u32 *aHash, size_t nKey, int nBitsPerKey, KvBuf *pOut){
  size_t nByte, nLine, i;
  u8 *aBit = 0;
  int k;
  int rc;

  assert( aHash!=0 || nKey==0 );
  assert( pOut!=0 );
  rc = bloomShape(nKey, &nBitsPerKey, &k);
  if( rc!=KV_OK ) return rc;
  nByte = (nKey * (size_t)nBitsPerKey + 7) / 8;
  nLine = (nByte + BLOOM_LINE - 1) / BLOOM_LINE;
  if( nLine<1 ) nLine = 1;
  if( nLine > (size_t)0xffffffffu / (8*BLOOM_LINE) ){
    nLine = (size_t)0xffffffffu / (8*BLOOM_LINE);
  }
  nByte = nLine * BLOOM_LINE;

  rc = bloomAppend(pOut, nByte, (u8)(BLOOM_BLOCKED + k), &aBit);
  if( rc!=KV_OK ) return rc;
  for(i=0; i<nKey; i++){
    u8 *aLine = aBit + (size_t)kvBloomLine(aHash[i], (u32)nLine)*BLOOM_LINE;
    u32 x = aHash[i] * KV_BLOOM_MIX;
    int j;
    for(j=0; j<k; j++){
      u32 iBit = kvBloomBit(x);
      aLine[iBit/8] |= (u8)(1 << (iBit%8));
      x *= KV_BLOOM_MIX;
    }
  }
  return KV_OK;
}

void kvBloomPrepare(KvBloom *p, const u8 *pFilter, size_t nFilter){
  int k;
  memset(p, 0, sizeof(*p));
  /* A malformed filter answers "may contain". */
  if( pFilter==0 || nFilter < BLOOM_MIN_BITS/8 + 1 ) return;
  k = pFilter[nFilter-1];
  if( k>BLOOM_BLOCKED && k<=BLOOM_BLOCKED+BLOOM_MAX_PROBE ){
    /* blocked: whole lines only */
    if( (nFilter-1) % BLOOM_LINE ) return;
    if( (nFilter-1) / BLOOM_LINE > (size_t)0xffffffffu ) return;
    p->a = pFilter;
    p->nLine = (u32)((nFilter-1) / BLOOM_LINE);
    p->nProbe = k - BLOOM_BLOCKED;
    return;
  }
  if( k<1 || k>BLOOM_MAX_PROBE ) return;
  if( (nFilter-1) * 8 > (size_t)0xffffffffu ) return;
  p->a = pFilter;
  p->nBit = (u32)((nFilter-1) * 8);
  p->nProbe = k;
  p->mRecip = UINT64_MAX / p->nBit + 1;
}

/* hash % p->nBit by multiplication (Lemire, Kaser and Kurz, "Faster
** remainder by direct computation", 2019): exact for every 32-bit hash
** and divisor. */
static u32 bloomMod(const KvBloom *p, u32 hash){
  u64 lowbits = p->mRecip * hash;
  return (u32)(((unsigned __int128)lowbits * p->nBit) >> 64);
}

int kvBloomCheck(const KvBloom *p, u32 hash){
  u32 delta;
  int j;
  if( p->a==0 ) return 1;
  if( p->nLine ){
    const u8 *aLine = p->a + (size_t)kvBloomLine(hash, p->nLine)*BLOOM_LINE;
    u32 x = hash * KV_BLOOM_MIX;
    for(j=0; j<p->nProbe; j++){
      u32 iBit = kvBloomBit(x);
      if( (aLine[iBit/8] & (1 << (iBit%8)))==0 ) return 0;
      x *= KV_BLOOM_MIX;
    }
    return 1;
  }
  delta = (hash>>17) | (hash<<15);
  for(j=0; j<p->nProbe; j++){
    u32 iBit = bloomMod(p, hash);
    if( (p->a[iBit/8] & (1 << (iBit%8)))==0 ) return 0;
    hash += delta;
  }
  return 1;
}

int kvBloomMayContain(const u8 *pFilter, size_t nFilter, u32 hash){
  KvBloom b;
  kvBloomPrepare(&b, pFilter, nFilter);
  return kvBloomCheck(&b, hash);
}
