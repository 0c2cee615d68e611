/* A reviewer's cases for the application layer (app.c, middleware.c,
 * request.c, request_parse.c, cookie.c, json.c): each one a defect found
 * in review (failing before its fix) or a corner the review checked. */
#include <zlib.h>

#include <cjson/cJSON.h>

#include "http/app.h"
#include "http/app_util.h"
#include "http/request_parse.h"

static int h_a(cio_http_request *q, cio_http_response *s, void *a)
{
    (void)a;
    (void)q;
    return cio_http_response_text(s, 200, "a");
}
static int mw_nop(cio_http_request *q, cio_http_response *s, void *a)
{
    (void)a;
    return cio_http_next(q, s);
}

/* A mounted application may be served alone (dispatch reads its chain,
 * which holds its parents' middleware): changing or freeing a parent
 * rebuilds or frees that chain under the serving loops. Such changes must
 * be refused while any application below is served. */
TEST(review_busy_child_served_alone)
{
    cio_http_app *root, *mid, *leaf, *top;
    EXPECT_OK(cio_http_app_new(&root));
    EXPECT_OK(cio_http_app_new(&mid));
    EXPECT_OK(cio_http_app_new(&leaf));
    EXPECT_OK(cio_http_app_new(&top));
    EXPECT_OK(cio_http_app_mount(mid, "/l", leaf));
    EXPECT_OK(cio_http_app_mount(root, "/m", mid));
    cio__http_app_hold(leaf); /* leaf served on its own */
    EXPECT_ERR(-EBUSY, cio_http_app_use(root, mw_nop, NULL));
    EXPECT_ERR(-EBUSY, cio_http_app_use(mid, mw_nop, NULL));
    EXPECT_ERR(-EBUSY, cio_http_app_use_cors(mid, NULL));
    EXPECT_ERR(-EBUSY, cio_http_app_free(root));
    EXPECT_ERR(-EBUSY, cio_http_app_mount(top, "/r", root));
    /* Routes of a parent do not touch the served child: allowed. */
    EXPECT_OK(cio_http_app_route(root, "GET", "/x", h_a, NULL));
    cio__http_app_release(leaf);
    EXPECT_OK(cio_http_app_use(mid, mw_nop, NULL));
    EXPECT_OK(cio_http_app_mount(top, "/r", root));
    EXPECT_OK(cio_http_app_free(top));
}

/* ---- Compression: zlib's state when a streamed response is cut ------------ */

static int h_stream_fail(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req, (void)arg;
    static char piece[8192];
    for (size_t i = 0; i < sizeof piece; i++) piece[i] = (char)('a' + (i * 7919u) % 26);
    EXPECT_OK(cio_http_response_header(res, "Content-Type", "text/plain"));
    int rc = cio_http_response_begin(res, -1);
    for (int i = 0; !rc && i < 8; i++) rc = cio_http_response_write(res, piece, sizeof piece);
    return rc ? rc : -EIO; /* fails mid-body */
}

static char reports[2048];
static void capture_report(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop, (void)arg;
    strncat(reports, msg, sizeof reports - strlen(reports) - 2);
    strcat(reports, "\n");
}

static int abort_task(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_loop_set_report_handler(cio_current_loop(), capture_report, NULL);
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_use_compression(app, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/s", h_stream_fail, NULL));
    struct srv s;
    srv_start(&s, app);
    for (int i = 0; i < 3; i++) {
        size_t n;
        char *out = exchange(&s,
                             "GET /s HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
                             "Connection: close\r\n\r\n",
                             &n);
        EXPECT_TRUE(strncmp(out, "HTTP/1.1 200", 12) == 0);
        EXPECT_TRUE(strstr(out, "Content-Encoding: gzip") != NULL);
        free(out);
    }
    srv_stop(&s);
    EXPECT_OK(cio_http_app_free(app));
    return 0;
}

/* Run under ASan: a deflate stream not ended would leak zlib's state. */
TEST(review_compress_stream_aborted_frees_zlib)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(abort_task, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

/* ---- JSON bodies: nesting a client controls --------------------------------- */

static int h_json(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const struct cJSON *j;
    int rc = cio_http_request_json(req, &j);
    if (rc == -EBADMSG) return cio_http_response_error(res, 400, "bad json");
    if (rc) return rc;
    return cio_http_response_text(res, 200, "parsed");
}

static int json_depth_task(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, "POST", "/j", h_json, NULL));
    struct srv s;
    srv_start(&s, app);
    static const int depths[] = {10, 999, 1001, 50000};
    for (size_t k = 0; k < sizeof depths / sizeof depths[0]; k++) {
        int d = depths[k];
        size_t blen = 2 * (size_t)d;
        char *raw = malloc(blen + 256);
        int o = sprintf(raw, "POST /j HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n", blen);
        memset(raw + o, '[', (size_t)d);
        memset(raw + o + d, ']', (size_t)d);
        raw[o + 2 * d] = '\0';
        size_t n;
        char *out = exchange(&s, raw, &n);
        /* Deep nesting is refused with a 400 (or parsed), never a crash. */
        if (d <= 999)
            EXPECT_TRUE(strncmp(out, "HTTP/1.1 200", 12) == 0);
        else
            EXPECT_TRUE(strncmp(out, "HTTP/1.1 400", 12) == 0 ||
                        strncmp(out, "HTTP/1.1 413", 12) == 0);
        free(out);
        free(raw);
    }
    srv_stop(&s);
    EXPECT_OK(cio_http_app_free(app));
    return 0;
}

