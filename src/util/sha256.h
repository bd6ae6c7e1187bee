/* certmint's own SHA-256 compression function (FIPS 180-4 section 6.2.2),
 * for the one place where libcrypto's digest interface costs more than
 * the hash: PBKDF2's iterations (key/keystore.c key_pbkdf2_sha256), where
 * every HMAC step is exactly one compression of a fixed midstate over one
 * pre-padded block, which EVP can only reach by copying a digest context
 * and padding again per step. Two implementations with the same results:
 * portable C, and the x86 SHA extensions where the CPU has them (chosen
 * at run time by CPUID). Every other SHA-256 in certmint is libcrypto's. */
#ifndef CM_UTIL_SHA256_H
#define CM_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_BLOCK 64
#define SHA256_LEN 32

/* Compresses nblocks 64-byte blocks (big-endian words, as in the message)
 * into state (H0..H7, FIPS 180-4 section 6.2.2 steps 1-4). */
typedef void sha256_compress_fn(uint32_t state[8], const unsigned char *blocks, size_t nblocks);

/* The compression function for this CPU (the SHA extensions' when it has
 * them and sha256_force_portable is off, else the portable one); callers in
 * a loop fetch it once. Thread-safe. */
sha256_compress_fn *sha256_compressor(void);

/* The initial hash value H(0) (FIPS 180-4 section 5.3.3). */
void sha256_init(uint32_t state[8]);

/* Finishes a hash: state has absorbed done bytes (a multiple of 64), data
 * is the rest of the message, of any length; pads it (section 5.1.1),
 * compresses and writes the digest to out (which may be data). state is
 * left changed. */
void sha256_final(unsigned char out[SHA256_LEN], uint32_t state[8], uint64_t done,
                  const unsigned char *data, size_t len);

/* state as the 32-byte digest (big-endian words). */
void sha256_store(unsigned char out[SHA256_LEN], const uint32_t state[8]);

/* PBKDF2-HMAC-SHA256's iterations (RFC 8018 section 5.2) from the HMAC
 * midstates in and outer (SHA-256's state after the key block XOR ipad,
 * opad): n times u = HMAC(u), t ^= u. Each is two compressions of a 96-byte
 * message (a midstate's block, then u) whose padding is fixed. Here rather
 * than in the caller: the SHA extensions' version keeps u, t and both
 * midstates in registers across iterations, where a call per compression
 * would convert them to bytes and back on the critical path. */
void sha256_hmac_iterate(unsigned char t[SHA256_LEN], unsigned char u[SHA256_LEN],
                         const uint32_t in[8], const uint32_t outer[8], uint64_t n);

/* 1 when this CPU and build have the SHA extensions' implementation. */
int sha256_have_shaext(void);

/* 1 when sha256_compressor() is the SHA extensions' function. Without
 * them, libcrypto's assembly SHA-256 (SSSE3, AVX2) is faster than the
 * portable C here (PBKDF2 600,000 iterations: 0.18 s against 0.29 s), so
 * a caller that has both takes libcrypto's then. */
int sha256_is_hw(void);

/* For the unit tests only: on != 0 makes sha256_compressor return the
 * portable function, 0 goes back to the CPU's choice. */
void sha256_force_portable(int on);

#endif
