/* A cookie jar: cookies a server sets are kept and sent back on later
 * requests of the client (without a jar they only follow the redirects of
 * one request); cookies can be stored and read by hand too. A cio server
 * in the same program answers over loopback. */
#define _POSIX_C_SOURCE 200809L
#include <cio.h>
#include <stdio.h>

static int login(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    cio_http_response_set_cookie(res, "session", "abc123", &CIO_HTTP_COOKIE_OPTIONS(.path = "/"));
    return cio_http_response_text(res, 200, "logged in");
}

static int whoami(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const char *cookie = cio_http_request_header(req, "Cookie");
    return cio_http_response_text(res, 200, cookie ? cookie : "(no cookie)");
}

static int get_print(cio_http_client *c, const char *base, const char *path)
{
    char url[128];
    snprintf(url, sizeof url, "%s%s", base, path);
    cio_http_reply *r;
    int rc = cio_http_client_get(c, url, &r);
    if (rc) return rc;
    const void *body;
    size_t len;
    if ((rc = cio_http_reply_body(r, 0, &body, &len)) == 0)
        printf("%s: %s\n", path, (const char *)body);
    cio_http_reply_free(r);
    return rc;
}

static int with_jar(const char *base)
{
    cio_http_jar *jar;
    int rc = cio_http_jar_new(&jar);
    if (rc) return rc;
    cio_http_client *c;
    rc = cio_http_client_new(&CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = true, .jar = jar), &c);
    if (rc) {
        cio_http_jar_free(jar);
        return rc;
    }
    if ((rc = get_print(c, base, "/login")) || (rc = get_print(c, base, "/whoami"))) goto out;
    printf("%zu cookie(s) in the jar\n", cio_http_jar_count(jar));
    char url[128], header[256];
    snprintf(url, sizeof url, "%s/", base);
    /* A cookie stored by hand, as if the server had sent it. */
    if ((rc = cio_http_jar_set(jar, url, "theme=dark; Path=/; Max-Age=3600"))) goto out;
    ssize_t n = cio_http_jar_header(jar, url, header, sizeof header);
    if (n < 0) {
        rc = (int)n;
        goto out;
    }
    printf("Cookie: %s\n", header);
    cio_http_jar_clear(jar);
    rc = get_print(c, base, "/whoami");
out:
    cio_http_client_free(c); /* before the jar it uses */
    cio_http_jar_free(jar);
    return rc;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app;
    if (cio_http_app_new(&app) || cio_http_app_route(app, "GET", "/login", login, NULL) ||
        cio_http_app_route(app, "GET", "/whoami", whoami, NULL))
        return -1;
    cio_addr addr;
    cio_addr_ip("127.0.0.1", 0, &addr);
    cio_http_server *srv;
    int rc = cio_http_server_new(app, &addr, NULL, &srv);
    if (rc == 0) {
        cio_http_server_addr(srv, &addr);
        char base[64];
        snprintf(base, sizeof base, "http://127.0.0.1:%u", cio_addr_port(&addr));
        rc = with_jar(base);
        cio_http_server_close(srv, 1);
    }
    cio_http_app_free(app);
    return rc;
}

int main(void)
{
    int rc = cio_run(main_task, NULL, NULL);
    if (rc) fprintf(stderr, "http_client_jar: %s\n", cio_strerror(rc));
    return rc == 0 ? 0 : 1;
}
