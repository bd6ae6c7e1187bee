/* SHA-256's compression function (FIPS 180-4 section 6.2.2), portable and
 * with the x86 SHA extensions; see sha256.h for why certmint has one. */
#include "util/sha256.h"

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CM_SHA256_SHAEXT 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* K(0..63): the first 32 bits of the fractional parts of the cube roots of
 * the first 64 primes (FIPS 180-4 section 4.2.2). */
static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static inline uint32_t load_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* One block, as section 6.2.2 writes it: the message schedule W, then 64
 * rounds over the working variables a..h, added into the state. */
static void compress_block(uint32_t st[8], const unsigned char *blk)
{
    uint32_t w[64], a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6],
                    h = st[7];

    for (int t = 0; t < 16; t++)
        w[t] = load_be32(blk + 4 * t);
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = s1 + w[t - 7] + s0 + w[t - 16];
    }
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha256_k[t] + w[t];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

static void compress_portable(uint32_t state[8], const unsigned char *blocks, size_t nblocks)
{
    for (size_t i = 0; i < nblocks; i++)
        compress_block(state, blocks + SHA256_BLOCK * i);
}

#ifdef CM_SHA256_SHAEXT
/* The SHA extensions keep the eight working variables in two registers,
 * ABEF and CDGH (A and C in the top lanes); SHA256RNDS2 runs two rounds
 * with W+K from the low two lanes of its third operand and returns the new
 * ABEF, the old ABEF being the new CDGH. SHA256MSG1 and SHA256MSG2 compute
 * the schedule four words at a time: msg1(W[t-16..t-13], W[t-12..t-9])
 * gives W[t-16] + s0(W[t-15]) for each, plus W[t-7..t-4] (an alignr of
 * the two vectors before), then msg2(.., W[t-4..t-1]) adds s1. */
#define SHAEXT_TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* Four rounds from the schedule vector wv of rounds 4q..4q+3. */
#define SHAEXT_ROUNDS4(q, wv)                                                                      \
    do {                                                                                           \
        __m128i wk_ = _mm_add_epi32((wv), _mm_loadu_si128((const __m128i *)(sha256_k + 4 * (q)))); \
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk_);                                             \
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk_, 0x0e));                    \
    } while (0)

/* W[4q..4q+3] into m0, from m0 = W[4q-16..], m1 = W[4q-12..],
 * m2 = W[4q-8..], m3 = W[4q-4..]. */
#define SHAEXT_SCHEDULE(m0, m1, m2, m3)                                                            \
    (m0) = _mm_sha256msg2_epu32(                                                                   \
        _mm_add_epi32(_mm_sha256msg1_epu32((m0), (m1)), _mm_alignr_epi8((m3), (m2), 4)), (m3))

/* One block, the message words W0..W15 in m0..m3 (W0 in m0's low lane),
 * into the state *abef_io, *cdgh_io. The schedule lives in four registers
 * that rotate through a whole turn in each pass of the loop, so none is
 * indexed (an array would be kept in memory). Always inlined: a call would
 * pass the registers through memory on PBKDF2's critical path. */
SHAEXT_TARGET static inline __attribute__((always_inline)) void
shaext_block(__m128i *abef_io, __m128i *cdgh_io, __m128i m0, __m128i m1, __m128i m2, __m128i m3)
{
    __m128i abef = *abef_io, cdgh = *cdgh_io;

    SHAEXT_ROUNDS4(0, m0);
    SHAEXT_ROUNDS4(1, m1);
    SHAEXT_ROUNDS4(2, m2);
    SHAEXT_ROUNDS4(3, m3);
    for (int q = 4; q < 16; q += 4) {
        SHAEXT_SCHEDULE(m0, m1, m2, m3);
        SHAEXT_ROUNDS4(q, m0);
        SHAEXT_SCHEDULE(m1, m2, m3, m0);
        SHAEXT_ROUNDS4(q + 1, m1);
        SHAEXT_SCHEDULE(m2, m3, m0, m1);
        SHAEXT_ROUNDS4(q + 2, m2);
        SHAEXT_SCHEDULE(m3, m0, m1, m2);
        SHAEXT_ROUNDS4(q + 3, m3);
    }
    *abef_io = _mm_add_epi32(*abef_io, abef);
    *cdgh_io = _mm_add_epi32(*cdgh_io, cdgh);
}

/* H0..H7 (two vectors: A B C D, E F G H) to the ABEF and CDGH registers. */
SHAEXT_TARGET static inline __attribute__((always_inline)) void
shaext_lanes(__m128i *abef, __m128i *cdgh, __m128i abcd, __m128i efgh)
{
    __m128i badc = _mm_shuffle_epi32(abcd, 0xb1), hgfe = _mm_shuffle_epi32(efgh, 0x1b);

    *abef = _mm_alignr_epi8(badc, hgfe, 8);
    *cdgh = _mm_blend_epi16(hgfe, badc, 0xf0);
}

