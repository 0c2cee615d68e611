/* Request bodies: a handler that reads an upload in pieces
 * (cio_http_request_read) and one that takes it whole
 * (cio_http_request_body), asked over loopback. */
#define _POSIX_C_SOURCE 200809L
#include <cio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int count(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    char buf[4096];
    long long total = 0;
    ssize_t n;
    while ((n = cio_http_request_read(req, buf, sizeof buf)) > 0)
        total += n;
    if (n < 0)
        return (int)n; /* the server answers 413, 408 or 400 as fits */
    char out[64];
    snprintf(out, sizeof out, "%lld bytes\n", total);
    return cio_http_response_text(res, 200, out);
}

static int echo(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const void *data;
    size_t len;
    int rc = cio_http_request_body(req, 1024, &data, &len);
    if (rc)
        return rc;
    return cio_http_response_send(res, 200, "text/plain", data, len);
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app;
    if (cio_http_app_new(&app) || cio_http_app_route(app, "POST", "/count", count, NULL) ||
        cio_http_app_route(app, "POST", "/echo", echo, NULL))
        return -1;
    cio_addr addr;
    cio_addr_ip("127.0.0.1", 0, &addr);
    cio_http_server *srv;
    int rc = cio_http_server_new(app, &addr, NULL, &srv);
    if (rc)
        return rc;
    cio_http_server_addr(srv, &addr);
    cio_stream *s;
    if ((rc = cio_stream_connect(&addr, NULL, NULL, &s)))
        return rc;
    const char req[] = "POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                       "Connection: close\r\n\r\nping";
    cio_stream_write(s, req, sizeof req - 1);
    void *data;
    size_t len;
    rc = cio_stream_read_all(s, 65536, &data, &len);
    cio_stream_close(s);
    if (!rc) {
        printf("%s\n", (char *)data);
        if (!strstr(data, "11 bytes") || !strstr(data, "\r\n\r\nping"))
            rc = -1;
        free(data);
    }
    cio_http_server_close(srv, 1);
    cio_http_app_free(app);
    return rc;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
