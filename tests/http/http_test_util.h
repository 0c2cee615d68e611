/* The HTTP suites' shared pieces (test_conformance, test_clients,
 * test_slowloris, test_fuzz_replay):
 *
 * - a cio HTTP server running on its own loop in a thread of the test
 *   process (tsrv_start / tsrv_stop), serving one catch-all route that
 *   reads the whole request body and answers 200 with
 *   "m=<method> t=<target> v=<minor> n=<body length>\n" and the body itself,
 *   on 127.0.0.1 and port 0; reports of its loop are counted (a client's
 *   bad request is no server error, so a suite fails on any);
 * - a blocking raw-bytes client on loopback (raw_connect, raw_send) with a
 *   small HTTP/1.x response reader (resp_read) that counts responses,
 *   decodes Content-Length and chunked bodies, and tells a close from a
 *   timeout.
 *
 * Every wait is bounded (SO_RCVTIMEO), as a generous upper bound against
 * hangs only: no assertion depends on how long something took. */
#ifndef CIO_HTTP_TEST_UTIL_H
#define CIO_HTTP_TEST_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cio.h>
#include <cio/http.h>

#include "test.h"

/* Upper bound for one read of a response (a hang guard, never a timing
 * assertion). */
#ifndef HT_READ_TIMEOUT
#define HT_READ_TIMEOUT 10
#endif

/* ---- The server under test ---------------------------------------------- */

