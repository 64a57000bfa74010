/*
** crc32.c - CRC32 with zlib's polynomial and values.
**
** Every WAL record, SSTable block and file part carries one, and every
** block is checked the first time it is read, so the CRC runs over every
** byte written and read. zlib's crc32() does about one and a half bytes a
** cycle. On x86-64 processors with carry-less multiplication (PCLMULQDQ,
** every one since 2010) inputs of 16 bytes and more are instead folded 64
** bytes at a time:
** the running remainder, as four 128-bit lanes, is multiplied by x^k mod P
** for the distance k it moves and added (xor) to the data k bits further
** on; at the end the lanes are folded into one, reduced to 64 and 32 bits,
** and a Barrett reduction gives the remainder. An input whose length is
** not a multiple of 16 is first padded in front so that it is (see
** foldHead), which leaves its CRC as it was. Where the processor has
** AVX-512 and VPCLMULQDQ, the same fold runs on 512-bit registers, four
** lanes each, 256 bytes a round. Everything works on the
** bit-reflected representation zlib uses, so the constants below are the
** reflected values of x^k mod P (P = 0x104C11DB7) for the fold distances,
** and of P and floor(x^64 / P) for the reduction. Shorter inputs go to
** zlib. test_crc32.c compares every path with zlib on every length up to
** a few blocks.
*/
#include "kvInt.h"

#include <zlib.h>

/* zlib takes uInt lengths: feed it in pieces. */
static u32 zlibCrc(u32 crc, const u8 *a, size_t n){
  uLong c = crc;
  while( n>0 ){
    uInt nPiece = n>0x40000000 ? 0x40000000 : (uInt)n;
    c = crc32(c, a, nPiece);
    a += nPiece;
    n -= nPiece;
  }
  return (u32)c;
}

#if defined(__x86_64__) && defined(__GNUC__)
# define KV_CRC_CLMUL 1
# include <cpuid.h>
# include <immintrin.h>

/* Fold constants (bit-reflected, as zlib's CRC): K1, K2 move a lane 512
** bits on (four lanes ahead), K3, K4 move it 128 bits (one lane), K5
** folds 64 bits into 32; KP is P and KU floor(x^64 / P), for the Barrett
** reduction. Published with Intel's white paper on CRC computation with
** PCLMULQDQ; checked here by test_crc32.c against zlib. */
#define K1 0x154442bd4ull
#define K2 0x1c6e41596ull
#define K3 0x1751997d0ull
#define K4 0x0ccaa009eull
#define K5 0x163cd6124ull
#define KP 0x1db710641ull
#define KU 0x1f7011641ull

/* The last steps of both folds: four 128-bit lanes x0..x3 (x0 the
** earliest data) and the n remaining bytes at a (n % 16 == 0) folded into
** one lane, then reduced to the 32-bit raw remainder. */
__attribute__((target("pclmul,sse4.1")))
static inline u32 foldFinish(__m128i x0, __m128i x1, __m128i x2, __m128i x3,
                             const u8 *a, size_t n){
  const __m128i k34 = _mm_set_epi64x((long long)K4, (long long)K3);
  const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
  __m128i t;

  /* Four lanes into one. */
#define FOLD1(x, y) \
    t = _mm_clmulepi64_si128(x, k34, 0x11); \
    x = _mm_clmulepi64_si128(x, k34, 0x00); \
    x = _mm_xor_si128(_mm_xor_si128(x, t), y)
  FOLD1(x0, x1);
  FOLD1(x0, x2);
  FOLD1(x0, x3);

  /* The remaining 16-byte pieces. */
  while( n>=16 ){
    FOLD1(x0, _mm_loadu_si128((const __m128i*)a));
    a += 16;
    n -= 16;
  }
#undef FOLD1

  /* 128 -> 64 bits (appending the 32 zero bits the remainder needs). */
  t = _mm_clmulepi64_si128(x0, k34, 0x10);      /* low half * K4 */
  x0 = _mm_xor_si128(_mm_srli_si128(x0, 8), t);
  /* 64 -> 32 bits */
  t = _mm_clmulepi64_si128(_mm_and_si128(x0, mask32),
                           _mm_cvtsi64_si128((long long)K5), 0x00);
  x0 = _mm_xor_si128(_mm_srli_si128(x0, 4), t);
  /* Barrett reduction to the 32-bit remainder. */
  {
    const __m128i kpu = _mm_set_epi64x((long long)KU, (long long)KP);
    t = _mm_clmulepi64_si128(_mm_and_si128(x0, mask32), kpu, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, mask32), kpu, 0x00);
    x0 = _mm_xor_si128(x0, t);
  }
  return (u32)_mm_extract_epi32(x0, 1);
}

