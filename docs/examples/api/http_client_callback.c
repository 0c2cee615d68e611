/* The client from callback code: cio_http_client_request_cb runs the
 * request in a task of the client's own and calls back with the reply, its
 * body already read. Started here from a loop callback (cio_call_soon), as
 * protocol-style code would; the main task only waits for the future. A
 * cio server in the same program answers over loopback. */
#define _POSIX_C_SOURCE 200809L
#include <cio.h>
#include <stdio.h>

static int hello(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_text(res, 200, "Hello from the callback form");
}

struct job {
    cio_http_client *client;
    char url[128];
    cio_future *done; /* the request's future, ours */
    int rc;
};

static void on_reply(cio_http_reply *reply, int err, void *arg)
{
    struct job *j = arg;
    if (err) {
        printf("request failed: %s\n", cio_strerror(err));
        j->rc = err;
        return;
    }
    const void *body;
    size_t len;
    /* The body is in memory already: this returns at once, in a callback. */
    if (cio_http_reply_body(reply, 0, &body, &len) == 0)
        printf("%d: %s\n", cio_http_reply_status(reply), (const char *)body);
    cio_http_reply_free(reply);
}

/* A plain loop callback: no task here. */
static void start(void *arg)
{
    struct job *j = arg;
    j->rc = cio_http_client_request_cb(j->client, &CIO_HTTP_CLIENT_REQUEST(.url = j->url), on_reply,
                                       j, &j->done);
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app;
    if (cio_http_app_new(&app) || cio_http_app_route(app, "GET", "/", hello, NULL)) return -1;
    cio_addr addr;
    cio_addr_ip("127.0.0.1", 0, &addr);
    cio_http_server *srv;
    int rc = cio_http_server_new(app, &addr, NULL, &srv);
    if (rc == 0) {
        cio_http_server_addr(srv, &addr);
        struct job j = {0};
        snprintf(j.url, sizeof j.url, "http://127.0.0.1:%u/", cio_addr_port(&addr));
        rc = cio_http_client_new(&CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = true), &j.client);
        if (rc == 0) {
            cio_call_soon(cio_current_loop(), start, &j);
            /* Wait until start ran and the request's future exists. */
            while (!j.done && j.rc == 0)
                cio_yield();
            if (j.done) {
                cio_await(j.done, NULL); /* done once on_reply has returned */
                cio_future_unref(j.done);
            }
            rc = j.rc;
            cio_http_client_free(j.client);
        }
        cio_http_server_close(srv, 1);
    }
    cio_http_app_free(app);
    return rc;
}

int main(void)
{
    int rc = cio_run(main_task, NULL, NULL);
    if (rc) fprintf(stderr, "http_client_callback: %s\n", cio_strerror(rc));
    return rc == 0 ? 0 : 1;
}
