/* HTTP/1.1 connections: the server, one task per connection parsing
 * requests with llhttp (strict) straight from the stream's read buffer,
 * the checks of RFC 9112 and 9110 llhttp leaves to its user, the limits,
 * request bodies (Content-Length and chunked, Expect: 100-continue), the
 * request accessors, request memory, the access log, graceful shutdown.
 *
 * The hot path of a keep-alive request costs no allocation and no system
 * call of its own: the stream's read fills the buffer, the header section
 * (a few hundred bytes) is copied once into the connection's buffer so its
 * strings outlive refills, the handler's response is serialized into the
 * connection's output buffer, and that buffer goes out with one writev
 * when no further request is already buffered (pipelining: one write for
 * the whole batch). The Date field is formatted once a second per thread,
 * from the loop's cached time. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "cio/task.h"
#include "../common/opts.h"
#include "conn.h"
#include "../core.h"

#define DRAIN_MAX (256 * 1024)   /* unread body bytes read and dropped to keep a connection */
#define LINGER_MAX (256 * 1024)  /* bytes read and dropped after a refusal before closing */
#define LINGER_TIME 2.0          /* seconds of that */

/* ---- The Date field, cached per second per thread ------------------------- */

struct date_cache {
    const cio_loop *loop;
    int64_t next_ns;  /* loop time at which the second changes */
    int64_t wall;     /* wall-clock seconds */
    char line[40];    /* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" */
    char log[32];     /* "06/Nov/1994:08:49:37 +0000" */
};
static _Thread_local struct date_cache date_cache;

static void date_refresh(cio_loop *loop)
{
    struct date_cache *d = &date_cache;
    int64_t now = loop ? cio__loop_now(loop) : 0;
    if (d->loop == loop && now < d->next_ns && d->line[0])
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    d->loop = loop;
    d->wall = ts.tv_sec;
    d->next_ns = now + (1000000000 - ts.tv_nsec);
    memcpy(d->line, "Date: ", 6);
    cio__http_format_date(d->line + 6, ts.tv_sec);
    memcpy(d->line + 35, "\r\n", 3);
    struct tm tm;
    time_t t = ts.tv_sec;
    gmtime_r(&t, &tm);
    strftime(d->log, sizeof d->log, "%d/%b/%Y:%H:%M:%S +0000", &tm);
}

const char *cio__http_date_line(void)
{
    date_refresh(cio__running_loop());
    return date_cache.line;
}

/* ---- Request memory ---------------------------------------------------------- */

void *cio__http_alloc(cio_http_request *req, size_t n)
{
    if (!req)
        return NULL;
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    struct cio__http_block *b = req->blocks;
    if (b->cap - b->used < n) {
        size_t cap = n > 8192 ? n : 8192;
        struct cio__http_block *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->cap = cap;
        nb->used = 0;
        nb->next = b;
        req->blocks = b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

char *cio__http_strndup(cio_http_request *req, const char *s, size_t n)
{
    if (!req || (!s && n))
        return NULL;
    char *p = cio__http_alloc(req, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = 0;
    return p;
}

int cio__http_on_end(cio_http_request *req, void (*fn)(void *), void *arg)
{
    if (!req || !fn)
        return -EINVAL;
    struct cio__http_end_fn *e = cio__http_alloc(req, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->fn = fn;
    e->arg = arg;
    e->next = req->on_end;
    req->on_end = e;
    return 0;
}

void **cio__http_slot(cio_http_request *req, enum cio__http_slot slot)
{
    if (!req || (int)slot < 0 || slot >= CIO__HTTP_NSLOTS)
        return NULL;
    return &req->slots[slot];
}

/* Runs the on-end functions and gives request memory back (all but the
 * first block). */
static void request_end(struct cio__http_conn *c)
{
    cio_http_request *req = &c->req;
    while (req->on_end) {
        struct cio__http_end_fn *e = req->on_end;
        req->on_end = e->next;
        e->fn(e->arg);
    }
    struct cio__http_block *b = req->blocks;
    while (b != &c->first) {
        struct cio__http_block *next = b->next;
        free(b);
        b = next;
    }
    c->first.used = 0;
    req->blocks = &c->first;
}

/* ---- Request facts ------------------------------------------------------------ */

const char *cio__http_raw_path(const cio_http_request *req) { return req ? req->raw_path : NULL; }
const cio_http_server_options *cio__http_options(const cio_http_request *req)
{
    return req ? &req->c->srv->opts : NULL;
}
bool cio__http_shutting_down(const cio_http_request *req)
{
    return req && req->c->srv->shutting_down;
}
double cio__http_start_time(const cio_http_request *req) { return req ? req->start_time : 0; }
cio_http_app *cio__http_root_app(const cio_http_request *req)
{
    return req ? req->c->srv->app : NULL;
}

/* ---- Request accessors ---------------------------------------------------------- */

const char *cio_http_request_method(const cio_http_request *req) { return req ? req->method : NULL; }
const char *cio_http_request_target(const cio_http_request *req) { return req ? req->target : NULL; }
const char *cio_http_request_path(const cio_http_request *req) { return req ? req->path : NULL; }
const char *cio_http_request_query_string(const cio_http_request *req)
{
    return req ? req->query : NULL;
}
int cio_http_request_version(const cio_http_request *req) { return req ? req->minor : -1; }
bool cio_http_request_is_tls(const cio_http_request *req) { return req && req->c->tls; }
void *cio_http_request_data(const cio_http_request *req) { return req ? req->data : NULL; }
void cio_http_request_set_data(cio_http_request *req, void *data)
{
    if (req)
        req->data = data;
}
int64_t cio_http_request_content_length(const cio_http_request *req)
{
    return req ? req->content_length : 0;
}

const char *cio_http_request_header(const cio_http_request *req, const char *name)
{
    if (!req || !name)
        return NULL;
    size_t n = strlen(name);
    for (size_t i = 0; i < req->nfields; i++) {
        const struct cio__http_field *f = &req->fields[i];
        if (cio__http_ieq(f->name, f->nlen, name, n))
            return f->value;
    }
    return NULL;
}

size_t cio_http_request_headers(const cio_http_request *req, const char *name, const char **values,
                                size_t max)
{
    if (!req || !name || (!values && max))
        return 0;
    size_t n = strlen(name), count = 0;
    for (size_t i = 0; i < req->nfields; i++) {
        const struct cio__http_field *f = &req->fields[i];
        if (cio__http_ieq(f->name, f->nlen, name, n)) {
            if (count < max)
                values[count] = f->value;
            count++;
        }
    }
    return count;
}

int cio_http_request_header_at(const cio_http_request *req, size_t i, const char **name,
                               const char **value)
{
    if (!req || !name || !value)
        return -EINVAL;
    if (i >= req->nfields)
        return -ENOENT;
    *name = req->fields[i].name;
    *value = req->fields[i].value;
    return 0;
}

/* The peer's address, asked of the kernel at the first use (a
 * connection whose requests never ask costs no getpeername). */
static const cio_addr *conn_peer(struct cio__http_conn *c)
{
    if (!c->peer_known) {
        if (cio_socket_peer(cio_stream_fd(c->s), &c->peer))
            memset(&c->peer, 0, sizeof c->peer);
        c->peer_known = true;
    }
    return &c->peer;
}

int cio_http_request_peer(const cio_http_request *req, cio_addr *out)
{
    if (!req || !out)
        return -EINVAL;
    *out = *conn_peer(req->c);
    return 0;
}

/* ---- Trusted proxies ------------------------------------------------------------ */

static int cidr_parse(const char *text, struct cio__http_cidr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    size_t n = strlen(text);
    if (n == 0 || n >= sizeof buf)
        return -EINVAL;
    memcpy(buf, text, n + 1);
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        *slash = 0;
        char *end;
        if (!slash[1] || slash[1] < '0' || slash[1] > '9')
            return -EINVAL;
        errno = 0;
        bits = strtol(slash + 1, &end, 10);
        if (*end || errno)
            return -EINVAL;
    }
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        if (bits > 32)
            return -EINVAL;
        out->bits = bits < 0 ? 32 : (unsigned)bits;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        if (bits > 128)
            return -EINVAL;
        out->bits = bits < 0 ? 128 : (unsigned)bits;
    } else {
        return -EINVAL;
    }
    return 0;
}

/* The raw address of a (v4, v6 or v4-mapped v6) address: family and bytes. */
static int addr_bytes(const cio_addr *a, unsigned char *b)
{
    if (a->u.sa.sa_family == AF_INET) {
        memcpy(b, &a->u.in4.sin_addr, 4);
        return AF_INET;
    }
    if (a->u.sa.sa_family == AF_INET6) {
        const unsigned char *p = (const unsigned char *)&a->u.in6.sin6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(p, mapped, 12) == 0) {
            memcpy(b, p + 12, 4);
            return AF_INET;
        }
        memcpy(b, p, 16);
        return AF_INET6;
    }
    return AF_UNSPEC;
}

static bool cidr_match(const struct cio__http_cidr *c, int family, const unsigned char *b)
{
    if (c->family != family)
        return false;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, b, full))
        return false;
    if (rest) {
        unsigned char mask = (unsigned char)(0xff << (8 - rest));
        if ((c->addr[full] & mask) != (b[full] & mask))
            return false;
    }
    return true;
}

