/* Helpers for the connection tests (tests/http/test_server.c,
 * test_response.c, test_body.c): a server on a loopback port, raw clients
 * on cio streams, a small response reader. */
#ifndef CIO_TEST_HTTP_UTIL_H
#define CIO_TEST_HTTP_UTIL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cio.h>

#include "net/server_util.h"

/* One response as a client reads it. */
struct hres {
    int status;
    char head[16384]; /* the status line and header fields, NUL-terminated */
    char *body;       /* malloc'd, NUL-terminated (hres_free) */
    size_t blen;
    char trailers[2048];
    bool chunked;
};

static inline void hres_free(struct hres *r)
{
    free(r->body);
    r->body = NULL;
}

/* The value of a header field of r (the first), copied into buf; NULL if
 * absent. */
static inline const char *hres_header(const struct hres *r, const char *name, char *buf,
                                      size_t n)
{
    size_t nl = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    while (p && p[2]) {
        p += 2;
        const char *e = strstr(p, "\r\n");
        if (!e)
            break;
        if ((size_t)(e - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(e - v);
            if (vl >= n)
                vl = n - 1;
            memcpy(buf, v, vl);
            buf[vl] = 0;
            return buf;
        }
        p = e;
    }
    return NULL;
}

static inline bool hres_has(const struct hres *r, const char *name, const char *value)
{
    char buf[1024];
    const char *v = hres_header(r, name, buf, sizeof buf);
    return v && (!value || strcasecmp(v, value) == 0);
}

/* Reads one response from s. no_body: the request was HEAD. Returns 0,
 * -ENODATA when the stream ended before any byte, another error. */
static inline int http_read(cio_stream *s, struct hres *r, bool no_body)
{
    memset(r, 0, sizeof *r);
    ssize_t n = cio_stream_read_until(s, "\r\n\r\n", 4, r->head, sizeof r->head - 1);
    if (n == 0)
        return -ENODATA;
    if (n < 0)
        return (int)n;
    r->head[n] = 0;
    if (strncmp(r->head, "HTTP/1.1 ", 9) != 0)
        return -EPROTO;
    r->status = atoi(r->head + 9);
    char buf[64];
    if (r->status == 100) /* an interim response: the caller reads on */
        return 0;
    bool bodiless = no_body || r->status == 204 || r->status == 304 || r->status < 200;
    size_t cap = 1024, len = 0;
    r->body = malloc(cap + 1);
    if (!r->body)
        return -ENOMEM;
    if (bodiless) {
    } else if (hres_header(r, "Transfer-Encoding", buf, sizeof buf)) {
        r->chunked = true;
        for (;;) {
            char line[128];
            ssize_t m = cio_stream_read_line(s, line, sizeof line - 1);
            if (m <= 0)
                return m ? (int)m : -EPROTO;
            line[m] = 0;
            size_t sz = strtoul(line, NULL, 16);
            if (sz == 0)
                break;
            if (len + sz > cap) {
                while (len + sz > cap)
                    cap *= 2;
                r->body = realloc(r->body, cap + 1);
            }
            if (cio_stream_read_exactly(s, r->body + len, sz) != (ssize_t)sz)
                return -EPROTO;
            len += sz;
            if (cio_stream_read_exactly(s, line, 2) != 2 || memcmp(line, "\r\n", 2))
                return -EPROTO;
        }
        size_t tl = 0;
        for (;;) {
            char line[512];
            ssize_t m = cio_stream_read_line(s, line, sizeof line - 1);
            if (m <= 0)
                return -EPROTO;
            if (m == 2)
                break;
            if (tl + (size_t)m < sizeof r->trailers) {
                memcpy(r->trailers + tl, line, (size_t)m);
                tl += (size_t)m;
            }
        }
        r->trailers[tl] = 0;
    } else if (hres_header(r, "Content-Length", buf, sizeof buf)) {
        size_t sz = strtoul(buf, NULL, 10);
        if (sz > cap) {
            cap = sz;
            r->body = realloc(r->body, cap + 1);
        }
        if (sz && cio_stream_read_exactly(s, r->body, sz) != (ssize_t)sz)
            return -EPROTO;
        len = sz;
    } else {
        /* to the end of the connection */
        for (;;) {
            if (len == cap) {
                cap *= 2;
                r->body = realloc(r->body, cap + 1);
            }
            ssize_t m = cio_stream_read(s, r->body + len, cap - len);
            if (m < 0)
                return (int)m;
            if (m == 0)
                break;
            len += (size_t)m;
        }
    }
    r->body[len] = 0;
    r->blen = len;
    return 0;
}

/* Whether the server closed the connection (the next read sees the end). */
static inline bool http_eof(cio_stream *s)
{
    char c;
    ssize_t n = cio_stream_read(s, &c, 1);
    return n == 0 || n == -ECONNRESET;
}

static inline cio_http_server *http_start(cio_http_app *app, const cio_http_server_options *o)
{
    cio_addr a = loopback4();
    cio_http_server *srv = NULL;
    EXPECT_OK(cio_http_server_new(app, &a, o, &srv));
    return srv;
}

static inline cio_stream *http_connect(cio_http_server *srv)
{
    cio_addr a;
    EXPECT_OK(cio_http_server_addr(srv, &a));
    cio_stream *s = NULL;
    EXPECT_OK(cio_stream_connect(&a, NULL, NULL, &s));
    return s;
}

static inline void http_send(cio_stream *s, const char *raw)
{
    EXPECT_OK(cio_stream_write(s, raw, strlen(raw)));
}

/* Sends raw on a new connection and reads one response into r. */
static inline void http_once(cio_http_server *srv, const char *raw, struct hres *r)
{
    cio_stream *s = http_connect(srv);
    http_send(s, raw);
    EXPECT_OK(http_read(s, r, strncmp(raw, "HEAD ", 5) == 0));
    cio_stream_close(s);
}

/* Peak resident memory of this process (VmHWM), KiB. */
static inline long vm_hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            v = atol(line + 6);
    if (f)
        fclose(f);
    return v;
}

/* Current resident memory (VmRSS), KiB. */
static inline long vm_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = atol(line + 6);
    if (f)
        fclose(f);
    return v;
}

#endif
