/* The request's parsed views: query (multi-valued, '+' and %XX), cookies
 * (RFC 6265), urlencoded forms and JSON bodies: the parsers over buffers,
 * then the public functions end to end through a server on 127.0.0.1. */
#include "test.h"

#include <stdarg.h>

#include <cjson/cJSON.h>

#include "http/request_parse.h"
#include "request_harness.h"

/* ---- urlencoded ------------------------------------------------------------ */

static ssize_t parse_q(const char *q, char *copy, struct cio__http_kv *kv, size_t max)
{
    size_t n = strlen(q);
    memcpy(copy, q, n + 1);
    EXPECT_TRUE(cio__http_urlencoded_max(q, n) <= max);
    return cio__http_urlencoded_parse(copy, n, kv, max);
}

TEST(urlencoded_pairs)
{
    char copy[256];
    struct cio__http_kv kv[16];
    ssize_t n = parse_q("a=1&b=x+y&a=2&&flag&c=%41%2b%3D&=v&e=&%C3%A9=caf%c3%a9", copy, kv, 16);
    EXPECT_EQ(8, n);
    const char *want[][2] = {{"a", "1"},     {"b", "x y"}, {"a", "2"}, {"flag", ""},
                             {"c", "A+="},   {"", "v"},    {"e", ""},  {"\xc3\xa9", "caf\xc3\xa9"}};
    for (int i = 0; i < 8; i++) {
        EXPECT_STR_EQ(want[i][0], kv[i].name);
        EXPECT_STR_EQ(want[i][1], kv[i].value);
    }
    EXPECT_EQ(0, parse_q("", copy, kv, 16));
    EXPECT_EQ(0, parse_q("&&&", copy, kv, 16));
    EXPECT_EQ(1, parse_q("a==b", copy, kv, 16));
    EXPECT_STR_EQ("=b", kv[0].value);
    EXPECT_EQ(4, cio__http_urlencoded_max("a&b&&", 5));
}

