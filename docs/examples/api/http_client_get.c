/* The HTTP client's everyday calls: a client, a GET, the reply's status
 * line, fields and body, a redirect followed, keep-alive reuse seen in the
 * pool's counters. A cio server in the same program answers over
 * loopback. */
#define _POSIX_C_SOURCE 200809L
#include <cio.h>
#include <stdio.h>
#include <string.h>

static int hello(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    cio_http_response_header(res, "X-Tag", "a");
    cio_http_response_header(res, "X-Tag", "b");
    return cio_http_response_text(res, 200, "Hello, World!");
}

static int moved(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_redirect(res, 301, "/");
}

static int fetch(const char *base)
{
    cio_http_client *c;
    /* no_env_proxy: this example talks to its own server, never through the
     * http_proxy of the environment. */
    int rc = cio_http_client_new(&CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = true), &c);
    if (rc) return rc;
    char url[128];
    snprintf(url, sizeof url, "%s/old", base);
    cio_http_reply *r;
    if ((rc = cio_http_client_get(c, url, &r))) {
        cio_http_client_free(c);
        return rc;
    }
    printf("HTTP/1.%d %d %s from %s after %d redirect(s)\n", cio_http_reply_version(r),
           cio_http_reply_status(r), cio_http_reply_reason(r), cio_http_reply_url(r),
           cio_http_reply_redirects(r));
    printf("Content-Type: %s, length %lld\n", cio_http_reply_header(r, "content-type"),
           (long long)cio_http_reply_content_length(r));
    const char *tags[4];
    size_t n = cio_http_reply_headers(r, "X-Tag", tags, 4);
    printf("%zu X-Tag fields, the first %s\n", n, n ? tags[0] : "-");
    const char *name, *value;
    size_t fields = 0;
    while (cio_http_reply_header_at(r, fields, &name, &value) == 0)
        fields++;
    printf("%zu fields in all\n", fields);
    const void *body;
    size_t len;
    if ((rc = cio_http_reply_body(r, 0, &body, &len)) == 0)
        printf("body: %s (%zu bytes)\n", (const char *)body, len);
    cio_http_reply_free(r);
    /* The body was read to its end: the connection went back to the pool. */
    printf("%zu connection(s), %zu idle\n", cio_http_client_connections(c),
           cio_http_client_idle(c));
    cio_http_client_free(c);
    return rc;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app;
    if (cio_http_app_new(&app) || cio_http_app_route(app, "GET", "/", hello, NULL) ||
        cio_http_app_route(app, "GET", "/old", moved, NULL))
        return -1;
    cio_addr addr;
    cio_addr_ip("127.0.0.1", 0, &addr);
    cio_http_server *srv;
    int rc = cio_http_server_new(app, &addr, NULL, &srv);
    if (rc == 0) {
        cio_http_server_addr(srv, &addr);
        char base[64];
        snprintf(base, sizeof base, "http://127.0.0.1:%u", cio_addr_port(&addr));
        rc = fetch(base);
        cio_http_server_close(srv, 1);
    }
    cio_http_app_free(app);
    return rc;
}

int main(void)
{
    int rc = cio_run(main_task, NULL, NULL);
    if (rc) fprintf(stderr, "http_client_get: %s\n", cio_strerror(rc));
    return rc == 0 ? 0 : 1;
}
