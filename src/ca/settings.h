/* The CA home's configuration as core calls (`certmint config`): reading,
 * and changes that are validated, saved atomically and audited in one
 * transaction. They need neither the CA key nor the CA certificate (open
 * the home with allow_no_cert). actor is who asked, for the audit log. */
#ifndef CM_CA_SETTINGS_H
#define CM_CA_SETTINGS_H

#include "ca/ca.h"

#include <stddef.h>

/* The value of key: the one set in the file, else its default, else NULL
 * (borrowed from ca: valid until the next change). *is_set tells whether
 * the file sets it. An undeclared key is CM_ERR_CONFIG. */
cm_err ca_config_get(const char **value, int *is_set, ca_ctx *ca,
                     const char *key) CM_MUST_USE;

/* Every key set in the file, in file order. A secret's value (a key ending
 * in password or passphrase) is never passed: value NULL and secret 1. */
typedef void (*ca_config_setting_cb)(void *ctx, const char *key, const char *value, int secret);
cm_err ca_config_list(ca_ctx *ca, ca_config_setting_cb cb,
                      void *ctx) CM_MUST_USE;

/* Sets key to value: checked against the key's type and against the whole
 * configuration (exit modules, through config's change hook), then the
 * audit record "config" by actor ("set KEY = VALUE", a secret's value left
 * out) and the file (temp + fsync + rename) in one transaction; a refused
 * value leaves the file byte-identical and the log unchanged. warning gets
 * a warning for the user (a module not enabled), else "". ca's
 * configuration is the new one afterwards. */
cm_err ca_config_set(char *warning, size_t warningsz, ca_ctx *ca,
                     const char *key, const char *value) CM_MUST_USE;
/* Removes key from the file (back to its default), audited "unset KEY";
 * nothing is written or recorded when the file does not set it. */
cm_err ca_config_unset(ca_ctx *ca, const char *key) CM_MUST_USE;

#endif
