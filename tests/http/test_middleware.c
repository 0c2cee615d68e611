/* The middleware cio ships (src/http/middleware.c): request logging, CORS,
 * gzip/deflate compression (checked by inflating with zlib here, and with
 * curl --compressed when curl is installed), request ids; each through a
 * real server on 127.0.0.1. */
#include <math.h>
#include <zlib.h>

#include "http/app_util.h"

/* ---- Handlers ------------------------------------------------------------- */

/* The value of name in the query (no decoding but %22 and %2B, which
 * the cases use), in a static buffer, or NULL; request.c's query parser
 * is another part's. */
static const char *query(cio_http_request *req, const char *name)
{
    static char buf[4][128];
    static int k;
    const char *q = cio_http_request_query_string(req);
    size_t nl = strlen(name);
    for (const char *p = q; p && *p;) {
        const char *e = strchr(p, '&');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            char *b = buf[k++ & 3], *o = b;
            for (const char *v = p + nl + 1; v < p + len && o < b + 120; v++) {
                if (!strncmp(v, "%22", 3)) *o++ = '"', v += 2;
                else if (!strncmp(v, "%2B", 3)) *o++ = '+', v += 2;
                else *o++ = *v;
            }
            *o = '\0';
            return b;
        }
        p = e ? e + 1 : NULL;
    }
    return NULL;
}

/* n bytes of compressible text: "line 000123 of the body\n"... */
static char *make_text(size_t n)
{
    char *b = malloc(n + 1);
    for (size_t i = 0; i < n;) {
        char line[32];
        int l = snprintf(line, sizeof line, "line %06zu of the body\n", i / 24);
        for (int k = 0; k < l && i < n; k++) b[i++] = line[k];
    }
    b[n] = '\0';
    return b;
}

static int h_text(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    size_t n = strtoul(cio_http_request_param(req, "n"), NULL, 10);
    const char *type = query(req, "type");
    const char *etag = query(req, "etag");
    const char *enc = query(req, "enc");
    const char *status = query(req, "status");
    if (etag) EXPECT_OK(cio_http_response_header(res, "ETag", etag));
    if (enc) EXPECT_OK(cio_http_response_header(res, "Content-Encoding", enc));
    char *b = make_text(n);
    int rc = cio_http_response_send(res, status ? atoi(status) : 200,
                                    type ? type : "text/plain; charset=utf-8", b, n);
    free(b);
    return rc;
}

/* n bytes streamed in pieces of 1000 (length unknown). */
static int h_stream(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    size_t n = strtoul(cio_http_request_param(req, "n"), NULL, 10);
    char *b = make_text(n);
    EXPECT_OK(cio_http_response_header(res, "Content-Type", "text/plain"));
    int rc = cio_http_response_begin(res, -1);
    for (size_t o = 0; !rc && o < n; o += 1000)
        rc = cio_http_response_write(res, b + o, n - o < 1000 ? n - o : 1000);
    free(b);
    return rc ? rc : cio_http_response_end(res);
}

static int h_fail(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req, (void)res, (void)arg;
    return -EIO;
}

static int h_echo_id(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const char *id = cio_http_request_id(req);
    return cio_http_response_text(res, 200, id ? id : "(none)");
}

static int h_ok(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    if (arg) (*(int *)arg)++;
    return cio_http_response_text(res, 200, "ok");
}

/* Inflates in[0..n) (windowBits: 15 zlib, 31 gzip); the result is
 * NUL-terminated (free it). */
static char *inflate_all(const char *in, size_t n, int wbits, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    EXPECT_EQ(Z_OK, inflateInit2(&z, wbits));
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    int zr;
    do {
        if (cap - len < 4096) out = realloc(out, cap *= 2);
        z.next_out = (unsigned char *)out + len;
        z.avail_out = (uInt)(cap - len - 1);
        zr = inflate(&z, Z_NO_FLUSH);
        len = cap - 1 - z.avail_out;
        if (zr != Z_OK && zr != Z_STREAM_END) FAIL("inflate: %d", zr);
    } while (zr != Z_STREAM_END);
    EXPECT_EQ(0, z.avail_in); /* nothing after the stream's end */
    inflateEnd(&z);
    out[len] = '\0';
    *out_len = len;
    return out;
}

