/* Request data: the query (one and every value), a cookie read and set
 * again, an urlencoded form, a JSON body answered with JSON. A server and
 * its client in one program, over loopback. */
#define _POSIX_C_SOURCE 200809L
#include <cio.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GET /greet?name=Ada&tag=a&tag=b with Cookie: visits=N */
static int greet(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const char *name = cio_http_request_query(req, "name");
    const char *tags[8];
    size_t ntags = cio_http_request_query_all(req, "tag", tags, 8);
    const char *visits = cio_http_request_cookie(req, "visits");
    int n = visits ? atoi(visits) + 1 : 1;
    char count[16];
    snprintf(count, sizeof count, "%d", n);
    int rc = cio_http_response_set_cookie(
        res, "visits", count,
        &CIO_HTTP_COOKIE_OPTIONS(.path = "/", .max_age = 86400, .has_max_age = true,
                                 .http_only = true, .same_site = CIO_HTTP_SAME_SITE_LAX));
    if (rc)
        return rc;
    char text[256];
    snprintf(text, sizeof text, "hello %s, %zu tags (first %s), visit %d", name ? name : "you",
             ntags, ntags ? tags[0] : "-", n);
    return cio_http_response_text(res, 200, text);
}

/* POST /login with an application/x-www-form-urlencoded body */
static int login(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const char *user;
    int rc = cio_http_request_form(req, "user", &user);
    if (rc == -EBADMSG)
        return cio_http_response_error(res, 400, "an urlencoded form, please");
    if (rc)
        return rc;
    char text[128];
    snprintf(text, sizeof text, "welcome %s", user ? user : "nobody");
    return cio_http_response_text(res, 200, text);
}

/* POST /sum with {"numbers": [...]}: answers {"sum": S} */
static int sum(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const cJSON *body;
    if (cio_http_request_json(req, &body))
        return cio_http_response_error(res, 400, "a JSON object, please");
    double s = 0;
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(body, "numbers"))
        s += cJSON_IsNumber(n) ? n->valuedouble : 0;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "sum", s);
    int rc = cio_http_response_json(res, 200, out);
    cJSON_Delete(out);
    return rc;
}

/* Sends one request on a new connection; the whole response in *resp. */
static int fetch(const cio_addr *addr, const char *request, char **resp)
{
    cio_stream *s;
    int rc = cio_stream_connect(addr, NULL, NULL, &s);
    if (rc)
        return rc;
    size_t len;
    if ((rc = cio_stream_write(s, request, strlen(request))) == 0)
        rc = cio_stream_read_all(s, 65536, (void **)resp, &len);
    cio_stream_close(s);
    return rc;
}

static int check(const char *resp, const char *want)
{
    const char *body = strstr(resp, "\r\n\r\n");
    int ok = body && strstr(body + 4, want) != NULL;
    printf("%s: %s\n", ok ? "ok" : "FAILED", want);
    return ok ? 0 : -1;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app;
    if (cio_http_app_new(&app) || cio_http_app_route(app, "GET", "/greet", greet, NULL) ||
        cio_http_app_route(app, "POST", "/login", login, NULL) ||
        cio_http_app_route(app, "POST", "/sum", sum, NULL))
        return -1;
    cio_addr addr;
    cio_addr_ip("127.0.0.1", 0, &addr);
    cio_http_server *srv;
    int rc = cio_http_server_new(app, &addr, NULL, &srv);
    if (rc)
        return rc;
    cio_http_server_addr(srv, &addr);

    char *resp = NULL;
    int bad = 0;
    rc = fetch(&addr,
               "GET /greet?name=Ada+L&tag=a&tag=b HTTP/1.1\r\nHost: x\r\n"
               "Cookie: visits=41\r\nConnection: close\r\n\r\n",
               &resp);
    bad |= rc || check(resp, "hello Ada L, 2 tags (first a), visit 42");
    bad |= !resp || !strstr(resp, "Set-Cookie: visits=42; Path=/; Max-Age=86400; HttpOnly; "
                                  "SameSite=Lax\r\n");
    free(resp);
    resp = NULL;
    rc = fetch(&addr,
               "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 18\r\n\r\n"
               "user=Grace%20H&x=1",
               &resp);
    bad |= rc || check(resp, "welcome Grace H");
    free(resp);
    resp = NULL;
    rc = fetch(&addr,
               "POST /sum HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               "Content-Type: application/json\r\nContent-Length: 25\r\n\r\n"
               "{\"numbers\": [1, 2, 3.5]} ",
               &resp);
    bad |= rc || check(resp, "{\"sum\":6.5}");
    free(resp);

    cio_http_server_close(srv, 1);
    cio_http_app_free(app);
    return bad ? -1 : 0;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