/* Back: ABEF -> A B E F, CDGH -> G H C D, then A B C D and E F G H. */
SHAEXT_TARGET static inline __attribute__((always_inline)) void
shaext_words(__m128i *abcd, __m128i *efgh, __m128i abef, __m128i cdgh)
{
    __m128i abef_r = _mm_shuffle_epi32(abef, 0x1b), ghcd = _mm_shuffle_epi32(cdgh, 0xb1);

    *abcd = _mm_blend_epi16(abef_r, ghcd, 0xf0);
    *efgh = _mm_alignr_epi8(ghcd, abef_r, 8);
}

SHAEXT_TARGET static void compress_shaext(uint32_t state[8], const unsigned char *blocks,
                                          size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i abef, cdgh, abcd, efgh;

    shaext_lanes(&abef, &cdgh, _mm_loadu_si128((const __m128i *)state),
                 _mm_loadu_si128((const __m128i *)(state + 4)));
    for (size_t i = 0; i < nblocks; i++) {
        const __m128i *p = (const __m128i *)(blocks + SHA256_BLOCK * i);
        shaext_block(&abef, &cdgh, _mm_shuffle_epi8(_mm_loadu_si128(p), bswap),
                     _mm_shuffle_epi8(_mm_loadu_si128(p + 1), bswap),
                     _mm_shuffle_epi8(_mm_loadu_si128(p + 2), bswap),
                     _mm_shuffle_epi8(_mm_loadu_si128(p + 3), bswap));
    }
    shaext_words(&abcd, &efgh, abef, cdgh);
    _mm_storeu_si128((__m128i *)state, abcd);
    _mm_storeu_si128((__m128i *)(state + 4), efgh);
}

/* sha256_hmac_iterate with U, T and the midstates in registers: each step
 * is the two compressions and four shuffles, nothing through memory. The
 * padding words of the 96-byte message: W8 = 0x80000000, W15 = 768. */
SHAEXT_TARGET static void hmac_iterate_shaext(unsigned char t[SHA256_LEN],
                                              unsigned char u[SHA256_LEN], const uint32_t in[8],
                                              const uint32_t outer[8], uint64_t n)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    const __m128i pad0 = _mm_set_epi32(0, 0, 0, (int)0x80000000u),
                  pad1 = _mm_set_epi32(768, 0, 0, 0);
    __m128i in_abef, in_cdgh, out_abef, out_cdgh;
    __m128i u0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)u), bswap);
    __m128i u1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(u + 16)), bswap);
    __m128i t0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)t), bswap);
    __m128i t1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(t + 16)), bswap);

    shaext_lanes(&in_abef, &in_cdgh, _mm_loadu_si128((const __m128i *)in),
                 _mm_loadu_si128((const __m128i *)(in + 4)));
    shaext_lanes(&out_abef, &out_cdgh, _mm_loadu_si128((const __m128i *)outer),
                 _mm_loadu_si128((const __m128i *)(outer + 4)));
    for (uint64_t j = 0; j < n; j++) {
        __m128i abef = in_abef, cdgh = in_cdgh;
        shaext_block(&abef, &cdgh, u0, u1, pad0, pad1);
        shaext_words(&u0, &u1, abef, cdgh);
        abef = out_abef;
        cdgh = out_cdgh;
        shaext_block(&abef, &cdgh, u0, u1, pad0, pad1);
        shaext_words(&u0, &u1, abef, cdgh);
        t0 = _mm_xor_si128(t0, u0);
        t1 = _mm_xor_si128(t1, u1);
    }
    _mm_storeu_si128((__m128i *)u, _mm_shuffle_epi8(u0, bswap));
    _mm_storeu_si128((__m128i *)(u + 16), _mm_shuffle_epi8(u1, bswap));
    _mm_storeu_si128((__m128i *)t, _mm_shuffle_epi8(t0, bswap));
    _mm_storeu_si128((__m128i *)(t + 16), _mm_shuffle_epi8(t1, bswap));
}

/* CPUID: SHA (leaf 7 EBX bit 29), SSE4.1 (leaf 1 ECX bit 19) and SSSE3
 * (leaf 1 ECX bit 9). */
static int cpu_has_shaext(void)
{
    unsigned a = 0, b = 0, c = 0, d = 0;

    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19)) || !(c & (1u << 9)))
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (b & (1u << 29)) != 0;
}
#endif

