/* server_protocol.c: a server in the callback style (docs/api/server.md).
 * cio_server_new_protocol gives every connection a transport running the
 * protocol's callbacks, with no task per connection; cio_server_close_future
 * starts the graceful close from code that is not a task and hands back a
 * future that completes once the server is freed. Exits 0 on success. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include <cio.h>
#include <cio/net.h>

struct stats {
    int connections, bytes;
};

static int made(cio_transport *t, void *arg, void **ctx)
{
    (void)t;
    (void)ctx; /* *ctx is arg, the server's stats, for the later callbacks */
    ((struct stats *)arg)->connections++;
    return 0;
}

static void received(cio_transport *t, const void *data, size_t len, void *ctx)
{
    ((struct stats *)ctx)->bytes += (int)len;
    cio_transport_write(t, data, len); /* echo; never blocks */
}

static const cio_protocol echo = {.connection_made = made, .data_received = received};

struct closing {
    cio_server *srv;
    cio_future *closed;
    int err;
};

/* A plain callback, not a task: cio_server_close would return -EPERM here
 * while a connection is open; the _future form starts the close anyway. */
static void close_from_callback(void *arg)
{
    struct closing *c = arg;
    c->err = cio_server_close_future(c->srv, 1.0, &c->closed);
}

static int run(void *arg, void **result)
{
    (void)arg;
    (void)result;
    struct stats st = {0, 0};
    struct closing c = {NULL, NULL, 0};
    cio_addr addr;
    int err = cio_addr_parse("127.0.0.1:0", &addr);
    if (!err)
        err = cio_server_new_protocol(&addr, NULL, &echo, &st, &c.srv);
    if (err)
        return err;
    cio_server_addr(c.srv, &addr);

    cio_stream *client;
    char buf[16];
    err = cio_stream_connect(&addr, NULL, NULL, &client);
    if (!err)
        err = cio_stream_write(client, "ping", 4);
    if (!err) {
        ssize_t n = cio_stream_read_exactly(client, buf, 4);
        err = n < 0 ? (int)n : 0;
    }
    /* Close the server from a callback while the client is still
     * connected: its transport is closed at once, the client reads the
     * end, and the future completes. */
    if (!err)
        err = cio_call_soon(cio_current_loop(), close_from_callback, &c);
    if (!err) {
        ssize_t n = cio_stream_read(client, buf, sizeof buf); /* 0: the server closed */
        err = n < 0 ? (int)n : c.err;
    }
    if (!err)
        err = cio_await(c.closed, NULL);
    if (c.closed)
        cio_future_unref(c.closed);
    else
        cio_server_close(c.srv, 0); /* an error came first: close it here */
    cio_stream_close(client);
    if (!err)
        printf("%d connection, %d bytes echoed\n", st.connections, st.bytes);
    return err;
}

int main(void)
{
    int err = cio_run(run, NULL, NULL);
    if (err) {
        fprintf(stderr, "server_protocol: %s\n", cio_strerror(err));
        return 1;
    }
    return 0;
}
