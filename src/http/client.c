/* The HTTP/1.1 client: the client object and its pool (connections keyed
 * by scheme, host, port and proxy; idle ones kept LIFO and closed by one
 * timer per client after idle_timeout), requests (the head written with
 * one writev, bodies in memory or streamed, chunked or not), responses
 * parsed with llhttp (strict) in place from the stream's read buffer with
 * the server's checks on top (status line, field lines, framing fields),
 * redirects, cookies, and the callback form.
 *
 * Every wait of a request runs under its absolute deadline (a deadline
 * scope over the whole of cio_http_client_request_send, and one per body
 * read), with connect_timeout around the connection and read_timeout
 * around each wait for response bytes. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <llhttp.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "cio/loop.h"
#include "cio/task.h"

#include "../common/opts.h"
#include "client_parts.h"

#define WBUF_MIN 1024
#define BODY_CHUNK 16384
#define REPLY_CACHE 32
#define DRAIN_MAX 65536


/* ---- Structures ---------------------------------------------------------------- */

struct host;

struct conn {
    struct conn *next, *prev; /* the host's idle list (LIFO: newest first) */
    struct host *h;
    cio_stream *s;
    double idle_since;
    bool via_proxy;
    unsigned uses;
    char *pauth; /* Proxy-Authorization for requests through a plain proxy */
};

struct host {
    struct host *next;
    char *key;
    size_t open; /* connections open to this origin, idle ones included */
    size_t refs; /* requests using this entry */
    struct conn *idle;
    size_t nidle;
};

struct waiter {
    struct waiter *next, *prev;
    cio_future *f;
};

struct cio_http_client {
    cio_loop *loop;
    cio_http_client_options o;
    char *proxy;
    char *ua;
    cio_tls_config *own_tls;
    const cio_tls_config *tls;
    struct host *hosts;
    size_t open, nidle;
    size_t busy; /* requests in flight, replies alive, callback jobs */
    struct waiter *wq, *wq_tail;
    cio_handle timer;
    bool timer_armed;
    bool freeing;
    cio_http_reply *cache; /* freed replies, kept with their buffers */
    size_t ncache;
};

struct rfield {
    const char *name, *value;
};

struct cio_http_reply {
    cio_http_client *c;
    cio_http_reply *next_free;
    struct conn *conn; /* until the body was read to its end */
    llhttp_t p;
    /* the head */
    int status, minor, redirects;
    const char *reason;
    char *url;
    char *hbuf;
    size_t hcap;
    struct rfield *fields;
    size_t nfields, fcap;
    size_t *spans; /* 4 per field: name off, len, value off, len */
    size_t nspans, scap;
    size_t status_off, status_len;
    const char *base;
    size_t parsed, hdr_end;
    bool in_name, want_value, msg_done, head_done;
    /* the body */
    int64_t content_length;
    bool until_close;
    bool reusable;
    bool body_done; /* raw body (framing) at its end */
    bool eof;       /* decoded body at its end */
    int err;
    double deadline;
    char *bdst;
    size_t bgot;
    /* trailers: "name\0value\0" pairs */
    char *tbuf;
    size_t tlen, tcap;
    struct rfield *trailers;
    size_t ntrailers;
    bool t_in_name;
    char tr_last; /* the last non-blank byte fed before this read */
    /* decoding */
    struct cio__http_decoder *dec;
    char *dbuf;
    size_t dlen, doff;
    /* cio_http_reply_body */
    char *body;
    size_t body_len, body_cap;
    bool have_body;
    cJSON *json;
    bool json_done;
    /* the request head */
    char *wbuf;
    size_t wlen, wcap;
};

/* ---- Small helpers ----------------------------------------------------------------- */

static double now_of(const cio_http_client *c) { return cio_loop_time(c->loop); }

static int wbuf_reserve(cio_http_reply *r, size_t n)
{
    if (r->wlen + n <= r->wcap)
        return 0;
    size_t cap = r->wcap ? r->wcap : WBUF_MIN;
    while (cap < r->wlen + n)
        cap *= 2;
    char *p = realloc(r->wbuf, cap);
    if (!p)
        return -ENOMEM;
    r->wbuf = p;
    r->wcap = cap;
    return 0;
}

static int wput(cio_http_reply *r, const char *s, size_t n)
{
    if (wbuf_reserve(r, n))
        return -ENOMEM;
    memcpy(r->wbuf + r->wlen, s, n);
    r->wlen += n;
    return 0;
}

static int wputs(cio_http_reply *r, const char *s) { return wput(r, s, strlen(s)); }

static int wfield(cio_http_reply *r, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    if (wbuf_reserve(r, nl + vl + 4))
        return -ENOMEM;
    char *p = r->wbuf + r->wlen;
    memcpy(p, name, nl);
    p[nl] = ':';
    p[nl + 1] = ' ';
    memcpy(p + nl + 2, value, vl);
    p[nl + 2 + vl] = '\r';
    p[nl + 3 + vl] = '\n';
    r->wlen += nl + vl + 4;
    return 0;
}

static bool ieq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

static bool method_idempotent(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS") ||
           !strcmp(m, "TRACE") || !strcmp(m, "PUT") || !strcmp(m, "DELETE");
}

/* ---- Waiting for a connection slot ----------------------------------------------- */

/* A slot was freed: every waiter looks again (a waiter for one host may
 * not be able to use what another host freed, so waking one could strand
 * the one that can). */
static void wake_waiters(cio_http_client *c)
{
    struct waiter *w = c->wq;
    c->wq = c->wq_tail = NULL;
    while (w) {
        struct waiter *n = w->next;
        w->next = w->prev = NULL;
        cio_future_set_result(w->f, NULL, NULL);
        w = n;
    }
}

static void wq_remove(cio_http_client *c, struct waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else if (c->wq == w)
        c->wq = w->next;
    else
        return; /* not queued */
    if (w->next)
        w->next->prev = w->prev;
    else
        c->wq_tail = w->prev;
    w->next = w->prev = NULL;
}

static int wait_slot(cio_http_client *c)
{
    struct waiter w = {0};
    int rc = cio_future_new(c->loop, &w.f);
    if (rc)
        return rc;
    w.prev = c->wq_tail;
    if (c->wq_tail)
        c->wq_tail->next = &w;
    else
        c->wq = &w;
    c->wq_tail = &w;
    rc = cio_await(w.f, NULL);
    wq_remove(c, &w);
    cio_future_unref(w.f);
    return rc;
}

/* ---- The pool -------------------------------------------------------------------------- */

static void host_put(cio_http_client *c, struct host *h)
{
    if (h->refs || h->open)
        return;
    for (struct host **pp = &c->hosts; *pp; pp = &(*pp)->next)
        if (*pp == h) {
            *pp = h->next;
            break;
        }
    free(h->key);
    free(h);
}

static void idle_unlink(cio_http_client *c, struct conn *k)
{
    struct host *h = k->h;
    if (k->prev)
        k->prev->next = k->next;
    else
        h->idle = k->next;
    if (k->next)
        k->next->prev = k->prev;
    k->next = k->prev = NULL;
    h->nidle--;
    c->nidle--;
}

/* Closes k (not in the idle list). graceful: a FIN (nothing is buffered
 * on an idle connection); else a reset. */
static void conn_close(cio_http_client *c, struct conn *k, bool graceful)
{
    struct host *h = k->h;
    if (k->s) {
        if (!graceful || cio_stream_close(k->s) == -EPERM)
            cio_stream_abort(k->s);
    }
    free(k->pauth);
    free(k);
    c->open--;
    h->open--;
    wake_waiters(c);
    host_put(c, h);
}

static void idle_sweep(void *arg);

static void arm_timer(cio_http_client *c, double when)
{
    if (c->timer_armed)
        return;
    if (cio_call_at(c->loop, when, idle_sweep, c, &c->timer) == 0)
        c->timer_armed = true;
}