/* 0: not asked yet, 1: no SHA extensions, 2: SHA extensions. Atomic: any
 * thread may load a key first; CPUID traps to the hypervisor in a VM, so
 * it is asked once. */
static atomic_int sha256_cpu;
static atomic_int sha256_portable_only;

int sha256_have_shaext(void)
{
    int v = atomic_load_explicit(&sha256_cpu, memory_order_relaxed);

    if (v == 0) {
#ifdef CM_SHA256_SHAEXT
        v = cpu_has_shaext() ? 2 : 1;
#else
        v = 1;
#endif
        atomic_store_explicit(&sha256_cpu, v, memory_order_relaxed);
    }
    return v == 2;
}

sha256_compress_fn *sha256_compressor(void)
{
#ifdef CM_SHA256_SHAEXT
    if (!atomic_load_explicit(&sha256_portable_only, memory_order_relaxed) && sha256_have_shaext())
        return compress_shaext;
#endif
    return compress_portable;
}

int sha256_is_hw(void)
{
    return sha256_compressor() != compress_portable;
}

void sha256_force_portable(int on)
{
    atomic_store_explicit(&sha256_portable_only, on != 0, memory_order_relaxed);
}

void sha256_init(uint32_t state[8])
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(state, h0, sizeof(h0));
}

void sha256_store(unsigned char out[SHA256_LEN], const uint32_t state[8])
{
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(state[i] >> 24);
        out[4 * i + 1] = (unsigned char)(state[i] >> 16);
        out[4 * i + 2] = (unsigned char)(state[i] >> 8);
        out[4 * i + 3] = (unsigned char)state[i];
    }
}

/* The whole blocks of data, then the rest with the padding: a 1 bit,
 * zeros, and the message length in bits as 64 bits (one or two blocks). */
void sha256_final(unsigned char out[SHA256_LEN], uint32_t state[8], uint64_t done,
                  const unsigned char *data, size_t len)
{
    sha256_compress_fn *f = sha256_compressor();
    unsigned char tail[2 * SHA256_BLOCK];
    size_t whole = len / SHA256_BLOCK * SHA256_BLOCK, rest = len - whole;
    size_t tlen = rest < SHA256_BLOCK - 8 ? SHA256_BLOCK : 2 * SHA256_BLOCK;
    uint64_t bits = (done + len) * 8;

    if (whole > 0)
        f(state, data, whole / SHA256_BLOCK);
    memset(tail, 0, sizeof(tail));
    if (rest > 0)
        memcpy(tail, data + whole, rest);
    tail[rest] = 0x80;
    for (int i = 0; i < 8; i++)
        tail[tlen - 1 - i] = (unsigned char)(bits >> (8 * i));
    f(state, tail, tlen / SHA256_BLOCK);
    sha256_store(out, state);
    OPENSSL_cleanse(tail, sizeof(tail)); /* a passphrase's last bytes, in the KDF */
}

/* sha256_hmac_iterate on a compression function: U and its padding in one
 * block, the state through memory. */
static void hmac_iterate_with(sha256_compress_fn *f, unsigned char t[SHA256_LEN],
                              unsigned char u[SHA256_LEN], const uint32_t in[8],
                              const uint32_t outer[8], uint64_t n)
{
    unsigned char blk[SHA256_BLOCK];
    uint32_t s[8];

    memcpy(blk, u, SHA256_LEN);
    memset(blk + SHA256_LEN, 0, sizeof(blk) - SHA256_LEN);
    blk[SHA256_LEN] = 0x80;
    blk[SHA256_BLOCK - 2] = 0x03; /* 768 bits */
    for (uint64_t j = 0; j < n; j++) {
        memcpy(s, in, sizeof(s));
        f(s, blk, 1);
        sha256_store(blk, s);
        memcpy(s, outer, sizeof(s));
        f(s, blk, 1);
        sha256_store(blk, s);
        for (size_t i = 0; i < SHA256_LEN; i++)
            t[i] ^= blk[i];
    }
    memcpy(u, blk, SHA256_LEN);
    OPENSSL_cleanse(blk, sizeof(blk));
    OPENSSL_cleanse(s, sizeof(s));
}

void sha256_hmac_iterate(unsigned char t[SHA256_LEN], unsigned char u[SHA256_LEN],
                         const uint32_t in[8], const uint32_t outer[8], uint64_t n)
{
#ifdef CM_SHA256_SHAEXT
    if (sha256_compressor() == compress_shaext) {
        hmac_iterate_shaext(t, u, in, outer, n);
        return;
    }
#endif
    hmac_iterate_with(compress_portable, t, u, in, outer, n);
}