static bool is_trusted(const cio_http_server *srv, const cio_addr *a)
{
    unsigned char b[16];
    int fam = addr_bytes(a, b);
    if (fam == AF_UNSPEC)
        return false;
    for (size_t i = 0; i < srv->nproxies; i++)
        if (cidr_match(&srv->proxies[i], fam, b))
            return true;
    return false;
}

/* Parses a node of Forwarded or X-Forwarded-For: "1.2.3.4", "1.2.3.4:80",
 * "[::1]", "[::1]:80", "::1" (XFF only). */
static int parse_node(const char *s, size_t n, cio_addr *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    unsigned port = 0;
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
        s++, n -= 2;
    const char *h = s, *pe = NULL;
    size_t hl = n;
    if (n && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb)
            return -EINVAL;
        h = s + 1;
        hl = (size_t)(rb - h);
        if (rb + 1 < s + n) {
            if (rb[1] != ':')
                return -EINVAL;
            pe = rb + 2;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon && !memchr(colon + 1, ':', (size_t)(s + n - colon - 1))) {
            hl = (size_t)(colon - s);
            pe = colon + 1;
        }
    }
    if (pe) {
        const char *end = s + n;
        if (pe == end)
            return -EINVAL;
        for (const char *p = pe; p < end; p++) {
            if (*p < '0' || *p > '9' || port > 6553)
                return -EINVAL;
            port = port * 10 + (unsigned)(*p - '0');
        }
        if (port > 65535)
            return -EINVAL;
    }
    if (hl == 0 || hl >= sizeof host)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = 0;
    return cio_addr_ip(host, (uint16_t)port, out);
}

int cio_http_request_client(const cio_http_request *req, cio_addr *out)
{
    if (!req || !out)
        return -EINVAL;
    const cio_http_server *srv = req->c->srv;
    *out = *conn_peer(req->c);
    if (!srv->nproxies || !is_trusted(srv, out))
        return 0;
    /* Forwarded (RFC 7239): the last element's for=, walking back past
     * trusted proxies. */
    const char *vals[32];
    size_t nv = cio_http_request_headers(req, "Forwarded", vals, 32);
    if (nv > 32)
        nv = 32;
    cio_addr found;
    for (size_t k = nv; k-- > 0;) {
        /* elements separated by ',', pairs by ';' */
        const char *v = vals[k];
        const char *elems[32];
        size_t ne = 0;
        const char *p = v;
        elems[ne++] = p;
        for (; *p && ne < 32; p++)
            if (*p == ',')
                elems[ne++] = p + 1;
        for (size_t e = ne; e-- > 0;) {
            const char *start = elems[e];
            const char *end = strchr(start, ',');
            if (!end)
                end = start + strlen(start);
            const char *q = start;
            while (q < end) {
                const char *semi = memchr(q, ';', (size_t)(end - q));
                const char *pend = semi ? semi : end;
                while (q < pend && (*q == ' ' || *q == '\t')) q++;
                if (pend - q > 4 && cio__http_ieq(q, 4, "for=", 4)) {
                    if (parse_node(q + 4, (size_t)(pend - q - 4), &found) == 0) {
                        if (!is_trusted(srv, &found)) {
                            *out = found;
                            return 0;
                        }
                        *out = found;
                    }
                }
                q = semi ? semi + 1 : end;
            }
        }
    }
    if (nv)
        return 0;
    nv = cio_http_request_headers(req, "X-Forwarded-For", vals, 32);
    if (nv > 32)
        nv = 32;
    for (size_t k = nv; k-- > 0;) {
        const char *v = vals[k];
        size_t len = strlen(v);
        while (len) {
            const char *comma = NULL;
            for (size_t i = len; i-- > 0;)
                if (v[i] == ',') {
                    comma = v + i;
                    break;
                }
            const char *s = comma ? comma + 1 : v;
            size_t sl = len - (size_t)(s - v);
            if (parse_node(s, sl, &found) == 0) {
                *out = found;
                if (!is_trusted(srv, &found))
                    return 0;
            }
            len = comma ? (size_t)(comma - v) : 0;
        }
    }
    return 0;
}

/* ---- The output buffer --------------------------------------------------------- */

char *cio__http_out_reserve(struct cio__http_conn *c, size_t n)
{
    if (c->ocap - c->olen < n) {
        size_t cap = c->ocap ? c->ocap : 4096;
        while (cap - c->olen < n)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p)
            return NULL;
        c->out = p;
        c->ocap = cap;
    }
    char *p = c->out + c->olen;
    c->olen += n;
    return p;
}

int cio__http_out_append(struct cio__http_conn *c, const void *p, size_t n)
{
    char *d = cio__http_out_reserve(c, n);
    if (!d)
        return -ENOMEM;
    memcpy(d, p, n);
    return 0;
}

int cio__http_out_flush(struct cio__http_conn *c, const struct iovec *iov, int iovcnt)
{
    struct iovec v[8];
    int n = 0;
    if (c->olen)
        v[n++] = (struct iovec){c->out, c->olen};
    for (int i = 0; i < iovcnt && n < 8; i++)
        if (iov[i].iov_len)
            v[n++] = iov[i];
    c->olen = 0;
    c->queued = 0;
    if (!n)
        return 0;
    int rc = cio_stream_writev(c->s, v, n);
    if (rc) {
        c->broken = true;
        if (rc == -ECANCELED)
            c->cancelled = true;
    }
    /* A big output buffer is given back rather than kept per connection. */
    if (c->ocap > 65536) {
        free(c->out);
        c->out = NULL;
        c->ocap = 0;
    }
    return rc;
}

