/* An HTTP server with handlers that use the request accessors and the
 * response calls, a client that asks each once over loopback, and a
 * graceful shutdown from callback code (cio_http_server_close_future). */
#define _POSIX_C_SOURCE 200809L
#include <cio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Says what the request says about itself. */
static int about(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const char *name, *value, *langs[4];
    size_t nlang = cio_http_request_headers(req, "Accept-Language", langs, 4);
    cio_http_request_header_at(req, 0, &name, &value);
    cio_addr peer, client;
    cio_http_request_peer(req, &peer);
    cio_http_request_client(req, &client);
    char pbuf[CIO_ADDR_STRLEN];
    cio_addr_format(&peer, pbuf, sizeof pbuf);
    cio_http_request_set_data(req, pbuf);
    char body[1024];
    snprintf(body, sizeof body,
             "method=%s target=%s path=%s query=%s version=1.%d tls=%d ua=%s langs=%zu "
             "first=%s peer=%s length=%lld\n",
             cio_http_request_method(req), cio_http_request_target(req),
             cio_http_request_path(req), cio_http_request_query_string(req),
             cio_http_request_version(req), cio_http_request_is_tls(req),
             cio_http_request_header(req, "User-Agent"), nlang, name,
             (const char *)cio_http_request_data(req),
             (long long)cio_http_request_content_length(req));
    cio_http_response_status(res, 200);
    cio_http_response_header(res, "X-Example", "1");
    cio_http_response_set_header(res, "X-Example", "2");
    cio_http_response_header(res, "Cache-Control", "no-store");
    printf("handler sees X-Example: %s, status %d, started %d\n",
           cio_http_response_get_header(res, "X-Example"), cio_http_response_get_status(res),
           cio_http_response_is_started(res));
    return cio_http_response_send(res, 200, "text/plain; charset=utf-8", body, strlen(body));
}

static int moved(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_redirect(res, 303, "/about");
}

static int teapot(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    printf("418 is \"%s\"\n", cio_http_status_reason(418));
    return cio_http_response_error(res, 418, "no coffee here");
}

/* A streamed, chunked body with a trailer; the connection closes after. */
static int countdown(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    cio_http_response_close(res);
    int rc = cio_http_response_begin(res, -1);
    for (int i = 3; !rc && i > 0; i--) {
        char line[16];
        snprintf(line, sizeof line, "%d...\n", i);
        rc = cio_http_response_write(res, line, strlen(line));
    }
    if (!rc)
        rc = cio_http_response_trailer(res, "X-Done", "yes");
    return rc ? rc : cio_http_response_end(res);
}

static int ask(cio_http_server *srv, const char *request)
{
    cio_addr addr;
    cio_http_server_addr(srv, &addr);
    cio_stream *s;
    int rc = cio_stream_connect(&addr, NULL, NULL, &s);
    if (rc)
        return rc;
    cio_stream_write(s, request, strlen(request));
    void *data;
    size_t len;
    rc = cio_stream_read_all(s, 1 << 20, &data, &len);
    cio_stream_close(s);
    if (rc)
        return rc;
    printf("----\n%s\n", (char *)data);
    rc = strncmp(data, "HTTP/1.1 ", 9) == 0 ? 0 : -1;
    free(data);
    return rc;
}

static void closed(cio_future *f, void *arg)
{
    (void)f;
    *(int *)arg = 1;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app;
    if (cio_http_app_new(&app) || cio_http_app_route(app, "GET", "/about", about, NULL) ||
        cio_http_app_route(app, "GET", "/moved", moved, NULL) ||
        cio_http_app_route(app, "GET", "/teapot", teapot, NULL) ||
        cio_http_app_route(app, "GET", "/countdown", countdown, NULL))
        return -1;
    cio_addr addr;
    cio_addr_ip("127.0.0.1", 0, &addr);
    cio_http_server_options opts = CIO_HTTP_SERVER_OPTIONS(
        .max_header_size = 8192, .keepalive_timeout = 5, .server_header = "example");
    cio_http_server *srv;
    int rc = cio_http_server_new(app, &addr, &opts, &srv);
    if (rc)
        return rc;
    rc = ask(srv, "GET /about?x=1 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: example\r\n"
                  "Accept-Language: en\r\nAccept-Language: fr\r\nConnection: close\r\n\r\n");
    if (!rc)
        rc = ask(srv, "GET /moved HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if (!rc)
        rc = ask(srv, "GET /teapot HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if (!rc)
        rc = ask(srv, "GET /countdown HTTP/1.1\r\nHost: localhost\r\n\r\n");
    printf("connections open: %zu\n", cio_http_server_connections(srv));
    cio_future *f;
    int done = 0;
    if (cio_http_server_close_future(srv, 1, &f) == 0) {
        cio_future_add_done_callback(f, closed, &done);
        cio_await(f, NULL);
        cio_future_unref(f);
    }
    printf("closed: %d\n", done);
    cio_http_app_free(app);
    return rc;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
