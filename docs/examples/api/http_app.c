/* An application with routes, a parameter, a wildcard, a mounted
 * sub-application, a middleware of its own and a health endpoint, served
 * on 127.0.0.1 and asked over loopback by a raw client in the same
 * program. Prints each answer's status line and body. */
#define _POSIX_C_SOURCE 200809L
#include <cio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int user(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    char body[256];
    snprintf(body, sizeof body, "user %s\n", cio_http_request_param(req, "id"));
    return cio_http_response_text(res, 200, body);
}

static int file(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    char body[256];
    snprintf(body, sizeof body, "file %s\n", cio_http_request_param(req, "path"));
    return cio_http_response_text(res, 200, body);
}

static int version(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    return cio_http_response_text(res, 200, arg);
}

/* A middleware: refuses requests without an API key, lets the others
 * through and marks their responses. */
static int need_key(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    if (!cio_http_request_header(req, "X-Key"))
        return cio_http_response_error(res, 401, "an X-Key header is needed");
    int rc = cio_http_response_header(res, "X-Checked", "yes");
    return rc ? rc : cio_http_next(req, res);
}

static int ask(const cio_addr *addr, const char *req)
{
    cio_stream *s;
    int rc = cio_stream_connect(addr, NULL, NULL, &s);
    if (rc) return rc;
    if ((rc = cio_stream_write(s, req, strlen(req)))) {
        cio_stream_close(s);
        return rc;
    }
    void *data;
    size_t len;
    rc = cio_stream_read_all(s, 65536, &data, &len);
    cio_stream_close(s);
    if (rc) return rc;
    const char *d = data, *eol = memchr(d, '\r', len), *body = strstr(d, "\r\n\r\n");
    printf("%.*s | %s", (int)(eol - d), d, body ? body + 4 : "");
    if (body && body[4] && body[strlen(body) - 1] != '\n') printf("\n");
    free(data);
    return 0;
}

static int main_task(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_http_app *app, *api;
    int rc;
    if ((rc = cio_http_app_new(&app)) || (rc = cio_http_app_new(&api))) return rc;
    if ((rc = cio_http_app_route(app, "GET", "/users/{id}", user, NULL)) ||
        (rc = cio_http_app_route(app, "GET", "/files/{path*}", file, NULL)) ||
        (rc = cio_http_app_health(app, "/health")) ||
        (rc = cio_http_app_route(api, "GET", "/version", version, "1.0\n")) ||
        (rc = cio_http_app_use(api, need_key, NULL)) ||
        (rc = cio_http_app_mount(app, "/api", api)))
        return rc;
    cio_addr addr;
    cio_http_server *srv;
    cio_addr_ip("127.0.0.1", 0, &addr);
    if ((rc = cio_http_server_new(app, &addr, NULL, &srv))) return rc;
    cio_http_server_addr(srv, &addr);
    static const char *const reqs[] = {
        "GET /users/ada%20l HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /files/docs/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "DELETE /users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /api/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /api/version HTTP/1.1\r\nHost: x\r\nX-Key: k\r\nConnection: close\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    };
    for (size_t i = 0; !rc && i < sizeof reqs / sizeof *reqs; i++) rc = ask(&addr, reqs[i]);
    cio_http_server_close(srv, 1);
    cio_http_app_free(app); /* and api with it */
    return rc;
}

int main(void)
{
    return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