/* ---- The parser ------------------------------------------------------------------ */

#define CONN(p) ((struct cio__http_conn *)(p)->data)

static int on_method(llhttp_t *p, const char *at, size_t n)
{
    struct cio__http_conn *c = CONN(p);
    if (!c->m_len)
        c->m_off = (size_t)(at - c->base);
    c->m_len += n;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    struct cio__http_conn *c = CONN(p);
    if (!c->u_len)
        c->u_off = (size_t)(at - c->base);
    c->u_len += n;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct cio__http_conn *c = CONN(p);
    if (c->hdr_end) {
        /* A trailer field: counted against the header limit, dropped. */
        c->in_trailer = true;
        c->trailer_bytes += n;
        return c->trailer_bytes > c->srv->opts.max_header_size ? -1 : 0;
    }
    if (!c->in_name) {
        if (c->nspans_fields >= c->srv->opts.max_headers) {
            c->err_status = 431;
            return -1;
        }
        if (c->nspans_fields == c->span_cap) {
            size_t cap = c->span_cap ? c->span_cap * 2 : 32;
            size_t *s = realloc(c->spans, cap * 4 * sizeof *s);
            if (!s) {
                c->err_status = 500;
                return -1;
            }
            c->spans = s;
            c->span_cap = cap;
        }
        size_t *s = c->spans + 4 * c->nspans_fields++;
        s[0] = (size_t)(at - c->base);
        s[1] = 0;
        s[2] = 0;
        s[3] = 0;
        c->in_name = true;
    }
    c->spans[4 * (c->nspans_fields - 1) + 1] += n;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct cio__http_conn *c = CONN(p);
    if (c->hdr_end) {
        c->want_value = true;
        return 0;
    }
    /* An empty field name (": v") gets no on_header_field: refused. */
    if (!c->in_name)
        return -1;
    c->in_name = false;
    c->want_value = true;
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct cio__http_conn *c = CONN(p);
    if (!c->want_value)
        return -1;
    c->want_value = false;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct cio__http_conn *c = CONN(p);
    if (c->hdr_end) {
        /* A trailer value: dropped, but an obs-fold is refused as in the
         * header section (RFC 9112 5.2): a value, or a piece of one, that
         * follows a line end and OWS, or that holds CR or LF. */
        const char *q = at;
        while (q > c->base && (q[-1] == ' ' || q[-1] == '\t'))
            q--;
        if ((q > c->base ? q[-1] : c->tr_last) == '\n' || memchr(at, '\n', n) ||
            memchr(at, '\r', n))
            return -1;
        c->trailer_bytes += n;
        return c->trailer_bytes > c->srv->opts.max_header_size ? -1 : 0;
    }
    if (!c->want_value)
        return -1;
    size_t *s = c->spans + 4 * (c->nspans_fields - 1);
    if (!s[3])
        s[2] = (size_t)(at - c->base);
    s[3] += n;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct cio__http_conn *c = CONN(p);
    if (c->body_dst)
        memcpy(c->body_dst + c->body_got, at, n);
    c->body_got += n;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    CONN(p)->msg_done = true;
    return HPE_PAUSED;
}