/* ---- Logging -------------------------------------------------------------- */

static char reports[1024];
static void capture_report(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop, (void)arg;
    strncat(reports, msg, sizeof reports - strlen(reports) - 2);
    strcat(reports, "\n");
}

static int logging_task(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_loop_set_report_handler(cio_current_loop(), capture_report, NULL);
    int p[2];
    EXPECT_EQ(0, pipe2(p, O_CLOEXEC | O_NONBLOCK));
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_ERR(-EINVAL, cio_http_app_use_logging(NULL, p[1]));
    EXPECT_ERR(-EINVAL, cio_http_app_use_logging(app, -1));
    EXPECT_OK(cio_http_app_use_logging(app, p[1]));
    EXPECT_OK(cio_http_app_use_request_id(app, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/ok", h_ok, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/fail", h_fail, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/p/{x}", h_ok, NULL));
    struct srv s;
    srv_start(&s, app);
    struct resp r = request(&s, "GET", "/ok?q=1", "X-Request-Id: abc-123\r\n");
    resp_free(&r);
    r = request(&s, "GET", "/fail", "X-Request-Id: r2\r\n");
    EXPECT_EQ(500, r.status);
    resp_free(&r);
    r = request(&s, "GET", "/missing", "X-Request-Id: r3\r\n");
    resp_free(&r);
    r = request(&s, "GET", "/p/a%0Ab%22", "X-Request-Id: r4\r\n");
    resp_free(&r);
    srv_stop(&s);
    EXPECT_OK(cio_http_app_free(app));
    EXPECT_TRUE(strstr(reports, "/fail") != NULL); /* the server's own report */

    char buf[4096];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    EXPECT_TRUE(n > 0);
    buf[n] = '\0';
    close(p[0]);
    close(p[1]);
    /* One line each: method, path, status, bytes, duration, id. */
    char *save, *line = strtok_r(buf, "\n", &save);
    const char *want[][3] = {
        {"GET /ok 200 2 ", "ms id=abc-123"},
        {"GET /fail 500 0 ", "ms id=r2"},
        {"GET /missing 404 14 ", "ms id=r3"},
        {"GET /p/a\\x0ab\\x22 200 2 ", "ms id=r4"}, /* no forged line */
    };
    for (int i = 0; i < 4; i++, line = strtok_r(NULL, "\n", &save)) {
        if (!line) FAIL("line %d missing", i);
        if (strncmp(line, want[i][0], strlen(want[i][0])) != 0)
            FAIL("line %d: \"%s\", want \"%s...\"", i, line, want[i][0]);
        double ms = -1;
        EXPECT_EQ(1, sscanf(line + strlen(want[i][0]), "%lf", &ms));
        EXPECT_TRUE(ms >= 0);
        EXPECT_TRUE(strstr(line, want[i][1]) != NULL);
    }
    EXPECT_TRUE(line == NULL);
    return 0;
}

TEST(logging)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(logging_task, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

/* ---- CORS ----------------------------------------------------------------- */

TEST(cors_args)
{
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_ERR(-EINVAL, cio_http_app_use_cors(NULL, NULL));
    cio_http_cors_options o = {0}; /* not made with the macros */
    EXPECT_ERR(-EINVAL, cio_http_app_use_cors(app, &o));
    struct {
        cio_http_cors_options o;
        char more[8];
    } newer = {CIO_HTTP_CORS_OPTIONS_INIT, {1}};
    newer.o.size = sizeof newer;
    EXPECT_ERR(-E2BIG, cio_http_app_use_cors(app, &newer.o));
    static const char *const star[] = {"*", NULL};
    static const char *const comma[] = {"http://a, http://b", NULL};
    static const char *const empty[] = {"", NULL};
    static const char *const space[] = {"http://a b", NULL};
    EXPECT_ERR(-EINVAL, cio_http_app_use_cors(app, &CIO_HTTP_CORS_OPTIONS(.origins = star)));
    EXPECT_ERR(-EINVAL, cio_http_app_use_cors(app, &CIO_HTTP_CORS_OPTIONS(.origins = comma)));
    EXPECT_ERR(-EINVAL, cio_http_app_use_cors(app, &CIO_HTTP_CORS_OPTIONS(.origins = empty)));
    EXPECT_ERR(-EINVAL, cio_http_app_use_cors(app, &CIO_HTTP_CORS_OPTIONS(.origins = space)));
    EXPECT_ERR(-EINVAL, cio_http_app_use_cors(app, &CIO_HTTP_CORS_OPTIONS(.methods = "GET\r\nX: y")));
    EXPECT_ERR(-EINVAL, cio_http_app_use_cors(app, &CIO_HTTP_CORS_OPTIONS(.methods = "")));
    EXPECT_ERR(-EINVAL, cio_http_app_use_cors(app, &CIO_HTTP_CORS_OPTIONS(.headers = "a\nb")));
    EXPECT_ERR(-EINVAL, cio_http_app_use_cors(app, &CIO_HTTP_CORS_OPTIONS(.expose = "\x01")));
    EXPECT_ERR(-EINVAL, cio_http_app_use_cors(app, &CIO_HTTP_CORS_OPTIONS(.max_age = -1)));
    EXPECT_ERR(-EINVAL, cio_http_app_use_cors(app, &CIO_HTTP_CORS_OPTIONS(.max_age = NAN)));
    EXPECT_ERR(-EINVAL, cio_http_app_use_cors(app, &CIO_HTTP_CORS_OPTIONS(.max_age = INFINITY)));
    EXPECT_OK(cio_http_app_use_cors(app, NULL));
    EXPECT_OK(cio_http_app_free(app));
}

static int cors_any_task(void *arg, void **result)
{
    (void)arg, (void)result;
    int ran = 0;
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_use_cors(app, NULL));
    EXPECT_OK(cio_http_app_route(app, NULL, "/r", h_ok, &ran));
    struct srv s;
    srv_start(&s, app);
    struct resp r = request(&s, "GET", "/r", "Origin: http://a.example\r\n");
    EXPECT_EQ(200, r.status);
    EXPECT_STR_EQ("*", resp_header(&r, "Access-Control-Allow-Origin"));
    EXPECT_TRUE(resp_header(&r, "Vary") == NULL); /* "*" does not depend on the origin */
    EXPECT_TRUE(resp_header(&r, "Access-Control-Allow-Credentials") == NULL);
    resp_free(&r);
    r = request(&s, "GET", "/r", NULL); /* not a CORS request */
    EXPECT_TRUE(resp_header(&r, "Access-Control-Allow-Origin") == NULL);
    resp_free(&r);
    EXPECT_EQ(2, ran);
    /* A preflight: 204, the allow headers, the handler does not run. */
    r = request(&s, "OPTIONS", "/r",
                "Origin: http://a.example\r\nAccess-Control-Request-Method: PUT\r\n"
                "Access-Control-Request-Headers: x-one, content-type\r\n");
    EXPECT_EQ(204, r.status);
    EXPECT_EQ(2, ran);
    EXPECT_STR_EQ("*", resp_header(&r, "Access-Control-Allow-Origin"));
    EXPECT_STR_EQ("GET, HEAD, POST", resp_header(&r, "Access-Control-Allow-Methods"));
    EXPECT_STR_EQ("x-one, content-type", resp_header(&r, "Access-Control-Allow-Headers"));
    EXPECT_STR_EQ("Access-Control-Request-Headers", resp_header(&r, "Vary"));
    EXPECT_TRUE(resp_header(&r, "Access-Control-Max-Age") == NULL);
    EXPECT_TRUE(resp_header(&r, "Content-Length") == NULL);
    resp_free(&r);
    /* OPTIONS without Access-Control-Request-Method is no preflight. */
    r = request(&s, "OPTIONS", "/r", "Origin: http://a.example\r\n");
    EXPECT_EQ(200, r.status);
    EXPECT_EQ(3, ran);
    resp_free(&r);
    srv_stop(&s);
    EXPECT_OK(cio_http_app_free(app));
    return 0;
}

TEST(cors_any_origin)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(cors_any_task, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

static int cors_list_task(void *arg, void **result)
{
    (void)arg, (void)result;
    int ran = 0;
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    const char *origins[] = {"https://good.example", "http://localhost:8080", NULL};
    cio_http_cors_options o = CIO_HTTP_CORS_OPTIONS(
            .origins = origins, .methods = "GET, PUT", .headers = "X-Token",
            .expose = "X-Total", .credentials = true, .max_age = 600.7);
    EXPECT_OK(cio_http_app_use_cors(app, &o));
    origins[0] = "https://changed.example"; /* copied: no effect */
    EXPECT_OK(cio_http_app_route(app, "GET", "/r", h_ok, &ran));
    struct srv s;
    srv_start(&s, app);
    struct resp r = request(&s, "GET", "/r", "Origin: https://good.example\r\n");
    EXPECT_STR_EQ("https://good.example", resp_header(&r, "Access-Control-Allow-Origin"));
    EXPECT_STR_EQ("Origin", resp_header(&r, "Vary"));
    EXPECT_STR_EQ("true", resp_header(&r, "Access-Control-Allow-Credentials"));
    EXPECT_STR_EQ("X-Total", resp_header(&r, "Access-Control-Expose-Headers"));
    resp_free(&r);
    /* Another origin: served without CORS headers (the browser refuses). */
    r = request(&s, "GET", "/r", "Origin: https://evil.example\r\n");
    EXPECT_EQ(200, r.status);
    EXPECT_TRUE(resp_header(&r, "Access-Control-Allow-Origin") == NULL);
    EXPECT_TRUE(resp_header(&r, "Access-Control-Allow-Credentials") == NULL);
    EXPECT_STR_EQ("Origin", resp_header(&r, "Vary"));
    resp_free(&r);
    r = request(&s, "GET", "/r", "Origin: https://changed.example\r\n");
    EXPECT_TRUE(resp_header(&r, "Access-Control-Allow-Origin") == NULL);
    resp_free(&r);
    /* No Origin: still Vary, a cache must not serve this to a CORS fetch. */
    r = request(&s, "GET", "/r", NULL);
    EXPECT_STR_EQ("Origin", resp_header(&r, "Vary"));
    EXPECT_TRUE(resp_header(&r, "Access-Control-Allow-Origin") == NULL);
    resp_free(&r);
    EXPECT_EQ(4, ran);
    r = request(&s, "OPTIONS", "/r",
                "Origin: http://localhost:8080\r\nAccess-Control-Request-Method: PUT\r\n"
                "Access-Control-Request-Headers: x-other\r\n");
    EXPECT_EQ(204, r.status);
    EXPECT_STR_EQ("http://localhost:8080", resp_header(&r, "Access-Control-Allow-Origin"));
    EXPECT_STR_EQ("true", resp_header(&r, "Access-Control-Allow-Credentials"));
    EXPECT_STR_EQ("GET, PUT", resp_header(&r, "Access-Control-Allow-Methods"));
    EXPECT_STR_EQ("X-Token", resp_header(&r, "Access-Control-Allow-Headers"));
    EXPECT_STR_EQ("600", resp_header(&r, "Access-Control-Max-Age"));
    resp_free(&r);
    /* A preflight from another origin goes to the app (which has no
     * OPTIONS route here: 405). */
    r = request(&s, "OPTIONS", "/r",
                "Origin: https://evil.example\r\nAccess-Control-Request-Method: PUT\r\n");
    EXPECT_EQ(405, r.status);
    EXPECT_TRUE(resp_header(&r, "Access-Control-Allow-Origin") == NULL);
    resp_free(&r);
    EXPECT_EQ(4, ran);
    srv_stop(&s);
    EXPECT_OK(cio_http_app_free(app));
    return 0;
}

TEST(cors_origin_list_credentials)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(cors_list_task, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

static int cors_cred_any_task(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_use_cors(app, &CIO_HTTP_CORS_OPTIONS(.credentials = true)));
    EXPECT_OK(cio_http_app_route(app, "GET", "/r", h_ok, NULL));
    struct srv s;
    srv_start(&s, app);
    /* Credentials never with "*": the origin is echoed. */
    struct resp r = request(&s, "GET", "/r", "Origin: http://x.example\r\n");
    EXPECT_STR_EQ("http://x.example", resp_header(&r, "Access-Control-Allow-Origin"));
    EXPECT_STR_EQ("true", resp_header(&r, "Access-Control-Allow-Credentials"));
    EXPECT_STR_EQ("Origin", resp_header(&r, "Vary"));
    resp_free(&r);
    srv_stop(&s);
    EXPECT_OK(cio_http_app_free(app));
    return 0;
}

TEST(cors_credentials_never_star)
{
    EXPECT_OK(cio_run(cors_cred_any_task, NULL, NULL));
}

/* ---- Compression ---------------------------------------------------------- */

TEST(compression_args)
{
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_ERR(-EINVAL, cio_http_app_use_compression(NULL, NULL));
    cio_http_compress_options o = {0};
    EXPECT_ERR(-EINVAL, cio_http_app_use_compression(app, &o));
    EXPECT_ERR(-EINVAL, cio_http_app_use_compression(app, &CIO_HTTP_COMPRESS_OPTIONS(.level = 10)));
    EXPECT_ERR(-EINVAL, cio_http_app_use_compression(app, &CIO_HTTP_COMPRESS_OPTIONS(.level = -1)));
    struct {
        cio_http_compress_options o;
        char more[8];
    } newer = {CIO_HTTP_COMPRESS_OPTIONS_INIT, {1}};
    newer.o.size = sizeof newer;
    EXPECT_ERR(-E2BIG, cio_http_app_use_compression(app, &newer.o));
    EXPECT_OK(cio_http_app_use_compression(app, NULL));
    EXPECT_OK(cio_http_app_free(app));
}

struct ztest {
    const char *target, *accept; /* accept NULL: no Accept-Encoding */
    const char *method;
    int coding; /* 0 none, 15 deflate (zlib), 31 gzip */
    size_t len; /* the identity body's length (0: as the target says) */
};

static void check_compressed(const struct srv *s, const struct ztest *t)
{
    char extra[256] = "";
    if (t->accept) snprintf(extra, sizeof extra, "Accept-Encoding: %s\r\n", t->accept);
    const char *method = t->method ? t->method : "GET";
    struct resp r = request(s, method, t->target, extra);
    const char *ce = resp_header(&r, "Content-Encoding");
    if (t->coding == 0) {
        if (ce && strcmp(ce, "br") != 0)
            FAIL("%s %s (%s): Content-Encoding %s", method, t->target, t->accept, ce);
    } else {
        if (!ce || strcmp(ce, t->coding == 31 ? "gzip" : "deflate") != 0)
            FAIL("%s (%s): Content-Encoding %s", t->target, t->accept, ce ? ce : "(none)");
        EXPECT_TRUE(r.chunked);
        EXPECT_TRUE(resp_header(&r, "Content-Length") == NULL);
        EXPECT_STR_EQ("Accept-Encoding", resp_header(&r, "Vary"));
        size_t n;
        char *plain = inflate_all(r.body, r.body_len, t->coding, &n);
        char *want = make_text(t->len);
        EXPECT_EQ(t->len, n);
        EXPECT_TRUE(memcmp(plain, want, n) == 0);
        if (n >= 1000) EXPECT_TRUE(r.body_len < n / 2);
        free(plain);
        free(want);
    }
    resp_free(&r);
}

static int compress_task(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_use_compression(app, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/text/{n}", h_text, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/stream/{n}", h_stream, NULL));
    struct srv s;
    srv_start(&s, app);
    static const struct ztest cases[] = {
        {"/text/5000", "gzip", NULL, 31, 5000},
        {"/text/5000", "deflate", NULL, 15, 5000},
        {"/text/5000", "x-gzip", NULL, 31, 5000},
        {"/text/5000", "GZIP", NULL, 31, 5000},
        {"/text/5000", "gzip, deflate, br", NULL, 31, 5000},
        {"/text/5000", "gzip;q=0.5, deflate;q=0.8", NULL, 15, 5000},
        {"/text/5000", "gzip ; q=0.5 , deflate ; Q=0.800", NULL, 15, 5000},
        {"/text/5000", "deflate;q=0, *", NULL, 31, 5000},
        {"/text/5000", "*;q=0.1", NULL, 31, 5000},
        {"/text/5000", "*", NULL, 31, 5000},
        {"/text/5000", "br;q=1, deflate;q=0.001", NULL, 15, 5000},
        {"/text/5000", "identity", NULL, 0, 0},
        {"/text/5000", "gzip;q=0", NULL, 0, 0},
        {"/text/5000", "gzip;q=0, deflate;q=0.000", NULL, 0, 0},
        {"/text/5000", "gzip;q=2", NULL, 0, 0},       /* malformed weight: skipped */
        {"/text/5000", "gzip;q=0.5555", NULL, 0, 0},  /* too many digits */
        {"/text/5000", "gzip;q", NULL, 0, 0},
        {"/text/5000", "", NULL, 0, 0},
        {"/text/5000", "br", NULL, 0, 0},
        {"/text/5000", NULL, NULL, 0, 0}, /* no field: identity */
        {"/text/5000", "gzip", "HEAD", 0, 0},
        {"/text/100", "gzip", NULL, 0, 0}, /* under min_length */
        {"/text/255", "gzip", NULL, 0, 0},
        {"/text/256", "gzip", NULL, 31, 256},
        {"/text/100", "gzip, identity;q=0", NULL, 31, 100}, /* identity refused */
        {"/text/100", "deflate, *;q=0", NULL, 15, 100},
        {"/text/5000?status=204", "gzip", NULL, 0, 0},
        {"/text/5000?status=304", "gzip", NULL, 0, 0},
        {"/text/5000?status=404", "gzip", NULL, 31, 5000},
        {"/text/5000?type=image/png", "gzip", NULL, 0, 0},
        {"/text/5000?type=IMAGE/JPEG", "gzip", NULL, 0, 0},
        {"/text/5000?type=video/mp4", "gzip", NULL, 0, 0},
        {"/text/5000?type=audio/ogg", "gzip", NULL, 0, 0},
        {"/text/5000?type=application/zip", "gzip", NULL, 0, 0},
        {"/text/5000?type=font/woff2", "gzip", NULL, 0, 0},
        {"/text/5000?type=image/svg%2Bxml", "gzip", NULL, 31, 5000},
        {"/text/5000?type=application/json", "gzip", NULL, 31, 5000},
        {"/text/5000?enc=br", "gzip", NULL, 0, 0}, /* encoded already */
        {"/stream/3000000", "gzip", NULL, 31, 3000000},
        {"/stream/200", "gzip", NULL, 31, 200}, /* length unknown: compressed */
        {"/stream/0", "gzip", NULL, 31, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_compressed(&s, &cases[i]);

    /* Strong ETags are weakened, weak ones kept. */
    struct resp r = request(&s, "GET", "/text/5000?etag=%22v1%22", "Accept-Encoding: gzip\r\n");
    EXPECT_STR_EQ("W/\"v1\"", resp_header(&r, "ETag"));
    resp_free(&r);
    r = request(&s, "GET", "/text/5000?etag=W/%22v1%22", "Accept-Encoding: gzip\r\n");
    EXPECT_STR_EQ("W/\"v1\"", resp_header(&r, "ETag"));
    resp_free(&r);
    r = request(&s, "GET", "/text/5000?etag=%22v1%22", NULL);
    EXPECT_STR_EQ("\"v1\"", resp_header(&r, "ETag"));
    EXPECT_STR_EQ("5000", resp_header(&r, "Content-Length"));
    EXPECT_STR_EQ("Accept-Encoding", resp_header(&r, "Vary")); /* it could have been */
    resp_free(&r);
    /* Several Accept-Encoding fields are one list. */
    r = request(&s, "GET", "/text/5000", "Accept-Encoding: br\r\nAccept-Encoding: deflate\r\n");
    EXPECT_STR_EQ("deflate", resp_header(&r, "Content-Encoding"));
    resp_free(&r);
    /* Keep-alive after a compressed response: the next one is right too. */
    size_t n;
    char *all = exchange(&s,
                         "GET /text/3000 HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n"
                         "GET /text/3000 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                         &n);
    const char *p = all;
    resp_parse(&p, &n, false, &r);
    EXPECT_STR_EQ("gzip", resp_header(&r, "Content-Encoding"));
    resp_free(&r);
    resp_parse(&p, &n, false, &r);
    EXPECT_TRUE(resp_header(&r, "Content-Encoding") == NULL);
    EXPECT_EQ(3000, r.body_len);
    resp_free(&r);
    EXPECT_EQ(0, n);
    free(all);
    srv_stop(&s);
    EXPECT_OK(cio_http_app_free(app));
    return 0;
}

TEST_T(compression, 120)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(compress_task, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

static int compress_opts_task(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_use_compression(
            app, &CIO_HTTP_COMPRESS_OPTIONS(.min_length = 10, .level = 1)));
    EXPECT_OK(cio_http_app_route(app, "GET", "/text/{n}", h_text, NULL));
    struct srv s;
    srv_start(&s, app);
    check_compressed(&s, &(struct ztest){"/text/100", "gzip", NULL, 31, 100});
    check_compressed(&s, &(struct ztest){"/text/9", "gzip", NULL, 0, 0});
    check_compressed(&s, &(struct ztest){"/text/100000", "deflate", NULL, 15, 100000});
    srv_stop(&s);
    EXPECT_OK(cio_http_app_free(app));
    return 0;
}

TEST(compression_options)
{
    EXPECT_OK(cio_run(compress_opts_task, NULL, NULL));
}

/* curl --compressed decodes what the server sent (a second opinion on
 * the gzip wrapper and the chunked framing). */
static int curl_task(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_use_compression(app, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/stream/{n}", h_stream, NULL));
    struct srv s;
    srv_start(&s, app);
    char url[128], port[16];
    snprintf(port, sizeof port, "%u", (unsigned)cio_addr_port(&s.addr));
    snprintf(url, sizeof url, "http://127.0.0.1:%s/stream/200000", port);
    const char *argv[] = {"curl", "-sS", "--compressed", "-D", "/dev/stderr", url, NULL};
    cio_process *proc;
    EXPECT_OK(cio_process_new(argv,
                              &CIO_PROCESS_OPTIONS(.search_path = true,
                                                   .stdout_mode = CIO_PROCESS_PIPE,
                                                   .stderr_mode = CIO_PROCESS_PIPE),
                              &proc));
    void *out = NULL, *err = NULL;
    size_t n = 0, en = 0;
    EXPECT_OK(cio_stream_read_all(cio_process_stdout(proc), 1 << 24, &out, &n));
    EXPECT_OK(cio_stream_read_all(cio_process_stderr(proc), 1 << 20, &err, &en));
    int status;
    EXPECT_OK(cio_process_wait(proc, &status));
    EXPECT_EQ(0, status);
    cio_process_free(proc);
    char *want = make_text(200000);
    EXPECT_EQ(200000, n);
    EXPECT_TRUE(memcmp(out, want, n) == 0);
    EXPECT_TRUE(memmem(err, en, "Content-Encoding: gzip", 22) != NULL ||
                memmem(err, en, "content-encoding: gzip", 22) != NULL);
    free(want);
    free(out);
    free(err);
    srv_stop(&s);
    EXPECT_OK(cio_http_app_free(app));
    return 0;
}

TEST(compression_curl)
{
    if (system("curl --version >/dev/null 2>&1") != 0) {
        printf("skip: no curl\n");
        return;
    }
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(curl_task, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

/* ---- Request ids ---------------------------------------------------------- */

static bool is_hex32(const char *s)
{
    if (!s || strlen(s) != 32) return false;
    for (int i = 0; i < 32; i++)
        if (!strchr("0123456789abcdef", s[i])) return false;
    return true;
}

static int request_id_task(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_http_app *app, *app2;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_new(&app2));
    EXPECT_ERR(-EINVAL, cio_http_app_use_request_id(NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_use_request_id(app, ""));
    EXPECT_ERR(-EINVAL, cio_http_app_use_request_id(app, "X Trace"));
    EXPECT_ERR(-EINVAL, cio_http_app_use_request_id(app, "X-Trace:"));
    EXPECT_OK(cio_http_app_use_request_id(app, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/id", h_echo_id, NULL));
    EXPECT_OK(cio_http_app_route(app2, "GET", "/id", h_echo_id, NULL));
    char name[] = "X-Trace";
    EXPECT_OK(cio_http_app_use_request_id(app2, name));
    name[0] = 'Y'; /* copied */
    struct srv s, s2;
    srv_start(&s, app);
    srv_start(&s2, app2);
    struct resp r = request(&s, "GET", "/id", NULL);
    const char *id = resp_header(&r, "X-Request-Id");
    EXPECT_TRUE(is_hex32(id));
    EXPECT_STR_EQ(id, r.body);
    char first[64];
    snprintf(first, sizeof first, "%s", id);
    resp_free(&r);
    r = request(&s, "GET", "/id", NULL);
    EXPECT_TRUE(is_hex32(r.body));
    EXPECT_TRUE(strcmp(first, r.body) != 0);
    resp_free(&r);
    r = request(&s, "GET", "/id", "x-request-id: from-the-proxy.42\r\n");
    EXPECT_STR_EQ("from-the-proxy.42", r.body);
    EXPECT_STR_EQ("from-the-proxy.42", resp_header(&r, "X-Request-Id"));
    resp_free(&r);
    char extra[400] = "X-Request-Id: ";
    memset(extra + 14, 'a', 201);
    strcpy(extra + 215, "\r\n");
    r = request(&s, "GET", "/id", extra); /* 201 characters: too long */
    EXPECT_TRUE(is_hex32(r.body));
    resp_free(&r);
    extra[14 + 200] = '\r';
    extra[14 + 201] = '\n';
    extra[14 + 202] = '\0';
    r = request(&s, "GET", "/id", extra); /* 200: kept */
    EXPECT_EQ(200, strlen(r.body));
    resp_free(&r);
    r = request(&s, "GET", "/id", "X-Request-Id: two words\r\n");
    EXPECT_TRUE(is_hex32(r.body));
    resp_free(&r);
    r = request(&s, "GET", "/id", "X-Request-Id: caf\xc3\xa9\r\n"); /* not visible ASCII */
    EXPECT_TRUE(is_hex32(r.body));
    resp_free(&r);
    r = request(&s2, "GET", "/id", "X-Trace: t-1\r\nX-Request-Id: other\r\n");
    EXPECT_STR_EQ("t-1", r.body);
    EXPECT_STR_EQ("t-1", resp_header(&r, "X-Trace"));
    EXPECT_TRUE(resp_header(&r, "X-Request-Id") == NULL);
    resp_free(&r);
    srv_stop(&s);
    srv_stop(&s2);
    EXPECT_OK(cio_http_app_free(app));
    EXPECT_OK(cio_http_app_free(app2));
    return 0;
}

TEST(request_id)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(request_id_task, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

/* Every shipped middleware at once, in the usual order. */
static int all_task(void *arg, void **result)
{
    (void)arg, (void)result;
    int p[2];
    EXPECT_EQ(0, pipe2(p, O_CLOEXEC | O_NONBLOCK));
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_use_request_id(app, NULL));
    EXPECT_OK(cio_http_app_use_logging(app, p[1]));
    EXPECT_OK(cio_http_app_use_cors(app, NULL));
    EXPECT_OK(cio_http_app_use_compression(app, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/text/{n}", h_text, NULL));
    struct srv s;
    srv_start(&s, app);
    struct resp r = request(&s, "GET", "/text/4000",
                            "Origin: http://o.example\r\nAccept-Encoding: gzip\r\n");
    EXPECT_EQ(200, r.status);
    EXPECT_STR_EQ("gzip", resp_header(&r, "Content-Encoding"));
    EXPECT_STR_EQ("*", resp_header(&r, "Access-Control-Allow-Origin"));
    EXPECT_TRUE(is_hex32(resp_header(&r, "X-Request-Id")));
    size_t n;
    free(inflate_all(r.body, r.body_len, 31, &n));
    EXPECT_EQ(4000, n);
    char line[256];
    ssize_t ln = read(p[0], line, sizeof line - 1);
    EXPECT_TRUE(ln > 0);
    line[ln] = '\0';
    /* The bytes logged are the compressed ones that went out. */
    char want[64];
    snprintf(want, sizeof want, "GET /text/4000 200 %zu ", r.body_len);
    EXPECT_TRUE(strncmp(line, want, strlen(want)) == 0);
    resp_free(&r);
    srv_stop(&s);
    EXPECT_OK(cio_http_app_free(app));
    close(p[0]);
    close(p[1]);
    return 0;
}

TEST(all_middleware_together)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(all_task, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

int main(int argc, char **argv) { return test_main(argc, argv); }