/* pshufb indices: loaded from aShiftIdx + r (r < 16), they move the bytes
** of a register up by 16 - r places, zeros coming in below (an index with
** its top bit set selects zero). */
static const u8 aShiftIdx[32] = {
  0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
};

/* The folds work from state 0 on whole 16-byte lanes, the first four
** loaded at once. A message M of any length n >= 16, from raw state s, is
** made into such lanes without changing its CRC: the CRC from state s is
** the CRC from state 0 of M with s added (xor) to its first four bytes,
** and from state 0 zero bytes in front change nothing. So the first
** n % 16 bytes of M (r) go to the top of the first lane, zeros below them,
** the next pieces fill the other lanes, and when M is shorter than four
** lanes, zero lanes go in front. Sets *px0..*px3 and returns the bytes of M
** they hold; the rest of M is whole lanes. */
__attribute__((target("pclmul,sse4.1")))
static inline size_t foldHead(u32 s, const u8 *a, size_t n, __m128i *px0,
                              __m128i *px1, __m128i *px2, __m128i *px3){
  size_t r = n % 16;
  __m128i c0 = _mm_shuffle_epi8(
      _mm_xor_si128(_mm_loadu_si128((const __m128i*)a),
                    _mm_cvtsi32_si128((int)s)),
      _mm_loadu_si128((const __m128i*)(aShiftIdx + r)));
  __m128i c1 = _mm_loadu_si128((const __m128i*)(a + r));
  if( r<4 ){
    /* the bytes of s that fell out of the first lane */
    c1 = _mm_xor_si128(c1, _mm_cvtsi32_si128((int)(s >> 8*r)));
  }
  if( n>=48 ){
    *px0 = c0;
    *px1 = c1;
    *px2 = _mm_loadu_si128((const __m128i*)(a + r + 16));
    *px3 = _mm_loadu_si128((const __m128i*)(a + r + 32));
    return r + 48;
  }
  if( n>=32 ){
    *px0 = _mm_setzero_si128();
    *px1 = c0;
    *px2 = c1;
    *px3 = _mm_loadu_si128((const __m128i*)(a + r + 16));
    return n;
  }
  *px0 = *px1 = _mm_setzero_si128();
  *px2 = c0;
  *px3 = c1;
  return n;
}

/* Raw (not inverted) CRC state s over a[0..n), n >= 16. */
__attribute__((target("pclmul,sse4.1")))
static u32 foldCrc(u32 s, const u8 *a, size_t n){
  const __m128i k12 = _mm_set_epi64x((long long)K2, (long long)K1);
  __m128i x0, x1, x2, x3, t;
  size_t nHead = foldHead(s, a, n, &x0, &x1, &x2, &x3);

  a += nHead;
  n -= nHead;

  /* Four lanes, 64 bytes a round. */
  while( n>=64 ){
#define FOLD(x, k, off) \
    t = _mm_clmulepi64_si128(x, k, 0x11); \
    x = _mm_clmulepi64_si128(x, k, 0x00); \
    x = _mm_xor_si128(_mm_xor_si128(x, t), \
                      _mm_loadu_si128((const __m128i*)(a + off)))
    FOLD(x0, k12, 0);
    FOLD(x1, k12, 16);
    FOLD(x2, k12, 32);
    FOLD(x3, k12, 48);
#undef FOLD
    a += 64;
    n -= 64;
  }
  return foldFinish(x0, x1, x2, x3, a, n);
}

/* The same fold 512 bits wide (VPCLMULQDQ on AVX-512 registers): each of
** the four registers holds four lanes, so a round takes 256 bytes and
** moves every lane 2048 bits on (K2048L, K2048H, the reflected x^2080 and
** x^2016 mod P, computed as K1..K5 are and checked by test_crc32.c). At
** the end the four registers fold into one (512 bits apart: K1, K2), 64
** bytes go on a round into that one while they last, and its four lanes
** finish as foldCrc's do. Raw state s over a[0..n), n >= 256. */
#define K2048L 0x11542778aull
#define K2048H 0x1322d1430ull