struct tsrv {
    cio_http_server_options opts;
    cio_tls_config *tls;           /* set before tsrv_start for HTTPS */
    /* Extra routes (before the catch-all); may be NULL. */
    void (*setup)(cio_http_app *app, void *arg);
    void *setup_arg;
    uint16_t port;
    pid_t pid;
    /* internals */
    pthread_t th;
    int stop[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0 starting, 1 listening, 2 failed */
    int err;
    atomic_int reports;
    char last_report[512];
};

static void tsrv_report(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    struct tsrv *s = arg;
    pthread_mutex_lock(&s->mu);
    snprintf(s->last_report, sizeof s->last_report, "%s", msg);
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(&s->reports, 1);
    fprintf(stderr, "server report: %s\n", msg);
}

/* The catch-all: reads the whole body (max_body_size), then answers with
 * what it saw and the body. An error reading the body is returned as it
 * is: the connection code answers it (413, 408, 400). */
static int tsrv_echo(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const void *body = NULL;
    size_t blen = 0;
    int rc = cio_http_request_body(req, 0, &body, &blen);
    if (rc < 0)
        return rc;
    const char *m = cio_http_request_method(req);
    const char *t = cio_http_request_target(req);
    size_t head = strlen(m) + strlen(t) + 64;
    char *out = malloc(head + blen);
    if (!out)
        return -ENOMEM;
    int n = snprintf(out, head, "m=%s t=%s v=%d n=%zu\n", m, t, cio_http_request_version(req),
                     blen);
    if (blen)
        memcpy(out + n, body, blen);
    rc = cio_http_response_send(res, 200, "text/plain", out, (size_t)n + blen);
    free(out);
    return rc;
}

static int tsrv_main(void *arg, void **result)
{
    (void)result;
    struct tsrv *s = arg;
    cio_loop_set_report_handler(cio_current_loop(), tsrv_report, s);
    cio_http_app *app = NULL;
    cio_http_server *srv = NULL;
    int rc = cio_http_app_new(&app);
    if (rc == 0 && s->setup)
        s->setup(app, s->setup_arg);
    if (rc == 0)
        rc = cio_http_app_route(app, NULL, "/{rest*}", tsrv_echo, s);
    cio_addr a;
    if (rc == 0)
        rc = cio_addr_ip("127.0.0.1", 0, &a);
    cio_http_server_options o = s->opts;
    o.size = sizeof o;
    o.tls = s->tls;
    if (rc == 0)
        rc = cio_http_server_new(app, &a, &o, &srv);
    if (rc == 0)
        rc = cio_http_server_addr(srv, &a);
    pthread_mutex_lock(&s->mu);
    s->err = rc;
    s->state = rc == 0 ? 1 : 2;
    if (rc == 0)
        s->port = cio_addr_port(&a);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (rc == 0) {
        for (;;) {
            int ready = 0;
            int w = cio_fd_wait(s->stop[0], CIO_READABLE, &ready);
            if (w < 0 || ready)
                break;
        }
        rc = cio_http_server_close(srv, 2.0);
        if (rc == -ETIMEDOUT || rc == -ECANCELED)
            rc = 0;
    }
    cio_fd_forget(s->stop[0]);
    cio_http_app_free(app);
    return rc;
}

static void *tsrv_thread(void *arg)
{
    struct tsrv *s = arg;
    int rc = cio_run(tsrv_main, s, NULL);
    if (rc != 0) {
        pthread_mutex_lock(&s->mu);
        if (s->state == 0)
            s->state = 2;
        if (!s->err)
            s->err = rc;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    return (void *)(intptr_t)rc;
}

/* Starts s (its opts filled by the caller: zeros are the defaults) and
 * waits until it listens. */
static inline void tsrv_start(struct tsrv *s)
{
    s->opts.size = sizeof s->opts;
    s->pid = getpid();
    atomic_init(&s->reports, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pipe2(s->stop, O_CLOEXEC) != 0)
        FAIL("pipe2: %s", strerror(errno));
    s->state = 0;
    if (pthread_create(&s->th, NULL, tsrv_thread, s) != 0)
        FAIL("pthread_create");
    pthread_mutex_lock(&s->mu);
    while (s->state == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    int st = s->state, err = s->err;
    pthread_mutex_unlock(&s->mu);
    if (st != 1) {
        pthread_join(s->th, NULL);
        FAIL("the HTTP server did not start: %s", cio_err_name(err));
    }
}

/* Stops s (graceful close, grace 2 s), joins its thread, checks its loop
 * ended cleanly. Returns the number of reports its loop made. */
static inline int tsrv_stop(struct tsrv *s)
{
    if (write(s->stop[1], "x", 1) != 1)
        FAIL("write stop pipe");
    void *ret = NULL;
    pthread_join(s->th, &ret);
    close(s->stop[0]);
    close(s->stop[1]);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    if ((intptr_t)ret != 0)
        FAIL("server thread ended with %s", cio_err_name((int)(intptr_t)ret));
    return atomic_load(&s->reports);
}

/* ---- A raw client ------------------------------------------------------- */

static inline int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        FAIL("socket: %s", strerror(errno));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = HT_READ_TIMEOUT};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        FAIL("connect to 127.0.0.1:%u: %s", port, strerror(errno));
    return fd;
}

/* Sends all of buf; returns 0 or -errno (the server may have closed early:
 * not an error by itself). */
static inline int raw_send(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A response reader over one connection. */
struct rd {
    int fd;
    char *buf;
    size_t len, pos, cap;
    int eof; /* 0, 1 at EOF, or -errno of the read that ended it */
};

static inline void rd_init(struct rd *r, int fd)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
}

static inline void rd_free(struct rd *r)
{
    free(r->buf);
    r->buf = NULL;
}

/* Reads more: >0 bytes, 0 at EOF (r->eof set), -ETIMEDOUT, -errno. */
static inline ssize_t rd_fill(struct rd *r)
{
    if (r->eof)
        return 0;
    if (r->cap - r->len < 4096) {
        size_t nc = r->cap ? r->cap * 2 : 16384;
        if (nc > (64u << 20))
            return -E2BIG;
        char *nb = realloc(r->buf, nc + 1);
        if (!nb)
            return -ENOMEM;
        r->buf = nb;
        r->cap = nc;
    }
    for (;;) {
        ssize_t n = recv(r->fd, r->buf + r->len, r->cap - r->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return -ETIMEDOUT;
        if (n < 0) {
            r->eof = -errno;
            return 0;
        }
        if (n == 0) {
            r->eof = 1;
            return 0;
        }
        r->len += (size_t)n;
        r->buf[r->len] = 0;
        return n;
    }
}

/* Finds "\r\n" from r->pos + off, reading more as needed; returns its
 * offset from r->pos, or a negative code (-EPIPE: EOF first). */
static inline ssize_t rd_line(struct rd *r, size_t off)
{
    for (;;) {
        for (size_t i = r->pos + off; i + 1 < r->len; i++)
            if (r->buf[i] == '\r' && r->buf[i + 1] == '\n')
                return (ssize_t)(i - r->pos);
        if (r->len - r->pos > (1u << 20))
            return -E2BIG;
        ssize_t n = rd_fill(r);
        if (n < 0)
            return n;
        if (n == 0)
            return -EPIPE;
    }
}

static inline int rd_need(struct rd *r, size_t n)
{
    while (r->len - r->pos < n) {
        ssize_t k = rd_fill(r);
        if (k < 0)
            return (int)k;
        if (k == 0)
            return -EPIPE;
    }
    return 0;
}

struct resp {
    int status;
    int minor;
    bool close;          /* Connection: close */
    bool chunked;
    long long clen;      /* -1: none */
    char headers[4096];  /* the header section as received (truncated) */
    char *body;          /* malloc'd, NUL-terminated */
    size_t body_len;
};

static inline void resp_free(struct resp *p)
{
    free(p->body);
    p->body = NULL;
}

/* The value of header name in p (case-insensitive), copied into out. */
static inline bool resp_header(const struct resp *p, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *h = p->headers;
    while (*h) {
        const char *eol = strstr(h, "\r\n");
        if (!eol)
            eol = h + strlen(h);
        if ((size_t)(eol - h) > nl && strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = (size_t)(eol - v);
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (out && outlen) {
                if (vl >= outlen)
                    vl = outlen - 1;
                memcpy(out, v, vl);
                out[vl] = 0;
            }
            return true;
        }
        h = *eol ? eol + 2 : eol;
    }
    return false;
}

static inline void body_append(struct resp *p, const char *d, size_t n)
{
    char *nb = realloc(p->body, p->body_len + n + 1);
    if (!nb)
        FAIL("out of memory");
    p->body = nb;
    memcpy(p->body + p->body_len, d, n);
    p->body_len += n;
    p->body[p->body_len] = 0;
}

/* Reads one response. head: the request was HEAD (no body). Returns 0, -EPIPE
 * when the connection ended before any byte of it (no response), -EPROTO
 * for a malformed or truncated response, -ETIMEDOUT, or another -errno. */
static inline int resp_read(struct rd *r, bool head, struct resp *p)
{
    memset(p, 0, sizeof *p);
    p->clen = -1;
    if (r->pos == r->len) {
        ssize_t k = rd_fill(r);
        if (k < 0)
            return (int)k;
        if (k == 0)
            return -EPIPE;
    }
    ssize_t e = rd_line(r, 0);
    if (e < 0)
        return e == -EPIPE ? -EPROTO : (int)e;
    const char *l = r->buf + r->pos;
    if (e < 12 || strncmp(l, "HTTP/1.", 7) != 0 || l[8] != ' ')
        return -EPROTO;
    p->minor = l[7] - '0';
    p->status = atoi(l + 9);
    r->pos += (size_t)e + 2;
    size_t hl = 0;
    for (;;) {
        e = rd_line(r, 0);
        if (e < 0)
            return e == -EPIPE ? -EPROTO : (int)e;
        if (e == 0) {
            r->pos += 2;
            break;
        }
        if (hl + (size_t)e + 3 < sizeof p->headers) {
            memcpy(p->headers + hl, r->buf + r->pos, (size_t)e);
            hl += (size_t)e;
            memcpy(p->headers + hl, "\r\n", 3);
            hl += 2;
        }
        r->pos += (size_t)e + 2;
    }
    char v[256];
    if (resp_header(p, "Connection", v, sizeof v) && strcasestr(v, "close"))
        p->close = true;
    if (resp_header(p, "Transfer-Encoding", v, sizeof v) && strcasestr(v, "chunked"))
        p->chunked = true;
    if (resp_header(p, "Content-Length", v, sizeof v))
        p->clen = strtoll(v, NULL, 10);
    body_append(p, "", 0);
    if (head || p->status < 200 || p->status == 204 || p->status == 304)
        return 0;
    if (p->chunked) {
        for (;;) {
            e = rd_line(r, 0);
            if (e < 0)
                return e == -EPIPE ? -EPROTO : (int)e;
            size_t sz = strtoul(r->buf + r->pos, NULL, 16);
            r->pos += (size_t)e + 2;
            if (sz == 0) {
                for (;;) { /* trailers */
                    e = rd_line(r, 0);
                    if (e < 0)
                        return e == -EPIPE ? -EPROTO : (int)e;
                    r->pos += (size_t)e + 2;
                    if (e == 0)
                        return 0;
                }
            }
            int rc = rd_need(r, sz + 2);
            if (rc < 0)
                return rc == -EPIPE ? -EPROTO : rc;
            body_append(p, r->buf + r->pos, sz);
            r->pos += sz + 2;
        }
    }
    if (p->clen >= 0) {
        int rc = rd_need(r, (size_t)p->clen);
        if (rc < 0)
            return rc == -EPIPE ? -EPROTO : rc;
        body_append(p, r->buf + r->pos, (size_t)p->clen);
        r->pos += (size_t)p->clen;
        return 0;
    }
    /* Close-delimited. */
    for (;;) {
        ssize_t k = rd_fill(r);
        if (k < 0)
            return (int)k;
        if (k == 0)
            break;
    }
    body_append(p, r->buf + r->pos, r->len - r->pos);
    r->pos = r->len;
    p->close = true;
    return 0;
}

/* After the last expected response: whether the connection closes with no
 * further byte. Returns 0 (closed: EOF or reset), -ETIMEDOUT (still open),
 * or 1 (more bytes came: something was answered that must not be). */
static inline int rd_expect_close(struct rd *r)
{
    if (r->pos < r->len)
        return 1;
    for (;;) {
        ssize_t k = rd_fill(r);
        if (k < 0)
            return (int)k;
        if (k == 0)
            return 0;
        return 1;
    }
}

/* One request on a fresh connection, its response into p (the caller
 * frees it). Returns resp_read's code. */
static inline int http_get_once(uint16_t port, const char *req, struct resp *p)
{
    int fd = raw_connect(port);
    struct rd r;
    rd_init(&r, fd);
    raw_send(fd, req, strlen(req));
    int rc = resp_read(&r, strncmp(req, "HEAD ", 5) == 0, p);
    rd_free(&r);
    close(fd);
    return rc;
}

/* The number of open descriptors of process pid (-1 if unreadable). */
static inline int ht_fd_count_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

#endif
