/* HTML output for the /certsrv pages: escaping and the page frame.
 *
 * Rule: every string that did not come from this source file's literals
 * (a subject, a SAN, a message, a profile name, a filename, a value a form
 * sent back) goes through html_esc; evbuffer_add_printf takes literals and
 * numbers only. There is no script on any page and no inline style (the
 * Content-Security-Policy forbids both); the look is /certsrv/style.css. */
#ifndef CM_HTTP_HTML_H
#define CM_HTTP_HTML_H

#include <event2/buffer.h>
#include <stddef.h>

/* Appends s (NULL: nothing) with & < > " ' escaped as character
 * references; control characters and invalid UTF-8 bytes as U+FFFD. */
void html_esc(struct evbuffer *b, const char *s);
void html_escn(struct evbuffer *b, const char *s, size_t n);

/* The page frame: doctype, head with the title and the style sheet, the
 * header bar with the navigation (officer links when officer is set) and
 * who is signed in (who: "" for anonymous). */
void html_begin(struct evbuffer *b, const char *title, const char *who, const char *roles,
                int officer);
void html_end(struct evbuffer *b);

/* A message box: kind "ok", "warn" or "error"; text escaped. */
void html_note(struct evbuffer *b, const char *kind, const char *text);

/* The style sheet served at /certsrv/style.css. */
extern const char html_css[];

#endif
