/* Distinguished names and subject alternative names: parsing what users and
 * profiles type, validating what CSRs carry, and printing both for the
 * database columns (DistinguishedName, CommonName, EMail, SubjectAltNames).
 *
 * Every error names the input (escaped: control and non-ASCII bytes are shown
 * as \xNN) and what is wrong with it. */
#ifndef CM_CA_NAME_H
#define CM_CA_NAME_H

#include "util/err.h"

#include <stddef.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Longest DN string name_parse_dn accepts, and most attributes in one DN. */
#define NAME_DN_MAX 8192
#define NAME_AVA_MAX 64

/* Parses a distinguished name in one of two forms:
 *
 *   "/CN=Example Root/O=Example Org/C=DE"   OpenSSL's -subj form: RDNs in
 *       encoding order (the first is the most significant), '\' escapes the
 *       next character ("\/" is a slash); '+' is literal, as in `openssl req
 *       -subj` without -multivalue-rdn.
 *   "CN=Example Root,O=Example Org,C=DE"     RFC 4514: RDNs in reverse
 *       encoding order (the first is the least significant, so this example
 *       encodes C, O, CN), '+' joins attributes of a multi-valued RDN,
 *       escapes per RFC 4514 section 3 (\, \+ \" \\ \< \> \; \# \= "\ " and
 *       \XX hex pairs), "#hex" BER values of string types, unescaped spaces
 *       around separators ignored.
 *
 * Attribute types: OpenSSL's short and long names (case-insensitive) or
 * numeric OIDs of the DN attributes certmint knows (CN, O, OU, C, L, ST,
 * street, emailAddress (alias E), serialNumber, DC, UID, givenName/GN,
 * surname/SN, title, initials, pseudonym, ...). Values are UTF-8, must not be
 * empty, must not contain control characters, and respect the RFC 5280
 * Appendix A upper bounds (in characters; CN <= 64). C is two upper-case
 * letters (PrintableString); emailAddress is a valid address (IA5String).
 * The empty string is refused (build an empty name with X509_NAME_new).
 * The result is canonical (as decoded from its DER). *out: caller frees with
 * X509_NAME_free. For compatibility with name_to_string (OpenSSL prints a
 * value of just "#" unescaped), a lone "#" value reads as that character. */
cm_err name_parse_dn(X509_NAME **out, const char *s) CM_MUST_USE;

/* Checks of names that come from outside (a CSR's subject), before they are
 * signed. name_check_entry judges one attribute, in this order, and returns
 * the first fault (NAME_FAULT_NONE = 0 when it passes), with the reason in
 * why (the value escaped as \xNN where it is not printable ASCII):
 *   NAME_FAULT_TYPE     the attribute type is not one of those name_parse_dn
 *                       knows, or its string type is not allowed: Directory
 *                       strings PrintableString or UTF8String (RFC 5280
 *                       4.1.2.6), C/serialNumber/dnQualifier PrintableString,
 *                       emailAddress/DC IA5String (Appendix A.1)
 *   NAME_FAULT_EMPTY    an empty value
 *   NAME_FAULT_CHARSET  a byte the string type does not allow (X.680 41.4
 *                       for PrintableString, ASCII for IA5String, valid UTF-8
 *                       for UTF8String), or a control character (C0, DEL, C1)
 *   NAME_FAULT_LENGTH   more characters than the RFC 5280 Appendix A upper
 *                       bound (ub-common-name 64, ub-organization-name 64, ...)
 *   NAME_FAULT_VALUE    countryName not two upper-case letters, emailAddress
 *                       not an RFC 5321 mailbox
 * name_check runs it on every attribute of n and returns CM_ERR_INVALID
 * "WHAT: reason" for the first that fails. */
enum name_fault {
    NAME_FAULT_NONE = 0,
    NAME_FAULT_TYPE,
    NAME_FAULT_EMPTY,
    NAME_FAULT_CHARSET,
    NAME_FAULT_LENGTH,
    NAME_FAULT_VALUE,
};
enum name_fault name_check_entry(const X509_NAME_ENTRY *e, char *why, size_t whysz);
cm_err name_check(const X509_NAME *n, const char *what) CM_MUST_USE;

/* The RFC 4514 string of n, byte for byte what `openssl x509 -noout -subject
 * -nameopt RFC2253` prints after "subject=" (non-ASCII escaped as \XX). An
 * empty name gives "". *out: malloc'ed, caller frees. */
cm_err name_to_string(char **out, const X509_NAME *n) CM_MUST_USE;

/* The last (most specific) commonName / emailAddress as UTF-8, or *out =
 * NULL when n has none. A value containing a NUL is an error. *out:
 * malloc'ed, caller frees. */