static void idle_sweep(void *arg)
{
    cio_http_client *c = arg;
    c->timer_armed = false;
    double now = now_of(c), next = INFINITY;
    for (struct host *h = c->hosts, *hn; h; h = hn) {
        hn = h->next;
        h->refs++; /* keep h while its connections go */
        for (struct conn *k = h->idle, *kn; k; k = kn) {
            kn = k->next;
            if (now - k->idle_since >= c->o.idle_timeout) {
                idle_unlink(c, k);
                conn_close(c, k, true);
            } else if (k->idle_since + c->o.idle_timeout < next) {
                next = k->idle_since + c->o.idle_timeout;
            }
        }
        h->refs--;
        host_put(c, h);
    }
    if (next < INFINITY)
        arm_timer(c, next);
}

/* Gives a connection whose response was read to its end back to the pool. */
static void conn_release(cio_http_client *c, struct conn *k)
{
    struct host *h = k->h;
    if (c->freeing || cio_stream_readable(k->s) > 0) {
        /* Bytes after the response: never reused. */
        conn_close(c, k, false);
        return;
    }
    k->idle_since = now_of(c);
    k->prev = NULL;
    k->next = h->idle;
    if (h->idle)
        h->idle->prev = k;
    h->idle = k;
    h->nidle++;
    c->nidle++;
    arm_timer(c, k->idle_since + c->o.idle_timeout);
    wake_waiters(c);
}

static struct host *host_get(cio_http_client *c, const char *key)
{
    for (struct host *h = c->hosts; h; h = h->next)
        if (!strcmp(h->key, key)) {
            h->refs++;
            return h;
        }
    struct host *h = calloc(1, sizeof *h);
    if (!h || !(h->key = strdup(key))) {
        free(h);
        return NULL;
    }
    h->next = c->hosts;
    c->hosts = h;
    h->refs = 1;
    return h;
}

/* Closes the oldest idle connection of any host (to free a slot of the
 * total limit). Returns whether one was closed. */
static bool close_oldest_idle(cio_http_client *c)
{
    struct conn *best = NULL;
    for (struct host *h = c->hosts; h; h = h->next)
        for (struct conn *k = h->idle; k; k = k->next)
            if (!best || k->idle_since < best->idle_since)
                best = k;
    if (!best)
        return false;
    idle_unlink(c, best);
    conn_close(c, best, true);
    return true;
}

/* Whether an idle connection looks dead (the peer closed it or sent
 * something unasked): one non-blocking MSG_PEEK. */
