/* The directory settings (ldap.* keys of certmint.conf) and the connection
 * options built from them. */
#ifndef CM_LDAP_LDAP_KEYS_H
#define CM_LDAP_LDAP_KEYS_H

#include "config/config.h"
#include "ldap/dir.h"

#include <limits.h>

/* The schema of the ldap.* keys, {NULL}-terminated; the exit registry
 * (exit/registry.c) adds it to the configuration schema at start. */
extern const struct config_key config_keys_ldap[];

/* dir_opts filled from a configuration. Relative file names in the
 * configuration are taken relative to the CA home; the strings in opts
 * point into this struct and into the configuration (borrowed: keep the
 * configuration alive while opts is used). */
struct dir_settings {
    struct dir_opts opts;
    char cafile[PATH_MAX];
    char certfile[PATH_MAX];
    char keyfile[PATH_MAX];
    char password_file[PATH_MAX];
};

/* Fills s from cfg; home is the CA home (for relative paths). CM_ERR_CONFIG
 * naming the key when ldap.uri is unset or a value cannot be used. */
cm_err dir_settings_load(struct dir_settings *s, const cm_config *cfg,
                         const char *home) CM_MUST_USE;

#endif
