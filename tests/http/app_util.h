/* Helpers for the application tests (test_router.c, test_middleware.c):
 * a server for an app on 127.0.0.1 port 0 in the running task, raw
 * requests over loopback, and a small reader of the responses. */
#ifndef CIO_TEST_HTTP_APP_UTIL_H
#define CIO_TEST_HTTP_APP_UTIL_H

#include <ctype.h>
#include <strings.h>

#include "test.h"

struct srv {
    cio_http_server *srv;
    cio_addr addr;
};

static inline void srv_start(struct srv *s, cio_http_app *app)
{
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &a));
    EXPECT_OK(cio_http_server_new(app, &a, NULL, &s->srv));
    EXPECT_OK(cio_http_server_addr(s->srv, &s->addr));
}

static inline void srv_stop(struct srv *s)
{
    EXPECT_OK(cio_http_server_close(s->srv, 5));
}

/* Sends raw (all of it, as one write) on a new connection and reads until
 * the server closes it (the requests should end with Connection: close).
 * Returns the bytes, NUL-terminated (free them). */
static inline char *exchange(const struct srv *s, const char *raw, size_t *len)
{
    cio_stream *st;
    EXPECT_OK(cio_stream_connect(&s->addr, NULL, NULL, &st));
    EXPECT_OK(cio_stream_write(st, raw, strlen(raw)));
    void *data = NULL;
    size_t n = 0;
    EXPECT_OK(cio_stream_read_all(st, 64 << 20, &data, &n));
    cio_stream_close(st);
    char *out = malloc(n + 1);
    EXPECT_TRUE(out != NULL);
    if (n) memcpy(out, data, n);
    out[n] = '\0';
    free(data);
    if (len) *len = n;
    return out;
}

/* A parsed response: status, the head's fields, the body (chunked undone). */
struct resp {
    int status;
    char *head; /* the header section, NUL-terminated */
    char *body;
    size_t body_len;
    bool chunked;
};

static inline void resp_free(struct resp *r)
{
    free(r->head);
    free(r->body);
}

/* The value of header name in r (the first), copied to a static buffer,
 * or NULL. */
static inline const char *resp_header(const struct resp *r, const char *name)
{
    static char buf[4][1024];
    static int k;
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ') v++;
            const char *e = strstr(v, "\r\n");
            char *b = buf[k++ & 3];
            snprintf(b, sizeof buf[0], "%.*s", (int)(e - v), v);
            return b;
        }
    }
    return NULL;
}

/* How many fields named name r has. */
static inline int resp_count(const struct resp *r, const char *name)
{
    int n = 0;
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') n++;
    return n;
}

/* Parses the response at *data (n bytes left); advances past it. HEAD
 * responses: pass head true (no body follows). */
static inline void resp_parse(const char **data, size_t *n, bool head, struct resp *r)
{
    memset(r, 0, sizeof *r);
    const char *d = *data;
    const char *end = memmem(d, *n, "\r\n\r\n", 4);
    if (!end) FAIL("no complete head in \"%.*s\"", (int)*n, d);
    size_t hl = (size_t)(end - d) + 2;
    r->head = strndup(d, hl);
    if (sscanf(d, "HTTP/1.%*d %d", &r->status) != 1) FAIL("bad status line");
    const char *b = end + 4;
    size_t left = *n - (size_t)(b - d);
    const char *te = resp_header(r, "Transfer-Encoding");
    const char *cl = resp_header(r, "Content-Length");
    r->body = malloc(left + 1);
    size_t bl = 0;
    if (head || r->status == 204 || r->status == 304 || r->status < 200) {
        /* no body */
    } else if (te && strcasecmp(te, "chunked") == 0) {
        r->chunked = true;
        for (;;) {
            char *e;
            unsigned long sz = strtoul(b, &e, 16);
            const char *crlf = strstr(b, "\r\n");
            if (!crlf || e == b) FAIL("bad chunk");
            b = crlf + 2;
            if (sz == 0) {
                /* trailers, then CRLF */
                while (strncmp(b, "\r\n", 2) != 0) b = strstr(b, "\r\n") + 2;
                b += 2;
                break;
            }
            memcpy(r->body + bl, b, sz);
            bl += sz;
            b += sz + 2;
        }
    } else if (cl) {
        bl = strtoul(cl, NULL, 10);
        if (bl > left) FAIL("body shorter than Content-Length");
        memcpy(r->body, b, bl);
        b += bl;
    } else {
        memcpy(r->body, b, left);
        bl = left;
        b += left;
    }
    r->body[bl] = '\0';
    r->body_len = bl;
    *n -= (size_t)(b - d);
    *data = b;
}

/* One request on its own connection (Connection: close is added), the
 * response parsed. extra: more header lines ("Name: v\r\n"...) or NULL. */
static inline struct resp request(const struct srv *s, const char *method, const char *target,
                                  const char *extra)
{
    char raw[8192];
    snprintf(raw, sizeof raw, "%s %s HTTP/1.1\r\nHost: test\r\n%sConnection: close\r\n\r\n",
             method, target, extra ? extra : "");
    size_t n;
    char *all = exchange(s, raw, &n);
    const char *p = all;
    struct resp r;
    resp_parse(&p, &n, strcmp(method, "HEAD") == 0, &r);
    free(all);
    return r;
}

#endif
