/* JSON output: string encoding per RFC 8259. */
#ifndef CM_UTIL_JSON_H
#define CM_UTIL_JSON_H

#include "util/buf.h"

#include <stdint.h>

/* Length of a valid UTF-8 sequence at p (RFC 3629), 0 if invalid. */
size_t json_utf8_len(const unsigned char *p);
/* Appends s as a JSON string (quoted, escaped; invalid UTF-8 -> U+FFFD). */
cm_err json_append_string(cm_buf *b, const char *s) CM_MUST_USE;
/* Appends `"key":"value"` (value NULL -> null), with a comma unless *first. */
cm_err json_append_kv(cm_buf *b, int *first, const char *key, const char *value) CM_MUST_USE;
/* Appends `"key":N`, with a comma unless *first. */
cm_err json_append_kv_int(cm_buf *b, int *first, const char *key, long long value) CM_MUST_USE;
/* Appends `"key":true` or `"key":false`. */
cm_err json_append_kv_bool(cm_buf *b, int *first, const char *key, int value) CM_MUST_USE;
/* Appends `"key":"YYYY-MM-DD HH:MM:SS"` (UTC, as the view prints times), or
 * `"key":null` when t is 0 (none). */
cm_err json_append_kv_time(cm_buf *b, int *first, const char *key, int64_t t) CM_MUST_USE;

#endif
