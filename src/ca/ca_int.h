/* Internal to the core (src/ca, crl, ldap, exit, backup, recover, serve):
 * the definitions behind ca_t and ca_ctx (ca/ca.h explains the design).
 * Front ends never include this file. */
#ifndef CM_CA_CA_INT_H
#define CM_CA_CA_INT_H

#include "ca/ca.h"

#include <pthread.h>

/* A session. The pointers marked "shared" are the handle's, borrowed: a
 * session never frees or replaces them (ca_reload_config and
 * ca_install_cert go through the handle). A bare session without a handle
 * (h NULL: unit test fixtures) owns what it holds. */
struct ca_ctx {
    char home[PATH_MAX];
    cm_config *cfg;            /* shared: the configuration when the session was taken */
    db_t *db;                  /* this session's own connection (from the handle's pool) */
    X509 *cert;                /* shared; NULL while a subordinate waits for install-ca-cert */
    STACK_OF(X509) * chain;    /* shared: issuers above cert, nearest first; may be empty */
    cm_key *signer;            /* shared: loaded by ca_load_key(); NULL until then */
    EVP_PKEY *key;             /* its public key (borrowed from signer); NULL until then */
    char *passphrase_file;     /* shared: global --passphrase-file, else ca.passphrase_file */
    const char *operator_name; /* the actor, for the audit log ("who"); points into actor */
    unsigned char ski[64];     /* CA's subjectKeyIdentifier */
    size_t ski_len;
    struct issue_cache *issue_cache; /* precomputed extensions (issue.c): this session's */
    /* Session bookkeeping (home.c). */
    struct ca *h;             /* the handle; NULL for a bare session */
    unsigned long gen;        /* h->gen this session last synchronised with */
    struct ca_ctx *next_idle; /* the handle's idle list */
    char actor[CA_ACTOR_MAX]; /* "who" of the current actor */
};

/* The handle. mu guards everything below it; what is above is fixed from
 * ca_open to ca_close. */
struct ca {
    char home[PATH_MAX];
    char *passphrase_file;
    size_t max_sessions; /* the pool's bound (ca.sessions) */
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* a session came back */
    cm_config *cfg;              /* the current configuration */
    struct cfg_retired *retired; /* configurations replaced by reloads, freed at close */
    X509 *cert;
    STACK_OF(X509) * chain;
    cm_key *signer;
    EVP_PKEY *key;
    unsigned char ski[64];
    size_t ski_len;
    unsigned long gen;   /* bumped when cfg, cert or the key change */
    struct ca_ctx *idle; /* sessions given back, each with its connection */
    size_t open;         /* sessions that exist (idle or out) */
    size_t out;          /* sessions taken */
    /* Key archival (kra_submit.c): the key-transport key, opened (its KDF
     * paid) once for every session; reopened when the certificate file
     * changes. */
    cm_key *kra_tk;
    X509 *kra_tc;
    struct kra_tk_old { /* keys replaced by a renewal, closed with the handle */
        struct kra_tk_old *next;
        cm_key *k;
    } * kra_tk_old;
};

/* SHA-1 for the thumbprint and the subjectKeyIdentifier (RFC 5280
 * 4.2.1.2 method 1), fetched once per process and never changed after
 * (describe.c); never NULL. */
const EVP_MD *ca_sha1(void);

/* A certificate time in unix seconds (describe.c); CM_ERR_INVALID when t
 * is NULL or not a time. */
cm_err ca_time_of(int64_t *out, const ASN1_TIME *t) CM_MUST_USE;

/* The CA key's reference: the URI of private/ca.key.uri, else the path of
 * private/ca.key (home.c). */
cm_err ca_key_ref(char *ref, size_t refsz, const char *home) CM_MUST_USE;
/* A key's reference in a home: the URI in HOME/uri_file when that file
 * exists (a key in a token), else the path HOME/key_file. */
cm_err ca_key_ref_at(char *ref, size_t refsz, const char *home, const char *uri_file,
                     const char *key_file) CM_MUST_USE;

/* Makes cfg (taken over) the configuration of the handle and of every
 * session from now on, as ca_reload_config does with the file's: a
 * configuration change made through this session (ca_config_set). */
cm_err ca_adopt_config(ca_ctx *s, cm_config *cfg) CM_MUST_USE;

/* A large submit's line in meta "submit.batches" (batch.c), written in its
 * groups' own transactions: added in the first, removed in the last. */
#define BATCH_LINE_MAX 512
struct batch_mark {
    size_t n;                  /* requests of the batch; 0: one transaction, no line */
    int recorded;              /* the line is committed and not yet removed */
    char line[BATCH_LINE_MAX]; /* "PID STARTED N REQUESTER" */
};
/* Composes the line now (STARTED: no row of the batch is older); a batch
 * of one group gets none. */
void batch_mark_init(struct batch_mark *m, size_t n, size_t group, const char *requester);
/* Inside the transaction of the group [start, end): adds the line (the
 * first group) or removes it (the last). m may be NULL. */
cm_err batch_mark_write(const struct batch_mark *m, ca_ctx *ca, size_t start,
                        size_t end) CM_MUST_USE;
/* After that transaction committed. m may be NULL. */
void batch_mark_committed(struct batch_mark *m, size_t start, size_t end);
/* The batch stopped with its line recorded (a failure): removes it in a
 * transaction of its own. */
void batch_mark_end(ca_ctx *ca, struct batch_mark *m);

#endif