TEST(urlencoded_malformed)
{
    char copy[64];
    struct cio__http_kv kv[8];
    const char *bad[] = {"a=%", "a=%4", "a=%zz", "a=1&b=%G0", "%=1", "a=%00", "a%00b=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse_q(bad[i], copy, kv, 8) != -EINVAL)
            FAIL("%s accepted", bad[i]);
}

/* ---- cookies ---------------------------------------------------------------- */

TEST(cookie_pairs)
{
    char s[256];
    struct cio__http_kv kv[16];
    strcpy(s, "SID=31d4d96e407aad42;  lang=en-US ;q=\"quoted value\";novalue; =x; e=;\tt = 1 ;"
              "dup=first; dup=second; b64=YWJj==");
    size_t max = cio__http_cookie_max(s, strlen(s));
    EXPECT_EQ(10, max);
    size_t n = cio__http_cookie_parse(s, strlen(s), kv, max);
    const char *want[][2] = {{"SID", "31d4d96e407aad42"}, {"lang", "en-US"},
                             {"q", "quoted value"},       {"e", ""},
                             {"t", "1"},                  {"dup", "first"},
                             {"dup", "second"},           {"b64", "YWJj=="}};
    EXPECT_EQ(8, n);
    for (size_t i = 0; i < n; i++) {
        EXPECT_STR_EQ(want[i][0], kv[i].name);
        EXPECT_STR_EQ(want[i][1], kv[i].value);
    }
    strcpy(s, "a=\"\";b=\"");
    n = cio__http_cookie_parse(s, strlen(s), kv, 16);
    EXPECT_EQ(2, n);
    EXPECT_STR_EQ("", kv[0].value);
    EXPECT_STR_EQ("\"", kv[1].value); /* a lone quote is kept */
    strcpy(s, "a=1;b=2;c=3");
    EXPECT_EQ(2, cio__http_cookie_parse(s, strlen(s), kv, 2)); /* bounded by max */
}

/* ---- media types ----------------------------------------------------------- */

TEST(media_types)
{
    EXPECT_TRUE(cio__http_is_form_type("application/x-www-form-urlencoded"));
    EXPECT_TRUE(cio__http_is_form_type("Application/X-WWW-Form-URLEncoded; charset=UTF-8"));
    EXPECT_TRUE(cio__http_is_form_type("application/x-www-form-urlencoded ;charset=\"utf-8\""));
    EXPECT_FALSE(cio__http_is_form_type(NULL));
    EXPECT_FALSE(cio__http_is_form_type("multipart/form-data; boundary=x"));
    EXPECT_FALSE(cio__http_is_form_type("application/x-www-form-urlencoded; charset"));
    EXPECT_FALSE(cio__http_is_form_type("application/x-www-form-urlencodedx"));
    EXPECT_TRUE(cio__http_is_json_type("application/json"));
    EXPECT_TRUE(cio__http_is_json_type("application/JSON; charset=utf-8"));
    EXPECT_TRUE(cio__http_is_json_type("application/problem+json"));
    EXPECT_TRUE(cio__http_is_json_type("application/vnd.api+json"));
    EXPECT_FALSE(cio__http_is_json_type("application/+json"));
    EXPECT_FALSE(cio__http_is_json_type("text/plain"));
    EXPECT_FALSE(cio__http_is_json_type("application/jsonx"));
    EXPECT_FALSE(cio__http_is_json_type("json"));
    EXPECT_FALSE(cio__http_is_json_type(""));
    struct cio__http_media m;
    EXPECT_OK(cio__http_media_parse("text/html; a=b; c=\"d\\\"e\"", &m));
    char out[8];
    size_t n;
    EXPECT_EQ(1, cio__http_media_param(&m, "C", out, sizeof out, &n));
    EXPECT_STR_EQ("d\"e", out);
    EXPECT_EQ(0, cio__http_media_param(&m, "x", out, sizeof out, &n));
    EXPECT_OK(cio__http_media_parse("text/html; a=12345678", &m));
    EXPECT_ERR(-EBADMSG, cio__http_media_param(&m, "a", out, sizeof out, &n)); /* too long */
    EXPECT_ERR(-EBADMSG, cio__http_media_parse("text", &m));
    EXPECT_ERR(-EBADMSG, cio__http_media_parse("text/", &m));
    EXPECT_ERR(-EBADMSG, cio__http_media_parse("/html", &m));
    EXPECT_ERR(-EBADMSG, cio__http_media_parse("text/html; a=\"open", &m));
}

/* The semantics cio_http_request_json relies on: with the terminating NUL
 * inside the length, cJSON refuses trailing garbage and accepts trailing
 * whitespace; the nesting limit is cJSON's. */
TEST(cjson_semantics)
{
    const char *ok[] = {"{\"a\":1}", " [1,2] \r\n", "\"s\"", "null"};
    for (size_t i = 0; i < 4; i++) {
        cJSON *t = cJSON_ParseWithLengthOpts(ok[i], strlen(ok[i]) + 1, NULL, 1);
        EXPECT_TRUE(t != NULL);
        cJSON_Delete(t);
    }
    const char *bad[] = {"{\"a\":1} x", "[1]]", "", "{", "1 2"};
    for (size_t i = 0; i < 5; i++)
        EXPECT_TRUE(cJSON_ParseWithLengthOpts(bad[i], strlen(bad[i]) + 1, NULL, 1) == NULL);
}


/* ---- End to end ------------------------------------------------------------- */

/* Appends printf output to a response text being built. */
struct text {
    char buf[8192];
    size_t len;
};

__attribute__((format(printf, 2, 3))) static void say(struct text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n < sizeof t->buf - t->len ? (size_t)n : sizeof t->buf - t->len - 1;
}

static const char *show(const char *s) { return s ? s : "(null)"; }

static int h_query(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    struct text t = {.len = 0};
    const char *vals[4];
    size_t n = cio_http_request_query_all(req, "a", vals, 4);
    say(&t, "a=%s b=%s flag=%s none=%s all=%zu", show(cio_http_request_query(req, "a")),
        show(cio_http_request_query(req, "b")), show(cio_http_request_query(req, "flag")),
        show(cio_http_request_query(req, "none")), n);
    for (size_t i = 0; i < n && i < 4; i++)
        say(&t, " [%s]", vals[i]);
    say(&t, " count=%zu", cio_http_request_query_all(req, "a", NULL, 0));
    /* argument checks, and the same answer twice (parsed once) */
    EXPECT_TRUE(cio_http_request_query(NULL, "a") == NULL);
    EXPECT_TRUE(cio_http_request_query(req, NULL) == NULL);
    EXPECT_EQ(0, cio_http_request_query_all(NULL, "a", vals, 4));
    EXPECT_EQ(0, cio_http_request_query_all(req, NULL, vals, 4));
    EXPECT_EQ(0, cio_http_request_query_all(req, "a", NULL, 4));
    EXPECT_PTR_EQ(cio_http_request_query(req, "a"), cio_http_request_query(req, "a"));
    return cio_http_response_text(res, 200, t.buf);
}

static int h_cookie(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    struct text t = {.len = 0};
    say(&t, "a=%s b=%s c=%s d=%s", show(cio_http_request_cookie(req, "a")),
        show(cio_http_request_cookie(req, "b")), show(cio_http_request_cookie(req, "c")),
        show(cio_http_request_cookie(req, "d")));
    EXPECT_TRUE(cio_http_request_cookie(NULL, "a") == NULL);
    EXPECT_TRUE(cio_http_request_cookie(req, NULL) == NULL);
    return cio_http_response_text(res, 200, t.buf);
}

static int h_form(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    struct text t = {.len = 0};
    const char *v = "unset", *w = "unset";
    int rc = cio_http_request_form(req, "name", &v);
    int rc2 = cio_http_request_form(req, "other", &w);
    say(&t, "rc=%d name=%s rc2=%d other=%s", rc, show(v), rc2, show(w));
    EXPECT_ERR(-EINVAL, cio_http_request_form(NULL, "a", &v));
    EXPECT_TRUE(v == NULL);
    EXPECT_ERR(-EINVAL, cio_http_request_form(req, NULL, &v));
    EXPECT_ERR(-EINVAL, cio_http_request_form(req, "a", NULL));
    return cio_http_response_text(res, 200, t.buf);
}

static int h_json(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const cJSON *tree = NULL, *again = NULL;
    int rc = cio_http_request_json(req, &tree);
    if (rc < 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "json %s", cio_err_name(rc));
        return cio_http_response_text(res, 400, msg);
    }
    EXPECT_OK(cio_http_request_json(req, &again));
    EXPECT_PTR_EQ(tree, again);
    EXPECT_ERR(-EINVAL, cio_http_request_json(NULL, &again));
    EXPECT_TRUE(again == NULL);
    EXPECT_ERR(-EINVAL, cio_http_request_json(req, NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_json(NULL, 200, tree));
    EXPECT_ERR(-EINVAL, cio_http_response_json(res, 200, NULL));
    cJSON *out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "echo", cJSON_Duplicate(tree, 1));
    cJSON_AddStringToObject(out, "type", cio_http_request_header(req, "Content-Type"));
    rc = cio_http_response_json(res, 201, out);
    EXPECT_ERR(-EALREADY, cio_http_response_json(res, 200, out));
    cJSON_Delete(out);
    return rc;
}