cm_err name_get_cn(char **out, const X509_NAME *n) CM_MUST_USE;
cm_err name_get_email(char **out, const X509_NAME *n) CM_MUST_USE;
/* 1 when v is a PrintableString, IA5String or UTF8String of ASCII
 * characters other than NUL: its octets are then its UTF-8 as they are
 * (no ASN1_STRING_to_UTF8 copy needed). */
int name_value_ascii(const ASN1_STRING *v);

/* Subject alternative name checks (RFC 5280 4.2.1.6). Each returns CM_OK or
 * CM_ERR_INVALID with the reason.
 *
 * san_check_dns: preferred name syntax (RFC 1034 3.5, RFC 1123 2.1): LDH
 *   labels of 1..63 octets, no leading or trailing hyphen, total <= 253, at
 *   least two labels, no trailing dot, ASCII only (IDNs as A-labels; other
 *   "??--" labels are reserved, RFC 5890 2.3.1), rightmost label not all
 *   digits, no underscore. A wildcard is only a whole leftmost "*" label with
 *   at least two labels after it ("*.example.com", not "*.com" or "a.*.b").
 * san_check_ip: textual IPv4 or IPv6 address (inet_pton): the 4- and
 *   16-octet forms of iPAddress.
 * san_check_email: RFC 5321 4.1.2 Mailbox with a dot-atom local part (no
 *   quoted strings, no address literals, ASCII only), local part <= 64
 *   octets, whole <= 254, domain per san_check_dns without wildcard.
 * san_check_uri: RFC 3986 absolute URI "scheme://host[:port][/path][?q][#f]":
 *   certmint requires an authority whose host is a DNS name (san_check_dns,
 *   no wildcard), an IPv4 address or a bracketed IPv6 address (RFC 5280
 *   4.2.1.6), no userinfo, only RFC 3986 characters and valid %XX escapes. */
cm_err san_check_dns(const char *s) CM_MUST_USE;
cm_err san_check_ip(const char *s) CM_MUST_USE;
cm_err san_check_email(const char *s) CM_MUST_USE;
cm_err san_check_uri(const char *s) CM_MUST_USE;

/* A decoded GeneralNames list (subjectAltName). type is OpenSSL's GEN_*
 * constant. value, malloc'ed and NUL-terminated:
 *   GEN_DNS, GEN_EMAIL, GEN_URI  the IA5String bytes as they are
 *   GEN_IPADD                    inet_ntop text ("192.0.2.1", "2001:db8::1"),
 *                                or "<invalid:HEX>" for other lengths
 *   GEN_DIRNAME                  X509_NAME_oneline ("/CN=x/O=y")
 *   GEN_RID                      dotted OID
 *   GEN_OTHERNAME                "UPN:" + UTF-8 for a Microsoft UPN, else
 *                                "<unsupported>"
 *   others                       "<unsupported>" */
struct san_list {
    size_t n;
    struct san_entry {
        int type;
        char *value;
    } * e;
};
#define SAN_LIST_INIT                                                                              \
    {                                                                                              \
        0, NULL                                                                                    \
    }

/* From the CSR's extensionRequest attribute (PKCS#9, or Microsoft's
 * 1.3.6.1.4.1.311.2.1.14). No attribute or no SAN = empty list. A malformed
 * or duplicated attribute or SAN extension, or a string with an embedded NUL,
 * is CM_ERR_INVALID. On success *out is filled (free with san_list_free). */
cm_err san_from_req(struct san_list *out, X509_REQ *req) CM_MUST_USE;
/* The same from a certificate's subjectAltName extension. */
cm_err san_from_cert(struct san_list *out, const X509 *x) CM_MUST_USE;
/* The same from decoded GeneralNames (names may be NULL = empty). */
cm_err san_from_names(struct san_list *out, const GENERAL_NAMES *names) CM_MUST_USE;

/* Checks every entry: DNS, IP, email and URI with the san_check_* functions,
 * a directory name must not be empty, a UPN must be UTF-8 with an '@'; other
 * types are refused (certmint issues none). On failure returns CM_ERR_INVALID
 * and writes the first reason into why (when why != NULL). An empty list
 * passes. */
cm_err san_list_check(const struct san_list *l, char *why, size_t whysz) CM_MUST_USE;

/* Text as OpenSSL prints the extension (`openssl x509 -ext subjectAltName`):
 * "DNS:a.example, IP Address:192.0.2.1, email:x@y, URI:http://h/, DirName:/CN=x,
 * Registered ID:1.2.3, othername: UPN::u@example". IPv6 addresses are printed
 * as OpenSSL does (eight upper-case hex groups, "2001:DB8:0:0:0:0:0:1"). An
 * empty list gives "". *out: malloc'ed, caller frees. */
cm_err san_list_to_string(char **out, const struct san_list *l) CM_MUST_USE;

/* Frees the entries and resets l to empty. NULL-safe. */
void san_list_free(struct san_list *l);

#endif