static const llhttp_settings_t parser_settings = {
    .on_method = on_method,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- Refusing a request ------------------------------------------------------------ */

/* After a refusal: the error response goes out, the write side is shut,
 * and what the client still sends is read and dropped for a while, so the
 * response is not lost to a reset (a lingering close, as nginx does). No
 * byte after the refused request is ever answered. */
static void linger_close(struct cio__http_conn *c)
{
    if (c->olen && cio__http_out_flush(c, NULL, 0))
        return;
    if (cio_stream_shutdown(c->s))
        return;
    cio_scope sc;
    if (cio_timeout_begin(&sc, LINGER_TIME))
        return;
    size_t dropped = 0;
    const void *d;
    size_t n;
    while (dropped < LINGER_MAX) {
        if (cio_stream_peek(c->s, &d, &n) || n == 0)
            break;
        cio_stream_consume(c->s, n);
        dropped += n;
    }
    cio_scope_end(&sc);
}

/* The status for an llhttp error. */
static int error_status(struct cio__http_conn *c, llhttp_errno_t e, const char *d, size_t n)
{
    if (c->err_status)
        return c->err_status;
    switch (e) {
    case HPE_INVALID_VERSION: {
        /* "HTTP/" DIGIT "." DIGIT that llhttp does not take: 505. */
        size_t line = 0;
        const char *nl = memchr(d, '\n', n);
        if (!nl)
            return 400;
        line = (size_t)(nl - d);
        if (line >= 10 && d[line - 1] == '\r') {
            const char *v = d + line - 9;
            if (v[-1] == ' ' && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' &&
                v[6] == '.' && v[7] >= '0' && v[7] <= '9')
                return 505;
        }
        return 400;
    }
    case HPE_INVALID_METHOD: {
        /* A method that is a token llhttp does not know: 501. */
        size_t i = 0;
        while (i < n && cio__http_is_tchar((unsigned char)d[i]))
            i++;
        if (i > 0 && i < n && d[i] == ' ')
            return 501;
        return 400;
    }
    default:
        return 400;
    }
}

/* ---- Reading the header section ----------------------------------------------------- */

static void parser_reset(struct cio__http_conn *c)
{
    llhttp_reset(&c->parser);
    c->parsed = 0;
    c->line_end = 0;
    c->hdr_end = 0;
    c->m_off = c->m_len = c->u_off = c->u_len = 0;
    c->nspans_fields = 0;
    c->in_name = false;
    c->want_value = false;
    c->err_status = 0;
    c->trailer_bytes = 0;
    c->in_trailer = false;
    c->tr_last = 0;
    c->msg_done = false;
}

static void request_reset(struct cio__http_conn *c)
{
    cio_http_request *req = &c->req;
    req->method = req->target = req->path = req->raw_path = req->query = NULL;
    req->method_len = 0;
    req->minor = 1;
    req->head = false;
    req->nfields = 0;
    req->data = NULL;
    memset(req->slots, 0, sizeof req->slots);
    req->content_length = 0;
    req->has_body = false;
    req->body_done = true;
    req->expect_continue = false;
    req->body_err = 0;
    req->body_read = 0;
    req->body_copy = NULL;
    req->body_copy_len = 0;
    req->rate_start = 0;
    req->rate_bytes = 0;
}

/* Checks the limits on a header section not complete yet. Returns 0 or
 * the status. */
static int head_limits(struct cio__http_conn *c, const char *d, size_t n)
{
    const cio_http_server_options *o = &c->srv->opts;
    if (!c->line_end) {
        const char *nl = memchr(d, '\n', n);
        if (nl)
            c->line_end = (size_t)(nl - d) + 1;
        else if (n > o->max_request_line)
            return 414;
    }
    if (c->line_end) {
        if (c->line_end - 2 > o->max_request_line)
            return 414;
        if (n - c->line_end > o->max_header_size + 2)
            return 431;
    }
    return 0;
}

/* Reads and parses a header section; d/n hold the bytes peeked already.
 * Returns 0 (c->hdr_end set; the bytes are at *data), a status to refuse
 * with, or -1 to close without answering. */
static int read_head(struct cio__http_conn *c, const char **data, size_t *len)
{
    const char *d = *data;
    size_t n = *len;
    const cio_http_server_options *o = &c->srv->opts;
    bool scoped = false;
    cio_scope sc;
    int status = 0;
    for (;;) {
        c->base = d;
        llhttp_errno_t e = llhttp_execute(&c->parser, d + c->parsed, n - c->parsed);
        if (e == HPE_PAUSED) {
            c->hdr_end = (size_t)(llhttp_get_error_pos(&c->parser) - d);
            llhttp_resume(&c->parser);
            break;
        }
        if (e != HPE_OK) {
            status = error_status(c, e, d, n);
            break;
        }
        c->parsed = n;
        if ((status = head_limits(c, d, n)))
            break;
        if (c->olen && cio__http_out_flush(c, NULL, 0)) {
            status = -1;
            break;
        }
        if (!scoped) {
            if (cio_deadline_begin(&sc, c->req.start_time + o->header_timeout)) {
                status = -1;
                break;
            }
            scoped = true;
        }
        const void *pd;
        int rc = cio_stream_peek(c->s, &pd, &n);
        d = pd;
        if (rc == -ETIMEDOUT && cio_scope_is_expired(&sc)) {
            status = 408;
            break;
        }
        if (rc == -EMSGSIZE) {
            status = c->line_end ? 431 : 414;
            break;
        }
        if (rc == -ECANCELED)
            c->cancelled = true;
        if (rc || n == 0) {
            /* The client went away mid-request (or the task was cancelled). */
            status = -1;
            break;
        }
    }
    if (scoped)
        cio_scope_end(&sc);
    if (status)
        return status;
    /* Complete at once: the limits still apply. */
    if (!c->line_end) {
        const char *nl = memchr(d, '\n', c->hdr_end);
        c->line_end = nl ? (size_t)(nl - d) + 1 : c->hdr_end;
    }
    if (c->line_end - 2 > o->max_request_line)
        return 414;
    if (c->hdr_end - c->line_end > o->max_header_size + 2)
        return 431;
    *data = d;
    *len = n;
    return 0;
}

/* ---- Building the request ------------------------------------------------------------ */

/* Bytes a Host value may not hold: CTLs, SP, DEL, non-ASCII and the
 * delimiters no uri-host [ ":" port ] has. */
static const unsigned char host_bad[256] = {
    [0 ... 0x20] = 1, [0x7f ... 0xff] = 1,
    ['/'] = 1, ['?'] = 1, ['#'] = 1, ['@'] = 1, ['"'] = 1, ['<'] = 1, ['>'] = 1,
    ['\\'] = 1, ['^'] = 1, ['`'] = 1, ['{'] = 1, ['|'] = 1, ['}'] = 1,
};

static bool host_ok(const char *v, size_t n)
{
    /* uri-host [ ":" port ]: reg-name / IPv4 / IP-literal characters; an
     * empty Host is allowed (RFC 9112 3.2). */
    for (size_t i = 0; i < n; i++)
        if (host_bad[(unsigned char)v[i]])
            return false;
    return true;
}

/* Transfer-Encoding: "chunked" only, once, last. Returns 0, 400 or 501. */
static int te_check(const char *v, size_t n, bool *chunked_seen, bool *other)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        if (i >= n)
            break;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ';' && v[i] != ' ' && v[i] != '\t')
            i++;
        size_t tl = i - s;
        if (*chunked_seen)
            return 400; /* something after chunked */
        if (cio__http_ieq(v + s, tl, "chunked", 7)) {
            *chunked_seen = true;
        } else {
            if (!cio__http_is_token(v + s, tl))
                return 400;
            *other = true;
        }
        /* transfer parameters: chunked has none */
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
            i++;
        if (i < n && v[i] != ',')
            return 400;
    }
    return 0;
}

