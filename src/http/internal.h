/* The http layer's internal interface: what the connection code
 * (server.c, response.c: the request and response objects) offers the
 * other parts (app.c: routes and middleware; request.c: query, cookies,
 * forms, JSON, multipart; static.c: files; run.c: serving on every core),
 * and the small text helpers everyone shares (util.c).
 *
 * The request and response structs are the connection code's: the other
 * parts reach them only through these functions, and keep what they parse
 * in the request's slots. */
#ifndef CIO_HTTP_INTERNAL_H
#define CIO_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cio/http.h"
#include "cio/http_client.h"
#include "cio/ws.h"

/* ---- Request-lifetime memory (server.c) ---------------------------------- */

/* n bytes, 16-aligned, freed when the request ends (after the whole chain
 * returned); NULL when out of memory. */
void *cio__http_alloc(cio_http_request *req, size_t n);
/* A NUL-terminated copy of s[0..n) in request memory; NULL on ENOMEM. */
char *cio__http_strndup(cio_http_request *req, const char *s, size_t n);
/* Calls fn(arg) when the request ends (in the reverse order of adding),
 * e.g. to free a cJSON tree. Returns 0 or -ENOMEM (fn not registered:
 * the caller frees now). */
int cio__http_on_end(cio_http_request *req, void (*fn)(void *), void *arg);

/* Per-request pointers the other parts keep their parsed state in; NULL
 * at the start of every request. */
enum cio__http_slot {
    CIO__HTTP_SLOT_ROUTE,      /* app.c: params, path offset under mounts, chain position */
    CIO__HTTP_SLOT_REQUEST_ID, /* app.c: the request id (a char *) */
    CIO__HTTP_SLOT_QUERY,      /* request.c: parsed query */
    CIO__HTTP_SLOT_COOKIES,    /* request.c: parsed cookies */
    CIO__HTTP_SLOT_FORM,       /* request.c: parsed urlencoded form */
    CIO__HTTP_SLOT_JSON,       /* request.c: the cJSON tree */
    CIO__HTTP_SLOT_MULTIPART,  /* request.c: the multipart reader */
    CIO__HTTP_SLOT_LOG,        /* app.c: logging middleware state */
    CIO__HTTP_NSLOTS
};
void **cio__http_slot(cio_http_request *req, enum cio__http_slot slot);

/* ---- Request facts (server.c) -------------------------------------------- */

/* The target's path as sent, still percent-encoded, without the query;
 * "/" for "*" (OPTIONS) and absolute forms without a path. */
const char *cio__http_raw_path(const cio_http_request *req);
/* The server's options with every default filled in. */
const cio_http_server_options *cio__http_options(const cio_http_request *req);
/* Whether the server serving req began a graceful shutdown. */
bool cio__http_shutting_down(const cio_http_request *req);
/* The loop time (cio_loop_time) when the request's first byte arrived. */
double cio__http_start_time(const cio_http_request *req);
/* The application the server serves (the root, not a sub-application). */
cio_http_app *cio__http_root_app(const cio_http_request *req);

/* ---- Response internals (response.c) ------------------------------------- */

/* Body bytes sent so far (after filters: what went on the wire, without
 * chunk framing). */
uint64_t cio__http_bytes_sent(const cio_http_response *res);
/* Whether the response was ended (cio_http_response_end, or send). */
bool cio__http_is_ended(const cio_http_response *res);
/* The request the response answers. */
cio_http_request *cio__http_request_of(cio_http_response *res);

/* Sends len bytes of fd from offset as (part of) the body: sendfile when
 * no filter is active and the connection allows it, else reads and writes
 * through the filters. Begins the response (with length -1) if needed.
 * Returns 0, a read error of fd, a write error, -EMSGSIZE past a declared
 * length. May suspend. */
int cio__http_response_sendfile(cio_http_response *res, int fd, off_t offset, size_t len);

/* A body filter (the compression middleware): pushed before the response
 * starts; the first pushed sees the body first. */
struct cio__http_filter {
    /* Just before the headers are serialized: may change the status and
     * headers (the public setters work here) and *length (the body length,
     * -1 when unknown: a filter that changes the body sets -1). Returns 0
     * to stay in the chain, 1 to step out (it then sees nothing more and
     * its finish is not called), a negative error to fail the response. */
    int (*start)(struct cio__http_filter *f, cio_http_response *res, int64_t *length);
    /* Body bytes: pass what comes out on with cio__http_filter_write_next. */
    int (*write)(struct cio__http_filter *f, cio_http_response *res, const void *data,
                 size_t len);
    /* The body's end: pass the last bytes on, then return (the next
     * filter's finish is called by the response code). Also called on a
     * request that ends abnormally, with res NULL, to free state. */
    int (*finish)(struct cio__http_filter *f, cio_http_response *res);
    struct cio__http_filter *next; /* set by cio__http_push_filter */
};
/* Returns 0, -EALREADY (the response started), -EINVAL. */
int cio__http_push_filter(cio_http_response *res, struct cio__http_filter *f);
int cio__http_filter_write_next(struct cio__http_filter *f, cio_http_response *res,
                                const void *data, size_t len);

