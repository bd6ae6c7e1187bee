/* The CA home's configuration file (HOME/certmint.conf).
 *
 * Format: one `key = value` per line, `#` comments, keys dotted
 * (`profile.smime.days`, `crl.period`, `exit.smtp.server`). Every key is
 * declared in a schema table with its type, default and validation, so that
 * `certmint config set` refuses unknown keys and bad values before the file
 * is touched, and the file is rewritten atomically.
 *
 * Modules declare their keys in their own static array of struct
 * config_key (terminated by a {NULL} entry). The core keys (keys_core.c) are
 * built in; layers above config add theirs with config_schema_register (the
 * exit registry does so for the exit framework, the directory client and
 * every exit module), so config depends on none of them. A key pattern may contain `*` segments (at most two), each
 * standing for one name (a profile, an event): `profile.*.days`,
 * `exit.smtp.template.*.*.titleformat`. */
#ifndef CM_CONFIG_CONFIG_H
#define CM_CONFIG_CONFIG_H

#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

enum config_type {
    CFG_STRING,   /* any single-line text */
    CFG_INT,      /* decimal in [min, max] */
    CFG_BOOL,     /* yes/no/true/false/1/0/on/off, stored as yes|no */
    CFG_ENUM,     /* one of choices ("a|b|c") */
    CFG_DURATION, /* "7d", "12h", "30m", "45s" or seconds; stored as given */
    CFG_URL,      /* http:// https:// ldap:// ldaps:// smtp:// smtps:// file:// */
    CFG_CUSTOM,   /* validated by check() */
};

struct config_key;
/* Custom validation. `old` is the current value (or the default, may be
 * NULL), `in` what the user typed; on success *out is the value to store
 * (malloc'ed). This is how `exit.smtp.eventfilter +CRLISSUED` edits.
 * On failure the message gives only the reason ("unknown key usage 'x'"):
 * the caller prefixes the key (and the file and line when loading). `in` has
 * already been checked to be valid UTF-8 without control characters. */
typedef cm_err (*config_check_fn)(char **out, const struct config_key *k, const char *old,
                                  const char *in);

struct config_key {
    const char *pattern;
    enum config_type type;
    const char *def; /* default, NULL = unset */
    long long min, max;
    const char *choices; /* CFG_ENUM: "none|starttls|tls" */
    config_check_fn check;
    const char *help; /* one line for docs and `config list` */
};

typedef struct cm_config cm_config;

/* Loads path. A missing file is an empty configuration if allow_missing.
 * Every line is validated; the first bad line fails the load, naming the
 * file, the line number and the reason. */
cm_err config_load(cm_config **out, const char *path, int allow_missing) CM_MUST_USE;
/* An empty configuration (defaults only). */
cm_err config_new(cm_config **out) CM_MUST_USE;
void config_free(cm_config *c);

/* Writes atomically (temp + fsync + rename), mode 0600. */
cm_err config_save(const cm_config *c, const char *path) CM_MUST_USE;

/* The value set in the file, else the schema default, else NULL. The key
 * must be declared (asserted). Borrowed: valid until the next set/free. */
const char *config_get(const cm_config *c, const char *key);
/* 1 if the key is explicitly set in the file. */
int config_is_set(const cm_config *c, const char *key);
/* config_get_int/config_get_seconds: CM_ERR_NOTFOUND when the key is unset
 * and has no default (profile keys: use the built-in profile's value). */
cm_err config_get_int(const cm_config *c, const char *key, long long *out) CM_MUST_USE;
int config_get_bool(const cm_config *c, const char *key);
/* Durations ("7d", "12h", "90m", "3600") in seconds. */
cm_err config_get_seconds(const cm_config *c, const char *key, int64_t *out) CM_MUST_USE;

/* Validates and sets. Unknown key or bad value: error naming both, no change. */
cm_err config_set(cm_config *c, const char *key, const char *value) CM_MUST_USE;
/* Removes an explicit setting (back to the default). */
cm_err config_unset(cm_config *c, const char *key) CM_MUST_USE;

/* Adds a {NULL}-terminated key table to the schema (the table must live as
 * long as the process: a static array). Called at start, by the layer that
 * owns the keys, before they are used; thread-safe, and a table registered
 * twice is added once. CM_ERR_CONFIG when a pattern is already declared
 * (by another table or twice in this one), naming it; the schema is then
 * unchanged. */
cm_err config_schema_register(const struct config_key *keys) CM_MUST_USE;

