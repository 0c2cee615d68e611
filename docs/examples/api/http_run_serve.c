/* http_run_serve.c: cio_http_serve keeps a server for the life of a task.
 * main spawns the serving task (port 0: *ready tells the port), asks it
 * once over loopback, then cancels the task: the server shuts down
 * gracefully and cio_http_serve returns -ECANCELED.
 * Reference: docs/api/http_run.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cio.h>

struct serving {
    cio_http_app *app;
    cio_addr addr;  /* asked for: 127.0.0.1, port 0 */
    cio_addr ready; /* bound: the port the system picked */
};

static int hello(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req, (void)arg;
    return cio_http_response_text(res, 200, "Hello, World!");
}

static int serve_task(void *arg, void **result)
{
    (void)result;
    struct serving *sv = arg;
    return cio_http_serve(sv->app, &sv->addr, NULL, &sv->ready);
}

static int main_task(void *arg, void **result)
{
    (void)arg, (void)result;
    struct serving sv = {0};
    int rc = cio_http_app_new(&sv.app);
    if (rc == 0)
        rc = cio_http_app_route(sv.app, "GET", "/", hello, NULL);
    if (rc == 0)
        rc = cio_addr_ip("127.0.0.1", 0, &sv.addr);
    cio_task *server;
    if (rc == 0)
        rc = cio_spawn(serve_task, &sv, &server);
    if (rc)
        return rc;
    cio_yield(); /* the serving task runs: it listens and fills sv.ready */
    cio_stream *s;
    int ok = 0;
    if ((rc = cio_stream_connect(&sv.ready, NULL, NULL, &s)) == 0) {
        const char req[] = "GET / HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n";
        void *data = NULL;
        size_t len = 0;
        if ((rc = cio_stream_write(s, req, sizeof req - 1)) == 0)
            rc = cio_stream_read_all(s, 65536, &data, &len);
        cio_stream_close(s);
        ok = rc == 0 && len >= 17 && memcmp(data, "HTTP/1.1 200 OK\r\n", 17) == 0;
        free(data);
    }
    /* Cancelling the task shuts its server down gracefully. */
    cio_future_cancel(server);
    int served = cio_await(server, NULL);
    cio_future_unref(server);
    cio_http_app_free(sv.app);
    printf("request %s; cio_http_serve returned %s\n", ok ? "ok" : "failed", cio_err_name(served));
    return ok && served == -ECANCELED ? 0 : -EPROTO;
}

int main(void)
{
    return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