static bool conn_looks_dead(struct conn *k)
{
    if (cio_stream_readable(k->s) > 0 || cio_stream_is_eof(k->s))
        return true;
    char b;
    ssize_t n = recv(cio_stream_fd(k->s), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

/* "Basic " and base64 of the percent-decoded "user:pass"; malloc'd, NULL
 * on ENOMEM (or a bad escape: the userinfo is then sent as it is). */
static char *basic_auth(const char *userinfo)
{
    size_t ul = strlen(userinfo);
    char *dec = malloc(ul + 1);
    char *b64 = malloc(4 * ((ul + 2) / 3) + 8);
    if (!dec || !b64) {
        free(dec);
        free(b64);
        return NULL;
    }
    ssize_t dl = cio__http_pct_decode(dec, userinfo, ul, false);
    if (dl < 0) {
        memcpy(dec, userinfo, ul + 1);
        dl = (ssize_t)ul;
    }
    memcpy(b64, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)b64 + 6, (unsigned char *)dec, (int)dl);
    free(dec);
    return b64;
}

/* ---- Opening connections ------------------------------------------------------------------ */

static int open_stream(cio_http_client *c, const struct cio__http_url *u, cio_stream **out,
                       bool *via_proxy, char **proxy_auth)
{
    *out = NULL;
    *via_proxy = false;
    if (proxy_auth)
        *proxy_auth = NULL;
    size_t limit = c->o.max_header_size + 4096;
    if (limit < 65536)
        limit = 65536;
    cio_socket_options so = CIO_SOCKET_OPTIONS(.resolver = c->o.resolver);
    if (u->tls && !c->tls) {
        int trc = cio_tls_config_new(&CIO_TLS_OPTIONS(.alpn = "http/1.1"), &c->own_tls);
        if (trc)
            return trc;
        c->tls = c->own_tls;
    }
    cio_scope sc;
    int rc = cio_timeout_begin(&sc, c->o.connect_timeout);
    if (rc)
        return rc;
    char *purl = NULL;
    rc = cio__http_proxy_for(c->proxy, !c->o.no_env_proxy, u, &purl);
    if (rc)
        goto out;
    if (purl) {
        struct cio__http_url pu;
        rc = cio__http_url_parse(purl, &pu);
        free(purl);
        if (rc)
            goto out;
        cio_stream *s = NULL;
        rc = cio_stream_connect_name(pu.host, pu.port, &so, &CIO_STREAM_OPTIONS(.limit = limit),
                                     &s);
        if (!rc && u->tls) {
            int st = 0;
            rc = cio__http_proxy_connect(s, u, pu.userinfo, &st);
            if (!rc)
                rc = cio_stream_start_tls(s, c->tls, u->host);
        } else if (!rc) {
            *via_proxy = true;
            if (pu.userinfo && proxy_auth && !(*proxy_auth = basic_auth(pu.userinfo)))
                rc = -ENOMEM;
        }
        cio__http_url_free(&pu);
        if (rc && s)
            cio_stream_abort(s);
        else
            *out = s;
        goto out;
    }
    rc = cio_stream_connect_name(
        u->host, u->port, &so,
        &CIO_STREAM_OPTIONS(.tls = u->tls ? c->tls : NULL, .server_name = u->host,
                            .limit = limit),
        out);
out:
    if (cio_scope_end(&sc) == -ETIMEDOUT && !rc)
        rc = -ETIMEDOUT;
    if (rc && *out) {
        cio_stream_abort(*out);
        *out = NULL;
    }
    if (rc && proxy_auth) {
        free(*proxy_auth);
        *proxy_auth = NULL;
    }
    return rc;
}

int cio__http_client_open(cio_http_client *c, const struct cio__http_url *u, cio_stream **out,
                          bool *via_proxy)
{
    if (!c || !u || !out || !via_proxy)
        return -EINVAL;
    if (!cio_current_task() || cio_current_loop() != c->loop)
        return -EPERM;
    return open_stream(c, u, out, via_proxy, NULL);
}

cio_http_jar *cio__http_client_jar(const cio_http_client *c) { return c ? c->o.jar : NULL; }

const char *cio__http_client_user_agent(const cio_http_client *c)
{
    return c && c->ua && c->ua[0] ? c->ua : NULL;
}

/* Takes an idle connection of h, or opens one within the limits (waiting
 * for a slot). *reused says which. */
static int conn_get(cio_http_client *c, struct host *h, const struct cio__http_url *u,
                    bool fresh, bool check_dead, struct conn **out, bool *reused)
{
    *out = NULL;
    *reused = false;
    for (;;) {
        while (!fresh && h->idle) {
            struct conn *k = h->idle;
            idle_unlink(c, k);
            if (now_of(c) - k->idle_since >= c->o.idle_timeout ||
                (check_dead && conn_looks_dead(k))) {
                conn_close(c, k, false);
                continue;
            }
            *out = k;
            *reused = true;
            return 0;
        }
        if (c->open < c->o.max_connections && h->open < c->o.max_per_host) {
            struct conn *k = calloc(1, sizeof *k);
            if (!k)
                return -ENOMEM;
            k->h = h;
            c->open++;
            h->open++;
            int rc = open_stream(c, u, &k->s, &k->via_proxy, &k->pauth);
            if (rc) {
                k->s = NULL;
                conn_close(c, k, false);
                return rc;
            }
            *out = k;
            return 0;
        }
        if (c->open >= c->o.max_connections && h->open < c->o.max_per_host &&
            close_oldest_idle(c))
            continue;
        int rc = wait_slot(c);
        if (rc)
            return rc;
    }
}

/* ---- Response parsing ---------------------------------------------------------------------- */

#define REPLY(p) ((cio_http_reply *)(p)->data)

static int tb_put(cio_http_reply *r, const char *s, size_t n)
{
    if (r->tlen + n + 1 > r->tcap) {
        size_t cap = r->tcap ? r->tcap * 2 : 256;
        while (cap < r->tlen + n + 1)
            cap *= 2;
        char *p = realloc(r->tbuf, cap);
        if (!p)
            return -1;
        r->tbuf = p;
        r->tcap = cap;
    }
    memcpy(r->tbuf + r->tlen, s, n);
    r->tlen += n;
    return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t n)
{
    cio_http_reply *r = REPLY(p);
    if (!r->status_len)
        r->status_off = (size_t)(at - r->base);
    r->status_len += n;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    cio_http_reply *r = REPLY(p);
    if (r->head_done) {
        if (r->tlen + n > r->c->o.max_header_size)
            return -1;
        r->t_in_name = true;
        return tb_put(r, at, n);
    }
    if (!r->in_name) {
        if (r->nspans >= r->c->o.max_headers) {
            r->err = -EMSGSIZE;
            return -1;
        }
        if (r->nspans == r->scap) {
            size_t cap = r->scap ? r->scap * 2 : 32;
            size_t *s = realloc(r->spans, cap * 4 * sizeof *s);
            if (!s) {
                r->err = -ENOMEM;
                return -1;
            }
            r->spans = s;
            r->scap = cap;
        }
        size_t *s = r->spans + 4 * r->nspans++;
        s[0] = (size_t)(at - r->base);
        s[1] = s[2] = s[3] = 0;
        r->in_name = true;
    }
    r->spans[4 * (r->nspans - 1) + 1] += n;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    cio_http_reply *r = REPLY(p);
    if (r->head_done) {
        if (!r->t_in_name)
            return -1;
        r->t_in_name = false;
        r->want_value = true;
        return tb_put(r, "", 1) ? -1 : 0;
    }
    if (!r->in_name)
        return -1;
    r->in_name = false;
    r->want_value = true;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    cio_http_reply *r = REPLY(p);
    if (!r->want_value)
        return -1;
    if (r->head_done) {
        /* A trailer value: an obs-fold (a piece that follows a line end
         * and whitespace) is refused as in the header section. */
        const char *q = at;
        while (q > r->base && (q[-1] == ' ' || q[-1] == '\t'))
            q--;
        if ((q > r->base ? q[-1] : r->tr_last) == '\n' || memchr(at, '\n', n) ||
            memchr(at, '\r', n) || r->tlen + n > r->c->o.max_header_size)
            return -1;
        return tb_put(r, at, n);
    }
    size_t *s = r->spans + 4 * (r->nspans - 1);
    if (!s[3])
        s[2] = (size_t)(at - r->base);
    s[3] += n;
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    cio_http_reply *r = REPLY(p);
    if (!r->want_value)
        return -1;
    r->want_value = false;
    if (r->head_done) {
        /* Trim the value's trailing whitespace. */
        while (r->tlen && (r->tbuf[r->tlen - 1] == ' ' || r->tbuf[r->tlen - 1] == '\t'))
            r->tlen--;
        if (tb_put(r, "", 1))
            return -1;
        r->ntrailers++;
    }
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    cio_http_reply *r = REPLY(p);
    if (r->bdst)
        memcpy(r->bdst + r->bgot, at, n);
    r->bgot += n;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    REPLY(p)->msg_done = true;
    return HPE_PAUSED;
}

static const llhttp_settings_t reply_settings = {
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void parse_reset(cio_http_reply *r)
{
    llhttp_init(&r->p, HTTP_RESPONSE, &reply_settings);
    r->p.data = r;
    r->nspans = 0;
    r->status_off = r->status_len = 0;
    r->parsed = r->hdr_end = 0;
    r->in_name = r->want_value = r->msg_done = r->head_done = false;
    r->t_in_name = false;
    r->tr_last = 0;
}

/* A peek under the request's deadline and the read limit. */
static int peek_wait(cio_http_reply *r, cio_stream *s, const void **d, size_t *n)
{
    cio_http_client *c = r->c;
    double now = now_of(c);
    if (now >= r->deadline)
        return -ETIMEDOUT;
    double when = now + c->o.read_timeout;
    if (when > r->deadline)
        when = r->deadline;
    cio_scope sc;
    int rc = cio_deadline_begin(&sc, when);
    if (rc)
        return rc;
    rc = cio_stream_peek(s, d, n);
    if (cio_scope_end(&sc) == -ETIMEDOUT && !rc)
        rc = -ETIMEDOUT;
    return rc;
}

/* Transfer-Encoding: exactly "chunked" (once, last, alone: no other coding
 * is supported). */
static bool te_ok(const char *v)
{
    size_t n = strlen(v);
    size_t i = 0;
    bool seen = false;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        if (i >= n)
            break;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (seen || !cio__http_ieq(v + s, i - s, "chunked", 7))
            return false;
        seen = true;
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
            i++;
        if (i < n && v[i] != ',')
            return false;
    }
    return seen;
}

/* Copies and checks the header section at d[0..hdr_end). */
static int build_head(cio_http_reply *r, const char *d)
{
    size_t hl = r->hdr_end;
    if (r->hcap < hl + 1) {
        size_t cap = r->hcap ? r->hcap : 1024;
        while (cap < hl + 1)
            cap *= 2;
        char *p = realloc(r->hbuf, cap);
        if (!p)
            return -ENOMEM;
        r->hbuf = p;
        r->hcap = cap;
    }
    char *h = r->hbuf;
    memcpy(h, d, hl);
    h[hl] = 0;
    size_t nf = r->nspans;
    if (r->fcap < nf) {
        size_t cap = r->fcap ? r->fcap : 16;
        while (cap < nf)
            cap *= 2;
        struct rfield *f = realloc(r->fields, cap * sizeof *f);
        if (!f)
            return -ENOMEM;
        r->fields = f;
        r->fcap = cap;
    }
    /* The status line: "HTTP/1." DIGIT SP 3DIGIT [SP reason] CRLF. */
    if (hl < 14 || memcmp(h, "HTTP/1.", 7) || (h[7] != '0' && h[7] != '1') || h[8] != ' ')
        return -EPROTO;
    for (int i = 9; i < 12; i++)
        if (h[i] < '0' || h[i] > '9')
            return -EPROTO;
    size_t pos;
    if (h[12] == '\r') {
        if (h[13] != '\n')
            return -EPROTO;
        r->reason = "";
        pos = 14;
    } else if (h[12] == ' ') {
        size_t re = 13;
        if (r->status_len) {
            if (r->status_off != 13)
                return -EPROTO;
            re = 13 + r->status_len;
        }
        if (re + 2 > hl || h[re] != '\r' || h[re + 1] != '\n')
            return -EPROTO;
        for (size_t i = 13; i < re; i++)
            if ((unsigned char)h[i] < 0x20 && h[i] != '\t')
                return -EPROTO;
        h[re] = 0;
        r->reason = h + 13;
        pos = re + 2;
    } else {
        return -EPROTO;
    }
    r->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    r->minor = h[7] - '0';
    if (r->status < 100)
        return -EPROTO;
    /* The field lines: name ":" OWS value OWS CRLF each, contiguous (so no
     * obs-fold), then CRLF. */
    for (size_t i = 0; i < nf; i++) {
        const size_t *s = r->spans + 4 * i;
        if (s[0] != pos || h[s[0] + s[1]] != ':')
            return -EPROTO;
        size_t v = s[0] + s[1] + 1, ve = v;
        if (s[3]) {
            for (; v < s[2]; v++)
                if (h[v] != ' ' && h[v] != '\t')
                    return -EPROTO;
            ve = s[2] + s[3];
        }
        while (ve < hl && (h[ve] == ' ' || h[ve] == '\t'))
            ve++;
        if (ve + 2 > hl || h[ve] != '\r' || h[ve + 1] != '\n')
            return -EPROTO;
        pos = ve + 2;
    }
    if (pos + 2 != hl || h[pos] != '\r' || h[pos + 1] != '\n')
        return -EPROTO;
    size_t ncl = 0, nte = 0;
    bool te_bad = false;
    for (size_t i = 0; i < nf; i++) {
        size_t *s = r->spans + 4 * i;
        char *name = h + s[0];
        char *value = s[3] ? h + s[2] : h + s[0] + s[1];
        size_t vl = s[3];
        while (vl && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
            vl--;
        name[s[1]] = 0;
        value[vl] = 0;
        if (!cio__http_is_token(name, s[1]) || !cio__http_is_field_value(value, vl))
            return -EPROTO;
        r->fields[i].name = name;
        r->fields[i].value = value;
        if (s[1] == 14 && cio__http_ieq(name, 14, "content-length", 14))
            ncl++;
        else if (s[1] == 17 && cio__http_ieq(name, 17, "transfer-encoding", 17)) {
            nte++;
            if (!te_ok(value))
                te_bad = true;
        }
    }
    r->nfields = nf;
    if (ncl > 1 || (ncl && nte) || nte > 1 || te_bad || (nte && r->minor == 0))
        return -EPROTO;
    return 0;
}

/* Whether the header section at d[0..n) is over the limits: the status
 * line at most 8 KiB, the field lines at most max_header_size. */
static bool head_over(const cio_http_client *c, const char *d, size_t n)
{
    const char *nl = memchr(d, '\n', n);
    if (!nl)
        return n > 8192;
    size_t line = (size_t)(nl - d) + 1;
    return line > 8192 || n - line > c->o.max_header_size + 2;
}

/* Reads the header section of the response on k into r. *got says whether
 * any response byte arrived. */
static int read_head(cio_http_reply *r, struct conn *k, bool head_req, bool *got)
{
    cio_http_client *c = r->c;
    *got = false;
    for (;;) {
        parse_reset(r);
        const void *pd;
        size_t n;
        const char *d;
        for (;;) {
            int rc = peek_wait(r, k->s, &pd, &n);
            if (rc == -ENODATA || (!rc && n == 0))
                return *got ? -EPROTO : -ECONNRESET;
            if (rc == -EMSGSIZE)
                return -EMSGSIZE;
            if (rc)
                return rc == -EBADF || rc == -ECONNABORTED ? -ECONNRESET : rc;
            *got = true;
            d = pd;
            r->base = d;
            llhttp_errno_t e = llhttp_execute(&r->p, d + r->parsed, n - r->parsed);
            if (e == HPE_PAUSED) {
                r->hdr_end = (size_t)(llhttp_get_error_pos(&r->p) - d);
                llhttp_resume(&r->p);
                break;
            }
            if (e != HPE_OK)
                return r->err ? r->err : -EPROTO;
            r->parsed = n;
            if (head_over(c, d, n))
                return -EMSGSIZE;
        }
        if (head_over(c, d, r->hdr_end))
            return -EMSGSIZE;
        int rc = build_head(r, d);
        if (rc)
            return rc;
        cio_stream_consume(k->s, r->hdr_end);
        r->head_done = true;
        if (r->status >= 100 && r->status < 200 && r->status != 101)
            continue; /* interim: dropped */
        r->reusable = llhttp_should_keep_alive(&r->p) && r->status != 101;
        uint16_t fl = r->p.flags;
        if (head_req || r->status == 204 || r->status == 304 || r->status == 101 ||
            r->status < 200) {
            r->content_length = 0;
            r->body_done = true;
        } else if (fl & F_CHUNKED) {
            r->content_length = -1;
        } else if (fl & F_CONTENT_LENGTH) {
            if (r->p.content_length > (uint64_t)INT64_MAX)
                return -EPROTO;
            r->content_length = (int64_t)r->p.content_length;
            r->body_done = r->content_length == 0;
        } else {
            r->content_length = -1;
            r->until_close = true;
            r->reusable = false;
        }
        return 0;
    }
}

/* ---- Replies ------------------------------------------------------------------------------ */

static cio_http_reply *reply_get(cio_http_client *c)
{
    cio_http_reply *r = c->cache;
    if (r) {
        c->cache = r->next_free;
        c->ncache--;
    } else {
        r = calloc(1, sizeof *r);
        if (!r)
            return NULL;
    }
    r->c = c;
    r->next_free = NULL;
    r->conn = NULL;
    r->status = 0;
    r->minor = 1;
    r->redirects = 0;
    r->reason = "";
    r->url = NULL;
    r->nfields = 0;
    r->content_length = 0;
    r->until_close = r->reusable = r->body_done = r->eof = false;
    r->err = 0;
    r->deadline = INFINITY;
    r->bdst = NULL;
    r->bgot = 0;
    r->tlen = 0;
    r->ntrailers = 0;
    r->dec = NULL;
    r->dlen = r->doff = 0;
    r->body_len = 0;
    r->have_body = false;
    r->json = NULL;
    r->json_done = false;
    r->wlen = 0;
    c->busy++;
    return r;
}

/* Ends r's use of its connection: back to the pool when the body was read
 * to its end and the connection can be reused; else closed. */
static void reply_drop_conn(cio_http_reply *r, bool ok)
{
    struct conn *k = r->conn;
    if (!k)
        return;
    r->conn = NULL;
    if (ok && r->reusable && r->body_done && !r->err)
        conn_release(r->c, k);
    else
        conn_close(r->c, k, false);
}

static void reply_release(cio_http_reply *r)
{
    cio_http_client *c = r->c;
    reply_drop_conn(r, true);
    if (r->dec)
        cio__http_decoder_free(r->dec);
    r->dec = NULL;
    if (r->json)
        cJSON_Delete(r->json);
    r->json = NULL;
    free(r->url);
    r->url = NULL;
    free(r->trailers);
    r->trailers = NULL;
    c->busy--;
    if (c->ncache < REPLY_CACHE && r->hcap <= 65536 && r->body_cap <= 65536 &&
        r->wcap <= 65536) {
        r->next_free = c->cache;
        c->cache = r;
        c->ncache++;
        return;
    }
    free(r->hbuf);
    free(r->fields);
    free(r->spans);
    free(r->tbuf);
    free(r->dbuf);
    free(r->body);
    free(r->wbuf);
    free(r);
}

static void reply_destroy(cio_http_reply *r)
{
    free(r->hbuf);
    free(r->fields);
    free(r->spans);
    free(r->tbuf);
    free(r->dbuf);
    free(r->body);
    free(r->wbuf);
    free(r);
}

void cio_http_reply_free(cio_http_reply *r)
{
    if (r)
        reply_release(r);
}

int cio_http_reply_status(const cio_http_reply *r) { return r ? r->status : -1; }
const char *cio_http_reply_reason(const cio_http_reply *r) { return r ? r->reason : NULL; }
int cio_http_reply_version(const cio_http_reply *r) { return r ? r->minor : -1; }
const char *cio_http_reply_url(const cio_http_reply *r) { return r ? r->url : NULL; }
int cio_http_reply_redirects(const cio_http_reply *r) { return r ? r->redirects : 0; }

const char *cio_http_reply_header(const cio_http_reply *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->nfields; i++)
        if (ieq(r->fields[i].name, name))
            return r->fields[i].value;
    return NULL;
}

size_t cio_http_reply_headers(const cio_http_reply *r, const char *name, const char **values,
                              size_t max)
{
    if (!r || !name)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < r->nfields; i++)
        if (ieq(r->fields[i].name, name)) {
            if (values && n < max)
                values[n] = r->fields[i].value;
            n++;
        }
    return n;
}