/* Checks of a changed key that only a layer above config can make (the
 * exit registry: a module's whole-configuration check, and the warning that
 * a module is not enabled). Set once at start (exit_registry_init), like
 * the schema; without a hook both calls accept everything. */
struct config_change_hook {
    /* CM_ERR_CONFIG naming the keys when cfg, as it would be saved after
     * key changed, is refused. */
    cm_err (*check)(const cm_config *cfg, const char *key);
    /* A warning written into buf (returned), or NULL for none. */
    const char *(*warning)(char *buf, size_t bufsz, const cm_config *cfg, const char *key);
};
void config_change_hook_set(const struct config_change_hook *h);
cm_err config_change_check(const cm_config *cfg, const char *key) CM_MUST_USE;
const char *config_change_warning(char *buf, size_t bufsz, const cm_config *cfg, const char *key);

/* Schema lookup: the declaration matching key, or NULL. */
const struct config_key *config_schema_find(const char *key);
/* Calls cb for every schema key (patterns) in order. */
void config_schema_foreach(void (*cb)(void *ctx, const struct config_key *k), void *ctx);
/* Calls cb for every explicitly set key, in file order. */
void config_foreach(const cm_config *c, void (*cb)(void *ctx, const char *key, const char *value),
                    void *ctx);
/* Names N for which some key "prefix.N.*" is set, e.g. the profiles defined
 * in the file for prefix "profile". cb gets each name once. */
void config_names(const cm_config *c, const char *prefix, void (*cb)(void *ctx, const char *name),
                  void *ctx);

/* Parses a duration string into seconds. */
cm_err config_parse_duration(int64_t *out, const char *s) CM_MUST_USE;

/* Validates a URL as CFG_URL values are: RFC 3986 characters and %XX
 * escapes, scheme http, https, ldap, ldaps, smtp, smtps or file, a host and
 * a valid port. CM_ERR_CONFIG naming the URL and the reason. */
cm_err config_check_url(const char *s) CM_MUST_USE;

/* The public URL that certificates and CRLs carry for key (ca.aia_url,
 * ca.ocsp_url, crl.cdp_url, crl.delta_cdp_url): its value when set, else
 * one made from http.base_url and http.ca_name (BASE/ca/NAME.crt,
 * BASE/ocsp, BASE/crl/NAME.crl, BASE/crl/NAME-delta.crl; the delta only
 * while crl.delta_period is not 0), else "" (none). CM_ERR_CONFIG when the
 * URL is not valid (a hand-edited file skips `config set`). */
cm_err config_public_url(char *out, size_t outsz, const cm_config *c, const char *key) CM_MUST_USE;

/* 1 if key holds a secret (its name ends in "password" or "passphrase"):
 * its value is never logged, audited, echoed in errors or listed. */
int config_key_is_secret(const char *key);

/* The comma-separated lists of profile keys (keys_core.c). */
enum config_list_kind {
    CFG_LIST_KEY_USAGE,     /* digitalSignature,nonRepudiation,... (RFC 5280 4.2.1.3) */
    CFG_LIST_EXT_KEY_USAGE, /* serverAuth,... or dotted OIDs (RFC 5280 4.2.1.12) */
    CFG_LIST_KEYS,          /* ec:p256,ec:p384,ec:p521,rsa:2048,rsa:3072,rsa:4096,ed25519 */
    CFG_LIST_SAN_TYPES,     /* dns,ip,email,uri */
    CFG_LIST_POLICIES,      /* dotted policy OIDs, anyPolicy (RFC 5280 4.2.1.4) */
};
/* Validates a list of that kind and writes its normal form to *out
 * (malloc'ed, caller frees): items comma-separated without spaces, names in
 * their canonical spelling (input is case-insensitive; contentCommitment is
 * nonRepudiation; EKU OIDs with a name become the name), duplicates dropped.
 * Key usages, key types and SAN types come in the fixed order listed above;
 * extended key usages and policies keep the order given. Policies may also
 * be separated by spaces. "none" (all kinds but CFG_LIST_KEYS) is the empty
 * list and normalizes to "none". */
cm_err config_list_normalize(char **out, enum config_list_kind kind, const char *in) CM_MUST_USE;
/* Splits a comma-separated list (normally a normalized value) into trimmed,
 * non-empty items. "" and "none" give *n == 0 and *items NULL. An empty item
 * ("a,,b") is an error. *items and each item are malloc'ed: free with
 * config_list_free. */
cm_err config_parse_list(char ***items, size_t *n, const char *value) CM_MUST_USE;
void config_list_free(char **items, size_t n);

#endif