__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.1")))
static u32 foldCrcWide(u32 s, const u8 *a, size_t n){
  /* (not _mm512_broadcast_i32x4 nor _mm512_extracti32x4_epi32: GCC 12's
  ** versions read an undefined value, which -Winit-self rejects) */
  const __m512i k2048 = _mm512_set_epi64(
      (long long)K2048H, (long long)K2048L, (long long)K2048H,
      (long long)K2048L, (long long)K2048H, (long long)K2048L,
      (long long)K2048H, (long long)K2048L);
  const __m512i k512 = _mm512_set_epi64(
      (long long)K2, (long long)K1, (long long)K2, (long long)K1,
      (long long)K2, (long long)K1, (long long)K2, (long long)K1);
  __m512i z0, z1, z2, z3;
  __m128i x0, x1, x2, x3;
  size_t nHead = foldHead(s, a, n, &x0, &x1, &x2, &x3);

  a += nHead;
  n -= nHead;
  z0 = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(
           _mm512_zextsi128_si512(x0), x1, 1), x2, 2), x3, 3);
  z1 = _mm512_loadu_si512(a);
  z2 = _mm512_loadu_si512(a + 64);
  z3 = _mm512_loadu_si512(a + 128);
  a += 192;
  n -= 192;

  /* x * k, both halves, xor y: one three-way xor (truth table 0x96). */
#define ZFOLD(x, k, y) \
    x = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00), \
                                  _mm512_clmulepi64_epi128(x, k, 0x11), \
                                  y, 0x96)
  while( n>=256 ){
    ZFOLD(z0, k2048, _mm512_loadu_si512(a));
    ZFOLD(z1, k2048, _mm512_loadu_si512(a + 64));
    ZFOLD(z2, k2048, _mm512_loadu_si512(a + 128));
    ZFOLD(z3, k2048, _mm512_loadu_si512(a + 192));
    a += 256;
    n -= 256;
  }
  ZFOLD(z0, k512, z1);
  ZFOLD(z0, k512, z2);
  ZFOLD(z0, k512, z3);
  while( n>=64 ){
    ZFOLD(z0, k512, _mm512_loadu_si512(a));
    a += 64;
    n -= 64;
  }
#undef ZFOLD
  return foldFinish(_mm512_maskz_extracti32x4_epi32(0xf, z0, 0),
                    _mm512_maskz_extracti32x4_epi32(0xf, z0, 1),
                    _mm512_maskz_extracti32x4_epi32(0xf, z0, 2),
                    _mm512_maskz_extracti32x4_epi32(0xf, z0, 3), a, n);
}

static int cpuHasClmul(void){
  unsigned a, b, c, d;
  if( !__get_cpuid(1, &a, &b, &c, &d) ) return 0;
  return (c & bit_PCLMUL) && (c & bit_SSE4_1);
}

/* AVX-512 Foundation and VPCLMULQDQ on the processor, and the AVX-512
** state (opmask, both halves of the 32 registers) enabled by the system
** in XCR0. */
static int cpuHasWideClmul(void){
  unsigned a, b, c, d, lo, hi;
  if( !cpuHasClmul() ) return 0;
  if( !__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) ) return 0;
  if( !__get_cpuid_count(7, 0, &a, &b, &c, &d) ) return 0;
  if( !(b & bit_AVX512F) || !(c & bit_VPCLMULQDQ) ) return 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  (void)hi;
  return (lo & 0xe6)==0xe6;
}
#endif

/* KV_CRC_ZLIB, KV_CRC_CLMUL128 or KV_CRC_CLMUL512; -1: not chosen yet. */
static _Atomic int eAccel = -1;

int kvCrc32SetAccel(int eMax){
  int e = KV_CRC_ZLIB;
#ifdef KV_CRC_CLMUL
  if( eMax>=KV_CRC_CLMUL512 && cpuHasWideClmul() ){
    e = KV_CRC_CLMUL512;
  }else if( eMax>=KV_CRC_CLMUL128 && cpuHasClmul() ){
    e = KV_CRC_CLMUL128;
  }
#else
  (void)eMax;
#endif
  atomic_store_explicit(&eAccel, e, memory_order_relaxed);
  return e;
}

u32 kvCrc32Extend(u32 crc, const void *p, size_t n){
  const u8 *a = (const u8*)p;
#ifdef KV_CRC_CLMUL
  if( n>=16 ){
    int e = atomic_load_explicit(&eAccel, memory_order_relaxed);
    if( e<0 ) e = kvCrc32SetAccel(KV_CRC_CLMUL512);
    if( e==KV_CRC_CLMUL512 && n>=256 ) return ~foldCrcWide(~crc, a, n);
    if( e!=KV_CRC_ZLIB ) return ~foldCrc(~crc, a, n);
  }
#endif
  return zlibCrc(crc, a, n);
}

u32 kvCrc32(const void *p, size_t n){
  return kvCrc32Extend(0, p, n);
}