static void app_request(struct harness *h)
{
    EXPECT_OK(cio_http_app_new(&h->app));
    EXPECT_OK(cio_http_app_route(h->app, "GET", "/q", h_query, NULL));
    EXPECT_OK(cio_http_app_route(h->app, "GET", "/c", h_cookie, NULL));
    EXPECT_OK(cio_http_app_route(h->app, "POST", "/f", h_form, NULL));
    EXPECT_OK(cio_http_app_route(h->app, "POST", "/j", h_json, NULL));
}

TEST(e2e_query)
{
    struct harness h = {0};
    app_request(&h);
    harness_start(&h);
    char resp[16384];
    int st;
    const char *b = http_get(&h, "/q?a=1&b=x+y%21&a=%C3%A9&&flag&a=3", NULL, resp, sizeof resp, &st);
    EXPECT_EQ(200, st);
    EXPECT_STR_EQ("a=1 b=x y! flag= none=(null) all=3 [1] [\xc3\xa9] [3] count=3", b);
    b = http_get(&h, "/q", NULL, resp, sizeof resp, &st);
    EXPECT_STR_EQ("a=(null) b=(null) flag=(null) none=(null) all=0 count=0", b);
    /* one bad escape: the whole query is malformed */
    b = http_get(&h, "/q?a=1&b=%zz", NULL, resp, sizeof resp, &st);
    EXPECT_STR_EQ("a=(null) b=(null) flag=(null) none=(null) all=0 count=0", b);
    b = http_get(&h, "/q?a=1&b=%00", NULL, resp, sizeof resp, &st);
    EXPECT_STR_EQ("a=(null) b=(null) flag=(null) none=(null) all=0 count=0", b);
    harness_stop(&h);
}

