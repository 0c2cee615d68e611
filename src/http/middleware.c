/* The middleware cio ships: request logging, CORS (the Fetch standard),
 * response compression (gzip and deflate through zlib, as a response body
 * filter) and request ids. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <sys/random.h>
#include <zlib.h>

#include "../common/opts.h"
#include "app.h"
#include "internal.h"

/* ---- Request logging -------------------------------------------------------- */

/* Appends s to buf (at o, room up to size), with bytes that could forge a
 * log line or confuse a reader (controls, DEL, '"', '\\', non-ASCII)
 * written as \xHH; stops with "..." when out of room. */
static size_t append_escaped(char *buf, size_t o, size_t size, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = c > 0x20 && c < 0x7f && c != '"' && c != '\\';
        if (o + (plain ? 1 : 4) + 4 > size) {
            memcpy(buf + o, "...", 3);
            return o + 3;
        }
        if (plain) {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    return o;
}

static int logging_mw(cio_http_request *req, cio_http_response *res, void *arg)
{
    int fd = (int)(intptr_t)arg;
    int rc = cio_http_next(req, res);
    /* The clock now, not the loop's cached time (which a request served
     * within one iteration would not see move); the same clock. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    double ms = (now - cio__http_start_time(req)) * 1e3;
    if (ms < 0) ms = 0;
    /* A handler's error on a response not yet started becomes a 500 when
     * the chain has returned: log what the client will get. */
    int status = rc < 0 && !cio_http_response_is_started(res) ? 500
                                                                 : cio_http_response_get_status(res);
    char line[2300];
    size_t o = 0;
    const char *method = cio_http_request_method(req);
    o = append_escaped(line, o, 40, method ? method : "-");
    line[o++] = ' ';
    const char *path = cio_http_request_path(req);
    o = append_escaped(line, o, o + 2048, path ? path : "-");
    int n = snprintf(line + o, sizeof line - o, " %d %llu %.3fms", status,
                     (unsigned long long)cio__http_bytes_sent(res), ms);
    if (n > 0) o += (size_t)n < sizeof line - o ? (size_t)n : sizeof line - o - 1;
    const char *id = cio_http_request_id(req);
    if (id && o + 8 < sizeof line) {
        memcpy(line + o, " id=", 4);
        o = append_escaped(line, o + 4, sizeof line - 2, id);
    }
    line[o++] = '\n';
    /* One write, so that lines of concurrent requests (and of other
     * loops sharing fd) do not interleave; a full non-blocking fd drops
     * the line rather than stall the loop. */
    for (size_t done = 0; done < o;) {
        ssize_t w = write(fd, line + done, o - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    return rc;
}

int cio_http_app_use_logging(cio_http_app *app, int fd)
{
    if (fd < 0) return -EINVAL;
    return cio_http_app_use(app, logging_mw, (void *)(intptr_t)fd);
}

/* ---- CORS ----------------------------------------------------------------- */

struct cors {
    const char **origins; /* NULL: any */
    size_t norigins;
    const char *methods;
    const char *headers; /* NULL: echo */
    const char *expose;  /* NULL: none */
    bool credentials;
    char max_age[24]; /* "" when not sent */
};

/* Whether the response depends on the request's Origin (so caches must
 * key on it): whenever the origin is echoed rather than "*". */
static bool cors_echoes(const struct cors *c)
{
    return c->origins || c->credentials;
}

static bool cors_allowed(const struct cors *c, const char *origin)
{
    if (!c->origins) return true;
    size_t n = strlen(origin);
    for (size_t i = 0; i < c->norigins; i++)
        if (cio__http_ieq(c->origins[i], strlen(c->origins[i]), origin, n)) return true;
    return false;
}

static int cors_mw(cio_http_request *req, cio_http_response *res, void *arg)
{
    const struct cors *c = arg;
    int rc = 0;
    const char *origin = cio_http_request_header(req, "Origin");
    if (cors_echoes(c)) rc = cio_http_response_header(res, "Vary", "Origin");
    if (rc) return rc;
    if (!origin || !cors_allowed(c, origin)) return cio_http_next(req, res);
    const char *allow_origin = cors_echoes(c) ? origin : "*";
    const char *method = cio_http_request_method(req);
    const char *req_method = cio_http_request_header(req, "Access-Control-Request-Method");
    if (method && !strcmp(method, "OPTIONS") && req_method) {
        /* A preflight: answered here, the handler never runs. */
        const char *hdrs = c->headers;
        const char *req_hdrs = cio_http_request_header(req, "Access-Control-Request-Headers");
        if (!hdrs && req_hdrs && cio__http_is_field_value(req_hdrs, strlen(req_hdrs)))
            hdrs = req_hdrs;
        if ((rc = cio_http_response_set_header(res, "Access-Control-Allow-Origin", allow_origin)) ||
            (c->credentials && (rc = cio_http_response_set_header(
                                    res, "Access-Control-Allow-Credentials", "true"))) ||
            (rc = cio_http_response_set_header(res, "Access-Control-Allow-Methods", c->methods)) ||
            (hdrs && *hdrs &&
             (rc = cio_http_response_set_header(res, "Access-Control-Allow-Headers", hdrs))) ||
            (c->max_age[0] &&
             (rc = cio_http_response_set_header(res, "Access-Control-Max-Age", c->max_age))) ||
            (!c->headers && (rc = cio_http_response_header(res, "Vary",
                                                          "Access-Control-Request-Headers"))))
            return rc;
        return cio_http_response_send(res, 204, NULL, NULL, 0);
    }
    if ((rc = cio_http_response_set_header(res, "Access-Control-Allow-Origin", allow_origin)) ||
        (c->credentials &&
         (rc = cio_http_response_set_header(res, "Access-Control-Allow-Credentials", "true"))) ||
        (c->expose &&
         (rc = cio_http_response_set_header(res, "Access-Control-Expose-Headers", c->expose))))
        return rc;
    return cio_http_next(req, res);
}

static bool cors_value_ok(const char *s)
{
    return !s || (*s && cio__http_is_field_value(s, strlen(s)) && s[0] != ' ' && s[0] != '\t');
}

/* An origin as browsers serialize it: visible characters, no comma or
 * space (a list is not an origin), and not "*" (pass NULL origins). */
static bool origin_ok(const char *s)
{
    if (!*s || !strcmp(s, "*")) return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == ',') return false;
    return true;
}

int cio_http_app_use_cors(cio_http_app *app, const cio_http_cors_options *opts)
{
    if (!app) return -EINVAL;
    cio_http_cors_options o = CIO_HTTP_CORS_OPTIONS_INIT;
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc) return rc;
    if (!cors_value_ok(o.methods) || !cors_value_ok(o.headers) || !cors_value_ok(o.expose) ||
        !isfinite(o.max_age) || o.max_age < 0 || o.max_age > 1e15)
        return -EINVAL;
    if (!o.methods) o.methods = "GET, HEAD, POST";
    /* One block: the struct, the origin pointers, then the strings. */
    size_t norig = 0, strs = strlen(o.methods) + 1;
    if (o.origins) {
        for (; o.origins[norig]; norig++) {
            if (!origin_ok(o.origins[norig])) return -EINVAL;
            strs += strlen(o.origins[norig]) + 1;
        }
    }
    if (o.headers) strs += strlen(o.headers) + 1;
    if (o.expose) strs += strlen(o.expose) + 1;
    struct cors *c = calloc(1, sizeof *c + (norig + 1) * sizeof(char *) + strs);
    if (!c) return -ENOMEM;
    const char **ptrs = (const char **)(c + 1);
    char *p = (char *)(ptrs + norig + 1);
#define DUP(dst, src)                    \
    do {                                 \
        size_t l_ = strlen(src) + 1;     \
        memcpy(p, src, l_);              \
        (dst) = p;                       \
        p += l_;                         \
    } while (0)
    if (o.origins) {
        c->origins = ptrs;
        c->norigins = norig;
        for (size_t i = 0; i < norig; i++) DUP(ptrs[i], o.origins[i]);
    }
    DUP(c->methods, o.methods);
    if (o.headers) DUP(c->headers, o.headers);
    if (o.expose) DUP(c->expose, o.expose);
#undef DUP
    c->credentials = o.credentials;
    if (o.max_age > 0) snprintf(c->max_age, sizeof c->max_age, "%.0f", floor(o.max_age));
    return cio__http_app_use_owned(app, cors_mw, c, free);
}

/* ---- Compression ---------------------------------------------------------- */

enum { CODING_NONE, CODING_GZIP, CODING_DEFLATE };

struct compress {
    size_t min_length;
    int level;
};

#define ZOUT 16384

struct zfilter {
    struct cio__http_filter f;
    const struct compress *c;
    int coding;
    bool force;  /* identity is not acceptable: compress whatever the size */
    bool active; /* deflateInit2 done */
    unsigned char *out;
    z_stream z;
};

/* An RFC 9110 qvalue: "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")], as
 * thousandths; -1 when malformed. */
static int parse_qvalue(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1')) return -1;
    int q = (s[0] - '0') * 1000;
    if (n == 1) return q;
    if (s[1] != '.' || n > 5) return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9') return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

struct accept {
    int q[4]; /* gzip, deflate, identity, "*"; -1: not listed */
};

/* Reads one Accept-Encoding field value into a (RFC 9110 12.5.3):
 * codings with an optional weight; x-gzip counts as gzip (8.4.1.3).
 * Elements that do not parse are skipped. */
static void parse_accept(const char *v, struct accept *a)
{
    const char *p = v;
    while (*p) {
        while (*p == ',' || ows(*p)) p++;
        if (!*p) break;
        const char *t = p;
        while (*p && cio__http_is_tchar((unsigned char)*p)) p++;
        size_t tl = (size_t)(p - t);
        int q = 1000;
        bool bad = tl == 0;
        while (ows(*p)) p++;
        while (*p == ';') {
            p++;
            while (ows(*p)) p++;
            const char *k = p;
            while (*p && cio__http_is_tchar((unsigned char)*p)) p++;
            size_t kl = (size_t)(p - k);
            if (*p != '=') {
                bad = true;
                break;
            }
            p++;
            const char *val = p;
            while (*p && *p != ',' && *p != ';' && !ows(*p)) p++;
            if (kl == 1 && (k[0] == 'q' || k[0] == 'Q')) {
                q = parse_qvalue(val, (size_t)(p - val));
                if (q < 0) bad = true;
            }
            while (ows(*p)) p++;
        }
        if (*p && *p != ',') bad = true;
        while (*p && *p != ',') p++; /* skip the rest of a bad element */
        if (bad) continue;
        int idx = -1;
        if (cio__http_ieq(t, tl, "gzip", 4) || cio__http_ieq(t, tl, "x-gzip", 6))
            idx = 0;
        else if (cio__http_ieq(t, tl, "deflate", 7))
            idx = 1;
        else if (cio__http_ieq(t, tl, "identity", 8))
            idx = 2;
        else if (tl == 1 && t[0] == '*')
            idx = 3;
        if (idx >= 0 && q > a->q[idx]) a->q[idx] = q;
    }
}

/* The coding to use for req's Accept-Encoding fields, and whether
 * identity was refused ("identity;q=0", or "*;q=0" without identity). */
static int choose_coding(cio_http_request *req, bool *force)
{
    const char *vals[16];
    size_t n = cio_http_request_headers(req, "Accept-Encoding", vals, 16);
    *force = false;
    if (n == 0) return CODING_NONE; /* no field: clients that send none get identity */
    struct accept a = {{-1, -1, -1, -1}};
    for (size_t i = 0; i < n && i < 16; i++) parse_accept(vals[i], &a);
    int star = a.q[3];
    int g = a.q[0] >= 0 ? a.q[0] : star > 0 ? star : 0;
    int d = a.q[1] >= 0 ? a.q[1] : star > 0 ? star : 0;
    int id = a.q[2] >= 0 ? a.q[2] : star >= 0 ? star : 1000;
    *force = id == 0;
    if (g <= 0 && d <= 0) return CODING_NONE;
    return g >= d ? CODING_GZIP : CODING_DEFLATE;
}

/* Media types whose bodies are compressed already (or streamed to be read
 * as they come, which a compressor would hold back). */
static bool precompressed_type(const char *type)
{
    size_t n = strcspn(type, "; \t");
    static const char *const exact[] = {
        "application/zip", "application/gzip", "application/x-gzip", "application/x-bzip2",
        "application/x-xz", "application/x-7z-compressed", "application/x-rar-compressed",
        "application/vnd.rar", "application/zstd", "application/x-compress",
        "application/java-archive", "application/epub+zip", "application/x-brotli",
        "application/font-woff", "font/woff", "font/woff2", "text/event-stream",
        "application/vnd.ms-cab-compressed", "application/x-lzip", "application/x-lzma",
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (cio__http_ieq(type, n, exact[i], strlen(exact[i]))) return true;
    if (cio__http_ieq(type, n, "image/svg+xml", 13)) return false;
    if (n > 6 && cio__http_ieq(type, 6, "image/", 6)) return true;
    if (n > 6 && cio__http_ieq(type, 6, "audio/", 6)) return true;
    if (n > 6 && cio__http_ieq(type, 6, "video/", 6)) return true;
    return false;
}

static int z_start(struct cio__http_filter *f, cio_http_response *res, int64_t *length)
{
    struct zfilter *zf = (struct zfilter *)f;
    int status = cio_http_response_get_status(res);
    if (status < 200 || status == 204 || status == 206 || status == 304) return 1;
    if (cio_http_response_get_header(res, "Content-Encoding") ||
        cio_http_response_get_header(res, "Content-Range"))
        return 1;
    const char *type = cio_http_response_get_header(res, "Content-Type");
    if (type && precompressed_type(type)) return 1;
    if (*length == 0) return 1;
    if (*length > 0 && (uint64_t)*length < zf->c->min_length && !zf->force) return 1;
    /* From here the body's coding depends on Accept-Encoding. */
    int rc = cio_http_response_header(res, "Vary", "Accept-Encoding");
    if (rc) return rc;
    if (zf->coding == CODING_NONE) return 1;
    cio_http_request *req = cio__http_request_of(res);
    zf->out = cio__http_alloc(req, ZOUT);
    if (!zf->out) return -ENOMEM;
    memset(&zf->z, 0, sizeof zf->z);
    /* deflate is the zlib format (RFC 9110 8.4.1.2), gzip the gzip
     * wrapper (windowBits + 16). */
    /* A window larger than the body buys nothing: for a known length,
     * shrink it (and the hash with it) as nginx does, so that a 4 KiB
     * body costs zlib some 40 KiB instead of 260. */
    int wbits = 15, memlevel = 8;
    while (*length > 0 && wbits > 9 && *length <= (int64_t)1 << (wbits - 1)) {
        wbits--;
        if (memlevel > 2) memlevel--;
    }
    if (zf->coding == CODING_GZIP) wbits += 16;
    if (deflateInit2(&zf->z, zf->c->level, Z_DEFLATED, wbits, memlevel, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return -ENOMEM;
    zf->active = true;
    const char *etag = cio_http_response_get_header(res, "ETag");
    if (etag && etag[0] == '"') {
        /* The compressed body is another representation: a strong
         * validator of the identity one must not vouch for its bytes. */
        size_t el = strlen(etag);
        char *weak = cio__http_alloc(req, el + 3);
        if (!weak) return -ENOMEM;
        memcpy(weak, "W/", 2);
        memcpy(weak + 2, etag, el + 1);
        if ((rc = cio_http_response_set_header(res, "ETag", weak))) return rc;
    }
    if ((rc = cio_http_response_set_header(res, "Content-Encoding",
                                           zf->coding == CODING_GZIP ? "gzip" : "deflate")) ||
        (rc = cio_http_response_set_header(res, "Content-Length", NULL)))
        return rc;
    *length = -1;
    return 0;
}

/* Runs deflate over what is in zf->z with flush, passing every full
 * output buffer on. */
static int z_pump(struct zfilter *zf, cio_http_response *res, int flush)
{
    for (;;) {
        zf->z.next_out = zf->out;
        zf->z.avail_out = ZOUT;
        int zr = deflate(&zf->z, flush);
        if (zr == Z_STREAM_ERROR) return -EIO;
        size_t have = ZOUT - zf->z.avail_out;
        if (have) {
            int rc = cio__http_filter_write_next(&zf->f, res, zf->out, have);
            if (rc) return rc;
        }
        if (flush == Z_FINISH ? zr == Z_STREAM_END : zf->z.avail_out != 0) return 0;
    }
}

static int z_write(struct cio__http_filter *f, cio_http_response *res, const void *data,
                   size_t len)
{
    struct zfilter *zf = (struct zfilter *)f;
    const unsigned char *p = data;
    while (len) {
        /* avail_in is a uInt: feed huge writes in pieces. */
        uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;
        zf->z.next_in = (unsigned char *)p;
        zf->z.avail_in = chunk;
        int rc = z_pump(zf, res, Z_NO_FLUSH);
        if (rc) return rc;
        p += chunk;
        len -= chunk;
    }
    return 0;
}

static int z_finish(struct cio__http_filter *f, cio_http_response *res)
{
    struct zfilter *zf = (struct zfilter *)f;
    if (!zf->active) return 0;
    int rc = 0;
    if (res) {
        zf->z.next_in = NULL;
        zf->z.avail_in = 0;
        rc = z_pump(zf, res, Z_FINISH);
    }
    deflateEnd(&zf->z);
    zf->active = false;
    return rc;
}

/* A request that ends before the response did (the client left, a
 * handler failed) must still give zlib's memory back. */
static void z_cleanup(void *arg)
{
    struct zfilter *zf = arg;
    if (zf->active) {
        deflateEnd(&zf->z);
        zf->active = false;
    }
}

static int compress_mw(cio_http_request *req, cio_http_response *res, void *arg)
{
    const char *method = cio_http_request_method(req);
    if (!method || !strcmp(method, "HEAD")) return cio_http_next(req, res);
    struct zfilter *zf = cio__http_alloc(req, sizeof *zf);
    if (!zf) return -ENOMEM;
    memset(zf, 0, sizeof *zf);
    zf->c = arg;
    zf->coding = choose_coding(req, &zf->force);
    zf->f.start = z_start;
    zf->f.write = z_write;
    zf->f.finish = z_finish;
    int rc = cio__http_on_end(req, z_cleanup, zf);
    if (rc) return rc;
    rc = cio__http_push_filter(res, &zf->f);
    if (rc == -EALREADY) return cio_http_next(req, res); /* started by a middleware before */
    if (rc) return rc;
    return cio_http_next(req, res);
}

int cio_http_app_use_compression(cio_http_app *app, const cio_http_compress_options *opts)
{
    if (!app) return -EINVAL;
    cio_http_compress_options o = CIO_HTTP_COMPRESS_OPTIONS_INIT;
    o.min_length = 256;
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc) return rc;
    if (o.level < 0 || o.level > 9) return -EINVAL;
    struct compress *c = malloc(sizeof *c);
    if (!c) return -ENOMEM;
    c->min_length = o.min_length;
    c->level = o.level ? o.level : 6;
    return cio__http_app_use_owned(app, compress_mw, c, free);
}

/* ---- Request ids ---------------------------------------------------------- */

static bool id_ok(const char *v)
{
    size_t n = 0;
    for (; v[n]; n++)
        if ((unsigned char)v[n] < 0x21 || (unsigned char)v[n] > 0x7e || n >= 200) return false;
    return n > 0;
}

static int random_bytes(unsigned char *buf, size_t n)
{
    /* OpenSSL's DRBG: per thread, reseeded by itself, safe across fork,
     * and no system call per id. getrandom when it fails. */
    if (RAND_bytes(buf, (int)n) == 1) return 0;
    for (size_t done = 0; done < n;) {
        ssize_t r = getrandom(buf + done, n - done, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -EIO;
        done += (size_t)r;
    }
    return 0;
}

static int request_id_mw(cio_http_request *req, cio_http_response *res, void *arg)
{
    const char *header = arg;
    const char *v = cio_http_request_header(req, header);
    char *id;
    if (v && id_ok(v)) {
        id = (char *)v;
    } else {
        static const char hex[] = "0123456789abcdef";
        unsigned char r[16];
        int rc = random_bytes(r, sizeof r);
        if (rc) return rc;
        id = cio__http_alloc(req, 33);
        if (!id) return -ENOMEM;
        for (size_t i = 0; i < 16; i++) {
            id[2 * i] = hex[r[i] >> 4];
            id[2 * i + 1] = hex[r[i] & 15];
        }
        id[32] = '\0';
    }
    *cio__http_slot(req, CIO__HTTP_SLOT_REQUEST_ID) = id;
    int rc = cio_http_response_set_header(res, header, id);
    if (rc) return rc;
    return cio_http_next(req, res);
}

int cio_http_app_use_request_id(cio_http_app *app, const char *header)
{
    if (!app) return -EINVAL;
    if (!header) header = "X-Request-Id";
    if (!cio__http_is_token(header, strlen(header))) return -EINVAL;
    char *h = strdup(header);
    if (!h) return -ENOMEM;
    return cio__http_app_use_owned(app, request_id_mw, h, free);
}
