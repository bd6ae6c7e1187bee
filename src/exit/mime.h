/* Internet message builder: RFC 5322 headers and RFC 2045-2049 MIME bodies,
 * as docs/mail-format.md describes certmint's notification mails.
 *
 * A struct mime_msg collects addresses, a subject, extra headers and body
 * parts; mime_render() writes the whole message (CRLF line ends, ready for
 * SMTP DATA) into a cm_buf. Every value is checked when it is added, so a
 * message that was built can always be rendered:
 * - header values are UTF-8 text without CR, LF or other control characters
 *   (refused, never passed through: no header injection); non-ASCII values
 *   become RFC 2047 encoded-words; long values are folded (RFC 5322 2.2.3);
 * - addresses are ASCII addr-specs (RFC 5322 3.4.1, RFC 5321 4.1.2), display
 *   names any UTF-8 text;
 * - the body is multipart/mixed with a random boundary (RAND_bytes) that is
 *   checked not to occur in any part.
 *
 * Ownership: mime_new() returns a message the caller frees with mime_free()
 * (NULL-safe). Every string and byte array passed in is copied. */
#ifndef CM_EXIT_MIME_H
#define CM_EXIT_MIME_H

#include "util/buf.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

/* Longest header value accepted (before encoding), and longest part. */
#define MIME_VALUE_MAX 8192
#define MIME_PART_MAX (64u * 1024 * 1024)
/* Longest value mime_format_header takes: its blocks live in a body part,
 * where no MTA's header size limit applies; folding keeps every line short. */
#define MIME_FIELD_MAX (1024u * 1024)

struct mime_msg;

/* One mailbox: addr is the bare addr-spec ("ca@example.org"), display the
 * optional display name (UTF-8, may be NULL). */
struct mime_addr {
    char *display;
    char *addr;
};

enum mime_addr_field { MIME_FROM, MIME_TO, MIME_CC, MIME_REPLY_TO, MIME_ADDR__COUNT };

cm_err mime_new(struct mime_msg **out) CM_MUST_USE;
void mime_free(struct mime_msg *m);

/* Checks an addr-spec as SMTP and RFC 5322 both accept it: ASCII dot-atom
 * local part (at most 64 octets), '@', a domain name or an address literal
 * ("[192.0.2.1]", "[IPv6:...]"); at most 254 octets in all. This is also
 * what makes an address safe to put in SMTP's MAIL FROM / RCPT TO. */
cm_err mime_check_addr(const char *addr) CM_MUST_USE;

/* Parses a configuration value listing mailboxes: comma separated, each
 * either "addr@example.org" or "Display Name <addr@example.org>" (the name
 * may be "quoted", with \" and \\ escapes). *out is an array of *nout
 * entries, freed with mime_addr_free(). An empty list is an error. */
cm_err mime_addr_parse_list(struct mime_addr **out, size_t *nout, const char *list) CM_MUST_USE;
void mime_addr_free(struct mime_addr *a, size_t n);

/* Adds a mailbox to From, To, Cc or Reply-To (one header each, addresses
 * comma separated). From takes exactly one mailbox (RFC 5322 3.6.2 would
 * otherwise require a Sender). display may be NULL. */
cm_err mime_add_address(struct mime_msg *m, enum mime_addr_field field, const char *display,
                        const char *addr) CM_MUST_USE;

/* Subject (RFC 5322 3.6.5), UTF-8. Replaces an earlier subject. */
cm_err mime_set_subject(struct mime_msg *m, const char *utf8) CM_MUST_USE;

/* Date (RFC 5322 3.3), unix seconds; rendered in UTC ("+0000"). Without it
 * mime_render uses the current time. */
cm_err mime_set_date(struct mime_msg *m, int64_t when) CM_MUST_USE;

/* Message-ID (RFC 5322 3.6.4): "left@right" or "<left@right>", both sides
 * dot-atom text. Without it mime_render makes a random one. */
cm_err mime_set_message_id(struct mime_msg *m, const char *id) CM_MUST_USE;

/* Any other header ("X-Certmint-Serial"). The name must be printable ASCII
 * without ':' (RFC 5322 3.6.8) and not one the builder writes itself (Date,
 * From, To, Cc, Reply-To, Subject, Message-ID, MIME-Version, Content-*).
 * The value is unstructured UTF-8 text (encoded-words when needed). Headers
 * are rendered in the order added. */
cm_err mime_add_header(struct mime_msg *m, const char *name, const char *value) CM_MUST_USE;

/* Appends a text/plain; charset=utf-8 part, quoted-printable. utf8 must be
 * valid UTF-8; LF and CRLF line ends both become CRLF. */
cm_err mime_add_text(struct mime_msg *m, const char *utf8) CM_MUST_USE;

/* Appends a part of any type. content_type is the full value
 * ("text/x-certmint-events; charset=us-ascii"); disposition is "inline",
 * "attachment" or NULL (no Content-Disposition); filename may be NULL. The
 * transfer encoding is chosen from the data: 7bit when it is ASCII text with
 * lines of at most 998 octets (line ends normalised to CRLF), else
 * quoted-printable for text types and base64 for everything else. */
cm_err mime_add_part(struct mime_msg *m, const char *content_type, const char *disposition,
                     const char *filename, const unsigned char *data, size_t len) CM_MUST_USE;

/* Appends an attachment: base64 (76-character lines, RFC 2045 6.8),
 * Content-Disposition: attachment; filename="..." (RFC 2183; RFC 2231 form
 * when the name is not plain ASCII). For certificates content_type is
 * "application/pkix-cert" (RFC 2585). */
cm_err mime_add_attachment(struct mime_msg *m, const char *content_type, const char *filename,
                           const unsigned char *data, size_t len) CM_MUST_USE;

/* Renders the message, appending to out (whose max bounds the size). Needs
 * a From. multipart/mixed when there is at least one part. On failure out
 * may hold part of a message: the caller resets it. Each call draws a new
 * boundary (and, without mime_set_message_id, a new Message-ID). */
cm_err mime_render(cm_buf *out, const struct mime_msg *m) CM_MUST_USE;

/* Appends utf8 as RFC 2047 encoded-words ("=?UTF-8?Q?...?=" or "?B?",
 * whichever is shorter), each at most 75 characters, separated by single
 * spaces, each holding whole characters (RFC 2047 5). */
cm_err mime_encode_word(cm_buf *out, const char *utf8) CM_MUST_USE;

/* Appends one complete header field "Name: value" CRLF: value as is when it
 * is plain printable ASCII, else encoded-words; folded at 78 characters
 * where it has spaces (encoded-words are folded between words). The same
 * checks as mime_add_header (no CR/LF) but values up to MIME_FIELD_MAX
 * bytes. Used for header-syntax blocks inside parts (the
 * text/x-certmint-events part). */
cm_err mime_format_header(cm_buf *out, const char *name, const char *utf8) CM_MUST_USE;

#endif