/* ---- Applications (app.c) ------------------------------------------------- */

/* Runs app's middleware chain and the matched route (or 404/405) for req.
 * The connection code calls it once per request. */
int cio__http_dispatch(cio_http_app *app, cio_http_request *req, cio_http_response *res);
/* A server starts / stops serving app (cio_http_app_route and the others
 * return -EBUSY while any serves it). Thread-safe. */
void cio__http_app_hold(cio_http_app *app);
void cio__http_app_release(cio_http_app *app);

/* ---- Text helpers (util.c) ------------------------------------------------- */

/* RFC 9110 tchar: ALPHA DIGIT and !#$%&'*+-.^_`|~. */
bool cio__http_is_tchar(unsigned char c);
/* s[0..n) is a non-empty token. */
bool cio__http_is_token(const char *s, size_t n);
/* s[0..n) is a valid field value: VCHAR, obs-text, SP and HTAB; no leading
 * or trailing whitespace required (none is checked). */
bool cio__http_is_field_value(const char *s, size_t n);
/* ASCII case-insensitive equality of a[0..an) and b[0..bn). */
bool cio__http_ieq(const char *a, size_t an, const char *b, size_t bn);
/* Percent-decodes src[0..n) into dst (room for n + 1 bytes; dst may be
 * src), NUL-terminated; form: '+' is a space. Returns the decoded length,
 * or -EINVAL for a '%' not followed by two hex digits. Decoded NULs are
 * kept (the caller decides: a path refuses them). */
ssize_t cio__http_pct_decode(char *dst, const char *src, size_t n, bool form);
/* Appends an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", 29 bytes and a
 * NUL) for t to buf (room for 30). Returns 29. */
int cio__http_format_date(char *buf, int64_t t);
/* Parses an IMF-fixdate (and the obsolete RFC 850 and asctime forms, as
 * RFC 9110 5.6.7 asks of recipients). Returns 0 and *t, or -EINVAL. */
int cio__http_parse_date(const char *s, int64_t *t);

/* ---- Taking a connection over (server.c; used by ws.c) --------------------- */

/* From a handler: hands the connection's stream to the caller for another
 * protocol (WebSocket). The server flushes what it buffered for res, then
 * sends nothing more on it, stops its own timers for the connection
 * (header, body-rate, keep-alive), and closes the connection when the
 * handler returns; bytes the client sent after req's header section stay
 * in the stream for the caller to read. res counts as answered (status
 * 101 in the access log). Returns 0, -EINVAL, -EALREADY (res started, or
 * the connection taken over already), -EPROTO (req has a body), a write
 * error. May suspend. */
int cio__http_takeover(cio_http_request *req, cio_http_response *res, int status,
                       cio_stream **stream);

/* ---- URLs (url.c; client.c and ws.c) ----------------------------------------- */

/* An absolute http(s) or ws(s) URL, split. Every string is NUL-terminated
 * and points into one allocation (free with cio__http_url_free). */
struct cio__http_url {
    const char *scheme;   /* "http", "https", "ws", "wss" (lower-cased) */
    bool tls;             /* https or wss */
    const char *userinfo; /* "user:pass" as sent (percent-encoded), or NULL */
    const char *host;     /* lower-cased name, or an IP address without brackets */
    bool ipv6;            /* host is an IPv6 literal (needs brackets in Host) */
    uint16_t port;        /* the default for the scheme when none is given */
    bool default_port;    /* no port given, or the scheme's own */
    const char *target;   /* the origin-form: path (at least "/") and "?query";
                             no fragment */
    char *mem;
};
/* Parses url (RFC 3986 with the WHATWG rules HTTP clients follow: scheme
 * and host case-insensitive, a fragment dropped, no whitespace or control
 * character anywhere, a port 1..65535, an empty host refused). Returns 0,
 * -EINVAL (malformed, another scheme), -ENOMEM. */
int cio__http_url_parse(const char *url, struct cio__http_url *out);
void cio__http_url_free(struct cio__http_url *u);
/* Resolves reference (a Location value: absolute, scheme-relative,
 * absolute-path or relative, RFC 3986 5.2) against base; *out is malloc'd.
 * Returns 0, -EINVAL, -ENOMEM. */
int cio__http_url_resolve(const char *base, const char *reference, char **out);

/* ---- Client internals (client.c; used by ws.c) ---------------------------- */

/* Opens a new connection (never pooled, the caller's to close) to u's
 * origin through c: its proxy (a CONNECT tunnel for TLS schemes, the plain
 * connection to the proxy otherwise, with *via_proxy set: the request
 * target must then be the absolute URL), its TLS configuration, its
 * resolver; under the calling task's deadline and c's connect_timeout.
 * Returns 0 or cio_http_client_request_send's connection errors. May
 * suspend. */
int cio__http_client_open(cio_http_client *c, const struct cio__http_url *u, cio_stream **out,
                          bool *via_proxy);
/* The client's cookie jar (NULL when none) and User-Agent value (NULL when
 * none). */
cio_http_jar *cio__http_client_jar(const cio_http_client *c);
const char *cio__http_client_user_agent(const cio_http_client *c);

#endif
