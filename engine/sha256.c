/*
** sha256.c - SHA-256 (FIPS 180-4) and the Merkle root of an SSTable.
**
** The dependency list of the project is sqlite3 and zlib, neither of which
** exports a SHA-256, so the hash is written here from the specification and
** checked against the NIST example vectors in engine/test/test_sha256.c.
** It hashes every data block written (flush, compaction) and verified, so
** on x86-64 processors with the SHA extensions (Intel since Goldmont and
** Ice Lake, AMD since Zen) the block function uses them: about 5x fewer
** cycles than the portable rounds, which were a fifth of a random fill's
** CPU time. Which one runs is chosen once, from CPUID; the tests run both
** against each other and the vectors.
**
** Merkle tree (used by the SSTable metadata and by kvstore_merkle()):
**
**   leaves   the 32-byte SHA-256 of each data block, in file order
**   parent   SHA-256(0x01 || left || right)
**   odd      a node left alone at the end of a level is promoted unchanged
**   empty    zero leaves: SHA-256 of the empty string
**
** The 0x01 prefix keeps an inner node from ever being mistaken for a leaf
** hash of 64 bytes of data. Pairing level by level with promotion yields
** the same tree as splitting n leaves at the largest power of two below n
** (the RFC 6962 shape), which is what lets kvMerkleRoot fold the leaves
** with a small fixed stack and no allocation.
*/
#include "kvInt.h"

/* Round constants: first 32 bits of the fractional parts of the cube
** roots of the first 64 primes (FIPS 180-4, 4.2.2). */
static const u32 aK[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
  0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
  0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
  0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
  0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

#define ROTR(x,n)  (((x)>>(n)) | ((x)<<(32-(n))))
#define CH(x,y,z)  (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x,y,z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BSIG0(x)   (ROTR(x,2) ^ ROTR(x,13) ^ ROTR(x,22))
#define BSIG1(x)   (ROTR(x,6) ^ ROTR(x,11) ^ ROTR(x,25))
#define SSIG0(x)   (ROTR(x,7) ^ ROTR(x,18) ^ ((x)>>3))
#define SSIG1(x)   (ROTR(x,17) ^ ROTR(x,19) ^ ((x)>>10))

static u32 getBE32(const u8 *p){
  return ((u32)p[0]<<24) | ((u32)p[1]<<16) | ((u32)p[2]<<8) | (u32)p[3];
}
static void putBE32(u8 *p, u32 v){
  p[0] = (u8)(v>>24); p[1] = (u8)(v>>16); p[2] = (u8)(v>>8); p[3] = (u8)v;
}

/* Process one 64-byte block (FIPS 180-4, 6.2.2). */
static void sha256BlockPortable(u32 h[8], const u8 *p){
  u32 w[64];
  u32 a, b, c, d, e, f, g, hh;
  int t;
  for(t=0; t<16; t++) w[t] = getBE32(p + 4*t);
  for(t=16; t<64; t++){
    w[t] = SSIG1(w[t-2]) + w[t-7] + SSIG0(w[t-15]) + w[t-16];
  }
  a = h[0]; b = h[1]; c = h[2]; d = h[3];
  e = h[4]; f = h[5]; g = h[6]; hh = h[7];
  for(t=0; t<64; t++){
    u32 t1 = hh + BSIG1(e) + CH(e,f,g) + aK[t] + w[t];
    u32 t2 = BSIG0(a) + MAJ(a,b,c);
    hh = g; g = f; f = e; e = d + t1;
    d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d;
  h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

#if defined(__x86_64__) && defined(__GNUC__)
# define KV_SHA_NI 1
# include <cpuid.h>
# include <immintrin.h>

/*
** The same block function with the SHA extensions. SHA256RNDS2 does two
** rounds on the state held as two vectors, {A,B,E,F} and {C,D,G,H} (high
** lane first); SHA256MSG1 and SHA256MSG2 compute the message schedule
** four words at a time: group g+4 (words 4g+16..4g+19) is
**   MSG2(MSG1(group g, group g+1) + words 4g+9..4g+12, group g+3)
** where the middle term straddles groups g+2 and g+3.
**
** niLoad and niStore: the state h[0..7] as those two vectors, {a,b,c,d},
** {e,f,g,h} (low lane first) -> {f,e,b,a}, {h,g,d,c}; and back.
*/
__attribute__((target("sha,sse4.1,ssse3")))
static inline void niLoad(const u32 h[8], __m128i *pAbef, __m128i *pCdgh){
  __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i*)&h[0]), 0xB1);
  __m128i cdgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i*)&h[4]),
                                   0x1B);
  *pAbef = _mm_alignr_epi8(t, cdgh, 8);
  *pCdgh = _mm_blend_epi16(cdgh, t, 0xF0);
}
__attribute__((target("sha,sse4.1,ssse3")))
static inline void niStore(u32 h[8], __m128i abef, __m128i cdgh){
  __m128i t = _mm_shuffle_epi32(abef, 0x1B);
  cdgh = _mm_shuffle_epi32(cdgh, 0xB1);
  _mm_storeu_si128((__m128i*)&h[0], _mm_blend_epi16(t, cdgh, 0xF0));
  _mm_storeu_si128((__m128i*)&h[4], _mm_alignr_epi8(cdgh, t, 8));
}