int cio_http_reply_header_at(const cio_http_reply *r, size_t i, const char **name,
                             const char **value)
{
    if (!r)
        return -EINVAL;
    if (i >= r->nfields)
        return -ENOENT;
    if (name)
        *name = r->fields[i].name;
    if (value)
        *value = r->fields[i].value;
    return 0;
}

static int build_trailers(cio_http_reply *r)
{
    if (!r->ntrailers || r->trailers)
        return 0;
    r->trailers = malloc(r->ntrailers * sizeof *r->trailers);
    if (!r->trailers)
        return -ENOMEM;
    const char *p = r->tbuf;
    for (size_t i = 0; i < r->ntrailers; i++) {
        r->trailers[i].name = p;
        p += strlen(p) + 1;
        const char *v = p;
        while (*v == ' ' || *v == '\t')
            v++;
        r->trailers[i].value = v;
        p += strlen(p) + 1;
    }
    return 0;
}

const char *cio_http_reply_trailer(const cio_http_reply *r, const char *name)
{
    if (!r || !name || !r->trailers)
        return NULL;
    for (size_t i = 0; i < r->ntrailers; i++)
        if (ieq(r->trailers[i].name, name))
            return r->trailers[i].value;
    return NULL;
}

int64_t cio_http_reply_content_length(const cio_http_reply *r)
{
    return r ? r->content_length : -1;
}