TEST(review_json_deep_nesting)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(json_depth_task, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

/* ---- Multipart: the disposition type (RFC 7578 4.2) ------------------------ */

struct mem_feed {
    const char *d;
    size_t n, off;
};
static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
    struct mem_feed *f = ctx;
    size_t k = f->n - f->off < len ? f->n - f->off : len;
    memcpy(buf, f->d + f->off, k);
    f->off += k;
    return (ssize_t)k;
}

static int mp_first(const char *body, const char **name)
{
    struct mem_feed f = {body, strlen(body), 0};
    struct cio_http_part mp;
    void *mem = aligned_alloc(16, (cio__http_mp_size(1024, 8) + 15) & ~(size_t)15);
    EXPECT_TRUE(mem != NULL);
    cio__http_mp_init(&mp, mem, "b", 1, 1024, 8, mem_read, &f);
    int rc = cio__http_mp_next(&mp);
    static char keep[64];
    *name = NULL;
    if (rc == 1 && mp.name) {
        snprintf(keep, sizeof keep, "%s", mp.name);
        *name = keep;
    }
    free(mem);
    return rc;
}

/* "Each part MUST contain a Content-Disposition header field where the
 * disposition type is form-data": a part of another type is read (as
 * test_multipart's mp_disposition_params wants of "attachment") but names
 * no form field and no file, whatever its parameters say. */
TEST(review_mp_disposition_type_form_data)
{
    const char *name;
    EXPECT_EQ(1, mp_first("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--b--",
                          &name));
    EXPECT_STR_EQ("a", name);
    EXPECT_EQ(1, mp_first("--b\r\nContent-Disposition: Form-Data; name=a\r\n\r\nv\r\n--b--",
                          &name));
    EXPECT_STR_EQ("a", name);
    EXPECT_EQ(1, mp_first("--b\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--b--",
                          &name));
    EXPECT_TRUE(name == NULL);
    EXPECT_EQ(1, mp_first("--b\r\nContent-Disposition: inline; name=a; filename=f\r\n\r\nv\r\n"
                          "--b--",
                          &name));
    EXPECT_TRUE(name == NULL);
}

/* ---- Cookie header corner cases (RFC 6265 5.2 / 5.4, read leniently) ------- */

static size_t cookies(const char *in, struct cio__http_kv *kv, size_t max, char *copy)
{
    size_t n = strlen(in);
    memcpy(copy, in, n + 1);
    size_t m = cio__http_cookie_max(copy, n);
    EXPECT_TRUE(m <= max);
    return cio__http_cookie_parse(copy, n, kv, m);
}

TEST(review_cookie_corners)
{
    struct cio__http_kv kv[16];
    char c[256];
    EXPECT_EQ(0, cookies("", kv, 16, c));
    EXPECT_EQ(0, cookies(";;; ;", kv, 16, c));
    EXPECT_EQ(2, cookies("a=1; a=2", kv, 16, c)); /* both kept, in order: the first wins */
    EXPECT_STR_EQ("1", kv[0].value);
    EXPECT_EQ(1, cookies(" \ta = \"x y\" ", kv, 16, c));
    EXPECT_STR_EQ("a", kv[0].name);
    EXPECT_STR_EQ("x y", kv[0].value);
    EXPECT_EQ(1, cookies("=v; b; c=", kv, 16, c)); /* empty name and no '=' skipped */
    EXPECT_STR_EQ("c", kv[0].name);
    EXPECT_STR_EQ("", kv[0].value);
    EXPECT_EQ(1, cookies("a=\"", kv, 16, c)); /* one quote alone is kept */
    EXPECT_STR_EQ("\"", kv[0].value);
    EXPECT_EQ(1, cookies("a=\"\"", kv, 16, c));
    EXPECT_STR_EQ("", kv[0].value);
    EXPECT_EQ(1, cookies("a=b=c", kv, 16, c));
    EXPECT_STR_EQ("b=c", kv[0].value);
}

/* Set-Cookie never carries what would split or extend the field. */
TEST(review_set_cookie_injection)
{
    char b[256];
    cio_http_cookie_options o = CIO_HTTP_COOKIE_OPTIONS_INIT;
    EXPECT_TRUE(cio__http_set_cookie_format(b, sizeof b, "a", "x\r\nSet-Cookie: y=1", &o) < 0);
    EXPECT_TRUE(cio__http_set_cookie_format(b, sizeof b, "a", "x; Domain=evil", &o) < 0);
    EXPECT_TRUE(cio__http_set_cookie_format(b, sizeof b, "a\r\n", "x", &o) < 0);
    o.path = "/p; Domain=evil";
    EXPECT_TRUE(cio__http_set_cookie_format(b, sizeof b, "a", "x", &o) < 0);
    o.path = "/p\r\nX: y";
    EXPECT_TRUE(cio__http_set_cookie_format(b, sizeof b, "a", "x", &o) < 0);
    o.path = NULL;
    o.domain = "a.example\r\n";
    EXPECT_TRUE(cio__http_set_cookie_format(b, sizeof b, "a", "x", &o) < 0);
    o.domain = ".a.example";
    EXPECT_TRUE(cio__http_set_cookie_format(b, sizeof b, "a", "\"x\"", &o) > 0);
    EXPECT_STR_EQ("a=\"x\"; Domain=.a.example", b);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