/* nBlock 64-byte blocks at p into state h, with the SHA extensions. The
** state stays in the two vectors from one block to the next: loading and
** storing it for every block, and an indirect call per block, cost a
** third of the time. */
__attribute__((target("sha,sse4.1,ssse3")))
static void sha256BlocksNi(u32 h[8], const u8 *p, size_t nBlock){
  const __m128i mBswap = _mm_set_epi64x(0x0c0d0e0f08090a0bll,
                                        0x0405060700010203ll);
  __m128i abef, cdgh;
  niLoad(h, &abef, &cdgh);
  for(; nBlock>0; nBlock--, p+=64){
    __m128i abefSave = abef, cdghSave = cdgh;
    __m128i w[4], m;
    int i;
    for(i=0; i<16; i++){
      if( i<4 ){
        w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)(p + 16*i)),
                                mBswap);
      }
      m = _mm_add_epi32(w[i%4], _mm_loadu_si128((const __m128i*)&aK[4*i]));
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, m);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(m, 0x0E));
      if( i>=3 && i<15 ){
        /* group i+1 replaces group i-3, in the same slot */
        __m128i x = _mm_sha256msg1_epu32(w[(i+1)%4], w[(i+2)%4]);
        x = _mm_add_epi32(x, _mm_alignr_epi8(w[i%4], w[(i+3)%4], 4));
        w[(i+1)%4] = _mm_sha256msg2_epu32(x, w[i%4]);
      }
    }
    abef = _mm_add_epi32(abef, abefSave);
    cdgh = _mm_add_epi32(cdgh, cdghSave);
  }
  niStore(h, abef, cdgh);
}

static int cpuHasShaNi(void){
  unsigned a, b, c, d;
  if( !__get_cpuid(1, &a, &b, &c, &d) ) return 0;
  if( !(c & bit_SSE4_1) || !(c & bit_SSSE3) ) return 0;
  if( !__get_cpuid_count(7, 0, &a, &b, &c, &d) ) return 0;
  return (b & (1u<<29))!=0;               /* CPUID.7.0:EBX.SHA */
}
#endif

static void sha256BlocksPortable(u32 h[8], const u8 *p, size_t nBlock){
  for(; nBlock>0; nBlock--, p+=64) sha256BlockPortable(h, p);
}

/* 1: the SHA extensions; 0: the portable rounds; -1: not chosen yet. */
static _Atomic int eShaAccel = -1;

static int shaAccel(void){
  int e = atomic_load_explicit(&eShaAccel, memory_order_relaxed);
  return e<0 ? kvSha256SetAccel(1) : e;
}

/* nBlock whole blocks at p into state h. */
static void sha256Blocks(u32 h[8], const u8 *p, size_t nBlock){
#ifdef KV_SHA_NI
  if( shaAccel() ){
    sha256BlocksNi(h, p, nBlock);
    return;
  }
#endif
  sha256BlocksPortable(h, p, nBlock);
}

int kvSha256SetAccel(int bAccel){
  int e = 0;
#ifdef KV_SHA_NI
  e = bAccel && cpuHasShaNi();
#else
  (void)bAccel;
#endif
  atomic_store_explicit(&eShaAccel, e, memory_order_relaxed);
  return e;
}