/* Reads raw (framed) body bytes, with chunking undone, into buf. */
static ssize_t raw_read(cio_http_reply *r, char *buf, size_t len)
{
    if (r->body_done)
        return 0;
    struct conn *k = r->conn;
    if (!k)
        return -ECONNRESET;
    for (;;) {
        const void *pd;
        size_t n;
        int rc = peek_wait(r, k->s, &pd, &n);
        if (rc == -ENODATA || (!rc && n == 0)) {
            if (r->until_close) {
                r->p.data = r;
                if (llhttp_finish(&r->p) != HPE_OK && !r->msg_done)
                    return -EPROTO;
                r->body_done = true;
                reply_drop_conn(r, false);
                return 0;
            }
            return -EPROTO; /* shorter than its framing says */
        }
        if (rc)
            return rc == -EBADF || rc == -ECONNABORTED ? -ECONNRESET : rc;
        size_t feed = n < len ? n : len;
        const char *d = pd;
        r->base = d;
        r->bdst = buf;
        r->bgot = 0;
        llhttp_errno_t e = llhttp_execute(&r->p, d, feed);
        size_t used = feed;
        if (e == HPE_PAUSED) {
            used = (size_t)(llhttp_get_error_pos(&r->p) - d);
            r->body_done = true;
        } else if (e != HPE_OK) {
            r->bdst = NULL;
            return r->err ? r->err : -EPROTO;
        }
        r->bdst = NULL;
        {
            /* For the obs-fold check of a trailer value starting in the
             * next read. */
            const char *q = d + used;
            while (q > d && (q[-1] == ' ' || q[-1] == '\t'))
                q--;
            if (q > d)
                r->tr_last = q[-1];
        }
        cio_stream_consume(k->s, used);
        size_t got = r->bgot;
        if (r->body_done) {
            int brc = build_trailers(r);
            if (brc)
                return brc;
            reply_drop_conn(r, true);
        }
        if (got || r->body_done)
            return (ssize_t)got;
    }
}

static ssize_t decoded_read(cio_http_reply *r, char *buf, size_t len)
{
    if (!r->dec) {
        ssize_t n = raw_read(r, buf, len);
        if (n == 0)
            r->eof = true;
        return n;
    }
    bool need_input = false;
    for (;;) {
        if (r->doff == r->dlen && !r->body_done &&
            (need_input || !cio__http_decoder_pending(r->dec))) {
            if (!r->dbuf && !(r->dbuf = malloc(BODY_CHUNK)))
                return -ENOMEM;
            ssize_t n = raw_read(r, r->dbuf, BODY_CHUNK);
            if (n < 0)
                return n;
            r->doff = 0;
            r->dlen = (size_t)n;
            need_input = false;
        }
        size_t used = 0;
        bool done = false;
        ssize_t out = cio__http_decoder_run(r->dec, r->dbuf + r->doff, r->dlen - r->doff, &used,
                                            buf, len, &done);
        if (out < 0)
            return out;
        r->doff += used;
        if (out > 0)
            return out;
        if (used)
            continue;
        if (r->doff == r->dlen && r->body_done) {
            if (!done)
                return -EPROTO; /* the body ended inside the compressed stream */
            r->eof = true;
            return 0;
        }
        need_input = true;
    }
}

ssize_t cio_http_reply_read(cio_http_reply *r, void *buf, size_t len)
{
    if (!r || !buf || len == 0)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (r->err)
        return r->err;
    if (r->eof)
        return 0;
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    ssize_t n;
    if (r->body_done && !r->dec) {
        r->eof = true;
        return 0;
    }
    cio_scope sc;
    int rc = cio_deadline_begin(&sc, r->deadline);
    if (rc)
        return rc;
    if (now_of(r->c) >= r->deadline)
        n = -ETIMEDOUT;
    else
        n = decoded_read(r, buf, len);
    if (cio_scope_end(&sc) == -ETIMEDOUT && n >= 0)
        n = -ETIMEDOUT;
    if (n < 0) {
        r->err = (int)n;
        reply_drop_conn(r, false);
    }
    return n;
}

int cio_http_reply_body(cio_http_reply *r, size_t max, const void **data, size_t *len)
{
    if (!r || !data || !len)
        return -EINVAL;
    if (max == 0)
        max = r->c->o.max_body_size > SIZE_MAX - 1 ? SIZE_MAX - 1
                                                    : (size_t)r->c->o.max_body_size;
    if (!r->have_body) {
        if (r->err)
            return r->err;
        if (r->content_length > 0 && (uint64_t)r->content_length > max && !r->dec)
            return -EMSGSIZE;
        for (;;) {
            if (r->body_cap - r->body_len < 2) {
                size_t cap = r->body_cap ? r->body_cap * 2 : 4096;
                if (r->content_length > 0 && !r->dec && r->body_cap == 0 &&
                    (size_t)r->content_length + 1 > cap)
                    cap = (size_t)r->content_length + 1;
                if (cap > max + 2)
                    cap = max + 2;
                if (cap <= r->body_len + 1)
                    cap = r->body_len + 2;
                char *p = realloc(r->body, cap);
                if (!p)
                    return -ENOMEM;
                r->body = p;
                r->body_cap = cap;
            }
            ssize_t n = cio_http_reply_read(r, r->body + r->body_len, r->body_cap - 1 - r->body_len);
            if (n < 0)
                return (int)n;
            if (n == 0)
                break;
            r->body_len += (size_t)n;
            if (r->body_len > max) {
                r->err = -EMSGSIZE;
                reply_drop_conn(r, false);
                return -EMSGSIZE;
            }
        }
        if (!r->body) {
            r->body = malloc(1);
            if (!r->body)
                return -ENOMEM;
            r->body_cap = 1;
        }
        r->body[r->body_len] = 0;
        r->have_body = true;
    }
    if (r->body_len > max)
        return -EMSGSIZE;
    *data = r->body;
    *len = r->body_len;
    return 0;
}

int cio_http_reply_json(cio_http_reply *r, const struct cJSON **out)
{
    if (!r || !out)
        return -EINVAL;
    if (!r->json_done) {
        const void *d;
        size_t n;
        int rc = cio_http_reply_body(r, 0, &d, &n);
        if (rc)
            return rc;
        const char *end = NULL;
        cJSON *j = cJSON_ParseWithLengthOpts(d, n, &end, false);
        if (!j)
            return -EBADMSG;
        for (const char *p = end; p && p < (const char *)d + n; p++)
            if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
                cJSON_Delete(j);
                return -EBADMSG;
            }
        r->json = j;
        r->json_done = true;
    }
    *out = r->json;
    return 0;
}

/* ---- The client ---------------------------------------------------------------------------- */

