/* The request's parsed views: query (multi-valued, '+' and %XX), cookies
 * (RFC 6265), urlencoded forms and JSON bodies: the parsers over buffers,
 * then the public functions end to end through a server on 127.0.0.1. */
#include "test.h"

#include <cjson/cJSON.h>

#include "http/request_parse.h"

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

int main(int argc, char **argv) { return test_main(argc, argv); }
