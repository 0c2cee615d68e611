/* An HTTP server answering "Hello, World!", and a client asking it once
 * over loopback. With "serve PORT [THREADS]" it only serves (for wrk). */
#define _POSIX_C_SOURCE 200809L
#include <cio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hello(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_text(res, 200, "Hello, World!");
}

static int serve_port = -1;

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app;
    if (cio_http_app_new(&app) || cio_http_app_route(app, "GET", "/", hello, NULL))
        return -1;
    cio_addr addr;
    cio_addr_ip("127.0.0.1", serve_port > 0 ? (uint16_t)serve_port : 0, &addr);
    cio_http_server *srv;
    int rc = cio_http_server_new(app, &addr, NULL, &srv);
    if (rc) {
        fprintf(stderr, "server: %s\n", cio_strerror(rc));
        return rc;
    }
    if (serve_port > 0) {
        for (;;)
            if (cio_sleep(3600))
                break;
    } else {
        cio_http_server_addr(srv, &addr);
        cio_stream *s;
        if ((rc = cio_stream_connect(&addr, NULL, NULL, &s)))
            return rc;
        const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        cio_stream_write(s, req, sizeof req - 1);
        void *data;
        size_t len;
        rc = cio_stream_read_all(s, 65536, &data, &len);
        cio_stream_close(s);
        if (rc)
            return rc;
        int ok = strncmp(data, "HTTP/1.1 200 OK\r\n", 17) == 0 && strstr(data, "\r\n\r\nHello, World!");
        printf("%s\n", ok ? "got: Hello, World!" : (char *)data);
        free(data);
        if (!ok)
            rc = -1;
    }
    cio_http_server_close(srv, 1);
    cio_http_app_free(app);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "serve") == 0)
        serve_port = atoi(argv[2]);
    return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
