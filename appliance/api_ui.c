/*
 * api_ui.c - the status page: GET /ui/ (index.html), /ui/app.js, /ui/style.css.
 *
 * The files live in appliance/ui/ and are compiled in: the Makefile turns them into
 * $(BUILD)/gen/ui_files.h with `xxd -i` (static const arrays named after the files). The page
 * reads /metrics from the same origin (docs/metrics.md). Who may load it is the route's
 * business (router.c: local identities, like /metrics). Every answer, a 404 included, carries
 * headers that keep the page to its own files: no inline script or style, no framing, no
 * MIME sniffing.
 */
#include <string.h>

#include "api.h"
#include "ui_files.h"

static const struct ui_file {
    const char *name; /* the path after /ui/ */
    const unsigned char *data;
    const unsigned int *len;
    const char *ctype;
} ui_files[] = {
    {"", index_html, &index_html_len, "text/html; charset=utf-8"},
    {"index.html", index_html, &index_html_len, "text/html; charset=utf-8"},
    {"app.js", app_js, &app_js_len, "text/javascript; charset=utf-8"},
    {"style.css", style_css, &style_css_len, "text/css; charset=utf-8"},
};

static const char *const ui_headers[] = {
    "content-security-policy",
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "x-content-type-options",
    "nosniff",
    "x-frame-options",
    "DENY",
    "referrer-policy",
    "no-referrer",
    "cache-control",
    "no-cache",
    NULL,
};

void api_ui(struct request *r, const char *tail)
{
    r->resp_headers = ui_headers;
    for (size_t i = 0; i < sizeof(ui_files) / sizeof(ui_files[0]); i++)
        if (strcmp(tail, ui_files[i].name) == 0) {
            http_respond(r, 200, ui_files[i].ctype, ui_files[i].data, *ui_files[i].len);
            return;
        }
    http_error(r, 404, "not_found", "no such file of the status page");
}