int cio_http_client_new(const cio_http_client_options *opts, cio_http_client **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    cio_http_client_options o = CIO_HTTP_CLIENT_OPTIONS_INIT;
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc)
        return rc;
    cio_loop *loop = cio_current_loop();
    if (!loop)
        return -EPERM;
    if (isnan(o.idle_timeout) || o.idle_timeout < 0 || isnan(o.timeout) || o.timeout < 0 ||
        isnan(o.connect_timeout) || o.connect_timeout < 0 || isnan(o.read_timeout) ||
        o.read_timeout < 0)
        return -EINVAL;
    if (o.tls && SSL_CTX_get_ssl_method(
                     (SSL_CTX *)cio_tls_config_ssl_ctx((cio_tls_config *)o.tls)) ==
                     TLS_server_method())
        return -EINVAL;
    if (o.proxy) {
        if (strncasecmp(o.proxy, "http://", 7) != 0)
            return -EINVAL;
        struct cio__http_url pu;
        rc = cio__http_url_parse(o.proxy, &pu);
        if (rc)
            return rc == -ENOMEM ? rc : -EINVAL;
        bool ok = !pu.tls;
        cio__http_url_free(&pu);
        if (!ok)
            return -EINVAL;
    }
    if (!o.max_connections)
        o.max_connections = 100;
    if (!o.max_per_host)
        o.max_per_host = o.max_connections;
    if (!o.idle_timeout)
        o.idle_timeout = 15;
    if (!o.timeout)
        o.timeout = 300;
    if (!o.connect_timeout)
        o.connect_timeout = 30;
    if (!o.read_timeout)
        o.read_timeout = 60;
    if (!o.max_redirects)
        o.max_redirects = 10;
    if (!o.max_header_size)
        o.max_header_size = 65536;
    if (!o.max_headers)
        o.max_headers = 100;
    if (!o.max_body_size)
        o.max_body_size = 64u << 20;
    cio_http_client *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->loop = loop;
    if (o.proxy && !(c->proxy = strdup(o.proxy)))
        goto nomem;
    if (o.user_agent) {
        if (!cio__http_is_field_value(o.user_agent, strlen(o.user_agent))) {
            free(c->proxy);
            free(c);
            return -EINVAL;
        }
        c->ua = strdup(o.user_agent);
    } else {
        char ua[64];
        snprintf(ua, sizeof ua, "cio/%d.%d.%d", CIO_VERSION_MAJOR, CIO_VERSION_MINOR,
                 CIO_VERSION_PATCH);
        c->ua = strdup(ua);
    }
    if (!c->ua)
        goto nomem;
    o.proxy = c->proxy;
    o.user_agent = c->ua;
    /* Without a configuration of the caller's, the client makes its own at
     * its first https connection (open_stream): loading the system's trust
     * store costs a tenth of a second, which a plain-http client (cio-bench)
     * should not pay, nor fail for. */
    c->tls = o.tls;
    c->o = o;
    *out = c;
    return 0;
nomem:
    free(c->proxy);
    free(c->ua);
    free(c);
    return -ENOMEM;
}

int cio_http_client_free(cio_http_client *c)
{
    if (!c)
        return 0;
    if (c->busy || c->wq)
        return -EBUSY;
    c->freeing = true;
    if (c->timer_armed)
        cio_timer_cancel(c->loop, c->timer);
    c->timer_armed = false;
    while (c->hosts) {
        struct host *h = c->hosts;
        h->refs++;
        while (h->idle) {
            struct conn *k = h->idle;
            idle_unlink(c, k);
            conn_close(c, k, true);
        }
        h->refs--;
        if (c->hosts == h) {
            c->hosts = h->next;
            free(h->key);
            free(h);
        }
    }
    while (c->cache) {
        cio_http_reply *r = c->cache;
        c->cache = r->next_free;
        reply_destroy(r);
    }
    cio_tls_config_free(c->own_tls);
    free(c->proxy);
    free(c->ua);
    free(c);
    return 0;
}

size_t cio_http_client_connections(const cio_http_client *c) { return c ? c->open : 0; }
size_t cio_http_client_idle(const cio_http_client *c) { return c ? c->nidle : 0; }

/* ---- Sending a request ------------------------------------------------------------------------ */

/* One request as sent: method, URL, headers, body. */
struct send {
    const char *method;
    const cio_http_client_request *rq;
    const void *body;
    size_t body_len;
    bool has_body;   /* a body in memory (maybe empty) is sent */
    bool streamed;   /* rq->body_reader */
    bool drop_creds; /* a redirect left the origin */
    cio_http_jar *jar;
};

static bool hdr_named(const cio_http_field *f, const char *name) { return ieq(f->name, name); }

static bool caller_has(const struct send *q, const char *name)
{
    for (size_t i = 0; i < q->rq->nheaders; i++)
        if (hdr_named(&q->rq->headers[i], name))
            return true;
    return false;
}

static bool is_cred(const char *name)
{
    return ieq(name, "authorization") || ieq(name, "cookie") ||
           ieq(name, "proxy-authorization");
}

/* v in decimal (no printf on the hot path). */
static int put_uint(cio_http_reply *r, uint64_t v)
{
    char d[24];
    int n = 0;
    do
        d[sizeof d - 1 - n++] = (char)('0' + v % 10);
    while ((v /= 10));
    return wput(r, d + sizeof d - n, (size_t)n);
}

/* host[:port] as Host and the absolute form want it. */
static int put_authority(cio_http_reply *r, const struct cio__http_url *u)
{
    int rc = 0;
    if (u->ipv6)
        rc |= wput(r, "[", 1);
    rc |= wputs(r, u->host);
    if (u->ipv6)
        rc |= wput(r, "]", 1);
    if (!u->default_port) {
        rc |= wput(r, ":", 1);
        rc |= put_uint(r, u->port);
    }
    return rc;
}

/* Writes the head of q for u into r->wbuf. */
static int build_request(cio_http_client *c, cio_http_reply *r, const struct send *q,
                         const struct cio__http_url *u, bool via_proxy,
                         const char *pauth)
{
    r->wlen = 0;
    int rc = 0;
    rc |= wputs(r, q->method);
    rc |= wput(r, " ", 1);
    /* Through a proxy: the absolute form (no userinfo, no fragment). */
    if (via_proxy) {
        rc |= wputs(r, u->scheme);
        rc |= wput(r, "://", 3);
        rc |= put_authority(r, u);
    }
    rc |= wputs(r, u->target);
    rc |= wput(r, " HTTP/1.1\r\n", 11);
    if (!caller_has(q, "host")) {
        rc |= wput(r, "Host: ", 6);
        rc |= put_authority(r, u);
        rc |= wput(r, "\r\n", 2);
    }
    /* Credentials in the URL: Basic (unless the caller sets its own). */
    if (u->userinfo && !caller_has(q, "authorization")) {
        char *b = basic_auth(u->userinfo);
        if (!b)
            return -ENOMEM;
        rc |= wfield(r, "Authorization", b);
        free(b);
    }
    if (c->ua[0] && !caller_has(q, "user-agent"))
        rc |= wfield(r, "User-Agent", c->ua);
    if (!c->o.no_decompress && !caller_has(q, "accept-encoding"))
        rc |= wput(r, "Accept-Encoding: gzip, deflate\r\n", 32);
    const char *caller_cookie = NULL;
    for (size_t i = 0; i < q->rq->nheaders; i++) {
        const cio_http_field *f = &q->rq->headers[i];
        if (q->drop_creds && is_cred(f->name))
            continue;
        if (ieq(f->name, "cookie") && q->jar) {
            caller_cookie = f->value;
            continue;
        }
        rc |= wfield(r, f->name, f->value);
    }
    if (q->rq->content_type && !caller_has(q, "content-type"))
        rc |= wfield(r, "Content-Type", q->rq->content_type);
    if (q->jar) {
        char cb[4096];
        char *big = NULL;
        ssize_t n = cio__http_jar_cookies(q->jar, u, (int64_t)time(NULL), cb, sizeof cb);
        const char *cv = cb;
        if (n == -ENOSPC) {
            size_t cap = 65536;
            big = malloc(cap);
            if (!big)
                return -ENOMEM;
            n = cio__http_jar_cookies(q->jar, u, (int64_t)time(NULL), big, cap);
            cv = big;
        }
        if (n > 0 || caller_cookie) {
            rc |= wput(r, "Cookie: ", 8);
            if (caller_cookie) {
                rc |= wputs(r, caller_cookie);
                if (n > 0)
                    rc |= wput(r, "; ", 2);
            }
            if (n > 0)
                rc |= wput(r, cv, (size_t)n);
            rc |= wput(r, "\r\n", 2);
        }
        free(big);
    }
    if (pauth && !caller_has(q, "proxy-authorization"))
        rc |= wfield(r, "Proxy-Authorization", pauth);
    if (q->streamed) {
        if (q->rq->body_length > 0) {
            rc |= wput(r, "Content-Length: ", 16);
            rc |= put_uint(r, (uint64_t)q->rq->body_length);
            rc |= wput(r, "\r\n", 2);
        } else {
            rc |= wput(r, "Transfer-Encoding: chunked\r\n", 28);
        }
    } else if (q->has_body || !strcmp(q->method, "POST") || !strcmp(q->method, "PUT") ||
               !strcmp(q->method, "PATCH")) {
        rc |= wput(r, "Content-Length: ", 16);
        rc |= put_uint(r, q->body_len);
        rc |= wput(r, "\r\n", 2);
    }
    rc |= wput(r, "\r\n", 2);
    return rc ? -ENOMEM : 0;
}

