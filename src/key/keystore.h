/* CA key generation and storage: PKCS#8 encrypted at rest (PBES2, AES-256-CBC,
 * PBKDF2-HMAC-SHA256 with 600,000 iterations and a random salt; keys written
 * by older versions with 2,048 iterations still load), files mode 0600,
 * passphrases read from a file (mode 0600 or stricter) or the terminal
 * (never the command line, never logged). */
#ifndef CM_CA_KEYS_H
#define CM_CA_KEYS_H

#include "util/err.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

/* Key types certmint generates and accepts. */
enum key_kind { KEY_EC_P256, KEY_EC_P384, KEY_EC_P521, KEY_RSA, KEY_ED25519, KEY_OTHER };

struct key_spec {
    enum key_kind kind;
    int bits; /* RSA modulus bits; EC field size */
};

/* Parses "ec:p256", "ec:p384", "ec:p521", "rsa:2048|3072|4096", "ed25519". */
cm_err key_spec_parse(struct key_spec *out, const char *s) CM_MUST_USE;
/* Describes a key: kind and size. */
void key_spec_of(struct key_spec *out, const EVP_PKEY *k);
/* "ec:p256", "rsa:3072", ... (static or into buf). */
const char *key_spec_name(const struct key_spec *s, char *buf, size_t bufsz);

/* Generates a new key from the OS CSPRNG (via libcrypto's default DRBG). */
cm_err key_generate(EVP_PKEY **out, const struct key_spec *s) CM_MUST_USE;

/* The digest the CA signs with for this key: SHA-256 for P-256 and RSA,
 * SHA-384 for P-384, SHA-512 for P-521, NULL for Ed25519 (RFC 8410). */
const char *key_sign_md(const EVP_PKEY *k);

/* Writes key encrypted with passphrase to path (mode 0600, atomically). */
cm_err key_save_encrypted(const EVP_PKEY *k, const char *path, const char *pass) CM_MUST_USE;
/* Loads an encrypted key; a wrong passphrase is CM_ERR_AUTH. */
cm_err key_load_encrypted(EVP_PKEY **out, const char *path, const char *pass) CM_MUST_USE;

/* PBKDF2-HMAC-SHA256's first 32-byte block (RFC 8018 section 5.2), as
 * PKCS5_PBKDF2_HMAC computes it, with less CPU: the derivation of
 * key_load_encrypted for the keys key_save_encrypted writes. */
cm_err key_pbkdf2_sha256(unsigned char out[32], const char *pass, size_t passlen,
                         const unsigned char *salt, size_t saltlen, uint64_t iter) CM_MUST_USE;

/* How an encrypted key file's passphrase is stretched (read from its PBES2
 * parameters, no passphrase needed). */
enum key_kdf_kind { KEY_KDF_UNKNOWN, KEY_KDF_PBKDF2, KEY_KDF_SCRYPT };
struct key_kdf {
    enum key_kdf_kind kind;
    long cost;     /* PBKDF2 iterations, scrypt N */
    char name[96]; /* "PBKDF2-hmacWithSHA256, 2048 iterations" */
};
cm_err key_kdf_of(struct key_kdf *out, const char *path) CM_MUST_USE;
/* 1 when below what key_save_encrypted writes today. */
int key_kdf_is_weak(const struct key_kdf *k);

/* Reads a passphrase: first line of file (refused when group or others may
 * read or write it, with the chmod that fixes it) or, when file is NULL,
 * from /dev/tty without echo (confirm: asked twice; at least 8 characters).
 * Wipe out with OPENSSL_cleanse after use. */
cm_err key_read_passphrase(char *out, size_t outsz, const char *file, int confirm) CM_MUST_USE;

#endif
