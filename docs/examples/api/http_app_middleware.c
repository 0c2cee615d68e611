/* The middleware cio ships, all on one application: request ids, a log
 * line per request (to stdout), CORS for one origin, and gzip/deflate
 * compression. A raw client in the same program asks over loopback and
 * prints what came back. */
#define _POSIX_C_SOURCE 200809L
#include <cio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int page(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    char body[4096];
    size_t n = 0;
    while (n + 40 < sizeof body)
        n += (size_t)snprintf(body + n, sizeof body - n, "request %s says hello\n",
                              cio_http_request_id(req));
    return cio_http_response_send(res, 200, "text/plain", body, n);
}

/* Prints the status line and the headers this example is about. */
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
    rc = cio_stream_read_all(s, 1 << 20, &data, &len);
    cio_stream_close(s);
    if (rc) return rc;
    char *d = data, *end = strstr(d, "\r\n\r\n");
    if (end) *end = '\0';
    static const char *const show[] = {"HTTP/", "Content-Encoding", "Vary",
                                       "Access-Control-Allow-Origin", "X-Request-Id",
                                       "Access-Control-Allow-Methods"};
    for (char *save, *line = strtok_r(d, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save))
        for (size_t i = 0; i < sizeof show / sizeof *show; i++)
            if (strncmp(line, show[i], strlen(show[i])) == 0) printf("  %s\n", line);
    free(data);
    return 0;
}

static int main_task(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_http_app *app;
    int rc = cio_http_app_new(&app);
    if (rc) return rc;
    static const char *const origins[] = {"https://app.example", NULL};
    cio_http_cors_options cors = CIO_HTTP_CORS_OPTIONS(.origins = origins, .max_age = 3600);
    if ((rc = cio_http_app_use_request_id(app, NULL)) ||
        (rc = cio_http_app_use_logging(app, STDOUT_FILENO)) ||
        (rc = cio_http_app_use_cors(app, &cors)) ||
        (rc = cio_http_app_use_compression(app, &CIO_HTTP_COMPRESS_OPTIONS(.level = 6))) ||
        (rc = cio_http_app_route(app, "GET", "/page", page, NULL)))
        return rc;
    cio_addr addr;
    cio_http_server *srv;
    cio_addr_ip("127.0.0.1", 0, &addr);
    if ((rc = cio_http_server_new(app, &addr, NULL, &srv))) return rc;
    cio_http_server_addr(srv, &addr);
    static const char *const reqs[] = {
        "GET /page HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
        "Origin: https://app.example\r\nConnection: close\r\n\r\n",
        "GET /page HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc-42\r\n"
        "Accept-Encoding: deflate;q=1, gzip;q=0.5\r\nConnection: close\r\n\r\n",
        "OPTIONS /page HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n"
        "Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
    };
    for (size_t i = 0; !rc && i < sizeof reqs / sizeof *reqs; i++) rc = ask(&addr, reqs[i]);
    cio_http_server_close(srv, 1);
    cio_http_app_free(app);
    return rc;
}

int main(void)
{
    return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
