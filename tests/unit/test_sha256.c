/* Unit tests: util/sha256.c's compression function, each implementation
 * (portable, and the SHA extensions where this CPU has them), through the
 * whole hash that sha256_final builds on it: the FIPS 180-4 examples
 * (NIST's SHA256.pdf: "abc", the 448-bit message, one million 'a') and
 * libcrypto's SHA-256 over every length around the padding's edges. */
#include "unit.h"
#include "util/sha256.h"

#include <openssl/evp.h>
#include <openssl/pkcs12.h>

/* The implementations to test: [0] portable, [1] SHA extensions. */
static int impl_count(void)
{
    return sha256_have_shaext() ? 2 : 1;
}

static void impl_use(int i)
{
    sha256_force_portable(i == 0);
}

/* SHA-256 of data, as hex. */
static void digest_hex(char hex[2 * SHA256_LEN + 1], const unsigned char *data, size_t len)
{
    uint32_t st[8];
    unsigned char md[SHA256_LEN];

    sha256_init(st);
    sha256_final(md, st, 0, data, len);
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

TEST(fips180_examples)
{
    char hex[2 * SHA256_LEN + 1];
    static const char m448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    unsigned char *million = malloc(1000000);

    if (million == NULL) {
        UNIT_FAIL("out of memory");
        return;
    }
    memset(million, 'a', 1000000);
    for (int i = 0; i < impl_count(); i++) {
        impl_use(i);
        digest_hex(hex, (const unsigned char *)"abc", 3);
        CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        digest_hex(hex, (const unsigned char *)m448, strlen(m448));
        CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        digest_hex(hex, million, 1000000);
        CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
        digest_hex(hex, (const unsigned char *)"", 0);
        CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
    sha256_force_portable(0);
    free(million);
}

/* Lengths 0..300 (one and two padding blocks, whole blocks, several
 * blocks per call) against libcrypto, and a state that has absorbed
 * blocks before (sha256_final's done). */
TEST(as_libcrypto)
{
    unsigned char msg[300], want[SHA256_LEN], got[SHA256_LEN];
    unsigned int n = 0;

    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)(i * 7 + 3);
    for (int i = 0; i < impl_count(); i++) {
        impl_use(i);
        for (size_t len = 0; len <= sizeof(msg); len++) {
            uint32_t st[8];
            size_t pre = len / SHA256_BLOCK / 2 * SHA256_BLOCK;
            CHECK(EVP_Digest(msg, len, want, &n, EVP_sha256(), NULL) == 1);
            sha256_init(st);
            sha256_final(got, st, 0, msg, len);
            if (memcmp(want, got, sizeof(want)) != 0)
                UNIT_FAIL("implementation %d, %zu bytes: not libcrypto's", i, len);
            sha256_init(st);
            sha256_compressor()(st, msg, pre / SHA256_BLOCK);
            sha256_final(got, st, pre, msg + pre, len - pre);
            if (memcmp(want, got, sizeof(want)) != 0)
                UNIT_FAIL("implementation %d, %zu bytes after %zu: not libcrypto's", i, len, pre);
        }
    }
    sha256_force_portable(0);
}

/* sha256_hmac_iterate, on each implementation, is PBKDF2's iterations:
 * from midstates and U1 made here, T after c iterations equals
 * PKCS5_PBKDF2_HMAC's (keys of 3 and 64 bytes, 1, 2 and 1,000
 * iterations). */
TEST(hmac_iterate)
{
    static const unsigned char salt[16] = "0123456789abcdef";
    static const char *keys[] = {"key", "0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef"};
    static const uint64_t iters[] = {1, 2, 1000};

    for (int i = 0; i < impl_count(); i++) {
        impl_use(i);
        for (size_t k = 0; k < 2; k++)
            for (size_t c = 0; c < 3; c++) {
                unsigned char ip[SHA256_BLOCK], op[SHA256_BLOCK], u[SHA256_BLOCK], t[32], want[32];
                uint32_t in[8], outer[8], s[8];
                size_t klen = strlen(keys[k]);
                memset(ip, 0x36, sizeof(ip));
                memset(op, 0x5c, sizeof(op));
                for (size_t j = 0; j < klen; j++) {
                    ip[j] ^= (unsigned char)keys[k][j];
                    op[j] ^= (unsigned char)keys[k][j];
                }
                sha256_init(in);
                sha256_compressor()(in, ip, 1);
                sha256_init(outer);
                sha256_compressor()(outer, op, 1);
                memcpy(u, salt, sizeof(salt));
                memcpy(u + sizeof(salt), "\0\0\0\1", 4);
                memcpy(s, in, sizeof(s));
                sha256_final(u, s, SHA256_BLOCK, u, sizeof(salt) + 4);
                memcpy(s, outer, sizeof(s));
                sha256_final(u, s, SHA256_BLOCK, u, SHA256_LEN);
                memcpy(t, u, sizeof(t));
                sha256_hmac_iterate(t, u, in, outer, iters[c] - 1);
                CHECK(PKCS5_PBKDF2_HMAC(keys[k], (int)klen, salt, sizeof(salt), (int)iters[c],
                                        EVP_sha256(), 32, want) == 1);
                if (memcmp(want, t, sizeof(want)) != 0)
                    UNIT_FAIL("implementation %d, key %zu, %llu iterations: not libcrypto's", i,
                              klen, (unsigned long long)iters[c]);
            }
    }
    sha256_force_portable(0);
}

/* The forcing switch does what the key tests rely on. */
TEST(force_portable)
{
    sha256_compress_fn *cpu = sha256_compressor();

    sha256_force_portable(1);
    CHECK(!sha256_is_hw());
    if (sha256_have_shaext())
        CHECK(sha256_compressor() != cpu);
    sha256_force_portable(0);
    CHECK(sha256_compressor() == cpu);
    CHECK(sha256_is_hw() == sha256_have_shaext());
    printf("# SHA extensions: %s\n", sha256_have_shaext() ? "yes, both tested" : "no");
}

int main(void)
{
    unit_suite = "sha256";
    RUN(fips180_examples);
    RUN(as_libcrypto);
    RUN(hmac_iterate);
    RUN(force_portable);
    return UNIT_DONE();
}