void kvSha256Init(KvSha256 *p){
  /* First 32 bits of the fractional parts of the square roots of the
  ** first 8 primes (FIPS 180-4, 5.3.3). */
  static const u32 aInit[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
  };
  memcpy(p->h, aInit, sizeof(aInit));
  p->nByte = 0;
  p->nBuf = 0;
}

void kvSha256Update(KvSha256 *p, const void *a, size_t n){
  const u8 *z = (const u8*)a;
  assert( p->nBuf<64 );
  assert( z!=0 || n==0 );
  p->nByte += n;
  if( p->nBuf>0 ){
    size_t nTake = 64 - p->nBuf;
    if( nTake>n ) nTake = n;
    memcpy(p->aBuf + p->nBuf, z, nTake);
    p->nBuf += (u32)nTake;
    z += nTake;
    n -= nTake;
    if( p->nBuf<64 ) return;
    sha256Blocks(p->h, p->aBuf, 1);
    p->nBuf = 0;
  }
  /* Whole blocks straight from the caller's memory, no copy. */
  if( n>=64 ){
    sha256Blocks(p->h, z, n/64);
    z += n & ~(size_t)63;
    n &= 63;
  }
  if( n>0 ){
    memcpy(p->aBuf, z, n);
    p->nBuf = (u32)n;
  }
}

void kvSha256Final(KvSha256 *p, u8 aOut[32]){
  u64 nBit = p->nByte * 8;
  int i;
  /* Padding (FIPS 180-4, 5.1.1): a 1 bit, zeros up to 56 mod 64, then the
  ** message length in bits as a big-endian 64-bit integer. */
  p->aBuf[p->nBuf++] = 0x80;
  if( p->nBuf>56 ){
    memset(p->aBuf + p->nBuf, 0, 64 - p->nBuf);
    sha256Blocks(p->h, p->aBuf, 1);
    p->nBuf = 0;
  }
  memset(p->aBuf + p->nBuf, 0, 56 - p->nBuf);
  putBE32(p->aBuf + 56, (u32)(nBit>>32));
  putBE32(p->aBuf + 60, (u32)nBit);
  sha256Blocks(p->h, p->aBuf, 1);
  for(i=0; i<8; i++) putBE32(aOut + 4*i, p->h[i]);
  /* Leave no trace of the data in the context. */
  memset(p, 0, sizeof(*p));
}

void kvSha256(const void *a, size_t n, u8 aOut[32]){
  KvSha256 ctx;
  kvSha256Init(&ctx);
  kvSha256Update(&ctx, a, n);
  kvSha256Final(&ctx, aOut);
}

/* SHA-256(0x01 || left || right) into aOut (may alias either input). */
static void merkleParent(const u8 *pLeft, const u8 *pRight, u8 aOut[32]){
  static const u8 prefix = 0x01;
  KvSha256 ctx;
  kvSha256Init(&ctx);
  kvSha256Update(&ctx, &prefix, 1);
  kvSha256Update(&ctx, pLeft, 32);
  kvSha256Update(&ctx, pRight, 32);
  kvSha256Final(&ctx, aOut);
}

void kvMerkleRoot(const u8 *aLeaf, size_t nLeaf, u8 aOut[32]){
  /* aStack[i] is the root of a complete subtree of 2^aHeight[i] leaves;
  ** heights strictly decrease towards the top, as the bits of a binary
  ** counter do, so 64 slots cover any size_t leaf count. */
  u8 aStack[64][32];
  int aHeight[64];
  int nStack = 0;
  size_t i;

  assert( aLeaf!=0 || nLeaf==0 );
  if( nLeaf==0 ){
    kvSha256("", 0, aOut);
    return;
  }
  for(i=0; i<nLeaf; i++){
    memcpy(aStack[nStack], aLeaf + 32*i, 32);
    aHeight[nStack] = 0;
    nStack++;
    while( nStack>=2 && aHeight[nStack-2]==aHeight[nStack-1] ){
      merkleParent(aStack[nStack-2], aStack[nStack-1], aStack[nStack-2]);
      aHeight[nStack-2]++;
      nStack--;
    }
  }
  /* The leftover subtrees, smallest on top, join from the right: that is
  ** where promotion of odd nodes puts them. */
  while( nStack>=2 ){
    merkleParent(aStack[nStack-2], aStack[nStack-1], aStack[nStack-2]);
    nStack--;
  }
  memcpy(aOut, aStack[0], 32);
}