static int build_request(struct cio__http_conn *c, const char *d)
{
    cio_http_request *req = &c->req;
    const cio_http_server_options *o = &c->srv->opts;
    size_t hl = c->hdr_end;
    if (c->hcap < hl + 1) {
        size_t cap = c->hcap ? c->hcap : 1024;
        while (cap < hl + 1)
            cap *= 2;
        char *p = realloc(c->hbuf, cap);
        if (!p)
            return 500;
        c->hbuf = p;
        c->hcap = cap;
    }
    char *h = c->hbuf;
    memcpy(h, d, hl);
    h[hl] = 0;
    size_t nf = c->nspans_fields;
    if (c->fcap < nf) {
        size_t cap = c->fcap ? c->fcap : 16;
        while (cap < nf)
            cap *= 2;
        struct cio__http_field *f = realloc(c->fields, cap * sizeof *f);
        if (!f)
            return 500;
        c->fields = f;
        c->fcap = cap;
    }
    req->fields = c->fields;
    req->nfields = nf;
    /* The request line is method SP target SP "HTTP/" d "." d CRLF, one
     * space each (llhttp takes runs of spaces, and HTTP/0.9's bare
     * "GET /"). */
    size_t te_ = c->u_off + c->u_len;
    if (c->m_off + c->m_len + 1 != c->u_off || h[c->u_off - 1] != ' ' || te_ + 11 > hl ||
        h[te_] != ' ' || h[te_ + 1] != 'H' || h[te_ + 9] != '\r' || h[te_ + 10] != '\n')
        return 400;
    h[c->m_off + c->m_len] = 0;
    req->method = h + c->m_off;
    req->method_len = c->m_len;
    h[c->u_off + c->u_len] = 0;
    req->target = h + c->u_off;
    req->minor = c->parser.http_minor;
    req->head = c->parser.method == HTTP_HEAD;

    /* The request line is method SP target SP "HTTP/" d "." d CRLF, one
     * space each (llhttp takes runs of spaces, and HTTP/0.9's bare
     * "GET /"). */
    /* The version: 1.0 and 1.1 (llhttp also takes 0.9 and 2.0). */
    if (c->parser.http_major != 1 || c->parser.http_minor > 1)
        return 505;

    /* The lines of the header section, from the spans: each field line is
     * name ":" OWS value OWS CRLF, and the section ends with CRLF. This
     * refuses what llhttp 8.1 lets through: an obs-fold after an empty
     * value ("Transfer-Encoding:" CRLF " chunked" is chunked to llhttp;
     * RFC 9112 5.2 allows a 400) and a bare LF as the blank line ending
     * the section (RFC 9112 2.2, like bare LF elsewhere). */
    size_t pos = te_ + 11;
    for (size_t i = 0; i < nf; i++) {
        const size_t *s = c->spans + 4 * i;
        if (s[0] != pos || h[s[0] + s[1]] != ':')
            return 400;
        size_t v = s[0] + s[1] + 1, ve = v;
        if (s[3]) {
            for (; v < s[2]; v++)
                if (h[v] != ' ' && h[v] != '\t')
                    return 400;
            ve = s[2] + s[3];
        }
        while (ve < hl && (h[ve] == ' ' || h[ve] == '\t'))
            ve++;
        if (ve + 2 > hl || h[ve] != '\r' || h[ve + 1] != '\n')
            return 400;
        pos = ve + 2;
    }
    if (pos + 2 != hl || h[pos] != '\r' || h[pos + 1] != '\n')
        return 400;

    size_t hosts = 0;
    bool te = false, chunked_seen = false, te_other = false, expect = false;
    int te_status = 0;
    for (size_t i = 0; i < nf; i++) {
        size_t *s = c->spans + 4 * i;
        struct cio__http_field *f = &c->fields[i];
        char *name = h + s[0];
        char *value = s[3] ? h + s[2] : h + s[0] + s[1]; /* empty: the ':' made a NUL */
        size_t vl = s[3];
        while (vl && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
            vl--;
        name[s[1]] = 0;
        value[vl] = 0;
        f->name = name;
        f->nlen = (uint32_t)s[1];
        f->value = value;
        f->vlen = (uint32_t)vl;
        /* Controls in a value (llhttp lets some through outside strict
         * builds): refused. */
        if (!f->nlen || !cio__http_is_field_value(value, vl))
            return 400;
        switch (f->nlen) {
        case 4:
            if (cio__http_ieq(name, 4, "host", 4)) {
                hosts++;
                if (!host_ok(value, vl))
                    return 400;
            }
            break;
        case 6:
            if (cio__http_ieq(name, 6, "expect", 6)) {
                if (!cio__http_ieq(value, vl, "100-continue", 12))
                    return 417;
                expect = true;
            }
            break;
        case 17:
            if (cio__http_ieq(name, 17, "transfer-encoding", 17)) {
                te = true;
                int st = te_check(value, vl, &chunked_seen, &te_other);
                if (st && !te_status)
                    te_status = st;
            }
            break;
        }
    }
    if (hosts > 1 || (hosts == 0 && req->minor == 1))
        return 400;
    if (te) {
        /* RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is a framing fault
         * (400); so is a list that is not tokens, or "chunked" not last or
         * twice (te_check: 400). Otherwise a coding other than chunked,
         * before chunked or alone, is one this server does not implement:
         * 501 (RFC 9112 6.1, and cio/http.h). Every one closes. */
        if (req->minor == 0)
            return 400;
        if (te_status)
            return te_status;
        if (te_other)
            return 501;
        if (!chunked_seen)
            return 400; /* an empty list */
    }
    if (c->parser.method == HTTP_CONNECT)
        return 501;

    /* The target: origin-form, absolute-form, or "*" for OPTIONS. */
    const char *t = req->target;
    size_t tl = c->u_len;
    const char *path = t;
    size_t pl;
    if (t[0] == '/') {
        /* origin-form */
    } else if (tl == 1 && t[0] == '*') {
        if (c->parser.method != HTTP_OPTIONS)
            return 400;
        path = "/";
    } else {
        /* absolute-form: scheme "://" authority path-abempty [ "?" query ] */
        const char *colon = strchr(t, ':');
        if (!colon || colon == t || colon[1] != '/' || colon[2] != '/')
            return 400;
        for (const char *p = t; p < colon; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (p > t && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))))
                return 400;
        const char *auth = colon + 3;
        const char *pe = auth + strcspn(auth, "/?#");
        if (pe == auth)
            return 400;
        path = pe;
    }
    const char *q = strchr(path, '?');
    if (q) {
        req->query = q + 1;
        pl = (size_t)(q - path);
    } else {
        req->query = "";
        pl = strlen(path);
    }
    if (memchr(path, '#', pl))
        return 400;
    if (pl == 0) {
        req->raw_path = "/";
        pl = 1;
    } else if (!q) {
        req->raw_path = path;
    } else {
        req->raw_path = cio__http_strndup(req, path, pl);
        if (!req->raw_path)
            return 500;
    }
    if (pl && req->raw_path[0] != '/')
        return 400;
    if (!memchr(req->raw_path, '%', pl)) {
        req->path = req->raw_path;
    } else {
        char *dp = cio__http_alloc(req, pl + 1);
        if (!dp)
            return 500;
        ssize_t r = cio__http_pct_decode(dp, req->raw_path, pl, false);
        if (r < 0 || memchr(dp, 0, (size_t)r))
            return 400;
        req->path = dp;
    }

    /* The body. */
    uint16_t fl = c->parser.flags;
    if (fl & F_CHUNKED) {
        req->content_length = -1;
        req->has_body = true;
    } else if (fl & F_CONTENT_LENGTH) {
        if (c->parser.content_length > (uint64_t)INT64_MAX)
            return 400;
        req->content_length = (int64_t)c->parser.content_length;
        req->has_body = req->content_length > 0;
    } else {
        req->content_length = 0;
        req->has_body = false;
    }
    req->body_done = !req->has_body;
    req->expect_continue = expect && req->has_body && req->minor == 1;
    if (req->content_length > 0 && o->max_body_size != UINT64_MAX &&
        (uint64_t)req->content_length > o->max_body_size)
        return 413;
    c->keep_alive = llhttp_should_keep_alive(&c->parser);
    /* Upgrade is not supported: the request is an ordinary one, and llhttp
     * must go on parsing its body and the next request. */
    c->parser.upgrade = 0;
    c->parser.flags &= (uint16_t)~F_UPGRADE;
    return 0;
}

/* ---- Request bodies ----------------------------------------------------------------- */

bool cio__http_must_close(struct cio__http_conn *c)
{
    cio_http_request *req = &c->req;
    if (!c->keep_alive || c->broken || c->srv->shutting_down)
        return true;
    if (c->srv->opts.max_requests && c->nrequests >= c->srv->opts.max_requests)
        return true;
    if (req->has_body && !req->body_done) {
        if (req->expect_continue || req->body_err)
            return true;
        if (req->content_length > 0 &&
            (uint64_t)req->content_length - req->body_read > DRAIN_MAX)
            return true;
    }
    return false;
}