TEST(e2e_cookies)
{
    struct harness h = {0};
    app_request(&h);
    harness_start(&h);
    char resp[16384];
    int st;
    const char *b = http_get(&h, "/c", "Cookie: a=1; b=\"two words\"\r\nCookie: c=3;a=late\r\n",
                             resp, sizeof resp, &st);
    EXPECT_EQ(200, st);
    EXPECT_STR_EQ("a=1 b=two words c=3 d=(null)", b);
    b = http_get(&h, "/c", NULL, resp, sizeof resp, &st);
    EXPECT_STR_EQ("a=(null) b=(null) c=(null) d=(null)", b);
    /* many Cookie fields */
    char many[2048];
    size_t n = 0;
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "Cookie: x%d=%d\r\n", i, i);
    n += (size_t)snprintf(many + n, sizeof many - n, "Cookie: d=last\r\n");
    b = http_get(&h, "/c", many, resp, sizeof resp, &st);
    EXPECT_STR_EQ("a=(null) b=(null) c=(null) d=last", b);
    harness_stop(&h);
}

TEST(e2e_form)
{
    struct harness h = {0};
    app_request(&h);
    harness_start(&h);
    char resp[16384];
    int st;
    const char *form = "application/x-www-form-urlencoded";
    const char *b = http_post(&h, "/f", form, "name=J%C3%B6rg+M&x=1&name=second", 32, resp,
                              sizeof resp, &st);
    EXPECT_EQ(200, st);
    EXPECT_STR_EQ("rc=0 name=J\xc3\xb6rg M rc2=0 other=(null)", b);
    b = http_post(&h, "/f", "application/x-www-form-urlencoded; charset=UTF-8", "other=&name",
                  11, resp, sizeof resp, &st);
    EXPECT_STR_EQ("rc=0 name= rc2=0 other=", b);
    b = http_post(&h, "/f", form, "", 0, resp, sizeof resp, &st);
    EXPECT_STR_EQ("rc=0 name=(null) rc2=0 other=(null)", b);
    b = http_post(&h, "/f", form, "name=%G1", 8, resp, sizeof resp, &st);
    EXPECT_STR_EQ("rc=-74 name=(null) rc2=-74 other=(null)", b); /* -EBADMSG, kept */
    b = http_post(&h, "/f", "application/json", "{}", 2, resp, sizeof resp, &st);
    EXPECT_STR_EQ("rc=-74 name=(null) rc2=-74 other=(null)", b);
    b = http_post(&h, "/f", NULL, "name=x", 6, resp, sizeof resp, &st);
    EXPECT_STR_EQ("rc=-74 name=(null) rc2=-74 other=(null)", b);
    harness_stop(&h);
}

TEST(e2e_json)
{
    struct harness h = {0};
    app_request(&h);
    harness_start(&h);
    char resp[16384];
    int st;
    const char *doc = "{\"k\": [1, 2.5, \"s\"], \"n\": null}\n";
    const char *b = http_post(&h, "/j", "application/json", doc, strlen(doc), resp, sizeof resp,
                              &st);
    EXPECT_EQ(201, st);
    EXPECT_TRUE(strstr(resp, "Content-Type: application/json\r\n") ||
                strstr(resp, "content-type: application/json\r\n"));
    EXPECT_STR_EQ("{\"echo\":{\"k\":[1,2.5,\"s\"],\"n\":null},\"type\":\"application/json\"}", b);
    b = http_post(&h, "/j", "application/problem+json; charset=utf-8", "[true]", 6, resp,
                  sizeof resp, &st);
    EXPECT_EQ(201, st);
    EXPECT_STR_EQ("{\"echo\":[true],\"type\":\"application/problem+json; charset=utf-8\"}", b);
    struct {
        const char *type, *body;
    } bad[] = {
        {"application/json", "{\"a\":1} trailing"},
        {"application/json", "{\"a\":1}{}"},
        {"application/json", ""},
        {"application/json", "{\"a\":"},
        {"text/plain", "{}"},
        {NULL, "{}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = http_post(&h, "/j", bad[i].type, bad[i].body, strlen(bad[i].body), resp, sizeof resp,
                      &st);
        EXPECT_EQ(400, st);
        EXPECT_STR_EQ("json EBADMSG", b);
    }
    /* a NUL inside the body ends nothing: refused */
    b = http_post(&h, "/j", "application/json", "{}\0{}", 5, resp, sizeof resp, &st);
    EXPECT_STR_EQ("json EBADMSG", b);
    /* nesting: cJSON's limit (1000) */
    static char deep[4200];
    for (int depth = 100; depth <= 2000; depth += 1900) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        b = http_post(&h, "/j", "application/json", deep, 2 * (size_t)depth, resp, sizeof resp,
                      &st);
        EXPECT_EQ(depth == 100 ? 201 : 400, st);
    }
    harness_stop(&h);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
