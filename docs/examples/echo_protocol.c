/* echo_protocol.c: the same echo server and client, callback style
 * (asyncio's Protocol and Transport). No task at all: cio calls the
 * protocols' callbacks from the loop, and a transport's write never
 * blocks (it buffers what the socket does not take at once). The client
 * sends two lines, prints the echo line by line (TCP may cut the bytes
 * anywhere), and closes once both came back; its connection_lost closes
 * the server, whose future stops the loop. */
#include <stdio.h>
#include <string.h>

#include <cio.h>

/* ---- The server's protocol: echo whatever arrives ------------------------ */

static void echo_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    (void)ctx;
    cio_transport_write(t, data, len);
}

static const cio_protocol echo_protocol = {.data_received = echo_data};

/* ---- The client's protocol ---------------------------------------------- */

struct client {
    cio_server *srv;
    char got[64]; /* bytes of an unfinished line */
    size_t len;
    int lines;
};

static int client_made(cio_transport *t, void *arg, void **ctx)
{
    (void)arg;
    (void)ctx; /* *ctx is arg (the struct client) unless we change it */
    printf("client: connected\n");
    return cio_transport_write(t, "hello\nworld\n", 12);
}

static void client_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    struct client *c = ctx;
    if (len > sizeof c->got - c->len)
        len = sizeof c->got - c->len; /* (a real client would report it) */
    memcpy(c->got + c->len, data, len);
    c->len += len;
    char *nl;
    while ((nl = memchr(c->got, '\n', c->len)) != NULL) {
        size_t n = (size_t)(nl - c->got) + 1;
        printf("client got: %.*s", (int)n, c->got);
        memmove(c->got, c->got + n, c->len - n);
        c->len -= n;
        if (++c->lines == 2)
            cio_transport_close(t); /* both came back: connection_lost follows */
    }
}

static void server_closed(cio_future *fut, void *arg)
{
    (void)arg;
    printf("server closed\n");
    cio_loop_stop(cio_future_loop(fut));
}

static void client_lost(cio_transport *t, int error, void *ctx)
{
    struct client *c = ctx;
    printf("client: connection lost (%s)\n", error ? cio_err_name(error) : "clean");
    cio_future *closed;
    if (cio_server_close_future(c->srv, 1.0, &closed) == 0) {
        cio_future_add_done_callback(closed, server_closed, NULL);
        cio_future_unref(closed); /* the callback keeps it until it runs */
    } else {
        cio_loop_stop(cio_transport_loop(t));
    }
}

static const cio_protocol client_protocol = {
    .connection_made = client_made,
    .data_received = client_data,
    .connection_lost = client_lost,
};

/* ---- Start both from a callback of the running loop --------------------- */

static void start(void *arg)
{
    struct client *c = arg;
    cio_loop *loop = cio_current_loop();
    cio_addr addr;
    cio_addr_parse("127.0.0.1:0", &addr);
    if (cio_server_new_protocol(&addr, NULL, &echo_protocol, NULL, &c->srv) != 0) {
        cio_loop_stop(loop);
        return;
    }
    cio_server_addr(c->srv, &addr);
    printf("server listening\n");
    cio_future *connected;
    if (cio_transport_connect(loop, &addr, NULL, NULL, &client_protocol, c, &connected) != 0) {
        cio_loop_stop(loop);
        return;
    }
    cio_future_unref(connected); /* its outcome shows in the callbacks */
}

int main(void)
{
    cio_loop *loop;
    if (cio_loop_new(NULL, &loop) != 0)
        return 1;
    struct client c = {0};
    cio_call_soon(loop, start, &c);
    cio_loop_run_forever(loop);
    int err = cio_loop_close(loop);
    cio_loop_free(loop);
    return err == 0 && c.lines == 2 ? 0 : 1;
}
