/* The key process of certmint serve (docs/http.md, "Process model").
 *
 * The process that parses network input never holds the CA key: it signs
 * through the key backend "keyproc" (src/key/keyproc.c), whose operations
 * send the to-be-signed bytes over local stream sockets to a separate
 * process that holds the key (opened there by the file or PKCS#11 backend),
 * as OpenBSD relayd's ca.c keeps keys from its relays.
 *
 * The front end (src/cli, certmint serve) makes the sockets with
 * keyproc_sockets(), forks while it has no thread, and in the child closes
 * every other descriptor, opens the key and runs keyproc_run(); the parent
 * opens the reference keyproc_ref() gives with key_open() and uses the key
 * like any other. No core function forks.
 *
 * Protocol, one request at a time per connection (several connections for
 * concurrent signers: a client thread takes an idle one):
 *   request  = magic u32 | op u32 | length u32 | length bytes
 *   response = status u32 | length u32 | length bytes
 * big-endian, length at most KEYPROC_MAX_DATA. op HELLO answers the public
 * key (DER SubjectPublicKeyInfo) followed by the backend's one-line
 * description; op AUX (one byte: 1 = new) opens or makes the second key,
 * the delegated OCSP responder's, and answers its public key (byte 2:
 * opens the CA's key-transport key instead, anew each time, and answers
 * its public key); op DECRYPT (SHA-1 of the transport key's public key
 * bits | oaep u8 | oaep hash u8 | mgf1 hash u8 | the block, key.h's
 * key_decrypt_params) decrypts one key transport block with a transport
 * key opened so, and answers the plain bytes (never with the CA key or the
 * OCSP key: those only sign); op SIGN
 * signs the bytes, which must be a TBSCertificate or
 * a TBSCertList naming this CA as issuer with this key's signature
 * algorithm, or an OCSP ResponseData whose responderID names the CA or
 * the second key, signed with that key (RFC 5280 4.1, 5.1; RFC 6960 4.2.1):
 * anything else is refused and logged. Status 0: the answer; else an
 * error message. */
#ifndef CM_KEY_KEYPROC_H
#define CM_KEY_KEYPROC_H

#include "key/key.h"

#include <stddef.h>

#define KEYPROC_SCHEME "keyproc:"
#define KEYPROC_MAX_CONN 64
/* The largest to-be-signed object: a CRL of a few million entries. */
#define KEYPROC_MAX_DATA (64u * 1024 * 1024)
#define KEYPROC_REF_MAX (sizeof(KEYPROC_SCHEME) + 8 * KEYPROC_MAX_CONN)

/* n connected pairs of stream sockets (close-on-exec): client[i] for the
 * serving process, server[i] for the key process. */
cm_err keyproc_sockets(int *client, int *server, size_t n) CM_MUST_USE;

/* The key reference of the client ends: "keyproc:5,6,7" (key_open()). */
cm_err keyproc_ref(char *ref, size_t refsz, const int *client, size_t n) CM_MUST_USE;

/* How the key process opens the CA's key-transport key (KEY_AUX_TRANSPORT):
 * open(out, arg) in the key process, each time the server asks (a renewed
 * transport certificate has a new key). */
struct keyproc_transport {
    cm_err (*open)(cm_key **out, void *arg);
    void *arg;
};

/* The key process: answers on the n connections (a thread each) until
 * every one is closed by the other end, then returns. issuer: the CA
 * certificate (TBS issuer names are checked against its subject); k: the
 * key, used and not freed. aux_path: where the second key (the delegated
 * OCSP responder's, key_open_aux) is stored, PEM 0600; NULL: none.
 * transport: NULL when the process holds no key-transport key. */
void keyproc_run(const int *server, size_t n, const cm_key *k, X509 *issuer, const char *aux_path,
                 const struct keyproc_transport *transport);

#endif
