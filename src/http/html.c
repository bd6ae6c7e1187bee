/* HTML escaping and the page frame (http/html.h). */
#include "http/html.h"

#include <string.h>

/* Length of a valid UTF-8 sequence at s (n bytes left), 0 if invalid
 * (RFC 3629 4: no overlongs, no surrogates, at most U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t l = c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    if (l == 0 || l > n)
        return 0;
    for (size_t i = 1; i < l; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return l;
}

void html_escn(struct evbuffer *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;
    while (i < n) {
        const char *rep = NULL;
        unsigned c = p[i];
        size_t l = 1;
        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F)
                rep = "\xEF\xBF\xBD";
            else if (c >= 0x80 && (l = utf8_len(p + i, n - i)) == 0) {
                rep = "\xEF\xBF\xBD";
                l = 1;
            }
        }
        if (rep == NULL) {
            i += l;
            run += l;
            continue;
        }
        evbuffer_add(b, p + i - run, run);
        evbuffer_add(b, rep, strlen(rep));
        run = 0;
        i += l;
    }
    evbuffer_add(b, p + n - run, run);
}

void html_esc(struct evbuffer *b, const char *s)
{
    if (s != NULL)
        html_escn(b, s, strlen(s));
}

void html_begin(struct evbuffer *b, const char *title, const char *who, const char *roles,
                int officer)
{
    evbuffer_add_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                           "<meta name=\"viewport\" content=\"width=device-width, "
                           "initial-scale=1\"><title>");
    html_esc(b, title);
    evbuffer_add_printf(b, " - certmint</title><link rel=\"stylesheet\" "
                           "href=\"/certsrv/style.css\"></head><body>\n<header><div "
                           "class=\"brand\"><a href=\"/certsrv\">certmint</a> <span>certificate "
                           "services</span></div><nav><a href=\"/certsrv/request\">Request</a>"
                           "<a href=\"/certsrv/status\">My requests</a>"
                           "<a href=\"/certsrv/download\">CA certificate &amp; CRL</a>");
    if (officer)
        evbuffer_add_printf(b, "<a href=\"/certsrv/officer\">Pending</a>"
                               "<a href=\"/certsrv/officer/search\">Search</a>"
                               "<a href=\"/certsrv/officer/revoke\">Revoke</a>"
                               "<a href=\"/certsrv/officer/crl\">CRL</a>");
    evbuffer_add_printf(b, "</nav><div class=\"who\">");
    if (who != NULL && who[0] != '\0') {
        evbuffer_add_printf(b, "Signed in as <b>");
        html_esc(b, who);
        evbuffer_add_printf(b, "</b> <span class=\"roles\">");
        html_esc(b, roles);
        evbuffer_add_printf(b, "</span>");
    } else {
        evbuffer_add_printf(b, "Anonymous (no client certificate)");
    }
    evbuffer_add_printf(b, "</div></header>\n<main><h1>");
    html_esc(b, title);
    evbuffer_add_printf(b, "</h1>\n");
}

void html_end(struct evbuffer *b)
{
    evbuffer_add_printf(b, "</main>\n<footer>certmint certificate services</footer>\n"
                           "</body></html>\n");
}

void html_note(struct evbuffer *b, const char *kind, const char *text)
{
    evbuffer_add_printf(b, "<p class=\"note %s\">",
                        strcmp(kind, "ok") == 0     ? "ok"
                        : strcmp(kind, "warn") == 0 ? "warn"
                                                    : "error");
    html_esc(b, text);
    evbuffer_add_printf(b, "</p>\n");
}

const char html_css[] =
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:15px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
    "color:#1d2330;background:#f4f6f9}\n"
    "header{display:flex;flex-wrap:wrap;align-items:center;gap:8px 24px;padding:10px 24px;"
    "background:#1f3a5f;color:#fff}\n"
    "a{color:#1f5fbf}header a{color:#fff;text-decoration:none}\n"
    ".brand a{font-weight:700;font-size:18px}.brand span{opacity:.75;margin-left:6px}\n"
    "nav{display:flex;flex-wrap:wrap;gap:4px}\n"
    "nav a{padding:6px 10px;border-radius:4px}nav a:hover{background:#2e5283}\n"
    ".who{margin-left:auto;font-size:13px;opacity:.9;overflow-wrap:anywhere}\n"
    ".roles{background:#2e5283;border-radius:3px;padding:1px 6px;margin-left:4px}\n"
    "main{max-width:1280px;margin:24px auto;padding:0 24px}\n"
    "h1{font-size:24px;margin:0 0 16px}h2{font-size:18px;margin:24px 0 8px}\n"
    ".card{background:#fff;border:1px solid #d8dee8;border-radius:6px;padding:16px 20px;"
    "margin:0 0 16px}\n"
    "table{width:100%;border-collapse:collapse;background:#fff;border:1px solid #d8dee8}\n"
    "th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #e5e9f0;"
    "vertical-align:top;overflow-wrap:break-word}\n"
    "th{background:#eef2f7;font-weight:600;font-size:13px;white-space:nowrap}\n"
    "td.subject,td.sans{overflow-wrap:anywhere;min-width:180px}\n"
    "td.disp,td.when{font-weight:600;white-space:nowrap}td.when{font-weight:400}td.key{min-width:"
    "130px}\n"
    "details summary{cursor:pointer;color:#1f6feb;font-size:13px}\n"
    "table.kv th{width:180px}\n"
    "label{display:block;font-weight:600;margin:12px 0 4px}\n"
    "input[type=text],select,textarea{width:100%;padding:7px;border:1px solid #b8c2d1;"
    "border-radius:4px;font:inherit}\n"
    "textarea{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;min-height:220px}\n"
    "button{margin-top:12px;padding:8px 16px;border:0;border-radius:4px;background:#1f6feb;"
    "color:#fff;font:inherit;font-weight:600;cursor:pointer}\n"
    "button.deny{background:#c93c37}button.small{margin:0;padding:4px 10px;font-size:13px}\n"
    "form.inline{display:inline-flex;gap:6px;align-items:center;margin:2px 0}\n"
    "form.inline input[type=text]{width:140px;padding:4px}\n"
    ".note{padding:10px 14px;border-radius:4px;border:1px solid}\n"
    ".note.ok{background:#e8f5e9;border-color:#9ccc9f}\n"
    ".note.warn{background:#fff8e1;border-color:#e6c86e}\n"
    ".note.error{background:#fdecea;border-color:#e3a19c}\n"
    "pre{background:#f0f3f7;padding:10px;border-radius:4px;overflow:auto;font-size:12px;"
    "white-space:pre-wrap;overflow-wrap:anywhere}\n"
    "code{font-family:ui-monospace,Menlo,Consolas,monospace}\n"
    ".muted{color:#5d6878;font-size:13px}\n"
    ".links a{display:inline-block;margin:4px 12px 4px 0}\n"
    "footer{max-width:1280px;margin:32px auto;padding:0 24px;color:#7a8494;font-size:12px}\n";
