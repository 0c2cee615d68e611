/* Static files: a directory served under /static with cio_http_app_static,
 * one file sent by a handler with cio_http_response_file, and the MIME
 * table (cio_http_mime_type). A client asks over loopback for a file, a
 * range of it, the same file again with its ETag (304), and the handler's
 * file. */
#define _POSIX_C_SOURCE 200809L
#include <cio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64], file[96], page[96];

/* GET /about: one file, with ETag, Last-Modified and Range handled. */
static int about(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    int rc = cio_http_response_file(req, res, page);
    if (rc == -ENOENT || rc == -EACCES || rc == -EISDIR) /* nothing was sent */
        return cio_http_response_error(res, 404, NULL);
    return rc;
}

/* Sends one request on a new connection and reads the whole response. */
static int fetch(const cio_addr *addr, const char *request, char *out, size_t cap)
{
    cio_stream *s;
    int rc = cio_stream_connect(addr, NULL, NULL, &s);
    if (rc) return rc;
    cio_stream_write(s, request, strlen(request));
    void *data;
    size_t len;
    rc = cio_stream_read_all(s, 65536, &data, &len);
    cio_stream_close(s);
    if (rc) return rc;
    snprintf(out, cap, "%.*s", (int)len, (char *)data);
    free(data);
    return 0;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app;
    int rc = cio_http_app_new(&app);
    if (rc) return rc;
    /* Files under dir, at /static/...; cached for an hour by browsers. */
    rc = cio_http_app_static(app, "/static", dir, &CIO_HTTP_STATIC_OPTIONS(.max_age = 3600));
    if (rc == 0) rc = cio_http_app_route(app, "GET", "/about", about, NULL);
    cio_addr addr;
    cio_http_server *srv = NULL;
    if (rc == 0) {
        cio_addr_ip("127.0.0.1", 0, &addr);
        rc = cio_http_server_new(app, &addr, NULL, &srv);
    }
    if (rc) {
        fprintf(stderr, "setup: %s\n", cio_strerror(rc));
        cio_http_app_free(app);
        return rc;
    }
    cio_http_server_addr(srv, &addr);

    char resp[4096], req[512], etag[128] = "";
    int ok = 1;
    rc = fetch(&addr, "GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
               resp, sizeof resp);
    ok &= rc == 0 && strncmp(resp, "HTTP/1.1 200 ", 13) == 0 &&
          strstr(resp, "Content-Type: text/plain; charset=utf-8\r\n") &&
          strstr(resp, "Cache-Control: max-age=3600\r\n") &&
          strstr(resp, "\r\n\r\nhello, static\n");
    const char *e = strstr(resp, "ETag: ");
    if (e) snprintf(etag, sizeof etag, "%.*s", (int)strcspn(e + 6, "\r"), e + 6);
    printf("GET /static/hello.txt: %.15s, ETag %s\n", resp, etag);

    rc = fetch(&addr,
               "GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=7-12\r\n"
               "Connection: close\r\n\r\n",
               resp, sizeof resp);
    ok &= rc == 0 && strncmp(resp, "HTTP/1.1 206 ", 13) == 0 &&
          strstr(resp, "Content-Range: bytes 7-12/14\r\n") && strstr(resp, "\r\n\r\nstatic");
    printf("Range: bytes=7-12: %.24s\n", resp);

    snprintf(req, sizeof req,
             "GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n"
             "Connection: close\r\n\r\n",
             etag);
    rc = fetch(&addr, req, resp, sizeof resp);
    ok &= rc == 0 && strncmp(resp, "HTTP/1.1 304 ", 13) == 0;
    printf("If-None-Match: %.25s\n", resp);

    rc = fetch(&addr, "GET /about HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", resp,
               sizeof resp);
    ok &= rc == 0 && strstr(resp, "Content-Type: text/html; charset=utf-8\r\n") &&
          strstr(resp, "<p>about</p>");
    printf("GET /about: %.15s\n", resp);

    /* The type table, by extension. */
    printf("%s, %s, %s\n", cio_http_mime_type("app.js"), cio_http_mime_type("logo.PNG"),
           cio_http_mime_type("data.bin"));
    ok &= strcmp(cio_http_mime_type("logo.PNG"), "image/png") == 0;

    cio_http_server_close(srv, 1);
    cio_http_app_free(app);
    return ok ? 0 : -1;
}

int main(void)
{
    strcpy(dir, "/tmp/cio-static-example-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(file, sizeof file, "%s/hello.txt", dir);
    snprintf(page, sizeof page, "%s/about.html", dir);
    FILE *f = fopen(file, "w");
    FILE *g = fopen(page, "w");
    if (!f || !g) return 1;
    fputs("hello, static\n", f);
    fputs("<p>about</p>\n", g);
    fclose(f);
    fclose(g);
    int rc = cio_run(main_task, NULL, NULL);
    unlink(file);
    unlink(page);
    rmdir(dir);
    return rc == 0 ? 0 : 1;
}