/* Sends a streamed body. */
static int send_streamed(cio_stream *s, const struct send *q, cio_http_reply *r)
{
    char *buf = malloc(BODY_CHUNK + 32);
    if (!buf)
        return -ENOMEM;
    const cio_http_client_request *rq = q->rq;
    uint64_t sent = 0;
    int rc = 0;
    bool chunked = rq->body_length == 0;
    (void)r;
    for (;;) {
        ssize_t n = rq->body_reader(rq->body_arg, buf + 16, BODY_CHUNK);
        if (n < 0) {
            rc = (int)n;
            break;
        }
        if (n > BODY_CHUNK) {
            rc = -EINVAL;
            break;
        }
        if (!chunked && sent + (uint64_t)n > (uint64_t)rq->body_length) {
            rc = -EINVAL; /* more than the declared length */
            break;
        }
        if (n == 0) {
            if (chunked)
                rc = cio_stream_write(s, "0\r\n\r\n", 5);
            else if (sent != (uint64_t)rq->body_length)
                rc = -EINVAL; /* shorter than declared */
            break;
        }
        sent += (uint64_t)n;
        if (chunked) {
            char hx[16];
            int hl = snprintf(hx, sizeof hx, "%zx\r\n", (size_t)n);
            memcpy(buf + 16 - hl, hx, (size_t)hl);
            memcpy(buf + 16 + n, "\r\n", 2);
            rc = cio_stream_write(s, buf + 16 - hl, (size_t)hl + (size_t)n + 2);
        } else {
            rc = cio_stream_write(s, buf + 16, (size_t)n);
        }
        if (rc)
            break;
    }
    free(buf);
    return rc;
}

static void store_cookies(cio_http_reply *r, cio_http_jar *jar, const struct cio__http_url *u)
{
    if (!jar)
        return;
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < r->nfields; i++)
        if (ieq(r->fields[i].name, "set-cookie"))
            cio__http_jar_store(jar, u, r->fields[i].value, now);
}

/* One exchange: a connection (pooled or new), the request, the response's
 * head. On 0 *out holds the reply with its connection. */
static int exchange(cio_http_client *c, const struct send *q, const struct cio__http_url *u,
                    double deadline, cio_http_reply **out)
{
    *out = NULL;
    /* The pool's key: scheme, host and port (the proxy follows from them
     * and the client's fixed settings). */
    char key[600];
    size_t sl = strlen(u->scheme), hl = strlen(u->host);
    if (sl + hl + 12 > sizeof key)
        return -EINVAL;
    memcpy(key, u->scheme, sl);
    key[sl] = ' ';
    memcpy(key + sl + 1, u->host, hl);
    char *kp = key + sl + 1 + hl;
    *kp++ = ' ';
    unsigned port = u->port;
    char digits[6];
    int nd = 0;
    do
        digits[nd++] = (char)('0' + port % 10);
    while ((port /= 10));
    while (nd)
        *kp++ = digits[--nd];
    *kp = 0;
    struct host *h = host_get(c, key);
    if (!h)
        return -ENOMEM;
    bool idem = method_idempotent(q->method);
    bool can_retry = idem && !q->streamed;
    bool fresh = false;
    int rc;
    cio_http_reply *r = NULL;
    for (int attempt = 0;; attempt++) {
        struct conn *k = NULL;
        bool reused = false;
        rc = conn_get(c, h, u, fresh, !can_retry, &k, &reused);
        if (rc)
            break;
        r = reply_get(c);
        if (!r) {
            conn_close(c, k, false);
            rc = -ENOMEM;
            break;
        }
        r->deadline = deadline;
        r->conn = k;
        rc = build_request(c, r, q, u, k->via_proxy, k->pauth);
        if (rc == 0) {
            if (q->has_body && q->body_len) {
                struct iovec iov[2] = {{r->wbuf, r->wlen}, {(void *)q->body, q->body_len}};
                rc = cio_stream_writev(k->s, iov, 2);
            } else {
                rc = cio_stream_write(k->s, r->wbuf, r->wlen);
            }
            if (!rc && q->streamed)
                rc = send_streamed(k->s, q, r);
        }
        bool got = false;
        if (!rc)
            rc = read_head(r, k, !strcmp(q->method, "HEAD"), &got);
        if (!rc) {
            k->uses++;
            if (r->body_done)
                reply_drop_conn(r, true);
            *out = r;
            break;
        }
        bool dead = (rc == -ECONNRESET || rc == -EPIPE) && !got;
        reply_drop_conn(r, false);
        reply_release(r);
        r = NULL;
        if (dead && reused && can_retry && attempt == 0) {
            fresh = true;
            continue;
        }
        break;
    }
    h->refs--;
    host_put(c, h);
    return rc;
}

static bool same_origin(const struct cio__http_url *a, const struct cio__http_url *b)
{
    return !strcmp(a->scheme, b->scheme) && !strcmp(a->host, b->host) && a->port == b->port;
}

static int check_request(const cio_http_client_request *rq)
{
    if (!rq->url)
        return -EINVAL;
    if (rq->body && rq->body_reader)
        return -EINVAL;
    if (!rq->body && rq->body_len)
        return -EINVAL;
    if (rq->body_length < 0 || (rq->body_length > 0 && !rq->body_reader))
        return -EINVAL;
    if (rq->method && !cio__http_is_token(rq->method, strlen(rq->method)))
        return -EINVAL;
    if (rq->nheaders && !rq->headers)
        return -EINVAL;
    if (isnan(rq->timeout) || rq->timeout < 0)
        return -EINVAL;
    if (rq->content_type &&
        (!rq->content_type[0] ||
         !cio__http_is_field_value(rq->content_type, strlen(rq->content_type))))
        return -EINVAL;
    for (size_t i = 0; i < rq->nheaders; i++) {
        const cio_http_field *f = &rq->headers[i];
        if (!f->name || !f->value || !cio__http_is_token(f->name, strlen(f->name)) ||
            !cio__http_is_field_value(f->value, strlen(f->value)))
            return -EINVAL;
        /* The framing is the client's. */
        if (ieq(f->name, "content-length") || ieq(f->name, "transfer-encoding"))
            return -EINVAL;
    }
    return 0;
}