/* Reads body bytes into buf (NULL: dropped) through llhttp. */
static ssize_t body_read(struct cio__http_conn *c, char *buf, size_t len)
{
    cio_http_request *req = &c->req;
    const cio_http_server_options *o = &c->srv->opts;
    if (req->body_done)
        return 0;
    if (req->body_err)
        return req->body_err;
    if (req->expect_continue) {
        req->expect_continue = false;
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (cio__http_out_append(c, cont, sizeof cont - 1) || cio__http_out_flush(c, NULL, 0))
            return req->body_err = -ECONNRESET;
    }
    cio_loop *loop = c->srv->loop;
    for (;;) {
        const void *pd;
        size_t n;
        int rc;
        if (cio_stream_readable(c->s) == 0) {
            if (c->olen && cio__http_out_flush(c, NULL, 0))
                return req->body_err = -ECONNRESET;
            if (o->body_min_rate > 0) {
                double now = cio_loop_time(loop);
                if (req->rate_start == 0) {
                    req->rate_start = now;
                    req->rate_bytes = 0;
                }
                double end = req->rate_start + o->body_rate_window;
                if (now >= end) {
                    if ((double)req->rate_bytes < o->body_min_rate * o->body_rate_window)
                        return req->body_err = -ETIMEDOUT;
                    req->rate_start = now;
                    req->rate_bytes = 0;
                    end = now + o->body_rate_window;
                }
                cio_scope sc;
                if ((rc = cio_deadline_begin(&sc, end)))
                    return rc;
                rc = cio_stream_peek(c->s, &pd, &n);
                bool mine = rc == -ETIMEDOUT && cio_scope_is_expired(&sc);
                cio_scope_end(&sc);
                if (mine)
                    continue; /* the window is judged at the top */
            } else {
                rc = cio_stream_peek(c->s, &pd, &n);
            }
        } else {
            rc = cio_stream_peek(c->s, &pd, &n);
        }
        if (rc == -ECANCELED)
            c->cancelled = true;
        if (rc == -ETIMEDOUT || rc == -ECANCELED)
            return rc;
        if (rc || n == 0)
            return req->body_err = -ECONNRESET;
        size_t feed = n;
        if (feed > len)
            feed = len;
        c->body_dst = buf;
        c->body_got = 0;
        const char *d = pd;
        c->base = d;
        llhttp_errno_t e = llhttp_execute(&c->parser, d, feed);
        size_t used = feed;
        if (e == HPE_PAUSED) {
            used = (size_t)(llhttp_get_error_pos(&c->parser) - d);
            req->body_done = true;
        } else if (e != HPE_OK) {
            cio_stream_consume(c->s, used);
            return req->body_err = -EPROTO;
        }
        if (c->in_trailer) {
            /* For the obs-fold check of a trailer value starting in the
             * next read. */
            const char *q = d + used;
            while (q > d && (q[-1] == ' ' || q[-1] == '\t'))
                q--;
            if (q > d)
                c->tr_last = q[-1];
        }
        cio_stream_consume(c->s, used);
        req->rate_bytes += used;
        size_t got = c->body_got;
        req->body_read += got;
        if (o->max_body_size != UINT64_MAX && req->body_read > o->max_body_size)
            return req->body_err = -EMSGSIZE;
        if (got || req->body_done)
            return (ssize_t)got;
    }
}

ssize_t cio_http_request_read(cio_http_request *req, void *buf, size_t len)
{
    if (!req || !buf || len == 0)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    return body_read(req->c, buf, len);
}

