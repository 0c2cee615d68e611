/* Built against an installed cio, through pkg-config and find_package. It
 * runs the loop, then serves one HTTP request on loopback and fetches it
 * with the HTTP client (so the installed headers, libcio and the libraries
 * it depends on, zlib, cJSON, OpenSSL, all link and work). */
#include <cio.h>
#include <stdio.h>
#include <string.h>

static void hello(void *arg) { (void)arg; }

static int answer(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    return cio_http_response_text(res, 200, arg);
}

static int fetch(void *arg, void **result)
{
    (void)result;
    cio_http_app *app;
    if (cio_http_app_new(&app) != 0)
        return -1;
    if (cio_http_app_route(app, "GET", "/", answer, arg) != 0)
        return -1;
    cio_addr addr;
    cio_http_server *srv;
    if (cio_addr_ip("127.0.0.1", 0, &addr) || cio_http_server_new(app, &addr, NULL, &srv) ||
        cio_http_server_addr(srv, &addr))
        return -1;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)cio_addr_port(&addr));
    cio_http_client *c;
    cio_http_reply *r = NULL;
    const void *body = NULL;
    size_t len = 0;
    int rc = cio_http_client_new(&CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = true), &c);
    if (rc == 0) {
        rc = cio_http_client_get(c, url, &r);
        if (rc == 0)
            rc = cio_http_reply_body(r, 0, &body, &len);
        if (rc == 0)
            printf("%s\n", (const char *)body);
        cio_http_reply_free(r);
        cio_http_client_free(c);
    }
    cio_http_server_close(srv, 1);
    cio_http_app_free(app);
    return rc;
}

int main(void)
{
    /* The installed header and library are one version. */
    if (cio_version() != CIO_VERSION || strcmp(cio_version_string(), CIO_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", CIO_VERSION_STRING, cio_version_string());
        return 1;
    }
    cio_loop *loop;
    if (cio_loop_new(NULL, &loop) != 0)
        return 1;
    cio_call_soon(loop, hello, NULL);
    cio_loop_run_once(loop, CIO_RUN_NOWAIT);
    if (cio_loop_free(loop) != 0)
        return 1;
    return cio_run(fetch, "installed cio works", NULL) == 0 ? 0 : 1;
}