int cio_http_client_request_send(cio_http_client *c, const cio_http_client_request *rq_in,
                                 cio_http_reply **out)
{
    if (out)
        *out = NULL;
    if (!c || !rq_in || !out)
        return -EINVAL;
    cio_http_client_request rq = CIO_HTTP_CLIENT_REQUEST_INIT;
    int rc = cio__opts_copy(&rq, sizeof rq, rq_in);
    if (rc)
        return rc;
    if ((rc = check_request(&rq)))
        return rc;
    if (!cio_current_task() || cio_current_loop() != c->loop)
        return -EPERM;
    struct send q = {.rq = &rq};
    q.streamed = rq.body_reader != NULL;
    q.has_body = rq.body != NULL;
    q.body = rq.body;
    q.body_len = rq.body_len;
    q.method = rq.method ? rq.method : (q.has_body || q.streamed) ? "POST" : "GET";
    q.jar = c->o.jar;
    int max_redir = rq.max_redirects ? rq.max_redirects : c->o.max_redirects;
    double budget = rq.timeout ? rq.timeout : c->o.timeout;
    double deadline = now_of(c) + budget;
    struct cio__http_url u;
    char *url = strdup(rq.url);
    if (!url)
        return -ENOMEM;
    rc = cio__http_url_parse(url, &u);
    if (rc) {
        free(url);
        return rc == -ENOMEM ? rc : -EINVAL;
    }
    if (strcmp(u.scheme, "http") && strcmp(u.scheme, "https")) {
        cio__http_url_free(&u);
        free(url);
        return -EINVAL;
    }
    c->busy++;
    cio_http_jar *tmp_jar = NULL;
    cio_scope sc;
    if ((rc = cio_deadline_begin(&sc, deadline))) {
        c->busy--;
        cio__http_url_free(&u);
        free(url);
        return rc;
    }
    int redirects = 0;
    cio_http_reply *r = NULL;
    for (;;) {
        rc = exchange(c, &q, &u, deadline, &r);
        if (rc)
            break;
        store_cookies(r, q.jar, &u);
        int st = r->status;
        const char *loc = cio_http_reply_header(r, "location");
        bool redirect = (st == 301 || st == 302 || st == 303 || st == 307 || st == 308) && loc;
        if (!redirect || max_redir < 0 || ((st == 307 || st == 308) && q.streamed))
            break;
        if (redirects >= max_redir) {
            rc = -ELOOP;
            break;
        }
        char *next = NULL;
        rc = cio__http_url_resolve(url, loc, &next);
        if (rc == -ENOMEM)
            break;
        struct cio__http_url nu;
        if (rc || cio__http_url_parse(next, &nu)) {
            free(next);
            rc = 0; /* a Location we cannot follow: the redirect is the answer */
            break;
        }
        if (strcmp(nu.scheme, "http") && strcmp(nu.scheme, "https")) {
            cio__http_url_free(&nu);
            free(next);
            break;
        }
        /* Read a small rest of the body so the connection can be reused. */
        if (r->conn && !r->body_done &&
            (r->content_length >= 0 && r->content_length <= DRAIN_MAX)) {
            char dump[4096];
            ssize_t n;
            while ((n = raw_read(r, dump, sizeof dump)) > 0)
                ;
        }
        if (!same_origin(&u, &nu))
            q.drop_creds = true;
        if (st == 301 || st == 302 || st == 303) {
            if (strcmp(q.method, "HEAD"))
                q.method = "GET";
            q.has_body = false;
            q.body = NULL;
            q.body_len = 0;
            q.streamed = false;
            rq.content_type = NULL;
        }
        if (!q.jar && cio_http_reply_header(r, "set-cookie")) {
            if (!tmp_jar && cio_http_jar_new(&tmp_jar) == 0)
                q.jar = tmp_jar;
            store_cookies(r, q.jar, &u);
        }
        reply_release(r);
        r = NULL;
        cio__http_url_free(&u);
        free(url);
        u = nu;
        url = next;
        redirects++;
    }
    if (cio_scope_end(&sc) == -ETIMEDOUT && !rc)
        rc = -ETIMEDOUT;
    if (!rc && r && !r->body_done && !c->o.no_decompress) {
        const char *ce = cio_http_reply_header(r, "content-encoding");
        if (ce) {
            rc = cio__http_decoder_new(ce, &r->dec);
            if (!rc && r->dec && !r->dbuf && !(r->dbuf = malloc(BODY_CHUNK)))
                rc = -ENOMEM;
        }
    }
    if (rc && r) {
        reply_release(r);
        r = NULL;
    }
    cio_http_jar_free(tmp_jar);
    cio__http_url_free(&u);
    if (r) {
        r->url = url;
        r->redirects = redirects;
        *out = r;
    } else {
        free(url);
    }
    c->busy--;
    return rc;
}

int cio_http_client_get(cio_http_client *c, const char *url, cio_http_reply **out)
{
    return cio_http_client_request_send(c, &CIO_HTTP_CLIENT_REQUEST(.url = url), out);
}

int cio_http_client_post(cio_http_client *c, const char *url, const char *content_type,
                         const void *body, size_t len, cio_http_reply **out)
{
    static const char empty[1];
    if (!body && len)
        return out ? (*out = NULL, -EINVAL) : -EINVAL;
    return cio_http_client_request_send(
        c,
        &CIO_HTTP_CLIENT_REQUEST(.method = "POST", .url = url, .body = body ? body : empty,
                                 .body_len = body ? len : 0, .content_type = content_type),
        out);
}

int cio_http_client_post_json(cio_http_client *c, const char *url, const struct cJSON *json,
                              cio_http_reply **out)
{
    if (out)
        *out = NULL;
    if (!c || !url || !json || !out)
        return -EINVAL;
    char *text = cJSON_PrintUnformatted(json);
    if (!text)
        return -ENOMEM;
    int rc = cio_http_client_post(c, url, "application/json", text, strlen(text), out);
    cJSON_free(text);
    return rc;
}

/* ---- The callback form -------------------------------------------------------------------------- */

struct cb_job {
    cio_http_client *c;
    cio_http_client_request rq;
    cio_http_field *fields;
    cio_http_reply_cb cb;
    void *arg;
    char mem[]; /* strings and the body */
};

static int cb_task(void *arg, void **result)
{
    (void)result;
    struct cb_job *j = arg;
    cio_http_client *c = j->c;
    cio_http_reply *r = NULL;
    int err = cio_http_client_request_send(c, &j->rq, &r);
    if (!err) {
        const void *d;
        size_t n;
        err = cio_http_reply_body(r, 0, &d, &n);
        if (err) {
            cio_http_reply_free(r);
            r = NULL;
        }
    }
    j->cb(r, err, j->arg);
    c->busy--;
    free(j->fields);
    free(j);
    /* A cancelled request's task ends cancelled (cb was told). */
    return err == -ECANCELED ? -ECANCELED : 0;
}

static size_t str_room(const char *s) { return s ? strlen(s) + 1 : 0; }

static const char *str_put(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    const char *r = *p;
    *p += n;
    return r;
}

int cio_http_client_request_cb(cio_http_client *c, const cio_http_client_request *rq_in,
                               cio_http_reply_cb cb, void *arg, cio_future **out)
{
    if (out)
        *out = NULL;
    if (!c || !rq_in || !cb)
        return -EINVAL;
    cio_http_client_request rq = CIO_HTTP_CLIENT_REQUEST_INIT;
    int rc = cio__opts_copy(&rq, sizeof rq, rq_in);
    if (rc)
        return rc == -E2BIG ? rc : -EINVAL;
    if ((rc = check_request(&rq)))
        return rc;
    if (cio_current_loop() != c->loop)
        return -EPERM;
    size_t room = str_room(rq.method) + str_room(rq.url) + str_room(rq.content_type) +
                  (rq.body ? rq.body_len : 0);
    for (size_t i = 0; i < rq.nheaders; i++)
        room += str_room(rq.headers[i].name) + str_room(rq.headers[i].value);
    struct cb_job *j = malloc(sizeof *j + room + 1);
    if (!j)
        return -ENOMEM;
    j->fields = NULL;
    if (rq.nheaders && !(j->fields = malloc(rq.nheaders * sizeof *j->fields))) {
        free(j);
        return -ENOMEM;
    }
    char *p = j->mem;
    j->c = c;
    j->cb = cb;
    j->arg = arg;
    j->rq = rq;
    j->rq.method = str_put(&p, rq.method);
    j->rq.url = str_put(&p, rq.url);
    j->rq.content_type = str_put(&p, rq.content_type);
    for (size_t i = 0; i < rq.nheaders; i++) {
        j->fields[i].name = str_put(&p, rq.headers[i].name);
        j->fields[i].value = str_put(&p, rq.headers[i].value);
    }
    j->rq.headers = j->fields;
    if (rq.body) {
        memcpy(p, rq.body, rq.body_len);
        j->rq.body = p;
    }
    cio_task *t = NULL;
    rc = cio_task_new(c->loop, &CIO_TASK_OPTIONS(.name = "http-client"), cb_task, j,
                      out ? &t : NULL);
    if (rc) {
        free(j->fields);
        free(j);
        return rc;
    }
    c->busy++;
    if (out)
        *out = t;
    return 0;
}