int cio_http_request_body(cio_http_request *req, size_t max, const void **data, size_t *len)
{
    if (data)
        *data = NULL;
    if (len)
        *len = 0;
    if (!req || !data || !len)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (req->body_copy) {
        *data = req->body_copy;
        *len = req->body_copy_len;
        return 0;
    }
    if (max == 0)
        max = req->c->srv->opts.max_body_size > SIZE_MAX - 1 ? SIZE_MAX - 1
                                                            : (size_t)req->c->srv->opts.max_body_size;
    /* After reads by pieces: what is left of the body. */
    size_t cap, got = 0;
    if (req->content_length >= 0) {
        uint64_t left = (uint64_t)req->content_length - req->body_read;
        if (left > max)
            return -EMSGSIZE;
        cap = (size_t)left;
    } else {
        cap = max < 4096 ? max : 4096;
    }
    char *p = malloc(cap + 1);
    if (!p)
        return -ENOMEM;
    for (;;) {
        if (got == cap) {
            if (req->body_done)
                break;
            if (cap >= max) {
                /* One more byte tells whether the body is longer than max. */
                char extra;
                ssize_t r = body_read(req->c, &extra, 1);
                if (r == 0)
                    break;
                free(p);
                return r < 0 ? (int)r : -EMSGSIZE;
            }
            size_t ncap = cap * 2 > max ? max : cap * 2;
            char *np = realloc(p, ncap + 1);
            if (!np) {
                free(p);
                return -ENOMEM;
            }
            p = np;
            cap = ncap;
        }
        ssize_t r = body_read(req->c, p + got, cap - got);
        if (r < 0) {
            free(p);
            return (int)r;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    p[got] = 0;
    if (cio__http_on_end(req, free, p)) {
        free(p);
        return -ENOMEM;
    }
    req->body_copy = p;
    req->body_copy_len = got;
    *data = p;
    *len = got;
    return 0;
}

/* After the handler: reads the rest of the body, up to a bound, so the
 * connection can go on. Returns 0, or -1 to close. */
static int body_drain(struct cio__http_conn *c)
{
    cio_http_request *req = &c->req;
    if (req->body_done)
        return 0;
    if (req->expect_continue || req->body_err)
        return -1;
    uint64_t start = req->body_read;
    while (!req->body_done) {
        if (req->body_read - start > DRAIN_MAX)
            return -1;
        ssize_t r = body_read(c, NULL, 65536);
        if (r < 0)
            return -1;
    }
    return 0;
}

/* ---- The access log ---------------------------------------------------------------- */

static void log_flush(cio_http_server *srv)
{
    size_t off = 0;
    while (off < srv->loglen) {
        ssize_t w = write(srv->opts.access_log_fd, srv->log + off, srv->loglen - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    srv->loglen = 0;
}

static void log_timer_cb(void *arg)
{
    cio_http_server *srv = arg;
    srv->log_timer_on = false;
    log_flush(srv);
}

static void log_str(char **p, const char *s)
{
    char *o = *p;
    if (!s) {
        *o++ = '-';
        *p = o;
        return;
    }
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            *o++ = '\\';
            *o++ = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            static const char hx[] = "0123456789abcdef";
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hx[ch >> 4];
            *o++ = hx[ch & 15];
        } else {
            *o++ = (char)ch;
        }
    }
    *p = o;
}

static void access_log(struct cio__http_conn *c)
{
    cio_http_server *srv = c->srv;
    cio_http_request *req = &c->req;
    const char *ref = NULL, *ua = NULL;
    bool combined = srv->opts.access_log_format == CIO_HTTP_LOG_COMBINED;
    if (combined) {
        ref = cio_http_request_header(req, "Referer");
        ua = cio_http_request_header(req, "User-Agent");
    }
    size_t need = 160 + 4 * (strlen(req->method) + strlen(req->target));
    if (combined)
        need += 4 * ((ref ? strlen(ref) : 1) + (ua ? strlen(ua) : 1)) + 8;
    if (srv->logcap - srv->loglen < need) {
        if (srv->loglen)
            log_flush(srv);
        if (srv->logcap < need) {
            size_t cap = need > 65536 ? need : 65536;
            char *p = realloc(srv->log, cap);
            if (!p)
                return;
            srv->log = p;
            srv->logcap = cap;
        }
    }
    char host[CIO_ADDR_STRLEN];
    cio_addr client;
    cio_http_request_client(req, &client);
    if (cio_addr_family(&client) == AF_INET || cio_addr_family(&client) == AF_INET6) {
        unsigned char b[16];
        int fam = addr_bytes(&client, b);
        if (!inet_ntop(fam, b, host, sizeof host))
            strcpy(host, "-");
    } else {
        strcpy(host, "-");
    }
    date_refresh(srv->loop);
    char *p = srv->log + srv->loglen;
    p += sprintf(p, "%s - - [%s] \"", host, date_cache.log);
    log_str(&p, req->method);
    *p++ = ' ';
    log_str(&p, req->target);
    p += sprintf(p, " HTTP/1.%d\" %d %llu", req->minor, c->res.status,
                 (unsigned long long)c->res.sent);
    if (combined) {
        *p++ = ' ';
        *p++ = '"';
        log_str(&p, ref);
        *p++ = '"';
        *p++ = ' ';
        *p++ = '"';
        log_str(&p, ua);
        *p++ = '"';
    }
    *p++ = '\n';
    srv->loglen = (size_t)(p - srv->log);
    if (srv->loglen > 32768)
        log_flush(srv);
    else if (!srv->log_timer_on &&
             cio_call_later(srv->loop, 1.0, log_timer_cb, srv, &srv->log_timer) == 0)
        srv->log_timer_on = true;
}

/* ---- A connection ---------------------------------------------------------------------- */

static void conn_unlink(struct cio__http_conn *c)
{
    cio_http_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
}

static void conn_free(struct cio__http_conn *c)
{
    if (c->idle_armed)
        cio_timer_cancel(c->srv->loop, c->idle_timer);
    free(c->spans);
    free(c->hbuf);
    free(c->fields);
    free(c->out);
    free(c->res.fields);
    free(c->res.trailers);
    free(c);
}

/* The per-connection idle timer: expires the idle wait whose deadline has
 * passed; re-arms itself while the connection waits for a later deadline;
 * stays off while a request runs (the next wait arms it again). */
static void idle_timer_cb(void *arg)
{
    struct cio__http_conn *c = arg;
    c->idle_armed = false;
    if (!c->idle_sc)
        return;
    double now = cio_loop_time(c->srv->loop);
    if (now >= c->idle_until) {
        cio_scope_reschedule(c->idle_sc, now);
        return;
    }
    if (cio_call_at(c->srv->loop, c->idle_until, idle_timer_cb, c, &c->idle_timer) == 0) {
        c->idle_armed = true;
        c->idle_at = c->idle_until;
    } else {
        cio_scope_reschedule(c->idle_sc, c->idle_until);
    }
}

/* Begins the idle wait's scope with the deadline now + wait. Returns 0 or
 * the error of cio_deadline_begin / the timer. */
static int idle_begin(struct cio__http_conn *c, cio_scope *sc, double wait)
{
    int rc;
    double until = cio_loop_time(c->srv->loop) + wait;
    if (!(until < INFINITY))
        return cio_deadline_begin(sc, INFINITY);
    if (c->idle_armed && c->idle_at > until) {
        cio_timer_cancel(c->srv->loop, c->idle_timer);
        c->idle_armed = false;
    }
    if (!c->idle_armed) {
        if ((rc = cio_call_at(c->srv->loop, until, idle_timer_cb, c, &c->idle_timer)))
            return cio_deadline_begin(sc, until); /* the scope's own timer then */
        c->idle_armed = true;
        c->idle_at = until;
    }
    if ((rc = cio_deadline_begin(sc, INFINITY)))
        return rc;
    c->idle_until = until;
    c->idle_sc = sc;
    return 0;
}

/* Runs one request whose header section is at d. Returns 0 to go on with
 * the connection, -1 to close it. */
static int serve_request(struct cio__http_conn *c, const char *d)
{
    cio_http_request *req = &c->req;
    cio_http_server *srv = c->srv;
    int status = build_request(c, d);
    cio_stream_consume(c->s, c->hdr_end);
    c->nrequests++;
    cio__http_response_reset(c);
    if (status) {
        /* Refused before any handler: the connection ends here. */
        c->keep_alive = false;
        cio__http_error_raw(c, status, NULL);
        if (srv->opts.access_log_fd > 0)
            access_log(c);
        return -1;
    }
    int rc = cio__http_dispatch(srv->app, req, &c->res);
    if (rc == -ECANCELED)
        c->cancelled = true;
    /* A client that left mid-response (the connection's own write failed)
     * is not a handler failure. */
    bool departed = (c->broken || c->taken) &&
                    (rc == c->res.err || rc == -EPIPE || rc == -ECONNRESET ||
                     rc == -ECONNABORTED || rc == -ETIMEDOUT);
    if (rc < 0 && !req->body_err && rc != -ECANCELED && !departed)
        cio_loop_report(srv->loop, "http: %s %s: the handler failed: %s", req->method,
                        req->target, cio_strerror(rc));
    int frc = cio__http_response_finish(c, rc);
    if (srv->opts.access_log_fd > 0)
        access_log(c);
    if (frc || c->res.close || c->broken)
        return -1;
    if (body_drain(c))
        return -1;
    return 0;
}

static int conn_main(cio_stream *s, void *arg)
{
    cio_http_server *srv = arg;
    struct cio__http_conn *c = calloc(1, sizeof *c + CIO__HTTP_FIRST_BLOCK);
    if (!c)
        return -ENOMEM;
    c->srv = srv;
    c->s = s;
    c->task = cio_current_task();
    c->first.cap = CIO__HTTP_FIRST_BLOCK;
    c->req.c = c;
    c->req.blocks = &c->first;
    c->res.c = c;
    c->tls = srv->tls;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    const cio_http_server_options *o = &srv->opts;
    int result = 0;
    bool refused = false;
    for (;;) {
        const void *pd = NULL;
        size_t n = 0;
        int rc;
        if (cio_stream_readable(s) == 0) {
            if (c->olen && cio__http_out_flush(c, NULL, 0))
                break;
            if (srv->shutting_down)
                break;
            cio_scope sc;
            double wait = c->nrequests ? o->keepalive_timeout : o->header_timeout;
            if ((rc = idle_begin(c, &sc, wait))) {
                result = rc;
                break;
            }
            c->idle = true;
            rc = cio_stream_peek(s, &pd, &n);
            c->idle = false;
            c->idle_sc = NULL;
            bool expired = rc == -ETIMEDOUT && cio_scope_is_expired(&sc);
            cio_scope_end(&sc);
            if (rc == -ECANCELED) {
                /* cancelled while idle: the shutdown closes idle connections */
                c->cancelled = true;
                break;
            }
            if (expired || rc || n == 0)
                break;
        } else {
            rc = cio_stream_peek(s, &pd, &n);
            if (rc || n == 0)
                break;
        }
        request_reset(c);
        c->req.start_time = cio_loop_time(srv->loop);
        parser_reset(c);
        const char *d = pd;
        int st = read_head(c, &d, &n);
        if (st < 0)
            break;
        if (st > 0) {
            c->nrequests++;
            cio__http_response_reset(c);
            cio__http_error_raw(c, st, NULL);
            refused = true;
            break;
        }
        int r = serve_request(c, d);
        request_end(c);
        if (r) {
            refused = !c->broken && !c->taken;
            break;
        }
    }
    if (refused)
        linger_close(c);
    else if (c->olen && !c->broken)
        cio__http_out_flush(c, NULL, 0);
    request_end(c);
    bool c_cancelled = c->cancelled;
    conn_unlink(c);
    conn_free(c);
    if (c_cancelled && !result)
        result = -ECANCELED;
    return result;
}

/* ---- Taking a connection over ---------------------------------------------------------- */

int cio__http_takeover(cio_http_request *req, cio_http_response *res, int status,
                       cio_stream **stream)
{
    if (!req || !res || !stream || res->c != req->c || status < 100 || status > 999)
        return -EINVAL;
    struct cio__http_conn *c = req->c;
    if (c->taken || res->state != CIO__RES_NEW)
        return -EALREADY;
    if (req->has_body)
        return -EPROTO;
    /* Responses to earlier pipelined requests go out first. */
    if (c->olen) {
        int rc = cio__http_out_flush(c, NULL, 0);
        if (rc)
            return rc;
    }
    if (c->idle_armed) {
        cio_timer_cancel(c->srv->loop, c->idle_timer);
        c->idle_armed = false;
    }
    c->taken = true;
    c->keep_alive = false;
    cio__http_response_taken(c, status);
    *stream = c->s;
    return 0;
}

/* ---- The server ------------------------------------------------------------------------- */

static int fill_options(cio_http_server_options *o, const cio_http_server_options *in)
{
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    int rc = cio__opts_copy(o, sizeof *o, in);
    if (rc)
        return rc;
    if (!o->max_request_line)
        o->max_request_line = 8192;
    if (!o->max_header_size)
        o->max_header_size = 16384;
    if (!o->max_headers)
        o->max_headers = 100;
    if (!o->max_body_size)
        o->max_body_size = 1024 * 1024;
    if (isnan(o->header_timeout) || o->header_timeout < 0 || isnan(o->body_min_rate) ||
        isnan(o->body_rate_window) || o->body_rate_window < 0 || isnan(o->keepalive_timeout) ||
        o->keepalive_timeout < 0 || isnan(o->shutdown_grace) || o->shutdown_grace < 0)
        return -EINVAL;
    if (o->header_timeout == 0)
        o->header_timeout = 30;
    if (o->body_min_rate == 0)
        o->body_min_rate = 1024;
    if (o->body_rate_window == 0)
        o->body_rate_window = 10;
    if (o->keepalive_timeout == 0)
        o->keepalive_timeout = 75;
    if (!o->max_connections)
        o->max_connections = 10000;
    if (!o->max_pipelined)
        o->max_pipelined = 16;
    if (o->shutdown_grace == 0)
        o->shutdown_grace = 10;
    if (o->access_log_fd < 0 ||
        (o->access_log_format != CIO_HTTP_LOG_COMMON &&
         o->access_log_format != CIO_HTTP_LOG_COMBINED))
        return -EINVAL;
    if (o->max_request_line > (1u << 20) || o->max_header_size > (1u << 24) ||
        o->max_headers > 100000)
        return -EINVAL;
    return 0;
}

static void server_free(cio_http_server *srv)
{
    if (srv->log_timer_on) {
        cio_timer_cancel(srv->loop, srv->log_timer);
        srv->log_timer_on = false;
    }
    if (srv->loglen)
        log_flush(srv);
    cio__http_app_release(srv->app);
    free(srv->log);
    free(srv->server_line);
    free(srv->proxies);
    free(srv);
}

int cio_http_server_new(cio_http_app *app, const cio_addr *addr,
                        const cio_http_server_options *opts, cio_http_server **out)
{
    if (out)
        *out = NULL;
    if (!app || !addr || !out)
        return -EINVAL;
    cio_loop *loop = cio_current_loop();
    cio_http_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return -ENOMEM;
    int rc = fill_options(&srv->opts, opts);
    if (rc) {
        free(srv);
        return rc;
    }
    cio_http_server_options *o = &srv->opts;
    /* The strings the options point to are the caller's: what is kept is
     * copied (the Server line, the parsed proxies). */
    const char *sh = o->server_header ? o->server_header : "cio";
    size_t shl = strlen(sh);
    if (shl) {
        if (!cio__http_is_field_value(sh, shl) || sh[0] == ' ' || sh[0] == '\t') {
            free(srv);
            return -EINVAL;
        }
        srv->server_line = malloc(shl + 11);
        if (!srv->server_line) {
            free(srv);
            return -ENOMEM;
        }
        memcpy(srv->server_line, "Server: ", 8);
        memcpy(srv->server_line + 8, sh, shl);
        memcpy(srv->server_line + 8 + shl, "\r\n", 3);
        srv->server_line_len = shl + 10;
    }
    o->server_header = NULL;
    if (o->trusted_proxies) {
        size_t n = 0;
        while (o->trusted_proxies[n])
            n++;
        srv->proxies = calloc(n ? n : 1, sizeof *srv->proxies);
        if (!srv->proxies) {
            server_free(srv);
            return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
            if (cidr_parse(o->trusted_proxies[i], &srv->proxies[i])) {
                free(srv->server_line);
                free(srv->proxies);
                free(srv);
                return -EINVAL;
            }
        srv->nproxies = n;
    }
    o->trusted_proxies = NULL;
    if (!loop) {
        free(srv->server_line);
        free(srv->proxies);
        free(srv);
        return -EPERM;
    }
    srv->loop = loop;
    srv->app = app;
    srv->tls = o->tls != NULL;
    size_t limit = o->max_request_line + o->max_header_size + 64;
    cio_stream_options so = CIO_STREAM_OPTIONS(.tls = o->tls, .limit = limit > 65536 ? limit : 0);
    cio_server_options sopts = CIO_SERVER_OPTIONS(
        .socket = o->socket, .stream = &so,
        .max_connections = o->max_connections == SIZE_MAX ? 0 : o->max_connections,
        .stack_size = o->stack_size, .name = "http");
    o->socket = NULL;
    o->tls = NULL;
    cio__http_app_hold(app);
    rc = cio_server_new(addr, &sopts, conn_main, srv, &srv->srv);
    if (rc) {
        server_free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

int cio_http_server_addr(const cio_http_server *srv, cio_addr *out)
{
    if (!srv || !out)
        return -EINVAL;
    return cio_server_addr(srv->srv, out);
}

size_t cio_http_server_connections(const cio_http_server *srv)
{
    return srv ? srv->nconns : 0;
}

/* Begins the shutdown: idle connections are cancelled (they close), busy
 * ones see shutting_down and close after their response. */
static void begin_shutdown(cio_http_server *srv)
{
    srv->shutting_down = true;
    for (struct cio__http_conn *c = srv->conns; c; c = c->next)
        if (c->idle && c->task)
            cio_future_cancel(c->task);
}

int cio_http_server_close(cio_http_server *srv, double grace)
{
    if (!srv || isnan(grace) || srv->shutting_down)
        return -EINVAL;
    cio_future *self = cio_current_task();
    if (!self)
        return -EPERM;
    for (struct cio__http_conn *c = srv->conns; c; c = c->next)
        if (c->task == self)
            return -EDEADLK;
    if (grace < 0)
        grace = srv->opts.shutdown_grace;
    begin_shutdown(srv);
    int rc = cio_server_close(srv->srv, grace);
    if (rc == -ENOMEM) {
        /* nothing was closed: the server goes on (idle connections it
         * cancelled already are gone) */
        srv->shutting_down = false;
        return rc;
    }
    server_free(srv);
    return rc;
}

static void close_done(cio_future *fut, void *arg)
{
    (void)fut;
    server_free(arg);
}

int cio_http_server_close_future(cio_http_server *srv, double grace, cio_future **out)
{
    if (out)
        *out = NULL;
    if (!srv || !out || isnan(grace) || srv->shutting_down)
        return -EINVAL;
    if (grace < 0)
        grace = srv->opts.shutdown_grace;
    cio_future *f;
    srv->shutting_down = true;
    int rc = cio_server_close_future(srv->srv, grace, &f);
    if (rc) {
        srv->shutting_down = false;
        return rc;
    }
    begin_shutdown(srv);
    rc = cio_future_add_done_callback(f, close_done, srv);
    if (rc) {
        /* cannot happen short of memory: free when it is done */
        cio_future_unref(f);
        return rc;
    }
    *out = f;
    return 0;
}
